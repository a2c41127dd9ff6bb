#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 17, acceptance 4: in-kernel IPsec keyed from a QKD module that
# speaks ETSI GS QKD 014 (Documentation/qkd/etsi014-source.rst).  Two
# gateway namespaces pa and pb joined by veth; one module emulator
# (selftests/host/kme_emulator.py, written from the spec) serves both
# ends; qkdkmd A (role tx, enc_keys) and B (rx, dec_keys) take its keys
# with source = etsi014, confirm them, and push every confirmed block into
# a qkd.ko push end (kernel_push = yes).  The operator writes ip xfrm
# policies only; then:
#  - both push ends show type push, with the same block IDs at both ends;
#  - ping passes, as ESP on the wire;
#  - every SA's key is equal at both ends and is a part of a key the
#    module handed out (its test-only --handed-out log);
#  - a stopped daemon removes its push end.
# Key bytes are compared in shell variables and files and never printed.

QKD_TIMEOUT=${QKD_TIMEOUT:-240}
# shellcheck source=selftests/kernel/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/host/lib.sh
. "$QKD_TOP/selftests/host/lib.sh"

link_id=997
A=pa B=pb
A4=192.0.2.1 B4=192.0.2.2
# Kx and the module are reached on addresses no QKD policy covers.
KA=198.18.0.1 KB=198.18.0.2
kx_port=8644 kme_port=8645 etsi_port=8646

echo "KTAP version 1"

skip_all() {
	ktap_skip "$1" "ETSI 014 module -> kernel push end -> IPsec"
	ktap_finish
	exit 4
}
[ -x "$QKDKMD" ] || skip_all "qkdkmd not built"
[ -x "$QKDCTL" ] || skip_all "qkdctl not built"
[ -n "$QKD_PY" ] || skip_all "python3 not installed"
for tool in jq tcpdump; do
	command -v $tool >/dev/null || skip_all "$tool not installed"
done
grep -q '^qkd ' /proc/modules || skip_all "qkd.ko not loaded"
qkd_esp_modules
modprobe veth 2>/dev/null

in_a() { ip netns exec $A "$@"; }
in_b() { ip netns exec $B "$@"; }
kctl() { ip netns exec "$1" "$QKDCTL" "${@:2}"; }

push_cleanup() {
	[ -n "${kme_pid:-}" ] && kill "$kme_pid" 2>/dev/null
	qkd_cleanup
	ip netns del $A 2>/dev/null
	ip netns del $B 2>/dev/null
}
qkd_setup push || skip_all "helper setup failed"
trap push_cleanup EXIT
tmp=$QKD_DIR

ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null
ip netns add $A && ip netns add $B &&
	gw_veth $A va $A4 $B vb $B4 &&
	in_a ip addr add $KA/24 dev va && in_b ip addr add $KB/24 dev vb
ktap_ok $? "namespaces $A and $B, veth"

# The module's certificate names the address the nodes reach it at.
qkd_ca ca && qkd_cert A && qkd_cert B &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout $tmp/kme.key -out $tmp/kme.csr -subj /CN=kme >/dev/null 2>&1 &&
	printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' $KA >$tmp/kme.ext &&
	openssl x509 -req -in $tmp/kme.csr -CA $tmp/ca.pem -CAkey $tmp/ca.key \
		-CAcreateserial -days 2 -extfile $tmp/kme.ext -out $tmp/kme.pem >/dev/null 2>&1
ktap_ok $? "CA, node and module certificates"
t0=$(date +%s)

# One emulator stands for both modules of the link; 20 keys/s.
: >$tmp/handed_out
in_a "$QKD_PY" "$QKD_TOP/selftests/host/kme_emulator.py" --listen $KA:$kme_port \
	--cert $tmp/kme.pem --key $tmp/kme.key --ca $tmp/ca.pem --sae A --sae B \
	--max-key-per-request 16 --max-key-count 64 --rate 20 \
	--handed-out $tmp/handed_out >$tmp/kme.log 2>&1 &
kme_pid=$!
for i in $(seq 1 100); do
	grep -qs "kme emulator on" $tmp/kme.log && break
	sleep 0.1
done
grep -qs "kme emulator on" $tmp/kme.log
ktap_ok $? "module emulator listening on $KA:$kme_port ($(( $(date +%s) - t0 )) s)"

# write_conf NODE PEER ROLE LOCAL4 REMOTE4 KX_LOCAL KX_REMOTE
write_conf() {
	mkdir -p $tmp/state-$1
	cat >$tmp/$1.conf <<-EOF
	[node]
	name = $1
	state_dir = state-$1
	control = $1.sock
	log_level = debug

	[tls]
	ca = ca.pem
	cert = $1.pem
	key = $1.key

	$(gw_kx "$6")

	[etsi014]
	listen = $6:$etsi_port

	[peer $2]
	address = $7:$kx_port
	cert_cn = $2

	[link AB]
	peer = $2
	source = etsi014
	role = $3
	block_size = 544
	kme_url = https://$KA:$kme_port
	kme_ca = ca.pem
	kme_cert = $1.pem
	kme_key = $1.key
	sae_id = $1
	peer_sae_id = $2
	store_min = 8
	store_max = 32
	kernel_push = yes
	link_id = $link_id

	[ipsec]
	reqid_min = 100
	reqid_max = 199

	[ipsec gw4]
	peer = $2
	link = AB
	local = $4
	remote = $5
	cipher = aes256-gcm
	lifetime = 60
	EOF
}
write_conf A B tx $A4 $B4 $KA $KB && write_conf B A rx $B4 $A4 $KB $KA
ktap_ok $? "configs: [link AB] source = etsi014, kernel_push = yes, link_id $link_id; [ipsec gw4]"

gw_wrappers $A $B
gw_start $A $B

# push_link NS: the JSON of that namespace's end of link $link_id.
push_link() {
	kctl "$1" -j -s kernel link show 2>/dev/null |
		jq -c "[if type == \"array\" then .[] else . end |
			select(.link_id == $link_id)][0] // empty"
}
blocks_at() { push_link "$1" | jq -r '.stats.blocks_received // 0'; }
pushed() { [ "$(blocks_at $A)" -ge 8 ] && [ "$(blocks_at $B)" -ge 8 ]; }
end=$((SECONDS + 45))
while [ $SECONDS -lt $end ] && ! pushed; do
	sleep 1
done
la=$(push_link $A) lb=$(push_link $B)
echo "$la" | jq -e '.type == "push" and .role == "tx" and .block_size == 512 and .state == "up"' >/dev/null &&
	echo "$lb" | jq -e '.type == "push" and .role == "rx" and .block_size == 512' >/dev/null &&
	pushed
ktap_ok $? "push ends: type push, tx in $A and rx in $B, 512-byte blocks (544 less the confirmation key), $(blocks_at $A) and $(blocks_at $B) blocks pushed"
kctl $A kernel link show | sed 's/^/# A: /'
if ! pushed; then
	gw_logs 40
	tail -n 5 $tmp/kme.log | sed 's/^/# kme: /'
	timeout 10 "$QKDCTL" --socket $tmp/A.sock link show | sed 's/^/# A link: /'
	ktap_finish
	exit 1
fi
kctl $A kernel link show | grep -q "type push"
ktap_ok $? "qkdctl kernel link show names the type"

# ---- policies: the operator's whole part ----
ip -n $A xfrm policy add src $A4 dst $B4 dir out tmpl src $A4 dst $B4 proto esp reqid 100 mode transport &&
	ip -n $A xfrm policy add src $B4 dst $A4 dir in tmpl src $B4 dst $A4 proto esp reqid 100 mode transport &&
	ip -n $B xfrm policy add src $B4 dst $A4 dir out tmpl src $B4 dst $A4 proto esp reqid 100 mode transport &&
	ip -n $B xfrm policy add src $A4 dst $B4 dir in tmpl src $A4 dst $B4 proto esp reqid 100 mode transport
ktap_ok $? "operator policies only: IPv4 transport, reqid 100"

in_a timeout 60 tcpdump -Z root -U -Q out -i va -n -w $tmp/esp_a.pcap >/dev/null 2>&1 &
dump_a=$!
sleep 1
# The first packets die in the larval state while the daemons agree.
for i in $(seq 1 30); do
	in_a busybox ping -c 1 -W 1 $B4 >/dev/null 2>&1 && break
done
in_a busybox ping -c 5 -W 2 $B4 >/dev/null
ktap_ok $? "ping $A -> $B passes (SAs from the daemons, keys from the module)"

sleep 1
kill $dump_a 2>/dev/null; wait $dump_a 2>/dev/null
tcpdump -r $tmp/esp_a.pcap -n 2>/dev/null >$tmp/esp.txt
esp=$(grep -c "ESP(spi=" $tmp/esp.txt)
icmp=$(grep -c "ICMP echo" $tmp/esp.txt)
diag "capture on va (outbound): $esp ESP packets, $icmp plain ICMP echoes"
[ "$esp" -ge 5 ] && [ "$icmp" -eq 0 ]
ktap_ok $? "on the wire: ESP, no plain ICMP echo"

# sa_table NS: "SRC/DST/SPI KEY" for every keyed SA (kept in variables).
sa_table() {
	ip -n $1 xfrm state | awk '/^src/ { s = $2; d = $4 }
		/proto esp spi/ { spi = $4 }
		/aead rfc4106/ { print s "/" d "/" spi, $3 }' | sort
}
tab_a=$(sa_table $A) tab_b=$(sa_table $B)
common=$(join -j1 <(echo "$tab_a") <(echo "$tab_b"))
n_common=$(echo "$common" | grep -c .)
n_equal=$(echo "$common" | awk '$2 == $3 && length($2) == 74' | grep -c .)
[ "$n_common" -ge 2 ] && [ "$n_common" -eq "$n_equal" ]
ktap_ok $? "every SA has the same AES-256-GCM key at both ends ($n_equal of $n_common)"

# Each SA key (36 bytes) lies inside one key the module handed out:
# blocks are module keys, and SA keys are cut from pushed blocks.
n_module=0
for key in $(echo "$common" | awk '{ print substr($2, 3) }'); do
	grep -q "$key" $tmp/handed_out && n_module=$((n_module + 1))
done
[ "$n_module" -eq "$n_common" ]
ktap_ok $? "each SA key is part of a key the module handed out ($n_module of $n_common, $(wc -l <$tmp/handed_out) keys handed out)"

qkd_ctl A -j sa show | jq -e '[.pairs[] | select(.key_id_in)] | length == 1' >/dev/null
ktap_ok $? "qkdctl sa show at A: one pair, by key ID"
# A push end reports no key rate: the configured lifetime stands (the
# budget would stretch a rate of 0 to a day).
lt=$(qkd_ctl A -j sa show | jq -r '.pairs[0].lifetime_s')
[ "$lt" = 60 ]
ktap_ok $? "the SA pair keeps the configured lifetime, 60 s (got $lt)"
qkd_ctl A link show | sed 's/^/# A: /'
qkd_ctl B link show | sed 's/^/# B: /'
qkd_ctl A -j link show | jq -e '[.. | objects | select(.link? == "AB")][0] | .kernel_push.pushed > 0' >/dev/null
ktap_ok $? "qkdctl link show at A: blocks pushed into the kernel"

# A stopped daemon takes its push end away (its pool is zeroised).
qkd_stop B
[ -z "$(push_link $B)" ] && [ -n "$(push_link $A)" ]
ktap_ok $? "qkdkmd B stopped: B's push end is gone, A's stays"

if [ "$ktap_failed" -ne 0 ]; then
	gw_logs 20
	tail -n 5 $tmp/kme.log | sed 's/^/# kme: /'
fi
ktap_finish
