// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for keysrc_sim.c: two ends of one simulated link in one
 * process, on a fake clock.  Block contents are checked against AES-256-CTR
 * computed here with OpenSSL directly.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "kma/keysrc.h"

#define RATE		8000000ull	/* bit/s: 1000 blocks/s of 1000 B */
#define BLOCK		1000
#define SEC		1000000000ull

struct fixture {
	uint64_t now;			/* fake CLOCK_REALTIME, ns */
	char dir_tx[64], dir_rx[64];
	uint8_t seed[32];
	struct keysrc *tx, *rx;
};

static uint64_t fake_now(void *arg)
{
	return ((struct fixture *)arg)->now;
}

static struct keysrc *open_end(struct fixture *f, enum qkd_role role)
{
	struct keysrc_sim_cfg cfg = {
		.link_name = "ab",
		.state_dir = role == QKD_ROLE_TX ? f->dir_tx : f->dir_rx,
		.role = role,
		.seed = f->seed,
		.rate = RATE,
		.block_size = BLOCK,
		.now_ns = fake_now,
		.now_arg = f,
	};
	char err[128] = "";
	struct keysrc *s = keysrc_sim_new(&cfg, err, sizeof(err));

	if (!s)
		print_error("keysrc_sim_new: %s\n", err);
	assert_non_null(s);
	return s;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->now = 1700000000ull * SEC;
	for (int i = 0; i < 32; i++)
		f->seed[i] = (uint8_t)(i * 7 + 1);
	strcpy(f->dir_tx, "/tmp/test_keysrc_tx.XXXXXX");
	strcpy(f->dir_rx, "/tmp/test_keysrc_rx.XXXXXX");
	assert_non_null(mkdtemp(f->dir_tx));
	assert_non_null(mkdtemp(f->dir_rx));
	f->tx = open_end(f, QKD_ROLE_TX);
	f->rx = open_end(f, QKD_ROLE_RX);
	*state = f;
	return 0;
}

static void rm_dir(const char *dir)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/ab.hwm", dir);
	unlink(path);
	rmdir(dir);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	keysrc_free(f->tx);
	keysrc_free(f->rx);
	rm_dir(f->dir_tx);
	rm_dir(f->dir_rx);
	free(f);
	return 0;
}

/* Independent reference: block n is AES-256-CTR(seed, IV = n || 0^64). */
static void ref_block(const uint8_t seed[32], uint64_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t iv[16] = { 0 }, zero[BLOCK] = { 0 };
	int len;

	for (int i = 0; i < 8; i++)
		iv[i] = (uint8_t)(n >> (56 - 8 * i));
	assert_non_null(c);
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), NULL, seed,
					    iv), 1);
	assert_int_equal(EVP_EncryptUpdate(c, out, &len, zero, BLOCK), 1);
	EVP_CIPHER_CTX_free(c);
}

static void test_both_ends_agree(void **state)
{
	struct fixture *f = *state;
	struct keysrc_key keys[10];
	uint8_t a[10 * 32], b[32], ref[BLOCK];
	char err[128];

	f->now += SEC / 10;	/* 100 blocks */
	assert_int_equal(keysrc_alloc(f->tx, 32, 10, keys, a, err,
				      sizeof(err)), 0);
	for (int i = 0; i < 10; i++) {
		uint64_t blk = keysrc_block_of(keys[i].id);

		assert_int_equal(blk % 2, 0);	/* tx: even blocks */
		assert_int_equal(keys[i].len, 32);
		assert_int_equal(keysrc_get(f->rx, keys[i].id, 32, b, NULL,
					    err, sizeof(err)), 0);
		assert_memory_equal(a + i * 32, b, 32);
		ref_block(f->seed, blk, ref);
		assert_memory_equal(ref + keysrc_offset_of(keys[i].id), b, 32);
	}
	/* Keys at offsets that are not multiples of the AES block. */
	assert_int_equal(keysrc_alloc(f->tx, 7, 10, keys, a, err,
				      sizeof(err)), 0);
	for (int i = 0; i < 10; i++) {
		ref_block(f->seed, keysrc_block_of(keys[i].id), ref);
		assert_memory_equal(ref + keysrc_offset_of(keys[i].id),
				    a + i * 7, 7);
		assert_int_equal(keysrc_get(f->rx, keys[i].id, 7, b, NULL,
					    err, sizeof(err)), 0);
		assert_memory_equal(a + i * 7, b, 7);
	}
	/* And the other direction: rx allocates odd blocks. */
	assert_int_equal(keysrc_alloc(f->rx, 32, 1, keys, a, err,
				      sizeof(err)), 0);
	assert_int_equal(keysrc_block_of(keys[0].id) % 2, 1);
	assert_int_equal(keysrc_get(f->tx, keys[0].id, 32, b, NULL, err,
				    sizeof(err)), 0);
	assert_memory_equal(a, b, 32);
}

static void test_no_byte_twice(void **state)
{
	struct fixture *f = *state;
	struct keysrc_key keys[200];
	static uint8_t bytes[200 * 100];
	uint8_t b[100];
	char err[128];
	uint64_t end = 0;

	f->now += SEC;
	for (int round = 0; round < 5; round++) {
		assert_int_equal(keysrc_alloc(f->tx, 100, 200, keys, bytes,
					      err, sizeof(err)), 0);
		for (int i = 0; i < 200; i++) {
			/* Keys come in increasing, non-overlapping order. */
			uint64_t start = keysrc_block_of(keys[i].id) * BLOCK +
					 keysrc_offset_of(keys[i].id);

			assert_true(start >= end);
			end = start + 100;
		}
	}
	/* A fetched key cannot be fetched again, nor a part of it. */
	assert_int_equal(keysrc_get(f->rx, keys[0].id, 100, b, NULL, err,
				    sizeof(err)), 0);
	assert_int_equal(keysrc_get(f->rx, keys[0].id, 100, b, NULL, err,
				    sizeof(err)), -EALREADY);
	assert_int_equal(keysrc_get(f->rx, keys[0].id + 50, 10, b, NULL, err,
				    sizeof(err)), -EALREADY);
	/* A discarded range cannot be fetched. */
	assert_int_equal(keysrc_discard(f->rx, keys[1].id, 100), 0);
	assert_int_equal(keysrc_get(f->rx, keys[1].id, 100, b, NULL, err,
				    sizeof(err)), -EALREADY);
}

static void test_partition(void **state)
{
	struct fixture *f = *state;
	struct keysrc_key k;
	uint8_t a[16], b[16];
	char err[128];

	f->now += SEC / 10;
	assert_int_equal(keysrc_alloc(f->tx, 16, 1, &k, a, err, sizeof(err)),
			 0);
	/* The allocating end cannot "get" its own share. */
	assert_int_equal(keysrc_get(f->tx, k.id, 16, b, NULL, err,
				    sizeof(err)), -EINVAL);
	/* Fresh odd block: the tx end may fetch it, the rx end not. */
	uint64_t odd = (keysrc_block_of(k.id) + 1) << QKD_KEY_ID_OFFSET_BITS;

	assert_int_equal(keysrc_get(f->rx, odd, 16, b, NULL, err,
				    sizeof(err)), -EINVAL);
	assert_int_equal(keysrc_get(f->tx, odd, 16, b, NULL, err,
				    sizeof(err)), 0);
}

static void test_availability_follows_clock(void **state)
{
	struct fixture *f = *state;
	struct keysrc_key keys[8];
	uint8_t bytes[8 * BLOCK];
	char err[128];

	/* The window holds blocks from before the start; use them all up. */
	uint64_t avail = keysrc_avail(f->tx);

	assert_true(avail >= 1000 * BLOCK);
	while (avail >= 8 * BLOCK) {
		assert_int_equal(keysrc_alloc(f->tx, BLOCK, 8, keys, bytes,
					      err, sizeof(err)), 0);
		avail -= 8 * BLOCK;
	}
	while (avail) {
		assert_int_equal(keysrc_alloc(f->tx, BLOCK, 1, keys, bytes,
					      err, sizeof(err)), 0);
		avail -= BLOCK;
	}
	assert_int_equal(keysrc_avail(f->tx), 0);
	assert_int_equal(keysrc_alloc(f->tx, 16, 1, keys, bytes, err,
				      sizeof(err)), -ENOSPC);
	f->now += 10 * SEC / 1000;	/* 10 blocks, 5 of them ours */
	assert_int_equal(keysrc_avail(f->tx), 5 * BLOCK);
	assert_int_equal(keysrc_alloc(f->tx, BLOCK, 6, keys, bytes, err,
				      sizeof(err)), -ENOSPC);
	assert_int_equal(keysrc_alloc(f->tx, BLOCK, 5, keys, bytes, err,
				      sizeof(err)), 0);
	assert_int_equal(keysrc_avail(f->tx), 0);
	/* A block the clock has not reached does not exist for get either
	 * (beyond the small skew allowance). */
	uint64_t far = (keysrc_sim_current_block(f->rx) + 1001) |
		       0;	/* even: the tx share */

	far += far % 2;
	assert_int_equal(keysrc_get(f->rx, far << QKD_KEY_ID_OFFSET_BITS, 16,
				    bytes, NULL, err, sizeof(err)), -ENOENT);
}

/*
 * Generation control: a stopped end makes no more blocks (avail frozen,
 * then falling as the window slides; the peer's keys from after the stop
 * are not there); started again, it makes blocks from the clock's block
 * on, never one from the gap, and both ends still agree.
 */
static void test_generation_stop_start(void **state)
{
	struct fixture *f = *state;
	struct keysrc_gen g;
	struct keysrc_key k;
	uint8_t a[16], b[16];
	char err[128];
	uint64_t avail, gap_start, gap_end;

	keysrc_generation(f->tx, &g);
	assert_true(g.control && g.running && g.has_skr && !g.has_qber &&
		    !g.has_card);
	assert_int_equal(g.skr_bps, RATE);
	avail = keysrc_avail(f->tx);
	assert_int_equal(keysrc_set_generation(f->tx, false, err, sizeof(err)),
			 0);
	assert_int_equal(keysrc_set_generation(f->rx, false, err, sizeof(err)),
			 0);
	gap_start = keysrc_sim_current_block(f->tx);
	keysrc_generation(f->tx, &g);
	assert_false(g.running);
	assert_int_equal(g.skr_bps, 0);
	assert_false(keysrc_is_up(f->tx));
	f->now += SEC / 10;		/* 100 blocks the clock passes */
	assert_true(keysrc_avail(f->tx) <= avail);
	f->now += 10 * SEC;		/* the whole window slides past */
	assert_int_equal(keysrc_avail(f->tx), 0);
	assert_int_equal(keysrc_alloc(f->tx, 16, 1, &k, a, err, sizeof(err)),
			 -ENOSPC);
	/* A block of the gap does not exist at the stopped rx end. */
	k.id = (keysrc_sim_current_block(f->rx) - 2) & ~1ull;
	assert_int_equal(keysrc_get(f->rx, k.id << QKD_KEY_ID_OFFSET_BITS, 16,
				    b, NULL, err, sizeof(err)), -ENOENT);
	/* Start again (stopping twice, starting twice: no change). */
	assert_int_equal(keysrc_set_generation(f->tx, true, err, sizeof(err)),
			 0);
	assert_int_equal(keysrc_set_generation(f->tx, true, err, sizeof(err)),
			 0);
	assert_int_equal(keysrc_set_generation(f->rx, true, err, sizeof(err)),
			 0);
	gap_end = keysrc_sim_current_block(f->tx);
	assert_true(keysrc_is_up(f->tx));
	assert_int_equal(keysrc_avail(f->tx), 0);
	f->now += SEC / 100;		/* 10 new blocks, 5 of them ours */
	assert_int_equal(keysrc_avail(f->tx), 5 * BLOCK);
	assert_int_equal(keysrc_alloc(f->tx, 16, 1, &k, a, err, sizeof(err)),
			 0);
	assert_true(keysrc_block_of(k.id) >= gap_end);
	assert_true(gap_end > gap_start);
	assert_int_equal(keysrc_get(f->rx, k.id, 16, b, NULL, err,
				    sizeof(err)), 0);
	assert_memory_equal(a, b, 16);
}

static void test_old_blocks_evicted(void **state)
{
	struct fixture *f = *state;
	struct keysrc_key k;
	uint8_t a[16], b[16];
	char err[128];

	f->now += SEC / 10;
	assert_int_equal(keysrc_alloc(f->tx, 16, 1, &k, a, err, sizeof(err)),
			 0);
	f->now += 60 * SEC;	/* far beyond the store's window */
	assert_int_equal(keysrc_get(f->rx, k.id, 16, b, NULL, err,
				    sizeof(err)), -ENOENT);
}

static void test_restart_never_reissues(void **state)
{
	struct fixture *f = *state;
	struct keysrc_key k[50];
	uint8_t bytes[50 * 64], b[64];
	uint64_t last_tx, last_rx, fetched;
	char err[128];

	f->now += SEC / 10;
	assert_int_equal(keysrc_alloc(f->tx, 64, 50, k, bytes, err,
				      sizeof(err)), 0);
	last_tx = keysrc_block_of(k[49].id);
	fetched = k[0].id;
	assert_int_equal(keysrc_get(f->rx, fetched, 64, b, NULL, err,
				    sizeof(err)), 0);
	assert_int_equal(keysrc_alloc(f->rx, 64, 50, k, bytes, err,
				      sizeof(err)), 0);
	last_rx = keysrc_block_of(k[49].id);

	/* Restart both ends at the same instant (kill -9 and back). */
	keysrc_free(f->tx);
	keysrc_free(f->rx);
	f->tx = open_end(f, QKD_ROLE_TX);
	f->rx = open_end(f, QKD_ROLE_RX);
	assert_true(keysrc_sim_start_block(f->tx) > last_tx);
	assert_true(keysrc_sim_start_block(f->rx) > last_rx);
	/* The key fetched before the restart cannot be fetched again. */
	assert_int_equal(keysrc_get(f->rx, fetched, 64, b, NULL, err,
				    sizeof(err)), -ENOENT);
	/* New allocations lie above everything handed out before, even when
	 * the clock has not moved past the mark yet. */
	f->now += 5 * SEC;
	assert_int_equal(keysrc_alloc(f->tx, 64, 1, k, bytes, err,
				      sizeof(err)), 0);
	assert_true(keysrc_block_of(k[0].id) > last_tx);
}

static void test_restart_clock_behind_mark(void **state)
{
	struct fixture *f = *state;
	struct keysrc_key k;
	uint8_t a[16];
	char err[128];

	f->now += SEC / 10;
	assert_int_equal(keysrc_alloc(f->tx, 16, 1, &k, a, err, sizeof(err)),
			 0);
	keysrc_free(f->tx);
	f->now -= 10 * SEC;	/* clock stepped back */
	f->tx = open_end(f, QKD_ROLE_TX);
	assert_true(keysrc_sim_start_block(f->tx) > keysrc_block_of(k.id));
	/* Until the clock passes the mark nothing can be allocated. */
	assert_int_equal(keysrc_alloc(f->tx, 16, 1, &k, a, err, sizeof(err)),
			 -ENOSPC);
}

static void test_bad_inputs(void **state)
{
	struct fixture *f = *state;
	struct keysrc_key k;
	uint8_t a[BLOCK + 1];
	char err[128];
	uint64_t odd;

	f->now += SEC / 10;
	assert_int_equal(keysrc_alloc(f->tx, 0, 1, &k, a, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(keysrc_alloc(f->tx, BLOCK + 1, 1, &k, a, err,
				      sizeof(err)), -EINVAL);
	assert_int_equal(keysrc_alloc(f->tx, 16, 0, &k, a, err, sizeof(err)),
			 -EINVAL);
	odd = (keysrc_sim_current_block(f->tx) - 1) | 1;
	odd <<= QKD_KEY_ID_OFFSET_BITS;
	assert_int_equal(keysrc_get(f->tx, odd + BLOCK - 8, 16, a, NULL, err,
				    sizeof(err)), -EINVAL);
	assert_int_equal(keysrc_get(f->tx, odd, 0, a, NULL, err,
				    sizeof(err)), -EINVAL);
	assert_int_equal(keysrc_get(f->tx, odd + BLOCK, 1, a, NULL, err,
				    sizeof(err)), -EINVAL);
	assert_int_equal(keysrc_discard(f->tx, odd, 0), -EINVAL);
}

static void test_bad_config(void **state)
{
	struct fixture *f = *state;
	struct keysrc_sim_cfg cfg = {
		.link_name = "x", .state_dir = "/nonexistent/dir",
		.role = QKD_ROLE_TX, .seed = f->seed, .rate = RATE,
		.block_size = BLOCK,
	};
	char err[128] = "";

	assert_null(keysrc_sim_new(&cfg, err, sizeof(err)));
	assert_true(strlen(err) > 0);
	cfg.state_dir = f->dir_tx;
	cfg.block_size = 8;
	assert_null(keysrc_sim_new(&cfg, err, sizeof(err)));
	cfg.block_size = BLOCK;
	cfg.rate = 0;
	assert_null(keysrc_sim_new(&cfg, err, sizeof(err)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_both_ends_agree, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_byte_twice, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_partition, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_availability_follows_clock,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation_stop_start,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_blocks_evicted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restart_never_reissues,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_clock_behind_mark,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_inputs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("keysrc_sim", tests, NULL, NULL);
}
