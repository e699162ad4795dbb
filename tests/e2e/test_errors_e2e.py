"""README's "Errors: what each answer means", against the real server: each denial it documents,
answered with its code, reason and the whole message (issue 17: a changed text must fail a test).
The cluster messages are compared whole in tests/unit/cluster_decision_test.cpp, the HTTP ones in
test_server_e2e.py and test_transport_e2e.py, the event-immutable one in tests/unit/update_test.cpp."""
import unittest

from harness import WebhookServer, workflow

APPS = "rex, clippy, qa, triage, security"


def annotated(count):
    wf = workflow([("github-app", "rex"), ("repoFullName", "a/b")])
    wf["metadata"]["annotations"] = {"k%d" % i: "v" for i in range(count)}
    return wf


def coderun(spec):
    return {"apiVersion": "taskmaster.io/v1", "kind": "CodeRun", "metadata": {"name": "r", "namespace": "argo"},
            "spec": spec}


CASES = [
    ("github-app not allowed", workflow([("github-app", "x"), ("repoFullName", "a/b")]), 403,
     "Error: Invalid github-app 'x'. Must be one of: " + APPS),
    ("no repository", workflow([("github-app", "rex")]), 403,
     "Error: Repository information not available from event payload and no git context found"),
    ("a systemPromptPath that does not exist",
     workflow([("github-app", "rex"), ("repoFullName", "a/b"), ("systemPromptPath", "/etc/agents/nope.md")]), 403,
     "Error: System prompt not found at /etc/agents/nope.md"),
    ("a value breaking a safety rule", workflow([("github-app", "rex"), ("repoFullName", "a/b"), ("ref", "a..b")]),
     403, "Error: Invalid ref 'a..b' (from parameter): contains '..'"),
    ("a CodeRun the schema refuses", coderun({"repo": "a/b", "github": {"appName": "rex"},
                                              "workspace": {"path": "relative"}}), 403,
     "Error: CodeRun is invalid at $.spec.workspace.path: Failed to match regex specified by 'pattern' constraint."),
    ("a parameter given twice",
     workflow([("github-app", "rex"), ("repoFullName", "a/b"), ("ref", "main"), ("ref", "dev")]), 403,
     "Error: parameter ref is given more than once; give each parameter once, so that the value checked is the "
     "value used"),
    ("more than 50000 values", annotated(60000), 413,
     "Error: request.object is too large to decide on: JSON has more than 50000 values in the parts the webhook "
     "reads"),
]

REASONS = {403: "Forbidden", 413: "RequestEntityTooLarge"}


class DocumentedDenials(unittest.TestCase):
    def test_each_documented_denial_in_full(self):
        with WebhookServer() as server:
            for name, obj, code, message in CASES:
                for endpoint in ("/mutate", "/validate"):
                    with self.subTest(name, endpoint=endpoint):
                        status, response = server.admit(obj, endpoint=endpoint)
                        self.assertEqual(status, 200)
                        self.assertFalse(response["allowed"], response)
                        self.assertNotIn("patch", response)
                        self.assertEqual(response["status"], {"code": code, "message": message,
                                                              "reason": REASONS[code], "status": "Failure"})


if __name__ == "__main__":
    unittest.main()
