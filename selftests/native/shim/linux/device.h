/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKD_SHIM_DEVICE_H
#define _QKD_SHIM_DEVICE_H

#include <linux/types.h>

struct device {
	struct device *parent;
};

static inline void put_device(struct device *dev)
{
}

#endif /* _QKD_SHIM_DEVICE_H */
