#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The host tests' listeners stay below the kernel's ephemeral port range
# (qkd_port_base in lib.sh), where any outgoing connection may hold a port:
# the base and the 99 ports after it, for pids across the usual pid_max
# (4194304), in steps that meet every residue the function can take.
set -u
. "$(dirname "$0")/lib.sh"
read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
out=$(for ((pid = 1; pid < 4194304; pid += 997)); do
	qkd_port_base "$pid"
done | awk -v lo="$lo" '{ if ($1 < 1024 || $1 + 99 >= lo) bad = bad " " $1
	if (NR == 1 || $1 < min) min = $1; if ($1 > max) max = $1 }
	END { printf "%d-%d%s", min, max, bad ? "; not for" bad : ""; exit bad != "" }')
ok $? "port bases $out, each + 99 below $lo"
tap_done
