"""The offline commands: the same engine as the server, over files, with no server or cluster."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import BIN, EVENTS_DIR, PROMPTS_DIR, SOURCE_DIR, review, workflow

EXAMPLE = os.path.join(SOURCE_DIR, "manifests", "examples", "workflow-coderun.yaml")


def run(*args):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=60)


class OfflineCommands(unittest.TestCase):
    def test_mutate_a_yaml_workflow_with_an_event_file(self):
        result = run("mutate", "-f", EXAMPLE, "--event", os.path.join(EVENTS_DIR, "pull_request.opened.json"),
                     "--prompts-dir", PROMPTS_DIR)
        self.assertEqual(result.returncode, 0, result.stderr)
        mutated = json.loads(result.stdout)
        args = {p["name"]: p.get("value") for p in mutated["spec"]["arguments"]["parameters"]}
        self.assertEqual(args["repoFullName"], "Codertocat/Hello-World")
        self.assertEqual(args["ref"], "changes")
        self.assertEqual(args["prNumber"], "2")
        summary = json.loads(result.stderr)
        self.assertEqual(summary["outcome"], "mutated")
        self.assertEqual(summary["sources"]["ref"], "event:.pull_request.head.ref")

    def test_readme_review_example(self):
        """README's `review -f manifests/examples/admissionreview-workflow.json`, kept working."""
        import base64
        path = os.path.join(SOURCE_DIR, "manifests", "examples", "admissionreview-workflow.json")
        with open(path) as f:
            sent = json.load(f)
        result = run("review", "-f", path, "--prompts-dir", PROMPTS_DIR)
        self.assertEqual(result.returncode, 0, result.stderr)
        answer = json.loads(result.stdout)["response"]
        self.assertEqual(answer["uid"], sent["request"]["uid"])
        self.assertTrue(answer["allowed"])
        self.assertEqual(answer["auditAnnotations"]["repo"], "Codertocat/Hello-World")
        patch = json.loads(base64.b64decode(answer["patch"]))
        filled = {op["value"]["name"]: op["value"]["value"] for op in patch
                  if op["path"] == "/spec/arguments/parameters/-"}
        self.assertEqual(filled.get("ref"), "changes")
        validated = run("review", "-f", path, "--prompts-dir", PROMPTS_DIR, "--validate")
        self.assertEqual(validated.returncode, 0, validated.stderr)
        self.assertTrue(json.loads(validated.stdout)["response"]["allowed"])

    def test_mutate_json_output_and_denial_exit_code(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "wf.json")
            with open(path, "w") as f:
                json.dump(workflow([("github-app", "nobody"), ("repoFullName", "a/b")]), f)
            result = run("mutate", "-f", path, "--json", "--prompts-dir", PROMPTS_DIR)
            self.assertEqual(result.returncode, 1)
            out = json.loads(result.stdout)
            self.assertFalse(out["decision"]["allowed"])
            self.assertEqual(out["decision"]["message"],
                             "Error: Invalid github-app 'nobody'. Must be one of: rex, clippy, qa, triage, security")
            self.assertEqual(out["decision"]["rule"], "github-app")

    def test_review_prints_the_admission_response(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "review.json")
            with open(os.path.join(EVENTS_DIR, "push.branch.json")) as f:
                event = f.read()
            with open(path, "w") as f:
                json.dump(review(workflow([("github-app", "rex"), ("event", event)]), uid="offline-1"), f)
            result = run("review", "-f", path, "--prompts-dir", PROMPTS_DIR,
                         "--policy", os.path.join(SOURCE_DIR, "policy", "policy.yaml"))
            self.assertEqual(result.returncode, 0, result.stderr)
            answer = json.loads(result.stdout)
            self.assertEqual(answer["kind"], "AdmissionReview")
            self.assertEqual(answer["response"]["uid"], "offline-1")
            self.assertEqual(answer["response"]["patchType"], "JSONPatch")
            validated = run("review", "-f", path, "--validate", "--prompts-dir", PROMPTS_DIR)
            self.assertEqual(validated.returncode, 0)
            self.assertNotIn("patch", json.loads(validated.stdout)["response"])

    def test_resolve_explains_where_values_come_from(self):
        result = run("resolve", "-f", os.path.join(EVENTS_DIR, "pull_request.opened.from-fork.json"))
        self.assertEqual(result.returncode, 0)
        resolved = json.loads(result.stdout)
        self.assertEqual(resolved["ref"], {"value": "refs/pull/217/head", "source": "refs/pull/{.pull_request.number}/head"})
        self.assertEqual(resolved["headRepoFullName"]["value"], "leodido/lstn")
        self.assertTrue(any("leodido/lstn" in note for note in resolved["notes"]))

    def test_usage_and_input_errors_exit_2(self):
        self.assertEqual(run("mutate").returncode, 2)
        self.assertEqual(run("mutate", "-f", "/nonexistent.yaml").returncode, 2)
        self.assertEqual(run("frobnicate").returncode, 2)
        with tempfile.TemporaryDirectory() as tmp:
            bad = os.path.join(tmp, "bad.json")
            with open(bad, "w") as f:
                f.write("{not json")
            self.assertEqual(run("review", "-f", bad).returncode, 2)

    def test_a_bad_policy_at_start_exits_2_with_a_clear_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            policy = os.path.join(tmp, "policy.yaml")
            with open(policy, "w") as f:
                f.write("allowedApps: rex\n")
            subprocess.run([os.path.join(SOURCE_DIR, "certs", "make-certs.sh"), "--out", tmp],
                           check=True, stdout=subprocess.DEVNULL)
            result = run("serve", "--port", "0", "--addr", "127.0.0.1", "--cert", os.path.join(tmp, "tls.crt"),
                         "--key", os.path.join(tmp, "tls.key"), "--policy", policy)
            self.assertEqual(result.returncode, 2)
            self.assertIn("$.allowedApps", result.stdout + result.stderr)


if __name__ == "__main__":
    unittest.main()
