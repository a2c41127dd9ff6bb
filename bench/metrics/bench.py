#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench/metrics helper: load keys into a node, time scrapes and status.

  bench.py load ETSI_ADDR CA DIR PAIRS KEYS_PER_PAIR PER_REQUEST
      enc_keys for each "MASTER:SLAVE" of PAIRS (comma-separated), each
      SAE's certificate DIR/MASTER.pem, until KEYS_PER_PAIR keys per pair
      were handed out; prints "keys=N seconds=S".
  bench.py time METRICS_ADDR CA CERT KEY CTL_SOCK N
      N scrapes of /metrics over one kept-alive TLS connection, then N
      "status" requests over one control socket connection; prints
      "scrape_us=... status_us=... scrape_bytes=... series=..." (medians).
"""
import http.client
import json
import socket
import ssl
import sys
import time


def tls_ctx(ca, cert, key):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    return ctx


def load(addr, ca, d, pairs, per_pair, per_req):
    host, port = addr.rsplit(":", 1)
    total, t0 = 0, time.monotonic()
    for pair in pairs.split(","):
        master, slave = pair.split(":")
        ctx = tls_ctx(ca, "%s/%s.pem" % (d, master), "%s/%s.key" % (d, master))
        conn = http.client.HTTPSConnection(host, int(port), context=ctx,
                                           timeout=30)
        got, fails = 0, 0
        while got < per_pair and fails < 200:
            n = min(per_req, per_pair - got)
            conn.request("GET", "/api/v1/keys/%s/enc_keys?number=%d" % (slave, n))
            r = conn.getresponse()
            body = r.read()
            if r.status == 200:
                got += len(json.loads(body)["keys"])
            else:
                fails += 1	# pool empty for now: the link refills it
                time.sleep(0.05)
        conn.close()
        total += got
    print("keys=%d seconds=%.1f" % (total, time.monotonic() - t0))


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def timing(addr, ca, cert, key, sock, n):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port),
                                       context=tls_ctx(ca, cert, key),
                                       timeout=30)
    scrape, size, series = [], 0, 0
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        body = r.read()
        scrape.append(time.perf_counter() - t)
        if r.status != 200:
            sys.exit("scrape: HTTP %d" % r.status)
        size = len(body)
    series = sum(1 for l in body.split(b"\n") if l and not l.startswith(b"#"))
    conn.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    f = s.makefile("rb")
    status = []
    for _ in range(n):
        t = time.perf_counter()
        s.sendall(b'{"cmd":"status"}\n')
        line = f.readline()
        status.append(time.perf_counter() - t)
        if not json.loads(line).get("ok"):
            sys.exit("status: %s" % line)
    s.close()
    print("scrape_us=%d status_us=%d scrape_bytes=%d series=%d" % (
        median(scrape) * 1e6, median(status) * 1e6, size, series))


def main(argv):
    if len(argv) == 8 and argv[1] == "load":
        load(argv[2], argv[3], argv[4], argv[5], int(argv[6]), int(argv[7]))
    elif len(argv) == 8 and argv[1] == "time":
        timing(argv[2], argv[3], argv[4], argv[5], argv[6], int(argv[7]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
