"""How fast admitted Workflows' Mutated Events appear through a real kube-apiserver (issue 18).

    CODERUN_BIN=build/coderun-webhook /usr/bin/python3 tests/cluster/events_burst.py \
        [--count 1000] [--clients 8] [--rate 0] [--sigterm]

Starts the cluster of tests/cluster/cluster.py (etcd, kube-apiserver v1.20.2, the webhook as
`make run` starts it, with the project's RBAC), creates --count Workflows through the API server
from --clients keep-alive connections (as fast as they go, or --rate per second), and polls the
watches the API server's events.k8s.io/v1 Events until every created Workflow has its Mutated
Event, then lists them (series counts included). Prints the admission time, when the last Event
arrived, and the delay from each create's answer to its Event arriving on the watch (p50, p99,
max).
--sigterm stops the webhook (SIGTERM, as a rollout does) right after the last create: every
Event of an admitted Workflow must still appear. Exit code 1 when an Event is missing, 77 when
the API server or etcd is not available.
"""
import argparse
import http.client
import json
import os
import ssl
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cluster  # noqa: E402
from cluster import EVENTS_DIR  # noqa: E402

NS = "argo"
WORKFLOWS = "/apis/argoproj.io/v1alpha1/namespaces/%s/workflows" % NS
EVENTS = "/apis/events.k8s.io/v1/namespaces/%s/events" % NS


class Api:
    """One keep-alive connection to the API server as the admin."""

    def __init__(self, c):
        self.token = c.admin_token
        context = ssl.create_default_context(cafile=c.api_ca)
        self.connection = http.client.HTTPSConnection("127.0.0.1", c.api_port, context=context, timeout=60)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        self.connection.request(method, path, data, headers)
        response = self.connection.getresponse()
        return response.status, json.loads(response.read() or b"null")


def workflow(event):
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"generateName": "burst-", "namespace": NS},
            "spec": {"workflowTemplateRef": {"name": "coderun-template"},
                     "arguments": {"parameters": [{"name": "github-app", "value": "rex"},
                                                  {"name": "event", "value": event}]}}}


def create_all(c, count, clients, rate):
    with open(os.path.join(EVENTS_DIR, "pull_request.opened.json"), encoding="utf-8") as f:
        body = workflow(f.read())
    created, failures, lock = {}, [], threading.Lock()
    start = time.monotonic()

    def work(k):
        api = Api(c)
        for i in range(k, count, clients):
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # pacing the offered load, not waiting for a result
            status, answer = api.call("POST", WORKFLOWS, body)
            with lock:
                if status == 201:
                    created[answer["metadata"]["name"]] = time.monotonic()
                else:
                    failures.append((status, str(answer)[:300]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return created, failures, time.monotonic() - start, start


def mutated_counts(api):
    """{workflow name: events counted} over the Mutated Events the API server lists."""
    counts, path = {}, EVENTS + "?limit=500"
    while True:
        status, listing = api.call("GET", path)
        assert status == 200, listing
        for e in listing["items"]:
            if e.get("reason") == "Mutated" and e["regarding"]["name"].startswith("burst-"):
                name = e["regarding"]["name"]
                counts[name] = counts.get(name, 0) + (e.get("series") or {}).get("count", 1)
        token = listing["metadata"].get("continue")
        if not token:
            return counts
        path = EVENTS + "?limit=500&continue=" + token


class EventWatch:
    """Watches the namespace's events.k8s.io/v1 Events from before the first create and notes when
    each burst Workflow's Mutated Event first arrives (a watch costs the API server little; polling
    the whole list would compete with what is measured)."""

    def __init__(self, c):
        self.first_seen, self.counts, self.lock = {}, {}, threading.Lock()
        api = Api(c)
        api.connection.request("GET", EVENTS + "?watch=1", headers={"Authorization": "Bearer " + api.token})
        self.response = api.connection.getresponse()
        assert self.response.status == 200, self.response.status
        self.api = api
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        try:
            for line in self.response:
                change = json.loads(line)
                e = change.get("object", {})
                if e.get("reason") != "Mutated" or not e.get("regarding", {}).get("name", "").startswith("burst-"):
                    continue
                with self.lock:
                    name = e["regarding"]["name"]
                    self.first_seen.setdefault(name, time.monotonic())
                    self.counts[e["metadata"]["name"]] = (name, (e.get("series") or {}).get("count", 1))
        except (OSError, ValueError, http.client.HTTPException):
            pass  # the watch ends when the API server stops

    def seen(self):
        with self.lock:
            return dict(self.first_seen)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0, help="creates per second (0: as fast as they go)")
    parser.add_argument("--sigterm", action="store_true", help="SIGTERM the webhook after the last create")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    try:
        c = cluster.Cluster().start()
    except cluster.Skip as skip:
        print("skipped: %s" % skip)
        return 77
    try:
        watch = EventWatch(c)
        created, failures, took, start = create_all(c, args.count, args.clients, args.rate)
        print("created %d Workflows in %.2f s (%.0f/s) from %d clients%s; %d creates failed %s" % (
            len(created), took, len(created) / took, args.clients,
            " at %.0f/s offered" % args.rate if args.rate else "", len(failures), failures[:2]))
        stopped = None
        if args.sigterm:
            t0 = time.monotonic()
            code = c.stop_webhook()
            stopped = time.monotonic() - t0
            print("webhook SIGTERM right after the last create: exit %s after %.2f s" % (code, stopped))
        api = Api(c)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and not all(name in watch.seen() for name in created):
            time.sleep(0.2)
        seen = watch.seen()
        counts = mutated_counts(api)  # the stored Events, read once at the end
        missing = [n for n in created if n not in counts]
        total = sum(counts.get(n, 0) for n in created)
        delays = [seen[n] - created[n] for n in created if n in seen]
        last = max(seen.values()) - start if seen else float("nan")
        print("Events: %d of %d Workflows have their Mutated Event (series counts summing to %d); the last "
              "became visible %.2f s after the first create, %.2f s after the last one" % (
                  len(created) - len(missing), len(created), total, last, last - took))
        if delays:
            print("create answered -> Event on the watch: p50 %.2f s, p99 %.2f s, max %.2f s" % (
                percentile(delays, 50), percentile(delays, 99), max(delays)))
        if not args.sigterm:
            metrics = c.metrics() if hasattr(c, "metrics") else ""
            for line in str(metrics).splitlines():
                if line.startswith("coderun_webhook_kube_events_total"):
                    print("  " + line)
        return 1 if missing or total != len(created) else 0
    finally:
        c.stop()


if __name__ == "__main__":
    sys.exit(main())
