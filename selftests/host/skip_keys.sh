#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 18, SKIP: two daemons on a simulated link, each with a [skip]
# endpoint for its router (routerA at A acts as SAE app1, routerB at B as
# app2).  skip_client.py, written from the draft, gets a key at one end and
# the same key by ID at the other, in both directions and over many
# requests (no keyId twice); each bad request gets the draft's status; a
# client whose certificate is not the configured one is refused at TLS or
# before any answer.  No key byte in either daemon's log (debug level).
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup skip || exit 1
CLIENT="$QKD_PY $(dirname "$0")/skip_client.py"
QKD_LOG_LEVEL=debug qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
# fakeA: the right CN (routerA) from another CA.
qkd_cert routerA && qkd_cert routerB && qkd_ca rogue &&
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$QKD_DIR/fakeA.key" -out "$QKD_DIR/fakeA.csr" -subj "/CN=routerA" >/dev/null 2>&1 &&
openssl x509 -req -in "$QKD_DIR/fakeA.csr" -CA "$QKD_DIR/rogue.pem" -CAkey "$QKD_DIR/rogue.key" \
	-CAcreateserial -days 2 -out "$QKD_DIR/fakeA.pem" >/dev/null 2>&1 ||
	{ echo "not ok 1 - router certificates"; exit 1; }

SKIP_A=127.0.0.1:$((QKD_PORT_BASE + 50))
SKIP_B=127.0.0.1:$((QKD_PORT_BASE + 51))
# Router A may also come with a TLS 1.3 external PSK instead of its certificate.
PSK_A=$(openssl rand -hex 32)
echo "$PSK_A" > "$QKD_DIR/routerA.psk" && chmod 600 "$QKD_DIR/routerA.psk"
printf '[skip]\nlisten = %s\nlocal_system_id = gwA\nsae = app1\nclient_cn = routerA\nremote_systems = gwB:app2\npsk_identity = routerA-psk\npsk_file = routerA.psk\npsk_hash = sha256\n' \
	"$SKIP_A" >> "$QKD_DIR/A.conf"
printf '[skip]\nlisten = %s\nlocal_system_id = gwB\nsae = app2\nclient_cn = routerB\nremote_systems = gwA:app1\n' \
	"$SKIP_B" >> "$QKD_DIR/B.conf"

chmod 644 "$QKD_DIR/routerA.psk"
! qkd_start A 2>/dev/null && grep -q "psk_file .*routerA.psk: readable by group or others" "$QKD_DIR/A.log"
ok $? "a PSK file readable by others stops the start, with the file and the reason"
chmod 600 "$QKD_DIR/routerA.psk"
qkd_start A; ok $? "daemon A starts with [skip]"
qkd_start B; ok $? "daemon B starts with [skip]"
qkd_wait_peers A && qkd_wait_peers B; ok $? "Kx channel A-B up"
qkd_settle

# skip NODE [--cert NAME] COMMAND...: the client at NODE's SKIP port.
skip() {
	local node=$1 who url; shift
	if [ "$node" = A ]; then who=routerA url=$SKIP_A; else who=routerB url=$SKIP_B; fi
	if [ "${1:-}" = --as ]; then who=$2; shift 2; fi
	local cert=()
	[ "$who" != none ] && cert=(--cert "$QKD_DIR/$who.pem" --key "$QKD_DIR/$who.key")
	$CLIENT --ca "$QKD_DIR/ca.pem" "${cert[@]}" "https://$url" "$@"
}
status_of() { cut -d' ' -f1; }
json_of() { cut -d' ' -f2-; }
field() { "$QKD_PY" -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }
# reserved NODE KEYID: wait until NODE has the Kx-2 reservation of KEYID,
# as a router does while the keyId travels in IKE_AUTH: under heavy load
# the reservation can take longer than the server's 1 s wait for it.
reserved() {
	local uuid=${2:0:8}-${2:8:4}-${2:12:4}-${2:16:4}-${2:20:12} i
	for ((i = 0; i < 100; i++)); do
		qkd_ctl "$1" key show 2>/dev/null | grep -q "$uuid" && return 0
		sleep 0.1
	done
	return 1
}
all_ids=$QKD_DIR/all_ids
keys_seen=$QKD_DIR/keys_seen

out=$(skip A caps)
[ "$(echo "$out" | status_of)" = 200 ] && echo "$out" | json_of | "$QKD_PY" -c '
import json, sys
d = json.load(sys.stdin)
assert d["localSystemID"] == "gwA" and d["remoteSystemID"] == ["gwB"], d
assert d["key"] is True and d["entropy"] is False, d'
ok $? "capabilities at A: localSystemID gwA, remoteSystemID [gwB], key true"

# pair NAME NEWNODE GETNODE REMOTE_OF_NEW REMOTE_OF_GET [SIZE] HEXLEN
pair() {
	local name=$1 n1=$2 n2=$3 r1=$4 r2=$5 size=$6 hexlen=$7 new got id k1 k2
	new=$(skip "$n1" new "$r1" $size)
	id=$(echo "$new" | json_of | field keyId 2>/dev/null)
	k1=$(echo "$new" | json_of | field key 2>/dev/null)
	echo "$id" >> "$all_ids"
	echo "$k1" >> "$keys_seen"
	reserved "$n2" "$id"
	got=$(skip "$n2" get "$id" "$r2")
	k2=$(echo "$got" | json_of | field key 2>/dev/null)
	[ "$(echo "$new" | status_of)" = 200 ] && [ "$(echo "$got" | status_of)" = 200 ] &&
	[ ${#id} = 32 ] && [ ${#k1} = "$hexlen" ] && [ "$k1" = "$k2" ] &&
	[ "$(echo "$got" | json_of | field keyId)" = "$id" ]
	ok $? "$name: new key at $n1, the same key by ID at $n2"
	LAST_ID=$id
}
pair "default size (256 bits)" A B gwB gwA "" 64
pair "size=512" A B gwB gwA 512 128
pair "other direction" B A gwA gwB "" 64
pair "size=64, the minimum" B A gwA gwB 64 16

got=$(skip B get "$LAST_ID" gwA 2>/dev/null)
[ "$(echo "$got" | status_of)" = 400 ]
ok $? "a keyId is served once: asked again, 400 ($(echo "$got" | status_of))"

# Many keys on one connection each way, then all of them by ID.
skip A many gwB 200 > "$QKD_DIR/newA"; rc=$?
reserved B "$(tail -n1 "$QKD_DIR/newA" | cut -d' ' -f1)"
skip B fetch gwA < "$QKD_DIR/newA" > "$QKD_DIR/getB"; rc2=$?
[ $rc = 0 ] && [ $rc2 = 0 ] && [ "$(wc -l < "$QKD_DIR/newA")" = 200 ] &&
	cmp -s "$QKD_DIR/newA" "$QKD_DIR/getB"
ok $? "200 keys over one keep-alive connection at A, the same 200 by ID at B"
cut -d' ' -f1 "$QKD_DIR/newA" >> "$all_ids"
cut -d' ' -f2 "$QKD_DIR/newA" >> "$keys_seen"
total=$(grep -c . "$all_ids"); uniq=$(sort -u "$all_ids" | grep -c .)
[ "$total" -ge 204 ] && [ "$total" = "$uniq" ]
ok $? "no keyId twice ($total keyIds, $uniq distinct)"

# Bad requests, each with the draft's status, on one connection per node.
badA=(
	"400 unknown remoteSystemID|GET /key?remoteSystemID=gwX"
	"400 this system's own ID as remoteSystemID|GET /key?remoteSystemID=gwA"
	"400 size not a multiple of 8|GET /key?remoteSystemID=gwB&size=100"
	"400 size 0|GET /key?remoteSystemID=gwB&size=0"
	"400 size not a number|GET /key?remoteSystemID=gwB&size=12ab"
	"400 size above max_key_size|GET /key?remoteSystemID=gwB&size=8192"
	"400 new key without remoteSystemID|GET /key"
	"400 unsupported parameter|GET /key?remoteSystemID=gwB&number=2"
	"404 unknown path|GET /entropy"
	"405 POST /key|POST /key?remoteSystemID=gwB"
)
badB=(
	"400 unknown keyId|GET /key/0123456789abcdef0123456789abcdef?remoteSystemID=gwA"
	"400 malformed keyId|GET /key/not-a-key-id?remoteSystemID=gwA"
	"400 keyId one digit short|GET /key/0123456789abcdef0123456789abcde?remoteSystemID=gwA"
	"400 key by ID without remoteSystemID|GET /key/0123456789abcdef0123456789abcdef"
)
expect_all() {	# NODE CASES...
	local node=$1 c i=0 want; shift
	local -a answers
	mapfile -t answers < <(for c in "$@"; do echo "${c#*|}"; done | skip "$node" batch)
	for c in "$@"; do
		want=${c%% *}
		[ "$(echo "${answers[$i]:-}" | status_of)" = "$want" ]
		ok $? "${c%%|*}: ${answers[$i]:-no answer}"
		i=$((i + 1))
	done
}
expect_all A "${badA[@]}"
expect_all B "${badB[@]}"
out=$(skip A raw DELETE /capabilities)
echo "$out" | grep -q '^Allow: GET$'
ok $? "405 carries Allow: GET"

# TLS: only the configured client gets in.
out=$(skip A --as fakeA caps)
[ "$(echo "$out" | cut -d' ' -f1)" = TLS ]
ok $? "a certificate with CN routerA from another CA is refused at TLS ($out)"
out=$(skip A --as none caps)
[ "$(echo "$out" | cut -d' ' -f1)" = TLS ]
ok $? "no client certificate: refused at TLS ($out)"
out=$(skip A --as app1 caps)
[ "$(echo "$out" | cut -d' ' -f1)" = TLS ]
ok $? "a valid certificate of another CN (app1) gets no answer ($out)"
out=$(skip A --as routerB caps)
[ "$(echo "$out" | cut -d' ' -f1)" = TLS ]
ok $? "B's router at A gets no answer ($out)"
out=$(skip A caps)
[ "$(echo "$out" | status_of)" = 200 ]
ok $? "A still serves its own router after the refusals"

# TLS 1.3 external PSK, with openssl s_client (Python's ssl has no PSK
# before 3.13): HTTP status line and body, or nothing if refused.
psk_get() {	# HEXKEY IDENTITY TARGET
	printf 'GET %s HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n' "$3" |
		timeout 10 openssl s_client -connect "$SKIP_A" -tls1_3 -psk "$1" \
		-psk_identity "$2" -quiet 2>/dev/null | tr -d '\r'
}
out=$(psk_get "$PSK_A" routerA-psk "/key?remoteSystemID=gwB")
id=$(echo "$out" | tail -n1 | field keyId 2>/dev/null)
k1=$(echo "$out" | tail -n1 | field key 2>/dev/null)
echo "$k1" >> "$keys_seen"
reserved B "$id"
got=$(skip B get "$id" gwA)
[ "$(echo "$out" | head -n1 | cut -d' ' -f2)" = 200 ] && [ ${#k1} = 64 ] &&
	[ "$(echo "$got" | json_of | field key 2>/dev/null)" = "$k1" ]
ok $? "PSK client (s_client -psk) gets a key at A, B serves the same by ID"
out=$(psk_get "$(openssl rand -hex 32)" routerA-psk /capabilities)
[ -z "$out" ]
ok $? "a wrong PSK is refused at TLS (no HTTP answer)"
out=$(psk_get "$PSK_A" routerB-psk /capabilities)
[ -z "$out" ]
ok $? "an unknown PSK identity is refused at TLS (no HTTP answer)"

# No key byte reaches a log: look for every key (and its first 16
# hex digits) in both logs, at debug level.
{ cat "$keys_seen"; echo "$PSK_A"; } | grep . | awk '{ print; print substr($0, 1, 16) }' \
	> "$QKD_DIR/patterns"
! grep -qiF -f "$QKD_DIR/patterns" "$QKD_DIR/A.log" "$QKD_DIR/B.log" &&
	[ "$(grep -c . "$keys_seen")" -ge 205 ]
ok $? "no key (nor the PSK) in the daemons' logs ($(grep -c . "$keys_seen") keys checked)"

qkd_stop A; ok $? "A stops cleanly on SIGTERM"
qkd_stop B; ok $? "B stops cleanly on SIGTERM"
tap_done
