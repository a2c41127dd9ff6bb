// SPDX-License-Identifier: GPL-2.0
/*
 * struct qkd_dev lifecycle, the link index registry, the "qkd" device
 * class with its sysfs attributes, the link state machine and network
 * namespace membership.
 *
 * Lifetime: the embedded struct device holds the reference count.  The
 * registry (an xarray keyed by link index) owns one reference from
 * qkd_dev_register() to qkd_dev_unregister(); every netlink request or
 * in-kernel consumer takes its own with qkd_dev_get().  The DMA ring
 * belongs to the card's device and is freed in qkd_dev_unregister(); the
 * key pool is kernel memory and lives until the last reference is gone,
 * so a request in flight during unregister still finds a valid pool.
 *
 * Namespaces: an end belongs to one network namespace, first that of the
 * task that registered it.  When a namespace dies, its ends go back to
 * init_net (like physical network devices), stopped state unchanged.
 */
#include <linux/module.h>
#include <linux/nsproxy.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/xarray.h>
#include <net/netns/generic.h>

#include "device.h"
#include "netlink.h"
#include "push.h"
#include "trace.h"

#define QKD_QBER_MAX_DEFAULT	110000	/* 11%: BB84's security limit */

struct workqueue_struct *qkd_wq;

/*
 * Index -> struct qkd_dev.  xa_lock guards taking a reference; lookups come
 * from softirq too (qkd_keys.h), so every user of the lock disables BH.
 */
static DEFINE_XARRAY_FLAGS(qkd_devs, XA_FLAGS_ALLOC1 | XA_FLAGS_LOCK_BH);
/* Serialises namespace moves against namespace teardown. */
static DEFINE_MUTEX(qkd_devs_lock);

static const char *const role_names[] = { QKD_ROLE_NAMES };
static const char *const state_names[] = { QKD_LINK_STATE_NAMES };
static const char *const level_names[] = { QKD_POOL_LEVEL_NAMES };

/* ---- sysfs ---------------------------------------------------------- */

static ssize_t role_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n", role_names[to_qkd_dev(dev)->info.role]);
}
static DEVICE_ATTR_RO(role);

static ssize_t peer_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n", to_qkd_dev(dev)->info.peer);
}
static DEVICE_ATTR_RO(peer);

static ssize_t link_id_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%u\n", to_qkd_dev(dev)->info.link_id);
}
static DEVICE_ATTR_RO(link_id);

static ssize_t link_index_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", to_qkd_dev(dev)->index);
}
static DEVICE_ATTR_RO(link_index);

static const char *const type_names[] = { QKD_LINK_TYPE_NAMES };

static ssize_t type_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n", type_names[to_qkd_dev(dev)->push ?
						  QKD_LINK_TYPE_PUSH :
						  QKD_LINK_TYPE_CARD]);
}
static DEVICE_ATTR_RO(type);

static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  state_names[READ_ONCE(to_qkd_dev(dev)->state)]);
}
static DEVICE_ATTR_RO(state);

static ssize_t qber_ppm_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(to_qkd_dev(dev)->qber_ppm));
}
static DEVICE_ATTR_RO(qber_ppm);

static ssize_t qber_max_ppm_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(to_qkd_dev(dev)->qber_max));
}
static DEVICE_ATTR_RO(qber_max_ppm);

static ssize_t skr_bps_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%llu\n", READ_ONCE(to_qkd_dev(dev)->skr_bps));
}
static DEVICE_ATTR_RO(skr_bps);

static ssize_t block_size_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", to_qkd_dev(dev)->info.block_size);
}
static DEVICE_ATTR_RO(block_size);

static ssize_t ring_size_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", to_qkd_dev(dev)->info.ring_size);
}
static DEVICE_ATTR_RO(ring_size);

/*
 * Pool figures: one consistent snapshot per read.  Like the statistics
 * below they tell how much key a link has, and the "qkd" class is not
 * network-namespace aware, so only root reads them (0400); netlink's
 * LINK_GET gives them to CAP_NET_ADMIN over the end's own namespace.
 */
#define QKD_POOL_ATTR(_name, _fmt, _field)				\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct qkd_pool_figures fig;					\
									\
	qkd_pool_figures(&to_qkd_dev(dev)->pool, &fig);			\
	return sysfs_emit(buf, _fmt "\n", fig._field);			\
}									\
static DEVICE_ATTR_ADMIN_RO(_name)

QKD_POOL_ATTR(pool_capacity, "%u", capacity);
QKD_POOL_ATTR(pool_blocks, "%u", blocks);
QKD_POOL_ATTR(pool_avail_bytes, "%llu", avail);
QKD_POOL_ATTR(pool_warn_bytes, "%llu", warn);
QKD_POOL_ATTR(pool_ready_bytes, "%llu", ready);

static ssize_t pool_level_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct qkd_pool_figures fig;

	qkd_pool_figures(&to_qkd_dev(dev)->pool, &fig);
	return sysfs_emit(buf, "%s\n", level_names[fig.level]);
}
static DEVICE_ATTR_ADMIN_RO(pool_level);

static struct attribute *qkd_dev_attrs[] = {
	&dev_attr_role.attr,
	&dev_attr_peer.attr,
	&dev_attr_link_id.attr,
	&dev_attr_link_index.attr,
	&dev_attr_type.attr,
	&dev_attr_state.attr,
	&dev_attr_qber_ppm.attr,
	&dev_attr_qber_max_ppm.attr,
	&dev_attr_skr_bps.attr,
	&dev_attr_block_size.attr,
	&dev_attr_ring_size.attr,
	&dev_attr_pool_capacity.attr,
	&dev_attr_pool_blocks.attr,
	&dev_attr_pool_avail_bytes.attr,
	&dev_attr_pool_warn_bytes.attr,
	&dev_attr_pool_ready_bytes.attr,
	&dev_attr_pool_level.attr,
	NULL,
};

static const struct attribute_group qkd_dev_group = {
	.attrs = qkd_dev_attrs,
};

/* statistics/<counter>: one file per QKD_STAT_* counter, root only. */
struct qkd_stat_attr {
	struct device_attribute attr;
	enum qkd_stat stat;
};

static ssize_t stat_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct qkd_stat_attr *sa = container_of(attr, struct qkd_stat_attr,
						attr);

	return sysfs_emit(buf, "%llu\n", qkd_stat(to_qkd_dev(dev), sa->stat));
}

#define QKD_STAT_ATTR(_name, _stat)					\
	static struct qkd_stat_attr stat_attr_##_name = {		\
		.attr = __ATTR(_name, 0400, stat_show, NULL),		\
		.stat = _stat,						\
	}

QKD_STAT_ATTR(blocks_received, QKD_STAT_BLOCKS_RECEIVED);
QKD_STAT_ATTR(bytes_received, QKD_STAT_BYTES_RECEIVED);
QKD_STAT_ATTR(blocks_evicted, QKD_STAT_BLOCKS_EVICTED);
QKD_STAT_ATTR(blocks_bad, QKD_STAT_BLOCKS_BAD);
QKD_STAT_ATTR(blocks_qber, QKD_STAT_BLOCKS_QBER);
QKD_STAT_ATTR(blocks_missed, QKD_STAT_BLOCKS_MISSED);
QKD_STAT_ATTR(dma_errors, QKD_STAT_DMA_ERRORS);
QKD_STAT_ATTR(bytes_allocated, QKD_STAT_BYTES_ALLOCATED);
QKD_STAT_ATTR(bytes_fetched, QKD_STAT_BYTES_FETCHED);
QKD_STAT_ATTR(bytes_discarded, QKD_STAT_BYTES_DISCARDED);
QKD_STAT_ATTR(bytes_wasted, QKD_STAT_BYTES_WASTED);
QKD_STAT_ATTR(qber_alarms, QKD_STAT_QBER_ALARMS);
QKD_STAT_ATTR(ingest_ns, QKD_STAT_INGEST_NS);

static struct attribute *qkd_stat_attrs[] = {
	&stat_attr_blocks_received.attr.attr,
	&stat_attr_bytes_received.attr.attr,
	&stat_attr_blocks_evicted.attr.attr,
	&stat_attr_blocks_bad.attr.attr,
	&stat_attr_blocks_qber.attr.attr,
	&stat_attr_blocks_missed.attr.attr,
	&stat_attr_dma_errors.attr.attr,
	&stat_attr_bytes_allocated.attr.attr,
	&stat_attr_bytes_fetched.attr.attr,
	&stat_attr_bytes_discarded.attr.attr,
	&stat_attr_bytes_wasted.attr.attr,
	&stat_attr_qber_alarms.attr.attr,
	&stat_attr_ingest_ns.attr.attr,
	NULL,
};

static const struct attribute_group qkd_stat_group = {
	.name = "statistics",
	.attrs = qkd_stat_attrs,
};

static const struct attribute_group *qkd_dev_groups[] = {
	&qkd_dev_group,
	&qkd_stat_group,
	NULL,
};

static struct class qkd_class = {
	.name = "qkd",
	.owner = THIS_MODULE,
	.dev_groups = qkd_dev_groups,
};

/* ---- lifecycle ------------------------------------------------------ */

static void qkd_dev_release(struct device *dev)
{
	struct qkd_dev *qdev = to_qkd_dev(dev);

	qkd_pool_destroy(&qdev->pool);
	mutex_destroy(&qdev->ring_lock);
	mutex_destroy(&qdev->lock);
	kfree(qdev);
}

/* A push end has no ring: ring_size 0, and only there. */
static bool info_valid(const struct qkd_dev_info *info, bool push)
{
	return (info->role == QKD_ROLE_TX || info->role == QKD_ROLE_RX) &&
	       info->block_size >= 16 &&
	       info->block_size <= QKD_BLOCK_SIZE_MAX &&
	       (push ? !info->ring_size :
		is_power_of_2(info->ring_size) && info->ring_size >= 8 &&
		info->ring_size <= 65536) &&
	       strnlen(info->peer, sizeof(info->peer)) < sizeof(info->peer);
}

static struct qkd_dev *dev_alloc(struct device *parent,
				 const struct qkd_dev_ops *ops,
				 const struct qkd_dev_info *info, void *priv,
				 bool push)
{
	struct qkd_dev *qdev;
	int i;

	if (!parent || !ops || !ops->start || !ops->stop || !ops->doorbell ||
	    !info || !info_valid(info, push))
		return ERR_PTR(-EINVAL);
	qdev = kzalloc(sizeof(*qdev), GFP_KERNEL);
	if (!qdev)
		return ERR_PTR(-ENOMEM);
	qdev->ops = ops;
	qdev->priv = priv;
	qdev->push = push;
	INIT_LIST_HEAD(&qdev->push_node);
	qdev->info = *info;
	strscpy(qdev->name, dev_name(parent), sizeof(qdev->name));
	if (!qdev->info.pool_blocks)
		qdev->info.pool_blocks = QKD_POOL_BLOCKS_DEFAULT;
	qdev->carrier = true;
	qdev->qber_max = QKD_QBER_MAX_DEFAULT;
	qdev->state = QKD_LINK_DOWN;
	mutex_init(&qdev->lock);
	mutex_init(&qdev->ring_lock);
	INIT_WORK(&qdev->work, qkd_dev_work);
	for (i = 0; i < __QKD_STAT_MAX; i++)
		atomic64_set(&qdev->stats[i], 0);

	device_initialize(&qdev->dev);
	qdev->dev.class = &qkd_class;
	qdev->dev.parent = parent;
	qdev->dev.release = qkd_dev_release;
	return qdev;
}

struct qkd_dev *qkd_dev_alloc(struct device *parent,
			      const struct qkd_dev_ops *ops,
			      const struct qkd_dev_info *info, void *priv)
{
	return dev_alloc(parent, ops, info, priv, false);
}
EXPORT_SYMBOL_GPL(qkd_dev_alloc);

struct qkd_dev *qkd_dev_alloc_push(struct device *parent,
				   const struct qkd_dev_ops *ops,
				   const struct qkd_dev_info *info,
				   struct net *net)
{
	struct qkd_dev *qdev = dev_alloc(parent, ops, info, NULL, true);

	if (!IS_ERR(qdev))
		write_pnet(&qdev->net, net);
	return qdev;
}

void *qkd_dev_priv(struct qkd_dev *qdev)
{
	return qdev->priv;
}
EXPORT_SYMBOL_GPL(qkd_dev_priv);

u32 qkd_dev_index(struct qkd_dev *qdev)
{
	return qdev->index;
}
EXPORT_SYMBOL_GPL(qkd_dev_index);

void qkd_dev_free(struct qkd_dev *qdev)
{
	put_device(&qdev->dev);
}
EXPORT_SYMBOL_GPL(qkd_dev_free);

int qkd_dev_register(struct qkd_dev *qdev)
{
	struct qkd_dev_info *info = &qdev->info;
	u32 index;
	int err;

	err = qkd_pool_init(&qdev->pool, info->pool_blocks, info->block_size,
			    info->role);
	if (err)
		return err;
	if (!qdev->push) {
		err = qkd_ring_alloc(&qdev->ring, qdev->dev.parent,
				     info->ring_size, info->block_size);
		if (err)
			goto err_pool;
	}
	/* Reserve the index; lookups see nothing until the device is live. */
	err = xa_alloc_bh(&qkd_devs, &index, NULL, xa_limit_31b, GFP_KERNEL);
	if (err)
		goto err_ring;
	qdev->index = index;
	/*
	 * The registering task's namespace (a sysfs writer, a PCI probe);
	 * a push end's is the requester's, set at allocation.
	 */
	if (!qdev->push)
		write_pnet(&qdev->net, current->nsproxy ?
				       current->nsproxy->net_ns : &init_net);
	err = dev_set_name(&qdev->dev, "qkd%u", index);
	if (err)
		goto err_index;
	err = device_add(&qdev->dev);
	if (err)
		goto err_index;

	mutex_lock(&qdev->lock);
	qdev->registered = true;
	WRITE_ONCE(qdev->live, true);
	mutex_unlock(&qdev->lock);
	xa_store_bh(&qkd_devs, index, qdev, GFP_KERNEL);
	qkd_nl_link_ntf(qdev, qkd_dev_net(qdev), true);
	trace_qkd_link_state(index, qdev->state, qdev->state);
	return 0;

err_index:
	xa_erase_bh(&qkd_devs, index);
err_ring:
	qkd_ring_free(&qdev->ring);
err_pool:
	qkd_pool_destroy(&qdev->pool);
	return err;
}
EXPORT_SYMBOL_GPL(qkd_dev_register);

void qkd_dev_unregister(struct qkd_dev *qdev)
{
	mutex_lock(&qdev->lock);
	qdev->registered = false;
	qkd_dev_card_stop(qdev);
	mutex_unlock(&qdev->lock);

	/* From here on nothing queues the work item (qkd_dev_kick()). */
	WRITE_ONCE(qdev->dead, true);
	synchronize_rcu();
	cancel_work_sync(&qdev->work);
	qkd_ring_free(&qdev->ring);

	device_del(&qdev->dev);
	mutex_lock(&qkd_devs_lock);
	xa_erase_bh(&qkd_devs, qdev->index);
	qkd_nl_link_ntf(qdev, qkd_dev_net(qdev), false);
	mutex_unlock(&qkd_devs_lock);
	put_device(&qdev->dev);
}
EXPORT_SYMBOL_GPL(qkd_dev_unregister);

/* ---- registry ------------------------------------------------------- */

struct qkd_dev *qkd_dev_get(struct net *net, u32 index)
{
	struct qkd_dev *qdev;

	xa_lock_bh(&qkd_devs);
	qdev = xa_load(&qkd_devs, index);
	if (qdev && net_eq(qkd_dev_net(qdev), net))
		get_device(&qdev->dev);
	else
		qdev = NULL;
	xa_unlock_bh(&qkd_devs);
	return qdev;
}

/* The first end in @net with an index >= *index; sets *index to it. */
struct qkd_dev *qkd_dev_get_next(struct net *net, u32 *index)
{
	unsigned long i = *index;
	struct qkd_dev *qdev;

	xa_lock_bh(&qkd_devs);
	xa_for_each_start(&qkd_devs, i, qdev, *index) {
		if (net_eq(qkd_dev_net(qdev), net)) {
			get_device(&qdev->dev);
			*index = i;
			xa_unlock_bh(&qkd_devs);
			return qdev;
		}
	}
	xa_unlock_bh(&qkd_devs);
	return NULL;
}

/* ---- state machine -------------------------------------------------- */

int qkd_dev_card_start(struct qkd_dev *qdev)
{
	int err;

	lockdep_assert_held(&qdev->lock);
	if (qdev->running)
		return 0;
	qkd_dev_ring_rewind(qdev);
	err = qdev->ops->start(qdev);
	if (err)
		return err;
	mutex_lock(&qdev->ring_lock);
	qdev->running = true;
	mutex_unlock(&qdev->ring_lock);
	return 0;
}

void qkd_dev_card_stop(struct qkd_dev *qdev)
{
	lockdep_assert_held(&qdev->lock);
	if (!qdev->running)
		return;
	/* No doorbell once ->stop() has begun. */
	mutex_lock(&qdev->ring_lock);
	qdev->running = false;
	mutex_unlock(&qdev->ring_lock);
	qdev->ops->stop(qdev);
}

static enum qkd_link_state compute_state(struct qkd_dev *qdev)
{
	if (!qdev->admin_up)
		return QKD_LINK_DOWN;
	if (qdev->error)
		return QKD_LINK_ERROR;
	if (!READ_ONCE(qdev->carrier))
		return QKD_LINK_NO_CARRIER;
	if (qdev->qber_alarm)
		return QKD_LINK_ALARM;
	return QKD_LINK_UP;
}

/* Recompute alarm and state; announce what changed.  Under qdev->lock. */
void qkd_dev_update_state(struct qkd_dev *qdev)
{
	u32 qber = READ_ONCE(qdev->qber_ppm);
	bool alarm = qber > qdev->qber_max;
	bool was_alarm = qdev->qber_alarm;
	enum qkd_link_state state;

	lockdep_assert_held(&qdev->lock);
	/* Ingest drops blocks from here on, before the event goes out. */
	WRITE_ONCE(qdev->qber_alarm, alarm);
	if (alarm && !was_alarm) {
		qkd_stat_add(qdev, QKD_STAT_QBER_ALARMS, 1);
		trace_qkd_qber_alarm(qdev->index, qber, qdev->qber_max);
		qkd_nl_qber_alarm_ntf(qdev);
	}

	state = compute_state(qdev);
	if (state == qdev->state)
		return;
	trace_qkd_link_state(qdev->index, qdev->state, state);
	WRITE_ONCE(qdev->state, state);
	qkd_nl_link_ntf(qdev, qkd_dev_net(qdev), true);
}

int qkd_dev_set_admin(struct qkd_dev *qdev, bool up)
{
	int err = 0;

	mutex_lock(&qdev->lock);
	if (!qdev->registered) {
		err = -ENODEV;
		goto out;
	}
	if (up) {
		err = qkd_dev_card_start(qdev);
		if (err)
			goto out;
		qdev->error = false;
	} else {
		qkd_dev_card_stop(qdev);
	}
	qdev->admin_up = up;
	qkd_dev_update_state(qdev);
out:
	mutex_unlock(&qdev->lock);
	return err;
}

void qkd_dev_set_qber_max(struct qkd_dev *qdev, u32 qber_max)
{
	mutex_lock(&qdev->lock);
	WRITE_ONCE(qdev->qber_max, qber_max);
	qkd_dev_update_state(qdev);
	mutex_unlock(&qdev->lock);
}

void qkd_dev_report_carrier(struct qkd_dev *qdev, bool up)
{
	WRITE_ONCE(qdev->carrier, up);
	qkd_dev_kick(qdev, QKD_WORK_STATE);
}
EXPORT_SYMBOL_GPL(qkd_dev_report_carrier);

void qkd_dev_report_qber(struct qkd_dev *qdev, u32 qber_ppm)
{
	WRITE_ONCE(qdev->qber_ppm, qber_ppm);
	qkd_dev_kick(qdev, QKD_WORK_STATE);
}
EXPORT_SYMBOL_GPL(qkd_dev_report_qber);

void qkd_dev_report_skr(struct qkd_dev *qdev, u64 bits_per_sec)
{
	WRITE_ONCE(qdev->skr_bps, bits_per_sec);
}
EXPORT_SYMBOL_GPL(qkd_dev_report_skr);

/* Counters, traces and events for what a pool operation did. */
void qkd_dev_pool_event_gfp(struct qkd_dev *qdev,
			    const struct qkd_pool_event *ev, gfp_t gfp)
{
	if (ev->evicted) {
		qkd_stat_add(qdev, QKD_STAT_BLOCKS_EVICTED, ev->evicted);
		trace_qkd_block_evict(qdev->index, ev->evicted_block_id,
				      ev->evicted);
	}
	if (ev->wasted)
		qkd_stat_add(qdev, QKD_STAT_BYTES_WASTED, ev->wasted);
	if (ev->level_changed)
		qkd_nl_pool_ntf(qdev, ev->level, ev->avail, gfp);
}

/* The same, from process context (the ring's work item, LINK_SET). */
void qkd_dev_pool_event(struct qkd_dev *qdev, const struct qkd_pool_event *ev)
{
	qkd_dev_pool_event_gfp(qdev, ev, GFP_KERNEL);
}

/* ---- namespaces ----------------------------------------------------- */

void qkd_dev_move_net(struct qkd_dev *qdev, struct net *net)
{
	struct net *old;

	mutex_lock(&qkd_devs_lock);
	old = qkd_dev_net(qdev);
	if (!net_eq(old, net)) {
		qkd_nl_link_ntf(qdev, old, false);
		write_pnet(&qdev->net, net);
		qkd_nl_link_ntf(qdev, net, true);
	}
	mutex_unlock(&qkd_devs_lock);
}

static void __net_exit qkd_net_exit(struct net *net)
{
	struct qkd_dev *qdev;
	unsigned long i;

	/* Push ends go with their namespace, as virtual netdevices do. */
	qkd_push_net_exit(net);
	/* Ends with a card return to init_net, as physical netdevices do. */
	mutex_lock(&qkd_devs_lock);
	xa_for_each(&qkd_devs, i, qdev) {
		if (!net_eq(qkd_dev_net(qdev), net))
			continue;
		write_pnet(&qdev->net, &init_net);
		qkd_nl_link_ntf(qdev, &init_net, true);
	}
	mutex_unlock(&qkd_devs_lock);
}

static struct pernet_operations qkd_net_ops = {
	.exit = qkd_net_exit,
};

int qkd_device_init(void)
{
	int err;

	qkd_wq = alloc_workqueue("qkd", WQ_UNBOUND | WQ_HIGHPRI |
				 WQ_MEM_RECLAIM, 0);
	if (!qkd_wq)
		return -ENOMEM;
	err = class_register(&qkd_class);
	if (err)
		goto err_wq;
	err = register_pernet_subsys(&qkd_net_ops);
	if (err)
		goto err_class;
	return 0;

err_class:
	class_unregister(&qkd_class);
err_wq:
	destroy_workqueue(qkd_wq);
	return err;
}

void qkd_device_exit(void)
{
	unregister_pernet_subsys(&qkd_net_ops);
	class_unregister(&qkd_class);
	destroy_workqueue(qkd_wq);
	WARN_ON(!xa_empty(&qkd_devs));
}
