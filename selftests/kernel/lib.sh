# SPDX-License-Identifier: GPL-2.0
#
# Shell helpers for the qkd kernel selftests, sourced inside the VM.

QKD_TOP=${QKD_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
QKD_BIN=$QKD_TOP/build/selftests/kernel
# qkd.ko and qkd_sim.ko for the running kernel (run.sh sets it for the
# debug kernel's build/debug-kernel/kernel).
QKD_KO_DIR=${QKD_KO_DIR:-$QKD_TOP/kernel}
QKD_TRACING=/sys/kernel/tracing
[ -d $QKD_TRACING/events ] || QKD_TRACING=/sys/kernel/debug/tracing

# Turns on every tracepoint of the qkd modules (their events are gone after
# an rmmod, so call this after every load).
qkd_trace_on() {
	local d
	for d in "$QKD_TRACING"/events/qkd*; do
		[ -e "$d/enable" ] && echo 1 >"$d/enable"
	done
	return 0
}

# insmod by path does not load dependencies: modprobe Debian's (e.g.
# libcrc32c) first; our own (qkd) are loaded in order.
qkd_insmod() {
	local name=$1 ko=$QKD_KO_DIR/$1.ko dep
	grep -q "^$name " /proc/modules && return 0
	for dep in $(modinfo -F depends "$ko" | tr , ' '); do
		case $dep in qkd|qkd_sim) continue ;; esac
		modprobe "$dep" || return 1
	done
	insmod "$ko"
}

qkd_load() {
	qkd_insmod qkd && qkd_insmod qkd_sim && qkd_trace_on
}

# qkd_esp_modules: what an ESP SA from QKD_CMD_SA_ADD needs.  request_module
# cannot reach modprobe from the VM's chroot; seqiv seeds from drbg, whose
# self-test needs sha512.
qkd_esp_modules() {
	local m
	for m in xfrm_user esp4 esp6 gcm ghash_generic seqiv ctr sha512_generic drbg; do
		modprobe "$m" 2>/dev/null || echo "# modprobe $m failed"
	done
}

# qkd_sim_up SIM LINK_ID BLOCK RATE [SEED]: loads the modules, creates the
# qkd_sim pair SIM in this namespace (key bytes derived from SEED if given,
# Documentation/qkd/sim.rst), generating at RATE bit/s, and brings both
# ends up; sets $tx and $rx to their link indexes.
qkd_sim_up() {
	local d=/sys/bus/qkd_sim/devices/qkd_sim$1
	qkd_load && echo "$1 $2 $3 256 0${5:+ $5}" >/sys/bus/qkd_sim/new_device &&
		echo "$4" >$d/rate_bps || return 1
	tx=$(cat $d/tx_index) rx=$(cat $d/rx_index)
	"$QKD_TOP/tools/build/qkdctl" kernel link set "$tx" up &&
		"$QKD_TOP/tools/build/qkdctl" kernel link set "$rx" up
}

# qkd_need_kcore WHAT: skips the whole test (exit 4) without /proc/kcore.
qkd_need_kcore() {
	[ -r /proc/kcore ] && return 0
	ktap_skip "no /proc/kcore" "$1"
	ktap_finish
	exit 4
}

qkd_unload() {
	local m
	for m in qkd_sim qkd; do
		grep -q "^$m " /proc/modules || continue
		rmmod "$m" || return 1
	done
}

# KTAP helpers for shell tests.
ktap_n=0
ktap_failed=0
ktap_ok() {	# ktap_ok STATUS description...
	local st=$1; shift
	ktap_n=$((ktap_n + 1))
	if [ "$st" -eq 0 ]; then
		echo "ok $ktap_n - $*"
	else
		ktap_failed=$((ktap_failed + 1))
		echo "not ok $ktap_n - $*"
	fi
}
ktap_skip() {	# ktap_skip reason description...
	local why=$1; shift
	ktap_n=$((ktap_n + 1))
	echo "ok $ktap_n - $* # SKIP $why"
}
ktap_finish() {
	echo "# Totals: pass:$((ktap_n - ktap_failed)) fail:$ktap_failed"
	[ "$ktap_failed" -eq 0 ]
}

# Two qkdkmd gateways in network namespaces, on one kernel qkd link.  The
# caller sets $link_id and $kx_port and has sourced selftests/host/lib.sh.
#
# gw_link NS_A NS_B SIM LINK_ID BLOCK POOL_BLOCKS RATE: a fresh qkd_sim
# pair SIM (link LINK_ID, RATE bit/s) with its TX end, whose index goes in
# $tx, up in a fresh netns NS_A and its RX end ($rx) up in NS_B.
gw_link() {
	local bus=/sys/bus/qkd_sim
	gw_unlink "$1" "$2" "$3"
	echo "$3 $4 $5 256 $6" >$bus/new_device &&
		echo "$7" >"$bus/devices/qkd_sim$3/rate_bps" &&
		tx=$(cat "$bus/devices/qkd_sim$3/tx_index") &&
		rx=$(cat "$bus/devices/qkd_sim$3/rx_index") &&
		ip netns add "$1" && ip netns add "$2" &&
		"$QKDCTL" kernel link set "$tx" up netns "$1" &&
		"$QKDCTL" kernel link set "$rx" up netns "$2"
}

# gw_unlink NS_A NS_B SIM: removes what gw_link made, if it is there.
gw_unlink() {
	ip netns del "$1" 2>/dev/null
	ip netns del "$2" 2>/dev/null
	[ ! -e "/sys/bus/qkd_sim/devices/qkd_sim$3" ] || echo "$3" >/sys/bus/qkd_sim/del_device
}

# gw_veth NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth pair between the two
# namespaces with a /24 address at each end; lo is brought up too.
gw_veth() {
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" &&
		ip -n "$1" addr add "$3/24" dev "$2" && ip -n "$4" addr add "$6/24" dev "$5" &&
		ip -n "$1" link set lo up && ip -n "$4" link set lo up &&
		ip -n "$1" link set "$2" up && ip -n "$4" link set "$5" up
}

# gw_kx ADDR: the [kx] section of a node listening on ADDR.  TCG on a
# loaded host stalls a daemon's event loop for up to a second or two, and the
# peer cannot tell that from a dead host: heartbeats slow enough that no stall
# is taken for a death (the default 300 ms dead interval is not).
gw_kx() {
	printf '[kx]\nlisten = %s:%s\nheartbeat_ms = 250\ndead_after = 20\n' "$1" "$kx_port"
}

# gw_conf NODE ADDR PEER PEER_ADDR [LOG_LEVEL]: prints the sections such a
# node's config always has -- [node], [tls], [kx], [peer PEER] and
# [link AB] (source = kernel) -- for the test to follow with its own.
gw_conf() {
	local node=$1 addr=$2 peer=$3 peer_addr=$4 level=${5:-debug}
	mkdir -p "$QKD_DIR/state-$node"
	cat <<-EOF
	[node]
	name = $node
	state_dir = state-$node
	control = $node.sock
	log_level = $level

	[tls]
	ca = ca.pem
	cert = $node.pem
	key = $node.key

	$(gw_kx "$addr")

	[peer $peer]
	address = $peer_addr:$kx_port
	cert_cn = $peer

	[link AB]
	peer = $peer
	source = kernel
	link_id = $link_id

	EOF
}

# gw_wrappers NS...: $QKD_DIR/qkdkmd-NS runs $QKDKMD inside netns NS, so
# that "QKDKMD=$QKD_DIR/qkdkmd-NS qkd_start NODE" starts a node there.
gw_wrappers() {
	local ns
	for ns in "$@"; do
		printf '#!/bin/sh\nexec ip netns exec %s %q "$@"\n' "$ns" "$QKDKMD" \
			>"$QKD_DIR/qkdkmd-$ns" && chmod 755 "$QKD_DIR/qkdkmd-$ns" || return 1
	done
}

# gw_logs [LINES]: the tail of both nodes' logs, as KTAP diagnostics.
gw_logs() {
	local n
	for n in A B; do
		tail -n "${1:-30}" "$QKD_DIR/$n.log" 2>/dev/null | sed "s/^/# $n.log: /"
	done
}

# gw_kx_up NODE: its status says every peer is up (jq: python costs ~1 s
# in TCG).
gw_kx_up() {
	qkd_ctl "$1" -j status 2>/dev/null | jq -e '.peers > 0 and .peers == .peers_up' >/dev/null
}

# gw_start NS_A NS_B: starts node A in NS_A and node B in NS_B (after
# gw_wrappers) and waits up to 30 s for their Kx channel, one KTAP line
# each.  If anything failed so far, it prints the logs and ends the test.
gw_start() {
	local i
	QKDKMD=$QKD_DIR/qkdkmd-$1 qkd_start A
	ktap_ok $? "qkdkmd A starts in netns $1"
	QKDKMD=$QKD_DIR/qkdkmd-$2 qkd_start B
	ktap_ok $? "qkdkmd B starts in netns $2"
	if [ -n "${QKD_PID[A]:-}" ] && [ -n "${QKD_PID[B]:-}" ]; then
		for i in $(seq 1 60); do
			gw_kx_up A && gw_kx_up B && break
			sleep 0.5
		done
		gw_kx_up A && gw_kx_up B
		ktap_ok $? "Kx channel A-B up"
	fi
	[ "$ktap_failed" -eq 0 ] && return 0
	gw_logs
	ktap_finish
	exit 1
}
