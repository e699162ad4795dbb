#!/usr/bin/python3
"""Mutation testing: does the suite notice small deliberate bugs?

Applies each mutation of tests/mutation/mutations.txt, one at a time, to a scratch copy of the
tree (never to the repository's own files), rebuilds incrementally in one build folder that is
kept across mutants and across runs, runs the unit tests and, for a mutant they miss, the fast
end-to-end suites for the mutated code, and prints each mutant's verdict and the mutation score.

  /usr/bin/python3 tests/mutation/mutate.py               # every mutation
  /usr/bin/python3 tests/mutation/mutate.py --list        # the list, numbered
  /usr/bin/python3 tests/mutation/mutate.py --check       # every mutation applies exactly once
  /usr/bin/python3 tests/mutation/mutate.py --only 3,17   # some of them
  /usr/bin/python3 tests/mutation/mutate.py --max-minutes 30 --no-e2e

Exit status: 0 when every mutant run was killed, 1 when one survived or did not compile,
2 when the list is out of step with the code or the unmutated tree fails its own tests.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_LIST = os.path.join(HERE, "mutations.txt")
DEFAULT_SCRATCH = os.path.join(tempfile.gettempdir(), "coderun-mutation")
TARGETS = ["coderun-webhook", "unit_tests"]
# Fast end-to-end suites by the mutated file's folder (no soak, bench, memory or cluster suites).
E2E_BY_FOLDER = [
    ("webhook/server/", ["transport_e2e", "hostile_e2e"]),
    ("webhook/policy/access", ["access_e2e"]),
    ("webhook/", ["server_e2e", "errors_e2e"]),
]


class ListError(Exception):
    pass


class Mutation:
    def __init__(self, number, description, line):
        self.number = number
        self.description = description
        self.line = line  # in the list file
        self.file = None
        self.e2e = None
        self.equivalent = None  # why no test can tell it from the original
        self.original = []
        self.replacement = []

    def suites(self):
        if self.e2e is not None:
            return self.e2e
        for prefix, suites in E2E_BY_FOLDER:
            if self.file.startswith(prefix):
                return suites
        return []


def parse_list(path):
    mutations = []
    current = None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.startswith("@@ "):
                current = Mutation(len(mutations) + 1, line[3:].strip(), n)
                mutations.append(current)
            elif current is None or line.startswith("#") or not line.strip():
                continue
            elif line.startswith("file: "):
                current.file = line[6:].strip()
            elif line.startswith("e2e:"):
                current.e2e = line[4:].split()
            elif line.startswith("equivalent: "):
                current.equivalent = line[12:].strip()
            elif line == "-" or line.startswith("- "):
                current.original.append(line[2:])
            elif line == "+" or line.startswith("+ "):
                current.replacement.append(line[2:])
            else:
                raise ListError(f"{path}:{n}: not understood: {line!r}")
    for m in mutations:
        if not m.file or not m.original:
            raise ListError(f"{path}:{m.line}: mutation {m.number} needs a file: and '-' lines")
    return mutations


def texts(m):
    original = "\n".join(m.original)
    replacement = "\n".join(m.replacement)
    if not m.replacement:  # a deletion: the whole lines go, with their newline
        original += "\n"
    return original, replacement


def check_applies(m, root):
    """The mutated content of m.file under root; ListError unless the original is there once."""
    path = os.path.join(root, m.file)
    if not os.path.isfile(path):
        raise ListError(f"mutation {m.number} ({m.description}): {m.file} does not exist")
    with open(path, encoding="utf-8") as f:
        content = f.read()
    original, replacement = texts(m)
    count = content.count(original)
    if count != 1:
        raise ListError(
            f"mutation {m.number} ({m.description}): the original text occurs {count} times in "
            f"{m.file}, not once; bring tests/mutation/mutations.txt in step with the code:\n"
            + original)
    if original == replacement:
        raise ListError(f"mutation {m.number}: the replacement is the original")
    return content, content.replace(original, replacement)


def run(cmd, cwd=None, timeout=None, env=None, log=None):
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace")
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        out, rc = out + f"\n(timed out after {timeout} s)", None
    if log:
        with open(log, "w", encoding="utf-8") as f:
            f.write(out)
    return rc, out


def tracked_files(rev):
    """(relative path, bytes, executable) of every tracked file: the work tree's, or a commit's."""
    if rev is None:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True,
                               stdout=subprocess.PIPE).stdout.split(b"\0")
        for name in names:
            if not name:
                continue
            rel = name.decode()
            full = os.path.join(REPO, rel)
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as f:
                    yield rel, f.read(), os.access(full, os.X_OK)
        return
    listing = subprocess.run(["git", "ls-tree", "-r", "-z", "--full-tree", rev], cwd=REPO,
                             check=True, stdout=subprocess.PIPE).stdout.split(b"\0")
    for entry in listing:
        if not entry:
            continue
        meta, name = entry.split(b"\t", 1)
        mode, kind, obj = meta.split()
        if kind != b"blob" or mode == b"120000":
            continue
        data = subprocess.run(["git", "cat-file", "blob", obj.decode()], cwd=REPO, check=True,
                              stdout=subprocess.PIPE).stdout
        yield name.decode(), data, mode == b"100755"


def sync_source(src, rev):
    """Copies the tracked files to src, writing only those that changed (their mtimes are what
    keeps the rebuild incremental) and removing those no longer tracked. Scripts keep their
    executable bit: without it the e2e suites cannot run certs/make-certs.sh, fail at once, and
    every mutant that reaches them would be counted as killed."""
    os.makedirs(src, exist_ok=True)
    seen, written = set(), 0
    for rel, data, executable in tracked_files(rev):
        seen.add(rel)
        dest = os.path.join(src, rel)
        try:
            with open(dest, "rb") as f:
                same = f.read() == data
        except OSError:
            same = False
        if not same:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(data)
            written += 1
        mode = os.stat(dest).st_mode & 0o777
        wanted = mode | 0o111 if executable else mode & ~0o111
        if wanted != mode:
            os.chmod(dest, wanted)
    for dirpath, _, files in os.walk(src):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), src)
            if rel not in seen:
                os.remove(os.path.join(dirpath, name))
    return written


def prepare(args):
    src, build = os.path.join(args.scratch, "src"), os.path.join(args.scratch, "build")
    written = sync_source(src, args.rev)
    print(f"scratch tree {src} ({'commit ' + args.rev if args.rev else 'work tree'}): "
          f"{written} files updated", flush=True)
    valijson = os.path.join(build, "_deps", "valijson")
    if not os.path.isdir(valijson):
        ours = os.path.join(REPO, args.repo_build, "_deps", "valijson")
        if not os.path.isdir(ours):
            sys.exit(f"{ours} is missing: run 'make deps' first")
        shutil.copytree(ours, valijson, symlinks=True)
    if not os.path.isfile(os.path.join(build, "CMakeCache.txt")):
        rc, out = run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"])
        if rc != 0:
            sys.exit("cmake configure failed:\n" + out[-4000:])
    return src, build


def build_tree(build, jobs, log):
    rc, _ = run(["cmake", "--build", build, "-j", str(jobs), "--target", *TARGETS],
                timeout=3600, log=log)
    return rc == 0


def unit_env(src):
    env = dict(os.environ)
    env["CODERUN_SOURCE_DIR"] = src
    env["CODERUN_FIXTURES_DIR"] = os.path.join(src, "tests", "fixtures")
    return env


def run_unit(src, build, timeout, log):
    """None when every unit test passed, else a short text naming the failing tests."""
    report = log + ".xml"
    rc, out = run([os.path.join(build, "tests", "unit_tests"), "-r", "junit", "-o", report],
                  cwd=os.path.join(build, "tests"), timeout=timeout, env=unit_env(src), log=log)
    if rc == 0:
        return None
    if rc is None:
        return f"unit tests (timed out after {timeout} s)"
    failed = []
    try:
        for case in ET.parse(report).getroot().iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                name = case.get("name", "?")
                if name not in failed:
                    failed.append(name)
    except (ET.ParseError, OSError):
        pass  # a crash leaves no report
    if not failed:
        return f"unit tests (exit {rc}: {out.strip().splitlines()[-1][:120] if out.strip() else 'no output'})"
    more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    return "unit tests: " + "; ".join(failed[:3]) + more


def run_e2e(build, suites, timeout, log):
    """None when every suite passed (or skipped), else the failing suites' names."""
    if not suites:
        return None
    pattern = "^(" + "|".join("e2e_" + s for s in suites) + ")$"
    rc, out = run(["ctest", "-R", pattern, "--output-on-failure", "--timeout", str(timeout)],
                  cwd=build, timeout=timeout * len(suites) + 60, log=log)
    if rc == 0:
        return None
    failed = re.findall(r"Test\s+#\d+: (e2e_\S+) \.+\**(?:Failed|Timeout|Exception)", out)
    if rc is None:
        return "e2e (ctest timed out)"
    return "e2e: " + (", ".join(failed) if failed else f"ctest exit {rc}")


def fmt_minutes(seconds):
    return f"{seconds / 60:.1f} min"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="print the mutations, numbered, and stop")
    ap.add_argument("--check", action="store_true",
                    help="check that every mutation applies exactly once, and stop")
    ap.add_argument("--only", help="mutation numbers to run: 3,17 or 10-20")
    ap.add_argument("--max-minutes", type=float, default=0,
                    help="start no mutant after this many minutes (0: no bound)")
    ap.add_argument("--no-e2e", action="store_true", help="unit tests only")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip checking that the unmutated tree passes the suites first")
    ap.add_argument("--mutations", default=DEFAULT_LIST, help="the list (default: %(default)s)")
    ap.add_argument("--scratch", default=DEFAULT_SCRATCH,
                    help="scratch folder, kept for the next run (default: %(default)s)")
    ap.add_argument("--rev", help="copy this commit instead of the work tree's tracked files")
    ap.add_argument("--repo-build", default="build",
                    help="the repository's build folder, for valijson's headers")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--unit-timeout", type=int, default=600)
    ap.add_argument("--e2e-timeout", type=int, default=300)
    args = ap.parse_args()
    args.scratch = os.path.abspath(args.scratch)
    if os.path.commonpath([args.scratch, REPO]) == REPO:
        sys.exit("the scratch folder must be outside the repository")

    try:
        mutations = parse_list(args.mutations)
        if args.list:
            for m in mutations:
                print(f"{m.number:3d}  {m.file}: {m.description}")
            return 0
        selected = mutations
        if args.only:
            wanted = set()
            for part in args.only.split(","):
                lo, _, hi = part.partition("-")
                wanted.update(range(int(lo), int(hi or lo) + 1))
            selected = [m for m in mutations if m.number in wanted]
            if len(selected) != len(wanted):
                raise ListError(f"--only {args.only}: the list has mutations 1-{len(mutations)}")
        if args.check:
            for m in mutations:
                check_applies(m, REPO)
            print(f"all {len(mutations)} mutations apply exactly once to {REPO}")
            return 0
        src, build = prepare(args)
        for m in mutations:  # all of them: the list must stay in step even when --only is used
            check_applies(m, src)
    except ListError as e:
        print(f"mutate.py: {e}", file=sys.stderr)
        return 2

    logs = os.path.join(args.scratch, "logs")
    os.makedirs(logs, exist_ok=True)
    started = time.monotonic()
    print(f"building the unmutated tree in {build} ...", flush=True)
    if not build_tree(build, args.jobs, os.path.join(logs, "baseline-build.log")):
        print(f"the unmutated tree does not build: see {logs}/baseline-build.log", file=sys.stderr)
        return 2
    print(f"  built in {fmt_minutes(time.monotonic() - started)}", flush=True)
    if not args.no_baseline:
        failed = run_unit(src, build, args.unit_timeout, os.path.join(logs, "baseline-unit.log"))
        if failed:
            print(f"the unmutated tree fails its {failed}: no score (see {logs})", file=sys.stderr)
            return 2
        if not args.no_e2e:
            suites = sorted({s for m in selected for s in m.suites()})
            failed = run_e2e(build, suites, args.e2e_timeout, os.path.join(logs, "baseline-e2e.log"))
            if failed:
                print(f"the unmutated tree fails {failed}: no score (see {logs})", file=sys.stderr)
                return 2
        print(f"  the unmutated tree passes (at {fmt_minutes(time.monotonic() - started)})",
              flush=True)

    results = []  # (mutation, verdict, detail)
    begun = time.monotonic()
    for m in selected:
        if args.max_minutes and time.monotonic() - begun > args.max_minutes * 60:
            results.append((m, "not run", f"--max-minutes {args.max_minutes:g} reached"))
            continue
        if m.equivalent:  # still checked to apply, so the explanation stays in step with the code
            results.append((m, "equivalent", m.equivalent))
            continue
        t0 = time.monotonic()
        path = os.path.join(src, m.file)
        content, mutated = check_applies(m, src)
        tag = f"[{m.number:3d}/{len(mutations)}] {m.file}: {m.description}"
        print(tag, flush=True)
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(mutated)
            log = os.path.join(logs, f"mutant-{m.number:03d}")
            if not build_tree(build, args.jobs, log + "-build.log"):
                verdict, detail = "did not compile", f"see {log}-build.log"
            elif (why := run_unit(src, build, args.unit_timeout, log + "-unit.log")):
                verdict, detail = "killed", why
            elif args.no_e2e or not m.suites():
                verdict, detail = "survived", "unit tests" + ("" if args.no_e2e else ", no e2e suite")
            elif (why := run_e2e(build, m.suites(), args.e2e_timeout, log + "-e2e.log")):
                verdict, detail = "killed", why
            else:
                verdict, detail = "survived", "unit tests and e2e " + ", ".join(m.suites())
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(content)
        results.append((m, verdict, detail))
        print(f"      {verdict.upper()}: {detail} ({time.monotonic() - t0:.0f} s)", flush=True)

    # Leave the scratch build matching the unmutated tree for the next run.
    build_tree(build, args.jobs, os.path.join(logs, "restore-build.log"))

    killed = [r for r in results if r[1] == "killed"]
    survived = [r for r in results if r[1] == "survived"]
    stillborn = [r for r in results if r[1] == "did not compile"]
    not_run = [r for r in results if r[1] == "not run"]
    equivalent = [r for r in results if r[1] == "equivalent"]
    print("\n==== mutation testing" + (" (unit tests only)" if args.no_e2e else ""))
    for m, verdict, detail in results:
        print(f"{m.number:3d} {verdict:15s} {m.file}: {m.description} -- {detail}")
    scored = len(killed) + len(survived)
    score = 100.0 * len(killed) / scored if scored else 0.0
    print(f"\nmutation score: {len(killed)}/{scored} killed ({score:.1f}%)"
          + (f"; {len(stillborn)} did not compile" if stillborn else "")
          + (f"; {len(not_run)} not run (time bound)" if not_run else "")
          + (f"; {len(equivalent)} equivalent, not scored" if equivalent else "")
          + f"; {fmt_minutes(time.monotonic() - started)} in all")
    for m, _, _ in survived:
        print(f"SURVIVED {m.number}: {m.file}: {m.description}")
    return 0 if not survived and not stillborn else 1


if __name__ == "__main__":
    sys.exit(main())
