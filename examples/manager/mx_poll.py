#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A QKDN manager's view of another domain over Mx (Documentation/qkd/mx-mu.rst).

    mx_poll.py --ca CA --cert CERT --key KEY HOST:PORT...

Polls /mx/v1/summary and /mx/v1/alarms of every node given (the nodes of
the other domain, each answering for itself under that domain's policy
for this manager) and prints one JSON document for the domain:

    {"nodes": {NODE: summary}, "links_up": N, "links_down": N,
     "keys_supplied": N, "alarms": {SEVERITY: N}, "active": [alarm + node],
     "refused": {HOST:PORT: "HTTP 403: reason" or the TLS error}}

A resource the policy does not show is listed under "refused", not
guessed at.  Exits 1 if no node answered at all.
"""
import argparse
import http.client
import json
import ssl
import sys


def get(ctx, addr, path):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=ctx,
                                       timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    doc = json.loads(body)
    if r.status != 200:
        raise PermissionError(f"HTTP {r.status}: {doc.get('error', '')}")
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("nodes", nargs="+", metavar="HOST:PORT")
    a = ap.parse_args()
    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.load_cert_chain(a.cert, a.key)

    out = {"nodes": {}, "links_up": 0, "links_down": 0, "keys_supplied": 0,
           "alarms": {}, "active": [], "refused": {}}
    for addr in a.nodes:
        try:
            s = get(ctx, addr, "/mx/v1/summary")
            out["nodes"][s["node"]] = s
            out["links_up"] += s["links_up"]
            out["links_down"] += s["links_down"]
            out["keys_supplied"] += s["keys_supplied"]
            for sev, n in s["alarms"].items():
                out["alarms"][sev] = out["alarms"].get(sev, 0) + n
        except (OSError, ValueError, PermissionError) as e:
            out["refused"][addr + "/mx/v1/summary"] = str(e)
        try:
            al = get(ctx, addr, "/mx/v1/alarms")
            out["active"] += [dict(x, node=al["node"]) for x in al["active"]]
        except (OSError, ValueError, PermissionError) as e:
            out["refused"][addr + "/mx/v1/alarms"] = str(e)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0 if out["nodes"] or out["active"] else 1


if __name__ == "__main__":
    sys.exit(main())
