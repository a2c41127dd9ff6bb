/* SPDX-License-Identifier: GPL-2.0 */
/* kmalloc family and kvmalloc family (slab.h, mm.h) on top of calloc. */
#ifndef _QKD_SHIM_SLAB_H
#define _QKD_SHIM_SLAB_H

#include <stdlib.h>
#include <linux/types.h>

/* Fault injection for the unit test: fail the Nth allocation from now. */
extern unsigned long qkd_shim_alloc_fail_in;

static inline void *qkd_shim_calloc(size_t n, size_t size)
{
	if (qkd_shim_alloc_fail_in && !--qkd_shim_alloc_fail_in)
		return NULL;
	if (array_size(n, size) == SIZE_MAX)
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

#define kcalloc(n, size, gfp)	qkd_shim_calloc(n, size)
#define kzalloc(size, gfp)	qkd_shim_calloc(1, size)
#define kvcalloc(n, size, gfp)	qkd_shim_calloc(n, size)
#define kvzalloc(size, gfp)	qkd_shim_calloc(1, size)
#define kfree(p)		free(p)
#define kvfree(p)		free(p)

#endif /* _QKD_SHIM_SLAB_H */
