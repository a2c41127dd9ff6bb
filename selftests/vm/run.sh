#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run qkdn's kernel selftests (or any repo script) inside a QEMU (TCG) VM
# booted on Debian's 6.1 kernel (or, with QKD_VM_DEBUG=1, on the debug
# kernel of build-debug-kernel.sh: KASAN, lockdep, kmemleak), with the host
# root mounted read-only over 9p.  Prints TAP on stdout and exits non-zero
# on any failure.
#
#   selftests/vm/run.sh [test...]            tests from selftests/kernel/tests.txt
#   selftests/vm/run.sh --cmd SCRIPT [ARG...] run a repo script in the VM
#                                             (its stdout is passed through)
#
# Environment: QKD_VM_DEBUG=1 (boot the debug kernel, built first if it is
# not cached; the modules are built against it in build/debug-kernel/, or
# in QKD_VM_MODULE_SRC, a tree with kernel/, uapi/ and
# selftests/kernel/module/),
# QKD_VM_KERNEL (vmlinuz path), QKD_VM_TIMEOUT (s, default 1500),
# QKD_VM_STALL (s without test output that mean a hung guest, default
# QKD_TEST_TIMEOUT + 120), QKD_VM_RETRY=0 (do not boot a hung guest again),
# QKD_VM_MEM (default 1G), QKD_VM_KEEP=1 (keep the temp dir with the console
# log), QKD_VM_NO_BUILD=1 (do not run make first); QKD_TEST_TIMEOUT,
# QKD_UNLOAD_CYCLES and the gateway tests' QKD_WG_* and QKD_SWAN_* knobs
# are passed to the guest.
# See Documentation/qkd/testing.rst.

set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
# KASAN and lockdep make the debug kernel several times slower: on the
# loaded 2-core build machine single tests took up to 630 s and the suite
# far longer than 2400 s.  A hung guest is still caught by the stall watch.
if [ "${QKD_VM_DEBUG:-0}" = 1 ]; then
	export QKD_TEST_TIMEOUT=${QKD_TEST_TIMEOUT:-1200}
	QKD_VM_TIMEOUT=${QKD_VM_TIMEOUT:-10800}
fi
vm_timeout=${QKD_VM_TIMEOUT:-1500}
vm_stall=${QKD_VM_STALL:-$(( ${QKD_TEST_TIMEOUT:-300} + 120 ))}
done_marker="QKD-VM-DONE"

# Modules the guest needs to mount the host root over virtio 9p.
boot_modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	      virtio_pci netfs fscache 9pnet 9pnet_virtio 9p)

die() {
	echo "not ok 1 - vm: $*"
	echo "1..1"
	exit 1
}

# The debug kernel: bzImage, its build tree and its (module-less)
# /lib/modules/<ver> with modules.builtin, for modprobe of built-ins.
find_debug_kernel() {
	local dir
	dir=$("$top/selftests/vm/build-debug-kernel.sh") || die "building the debug kernel failed (selftests/vm/build-debug-kernel.sh)"
	kernel=$dir/bzImage
	kver=$(cat "$dir/kernelrelease")
	moddir=$dir/lib/modules/$kver
	kdir=$dir/build
	debug_src=${QKD_VM_MODULE_SRC:-$top/build/debug-kernel}
	ko_dir=$debug_src/kernel
	guest_moddir=$dir/lib/modules
	# Under TCG a KASAN kernel evaluating ACPI methods at boot can hold a
	# CPU for over the default 21 s: no RCU stall report for that.  The
	# i440fx _PRT method (a loop over 128 slots) can even outrun ACPICA's
	# 30 s loop timeout on a loaded host: it is aborted, the virtio 9p
	# device gets no IRQ and mounting the host root hangs after "Run
	# /init".  pci=noacpi routes PCI interrupts by the BIOS $PIR table.
	# On a loaded host the TSC's calibration against the PIT can come out
	# 30 times too low (66 MHz): guest time then ran 30 times too fast and
	# the guest's per-test timeout killed tests after 40 s of real time.
	# QEMU's HPET keeps the host's time.
	extra_append="rcupdate.rcu_cpu_stall_timeout=300 pci=noacpi clocksource=hpet"
}

# qkd.ko, qkd_sim.ko and the test modules for the debug kernel, from a
# copy of the sources (kernel/*.ko stay the ones for Debian's kernel), or
# from the tree QKD_VM_MODULE_SRC as it is (selftests/kernel/planted_bug.sh:
# a copy with a bug in it).
build_debug_modules() {
	local dst=$debug_src
	if [ -z "${QKD_VM_MODULE_SRC:-}" ]; then
		mkdir -p "$dst"
		(cd "$top" && find kernel uapi selftests/kernel/module -type f \
			\( -name '*.[ch]' -o -name Kbuild \) -print0 |
			xargs -0 cp -p --parents -t "$dst") || return 1
	fi
	make -s -C "$kdir" M="$dst/kernel" modules >&2 &&
		make -s -C "$kdir" M="$dst/selftests/kernel/module" \
			KBUILD_EXTRA_SYMBOLS="$dst/kernel/Module.symvers" modules >&2
}

find_kernel() {
	local k=${QKD_VM_KERNEL:-}
	ko_dir=$top/kernel
	guest_moddir=
	extra_append=
	if [ "${QKD_VM_DEBUG:-0}" = 1 ]; then
		find_debug_kernel
		return
	fi
	if [ -z "$k" ]; then
		k=$(ls /boot/vmlinuz-6.1*-amd64 2>/dev/null | sort -V | tail -n 1)
	fi
	[ -n "$k" ] && [ -r "$k" ] || die "no readable /boot/vmlinuz-6.1*-amd64 (apt-get install linux-image-amd64, or set QKD_VM_KERNEL)"
	kernel=$k
	kver=${k##*/vmlinuz-}
	moddir=/lib/modules/$kver
	[ -r "$moddir/modules.dep" ] || die "no $moddir/modules.dep for kernel $kver"
}

# Print the modules.dep paths for module $1 and its dependencies, deps first.
module_paths() {
	local name=$1 line path dep
	line=$(grep -E "(^|/)${name}\.ko(\.xz|\.zst|\.gz)?:" "$moddir/modules.dep" | head -n 1)
	[ -n "$line" ] || return 1
	path=${line%%:*}
	for dep in ${line#*:}; do
		dep=${dep##*/}
		module_paths "${dep%%.ko*}"
	done
	echo "$path"
}

# Copy module file $1 (relative to $moddir) into the initramfs, uncompressed.
copy_module() {
	local src=$moddir/$1 dst=$initramfs/lib/modules/${1##*/}
	case $src in
	*.ko.xz)  dst=${dst%.xz};  xz -dc "$src" >"$dst" ;;
	*.ko.zst) dst=${dst%.zst}; zstd -qdc "$src" >"$dst" ;;
	*.ko.gz)  dst=${dst%.gz};  gzip -dc "$src" >"$dst" ;;
	*)        cp "$src" "$dst" ;;
	esac
	echo "${dst##*/}" >>"$initramfs/modules.order"
}

build_initramfs() {
	local busybox m p
	busybox=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
	file -L "$busybox" 2>/dev/null | grep -q dynamically && \
		die "$busybox is dynamically linked (apt-get install busybox-static)"
	mkdir -p "$initramfs"/{bin,dev,proc,sys,newroot,lib/modules}
	cp "$busybox" "$initramfs/bin/busybox"
	for p in sh mount umount insmod mkdir mknod chroot poweroff cat echo stty sleep; do
		ln -s busybox "$initramfs/bin/$p"
	done
	: >"$initramfs/modules.order"
	for m in "${boot_modules[@]}"; do
		# Modules built into this kernel need no loading.
		grep -qE "/${m}\.ko" "$moddir/modules.builtin" 2>/dev/null && continue
		# Not every kernel has every one (netfs is new in 5.x): skip those.
		if ! module_paths "$m" >"$tmp/paths"; then
			echo "# vm: $m is not a module of $kver, skipped" >&2
			continue
		fi
		while read -r p; do
			grep -qx "${p##*/}" "$initramfs/modules.order" 2>/dev/null && continue
			copy_module "$p"
		done <"$tmp/paths"
	done
	cp "$top/selftests/vm/init.sh" "$initramfs/init"
	chmod 755 "$initramfs/init"
	{
		printf 'QKD_REPO=%q\n' "$top"
		printf 'QKD_DONE_MARKER=%q\n' "$done_marker"
		printf 'QKD_MODULES_DIR=%q\n' "$guest_moddir"
	} >"$initramfs/qkd-vm.env"
	# The guest command, run by bash in the chroot: quoting survives.
	{
		printf 'cd %q || exit 1\n' "$top"
		printf 'export QKD_KO_DIR=%q\n' "$ko_dir"
		# Knobs of the guest side (guest.sh, the tests) pass through.
		for v in QKD_TEST_TIMEOUT QKD_UNLOAD_CYCLES $(compgen -v QKD_WG_) \
			 $(compgen -v QKD_SWAN_); do
			[ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
		done
		printf 'exec'
		printf ' %q' "$guest_cmd" "${guest_args[@]}"
		printf '\n'
	} >"$initramfs/qkd-vm.cmd"
	(cd "$initramfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initramfs.gz" ||
		die "cpio failed"
}

# Every test reports within QKD_TEST_TIMEOUT (the guest kills it then), so
# results that stop growing for longer than that mean a hung guest: kill
# it then rather than at the overall timeout.
watch_stall() {
	local pid=$1 size last=-1 quiet=0

	while kill -0 "$pid" 2>/dev/null; do
		sleep 5
		size=$(stat -c %s "$tmp/results.log" 2>/dev/null || echo 0)
		if [ "$size" != "$last" ]; then
			last=$size quiet=0
		else
			quiet=$((quiet + 5))
		fi
		if [ "$quiet" -ge "$vm_stall" ]; then
			: >"$tmp/stalled"
			kill "$pid" 2>/dev/null
			return
		fi
	done
}

run_qemu() {
	local pid watcher

	rm -f "$tmp/stalled" "$tmp/console.log" "$tmp/results.log"
	timeout --kill-after=10 "$vm_timeout" \
	qemu-system-x86_64 -accel tcg -cpu max -m "${QKD_VM_MEM:-1G}" -smp 2 \
		-nic none -nographic -no-reboot -monitor none \
		-kernel "$kernel" -initrd "$tmp/initramfs.gz" \
		-append "console=ttyS0 panic=-1 oops=panic panic_on_warn=0 nokaslr $extra_append" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-serial "file:$tmp/console.log" -serial "file:$tmp/results.log" \
		</dev/null >"$tmp/qemu.out" 2>&1 &
	pid=$!
	watcher=
	if [ "$passthrough" = 0 ]; then	# a --cmd script may be quiet
		watch_stall "$pid" &
		watcher=$!
	fi
	wait "$pid"
	qemu_rc=$?
	if [ -n "$watcher" ]; then
		kill "$watcher" 2>/dev/null
		wait "$watcher" 2>/dev/null
	fi
	stalled=0
	[ -e "$tmp/stalled" ] && stalled=1
}

# Boot once more after a guest that hung.  Under TCG a vCPU now and then
# stops answering IPIs (the other one then spins in
# smp_call_function_many_cond, soft lockup after soft lockup) in tests
# that pass on every other boot.  What the hung boot showed is kept in the
# output as comments; a guest that hangs twice fails.
retry_hung_guest() {
	grep -q "^$done_marker" "$tmp/results.log" 2>/dev/null && return 0
	[ "${QKD_VM_RETRY:-1}" = 1 ] || return 0
	echo "# vm: the guest hung (qemu exit $qemu_rc, stalled $stalled, no $done_marker marker) after:"
	tail -n 3 "$tmp/results.log" | sed -e 's/\r$//' -e 's/^/#   /'
	grep -E -m 3 'soft lockup|rcu.*stall|BUG:' "$tmp/console.log" |
		sed -e 's/\r$//' -e 's/^/# console: /'
	echo "# vm: booting the guest once more"
	run_qemu
}

# Number the guest's "ok - ..." lines; pass comments through.
emit_tap() {
	local line
	n=0 failures=0
	while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		"$done_marker"*) ;;
		"ok - "*)     n=$((n + 1)); echo "ok $n - ${line#ok - }" ;;
		"not ok - "*) n=$((n + 1)); failures=$((failures + 1))
			      echo "not ok $n - ${line#not ok - }" ;;
		"#"*)         echo "$line" ;;
		*)            echo "# $line" ;;
		esac
	done <"$tmp/results.log"
}

report() {
	local ok=$1 what=$2
	n=$((n + 1))
	if [ "$ok" = 1 ]; then
		echo "ok $n - $what"
	else
		failures=$((failures + 1))
		echo "not ok $n - $what"
	fi
}

# Kernel messages that mean the kernel is broken, whatever the tests said
# (guest.sh's check_dmesg looks for the same).  Lockdep's and the
# might_sleep() reports start "WARNING:" and "BUG:"; they are named too.
bad_kmsg='WARNING:|BUG:|Oops|general protection|UBSAN|KASAN|Kernel panic|Call Trace:'
bad_kmsg+='|possible circular locking|possible recursive locking|inconsistent lock state'
bad_kmsg+='|suspicious RCU usage|sleeping function called from invalid context'
bad_kmsg+='|suspected memory leak'
kernel_log_clean() {
	! grep -qE "$bad_kmsg" "$tmp/console.log"
}

passthrough=0
if [ "${1:-}" = "--cmd" ]; then
	shift
	[ $# -gt 0 ] || die "--cmd needs a script"
	guest_cmd=$1; shift
	guest_args=("$@")
	passthrough=1
else
	guest_cmd=selftests/vm/guest.sh
	guest_args=("$@")
fi

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
find_kernel

if [ "${QKD_VM_NO_BUILD:-0}" != 1 ]; then
	make -s -C "$top" modules test-modules >&2 || die "make modules test-modules failed"
	if [ "${QKD_VM_DEBUG:-0}" = 1 ]; then
		build_debug_modules || die "building the modules against the debug kernel ($kdir) failed"
	fi
	make -s -C "$top/selftests/kernel" >&2 || die "building selftests/kernel failed"
	make -s -C "$top/bench/ingest" >&2 || die "building bench/ingest failed"
	make -s -C "$top/tools" >&2 || die "building tools/ failed"
	make -s -C "$top/daemon" >&2 || die "building daemon/ failed"
fi
if [ "$passthrough" = 0 ]; then
	for m in qkd qkd_sim; do
		[ -r "$ko_dir/$m.ko" ] || die "$ko_dir/$m.ko not built (make modules)"
	done
fi

tmp=$(mktemp -d /tmp/qkd-vm.XXXXXX) || die "mktemp failed"
initramfs=$tmp/initramfs
if [ "${QKD_VM_KEEP:-0}" = 1 ]; then
	echo "# keeping $tmp (console.log, results.log)" >&2
else
	trap 'rm -rf "$tmp"' EXIT
fi
trap 'exit 1' INT TERM	# still run the EXIT trap

build_initramfs
start=$(date +%s)
run_qemu
[ "$passthrough" = 1 ] || retry_hung_guest
echo "# vm: kernel $kver, qemu exit $qemu_rc, $(( $(date +%s) - start )) s" >&2

if [ "$passthrough" = 1 ]; then
	sed -e 's/\r$//' -e "/^$done_marker/d" "$tmp/results.log"
	grep -q "^$done_marker" "$tmp/results.log" || { echo "vm: no completion marker" >&2; tail -n 40 "$tmp/console.log" >&2; exit 1; }
	kernel_log_clean || { echo "vm: kernel log has warnings/oopses" >&2; grep -E -A5 "$bad_kmsg" "$tmp/console.log" >&2; exit 1; }
	exit 0
fi

emit_tap
# A guest that reported no test case at all did not test anything.
[ "$n" -gt 0 ] || report 0 "vm: the guest reported test results"
if [ "$stalled" = 1 ]; then
	report 0 "vm: test output kept coming (none for ${vm_stall}s)"
elif [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
	report 0 "vm: finished within ${vm_timeout}s"
fi
if grep -q "^$done_marker" "$tmp/results.log"; then
	report 1 "vm: guest ran to completion"
else
	report 0 "vm: guest ran to completion (no $done_marker marker)"
	tail -n 40 "$tmp/console.log" | sed -e 's/\r$//' -e 's/^/# console: /'
fi
if kernel_log_clean; then
	report 1 "vm: console log free of WARNING/BUG/Oops/GPF/UBSAN/KASAN/lockdep/kmemleak reports"
else
	report 0 "vm: console log free of WARNING/BUG/Oops/GPF/UBSAN/KASAN/lockdep/kmemleak reports"
	grep -E -B2 -A20 "$bad_kmsg" "$tmp/console.log" |
		head -n 120 | sed -e 's/\r$//' -e 's/^/# console: /'
fi
echo "1..$n"
[ "$failures" -eq 0 ]
