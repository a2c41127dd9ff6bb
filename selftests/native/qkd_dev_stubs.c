// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>

#include "qkd_dev_stubs.h"

struct qkd_stub_counts qkd_stubs;
struct workqueue_struct *qkd_wq;

bool queue_work(struct workqueue_struct *wq, struct work_struct *work)
{
	qkd_stubs.work_queued++;
	work->pending = 1;
	return true;
}

int qkd_dev_card_start(struct qkd_dev *qdev)
{
	qkd_stubs.card_starts++;
	qdev->running = true;
	return 0;
}

void qkd_dev_card_stop(struct qkd_dev *qdev)
{
	qkd_stubs.card_stops++;
	qdev->running = false;
}

void qkd_dev_update_state(struct qkd_dev *qdev)
{
}

/* device.c's version also emits a trace event and, on a level change, a
 * multicast notification: both rare and not on the per-block path. */
void qkd_dev_pool_event(struct qkd_dev *qdev, const struct qkd_pool_event *ev)
{
	if (ev->evicted)
		qkd_stat_add(qdev, QKD_STAT_BLOCKS_EVICTED, ev->evicted);
	if (ev->wasted)
		qkd_stat_add(qdev, QKD_STAT_BYTES_WASTED, ev->wasted);
	if (ev->level_changed)
		qkd_stubs.pool_ntfs++;
}

void qkd_nl_keys_avail_ntf(struct qkd_dev *qdev)
{
	qkd_stubs.avail_ntfs++;
}

struct qkd_dev *qkd_stub_dev_new(enum qkd_role role, u32 block_size,
				 u32 ring_size, u32 pool_blocks,
				 void (*doorbell)(struct qkd_dev *, u32))
{
	struct qkd_dev_ops *ops = calloc(1, sizeof(*ops));
	struct qkd_dev *qdev = calloc(1, sizeof(*qdev));

	if (!ops || !qdev)
		goto fail;
	ops->doorbell = doorbell;
	qdev->ops = ops;
	qdev->info.role = role;
	qdev->info.block_size = block_size;
	qdev->info.ring_size = ring_size;
	qdev->info.pool_blocks = pool_blocks;
	qdev->qber_max = 110000;
	mutex_init(&qdev->lock);
	mutex_init(&qdev->ring_lock);
	if (qkd_pool_init(&qdev->pool, pool_blocks, block_size, role))
		goto fail;
	if (qkd_ring_alloc(&qdev->ring, &qdev->dev, ring_size, block_size)) {
		qkd_pool_destroy(&qdev->pool);
		goto fail;
	}
	qdev->registered = true;
	qdev->admin_up = true;
	qdev->running = true;
	qdev->live = true;
	return qdev;
fail:
	free(qdev);
	free(ops);
	return NULL;
}

void qkd_stub_dev_free(struct qkd_dev *qdev)
{
	qkd_ring_free(&qdev->ring);
	qkd_pool_destroy(&qdev->pool);
	free((void *)qdev->ops);
	free(qdev);
}
