/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The block store of a key source that holds its blocks itself (etsi014,
 * file): blocks in the secure heap, sorted by ID (blkring), each split
 * into keys by byte ranges the way qkd.ko splits a pool block:
 *
 *   - this end's share (keysrc_block_is_own()) is allocated from the
 *     front, the oldest ready block first, all or none, a key never
 *     spanning blocks (a tail too short for the key asked is wasted);
 *   - the peer's share is fetched by key ID, each byte once;
 *   - a block whose every byte was handed out or discarded is zeroised
 *     and freed; finished blocks leave the front of the ring.
 *
 * A block is "ready" once both ends hold it; only ready blocks give keys.
 * The store keeps the source's counters (allocated, fetched, discarded,
 * fetch_failures) and its own: ready blocks held per share, and the bytes
 * this end may still allocate.  Single threaded.
 */
#ifndef QKD_BLKSTORE_H
#define QKD_BLKSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kma/blkring.h"
#include "kma/keysrc.h"

struct blkstore_block {
	uint64_t id;
	uint8_t *bytes;		/* secure heap; NULL once done */
	uint8_t *used;		/* bitmap, one bit per byte handed out */
	uint32_t n_used;
	bool ready;		/* both ends hold it */
	uint64_t gen_ns;
};

struct blkstore {
	struct blkring ring;	/* of struct blkstore_block */
	struct keysrc *src;	/* block_size, role; its counters */
	uint32_t own_held, peer_held;	/* ready blocks not yet used up */
	uint64_t own_avail;	/* bytes of own ready blocks left */
};

/* Room for @cap blocks of @src; 0 or -ENOMEM. */
int blkstore_init(struct blkstore *st, struct keysrc *src, uint32_t cap);
/* Zeroises every block left. */
void blkstore_free(struct blkstore *st);

static inline uint32_t blkstore_count(const struct blkstore *st)
{
	return st->ring.n;
}

static inline struct blkstore_block *blkstore_at(const struct blkstore *st,
						  uint32_t i)
{
	return blkring_at(&st->ring, i);
}

struct blkstore_block *blkstore_find(const struct blkstore *st, uint64_t id);

/*
 * Append block @id, above every block held, with @bytes (block_size bytes
 * of the secure heap, taken over: freed on failure too).  Full: the
 * oldest block goes unused first.  0, -ENOSPC or -ENOMEM.
 */
int blkstore_add(struct blkstore *st, uint64_t id, uint8_t *bytes,
		 uint64_t gen_ns, bool ready);
/* Both ends hold @b (NULL: nothing): its keys may go out. */
void blkstore_ready(struct blkstore *st, struct blkstore_block *b);
/* Zeroise and free @b's bytes (NULL: nothing); what was left is discarded. */
void blkstore_finish(struct blkstore *st, struct blkstore_block *b);
/* Drop finished blocks from the front. */
void blkstore_gc(struct blkstore *st);

/* The keysrc operations on the store (keysrc.h). */
int blkstore_alloc(struct blkstore *st, uint32_t len, uint32_t count,
		   struct keysrc_key *keys, uint8_t *bytes, char *err,
		   size_t errlen);
int blkstore_get(struct blkstore *st, uint64_t key_id, uint32_t len,
		 uint8_t *out, uint64_t *gen_time_ns, char *err,
		 size_t errlen);
int blkstore_discard(struct blkstore *st, uint64_t key_id, uint32_t len);

#endif /* QKD_BLKSTORE_H */
