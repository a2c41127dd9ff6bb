// SPDX-License-Identifier: GPL-2.0
/*
 * The per-link key pool.
 *
 * Policy, in short (Documentation/qkd/uapi.rst has the long form):
 *  - A fixed array of @capacity slots is allocated once; block N lives in
 *    slot N % capacity.  Lookup is O(1) and ingest never allocates.  A new
 *    block evicts (zeroises, counts) whatever block held its slot: with
 *    increasing block IDs that is the oldest one.
 *  - This end allocates only from its share (TX: even block IDs, RX: odd),
 *    oldest block first, carving contiguous ranges.  A block whose free
 *    bytes cannot hold the next key is given up (its free bytes are
 *    zeroised and counted as wasted), so allocation never rescans it.
 *  - Each slot has two byte bitmaps: @taken (allocated by this end, own
 *    share only) and @consumed (handed out or discarded, hence zeroised).
 *    A byte is handed out at most once: whoever sets its consumed bit.
 */
#include <linux/bitmap.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "pool.h"

static u64 now_ns(void)
{
	return ktime_get_real_ns();
}

static bool is_own(const struct qkd_pool *pool, u64 block_id)
{
	return (block_id & 1) == pool->own_parity;
}

static enum qkd_pool_level level_of(const struct qkd_pool *pool)
{
	if (!pool->avail)
		return QKD_POOL_EMPTY;
	if (pool->avail < pool->warn)
		return QKD_POOL_WARNING;
	if (pool->avail < pool->ready)
		return QKD_POOL_LOW;
	return QKD_POOL_READY;
}

static void update_level(struct qkd_pool *pool, struct qkd_pool_event *ev)
{
	enum qkd_pool_level level = level_of(pool);

	if (level != pool->level) {
		pool->level = level;
		ev->level_changed = true;
	}
	ev->level = level;
	ev->avail = pool->avail;
}

int qkd_pool_init(struct qkd_pool *pool, u32 capacity, u32 block_size,
		  enum qkd_role role)
{
	size_t map_longs = BITS_TO_LONGS(block_size);
	u32 i;

	memset(pool, 0, sizeof(*pool));
	spin_lock_init(&pool->lock);
	pool->capacity = capacity;
	pool->block_size = block_size;
	pool->own_parity = role == QKD_ROLE_TX ? 0 : 1;
	pool->guard = max(capacity / 8, 2U);
	if (pool->guard >= capacity)
		pool->guard = capacity / 2;
	/* Defaults: WARNING below 1/16 of this end's share, READY at 1/4. */
	pool->warn = div_u64((u64)capacity * block_size, 32);
	pool->ready = div_u64((u64)capacity * block_size, 8);
	pool->level = QKD_POOL_EMPTY;

	pool->slots = kvcalloc(capacity, sizeof(*pool->slots), GFP_KERNEL);
	pool->bitmaps = kvcalloc(array_size(capacity, 2 * map_longs),
				 sizeof(unsigned long), GFP_KERNEL);
	pool->data = kvzalloc(array_size(capacity, block_size), GFP_KERNEL);
	if (!pool->slots || !pool->bitmaps || !pool->data) {
		qkd_pool_destroy(pool);
		return -ENOMEM;
	}
	for (i = 0; i < capacity; i++) {
		struct qkd_pool_slot *slot = &pool->slots[i];

		slot->taken = pool->bitmaps + (size_t)i * 2 * map_longs;
		slot->consumed = slot->taken + map_longs;
		slot->data = pool->data + (size_t)i * block_size;
	}
	return 0;
}

void qkd_pool_destroy(struct qkd_pool *pool)
{
	if (pool->data)
		memzero_explicit(pool->data,
				 array_size(pool->capacity, pool->block_size));
	kvfree(pool->data);
	kvfree(pool->bitmaps);
	kvfree(pool->slots);
	pool->data = NULL;
	pool->bitmaps = NULL;
	pool->slots = NULL;
}

static struct qkd_pool_slot *slot_of(struct qkd_pool *pool, u64 block_id)
{
	struct qkd_pool_slot *slot;

	slot = &pool->slots[do_div(block_id, pool->capacity)];
	return slot;
}

/* The slot holding @block_id, or NULL if that block is not in the pool. */
static struct qkd_pool_slot *find_block(struct qkd_pool *pool, u64 block_id)
{
	struct qkd_pool_slot *slot = slot_of(pool, block_id);

	if (!slot->len || slot->block_id != block_id)
		return NULL;
	return slot;
}

static void slot_clear(struct qkd_pool *pool, struct qkd_pool_slot *slot)
{
	size_t map_bytes = BITS_TO_LONGS(pool->block_size) *
			   sizeof(unsigned long);

	memzero_explicit(slot->data, slot->len);
	if (is_own(pool, slot->block_id))
		pool->avail -= slot->untaken;
	memset(slot->taken, 0, map_bytes);
	memset(slot->consumed, 0, map_bytes);
	slot->len = 0;
	slot->untaken = 0;
	slot->first_untaken = 0;
	slot->unconsumed = 0;
	pool->blocks--;
}

/* Mark [off, off + len) consumed and zeroise it; returns bytes newly set. */
static u32 consume_range(struct qkd_pool_slot *slot, u32 off, u32 len)
{
	u32 end = off + len, n = 0, s, e;

	for (s = find_next_zero_bit(slot->consumed, end, off); s < end;
	     s = find_next_zero_bit(slot->consumed, end, e)) {
		e = find_next_bit(slot->consumed, end, s);
		bitmap_set(slot->consumed, s, e - s);
		memzero_explicit(slot->data + s, e - s);
		n += e - s;
	}
	slot->unconsumed -= n;
	if (!slot->unconsumed)
		slot->t_destroyed = now_ns();
	return n;
}

/* Mark [off, off + len) taken by this end; returns bytes newly set. */
static u32 take_range(struct qkd_pool *pool, struct qkd_pool_slot *slot,
		      u32 off, u32 len)
{
	u32 end = off + len, n = 0, s, e;

	for (s = find_next_zero_bit(slot->taken, end, off); s < end;
	     s = find_next_zero_bit(slot->taken, end, e)) {
		e = find_next_bit(slot->taken, end, s);
		bitmap_set(slot->taken, s, e - s);
		n += e - s;
	}
	/* Bits are only ever set (until the slot is cleared): it only rises. */
	if (off <= slot->first_untaken)
		slot->first_untaken = find_next_zero_bit(slot->taken, slot->len,
							 slot->first_untaken);
	slot->untaken -= n;
	pool->avail -= n;
	return n;
}

static void evict(struct qkd_pool *pool, struct qkd_pool_slot *slot,
		  struct qkd_pool_event *ev)
{
	ev->evicted++;
	ev->evicted_block_id = slot->block_id;
	slot->t_destroyed = now_ns();
	slot_clear(pool, slot);
}

/*
 * Block IDs the card skipped leave their slots with blocks older than the
 * pool's window (the last @capacity IDs): evict those too, so that every
 * stored block is inside the window that allocation scans.
 */
static void evict_skipped(struct qkd_pool *pool, u64 block_id,
			  struct qkd_pool_event *ev)
{
	u64 lowest = block_id >= pool->capacity ?
		     block_id - pool->capacity + 1 : 0;
	u64 id = max(pool->newest_id + 1, lowest);

	for (; id < block_id; id++) {
		struct qkd_pool_slot *slot = slot_of(pool, id);

		if (slot->len && slot->block_id < lowest)
			evict(pool, slot, ev);
	}
}

/*
 * Give up what this end has not taken of @slot (zeroised, to be counted as
 * wasted): a block entering the guard zone, or one too fragmented for the
 * next key.  Returns the bytes.
 */
static u64 give_up_untaken(struct qkd_pool *pool, struct qkd_pool_slot *slot)
{
	u32 s, e;
	u64 n = 0;

	for (s = find_next_zero_bit(slot->taken, slot->len, slot->first_untaken);
	     s < slot->len;
	     s = find_next_zero_bit(slot->taken, slot->len, e)) {
		e = find_next_bit(slot->taken, slot->len, s);
		n += take_range(pool, slot, s, e - s);
		consume_range(slot, s, e - s);
	}
	return n;
}

/*
 * The peer fetches a key one round trip after this end allocated it, and
 * its pool may already be a few blocks further on: a key cut from the block
 * about to be evicted would often be gone there.  So allocation keeps off
 * the @guard oldest IDs of the window; what an own block still has untaken
 * when it enters that guard zone is given up (zeroised, counted as wasted).
 */
static void retire_guarded(struct qkd_pool *pool, struct qkd_pool_event *ev)
{
	u64 window = pool->capacity - pool->guard;
	u64 edge, id;

	if (pool->newest_id + 1 <= window)
		return;
	edge = pool->newest_id + 1 - window;
	id = edge > pool->capacity ? edge - pool->capacity : 0;
	for (id = max(id, pool->retired_below); id < edge; id++) {
		struct qkd_pool_slot *slot = find_block(pool, id);

		if (slot && is_own(pool, id) && slot->untaken)
			ev->wasted += give_up_untaken(pool, slot);
	}
	pool->retired_below = edge;
}

int qkd_pool_insert(struct qkd_pool *pool, u64 block_id, u64 gen_time,
		    const void *buf, u32 len, struct qkd_pool_event *ev)
{
	struct qkd_pool_slot *slot;

	spin_lock_bh(&pool->lock);
	if (pool->have_blocks && block_id <= pool->newest_id) {
		/* Replayed or reordered: the card broke the contract. */
		spin_unlock_bh(&pool->lock);
		return -EINVAL;
	}
	if (pool->have_blocks)
		evict_skipped(pool, block_id, ev);
	slot = slot_of(pool, block_id);
	if (slot->len)
		evict(pool, slot, ev);
	memcpy(slot->data, buf, len);
	slot->block_id = block_id;
	slot->gen_time_ns = gen_time;
	slot->len = len;
	slot->unconsumed = len;
	slot->untaken = is_own(pool, block_id) ? len : 0;
	slot->t_stored = now_ns();
	slot->t_reserved = 0;
	slot->t_supplied = 0;
	slot->t_destroyed = 0;
	pool->blocks++;
	pool->avail += slot->untaken;
	pool->have_blocks = true;
	pool->newest_id = block_id;
	retire_guarded(pool, ev);
	update_level(pool, ev);
	spin_unlock_bh(&pool->lock);
	return 0;
}

/* Keys of @len bytes that still fit in the free runs of @slot. */
static u32 slot_fit(const struct qkd_pool_slot *slot, u32 len)
{
	u32 n = 0, s, e;

	for (s = find_next_zero_bit(slot->taken, slot->len, slot->first_untaken);
	     s < slot->len;
	     s = find_next_zero_bit(slot->taken, slot->len, e)) {
		e = find_next_bit(slot->taken, slot->len, s);
		n += (e - s) / len;
	}
	return n;
}

/* Lowest own-share block ID this end may still allocate from. */
static u64 first_own_id(struct qkd_pool *pool)
{
	u64 first = max(pool->retired_below, pool->alloc_cursor);

	if ((first & 1) != pool->own_parity)
		first++;
	return first;
}

/* Can this end's share supply @count keys of @len bytes? */
static bool pool_can_supply(struct qkd_pool *pool, u32 len, u32 count)
{
	u64 id, found = 0;

	if (!pool->have_blocks || pool->avail < (u64)len * count)
		return false;
	for (id = first_own_id(pool); id <= pool->newest_id; id += 2) {
		struct qkd_pool_slot *slot = find_block(pool, id);

		if (!slot || !slot->untaken)
			continue;
		found += slot_fit(slot, len);
		if (found >= count)
			return true;
	}
	return false;
}

int qkd_pool_alloc(struct qkd_pool *pool, u32 len, u32 count, bool reserve,
		   qkd_pool_emit_t emit, void *ctx, struct qkd_pool_event *ev)
{
	u64 id, t = now_ns();
	int err = 0;

	if (!len || len > pool->block_size)
		return -EINVAL;
	spin_lock_bh(&pool->lock);
	if (!pool_can_supply(pool, len, count)) {
		spin_unlock_bh(&pool->lock);
		return -ENOSPC;
	}
	for (id = first_own_id(pool); count && id <= pool->newest_id; id += 2) {
		struct qkd_pool_slot *slot = find_block(pool, id);
		u32 off;

		if (!slot || !slot->untaken)
			continue;
		while (count) {
			off = bitmap_find_next_zero_area(slot->taken, slot->len,
							 slot->first_untaken,
							 len, 0);
			if (off + len > slot->len)
				break;
			take_range(pool, slot, off, len);
			if (reserve) {
				slot->t_reserved = t;
				err = emit(ctx, qkd_key_id(id, off), len,
					   slot->gen_time_ns, NULL);
			} else {
				slot->t_supplied = t;
				err = emit(ctx, qkd_key_id(id, off), len,
					   slot->gen_time_ns, slot->data + off);
				ev->consumed += consume_range(slot, off, len);
			}
			if (err)
				goto out;
			count--;
		}
		if (count && slot->untaken)
			ev->wasted += give_up_untaken(pool, slot);
	}
out:
	/* Skip the blocks now fully allocated from next time. */
	for (id = first_own_id(pool); id <= pool->newest_id; id += 2) {
		struct qkd_pool_slot *slot = find_block(pool, id);

		if (slot && slot->untaken)
			break;
		pool->alloc_cursor = id + 2;
	}
	update_level(pool, ev);
	spin_unlock_bh(&pool->lock);
	return err;
}

/* Is @key_id/@len inside one stored block?  Sets *slotp and *offp. */
static int locate(struct qkd_pool *pool, u64 key_id, u32 len,
		  struct qkd_pool_slot **slotp, u32 *offp, const char **why)
{
	u64 block_id = key_id >> QKD_KEY_ID_OFFSET_BITS;
	u32 off = key_id & (QKD_BLOCK_SIZE_MAX - 1);
	struct qkd_pool_slot *slot = find_block(pool, block_id);

	if (!slot) {
		*why = "key block not in pool (never received, evicted or dropped)";
		return -ENOENT;
	}
	if (!len || off + len > slot->len) {
		*why = "key range outside its block";
		return -EINVAL;
	}
	*slotp = slot;
	*offp = off;
	return 0;
}

int qkd_pool_fetch(struct qkd_pool *pool, u64 key_id, u32 len,
		   qkd_pool_emit_t emit, void *ctx, struct qkd_pool_event *ev,
		   const char **why)
{
	struct qkd_pool_slot *slot;
	u32 off;
	int err;

	spin_lock_bh(&pool->lock);
	err = locate(pool, key_id, len, &slot, &off, why);
	if (err)
		goto out;
	/* Our own share: only what we reserved may be fetched. */
	if (is_own(pool, slot->block_id) &&
	    find_next_zero_bit(slot->taken, off + len, off) < off + len) {
		*why = "key of this end's share was not reserved";
		err = -EINVAL;
		goto out;
	}
	if (find_next_bit(slot->consumed, off + len, off) < off + len) {
		*why = "key already handed out or discarded";
		err = -EALREADY;
		goto out;
	}
	slot->t_supplied = now_ns();
	err = emit(ctx, key_id, len, slot->gen_time_ns, slot->data + off);
	if (err)
		*why = "no room for the key in the reply";
	/* Even if the reply failed, these bytes must never be handed out. */
	ev->consumed += consume_range(slot, off, len);
	update_level(pool, ev);
out:
	spin_unlock_bh(&pool->lock);
	return err;
}

int qkd_pool_discard(struct qkd_pool *pool, u64 key_id, u32 len,
		     struct qkd_pool_event *ev, const char **why)
{
	struct qkd_pool_slot *slot;
	u32 off;
	int err;

	spin_lock_bh(&pool->lock);
	err = locate(pool, key_id, len, &slot, &off, why);
	if (!err) {
		/* Discarded own bytes can never be allocated either. */
		if (is_own(pool, slot->block_id))
			take_range(pool, slot, off, len);
		ev->consumed += consume_range(slot, off, len);
		update_level(pool, ev);
	}
	spin_unlock_bh(&pool->lock);
	return err;
}

int qkd_pool_set_thresholds(struct qkd_pool *pool, u64 warn, u64 ready,
			    struct qkd_pool_event *ev)
{
	if (warn > ready)
		return -EINVAL;
	spin_lock_bh(&pool->lock);
	pool->warn = warn;
	pool->ready = ready;
	update_level(pool, ev);
	spin_unlock_bh(&pool->lock);
	return 0;
}

void qkd_pool_figures(struct qkd_pool *pool, struct qkd_pool_figures *fig)
{
	spin_lock_bh(&pool->lock);
	fig->capacity = pool->capacity;
	fig->blocks = pool->blocks;
	fig->avail = pool->avail;
	fig->warn = pool->warn;
	fig->ready = pool->ready;
	fig->level = pool->level;
	spin_unlock_bh(&pool->lock);
}
