#!/usr/bin/env python3
"""A real SMTP server for Mailroom's tests (aiosmtpd; `pip install aiosmtpd`).

    python3 scripts/smtp_server.py --port 0 --dir DIR [--host 127.0.0.1]
        [--tls-cert CERT --tls-key KEY [--implicit-tls]] [--require-auth USER:PASS]
        [--exit-on-stdin-eof]

Prints `READY <port>` on stdout once it listens (`--port 0` picks a free port). Every
message whose DATA phase succeeded is stored as `DIR/<n>.json` (n = 1, 2, … in order of
arrival), written to a temporary file first and renamed, so a reader never sees half a
message:

    {"mail_from", "rcpt_tos", "data" (the message as received, CRLF line ends),
     "peer" ("ip:port" of the client connection), "tls" (true over STARTTLS or implicit TLS),
     "auth_login" (the AUTH user, or null)}

Each MAIL FROM is also appended to `DIR/mail.log` as one JSON line `{"peer", "tls",
"mail_from"}`, so a test can prove that nothing was sent before TLS was up.

Behaviour a test can steer:
- RCPT TO whose local part starts with `tempfail` → `451 4.3.0 try again later`;
  with `bounce` or `reject` → `550 5.1.1 user unknown`; anything else → 250.
- The file `DIR/FAIL_ALL` present → every RCPT TO gets `421 4.3.2 service not available`
  (the relay fails and recovers without a restart).
- The file `DIR/SLOW` present → the server waits 2 s before it stores the message and
  answers the end of DATA; a client that goes away meanwhile leaves nothing stored.
- `--tls-cert/--tls-key` → STARTTLS is offered; with `--implicit-tls` the server speaks
  TLS from the first byte instead (like port 465), without STARTTLS.
- `--require-auth USER:PASS` → AUTH PLAIN and LOGIN are offered (also without TLS) and
  MAIL FROM needs a successful AUTH.

SIGTERM or SIGINT stops it cleanly (exit status 0), and so does the end of its standard input
with `--exit-on-stdin-eof`: a test harness that holds the pipe cannot leave the server behind,
even when it is killed.
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

SLOW_SECONDS = 2.0


class MailDrop:
    """The aiosmtpd handler: recipient rules, and one JSON file per accepted message."""

    def __init__(self, directory, implicit_tls):
        self.directory = directory
        self.implicit_tls = implicit_tls
        self.next_number = 1 + max(
            (
                int(name[: -len(".json")])
                for name in os.listdir(directory)
                if name.endswith(".json") and name[: -len(".json")].isdigit()
            ),
            default=0,
        )

    def tls(self, session):
        return self.implicit_tls or session.ssl is not None

    def flag(self, name):
        return os.path.exists(os.path.join(self.directory, name))

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.append_log({"peer": peer(session), "tls": self.tls(session), "mail_from": address})
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.flag("FAIL_ALL"):
            return "421 4.3.2 service not available"
        local_part = address.rsplit("@", 1)[0].lower()
        if local_part.startswith("tempfail"):
            return "451 4.3.0 try again later"
        if local_part.startswith(("bounce", "reject")):
            return "550 5.1.1 user unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.flag("SLOW"):
            # Cancelled when the client disconnects: nothing is stored then.
            await asyncio.sleep(SLOW_SECONDS)
        number = self.next_number
        self.next_number += 1
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": envelope.original_content.decode("utf-8", errors="replace"),
            "peer": peer(session),
            "tls": self.tls(session),
            "auth_login": login.decode("utf-8", errors="replace") if login else None,
        }
        final = os.path.join(self.directory, f"{number}.json")
        temporary = os.path.join(self.directory, f".{number}.json.tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(temporary, final)
        return f"250 2.0.0 OK queued as {number}"

    def append_log(self, entry):
        with open(os.path.join(self.directory, "mail.log"), "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")


def peer(session):
    host, port = session.peer[:2]
    return f"{host}:{port}"


def authenticator_for(credentials):
    user, password = credentials.encode("utf-8").split(b":", 1)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user
            and auth_data.password == password
        )
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535

    return authenticate


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", required=True, help="where accepted messages are stored")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--require-auth", metavar="USER:PASS")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.implicit_tls and not args.tls_cert:
        parser.error("--implicit-tls needs --tls-cert and --tls-key")
    if args.require_auth is not None and ":" not in args.require_auth:
        parser.error("--require-auth takes USER:PASS")
    return args


async def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    handler = MailDrop(args.dir, args.implicit_tls)
    tls_context = None
    if args.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.tls_cert, args.tls_key)
    options = {
        "hostname": "localhost",  # skips a reverse DNS look-up per connection
        "enable_SMTPUTF8": True,
        "tls_context": None if args.implicit_tls else tls_context,
    }
    if args.require_auth is not None:
        options.update(
            authenticator=authenticator_for(args.require_auth),
            auth_required=True,
            auth_require_tls=False,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, **options),
        args.host,
        args.port,
        ssl=tls_context if args.implicit_tls else None,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if args.exit_on_stdin_eof:
        stdin = sys.stdin.fileno()

        def read_stdin():
            if not os.read(stdin, 4096):
                loop.remove_reader(stdin)
                stop.set()

        loop.add_reader(stdin, read_stdin)
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    await stop.wait()
    server.close()  # open sessions are cancelled when the loop ends


def main():
    args = parse_args()
    # Deliberate test settings (AUTH without TLS) and aiosmtpd's own deprecation notices.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
