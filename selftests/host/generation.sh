#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 19, key generation control (Y.3802 10.2) on a sim link A-B: the
# operator stops generation at A with "qkdctl link generation AB stop",
# the manager stops it at B over Mk (PUT /api/v1/links/AB/generation);
# then no block is confirmed at either end any more, the pool stops
# growing, link show and qkd_link_generation_running say stopped.  Started
# again (the other way round), blocks flow and a key pair is delivered.
# The Mk endpoint refuses a monitor-role client (403), bad bodies (400),
# an unknown link (404); the audit log names the admin's certificate.
# promtool checks the /metrics text with a link stopped.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgmt_lib.sh"
qkd_setup generation || exit 1
QKD_TIMEOUT=${QKD_TIMEOUT:-90}
if ! command -v promtool >/dev/null || ! command -v jq >/dev/null; then
	ok 1 "promtool (prometheus) and jq are installed (.ci/deps)"
	tap_done
	exit 1
fi
qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
D=$QKD_DIR
mgmt_listen A B || { echo "not ok 1 - certificates"; exit 1; }

# gen NODE CN LINK BODY: PUT /api/v1/links/LINK/generation
gen() {
	mgmt "$1" "$2" PUT "/api/v1/links/$3/generation" \
		-H 'Content-Type: application/json' --data-binary "$4"
}
# field NODE JQ: a field of NODE's one link in "pool show" or "link show".
pool() { qkd_ctl "$1" -j pool show | jq -r ".[0].$2"; }
link() { qkd_ctl "$1" -j link show | jq -r ".[0].$2"; }
# metric NODE SERIES: its value in NODE's /metrics, "" if absent.
metric() {
	mgmt "$1" monitor GET /metrics | http_body | awk -v s="$2" '$1 == s { print $2 }'
}

qkd_start A && qkd_start B; ok $? "A and B start with [metrics] admin_clients"
qkd_wait_peers A && qkd_wait_peers B; ok $? "Kx channel A-B up"
qkd_settle
S='qkd_link_generation_running{link="AB",peer="B"}'

[ "$(link A generation)" = running ] && [ "$(metric A "$S")" = 1 ]
ok $? "A: generation running, $S 1"
run0=$(pool A avail)

# ---- the Mk endpoint's refusals change nothing ------------------------------

refused 403 "a monitor-role client may not stop generation" \
	"$(gen B monitor AB '{"state":"stopped"}')"
refused 400 "malformed JSON" "$(gen B admin AB '{"state":')"
refused 400 "an unknown state" "$(gen B admin AB '{"state":"paused"}')"
refused 400 "an extra field" "$(gen B admin AB '{"state":"stopped","x":1}')"
refused 404 "an unknown link" "$(gen B admin XY '{"state":"stopped"}')"
[ "$(link B generation)" = running ]; ok $? "B still running after those"

# ---- stop: qkdctl at A, Mk at B -----------------------------------------------

out=$(qkd_ctl A link generation AB stop)
echo "$out" | grep -q '^    generation stopped'
ok $? "qkdctl link generation AB stop: $(echo "$out" | sed -n 2p)"
out=$(gen B admin AB '{"state":"stopped"}')
[ "$(echo "$out" | http_code)" = 200 ] &&
	[ "$(echo "$out" | http_body | jq -r .generation)" = stopped ]
ok $? "PUT /api/v1/links/AB/generation {stopped} at B: 200, generation stopped"
# The sim's window (4 s) slides on: what was made before the stop and not
# yet confirmed leaves it; what confirmation holds already stays.
sleep 3
a0=$(pool A avail); b0=$(pool B avail)
sleep 3
a1=$(pool A avail); b1=$(pool B avail)
((a1 <= a0 && b1 <= b0)); ok $? "stopped: the pools do not grow in 3 s (A $a0 -> $a1, B $b0 -> $b1 bytes)"
((a0 < run0 / 4)); ok $? "stopped: A's pool fell to what confirmation holds ($run0 -> $a0 bytes)"
[ "$(link A generation)" = stopped ] && [ "$(link A state)" = down ] &&
	[ "$(metric A "$S")" = 0 ] && [ "$(metric B "${S/peer=\"B\"/peer=\"A\"}")" = 0 ]
ok $? "link show: generation stopped, state down; $S 0 at both ends"
[ "$(metric A 'qkd_link_key_rate_bytes_per_second{link="AB",peer="B"}')" = 0 ]
ok $? "the sim's secret key rate is 0 while stopped"
mgmt A monitor GET /metrics | http_body > "$D/metrics.txt"
promtool check metrics < "$D/metrics.txt" > "$D/promtool.out" 2>&1
ok $? "promtool check metrics passes with a link stopped$(head -c 300 "$D/promtool.out")"
! grep -q '^qkd_link_qber_ratio{' "$D/metrics.txt"
ok $? "no qkd_link_qber_ratio for a sim link (it has no QBER)"

# ---- start again: Mk at A, qkdctl at B ----------------------------------------

out=$(gen A admin AB '{"state":"running"}')
[ "$(echo "$out" | http_code)" = 200 ] &&
	[ "$(echo "$out" | http_body | jq -r .generation)" = running ]
ok $? "PUT {running} at A: 200, generation running"
qkd_ctl B link generation AB start | grep -q '^    generation running'
ok $? "qkdctl link generation AB start at B"
sleep 3; a2=$(pool A avail)
((a2 > a1 * 4)); ok $? "running again: A's pool grows ($a1 -> $a2 bytes)"
[ "$(metric A "$S")" = 1 ] && [ "$(link A state)" = up ]
ok $? "$S 1, state up"
all_ids=$D/ids
enc=$(qkd_enc A app1 app2)
qkd_check_pair "app1 -> app2 after the restart of generation" "$enc" B app2 app1 1 32

# ---- the audit log -------------------------------------------------------------

serial=$(openssl x509 -noout -serial -in "$D/admin.pem" | cut -d= -f2)
"$QKD_PY" - "$D/state-A/audit.log" "$D/state-B/audit.log" "$serial" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
done = [r for r in b if r["outcome"] == "done"]
assert len(done) == 1, done
r = done[0]
assert r["cn"] == "admin" and r["serial"].upper() == sys.argv[3].upper(), r
assert r["method"] == "PUT" and r["resource"] == "/api/v1/links/AB/generation", r
assert r["change"] == {"op": "link generation", "link": "AB", "state": "stopped"}, r
refused = sorted(r["status"] for r in b if r["outcome"] == "refused")
assert refused == [400, 400, 400, 404], refused
assert [r["change"]["state"] for r in a if r["outcome"] == "done"] == ["running"], a
PY
ok $? "audit.log: the admin's certificate (CN, serial $serial) for each change, the refusals with status"
grep -q 'provision: link AB generation stopped by CN "admin"' "$D/B.log"
ok $? "B's log names who stopped generation"

qkd_stop A; ok $? "A stops cleanly"
qkd_stop B; ok $? "B stops cleanly"
tap_done
