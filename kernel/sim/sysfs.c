// SPDX-License-Identifier: GPL-2.0
/*
 * Per-pair sysfs attributes in /sys/bus/qkd_sim/devices/qkd_simID/: the
 * link indexes of both ends, the key rate (fixed, or derived from the link
 * physics) and what the card has produced.  Documentation/qkd/sim.rst.
 */
#include <linux/kernel.h>
#include <linux/sysfs.h>
#include "sim.h"

void qkd_sim_physics_defaults(struct qkd_sim_physics *phys)
{
	*phys = (struct qkd_sim_physics) {
		.fiber_m		= 10000,	/* 10 km */
		.atten_mdb_per_km	= 200,		/* 0.2 dB/km */
		.det_eff_ppm		= 100000,	/* 10% */
		.dark_count_ppb		= 1000,		/* 10^-6 per gate */
		.misalign_ppm		= 10000,	/* 1% */
		.rep_rate_hz		= 1000000000,	/* 1 GHz */
		.mu_milli		= 500,		/* mu = 0.5 */
	};
}

static ssize_t index_show(struct qkd_sim_pair *pair, enum qkd_sim_end_id e,
			  char *buf)
{
	if (pair->end[e].link_index == U32_MAX)
		return -ENODEV;
	return sysfs_emit(buf, "%u\n", pair->end[e].link_index);
}

static ssize_t tx_index_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return index_show(to_qkd_sim_pair(dev), QKD_SIM_TX, buf);
}
static DEVICE_ATTR_RO(tx_index);

static ssize_t rx_index_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return index_show(to_qkd_sim_pair(dev), QKD_SIM_RX, buf);
}
static DEVICE_ATTR_RO(rx_index);

/* Set *field = val under cfg_lock and recompute the model. */
static int update_u64(struct qkd_sim_pair *pair, u64 *field, u64 val)
{
	int err = 0;

	mutex_lock(&pair->cfg_lock);
	if (pair->live) {
		*field = val;
		qkd_sim_pair_update(pair);
	} else {
		err = -ENODEV;
	}
	mutex_unlock(&pair->cfg_lock);
	return err;
}

static ssize_t rate_bps_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%llu\n", READ_ONCE(to_qkd_sim_pair(dev)->rate_bps));
}

static ssize_t rate_bps_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	struct qkd_sim_pair *pair = to_qkd_sim_pair(dev);
	u64 val;
	int err;

	err = kstrtou64(buf, 10, &val);
	if (!err)
		err = update_u64(pair, &pair->rate_bps, val);
	return err ?: count;
}
static DEVICE_ATTR_RW(rate_bps);

/* A physics parameter: where it lives in struct qkd_sim_physics, its range. */
struct phys_attr {
	struct device_attribute attr;
	size_t offset;
	u64 max;
};

static u64 *phys_field(struct device *dev, struct device_attribute *attr)
{
	struct phys_attr *pa = container_of(attr, struct phys_attr, attr);

	return (u64 *)((char *)&to_qkd_sim_pair(dev)->phys + pa->offset);
}

static ssize_t phys_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%llu\n", READ_ONCE(*phys_field(dev, attr)));
}

static ssize_t phys_store(struct device *dev, struct device_attribute *attr,
			  const char *buf, size_t count)
{
	struct phys_attr *pa = container_of(attr, struct phys_attr, attr);
	u64 val;
	int err;

	err = kstrtou64(buf, 10, &val);
	if (err)
		return err;
	if (val > pa->max)
		return -EINVAL;
	err = update_u64(to_qkd_sim_pair(dev), phys_field(dev, attr), val);
	return err ?: count;
}

#define PHYS_ATTR(_name, _max)						\
	static struct phys_attr phys_attr_##_name = {			\
		.attr = __ATTR(_name, 0644, phys_show, phys_store),	\
		.offset = offsetof(struct qkd_sim_physics, _name),	\
		.max = (_max),						\
	}

PHYS_ATTR(fiber_m, 100000000ULL);		/* 100 000 km */
PHYS_ATTR(atten_mdb_per_km, 100000);		/* 100 dB/km */
PHYS_ATTR(det_eff_ppm, 1000000);
PHYS_ATTR(dark_count_ppb, 1000000000);
PHYS_ATTR(misalign_ppm, 1000000);
PHYS_ATTR(rep_rate_hz, 1000000000000ULL);	/* 1 THz */
PHYS_ATTR(mu_milli, 100000);			/* mu = 100 */

static ssize_t qber_ppm_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%u\n",
			  READ_ONCE(to_qkd_sim_pair(dev)->qber_ppm));
}
static DEVICE_ATTR_RO(qber_ppm);

static ssize_t skr_bps_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%llu\n", READ_ONCE(to_qkd_sim_pair(dev)->skr_bps));
}
static DEVICE_ATTR_RO(skr_bps);

static ssize_t blocks_generated_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  qkd_sim_engine_blocks(to_qkd_sim_pair(dev)));
}
static DEVICE_ATTR_RO(blocks_generated);

static struct attribute *qkd_sim_pair_attrs[] = {
	&dev_attr_tx_index.attr,
	&dev_attr_rx_index.attr,
	&dev_attr_rate_bps.attr,
	&phys_attr_fiber_m.attr.attr,
	&phys_attr_atten_mdb_per_km.attr.attr,
	&phys_attr_det_eff_ppm.attr.attr,
	&phys_attr_dark_count_ppb.attr.attr,
	&phys_attr_misalign_ppm.attr.attr,
	&phys_attr_rep_rate_hz.attr.attr,
	&phys_attr_mu_milli.attr.attr,
	&dev_attr_qber_ppm.attr,
	&dev_attr_skr_bps.attr,
	&dev_attr_blocks_generated.attr,
	NULL,
};

static const struct attribute_group qkd_sim_pair_group = {
	.attrs = qkd_sim_pair_attrs,
};

const struct attribute_group *qkd_sim_pair_groups[] = {
	&qkd_sim_pair_group,
	NULL,
};
