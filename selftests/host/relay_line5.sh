#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 4, acceptance 1 and 2: a 5-node line A-B-C-D-E of daemons with
# simulated links.  enc_keys at A for app5 (at E, four hops away) and
# dec_keys at E give identical keys, relayed through B, C and D (one-time
# pad + ITS MAC per hop); both directions; pad accounting per hop balances
# and no pad key range is used twice; bad input (unknown SAE, no route).
set -u
. "$(dirname "$0")/relay_lib.sh"
qkd_setup relay-line5 || exit 1
relay_topo A-B B-C C-D D-E || { echo "not ok 1 - configs"; exit 1; }
relay_start_all; ok $? "5 daemons start, every Kx channel up"
relay_wait_route A E; ok $? "A has a route to E (LSAs flooded)"
qkd_settle

path=$(relay_ctl A '{"cmd":"path","to":"E"}' | relay_py "'-'.join(d['data']['path'])")
[ "$path" = A-B-C-D-E ]; ok $? "path A->E is A-B-C-D-E (got $path)"

relay_pair_diag A app1 E app5; ok $? "enc_keys at A, dec_keys at E: identical key (4 hops)"
relay_pair_diag A app1 E app5 "number=8&size=512"; ok $? "8 keys of 512 bits A->E identical"
relay_pair_diag E app5 A app1 "number=3&size=1024"; ok $? "other direction: master at E, slave at A"
relay_pair_diag B app2 E app5 "number=2"; ok $? "B->E (3 hops)"
relay_pair_diag A app1 C app3 "number=2&size=4096"; ok $? "A->C, largest size 4096 bits (pad spans two link keys)"

# A key is delivered once only.
ids=$(echo "$RELAY_LAST_ENC" | http_body | keys_of | awk '{print $1}' | head -n 1)
dec=$(qkd_dec C app3 app1 "$ids")
[ "$(echo "$dec" | http_code)" = 400 ]; ok $? "a relayed key is not delivered twice"

sleep 0.5	# let the end-to-end acks come back
relay_ctl A '{"cmd":"relay show"}' > "$QKD_DIR/a_relay.json"
acked=$(relay_py "d['data']['acked']" < "$QKD_DIR/a_relay.json")
[ "$acked" -ge 10 ]; ok $? "source A got end-to-end acks ($acked)"

# Pad accounting audit, every node, every link direction.
audit_ok=0
for n in A B C D E; do
	relay_ctl "$n" '{"cmd":"relay audit"}' > "$QKD_DIR/audit_$n.json"
done
"$QKD_PY" - "$QKD_DIR" <<'PY' || audit_ok=1
import json, sys, os
d = sys.argv[1]
audit = {n: json.load(open(os.path.join(d, "audit_%s.json" % n)))["data"]
         for n in "ABCDE"}
bad = 0
hops = 0
for n, links in audit.items():
    for l in links:
        for side in ("tx", "rx"):
            a = l[side]
            taken = a["pad_bits_taken"]
            if not a["balanced"] or taken != a["relayed_bits"] + a["mac_key_bits"] + a["discarded_bits"]:
                print("# %s %s %s unbalanced: %r" % (n, l["link"], side, a)); bad += 1
            rs = sorted((k, k + ln) for k, ln in a["pad_ranges"])
            for (s1, e1), (s2, e2) in zip(rs, rs[1:]):
                if s2 < e1:
                    print("# %s %s %s: pad range used twice" % (n, l["link"], side)); bad += 1
        # what this end sent is exactly what the peer received
        peer = [x for x in audit[l["peer"]] if x["peer"] == n][0]
        if sorted(map(tuple, l["tx"]["pad_ranges"])) != sorted(map(tuple, peer["rx"]["pad_ranges"])):
            print("# %s->%s: pad ranges sent != received" % (n, l["peer"])); bad += 1
        if l["tx"]["relayed_bits"] != peer["rx"]["relayed_bits"]:
            print("# %s->%s: relayed bits differ" % (n, l["peer"])); bad += 1
        if l["tx"]["messages"]:
            hops += 1
            print("# %s->%s: %d msgs, pad %d bits = relayed %d + MAC key %d + discarded %d" % (
                n, l["peer"], l["tx"]["messages"], l["tx"]["pad_bits_taken"],
                l["tx"]["relayed_bits"], l["tx"]["mac_key_bits"], l["tx"]["discarded_bits"]))
sys.exit(1 if bad or hops < 4 else 0)
PY
ok $audit_ok "pad audit: every hop consumed == relayed + MAC key bits, ranges match, none used twice"

# The operator's view of the same: qkdctl path / relay audit / link down|up.
out=$(qkd_ctl A path E)
[ "$out" = "A -> E: A - B - C - D - E  (4 hops, cost ${out##*cost }" ]; ok $? "qkdctl path E: $out"
out=$(qkd_ctl C relay audit)
echo "$out" | grep -q balanced && ! echo "$out" | grep -q 'NOT BALANCED'
ok $? "qkdctl relay audit at C: every direction balanced"
qkd_ctl C link down D >/dev/null && out=$(qkd_ctl A path E)
case $out in *"no route"*) true ;; *) false ;; esac
ok $? "qkdctl link down D at C: no route A -> E ($out)"
qkd_ctl C link up D >/dev/null
relay_wait_route A E; ok $? "qkdctl link up D at C: route A -> E back"
qkd_ctl A path 2>/dev/null; [ $? = 2 ]; ok $? "qkdctl path without TO: usage error, exit 2"

# Bad input: the daemon keeps serving.
out=$(qkd_enc A app1 app9)
[ "$(echo "$out" | http_code)" = 400 ]; ok $? "unknown slave SAE: 400 ($(echo "$out" | http_body | message_of))"
qkd_stop E
sleep 0.3
out=$(qkd_enc A app1 app5)
code=$(echo "$out" | http_code)
[ "$code" = 503 ]; ok $? "destination down: 503 ($(echo "$out" | http_body | message_of))"
relay_pair_diag A app1 D app4; ok $? "A still serves A->D after the refusal"
tap_done
