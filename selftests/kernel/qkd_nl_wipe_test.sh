#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Netlink replies that carry key bytes are zeroised once read
# (Documentation/qkd/uapi.rst, "Key material in replies").  A seeded
# qkd_sim pair makes key bytes this test computes from the seed, without
# reading them out of the kernel.  "qkd_sa_util fetch" takes 16 keys of
# 1 KiB with one KEY_ALLOC at one end (a 16 KiB reply) and each with a
# KEY_GET at the other (16 replies of 1 KiB), and wipes its own copies
# before it exits; then qkd_kcore_scan counts the words of physical memory
# that still hold any of those bytes:
#  1. a reserved key, still in both pools, is found (the scan works);
#  2. no copy of any of the 16 fetched keys is left: the pools wiped their
#     copies as they handed them out, and the reply skbs were wiped when
#     the receiver had read them.  A buffer left unwiped holds a whole key
#     (128 words); fewer than 32 words are let pass, because a register
#     saved at a context switch (a task's FPU state after a vector memcpy
#     of a key) can hold a word or two, and that is no buffer this test is
#     about.

. "$(dirname "$0")/lib.sh"
util=$QKD_BIN/qkd_sa_util
bus=/sys/bus/qkd_sim
sim=81
link_id=810
tmp=$(mktemp -d)

echo "KTAP version 1"

cleanup() {
	[ -e "$bus/devices/qkd_sim$sim" ] && echo "$sim" >$bus/del_device
	rm -rf "$tmp"
}
trap cleanup EXIT

qkd_need_kcore "netlink reply wipe"

seed=0x$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
qkd_sim_up $sim $link_id 1024 2000000 "$seed"
ktap_ok $? "seeded qkd_sim pair $sim (1 KiB blocks) up, ends $tx and $rx"

"$util" fetch - "$tx" "$rx" 1024 16 >$tmp/keys
ktap_ok $? "16 keys of 1 KiB: one KEY_ALLOC at $tx, a KEY_GET each at $rx, equal"
reserved=$("$util" alloc - "$tx" 1024 reserve)
ktap_ok $? "one 1 KiB key reserved at $tx (stays in both pools)"
# Let the peer's copy of the reserved key's block arrive.
sleep 1
"$QKD_TOP/tools/build/qkdctl" kernel link set "$tx" down &&
	"$QKD_TOP/tools/build/qkdctl" kernel link set "$rx" down

keys=()
while read -r id; do keys+=("$id:1024"); done <$tmp/keys
t0=$(date +%s)
found=$(echo | "$QKD_BIN/qkd_kcore_scan" "$seed" "$reserved:1024")
[ -n "$found" ] && [ "$found" -ge 128 ]
ktap_ok $? "kcore scan finds the reserved key ($found words, >= 128: its pool copies; $(($(date +%s) - t0)) s)"
found=$(echo | "$QKD_BIN/qkd_kcore_scan" "$seed" "${keys[@]}")
[ -n "$found" ] && [ "$found" -lt 32 ]
ktap_ok $? "kcore scan: $found words of the ${#keys[@]} fetched keys left in RAM (< 32: no buffer copy; one key is 128)"

echo "$sim" >$bus/del_device
ktap_finish
