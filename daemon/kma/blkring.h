/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A ring of blocks in ascending block ID order, oldest at the head: what
 * key confirmation (confirm.c) and the etsi014 source (keysrc_etsi014.c)
 * keep their blocks in.  Blocks only ever enter at the tail with an ID
 * above every held one and leave at the head, so the ring stays sorted and
 * a block is found by binary search.  The element is the caller's struct;
 * its uint64_t block ID sits at @id_off.
 */
#ifndef QKD_BLKRING_H
#define QKD_BLKRING_H

#include <stddef.h>
#include <stdint.h>

struct blkring {
	unsigned char *slots;
	size_t elem_size, id_off;
	uint32_t cap, head, n;
};

/* Room for @cap elements of @elem_size bytes, zeroed; 0 or -ENOMEM. */
int blkring_init(struct blkring *r, uint32_t cap, size_t elem_size,
		 size_t id_off);
/* Free the slots (the caller has wiped what they point to). */
void blkring_free(struct blkring *r);

/* The @i-th element from the head, i < r->n (or the next free slot). */
static inline void *blkring_at(const struct blkring *r, uint32_t i)
{
	return r->slots + (size_t)((r->head + i) % r->cap) * r->elem_size;
}

static inline uint64_t blkring_id(const struct blkring *r, const void *e)
{
	uint64_t id;

	__builtin_memcpy(&id, (const unsigned char *)e + r->id_off, sizeof(id));
	return id;
}

/* The element with block ID @id, or NULL. */
void *blkring_find(const struct blkring *r, uint64_t id);
/*
 * A zeroed element at the tail with ID @id (the caller keeps IDs
 * ascending), or NULL if the ring is full.
 */
void *blkring_push(struct blkring *r, uint64_t id);
/* Drop the head element (zeroed for reuse); the ring must not be empty. */
void blkring_pop(struct blkring *r);

#endif /* QKD_BLKRING_H */
