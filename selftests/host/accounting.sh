#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 19, acceptance 2: accounting totals equal what the applications
# received.  A line A-B-C; curl drives three SAE pairs over ETSI 014 at
# once: app1 -> app2 (A-B, direct), app1 -> app3 (A to C, relayed through
# B) and app3 -> app2 (C-B, direct).  B is killed with -9 mid-run and
# restarted, later stopped and started cleanly.  Then every node's
# "account show" must count, per pair, exactly the keys curl got from it
# (enc_keys at the master's node, dec_keys at the slave's, relayed ones
# as relayed) and the refusals of an unknown SAE; the CSV export parses
# with python3's csv module and adds up, the JSON export parses with jq.
# B keeps a 60 s interval so that all it counted before the crash is in
# its journal only; A and C close an interval every second.
set -u
. "$(dirname "$0")/relay_lib.sh"
qkd_setup accounting || exit 1
relay_topo A-B B-C || { echo "not ok 1 - configs"; exit 1; }
printf '[accounting]\ninterval = 1\n' >> "$QKD_DIR/A.conf"
printf '[accounting]\ninterval = 60\n' >> "$QKD_DIR/B.conf"
printf '[accounting]\ninterval = 1\n' >> "$QKD_DIR/C.conf"
relay_start_all; ok $? "A, B, C start, Kx channels up"
relay_wait_route A C; ok $? "A has a route to C"
qkd_settle

got=$QKD_DIR/got	# one line per answer with keys: "NODE OP MASTER SLAVE KEYS"
stop_flag=$QKD_DIR/stop
: > "$got"

# fcurl NODE SAE PATH [curl args]: like qkd_curl, with few processes (the
# host is loaded): sets CODE and BODY.
fcurl() {
	local node=$1 sae=$2 path=$3 out; shift 3
	out=$(curl -sS --max-time 10 --cacert "$QKD_DIR/ca.pem" \
		--cert "$QKD_DIR/$sae.pem" --key "$QKD_DIR/$sae.key" \
		-w '\nHTTP %{http_code}' "$@" "https://${QKD_ETSI[$node]}$path" 2>/dev/null)
	CODE=${out##*HTTP }
	BODY=${out%$'\n'HTTP*}
}

# pair ENC_NODE MASTER DEC_NODE SLAVE: enc_keys, then dec_keys of its IDs;
# one line in $got for each answer that carried keys, with their number.
pair_traffic() {
	local enc=$1 master=$2 dec=$3 slave=$4 n line
	while [ ! -e "$stop_flag" ]; do
		n=$((RANDOM % 4 + 1))
		fcurl "$enc" "$master" "/api/v1/keys/$slave/enc_keys?number=$n&size=256"
		if [ "$CODE" != 200 ]; then
			echo "$enc enc $master $slave $CODE $BODY" >> "$QKD_DIR/refused"
			sleep 0.1
			continue
		fi
		# count and the dec_keys body in one jq
		line=$(jq -r '"\(.keys | length) \({key_IDs: [.keys[] | {key_ID}]} | tojson)"' <<<"$BODY")
		echo "$enc enc $master $slave ${line%% *}" >> "$got"
		fcurl "$dec" "$slave" "/api/v1/keys/$master/dec_keys" \
			-H 'Content-Type: application/json' --data-binary "${line#* }"
		if [ "$CODE" = 200 ]; then
			echo "$dec dec $master $slave $(jq '.keys | length' <<<"$BODY")" >> "$got"
		else
			echo "$dec dec $master $slave $CODE $BODY" >> "$QKD_DIR/refused"
		fi
	done
}

pair_traffic A app1 B app2 & p1=$!
pair_traffic A app1 C app3 & p2=$!
pair_traffic C app3 B app2 & p3=$!
# Kill B once it has handed out keys of both its pairs.
for ((i = 0; i < 300; i++)); do
	grep -q '^B dec app1 app2' "$got" && grep -q '^B dec app3 app2' "$got" && break
	sleep 0.1
done
sleep 1
qkd_stop B KILL
diag "killed B (-9) after $(wc -l < "$got") answers with keys"
sleep 0.5
qkd_start B; ok $? "B restarts after kill -9"
qkd_wait_peers B; ok $? "B's Kx channels back"
grep -q "left open by a crash" "$QKD_DIR/B.log"
ok $? "B closed the interval the crash left open from its journal"
sleep 3
touch "$stop_flag"
wait $p1 $p2 $p3
qkd_stop B; ok $? "B stops cleanly"
qkd_start B; ok $? "B starts again"

# Refusals: an unknown slave SAE, 3 requests for 2 keys each.
for i in 1 2 3; do
	out=$(qkd_enc A app1 app9 "number=2")
	[ "$(echo "$out" | http_code)" = 400 ] || diag "app9: $(echo "$out" | tail -n 1)"
done

for n in A B C; do
	qkd_ctl "$n" account show --json > "$QKD_DIR/acct_$n.json"
	qkd_ctl "$n" account show --csv > "$QKD_DIR/acct_$n.csv"
done
diag "answers with keys: $(wc -l < "$got"); per node and pair:"
awk '{ s[$1" "$2" "$3"->"$4] += $5 } END { for (k in s) print "#   " k ": " s[k] }' "$got" | sort

# Every node, every pair: accounting == what curl got.
"$QKD_PY" - "$QKD_DIR" <<'PY'
import json, os, sys
d = sys.argv[1]
want = {}
for line in open(os.path.join(d, "got")):
    node, op, m, s, k = line.split()
    key = (node, m, s)
    w = want.setdefault(key, {"enc_keys": 0, "dec_keys": 0})
    w[op + "_keys"] += int(k)
relayed = {("app1", "app3")}
bad = 0
n = 0
for node in "ABC":
    acct = json.load(open(os.path.join(d, "acct_%s.json" % node)))
    pairs = {(p["master"], p["slave"]): p["total"] for p in acct["pairs"]}
    for (wn, m, s), w in sorted(want.items()):
        if wn != node:
            continue
        t = pairs.get((m, s), {})
        for f in ("enc_keys", "dec_keys"):
            n += 1
            if t.get(f, 0) != w[f]:
                print("# %s %s->%s %s: accounted %s, curl got %d" %
                      (node, m, s, f, t.get(f), w[f]))
                bad += 1
        keys = w["enc_keys"] + w["dec_keys"]
        if t.get("enc_bits", 0) + t.get("dec_bits", 0) != 256 * keys:
            print("# %s %s->%s: bits %s, want %d" % (node, m, s,
                  t.get("enc_bits", 0) + t.get("dec_bits", 0), 256 * keys))
            bad += 1
        want_rel = keys if (m, s) in relayed else 0
        if t.get("relayed_keys") != want_rel:
            print("# %s %s->%s: relayed %s, want %d" % (node, m, s,
                  t.get("relayed_keys"), want_rel))
            bad += 1
print("# %d counters compared" % n)
sys.exit(1 if bad or n < 12 else 0)
PY
ok $? "every node's totals per pair equal the keys curl received (enc, dec, bits, relayed)"

jq -e '[.pairs[] | select(.master == "app1" and .slave == "*") | .total.refused.unknown_sae] == [6]' \
	"$QKD_DIR/acct_A.json" >/dev/null
ok $? "A: 6 keys refused to app1 for the unknown SAE app9, as unknown_sae"

for n in A B C; do
	jq -e '.pairs and .saes and .intervals and .open.seq' "$QKD_DIR/acct_$n.json" >/dev/null
	ok $? "$n: the JSON export parses with jq"
done

# CSV: parses; per pair, closed + open intervals add up to the total.
"$QKD_PY" - "$QKD_DIR" <<'PY'
import csv, os, sys
d = sys.argv[1]
bad = 0
for node in "ABC":
    rows = list(csv.DictReader(open(os.path.join(d, "acct_%s.csv" % node), newline="")))
    if not rows:
        print("# %s: empty CSV" % node); bad += 1
        continue
    sums, totals = {}, {}
    for r in rows:
        key = (r["master"], r["slave"])
        nums = {k: int(v) for k, v in r.items()
                if k not in ("kind", "master", "slave", "seq", "start", "end")}
        if r["kind"] == "total":
            totals[key] = nums
        else:
            s = sums.setdefault(key, dict.fromkeys(nums, 0))
            for k, v in nums.items():
                s[k] += v
    for key, t in totals.items():
        if sums.get(key, dict.fromkeys(t, 0)) != t:
            print("# %s %s: intervals %s != total %s" % (node, key, sums.get(key), t))
            bad += 1
    ivs = sum(1 for r in rows if r["kind"] == "interval")
    print("# %s: %d CSV rows, %d closed intervals" % (node, len(rows), ivs))
sys.exit(1 if bad else 0)
PY
ok $? "the CSV exports parse (python3 csv) and their intervals add up to the totals"

# The on-disk format, read by a reader written from accounting.rst: B's
# log (B was stopped cleanly, so everything is in closed intervals) holds
# exactly the totals B shows.
"$QKD_PY" - "$QKD_DIR" <<'PY'
import json, os, struct, sys, zlib
d = sys.argv[1]
data = open(os.path.join(d, "state-B", "accounting.log"), "rb").read()
names = ["enc_keys", "enc_bits", "dec_keys", "dec_bits", "relayed_keys",
         "relayed_bits", "requests", "enc_refused", "dec_refused"]
off, staged, totals, closes = 0, [], {}, 0
while off < len(data):
    assert data[off:off + 2] == b"QA", "bad magic at %d" % off
    plen, crc = struct.unpack_from("<HI", data, off + 2)
    p = data[off + 8:off + 8 + plen]
    assert len(p) == plen and zlib.crc32(p) == crc, "bad frame at %d" % off
    off += 8 + plen
    ver, typ = p[0], p[1]
    seq, start, end = struct.unpack_from("<QQQ", p, 2)
    i = 26
    m = p[i + 1:i + 1 + p[i]].decode(); i += 1 + p[i]
    s = p[i + 1:i + 1 + p[i]].decode(); i += 1 + p[i]
    n = p[i]; i += 1
    c = struct.unpack_from("<%dQ" % n, p, i)
    assert ver == 1 and n >= 17 and start <= end
    if typ == 2:
        staged.append((m, s, c))
    elif typ == 3:
        closes += 1
        for m2, s2, c2 in staged:
            t = totals.setdefault((m2, s2), [0] * 17)
            for k in range(17):
                t[k] += c2[k]
        assert [sum(x[2][k] for x in staged) for k in range(17)] == list(c[:17])
        staged = []
assert not staged, "records without CLOSE at the end"
shown = json.load(open(os.path.join(d, "acct_B.json")))
bad = 0
for p in shown["pairs"]:
    t = totals.get((p["master"], p["slave"]), [0] * 17)
    for k, f in enumerate(names):
        if t[k] != p["total"][f] - p["open"][f]:
            print("# %s->%s %s: file %d, shown %d" % (p["master"], p["slave"], f, t[k], p["total"][f]))
            bad += 1
print("# B's log: %d bytes, %d closed intervals, %d pairs" % (len(data), closes, len(totals)))
sys.exit(1 if bad or not totals else 0)
PY
ok $? "B's accounting.log, read by a reader written from accounting.rst, holds B's totals"

# The human view.
qkd_ctl A account show | grep -q '^app1 -> app2: enc_keys'
ok $? "qkdctl account show prints the pairs"
tap_done
