#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 3, acceptance 2: every kind of bad input gets the right HTTP status
# and ETSI 014 error message, and the daemon keeps serving: after each one
# a good request still succeeds.
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup errors || exit 1
QKD_IDLE_MS=1000 QKD_EXTRA_SAES="app3@B stranger@A" qkd_line A B ||
	{ echo "not ok 1 - certificates and configs"; exit 1; }
# An SAE certificate the daemons do not know, and a foreign CA's.
qkd_cert unlisted && qkd_ca evil && qkd_cert eve evil
ok $? "extra certificates (unlisted CN, foreign CA)"
qkd_start A; ok $? "daemon A starts"
qkd_start B; ok $? "daemon B starts"
qkd_wait_peers A; ok $? "Kx channel A-B up"
qkd_settle

# still_serving: a good enc_keys at A answers 200.
still_serving() {
	[ "$(qkd_enc A app1 app2 | http_code)" = 200 ]
}

# expect NAME STATUS MESSAGE OUTPUT: status, spec message ("" = any
# non-empty message), then a good request.
expect() {
	local name=$1 status=$2 msg=$3 out=$4 code got
	code=$(echo "$out" | http_code)
	got=$(echo "$out" | http_body | message_of)
	if [ -n "$msg" ]; then
		[ "$code" = "$status" ] && [ "$got" = "$msg" ]
	else
		[ "$code" = "$status" ] && [ -n "$got" ] && [ "$got" != "<not json>" ]
	fi
	ok $? "$name: $status '${msg:-<any message>}' (got $code '$got')"
	still_serving; ok $? "$name: the daemon still serves"
}

# expect_tls_refused NAME OUTPUT: no HTTP answer at all (handshake refused).
expect_tls_refused() {
	local name=$1 out=$2
	[ "$(echo "$out" | http_code)" = 000 ]
	ok $? "$name: refused during the TLS handshake (got HTTP $(echo "$out" | http_code))"
	still_serving; ok $? "$name: the daemon still serves"
}

NOT_FOUND="one or more keys specified are not found on KME"

expect "malformed JSON" 400 "" \
	"$(qkd_post A app1 /api/v1/keys/app2/enc_keys '{"number": 1,')"
expect "size not a multiple of 8 (GET)" 400 "size shall be a multiple of 8" \
	"$(qkd_enc A app1 app2 size=250)"
expect "size not a multiple of 8 (POST)" 400 "size shall be a multiple of 8" \
	"$(qkd_post A app1 /api/v1/keys/app2/enc_keys '{"size": 100}')"
expect "size below min_key_size" 400 "" "$(qkd_enc A app1 app2 size=8)"
expect "size above max_key_size" 400 "" "$(qkd_enc A app1 app2 size=8192)"
expect "number over max_key_per_request" 400 "" \
	"$(qkd_enc A app1 app2 number=17)"
expect "number zero" 400 "" "$(qkd_enc A app1 app2 number=0)"
expect "unknown key_ID" 400 "$NOT_FOUND" \
	"$(qkd_dec B app2 app1 0b5c2d0e-9a43-4c55-8f4e-2d3f2c1b0a99)"
expect "malformed key_ID" 400 "" "$(qkd_dec B app2 app1 not-a-uuid)"

# A key of the pair app1 -> app2, asked for by app3 (not one of its slaves).
out=$(qkd_enc A app1 app2)
id=$(echo "$out" | http_body | keys_of | awk '{print $1}')
expect "key_ID of another SAE pair" 400 "$NOT_FOUND" \
	"$(qkd_dec B app3 app1 "$id")"
expect "unknown slave SAE in the URL" 400 "" "$(qkd_enc A app1 nobody)"
expect "client certificate of no configured SAE" 401 "" \
	"$(qkd_enc A unlisted app2)"
expect "SAE served by the other node" 401 "" "$(qkd_enc B stranger app2)"
expect "unsupported mandatory extension" 400 \
	"not all extension_mandatory parameters are supported" \
	"$(qkd_post A app1 /api/v1/keys/app2/enc_keys '{"extension_mandatory": [{"abc_route_type": "direct"}]}')"
expect "oversized body" 413 "" \
	"$(qkd_post A app1 /api/v1/keys/app2/enc_keys "{\"x\": \"$(head -c 6000 /dev/zero | tr '\0' a)\"}")"
expect_tls_refused "no client certificate" "$(qkd_curl A "" /api/v1/keys/app2/status 2>/dev/null)"
expect_tls_refused "certificate from an untrusted CA" \
	"$(qkd_curl A eve /api/v1/keys/app2/status 2>/dev/null)"

# Slow client: sends half a request and stalls.  The daemon must answer
# others meanwhile and cut it off after idle_timeout_ms (1 s here).
"$QKD_PY" - "$QKD_DIR" "${QKD_ETSI[A]}" > "$QKD_DIR/slow.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
d, addr = sys.argv[1], sys.argv[2]
host, port = addr.rsplit(":", 1)
ctx = ssl.create_default_context(cafile=d + "/ca.pem")
ctx.load_cert_chain(d + "/app1.pem", d + "/app1.key")
s = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
s.sendall(b"GET /api/v1/keys/app2/status HTTP/1.1\r\nHost: x\r\n")
t0 = time.time()
s.settimeout(10)
try:
    data = s.recv(4096)
except Exception as e:
    data = b""
print("closed after %.1f s: %r" % (time.time() - t0, data[:40]))
PY
slow=$!
sleep 0.3
still_serving; ok $? "slow client: others are served while it stalls"
wait $slow
secs=$(sed -n 's/^closed after \([0-9.]*\) s.*/\1/p' "$QKD_DIR/slow.out")
[ -n "$secs" ] && "$QKD_PY" -c "import sys; sys.exit(0 if 0.5 <= $secs <= 5 else 1)"
ok $? "slow client: cut off after the idle timeout ($(cat "$QKD_DIR/slow.out"))"
still_serving; ok $? "slow client: the daemon still serves"

# status agrees with enc_keys (issue 20).  app2 is served by B, not A.
st=$(qkd_curl A app2 /api/v1/keys/app1/status | http_code)
enc=$(qkd_enc A app2 app1 | http_code)
[ "$st" = 401 ] && [ "$enc" = 401 ]
ok $? "an SAE this KME does not serve: status and enc_keys both 401 (got $st, $enc)"
stored_count() {
	qkd_curl A app1 /api/v1/keys/app2/status | http_body |
		"$QKD_PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_key_count"])'
}
n=$(stored_count)
[ "$n" -gt 0 ]
ok $? "status with B up: stored_key_count $n"

kill -0 "${QKD_PID[A]}" && kill -0 "${QKD_PID[B]}"
ok $? "both daemons alive after all of it"
qkd_stop B; ok $? "B stops cleanly"
for ((i = 0; i < 50; i++)); do
	[ "$(qkd_enc A app1 app2 | http_code)" = 503 ] && break
	sleep 0.1
done
enc=$(qkd_enc A app1 app2 | http_code)
n=$(stored_count)
[ "$enc" = 503 ] && [ "$n" = 0 ]
ok $? "B down: enc_keys 503 and status stored_key_count 0 (got $enc, $n)"
qkd_stop A; ok $? "A stops cleanly"
tap_done
