#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 5, the daemon half of IPsec (Documentation/qkd/ipsec.rst): QKD-keyed
# SA pairs from "ip xfrm policy" lines alone.  Two gateway namespaces ga and
# gb joined by veth, a qkd_sim link between them (TX end in ga, RX in gb),
# a qkdkmd in each with source = kernel and [ipsec] gateway sections.  The
# operator only writes policies (IPv4 and IPv6 transport, IPv4 tunnel,
# reqids 100..102; the daemons own 100..199):
#  1. ping and a TCP stream pass; ip xfrm state shows the SAs; a capture
#     shows ESP only; each SA's key is equal at both ends; qkdctl sa show
#     names the key IDs;
#  2. lifetime 1 s under a 20 packets/s ping for REKEY_SECONDS (60): the
#     SPIs change, no packet is lost, no key ID is used twice;
#  5. a policy toward an unknown gateway: a log line and an alarm, no SA;
#     a thin link stretches the lifetime (alarm); an empty pool raises an
#     alarm and the SAs are kept until their hard limit;
#  and a policy whose reqid is outside the range gets no SA from qkdkmd.
# Key bytes are compared in shell variables and never printed.

QKD_TIMEOUT=${QKD_TIMEOUT:-400}
# shellcheck source=selftests/kernel/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/host/lib.sh
. "$QKD_TOP/selftests/host/lib.sh"

REKEY_SECONDS=${QKD_IPSEC_REKEY_SECONDS:-60}
bus=/sys/bus/qkd_sim
sim=95
link_id=995
A=ga B=gb
A4=192.0.2.1 B4=192.0.2.2 A6=2001:db8::1 B6=2001:db8::2
U4=192.0.2.9			# a gateway no [ipsec] section names
# The Kx channel must not need the SAs it negotiates: its own addresses,
# which no QKD policy covers.
KA=198.18.0.1 KB=198.18.0.2
A_NET=10.1.0.1 B_NET=10.2.0.1	# tunnel mode: hosts behind the gateways
kx_port=8544 etsi_port=8543
rate=200000			# bit/s: about 24 blocks/s of 1024 bytes
pool_blocks=256

echo "KTAP version 1"

skip_all() {
	ktap_skip "$1" "qkdkmd IPsec gateways"
	ktap_finish
	exit 4
}
[ -x "$QKDKMD" ] || skip_all "qkdkmd not built"
[ -x "$QKDCTL" ] || skip_all "qkdctl not built"
for tool in jq tcpdump; do
	command -v $tool >/dev/null || skip_all "$tool not installed"
done
[ -d $bus ] || skip_all "qkd_sim not loaded"

# Request_module cannot reach modprobe from the VM's chroot: load up front.
for m in xfrm_user esp4 esp6 veth gcm ghash_generic seqiv ctr sha512_generic drbg; do
	modprobe "$m" 2>/dev/null || echo "# modprobe $m failed"
done

in_a() { ip netns exec $A "$@"; }
in_b() { ip netns exec $B "$@"; }

ipsec_cleanup() {
	qkd_cleanup
	gw_unlink $A $B $sim
}
qkd_setup ipsec-gw || skip_all "helper setup failed"
trap ipsec_cleanup EXIT
tmp=$QKD_DIR

# ---- link, namespaces, veth ----
gw_link $A $B $sim $link_id 1024 $pool_blocks $rate &&
	gw_veth $A va $A4 $B vb $B4 &&
	in_a ip addr add $KA/24 dev va && in_b ip addr add $KB/24 dev vb &&
	in_a ip addr add $A6/64 dev va nodad && in_b ip addr add $B6/64 dev vb nodad &&
	in_a ip addr add $A_NET/32 dev lo && in_b ip addr add $B_NET/32 dev lo &&
	in_a ip route add 10.2.0.0/24 via $B4 src $A_NET &&
	in_b ip route add 10.1.0.0/24 via $A4 src $B_NET
ktap_ok $? "qkd_sim link $link_id (ends $tx in $A, $rx in $B), veth, IPv4 + IPv6"
[ "$ktap_failed" -eq 0 ] || { ktap_finish; exit 1; }

# ---- configs and daemons ----
qkd_ca ca && qkd_cert A && qkd_cert B
ktap_ok $? "CA and node certificates"

# write_conf NODE PEER LOCAL4 REMOTE4 LOCAL6 REMOTE6 KX_LOCAL KX_REMOTE
write_conf() {
	{ gw_conf $1 $7 $2 $8 info && cat <<-EOF; } >"$QKD_DIR/$1.conf"
	[etsi014]
	listen = $7:$etsi_port

	[ipsec]
	reqid_min = 100
	reqid_max = 199
	replay_window = 512

	[ipsec gw4]
	peer = $2
	link = AB
	local = $3
	remote = $4
	cipher = aes256-gcm
	lifetime = 1
	grace = 4

	[ipsec gw6]
	peer = $2
	link = AB
	local = $5
	remote = $6
	cipher = aes128-gcm
	lifetime = 1
	grace = 2
	EOF
}
write_conf A B $A4 $B4 $A6 $B6 $KA $KB && write_conf B A $B4 $A4 $B6 $A6 $KB $KA
ktap_ok $? "configs: [ipsec] reqids 100..199, gateways gw4 (AES-256, grace 4 s) and gw6 (AES-128, grace 2 s), lifetime 1 s"

gw_wrappers $A $B
gw_start $A $B

# ---- policies: the operator's whole part ----
policy() {	# NS DIR SRC DST TMPL_SRC TMPL_DST REQID MODE
	ip -n $1 xfrm policy add src $3 dst $4 dir $2 \
		tmpl src $5 dst $6 proto esp reqid $7 mode $8
}
policy $A out $A4 $B4 $A4 $B4 100 transport && policy $A in $B4 $A4 $B4 $A4 100 transport &&
policy $B out $B4 $A4 $B4 $A4 100 transport && policy $B in $A4 $B4 $A4 $B4 100 transport &&
policy $A out $A6 $B6 $A6 $B6 101 transport && policy $A in $B6 $A6 $B6 $A6 101 transport &&
policy $B out $B6 $A6 $B6 $A6 101 transport && policy $B in $A6 $B6 $A6 $B6 101 transport &&
policy $A out 10.1.0.0/24 10.2.0.0/24 $A4 $B4 102 tunnel &&
policy $A in 10.2.0.0/24 10.1.0.0/24 $B4 $A4 102 tunnel &&
policy $B out 10.2.0.0/24 10.1.0.0/24 $B4 $A4 102 tunnel &&
policy $B in 10.1.0.0/24 10.2.0.0/24 $A4 $B4 102 tunnel
ktap_ok $? "operator policies only: IPv4/IPv6 transport (reqid 100, 101), IPv4 tunnel (102)"

# ---- acceptance 1: traffic over QKD-keyed ESP ----
# Outbound only, at each end: in tunnel mode the decapsulated inner packet
# passes the receiving device's taps again.
in_a timeout 60 tcpdump -Z root -U -Q out -i va -n -w $tmp/esp_a.pcap >/dev/null 2>&1 &
dump_a=$!
in_b timeout 60 tcpdump -Z root -U -Q out -i vb -n -w $tmp/esp_b.pcap >/dev/null 2>&1 &
dump_b=$!
sleep 1

# first_ping ARGS: the first packets die in the larval state while the
# daemons agree on the pair; then ping must pass.
first_ping() {
	local i
	for i in $(seq 1 20); do
		in_a busybox ping -c 1 -W 1 "$@" >/dev/null 2>&1 && break
	done
	in_a busybox ping -c 3 -W 2 "$@" >/dev/null
}
first_ping $B4
ktap_ok $? "IPv4 transport: ping passes (SAs from the daemons)"
first_ping -6 $B6
ktap_ok $? "IPv6 transport: ping passes"
first_ping -I $A_NET $B_NET
ktap_ok $? "IPv4 tunnel: ping between the networks behind the gateways passes"

tcp_stream() {	# ADDR PORT
	local srv i
	for i in $(seq 1 2000); do echo "QKDN-PLAINTEXT-MARKER line $i"; done >$tmp/send
	in_b timeout 30 busybox nc -l -p $2 >$tmp/recv &
	srv=$!
	sleep 0.5
	in_a timeout 30 bash -c "cat $tmp/send >/dev/tcp/$1/$2"
	wait $srv
	cmp -s $tmp/send $tmp/recv
}
tcp_stream $B4 5001
ktap_ok $? "IPv4 transport: TCP stream arrives intact"
tcp_stream $B6 5002
ktap_ok $? "IPv6 transport: TCP stream arrives intact"

sa_lines() { ip -n $1 xfrm state | grep -c '^src'; }
na=$(sa_lines $A) nb=$(sa_lines $B)
[ "$na" -ge 6 ] && [ "$nb" -ge 6 ] &&
	ip -n $A xfrm state | grep -q "aead rfc4106(gcm(aes)) 0x[0-9a-f]\{72\} 128" &&
	ip -n $A xfrm state | grep -q "aead rfc4106(gcm(aes)) 0x[0-9a-f]\{40\} 128" &&
	ip -n $A xfrm state | awk '/^src/ { n++ } /replay_window 512,/ { r++ }
		END { exit !(n > 0 && r == n) }'
ktap_ok $? "ip xfrm state: AES-256-GCM (IPv4) and AES-128-GCM (IPv6) SAs at both ends (A $na, B $nb), each with [ipsec] replay_window = 512"

# sa_table NS: "SRC DST SPI KEY" for every keyed SA (key in hex; the
# output stays in shell variables, never printed).
sa_table() {
	ip -n $1 xfrm state | awk '/^src/ { s = $2; d = $4 }
		/proto esp spi/ { spi = $4 }
		/aead rfc4106/ { print s, d, spi, $3 }' | sort
}
# Both ends dumped at once (the SAs live lifetime + grace): every SA that
# both list has the same key at both ends, and the current SAs of all 3
# pairs, as A's qkdctl sa show names them, are among them.
qkd_ctl A -j sa show >$tmp/sa.json
tab_a=$(sa_table $A) tab_b=$(sa_table $B)
common=$(join -j1 <(echo "$tab_a" | awk '{ print $1 "/" $2 "/" $3, $4 }') \
		  <(echo "$tab_b" | awk '{ print $1 "/" $2 "/" $3, $4 }'))
n_common=$(echo "$common" | grep -c .)
n_equal=$(echo "$common" | awk '$2 == $3 && (length($2) == 74 || length($2) == 42)' | grep -c .)
bad=0
while read -r gw reqid spi_in spi_out kin kout; do
	case $gw in gw4) l=$A4 r=$B4 ;; gw6) l=$A6 r=$B6 ;; *) bad=1; continue ;; esac
	echo "$common" | grep -q "^$r/$l/$spi_in " &&
		echo "$common" | grep -q "^$l/$r/$spi_out " && [ "$kin" != "$kout" ] || bad=1
	diag "pair $gw reqid $reqid: in $spi_in key $kin, out $spi_out key $kout"
done < <(jq -r '.pairs[] | select(.spi_in) | "\(.gateway) \(.reqid) \(.spi_in) \(.spi_out) \(.key_id_in) \(.key_id_out)"' $tmp/sa.json)
[ $bad -eq 0 ] && [ "$n_common" -ge 6 ] && [ "$n_common" -eq "$n_equal" ]
ktap_ok $? "every SA has the same key at both ends ($n_equal of $n_common SAs listed at both), the 3 current pairs among them, one key per direction"
jq -e '[.pairs[] | select(.key_id_in | test("^0x[0-9a-f]+$"))] | length == 3' $tmp/sa.json >/dev/null &&
	qkd_ctl A sa show | grep -q 'in spi 0x[0-9a-f]* key 0x[0-9a-f]*, out spi'
ktap_ok $? "qkdctl sa show reports the key IDs of the 3 pairs"
qkd_ctl A sa show | sed 's/^/# A: /'

sleep 1
kill $dump_a $dump_b 2>/dev/null; wait $dump_a $dump_b 2>/dev/null
if [ -s $tmp/esp_a.pcap ] && [ -s $tmp/esp_b.pcap ]; then
	{ tcpdump -r $tmp/esp_a.pcap -n; tcpdump -r $tmp/esp_b.pcap -n; } 2>/dev/null >$tmp/esp.txt
	esp=$(grep -c 'ESP(spi=' $tmp/esp.txt)
	plain='ESP(spi=\|ARP\|ICMP6, neighbor\|ICMP6, router\|ICMP6, multicast listener\|198\.18\.0\.'
	other=$(grep -vc "$plain" $tmp/esp.txt)
	diag "capture on va and vb (outbound): $esp ESP packets, $other others (Kx TLS, ARP, ND excluded)"
	grep -v "$plain" $tmp/esp.txt | head -n 5 | sed 's/^/# /'
	[ "$esp" -gt 100 ] && [ "$other" -eq 0 ] &&
		! grep -aq 'QKDN-PLAINTEXT-MARKER' $tmp/esp_a.pcap $tmp/esp_b.pcap
	ktap_ok $? "capture: ESP only besides Kx/ARP/ND, the plaintext marker never on the wire"
else
	ktap_ok 1 "capture on va/vb (tcpdump wrote nothing)"
fi

# ---- reqid outside the range: left to IKE ----
policy $A out $A4 198.51.100.2 $A4 198.51.100.2 500 transport
in_a ip route add 198.51.100.2/32 dev va
in_a busybox ping -c 2 -W 1 198.51.100.2 >/dev/null 2>&1
sleep 1
# (A larval SA, without a key, stands for the ACQUIRE; qkdkmd adds none.)
! ip -n $A xfrm state list dst 198.51.100.2 | grep -q aead &&
	[ "$(qkd_ctl A -j sa show | jq '.foreign_acquires')" -ge 1 ]
ktap_ok $? "policy with reqid 500 (outside 100..199): ACQUIRE seen, no SA from qkdkmd"

# ---- acceptance 5a: unknown gateway ----
policy $A out $A4 $U4 $A4 $U4 110 transport
in_a busybox ping -c 2 -W 1 $U4 >/dev/null 2>&1
for i in $(seq 1 20); do
	qkd_ctl A alarm show | grep -q "ipsec:$U4" && break
	sleep 0.25
done
qkd_ctl A alarm show | grep -q "ipsec:$U4" &&
	grep -q "ACQUIRE for reqid 110 toward $U4: no \[ipsec\] gateway" "$QKD_DIR/A.log" &&
	! ip -n $A xfrm state list dst $U4 | grep -q aead
ktap_ok $? "policy toward unknown gateway $U4: log line, alarm, no SA"
qkd_ctl A alarm show | grep "ipsec:$U4" | sed 's/^/# /'

# ---- acceptance 2: rekey every second under traffic ----
ip -n $A xfrm monitor >$tmp/monitor 2>&1 &
mon=$!
count=$((REKEY_SECONDS * 20))
in_a ping -q -i 0.05 -W 2 -c $count $B4 >$tmp/ping.txt 2>&1
sleep 1
kill $mon 2>/dev/null; wait $mon 2>/dev/null
tail -n 2 $tmp/ping.txt | sed 's/^/# /'
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' $tmp/ping.txt)
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' $tmp/ping.txt)
[ "${sent:-0}" -eq $count ] && [ "${recv:-0}" -eq $count ]
ktap_ok $? "lifetime 1 s for ${REKEY_SECONDS} s under a 20/s ping: $count sent, ${recv:-?} received, none lost"
spis=$(grep -o 'proto esp spi 0x[0-9a-f]*' $tmp/monitor | sort -u | wc -l)
diag "ip xfrm monitor at A: $spis distinct SPIs"
[ "$spis" -ge "$REKEY_SECONDS" ]
ktap_ok $? "the SPIs changed about every second ($spis distinct SPIs in ${REKEY_SECONDS} s at A, 3 pairs)"
grep -o 'key 0x[0-9a-f]*' "$QKD_DIR/A.log" | sort >$tmp/keys_a
grep -o 'key 0x[0-9a-f]*' "$QKD_DIR/B.log" | sort >$tmp/keys_b
total=$(wc -l <$tmp/keys_a) uniq=$(sort -u $tmp/keys_a | wc -l)
# B logs a generation one Kx round trip before A: at most one per pair
# (2 keys each) may be in flight.
differ=$(comm -3 $tmp/keys_a $tmp/keys_b | wc -l)
[ "$total" -gt "$REKEY_SECONDS" ] && [ "$total" -eq "$uniq" ] && [ "$differ" -le 6 ]
ktap_ok $? "no key ID used twice ($total key IDs at A, $uniq distinct; B the same set but $differ in flight)"
rekeys=$(qkd_ctl A -j sa show | jq '[.pairs[].rekeys] | add')
diag "rekeys so far (3 pairs): $rekeys"

# ---- acceptance 5b: a thin link stretches the lifetime ----
# The alarm comes with the decision; the pairs show the longer lifetime
# once their successors are in, at the next rekey of each.
stretched() {
	qkd_ctl A alarm show | grep -q 'ipsec:gw4: .*lifetime stretched from 1 s to [0-9]* s' &&
		[ "$(qkd_ctl A -j sa show | jq '[.pairs[] | select(.gateway == "gw4") | .lifetime_s] | min')" -gt 1 ]
}
echo 4000 >$bus/devices/qkd_sim$sim/rate_bps
for i in $(seq 1 30); do
	stretched && break
	sleep 0.5
done
qkd_ctl A alarm show | grep 'ipsec:gw4' | sed 's/^/# /'
stretched
ktap_ok $? "link at 4 kbit/s: lifetime stretched, budget alarm raised"
echo $rate >$bus/devices/qkd_sim$sim/rate_bps
for i in $(seq 1 30); do
	qkd_ctl A alarm show | grep -q 'ipsec:gw4' || break
	sleep 0.5
done
! qkd_ctl A alarm show | grep -q 'ipsec:gw4'
ktap_ok $? "link back at $rate bit/s: budget alarm cleared"

# ---- acceptance 5c: empty pool ----
# Stop key generation, then take everything A's share still holds.  The
# daemon keeps rekeying until the pool runs dry; from then on its SAs must
# stay until their hard limit (lifetime 1 s + grace 4 s for gw4).
keyed_out() {	# NS SRC DST REQID: keyed SAs SRC -> DST of that reqid
	ip -n $1 xfrm state list src $2 dst $3 reqid $4 | grep -c aead
}
# The moment the alarm appears, count the SAs and send a ping.
watch_empty() {
	local i
	for i in $(seq 1 100); do
		if qkd_ctl A alarm show | grep -q 'ipsec:gw4: .*no key'; then
			keyed_out $A $A4 $B4 100 >$tmp/kept
			in_a busybox ping -c 1 -W 1 $B4 >/dev/null && echo ok >$tmp/kept_ping
			return
		fi
		sleep 0.1
	done
}
: >$tmp/kept; : >$tmp/kept_ping
watch_empty &
watcher=$!
in_a "$QKDCTL" kernel link set "$tx" down
# Reserve (never fetch) whole blocks, then every 20-byte rest.
drained=$(in_a "$QKD_BIN/qkd_sa_util" drain - "$tx" 1024)
drained="$drained blocks, $(in_a "$QKD_BIN/qkd_sa_util" drain - "$tx" 20) small keys"
diag "drained A's share: $drained"
wait $watcher
before=$(cat $tmp/kept)
qkd_ctl A alarm show | grep 'ipsec:gw' | sed 's/^/# /'
qkd_ctl A alarm show | grep -q 'ipsec:gw4: .*no key .*pool empty' && [ "${before:-0}" -ge 1 ]
ktap_ok $? "pool empty: alarm raised, the existing SAs kept (${before:-?} outbound reqid-100 SAs when it was raised)"
[ -s $tmp/kept_ping ]
ktap_ok $? "pool empty: traffic still passes on the existing SAs"
sleep 6		# past lifetime + grace
left=$(keyed_out $A $A4 $B4 100)
[ "$left" -eq 0 ] && qkd_ctl A alarm show | grep -q 'ipsec:gw4: .*no key'
ktap_ok $? "pool empty: no new SA, the old ones gone at their hard limit ($left left), alarm still active"
in_a "$QKDCTL" kernel link set "$tx" up
first_ping $B4
ktap_ok $? "key flows again: the pair is rekeyed and ping passes"
for i in $(seq 1 20); do
	qkd_ctl A alarm show | grep -q 'ipsec:gw4' || break
	sleep 0.5
done
! qkd_ctl A alarm show | grep -q 'ipsec:gw4'
ktap_ok $? "pool alarm cleared"

# ---- shutdown and hygiene ----
qkd_stop A
ktap_ok $? "A exits 0 on SIGTERM"
qkd_stop B
ktap_ok $? "B exits 0 on SIGTERM"
# A key as ip xfrm prints it (0x and 72 hex digits; 40 already is longer
# than any ID), or 64 hex digits bare.  Not the word AEAD: the daemons log
# SA_ADD's reasons, and one may name the AEAD ("AEAD ... not available"),
# which is no key; such lines are printed below.
! grep -qi '0x[0-9a-f]\{40\}\|[0-9a-f]\{64\}' "$QKD_DIR/A.log" "$QKD_DIR/B.log"
ktap_ok $? "no key-length hex strings in the daemons' logs"
grep -hi 'aead\|0x[0-9a-f]\{40\}\|[0-9a-f]\{64\}' "$QKD_DIR/A.log" "$QKD_DIR/B.log" | head -5 | sed 's/^/# /'
[ "$ktap_failed" -gt 0 ] && gw_logs 40
diag "elapsed: ${SECONDS} s"
ktap_finish
