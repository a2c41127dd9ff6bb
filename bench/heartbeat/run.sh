#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The cost of the Kx liveness heartbeats (issue 21, acceptance 6): one
# qkdkmd with 100 configured peers, measured over the same window
#   idle:        no peer connected (the daemon alone);
#   100 peers:   100 Kx channels up, idle but for heartbeats, at
#                [kx] heartbeat_ms = 100 (the default) and at 1000;
# the peers are fake (peers.py: TLS 1.3, HELLO, heartbeats, echoes), so
# only the daemon under test is measured.  Prints a table: channels up at
# the end, channels declared dead during the window (a loaded host can
# starve the fake peers), Kx messages per second per peer each way, the
# daemon's CPU (ms of CPU per second, from /proc: 10 ms ticks) and its
# ratio to idle.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/selftests/host/lib.sh"
N=${HB_PEERS:-100}
SECS=${HB_SECONDS:-10}
QKD_TIMEOUT=600
qkd_setup bench-hb || exit 1
make -s -C "$top/daemon" build/qkdkmd >/dev/null || exit 1
qkd_ca || exit 1
qkd_cert Z || exit 1
for ((i = 0; i < N; i++)); do
	qkd_cert "$(printf P%03d "$i")" || exit 1
done
base=$QKD_PORT_BASE
conf() {	# HB_MS
	mkdir -p "$QKD_DIR/state-Z"
	{
		printf '[node]\nname = Z\nstate_dir = state-Z\ncontrol = Z.sock\nlog_level = notice\n\n'
		printf '[tls]\nca = ca.pem\ncert = Z.pem\nkey = Z.key\n\n'
		printf '[etsi014]\nlisten = 127.0.0.1:%d\n\n' "$base"
		printf '[kx]\nlisten = 127.0.0.1:%d\nheartbeat_ms = %d\n\n' $((base + 1)) "$1"
		for ((i = 0; i < N; i++)); do
			printf '[peer P%03d]\naddress = 127.0.0.1:%d\ncert_cn = P%03d\n\n' "$i" $((base + 2)) "$i"
		done
	} > "$QKD_DIR/Z.conf"
}
# cpu_ms PID: utime + stime in ms
cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat"
}
msgs() {	# sent received, summed over the peers
	qkd_ctl Z -j peer show 2>/dev/null | "$QKD_PY" -c '
import json, sys
d = json.load(sys.stdin)
d = d.get("data", d) if isinstance(d, dict) else d
print(sum(p["sent"] for p in d), sum(p["received"] for p in d), sum(p["state"] == "up" for p in d), sum(p.get("deaths", 0) for p in d))'
}
measure() {	# LABEL HB_MS PEERS
	local label=$1 hb=$2 peers=$3 pp c0 c1 m0 m1 i
	conf "$hb"
	qkd_start Z || { echo "# qkdkmd did not start" >&2; exit 1; }
	pp=
	if [ "$peers" -gt 0 ]; then
		# Several processes: one Python process is too slow to keep 100
		# channels at 10 heartbeats/s each on a busy host.
		for ((i = 0; i < peers; i += 25)); do
			"$QKD_PY" "$here/peers.py" "$QKD_DIR" "127.0.0.1:$((base + 1))" \
				"$i" $((peers - i < 25 ? peers - i : 25)) "$hb" &
			pp="$pp $!"
		done
		for ((i = 0; i < 300; i++)); do
			[ "$(msgs | awk '{print $3}')" = "$peers" ] && break
			sleep 0.1
		done
	fi
	sleep 2
	m0=$(msgs); c0=$(cpu_ms "${QKD_PID[Z]}")
	sleep "$SECS"
	m1=$(msgs); c1=$(cpu_ms "${QKD_PID[Z]}")
	up=$(echo "$m1" | awk '{print $3}')
	# shellcheck disable=SC2086
	[ -n "$pp" ] && kill $pp && wait $pp 2>/dev/null
	qkd_stop Z
	"$QKD_PY" - "$label" "$peers" "$SECS" "$c0" "$c1" "$m0" "$m1" "$up" >> "$QKD_DIR/rows" <<'PY'
import sys
label, peers, secs, c0, c1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s0, r0, _, d0 = map(int, sys.argv[6].split()); s1, r1, _, d1 = map(int, sys.argv[7].split())
up = int(sys.argv[8])
pp = max(peers, 1)
print("%s|%d|%d|%d|%.1f|%.1f|%.2f" % (label, peers, up, d1 - d0, (s1 - s0) / secs / pp,
                                        (r1 - r0) / secs / pp, (c1 - c0) / secs))
PY
}
: > "$QKD_DIR/rows"
measure idle 100 0
measure "$N peers, heartbeat 100 ms" 100 "$N"
measure "$N peers, heartbeat 1000 ms" 1000 "$N"
"$QKD_PY" - "$QKD_DIR/rows" <<'PY'
import sys
rows = [l.strip().split("|") for l in open(sys.argv[1])]
idle = float(rows[0][6]) or 0.01
print("%-30s %5s %4s %6s %10s %10s %9s %7s" % ("test", "peers", "up", "deaths",
      "tx/s/peer", "rx/s/peer", "cpu ms/s", "x idle"))
for label, peers, up, deaths, tx, rx, cpu in rows:
    print("%-30s %5s %4s %6s %10s %10s %9s %7.1f" % (label, peers, up, deaths, tx,
                                                      rx, cpu, float(cpu) / idle))
PY
