"""Deployable: rendered manifests against the Kubernetes JSON schemas (tests/fixtures/
k8s-json-schema) and the WorkflowTemplates against the Argo CRD; certificates from certs/ checked
with openssl; a certificate rotation while a client keeps sending requests."""
import base64
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import jsonschema
import yaml

from harness import FIXTURES_DIR, SOURCE_DIR, WebhookServer, make_certs, review, wait_for, workflow

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
K8S_SCHEMAS = os.path.join(FIXTURES_DIR, "k8s-json-schema", "v1.34.0-standalone")
SCHEMA_FILE = {
    "ClusterRole": "clusterrole-rbac-v1.json", "ClusterRoleBinding": "clusterrolebinding-rbac-v1.json",
    "ConfigMap": "configmap-v1.json", "Deployment": "deployment-apps-v1.json",
    "MutatingWebhookConfiguration": "mutatingwebhookconfiguration-admissionregistration-v1.json",
    "ValidatingWebhookConfiguration": "validatingwebhookconfiguration-admissionregistration-v1.json",
    "NetworkPolicy": "networkpolicy-networking-v1.json", "PodDisruptionBudget": "poddisruptionbudget-policy-v1.json",
    "Role": "role-rbac-v1.json", "RoleBinding": "rolebinding-rbac-v1.json", "Secret": "secret-v1.json",
    "Service": "service-v1.json", "ServiceAccount": "serviceaccount-v1.json",
}
# No schema in the fixtures for these: checked for their essentials below instead.
WITHOUT_SCHEMA = {"Namespace", "CustomResourceDefinition", "Issuer", "Certificate"}
MANIFESTS = os.path.join(SOURCE_DIR, "manifests")
KUBECTL = shutil.which("kubectl")


def render(directory):
    out = subprocess.run([KUBECTL, "kustomize", directory], capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.load_all(out, Loader=Loader) if d]


def raw_documents(directory):
    """The base's files as written (no kustomize): what a fallback without kubectl can check."""
    docs = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".yaml") and name != "kustomization.yaml":
            with open(os.path.join(directory, name)) as f:
                docs += [d for d in yaml.load_all(f, Loader=Loader) if d]
    return docs


def schema_for(kind):
    with open(os.path.join(K8S_SCHEMAS, SCHEMA_FILE[kind])) as f:
        return json.load(f)


def crd_schema(path):
    with open(path) as f:
        return yaml.load(f, Loader=Loader)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


class Manifests(unittest.TestCase):
    def check_documents(self, docs):
        self.assertTrue(docs)
        workflow_template_schema = crd_schema(os.path.join(FIXTURES_DIR, "argo", "crds", "full", "argoproj.io_workflowtemplates.yaml"))
        for doc in docs:
            kind = doc["kind"]
            with self.subTest(kind=kind, name=doc["metadata"]["name"]):
                if kind == "WorkflowTemplate":
                    schema = workflow_template_schema
                elif kind in WITHOUT_SCHEMA:
                    self.assertIn("apiVersion", doc)
                    continue
                else:
                    schema = schema_for(kind)
                validator = jsonschema.Draft7Validator(schema)
                errors = [("/".join(map(str, e.path)), e.message[:160]) for e in validator.iter_errors(doc)]
                self.assertEqual(errors, [])

    def test_the_base_files_as_written(self):
        self.check_documents(raw_documents(os.path.join(MANIFESTS, "base")))
        self.check_documents(raw_documents(os.path.join(MANIFESTS, "workflowtemplates")))

    def test_the_policy_configmap_is_the_policy_file(self):
        docs = raw_documents(os.path.join(MANIFESTS, "base"))
        config_map = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "coderun-webhook-policy")
        with open(os.path.join(SOURCE_DIR, "policy", "policy.yaml")) as f:
            self.assertEqual(config_map["data"]["policy.yaml"], f.read())

    def test_webhook_configurations(self):
        docs = {d["kind"]: d for d in raw_documents(os.path.join(MANIFESTS, "base"))}
        for kind, path in (("MutatingWebhookConfiguration", "/mutate"), ("ValidatingWebhookConfiguration", "/validate")):
            for hook in docs[kind]["webhooks"]:
                with self.subTest(kind=kind, hook=hook["name"]):
                    self.assertEqual(hook["admissionReviewVersions"], ["v1"])
                    self.assertEqual([op for r in hook["rules"] for op in r["operations"]], ["CREATE", "UPDATE"])
                    phase = "mutate" if kind == "MutatingWebhookConfiguration" else "validate"
                    self.assertRegex(hook["name"], r"^(workflows|runs)\.%s\.coderun-webhook\.taskmaster\.io$" % phase)
                    update_condition = hook["matchConditions"][-1]
                    self.assertEqual(update_condition["name"], "spec-changed-on-update")
                    self.assertIn("request.operation != 'UPDATE'", update_condition["expression"])
                    self.assertEqual(hook["sideEffects"], "NoneOnDryRun")
                    self.assertEqual(hook["timeoutSeconds"], 5)
                    self.assertEqual(hook["failurePolicy"], "Fail")
                    self.assertEqual(hook["clientConfig"]["service"]["path"], path)
                    excluded = hook["namespaceSelector"]["matchExpressions"][0]
                    self.assertEqual((excluded["operator"], set(excluded["values"])), ("NotIn", {"kube-system", "coderun-webhook"}))
                    if kind == "MutatingWebhookConfiguration":
                        self.assertEqual(hook["reinvocationPolicy"], "IfNeeded")
                    if hook["rules"][0]["resources"] == ["workflows"]:
                        expression = hook["matchConditions"][0]["expression"]
                        for text in ("coderun-template", "docsrun-template", "github-app"):
                            self.assertIn(text, expression)

    def test_audit_annotation_keys_cannot_collide(self):
        """The API server keys audit annotations by webhook name: one name per pass."""
        docs = raw_documents(os.path.join(MANIFESTS, "base"))
        names = [h["name"] for d in docs if d["kind"].endswith("WebhookConfiguration") for h in d["webhooks"]]
        self.assertEqual(len(names), 4)
        self.assertEqual(len(set(names)), 4)

    @unittest.skipUnless(KUBECTL, "kubectl is not installed: rendering with kustomize is not checked (the raw files are)")
    def test_no_match_conditions_component_for_older_clusters(self):
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "manifests")
            shutil.copytree(MANIFESTS, copy)
            overlay = os.path.join(copy, "overlays", "old-cluster")
            os.makedirs(overlay)
            shutil.copy(os.path.join(copy, "base", "webhooks.yaml"), overlay)  # kustomize loads files only below the overlay
            with open(os.path.join(overlay, "kustomization.yaml"), "w") as f:
                f.write("resources: [webhooks.yaml]\ncomponents: [../../components/no-match-conditions]\n")
            docs = render(overlay)
            hooks = [h for d in docs if d["kind"].endswith("WebhookConfiguration") for h in d["webhooks"]]
            self.assertEqual(len(hooks), 4)
            for hook in hooks:
                with self.subTest(hook["name"]):
                    self.assertNotIn("matchConditions", hook)
                    if hook["rules"][0]["resources"] == ["workflows"]:
                        self.assertEqual(hook["objectSelector"]["matchExpressions"], [
                            {"key": "workflows.argoproj.io/workflow-template", "operator": "In",
                             "values": ["coderun-template", "docsrun-template"]}])
                    else:
                        self.assertNotIn("objectSelector", hook)
            with open(os.path.join(MANIFESTS, "examples", "workflow-coderun.yaml")) as f:
                example = yaml.safe_load(f)
            self.assertEqual(example["metadata"]["labels"]["workflows.argoproj.io/workflow-template"], "coderun-template")

    def test_deployment_rbac_and_disruption(self):
        docs = raw_documents(os.path.join(MANIFESTS, "base"))
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        self.assertEqual(deployment["spec"]["replicas"], 2)
        pod = deployment["spec"]["template"]["spec"]
        self.assertTrue(pod["topologySpreadConstraints"] and pod["affinity"]["podAntiAffinity"])
        self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
        container = pod["containers"][0]
        security = container["securityContext"]
        self.assertEqual((security["readOnlyRootFilesystem"], security["runAsNonRoot"], security["allowPrivilegeEscalation"],
                          security["capabilities"]["drop"]), (True, True, False, ["ALL"]))
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertIn("limits", container["resources"])
        rules = [r for d in docs if d["kind"] == "ClusterRole" for r in d["rules"]]
        # Events, and get on the admitted kinds (a Mutated Event waits until its object is found stored);
        # list/watch for the cluster checks: namespaces, and the named ConfigMaps and Secrets only.
        self.assertEqual(rules, [{"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
                                 {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["get"]},
                                 {"apiGroups": ["taskmaster.io"], "resources": ["coderuns", "docsruns"], "verbs": ["get"]},
                                 {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
                                 {"apiGroups": [""], "resources": ["configmaps"],
                                  "resourceNames": ["controller-agents", "mcp-requirements"], "verbs": ["list", "watch"]},
                                 {"apiGroups": [""], "resources": ["secrets"],
                                  "resourceNames": ["github-app-%s" % app for app in ("rex", "clippy", "qa", "triage", "security")],
                                  "verbs": ["list", "watch"]}])
        self.assertEqual(next(d for d in docs if d["kind"] == "PodDisruptionBudget")["spec"]["minAvailable"], 1)
        service = next(d for d in docs if d["kind"] == "Service")
        self.assertEqual(service["spec"]["ports"][0]["port"], 443)

    def test_base_network_policy_admits_no_pod(self):
        """No placeholder range that could hold the pod network: the base admits nothing."""
        policy = next(d for d in raw_documents(os.path.join(MANIFESTS, "base")) if d["kind"] == "NetworkPolicy")
        blocks = [peer["ipBlock"]["cidr"] for rule in policy["spec"]["ingress"] for peer in rule["from"] if "ipBlock" in peer]
        blocks += [peer["ipBlock"]["cidr"] for rule in policy["spec"]["egress"] for peer in rule["to"] if "ipBlock" in peer]
        self.assertEqual(blocks, ["192.0.2.1/32", "192.0.2.1/32"])

    @unittest.skipUnless(KUBECTL, "kubectl is not installed: rendering with kustomize is not checked (the raw files are)")
    def test_overlays_require_the_api_server_addresses(self):
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "manifests")
            shutil.copytree(MANIFESTS, copy)
            certs = os.path.join(copy, "overlays", "self-signed", "certs")
            os.makedirs(certs)
            for name in ("tls.crt", "tls.key", "ca.crt"):
                open(os.path.join(certs, name), "w").close()
            with open(os.path.join(certs, "ca-bundle.yaml"), "w") as f:
                f.write("- {op: add, path: /webhooks/0/clientConfig/caBundle, value: eA==}\n")
            for overlay in ("self-signed", "cert-manager"):
                with self.subTest(overlay):
                    out = subprocess.run([KUBECTL, "kustomize", os.path.join(copy, "overlays", overlay)],
                                         capture_output=True, text=True)
                    self.assertNotEqual(out.returncode, 0)
                    self.assertIn("data.apiServerCIDR` is missing", out.stderr)

    @unittest.skipUnless(KUBECTL, "kubectl is not installed: rendering with kustomize is not checked (the raw files are)")
    def test_rendered_base_and_overlays(self):
        self.check_documents(render(MANIFESTS))
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "manifests")
            shutil.copytree(MANIFESTS, copy)
            for overlay in ("self-signed", "cert-manager"):
                settings = os.path.join(copy, "overlays", overlay, "cluster.yaml")
                with open(settings) as f:
                    text = f.read()
                with open(settings, "w") as f:
                    f.write(text.replace("data: {}", "data:\n  apiServerCIDR: 172.18.0.2/32"))
            docs = render(os.path.join(copy, "overlays", "cert-manager"))
            self.check_documents(docs)
            policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
            self.assertEqual(policy["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"], "172.18.0.2/32")
            self.assertEqual(policy["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"], "172.18.0.2/32")
            self.assertFalse([d for d in docs if d["metadata"]["name"] == "coderun-webhook-cluster"])
            certs = os.path.join(copy, "overlays", "self-signed", "certs")
            subprocess.run([os.path.join(SOURCE_DIR, "certs", "make-certs.sh"), "--out", certs,
                            "--ca-bundle-patch", os.path.join(certs, "ca-bundle.yaml")], check=True, stdout=subprocess.DEVNULL)
            docs = render(os.path.join(copy, "overlays", "self-signed"))
            self.check_documents(docs)
            with open(os.path.join(certs, "ca.crt"), "rb") as f:
                bundle = base64.b64encode(f.read()).decode()
            hooks = [h for d in docs if d["kind"].endswith("WebhookConfiguration") for h in d["webhooks"]]
            self.assertEqual(len(hooks), 4)
            self.assertTrue(all(h["clientConfig"]["caBundle"] == bundle for h in hooks))
            secret = next(d for d in docs if d["kind"] == "Secret")
            self.assertEqual((secret["metadata"]["name"], secret["type"]), ("coderun-webhook-tls", "kubernetes.io/tls"))


class Certificates(unittest.TestCase):
    def test_serving_certificate_from_certs(self):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([os.path.join(SOURCE_DIR, "certs", "make-certs.sh"), "--out", tmp, "--service", "hook",
                            "--namespace", "tools"], check=True, stdout=subprocess.DEVNULL)
            verify = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(tmp, "ca.crt"), "-purpose", "sslserver",
                                     os.path.join(tmp, "tls.crt")], capture_output=True, text=True)
            self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
            text = subprocess.run(["openssl", "x509", "-in", os.path.join(tmp, "tls.crt"), "-noout", "-text"],
                                  capture_output=True, text=True, check=True).stdout
            for name in ("DNS:hook", "DNS:hook.tools", "DNS:hook.tools.svc", "DNS:hook.tools.svc.cluster.local"):
                self.assertIn(name, text)
            self.assertIn("TLS Web Server Authentication", text)
            self.assertIn("CA:FALSE", text)
            self.assertIn("Digital Signature", text)
            key_mode = os.stat(os.path.join(tmp, "tls.key")).st_mode & 0o777
            self.assertEqual(key_mode, 0o600)


def served_serial(port, ca):
    context = ssl.create_default_context(cafile=ca)
    with context.wrap_socket(__import__("socket").create_connection(("127.0.0.1", port), timeout=5),
                             server_hostname="localhost") as tls:
        der = tls.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem, capture_output=True, text=True, check=True)
    return out.stdout.strip()


class Rotation(unittest.TestCase):
    def test_rotation_under_load_fails_no_request(self):
        with WebhookServer() as server:
            tls_crt = os.path.join(server.certs, "tls.crt")
            before = served_serial(server.port, server.ca)
            body = json.dumps(review(workflow([("github-app", "rex"), ("repoFullName", "a/b")])))
            context = ssl.create_default_context(cafile=server.ca)
            stop = threading.Event()
            failures, done = [], [0]

            def client(keep_alive, path):
                """Keeps sending until stopped: on one connection, or on a new one each time."""
                conn = None
                while not stop.is_set():
                    if conn is None:
                        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
                    try:
                        conn.request("POST", path, body, {"Content-Type": "application/json"})
                        response = conn.getresponse()
                        response.read()
                        if response.status != 200:
                            failures.append(response.status)
                        done[0] += 1
                    except (OSError, http.client.HTTPException) as error:
                        failures.append(repr(error))
                    if not keep_alive or failures:
                        conn.close()
                        conn = None
                if conn is not None:
                    conn.close()

            threads = [threading.Thread(target=client, args=(True, "/mutate")),
                       threading.Thread(target=client, args=(False, "/validate")),
                       threading.Thread(target=client, args=(False, "/mutate"))]
            for t in threads:
                t.start()
            try:
                # The clients are under way (polled, not slept) before the renewal.
                self.assertTrue(wait_for(lambda: done[0] >= 10 or failures), (done, failures))
                subprocess.run([os.path.join(SOURCE_DIR, "certs", "make-certs.sh"), "--out", server.certs,
                                "--ip", "127.0.0.1", "--dns", "localhost", "--renew"], check=True, stdout=subprocess.DEVNULL)
                renewed_at = time.monotonic()  # the new pair is on disk
                expected = subprocess.run(["openssl", "x509", "-in", tls_crt, "-noout", "-serial"],
                                          capture_output=True, text=True, check=True).stdout.strip()
                self.assertNotEqual(expected, before)
                served = wait_for(lambda: served_serial(server.port, server.ca) == expected, timeout=10)
                reload_s = time.monotonic() - renewed_at
                after = served_serial(server.port, server.ca)
                self.assertEqual(after, expected, "the renewed certificate is served")
                # README: the certificate and key are re-read within a second of the files changing;
                # a second of margin for a loaded machine (the last handshake's time is included).
                print("\nrenewed certificate served %.3f s after the files changed (README: within a second)"
                      % reload_s)
                self.assertLess(reload_s, 2.0)
                # And the clients go on through the switch: more requests after it, none failed.
                switched = done[0]
                self.assertTrue(wait_for(lambda: done[0] >= switched + 20 or failures), (done, failures))
            finally:
                stop.set()
                for t in threads:
                    t.join()
            self.assertEqual(after, expected, "the renewed certificate is served")
            self.assertEqual(failures, [])
            self.assertGreater(done[0], 20)
            self.assertIn("certificate reloaded", [l["msg"] for l in server.log_lines()])


if __name__ == "__main__":
    unittest.main()
