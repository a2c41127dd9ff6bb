// SPDX-License-Identifier: GPL-2.0
/*
 * qkd.ko: the QKD device core.  Card drivers register link ends
 * (qkd_driver.h); userspace reaches them through the "qkd" generic netlink
 * family (uapi/linux/qkd.h); kernel consumers through qkd_keys.h.
 */
#include <linux/module.h>
#include <net/genetlink.h>

#include "device.h"
#include "netlink.h"

static int __init qkd_init(void)
{
	int err;

	err = qkd_device_init();
	if (err)
		return err;
	err = qkd_nl_init();
	if (err)
		goto err_device;
	pr_info("QKD device core loaded\n");
	return 0;

err_device:
	qkd_device_exit();
	return err;
}

static void __exit qkd_exit(void)
{
	qkd_nl_exit();
	qkd_device_exit();
}

module_init(qkd_init);
module_exit(qkd_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("QKD device core: key rings, key pools, qkd generic netlink");
MODULE_AUTHOR("qkdn project");
MODULE_ALIAS_GENL_FAMILY(QKD_GENL_NAME);
