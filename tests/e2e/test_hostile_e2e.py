"""Hostile input and faults against the real server: oversized headers, silent clients,
SIGTERM with requests in flight, prompts and policy vanishing mid-run."""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import tempfile
import threading
import time
import unittest

from harness import PROMPTS_DIR, SOURCE_DIR, WebhookServer, review, wait_for, workflow

GOOD = json.dumps(review(workflow([("github-app", "rex"), ("repoFullName", "a/b")])))


def tls_connection(server, timeout=10):
    return http.client.HTTPSConnection("127.0.0.1", server.port, timeout=timeout,
                                       context=ssl.create_default_context(cafile=server.ca))


def post(server, body=GOOD, headers=None):
    conn = tls_connection(server)
    try:
        conn.request("POST", "/mutate", body, dict({"Content-Type": "application/json"}, **(headers or {})))
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def send_reading_meanwhile(server, data, timeout=30):
    """Writes `data` on a new TLS connection from a thread while reading the answer until the server
    closes; returns what was read (the write may fail once the server has answered and closed)."""
    raw = ssl.create_default_context(cafile=server.ca).wrap_socket(
        socket.create_connection(("127.0.0.1", server.port), timeout=timeout), server_hostname="localhost")

    def send():
        try:
            raw.sendall(data)
        except OSError:
            pass  # closed after the answer: what matters is the answer read below
    writer = threading.Thread(target=send)
    writer.start()
    answer = b""
    try:
        while True:
            chunk = raw.recv(65536)
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass  # a reset after the answer: the bytes read so far are the answer
    writer.join()
    raw.close()
    return answer


class HostileRequests(unittest.TestCase):
    def test_oversized_headers_are_refused_and_the_server_keeps_serving(self):
        # README: "header of 100 KB, more than 100 header fields: 431, connection closed". The answer is
        # read while the head is still being written (as the API server's client does): the server
        # answers once it has read 64 KiB and closes, so a client that only reads after writing
        # everything may see the connection reset instead. Exactly 431 with its reason, nothing else.
        padding = "X-Padding: " + "a" * 100000 + "\r\n"
        fields = "".join("X-%d: v\r\n" % i for i in range(120))
        cases = [(padding, "request line and headers are larger than the limit"), (fields, "too many header fields")]
        with WebhookServer() as server:
            for extra, reason in cases:
                with self.subTest(reason):
                    answer = send_reading_meanwhile(server, (
                        "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra
                        + "Content-Length: 2\r\n\r\n{}").encode())
                    self.assertTrue(answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200])
                    head, _, body = answer.partition(b"\r\n\r\n")
                    self.assertIn(b"\r\nConnection: close", head)
                    self.assertEqual(json.loads(body), {"code": 431, "error": reason})
            self.assertEqual(post(server)[0], 200)

    def test_a_silent_client_is_dropped_after_the_read_timeout_and_blocks_nobody(self):
        with WebhookServer(extra_args=["--read-timeout", "2"]) as server:
            silent = socket.create_connection(("127.0.0.1", server.port))
            silent.settimeout(10)
            start = time.monotonic()
            self.assertEqual(post(server)[0], 200)  # served meanwhile
            closed = silent.recv(1) == b""
            elapsed = time.monotonic() - start
            silent.close()
            self.assertTrue(closed)
            self.assertLess(elapsed, 8)

    def test_wrong_types_inside_a_valid_review(self):
        cases = {
            "object is a string": {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                   "request": {"uid": "u", "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Workflow"},
                                               "operation": "CREATE", "object": "nope"}},
            "parameters is a map": review({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                           "metadata": {"generateName": "x-"},
                                           "spec": {"workflowTemplateRef": {"name": "coderun-template"},
                                                    "arguments": {"parameters": {"github-app": "rex"}}}}),
            "kind is a number": {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                 "request": {"uid": "u", "kind": 7, "operation": "CREATE", "object": {}}},
        }
        # Each case's answer, exactly: a denial with its code and message, or allowed untouched.
        expected = {
            "object is a string": (400, "request.object is missing or not an object"),
            "parameters is a map": (403, "Error: Invalid github-app ''. Must be one of: rex, clippy, qa, triage, security"),
            "kind is a number": None,
        }
        with WebhookServer() as server:
            for name, body in cases.items():
                with self.subTest(name):
                    status, text = post(server, json.dumps(body))
                    self.assertEqual(status, 200, text)
                    answer = json.loads(text)["response"]
                    self.assertEqual(answer["uid"], body["request"]["uid"])
                    if expected[name] is None:
                        self.assertEqual(answer, {"uid": body["request"]["uid"], "allowed": True})
                    else:
                        self.assertFalse(answer["allowed"], answer)
                        self.assertEqual((answer["status"]["code"], answer["status"]["message"]), expected[name])
            self.assertEqual(post(server)[0], 200)


class Faults(unittest.TestCase):
    def test_sigterm_turns_readiness_off_serves_through_the_delay_then_exits_zero(self):
        # A delay long enough that /readyz and the POST both fall inside it on a loaded machine;
        # readiness is polled (the signal is handled on its own thread), never a fixed sleep.
        delay = 10
        with WebhookServer(extra_args=["--shutdown-delay", str(delay)]) as server:
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            readiness = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(server.get("/readyz")), timeout=delay)
            self.assertIsNotNone(readiness, "/readyz still ready after SIGTERM")
            status, text = readiness
            self.assertEqual(status, 503)
            self.assertIn("shutting down", text)
            self.assertEqual(post(server)[0], 200)  # still answering during the delay
            self.assertIsNone(server.process.poll(), "exited before the end of the shutdown delay")
            self.assertEqual(server.process.wait(timeout=delay + 60), 0)
            elapsed = time.monotonic() - signalled
            print("\nexited %.2f s after SIGTERM (--shutdown-delay %d)" % (elapsed, delay))
            self.assertGreaterEqual(elapsed, delay)

    def answered_across_sigterm(self, sent_before):
        """Sends the first `sent_before` bytes of a request on a new TLS connection, SIGTERMs the
        server, sends the rest once the server says it is draining (its log, not a sleep), and
        returns the answer's first bytes; the server must then exit 0."""
        with WebhookServer() as server:
            raw = ssl.create_default_context(cafile=server.ca).wrap_socket(
                socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="localhost")
            body = GOOD.encode()
            request = ("POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                       % len(body)).encode() + body
            if sent_before:
                raw.sendall(request[:sent_before])
            server.process.send_signal(signal.SIGTERM)
            self.assertTrue(wait_for(lambda: "draining requests in flight" in server.log()), server.log())
            raw.sendall(request[sent_before:])
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) == 0:
                chunk = raw.recv(65536)
                if not chunk:
                    break
                answer += chunk
            raw.close()
            self.assertEqual(server.process.wait(timeout=15), 0)
            return answer

    def test_a_request_in_flight_at_sigterm_is_answered(self):
        # The bytes may still be in the socket, unread, when the drain looks at the connection.
        answer = self.answered_across_sigterm(sent_before=200)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])

    def test_a_client_connected_but_not_yet_sending_at_sigterm_is_answered(self):
        # The API server connects, then writes: a drain must not close that connection in between.
        answer = self.answered_across_sigterm(sent_before=0)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])

    def test_prompts_vanishing_mid_run_give_denials_then_recover(self):
        with tempfile.TemporaryDirectory() as tmp:
            prompts = os.path.join(tmp, "agents")
            shutil.copytree(PROMPTS_DIR, prompts)
            with WebhookServer(extra_args=["--prompts-dir", prompts]) as server:
                self.assertTrue(json.loads(post(server)[1])["response"]["allowed"])
                shutil.rmtree(prompts)
                status, text = post(server)
                self.assertEqual(status, 200)
                answer = json.loads(text)["response"]
                self.assertFalse(answer["allowed"])
                # Named as the agent pod sees them (the policy's promptsDir), wherever the webhook reads them.
                self.assertEqual(answer["status"]["message"],
                                 "Error: System prompt not found at /etc/agents/rex_system-prompt.md or "
                                 "/etc/agents/default_system-prompt.md")
                shutil.copytree(PROMPTS_DIR, prompts)
                self.assertTrue(json.loads(post(server)[1])["response"]["allowed"])

    def test_the_policy_vanishing_keeps_the_last_good_one(self):
        with tempfile.TemporaryDirectory() as tmp:
            policy = os.path.join(tmp, "policy.yaml")
            with open(policy, "w") as f:
                f.write("allowedApps: [rex]\n")
            with WebhookServer(policy=policy) as server:
                os.remove(policy)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and "reload rejected" not in server.get("/readyz")[1]:
                    time.sleep(0.1)
                self.assertIn("cannot read policy file", server.get("/readyz")[1])
                self.assertTrue(json.loads(post(server)[1])["response"]["allowed"])
                self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
