#!/usr/bin/env python3
"""Memory cost of idle TLS connections to the webhook: opens N connections (each completes the TLS
handshake and, with --request, is served one review and stays kept alive), then reads the server's
VmRSS. The figure behind --max-connections' default (README, "Memory").

  CODERUN_BIN=build/coderun-webhook python3 tests/bench/idle_connections.py --steps 0,500,1000,2000
"""
import argparse
import os
import resource
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from harness import WebhookServer, rss_kib  # noqa: E402
from test_transport_e2e import BODY, head, read_response  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default="0,250,500,1000,2000")
    parser.add_argument("--request", action="store_true", help="serve one review on each first")
    parser.add_argument("--half-handshake", action="store_true",
                        help="send the ClientHello only: the server holds a handshake in progress")
    args = parser.parse_args()
    steps = [int(n) for n in args.steps.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    extra = ["--max-connections", str(max(steps) + 10), "--read-timeout", "600"]
    with WebhookServer(extra_args=extra) as server:
        context = ssl.create_default_context(cafile=server.ca)
        held = []
        base = None
        for n in steps:
            while len(held) < n:
                if args.half_handshake:
                    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", server.port)),
                                               server_hostname="localhost", do_handshake_on_connect=False)
                    sock.setblocking(False)
                    try:
                        sock.do_handshake()
                    except ssl.SSLWantReadError:
                        pass
                    held.append(sock)
                    continue
                sock = context.wrap_socket(socket.create_connection(("127.0.0.1", server.port)),
                                           server_hostname="localhost")
                if args.request:
                    sock.sendall(head(extra="Content-Length: %d\r\n\r\n" % len(BODY)) + BODY)
                    read_response(sock)
                held.append(sock)
            time.sleep(0.5)
            rss = rss_kib(server.process.pid)
            base = rss if base is None else base
            per = (rss - base) / n if n else 0
            print("connections %5d  VmRSS %7.1f MiB  %5.1f KiB per connection" % (n, rss / 1024, per))
        for sock in held:
            sock.close()


if __name__ == "__main__":
    main()
