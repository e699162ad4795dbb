"""The command line a user expects (issue 16): every bad flag a new user tried is refused with exit
code 2 and a message naming the flag and what it accepts; every command has a --help that agrees
with README's flag table; a second instance cannot take a port, the metrics port included."""
import json
import os
import re
import subprocess
import tempfile
import time
import unittest

from harness import BIN, SOURCE_DIR, WebhookServer, die_with_parent, make_certs



def run(*args, env=None):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=30,
                          env=env, preexec_fn=die_with_parent)


def commands():
    """The commands `coderun-webhook --help` lists (version aside): a command added to the binary
    needs its --help and its README table."""
    listed = re.findall(r"^  coderun-webhook (\w+)", run("--help").stdout, flags=re.M)
    return sorted(set(listed) - {"version"})


COMMANDS = commands()


def readme_tables():
    """{command: [(flags, default)]} from README's `### Flags of `coderun-webhook X`` tables; rows
    naming no flag (`POD_NAME` (env)) are left out."""
    with open(os.path.join(SOURCE_DIR, "README.md"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    tables, command = {}, None
    for line in lines:
        heading = re.match(r"### Flags of `coderun-webhook (\w+)`", line)
        if heading:
            command = heading.group(1)
            tables[command] = []
        elif command and line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            flags = re.findall(r"`(--[a-z][a-z-]*)`", cells[0])
            if flags:
                tables[command].append((flags, cells[1].replace("`", "")))
        elif command and line.startswith("#"):
            command = None
    return tables


def help_rows(text):
    """[(flags, default)] from `<command> --help`: a flag line, then `default: ...`."""
    rows, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"  -", line) and i + 1 < len(lines) and lines[i + 1].startswith("      default: "):
            flags = re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", line)
            rows.append((flags, lines[i + 1][len("      default: "):]))
    return rows


class BadFlags(unittest.TestCase):
    """Each input of the issue: exit code 2 and the message, and nothing started."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="coderun-cli-")
        self.serve = ["serve", "--addr", "127.0.0.1", "--port", "0", "--metrics-port", "-1",
                      "--cert", os.path.join(self.tmp.name, "tls.crt"),
                      "--key", os.path.join(self.tmp.name, "tls.key")]

    def tearDown(self):
        self.tmp.cleanup()

    def refused(self, args, message, env=None):
        result = run(*args, env=env)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn(message, result.stderr)
        self.assertEqual(result.stdout, "")  # nothing ran: no log line, no output
        return result

    def test_an_unknown_flag_is_refused_by_name(self):
        self.refused(self.serve + ["--bogus", "1"],
                     "coderun-webhook serve: unknown flag --bogus (`coderun-webhook serve --help` lists the flags)")
        self.refused(["review", "-f", "x.json", "--bogus=1"], "unknown flag --bogus")
        self.refused(["mutate", "-f", "x.yaml", "--event-type", "push"], "unknown flag --event-type")
        self.refused(["resolve", "-f", "x.json", "-x"], "unknown flag -x")
        self.refused(["mutate", "-f", "a.yaml", "b.yaml"], "unexpected argument 'b.yaml'")

    def test_a_log_level_outside_the_set_is_refused(self):
        self.refused(self.serve + ["--log-level", "verbose"],
                     "--log-level must be one of debug, info, warn, error, not 'verbose'")
        env = dict(os.environ, LOG_LEVEL="verbose")
        self.refused(self.serve, "LOG_LEVEL must be one of debug, info, warn, error, not 'verbose'", env=env)

    def test_numbers_out_of_range_name_the_range(self):
        cases = [
            (["--port", "99999"], "--port must be an integer from 0 to 65535 (0: any free port), not '99999'"),
            (["--port", "-1"], "--port must be an integer from 0 to 65535"),
            (["--threads", "-1"], "--threads must be an integer from 0 to 1024 (0: one per usable CPU), not '-1'"),
            (["--threads", "18446744073709551615"], "--threads must be an integer from 0 to 1024"),
            (["--max-body-bytes", "-5"], "--max-body-bytes must be an integer from 1 to 1073741824, not '-5'"),
            (["--max-connections", "0"], "--max-connections must be an integer from 1 to 1048576, not '0'"),
            (["--max-buffered-bytes", "48MiB"], "--max-buffered-bytes must be an integer from 1 to 68719476736, not '48MiB'"),
            (["--read-timeout", "10s"], "--read-timeout must be an integer from 1 to 86400, not '10s'"),
            (["--shutdown-delay", "+5"], "--shutdown-delay must be an integer from 0 to 3600, not '+5'"),
            (["--metrics-port", "70000"], "--metrics-port must be an integer from -1 to 65535 (-1: off, 0: any free port)"),
        ]
        for flags, message in cases:
            with self.subTest(flags=flags):
                # The defaults given first (--port 0, --metrics-port -1) would be given twice.
                base = [w for i, w in enumerate(self.serve)
                        if not (w == flags[0] or (i > 0 and self.serve[i - 1] == flags[0]))]
                self.refused(base + flags, message)

    def test_missing_and_repeated_values(self):
        self.refused(["serve", "--cert"], "--cert needs a value")
        self.refused(["serve", "--policy", "--port", "1"], "--policy needs a value")
        self.refused(self.serve + ["--port", "1"], "--port is given more than once")
        self.refused(["review", "-f", "x.json", "--validate=yes"], "--validate takes no value")

    def test_a_port_file_in_a_missing_directory_is_refused_at_start(self):
        missing = os.path.join(self.tmp.name, "no-such-dir", "port")
        for flag in ("--port-file", "--metrics-port-file"):
            with self.subTest(flag=flag):
                self.refused(self.serve + [flag, missing],
                             "%s %s: directory %s does not exist" % (flag, missing, os.path.dirname(missing)))
                self.refused(self.serve + [flag, self.tmp.name],
                             "%s %s is a directory; it names the file to write" % (flag, self.tmp.name))

    def test_a_port_file_that_cannot_be_written_ends_the_start(self):
        """The directory exists but takes no new file (/proc/self): found only when writing, after
        the bind; the process must still exit 2, not serve without the file its starter waits for."""
        make_certs(self.tmp.name)
        result = run(*(self.serve + ["--port-file", "/proc/self/port"]))
        self.assertEqual(result.returncode, 2, result.stdout)
        self.assertIn("coderun-webhook serve: cannot write --port-file /proc/self/port", result.stderr)
        self.assertNotIn('"msg":"listening"', result.stdout.replace(" ", ""))


class Help(unittest.TestCase):
    def test_every_command_has_help_listing_its_flags(self):
        tables = readme_tables()
        for command in COMMANDS:
            with self.subTest(command=command):
                for asked in (["--help"], ["-h"], ["--bogus", "--help"]):
                    result = run(command, *asked)
                    self.assertEqual(result.returncode, 0, result.stderr)
                    self.assertIn("Usage: coderun-webhook " + command, result.stdout)
                    for flags, default in tables[command]:
                        for flag in flags:
                            self.assertIn(flag, result.stdout)
        self.assertEqual(run("help", "serve").stdout, run("serve", "--help").stdout)

    def test_serve_help_is_not_a_flag_wanting_a_value(self):
        result = run("serve", "--help")
        self.assertEqual(result.returncode, 0)
        self.assertNotIn("needs a value", result.stdout + result.stderr)
        self.assertIn("--port PORT (0..65535; 0: any free port)", result.stdout)
        self.assertIn("--log-level debug|info|warn|error", result.stdout)

    def test_readme_tables_and_help_agree(self):
        """Same flags, same order, same default column: a flag added to one must reach the other."""
        tables = readme_tables()
        self.assertEqual(sorted(tables), COMMANDS)
        self.assertTrue({"serve", "review", "mutate", "resolve"} <= set(COMMANDS))
        for command in COMMANDS:
            with self.subTest(command=command):
                self.assertEqual(help_rows(run(command, "--help").stdout), tables[command])

    def test_general_help_and_version(self):
        result = run("--help")
        self.assertEqual(result.returncode, 0)
        for command in COMMANDS:
            self.assertIn("coderun-webhook " + command, result.stdout)
        self.assertEqual(run().returncode, 2)
        for args in (["--version"], ["version"], ["serve", "--version"], ["mutate", "--version"]):
            with self.subTest(args=args):
                result = run(*args)
                self.assertEqual(result.returncode, 0)
                self.assertRegex(result.stdout, r"^coderun-webhook \d+\.\d+\.\d+\n$")


class PortsInUse(unittest.TestCase):
    """A second instance must not share a port: with SO_REUSEPORT it silently took the scrapes."""

    def second_instance(self, certs, extra):
        return subprocess.run(
            [BIN, "serve", "--addr", "127.0.0.1", "--cert", os.path.join(certs, "tls.crt"),
             "--key", os.path.join(certs, "tls.key")] + extra,
            capture_output=True, text=True, timeout=30, preexec_fn=die_with_parent)

    def test_the_metrics_and_admission_ports_are_refused_when_taken(self):
        with WebhookServer(metrics=True) as first, tempfile.TemporaryDirectory() as tmp:
            make_certs(tmp)
            cases = [
                (["--port", "0", "--metrics-addr", "127.0.0.1", "--metrics-port", str(first.metrics_port)],
                 "metrics", "cannot listen for metrics on 127.0.0.1:%d: Address already in use" % first.metrics_port),
                (["--port", str(first.port), "--metrics-port", "-1"],
                 "admission", "cannot listen on 127.0.0.1:%d: Address already in use" % first.port),
            ]
            for extra, listener, error in cases:
                with self.subTest(listener=listener):
                    started = time.monotonic()
                    result = self.second_instance(tmp, extra)
                    self.assertNotEqual(result.returncode, 0, result.stdout)
                    self.assertLess(time.monotonic() - started, 20)
                    lines = [json.loads(l) for l in result.stdout.splitlines() if l.startswith("{")]
                    refused = [l for l in lines if l["msg"] == "cannot listen"]
                    self.assertEqual(len(refused), 1, result.stdout)
                    self.assertEqual(refused[0]["level"], "error")
                    self.assertEqual(refused[0]["listener"], listener)
                    self.assertEqual(refused[0]["error"], error)
                    self.assertNotIn("listening", [l["msg"] for l in lines])
            # The first instance still has its scrapes.
            self.assertEqual(first.get("/healthz")[0], 200)


if __name__ == "__main__":
    unittest.main()
