/* SPDX-License-Identifier: GPL-2.0 */
/*
 * struct qkd_dev: one end of a QKD link as this host sees it.
 */
#ifndef _QKD_DEVICE_H
#define _QKD_DEVICE_H

#include <linux/atomic.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>

#include "qkd_driver.h"
#include "pool.h"
#include "ring.h"

/* Pool capacity of an end whose driver does not choose one. */
#define QKD_POOL_BLOCKS_DEFAULT	4096

/* Bits of qkd_dev.work_pending: what the device work item must do. */
enum {
	QKD_WORK_RESET,		/* DMA error: stop, reset the ring, restart */
	QKD_WORK_STATE,		/* carrier or QBER changed: recompute state */
};

struct qkd_dev {
	struct device dev;		/* class "qkd", "qkd<index>"; refcount */
	const struct qkd_dev_ops *ops;
	void *priv;
	struct qkd_dev_info info;
	char name[64];			/* the card's device name */
	u32 index;			/* QKD_A_LINK_INDEX, host-unique */
	possible_net_t net;		/* written under qkd_devs_lock */

	/*
	 * @lock serialises the control path: operator state, start/stop,
	 * ring reset, thresholds and unregister.  Never taken in atomic
	 * context.
	 */
	struct mutex lock;
	bool registered;		/* under @lock: the card may be used */
	bool admin_up;			/* operator asked for generation */
	/* ->start() succeeded, no ->stop() yet; under @lock and @ring_lock */
	bool running;
	bool error;			/* recovering from a DMA error */
	enum qkd_link_state state;	/* last state announced */

	/* Read locklessly (READ_ONCE) from any context. */
	bool live;			/* ring set up: work may be queued */
	bool dead;			/* unregistering: queue no more work */
	u32 qber_max;			/* written under @lock */
	bool qber_alarm;		/* over qber_max: drop; under @lock */

	/* The card's reports, written from any context by the driver. */
	bool carrier;
	u32 qber_ppm;
	u64 skr_bps;
	unsigned long work_pending;	/* QKD_WORK_* bits */

	struct work_struct work;	/* ring ingest + events, see ring.c */
	struct mutex ring_lock;		/* drain vs. reset; inside @lock */
	struct qkd_ring ring;
	struct qkd_pool pool;
	unsigned long last_avail_ntf;	/* jiffies of the last KEYS_AVAIL_NTF */

	atomic64_t stats[__QKD_STAT_MAX];

	/* A push end (push.c): no card, no ring; blocks come by netlink. */
	bool push;
	struct list_head push_node;	/* under qkd_push_lock */
};

static inline struct qkd_dev *to_qkd_dev(struct device *dev)
{
	return container_of(dev, struct qkd_dev, dev);
}

static inline struct net *qkd_dev_net(const struct qkd_dev *qdev)
{
	return read_pnet(&qdev->net);
}

static inline void qkd_stat_add(struct qkd_dev *qdev, enum qkd_stat stat,
				u64 n)
{
	atomic64_add(n, &qdev->stats[stat]);
}

static inline u64 qkd_stat(struct qkd_dev *qdev, enum qkd_stat stat)
{
	return atomic64_read(&qdev->stats[stat]);
}

/* Registry: lookups take a reference, dropped with qkd_dev_put(). */
struct qkd_dev *qkd_dev_get(struct net *net, u32 index);
struct qkd_dev *qkd_dev_get_next(struct net *net, u32 *index);
static inline void qkd_dev_put(struct qkd_dev *qdev)
{
	put_device(&qdev->dev);
}

/* A push end in @net (push.c); registered like a card's end. */
struct qkd_dev *qkd_dev_alloc_push(struct device *parent,
				   const struct qkd_dev_ops *ops,
				   const struct qkd_dev_info *info,
				   struct net *net);

/* Control path (takes qdev->lock). */
int qkd_dev_set_admin(struct qkd_dev *qdev, bool up);
int qkd_dev_card_start(struct qkd_dev *qdev);
void qkd_dev_card_stop(struct qkd_dev *qdev);
void qkd_dev_set_qber_max(struct qkd_dev *qdev, u32 qber_max);
void qkd_dev_move_net(struct qkd_dev *qdev, struct net *net);
void qkd_dev_update_state(struct qkd_dev *qdev);
void qkd_dev_pool_event(struct qkd_dev *qdev, const struct qkd_pool_event *ev);
void qkd_dev_pool_event_gfp(struct qkd_dev *qdev,
			    const struct qkd_pool_event *ev, gfp_t gfp);

/* Ring ingest (ring.c): the device work item, and ring (re)start. */
void qkd_dev_work(struct work_struct *work);
void qkd_dev_ring_rewind(struct qkd_dev *qdev);
void qkd_dev_kick(struct qkd_dev *qdev, int work_bit);
/* One block into the pool, as from the ring; under @ring_lock. */
int qkd_dev_ingest(struct qkd_dev *qdev, u64 block_id, u64 gen_time,
		   const void *buf, u32 len, struct qkd_pool_event *ev);
void qkd_dev_keys_avail(struct qkd_dev *qdev);

int qkd_device_init(void);
void qkd_device_exit(void);

extern struct workqueue_struct *qkd_wq;

#endif /* _QKD_DEVICE_H */
