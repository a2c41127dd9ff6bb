#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 4, configuration 3 (Y.3802 9.3): centralized QKDN with user,
# access and relay nodes.  Two QKD access networks (QAN): users U1, U2 on
# access node X1; U3, U4 (and U2, dual-homed) on X2.  The backbone (QBN):
# X1-R1-R2-X2, controller R1.  Two tempting shortcuts must not be used:
# through user node U2 (U1-X1-U2-X2-U3 is one hop shorter than the
# backbone), and the user-relay link R2-U4 (not a link of the network).
# Keys between users in different QANs are identical at both ends.
set -u
. "$(dirname "$0")/relay_lib.sh"
qkd_setup relay-roles || exit 1
RELAY_CONTROLLER=R1 \
RELAY_ROLES="U1=user U2=user U3=user U4=user X1=access X2=access R1=relay R2=relay" \
	relay_topo U1-X1 U2-X1 U2-X2 U3-X2 U4-X2 X1-R1 R1-R2 R2-X2 R2-U4 ||
	{ echo "not ok 1 - configs"; exit 1; }
# app<i> by first appearance: U1 app1, X1 -, U2 app3, X2 -, U3 app5,
# U4 app6, R1 -, R2 -.

# A relay node that claims an SAE is refused at configuration time.
cp "$QKD_DIR/R2.conf" "$QKD_DIR/bad.conf"
printf '[sae rogue]\ncert_cn = rogue\nnode = R2\n' >> "$QKD_DIR/bad.conf"
! out=$("$QKDKMD" -c "$QKD_DIR/bad.conf" --check 2>&1) &&
	echo "$out" | grep -q "role relay and serves no SAE"
ok $? "config check refuses an SAE at a relay node ($out)"

# The example configs check, with this test's certificates.
for f in "$QKD_TOP"/examples/hierarchical/*.conf; do
	cp "$f" "$QKD_DIR/example-${f##*/}"
	out=$("$QKDKMD" -c "$QKD_DIR/example-${f##*/}" --check 2>&1)
	ok $? "example ${f#"$QKD_TOP"/} checks ($out)"
done

relay_start_all; ok $? "8 daemons start, every Kx channel up"
relay_wait_route U1 U3 && relay_wait_route U1 U4 && relay_wait_route U3 U1
ok $? "U1 and U3 got routes from controller R1"
qkd_settle
[ -n "${RELAY_KEEP:-}" ] && sleep 1000

relay_ctl R1 '{"cmd":"topology show"}' > "$QKD_DIR/topo.json"
relay_py "sorted((n['node'], n['role']) for n in d['data']['nodes']) == sorted([('U1','user'),('U2','user'),('U3','user'),('U4','user'),('X1','access'),('X2','access'),('R1','relay'),('R2','relay')])" \
	< "$QKD_DIR/topo.json" | grep -q yes
ok $? "controller R1 knows every node's role"

path_of() { relay_ctl "$1" "{\"cmd\":\"path\",\"to\":\"$2\"}" | relay_py "'-'.join(d['data'].get('path', []))"; }
p=$(path_of U1 U3)
[ "$p" = U1-X1-R1-R2-X2-U3 ]; ok $? "U1->U3 crosses the backbone, not user node U2 ($p)"
p=$(path_of U1 U4)
[ "$p" = U1-X1-R1-R2-X2-U4 ]; ok $? "U1->U4 avoids the user-relay link R2-U4 ($p)"
p=$(path_of U2 U3)
[ "$p" = U2-X2-U3 ]; ok $? "a dual-homed user starts paths on either access node ($p)"

relay_pair_diag U1 app1 U3 app5 "number=4"; ok $? "U1->U3 (QAN 1 -> QBN -> QAN 2): identical keys"
relay_pair_diag U3 app5 U1 app1 "number=2"; ok $? "U3->U1: identical keys"
relay_pair_diag U1 app1 U4 app6; ok $? "U1->U4: identical keys"

# No key ever went through U2 or over R2-U4.
relay_ctl U2 '{"cmd":"relay show"}' |
	relay_py "not any(s['role'] == 'transit' for s in d['data']['sessions'])" | grep -q yes
ok $? "user node U2 relayed nothing"
relay_ctl R2 '{"cmd":"relay audit"}' |
	relay_py "all(l['tx']['messages'] == 0 and l['rx']['messages'] == 0 for l in d['data'] if l['peer'] == 'U4')" | grep -q yes
ok $? "no relay message crossed the user-relay link R2-U4"

# Cut the backbone: no other path exists that respects the roles.
relay_ctl R2 '{"cmd":"link down","peer":"R1"}' >/dev/null
for _ in $(seq 1 50); do
	p=$(path_of U1 U3); [ -z "$p" ] && break; sleep 0.1
done
out=$(qkd_enc U1 app1 app5)
[ -z "$p" ] && [ "$(echo "$out" | http_code)" = 503 ]
ok $? "backbone cut: no route through the user node, 503 ($(echo "$out" | http_body | message_of))"
tap_done
