#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs the hand-written three-node walkthrough of
# Documentation/qkd/admin-guide.rst ("A three-node network by hand") as
# written there: the literal block after each ".. walkthrough: run HOST"
# comment is run with bash, the one after ".. walkthrough: file HOST" is
# that host's qkdkmd.conf.  Only what must differ on one machine is
# replaced, the same way in every block:
#   192.0.2.1 (A), 192.0.2.2 (R), 192.0.2.3 (B) -> 127.0.0.1, and their
#     ports 8441 (ETSI 014) and 9441 (Kx) -> ports of this run; in a host's
#     config, 127.0.0.1:PORT is that host's own port;
#   state_dir = /var/lib/qkdkmd -> state-HOST, and a control socket
#     HOST.sock beside the configs (the default is /run/qkdkmd/HOST.sock);
#   SEED_AR, SEED_RB -> the contents of AR.seed, RB.seed (made by the CA
#     block), as the operator pastes them;
#   KEY_ID -> the key_ID of A's enc_keys answer.
# Every host's files share one directory (the names do not collide).
# Then: A's enc_keys key (app1 for app2) equals B's dec_keys key (app2,
# master app1) through R, R relayed it, and a second dec_keys is refused.
set -u
. "$(dirname "$0")/lib.sh"
doc=$QKD_TOP/Documentation/qkd/admin-guide.rst

qkd_setup walkthrough || exit 1
hosts=(A R B)
declare -A ip_host=([192.0.2.1]=A [192.0.2.2]=R [192.0.2.3]=B)
declare -A idx=([A]=0 [R]=1 [B]=2)

# block KIND HOST: the literal block after ".. walkthrough: KIND HOST".
block() {
	"$QKD_PY" - "$doc" "$1" "$2" <<'EOF'
import re, sys
path, kind, host = sys.argv[1:]
lines = open(path, encoding="utf-8").read().split("\n")
marker = ".. walkthrough: %s %s" % (kind, host)
hits = [i for i, l in enumerate(lines) if l.strip() == marker]
if len(hits) != 1:
    sys.exit("%s: %d '%s' markers" % (path, len(hits), marker))
i = hits[0] + 1
while i < len(lines) and not lines[i].rstrip().endswith("::"):
    if lines[i].strip():
        sys.exit("%s:%d: no literal block after '%s'" % (path, i + 1, marker))
    i += 1
i += 1
out = []
while i < len(lines) and (not lines[i].strip() or lines[i][0].isspace()):
    out.append(lines[i])
    i += 1
while out and not out[-1].strip():
    out.pop()
body = [l for l in out if l.strip()]
ind = min(len(l) - len(l.lstrip()) for l in body) if body else 0
print("\n".join(l[ind:] for l in out).strip("\n"))
EOF
}

# port HOST 8441|9441: this run's port for it.
port() {
	echo $((QKD_PORT_BASE + 2 * ${idx[$1]} + ($2 == 9441 ? 1 : 0)))
}

# local_text HOST: stdin with the walkthrough's addresses made local.
local_text() {
	local host=$1 text ip h p
	text=$(cat)
	for ip in "${!ip_host[@]}"; do
		h=${ip_host[$ip]}
		for p in 8441 9441; do
			text=${text//$ip:$p/127.0.0.1:$(port "$h" $p)}
		done
		text=${text//$ip/127.0.0.1}
	done
	if [ -n "$host" ]; then
		for p in 8441 9441; do
			text=${text//127.0.0.1:$p/127.0.0.1:$(port "$host" $p)}
		done
	fi
	printf '%s\n' "$text"
}

# The blocks, all found first: a missing one is a test failure.
fails=0
for kind_host in "run CA" "file A" "file R" "file B" "run A" "run B"; do
	if ! block "${kind_host% *}" "${kind_host#* }" \
		>"$QKD_DIR/block.${kind_host/ /.}" 2>"$QKD_DIR/err"; then
		fails=1
		diag "$(cat "$QKD_DIR/err")"
	fi
done
[ "$fails" = 0 ]; ok $? "admin-guide.rst has the six marked walkthrough blocks"
[ "$fails" = 0 ] || { tap_done; exit 1; }

cd "$QKD_DIR" || exit 1
local_text "" <block.run.CA >ca.sh
bash -e ca.sh >ca.log 2>&1 &&
for f in ca.pem A.pem R.pem B.pem app1.pem app2.pem AR.seed RB.seed; do
	[ -s "$f" ] || { echo "missing $f" >>ca.log; false; }
done
st=$?
ok $st "the CA block makes the CA, node and SAE certificates and seeds"
[ $st = 0 ] || sed 's/^/#   /' ca.log
openssl verify -CAfile ca.pem -purpose sslserver A.pem R.pem B.pem >/dev/null &&
openssl verify -CAfile ca.pem -purpose sslclient A.pem R.pem B.pem app1.pem app2.pem >/dev/null &&
! openssl verify -CAfile ca.pem -purpose sslserver app1.pem >/dev/null 2>&1
ok $? "node certificates serve and dial, SAE certificates only dial"

for h in "${hosts[@]}"; do
	mkdir -p "state-$h"
	local_text "$h" <"block.file.$h" |
		sed -e "s|^state_dir = /var/lib/qkdkmd\$|state_dir = state-$h\ncontrol = $h.sock|" \
		    -e "s/SEED_AR/$(cat AR.seed)/" -e "s/SEED_RB/$(cat RB.seed)/" \
		    >"$h.conf"
	out=$("$QKDKMD" -c "$h.conf" --check 2>&1)
	ok $? "$h's config passes qkdkmd --check ($out)"
done

started=0
for h in "${hosts[@]}"; do
	qkd_start "$h" && started=$((started + 1))
	ok $? "qkdkmd $h starts"
done
# Without all three the rest can only fail; the logs say why.
[ "$started" = 3 ] || { tap_done; exit 1; }
for h in "${hosts[@]}"; do
	qkd_wait_peers "$h" 2>/dev/null
	ok $? "$h: every Kx peer is up"
done
# Who dialed: the node whose name sorts first (peer.c), so only R's Kx
# port is ever connected to.
grep -q "peer R up (outbound)" A.log && grep -q "peer R up (outbound)" B.log &&
grep -q "peer A up (inbound)" R.log && grep -q "peer B up (inbound)" R.log &&
! grep -q "up (outbound)" R.log
ok $? "A and B dial R; R dials nobody"

qkd_settle
# Relay routes need the link-state advertisements of all three nodes.
for ((i = 0; i < 50; i++)); do
	enc=$(local_text A <block.run.A | bash 2>curl.err)
	ids=$(printf '%s' "$enc" | keys_of 2>/dev/null)
	[ -n "$ids" ] && break
	sleep 0.2
done
[ "$(printf '%s\n' "$ids" | grep -c .)" = 1 ]
st=$?; ok $st "app1's enc_keys at A gives one key"; [ $st = 0 ] || diag "$enc"
read -r key_id key_a <<<"$ids"
[ "$(printf '%s' "$key_a" | base64 -d 2>/dev/null | wc -c)" = 32 ]
ok $? "of 256 bits"

dec=$(local_text B <block.run.B | sed "s/KEY_ID/$key_id/" | bash 2>curl.err)
read -r id_b key_b <<<"$(printf '%s' "$dec" | keys_of 2>/dev/null)"
[ -n "$key_a" ] && [ "$id_b" = "$key_id" ] && [ "$key_b" = "$key_a" ]
st=$?; ok $st "app2's dec_keys at B gives the same key through R"; [ $st = 0 ] || diag "$dec"

out=$(qkd_ctl A -j relay show 2>&1)
printf '%s' "$out" | grep -q "$key_id"
ok $? "A's relay show lists the key's relay session"
qkd_ctl A -j key show 2>&1 | grep -q "$key_id" &&
qkd_ctl B -j key show 2>&1 | grep -q "$key_id"
ok $? "key show on A and on B lists the key's record"
out=$(qkd_ctl R -j relay audit 2>&1)
printf '%s' "$out" | grep -q '"balanced": *true' &&
! printf '%s' "$out" | grep -q '"balanced": *false'
st=$?; ok $st "R's pad accounting balances"; [ $st = 0 ] || diag "$out"

dec=$(local_text B <block.run.B | sed "s/KEY_ID/$key_id/" | bash 2>curl.err)
[ -z "$(printf '%s' "$dec" | keys_of 2>/dev/null)" ] &&
	printf '%s' "$dec" | grep -q "not found"
st=$?; ok $st "a second dec_keys of the key is refused"; [ $st = 0 ] || diag "$dec"

for h in "${hosts[@]}"; do
	qkd_stop "$h"
	ok $? "qkdkmd $h stops cleanly"
done
tap_done
