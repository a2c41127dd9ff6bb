#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qkdtrace (tools/qkdtrace/) against a generating qkd_sim pair: the key
# flow it counts from the tracepoints must equal the links' QKD_STAT
# counters over the same window, its block age histograms must account for
# the keys handed out, and it must stream link cuts, QBER alarms and DMA
# errors.  The window is made exact by stalling the simulated card (no
# blocks, carrier up) while qkdtrace starts and before the counters are
# read back.

. "$(dirname "$0")/lib.sh"
tool=$QKD_TOP/tools/qkdtrace/build/qkdtrace
util=$QKD_BIN/qkd_util
bus=/sys/bus/qkd_sim
sim=70
dbg=/sys/kernel/debug/qkd_sim/qkd_sim$sim
out=/tmp/qkdtrace_test
pids=()

echo "KTAP version 1"

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ -e "$bus/devices/qkd_sim$sim" ] && echo "$sim" >$bus/del_device
}
trap cleanup EXIT

if [ ! -x "$tool" ]; then
	ktap_skip "qkdtrace not built (make -C tools/qkdtrace)" "qkdtrace"
	ktap_finish
	exit 4
fi
if ! command -v jq >/dev/null; then
	ktap_skip "jq not installed" "qkdtrace"
	ktap_finish
	exit 4
fi
mkdir -p $out

# start_trace NAME ARGS...: runs qkdtrace in the background (stdout in
# $out/NAME.json) and returns once its programs are attached.
start_trace() {
	local name=$1 try
	shift
	"$tool" "$@" >"$out/$name.json" 2>"$out/$name.err" &
	pids+=($!)
	for try in $(seq 1 300); do
		grep -q "tracing qkd" "$out/$name.err" && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	sed "s/^/# $name: /" "$out/$name.err"
	return 1
}

# qkd_genl stats END | reserve-discard END LEN COUNT: a small client of
# the "qkd" generic netlink family.  "stats" prints the QKD_STAT_* counters
# of QKD_CMD_LINK_GET as "name=value" lines (lower case, no QKD_STAT_);
# "reserve-discard" reserves COUNT keys of LEN bytes (QKD_KEY_F_RESERVE)
# and discards them again, printing no key bytes (none are sent).
# Python's socket module speaks netlink; the numbers come from
# uapi/linux/qkd.h.
qkd_genl() {
	/usr/bin/python3 - "$QKD_TOP/uapi/linux/qkd.h" "$@" <<'PY'
import re, socket, struct, sys

def enum(text, name):
    body = re.search(r"enum %s \{(.*?)\};" % name, text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return [n.strip() for n in body.split(",") if n.strip()]

def attrs(buf):
    while len(buf) >= 4:
        length, kind = struct.unpack_from("HH", buf)
        yield kind & 0x3FFF, buf[4:length]
        buf = buf[(length + 3) & ~3:]

def attr(name, data):
    kind = A.index(name) if isinstance(name, str) else name
    return struct.pack("HH", 4 + len(data), kind) + data + b"\0" * (-len(data) % 4)

def request(family, cmd, payload):
    """Sends one request with NLM_F_ACK; returns the reply's attributes
    (b"" for a command without reply) once the ack arrives."""
    msg = struct.pack("BBH", cmd, 1, 0) + payload
    sock.send(struct.pack("IHHII", 16 + len(msg), family, 1 | 4, 1, 0) + msg)
    data = b""
    while True:
        buf = sock.recv(1 << 20)
        while len(buf) >= 16:
            length, kind = struct.unpack_from("IH", buf)
            if kind == 2:  # NLMSG_ERROR: the ack, or an error
                err = struct.unpack_from("i", buf, 16)[0]
                if err:
                    sys.exit("%s: netlink error %d" %
                             ("nlctrl" if family == 0x10 else C[cmd], err))
                return data
            if not data:
                data = buf[20:length]
            buf = buf[(length + 3) & ~3:]

text = open(sys.argv[1]).read()
A, C, S = enum(text, "qkd_attr"), enum(text, "qkd_cmd"), enum(text, "qkd_stat")
sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)  # NETLINK_GENERIC
sock.bind((0, 0))
# nlctrl: CTRL_CMD_GETFAMILY (3), CTRL_ATTR_FAMILY_NAME (2) -> _ID (1)
reply = request(0x10, 3, attr(2, b"qkd\0"))
family = next(struct.unpack("H", d[:2])[0] for k, d in attrs(reply) if k == 1)
index = attr("QKD_A_LINK_INDEX", struct.pack("I", int(sys.argv[3])))

if sys.argv[2] == "stats":
    reply = request(family, C.index("QKD_CMD_LINK_GET"), index)
    for kind, data in attrs(reply):
        if kind != A.index("QKD_A_STATS"):
            continue
        for stat, value in attrs(data):
            name = S[stat]
            if len(value) == 8 and name != "QKD_STAT_PAD":
                print("%s=%d" % (name[9:].lower(), struct.unpack("Q", value)[0]))
elif sys.argv[2] == "reserve-discard":
    length = struct.pack("I", int(sys.argv[4]))
    reply = request(family, C.index("QKD_CMD_KEY_ALLOC"),
                    index + attr("QKD_A_KEY_LEN", length) +
                    attr("QKD_A_KEY_COUNT", struct.pack("I", int(sys.argv[5]))) +
                    attr("QKD_A_KEY_FLAGS", struct.pack("I", 1)))  # RESERVE
    ids = [d for k, n in attrs(reply) if k == A.index("QKD_A_KEY")
           for t, d in attrs(n) if t == A.index("QKD_A_KEY_ID")]
    for key_id in ids:
        request(family, C.index("QKD_CMD_KEY_DISCARD"),
                index + attr("QKD_A_KEY_ID", key_id) + attr("QKD_A_KEY_LEN", length))
    print("discarded %d keys" % len(ids))
PY
}

# stats END: the counters qkdtrace's flow must match, in a fixed order.
stats() {
	local -A c
	local name value
	while IFS== read -r name value; do
		c[$name]=$value
	done < <(qkd_genl stats "$1")
	echo "${c[blocks_received]:-x} ${c[bytes_received]:-x}" \
	     "${c[bytes_allocated]:-x} ${c[bytes_fetched]:-x}" \
	     "${c[bytes_discarded]:-x} ${c[blocks_evicted]:-x}" \
	     "$(( ${c[blocks_bad]:-0} + ${c[blocks_qber]:-0} ))"
}

# flow_sums LINK: the same figures summed over every interval qkdtrace
# printed for that link end.
flow_sums() {
	jq -s -r --argjson l "$1" '
		[.[].links[] | select(.link == $l)] as $r |
		[([$r[].ingested.blocks] | add // 0), ([$r[].ingested.bytes] | add // 0),
		 ([$r[].allocated.bytes] | add // 0), ([$r[].fetched.bytes] | add // 0),
		 ([$r[].discarded.bytes] | add // 0), ([$r[].evicted.blocks] | add // 0),
		 ([$r[].dropped.blocks] | add // 0)] | map(tostring) | join(" ")' \
		"$out/flow.json"
}

# --- setup: a pair generating 256-byte blocks, a small pool that evicts ---
qkd_load &&
echo "$sim $((900 + sim)) 256 64 32" >$bus/new_device &&
echo 400000 >$bus/devices/qkd_sim$sim/rate_bps &&
"$util" up $sim
ktap_ok $? "load, create and start pair qkd_sim$sim"
tx=$(cat $bus/devices/qkd_sim$sim/tx_index)
rx=$(cat $bus/devices/qkd_sim$sim/rx_index)

"$tool" --help | grep -q "^Usage: qkdtrace" && ! "$tool" bogus 2>/dev/null
ktap_ok $? "--help prints usage, an unknown command fails"

# --- flow and latency over one quiesced window ---
sleep 1
echo 1 >$dbg/stall
sleep 0.5
before_tx=$(stats $tx)
before_rx=$(stats $rx)
start_trace flow -d 10 -i 1 -j flow && start_trace latency -d 10 -j latency
ktap_ok $? "qkdtrace flow and latency attach (event formats match)"
echo 0 >$dbg/stall
"$util" read-loop 2 $sim >$out/read-loop.out 2>&1
# A QBER spike: the ends raise an alarm and drop blocks ("qber").
echo 500000 >$dbg/qber_spike_ppm
sleep 1
echo 0 >$dbg/qber_spike_ppm
sleep 0.5
echo 1 >$dbg/stall
kill -0 "${pids[@]}"
ktap_ok $? "qkdtrace still runs when the window closes"
# With the card stalled no block is evicted between reserve and discard.
qkd_genl reserve-discard "$tx" 32 8 >>$out/read-loop.out 2>&1
sleep 0.5
after_tx=$(stats $tx)
after_rx=$(stats $rx)
wait "${pids[@]}"
sed 's/^/# /' $out/read-loop.out
pids=()

names=(blocks_ingested bytes_ingested bytes_allocated bytes_fetched
       bytes_discarded blocks_evicted blocks_dropped)
# check_flow END INDEX "BEFORE" "AFTER": traced sums against counter deltas.
check_flow() {
	local end=$1 idx=$2 before after traced i want ok=0 detail=""
	read -r -a before <<<"$3"
	read -r -a after <<<"$4"
	read -r -a traced <<<"$(flow_sums "$idx")"
	for i in "${!names[@]}"; do
		want=$(( after[i] - before[i] ))
		detail+=" ${names[i]}=${traced[i]:-?}/$want"
		[ "${traced[i]:-x}" = "$want" ] || ok=1
	done
	echo "# $end (link $idx) traced/QKD_STAT:$detail"
	ktap_ok $ok "flow at the $end end equals its QKD_STAT counters"
}
check_flow tx "$tx" "$before_tx" "$after_tx"
check_flow rx "$rx" "$before_rx" "$after_rx"
read -r -a traced_tx <<<"$(flow_sums "$tx")"
read -r -a traced_rx <<<"$(flow_sums "$rx")"
[ "${traced_tx[0]:-0}" -gt 0 ] && [ "${traced_tx[2]:-0}" -gt 0 ] &&
	[ "${traced_rx[3]:-0}" -gt 0 ] && [ "${traced_tx[4]:-0}" -eq 256 ]
ktap_ok $? "the window saw blocks ingested, keys allocated, fetched and discarded"
[ "$(jq -s 'length' $out/flow.json)" -ge 4 ]
ktap_ok $? "flow printed one report per interval ($(jq -s 'length' $out/flow.json))"
reasons=$(jq -s -c --argjson l "$tx" '[.[].links[] | select(.link == $l) | .dropped.reasons | to_entries[]] |
	group_by(.key) | map({(.[0].key): ([.[].value.blocks] | add)}) | add // {}' $out/flow.json)
echo "# drop reasons at the tx end: $reasons"
jq -e --argjson total "${traced_tx[6]:-0}" '.qber > 0 and ([.[]] | add) == $total' \
	<<<"$reasons" >/dev/null
ktap_ok $? "drops during the QBER spike are counted with reason qber"

alloc_keys=$(jq -s --argjson l "$tx" '[.[].links[] | select(.link == $l) | .allocated.keys] | add // 0' $out/flow.json)
hist_alloc=$(jq -s --argjson l "$tx" '[.[] | select(.link == $l and .op == "alloc") | .buckets[].count] | add // 0' $out/latency.json)
hist_fetch=$(jq -s --argjson l "$rx" '[.[] | select(.link == $l and .op == "fetch") | .buckets[].count] | add // 0' $out/latency.json)
echo "# latency: $hist_alloc allocations and $hist_fetch fetches timed; flow saw $alloc_keys keys allocated"
[ "$hist_alloc" -gt 0 ] && [ "$hist_alloc" -le "$alloc_keys" ] && [ "$hist_fetch" -gt 0 ]
ktap_ok $? "latency histograms time the allocations (tx) and fetches (rx)"
jq -e -s 'all(.[]; .unit == "usecs" and all(.buckets[]; .low <= .high and .count > 0))' \
	$out/latency.json >/dev/null
ktap_ok $? "latency buckets are well formed"

# --- events: a link cut, a QBER alarm, a DMA error ---
echo 0 >$dbg/stall
start_trace events -d 8 -j events
ktap_ok $? "qkdtrace events attaches"
echo 1 >$dbg/link_cut
sleep 1
echo 0 >$dbg/link_cut
sleep 1
echo 500000 >$dbg/qber_spike_ppm
sleep 1
echo 0 >$dbg/qber_spike_ppm
sleep 1
echo both >$dbg/dma_error
wait "${pids[@]}"
pids=()
sed 's/^/# events: /' $out/events.json

has_event() {	# has_event JQ-FILTER
	jq -e -s "any(.[]; $1)" $out/events.json >/dev/null
}
has_event ".event == \"link_state\" and .link == $tx and .new == \"no_carrier\"" &&
	has_event ".event == \"link_state\" and .link == $rx and .new == \"no_carrier\""
ktap_ok $? "events sees the link cut at both ends"
has_event ".event == \"link_state\" and .link == $tx and .old == \"no_carrier\" and .new == \"up\""
ktap_ok $? "events sees the carrier come back"
has_event ".event == \"qber_alarm\" and .qber_ppm > .qber_max_ppm"
ktap_ok $? "events sees a QBER alarm"
has_event ".event == \"dma_error\" and .link == $tx"
ktap_ok $? "events sees a DMA error"

ktap_finish
