/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The DMA descriptor ring between a card and the core (qkd_driver.h,
 * Documentation/qkd/ring.rst).
 */
#ifndef _QKD_RING_H
#define _QKD_RING_H

#include <linux/types.h>
#include "qkd_driver.h"

struct device;

/* Block buffers live in coherent chunks of at most this many bytes. */
#define QKD_RING_CHUNK_BYTES	(64 * 1024)

struct qkd_ring_chunk {
	void *cpu;
	dma_addr_t dma;
};

struct qkd_ring {
	struct device *dma_dev;		/* the card's device */
	struct qkd_ring_desc *desc;
	dma_addr_t desc_dma;
	struct qkd_ring_chunk *chunks;
	u32 n_chunks;
	u32 bufs_per_chunk;
	u32 buf_stride;			/* block_size, cache-line aligned */
	u32 block_size;
	u32 size;			/* descriptors, power of two */
	u32 next;			/* next descriptor the core reads */
	bool have_last;			/* last_block_id is valid */
	u64 last_block_id;		/* newest good block seen, for gaps */
};

int qkd_ring_alloc(struct qkd_ring *ring, struct device *dma_dev, u32 size,
		   u32 block_size);
void qkd_ring_free(struct qkd_ring *ring);
/* All descriptors back to the card, buffers zeroised, cursor at 0. */
void qkd_ring_reset(struct qkd_ring *ring);
void *qkd_ring_buf(struct qkd_ring *ring, u32 index);

#endif /* _QKD_RING_H */
