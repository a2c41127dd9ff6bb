#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A slave's KME without room: once node B refuses a key of the pair
# app1 -> app2 (its max_key_count reached), node A answers enc_keys for
# that pair with 503 for a second instead of handing out keys app2 could
# never get.  The refused key fails cleanly at B, the stored ones decode,
# and once app2 has fetched them A hands out keys again.
set -u
. "$(dirname "$0")/lib.sh"
qkd_setup peer-full || exit 1
QKD_MAX_KEY_COUNT=3 qkd_line A B ||
	{ echo "not ok 1 - certificates and configs"; exit 1; }
qkd_start A; ok $? "daemon A starts"
qkd_start B; ok $? "daemon B starts"
qkd_wait_peers A; ok $? "Kx channel A-B up"
qkd_settle
all_ids=$QKD_DIR/all_ids

stored=$(qkd_enc A app1 app2 number=3)
[ "$(echo "$stored" | http_code)" = 200 ]
ok $? "three keys for app2: B's max_key_count"
refused=$(qkd_enc A app1 app2)
[ "$(echo "$refused" | http_code)" = 200 ]
ok $? "a fourth key is handed out before A hears that B is full"
refused_id=$(echo "$refused" | http_body | keys_of | awk '{print $1}')
sleep 0.3	# B's refusal reaches A

out=$(qkd_enc A app1 app2)
code=$(echo "$out" | http_code)
msg=$(echo "$out" | http_body | message_of)
[ "$code" = 503 ] && [ "$msg" = "KME B has no room for more keys of app1 -> app2; retry later" ]
ok $? "then A answers 503 (got $code '$msg')"
grep -q "node B has no room for keys of app1 -> app2" "$QKD_DIR/A.log"
ok $? "A's log says why"

out=$(qkd_dec B app2 app1 "$refused_id")
[ "$(echo "$out" | http_code)" = 400 ] &&
[ "$(echo "$out" | http_body | message_of)" = "one or more keys specified are not found on KME" ]
ok $? "the refused key fails cleanly at B"
# dec_keys of the three stored keys: identical at both ends.
ids=$(echo "$stored" | http_body | keys_of | awk '{print $1}')
# shellcheck disable=SC2086
dec=$(qkd_post B app2 /api/v1/keys/app1/dec_keys "$(key_ids_json $ids)")
[ "$(echo "$dec" | http_code)" = 200 ] &&
[ "$(echo "$stored" | http_body | keys_of | sort)" = "$(echo "$dec" | http_body | keys_of | sort)" ]
ok $? "the three stored keys decode to the same bytes at B"

sleep 1.2	# A's pause ends; B has room again
qkd_check_pair "after the pause" "$(qkd_enc A app1 app2)" B app2 app1 1 32

kill -0 "${QKD_PID[A]}" && kill -0 "${QKD_PID[B]}"
ok $? "both daemons alive"
qkd_stop A; ok $? "A stops cleanly"
qkd_stop B; ok $? "B stops cleanly"
tap_done
