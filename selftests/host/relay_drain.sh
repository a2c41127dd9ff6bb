#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 4, acceptance 4, third part: draining a path's key pools moves the
# relays.  A reaches C over A-B-C, two slow links (50 kbit/s), or over
# A-D-E-F-C, four fast ones (10 Mbit/s).  With full pools the short path
# wins.  Continuous requests for long keys take key from the slow links
# faster than they make it; as their pool level drops (advertised in LSAs
# within a tick), the route metric sends the relays over the long path,
# and the keys stay identical at both ends throughout.
set -u
. "$(dirname "$0")/relay_lib.sh"
qkd_setup relay-drain || exit 1
slow=10000
relay_topo A-B@$slow B-C@$slow A-D D-E E-F F-C ||
	{ echo "not ok 1 - configs"; exit 1; }
relay_start_all; ok $? "6 daemons start, every Kx channel up"
relay_wait_route A C; ok $? "A has a route to C"
qkd_settle

path_of() { relay_ctl A '{"cmd":"path","to":"C"}' | relay_py "'-'.join(d['data'].get('path', []))"; }
level_of() {	# the B-C pool level in A's topology
	relay_ctl A '{"cmd":"topology show"}' |
		relay_py "[l['level'] for n in d['data']['nodes'] if n['node'] == 'B' for l in n['links'] if l['peer'] == 'C'][0]"
}
p1=$(path_of)
[ "$p1" = A-B-C ]; ok $? "with full pools the short path wins ($p1, B-C pool $(level_of))"

# Drain: 16 keys of 1024 bits per request, ~2.5 KB of B-C pad each, while
# B-C makes 1.25 KB/s for each end (its pool holds 4 KB).  Stop when the path moves (at most 40
# requests).
fails=0 n=0 moved=
t0=$(date +%s%3N)
while [ $n -lt 40 ]; do
	n=$((n + 1))
	relay_pair A app1 C app3 "number=16&size=1024" || fails=$((fails + 1))
	p=$(path_of)
	if [ -n "$p" ] && [ "$p" != "$p1" ]; then moved=$p; break; fi
done
t1=$(date +%s%3N)
[ -n "$moved" ]
ok $? "relays moved to ${moved:-nothing} after $n requests, $((t1 - t0)) ms (B-C pool now $(level_of))"
diag "drain: $n requests, $fails refused while draining"
[ "$moved" = A-D-E-F-C ]; ok $? "the new path avoids both slow links"

# Keys keep flowing, identical at both ends (the slow path refills in a
# few seconds and may take some of them back).  A request caught while
# the route moves back may be refused cleanly (503): one of five may be,
# a disagreement never (relay_pair compares the bytes of every answer).
fails=0 differ=0
for _ in 1 2 3 4 5; do
	relay_pair A app1 C app3 "number=16&size=1024" && continue
	if [ "$(echo "$RELAY_LAST_DEC" | http_code)" = 200 ]; then
		differ=$((differ + 1))
	else
		fails=$((fails + 1))
	fi
done
[ $fails -le 1 ] && [ $differ -eq 0 ]
ok $? "5 more requests: keys flow, identical at both ends ($fails refused, $differ differing)"
fwd=$(relay_ctl D '{"cmd":"relay show"}' | relay_py "d['data']['forwarded']")
[ "$fwd" -ge 16 ]; ok $? "transit node D of the long path forwarded keys ($fwd)"
# No key at C ever differed from A's, and every pad was used once.
relay_ctl B '{"cmd":"relay audit"}' |
	relay_py "all(l['tx']['balanced'] and l['rx']['balanced'] for l in d['data'])" | grep -q yes
ok $? "pad accounting at B (the drained relay) balances"
tap_done
