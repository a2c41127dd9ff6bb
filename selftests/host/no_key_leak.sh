#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 3, acceptance 5: no key byte in any log or qkdctl output.  Runs
# key traffic with both daemons logging at debug level, collects every key
# fetched, then searches the daemons' logs, every qkdctl output (text and
# JSON) and the state directories for them (base64, hex, and 8-byte
# prefixes).  Then a peer daemon with an untrusted certificate (CN "B",
# signed by another CA) must be refused by A.
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup leak || exit 1
QKD_LOG_LEVEL=debug QKD_EXTRA_SAES="app3@B" qkd_line A B ||
	{ echo "not ok 1 - certificates and configs"; exit 1; }
qkd_start A; ok $? "daemon A starts (log_level debug)"
qkd_start B; ok $? "daemon B starts (log_level debug)"
qkd_wait_peers A; ok $? "Kx channel A-B up"
qkd_settle

keys=$QKD_DIR/keys	# every key value seen, base64
ctl_out=$QKD_DIR/ctl-out
mkdir -p "$ctl_out"
: > "$keys"
fetched=0
for q in "number=4&size=256" "number=2&size=64" "size=4096" "number=16&size=512"; do
	out=$(qkd_enc A app1 app2 "$q")
	[ "$(echo "$out" | http_code)" = 200 ] || continue
	echo "$out" | http_body | keys_of >> "$keys"
	ids=$(echo "$out" | http_body | keys_of | awk '{print $1}')
	# shellcheck disable=SC2086
	qkd_post B app2 /api/v1/keys/app1/dec_keys "$(key_ids_json $ids)" |
		http_body | keys_of >> "$keys" 2>/dev/null
	fetched=$((fetched + 1))
done
out=$(qkd_post B app2 /api/v1/keys/app1/enc_keys \
	'{"number": 3, "size": 256, "additional_slave_SAE_IDs": []}')
echo "$out" | http_body | keys_of >> "$keys" 2>/dev/null
# Failed lookups and bad requests log too: make some.
qkd_dec B app2 app1 0b5c2d0e-9a43-4c55-8f4e-2d3f2c1b0a99 >/dev/null
qkd_enc A app1 app2 size=250 >/dev/null
n_keys=$(sort -u "$keys" | grep -c .)
[ "$n_keys" -ge 10 ]; ok $? "keys fetched to search for ($n_keys distinct)"

i=0
for n in A B; do
	for cmd in status "link show" "pool show" "sae show" "peer show" "key show"; do
		for j in "" -j; do
			i=$((i + 1))
			# shellcheck disable=SC2086
			qkd_ctl "$n" $j $cmd > "$ctl_out/$n-$i.txt" 2>&1
		done
	done
done
grep -q key_id "$ctl_out"/*.txt; ok $? "qkdctl key show lists key records"

# The search: every file of the run that is not a certificate or a key.
find "$QKD_DIR" -type f ! -name '*.pem' ! -name '*.key' ! -name keys \
	! -name '*.conf' > "$QKD_DIR/searched"
"$QKD_PY" - "$keys" "$QKD_DIR/searched" <<'PY'
import base64, sys
keys = {l.split()[1] for l in open(sys.argv[1]) if len(l.split()) == 2}
needles = set()
for k in keys:
    raw = base64.b64decode(k)
    needles |= {k, k.rstrip("="), raw.hex(), raw.hex().upper()}
    if len(raw) >= 8:
        needles |= {raw[:8].hex(), raw[:8].hex().upper(),
                    base64.b64encode(raw[:12]).decode()}
files = [l.strip() for l in open(sys.argv[2]) if l.strip()]
found = []
for f in files:
    data = open(f, "rb").read()
    text = data.decode("latin-1")
    for n in needles:
        if n in text:
            found.append((f, n[:8] + "..."))
    for k in keys:
        if len(base64.b64decode(k)) >= 8 and base64.b64decode(k)[:8] in data:
            found.append((f, "raw bytes"))
print("# searched %d files for %d keys (%d patterns)" % (len(files), len(keys), len(needles)))
for f, n in found[:10]:
    print("#   FOUND in %s: %s" % (f, n))
sys.exit(1 if found or not keys else 0)
PY
ok $? "no key byte in any log, qkdctl output or state file"

# A peer daemon posing as B with a certificate from another CA.
qkd_stop B; ok $? "B stops"
mkdir -p "$QKD_DIR/evil"
( QKD_DIR=$QKD_DIR/evil; qkd_ca evilca && qkd_cert B evilca )
ok $? "a certificate with CN B from an untrusted CA"
sed -e 's|^cert = B.pem|cert = evil/B.pem|' -e 's|^key = B.key|key = evil/B.key|' \
	-e 's|^control = B.sock|control = Bevil.sock|' \
	-e 's|^state_dir = state-B|state_dir = state-Bevil|' \
	"$QKD_DIR/B.conf" > "$QKD_DIR/Bevil.conf"
QKD_ETSI["Bevil"]=${QKD_ETSI[B]}
qkd_start Bevil; ok $? "the impostor daemon starts"
up=0
for _ in $(seq 1 30); do
	qkd_ctl A -j peer show | grep -q '"state":"up"' && up=1
	qkd_ctl Bevil -j peer show | grep -q '"state":"up"' && up=1
	sleep 0.1
done
[ "$up" = 0 ]; ok $? "A never accepts the impostor's Kx channel (3 s)"
out=$(qkd_enc A app1 app2)
id=$(echo "$out" | http_body | keys_of | awk '{print $1}')
[ -z "$id" ] || [ "$(qkd_dec Bevil app2 app1 "$id" | http_code)" != 200 ]
ok $? "the impostor cannot decode keys A handed out"
{ grep -qiE 'certif|verif|tls|handshake' "$QKD_DIR/A.log" ||
  qkd_ctl A -j peer show | grep -qiE '"last_error":"[^"]*(certif|verif|tls|handshake)'; }
ok $? "A says why it refused the impostor (log or qkdctl peer show)"
qkd_stop Bevil; ok $? "the impostor stops"
qkd_stop A; ok $? "A stops cleanly"
tap_done
