/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Keys the node's own consumers take from a link's pool, reported to
 * accounting (Documentation/qkd/accounting.rst, "Consumers").  The
 * rotating consumers (apps/rotate.c), the IPsec gateway (apps/ipsec) and
 * the kernel push ends (kma/kpush.c) sit below the management layer that
 * keeps the accounts, so they report through this hook, which main.c sets
 * to mgmt's account_take_event().  Without a hook a report does nothing.
 *
 * A report carries names and counts only, never a key ID or key bytes.
 */
#ifndef QKD_KMA_TAKE_H
#define QKD_KMA_TAKE_H

#include <stdbool.h>
#include <stdint.h>

struct kma_take {
	const char *kind;	/* "wireguard", "ipsec", "kernel_push", ... */
	const char *name;	/* its section ([wireguard w0]: "w0"; a push
				 * end: its link) */
	const char *peer;	/* the node at the link's other end */
	const char *link;	/* [link NAME] the keys came from */
	/*
	 * How: false, drawn as new keys (the owner of a rotation, a push);
	 * true, fetched by the key IDs the other end chose (a follower).
	 */
	bool by_id;
	uint32_t keys;		/* taken, or asked for and not taken */
	uint64_t bytes;		/* their bytes */
	int err;		/* 0: taken; -errno: refused, and why */
};

typedef void (*kma_take_fn)(void *arg, const struct kma_take *t);

/* Set (or with NULL clear) the one hook; main.c does it. */
void kma_take_set_hook(kma_take_fn fn, void *arg);
void kma_take_report(const struct kma_take *t);

#endif /* QKD_KMA_TAKE_H */
