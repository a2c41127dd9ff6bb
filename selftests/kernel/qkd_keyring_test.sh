#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The "qkd" key type's zeroisation and quota (Documentation/qkd/keyring.rst;
# qkd_xfrm_test.sh checks the rest).  A seeded qkd_sim pair makes key bytes
# this test can compute from the seed and the key ID, without reading them
# out of the kernel; qkd_kcore_scan counts the words of physical memory
# that still hold any of them.
#  1. keys taken with keyctl at both ends, and one logon twin, are found in
#     memory exactly as often as their payloads hold them: the scan sees key
#     bytes, and the pools, rings and card buffer kept no copy;
#  2. after unlink (and revoke) and garbage collection, not one word of any
#     of them is left anywhere in RAM: not in the freed payloads, the pools,
#     the DMA rings or the card's block buffer;
#  3. a request over the requester's key quota fails with EDQUOT and takes
#     nothing from the pool.

. "$(dirname "$0")/lib.sh"
bus=/sys/bus/qkd_sim
qkdctl=$QKD_TOP/tools/build/qkdctl
sim=77
link_id=770
scan_in= scan_out= scan_pid=

echo "KTAP version 1"

cleanup() {
	[ -n "$scan_pid" ] && kill "$scan_pid" 2>/dev/null
	[ -n "$kr" ] && keyctl unlink "$kr" @u >/dev/null 2>&1
	[ -e "$bus/devices/qkd_sim$sim" ] && echo "$sim" >$bus/del_device
}
trap cleanup EXIT

if [ ! -r /proc/kcore ] || ! command -v keyctl >/dev/null; then
	ktap_skip "no /proc/kcore or keyctl" "key zeroisation"
	ktap_finish
	exit 4
fi

# A fresh seed each run: nothing a previous run left behind can match.
seed=0x$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
qkd_load && echo "$sim $link_id 1024 64 0 $seed" >$bus/new_device &&
	echo 200000 >$bus/devices/qkd_sim$sim/rate_bps
ktap_ok $? "seeded qkd_sim pair $sim (200 kbit/s, pool far from full)"
bad=0
for args in "78 780 1024 64 0 0xzz" "78 780 1024 64 0 -1" "78 780 1024 64 0 1 1"; do
	echo "$args" >$bus/new_device 2>/dev/null && bad=1
	[ -e $bus/devices/qkd_sim78 ] && echo 78 >$bus/del_device && bad=1
done
ktap_ok $bad "new_device refuses a bad KEY_SEED and a seventh field"
tx=$(cat $bus/devices/qkd_sim$sim/tx_index)
rx=$(cat $bus/devices/qkd_sim$sim/rx_index)
"$qkdctl" kernel link set "$tx" up &&
	"$qkdctl" kernel link set "$rx" up
ktap_ok $? "link ends $tx and $rx up"

echo 1 >/proc/sys/kernel/keys/gc_delay
# No session keyring here: each keyctl would make its own; use @u.
kr=$(keyctl newring qkd_zeroise @u)

# proc_id SERIAL: the key ID its /proc/keys line reports.
proc_id() {
	grep "^$(printf '%08x' "$1") " /proc/keys | sed -n 's/.* id \([0-9a-f]\{16\}\) .*/\1/p'
}

# take NS_INDEX KEY_ID LEN [:logon]: the peer's copy, once its block is there.
take() {
	local i
	for i in $(seq 1 30); do
		keyctl request2 qkd "take:$1:$2:$3$4" qkd "$kr" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# share ALLOC_INDEX TAKE_INDEX LEN [:logon]: a key allocated at one end and
# taken at the other; appends "KEY_ID:LEN" to $keys.
keys=() serials=() expect=0
share() {
	local a b id i
	for i in $(seq 1 30); do
		a=$(keyctl request2 qkd "alloc:$1:$3" qkd "$kr" 2>/dev/null) && break
		sleep 0.1
	done
	id=$(proc_id "$a")
	[ -n "$id" ] && b=$(take "$2" "$id" "$3" "$4") && [ "$(proc_id "$b")" = "$id" ] ||
		return 1
	keys+=("$id:$3") serials+=("$a" "$b")
	# Payloads are 8-byte aligned: each copy holds LEN / 8 whole words.
	expect=$((expect + 2 * ($3 / 8)))
	[ -n "$4" ] && expect=$((expect + $3 / 8))
	return 0
}

share "$tx" "$rx" 32 && share "$tx" "$rx" 200 && share "$tx" "$rx" 1024 &&
	share "$rx" "$tx" 64 && share "$tx" "$rx" 48 :logon
ktap_ok $? "five keys taken at both ends with keyctl, one with a logon twin (${keys[*]})"

coproc SCAN { exec "$QKD_BIN/qkd_kcore_scan" "$seed" "${keys[@]}"; }
scan_in=${SCAN[1]} scan_out=${SCAN[0]} scan_pid=$SCAN_PID
# scan: one pass over all RAM; prints the count of words holding key bytes.
scan() {
	local n
	echo >&"$scan_in" && read -r -t 600 n <&"$scan_out" && echo "$n"
}

t0=$(date +%s)
before=$(scan)
[ -n "$before" ] && [ "$before" -ge "$expect" ]
ktap_ok $? "the scan finds the live keys in memory ($before words, at least $expect expected; $(($(date +%s) - t0)) s)"
[ "$before" = "$expect" ]
ktap_ok $? "and only in their payloads: the pools, rings and card wiped their copies on the way"

# Unlink all but one; revoke that one (the other path to destruction).
for s in "${serials[@]:1}"; do keyctl unlink "$s" "$kr" >/dev/null; done
keyctl revoke "${serials[0]}"
keyctl unlink "$kr" @u >/dev/null && kr=
gone=1
for i in $(seq 1 100); do
	! grep -q "qkd *\(alloc\|take\):\($tx\|$rx\):" /proc/keys &&
		! grep -q "logon *qkd:$rx:" /proc/keys && { gone=0; break; }
	sleep 0.1
done
ktap_ok $gone "unlinked and revoked keys are garbage-collected"
sleep 1	# gc erases a key from /proc/keys just before it destroys it

after=$(scan)
[ "$after" = 0 ]
ktap_ok $? "no word of any destroyed key is left in memory ($after words)"
exec {scan_in}>&-
wait "$scan_pid"
scan_pid=

# ---- quota: charged before the pool is touched ----
# uid 65534 with CAP_NET_ADMIN alone, under a 200-byte key quota.
as_admin() {
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+net_admin \
		--ambient-caps=+net_admin "$@"
}
allocated() {
	"$qkdctl" -j kernel -s link show "$tx" | jq -r '.[0].stats.bytes_allocated'
}
maxbytes=$(cat /proc/sys/kernel/keys/maxbytes)
echo 200 >/proc/sys/kernel/keys/maxbytes
a0=$(allocated)
as_admin keyctl request2 qkd "alloc:$tx:64" qkd @u >/dev/null
ktap_ok $? "uid 65534 with CAP_NET_ADMIN takes a 64-byte key within its quota"
a1=$(allocated)
out=$(as_admin keyctl request2 qkd "alloc:$tx:256" qkd @u 2>&1)
a2=$(allocated)
[[ $out == *"quota exceeded"* ]] && [ $((a1 - a0)) = 64 ] && [ "$a2" = "$a1" ]
ktap_ok $? "a 256-byte key over the 200-byte quota: EDQUOT ($out), pool untouched (allocated $a0 -> $a1 -> $a2)"
as_admin keyctl clear @u
echo "$maxbytes" >/proc/sys/kernel/keys/maxbytes
ktap_finish
