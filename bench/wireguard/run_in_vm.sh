#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# WireGuard PSK rotations per second, run inside the test VM:
#   selftests/vm/run.sh --cmd bench/wireguard/run_in_vm.sh   (or bench/run_all.sh wireguard)
#
# Two namespaces, wg0 in each with N peers (random public keys: the
# kernel takes any 32 bytes), two qkdkmd with N [wireguard] sections, all
# rotating every second on one sim link: the daemons are asked for N
# rotations a second, and the rate they sustain is counted over RUN_S
# seconds from qkdctl's counters.  A rotation is one key allocated and
# fetched, a Kx round trip and a PSK set at each end.  The baseline, in
# the same run: "wg set wg0 peer KEY preshared-key FILE" with a fixed key,
# over the same peers (one process each, as an operator's script would
# rotate), and "wg addconf" setting all of them in one netlink request
# (the kernel's side alone).  Timings are TCG-emulated: compare columns, not
# absolute values.  Key bytes are never printed.

set -u
export QKD_TOP=$PWD
QKD_TIMEOUT=600
. "$QKD_TOP/selftests/kernel/lib.sh"
. "$QKD_TOP/selftests/host/lib.sh"
N=${1:-300}
RUN_S=${2:-20}
kx_port=8474
etsi_port=8473

for m in wireguard veth; do
	modprobe "$m" || { echo "bench/wireguard: modprobe $m failed"; exit 1; }
done
for tool in wg jq python3; do
	command -v $tool >/dev/null || { echo "bench/wireguard: $tool not installed"; exit 1; }
done
qkd_setup wg-bench || exit 1
bw_cleanup() {
	qkd_cleanup
	ip netns del bwa 2>/dev/null
	ip netns del bwb 2>/dev/null
}
trap bw_cleanup EXIT
now_ms() { date +%s%3N; }

ip netns add bwa && ip netns add bwb &&
	gw_veth bwa veth-bwa 10.93.0.1 bwb veth-bwb 10.93.0.2 || exit 1
umask 077
# N random public keys for each end's peers, one line each.
keys() {
	python3 -c 'import base64, os, sys
for _ in range(int(sys.argv[1])): print(base64.b64encode(os.urandom(32)).decode())' "$1"
}
keys "$N" >"$QKD_DIR/peers.a"	# wg0's peers in bwa
keys "$N" >"$QKD_DIR/peers.b"
for ns in bwa bwb; do
	{
		printf '[Interface]\nPrivateKey = %s\n' "$(wg genkey)"
		while read -r k; do printf '[Peer]\nPublicKey = %s\n' "$k"; done \
			<"$QKD_DIR/peers.${ns#bw}"
	} >"$QKD_DIR/$ns.wg"
	ip -n $ns link add wg0 type wireguard &&
		ip netns exec $ns wg setconf wg0 "$QKD_DIR/$ns.wg" &&
		ip -n $ns link set wg0 up || exit 1
done

qkd_ca ca && qkd_cert A && qkd_cert B || exit 1
seed=$(openssl rand -hex 32)
# conf NODE ADDR PEER PEER_ADDR ROLE PEERS_FILE
conf() {
	mkdir -p "$QKD_DIR/state-$1"
	{
		cat <<-EOF
		[node]
		name = $1
		state_dir = state-$1
		control = $1.sock
		log_level = notice

		[tls]
		ca = ca.pem
		cert = $1.pem
		key = $1.key

		[etsi014]
		listen = $2:$etsi_port
		max_key_size = 256

		[kx]
		listen = $2:$kx_port

		[peer $3]
		address = $4:$kx_port
		cert_cn = $3

		[link AB]
		peer = $3
		source = sim
		role = $5
		seed = $seed
		rate = 4000000
		block_size = 1024

		EOF
		awk -v peer="$3" '{ printf "[wireguard w%d]\ninterface = wg0\npublic_key = %s\npeer = %s\nlink = AB\nrotate_interval = 1\n\n", NR, $1, peer }' "$6"
	} >"$QKD_DIR/$1.conf"
}
# Section wI is peer I of the other end's wg0 at each end.
conf A 10.93.0.1 B 10.93.0.2 tx "$QKD_DIR/peers.a"
conf B 10.93.0.2 A 10.93.0.1 rx "$QKD_DIR/peers.b"
gw_wrappers bwa bwb || exit 1
if ! QKDKMD=$QKD_DIR/qkdkmd-bwa qkd_start A ||
	! QKDKMD=$QKD_DIR/qkdkmd-bwb qkd_start B; then
	tail -n 5 "$QKD_DIR"/*.log
	exit 1
fi

rotations() {	# NODE: rotations summed over its sections, and failures
	qkd_ctl "$1" -j wireguard show | jq -r '"\([.[].rotations] | add) \([.[].failures] | add)"'
}
# Let every section get its first PSK, then count.
sleep 5
read -r r0 f0 <<<"$(rotations A)"
t0=$(now_ms)
sleep "$RUN_S"
read -r r1 f1 <<<"$(rotations A)"
t1=$(now_ms)
rot=$((r1 - r0))
rot_ms=$((t1 - t0))
qkd_stop A && qkd_stop B

# Baseline: wg set with a fixed PSK over the same peers of bwa's wg0, one
# exec of wg each, as an operator's script would rotate.
wg genpsk >"$QKD_DIR/fixed.psk"
t=$(now_ms)
n_set=0
while read -r k; do
	ip netns exec bwa wg set wg0 peer "$k" preshared-key "$QKD_DIR/fixed.psk" || exit 1
	n_set=$((n_set + 1))
done <"$QKD_DIR/peers.a"
set_ms=$(( $(now_ms) - t ))
# The kernel's side of it: the same N PSKs in one wg addconf.
{
	echo "[Interface]"
	while read -r k; do
		printf '[Peer]\nPublicKey = %s\nPresharedKey = %s\n' "$k" "$(cat "$QKD_DIR/fixed.psk")"
	done <"$QKD_DIR/peers.a"
} >"$QKD_DIR/batch.wg"
t=$(now_ms)
ip netns exec bwa wg addconf wg0 "$QKD_DIR/batch.wg" || exit 1
batch_ms=$(( $(now_ms) - t ))

rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.1f", (ms > 0 ? n * 1000 / ms : 0) }'; }
r_rot=$(rate "$rot" "$rot_ms")
r_set=$(rate "$n_set" "$set_ms")
r_batch=$(rate "$n_set" "$batch_ms")
printf '%-34s | %12s\n' "" "per second"
printf '%s\n' "-----------------------------------+-------------"
printf '%-34s | %12s\n' "qkdkmd rotations (asked: $N/s)" "$r_rot"
printf '%-34s | %12s\n' "  = PSK sets (one at each end)" "$(rate $((rot * 2)) "$rot_ms")"
printf '%-34s | %12s\n' "wg set ... preshared-key (fixed)" "$r_set"
printf '%-34s | %12s\n' "wg addconf, all N PSKs in one call" "$r_batch"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
printf '%-34s | %12s\n' "ratio rotations / wg set" "$(ratio "$r_rot" "$r_set")"
printf '%-34s | %12s\n' "ratio PSK sets / wg addconf sets" "$(ratio "$(rate $((rot * 2)) "$rot_ms")" "$r_batch")"
echo "# $rot rotations in $rot_ms ms at A ($((f1 - f0)) failures); $n_set wg set in $set_ms ms; wg addconf of $n_set PSKs in $batch_ms ms"
