#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The daemon platform: command line, config errors (FILE:LINE: reason),
# --check, SIGHUP reload (good and bad file), SIGTERM graceful stop, the
# control socket (stale file replaced, a second daemon refused) and
# qkdctl's output, JSON and errors.
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup cli || exit 1
qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }

"$QKDKMD" --help | grep -q SIGHUP; ok $? "qkdkmd --help documents the signals"
"$QKDKMD" >/dev/null 2>&1; [ $? = 2 ]; ok $? "qkdkmd without -c exits 2"
"$QKDKMD" -c "$QKD_DIR/A.conf" --check | grep -q ': ok$'
ok $? "qkdkmd --check accepts a good config"

sed 's/^max_body = 4096/max_body = lots/' "$QKD_DIR/A.conf" > "$QKD_DIR/bad.conf"
line=$(grep -n '^max_body' "$QKD_DIR/bad.conf" | cut -d: -f1)
out=$("$QKDKMD" -c "$QKD_DIR/bad.conf" 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = "$QKD_DIR/bad.conf:$line: max_body: bad number 'lots' (expected 1024..16777216)" ]
ok $? "a bad number is reported as FILE:LINE: reason, exit 1 ($out)"
sed 's/^cert = A.pem/cert = missing.pem/' "$QKD_DIR/A.conf" > "$QKD_DIR/nocert.conf"
"$QKDKMD" -c "$QKD_DIR/nocert.conf" --check >/dev/null 2>&1; [ $? = 1 ]
ok $? "--check fails on a missing certificate file"

# Each certificate mistake, caught before start with the line naming the
# file and what to change.  certmis NAME KEY(cert|key) FILE_SED WANT-REGEX
certmis() {
	local f=$QKD_DIR/mis.conf out rc line
	sed "$3" "$QKD_DIR/A.conf" > "$f"
	line=$(grep -n "^$2 = " "$f" | cut -d: -f1)
	out=$("$QKDKMD" -c "$f" --check 2>&1); rc=$?
	[ $rc = 1 ] && [[ $out == "$f:$line: [tls] $2: "* ]] && echo "$out" | grep -Eq "$4"
	ok $? "--check: $1 ($out)"
}
M=$QKD_DIR/mis && mkdir -p "$M"
# A certificate of A's key with some other mistake: mis_cert NAME CA EXT [DATES]
mis_cert() {
	local name=$1 ca=$2 ext=$3
	openssl req -new -key "$QKD_DIR/A.key" -subj "/CN=${CN:-A}" -out "$M/$name.csr" >/dev/null 2>&1 &&
	printf 'subjectAltName=DNS:A,IP:127.0.0.1\n%s\n' "$ext" > "$M/$name.ext" &&
	openssl x509 -req -in "$M/$name.csr" -CA "$QKD_DIR/$ca.pem" -CAkey "$QKD_DIR/$ca.key" \
		-CAcreateserial -days 2 -extfile "$M/$name.ext" -out "$M/$name.pem" >/dev/null 2>&1
}
# An expired one needs openssl ca for its dates (x509 -req has none before 3.4).
: > "$M/idx" && echo 1000 > "$M/serial" &&
printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s\nserial = %s\nnew_certs_dir = %s\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n' \
	"$M/idx" "$M/serial" "$M" > "$M/ca.cnf" &&
openssl req -new -key "$QKD_DIR/A.key" -subj "/CN=A" -out "$M/old.csr" >/dev/null 2>&1 &&
printf 'extendedKeyUsage=serverAuth,clientAuth\n' > "$M/old.ext" &&
openssl ca -batch -config "$M/ca.cnf" -cert "$QKD_DIR/ca.pem" -keyfile "$QKD_DIR/ca.key" \
	-in "$M/old.csr" -out "$M/expired.pem" -startdate 20200101000000Z -enddate 20200201000000Z \
	-extfile "$M/old.ext" >/dev/null 2>&1 &&
CN=Z mis_cert wrongcn ca 'extendedKeyUsage=serverAuth,clientAuth' &&
qkd_ca rogue && mis_cert rogue rogue 'extendedKeyUsage=serverAuth,clientAuth' &&
mis_cert serveronly ca 'extendedKeyUsage=serverAuth'
ok $? "certificates with one mistake each (openssl)"
certmis "a node certificate whose CN is not the node name" cert "s|^cert = A.pem|cert = mis/wrongcn.pem|" \
	'has subject CN "Z", not this node.s name "A"; issue it with CN=A'
certmis "an expired certificate" cert "s|^cert = A.pem|cert = mis/expired.pem|" \
	'expired \(notAfter .*2020.*\); renew it'
certmis "a certificate not issued by the configured CA" cert "s|^cert = A.pem|cert = mis/rogue.pem|" \
	'is not issued by the configured CA .*ca.pem .*use a certificate that CA signed'
certmis "a key that does not match the certificate" key "s|^key = A.key|key = B.key|" \
	'key .*B.key does not match certificate .*A.pem; give the key the certificate was issued for'
certmis "a certificate without clientAuth" cert "s|^cert = A.pem|cert = mis/serveronly.pem|" \
	'extendedKeyUsage lacks clientAuth.*reissue it with extendedKeyUsage=serverAuth,clientAuth'

# Every example config checks, given certificates and seeds.
qkd_cert C
for f in "$QKD_TOP"/examples/line*/*.conf; do
	ex=$QKD_DIR/example-$(basename "$(dirname "$f")")-$(basename "$f")
	sed -e "s/SEED_AB/$(openssl rand -hex 32)/" -e "s/SEED_BC/$(openssl rand -hex 32)/" \
		"$f" > "$ex"
	out=$("$QKDKMD" -c "$ex" --check 2>&1)
	ok $? "example ${f#"$QKD_TOP"/} checks ($out)"
done

qkd_start A; ok $? "A starts"
[ -S "$QKD_DIR/A.sock" ]; ok $? "control socket created"

# Hardening, as the kernel sees it.
st=/proc/${QKD_PID[A]}/status
grep -q '^CapEff:[[:space:]]*0000000000000000$' "$st" &&
grep -q '^CapPrm:[[:space:]]*0000000000000000$' "$st"
ok $? "no capabilities left with sim links only ($(grep CapEff "$st" | tr -s '\t' ' '))"
grep -q '^NoNewPrivs:[[:space:]]*1$' "$st"; ok $? "no_new_privs set"
grep -q '^Max core file size *0 *0 ' "/proc/${QKD_PID[A]}/limits"
ok $? "core dumps disabled (RLIMIT_CORE 0)"
locked=$(awk '/^VmLck:/ {print $2}' "$st")
[ "${locked:-0}" -ge 4096 ]; ok $? "secure heap locked in memory (VmLck ${locked:-0} kB)"
[ "$(stat -c %a "$QKD_DIR/A.sock")" = 660 ]; ok $? "control socket mode 0660"
qkd_ctl A -j status | "$QKD_PY" -c 'import json,sys; d=json.load(sys.stdin); assert d["node"]=="A" and d["links"]==1, d'
ok $? "qkdctl -j status is JSON naming node A and its link"
qkd_ctl A link show | grep -q '^AB: peer B source sim role tx state up admin up'
ok $? "qkdctl link show: AB up, tx, sim, admin up"
qkd_ctl A sae show | grep -q '^app1: cert_cn app1 node A (local)'
ok $? "qkdctl sae show lists the local SAE"
qkd_ctl A alarm show | grep -q '^0 active, 0 raised since start$'
ok $? "qkdctl alarm show: a healthy node has no alarm"
for c in "pool show" "peer show" "key show" "key show --sae app1 --limit 5"; do
	# shellcheck disable=SC2086
	qkd_ctl A -j $c | "$QKD_PY" -c 'import json,sys; json.load(sys.stdin)'
	ok $? "qkdctl -j $c is valid JSON"
done
err=$(qkd_ctl A frobnicate 2>&1); rc=$?
[ $rc = 2 ] && [ "$(echo "$err" | wc -l)" = 1 ]
ok $? "qkdctl: unknown command is one line, exit 2 ($err)"
err=$("$QKDCTL" --socket "$QKD_DIR/nobody.sock" status 2>&1); rc=$?
[ $rc = 1 ] && [ "$(echo "$err" | wc -l)" = 1 ]
ok $? "qkdctl: no daemon is one line, exit 1 ($err)"
"$QKDCTL" --help | grep -q 'key show'; ok $? "qkdctl --help lists the commands"
# The raw protocol: a malformed request gets an error answer, not silence.
ans=$("$QKD_PY" - "$QKD_DIR/A.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"cmd": \n{"cmd": "status"}\n')
f = s.makefile()
print(f.readline().strip()); print(f.readline().strip())
PY
)
echo "$ans" | head -1 | grep -q '"ok":false' && echo "$ans" | tail -1 | grep -q '"ok":true'
ok $? "control socket: malformed line answered with an error, next line served"

# A second daemon on the same state_dir, or on the same control socket, is
# refused (other ports, so that only the shared resource can stop it).
sed -e "s/^listen = ${QKD_ETSI[A]}/listen = 127.0.0.1:$((QKD_PORT_BASE + 8))/" \
    -e "s/^listen = ${QKD_KX[A]}/listen = 127.0.0.1:$((QKD_PORT_BASE + 9))/" \
	"$QKD_DIR/A.conf" > "$QKD_DIR/A2.conf"
out=$(timeout 10 "$QKDKMD" -c "$QKD_DIR/A2.conf" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "state_dir .* is in use by another qkdkmd (pid ${QKD_PID[A]})"
ok $? "a second daemon on the same state_dir is refused"
mkdir -p "$QKD_DIR/state-A3"
sed -e 's/^state_dir = state-A/state_dir = state-A3/' "$QKD_DIR/A2.conf" > "$QKD_DIR/A3.conf"
out=$(timeout 10 "$QKDKMD" -c "$QKD_DIR/A3.conf" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q 'another daemon is listening'
ok $? "a second daemon on the same control socket is refused"
qkd_ctl A status >/dev/null; ok $? "the first daemon still answers"

# SIGHUP: a good file with a new log level applies it; a bad one is refused.
sed -i 's/^log_level = info/log_level = debug/' "$QKD_DIR/A.conf"
kill -HUP "${QKD_PID[A]}"; sleep 0.3
qkd_ctl A -j status | grep -q '"log_level":"debug"'
ok $? "SIGHUP applies a new log_level"
cp "$QKD_DIR/A.conf" "$QKD_DIR/A.conf.good"
echo "bogus line" >> "$QKD_DIR/A.conf"
kill -HUP "${QKD_PID[A]}"; sleep 0.3
kill -0 "${QKD_PID[A]}" && grep -q 'reload: .*A.conf:[0-9]*: syntax error' "$QKD_DIR/A.log"
ok $? "SIGHUP with a broken file: logged with FILE:LINE, still running"
cp "$QKD_DIR/A.conf.good" "$QKD_DIR/A.conf"
sed -i 's/^max_key_per_request = 16/max_key_per_request = 8/' "$QKD_DIR/A.conf"
kill -HUP "${QKD_PID[A]}"; sleep 0.3
grep -q 'reload: \[etsi014\] changes need a restart' "$QKD_DIR/A.log"
ok $? "SIGHUP says which changes need a restart"

qkd_stop A; ok $? "SIGTERM: exit status 0"
[ ! -e "$QKD_DIR/A.sock" ]; ok $? "SIGTERM: control socket removed"
grep -q 'stopped' "$QKD_DIR/A.log"; ok $? "SIGTERM: logged"

# After kill -9 the stale socket file is replaced on restart.
qkd_start A && qkd_stop A KILL && [ -S "$QKD_DIR/A.sock" ] && qkd_start A
ok $? "restart after kill -9 replaces the stale control socket"
qkd_stop A; ok $? "A stops"
tap_done
