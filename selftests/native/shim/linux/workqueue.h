/* SPDX-License-Identifier: GPL-2.0 */
/*
 * No worker threads: queue_work() is the test's or benchmark's own
 * function, which records the request; the caller runs the work item.
 */
#ifndef _QKD_SHIM_WORKQUEUE_H
#define _QKD_SHIM_WORKQUEUE_H

#include <linux/types.h>

struct workqueue_struct;
struct work_struct {
	unsigned long pending;
};

bool queue_work(struct workqueue_struct *wq, struct work_struct *work);

#endif /* _QKD_SHIM_WORKQUEUE_H */
