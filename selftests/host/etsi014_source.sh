#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 17: a link whose keys come from a QKD module over ETSI GS QKD 014
# (source = etsi014).  Both "modules" are kme_emulator.py, written from the
# spec; nodes A (role tx, calls enc_keys) and B (role rx, dec_keys) are its
# SAEs.  Applications at A and B (curl over ETSI 014 at the qkdkmd nodes)
# get identical keys, no key_ID twice.  Then the module's faults, each
# with a clean outcome: out of keys (503), dropped connections at A's
# module (link down at both ends), a slow answer, a module that stops
# answering (link down at both ends, back up), malformed JSON, an oversized
# body, a repeated key_ID, an expired and an untrusted module certificate,
# a malformed dec_keys answer at one end, a 401;
# an alarm names each cause.  Last, bad configurations.
#
#   etsi014_source.sh --asan   the keys part only, with qkdkmd built with
#                              ASan and UBSan, then a clean exit and no
#                              sanitizer report (etsi014_source_asan.sh)
set -u
. "$(dirname "$0")/lib.sh"
QKD_TIMEOUT=${QKD_TIMEOUT:-210}
qkd_setup e14src || exit 1
[ "${1:-}" = --asan ] && qkd_use_asan

KME=127.0.0.1:$((QKD_PORT_BASE + 9))
CTRL=$QKD_DIR/kme.control
: > "$CTRL"

# The [link] of qkd_line's configs, with the module instead of a seed.
qkd_peer_link() {
	local peer=$1 self=$2 role=$3 name
	if [ "$role" = tx ]; then name=$self$peer; else name=$peer$self; fi
	printf '[peer %s]\naddress = %s\ncert_cn = %s\n\n' "$peer" "${QKD_KX[$peer]}" "$peer"
	printf '[link %s]\npeer = %s\nsource = etsi014\nrole = %s\nblock_size = 544\n' \
		"$name" "$peer" "$role"
	printf 'kme_url = https://%s\nkme_ca = ca.pem\nkme_cert = %s.pem\nkme_key = %s.key\n' \
		"$KME" "$self" "$self"
	printf 'sae_id = %s\npeer_sae_id = %s\nstore_min = 16\nstore_max = 64\nkme_timeout_ms = 1000\n\n' \
		"$self" "$peer"
}

qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
qkd_cert kme || exit 1
# The module's certificate faults: one past its notAfter (same CA, -days -1
# puts notAfter a day before notBefore), one from a CA the nodes do not know.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$QKD_DIR/kme-old.key" -out "$QKD_DIR/kme-old.csr" -subj /CN=kme \
	>/dev/null 2>&1 &&
printf 'subjectAltName=DNS:kme,IP:127.0.0.1\n' > "$QKD_DIR/kme-old.ext" &&
openssl x509 -req -in "$QKD_DIR/kme-old.csr" -CA "$QKD_DIR/ca.pem" \
	-CAkey "$QKD_DIR/ca.key" -CAcreateserial -days -1 \
	-extfile "$QKD_DIR/kme-old.ext" -out "$QKD_DIR/kme-old.pem" >/dev/null 2>&1 &&
qkd_ca rogue && qkd_cert kme-rogue rogue || exit 1
"$QKD_PY" "$(dirname "$0")/kme_emulator.py" --listen "$KME" \
	--cert "$QKD_DIR/kme.pem" --key "$QKD_DIR/kme.key" --ca "$QKD_DIR/ca.pem" \
	--expired-cert "$QKD_DIR/kme-old.pem" --expired-key "$QKD_DIR/kme-old.key" \
	--untrusted-cert "$QKD_DIR/kme-rogue.pem" --untrusted-key "$QKD_DIR/kme-rogue.key" \
	--sae A --sae B --max-key-per-request 32 --control "$CTRL" \
	> "$QKD_DIR/kme.log" 2>&1 &
KME_PID=$!
trap 'kill -CONT $KME_PID 2>/dev/null; kill $KME_PID 2>/dev/null; qkd_cleanup' EXIT
for ((i = 0; i < 50; i++)); do
	grep -qs "kme emulator on" "$QKD_DIR/kme.log" && break
	sleep 0.1
done
ok 0 "module emulator listening on $KME"

qkd_start A; ok $? "daemon A starts"
qkd_start B; ok $? "daemon B starts"
qkd_wait_peers A && qkd_wait_peers B; ok $? "Kx channel A-B up"

# wait_for SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
	local t=$1 i; shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
link_state() {	# NODE: "up" or "down"
	qkd_ctl "$1" link show | sed -n 's/^AB: .* state \([a-z]*\) .*/\1/p'
}
link_is() { [ "$(link_state "$1")" = "$2" ]; }
alarm_has() {	# NODE TEXT
	qkd_ctl "$1" alarm show | grep -q "etsi014:AB.*$2"
}
no_alarm() { ! qkd_ctl "$1" alarm show | grep -q "etsi014:AB"; }
# x733 NODE TYPE CAUSE: NODE's alarm etsi014:AB has that event type and
# probable cause, severity major.
x733() {
	local got
	got=$(qkd_ctl "$1" -j alarm show | jq -r '.active[] |
		select(.source == "etsi014:AB") |
		"\(.event_type) \(.probable_cause) \(.severity)"')
	[ "$got" = "$2 $3 major" ] && return 0
	diag "$1: etsi014:AB is '$got', expected '$2 $3 major'"
	return 1
}
# jq, not python: this test makes a hundred such calls on a loaded machine.
rec() { echo "$1" | http_body | jq -r '.keys[]? | "\(.key_ID) \(.key)"' >> "$QKD_DIR/keys_seen" 2>/dev/null; }
# pair NAME ENC_OUTPUT DEC_NODE SLAVE MASTER N BYTES: as qkd_check_pair,
# one TAP line: 200, N keys of BYTES bytes, dec_keys gives the same keys.
pair() {
	local name=$1 enc=$2 node=$3 slave=$4 master=$5 n=$6 bytes=$7
	# shellcheck disable=SC2017 # base64 length: 4 per started 3 bytes
	local code keys ids dec rc b64=$(( (${7} + 2) / 3 * 4 ))
	code=$(echo "$enc" | http_code)
	keys=$(echo "$enc" | http_body | jq -r '.keys[] | "\(.key_ID) \(.key)"' 2>/dev/null | sort)
	ids=$(echo "$keys" | awk '{print $1}')
	echo "$ids" >> "$all_ids"
	dec=$(qkd_post "$node" "$slave" "/api/v1/keys/$master/dec_keys" \
		"$(echo "$ids" | jq -R '{key_ID: .}' | jq -sc '{key_IDs: .}')")
	[ "$code" = 200 ] && [ "$(echo "$keys" | grep -c .)" = "$n" ] &&
	[ -z "$(echo "$keys" | awk -v l=$b64 'length($2) != l')" ] &&
	[ "$(echo "$dec" | http_code)" = 200 ] &&
	[ "$(echo "$dec" | http_body | jq -r '.keys[] | "\(.key_ID) \(.key)"' | sort)" = "$keys" ]
	rc=$?
	${QKD_OK:-ok} $rc "$name: $n key(s) of $bytes bytes, identical at $node (enc $code, dec $(echo "$dec" | http_code))"
	return $rc
}
has_key() {	# A's enc_keys for app2 answers 200
	[ "$(qkd_enc A app1 app2 | http_code)" = 200 ]
}

all_ids=$QKD_DIR/all_ids
: > "$all_ids"
wait_for 20 has_key; ok $? "keys from the module reach A's store"
# That probe key was never fetched at B: leave it out of the checks.

out=$(qkd_enc A app1 app2 "number=4")
rec "$out"
pair "A->B" "$out" B app2 app1 4 32
out=$(qkd_post A app1 /api/v1/keys/app2/enc_keys '{"number": 16, "size": 512}')
rec "$out"
pair "A->B 16 keys of 512 bits" "$out" B app2 app1 16 64
out=$(qkd_enc B app2 app1 "number=3&size=1024")
rec "$out"
pair "B->A (rx end's share)" "$out" A app1 app2 3 128
n=0
for ((i = 0; i < 3; i++)); do
	out=$(qkd_enc A app1 app2 "number=8")
	rec "$out"
	QKD_OK=: pair "loop $i" "$out" B app2 app1 8 32 && n=$((n + 1))
done
[ "$n" = 3 ]; ok $? "3 more requests of 8 keys: identical at both ends ($n of 3)"
link_is A up && link_is B up; ok $? "qkdctl link show: AB up at both ends"
qkd_ctl A link show | grep -q 'source etsi014'; ok $? "link show names source etsi014"
qkd_ctl A -j link show | jq -e '[.. | objects | select(.link? == "AB") | .module][0] |
	.up and .peer_up and .requests > 0 and .keys_taken > 0' >/dev/null
ok $? "link show -j: the module's state and the source's counters"
if [ "${1:-}" = --asan ]; then
	for n in A B; do
		qkd_stop "$n"; rc=$?
		[ "$rc" = 0 ]; ok $? "$n exits with status 0 under ASan (got $rc)"
	done
	qkd_sanitizer_clean A B
	tap_done
	exit
fi

# ---- faults ---------------------------------------------------------------

fault() { echo "$*" > "$CTRL"; }
# Use up A's store (16 blocks a request) so that it asks its module again.
drain() {
	local i
	for ((i = 0; i < 4; i++)); do
		qkd_enc A app1 app2 "number=16&size=4096" >/dev/null
	done
}
clear_fault() { : > "$CTRL"; }

# Out of keys: 503 from enc_keys, stored_key_count 0 in status.
fault empty sae=A
drain
wait_for 15 alarm_has A "503\|stored\|HTTP"; ok $? "out of keys (503): an alarm names it"
x733 A qualityOfService resourceAtOrNearingCapacity
ok $? "out of keys: the alarm is qualityOfService, resourceAtOrNearingCapacity"
out=$(qkd_enc A app1 app2 "number=2")
rec "$out"
[ "$(echo "$out" | http_code)" = 200 ]; ok $? "out of keys: A still serves from its store"
QKD_OK=: pair "503" "$out" B app2 app1 2 32 >/dev/null
link_is A up; ok $? "out of keys: the link stays up (the module answers)"
clear_fault
wait_for 20 no_alarm A; ok $? "keys again: the alarm clears"

# Dropped connections at A's module only: A's link goes down, and B's,
# which hears of it over Kx (B's own module still answers).
fault drop sae=A
drain
wait_for 15 alarm_has A "not answering"; ok $? "A's module drops connections: alarm 'not answering' at A"
wait_for 10 link_is B down; ok $? "A's module drops connections: link down at B too (told over Kx)"
qkd_ctl B alarm show | grep -q "etsi014:AB.*A: module .* not answering"
ok $? "B's alarm says it is A's module"
x733 A communications communicationsSubsystemFailure && \
	x733 B communications communicationsSubsystemFailure
ok $? "module not answering: the alarms are communications, communicationsSubsystemFailure"
clear_fault
wait_for 20 link_is A up && wait_for 10 link_is B up; ok $? "A's module answers again: link up at both ends"

# A slow answer, past kme_timeout_ms: given up, counted as not answering.
fault slow sae=A method=enc_keys delay=2 count=1
drain
wait_for 15 alarm_has A "timed out"; ok $? "slow answer: alarm names the time-out"
clear_fault
wait_for 20 link_is A up; ok $? "slow answer: link up again"
out=$(qkd_enc A app1 app2 "number=4")
rec "$out"
pair "after a slow answer" "$out" B app2 app1 4 32

# The module stops answering: both ends go down, and come back.
kill -STOP "$KME_PID"
wait_for 20 link_is A down; ok $? "module stopped: link down at A"
wait_for 10 link_is B down; ok $? "module stopped: link down at B"
qkd_ctl A alarm show | grep -q "etsi014:AB.*not answering"
ok $? "module stopped: alarm etsi014:AB names it"
out=$(qkd_enc A app1 app2)
rec "$out"
code=$(echo "$out" | http_code)
[ "$code" = 503 ] || [ "$code" = 400 ]; ok $? "module stopped: enc_keys at A refuses cleanly (got $code)"
kill -CONT "$KME_PID"
wait_for 25 link_is A up && wait_for 10 link_is B up; ok $? "module answers again: link up at both ends"
wait_for 20 has_key; ok $? "module answers again: keys flow"
out=$(qkd_enc A app1 app2 "number=4")
rec "$out"
pair "after the outage" "$out" B app2 app1 4 32

# Answers the source must refuse; each names its cause.
for f in "malformed|malformed JSON" "oversized|larger than" "dupid|returned before" "reject|HTTP 401"; do
	mode=${f%%|*} text=${f#*|}
	fault "$mode" sae=A method=enc_keys count=1
	drain
	wait_for 15 alarm_has A "$text"; ok $? "$mode answer to A: alarm names it ('$text')"
	clear_fault
	sleep 0.5
	out=$(qkd_enc A app1 app2 "number=4")
	rec "$out"
	pair "after $mode" "$out" B app2 app1 4 32
done

# The module's certificate fails verification: the link goes down at both
# ends, the alarm says what to fix, no application gets a key meanwhile.
for f in "expired|certificate has expired: renew" "untrusted|unknown CA: put the CA"; do
	mode=${f%%|*} text=${f#*|}
	fault "$mode"
	drain
	wait_for 20 alarm_has A "A.conf:[0-9]*: module .* refused: .*$text"
	ok $? "$mode certificate at the module: alarm at A says '$text'"
	wait_for 10 link_is A down && wait_for 10 link_is B down
	ok $? "$mode certificate: link down at both ends"
	got=0
	for ((i = 0; i < 4; i++)); do
		code=$(qkd_enc A app1 app2 "number=16&size=4096" | http_code)
		[ "$code" = 200 ] && got=1
	done
	[ "$got" = 0 ]; ok $? "$mode certificate: enc_keys at A hands out nothing (last $code)"
	clear_fault
	wait_for 25 link_is A up && wait_for 10 link_is B up
	ok $? "$mode certificate replaced: link up at both ends"
	wait_for 20 no_alarm A; ok $? "$mode certificate replaced: the alarm clears"
done
out=$(qkd_enc A app1 app2 "number=4")
rec "$out"
pair "after the certificate faults" "$out" B app2 app1 4 32

# A malformed dec_keys answer at B: the batch is refused at both ends.
fault malformed sae=B method=dec_keys count=1
drain
wait_for 15 alarm_has B "malformed JSON"; ok $? "malformed dec_keys at B: alarm at B"
wait_for 5 alarm_has A "refused"; ok $? "malformed dec_keys at B: A hears of the refusal"
clear_fault
out=$(qkd_enc A app1 app2 "number=4")
rec "$out"
pair "after B's refusal" "$out" B app2 app1 4 32

# Wrong bytes in one dec_keys answer at B: key confirmation
# (confirmation.rst) finds those blocks at both ends and discards them,
# so no application is handed one.
mismatched() {	# NODE: link AB's blocks found different, per pool show
	qkd_ctl "$1" -j pool show | jq -e '.[] | select(.link == "AB") | .mismatched > 0' >/dev/null
}
confirm_alarm() { qkd_ctl "$1" alarm show | grep -q "key confirmation failed"; }
fault wrongbytes sae=B method=dec_keys count=1
drain
wait_for 20 mismatched A && wait_for 10 mismatched B
ok $? "wrong bytes at B: the blocks are found different at both ends"
confirm_alarm A && confirm_alarm B; ok $? "wrong bytes at B: a key confirmation alarm at both ends"
clear_fault
# The drains used A's store up: wait for 16 blocks fetched and confirmed
# again (a 503 hands nothing out).
for ((i = 0; i < 60; i++)); do
	out=$(qkd_enc A app1 app2 "number=16&size=4096")
	[ "$(echo "$out" | http_code)" = 200 ] && break
	sleep 0.5
done
rec "$out"
pair "after wrong bytes at B" "$out" B app2 app1 16 512

total=$(grep -c . "$all_ids")
uniq=$(sort -u "$all_ids" | grep -c .)
[ "$total" -gt 0 ] && [ "$total" = "$uniq" ]
ok $? "no key_ID handed out twice ($total key_IDs, $uniq distinct)"

qkd_stop A; ok $? "A stops cleanly"
qkd_stop B; ok $? "B stops cleanly"
# No key byte in any log: look for the base64 keys handed out.
leak=0
while read -r _ k; do
	[ -n "$k" ] && grep -qF -- "$k" "$QKD_DIR"/*.log && leak=1
done < "$QKD_DIR/keys_seen"
[ "$leak" = 0 ]; ok $? "no key handed out appears in a log"

# ---- bad configuration: file, line and reason ---------------------------

bad() {	# NAME SED-EXPR EXPECTED-REGEX
	sed "$2" "$QKD_DIR/A.conf" > "$QKD_DIR/bad.conf"
	out=$("$QKDKMD" -c "$QKD_DIR/bad.conf" --check 2>&1)
	echo "$out" | grep -q "bad.conf:[0-9]*: .*$3"
	ok $? "$1: $(echo "$out" | tail -n 1)"
}
bad "missing certificate" 's/^kme_cert = .*/kme_cert = nowhere.pem/' "kme_cert: cannot read"
bad "plain http URL" 's|^kme_url = .*|kme_url = http://127.0.0.1:1|' "kme_url: .*https://"
bad "URL with a path" 's|^kme_url = \(.*\)|kme_url = \1/api/v1|' "kme_url: .*without a path"
bad "missing peer_sae_id" '/^peer_sae_id/d' "needs 'peer_sae_id'"
bad "seed on an etsi014 link" 's/^sae_id = .*/&\nseed = '"$(printf '0%.0s' {1..64})"'/' "'seed' is not for source = etsi014"

# Unknown SAE ID: the module says so at run time; the alarm names the line.
sed 's/^peer_sae_id = .*/peer_sae_id = nosuchsae/' "$QKD_DIR/A.conf" > "$QKD_DIR/A2.conf"
mv "$QKD_DIR/A2.conf" "$QKD_DIR/A.conf"
qkd_start A; ok $? "A starts with an unknown peer_sae_id"
wait_for 10 alarm_has A "A.conf:[0-9]*: .*HTTP 400 for peer_sae_id 'nosuchsae'"
ok $? "unknown SAE ID: alarm with file, line and the module's answer"
qkd_stop A

# An answer carries keys, so it is held in the secure heap (locked), not in
# ordinary memory: with a 128 KiB heap a 384 KiB answer finds no room.
sed -e 's/^peer_sae_id = .*/peer_sae_id = B/' -e 's/^\[node\]$/&\nsecure_heap = 131072/' \
	"$QKD_DIR/A.conf" > "$QKD_DIR/A2.conf"
mv "$QKD_DIR/A2.conf" "$QKD_DIR/A.conf"
fault padded sae=A
qkd_start A; ok $? "A starts with a 128 KiB secure heap"
wait_for 15 alarm_has A "no room in the secure heap for its answer"
ok $? "a 384 KiB answer from the module: no room in the secure heap, alarm says so"
clear_fault
qkd_stop A
tap_done
