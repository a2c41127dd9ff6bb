// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for blkstore.c, the block store of the etsi014 and file key
 * sources: two stores as the two ends of a link (tx owns even blocks, rx
 * odd ones) hold the same blocks; keys allocated at one end are fetched
 * by ID at the other with the same bytes, each byte once; all or none;
 * a short tail is wasted and counted; a full store drops its oldest
 * block; counters and the bytes this end may allocate stay exact.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/crypto.h>

#include "kma/blkstore.h"

#define BS	64

struct end {
	struct keysrc src;
	struct blkstore st;
};

static void end_init(struct end *e, enum qkd_role role, uint32_t cap)
{
	memset(e, 0, sizeof(*e));
	e->src.role = role;
	e->src.block_size = BS;
	assert_int_equal(blkstore_init(&e->st, &e->src, cap), 0);
}

/* Block @id's bytes: the same at both ends. */
static uint8_t *block_bytes(uint64_t id)
{
	uint8_t *b = OPENSSL_secure_malloc(BS);

	assert_non_null(b);
	for (int i = 0; i < BS; i++)
		b[i] = (uint8_t)(id * 31 + i);
	return b;
}

static void add_both(struct end *tx, struct end *rx, uint64_t id)
{
	assert_int_equal(blkstore_add(&tx->st, id, block_bytes(id), id, true),
			 0);
	assert_int_equal(blkstore_add(&rx->st, id, block_bytes(id), id, true),
			 0);
}

static void test_alloc_get(void **state)
{
	struct end tx, rx;
	struct keysrc_key keys[3];
	uint8_t mine[3 * 20], theirs[20];
	char err[128];

	(void)state;
	end_init(&tx, QKD_ROLE_TX, 8);
	end_init(&rx, QKD_ROLE_RX, 8);
	for (uint64_t id = 10; id < 14; id++)
		add_both(&tx, &rx, id);
	/* tx owns 10 and 12: 2 * 64 bytes */
	assert_int_equal(tx.st.own_avail, 2 * BS);
	assert_int_equal(tx.st.own_held, 2);
	assert_int_equal(tx.st.peer_held, 2);

	assert_int_equal(blkstore_alloc(&tx.st, 20, 3, keys, mine, err,
					sizeof(err)), 0);
	assert_int_equal(keys[0].id >> QKD_KEY_ID_OFFSET_BITS, 10);
	assert_int_equal(keys[2].id >> QKD_KEY_ID_OFFSET_BITS, 10);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(blkstore_get(&rx.st, keys[k].id, 20, theirs,
					      NULL, err, sizeof(err)), 0);
		assert_memory_equal(theirs, mine + k * 20, 20);
	}
	/* each byte once */
	assert_int_equal(blkstore_get(&rx.st, keys[1].id, 20, theirs, NULL,
				      err, sizeof(err)), -EALREADY);
	/* our own share is not fetched */
	assert_int_equal(blkstore_get(&tx.st, keys[1].id, 20, theirs, NULL,
				      err, sizeof(err)), -EINVAL);
	assert_int_equal(tx.src.allocated, 60);
	assert_int_equal(rx.src.fetched, 60);
	assert_int_equal(rx.src.fetch_failures, 1);
	assert_int_equal(tx.st.own_avail, 2 * BS - 60);
	blkstore_free(&tx.st);
	blkstore_free(&rx.st);
}

static void test_all_or_none_and_tail(void **state)
{
	struct end tx;
	struct keysrc_key keys[4];
	uint8_t out[4 * 40];
	char err[128];

	(void)state;
	end_init(&tx, QKD_ROLE_TX, 8);
	assert_int_equal(blkstore_add(&tx.st, 2, block_bytes(2), 0, true), 0);
	assert_int_equal(blkstore_add(&tx.st, 4, block_bytes(4), 0, true), 0);
	/* 40-byte keys: one per 64-byte block; three do not fit */
	assert_int_equal(blkstore_alloc(&tx.st, 40, 3, keys, out, err,
					sizeof(err)), -ENOSPC);
	assert_int_equal(tx.src.allocated, 0);
	assert_int_equal(tx.st.own_avail, 2 * BS);
	assert_int_equal(blkstore_alloc(&tx.st, 40, 2, keys, out, err,
					sizeof(err)), 0);
	/* the first block's 24-byte tail was wasted when the second key
	 * could not fit there, and the block went; the second keeps its */
	assert_int_equal(tx.src.discarded, 24);
	assert_int_equal(tx.st.own_avail, 24);
	assert_int_equal(blkstore_count(&tx.st), 1);
	assert_null(blkstore_find(&tx.st, 2));
	blkstore_free(&tx.st);
}

static void test_not_ready_and_full(void **state)
{
	struct end tx;
	struct keysrc_key key;
	uint8_t out[16];
	char err[128];

	(void)state;
	end_init(&tx, QKD_ROLE_TX, 2);
	assert_int_equal(blkstore_add(&tx.st, 2, block_bytes(2), 0, false), 0);
	assert_int_equal(tx.st.own_avail, 0);
	assert_int_equal(blkstore_alloc(&tx.st, 16, 1, &key, out, err,
					sizeof(err)), -ENOSPC);
	blkstore_ready(&tx.st, blkstore_find(&tx.st, 2));
	assert_int_equal(tx.st.own_avail, BS);
	assert_int_equal(blkstore_add(&tx.st, 4, block_bytes(4), 0, true), 0);
	/* full: block 2 goes, unused, and counts as discarded */
	assert_int_equal(blkstore_add(&tx.st, 6, block_bytes(6), 0, true), 0);
	assert_null(blkstore_find(&tx.st, 2));
	assert_int_equal(tx.src.discarded, BS);
	assert_int_equal(tx.st.own_held, 2);
	assert_int_equal(tx.st.own_avail, 2 * BS);
	/* a discard of part of block 4 */
	assert_int_equal(blkstore_discard(&tx.st, 4ull << QKD_KEY_ID_OFFSET_BITS,
					  16), 0);
	assert_int_equal(tx.st.own_avail, 2 * BS - 16);
	assert_int_equal(blkstore_discard(&tx.st, 4ull << QKD_KEY_ID_OFFSET_BITS,
					  BS + 1), -EINVAL);
	blkstore_free(&tx.st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_get),
		cmocka_unit_test(test_all_or_none_and_tail),
		cmocka_unit_test(test_not_ready_and_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
