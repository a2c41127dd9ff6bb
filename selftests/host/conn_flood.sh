#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Connection flood (issue 20): 5 000 silent TCP connections and 1 000
# stalled TLS handshakes, spread over the ETSI 014 and Kx ports of a
# running pair, reopened whenever the daemon drops them, from other
# loopback addresses than the clients'.  The daemons run with the soft
# descriptor limit systemd gives by default (1024) under a hard limit of
# 4096.  enc_keys and dec_keys must keep answering during the flood (their
# latency is reported beside the figure before it, never asserted), Kx must
# stay up, and the daemons must not run out of descriptors.
set -u
. "$(dirname "$0")/lib.sh"
QKD_TIMEOUT=${QKD_TIMEOUT:-150}
qkd_setup conn-flood || exit 1
ROUNDS=${ROUNDS:-8}	# of enc_keys + dec_keys, before, during and after

qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
# The flood generator runs on the daemons' own two CPUs, which no remote
# attacker does: it can starve a daemon for longer than the default Kx
# dead interval (300 ms), and a channel declared dead then is the CPU's
# doing, not the flood's.  What this test judges is admission before
# authentication, so Kx liveness gets 2 s here.
for n in A B; do
	sed -i 's/^\[kx\]$/[kx]\nheartbeat_ms = 100\ndead_after = 20/' "$QKD_DIR/$n.conf"
done
start_limited() {	# NODE: qkd_start under systemd's default soft limit
	QKD_WRAP="prlimit --nofile=1024:4096" qkd_start "$1"
}
# prlimit execs the daemon: the pid qkd_start records is the daemon's.
start_limited A; ok $? "daemon A starts (nofile 1024:4096)"
start_limited B; ok $? "daemon B starts (nofile 1024:4096)"
qkd_wait_peers A; ok $? "Kx channel A-B up"
qkd_settle
all_ids=$QKD_DIR/all_ids

nofile() { awk '/Max open files/ {print $4}' "/proc/$1/limits"; }
[ "$(nofile "${QKD_PID[A]}")" = 4096 ]
ok $? "the daemon raised its soft descriptor limit to the hard one (got $(nofile "${QKD_PID[A]}"))"

# ROUNDS x (enc_keys at A, dec_keys of its key at B); the latencies in ms,
# one "enc dec" line per round, on stdout; "fail" lines for failures.
rounds() {
	local i enc dec id t_enc t_dec
	for ((i = 0; i < ROUNDS; i++)); do
		enc=$(qkd_curl A app1 /api/v1/keys/app2/enc_keys --max-time 5 \
			-w '\nHTTP %{http_code}\nT %{time_total}\n')
		t_enc=$(echo "$enc" | awk '/^T / {print $2 * 1000}')
		enc=$(echo "$enc" | grep -v '^T ')
		id=$(echo "$enc" | http_body | keys_of | awk '{print $1}')
		if [ "$(echo "$enc" | http_code)" != 200 ] || [ -z "$id" ]; then
			echo "fail enc $(echo "$enc" | tail -n 2 | tr '\n' ' ')"
			continue
		fi
		dec=$(qkd_curl B app2 "/api/v1/keys/app1/dec_keys?key_ID=$id" --max-time 5 \
			-w '\nHTTP %{http_code}\nT %{time_total}\n')
		t_dec=$(echo "$dec" | awk '/^T / {print $2 * 1000}')
		dec=$(echo "$dec" | grep -v '^T ')
		if [ "$(echo "$dec" | http_code)" != 200 ] ||
		   [ "$(echo "$dec" | http_body | keys_of)" != "$(echo "$enc" | http_body | keys_of)" ]; then
			echo "fail dec $(echo "$dec" | tail -n 2 | tr '\n' ' ')"
			continue
		fi
		echo "$t_enc $t_dec"
	done
}
# "p50/max" of column $1 of the rounds' output on stdin.
summary() {
	grep -v '^fail' | awk -v c="$1" '{print $c}' | sort -n |
		awk '{v[NR] = $1} END {if (NR) printf "%.0f/%.0f ms", v[int((NR + 1) / 2)], v[NR]; else print "none"}'
}

before=$(rounds)
! grep -q '^fail' <<<"$before"
ok $? "enc_keys and dec_keys answer before the flood"

ports=("${QKD_ETSI[A]##*:}" "${QKD_KX[A]##*:}" "${QKD_ETSI[B]##*:}" "${QKD_KX[B]##*:}")
"$QKD_PY" "$(dirname "$0")/conn_flood.py" 90 5000 1000 32 \
	"${ports[@]}" > "$QKD_DIR/flood.out" 2>&1 &
flooder=$!
for ((i = 0; i < 300; i++)); do
	grep -qs flooding "$QKD_DIR/flood.out" && break
	sleep 0.1
done
grep -q flooding "$QKD_DIR/flood.out"
ok $? "the flood is on: 5000 silent TCP and 1000 stalled TLS connections"
# The daemons' descriptors, sampled while the flood lasts: the peak.
( trap 'echo "$pa $pb"; exit 0' TERM
  pa=0 pb=0
  while kill -0 "$flooder" 2>/dev/null; do
	a=$(ls "/proc/${QKD_PID[A]}/fd" 2>/dev/null | wc -l)
	b=$(ls "/proc/${QKD_PID[B]}/fd" 2>/dev/null | wc -l)
	((a > pa)) && pa=$a
	((b > pb)) && pb=$b
	sleep 0.2
  done
  echo "$pa $pb" ) > "$QKD_DIR/fds.out" &
sampler=$!
sleep 2	# the first connections reach their deadline

during=$(rounds)
fails=$(grep -c '^fail' <<<"$during")
[ "$fails" = 0 ]
ok $? "enc_keys and dec_keys keep answering during the flood ($fails of $ROUNDS failed)"
grep '^fail' <<<"$during" | head -n 3 | sed 's/^/# /'
qkd_ctl A peer show 2>&1 | grep -qw up &&
qkd_ctl B peer show 2>&1 | grep -qw up
ok $? "Kx stays up during the flood (qkdctl peer show)"
kill -0 "$flooder" 2>/dev/null
ok $? "the flood lasted as long as the checks"

kill "$sampler" "$flooder"
wait "$sampler" "$flooder"
read -r fds_a fds_b < "$QKD_DIR/fds.out"
[ "$fds_a" -lt 3584 ] && [ "$fds_b" -lt 3584 ]
ok $? "descriptors stay below the limit's reserve (peak A $fds_a, B $fds_b of 4096)"
diag "flood: $(grep -v flooding "$QKD_DIR/flood.out")"
diag "enc_keys p50/max: before $(summary 1 <<<"$before"), during $(summary 1 <<<"$during")"
diag "dec_keys p50/max: before $(summary 2 <<<"$before"), during $(summary 2 <<<"$during")"
for ((i = 0; i < 120; i++)); do	# the listeners log every 10 s
	grep -q 'unauthenticated connections' "$QKD_DIR/A.log" && break
	sleep 0.1
done
grep -h 'unauthenticated connections' "$QKD_DIR/A.log" "$QKD_DIR/B.log" |
	sed 's/^/# /' | head -n 8
grep -q 'unauthenticated connections' "$QKD_DIR/A.log"
ok $? "A logs what its listeners refused"

after=$(rounds)
! grep -q '^fail' <<<"$after"
ok $? "enc_keys and dec_keys answer after the flood"
kill -0 "${QKD_PID[A]}" && kill -0 "${QKD_PID[B]}"
ok $? "both daemons alive"
qkd_stop A; ok $? "A stops cleanly"
qkd_stop B; ok $? "B stops cleanly"
tap_done
