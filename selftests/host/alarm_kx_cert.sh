#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fault management of the Kx channel (issue 19, acceptance 6): each
# certificate mistake that makes a Kx handshake fail raises an alarm at
# both ends whose text says what to fix, logged at the default level too,
# and the alarm clears when the mistake is mended.  A dials B (A < B);
# every node's Kx has an address of its own, so that an inbound
# connection names its peer before any certificate does.
#
#  0. B not running: A's alarm names the address that refuses;
#  1. B's certificate has CN "X" where A has cert_cn = B (A refuses it);
#     mended by A's cert_cn = X;
#  2. B's certificate is from a CA A does not know (unknown CA);
#  3. A's certificate has expired (B, the TLS server, refuses it);
#  4. B's certificate lacks the serverAuth EKU (wrong EKU);
#  5. A's certificate has CN "Y" (B refuses the identity after TLS, and
#     tells A why).
# Also: "alarm ack ID" and "alarm history", and the X.733 fields.
set -u
. "$(dirname "$0")/lib.sh"
QKD_TIMEOUT=100
qkd_setup alarm-cert || exit 1
qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
# Kx on 127.0.9.1 (A) and 127.0.9.2 (B); A's dials leave from its address.
for n in A B; do
	old=${QKD_KX[$n]}
	new=127.0.9.$([ "$n" = A ] && echo 1 || echo 2):${old##*:}
	sed -i "s/^\(listen\|address\) = $old\$/\1 = $new/" "$QKD_DIR"/*.conf
	QKD_KX[$n]=$new
done

# mkcert NAME CN CA EKU [DAYS]: NAME.pem/NAME.key for CN, signed by CA.
mkcert() {
	local name=$1 cn=$2 ca=$3 eku=$4 days=${5:-2}
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$QKD_DIR/$name.key" -out "$QKD_DIR/$name.csr" \
		-subj "/CN=$cn" >/dev/null 2>&1 &&
	printf 'subjectAltName=DNS:%s\nextendedKeyUsage=%s\n' "$cn" "$eku" \
		> "$QKD_DIR/$name.ext" &&
	openssl x509 -req -in "$QKD_DIR/$name.csr" -CA "$QKD_DIR/$ca.pem" \
		-CAkey "$QKD_DIR/$ca.key" -CAcreateserial -days "$days" \
		-extfile "$QKD_DIR/$name.ext" -out "$QKD_DIR/$name.pem" >/dev/null 2>&1
}
qkd_ca other &&
mkcert B-cn X ca serverAuth,clientAuth &&
mkcert B-ca B other serverAuth,clientAuth &&
mkcert A-old A ca serverAuth,clientAuth -1 &&
mkcert B-eku B ca clientAuth &&
mkcert A-cn Y ca serverAuth,clientAuth
ok $? "the faulty certificates (openssl)"
openssl x509 -in "$QKD_DIR/A-old.pem" -noout -checkend 0 >/dev/null
[ $? -eq 1 ]; ok $? "A-old.pem has expired (openssl x509 -checkend 0)"

# use NODE CERT: NODE's [tls] certificate and key.
use() {
	sed -i "s/^cert = .*/cert = $2.pem/; s/^key = .*/key = $2.key/" \
		"$QKD_DIR/$1.conf"
}
restart() {
	qkd_stop "$1" && qkd_start "$1"
}
# alarm_text NODE SOURCE: the text of NODE's active alarm SOURCE, or fail.
alarm_text() {
	qkd_ctl "$1" -j alarm show 2>/dev/null | "$QKD_PY" -c '
import json, sys
for a in json.load(sys.stdin)["active"]:
    if a["source"] == sys.argv[1]:
        print(a["text"]); sys.exit(0)
sys.exit(1)' "$2"
}
# wait_alarm NODE SOURCE REGEX: until NODE has alarm SOURCE matching REGEX
# (grep -E), within 8 s; prints its text as a TAP comment.
wait_alarm() {
	local i t
	for ((i = 0; i < 80; i++)); do
		t=$(alarm_text "$1" "$2") && echo "$t" | grep -Eq "$3" && {
			diag "$1 $2: $t"
			return 0
		}
		sleep 0.1
	done
	diag "$1 $2: ${t:-no such alarm}"
	return 1
}
# wait_clear NODE SOURCE: until it is gone, within 8 s.
wait_clear() {
	local i
	for ((i = 0; i < 80; i++)); do
		alarm_text "$1" "$2" >/dev/null || return 0
		sleep 0.1
	done
	return 1
}
n_active() {
	qkd_ctl "$1" -j alarm show | "$QKD_PY" -c \
		'import json,sys; print(len(json.load(sys.stdin)["active"]))'
}

# ---- 0. the peer not running: a refused connection, to which address -------
qkd_start A
wait_alarm A kx:B "no Kx channel to B: connecting to ${QKD_KX[B]} failed: .*Connection refused: check that qkdkmd runs on B"
ok $? "B not running: A's alarm names the address that refused"
qkd_start B && qkd_wait_peers A && qkd_wait_peers B
ok $? "A and B up, Kx channel up"
wait_clear A kx:B; ok $? "A's alarm clears once B runs"
[ "$(n_active A)" = 0 ] && [ "$(n_active B)" = 0 ]
ok $? "no alarm at either end"

# ---- 1. wrong CN -------------------------------------------------------------
use B B-cn; restart B
wait_alarm A kx:B 'refused: B.s certificate has CN "X" where "B" was configured \(cert_cn\)'
ok $? "wrong CN: A (refusing) names the CN found and the one configured"
wait_alarm B kx:A 'refused by A \(TLS alert'
ok $? "wrong CN: B (refused) raises kx:A: A refused our certificate"
grep -q 'warning: Kx: Kx handshake refused: B.s certificate has CN "X"' "$QKD_DIR/A.log"
ok $? "the refusing side logs it at the default level"
grep -Eq 'alarm (raised|changed): kx:B: .*QKD_ALARM_ID=[0-9]* QKD_ALARM_OBJECT=peer=B QKD_ALARM_TYPE=securityService QKD_ALARM_CAUSE=authenticationFailure QKD_ALARM_SEVERITY=critical' "$QKD_DIR/A.log"
ok $? "the raise is logged with structured QKD_ALARM_* fields"

# X.733 fields, acknowledgement, then the history once mended.
js=$(qkd_ctl A -j alarm show)
id=$(echo "$js" | "$QKD_PY" -c '
import json, sys
a = [a for a in json.load(sys.stdin)["active"] if a["source"] == "kx:B"][0]
assert a["object"] == "peer=B" and a["event_type"] == "securityService"
assert a["probable_cause"] == "authenticationFailure"
assert a["severity"] == "critical" and a["acked"] is False and a["id"] > 0
print(a["id"])')
ok $? "alarm show -j: object, event type, probable cause, severity, id $id"
qkd_ctl A alarm ack "$id" >/dev/null &&
qkd_ctl A -j alarm show | grep -q '"acked": *true' &&
qkd_ctl A alarm show | grep -q "acked by uid"
ok $? "alarm ack $id: shown as acknowledged"
qkd_ctl A alarm ack 99999 2>"$QKD_DIR/err"
[ $? -ne 0 ] && grep -q "no active alarm 99999" "$QKD_DIR/err"
ok $? "alarm ack of an unknown ID: refused with a reason"

sed -i '/^\[peer B\]/,/^$/s/^cert_cn = B$/cert_cn = X/' "$QKD_DIR/A.conf"
restart A; qkd_wait_peers A
wait_clear B kx:A
ok $? "mended (A's cert_cn = X): B's alarm clears"
sed -i '/^\[peer B\]/,/^$/s/^cert_cn = X$/cert_cn = B/' "$QKD_DIR/A.conf"
qkd_ctl B -j alarm history | "$QKD_PY" -c '
import json, sys
h = json.load(sys.stdin)["history"]
a = [a for a in h if a["source"] == "kx:A"][0]
assert a["cleared"] >= a["since"] > 0 and a["object"] == "peer=A"'
ok $? "alarm history: B's cleared alarm, with raised and cleared times"
qkd_ctl B alarm history | grep -q "^kx:A: raised .*, cleared "
ok $? "alarm history in text"
use B B; restart B; restart A
qkd_wait_peers A && qkd_wait_peers B
ok $? "A and B back with good certificates"

# ---- 2. unknown CA -----------------------------------------------------------
use B B-ca; restart B
wait_alarm A kx:B 'refused: B.s certificate \(CN "B", issuer "CN=qkdn test other"\) is from an unknown CA'
ok $? "unknown CA: A (refusing) names the issuer"
wait_alarm B kx:A 'refused by A \(TLS alert "unknown CA"\): it does not trust the CA of our certificate'
ok $? "unknown CA: B (refused) is told A does not trust its CA"
use B B; restart B
wait_clear A kx:B
ok $? "mended (B's certificate from the right CA): A's alarm clears"

# ---- 3. expired --------------------------------------------------------------
use A A-old; restart A
wait_alarm B kx:A 'refused: A.s certificate \(CN "A"\) expired on .*renew it'
ok $? "expired: B (refusing, as TLS server) says when and what to do"
wait_alarm A kx:B 'refused by B \(TLS alert "certificate expired"\): our certificate has expired'
ok $? "expired: A (refused) is told its certificate expired"
use A A; restart A
wait_clear B kx:A
ok $? "mended (A renewed): B's alarm clears"

# ---- 4. wrong EKU ------------------------------------------------------------
use B B-eku; restart B
wait_alarm A kx:B 'refused: B.s certificate \(CN "B"\) lacks the extended key usage serverAuth'
ok $? "wrong EKU: A (refusing) names the missing EKU"
wait_alarm B kx:A 'refused by A \(TLS alert "unsupported certificate"\).*wrong EKU'
ok $? "wrong EKU: B (refused) is told its EKU is wrong"
use B B; restart B
wait_clear A kx:B
ok $? "mended: A's alarm clears"

# ---- 5. a CN no peer has, found by the server after TLS ----------------------
use A A-cn; restart A
wait_alarm B kx:A 'refused: A.s certificate has CN "Y" where "A" was configured'
ok $? "unknown identity: B (refusing) names the CN found and the one configured"
wait_alarm A kx:B 'refused by B: "B has no peer with certificate CN .Y."'
ok $? "unknown identity: A (refused) is told by B"
use A A; restart A
wait_clear B kx:A && wait_clear A kx:B
ok $? "mended: both alarms clear"
[ "$(n_active A)" = 0 ] && [ "$(n_active B)" = 0 ]
ok $? "no alarm left at either end"

tap_done
