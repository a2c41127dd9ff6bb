#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 21: chaos test.  A seeded random mesh (a ring plus chords) of
# qkdkmd daemons in a network namespace of its own, continuous ETSI 014
# load mostly over relays, and faults at seeded random times: link down,
# Kx reset, a silent Kx black hole, SIGKILL and SIGSTOP of relay and end
# nodes, a rolling restart.  The driver is chaos.py (what it checks is
# written there); figures per fault and overall are TAP comments.
#
#   chaos.sh                  short form for CI: 12 nodes, 90 s of faults
#   chaos.sh --long           long form ("make chaos"): 16 nodes, 330 s
#   CHAOS_SEED=N CHAOS_NODES=N CHAOS_SECONDS=N override; the same seed
#   gives the same mesh and the same fault schedule.
set -u
. "$(dirname "$0")/relay_lib.sh"
relay_netns "$@" || { echo "1..0 # SKIP needs root and unshare (a network namespace of its own)"; exit 0; }
nodes=12 seconds=90
if [ "${1:-}" = --long ]; then
	nodes=16 seconds=330
fi
nodes=${CHAOS_NODES:-$nodes}
seconds=${CHAOS_SECONDS:-$seconds}
seed=${CHAOS_SEED:-21}
QKD_TIMEOUT=$((seconds + 180))
qkd_setup chaos || exit 1
mapfile -t edges < <("$QKD_PY" "$(dirname "$0")/chaos.py" topo "$seed" "$nodes")
diag "seed $seed, $nodes nodes, ${#edges[@]} links: ${edges[*]}"
relay_topo "${edges[@]}"; ok $? "configs and certificates for the mesh"
relay_kx_ips
"$QKD_PY" "$(dirname "$0")/chaos.py" run "$QKD_DIR" "$seed" "$seconds" "$tap_n" "${edges[@]}"
