#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The cost of key confirmation per block (key bytes and fraction, CPU per
# tag and per block through two whole ends) next to a memcpy of the block,
# a bare Poly1305 over it and two unconfirmed ends, in the same run.
# Builds bench_confirm against the daemon's objects into build/ here,
# runs it once, prints its table.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
d=$here/../../daemon
make -s -C "$d" build/qkdkmd
mkdir -p "$here/build"
objs=()
for dir in core kx kma routing relay ksa mgmt apps/ipsec apps/macsec apps/wireguard; do
	objs+=("$d/build/$dir"/*.o)
done
${CC:-cc} -O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-D_GNU_SOURCE -I"$d" -I"$here/../../uapi" \
	-o "$here/build/bench_confirm" "$here/bench_confirm.c" "${objs[@]}" \
	-luring -lcurl -lssl -lcrypto -ljansson -lhttp_parser -lmnl -linih
exec timeout 300 "$here/build/bench_confirm"
