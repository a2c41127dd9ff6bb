/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A simulated link for testing kernel/pool.c natively: two pools (the TX
 * and the RX end) fed the same key blocks, a shadow record of every byte
 * each end handed out, and invariant checks.  Shared by the unit test and
 * the fuzzer.  pool_model.c.
 */
#ifndef _QKD_POOL_MODEL_H
#define _QKD_POOL_MODEL_H

#include "pool.h"

/* Highest block ID the model tracks; ingest stops there. */
#define MODEL_MAX_BLOCKS	1024
#define MODEL_KEYS		64

struct model_key {
	u64 key_id;
	u32 len;
	u8 end;			/* the end that allocated (or reserved) it */
};

/* What the model knows of one block at one end. */
struct model_shadow {
	bool fed;		/* the card delivered it to this end */
	u32 len;
	unsigned long *taken;	/* own share: allocated, reserved, discarded */
	unsigned long *handed;	/* material handed out, or discarded */
};

struct model_end {
	struct qkd_pool pool;
	struct model_shadow *shadow;	/* [block ID], MODEL_MAX_BLOCKS */
};

struct pool_model {
	struct model_end end[2];	/* [QKD_ROLE_TX], [QKD_ROLE_RX] */
	unsigned long *shadow_bits;	/* backing store of every shadow */
	u32 capacity;
	u32 block_size;
	u64 next_id;			/* next block ID the card produces */
	struct model_key keys[MODEL_KEYS];	/* recent allocations */
	u32 n_keys;
	const char *failure;		/* first violated invariant */
};

/* The key byte at @off of block @block_id: both ends' oracle. */
u8 model_byte(u64 block_id, u32 off);
void model_block(u64 block_id, u8 *buf, u32 len);

int model_init(struct pool_model *m, u32 capacity, u32 block_size);
void model_destroy(struct pool_model *m);

/*
 * Each step applies one operation and checks everything it can; a
 * violated invariant sets m->failure (and the step returns -1).
 */
/* Block @skip IDs on; @ends: bit 0 TX gets it, bit 1 RX gets it. */
int model_ingest(struct pool_model *m, u32 skip, u32 len, unsigned int ends);
/* A replayed (old) block must be refused and change nothing. */
int model_replay(struct pool_model *m, unsigned int end, u64 back);
int model_alloc(struct pool_model *m, unsigned int end, u32 len, u32 count,
		bool reserve);
/* Fetch recorded key @i at the other end (or, if reserved, this end). */
int model_fetch_recorded(struct pool_model *m, u32 i, bool same_end);
/* Fetch or discard an arbitrary range. */
int model_fetch_any(struct pool_model *m, unsigned int end, u64 key_id,
		    u32 len);
int model_discard(struct pool_model *m, unsigned int end, u64 key_id,
		  u32 len);
int model_thresholds(struct pool_model *m, unsigned int end, u64 warn,
		     u64 ready);
/* Full consistency check of both pools against the model. */
int model_check(struct pool_model *m);

#endif /* _QKD_POOL_MODEL_H */
