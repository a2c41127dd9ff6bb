#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qkdn benchmarks ("make bench").  Each prints a table of throughputs next
# to a baseline measured in the same run; none is pass/fail on time, but a
# benchmark that cannot run makes this exit non-zero.
#
#   bench/run_all.sh [NAME...]    (default: every bench/*/ that has a runner)
#
# bench/ingest, bench/xfrm, bench/wireguard and bench/strongswan run inside
# the QEMU test VM
# (selftests/vm/run.sh --cmd);
# every other bench/NAME/run.sh runs on the host, among them
# bench/ingest_native: the kernel's ingest code compiled natively.

set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

bench_timeout=${QKD_BENCH_TIMEOUT:-900}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for d in bench/*/; do
		d=${d%/}
		[ -x "$d/run.sh" ] || [ -x "$d/run_in_vm.sh" ] && names+=("${d#bench/}")
	done
fi

failed=()
for name in "${names[@]}"; do
	echo "# ===== bench/$name ====="
	if [ "$name" = ingest ]; then
		make -s -C bench/ingest &&
		timeout "$bench_timeout" selftests/vm/run.sh --cmd bench/ingest/run_in_vm.sh
	elif [ "$name" = xfrm ]; then
		# 100k SAs need more than the default 1 GiB
		make -s -C selftests/kernel &&
		QKD_VM_MEM=2G QKD_VM_TIMEOUT=$bench_timeout \
		timeout "$bench_timeout" selftests/vm/run.sh --cmd bench/xfrm/run_in_vm.sh
	elif [ "$name" = wireguard ] || [ "$name" = strongswan ]; then
		QKD_VM_TIMEOUT=$bench_timeout \
		timeout "$bench_timeout" selftests/vm/run.sh --cmd "bench/$name/run_in_vm.sh"
	else
		timeout "$bench_timeout" "bench/$name/run.sh"
	fi || failed+=("$name")
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "# benchmarks that did not run: ${failed[*]}" >&2
	exit 1
fi
