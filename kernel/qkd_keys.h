/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel key API of qkd.ko, for kernel consumers (xfrm, keyring).
 *
 * Same semantics as the QKD_CMD_KEY_* netlink commands (uapi/linux/qkd.h):
 * a link end is named by its network namespace and QKD_A_LINK_INDEX, a key
 * by (key ID, length).  Callable from process or softirq context, not from
 * hard IRQ: the link lookup and the pool lock disable BH, and @gfp (GFP_KERNEL
 * in process context, GFP_ATOMIC otherwise) is all a pool notification
 * allocates with.  @buf must hold @len bytes; callers zeroise it after use
 * (memzero_explicit) and never log it.
 */
#ifndef _QKD_KEYS_H
#define _QKD_KEYS_H

#include <linux/types.h>

struct net;
struct qkd_dev;

/*
 * Take a key the peer allocated, or one this end reserved (KEY_GET).
 * -ENODEV: no such link end in @net; -ENOENT: block not in the pool;
 * -EALREADY: some byte already handed out; -EINVAL: bad range, or a key of
 * this end's share that was not reserved.
 */
int qkd_key_take(struct net *net, u32 index, u64 key_id, u32 len, u8 *buf,
		 gfp_t gfp);

/*
 * Allocate one key of @len bytes from this end's share and hand it out at
 * once (KEY_ALLOC without QKD_KEY_F_RESERVE).  Fills *key_id (to tell the
 * peer) and, if not NULL, *gen_time_ns.  -ENOSPC: not enough key.
 */
int qkd_key_alloc_kernel(struct net *net, u32 index, u32 len, u64 *key_id,
			 u8 *buf, u64 *gen_time_ns, gfp_t gfp);

/* Zeroise a key without handing it out (KEY_DISCARD). */
int qkd_key_discard(struct net *net, u32 index, u64 key_id, u32 len,
		    gfp_t gfp);

#endif /* _QKD_KEYS_H */
