#!/usr/bin/env python3
"""A real authoritative DNS server for Mailroom's tests (dnslib; `pip install dnslib`).

    python3 scripts/dns_server.py --records FILE [--host 127.0.0.1] [--port 0]
        [--exit-on-stdin-eof]

Serves, over UDP and TCP on one port, the records listed in FILE, a JSON array of
`{"name": "sel._domainkey.example.com", "type": "TXT" | "CNAME", "value": "..."}`. FILE is
read again on every query, so a test changes what the server answers by rewriting it
(write a temporary file and rename it). A name with no record of the asked type answers
NOERROR with no answers when it has records of another type, NXDOMAIN otherwise. TXT values
longer than 255 bytes are split into several character-strings, as zone files do.

Prints `READY <port>` on stdout once it listens (`--port 0` picks a free port). SIGTERM or
SIGINT stops it, and so does the end of its standard input with `--exit-on-stdin-eof`.
"""

import argparse
import json
import signal
import socket
import sys
import threading

from dnslib import CNAME, QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSServer


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def normal(name):
    return str(name).rstrip(".").lower()


class FileResolver(BaseResolver):
    def __init__(self, path):
        self.path = path

    def resolve(self, request, handler):
        reply = request.reply()
        qname = request.q.qname
        qtype = QTYPE[request.q.qtype]
        records = [r for r in load(self.path) if normal(r["name"]) == normal(qname)]
        if not records:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for record in records:
            if record["type"] != qtype and not (record["type"] == "CNAME" and qtype == "TXT"):
                continue
            if record["type"] == "TXT":
                data = record["value"].encode()
                parts = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(parts), ttl=60))
            elif record["type"] == "CNAME":
                reply.add_answer(RR(qname, QTYPE.CNAME, rdata=CNAME(record["value"]), ttl=60))
        return reply


def free_port(host):
    # A port free for both UDP and TCP.
    while True:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            udp.close()
            tcp.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()

    port = args.port or free_port(args.host)
    resolver = FileResolver(args.records)

    class Quiet:
        def __getattr__(self, _name):
            return lambda *a, **k: None

    servers = [
        DNSServer(resolver, address=args.host, port=port, tcp=tcp, logger=Quiet())
        for tcp in (False, True)
    ]
    for server in servers:
        server.start_thread()
    print(f"READY {port}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    if args.exit_on_stdin_eof:
        def watch():
            sys.stdin.read()
            done.set()

        threading.Thread(target=watch, daemon=True).start()
    done.wait()
    for server in servers:
        server.stop()


if __name__ == "__main__":
    main()
