"""Audit end-to-end: Events reach an HTTPS API server started here (path, bearer token, body
against the events.k8s.io/v1 schema); a slow or absent API server does not slow admission;
dryRun posts nothing; /metrics after a known sequence of requests."""
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

import jsonpatch
import jsonschema

from fake_api_server import FakeApiServer, object_path, write_kubeconfig
from harness import FIXTURES_DIR, WebhookServer, decode_patch, event_text, metrics_of, sample, wait_for, workflow

EVENT_SCHEMA = os.path.join(FIXTURES_DIR, "k8s-json-schema", "v1.34.0-standalone", "event-events-v1.json")


class WebhookWithApi(WebhookServer):
    def __init__(self, kubeconfig, extra=()):
        super().__init__(extra_args=["--kubeconfig", kubeconfig] + list(extra), metrics=True)


def mutated_and_named(server, parameters, name):
    wf = workflow(parameters)
    status, response = server.admit(wf)
    assert status == 200 and response["allowed"], response
    stored = jsonpatch.apply_patch(wf, decode_patch(response))
    stored["metadata"]["name"] = name  # what the API server does between the two passes
    stored["metadata"]["uid"] = str(uuid.uuid4())
    return stored


class EventsEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(EVENT_SCHEMA) as f:
            cls.event_schema = json.load(f)

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def assert_valid_event(self, body):
        errors = list(jsonschema.Draft7Validator(self.event_schema).iter_errors(body))
        self.assertEqual([e.message for e in errors], [])

    def test_mutated_and_denied_events_reach_the_api_server(self):
        with FakeApiServer(self.tmp.name) as api, WebhookWithApi(api.kubeconfig) as server:
            stored = mutated_and_named(server, [("github-app", "clippy"), ("event", event_text("pull_request.opened"))],
                                       "coderun-x7k2p")
            api.store(object_path("workflows", "argo", "coderun-x7k2p"), stored["metadata"]["uid"])
            status, response = server.admit(stored, endpoint="/validate")
            self.assertTrue(response["allowed"])
            requests = api.received(1)
            self.assertEqual(len(requests), 1)
            mutated = requests[0]
            self.assertEqual(mutated.method, "POST")
            self.assertEqual(mutated.path, "/apis/events.k8s.io/v1/namespaces/argo/events")
            self.assertEqual(mutated.headers["Authorization"], "Bearer test-token")
            self.assert_valid_event(mutated.body)
            self.assertEqual(mutated.body["reason"], "Mutated")
            self.assertEqual(mutated.body["type"], "Normal")
            self.assertEqual(mutated.body["action"], "Admit")
            self.assertEqual(mutated.body["reportingController"], "taskmaster.io/coderun-webhook")
            self.assertTrue(mutated.body["reportingInstance"])
            self.assertEqual(mutated.body["regarding"], {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                                         "namespace": "argo", "name": "coderun-x7k2p",
                                                         "uid": stored["metadata"]["uid"]})
            self.assertIn("ref=changes (event:.pull_request.head.ref)", mutated.body["note"])

            for _ in range(2):
                status, response = server.admit(workflow([("github-app", "nobody"), ("repoFullName", "a/b")]))
                self.assertFalse(response["allowed"])
            requests = api.received(3)
            denied, again = requests[1], requests[2]
            self.assert_valid_event(denied.body)
            self.assertEqual(denied.body["reason"], "Denied")
            self.assertEqual(denied.body["type"], "Warning")
            self.assertEqual(denied.body["regarding"]["name"], "coderun-")
            self.assertTrue(denied.body["note"].startswith("Error: Invalid github-app 'nobody'"))
            self.assertEqual(again.method, "PATCH")  # the same event again: its series count
            self.assertEqual(again.path, denied.path + "/" + denied.body["metadata"]["name"])
            self.assertEqual(again.body["series"]["count"], 2)

    def test_dry_run_posts_nothing(self):
        with FakeApiServer(self.tmp.name) as api, WebhookWithApi(api.kubeconfig) as server:
            server.admit(workflow([("github-app", "nobody")]), dry_run=True)
            stored = mutated_and_named(server, [("github-app", "rex"), ("event", event_text("push.branch"))], "dry")
            server.admit(stored, endpoint="/validate", dry_run=True)
            # Then two real ones. Events are taken from the queue in order, so a dryRun Event would
            # have been taken first; several senders post at once, so the two may arrive in either
            # order. Once both have come there is nothing left to wait for (no fixed sleep).
            server.admit(workflow([("github-app", "real-denial")]))
            server.admit(workflow([("github-app", "barrier-denial")]))
            requests = api.received(2)
            self.assertEqual(len(requests), 2, [r.body for r in requests])
            notes = sorted(r.body["note"] for r in requests)
            self.assertEqual([("barrier-denial" in notes[0]), ("real-denial" in notes[1])], [True, True], notes)

    def test_a_slow_api_server_does_not_slow_admission(self):
        with FakeApiServer(self.tmp.name, delay=2.0) as api, WebhookWithApi(api.kubeconfig) as server:
            durations = []
            for i in range(10):
                start = time.monotonic()
                status, response = server.admit(workflow([("github-app", "nobody-%d" % i)]))
                durations.append(time.monotonic() - start)
                self.assertEqual(status, 200)
                self.assertFalse(response["allowed"])
            print("\nadmission with an API server answering in 2 s: max %.1f ms, mean %.1f ms (curl process included)"
                  % (max(durations) * 1000, sum(durations) / len(durations) * 1000))
            self.assertLess(max(durations), 1.0)  # each Event takes the API server 2 s
            self.assertGreaterEqual(len(api.received(1)), 1)

    def test_an_absent_api_server_counts_failed_events_and_admission_goes_on(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        kubeconfig = write_kubeconfig(self.tmp.name, "https://127.0.0.1:%d" % closed_port, "/dev/null", "t")
        with WebhookWithApi(kubeconfig) as server:
            for i in range(3):
                status, response = server.admit(workflow([("github-app", "x%d" % i)]))
                self.assertEqual(status, 200)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if sample(metrics_of(server), "coderun_webhook_kube_events_total", outcome="failed") >= 1:
                    break
                time.sleep(0.2)
            self.assertGreaterEqual(sample(metrics_of(server), "coderun_webhook_kube_events_total", outcome="failed"), 1)
            self.assertEqual(server.get("/healthz")[0], 200)


class MetricsEndToEnd(unittest.TestCase):
    def test_counts_after_a_known_sequence(self):
        with tempfile.TemporaryDirectory() as tmp, FakeApiServer(tmp) as api, WebhookWithApi(api.kubeconfig) as server:
            for _ in range(3):
                server.admit(workflow([("github-app", "rex"), ("event", event_text("pull_request.opened"))]))
            for _ in range(2):
                server.admit(workflow([("github-app", "bad-app")]))
            server.admit(workflow([("github-app", "qa"), ("repoFullName", "a/b")]))
            server.admit({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
            server.curl("POST", "/mutate", b"{")
            server.curl("GET", "/nowhere")
            api.received(2)  # the two denials: a POST, then a PATCH of its series
            # The counters are updated after the answers (and the Events' after the API server's): poll
            # until the last of them has counted everything, then assert every one exactly.
            total = "coderun_webhook_admission_requests_total"
            m = wait_for(lambda: (lambda m: m if sample(m, "coderun_webhook_admission_duration_seconds_count",
                                                        endpoint="mutate") >= 7
                                  and sample(m, "coderun_webhook_kube_events_total", outcome="posted") >= 2
                                  and sample(m, "coderun_webhook_bad_requests_total", endpoint="other", code="404") >= 1
                                  and sample(m, "coderun_webhook_requests_in_flight") == 0 else None)(metrics_of(server)))
            self.assertIsNotNone(m, metrics_of(server))
            self.assertEqual(sample(m, total, endpoint="mutate", kind="Workflow", app="rex", decision="mutated"), 3)
            self.assertEqual(sample(m, total, endpoint="mutate", kind="Workflow", app="invalid", decision="denied"), 2)
            self.assertEqual(sample(m, total, endpoint="mutate", kind="Workflow", app="qa", decision="mutated"), 1)
            self.assertEqual(sample(m, total, endpoint="mutate", kind="other", app="", decision="ignored"), 1)
            self.assertEqual(sample(m, "coderun_webhook_admission_duration_seconds_count", endpoint="mutate"), 7)
            resolved = "coderun_webhook_values_resolved_total"
            self.assertEqual(sample(m, resolved, field="ref", source="event"), 3)
            self.assertEqual(sample(m, resolved, field="ref", source="default"), 1)
            self.assertEqual(sample(m, resolved, field="repoFullName", source="parameter"), 1)
            self.assertEqual(sample(m, resolved, field="systemPromptPath", source="prompts"), 4)
            self.assertEqual(sample(m, "coderun_webhook_bad_requests_total", endpoint="/mutate", code="400"), 1)
            self.assertEqual(sample(m, "coderun_webhook_bad_requests_total", endpoint="other", code="404"), 1)
            self.assertEqual(sample(m, "coderun_webhook_kube_events_total", outcome="posted"), 2)
            self.assertEqual(sample(m, "coderun_webhook_kube_events_total", outcome="dropped"), 0)
            self.assertEqual(sample(m, "coderun_webhook_requests_in_flight"), 0)
            self.assertGreater(sample(m, "coderun_webhook_certificate_expiry_timestamp_seconds"), time.time() + 300 * 86400)


if __name__ == "__main__":
    unittest.main()
