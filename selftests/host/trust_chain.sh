#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Trust, continued (issue 20): each plane its own certificate ([tls]
# kx_cert/kx_key, sae_cert/sae_key: the ETSI 014 listener presents the
# SAE one, Kx the KM one, openssl s_client shows which); a two-level SAE
# CA whose intermediate the root's CRL revokes (CRL_CHECK_ALL: the
# intermediate is checked, not only the leaf), and a chain whose
# intermediate has no CRL in the file refused (fail closed); a CRL that
# expires while a client is connected: the connection is closed when its
# nextUpdate passes, with an alarm "crl:sae", not at the next SIGHUP.
# One daemon is enough: A's Kx listener answers without B running.
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup trust-chain || exit 1
QKD_IDLE_MS=60000 qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
D=$QKD_DIR

# ---- a two-level SAE CA -----------------------------------------------------

# saeroot -> saeint -> app1 (the client sends app1 + saeint); saeroot also
# issues A-sae, the certificate A shows its SAEs.
ca_conf() {	# CA: an index and an openssl ca config for its CRLs
	: > "$D/$1.idx" && echo 01 > "$D/$1.crlnum" &&
	printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s\ncrlnumber = %s\ndefault_md = sha256\ndefault_crl_days = 2\n' \
		"$D/$1.idx" "$D/$1.crlnum" > "$D/$1.cnf"
}
crl_of() {	# CA [ARGS]: CA.crl from its index
	local ca=$1; shift
	openssl ca -config "$D/$ca.cnf" -gencrl -keyfile "$D/$ca.key" \
		-cert "$D/$ca.pem" -out "$D/$ca.crl" "$@" >/dev/null 2>&1
}
qkd_ca saeroot && ca_conf saeroot && ca_conf saeint &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$D/saeint.key" -out "$D/saeint.csr" -subj "/CN=qkdn test saeint" >/dev/null 2>&1 &&
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$D/saeint.ext" &&
	openssl x509 -req -in "$D/saeint.csr" -CA "$D/saeroot.pem" -CAkey "$D/saeroot.key" \
		-CAcreateserial -days 2 -extfile "$D/saeint.ext" -out "$D/saeint.pem" >/dev/null 2>&1 &&
	qkd_cert app1 saeint && cat "$D/app1.pem" "$D/saeint.pem" > "$D/app1-chain.pem" &&
	qkd_cert A-sae saeroot && crl_of saeroot && crl_of saeint &&
	cat "$D/saeroot.crl" "$D/saeint.crl" > "$D/sae.crl"
ok $? "a root and an intermediate SAE CA, their CRLs, app1 under the intermediate"

sed -i 's|^ca = ca.pem$|kx_ca = ca.pem\nsae_ca = saeroot.pem\nsae_crl = sae.crl|; s|^cert = A.pem$|kx_cert = A.pem\nsae_cert = A-sae.pem|; s|^key = A.key$|kx_key = A.key\nsae_key = A-sae.key|' \
	"$D/A.conf"
out=$("$QKDKMD" -c "$D/A.conf" --check 2>&1)
[ "$out" = "$D/A.conf: ok" ]; ok $? "--check: kx_cert/kx_key and sae_cert/sae_key ($out)"
sed 's|^sae_key = A-sae.key$|sae_key = A.key|' "$D/A.conf" > "$D/bad.conf"
out=$("$QKDKMD" -c "$D/bad.conf" --check 2>&1); rc=$?
[ $rc = 1 ] && case $out in "$D/bad.conf: $D/A.key: "*mismatch*) true ;; *) false ;; esac
ok $? "--check: an SAE key that is not the SAE certificate's is refused ($out)"

qkd_start A; ok $? "A starts"

# ---- which certificate each listener presents -------------------------------

subject() {	# ADDR CA CERT KEY: the subject of the server's certificate
	timeout 10 openssl s_client -connect "$1" -CAfile "$D/$2.pem" \
		-cert "$D/$3.pem" -key "$D/$4.key" </dev/null 2>/dev/null |
		openssl x509 -noout -subject -nameopt RFC2253 2>/dev/null
}
s=$(subject "${QKD_ETSI[A]}" saeroot app1-chain app1)
[ "$s" = "subject=CN=A-sae" ]; ok $? "the ETSI 014 listener presents the SAE certificate ($s)"
s=$(subject "${QKD_KX[A]}" ca B B)
[ "$s" = "subject=CN=A" ]; ok $? "the Kx listener presents the Kx certificate ($s)"

# ---- CRLs over the whole chain ----------------------------------------------

etsi() {	# SAE's chain: curl's HTTP status for a status request (000: none)
	curl -sS --max-time 10 --cacert "$D/saeroot.pem" --cert "$D/app1-chain.pem" \
		--key "$D/app1.key" -o /dev/null -w '%{http_code}' \
		"https://${QKD_ETSI[A]}/api/v1/keys/app2/status" 2>"$D/curl.err"
}
reload() {	# A re-reads its files; wait for the log line
	local n
	n=$(grep -c 'reload: certificate, CAs and CRLs reloaded' "$D/A.log")
	kill -HUP "${QKD_PID[A]}"
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -c 'reload: certificate, CAs and CRLs reloaded' "$D/A.log")" -gt "$n" ] && return 0
		sleep 0.1
	done
	return 1
}
code=$(etsi)
[ "$code" != 000 ]; ok $? "app1, under the intermediate, is served (HTTP $code)"

openssl ca -config "$D/saeroot.cnf" -revoke "$D/saeint.pem" -keyfile "$D/saeroot.key" \
	-cert "$D/saeroot.pem" >/dev/null 2>&1 && crl_of saeroot &&
	cat "$D/saeroot.crl" "$D/saeint.crl" > "$D/sae.crl" && reload
ok $? "the root's CRL revokes the intermediate; A reloads"
code=$(etsi)
[ "$code" = 000 ] && grep -q 'certificate revoked' "$D/curl.err"
ok $? "app1, whose intermediate is revoked, is refused ($code: $(tail -n 1 "$D/curl.err"))"

: > "$D/saeroot.idx" && crl_of saeroot && cp "$D/saeroot.crl" "$D/sae.crl" && reload
code=$(etsi)
[ "$code" = 000 ] && grep -q 'unable to get certificate CRL' "$D/A.log"
ok $? "no CRL of the intermediate in the file: refused, fail closed ($code)"

# ---- a CRL that expires under an open connection ----------------------------

# The intermediate's CRL is due in 8 s; a client holds a connection.
crl_of saeint -crlsec 8 && cat "$D/saeroot.crl" "$D/saeint.crl" > "$D/sae.crl" && reload
due=$(($(date +%s) + 8))
cat > "$D/client.py" <<'EOF'
import http.client, ssl, sys
host, port, ca, cert, key, path = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
conn.connect()
sock = conn.sock
for _ in sys.stdin:
    try:
        if conn.sock is not sock:
            raise ConnectionError("reconnected")
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        print(r.status, flush=True)
    except Exception as e:
        print("closed", type(e).__name__, flush=True)
        break
EOF
mkfifo "$D/c.in" "$D/c.out"
"$QKD_PY" "$D/client.py" "${QKD_ETSI[A]%:*}" "${QKD_ETSI[A]#*:}" "$D/saeroot.pem" \
	"$D/app1-chain.pem" "$D/app1.key" /api/v1/keys/app2/status \
	<"$D/c.in" >"$D/c.out" 2>"$D/c.err" &
exec {cin}>"$D/c.in" {cout}<"$D/c.out"
ask() {
	local line=""
	echo go >&"$cin" 2>/dev/null && read -r -t 15 line <&"$cout"
	echo "${line:-none}"
}
r=$(ask)
case $r in [0-9][0-9][0-9]) true ;; *) false ;; esac
ok $? "a client connects with the CRL current ($r)"
while [ "$(date +%s)" -le $((due + 3)) ]; do sleep 0.5; done
r=$(ask)
case $r in closed*) true ;; *) false ;; esac
ok $? "once the CRL expired, its open connection is closed, no SIGHUP ($r)"
grep -q 'a CRL expired; open connections verified again, 1 closed' "$D/A.log"
ok $? "A logs it"
alarms=$(qkd_ctl A alarm show 2>&1)
echo "$alarms" | grep -q "crl:sae.*CRL $D/sae.crl expired at .*fetch a fresh one"
ok $? "alarm crl:sae names the file and what to do"
out=$("$QKDKMD" -c "$D/A.conf" --check 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "^$D/A.conf:[0-9]*: \[tls\] sae_crl: CRL $D/sae.crl expired at .*fetch a fresh one"
ok $? "--check names the expired CRL with file and line (exit $rc: $out)"
code=$(etsi)
[ "$code" = 000 ] && grep -q 'CRL has expired' "$D/A.log"
ok $? "new connections are refused (CRL has expired)"
crl_of saeint && cat "$D/saeroot.crl" "$D/saeint.crl" > "$D/sae.crl" && reload &&
	! qkd_ctl A alarm show 2>&1 | grep -q 'crl:sae'
ok $? "a fresh CRL and SIGHUP clear the alarm"
out=$("$QKDKMD" -c "$D/A.conf" --check 2>&1)
[ "$out" = "$D/A.conf: ok" ]; ok $? "--check passes with the fresh CRL ($out)"
code=$(etsi)
[ "$code" != 000 ]; ok $? "and app1 is served again (HTTP $code)"

exec {cin}>&- 2>/dev/null
qkd_stop A; ok $? "A stops cleanly"
tap_done
