#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# QKD-keyed SA installs/s, run inside the test VM:
#   selftests/vm/run.sh --cmd bench/xfrm/run_in_vm.sh   (or bench/run_all.sh xfrm)
#
# Fills one netns with SAs from QKD_CMD_SA_ADD (AES-128-GCM key taken from
# the pool in the kernel, by key ID) and another with the same SAs from
# "ip -batch" "xfrm state add" lines (keys in the command: the baseline),
# in steps up to MAX live SAs (first argument, default 100000).  For each
# step it prints the install rate of the step and a lookup probe at that
# size: SA_ADD of an existing SPI (parse + xfrm_state_lookup, rejected
# with -EEXIST, no key used) next to "ip xfrm state get".  Key allocation
# (KEY_ALLOC with QKD_KEY_F_RESERVE, in batches) is not counted: only the
# SA_ADDs.  Timings are TCG-emulated: compare columns, not absolute values.

set -u
export QKD_TOP=$PWD
. "$QKD_TOP/selftests/kernel/lib.sh"
util=$QKD_BIN/qkd_sa_util
max=${1:-100000}
probes=1000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for m in xfrm_user esp4 gcm ghash_generic seqiv ctr sha512_generic drbg; do
	modprobe "$m" || { echo "bench/xfrm: modprobe $m failed"; exit 1; }
done
qkd_load || { echo "bench/xfrm: cannot load qkd.ko/qkd_sim.ko"; exit 1; }
# 64 KiB blocks, 1024 per pool, 4 Mbit/s: enough for 100k 20-byte keys.
idx=$("$util" pair 70 700 qb 65536 1024 4000000) || { echo "bench/xfrm: no pair"; exit 1; }
read -r tx rx <<<"$idx"
ip netns add qbase || exit 1
sleep 2

now_ms() { date +%s%3N; }
rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.0f", (ms > 0 ? n * 1000 / ms : 0) }'; }
count() { ip -n "$1" xfrm state count | sed -n 's/.*SAD count \([0-9]*\).*/\1/p'; }

# SA with SPI s goes to 10.128.0.0 + s, as in "qkd_sa_util bench": one peer
# per SA, since SAs sharing addresses and reqid make each insert walk them all.
awk_dst='function dst(s) { s += 8388608; return "10." int(s / 65536) "." int(s / 256) % 256 "." s % 256 }'

# baseline_lines FROM N: "xfrm state add" lines for SPIs FROM.., random keys.
baseline_lines() {
	od -An -tx1 -v -w20 -N $(( $2 * 20 )) /dev/urandom | tr -d ' ' |
	awk -v spi="$1" "$awk_dst"'
		{ s = spi + NR - 1; d = dst(s)
		  printf "xfrm state add src 10.0.0.1 dst %s proto esp spi %d reqid 1 mode transport replay-window 32 aead rfc4106(gcm(aes)) 0x%s 128 sel src 10.0.0.1/32 dst %s/32\n", d, s, $1, d }'
}

# get_lines FROM N: lookups of existing SPIs.
get_lines() {
	awk -v spi="$1" -v n="$2" "$awk_dst"'
		BEGIN { for (i = 0; i < n; i++)
			printf "xfrm state get src 10.0.0.1 dst %s proto esp spi %d\n", dst(spi + i), spi + i }'
}

printf '%-9s | %14s | %14s | %6s | %14s | %14s | %6s\n' "live SAs" "SA_ADD/s" "ip-batch add/s" "ratio" "SA_ADD dup/s" "state get/s" "ratio"
printf '%s\n' "----------+----------------+----------------+--------+----------------+----------------+-------"
have=0 spi0=4096 failed=0
for target in 1000 10000 100000; do
	[ "$target" -gt "$max" ] && target=$max
	[ "$target" -le "$have" ] && break
	n=$((target - have))
	out=$("$util" bench qbtx "$tx" "$n" $((spi0 + have))) || { echo "bench/xfrm: SA_ADD failed at $have + $out"; failed=1; break; }
	read -r _ _ ms_qkd <<<"$out"
	baseline_lines $((spi0 + have)) "$n" >"$tmp/add.batch"
	t=$(now_ms)
	ip -n qbase -batch "$tmp/add.batch" || { echo "bench/xfrm: ip -batch failed at $have"; failed=1; break; }
	ms_base=$(( $(now_ms) - t ))
	have=$target
	[ "$(count qbtx)" -eq "$have" ] && [ "$(count qbase)" -eq "$have" ] ||
		{ echo "bench/xfrm: SAD counts $(count qbtx)/$(count qbase), expected $have"; failed=1; break; }
	out=$("$util" probe qbtx $probes $spi0) || { echo "bench/xfrm: probe failed: $out"; failed=1; break; }
	read -r _ _ ms_probe <<<"$out"
	get_lines $spi0 $probes >"$tmp/get.batch"
	t=$(now_ms)
	ip -n qbase -batch "$tmp/get.batch" >/dev/null || { failed=1; break; }
	ms_get=$(( $(now_ms) - t ))
	r1=$(rate "$n" "$ms_qkd") r2=$(rate "$n" "$ms_base")
	r3=$(rate $probes "$ms_probe") r4=$(rate $probes "$ms_get")
	printf '%-9s | %14s | %14s | %6s | %14s | %14s | %6s\n' "$have" "$r1" "$r2" \
		"$(awk -v a="$r1" -v b="$r2" 'BEGIN { printf "%.2f", b ? a / b : 0 }')" "$r3" "$r4" \
		"$(awk -v a="$r3" -v b="$r4" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
done
echo "# rates per step (SAs added in that step / its time); lookups: $probes at that size"
echo "# memory after the run: $(grep -E 'MemAvailable' /proc/meminfo | tr -s ' ')"
ip netns del qbase
ip netns del qbtx; ip netns del qbrx
echo 70 >/sys/bus/qkd_sim/del_device 2>/dev/null
t=$(now_ms)
qkd_unload
echo "# rmmod qkd_sim qkd with the SA_ADD SAs gone with their netns: $(( $(now_ms) - t )) ms"
exit $failed
