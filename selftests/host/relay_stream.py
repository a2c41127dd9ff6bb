#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Continuous ETSI 014 key requests across a relay, for reroute timing.

    relay_stream.py DIR SRC_ADDR MASTER DST_ADDR SLAVE SRC_SOCK STOP_FILE

Until STOP_FILE exists, a round starts every ROUND_MS (open loop, as
applications arrive independently): enc_keys (one key) for SLAVE at SRC as
MASTER, then dec_keys for it at DST as SLAVE, over kept-alive mutual-TLS
connections of the worker thread that runs it (so that the figures are the
daemons', not process start-up).  A round whose key was lost in a failure
waits for its dec_keys answer without holding up the rounds after it, so
"keys flow again" is measured on the requests made after the failure.
Prints one line per round: "START_MS END_MS OK ROUTE", times in wall-clock
ms (START is the scheduled start), OK 1 if both ends returned the
identical key, ROUTE the relay route SRC's daemon recorded for the key
("-" if unknown).
"""
import concurrent.futures, json, os, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qkd_host import Client, ctl, ctx

ROUND_MS = 20
WORKERS = 32

def route_of(sock, key_id):
    try:
        for x in ctl(sock, {"cmd": "relay show"}, 2)["data"]["sessions"]:
            if x["key_ID"] == key_id:
                return x["route"]
    except (OSError, ValueError, KeyError):
        pass
    return "-"

def main():
    d, src, master, dst, slave, sock, stop = sys.argv[1:8]
    local, out = threading.local(), threading.Lock()

    def round_trip(t0):
        if not hasattr(local, "enc"):
            local.enc = Client(src, ctx(d, master))
            local.dec = Client(dst, ctx(d, slave))
        ok, route = 0, "-"
        st, body = local.enc.request("GET", "/api/v1/keys/%s/enc_keys" % slave)
        if st == 200:
            k = json.loads(body)["keys"][0]
            req = json.dumps({"key_IDs": [{"key_ID": k["key_ID"]}]})
            st, body = local.dec.request("POST", "/api/v1/keys/%s/dec_keys" % master, req)
            ok = int(st == 200 and json.loads(body)["keys"][0]["key"] == k["key"])
            route = route_of(sock, k["key_ID"])
        with out:
            print("%d %d %d %s" % (t0 * 1000, time.time() * 1000, ok, route), flush=True)

    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        next_t = time.time()
        while not os.path.exists(stop):
            pool.submit(round_trip, next_t)
            next_t += ROUND_MS / 1000
            time.sleep(max(0, next_t - time.time()))

main()
