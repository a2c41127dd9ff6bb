/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What ring.c calls outside ring.c and pool.c (device.c, netlink.c, the
 * workqueue), reduced to counters so that a test or benchmark can drive
 * qkd_dev_work() itself.  qkd_dev_stubs.c.
 */
#ifndef _QKD_DEV_STUBS_H
#define _QKD_DEV_STUBS_H

#include "device.h"

struct qkd_stub_counts {
	unsigned long work_queued;	/* queue_work() calls */
	unsigned long card_starts;
	unsigned long card_stops;
	unsigned long pool_ntfs;	/* pool level changes announced */
	unsigned long avail_ntfs;	/* KEYS_AVAIL_NTF sent */
};

extern struct qkd_stub_counts qkd_stubs;

/*
 * A struct qkd_dev with its ring and pool set up as qkd_dev_register()
 * does, running, with @doorbell as the card's doorbell.  NULL on -ENOMEM.
 */
struct qkd_dev *qkd_stub_dev_new(enum qkd_role role, u32 block_size,
				 u32 ring_size, u32 pool_blocks,
				 void (*doorbell)(struct qkd_dev *, u32));
void qkd_stub_dev_free(struct qkd_dev *qdev);

#endif /* _QKD_DEV_STUBS_H */
