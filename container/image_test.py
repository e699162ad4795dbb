"""`make image-test`: runs the image the way manifests/base/deployment.yaml runs it, and checks it.

What the Deployment says is read from the manifest, not restated here: the container's args and
env, its securityContext (and the pod's), its resource limits and its volume mounts. The TLS Secret
and the two ConfigMaps are laid out as kubelet mounts them (files behind a ..data symlink, mode
0644, read-only); the policy and the agents' prompts are the ConfigMaps' own data. The container
gets --network=none: loopback only. The checks run inside its network namespace (nsenter -n, the
clients are the host's curl and python3; nothing else of the host is visible there):
  /readyz over TLS, with the CA and the Service's DNS name the API server would use;
  one AdmissionReview for a Workflow on /mutate (allowed, patched with the detected values) and
  the patched object on /validate (allowed, no patch); /metrics counting them;
  the process runs as 65532 with no capabilities and no_new_privs, the root filesystem refuses
  writes, the namespace has no interface but lo, the log has no error;
  SIGTERM (podman stop) ends it with exit code 0 within the grace period.
Prints the image's size and the start-up time (podman run to /readyz 200)."""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "e2e"))
from harness import review, workflow  # noqa: E402  (the e2e suites' AdmissionReview builders)

SERVICE_DNS = "coderun-webhook.coderun-webhook.svc"
PULL_REQUEST_EVENT = json.dumps({
    "action": "opened", "number": 7,
    "pull_request": {"number": 7, "head": {"ref": "feature", "sha": "0123456789abcdef0123456789abcdef01234567",
                                              "repo": {"full_name": "acme/widgets"}},
                     "base": {"ref": "main"}},
    "repository": {"name": "widgets", "full_name": "acme/widgets", "owner": {"login": "acme"},
                   "default_branch": "main"},
})


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def podman(*args, check_rc=True, capture=True):
    result = subprocess.run(["podman", *args], capture_output=capture, text=True)
    if check_rc and result.returncode != 0:
        raise Failure("podman %s failed (%d): %s" % (" ".join(args[:3]), result.returncode, result.stderr.strip()))
    return result


def manifests():
    docs = {}
    for name in ("deployment.yaml", "configmap-policy.yaml", "configmap-agents.yaml"):
        with open(os.path.join(SOURCE_DIR, "manifests", "base", name)) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def kubelet_volume(root, name, files):
    """A volume as kubelet writes a Secret or ConfigMap: data in a timestamped directory, ..data
    pointing to it, each key a symlink through ..data; files 0644 (defaultMode), root-owned."""
    volume = os.path.join(root, name)
    data_dir = os.path.join(volume, "..2026_01_01_00_00_00.000000000")
    os.makedirs(data_dir)
    for key, content in files.items():
        path = os.path.join(data_dir, key)
        with open(path, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
        os.chmod(path, 0o644)
    os.symlink(os.path.basename(data_dir), os.path.join(volume, "..data"))
    for key in files:
        os.symlink(os.path.join("..data", key), os.path.join(volume, key))
    for directory in (volume, data_dir):
        os.chmod(directory, 0o755)
    return volume


def run_options(deployment, volumes):
    """podman run options for the Deployment's pod spec; fails on a setting it cannot apply."""
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    security = dict(pod.get("securityContext", {}))
    security.update(container.get("securityContext", {}))
    options = ["--network=none", "--read-only-tmpfs=false"]
    user, group = security.pop("runAsUser"), security.pop("runAsGroup", None)
    check(user != 0, "the Deployment runs as root")
    options.append("--user=%d:%d" % (user, group if group is not None else user))
    if security.pop("runAsNonRoot", False):
        check(user != 0, "runAsNonRoot with user 0")
    if security.pop("readOnlyRootFilesystem", False):
        options.append("--read-only")
    if security.pop("allowPrivilegeEscalation", True) is False:
        options.append("--security-opt=no-new-privileges")
    capabilities = security.pop("capabilities", {})
    for cap in capabilities.get("drop", []):
        options.append("--cap-drop=" + cap.lower())
    for cap in capabilities.get("add", []):
        options.append("--cap-add=" + cap.lower())
    seccomp = security.pop("seccompProfile", {"type": "RuntimeDefault"})
    check(seccomp.get("type") == "RuntimeDefault", "seccompProfile %r: only RuntimeDefault (podman's default) is applied" % seccomp)
    check(not security, "securityContext settings this test does not apply: %s" % sorted(security))
    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        memory = limits["memory"]
        check(memory.endswith("Mi"), "memory limit %r" % memory)
        options.append("--memory=%dm" % int(memory[:-2]))
    if "cpu" in limits:
        cpu = str(limits["cpu"])
        options.append("--cpus=%g" % (int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)))
    for env in container.get("env", []):
        if "value" in env:
            options.append("--env=%s=%s" % (env["name"], env["value"]))
        elif env.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            options.append("--env=%s=coderun-webhook-image-test" % env["name"])
        else:
            raise Failure("env %s: source not applied by this test" % env["name"])
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    check(set(mounts) == set(volumes), "volumes mounted by the Deployment %s, made here %s" % (sorted(mounts), sorted(volumes)))
    for name, mount in mounts.items():
        options.append("--volume=%s:%s:%s" % (volumes[name], mount["mountPath"], "ro" if mount.get("readOnly") else "rw"))
    return options, container


def proc_status(pid):
    status = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    return status


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    args = parser.parse_args()
    docs = manifests()
    deployment = docs[("Deployment", "coderun-webhook")]
    check(podman("image", "exists", args.image, check_rc=False).returncode == 0, "no image %s: run `make image`" % args.image)
    size = int(podman("image", "inspect", "--format", "{{.Size}}", args.image).stdout.strip())

    tmp = tempfile.mkdtemp(prefix="coderun-image-test-")
    os.chmod(tmp, 0o755)
    name = "coderun-image-test-%d" % os.getpid()
    try:
        certs = os.path.join(tmp, "certs")
        subprocess.run([os.path.join(SOURCE_DIR, "certs", "make-certs.sh"), "--out", certs,
                        "--service", "coderun-webhook", "--namespace", "coderun-webhook"],
                       check=True, stdout=subprocess.DEVNULL)
        read = lambda path: open(path, "rb").read()  # noqa: E731
        volumes = {
            "tls": kubelet_volume(tmp, "tls", {k: read(os.path.join(certs, k)) for k in ("tls.crt", "tls.key", "ca.crt")}),
            "policy": kubelet_volume(tmp, "policy", docs[("ConfigMap", "coderun-webhook-policy")]["data"]),
            "controller-agents": kubelet_volume(tmp, "agents", docs[("ConfigMap", "controller-agents")]["data"]),
        }
        ca = os.path.join(certs, "ca.crt")
        options, container = run_options(deployment, volumes)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        started = time.monotonic()
        podman("run", "--detach", "--name", name, *options, args.image, *container["args"])
        launched = time.monotonic()
        pid = int(podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip())
        check(pid > 0, "container %s is not running:\n%s" % (name, podman("logs", name, check_rc=False).stdout))

        def inside(*command, input_bytes=None):
            """A host command in the container's network namespace only."""
            return subprocess.run(["nsenter", "--target", str(pid), "--net", *command],
                                  input=input_bytes, capture_output=True)

        def https(method, path, body=None):
            command = ["curl", "-sS", "--max-time", "10", "--cacert", ca, "--resolve",
                       "%s:%d:127.0.0.1" % (SERVICE_DNS, ports["https"]), "-X", method, "-o", "-", "-w", "\n%{http_code}"]
            if body is not None:
                command += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
            result = inside(*command, "https://%s:%d%s" % (SERVICE_DNS, ports["https"], path),
                            input_bytes=None if body is None else json.dumps(body).encode())
            if result.returncode != 0:
                return 0, result.stderr.decode()
            text, _, status = result.stdout.decode().rpartition("\n")
            return int(status), text

        # Start-up: /readyz (the readinessProbe's path over HTTPS) polled every 10 ms.
        probe = container["readinessProbe"]["httpGet"]
        check(probe.get("scheme") == "HTTPS", "readinessProbe is not HTTPS")
        deadline = started + 30
        status, text = 0, ""
        while time.monotonic() < deadline:
            status, text = https("GET", probe["path"])
            if status == 200:
                break
            check(podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true",
                  "the container exited:\n" + podman("logs", name, check_rc=False).stdout)
            time.sleep(0.01)
        ready = time.monotonic()
        check(status == 200, "%s: %d %s" % (probe["path"], status, text))

        # Only loopback: the network namespace has no other interface.
        with open("/proc/%d/net/dev" % pid) as f:
            interfaces = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
        check(interfaces == ["lo"], "interfaces in the container: %s" % interfaces)

        # One admission over TLS, then its result through /validate.
        obj = workflow([("github-app", "rex"), ("event", PULL_REQUEST_EVENT)])
        request = review(obj, uid=str(uuid.uuid4()))
        status, text = https("POST", "/mutate?timeout=5s", request)
        check(status == 200, "/mutate: %d %s" % (status, text))
        answer = json.loads(text)["response"]
        check(answer["uid"] == request["request"]["uid"] and answer["allowed"], "/mutate refused: %s" % answer)
        patch = json.loads(base64.b64decode(answer["patch"]))
        import jsonpatch
        mutated = jsonpatch.apply_patch(obj, patch)
        values = {p["name"]: p.get("value") for p in mutated["spec"]["arguments"]["parameters"]}
        for key, expected in {"owner": "acme", "repo": "widgets", "ref": "feature", "prNumber": "7",
                              "systemPromptPath": "/etc/agents/rex_system-prompt.md"}.items():
            check(values.get(key) == expected, "after the patch, %s is %r, not %r" % (key, values.get(key), expected))
        status, text = https("POST", "/validate?timeout=5s", review(mutated))
        check(status == 200, "/validate: %d %s" % (status, text))
        validated = json.loads(text)["response"]
        check(validated["allowed"] and "patch" not in validated, "/validate: %s" % validated)
        metrics = inside("curl", "-sS", "--max-time", "5", "http://127.0.0.1:%d/metrics" % ports["metrics"])
        check(metrics.returncode == 0, "/metrics: " + metrics.stderr.decode())
        check(b'coderun_webhook_admission_requests_total{app="rex",decision="mutated",endpoint="mutate",kind="Workflow"} 1'
              in metrics.stdout, "/metrics does not count the admission")

        # The process as the Deployment wants it.
        status = proc_status(pid)
        check(status["Uid"].split() == ["65532"] * 4 and status["Gid"].split() == ["65532"] * 4,
              "uid/gid: %s / %s" % (status["Uid"], status["Gid"]))
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            check(int(status[cap], 16) == 0, "%s = %s" % (cap, status[cap]))
        check(status["NoNewPrivs"] == "1", "NoNewPrivs %s" % status["NoNewPrivs"])
        check(podman("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", name).stdout.strip() == "true", "root filesystem writable")
        for path in ("/probe", "/tmp/probe", "/etc/webhook/tls/probe"):
            write = podman("exec", name, "/bin/sh", "-c", "echo x > " + path, check_rc=False)
            check(write.returncode != 0, "%s is writable in the container" % path)

        # SIGTERM: not ready, serves for --shutdown-delay, drains, exits 0 within the grace period.
        grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        stop_started = time.monotonic()
        podman("stop", "--time", str(grace), name)
        stopped = time.monotonic() - stop_started
        exit_code = int(podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip())
        log = podman("logs", name).stdout + podman("logs", name).stderr
        check(exit_code == 0, "exit code %d after SIGTERM:\n%s" % (exit_code, log))
        errors = [line for line in log.splitlines() if '"level":"error"' in line]
        check(not errors, "errors in the log:\n" + "\n".join(errors))

        print("image-test: ok: %s (%.1f MB): ready %.2f s after `podman run` (%.2f s after the container started), "
              "an admission over TLS, uid 65532, no capabilities, read-only root, loopback only; stopped with exit 0 in %.1f s"
              % (args.image, size / 1e6, ready - started, ready - launched, stopped))
    finally:
        podman("rm", "--force", "--time", "0", name, check_rc=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Failure as failure:
        print("image-test: FAILED: %s" % failure, file=sys.stderr)
        sys.exit(1)
