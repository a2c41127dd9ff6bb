#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 21 (b): a 400 "not found" from dec_keys is final.  A line A-B-C,
# a key relayed from A (app1) to C (app3) held up in B (SIGSTOP) beyond
# dec_keys' 1 s wait at C: C answers "not found"; when B resumes and the
# relayed key arrives at C it is discarded there, C still answers "not
# found" for it, and A records the key destroyed, not delivered.
# Heartbeats are slowed here ([kx] heartbeat_ms) so that stopping B holds
# the key up instead of cutting the channels.
set -u
. "$(dirname "$0")/relay_lib.sh"
QKD_TIMEOUT=120
qkd_setup not-found-final || exit 1
relay_topo A-B B-C || { echo "not ok 1 - configs"; exit 1; }
sed -i 's/^\[kx\]$/[kx]\nheartbeat_ms = 1000\ndead_after = 20/' "$QKD_DIR"/*.conf
relay_start_all; ok $? "A, B, C up, every Kx channel up"
qkd_settle
relay_wait_route A C
relay_pair_diag A app1 C app3; ok $? "a relayed key A -> C (sanity)"

kill -STOP "${QKD_PID[B]}"
enc=$(qkd_enc A app1 app3 "number=1&size=256")
code=$(echo "$enc" | http_code)
[ "$code" = 200 ]; ok $? "enc_keys at A while B is stopped answers 200 (got $code)"
id=$(echo "$enc" | http_body | keys_of | awk '{print $1}')
dec=$(qkd_dec C app3 app1 "$id")
code=$(echo "$dec" | http_code)
msg=$(echo "$dec" | http_body | message_of)
[ "$code" = 400 ]; ok $? "dec_keys at C after its wait: 400 \"$msg\" (got $code)"
kill -CONT "${QKD_PID[B]}"
sleep 1.5	# the relayed key arrives at C, the refusal returns to A

dec=$(qkd_dec C app3 app1 "$id")
code=$(echo "$dec" | http_code)
[ "$code" = 400 ]; ok $? "the late key is never delivered at C: dec_keys again answers 400 (got $code)"
grep -q "key $id: answered not found" "$QKD_DIR/C.log"
ok $? "C tombstoned the key_ID it answered not found for"
state=$(relay_ctl A '{"cmd":"key show","limit":50}' |
	relay_py "[k['state'] for k in d['data']['keys'] if k['key_id']=='$id']")
[ "$state" = "['destroyed']" ]; ok $? "A records the key destroyed, not delivered ($state)"
grep -q "key $id.*duplicate" "$QKD_DIR/A.log" || grep -q "key $id: node .* refused it" "$QKD_DIR/A.log"
ok $? "A logged the refusal"
relay_pair_diag A app1 C app3; ok $? "the next relayed key is delivered"
for n in A B C; do
	qkd_stop "$n"; ok $? "$n stops cleanly"
done
tap_done
