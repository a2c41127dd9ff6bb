#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 19, Mx notifications and per-manager CAs (Documentation/qkd/
# mx-mu.rst).  Node a1 (peer a2) tells three managers of other domains of
# its alarms, each through a receiver written in Python from the event
# format (mx_notify_receiver.py):
#
#	domain-b: CN mgr-b, its own CA caB ("ca ="), alarms from major,
#		  notify_queue 2;
#	domain-c: CN mgr-c, our SAE CA, alarms from critical only;
#	domain-d: CN mgr-d, but its receiver's certificate says mgr-evil.
#
# a2 killed and restarted raises and clears a1's major alarm kx:a2:
# domain-b gets "raised" then "cleared" in sequence, domain-c nothing
# (policy), domain-d nothing (wrong CN, then the alarm manager:domain-d).
# With domain-b's receiver away, three events overflow its queue of 2:
# once it is back the oldest is missing, counted in "dropped", and a poll
# of /mx/v1/alarms resyncs it.  mgr-b is authenticated by caB only: its CN
# on a certificate of our CA, or caB's certificate for another client,
# is refused.
set -u
. "$(dirname "$0")/lib.sh"
QKD_TIMEOUT=${QKD_TIMEOUT:-150}
qkd_setup mx_notify || exit 1
qkd_line a1 a2 || { echo "not ok 1 - configs"; exit 1; }
MPORT=$((QKD_PORT_BASE + 40))
RB=$((QKD_PORT_BASE + 41)) RC=$((QKD_PORT_BASE + 42)) RD=$((QKD_PORT_BASE + 43))
cat >> "$QKD_DIR/a1.conf" <<EOF
[metrics]
listen = 127.0.0.1:$MPORT
clients = prometheus

[manager domain-b]
cert_cn = mgr-b
role = mx
show = alarms summary
min_severity = major
ca = caB.pem
notify = https://127.0.0.1:$RB/qkd/events
notify_queue = 2

[manager domain-c]
cert_cn = mgr-c
role = mx
show = alarms
min_severity = critical
notify = https://127.0.0.1:$RC/events

[manager domain-d]
cert_cn = mgr-d
role = mx
show = alarms
min_severity = warning
notify = https://127.0.0.1:$RD/events

EOF
# caB: domain B's own CA.  mgr-b-ours: the CN mgr-b from our CA;
# prom-caB: a [metrics] client's CN from caB; mgr-c-caB likewise.
qkd_ca caB && qkd_cert mgr-b caB &&
for cn in mgr-b prometheus mgr-c; do
	qkd_cert $cn caB && mv "$QKD_DIR/$cn.pem" "$QKD_DIR/$cn-caB.pem" &&
	mv "$QKD_DIR/$cn.key" "$QKD_DIR/$cn-caB.key" || exit 1
done && qkd_cert mgr-b && mv "$QKD_DIR/mgr-b.pem" "$QKD_DIR/mgr-b-ours.pem" &&
mv "$QKD_DIR/mgr-b.key" "$QKD_DIR/mgr-b-ours.key" &&
qkd_cert mgr-c && qkd_cert mgr-d && qkd_cert mgr-evil && qkd_cert prometheus ||
	{ echo "not ok 1 - certificates"; exit 1; }

OUT=$QKD_DIR/out
mkdir -p "$OUT"
declare -A RPID
receiver() {	# NAME PORT CERT PATH: start it, log in $OUT/NAME.log
	: > "$OUT/$1.out"
	"$QKD_PY" "$(dirname "$0")/mx_notify_receiver.py" "$2" \
		"$QKD_DIR/$3.pem" "$QKD_DIR/$3.key" "$QKD_DIR/ca.pem" "$4" \
		"$OUT/$1.log" > "$OUT/$1.out" 2>&1 &
	RPID[$1]=$!
	for ((i = 0; i < 50; i++)); do
		grep -q listening "$OUT/$1.out" && return 0
		sleep 0.1
	done
	return 1
}
receiver_stop() { kill "${RPID[$1]}"; wait "${RPID[$1]}" 2>/dev/null; }
cleanup_receivers() { for r in "${RPID[@]}"; do kill "$r" 2>/dev/null; done; qkd_cleanup; }
trap cleanup_receivers EXIT
# mreq CERT METHOD PATH: a1's answer body, then "HTTP <code>".
mreq() {
	curl -sS --max-time 10 --cacert "$QKD_DIR/ca.pem" \
		--cert "$QKD_DIR/$1.pem" --key "$QKD_DIR/$1.key" -X "$2" \
		-w '\nHTTP %{http_code}\n' "https://127.0.0.1:$MPORT$3" 2>/dev/null
}
# events NAME EXPR: a Python expression over "ev", the events NAME's
# receiver logged (each {"peer", "event"} or {"bad"}).
events() {
	"$QKD_PY" -c '
import json, sys
try:
    ev = [json.loads(l) for l in open(sys.argv[1])]
except FileNotFoundError:
    ev = []
print(eval(sys.argv[2]))' "$OUT/$1.log" "$2"
}
# wait_for COND...: up to 20 s.
wait_for() {
	for ((w = 0; w < 100; w++)); do "$@" && return 0; sleep 0.2; done
	return 1
}
n_events() { [ "$(events "$1" 'len(ev)')" -ge "$2" ]; }
has_alarm() { qkd_ctl a1 alarm show 2>/dev/null | grep -q "$1"; }

receiver b $RB mgr-b-caB /qkd/events && receiver c $RC mgr-c /events &&
receiver d $RD mgr-evil /events
ok $? "three Python receivers listen"
qkd_start a1 && qkd_start a2 && qkd_wait_peers a1
ok $? "a1 starts with three notifying [manager]s, a2 is up"

# ---- per-manager CA ---------------------------------------------------
r=$(mreq mgr-b-caB GET /mx/v1/alarms)
[ "$(echo "$r" | http_code)" = 200 ] && echo "$r" | grep -q '"notify":{"seq":0,"dropped":0}'
ok $? "mgr-b with a certificate of its own CA caB reads /mx/v1/alarms, notify seq 0"
r=$(mreq mgr-b-ours GET /mx/v1/alarms)
[ "$(echo "$r" | http_code)" = 000 ] &&
grep -q 'refused client certificate CN "mgr-b": it is \[manager domain-b\]'"'"'s CN, and its certificate does not chain to that manager'"'"'s ca' "$QKD_DIR/a1.log"
ok $? "the CN mgr-b on a certificate of our SAE CA is refused, and a1 says why"
r=$(mreq mgr-c-caB GET /mx/v1/alarms)
[ "$(echo "$r" | http_code)" = 000 ]
ok $? "mgr-c (no ca of its own) with a certificate of caB is refused"
r=$(mreq prometheus-caB GET /metrics)
[ "$(echo "$r" | http_code)" = 000 ] && [ "$(mreq prometheus GET /metrics | http_code)" = 200 ]
ok $? "a [metrics] client's CN on a caB certificate is refused; from our CA it scrapes"
r=$(mreq mgr-c GET /mx/v1/alarms)
[ "$(echo "$r" | http_code)" = 200 ]
ok $? "mgr-c with our CA's certificate reads /mx/v1/alarms"

# ---- raise and clear ----------------------------------------------------
qkd_stop a2 KILL
wait_for n_events b 1
ok $? "a2 killed: domain-b's receiver gets an event"
[ "$(events b '[(e["peer"], e["event"]["seq"], e["event"]["event"], e["event"]["alarm"]["object"], e["event"]["alarm"]["severity"], e["event"]["dropped"], e["event"]["node"], e["event"]["manager"]) for e in ev]')" = "[('a1', 1, 'raised', 'peer=a2', 'major', 0, 'a1', 'domain-b')]" ]
ok $? "event 1: raised, peer=a2, major, sent by a1 to domain-b ($(events b ev))"
qkd_start a2 && wait_for n_events b 2
[ "$(events b '[(e["event"]["seq"], e["event"]["event"], e["event"]["alarm"]["object"], e["event"]["alarm"]["cleared"] >= e["event"]["alarm"]["since"]) for e in ev[1:]]')" = "[(2, 'cleared', 'peer=a2', True)]" ] &&
[ "$(events b 'ev[0]["event"]["alarm"]["id"] == ev[1]["event"]["alarm"]["id"] and ev[0]["event"]["boot"] == ev[1]["event"]["boot"]')" = True ]
ok $? "a2 back: event 2 clears the same alarm, same boot"
wait_for has_alarm manager:domain-d
ok $? "domain-d's receiver has the wrong CN: a1 raises manager:domain-d"
qkd_ctl a1 alarm show | grep manager:domain-d | grep -q 'certificate (CN "mgr-evil"'
ok $? "its cause names the CN mgr-evil ($(qkd_ctl a1 alarm show | grep -o 'manager:domain-d.*' | cut -c1-160))"
[ "$(events d 'len(ev)')" = 0 ]
ok $? "nothing was delivered to the mgr-evil receiver"
r=$(mreq mgr-d GET /mx/v1/alarms)
[ "$(echo "$r" | http_body | "$QKD_PY" -c 'import json, sys; d = json.load(sys.stdin)
print(d["notify"]["seq"], sorted(a["object"] for a in d["active"]))')" = "2 ['manager=domain-d']" ]
ok $? "domain-d's own alarm is in its poll but made no event for it: seq 2, the raise and clear of peer=a2"
[ "$(events c 'len(ev)')" = 0 ]
ok $? "domain-c (critical only) got no event of the major alarm"
[ "$(events b '[e["event"]["alarm"]["object"] for e in ev if "bad" not in e]')" = "['peer=a2', 'peer=a2']" ] &&
[ "$(events b 'len([e for e in ev if "bad" in e])')" = 0 ]
ok $? "domain-b got only peer=a2 events (not the minor manager:domain-d), none malformed"

# ---- receiver away: overflow, gap, resync -------------------------------
receiver_stop b
qkd_stop a2 KILL && wait_for has_alarm kx:a2
qkd_start a2 && qkd_wait_peers a1 && for ((w = 0; w < 100; w++)); do has_alarm kx:a2 || break; sleep 0.2; done
qkd_stop a2 KILL && wait_for has_alarm kx:a2
ok $? "with domain-b away: kx:a2 raised, cleared, raised (events 3, 4, 5)"
wait_for has_alarm manager:domain-b
ok $? "domain-b unreachable: manager:domain-b raised"
receiver b $RB mgr-b-caB /qkd/events && wait_for n_events b 4
[ "$(events b '[(e["event"]["seq"], e["event"]["event"], e["event"]["dropped"]) for e in ev[2:]]')" = "[(4, 'cleared', 1), (5, 'raised', 1)]" ]
ok $? "domain-b back: events 4 and 5 arrive, 3 dropped from the queue of 2 (dropped 1): $(events b '[(e["event"]["seq"], e["event"]["event"], e["event"]["dropped"]) for e in ev[2:]]')"
r=$(mreq mgr-b-caB GET /mx/v1/alarms)
[ "$(echo "$r" | http_body | "$QKD_PY" -c 'import json, sys; d = json.load(sys.stdin)
print(d["notify"], [a["object"] for a in d["active"]])')" = "{'seq': 5, 'dropped': 1} ['peer=a2']" ]
ok $? "the receiver resyncs on the gap: /mx/v1/alarms is current to seq 5, peer=a2 active"
for ((w = 0; w < 50; w++)); do has_alarm manager:domain-b || break; sleep 0.2; done
! has_alarm manager:domain-b
ok $? "delivered again: manager:domain-b cleared"
m=$(mreq prometheus GET /metrics | http_body)
echo "$m" | grep -E '^qkd_mx_notify_(events_total|delivered_total|dropped_total|queued)\{manager="domain-b"\}' > "$OUT/metrics"
[ "$(tr '\n' ' ' < "$OUT/metrics")" = 'qkd_mx_notify_events_total{manager="domain-b"} 5 qkd_mx_notify_delivered_total{manager="domain-b"} 4 qkd_mx_notify_dropped_total{manager="domain-b"} 1 qkd_mx_notify_queued{manager="domain-b"} 0 ' ] &&
echo "$m" | grep -qE '^qkd_mx_notify_failures\{manager="domain-d"\} [1-9]'
ok $? "/metrics: domain-b 5 events, 4 delivered, 1 dropped, none queued; domain-d failing ($(tr '\n' ' ' < "$OUT/metrics" | cut -c1-200))"
if command -v promtool >/dev/null; then
	echo "$m" | promtool check metrics >/dev/null 2>&1
	ok $? "promtool check metrics passes with the qkd_mx_notify_* series"
else
	skip "promtool check metrics" "no promtool"
fi

# examples/manager/mx_receiver.py in place of domain-b's receiver: no
# state yet, so it resyncs by polling, then applies the event on top.
receiver_stop b
"$QKD_PY" "$QKD_TOP/examples/manager/mx_receiver.py" --listen "127.0.0.1:$RB" \
	--path /qkd/events --ca "$QKD_DIR/ca.pem" --cert "$QKD_DIR/mgr-b-caB.pem" \
	--key "$QKD_DIR/mgr-b-caB.key" "a1=127.0.0.1:$MPORT" > "$OUT/example.out" 2>&1 &
RPID[example]=$!
sleep 1
qkd_start a2 && wait_for grep -q '"seq": 6' "$OUT/example.out"
[ "$("$QKD_PY" -c 'import json, sys
d = [json.loads(l) for l in open(sys.argv[1])][-1]
print(d["node"], d["seq"], d["resync"], d["active"])' "$OUT/example.out")" = "a1 6 True []" ]
ok $? "mx_receiver.py: a2 back, event 6 (cleared) after a resync: a1 has no alarm for domain-b ($(tail -n 1 "$OUT/example.out" | cut -c1-120))"
kill -0 "${QKD_PID[a1]}"; ok $? "a1 still runs"
# With events queued for domain-d and a connection perhaps open: the
# notifier's teardown (under QKDKMD=daemon/build/asan/qkdkmd, its leaks).
qkd_stop a1; ok $? "a1 stops on SIGTERM with exit status 0"
tap_done
