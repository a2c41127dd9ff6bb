#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Acceptance 6: no key byte in dmesg or trace output during the whole suite.
# The runner (selftests/vm/guest.sh) enabled every qkd tracepoint, drained
# the trace buffer into $QKD_TRACE_LOG and kept all kernel messages in
# $QKD_DMESG_LOG; the tests logged every key they fetched in $QKD_KEY_LOG.

. "$(dirname "$0")/lib.sh"
echo "KTAP version 1"

if [ -z "${QKD_KEY_LOG:-}" ] || [ -z "${QKD_TRACE_LOG:-}" ] || [ -z "${QKD_DMESG_LOG:-}" ]; then
	ktap_skip "run by selftests/vm/guest.sh" "key leak scan"
	ktap_finish
	exit 4
fi

keys=$(wc -l <"$QKD_KEY_LOG")
[ "$keys" -ge 100 ]
ktap_ok $? "the suite fetched key material to look for ($keys keys)"

ls -d "$QKD_TRACING"/events/qkd* >/dev/null 2>&1
ktap_ok $? "qkd tracepoints exist ($(ls -d "$QKD_TRACING"/events/qkd*/*/ 2>/dev/null | wc -l) events)"

cat "$QKD_TRACING/trace" >/tmp/trace.now 2>/dev/null
dmesg >/tmp/dmesg.now
events=$(cat "$QKD_TRACE_LOG" /tmp/trace.now | grep -cE '\bqkd[a-z_]*:')
[ "$events" -gt 0 ]
ktap_ok $? "trace output recorded qkd events to scan ($events)"

"$QKD_BIN/qkd_leak_scan" "$QKD_KEY_LOG" "$QKD_DMESG_LOG" /tmp/dmesg.now \
	"$QKD_TRACE_LOG" /tmp/trace.now
ktap_ok $? "no 8-byte window of any fetched key in dmesg or trace output (hex or raw)"
ktap_finish
