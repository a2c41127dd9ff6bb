#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A QKDN manager that hears another domain's alarms over Mx (Documentation/qkd/mx-mu.rst, "Notifications").

    mx_receiver.py --listen HOST:PORT --path PATH --ca CA --cert CERT \\
        --key KEY NODE=HOST:PORT...

Receives the alarm events the nodes of the other domain POST to it (its
certificate is the one with the [manager] cert_cn; CA is the other
domain's CA, which issued the nodes' certificates) and keeps each node's
active alarms.  On a node's first event, a gap in its "seq" or a new
"boot", it polls that node's /mx/v1/alarms (with the same certificate)
and applies only the events after the "notify.seq" of that answer.
After each change it prints one JSON line:

    {"node": NODE, "seq": N, "resync": bool, "active": [alarm...]}
"""
import argparse
import http.client
import http.server
import json
import ssl
import threading

nodes = {}		# NODE: {"boot", "seq", "active": {id: alarm}}
lock = threading.Lock()


def poll(args, addr):
    host, port = addr.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.check_hostname = False	# nodes are named by their CN, not host
    ctx.load_cert_chain(args.cert, args.key)
    conn = http.client.HTTPSConnection(host, int(port), context=ctx,
                                       timeout=10)
    try:
        conn.request("GET", "/mx/v1/alarms")
        r = conn.getresponse()
        doc = json.loads(r.read())
    finally:
        conn.close()
    if r.status != 200:
        raise PermissionError(f"HTTP {r.status}: {doc.get('error', '')}")
    return doc


def apply(ev, st):
    a = ev["alarm"]
    if ev["event"] == "cleared":
        st["active"].pop(a["id"], None)
    else:
        st["active"][a["id"]] = a
    st["seq"] = ev["seq"]


def handle(args, ev):
    node = ev["node"]
    st = nodes.get(node)
    resync = (st is None or st["boot"] != ev["boot"] or
              ev["seq"] != st["seq"] + 1)
    if resync:
        doc = poll(args, args.nodes[node])
        st = {"boot": ev["boot"], "seq": doc["notify"]["seq"],
              "active": {a["id"]: a for a in doc["active"]}}
        nodes[node] = st
    if ev["seq"] > st["seq"]:	# else the poll already has it
        apply(ev, st)
    print(json.dumps({"node": node, "seq": st["seq"], "resync": resync,
                      "active": list(st["active"].values())}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("nodes", nargs="+", metavar="NODE=HOST:PORT")
    args = ap.parse_args()
    args.nodes = dict(n.split("=", 1) for n in args.nodes)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            code = 204
            try:
                ev = json.loads(body)
                if self.path != args.path or ev["node"] not in args.nodes:
                    code = 404
                else:
                    with lock:
                        handle(args, ev)
            except (ValueError, KeyError, OSError, PermissionError):
                code = 400	# the node retries; we resync then
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.load_verify_locations(args.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    host, port = args.listen.rsplit(":", 1)
    srv = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
