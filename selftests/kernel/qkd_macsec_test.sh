#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 5, acceptance 3: MACsec keyed from a QKD link by qkdkmd.
#
# Two namespaces "ma" and "mb" joined by a veth pair, a MACsec interface
# macsec0 on each veth (gcm-aes-256, encrypt on), a qkd_sim pair with its
# TX end in ma and its RX end in mb, and a qkdkmd in each namespace taking
# link keys from qkd.ko (source = kernel) with a [macsec m0] port on
# macsec0 that rotates the SAK every second.  Checks:
#   - a port on an interface that does not exist: qkdkmd exits 1 with a
#     one-line reason;
#   - the daemons exchange SCIs, install the first SAK, ping passes;
#   - 60 s of ping -i 0.05 over macsec0 while the SAK rotates each second:
#     no lost ping, no invalid / not-valid / no-SA frame in ip -s macsec
#     show, about one rotation a second at both ends, the AN walks 0..3,
#     every key ID used once and the same sequence at both ends;
#   - key shortage (the link's rate cut to nothing): alarm macsec:macsec0,
#     traffic keeps flowing on the current SAK; with key again the alarm
#     clears and rotation resumes;
#   - a PN threshold alone drives rotations, with no ping lost;
#   - B back on a new macsec0 (a new SCI): A drops the old RX SC, with its
#     SAs, and receives on the new one;
#   - both daemons exit 0 on SIGTERM.

QKD_TIMEOUT=${QKD_TIMEOUT:-400}		# host lib watchdog: whole test, seconds
# shellcheck source=selftests/kernel/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/host/lib.sh
. "$QKD_TOP/selftests/host/lib.sh"

bus=/sys/bus/qkd_sim
sim=92
link_id=992
ns_a=ma
ns_b=mb
addr_a=10.97.0.1
addr_b=10.97.0.2
msec_a=10.96.0.1
msec_b=10.96.0.2
kx_port=8454
etsi_port=8453
# 64-byte blocks (one SAK each; the other 32 bytes key the block's
# confirmation), a 32-block pool, 8192 bit/s: 16 blocks/s, eight times
# what a rotation a second takes from the owner's half.
block=64
pool_blocks=32
rate=8192
run_s=60

echo "KTAP version 1"

skip_all() {
	ktap_skip "$1" "qkdkmd MACsec SAK rotation"
	ktap_finish
	exit 4
}

[ -x "$QKDKMD" ] || skip_all "qkdkmd not built (make -C daemon)"
[ -x "$QKDCTL" ] || skip_all "qkdctl not built (make -C tools)"
for tool in jq openssl ping; do
	command -v "$tool" >/dev/null || skip_all "$tool not installed"
done
[ -d $bus ] || skip_all "qkd_sim not loaded"
modprobe macsec 2>/dev/null || skip_all "no macsec module"
# Request_module cannot reach modprobe from the VM's chroot: the SA's
# gcm(aes) transform must be loadable up front.
for m in veth gcm ghash_generic ctr; do
	modprobe "$m" 2>/dev/null || echo "# modprobe $m failed"
done

mc_cleanup() {
	qkd_cleanup
	gw_unlink $ns_a $ns_b $sim
}
qkd_setup macsec || skip_all "helper setup failed"
trap mc_cleanup EXIT

# ---- the link, the veth and the MACsec interfaces ----

gw_link $ns_a $ns_b $sim $link_id $block $pool_blocks $rate
ktap_ok $? "qkd_sim pair $sim: $block-byte blocks, $pool_blocks-block pool, $rate bit/s; TX end $tx up in $ns_a, RX end $rx in $ns_b"
gw_veth $ns_a veth-ma $addr_a $ns_b veth-mb $addr_b
ktap_ok $? "veth $ns_a $addr_a <-> $ns_b $addr_b"

# The operator's part: the interfaces; the daemons add RX SCs and SAs.
add_macsec() {	# NS VETH ADDR [PORT]
	ip -n "$1" link add link "$2" macsec0 type macsec port "${4:-1}" \
		encrypt on cipher gcm-aes-256 &&
		ip -n "$1" addr add "$3/24" dev macsec0 &&
		ip -n "$1" link set macsec0 up
}
add_macsec $ns_a veth-ma $msec_a && add_macsec $ns_b veth-mb $msec_b
ktap_ok $? "macsec0 (gcm-aes-256, encrypt on) on both veths: $msec_a, $msec_b"
[ "$ktap_failed" -eq 0 ] || { ktap_finish; exit 1; }

# ---- configs ----

qkd_ca ca && qkd_cert A && qkd_cert B
ktap_ok $? "CA and certificates for A and B"

# write_conf NODE ADDR PEER PEER_ADDR IFNAME [ROTATE_S [PN_THRESHOLD]]
write_conf() {
	local node=$1 addr=$2 peer=$3 peer_addr=$4 ifname=$5
	local rotate=${6:-1} pn=${7:-3221225472}
	{ gw_conf $node $addr $peer $peer_addr && cat <<-EOF; } >"$QKD_DIR/$node.conf"
	[etsi014]
	listen = $addr:$etsi_port
	max_key_size = 256

	[macsec m0]
	interface = $ifname
	peer = $peer
	link = AB
	rotate_interval = $rotate
	cipher = gcm-aes-256
	pn_threshold = $pn
	EOF
}

gw_wrappers $ns_a $ns_b

# ---- a port on an interface that does not exist ----

write_conf A $addr_a B $addr_b nosuch0
out=$(timeout 20 "$QKD_DIR/qkdkmd-$ns_a" -c "$QKD_DIR/A.conf" 2>&1)
rc=$?
echo "$out" | tail -n 1 | sed 's/^/# /'
[ $rc -eq 1 ] && echo "$out" | grep -q "\[macsec m0\]: interface 'nosuch0' does not exist"
ktap_ok $? "unknown interface: qkdkmd exits 1 (got $rc) naming [macsec m0] and nosuch0"

# ---- the daemons ----

write_conf A $addr_a B $addr_b macsec0 && write_conf B $addr_b A $addr_a macsec0
ktap_ok $? "configs: [macsec m0] on macsec0, link AB (source = kernel), rotate_interval 1"

gw_start $ns_a $ns_b

# port NODE FIELD: a field of "qkdctl -j macsec show" (port m0).
port() {
	qkd_ctl "$1" -j macsec show 2>/dev/null | jq -r ".[0].$2 | select(. != null)"
}

# Read each state once per round: a port between "up" and a rotation's
# "rotating" must not pass the loop and fail the check.
for i in $(seq 1 120); do
	state_a=$(port A state) state_b=$(port B state)
	[ "$state_a" = up ] && [ "$state_b" = up ] && break
	sleep 0.25
done
[ "$state_a" = up ] && [ "$state_b" = up ]
ktap_ok $? "both ports up: SCIs exchanged, first SAK installed (A $state_a, B $state_b)"
[ "$(port A peer_sci)" = "$(port B sci)" ] && [ "$(port B peer_sci)" = "$(port A sci)" ] &&
	[ -n "$(port A sci)" ]
ktap_ok $? "each end knows the other's SCI (A $(port A sci), B $(port B sci))"
[ "$(port A owner)" = true ] && [ "$(port B owner)" = false ]
ktap_ok $? "A (the node that dials Kx) owns the port"

ip netns exec $ns_a ping -q -c 3 -W 2 $msec_b >/dev/null
ktap_ok $? "ping $msec_a -> $msec_b over macsec0"
for n in A B; do
	qkd_ctl "$n" macsec show 2>&1 | sed "s/^/# $n: /"
done
ip -n $ns_a macsec show 2>&1 | sed "s/^/# $ns_a: /"

# ---- 60 s of traffic while the SAK rotates every second ----

# The drop counters of "ip -s -j macsec show" (SecY, RX SC and RX SA
# level), summed: "SUM N" with N the number of counters found, so that a
# renamed field cannot make the check pass vacuously.
bad_frames() {
	ip -n "$1" -s -j macsec show 2>/dev/null | jq -r '
		[.. | objects | to_entries[] |
		 select(.key | test("^In(Pkts)?(NotValid|Invalid|NotUsingSA|UnusedSA|Late|UnknownSCI|NoSCI|BadTag|Overrun)$"; "i")) |
		 .value | numbers] | "\(add // 0) \(length)"'
}
read -r bad_a0 n_a <<<"$(bad_frames $ns_a)"
read -r bad_b0 n_b <<<"$(bad_frames $ns_b)"
[ "${n_a:-0}" -gt 0 ] && [ "${n_b:-0}" -gt 0 ]
ktap_ok $? "ip -s -j macsec show has drop counters to watch ($n_a at A, $n_b at B)"
[ "${n_a:-0}" -gt 0 ] || ip -n $ns_a -s -j macsec show | head -c 600 | sed 's/^/# /'
rot_a0=$(port A rotations)
rot_b0=$(port B rotations)
: >"$QKD_DIR/samples"

count=$((run_s * 20))
ip netns exec $ns_a ping -q -i 0.05 -c $count -W 1 $msec_b >"$QKD_DIR/ping.out" 2>&1 &
ping_pid=$!
while kill -0 $ping_pid 2>/dev/null; do
	echo "A $(port A an) $(port A key_id)" >>"$QKD_DIR/samples"
	ip -n $ns_a macsec show macsec0 2>/dev/null |
		grep -o 'key [0-9a-f]*' | sort -u >>"$QKD_DIR/ipmacsec_keys"
	sleep 1
done
wait $ping_pid
ping_rc=$?
grep -E 'packets transmitted' "$QKD_DIR/ping.out" | sed 's/^/# /'
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$QKD_DIR/ping.out")
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$QKD_DIR/ping.out")
[ "$ping_rc" -eq 0 ] && [ "${sent:-0}" -eq $count ] && [ "${recv:-0}" -eq "$sent" ]
ktap_ok $? "ping -i 0.05 for ${run_s} s over rotating SAKs: $recv of $sent answered"

rot_a=$(($(port A rotations) - rot_a0))
rot_b=$(($(port B rotations) - rot_b0))
diag "rotations during the run: A $rot_a, B $rot_b (one a second is $run_s)"
[ "$rot_a" -ge $((run_s * 3 / 4)) ] && [ "$rot_b" -ge $((run_s * 3 / 4)) ]
ktap_ok $? "the SAK rotated about once a second at both ends (A $rot_a, B $rot_b in ${run_s} s of ping)"

read -r bad_a _ <<<"$(bad_frames $ns_a)"
read -r bad_b _ <<<"$(bad_frames $ns_b)"
bad_a=$((bad_a - bad_a0))
bad_b=$((bad_b - bad_b0))
[ "$bad_a" -eq 0 ] && [ "$bad_b" -eq 0 ]
ktap_ok $? "ip -s macsec show: no invalid, not-valid, not-using-SA or late frame (A $bad_a, B $bad_b)"
[ "$bad_a" -eq 0 ] && [ "$bad_b" -eq 0 ] || for ns in $ns_a $ns_b; do
	ip -n $ns -s -j macsec show | jq -c '[.. | objects | to_entries[] |
		select(.key | test("^In(Pkts)?(NotValid|Invalid|NotUsingSA|UnusedSA|Late)$"; "i")) |
		select(.value != 0)]' | sed "s/^/# $ns: /"
done

ans=$(awk '{print $2}' "$QKD_DIR/samples" | sort -u | tr -d '\n')
[ "$ans" = 0123 ]
ktap_ok $? "qkdctl macsec show saw every AN 0..3 (saw '$ans')"
nkeys=$(sort -u "$QKD_DIR/ipmacsec_keys" | grep -c .)
[ "$nkeys" -ge $((run_s / 2)) ]
ktap_ok $? "ip macsec show listed $nkeys distinct KEYIDs over the run"

# Every rotation is logged (debug) with its AN and QKD key ID at both ends.
rotations_of() {
	sed -n 's/.*macsec m0: AN \([0-3]\), key \([0-9a-f]*\) (rotation.*/\1 \2/p' \
		"$QKD_DIR/$1.log"
}
rotations_of A >"$QKD_DIR/rot.A"
rotations_of B >"$QKD_DIR/rot.B"
total=$(grep -c . "$QKD_DIR/rot.A")
uniq=$(awk '{print $2}' "$QKD_DIR/rot.A" | sort -u | grep -c .)
[ "$total" -gt 0 ] && [ "$total" -eq "$uniq" ]
ktap_ok $? "no QKD key ID used twice ($total rotations at A, $uniq distinct key IDs)"
# A rotation may be half-way (logged at one end only) as the logs are read.
n_a=$total
n_b=$(grep -c . "$QKD_DIR/rot.B")
n=$((n_a < n_b ? n_a : n_b))
cmp -s <(head -n "$n" "$QKD_DIR/rot.A") <(head -n "$n" "$QKD_DIR/rot.B") &&
	[ "$n" -gt 0 ] && [ $((n_a - n)) -le 1 ] && [ $((n_b - n)) -le 1 ]
ktap_ok $? "both ends went through the same (AN, key ID) sequence (A $n_a, B $n_b, at most one in flight)"
awk 'NR > 1 && $1 != (prev + 1) % 4 { bad = 1 } { prev = $1 } END { exit bad }' "$QKD_DIR/rot.A"
ktap_ok $? "each rotation moved to AN (previous + 1) % 4"

# ---- key shortage ----

# A holds its share of the kernel pool and up to 64 blocks it took ahead
# and confirmed (confirmation.rst): at one rotation a second that lasts
# minutes.  A restart drops what the daemons took ahead, so that with the
# rate cut A runs dry after its share of the pool, about 16 rotations.
echo 1 >$bus/devices/qkd_sim$sim/rate_bps
qkd_stop A && qkd_stop B && QKDKMD=$QKD_DIR/qkdkmd-$ns_a qkd_start A &&
	QKDKMD=$QKD_DIR/qkdkmd-$ns_b qkd_start B
ktap_ok $? "link rate cut to 1 bit/s; both daemons exit 0 on SIGTERM and start again"
alarmed() {
	qkd_ctl A -j alarm show 2>/dev/null |
		jq -e '.active | any(.source == "macsec:macsec0")' >/dev/null
}
# The first rotation after the start may find no block confirmed yet (an
# alarm that clears at once): the shortage looked for comes after one
# rotation went through, and holds alarm and state together.
for i in $(seq 1 60); do
	[ "$(port A state)" = up ] && [ "$(port A rotations)" -ge 1 ] && break
	sleep 0.5
done
for i in $(seq 1 240); do
	alarmed && [ "$(port A state)" = degraded ] && break
	sleep 0.5
done
alarmed
ktap_ok $? "key shortage raises alarm macsec:macsec0 at A (after $((i / 2)) s)"
qkd_ctl A alarm show 2>&1 | sed 's/^/# A: /'
[ "$(port A state)" = degraded ]
ktap_ok $? "the port says degraded (got $(port A state))"
ip netns exec $ns_a ping -q -c 5 -i 0.2 -W 1 $msec_b >/dev/null
ktap_ok $? "traffic still passes on the current SAK"

rot_short=$(port A rotations)
echo $rate >$bus/devices/qkd_sim$sim/rate_bps
for i in $(seq 1 120); do
	! alarmed && [ "$(port A rotations)" -gt "$rot_short" ] && break
	sleep 0.5
done
! alarmed && [ "$(port A rotations)" -gt "$rot_short" ]
ktap_ok $? "with key again the rotation resumes and the alarm clears"
ip netns exec $ns_a ping -q -c 3 -W 2 $msec_b >/dev/null
ktap_ok $? "ping after the shortage"

qkd_stop A
ktap_ok $? "A exits 0 on SIGTERM"
qkd_stop B
ktap_ok $? "B exits 0 on SIGTERM"

# ---- rekey on the PN threshold ----
# A rotation an hour, but a PN threshold of 40: traffic alone must rotate.
# The restarted daemons pick up the SAs in place (ping keeps working).
pn_limit=40
write_conf A $addr_a B $addr_b macsec0 3600 $pn_limit &&
	write_conf B $addr_b A $addr_a macsec0 3600 $pn_limit
QKDKMD=$QKD_DIR/qkdkmd-$ns_a qkd_start A &&
	QKDKMD=$QKD_DIR/qkdkmd-$ns_b qkd_start B
ktap_ok $? "daemons restarted with rotate_interval 3600, pn_threshold $pn_limit"
for i in $(seq 1 120); do
	[ "$(port A state)" = up ] && [ "$(port B state)" = up ] && break
	sleep 0.25
done
rot0=$(port A rotations)
ip netns exec $ns_a ping -q -i 0.05 -c 200 -W 1 $msec_b >"$QKD_DIR/ping2.out" 2>&1
ping_rc=$?
rot=$(($(port A rotations) - rot0))
grep -E 'packets transmitted' "$QKD_DIR/ping2.out" | sed 's/^/# /'
[ "$rot" -ge 2 ]
ktap_ok $? "200 pings each way past a PN threshold of $pn_limit forced $rot rotations (interval 3600 s)"
[ $ping_rc -eq 0 ] && grep -q ' 0% packet loss' "$QKD_DIR/ping2.out"
ktap_ok $? "no ping lost across the PN-driven rotations"

# ---- B on a new interface: a new SCI ----
old_sci=$(port B sci)
qkd_stop B && ip -n $ns_b link del macsec0 &&
	add_macsec $ns_b veth-mb $msec_b 2 &&
	QKDKMD=$QKD_DIR/qkdkmd-$ns_b qkd_start B
ktap_ok $? "B restarted on a new macsec0 (port 2)"
# Rotations are hourly now: B, with no SAK, must ask A for one at once.
for i in $(seq 1 40); do
	[ "$(port B state)" = up ] && break
	sleep 0.5
done
new_sci=$(port B sci)
rxsc=$(ip -n $ns_a macsec show macsec0 | grep -c 'RXSC')
[ "$new_sci" != "$old_sci" ] && [ "$(port A peer_sci)" = "$new_sci" ] && [ "$rxsc" = 1 ] &&
	[ "$(port A state)" = up ] && [ "$(port B state)" = up ]
ktap_ok $? "both up again in $i polls; A receives on B's new SCI $new_sci (was $old_sci), $rxsc RX SC left"
ip netns exec $ns_a ping -q -c 3 -W 2 $msec_b >/dev/null
ktap_ok $? "ping over the new interface"
qkd_stop A && qkd_stop B
ktap_ok $? "both daemons exit 0 on SIGTERM"

[ "$ktap_failed" -gt 0 ] && gw_logs
ktap_finish
