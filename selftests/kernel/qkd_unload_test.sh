#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Acceptance 5: rmmod qkd_sim and qkd while a dump loop and a key-read loop
# run is safe; 100 load/unload cycles with a pair generating leave no oops
# or warning (the runner checks dmesg after this test).

. "$(dirname "$0")/lib.sh"
cycles=${QKD_UNLOAD_CYCLES:-100}
util=$QKD_BIN/qkd_util
bus=/sys/bus/qkd_sim

echo "KTAP version 1"

new_pair() {	# new_pair ID: a generating pair with a small ring and pool
	echo "$1 $((500 + $1)) 256 16 32" >$bus/new_device &&
	echo 1000000 >$bus/devices/qkd_sim$1/rate_bps &&
	"$util" up "$1"
}

# --- unload while requests are in flight ---
qkd_load && new_pair 50
ktap_ok $? "load and start a pair"
# The loops must outlast both rmmods: on the debug kernel (KASAN under TCG,
# the one with kmemleak) those can take longer than 20 s.
loop_s=20
[ -e /sys/kernel/debug/kmemleak ] && loop_s=90
"$util" dump-loop $loop_s >/tmp/dump-loop.out 2>&1 &
dump_pid=$!
"$util" read-loop $loop_s 50 >/tmp/read-loop.out 2>&1 &
read_pid=$!
sleep 3
rmmod qkd_sim
ktap_ok $? "rmmod qkd_sim while a dump loop and a key-read loop run"
# A dump in flight holds a reference on qkd for a moment, and the dump
# loop starts the next at once: retry often, for up to 12 s (the loops
# run on for longer).
for try in $(seq 1 600); do
	rmmod qkd 2>/dev/null && break
	sleep 0.02
done
! grep -q '^qkd ' /proc/modules
ktap_ok $? "rmmod qkd while the loops run (attempts: $try)"
sleep 1
kill -0 $dump_pid 2>/dev/null && kill -0 $read_pid 2>/dev/null
ktap_ok $? "request loops survive the unload"
wait $dump_pid; st1=$?
wait $read_pid; st2=$?
sed 's/^/# /' /tmp/dump-loop.out /tmp/read-loop.out
grep -qE 'dump-loop: [1-9][0-9]* requests succeeded' /tmp/dump-loop.out &&
	grep -qE 'read-loop: [1-9][0-9]* requests succeeded' /tmp/read-loop.out
ktap_ok $? "the loops made requests before the unload"
[ $st1 -eq 0 ] && [ $st2 -eq 0 ]
ktap_ok $? "request loops exit cleanly"

# --- load/unload cycles with a pair generating (in C: forks are slow) ---
qkd_unload
start=$(date +%s)
"$util" cycles "$cycles" "$QKD_KO_DIR" >/tmp/cycles.out 2>&1
st=$?
sed 's/^/# /' /tmp/cycles.out
ktap_ok $st "$cycles load/create/up/unload cycles ($(( $(date +%s) - start )) s)"
! grep -q '^qkd' /proc/modules
ktap_ok $? "no qkd module left loaded"

qkd_load
ktap_ok $? "reload for the next tests"
ktap_finish
