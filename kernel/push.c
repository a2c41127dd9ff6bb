// SPDX-License-Identifier: GPL-2.0
/*
 * Daemon-fed ("push") link ends: link ends without a card, for QKD modules
 * that hand their keys to a key manager (ETSI GS QKD 014, key files)
 * rather than through a DMA ring.  The key manager creates the end with
 * QKD_CMD_PUSH_ADD and pushes each block both ends have confirmed with
 * QKD_CMD_BLOCK_PUSH (uapi/linux/qkd.h).  A block goes into the pool by
 * the ring's own ingest step (qkd_dev_ingest()), so pool, block and key
 * semantics are those of a card's end, and every in-kernel consumer works
 * unchanged.
 *
 * A push end is a virtual device: it belongs to the namespace it was
 * created in and is removed with it (a card's end returns to init_net),
 * or by QKD_CMD_PUSH_DEL, or when qkd.ko is unloaded.  Requests in flight
 * hold a reference, so the pool stays valid until the last one is done.
 */
#include <linux/device.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <net/net_namespace.h>

#include "device.h"
#include "push.h"

/* Parent of every push end in sysfs: /sys/devices/qkd_push/qkdN. */
static struct device *qkd_push_root;
/* Every registered push end; also serialises their add and removal. */
static LIST_HEAD(qkd_push_devs);
static DEFINE_MUTEX(qkd_push_lock);

/* No card: the core's start/stop only flip "running". */
static int push_start(struct qkd_dev *qdev)
{
	return 0;
}

static void push_stop(struct qkd_dev *qdev)
{
}

static void push_doorbell(struct qkd_dev *qdev, u32 next)
{
}

static const struct qkd_dev_ops qkd_push_ops = {
	.start = push_start,
	.stop = push_stop,
	.doorbell = push_doorbell,
};

struct qkd_dev *qkd_push_add(struct net *net, const struct qkd_dev_info *info,
			     const char **why)
{
	struct qkd_dev *qdev;
	int err;

	mutex_lock(&qkd_push_lock);
	list_for_each_entry(qdev, &qkd_push_devs, push_node) {
		if (net_eq(qkd_dev_net(qdev), net) &&
		    qdev->info.link_id == info->link_id &&
		    qdev->info.role == info->role) {
			*why = "this namespace has a push end of that link and role";
			err = -EEXIST;
			goto err;
		}
	}
	qdev = qkd_dev_alloc_push(qkd_push_root, &qkd_push_ops, info, net);
	if (IS_ERR(qdev)) {
		*why = "bad link parameters";
		err = PTR_ERR(qdev);
		goto err;
	}
	err = qkd_dev_register(qdev);
	if (err) {
		*why = "cannot register the link end";
		qkd_dev_free(qdev);
		goto err;
	}
	/* Cannot fail: push_start() does nothing. */
	qkd_dev_set_admin(qdev, true);
	list_add_tail(&qdev->push_node, &qkd_push_devs);
	get_device(&qdev->dev);
	mutex_unlock(&qkd_push_lock);
	return qdev;

err:
	mutex_unlock(&qkd_push_lock);
	return ERR_PTR(err);
}

/* Under qkd_push_lock. */
static void push_remove(struct qkd_dev *qdev)
{
	list_del_init(&qdev->push_node);
	qkd_dev_unregister(qdev);
}

int qkd_push_del(struct net *net, u32 index, const char **why)
{
	struct qkd_dev *qdev;
	int err = -ENODEV;

	mutex_lock(&qkd_push_lock);
	list_for_each_entry(qdev, &qkd_push_devs, push_node) {
		if (qdev->index == index && net_eq(qkd_dev_net(qdev), net)) {
			push_remove(qdev);
			err = 0;
			break;
		}
	}
	mutex_unlock(&qkd_push_lock);
	if (err) {
		qdev = qkd_dev_get(net, index);
		if (qdev) {
			qkd_dev_put(qdev);
			*why = "not a push link: its blocks come from a card";
			return -EOPNOTSUPP;
		}
		*why = "no such link in this network namespace";
	}
	return err;
}

int qkd_push_block(struct qkd_dev *qdev, u64 block_id, u64 gen_time,
		   const void *buf, u32 len, const char **why)
{
	struct qkd_pool_event ev = {};
	int err;

	if (!qdev->push) {
		*why = "not a push link: its blocks come from a card";
		return -EOPNOTSUPP;
	}
	if (!len || len > qdev->info.block_size) {
		*why = "block longer than the link's block size, or empty";
		return -EINVAL;
	}
	mutex_lock(&qdev->ring_lock);
	if (!qdev->running) {
		mutex_unlock(&qdev->ring_lock);
		*why = "link is down";
		return -ENETDOWN;
	}
	err = qkd_dev_ingest(qdev, block_id, gen_time ?: ktime_get_real_ns(),
			     buf, len, &ev);
	if (err) {
		mutex_unlock(&qdev->ring_lock);
		*why = "block ID not above the newest pushed";
		return -EEXIST;
	}
	qkd_dev_keys_avail(qdev);
	mutex_unlock(&qdev->ring_lock);
	qkd_dev_pool_event(qdev, &ev);
	return 0;
}

void qkd_push_net_exit(struct net *net)
{
	struct qkd_dev *qdev, *tmp;

	mutex_lock(&qkd_push_lock);
	list_for_each_entry_safe(qdev, tmp, &qkd_push_devs, push_node)
		if (net_eq(qkd_dev_net(qdev), net))
			push_remove(qdev);
	mutex_unlock(&qkd_push_lock);
}

int qkd_push_init(void)
{
	qkd_push_root = root_device_register("qkd_push");
	return PTR_ERR_OR_ZERO(qkd_push_root);
}

/* After the netlink family is gone: nothing adds ends any more. */
void qkd_push_exit(void)
{
	struct qkd_dev *qdev, *tmp;

	mutex_lock(&qkd_push_lock);
	list_for_each_entry_safe(qdev, tmp, &qkd_push_devs, push_node)
		push_remove(qdev);
	mutex_unlock(&qkd_push_lock);
	root_device_unregister(qkd_push_root);
}
