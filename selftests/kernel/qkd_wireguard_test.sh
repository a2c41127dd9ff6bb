#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 18, acceptance 2: WireGuard preshared keys rotated from QKD keys
# (Documentation/qkd/wireguard.rst).
#
# Two namespaces "wa" and "wb" joined by a veth pair, a wg0 interface in
# each (wireguard-tools' wg, keys from wg genkey), peered with each other,
# and a qkdkmd in each with a simulated QKD link (source = sim, 64-byte
# blocks: one PSK each, the other 32 bytes key the block's confirmation) and a [wireguard w0] section that rotates wg0's
# peer PSK every ROTATE_S (5) seconds.  Checks:
#   - a section naming a public key wg0 has no peer: qkdkmd exits 1 naming
#     the section and the interface;
#   - RUN_S (30; QKD_WG_RUN_SECONDS=60 for the issue's full minute, which
#     takes some 80 s of ping under TCG) seconds of ping -i 0.05 over wg0
#     while the PSK rotates: loss counted and reported (at most 1%);
#     sampled between rotations, "wg show wg0 preshared-keys" is equal at
#     both ends and equal to the QKD key of the key ID qkdctl reports,
#     derived here from the link's seed with openssl enc -aes-256-ctr (the
#     sim source's definition, keysrc.h), not through qkdkmd; a new key ID
#     comes with a new PSK; no key ID twice; both ends set the same key
#     IDs in the same order;
#   - the PSK is in force: both interfaces cycled (no session left), a
#     fresh handshake under the current PSK carries ping;
#   - a PSK tampered with at one end (what a rotation that skips one end
#     leaves) is seen: the ends differ and no handshake completes; the
#     first rotation after the daemons start again repairs it;
#   - key shortage (a link too slow for the interval): alarm wireguard:w0,
#     state degraded, failures counted, the PSK kept at both ends, traffic
#     passing through a fresh handshake;
#   - both daemons exit 0 on SIGTERM.
# Key bytes are compared in shell variables and never printed.

QKD_TIMEOUT=${QKD_TIMEOUT:-400}
# shellcheck source=selftests/kernel/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/host/lib.sh
. "$QKD_TOP/selftests/host/lib.sh"

RUN_S=${QKD_WG_RUN_SECONDS:-30}
ROTATE_S=${QKD_WG_ROTATE_SECONDS:-5}
ns_a=wa
ns_b=wb
addr_a=10.95.0.1
addr_b=10.95.0.2
wg_a=10.94.0.1
wg_b=10.94.0.2
wg_port=51820
kx_port=8464
etsi_port=8463

echo "KTAP version 1"

skip_all() {
	ktap_skip "$1" "qkdkmd WireGuard PSK rotation"
	ktap_finish
	exit 4
}

[ -x "$QKDKMD" ] || skip_all "qkdkmd not built (make -C daemon)"
[ -x "$QKDCTL" ] || skip_all "qkdctl not built (make -C tools)"
for tool in wg jq openssl ping base64; do
	command -v "$tool" >/dev/null || skip_all "$tool not installed"
done
modprobe wireguard 2>/dev/null || skip_all "no wireguard module"
# Request_module cannot reach modprobe from the VM's chroot: load up front.
modprobe veth 2>/dev/null || echo "# modprobe veth failed"

wg_cleanup() {
	qkd_cleanup
	ip netns del $ns_a 2>/dev/null
	ip netns del $ns_b 2>/dev/null
}
qkd_setup wireguard || skip_all "helper setup failed"
trap wg_cleanup EXIT
ip netns del $ns_a 2>/dev/null
ip netns del $ns_b 2>/dev/null

# ---- namespaces, veth, wg0 at each end: the operator's part ----

ip netns add $ns_a && ip netns add $ns_b &&
	gw_veth $ns_a veth-wa $addr_a $ns_b veth-wb $addr_b
ktap_ok $? "veth $ns_a $addr_a <-> $ns_b $addr_b"
umask 077
wg genkey >"$QKD_DIR/a.priv" && wg genkey >"$QKD_DIR/b.priv" &&
	pub_a=$(wg pubkey <"$QKD_DIR/a.priv") && pub_b=$(wg pubkey <"$QKD_DIR/b.priv")
add_wg() {	# NS PRIV ADDR PEER_PUB PEER_ENDPOINT PEER_WG_ADDR
	ip -n "$1" link add wg0 type wireguard &&
		ip netns exec "$1" wg set wg0 listen-port $wg_port private-key "$2" \
			peer "$4" endpoint "$5:$wg_port" allowed-ips "$6/32" &&
		ip -n "$1" addr add "$3/24" dev wg0 &&
		ip -n "$1" link set wg0 up
}
add_wg $ns_a "$QKD_DIR/a.priv" $wg_a "$pub_b" $addr_b $wg_b &&
	add_wg $ns_b "$QKD_DIR/b.priv" $wg_b "$pub_a" $addr_a $wg_a
ktap_ok $? "wg0 in both namespaces, peered (no PSK yet): $wg_a, $wg_b"
[ "$ktap_failed" -eq 0 ] || { ktap_finish; exit 1; }

# ---- configs ----

qkd_ca ca && qkd_cert A && qkd_cert B
ktap_ok $? "CA and certificates for A and B"
seed=$(openssl rand -hex 32)
seed2=$(openssl rand -hex 32)

# write_conf NODE ADDR PEER PEER_ADDR ROLE PEER_PUBKEY [LINK_RATE [SEED]]
write_conf() {
	local node=$1 addr=$2 peer=$3 peer_addr=$4 role=$5 pub=$6
	local rate=${7:-2560} s=${8:-$seed}
	mkdir -p "$QKD_DIR/state-$node"
	cat >"$QKD_DIR/$node.conf" <<-EOF
	[node]
	name = $node
	state_dir = state-$node
	control = $node.sock
	log_level = debug

	[tls]
	ca = ca.pem
	cert = $node.pem
	key = $node.key

	[etsi014]
	listen = $addr:$etsi_port
	max_key_size = 256

	$(gw_kx "$addr")

	[peer $peer]
	address = $peer_addr:$kx_port
	cert_cn = $peer

	[link AB]
	peer = $peer
	source = sim
	role = $role
	seed = $s
	rate = $rate
	block_size = 64

	[wireguard w0]
	interface = wg0
	public_key = $pub
	peer = $peer
	link = AB
	rotate_interval = $ROTATE_S
	EOF
}

gw_wrappers $ns_a $ns_b

# ---- a section naming a peer wg0 does not have ----

write_conf A $addr_a B $addr_b tx "$pub_a"
out=$(timeout 20 "$QKD_DIR/qkdkmd-$ns_a" -c "$QKD_DIR/A.conf" 2>&1)
rc=$?
echo "$out" | tail -n 1 | sed 's/^/# /'
[ $rc -eq 1 ] && echo "$out" | grep -q "\[wireguard w0\]: interface 'wg0' has no peer"
ktap_ok $? "unknown WireGuard peer: qkdkmd exits 1 (got $rc) naming [wireguard w0] and wg0"

# ---- the daemons ----

write_conf A $addr_a B $addr_b tx "$pub_b" && write_conf B $addr_b A $addr_a rx "$pub_a"
ktap_ok $? "configs: [wireguard w0] on wg0, sim link AB with 64-byte blocks, rotate_interval $ROTATE_S"
gw_start $ns_a $ns_b

# wgf NODE FIELD: a field of "qkdctl -j wireguard show" (the one peer).
wgf() {
	qkd_ctl "$1" -j wireguard show 2>/dev/null | jq -r ".[0].$2 | select(. != null)"
}
psk_of() {	# NS: wg0's peer PSK, base64
	ip netns exec "$1" wg show wg0 preshared-keys | awk '{print $2}'
}
# qkd_key KEY_ID_HEX [SEED]: the 32 bytes the sim link derives for that
# key ID (block << 16 | offset, offset 0: one key per 64-byte block), base64.
qkd_key() {
	local id=$((16#$1)) s=${2:-$seed}
	head -c 32 /dev/zero |
		openssl enc -aes-256-ctr -K "$s" -iv "$(printf '%016x%016x' $((id >> 16)) 0)" |
		base64
}

for i in $(seq 1 120); do
	[ "$(wgf A state)" = up ] && [ "$(wgf B state)" = up ] && break
	sleep 0.25
done
[ "$(wgf A state)" = up ] && [ "$(wgf B state)" = up ]
ktap_ok $? "both ends up: a first QKD PSK set (A $(wgf A state), B $(wgf B state))"
[ "$(wgf A owner)" = true ] && [ "$(wgf B owner)" = false ]
ktap_ok $? "A (the node that dials Kx) owns the rotation"
ip netns exec $ns_a ping -q -c 3 -W 5 $wg_b >/dev/null
ktap_ok $? "ping $wg_a -> $wg_b over wg0"
for n in A B; do
	qkd_ctl "$n" wireguard show 2>&1 | sed "s/^/# $n: /"
done

# ---- RUN_S seconds of traffic while the PSK rotates ----

# wgline NODE: "KEY_ID AGE_MS NEXT_MS" from qkdctl's plain output (no jq:
# every process start costs in TCG).
wgline() {
	qkd_ctl "$1" wireguard show 2>/dev/null |
		sed -n 's/.*psk key_id \([0-9a-f-]*\) age \([0-9-]*\) ms, next rotation in \([0-9-]*\) ms.*/\1 \2 \3/p'
}
rot_a0=$(wgf A rotations)
count=$((RUN_S * 20))
ip netns exec $ns_a ping -q -i 0.05 -c $count -W 1 $wg_b >"$QKD_DIR/ping.out" 2>&1 &
ping_pid=$!
# Samples: key ID and both ends' PSK, taken only when the next rotation is
# far enough away, and kept only if the key ID did not change meanwhile.
# The PSKs stay in these arrays, never printed.
s_id=() s_a=() s_b=()
moving=0
while kill -0 $ping_pid 2>/dev/null; do
	read -r id1 _ next <<<"$(wgline A)"
	if [ -z "$id1" ] || [ "${next:-0}" -lt 2500 ]; then
		sleep 0.5
		continue
	fi
	pa=$(psk_of $ns_a)
	pb=$(psk_of $ns_b)
	read -r id2 _ <<<"$(wgline A)"
	if [ "$id1" != "$id2" ]; then
		moving=$((moving + 1))	# a rotation came between: not a sample
		continue
	fi
	s_id+=("$id1") s_a+=("$pa") s_b+=("$pb")
done
wait $ping_pid
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$QKD_DIR/ping.out")
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$QKD_DIR/ping.out")
grep -E 'packets transmitted' "$QKD_DIR/ping.out" | sed 's/^/# /'
lost=$(( ${sent:-0} - ${recv:-0} ))
diag "ping -i 0.05 for $RUN_S s over rotating PSKs: $recv of $sent answered, $lost lost"
[ "${sent:-0}" -eq $count ] && [ "$lost" -le $((count / 100)) ]
ktap_ok $? "ping loss $lost of $sent (at most 1%) while the PSK rotated every $ROTATE_S s"

rot_a=$(($(wgf A rotations) - rot_a0))
diag "rotations during the run: $rot_a at A (one per $ROTATE_S s is $((RUN_S / ROTATE_S)))"
[ "$rot_a" -ge $((RUN_S * 3 / (4 * ROTATE_S))) ]
ktap_ok $? "the PSK rotated $rot_a times in $RUN_S s"

good=0 differ=0 wrong=0 prev_id='' prev_psk='' same_psk=0
declare -A expect
for i in "${!s_id[@]}"; do
	id=${s_id[$i]}
	[ -n "${expect[$id]:-}" ] || expect[$id]=$(qkd_key "$id")
	if [ "${s_a[$i]}" != "${s_b[$i]}" ]; then
		differ=$((differ + 1))
	elif [ "${s_a[$i]}" != "${expect[$id]}" ]; then
		wrong=$((wrong + 1))
	else
		good=$((good + 1))
	fi
	# A new key ID must come with a new PSK.
	[ -n "$prev_id" ] && [ "$id" != "$prev_id" ] && [ "${s_a[$i]}" = "$prev_psk" ] &&
		same_psk=$((same_psk + 1))
	prev_id=$id prev_psk=${s_a[$i]}
done
nids=${#expect[@]}
diag "samples: $good equal to the QKD key of the reported ID, $differ with the ends differing, $wrong with another key; $moving discarded (a rotation came between)"
[ "$differ" -eq 0 ] && [ "$wrong" -eq 0 ] && [ "$good" -ge 3 ]
ktap_ok $? "wg show preshared-keys equal at both ends and equal to the QKD key of the reported key ID ($good samples)"
[ "$nids" -ge 3 ] && [ "$same_psk" -eq 0 ]
ktap_ok $? "the samples saw $nids key IDs, each with its own PSK ($same_psk unchanged)"

# Every rotation is logged (debug) with its QKD key ID at both ends.
rotations_of() {
	sed -n 's/.*wireguard w0: PSK key \([0-9a-f]*\) (rotation.*/\1/p' "$QKD_DIR/$1.log"
}
rotations_of A >"$QKD_DIR/rot.A"
rotations_of B >"$QKD_DIR/rot.B"
total=$(grep -c . "$QKD_DIR/rot.A")
uniq=$(sort -u "$QKD_DIR/rot.A" | grep -c .)
[ "$total" -gt 0 ] && [ "$total" -eq "$uniq" ]
ktap_ok $? "no QKD key ID used twice ($total rotations at A, $uniq distinct key IDs)"
n_a=$total
n_b=$(grep -c . "$QKD_DIR/rot.B")
fails=$(wgf A failures)
# B sets first: A's key IDs are B's, in B's order, and B may have one more
# for each rotation A gave up (no answer in time: B set it, A never did)
# and one in flight.
extra=$(awk 'NR == FNR { a[++na] = $1; next }
	     { if (i < na && $1 == a[i + 1]) i++; else x++ }
	     END { print (i == na ? x + 0 : -1) }' "$QKD_DIR/rot.A" "$QKD_DIR/rot.B")
[ "$n_a" -gt 0 ] && [ "$extra" -ge 0 ] && [ "$extra" -le $((fails + 1)) ]
ktap_ok $? "both ends set the same key IDs in the same order (A $n_a, B $n_b: $extra more, A gave up $fails)"
gap=$(wgf A last_gap_us)
max_gap=$(wgf A max_gap_us)
diag "switch gap as A measures it (key ID sent .. A has set it; B set it in between): last $gap us, max $max_gap us"
# The gap seen from outside: B's log line for a key ID to A's, in ms.
set_times() {
	sed -n 's/^[0-9-]*T\([0-9:.]*\)Z.*wireguard w0: PSK key \([0-9a-f]*\) (rotation.*/\2 \1/p' "$QKD_DIR/$1.log"
}
gaps=$(join <(set_times B | sort) <(set_times A | sort) | awk '
	function ms(t, a) { split(t, a, ":"); return (a[1] * 3600 + a[2] * 60 + a[3]) * 1000 }
	{ g = ms($3) - ms($2); n++; sum += g; if (g > max) max = g; if (g < 0) neg++ }
	END { printf "%d %.1f %d %d", n, n ? sum / n : 0, max, neg }')
read -r g_n g_mean g_max g_neg <<<"$gaps"
diag "switch gap from the logs (B sets .. A sets), $g_n rotations: mean $g_mean ms, max $g_max ms"
[ "${g_n:-0}" -gt 0 ] && [ "${g_neg:-1}" -eq 0 ]
ktap_ok $? "B set every PSK before A did (logs: $g_n rotations, $g_neg the other way round)"
qkd_ctl A wireguard show 2>&1 | sed 's/^/# A: /'

# ---- the PSK is in force: a fresh handshake under it ----

cycle() {
	ip -n $ns_a link set wg0 down && ip -n $ns_b link set wg0 down &&
		ip -n $ns_a link set wg0 up && ip -n $ns_b link set wg0 up
}
hs0=$(ip netns exec $ns_a wg show wg0 latest-handshakes | awk '{print $2}')
cycle && ip netns exec $ns_a ping -q -c 3 -i 0.2 -W 8 $wg_b >/dev/null
rc=$?
hs1=$(ip netns exec $ns_a wg show wg0 latest-handshakes | awk '{print $2}')
[ $rc -eq 0 ] && [ "${hs1:-0}" -gt "${hs0:-0}" ]
ktap_ok $? "both wg0 cycled: a fresh handshake under the current QKD PSK carries ping (handshake $hs0 -> $hs1)"

# ---- accounting: every PSK taken from the link is counted ----
# acct NODE: "TAKEN_KEYS TAKEN_BITS REFUSED OUT_OF_KEYS" of the consumer
# wireguard:w0 in "qkdctl -j account show" (Documentation/qkd/accounting.rst).
acct() {
	qkd_ctl "$1" -j account show 2>/dev/null | jq -r '.consumers[] |
		select(.consumer == "wireguard:w0") |
		"\(.taken_keys) \(.taken_bits) \(.refused_keys) \(.total.refused.out_of_keys)"'
}
# Each try takes a key or is refused one; it then completes (rotations)
# or fails (failures).  So taken + refused = rotations + failures at each
# end, read while no rotation is half-way (tried again for at most 20 s).
acct_ok=1 deadline=$((SECONDS + 20))
while [ $SECONDS -lt $deadline ]; do
	for n in A B; do
		read -r st_$n rot_$n fail_$n <<<"$(qkd_ctl $n -j wireguard show 2>/dev/null |
			jq -r '.[0] | "\(.state) \(.rotations) \(.failures)"')"
		read -r tk_$n tb_$n rf_$n _ <<<"$(acct $n)"
	done
	if [ "$st_A" != rotating ] && [ "$st_B" != rotating ] &&
	   [ $((tk_A + rf_A)) -eq $((rot_A + fail_A)) ] &&
	   [ $((tk_B + rf_B)) -eq $((rot_B + fail_B)) ] &&
	   [ "$tb_A" -eq $((tk_A * 32 * 8)) ] && [ "$tb_B" -eq $((tk_B * 32 * 8)) ]; then
		acct_ok=0
		break
	fi
	sleep 0.5
done 2>/dev/null
diag "accounted wireguard:w0: A took $tk_A keys ($tb_A bits), $rf_A refused, $rot_A rotations, $fail_A failures; B took $tk_B ($tb_B bits), $rf_B refused, $rot_B rotations, $fail_B failures"
[ $acct_ok -eq 0 ] && [ "${tk_A:-0}" -ge 3 ]
ktap_ok $? "account show at both ends: the PSKs taken are rotations x 32 bytes (A $tb_A bits for $rot_A, B $tb_B bits for $rot_B)"

qkd_stop A
ktap_ok $? "A exits 0 on SIGTERM"
qkd_stop B
ktap_ok $? "B exits 0 on SIGTERM"

# ---- a tampered PSK at one end is seen ----
# What a rotation that skips one end leaves: the daemons are stopped, so
# nothing repairs it until they start again.
ip netns exec $ns_b wg set wg0 peer "$pub_a" preshared-key <(wg genpsk)
[ "$(psk_of $ns_a)" != "$(psk_of $ns_b)" ]
ktap_ok $? "B's PSK overwritten by hand: the ends differ"
cycle && ! ip netns exec $ns_a ping -q -c 2 -i 0.5 -W 3 $wg_b >/dev/null
ktap_ok $? "with the ends' PSKs differing, no handshake completes (ping fails)"

# ---- the first rotation repairs it; then key shortage ----
# A new link (own seed) at 8 bit/s: one 64-byte block every 64 s, every
# other one A's; after the few blocks already there, a rotation a second
# finds none.
rm -rf "$QKD_DIR/state-A" "$QKD_DIR/state-B"
write_conf A $addr_a B $addr_b tx "$pub_b" 8 "$seed2" &&
	write_conf B $addr_b A $addr_a rx "$pub_a" 8 "$seed2" &&
	sed -i "s/^rotate_interval = .*/rotate_interval = 1/" "$QKD_DIR/A.conf" "$QKD_DIR/B.conf"
QKDKMD=$QKD_DIR/qkdkmd-$ns_a qkd_start A &&
	QKDKMD=$QKD_DIR/qkdkmd-$ns_b qkd_start B
ktap_ok $? "daemons restarted on an 8 bit/s link, rotate_interval 1"
# Rotations come every second while blocks last: one may be half-way
# (the owner's PSK set, the follower's not yet) as the ends are read, so
# the check is tried again, for at most 40 s.
repaired=1 deadline=$((SECONDS + 40))
while [ $SECONDS -lt $deadline ]; do
	if [ "$(wgf A rotations)" -ge 1 ] 2>/dev/null &&
	   [ "$(psk_of $ns_a)" = "$(psk_of $ns_b)" ] && cycle &&
	   ip netns exec $ns_a ping -q -c 3 -i 0.2 -W 8 $wg_b >/dev/null; then
		repaired=0
		break
	fi
	sleep 0.5
done
[ $repaired -eq 0 ]
ktap_ok $? "the first rotation after the start sets one PSK at both ends again, and ping passes"
alarmed() {
	qkd_ctl A -j alarm show 2>/dev/null |
		jq -e '.active | any(.source == "wireguard:w0")' >/dev/null
}
for i in $(seq 1 120); do
	alarmed && [ "$(wgf A state)" = degraded ] && break
	sleep 0.5
done
alarmed
ktap_ok $? "key shortage raises alarm wireguard:w0 at A"
qkd_ctl A alarm show 2>&1 | sed 's/^/# A: /'
[ "$(wgf A state)" = degraded ]
ktap_ok $? "the peer says degraded (got $(wgf A state))"
# A block still arrives every 64 s (every other one A's), and a rotation
# may use it: a window in which one did is not a shortage, so it is tried
# again, at most 4 times.
for i in 1 2 3 4; do
	r0=$(wgf A rotations)
	pa=$(psk_of $ns_a)
	id=$(wgf A key_id)
	f0=$(wgf A failures)
	sleep 3
	[ "$(wgf A rotations)" = "$r0" ] && break
	echo "# a rotation came during the window ($r0 -> $(wgf A rotations)): again"
done
[ "$(wgf A rotations)" = "$r0" ] &&
	[ "$(psk_of $ns_a)" = "$pa" ] && [ "$(psk_of $ns_b)" = "$pa" ] && [ -n "$id" ] &&
	[ "$pa" = "$(qkd_key "$id" "$seed2")" ]
ktap_ok $? "during the shortage both ends keep the current QKD PSK (key $id)"
[ "$(wgf A failures)" -gt "$f0" ]
ktap_ok $? "and A keeps retrying (failures $f0 -> $(wgf A failures))"
read -r _ _ rf_A ook_A <<<"$(acct A)"
[ "${ook_A:-0}" -ge 1 ] && [ "$ook_A" -eq "$rf_A" ]
ktap_ok $? "account show at A counts the refused PSKs as out_of_keys ($ook_A of $rf_A refused)"
cycle && ip netns exec $ns_a ping -q -c 3 -i 0.2 -W 8 $wg_b >/dev/null
ktap_ok $? "traffic passes on the kept PSK, even through a fresh handshake"
qkd_stop A && qkd_stop B
ktap_ok $? "both daemons exit 0 on SIGTERM"

[ "$ktap_failed" -gt 0 ] && gw_logs 40
ktap_finish
