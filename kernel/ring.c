// SPDX-License-Identifier: GPL-2.0
/*
 * The DMA ring and the ingest path.
 *
 * The card fills descriptors in order and clears QKD_DESC_F_CARD; the
 * driver calls qkd_dev_ring_notify() from any context, which only queues
 * the device's work item on an unbound high-priority workqueue.  The work
 * item drains completed descriptors in order: validate, copy the block
 * into the pool (the pool's slots are preallocated, so ingest allocates
 * nothing), zeroise the DMA buffer, give the descriptor back, ring the
 * doorbell.  The same work item handles DMA-error recovery and carrier or
 * QBER changes, so all of them are serialised without extra locking.
 */
#include <linux/crc32c.h>
#include <linux/dma-mapping.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "device.h"
#include "netlink.h"
#include "trace.h"

/* Descriptors drained per run of the work item before it requeues. */
#define QKD_RING_BUDGET		256

int qkd_ring_alloc(struct qkd_ring *ring, struct device *dma_dev, u32 size,
		   u32 block_size)
{
	u32 i;

	memset(ring, 0, sizeof(*ring));
	ring->dma_dev = dma_dev;
	ring->size = size;
	ring->block_size = block_size;
	ring->buf_stride = ALIGN(block_size, L1_CACHE_BYTES);
	ring->bufs_per_chunk = max_t(u32, 1, QKD_RING_CHUNK_BYTES /
					     ring->buf_stride);
	ring->n_chunks = DIV_ROUND_UP(size, ring->bufs_per_chunk);

	ring->desc = dma_alloc_coherent(dma_dev, size * sizeof(*ring->desc),
					&ring->desc_dma, GFP_KERNEL);
	ring->chunks = kcalloc(ring->n_chunks, sizeof(*ring->chunks),
			       GFP_KERNEL);
	if (!ring->desc || !ring->chunks)
		goto nomem;
	for (i = 0; i < ring->n_chunks; i++) {
		struct qkd_ring_chunk *chunk = &ring->chunks[i];

		chunk->cpu = dma_alloc_coherent(dma_dev, ring->bufs_per_chunk *
						ring->buf_stride, &chunk->dma,
						GFP_KERNEL);
		if (!chunk->cpu)
			goto nomem;
	}
	qkd_ring_reset(ring);
	return 0;

nomem:
	qkd_ring_free(ring);
	return -ENOMEM;
}

void qkd_ring_free(struct qkd_ring *ring)
{
	size_t chunk_bytes = ring->bufs_per_chunk * ring->buf_stride;
	u32 i;

	/* Coherent memory is not scrubbed on free: no key may stay there. */
	for (i = 0; ring->chunks && i < ring->n_chunks; i++) {
		struct qkd_ring_chunk *chunk = &ring->chunks[i];

		if (!chunk->cpu)
			continue;
		memzero_explicit(chunk->cpu, chunk_bytes);
		dma_free_coherent(ring->dma_dev, chunk_bytes, chunk->cpu,
				  chunk->dma);
	}
	kfree(ring->chunks);
	if (ring->desc)
		dma_free_coherent(ring->dma_dev,
				  ring->size * sizeof(*ring->desc),
				  ring->desc, ring->desc_dma);
	ring->chunks = NULL;
	ring->desc = NULL;
}

void *qkd_ring_buf(struct qkd_ring *ring, u32 index)
{
	u32 i = index & (ring->size - 1);

	return ring->chunks[i / ring->bufs_per_chunk].cpu +
	       (i % ring->bufs_per_chunk) * ring->buf_stride;
}

static dma_addr_t ring_buf_dma(struct qkd_ring *ring, u32 i)
{
	return ring->chunks[i / ring->bufs_per_chunk].dma +
	       (i % ring->bufs_per_chunk) * ring->buf_stride;
}

void qkd_ring_reset(struct qkd_ring *ring)
{
	u32 i;

	for (i = 0; i < ring->size; i++) {
		struct qkd_ring_desc *desc = &ring->desc[i];

		memzero_explicit(qkd_ring_buf(ring, i), ring->block_size);
		memset(desc, 0, sizeof(*desc));
		desc->buf_addr = cpu_to_le64(ring_buf_dma(ring, i));
		desc->flags = cpu_to_le16(QKD_DESC_F_CARD);
	}
	/* Descriptors and buffers are written before the card may look. */
	dma_wmb();
	ring->next = 0;
}

/* Count the block IDs the card skipped since the last good block. */
static void account_gap(struct qkd_dev *qdev, u64 block_id)
{
	struct qkd_ring *ring = &qdev->ring;

	if (ring->have_last && block_id > ring->last_block_id + 1)
		qkd_stat_add(qdev, QKD_STAT_BLOCKS_MISSED,
			     block_id - ring->last_block_id - 1);
	if (!ring->have_last || block_id > ring->last_block_id) {
		ring->last_block_id = block_id;
		ring->have_last = true;
	}
}

/*
 * A valid block into the pool: a card's from the ring, or one a key
 * manager pushed (push.c), so both take the same path.  -EINVAL if its ID
 * is not above the newest block's.  Under qdev->ring_lock.
 */
int qkd_dev_ingest(struct qkd_dev *qdev, u64 block_id, u64 gen_time,
		   const void *buf, u32 len, struct qkd_pool_event *ev)
{
	int err;

	lockdep_assert_held(&qdev->ring_lock);
	account_gap(qdev, block_id);
	err = qkd_pool_insert(&qdev->pool, block_id, gen_time, buf, len, ev);
	if (err)
		return err;
	qkd_stat_add(qdev, QKD_STAT_BLOCKS_RECEIVED, 1);
	qkd_stat_add(qdev, QKD_STAT_BYTES_RECEIVED, len);
	trace_qkd_ingest(qdev->index, block_id, len);
	return 0;
}

/* Validate one completed descriptor and move its block into the pool. */
static bool ingest_one(struct qkd_dev *qdev, struct qkd_ring_desc *desc,
		       void *buf, u16 flags, struct qkd_pool_event *ev)
{
	u64 block_id = le64_to_cpu(desc->block_id);
	u64 gen_time = le64_to_cpu(desc->gen_time_ns);
	u32 len = le32_to_cpu(desc->len);
	u32 qber = le32_to_cpu(desc->qber_ppm);

	/* Key IDs hold block_id << 16: larger block IDs cannot be named. */
	if ((flags & QKD_DESC_F_ERROR) || !len ||
	    len > qdev->info.block_size ||
	    block_id >> (64 - QKD_KEY_ID_OFFSET_BITS) ||
	    crc32c(~0U, buf, len) != le32_to_cpu(desc->crc32c)) {
		qkd_stat_add(qdev, QKD_STAT_BLOCKS_BAD, 1);
		trace_qkd_block_drop(qdev->index, block_id, len, "bad");
		return false;
	}
	if (qber > READ_ONCE(qdev->qber_max) || READ_ONCE(qdev->qber_alarm)) {
		account_gap(qdev, block_id);
		qkd_stat_add(qdev, QKD_STAT_BLOCKS_QBER, 1);
		trace_qkd_block_drop(qdev->index, block_id, len, "qber");
		return false;
	}
	if (qkd_dev_ingest(qdev, block_id, gen_time, buf, len, ev)) {
		qkd_stat_add(qdev, QKD_STAT_BLOCKS_BAD, 1);
		trace_qkd_block_drop(qdev->index, block_id, len, "order");
		return false;
	}
	return true;
}

/* Drain up to @budget descriptors; true if more may be waiting. */
static bool ring_drain(struct qkd_dev *qdev, u32 budget, bool *received)
{
	struct qkd_ring *ring = &qdev->ring;
	struct qkd_pool_event ev = {};
	u32 done = 0;

	if (!ring->desc)
		return false;	/* a push end: no ring */
	mutex_lock(&qdev->ring_lock);
	while (done < budget) {
		u32 i = ring->next & (ring->size - 1);
		struct qkd_ring_desc *desc = &ring->desc[i];
		void *buf = qkd_ring_buf(ring, i);
		u16 flags = le16_to_cpu(READ_ONCE(desc->flags));

		if (flags & QKD_DESC_F_CARD)
			break;
		/* Read the descriptor and payload only after the flag. */
		dma_rmb();
		if (ingest_one(qdev, desc, buf, flags, &ev))
			*received = true;
		memzero_explicit(buf, ring->block_size);
		/* Buffer zeroised before the card may reuse it. */
		dma_wmb();
		WRITE_ONCE(desc->flags, cpu_to_le16(QKD_DESC_F_CARD));
		ring->next++;
		done++;
	}
	if (done && qdev->running)
		qdev->ops->doorbell(qdev, ring->next & (ring->size - 1));
	mutex_unlock(&qdev->ring_lock);

	qkd_dev_pool_event(qdev, &ev);
	return done == budget;
}

/*
 * Prepare the ring for ->start(): called with qdev->lock held and the card
 * stopped.  Blocks the card completed before it stopped are ingested
 * first, so a stop/start loses nothing that was whole; then every
 * descriptor goes back to the card and it starts again at descriptor 0.
 */
void qkd_dev_ring_rewind(struct qkd_dev *qdev)
{
	bool received = false;

	if (!qdev->ring.desc)
		return;		/* a push end: no ring */
	while (ring_drain(qdev, U32_MAX, &received))
		;
	mutex_lock(&qdev->ring_lock);
	qkd_ring_reset(&qdev->ring);
	mutex_unlock(&qdev->ring_lock);
}

/* DMA error: stop the card, reset the ring, restart it if it was up. */
static void ring_recover(struct qkd_dev *qdev)
{
	mutex_lock(&qdev->lock);
	if (!qdev->registered)
		goto out;
	qkd_stat_add(qdev, QKD_STAT_DMA_ERRORS, 1);
	trace_qkd_dma_error(qdev->index);
	qdev->error = true;
	qkd_dev_card_stop(qdev);
	qkd_dev_update_state(qdev);
	/* No descriptor is trusted after a DMA error: drop them all. */
	mutex_lock(&qdev->ring_lock);
	qkd_ring_reset(&qdev->ring);
	mutex_unlock(&qdev->ring_lock);
	if (qdev->admin_up && qkd_dev_card_start(qdev))
		pr_warn("qkd%u: restart after DMA error failed\n",
			qdev->index);
	qdev->error = qdev->admin_up && !qdev->running;
	qkd_dev_update_state(qdev);
out:
	mutex_unlock(&qdev->lock);
}

/* New blocks: KEYS_AVAIL_NTF, rate-limited.  Under qdev->ring_lock. */
void qkd_dev_keys_avail(struct qkd_dev *qdev)
{
	unsigned long next = qdev->last_avail_ntf +
			     msecs_to_jiffies(QKD_KEYS_AVAIL_NTF_MS);

	if (time_before(jiffies, next))
		return;
	qdev->last_avail_ntf = jiffies;
	qkd_nl_keys_avail_ntf(qdev);
}

void qkd_dev_work(struct work_struct *work)
{
	struct qkd_dev *qdev = container_of(work, struct qkd_dev, work);
	bool received = false;
	bool more;
	u64 start;

	if (test_and_clear_bit(QKD_WORK_RESET, &qdev->work_pending))
		ring_recover(qdev);
	if (test_and_clear_bit(QKD_WORK_STATE, &qdev->work_pending)) {
		mutex_lock(&qdev->lock);
		qkd_dev_update_state(qdev);
		mutex_unlock(&qdev->lock);
	}
	/* Ingest cost, for the "share of a core" a card's key rate needs. */
	start = ktime_get_ns();
	more = ring_drain(qdev, QKD_RING_BUDGET, &received);
	qkd_stat_add(qdev, QKD_STAT_INGEST_NS, ktime_get_ns() - start);
	if (received) {
		mutex_lock(&qdev->ring_lock);
		qkd_dev_keys_avail(qdev);
		mutex_unlock(&qdev->ring_lock);
	}
	if (more)
		queue_work(qkd_wq, &qdev->work);
}

/*
 * Queue the work item if the device is registered (reports that come
 * earlier are only recorded) and not being unregistered.  The RCU
 * read side pairs with synchronize_rcu() in qkd_dev_unregister(): once
 * that returns, nobody can queue the work again, so cancelling it is final.
 */
void qkd_dev_kick(struct qkd_dev *qdev, int work_bit)
{
	rcu_read_lock();
	if (READ_ONCE(qdev->live) && !READ_ONCE(qdev->dead)) {
		if (work_bit >= 0)
			set_bit(work_bit, &qdev->work_pending);
		queue_work(qkd_wq, &qdev->work);
	}
	rcu_read_unlock();
}

void qkd_dev_ring_notify(struct qkd_dev *qdev)
{
	qkd_dev_kick(qdev, -1);
}
EXPORT_SYMBOL_GPL(qkd_dev_ring_notify);

void qkd_dev_report_dma_error(struct qkd_dev *qdev)
{
	qkd_dev_kick(qdev, QKD_WORK_RESET);
}
EXPORT_SYMBOL_GPL(qkd_dev_report_dma_error);

struct qkd_ring_desc *qkd_dev_ring_desc(struct qkd_dev *qdev, u32 index)
{
	return &qdev->ring.desc[index & (qdev->ring.size - 1)];
}
EXPORT_SYMBOL_GPL(qkd_dev_ring_desc);

void *qkd_dev_ring_buf(struct qkd_dev *qdev, u32 index)
{
	return qkd_ring_buf(&qdev->ring, index);
}
EXPORT_SYMBOL_GPL(qkd_dev_ring_buf);

u32 qkd_dev_ring_size(struct qkd_dev *qdev)
{
	return qdev->ring.size;
}
EXPORT_SYMBOL_GPL(qkd_dev_ring_size);
