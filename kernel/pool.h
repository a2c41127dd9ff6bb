/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The per-link key pool: a fixed array of slots, one key block per slot,
 * slot = block_id % capacity.  See pool.c for the policy.
 */
#ifndef _QKD_POOL_H
#define _QKD_POOL_H

#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/qkd.h>

struct sk_buff;

struct qkd_pool_slot {
	u64 block_id;
	u64 gen_time_ns;	/* CLOCK_REALTIME, from the card */
	/* Lifecycle, CLOCK_REALTIME ns; 0 = not (yet) reached. */
	u64 t_stored;
	u64 t_reserved;
	u64 t_supplied;
	u64 t_destroyed;
	u32 len;		/* 0: slot empty */
	u32 untaken;		/* own share: bytes not allocated yet */
	u32 first_untaken;	/* own share: no byte below it is untaken */
	u32 unconsumed;		/* bytes not handed out or discarded yet */
	unsigned long *taken;	/* allocated by this end (own share only) */
	unsigned long *consumed;/* handed out or discarded, zeroised */
	u8 *data;
};

struct qkd_pool {
	spinlock_t lock;	/* BH-safe: in-kernel consumers may be in BH */
	struct qkd_pool_slot *slots;
	unsigned long *bitmaps;	/* backing store of every slot's two bitmaps */
	u8 *data;		/* backing store of every slot's key bytes */
	u32 capacity;
	u32 block_size;
	u32 blocks;		/* slots in use */
	u32 own_parity;		/* block_id & 1 of this end's share */
	bool have_blocks;	/* newest_id is valid */
	u64 newest_id;
	u64 alloc_cursor;	/* no allocatable own block below this ID */
	u32 guard;		/* oldest IDs of the window not allocated from */
	u64 retired_below;	/* own blocks below: untaken bytes given up */
	u64 avail;		/* own-share bytes still allocatable */
	u64 warn;
	u64 ready;
	enum qkd_pool_level level;
};

/* Result of one pool operation, for the caller's events and counters. */
struct qkd_pool_event {
	bool level_changed;
	enum qkd_pool_level level;
	u64 avail;
	u32 evicted;		/* blocks evicted */
	u64 evicted_block_id;	/* the last of them */
	u64 wasted;		/* bytes of block tails given up */
	u64 consumed;		/* bytes newly handed out or discarded */
};

/* One key handed out by qkd_pool_alloc(), for the caller's reply. */
typedef int (*qkd_pool_emit_t)(void *ctx, u64 key_id, u32 len, u64 gen_time,
			       const u8 *material);

int qkd_pool_init(struct qkd_pool *pool, u32 capacity, u32 block_size,
		  enum qkd_role role);
void qkd_pool_destroy(struct qkd_pool *pool);

/* Copy one block in (ingest); evicts whatever held the slot. */
int qkd_pool_insert(struct qkd_pool *pool, u64 block_id, u64 gen_time,
		    const void *buf, u32 len, struct qkd_pool_event *ev);

/*
 * Allocate @count keys of @len bytes from this end's share, all or none.
 * @emit is called under the pool's spinlock for each key, in order, with
 * the material (NULL with @reserve); it must not sleep.  Returns 0,
 * -ENOSPC, or @emit's error.
 */
int qkd_pool_alloc(struct qkd_pool *pool, u32 len, u32 count, bool reserve,
		   qkd_pool_emit_t emit, void *ctx, struct qkd_pool_event *ev);

/*
 * Hand out one key by ID (a peer-share key, or a reserved one of ours).
 * @emit as above (called once, under the lock).  On error, *why says what
 * was wrong, for extack.
 */
int qkd_pool_fetch(struct qkd_pool *pool, u64 key_id, u32 len,
		   qkd_pool_emit_t emit, void *ctx, struct qkd_pool_event *ev,
		   const char **why);

/*
 * Zeroise a range without handing it out (ev->consumed: bytes newly
 * discarded).  On error, *why says what was wrong, for extack.
 */
int qkd_pool_discard(struct qkd_pool *pool, u64 key_id, u32 len,
		     struct qkd_pool_event *ev, const char **why);

int qkd_pool_set_thresholds(struct qkd_pool *pool, u64 warn, u64 ready,
			    struct qkd_pool_event *ev);

/* Consistent snapshot of the figures netlink and sysfs report. */
struct qkd_pool_figures {
	u32 capacity;
	u32 blocks;
	u64 avail;
	u64 warn;
	u64 ready;
	enum qkd_pool_level level;
};

void qkd_pool_figures(struct qkd_pool *pool, struct qkd_pool_figures *fig);

static inline u64 qkd_key_id(u64 block_id, u32 offset)
{
	return block_id << QKD_KEY_ID_OFFSET_BITS | offset;
}

#endif /* _QKD_POOL_H */
