// SPDX-License-Identifier: GPL-2.0
/*
 * qkd_sim: simulated QKD card pairs for qkd.ko, in the spirit of netdevsim.
 *
 * The module registers the bus "qkd_sim" with two write-only attributes:
 *
 *   echo "ID LINK_ID [BLOCK_SIZE [RING_SIZE [POOL_BLOCKS [KEY_SEED]]]]" \
 *	> new_device
 *   echo ID > del_device
 *
 * Each pair is a device qkd_simID on the bus, bound synchronously to the
 * qkd_sim driver, whose probe registers the two link ends with qkd.ko.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "sim.h"

#define DEFAULT_BLOCK_SIZE	1024
#define DEFAULT_RING_SIZE	256

/* All pairs, and whether new ones may still be made; under pairs_lock. */
static LIST_HEAD(pairs);
static DEFINE_MUTEX(pairs_lock);
static bool pairs_enabled;

struct new_device_args {
	u32 id;
	u32 link_id;
	u32 block_size;
	u32 ring_size;
	u32 pool_blocks;
	u64 key_seed;
};

/*
 * "ID LINK_ID [BLOCK_SIZE [RING_SIZE [POOL_BLOCKS [KEY_SEED]]]]", separated
 * by blanks; KEY_SEED is a u64 (decimal, or hex with 0x), the rest decimal.
 * Ranges the core also enforces are checked here so that the writer gets
 * -EINVAL rather than a half-built pair.
 */
static int parse_field(const char *token, unsigned int n,
		       struct new_device_args *args)
{
	u32 *fields[] = { &args->id, &args->link_id, &args->block_size,
			  &args->ring_size, &args->pool_blocks };

	if (n < ARRAY_SIZE(fields))
		return kstrtou32(token, 10, fields[n]);
	if (n == ARRAY_SIZE(fields))
		return kstrtou64(token, 0, &args->key_seed);
	return -EINVAL;
}

static int parse_new_device(const char *buf, struct new_device_args *args)
{
	char *copy, *cursor, *token;
	unsigned int n = 0;
	int err = 0;

	*args = (struct new_device_args) {
		.block_size = DEFAULT_BLOCK_SIZE,
		.ring_size = DEFAULT_RING_SIZE,
	};
	copy = kstrdup(buf, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	cursor = strim(copy);
	while (!err && (token = strsep(&cursor, " \t"))) {
		if (*token)	/* else a run of blanks */
			err = parse_field(token, n++, args);
	}
	kfree(copy);
	if (err)
		return -EINVAL;
	if (n < 2 || args->id > QKD_SIM_ID_MAX ||
	    args->block_size < 16 || args->block_size > QKD_BLOCK_SIZE_MAX ||
	    args->ring_size < 8 || args->ring_size > 65536 ||
	    !is_power_of_2(args->ring_size))
		return -EINVAL;
	return 0;
}

static struct qkd_sim_pair *find_pair(u32 id)
{
	struct qkd_sim_pair *pair;

	list_for_each_entry(pair, &pairs, list)
		if (pair->id == id)
			return pair;
	return NULL;
}

static ssize_t new_device_store(struct bus_type *bus, const char *buf,
				size_t count)
{
	struct new_device_args args;
	struct qkd_sim_pair *pair;
	int err;

	err = parse_new_device(buf, &args);
	if (err)
		return err;

	mutex_lock(&pairs_lock);
	if (!pairs_enabled) {
		err = -ENODEV;
	} else if (find_pair(args.id)) {
		err = -EEXIST;
	} else {
		pair = qkd_sim_pair_create(args.id, args.link_id,
					   args.block_size, args.ring_size,
					   args.pool_blocks, args.key_seed);
		if (IS_ERR(pair))
			err = PTR_ERR(pair);
		else
			list_add_tail(&pair->list, &pairs);
	}
	mutex_unlock(&pairs_lock);
	return err ?: count;
}
static BUS_ATTR_WO(new_device);

static ssize_t del_device_store(struct bus_type *bus, const char *buf,
				size_t count)
{
	struct qkd_sim_pair *pair;
	u32 id;
	int err;

	err = kstrtou32(buf, 10, &id);
	if (err)
		return -EINVAL;

	mutex_lock(&pairs_lock);
	pair = pairs_enabled ? find_pair(id) : NULL;
	if (pair) {
		list_del(&pair->list);
		qkd_sim_pair_destroy(pair);
	} else {
		err = -ENOENT;
	}
	mutex_unlock(&pairs_lock);
	return err ?: count;
}
static BUS_ATTR_WO(del_device);

static struct attribute *qkd_sim_bus_attrs[] = {
	&bus_attr_new_device.attr,
	&bus_attr_del_device.attr,
	NULL,
};
ATTRIBUTE_GROUPS(qkd_sim_bus);

static int qkd_sim_bus_probe(struct device *dev)
{
	return qkd_sim_pair_probe(to_qkd_sim_pair(dev));
}

static void qkd_sim_bus_remove(struct device *dev)
{
	qkd_sim_pair_remove(to_qkd_sim_pair(dev));
}

struct bus_type qkd_sim_bus = {
	.name		= QKD_SIM_NAME,
	.dev_name	= QKD_SIM_NAME,
	.bus_groups	= qkd_sim_bus_groups,
	.probe		= qkd_sim_bus_probe,
	.remove		= qkd_sim_bus_remove,
};

static struct device_driver qkd_sim_driver = {
	.name		= QKD_SIM_NAME,
	.bus		= &qkd_sim_bus,
	.owner		= THIS_MODULE,
	.probe_type	= PROBE_FORCE_SYNCHRONOUS,
};

static void destroy_all_pairs(void)
{
	struct qkd_sim_pair *pair, *tmp;

	mutex_lock(&pairs_lock);
	pairs_enabled = false;
	list_for_each_entry_safe(pair, tmp, &pairs, list) {
		list_del(&pair->list);
		qkd_sim_pair_destroy(pair);
	}
	mutex_unlock(&pairs_lock);
}

static int __init qkd_sim_init(void)
{
	int err;

	err = qkd_sim_engine_init();
	if (err)
		return err;
	qkd_sim_debugfs_init();
	err = bus_register(&qkd_sim_bus);
	if (err)
		goto err_debugfs;
	err = driver_register(&qkd_sim_driver);
	if (err)
		goto err_bus;

	mutex_lock(&pairs_lock);
	pairs_enabled = true;
	mutex_unlock(&pairs_lock);
	return 0;

err_bus:
	bus_unregister(&qkd_sim_bus);
err_debugfs:
	qkd_sim_debugfs_exit();
	qkd_sim_engine_exit();
	return err;
}

static void __exit qkd_sim_exit(void)
{
	destroy_all_pairs();
	driver_unregister(&qkd_sim_driver);
	bus_unregister(&qkd_sim_bus);
	qkd_sim_debugfs_exit();
	qkd_sim_engine_exit();
}

module_init(qkd_sim_init);
module_exit(qkd_sim_exit);

MODULE_DESCRIPTION("Simulated QKD card pairs for qkd.ko");
MODULE_LICENSE("GPL");
