"""Starts the real coderun-webhook with real certificates on a free loopback port, and talks to it
with independent clients: curl and openssl for HTTP/TLS, python3-jsonpatch to apply patches."""
import base64
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid

BIN = os.environ.get("CODERUN_BIN", "../../build/coderun-webhook")
SOURCE_DIR = os.environ.get("CODERUN_SOURCE_DIR", "../..")
FIXTURES_DIR = os.environ.get("CODERUN_FIXTURES_DIR", os.path.join(SOURCE_DIR, "tests", "fixtures"))
EVENTS_DIR = os.path.join(FIXTURES_DIR, "github-events")
PROMPTS_DIR = os.path.join(SOURCE_DIR, "policy", "prompts")


def event_text(name):
    with open(os.path.join(EVENTS_DIR, name + ".json"), encoding="utf-8") as f:
        return f.read()


def rss_kib(pid):
    """Resident memory of a process, from /proc."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def make_certs(directory):
    subprocess.run([os.path.join(SOURCE_DIR, "certs", "make-certs.sh"), "--out", directory,
                    "--ip", "127.0.0.1", "--dns", "localhost"],
                   check=True, stdout=subprocess.DEVNULL)


def workflow(parameters, template="coderun-template", generate_name="coderun-"):
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": generate_name, "namespace": "argo"},
        "spec": {
            "workflowTemplateRef": {"name": template},
            "arguments": {"parameters": [{"name": k, "value": v} for k, v in parameters]},
        },
    }


def review(obj, uid=None, operation="CREATE", dry_run=False):
    api_version = obj.get("apiVersion", "")
    group, _, version = api_version.rpartition("/")
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid or str(uuid.uuid4()),
            "kind": {"group": group, "version": version, "kind": obj.get("kind", "")},
            "resource": {"group": group, "version": version, "resource": obj.get("kind", "").lower() + "s"},
            "namespace": obj.get("metadata", {}).get("namespace", "argo"),
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:argo:argo-server"},
            "object": obj,
            "dryRun": dry_run,
        },
    }


def decode_patch(response):
    if "patch" not in response:
        return []
    assert response["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(response["patch"]))


def wait_for(condition, timeout=30.0, interval=0.05):
    """Polls `condition` until it is true or `timeout` seconds (generous: a loaded 2-core machine) pass;
    returns its last value, for the caller to assert on. Never a fixed sleep before an assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return condition()


def die_with_parent():
    """preexec_fn: the server gets SIGKILL if the test process dies first (a ctest timeout kills
    the test with SIGKILL, which would otherwise leave the server running and the CPU busy)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class WebhookServer:
    """Context manager: the webhook with generated certificates; stopped with SIGTERM."""

    def __init__(self, extra_args=(), policy=None, metrics=False):
        self.extra_args = list(extra_args)
        self.metrics = metrics
        self.metrics_port = None
        self.policy = policy or os.path.join(SOURCE_DIR, "policy", "policy.yaml")
        self.tmp = tempfile.TemporaryDirectory(prefix="coderun-e2e-")
        self.dir = self.tmp.name
        self.certs = os.path.join(self.dir, "certs")
        self.ca = os.path.join(self.certs, "ca.crt")
        self.process = None
        self.port = None
        self.exit_code = None

    def __enter__(self):
        make_certs(self.certs)
        port_file = os.path.join(self.dir, "port")
        metrics_port_file = os.path.join(self.dir, "metrics-port")
        if self.metrics:
            self.extra_args += ["--metrics-addr", "127.0.0.1", "--metrics-port", "0",
                                "--metrics-port-file", metrics_port_file]
        elif "--metrics-port" not in self.extra_args:
            # Off, not the default 9090: servers of tests running in parallel would share it, and a
            # port in use ends the start (no SO_REUSEPORT).
            self.extra_args += ["--metrics-port", "-1"]
        self.log_path = os.path.join(self.dir, "server.log")
        self.log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [BIN, "serve", "--addr", "127.0.0.1", "--port", "0", "--port-file", port_file,
             "--cert", os.path.join(self.certs, "tls.crt"), "--key", os.path.join(self.certs, "tls.key"),
             "--policy", self.policy] + ([] if "--prompts-dir" in self.extra_args else ["--prompts-dir", PROMPTS_DIR]) + self.extra_args,
            stdout=self.log_file, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("webhook exited at start:\n" + self.log())
            port_text = _read(port_file).strip() if os.path.exists(port_file) else ""
            if port_text:
                self.port = int(port_text)
                if self.get("/healthz")[0] == 200:
                    if self.metrics:
                        self.metrics_port = int(_read(metrics_port_file))
                    return self
            time.sleep(0.02)
        raise RuntimeError("webhook did not become healthy:\n" + self.log())

    def __exit__(self, *exc):
        self.stop()
        self.tmp.cleanup()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.exit_code = self.process.wait()
        if not self.log_file.closed:
            self.log_file.close()
        return self.exit_code

    def log(self):
        if not self.log_file.closed:
            self.log_file.flush()
        return _read(self.log_path)

    def log_lines(self):
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def curl(self, method, path, body=None, content_type="application/json", extra=()):
        """Returns (status, body text). body may be bytes, str or a JSON-able object."""
        args = ["curl", "-sS", "--cacert", self.ca, "-X", method, "-o", "-", "-w", "\n%{http_code}",
                "--max-time", "20"] + list(extra)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else (
                body.encode() if isinstance(body, str) else json.dumps(body).encode())
            args += ["--data-binary", "@-"]
            if content_type:
                args += ["-H", "Content-Type: " + content_type]
        args.append(self.url + path)
        result = subprocess.run(args, input=data, capture_output=True, check=False)
        if result.returncode != 0:
            raise RuntimeError("curl failed (%d): %s" % (result.returncode, result.stderr.decode()))
        text, _, status = result.stdout.decode("utf-8", "replace").rpartition("\n")
        return int(status), text

    def get(self, path):
        try:
            return self.curl("GET", path)
        except RuntimeError:
            return 0, ""

    def admit(self, obj, endpoint="/mutate", **kwargs):
        """Sends a review; returns (status, AdmissionReview response dict or raw text)."""
        request = review(obj, **kwargs)
        status, text = self.curl("POST", endpoint + "?timeout=10s", request)
        if status != 200:
            return status, text
        answer = json.loads(text)
        assert answer["apiVersion"] == "admission.k8s.io/v1"
        assert answer["kind"] == "AdmissionReview"
        assert answer["response"]["uid"] == request["request"]["uid"]
        return status, answer["response"]


def metrics_of(server):
    """The server's /metrics, parsed by prometheus_client: {(name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.metrics_port, timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
