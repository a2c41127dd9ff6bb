#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers for the host integration tests and examples/demo.sh:
# a throwaway CA and certificates (openssl CLI), node configs for daemons on
# loopback with simulated links, starting/stopping daemons, ETSI 014 calls
# with curl, and TAP output.  Source it; it sets no traps of its own except
# through qkd_setup.
#
#   qkd_setup NAME          temp dir $QKD_DIR, cleanup trap, port base
#   qkd_port_base [PID]     a port base below the ephemeral range
#   qkd_field LINE NAME     the number after NAME= in a bench tool's line
#   qkd_ca                  $QKD_DIR/ca.pem (+ key)
#   qkd_cert CN [CA]        $QKD_DIR/CN.pem, CN.key (node or SAE), CA-signed
#   qkd_line NODES...       configs for a line A-B-C... with sim links
#   qkd_start NODE          start qkdkmd on $QKD_DIR/NODE.conf, wait ready
#   qkd_stop NODE [SIG]     stop it (SIGTERM by default), wait for exit
#   qkd_enc NODE SAE SLAVE [QUERY]    GET enc_keys, JSON on stdout
#   qkd_dec NODE SAE MASTER KEYIDS    GET dec_keys (comma-separated IDs)
#   ok COND-RESULT NAME     TAP line; "tap_done" prints the plan

# run_all.sh runs every selftests/host/*.sh: executed, this file is a no-op.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "1..0 # SKIP lib.sh is the helper library of the host tests"
	exit 0
fi

QKD_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QKDKMD=${QKDKMD:-$QKD_TOP/daemon/build/qkdkmd}
QKDCTL=${QKDCTL:-$QKD_TOP/tools/build/qkdctl}
QKD_TIMEOUT=${QKD_TIMEOUT:-120}	# seconds a whole test may take
# The system python: a version manager's shim can cost a second per call.
QKD_PY=${QKD_PY:-$(command -v /usr/bin/python3 || command -v python3)}

declare -A QKD_PID QKD_ETSI QKD_KX
QKD_NODES=()
tap_n=0
tap_failed=0

# ---- TAP -------------------------------------------------------------------

# ok STATUS NAME: STATUS 0 means pass (use "ok $? name" after a command).
ok() {
	local status=$1; shift
	tap_n=$((tap_n + 1))
	if [ "$status" -eq 0 ]; then
		echo "ok $tap_n - $*"
	else
		echo "not ok $tap_n - $*"
		tap_failed=$((tap_failed + 1))
	fi
}

skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}

diag() { echo "# $*"; }

# qkd_field LINE NAME: the number after NAME= in a "k=v k=v" line (the
# bench tools' output), or nothing.
qkd_field() {
	sed -n "s/^\(.* \)\{0,1\}$2=\([0-9]*\).*/\2/p" <<<"$1"
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# ---- setup and cleanup -----------------------------------------------------

qkd_cleanup() {
	local n
	for n in "${!QKD_PID[@]}"; do
		qkd_stop "$n" KILL >/dev/null 2>&1
	done
	[ -n "${QKD_WATCHDOG:-}" ] && kill "$QKD_WATCHDOG" 2>/dev/null
	if [ -n "${QKD_KEEP:-}" ]; then
		echo "# kept $QKD_DIR" >&2
	elif [ -n "${QKD_DIR:-}" ] && [ -d "$QKD_DIR" ]; then
		rm -rf "$QKD_DIR"
	fi
}

# qkd_port_base [PID]: the first of 100 ports for this run's listeners.
# From the pid (default ours), so that parallel runs rarely collide; below
# the kernel's ephemeral range, where any outgoing connection (a Kx dial,
# curl) may hold a port and a listener there would fail with "Address
# already in use".
qkd_port_base() {
	local pid=${1:-$$} lo=32768 span

	read -r lo _ 2>/dev/null </proc/sys/net/ipv4/ip_local_port_range
	span=$(((lo - 20000 - 100) / 10))
	[ "$span" -ge 1 ] || span=1
	echo $((20000 + (pid % span) * 10))
}

# qkd_use_asan: the daemons started from here on are qkdkmd built with
# ASan and UBSan (leak detection on, exit status 23 on a report); one TAP
# line for the build.  qkd_sanitizer_clean NODE...: one TAP line each, ok
# if NODE's log has no sanitizer report.
qkd_use_asan() {
	make -s -C "$QKD_TOP/daemon" build/asan/qkdkmd >/dev/null
	ok $? "ASan/UBSan build of qkdkmd"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	export QKDKMD=$QKD_TOP/daemon/build/asan/qkdkmd
}
qkd_sanitizer_clean() {
	local n
	for n in "$@"; do
		! grep -E "Sanitizer|runtime error|ERROR: " "$QKD_DIR/$n.log" >/dev/null
		ok $? "$n: no sanitizer report in its log"
		grep -E -A12 "Sanitizer|runtime error" "$QKD_DIR/$n.log" | head -20 | sed 's/^/# /'
	done
}

# qkd_setup NAME: temp dir, cleanup on exit, a watchdog, ports of our own.
qkd_setup() {
	QKD_DIR=$(mktemp -d "/tmp/qkd-$1.XXXXXX") || exit 1
	# Configs with simulated links hold seeds: qkdkmd refuses them if
	# other users may read them.  Every file made here, written or copied
	# from examples/, is the owner's only (the dir is 0700 anyway).
	umask 077
	trap qkd_cleanup EXIT
	trap 'exit 130' INT TERM
	# A hard bound on the whole test: kill our process group's daemons.
	( trap 'kill $sleeper 2>/dev/null; exit 0' TERM
	  sleep "$QKD_TIMEOUT" & sleeper=$!
	  wait $sleeper || exit 0
	  echo "# $1: timed out after ${QKD_TIMEOUT}s" >&2
	  kill -TERM $$ ) 2>/dev/null &
	QKD_WATCHDOG=$!
	QKD_PORT_BASE=${QKD_PORT_BASE:-$(qkd_port_base)}
	[ -x "$QKDKMD" ] || { echo "# $QKDKMD missing: make userspace" >&2; return 1; }
	[ -x "$QKDCTL" ] || { echo "# $QKDCTL missing: make userspace" >&2; return 1; }
}

# ---- certificates ----------------------------------------------------------

# qkd_ca [NAME]: a CA key and self-signed certificate, NAME.pem (default ca).
qkd_ca() {
	local name=${1:-ca}
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$QKD_DIR/$name.key" -out "$QKD_DIR/$name.pem" \
		-days 2 -subj "/CN=qkdn test $name" >/dev/null 2>&1
}

# qkd_cert CN [CA]: a certificate for CN signed by CA (default ca); usable
# as TLS server and client.  SANs: DNS:CN and IP:127.0.0.1 (curl checks it).
qkd_cert() {
	local cn=$1 ca=${2:-ca}
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$QKD_DIR/$cn.key" -out "$QKD_DIR/$cn.csr" \
		-subj "/CN=$cn" >/dev/null 2>&1 &&
	printf 'subjectAltName=DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' \
		"$cn" > "$QKD_DIR/$cn.ext" &&
	openssl x509 -req -in "$QKD_DIR/$cn.csr" -CA "$QKD_DIR/$ca.pem" \
		-CAkey "$QKD_DIR/$ca.key" -CAcreateserial -days 2 \
		-extfile "$QKD_DIR/$cn.ext" -out "$QKD_DIR/$cn.pem" >/dev/null 2>&1 &&
	rm -f "$QKD_DIR/$cn.csr" "$QKD_DIR/$cn.ext"
}

# ---- configs ---------------------------------------------------------------

# qkd_line A B [C...]: configs for a line of nodes; link Xy between
# neighbours (X tx, y rx), one SAE per node named app<i> (app1 at the first
# node...), plus QKD_EXTRA_SAES="name@node ..." if set.  Node i listens on
# ETSI port base+2i, Kx port base+2i+1.  Certificates for all of them.
qkd_line() {
	local nodes=("$@") i n seed sae
	local -A seeds
	QKD_NODES=("$@")
	qkd_ca || return 1
	for i in "${!nodes[@]}"; do
		n=${nodes[$i]}
		QKD_ETSI[$n]=127.0.0.1:$((QKD_PORT_BASE + 2 * i))
		QKD_KX[$n]=127.0.0.1:$((QKD_PORT_BASE + 2 * i + 1))
		qkd_cert "$n" || return 1
		qkd_cert "app$((i + 1))" || return 1
	done
	for sae in ${QKD_EXTRA_SAES:-}; do
		qkd_cert "${sae%@*}" || return 1
	done
	for ((i = 0; i + 1 < ${#nodes[@]}; i++)); do
		seeds[$i]=$(openssl rand -hex 32)
	done
	for i in "${!nodes[@]}"; do
		n=${nodes[$i]}
		mkdir -p "$QKD_DIR/state-$n"
		{
			printf '[node]\nname = %s\nstate_dir = state-%s\ncontrol = %s.sock\nlog_level = %s\n' \
				"$n" "$n" "$n" "${QKD_LOG_LEVEL:-info}"
			[ -n "${QKD_SECURE_HEAP:-}" ] && printf 'secure_heap = %s\n' "$QKD_SECURE_HEAP"
			echo
			printf '[tls]\nca = ca.pem\ncert = %s.pem\nkey = %s.key\n\n' "$n" "$n"
			printf '[etsi014]\nlisten = %s\nmax_key_per_request = 16\nmax_sae_id_count = 2\nmax_body = 4096\nidle_timeout_ms = %s\nmax_key_count = %s\n\n' \
				"${QKD_ETSI[$n]}" "${QKD_IDLE_MS:-3000}" "${QKD_MAX_KEY_COUNT:-100000}"
			printf '[kx]\nlisten = %s\n\n' "${QKD_KX[$n]}"
			if ((i > 0)); then
				qkd_peer_link "${nodes[$((i - 1))]}" "$n" rx "${seeds[$((i - 1))]}"
			fi
			if ((i + 1 < ${#nodes[@]})); then
				qkd_peer_link "${nodes[$((i + 1))]}" "$n" tx "${seeds[$i]}"
			fi
			for ((j = 0; j < ${#nodes[@]}; j++)); do
				printf '[sae app%d]\ncert_cn = app%d\nnode = %s\n\n' \
					$((j + 1)) $((j + 1)) "${nodes[$j]}"
			done
			for sae in ${QKD_EXTRA_SAES:-}; do
				printf '[sae %s]\ncert_cn = %s\nnode = %s\n\n' \
					"${sae%@*}" "${sae%@*}" "${sae#*@}"
			done
		} > "$QKD_DIR/$n.conf"
	done
}

# qkd_peer_link PEER SELF ROLE SEED: a [peer] and its [link] section.
qkd_peer_link() {
	local peer=$1 self=$2 role=$3 seed=$4 name
	if [ "$role" = tx ]; then name=$self$peer; else name=$peer$self; fi
	printf '[peer %s]\naddress = %s\ncert_cn = %s\n\n' "$peer" "${QKD_KX[$peer]}" "$peer"
	printf '[link %s]\npeer = %s\nsource = sim\nrole = %s\nseed = %s\nrate = %s\nblock_size = 1024\n\n' \
		"$name" "$peer" "$role" "$seed" "${QKD_RATE:-10000000}"
}

# ---- daemons ---------------------------------------------------------------

qkd_ctl() {
	local node=$1; shift
	"$QKDCTL" --socket "$QKD_DIR/$node.sock" "$@"
}

# qkd_start NODE: run the daemon in the background (log in NODE.log,
# appended across restarts) and wait until its control socket answers.
# $QKD_WRAP, if set, is a command that execs the daemon (e.g. prlimit).
qkd_start() {
	local node=$1 i
	# shellcheck disable=SC2086
	${QKD_WRAP:-} "$QKDKMD" -c "$QKD_DIR/$node.conf" >>"$QKD_DIR/$node.log" 2>&1 &
	QKD_PID[$node]=$!
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "${QKD_PID[$node]}" 2>/dev/null; then
			echo "# $node exited at start:" >&2
			tail -n 5 "$QKD_DIR/$node.log" | sed 's/^/#   /' >&2
			unset "QKD_PID[$node]"
			return 1
		fi
		qkd_ctl "$node" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "# $node: no answer on its control socket" >&2
	return 1
}

# qkd_stop NODE [SIGNAL]: stop and reap it; returns its exit status (or 0
# for KILL).
qkd_stop() {
	local node=$1 sig=${2:-TERM} pid=${QKD_PID[$1]:-} i rc
	[ -n "$pid" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	unset "QKD_PID[$node]"
	[ "$sig" = KILL ] && return 0
	return $rc
}

# Wait until NODE's peers are all up (Kx channels established).
qkd_wait_peers() {
	local node=$1 i
	for ((i = 0; i < 100; i++)); do
		qkd_ctl "$node" -j status 2>/dev/null |
			jq_like_eq peers peers_up && return 0
		sleep 0.1
	done
	return 1
}

# Reads a status JSON on stdin; true if fields $1 and $2 are equal.
jq_like_eq() {
	"$QKD_PY" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d[sys.argv[1]]==d[sys.argv[2]] else 1)' "$1" "$2"
}

# ---- ETSI 014 --------------------------------------------------------------

# qkd_curl NODE SAE PATH [curl args...]: HTTPS to NODE's ETSI 014 port as
# SAE (its client certificate); prints the body, then a line "HTTP <code>".
qkd_curl() {
	local node=$1 sae=$2 path=$3; shift 3
	local cert=()
	[ -n "$sae" ] && cert=(--cert "$QKD_DIR/$sae.pem" --key "$QKD_DIR/$sae.key")
	curl -sS --max-time 10 --cacert "$QKD_DIR/ca.pem" "${cert[@]}" \
		-w '\nHTTP %{http_code}\n' "$@" "https://${QKD_ETSI[$node]}$path"
}

qkd_enc() {	# NODE MASTER SLAVE [QUERY]
	qkd_curl "$1" "$2" "/api/v1/keys/$3/enc_keys${4:+?$4}"
}

qkd_dec() {	# NODE SLAVE MASTER KEY_IDS(comma-separated)
	qkd_curl "$1" "$2" "/api/v1/keys/$3/dec_keys?key_ID=$4"
}

# The body of qkd_curl output (all but the last line), and its status code.
http_body() { sed '$d'; }
http_code() { tail -n 1 | cut -d' ' -f2; }

# Extracts "key_ID key" lines from a key container on stdin.
keys_of() {
	"$QKD_PY" -c '
import json, sys
for k in json.load(sys.stdin).get("keys", []):
    print(k["key_ID"], k["key"])'
}

# The ETSI "message" of an error body on stdin ("" if none).
message_of() {
	"$QKD_PY" -c '
import json, sys
try:
    print(json.load(sys.stdin).get("message", ""))
except Exception:
    print("<not json>")'
}

# qkd_post NODE SAE PATH JSON: POST a JSON body.
qkd_post() {
	local node=$1 sae=$2 path=$3 body=$4
	qkd_curl "$node" "$sae" "$path" -H 'Content-Type: application/json' \
		--data-binary "$body"
}

# Lengths in bytes of the base64 keys of a key container on stdin.
key_lengths_of() {
	"$QKD_PY" -c '
import base64, json, sys
for k in json.load(sys.stdin).get("keys", []):
    print(len(base64.b64decode(k["key"])))'
}

# The key_IDs request body for IDs given as arguments.
key_ids_json() {
	"$QKD_PY" -c '
import json, sys
print(json.dumps({"key_IDs": [{"key_ID": i} for i in sys.argv[1:]]}))' "$@"
}

# qkd_check_pair NAME ENC_OUTPUT DEC_NODE SLAVE MASTER N BYTES
# The enc_keys answer ENC_OUTPUT must be 200 with N keys of BYTES bytes, and
# dec_keys of their IDs at DEC_NODE as SLAVE must return the same keys.  The
# IDs are appended to $all_ids.  Reports with $QKD_OK (default: ok).
# Returns non-zero when enc_keys failed (no keys to look at).
qkd_check_pair() {
	local name=$1 enc=$2 node=$3 slave=$4 master=$5 n=$6 bytes=$7
	local report=${QKD_OK:-ok} code ids dec
	code=$(echo "$enc" | http_code)
	[ "$code" = 200 ]; $report $? "$name: enc_keys answers 200 (got $code)"
	[ "$code" = 200 ] || { diag "$(echo "$enc" | http_body)"; return 1; }
	[ "$(echo "$enc" | http_body | key_lengths_of | sort -u)" = "$bytes" ] &&
	[ "$(echo "$enc" | http_body | key_lengths_of | wc -l)" = "$n" ]
	$report $? "$name: $n key(s) of $bytes bytes"
	ids=$(echo "$enc" | http_body | keys_of | awk '{print $1}')
	echo "$ids" >> "$all_ids"
	# shellcheck disable=SC2086
	dec=$(qkd_post "$node" "$slave" "/api/v1/keys/$master/dec_keys" "$(key_ids_json $ids)")
	code=$(echo "$dec" | http_code)
	[ "$code" = 200 ] &&
	[ "$(echo "$enc" | http_body | keys_of | sort)" = "$(echo "$dec" | http_body | keys_of | sort)" ]
	$report $? "$name: dec_keys at $node returns identical keys (got $code)"
	[ "$code" = 200 ] || diag "$(echo "$dec" | http_body)"
	return 0
}

# A start-up pause: let the simulated links produce blocks both ends hold.
qkd_settle() { sleep "${QKD_SETTLE:-2}"; }
