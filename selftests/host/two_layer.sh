#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 17, acceptance 1: a two-layer network, as real deployments look.
# The lower layer is two pairs of qkdkmd nodes with simulated links, L1-L2
# and L3-L4; each acts as the "QKD modules" of one upper link, serving ETSI
# GS QKD 014 to the upper nodes.  The upper layer is a line U1-U2-U3 whose
# links take their keys with source = etsi014: U1U2 from L1 (at U1) and L2
# (at U2), U2U3 from L3 (at U2) and L4 (at U3).  Applications (curl) at the
# upper layer get identical keys at both ends, directly (U1-U2, U2-U3) and
# relayed U1 -> U3 over U2; no key_ID and no key byte is handed out twice,
# and no key appears in any log.
set -u
. "$(dirname "$0")/lib.sh"
QKD_TIMEOUT=${QKD_TIMEOUT:-150}
qkd_setup twolayer || exit 1

# The module (lower node) behind each upper end of each upper link.
declare -A MODULE=([U1U2@U1]=L1 [U1U2@U2]=L2 [U2U3@U2]=L3 [U2U3@U3]=L4)
LOWER=(L1 L2 L3 L4)
for j in "${!LOWER[@]}"; do
	QKD_ETSI[${LOWER[$j]}]=127.0.0.1:$((QKD_PORT_BASE + 20 + 2 * j))
	QKD_KX[${LOWER[$j]}]=127.0.0.1:$((QKD_PORT_BASE + 21 + 2 * j))
done

# qkd_line's [link] for the upper nodes: etsi014 against the lower node
# that is this end's module.  The upper node's certificate (CN = its name)
# is also its client certificate at the module, whose SAE it is.
qkd_peer_link() {
	local peer=$1 self=$2 role=$3 name mod
	if [ "$role" = tx ]; then name=$self$peer; else name=$peer$self; fi
	mod=${MODULE[$name@$self]}
	printf '[peer %s]\naddress = %s\ncert_cn = %s\n\n' "$peer" "${QKD_KX[$peer]}" "$peer"
	printf '[link %s]\npeer = %s\nsource = etsi014\nrole = %s\nblock_size = 544\n' \
		"$name" "$peer" "$role"
	printf 'kme_url = https://%s\nkme_ca = ca.pem\nkme_cert = %s.pem\nkme_key = %s.key\n' \
		"${QKD_ETSI[$mod]}" "$self" "$self"
	printf 'sae_id = %s\npeer_sae_id = %s\nstore_min = 16\nstore_max = 48\nkme_timeout_ms = 3000\n\n' \
		"$self" "$peer"
}
qkd_line U1 U2 U3 || { echo "not ok 1 - certificates and configs"; exit 1; }

# lower_conf NODE PEER ROLE SEED MY_SAE PEER_SAE: a "module": a qkdkmd with
# one sim link, serving ETSI 014 to its upper node (MY_SAE) and knowing the
# far module's upper node (PEER_SAE).  Module keys are upper blocks of 544
# bytes (4352 bits), cut from the sim link's 992 usable bytes a block.
lower_conf() {
	local n=$1 peer=$2 role=$3 seed=$4 mine=$5 theirs=$6 name
	if [ "$role" = tx ]; then name=$n$peer; else name=$peer$n; fi
	qkd_cert "$n" || return 1
	mkdir -p "$QKD_DIR/state-$n"
	{
		printf '[node]\nname = %s\nstate_dir = state-%s\ncontrol = %s.sock\nlog_level = info\n\n' \
			"$n" "$n" "$n"
		printf '[tls]\nca = ca.pem\ncert = %s.pem\nkey = %s.key\n\n' "$n" "$n"
		printf '[etsi014]\nlisten = %s\nkey_size = 4352\nmax_key_size = 4352\nmax_key_per_request = 48\n\n' \
			"${QKD_ETSI[$n]}"
		printf '[kx]\nlisten = %s\n\n' "${QKD_KX[$n]}"
		printf '[peer %s]\naddress = %s\ncert_cn = %s\n\n' "$peer" "${QKD_KX[$peer]}" "$peer"
		printf '[link %s]\npeer = %s\nsource = sim\nrole = %s\nseed = %s\nblock_size = 1024\n\n' \
			"$name" "$peer" "$role" "$seed"
		printf '[sae %s]\ncert_cn = %s\nnode = %s\n\n' "$mine" "$mine" "$n"
		printf '[sae %s]\ncert_cn = %s\nnode = %s\n\n' "$theirs" "$theirs" "$peer"
	} > "$QKD_DIR/$n.conf"
}
s12=$(openssl rand -hex 32) s34=$(openssl rand -hex 32)
lower_conf L1 L2 tx "$s12" U1 U2 && lower_conf L2 L1 rx "$s12" U2 U1 &&
lower_conf L3 L4 tx "$s34" U2 U3 && lower_conf L4 L3 rx "$s34" U3 U2
ok $? "configs: modules L1-L2, L3-L4 (sim); upper line U1-U2-U3 (etsi014)"

for n in L1 L2 L3 L4 U1 U2 U3; do
	qkd_start "$n" || { ok 1 "daemon $n starts"; tap_done; exit 1; }
done
ok 0 "7 daemons start"
for n in L1 L2 L3 L4 U1 U2 U3; do
	qkd_wait_peers "$n" || { ok 1 "Kx channels of $n up"; tap_done; exit 1; }
done
ok 0 "every Kx channel up, both layers"

wait_for() {	# SECONDS CMD...: poll CMD until it succeeds
	local t=$1 i; shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
has_key() {	# NODE MASTER SLAVE: enc_keys answers 200 (a probe key)
	[ "$(qkd_enc "$1" "$2" "$3" | http_code)" = 200 ]
}
route() { qkd_ctl U1 path U3 | grep -q 'U1 - U2 - U3'; }

wait_for 30 has_key U1 app1 app2; ok $? "module keys reach U1's store (link U1U2)"
wait_for 30 has_key U2 app2 app3; ok $? "module keys reach U2's store (link U2U3)"
wait_for 20 route; ok $? "U1 has a route to U3 over U2"
for l in U1U2 U2U3; do
	qkd_ctl U2 -j link show | jq -e --arg l "$l" '[.. | objects | select(.link? == $l)][0] |
		.module.up and .module.peer_up and .module.keys_taken > 0' >/dev/null
	ok $? "U2's link $l: its module answers and delivered keys"
done

all=$QKD_DIR/all_keys
: > "$all"
# pair NAME SRC MASTER DST SLAVE N BYTES [QUERY]: enc_keys at SRC, dec_keys
# at DST of the same IDs; 200 both, N keys of BYTES bytes, identical.
pair() {
	local name=$1 src=$2 master=$3 dst=$4 slave=$5 n=$6 bytes=$7 query=${8:-} enc dec keys ids i
	for ((i = 0; i < 20; i++)); do	# a relayed request may find the pad short
		enc=$(qkd_enc "$src" "$master" "$slave" "$query")
		[ "$(echo "$enc" | http_code)" = 200 ] && break
		sleep 0.3
	done
	keys=$(echo "$enc" | http_body | jq -r '.keys[]? | "\(.key_ID) \(.key)"' | sort)
	echo "$keys" >> "$all"
	ids=$(echo "$keys" | awk '{print $1}')
	dec=$(qkd_post "$dst" "$slave" "/api/v1/keys/$master/dec_keys" \
		"$(echo "$ids" | jq -R '{key_ID: .}' | jq -sc '{key_IDs: .}')")
	[ "$(echo "$enc" | http_code)" = 200 ] && [ "$(echo "$keys" | grep -c .)" = "$n" ] &&
	[ -z "$(echo "$keys" | awk -v l=$(( (bytes + 2) / 3 * 4 )) 'length($2) != l')" ] &&
	[ "$(echo "$dec" | http_code)" = 200 ] &&
	[ "$(echo "$dec" | http_body | jq -r '.keys[] | "\(.key_ID) \(.key)"' | sort)" = "$keys" ]
	ok $? "$name: $n key(s) of $bytes bytes, identical at $dst (enc $(echo "$enc" | http_code), dec $(echo "$dec" | http_code))"
}

pair "U1->U2 direct" U1 app1 U2 app2 4 32 "number=4"
pair "U1->U2 direct, 16 keys of 4096 bits" U1 app1 U2 app2 16 512 "number=16&size=4096"
pair "U2->U1 (rx end's share)" U2 app2 U1 app1 8 64 "number=8&size=512"
pair "U2->U3 direct" U2 app2 U3 app3 8 32 "number=8"
pair "U3->U2 (rx end's share)" U3 app3 U2 app2 4 128 "number=4&size=1024"
pair "U1->U3 relayed over U2" U1 app1 U3 app3 4 32 "number=4"
pair "U1->U3 relayed, 8 keys of 1024 bits" U1 app1 U3 app3 8 128 "number=8&size=1024"
pair "U3->U1 relayed back" U3 app3 U1 app1 4 64 "number=4&size=512"
for i in 1 2 3; do
	pair "U1->U3 relayed, round $i" U1 app1 U3 app3 16 32 "number=16"
done
fwd=$(qkd_ctl U2 -j relay show | jq '[.. | objects | .forwarded? // empty] | max')
[ "${fwd:-0}" -gt 0 ] 2>/dev/null; ok $? "U2 forwarded the U1-U3 keys in transit (forwarded $fwd)"

# No key_ID twice, and no key byte twice: every key handed out, decoded,
# shares no 16-byte run (at any offset) with any other key or itself.
"$QKD_PY" - "$all" <<'PY'
import base64, sys
ids, seen, dup = set(), {}, 0
n = 0
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    kid, b64 = line.split()
    n += 1
    if kid in ids:
        print("# key_ID %s twice" % kid); dup += 1
    ids.add(kid)
    k = base64.b64decode(b64)
    for off in range(len(k) - 15):
        w = k[off:off + 16]
        if w in seen and seen[w] != (kid, off):
            print("# 16 key bytes at %s+%d also at %s+%d" % (kid, off, *seen[w])); dup += 1
            break
        seen[w] = (kid, off)
print("# %d keys, %d distinct key_IDs, %d 16-byte windows" % (n, len(ids), len(seen)))
sys.exit(1 if dup or n < 80 else 0)
PY
ok $? "no key_ID and no key byte handed out twice"

bad=
for n in U1 U2 U3 L1 L2 L3 L4; do
	qkd_ctl "$n" -j pool show | jq -e 'all(.[]; .mismatched == 0 and .confirmed > 0)' \
		>/dev/null || bad="$bad $n"
done
[ -z "$bad" ]; ok $? "every link of both layers confirmed blocks, none mismatched${bad:+ (not at$bad)}"

bad=
for n in U1 U2 U3 L1 L2 L3 L4; do
	qkd_stop "$n" || bad="$bad $n"
done
[ -z "$bad" ]; ok $? "7 daemons stop cleanly${bad:+ (not$bad)}"
leak=0
while read -r _ k; do
	[ -n "$k" ] && grep -qF -- "$k" "$QKD_DIR"/*.log && leak=1
done < "$all"
[ "$leak" = 0 ]; ok $? "no key handed out appears in a log"
tap_done
