"""The HTTPS transport seen from raw TLS sockets: how requests may be framed (chunked, pipelined,
Expect: 100-continue), what malformed HTTP gets, slow and idle clients, connection limits, and
draining at SIGTERM."""
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import unittest

from harness import WebhookServer, make_certs, metrics_of, review, rss_kib, sample, wait_for, workflow

SANITIZED = bool(os.environ.get("CODERUN_SANITIZED"))

BODY = json.dumps(review(workflow([("github-app", "rex"), ("repoFullName", "a/b")]), uid="t-1")).encode()


def connect(server, timeout=10):
    context = ssl.create_default_context(cafile=server.ca)
    return context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=timeout),
                               server_hostname="localhost")


def head(path="/mutate", extra=""):
    return ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s" % (path, extra)).encode()


def read_response(sock, buffered=b""):
    """One response from the socket: (status, headers dict, body, bytes left over)."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response: %r" % data[:200])
        data += chunk
    header_block, rest = data.split(b"\r\n\r\n", 1)
    lines = header_block.decode().split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        rest += chunk
    return status, headers, rest[:length], rest[length:]


def dribble_until_cut_off(sock):
    """Sends a whole request a byte every 0.3 s, for up to 30 s (the request would take minutes at
    this pace), until the server closes: (whether it closed, seconds from the first byte)."""
    raw = head(extra="Content-Length: %d\r\n\r\n" % len(BODY)) + BODY
    start = time.monotonic()
    for i in range(len(raw)):
        if time.monotonic() - start > 30:
            break
        try:
            sock.sendall(raw[i:i + 1])
        except (ConnectionError, ssl.SSLError):
            return True, time.monotonic() - start
        if closed_by_server(sock, 0.3):
            return True, time.monotonic() - start
    return False, time.monotonic() - start


def closed_by_server(sock, within):
    """True when the server closes the connection (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


class Framing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = WebhookServer().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def assert_admitted(self, status, body, uid="t-1"):
        self.assertEqual(status, 200, body[:300])
        answer = json.loads(body)["response"]
        self.assertEqual(answer["uid"], uid)
        self.assertTrue(answer["allowed"])
        self.assertIn("patch", answer)

    def test_a_chunked_body_is_joined(self):
        with connect(self.server) as sock:
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(BODY[i:i + 1000]), BODY[i:i + 1000])
                              for i in range(0, len(BODY), 1000))
            sock.sendall(head(extra="Transfer-Encoding: chunked\r\n\r\n") + chunks + b"0\r\n\r\n")
            status, _, body, _ = read_response(sock)
            self.assert_admitted(status, body)

    def test_pipelined_requests_are_answered_in_order(self):
        second = BODY.replace(b'"t-1"', b'"t-2"')
        with connect(self.server) as sock:
            sock.sendall(head(extra="Content-Length: %d\r\n\r\n" % len(BODY)) + BODY +
                         head(extra="Content-Length: %d\r\n\r\n" % len(second)) + second)
            status, _, body, left = read_response(sock)
            self.assert_admitted(status, body, "t-1")
            status, _, body, _ = read_response(sock, left)
            self.assert_admitted(status, body, "t-2")

    def test_expect_100_continue(self):
        with connect(self.server) as sock:
            sock.sendall(head(extra="Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(BODY)))
            status, _, _, left = read_response(sock)
            self.assertEqual(status, 100)
            sock.sendall(BODY)
            status, _, body, _ = read_response(sock, left)
            self.assert_admitted(status, body)
        with connect(self.server) as sock:  # too large: refused before the body is sent
            sock.sendall(head(extra="Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (64 << 20)))
            status, headers, body, _ = read_response(sock)
            self.assertEqual(status, 413)
            self.assertEqual(headers["connection"], "close")
            self.assertIn("larger than the limit", json.loads(body)["error"])

    def test_malformed_http_gets_a_clear_4xx_or_5xx_and_a_close(self):
        cases = [
            (b"GARBAGE\r\n\r\n", 400, "malformed request line"),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1"),
            (head(extra="Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 400, "both Content-Length"),
            (head(extra="Content-Length: 3\r\nContent-Length: 4\r\n\r\n"), 400, "conflicting Content-Length"),
            (head(extra="Transfer-Encoding: gzip\r\n\r\n"), 501, "chunked"),
            (head(extra="Expect: 200-ok\r\n\r\n"), 417, "100-continue"),
            (head(extra=" folded: x\r\n\r\n"), 400, "folded"),
            (head(extra="".join("X-%d: y\r\n" % i for i in range(200)) + "\r\n"), 431, "too many header fields"),
            (b"GET /healthz HTTP/1.1\r\n\r\n", 400, "requires a Host"),
            (b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"),
            (b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", 400, "control character"),
            (b"GET /health\rz HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request target"),
            (b"POST /mutate HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "HTTP/1.0"),
            (head(extra="Transfer-Encoding: chunked\r\n\r\n1;" + "e" * 1100 + "\r\n"), 400, "chunk size"),
            (head(extra="Transfer-Encoding: chunked\r\n\r\n0\r\n" + "".join("T%d: v\r\n" % i for i in range(120))
                  + "\r\n"), 431, "too many trailer fields"),
        ]
        for raw, code, message in cases:
            with self.subTest(raw=raw[:40]), connect(self.server) as sock:
                sock.sendall(raw)
                status, headers, body, _ = read_response(sock)
                self.assertEqual(status, code)
                self.assertEqual(headers["connection"], "close")
                self.assertIn(message, json.loads(body)["error"])
                self.assertTrue(closed_by_server(sock, 5))
        status, _ = self.server.get("/healthz")
        self.assertEqual(status, 200)
        # One "request refused" line per endpoint and status every 10 s, however many came.
        refused = [line for line in self.server.log_lines()
                   if line["msg"] == "request refused" and line["status"] == 400
                   and line["path"] not in ("/mutate", "/validate")]
        self.assertEqual(len(refused), 1, refused)

    def test_tls_sessions_are_resumed(self):
        """A reconnecting client (the API server after an idle close) skips the full handshake."""
        context = ssl.create_default_context(cafile=self.server.ca)
        sessions = []
        for attempt in range(2):
            sock = context.wrap_socket(socket.create_connection(("127.0.0.1", self.server.port), timeout=10),
                                       server_hostname="localhost",
                                       session=sessions[-1] if sessions else None)
            with sock:
                sock.sendall(head(extra="Content-Length: %d\r\n\r\n" % len(BODY)) + BODY)
                self.assertEqual(read_response(sock)[0], 200)
                self.assertEqual(sock.session_reused, attempt == 1)
                sessions.append(sock.session)

    def test_methods_and_paths(self):
        with connect(self.server) as sock:
            sock.sendall(b"DELETE /validate HTTP/1.1\r\nHost: x\r\n\r\n"
                         b"POST /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                         b"GET /nowhere?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, _, left = read_response(sock)
            self.assertEqual((status, headers["allow"]), (405, "POST"))
            status, headers, _, left = read_response(sock, left)
            self.assertEqual((status, headers["allow"]), (405, "GET"))
            status, _, body, _ = read_response(sock, left)
            self.assertEqual(status, 404)
            self.assertIn("/nowhere", json.loads(body)["error"])


class BodyLimit(unittest.TestCase):
    def test_a_body_of_exactly_max_body_bytes_is_read_one_more_byte_is_413(self):
        limit = len(BODY) + 100
        with WebhookServer(extra_args=["--max-body-bytes", str(limit)]) as server:
            at_limit = BODY + b" " * (limit - len(BODY))  # JSON allows trailing whitespace
            with connect(server) as sock:
                sock.sendall(head(extra="Content-Length: %d\r\n\r\n" % len(at_limit)) + at_limit)
                status, _, body, _ = read_response(sock)
                self.assertEqual(status, 200, body)
                self.assertTrue(json.loads(body)["response"]["allowed"], body)
            for over in (at_limit + b" ", at_limit * 2):
                with connect(server) as sock:
                    sock.sendall(head(extra="Content-Length: %d\r\n\r\n" % len(over)))
                    status, headers, body, _ = read_response(sock)
                    self.assertEqual(status, 413, (len(over), body))
                    self.assertEqual(headers["connection"], "close")
                    self.assertIn("larger than the limit", json.loads(body)["error"])


class TlsFailures(unittest.TestCase):
    def test_failed_handshakes_are_counted_and_logged_with_their_reason(self):
        """The usual installation mistake, a caBundle that does not match the serving certificate,
        shows in the webhook's log and metrics, not only in the API server's."""
        with WebhookServer(metrics=True) as server:
            other_ca = os.path.join(server.dir, "other-ca")
            make_certs(other_ca)
            context = ssl.create_default_context(cafile=os.path.join(other_ca, "ca.crt"))
            with self.assertRaises(ssl.SSLCertVerificationError):
                context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10),
                                    server_hostname="localhost")
            # The server reads the client's alert when it gets to it: wait for that before the next
            # failure, so that the one line logged is this one's.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and \
                    sample(metrics_of(server), "coderun_webhook_tls_handshake_failures_total") < 1:
                time.sleep(0.05)
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as plain:
                plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertTrue(closed_by_server(plain, 5))
            socket.create_connection(("127.0.0.1", server.port), timeout=10).close()  # not a failure
            # Polled, not slept: the two failures counted and every connection (the empty one too)
            # closed on the server's side, so nothing is left to count; then exactly 2.
            m = wait_for(lambda: (lambda m: m if sample(m, "coderun_webhook_tls_handshake_failures_total") >= 2
                                  and sample(m, "coderun_webhook_connections") == 0 else None)(metrics_of(server)))
            self.assertIsNotNone(m, metrics_of(server))
            self.assertEqual(sample(m, "coderun_webhook_tls_handshake_failures_total"), 2)
            lines = [line for line in server.log_lines() if line["msg"] == "TLS handshake failed"]
            self.assertEqual(len(lines), 1, lines)  # the second, within 10 s, is only counted
            self.assertEqual(lines[0]["reason"], "tlsv1 alert unknown ca")
            self.assertIn("caBundle", lines[0]["hint"])


class SlowAndIdleClients(unittest.TestCase):
    def test_a_request_dribbled_slower_than_the_read_timeout_is_cut_off(self):
        """The read timeout bounds the whole request: a byte every 0.3 s does not keep it alive."""
        with WebhookServer(extra_args=["--read-timeout", "2"], metrics=True) as server:
            with connect(server) as sock:
                cut_off, elapsed = dribble_until_cut_off(sock)
                print("\ndribbled request cut off after %.2f s (--read-timeout 2)" % elapsed)
                self.assertTrue(cut_off, "still open after %.1f s of dribbling" % elapsed)
                # Not before the timeout (the handshake before `start` counts in it), and the read
                # timeout's bound with a generous margin for a loaded machine, not a tight window.
                self.assertGreater(elapsed, 1.5)
                self.assertLess(elapsed, 2 + 8)
            self.assertEqual(server.get("/healthz")[0], 200)
            self.assertEqual(sample(metrics_of(server), "coderun_webhook_connections_dropped_total",
                                    reason="timeout"), 1)

    def test_a_later_request_on_a_kept_connection_is_cut_off_at_the_read_timeout_too(self):
        """After a served request the connection waits up to the keep-alive timeout (30 s); once the
        next request's first byte arrives, the read timeout bounds that request."""
        with WebhookServer(extra_args=["--read-timeout", "2"], metrics=True) as server:
            with connect(server) as sock:
                sock.sendall(head(extra="Content-Length: %d\r\n\r\n" % len(BODY)) + BODY)
                self.assertEqual(read_response(sock)[0], 200)
                cut_off, elapsed = dribble_until_cut_off(sock)
                print("\nsecond dribbled request cut off after %.2f s (--read-timeout 2)" % elapsed)
                self.assertTrue(cut_off, "still open after %.1f s of dribbling" % elapsed)
                self.assertGreater(elapsed, 1.5)
                self.assertLess(elapsed, 2 + 8)  # the read timeout with a margin, not the 30 s keep-alive
            self.assertEqual(sample(metrics_of(server), "coderun_webhook_connections_dropped_total",
                                    reason="timeout"), 1)

    def test_an_idle_keep_alive_connection_does_not_delay_sigterm(self):
        with WebhookServer() as server:
            idle = connect(server)
            idle.sendall(head(extra="Content-Length: %d\r\n\r\n" % len(BODY)) + BODY)
            self.assertEqual(read_response(idle)[0], 200)
            start = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            self.assertEqual(server.process.wait(timeout=25), 0)
            elapsed = time.monotonic() - start
            print("\nexited %.2f s after SIGTERM with an idle keep-alive connection" % elapsed)
            self.assertLess(elapsed, 15)  # not the 30 s keep-alive timeout (margin for a loaded machine)
            self.assertTrue(closed_by_server(idle, 10))
            idle.close()

    def test_connections_past_the_limit_are_closed_and_the_limit_recovers(self):
        with WebhookServer(extra_args=["--max-connections", "4"], metrics=True) as server:
            held = [connect(server) for _ in range(4)]
            try:
                self.assertEqual(sample(metrics_of(server), "coderun_webhook_connections"), 4)
                with self.assertRaises((ConnectionError, ssl.SSLError, OSError)):
                    extra = connect(server, timeout=5)
                    extra.sendall(head(extra="Content-Length: %d\r\n\r\n" % len(BODY)) + BODY)
                    read_response(extra)
                held.pop().close()
                # The server has seen the close (polled, not slept): a place is free again.
                self.assertTrue(wait_for(lambda: sample(metrics_of(server), "coderun_webhook_connections") == 3),
                                metrics_of(server))
                with connect(server) as sock:
                    sock.sendall(head(extra="Content-Length: %d\r\n\r\n" % len(BODY)) + BODY)
                    self.assertEqual(read_response(sock)[0], 200)
                self.assertEqual(sample(metrics_of(server), "coderun_webhook_connections_dropped_total",
                                        reason="limit"), 1)
            finally:
                for sock in held:
                    sock.close()


def response_within(sock, seconds):
    """(status, headers, body) of a response that arrives within `seconds`, else None (still waiting)."""
    sock.settimeout(seconds)
    try:
        return read_response(sock)[:3]
    except socket.timeout:
        return None
    finally:
        sock.settimeout(10)


class BufferBudget(unittest.TestCase):
    def test_requests_past_the_budget_get_503_and_service_comes_back(self):
        """Connections each holding most of a declared 3 MiB body: past --max-buffered-bytes the
        next ones get 503 with Retry-After at once, memory stays within the budget, and once the
        holders go, requests are served again."""
        budget = 16 << 20
        declared = 3 << 20
        with WebhookServer(extra_args=["--max-buffered-bytes", str(budget)], metrics=True) as server:
            baseline = rss_kib(server.process.pid)
            held, refused = [], 0
            try:
                for _ in range(20):
                    sock = connect(server)
                    start = time.monotonic()
                    sock.sendall(head(extra="Content-Length: %d\r\n\r\n" % declared))
                    answer = response_within(sock, 0.5)
                    if answer is None:  # held: it may send most of its body, then stalls
                        sock.sendall(b" " * (declared - 4096))
                        held.append(sock)
                        continue
                    status, headers, body = answer
                    self.assertEqual(status, 503)
                    # README's errors table: `the server is buffering too many requests`, in full.
                    self.assertEqual(json.loads(body), {"code": 503, "error": "the server is buffering too many "
                                                                               "requests (--max-buffered-bytes)"})
                    self.assertEqual(headers["retry-after"], "1")
                    self.assertEqual(headers["connection"], "close")
                    self.assertLess(time.monotonic() - start, 0.5)
                    self.assertTrue(closed_by_server(sock, 5))
                    sock.close()
                    refused += 1
                time.sleep(0.3)
                grown_mib = (rss_kib(server.process.pid) - baseline) / 1024
                # 16 MiB hold five 3 MiB bodies; the other 15 were refused. Without the budget the
                # 20 would have held 60 MiB.
                self.assertEqual(len(held), 5)
                self.assertEqual(refused, 15)
                if not SANITIZED:
                    self.assertLess(grown_mib, budget / (1 << 20) + 8, "RSS grew by %.1f MiB" % grown_mib)
                self.assertEqual(sample(metrics_of(server), "coderun_webhook_connections_dropped_total",
                                        reason="budget"), 15)
                self.assertEqual(server.get("/healthz")[0], 200)  # small requests still fit
            finally:
                for sock in held:
                    sock.close()
            # The holders' closes seen by the server (polled, not slept): their budget is released.
            self.assertTrue(wait_for(lambda: sample(metrics_of(server), "coderun_webhook_connections") == 0),
                            metrics_of(server))
            for _ in range(6):  # the budget is back: as many large requests as before, and more
                with connect(server) as sock:
                    sock.sendall(head(extra="Content-Length: %d\r\n\r\n" % declared))
                    self.assertIsNone(response_within(sock, 0.3))
                    sock.sendall(b" " * declared)
                    self.assertEqual(read_response(sock)[0], 400)  # read whole: not a review


class HandshakeThenSilence(unittest.TestCase):
    def test_a_connection_that_handshakes_and_sends_nothing_is_closed_after_the_read_timeout(self):
        with WebhookServer(extra_args=["--read-timeout", "1"], metrics=True) as server:
            start = time.monotonic()
            with connect(server) as sock:  # the TLS handshake completes here
                self.assertTrue(closed_by_server(sock, 20))
                elapsed = time.monotonic() - start
            print("\nsilent connection closed after %.2f s (--read-timeout 1)" % elapsed)
            self.assertGreater(elapsed, 0.8)
            self.assertLess(elapsed, 1 + 6)  # the read timeout with a margin; not the 30 s keep-alive timeout
            self.assertEqual(sample(metrics_of(server), "coderun_webhook_connections_dropped_total",
                                    reason="timeout"), 1)
            # A served connection then idle is kept for the keep-alive timeout, not the read timeout.
            with connect(server) as sock:
                sock.sendall(head(extra="Content-Length: %d\r\n\r\n" % len(BODY)) + BODY)
                self.assertEqual(read_response(sock)[0], 200)
                self.assertFalse(closed_by_server(sock, 2))


class PipeliningFairness(unittest.TestCase):
    def test_one_client_pipelining_does_not_hold_the_server(self):
        """One event loop; one client pipelines thousands of reviews (openssl s_client reading and
        writing at once); another client's requests are answered promptly meanwhile."""
        count = 6000
        with WebhookServer(extra_args=["--threads", "1"]) as server:
            pipelined = os.path.join(server.dir, "pipelined")
            one = head(extra="Content-Length: %d\r\n\r\n" % len(BODY)) + BODY
            last = head(extra="Connection: close\r\nContent-Length: %d\r\n\r\n" % len(BODY)) + BODY
            with open(pipelined, "wb") as f:
                f.write(one * (count - 1) + last)
            with open(pipelined, "rb") as stdin:
                flood = subprocess.Popen(["openssl", "s_client", "-quiet", "-connect", "127.0.0.1:%d" % server.port],
                                         stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            try:
                # The flood is under way once its first answer is out (read, not slept for).
                # os.read, unbuffered: communicate() below reads the descriptor, not a Python buffer.
                first = b""
                while len(first) < len(b"HTTP/1.1 200 OK"):
                    chunk = os.read(flood.stdout.fileno(), len(b"HTTP/1.1 200 OK") - len(first))
                    if not chunk:
                        break
                    first += chunk
                self.assertEqual(first, b"HTTP/1.1 200 OK")
                latencies = []
                with connect(server) as sock:
                    for _ in range(10):
                        start = time.monotonic()
                        sock.sendall(head(path="/validate", extra="Content-Length: %d\r\n\r\n" % len(BODY)) + BODY)
                        self.assertEqual(read_response(sock)[0], 200)
                        latencies.append(time.monotonic() - start)
                        time.sleep(0.02)
                still_flooding = flood.poll() is None
                output, _ = flood.communicate(timeout=120)
                output = first + output
            finally:
                if flood.poll() is None:
                    flood.kill()
            self.assertEqual(output.count(b"HTTP/1.1 200 OK"), count)
            self.assertTrue(still_flooding, "the flood ended before the other client was done: make it longer")
            # README's bound: another client's requests answered within 0.25 s meanwhile.
            print("\nanother client during the flood: max %.1f ms" % (max(latencies) * 1000))
            self.assertLess(max(latencies), 0.25, latencies)


class MetricsPortBodies(unittest.TestCase):
    def test_a_large_body_to_the_metrics_port_is_refused_unread(self):
        """The scrape port is plain HTTP on another server (httplib): a body of any size used to be
        read into memory (a 300 MB POST took the process past 500 MB)."""
        with WebhookServer(metrics=True) as server:
            def peak_kib():
                with open("/proc/%d/status" % server.process.pid) as f:
                    return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
            before = peak_kib()
            size = 200 * 1024 * 1024
            with socket.create_connection(("127.0.0.1", server.metrics_port), timeout=10) as sock:
                sock.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                             b"Content-Length: %d\r\n\r\n" % size)
                chunk = b"\0" * (1 << 20)
                try:
                    for _ in range(size // len(chunk)):
                        sock.sendall(chunk)
                except OSError:
                    pass  # the server may close once it has answered
                sock.settimeout(10)
                answer = sock.recv(200)
            self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer)
            if not SANITIZED:
                self.assertLess(peak_kib() - before, 16 * 1024)
            self.assertTrue(metrics_of(server))  # still serving scrapes


class TlsPolicy(unittest.TestCase):
    def handshake(self, server, *args):
        """(succeeded, output) of an openssl s_client handshake with the given options."""
        result = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % server.port] + list(args),
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
        return result.returncode == 0, result.stdout.decode(errors="replace")

    def test_tls12_offers_only_ecdhe_with_aead(self):
        with WebhookServer(metrics=True) as server:
            for cipher in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"):
                ok, output = self.handshake(server, "-tls1_2", "-cipher", cipher)
                self.assertTrue(ok, output)
                self.assertIn("Cipher is " + cipher, output)
            for cipher in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-SHA"):
                self.assertFalse(self.handshake(server, "-tls1_2", "-cipher", cipher)[0], cipher)
            # The same with an RSA certificate (the serving pair is re-read when it changes).
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=localhost", "-keyout", os.path.join(server.certs, "tls.key.new"),
                            "-out", os.path.join(server.certs, "tls.crt.new")],
                           check=True, capture_output=True)
            os.replace(os.path.join(server.certs, "tls.key.new"), os.path.join(server.certs, "tls.key"))
            os.replace(os.path.join(server.certs, "tls.crt.new"), os.path.join(server.certs, "tls.crt"))
            deadline = time.monotonic() + 10
            while "certificate reloaded" not in [l["msg"] for l in server.log_lines()]:
                self.assertLess(time.monotonic(), deadline, "the RSA pair was not loaded")
                time.sleep(0.2)
            ok, output = self.handshake(server, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
            self.assertTrue(ok, output)
            self.assertIn("Cipher is ECDHE-RSA-AES128-GCM-SHA256", output)
            for cipher in ("AES128-SHA", "ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256"):
                self.assertFalse(self.handshake(server, "-tls1_2", "-cipher", cipher)[0], cipher)
            # Refused by the server (no shared cipher), not by the client.
            lines = [l for l in server.log_lines() if l["msg"] == "TLS handshake failed"]
            self.assertEqual(lines[0]["reason"], "no shared cipher")
            self.assertEqual(sample(metrics_of(server), "coderun_webhook_tls_handshake_failures_total"), 6)


if __name__ == "__main__":
    unittest.main()
