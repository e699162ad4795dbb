"""The Dockerfile's recipe, checked cheaply in every `make test` (building and running the image is
`make image-test`, minutes, not here): the build stage installs every -dev package `make deps`
builds with, and the runtime stage installs the package of every shared library the tested binary
links (apart from those of the slim base); the Dockerfile builds with the flags the tests use; the
build context keeps out the build trees."""
import os
import re
import shutil
import subprocess
import unittest

from harness import BIN, SOURCE_DIR

# Libraries every Debian base has (Priority: required, in debian:bookworm-slim and minbase).
BASE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1", "zlib1g"}
# Packages of `make deps` that only tests, tools or other targets use.
NOT_FOR_THE_BINARY = {"g++", "cmake", "make", "pkg-config", "catch2", "openssl", "curl", "jq", "python3",
                      "clang", "libclang-rt-14-dev"}


def dockerfile_stages():
    """[(FROM line, [packages apt-get installs in that stage])]"""
    with open(os.path.join(SOURCE_DIR, "Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    stages = []
    for line in text.splitlines():
        if line.startswith("FROM "):
            stages.append((line, []))
        found = re.search(r"apt-get install ([^&]*)", line)
        if found and stages:
            stages[-1][1].extend(w for w in found.group(1).split() if not w.startswith("-"))
    return stages


def makefile_packages():
    with open(os.path.join(SOURCE_DIR, "Makefile")) as f:
        text = f.read().replace("\\\n", " ")
    return re.search(r"^APT_PACKAGES := (.*)$", text, re.M).group(1).split()


class DockerfileRecipe(unittest.TestCase):
    def test_two_stages_on_the_slim_base(self):
        stages = dockerfile_stages()
        self.assertEqual([s[0].split()[1] for s in stages], ["debian:bookworm-slim", "debian:bookworm-slim"])

    def test_build_stage_has_every_library_make_deps_builds_with(self):
        build = set(dockerfile_stages()[0][1])
        wanted = {p for p in makefile_packages() if p.endswith("-dev") and p not in NOT_FOR_THE_BINARY
                  and not p.startswith("python3")}
        self.assertEqual(sorted(wanted - build), [], "-dev packages missing from the Dockerfile's build stage")

    @unittest.skipUnless(shutil.which("dpkg-query") and shutil.which("ldd"), "dpkg or ldd missing")
    def test_runtime_stage_has_every_library_the_binary_links(self):
        runtime = set(dockerfile_stages()[-1][1])
        ldd = subprocess.run(["ldd", BIN], capture_output=True, text=True, check=True).stdout
        needed = {}  # direct dependencies only: a package pulls its own dependencies
        readelf = subprocess.run(["readelf", "-d", BIN], capture_output=True, text=True, check=True).stdout
        direct = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", readelf))
        # A sanitized build (make sanitize runs this suite too) links the sanitizers' runtimes,
        # which no image carries: the image is built with make build's flags.
        direct = {lib for lib in direct if not re.match(r"lib(a|ub|l|t|hwa)san\.so", lib)}
        for line in ldd.splitlines():
            found = re.match(r"\s*(\S+) => (\S+)", line)
            if found and found.group(1) in direct:
                path = os.path.realpath(found.group(2))
                owner = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
                if owner.returncode != 0:  # merged /usr: dpkg knows the /lib path
                    owner = subprocess.run(["dpkg-query", "-S", path.replace("/usr/lib/", "/lib/", 1)],
                                           capture_output=True, text=True)
                self.assertEqual(owner.returncode, 0, "no package owns " + path)
                needed[found.group(1)] = owner.stdout.split(":")[0]
        self.assertEqual(set(needed), direct)
        missing = {lib: pkg for lib, pkg in needed.items() if pkg not in runtime | BASE_PACKAGES}
        self.assertEqual(missing, {}, "libraries the binary links whose packages the runtime stage does not install")

    def test_built_as_tested(self):
        with open(os.path.join(SOURCE_DIR, "Dockerfile")) as f:
            text = f.read()
        self.assertIn("-DCMAKE_BUILD_TYPE=RelWithDebInfo", text)  # `make build`'s flags (-O2)
        self.assertIn("USER 65532:65532", text)

    def test_context_is_filtered(self):
        with open(os.path.join(SOURCE_DIR, ".dockerignore")) as f:
            lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        self.assertEqual(lines[0], "*")
        copied = set(re.findall(r"^COPY (?!--from)(\S+)", open(os.path.join(SOURCE_DIR, "Dockerfile")).read(), re.M))
        for path in copied:
            self.assertIn("!" + path.split("/")[0], lines, path + " is copied but kept out of the context")


if __name__ == "__main__":
    unittest.main()
