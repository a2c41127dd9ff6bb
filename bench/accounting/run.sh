#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The cost of accounting on the enc_keys path (issue 19, acceptance 8):
# two pairs of qkdkmd nodes in one run, A-B with accounting on (the
# default: a journal record per answer, one write(2) per event loop pass)
# and D-C with "[accounting] enabled = no", the same load on each:
# bench/etsi014's load generator, CONNS keep-alive mutual-TLS
# connections at full load (closed loop), 1 x 256-bit key per enc_keys.
# The runs alternate (on, off, on, off...) ROUNDS times so that the
# machine's other load falls on both alike; the table has each run and
# the ratio on/off of the medians of requests/s, requests per server
# CPU-second and p50/p99 latency.  Then the same cost without the
# machine's noise: event_cost.c's CPU time per answer, in one process,
# against the CPU time of an answer without accounting.  A run with errors (on a loaded host a
# Kx channel can drop) is reported and left out of the medians.
#
# Usage: bench/accounting/run.sh [SECONDS] [CONNS] [ROUNDS]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=${1:-2}
conns=${2:-8}
rounds=${3:-5}

make -s -C "$top/bench/etsi014" build/loadgen || exit 1
make -s -C "$here" || exit 1
loadgen=$top/bench/etsi014/build/loadgen
# shellcheck source=../../selftests/host/lib.sh
. "$top/selftests/host/lib.sh"
make -s -C "$top/daemon" build/qkdkmd >/dev/null && make -s -C "$top/tools" >/dev/null || exit 1

# A slave's node keeps every key handed out (nobody fetches them), at most
# 2^18 records: the runs of a pair stop at CAP keys in all.
cap=$((200000 / rounds))
export QKD_RATE=${QKD_RATE:-64000000} QKD_LOG_LEVEL=notice
export QKD_MAX_KEY_COUNT=250000 QKD_SECURE_HEAP=$((1 << 26))
export QKD_TIMEOUT=$((rounds * secs * 4 + 120))
qkd_setup bench-acct || exit 1
# A line A-B-C-D: app1 at A -> app2 at B with accounting, app4 at D ->
# app3 at C without; both masters at an end of the line, both slaves in
# the middle.
qkd_line A B C D || exit 1
printf '[accounting]\nenabled = no\n' >> "$QKD_DIR/C.conf"
printf '[accounting]\nenabled = no\n' >> "$QKD_DIR/D.conf"
for n in A B C D; do qkd_start "$n" || exit 1; done
for n in A B C D; do qkd_wait_peers "$n" || exit 1; done
qkd_settle

hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# run NODE MASTER SLAVE: one loadgen run; prints "rps req/CPU-s p50 p99"
run() {
	local node=$1 master=$2 slave=$3 pid=${QKD_PID[$1]} t0 t1 out req
	t0=$(cpu_ticks "$pid")
	out=$("$loadgen" -w 0.5 -a "${QKD_ETSI[$node]}" -n "$node" \
		--ca "$QKD_DIR/ca.pem" --cert "$QKD_DIR/$master.pem" \
		--key "$QKD_DIR/$master.key" -c "$conns" -d "$secs" -N "$cap" \
		-p "/api/v1/keys/$slave/enc_keys") || { echo "# loadgen: $out" >&2; return 1; }
	t1=$(cpu_ticks "$pid")
	req=$(( $(qkd_field "$out" requests) + $(qkd_field "$out" warmup_requests) ))
	[ "$(qkd_field "$out" errors)" = 0 ] || { echo "# $node: $out" >&2; return 1; }
	echo "$(qkd_field "$out" rps) $(awk -v r="$req" -v t=$((t1 - t0)) -v hz="$hz" \
		'BEGIN { printf "%.0f", (t > 0 ? r / (t / hz) : 0) }') $(qkd_field "$out" p50_us) $(qkd_field "$out" p99_us)"
}

status=0
: > "$QKD_DIR/on"; : > "$QKD_DIR/off"
printf '%-6s %-4s %10s %11s %8s %8s\n' round acct req/s req/CPU-s p50_us p99_us
for ((i = 1; i <= rounds; i++)); do
	r=$(run A app1 app2) && echo "$r" >> "$QKD_DIR/on"
	printf '%-6s %-4s %10s %11s %8s %8s\n' "$i" on ${r:-error}
	r=$(run D app4 app3) && echo "$r" >> "$QKD_DIR/off"
	printf '%-6s %-4s %10s %11s %8s %8s\n' "$i" off ${r:-error}
done
[ -s "$QKD_DIR/on" ] && [ -s "$QKD_DIR/off" ] ||
	{ echo "# no run without errors on one side" >&2; status=1; }
# medians per column, then on/off
med() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'; }
line=""
for col in 1 2 3 4; do
	on=$(cut -d' ' -f$col "$QKD_DIR/on" | med)
	off=$(cut -d' ' -f$col "$QKD_DIR/off" | med)
	line+=$(awk -v a="$on" -v b="$off" 'BEGIN { printf " %s/%s=%.3f", a, b, (b > 0 ? a / b : 0) }')
done
echo "# accounting on/off, medians of $rounds runs (req/s, req/CPU-s, p50_us, p99_us):$line"
# The same cost without the machine's noise: accounting's CPU time per
# answer in one process, against the CPU time of an answer without it.
mkdir -p "$QKD_DIR/event_cost"
ec=$("$here/build/event_cost" "$QKD_DIR/event_cost") || status=1
echo "# event_cost: $ec"
off_cpu=$(cut -d' ' -f2 "$QKD_DIR/off" | med)
awk -v ns="$(qkd_field "$ec" batched_ns)" -v u="$(qkd_field "$ec" unbatched_ns)" \
	-v r="$off_cpu" 'BEGIN { if (r > 0) { c = 1e9 / r;
	printf "# an enc_keys answer without accounting: %.1f us of server CPU; accounting adds %.2f us (%.1f %%), %.2f us with a write(2) per answer: req/CPU-s on/off %.3f\n",
	c / 1000, ns / 1000, 100 * ns / c, u / 1000, c / (c + ns) } }'
jq -e '.pairs[0].total.enc_keys > 0' <(qkd_ctl A account show --json) >/dev/null ||
	{ echo "# A counted nothing: accounting was not on" >&2; status=1; }
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; $conns connections, ${secs}s per run"
exit $status
