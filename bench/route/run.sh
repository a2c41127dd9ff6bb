#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Route computation as the daemon runs it (recompute after a topology
# change, lookup from the cached tree) on synthetic 100-, 1000- and
# 10000-node topologies, next to a memcpy of the graph and the old
# rebuild-per-lookup path.  Builds bench_route from the daemon's route.c
# into build/ here, runs it once, prints its table.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
d=$here/../../daemon
mkdir -p "$here/build"
${CC:-cc} -O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-D_GNU_SOURCE -I"$d" -I"$here/../../uapi" \
	-o "$here/build/bench_route" "$here/bench_route.c" "$d/routing/route.c" -lm
exec timeout 300 "$here/build/bench_route"
