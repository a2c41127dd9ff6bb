#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Who may see pool figures and use keys (uapi/linux/qkd.h "Permissions",
# Documentation/qkd/uapi.rst).  A qkd_sim pair lives in this (the initial)
# namespace; two callers try to get at it:
#  - uid 65534 with no capability ("nobody", setpriv), and
#  - root of a fresh user namespace with its own network namespace,
#    created by uid 65534 ("unshare -Urn" under setpriv): it holds every
#    capability, but only over its own, empty network namespace.
# Each must fail with the documented error:
#  LINK_GET (do, dump)  nobody -EPERM; userns root: -ENODEV, empty dump
#  SA_ADD / SA_DEL      nobody -EPERM; userns root: -ENODEV / -ENOENT
#  "qkd" key request    nobody EPERM;  userns root: ENODEV
#  sysfs pool_*, statistics/*  both: EACCES (0400, owned by init's root)
#  pool multicast group nobody -EPERM (userns root may join its own
#                       namespace's group, where no link is)

. "$(dirname "$0")/lib.sh"
bus=/sys/bus/qkd_sim
sim=83
link_id=830
tmp=$(mktemp -d)
chmod 755 "$tmp"
# uid 65534 may not reach into the tree (a checkout under a 0700
# directory, as CI's may be): every caller runs copies from $tmp, and
# qkd_uns_exec returns to $tmp as its working directory.
cp "$QKD_BIN/qkd_sa_util" "$QKD_BIN/qkd_uns_exec" "$QKD_TOP/tools/build/qkdctl" "$tmp/"
util=$tmp/qkd_sa_util
qkdctl=$tmp/qkdctl
cd "$tmp" || exit 1

echo "KTAP version 1"

cleanup() {
	[ -e "$bus/devices/qkd_sim$sim" ] && echo "$sim" >$bus/del_device
	rm -rf "$tmp"
}
trap cleanup EXIT

nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
# "unshare -Urn" by uid 65534, which the chrooted VM needs a helper for.
uns_root() { "$tmp/qkd_uns_exec" 65534 "$@"; }

if ! uns_root true 2>/dev/null; then
	ktap_skip "uid 65534 cannot create a user namespace" "namespace permissions"
	ktap_finish
	exit 4
fi

qkd_esp_modules
qkd_sim_up $sim $link_id 1024 2000000
ktap_ok $? "qkd_sim pair $sim up in the initial namespace, ends $tx and $rx"
# Some key in the pools, so that a refusal is not just an empty pool.
for i in $(seq 1 50); do
	"$util" alloc - "$tx" 32 reserve >/dev/null 2>&1 && break
	sleep 0.1
done
id=$("$util" alloc - "$tx" 32 reserve)

# refused WHO EXPECT_RE WHAT CMD...: CMD run by WHO fails, output matches.
refused() {
	local who=$1 re=$2 what=$3 out st
	shift 3
	out=$("$who" "$@" 2>&1)
	st=$?
	[ $st -ne 0 ] && grep -q -- "$re" <<<"$out"
	ktap_ok $? "$who: $what -> $re"
	[ $st -ne 0 ] && grep -q -- "$re" <<<"$out" || echo "# exit $st: $out" | head -3
}

sa_args="link=$tx id=0x$id len=20 family=4 src=192.0.2.1 dst=192.0.2.2 spi=0x7100"
for who in nobody uns_root; do
	if [ $who = nobody ]; then
		get=EPERM add=-EPERM del=-EPERM key="Operation not permitted"
	else
		get=ENODEV add=-ENODEV del=-ENOENT key="No such device"
	fi
	refused $who "$get" "LINK_GET of link end $tx" "$qkdctl" kernel link show "$tx"
	if [ $who = nobody ]; then
		refused $who EPERM "LINK_GET dump" "$qkdctl" kernel link show
	else
		out=$($who "$qkdctl" -j kernel link show 2>&1)
		[ "$out" = "[]" ]
		ktap_ok $? "$who: LINK_GET dump -> no link (got '$out')"
	fi
	refused $who "$add" "SA_ADD with a key of link end $tx" "$util" sa-add - $sa_args
	refused $who "$del" "SA_DEL" "$util" sa-del - 4 192.0.2.2 0x7100
	refused $who "$key" "keyctl request2 qkd take:$rx:$id:32" \
		keyctl request2 qkd "take:$rx:$id:32" x @s
	for f in pool_avail_bytes pool_level statistics/bytes_allocated; do
		refused $who "Permission denied" "read sysfs $f" \
			cat /sys/class/qkd/qkd$tx/$f
	done
done
refused nobody "CAP_NET_ADMIN" "join the pool multicast group" \
	timeout 20 "$qkdctl" kernel monitor pool

# Nothing was taken: the reserved key is still there, and root reads sysfs.
cat /sys/class/qkd/qkd$tx/pool_avail_bytes >/dev/null &&
	[ "$(stat -c %a /sys/class/qkd/qkd$tx/pool_avail_bytes)" = 400 ]
ktap_ok $? "root reads pool_avail_bytes (mode 0400)"
id=$("$util" alloc - "$tx" 20 reserve) &&
	"$util" sa-add - link=$tx id=0x$id len=20 family=4 src=192.0.2.1 dst=192.0.2.2 spi=0x7100 >$tmp/out 2>&1
ktap_ok $? "and root may install the SA the others could not ($(cat $tmp/out))"
"$util" sa-del - 4 192.0.2.2 0x7100 >/dev/null

echo "$sim" >$bus/del_device
ktap_finish
