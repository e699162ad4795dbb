"""A real Kubernetes control plane on loopback for end-to-end tests, as envtest-based suites use one:
Debian's etcd and a real kube-apiserver (v1.20.2, from ../shared/tools/), the project's CRDs, RBAC and
webhook configurations (rendered with clientConfig.url on 127.0.0.1, never a service reference),
Argo's CRDs (with what v1.20 cannot read stripped), and the real coderun-webhook started as
`make run` starts it, posting its Events as the webhook's own service account. Driven with kubectl.

python3 standard library + python3-yaml only. Everything listens on 127.0.0.1 on free ports, in a
temporary directory; Cluster.stop() (also run at exit, and on SIGTERM/SIGINT) kills every process
it started, by pid, and removes the directory.

    SKIP_CODE = 77: the API server binary is not available (no KUBE_APISERVER, nothing in ../shared/tools/),
    or etcd is not installed (make deps installs etcd-server).
"""
import atexit
import base64
import copy
import hashlib
import json
import lzma
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import yaml

SKIP_CODE = 77
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.environ.get("CODERUN_SOURCE_DIR", os.path.join(HERE, "..", "..")))
BIN = os.path.abspath(os.environ.get("CODERUN_BIN", os.path.join(SOURCE_DIR, "build", "coderun-webhook")))
FIXTURES_DIR = os.environ.get("CODERUN_FIXTURES_DIR", os.path.join(SOURCE_DIR, "tests", "fixtures"))
EVENTS_DIR = os.path.join(FIXTURES_DIR, "github-events")
TOOLS_DIR = os.path.abspath(os.environ.get("CODERUN_TOOLS_DIR", os.path.join(SOURCE_DIR, "..", "shared", "tools")))
APISERVER_XZ = "kube-apiserver-v1.20.2-linux-amd64.xz"
KUBECTL = os.environ.get("KUBECTL", shutil.which("kubectl") or "/usr/bin/kubectl")
ETCD = os.environ.get("ETCD", shutil.which("etcd") or "/usr/bin/etcd")
WEBHOOK_SA = "system:serviceaccount:coderun-webhook:coderun-webhook"
# Namespaces the tests use; labelled with kubernetes.io/metadata.name by hand (v1.20 does not).
NAMESPACES = ("argo", "coderun-webhook", "reinvoke")


class Skip(Exception):
    """The cluster cannot be started here (exit code 77)."""


def log(message):
    sys.stderr.write("[cluster %s] %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stderr.flush()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    """preexec_fn: the child gets SIGKILL if the test process dies first (ctest's timeout kills
    with SIGKILL, which would otherwise leave etcd, the API server and the webhook running)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def expected_apiserver_sha256():
    readme = os.path.join(TOOLS_DIR, "README.md")
    if not os.path.exists(readme):
        return None
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"sha256 of the unpacked binary:\s*([0-9a-f]{64})", text)
    return match.group(1) if match else None


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_apiserver(cache_dir):
    """KUBE_APISERVER, else the binary of ../shared/tools/ unpacked once into cache_dir (sha256 checked
    against the tools README). Raises Skip when neither is available."""
    explicit = os.environ.get("KUBE_APISERVER")
    if explicit:
        if not os.access(explicit, os.X_OK):  # set, but wrong: an error, not a skip
            raise RuntimeError("KUBE_APISERVER=%s is not an executable file" % explicit)
        return explicit
    archive = os.path.join(TOOLS_DIR, APISERVER_XZ)
    if not os.path.exists(archive):
        raise Skip("no kube-apiserver: set KUBE_APISERVER, or provide %s" % archive)
    want = expected_apiserver_sha256()
    if not want:
        raise Skip("no sha256 for the unpacked binary in %s/README.md; refusing an unchecked binary" % TOOLS_DIR)
    target = os.path.join(cache_dir, "kube-apiserver-v1.20.2")
    if os.path.exists(target) and sha256_of(target) == want:
        return target
    os.makedirs(cache_dir, exist_ok=True)
    partial = "%s.%d.partial" % (target, os.getpid())
    with lzma.open(archive) as src, open(partial, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    got = sha256_of(partial)
    if got != want:
        os.unlink(partial)
        raise RuntimeError("unpacked %s has sha256 %s, the tools README says %s" % (archive, got, want))
    os.chmod(partial, 0o755)
    os.replace(partial, target)  # atomic: parallel runs see the whole binary or none
    return target


def check_prerequisites(cache_dir):
    """Returns the API server's path; raises Skip with the reason when the suite cannot run."""
    apiserver = find_apiserver(cache_dir)
    if not os.access(ETCD, os.X_OK):
        raise Skip("no etcd at %s: apt-get install etcd-server (`make deps` installs it in a new build directory; an existing one has its .deps-ok stamp: remove it first)" % ETCD)
    if not os.access(KUBECTL, os.X_OK):
        raise Skip("no kubectl")
    if not os.access(BIN, os.X_OK):
        raise RuntimeError("no webhook binary at %s (CODERUN_BIN)" % BIN)
    return apiserver


def strip_for_v120(node):
    """Argo's full CRDs hold `default: ""` and x-kubernetes-validations, which v1.20 rejects."""
    if isinstance(node, dict):
        return {k: strip_for_v120(v) for k, v in node.items()
                if k != "x-kubernetes-validations" and not (k == "default" and v == "")}
    if isinstance(node, list):
        return [strip_for_v120(v) for v in node]
    return node


def render_webhook_configurations(source_yaml, mutate_url, validate_url, ca_pem):
    """manifests/base/webhooks.yaml with clientConfig.url on loopback in place of the Service,
    caBundle the dev CA, and matchConditions removed (v1.20 refuses the field)."""
    docs = [d for d in yaml.safe_load_all(source_yaml) if d]
    bundle = base64.b64encode(ca_pem).decode()
    for doc in docs:
        url = mutate_url if doc["kind"] == "MutatingWebhookConfiguration" else validate_url
        for hook in doc["webhooks"]:
            path = hook["clientConfig"].get("service", {}).get("path", "")
            expected = "/mutate" if doc["kind"] == "MutatingWebhookConfiguration" else "/validate"
            if path != expected:
                raise RuntimeError("webhook %s calls %r, expected %s" % (hook["name"], path, expected))
            hook["clientConfig"] = {"url": url, "caBundle": bundle}
            hook.pop("matchConditions", None)
            if not url.startswith("https://127.0.0.1:"):
                raise RuntimeError("only loopback may be contacted: " + url)
    return docs


def remove_stale_directories():
    """Directories of runs that were killed with SIGKILL (a ctest timeout: their processes died with
    them, PR_SET_PDEATHSIG, but nothing removed the directory): owner.pid names a dead process, or
    there is no owner.pid after an hour."""
    import glob
    for directory in glob.glob(os.path.join(tempfile.gettempdir(), "coderun-cluster-*")):
        if os.path.exists(os.path.join(directory, "kept")):
            continue  # CODERUN_CLUSTER_KEEP: left for a look, removed by hand
        try:
            with open(os.path.join(directory, "owner.pid")) as f:
                pid = int(f.read().strip())
            try:
                os.kill(pid, 0)
                continue  # its owner is alive
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        except (OSError, ValueError):
            try:
                if time.time() - os.path.getmtime(directory) < 3600:
                    continue
            except OSError:
                continue
        shutil.rmtree(directory, ignore_errors=True)


class Process:
    def __init__(self, name, args, log_path, env=None, cwd=None):
        self.name, self.args, self.log_path = name, args, log_path
        self.log_file = open(log_path, "ab")
        self.popen = subprocess.Popen(args, stdout=self.log_file, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                      preexec_fn=die_with_parent)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=15):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if not self.log_file.closed:
            self.log_file.close()
        return self.popen.returncode

    def log(self):
        if not self.log_file.closed:
            self.log_file.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns something truthy; raises with `what` after timeout."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - reported if the deadline passes
            last_error = error
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)
    raise TimeoutError("timed out after %.0f s waiting for %s%s" % (
        timeout, what, (": last error %r" % last_error) if last_error else ""))


class Result:
    def __init__(self, completed):
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return "rc=%d\nstdout: %s\nstderr: %s" % (self.returncode, self.stdout[-2000:], self.stderr[-2000:])


class Cluster:
    def __init__(self, cache_dir=None, keep=False, policy=None):
        self.cache_dir = cache_dir or os.environ.get("CODERUN_CLUSTER_CACHE") or os.path.dirname(BIN)
        # The webhook's --policy: the shipped policy unless a suite gives its own (hot reloaded).
        self.policy = policy or os.path.join(SOURCE_DIR, "policy", "policy.yaml")
        self.keep = keep or bool(os.environ.get("CODERUN_CLUSTER_KEEP"))
        self.processes = {}
        self.timings = {}
        self.tmp = None
        self.stopped = False
        self._lock = threading.Lock()

    # ----- start -----

    def start(self):
        started = time.monotonic()
        self.apiserver_bin = check_prerequisites(self.cache_dir)
        remove_stale_directories()
        self.dir = tempfile.mkdtemp(prefix="coderun-cluster-")
        with open(self._path("owner.pid"), "w") as f:
            f.write(str(os.getpid()))
        atexit.register(self.stop)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        try:
            for step in (self._start_etcd, self._start_apiserver, self._write_kubeconfigs, self._make_certs,
                         self.start_webhook, self._install):
                t0 = time.monotonic()
                step()
                self.timings[step.__name__.lstrip("_")] = round(time.monotonic() - t0, 1)
        except BaseException:
            self.dump_logs()
            self.stop()
            raise
        log("cluster ready in %.1f s %s (API server %s, webhook %s, dir %s)" % (
            time.monotonic() - started, self.timings, self.api_url, self.webhook_url, self.dir))
        return self

    def _on_signal(self, signum, frame):
        self.stop()
        raise SystemExit(128 + signum)

    def _path(self, *parts):
        return os.path.join(self.dir, *parts)

    def _start_etcd(self):
        client, peer, metrics = free_port(), free_port(), free_port()
        self.etcd_url = "http://127.0.0.1:%d" % client
        self.processes["etcd"] = Process("etcd", [
            ETCD, "--data-dir", self._path("etcd"), "--name", "default",
            "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-cluster", "default=http://127.0.0.1:%d" % peer,
            "--listen-metrics-urls", "http://127.0.0.1:%d" % metrics,
            "--max-request-bytes", "10485760", "--log-level", "warn",
        ], self._path("etcd.log"))

        def healthy():
            self._check_alive("etcd")
            with urllib.request.urlopen(self.etcd_url + "/health", timeout=2) as response:
                return json.loads(response.read()).get("health") == "true"
        wait_for(healthy, 60, "etcd /health")

    def _start_apiserver(self):
        port = free_port()
        self.api_port = port
        self.api_url = "https://127.0.0.1:%d" % port
        self.admin_token = secrets.token_hex(16)
        self.webhook_token = secrets.token_hex(16)
        with open(self._path("tokens.csv"), "w") as f:
            f.write('%s,admin,admin-uid,"system:masters"\n' % self.admin_token)
            f.write('%s,%s,coderun-webhook-uid,"system:serviceaccounts,system:serviceaccounts:coderun-webhook"\n'
                    % (self.webhook_token, WEBHOOK_SA))
        subprocess.run(["openssl", "genrsa", "-out", self._path("sa.key"), "2048"], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", self._path("sa.key"), "-pubout", "-out", self._path("sa.pub")],
                       check=True, capture_output=True)
        # Metadata is enough for annotations; only the groups this webhook serves are logged.
        policy = {
            "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
            "rules": [
                {"level": "Metadata", "resources": [{"group": "argoproj.io"}, {"group": "taskmaster.io"}]},
                {"level": "None"},
            ],
        }
        with open(self._path("audit-policy.yaml"), "w") as f:
            yaml.safe_dump(policy, f)
        self.audit_log = self._path("audit.log")
        os.makedirs(self._path("apiserver-certs"))
        self.processes["apiserver"] = Process("apiserver", [
            self.apiserver_bin, "--etcd-servers=" + self.etcd_url,
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=%d" % port,
            "--cert-dir=" + self._path("apiserver-certs"), "--service-cluster-ip-range=10.0.0.0/24",
            "--service-account-issuer=https://127.0.0.1:%d" % port,
            "--service-account-key-file=" + self._path("sa.pub"),
            "--service-account-signing-key-file=" + self._path("sa.key"),
            "--token-auth-file=" + self._path("tokens.csv"), "--authorization-mode=RBAC",
            "--allow-privileged=true", "--endpoint-reconciler-type=none",
            "--audit-policy-file=" + self._path("audit-policy.yaml"), "--audit-log-path=" + self.audit_log,
            "--audit-log-mode=blocking",
        ], self._path("apiserver.log"))
        self.api_ca = self._path("apiserver-certs", "apiserver.crt")

        def ready():
            self._check_alive("apiserver")
            if not os.path.exists(self.api_ca):
                return False
            context = ssl.create_default_context(cafile=self.api_ca)
            request = urllib.request.Request(self.api_url + "/readyz",
                                             headers={"Authorization": "Bearer " + self.admin_token})
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return response.status == 200
        wait_for(ready, 120, "the API server's /readyz")

    def _check_alive(self, name):
        process = self.processes[name]
        if not process.alive():
            raise RuntimeError("%s exited with %s:\n%s" % (name, process.popen.returncode, process.log()[-4000:]))

    def _kubeconfig(self, path, user, token):
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.api_url, "certificate-authority": self.api_ca}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": user}}],
        }
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        os.chmod(path, 0o600)

    def _write_kubeconfigs(self):
        self.admin_kubeconfig = self._path("admin.kubeconfig")
        self.webhook_kubeconfig = self._path("webhook.kubeconfig")
        self._kubeconfig(self.admin_kubeconfig, "admin", self.admin_token)
        self._kubeconfig(self.webhook_kubeconfig, "coderun-webhook", self.webhook_token)

    def _make_certs(self):
        self.certs = self._path("webhook-certs")
        self.make_certs()
        self.ca_pem = open(os.path.join(self.certs, "ca.crt"), "rb").read()

    def make_certs(self, *extra):
        return subprocess.run([os.path.join(SOURCE_DIR, "certs", "make-certs.sh"), "--out", self.certs,
                               "--ip", "127.0.0.1", "--dns", "localhost"] + list(extra),
                              check=True, capture_output=True, text=True)

    # ----- the webhook -----

    def start_webhook(self, port=None):
        """As `make run` starts it, with --port 0 the first time and the same port on a restart
        (the webhook configurations name it)."""
        port_file = self._path("webhook.port")
        metrics_port_file = self._path("webhook.metrics-port")
        for f in (port_file, metrics_port_file):
            if os.path.exists(f):
                os.unlink(f)
        self.processes["webhook"] = Process("webhook", [
            BIN, "serve", "--addr", "127.0.0.1", "--port", str(port or 0), "--port-file", port_file,
            "--cert", os.path.join(self.certs, "tls.crt"), "--key", os.path.join(self.certs, "tls.key"),
            "--policy", self.policy,
            "--prompts-dir", os.path.join(SOURCE_DIR, "policy", "prompts"),
            "--metrics-addr", "127.0.0.1", "--metrics-port", "0", "--metrics-port-file", metrics_port_file,
            "--kubeconfig", self.webhook_kubeconfig,
        ], self._path("webhook.log"), env=dict(os.environ, POD_NAME="cluster-test"), cwd=SOURCE_DIR)

        def up():
            self._check_alive("webhook")
            text = open(port_file).read().strip() if os.path.exists(port_file) else ""
            if not text or not os.path.exists(metrics_port_file) or not open(metrics_port_file).read().strip():
                return False
            self.webhook_port = int(text)
            self.metrics_port = int(open(metrics_port_file).read().strip())
            return self.webhook_get("/healthz") == 200
        wait_for(up, 30, "the webhook's /healthz")
        self.webhook_url = "https://127.0.0.1:%d" % self.webhook_port

    def stop_webhook(self):
        return self.processes["webhook"].stop()

    def webhook_get(self, path):
        context = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        try:
            with urllib.request.urlopen("https://127.0.0.1:%d%s" % (self.webhook_port, path), timeout=5,
                                        context=context) as response:
                return response.status
        except Exception:  # noqa: BLE001
            return 0

    def served_certificate(self):
        """The DER certificate the webhook presents now (a fresh handshake)."""
        context = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        with socket.create_connection(("127.0.0.1", self.webhook_port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                return tls.getpeercert(binary_form=True)

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=5) as response:
            return response.read().decode()

    def webhook_log_lines(self):
        lines = []
        for line in self.processes["webhook"].log().splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    pass
        return lines

    def apiserver_log(self):
        return self.processes["apiserver"].log()

    # ----- objects -----

    def _install(self):
        # Namespaces, labelled by hand (v1.20 does not set kubernetes.io/metadata.name), and the
        # project's RBAC, in one apply.
        objects = [{"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}
                   for ns in NAMESPACES + ("default", "kube-system", "kube-public")]
        with open(os.path.join(SOURCE_DIR, "manifests", "base", "rbac.yaml"), encoding="utf-8") as f:
            objects += [d for d in yaml.safe_load_all(f) if d]
        path = self._path("namespaces-rbac.json")
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": objects}, f)
        self.kubectl("apply", "-f", path)
        crds = []
        for name in sorted(os.listdir(os.path.join(SOURCE_DIR, "manifests", "base", "crds"))):
            with open(os.path.join(SOURCE_DIR, "manifests", "base", "crds", name), encoding="utf-8") as f:
                crds += [d for d in yaml.safe_load_all(f) if d]
        argo_dir = os.path.join(FIXTURES_DIR, "argo", "crds", "full")
        for name in sorted(os.listdir(argo_dir)):
            with open(os.path.join(argo_dir, name), encoding="utf-8") as f:
                crds.append(strip_for_v120(yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))))
        path = self._path("crds.json")
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": crds}, f)
        # create, not apply: Argo's CRDs exceed the last-applied annotation's 256 KiB.
        self.kubectl("create", "-f", path)
        names = {crd["metadata"]["name"] for crd in crds}

        def established():
            items = self.kubectl("get", "crd", "-o", "json").json()["items"]
            ready = {c["metadata"]["name"] for c in items
                     if any(k.get("type") == "Established" and k.get("status") == "True"
                            for k in c.get("status", {}).get("conditions", []))}
            return names <= ready
        wait_for(established, 60, "the CRDs Established")
        self.kubectl("apply", "-k", os.path.join(SOURCE_DIR, "manifests", "workflowtemplates"))
        self.apply_webhook_configurations()

    def apply_webhook_configurations(self):
        with open(os.path.join(SOURCE_DIR, "manifests", "base", "webhooks.yaml"), encoding="utf-8") as f:
            source = f.read()
        self.webhook_configurations = render_webhook_configurations(
            source, self.webhook_url + "/mutate", self.webhook_url + "/validate", self.ca_pem)
        path = self._path("webhooks.yaml")
        with open(path, "w") as f:
            yaml.safe_dump_all(self.webhook_configurations, f)
        self.kubectl("apply", "-f", path)

    def webhook_names(self, kind):
        return [h["name"] for d in self.webhook_configurations if d["kind"] == kind for h in d["webhooks"]]

    def kubectl(self, *args, input=None, check=True, kubeconfig=None, timeout=120):
        """kubectl with the admin kubeconfig. create/apply/replace get --validate=false unless the
        caller says otherwise: as `argo submit` (which validates nothing client-side), and because
        v1.20 has no server-side field validation, so kubectl would download and check the whole
        OpenAPI document (Argo's CRDs make it megabytes) before every call: 0.5-2 s each."""
        args = list(args)
        if args and args[0] in ("create", "apply", "replace") and not any(a.startswith("--validate") for a in args):
            args.insert(1, "--validate=false")
        completed = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig or self.admin_kubeconfig,
                                    "--cache-dir", self._path("kubectl-cache")] + args,
                                   input=input, capture_output=True, text=True, timeout=timeout)
        result = Result(completed)
        if check and result.returncode != 0:
            raise RuntimeError("kubectl %s failed: %r" % (" ".join(args)[:300], result))
        return result

    def audit_entries(self):
        entries = []
        if os.path.exists(self.audit_log):
            with open(self.audit_log, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        entries.append(json.loads(line))
                    except ValueError:
                        pass
        return entries

    # ----- stop -----

    def dump_logs(self, tail=3000):
        for name, process in self.processes.items():
            try:
                log("---- %s log (last %d bytes) ----\n%s" % (name, tail, process.log()[-tail:]))
            except OSError:
                pass

    def stop(self):
        with self._lock:
            if self.stopped:
                return
            self.stopped = True
        for name in ("webhook", "apiserver", "etcd"):
            process = self.processes.get(name)
            if process:
                process.stop()
        for process in self.processes.values():
            process.stop()
        if self.tmp is None and getattr(self, "dir", None):
            if self.keep:
                open(self._path("kept"), "w").close()
                log("kept %s (CODERUN_CLUSTER_KEEP)" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


def deep_copy(value):
    return copy.deepcopy(value)
