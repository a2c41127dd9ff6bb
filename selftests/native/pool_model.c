// SPDX-License-Identifier: GPL-2.0
/*
 * The simulated link of pool_model.h.  The oracle is simple on purpose:
 * block N's byte i is model_byte(N, i) at both ends, a block is in an
 * end's pool iff that end was fed it and it is among the last @capacity
 * IDs, and the shadow bitmaps say which bytes each end has taken (own
 * share) and handed out or discarded.  Everything the pool does is checked
 * against that, never against the pool's own reasoning.
 */
#include <stdlib.h>
#include <string.h>

#include <linux/bitmap.h>
#include "pool_model.h"

#define FAIL(m, why) do { if (!(m)->failure) (m)->failure = (why); return -1; } while (0)

u8 model_byte(u64 block_id, u32 off)
{
	u64 h = (block_id * 0x9e3779b97f4a7c15ull) ^ (off * 0xc2b2ae3d27d4eb4full);

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return (u8)(h % 255) + 1;	/* never 0: a zeroised byte shows */
}

void model_block(u64 block_id, u8 *buf, u32 len)
{
	u32 i;

	for (i = 0; i < len; i++)
		buf[i] = model_byte(block_id, i);
}

static struct model_shadow *shadow_of(struct pool_model *m, unsigned int end,
				      u64 block_id)
{
	return block_id < MODEL_MAX_BLOCKS ? &m->end[end].shadow[block_id] : NULL;
}

static void free_shadows(struct pool_model *m)
{
	free(m->shadow_bits);
	free(m->end[0].shadow);
	free(m->end[1].shadow);
}

int model_init(struct pool_model *m, u32 capacity, u32 block_size)
{
	size_t longs = BITS_TO_LONGS(block_size);
	unsigned int e;
	u32 i;

	memset(m, 0, sizeof(*m));
	m->capacity = capacity;
	m->block_size = block_size;
	m->shadow_bits = calloc(2 * MODEL_MAX_BLOCKS * 2 * longs,
				sizeof(unsigned long));
	m->end[0].shadow = calloc(MODEL_MAX_BLOCKS, sizeof(struct model_shadow));
	m->end[1].shadow = calloc(MODEL_MAX_BLOCKS, sizeof(struct model_shadow));
	if (!m->shadow_bits || !m->end[0].shadow || !m->end[1].shadow)
		goto nomem;
	for (e = 0; e < 2; e++)
		for (i = 0; i < MODEL_MAX_BLOCKS; i++) {
			unsigned long *b = m->shadow_bits +
				((size_t)e * MODEL_MAX_BLOCKS + i) * 2 * longs;

			m->end[e].shadow[i].taken = b;
			m->end[e].shadow[i].handed = b + longs;
		}
	if (qkd_pool_init(&m->end[0].pool, capacity, block_size, QKD_ROLE_TX))
		goto nomem;
	if (qkd_pool_init(&m->end[1].pool, capacity, block_size, QKD_ROLE_RX)) {
		qkd_pool_destroy(&m->end[0].pool);
		goto nomem;
	}
	return 0;
nomem:
	free_shadows(m);
	return -1;
}

void model_destroy(struct pool_model *m)
{
	qkd_pool_destroy(&m->end[0].pool);
	qkd_pool_destroy(&m->end[1].pool);
	free_shadows(m);
}

static bool own(unsigned int end, u64 block_id)
{
	/* TX owns even block IDs, RX odd ones (uapi/linux/qkd.h). */
	return (block_id & 1) == end;
}

/* Is @block_id in @end's pool, by the model? */
static bool present(struct pool_model *m, unsigned int end, u64 block_id)
{
	struct qkd_pool *pool = &m->end[end].pool;
	struct model_shadow *sh = shadow_of(m, end, block_id);

	return sh && sh->fed && block_id <= pool->newest_id &&
	       block_id + m->capacity > pool->newest_id;
}

static bool any_set(const unsigned long *map, u32 off, u32 len)
{
	return find_next_bit(map, off + len, off) < off + len;
}

static bool all_set(const unsigned long *map, u32 off, u32 len)
{
	return find_next_zero_bit(map, off + len, off) >= off + len;
}

int model_ingest(struct pool_model *m, u32 skip, u32 len, unsigned int ends)
{
	u64 id = m->next_id + skip;
	u8 buf[QKD_BLOCK_SIZE_MAX];
	unsigned int e;

	if (id >= MODEL_MAX_BLOCKS)
		return 0;
	if (!len || len > m->block_size)
		len = m->block_size;
	model_block(id, buf, len);
	for (e = 0; e < 2; e++) {
		struct qkd_pool_event ev = {};

		if (!(ends & (1u << e)))
			continue;
		if (qkd_pool_insert(&m->end[e].pool, id, id, buf, len, &ev))
			FAIL(m, "ingest of a new block ID refused");
		m->end[e].shadow[id].fed = true;
		m->end[e].shadow[id].len = len;
	}
	m->next_id = id + 1;
	return model_check(m);
}

int model_replay(struct pool_model *m, unsigned int end, u64 back)
{
	struct qkd_pool *pool = &m->end[end].pool;
	struct qkd_pool_event ev = {};
	u64 avail = pool->avail, newest = pool->newest_id;
	u32 blocks = pool->blocks;
	u8 buf[16];	/* block_size >= 16 */

	if (!pool->have_blocks)
		return 0;
	back %= newest + 1;
	memset(buf, 0xee, sizeof(buf));
	if (qkd_pool_insert(pool, newest - back, 0, buf, sizeof(buf), &ev) !=
	    -EINVAL)
		FAIL(m, "replayed block ID accepted");
	if (pool->avail != avail || pool->blocks != blocks ||
	    pool->newest_id != newest || ev.evicted)
		FAIL(m, "refused replay changed the pool");
	return model_check(m);
}

struct emit_ctx {
	struct pool_model *m;
	unsigned int end;
	u32 len;
	bool reserve;
	bool fetch;
	u32 emitted;
	u32 fail_at;		/* emit's 1-based call number that fails; 0: none */
	u64 key_id;		/* fetch: the ID asked for */
	const char *failure;
};

#define EMIT_FAIL(c, why) do { if (!(c)->failure) (c)->failure = (why); return -EMSGSIZE; } while (0)

static void record_key(struct pool_model *m, u64 key_id, u32 len,
		       unsigned int end)
{
	struct model_key *k = &m->keys[m->n_keys++ % MODEL_KEYS];

	k->key_id = key_id;
	k->len = len;
	k->end = end;
}

/* One key from qkd_pool_alloc() or qkd_pool_fetch(), checked as it goes. */
static int check_emit(void *arg, u64 key_id, u32 len, u64 gen_time,
		      const u8 *material)
{
	struct emit_ctx *c = arg;
	struct qkd_pool *pool = &c->m->end[c->end].pool;
	u64 block_id = key_id >> QKD_KEY_ID_OFFSET_BITS;
	u32 off = key_id & (QKD_BLOCK_SIZE_MAX - 1), i;
	struct model_shadow *sh = shadow_of(c->m, c->end, block_id);

	c->emitted++;
	if (len != c->len || (c->fetch && key_id != c->key_id))
		EMIT_FAIL(c, "key of the wrong ID or length emitted");
	if (!sh || !present(c->m, c->end, block_id) || off + len > sh->len)
		EMIT_FAIL(c, "key outside any stored block emitted");
	if (gen_time != block_id)
		EMIT_FAIL(c, "key carries another block's generation time");
	if (!c->fetch) {
		if (!own(c->end, block_id))
			EMIT_FAIL(c, "allocation from the peer's share");
		if (block_id < pool->retired_below)
			EMIT_FAIL(c, "allocation from the retire guard zone");
		if (any_set(sh->taken, off, len))
			EMIT_FAIL(c, "byte allocated twice");
		bitmap_set(sh->taken, off, len);
		if (c->reserve) {
			if (material)
				EMIT_FAIL(c, "reservation returned key material");
			record_key(c->m, key_id, len, c->end);
			return c->emitted == c->fail_at ? -EMSGSIZE : 0;
		}
		record_key(c->m, key_id, len, c->end);
	}
	if (!material)
		EMIT_FAIL(c, "no key material");
	if (any_set(sh->handed, off, len))
		EMIT_FAIL(c, "byte handed out twice");
	bitmap_set(sh->handed, off, len);
	for (i = 0; i < len; i++)
		if (material[i] != model_byte(block_id, off + i))
			EMIT_FAIL(c, "key bytes differ from the block's");
	return c->emitted == c->fail_at ? -EMSGSIZE : 0;
}

int model_alloc(struct pool_model *m, unsigned int end, u32 len, u32 count,
		bool reserve)
{
	struct qkd_pool *pool = &m->end[end].pool;
	struct emit_ctx c = { .m = m, .end = end, .len = len,
			      .reserve = reserve, .fail_at = count > 2 ? count / 2 : 0 };
	struct qkd_pool_event ev = {};
	u64 avail = pool->avail;
	int err;

	/* Every third multi-key call has its reply run out of room. */
	if (count % 3)
		c.fail_at = 0;
	err = qkd_pool_alloc(pool, len, count, reserve, check_emit, &c, &ev);
	if (c.failure)
		FAIL(m, c.failure);
	if (!len || len > m->block_size) {
		if (err != -EINVAL)
			FAIL(m, "bad key length accepted");
		return model_check(m);
	}
	if (err == -ENOSPC) {
		if (c.emitted || pool->avail != avail)
			FAIL(m, "failed allocation handed out keys");
		return model_check(m);
	}
	if (err == 0 && c.emitted != count)
		FAIL(m, "allocation returned the wrong number of keys");
	if (err && (err != -EMSGSIZE || c.emitted != c.fail_at))
		FAIL(m, "allocation error not from the reply");
	if (avail - pool->avail != (u64)c.emitted * len + ev.wasted)
		FAIL(m, "avail does not drop by keys + wasted bytes");
	if (avail < (u64)count * len && !err)
		FAIL(m, "allocated more than was available");
	return model_check(m);
}

/*
 * The result qkd_pool_fetch() must give, by the model: 0, or the one
 * error a peer-share fetch must fail with; for this end's own share any
 * of -EINVAL/-EALREADY is accepted (*either), since bytes the pool gave up
 * are taken and consumed there without the model tracking them.
 */
static int expect_fetch(struct pool_model *m, unsigned int end, u64 key_id,
			u32 len, bool *either)
{
	u64 block_id = key_id >> QKD_KEY_ID_OFFSET_BITS;
	u32 off = key_id & (QKD_BLOCK_SIZE_MAX - 1);
	struct model_shadow *sh = shadow_of(m, end, block_id);

	*either = false;
	if (!present(m, end, block_id))
		return -ENOENT;
	if (!len || off + len > sh->len)
		return -EINVAL;
	if (own(end, block_id)) {
		if (all_set(sh->taken, off, len) && !any_set(sh->handed, off, len))
			return 0;
		*either = true;
		return -EINVAL;
	}
	return any_set(sh->handed, off, len) ? -EALREADY : 0;
}

static int fetch_checked(struct pool_model *m, unsigned int end, u64 key_id,
			 u32 len, bool reply_fails)
{
	struct emit_ctx c = { .m = m, .end = end, .len = len, .fetch = true,
			      .key_id = key_id, .fail_at = reply_fails };
	struct qkd_pool_event ev = {};
	const char *why = NULL;
	bool either;
	int want = expect_fetch(m, end, key_id, len, &either), err;

	err = qkd_pool_fetch(&m->end[end].pool, key_id, len, check_emit, &c,
			     &ev, &why);
	if (c.failure)
		FAIL(m, c.failure);
	if (want == 0) {
		if (c.emitted != 1 || err != (reply_fails ? -EMSGSIZE : 0))
			FAIL(m, "fetch the model allows did not hand out the key");
		if (ev.consumed != len)
			FAIL(m, "fetch consumed the wrong number of bytes");
	} else {
		if (c.emitted)
			FAIL(m, "fetch the model refuses handed out a key");
		if (err != want && !(either && err == -EALREADY))
			FAIL(m, "fetch failed with the wrong error");
		if (!why)
			FAIL(m, "failed fetch gives no reason");
	}
	return model_check(m);
}

int model_fetch_recorded(struct pool_model *m, u32 i, bool same_end)
{
	struct model_key *k;

	if (!m->n_keys)
		return 0;
	if (m->n_keys < MODEL_KEYS)
		i %= m->n_keys;
	k = &m->keys[i % MODEL_KEYS];
	return fetch_checked(m, same_end ? k->end : !k->end, k->key_id,
			     k->len, i & 1 && i % 7 == 0);
}

int model_fetch_any(struct pool_model *m, unsigned int end, u64 key_id,
		    u32 len)
{
	return fetch_checked(m, end, key_id, len, false);
}

int model_discard(struct pool_model *m, unsigned int end, u64 key_id, u32 len)
{
	u64 block_id = key_id >> QKD_KEY_ID_OFFSET_BITS;
	u32 off = key_id & (QKD_BLOCK_SIZE_MAX - 1);
	struct model_shadow *sh = shadow_of(m, end, block_id);
	struct qkd_pool_event ev = {};
	const char *why = NULL;
	int want = 0, err;

	if (!present(m, end, block_id))
		want = -ENOENT;
	else if (!len || off + len > sh->len)
		want = -EINVAL;
	err = qkd_pool_discard(&m->end[end].pool, key_id, len, &ev, &why);
	if (err != want)
		FAIL(m, "discard gave the wrong result");
	if (err && !why)
		FAIL(m, "failed discard gives no reason");
	if (!err) {
		if (ev.consumed > len)
			FAIL(m, "discard consumed more than its range");
		bitmap_set(sh->handed, off, len);
		if (own(end, block_id))
			bitmap_set(sh->taken, off, len);
	}
	return model_check(m);
}

int model_thresholds(struct pool_model *m, unsigned int end, u64 warn,
		     u64 ready)
{
	struct qkd_pool_event ev = {};
	int err = qkd_pool_set_thresholds(&m->end[end].pool, warn, ready, &ev);

	if (err != (warn > ready ? -EINVAL : 0))
		FAIL(m, "thresholds accepted or refused wrongly");
	return model_check(m);
}

static u32 count_bits(const unsigned long *map, u32 from, u32 to)
{
	u32 n = 0;

	for (; from < to && from % BITS_PER_LONG; from++)
		n += test_bit(from, map);
	for (; from + BITS_PER_LONG <= to; from += BITS_PER_LONG)
		n += __builtin_popcountl(map[from / BITS_PER_LONG]);
	for (; from < to; from++)
		n += test_bit(from, map);
	return n;
}

/* One stored or empty slot against the model. */
static int check_slot(struct pool_model *m, unsigned int end, u32 index)
{
	struct qkd_pool *pool = &m->end[end].pool;
	struct qkd_pool_slot *slot = &pool->slots[index];
	u32 bs = m->block_size, i;
	struct model_shadow *sh;

	if (count_bits(slot->taken, slot->len, bs) ||
	    count_bits(slot->consumed, slot->len, bs))
		FAIL(m, "bitmap bits set beyond the block");
	for (i = slot->len; i < bs; i++)
		if (slot->data[i])
			FAIL(m, "key bytes left beyond the block or in an empty slot");
	if (!slot->len) {
		if (slot->untaken || slot->unconsumed)
			FAIL(m, "empty slot with bytes counted");
		return 0;
	}
	if (slot->block_id % m->capacity != index)
		FAIL(m, "block in the wrong slot");
	if (!present(m, end, slot->block_id))
		FAIL(m, "pool holds a block the model says is gone");
	sh = shadow_of(m, end, slot->block_id);
	if (slot->len != sh->len)
		FAIL(m, "stored block has the wrong length");
	if (slot->unconsumed != slot->len - count_bits(slot->consumed, 0, slot->len))
		FAIL(m, "slot's unconsumed count disagrees with its bitmap");
	if (own(end, slot->block_id) &&
	    slot->untaken != slot->len - count_bits(slot->taken, 0, slot->len))
		FAIL(m, "slot's untaken count disagrees with its bitmap");
	if (!own(end, slot->block_id) &&
	    (slot->untaken || count_bits(slot->taken, 0, slot->len)))
		FAIL(m, "peer-share block marked allocatable or taken");
	if (own(end, slot->block_id) && slot->block_id < pool->retired_below &&
	    slot->untaken)
		FAIL(m, "block in the retire guard zone still allocatable");
	for (i = 0; i < slot->len; i++) {
		bool consumed = test_bit(i, slot->consumed);

		if (slot->data[i] != (consumed ? 0 : model_byte(slot->block_id, i)))
			FAIL(m, consumed ? "consumed key byte not zeroised" :
				 "stored key byte differs from the block");
		if (test_bit(i, sh->handed) && !consumed)
			FAIL(m, "handed-out byte still in the pool");
		if (test_bit(i, sh->taken) && !test_bit(i, slot->taken))
			FAIL(m, "allocated byte allocatable again");
	}
	return 0;
}

static enum qkd_pool_level model_level(const struct qkd_pool *pool)
{
	if (!pool->avail)
		return QKD_POOL_EMPTY;
	if (pool->avail < pool->warn)
		return QKD_POOL_WARNING;
	return pool->avail < pool->ready ? QKD_POOL_LOW : QKD_POOL_READY;
}

static int check_end(struct pool_model *m, unsigned int end)
{
	struct qkd_pool *pool = &m->end[end].pool;
	u64 avail = 0, window = m->capacity - pool->guard, id, lowest;
	struct qkd_pool_figures fig;
	u32 blocks = 0, i;

	for (i = 0; i < m->capacity; i++) {
		struct qkd_pool_slot *slot = &pool->slots[i];

		if (check_slot(m, end, i))
			return -1;
		if (slot->len) {
			blocks++;
			if (own(end, slot->block_id))
				avail += slot->untaken;
		}
	}
	if (blocks != pool->blocks || avail != pool->avail)
		FAIL(m, "pool totals disagree with its slots");
	if (pool->level != model_level(pool))
		FAIL(m, "pool level disagrees with avail and thresholds");
	qkd_pool_figures(pool, &fig);
	if (fig.capacity != m->capacity || fig.blocks != blocks ||
	    fig.avail != avail || fig.level != pool->level ||
	    fig.warn != pool->warn || fig.ready != pool->ready)
		FAIL(m, "reported pool figures disagree with the pool");
	if (!pool->have_blocks)
		return 0;
	if (pool->newest_id + 1 > window &&
	    pool->retired_below < pool->newest_id + 1 - window)
		FAIL(m, "retire guard fell behind");
	lowest = pool->newest_id + 1 > m->capacity ?
		 pool->newest_id + 1 - m->capacity : 0;
	for (id = lowest; id <= pool->newest_id; id++) {
		struct qkd_pool_slot *slot = &pool->slots[id % m->capacity];

		if (present(m, end, id) && (!slot->len || slot->block_id != id))
			FAIL(m, "block in the window missing from the pool");
	}
	return 0;
}

int model_check(struct pool_model *m)
{
	if (m->failure)
		return -1;
	if (check_end(m, 0) || check_end(m, 1))
		return -1;
	return 0;
}
