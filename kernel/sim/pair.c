// SPDX-License-Identifier: GPL-2.0
/*
 * Lifecycle of a simulated card pair.  A pair is a struct device on the
 * qkd_sim bus; binding it (probe) registers its two link ends with qkd.ko,
 * TX ("alice") and RX ("bob"), both children of the pair device, both in
 * the network namespace of the process that wrote new_device.  Unbinding
 * (remove) stops the engine and unregisters both ends.
 */
#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include "sim.h"

static const char * const end_names[QKD_SIM_ENDS] = { "alice", "bob" };

static void pair_release(struct device *dev)
{
	struct qkd_sim_pair *pair = to_qkd_sim_pair(dev);

	mutex_destroy(&pair->cfg_lock);
	kfree(pair->block);
	kfree(pair);
}

/* Creates the device and binds it; returns the live pair or ERR_PTR. */
struct qkd_sim_pair *qkd_sim_pair_create(u32 id, u32 link_id, u32 block_size,
					 u32 ring_size, u32 pool_blocks,
					 u64 key_seed)
{
	struct qkd_sim_pair *pair;
	int err;

	pair = kzalloc(sizeof(*pair), GFP_KERNEL);
	if (!pair)
		return ERR_PTR(-ENOMEM);
	pair->block = kzalloc(block_size, GFP_KERNEL);
	if (!pair->block) {
		kfree(pair);
		return ERR_PTR(-ENOMEM);
	}
	pair->id = id;
	pair->link_id = link_id;
	pair->block_size = block_size;
	pair->ring_size = ring_size;
	pair->pool_blocks = pool_blocks;
	pair->key_seed = key_seed;
	pair->probe_err = -ENODEV;	/* until probe says otherwise */
	mutex_init(&pair->cfg_lock);
	qkd_sim_physics_defaults(&pair->phys);
	qkd_sim_engine_setup(pair);

	pair->dev.bus = &qkd_sim_bus;
	pair->dev.id = id;
	pair->dev.groups = qkd_sim_pair_groups;
	pair->dev.release = pair_release;
	device_initialize(&pair->dev);
	err = dev_set_name(&pair->dev, QKD_SIM_NAME "%u", id);
	if (!err)
		err = device_add(&pair->dev);
	if (err) {
		put_device(&pair->dev);
		return ERR_PTR(err);
	}
	/* Probing is synchronous: the pair is bound now, or it failed. */
	if (pair->probe_err) {
		err = pair->probe_err;
		device_unregister(&pair->dev);
		return ERR_PTR(err);
	}
	return pair;
}

void qkd_sim_pair_destroy(struct qkd_sim_pair *pair)
{
	device_unregister(&pair->dev);
}

struct child_search {
	u32 skip;	/* an index already taken by the other end */
	u32 found;
};

static int match_link_dev(struct device *child, void *data)
{
	struct child_search *search = data;
	u32 index;
	char tail;

	if (sscanf(dev_name(child), "qkd%u%c", &index, &tail) != 1 ||
	    index == search->skip)
		return 0;
	search->found = index;
	return 1;
}

/*
 * The core names each end's device "qkd<index>" (uapi/linux/qkd.h) and
 * makes it a child of our pair device; the end registered last is the
 * child whose index the other end does not have.
 */
static u32 find_link_index(struct qkd_sim_pair *pair, u32 skip)
{
	struct child_search search = { .skip = skip, .found = U32_MAX };

	device_for_each_child(&pair->dev, &search, match_link_dev);
	return search.found;
}

static int end_register(struct qkd_sim_pair *pair, enum qkd_sim_end_id e)
{
	struct qkd_sim_end *end = &pair->end[e];
	struct qkd_dev_info info = {
		.link_id = pair->link_id,
		.role = e == QKD_SIM_TX ? QKD_ROLE_TX : QKD_ROLE_RX,
		.block_size = pair->block_size,
		.ring_size = pair->ring_size,
		.pool_blocks = pair->pool_blocks,
	};
	struct qkd_dev *qdev;
	int err;

	/* The peer is the other end's card. */
	snprintf(info.peer, sizeof(info.peer), "%s-%s", dev_name(&pair->dev),
		 end_names[QKD_SIM_RX - e]);
	end->pair = pair;
	end->link_index = U32_MAX;
	qdev = qkd_dev_alloc(&pair->dev, &qkd_sim_dev_ops, &info, end);
	if (IS_ERR_OR_NULL(qdev))
		return qdev ? PTR_ERR(qdev) : -ENOMEM;
	err = qkd_dev_register(qdev);
	if (err) {
		qkd_dev_free(qdev);
		return err;
	}
	end->qdev = qdev;
	end->link_index = find_link_index(pair, e == QKD_SIM_TX ? U32_MAX :
					  pair->end[QKD_SIM_TX].link_index);
	return 0;
}

static void end_unregister(struct qkd_sim_pair *pair, enum qkd_sim_end_id e)
{
	if (pair->end[e].qdev)
		qkd_dev_unregister(pair->end[e].qdev);
	pair->end[e].qdev = NULL;
}

int qkd_sim_pair_probe(struct qkd_sim_pair *pair)
{
	int err;

	/* The core allocates the rings in coherent DMA memory of our device. */
	err = dma_coerce_mask_and_coherent(&pair->dev, DMA_BIT_MASK(64));
	if (err)
		goto out;
	err = end_register(pair, QKD_SIM_TX);
	if (err)
		goto out;
	err = end_register(pair, QKD_SIM_RX);
	if (err) {
		qkd_sim_engine_shutdown(pair);
		end_unregister(pair, QKD_SIM_TX);
		goto out;
	}
	qkd_sim_debugfs_pair_add(pair);

	mutex_lock(&pair->cfg_lock);
	pair->live = true;
	qkd_sim_pair_update(pair);
	qkd_sim_pair_set_carrier(pair, true);
	mutex_unlock(&pair->cfg_lock);
out:
	pair->probe_err = err;
	return err;
}

void qkd_sim_pair_remove(struct qkd_sim_pair *pair)
{
	mutex_lock(&pair->cfg_lock);
	pair->live = false;	/* sysfs and debugfs writers back off */
	mutex_unlock(&pair->cfg_lock);
	qkd_sim_debugfs_pair_del(pair);
	qkd_sim_engine_shutdown(pair);
	end_unregister(pair, QKD_SIM_RX);
	end_unregister(pair, QKD_SIM_TX);
}

/*
 * Recompute the model after a parameter or fault changed, hand the new
 * rate and QBER to the engine and report them to the core.  Caller holds
 * cfg_lock and has checked pair->live.
 */
void qkd_sim_pair_update(struct qkd_sim_pair *pair)
{
	u32 qber;
	int e;

	qkd_sim_physics_eval(&pair->phys, &pair->model);
	pair->skr_bps = pair->rate_bps ?: pair->model.skr_bps;
	qber = min_t(u64, (u64)pair->model.qber_ppm +
		     pair->faults.qber_spike_ppm, QKD_SIM_QBER_PPM_MAX);
	WRITE_ONCE(pair->qber_ppm, qber);
	qkd_sim_engine_configure(pair, pair->skr_bps, qber);
	for (e = 0; e < QKD_SIM_ENDS; e++) {
		qkd_dev_report_qber(pair->end[e].qdev, qber);
		qkd_dev_report_skr(pair->end[e].qdev, pair->skr_bps);
	}
}

/* Carrier is the fibre: the same at both ends.  Caller holds cfg_lock. */
void qkd_sim_pair_set_carrier(struct qkd_sim_pair *pair, bool up)
{
	int e;

	for (e = 0; e < QKD_SIM_ENDS; e++)
		qkd_dev_report_carrier(pair->end[e].qdev, up);
}
