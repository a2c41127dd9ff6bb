// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for kma.c: the record store (lookup, lifecycle, tombstones,
 * expiry queues, bounds), key bytes zeroised when a record leaves the
 * live states, pool levels against thresholds, and link configuration
 * errors.
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
#include <openssl/crypto.h>
#include <sanitizer/asan_interface.h>

#include "kma/kma.h"

#define SEC	1000000000ull

static uint64_t now_ns = 1700000000ull * SEC;
static char dir[] = "/tmp/test_kma.XXXXXX";

static uint64_t fake_now(void *arg)
{
	return now_ns;
}

/* A store over one sim link end on the fake clock. */
static struct kma *make_kma(uint64_t warn, uint64_t ready)
{
	static const uint8_t seed[32] = { 1, 2, 3 };
	struct km_node_cfg node = { .name = "A" };
	struct kma_link_cfg link = {
		.name = "AB", .peer = "B", .source = KM_SOURCE_SIM,
		.role = QKD_ROLE_TX, .rate = 8000000, .block_size = 1000,
		.pool_warn = warn, .pool_ready = ready,
	};
	struct keysrc_sim_cfg sim = {
		.link_name = "AB", .state_dir = dir, .role = QKD_ROLE_TX,
		.seed = seed, .rate = 8000000, .block_size = 1000,
		.now_ns = fake_now,
	};
	char err[128];
	struct keysrc *src = keysrc_sim_new(&sim, err, sizeof(err));
	struct kma *kma;

	assert_non_null(src);
	memset(link.seed, 0x77, sizeof(link.seed));
	kma = kma_new_with_sources(&node, &link, &src, 1, err, sizeof(err));
	assert_non_null(kma);
	return kma;
}

static void uuid_n(char out[KSA_KEY_ID_LEN], unsigned n)
{
	snprintf(out, KSA_KEY_ID_LEN, "%08x-0000-4000-8000-000000000000", n);
}

static void test_add_find_states(void **state)
{
	struct kma *kma = make_kma(0, 0);
	struct kma_link *l = kma_link_by_peer(kma, "B");
	char id[KSA_KEY_ID_LEN];
	struct kma_key *k;

	assert_non_null(l);
	assert_null(kma_link_by_peer(kma, "C"));
	assert_string_equal(kma_link_name(l), "AB");
	uuid_n(id, 1);
	k = kma_key_add(kma, l, id, KMA_KEY_STORED);
	assert_non_null(k);
	assert_ptr_equal(kma_key_find(kma, id), k);
	assert_int_equal(kma_key_live_count(kma), 1);
	/* The same UUID twice, or a malformed one, is refused. */
	assert_null(kma_key_add(kma, l, id, KMA_KEY_STORED));
	assert_int_equal(errno, EEXIST);
	assert_null(kma_key_add(kma, l, "short", KMA_KEY_STORED));
	kma_key_set_state(kma, k, KMA_KEY_SUPPLIED);
	assert_int_equal(kma_key_live_count(kma), 1);
	kma_key_set_state(kma, k, KMA_KEY_CONSUMED);
	assert_int_equal(kma_key_live_count(kma), 0);
	/* A tombstone is still found (a repeated ID is recognised). */
	assert_ptr_equal(kma_key_find(kma, id), k);
	assert_string_equal(kma_key_state_name(kma_key_state(k)), "consumed");
	kma_key_remove(kma, k);
	assert_null(kma_key_find(kma, id));
	kma_free(kma);
}

/*
 * Removed records go back to the store's own free list: they must come
 * back zeroed, and in between AddressSanitizer must see them as freed.
 */
static int first_info(void *arg, const struct kma_key_info *k)
{
	*(struct kma_key_info *)arg = *k;
	return 1;
}

static void test_records_reused(void **state)
{
	struct kma *kma = make_kma(0, 0);
	struct kma_link *l = kma_link_at(kma, 0);
	char id[KSA_KEY_ID_LEN];
	struct kma_key *k, *again;
	struct kma_key_info info = { .gen_time_ns = 1 };

	uuid_n(id, 1);
	k = kma_key_add(kma, l, id, KMA_KEY_STORED);
	assert_non_null(k);
	kma_key_set_source(k, 42, 8, 7);
	kma_key_use(k)->n_slaves = 3;
	kma_key_remove(kma, k);
#ifdef __SANITIZE_ADDRESS__
	assert_true(__asan_address_is_poisoned(k));
#endif
	uuid_n(id, 2);
	again = kma_key_add(kma, l, id, KMA_KEY_STORED);
	assert_ptr_equal(again, k);	/* the one freed last comes first */
#ifdef __SANITIZE_ADDRESS__
	assert_false(__asan_address_is_poisoned(again));
#endif
	assert_int_equal(kma_key_src_id(again), 0);
	assert_int_equal(kma_key_len(again), 0);
	assert_int_equal(kma_key_use(again)->n_slaves, 0);
	kma_foreach_key(kma, first_info, &info);
	assert_int_equal(info.gen_time_ns, 0);
	kma_free(kma);
}

/* A second sim end, to peer C, for a store of two links. */
static struct kma *make_kma2(void)
{
	static const uint8_t seed[32] = { 4, 5, 6 };
	struct km_node_cfg node = { .name = "A" };
	struct kma_link_cfg links[2] = {
		{ .name = "AB", .peer = "B", .source = KM_SOURCE_SIM,
		  .role = QKD_ROLE_TX, .rate = 8000000, .block_size = 1000 },
		{ .name = "AC", .peer = "C", .source = KM_SOURCE_SIM,
		  .role = QKD_ROLE_TX, .rate = 8000000, .block_size = 1000 },
	};
	struct keysrc_sim_cfg sim = {
		.state_dir = dir, .role = QKD_ROLE_TX, .seed = seed,
		.rate = 8000000, .block_size = 1000, .now_ns = fake_now,
	};
	struct keysrc *srcs[2];
	char err[128];

	for (int i = 0; i < 2; i++) {
		sim.link_name = links[i].name;
		srcs[i] = keysrc_sim_new(&sim, err, sizeof(err));
		assert_non_null(srcs[i]);
	}
	return kma_new_with_sources(&node, links, srcs, 2, err, sizeof(err));
}

/*
 * A link removed at run time takes its records with it, bytes and
 * tombstones included; the other link neither moves nor loses a record.
 */
static void test_link_remove(void **state)
{
	struct kma *kma = make_kma2();
	struct kma_link *ab, *ac;
	char id[KSA_KEY_ID_LEN];
	struct kma_key *k;
	uint8_t *bytes;
	struct kma_link_info li;

	assert_non_null(kma);
	ab = kma_link_at(kma, 0);
	ac = kma_link_at(kma, 1);
	for (unsigned i = 0; i < 6; i++) {
		uuid_n(id, i);
		k = kma_key_add(kma, i % 2 ? ac : ab, id, KMA_KEY_STORED);
		assert_non_null(k);
		kma_key_set_source(k, i, 16, 1);
		bytes = OPENSSL_secure_malloc(16);
		assert_non_null(bytes);
		memset(bytes, 0x5a, 16);
		kma_key_set_bytes(k, bytes);
		if (i >= 4)
			kma_key_set_state(kma, k, KMA_KEY_DESTROYED);
	}
	assert_int_equal(kma_key_live_count(kma), 4);
	assert_int_equal(kma_link_remove(kma, "AC"), 0);
	assert_int_equal(kma_link_count(kma), 1);
	assert_ptr_equal(kma_link_at(kma, 0), ab);
	assert_null(kma_link_by_peer(kma, "C"));
	assert_int_equal(kma_key_live_count(kma), 2);
	for (unsigned i = 0; i < 6; i++) {
		uuid_n(id, i);
		k = kma_key_find(kma, id);
		if (i % 2) {
			assert_null(k);
			continue;
		}
		assert_non_null(k);
		assert_ptr_equal(kma_key_link(k), ab);
		if (i < 4)
			assert_int_equal(kma_key_bytes(k)[15], 0x5a);
	}
	assert_int_equal(kma_link_info(kma, 0, &li), 0);
	assert_string_equal(li.name, "AB");
	assert_int_equal(li.keys_held, 2);
	assert_int_equal(kma_link_info(kma, 1, &li), -1);
	assert_int_equal(kma_link_remove(kma, "AC"), -ENOENT);
	/* Without an event loop nothing can be opened. */
	{
		struct kma_link_cfg c = { .name = "AD", .peer = "D" };
		char err[128];

		assert_int_equal(kma_link_add(kma, &c, err, sizeof(err)),
				 -EINVAL);
	}
	kma_free(kma);
}

static void test_bytes_freed_on_final_state(void **state)
{
	struct kma *kma = make_kma(0, 0);
	struct kma_link *l = kma_link_at(kma, 0);
	char id[KSA_KEY_ID_LEN];
	struct kma_key *k;
	uint8_t *bytes;

	uuid_n(id, 2);
	k = kma_key_add(kma, l, id, KMA_KEY_STORED);
	kma_key_set_source(k, 0, 32, 0);
	bytes = OPENSSL_secure_malloc(32);
	assert_non_null(bytes);
	memset(bytes, 0xee, 32);
	kma_key_set_bytes(k, bytes);
	kma_key_set_state(kma, k, KMA_KEY_DESTROYED);
	assert_null(kma_key_bytes(k));
	/* And a live record's bytes go with kma_free() (ASan checks). */
	uuid_n(id, 3);
	k = kma_key_add(kma, l, id, KMA_KEY_STORED);
	kma_key_set_source(k, 0, 16, 0);
	kma_key_set_bytes(k, OPENSSL_secure_malloc(16));
	kma_free(kma);
}

static int collect(void *arg, const struct kma_key_info *k)
{
	int *n = arg;

	assert_int_equal(strlen(k->key_id), 36);
	(*n)++;
	return *n == 3;		/* stop after three */
}

static void test_foreach_oldest_first(void **state)
{
	struct kma *kma = make_kma(0, 0);
	struct kma_link *l = kma_link_at(kma, 0);
	char id[KSA_KEY_ID_LEN];
	int n = 0;

	for (unsigned i = 0; i < 5; i++) {
		uuid_n(id, 10 + i);
		assert_non_null(kma_key_add(kma, l, id, KMA_KEY_RESERVED));
	}
	uuid_n(id, 10);
	assert_string_equal(kma_key_uuid(kma_key_oldest(kma, KMA_Q_RESERVED)), id);
	kma_foreach_key(kma, collect, &n);
	assert_int_equal(n, 3);
	kma_free(kma);
}

static const char *oldest_in(struct kma *kma, enum kma_queue q)
{
	struct kma_key *k = kma_key_oldest(kma, q);

	return k ? kma_key_uuid(k) : "";
}

/*
 * Each record is in the queue of its state's class, in the order it came
 * there: a state change within a class keeps its place, a change of class
 * moves it to the back of the new queue.
 */
static void test_expiry_queues(void **state)
{
	struct kma *kma = make_kma(0, 0);
	struct kma_link *l = kma_link_at(kma, 0);
	char id[5][KSA_KEY_ID_LEN];
	struct kma_key *k[5];

	for (unsigned i = 0; i < 5; i++) {
		uuid_n(id[i], 20 + i);
		k[i] = kma_key_add(kma, l, id[i], i % 2 ? KMA_KEY_STORED :
						      KMA_KEY_RESERVED);
		assert_non_null(k[i]);
	}
	/* RESERVED: 0 2 4; STORED: 1 3; FINAL: none. */
	assert_string_equal(oldest_in(kma, KMA_Q_RESERVED), id[0]);
	assert_ptr_equal(kma_key_queue_next(k[0]), k[2]);
	assert_string_equal(oldest_in(kma, KMA_Q_STORED), id[1]);
	assert_string_equal(oldest_in(kma, KMA_Q_FINAL), "");

	kma_key_set_state(kma, k[1], KMA_KEY_SUPPLIED);	/* keeps its place */
	assert_string_equal(oldest_in(kma, KMA_Q_STORED), id[1]);
	kma_key_set_state(kma, k[2], KMA_KEY_CONSUMED);
	kma_key_set_state(kma, k[0], KMA_KEY_DESTROYED);
	assert_string_equal(oldest_in(kma, KMA_Q_RESERVED), id[4]);
	assert_null(kma_key_queue_next(k[4]));
	/* Tombstones in the order they ended, not the order of creation. */
	assert_string_equal(oldest_in(kma, KMA_Q_FINAL), id[2]);
	assert_ptr_equal(kma_key_queue_next(k[2]), k[0]);
	assert_true(kma_key_queued_ms(k[0]) >= kma_key_queued_ms(k[4]));

	kma_key_remove(kma, k[2]);
	assert_string_equal(oldest_in(kma, KMA_Q_FINAL), id[0]);
	kma_key_remove(kma, k[1]);
	assert_string_equal(oldest_in(kma, KMA_Q_STORED), id[3]);
	kma_free(kma);
}

static void test_bounded(void **state)
{
	struct kma *kma = make_kma(0, 0);
	struct kma_link *l = kma_link_at(kma, 0);
	char id[KSA_KEY_ID_LEN];
	struct kma_key *k;
	unsigned i;

	/* Fill the store with live records: the next one is refused. */
	for (i = 0; i < KMA_MAX_RECORDS; i++) {
		uuid_n(id, i);
		k = kma_key_add(kma, l, id, KMA_KEY_STORED);
		assert_non_null(k);
		if (i == 7)
			kma_key_set_state(kma, k, KMA_KEY_CONSUMED);
	}
	uuid_n(id, 5);
	kma_key_set_state(kma, kma_key_find(kma, id), KMA_KEY_DESTROYED);
	/*
	 * Two tombstones: each makes room for one more record, the one that
	 * ended first (7) first, whichever was created first.
	 */
	uuid_n(id, i);
	assert_non_null(kma_key_add(kma, l, id, KMA_KEY_STORED));
	uuid_n(id, 7);
	assert_null(kma_key_find(kma, id));
	uuid_n(id, 5);
	assert_non_null(kma_key_find(kma, id));
	uuid_n(id, ++i);
	assert_non_null(kma_key_add(kma, l, id, KMA_KEY_STORED));
	uuid_n(id, 5);
	assert_null(kma_key_find(kma, id));
	uuid_n(id, i + 1);
	assert_null(kma_key_add(kma, l, id, KMA_KEY_STORED));
	assert_int_equal(errno, ENOSPC);
	kma_free(kma);
}

static void test_pool_levels(void **state)
{
	struct kma *kma = make_kma(100000, 1000000);
	struct kma_link_info li;
	struct keysrc_key keys[64];
	static uint8_t bytes[64 * 1000];
	char err[64];

	assert_int_equal(kma_link_info(kma, 0, &li), 0);
	assert_string_equal(li.name, "AB");
	assert_string_equal(li.peer, "B");
	assert_true(li.up);
	assert_int_equal(li.level, QKD_POOL_READY);	/* 2 s window */
	/* Use it down below READY, then below WARNING, then to empty. */
	while (li.avail >= 1000000) {
		assert_int_equal(keysrc_alloc(kma_link_src(kma_link_at(kma, 0)),
					      1000, 64, keys, bytes, err,
					      sizeof(err)), 0);
		kma_link_info(kma, 0, &li);
	}
	assert_int_equal(li.level, QKD_POOL_LOW);
	while (li.avail >= 100000) {
		assert_int_equal(keysrc_alloc(kma_link_src(kma_link_at(kma, 0)),
					      1000, 1, keys, bytes, err,
					      sizeof(err)), 0);
		kma_link_info(kma, 0, &li);
	}
	assert_int_equal(li.level, QKD_POOL_WARNING);
	while (li.avail) {
		assert_int_equal(keysrc_alloc(kma_link_src(kma_link_at(kma, 0)),
					      1000, 1, keys, bytes, err,
					      sizeof(err)), 0);
		kma_link_info(kma, 0, &li);
	}
	assert_int_equal(li.level, QKD_POOL_EMPTY);
	assert_true(li.bytes_allocated >= 1000000);
	assert_int_equal(kma_link_info(kma, 1, &li), -1);
	kma_free(kma);
}

/* Thresholds changed at run time are in force at the next look. */
static void test_set_pool(void **state)
{
	struct kma *kma;
	struct kma_link_info li;

	now_ns += 10 * SEC;	/* a full pool again after test_pool_levels */
	kma = make_kma(100000, 1000000);
	kma_link_info(kma, 0, &li);
	assert_int_equal(li.level, QKD_POOL_READY);
	assert_true(li.avail < 100000000);
	/* ready above what the pool holds: LOW; warn too: WARNING */
	assert_int_equal(kma_link_set_pool(kma, "AB", 1000, 100000000), 0);
	kma_link_info(kma, 0, &li);
	assert_int_equal(li.pool_warn, 1000);
	assert_int_equal(li.pool_ready, 100000000);
	assert_int_equal(li.level, QKD_POOL_LOW);
	assert_int_equal(kma_link_set_pool(kma, "AB", 100000000, 100000000), 0);
	kma_link_info(kma, 0, &li);
	assert_int_equal(li.level, QKD_POOL_WARNING);
	/* 0: the defaults of a [link] without them, 10% and 50% of 1 s */
	assert_int_equal(kma_link_set_pool(kma, "AB", 0, 0), 0);
	kma_link_info(kma, 0, &li);
	assert_int_equal(li.pool_warn, 100000);
	assert_int_equal(li.pool_ready, 500000);
	assert_int_equal(li.level, QKD_POOL_READY);
	assert_int_equal(kma_link_set_pool(kma, "AC", 1, 2), -ENOENT);
	kma_free(kma);
}

static void test_config_errors(void **state)
{
	struct km_node_cfg node = { .name = "A" };
	struct kma_link_cfg links[2] = {
		{ .name = "AB", .peer = "B", .source = KM_SOURCE_SIM,
		  .role = QKD_ROLE_TX, .rate = 8000000, .block_size = 1000 },
		{ .name = "AB2", .peer = "B", .source = KM_SOURCE_SIM,
		  .role = QKD_ROLE_TX, .rate = 8000000, .block_size = 1000 },
	};
	char err[160] = "";

	snprintf(node.state_dir, sizeof(node.state_dir), "%s", dir);
	/* Two links to one peer: which one would a key use? */
	assert_null(kma_new(NULL, &node, links, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "two links to peer B"));
	/* A bad sim link names itself in the error. */
	links[0].block_size = 4;
	assert_null(kma_new(NULL, &node, links, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "link AB"));
	links[0].block_size = 1000;
	snprintf(node.state_dir, sizeof(node.state_dir), "/nonexistent/x");
	assert_null(kma_new(NULL, &node, links, 1, err, sizeof(err)));
}

static int group_setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int group_teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/AB.hwm", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_states),
		cmocka_unit_test(test_records_reused),
		cmocka_unit_test(test_bytes_freed_on_final_state),
		cmocka_unit_test(test_foreach_oldest_first),
		cmocka_unit_test(test_expiry_queues),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_pool_levels),
		cmocka_unit_test(test_set_pool),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_link_remove),
	};

	return cmocka_run_group_tests_name("kma", tests, group_setup,
					   group_teardown);
}
