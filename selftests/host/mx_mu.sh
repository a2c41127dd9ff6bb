#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 19, Mx and Mu (Documentation/qkd/mx-mu.rst).  Two QKDN domains
# meet at the link a2-b1:
#
#	domain A: a1 - a2  |  domain B: b1
#
# Domain A's policy lets domain B's manager (mgr-b) read alarms of major
# and above and summaries without SAE names, and a third domain's manager
# (mgr-c) summaries only, counting critical alarms; domain B lets mgr-a
# see everything, SAE names included.  The managers are curl with their
# client certificates; each polls every node of the other domain.  A user
# network manager (un1, SAEs app1 and app2) reads its own SAEs over Mu and
# nothing of "other"/"other2"/app3.  Unknown managers, wrong roles and bad
# input are refused and change nothing; no key byte or key ID shows.
set -u
. "$(dirname "$0")/lib.sh"
QKD_TIMEOUT=${QKD_TIMEOUT:-120}
qkd_setup mx_mu || exit 1
QKD_EXTRA_SAES="other@a1 other2@a2" qkd_line a1 a2 b1 || { echo "not ok 1 - configs"; exit 1; }
declare -A MPORT
for i in "${!QKD_NODES[@]}"; do
	n=${QKD_NODES[$i]}
	MPORT[$n]=$((QKD_PORT_BASE + 40 + i))
	printf '[metrics]\nlisten = 127.0.0.1:%s\nclients = prometheus\n\n' "${MPORT[$n]}" >> "$QKD_DIR/$n.conf"
done
for n in a1 a2; do
	cat >> "$QKD_DIR/$n.conf" <<'EOF'
[manager domain-b]
cert_cn = mgr-b
role = mx
show = alarms summary
min_severity = major

[manager domain-c]
cert_cn = mgr-c
role = mx
show = summary
min_severity = critical

[manager users1]
cert_cn = un1
role = mu
saes = app1, app2

EOF
done
cat >> "$QKD_DIR/b1.conf" <<'EOF'
[manager domain-a]
cert_cn = mgr-a
role = mx
show = alarms summary sae_names
min_severity = warning

[manager users1]
cert_cn = un1
role = mu
saes = app1 app2

EOF
# mgr-b's certificate from domain B's own CA: A does not trust it.
qkd_ca caB && qkd_cert mgr-b caB &&
mv "$QKD_DIR/mgr-b.pem" "$QKD_DIR/mgr-b-foreign.pem" &&
mv "$QKD_DIR/mgr-b.key" "$QKD_DIR/mgr-b-foreign.key" &&
for cn in mgr-a mgr-b mgr-c un1 intruder prometheus; do
	qkd_cert $cn || exit 1
done || { echo "not ok 1 - certificates"; exit 1; }

OUT=$QKD_DIR/out
mkdir -p "$OUT"
# mreq NODE CN METHOD PATH [BODY]: the answer's body (also kept under
# $OUT for the leak check), then "HTTP <code>".  CN "" for no certificate.
mreq() {
	local node=$1 cn=$2 method=$3 path=$4 cert=() data=()
	[ -n "$cn" ] && cert=(--cert "$QKD_DIR/$cn.pem" --key "$QKD_DIR/$cn.key")
	[ $# -ge 5 ] && data=(-H 'Content-Type: application/json' --data-binary "$5")
	curl -sS --max-time 10 --cacert "$QKD_DIR/ca.pem" "${cert[@]}" \
		-X "$method" "${data[@]}" -w '\nHTTP %{http_code}\n' \
		"https://127.0.0.1:${MPORT[$node]}$path" 2>/dev/null |
		tee -a "$OUT/all"
}
# jget FILTER: evaluates a Python expression over the JSON body "d" on
# stdin (the output of mreq); prints the result.
jget() {
	"$QKD_PY" -c '
import json, sys
lines = sys.stdin.read().rstrip("\n").split("\n")
d = json.loads("\n".join(lines[:-1]))
print(eval(sys.argv[1]))' "$1"
}

for n in a1 a2 b1; do qkd_start $n || { echo "not ok 1 - start $n"; exit 1; }; done
ok 0 "three daemons start with [manager] sections"
qkd_wait_peers a2 && qkd_wait_peers b1; ok $? "Kx channels up, a2-b1 across the border"
qkd_settle

all_ids=$QKD_DIR/ids
: > "$all_ids"
keys() {	# MASTER_NODE MASTER SLAVE_NODE SLAVE N
	local enc
	enc=$(qkd_enc "$1" "$2" "$4" "number=$5")
	echo "$enc" | http_body | keys_of >> "$QKD_DIR/keys"
	QKD_OK=: qkd_check_pair "$2->$4" "$enc" "$3" "$4" "$2" "$5" 32
}
keys a1 app1 a2 app2 3 && keys a1 other a2 other2 5 && keys b1 app3 a2 app2 1
ok $? "keys: app1->app2 3, other->other2 5, app3->app2 1 (across the border)"

# ---- Mx ----------------------------------------------------------------
r=$(mreq a1 mgr-b GET /mx/v1/summary)
[ "$(echo "$r" | http_code)" = 200 ] &&
[ "$(echo "$r" | jget '[(l["peer"], l["up"]) for l in d["links"]]')" = "[('a2', True)]" ] &&
[ "$(echo "$r" | jget 'd["links_up"], d["links_down"], d["keys_supplied"], d["sae_pairs"]')" = "(1, 0, 8, 2)" ]
ok $? "Mx: mgr-b reads a1's summary: link to a2 up, 8 keys supplied by 2 pairs"
[ "$(echo "$r" | jget 'sorted(d["alarms"])')" = "['critical', 'major']" ] &&
[ "$(echo "$r" | jget '"saes" in d')" = False ] &&
! echo "$r" | grep -qE 'app[0-9]|other'
ok $? "Mx: A's policy: alarm counts from major up, no SAE names anywhere"
r=$(mreq a2 mgr-b GET /mx/v1/summary)
[ "$(echo "$r" | jget 'sorted(l["peer"] for l in d["links"] if l["up"])')" = "['a1', 'b1']" ] &&
! echo "$r" | grep -qE 'app[0-9]|other'
ok $? "Mx: mgr-b polls a2 too (domain A's other node): links to a1 and b1 up"
r=$(mreq b1 mgr-a GET /mx/v1/summary)
[ "$(echo "$r" | http_code)" = 200 ] &&
[ "$(echo "$r" | jget 'd["saes"]')" = "[{'master': 'app3', 'slave': 'app2', 'keys_supplied': 1}]" ] &&
[ "$(echo "$r" | jget 'sorted(d["alarms"])')" = "['critical', 'major', 'minor', 'warning']" ]
ok $? "Mx: B's policy for mgr-a is wider: SAE names, every severity"
r=$(mreq a1 mgr-c GET /mx/v1/summary)
[ "$(echo "$r" | jget 'list(d["alarms"])')" = "['critical']" ]
ok $? "Mx: A's policy for mgr-c counts critical alarms only"

# An alarm at a2: its Kx peer b1 dies (major).
qkd_stop b1 KILL
for ((i = 0; i < 50; i++)); do
	qkd_ctl a2 alarm show 2>/dev/null | grep -q "kx:b1" && break
	sleep 0.2
done
r=$(mreq a2 mgr-b GET /mx/v1/alarms)
[ "$(echo "$r" | http_code)" = 200 ] &&
[ "$(echo "$r" | jget '[(a["object"], a["severity"]) for a in d["active"] if "b1" in a["object"]]')" = "[('peer=b1', 'major')]" ]
ok $? "Mx: mgr-b sees a2's major alarm for peer b1 ($(echo "$r" | jget 'len(d["active"])') active)"
r=$(mreq a2 mgr-b GET /mx/v1/summary)
[ "$(echo "$r" | jget 'd["alarms"]["major"] >= 1 and d["links_down"] == 1')" = True ]
ok $? "Mx: a2's summary counts it, and the link to b1 down"
r=$(mreq a2 mgr-b POST /mx/v1/alarms '{"min_severity": "critical"}')
[ "$(echo "$r" | http_code)" = 200 ] && [ "$(echo "$r" | jget 'd["active"]')" = "[]" ]
ok $? "Mx: mgr-b may narrow to critical: none"
r=$(mreq a2 mgr-b POST /mx/v1/alarms '{"min_severity": "warning"}')
[ "$(echo "$r" | http_code)" = 403 ] && echo "$r" | grep -q 'major and above only'
ok $? "Mx: mgr-b may not widen beyond A's policy (403)"
r=$(mreq a2 mgr-c GET /mx/v1/alarms)
[ "$(echo "$r" | http_code)" = 403 ] && ! echo "$r" | grep -q 'b1'
ok $? "Mx: mgr-c's policy shows no alarms: 403, nothing of them"
r=$(mreq a2 mgr-c GET /mx/v1/summary)
[ "$(echo "$r" | jget 'd["alarms"]')" = "{'critical': 0}" ]
ok $? "Mx: mgr-c's summary does not count the major alarm"

# Domain B's manager aggregates domain A: examples/manager/mx_poll.py.
mx_poll() {	# CN: poll a1 and a2 as CN
	"$QKD_PY" "$QKD_TOP/examples/manager/mx_poll.py" --ca "$QKD_DIR/ca.pem" \
		--cert "$QKD_DIR/$1.pem" --key "$QKD_DIR/$1.key" \
		"127.0.0.1:${MPORT[a1]}" "127.0.0.1:${MPORT[a2]}" | tee -a "$OUT/all"
}
got=$(mx_poll mgr-b | "$QKD_PY" -c 'import json, sys; d = json.load(sys.stdin)
print(sorted(d["nodes"]), d["links_up"], d["links_down"], d["alarms"]["major"] >= 1,
      [(a["node"], a["object"], a["severity"]) for a in d["active"]], d["refused"])')
[ "$got" = "['a1', 'a2'] 2 1 True [('a2', 'peer=b1', 'major')] {}" ]
ok $? "mx_poll.py as mgr-b: domain A's two nodes, links 2 up 1 down, a2's major alarm (got $got)"
got=$(mx_poll mgr-c | "$QKD_PY" -c 'import json, sys; d = json.load(sys.stdin)
print(sorted(d["nodes"]), d["active"], sorted(d["refused"]), d["alarms"])')
[ "$got" = "['a1', 'a2'] [] ['127.0.0.1:${MPORT[a1]}/mx/v1/alarms', '127.0.0.1:${MPORT[a2]}/mx/v1/alarms'] {'critical': 0}" ]
ok $? "mx_poll.py as mgr-c: summaries of both nodes, alarms refused by policy (got $got)"

# Domain A narrows its policy for mgr-b at a2, live (SIGHUP).
sed -i '/^\[manager domain-b\]/,/^$/s/^show = .*/show = summary/' "$QKD_DIR/a2.conf"
n0=$(grep -c "reload: .* read" "$QKD_DIR/a2.log")
kill -HUP "${QKD_PID[a2]}"
for ((i = 0; i < 50; i++)); do
	[ "$(grep -c "reload: .* read" "$QKD_DIR/a2.log")" -gt "$n0" ] && break
	sleep 0.1
done
r=$(mreq a2 mgr-b GET /mx/v1/alarms)
[ "$(echo "$r" | http_code)" = 403 ] && echo "$r" | grep -q 'does not show alarms' &&
[ "$(mreq a2 mgr-b GET /mx/v1/summary | http_code)" = 200 ]
ok $? "a policy narrowed by reload applies at once: mgr-b's alarms at a2 are 403, the summary stays"

# ---- who is refused ----------------------------------------------------
r=$(mreq a1 intruder GET /mx/v1/summary)
[ "$(echo "$r" | http_code)" = 403 ] && echo "$r" | grep -q 'is not the cert_cn of a \[manager\]' &&
! echo "$r" | grep -q links
ok $? "an unknown manager (CN intruder, our CA) gets 403 and no data"
r=$(mreq a1 mgr-b-foreign GET /mx/v1/summary)
[ "$(echo "$r" | http_code)" = 000 ]
ok $? "mgr-b's certificate from domain B's own CA is refused in the handshake"
r=$(mreq a1 "" GET /mx/v1/summary)
[ "$(echo "$r" | http_code)" = 000 ]; ok $? "no client certificate: refused in the handshake"
r=$(mreq a1 mgr-a GET /mx/v1/summary)
[ "$(echo "$r" | http_code)" = 403 ]; ok $? "mgr-a, a manager of B's policy only, gets 403 at a1"
r=$(mreq a1 prometheus GET /mx/v1/summary)
[ "$(echo "$r" | http_code)" = 403 ]; ok $? "a [metrics] client is no manager: 403"
r=$(mreq a1 mgr-b GET /metrics)
[ "$(echo "$r" | http_code)" = 403 ] && ! echo "$r" | grep -q '^qkd_'
ok $? "a manager is no [metrics] client: /metrics is 403"
r=$(mreq a1 un1 GET /mx/v1/summary)
[ "$(echo "$r" | http_code)" = 403 ] && echo "$r" | grep -q 'has role mu'
ok $? "wrong role: the Mu manager on /mx is 403"
r=$(mreq a1 mgr-b GET /mu/v1/saes)
[ "$(echo "$r" | http_code)" = 403 ]; ok $? "wrong role: an Mx manager on /mu is 403"
r=$(mreq a1 mgr-b GET /view/v1/network)
[ "$(echo "$r" | http_code)" = 403 ]; ok $? "wrong role: an Mx manager on the web view is 403"

# ---- Mu ----------------------------------------------------------------
r=$(mreq a1 un1 GET /mu/v1/saes)
echo "$r" > "$QKD_DIR/mu-before"
[ "$(echo "$r" | http_code)" = 200 ] &&
[ "$(echo "$r" | jget '[(s["sae"], s["here"]) for s in d["saes"]]')" = "[('app1', True), ('app2', False)]" ] &&
[ "$(echo "$r" | jget '[(s["supplied_keys"], s["supplied_bits"], s["refused_keys"]) for s in d["saes"] if s["here"]]')" = "[(3, 768, 0)]" ]
ok $? "Mu: at a1, app1 was supplied 3 keys (768 bits), as it received"
[ "$(echo "$r" | jget 'd["saes"][0]["peers"]')" = "[{'sae': 'app2', 'node': 'a2', 'route': 'available', 'hops': 1}]" ]
ok $? "Mu: app1's route to its peer app2 at a2 is available"
! echo "$r" | grep -qE 'other|app3'
ok $? "Mu: nothing of other SAEs (other, app3) at a1"
r=$(mreq a2 un1 GET /mu/v1/saes)
[ "$(echo "$r" | jget '[(s["sae"], s["supplied_keys"]) for s in d["saes"] if s["here"]]')" = "[('app2', 4)]" ] &&
[ "$(echo "$r" | jget '[p["route"] for p in d["saes"][1]["peers"]]')" = "['available']" ] &&
! echo "$r" | grep -qE 'other|app3'
ok $? "Mu: at a2, app2 got 4 keys (3 from app1, 1 from app3, unnamed)"
r=$(mreq a1 un1 POST /mu/v1/saes '{"saes": ["app1"]}')
[ "$(echo "$r" | jget '[s["sae"] for s in d["saes"]]')" = "['app1']" ]
ok $? "Mu: a query for its own app1 answers app1 only"
acct_before=$(qkd_ctl a1 -j account show | grep -v '"start"')

# ---- bad input ---------------------------------------------------------
# bad CODE WHAT NODE CN METHOD PATH [BODY]: an error with a JSON reason.
bad() {
	local want=$1 what=$2 r code; shift 2
	r=$(mreq "$@")
	code=$(echo "$r" | http_code)
	[ "$code" = "$want" ] && echo "$r" | head -n 1 | grep -q '^{"error":"[^"]'
	ok $? "bad input, $what: $want with a reason (got $code: $(echo "$r" | head -n 1 | cut -c1-90))"
}
bad 403 "another user's SAE" a1 un1 POST /mu/v1/saes '{"saes": ["other"]}'
bad 400 "malformed JSON" a1 un1 POST /mu/v1/saes '{"saes": ["app1"'
bad 400 "unknown field" a1 un1 POST /mu/v1/saes '{"saes": ["app1"], "all": true}'
bad 400 "saes not an array" a1 un1 POST /mu/v1/saes '{"saes": "app1"}'
bad 400 "malformed JSON on Mx" a1 mgr-b POST /mx/v1/alarms '[1,'
bad 400 "bad severity on Mx" a1 mgr-b POST /mx/v1/alarms '{"min_severity": 5}'
bad 404 "unknown resource on Mu" a1 un1 GET /mu/v1/accounts
bad 404 "unknown resource on Mx" a1 mgr-b GET /mx/v1/topology
bad 405 "DELETE" a1 un1 DELETE /mu/v1/saes
bad 405 "POST to the summary" a1 mgr-b POST /mx/v1/summary '{}'
bad 400 "a GET with a body" a1 un1 GET /mu/v1/saes '{"saes": ["other"]}'
big=$("$QKD_PY" -c 'import json; print(json.dumps({"saes": ["app1"] * 400}))')
r=$(mreq a1 un1 POST /mu/v1/saes "$big")
[ "$(echo "$r" | http_code)" = 413 ]; ok $? "bad input, oversized body: 413"
r=$(mreq a1 un1 GET /mu/v1/saes)
[ "$r" = "$(cat "$QKD_DIR/mu-before")" ] &&
[ "$(qkd_ctl a1 -j account show | grep -v '"start"')" = "$acct_before" ]
ok $? "after the bad input, a1's Mu answer and accounting are unchanged"
kill -0 "${QKD_PID[a1]}" && kill -0 "${QKD_PID[a2]}"; ok $? "a1 and a2 still run"

# ---- no key byte, no key ID --------------------------------------------
leaks=0
while read -r id key; do
	hex=$(echo "$key" | base64 -d | od -An -tx1 | tr -d ' \n')
	grep -qF -e "$key" -e "$hex" -e "$id" "$OUT/all" && leaks=$((leaks + 1))
done < "$QKD_DIR/keys"
[ "$(wc -l < "$QKD_DIR/keys")" = 9 ] && [ $leaks = 0 ]
ok $? "none of the 9 keys (bytes or IDs) is in any Mx/Mu answer"
tap_done
