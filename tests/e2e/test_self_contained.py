"""The repository carries its test data: nothing reads the team's shared fixture folder (a clone with
nothing beside it must pass `make test`), the tests read tests/fixtures, and every file there and in
manifests/examples/events has its origin and licence in a SOURCES.md."""
import os
import re
import unittest

from harness import FIXTURES_DIR, SOURCE_DIR

SOURCE = os.path.realpath(SOURCE_DIR)
FIXTURES = os.path.join(SOURCE, "tests", "fixtures")
EXAMPLE_EVENTS = os.path.join(SOURCE, "manifests", "examples", "events")
SHARED_FIXTURES = re.compile("shared" + "/fixtures")
# What runs (build, CI, the tests' code) may name ../shared only for the tools a user brings (the
# future cluster suite's ../shared/tools) and the design document the seed's jq rules cite.
SHARED_OTHER = re.compile(r"\.\./" + r"shared(?!/tools/|/seed/)")
RUN_FILES = ["Makefile", "CMakeLists.txt", os.path.join("tests", "CMakeLists.txt"), os.path.join(".ci", "run")]
CODE_EXTENSIONS = (".py", ".cpp", ".h", ".sh", ".txt", ".cmake")
# Where a SOURCES.md names the collection the files were copied from.
PROVENANCE = {os.path.join("tests", "fixtures", "SOURCES.md")}
MAX_FIXTURE_BYTES = 4 * 1024 * 1024
# This guard names what it looks for.
THIS = os.path.relpath(os.path.realpath(__file__), SOURCE)


def repository_files():
    for root, dirs, files in os.walk(SOURCE):
        rel_root = os.path.relpath(root, SOURCE)
        if rel_root == ".":
            # Build trees (build, build-*) and git's own files are not the project's text.
            dirs[:] = [d for d in dirs if d != ".git" and not d.startswith("build")]
        for name in files:
            yield os.path.normpath(os.path.join(rel_root, name))


def read(rel):
    with open(os.path.join(SOURCE, rel), encoding="utf-8", errors="replace") as f:
        return f.read()


def listed_files(sources_md):
    """The `file` column of a SOURCES.md: every back-quoted path at the start of an entry."""
    return set(re.findall(r"^- `([^`]+)`", read(sources_md), flags=re.M))


def files_under(directory):
    return sorted(os.path.relpath(os.path.join(root, name), directory)
                  for root, _, names in os.walk(directory) for name in names)


class SelfContained(unittest.TestCase):
    def test_the_tests_read_the_fixtures_in_the_repository(self):
        self.assertEqual(os.path.realpath(FIXTURES_DIR), FIXTURES)
        self.assertTrue(os.path.isdir(os.path.join(FIXTURES, "github-events")))

    def test_nothing_names_the_shared_fixtures(self):
        found = []
        for rel in repository_files():
            if rel in PROVENANCE or rel == THIS:
                continue
            for number, line in enumerate(read(rel).splitlines(), 1):
                if SHARED_FIXTURES.search(line):
                    found.append("%s:%d: %s" % (rel, number, line.strip()[:120]))
        self.assertEqual(found, [], "test data must come from tests/fixtures")

    def test_build_ci_and_test_code_read_nothing_else_from_shared(self):
        files = [f for f in RUN_FILES if os.path.exists(os.path.join(SOURCE, f))]
        files += [f for f in repository_files()
                  if f.startswith("tests" + os.sep) and f.endswith(CODE_EXTENSIONS)
                  and not f.startswith(os.path.join("tests", "fixtures") + os.sep)]
        self.assertIn("Makefile", files)
        found = []
        for rel in files:
            if rel == THIS:
                continue
            for number, line in enumerate(read(rel).splitlines(), 1):
                if SHARED_OTHER.search(line):
                    found.append("%s:%d: %s" % (rel, number, line.strip()[:120]))
        self.assertEqual(found, [])

    def test_every_fixture_has_its_source(self):
        files = [f for f in files_under(FIXTURES) if f != "SOURCES.md"]
        self.assertGreater(len(files), 40)
        listed = listed_files(os.path.join("tests", "fixtures", "SOURCES.md"))
        self.assertEqual(sorted(set(files) - listed), [], "files in tests/fixtures without an entry in its SOURCES.md")
        self.assertEqual(sorted(listed - set(files)), [], "entries in tests/fixtures/SOURCES.md without a file")

    def test_every_example_event_has_its_source_and_is_the_fixture_unchanged(self):
        files = [f for f in files_under(EXAMPLE_EVENTS) if f != "SOURCES.md"]
        self.assertTrue(files)
        listed = {os.path.basename(f) for f in listed_files(os.path.join("manifests", "examples", "events", "SOURCES.md"))}
        self.assertEqual(sorted(set(files) - listed), [], "example events without an entry in their SOURCES.md")
        self.assertEqual(sorted(listed - set(files)), [], "entries in the examples' SOURCES.md without a file")
        for name in files:
            with self.subTest(name), open(os.path.join(EXAMPLE_EVENTS, name), "rb") as example, \
                    open(os.path.join(FIXTURES, "github-events", name), "rb") as fixture:
                self.assertEqual(example.read(), fixture.read(), "SOURCES.md says it is the fixture unchanged")

    def test_the_fixtures_stay_small(self):
        total = sum(os.path.getsize(os.path.join(FIXTURES, f)) for f in files_under(FIXTURES))
        self.assertLess(total, MAX_FIXTURE_BYTES, "copy only what a test reads; trim large files (see SOURCES.md)")

    def test_the_guard_can_fail(self):
        self.assertTrue(SHARED_FIXTURES.search('FIXTURES = "../../../shared' + '/fixtures"'))
        self.assertTrue(SHARED_OTHER.search("make_corpus.py ../" + "shared/other $(BUILD)"))
        self.assertFalse(SHARED_OTHER.search("../" + "shared/tools/kube-apiserver"))


if __name__ == "__main__":
    unittest.main()
