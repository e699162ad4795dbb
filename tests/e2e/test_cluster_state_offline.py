"""The offline commands with --cluster-state FILE standing for the cluster (issue 14): the same
checks as the server's clusterChecks, over a file of Namespaces, ConfigMaps and Secrets."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import BIN, PROMPTS_DIR, SOURCE_DIR

STATE = """
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: team-a, annotations: {taskmaster.io/repo: acme/widgets, taskmaster.io/ref: develop}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: controller-agents, namespace: team-a}
  data: {rex_system-prompt.md: You are rex.}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: mcp-requirements, namespace: team-a}
  data: {requirements.yaml: "tools: []"}
- apiVersion: v1
  kind: Secret
  metadata: {name: github-app-rex, namespace: team-a}
  data: {privateKey: bm90LWEta2V5}
"""

MINIMAL = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
           "metadata": {"generateName": "coderun-", "namespace": "team-a"},
           "spec": {"workflowTemplateRef": {"name": "coderun-template"},
                    "arguments": {"parameters": [{"name": "github-app", "value": "rex"}]}}}


class ClusterStateOffline(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def mutate(self, state, checks=None, obj=MINIMAL):
        args = [BIN, "mutate", "--json", "-f", self.write("wf.json", json.dumps(obj)),
                "--prompts-dir", PROMPTS_DIR, "--cluster-state", self.write("state.yaml", state)]
        if checks:
            with open(os.path.join(SOURCE_DIR, "policy", "policy.yaml"), encoding="utf-8") as f:
                policy = f.read() + "\nclusterChecks: %s\n" % checks
            args += ["--policy", self.write("policy.yaml", policy)]
        return subprocess.run(args, capture_output=True, text=True, timeout=60)

    def test_the_minimal_submit_takes_repo_and_ref_from_the_namespace(self):
        result = self.mutate(STATE, "enforce")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        out = json.loads(result.stdout)
        args = {p["name"]: p.get("value") for p in out["object"]["spec"]["arguments"]["parameters"]}
        self.assertEqual((args["repoFullName"], args["ref"]), ("acme/widgets", "develop"))
        self.assertEqual(out["decision"]["sources"]["repoFullName"], "namespace:taskmaster.io/repo")
        self.assertEqual(out["decision"]["sources"]["ref"], "namespace:taskmaster.io/ref")
        self.assertNotIn("warnings", out["decision"])

    def test_enforce_denies_a_missing_secret_with_the_fix(self):
        state = STATE[:STATE.index("- apiVersion: v1\n  kind: Secret")]
        result = self.mutate(state, "enforce")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        decision = json.loads(result.stdout)["decision"]
        self.assertEqual(decision["rule"], "token-secret")
        self.assertIn("kubectl create secret generic github-app-rex -n team-a --from-literal=appId=... "
                      "--from-file=privateKey=...", decision["message"])

    def test_warn_is_the_default_with_a_state_file(self):
        state = STATE.replace("rex_system-prompt.md", "other.md")
        result = self.mutate(state)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        warnings = json.loads(result.stdout)["decision"]["warnings"]
        self.assertIn("System prompt /etc/agents/rex_system-prompt.md is not in ConfigMap "
                      "controller-agents of namespace team-a", warnings)

    def test_a_state_file_of_other_kinds_is_refused(self):
        result = self.mutate("[{kind: Pod, metadata: {name: p}}]")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("--cluster-state", result.stderr)
        self.assertIn("only Namespace, ConfigMap and Secret", result.stderr)


class ReadinessWaitsForTheFirstSync(unittest.TestCase):
    """The server with a kube config whose API server does not answer: while clusterChecks is on,
    /readyz says it waits for the first sync; with clusterChecks off (the default) it does not."""

    def serve(self, checks):
        import socket
        from fake_api_server import write_kubeconfig
        from harness import WebhookServer
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        kubeconfig = write_kubeconfig(tmp.name, "https://127.0.0.1:%d" % closed_port, "/dev/null", "t")
        policy = None
        if checks:
            with open(os.path.join(SOURCE_DIR, "policy", "policy.yaml"), encoding="utf-8") as f:
                text = f.read() + "\nclusterChecks: %s\n" % checks
            policy = os.path.join(tmp.name, "policy.yaml")
            with open(policy, "w", encoding="utf-8") as f:
                f.write(text)
        return WebhookServer(extra_args=["--kubeconfig", kubeconfig], policy=policy)

    def test_not_ready_until_synced_while_checks_are_on(self):
        with self.serve("enforce") as server:
            status, body = server.get("/readyz")
            self.assertEqual(status, 503, body)
            self.assertIn("waiting for the cluster state's first sync", body)
            self.assertEqual(server.get("/healthz")[0], 200)

    def test_ready_at_once_with_checks_off(self):
        with self.serve(None) as server:
            self.assertEqual(server.get("/readyz")[0], 200)


class RbacMatchesThePolicy(unittest.TestCase):
    """The watches select ConfigMaps and Secrets by the names policy.yaml gives; RBAC grants exactly
    those names (resourceNames), so the two must move together."""

    def test_resource_names_are_the_shipped_policy_names(self):
        import yaml
        with open(os.path.join(SOURCE_DIR, "policy", "policy.yaml"), encoding="utf-8") as f:
            policy = yaml.safe_load(f)
        with open(os.path.join(SOURCE_DIR, "manifests", "base", "rbac.yaml"), encoding="utf-8") as f:
            rules = [r for d in yaml.safe_load_all(f) if d and d["kind"] == "ClusterRole" for r in d["rules"]]
        by_resource = {tuple(r["resources"]): r for r in rules}
        volumes = policy["volumes"]
        self.assertEqual(by_resource[("configmaps",)]["resourceNames"],
                         [volumes["agents"]["configMap"], volumes["mcpRequirements"]["configMap"]])
        pattern = policy["token"]["secretNamePattern"]
        self.assertEqual(by_resource[("secrets",)]["resourceNames"],
                         [pattern.replace("{app}", app) for app in policy["allowedApps"]])
        for resource in (("configmaps",), ("secrets",), ("namespaces",)):
            self.assertEqual(by_resource[resource]["verbs"], ["list", "watch"])
