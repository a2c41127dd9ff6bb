// SPDX-License-Identifier: GPL-2.0
/* The block store of the etsi014 and file key sources (blkstore.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kma/blkstore.h"

static bool is_own(const struct blkstore *st, uint64_t id)
{
	return keysrc_block_is_own(st->src->role, id);
}

/* A ready block with bytes joins (+1) or leaves (-1) the counts. */
static void block_counts(struct blkstore *st, struct blkstore_block *b,
			 int delta)
{
	if (!b->ready || !b->bytes)
		return;
	if (is_own(st, b->id)) {
		st->own_held += delta;
		st->own_avail += delta * (int64_t)(st->src->block_size -
						   b->n_used);
	} else {
		st->peer_held += delta;
	}
}

int blkstore_init(struct blkstore *st, struct keysrc *src, uint32_t cap)
{
	memset(st, 0, sizeof(*st));
	st->src = src;
	return blkring_init(&st->ring, cap, sizeof(struct blkstore_block),
			    offsetof(struct blkstore_block, id));
}

void blkstore_free(struct blkstore *st)
{
	for (uint32_t i = 0; st->ring.slots && i < st->ring.n; i++)
		blkstore_finish(st, blkstore_at(st, i));
	blkring_free(&st->ring);
}

struct blkstore_block *blkstore_find(const struct blkstore *st, uint64_t id)
{
	return blkring_find(&st->ring, id);
}

void blkstore_finish(struct blkstore *st, struct blkstore_block *b)
{
	if (!b || !b->bytes)
		return;
	block_counts(st, b, -1);
	st->src->discarded += st->src->block_size - b->n_used;
	OPENSSL_secure_clear_free(b->bytes, st->src->block_size);
	free(b->used);
	b->bytes = NULL;
	b->used = NULL;
}

void blkstore_gc(struct blkstore *st)
{
	while (st->ring.n && !blkstore_at(st, 0)->bytes)
		blkring_pop(&st->ring);
}

int blkstore_add(struct blkstore *st, uint64_t id, uint8_t *bytes,
		 uint64_t gen_ns, bool ready)
{
	struct blkstore_block *b;
	uint8_t *used;

	if (st->ring.n == st->ring.cap) {
		/* Full: the oldest goes, unused. */
		blkstore_finish(st, blkstore_at(st, 0));
		blkstore_gc(st);
	}
	used = calloc((st->src->block_size + 7) / 8, 1);
	if (!used || st->ring.n == st->ring.cap) {
		free(used);
		OPENSSL_secure_clear_free(bytes, st->src->block_size);
		return used ? -ENOSPC : -ENOMEM;
	}
	b = blkring_push(&st->ring, id);
	b->used = used;
	b->bytes = bytes;
	b->gen_ns = gen_ns;
	if (ready)
		blkstore_ready(st, b);
	return 0;
}

void blkstore_ready(struct blkstore *st, struct blkstore_block *b)
{
	if (!b || !b->bytes || b->ready)
		return;
	b->ready = true;
	block_counts(st, b, 1);
}

static void mark_used(struct blkstore *st, struct blkstore_block *b,
		      uint32_t off, uint32_t len)
{
	bool own = is_own(st, b->id) && b->ready;

	for (uint32_t i = off; i < off + len; i++) {
		if (!(b->used[i / 8] & (1u << (i % 8)))) {
			b->used[i / 8] |= (uint8_t)(1u << (i % 8));
			b->n_used++;
			if (own)
				st->own_avail--;
		}
	}
	if (b->n_used == st->src->block_size)
		blkstore_finish(st, b);
}

static bool range_free(const struct blkstore_block *b, uint32_t off,
		       uint32_t len)
{
	for (uint32_t i = off; i < off + len; i++)
		if (b->used[i / 8] & (1u << (i % 8)))
			return false;
	return true;
}

/* Lowest offset past every used byte (allocation cuts from the front). */
static uint32_t own_cut(const struct blkstore *st,
			const struct blkstore_block *b)
{
	uint32_t off = st->src->block_size;

	while (off > 0 && !(b->used[(off - 1) / 8] & (1u << ((off - 1) % 8))))
		off--;
	return off;
}

static bool allocatable(const struct blkstore *st,
			const struct blkstore_block *b)
{
	return b->bytes && b->ready && is_own(st, b->id);
}

int blkstore_alloc(struct blkstore *st, uint32_t len, uint32_t count,
		   struct keysrc_key *keys, uint8_t *bytes, char *err,
		   size_t errlen)
{
	uint32_t bs = st->src->block_size, need = count, i, k = 0;

	if (len == 0 || len > bs || count == 0 || count > QKD_KEY_COUNT_MAX) {
		snprintf(err, errlen, "bad key length or count");
		return -EINVAL;
	}
	/* Plan first: all or none. */
	for (i = 0; i < st->ring.n && need; i++) {
		struct blkstore_block *b = blkstore_at(st, i);
		uint32_t fit;

		if (!allocatable(st, b))
			continue;
		fit = (bs - own_cut(st, b)) / len;
		need -= fit < need ? fit : need;
	}
	if (need) {
		snprintf(err, errlen, "not enough key in pool");
		return -ENOSPC;
	}
	for (i = 0; i < st->ring.n && k < count; i++) {
		struct blkstore_block *b = blkstore_at(st, i);
		uint32_t off;

		if (!allocatable(st, b))
			continue;
		off = own_cut(st, b);
		while (k < count && off + len <= bs) {
			memcpy(bytes + (size_t)k * len, b->bytes + off, len);
			keys[k].id = b->id << QKD_KEY_ID_OFFSET_BITS | off;
			keys[k].len = len;
			keys[k].gen_time_ns = b->gen_ns;
			st->src->allocated += len;
			k++;
			mark_used(st, b, off, len);	/* may finish b */
			off += len;
		}
		/* A key never spans blocks: a short tail is wasted, as in
		 * qkd.ko. */
		if (k < count && b->bytes && off < bs) {
			st->src->discarded += bs - off;
			mark_used(st, b, off, bs - off);
		}
	}
	blkstore_gc(st);
	return 0;
}

int blkstore_get(struct blkstore *st, uint64_t key_id, uint32_t len,
		 uint8_t *out, uint64_t *gen_time_ns, char *err,
		 size_t errlen)
{
	uint64_t blk = keysrc_block_of(key_id);
	uint32_t off = keysrc_offset_of(key_id), bs = st->src->block_size;
	struct blkstore_block *b = NULL;
	int rc = 0;

	if (len == 0 || off >= bs || len > bs - off) {
		snprintf(err, errlen, "range outside the block");
		rc = -EINVAL;
	} else if (is_own(st, blk)) {
		snprintf(err, errlen, "key of this end's share");
		rc = -EINVAL;
	} else if (!(b = blkstore_find(st, blk)) || !b->ready) {
		snprintf(err, errlen, "block not in the pool");
		rc = -ENOENT;
	} else if (!b->bytes || !range_free(b, off, len)) {
		snprintf(err, errlen, "key already handed out");
		rc = -EALREADY;
	}
	if (rc) {
		st->src->fetch_failures++;
		return rc;
	}
	memcpy(out, b->bytes + off, len);
	if (gen_time_ns)
		*gen_time_ns = b->gen_ns;
	st->src->fetched += len;
	mark_used(st, b, off, len);
	blkstore_gc(st);
	return 0;
}

int blkstore_discard(struct blkstore *st, uint64_t key_id, uint32_t len)
{
	uint32_t off = keysrc_offset_of(key_id), bs = st->src->block_size;
	struct blkstore_block *b;

	if (len == 0 || off >= bs || len > bs - off)
		return -EINVAL;
	b = blkstore_find(st, keysrc_block_of(key_id));
	if (!b || !b->bytes)
		return 0;
	st->src->discarded += len;
	mark_used(st, b, off, len);
	blkstore_gc(st);
	return 0;
}
