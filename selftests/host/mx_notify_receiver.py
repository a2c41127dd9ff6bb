#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""An Mx notification receiver for selftests/host/mx_notify.sh, written
from the event format in Documentation/qkd/mx-mu.rst ("Notifications"),
not from the daemon's code.

HTTPS with mutual TLS: presents CERT/KEY, requires a client certificate
chained to CA.  Each POST to PATH is checked against the format; a good
event is appended to LOG as one JSON line {"peer": CLIENT_CN, "event":
{...}} and answered 204, anything else is logged as {"bad": why} and
answered 400.

Usage: mx_notify_receiver.py PORT CERT KEY CA PATH LOG
"""
import http.server
import json
import ssl
import sys

ALARM = {"id": int, "object": str, "event_type": str,
         "probable_cause": str, "severity": str, "since": int,
         "count": int, "text": str}
SEVERITIES = ("warning", "minor", "major", "critical")


def check(ev):
    """Why @ev is not an event of the documented format, or None."""
    if not isinstance(ev, dict):
        return "not an object"
    want = {"node": str, "manager": str, "boot": int, "seq": int,
            "event": str, "dropped": int, "alarm": dict}
    for k, t in want.items():
        if not isinstance(ev.get(k), t) or isinstance(ev.get(k), bool):
            return "field %s missing or not %s" % (k, t.__name__)
    if set(ev) != set(want):
        return "unexpected fields %s" % sorted(set(ev) - set(want))
    if ev["seq"] < 1 or ev["dropped"] < 0:
        return "seq or dropped out of range"
    if ev["event"] not in ("raised", "changed", "cleared"):
        return "event %r" % ev["event"]
    a = ev["alarm"]
    for k, t in ALARM.items():
        if not isinstance(a.get(k), t):
            return "alarm.%s missing or not %s" % (k, t.__name__)
    extra = set(a) - set(ALARM)
    if ev["event"] == "cleared":
        if extra != {"cleared"} or not isinstance(a["cleared"], int):
            return "a cleared event needs alarm.cleared"
    elif extra:
        return "unexpected alarm fields %s" % sorted(extra)
    if a["severity"] not in SEVERITIES:
        return "severity %r" % a["severity"]
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        cert = self.connection.getpeercert()
        peer = dict(x[0] for x in cert["subject"]).get("commonName", "")
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        why = None
        if self.path != PATH:
            why = "path %s" % self.path
        elif self.headers.get("Content-Type") != "application/json":
            why = "content type %s" % self.headers.get("Content-Type")
        else:
            try:
                ev = json.loads(body)
                why = check(ev)
            except ValueError as e:
                why = "not JSON: %s" % e
        with open(LOG, "a") as f:
            f.write(json.dumps({"bad": why} if why else
                               {"peer": peer, "event": ev}) + "\n")
        self.answer(400 if why else 204)


if __name__ == "__main__":
    port, cert, key, ca, PATH, LOG = sys.argv[1:7]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    srv = http.server.HTTPServer(("127.0.0.1", int(port)), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening", flush=True)
    srv.serve_forever()
