// SPDX-License-Identifier: GPL-2.0
/*
 * qkd.ko: the QKD device core.  Card drivers register link ends
 * (qkd_driver.h); userspace reaches them through the "qkd" generic netlink
 * family (uapi/linux/qkd.h); kernel consumers through qkd_keys.h.
 */
#include <linux/module.h>
#include <net/genetlink.h>

#include "device.h"
#include "keytype.h"
#include "netlink.h"
#include "push.h"
#include "xfrm_sa.h"

static int __init qkd_init(void)
{
	int err;

	err = qkd_device_init();
	if (err)
		return err;
	err = qkd_xfrm_sa_init();
	if (err)
		goto err_device;
	err = qkd_keytype_init();
	if (err)
		goto err_xfrm_sa;
	err = qkd_push_init();
	if (err)
		goto err_keytype;
	err = qkd_nl_init();
	if (err)
		goto err_push;
	pr_info("QKD device core loaded\n");
	return 0;

err_push:
	qkd_push_exit();
err_keytype:
	qkd_keytype_exit();
err_xfrm_sa:
	qkd_xfrm_sa_exit();
err_device:
	qkd_device_exit();
	return err;
}

static void __exit qkd_exit(void)
{
	qkd_nl_exit();		/* no new requests from here on */
	qkd_keytype_exit();	/* revokes and destroys every qkd key */
	qkd_xfrm_sa_exit();	/* deletes the SAs installed by SA_ADD */
	qkd_push_exit();	/* removes every push end */
	qkd_device_exit();
}

module_init(qkd_init);
module_exit(qkd_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("QKD device core: key rings, key pools, qkd generic netlink");
MODULE_AUTHOR("qkdn project");
MODULE_ALIAS_GENL_FAMILY(QKD_GENL_NAME);
