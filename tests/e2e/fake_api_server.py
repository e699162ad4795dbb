"""An HTTPS endpoint standing in for the Kubernetes API server: records what it receives, answers
Events requests, and answers GETs of the objects a test says are stored (the Event recorder
confirms an object exists before posting its Mutated Event). It can be slow (delay) or answer
429 with Retry-After, to show admission never waits for it."""
import json
import os
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import make_certs


class Recorded:
    def __init__(self, method, path, headers, body, at):
        self.method, self.path, self.headers, self.body, self.at = method, path, headers, body, at


def object_path(kind_plural, namespace, name, group_version="argoproj.io/v1alpha1"):
    return "/apis/%s/namespaces/%s/%s/%s" % (group_version, namespace, kind_plural, name)


class FakeApiServer:
    def __init__(self, directory, delay=0.0, token="test-token"):
        self.dir = directory
        self.delay = delay
        self.token = token
        self.requests = []
        self.lock = threading.Lock()
        self.httpd = None
        self.objects = {}  # path -> (uid, time.monotonic() from which GET finds it)
        self.throttle_until = 0.0  # POST/PATCH answered 429 until then
        self.retry_after = 1
        self.throttled = 0

    def store(self, path, uid, after=0.0):
        """GET path finds an object with this uid from `after` seconds on (storage is late)."""
        with self.lock:
            self.objects[path] = (uid, time.monotonic() + after)

    def throttle(self, seconds, retry_after=1):
        """Answer Events requests with 429 and Retry-After for the next `seconds`."""
        with self.lock:
            self.throttle_until = time.monotonic() + seconds
            self.retry_after = retry_after

    def __enter__(self):
        certs = os.path.join(self.dir, "api-certs")
        make_certs(certs)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the API server

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # As the API server (Go sets it on every connection): no Nagle delay on answers.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def reply(self, status, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                with owner.lock:
                    owner.requests.append(Recorded(self.command, self.path, dict(self.headers), body,
                                                   time.monotonic()))
                    throttled = self.command != "GET" and time.monotonic() < owner.throttle_until
                    if throttled:
                        owner.throttled += 1
                    stored = owner.objects.get(self.path)
                time.sleep(owner.delay)
                if self.headers.get("Authorization") != "Bearer " + owner.token:
                    return self.reply(401, {"kind": "Status", "code": 401})
                if throttled:
                    return self.reply(429, {"kind": "Status", "code": 429, "reason": "TooManyRequests"},
                                      [("Retry-After", str(owner.retry_after))])
                if self.command == "GET":
                    if stored is None or time.monotonic() < stored[1]:
                        return self.reply(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                    return self.reply(200, {"metadata": {"name": self.path.rsplit("/", 1)[1], "uid": stored[0]}})
                self.reply(201 if self.command == "POST" else 200, body)

            do_POST = handle_any
            do_PATCH = handle_any
            do_GET = handle_any

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that gave up waiting (the slow cases) is expected here

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(certs, "tls.crt"), os.path.join(certs, "tls.key"))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.kubeconfig = write_kubeconfig(self.dir, "https://127.0.0.1:%d" % self.port,
                                           os.path.join(certs, "ca.crt"), self.token)
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def events(self):
        """The Events requests (POST and PATCH) received so far."""
        with self.lock:
            return [r for r in self.requests if r.method != "GET"]

    def received(self, count, timeout=10.0, events_only=True):
        """Waits until `count` Events requests (GETs not counted unless events_only=False) came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = [r for r in self.requests if not events_only or r.method != "GET"]
            if len(got) >= count:
                return got
            time.sleep(0.02)
        with self.lock:
            return [r for r in self.requests if not events_only or r.method != "GET"]


def write_kubeconfig(directory, server, ca_path, token):
    path = os.path.join(directory, "kubeconfig")
    with open(path, "w") as f:
        f.write("""apiVersion: v1
kind: Config
current-context: test
contexts:
- name: test
  context: {cluster: test, user: webhook}
clusters:
- name: test
  cluster: {server: "%s", certificate-authority: "%s"}
users:
- name: webhook
  user: {token: "%s"}
""" % (server, ca_path, token))
    return path
