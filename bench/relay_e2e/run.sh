#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End-to-end key relay latency on loopback: a line of 11 qkdkmd daemons
# A-B-...-K with simulated links.  For each destination (B: 1 hop, direct
# Kx-2 reservation = baseline; C: 2 hops, F: 5 hops, K: 10 hops relayed
# with one-time pad + ITS MAC per hop) the master at A asks for N keys, one
# request at a time, and the daemon's own key records give the time from
# the key's creation at A to its end-to-end acknowledgement back at A
# (created_ns -> changed_ns of A's record): the round trip of the
# reservation or relay, excluding HTTP.  One-way latency is about half.
#
#	bench/relay_e2e/run.sh [N]        (default N = 50)
#
# Needs daemon/build/qkdkmd and tools/build/qkdctl (make userspace).
set -u
N=${1:-50}
. "$(dirname "$0")/../../selftests/host/relay_lib.sh"
QKD_TIMEOUT=${QKD_TIMEOUT:-300}
QKD_LOG_LEVEL=warning
qkd_setup relay-bench || exit 1
relay_topo A-B B-C C-D D-E E-F F-G G-H H-I I-J J-K >/dev/null || exit 1
relay_start_all || { echo "daemons did not start" >&2; exit 1; }
relay_wait_route A K 200 || { echo "no route A->K" >&2; exit 1; }
qkd_settle
for dst in B C F K; do
	for ((i = 0; i < N; i++)); do
		qkd_enc A app1 "${RELAY_SAE[$dst]}" "number=1" >/dev/null
	done
done
sleep 1
relay_ctl A "{\"cmd\":\"key show\",\"limit\":$((4 * N + 10))}" |
"$QKD_PY" -c '
import json, sys
d = json.load(sys.stdin)["data"]["keys"]
hops = {"app2": ("B", 1, "direct Kx-2 reservation (baseline)"),
        "app3": ("C", 2, "relay"), "app6": ("F", 5, "relay"),
        "app11": ("K", 10, "relay")}
print("| destination | hops | mode | keys | median RTT us | p90 RTT us | min us |")
print("|---|---|---|---|---|---|---|")
for sae, (node, h, mode) in hops.items():
    t = sorted((k["changed_ns"] - k["created_ns"]) / 1000 for k in d
               if k["slaves"] and k["slaves"][0]["sae"] == sae
               and k["state"] == "consumed")
    if not t:
        print("| %s | %d | %s | 0 | - | - | - |" % (node, h, mode)); continue
    print("| %s | %d | %s | %d | %.0f | %.0f | %.0f |" % (
        node, h, mode, len(t), t[len(t) // 2], t[int(len(t) * 0.9)], t[0]))
'
