#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 17, key source "file" (key-file-source.rst): two nodes A (role tx)
# and B (rx) whose link AB takes key files from a directory at each end.
#  1. bad key_dir (missing, open to others): file, line and reason;
#  2. the same random file at both ends (written to a temp file, then
#     moved in): it is gone from both directories, and enc_keys at A and
#     dec_keys at B give identical keys;
#  3. a file one byte different at B: no 200 with different bytes, the
#     key confirmation alarm at both ends;
#  4. a file open to others: refused with an alarm, left in place;
#  5. a size that is not whole blocks: refused with an alarm, removed;
#  6. a different block count at the two ends, and a file at A that never
#     comes at B: refused at both ends with an alarm;
# and no key byte handed out appears in any log of the run.
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup keyfile || exit 1
qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
keys=$QKD_DIR/keys_out
: > "$keys"
BS=1024
mkdir -m 700 "$QKD_DIR/keys-A" "$QKD_DIR/keys-B"
# source = file instead of sim; the key_dir after the role, and a file
# missing at one end refused after 2 s rather than 10.
for n in A B; do
	sed -i -e 's/^source = sim$/source = file/' -e '/^seed = /d' \
		-e '/^rate = /d' \
		-e "s|^role = \(.*\)$|role = \1\nkey_dir = keys-$n\nkey_wait_ms = 2000|" \
		"$QKD_DIR/$n.conf"
done
line=$(grep -n '^key_dir' "$QKD_DIR/A.conf" | cut -d: -f1)

# 1. Bad key_dir.
sed "s|^key_dir = .*|key_dir = nowhere|" "$QKD_DIR/A.conf" > "$QKD_DIR/bad.conf"
out=$("$QKDKMD" -c "$QKD_DIR/bad.conf" --check 2>&1)
echo "$out" | grep -q "bad.conf:$line: key_dir: '.*/nowhere': No such file or directory"
ok $? "missing key_dir: file, line and reason ($out)"
mkdir -m 755 "$QKD_DIR/open"
sed "s|^key_dir = .*|key_dir = open|" "$QKD_DIR/A.conf" > "$QKD_DIR/bad.conf"
out=$("$QKDKMD" -c "$QKD_DIR/bad.conf" --check 2>&1)
echo "$out" | grep -q "bad.conf:$line: key_dir: '.*/open' is open to group or others (mode 0755)"
ok $? "key_dir open to others: file, line and reason ($out)"
"$QKDKMD" -c "$QKD_DIR/A.conf" --check >/dev/null 2>&1
ok $? "the file link's config is accepted"

qkd_start A && qkd_start B && qkd_wait_peers A && qkd_wait_peers B
ok $? "A and B up"

# drop NAME BYTES [FLIP]: the same random bytes at both ends (B's with
# byte 100 flipped if FLIP), written aside and moved in, as a QKD
# system's post-processing would.
drop() {
	local name=$1 bytes=$2 flip=${3:-}
	openssl rand -out "$QKD_DIR/$name.a" "$bytes"
	cp "$QKD_DIR/$name.a" "$QKD_DIR/$name.b"
	[ -n "$flip" ] && "$QKD_PY" -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[100] ^= 1
open(sys.argv[1], "wb").write(b)' "$QKD_DIR/$name.b"
	mv "$QKD_DIR/$name.a" "$QKD_DIR/keys-A/$name"
	mv "$QKD_DIR/$name.b" "$QKD_DIR/keys-B/$name"
}

# gone FILE...: each has left its directory (give it time).
gone() {
	local i f left
	for ((i = 0; i < 50; i++)); do
		left=0
		for f; do [ -e "$f" ] && left=1; done
		[ $left = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# alarms NODE PATTERN: NODE's "alarm show" lists PATTERN (give it time).
alarms() {
	local i
	for ((i = 0; i < 100; i++)); do
		qkd_ctl "$1" alarm show | grep -q -- "$2" && return 0
		sleep 0.1
	done
	qkd_ctl "$1" alarm show | sed 's/^/# /'
	return 1
}

# try: enc_keys at A, dec_keys at B; prints the enc_keys status.  Fails if
# both answer 200 with different keys.
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

# 2. Good files.
drop f1 $((8 * BS))
gone "$QKD_DIR/keys-A/f1" "$QKD_DIR/keys-B/f1"
ok $? "intake: the file is gone from both directories"
code=
for ((i = 0; i < 50; i++)); do
	code=$(try) || { code=differ; break; }
	[ "$code" = 200 ] && break
	sleep 0.2
done
[ "$code" = 200 ]; ok $? "enc_keys at A and dec_keys at B: identical keys (got $code)"
bad=0
for i in 1 2 3; do try >/dev/null || bad=1; done
[ $bad = 0 ]; ok $? "more keys from the file, identical at both ends"
qkd_ctl A link show | grep -q "source file"; ok $? "link show: source file"

# 3. One byte differs at B: confirmation must catch it.
drop f2 $((8 * BS)) flip
gone "$QKD_DIR/keys-A/f2" "$QKD_DIR/keys-B/f2"
ok $? "tampered: the files are gone too"
alarms A "key confirmation failed"; ok $? "tampered: confirmation alarm at A"
alarms B "key confirmation failed"; ok $? "tampered: confirmation alarm at B"
bad=0
for i in 1 2 3 4 5 6; do try >/dev/null || bad=1; done
[ $bad = 0 ]; ok $? "tampered: no 200 with different bytes"
qkd_ctl A -j pool show | "$QKD_PY" -c '
import json, sys
l = json.load(sys.stdin)[0]
assert l["mismatched"] > 0, l'
ok $? "tampered: mismatched blocks counted"

# 4. Open to others: refused, left in place.
openssl rand -out "$QKD_DIR/f3" $((2 * BS))
chmod 644 "$QKD_DIR/f3"
mv "$QKD_DIR/f3" "$QKD_DIR/keys-A/f3"
alarms A "key file .*/f3 refused: mode 0644"; ok $? "world-readable: alarm at A"
[ -s "$QKD_DIR/keys-A/f3" ]; ok $? "world-readable: left in place, unread and unzeroed"
rm -f "$QKD_DIR/keys-A/f3"

# 5. Not whole blocks: refused and removed.
openssl rand -out "$QKD_DIR/f4" $((BS + 100))
mv "$QKD_DIR/f4" "$QKD_DIR/keys-B/f4"
alarms B "key file .*/f4 refused: $((BS + 100)) bytes"; ok $? "partial block: alarm at B"
gone "$QKD_DIR/keys-B/f4"; ok $? "partial block: removed"

# 6a. Different block counts.
openssl rand -out "$QKD_DIR/f5.a" $((4 * BS))
head -c $((2 * BS)) "$QKD_DIR/f5.a" > "$QKD_DIR/f5.b"
mv "$QKD_DIR/f5.b" "$QKD_DIR/keys-B/f5"
sleep 0.5
mv "$QKD_DIR/f5.a" "$QKD_DIR/keys-A/f5"
alarms B "key file f5 from A refused: 4 blocks at A, 2 here"
ok $? "block counts differ: alarm at B"
alarms A "key file f5 refused by B"; ok $? "block counts differ: alarm at A"

# 6b. The file only at A: refused once B has waited 2 s for it.
openssl rand -out "$QKD_DIR/lonely" $((2 * BS))
mv "$QKD_DIR/lonely" "$QKD_DIR/keys-A/lonely"
alarms B "key file lonely from A refused: no such file here"
ok $? "file missing at B: alarm at B"
alarms A "key file lonely refused by B"; ok $? "file missing at B: alarm at A"

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
