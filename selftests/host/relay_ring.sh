#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 4, acceptance 1 and 4: a ring of 6 daemons A-B-C-D-E-F-A.  Keys
# relayed between opposite nodes A and D are identical at both ends; then,
# under continuous key requests, (1) a link on the active path is marked
# down over the control socket and (2) a relay node on the active path is
# killed: keys flow again over the other side of the ring.  The time from
# the cut to the first key pair delivered over the new path is measured
# (TAP comment) and must stay under RELAY_REROUTE_MAX_MS (default 3000;
# the target is 1000).  The route change is timed separately by polling
# A's path view every 5 ms; "keys flow again" includes curl and python
# overhead of one enc_keys + dec_keys round.
set -u
. "$(dirname "$0")/relay_lib.sh"
qkd_setup relay-ring || exit 1
relay_topo A-B B-C C-D D-E E-F F-A || { echo "not ok 1 - configs"; exit 1; }
relay_start_all; ok $? "6 daemons start, every Kx channel up"
relay_wait_route A D; ok $? "A has a route to D"
qkd_settle
max_ms=${RELAY_REROUTE_MAX_MS:-3000}

path_of() { relay_ctl A '{"cmd":"path","to":"D"}' | relay_py "'-'.join(d['data'].get('path', []))"; }
now_ms() { date +%s%3N; }

relay_pair_diag A app1 D app4 "number=4"; ok $? "A->D over the ring: identical keys"
relay_pair_diag D app4 A app1 "number=2"; ok $? "D->A: identical keys"

# (1) Operator marks the first link of the active path down at its far end.
p1=$(path_of); diag "active path $p1"
IFS=- read -r -a hops <<< "$p1"
relay_path_change A D "$p1" > "$QKD_DIR/conv" &
poller=$!
sleep 0.3	# the poller is polling
t0=$(now_ms)
relay_ctl "${hops[2]}" "{\"cmd\":\"link down\",\"peer\":\"${hops[1]}\"}" | grep -q '"ok": *true'
ok $? "link ${hops[1]}-${hops[2]} marked down at ${hops[2]} (control socket)"
wait $poller; ok $? "A's route moved off the cut link within $(($(cat "$QKD_DIR/conv") - t0)) ms (LSA flooding)"
tries=0
until relay_pair A app1 D app4 && [ "$(path_of)" != "$p1" ]; do
	tries=$((tries + 1)); [ $tries -lt 200 ] || break
done
t1=$(now_ms)
p2=$(path_of)
[ "$p2" != "$p1" ] && [ -n "$p2" ] && [ $((t1 - t0)) -le "$max_ms" ]
ok $? "keys flow again over $p2 after $((t1 - t0)) ms ($tries failed tries)"
diag "reroute after link down: $((t1 - t0)) ms"
relay_ctl "${hops[2]}" "{\"cmd\":\"link up\",\"peer\":\"${hops[1]}\"}" >/dev/null

# (2) Kill a relay node of the active path that is not A's neighbour:
# A learns of it only through its neighbours' LSAs.
sleep 1.5
p1=$(path_of); diag "active path $p1"
IFS=- read -r -a hops <<< "$p1"
victim=${hops[2]}
relay_path_change A D "$p1" > "$QKD_DIR/conv" &
poller=$!
sleep 0.3	# the poller is polling
t0=$(now_ms)
qkd_stop "$victim" KILL
wait $poller; ok $? "A's route avoids killed node $victim within $(($(cat "$QKD_DIR/conv") - t0)) ms"
tries=0
until relay_pair A app1 D app4; do
	tries=$((tries + 1)); [ $tries -lt 200 ] || break
done
t1=$(now_ms)
p2=$(path_of)
case "$p2" in *"$victim"*) false ;; "") false ;; *) true ;; esac &&
[ $((t1 - t0)) -le "$max_ms" ]
ok $? "node $victim killed: keys flow over $p2 after $((t1 - t0)) ms ($tries failed tries)"
diag "reroute after node kill: $((t1 - t0)) ms"

# Keys keep flowing, and no key fetched at D ever differs from A's.
fails=0
for i in 1 2 3 4 5; do relay_pair A app1 D app4 "number=2" || fails=$((fails + 1)); done
[ $fails -eq 0 ]; ok $? "5 more requests over the new path all identical"

# Relay sessions at A: every one acked or refused, none hanging.
sleep 0.5
relay_ctl A '{"cmd":"relay show"}' > "$QKD_DIR/a.json"
relay_py "all(s['state'] != 'started' or s['age_ms'] < 2000 for s in d['data']['sessions'])" < "$QKD_DIR/a.json" | grep -q yes
ok $? "every relay session at A is answered"
tap_done
