#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 19, runtime provisioning over Mk, peers: on a line A-B-C an admin
# adds peer C at A and peer A at C with curl; the Kx channel A-C comes up
# without a restart (qkdctl peer show at both ends), and again after A
# restarts.  Bad changes (malformed JSON, a bad address, an unknown field,
# this node's own name, a taken name or cert_cn, a monitor-role client,
# removing a peer a link uses, an unknown peer) are refused with a reason
# and change nothing (GET before and after).  Removing peer C closes the
# channel at both ends; A-B keeps its keys.  The audit log names the
# certificate.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgmt_lib.sh"
qkd_setup provision_peers || exit 1
QKD_TIMEOUT=${QKD_TIMEOUT:-120}
qkd_line A B C || { echo "not ok 1 - certificates and configs"; exit 1; }
D=$QKD_DIR
all_ids=$D/ids
sed -i 's/^\[kx\]$/[kx]\nheartbeat_ms = 100\ndead_after = 20/' "$D"/*.conf
mgmt_listen A C || { echo "not ok 1 - certificates"; exit 1; }

add() { mgmt "$1" "$2" POST /api/v1/peers -H 'Content-Type: application/json' --data-binary "$3"; }
peers() {	# NODE: the peers over Mk, name:state sorted
	mgmt "$1" monitor GET /api/v1/peers | http_body | "$QKD_PY" -c \
		'import json,sys; print(" ".join(sorted(p["peer"] + ":" + p["state"] for p in json.load(sys.stdin)["peers"])))'
}
state_of() {	# NODE PEER: its state in qkdctl -j peer show
	qkd_ctl "$1" -j peer show | "$QKD_PY" -c \
		'import json,sys; print(([p["state"] for p in json.load(sys.stdin) if p["peer"] == sys.argv[1]] + ["none"])[0])' "$2"
}
wait_state() {	# NODE PEER STATE
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(state_of "$1" "$2")" = "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

for n in A B C; do qkd_start $n || { echo "not ok 1 - $n starts"; exit 1; }; done
ok 0 "A, B, C start"
qkd_wait_peers A && qkd_wait_peers B && qkd_wait_peers C; ok $? "Kx A-B and B-C up"
before=$(peers A)
[ "$before" = "B:up" ]; ok $? "A's peers over Mk: $before"

refused 403 "a monitor-role client may not add a peer" \
	"$(add A monitor "{\"name\":\"C\",\"address\":\"${QKD_KX[C]}\",\"cert_cn\":\"C\"}")"
refused 400 "malformed JSON" "$(add A admin '{"name":"C","address":')"
refused 400 "a bad address" "$(add A admin '{"name":"C","address":"c.example:1","cert_cn":"C"}')"
refused 400 "an unknown field" \
	"$(add A admin "{\"name\":\"C\",\"address\":\"${QKD_KX[C]}\",\"cert_cn\":\"C\",\"seed\":\"x\"}")"
refused 400 "a missing field" "$(add A admin '{"name":"C","cert_cn":"C"}')"
refused 400 "this node itself" "$(add A admin "{\"name\":\"A\",\"address\":\"${QKD_KX[C]}\",\"cert_cn\":\"A\"}")"
refused 409 "a name that is a peer's" "$(add A admin "{\"name\":\"B\",\"address\":\"${QKD_KX[C]}\",\"cert_cn\":\"C\"}")"
refused 409 "a cert_cn that is another peer's" "$(add A admin "{\"name\":\"C\",\"address\":\"${QKD_KX[C]}\",\"cert_cn\":\"B\"}")"
refused 409 "removing peer B, which link AB uses" "$(mgmt A admin DELETE /api/v1/peers/B)"
refused 404 "removing a peer that does not exist" "$(mgmt A admin DELETE /api/v1/peers/Z)"
[ "$(peers A)" = "$before" ] && [ ! -e "$D/state-A/provisioned.json" ]
ok $? "after all that nothing changed ($(peers A)), no provisioned.json"

# A key taken before the changes, to fetch at B after them: none is lost.
early=$(qkd_enc A app1 app2)
[ "$(echo "$early" | http_code)" = 200 ]; ok $? "app1 takes a key over AB before the changes"

# ---- add: the channel comes up --------------------------------------------------
t0=$(date +%s%N)
out=$(add A admin "{\"name\":\"C\",\"address\":\"${QKD_KX[C]}\",\"cert_cn\":\"C\"}")
[ "$(echo "$out" | http_code)" = 201 ]; ok $? "A: the admin adds peer C: 201"
out=$(add C admin "{\"name\":\"A\",\"address\":\"${QKD_KX[A]}\",\"cert_cn\":\"A\"}")
[ "$(echo "$out" | http_code)" = 201 ]; ok $? "C: the admin adds peer A: 201"
wait_state A C up && wait_state C A up
ok $? "Kx A-C up at both ends, $((($(date +%s%N) - t0) / 1000000)) ms after the first POST"
[ "$(state_of A B)" = up ] && [ "$(peers A)" = "B:up C:up" ]; ok $? "A-B still up ($(peers A))"
"$QKD_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [p["name"] for p in d["peers_added"]] == ["C"] and d["peers_removed"] == [], d' \
	"$D/state-A/provisioned.json"
ok $? "provisioned.json holds peer C"

# ---- a restart keeps it -----------------------------------------------------------
qkd_stop A && qkd_start A; ok $? "A restarts"
grep -q 'provision: .*1 peer(s) added, 0 removed at run time' "$D/A.log" &&
wait_state A C up && wait_state A B up; ok $? "A-C and A-B come up again"
enc=$(qkd_enc A app1 app2)
qkd_check_pair "keys over AB after all that" "$enc" B app2 app1 1 32

# ---- remove ---------------------------------------------------------------------
out=$(mgmt A admin DELETE /api/v1/peers/C)
[ "$(echo "$out" | http_code)" = 200 ]; ok $? "A: the admin removes peer C: 200"
[ "$(state_of A C)" = none ] && wait_state C A down; ok $? "gone at A, down at C ($(state_of C A))"
"$QKD_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d.get("peers_added", []) == [] and d.get("peers_removed", []) == [], d' \
	"$D/state-A/provisioned.json"
ok $? "provisioned.json follows"
out=$(mgmt A admin DELETE /api/v1/peers/C)
[ "$(echo "$out" | http_code)" = 404 ]; ok $? "removing it again: 404"
ids=$(echo "$early" | http_body | keys_of | awk '{print $1}')
# shellcheck disable=SC2086
dec=$(qkd_post B app2 /api/v1/keys/app1/dec_keys "$(key_ids_json $ids)")
[ "$(echo "$dec" | http_code)" = 200 ] &&
[ "$(echo "$early" | http_body | keys_of)" = "$(echo "$dec" | http_body | keys_of)" ]
ok $? "the key taken before the changes is fetched at B, identical"

audited A '[("add peer", 201), ("remove peer", 200)]' '[400] * 5 + [404, 404, 409, 409, 409]'
ok $? "the audit log names the admin's certificate for each change, refused ones with reasons"

for n in A B C; do qkd_stop $n || diag "$n did not stop cleanly"; done
ok $? "the nodes stop"
tap_done
