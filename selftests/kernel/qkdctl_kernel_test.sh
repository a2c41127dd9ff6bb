#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qkdctl's kernel commands (tools/qkdctl_kernel.c) against a qkd_sim pair:
# "link set" starts both ends and moves one into a netns, "link show -j"
# reports them UP with the pool filling, "monitor -j" sees a link cut as
# state changes, and bad input exits 2 (kernel refusals exit 1) with one
# line of explanation and leaves every link end as it was.

. "$(dirname "$0")/lib.sh"
tool=$QKD_TOP/tools/build/qkdctl
bus=/sys/bus/qkd_sim
sim=90
link_id=990
dbg=/sys/kernel/debug/qkd_sim/qkd_sim$sim
ns=qkdctl_b
out=/tmp/qkdctl_kernel_test
mon_pid=

echo "KTAP version 1"

cleanup() {
	[ -n "$mon_pid" ] && kill "$mon_pid" 2>/dev/null && wait "$mon_pid"
	[ -e "$bus/devices/qkd_sim$sim" ] && echo "$sim" >$bus/del_device
	ip netns del $ns 2>/dev/null
}
trap cleanup EXIT

if [ ! -x "$tool" ]; then
	ktap_skip "qkdctl not built (make -C tools)" "qkdctl kernel"
	ktap_finish
	exit 4
fi
if ! command -v jq >/dev/null; then
	ktap_skip "jq not installed" "qkdctl kernel"
	ktap_finish
	exit 4
fi
mkdir -p $out

as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# end_json INDEX: "-s -j kernel link show INDEX" as one object (empty if
# absent).  -s before "kernel" is --stats, as after it.
end_json() {
	"$tool" -s -j kernel link show "$1" 2>/dev/null | jq -c '.[0] // empty'
}

# What a refused request must not change: every end in this namespace.
snapshot() {
	"$tool" -j kernel link show |
		jq -c '[.[] | {index, state, qber_max_ppm, pool_warn_bytes, pool_ready_bytes}]'
}

# wait_event FILTER: waits up to 20 s for a monitor line matching FILTER.
wait_event() {
	local try
	for try in $(seq 1 100); do
		jq -e -s "any(.[]; $1)" $out/mon.json >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# --- set up: a pair, one end in a netns ---
echo "$sim $link_id 1024 256 128" >$bus/new_device &&
	echo 1000000 >$bus/devices/qkd_sim$sim/rate_bps
ktap_ok $? "create qkd_sim pair $sim (1 Mbit/s, pool of 128 blocks)"
tx=$(cat $bus/devices/qkd_sim$sim/tx_index)
rx=$(cat $bus/devices/qkd_sim$sim/rx_index)
ip netns del $ns 2>/dev/null
ip netns add $ns
ktap_ok $? "ip netns add $ns"

"$tool" -j kernel link show >$out/dump.json
jq -e --argjson tx "$tx" --argjson rx "$rx" --argjson id $link_id \
	'[.[] | select((.index == $tx and .role == "tx") or (.index == $rx and .role == "rx"))
	      | select(.link_id == $id and .state == "down")] | length == 2' \
	$out/dump.json >/dev/null
ktap_ok $? "link show -j (dump): both new ends, link id $link_id, down"

"$tool" kernel link set "$tx" up
ktap_ok $? "link set $tx up"
"$tool" kernel link set "$rx" up netns $ns
ktap_ok $? "link set $rx up netns $ns"

"$tool" kernel link show "$rx" >/dev/null 2>$out/gone.err
[ $? -eq 1 ] && grep -q "no such link in this network namespace (ENODEV)" $out/gone.err
ktap_ok $? "the moved end is gone from the initial namespace (exit 1, extack)"

ip netns exec $ns "$tool" -j kernel link show >$out/ns.json
jq -e --argjson rx "$rx" 'length == 1 and .[0].index == $rx and .[0].state == "up"' \
	$out/ns.json >/dev/null
ktap_ok $? "in $ns, link show -j lists only end $rx, state up"
"$tool" -n $ns -j kernel li sh | jq -e --argjson rx "$rx" \
	'length == 1 and .[0].index == $rx and .[0].state == "up"' >/dev/null
ktap_ok $? "qkdctl -n $ns kernel li sh: the same, like ip -n, by prefixes"

# --- the pool fills ---
sleep 1
a=$(end_json "$tx")
sleep 2
b=$(end_json "$tx")
jq -e -n --argjson a "$a" --argjson b "$b" \
	'$b.state == "up" and $b.pool_blocks > 0 and $b.pool_avail_bytes > 0 and
	 $b.stats.blocks_received > $a.stats.blocks_received and
	 $b.stats.bytes_received == $b.stats.blocks_received * 1024' >/dev/null
ktap_ok $? "link show -s -j $tx: up, pool filling ($(jq -r '.stats.blocks_received' <<<"$a") -> $(jq -r '.stats.blocks_received' <<<"$b") blocks received, $(jq -r '.pool_blocks' <<<"$b") held)"
ip netns exec $ns "$tool" -j kernel link show "$rx" |
	jq -e '.[0].pool_blocks > 0 and .[0].pool_avail_bytes > 0' >/dev/null
ktap_ok $? "the end in $ns fills its pool too"

"$tool" kernel -s link show "$tx" >$out/text.out
grep -qE "^$tx: .* link $link_id  role tx .* state up$" $out/text.out &&
	grep -q "statistics:" $out/text.out && grep -q "blocks_received [1-9]" $out/text.out
ktap_ok $? "link show (text) with -s: state and counters"

"$tool" kernel link set "$tx" qber-max 50000 pool-warn 4096 pool-ready 16384 &&
	end_json "$tx" | jq -e '.qber_max_ppm == 50000 and .pool_warn_bytes == 4096 and
				.pool_ready_bytes == 16384' >/dev/null
ktap_ok $? "link set qber-max, pool-warn, pool-ready: link show reports them"

! as_nobody "$tool" -j kernel link show "$tx" >/dev/null 2>$out/nobody.err &&
	grep -q EPERM $out/nobody.err
ktap_ok $? "link show refused to uid nobody (pool figures: CAP_NET_ADMIN only)"

# --- monitor sees a link cut ---
"$tool" -j kernel monitor >$out/mon.json 2>$out/mon.err &
mon_pid=$!
wait_event '.event == "keys_avail"'
ktap_ok $? "monitor -j: keys_avail events while the pool fills (pool group joined)"
echo Y >$dbg/link_cut
wait_event ".event == \"link\" and .index == $tx and .link_id == $link_id and .state == \"no-carrier\""
ktap_ok $? "monitor -j: link_cut shows as state no-carrier"
end_json "$tx" | jq -e '.state == "no-carrier"' >/dev/null
ktap_ok $? "link show -j: no-carrier during the cut"
echo N >$dbg/link_cut
wait_event ".event == \"link\" and .index == $tx and .state == \"up\""
ktap_ok $? "monitor -j: carrier back shows as state up"
kill -INT $mon_pid
wait $mon_pid
st=$?
mon_pid=
[ $st -eq 0 ] && [ ! -s $out/mon.err ] && jq -e -s 'length > 0' $out/mon.json >/dev/null
ktap_ok $? "monitor exits 0 on SIGINT, every line JSON ($(wc -l <$out/mon.json) events)"

# --- bad input: nothing changes ---
# refused EXIT PATTERN ARGS...: qkdctl ARGS (run by "${run_as[@]}") exits
# EXIT with one line on stderr matching PATTERN, prints nothing on stdout
# and changes nothing.
run_as=()
refused() {
	local want=$1 pattern=$2 before after st
	shift 2
	before=$(snapshot)
	"${run_as[@]}" "$tool" "$@" >$out/bad.out 2>$out/bad.err
	st=$?
	after=$(snapshot)
	[ $st -eq "$want" ] && [ "$(wc -l <$out/bad.err)" -eq 1 ] &&
		grep -q -- "$pattern" $out/bad.err && [ ! -s $out/bad.out ] &&
		[ -n "$before" ] && [ "$before" = "$after" ]
	ktap_ok $? "${run_as[*]:+${run_as[0]} }qkdctl $* -> exit $want, '$pattern', nothing changed"
	[ $st -eq "$want" ] || sed "s/^/# exit $st: /" $out/bad.err
}
refused 2 "unknown word 'sideways'" kernel link set "$tx" sideways
refused 2 "'qber-max' needs a value" kernel link set "$tx" down qber-max
refused 2 "qber-max: 'lots' is not a number" kernel link set "$tx" down qber-max lots
refused 2 "qber-max: '1000001' is not a number in 1..1000000" \
	kernel link set "$tx" qber-max 1000001
refused 2 "pool-warn: '-5' is not a number" kernel link set "$tx" down pool-warn -5
refused 2 "'x1' is not a link index" kernel link set x1 down
refused 2 "'up' or 'down', once" kernel link set "$tx" down up
refused 2 "'netns' given twice" kernel link set "$tx" netns a netns b
refused 2 "nothing to change" kernel link set "$tx"
refused 2 "unexpected argument '$rx'" kernel link show "$tx" "$rx"
refused 2 "unknown command 'frob'" kernel frob
refused 2 "monitor: unknown group 'keys'" kernel monitor keys
# Refused by the kernel: exit 1 with its extack message; all or nothing.
refused 1 "link set: pool WARN threshold above READY (EINVAL)" \
	kernel link set "$tx" down pool-warn 9000 pool-ready 100
refused 1 "link set: no such link in this network namespace (ENODEV)" \
	kernel link set "$rx" down
refused 1 "link set: netns qkdctl_nope: /run/netns/qkdctl_nope: No such file" \
	kernel link set "$tx" down netns qkdctl_nope
run_as=(as_nobody)
refused 1 "link set: .*(EPERM); this needs CAP_NET_ADMIN" kernel link set "$tx" down
# "timeout": should the kernel let nobody in, monitor would run forever.
# It runs as root around setpriv, which execs the tool as nobody the same
# way as above (timeout as nobody could not exec it from a 0700 checkout).
run_as=(timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups)
refused 1 "monitor: cannot join the \"pool\" group: .*CAP_NET_ADMIN" kernel monitor pool
run_as=()

# --- back home by path, and down ---
ip netns exec $ns "$tool" kernel link set "$rx" netns /proc/1/ns/net &&
	end_json "$rx" | jq -e '.state == "up"' >/dev/null
ktap_ok $? "link set $rx netns /proc/1/ns/net (a path) from inside $ns: back, still up"
"$tool" kernel link set "$tx" down && "$tool" kernel link set "$rx" down &&
	"$tool" -j kernel link show | jq -e --argjson tx "$tx" --argjson rx "$rx" \
		'[.[] | select(.index == $tx or .index == $rx) | .state] == ["down", "down"]' >/dev/null
ktap_ok $? "link set down: both ends down"

ktap_finish
