#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the test VM (bench/run_all.sh starts it through
# selftests/vm/run.sh --cmd): loads the modules, runs the benchmark, unloads.

. selftests/kernel/lib.sh
qkd_load || { echo "loading qkd.ko/qkd_sim.ko failed" >&2; exit 1; }
"$QKD_TOP/build/bench/ingest/qkd_ingest_bench"
rc=$?
qkd_unload || rc=1
exit $rc
