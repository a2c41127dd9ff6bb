#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qkdn in one command: a three-node QKD line A - B - C on loopback with
# simulated links.  Needs neither root nor a VM.
#
#   examples/demo.sh
#
# QKD_KEEP=1 keeps the temp dir and the daemons' logs; QKD_NO_BUILD=1 skips
# the build; QKDKMD= and QKDCTL= choose other binaries.
#
# It builds the userspace programs, makes a throwaway CA and certificates
# for the nodes and the applications (SAEs) with the openssl CLI, writes the
# configs of examples/line3/ with fresh link seeds into a temp dir, starts
# the three daemons, then plays two applications with curl:
#   app1 at A gets keys for app2 (ETSI 014 enc_keys at A),
#   app2 at B gets the same keys by ID (dec_keys at B),
# and the same between app2 at B and app3 at C.  It prints both sides next
# to each other and checks that they match, shows qkdctl's view, and stops
# everything on the way out.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

bold=$(tput bold 2>/dev/null || true) plain=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }
die() { echo "demo: $*" >&2; exit 1; }

if [ -z "${QKD_NO_BUILD:-}" ]; then
	step "Building (make userspace)"
	make -s -j2 userspace >/dev/null 2>&1 ||
		die "build failed (run 'make userspace' to see why)"
fi

# shellcheck source=../selftests/host/lib.sh
. "$top/selftests/host/lib.sh"
QKD_TIMEOUT=300
qkd_setup demo || die "setup failed"

step "Throwaway CA and certificates in $QKD_DIR"
qkd_ca || die "openssl failed"
for cn in A B C app1 app2 app3; do
	qkd_cert "$cn" || die "certificate for $cn failed"
done
ls "$QKD_DIR"/*.pem | sed "s|$QKD_DIR/|  |"

step "Configs: examples/line3/*.conf with fresh link seeds"
seed_ab=$(openssl rand -hex 32) seed_bc=$(openssl rand -hex 32)
for n in A B C; do
	sed -e "s/SEED_AB/$seed_ab/" -e "s/SEED_BC/$seed_bc/" \
		"examples/line3/$n.conf" > "$QKD_DIR/$n.conf"
	# It holds the seeds now: qkdkmd refuses it if others may read it.
	chmod 600 "$QKD_DIR/$n.conf"
	mkdir -p "$QKD_DIR/state"
	out=$("$QKDKMD" -c "$QKD_DIR/$n.conf" --check 2>&1) ||
		die "$out"
	echo "  $out"
done
QKD_ETSI=([A]=127.0.0.1:8441 [B]=127.0.0.1:8442 [C]=127.0.0.1:8443)

step "Starting qkdkmd for A, B and C"
for n in A B C; do
	qkd_start "$n" || die "node $n did not start (log: $QKD_DIR/$n.log)"
	echo "  $n: pid ${QKD_PID[$n]}, ETSI 014 on https://${QKD_ETSI[$n]}"
done
for n in A B C; do
	qkd_wait_peers "$n" || die "node $n: Kx channels did not come up"
done
run "$QKDCTL" --socket "$QKD_DIR/B.sock" peer show
# Let the simulated links run a moment so both ends hold the same blocks.
sleep 2

# pair MASTER_NODE MASTER SLAVE_NODE SLAVE: enc at one end, dec at the other.
pair() {
	local mn=$1 m=$2 sn=$3 s=$4 enc dec ids code body
	step "$m at $mn asks for 2 keys of 256 bits for $s (enc_keys)"
	echo "\$ curl --cert $m.pem --key $m.key --cacert ca.pem \\"
	echo "       'https://${QKD_ETSI[$mn]}/api/v1/keys/$s/enc_keys?number=2&size=256'"
	enc=$(qkd_enc "$mn" "$m" "$s" "number=2&size=256")
	code=$(echo "$enc" | http_code)
	[ "$code" = 200 ] || die "enc_keys: HTTP $code: $(echo "$enc" | http_body)"
	ids=$(echo "$enc" | http_body | keys_of | awk '{print $1}' | paste -sd, -)

	step "$s at $sn fetches them by key_ID (dec_keys)"
	body=$(key_ids_json ${ids//,/ })
	echo "\$ curl --cert $s.pem --key $s.key --cacert ca.pem \\"
	echo "       -H 'Content-Type: application/json' -d '$body' \\"
	echo "       'https://${QKD_ETSI[$sn]}/api/v1/keys/$m/dec_keys'"
	dec=$(qkd_post "$sn" "$s" "/api/v1/keys/$m/dec_keys" "$body")
	code=$(echo "$dec" | http_code)
	[ "$code" = 200 ] || die "dec_keys: HTTP $code: $(echo "$dec" | http_body)"

	printf '\n  %-38s %-46s %s\n' "key_ID" "key at $mn ($m)" "key at $sn ($s)"
	join <(echo "$enc" | http_body | keys_of | sort) \
	     <(echo "$dec" | http_body | keys_of | sort) |
		while read -r id a b; do
			printf '  %-38s %-46s %s %s\n' "$id" "$a" "$b" \
				"$([ "$a" = "$b" ] && echo same || echo DIFFERENT)"
		done
	[ "$(echo "$enc" | http_body | keys_of | sort)" = \
	  "$(echo "$dec" | http_body | keys_of | sort)" ] ||
		die "the keys at both ends differ"
	echo "  both ends hold the same keys"
}

pair A app1 B app2
pair B app2 C app3

step "The operator's view (metadata only: never key bytes)"
run "$QKDCTL" --socket "$QKD_DIR/B.sock" status
run "$QKDCTL" --socket "$QKD_DIR/B.sock" link show
run "$QKDCTL" --socket "$QKD_DIR/B.sock" pool show
run "$QKDCTL" --socket "$QKD_DIR/B.sock" key show

step "Stopping the daemons"
for n in A B C; do
	qkd_stop "$n" || die "node $n did not stop cleanly"
	echo "  $n stopped"
done
echo
echo "Demo done: both ends of each link handed out identical keys."
