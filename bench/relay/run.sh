#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Relay hop throughput (OTP + ITS MAC) next to an XOR + memcpy baseline.
# Builds bench_relay from the daemon's relay_otp.c and its_mac.c into
# build/ here, runs it once, prints its table.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
d=$here/../../daemon
mkdir -p "$here/build"
${CC:-cc} -O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-D_GNU_SOURCE -I"$d" -I"$here/../../uapi" \
	-o "$here/build/bench_relay" "$here/bench_relay.c" \
	"$d/relay/relay_otp.c" "$d/relay/its_mac.c" -lcrypto
exec timeout 120 "$here/build/bench_relay"
