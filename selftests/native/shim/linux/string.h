/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKD_SHIM_STRING_H
#define _QKD_SHIM_STRING_H

#include <string.h>
#include <linux/types.h>

/* memset that the compiler may not drop (kernel: memset + barrier_data). */
static inline void memzero_explicit(void *p, size_t n)
{
	memset(p, 0, n);
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

#endif /* _QKD_SHIM_STRING_H */
