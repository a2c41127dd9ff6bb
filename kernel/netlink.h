/* SPDX-License-Identifier: GPL-2.0 */
/* The "qkd" generic netlink family (uapi/linux/qkd.h). */
#ifndef _QKD_NETLINK_H
#define _QKD_NETLINK_H

#include <linux/types.h>

struct net;
struct qkd_dev;

int qkd_nl_init(void);
void qkd_nl_exit(void);

/*
 * Events; no key byte is ever part of one.  Process context, except the
 * pool event: its caller says what it may allocate with (@gfp).
 */
void qkd_nl_link_ntf(struct qkd_dev *qdev, struct net *net, bool present);
void qkd_nl_qber_alarm_ntf(struct qkd_dev *qdev);
void qkd_nl_pool_ntf(struct qkd_dev *qdev, u8 level, u64 avail, gfp_t gfp);
void qkd_nl_keys_avail_ntf(struct qkd_dev *qdev);

#endif /* _QKD_NETLINK_H */
