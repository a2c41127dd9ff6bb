#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Helpers shared by the host tests' Python parts (relay_stream.py,
chaos.py, relay_lib.sh): ETSI 014 over kept-alive mutual TLS, and the
daemon's control socket.  As a program, for the shell helpers:

    qkd_host.py ctl SOCK JSON              one request, the JSON reply
    qkd_host.py path-change SOCK DST OLD MS   wall ms when SOCK's path to
                                           DST is neither OLD nor empty
    qkd_host.py peer-wait SOCK PEER STATES MS  wall ms when PEER's state
                                           is one of STATES ("down|connecting")
    qkd_host.py rejoin SOCK                ms from the control socket first
                                           answering to every peer up
Polls every 5 ms (rejoin: 2 ms); a wait that times out exits 1.
"""
import http.client, json, os, socket, ssl, sys, time


def ctx(d, sae):
    c = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    c.check_hostname = False
    c.load_cert_chain(os.path.join(d, sae + ".pem"), os.path.join(d, sae + ".key"))
    return c


class Client:
    def __init__(self, addr, context):
        self.host, port = addr.rsplit(":", 1)
        self.port, self.context, self.conn = int(port), context, None

    def request(self, method, path, body=None):
        for _ in range(2):	# one reconnect if the server closed it
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(
                        self.host, self.port, context=self.context, timeout=5)
                hdr = {"Content-Type": "application/json"} if body else {}
                self.conn.request(method, path, body, hdr)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                self.conn = None
        return 0, b""


def ctl_raw(sock, req, timeout=5):
    """One control socket request (a dict or a JSON string): the reply line."""
    if not isinstance(req, str):
        req = json.dumps(req)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        s.sendall(req.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            c = s.recv(65536)
            if not c:
                break
            buf += c
    finally:
        s.close()
    return buf.decode()


def ctl(sock, req, timeout=5):
    return json.loads(ctl_raw(sock, req, timeout))


def poll(fn, limit_ms, every=0.005):
    """Call fn() until it is true: the wall clock in ms then, or None."""
    t0 = time.monotonic()
    while (time.monotonic() - t0) * 1000 < limit_ms:
        try:
            if fn():
                return int(time.time() * 1000)
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(every)
    return None


def main(argv):
    cmd, sock = argv[1], argv[2]
    if cmd == "ctl":
        sys.stdout.write(ctl_raw(sock, argv[3]))
        return 0
    if cmd == "path-change":
        dst, old, limit = argv[3], argv[4], int(argv[5])
        def moved():
            p = "-".join(ctl(sock, {"cmd": "path", "to": dst}).get("data", {}).get("path", []))
            return p and p != old
        t = poll(moved, limit)
    elif cmd == "peer-wait":
        peer, states, limit = argv[3], argv[4].split("|"), int(argv[5])
        t = poll(lambda: any(p["peer"] == peer and p["state"] in states
                             for p in ctl(sock, {"cmd": "peer show"}).get("data", [])),
                 limit)
    elif cmd == "rejoin":
        ready = poll(lambda: ctl(sock, {"cmd": "status"}), 10000, 0.002)
        up = poll(lambda: all(p["state"] == "up" for p in
                              ctl(sock, {"cmd": "peer show"})["data"]) or None,
                  10000, 0.002)
        t = None if ready is None or up is None else up - ready
    else:
        return 2
    if t is None:
        return 1
    print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
