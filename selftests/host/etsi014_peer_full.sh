#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A slave's KME without room: node B holds max_key_count (3) unfetched
# keys of the pair app1 -> app2.  Node A must answer enc_keys for that
# pair with 503 before handing out a key app2 could never get (issue 20:
# never a 200 whose key cannot be fetched): it counts the keys it
# reserved, and B tells it the room left in its ACKs and, as app2
# fetches, in FETCHED notices.  Once app2 has fetched them A hands out
# keys again.
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
for i in 1 2 3; do	# before and after B's ACKs reach A
	out=$(qkd_enc A app1 app2)
	code=$(echo "$out" | http_code)
	msg=$(echo "$out" | http_body | message_of)
	[ "$code" = 503 ] && [ "$msg" = "KME B has no room for more keys of app1 -> app2; retry later" ]
	ok $? "a fourth key: 503, never a key B cannot store (try $i: $code '$msg')"
	sleep 0.2
done
! grep -q "refused: key store full" "$QKD_DIR/B.log"
ok $? "B never had to refuse a key for want of room"
# dec_keys of the three stored keys: identical at both ends.
ids=$(echo "$stored" | http_body | keys_of | awk '{print $1}')
# shellcheck disable=SC2086
dec=$(qkd_post B app2 /api/v1/keys/app1/dec_keys "$(key_ids_json $ids)")
[ "$(echo "$dec" | http_code)" = 200 ] &&
[ "$(echo "$stored" | http_body | keys_of | sort)" = "$(echo "$dec" | http_body | keys_of | sort)" ]
ok $? "the three stored keys decode to the same bytes at B"

sleep 0.3	# B's FETCHED notices reach A
qkd_check_pair "once app2 fetched them" "$(qkd_enc A app1 app2)" B app2 app1 1 32

kill -0 "${QKD_PID[A]}" && kill -0 "${QKD_PID[B]}"
ok $? "both daemons alive"
qkd_stop A; ok $? "A stops cleanly"
qkd_stop B; ok $? "B stops cleanly"
tap_done
