#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run qkdn's test suites and count their TAP results.
#
#   selftests/run_all.sh [unit|fuzz|host|vm]...   (default: all of them)
#
# Every suite prints TAP/KTAP; top-level "ok N"/"not ok N" lines are counted
# ("# SKIP" ones as skipped).  A suite that exits non-zero without reporting
# a failure counts as one failure.  The last line is "N passed, N failed".

set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit fuzz host vm)

passed=0 failed=0 skipped=0
log_dir=${QKD_TEST_LOGS:-$top/build/test-logs}
mkdir -p "$log_dir"

run_suite() {
	local name=$1; shift
	local log=$log_dir/$name.tap rc p f s
	echo "# suite $name: $*"
	"$@" 2>"$log_dir/$name.stderr" | tee "$log"
	rc=${PIPESTATUS[0]}
	s=$(grep -cE '^ok [0-9]+.*# (SKIP|skip)' "$log")
	p=$(grep -cE '^ok [0-9]+' "$log")
	f=$(grep -cE '^not ok [0-9]+' "$log")
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - suite $name exited with status $rc (stderr: $log_dir/$name.stderr)"
		tail -n 20 "$log_dir/$name.stderr" | sed 's/^/# /'
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

for suite in "${suites[@]}"; do
	case $suite in
	unit)	run_suite unit make -s -C daemon check
		run_suite unit-native make -s -C selftests/native check ;;
	fuzz)	run_suite fuzz make -s -C daemon fuzz-smoke
		run_suite fuzz-native make -s -C selftests/native fuzz-smoke ;;
	host)	for t in selftests/host/*.sh; do
			[ -e "$t" ] || continue
			case $t in *lib.sh) continue ;; esac	# sourced helpers
			run_suite "host-$(basename "$t" .sh)" "$t"
		done ;;
	vm)	run_suite vm selftests/vm/run.sh ;;
	*)	echo "unknown suite: $suite (unit, fuzz, host, vm)" >&2; exit 2 ;;
	esac
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
