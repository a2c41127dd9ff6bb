#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Trust model and secrets (issue 20): a KM CA for Kx and an SAE CA for
# ETSI 014 ([tls] kx_ca, sae_ca), so that an SAE certificate whose CN is
# a node's cannot speak Kx; a config giving an SAE a peer's CN is refused
# with file and line; CRLs on both planes, re-read on SIGHUP with the
# certificates: a revoked client is cut and refused, a valid client and
# the Kx channels keep their connections and keys keep flowing; a config
# holding seeds that other users can read is refused; the secure heap
# must be locked unless [node] allow_unlocked_memory = yes.
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup trust || exit 1
QKD_IDLE_MS=60000 QKD_EXTRA_SAES="app3@A" qkd_line A B ||
	{ echo "not ok 1 - certificates and configs"; exit 1; }
D=$QKD_DIR

# ---- two CAs, CRLs from openssl ca ------------------------------------------

# "ca" (qkd_line's) is the KM CA: nodes.  "sae" issues the applications'.
qkd_ca sae && for s in app1 app2 app3; do qkd_cert "$s" sae || exit 1; done
crl_setup() {	# CA: an empty index and a first (empty) CRL, CA.crl
	: > "$D/$1.idx" && echo 01 > "$D/$1.crlnum" &&
	printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s\ncrlnumber = %s\ndefault_md = sha256\ndefault_crl_days = 2\n' \
		"$D/$1.idx" "$D/$1.crlnum" > "$D/$1.cnf" &&
	crl_make "$1"
}
crl_make() {	# CA: write CA.crl from the index (replacing the file)
	openssl ca -config "$D/$1.cnf" -gencrl -keyfile "$D/$1.key" \
		-cert "$D/$1.pem" -out "$D/$1.crl.new" >/dev/null 2>&1 &&
	mv "$D/$1.crl.new" "$D/$1.crl"
}
crl_setup ca && crl_setup sae
ok $? "a KM CA, an SAE CA and their CRLs (openssl ca)"
for n in A B; do
	sed -i 's/^ca = ca.pem$/kx_ca = ca.pem\nsae_ca = sae.pem\nkx_crl = ca.crl\nsae_crl = sae.crl/' \
		"$D/$n.conf"
done
# A's other HTTPS listeners, which SIGHUP must reload too: management
# (/metrics) and SKIP.
MGMT_A=127.0.0.1:$((QKD_PORT_BASE + 50))
SKIP_A=127.0.0.1:$((QKD_PORT_BASE + 51))
printf '[metrics]\nlisten = %s\nclients = app1\n\n[skip]\nlisten = %s\nlocal_system_id = gwA\nsae = app3\nclient_cn = app3\nremote_systems = gwB:app2\n\n' \
	"$MGMT_A" "$SKIP_A" >> "$D/A.conf"

# ---- config checks ----------------------------------------------------------

sae_line() {	# FILE: line number of the last [sae header
	grep -n '^\[sae ' "$1" | tail -n 1 | cut -d: -f1
}
cp "$D/A.conf" "$D/bad.conf" && printf '[sae rogue]\ncert_cn = B\nnode = A\n' >> "$D/bad.conf"
out=$("$QKDKMD" -c "$D/bad.conf" --check 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = "$D/bad.conf:$(sae_line "$D/bad.conf"): [sae rogue]: cert_cn 'B' is also [peer B]'s; an SAE and a KM must not share a certificate CN" ]
ok $? "an SAE with a peer's CN is refused with file and line ($out)"
cp "$D/A.conf" "$D/bad2.conf" && printf '[sae rogue]\ncert_cn = A\nnode = B\n' >> "$D/bad2.conf"
out=$("$QKDKMD" -c "$D/bad2.conf" --check 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = "$D/bad2.conf:$(sae_line "$D/bad2.conf"): [sae rogue]: cert_cn 'A' is this node's name (a KM's certificate CN)" ]
ok $? "an SAE with this node's CN is refused ($out)"

cp "$D/A.conf" "$D/world.conf" && chmod 0644 "$D/world.conf"
out=$("$QKDKMD" -c "$D/world.conf" --check 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = "$D/world.conf: mode 0644 lets every user read the simulated links' seeds in it; run: chmod 600 $D/world.conf" ]
ok $? "a world-readable config with seeds is refused ($out)"
out=$(timeout 10 "$QKDKMD" -c "$D/world.conf" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q 'mode 0644'
ok $? "and the daemon does not start on it"
chmod 0640 "$D/world.conf" && chgrp 65534 "$D/world.conf"
out=$("$QKDKMD" -c "$D/world.conf" --check 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q 'mode 0640 lets group 65534 read'
ok $? "group-readable (group not root): a warning, not a refusal"
chgrp 0 "$D/world.conf"
out=$("$QKDKMD" -c "$D/world.conf" --check 2>&1)
[ "$out" = "$D/world.conf: ok" ]
ok $? "group-readable by root only: no warning ($out)"

# ---- locked memory ----------------------------------------------------------

# Root's CAP_IPC_LOCK ignores RLIMIT_MEMLOCK: drop it, then allow 1 MiB
# (enough for io_uring's rings, not for the 4 MiB secure heap).
if command -v setpriv >/dev/null && command -v prlimit >/dev/null; then
	nolock=(setpriv --bounding-set=-ipc_lock --inh-caps=-ipc_lock prlimit --memlock=1048576:1048576)
	out=$(timeout 20 "${nolock[@]}" "$QKDKMD" -c "$D/A.conf" 2>&1); rc=$?
	[ $rc = 1 ] && echo "$out" | grep -q 'cannot lock the secure heap in memory'
	ok $? "memory that cannot be locked: start fails ($(echo "$out" | grep -o 'cannot lock[^:]*'))"
	cp "$D/A.conf" "$D/unlocked.conf"
	sed -i '/^\[node\]/a allow_unlocked_memory = yes' "$D/unlocked.conf"
	sed -i 's/^control = A.sock/control = U.sock/; s/^state_dir = state-A/state_dir = state-U/' \
		"$D/unlocked.conf"
	"${nolock[@]}" "$QKDKMD" -c "$D/unlocked.conf" >"$D/U.log" 2>&1 & upid=$!
	for ((i = 0; i < 100; i++)); do
		"$QKDCTL" --socket "$D/U.sock" status >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$QKDCTL" --socket "$D/U.sock" status >/dev/null 2>&1 &&
		grep -q 'secure heap NOT locked' "$D/U.log"
	ok $? "allow_unlocked_memory = yes: it runs, with a warning"
	kill "$upid"; wait "$upid" 2>/dev/null
else
	skip "memory that cannot be locked" "needs setpriv and prlimit"
	skip "allow_unlocked_memory" "needs setpriv and prlimit"
fi

# ---- two planes -------------------------------------------------------------

qkd_start A; ok $? "daemon A starts (kx_ca, sae_ca, CRLs)"
qkd_start B; ok $? "daemon B starts"
qkd_wait_peers A; ok $? "Kx channel A-B up"
qkd_settle

# A "mis-issued" SAE certificate: the SAE CA signs CN = B.
mkdir -p "$D/mis" && cp "$D/sae.pem" "$D/sae.key" "$D/mis/" &&
	(QKD_DIR=$D/mis; qkd_cert B sae)
out=$( (sleep 2) | timeout 10 openssl s_client -connect "${QKD_KX[A]}" -CAfile "$D/ca.pem" \
	-cert "$D/mis/B.pem" -key "$D/mis/B.key" -quiet 2>&1)
echo "$out" | grep -q 'alert unknown ca'
ok $? "Kx refuses an SAE-CA certificate with CN = B (alert unknown ca)"
out=$(qkd_curl B A /api/v1/keys/app1/status 2>&1)
echo "$out" | grep -q 'alert unknown ca'
ok $? "ETSI 014 refuses a KM-CA certificate (a node's)"

peer_field() {	# NODE FIELD: the field of its one peer
	qkd_ctl "$1" -j peer show | "$QKD_PY" -c \
		'import json,sys; print(json.load(sys.stdin)[0][sys.argv[1]])' "$2"
}
keys_flow() {	# app1@A gets a key for app2@B, B gives the same
	local enc dec id try
	# A few tries: after a Kx reconnect the pools take a moment (load).
	for try in 1 2 3 4 5; do
		enc=$(qkd_enc A app1 app2)
		id=$(echo "$enc" | http_body | keys_of | awk '{print $1}')
		if [ -n "$id" ]; then
			dec=$(qkd_dec B app2 app1 "$id")
			[ "$(echo "$enc" | http_body | keys_of)" = "$(echo "$dec" | http_body | keys_of)" ] &&
				return 0
		fi
		sleep 1
	done
	diag "enc_keys: $(echo "$enc" | tail -n 2 | tr '\n' ' ')"
	return 1
}
keys_flow; ok $? "keys flow: app1 at A, app2 at B"

# Clients that keep one connection open across the reloads (Python's
# http.client): on each input line one GET, printing the status, or
# "closed" once the server has cut the connection; never reconnects.
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
client() {	# SAE: a client talking to A as SAE through SAE.in, SAE.out
	mkfifo "$D/$1.in" "$D/$1.out" || return 1
	"$QKD_PY" "$D/client.py" "${QKD_ETSI[A]%:*}" "${QKD_ETSI[A]#*:}" \
		"$D/ca.pem" "$D/$1.pem" "$D/$1.key" /api/v1/keys/app2/status \
		<"$D/$1.in" >"$D/$1.out" 2>"$D/$1.err" &
}
client app1 && exec {in1}>"$D/app1.in" {out1}<"$D/app1.out"
client app3 && exec {in3}>"$D/app3.in" {out3}<"$D/app3.out"
ask() {	# FD_IN FD_OUT: one request, its answer
	local line=""
	echo go >&"$1" 2>/dev/null && read -r -t 15 line <&"$2"
	echo "${line:-none}"
}
r1=$(ask $in1 $out1); r3=$(ask $in3 $out3)
[ "$r1" = 200 ] && [ "$r3" = 200 ]
ok $? "app1 and app3 hold connections to A ($r1, $r3)"
connects_a=$(peer_field A connects) connects_b=$(peer_field B connects)

# ---- revocation on SIGHUP ---------------------------------------------------

openssl ca -config "$D/sae.cnf" -revoke "$D/app3.pem" -keyfile "$D/sae.key" \
	-cert "$D/sae.pem" >/dev/null 2>&1 && crl_make sae
ok $? "app3 revoked: a new SAE CRL"
r3=$(ask $in3 $out3)
[ "$r3" = 200 ]; ok $? "before SIGHUP app3 is still served ($r3)"
kill -HUP "${QKD_PID[A]}"
for ((i = 0; i < 50; i++)); do
	grep -q 'reload: certificate, CAs and CRLs reloaded' "$D/A.log" && break
	sleep 0.1
done
grep -q 'reload: certificate, CAs and CRLs reloaded; 1 connection(s) closed' "$D/A.log"
ok $? "A reloads its trust stores and closes one connection"
r3=$(ask $in3 $out3)
case $r3 in closed*) true ;; *) false ;; esac
ok $? "app3's open connection was closed ($r3)"
grep -q 'closing the connection of "app3".*certificate revoked' "$D/A.log"
ok $? "A logs why"
out=$(qkd_curl A app3 /api/v1/keys/app2/status 2>&1)
echo "$out" | grep -q 'alert certificate revoked'
ok $? "a new connection of app3 is refused (alert certificate revoked)"
r1=$(ask $in1 $out1)
[ "$r1" = 200 ]; ok $? "app1's connection stays and is served ($r1)"
[ "$(peer_field A connects)" = "$connects_a" ] && [ "$(peer_field B connects)" = "$connects_b" ] &&
	[ "$(peer_field A state)" = up ]
ok $? "the Kx channel did not reconnect (connects $connects_a/$connects_b)"
keys_flow; ok $? "keys flow after the reload"

# A node certificate revoked on the Kx plane: B's channel to A goes.
openssl ca -config "$D/ca.cnf" -revoke "$D/B.pem" -keyfile "$D/ca.key" \
	-cert "$D/ca.pem" >/dev/null 2>&1 && crl_make ca && cp "$D/ca.crl" "$D/ca-revoked-B.crl"
kill -HUP "${QKD_PID[A]}"
for ((i = 0; i < 50; i++)); do
	[ "$(peer_field A state)" != up ] && break
	sleep 0.1
done
[ "$(peer_field A state)" != up ]
ok $? "B's Kx certificate revoked: A closes the channel ($(peer_field A state))"
sleep 2
err=$(peer_field A last_error)
[ "$(peer_field A state)" != up ] && echo "$err" | grep -q 'revoked'
ok $? "and stays down: B's certificate is refused ($err)"

# ---- new certificates on SIGHUP ---------------------------------------------

# A fresh CRL without B, and A gets a new key and certificate.
: > "$D/ca.idx" && crl_make ca && cp "$D/A.pem" "$D/A-old.pem" && qkd_cert A
ok $? "B reinstated, a new certificate for A"
kill -HUP "${QKD_PID[A]}"
qkd_wait_peers A; ok $? "Kx channel A-B up again"
fp() { openssl x509 -noout -fingerprint -sha256 -in "$1"; }
served=$(timeout 10 openssl s_client -connect "${QKD_ETSI[A]}" -CAfile "$D/ca.pem" \
	-cert "$D/app1.pem" -key "$D/app1.key" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256)
[ "$served" = "$(fp "$D/A.pem")" ] && [ "$served" != "$(fp "$D/A-old.pem")" ]
ok $? "A serves its new certificate"
for l in "management:$MGMT_A" "SKIP:$SKIP_A"; do
	served=$(timeout 10 openssl s_client -connect "${l#*:}" -CAfile "$D/ca.pem" \
		-cert "$D/app1.pem" -key "$D/app1.key" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256)
	[ -n "$served" ] && [ "$served" = "$(fp "$D/A.pem")" ]
	ok $? "the ${l%%:*} listener serves the new certificate too"
done
out=$(curl -sS --max-time 10 --cacert "$D/ca.pem" --cert "$D/app1.pem" --key "$D/app1.key" \
	-o /dev/null -w '%{http_code}' "https://$MGMT_A/metrics")
[ "$out" = 200 ]; ok $? "and /metrics answers on it ($out)"
r1=$(ask $in1 $out1)
[ "$r1" = 200 ]; ok $? "app1's connection from before still served ($r1)"
qkd_settle
keys_flow; ok $? "keys flow with the new certificate"

# A bad file: nothing changes.
echo garbage > "$D/sae.crl"
kill -HUP "${QKD_PID[A]}"
for ((i = 0; i < 50; i++)); do
	grep -q 'keeping the running certificates' "$D/A.log" && break
	sleep 0.1
done
grep -q 'reload: .*sae.crl.*keeping the running certificates' "$D/A.log"
ok $? "a bad CRL on reload is logged and changes nothing"
r1=$(ask $in1 $out1)
[ "$r1" = 200 ] && keys_flow
ok $? "still serving ($r1)"

exec {in1}>&- {in3}>&- 2>/dev/null
qkd_stop A; ok $? "A stops cleanly"
qkd_stop B; ok $? "B stops cleanly"
tap_done
