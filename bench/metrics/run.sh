#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The cost of a /metrics scrape (issue 19, acceptance 8): two qkdkmd nodes
# A - B on loopback (sim link at 100 Mbit/s) with 100 SAEs, 50 SAE pairs
# from A to B.  A scrape of A's /metrics (HTTPS, mutual TLS, one kept-alive
# connection) is timed next to the control socket's "status" (one
# connection) in the same run, first with no key records, then once the
# pairs were handed KEYS keys in all (default 100000: A holds that many
# records, B as many waiting for their slaves).  Prints a table of median
# times, the ratio scrape / status, and the scrape's size.
#
#	bench/metrics/run.sh [KEYS]
#
# Needs daemon/build/qkdkmd and tools/build/qkdctl (make userspace).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../selftests/host/lib.sh"
KEYS=${1:-100000}
PAIRS=50
N=${METRICS_BENCH_N:-200}
QKD_TIMEOUT=${QKD_TIMEOUT:-600}
# shellcheck disable=SC2034 # read by lib.sh's qkd_line
QKD_LOG_LEVEL=warning QKD_RATE=100000000 QKD_MAX_KEY_COUNT=$((KEYS + 1000))
qkd_setup bench-metrics || exit 1
extra=
pairs=app1:app2
for ((i = 1; i < PAIRS; i++)); do
	extra="$extra m$i@A s$i@B"
	pairs="$pairs,m$i:s$i"
done
QKD_EXTRA_SAES=$extra qkd_line A B || { echo "configs failed" >&2; exit 1; }
qkd_cert prometheus || exit 1
sed -i 's/^max_key_per_request = .*/max_key_per_request = 1000/' "$QKD_DIR"/*.conf
declare -A MPORT=([A]=$((QKD_PORT_BASE + 50)) [B]=$((QKD_PORT_BASE + 51)))
for n in A B; do
	printf '[metrics]\nlisten = 127.0.0.1:%d\nclients = prometheus\n' \
		"${MPORT[$n]}" >> "$QKD_DIR/$n.conf"
done
qkd_start A && qkd_start B && qkd_wait_peers A ||
	{ echo "daemons did not start" >&2; exit 1; }
qkd_settle

measure() {	# LABEL NODE
	local out records
	out=$("$QKD_PY" "$here/bench.py" time "127.0.0.1:${MPORT[$2]}" \
		"$QKD_DIR/ca.pem" "$QKD_DIR/prometheus.pem" "$QKD_DIR/prometheus.key" \
		"$QKD_DIR/$2.sock" "$N") || exit 1
	records=$("$QKD_PY" "$QKD_TOP/selftests/host/qkd_host.py" ctl "$QKD_DIR/$2.sock" \
		'{"cmd":"key show","limit":1}' |
		"$QKD_PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["total"])')
	echo "$1 node=$2 records=${records:-?} $out" >> "$QKD_DIR/rows"
}
measure before A
measure before B
load=$("$QKD_PY" "$here/bench.py" load "${QKD_ETSI[A]}" "$QKD_DIR/ca.pem" \
	"$QKD_DIR" "$pairs" $((KEYS / PAIRS)) 1000) || exit 1
echo "# loaded: $load"
sleep 5	# the Kx-2 reservations and acks behind the last answers settle
measure after A
measure after B

"$QKD_PY" - "$QKD_DIR/rows" "$N" <<'PY'
import sys
rows = [dict(kv.split("=") for kv in l.split()[1:]) | {"label": l.split()[0]}
        for l in open(sys.argv[1])]
print("# %s scrapes and status requests each, medians; 100 SAEs, 50 pairs A -> B" % sys.argv[2])
print("| node | key records | /metrics us | status us | ratio scrape/status | scrape bytes | series |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print("| %s | %s | %s | %s | %.1f | %s | %s |" % (
        r["node"], r["records"], r["scrape_us"], r["status_us"],
        int(r["scrape_us"]) / max(1, int(r["status_us"])),
        r["scrape_bytes"], r["series"]))
PY
