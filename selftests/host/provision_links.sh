#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 19, runtime provisioning over Mk, links: on a line A-B-C an admin
# adds peer C at A and peer A at C, then link AC (source sim, one seed) at
# both ends with curl, without a restart; app1 at A and app3 at C take and
# fetch keys over it, and again after A restarts.  Bad links (a peer that
# is not one, an unknown source or field, a taken name, a second link to a
# peer, a missing or bad seed, kernel, malformed JSON, an oversized body,
# a monitor-role client) are refused with a reason and change nothing.
# Removing AB, which a [strongswan] consumer takes its keys from, is
# refused (409).  Removing AC: gone from the links, the pools and the
# metrics; A-B keeps its keys, app1-app3 are keyed over B again (key
# relay).  A file link is added and removed the same way, and an etsi014
# link (kme_emulator.py as the module), with keys over it.  A configured
# link removed (BC at C) stays removed over a restart.  The seed appears
# in no answer, log or audit line; the audit log names the certificate.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgmt_lib.sh"
qkd_setup provision_links || exit 1
QKD_TIMEOUT=${QKD_TIMEOUT:-120}
command -v jq >/dev/null || { echo "1..0 # SKIP jq not installed"; exit 0; }
qkd_line A B C || { echo "not ok 1 - certificates and configs"; exit 1; }
D=$QKD_DIR
all_ids=$D/ids
sed -i 's/^\[kx\]$/[kx]\nheartbeat_ms = 100\ndead_after = 20/' "$D"/*.conf
mgmt_listen A C || { echo "not ok 1 - certificates"; exit 1; }
# A consumer of link AB: strongSwan PPKs (no charon needed to start), at
# both ends, since a node without it closes the channel on its messages.
printf '[strongswan gw]\nconnection = gw\nchild = gw\nppk_id = ppk-gw\nsocket = %s/no-charon.sock\npeer = B\nlink = AB\n\n' \
	"$D" >> "$D/A.conf"
printf '[strongswan gw]\nconnection = gw\nchild = gw\nppk_id = ppk-gw\nsocket = %s/no-charon-B.sock\npeer = A\nlink = AB\n\n' \
	"$D" >> "$D/B.conf"

seed=$(openssl rand -hex 32)
# body NAME PEER ROLE [MORE JSON FIELDS]: a sim link with $seed
body() {
	printf '{"name":"%s","peer":"%s","source":"sim","role":"%s","seed":"%s","rate":10000000,"block_size":1024%s}' \
		"$1" "$2" "$3" "$seed" "${4:-}"
}
add() { mgmt "$1" "$2" POST /api/v1/links -H 'Content-Type: application/json' --data-binary "$3"; }
links() {	# NODE: the links over Mk, sorted
	mgmt "$1" monitor GET /api/v1/links | http_body | jq -r '[.links[].link] | sort | join(" ")'
}
state_of() {	# NODE LINK: its agreement ("agreed" once both ends agree)
	qkd_ctl "$1" -j link show | jq -r --arg l "$2" '([.[] | select(.link == $l) | .agreement] + ["none"])[0]'
}
wait_agreed() {	# NODE LINK
	local i
	for ((i = 0; i < 150; i++)); do
		[ "$(state_of "$1" "$2")" = agreed ] && return 0
		sleep 0.1
	done
	return 1
}
allocated() { qkd_ctl "$1" -j pool show | jq -r --arg l "$2" '([.[] | select(.link == $l) | .allocated] + [0])[0]'; }
relay_links() { qkd_ctl "$1" -j relay audit | jq -r '[.[].link] | sort | join(" ")'; }
enc_A_C() {	# keys app1 -> app3 once A answers 200 (within 5 s)
	local i out
	for ((i = 0; i < 50; i++)); do
		out=$(qkd_enc A app1 app3)
		[ "$(echo "$out" | http_code)" = 200 ] && break
		sleep 0.1
	done
	echo "$out"
}
saved() { jq -c "${1}" "$D/state-A/provisioned.json" 2>/dev/null; }

for n in A B C; do qkd_start $n || { echo "not ok 1 - $n starts"; exit 1; }; done
ok 0 "A, B, C start"
qkd_wait_peers A && qkd_wait_peers B && qkd_wait_peers C; ok $? "Kx A-B and B-C up"
[ "$(links A)" = AB ]; ok $? "A's links over Mk: $(links A)"

# ---- bad links change nothing ---------------------------------------------------
refused 400 "a link to C before C is a peer of A" "$(add A admin "$(body AC C tx)")"
mgmt A admin POST /api/v1/peers -H 'Content-Type: application/json' \
	--data-binary "{\"name\":\"C\",\"address\":\"${QKD_KX[C]}\",\"cert_cn\":\"C\"}" | http_code | grep -q 201 &&
mgmt C admin POST /api/v1/peers -H 'Content-Type: application/json' \
	--data-binary "{\"name\":\"A\",\"address\":\"${QKD_KX[A]}\",\"cert_cn\":\"A\"}" | http_code | grep -q 201
ok $? "peer C added at A, peer A at C"
refused 403 "a monitor-role client may not add a link" "$(add A monitor "$(body AC C tx)")"
refused 400 "an unknown source" "$(add A admin '{"name":"AC","peer":"C","source":"quantum","role":"tx"}')"
refused 400 "an unknown field" "$(add A admin "$(body AC C tx ',"colour":"blue"')")"
refused 400 "a key of another source (key_dir for sim)" "$(add A admin "$(body AC C tx ',"key_dir":"/tmp"')")"
refused 409 "a taken name (AB)" "$(add A admin "$(body AB C tx)")"
refused 409 "a second link to peer B" "$(add A admin "$(body AX B tx)")"
refused 400 "a link to a peer that does not exist" "$(add A admin "$(body AZ Z tx)")"
refused 400 "sim without a seed" "$(add A admin '{"name":"AC","peer":"C","source":"sim","role":"tx"}')"
out=$(add A admin "{\"name\":\"AC\",\"peer\":\"C\",\"source\":\"sim\",\"role\":\"tx\",\"seed\":\"${seed:0:62}zz\"}")
refused 400 "a bad seed" "$out"
echo "$out" | grep -q "${seed:0:16}"; [ $? = 1 ]; ok $? "the error does not quote the seed"
refused 501 "source = kernel at run time" "$(add A admin '{"name":"AC","peer":"C","source":"kernel","link_id":7}')"
refused 400 "malformed JSON" "$(add A admin '{"name":"AC","peer":')"
refused 400 "no name" "$(add A admin '{"peer":"C","source":"sim"}')"
big=$(head -c 20000 /dev/zero | tr '\0' ' ')
refused 413 "an oversized body" "$(add A admin "{\"name\":\"AC\"$big}")"
[ "$(links A)" = AB ] && [ "$(saved '.links_added // []')" = "[]" ]
ok $? "after all that nothing changed ($(links A)), nothing saved"

# A key over AB taken before the changes, to fetch at B after them.
early=$(qkd_enc A app1 app2)
[ "$(echo "$early" | http_code)" = 200 ]; ok $? "app1 takes a key over AB before the changes"

# ---- add ------------------------------------------------------------------------
t0=$(date +%s%N)
out=$(add A admin "$(body AC C tx)")
[ "$(echo "$out" | http_code)" = 201 ] && [ "$(echo "$out" | http_body | jq -r .link)" = AC ]
ok $? "A: the admin adds link AC: 201"
out=$(add C admin "$(body AC A rx)")
[ "$(echo "$out" | http_code)" = 201 ]; ok $? "C: the admin adds link AC: 201"
wait_agreed A AC && wait_agreed C AC
ok $? "AC agreed at both ends, $((($(date +%s%N) - t0) / 1000000)) ms after the first POST"
[ "$(links A)" = "AB AC" ] && [ "$(state_of A AB)" = agreed ]; ok $? "A's links: $(links A), AB still agreed"
[ "$(relay_links A)" = "AB AC" ]; ok $? "A's relay counters follow: $(relay_links A)"
[ "$(saved '[.links_added[].name]')" = '["AC"]' ] &&
[ "$(stat -c %a "$D/state-A/provisioned.json")" = 600 ]
ok $? "provisioned.json holds link AC, mode 600"

qkd_settle
a0=$(allocated A AC)
enc=$(qkd_enc A app1 app3)
qkd_check_pair "keys over the new link AC" "$enc" C app3 app1 1 32
a1=$(allocated A AC)
((a1 > a0)); ok $? "they came from AC (A allocated $a0 -> $a1 bytes on it)"

# ---- a restart keeps it -----------------------------------------------------------
qkd_stop A && qkd_start A; ok $? "A restarts"
grep -q 'provision: .*1 link(s) added, 0 removed at run time' "$D/A.log" &&
wait_agreed A AC && wait_agreed A AB; ok $? "AC and AB agreed again after the restart"
sleep 1
a0=$(allocated A AC)
enc=$(qkd_enc A app1 app3)
qkd_check_pair "keys over AC after the restart" "$enc" C app3 app1 1 32
a1=$(allocated A AC)
((a1 > a0)); ok $? "they came from AC (A allocated $a0 -> $a1 bytes on it)"

# ---- remove ---------------------------------------------------------------------
refused 409 "removing AB, which [strongswan gw] takes its keys from" "$(mgmt A admin DELETE /api/v1/links/AB)"
refused 403 "a monitor-role client may not remove a link" "$(mgmt A monitor DELETE /api/v1/links/AC)"
out=$(mgmt A admin DELETE /api/v1/links/AC)
[ "$(echo "$out" | http_code)" = 200 ]; ok $? "A: the admin removes link AC: 200"
out=$(mgmt C admin DELETE /api/v1/links/AC)
[ "$(echo "$out" | http_code)" = 200 ]; ok $? "C: the admin removes link AC: 200"
[ "$(links A)" = AB ] && [ "$(state_of A AC)" = none ] &&
[ "$(qkd_ctl A -j pool show | jq -r '[.[].link] | join(" ")')" = AB ]
ok $? "AC is gone from A's links and pools"
! mgmt A monitor GET /metrics | grep -q 'link="AC"' && [ "$(relay_links A)" = AB ]
ok $? "and from A's metrics and relay counters"
[ "$(saved '.links_added // []')" = "[]" ] && ! grep -q "$seed" "$D/state-A/provisioned.json"
ok $? "provisioned.json follows, without the seed"
refused 404 "removing it again" "$(mgmt A admin DELETE /api/v1/links/AC)"
# Without AC, app1 and app3 are keyed over B again (key relay).
enc=$(enc_A_C)
qkd_check_pair "keys A-C relayed over B once AC is gone" "$enc" C app3 app1 1 32
# A file source opens at run time too: its key_dir, relative to state_dir.
mkdir -m 700 "$D/state-A/keys-AC"
out=$(add A admin '{"name":"AC","peer":"C","source":"file","role":"tx","key_dir":"keys-AC","key_wait_ms":2000}')
[ "$(echo "$out" | http_code)" = 201 ] && [ "$(echo "$out" | http_body | jq -r .source)" = file ] &&
[ "$(links A)" = "AB AC" ]; ok $? "A: a file link AC is added: 201, $(links A)"
out=$(mgmt A admin DELETE /api/v1/links/AC)
[ "$(echo "$out" | http_code)" = 200 ] && [ "$(links A)" = AB ]; ok $? "and removed: 200"
# ... and so does an etsi014 source: A and C as the SAEs of one module.
qkd_cert kme || exit 1
KME=127.0.0.1:$((QKD_PORT_BASE + 9))
"$QKD_PY" "$(dirname "$0")/kme_emulator.py" --listen "$KME" \
	--cert "$D/kme.pem" --key "$D/kme.key" --ca "$D/ca.pem" \
	--sae A --sae C --max-key-per-request 32 > "$D/kme.log" 2>&1 &
KME_PID=$!
trap 'kill $KME_PID 2>/dev/null; qkd_cleanup' EXIT
e14() {	# SELF PEER ROLE
	printf '{"name":"AC","peer":"%s","source":"etsi014","role":"%s","block_size":544,"kme_url":"https://%s","kme_ca":"%s/ca.pem","kme_cert":"%s/%s.pem","kme_key":"%s/%s.key","sae_id":"%s","peer_sae_id":"%s","store_min":16,"store_max":64,"kme_timeout_ms":1000}' \
		"$2" "$3" "$KME" "$D" "$D" "$1" "$D" "$1" "$1" "$2"
}
for ((i = 0; i < 50; i++)); do grep -qs "kme emulator on" "$D/kme.log" && break; sleep 0.1; done
[ "$(add A admin "$(e14 A C tx)" | http_code)" = 201 ] &&
[ "$(add C admin "$(e14 C A rx)" | http_code)" = 201 ] &&
wait_agreed A AC && wait_agreed C AC
ok $? "an etsi014 link AC is added at both ends and agreed"
a0=$(allocated A AC)
enc=$(enc_A_C)
qkd_check_pair "keys over the etsi014 link AC" "$enc" C app3 app1 1 32
a1=$(allocated A AC)
((a1 > a0)); ok $? "they came from AC (A allocated $a0 -> $a1 bytes on it)"
[ "$(mgmt A admin DELETE /api/v1/links/AC | http_code)" = 200 ] &&
[ "$(mgmt C admin DELETE /api/v1/links/AC | http_code)" = 200 ] && [ "$(links A)" = AB ]
ok $? "and removed at both ends"
kill $KME_PID 2>/dev/null

ids=$(echo "$early" | http_body | keys_of | awk '{print $1}')
# shellcheck disable=SC2086
dec=$(qkd_post B app2 /api/v1/keys/app1/dec_keys "$(key_ids_json $ids)")
[ "$(echo "$dec" | http_code)" = 200 ] &&
[ "$(echo "$early" | http_body | keys_of)" = "$(echo "$dec" | http_body | keys_of)" ]
ok $? "the key over AB taken before the changes is fetched at B, identical"
enc=$(qkd_enc A app1 app2)
qkd_check_pair "keys over AB after all that" "$enc" B app2 app1 1 32

# A configured link removed stays removed over a restart.
out=$(mgmt C admin DELETE /api/v1/links/BC)
[ "$(echo "$out" | http_code)" = 200 ] && [ "$(links C)" = "" ]; ok $? "C: the admin removes configured link BC: 200"
qkd_stop C && qkd_start C && [ "$(links C)" = "" ] &&
[ "$(jq -c .links_removed "$D/state-C/provisioned.json")" = '["BC"]' ] &&
grep -q 'provision: .*0 link(s) added, 1 removed at run time' "$D/C.log"
ok $? "C restarts without BC (links: '$(links C)')"

! grep -rq "$seed" "$D/mgmt.out" "$D"/*.log "$D"/state-*/audit.log
ok $? "the seed is in no answer, log or audit line"
audited A '[("add peer", 201)] + [("add link", 201), ("remove link", 200)] * 3' \
	'[400] * 9 + [404, 409, 409, 409, 501]' &&
	jq -se '[.[] | select(.change.op == "add link" and .outcome == "done")][0].change.link |
		.name == "AC" and .source == "sim" and (has("seed") | not)' "$D/state-A/audit.log" >/dev/null
ok $? "the audit log names the admin's certificate for each change, refused ones with reasons"

for n in A B C; do qkd_stop $n || diag "$n did not stop cleanly"; done
ok $? "the nodes stop"
tap_done
