#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# Connection flood for conn_flood.sh: hold SILENT TCP connections that never
# send a byte and TLS connections that send their ClientHello and then stall,
# spread over the given ports on 127.0.0.1, for SECONDS.  Each connection
# comes from one of SOURCES loopback addresses 127.0.1.x (never 127.0.0.1,
# the address of the legitimate clients); a connection the server closes is
# opened again (at most REOPEN_RATE a second), as a persistent attacker
# would.  Prints "flooding" once
# all are opened, and at the end (SECONDS, or SIGTERM) one summary line:
#   opened=N closed_by_server=N refused=N peak_open=N
# FLOOD_VERBOSE=1: a progress line a second on stderr.
#
#   conn_flood.py SECONDS SILENT TLS SOURCES PORT...
import errno
import os
import signal
import selectors
import socket
import ssl
import sys
import time


REOPEN_RATE = 2000


def main():
    seconds, silent, tls, sources = (int(a) for a in sys.argv[1:5])
    ports = [int(p) for p in sys.argv[5:]]
    verbose = bool(os.environ.get("FLOOD_VERBOSE"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sel = selectors.DefaultSelector()
    stats = {"opened": 0, "closed_by_server": 0, "refused": 0, "peak_open": 0}
    live = {}
    stop = []
    n = 0

    def open_one(slot):
        nonlocal n
        kind, port = slot
        src = "127.0.1.%d" % (1 + n % sources)
        n += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((src, 0))
            s.connect_ex(("127.0.0.1", port))
        except OSError:
            s.close()
            stats["refused"] += 1
            return
        if kind == "tls":
            s = ctx.wrap_socket(s, do_handshake_on_connect=False)
        live[s.fileno()] = (s, slot, False)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        stats["opened"] += 1
        stats["peak_open"] = max(stats["peak_open"], len(live))

    slots = []
    for i in range(silent):
        slots.append(("silent", ports[i % len(ports)]))
    for i in range(tls):
        slots.append(("tls", ports[i % len(ports)]))
    for slot in slots:
        open_one(slot)
    end = time.monotonic() + seconds
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("flooding", flush=True)
    reopen = []
    last_reopen = time.monotonic()
    next_note = 0
    while time.monotonic() < end and not stop:
        if verbose and time.monotonic() >= next_note:
            next_note = time.monotonic() + 1
            print("# %.1f s left: live=%d closed=%d" %
                  (end - time.monotonic(), len(live),
                   stats["closed_by_server"]), file=sys.stderr, flush=True)
        for key, ev in sel.select(timeout=0.05):
            s = key.fileobj
            fd = s.fileno()
            s_, slot, hello = live[fd]
            if ev & selectors.EVENT_WRITE and not hello:
                # Connected: a TLS client says hello once, then stalls.
                if slot[0] == "tls":
                    try:
                        s.do_handshake()
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        pass
                    except (OSError, ssl.SSLError):
                        pass
                live[fd] = (s, slot, True)
                sel.modify(s, selectors.EVENT_READ)
                continue
            if ev & selectors.EVENT_READ:
                # The server spoke (a TLS flight) or closed: closed means
                # EOF or reset; else stall on.
                try:
                    # The raw bytes: a stalled client never decrypts.
                    data = socket.socket.recv(s, 65536)
                except (BlockingIOError, ssl.SSLWantReadError):
                    continue
                except OSError as e:
                    data = b"" if e.errno != errno.EAGAIN else None
                if data is None or data:
                    continue
                sel.unregister(s)
                del live[fd]
                s.close()
                stats["closed_by_server"] += 1
                reopen.append(slot)
        # Reopen at most REOPEN_RATE a second: the flooder shares the
        # daemons' CPUs here, which a remote attacker would not.
        budget = int((time.monotonic() - last_reopen) * REOPEN_RATE)
        if budget:
            last_reopen = time.monotonic()
        while reopen and budget and time.monotonic() < end and not stop:
            open_one(reopen.pop())
            budget -= 1
    print(" ".join("%s=%d" % kv for kv in stats.items()), flush=True)
    for s, _, _ in live.values():
        s.close()


if __name__ == "__main__":
    main()
