#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds the qkdn debug kernel (KASAN, lockdep, might_sleep checks,
# kmemleak) from Debian's linux-source-6.1: allnoconfig plus
# selftests/vm/debug.config, merged with scripts/kconfig/merge_config.sh.
# The built tree is cached in $QKD_DEBUG_KERNEL_CACHE/debug-kernel-<hash>
# (default /var/cache/qkdn, or ~/.cache/qkdn if that is not writable),
# <hash> covering the fragment, the source
# package and this script's recipe revision, so a second run is instant.
# Prints the cache directory on stdout; it holds
#
#   bzImage          the kernel to boot (selftests/vm/run.sh QKD_VM_KERNEL)
#   build/           the configured and built tree: modules go against it
#                    with  make -C <dir>/build M=$PWD/kernel
#   lib/modules/VER  modules.builtin and friends (modprobe of a built-in)
#   kernelrelease    VER
#
#   selftests/vm/build-debug-kernel.sh [--print-dir]
#
# --print-dir prints the directory without building (exit 1 if not built).
# Environment: QKD_DEBUG_KERNEL_CACHE, QKD_DEBUG_KERNEL_JOBS (default: the
# number of CPUs), QKD_LINUX_SOURCE (default /usr/src/linux-source-6.1.tar.xz).
# Needs linux-source-6.1 flex bison bc libelf-dev libssl-dev (see .ci/deps).

set -euo pipefail

recipe=1	# bump when the build steps below change what gets built
top=$(cd "$(dirname "$0")/../.." && pwd)
fragment=$top/selftests/vm/debug.config
src=${QKD_LINUX_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
cache=${QKD_DEBUG_KERNEL_CACHE:-/var/cache/qkdn}
# Not root: a cache of one's own.
if [ -z "${QKD_DEBUG_KERNEL_CACHE:-}" ] && { ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; }; then
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/qkdn
fi
jobs=${QKD_DEBUG_KERNEL_JOBS:-$(nproc)}

log() { echo "build-debug-kernel: $*" >&2; }

[ -r "$src" ] || { log "no $src (apt-get install linux-source-6.1)"; exit 1; }
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null || stat -c %s-%Y "$src")
hash=$( { echo "recipe $recipe"; echo "source $srcver"; cat "$fragment"; } |
	sha256sum | cut -c1-16)
dir=$cache/debug-kernel-$hash

if [ "${1:-}" = "--print-dir" ]; then
	[ -e "$dir/.done" ] || exit 1
	echo "$dir"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.debug-kernel-$hash.lock"
flock 9		# one build at a time; the second waits and finds it done
if [ -e "$dir/.done" ]; then
	log "cached: $dir ($(cat "$dir/kernelrelease"))"
	echo "$dir"
	exit 0
fi

start=$(date +%s)
rm -rf "$dir"
mkdir -p "$dir/build"
log "extracting $src into $dir/build"
tar -xJf "$src" -C "$dir/build" --strip-components=1

cd "$dir/build"
log "configuring: allnoconfig + $fragment"
ARCH=x86_64 scripts/kconfig/merge_config.sh -n "$fragment" >"$dir/merge_config.log" 2>&1 || {
	tail -n 30 "$dir/merge_config.log" >&2
	exit 1
}
# merge_config.sh only warns about a value that did not make it (a missing
# dependency): the fragment must say what the kernel is, so fail.
if grep -A3 '^Value requested for' "$dir/merge_config.log" >&2; then
	log "the fragment asks for values the final .config does not have (above)"
	exit 1
fi
cp .config "$dir/config"

log "building bzImage and modules with -j$jobs (nice 10); log in $dir/build.log"
if ! nice -n 10 make -j"$jobs" ARCH=x86_64 all >"$dir/build.log" 2>&1; then
	tail -n 40 "$dir/build.log" >&2
	exit 1
fi
# modules.builtin(.bin) let modprobe of a built-in driver succeed in the VM.
make -s ARCH=x86_64 INSTALL_MOD_PATH="$dir" modules_install >>"$dir/build.log" 2>&1
make -s ARCH=x86_64 kernelrelease >"$dir/kernelrelease"
cp arch/x86/boot/bzImage "$dir/bzImage"
echo "$(( $(date +%s) - start ))" >"$dir/build-seconds"
touch "$dir/.done"
log "built $(cat "$dir/kernelrelease") in $(cat "$dir/build-seconds") s: $dir"
echo "$dir"
