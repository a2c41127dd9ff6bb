/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key confirmation and link agreement (Y.3802 7.2: the KMA "synchronizes
 * and authenticates" keys): a layer every key source goes through on its
 * way to the key store (Documentation/qkd/confirmation.rst).
 *
 * confirm_wrap() puts a struct keysrc in front of any source.  It takes
 * whole blocks from the source as they arrive, ahead of use: the end whose
 * share a block is in (keysrc.h) sends the other a one-time MAC of it
 * (CONFIRM), the other checks it against its own copy and answers
 * (CONFIRM_ACK).  Only blocks both ends found equal are handed out, by the
 * same alloc/get/discard contract as the source's; a block that differs is
 * zeroised at both ends, counted and raises alarm "confirm:LINK".  The
 * last CONFIRM_KEY_BYTES of each block key the MAC and are never handed
 * out: keys come from the first block_size - CONFIRM_KEY_BYTES bytes, and
 * the wrapper's block_size says so.
 *
 * Before any of that, when the Kx channel comes up, the two ends exchange
 * what each believes about the link (LINK_PARAMS: source kind, role, rate,
 * block size, a fingerprint of a sim seed); any disagreement refuses the
 * link (is_up false, alarm "link:LINK" naming it).
 */
#ifndef QKD_CONFIRM_H
#define QKD_CONFIRM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "kma/keysrc.h"
#include "kx/kxmsg.h"

struct loop;

#define CONFIRM_KEY_BYTES	KM_CONFIRM_KEY_BYTES	/* per block */
#define CONFIRM_TAG_BYTES	KXMSG_TAG_LEN
#define CONFIRM_NONCE_BYTES	KXMSG_NONCE_LEN
#define CONFIRM_FP_BYTES	KXMSG_FINGERPRINT_LEN
#define CONFIRM_WHY_MAX		160
/* A block sent for confirmation and not answered in this time is dropped. */
#define CONFIRM_TIMEOUT_MS	3000
/* Blocks are taken from the source this often (and after each answer). */
#define CONFIRM_TICK_MS		10
/* LINK_PARAMS is asked again this often until the other end answers. */
#define CONFIRM_ASK_MS		1000

/*
 * The tag of block @block_id (@block_size bytes at @block) under @nonce:
 * Poly1305 keyed with the block's last CONFIRM_KEY_BYTES bytes, over a
 * label, the block ID, the block size, the nonce and the rest of the
 * block.  0, or -1 (OpenSSL failure, or a block too small).
 */
int confirm_tag(uint64_t block_id, const uint8_t *nonce,
		const uint8_t *block, uint32_t block_size, uint8_t *tag);

/* SHA-256 of a label and a sim link's seed: names the seed, reveals none. */
int confirm_seed_fingerprint(const uint8_t *seed, uint8_t *fp);

/* What one end believes about its link. */
struct confirm_params {
	char kind[KXMSG_SOURCE_MAX];	/* "sim", "kernel", ... */
	enum qkd_role role;
	uint64_t rate;			/* bit/s; 0: not known */
	uint32_t block_size;		/* the source's, bytes */
	bool has_fp;
	uint8_t fp[CONFIRM_FP_BYTES];	/* sim: seed fingerprint */
};

/*
 * 0 if @theirs (a LINK_PARAMS from the far end of link @link, whose node
 * is @peer) agrees with @mine; else -1 and the disagreement, in operator
 * prose naming the link, in @why.
 */
int confirm_params_check(const char *link, const char *peer,
			 const struct confirm_params *mine,
			 const struct kxmsg *theirs, char *why, size_t len);

struct confirm_transport {
	/* Queue @m for node @node: 0, or -1. */
	int (*send)(void *arg, const char *node, const struct kxmsg *m);
	bool (*is_up)(void *arg, const char *node);
};

struct confirm_cfg {
	const char *link;		/* this end's link name */
	const char *peer;		/* node at the other end */
	struct confirm_params params;
};

/*
 * Wrap @inner (owned from now on, freed with the wrapper, even on
 * failure).  @loop may be NULL (tests call confirm_tick()).  Nothing is
 * confirmed, and the link is not up, until a transport is set and the far
 * end's LINK_PARAMS agreed.
 */
struct keysrc *confirm_wrap(struct loop *loop, struct keysrc *inner,
			    const struct confirm_cfg *cfg,
			    char *err, size_t errlen);
bool keysrc_is_confirm(const struct keysrc *src);
/* The source @src wraps, for its own calls; @src if it wraps none. */
struct keysrc *confirm_inner(struct keysrc *src);
/* NULL detaches. */
void confirm_set_transport(struct keysrc *src,
			   const struct confirm_transport *tr, void *arg);
/* A new channel to the far end: agree again, forget blocks in flight. */
void confirm_peer_up(struct keysrc *src);
/* LINK_PARAMS, CONFIRM or CONFIRM_ACK from the far end. */
void confirm_receive(struct keysrc *src, const struct kxmsg *m);
/* Take and send new blocks, expire old ones (the timer calls it). */
void confirm_tick(struct keysrc *src);

/*
 * kernel_push (kpush.h): with a sink set, every block both ends confirmed
 * goes to @push instead of to the store above, in ascending block ID
 * order, and is then wiped: an own block still waiting for its verdict
 * holds back the blocks after it, and a block waits up to SINK_HOLD_MS
 * (confirm.c) for the ID before it, so that both ends push the same IDs
 * in the same order.  The store gets nothing from the link: alloc()
 * fails with -ENOSPC, avail() is 0.  A block confirmed only after a later
 * one was pushed is dropped (counted as skipped): the kernel takes block
 * IDs in ascending order only.  @push returns 0 or
 * -errno; @free (may be NULL) releases @arg with the wrapper.
 */
struct confirm_sink {
	int (*push)(void *arg, uint64_t block_id, const uint8_t *bytes,
		    uint32_t len, uint64_t gen_time_ns);
	void (*free)(void *arg);
	void *arg;
};

void confirm_set_sink(struct keysrc *src, const struct confirm_sink *sink);

enum confirm_state {
	CONFIRM_WAITING,		/* for the far end's LINK_PARAMS */
	CONFIRM_AGREED,
	CONFIRM_REFUSED,		/* parameters disagree: link down */
};

const char *confirm_state_name(enum confirm_state s);

struct confirm_stats {
	enum confirm_state state;
	char refused[CONFIRM_WHY_MAX];	/* why, if REFUSED */
	uint64_t confirmed;		/* blocks found equal (both shares) */
	uint64_t mismatched;		/* blocks found different */
	uint64_t failed;		/* unanswered / unreadable, dropped */
	uint64_t key_bytes_spent;	/* MAC keys used up */
	uint32_t pending;		/* own blocks waiting for the verdict */
	uint32_t own_blocks, peer_blocks;	/* confirmed, held */
	uint64_t inner_allocated, inner_fetched;	/* from the source */
	/* kernel_push: blocks pushed, skipped (out of order), failed */
	bool has_sink;
	uint64_t sink_pushed, sink_skipped, sink_failed;
};

void confirm_stats(const struct keysrc *src, struct confirm_stats *out);

#endif /* QKD_CONFIRM_H */
