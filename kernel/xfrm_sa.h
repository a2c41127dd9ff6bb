/* SPDX-License-Identifier: GPL-2.0 */
/*
 * QKD-keyed ESP SAs: QKD_CMD_SA_ADD / QKD_CMD_SA_DEL (uapi/linux/qkd.h).
 * The SA's AEAD key is taken from the pool in the kernel, by key ID.
 */
#ifndef _QKD_XFRM_SA_H
#define _QKD_XFRM_SA_H

#include <net/genetlink.h>
#include <linux/qkd.h>

int qkd_xfrm_sa_init(void);
void qkd_xfrm_sa_exit(void);

/* Ops of the "qkd" family (netlink.c), GENL_UNS_ADMIN_PERM. */
int qkd_sa_add_doit(struct sk_buff *skb, struct genl_info *info);
int qkd_sa_del_doit(struct sk_buff *skb, struct genl_info *info);

extern const struct nla_policy qkd_sa_add_policy[QKD_A_SA_SEL_PROTO + 1];
extern const struct nla_policy qkd_sa_del_policy[QKD_A_SA_SPI + 1];

#endif /* _QKD_XFRM_SA_H */
