#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run qkdn's test suites and count their TAP results.
#
#   selftests/run_all.sh [unit|fuzz|host|vm|vm-debug]...
#                                    (default: unit fuzz host vm)
#
# Every suite prints TAP/KTAP; top-level "ok N"/"not ok N" lines are counted
# ("# SKIP" ones as skipped, cmocka's "not ok N # SKIP" too).  A suite that
# exits non-zero without reporting a failure counts as one failure.  The
# last line is "N passed, N failed, N skipped".
#
# With CI=true (or QKD_NO_SKIPS=1) a skipped test that
# selftests/skips-allowed.txt does not list is one more failure: CI runs
# every test.  vm-debug is the kernel suite on the debug kernel (KASAN,
# lockdep, kmemleak; selftests/vm/build-debug-kernel.sh), QKD_VM_DEBUG_TESTS
# the tests it runs (default: selftests/kernel/tests-debug.txt), then
# selftests/kernel/planted_bug.sh (a planted bug must fail).  It is not
# in the default set: building that kernel takes longer on two cores than
# the rest of the suites together ("make vm-test-debug").

set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit fuzz host vm)

passed=0 failed=0 skipped=0
log_dir=${QKD_TEST_LOGS:-$top/build/test-logs}
mkdir -p "$log_dir"
skip_log=$log_dir/skipped.txt
: >"$skip_log"

run_suite() {
	local name=$1; shift
	local log=$log_dir/$name.tap rc p f s start=$SECONDS
	echo "# suite $name: $*"
	"$@" 2>"$log_dir/$name.stderr" | tee "$log"
	rc=${PIPESTATUS[0]}
	grep -E '^(not )?ok [0-9]+.*# (SKIP|skip)' "$log" | sed "s/^/$name: /" >>"$skip_log"
	s=$(grep -cE '^(not )?ok [0-9]+.*# (SKIP|skip)' "$log")
	p=$(grep -E '^ok [0-9]+' "$log" | grep -cvE '# (SKIP|skip)')
	f=$(grep -E '^not ok [0-9]+' "$log" | grep -cvE '# (SKIP|skip)')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - suite $name exited with status $rc (stderr: $log_dir/$name.stderr)"
		tail -n 20 "$log_dir/$name.stderr" | sed 's/^/# /'
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	echo "# suite $name took $((SECONDS - start)) s"
}

for suite in "${suites[@]}"; do
	case $suite in
	unit)	run_suite unit make -s -j2 -C daemon check
		run_suite unit-native make -s -C selftests/native check ;;
	fuzz)	run_suite fuzz make -s -k -j2 -C daemon fuzz-smoke
		run_suite fuzz-native make -s -C selftests/native fuzz-smoke ;;
	host)	for t in selftests/host/*.sh; do
			[ -e "$t" ] || continue
			case $t in *lib.sh) continue ;; esac	# sourced helpers
			run_suite "host-$(basename "$t" .sh)" "$t"
		done ;;
	vm)	run_suite vm selftests/vm/run.sh ;;
	vm-debug)
		if [ -n "${QKD_VM_DEBUG_TESTS:-}" ]; then
			read -ra debug_tests <<<"$QKD_VM_DEBUG_TESTS"
		else
			mapfile -t debug_tests < <(grep -vE '^[[:space:]]*(#|$)' selftests/kernel/tests-debug.txt)
		fi
		run_suite vm-debug env QKD_VM_DEBUG=1 QKD_UNLOAD_CYCLES="${QKD_UNLOAD_CYCLES:-20}" \
			selftests/vm/run.sh "${debug_tests[@]}"
		# ... and it can fail: a planted locking bug must make it.
		run_suite vm-debug-planted selftests/kernel/planted_bug.sh ;;
	*)	echo "unknown suite: $suite (unit, fuzz, host, vm, vm-debug)" >&2; exit 2 ;;
	esac
done

# CI runs every test: a skip must be one selftests/skips-allowed.txt lists
# (an extended regex against "SUITE: TAP line", then " -- " and why).
if [ "${CI:-}" = true ] || [ "${QKD_NO_SKIPS:-0}" = 1 ]; then
	allowed=$(sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' -e 's/ -- .*//' \
		selftests/skips-allowed.txt 2>/dev/null)
	unlisted=0
	while IFS= read -r line; do
		[ -n "$allowed" ] && grep -qE -- "$allowed" <<<"$line" && continue
		echo "# skipped, and not in selftests/skips-allowed.txt: $line"
		unlisted=$((unlisted + 1))
	done <"$skip_log"
	if [ "$unlisted" -gt 0 ]; then
		echo "not ok - CI: $unlisted test(s) skipped that CI must run (selftests/skips-allowed.txt)"
		failed=$((failed + 1))
	fi
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
