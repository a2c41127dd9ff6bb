// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection, in /sys/kernel/debug/qkd_sim/qkd_simID/ (Debian's 6.1
 * has no fault-injection framework, so these are plain debugfs knobs):
 *
 *   link_cut        bool  fibre cut: carrier down, generation stops
 *   stall           bool  generation pauses, carrier stays up
 *   ring_overflow   bool  the card ignores doorbells: rings fill, blocks drop
 *   qber_spike_ppm  u32   extra QBER on the link
 *   dma_error       "tx", "rx" or "both": flag the next descriptor there
 *   dropped_tx/_rx  u64   blocks dropped at an end because its ring was full
 *
 * Writers hold pair->cfg_lock and do nothing once the pair is going away.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include "sim.h"

static struct dentry *qkd_sim_debugfs_root;

/* Runs fn(pair, arg) under cfg_lock if the pair is live. */
static int with_live_pair(struct qkd_sim_pair *pair,
			  void (*fn)(struct qkd_sim_pair *pair, u32 arg),
			  u32 arg)
{
	int err = 0;

	mutex_lock(&pair->cfg_lock);
	if (pair->live)
		fn(pair, arg);
	else
		err = -ENODEV;
	mutex_unlock(&pair->cfg_lock);
	return err;
}

static void set_link_cut(struct qkd_sim_pair *pair, u32 cut)
{
	if (pair->faults.link_cut == !!cut)
		return;
	/* Without pair->lock: a block being written sees it and is dropped. */
	WRITE_ONCE(pair->faults.link_cut, cut);
	qkd_sim_engine_faults_changed(pair);
	qkd_sim_pair_set_carrier(pair, !cut);
}

static void set_stall(struct qkd_sim_pair *pair, u32 stall)
{
	WRITE_ONCE(pair->faults.stall, stall);
	qkd_sim_engine_faults_changed(pair);
}

static void set_ring_overflow(struct qkd_sim_pair *pair, u32 overflow)
{
	WRITE_ONCE(pair->faults.ring_overflow, overflow);
	qkd_sim_engine_faults_changed(pair);
}

static void set_qber_spike(struct qkd_sim_pair *pair, u32 ppm)
{
	pair->faults.qber_spike_ppm = ppm;
	qkd_sim_pair_update(pair);	/* reports the raised QBER */
}

static void set_dma_error(struct qkd_sim_pair *pair, u32 ends)
{
	qkd_sim_engine_dma_error(pair, ends & BIT(QKD_SIM_TX),
				 ends & BIT(QKD_SIM_RX));
}

static ssize_t bool_read(struct file *file, char __user *ubuf, size_t count,
			 loff_t *ppos, bool val)
{
	char buf[2] = { val ? 'Y' : 'N', '\n' };

	return simple_read_from_buffer(ubuf, count, ppos, buf, sizeof(buf));
}

static ssize_t bool_write(struct file *file, const char __user *ubuf,
			  size_t count,
			  void (*fn)(struct qkd_sim_pair *pair, u32 arg))
{
	bool val;
	int err;

	err = kstrtobool_from_user(ubuf, count, &val);
	if (!err)
		err = with_live_pair(file->private_data, fn, val);
	return err ?: count;
}

#define BOOL_KNOB(_name, _setter)					\
static ssize_t _name##_read(struct file *file, char __user *ubuf,	\
			    size_t count, loff_t *ppos)			\
{									\
	struct qkd_sim_pair *pair = file->private_data;			\
									\
	return bool_read(file, ubuf, count, ppos,			\
			 READ_ONCE(pair->faults._name));		\
}									\
									\
static ssize_t _name##_write(struct file *file, const char __user *ubuf,\
			     size_t count, loff_t *ppos)		\
{									\
	return bool_write(file, ubuf, count, _setter);			\
}									\
									\
static const struct file_operations _name##_fops = {			\
	.owner	= THIS_MODULE,						\
	.open	= simple_open,						\
	.read	= _name##_read,						\
	.write	= _name##_write,					\
	.llseek	= default_llseek,					\
}

BOOL_KNOB(link_cut, set_link_cut);
BOOL_KNOB(stall, set_stall);
BOOL_KNOB(ring_overflow, set_ring_overflow);

static ssize_t qber_spike_read(struct file *file, char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	struct qkd_sim_pair *pair = file->private_data;
	char buf[16];
	int len;

	len = scnprintf(buf, sizeof(buf), "%u\n",
			READ_ONCE(pair->faults.qber_spike_ppm));
	return simple_read_from_buffer(ubuf, count, ppos, buf, len);
}

static ssize_t qber_spike_write(struct file *file, const char __user *ubuf,
				size_t count, loff_t *ppos)
{
	u32 ppm;
	int err;

	err = kstrtou32_from_user(ubuf, count, 10, &ppm);
	if (!err && ppm > QKD_SIM_QBER_PPM_MAX)
		err = -EINVAL;
	if (!err)
		err = with_live_pair(file->private_data, set_qber_spike, ppm);
	return err ?: count;
}

static const struct file_operations qber_spike_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= qber_spike_read,
	.write	= qber_spike_write,
	.llseek	= default_llseek,
};

static const struct {
	const char *name;
	u32 ends;
} dma_error_ends[] = {
	{ "tx", BIT(QKD_SIM_TX) },
	{ "rx", BIT(QKD_SIM_RX) },
	{ "both", BIT(QKD_SIM_TX) | BIT(QKD_SIM_RX) },
};

static ssize_t dma_error_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	char buf[8];
	int i;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	for (i = 0; i < ARRAY_SIZE(dma_error_ends); i++)
		if (sysfs_streq(buf, dma_error_ends[i].name))
			return with_live_pair(file->private_data,
					      set_dma_error,
					      dma_error_ends[i].ends) ?: count;
	return -EINVAL;
}

static const struct file_operations dma_error_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= dma_error_write,
	.llseek	= no_llseek,
};

void qkd_sim_debugfs_pair_add(struct qkd_sim_pair *pair)
{
	struct dentry *dir;

	dir = debugfs_create_dir(dev_name(&pair->dev), qkd_sim_debugfs_root);
	pair->debugfs_dir = dir;
	debugfs_create_file("link_cut", 0600, dir, pair, &link_cut_fops);
	debugfs_create_file("stall", 0600, dir, pair, &stall_fops);
	debugfs_create_file("ring_overflow", 0600, dir, pair,
			    &ring_overflow_fops);
	debugfs_create_file("qber_spike_ppm", 0600, dir, pair,
			    &qber_spike_fops);
	debugfs_create_file("dma_error", 0200, dir, pair, &dma_error_fops);
	debugfs_create_u64("dropped_tx", 0400, dir,
			   &pair->end[QKD_SIM_TX].dropped);
	debugfs_create_u64("dropped_rx", 0400, dir,
			   &pair->end[QKD_SIM_RX].dropped);
}

/* Waits for writers in progress; none can start afterwards. */
void qkd_sim_debugfs_pair_del(struct qkd_sim_pair *pair)
{
	debugfs_remove_recursive(pair->debugfs_dir);
	pair->debugfs_dir = NULL;
}

void qkd_sim_debugfs_init(void)
{
	qkd_sim_debugfs_root = debugfs_create_dir(QKD_SIM_NAME, NULL);
}

void qkd_sim_debugfs_exit(void)
{
	debugfs_remove_recursive(qkd_sim_debugfs_root);
}
