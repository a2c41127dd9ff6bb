/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Coherent DMA memory is plain page-aligned memory here, and the DMA
 * address its virtual address; dma_rmb/dma_wmb are compiler barriers, as
 * on x86 (TSO) in the kernel.
 */
#ifndef _QKD_SHIM_DMA_MAPPING_H
#define _QKD_SHIM_DMA_MAPPING_H

#include <stdlib.h>
#include <string.h>
#include <linux/slab.h>

struct device;

#define dma_rmb()	barrier()
#define dma_wmb()	barrier()

static inline void *dma_alloc_coherent(struct device *dev, size_t size,
				       dma_addr_t *handle, gfp_t gfp)
{
	void *p;

	if (qkd_shim_alloc_fail_in && !--qkd_shim_alloc_fail_in)
		return NULL;
	p = aligned_alloc(4096, ALIGN(size, (size_t)4096));
	if (p) {
		memset(p, 0, size);
		*handle = (dma_addr_t)(uintptr_t)p;
	}
	return p;
}

static inline void dma_free_coherent(struct device *dev, size_t size,
				     void *cpu, dma_addr_t handle)
{
	free(cpu);
}

#endif /* _QKD_SHIM_DMA_MAPPING_H */
