#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 4, acceptance 3 and 6: a relay message altered inside a trusted
# node is detected by the per-hop ITS MAC.  Node B runs a test build of
# qkdkmd (-DQKD_TEST_HOOKS, daemon/build/hooks/qkdkmd; production builds
# have no such hook) whose control socket can arm "flip one bit of the next
# sealed relay message".  The key is discarded at C, never delivered at D,
# an alarm is logged (without key bytes) and counted, the source hears the
# refusal; the next key relays fine.  Also a relayed message replayed is
# refused (unit-tested in test_relay.c: the pad it names is already used).
set -u
. "$(dirname "$0")/relay_lib.sh"
qkd_setup relay-tamper || exit 1
hooks=$QKD_TOP/daemon/build/hooks/qkdkmd
make -s -C "$QKD_TOP/daemon" build/hooks/qkdkmd >/dev/null
ok $? "test build of qkdkmd with -DQKD_TEST_HOOKS"
relay_topo A-B B-C C-D || { echo "not ok 2 - configs"; exit 1; }
qkd_start A && QKDKMD=$hooks qkd_start B && qkd_start C && qkd_start D &&
qkd_wait_peers A && qkd_wait_peers B && qkd_wait_peers C && qkd_wait_peers D
ok $? "line A-B-C-D up, B is the test build"
relay_wait_route A D; ok $? "A has a route to D"
qkd_settle

relay_pair_diag A app1 D app4; ok $? "before tampering: A->D identical"
relay_ctl A '{"cmd":"test tamper"}' | grep -q '"ok": *false'
ok $? "production build has no tamper hook (A refuses the command)"
relay_ctl B '{"cmd":"test tamper"}' | grep -q '"armed"'
ok $? "tamper hook armed at B"

enc=$(qkd_enc A app1 app4 "number=1")
[ "$(echo "$enc" | http_code)" = 200 ]; ok $? "enc_keys at A still answers (it does not wait for the relay)"
id=$(echo "$enc" | http_body | keys_of | awk '{print $1}')
key=$(echo "$enc" | http_body | keys_of | awk '{print $2}')
sleep 0.3
dec=$(qkd_dec D app4 app1 "$id")
[ "$(echo "$dec" | http_code)" = 400 ]
ok $? "tampered key is never delivered at D (got $(echo "$dec" | http_code): $(echo "$dec" | http_body | message_of))"
grep -q "relay alarm: key $id.*authentication failed" "$QKD_DIR/C.log"
ok $? "C logged an authentication alarm for the key"
relay_ctl C '{"cmd":"relay audit"}' | relay_py "[l for l in d['data'] if l['peer']=='B'][0]['rx']['auth_failures'] == 1 and [l for l in d['data'] if l['peer']=='B'][0]['rx']['balanced']" | grep -q yes
ok $? "C counts 1 auth failure on link B-C; pad accounting still balances (burnt pad counted)"
relay_ctl A '{"cmd":"relay show"}' | relay_py "[s['state'] for s in d['data']['sessions'] if s['key_ID']=='$id'][0]" | grep -q "refused at C"
ok $? "source A heard the refusal from C"
relay_ctl A '{"cmd":"key show"}' | relay_py "[k['state'] for k in d['data']['keys'] if k.get('key_id')=='$id']" > "$QKD_DIR/st" 2>/dev/null
grep -q destroyed "$QKD_DIR/st"; ok $? "A destroyed its record of the key ($(cat "$QKD_DIR/st"))"
hexkey=$(echo "$key" | base64 -d 2>/dev/null | od -An -tx1 | tr -d ' \n')
! grep -qF -e "$key" -e "$hexkey" "$QKD_DIR"/*.log
ok $? "no key bytes in any log"

relay_pair_diag A app1 D app4 "number=4"; ok $? "after the alarm: next keys relay fine"
tap_done
