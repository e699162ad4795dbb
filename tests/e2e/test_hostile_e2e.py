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
import time
import unittest

from harness import PROMPTS_DIR, SOURCE_DIR, WebhookServer, review, workflow

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


class HostileRequests(unittest.TestCase):
    def test_oversized_headers_are_refused_and_the_server_keeps_serving(self):
        with WebhookServer() as server:
            try:
                status, _ = post(server, headers={"X-Padding": "a" * 100000})
                self.assertGreaterEqual(status, 400)
                self.assertLess(status, 500)
            except (ConnectionError, http.client.HTTPException, ssl.SSLError):
                pass  # closing the connection is an acceptable answer too
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
        with WebhookServer() as server:
            for name, body in cases.items():
                with self.subTest(name):
                    status, text = post(server, json.dumps(body))
                    self.assertEqual(status, 200, text)
                    answer = json.loads(text)["response"]
                    self.assertEqual(answer["uid"], body["request"]["uid"])
                    if not answer["allowed"]:
                        self.assertIn(answer["status"]["code"], (400, 403))
            self.assertEqual(post(server)[0], 200)


class Faults(unittest.TestCase):
    def test_sigterm_turns_readiness_off_serves_through_the_delay_then_exits_zero(self):
        with WebhookServer(extra_args=["--shutdown-delay", "2"]) as server:
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            status, text = server.get("/readyz")
            self.assertEqual(status, 503)
            self.assertIn("shutting down", text)
            self.assertEqual(post(server)[0], 200)  # still answering during the delay
            self.assertEqual(server.process.wait(timeout=15), 0)

    def test_a_request_in_flight_at_sigterm_is_answered(self):
        with WebhookServer() as server:
            raw = ssl.create_default_context(cafile=server.ca).wrap_socket(
                socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="localhost")
            body = GOOD.encode()
            head = ("POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                    % len(body)).encode()
            raw.sendall(head + body[:100])  # the request has started
            time.sleep(0.3)
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            raw.sendall(body[100:])
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) == 0:
                chunk = raw.recv(65536)
                if not chunk:
                    break
                answer += chunk
            raw.close()
            self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])
            self.assertEqual(server.process.wait(timeout=15), 0)

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
