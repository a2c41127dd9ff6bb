#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kernel/qkd_keys.h promises in-kernel consumers (xfrm, keys) they may call
# from softirq.  The in-tree consumers call from process context only, so a
# test-only module (selftests/kernel/module/qkd_softirq_test.c) calls
# qkd_key_alloc_kernel(), qkd_key_take() and qkd_key_discard() on a
# qkd_sim pair from a debugfs write (process context, softirqs enabled)
# and then from a timer (softirq):
#  1. every call succeeds in both contexts, the timer really ran in
#     softirq, and both copies of each key are identical;
#  2. on the debug kernel lockdep has seen each lock behind the API in both
#     contexts: a lock taken without disabling BH (the planted bug of
#     selftests/kernel/planted/) is reported as "inconsistent lock state",
#     which guest.sh's dmesg check turns into a failure.

. "$(dirname "$0")/lib.sh"
sim=73
link_id=730
ko=$QKD_KO_DIR/../selftests/kernel/module/qkd_softirq_test.ko
ctl=/sys/kernel/debug/qkd_softirq_test/run
rounds=${QKD_SOFTIRQ_ROUNDS:-20}

echo "KTAP version 1"

cleanup() {
	grep -q '^qkd_softirq_test ' /proc/modules && rmmod qkd_softirq_test
	[ -e /sys/bus/qkd_sim/devices/qkd_sim$sim ] && echo $sim >/sys/bus/qkd_sim/del_device
}
trap cleanup EXIT

qkd_sim_up $sim $link_id 1024 400000
ktap_ok $? "qkd_sim pair $sim up (tx $tx, rx $rx)"
insmod "$ko"
ktap_ok $? "insmod $(basename "$ko")"

echo "$tx $rx 32 $rounds" >$ctl
ktap_ok $? "$rounds rounds of alloc/take/discard from process context and from softirq"
read -r _ process _ softirq _ not_softirq _ mismatch _ errors _ last_err <$ctl
echo "# process_ok $process softirq_ok $softirq not_softirq $not_softirq mismatch $mismatch errors $errors last_err $last_err"
[ "$process" = "$rounds" ] && [ "$errors" = 0 ]
ktap_ok $? "process context: $rounds keys allocated at tx, taken and discarded at rx (got $process, last error $last_err)"
[ "$softirq" = "$rounds" ] && [ "$not_softirq" = 0 ]
ktap_ok $? "softirq: $rounds keys allocated at tx, taken and discarded at rx, all in softirq (got $softirq, $not_softirq outside)"
[ "$mismatch" = 0 ]
ktap_ok $? "both copies of every key are identical ($mismatch differ)"

echo "1 2 0 1" >$ctl 2>/dev/null
ktap_ok $(( ! $? )) "a zero key length is refused"

ktap_finish
