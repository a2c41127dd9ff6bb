#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 19, runtime provisioning over Mk: an admin (its certificate CN in
# [metrics] admin_clients) adds SAEs to a running pair of nodes over the
# management HTTPS API, with curl; enc_keys/dec_keys then work for them
# without a restart, and still after one; a removed SAE gets 401, also
# after a restart.  The admin changes a link's pool thresholds: the link's
# level follows at once at its node (qkdctl link show) and in the other
# node's topology (link-state advertisement), and after a restart.  Bad
# changes (malformed JSON, unknown field, missing field, a taken id or CN,
# thresholds the configuration parser would refuse, an unknown link, wrong
# content type, oversized body, unknown resource, a monitor-role client)
# are refused with a JSON reason and change nothing.  The audit log names the certificate (CN and serial) of
# each change; no key byte appears in it, in the API's answers, or in the
# logs.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgmt_lib.sh"
qkd_setup provision || exit 1
QKD_TIMEOUT=${QKD_TIMEOUT:-120}
qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
D=$QKD_DIR
mgmt_listen A B && qkd_cert app5 && qkd_cert app6 ||
	{ echo "not ok 1 - certificates"; exit 1; }
# Under a loaded machine 300 ms without a heartbeat is not a dead peer:
# a Kx channel declared dead mid-test makes enc_keys answer 503.
sed -i 's/^\[kx\]$/[kx]\nheartbeat_ms = 100\ndead_after = 20/' "$D/A.conf" "$D/B.conf"

# add NODE CN JSON: POST /api/v1/saes
add() { mgmt "$1" "$2" POST /api/v1/saes -H 'Content-Type: application/json' --data-binary "$3"; }
# ids NODE: the SAE ids the node serves, sorted, on one line.
ids() {
	mgmt "$1" monitor GET /api/v1/saes | http_body | "$QKD_PY" -c \
		'import json,sys; print(" ".join(sorted(s["id"] for s in json.load(sys.stdin)["saes"])))'
}

qkd_start A; ok $? "daemon A starts with [metrics] admin_clients"
qkd_start B; ok $? "daemon B starts"
qkd_wait_peers A && qkd_wait_peers B; ok $? "Kx channel A-B up"
qkd_settle

out=$(qkd_enc A app5 app6)
[ "$(echo "$out" | http_code)" = 401 ]; ok $? "app5 is no SAE yet: 401"
[ "$(ids A)" = "app1 app2" ]; ok $? "the SAE table over Mk: $(ids A)"

# ---- bad changes: refused with a reason, nothing changes ----------------------

refused 403 "a monitor-role client may not add an SAE" \
	"$(add A monitor '{"id":"app5","cert_cn":"app5","node":"A"}')"
refused 403 "nor remove one" "$(mgmt A monitor DELETE /api/v1/saes/app1)"
refused 403 "a client without a role gets nothing" "$(mgmt A app1 GET /api/v1/saes)"
refused 400 "malformed JSON" "$(add A admin '{"id":"app5","cert_cn":')"
refused 400 "an unknown field" "$(add A admin '{"id":"app5","cert_cn":"app5","node":"A","key":"x"}')"
refused 400 "a missing field" "$(add A admin '{"id":"app5","node":"A"}')"
refused 400 "a bad id" "$(add A admin '{"id":"app 5/x","cert_cn":"app5","node":"A"}')"
refused 400 "not an object" "$(add A admin '["app5"]')"
refused 409 "an id that exists" "$(add A admin '{"id":"app1","cert_cn":"app5","node":"A"}')"
refused 409 "a certificate CN that is another SAE's" "$(add A admin '{"id":"app5","cert_cn":"app2","node":"A"}')"
refused 415 "a body that is not JSON by its type" \
	"$(mgmt A admin POST /api/v1/saes -H 'Content-Type: text/plain' --data-binary '{"id":"app5","cert_cn":"app5","node":"A"}')"
head -c 20000 /dev/zero | tr '\0' ' ' > "$D/big.json"
refused 413 "an oversized body" "$(add A admin @"$D/big.json")"
refused 404 "an unknown resource" "$(mgmt A admin POST /api/v1/nosuch --data-binary '{}')"
refused 404 "removing an SAE that does not exist" "$(mgmt A admin DELETE /api/v1/saes/nosuch)"
# The link's thresholds as set and in force, as GET shows them.
pool_of() {
	mgmt "$1" monitor GET /api/v1/links/AB | http_body | "$QKD_PY" -c \
		'import json,sys; l=json.load(sys.stdin); print(l["set"], l["pool_warn"], l["pool_ready"], l["provisioned"])'
}
# patch NODE CN LINK JSON: PATCH /api/v1/links/LINK
patch() { mgmt "$1" "$2" PATCH "/api/v1/links/$3" -H 'Content-Type: application/json' --data-binary "$4"; }
pool_before=$(pool_of A)
[ "$pool_before" = "{'pool_warn': 0, 'pool_ready': 0} 125000 625000 False" ]
ok $? "link AB's thresholds over Mk: the defaults ($pool_before)"
refused 403 "a monitor-role client may not change a link" "$(patch A monitor AB '{"pool_ready":1000000}')"
refused 400 "thresholds: malformed JSON" "$(patch A admin AB '{"pool_ready":')"
refused 404 "thresholds of a link that does not exist" "$(patch A admin nosuch '{"pool_ready":1000000}')"
refused 400 "pool_warn above pool_ready, as the config parser says" "$(patch A admin AB '{"pool_warn":2000,"pool_ready":1000}')"
refused 400 "a negative threshold" "$(patch A admin AB '{"pool_warn":-1}')"
refused 400 "a threshold that is no integer" "$(patch A admin AB '{"pool_warn":"1000"}')"
refused 400 "an unknown threshold" "$(patch A admin AB '{"pool_low":1000}')"
refused 400 "nothing to change" "$(patch A admin AB '{}')"
refused 415 "thresholds not as JSON" \
	"$(mgmt A admin PATCH /api/v1/links/AB -H 'Content-Type: text/plain' --data-binary '{"pool_ready":1000000}')"
[ "$(pool_of A)" = "$pool_before" ]; ok $? "the thresholds did not change"

out=$(mgmt A admin PUT /api/v1/saes)
[ "$(echo "$out" | http_code)" = 405 ]; ok $? "an unknown method: 405"
[ "$(ids A)" = "app1 app2" ] && [ ! -e "$D/state-A/provisioned.json" ]
ok $? "after all that nothing changed: $(ids A), no provisioned.json"
out=$(qkd_enc A app5 app6)
[ "$(echo "$out" | http_code)" = 401 ]; ok $? "app5 still gets 401"

# ---- add: served at once ----------------------------------------------------

for n in A B; do
	out=$(add "$n" admin '{"id":"app5","cert_cn":"app5","node":"A"}')
	[ "$(echo "$out" | http_code)" = 201 ] || diag "$out"
	out2=$(add "$n" admin '{"id":"app6","cert_cn":"app6","node":"B"}')
	[ "$(echo "$out" | http_code)" = 201 ] && [ "$(echo "$out2" | http_code)" = 201 ]
	ok $? "$n: the admin adds app5 (at A) and app6 (at B): 201"
done
[ "$(ids A)" = "app1 app2 app5 app6" ] && [ "$(ids B)" = "app1 app2 app5 app6" ]
ok $? "both nodes list them ($(ids B))"
all_ids=$D/ids
enc=$(qkd_enc A app5 app6 "number=2")
qkd_check_pair "app5 -> app6, no restart" "$enc" B app6 app5 2 32
echo "$enc" | http_body | keys_of > "$D/keys"
enc=$(qkd_enc B app6 app5)
qkd_check_pair "app6 -> app5" "$enc" A app5 app6 1 32
echo "$enc" | http_body | keys_of >> "$D/keys"
for f in provisioned.json audit.log; do
	[ "$(stat -c %a "$D/state-A/$f")" = 600 ]; ok $? "state-A/$f is mode 0600"
done
"$QKD_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [s["id"] for s in d["saes_added"]] == ["app5", "app6"]' \
	"$D/state-A/provisioned.json"
ok $? "provisioned.json holds the two SAEs"

# ---- link thresholds: in force at once ---------------------------------------

level_at() {	# NODE: link AB's level as "qkdctl link show" has it, and pool_ready
	qkd_ctl "$1" -j link show | "$QKD_PY" -c \
		'import json,sys; l=[l for l in json.load(sys.stdin) if l["link"]=="AB"][0]; print(l["level"], l["pool_ready"])'
}
advertised() {	# NODE: A's link to B's level in NODE's topology
	qkd_ctl "$1" -j topology show | "$QKD_PY" -c \
		'import json,sys; n=[n for n in json.load(sys.stdin)["nodes"] if n["node"]=="A"][0]; print([l["level"] for l in n["links"] if l["peer"]=="B"][0])'
}
[ "$(level_at A)" = "ready 625000" ] && [ "$(advertised B)" = ready ]
ok $? "AB is ready at A ($(level_at A)) and as B sees it ($(advertised B))"
out=$(patch A admin AB '{"pool_ready":100000000}')
[ "$(echo "$out" | http_code)" = 200 ]; ok $? "the admin sets AB's pool_ready at A above what a pool holds: 200"
[ "$(level_at A)" = "low 100000000" ]; ok $? "qkdctl link show at A: $(level_at A)"
for ((i = 0; i < 50; i++)); do [ "$(advertised B)" = low ] && break; sleep 0.2; done
[ "$(advertised B)" = low ]; ok $? "B's topology has A's link at level low (advertised)"
mgmt A monitor GET /metrics > "$D/metrics"
grep -q '^qkd_pool_ready_threshold_bytes{.*link="AB".*} 100000000$' "$D/metrics" &&
grep -q '^qkd_pool_level{.*link="AB".*level="low".*} 1$' "$D/metrics"
ok $? "/metrics has the new threshold and level"
[ "$(pool_of A)" = "{'pool_warn': 0, 'pool_ready': 100000000} 125000 100000000 True" ]
ok $? "GET shows it as set and in force ($(pool_of A))"
"$QKD_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["links_changed"] == {"AB": {"pool_warn": 0, "pool_ready": 100000000}}, d' \
	"$D/state-A/provisioned.json"
ok $? "provisioned.json holds AB's thresholds"

# ---- the audit log ------------------------------------------------------------

serial=$(openssl x509 -noout -serial -in "$D/admin.pem" | cut -d= -f2)
"$QKD_PY" - "$D/state-A/audit.log" "$serial" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
links = [r for r in recs if r["change"]["op"] == "set link pool"]
recs = [r for r in recs if r not in links]
done = [r for r in recs if r["outcome"] == "done"]
refused = [r for r in recs if r["outcome"] == "refused"]
# the thresholds: 7 refused (400 x 6, 404; 415 before the body is read), one done
assert sorted(r["status"] for r in links) == [200] + [400] * 6 + [404, 415], links
for r in links:
    assert r["cn"] == "admin" and r["serial"].upper() == sys.argv[2].upper(), r
    assert r["method"] == "PATCH" and (r["status"] == 200) == (r["outcome"] == "done"), r
    assert r["outcome"] == "done" or r["reason"], r
ch = [r for r in links if r["status"] == 200][0]["change"]
assert ch["link"] == "AB" and ch["was"] == {"pool_warn": 0, "pool_ready": 0} and \
    ch["set"] == {"pool_warn": 0, "pool_ready": 100000000}, ch
assert [r["change"]["sae"]["id"] for r in done] == ["app5", "app6"], done
for r in done:
    assert r["cn"] == "admin" and r["serial"].upper() == sys.argv[2].upper(), r
    assert r["status"] == 201 and r["method"] == "POST" and r["time"].endswith("Z"), r
# each bad change of the admin, with its status and reason
assert sorted(r["status"] for r in refused) == [400] * 5 + [404, 409, 409, 415], refused
assert all(r["reason"] for r in refused), refused
PY
ok $? "the audit log names the admin's certificate (CN, serial $serial) for each change, refused ones with reasons"

# ---- remove, and a restart keeps every change ------------------------------------

out=$(mgmt A admin DELETE /api/v1/saes/app1)
[ "$(echo "$out" | http_code)" = 200 ]; ok $? "the admin removes a configured SAE (app1) at A: 200"
out=$(qkd_enc A app1 app2)
[ "$(echo "$out" | http_code)" = 401 ]; ok $? "app1 then gets 401"
qkd_stop A && qkd_stop B; ok $? "both nodes stop"
qkd_start A && qkd_start B; ok $? "and start again"
qkd_wait_peers A && qkd_wait_peers B && qkd_settle
grep -q 'provision: .*2 SAE(s) added, 1 removed at run time' "$D/A.log"
ok $? "A says what it applied from provisioned.json"
[ "$(ids A)" = "app2 app5 app6" ]; ok $? "the changes survive the restart ($(ids A))"
grep -q 'provision: .*pool thresholds of 1 link(s) set at run time' "$D/A.log" &&
[ "$(level_at A)" = "low 100000000" ]; ok $? "and AB's pool_ready ($(level_at A))"
out=$(patch A admin AB '{"pool_ready":0}')
[ "$(echo "$out" | http_code)" = 200 ] && [ "$(level_at A)" = "ready 625000" ]
ok $? "pool_ready 0: the default again ($(level_at A))"
enc=$(qkd_enc A app5 app6)
qkd_check_pair "app5 -> app6 after the restart" "$enc" B app6 app5 1 32
echo "$enc" | http_body | keys_of >> "$D/keys"
out=$(qkd_enc A app1 app2)
[ "$(echo "$out" | http_code)" = 401 ]; ok $? "app1 still gets 401"
out=$(mgmt A admin DELETE /api/v1/saes/app5)
[ "$(echo "$out" | http_code)" = 200 ]; ok $? "the admin removes app5 at A: 200"
out=$(qkd_enc A app5 app6)
[ "$(echo "$out" | http_code)" = 401 ]; ok $? "app5 then gets 401"
out=$(add A admin '{"id":"app1","cert_cn":"app1","node":"A"}')
[ "$(echo "$out" | http_code)" = 201 ] && [ "$(ids A)" = "app1 app2 app6" ] &&
"$QKD_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [s["id"] for s in d["saes_added"]] == ["app6", "app1"] and d["saes_removed"] == ["app1"], d' \
	"$D/state-A/provisioned.json"
ok $? "app1 added back; provisioned.json follows ($(ids A))"

# ---- no key byte anywhere ------------------------------------------------------

[ -s "$D/keys" ] && [ "$(wc -l < "$D/keys")" = 4 ]; ok $? "4 keys were taken"
leaks=0
while read -r id key; do
	hex=$(echo "$key" | base64 -d | od -An -tx1 | tr -d ' \n')
	for f in "$D/mgmt.out" "$D/state-A/audit.log" "$D/state-B/audit.log" "$D/A.log" "$D/B.log" \
		"$D/state-A/provisioned.json" "$D/state-B/provisioned.json"; do
		if grep -qF -e "$key" -e "$hex" "$f"; then
			diag "key $id in $f"
			leaks=$((leaks + 1))
		fi
	done
done < "$D/keys"
[ "$leaks" = 0 ]; ok $? "no key (base64 or hex) in the API's answers, the audit logs, the state files or the logs"

qkd_stop A; ok $? "A stops cleanly"
qkd_stop B; ok $? "B stops cleanly"

# A state file the checks refuse stops the start, and says where and why.
"$QKD_PY" - "$D/state-A/provisioned.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["links_changed"] = {"AB": {"pool_warn": 2000, "pool_ready": 1000}}
json.dump(d, open(sys.argv[1], "w"))
PY
! qkd_start A 2>/dev/null &&
grep -q 'state-A/provisioned.json: links_changed.AB: pool_warn above pool_ready' "$D/A.log"
ok $? "a provisioned.json with pool_warn above pool_ready stops the start, naming file, link and reason"
tap_done
