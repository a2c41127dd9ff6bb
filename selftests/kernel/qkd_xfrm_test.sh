#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# QKD-keyed xfrm SAs and the "qkd" key type (Documentation/qkd/ipsec.rst,
# keyring.rst).  Two gateway namespaces A and B, joined by veth, hold the
# two ends of a qkd_sim link:
#  (a) SAs from QKD_CMD_SA_ADD at both ends (same key IDs) plus operator
#      policies (IPv4 and IPv6 transport, IPv4 tunnel): ping and a TCP
#      stream pass, the wire carries ESP only, both ends' SA keys are equal
#      and equal the QKD key of the key ID;
#  (b) keyctl request2 qkd: equal to the peer's key (checked through
#      dm-crypt), unreadable, gone after unlink/revoke;
#  (c) bad input is rejected with extack and installs nothing;
#  (d) netns exit and rmmod with live SAs remove them.
# Key bytes are compared in shell variables and never printed.

. "$(dirname "$0")/lib.sh"
util=$QKD_BIN/qkd_sa_util
A=qxtx B=qxrx			# netns names made by "qkd_sa_util pair"
A4=192.0.2.1 B4=192.0.2.2 A6=2001:db8::1 B6=2001:db8::2
A_NET=10.1.0.1 B_NET=10.2.0.1	# tunnel mode: hosts behind the gateways
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "KTAP version 1"

# Request_module cannot reach modprobe from the VM's chroot: load up front
# (seqiv seeds from the default RNG: drbg).
qkd_esp_modules
modprobe veth 2>/dev/null || echo "# modprobe veth failed"

in_a() { ip netns exec $A "$@"; }
in_b() { ip netns exec $B "$@"; }

setup() {
	local idx
	qkd_load || return 1
	idx=$("$util" pair 60 600 qx 1024 4096 400000) || return 1
	read -r TX RX <<<"$idx"
	ip link add va netns $A type veth peer name vb netns $B || return 1
	in_a ip addr add $A4/24 dev va && in_b ip addr add $B4/24 dev vb &&
	in_a ip addr add $A6/64 dev va nodad && in_b ip addr add $B6/64 dev vb nodad &&
	in_a ip addr add $A_NET/32 dev lo && in_b ip addr add $B_NET/32 dev lo &&
	in_a ip link set lo up && in_b ip link set lo up &&
	in_a ip link set va up && in_b ip link set vb up &&
	in_a ip route add 10.2.0.0/24 via $B4 src $A_NET &&
	in_b ip route add 10.1.0.0/24 via $A4 src $B_NET
}

# wait_key NS INDEX: until the end can allocate (the link is generating).
wait_key() {
	local i
	for i in $(seq 1 100); do
		"$util" alloc "$1" "$2" 1 reserve >/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# sa_pair SRC_NS SRC_INDEX DST_NS DST_INDEX FAMILY SRC DST SPI REQID MODE
# Both ends install the SA SRC->DST from one key the source end reserved.
sa_pair() {
	local sns=$1 sidx=$2 dns=$3 didx=$4 fam=$5 src=$6 dst=$7 spi=$8 reqid=$9 mode=${10}
	local id args
	id=$("$util" alloc $sns $sidx 36 reserve) || return 1
	args="family=$fam src=$src dst=$dst spi=$spi reqid=$reqid mode=$mode id=0x$id len=36 soft-s=3000 hard-s=3600"
	"$util" sa-add $sns link=$sidx $args >$tmp/err || { cat $tmp/err; return 1; }
	# The peer's copy of the block may still be on its way: retry, for up
	# to 20 s (a debug kernel under TCG delivers blocks seconds late).
	local end=$((SECONDS + 20))
	while [ $SECONDS -lt $end ]; do
		"$util" sa-add $dns link=$didx $args >$tmp/err && return 0
		grep -q -- -ENOENT $tmp/err || break
		sleep 0.1
	done
	cat $tmp/err
	return 1
}

# policy NS DIR SRC DST TMPL_SRC TMPL_DST REQID MODE
policy() {
	ip -n $1 xfrm policy add src $3 dst $4 dir $2 \
		tmpl src $5 dst $6 proto esp reqid $7 mode $8
}

# sa_key NS SRC DST SPI: the SA's AEAD key in hex (never printed).
sa_key() {
	ip -n $1 xfrm state get src $2 dst $3 proto esp spi $4 |
		sed -n 's/.*aead rfc4106(gcm(aes)) 0x\([0-9a-f]*\) .*/\1/p'
}

# sa_packets NS SRC DST SPI: packets through the SA.
sa_packets() {
	ip -n $1 -s xfrm state get src $2 dst $3 proto esp spi $4 |
		sed -n 's/^[[:space:]]*\([0-9]*\)(bytes), \([0-9]*\)(packets).*/\2/p' | head -n 1
}

sad_count() { ip -n $1 xfrm state count | sed -n 's/.*SAD count \([0-9]*\).*/\1/p'; }

# tcp_stream NS_SRV NS_CLI ADDR PORT: send a marked file, compare.
tcp_stream() {
	local srv
	{ for i in $(seq 1 2000); do echo "QKDN-PLAINTEXT-MARKER line $i"; done; } >$tmp/send
	ip netns exec $1 timeout 30 busybox nc -l -p $4 >$tmp/recv &
	srv=$!
	sleep 0.5
	ip netns exec $2 timeout 30 bash -c "cat $tmp/send >/dev/tcp/$3/$4"
	wait $srv
	cmp -s $tmp/send $tmp/recv
}

# --- (a) SAs and traffic ---------------------------------------------
setup
ktap_ok $? "two gateway namespaces, veth, qkd_sim link (indexes ${TX:-?}/${RX:-?})"
wait_key $A $TX && wait_key $B $RX
ktap_ok $? "both link ends have key"

sa_pair $A $TX $B $RX 4 $A4 $B4 0x1001 1 transport &&
	sa_pair $B $RX $A $TX 4 $B4 $A4 0x1002 1 transport
ktap_ok $? "SA_ADD: IPv4 transport SAs at both ends from the same key IDs"
sa_pair $A $TX $B $RX 6 $A6 $B6 0x1003 1 transport &&
	sa_pair $B $RX $A $TX 6 $B6 $A6 0x1004 1 transport
ktap_ok $? "SA_ADD: IPv6 transport SAs"
sa_pair $A $TX $B $RX 4 $A4 $B4 0x1005 2 tunnel &&
	sa_pair $B $RX $A $TX 4 $B4 $A4 0x1006 2 tunnel
ktap_ok $? "SA_ADD: IPv4 tunnel SAs"

policy $A out $A4 $B4 $A4 $B4 1 transport && policy $A in $B4 $A4 $B4 $A4 1 transport &&
policy $B out $B4 $A4 $B4 $A4 1 transport && policy $B in $A4 $B4 $A4 $B4 1 transport &&
policy $A out $A6 $B6 $A6 $B6 1 transport && policy $A in $B6 $A6 $B6 $A6 1 transport &&
policy $B out $B6 $A6 $B6 $A6 1 transport && policy $B in $A6 $B6 $A6 $B6 1 transport &&
policy $A out 10.1.0.0/24 10.2.0.0/24 $A4 $B4 2 tunnel &&
policy $A in 10.2.0.0/24 10.1.0.0/24 $B4 $A4 2 tunnel &&
policy $B out 10.2.0.0/24 10.1.0.0/24 $B4 $A4 2 tunnel &&
policy $B in 10.1.0.0/24 10.2.0.0/24 $A4 $B4 2 tunnel
ktap_ok $? "operator policies (ip xfrm policy)"

n=$(ip -n $A xfrm state | grep -c "^src.*" )
[ "$n" -eq 6 ] && [ "$(ip -n $B xfrm state | grep -c '^src')" -eq 6 ] &&
	ip -n $A xfrm state | grep -q "aead rfc4106(gcm(aes)) 0x[0-9a-f]\{72\} 128"
ktap_ok $? "ip xfrm state shows 6 AES-256-GCM SAs at each end (A: $n)"

# What each gateway puts on the wire.  Capture outbound only: in tunnel
# mode the decrypted inner packet is received again on the same device.
in_a timeout 40 tcpdump -Z root -U -Q out -i va -n -w $tmp/esp_a.pcap >/dev/null 2>&1 &
dump_a=$!
in_b timeout 40 tcpdump -Z root -U -Q out -i vb -n -w $tmp/esp_b.pcap >/dev/null 2>&1 &
dump_b=$!
sleep 1
in_a busybox ping -c 3 -W 2 $B4 >/dev/null
ktap_ok $? "IPv4 transport: ping passes"
tcp_stream $B $A $B4 5001
ktap_ok $? "IPv4 transport: TCP stream of $(wc -c <$tmp/send) bytes arrives intact"
in_a busybox ping -6 -c 3 -W 2 $B6 >/dev/null
ktap_ok $? "IPv6 transport: ping passes"
tcp_stream $B $A $B6 5002
ktap_ok $? "IPv6 transport: TCP stream arrives intact"
in_a busybox ping -c 3 -W 2 -I $A_NET $B_NET >/dev/null
ktap_ok $? "IPv4 tunnel: ping between the networks behind the gateways passes"
tcp_stream $B $A $B_NET 5003
ktap_ok $? "IPv4 tunnel: TCP stream arrives intact"
sleep 1
kill $dump_a $dump_b 2>/dev/null; wait $dump_a $dump_b 2>/dev/null

all_counted=0
for s in "$A $A4 $B4 0x1001" "$A $A6 $B6 0x1003" "$A $A4 $B4 0x1005" "$B $B4 $A4 0x1002"; do
	p=$(sa_packets $s)
	echo "# SA $s: ${p:-?} packets"
	[ "${p:-0}" -gt 0 ] || all_counted=1
done
ktap_ok $all_counted "the traffic went through the QKD SAs (ESP packet counters)"

if [ -s $tmp/esp_a.pcap ] && [ -s $tmp/esp_b.pcap ]; then
	{ tcpdump -r $tmp/esp_a.pcap -n; tcpdump -r $tmp/esp_b.pcap -n; } 2>/dev/null >$tmp/esp.txt
	esp=$(grep -c 'ESP(spi=' $tmp/esp.txt)
	other=$(grep -vc 'ESP(spi=\|ARP\|ICMP6, neighbor\|ICMP6, router' $tmp/esp.txt)
	echo "# capture on va and vb (outbound): $esp ESP packets, $other others"
	grep -v 'ESP(spi=\|ARP\|ICMP6, neighbor\|ICMP6, router' $tmp/esp.txt | head -n 5 | sed 's/^/# /' 
	[ "$esp" -gt 100 ] && [ "$other" -eq 0 ]
	ktap_ok $? "capture on the veth pair: ESP only (proto 50), no plain IP traffic"
	! grep -aq 'QKDN-PLAINTEXT-MARKER' $tmp/esp_a.pcap $tmp/esp_b.pcap
	ktap_ok $? "capture: the plaintext marker never crosses the wire"
else
	ktap_ok 1 "capture on the veth (tcpdump wrote nothing)"
fi

same=0
for s in "$A4 $B4 0x1001" "$B4 $A4 0x1002" "$A6 $B6 0x1003" "$B6 $A6 0x1004" \
	 "$A4 $B4 0x1005" "$B4 $A4 0x1006"; do
	ka=$(sa_key $A $s) kb=$(sa_key $B $s)
	[ ${#ka} -eq 72 ] && [ "$ka" = "$kb" ] || same=1
done
ktap_ok $same "each SA has the same 36-byte key at both ends"

# The SA key equals the QKD key: A allocates with material, B installs by ID.
ip -n $B xfrm monitor >$tmp/monitor 2>&1 &
monitor=$!
sleep 0.5
read -r id mat < <("$util" alloc $A $TX 20)
for i in $(seq 1 30); do	# the peer's copy may still be on its way
	"$util" sa-add $B link=$RX id=0x$id len=20 family=4 src=$A4 dst=$B4 spi=0x2001 >$tmp/err && break
	sleep 0.1
done
kb=$(sa_key $B $A4 $B4 0x2001)
[ -n "$mat" ] && [ "$kb" = "$mat" ]
ktap_ok $? "SA key at B equals the QKD key A allocated (key ID $id, AES-128 + salt)"

# SA_DEL removes it (and only ours).
ip -n $B xfrm state add src $A4 dst $B4 proto esp spi 0x9999 mode transport \
	aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128
"$util" sa-del $B 4 $B4 0x2001 >$tmp/err && ! ip -n $B xfrm state get src $A4 dst $B4 proto esp spi 0x2001 >/dev/null 2>&1
ktap_ok $? "SA_DEL deletes the SA"
sleep 0.5
kill $monitor 2>/dev/null; wait $monitor 2>/dev/null
grep -q "^src $A4 dst $B4" $tmp/monitor && grep -q "proto esp spi 0x00002001" $tmp/monitor &&
	grep -q "^Deleted src $A4 dst $B4" $tmp/monitor
ktap_ok $? "ip xfrm monitor sees the SA_ADD and the SA_DEL (XFRM_MSG_NEWSA/DELSA)"
out=$("$util" sa-del $B 4 $B4 0x9999)
[[ $out == "ERR -ENOENT:"* ]] && ip -n $B xfrm state get src $A4 dst $B4 proto esp spi 0x9999 >/dev/null
ktap_ok $? "SA_DEL refuses an SA it did not install ($out)"

# --- (c) bad input -------------------------------------------------------
before_a=$(sad_count $A) before_b=$(sad_count $B)
base="family=4 src=$A4 dst=$B4"
# expect_err WANT DESCRIPTION CMD...: the command fails with WANT + extack.
expect_err() {
	local want=$1 what=$2 out; shift 2
	out=$("$@")
	echo "# $what: $out"
	case $want in
	-EPERM)	# refused by the genetlink core, which sets no message
		[[ $out == "ERR $want: "* ]]
		ktap_ok $? "$what is rejected with $want" ;;
	*)
		[[ $out == "ERR $want: "?* ]]
		ktap_ok $? "$what is rejected with $want and an extack message" ;;
	esac
}
id=$("$util" alloc $A $TX 20 reserve)
expect_err -ENODEV "unknown link" "$util" sa-add $A link=999 id=0x$id len=20 $base spi=0x3001
expect_err -EINVAL "wrong key length" "$util" sa-add $A link=$TX id=0x$id len=32 $base spi=0x3001
expect_err -ERANGE "soft lifetime 0 (policy minimum 1 s)" "$util" sa-add $A link=$TX id=0x$id len=20 $base spi=0x3001 soft-s=0
expect_err -EINVAL "soft lifetime not below hard" "$util" sa-add $A link=$TX id=0x$id len=20 $base spi=0x3001 soft-s=10 hard-s=10
expect_err -EINVAL "address of the wrong family" "$util" sa-add $A link=$TX id=0x$id len=20 family=6 src=$A4 dst=$B4 spi=0x3001
expect_err -EINVAL "missing SPI" "$util" sa-add $A link=$TX id=0x$id len=20 $base
expect_err -EEXIST "duplicate SPI" "$util" sa-add $A link=$TX id=0x$id len=20 $base spi=0x1001
# The duplicate did not use up the key: it still installs an SA.
out=$("$util" sa-add $A link=$TX id=0x$id len=20 $base spi=0x3002)
ktap_ok $? "a rejected duplicate does not consume the key $out"
expect_err -EALREADY "consumed key ID" "$util" sa-add $A link=$TX id=0x$id len=20 $base spi=0x3003
expect_err -EPERM "unprivileged caller" ip netns exec $A setpriv --reuid=65534 --regid=65534 \
	--clear-groups --inh-caps=-all "$util" sa-add - link=$TX id=0x$id len=20 $base spi=0x3004
expect_err -ENOENT "key ID not in the pool" "$util" sa-add $A link=$TX id=0xfffff0000 len=20 $base spi=0x3005
expect_err -ERANGE "replay window 4097 (QKD_SA_REPLAY_WINDOW_MAX 4096)" "$util" sa-add $A link=$TX id=0x$id len=20 $base spi=0x3006 replay=4097
[ "$(sad_count $A)" -eq $((before_a + 1)) ] && [ "$(sad_count $B)" -eq "$before_b" ]
ktap_ok $? "rejected requests installed nothing (SAD: A $before_a -> $(sad_count $A), B $before_b -> $(sad_count $B))"

# --- replay window: legacy up to 32, a replay_esn bitmap above ----------
# replay_shown SPI: the window "ip xfrm state get" reports for SA 0xSPI at A.
replay_shown() {
	in_a ip xfrm state get src $A4 dst $B4 proto esp spi "$1" |
		sed -n -e 's/.*replay_window \([0-9]*\),.*/\1/p' \
			-e 's/.*replay-window \([1-9][0-9]*\).*/\1/p' | head -1
}
ok=0 shown= spi=$((0x3100))
for w in default 16 2048 4096; do
	spi=$((spi + 1))
	id=$("$util" alloc $A $TX 20 reserve) || ok=1
	arg="replay=$w"
	[ $w = default ] && arg=
	"$util" sa-add $A link=$TX id=0x$id len=20 $base spi=$spi $arg >/dev/null || ok=1
	got=$(replay_shown $spi)
	[ $w = default ] && w=1024
	[ "$got" = "$w" ] || ok=1
	shown="$shown $w:$got"
	"$util" sa-del $A 4 $B4 $spi >/dev/null || ok=1
done
ktap_ok $ok "ip xfrm state shows the configured replay window (want:got$shown)"

# --- (b) the qkd key type ------------------------------------------------
echo 1 >/proc/sys/kernel/keys/gc_delay 2>/dev/null
# No session keyring here: each keyctl would make its own; use @u.
kr=$(keyctl newring qkd_test @u)
read -r id mat < <("$util" alloc $A $TX 32)
sleep 0.5	# let the peer's copy of the block arrive
key=$(in_b keyctl request2 qkd "take:$RX:$id:32:logon" qkd $kr 2>$tmp/err)
ktap_ok $? "keyctl request2 qkd take:$RX:$id:32:logon at B ($(cat $tmp/err))"
# proc_key SERIAL: its /proc/keys line, which carries the .describe text.
proc_key() { grep "^$(printf '%08x' "$1") " /proc/keys; }
proc_key $key | grep -q "qkd *take:$RX:$id:32:logon: link $RX id $id len 32"
ktap_ok $? "/proc/keys describes it with link, key ID and length"
twin=$(keyctl search $kr logon "qkd:$RX:$id:32" 2>/dev/null)
ktap_ok $? "the logon twin qkd:$RX:$id:32 is linked beside it"
! keyctl read $key >/dev/null 2>&1 && ! keyctl pipe $key >/dev/null 2>&1 &&
	! keyctl read ${twin:-0} >/dev/null 2>&1
ktap_ok $? "not even root can read the payload (qkd and logon twin)"
! setpriv --reuid=65534 --regid=65534 --clear-groups keyctl read $key >/dev/null 2>&1
ktap_ok $? "an unprivileged user cannot read it"
# Into its own (new) session keyring, so only the CAP_NET_ADMIN check
# of the key type can refuse it.
out=$(in_b setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	keyctl request2 qkd "alloc:$RX:32" qkd @s 2>&1)
[[ $out == *"Operation not permitted"* ]]
ktap_ok $? "an unprivileged user cannot take key from the pool ($out)"
! keyctl add qkd "take:$RX:$id:32" forged $kr >/dev/null 2>&1
ktap_ok $? "add_key cannot forge a qkd key"
! in_b keyctl request2 qkd "take:$RX:$id:32" qkd $kr >/dev/null 2>&1
ktap_ok $? "the same key ID cannot be taken twice"
alloc=$(in_a keyctl request2 qkd "alloc:$TX:32" qkd $kr) &&
	proc_key $alloc | grep -q "alloc:$TX:32: link $TX id [0-9a-f]\{16\} len 32"
ktap_ok $? "keyctl request2 qkd alloc:$TX:32 at A reports its new key ID"

# Equality through a real consumer: dm-crypt with the logon twin encrypts,
# dm-crypt with the peer's key bytes decrypts.
if modprobe dm_crypt 2>/dev/null && modprobe loop 2>/dev/null && command -v dmsetup >/dev/null; then
	modprobe xts 2>/dev/null
	export DM_DISABLE_UDEV=1
	truncate -s 1M $tmp/disk && loopdev=$(losetup -f --show $tmp/disk)
	dmsetup create qkdtest --noudevsync --table \
		"0 2048 crypt aes-xts-plain64 :32:logon:qkd:$RX:$id:32 0 $loopdev 0" 2>$tmp/dm.err
	st=$?
	ktap_ok $st "dm-crypt takes the logon twin as its key ($(head -c 200 $tmp/dm.err))"
	{ for i in $(seq 1 3000); do echo "QKDN-DISK-MARKER $i"; done; } | head -c 1048576 >$tmp/plain
	truncate -s 1M $tmp/plain
	dd if=$tmp/plain of=/dev/mapper/qkdtest bs=64k oflag=direct status=none 2>/dev/null
	dmsetup remove --noudevsync qkdtest
	! grep -aq QKDN-DISK-MARKER $tmp/disk
	ktap_ok $? "the disk holds ciphertext only"
	dmsetup create qkdpeer --noudevsync --readonly --table \
		"0 2048 crypt aes-xts-plain64 $mat 0 $loopdev 0" &&
		cmp -s $tmp/plain /dev/mapper/qkdpeer
	ktap_ok $? "dm-crypt with the QKD key A allocated decrypts it: the qkd key equals the peer's"
	dmsetup remove --noudevsync qkdpeer 2>/dev/null
	losetup -d $loopdev
else
	ktap_skip "dm-crypt, loop or dmsetup unavailable" "dm-crypt consumer"
fi

serial_hex=$(printf '%08x' $key)
keyctl unlink $key $kr >/dev/null && keyctl unlink $twin $kr >/dev/null
gone=1
for i in $(seq 1 50); do
	grep -q "^$serial_hex " /proc/keys || { gone=0; break; }
	sleep 0.1
done
ktap_ok $gone "after keyctl unlink the key is destroyed (gone from /proc/keys)"
rev=$(in_b keyctl request2 qkd "alloc:$RX:16" qkd $kr) && keyctl revoke $rev
! keyctl describe $rev >/dev/null 2>&1
ktap_ok $? "a revoked key is unavailable"
serial_hex=$(printf '%08x' $rev); gone=1
for i in $(seq 1 100); do
	grep -q "^$serial_hex " /proc/keys || { gone=0; break; }
	sleep 0.1
done
ktap_ok $gone "the revoked key is garbage-collected (payload freed with kfree_sensitive)"
keyctl unlink $kr @u >/dev/null

# --- (d) netns exit and unload with live SAs ---------------------------
live_b=$(sad_count $B)
ip netns del $B
ktap_ok $? "delete netns B with $live_b live SAs (pernet exit deletes its QKD SAs; the runner checks for oopses)"
# An SA of someone else (an IKE daemon) must survive the unload.
ip -n $A xfrm state add src $B4 dst $A4 proto esp spi 0x9998 mode transport \
	aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128
live_a=$(sad_count $A)
rmmod qkd_sim && rmmod qkd
ktap_ok $? "rmmod qkd_sim qkd with $live_a live SAs in A"
left=$(sad_count $A)
[ "$left" -eq 1 ] && ip -n $A xfrm state get src $B4 dst $A4 proto esp spi 0x9998 >/dev/null
ktap_ok $? "every QKD SA is gone after the unload, the foreign SA stays (A: $live_a -> $left)"
ip netns del $A
qkd_load
ktap_ok $? "reload qkd.ko and qkd_sim.ko"
ktap_finish
