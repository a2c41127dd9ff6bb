# SPDX-License-Identifier: GPL-2.0
#
# Tests of the management listener (Mk, Documentation/qkd/manager.rst),
# sourced after lib.sh and qkd_line: certificates "admin" and "monitor",
# a [metrics] listener on the given nodes, curl as the manager.

declare -A MGMT

# mgmt_listen NODE...: certificates admin and monitor, and on each NODE a
# [metrics] listener (QKD_PORT_BASE + 50 + its place in A B C ...) with
# admin as admin client and monitor as monitor client.
mgmt_listen() {
	local n
	qkd_cert admin && qkd_cert monitor || return 1
	for n in "$@"; do
		MGMT[$n]=127.0.0.1:$((QKD_PORT_BASE + 50 + $(printf '%d' "'$n") - 65))
		printf '[metrics]\nlisten = %s\nclients = monitor\nadmin_clients = admin\n\n' \
			"${MGMT[$n]}" >> "$QKD_DIR/$n.conf" || return 1
	done
}

# mgmt NODE CN METHOD PATH [CURL ARGS...]: the body, then "HTTP <code>";
# everything also goes to $QKD_DIR/mgmt.out (a test looks for key bytes
# there).
mgmt() {
	local node=$1 cn=$2 method=$3 path=$4; shift 4
	curl -sS --max-time 10 --cacert "$QKD_DIR/ca.pem" --cert "$QKD_DIR/$cn.pem" \
		--key "$QKD_DIR/$cn.key" -X "$method" -w '\nHTTP %{http_code}\n' "$@" \
		"https://${MGMT[$node]}$path" | tee -a "$QKD_DIR/mgmt.out"
}

# error_of: the "error" of a JSON error answer on stdin.
error_of() {
	"$QKD_PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["error"] if d.get("status") else "NOT AN ERROR")'
}

# refused WANT NAME OUTPUT: one TAP line, ok if OUTPUT (of mgmt) has
# status WANT and a JSON error.
refused() {
	local code msg
	code=$(echo "$3" | http_code)
	msg=$(echo "$3" | http_body | error_of 2>/dev/null)
	[ "$code" = "$1" ] && [ -n "$msg" ] && [ "$msg" != "NOT AN ERROR" ]
	ok $? "$2: $code ($msg)"
}

# audited NODE DONE REFUSED: ok if every record of NODE's audit log names
# the admin certificate (CN and serial), every refused one gives a reason,
# the (op, status) of the changes done are DONE and the sorted statuses of
# the refused ones REFUSED (Python expressions).
audited() {
	local serial
	serial=$(openssl x509 -noout -serial -in "$QKD_DIR/admin.pem" | cut -d= -f2)
	"$QKD_PY" - "$QKD_DIR/state-$1/audit.log" "$serial" "$2" "$3" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert all(r["cn"] == "admin" and r["serial"].upper() == sys.argv[2].upper() for r in recs), recs
done = [(r["change"]["op"], r["status"]) for r in recs if r["outcome"] == "done"]
assert done == eval(sys.argv[3]), done
refused = sorted(r["status"] for r in recs if r["outcome"] == "refused")
assert refused == eval(sys.argv[4]), refused
assert all(r["reason"] for r in recs if r["outcome"] == "refused"), recs
PY
}
