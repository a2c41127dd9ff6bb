// SPDX-License-Identifier: GPL-2.0
#include <linux/slab.h>

/* 0: never fail; N: the Nth allocation from now fails (then 0 again). */
unsigned long qkd_shim_alloc_fail_in;
