/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The contract between qkd.ko and a QKD card driver (qkd_sim.ko, or a PCIe
 * card).  Documentation/qkd/ring.rst describes the same contract for card
 * vendors.
 *
 * A driver allocates a struct qkd_dev with qkd_dev_alloc(), fills in what
 * its card knows (link ID, role, peer, block size), and registers it.  The
 * core then owns the DMA ring: it allocates the descriptors and the block
 * buffers in coherent DMA memory of the driver's struct device, hands every
 * descriptor to the card, and calls ->start().  The card writes key blocks
 * and gives descriptors back; the driver calls qkd_dev_ring_notify() (any
 * context, hard IRQ included) and the core moves the blocks into the pool.
 *
 * Ring protocol (N = ring_size descriptors, a power of two):
 *   - Descriptor i always points at buffer i (desc.buf_addr, set once by the
 *     core).  The card fills descriptors in order 0, 1, ..., N-1, 0, ...
 *   - A descriptor with QKD_DESC_F_CARD set belongs to the card.  The card
 *     writes the block into the buffer, then block_id, len, qber, gen_time
 *     and crc32c (of the len payload bytes), then - after a write barrier -
 *     clears QKD_DESC_F_CARD (setting QKD_DESC_F_ERROR if the block is bad).
 *   - The core consumes descriptors in order while QKD_DESC_F_CARD is clear,
 *     copies the payload into the pool, zeroises the buffer, sets
 *     QKD_DESC_F_CARD again and finally calls ->doorbell() with the index of
 *     the next descriptor it will read, so the card knows how far it may go.
 *   - The card never overwrites a descriptor it has not got back; with no
 *     free descriptor it drops blocks, which the core sees as a block ID gap.
 *   - Every ->start() finds a freshly reset ring (all descriptors the
 *     card's, buffers zeroed): the card starts again at descriptor 0.  The
 *     core ingests whatever the card completed before ->stop() first.
 *   - ->doorbell() is never called once ->stop() has begun.
 */
#ifndef _QKD_DRIVER_H
#define _QKD_DRIVER_H

#include <linux/device.h>
#include <linux/types.h>
#include <linux/qkd.h>	/* uapi/linux/qkd.h */

#define QKD_DESC_F_CARD		0x0001	/* owned by the card */
#define QKD_DESC_F_ERROR	0x0002	/* card says: do not use this block */

/* One DMA descriptor, little endian, 32 bytes. */
struct qkd_ring_desc {
	__le64 buf_addr;	/* written by the core only */
	__le64 block_id;
	__le64 gen_time_ns;	/* CLOCK_REALTIME when distilled */
	__le32 len;		/* payload bytes, <= block_size */
	__le32 crc32c;		/* crc32c(~0, payload, len) */
	__le32 qber_ppm;	/* QBER the block was distilled at */
	__le16 flags;		/* QKD_DESC_F_* */
	__le16 reserved;
} __packed;

struct qkd_dev;

struct qkd_dev_ops {
	/* Start generating into the ring; called after the ring is set up. */
	int (*start)(struct qkd_dev *qdev);
	/* Stop generating; on return the card no longer touches the ring. */
	void (*stop)(struct qkd_dev *qdev);
	/* Descriptors before index @next are the card's again. */
	void (*doorbell)(struct qkd_dev *qdev, u32 next);
};

/* What the driver tells the core about its card, before registering. */
struct qkd_dev_info {
	u32 link_id;
	enum qkd_role role;
	char peer[64];
	u32 block_size;		/* bytes, 16 .. QKD_BLOCK_SIZE_MAX */
	u32 ring_size;		/* descriptors, power of two, 8 .. 65536 */
	u32 pool_blocks;	/* pool capacity in blocks, 0: default */
};

struct qkd_dev *qkd_dev_alloc(struct device *parent,
			      const struct qkd_dev_ops *ops,
			      const struct qkd_dev_info *info, void *priv);
void *qkd_dev_priv(struct qkd_dev *qdev);
/* QKD_A_LINK_INDEX of a registered device ("qkd<index>" in sysfs). */
u32 qkd_dev_index(struct qkd_dev *qdev);
int qkd_dev_register(struct qkd_dev *qdev);
/* Stops the card, waits for the core to finish with it, frees it. */
void qkd_dev_unregister(struct qkd_dev *qdev);
/* Frees a device that is not registered (e.g. qkd_dev_register() failed). */
void qkd_dev_free(struct qkd_dev *qdev);

/* Ring access for the card (or the simulator writing "as the card"). */
struct qkd_ring_desc *qkd_dev_ring_desc(struct qkd_dev *qdev, u32 index);
void *qkd_dev_ring_buf(struct qkd_dev *qdev, u32 index);
u32 qkd_dev_ring_size(struct qkd_dev *qdev);

/* Events from the card, any context. */
void qkd_dev_ring_notify(struct qkd_dev *qdev);
void qkd_dev_report_carrier(struct qkd_dev *qdev, bool up);
void qkd_dev_report_qber(struct qkd_dev *qdev, u32 qber_ppm);
void qkd_dev_report_skr(struct qkd_dev *qdev, u64 bits_per_sec);
/* DMA error: the core stops the card, resets the ring and restarts it. */
void qkd_dev_report_dma_error(struct qkd_dev *qdev);

#endif /* _QKD_DRIVER_H */
