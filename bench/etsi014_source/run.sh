#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Keys per second from a QKD module into qkdkmd's store over ETSI GS QKD
# 014 (source = etsi014), next to what the module emulator serves alone in
# the same run.
#
#   alone:  one client, one keep-alive TLS connection, enc_keys of 48 keys
#           then dec_keys of their IDs (the work of a link's two ends), as
#           fast as the emulator answers, for SECONDS.
#   source: nodes A (tx) and B (rx) with an empty store and a store_max far
#           above what SECONDS can fill: the source fetches without pause;
#           counted by the emulator as keys dec_keys handed to B.
#
# Usage: bench/etsi014_source/run.sh [SECONDS]  (default 5).  Prints
# "alone_keys_per_s=N source_keys_per_s=M ratio=R" on its last line.
set -u
. "$(dirname "$0")/../../selftests/host/lib.sh"
SECONDS_RUN=${1:-5}
qkd_setup bench-e14src || exit 1
KME=127.0.0.1:$((QKD_PORT_BASE + 9))
BS=544	# 512-byte keys plus the 32 bytes of key confirmation

qkd_peer_link() {
	local peer=$1 self=$2 role=$3 name
	if [ "$role" = tx ]; then name=$self$peer; else name=$peer$self; fi
	printf '[peer %s]\naddress = %s\ncert_cn = %s\n\n' "$peer" "${QKD_KX[$peer]}" "$peer"
	printf '[link %s]\npeer = %s\nsource = etsi014\nrole = %s\nblock_size = %s\n' \
		"$name" "$peer" "$role" "$BS"
	printf 'kme_url = https://%s\nkme_ca = ca.pem\nkme_cert = %s.pem\nkme_key = %s.key\n' \
		"$KME" "$self" "$self"
	printf 'sae_id = %s\npeer_sae_id = %s\nstore_min = 100000\nstore_max = 200000\n\n' \
		"$self" "$peer"
}
QKD_SECURE_HEAP=67108864 QKD_LOG_LEVEL=notice qkd_line A B || exit 1
qkd_cert kme || exit 1
"$QKD_PY" "$QKD_TOP/selftests/host/kme_emulator.py" --listen "$KME" \
	--cert "$QKD_DIR/kme.pem" --key "$QKD_DIR/kme.key" --ca "$QKD_DIR/ca.pem" \
	--sae A --sae B --max-key-count 100000000 --stats "$QKD_DIR/stats" \
	> "$QKD_DIR/kme.log" 2>&1 &
KME_PID=$!
trap 'kill $KME_PID 2>/dev/null; qkd_cleanup' EXIT
for ((i = 0; i < 50; i++)); do
	grep -qs "kme emulator on" "$QKD_DIR/kme.log" && break
	sleep 0.1
done

alone=$("$QKD_PY" - "$KME" "$QKD_DIR" "$SECONDS_RUN" "$((BS * 8))" <<'PY'
import http.client, json, ssl, sys, time
kme, d, secs, bits = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
host, port = kme.rsplit(":", 1)
def conn(sae):
    ctx = ssl.create_default_context(cafile=d + "/ca.pem")
    ctx.load_cert_chain(d + "/%s.pem" % sae, d + "/%s.key" % sae)
    return http.client.HTTPSConnection(host, int(port), context=ctx)
a, b = conn("A"), conn("B")
hdr = {"Content-Type": "application/json"}
n, end = 0, time.monotonic() + secs
start = time.monotonic()
while time.monotonic() < end:
    a.request("POST", "/api/v1/keys/B/enc_keys",
              json.dumps({"number": 48, "size": bits}), hdr)
    ids = [k["key_ID"] for k in json.loads(a.getresponse().read())["keys"]]
    b.request("POST", "/api/v1/keys/A/dec_keys",
              json.dumps({"key_IDs": [{"key_ID": i} for i in ids]}), hdr)
    n += len(json.loads(b.getresponse().read())["keys"])
print(int(n / (time.monotonic() - start)))
PY
)

dec_count() {
	kill -USR1 "$KME_PID"
	sleep 0.2
	qkd_field "$(cat "$QKD_DIR/stats")" keys_dec
}
qkd_start A || exit 1
qkd_start B || exit 1
qkd_wait_peers A && qkd_wait_peers B || exit 1
sleep 1
d0=$(dec_count); t0=$EPOCHREALTIME
sleep "$SECONDS_RUN"
d1=$(dec_count); t1=$EPOCHREALTIME
src=$(awk -v a="$d0" -v b="$d1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%d", (b - a) / (e - s) }')
qkd_ctl A link show
echo "block_size=$BS alone_keys_per_s=$alone source_keys_per_s=$src ratio=$(awk -v a="$alone" -v s="$src" 'BEGIN { printf "%.2f", a ? s / a : 0 }')"
