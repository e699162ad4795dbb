"""README's blocks marked `<!-- runnable -->` (or `<!-- runnable: exit N -->`) run as printed, with
bash, from a fresh copy of the repository (its tracked files only, as a clone has them) with the
tested binary at build/coderun-webhook: a README command naming a file that is not in the
repository, or a flag the binary refuses, fails here."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, SOURCE_DIR

MARKER = re.compile(r"^<!-- runnable(?:: exit (\d+))? -->$")


def runnable_blocks():
    """[(line number, expected exit code, script)] for each marked ```sh block."""
    with open(os.path.join(SOURCE_DIR, "README.md"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        marker = MARKER.match(line.strip())
        if not marker:
            continue
        fence = i + 1
        if fence >= len(lines) or lines[fence].strip() != "```sh":
            raise AssertionError("README.md:%d: a runnable marker must come right before a ```sh block" % (i + 1))
        end = next(j for j in range(fence + 1, len(lines)) if lines[j].strip() == "```")
        blocks.append((fence + 1, int(marker.group(1) or 0), "\n".join(lines[fence + 1:end]) + "\n"))
    return blocks


def repository_files():
    """What a clone holds: the files git tracks (with their content in this tree); without git
    (an exported tree), everything but build directories."""
    result = subprocess.run(["git", "-C", SOURCE_DIR, "ls-files", "-z"], capture_output=True)
    if result.returncode == 0 and result.stdout:
        return [p for p in result.stdout.decode().split("\0") if p]
    found = []
    for root, dirs, files in os.walk(SOURCE_DIR):
        if os.path.samefile(root, SOURCE_DIR):
            dirs[:] = [d for d in dirs if d != ".git" and not d.startswith("build")]
        found += [os.path.relpath(os.path.join(root, name), SOURCE_DIR) for name in files]
    return found


class ReadmeRunnable(unittest.TestCase):
    def test_there_are_runnable_blocks(self):
        blocks = runnable_blocks()
        self.assertGreaterEqual(len(blocks), 3)
        self.assertTrue(any("coderun-webhook review" in script for _, _, script in blocks))

    def test_each_runnable_block_runs_as_printed_from_a_fresh_copy(self):
        for line, expected, script in runnable_blocks():
            with self.subTest(line=line), tempfile.TemporaryDirectory(prefix="coderun-readme-") as tmp:
                for rel in repository_files():
                    source = os.path.join(SOURCE_DIR, rel)
                    if os.path.isfile(source):  # a tracked file deleted in this tree is skipped
                        os.makedirs(os.path.join(tmp, os.path.dirname(rel)), exist_ok=True)
                        shutil.copy2(source, os.path.join(tmp, rel))
                os.makedirs(os.path.join(tmp, "build"), exist_ok=True)
                os.symlink(os.path.abspath(BIN), os.path.join(tmp, "build", "coderun-webhook"))
                # -e: every command of the block must succeed, not only the last; the exit code
                # checked is the block's (a block marked `exit 1` ends in the refused command).
                result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp,
                                        capture_output=True, text=True, timeout=120)
                self.assertEqual(result.returncode, expected,
                                 "README.md:%d\n%s\nstdout:\n%s\nstderr:\n%s"
                                 % (line, script, result.stdout[-2000:], result.stderr[-2000:]))
                self.assertNotIn("unknown flag", result.stderr)


if __name__ == "__main__":
    unittest.main()
