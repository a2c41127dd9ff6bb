#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 4, configuration 2: centralized routing.  A ring of 6 daemons
# A-B-C-D-E-F-A, every node configured with "[node] controller = A".  A
# collects link and pool status (the flooded LSAs) and pushes each node its
# route table; the nodes relay keys over the pushed routes only.  A link cut
# is reflected in the pushed routes; when the controller dies, the pushed
# tables expire and relaying stops with a clear error (no silent fallback).
set -u
. "$(dirname "$0")/relay_lib.sh"
qkd_setup relay-central || exit 1
RELAY_CONTROLLER=A relay_topo A-B B-C C-D D-E E-F F-A ||
	{ echo "not ok 1 - configs"; exit 1; }
relay_start_all; ok $? "6 daemons start, every Kx channel up"
relay_wait_route C F; ok $? "C got a route to F from the controller"
qkd_settle

relay_ctl C '{"cmd":"topology show"}' |
	relay_py "d['data']['mode'] == 'centralized' and d['data']['controller'] == 'A'" | grep -q yes
ok $? "C runs centralized routing with controller A"
p1=$(relay_ctl C '{"cmd":"path","to":"F"}' | relay_py "'-'.join(d['data']['path']) + ' ' + d['data']['source']")
case "$p1" in *" controller") true ;; *) false ;; esac
ok $? "C's path to F comes from the controller ($p1)"
p1=${p1% *}

relay_pair_diag C app3 F app6 "number=4"; ok $? "C->F over the pushed route: identical keys"
relay_pair_diag B app2 E app5 "number=2"; ok $? "B->E: identical keys"
relay_pair_diag A app1 D app4; ok $? "A (the controller) -> D: identical keys"

# Cut a link on C's pushed path: the controller pushes a new one.
IFS=- read -r -a hops <<< "$p1"
relay_path_change C F "$p1" > "$QKD_DIR/conv" &
poller=$!
sleep 0.3
t0=$(date +%s%3N)
relay_ctl "${hops[2]}" "{\"cmd\":\"link down\",\"peer\":\"${hops[1]}\"}" >/dev/null
relay_wait_change $poller "$t0" "link ${hops[1]}-${hops[2]} down: C's pushed path to F changed" "$p1"
diag "new path: $(relay_ctl C '{"cmd":"path","to":"F"}' | relay_py "'-'.join(d['data'].get('path', []))")"
relay_pair_diag C app3 F app6 "number=2"; ok $? "C->F over the new pushed route: identical keys"

# The controller dies: pushed tables expire, relaying stops cleanly.
qkd_stop A KILL
sleep 4.5
out=$(qkd_enc C app3 app6)
[ "$(echo "$out" | http_code)" = 503 ] &&
	echo "$out" | http_body | message_of | grep -q "controller"
ok $? "controller down: C refuses with 503 ($(echo "$out" | http_body | message_of))"
out=$(qkd_enc C app3 app4)
[ "$(echo "$out" | http_code)" = 200 ]; ok $? "direct neighbour keys C->D still served"
tap_done
