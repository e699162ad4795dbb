"""Soak test on loopback: concurrent keep-alive clients send a mix of valid, denied and malformed
reviews for a bounded time. Asserts zero 5xx, zero dropped connections, every answer correct,
and resident memory at the end within a small margin of memory after warm-up.
    /usr/bin/python3 tests/soak/soak.py --seconds 60 --clients 8"""
import argparse
import http.client
import json
import os
import random
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from harness import WebhookServer, event_text, review, rss_kib, workflow  # noqa: E402


def requests_mix():
    pr = event_text("pull_request.opened")
    valid = json.dumps(review(workflow([("github-app", "clippy"), ("event", pr)])))
    denied = json.dumps(review(workflow([("github-app", "nobody"), ("event", pr)])))
    malformed_event = json.dumps(review(workflow([("github-app", "rex"), ("repoFullName", "a/b"), ("event", pr[:500])])))
    hostile = json.loads(pr)
    hostile["pull_request"]["head"]["ref"] = "$(reboot)"
    hostile_ref = json.dumps(review(workflow([("github-app", "rex"), ("event", json.dumps(hostile))])))
    # (weight, body, check(status, answer) -> error or None)
    return [
        (50, valid, lambda s, a: None if s == 200 and a["response"]["allowed"] and a["response"].get("patch") else "valid"),
        (20, denied, lambda s, a: None if s == 200 and not a["response"]["allowed"]
         and a["response"]["status"]["message"].startswith("Error: Invalid github-app 'nobody'") else "denied"),
        (10, hostile_ref, lambda s, a: None if s == 200 and not a["response"]["allowed"] else "hostile ref"),
        (10, malformed_event, lambda s, a: None if s == 200 and a["response"]["allowed"] and a["response"].get("warnings") else "malformed event"),
        (10, "{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": \"Admission", lambda s, a: None if s == 400 else "malformed body"),
    ]


def soak(seconds, clients, warmup=3.0, rss_margin=0.10, check_rss=True):
    mix = requests_mix()
    weights = [w for w, _, _ in mix]
    with WebhookServer() as server:
        pid = server.process.pid
        context = ssl.create_default_context(cafile=server.ca)
        stop = threading.Event()
        lock = threading.Lock()
        stats = {"requests": 0, "5xx": 0, "wrong": 0, "dropped": 0, "errors": []}

        def client(seed):
            rng = random.Random(seed)
            conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
            local = {"requests": 0, "5xx": 0, "wrong": 0, "dropped": 0}
            while not stop.is_set():
                _, body, check = rng.choices(mix, weights)[0]
                try:
                    conn.request("POST", "/mutate?timeout=5s", body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as error:
                    local["dropped"] += 1
                    with lock:
                        stats["errors"].append(repr(error))
                    conn.close()
                    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
                    continue
                local["requests"] += 1
                if response.status >= 500:
                    local["5xx"] += 1
                answer = json.loads(data) if response.status == 200 else None
                problem = check(response.status, answer)
                if problem:
                    local["wrong"] += 1
                    with lock:
                        stats["errors"].append("wrong answer: " + problem)
            conn.close()
            with lock:
                for key, value in local.items():
                    stats[key] += value

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        time.sleep(warmup)
        rss_warm = rss_kib(pid)
        time.sleep(max(0.0, seconds - warmup))
        rss_end = rss_kib(pid)
        stop.set()
        for t in threads:
            t.join()
        exit_code = server.stop()
    rate = stats["requests"] / seconds
    print("soak: %ds, %d clients, %d requests (%.0f/s), 5xx=%d wrong=%d dropped=%d, RSS warm=%d KiB end=%d KiB, exit=%s"
          % (seconds, clients, stats["requests"], rate, stats["5xx"], stats["wrong"], stats["dropped"], rss_warm, rss_end,
             exit_code))
    failures = []
    if stats["5xx"] or stats["wrong"] or stats["dropped"]:
        failures.append("errors: %s" % stats["errors"][:5])
    if check_rss and rss_end > rss_warm * (1 + rss_margin) + 2048:
        failures.append("RSS grew from %d to %d KiB" % (rss_warm, rss_end))
    if exit_code != 0:
        failures.append("exit code %r after SIGTERM" % exit_code)
    if stats["requests"] < seconds * 10:
        failures.append("too few requests: %d" % stats["requests"])
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--no-rss-check", action="store_true",
                        help="sanitizer builds: their allocator keeps freed memory; leaks are checked at exit")
    args = parser.parse_args()
    failures = soak(args.seconds, args.clients, check_rss=not args.no_rss_check)
    for failure in failures:
        print("FAIL:", failure)
    print("%d passed, %d failed" % (0 if failures else 1, 1 if failures else 0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
