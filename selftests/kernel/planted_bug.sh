#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The debug suite can fail: applies a planted bug (a patch kept in
# selftests/kernel/planted/, default xa_lock_softirq.patch) to a scratch
# copy of kernel/ in build/planted/, builds qkd.ko and the test modules from
# it against the debug kernel, runs TEST (default qkd_softirq_test.sh) on
# that kernel (selftests/vm/run.sh, QKD_VM_DEBUG=1) and checks that the run
# fails, on the kernel-log checks alone, with REPORT in its output.  The
# shipped sources are never touched.  Prints TAP; run by "make
# vm-test-debug" after the debug suite.
#
#   selftests/kernel/planted_bug.sh [PATCH [TEST [REPORT]]]

set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
patch=${1:-$top/selftests/kernel/planted/xa_lock_softirq.patch}
test=${2:-qkd_softirq_test.sh}
report=${3:-inconsistent lock state}
scratch=$top/build/planted	# under the repo: the guest sees it over 9p
n=0 failed=0

ok() {	# ok STATUS description...
	local st=$1; shift
	n=$((n + 1))
	if [ "$st" -eq 0 ]; then
		echo "ok $n - planted bug: $*"
	else
		failed=$((failed + 1))
		echo "not ok $n - planted bug: $*"
	fi
}

rm -rf "$scratch" && mkdir -p "$scratch" &&
	(cd "$top" && find kernel uapi selftests/kernel/module -type f \
		\( -name '*.[ch]' -o -name Kbuild \) -print0 |
		xargs -0 cp -p --parents -t "$scratch") &&
	patch -s -p1 -d "$scratch" <"$patch"
ok $? "$(basename "$patch") applied to a copy of kernel/ in $scratch"
cmp -s "$top/kernel/device.c" "$scratch/kernel/device.c" &&
	cmp -s "$top/kernel/keys.c" "$scratch/kernel/keys.c" &&
	cmp -s "$top/kernel/pool.c" "$scratch/kernel/pool.c"
ok $(( ! $? )) "the copy differs from the shipped sources"

start=$(date +%s)
QKD_VM_DEBUG=1 QKD_VM_MODULE_SRC=$scratch QKD_VM_RETRY=0 \
	"$top/selftests/vm/run.sh" "$test" >"$scratch/vm.tap" 2>"$scratch/vm.stderr"
rc=$?
echo "# $test on the debug kernel with the bug: exit $rc in $(( $(date +%s) - start )) s"
sed 's/^/# planted: /' "$scratch/vm.tap"
ok $(( rc == 0 )) "$test fails on the debug kernel"
grep -qF -- "$report" "$scratch/vm.tap"
ok $? "the failure shows the kernel's report \"$report\""
# The bug breaks nothing a test can see from userspace: only the kernel
# log checks may fail, and the guest ran to the end.
grep -q '^ok .* - vm: guest ran to completion' "$scratch/vm.tap" &&
	! grep -E '^not ok ' "$scratch/vm.tap" |
		grep -vqE 'no kernel warning/oops|vm: console log free of'
ok $? "only the kernel-log checks fail (guest.sh's dmesg check, run.sh's console check)"

echo "1..$n"
[ "$failed" -eq 0 ]
