#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Accounting of the node's own consumers, through the files and the
# exports (Documentation/qkd/accounting.rst): a writer in python3 from
# the record format puts into A's state_dir a log with closed intervals
# of SAE pairs and consumers (records version 1 and 2) and a journal with
# the events of an interval a crash left open.  Then qkdkmd must close
# that interval at start, "account show --json" list the consumers apart
# from the pairs with the totals written, "--csv" (python3's csv module)
# give the consumer rows with their peer and the pairs' rows as before,
# and after a clean stop the log, read back by a reader from the same
# document, must hold those totals.  (That the consumers take and report
# the keys is daemon/apps/tests/test_rotate.c and the WireGuard VM test.)
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup accounting-consumers || exit 1
qkd_line A || { echo "not ok 1 - configs"; exit 1; }

# The records: interval 1 and 2 closed in the log, interval 3's events
# in the journal only.
"$QKD_PY" - "$QKD_DIR/state-A" <<'PY'
import os, struct, sys, zlib
d = sys.argv[1]
N = ["enc_keys", "enc_bits", "dec_keys", "dec_bits", "relayed_keys",
     "relayed_bits", "requests", "enc_refused", "dec_refused",
     "unauthorized", "unknown_sae", "bad_request", "not_found",
     "out_of_keys", "unreachable", "unavailable", "undelivered"]
def counts(**kw):
    return [kw.get(n, 0) for n in N]
def frame(typ, seq, start, end, names, c):
    p = bytes([2 if len(names) == 3 else 1, typ])
    p += struct.pack("<QQQ", seq, start, end)
    for n in names:
        p += bytes([len(n)]) + n.encode()
    p += bytes([len(c)]) + struct.pack("<%dQ" % len(c), *c)
    return b"QA" + struct.pack("<HI", len(p), zlib.crc32(p)) + p
def interval(seq, recs):
    out = b"".join(frame(2, seq, 1000 * seq, 1000 * seq + 60, n, c) for n, c in recs)
    s = [sum(c[k] for _, c in recs) for k in range(17)]
    return out + frame(3, seq, 1000 * seq, 1000 * seq + 60, ["*", "*"], s)
wg = ["wireguard:w0", "B", "AB"]
ms = ["macsec:m0", "B", "AB"]
log = interval(1, [(["app1", "app2"], counts(enc_keys=3, enc_bits=768, requests=1)),
                   (wg, counts(enc_keys=2, enc_bits=512, requests=2))])
log += interval(2, [(wg, counts(enc_keys=1, enc_bits=256, requests=1,
                                enc_refused=2, out_of_keys=2)),
                    (ms, counts(dec_keys=4, dec_bits=512, requests=4,
                                dec_refused=1, not_found=1))])
journal = b"".join(frame(1, 3, 3000, 3001 + i, wg,
                         counts(enc_keys=1, enc_bits=256, requests=1))
                   for i in range(3))
journal += frame(1, 3, 3000, 3010, ["kernel_push:AB", "B", "AB"],
                 counts(enc_keys=1, enc_bits=8192, requests=1))
open(os.path.join(d, "accounting.log"), "wb").write(log)
open(os.path.join(d, "accounting.journal"), "wb").write(journal)
PY
ok $? "A's accounting.log and journal written from accounting.rst (SAE pair and consumer records)"

qkd_start A; ok $? "A starts on them"
grep -q 'interval 3 left open by a crash, closed now' "$QKD_DIR/A.log"
ok $? "the journal's interval is closed into the log at start"

qkd_ctl A account show --json > "$QKD_DIR/acct.json" &&
	qkd_ctl A account show --csv > "$QKD_DIR/acct.csv" &&
	qkd_ctl A account show > "$QKD_DIR/acct.txt"
ok $? "account show --json, --csv and text"

# JSON: wireguard:w0 took 2 + 1 + 3 keys of 32 bytes, refused 2; the
# pairs' lists hold the SAE pair only.
jq -e '(.pairs | length == 1) and (.pairs[0].master == "app1") and
	(.saes | map(.sae) | sort == ["app1", "app2"]) and
	(.intervals | length == 1) and
	(.consumers | length == 3) and
	(.consumer_intervals | length == 5) and
	(.consumers[] | select(.consumer == "wireguard:w0") |
	 .kind == "wireguard" and .name == "w0" and .peer == "B" and
	 .link == "AB" and .taken_keys == 6 and .taken_bits == 1536 and
	 .refused_keys == 2 and .total.refused.out_of_keys == 2) and
	(.consumers[] | select(.consumer == "macsec:m0") |
	 .total.dec_keys == 4 and .total.refused.not_found == 1) and
	(.consumers[] | select(.consumer == "kernel_push:AB") |
	 .taken_bits == 8192)' "$QKD_DIR/acct.json" >/dev/null
ok $? "--json: consumers with their totals, apart from the SAE pairs"

"$QKD_PY" - "$QKD_DIR/acct.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
bad = 0
pairs = [r for r in rows if not r["kind"].startswith("consumer_")]
cons = [r for r in rows if r["kind"].startswith("consumer_")]
# The SAE pair's rows, and the columns, as before.
if sorted(r["kind"] for r in pairs) != ["interval", "total"] or \
   list(rows[0])[-1] != "refused_undelivered":
    print("# pair rows: %r" % pairs); bad += 1
# Per consumer: intervals add up to the total; every row has its peer.
for who in ("wireguard:w0", "macsec:m0", "kernel_push:AB"):
    mine = [r for r in cons if r["master"] == who]
    tot = [r for r in mine if r["kind"] == "consumer_total"]
    ivs = [r for r in mine if r["kind"] == "consumer_interval"]
    if len(tot) != 1 or any(r["slave"] != "B" for r in mine):
        print("# %s: rows %r" % (who, mine)); bad += 1
        continue
    for f in ("enc_bits", "dec_bits", "enc_refused", "dec_refused", "refused_out_of_keys"):
        if sum(int(r[f]) for r in ivs) != int(tot[0][f]):
            print("# %s %s: intervals %d, total %s" % (who, f, sum(int(r[f]) for r in ivs), tot[0][f])); bad += 1
w = [r for r in cons if r["master"] == "wireguard:w0" and r["kind"] == "consumer_total"]
if not w or int(w[0]["enc_bits"]) != 1536:
    print("# wireguard:w0 total %r" % w); bad += 1
print("# %d CSV rows, %d of consumers" % (len(rows), len(cons)))
sys.exit(1 if bad else 0)
PY
ok $? "--csv parses (python3 csv): consumer rows with their peer, adding up; the pair's rows as before"

grep -qx 'consumer wireguard:w0 (peer B, link AB): took 6 keys (1536 bits), refused 2 out_of_keys=2' "$QKD_DIR/acct.txt"
ok $? "account show prints the consumers"

qkd_stop A; ok $? "A stops cleanly"

# The log read back by a reader from accounting.rst: per name triple, the
# INTERVAL records of intervals with their CLOSE.
"$QKD_PY" - "$QKD_DIR/state-A/accounting.log" "$QKD_DIR/acct.json" <<'PY'
import json, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
off, staged, totals = 0, [], {}
while off < len(data):
    assert data[off:off + 2] == b"QA", "bad magic at %d" % off
    plen, crc = struct.unpack_from("<HI", data, off + 2)
    p = data[off + 8:off + 8 + plen]
    assert len(p) == plen and zlib.crc32(p) == crc, "bad frame at %d" % off
    off += 8 + plen
    ver, typ = p[0], p[1]
    assert ver in (1, 2)
    i, names = 26, []
    for _ in range(ver + 1):
        names.append(p[i + 1:i + 1 + p[i]].decode()); i += 1 + p[i]
    c = struct.unpack_from("<%dQ" % p[i], p, i + 1)
    if typ == 2:
        staged.append((tuple(names), c))
    elif typ == 3:
        for k, c2 in staged:
            t = totals.setdefault(k, [0] * 17)
            for j in range(17):
                t[j] += c2[j]
        assert [sum(x[1][j] for x in staged) for j in range(17)] == list(c[:17])
        staged = []
shown = json.load(open(sys.argv[2]))
bad = 0
for o in shown["consumers"]:
    t = totals.get((o["consumer"], o["peer"], o["link"]))
    if not t or t[1] + t[3] != o["taken_bits"]:
        print("# %s: file %r, shown %d bits" % (o["consumer"], t, o["taken_bits"])); bad += 1
print("# log: %d bytes, %d name triples or pairs" % (len(data), len(totals)))
sys.exit(1 if bad or len(totals) != 4 else 0)
PY
ok $? "A's log, read by a reader from accounting.rst, holds the consumers' totals as version 2 records"
tap_done
