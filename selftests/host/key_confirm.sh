#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 17, key confirmation and link agreement (confirmation.rst): two sim
# ends that would hand out different bytes under one key_ID never do.
#  1. a correct pair serves identical keys, counts confirmed blocks and the
#     32 key bytes each cost;
#  2. one end whose source delivers wrong bytes (a test build of qkdkmd
#     that flips a bit of every block, QKD_TEST_CORRUPT_BLOCKS): no 200
#     with different keys, a mismatch alarm at both ends instead;
#  3. two ends with different seeds are refused at connect, alarm at both;
#  4. two ends both role tx are refused at connect, alarm at both;
# and no key byte handed out appears in any log of the run.
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup confirm || exit 1
qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
hooks=$QKD_TOP/daemon/build/hooks/qkdkmd
make -s -C "$QKD_TOP/daemon" build/hooks/qkdkmd >/dev/null
ok $? "test build of qkdkmd with -DQKD_TEST_HOOKS"
keys=$QKD_DIR/keys_out
: > "$keys"
cp "$QKD_DIR/B.conf" "$QKD_DIR/B.conf.good"

# up: start A and B (B as $B_BIN under $B_WRAP if set), wait for Kx.
up() {
	qkd_start A &&
	QKD_WRAP="${B_WRAP:-}" QKDKMD="${B_BIN:-$QKDKMD}" qkd_start B &&
	qkd_wait_peers A && qkd_wait_peers B
}
down() { qkd_stop A; qkd_stop B; }

# try NAME: enc_keys at A, dec_keys at B.  Fails if both answer 200 with
# different keys; prints the enc_keys status.
try() {
	local enc dec ids code
	enc=$(qkd_enc A app1 app2 "number=4&size=256")
	code=$(echo "$enc" | http_code)
	echo "$code"
	[ "$code" = 200 ] || return 0
	echo "$enc" | http_body | keys_of >> "$keys"
	ids=$(echo "$enc" | http_body | keys_of | awk '{print $1}' | paste -sd,)
	dec=$(qkd_dec B app2 app1 "$ids")
	[ "$(echo "$dec" | http_code)" = 200 ] || return 0
	[ "$(echo "$enc" | http_body | keys_of | sort)" = \
	  "$(echo "$dec" | http_body | keys_of | sort)" ]
}

# alarms NODE PATTERN: NODE's "alarm show" lists PATTERN (give it time).
alarms() {
	local i
	for ((i = 0; i < 50; i++)); do
		qkd_ctl "$1" alarm show | grep -q -- "$2" && return 0
		sleep 0.1
	done
	qkd_ctl "$1" alarm show | sed 's/^/# /'
	return 1
}

# x733 NODE SOURCE TYPE CAUSE SEVERITY: NODE's active alarm SOURCE has
# these X.733 fields (qkdctl -j alarm show).
x733() {
	qkd_ctl "$1" -j alarm show | "$QKD_PY" -c '
import json, sys
src, want = sys.argv[1], sys.argv[2:]
a = [a for a in json.load(sys.stdin)["active"] if a["source"] == src]
got = [a[0]["event_type"], a[0]["probable_cause"], a[0]["severity"]] if a else None
if got != want:
    print("# %s: %s, expected %s" % (src, got, want))
    sys.exit(1)' "$2" "$3" "$4" "$5"
}

# 1. A correct pair.
up; ok $? "A and B up"
qkd_settle
bad=0
for i in 1 2 3; do
	code=$(try) || bad=1
	[ "$code" = 200 ] || bad=1
done
[ $bad = 0 ]; ok $? "correct pair: enc_keys 200 and dec_keys identical keys"
qkd_ctl A link show | grep -q "agreement agreed"
ok $? "link show: agreement agreed"
pool=$(qkd_ctl A -j pool show)
echo "$pool" | "$QKD_PY" -c '
import json, sys
l = json.load(sys.stdin)[0]
assert l["confirmed"] > 0 and l["mismatched"] == 0, l
assert l["confirm_key_bytes"] == 32 * l["confirmed"], l'
ok $? "pool show: blocks confirmed, none mismatched, 32 key bytes each"
qkd_ctl A pool show | grep -q "confirmed [1-9][0-9]* mismatched 0"
ok $? "pool show (text) has the counters"
down

# 2. B's source delivers wrong bytes; the parameters agree.
B_BIN=$hooks B_WRAP="env QKD_TEST_CORRUPT_BLOCKS=1" up; ok $? "A and faulty B up"
qkd_settle
bad=0; got200=0
for i in 1 2 3; do
	code=$(try) || bad=1
	[ "$code" = 200 ] && got200=1
done
[ $bad = 0 ]; ok $? "faulty end: no 200 with different bytes"
[ $got200 = 0 ]; ok $? "faulty end: no key handed out at all"
alarms A "key confirmation failed"; ok $? "faulty end: mismatch alarm at A"
alarms B "key confirmation failed"; ok $? "faulty end: mismatch alarm at B"
x733 A confirm:AB securityService integrityViolation major
ok $? "faulty end: the mismatch alarm is securityService, integrityViolation, major"
qkd_ctl A -j pool show | "$QKD_PY" -c '
import json, sys
l = json.load(sys.stdin)[0]
assert l["mismatched"] > 0 and l["confirmed"] == 0, l'
ok $? "faulty end: mismatches counted, nothing confirmed"
down

# 3. Different seeds.
seed=$(openssl rand -hex 32)
sed "s/^seed = .*/seed = $seed/" "$QKD_DIR/B.conf.good" > "$QKD_DIR/B.conf"
up; ok $? "A and B (other seed) up"
alarms A "link AB: seed fingerprints differ"; ok $? "different seeds: alarm at A"
alarms B "link AB: seed fingerprints differ"; ok $? "different seeds: alarm at B"
x733 B link:AB processingError configurationOrCustomizationError major
ok $? "different seeds: the alarm is processingError, configurationOrCustomizationError, major"
qkd_ctl A link show | grep -q "state down"; ok $? "different seeds: link down"
code=$(try); ok $? "different seeds: no 200 with different bytes"
[ "$code" != 200 ]; ok $? "different seeds: enc_keys refused ($code)"
down

# 4. Both role tx.
sed "s/^role = rx/role = tx/" "$QKD_DIR/B.conf.good" > "$QKD_DIR/B.conf"
up; ok $? "A and B (role tx) up"
alarms A "link AB: both ends are role tx; one must be rx"
ok $? "both tx: alarm at A"
alarms B "link AB: both ends are role tx; one must be rx"
ok $? "both tx: alarm at B"
code=$(try); ok $? "both tx: no 200 with different bytes"
[ "$code" != 200 ]; ok $? "both tx: enc_keys refused ($code)"
down

# No key byte in any log: each key handed out, as hex and as base64.
[ -s "$keys" ] && "$QKD_PY" - "$keys" "$QKD_DIR"/A.log "$QKD_DIR"/B.log <<'EOF'
import base64, sys
logs = b"".join(open(f, "rb").read() for f in sys.argv[2:])
low = logs.lower()
for line in open(sys.argv[1]):
    k = base64.b64decode(line.split()[1])
    for i in range(0, len(k) - 7, 8):	# any 8 bytes of it
        assert k[i:i + 8].hex().encode() not in low, "hex key bytes in a log"
    assert line.split()[1].encode() not in logs, "base64 key in a log"
EOF
ok $? "no key byte handed out appears in the logs"
tap_done
