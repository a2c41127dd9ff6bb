/* SPDX-License-Identifier: GPL-2.0 */
/* Daemon-fed ("push") link ends: see push.c. */
#ifndef _QKD_PUSH_H
#define _QKD_PUSH_H

#include <linux/types.h>

struct net;
struct qkd_dev;
struct qkd_dev_info;

/* A new push end in @net, with a reference for the caller; ERR_PTR. */
struct qkd_dev *qkd_push_add(struct net *net, const struct qkd_dev_info *info,
			     const char **why);
/* Remove the push end @index of @net: 0, -ENODEV or -EOPNOTSUPP. */
int qkd_push_del(struct net *net, u32 index, const char **why);
/* One block into a push end: 0 or -errno, *why for extack. */
int qkd_push_block(struct qkd_dev *qdev, u64 block_id, u64 gen_time,
		   const void *buf, u32 len, const char **why);

void qkd_push_net_exit(struct net *net);
int qkd_push_init(void);
void qkd_push_exit(void);

#endif /* _QKD_PUSH_H */
