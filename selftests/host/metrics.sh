#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 19, performance management: /metrics on every node of the
# examples/mesh12 topology, checked by Debian's promtool; a cut link and a
# killed peer change the right series; only the CNs of [metrics] clients
# are served; no key byte in any node's output.
#
#	A - B - C - D
#	| \ |   |   |
#	E - F - G - H
#	|   |   | \ |
#	I - J - K - L
set -u
. "$(dirname "$0")/relay_lib.sh"
QKD_TIMEOUT=${QKD_TIMEOUT:-120}
qkd_setup metrics || exit 1
if ! command -v promtool >/dev/null; then
	ok 1 "promtool (Debian's prometheus package, .ci/deps) is installed"
	tap_done
	exit 1
fi
relay_topo A-B B-C C-D E-F F-G G-H I-J J-K K-L \
	A-E B-F C-G D-H E-I F-J G-K H-L A-F G-L || { echo "not ok 1 - configs"; exit 1; }
declare -A MPORT
for i in "${!QKD_NODES[@]}"; do
	n=${QKD_NODES[$i]}
	MPORT[$n]=$((QKD_PORT_BASE + 50 + i))
	printf '[metrics]\nlisten = 127.0.0.1:%s\nclients = prometheus, grafana-agent\n\n' \
		"${MPORT[$n]}" >> "$QKD_DIR/$n.conf"
done
qkd_cert prometheus && qkd_cert grafana-agent && qkd_cert intruder || { echo "not ok 1 - certificates"; exit 1; }

# scrape NODE [CN]: /metrics of NODE as CN (default prometheus; "" for no
# client certificate): the body, then "HTTP <code>".
scrape() {
	local cn=${2-prometheus} cert=()
	[ -n "$cn" ] && cert=(--cert "$QKD_DIR/$cn.pem" --key "$QKD_DIR/$cn.key")
	curl -sS --max-time 10 --cacert "$QKD_DIR/ca.pem" "${cert[@]}" \
		-w '\nHTTP %{http_code}\n' "https://127.0.0.1:${MPORT[$1]}/metrics"
}

# value FILE SERIES: the value of the sample SERIES (name{labels}) in FILE.
value() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }

# wait_value NODE SERIES WANT: scrape NODE until SERIES is WANT (10 s).
wait_value() {
	local i got
	for ((i = 0; i < 50; i++)); do
		scrape "$1" | http_body > "$QKD_DIR/$1.now"
		got=$(value "$QKD_DIR/$1.now" "$2")
		[ "$got" = "$3" ] && return 0
		sleep 0.2
	done
	diag "$1: $2 is '$got', expected $3"
	return 1
}

t0=$(date +%s)
relay_start_all; ok $? "12 daemons start with [metrics], every Kx channel up"
diag "start-up took $(($(date +%s) - t0)) s"
relay_wait_route A L; ok $? "A has a route to L"
qkd_settle

# Keys first, direct (A-B) and relayed (A-F-G-L), to look for them after.
relay_pair_diag A app1 B app2 "number=4"; ok $? "A->B: identical keys"
echo "$RELAY_LAST_ENC" | http_body | keys_of > "$QKD_DIR/keys"
relay_pair_diag A app1 L app12 "number=2"; ok $? "A->L (relayed): identical keys"
echo "$RELAY_LAST_ENC" | http_body | keys_of >> "$QKD_DIR/keys"
qkd_curl A prometheus /api/v1/keys/app2/status >/dev/null	# 401: no SAE

# check_node NODE: scrape it and run promtool on the text; the reason
# in NODE.bad if either fails.  All nodes at once: promtool is slow to start.
check_node() {
	local out code
	out=$(scrape "$1")
	code=$(echo "$out" | http_code)
	echo "$out" | http_body > "$QKD_DIR/$1.prom"
	if [ "$code" != 200 ]; then
		echo "HTTP $code" > "$QKD_DIR/$1.bad"
	elif ! promtool check metrics < "$QKD_DIR/$1.prom" > "$QKD_DIR/$1.lint" 2>&1; then
		echo "promtool: $(head -n 3 "$QKD_DIR/$1.lint")" > "$QKD_DIR/$1.bad"
	fi
}
pids=()
for n in "${QKD_NODES[@]}"; do
	check_node "$n" & pids+=($!)
done
wait "${pids[@]}"
bad=0
for n in "${QKD_NODES[@]}"; do
	[ -e "$QKD_DIR/$n.bad" ] || continue
	diag "$n: $(cat "$QKD_DIR/$n.bad")"; bad=$((bad + 1))
done
[ $bad -eq 0 ]; ok $? "promtool check metrics passes on all 12 nodes' /metrics"

# promtool itself must catch a broken exposition, or the check above is idle.
! sed 's/^qkd_peer_up{/qkd-peer-up{/' "$QKD_DIR/A.prom" |
	promtool check metrics >/dev/null 2>&1
ok $? "promtool refuses the same text with a bad metric name"

A=$QKD_DIR/A.prom
[ "$(value "$A" 'qkd_node_info{node="A"}')" = 1 ] &&
[ "$(value "$A" 'qkd_link_up{link="AB",peer="B"}')" = 1 ] &&
[ "$(value "$A" 'qkd_link_admin_up{link="AB",peer="B"}')" = 1 ] &&
[ "$(value "$A" 'qkd_peer_up{peer="B"}')" = 1 ] &&
[ "$(value "$A" 'qkd_peer_state{peer="B",state="up"}')" = 1 ] &&
[ "$(value "$A" 'qkd_pool_level{link="AB",peer="B",level="ready"}')" = 1 ]
ok $? "A: node, link AB and peer B up, pool AB ready"
# A->B: 4 keys of 256 bits, A's allocations on AB.
[ "$(value "$A" 'qkd_link_key_bytes_total{link="AB",peer="B",direction="out"}')" -ge 128 ] &&
[ "$(value "$QKD_DIR/B.prom" 'qkd_link_key_bytes_total{link="AB",peer="A",direction="in"}')" -ge 128 ]
ok $? "key bytes out of A on AB, into B on AB"
[ "$(value "$A" 'qkd_etsi014_requests_total{endpoint="enc_keys",method="GET",code="200"}')" = 2 ] &&
[ "$(value "$A" 'qkd_etsi014_requests_total{endpoint="status",method="GET",code="401"}')" = 1 ] &&
[ "$(value "$A" 'qkd_etsi014_request_duration_seconds_count{endpoint="enc_keys"}')" = 2 ] &&
[ "$(value "$A" 'qkd_etsi014_request_duration_seconds_bucket{endpoint="enc_keys",le="+Inf"}')" = 2 ] &&
[ "$(value "$QKD_DIR/L.prom" 'qkd_etsi014_requests_total{endpoint="dec_keys",method="POST",code="200"}')" = 1 ]
ok $? "ETSI 014 requests by endpoint, method and status, and their latency histogram"
[ "$(value "$A" 'qkd_relay_sessions_started_total')" -ge 1 ] &&
[ "$(value "$QKD_DIR/L.prom" 'qkd_relay_keys_delivered_total')" -ge 1 ] &&
[ "$(value "$QKD_DIR/F.prom" 'qkd_relay_keys_forwarded_total')" -ge 1 ]
ok $? "relay sessions: started at A, forwarded by F, delivered at L"
[ "$(value "$A" 'qkd_sae_pair_keys_supplied_total{master="app1",slave="app2"}')" = 4 ]
ok $? "A supplied 4 keys to the pair app1/app2"

# No key byte: every key fetched, in base64 and in hex, in no node's output.
leaks=0
while read -r _ key; do
	hex=$(echo "$key" | base64 -d | od -An -tx1 | tr -d ' \n')
	grep -qF -e "$key" -e "$hex" "$QKD_DIR"/*.prom && leaks=$((leaks + 1))
done < "$QKD_DIR/keys"
[ -s "$QKD_DIR/keys" ] && [ $leaks -eq 0 ]
ok $? "none of the $(wc -l < "$QKD_DIR/keys") keys fetched is in any /metrics output"

# Only [metrics] clients.
out=$(scrape A intruder 2>&1)
[ "$(echo "$out" | http_code)" = 403 ] && ! echo "$out" | grep -q '^qkd_'
ok $? "a client whose CN is not in [metrics] clients gets 403 and no series"
out=$(scrape A "" 2>&1)
code=$(echo "$out" | http_code)
[ "$code" = 000 ] && ! echo "$out" | grep -q '^qkd_'
ok $? "a client without a certificate is refused in the handshake (got $code)"
out=$(scrape A grafana-agent)
[ "$(echo "$out" | http_code)" = 200 ]; ok $? "the second CN of clients is served"
out=$(curl -sS --max-time 10 --cacert "$QKD_DIR/ca.pem" --cert "$QKD_DIR/prometheus.pem" \
	--key "$QKD_DIR/prometheus.key" -w '\nHTTP %{http_code}\n' \
	"https://127.0.0.1:${MPORT[A]}/keys")
[ "$(echo "$out" | http_code)" = 404 ]; ok $? "another path is 404"

# Cut A-B out of routing: A's link AB admin gauge goes to 0.
qkd_ctl A link down B >/dev/null; ok $? "qkdctl link down B at A"
wait_value A 'qkd_link_admin_up{link="AB",peer="B"}' 0
ok $? "A: qkd_link_admin_up of AB is 0 after link down"
[ "$(value "$QKD_DIR/A.now" 'qkd_peer_up{peer="B"}')" = 1 ]
ok $? "A: the Kx channel to B is still up (routing only)"
qkd_ctl A link up B >/dev/null
wait_value A 'qkd_link_admin_up{link="AB",peer="B"}' 1
ok $? "A: back to 1 after link up"

# Kill B: its neighbours see the peer go down.
qkd_stop B KILL
wait_value A 'qkd_peer_up{peer="B"}' 0 &&
[ "$(value "$QKD_DIR/A.now" 'qkd_peer_state{peer="B",state="up"}')" = 0 ]
ok $? "B killed: A's qkd_peer_up for B is 0, its state no longer up"
wait_value A 'qkd_alarm_active{source="kx:B",severity="major"}' 1 &&
[ "$(value "$QKD_DIR/A.now" 'qkd_alarms_active{severity="major"}')" -ge 1 ]
ok $? "B killed: A has a major alarm kx:B, counted in qkd_alarms_active by severity"
wait_value C 'qkd_peer_up{peer="B"}' 0 &&
[ "$(value "$QKD_DIR/C.now" 'qkd_peer_up{peer="D"}')" = 1 ]
ok $? "B killed: C sees B down and D still up"
promtool check metrics < "$QKD_DIR/A.now" >/dev/null 2>&1
ok $? "promtool check metrics passes on A with a peer down"
# The examples: the scrape config is valid for promtool with the test's
# certificate files, and every series the dashboard queries exists.
cp "$QKD_TOP/examples/prometheus/prometheus.yml" "$QKD_DIR/"
promtool check config "$QKD_DIR/prometheus.yml" >/dev/null 2>&1
ok $? "promtool check config passes on examples/prometheus/prometheus.yml"
missing=$("$QKD_PY" - "$QKD_TOP/examples/grafana/qkdn-dashboard.json" "$A" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
have = {l.split()[2] for l in open(sys.argv[2]) if l.startswith("# TYPE ")}
names = set()
for p in dash["panels"]:
    for t in p["targets"]:
        names |= set(re.findall(r"qkd_[a-z0-9_]+", t["expr"]))
names.add("qkd_node_info")	# the node variable's query
for n in sorted(names):
    if re.sub(r"_bucket$", "", n) not in have:
        print(n)
PY
)
[ -z "$missing" ]; ok $? "examples/grafana/qkdn-dashboard.json is JSON and queries only series A exposes${missing:+ (missing: $missing)}"
grep -q "metrics: client certificate CN \"intruder\" is not in \[metrics\] clients" "$QKD_DIR/A.log"
ok $? "A logged the refused CN"
tap_done
