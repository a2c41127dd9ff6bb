#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# SKIP benchmark: new keys per second over SKIP (GET /key?remoteSystemID=)
# next to ETSI 014 enc_keys on the same node in the same run, both 1 x
# 256-bit key per request over keep-alive mutual TLS 1.3, with
# bench/etsi014's load generator.  The two alternate for ROUNDS rounds, so
# that load from the rest of the machine falls on both alike; the table
# gives each round's requests/s and requests per server CPU-second, and
# the SKIP/ETSI ratio of the sums.  Both ask the same KSA for the same
# pair (app1 -> app2), so the ratio is the cost of SKIP's front end
# against ETSI 014's.
#
# Usage: bench/skip/run.sh [SECONDS] [CONNS] [ROUNDS]

set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=${1:-3}
conns=${2:-8}
rounds=${3:-3}

make -s -C "$top/bench/etsi014" build/loadgen || exit 1
loadgen=$top/bench/etsi014/build/loadgen
# shellcheck source=../../selftests/host/lib.sh
source "$top/selftests/host/lib.sh"
QKD_TIMEOUT=$((rounds * 2 * (secs + 10) + 60))
QKD_MAX_KEY_COUNT=10000000 QKD_RATE=200000000
export QKD_MAX_KEY_COUNT QKD_RATE
qkd_setup bench-skip || exit 1
qkd_line A B && qkd_cert routerA || exit 1
skip_addr=127.0.0.1:$((QKD_PORT_BASE + 50))
printf '[skip]\nlisten = %s\nlocal_system_id = gwA\nsae = app1\nclient_cn = routerA\nremote_systems = gwB:app2\n' \
	"$skip_addr" >> "$QKD_DIR/A.conf"
printf '[skip]\nlisten = 127.0.0.1:%d\nlocal_system_id = gwB\nsae = app2\nclient_cn = routerA\nremote_systems = gwA:app1\n' \
	$((QKD_PORT_BASE + 51)) >> "$QKD_DIR/B.conf"
qkd_start A && qkd_start B && qkd_wait_peers A && qkd_wait_peers B || exit 1
qkd_settle
pid=${QKD_PID[A]}
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run NAME ADDR CLIENT PATH: one loadgen run; prints "rps req_per_cpu_s".
run() {
	local name=$1 addr=$2 who=$3 path=$4 out t0 t1 n
	t0=$(cpu_ticks "$pid")
	out=$("$loadgen" -a "$addr" -n A --ca "$QKD_DIR/ca.pem" \
		--cert "$QKD_DIR/$who.pem" --key "$QKD_DIR/$who.key" \
		-c "$conns" -d "$secs" -w 0 -p "$path") || {
		echo "# $name: loadgen failed: $out" >&2
		return 1
	}
	t1=$(cpu_ticks "$pid")
	n=$(qkd_field "$out" requests)
	[ "$(qkd_field "$out" errors)" = 0 ] || { echo "# $name: $out" >&2; return 1; }
	echo "$(qkd_field "$out" rps) $(awk -v r="$n" -v t=$((t1 - t0)) -v hz="$hz" \
		'BEGIN { printf "%.0f", (t > 0 ? r / (t / hz) : 0) }')"
}

# A first run of each, not counted: connections, caches, the pool.
run etsi "${QKD_ETSI[A]}" app1 /api/v1/keys/app2/enc_keys >/dev/null &&
run skip "$skip_addr" routerA "/key?remoteSystemID=gwB" >/dev/null || exit 1
printf '# %d s per run, %d connections, node A (SKIP and ETSI 014 on the same KSA)\n' "$secs" "$conns"
printf '%-6s %12s %14s %12s %14s\n' round etsi_rps etsi_req/cpu-s skip_rps skip_req/cpu-s
sum_e=0 sum_s=0 cpu_e=0 cpu_s=0 rc=0
for ((i = 1; i <= rounds; i++)); do
	read -r e ec < <(run etsi "${QKD_ETSI[A]}" app1 /api/v1/keys/app2/enc_keys) || rc=1
	read -r s sc < <(run skip "$skip_addr" routerA "/key?remoteSystemID=gwB") || rc=1
	printf '%-6s %12s %14s %12s %14s\n' "$i" "${e:--}" "${ec:--}" "${s:--}" "${sc:--}"
	sum_e=$((sum_e + ${e:-0})) sum_s=$((sum_s + ${s:-0}))
	cpu_e=$((cpu_e + ${ec:-0})) cpu_s=$((cpu_s + ${sc:-0}))
done
awk -v a="$sum_s" -v b="$sum_e" -v c="$cpu_s" -v d="$cpu_e" 'BEGIN {
	printf "ratio skip/etsi014: keys/s %.2f, keys per server CPU-s %.2f\n",
		b ? a / b : 0, d ? c / d : 0 }'
qkd_stop A && qkd_stop B || rc=1
exit $rc
