#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 4, acceptance 1, 2 and 4: a mesh of 12 daemons (3 x 4 grid with
# two diagonals).  Keys relayed between the far corners A and L, and D and
# I, are identical at both ends; pad accounting balances on every link of
# every node; killing a relay node on the active path moves the traffic.
#
#	A - B - C - D
#	| \ |   |   |
#	E - F - G - H
#	|   |   | \ |
#	I - J - K - L
set -u
. "$(dirname "$0")/relay_lib.sh"
QKD_TIMEOUT=${QKD_TIMEOUT:-170}
qkd_setup relay-mesh12 || exit 1
relay_topo A-B B-C C-D E-F F-G G-H I-J J-K K-L \
	A-E B-F C-G D-H E-I F-J G-K H-L A-F G-L || { echo "not ok 1 - configs"; exit 1; }
relay_start_all; ok $? "12 daemons start, every Kx channel up"
relay_wait_route A L; ok $? "A has a route to L"
relay_wait_route D I; ok $? "D has a route to I"
qkd_settle

p1=$(relay_ctl A '{"cmd":"path","to":"L"}' | relay_py "'-'.join(d['data']['path'])")
diag "path A->L: $p1"
[ "$p1" = A-F-G-L ]; ok $? "A->L takes the 3-hop diagonal path (got $p1)"
relay_pair_diag A app1 L app12 "number=4"; ok $? "A->L: identical keys"
relay_pair_diag L app12 A app1 "number=2&size=1024"; ok $? "L->A: identical keys"
relay_pair_diag D app4 I app9 "number=2"; ok $? "D->I: identical keys"
relay_pair_diag I app9 D app4; ok $? "I->D: identical keys"

# Kill the middle relay node of A->L.
IFS=- read -r -a hops <<< "$p1"
victim=${hops[2]}
qkd_stop "$victim" KILL
t0=$(date +%s%3N)
tries=0
until relay_pair A app1 L app12; do
	tries=$((tries + 1)); [ $tries -lt 100 ] || break
done
t1=$(date +%s%3N)
p2=$(relay_ctl A '{"cmd":"path","to":"L"}' | relay_py "'-'.join(d['data'].get('path', []))")
case "$p2" in *"$victim"*|"") false ;; *) [ $tries -lt 100 ] ;; esac
ok $? "node $victim killed: A->L keys flow over $p2 after $((t1 - t0)) ms"

sleep 0.5
bad=0
for n in "${QKD_NODES[@]}"; do
	[ "$n" = "$victim" ] && continue
	relay_ctl "$n" '{"cmd":"relay audit"}' |
		relay_py "all(l[s]['balanced'] for l in d['data'] for s in ('tx','rx'))" | grep -q yes ||
		{ bad=$((bad + 1)); diag "$n: unbalanced"; }
done
[ $bad -eq 0 ]; ok $? "pad accounting balances on every link of the 11 live nodes"
tap_done
