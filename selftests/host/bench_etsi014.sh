#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The ETSI 014 benchmark's own tools work and refuse bad input: loadgen
# (closed and open loop, with a warm-up) against the baseline server, and
# wakeup.  Checks counts and formats only: no figure is a pass criterion.
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup bench-tools || exit 1
B=$QKD_TOP/bench/etsi014
make -s -C "$B" >/dev/null
ok $? "bench/etsi014 builds"

usage_exit() {	# CMD...: exits 2 with the usage text
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	[ $rc = 2 ] && grep -q '^usage:' <<<"$out"
}
for bad in "-w -1" "-d 0" "-r -5" "-N -1" "-c 0"; do
	# shellcheck disable=SC2086 # one option and its value
	usage_exit "$B/build/loadgen" -a 127.0.0.1:1 --ca x --cert x --key x \
		-p / $bad
	ok $? "loadgen $bad: usage, exit 2"
done
usage_exit "$B/build/loadgen" -p /
ok $? "loadgen without address and certificates: usage, exit 2"
for bad in "0" "-3" "x" "1000 0" "1000 1 extra"; do
	# shellcheck disable=SC2086 # the arguments as given
	usage_exit "$B/build/wakeup" $bad
	ok $? "wakeup $bad: usage, exit 2"
done

out=$("$B/build/wakeup" 2000 0.3)
ok $? "wakeup runs ($out)"
[[ $out =~ ^wakes=([0-9]+)\ p50_us=[0-9]+\ p99_us=[0-9]+\ p999_us=[0-9]+\ max_us=[0-9]+\ over_500us=[0-9]+$ ]] &&
	[ "${BASH_REMATCH[1]}" -gt 0 ]
ok $? "wakeup prints its line with some wake-ups"

"$B/mkcerts.sh" "$QKD_DIR/pki" A app1 >/dev/null
port=$QKD_PORT_BASE
"$B/build/static_server" "$QKD_DIR/pki/ca.pem" "$QKD_DIR/pki/A.pem" \
	"$QKD_DIR/pki/A.key" "127.0.0.1:$port" 30 &
server=$!
sleep 0.3
common=(-a "127.0.0.1:$port" -n A --ca "$QKD_DIR/pki/ca.pem"
	--cert "$QKD_DIR/pki/app1.pem" --key "$QKD_DIR/pki/app1.key" -c 4
	-p /api/v1/keys/app2/enc_keys)

out=$("$B/build/loadgen" "${common[@]}" -d 0.3 -w 0.2)
ok $? "loadgen closed loop with a warm-up runs ($out)"
[ "$(qkd_field "$out" errors)" = 0 ] &&
	[ "$(qkd_field "$out" requests)" -gt 0 ] &&
	[ "$(qkd_field "$out" warmup_requests)" -gt 0 ] &&
	[ "$(qkd_field "$out" wait_p99_us)" = 0 ]
ok $? "closed loop: answers counted and warm-up answers apart, no wait"

out=$("$B/build/loadgen" "${common[@]}" -d 0.5 -w 0.2 -r 2000 -N 600 \
	-T "$QKD_DIR/trace")
ok $? "loadgen open loop (polling) runs ($out)"
n=$(qkd_field "$out" requests)
w=$(qkd_field "$out" warmup_requests)
[ "$(qkd_field "$out" errors)" = 0 ] && [ "$n" -gt 0 ] && [ "$w" -gt 0 ] &&
	[ $((n + w)) -le 600 ]
ok $? "open loop: answers in and after the warm-up, never more than -N"
# -T: a line per counted answer, due <= ready <= sent <= answered, due
# times in steps of the 500 us interval.
trace_ordered() {	# FILE COUNT
	awk -v n="$2" 'NF != 5 || $1 > $2 || $2 > $3 || $3 > $4 { bad = 1 }
		NR > 1 && ($1 - prev) % 500000 { bad = 1 } { prev = $1 }
		END { exit bad || NR != n }' "$1"
}
trace_ordered "$QKD_DIR/trace" "$n"
ok $? "-T traces every counted request: due, ready, sent, answered in order"

# Stopped for 100 ms mid-run, the generator must see that it was off its
# CPU and count the requests due meanwhile from when it ran again too.
"$B/build/loadgen" "${common[@]}" -d 2 -w 0.1 -r 2000 \
	-T "$QKD_DIR/trace" > "$QKD_DIR/stopped" &
lg=$!
sleep 0.8	# well past the connections and the warm-up
kill -STOP "$lg"
sleep 0.1
kill -CONT "$lg"
wait "$lg"
ok $? "loadgen open loop stopped for 100 ms and continued runs ($(cat "$QKD_DIR/stopped"))"
out=$(cat "$QKD_DIR/stopped")
[ "$(qkd_field "$out" gen_stalls)" -ge 1 ] &&
	[ "$(qkd_field "$out" gen_stall_us)" -ge 100000 ] &&
	[ "$(qkd_field "$out" ready_p99_us)" -lt "$(qkd_field "$out" p99_us)" ]
ok $? "the stop counts as a stall of 100 ms or more; p99 from ready below p99 from due"
trace_ordered "$QKD_DIR/trace" "$(qkd_field "$out" requests)" &&
	[ "$(awk '$2 > $1' "$QKD_DIR/trace" | wc -l)" -ge 100 ]
ok $? "-T: the 200 requests due in the stop are ready later than due"

"$B/build/loadgen" "${common[@]}" -d 0.1 -T /nonexistent/trace >/dev/null 2>&1
[ $? = 1 ]
ok $? "-T to an unwritable file fails before the run"

kill "$server" 2>/dev/null
wait "$server" 2>/dev/null

# A low rate over more connections than it needs, against a daemon that
# closes connections idle for 300 ms: the generator must use them in turn.
QKD_IDLE_MS=300 qkd_line A B && qkd_start A
ok $? "node A up, idle timeout 300 ms"
out=$("$B/build/loadgen" -a "${QKD_ETSI[A]}" -n A --ca "$QKD_DIR/ca.pem" \
	--cert "$QKD_DIR/app1.pem" --key "$QKD_DIR/app1.key" -c 8 \
	-d 1.2 -w 0.1 -r 100 -p /api/v1/keys/app2/status 2>&1)
ok $? "open loop at 100 requests/s on 8 connections outlasts the idle timeout ($out)"
[ "$(qkd_field "$out" errors)" = 0 ] &&
	[ "$(qkd_field "$out" requests)" -gt 100 ]
ok $? "every status request answered"
tap_done
