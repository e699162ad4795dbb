"""Access rules end to end (issue 15): the real server over TLS decides AdmissionReviews carrying
different request.userInfo against a policy with `access` rules, in enforce and audit mode (the
warning, the audit annotation, the AccessAudit Event posted to an HTTPS API server, the metric),
reloads a changed rule set, and `policy test` runs the examples of policy/tests."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

import jsonpatch

from fake_api_server import FakeApiServer, object_path
from harness import BIN, SOURCE_DIR, WebhookServer, decode_patch, metrics_of, review, sample, workflow

EXAMPLES = os.path.join(SOURCE_DIR, "policy", "tests")
EXAMPLE_POLICY = os.path.join(EXAMPLES, "access-policy.yaml")
DENIAL_B = ("Error: user alice (groups team-b) may not use github-app rex for repository myorg/b "
            "in namespace team-b: no rule in the policy's access.rules allows it")
ALICE_B = {"username": "alice", "uid": "u-alice", "groups": ["team-b"]}
ALICE_A = {"username": "alice", "uid": "u-alice", "groups": ["team-a", "system:authenticated"]}
WORKFLOW_SA = {"username": "system:serviceaccount:team-a:coderun-workflow",
               "groups": ["system:serviceaccounts", "system:serviceaccounts:team-a"]}


def coderun(repo, namespace, labels=None, name=None):
    metadata = {"namespace": namespace}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = "run-"
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "taskmaster.io/v1", "kind": "CodeRun", "metadata": metadata,
            "spec": {"repo": repo, "github": {"appName": "rex"}}}


def admit_as(server, obj, user_info, endpoint="/mutate"):
    """A review as the API server sends it, with this userInfo (the harness sends a fixed one)."""
    body = review(obj)
    body["request"]["userInfo"] = user_info
    status, text = server.curl("POST", endpoint + "?timeout=10s", body)
    assert status == 200, (status, text)
    answer = json.loads(text)["response"]
    assert answer["uid"] == body["request"]["uid"]
    return answer


def audit_policy(directory):
    path = os.path.join(directory, "policy.yaml")
    with open(EXAMPLE_POLICY) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("mode: enforce", "mode: audit"))
    return path


class EnforceOverTls(unittest.TestCase):
    def test_subjects_decide_in_both_passes(self):
        with WebhookServer(policy=EXAMPLE_POLICY) as server:
            own = coderun("myorg/a-tools", "team-a")
            for endpoint in ("/mutate", "/validate"):
                answer = admit_as(server, coderun("myorg/b", "team-b"), ALICE_B, endpoint)
                self.assertFalse(answer["allowed"], endpoint)
                self.assertEqual(answer["status"]["code"], 403)
                self.assertEqual(answer["status"]["message"], DENIAL_B)
                self.assertEqual(answer["auditAnnotations"]["rule"], "access")
                self.assertNotIn("patch", answer)
            answer = admit_as(server, own, ALICE_A)
            self.assertTrue(answer["allowed"], answer)
            self.assertEqual(answer["auditAnnotations"]["access"], "allowed")
            self.assertEqual(answer["auditAnnotations"]["access-rule"], "team-a")
            stored = jsonpatch.apply_patch(own, decode_patch(answer))
            self.assertIn("gh-token", json.dumps(stored), "the allowed run gets its token container")
            validated = admit_as(server, stored, ALICE_A, "/validate")
            self.assertTrue(validated["allowed"], validated)
            # Same object, someone else: denied, whoever could create it.
            bob = admit_as(server, own, {"username": "bob", "groups": ["team-b"]})
            self.assertFalse(bob["allowed"])
            self.assertIn("user bob (groups team-b) may not use github-app rex for repository "
                          "myorg/a-tools in namespace team-a", bob["status"]["message"])
            # The chain: the Workflow's service account creates labelled runs only.
            labelled = coderun("myorg/a-tools", "team-a", {"taskmaster.io/workflow": "coderun-x1"})
            self.assertTrue(admit_as(server, labelled, WORKFLOW_SA)["allowed"])
            bare = admit_as(server, own, WORKFLOW_SA)
            self.assertFalse(bare["allowed"])
            self.assertIn("service account team-a:coderun-workflow", bare["status"]["message"])
            self.assertIn("taskmaster.io/workflow label", bare["status"]["message"])
            # A Workflow is checked against its submitter.
            wf = workflow([("github-app", "rex"), ("repoFullName", "myorg/b")])
            wf["metadata"]["namespace"] = "team-a"
            denied = admit_as(server, wf, ALICE_A)
            self.assertFalse(denied["allowed"])
            self.assertIn("repository myorg/b in namespace team-a", denied["status"]["message"])
            log = server.log()
            self.assertIn("enforce mode, 3 access rule(s)", log)

    def test_without_access_everything_is_as_before_and_the_log_says_so(self):
        with WebhookServer() as server:
            answer = admit_as(server, coderun("myorg/b", "team-b"), ALICE_B)
            self.assertTrue(answer["allowed"], answer)
            self.assertNotIn("access", answer.get("auditAnnotations", {}))
            self.assertIn("no access rules", server.log())


class AuditOverTls(unittest.TestCase):
    def test_audit_admits_with_warning_annotation_event_and_metric(self):
        with tempfile.TemporaryDirectory() as tmp, FakeApiServer(tmp) as api, \
                WebhookServer(policy=audit_policy(tmp), metrics=True,
                              extra_args=["--kubeconfig", api.kubeconfig]) as server:
            run = coderun("myorg/b", "team-b")
            answer = admit_as(server, run, ALICE_B)
            self.assertTrue(answer["allowed"], answer)
            self.assertIn("access audit: would deny user alice rex for myorg/b", answer["warnings"])
            self.assertEqual(answer["auditAnnotations"]["access"], "would-deny")
            self.assertEqual(answer["auditAnnotations"]["access-reason"], DENIAL_B)
            stored = jsonpatch.apply_patch(run, decode_patch(answer))
            stored["metadata"]["name"] = "run-abcde"
            stored["metadata"]["uid"] = str(uuid.uuid4())
            api.store(object_path("coderuns", "team-b", "run-abcde", "taskmaster.io/v1"),
                      stored["metadata"]["uid"])
            validated = admit_as(server, stored, ALICE_B, "/validate")
            self.assertTrue(validated["allowed"])
            self.assertEqual(validated["auditAnnotations"]["access"], "would-deny")
            deadline = time.monotonic() + 30
            audits = []
            while time.monotonic() < deadline and not audits:
                audits = [r.body for r in api.events() if r.method == "POST"]
                audits = [e for e in audits if e.get("reason") == "AccessAudit"]
                time.sleep(0.1)
            self.assertEqual(len(audits), 1, [r.body for r in api.events()])
            event = audits[0]
            self.assertEqual(event["type"], "Warning")
            self.assertEqual(event["note"], DENIAL_B)
            self.assertEqual(event["regarding"]["name"], "run-abcde")
            self.assertEqual(event["regarding"]["kind"], "CodeRun")
            # Allowed in audit mode too: counted as allowed.
            own_run = coderun("myorg/a-x", "team-a")
            own_stored = jsonpatch.apply_patch(own_run, decode_patch(admit_as(server, own_run, ALICE_A)))
            own = admit_as(server, own_stored, ALICE_A, "/validate")
            self.assertTrue(own["allowed"], own)
            self.assertEqual(own["auditAnnotations"]["access"], "allowed")
            m = metrics_of(server)
            name = "coderun_webhook_access_decisions_total"
            # Once per request: the mutating pass of an admitted run is not counted.
            self.assertEqual(sample(m, name, mode="audit", result="would-deny"), 1)
            self.assertEqual(sample(m, name, mode="audit", result="allowed"), 1)

    def test_reload_switches_audit_to_enforce(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = audit_policy(tmp)
            with WebhookServer(policy=path) as server:
                self.assertTrue(admit_as(server, coderun("myorg/b", "team-b"), ALICE_B)["allowed"])
                shutil.copyfile(EXAMPLE_POLICY, path + ".new")
                os.replace(path + ".new", path)
                deadline = time.monotonic() + 15
                allowed = True
                while time.monotonic() < deadline and allowed:
                    allowed = admit_as(server, coderun("myorg/b", "team-b"), ALICE_B)["allowed"]
                    time.sleep(0.2)
                self.assertFalse(allowed, "enforce mode after the reload")
                self.assertIn("policy reloaded", server.log())


class PolicyTestCommand(unittest.TestCase):
    def run_cli(self, *args):
        return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=60)

    def test_examples_pass(self):
        result = self.run_cli("policy", "test", os.path.join(EXAMPLES, "cases"), "--policy", EXAMPLE_POLICY)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("FAIL", result.stdout)
        self.assertIn(" 0 failed", result.stdout)

    def test_a_policy_change_that_breaks_a_case_fails_with_a_diff(self):
        with tempfile.TemporaryDirectory() as tmp:
            broken = os.path.join(tmp, "policy.yaml")
            with open(EXAMPLE_POLICY) as f:
                text = f.read()
            self.assertIn('repositories: ["myorg/a-*"]', text)
            with open(broken, "w") as f:  # team A widened to every repository of myorg
                f.write(text.replace('repositories: ["myorg/a-*"]', 'repositories: ["myorg/*"]', 1))
            result = self.run_cli("policy", "test", os.path.join(EXAMPLES, "cases"), "--policy", broken)
            self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
            self.assertIn("FAIL team A may not run rex on myorg/b", result.stdout)
            self.assertIn("allowed: expected false, got true", result.stdout)
            self.assertIn("access: expected denied, got allowed", result.stdout)

    def test_bad_input_exits_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            missing = self.run_cli("policy", "test", os.path.join(tmp, "nope"), "--policy", EXAMPLE_POLICY)
            self.assertEqual(missing.returncode, 2, missing.stderr)
            self.assertIn("is not a directory", missing.stderr)
            empty = self.run_cli("policy", "test", tmp, "--policy", EXAMPLE_POLICY)
            self.assertEqual(empty.returncode, 2)
            self.assertIn("no cases", empty.stderr)
            with open(os.path.join(tmp, "bad.yaml"), "w") as f:
                f.write("namespace: x\nobject: {kind: CodeRun}\n")
            no_expect = self.run_cli("policy", "test", tmp, "--policy", EXAMPLE_POLICY)
            self.assertEqual(no_expect.returncode, 2)
            self.assertIn("expect is required", no_expect.stderr)
            no_policy = self.run_cli("policy", "test", os.path.join(EXAMPLES, "cases"))
            self.assertEqual(no_policy.returncode, 2)
            self.assertIn("--policy FILE is required", no_policy.stderr)
            bad_policy = os.path.join(tmp, "p.yaml")
            with open(bad_policy, "w") as f:
                f.write("access: {rules: [{subjects: {users: [a]}, apps: [nope], repositories: [a/b]}]}\n")
            invalid = self.run_cli("policy", "test", os.path.join(EXAMPLES, "cases"), "--policy", bad_policy)
            self.assertEqual(invalid.returncode, 2)
            self.assertIn("not in allowedApps", invalid.stderr)

    def test_help(self):
        result = self.run_cli("policy", "--help")
        self.assertEqual(result.returncode, 0)
        self.assertIn("policy test DIR --policy FILE", result.stdout)


if __name__ == "__main__":
    unittest.main()
