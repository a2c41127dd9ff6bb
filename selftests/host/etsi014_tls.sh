#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The ETSI 014 port as independent clients see it (issue 20): TLS 1.2
# clients get keys (ECDHE + AEAD) unless [etsi014] min_tls = 1.3; Kx stays
# TLS 1.3 only; a refused handshake (no client certificate, an untrusted
# one, a version below the minimum) ends with a TLS alert the client can
# read, not a silent close; HEAD gets no body, so keep-alive framing holds.
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup etsi-tls || exit 1
qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
qkd_ca evil && qkd_cert eve evil
ok $? "a certificate from a foreign CA"
# B serves TLS 1.3 only.
sed -i '/^\[etsi014\]/a min_tls = 1.3' "$QKD_DIR/B.conf"
qkd_start A; ok $? "daemon A starts"
qkd_start B; ok $? "daemon B starts (min_tls = 1.3)"
qkd_wait_peers A; ok $? "Kx channel A-B up"
qkd_settle

# ---- TLS 1.2 ---------------------------------------------------------------

out=$(qkd_curl A app1 /api/v1/keys/app2/enc_keys --tlsv1.2 --tls-max 1.2 \
	-v 2>"$QKD_DIR/curl-v")
[ "$(echo "$out" | http_code)" = 200 ] && [ -n "$(echo "$out" | http_body | keys_of)" ]
ok $? "curl --tlsv1.2 --tls-max 1.2 gets a key"
cipher=$(sed -n 's/.*SSL connection using TLSv1.2 \/ \([^ ]*\).*/\1/p' "$QKD_DIR/curl-v" | head -n 1)
case $cipher in
ECDHE-*GCM*|ECDHE-*CHACHA20*) true ;;
*) false ;;
esac
ok $? "with an ECDHE + AEAD suite ($cipher)"
out=$(openssl s_client -connect "${QKD_ETSI[A]}" -tls1_2 -cipher AES256-SHA256 \
	-CAfile "$QKD_DIR/ca.pem" -cert "$QKD_DIR/app1.pem" -key "$QKD_DIR/app1.key" \
	</dev/null 2>&1)
echo "$out" | grep -q 'alert handshake failure'
ok $? "a TLS 1.2 suite without ECDHE or AEAD is refused with an alert"
out=$(qkd_curl B app2 /api/v1/keys/app1/status --tlsv1.2 --tls-max 1.2 2>&1)
echo "$out" | grep -qi 'alert protocol version'
ok $? "min_tls = 1.3: a TLS 1.2 client is refused with alert protocol version"
[ "$(qkd_curl B app2 /api/v1/keys/app1/status | http_code)" = 200 ]
ok $? "min_tls = 1.3: TLS 1.3 still served"
out=$(openssl s_client -connect "${QKD_KX[B]}" -tls1_2 -CAfile "$QKD_DIR/ca.pem" \
	-cert "$QKD_DIR/A.pem" -key "$QKD_DIR/A.key" </dev/null 2>&1)
echo "$out" | grep -q 'alert protocol version'
ok $? "Kx stays TLS 1.3 only (alert protocol version to TLS 1.2)"

# ---- alerts ----------------------------------------------------------------

# s_client as a client that reads what the server says after its flight.
s_client() {	# ADDR [args]: prints s_client's output
	local addr=$1; shift
	(sleep 1; printf 'GET /api/v1/keys/app2/status HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 1) |
		timeout 10 openssl s_client -connect "$addr" -CAfile "$QKD_DIR/ca.pem" \
			-quiet "$@" 2>&1
}
out=$(s_client "${QKD_ETSI[A]}")
echo "$out" | grep -q 'alert certificate required'
ok $? "no client certificate (TLS 1.3): alert certificate required"
echo "$out" | grep '^[0-9A-F]*:error' | head -n 1 | sed 's/^/# /'
out=$(s_client "${QKD_ETSI[A]}" -tls1_2)
echo "$out" | grep -q 'alert handshake failure'
ok $? "no client certificate (TLS 1.2): alert handshake failure"
out=$(s_client "${QKD_ETSI[A]}" -cert "$QKD_DIR/eve.pem" -key "$QKD_DIR/eve.key")
echo "$out" | grep -q 'alert unknown ca'
ok $? "an untrusted client certificate: alert unknown ca"
out=$(qkd_curl A "" /api/v1/keys/app2/status 2>&1)
echo "$out" | grep -q 'alert certificate required'
ok $? "curl without a certificate says why (${out%%$'\n'*})"
grep -q 'connection refused: handshake' "$QKD_DIR/A.log"
ok $? "A logs the refusals"

# ---- HEAD ------------------------------------------------------------------

out=$(qkd_curl A app1 /api/v1/keys/app2/status -I)
echo "$out" | grep -q '^HTTP/1.1 405' && echo "$out" | grep -qi '^Allow: GET'
ok $? "HEAD status: 405 with Allow"
# HEAD then GET on one keep-alive connection: the GET's answer must come
# right after the 405's header, not after a body HEAD must not have.
"$QKD_PY" - "${QKD_ETSI[A]}" "$QKD_DIR" <<'EOF'
import socket, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
d = sys.argv[2]
ctx = ssl.create_default_context(cafile=d + "/ca.pem")
ctx.load_cert_chain(d + "/app1.pem", d + "/app1.key")
ctx.check_hostname = False
s = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=5))
s.sendall(b"HEAD /api/v1/keys/app2/status HTTP/1.1\r\nHost: x\r\n\r\n"
          b"GET /api/v1/keys/app2/status HTTP/1.1\r\nHost: x\r\n"
          b"Connection: close\r\n\r\n")
data = b""
while True:
    try:
        b = s.recv(65536)
    except (ssl.SSLError, OSError):
        break
    if not b:
        break
    data += b
head, _, rest = data.partition(b"\r\n\r\n")
ok = head.startswith(b"HTTP/1.1 405") and rest.startswith(b"HTTP/1.1 200")
print("# after the HEAD answer's header: %r" % rest[:40])
sys.exit(0 if ok else 1)
EOF
ok $? "HEAD then GET on one connection: the 200 follows the 405's header at once"

kill -0 "${QKD_PID[A]}" && kill -0 "${QKD_PID[B]}"
ok $? "both daemons alive"
qkd_stop A; ok $? "A stops cleanly"
qkd_stop B; ok $? "B stops cleanly"
tap_done
