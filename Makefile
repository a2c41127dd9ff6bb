# SPDX-License-Identifier: GPL-2.0
#
# qkdn top-level build.  "make" builds the kernel modules (against Debian's
# 6.1 headers unless KDIR= says otherwise) and the userspace programs.

KDIR ?= $(lastword $(sort $(wildcard /usr/src/linux-headers-6.1*-amd64)))

# Installation (GNU style; DESTDIR for staging, e.g. the Debian packages).
PREFIX ?= /usr
sbindir ?= $(PREFIX)/sbin
bindir ?= $(PREFIX)/bin
datadir ?= $(PREFIX)/share
mandir ?= $(datadir)/man
docdir ?= $(datadir)/doc/qkdn
sysconfdir ?= /etc
# /lib/systemd/system for PREFIX=/usr (Debian 12), else under PREFIX
# (systemd reads /usr/local/lib/systemd/system too).
unitdir ?= $(patsubst /usr,,$(PREFIX))/lib/systemd/system
INSTALL ?= install

# What "make install" installs, from where the sub-makes build it.
QKDKMD_BIN := daemon/build/qkdkmd
QKDCTL_BIN := tools/build/qkdctl
QKDTRACE_BIN := tools/qkdtrace/build/qkdtrace
MAN5 := Documentation/man/qkdkmd.conf.5
MAN8 := Documentation/man/qkdkmd.8 Documentation/man/qkdctl.8 \
	Documentation/man/qkdtrace.8
DOCS := README $(wildcard Documentation/qkd/*.rst)

.PHONY: all modules test-modules userspace demo check unit vm-test host-test bench chaos fuzz-long vm-test-debug clean \
	install install-daemon install-tools install-docs uninstall

all: modules userspace

modules:
	@test -n "$(KDIR)" || { echo "no kernel headers: apt-get install linux-headers-amd64, or set KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# Test-only modules the VM selftests load (selftests/kernel/module/; not
# in Kbuild, so neither DKMS nor the packages build them).
test-modules: modules
	$(MAKE) -C $(KDIR) M=$(CURDIR)/selftests/kernel/module \
		KBUILD_EXTRA_SYMBOLS=$(CURDIR)/Module.symvers modules

userspace:
	$(MAKE) -C daemon
	$(MAKE) -C tools

# Userspace only: the kernel modules are installed with DKMS (dkms.conf) or
# by "make -C $(KDIR) M=$(CURDIR) modules_install".
install: install-daemon install-tools install-docs

install-daemon: userspace
	$(INSTALL) -d $(DESTDIR)$(sbindir) $(DESTDIR)$(unitdir) \
		$(DESTDIR)$(mandir)/man5 $(DESTDIR)$(mandir)/man8
	$(INSTALL) -m 0755 $(QKDKMD_BIN) $(DESTDIR)$(sbindir)/qkdkmd
	sed -e 's|/usr/sbin/qkdkmd|$(sbindir)/qkdkmd|g' \
	    -e 's|/etc/qkdkmd|$(sysconfdir)/qkdkmd|g' daemon/qkdkmd.service \
		>$(DESTDIR)$(unitdir)/qkdkmd.service
	chmod 0644 $(DESTDIR)$(unitdir)/qkdkmd.service
	$(INSTALL) -m 0644 $(MAN5) $(DESTDIR)$(mandir)/man5/
	$(INSTALL) -m 0644 Documentation/man/qkdkmd.8 $(DESTDIR)$(mandir)/man8/
	$(INSTALL) -d -m 0750 $(DESTDIR)$(sysconfdir)/qkdkmd

install-tools: userspace
	$(INSTALL) -d $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man8
	$(INSTALL) -m 0755 $(QKDCTL_BIN) $(QKDTRACE_BIN) $(DESTDIR)$(bindir)/
	$(INSTALL) -m 0644 Documentation/man/qkdctl.8 \
		Documentation/man/qkdtrace.8 $(DESTDIR)$(mandir)/man8/

# The example config goes with the docs, not to $(sysconfdir): it names
# certificates and addresses every site has to choose (Debian policy
# 10.7.3: examples in /usr/share/doc/PACKAGE/examples).
install-docs:
	$(INSTALL) -d $(DESTDIR)$(docdir)/examples
	$(INSTALL) -m 0644 $(DOCS) $(DESTDIR)$(docdir)/
	$(INSTALL) -m 0644 examples/qkdkmd.conf $(DESTDIR)$(docdir)/examples/

# Leaves $(sysconfdir)/qkdkmd and the qkdkmd user: they hold the site's
# certificates and keys.
uninstall:
	rm -f $(DESTDIR)$(sbindir)/qkdkmd $(DESTDIR)$(bindir)/qkdctl \
		$(DESTDIR)$(bindir)/qkdtrace \
		$(DESTDIR)$(unitdir)/qkdkmd.service \
		$(DESTDIR)$(mandir)/man5/qkdkmd.conf.5 \
		$(addprefix $(DESTDIR)$(mandir)/man8/,qkdkmd.8 qkdctl.8 qkdtrace.8)
	rm -rf $(DESTDIR)$(docdir)

# A small simulated QKD network on loopback, keys fetched at both ends.
demo: userspace
	examples/demo.sh

# Every test: unit (ASan/UBSan), fuzz smoke, host integration, kernel in QEMU.
check: all
	selftests/run_all.sh

unit: userspace
	selftests/run_all.sh unit

host-test: userspace
	selftests/run_all.sh host

vm-test: all
	selftests/run_all.sh vm

# The kernel suite on a debug kernel (KASAN, lockdep, kmemleak), built from
# Debian's linux-source-6.1 on first use and cached.
vm-test-debug: all
	selftests/run_all.sh vm-debug

# The long form of the chaos test (issue 21): 16 daemons, 330 s of faults
# under load; root (a network namespace of its own).  CHAOS_SEED=N picks
# another mesh and fault schedule.  The short form runs with host-test.
chaos: userspace
	selftests/host/chaos.sh --long

bench: all
	bench/run_all.sh

# Every libFuzzer target for FUZZ_SECONDS (default 600) each; the new
# inputs that add coverage are merged into the in-tree corpora.
fuzz-long:
	selftests/fuzz-long.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C daemon clean
	$(MAKE) -C tools clean
