#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 4, configuration 4 (Y.3802 9.4): centralized key relay.  A ring
# of 6 nodes A-B-C-D-E-F-A with QKD links but no Kx channel between them;
# each node's only Kx peer is K, the central KM co-located with the QKDN
# controller (Kx').  K collects link and pool status, chooses every route,
# and carries every hop of every relay (and every direct key sync) from
# one node to the next.  K sees only one-time-padded key.
set -u
. "$(dirname "$0")/relay_lib.sh"
qkd_setup relay-central-km || exit 1
RELAY_CENTRAL=K relay_topo A-B B-C C-D D-E E-F F-A ||
	{ echo "not ok 1 - configs"; exit 1; }
# The example configs check, with this test's certificates.
for f in "$QKD_TOP"/examples/central-relay/*.conf; do
	cp "$f" "$QKD_DIR/example-${f##*/}"
	out=$("$QKDKMD" -c "$QKD_DIR/example-${f##*/}" --check 2>&1)
	ok $? "example ${f#"$QKD_TOP"/} checks ($out)"
done

relay_start_all; ok $? "7 daemons start, every Kx' channel up"
relay_wait_route C F && relay_wait_route A D
ok $? "C and A got routes from central KM K"
qkd_settle

relay_ctl C '{"cmd":"peer show"}' |
	relay_py "[p['peer'] for p in d['data']] == ['K']" | grep -q yes
ok $? "C's only Kx channel is the one to K"
relay_ctl C '{"cmd":"topology show"}' |
	relay_py "d['data']['key_relay'] == 'central' and d['data']['controller'] == 'K'" | grep -q yes
ok $? "C relays through central KM K"
p1=$(relay_ctl C '{"cmd":"path","to":"F"}' | relay_py "'-'.join(d['data']['path']) + ' ' + d['data']['source']")
case "$p1" in *" controller") true ;; *) false ;; esac
ok $? "C's path to F comes from K ($p1)"
p1=${p1% *}

fwd0=$(relay_ctl K '{"cmd":"relay show"}' | relay_py "d['data']['central_forwarded']")
relay_pair_diag C app3 F app6 "number=4"; ok $? "C->F, every hop through K: identical keys"
relay_pair_diag A app1 D app4 "number=2"; ok $? "A->D: identical keys"
relay_pair_diag B app2 C app3; ok $? "B->C (link neighbours, key sync through K): identical keys"
fwd1=$(relay_ctl K '{"cmd":"relay show"}' | relay_py "d['data']['central_forwarded']")
# Three-hop routes: per key a start, two relayed hops and three acks, all
# through K: C->F 4 x 6, A->D 2 x 6; B->C one reserve and its ack.
[ "$((fwd1 - fwd0))" -eq 38 ]
ok $? "K forwarded every message between the nodes ($((fwd1 - fwd0)), expected 38)"
relay_ctl K '{"cmd":"relay show"}' |
	relay_py "d['data']['central_refused'] == 0 and d['data']['delivered'] == 0" | grep -q yes
ok $? "K refused nothing and never held a relayed key"
relay_ctl D '{"cmd":"relay audit"}' |
	relay_py "all(l['tx']['balanced'] and l['rx']['balanced'] for l in d['data'])" | grep -q yes
ok $? "pad accounting at transit node D balances"

# Cut a link on C's path: K pushes a route around it, keys flow.
IFS=- read -r -a hops <<< "$p1"
relay_path_change C F "$p1" > "$QKD_DIR/conv" &
poller=$!
sleep 0.3
t0=$(date +%s%3N)
relay_ctl "${hops[2]}" "{\"cmd\":\"link down\",\"peer\":\"${hops[1]}\"}" >/dev/null
relay_wait_change $poller "$t0" "link ${hops[1]}-${hops[2]} down: K moved C's path to F" "$p1"
relay_pair_diag C app3 F app6 "number=2"; ok $? "C->F over the new route: identical keys"

# Without the central KM nothing is relayed, not even to a neighbour.
qkd_stop K KILL
sleep 4.5
out=$(qkd_enc C app3 app6)
[ "$(echo "$out" | http_code)" = 503 ]
ok $? "central KM down: C refuses relayed keys with 503 ($(echo "$out" | http_body | message_of))"
out=$(qkd_enc C app3 app4)
[ "$(echo "$out" | http_code)" != 200 ]
ok $? "... and neighbour keys too ($(echo "$out" | http_code): $(echo "$out" | http_body | message_of))"
tap_done
