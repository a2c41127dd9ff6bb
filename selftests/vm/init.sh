#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the qkdn test VM (busybox).  Loads the virtio 9p modules, mounts
# the host root read-only at /newroot, mounts the kernel file systems and
# scratch tmpfs on it, runs the requested repo script chrooted there with
# stdout on the second serial port (ttyS1), then powers off.

export PATH=/bin

. /qkd-vm.env

fail() {
	echo "qkd-vm init: $*" >/dev/console
	poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mount -t tmpfs dev /dev

while read -r m; do
	insmod "/lib/modules/$m" || fail "insmod $m failed"
done </modules.order

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /newroot ||
	fail "mounting the host root over 9p failed"

r=/newroot
# A repo under /tmp or /run would be hidden by the scratch tmpfs mounted
# there below: hold a bind mount of it and move it on top afterwards.
case $QKD_REPO in
/tmp/*|/run/*)
	mkdir -p /repo && mount -o bind "$r$QKD_REPO" /repo ||
		fail "binding $QKD_REPO failed"
	held_repo=1 ;;
*)	held_repo=0 ;;
esac
mount -t proc proc $r/proc
mount -t sysfs sysfs $r/sys
mount -t devtmpfs devtmpfs $r/dev 2>/dev/null || {
	mount -t tmpfs -o mode=755 dev $r/dev &&
	mknod -m 666 $r/dev/null c 1 3 && mknod -m 600 $r/dev/console c 5 1 &&
	mknod -m 660 $r/dev/ttyS1 c 4 65 && mknod -m 444 $r/dev/urandom c 1 9
}
mkdir -p $r/dev/pts $r/dev/shm 2>/dev/null
# bash process substitution and friends need the /dev/fd links udev would make.
ln -sf /proc/self/fd $r/dev/fd
ln -sf /proc/self/fd/0 $r/dev/stdin
ln -sf /proc/self/fd/1 $r/dev/stdout
ln -sf /proc/self/fd/2 $r/dev/stderr
mount -t devpts devpts $r/dev/pts
mount -t tmpfs tmpfs $r/dev/shm
mount -t tmpfs -o mode=1777 tmpfs $r/tmp
mount -t tmpfs -o mode=755 tmpfs $r/run
if [ "$held_repo" = 1 ]; then
	mkdir -p "$r$QKD_REPO" && mount -o move /repo "$r$QKD_REPO" ||
		fail "moving $QKD_REPO back into view failed"
fi
mount -t debugfs debugfs $r/sys/kernel/debug
# The debug kernel's modules.builtin & co (modprobe of a built-in driver
# succeeds) hide Debian's modules, which it could not load anyway.
if [ -n "${QKD_MODULES_DIR:-}" ]; then
	mount -o bind "$r$QKD_MODULES_DIR" $r/lib/modules ||
		fail "binding $QKD_MODULES_DIR on /lib/modules failed"
fi
mount -t tracefs tracefs $r/sys/kernel/tracing 2>/dev/null ||
	mount -t tracefs tracefs $r/sys/kernel/debug/tracing

stty -F /dev/ttyS1 raw -echo 2>/dev/null

# The host's /etc/mtab and /var/run may point at /proc and /run: both exist.
cat /qkd-vm.cmd >$r/tmp/qkd-vm.cmd
chroot $r /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/tmp TMPDIR=/tmp QKD_REPO="$QKD_REPO" /bin/bash /tmp/qkd-vm.cmd \
	>/dev/ttyS1 2>/dev/console
echo "guest command exited with status $?" >/dev/console

echo "$QKD_DONE_MARKER" >/dev/ttyS1
sync
poweroff -f
