#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 18, acceptance 1: strongSwan RFC 8784 PPKs rotated from QKD keys
# (Documentation/qkd/strongswan.rst).
#
# Two namespaces "sa" and "sb" joined by a veth pair, Debian's charon
# (charon-systemd, started by hand with its own strongswan.conf and a
# private VICI socket) in each, a swanctl connection "gw" between them
# (IKEv2, PSK authentication, ppk_id = qkd-s0, ppk_required = yes, a
# transport-mode child "net"), and a qkdkmd in each with a simulated QKD
# link (64-byte blocks: one PPK each, the other 32 bytes key the block's
# confirmation) and a [strongswan s0] section.  Checks:
#   - without a PPK charon refuses to bring the connection up;
#   - qkdkmd's first rotation loads a QKD PPK at both ends and initiates
#     the child: swanctl --list-sas shows the IKE SA with PPK, ping and a
#     TCP stream pass, as ESP in a capture (tcpdump) on B's veth;
#   - RUN_S seconds of ping -i 0.05 while the PPK rotates every ROTATE_S
#     s: each rotation is a new IKE SA (reauthentication) under the new
#     PPK, at least MIN_ROT of them; the loss is counted and reported;
#     both charons loaded the same PPK ids in the same order and each
#     holds exactly one qkd-s0-* PPK at the end;
#   - the PPK is the QKD key of the reported key ID: with the daemons
#     stopped, B's PPK is replaced by swanctl --load-creds with that key
#     derived here from the link's seed (openssl, not qkdkmd), and A's
#     reauthentication succeeds; with a random PPK at B instead it fails
#     (AUTHENTICATION_FAILED), cleanly: no SA left, charon still answers;
#   - the first rotation after the daemons start again brings gw up;
#   - key shortage: alarm strongswan:s0, state degraded, the PPK kept,
#     traffic passing;
#   - no key byte in either daemon's log; both exit 0 on SIGTERM.

QKD_TIMEOUT=${QKD_TIMEOUT:-400}
# shellcheck source=selftests/kernel/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/host/lib.sh
. "$QKD_TOP/selftests/host/lib.sh"

RUN_S=${QKD_SWAN_RUN_SECONDS:-30}
ROTATE_S=${QKD_SWAN_ROTATE_SECONDS:-1}
MIN_ROT=${QKD_SWAN_MIN_ROTATIONS:-20}
ns_a=sa
ns_b=sb
addr_a=10.93.0.1
addr_b=10.93.0.2
kx_port=8464
etsi_port=8463
CHARON=${CHARON:-/usr/sbin/charon-systemd}

echo "KTAP version 1"

skip_all() {
	ktap_skip "$1" "qkdkmd strongSwan PPK rotation"
	ktap_finish
	exit 4
}

[ -x "$QKDKMD" ] || skip_all "qkdkmd not built (make -C daemon)"
[ -x "$QKDCTL" ] || skip_all "qkdctl not built (make -C tools)"
[ -x "$CHARON" ] || skip_all "no $CHARON (apt install charon-systemd)"
for tool in swanctl jq openssl ping xxd tcpdump busybox; do
	command -v "$tool" >/dev/null || skip_all "$tool not installed"
done
# Request_module cannot reach modprobe from the VM's chroot: load up front.
modprobe veth 2>/dev/null || echo "# modprobe veth failed"
qkd_esp_modules

declare -A CHARON_PID
swan_cleanup() {
	local n
	for n in "${!CHARON_PID[@]}"; do
		kill "${CHARON_PID[$n]}" 2>/dev/null
	done
	qkd_cleanup
	ip netns del $ns_a 2>/dev/null
	ip netns del $ns_b 2>/dev/null
}
qkd_setup strongswan || skip_all "helper setup failed"
trap swan_cleanup EXIT
ip netns del $ns_a 2>/dev/null
ip netns del $ns_b 2>/dev/null

ip netns add $ns_a && ip netns add $ns_b &&
	gw_veth $ns_a veth-sa $addr_a $ns_b veth-sb $addr_b
ktap_ok $? "veth $ns_a $addr_a <-> $ns_b $addr_b"

# ---- charon in each namespace: the operator's part ----

# charon_conf NS ME PEER: strongswan.conf, swanctl.conf and the IKE PSK.
charon_conf() {
	local ns=$1 me=$2 peer=$3 d=$QKD_DIR/$1
	mkdir -p "$d"
	cat >"$d/strongswan.conf" <<-EOF
	charon-systemd {
		# A new IKE SA before the old one goes: no gap at a PPK change.
		make_before_break = yes
		install_routes = no
		retransmit_timeout = 2
		retransmit_tries = 3
		plugins {
			vici {
				socket = unix://$d/vici
			}
			# It would exempt the veth's own subnet, the one this
			# transport-mode child protects, from IPsec.
			bypass-lan {
				load = no
			}
		}
		filelog {
			charon {
				path = $d/charon.log
				time_format = %T
				default = 1
				ike = 1
				cfg = 1
				flush_line = yes
			}
		}
		journal {
			default = -1
		}
	}
	EOF
	cat >"$d/swanctl.conf" <<-EOF
	connections {
		gw {
			local_addrs = $me
			remote_addrs = $peer
			proposals = aes256-sha256-ecp256
			ppk_id = qkd-s0
			ppk_required = yes
			local {
				auth = psk
				id = $me
			}
			remote {
				auth = psk
				id = $peer
			}
			children {
				net {
					mode = transport
					esp_proposals = aes256gcm16
				}
			}
		}
	}
	secrets {
		ike-gw {
			id-a = $addr_a
			id-b = $addr_b
			secret = $ike_psk
		}
	}
	EOF
}
# swan NS ARGS...: swanctl against that namespace's charon.
swan() {
	local ns=$1; shift
	STRONGSWAN_CONF=$QKD_DIR/$ns/strongswan.conf \
		ip netns exec "$ns" swanctl "$@" --uri "unix://$QKD_DIR/$ns/vici" 2>&1
}
charon_start() {
	local ns=$1 i
	STRONGSWAN_CONF=$QKD_DIR/$ns/strongswan.conf \
		ip netns exec "$ns" "$CHARON" >"$QKD_DIR/$ns/charon.out" 2>&1 &
	CHARON_PID[$ns]=$!
	for i in $(seq 1 80); do
		[ -S "$QKD_DIR/$ns/vici" ] && swan "$ns" --stats >/dev/null && return 0
		sleep 0.25
	done
	return 1
}
ike_psk=0x$(openssl rand -hex 32)
charon_conf $ns_a $addr_a $addr_b && charon_conf $ns_b $addr_b $addr_a &&
	charon_start $ns_a && charon_start $ns_b
ktap_ok $? "charon in $ns_a and $ns_b, each with its own VICI socket"
for ns in $ns_a $ns_b; do
	swan "$ns" --load-all --file "$QKD_DIR/$ns/swanctl.conf" >"$QKD_DIR/$ns/load.out"
done
grep -q "loaded connection 'gw'" "$QKD_DIR/$ns_a/load.out" &&
	grep -q "loaded connection 'gw'" "$QKD_DIR/$ns_b/load.out"
ktap_ok $? "connection gw loaded at both ends (ppk_id qkd-s0, ppk_required)"
[ "$ktap_failed" -eq 0 ] || { ktap_finish; exit 1; }

out=$(swan $ns_a --initiate --child net --timeout 20)
echo "$out" | grep -q "PPK required but peer does not support PPK" &&
	! swan $ns_a --list-sas | grep -q ESTABLISHED
ktap_ok $? "without a PPK charon does not bring gw up ($(echo "$out" | grep -o 'PPK required[^]]*' | head -n 1))"

# ---- the daemons ----

qkd_ca ca && qkd_cert A && qkd_cert B
seed=$(openssl rand -hex 32)
seed2=$(openssl rand -hex 32)
# write_conf NODE ADDR PEER PEER_ADDR ROLE NS [LINK_RATE [SEED]]
write_conf() {
	local node=$1 addr=$2 peer=$3 peer_addr=$4 role=$5 ns=$6
	local rate=${7:-2560} s=${8:-$seed}
	mkdir -p "$QKD_DIR/state-$node"
	cat >"$QKD_DIR/$node.conf" <<-EOF
	[node]
	name = $node
	state_dir = state-$node
	control = $node.sock
	log_level = debug

	[tls]
	ca = ca.pem
	cert = $node.pem
	key = $node.key

	[etsi014]
	listen = $addr:$etsi_port
	max_key_size = 256

	$(gw_kx "$addr")

	[peer $peer]
	address = $peer_addr:$kx_port
	cert_cn = $peer

	[link AB]
	peer = $peer
	source = sim
	role = $role
	seed = $s
	rate = $rate
	block_size = 64

	[strongswan s0]
	connection = gw
	child = net
	ppk_id = qkd-s0
	socket = $ns/vici
	peer = $peer
	link = AB
	rotate_interval = $ROTATE_S
	EOF
}
gw_wrappers $ns_a $ns_b

# A bad section: file, line and reason.
write_conf A $addr_a B $addr_b tx $ns_a &&
	printf '\n[strongswan s1]\npeer = B\nlink = AB\nppk_id = "qkd s1"\n' >>"$QKD_DIR/A.conf"
out=$(timeout 20 "$QKD_DIR/qkdkmd-$ns_a" -c "$QKD_DIR/A.conf" 2>&1)
rc=$?
echo "$out" | tail -n 1 | sed 's/^/# /'
[ $rc -ne 0 ] && echo "$out" | grep -q "A.conf:[0-9]*: ppk_id: .* has a blank, quote"
ktap_ok $? "a bad ppk_id: qkdkmd refuses to start (rc $rc), naming file, line and reason"

write_conf A $addr_a B $addr_b tx $ns_a && write_conf B $addr_b A $addr_a rx $ns_b
gw_start $ns_a $ns_b

ssf() {	# NODE FIELD: a field of "qkdctl -j strongswan show"
	qkd_ctl "$1" -j strongswan show 2>/dev/null | jq -r ".[0].$2 | select(. != null)"
}
# ike_id NS: the unique id of gw's established IKE SA ("" if none).
ike_id() {
	swan "$1" --list-sas --ike gw 2>/dev/null |
		sed -n 's/^gw: #\([0-9]*\), ESTABLISHED.*/\1/p' | tail -n 1
}
# A PPK at both ends and the first IKE SA (states may read "rotating":
# with rotate_interval 1 a rotation is under way much of the time).
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
	[ -n "$(ssf A key_id)" ] && [ -n "$(ssf B key_id)" ] && [ -n "$(ike_id $ns_a)" ] && break
	sleep 0.5
done
[ -n "$(ssf A key_id)" ] && [ -n "$(ssf B key_id)" ]
ktap_ok $? "both ends have a QKD PPK loaded (A $(ssf A state), B $(ssf B state))"
[ "$(ssf A owner)" = true ] && [ "$(ssf B owner)" = false ]
ktap_ok $? "A (the node that dials Kx) owns the rotation"
sas=$(swan $ns_a --list-sas --ike gw)
sed 's/^/# sa: /' <<<"$sas"
echo "$sas" | grep -q "ESTABLISHED" && echo "$sas" | grep -q "/PPK" &&
	echo "$sas" | grep -q "net.*INSTALLED"
ktap_ok $? "swanctl --list-sas: gw ESTABLISHED with PPK, child net INSTALLED"
# A capture on B's veth during a ping: the echo requests and replies go
# as ESP, none as plain ICMP.
ip netns exec $ns_b timeout 30 tcpdump -nli veth-sb -c 6 'esp or icmp' \
	>"$QKD_DIR/cap.txt" 2>"$QKD_DIR/cap.err" &
cap_pid=$!
for i in $(seq 1 40); do
	grep -q "listening on" "$QKD_DIR/cap.err" && break
	sleep 0.25
done
ip netns exec $ns_a ping -q -c 3 -i 0.3 -W 5 $addr_b >/dev/null
rc=$?
wait $cap_pid
n_esp=$(grep -c "ESP(spi=" "$QKD_DIR/cap.txt")
n_icmp=$(grep -c "ICMP echo" "$QKD_DIR/cap.txt")
[ $rc -eq 0 ] && [ "$n_esp" -ge 6 ] && [ "$n_icmp" -eq 0 ]
ktap_ok $? "ping $addr_a -> $addr_b passes as ESP (capture on B's veth: $n_esp ESP packets, $n_icmp plain ICMP)"
# TCP through the child SA: a stream arrives intact, and the capture on
# B's veth sees it only as ESP, no plain TCP segment.
for i in $(seq 1 2000); do echo "QKDN-PLAINTEXT-MARKER line $i"; done \
	>"$QKD_DIR/send"
ip netns exec $ns_b timeout 30 tcpdump -nli veth-sb -c 20 'esp or tcp' \
	>"$QKD_DIR/cap_tcp.txt" 2>"$QKD_DIR/cap_tcp.err" &
cap_pid=$!
for i in $(seq 1 40); do
	grep -q "listening on" "$QKD_DIR/cap_tcp.err" && break
	sleep 0.25
done
ip netns exec $ns_b timeout 30 busybox nc -l -p 5001 >"$QKD_DIR/recv" &
srv=$!
sleep 0.5
ip netns exec $ns_a timeout 30 bash -c "cat $QKD_DIR/send >/dev/tcp/$addr_b/5001"
wait $srv
cmp -s "$QKD_DIR/send" "$QKD_DIR/recv"
rc=$?
wait $cap_pid
n_esp=$(grep -c "ESP(spi=" "$QKD_DIR/cap_tcp.txt")
n_tcp=$(grep -c "Flags \[" "$QKD_DIR/cap_tcp.txt")
[ $rc -eq 0 ] && [ "$n_esp" -ge 20 ] && [ "$n_tcp" -eq 0 ]
ktap_ok $? "a TCP stream $addr_a -> $addr_b arrives intact, as ESP (capture: $n_esp ESP packets, $n_tcp plain TCP)"
if [ "$ktap_failed" -gt 0 ]; then
	gw_logs 20
	for ns in $ns_a $ns_b; do
		grep -v "LIB\]" "$QKD_DIR/$ns/charon.log" | tail -n 40 | sed "s/^/# $ns charon: /"
	done
	ktap_finish
	exit 1
fi
for n in A B; do
	qkd_ctl "$n" strongswan show 2>&1 | sed "s/^/# $n: /"
done

# ---- RUN_S seconds of traffic while the PPK rotates ----

rot0=$(ssf A rotations)
re0=$(ssf A reauths)
# IKE SAs established at A (charon's log): every reauthentication is one.
ike_est() {
	grep -c "IKE_SA gw\[[0-9]*\] established" "$QKD_DIR/$ns_a/charon.log"
}
est0=$(ike_est)
count=$((RUN_S * 20))
# No sampling meanwhile: under TCG every swanctl or qkdctl start costs
# CPU the daemons need.
ip netns exec $ns_a ping -q -i 0.05 -c $count -W 1 $addr_b >"$QKD_DIR/ping.out" 2>&1
est=$(( $(ike_est) - est0 ))
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$QKD_DIR/ping.out")
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$QKD_DIR/ping.out")
lost=$(( ${sent:-0} - ${recv:-0} ))
rot=$(( $(ssf A rotations) - rot0 ))
re=$(( $(ssf A reauths) - re0 ))
diag "ping -i 0.05 for $RUN_S s: $recv of $sent answered, $lost lost ($((lost * 1000 / (sent > 0 ? sent : 1))) per mille) over $rot PPK rotations"
diag "PPK rotations: $rot in $RUN_S s at A, $re reauthentications asked, $est new IKE SAs established"
[ "$rot" -ge "$MIN_ROT" ] && [ "$re" -ge $((rot - 1)) ]
ktap_ok $? "the PPK rotated $rot times (at least $MIN_ROT), each with a reauthentication ($re)"
# The first and the last may fall outside the counting window.
[ "$est" -ge $((rot * 9 / 10)) ]
ktap_ok $? "the reauthentications established new IKE SAs under ping ($est for $rot rotations)"
[ "${sent:-0}" -eq $count ] && [ "$lost" -le $((count / 20)) ]
ktap_ok $? "ping loss $lost of $sent (at most 5%) across the rotations"

qkd_ctl A strongswan show 2>&1 | sed 's/^/# A: /'
qkd_stop A && qkd_stop B
ktap_ok $? "both daemons exit 0 on SIGTERM"

# charon's own logs: what each end loaded and what the responder used.
loaded() {	# NS: the PPK ids charon loaded, in order
	sed -n "s/.*loaded PPK shared key with id '\(qkd-s0-[0-9a-f]*\)'.*/\1/p" "$QKD_DIR/$1/charon.log"
}
loaded $ns_a >"$QKD_DIR/ids.a"
loaded $ns_b >"$QKD_DIR/ids.b"
n_a=$(grep -c . "$QKD_DIR/ids.a")
n_b=$(grep -c . "$QKD_DIR/ids.b")
unloaded() {	# NS: the PPK ids charon unloaded
	sed -n "s/.*unloaded shared key with id '\(qkd-s0-[0-9a-f]*\)'.*/\1/p" "$QKD_DIR/$1/charon.log"
}
# left NS IDS_FILE: the ids loaded and not unloaded since, one a line.
left() {
	comm -23 <(sort -u "$2") <(unloaded "$1" | sort -u)
}
uniq=$(sort -u "$QKD_DIR/ids.a" | grep -c .)
# B loads first; B may have one more in flight.
cmp -s "$QKD_DIR/ids.a" <(head -n "$n_a" "$QKD_DIR/ids.b") && [ $((n_b - n_a)) -le 1 ] && [ "$uniq" -eq "$n_a" ]
ktap_ok $? "both charons loaded the same PPK ids in the same order (A $n_a, B $n_b), no key ID twice"
left_a=$(left $ns_a "$QKD_DIR/ids.a")
left_b=$(left $ns_b "$QKD_DIR/ids.b")
[ "$(grep -c . <<<"$left_a")" -eq 1 ] && [ "$(grep -c . <<<"$left_b")" -eq 1 ] &&
	[ "$left_a" = "$(tail -n 1 "$QKD_DIR/ids.a")" ] && [ "$left_b" = "$(tail -n 1 "$QKD_DIR/ids.b")" ]
ktap_ok $? "each old PPK was unloaded: one qkd-s0 PPK left at each end, the last loaded ($left_a)"
used=$(grep -c "using PPK for PPK_ID 'qkd-s0'" "$QKD_DIR/$ns_b/charon.log")
diag "B's charon used the PPK on $used IKE_AUTH exchanges"
[ "$used" -ge "$rot" ]
ktap_ok $? "every rotation ran an IKE_AUTH with the PPK at B ($used)"

# ---- the PPK is the QKD key of its key ID ----

# A's PPK: the last one its charon loaded, named by its key ID.
id=$(tail -n 1 "$QKD_DIR/ids.a" | sed 's/^qkd-s0-0*//')
# qkd_key KEY_ID_HEX [SEED]: the 32 bytes the sim link derives for that
# key ID (block << 16 | offset, offset 0: one key per 64-byte block), hex.
qkd_key() {
	local kid=$((16#$1)) s=${2:-$seed}
	head -c 32 /dev/zero |
		openssl enc -aes-256-ctr -K "$s" -iv "$(printf '%016x%016x' $((kid >> 16)) 0)" |
		xxd -p -c 64
}
# b_ppk HEX: B's only PPK is HEX, loaded by swanctl (which unloads the
# secrets it did not load itself from this file, qkdkmd's among them).
b_ppk() {
	cp "$QKD_DIR/$ns_b/swanctl.conf" "$QKD_DIR/$ns_b/ppk.conf" &&
		sed -i "s/^secrets {/secrets {\n\tppk-test {\n\t\tid = qkd-s0\n\t\tsecret = 0x$1\n\t}/" "$QKD_DIR/$ns_b/ppk.conf" &&
		swan $ns_b --load-creds --file "$QKD_DIR/$ns_b/ppk.conf" | grep -q "loaded ppk secret 'ppk-test'"
}
reauth_a() {
	local deadline=$((SECONDS + 20))
	swan $ns_a --rekey --ike gw --reauth | grep -q "rekey completed" || return 1
	while [ $SECONDS -lt $deadline ]; do
		[ -n "$(ike_id $ns_a)" ] && [ "$(ike_id $ns_a)" != "$1" ] && return 0
		sleep 0.5
	done
	return 1
}
k=$(qkd_key "$id")
u0=$(grep -c "unloaded shared key with id 'qkd-s0-" "$QKD_DIR/$ns_b/charon.log")
b_ppk "$k" && [ "$(grep -c "unloaded shared key with id 'qkd-s0-" "$QKD_DIR/$ns_b/charon.log")" -gt "$u0" ]
ktap_ok $? "B's PPK replaced by swanctl with the QKD key of key $id, derived from the seed (swanctl unloaded qkdkmd's)"
before=$(ike_id $ns_a)
reauth_a "$before" && ip netns exec $ns_a ping -q -c 3 -W 5 $addr_b >/dev/null
ktap_ok $? "A's reauthentication succeeds against it (IKE SA $before -> $(ike_id $ns_a)): A's PPK is that QKD key"
unset k

f0=$(grep -c "AUTHENTICATION_FAILED\|authentication of .* failed\|AUTH_FAILED" "$QKD_DIR/$ns_b/charon.log")
b_ppk "$(openssl rand -hex 32)"
ktap_ok $? "B's PPK replaced by a random one (one end tampered)"
swan $ns_a --terminate --ike gw --timeout 10 >/dev/null
out=$(swan $ns_a --initiate --child net --timeout 20)
rc=$?
f1=$(grep -c "AUTHENTICATION_FAILED\|authentication of .* failed\|AUTH_FAILED" "$QKD_DIR/$ns_b/charon.log")
echo "$out" | grep -iE "AUTH|fail" | tail -n 2 | sed 's/^/# initiate: /'
[ $rc -ne 0 ] && [ "$f1" -gt "$f0" ] && [ -z "$(ike_id $ns_a)" ] && [ -z "$(ike_id $ns_b)" ] &&
	[ -z "$(ip -n $ns_a xfrm state)" ] && swan $ns_a --stats >/dev/null && swan $ns_b --stats >/dev/null
ktap_ok $? "mismatched PPKs: IKE_AUTH fails (B logged $((f1 - f0)) authentication failures), no SA left, both charons still answer"

# ---- the first rotation brings gw up again; then key shortage ----
# The tampered PPK goes the way an operator removes it: swanctl
# --load-creds of the files without it.  A new link (own seed) at 8
# bit/s: one 64-byte block every 64 s; after the few blocks already
# there, a rotation a second finds none.
swan $ns_b --load-creds --noprompt --file "$QKD_DIR/$ns_b/swanctl.conf" >/dev/null
rm -rf "$QKD_DIR/state-A" "$QKD_DIR/state-B"
write_conf A $addr_a B $addr_b tx $ns_a 8 "$seed2" &&
	write_conf B $addr_b A $addr_a rx $ns_b 8 "$seed2" &&
	sed -i "s/^rotate_interval = .*/rotate_interval = 1/" "$QKD_DIR/A.conf" "$QKD_DIR/B.conf"
QKDKMD=$QKD_DIR/qkdkmd-$ns_a qkd_start A &&
	QKDKMD=$QKD_DIR/qkdkmd-$ns_b qkd_start B
ktap_ok $? "daemons restarted on an 8 bit/s link, rotate_interval 1"
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ] && [ -z "$(ike_id $ns_a)" ]; do
	sleep 0.5
done
[ -n "$(ike_id $ns_a)" ] && ip netns exec $ns_a ping -q -c 3 -W 5 $addr_b >/dev/null
ktap_ok $? "the first rotation after the start loads a QKD PPK at both ends and brings gw up again: ping passes"
alarmed() {
	qkd_ctl A -j alarm show 2>/dev/null |
		jq -e '.active | any(.source == "strongswan:s0")' >/dev/null
}
deadline=$((SECONDS + 90))
while [ $SECONDS -lt $deadline ]; do
	alarmed && [ "$(ssf A state)" = degraded ] && break
	sleep 0.5
done
alarmed
ktap_ok $? "key shortage raises alarm strongswan:s0 at A"
qkd_ctl A alarm show 2>&1 | sed 's/^/# A: /'
[ "$(ssf A state)" = degraded ]
ktap_ok $? "the connection says degraded (got $(ssf A state))"
id=$(ssf A key_id)
na=$(loaded $ns_a | grep -c .)
f0=$(ssf A failures)
sleep 3
[ "$(ssf A key_id)" = "$id" ] && [ "$(loaded $ns_a | grep -c .)" -eq "$na" ] &&
	[ "$(ssf A failures)" -gt "$f0" ]
ktap_ok $? "during the shortage the PPK (key $id) is kept and A keeps retrying (failures $f0 -> $(ssf A failures))"
ip netns exec $ns_a ping -q -c 3 -W 5 $addr_b >/dev/null
ktap_ok $? "traffic passes on the kept PPK"
qkd_stop A && qkd_stop B
ktap_ok $? "both daemons exit 0 on SIGTERM"

# No key byte in the logs: the last PPK of each run, in hex and base64.
kid=$(tail -n 1 "$QKD_DIR/ids.a" | sed 's/.*-//')
kh=$(qkd_key "$kid")
kb=$(echo "$kh" | xxd -r -p | base64)
[ -n "$kid" ] && ! grep -qiF -e "$kh" -e "$kb" -e "${kh:0:16}" "$QKD_DIR/A.log" "$QKD_DIR/B.log" \
	"$QKD_DIR/$ns_a/charon.log" "$QKD_DIR/$ns_b/charon.log"
ktap_ok $? "no PPK byte in the daemons' or charons' logs"

if [ "$ktap_failed" -gt 0 ]; then
	gw_logs 40
	for ns in $ns_a $ns_b; do
		tail -n 30 "$QKD_DIR/$ns/charon.log" | sed "s/^/# $ns charon: /"
	done
fi
ktap_finish
