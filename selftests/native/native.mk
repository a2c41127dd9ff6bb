# SPDX-License-Identifier: GPL-2.0
#
# qkd.ko's pool and ring ingest code compiled unchanged for userspace, over
# the shim headers in selftests/native/shim.  Included by
# selftests/native/Makefile (unit test, fuzzer) and bench/ingest_native.
# Set TOP to the tree's top directory before including.

NATIVE_DIR := $(TOP)/selftests/native
NATIVE_KERNEL_SRCS := $(TOP)/kernel/pool.c $(TOP)/kernel/ring.c
NATIVE_SHIM_SRCS := $(wildcard $(NATIVE_DIR)/shim/*.c) $(NATIVE_DIR)/qkd_dev_stubs.c
NATIVE_SRCS := $(NATIVE_KERNEL_SRCS) $(NATIVE_SHIM_SRCS)
NATIVE_HDRS := $(wildcard $(NATIVE_DIR)/shim/*/*.h) $(NATIVE_DIR)/qkd_dev_stubs.h \
	$(wildcard $(TOP)/kernel/*.h) $(TOP)/uapi/linux/qkd.h

# Kbuild's own warning choices for kernel code: no unused-parameter,
# sign-compare or address-of-packed-member warnings (as the kernel).
NATIVE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-Wno-unused-parameter -Wno-sign-compare -Wno-address-of-packed-member \
	-fno-strict-aliasing \
	-I$(NATIVE_DIR)/shim -I$(TOP)/uapi -I$(TOP)/kernel -I$(NATIVE_DIR)
