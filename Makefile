# SPDX-License-Identifier: GPL-2.0
#
# qkdn top-level build.  "make" builds the kernel modules (against Debian's
# 6.1 headers unless KDIR= says otherwise) and the userspace programs.

KDIR ?= $(lastword $(sort $(wildcard /usr/src/linux-headers-6.1*-amd64)))

.PHONY: all modules userspace demo check unit vm-test host-test bench clean fuzz-long

all: modules userspace

modules:
	@test -n "$(KDIR)" || { echo "no kernel headers: apt-get install linux-headers-amd64, or set KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace:
	$(MAKE) -C daemon
	$(MAKE) -C tools

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
