"""Monitoring (manifests/monitoring): every metric a Grafana panel or an alert rule uses exists in
the webhook's /metrics after a known sequence (a mutated admission, a denied one, a request that
is not a review, a rejected policy reload), with the labels and label values the expressions select; the rules pass `promtool check
rules` and their unit tests (monitoring/alerts.test.yaml, `promtool test rules`); the kustomize
overlay renders them.

promtool comes from Debian's prometheus package, which is large (a daemon, JavaScript libraries):
it is not among `make deps`' packages. `make monitoring-check` extracts promtool alone into the
build tree and runs this suite with it; without it the promtool cases skip, saying so."""
import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness import BIN, SOURCE_DIR, WebhookServer, workflow

MONITORING = os.path.join(SOURCE_DIR, "manifests", "monitoring")
HERE = os.path.dirname(os.path.abspath(__file__))
KUBECTL = shutil.which("kubectl")


def find_promtool():
    for candidate in (os.environ.get("PROMTOOL"),
                      os.path.join(os.path.dirname(os.path.abspath(BIN)), "_deps", "prometheus", "usr", "bin", "promtool"),
                      shutil.which("promtool")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


PROMTOOL = find_promtool()
NO_PROMTOOL = "promtool not found: `make monitoring-check` extracts it from Debian's prometheus package"

# Series Prometheus makes itself for every target, and the labels it attaches to scraped samples
# (the Prometheus Operator's relabelling of a ServiceMonitor target).
PROMETHEUS_SERIES = {"up"}
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                "offset", "bool", "inf", "nan", "atan2"}

# The seed's panels (coderun-templates-design.md, Monitoring) and the list: each must be
# drawn from this metric.
REQUIRED_PANEL_METRICS = {
    "admissions per second by kind and app": "coderun_webhook_admission_requests_total",
    "allowed/denied/mutated by app": "coderun_webhook_admission_requests_total",
    "admission latency p50/p99": "coderun_webhook_admission_duration_seconds_bucket",
    "auto-detection by field and source": "coderun_webhook_values_resolved_total",
    "Events posted/failed/dropped": "coderun_webhook_kube_events_total",
    "certificate expiry": "coderun_webhook_certificate_expiry_timestamp_seconds",
    "policy reloads": "coderun_webhook_policy_reloads_total",
    "open connections": "coderun_webhook_connections",
}
REQUIRED_ALERTS = {"CoderunWebhookUnavailable", "CoderunWebhookLatencyHigh", "CoderunWebhookDenialSpike",
                   "CoderunWebhookCertificateExpiringSoon", "CoderunWebhookEventsDropped",
                   "CoderunWebhookPolicyReloadFailing"}

# A small pull_request event (the fields the webhook detects), so the suite needs no fixture file.
PULL_REQUEST_EVENT = json.dumps({
    "action": "opened", "number": 7,
    "pull_request": {"number": 7, "head": {"ref": "feature", "sha": "0123456789abcdef0123456789abcdef01234567"},
                     "base": {"ref": "main"}},
    "repository": {"name": "widgets", "full_name": "acme/widgets", "owner": {"login": "acme"},
                   "default_branch": "main"},
})


def load_dashboard():
    with open(os.path.join(MONITORING, "grafana-dashboard.json")) as f:
        return json.load(f)


def load_rules_resource():
    with open(os.path.join(MONITORING, "prometheusrule.yaml")) as f:
        return yaml.safe_load(f)


def dashboard_panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_expressions(dashboard):
    """(where, PromQL) of every panel target and templating query."""
    for panel in dashboard_panels(dashboard):
        for target in panel.get("targets", []):
            yield "panel %r %s" % (panel["title"], target["refId"]), target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            found = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", query)
            yield "variable %r" % variable["name"], (found.group(1) if found else query)


def rule_expressions(resource):
    for group in resource["spec"]["groups"]:
        for rule in group["rules"]:
            yield "rule %r" % (rule.get("alert") or rule.get("record")), rule["expr"]


STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*(' + STRING + ')')
SELECTOR = re.compile(r'([a-zA-Z_:][\w:]*)?\s*\{((?:' + STRING + r'|[^}"\'])*)\}')
GROUPING = re.compile(r'\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)')


def parse_promql(expr):
    """What an expression reads: ({metric names}, [(metric, label, op, value)], {grouping labels}).
    A deliberately small reading of PromQL, enough for the expressions of these files: selectors
    with matchers, ranges, grouping clauses, functions, numbers and Grafana's $variables."""
    selectors = []
    for name, body in SELECTOR.findall(expr):
        for label, op, value in MATCHER.findall(body):
            selectors.append((name, label, op, value[1:-1]))
    grouping = set()
    for _, labels in GROUPING.findall(expr):
        grouping |= {label.strip() for label in labels.split(",") if label.strip()}
    rest = SELECTOR.sub(lambda m: " %s " % (m.group(1) or ""), expr)
    rest = re.sub(STRING, " ", rest)
    rest = GROUPING.sub(" ", rest)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)          # ranges: [5m], [$__rate_interval]
    rest = re.sub(r"\$\{?\w+\}?", " ", rest)           # Grafana variables
    rest = re.sub(r"(?<![\w:])[0-9][0-9.eE+\-]*[a-zA-Z]*", " ", rest)  # numbers, durations
    names = set()
    for found in re.finditer(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\()?", rest):
        word, call = found.group(1), found.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names, selectors, grouping


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as response:
        text = response.read().decode()
    samples = {}  # sample name -> [labels dict]
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((dict(s.labels), s.value))
    return text, samples


class ExpressionParsing(unittest.TestCase):
    def test_names_selectors_and_grouping(self):
        names, selectors, grouping = parse_promql(
            'histogram_quantile(0.99, sum by (le, endpoint) (rate(a_bucket{endpoint="mutate", x!~"y|z"}[$__rate_interval])))'
            ' / on (pod) group_left b_total - time() < 7 * 86400 and absent(up{job="j"} == 1) or c:rec offset 5m')
        self.assertEqual(names, {"a_bucket", "b_total", "up", "c:rec"})
        self.assertEqual(selectors, [("a_bucket", "endpoint", "=", "mutate"), ("a_bucket", "x", "!~", "y|z"),
                                     ("up", "job", "=", "j")])
        self.assertEqual(grouping, {"le", "endpoint", "pod"})


class MonitoringMatchesMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dashboard = load_dashboard()
        cls.rules = load_rules_resource()
        cls.tmp = tempfile.TemporaryDirectory(prefix="coderun-monitoring-")
        policy = os.path.join(cls.tmp.name, "policy.yaml")
        shutil.copy(os.path.join(SOURCE_DIR, "policy", "policy.yaml"), policy)
        with WebhookServer(policy=policy, metrics=True) as server:
            status, mutated = server.admit(workflow([("github-app", "rex"), ("event", PULL_REQUEST_EVENT)]))
            assert status == 200 and mutated["allowed"] and "patch" in mutated, mutated
            cls.mutated = mutated
            status, denied = server.admit(workflow([("github-app", "not-an-allowed-app"), ("event", PULL_REQUEST_EVENT)]))
            assert status == 200 and not denied["allowed"], denied
            # A request refused before any decision (not an AdmissionReview).
            status, _ = server.curl("POST", "/mutate", "not a review")
            assert status == 400, status
            # A policy change the schema refuses: the last good policy stays, the gauge says 0.
            with open(policy, "a") as f:
                f.write("\nnotAPolicyField: true\n")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                text, samples = scrape(server.metrics_port)
                if samples.get("coderun_webhook_policy_last_reload_successful", [({}, 1)])[0][1] == 0:
                    break
                time.sleep(0.2)
            cls.text, cls.samples = text, samples

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def value(self, name, **labels):
        return sum(v for l, v in self.samples.get(name, []) if all(l.get(k) == x for k, x in labels.items()))

    def test_the_known_sequence_is_in_the_scrape(self):
        self.assertEqual(self.value("coderun_webhook_admission_requests_total", endpoint="mutate", decision="mutated", app="rex", kind="Workflow"), 1)
        self.assertEqual(self.value("coderun_webhook_admission_requests_total", endpoint="mutate", decision="denied"), 1)
        self.assertGreaterEqual(self.value("coderun_webhook_values_resolved_total", source="event"), 1)
        self.assertEqual(self.value("coderun_webhook_bad_requests_total", endpoint="/mutate", code="400"), 1)
        self.assertEqual(self.value("coderun_webhook_policy_reloads_total", result="rejected"), 1)
        self.assertEqual(self.value("coderun_webhook_policy_last_reload_successful"), 0)
        self.assertGreater(self.value("coderun_webhook_certificate_expiry_timestamp_seconds"), time.time())

    def check_expression(self, where, expr):
        names, selectors, grouping = parse_promql(expr)
        self.assertTrue(names, "%s: no metric found in %r" % (where, expr))
        for name in names:
            if name in PROMETHEUS_SERIES:
                continue
            self.assertIn(name, self.samples, "%s: metric %s is not in /metrics" % (where, name))
        scraped_labels = {label for name in names for labels, _ in self.samples.get(name, []) for label in labels}
        for label in grouping:
            self.assertIn(label, scraped_labels | TARGET_LABELS, "%s: groups by %r, a label no metric of it has" % (where, label))
        for name, label, op, value in selectors:
            if name in PROMETHEUS_SERIES or label in TARGET_LABELS:
                continue
            values = {labels[label] for labels, _ in self.samples.get(name, []) if label in labels}
            self.assertTrue(values, "%s: %s has no label %r" % (where, name, label))
            if op == "=":
                self.assertIn(value, values, "%s: %s{%s=%r} matches no series after the known sequence" % (where, name, label, value))

    def test_every_dashboard_expression_reads_existing_metrics(self):
        expressions = list(dashboard_expressions(self.dashboard))
        self.assertGreaterEqual(len(expressions), 10)
        for where, expr in expressions:
            with self.subTest(where):
                self.check_expression(where, expr)

    def test_every_rule_expression_reads_existing_metrics(self):
        for where, expr in rule_expressions(self.rules):
            with self.subTest(where):
                self.check_expression(where, expr)

    def test_the_latency_alert_can_fire_before_the_timeout(self):
        """Its threshold lies below the webhooks' timeoutSeconds, and below the last finite bucket
        (histogram_quantile never returns more than that bucket's bound)."""
        rule = next(r for g in self.rules["spec"]["groups"] for r in g["rules"] if r.get("alert") == "CoderunWebhookLatencyHigh")
        threshold = float(re.search(r">\s*([0-9.]+)\s*$", rule["expr"].strip()).group(1))
        with open(os.path.join(SOURCE_DIR, "manifests", "base", "webhooks.yaml")) as f:
            timeouts = {h["timeoutSeconds"] for d in yaml.safe_load_all(f) if d for h in d["webhooks"]}
        self.assertLess(threshold, min(timeouts))
        bounds = {float(l["le"]) for l, _ in self.samples["coderun_webhook_admission_duration_seconds_bucket"] if l["le"] != "+Inf"}
        self.assertGreater(max(bounds), threshold)


class DashboardAndRules(unittest.TestCase):
    def test_dashboard_has_the_seeds_panels(self):
        dashboard = load_dashboard()
        panels = [p for p in dashboard_panels(dashboard) if p["type"] != "row"]
        ids = [p["id"] for p in dashboard_panels(dashboard)]
        self.assertEqual(len(ids), len(set(ids)), "panel ids must be unique")
        used = set()
        for panel in panels:
            self.assertEqual(panel["datasource"]["uid"], "${datasource}", panel["title"])
            self.assertTrue(panel["targets"], panel["title"])
            for key in ("x", "y", "w", "h"):
                self.assertIn(key, panel["gridPos"])
            for target in panel["targets"]:
                used |= parse_promql(target["expr"])[0]
        for topic, metric in REQUIRED_PANEL_METRICS.items():
            self.assertIn(metric, used, "no panel for " + topic)
        self.assertIn("datasource", [v["name"] for v in dashboard["templating"]["list"]])

    def test_rules_have_the_required_alerts(self):
        resource = load_rules_resource()
        self.assertEqual((resource["apiVersion"], resource["kind"]), ("monitoring.coreos.com/v1", "PrometheusRule"))
        alerts = {r["alert"]: r for g in resource["spec"]["groups"] for r in g["rules"] if "alert" in r}
        self.assertEqual(set(alerts), REQUIRED_ALERTS)
        for name, rule in alerts.items():
            self.assertIn(rule["labels"]["severity"], ("warning", "critical"), name)
            self.assertTrue(rule["annotations"]["summary"] and rule["annotations"]["description"], name)

    @unittest.skipUnless(PROMTOOL, NO_PROMTOOL)
    def test_promtool_checks_and_unit_tests_the_rules(self):
        with tempfile.TemporaryDirectory() as directory:
            with open(os.path.join(directory, "rules.yaml"), "w") as f:
                yaml.safe_dump(load_rules_resource()["spec"], f, sort_keys=False)
            shutil.copy(os.path.join(HERE, "monitoring", "alerts.test.yaml"), directory)
            for args in (["check", "rules", "rules.yaml"], ["test", "rules", "alerts.test.yaml"]):
                result = subprocess.run([PROMTOOL] + args, cwd=directory, capture_output=True, text=True)
                self.assertEqual(result.returncode, 0, "promtool %s:\n%s%s" % (" ".join(args), result.stdout, result.stderr))

    @unittest.skipUnless(KUBECTL, "kubectl is not installed: the monitoring overlay's rendering is not checked")
    def test_overlay_renders_base_and_monitoring(self):
        out = subprocess.run([KUBECTL, "kustomize", os.path.join(SOURCE_DIR, "manifests", "overlays", "monitoring")],
                             capture_output=True, text=True, check=True).stdout
        docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out) if d}
        self.assertIn(("Deployment", "coderun-webhook"), docs)
        dashboard = docs[("ConfigMap", "coderun-webhook-dashboard")]
        self.assertEqual(dashboard["metadata"]["labels"]["grafana_dashboard"], "1")
        self.assertEqual(json.loads(dashboard["data"]["coderun-webhook.json"]), load_dashboard())
        self.assertEqual(docs[("PrometheusRule", "coderun-webhook")]["spec"], load_rules_resource()["spec"])
        monitor = docs[("ServiceMonitor", "coderun-webhook")]
        service = docs[("Service", "coderun-webhook")]
        deployment = docs[("Deployment", "coderun-webhook")]
        for key, value in monitor["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(service["metadata"]["labels"].get(key), value)
        port = next(p for p in service["spec"]["ports"] if p["name"] == monitor["spec"]["endpoints"][0]["port"])
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        self.assertIn(port["targetPort"], [p["name"] for p in container["ports"]])
        self.assertIn("--metrics-port=%d" % next(p["containerPort"] for p in container["ports"] if p["name"] == port["targetPort"]),
                      container["args"])
        for doc in docs.values():
            self.assertEqual(doc["metadata"].get("namespace", "coderun-webhook"), "coderun-webhook")


if __name__ == "__main__":
    unittest.main()
