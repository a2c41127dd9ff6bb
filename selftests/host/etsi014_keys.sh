#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 3, acceptance 1: two daemons on a simulated link.  enc_keys at A
# (curl with app1's client certificate) and dec_keys at B (app2) give
# identical keys; a key_ID is never returned twice; size and number
# variants, GET and POST; both directions; multicast to two slaves
# (additional_slave_SAE_IDs: app2 and app3, both at B).
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup keys || exit 1
QKD_EXTRA_SAES="app3@B" qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
qkd_start A; ok $? "daemon A starts"
qkd_start B; ok $? "daemon B starts"
qkd_wait_peers A && qkd_wait_peers B; ok $? "Kx channel A-B up"
qkd_settle

all_ids=$QKD_DIR/all_ids


out=$(qkd_enc A app1 app2)
qkd_check_pair "default size" "$out" B app2 app1 1 32
out=$(qkd_enc A app1 app2 "number=4&size=512")
qkd_check_pair "GET number=4 size=512" "$out" B app2 app1 4 64
out=$(qkd_enc A app1 app2 "size=64")
qkd_check_pair "GET minimum size 64" "$out" B app2 app1 1 8
out=$(qkd_enc A app1 app2 "size=4096")
qkd_check_pair "GET maximum size 4096" "$out" B app2 app1 1 512
out=$(qkd_post A app1 /api/v1/keys/app2/enc_keys '{"number": 16, "size": 1024}')
qkd_check_pair "POST number=16 (the maximum) size=1024" "$out" B app2 app1 16 128
out=$(qkd_enc B app2 app1 "number=3&size=256")
qkd_check_pair "other direction: master app2 at B, slave app1 at A" "$out" A app1 app2 3 32

# GET dec_keys with a single key_ID.
out=$(qkd_enc A app1 app2 "number=1")
id=$(echo "$out" | http_body | keys_of | awk '{print $1}')
echo "$id" >> "$all_ids"
dec=$(qkd_dec B app2 app1 "$id")
[ "$(echo "$dec" | http_code)" = 200 ] &&
[ "$(echo "$out" | http_body | keys_of)" = "$(echo "$dec" | http_body | keys_of)" ]
ok $? "GET dec_keys?key_ID= returns the same key"
dec=$(qkd_dec B app2 app1 "$id")
[ "$(echo "$dec" | http_code)" = 400 ]
ok $? "the same key_ID a second time is refused (got $(echo "$dec" | http_code))"

# Multicast: one key for app2 and app3, both slaves at B.
out=$(qkd_post A app1 /api/v1/keys/app2/enc_keys \
	'{"number": 2, "size": 256, "additional_slave_SAE_IDs": ["app3"]}')
[ "$(echo "$out" | http_code)" = 200 ]; ok $? "multicast enc_keys for app2 + app3 answers 200"
ids=$(echo "$out" | http_body | keys_of | awk '{print $1}')
echo "$ids" >> "$all_ids"
for s in app2 app3; do
	# shellcheck disable=SC2086
	dec=$(qkd_post B "$s" /api/v1/keys/app1/dec_keys "$(key_ids_json $ids)")
	[ "$(echo "$dec" | http_code)" = 200 ] &&
	[ "$(echo "$out" | http_body | keys_of | sort)" = "$(echo "$dec" | http_body | keys_of | sort)" ]
	ok $? "multicast: slave $s gets the identical keys"
done

# Status, as each side sees the pair.
st=$(qkd_curl A app1 /api/v1/keys/app2/status)
[ "$(echo "$st" | http_code)" = 200 ] &&
echo "$st" | http_body | "$QKD_PY" -c '
import json, sys
d = json.load(sys.stdin)
assert d["source_KME_ID"] == "A" and d["target_KME_ID"] == "B", d
assert d["master_SAE_ID"] == "app1" and d["slave_SAE_ID"] == "app2", d
assert d["key_size"] == 256 and d["max_key_per_request"] == 16, d'
ok $? "status at A for app1 -> app2 names A, B, app1, app2 and the limits"

total=$(grep -c . "$all_ids")
uniq=$(sort -u "$all_ids" | grep -c .)
[ "$total" -gt 0 ] && [ "$total" = "$uniq" ]
ok $? "no key_ID returned twice ($total key_IDs, $uniq distinct)"

qkd_stop A; ok $? "A stops cleanly on SIGTERM"
qkd_stop B; ok $? "B stops cleanly on SIGTERM"
tap_done
