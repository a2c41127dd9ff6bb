// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for blkring.c, the sorted ring of blocks that confirm.c and
 * keysrc_etsi014.c keep: push at the tail, pop at the head, wrap-around,
 * binary search over gaps in the IDs, and the ID at any offset of the
 * caller's struct.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kma/blkring.h"

struct elem {
	uint32_t tag;
	uint64_t id;		/* not first: id_off is honoured */
	uint8_t *bytes;
};

static void test_bad_init(void **state)
{
	struct blkring r;

	(void)state;
	assert_int_equal(blkring_init(&r, 0, sizeof(struct elem), 0), -EINVAL);
	assert_int_equal(blkring_init(&r, 4, 4, 0), -EINVAL);
	assert_null(r.slots);
}

static void test_push_find_pop(void **state)
{
	struct blkring r;
	struct elem *e;

	(void)state;
	assert_int_equal(blkring_init(&r, 4, sizeof(struct elem),
				      offsetof(struct elem, id)), 0);
	assert_null(blkring_find(&r, 0));
	for (uint64_t id = 10; id < 50; id += 10) {
		e = blkring_push(&r, id);
		assert_non_null(e);
		assert_int_equal(e->id, id);
		assert_int_equal(e->tag, 0);
		e->tag = (uint32_t)id;
	}
	assert_null(blkring_push(&r, 60));	/* full */
	assert_int_equal(r.n, 4);
	for (uint64_t id = 10; id < 50; id += 10) {
		e = blkring_find(&r, id);
		assert_non_null(e);
		assert_int_equal(e->tag, id);
		assert_null(blkring_find(&r, id + 1));	/* gaps */
	}
	assert_null(blkring_find(&r, 5));
	assert_null(blkring_find(&r, 45));
	blkring_pop(&r);
	assert_int_equal(r.n, 3);
	assert_null(blkring_find(&r, 10));
	assert_int_equal(((struct elem *)blkring_at(&r, 0))->id, 20);
	blkring_free(&r);
}

/* Many times round the ring: every held block is found, none other. */
static void test_wraparound(void **state)
{
	struct blkring r;
	uint64_t lo = 1, hi = 1;	/* held: [lo, hi) step 3 */

	(void)state;
	assert_int_equal(blkring_init(&r, 7, sizeof(struct elem),
				      offsetof(struct elem, id)), 0);
	for (int round = 0; round < 200; round++) {
		while (r.n < r.cap) {
			struct elem *e = blkring_push(&r, hi);

			assert_non_null(e);
			e->tag = (uint32_t)hi;
			hi += 3;
		}
		for (int k = 0; k < 1 + round % 5; k++) {
			assert_int_equal(blkring_id(&r, blkring_at(&r, 0)), lo);
			blkring_pop(&r);
			lo += 3;
		}
		for (uint64_t id = lo > 3 ? lo - 3 : 0; id < hi + 3; id++) {
			struct elem *e = blkring_find(&r, id);
			bool held = id >= lo && id < hi && (id - lo) % 3 == 0;

			assert_int_equal(e != NULL, held);
			if (e)
				assert_int_equal(e->tag, id);
		}
	}
	blkring_free(&r);
}

/* A popped slot comes back zeroed when pushed again. */
static void test_pop_zeroes(void **state)
{
	struct blkring r;
	struct elem *e;
	uint8_t x;

	(void)state;
	assert_int_equal(blkring_init(&r, 1, sizeof(struct elem),
				      offsetof(struct elem, id)), 0);
	e = blkring_push(&r, 1);
	e->bytes = &x;
	e->tag = 7;
	blkring_pop(&r);
	e = blkring_push(&r, 2);
	assert_null(e->bytes);
	assert_int_equal(e->tag, 0);
	assert_int_equal(e->id, 2);
	blkring_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_init),
		cmocka_unit_test(test_push_find_pop),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_pop_zeroes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
