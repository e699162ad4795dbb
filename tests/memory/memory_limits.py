"""Bounded memory and time for every input (issue 11): the real webhook, started as `make run` starts
it (policy/policy.yaml, policy/prompts, development certificates) on a free loopback port, is
driven at its limits while its resident memory is sampled from /proc/PID/status (VmRSS, and VmHWM
for peaks between samples). With failurePolicy: Fail a crash or an OOM kill is a cluster outage,
and the Deployment's memory limit is 128 MiB, so every scenario fails when:
  - the peak resident memory passes 128 MiB (not checked under AddressSanitizer: --no-rss-check);
  - the server dies (a crash), or passes the safety ceiling and is killed by this test;
  - any answer takes longer than 10 s (the client gives up then: a hang); a request refused with a
    clear status (503, 413, 400) is acceptable where noted, a silent close or a hang is not.
Scenarios, each its own test:
  a) --max-connections connections, each holding an unfinished request that declares the maximum
     body (--max-body-bytes) and sends most of it slowly; a normal admission on a fresh connection
     is answered meanwhile (200, or a clear 503);
  b) hostile YAML in a served Workflow's podSpecPatch: a plain scalar of 100,000 digits, an alias
     bomb under 1 KB (9 levels of 9), flow sequences nested 100,000 deep, a 500,000-byte key,
     200,000 small mappings: each answered (allowed or denied) within 10 s, answers under 1 MiB;
  c) reviews of the maximum size whose object holds ~1M empty arrays, empty objects, or ~1.5M
     small numbers, on several connections at once;
  d) 60,000 parameters named `ref`: answered within 10 s, warnings under 4 KiB in all (the API
     server keeps at most 4 KiB of them), the answer under 1 MiB;
  e) chunked bodies dribbled up to nearly the maximum then left idle, beside many connections that
     finish the TLS handshake and say nothing: all cut off by the server at --read-timeout, a
     normal admission answered meanwhile.
The short form (ctest, label memory) reduces counts and concurrency, never the payloads; --full
(`make memtest`) uses the server's real defaults (all of --max-connections, as its usage says)
and more concurrency.
    /usr/bin/python3 tests/memory/memory_limits.py [--full] [--no-rss-check] [unittest args]
Only 127.0.0.1 is contacted: the server gets no Kubernetes configuration (no Events are posted)
and no metrics port."""
import asyncio
import collections
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402
from harness import BIN, SOURCE_DIR, WebhookServer, review, workflow  # noqa: E402

# The server must not reach a cluster from here: no kubeconfig, no in-cluster configuration.
for _name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
    os.environ.pop(_name, None)


def _flag(name, env):
    if name in sys.argv:
        sys.argv.remove(name)
        return True
    return os.environ.get(env, "") not in ("", "0")


FULL = _flag("--full", "CODERUN_MEMTEST_FULL")
CHECK_RSS = not _flag("--no-rss-check", "CODERUN_MEMTEST_NO_RSS_CHECK")

MIB = 1024 * 1024
RSS_LIMIT_KIB = 128 * 1024          # the Deployment's memory limit
# Past this the server is killed by the test (the machine is shared; the limit is long passed).
RSS_CEILING_KIB = (1024 if CHECK_RSS else 4096) * 1024
ANSWER_TIMEOUT = 10.0               # seconds, client side, per request
ANSWER_LIMIT = 1 * MIB              # the largest acceptable answer body
WARNINGS_LIMIT = 4096               # the API server keeps at most 4 KiB of warnings
HOST = "127.0.0.1"                  # the only address ever contacted


def server_defaults():
    """--max-connections, --max-body-bytes and --read-timeout defaults: from the binary's usage,
    else from the README's flag table (the usage names no default for some)."""
    text = ""
    for args in (["serve", "--help"], ["--help"]):
        try:
            result = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=10, check=False)
            text += result.stdout + result.stderr
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        with open(os.path.join(SOURCE_DIR, "README.md"), encoding="utf-8") as f:
            readme = f.read()
    except OSError:
        readme = ""

    def find(usage_pattern, readme_pattern, scale, fallback):
        match = re.search(usage_pattern, text)
        if match:
            return int(match.group(1))
        match = re.search(readme_pattern, readme)
        if match:
            return int(float(match.group(1)) * scale.get(match.group(2), 1))
        return fallback

    return {
        "max_connections": find(r"--max-connections[ =](\d+)", r"`--max-connections` \| ([\d.]+)()", {}, 4096),
        "max_body_bytes": find(r"--max-body-bytes[ =](\d+)", r"`--max-body-bytes` \| ([\d.]+) ?(MiB|KiB|B)?",
                               {"MiB": MIB, "KiB": 1024}, 3 * MIB),
        "read_timeout": find(r"--read-timeout[ =](\d+)", r"`--read-timeout` \| ([\d.]+) ?(s)?", {}, 10),
    }


DEFAULTS = server_defaults()
MAX_BODY = DEFAULTS["max_body_bytes"]
READ_TIMEOUT = DEFAULTS["read_timeout"]

# Counts: the short form runs in every `make test`; the full form uses the real defaults.
if FULL:
    CONNECTIONS = DEFAULTS["max_connections"]   # scenario a and e: the server's own limit
    DOM_CONCURRENCY, DOM_ROUNDS = 16, 2
    DUPLICATE_ROUNDS = 3
    DRIBBLERS = 128
else:
    CONNECTIONS = min(200, DEFAULTS["max_connections"])  # passed as --max-connections
    DOM_CONCURRENCY, DOM_ROUNDS = 8, 1
    DUPLICATE_ROUNDS = 1
    DRIBBLERS = 16


def pull_request_event():
    try:
        return harness.event_text("pull_request.opened")
    except OSError:  # fixtures elsewhere: a small event of the same shape
        return json.dumps({
            "action": "opened", "number": 7,
            "pull_request": {"number": 7, "head": {"ref": "feature/x", "sha": "a" * 40,
                                                   "repo": {"full_name": "octo/hello"}},
                             "base": {"ref": "main", "repo": {"full_name": "octo/hello"}}},
            "repository": {"name": "hello", "full_name": "octo/hello", "default_branch": "main",
                           "owner": {"login": "octo"}}})


PR_EVENT = pull_request_event()


# ---------------------------------------------------------------------------------------------
# Resident memory, sampled on a thread for the life of each scenario's server.

def proc_status(pid):
    values = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    values[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return values


class RssSampler(threading.Thread):
    def __init__(self, process):
        super().__init__(daemon=True)
        self.process = process
        self.peak_rss = 0
        self.peak_hwm = 0
        self.samples = 0
        self.killed_over_ceiling = False
        self.done = threading.Event()

    def sample(self):
        values = proc_status(self.process.pid)
        if not values:
            return
        self.samples += 1
        self.peak_rss = max(self.peak_rss, values.get("VmRSS", 0))
        self.peak_hwm = max(self.peak_hwm, values.get("VmHWM", 0))
        if max(self.peak_rss, self.peak_hwm) > RSS_CEILING_KIB and self.process.returncode is None:
            self.killed_over_ceiling = True
            try:
                self.process.send_signal(signal.SIGKILL)
            except OSError:
                pass

    def run(self):
        while not self.done.is_set():
            self.sample()
            self.done.wait(0.01)

    def stop(self):
        self.sample()
        self.done.set()
        self.join()

    @property
    def peak_kib(self):
        return max(self.peak_rss, self.peak_hwm)


# ---------------------------------------------------------------------------------------------
# One request on its own TLS connection, everything within ANSWER_TIMEOUT.

class Answer:
    def __init__(self, kind, status=None, body=b"", elapsed=0.0, detail=""):
        self.kind = kind          # "answer", "timeout" (a hang), "closed" (no status), "refused"
        self.status = status
        self.body = body
        self.elapsed = elapsed
        self.detail = detail

    @property
    def label(self):
        return str(self.status) if self.kind == "answer" else self.kind


def client_context(ca):
    context = ssl.create_default_context(cafile=ca)
    return context


def _read_answer(sock, deadline, data=b""):
    """Reads one HTTP answer: (status, body) or raises socket.timeout / ConnectionError."""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed after %d bytes of answer" % len(data))
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    chunks = [body]
    have = len(body)
    while length is None or have < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(1 << 20)
        if not chunk:
            if length is None:
                break
            raise ConnectionError("answer cut at %d of %d bytes" % (have, length))
        chunks.append(chunk)
        have += len(chunk)
    return status, b"".join(chunks)


def exchange(port, ca, path, body, content_type="application/json", timeout=ANSWER_TIMEOUT):
    """POSTs body on a fresh connection; every failure becomes an Answer, nothing raises."""
    start = time.monotonic()
    deadline = start + timeout
    sock = None
    sent = 0
    try:
        raw = socket.create_connection((HOST, port), timeout=timeout)
        try:
            sock = client_context(ca).wrap_socket(raw, server_hostname=HOST)
        except BaseException:
            raw.close()
            raise
        head = ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                % (path, HOST, content_type, len(body))).encode()
        view = memoryview(head + body) if len(body) < 65536 else None
        try:
            if view is not None:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                sock.sendall(view)
            else:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                sock.sendall(head)
                body_view = memoryview(body)
                while sent < len(body):
                    sock.settimeout(max(0.01, deadline - time.monotonic()))
                    sock.sendall(body_view[sent:sent + (256 << 10)])
                    sent += min(256 << 10, len(body) - sent)
        except (ConnectionError, ssl.SSLError, BrokenPipeError) as error:
            # The server may have answered early (413, 503) and closed: read what it said.
            try:
                status, text = _read_answer(sock, min(deadline, time.monotonic() + 1))
                return Answer("answer", status, text, time.monotonic() - start)
            except (OSError, ValueError, IndexError):
                return Answer("closed", elapsed=time.monotonic() - start,
                              detail="while sending (%d bytes of body sent): %r" % (sent, error))
        status, text = _read_answer(sock, deadline)
        return Answer("answer", status, text, time.monotonic() - start)
    except socket.timeout:
        return Answer("timeout", elapsed=time.monotonic() - start, detail="no answer within %g s" % timeout)
    except ConnectionRefusedError as error:
        return Answer("refused", elapsed=time.monotonic() - start, detail=repr(error))
    except (OSError, ValueError, IndexError) as error:
        return Answer("closed", elapsed=time.monotonic() - start, detail=repr(error))
    finally:
        if sock is not None:
            sock.close()


def review_response(answer, uid):
    """The AdmissionReview response of a 200 answer, or an error message."""
    try:
        parsed = json.loads(answer.body)
    except ValueError as error:
        return None, "a 200 answer that is not JSON (%s)" % error
    response = parsed.get("response") if isinstance(parsed, dict) else None
    if (not isinstance(response, dict) or parsed.get("apiVersion") != "admission.k8s.io/v1"
            or parsed.get("kind") != "AdmissionReview"):
        return None, "a 200 answer that is not an AdmissionReview"
    if response.get("uid") != uid:
        return None, "an answer for uid %r, not %r" % (response.get("uid"), uid)
    return response, None


# ---------------------------------------------------------------------------------------------
# A scenario: its own server, its own sampler, its own record of answers.

def pod_spec_patch_policy():
    """The shipped policy with workflowPlumbing: podSpecPatch, the mode in which the webhook reads
    a Workflow's podSpecPatch (under the default, none, it is left unread); removed at exit."""
    import atexit
    import tempfile
    with open(os.path.join(SOURCE_DIR, "policy", "policy.yaml"), encoding="utf-8") as f:
        text = f.read()
    assert "\nworkflowPlumbing: none\n" in text
    fd, path = tempfile.mkstemp(prefix="coderun-memory-policy-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text.replace("\nworkflowPlumbing: none\n", "\nworkflowPlumbing: podSpecPatch\n"))
    atexit.register(os.unlink, path)
    return path


class Scenario:
    def __init__(self, name, extra_args=(), policy=None):
        self.name = name
        self.policy = policy
        self.extra_args = ["--metrics-port", "-1"] + list(extra_args)
        self.server = None
        self.sampler = None
        self.statuses = collections.Counter()
        self.slowest = 0.0
        self.failures = []
        self.notes = []
        self.lock = threading.Lock()
        self.exit_code = None

    def __enter__(self):
        self.server = WebhookServer(extra_args=self.extra_args, policy=self.policy)
        try:
            self.server.__enter__()
        except BaseException:
            if self.server.process is not None and self.server.process.poll() is None:
                self.server.process.kill()
                self.server.process.wait()
            self.server.__exit__(None, None, None)
            raise
        self.sampler = RssSampler(self.server.process)
        self.sampler.start()
        return self

    @property
    def port(self):
        return self.server.port

    @property
    def ca(self):
        return self.server.ca

    def alive(self):
        return not self.sampler.killed_over_ceiling and self.server.process.poll() is None

    def record(self, answer, what, allowed_statuses=(200,)):
        """Counts an answer; a hang, a silent close or a status outside allowed_statuses fails."""
        if answer.kind in ("closed", "refused"):
            try:  # a crash shows as a closed connection: let the process be seen dead
                self.server.process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        with self.lock:
            self.statuses[answer.label] += 1
            self.slowest = max(self.slowest, answer.elapsed)
            if answer.kind == "timeout":
                self.fail("%s: no answer within %g s" % (what, ANSWER_TIMEOUT))
            elif answer.kind != "answer":
                self.fail("%s: %s without an answer after %.2f s (%s)" % (what, answer.kind, answer.elapsed,
                                                                           answer.detail))
            elif answer.status not in allowed_statuses:
                self.fail("%s: status %d (expected %s): %s" % (what, answer.status, "/".join(map(str, allowed_statuses)),
                                                              answer.body[:200].decode("utf-8", "replace")))
            elif answer.elapsed > ANSWER_TIMEOUT:
                self.fail("%s: answered after %.1f s" % (what, answer.elapsed))

    def fail(self, message):
        if message not in self.failures:
            self.failures.append(message)

    def note(self, message):
        self.notes.append(message)

    def __exit__(self, exc_type, exc, tb):
        died = None
        try:
            self.sampler.stop()
            code = self.server.process.poll()
            if code is not None:
                died = code
            elif self.statuses.get("timeout"):
                # A server still busy with a request it did not answer would make SIGTERM wait for
                # it: it has failed already, so it is killed.
                self.server.process.kill()
                self.server.process.wait()
        finally:
            self.server.__exit__(None, None, None)
        self.exit_code = self.server.exit_code
        peak = self.sampler.peak_kib
        if self.sampler.killed_over_ceiling:
            self.fail("resident memory passed %d MiB: killed by the test" % (RSS_CEILING_KIB // 1024))
        elif died is not None:
            self.fail("the server died during the scenario (%s)" % describe_exit(died))
        if CHECK_RSS and peak > RSS_LIMIT_KIB:
            self.fail("peak RSS %.1f MiB is over the %d MiB limit" % (peak / 1024, RSS_LIMIT_KIB // 1024))
        print("memory %s: peak RSS %.1f MiB (VmRSS %.1f, VmHWM %.1f MiB%s), slowest answer %.3f s, statuses %s%s -> %s"
              % (self.name, peak / 1024, self.sampler.peak_rss / 1024, self.sampler.peak_hwm / 1024,
                 "" if CHECK_RSS else ", not checked: sanitizer build", self.slowest,
                 dict(sorted(self.statuses.items())), "".join("; " + n for n in self.notes),
                 "FAIL: " + " | ".join(self.failures) if self.failures else "ok"), flush=True)
        if died is not None and not self.sampler.killed_over_ceiling:
            tail = self.server_log_tail()
            if tail:
                print("  server log, last lines:\n    " + "\n    ".join(tail), flush=True)
        return False

    def server_log_tail(self):
        try:
            with open(self.server.log_path, encoding="utf-8", errors="replace") as f:
                return [line[:300] for line in f.read().splitlines()[-8:]]
        except OSError:
            return []


def describe_exit(code):
    if code < 0:
        try:
            return "killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "killed by signal %d" % -code
    return "exit code %d" % code


def probe(scenario, what):
    """A normal admission on a fresh connection: answered with 200 (a clear 503 is acceptable)."""
    uid_body = review(workflow([("github-app", "clippy"), ("event", PR_EVENT)]))
    answer = exchange(scenario.port, scenario.ca, "/mutate?timeout=10s", json.dumps(uid_body).encode())
    scenario.record(answer, what, allowed_statuses=(200, 503))
    if answer.kind == "answer" and answer.status == 200:
        response, problem = review_response(answer, uid_body["request"]["uid"])
        if problem:
            scenario.fail("%s: %s" % (what, problem))
        elif not response.get("allowed"):
            scenario.fail("%s: the normal review was denied: %s" % (what, response.get("status")))
    return answer


# ---------------------------------------------------------------------------------------------
# Many connections at once (scenarios a and e), on one asyncio loop.

class Held:
    __slots__ = ("reader", "writer", "opened", "closed_at", "received", "sent", "error", "stalled")

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.opened = time.monotonic()
        self.closed_at = None
        self.received = b""
        self.sent = 0
        self.error = None
        self.stalled = False  # the server stopped reading it

    @property
    def status(self):
        match = re.match(rb"HTTP/1\.[01] (\d{3})", self.received)
        return int(match.group(1)) if match else None


def attacker_context():
    """The held connections' client: no certificate check (half the cost of a handshake in
    Python), so that thousands open within one --read-timeout. Only 127.0.0.1 is contacted."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class HeldSet:
    """Connections opened in parallel; each runs `then` as soon as it is open (the client opens
    a few hundred per second, and the server cuts every connection at --read-timeout from its
    start, so nothing waits for the others). Tracks how many were open at once."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.held = []
        self.failures = collections.Counter()
        self.peak_open = 0
        self.opened_in = 0.0
        self.all_open = asyncio.Event()
        self.half_open = asyncio.Event()

    def open_now(self):
        return sum(1 for h in self.held if h.closed_at is None)

    async def open(self, count, then=None, handshake_limit=16):
        gate = asyncio.Semaphore(handshake_limit)
        context = attacker_context()
        start = time.monotonic()
        finished = [0]

        async def one():
            try:
                async with gate:
                    if not self.scenario.alive():
                        self.failures["server gone"] += 1
                        return
                    try:
                        reader, writer = await asyncio.wait_for(
                            asyncio.open_connection(HOST, self.scenario.port, ssl=context,
                                                    ssl_handshake_timeout=ANSWER_TIMEOUT), ANSWER_TIMEOUT)
                    except (OSError, asyncio.TimeoutError, ssl.SSLError) as error:
                        self.failures[type(error).__name__] += 1
                        return
                    held = Held(reader, writer)
                    self.held.append(held)
                    asyncio.ensure_future(watch(held))
                    if len(self.held) % 64 == 0:
                        self.peak_open = max(self.peak_open, self.open_now())
            finally:
                finished[0] += 1
                if finished[0] * 2 >= count:
                    self.half_open.set()
                if finished[0] == count:
                    self.opened_in = time.monotonic() - start
                    self.peak_open = max(self.peak_open, self.open_now())
                    self.all_open.set()
            if then is not None:
                await then(held)

        if count == 0:
            self.half_open.set()
            self.all_open.set()
        await asyncio.gather(*(one() for _ in range(count)))

    def note_opened(self, wanted):
        return "%d of %d connections opened in %.1f s%s, at most %d open at once" % (
            len(self.held), wanted, self.opened_in,
            " (%s)" % dict(self.failures) if self.failures else "", self.peak_open)

    def check_opened(self, wanted):
        if (len(self.held) < wanted * 0.9 and self.scenario.alive() and not self.failures.get("server gone")):
            self.scenario.fail("only %d of %d connections could be opened (%s): is the server's limit lower "
                               "than --max-connections %d?" % (len(self.held), wanted, dict(self.failures),
                                                               CONNECTIONS))


async def watch(held):
    """Records what the server sends and when it closes the connection."""
    try:
        while True:
            data = await held.reader.read(65536)
            if not data:
                break
            if len(held.received) < 4096:
                held.received += data[:4096]
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError) as error:
        held.error = type(error).__name__
    except asyncio.CancelledError:
        return
    held.closed_at = time.monotonic()


def abort_all(held_list):
    for held in held_list:
        try:
            held.writer.transport.abort()
        except Exception:  # noqa: BLE001 - already closed
            pass


async def run_probe(scenario, what):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, probe, scenario, what)


def summarize_held(held_list):
    held_list = list(held_list)
    counts = collections.Counter()
    for held in held_list:
        if held.stalled:
            counts["stalled"] += 1
        if held.closed_at is None:
            counts["held"] += 1
        elif held.status is not None:
            counts["closed with %d" % held.status] += 1
        else:
            counts["closed"] += 1
    return dict(counts)


# ---------------------------------------------------------------------------------------------
# Payloads.

def alias_bomb():
    """Nine levels of nine references: 9^9 (387,420,489) strings once expanded, in under 1 KB."""
    names = "abcdefghi"
    lines = ["%s: &%s [%s]" % (names[0], names[0], ",".join(['"x"'] * 9))]
    for previous, name in zip(names, names[1:]):
        lines.append("%s: &%s [%s]" % (name, name, ",".join(["*" + previous] * 9)))
    text = "\n".join(lines) + "\ncontainers: [{name: main, args: *i}]\n"
    assert len(text) < 1024, len(text)
    return text


YAML_CASES = [
    ("plain scalar of 100,000 digits",
     "containers:\n- name: main\n  image: busybox\npriority: " + "1234567890" * 10000 + "\n"),
    ("alias bomb under 1 KB, 9 levels of 9", alias_bomb()),
    ("flow sequences nested 100,000 deep",
     "containers: " + "[" * 100000 + "]" * 100000 + "\n"),
    ("a key of 500,000 bytes",
     "containers:\n- name: main\n" + "k" * 500000 + ": v\n"),
    ("200,000 small mappings",
     "containers: [" + ", ".join(["{a: 1}"] * 200000) + "]\n"),
]


def yaml_workflow_review(pod_spec_patch):
    obj = workflow([("github-app", "rex"), ("event", PR_EVENT)])
    obj["spec"]["podSpecPatch"] = pod_spec_patch
    return review(obj)


def dom_heavy_body(element, separator, uid):
    """A review of exactly MAX_BODY bytes whose Workflow holds as many elements as fit."""
    obj = workflow([("github-app", "rex"), ("event", PR_EVENT)])
    obj["spec"]["hostile"] = "@@FILL@@"
    request = review(obj, uid=uid)
    text = json.dumps(request, separators=(",", ":"))
    room = MAX_BODY - (len(text.encode()) - len('"@@FILL@@"')) - 2  # the brackets
    count = (room + len(separator)) // (len(element) + len(separator))
    fill = "[" + separator.join([element] * count) + "]"
    body = text.replace('"@@FILL@@"', fill).encode()
    assert len(body) <= MAX_BODY, (len(body), MAX_BODY)
    return body, count


DOM_CASES = [
    ("empty arrays", "[]", ","),
    ("empty objects", "{}", ","),
    ("small numbers", "7", ","),
]


def duplicate_parameters_review(value_of):
    parameters = [("github-app", "rex"), ("event", PR_EVENT)]
    parameters += [("ref", value_of(i)) for i in range(60000)]
    return review(workflow(parameters))


# ---------------------------------------------------------------------------------------------

class MemoryLimits(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        print("memory limits (%s form): limit %d MiB, answers within %g s; server defaults %s; "
              "connections %d, DOM-heavy concurrency %d x %d rounds, dribblers %d"
              % ("full" if FULL else "short", RSS_LIMIT_KIB // 1024, ANSWER_TIMEOUT, DEFAULTS, CONNECTIONS,
                 DOM_CONCURRENCY, DOM_ROUNDS, DRIBBLERS), flush=True)

    def setUp(self):
        sys.stderr.write("\n")  # each scenario's summary on its own line, after unittest's "... "
        sys.stderr.flush()

    def check(self, scenario):
        if scenario.failures:
            self.fail("%s:\n  %s" % (scenario.name, "\n  ".join(scenario.failures)))

    def connection_args(self):
        # The full form runs with the server's real default; the short one passes a smaller limit.
        return [] if FULL else ["--max-connections", str(CONNECTIONS)]

    # a) -------------------------------------------------------------------------------------
    def test_a_unfinished_max_bodies_on_every_connection(self):
        # CONNECTIONS - 1 connections (one slot is left for the probe), each declaring a body of
        # MAX_BODY bytes and sending all but its last byte in 64 KiB pieces, paced over ~6 s
        # (everything happens before --read-timeout cuts the first connections off).
        held_count = CONNECTIONS - 1
        piece = 64 << 10
        target = MAX_BODY - 1
        scenario = Scenario("a) %d connections with unfinished %d-byte bodies" % (held_count, MAX_BODY),
                            self.connection_args())
        with scenario:
            prefix = ('{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"held",'
                      '"object":{"metadata":{"annotations":{"pad":"').encode()
            first_piece = prefix + b"a" * (piece - len(prefix))
            next_piece = b"a" * piece
            head = ("POST /mutate?timeout=10s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n" % (HOST, MAX_BODY)).encode()

            pace = 6.0 / (target / piece)  # a whole body in about 6 s, if the client keeps up

            async def feed(held):
                # The head and a first piece at once; the rest once every connection is open (the
                # client's CPU goes to opening them first), or from half of --read-timeout; until
                # all but the last byte is sent, or shortly before --read-timeout cuts it.
                feed_until = held.opened + READ_TIMEOUT - 1.5
                try:
                    held.writer.write(head)
                    while held.sent < target and held.closed_at is None and scenario.alive():
                        if held.sent == piece and not connections.all_open.is_set():
                            try:
                                await asyncio.wait_for(connections.all_open.wait(),
                                                       max(0.01, held.opened + READ_TIMEOUT / 2 - time.monotonic()))
                            except asyncio.TimeoutError:
                                pass
                        now = time.monotonic()
                        if now >= feed_until:
                            return
                        size = min(piece, target - held.sent)
                        data = first_piece if held.sent == 0 else next_piece
                        held.writer.write(data[:size] if size < piece else data)
                        held.sent += size
                        try:
                            await asyncio.wait_for(held.writer.drain(), max(0.01, feed_until - now))
                        except asyncio.TimeoutError:
                            held.stalled = True
                            return  # the server stopped reading: it holds no more of this one
                        await asyncio.sleep(pace)
                except (OSError, ssl.SSLError, RuntimeError) as error:
                    held.error = held.error or type(error).__name__

            connections = None

            async def main():
                nonlocal connections
                connections = HeldSet(scenario)
                opening = asyncio.ensure_future(connections.open(held_count, then=feed))
                try:
                    await connections.half_open.wait()
                    await run_probe(scenario, "normal admission while bodies arrive")
                    await connections.all_open.wait()
                    await asyncio.sleep(1.0)  # the last ones have sent a second of body
                    unfinished = connections.open_now()
                    sent = sum(h.sent for h in connections.held)
                    if scenario.alive():
                        await run_probe(scenario, "normal admission with the last bodies arriving")
                    await opening
                    sent = sum(h.sent for h in connections.held)
                    scenario.note("%s, %d unfinished after the last opened; %.0f MiB of bodies sent (%.2f MiB each on "
                                  "average, at most %.2f), connections: %s"
                                  % (connections.note_opened(held_count), unfinished, sent / MIB,
                                     sent / MIB / max(1, len(connections.held)),
                                     max((h.sent for h in connections.held), default=0) / MIB,
                                     summarize_held(connections.held)))
                    # Nothing may be answered before its body, but a clear refusal.
                    for h in connections.held:
                        if h.status is not None and h.status not in (400, 408, 413, 503):
                            scenario.fail("an unfinished request got status %d" % h.status)
                            break
                finally:
                    opening.cancel()
                    abort_all(connections.held)
                    await asyncio.sleep(0.1)
                connections.check_opened(held_count)

            asyncio.run(main())
        self.check(scenario)

    # b) -------------------------------------------------------------------------------------
    def test_b_hostile_yaml_in_pod_spec_patch(self):
        policy = pod_spec_patch_policy()  # workflowPlumbing: podSpecPatch: the patch is read
        for name, text in YAML_CASES:
            with self.subTest(name):
                scenario = Scenario("b) podSpecPatch: %s (%d bytes of YAML)" % (name, len(text)), policy=policy)
                with scenario:
                    for endpoint in ("/mutate", "/validate"):
                        if not scenario.alive() or scenario.statuses.get("timeout"):
                            break  # dead, or still busy with the request it did not answer
                        request = yaml_workflow_review(text)
                        body = json.dumps(request).encode()
                        answer = exchange(scenario.port, scenario.ca, endpoint + "?timeout=10s", body)
                        what = "%s %s" % (endpoint, name)
                        scenario.record(answer, what, allowed_statuses=(200,))
                        if answer.kind != "answer" or answer.status != 200:
                            continue
                        if len(answer.body) >= ANSWER_LIMIT:
                            scenario.fail("%s: answer of %d bytes (limit %d)" % (what, len(answer.body), ANSWER_LIMIT))
                        response, problem = review_response(answer, request["request"]["uid"])
                        if problem:
                            scenario.fail("%s: %s" % (what, problem))
                        else:
                            scenario.note("%s: %s, answer %d bytes" % (
                                endpoint, "allowed" if response.get("allowed") else "denied", len(answer.body)))
                    if scenario.alive() and not scenario.statuses.get("timeout"):
                        probe(scenario, "normal admission afterwards")
                self.check(scenario)

    # c) -------------------------------------------------------------------------------------
    def test_c_dom_heavy_reviews_of_the_maximum_size(self):
        for name, element, separator in DOM_CASES:
            with self.subTest(name):
                body, count = dom_heavy_body(element, separator, "dom-heavy")
                scenario = Scenario("c) %d-byte reviews of %d %s, %d at once x %d"
                                    % (len(body), count, name, DOM_CONCURRENCY, DOM_ROUNDS))
                with scenario:
                    def send(index):
                        endpoint = "/mutate" if index % 2 == 0 else "/validate"
                        answer = exchange(scenario.port, scenario.ca, endpoint + "?timeout=10s", body)
                        what = "%s with %d %s" % (endpoint, count, name)
                        # Answered (allowed or denied), or refused with a clear status.
                        scenario.record(answer, what, allowed_statuses=(200, 400, 413, 503))
                        if answer.kind == "answer" and answer.status == 200:
                            if len(answer.body) >= ANSWER_LIMIT:
                                scenario.fail("%s: answer of %d bytes" % (what, len(answer.body)))
                            _, problem = review_response(answer, "dom-heavy")
                            if problem:
                                scenario.fail("%s: %s" % (what, problem))

                    for _ in range(DOM_ROUNDS):
                        if not scenario.alive():
                            break
                        threads = [threading.Thread(target=send, args=(i,)) for i in range(DOM_CONCURRENCY)]
                        for t in threads:
                            t.start()
                        for t in threads:
                            t.join()
                    if scenario.alive():
                        probe(scenario, "normal admission afterwards")
                self.check(scenario)

    # d) -------------------------------------------------------------------------------------
    def test_d_sixty_thousand_duplicate_parameters(self):
        variants = [("distinct values", lambda i: "feature-%d" % i),
                    ("empty values", lambda i: "")]
        for name, value_of in variants:
            with self.subTest(name):
                scenario = Scenario("d) 60,000 parameters named ref, %s" % name)
                with scenario:
                    requests = [duplicate_parameters_review(value_of) for _ in range(DUPLICATE_ROUNDS)]
                    bodies = [json.dumps(r).encode() for r in requests]
                    results = [None] * len(bodies)

                    def send(index):
                        results[index] = exchange(scenario.port, scenario.ca, "/mutate?timeout=10s", bodies[index])

                    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    for request, body, answer in zip(requests, bodies, results):
                        what = "/mutate with 60,000 ref parameters (%d bytes)" % len(body)
                        scenario.record(answer, what, allowed_statuses=(200,))
                        if answer.kind != "answer" or answer.status != 200:
                            continue
                        response, problem = review_response(answer, request["request"]["uid"])
                        if problem:
                            scenario.fail("%s: %s" % (what, problem))
                            continue
                        warnings = response.get("warnings") or []
                        warning_bytes = sum(len(str(w).encode()) for w in warnings)
                        scenario.note("%s, %d warnings (%d bytes), answer %d bytes"
                                      % ("allowed" if response.get("allowed") else "denied", len(warnings),
                                         warning_bytes, len(answer.body)))
                        if warning_bytes >= WARNINGS_LIMIT:
                            scenario.fail("%s: %d warnings of %d bytes in all (limit %d)"
                                          % (what, len(warnings), warning_bytes, WARNINGS_LIMIT))
                        if len(answer.body) >= ANSWER_LIMIT:
                            scenario.fail("%s: answer of %d bytes (limit %d)" % (what, len(answer.body), ANSWER_LIMIT))
                    if scenario.alive():
                        probe(scenario, "normal admission afterwards")
                self.check(scenario)

    # e) -------------------------------------------------------------------------------------
    def test_e_dribbled_chunked_bodies_and_silent_connections(self):
        # DRIBBLERS chunked requests sending 1 KiB chunks (in batches of 32) for 60% of
        # --read-timeout, to nearly MAX_BODY, then idle; the rest of the connection limit (minus the probe's slot)
        # finishes the TLS handshake and says nothing. All must be cut off at --read-timeout.
        silent_count = CONNECTIONS - 1 - DRIBBLERS
        scenario = Scenario("e) %d dribbled chunked bodies + %d silent TLS connections" % (DRIBBLERS, silent_count),
                            self.connection_args())
        chunk = b"400\r\n" + b"a" * 1024 + b"\r\n"
        batch_chunks = 32
        batch = chunk * batch_chunks
        target = MAX_BODY - (64 << 10)   # payload bytes: valid so far, never finished
        head = ("POST /mutate?timeout=10s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n" % HOST).encode()
        slack = 3.0 if not FULL else 5.0

        with scenario:
            pace = 3.0 / (target / (1024 * batch_chunks))

            async def dribble(held):
                # For 60% of --read-timeout from its start, then idle.
                until = held.opened + READ_TIMEOUT * 0.6
                try:
                    held.writer.write(head)
                    while held.sent < target and held.closed_at is None and time.monotonic() < until:
                        held.writer.write(batch)
                        held.sent += 1024 * batch_chunks
                        try:
                            await asyncio.wait_for(held.writer.drain(), max(0.01, until - time.monotonic()))
                        except asyncio.TimeoutError:
                            held.stalled = True
                            return
                        await asyncio.sleep(pace)
                except (OSError, ssl.SSLError, RuntimeError) as error:
                    held.error = held.error or type(error).__name__

            async def main():
                dribblers, silent = HeldSet(scenario), HeldSet(scenario)
                start = time.monotonic()
                tasks = [asyncio.ensure_future(dribblers.open(DRIBBLERS, then=dribble))]
                try:
                    await dribblers.all_open.wait()
                    tasks.append(asyncio.ensure_future(silent.open(silent_count)))
                    await silent.all_open.wait()
                    opened_in = time.monotonic() - start
                    peak_open = dribblers.open_now() + silent.open_now()
                    if scenario.alive():
                        await run_probe(scenario, "normal admission with every connection open")
                    await tasks[0]
                    if scenario.alive():
                        await run_probe(scenario, "normal admission after the dribble")
                    # Every connection must be cut off by the server at --read-timeout.
                    everyone = dribblers.held + silent.held
                    limit = READ_TIMEOUT + slack
                    cut_by = max((h.opened for h in everyone), default=time.monotonic()) + limit
                    while time.monotonic() < cut_by and scenario.alive():
                        if all(h.closed_at is not None for h in everyone):
                            break
                        await asyncio.sleep(0.1)
                    now = time.monotonic()
                    late = [h for h in everyone if (h.closed_at or now) - h.opened > limit]
                    lifetimes = [(h.closed_at or now) - h.opened for h in everyone]
                    sent = sum(h.sent for h in dribblers.held)
                    failures = dribblers.failures + silent.failures
                    scenario.note("%d + %d connections opened in %.1f s%s, %d open at once; %.0f MiB of chunks sent "
                                  "(%.2f MiB each, at most %.2f); connections lived %.1f-%.1f s: %s"
                                  % (len(dribblers.held), len(silent.held), opened_in,
                                     " (%s)" % dict(failures) if failures else "", peak_open,
                                     sent / MIB, sent / MIB / max(1, len(dribblers.held)),
                                     max((h.sent for h in dribblers.held), default=0) / MIB,
                                     min(lifetimes, default=0.0), max(lifetimes, default=0.0),
                                     summarize_held(everyone)))
                    silent_ids = {id(h) for h in silent.held}
                    if late and scenario.alive():
                        scenario.fail("%d connections lived more than %.0f s (--read-timeout %d s): %d of %d silent, "
                                      "%d of %d dribbled" % (len(late), limit, READ_TIMEOUT,
                                                             sum(1 for h in late if id(h) in silent_ids),
                                                             len(silent.held),
                                                             sum(1 for h in late if id(h) not in silent_ids),
                                                             len(dribblers.held)))
                    if len(everyone) < (DRIBBLERS + silent_count) * 0.9 and scenario.alive() \
                            and not failures.get("server gone"):
                        scenario.fail("only %d of %d connections could be opened (%s): is the server's limit "
                                      "lower than --max-connections %d?"
                                      % (len(everyone), DRIBBLERS + silent_count, dict(failures), CONNECTIONS))
                finally:
                    for task in tasks:
                        task.cancel()
                    abort_all(dribblers.held + silent.held)
                    await asyncio.sleep(0.1)

            asyncio.run(main())
        self.check(scenario)


if __name__ == "__main__":
    unittest.main(verbosity=2)
