#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 3, acceptance 4: kill -9 of either daemon during continuous
# enc_keys/dec_keys traffic, then restart it.  Every key_ID that enc_keys
# returned either decodes to identical bytes at the peer or fails cleanly
# (an ETSI error answer); none is delivered twice, no key_ID and no key
# value is ever handed out twice, also across restarts.  Counts reported.
set -u
. "$(dirname "$0")/lib.sh"
QKD_TIMEOUT=180
qkd_setup crash || exit 1
qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
qkd_start A; ok $? "daemon A starts"
qkd_start B; ok $? "daemon B starts"
qkd_wait_peers A; ok $? "Kx channel A-B up"
qkd_settle

enc_log=$QKD_DIR/enc.log	# "id key" per key enc_keys returned
dec_log=$QKD_DIR/dec.log	# "id key" per key dec_keys returned
fail_log=$QKD_DIR/fail.log	# one line per failed request
stop_flag=$QKD_DIR/stop
: > "$enc_log"; : > "$dec_log"; : > "$fail_log"

# Continuous traffic: enc at A, then dec at B of what it returned.
traffic() {
	local out code ids
	while [ ! -e "$stop_flag" ]; do
		out=$(qkd_enc A app1 app2 "number=4&size=256" 2>/dev/null)
		code=$(echo "$out" | http_code)
		if [ "$code" != 200 ]; then
			echo "enc $code" >> "$fail_log"
			sleep 0.05
			continue
		fi
		echo "$out" | http_body | keys_of >> "$enc_log"
		ids=$(echo "$out" | http_body | keys_of | awk '{print $1}')
		# shellcheck disable=SC2086
		out=$(qkd_post B app2 /api/v1/keys/app1/dec_keys "$(key_ids_json $ids)" 2>/dev/null)
		code=$(echo "$out" | http_code)
		if [ "$code" = 200 ]; then
			echo "$out" | http_body | keys_of >> "$dec_log"
		else
			echo "dec $code $(echo "$out" | http_body | message_of)" >> "$fail_log"
		fi
	done
}

traffic &
traffic_pid=$!
sleep 2
n0=$(wc -l < "$enc_log")
qkd_stop A KILL
diag "killed A (-9) after $n0 keys"
sleep 0.5
qkd_start A; ok $? "A restarts after kill -9"
qkd_wait_peers A; ok $? "Kx channel back after A's restart"
sleep 2
n1=$(wc -l < "$enc_log")
[ "$n1" -gt "$n0" ]; ok $? "enc_keys serves again after A's restart ($n0 -> $n1 keys)"
qkd_stop B KILL
diag "killed B (-9) after $n1 keys"
sleep 0.5
qkd_start B; ok $? "B restarts after kill -9"
qkd_wait_peers B; ok $? "Kx channel back after B's restart"
sleep 2
touch "$stop_flag"
wait "$traffic_pid"
n2=$(wc -l < "$enc_log")
[ "$n2" -gt "$n1" ]; ok $? "traffic flows after B's restart ($n1 -> $n2 keys)"

# Every key enc_keys returned and dec_keys did not: ask once more now.
late=$QKD_DIR/late.log
: > "$late"
cut -d' ' -f1 "$dec_log" | sort > "$QKD_DIR/decoded_ids"
cut -d' ' -f1 "$enc_log" | sort | comm -23 - "$QKD_DIR/decoded_ids" |
while read -r id; do
	out=$(qkd_dec B app2 app1 "$id")
	code=$(echo "$out" | http_code)
	if [ "$code" = 200 ]; then
		echo "$out" | http_body | keys_of >> "$dec_log"
	else
		echo "$id $code $(echo "$out" | http_body | message_of)" >> "$late"
	fi
done

# A sample of keys already delivered must not be delivered again.
again=0
for id in $(cut -d' ' -f1 "$dec_log" | head -n 5); do
	[ "$(qkd_dec B app2 app1 "$id" | http_code)" = 200 ] && again=$((again + 1))
done
[ "$again" = 0 ]; ok $? "delivered keys are not delivered again ($again of 5 were)"

"$QKD_PY" - "$enc_log" "$dec_log" "$late" <<'PY'
import sys
enc = [l.split() for l in open(sys.argv[1]) if l.strip()]
dec = [l.split() for l in open(sys.argv[2]) if l.strip()]
late = [l.split(None, 2) for l in open(sys.argv[3]) if l.strip()]
encd = dict(enc)
bad = []
if len(encd) != len(enc):
    bad.append("a key_ID was returned twice by enc_keys")
if len(set(k for _, k in enc)) != len(enc):
    bad.append("a key value was returned twice by enc_keys")
if len(set(i for i, _ in dec)) != len(dec):
    bad.append("a key_ID was delivered twice by dec_keys")
mismatch = [i for i, k in dec if encd.get(i) != k]
clean = [f for f in late if f[1] in ("400", "401", "503") and len(f) > 2 and f[2]]
unclean = [f for f in late if f not in clean]
print("# enc_keys returned %d keys; decoded identical %d; failed cleanly %d; "
      "mismatched %d; unclean failures %d" % (len(enc), len(dec) - len(mismatch),
      len(clean), len(mismatch), len(unclean)))
for f in unclean[:5]:
    print("#   unclean:", " ".join(f))
if mismatch:
    bad.append("%d key_IDs decoded to different bytes" % len(mismatch))
if unclean:
    bad.append("%d key_IDs failed without an ETSI error" % len(unclean))
if len(dec) + len(late) != len(enc):
    bad.append("accounting: %d + %d != %d" % (len(dec), len(late), len(enc)))
for b in bad:
    print("#   " + b)
sys.exit(1 if bad or not enc else 0)
PY
ok $? "every key_ID decodes identically or fails cleanly; none twice"
diag "failed requests during the run: $(wc -l < "$fail_log") ($(sort "$fail_log" | uniq -c | sort -rn | head -3 | tr '\n' ';'))"

qkd_stop A; ok $? "A stops cleanly"
qkd_stop B; ok $? "B stops cleanly"
tap_done
