"""An HTTPS endpoint standing in for the Kubernetes API server: records what it receives and
answers Events requests. It can be slow (delay) to show admission never waits for it."""
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import make_certs


class Recorded:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body


class FakeApiServer:
    def __init__(self, directory, delay=0.0, token="test-token"):
        self.dir = directory
        self.delay = delay
        self.token = token
        self.requests = []
        self.lock = threading.Lock()
        self.httpd = None

    def __enter__(self):
        certs = os.path.join(self.dir, "api-certs")
        make_certs(certs)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                with owner.lock:
                    owner.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                time.sleep(owner.delay)
                if self.headers.get("Authorization") != "Bearer " + owner.token:
                    self.send_response(401)
                    self.end_headers()
                    return
                self.send_response(201 if self.command == "POST" else 200)
                self.send_header("Content-Type", "application/json")
                data = json.dumps(body).encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = handle_any
            do_PATCH = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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

    def received(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        with self.lock:
            return list(self.requests)


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
