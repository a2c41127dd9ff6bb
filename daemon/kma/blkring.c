// SPDX-License-Identifier: GPL-2.0
/* A sorted ring of blocks (blkring.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kma/blkring.h"

int blkring_init(struct blkring *r, uint32_t cap, size_t elem_size,
		 size_t id_off)
{
	memset(r, 0, sizeof(*r));
	if (!cap || id_off + sizeof(uint64_t) > elem_size)
		return -EINVAL;
	r->slots = calloc(cap, elem_size);
	if (!r->slots)
		return -ENOMEM;
	r->elem_size = elem_size;
	r->id_off = id_off;
	r->cap = cap;
	return 0;
}

void blkring_free(struct blkring *r)
{
	free(r->slots);
	r->slots = NULL;
	r->n = 0;
}

void *blkring_find(const struct blkring *r, uint64_t id)
{
	uint32_t lo = 0, hi = r->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		void *e = blkring_at(r, mid);
		uint64_t got = blkring_id(r, e);

		if (got == id)
			return e;
		if (got < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void *blkring_push(struct blkring *r, uint64_t id)
{
	void *e;

	if (r->n == r->cap)
		return NULL;
	e = blkring_at(r, r->n++);
	memset(e, 0, r->elem_size);
	memcpy((unsigned char *)e + r->id_off, &id, sizeof(id));
	return e;
}

void blkring_pop(struct blkring *r)
{
	memset(blkring_at(r, 0), 0, r->elem_size);
	r->head = (r->head + 1) % r->cap;
	r->n--;
}
