#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""A QKD module's key delivery interface, written from ETSI GS QKD 014
v1.1.1 for tests: a KME that serves Get status, Get key (enc_keys) and Get
key with key IDs (dec_keys) over HTTPS with mutual TLS, to the SAEs named
with --sae (the SAE ID is the client certificate's CN).

One process stands for both modules of a QKD link: a key taken with
enc_keys by the master SAE is kept, under its key_ID, for dec_keys by the
slave SAE, once.  stored_key_count keys are "there" for each ordered pair;
with --rate they come back at that many keys per second.

Faults, for the test of a key manager in front of a module (--fault, or
the control file, read at every request, one line "MODE [sae=ID]
[method=M] [count=N] [delay=S]"; sae limits it to requests from that SAE,
method to status, enc_keys or dec_keys, count to the next N of them):
  empty       enc_keys answers 503, status says stored_key_count 0
  slow        answers after delay seconds (default 3)
  drop        closes the connection without an answer
  malformed   answers 200 with a body that is not JSON
  oversized   answers 200 with a 2 MiB body
  padded      answers 200 with a 384 KiB body (JSON, nothing but padding)
  dupid       enc_keys gives the first key the key_ID given last time
  wrongbytes  dec_keys gives other bytes than enc_keys gave
  reject      answers 401 (as for an SAE it does not know)
  expired     TLS handshakes present --expired-cert (a certificate past
              its notAfter); a connection made before is closed at its
              next request, so that the client must shake hands again
  untrusted   the same with --untrusted-cert (signed by a CA the client
              does not trust)

--stats FILE: on SIGUSR1 (and at exit) writes "keys_enc=N keys_dec=N
requests=N" there.  Written for tests: no key byte is ever logged, except
with --handed-out FILE, for a test that follows bytes from the module to
their consumer: every key enc_keys hands out, in hex, one line each.
"""

import argparse
import base64
import json
import os
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
STATE = {
    "pending": {},      # key_ID -> (master, slave, bytes)
    "avail": {},        # (master, slave) -> keys there, float
    "last_id": None,
    "counts": {},       # control line -> times applied
    "keys_enc": 0, "keys_dec": 0, "requests": 0,
    "refill": time.monotonic(),
}


def control_line(args):
    """The fault line in force ("" for none)."""
    line = args.fault or ""
    if args.control:
        try:
            with open(args.control) as f:
                line = f.read().strip()
        except OSError:
            line = args.fault or ""
    return line


def fault_for(args, sae, method):
    """The fault that applies to this request, or None."""
    line = control_line(args)
    if not line:
        return None
    words = line.split()
    mode, opts = words[0], dict(w.split("=", 1) for w in words[1:] if "=" in w)
    if "sae" in opts and opts["sae"] != sae:
        return None
    if "method" in opts and opts["method"] != method:
        return None
    if "count" in opts:
        with LOCK:
            used = STATE["counts"].get(line, 0)
            if used >= int(opts["count"]):
                return None
            STATE["counts"][line] = used + 1
    return mode, float(opts.get("delay", 3))


def refill(args):
    now = time.monotonic()
    dt = now - STATE["refill"]
    STATE["refill"] = now
    for pair in STATE["avail"]:
        if args.rate:
            STATE["avail"][pair] = min(args.max_key_count,
                                       STATE["avail"][pair] + dt * args.rate)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kme-emulator"

    def log_message(self, fmt, *a):
        if self.server.args.verbose:
            sys.stderr.write("kme: " + (fmt % a) + "\n")

    def caller(self):
        cert = self.connection.getpeercert() or {}
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def reply(self, code, obj=None, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, msg):
        self.reply(code, {"message": msg})

    def do_GET(self):
        self.handle_api(None)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 65536:
            return self.error(400, "request too large")
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.error(400, "request body is not JSON")
        if not isinstance(body, dict):
            return self.error(400, "request body is not a JSON object")
        self.handle_api(body)

    def handle_api(self, body):
        args = self.server.args
        with LOCK:
            STATE["requests"] += 1
        sae = self.caller()
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 5 or parts[:3] != ["api", "v1", "keys"]:
            return self.error(404, "no such resource")
        other, method = parts[3], parts[4]
        fault = fault_for(args, sae, method)
        if fault:
            mode, delay = fault
            if mode in self.server.alt_ctx:
                # Made before the fault: make the client connect again.
                mode = "drop"
            if mode == "slow":
                time.sleep(delay)
            elif mode == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            elif mode == "malformed":
                return self.reply(200, raw=b'{"keys": [{"key_ID": "x", "key": ')
            elif mode == "oversized":
                return self.reply(200, raw=b'{"pad": "' + b"A" * (2 << 20) + b'"}')
            elif mode == "padded":
                return self.reply(200, raw=b'{"pad": "' + b"A" * (384 << 10) + b'"}')
            elif mode == "reject":
                return self.error(401, "unauthorized")
        else:
            mode = None
        if sae not in args.sae:
            return self.error(401, "unknown client certificate")
        if other not in args.sae or other == sae:
            return self.error(400, "unknown SAE ID %s" % other)
        query = parse_qs(url.query)
        if method == "status":
            return self.status(sae, other, mode)
        if method == "enc_keys":
            return self.enc_keys(sae, other, body, query, mode)
        if method == "dec_keys":
            return self.dec_keys(sae, other, body, query, mode)
        return self.error(404, "no such method")

    def avail(self, master, slave):
        a = self.server.args
        with LOCK:
            STATE["avail"].setdefault((master, slave), float(a.max_key_count))
            refill(a)
            return int(STATE["avail"][(master, slave)])

    def status(self, master, slave, mode):
        a = self.server.args
        stored = 0 if mode == "empty" else self.avail(master, slave)
        self.reply(200, {
            "source_KME_ID": a.kme_id, "target_KME_ID": a.kme_id,
            "master_SAE_ID": master, "slave_SAE_ID": slave,
            "key_size": a.key_size, "stored_key_count": stored,
            "max_key_count": a.max_key_count,
            "max_key_per_request": a.max_key_per_request,
            "max_key_size": a.max_key_size, "min_key_size": a.min_key_size,
            "max_SAE_ID_count": 0,
        })

    def enc_keys(self, master, slave, body, query, mode):
        a = self.server.args
        try:
            if body is None:
                number = int(query.get("number", ["1"])[0])
                size = int(query.get("size", [str(a.key_size)])[0])
            else:
                number = int(body.get("number", 1))
                size = int(body.get("size", a.key_size))
        except (TypeError, ValueError):
            return self.error(400, "bad number or size")
        if size % 8:
            return self.error(400, "size shall be a multiple of 8")
        if not a.min_key_size <= size <= a.max_key_size:
            return self.error(400, "size out of range")
        if not 1 <= number <= a.max_key_per_request:
            return self.error(400, "number out of range")
        if mode == "empty" or self.avail(master, slave) < number:
            return self.error(503, "keys not available")
        keys = []
        with LOCK:
            STATE["avail"][(master, slave)] -= number
            for i in range(number):
                kid = str(uuid.uuid4())
                if mode == "dupid" and i == 0 and STATE["last_id"]:
                    kid = STATE["last_id"]
                key = secrets.token_bytes(size // 8)
                STATE["pending"][kid] = (master, slave, key)
                keys.append({"key_ID": kid,
                             "key": base64.b64encode(key).decode()})
            STATE["last_id"] = keys[-1]["key_ID"]
            STATE["keys_enc"] += number
            if a.handed_out:
                with open(a.handed_out, "a") as f:
                    for k in keys:
                        f.write(base64.b64decode(k["key"]).hex() + "\n")
        self.reply(200, {"keys": keys})

    def dec_keys(self, slave, master, body, query, mode):
        if body is None:
            ids = query.get("key_ID", [""])[0].split(",")
        else:
            ids = [k.get("key_ID") if isinstance(k, dict) else None
                   for k in body.get("key_IDs", [])]
        if not ids or not all(isinstance(i, str) and i for i in ids):
            return self.error(400, "no key_IDs")
        with LOCK:
            found = [STATE["pending"].get(i) for i in ids]
            if any(f is None or f[0] != master or f[1] != slave
                   for f in found) or len(set(ids)) != len(ids):
                return self.error(
                    400, "one or more keys specified are not found on KME")
            for i in ids:
                del STATE["pending"][i]
            STATE["keys_dec"] += len(ids)
        keys = []
        for i, f in zip(ids, found):
            key = f[2]
            if mode == "wrongbytes":
                key = bytes(b ^ 0x5a for b in key)
            keys.append({"key_ID": i, "key": base64.b64encode(key).decode()})
        self.reply(200, {"keys": keys})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def finish_request(self, request, client_address):
        # The handshake in the connection's own thread: a slow client
        # does not hold up accept().  A certificate fault applies to
        # every handshake while it is on (the client is not known yet,
        # so its sae=, method= and count= do not apply).
        words = control_line(self.args).split()
        ctx = self.alt_ctx.get(words[0], self.ctx) if words else self.ctx
        try:
            request = ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.RequestHandlerClass(request, client_address, self)


def write_stats(path):
    if path:
        with LOCK:
            line = "keys_enc=%d keys_dec=%d requests=%d\n" % (
                STATE["keys_enc"], STATE["keys_dec"], STATE["requests"])
        with open(path + ".tmp", "w") as f:
            f.write(line)
        os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", required=True, help="HOST:PORT")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True, help="CA of the SAEs' certificates")
    p.add_argument("--sae", action="append", required=True,
                   help="an SAE ID (= its certificate's CN); twice or more")
    p.add_argument("--kme-id", default="KME-emulator")
    p.add_argument("--key-size", type=int, default=256)
    p.add_argument("--min-key-size", type=int, default=64)
    p.add_argument("--max-key-size", type=int, default=8192)
    p.add_argument("--max-key-per-request", type=int, default=128)
    p.add_argument("--max-key-count", type=int, default=100000)
    p.add_argument("--rate", type=float, default=0,
                   help="keys/s that come back per pair (0: always full)")
    p.add_argument("--fault", default="")
    p.add_argument("--control", help="file with a fault line, read per request")
    p.add_argument("--expired-cert", help="certificate (and key) for the expired fault")
    p.add_argument("--expired-key")
    p.add_argument("--untrusted-cert", help="certificate (and key) for the untrusted fault")
    p.add_argument("--untrusted-key")
    p.add_argument("--stats")
    p.add_argument("--handed-out", help="test only: hex of each key handed out")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()

    host, port = args.listen.rsplit(":", 1)

    def context(cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(args.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    srv = Server((host, int(port)), Handler)
    srv.ctx = context(args.cert, args.key)
    srv.alt_ctx = {}
    if args.expired_cert:
        srv.alt_ctx["expired"] = context(args.expired_cert, args.expired_key)
    if args.untrusted_cert:
        srv.alt_ctx["untrusted"] = context(args.untrusted_cert,
                                           args.untrusted_key)
    srv.args = args
    signal.signal(signal.SIGUSR1, lambda *_: write_stats(args.stats))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("kme emulator on %s" % args.listen, flush=True)
    try:
        srv.serve_forever()
    finally:
        write_stats(args.stats)


if __name__ == "__main__":
    main()
