"""What the webhook writes is valid for the API server: mutated Workflows against the Argo
Workflow CRD (tests/fixtures/argo/crds/full), mutated CodeRuns and DocsRuns against the CRDs
in manifests/base/crds, checked with python3-jsonschema."""
import json
import os
import subprocess
import tempfile
import unittest

import jsonschema
import yaml

from harness import BIN, EVENTS_DIR, FIXTURES_DIR, PROMPTS_DIR, SOURCE_DIR

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def crd_schema(path):
    with open(path) as f:
        crd = yaml.load(f, Loader=Loader)
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def mutate(obj, event=None, workflow_plumbing=None):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "object.json")
        with open(path, "w") as f:
            json.dump(obj, f)
        args = [BIN, "mutate", "-f", path, "--json", "--prompts-dir", PROMPTS_DIR]
        if workflow_plumbing:
            policy = os.path.join(tmp, "policy.yaml")
            with open(policy, "w") as f:
                f.write("workflowPlumbing: %s\n" % workflow_plumbing)
            args += ["--policy", policy]
        if event:
            args += ["--event", os.path.join(EVENTS_DIR, event + ".json")]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        out = json.loads(result.stdout)
        assert out["decision"]["allowed"], out["decision"]
        return out["object"]


def assert_valid(test, schema, obj):
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
    test.assertEqual([("/".join(map(str, e.path)), e.message[:200]) for e in errors], [])


class MutatedObjectsMatchTheirCrds(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workflow_schema = crd_schema(os.path.join(FIXTURES_DIR, "argo", "crds", "full", "argoproj.io_workflows.yaml"))

    def test_mutated_workflows_validate_against_the_argo_crd(self):
        with open(os.path.join(SOURCE_DIR, "manifests", "examples", "workflow-coderun.yaml")) as f:
            example = yaml.safe_load(f)
        with open(os.path.join(FIXTURES_DIR, "argo", "examples", "workflow.pod-spec-patch-wf-tmpl.yaml")) as f:
            with_pod_patch = yaml.safe_load(f)
        with_pod_patch["spec"]["arguments"]["parameters"].append({"name": "github-app", "value": "rex"})
        for name, obj, event in [("example", example, "pull_request.opened"),
                                 ("fork", example, "pull_request.opened.from-fork"),
                                 ("push", example, "push.branch"),
                                 ("argo podSpecPatch example", with_pod_patch, "issues.opened")]:
            with self.subTest(name, workflowPlumbing="podSpecPatch"):
                mutated = mutate(obj, event, "podSpecPatch")
                self.assertIn("podSpecPatch", mutated["spec"])
                self.assertEqual(len(mutated["spec"]["volumes"]), 4)
                assert_valid(self, self.workflow_schema, mutated)
            for plumbing in (None, "none"):  # the default, and said explicitly
                with self.subTest(name, workflowPlumbing=plumbing or "default"):
                    mutated = mutate(obj, event, plumbing)
                    # Nothing Argo's templateReferencing Strict refuses is added; the user's kept.
                    self.assertEqual(mutated["spec"].get("podSpecPatch"), obj["spec"].get("podSpecPatch"))
                    self.assertEqual(mutated["spec"].get("volumes"), obj["spec"].get("volumes"))
                    self.assertNotEqual(mutated["spec"]["arguments"], obj["spec"]["arguments"])
                    assert_valid(self, self.workflow_schema, mutated)

    def test_the_schema_check_can_fail(self):
        broken = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {},
                  "spec": {"volumes": "not-a-list", "podSpecPatch": 3}}
        self.assertTrue(list(jsonschema.Draft7Validator(self.workflow_schema).iter_errors(broken)))

    def test_mutated_agent_runs_validate_against_their_crds(self):
        for kind, crd in (("CodeRun", "coderun.yaml"), ("DocsRun", "docsrun.yaml")):
            schema = crd_schema(os.path.join(SOURCE_DIR, "manifests", "base", "crds", crd))
            with open(os.path.join(SOURCE_DIR, "manifests", "examples", crd)) as f:
                example = yaml.safe_load(f)
            # The CodeRun example names no repository: it needs an event. The DocsRun names one.
            events = ["pull_request.opened", "issue_comment.created.on-pull-request"] + ([None] if kind == "DocsRun" else [])
            for event in events:
                for plumbing in (None, "podSpecPatch"):  # a run's plumbing does not depend on it
                    with self.subTest(kind=kind, event=event, workflowPlumbing=plumbing or "default"):
                        mutated = mutate(example, event, plumbing)
                        self.assertEqual(len(mutated["spec"]["initContainers"]), 1)
                        self.assertEqual(len(mutated["spec"]["volumes"]), 4)
                        assert_valid(self, schema, mutated)


if __name__ == "__main__":
    unittest.main()
