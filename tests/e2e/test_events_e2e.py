"""Kubernetes Events that are true and keep pace, against tests/e2e/fake_api_server.py:
Mutated only for objects found stored (same uid), a 429-answering or slow API server slows
Events but never admissions, a burst of 1,000 admissions ends with 1,000 Events (series counts
included), and SIGTERM drains the queue."""
import copy
import http.client
import json
import ssl
import tempfile
import threading
import time
import unittest
import uuid

import jsonpatch

from fake_api_server import FakeApiServer, object_path
from harness import WebhookServer, decode_patch, event_text, metrics_of, review, sample, workflow

EVENTS = "coderun_webhook_kube_events_total"


class WebhookWithApi(WebhookServer):
    def __init__(self, kubeconfig, extra=()):
        super().__init__(extra_args=["--kubeconfig", kubeconfig] + list(extra), metrics=True)


class Reviewer:
    """A keep-alive HTTPS client for admission reviews (curl per request is too slow for bursts)."""

    def __init__(self, server):
        context = ssl.create_default_context(cafile=server.ca)
        self.connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=20)

    def admit(self, obj, endpoint):
        body = json.dumps(review(obj)).encode()
        start = time.monotonic()
        self.connection.request("POST", endpoint + "?timeout=10s", body, {"Content-Type": "application/json"})
        answer = self.connection.getresponse()
        data = answer.read()
        assert answer.status == 200, (answer.status, data[:200])
        return json.loads(data)["response"], time.monotonic() - start

    def close(self):
        self.connection.close()


def mutated_template(server):
    """A Workflow as the mutating pass leaves it (filled, with its value-sources annotation)."""
    wf = workflow([("github-app", "rex"), ("event", event_text("pull_request.opened"))])
    status, response = server.admit(wf)
    assert status == 200 and response["allowed"], response
    return jsonpatch.apply_patch(wf, decode_patch(response))


def named(template, name, uid):
    stored = copy.deepcopy(template)
    stored["metadata"]["name"] = name  # the API server names it between the two passes
    stored["metadata"]["uid"] = uid
    return stored


def metric(server, outcome):
    return sample(metrics_of(server), EVENTS, outcome=outcome)


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def posted_count(requests):
    """Events the requests stand for: a POST is one (or its series count), a PATCH adds to it."""
    latest = {}
    for r in requests:
        if r.method == "POST":
            latest[r.body["metadata"]["name"]] = r.body.get("series", {}).get("count", 1)
        elif r.method == "PATCH":
            latest[r.path.rsplit("/", 1)[1]] = r.body["series"]["count"]
    return sum(latest.values())


def object_gets(api):
    """The GETs of the admitted objects (the Event recorder's confirmations): coderun-* names,
    whatever else the webhook may read from the API server."""
    return [r for r in api.received(0, events_only=False)
            if r.method == "GET" and r.path.rsplit("/", 1)[-1].startswith("coderun-")]


def validate_burst(server, template, api, count, clients=8, store=True):
    """count validating admissions of distinct stored Workflows from `clients` threads; returns the
    admission latencies."""
    latencies, errors = [], []
    lock = threading.Lock()

    def work(indices):
        reviewer = Reviewer(server)
        try:
            for i in indices:
                name, uid = "coderun-burst-%05d" % i, str(uuid.uuid4())
                if store:
                    api.store(object_path("workflows", "argo", name), uid)
                response, took = reviewer.admit(named(template, name, uid), "/validate")
                with lock:
                    latencies.append(took)
                    if not response["allowed"]:
                        errors.append(response)
        finally:
            reviewer.close()

    threads = [threading.Thread(target=work, args=(range(k, count, clients),)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:1]
    return latencies


class ConfirmBeforePost(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def test_mutated_only_for_the_object_stored_with_that_uid(self):
        with FakeApiServer(self.tmp.name) as api, WebhookWithApi(api.kubeconfig) as server:
            template = mutated_template(server)
            late = named(template, "coderun-late", "uid-late")
            never = named(template, "coderun-never", "uid-never")  # AlreadyExists, quota...
            other = named(template, "coderun-other", "uid-ours")
            api.store(object_path("workflows", "argo", "coderun-other"), "uid-of-an-older-one")
            for obj in (late, never, other):
                status, response = server.admit(obj, endpoint="/validate")
                self.assertTrue(response["allowed"], response)
            # Stored only once the recorder has looked for it and not found it: storage completes
            # after the validating webhook answers.
            self.assertTrue(wait_for(lambda: any(g.path.endswith("/coderun-late") for g in object_gets(api))))
            stored_at = time.monotonic()
            api.store(object_path("workflows", "argo", "coderun-late"), "uid-late")

            self.assertTrue(wait_for(lambda: metric(server, "unstored") == 2 and metric(server, "posted") == 1),
                            metrics_of(server))
            events = api.events()
            self.assertEqual(len(events), 1, [e.body for e in events])
            self.assertEqual(events[0].body["regarding"]["name"], "coderun-late")
            self.assertEqual(events[0].body["regarding"]["uid"], "uid-late")
            self.assertGreaterEqual(events[0].at, stored_at)
            gets = object_gets(api)
            self.assertGreater(len([g for g in gets if g.path.endswith("/coderun-late")]), 1)  # retried
            self.assertGreater(len([g for g in gets if g.path.endswith("/coderun-never")]), 1)
            self.assertEqual({g.path.rsplit("/", 1)[0] for g in gets},
                             {"/apis/argoproj.io/v1alpha1/namespaces/argo/workflows"})

    def test_denied_is_posted_without_a_lookup(self):
        with FakeApiServer(self.tmp.name) as api, WebhookWithApi(api.kubeconfig) as server:
            status, response = server.admit(workflow([("github-app", "nobody")]))
            self.assertFalse(response["allowed"])
            requests = api.received(1)
            self.assertEqual([r.method for r in requests], ["POST"])
            self.assertEqual(requests[0].body["reason"], "Denied")
            self.assertEqual(object_gets(api), [])


class KeepsPace(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def test_429_slows_events_never_admissions(self):
        with FakeApiServer(self.tmp.name) as api, WebhookWithApi(api.kubeconfig) as server:
            template = mutated_template(server)
            api.throttle(2.0, retry_after=1)
            started = time.monotonic()
            latencies = validate_burst(server, template, api, 40, clients=4)
            print("\nadmission while the API server answers 429: max %.1f ms over %d"
                  % (max(latencies) * 1000, len(latencies)))
            self.assertLess(max(latencies), 1.0)
            self.assertTrue(wait_for(lambda: metric(server, "posted") == 40), metrics_of(server))
            self.assertGreater(api.throttled, 0)
            accepted = [r for r in api.events() if r.at >= api.throttle_until]
            self.assertEqual(posted_count(api.events()), 40)
            self.assertEqual(len(accepted), len(api.events()) - api.throttled)
            self.assertEqual(metric(server, "failed"), 0)
            self.assertGreaterEqual(time.monotonic() - started, 2.0)

    def test_slow_api_server_slows_events_never_admissions(self):
        with FakeApiServer(self.tmp.name, delay=0.3) as api, WebhookWithApi(api.kubeconfig) as server:
            template = mutated_template(server)
            latencies = validate_burst(server, template, api, 40, clients=4)
            print("\nadmission with an API server answering in 0.3 s: max %.1f ms over %d"
                  % (max(latencies) * 1000, len(latencies)))
            self.assertLess(max(latencies), 1.0)
            self.assertTrue(wait_for(lambda: metric(server, "posted") == 40), metrics_of(server))

    def test_a_burst_of_1000_admissions_ends_with_1000_events(self):
        with FakeApiServer(self.tmp.name) as api, WebhookWithApi(api.kubeconfig) as server:
            template = mutated_template(server)
            start = time.monotonic()
            validate_burst(server, template, api, 1000)
            admitted = time.monotonic() - start
            self.assertTrue(wait_for(lambda: posted_count(api.events()) >= 1000, timeout=120),
                            (posted_count(api.events()), metrics_of(server)))
            shown = time.monotonic() - start
            print("\nburst: 1000 admissions in %.2f s; their 1000 Events at the fake API server %.2f s after "
                  "the first admission (%d Events requests)" % (admitted, shown, len(api.events())))
            self.assertEqual(posted_count(api.events()), 1000)
            # Counted once the answer is read, a moment after the fake server recorded the request.
            self.assertTrue(wait_for(lambda: metric(server, "posted") == 1000), metrics_of(server))
            m = metrics_of(server)
            self.assertEqual(sample(m, EVENTS, outcome="posted"), 1000)
            self.assertEqual(sample(m, EVENTS, outcome="dropped"), 0)
            self.assertEqual(sample(m, EVENTS, outcome="unstored"), 0)

    def test_sigterm_drains_the_queue(self):
        with FakeApiServer(self.tmp.name, delay=0.02) as api, \
                WebhookWithApi(api.kubeconfig, extra=["--shutdown-delay", "1"]) as server:
            template = mutated_template(server)
            validate_burst(server, template, api, 200)
            stop_at = time.monotonic()
            self.assertEqual(server.stop(), 0)
            print("\nSIGTERM after 200 admissions: exit %.2f s later, %d Events posted"
                  % (time.monotonic() - stop_at, posted_count(api.events())))
            self.assertEqual(posted_count(api.events()), 200)
            self.assertNotIn("not sent at shutdown", server.log())

    def test_overflow_is_counted_logged_and_in_readyz(self):
        # An API server that never answers in time: the queue (1,000) fills and the rest drops.
        with FakeApiServer(self.tmp.name, delay=5.0) as api, WebhookWithApi(api.kubeconfig) as server:
            template = mutated_template(server)
            validate_burst(server, template, api, 1100)
            self.assertTrue(wait_for(lambda: metric(server, "dropped") >= 1, timeout=10), metrics_of(server))
            status, text = server.get("/readyz")
            self.assertEqual(status, 200)
            self.assertIn("Kubernetes Events dropped (queue full)", text)
            self.assertIn("Kubernetes Event dropped: the queue is full", server.log())


if __name__ == "__main__":
    unittest.main()
