#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# strongSwan PPK rotations per second, run inside the test VM:
#   selftests/vm/run.sh --cmd bench/strongswan/run_in_vm.sh   (or bench/run_all.sh strongswan)
#
# Two namespaces, charon (charon-systemd, its own strongswan.conf and VICI
# socket) in each, two qkdkmd with N [strongswan] sections, all rotating
# every second on one sim link: the daemons are asked for N rotations a
# second, and the rate they sustain is counted over RUN_S seconds from
# qkdctl's counters.  A rotation is one key allocated and fetched, a Kx
# round trip and at each end a VICI load-shared of the PPK, a get-shared
# and an unload-shared of the previous one, then the owner's rekey
# request (the sections' connections have no IKE SA up here, so charon
# answers at once: the IKE exchanges a reauthentication costs are charon's
# and measured by the VM test, Documentation/qkd/strongswan.rst).  The
# baseline, in the same run: "swanctl --load-creds" of a file holding a
# fixed PPK, one process each, as an operator's script would rotate one.
# Timings are TCG-emulated: compare columns, not absolute values.  Key
# bytes are never printed.

set -u
export QKD_TOP=$PWD
QKD_TIMEOUT=600
. "$QKD_TOP/selftests/kernel/lib.sh"
. "$QKD_TOP/selftests/host/lib.sh"
N=${1:-50}
RUN_S=${2:-20}
M=${3:-40}
kx_port=8484
etsi_port=8483
CHARON=${CHARON:-/usr/sbin/charon-systemd}

modprobe veth || { echo "bench/strongswan: modprobe veth failed"; exit 1; }
# charon's kernel interface needs xfrm_user; request_module cannot reach
# modprobe from the VM's chroot.
qkd_esp_modules
for tool in swanctl jq openssl; do
	command -v $tool >/dev/null || { echo "bench/strongswan: $tool not installed"; exit 1; }
done
[ -x "$CHARON" ] || { echo "bench/strongswan: no $CHARON"; exit 1; }
qkd_setup swan-bench || exit 1
declare -A CHARON_PID
bs_cleanup() {
	local n
	for n in "${!CHARON_PID[@]}"; do
		kill "${CHARON_PID[$n]}" 2>/dev/null
	done
	qkd_cleanup
	ip netns del bsa 2>/dev/null
	ip netns del bsb 2>/dev/null
}
trap bs_cleanup EXIT
now_ms() { date +%s%3N; }

ip netns add bsa && ip netns add bsb &&
	gw_veth bsa veth-bsa 10.92.0.1 bsb veth-bsb 10.92.0.2 || exit 1
swan() {
	local ns=$1; shift
	STRONGSWAN_CONF=$QKD_DIR/$ns/strongswan.conf \
		ip netns exec "$ns" swanctl "$@" --uri "unix://$QKD_DIR/$ns/vici" 2>/dev/null
}
for ns in bsa bsb; do
	mkdir -p "$QKD_DIR/$ns"
	cat >"$QKD_DIR/$ns/strongswan.conf" <<-EOF
	charon-systemd {
		plugins {
			vici {
				socket = unix://$QKD_DIR/$ns/vici
			}
		}
		journal {
			default = -1
		}
	}
	EOF
	STRONGSWAN_CONF=$QKD_DIR/$ns/strongswan.conf \
		ip netns exec $ns "$CHARON" >"$QKD_DIR/$ns/charon.out" 2>&1 &
	CHARON_PID[$ns]=$!
done
deadline=$((SECONDS + 90))
while [ $SECONDS -lt $deadline ]; do
	swan bsa --stats >/dev/null && swan bsb --stats >/dev/null && break
	sleep 0.5
done
if ! swan bsa --stats >/dev/null || ! swan bsb --stats >/dev/null; then
	echo "bench/strongswan: charon did not start"
	tail -n 5 "$QKD_DIR"/bs?/charon.out
	exit 1
fi

qkd_ca ca && qkd_cert A && qkd_cert B || exit 1
seed=$(openssl rand -hex 32)
# conf NODE ADDR PEER PEER_ADDR ROLE NS
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
		heartbeat_ms = 250
		dead_after = 20

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
		for i in $(seq 1 "$N"); do
			printf '[strongswan s%d]\nsocket = %s/vici\npeer = %s\nlink = AB\nrotate_interval = 1\n\n' \
				"$i" "$6" "$3"
		done
	} >"$QKD_DIR/$1.conf"
}
conf A 10.92.0.1 B 10.92.0.2 tx bsa
conf B 10.92.0.2 A 10.92.0.1 rx bsb
gw_wrappers bsa bsb || exit 1
if ! QKDKMD=$QKD_DIR/qkdkmd-bsa qkd_start A ||
	! QKDKMD=$QKD_DIR/qkdkmd-bsb qkd_start B; then
	tail -n 5 "$QKD_DIR"/*.log
	exit 1
fi

rotations() {	# NODE: rotations summed over its sections, and failures
	qkd_ctl "$1" -j strongswan show | jq -r '"\([.[].rotations] | add) \([.[].failures] | add)"'
}
# Let every section load its first PPK, then count.
sleep 5
read -r r0 f0 <<<"$(rotations A)"
t0=$(now_ms)
sleep "$RUN_S"
read -r r1 f1 <<<"$(rotations A)"
t1=$(now_ms)
rot=$((r1 - r0))
rot_ms=$((t1 - t0))
qkd_stop A && qkd_stop B

# Baseline: swanctl --load-creds of a fixed PPK into bsa's charon, M times,
# one swanctl each (it also lists and unloads what its file lacks, as
# qkdkmd's get-shared and unload-shared do).
umask 077
printf 'secrets {\n\tppk-fixed {\n\t\tid = qkd-fixed\n\t\tsecret = 0x%s\n\t}\n}\n' \
	"$(openssl rand -hex 32)" >"$QKD_DIR/fixed.conf"
t=$(now_ms)
for i in $(seq 1 "$M"); do
	swan bsa --load-creds --noprompt --file "$QKD_DIR/fixed.conf" >/dev/null || exit 1
done
creds_ms=$(( $(now_ms) - t ))

rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.1f", (ms > 0 ? n * 1000 / ms : 0) }'; }
r_rot=$(rate "$rot" "$rot_ms")
r_creds=$(rate "$M" "$creds_ms")
printf '%-38s | %12s\n' "" "per second"
printf '%s\n' "---------------------------------------+-------------"
printf '%-38s | %12s\n' "qkdkmd rotations (asked: $N/s)" "$r_rot"
printf '%-38s | %12s\n' "  = PPK loads (one at each end)" "$(rate $((rot * 2)) "$rot_ms")"
printf '%-38s | %12s\n' "swanctl --load-creds (fixed PPK)" "$r_creds"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
printf '%-38s | %12s\n' "ratio rotations / swanctl --load-creds" "$(ratio "$r_rot" "$r_creds")"
printf '%-38s | %12s\n' "ratio PPK loads / swanctl --load-creds" "$(ratio "$(rate $((rot * 2)) "$rot_ms")" "$r_creds")"
echo "# $rot rotations in $rot_ms ms at A ($((f1 - f0)) failures); $M swanctl --load-creds in $creds_ms ms"
