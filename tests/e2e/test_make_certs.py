"""certs/make-certs.sh: a renewal keeps the names clients connect by (issue 16: `--renew` without
repeating `--ip`/`--dns` dropped them, and README's curl to 127.0.0.1 then failed), checked with
openssl on the certificates written."""
import os
import subprocess
import tempfile
import unittest

from harness import SOURCE_DIR

SCRIPT = os.path.join(SOURCE_DIR, "certs", "make-certs.sh")
SERVICE_NAMES = ["DNS:coderun-webhook", "DNS:coderun-webhook.coderun-webhook",
                 "DNS:coderun-webhook.coderun-webhook.svc",
                 "DNS:coderun-webhook.coderun-webhook.svc.cluster.local"]


def make_certs(out, *args):
    result = subprocess.run([SCRIPT, "--out", out] + list(args), capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError("make-certs.sh failed: " + result.stderr)
    return result.stdout


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), capture_output=True, text=True, check=True).stdout


def sans(cert):
    """The leaf's subjectAltName as make-certs.sh writes them: DNS:x, IP:y."""
    text = openssl("x509", "-in", cert, "-noout", "-ext", "subjectAltName")
    entries = text.split("\n", 1)[1].strip().split(", ")
    return [e.replace("IP Address:", "IP:") for e in entries]


def serial(cert):
    return openssl("x509", "-in", cert, "-noout", "-serial")


class Renewal(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="coderun-certs-")
        self.out = self.tmp.name
        self.crt = os.path.join(self.out, "tls.crt")
        make_certs(self.out, "--ip", "127.0.0.1", "--dns", "localhost")
        self.assertEqual(sans(self.crt), SERVICE_NAMES + ["DNS:localhost", "IP:127.0.0.1"])
        with open(os.path.join(self.out, "ca.crt")) as f:
            self.ca = f.read()

    def tearDown(self):
        self.tmp.cleanup()

    def assert_same_ca_and_valid(self):
        with open(os.path.join(self.out, "ca.crt")) as f:
            self.assertEqual(f.read(), self.ca)  # the caBundle does not change
        self.assertIn("OK", openssl("verify", "-CAfile", os.path.join(self.out, "ca.crt"), self.crt))

    def test_renew_keeps_the_names_of_the_certificate_it_replaces_and_says_so(self):
        before = serial(self.crt)
        out = make_certs(self.out, "--renew")
        self.assertNotEqual(serial(self.crt), before)
        self.assertEqual(sans(self.crt), SERVICE_NAMES + ["DNS:localhost", "IP:127.0.0.1"])
        self.assertIn("kept from the certificate it replaces: DNS:localhost, IP:127.0.0.1", out)
        self.assert_same_ca_and_valid()
        # The renewed certificate still serves the name README's curl uses.
        self.assertIn("does match", openssl("x509", "-in", self.crt, "-noout", "-checkip", "127.0.0.1"))

    def test_names_given_again_replace_the_old_ones(self):
        out = make_certs(self.out, "--renew", "--dns", "webhook.example.org")
        self.assertEqual(sans(self.crt), SERVICE_NAMES + ["DNS:webhook.example.org"])
        self.assertNotIn("kept", out)
        self.assert_same_ca_and_valid()

    def test_a_new_service_name_keeps_only_the_extra_names(self):
        make_certs(self.out, "--renew", "--service", "hook", "--namespace", "tools")
        self.assertEqual(sans(self.crt), ["DNS:hook", "DNS:hook.tools", "DNS:hook.tools.svc",
                                          "DNS:hook.tools.svc.cluster.local", "DNS:localhost", "IP:127.0.0.1"])

    def test_a_flag_without_its_value_is_a_usage_error(self):
        result = subprocess.run([SCRIPT, "--out", self.out, "--ip"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 2)
        self.assertIn("make-certs.sh: --ip needs a value", result.stderr)


if __name__ == "__main__":
    unittest.main()
