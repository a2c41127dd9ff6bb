#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench/run_all.sh runner: the native ingest benchmark on the host CPU.
# With no arguments: the full run (cache-warm ring, key allocation), then
# the ingest table again with the ring flushed from the caches (-c).
# Arguments go to ingest_native_bench instead (--help lists them).
set -eu
cd "$(dirname "$0")"
make -s
bench=../../build/bench/ingest_native/ingest_native_bench
if [ $# -gt 0 ]; then
	exec "$bench" "$@"
fi
"$bench"
"$bench" -c -t 1
