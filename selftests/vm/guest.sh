#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the test VM (started by selftests/vm/run.sh), chrooted into the
# read-only host root, at the top of the repo.  Loads the freshly built
# modules, records every qkd tracepoint and all kernel messages, runs the
# tests and prints one unnumbered line per test case ("ok - test: case"),
# which run.sh numbers.
#
#   selftests/vm/guest.sh [test...]    (default: selftests/kernel/tests.txt)

set -u
export QKD_TOP=$PWD
. "$QKD_TOP/selftests/kernel/lib.sh"

export QKD_KEY_LOG=/tmp/qkd-keys.hex	# key bytes the tests fetched (hex)
export QKD_DMESG_LOG=/tmp/qkd-dmesg.log	# every kernel message of the suite
export QKD_TRACE_LOG=/tmp/qkd-trace.log	# every trace event of the suite
test_timeout=${QKD_TEST_TIMEOUT:-300}
: >"$QKD_KEY_LOG"; : >"$QKD_DMESG_LOG"; : >"$QKD_TRACE_LOG"

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
	mapfile -t tests < <(grep -vE '^[[:space:]]*(#|$)' selftests/kernel/tests.txt)
fi
if [ ${#tests[@]} -eq 0 ]; then
	echo "not ok - no tests to run (selftests/kernel/tests.txt)"
	exit 1
fi

# The bits of /proc/sys/kernel/tainted that mean the kernel misbehaved:
# W (warning, 9), D (died, 7), L (soft lockup, 14), B (bad page, 5).
bad_taint_mask=$(( (1 << 9) | (1 << 7) | (1 << 14) | (1 << 5) ))
taint_seen=0

# Kernel messages that mean the kernel is broken (run.sh greps the console
# log for the same): oopses, warnings, KASAN, lockdep ("WARNING: possible
# circular locking dependency detected" and friends), might_sleep() checks
# ("BUG: sleeping function called from invalid context"), kmemleak.
bad_kmsg='WARNING:|BUG:|Oops|general protection|UBSAN|KASAN|Call Trace:'
bad_kmsg+='|possible circular locking|possible recursive locking|inconsistent lock state'
bad_kmsg+='|suspicious RCU usage|sleeping function called from invalid context'
bad_kmsg+='|suspected memory leak'

# kmemleak (the debug kernel): what was leaked since the last "clear".
# Twice: an object is not reported by the scan that first checksums it.
kmemleak=/sys/kernel/debug/kmemleak
kmemleak_scan() {
	[ -w "$kmemleak" ] || return 0
	echo scan >"$kmemleak"
	echo scan >"$kmemleak"
	cat "$kmemleak"
}

# Reports kernel messages since the last call; not ok on a warning or oops.
check_dmesg() {
	local name=$1 chunk=/tmp/dmesg.chunk taint new
	dmesg -c >"$chunk" 2>/dev/null
	cat "$chunk" >>"$QKD_DMESG_LOG"
	taint=$(( $(cat /proc/sys/kernel/tainted) & bad_taint_mask ))
	new=$(( taint & ~taint_seen ))
	taint_seen=$taint
	if grep -qE "$bad_kmsg" "$chunk" || [ "$new" -ne 0 ]; then
		echo "not ok - $name: no kernel warning/oops (new taint bits $new)"
		grep -E -A25 "$bad_kmsg" "$chunk" | head -n 80 | sed 's/^/# dmesg: /'
	else
		echo "ok - $name: no kernel warning/oops"
	fi
}

# Turns a test's KTAP into top-level lines prefixed with the test's name.
relay() {
	local name=$1 line
	while IFS= read -r line; do
		case $line in
		"ok "[0-9]*)     echo "ok - $name: $(sed -E 's/^ok [0-9]+ - ?//' <<<"$line")" ;;
		"not ok "[0-9]*) echo "not ok - $name: $(sed -E 's/^not ok [0-9]+ - ?//' <<<"$line")" ;;
		"KTAP version"*|"TAP version"*|1..*) ;;
		"#"*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done
}

run_test() {
	local name=$1 path out=/tmp/test.out rc start
	if [ -x "selftests/kernel/$name" ]; then
		path=selftests/kernel/$name
	elif [ -x "$QKD_BIN/$name" ]; then
		path=$QKD_BIN/$name
	else
		echo "not ok - $name: test program not found (make -C selftests/kernel)"
		return
	fi
	echo "# running $name"
	start=$(date +%s)
	# Relay as it comes, so a hang still shows how far the test got.
	timeout -k 5 "$test_timeout" "$path" 2>&1 | tee "$out" | relay "$name"
	rc=${PIPESTATUS[0]}
	echo "# $name took $(( $(date +%s) - start )) s"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "not ok - $name: finished within ${test_timeout}s"
	elif [ $rc -ne 0 ] && [ $rc -ne 4 ] && ! grep -q '^not ok' "$out"; then
		echo "not ok - $name: exited with status $rc"
	fi
	check_dmesg "$name"
	qkd_trace_on	# a test may have reloaded the modules
}

dmesg -c >>"$QKD_DMESG_LOG" 2>/dev/null
# Whatever the boot left unreferenced is not the suite's: forget it.
if [ -w "$kmemleak" ]; then
	kmemleak_scan >/dev/null
	echo clear >"$kmemleak"
fi
if ! qkd_load; then
	echo "not ok - load qkd.ko and qkd_sim.ko"
	check_dmesg load
	exit 1
fi
echo "ok - load qkd.ko and qkd_sim.ko"
echo 8192 >"$QKD_TRACING/buffer_size_kb" 2>/dev/null
echo 1 >"$QKD_TRACING/tracing_on"
# Drain the trace buffer continuously: an rmmod resets it.
cat "$QKD_TRACING/trace_pipe" >>"$QKD_TRACE_LOG" &
trace_reader=$!

for t in "${tests[@]}"; do
	run_test "$t"
done

kill "$trace_reader" 2>/dev/null
wait "$trace_reader" 2>/dev/null
qkd_unload || echo "# could not unload the modules at the end"
check_dmesg unload
if [ -w "$kmemleak" ]; then
	# Objects younger than 5 s are not reported yet.
	sleep 6
	kmemleak_scan >/tmp/kmemleak.out
	if [ -s /tmp/kmemleak.out ]; then
		echo "not ok - kmemleak: no unreferenced object after the suite and rmmod ($(grep -c '^unreferenced object' /tmp/kmemleak.out) found)"
		head -n 80 /tmp/kmemleak.out | sed 's/^/# kmemleak: /'
	else
		echo "ok - kmemleak: no unreferenced object after the suite and rmmod"
	fi
fi
exit 0
