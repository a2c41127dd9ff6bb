// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for confirm.c: the tag construction (its documented layout,
 * and that a change of any part changes it), the seed fingerprint, the
 * link parameter check, and two wrapped sim ends talking over an
 * in-memory Kx: equal seeds give equal keys and nothing before the
 * verdict; different bytes give no key at all, a count and an alarm at
 * both ends; equal roles are refused.
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
#include <time.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "core/alarm.h"
#include "kma/confirm.h"

#define SEC	1000000000ull

static uint64_t now_ns = 1700000000ull * SEC;
static char dir[] = "/tmp/test_confirm.XXXXXX";

static uint64_t fake_now(void *arg)
{
	return now_ns;
}

/* ---- the construction ---- */

static void fill(uint8_t *p, size_t n, uint8_t x)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(x + 31 * i);
}

static void test_tag_layout(void **state)
{
	uint8_t block[1024], nonce[16], tag[16], want[16];
	uint8_t msg[25 + 8 + 4 + 16 + 992];
	size_t outl = 0;

	fill(block, sizeof(block), 7);
	fill(nonce, sizeof(nonce), 99);
	assert_int_equal(confirm_tag(0x0102030405060708ull, nonce, block,
				     sizeof(block), tag), 0);
	/*
	 * Documentation/qkd/confirmation.rst: Poly1305, key = the block's
	 * last 32 bytes, message = label NUL, block ID (8, BE), block size
	 * (4, BE), nonce, the block's first block_size - 32 bytes.
	 */
	memcpy(msg, "qkdn key confirmation v1", 25);
	for (int i = 0; i < 8; i++)
		msg[25 + i] = (uint8_t)(i + 1);
	msg[33] = 0; msg[34] = 0; msg[35] = 4; msg[36] = 0;
	memcpy(msg + 37, nonce, 16);
	memcpy(msg + 53, block, 992);
	assert_non_null(EVP_Q_mac(NULL, "POLY1305", NULL, NULL, NULL,
				  block + 992, 32, msg, sizeof(msg), want,
				  sizeof(want), &outl));
	assert_int_equal(outl, 16);
	assert_memory_equal(tag, want, 16);
}

static void test_tag_sensitive(void **state)
{
	uint8_t block[256], nonce[16] = { 1 }, tag[16], t2[16];
	size_t pos[] = { 0, 100, 223, 224, 255 };	/* data and key */

	fill(block, sizeof(block), 3);
	assert_int_equal(confirm_tag(5, nonce, block, sizeof(block), tag), 0);
	assert_int_equal(confirm_tag(5, nonce, block, sizeof(block), t2), 0);
	assert_memory_equal(tag, t2, 16);
	for (size_t i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		block[pos[i]] ^= 0x01;
		assert_int_equal(confirm_tag(5, nonce, block, sizeof(block),
					     t2), 0);
		assert_memory_not_equal(tag, t2, 16);
		block[pos[i]] ^= 0x01;
	}
	assert_int_equal(confirm_tag(6, nonce, block, sizeof(block), t2), 0);
	assert_memory_not_equal(tag, t2, 16);
	nonce[15] ^= 0x80;
	assert_int_equal(confirm_tag(5, nonce, block, sizeof(block), t2), 0);
	assert_memory_not_equal(tag, t2, 16);
	assert_int_equal(confirm_tag(5, nonce, block, 32, t2), -1);
}

static void test_fingerprint(void **state)
{
	uint8_t s1[32], s2[32], f1[32], f2[32], f3[32];

	fill(s1, 32, 1);
	memcpy(s2, s1, 32);
	s2[31] ^= 1;
	assert_int_equal(confirm_seed_fingerprint(s1, f1), 0);
	assert_int_equal(confirm_seed_fingerprint(s1, f3), 0);
	assert_int_equal(confirm_seed_fingerprint(s2, f2), 0);
	assert_memory_equal(f1, f3, 32);
	assert_memory_not_equal(f1, f2, 32);
	/* Not the bare hash of the seed: the label separates it. */
	EVP_Digest(s1, 32, f3, NULL, EVP_sha256(), NULL);
	assert_memory_not_equal(f1, f3, 32);
	assert_memory_not_equal(f1, s1, 32);
}

static void test_params_check(void **state)
{
	struct confirm_params mine = {
		.kind = "sim", .role = QKD_ROLE_TX, .rate = 1000,
		.block_size = 1024, .has_fp = true, .fp = { 1 },
	};
	struct kxmsg m;
	char why[CONFIRM_WHY_MAX];

	kxmsg_clear(&m, KXMSG_LINK_PARAMS);
	strcpy(m.source, "sim");
	m.link_role = QKD_ROLE_RX;
	m.rate = 1000;
	m.block_size = 1024;
	m.has_fingerprint = 1;
	m.fingerprint[0] = 1;
	assert_int_equal(confirm_params_check("AB", "B", &mine, &m, why,
					      sizeof(why)), 0);
	m.link_role = QKD_ROLE_TX;
	assert_int_equal(confirm_params_check("AB", "B", &mine, &m, why,
					      sizeof(why)), -1);
	assert_string_equal(why, "link AB: both ends are role tx; one must be rx");
	m.link_role = QKD_ROLE_RX;
	m.fingerprint[0] = 2;
	assert_int_equal(confirm_params_check("AB", "B", &mine, &m, why,
					      sizeof(why)), -1);
	assert_string_equal(why, "link AB: seed fingerprints differ");
	m.fingerprint[0] = 1;
	m.rate = 2000;
	assert_int_equal(confirm_params_check("AB", "B", &mine, &m, why,
					      sizeof(why)), -1);
	assert_string_equal(why, "link AB: rates differ: 1000 bit/s here, 2000 at B");
	m.rate = 1000;
	m.block_size = 512;
	assert_int_equal(confirm_params_check("AB", "B", &mine, &m, why,
					      sizeof(why)), -1);
	assert_string_equal(why, "link AB: block sizes differ: 1024 here, 512 at B");
	m.block_size = 1024;
	strcpy(m.source, "kernel");
	assert_int_equal(confirm_params_check("AB", "B", &mine, &m, why,
					      sizeof(why)), -1);
	assert_string_equal(why, "link AB: key sources differ: sim here, kernel at B");
}

/* ---- two ends over an in-memory Kx ---- */

#define QMAX	4096

struct end {
	struct keysrc *src;
	struct end *other;
	struct kxmsg *q;	/* messages for this end: q[head..n) */
	size_t head, n;
	bool up;
};

static int t_send(void *arg, const char *node, const struct kxmsg *m)
{
	struct end *to = ((struct end *)arg)->other;

	if (!to->up || to->n == QMAX)
		return -1;
	if (to->head == to->n)
		to->head = to->n = 0;
	to->q[to->n++] = *m;
	return 0;
}

static bool t_is_up(void *arg, const char *node)
{
	return ((struct end *)arg)->other->up;
}

static const struct confirm_transport tr = { t_send, t_is_up };

/* Deliver until both queues are empty. */
static void deliver(struct end *a, struct end *b)
{
	while (a->head < a->n || b->head < b->n) {
		struct end *e = a->head < a->n ? a : b;

		/* Answers go to the other queue: this entry stays put. */
		confirm_receive(e->src, &e->q[e->head++]);
	}
	a->head = a->n = b->head = b->n = 0;
}

static void end_open(struct end *e, const char *name, enum qkd_role role,
		     enum qkd_role claimed, uint8_t seed_x)
{
	uint8_t seed[32] = { 9, 9, 9 };
	struct keysrc_sim_cfg sim = {
		.link_name = name, .state_dir = dir, .role = role,
		.seed = seed, .rate = 8000000, .block_size = 1024,
		.now_ns = fake_now,
	};
	struct confirm_cfg cc = {
		.link = "AB", .peer = "X",
		.params = { .kind = "sim", .role = claimed, .rate = 8000000,
			    .block_size = 1024, .has_fp = true },
	};
	char err[128];
	struct keysrc *in;

	/* Both claim the same seed fingerprint: seed_x plays a faulty end. */
	confirm_seed_fingerprint(seed, cc.params.fp);
	seed[0] ^= seed_x;
	in = keysrc_sim_new(&sim, err, sizeof(err));
	assert_non_null(in);
	e->src = confirm_wrap(NULL, in, &cc, err, sizeof(err));
	assert_non_null(e->src);
	e->q = calloc(QMAX, sizeof(*e->q));
	assert_non_null(e->q);
	e->up = true;
	confirm_set_transport(e->src, &tr, e);
}

static void end_close(struct end *e)
{
	keysrc_free(e->src);
	free(e->q);
}

static void pair_open(struct end *a, struct end *b, enum qkd_role rb,
		      uint8_t seed_x)
{
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->other = b;
	b->other = a;
	end_open(a, "ABa", QKD_ROLE_TX, QKD_ROLE_TX, 0);
	end_open(b, "ABb", rb == QKD_ROLE_TX ? QKD_ROLE_RX : rb, rb, seed_x);
	now_ns += 10 * SEC;	/* fresh blocks, above the marks */
	alarm_reset();
	confirm_peer_up(a->src);
	confirm_peer_up(b->src);
	deliver(a, b);
}

static void pair_close(struct end *a, struct end *b)
{
	end_close(a);
	end_close(b);
	alarm_reset();
}

static void test_pair_equal(void **state)
{
	struct end a, b;
	struct keysrc_key k[8];
	uint8_t ka[8 * 100], kb[100];
	struct confirm_stats sa, sb;
	char err[128];

	pair_open(&a, &b, QKD_ROLE_RX, 0);
	assert_true(keysrc_is_up(a.src));
	assert_true(keysrc_is_up(b.src));
	assert_int_equal(a.src->block_size, 1024 - CONFIRM_KEY_BYTES);
	confirm_tick(a.src);
	confirm_tick(b.src);
	/* Sent, not yet answered: nothing may be handed out. */
	assert_int_equal(keysrc_alloc(a.src, 100, 1, k, ka, err, sizeof(err)),
			 -ENOSPC);
	deliver(&a, &b);
	assert_int_equal(keysrc_alloc(a.src, 100, 8, k, ka, err, sizeof(err)),
			 0);
	for (int i = 0; i < 8; i++) {
		assert_true(keysrc_offset_of(k[i].id) + 100 <= 1024 - 32);
		assert_int_equal(keysrc_get(b.src, k[i].id, 100, kb, NULL, err,
					    sizeof(err)), 0);
		assert_memory_equal(ka + i * 100, kb, 100);
		assert_int_equal(keysrc_get(b.src, k[i].id, 100, kb, NULL, err,
					    sizeof(err)), -EALREADY);
	}
	/* The MAC key bytes are never handed out. */
	assert_int_equal(keysrc_get(b.src, k[0].id | 992, 32, kb, NULL, err,
				    sizeof(err)), -EINVAL);
	confirm_stats(a.src, &sa);
	confirm_stats(b.src, &sb);
	assert_int_equal(sa.state, CONFIRM_AGREED);
	assert_true(sa.confirmed > 0);
	assert_int_equal(sa.mismatched + sb.mismatched, 0);
	assert_int_equal(sa.key_bytes_spent, sa.confirmed * CONFIRM_KEY_BYTES);
	assert_int_equal(alarm_count(), 0);

	/*
	 * B comes back as a new instance (its blocks confirmed before are
	 * gone) and asks again: A must not cut keys from what it confirmed
	 * with the old B.
	 */
	confirm_peer_up(b.src);
	deliver(&a, &b);
	assert_int_equal(keysrc_alloc(a.src, 100, 1, k, ka, err, sizeof(err)),
			 -ENOSPC);
	confirm_tick(a.src);
	deliver(&a, &b);
	assert_int_equal(keysrc_alloc(a.src, 100, 1, k, ka, err, sizeof(err)),
			 0);
	assert_int_equal(keysrc_get(b.src, k[0].id, 100, kb, NULL, err,
				    sizeof(err)), 0);
	assert_memory_equal(ka, kb, 100);
	pair_close(&a, &b);
}

static void test_pair_different_bytes(void **state)
{
	struct end a, b;
	struct keysrc_key k;
	uint8_t key[100];
	struct confirm_stats sa, sb;
	char err[128];

	pair_open(&a, &b, QKD_ROLE_RX, 0x40);
	assert_true(keysrc_is_up(a.src));	/* parameters agree */
	confirm_tick(a.src);
	confirm_tick(b.src);
	deliver(&a, &b);
	confirm_stats(a.src, &sa);
	confirm_stats(b.src, &sb);
	assert_int_equal(sa.confirmed + sb.confirmed, 0);
	assert_true(sa.mismatched > 0);
	assert_true(sb.mismatched > 0);
	assert_int_equal(keysrc_alloc(a.src, 100, 1, &k, key, err,
				      sizeof(err)), -ENOSPC);
	assert_true(alarm_is_active("confirm:AB"));
	pair_close(&a, &b);
}

/* kernel_push: what a confirm_sink received. */
#define SINK_MAX	8192
struct sink_log {
	uint64_t id[SINK_MAX];
	uint8_t first[SINK_MAX][16];	/* each block's first bytes */
	uint32_t len;
	size_t n;
};

static int sink_rec(void *arg, uint64_t block_id, const uint8_t *bytes,
		    uint32_t len, uint64_t gen_time_ns)
{
	struct sink_log *l = arg;

	assert_true(l->n < SINK_MAX);
	assert_true(gen_time_ns > 0);
	l->id[l->n] = block_id;
	memcpy(l->first[l->n], bytes, sizeof(l->first[0]));
	l->len = len;
	l->n++;
	return 0;
}

static void test_pair_sink(void **state)
{
	static struct sink_log la, lb;
	struct confirm_sink sink = { .push = sink_rec };
	struct end a, b;
	struct keysrc_key k;
	uint8_t key[100];
	struct confirm_stats sa, sb;
	char err[128];

	memset(&la, 0, sizeof(la));
	memset(&lb, 0, sizeof(lb));
	pair_open(&a, &b, QKD_ROLE_RX, 0);
	sink.arg = &la;
	confirm_set_sink(a.src, &sink);
	sink.arg = &lb;
	confirm_set_sink(b.src, &sink);
	for (int round = 0; round < 3; round++) {
		now_ns += SEC;
		confirm_tick(a.src);
		confirm_tick(b.src);
		deliver(&a, &b);
	}
	/* Both shares, the same blocks in the same ascending order. */
	assert_true(la.n >= 8);
	assert_int_equal(la.n, lb.n);
	assert_int_equal(la.len, 1024 - CONFIRM_KEY_BYTES);
	for (size_t i = 0; i < la.n; i++) {
		assert_int_equal(la.id[i], lb.id[i]);
		assert_memory_equal(la.first[i], lb.first[i], 16);
		if (i)
			assert_true(la.id[i] > la.id[i - 1]);
	}
	assert_true(la.id[0] % 2 != la.id[1] % 2 || la.id[1] % 2 != la.id[2] % 2);
	/* The store above gets none of it. */
	assert_int_equal(keysrc_alloc(a.src, 100, 1, &k, key, err, sizeof(err)),
			 -ENOSPC);
	assert_int_equal(keysrc_avail(b.src), 0);
	confirm_stats(a.src, &sa);
	confirm_stats(b.src, &sb);
	assert_true(sa.has_sink);
	assert_int_equal(sa.sink_pushed, la.n);
	assert_int_equal(sb.sink_pushed, lb.n);
	assert_int_equal(sa.sink_skipped + sa.sink_failed, 0);
	assert_int_equal(sa.own_blocks + sa.peer_blocks, 0);
	pair_close(&a, &b);

	/* Different bytes: nothing confirmed, nothing pushed. */
	memset(&la, 0, sizeof(la));
	pair_open(&a, &b, QKD_ROLE_RX, 0x40);
	sink.arg = &la;
	confirm_set_sink(a.src, &sink);
	confirm_tick(a.src);
	confirm_tick(b.src);
	deliver(&a, &b);
	assert_int_equal(la.n, 0);
	pair_close(&a, &b);
}

static void test_pair_same_role(void **state)
{
	struct end a, b;
	struct confirm_stats s;

	pair_open(&a, &b, QKD_ROLE_TX, 0);
	assert_false(keysrc_is_up(a.src));
	assert_false(keysrc_is_up(b.src));
	assert_int_equal(keysrc_avail(a.src), 0);
	confirm_stats(a.src, &s);
	assert_int_equal(s.state, CONFIRM_REFUSED);
	assert_string_equal(s.refused,
			    "link AB: both ends are role tx; one must be rx");
	assert_true(alarm_is_active("link:AB"));
	confirm_tick(a.src);
	assert_int_equal(a.n + b.n, 0);		/* no block sent */
	pair_close(&a, &b);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * What confirmation costs (Documentation/qkd/confirmation.rst): the tag
 * alone, and whole blocks through two wrapped sim ends (taking them from
 * the source, both tags, the messages).  Printed, not asserted: the
 * machine may be loaded.
 */
static void test_cost(void **state)
{
	static uint8_t block[4096];
	uint8_t nonce[16] = { 0 }, tag[16];
	uint32_t sizes[] = { 1024, 4096 };
	struct confirm_stats st;
	struct end a, b;
	uint64_t before;
	double t;
	int n = 2000;

	fill(block, sizeof(block), 5);
	for (size_t i = 0; i < 2; i++) {
		t = mono_s();
		for (int j = 0; j < n; j++)
			assert_int_equal(confirm_tag((uint64_t)j, nonce, block,
						     sizes[i], tag), 0);
		t = mono_s() - t;
		print_message("# confirm_tag: %.1f us per %u-byte block\n",
			      t / n * 1e6, sizes[i]);
	}
	pair_open(&a, &b, QKD_ROLE_RX, 0);
	confirm_stats(a.src, &st);
	before = st.confirmed;
	t = mono_s();
	for (int j = 0; j < 20; j++) {
		struct keysrc_key k[16];
		uint8_t bytes[16 * 496];
		char err[64];

		confirm_tick(a.src);
		deliver(&a, &b);
		/* Use them up, so that the next tick takes new ones. */
		while (keysrc_alloc(a.src, 496, 16, k, bytes, err,
				    sizeof(err)) == 0)
			;
		now_ns += SEC / 10;
	}
	t = mono_s() - t;
	confirm_stats(a.src, &st);
	print_message("# %llu blocks of 1024 bytes confirmed in %.3f s: %.1f us each, both ends, in-memory Kx\n",
		      (unsigned long long)(st.confirmed - before), t,
		      t / (double)(st.confirmed - before) * 1e6);
	assert_true(st.confirmed > before);
	pair_close(&a, &b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tag_layout),
		cmocka_unit_test(test_tag_sensitive),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_params_check),
		cmocka_unit_test(test_pair_equal),
		cmocka_unit_test(test_pair_different_bytes),
		cmocka_unit_test(test_pair_sink),
		cmocka_unit_test(test_pair_same_role),
		cmocka_unit_test(test_cost),
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	for (const char *n = "ABa"; n; n = strcmp(n, "ABa") ? NULL : "ABb") {
		char p[64];

		snprintf(p, sizeof(p), "%s/%s.hwm", dir, n);
		unlink(p);
	}
	rmdir(dir);
	return rc;
}
