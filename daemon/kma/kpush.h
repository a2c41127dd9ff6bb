/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kernel_push: a link's confirmed blocks into a qkd.ko push end
 * (QKD_CMD_PUSH_ADD / BLOCK_PUSH / PUSH_DEL, uapi/linux/qkd.h), so that
 * the kernel's consumers (QKD-keyed IPsec SAs, the "qkd" key type) get
 * keys from any source.  Both ends push every block they confirmed, in
 * ascending block ID order, under the block's own ID: the two kernel
 * pools then hold the same bytes under the same IDs.
 *
 * One blocking netlink socket, as keysrc_kernel.c: the kernel answers at
 * once.  The request buffer holds a block: it is in the secure heap and
 * cleansed after every push.
 */
#ifndef QKD_KPUSH_H
#define QKD_KPUSH_H

#include <stddef.h>
#include <stdint.h>

struct kpush;

struct kpush_cfg {
	const char *link;	/* [link NAME], for messages */
	const char *peer;	/* QKD_A_LINK_PEER */
	uint32_t link_id;	/* QKD_A_LINK_ID, the same at both ends */
	uint8_t role;		/* enum qkd_role of this end */
	uint32_t block_size;	/* bytes per pushed block */
};

/*
 * Create this node's push end (replacing a stale one of the same link ID
 * and role that a previous run left behind).  NULL with the reason.
 */
struct kpush *kpush_new(const struct kpush_cfg *cfg, char *err, size_t errlen);
/* Removes the push end (its pool is zeroised by the kernel). */
void kpush_free(struct kpush *kp);

/*
 * Push one block: 0 or -errno.  A push end that went away (removed by
 * hand, module reloaded) is created again at the next push.  The block is
 * accounted (kma/take.h) as taken by "kernel_push:LINK", or refused.
 */
int kpush_block(struct kpush *kp, uint64_t block_id, const uint8_t *bytes,
		uint32_t len, uint64_t gen_time_ns);

/* The push end's link index (0: none at the moment). */
uint32_t kpush_index(const struct kpush *kp);

#endif /* QKD_KPUSH_H */
