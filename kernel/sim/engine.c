// SPDX-License-Identifier: GPL-2.0
/*
 * The simulated card: distils key blocks and writes each one, with the same
 * block ID, into the DMA rings of both ends of the pair, exactly as a real
 * card writes its ring (qkd_driver.h).
 *
 * Pacing: a run starts whenever generation (re)starts; by time t into the
 * run the card has produced floor(rate * t / (8 * block_size)) blocks.  A
 * work item on qkd_sim_wq produces what is due, at most QKD_SIM_BATCH blocks
 * per execution, and requeues itself for the next block (at once when it is
 * behind, or at flat-out rate), so faults, del_device and rmmod never wait
 * long for it.
 *
 * Ring ownership: the card keeps free-running counts of descriptors it has
 * written (head) and the core has given back (returned, from ->doorbell).
 * It writes only while head - returned < ring_size, and also checks that the
 * descriptor really carries QKD_DESC_F_CARD; otherwise the block is dropped
 * at that end (its block ID is still used up, so the core sees a gap).
 * Only at flat-out rate does the card wait for a doorbell instead.
 *
 * pair->lock (irqsave: the core may call the ops from any context) guards
 * the ring state and the generation state; it is held while a block is
 * copied into the rings, so ->stop() returning means the card is out of the
 * ring.  The core is notified only after the lock is dropped.
 */
#include <linux/crc32c.h>
#include <linux/jiffies.h>
#include <linux/math64.h>
#include <linux/random.h>
#include <linux/string.h>
#include <linux/ktime.h>
#include <asm/unaligned.h>
#include "seeded_key.h"
#include "sim.h"

#define QKD_SIM_BATCH		64
/* Rebase the run now and then so rate * time never overflows. */
#define QKD_SIM_RUN_REBASE_NS	(600ULL * NSEC_PER_SEC)

static struct workqueue_struct *qkd_sim_wq;

static bool flat_out(u64 rate_bps)
{
	return rate_bps >= QKD_SIM_RATE_FLAT;
}

/* Both ends up, fibre intact, not stalled, something to produce. */
static bool generating(const struct qkd_sim_pair *pair)
{
	return !pair->dying && pair->end[QKD_SIM_TX].started &&
	       pair->end[QKD_SIM_RX].started && !pair->faults.link_cut &&
	       !pair->faults.stall && pair->gen_rate_bps;
}

static void restart_run(struct qkd_sim_pair *pair)
{
	pair->run_start = ktime_get();
	pair->run_blocks = 0;
}

static u64 block_bits_ns(const struct qkd_sim_pair *pair)
{
	return (u64)pair->block_size * 8 * NSEC_PER_SEC;
}

/* Nanoseconds into the run at which block number @n of the run is due. */
static u64 block_due_ns(const struct qkd_sim_pair *pair, u64 n)
{
	return mul_u64_u64_div_u64(n, block_bits_ns(pair), pair->gen_rate_bps);
}

/* Under pair->lock: a free descriptor at both ends? */
static bool rings_have_room(const struct qkd_sim_pair *pair)
{
	const struct qkd_sim_end *end;
	int e;

	for (e = 0; e < QKD_SIM_ENDS; e++) {
		end = &pair->end[e];
		if (end->head - end->returned >= end->ring_size)
			return false;
	}
	return true;
}

/*
 * Under pair->lock: is a block due now?  If not, *delay says when to look
 * again (0: nothing to do until something changes).
 */
static bool block_due(struct qkd_sim_pair *pair, unsigned long *delay)
{
	u64 elapsed, due_ns;

	*delay = 0;
	if (!generating(pair)) {
		pair->running = false;
		return false;
	}
	if (!pair->running) {
		pair->running = true;
		restart_run(pair);
	}
	if (flat_out(pair->gen_rate_bps)) {
		/*
		 * Flat out is back-pressured: with a full ring, wait for the
		 * doorbell rather than distil blocks only to drop them, so
		 * the CPU goes to the consumer being measured.
		 */
		if (pair->faults.ring_overflow || rings_have_room(pair))
			return true;
		pair->await_doorbell = true;
		return false;
	}

	elapsed = ktime_to_ns(ktime_sub(ktime_get(), pair->run_start));
	due_ns = block_due_ns(pair, pair->run_blocks + 1);
	if (due_ns <= elapsed) {
		if (elapsed > QKD_SIM_RUN_REBASE_NS) {
			pair->run_start = ktime_add_ns(pair->run_start,
					block_due_ns(pair, pair->run_blocks));
			pair->run_blocks = 0;
		}
		return true;
	}
	*delay = max_t(unsigned long, 1,
		       nsecs_to_jiffies(due_ns - elapsed + TICK_NSEC - 1));
	return false;
}

/* Under pair->lock: claim the next descriptor of @end, or count a drop. */
static struct qkd_ring_desc *claim_desc(struct qkd_sim_end *end, u32 *index)
{
	struct qkd_ring_desc *desc;

	if (end->head - end->returned >= end->ring_size)
		goto full;
	*index = end->head & (end->ring_size - 1);
	desc = qkd_dev_ring_desc(end->qdev, *index);
	if (!(le16_to_cpu(READ_ONCE(desc->flags)) & QKD_DESC_F_CARD))
		goto full;
	return desc;
full:
	end->dropped++;
	return NULL;
}

static void fill_desc(struct qkd_sim_pair *pair, struct qkd_sim_end *end,
		      struct qkd_ring_desc *desc, u32 index, u64 gen_time_ns,
		      u32 crc)
{
	memcpy(qkd_dev_ring_buf(end->qdev, index), pair->block,
	       pair->block_size);
	desc->block_id = cpu_to_le64(pair->next_block_id);
	desc->gen_time_ns = cpu_to_le64(gen_time_ns);
	desc->len = cpu_to_le32(pair->block_size);
	desc->crc32c = cpu_to_le32(crc);
	desc->qber_ppm = cpu_to_le32(pair->gen_qber_ppm);
}

/* A cut fibre abandons the block: wipe it, keep the descriptor. */
static void abandon_desc(struct qkd_sim_pair *pair, struct qkd_sim_end *end,
			 u32 index)
{
	memzero_explicit(qkd_dev_ring_buf(end->qdev, index), pair->block_size);
}

/* Give a filled descriptor back to the core; true: report a DMA error. */
static bool hand_back_desc(struct qkd_sim_end *end, struct qkd_ring_desc *desc)
{
	u16 flags = le16_to_cpu(desc->flags) & ~QKD_DESC_F_CARD;
	bool dma_error = end->dma_error_pending;

	if (dma_error) {
		flags |= QKD_DESC_F_ERROR;
		end->dma_error_pending = false;
	}
	WRITE_ONCE(desc->flags, cpu_to_le16(flags));
	end->head++;
	return dma_error;
}

/*
 * The distilled key of the next block, in pair->block: random, or for a
 * seeded pair predictable, so that a test can recognise the bytes of a key
 * in memory without ever reading them out of the kernel.  Only this work
 * item advances next_block_id, so it can be read without pair->lock.
 * Words go straight from a register into the block, leaving no copy on
 * the stack.
 */
static void distil_block(struct qkd_sim_pair *pair)
{
	u64 block_id = pair->next_block_id, w;
	u32 i, j;

	if (!pair->key_seed) {
		get_random_bytes(pair->block, pair->block_size);
		return;
	}
	for (i = 0; i < pair->block_size; i += 8) {
		w = qkd_sim_seeded_word(pair->key_seed, block_id, i / 8);
		if (pair->block_size - i >= 8)
			put_unaligned_le64(w, pair->block + i);
		else
			for (j = i; j < pair->block_size; j++, w >>= 8)
				pair->block[j] = w;
	}
}

/* Distil one block and write it into both rings. */
static void produce_block(struct qkd_sim_pair *pair)
{
	struct qkd_ring_desc *desc[QKD_SIM_ENDS] = {};
	bool dma_error[QKD_SIM_ENDS] = {};
	bool handed_back = false;
	u32 index[QKD_SIM_ENDS];
	unsigned long flags;
	u64 gen_time_ns;
	u32 crc;
	int e;

	distil_block(pair);
	crc = crc32c(~0, pair->block, pair->block_size);
	gen_time_ns = ktime_get_real_ns();

	spin_lock_irqsave(&pair->lock, flags);
	if (!generating(pair))
		goto out;
	for (e = 0; e < QKD_SIM_ENDS; e++) {
		desc[e] = claim_desc(&pair->end[e], &index[e]);
		if (desc[e])
			fill_desc(pair, &pair->end[e], desc[e], index[e],
				  gen_time_ns, crc);
	}
	/* link_cut is set without pair->lock: it may hit right here. */
	if (READ_ONCE(pair->faults.link_cut)) {
		for (e = 0; e < QKD_SIM_ENDS; e++)
			if (desc[e])
				abandon_desc(pair, &pair->end[e], index[e]);
		pair->running = false;
		goto out;
	}
	dma_wmb();	/* payload and descriptor before ownership */
	for (e = 0; e < QKD_SIM_ENDS; e++)
		if (desc[e])
			dma_error[e] = hand_back_desc(&pair->end[e], desc[e]);
	handed_back = true;
	pair->next_block_id++;
	pair->run_blocks++;
out:
	spin_unlock_irqrestore(&pair->lock, flags);
	memzero_explicit(pair->block, pair->block_size);

	for (e = 0; e < QKD_SIM_ENDS; e++) {
		if (desc[e] && handed_back)
			qkd_dev_ring_notify(pair->end[e].qdev);
		if (dma_error[e])
			qkd_dev_report_dma_error(pair->end[e].qdev);
	}
}

/* Under pair->lock: queue the engine unless the pair is going away. */
static void queue_engine(struct qkd_sim_pair *pair, unsigned long delay)
{
	if (!pair->dying)
		mod_delayed_work(qkd_sim_wq, &pair->work, delay);
}

static void engine_work(struct work_struct *work)
{
	struct qkd_sim_pair *pair = container_of(to_delayed_work(work),
						 struct qkd_sim_pair, work);
	unsigned long flags, delay = 0;
	unsigned int n;
	bool due = false;

	for (n = 0; n < QKD_SIM_BATCH; n++) {
		spin_lock_irqsave(&pair->lock, flags);
		due = block_due(pair, &delay);
		spin_unlock_irqrestore(&pair->lock, flags);
		if (!due)
			break;
		produce_block(pair);
	}

	spin_lock_irqsave(&pair->lock, flags);
	if (due || delay)
		queue_engine(pair, delay);
	spin_unlock_irqrestore(&pair->lock, flags);
}

void qkd_sim_engine_kick(struct qkd_sim_pair *pair)
{
	unsigned long flags;

	spin_lock_irqsave(&pair->lock, flags);
	queue_engine(pair, 0);
	spin_unlock_irqrestore(&pair->lock, flags);
}

/* New rate or QBER: blocks from now on carry them; restart the pacing. */
void qkd_sim_engine_configure(struct qkd_sim_pair *pair, u64 rate_bps,
			      u32 qber_ppm)
{
	unsigned long flags;

	spin_lock_irqsave(&pair->lock, flags);
	pair->gen_rate_bps = rate_bps;
	pair->gen_qber_ppm = qber_ppm;
	pair->running = false;
	queue_engine(pair, 0);
	spin_unlock_irqrestore(&pair->lock, flags);
}

/* Under pair->lock: take back every descriptor the core has returned. */
static void resync_ring(struct qkd_sim_end *end)
{
	struct qkd_ring_desc *desc;

	while (end->started && end->returned != end->head) {
		desc = qkd_dev_ring_desc(end->qdev,
					 end->returned & (end->ring_size - 1));
		if (!(le16_to_cpu(READ_ONCE(desc->flags)) & QKD_DESC_F_CARD))
			break;
		end->returned++;
	}
}

/* A knob in pair->faults changed (the caller holds pair->cfg_lock). */
void qkd_sim_engine_faults_changed(struct qkd_sim_pair *pair)
{
	unsigned long flags;
	int e;

	spin_lock_irqsave(&pair->lock, flags);
	if (!pair->faults.ring_overflow)
		for (e = 0; e < QKD_SIM_ENDS; e++)
			resync_ring(&pair->end[e]);
	pair->running = false;
	queue_engine(pair, 0);
	spin_unlock_irqrestore(&pair->lock, flags);
}

void qkd_sim_engine_dma_error(struct qkd_sim_pair *pair, bool tx, bool rx)
{
	unsigned long flags;

	spin_lock_irqsave(&pair->lock, flags);
	pair->end[QKD_SIM_TX].dma_error_pending |= tx;
	pair->end[QKD_SIM_RX].dma_error_pending |= rx;
	spin_unlock_irqrestore(&pair->lock, flags);
}

u64 qkd_sim_engine_blocks(struct qkd_sim_pair *pair)
{
	unsigned long flags;
	u64 blocks;

	spin_lock_irqsave(&pair->lock, flags);
	blocks = pair->next_block_id;
	spin_unlock_irqrestore(&pair->lock, flags);
	return blocks;
}

static int sim_start(struct qkd_dev *qdev)
{
	struct qkd_sim_end *end = qkd_dev_priv(qdev);
	struct qkd_sim_pair *pair = end->pair;
	unsigned long flags;

	spin_lock_irqsave(&pair->lock, flags);
	/* The core starts with every descriptor handed to the card. */
	end->ring_size = qkd_dev_ring_size(qdev);
	end->head = 0;
	end->returned = 0;
	end->started = true;
	queue_engine(pair, 0);
	spin_unlock_irqrestore(&pair->lock, flags);
	return 0;
}

static void sim_stop(struct qkd_dev *qdev)
{
	struct qkd_sim_end *end = qkd_dev_priv(qdev);
	unsigned long flags;

	spin_lock_irqsave(&end->pair->lock, flags);
	end->started = false;
	spin_unlock_irqrestore(&end->pair->lock, flags);
}

static void sim_doorbell(struct qkd_dev *qdev, u32 next)
{
	struct qkd_sim_end *end = qkd_dev_priv(qdev);
	struct qkd_sim_pair *pair = end->pair;
	struct qkd_ring_desc *desc;
	unsigned long flags;
	u32 mask, outstanding, given;

	spin_lock_irqsave(&pair->lock, flags);
	/* ring_overflow: the card ignores doorbells until it is cleared. */
	if (!end->started || pair->faults.ring_overflow)
		goto out;
	mask = end->ring_size - 1;
	outstanding = end->head - end->returned;
	given = (next - end->returned) & mask;
	/* next == returned is "none" or, with a full ring, "all of them". */
	if (!given && outstanding == end->ring_size) {
		desc = qkd_dev_ring_desc(qdev, end->returned & mask);
		if (le16_to_cpu(READ_ONCE(desc->flags)) & QKD_DESC_F_CARD)
			given = outstanding;
	}
	end->returned += min(given, outstanding);
	if (pair->await_doorbell && rings_have_room(pair)) {
		pair->await_doorbell = false;
		queue_engine(pair, 0);
	}
out:
	spin_unlock_irqrestore(&pair->lock, flags);
}

const struct qkd_dev_ops qkd_sim_dev_ops = {
	.start		= sim_start,
	.stop		= sim_stop,
	.doorbell	= sim_doorbell,
};

void qkd_sim_engine_setup(struct qkd_sim_pair *pair)
{
	spin_lock_init(&pair->lock);
	INIT_DELAYED_WORK(&pair->work, engine_work);
}

/* No more work after this returns; the ends may then be unregistered. */
void qkd_sim_engine_shutdown(struct qkd_sim_pair *pair)
{
	unsigned long flags;

	spin_lock_irqsave(&pair->lock, flags);
	pair->dying = true;
	spin_unlock_irqrestore(&pair->lock, flags);
	cancel_delayed_work_sync(&pair->work);
}

int qkd_sim_engine_init(void)
{
	qkd_sim_wq = alloc_workqueue(QKD_SIM_NAME, WQ_UNBOUND, 0);
	return qkd_sim_wq ? 0 : -ENOMEM;
}

void qkd_sim_engine_exit(void)
{
	destroy_workqueue(qkd_sim_wq);
}
