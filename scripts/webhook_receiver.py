#!/usr/bin/env python3
"""A webhook receiver for Mailroom's tests (Python's http.server, and the `standardwebhooks`
package to verify signatures: `pip install standardwebhooks`).

    python3 scripts/webhook_receiver.py --port 0 --dir DIR [--host 127.0.0.1]
        [--exit-on-stdin-eof]

Prints `READY <port>` on stdout once it listens (`--port 0` picks a free port). Every
request, whatever its method and path, is stored as `DIR/<n>.json` (n = 1, 2, … in order of
arrival), written to a temporary file first and renamed, so a reader never sees half a
request. It is stored when it arrives, before any `SLEEP`, with the answer it will get:

    {"method", "path", "headers" (names lower-cased), "body" (text),
     "answer" (the status code answered),
     "verified": [true|false per secret in SECRETS — the standardwebhooks library's verdict
                  on the whole request],
     "signatures": [[indexes of the SECRETS that verify this one signature alone], …]
                   (one entry per space-separated signature of `webhook-signature`)}

Behaviour a test can steer with files in DIR (read on every request):
- `SECRETS`: the `whsec_…` secrets to verify with, one per line.
- `STATUS`: the status code to answer (default 200). `3xx` answers carry
  `Location: /redirected` (a client that follows it shows up as a request to that path).
- `SLEEP`: seconds to wait before answering (a slow receiver, or one that times out).

SIGTERM or SIGINT stops it cleanly (exit status 0), and so does the end of its standard input
with `--exit-on-stdin-eof`: a test harness that holds the pipe cannot leave the receiver
behind, even when it is killed.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Store:
    """The directory: steering files in, one JSON file per request out."""

    def __init__(self, directory):
        self.directory = directory
        self.lock = threading.Lock()
        self.next_number = 1

    def read(self, name):
        try:
            with open(os.path.join(self.directory, name), encoding="utf-8") as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def secrets(self):
        text = self.read("SECRETS") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def save(self, record):
        with self.lock:
            number = self.next_number
            self.next_number += 1
        final = os.path.join(self.directory, f"{number}.json")
        temporary = os.path.join(self.directory, f".{number}.json.tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(temporary, final)


def verify_all(secrets, body, headers):
    """Whether each secret verifies the request, and which secrets verify each signature."""
    verified = []
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
            verified.append(True)
        except (WebhookVerificationError, ValueError):
            verified.append(False)
    per_signature = []
    for signature in (headers.get("webhook-signature") or "").split():
        alone = dict(headers, **{"webhook-signature": signature})
        matches = []
        for index, secret in enumerate(secrets):
            try:
                Webhook(secret).verify(body, alone)
                matches.append(index)
            except (WebhookVerificationError, ValueError):
                pass
        per_signature.append(matches)
    return verified, per_signature


def handler_for(store):
    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_any(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode("utf-8", errors="replace")
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = int(store.read("STATUS") or 200)
            verified, signatures = verify_all(store.secrets(), body, headers)
            store.save(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": headers,
                    "body": body,
                    "answer": answer,
                    "verified": verified,
                    "signatures": signatures,
                }
            )
            sleep = store.read("SLEEP")
            if sleep:
                time.sleep(float(sleep))
            reply = json.dumps({"answered": answer}).encode()
            try:
                self.send_response(answer)
                if 300 <= answer < 400:
                    self.send_header("Location", "/redirected")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout): nothing to answer

        do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = handle_any

        def log_message(self, format, *args):
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))

    return Receiver


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", required=True, help="where requests are stored")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    return parser.parse_args()


def main():
    args = parse_args()
    os.makedirs(args.dir, exist_ok=True)
    server = ThreadingHTTPServer((args.host, args.port), handler_for(Store(args.dir)))
    server.daemon_threads = True
    stopping = threading.Event()

    def stop(*_):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_on_stdin_eof:

        def watch_stdin():
            while os.read(sys.stdin.fileno(), 4096):
                pass
            stop()

        threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
