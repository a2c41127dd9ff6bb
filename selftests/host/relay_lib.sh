#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the key relay host tests (relay_*.sh), on top of lib.sh:
#
#   relay_topo EDGE...      configs for any topology: EDGE is "X-Y" (a sim
#                           link XY, X tx, Y rx; "X-Y@RATE" gives it RATE
#                           bit/s instead of $QKD_RATE); one SAE app<i> per node in
#                           order of first appearance (app1 at the first);
#                           RELAY_CONTROLLER=X adds "controller = X"
#                           (configuration 2, centralized routing);
#                           RELAY_ROLES="X=user Y=access Z=relay ..." adds
#                           "role =" lines (configuration 3; access and
#                           relay nodes get no SAE, their app<i> is unused);
#                           RELAY_CENTRAL=K adds node K, the central KM
#                           and controller, with no link, and makes it every
#                           node's only [peer] (configuration 4)
#   relay_start_all         start every node, wait for all Kx channels
#   relay_wait_route SRC DST [MAX]  wait until SRC has a route to DST
#   relay_ctl NODE JSON     one control socket request, JSON reply on stdout
#   relay_py EXPR           evaluate a python expression over JSON on stdin
#                           (the parsed document is "d")
#   relay_path_change NODE DST OLD [MS]  poll NODE's path to DST every 5 ms
#                           until it is neither OLD nor empty; prints the
#                           wall clock in ms when it saw it, or fails
#                           after MS
#   relay_wait_change PID T0 WHAT OLD  wait for relay_path_change PID
#                           (output in $QKD_DIR/conv) and print one TAP
#                           line: "WHAT within N ms", or a failure naming
#                           the path that never changed
#   relay_stream_start SRC MASTER DST SLAVE  continuous key requests
#                           (relay_stream.py) into $QKD_DIR/stream
#   relay_stream_stop       stop them
#   relay_flow_ms T0 OLD    ms from T0 to the first identical key pair
#                           requested after T0 over a route other than
#                           OLD (nothing if there was none)
#   relay_pair SRC_NODE MASTER DST_NODE SLAVE [QUERY]
#                           enc_keys at SRC, dec_keys at DST; true if the
#                           keys are identical (sets RELAY_LAST_ENC/DEC)
#   relay_netns ARGS...     re-run this script in a network namespace of
#                           its own (root and unshare only; false if not)
#   relay_kx_ips            every node's Kx on an address of its own,
#                           127.0.9.<i+1> (same port), so that faults can
#                           pick one pair's traffic
#   relay_blackhole X Y on|off  silently drop everything between X's and
#                           Y's Kx addresses (ip rule blackhole, both ways;
#                           in relay_netns's namespace only)
#   relay_peer_wait NODE PEER STATES [MS]  poll NODE's peer show every
#                           5 ms until PEER's state is one of STATES
#                           ("down|connecting"); prints the wall clock in
#                           ms, or fails after MS
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "1..0 # SKIP relay_lib.sh is the helper library of the relay tests"
	exit 0
fi
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
QKD_HOST_PY=$(dirname "${BASH_SOURCE[0]}")/qkd_host.py

declare -A RELAY_SAE	# node -> its SAE

# relay_role NODE: its role from RELAY_ROLES, or nothing
relay_role() {
	local r
	for r in ${RELAY_ROLES:-}; do
		[ "${r%%=*}" = "$1" ] && { echo "${r#*=}"; return; }
	done
}

# relay_link_cfg PEER SELF ROLE SEED: a [link] section only (configuration 4)
relay_link_cfg() {
	local peer=$1 self=$2 role=$3 seed=$4 name
	if [ "$role" = tx ]; then name=$self$peer; else name=$peer$self; fi
	printf '[link %s]\npeer = %s\nsource = sim\nrole = %s\nseed = %s\nrate = %s\nblock_size = 1024\n\n' \
		"$name" "$peer" "$role" "$seed" "${QKD_RATE:-10000000}"
}

relay_topo() {
	local edges=("$@") e a b i n seed hub=${RELAY_CENTRAL:-} role rate
	local -A rate_of
	local -A seen
	local -a nodes=()
	for i in "${!edges[@]}"; do	# "X-Y@RATE": that link's rate
		e=${edges[$i]}
		[ "$e" = "${e%@*}" ] && continue
		edges[i]=${e%@*}
		rate_of[${e%@*}]=${e#*@}
	done
	for e in "${edges[@]}"; do
		a=${e%-*} b=${e#*-}
		for n in "$a" "$b"; do
			[ -n "${seen[$n]:-}" ] || { seen[$n]=1; nodes+=("$n"); }
		done
	done
	[ -n "$hub" ] && nodes+=("$hub")
	QKD_NODES=("${nodes[@]}")
	qkd_ca || return 1
	for i in "${!nodes[@]}"; do
		n=${nodes[$i]}
		QKD_ETSI[$n]=127.0.0.1:$((QKD_PORT_BASE + 2 * i))
		QKD_KX[$n]=127.0.0.1:$((QKD_PORT_BASE + 2 * i + 1))
		RELAY_SAE[$n]=app$((i + 1))
		qkd_cert "$n" || return 1
		qkd_cert "app$((i + 1))" || return 1
		mkdir -p "$QKD_DIR/state-$n"
		{
			printf '[node]\nname = %s\nstate_dir = state-%s\ncontrol = %s.sock\nlog_level = %s\n' \
				"$n" "$n" "$n" "${QKD_LOG_LEVEL:-info}"
			[ -n "${RELAY_CONTROLLER:-}" ] &&
				printf 'controller = %s\n' "$RELAY_CONTROLLER"
			[ -n "$hub" ] &&
				printf 'controller = %s\nkey_relay = central\n' "$hub"
			role=$(relay_role "$n")
			[ -n "$role" ] && printf 'role = %s\n' "$role"
			printf '\n'
			printf '[tls]\nca = ca.pem\ncert = %s.pem\nkey = %s.key\n\n' "$n" "$n"
			printf '[etsi014]\nlisten = %s\nmax_key_per_request = 16\nmax_sae_id_count = 2\nmax_body = 4096\nidle_timeout_ms = %s\n\n' \
				"${QKD_ETSI[$n]}" "${QKD_IDLE_MS:-3000}"
			printf '[kx]\nlisten = %s\n\n' "${QKD_KX[$n]}"
		} > "$QKD_DIR/$n.conf"
	done
	for e in "${edges[@]}"; do
		a=${e%-*} b=${e#*-}
		seed=$(openssl rand -hex 32)
		rate=${rate_of[$e]:-${QKD_RATE:-10000000}}
		if [ -n "$hub" ]; then
			QKD_RATE=$rate relay_link_cfg "$b" "$a" tx "$seed" >> "$QKD_DIR/$a.conf"
			QKD_RATE=$rate relay_link_cfg "$a" "$b" rx "$seed" >> "$QKD_DIR/$b.conf"
		else
			QKD_RATE=$rate qkd_peer_link "$b" "$a" tx "$seed" >> "$QKD_DIR/$a.conf"
			QKD_RATE=$rate qkd_peer_link "$a" "$b" rx "$seed" >> "$QKD_DIR/$b.conf"
		fi
	done
	if [ -n "$hub" ]; then	# Kx': every node to the central KM only
		for n in "${nodes[@]}"; do
			[ "$n" = "$hub" ] && continue
			printf '[peer %s]\naddress = %s\ncert_cn = %s\n\n' "$hub" "${QKD_KX[$hub]}" "$hub" >> "$QKD_DIR/$n.conf"
			printf '[peer %s]\naddress = %s\ncert_cn = %s\n\n' "$n" "${QKD_KX[$n]}" "$n" >> "$QKD_DIR/$hub.conf"
		done
	fi
	for n in "${nodes[@]}"; do
		for i in "${!nodes[@]}"; do
			case $(relay_role "${nodes[$i]}") in
			access|relay) continue ;;
			esac
			[ "${nodes[$i]}" = "$hub" ] && continue
			printf '[sae app%d]\ncert_cn = app%d\nnode = %s\n\n' \
				$((i + 1)) $((i + 1)) "${nodes[$i]}"
		done >> "$QKD_DIR/$n.conf"
	done
}

relay_start_all() {
	local n
	for n in "${QKD_NODES[@]}"; do
		qkd_start "$n" || return 1
	done
	for n in "${QKD_NODES[@]}"; do
		qkd_wait_peers "$n" || return 1
	done
}

relay_ctl() {
	"$QKD_PY" "$QKD_HOST_PY" ctl "$QKD_DIR/$1.sock" "$2"
}

relay_py() {
	"$QKD_PY" -c "import json,sys; d=json.load(sys.stdin); r=($1); print(r if not isinstance(r,bool) else ('yes' if r else 'no'))"
}

# relay_wait_route SRC DST [TRIES of 0.1 s]
relay_wait_route() {
	local i
	for ((i = 0; i < ${3:-100}; i++)); do
		relay_ctl "$1" "{\"cmd\":\"path\",\"to\":\"$2\"}" |
			relay_py "'path' in d.get('data',{})" | grep -q yes && return 0
		sleep 0.1
	done
	return 1
}

relay_pair() {
	local src=$1 master=$2 dst=$3 slave=$4 query=${5:-} ids
	RELAY_LAST_ENC=$(qkd_enc "$src" "$master" "$slave" "$query")
	RELAY_LAST_DEC=
	[ "$(echo "$RELAY_LAST_ENC" | http_code)" = 200 ] || return 1
	ids=$(echo "$RELAY_LAST_ENC" | http_body | keys_of | awk '{print $1}')
	# shellcheck disable=SC2086
	RELAY_LAST_DEC=$(qkd_post "$dst" "$slave" "/api/v1/keys/$master/dec_keys" \
		"$(key_ids_json $ids)")
	[ "$(echo "$RELAY_LAST_DEC" | http_code)" = 200 ] &&
	[ "$(echo "$RELAY_LAST_ENC" | http_body | keys_of | sort)" = \
	  "$(echo "$RELAY_LAST_DEC" | http_body | keys_of | sort)" ]
}

# relay_pair_diag ...: relay_pair, and on failure the answers as TAP comments.
relay_pair_diag() {
	relay_pair "$@" && return 0
	diag "enc_keys: $(echo "$RELAY_LAST_ENC" | tail -n 1) $(echo "$RELAY_LAST_ENC" | http_body | message_of)"
	[ -n "$RELAY_LAST_DEC" ] &&
		diag "dec_keys: $(echo "$RELAY_LAST_DEC" | tail -n 1) $(echo "$RELAY_LAST_DEC" | http_body | message_of)"
	return 1
}

relay_stream_start() {
	rm -f "$QKD_DIR/stream.stop"
	"$QKD_PY" "$(dirname "${BASH_SOURCE[0]}")/relay_stream.py" "$QKD_DIR" \
		"${QKD_ETSI[$1]}" "$2" "${QKD_ETSI[$3]}" "$4" "$QKD_DIR/$1.sock" \
		"$QKD_DIR/stream.stop" > "$QKD_DIR/stream" 2>"$QKD_DIR/stream.err" &
	RELAY_STREAM_PID=$!
}

relay_stream_stop() {
	touch "$QKD_DIR/stream.stop"
	wait "$RELAY_STREAM_PID"
}

relay_flow_ms() {
	"$QKD_PY" - "$1" "$2" "$QKD_DIR/stream" <<'PY'
import sys
t0, old = int(sys.argv[1]), sys.argv[2]
for line in open(sys.argv[3]):
    start, end, ok, route = line.split()
    if int(start) >= t0 and ok == "1" and route not in (old, "-"):
        print(int(end) - t0)
        break
PY
}

relay_wait_change() {
	local pid=$1 t0=$2 what=$3 old=$4
	if wait "$pid" && [ -s "$QKD_DIR/conv" ]; then
		ok 0 "$what within $(($(cat "$QKD_DIR/conv") - t0)) ms"
	else
		ok 1 "$what: the path stayed $old (no change seen)"
	fi
}

relay_path_change() {
	"$QKD_PY" "$QKD_HOST_PY" path-change "$QKD_DIR/$1.sock" "$2" "$3" "${4:-5000}"
}

relay_netns() {
	if [ -n "${QKD_NETNS:-}" ]; then
		ip link set lo up
		return
	fi
	[ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
		command -v ip >/dev/null || return 1
	QKD_NETNS=1 exec unshare -n "$BASH" "$0" "$@"
}

relay_kx_ips() {
	local i n old new
	for i in "${!QKD_NODES[@]}"; do
		n=${QKD_NODES[$i]}
		old=${QKD_KX[$n]}
		new=127.0.9.$((i + 1)):${old##*:}
		sed -i "s/^\(listen\|address\) = $old\$/\1 = $new/" "$QKD_DIR"/*.conf
		QKD_KX[$n]=$new
	done
}

relay_blackhole() {
	local a=${QKD_KX[$1]%:*} b=${QKD_KX[$2]%:*} op=add
	[ -n "${QKD_NETNS:-}" ] || return 1
	[ "$3" = off ] && op=del
	if ! ip rule show pref 100 | grep -q local; then
		# Rules before the local table's, so that loopback obeys them.
		ip rule add pref 100 lookup local && ip rule del pref 0 || return 1
	fi
	ip rule $op pref 10 from "$a" to "$b" blackhole &&
	ip rule $op pref 10 from "$b" to "$a" blackhole
}

relay_peer_wait() {
	"$QKD_PY" "$QKD_HOST_PY" peer-wait "$QKD_DIR/$1.sock" "$2" "$3" "${4:-5000}"
}
