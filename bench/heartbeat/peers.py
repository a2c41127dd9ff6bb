#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""N fake Kx peers for bench/heartbeat: each dials the daemon under test
with mutual TLS 1.3 as node P<i> (certificate DIR/P<i>.pem), says HELLO,
then behaves as qkdkmd's liveness does: a HEARTBEAT when it sent nothing
for HB_MS, an echo to a probe.  Runs until killed.

    peers.py DIR ADDR FIRST COUNT HB_MS     peers P<FIRST>..P<FIRST+COUNT-1>
"""
import asyncio, os, ssl, struct, sys, time

HELLO, HEARTBEAT = 1, 18
A_NODE, A_EPOCH, A_CODE, A_SEQ = 1, 2, 9, 15
PROBE, ECHO = 1, 2


def msg(mtype, attrs):
    body = b"".join(struct.pack(">HH", a, len(v)) + v for a, v in attrs)
    return b"QKX" + bytes([1, mtype, 0, 0, 0]) + struct.pack(">I", len(body)) + body


def beat(seq, code=0):
    attrs = [(A_CODE, struct.pack(">I", code))] if code else []
    return msg(HEARTBEAT, attrs + [(A_SEQ, struct.pack(">Q", seq))])


async def peer(d, host, port, i, hb_ms):
    name = "P%03d" % i
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(os.path.join(d, "ca.pem"))
    ctx.load_cert_chain(os.path.join(d, name + ".pem"), os.path.join(d, name + ".key"))
    ctx.check_hostname = False
    while True:
        try:
            r, w = await asyncio.open_connection(host, port, ssl=ctx)
            break
        except OSError:
            await asyncio.sleep(0.2)
    w.write(msg(HELLO, [(A_NODE, name.encode()),
                        (A_EPOCH, struct.pack(">Q", time.time_ns()))]))
    last_tx = [time.monotonic()]

    async def sender():
        seq = 0
        while True:
            await asyncio.sleep(hb_ms / 1000 / 4)
            if time.monotonic() - last_tx[0] >= hb_ms / 1000:
                seq += 1
                w.write(beat(seq))
                last_tx[0] = time.monotonic()
    task = asyncio.ensure_future(sender())
    try:
        while True:
            hdr = await r.readexactly(12)
            body = await r.readexactly(struct.unpack(">I", hdr[8:12])[0])
            if hdr[4] != HEARTBEAT:
                continue
            code, seq, pos = 0, 0, 0
            while pos < len(body):
                a, n = struct.unpack(">HH", body[pos:pos + 4])
                v = body[pos + 4:pos + 4 + n]
                if a == A_CODE:
                    code = struct.unpack(">I", v)[0]
                elif a == A_SEQ:
                    seq = struct.unpack(">Q", v)[0]
                pos += 4 + n
            if code == PROBE:
                w.write(beat(seq, ECHO))
                last_tx[0] = time.monotonic()
    except (OSError, asyncio.IncompleteReadError):
        task.cancel()


async def main():
    d, addr, first, n, hb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    host, port = addr.rsplit(":", 1)
    await asyncio.gather(*(peer(d, host, int(port), i, hb)
                           for i in range(first, first + n)))

asyncio.run(main())
