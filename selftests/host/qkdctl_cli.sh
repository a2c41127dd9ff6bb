#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qkdctl's command line in iproute2's conventions: --socket, -s meaning
# --stats everywhere (the old "-s PATH" refused with a hint), -n NETNS
# entering a real "ip netns" namespace, unambiguous prefixes of objects and
# commands (an ambiguous one lists the candidates, exit 2), "OBJECT help".
# And its views on a line A-B-C: link show's admin state after "link down",
# link generation stopping and starting a link,
# sae show for a relayed pair, key show --sae for an SAE nobody knows, and
# sa show and macsec show with nothing configured (both exit 0, empty).
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup qkdctl-cli || exit 1
ns=qkdctl-cli-$$
trap 'ip netns del "$ns" 2>/dev/null; qkd_cleanup' EXIT
qkd_line A B C || { echo "not ok 1 - certificates and configs"; exit 1; }

# fails RC PATTERN CMD...: CMD exits RC with nothing on stdout and one line
# on stderr that contains PATTERN (fixed string); the line is in $err.
fails() {
	local rc=$1 pat=$2 out got
	shift 2
	out=$("$@" 2>"$QKD_DIR/stderr"); got=$?
	err=$(cat "$QKD_DIR/stderr")
	[ "$got" = "$rc" ] && [ -z "$out" ] &&
		[ "$(wc -l <"$QKD_DIR/stderr")" = 1 ] && grep -qF -- "$pat" "$QKD_DIR/stderr"
}

# jqt FILTER: stdin is JSON for which FILTER holds (jq 1.6's -e alone
# passes empty input).
jqt() {
	local in
	in=$(cat)
	[ -n "$in" ] && jq -e "$1" <<<"$in" >/dev/null
}

for n in A B C; do
	qkd_start $n || { echo "not ok 1 - $n starts"; exit 1; }
done
ok 0 "A, B and C start"
sock=$QKD_DIR/A.sock

# ---- options ---------------------------------------------------------------

"$QKDCTL" --socket "$sock" status | grep -q '^node A '
ok $? "--socket PATH names the control socket"
QKDCTL_SOCKET=$sock "$QKDCTL" status | grep -q '^node A '
ok $? "\$QKDCTL_SOCKET still names it"
fails 2 "name the control socket with --socket PATH" "$QKDCTL" -s "$sock" status
ok $? "old spelling -s PATH: exit 2, one line pointing to --socket ($err)"
fails 2 "name the control socket with --socket PATH" "$QKDCTL" "-s$sock" status
ok $? "old spelling -sPATH: the same hint ($err)"
"$QKDCTL" -s --socket "$sock" link show | grep -q '^AB: ' &&
	"$QKDCTL" --stats --socket "$sock" -j pool show | jqt 'length == 1'
ok $? "-s and --stats are statistics, accepted with daemon commands"
fails 2 "option '--socket' needs a value" "$QKDCTL" --socket
ok $? "--socket without a value: exit 2, one line ($err)"
fails 2 "unknown option '--bogus'" "$QKDCTL" --bogus status
ok $? "an unknown option: exit 2, one line ($err)"
"$QKDCTL" --help >"$QKD_DIR/help"
grep -q -- '--socket PATH' "$QKD_DIR/help" && grep -q -- '-s, --stats' "$QKD_DIR/help" &&
	grep -q -- '-n, --netns NETNS' "$QKD_DIR/help" && grep -q '^Exit status:' "$QKD_DIR/help"
ok $? "--help documents --socket, --stats, --netns and the exit status"
awk 'length > 79 { bad = 1 } END { exit bad }' "$QKD_DIR/help"
ok $? "--help fits 80 columns"

# ---- prefixes and OBJECT help ------------------------------------------------

[ "$(qkd_ctl A l sh | cut -d' ' -f1-3)" = "$(qkd_ctl A link show | cut -d' ' -f1-3)" ] &&
	[ -n "$(qkd_ctl A l sh)" ]
ok $? "'l sh' is 'link show'"
[ "$(qkd_ctl A sae s)" = "$(qkd_ctl A sae show)" ] &&
	qkd_ctl A -j rel a | jqt 'type == "array"' &&
	qkd_ctl A -j ro | jqt 'type == "array"'
ok $? "'sae s', 'rel a' (relay audit), 'ro' (route show) are unambiguous"
"$QKDCTL" sa help | grep -q '^Usage: qkdctl \[OPTIONS\] sa show$'
ok $? "'sa' is the object sa itself, not a prefix of sae"
fails 2 "ambiguous command 's': status, sae, strongswan, sa" qkd_ctl A s
ok $? "ambiguous object prefix: exit 2, the candidates listed ($err)"
fails 2 "ambiguous command 'p': pool, peer, path" qkd_ctl A p show
ok $? "'p': pool, peer, path ($err)"
fails 2 "ambiguous kernel link command 's': show, set" "$QKDCTL" ker link s
ok $? "ambiguous kernel command prefix ($err)"
fails 2 "link: unknown command 'frob'" qkd_ctl A link frob
ok $? "unknown command: exit 2, one line ($err)"

out=$("$QKDCTL" link help); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q '^Usage: qkdctl \[OPTIONS\] link show$' &&
	echo "$out" | grep -q 'qkdctl \[OPTIONS\] link down PEER' &&
	! echo "$out" | grep -q 'pool show'
ok $? "'link help': link's usage only, exit 0, no daemon needed"
[ -n "$out" ] && [ "$("$QKDCTL" l h)" = "$out" ]; ok $? "'l h' is 'link help'"
echo "$out" | grep -q 'qkdctl \[OPTIONS\] link generation NAME start|stop'
ok $? "'link help' lists link generation NAME start|stop"
qkd_ctl A l g AB stop | grep -q '^    generation stopped' &&
	qkd_ctl A -j link show | jq -e '.[0].generation == "stopped"' >/dev/null &&
	qkd_ctl A l g AB start | grep -q '^    generation running'
ok $? "'l g AB stop' is 'link generation AB stop'; link show -j says stopped; start again"
fails 2 "link generation: expected NAME start|stop" qkd_ctl A link generation AB pause
ok $? "link generation with a bad state: exit 2 ($err)"
fails 1 "no link XY" qkd_ctl A link generation XY stop
ok $? "link generation of a link the node lacks: exit 1 ($err)"
"$QKDCTL" key help | grep -q 'key show \[--sae ID\] \[--limit N\]' &&
	"$QKDCTL" status help | grep -q '^Usage: qkdctl \[OPTIONS\] status$'
ok $? "'key help', 'status help'"
"$QKDCTL" kernel help | grep -q 'link set INDEX' &&
	"$QKDCTL" kernel link help | grep -q 'link set INDEX'
ok $? "'kernel help', 'kernel link help'"
[ "$("$QKDCTL" help)" = "$(cat "$QKD_DIR/help")" ]; ok $? "'help' is --help"

# ---- -n NETNS ------------------------------------------------------------------

# A stand-in daemon answers with the network namespace of the client that
# connected (SO_PEERCRED): qkdctl -n must be in the named one by then.
ip netns add "$ns"
"$QKD_PY" - "$QKD_DIR/fake.sock" <<'PY' &
import json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(1)
s.settimeout(10)	# a qkdctl that never comes must not hang the test
for _ in range(2):
    c, _ = s.accept()
    c.settimeout(10)
    pid = struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
    c.makefile().readline()
    ino = os.stat("/proc/%d/ns/net" % pid).st_ino
    c.sendall((json.dumps({"ok": True, "data": {"netns": ino}}) + "\n").encode())
    c.close()
PY
fake=$!
for _ in $(seq 50); do [ -S "$QKD_DIR/fake.sock" ] && break; sleep 0.1; done
want=$(stat -L -c %i "/run/netns/$ns")
got=$("$QKDCTL" -n "$ns" --socket "$QKD_DIR/fake.sock" -j status | jq -r .netns)
[ "$got" = "$want" ]; ok $? "-n $ns: qkdctl runs in that namespace (netns inode $got, want $want)"
here=$(stat -L -c %i /proc/self/ns/net)
got=$("$QKDCTL" --netns "/run/netns/$ns" --socket "$QKD_DIR/fake.sock" -j status | jq -r .netns)
[ "$got" = "$want" ] && [ "$got" != "$here" ]
ok $? "--netns PATH: the same, by path"
kill $fake 2>/dev/null; wait $fake 2>/dev/null
fails 1 "-n: netns qkdctl-nosuch: /run/netns/qkdctl-nosuch: No such file" \
	"$QKDCTL" -n qkdctl-nosuch --socket "$sock" status
ok $? "-n with an unknown namespace: exit 1, one line ($err)"

# ---- views -----------------------------------------------------------------------

# A pair whose nodes share no link: app1 at A, app3 at C, relayed via B.
for _ in $(seq 100); do
	qkd_ctl A -j path C 2>/dev/null | jqt '.path | length == 3' && break
	sleep 0.1
done
qkd_enc A app1 app3 | http_code | grep -q 200; ok $? "enc_keys at A for app3 at C (relayed)"
line=$(qkd_ctl A sae show | grep '^pair app1 -> app3: ')
echo "$line" | grep -q '^pair app1 -> app3: relayed via A - B - C (A -> C) stored '
ok $? "sae show: a relayed pair names its path ($line)"
qkd_ctl A -j sae show | jqt '.pairs[] | select(.slave == "app3") | .link == null and .route == ["A", "B", "C"]'
ok $? "sae show -j: link null and the route for the relayed pair"

qkd_ctl A link down B >/dev/null
qkd_ctl A link show | grep -q '^AB: peer B source sim role tx state up admin down '
ok $? "link show after 'link down B': state up (the source runs), admin down"
qkd_ctl A -j link show | jqt '.[0].admin == "down" and .[0].state == "up"'
ok $? "link show -j: \"admin\": \"down\""
qkd_ctl A link up B >/dev/null
qkd_ctl A link show | grep -q '^AB: .* state up admin up '
ok $? "after 'link up B': admin up"

fails 1 "key show: no SAE 'nosuch' (see sae show)" qkd_ctl A key show --sae nosuch
ok $? "key show --sae nosuch: exit 1, one line ($err)"
qkd_ctl A -j key show --sae app3 | jqt '.total >= 1'
ok $? "key show --sae app3 (known, remote) still lists its keys"

# Nothing configured: sa show and macsec show agree (exit 0, no output).
out=$(qkd_ctl A sa show 2>&1); rc=$?
[ $rc = 0 ] && [ -z "$out" ]; ok $? "sa show without [ipsec]: exit 0, no output (rc $rc: $out)"
out=$(qkd_ctl A macsec show 2>&1); rc=$?
[ $rc = 0 ] && [ -z "$out" ]; ok $? "macsec show without [macsec]: exit 0, no output (rc $rc: $out)"
qkd_ctl A -j sa show | jqt '.pairs == []' &&
	qkd_ctl A -j macsec show | jqt '. == []'
ok $? "with -j: no entries for either"

for n in A B C; do qkd_stop $n; done
tap_done
