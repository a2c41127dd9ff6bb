#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A SKIP client written from the draft (draft-cisco-skip / draft-singh-skip),
independent of qkdkmd's code: Python's ssl and http.client only.

    skip_client.py [TLS options] URL COMMAND...

TLS options: --ca FILE (server's CA), --cert FILE --key FILE (our
certificate).  The connection is TLS 1.3 and kept alive across the
requests of one command.  Commands:

    caps                       GET /capabilities
    new REMOTE [SIZE]          GET /key?remoteSystemID=REMOTE[&size=SIZE]
    get KEYID REMOTE           GET /key/KEYID?remoteSystemID=REMOTE
    raw METHOD PATH            any request, as given
    many REMOTE N [SIZE]       N new keys on one connection
    fetch REMOTE               key by ID for each keyId read from stdin
    batch                      "METHOD TARGET" lines from stdin, one answer
                               line each (a connection the server closes
                               is opened again)

Each answer is one line on stdout: the HTTP status, a blank, the JSON
body (compact).  "many" prints "keyId key" per key, "fetch" likewise;
both stop at the first answer that is not 200 and exit 1.  A TLS failure
prints "TLS <reason>" and exits 2.
"""
import argparse
import http.client
import json
import re
import ssl
import sys
import urllib.parse

HEX = re.compile(r"^[0-9a-f]+$")


def connect(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The draft asks for TLS 1.3 (or 1.2 with PSK); we insist on 1.3.
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(args.ca)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    url = urllib.parse.urlsplit(args.url)
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx,
                                       timeout=20)
    conn.connect()
    return conn


def request(conn, method, path):
    conn.request(method, path)
    resp = conn.getresponse()
    body = resp.read()
    return resp.status, body, resp


def key_answer(status, body):
    """Check a 200 key answer against the draft: keyId and key, hex."""
    d = json.loads(body)
    if set(d) != {"keyId", "key"}:
        raise ValueError("key answer fields %s" % sorted(d))
    if not HEX.match(d["keyId"]) or not HEX.match(d["key"]):
        raise ValueError("keyId and key must be hex strings")
    return d["keyId"], d["key"]


def key_path(remote, size=None, key_id=None):
    q = {"remoteSystemID": remote}
    if size is not None:
        q["size"] = size
    base = "/key" if key_id is None else "/key/" + key_id
    return base + "?" + urllib.parse.urlencode(q)


def print_answer(status, body):
    try:
        text = json.dumps(json.loads(body), separators=(",", ":"))
    except ValueError:
        text = body.decode(errors="replace")
    print(status, text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("url")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()
    cmd, rest = args.command[0], args.command[1:]

    try:
        conn = connect(args)
        if cmd == "caps":
            print_answer(*request(conn, "GET", "/capabilities")[:2])
        elif cmd == "new":
            size = rest[1] if len(rest) > 1 else None
            print_answer(*request(conn, "GET", key_path(rest[0], size))[:2])
        elif cmd == "get":
            print_answer(*request(conn, "GET",
                                  key_path(rest[1], key_id=rest[0]))[:2])
        elif cmd == "raw":
            status, body, resp = request(conn, rest[0], rest[1])
            allow = resp.getheader("Allow")
            print_answer(status, body)
            if allow:
                print("Allow:", allow)
        elif cmd == "many":
            size = rest[2] if len(rest) > 2 else None
            for _ in range(int(rest[1])):
                status, body, _resp = request(conn, "GET",
                                              key_path(rest[0], size))
                if status != 200:
                    print_answer(status, body)
                    return 1
                print(*key_answer(status, body))
        elif cmd == "fetch":
            for line in sys.stdin:
                key_id = line.split()[0]
                status, body, _resp = request(conn, "GET",
                                              key_path(rest[0], key_id=key_id))
                if status != 200:
                    print_answer(status, body)
                    return 1
                print(*key_answer(status, body))
        elif cmd == "batch":
            for line in sys.stdin:
                method, target = line.split()
                try:
                    status, body, resp = request(conn, method, target)
                except (ConnectionError, http.client.HTTPException):
                    conn.close()
                    conn = connect(args)
                    status, body, resp = request(conn, method, target)
                print_answer(status, body)
        else:
            ap.error("unknown command " + cmd)
        conn.close()
    except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected) as e:
        print("TLS", type(e).__name__, e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
