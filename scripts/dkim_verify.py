#!/usr/bin/env python3
"""Verifies the DKIM signatures of a message as a receiver would, with dkimpy (an
implementation independent of Mailroom's), looking keys up in the DNS server given.

    python3 scripts/dkim_verify.py --dns 127.0.0.1:PORT < message.eml

Prints one JSON object: {"signatures": [{"d", "s", "a", "c", "h", "verified"}],
"from_domain"}. Exits 0 whatever the outcome; the caller asserts.
"""

import argparse
import email
import email.utils
import json
import sys

import dkim
import dns.resolver


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dns", required=True, help="ip:port of the DNS server")
    args = parser.parse_args()
    host, port = args.dns.rsplit(":", 1)
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = int(port)

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        try:
            answer = resolver.resolve(name, "TXT", lifetime=timeout)
        except Exception:
            return None
        for record in answer:
            return b"".join(record.strings)
        return None

    message = sys.stdin.buffer.read()
    checker = dkim.DKIM(message)
    parsed = email.message_from_bytes(message)
    signatures = []
    for index, raw in enumerate(parsed.get_all("DKIM-Signature") or []):
        tags = dict(
            (k.strip(), v.strip())
            for k, _, v in (t.partition("=") for t in "".join(raw.split()).split(";"))
            if k.strip()
        )
        try:
            verified = bool(checker.verify(idx=index, dnsfunc=dnsfunc))
        except Exception as e:  # noqa: BLE001 - reported to the caller
            verified = False
            tags["error"] = str(e)
        signatures.append(
            {
                "d": tags.get("d"),
                "s": tags.get("s"),
                "a": tags.get("a"),
                "c": tags.get("c"),
                "h": tags.get("h", "").lower().split(":"),
                "verified": verified,
                "error": tags.get("error"),
            }
        )
    from_domain = email.utils.parseaddr(parsed.get("From", ""))[1].rpartition("@")[2].lower()
    print(json.dumps({"signatures": signatures, "from_domain": from_domain}))


if __name__ == "__main__":
    main()
