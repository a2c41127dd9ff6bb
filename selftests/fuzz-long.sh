#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Long fuzzing ("make fuzz-long"): every libFuzzer target -- daemon/fuzz/
# fuzz_*.c and selftests/native's fuzz_pool -- for FUZZ_SECONDS each
# (default 600), from its in-tree corpus; then the inputs it found that add
# coverage are merged into that corpus (-merge=1: only the new inputs that
# reach new code are added, the existing files are kept), for a commit.
# Prints one TAP line per target; crash inputs are left in
# build/fuzz-long/NAME/ (reproduce: build/.../fuzz_NAME CRASH_FILE).
#
#   selftests/fuzz-long.sh [NAME...]      (names as in fuzz_NAME; default all)
#
# Environment: FUZZ_SECONDS (default 600), FUZZ_MERGE=0 (do not touch the
# in-tree corpora).

set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
seconds=${FUZZ_SECONDS:-600}
work=$top/build/fuzz-long

make -s -C daemon fuzz >&2 || { echo "not ok 1 - building daemon/fuzz"; exit 1; }
make -s -C selftests/native fuzz >&2 || { echo "not ok 1 - building selftests/native fuzz_pool"; exit 1; }

# name binary corpus [extra libFuzzer flags]
targets=()
for f in daemon/build/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=${f##*/fuzz_}
	targets+=("$name|$f|daemon/fuzz/corpus/$name|")
done
targets+=("pool|build/native/fuzz_pool|selftests/native/corpus/pool|-max_len=1024 -len_control=0")

if [ $# -gt 0 ]; then
	want=" $* "
	sel=()
	for t in "${targets[@]}"; do
		[[ $want == *" ${t%%|*} "* ]] && sel+=("$t")
	done
	targets=("${sel[@]}")
fi

echo "1..${#targets[@]}"
n=0 rc=0
for t in "${targets[@]}"; do
	IFS='|' read -r name bin corpus extra <<<"$t"
	n=$((n + 1))
	dir=$work/$name
	rm -rf "$dir"
	mkdir -p "$dir/new" "$corpus"
	before=$(find "$corpus" -type f | wc -l)
	# New inputs go to the first directory ($dir/new), the corpus is read.
	# shellcheck disable=SC2086
	if ! "$bin" -max_total_time="$seconds" -timeout=10 -artifact_prefix="$dir/" \
		$extra "$dir/new" "$corpus" >"$dir/fuzz.log" 2>&1; then
		echo "not ok $n - fuzz_$name for ${seconds}s (log and crash input in ${dir#$top/}/)"
		grep -m5 -E 'ERROR|runtime error|invariant|Test unit written' "$dir/fuzz.log" | sed 's/^/# /'
		rc=1
		continue
	fi
	stats=$(grep -E '^#[0-9]+.*DONE' "$dir/fuzz.log" | tail -n 1)
	added=0
	if [ "${FUZZ_MERGE:-1}" = 1 ]; then
		# shellcheck disable=SC2086
		if ! "$bin" -merge=1 -timeout=10 $extra "$corpus" "$dir/new" >"$dir/merge.log" 2>&1; then
			echo "not ok $n - fuzz_$name: merging into $corpus (${dir#$top/}/merge.log)"
			rc=1
			continue
		fi
		added=$(( $(find "$corpus" -type f | wc -l) - before ))
	fi
	echo "ok $n - fuzz_$name for ${seconds}s, $added new input(s) merged into $corpus"
	[ -n "$stats" ] && echo "# $stats"
done
exit $rc
