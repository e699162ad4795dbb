"""Decisions from the cluster's truth (issue 14) behind a real kube-apiserver v1.20.2 and etcd:
the webhook's list + watch cache of the request namespace's controller-agents, mcp-requirements,
github-app-<app> Secret and annotations, with the project's RBAC. Its own cluster (cluster.py),
the webhook started as `make run` starts it but with a policy that has `clusterChecks: enforce`.

    /usr/bin/python3 tests/cluster/test_cluster_state.py [-v] [TestClass.test_name ...]

Exit code 77 (skipped) when the API server binary or etcd is not available.
"""
import json
import os
import re
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cluster  # noqa: E402
from cluster import SOURCE_DIR, wait_for  # noqa: E402

CLUSTER = None
POLICY = None
SOURCE_POLICY = os.path.join(SOURCE_DIR, "policy", "policy.yaml")
CHANGE_SECONDS = 10  # a change in the cluster must be seen by decisions within this
FIRST_SECONDS = 30  # a namespace just made, with the Secrets' RBAC possibly still being retried


class _Process(cluster.Process):
    """The harness's Process, with the webhook's --policy pointed at this module's copy (the policy
    is hot reloaded, so tests can switch clusterChecks by rewriting it)."""

    def __init__(self, name, args, log_path, env=None, cwd=None):
        if name == "webhook" and POLICY:
            args = [POLICY if a == SOURCE_POLICY else a for a in args]
        super().__init__(name, args, log_path, env=env, cwd=cwd)


cluster.Process = _Process


def write_policy(checks):
    with open(SOURCE_POLICY, encoding="utf-8") as f:
        text = f.read()
    with open(POLICY + ".tmp", "w", encoding="utf-8") as f:
        f.write(text + "\nclusterChecks: %s\n" % checks)
    os.replace(POLICY + ".tmp", POLICY)


def setUpModule():
    global CLUSTER, POLICY
    CLUSTER = cluster.Cluster()
    # The policy must exist before the webhook starts; the cluster's directory does not yet.
    POLICY = os.path.join(os.environ.get("TMPDIR", "/tmp"), "coderun-state-policy-%d.yaml" % os.getpid())
    write_policy("enforce")
    CLUSTER.start()
    # The webhook starts before the harness applies the RBAC: its lists are Forbidden until then
    # and retried (at most 5 s apart).
    wait_for(lambda: re.search(r"(?m)^coderun_webhook_cluster_state_synced 1$", CLUSTER.metrics()),
             60, "the cluster state synced")


def tearDownModule():
    if CLUSTER:
        CLUSTER.stop()
    if POLICY and os.path.exists(POLICY):
        os.unlink(POLICY)


def kubectl(*args, **kwargs):
    return CLUSTER.kubectl(*args, **kwargs)


def apply(obj):
    kubectl("apply", "-f", "-", input=json.dumps(obj))


def workflow(ns, parameters):
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"namespace": ns, "generateName": "coderun-"},
            "spec": {"workflowTemplateRef": {"name": "coderun-template"},
                     "arguments": {"parameters": [{"name": k, "value": v} for k, v in parameters]}}}


def submit(ns, parameters=(("github-app", "rex"),)):
    """As `argo submit --from workflowtemplate/coderun-template -p github-app=rex` creates it,
    through both webhooks (server-side dry run: nothing is stored)."""
    return kubectl("create", "--dry-run=server", "-o", "json", "-f", "-",
                   input=json.dumps(workflow(ns, parameters)), check=False)


def arguments(result):
    return {p["name"]: p.get("value") for p in result.json()["spec"]["arguments"]["parameters"]}


def namespace_with_everything(annotations=None):
    ns = "team-" + uuid.uuid4().hex[:8]
    apply({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns},
                        "annotations": annotations or {}}})
    apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "controller-agents", "namespace": ns},
           "data": {"rex_system-prompt.md": "You are rex."}})
    apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mcp-requirements", "namespace": ns},
           "data": {"requirements.yaml": "tools: []\n"}})
    create_secret(ns)
    return ns


def create_secret(ns):
    kubectl("create", "secret", "generic", "github-app-rex", "-n", ns,
            "--from-literal=appId=1", "--from-literal=privateKey=not-a-key")


def until(predicate, what, timeout=CHANGE_SECONDS):
    started = time.monotonic()
    wait_for(predicate, timeout, what, interval=0.2)
    return time.monotonic() - started


REPO_NS = {"taskmaster.io/repo": "acme/widgets", "taskmaster.io/ref": "develop"}


def api_get(path, accept="application/json"):
    """GET as the webhook's service account: (status, parsed body)."""
    import ssl
    import urllib.error
    import urllib.request
    context = ssl.create_default_context(cafile=CLUSTER.api_ca)
    request = urllib.request.Request(CLUSTER.api_url + path, headers={
        "Authorization": "Bearer " + CLUSTER.webhook_token, "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class ClusterStateTest(unittest.TestCase):
    def test_0_rbac_by_name_and_secrets_as_metadata(self):
        """What the README's RBAC section says of this API server: a list with a metadata.name field
        selector is authorised by resourceNames, the same list without it is Forbidden, and the
        Secrets come back as PartialObjectMetadata, without data."""
        ns = namespace_with_everything()
        self.assertEqual(api_get("/api/v1/secrets")[0], 403)
        self.assertEqual(api_get("/api/v1/configmaps")[0], 403)
        self.assertEqual(api_get("/api/v1/secrets?fieldSelector=metadata.name%3Dgithub-app-other")[0], 403)
        status, body = api_get("/api/v1/configmaps?fieldSelector=metadata.name%3Dcontroller-agents")
        self.assertEqual(status, 200, body)
        status, body = api_get("/api/v1/secrets?fieldSelector=metadata.name%3Dgithub-app-rex",
                               "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["kind"], "PartialObjectMetadataList")
        mine = [i for i in body["items"] if i["metadata"]["namespace"] == ns]
        self.assertEqual([i["metadata"]["name"] for i in mine], ["github-app-rex"])
        self.assertEqual(set(mine[0]), {"kind", "apiVersion", "metadata"})
        self.assertNotIn("bm90LWEta2V5", json.dumps(body))  # base64 of the privateKey created

    def test_1_minimal_submit_in_an_annotated_namespace(self):
        ns = namespace_with_everything(REPO_NS)
        result = None

        def admitted():
            nonlocal result
            result = submit(ns)
            return result.returncode == 0
        until(admitted, "the minimal submit admitted in %s" % ns, timeout=FIRST_SECONDS)
        values = arguments(result)
        self.assertEqual(values["repoFullName"], "acme/widgets")
        self.assertEqual((values["owner"], values["repo"]), ("acme", "widgets"))
        self.assertEqual(values["ref"], "develop")
        self.assertEqual(values["systemPromptPath"], "/etc/agents/rex_system-prompt.md")
        self.assertEqual(result.stderr.strip(), "", "no warnings: everything is in the namespace")
        # The same submit in a namespace without annotations is denied as before.
        plain = namespace_with_everything()
        until(lambda: "Repository information not available" in submit(plain).stderr,
              "the repository denial without annotations")

    def test_2_prompt_key_removed_and_added(self):
        ns = namespace_with_everything(REPO_NS)
        until(lambda: submit(ns).returncode == 0, "admitted at first", timeout=FIRST_SECONDS)
        kubectl("patch", "configmap", "controller-agents", "-n", ns, "--type=json",
                "-p", '[{"op": "remove", "path": "/data/rex_system-prompt.md"}]')
        expected = ("Error: System prompt not found at /etc/agents/rex_system-prompt.md or "
                    "/etc/agents/default_system-prompt.md (looked in ConfigMap controller-agents, "
                    "namespace %s)" % ns)
        took = until(lambda: expected in submit(ns).stderr, "the prompt's removal seen")
        self.assertLess(took, CHANGE_SECONDS)
        kubectl("patch", "configmap", "controller-agents", "-n", ns, "--type=merge",
                "-p", '{"data": {"default_system-prompt.md": "default"}}')
        result = None

        def admitted():
            nonlocal result
            result = submit(ns)
            return result.returncode == 0
        until(admitted, "the default prompt's addition seen")
        self.assertEqual(arguments(result)["systemPromptPath"], "/etc/agents/default_system-prompt.md")

    def test_3_token_secret_deleted_and_created(self):
        ns = namespace_with_everything(REPO_NS)
        until(lambda: submit(ns).returncode == 0, "admitted at first", timeout=FIRST_SECONDS)
        kubectl("delete", "secret", "github-app-rex", "-n", ns)
        fix = ("kubectl create secret generic github-app-rex -n %s --from-literal=appId=... "
               "--from-file=privateKey=..." % ns)
        until(lambda: fix in submit(ns).stderr, "the Secret's deletion seen")
        create_secret(ns)
        until(lambda: submit(ns).returncode == 0, "the Secret's creation seen")

    def test_4_warn_admits_with_warnings(self):
        ns = "bare-" + uuid.uuid4().hex[:8]
        apply({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}, "annotations": REPO_NS}})
        try:
            write_policy("warn")
            result = None

            def admitted_with_warning():
                nonlocal result
                result = submit(ns)
                return result.returncode == 0
            until(admitted_with_warning, "warn admits (policy reloaded)")
            self.assertIn("Warning: Secret github-app-rex not found in namespace %s" % ns, result.stderr)
            self.assertIn("Warning: ConfigMap mcp-requirements not found in namespace %s" % ns, result.stderr)
        finally:
            write_policy("enforce")
        until(lambda: submit(ns).returncode != 0, "enforce again")

    def test_5_restarted_api_server_is_recovered_from(self):
        ns = namespace_with_everything(REPO_NS)
        until(lambda: submit(ns).returncode == 0, "admitted at first", timeout=FIRST_SECONDS)
        metric = re.compile(r'^coderun_webhook_cluster_watch_restarts_total\{reason="error"\} (\S+)$', re.M)

        def restarts():
            found = metric.search(CLUSTER.metrics())
            return float(found.group(1)) if found else 0.0
        before = restarts()
        old = CLUSTER.processes["apiserver"]
        old.stop()
        until(lambda: restarts() > before, "the broken watches counted", timeout=30)
        CLUSTER.processes["apiserver"] = cluster.Process("apiserver", old.args, old.log_path)
        until(lambda: kubectl("get", "--raw", "/readyz", check=False).returncode == 0,
              "the API server back", timeout=120)
        # A change made after the restart reaches the decisions: the watches were re-established.
        kubectl("delete", "secret", "github-app-rex", "-n", ns)
        until(lambda: "kubectl create secret generic github-app-rex" in submit(ns).stderr,
              "a change after the restart seen", timeout=45)
        self.assertRegex(CLUSTER.metrics(), r"(?m)^coderun_webhook_cluster_state_synced 1$")
        self.assertRegex(CLUSTER.metrics(), r"(?m)^coderun_webhook_cluster_state_objects [1-9]")

    def test_6_no_rbac_for_secrets_is_said_at_start(self):
        role = kubectl("get", "clusterrole", "coderun-webhook-events", "-o", "json").json()
        original = role["rules"]
        role["rules"] = [r for r in original if r["resources"] != ["secrets"]]
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            role["metadata"].pop(key, None)
        kubectl("replace", "-f", "-", input=json.dumps(role))
        try:
            until(lambda: kubectl("auth", "can-i", "list", "secrets/github-app-rex",
                                  "--as", cluster.WEBHOOK_SA, check=False).stdout.strip() == "no",
                  "the Secrets rule gone")
            port = CLUSTER.webhook_port
            CLUSTER.stop_webhook()
            CLUSTER.start_webhook(port=port)
            until(lambda: any(line.get("msg", line.get("message", "")).startswith("no RBAC to list Secrets")
                              for line in CLUSTER.webhook_log_lines()),
                  "the log line about Secrets")
            ns = namespace_with_everything(REPO_NS)
            result = None

            def admitted():
                nonlocal result
                result = submit(ns)
                return result.returncode == 0
            until(admitted, "admitted without Secret RBAC", timeout=40)
            self.assertIn("the token Secret was not checked", result.stderr)
        finally:
            role["rules"] = original
            kubectl("replace", "-f", "-", input=json.dumps(role))


def main():
    argv = sys.argv[1:]
    try:
        cluster.check_prerequisites(os.environ.get("CODERUN_CLUSTER_CACHE") or os.path.dirname(cluster.BIN))
    except cluster.Skip as reason:
        print("skipped: %s" % reason)
        sys.exit(cluster.SKIP_CODE)
    except RuntimeError as error:
        print("error: %s" % error)
        sys.exit(1)
    started = time.monotonic()
    module = sys.modules[__name__]
    names = [a for a in argv if not a.startswith("-")]
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromNames(names, module) if names else loader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    print("cluster state suite: %d tests in %.1f s" % (result.testsRun, time.monotonic() - started))
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
