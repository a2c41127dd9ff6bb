#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 21: liveness of the Kx channels and fast rejoin, on a square
# A-B, A-C, B-D, C-D with keys relayed from A to D continuously
# (relay_stream.py), in a network namespace of its own:
#
#  1. a silent black hole (ip rule, both ways) on the first link of A's
#     path to D: both ends mark the peer down and A's route moves within
#     1 s, keys flow on the new path; when it lifts the link comes back;
#  2. the transit node SIGSTOPped for 2 s: routed around within 1 s, back
#     after SIGCONT;
#  3. D SIGKILLed and restarted after its dialers went deep into back-off:
#     every Kx peer of D is up within 500 ms of D being ready.
# Figures are printed as TAP comments.
set -u
. "$(dirname "$0")/relay_lib.sh"
relay_netns "$@" || { echo "1..0 # SKIP needs root and unshare (a network namespace of its own)"; exit 0; }
QKD_TIMEOUT=150
qkd_setup liveness || exit 1
relay_topo A-B A-C B-D C-D || { echo "not ok 1 - configs"; exit 1; }
relay_kx_ips
relay_start_all; ok $? "four daemons up, every Kx channel up"
qkd_settle
relay_wait_route A D; ok $? "A has a route to D"

now_ms() { date +%s%3N; }
path_of() {	# NODE DST: the path as "A-B-D"
	relay_ctl "$1" "{\"cmd\":\"path\",\"to\":\"$2\"}" |
		relay_py "'-'.join(d.get('data',{}).get('path',[]))"
}
# within NAME T0 T1 LIMIT: a TAP line "NAME in N ms" that passes if N <= LIMIT
within() {
	local ms
	if [ -z "$3" ]; then
		ok 1 "$1: not seen (limit $4 ms)"
		return
	fi
	ms=$(($3 - $2))
	[ "$ms" -le "$4" ]
	ok $? "$1 in $ms ms (limit $4 ms)"
}

# watch WHAT [both]: A's path to D now ($old) and its first hop ($hop);
# pollers for the path moving ($pc) and for A marking the hop down ($wa),
# with "both" also the hop marking A down ($wb); then $t0.  WHAT is a
# printf format for the hop's name.
watch() {
	old=$(path_of A D)
	hop=$(echo "$old" | cut -d- -f2)
	# shellcheck disable=SC2059
	diag "path A->D before: $old; $(printf "$1" "$hop")"
	relay_path_change A D "$old" 3000 > "$QKD_DIR/conv" & pc=$!
	relay_peer_wait A "$hop" "down|connecting" 3000 > "$QKD_DIR/ta" & wa=$!
	wb=
	if [ "${2:-}" = both ]; then
		relay_peer_wait "$hop" A "down|connecting" 3000 > "$QKD_DIR/tb" & wb=$!
	fi
	sleep 0.2	# the pollers run
	t0=$(now_ms)
}

relay_stream_start A app1 D app4
sleep 1

# ---- 1. silent black hole on A's first hop ---------------------------------
watch "black hole on Kx A-%s" both
relay_blackhole A "$hop" on; ok $? "black hole A-$hop in place"
wait $wa $wb
ta=$(cat "$QKD_DIR/ta") tb=$(cat "$QKD_DIR/tb")
within "A marks $hop down" "$t0" "$ta" 1000
within "$hop marks A down" "$t0" "$tb" 1000
wait $pc && tr=$(cat "$QKD_DIR/conv")
within "A's route to D moves off $old" "$t0" "${tr:-}" 1000
sleep 1.5
fl=$(relay_flow_ms "$t0" "$old")
[ -n "$fl" ]; ok $? "keys flow on the new path $(path_of A D), first good pair after ${fl:-?} ms"
t1=$(now_ms)
relay_blackhole A "$hop" off
tu=$(relay_peer_wait A "$hop" "up" 15000)
within "link A-$hop back (up, out of hold) after the black hole lifts" "$t1" "${tu:-}" 10000
alarms=$(relay_ctl A '{"cmd":"alarm show"}' | relay_py "[a['source'] for a in d['data']['active']]")
[ "$alarms" = "[]" ]; ok $? "A's kx:$hop alarm cleared ($alarms)"
sleep 1

# ---- 2. transit node SIGSTOPped for 2 s ------------------------------------
watch "SIGSTOP %s for 2 s"
kill -STOP "${QKD_PID[$hop]}"
wait $wa
ta=$(cat "$QKD_DIR/ta")
within "A marks stopped $hop down" "$t0" "$ta" 1000
wait $pc && tr=$(cat "$QKD_DIR/conv")
within "A's route to D moves off $old" "$t0" "${tr:-}" 1000
sleep $(( (2000 - ($(now_ms) - t0)) / 1000 )).5 2>/dev/null || sleep 1
kill -CONT "${QKD_PID[$hop]}"
t1=$(now_ms)
tu=$(relay_peer_wait A "$hop" "up" 15000)
within "$hop back in A's peers after SIGCONT" "$t1" "${tu:-}" 10000
fl=$(relay_flow_ms "$t0" "$old")
[ -n "$fl" ]; ok $? "keys flowed around stopped $hop, first good pair after ${fl:-?} ms"
sleep 1

# ---- 3. SIGKILL and restart: every peer within 500 ms of ready -------------
relay_stream_stop
qkd_stop D KILL
sleep 4		# B and C (the dialers) deep in back-off: 100..3200 ms
t_spawn=$(now_ms)
"$QKDKMD" -c "$QKD_DIR/D.conf" >>"$QKD_DIR/D.log" 2>&1 &
QKD_PID[D]=$!
rejoin=$("$QKD_PY" "$QKD_HOST_PY" rejoin "$QKD_DIR/D.sock")
t_up=$(now_ms)
diag "D: started to all peers up (start-up included) $((t_up - t_spawn)) ms"
[ -n "$rejoin" ] && [ "$rejoin" -le 500 ]
ok $? "after SIGKILL and restart every Kx peer of D is up ${rejoin:-?} ms after D is ready (limit 500 ms)"

for n in A B C D; do
	qkd_stop "$n"; ok $? "$n stops cleanly"
done
tap_done
