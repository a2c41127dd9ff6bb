// SPDX-License-Identifier: GPL-2.0
/*
 * Native unit test (TAP) of kernel/pool.c and kernel/ring.c's ingest path,
 * compiled unchanged over shim/, and of the shim's own crc32c and bitmap
 * code the figures depend on.  Built with ASan/UBSan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/bitmap.h>
#include <linux/crc32c.h>
#include <linux/slab.h>
#include "pool_model.h"
#include "qkd_dev_stubs.h"

static int test_no;
static int failures;

static void ok(bool cond, const char *name)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++test_no, name);
	if (!cond)
		failures++;
}

static void model_ok(struct pool_model *m, int rc, const char *name)
{
	if (m->failure)
		printf("# model: %s\n", m->failure);
	ok(rc == 0 && !m->failure, name);
}

static void test_crc32c(void)
{
	u8 buf[300];
	bool same = true;
	u32 i, len;

	/* The CRC-32C check value: crc of "123456789", inverted in and out. */
	ok(~crc32c(~0U, "123456789", 9) == 0xe3069283 &&
	   ~crc32c_sw(~0U, "123456789", 9) == 0xe3069283,
	   "crc32c check value (fast and table versions)");
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (u8)(i * 131 + 7);
	for (len = 0; len < 260; len++)
		for (i = 0; i < 9; i++)
			same &= crc32c(len, buf + i, len) ==
				crc32c_sw(len, buf + i, len);
	ok(same, "crc32c fast version equals the table at every length and alignment");
}

/* Bit by bit, to check the word-at-a-time shim against. */
static unsigned long naive_next(const unsigned long *map, unsigned long size,
				unsigned long start, bool value)
{
	for (; start < size; start++)
		if (test_bit(start, map) == value)
			return start;
	return size;
}

/* Is @found the first run of @nr zero bits below @size (or, if it says
 * there is none, is there really none)? */
static bool first_fit_ok(const unsigned long *map, unsigned long size,
			 unsigned int nr, unsigned long found)
{
	unsigned long i;

	if (found + nr <= size &&
	    naive_next(map, found + nr, found, true) != found + nr)
		return false;		/* not free */
	for (i = 0; i + nr <= size && i < found; i++)
		if (naive_next(map, i + nr, i, true) == i + nr)
			return false;	/* an earlier run was free */
	return true;
}

static void test_bitmap(void)
{
	unsigned long map[4], copy[4];
	bool find_ok = true, set_ok = true, area_ok = true;
	u64 s = 88172645463325252ull;
	unsigned int round, start, size, nr, i;

	for (round = 0; round < 2000; round++) {
		for (i = 0; i < 4; i++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			map[i] = round & 1 ? s : s & (s >> 3) & (s >> 7);
		}
		size = 1 + s % 256;
		start = (s >> 20) % 260;
		nr = 1 + (s >> 30) % 40;
		find_ok &= find_next_bit(map, size, start) ==
			   naive_next(map, size, start, true);
		find_ok &= find_next_zero_bit(map, size, start) ==
			   naive_next(map, size, start, false);
		area_ok &= first_fit_ok(map, size, nr,
					bitmap_find_next_zero_area(map, size, 0, nr, 0));
		memcpy(copy, map, sizeof(map));
		start %= 200;
		bitmap_set(map, start, nr);
		for (i = 0; i < 256; i++)
			set_ok &= test_bit(i, map) ==
				  (i >= start && i < start + nr ? 1 : test_bit(i, copy));
		bitmap_clear(map, start, nr);
		for (i = 0; i < 256; i++)
			set_ok &= test_bit(i, map) ==
				  (i >= start && i < start + nr ? 0 : test_bit(i, copy));
	}
	ok(find_ok, "find_next_bit/find_next_zero_bit agree with a bit-by-bit search");
	ok(area_ok, "bitmap_find_next_zero_area finds the first free run, or none");
	ok(set_ok, "bitmap_set/bitmap_clear touch exactly their range");
}

static void test_pool_pair(void)
{
	struct pool_model m;
	int rc = 0, i;

	if (model_init(&m, 16, 256)) {
		ok(false, "model set-up");
		return;
	}
	for (i = 0; i < 10; i++)
		rc |= model_ingest(&m, 0, 0, 3);
	rc |= model_alloc(&m, 0, 32, 6, false);
	rc |= model_alloc(&m, 1, 48, 2, false);
	model_ok(&m, rc, "both ends ingest and allocate from their own shares");
	for (i = 0; i < 8; i++)
		rc |= model_fetch_recorded(&m, i, false);
	model_ok(&m, rc, "the other end fetches every allocated key, byte-identical");
	for (i = 0; i < 8; i++)
		rc |= model_fetch_recorded(&m, i, false);
	model_ok(&m, rc, "fetching a consumed key again fails with -EALREADY");
	rc |= model_alloc(&m, 0, 100, 1, true);
	rc |= model_fetch_recorded(&m, 8, true);
	rc |= model_fetch_recorded(&m, 8, false);
	model_ok(&m, rc, "a reserved key is fetched by ID at both ends");
	for (i = 0; i < 40; i++)
		rc |= model_ingest(&m, i % 5 == 0, 0, i % 11 ? 3 : 1);
	for (i = 0; i < 9; i++)
		rc |= model_fetch_recorded(&m, i, false);
	rc |= model_discard(&m, 1, qkd_key_id(m.next_id - 1, 5), 20);
	rc |= model_thresholds(&m, 0, 4096, 100);
	model_ok(&m, rc, "eviction, gaps, one-sided blocks, discard: invariants hold");
	model_destroy(&m);
}

static int count_keys(void *ctx, u64 key_id, u32 len, u64 gen_time,
		      const u8 *material)
{
	(*(u32 *)ctx)++;
	return 0;
}

static void test_pool_limits(void)
{
	struct qkd_pool_event ev = {};
	struct qkd_pool pool;
	u8 block[64] = { 1 };
	u32 keys = 0, i;
	bool nomem = true;
	u64 id;

	for (i = 1; i <= 3; i++) {
		qkd_shim_alloc_fail_in = i;
		nomem &= qkd_pool_init(&pool, 8, 64, QKD_ROLE_TX) == -ENOMEM;
	}
	qkd_shim_alloc_fail_in = 0;
	ok(nomem, "qkd_pool_init fails cleanly on each allocation failure");

	if (qkd_pool_init(&pool, 16, 64, QKD_ROLE_TX)) {
		ok(false, "pool set-up");
		return;
	}
	ok(qkd_pool_alloc(&pool, 32, 1, false, count_keys, &keys, &ev) == -ENOSPC &&
	   !keys, "allocation from an empty pool: -ENOSPC, nothing handed out");
	for (id = 0; id < 40; id++)
		qkd_pool_insert(&pool, id, 0, block, sizeof(block), &ev);
	ok(ev.wasted > 0 && ev.evicted > 0 && pool.blocks == 16,
	   "unallocated own blocks are retired (wasted) before eviction");
	ok(qkd_pool_alloc(&pool, 65, 1, false, count_keys, &keys, &ev) == -EINVAL &&
	   qkd_pool_alloc(&pool, 0, 1, false, count_keys, &keys, &ev) == -EINVAL,
	   "key longer than a block or empty: -EINVAL");
	ok(qkd_pool_alloc(&pool, 64, 1000, false, count_keys, &keys, &ev) == -ENOSPC &&
	   !keys, "all-or-none: an allocation too large hands out nothing");
	qkd_pool_destroy(&pool);
}

/* ---- ring.c's drain, through the device work item ------------------- */

static u32 last_doorbell;

static void doorbell(struct qkd_dev *qdev, u32 next)
{
	last_doorbell = next;
}

/* Write one block into descriptor @i as a card would. */
static void card_write(struct qkd_dev *qdev, u32 i, u64 block_id, u16 flags,
		       bool bad_crc, u32 qber)
{
	struct qkd_ring_desc *desc = qkd_dev_ring_desc(qdev, i);
	u32 len = qdev->info.block_size;
	u8 *buf = qkd_dev_ring_buf(qdev, i);

	model_block(block_id, buf, len);
	desc->block_id = cpu_to_le64(block_id);
	desc->len = cpu_to_le32(len);
	desc->gen_time_ns = cpu_to_le64(block_id);
	desc->qber_ppm = cpu_to_le32(qber);
	desc->crc32c = cpu_to_le32(crc32c(~0U, buf, len) ^ bad_crc);
	desc->flags = cpu_to_le16(flags);
}

static int copy_key(void *ctx, u64 key_id, u32 len, u64 gen_time,
		    const u8 *material)
{
	memcpy(ctx, material, len);
	return 0;
}

static void test_ring_drain(void)
{
	struct qkd_dev *qdev = qkd_stub_dev_new(QKD_ROLE_TX, 64, 8, 16, doorbell);
	u8 want[64], got[64];
	struct qkd_pool_event ev = {};
	const char *why;
	bool clean = true;
	u32 i;

	if (!qdev) {
		ok(false, "device set-up");
		return;
	}
	card_write(qdev, 0, 0, 0, false, 0);
	card_write(qdev, 1, 1, 0, true, 0);			/* torn */
	card_write(qdev, 2, 2, QKD_DESC_F_ERROR, false, 0);	/* card: bad */
	card_write(qdev, 3, 5, 0, false, 200000);		/* QBER 20 % */
	card_write(qdev, 4, 7, 0, false, 0);
	qkd_dev_work(&qdev->work);
	ok(qkd_stat(qdev, QKD_STAT_BLOCKS_RECEIVED) == 2 &&
	   qkd_stat(qdev, QKD_STAT_BLOCKS_BAD) == 2 &&
	   qkd_stat(qdev, QKD_STAT_BLOCKS_QBER) == 1 &&
	   qkd_stat(qdev, QKD_STAT_BLOCKS_MISSED) == 5,
	   "drain: good, torn, card-error, high-QBER blocks and gaps counted");
	for (i = 0; i < 8; i++) {
		const u8 *buf = qkd_dev_ring_buf(qdev, i);
		u32 j;

		clean &= !!(le16_to_cpu(qkd_dev_ring_desc(qdev, i)->flags) &
			    QKD_DESC_F_CARD);
		for (j = 0; j < 64; j++)
			clean &= !buf[j];
	}
	ok(clean && last_doorbell == 5,
	   "drain: buffers zeroised, descriptors back to the card, doorbell at 5");
	model_block(7, want, sizeof(want));
	ok(qkd_pool_fetch(&qdev->pool, qkd_key_id(7, 0), 64, copy_key, got, &ev,
			  &why) == 0 && !memcmp(got, want, sizeof(want)),
	   "drain: a peer-share block reaches the pool intact");

	qkd_dev_report_dma_error(qdev);
	qkd_dev_work(&qdev->work);
	ok(qkd_stat(qdev, QKD_STAT_DMA_ERRORS) == 1 && qkd_stubs.card_stops == 1 &&
	   qkd_stubs.card_starts == 1 && qdev->ring.next == 0 && !qdev->error,
	   "DMA error: card stopped, ring reset, card restarted");
	qkd_stub_dev_free(qdev);
}

int main(void)
{
	printf("TAP version 13\n1..19\n");
	test_crc32c();
	test_bitmap();
	test_pool_pair();
	test_pool_limits();
	test_ring_drain();
	if (test_no != 19)
		printf("# planned 19 tests, ran %d\n", test_no);
	return failures || test_no != 19;
}
