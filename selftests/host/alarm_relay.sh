#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fault management of the relay (issue 19, acceptance 6), on a line
# A-B-C with keys relayed from A to C through B:
#
#  1. a relay authentication failure (B, a test build, flips a bit of a
#     sealed key): C raises relay-auth:B, a security alarm, and A, the
#     source, relay:C; the next key that relays clears both;
#  2. the relay node B killed (SIGKILL): its neighbours A and C both
#     raise kx:B (peer down); a request at A for C's SAE raises relay:C,
#     marked as caused by kx:B (root-cause grouping); B restarted, every
#     alarm clears;
#  3. each raise and clear reaches a journal socket ($QKD_JOURNAL_SOCKET)
#     as journald's native protocol, read by a listener written from
#     systemd's description of it, with QKD_ALARM_* fields.
set -u
. "$(dirname "$0")/relay_lib.sh"
QKD_TIMEOUT=100
qkd_setup alarm-relay || exit 1
hooks=$QKD_TOP/daemon/build/hooks/qkdkmd
make -s -C "$QKD_TOP/daemon" build/hooks/qkdkmd >/dev/null
ok $? "test build of qkdkmd with -DQKD_TEST_HOOKS"
relay_topo A-B B-C || { echo "not ok 2 - configs"; exit 1; }

# A journald stand-in for A: one datagram per entry, NAME=value lines
# (a value with a newline would come as NAME\n, a 64-bit LE length, the
# bytes, \n); each entry is written out as a JSON line.
"$QKD_PY" -c '
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a")
while True:
    d, f, i = s.recv(65536), {}, 0
    while i < len(d):
        nl = d.index(b"\n", i)
        line = d[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            n = struct.unpack("<Q", d[nl + 1:nl + 9])[0]
            k, v = line, d[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        f[k.decode()] = v.decode()
    out.write(json.dumps(f) + "\n"); out.flush()
' "$QKD_DIR/journal.sock" "$QKD_DIR/journal.jsonl" & jpid=$!
for ((i = 0; i < 50; i++)); do [ -S "$QKD_DIR/journal.sock" ] && break; sleep 0.1; done

QKD_WRAP="env QKD_JOURNAL_SOCKET=$QKD_DIR/journal.sock" qkd_start A &&
QKDKMD=$hooks qkd_start B && qkd_start C &&
qkd_wait_peers A && qkd_wait_peers B && qkd_wait_peers C
ok $? "line A-B-C up, B is the test build, A logs to a journal socket"
relay_wait_route A C; ok $? "A has a route to C"
qkd_settle
relay_pair_diag A app1 C app3; ok $? "a key relays A->C"

# alarm NODE SOURCE: NODE's active alarm SOURCE as JSON, or fail.
alarm() {
	qkd_ctl "$1" -j alarm show 2>/dev/null | "$QKD_PY" -c '
import json, sys
for a in json.load(sys.stdin)["active"]:
    if a["source"] == sys.argv[1]:
        print(json.dumps(a)); sys.exit(0)
sys.exit(1)' "$2"
}
# wait_alarm NODE SOURCE PYEXPR: until alarm SOURCE at NODE makes PYEXPR
# (over "a") true, within 8 s; its text goes to a TAP comment.
wait_alarm() {
	local i j
	for ((i = 0; i < 80; i++)); do
		j=$(alarm "$1" "$2") &&
		echo "$j" | "$QKD_PY" -c "import json,sys; a=json.load(sys.stdin); sys.exit(0 if ($3) else 1)" && {
			diag "$1 $2: $(echo "$j" | relay_py "d['text']")"
			return 0
		}
		sleep 0.1
	done
	diag "$1 $2: ${j:-no such alarm}"
	return 1
}
wait_clear() {
	local i
	for ((i = 0; i < 80; i++)); do
		alarm "$1" "$2" >/dev/null || return 0
		sleep 0.1
	done
	return 1
}
n_active() {
	qkd_ctl "$1" -j alarm show | "$QKD_PY" -c \
		'import json,sys; print(len(json.load(sys.stdin)["active"]))'
}
[ "$(n_active A)" = 0 ] && [ "$(n_active B)" = 0 ] && [ "$(n_active C)" = 0 ]
ok $? "no alarm anywhere"

# ---- 1. relay authentication failure ---------------------------------------
relay_ctl B '{"cmd":"test tamper"}' | grep -q '"armed"'
ok $? "tamper hook armed at B"
qkd_enc A app1 app3 "number=1" >/dev/null
wait_alarm C relay-auth:B 'a["event_type"] == "securityService" and a["probable_cause"] == "integrityViolation" and a["object"] == "relay-hop=B>C" and a["severity"] == "critical" and "failed its ITS MAC check" in a["text"] and "inspect node B" in a["text"]'
ok $? "C (detecting) raises relay-auth:B: a security alarm naming the hop"
wait_alarm A relay:C 'a["object"] == "relay=A>C" and "refused at C" in a["text"] and "altered on the way" in a["text"]'
ok $? "A (source) raises relay:C: refused at C, altered on the way"
relay_pair_diag A app1 C app3; ok $? "the next key relays"
wait_clear C relay-auth:B && wait_clear A relay:C
ok $? "both alarms clear once a key authenticates again"

# ---- 2. the relay node killed --------------------------------------------------
qkd_stop B KILL
wait_alarm A kx:B 'a["object"] == "peer=B" and a["event_type"] == "communications" and "check that qkdkmd runs on B" in a["text"]'
ok $? "B killed: A raises kx:B (peer down, what to check)"
wait_alarm C kx:B 'a["object"] == "peer=B" and "qkdkmd runs on B" in a["text"]'
ok $? "B killed: C raises kx:B too"
sleep 0.5
out=$(qkd_enc A app1 app3 "number=1")
[ "$(echo "$out" | http_code)" = 503 ]; ok $? "enc_keys at A for app3 fails (503) while B is down"
kxid=$(alarm A kx:B | relay_py "d['id']")
wait_alarm A relay:C "a['root'] == 'kx:B' and a.get('root_id') == $kxid and a['probable_cause'] == 'routingFailure' and 'no relay route from A to C' in a['text']"
ok $? "A raises relay:C, caused by kx:B (root alarm $kxid)"
qkd_ctl A alarm show | grep -q "caused by alarm $kxid (kx:B)"
ok $? "alarm show says so in text"
QKDKMD=$hooks qkd_start B && qkd_wait_peers A && qkd_wait_peers C
ok $? "B restarted"
wait_clear A kx:B && wait_clear C kx:B
ok $? "kx:B clears at A and C"
relay_wait_route A C 50
relay_pair_diag A app1 C app3; ok $? "keys relay A->C again"
wait_clear A relay:C; ok $? "relay:C clears at A"
[ "$(n_active A)" = 0 ] && [ "$(n_active B)" = 0 ] && [ "$(n_active C)" = 0 ]
ok $? "no alarm left anywhere"
qkd_ctl A -j alarm history | "$QKD_PY" -c '
import json, sys
h = [a["source"] for a in json.load(sys.stdin)["history"]]
assert "kx:B" in h and "relay:C" in h, h'
ok $? "A's history holds kx:B and relay:C"

# ---- 3. the journal --------------------------------------------------------------
"$QKD_PY" -c '
import json, sys
e = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in e if x.get("QKD_ALARM_SOURCE") == "kx:B" and x["QKD_ALARM_EVENT"] == "raised"]
c = [x for x in e if x.get("QKD_ALARM_SOURCE") == "kx:B" and x["QKD_ALARM_EVENT"] == "cleared"]
rc = [x for x in e if x.get("QKD_ALARM_SOURCE") == "relay:C" and x["QKD_ALARM_EVENT"] == "raised" and x.get("QKD_ALARM_ROOT")]
assert r and c and rc, e
x = r[-1]
assert x["QKD_ALARM_OBJECT"] == "peer=B" and x["QKD_ALARM_TYPE"] == "communications"
assert x["QKD_ALARM_SEVERITY"] == "major" and x["PRIORITY"] == "4"
assert x["MESSAGE"].startswith("alarm raised: kx:B: ") and x["SYSLOG_IDENTIFIER"] == "qkdkmd"
assert c[-1]["QKD_ALARM_SEVERITY"] == "cleared" and c[-1]["PRIORITY"] == "5"
assert c[-1]["QKD_ALARM_ID"] == x["QKD_ALARM_ID"]
' "$QKD_DIR/journal.jsonl"
ok $? "the journal got kx:B raised and cleared, relay:C with its root, as QKD_ALARM_* fields"
! grep -q "alarm raised: kx:B" "$QKD_DIR/A.log"
ok $? "what went to the journal is not repeated on stderr"
kill "$jpid" 2>/dev/null
tap_done
