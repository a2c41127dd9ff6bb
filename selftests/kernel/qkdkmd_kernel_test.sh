#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 3, acceptance 3: the flow of selftests/host/etsi014_keys.sh with the
# kernel key source.  A qkd_sim pair has its TX end in netns "ka" and its RX
# end in netns "kb", joined by a veth pair (10.99.0.1/24 - 10.99.0.2/24); a
# qkdkmd in each namespace takes its link keys from qkd.ko (source = kernel).
# enc_keys at A (curl, app1's client certificate) and dec_keys at B (app2)
# give identical keys, in both directions and to two slaves; no key_ID twice;
# size and number variants; a second dec_keys of an ID is "not found"; the
# kernel pool counters grew by whole blocks, at least the bytes handed out
# (the daemons confirm blocks ahead of use).  Then the pair
# is removed under the daemons: both call the link down and answer 503.  No
# key byte in the daemons' logs; both daemons exit 0 on SIGTERM.
#
# Then the pools fill up, as on any idle link, and keys must still match.
#
# Issue 19, key generation control: "qkdctl link generation AB stop" at A
# takes the card down (LINK_SET), qkd.ko reports the end down and the pool
# stops growing; link show and qkd_link_generation_running say stopped;
# "start" brings it back.  /metrics shows the card's QBER and SKR
# (qkd_link_qber_ratio, qkd_link_key_rate_bytes_per_second).
#
# Certificates, daemon start/stop and the ETSI 014 calls come from the host
# tests' helpers (selftests/host/lib.sh).  Its curl helper talks to
# https://A:PORT and https://B:PORT: curl() below runs curl inside "ka" and
# resolves A and B to the veth addresses, so the server certificates (DNS:A,
# DNS:B) verify as on the host.

QKD_TIMEOUT=${QKD_TIMEOUT:-280}		# host lib watchdog (the guest allows 300 s)
# shellcheck source=selftests/kernel/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/host/lib.sh
. "$QKD_TOP/selftests/host/lib.sh"

bus=/sys/bus/qkd_sim
sim=91
link_id=991
ns_a=ka
ns_b=kb
addr_a=10.99.0.1
addr_b=10.99.0.2
etsi_port=8443
kx_port=8444
metrics_port=8445
pool_blocks=4096
slow_rate=200000

echo "KTAP version 1"

skip_all() {
	ktap_skip "$1" "qkdkmd on qkd.ko link ends"
	ktap_finish
	exit 4
}

[ -x "$QKDKMD" ] || skip_all "qkdkmd not built (make -C daemon)"
[ -x "$QKDCTL" ] || skip_all "qkdctl not built (make -C tools)"
for tool in jq curl openssl "$QKD_PY"; do
	command -v "$tool" >/dev/null || skip_all "$tool not installed"
done
[ -d $bus ] || skip_all "qkd_sim not loaded"

kd_cleanup() {
	qkd_cleanup
	gw_unlink $ns_a $ns_b $sim
}
# qkd_setup: $QKD_DIR in /tmp (the guest's root is read-only), a watchdog.
qkd_setup kernel-daemons || skip_all "helper setup failed"
trap kd_cleanup EXIT

# The host lib's ETSI calls go through this: curl inside ka, A and B
# resolved to the veth addresses.
curl() {
	ip netns exec $ns_a "$(type -P curl)" \
		--resolve "A:$etsi_port:$addr_a" --resolve "B:$etsi_port:$addr_b" "$@"
}
QKD_ETSI[A]=A:$etsi_port
QKD_ETSI[B]=B:$etsi_port

# kstat NS INDEX COUNTER: one QKD_STAT_* counter of a link end, via qkdctl.
kstat() {
	ip netns exec "$1" "$QKDCTL" -j kernel -s link show "$2" |
		jq -r ".[0].stats.$3 // empty"
}

# ---- the link: a qkd_sim pair split over two namespaces, and a veth ----

# 1024-byte blocks, a 4096-block pool, 200 kbit/s: about 24 blocks/s, so
# the pool is still filling when the test ends (see full_pool_phase).
gw_link $ns_a $ns_b $sim $link_id 1024 $pool_blocks $slow_rate
ktap_ok $? "qkd_sim pair $sim (link ID $link_id): TX end $tx up in netns $ns_a, RX end $rx in $ns_b"
modprobe veth 2>/dev/null
gw_veth $ns_a veth-ka $addr_a $ns_b veth-kb $addr_b
ktap_ok $? "veth $ns_a $addr_a <-> $ns_b $addr_b"
[ "$ktap_failed" -eq 0 ] || { ktap_finish; exit 1; }

# ---- certificates and configs ----

qkd_ca ca && qkd_cert A && qkd_cert B &&
	qkd_cert app1 && qkd_cert app2 && qkd_cert app3 && qkd_cert monitor
ktap_ok $? "CA and certificates for A, B, app1, app2, app3, monitor (openssl CLI)"

# write_conf NODE ADDR PEER PEER_ADDR: app1 at A; app2 and app3 at B.
write_conf() {
	local node=$1 addr=$2 peer=$3 peer_addr=$4
	{ gw_conf $node $addr $peer $peer_addr && cat <<-EOF; } >"$QKD_DIR/$node.conf"
	[etsi014]
	listen = $addr:$etsi_port
	max_key_per_request = 16
	max_sae_id_count = 2
	max_body = 4096
	idle_timeout_ms = 10000

	[sae app1]
	cert_cn = app1
	node = A

	[sae app2]
	cert_cn = app2
	node = B

	[sae app3]
	cert_cn = app3
	node = B

	[metrics]
	listen = $addr:$metrics_port
	clients = monitor
	EOF
}
write_conf A $addr_a B $addr_b && write_conf B $addr_b A $addr_a
ktap_ok $? "configs: link AB source = kernel, link_id $link_id"

# qkd_start runs "$QKDKMD -c CONF": a one-line wrapper per namespace.
gw_wrappers $ns_a $ns_b

gw_start $ns_a $ns_b

for n in A B; do
	qkd_ctl "$n" link show 2>&1 | sed "s/^/# $n: /"
done

# pool NS INDEX FIELD: a field of "qkdctl kernel link show -j".
pool() {
	ip netns exec "$1" "$QKDCTL" -j kernel link show "$2" | jq -r ".[0].$3 // 0"
}

# ---- key generation control (issue 19) ----
# Early, while the pool still fills: blocks arriving or not tell.
# metric SERIES: its value in A's /metrics (the monitor's certificate).
metric() {
	curl -sS --max-time 10 --resolve "A:$metrics_port:$addr_a" \
		--cacert "$QKD_DIR/ca.pem" --cert "$QKD_DIR/monitor.pem" \
		--key "$QKD_DIR/monitor.key" "https://A:$metrics_port/metrics" |
		awk -v s="$1" '$1 == s { print $2 }'
}
generation_phase() {
	local l='{link="AB",peer="B"}' q r b0 b1 i
	q=$(metric "qkd_link_qber_ratio$l"); r=$(metric "qkd_link_key_rate_bytes_per_second$l")
	[ -n "$q" ] && [ -n "$r" ] &&
		[ "$(metric "qkd_link_generation_running$l")" = 1 ]
	ktap_ok $? "A's /metrics: the card's QBER ($q) and SKR ($r bytes/s), generation running"
	qkd_ctl A link generation AB stop | sed "s/^/# A: /"
	[ "$(pool $ns_a "$tx" state)" = down ]
	ktap_ok $? "qkdctl link generation AB stop at A: qkd.ko reports A's end $(pool $ns_a "$tx" state)"
	sleep 1
	b0=$(kstat $ns_b "$rx" blocks_received); sleep 2; b1=$(kstat $ns_b "$rx" blocks_received)
	[ -n "$b0" ] && [ "$b1" = "$b0" ]
	ktap_ok $? "stopped: no block reaches B's pool in 2 s (received $b0 -> $b1; $slow_rate bit/s when running)"
	[ "$(qkd_ctl A -j link show | jq -r '.[0].generation + " " + .[0].card_state')" = "stopped down" ] &&
		[ "$(metric "qkd_link_generation_running$l")" = 0 ]
	ktap_ok $? "link show: generation stopped, card down; qkd_link_generation_running 0"
	qkd_ctl A link generation AB start | sed "s/^/# A: /"
	for i in $(seq 1 20); do
		[ "$(pool $ns_a "$tx" state)" = up ] && break
		sleep 0.25
	done
	b0=$(kstat $ns_b "$rx" blocks_received); sleep 2; b1=$(kstat $ns_b "$rx" blocks_received)
	[ "$(pool $ns_a "$tx" state)" = up ] && [ -n "$b0" ] && [ "$b1" -gt "$b0" ] &&
		[ "$(qkd_ctl A -j link show | jq -r '.[0].generation')" = running ]
	ktap_ok $? "started again: A's end up, blocks reach B's pool again (received $b0 -> $b1), generation running"
}
generation_phase


# Counters before any key is handed out.
a_alloc0=$(kstat $ns_a "$tx" bytes_allocated)
a_fetch0=$(kstat $ns_a "$tx" bytes_fetched)
b_alloc0=$(kstat $ns_b "$rx" bytes_allocated)
b_fetch0=$(kstat $ns_b "$rx" bytes_fetched)
[ -n "$a_alloc0" ] && [ -n "$a_fetch0" ] && [ -n "$b_alloc0" ] && [ -n "$b_fetch0" ]
ktap_ok $? "kernel counters readable at both ends (A allocated $a_alloc0 fetched $a_fetch0, B allocated $b_alloc0 fetched $b_fetch0)"

# Enough key at both ends for the whole flow (about 4 KiB each way); the
# daemons learn the level from KEYS_AVAIL_NTF.
for i in $(seq 1 100); do
	a_avail=$(pool $ns_a "$tx" pool_avail_bytes)
	b_avail=$(pool $ns_b "$rx" pool_avail_bytes)
	[ "$a_avail" -ge 16384 ] && [ "$b_avail" -ge 16384 ] && break
	sleep 0.2
done
sleep 1	# at least one KEYS_AVAIL_NTF after that
diag "pool: A $a_avail bytes available in $(pool $ns_a "$tx" pool_blocks) blocks, B $b_avail in $(pool $ns_b "$rx" pool_blocks) (capacity $pool_blocks)"

all_ids=$QKD_DIR/all_ids
all_keys=$QKD_DIR/all_keys	# "key_ID base64" of every key fetched
declare -A enc_bytes=([A]=0 [B]=0)
: >"$all_ids"; : >"$all_keys"

# Bytes of the keys in a key container on stdin.
sum_lengths() { key_lengths_of 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }

# check_pair NAME ENC_NODE ENC_OUTPUT DEC_NODE SLAVE MASTER N BYTES: the host
# tests' check, plus the keys and byte counts the kernel counters are held to.
check_pair() {
	local enc_node=$2 enc=$3
	QKD_OK=ktap_ok qkd_check_pair "$1 (at $enc_node)" "$enc" "$4" "$5" "$6" "$7" "$8" ||
		return
	echo "$enc" | http_body | keys_of >>"$all_keys"
	enc_bytes[$enc_node]=$((enc_bytes[$enc_node] + $(echo "$enc" | http_body | sum_lengths)))
}

out=$(qkd_enc A app1 app2)
check_pair "default size" A "$out" B app2 app1 1 32
out=$(qkd_enc A app1 app2 "number=4&size=512")
check_pair "GET number=4 size=512" A "$out" B app2 app1 4 64
out=$(qkd_enc A app1 app2 "size=64")
check_pair "GET minimum size 64" A "$out" B app2 app1 1 8
out=$(qkd_enc A app1 app2 "size=4096")
check_pair "GET maximum size 4096" A "$out" B app2 app1 1 512
out=$(qkd_post A app1 /api/v1/keys/app2/enc_keys '{"number": 16, "size": 1024}')
check_pair "POST number=16 size=1024" A "$out" B app2 app1 16 128
out=$(qkd_enc B app2 app1 "number=3&size=256")
check_pair "other direction: master app2 at B (RX end), slave app1 at A" B "$out" A app1 app2 3 32

# GET dec_keys with one key_ID, then the same ID again.
out=$(qkd_enc A app1 app2 "number=1")
[ "$(echo "$out" | http_code)" = 200 ]
ktap_ok $? "enc_keys number=1 answers 200"
echo "$out" | http_body | keys_of >>"$all_keys"
enc_bytes[A]=$((enc_bytes[A] + $(echo "$out" | http_body | sum_lengths)))
id=$(echo "$out" | http_body | keys_of | awk '{print $1}')
echo "$id" >>"$all_ids"
dec=$(qkd_dec B app2 app1 "$id")
[ "$(echo "$dec" | http_code)" = 200 ] && [ -n "$id" ] &&
[ "$(echo "$out" | http_body | keys_of)" = "$(echo "$dec" | http_body | keys_of)" ]
ktap_ok $? "GET dec_keys?key_ID= at B returns the same key"
dec=$(qkd_dec B app2 app1 "$id")
msg=$(echo "$dec" | http_body | message_of)
[ "$(echo "$dec" | http_code)" = 400 ] &&
[ "$msg" = "one or more keys specified are not found on KME" ]
ktap_ok $? "the same key_ID a second time: 400 \"$msg\""

# Multicast: one key for app2 and app3, both slaves at B.
out=$(qkd_post A app1 /api/v1/keys/app2/enc_keys \
	'{"number": 2, "size": 256, "additional_slave_SAE_IDs": ["app3"]}')
[ "$(echo "$out" | http_code)" = 200 ]
ktap_ok $? "multicast enc_keys for app2 + app3 answers 200"
echo "$out" | http_body | keys_of >>"$all_keys"
enc_bytes[A]=$((enc_bytes[A] + $(echo "$out" | http_body | sum_lengths)))
ids=$(echo "$out" | http_body | keys_of | awk '{print $1}')
echo "$ids" >>"$all_ids"
for s in app2 app3; do
	# shellcheck disable=SC2086
	dec=$(qkd_post B "$s" /api/v1/keys/app1/dec_keys "$(key_ids_json $ids)")
	[ "$(echo "$dec" | http_code)" = 200 ] && [ -n "$ids" ] &&
	[ "$(echo "$out" | http_body | keys_of | sort)" = "$(echo "$dec" | http_body | keys_of | sort)" ]
	ktap_ok $? "multicast: slave $s gets the identical keys"
done

total=$(grep -c . "$all_ids")
uniq=$(sort -u "$all_ids" | grep -c .)
[ "$total" -gt 0 ] && [ "$total" = "$uniq" ]
ktap_ok $? "no key_ID returned twice ($total key_IDs, $uniq distinct)"

# ---- kernel counters: whole blocks, at least the bytes handed out ----
# The daemons take whole blocks from qkd.ko ahead of use (from start-up on,
# so before the first counters above were read) and confirm them with each
# other before any key is cut from one (confirmation.rst).  Since the pair
# was made, each end's allocated (own blocks) and fetched (the peer's
# blocks) counters hold whole 1024-byte blocks, at least what enc_keys
# returned from that end's share.
a_alloc=$(kstat $ns_a "$tx" bytes_allocated)
a_fetch=$(kstat $ns_a "$tx" bytes_fetched)
b_alloc=$(kstat $ns_b "$rx" bytes_allocated)
b_fetch=$(kstat $ns_b "$rx" bytes_fetched)
whole_blocks() {	# BYTES AT_LEAST
	[ "$1" -ge "$2" ] && [ $(($1 % 1024)) -eq 0 ]
}
[ "${enc_bytes[A]}" -gt 0 ] && whole_blocks "$a_alloc" "${enc_bytes[A]}" &&
	whole_blocks "$b_fetch" "${enc_bytes[A]}"
ktap_ok $? "A->B: A allocated and B fetched whole blocks, >= the ${enc_bytes[A]} bytes enc_keys returned at A ($a_alloc, $b_fetch)"
[ "${enc_bytes[B]}" -gt 0 ] && whole_blocks "$b_alloc" "${enc_bytes[B]}" &&
	whole_blocks "$a_fetch" "${enc_bytes[B]}"
ktap_ok $? "B->A: B allocated and A fetched whole blocks, >= the ${enc_bytes[B]} bytes enc_keys returned at B ($b_alloc, $a_fetch)"

# ---- no key byte in the logs ----
# Keys in hex for the suite's final scan of dmesg and trace output.
if [ -n "${QKD_KEY_LOG:-}" ]; then
	awk '{print $2}' "$all_keys" | "$QKD_PY" -c '
import base64, sys
for line in sys.stdin:
    print(base64.b64decode(line.strip()).hex())' >>"$QKD_KEY_LOG"
fi

# ---- a full pool ----
# Idle links sit with full pools.  Were qkd.ko to allocate from this end's
# oldest block, the next one to be evicted, the peer end (a few blocks
# ahead, or fetching a Kx round trip later) would often have evicted it
# already and dec_keys would say "not found": the pool keeps allocation off
# the oldest blocks of its window.
full_pool_round() {	# ENC_NODE MASTER SLAVE DEC_NODE: 0 if the keys match
	local out ids dec
	out=$(qkd_enc "$1" "$2" "$3" "number=4&size=256")
	[ "$(echo "$out" | http_code)" = 200 ] || return 1
	ids=$(echo "$out" | http_body | keys_of | awk '{print $1}')
	echo "$ids" >>"$all_ids"
	# shellcheck disable=SC2086
	dec=$(qkd_post "$4" "$3" "/api/v1/keys/$2/dec_keys" "$(key_ids_json $ids)")
	[ "$(echo "$dec" | http_code)" = 200 ] &&
	[ "$(echo "$out" | http_body | keys_of | sort)" = "$(echo "$dec" | http_body | keys_of | sort)" ] ||
		return 1
	echo "$out" | http_body | keys_of >>"$all_keys"
}

full_pool_phase() {
	local i a b ab=0 ba=0 rounds=5
	echo 8000000 >$bus/devices/qkd_sim$sim/rate_bps
	for i in $(seq 1 120); do
		a=$(pool $ns_a "$tx" pool_blocks)
		b=$(pool $ns_b "$rx" pool_blocks)
		[ "$a" -ge "$pool_blocks" ] && [ "$b" -ge "$pool_blocks" ] && break
		sleep 0.5
	done
	[ "$a" -ge "$pool_blocks" ] && [ "$b" -ge "$pool_blocks" ]
	ktap_ok $? "full pool: both ends hold $pool_blocks blocks at 8 Mbit/s (A $a, B $b)"
	for i in $(seq 1 $rounds); do
		full_pool_round A app1 app2 B && ab=$((ab + 1))
		full_pool_round B app2 app1 A && ba=$((ba + 1))
	done
	[ $ab -eq $rounds ]
	ktap_ok $? "full pool: enc_keys at A decode at B ($ab of $rounds rounds of 4 keys)"
	[ $ba -eq $rounds ]
	ktap_ok $? "full pool: enc_keys at B decode at A ($ba of $rounds rounds of 4 keys)"
	echo $slow_rate >$bus/devices/qkd_sim$sim/rate_bps
}
full_pool_phase

# ---- the pair is removed under the running daemons ----
# Both ends vanish (LINK_NTF without a state): each daemon must call its
# link down and stop using the index (qkd.ko reuses indexes), and keep
# serving.
echo "$sim" >$bus/del_device
# shellcheck disable=SC2320 # a refused sysfs write fails the echo
ktap_ok $? "qkd_sim pair $sim removed while the daemons run"
for i in $(seq 1 40); do
	qkd_ctl A link show 2>/dev/null | grep -q 'state down' &&
		qkd_ctl B link show 2>/dev/null | grep -q 'state down' && break
	sleep 0.25
done
qkd_ctl A link show | grep -q 'state down' && qkd_ctl B link show | grep -q 'state down'
ktap_ok $? "both daemons report link AB down ($(qkd_ctl A link show | grep -o 'state [a-z]*'), $(qkd_ctl B link show | grep -o 'state [a-z]*'))"
out=$(qkd_enc A app1 app2)
code=$(echo "$out" | http_code)
[ "$code" = 503 ]
ktap_ok $? "enc_keys at A without the link: 503 (got $code: $(echo "$out" | http_body | message_of))"
qkd_ctl A status >/dev/null && qkd_ctl B status >/dev/null
ktap_ok $? "both daemons still answer on their control sockets"

qkd_stop A
ktap_ok $? "A exits 0 on SIGTERM"
qkd_stop B
ktap_ok $? "B exits 0 on SIGTERM"

# Every 8-byte window of every key, in hex (either case) and raw, plus each
# key's base64 form, searched in both daemons' logs (read after exit).
keys=$(grep -c . "$all_keys")
"$QKD_PY" - "$all_keys" "$QKD_DIR/A.log" "$QKD_DIR/B.log" <<-'EOF'
	import base64, sys
	logs = b"".join(open(p, "rb").read() for p in sys.argv[2:])
	low = logs.lower()
	bad = 0
	for line in open(sys.argv[1]):
	    kid, b64 = line.split()
	    key = base64.b64decode(b64)
	    hits = [b64.encode()] if b64.encode() in logs else []
	    for i in range(0, max(1, len(key) - 7)):
	        w = key[i:i + 8]
	        if w.hex().encode() in low or (len(w) == 8 and w in logs):
	            hits.append(w)
	    if hits:
	        bad += 1
	        print("# key %s: %d match(es) in the logs" % (kid, len(hits)))
	sys.exit(1 if bad else 0)
	EOF
ktap_ok $? "no byte of the $keys keys in the daemons' logs ($(cat "$QKD_DIR/A.log" "$QKD_DIR/B.log" | wc -l) lines; base64, hex, raw)"
[ "$keys" -gt 0 ] && [ -s "$QKD_DIR/A.log" ] && [ -s "$QKD_DIR/B.log" ]
ktap_ok $? "there were keys and logs to search"

[ "$ktap_failed" -gt 0 ] && gw_logs

ktap_finish
