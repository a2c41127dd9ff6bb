// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for ksa.c and kma.c: two nodes, A and B, each with its KMA over
 * one end of a simulated link (fake clock) and its KSA, wired back to back
 * in one process.  The Kx-2 "wire" is a queue the tests pump by hand, so
 * they control when a reservation arrives; every message goes through the
 * kxmsg encoder and decoder on the way.
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

#include "kma/kma.h"
#include "ksa/ksa.h"
#include "kx/peer.h"
#include "kma/kma.h"
#include "ksa/ksa.h"
#include "kx/kxmsg.h"

#define SEC		1000000000ull
#define MAX_WIRE	1024

struct node {
	const char *name, *peer;
	enum qkd_role role;
	char dir[64];
	struct kma *kma;
	struct ksa *ksa;
	bool peer_up;
};

struct wire_msg {
	struct node *to;
	const char *from;
	uint8_t buf[KXMSG_MAX_LEN];
	int len;
};

struct world {
	uint64_t now;
	uint8_t seed[32];
	struct node a, b;
	struct wire_msg wire[MAX_WIRE];
	size_t n_wire;
	uint32_t max_key_count;
};

static struct world *W;

static uint64_t fake_now(void *arg)
{
	return ((struct world *)arg)->now;
}

static const struct ksa_sae_cfg saes[] = {
	{ "app1", "app1-cn", "A" },
	{ "app2", "app2-cn", "B" },
	{ "app3", "app3-cn", "B" },
	{ "app4", "app4-cn", "A" },
	{ "app5", "app5-cn", "C" },	/* a node without a link */
};

static int wire_send(void *arg, const char *node, const struct kxmsg *m)
{
	struct node *from = arg;
	struct node *to = !strcmp(node, "A") ? &W->a :
			  !strcmp(node, "B") ? &W->b : NULL;
	struct wire_msg *w;

	if (!to || !from->peer_up || W->n_wire == MAX_WIRE)
		return -1;
	w = &W->wire[W->n_wire++];
	w->to = to;
	w->from = from->name;
	w->len = kxmsg_encode(m, w->buf, sizeof(w->buf));
	assert_true(w->len > 0);
	return 0;
}

static bool wire_is_up(void *arg, const char *node)
{
	return ((struct node *)arg)->peer_up;
}

static const struct ksa_kx_ops wire_ops = {
	.send = wire_send,
	.is_up = wire_is_up,
};

/* Deliver everything queued, including answers queued meanwhile. */
static size_t pump(void)
{
	size_t done = 0;

	while (done < W->n_wire) {
		struct wire_msg *w = &W->wire[done++];
		struct kxmsg m;
		char err[64];

		assert_int_equal(kxmsg_decode(w->buf, (size_t)w->len, &m, err,
					      sizeof(err)), w->len);
		ksa_kx_receive(w->to->ksa, w->from, &m);
	}
	W->n_wire = 0;
	return done;
}

static void node_open(struct node *n)
{
	struct km_node_cfg node = { 0 };
	struct kma_link_cfg link = {
		.source = KM_SOURCE_SIM, .role = n->role, .rate = 80000000,
		.block_size = 1000,
	};
	struct keysrc_sim_cfg sim = {
		.link_name = "AB", .state_dir = n->dir, .role = n->role,
		.seed = W->seed, .rate = 80000000, .block_size = 1000,
		.now_ns = fake_now, .now_arg = W,
	};
	struct ksa_limits lim = {
		.key_size = 256, .min_key_size = 64, .max_key_size = 4096,
		.max_key_per_request = 128, .max_key_count = W->max_key_count,
		.max_sae_id_count = 3,
	};
	struct keysrc *src;
	char err[160] = "";

	snprintf(node.name, sizeof(node.name), "%s", n->name);
	snprintf(node.state_dir, sizeof(node.state_dir), "%s", n->dir);
	strcpy(link.name, "AB");
	strcpy(link.peer, n->peer);
	src = keysrc_sim_new(&sim, err, sizeof(err));
	assert_non_null(src);
	n->kma = kma_new_with_sources(&node, &link, &src, 1, err,
				      sizeof(err));
	assert_non_null(n->kma);
	n->ksa = ksa_new(n->kma, &node, saes, 5, &lim, err, sizeof(err));
	if (!n->ksa)
		print_error("ksa_new: %s\n", err);
	assert_non_null(n->ksa);
	ksa_set_kx(n->ksa, &wire_ops, n);
	n->peer_up = true;
}

static void node_close(struct node *n)
{
	ksa_free(n->ksa);
	kma_free(n->kma);
	n->ksa = NULL;
	n->kma = NULL;
}

static int setup(void **state)
{
	W = calloc(1, sizeof(*W));
	assert_non_null(W);
	W->now = 1700000000ull * SEC;
	W->max_key_count = 1000;
	for (int i = 0; i < 32; i++)
		W->seed[i] = (uint8_t)(0xa5 ^ i);
	W->a = (struct node){ .name = "A", .peer = "B", .role = QKD_ROLE_TX };
	W->b = (struct node){ .name = "B", .peer = "A", .role = QKD_ROLE_RX };
	strcpy(W->a.dir, "/tmp/test_ksa_a.XXXXXX");
	strcpy(W->b.dir, "/tmp/test_ksa_b.XXXXXX");
	assert_non_null(mkdtemp(W->a.dir));
	assert_non_null(mkdtemp(W->b.dir));
	node_open(&W->a);
	node_open(&W->b);
	W->now += SEC / 10;	/* 1000 blocks of key */
	*state = W;
	return 0;
}

static void rm_dir(const char *dir)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/AB.hwm", dir);
	unlink(path);
	rmdir(dir);
}

static int teardown(void **state)
{
	node_close(&W->a);
	node_close(&W->b);
	rm_dir(W->a.dir);
	rm_dir(W->b.dir);
	free(W);
	W = NULL;
	return 0;
}

static enum ksa_result enc(const char *master, const char *slave,
			   uint32_t number, uint32_t size, struct ksa_key *out,
			   struct ksa_err *err)
{
	return ksa_enc_keys(W->a.ksa, master, slave, NULL, 0, number, size,
			    out, err);
}

static enum ksa_result dec(struct node *n, const char *slave,
			   const char *master, const struct ksa_key *keys,
			   size_t count, struct ksa_key *out)
{
	const char *ids[16];
	struct ksa_err err;

	for (size_t i = 0; i < count; i++)
		ids[i] = keys[i].key_id;
	return ksa_dec_keys(n->ksa, slave, master, ids, count, out, &err);
}

static void test_enc_dec_identical(void **state)
{
	struct ksa_key k[3], d[3];
	struct ksa_err err;

	assert_int_equal(enc("app1", "app2", 3, 256, k, &err), KSA_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(k[i].size, 256);
		assert_int_equal(strlen(k[i].key_id), 36);
		assert_int_equal(k[i].key_id[14], '4');	/* UUID v4 */
		for (int j = 0; j < i; j++)
			assert_string_not_equal(k[i].key_id, k[j].key_id);
	}
	assert_int_equal(pump(), 6);	/* 3 reservations, 3 acks */
	assert_int_equal(dec(&W->b, "app2", "app1", k, 3, d), KSA_OK);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(d[i].key_id, k[i].key_id);
		assert_int_equal(d[i].size, 256);
		assert_memory_equal(d[i].key, k[i].key, 32);
	}
	ksa_keys_free(d, 3);
	/* Once per slave: the second request gets nothing. */
	assert_int_equal(dec(&W->b, "app2", "app1", k, 1, d), KSA_NOT_FOUND);
	ksa_keys_free(k, 3);
}

static void test_sizes_and_numbers(void **state)
{
	static const uint32_t sizes[] = { 64, 72, 256, 1024, 4096 };
	struct ksa_key k[128], d[16];
	struct ksa_err err;

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		assert_int_equal(enc("app1", "app2", 4, sizes[s], k, &err),
				 KSA_OK);
		pump();
		assert_int_equal(dec(&W->b, "app2", "app1", k, 4, d), KSA_OK);
		for (int i = 0; i < 4; i++) {
			assert_int_equal(d[i].size, sizes[s]);
			assert_memory_equal(d[i].key, k[i].key, sizes[s] / 8);
		}
		ksa_keys_free(d, 4);
		ksa_keys_free(k, 4);
	}
	assert_int_equal(enc("app1", "app2", 128, 256, k, &err), KSA_OK);
	ksa_keys_free(k, 128);
	/* No size given: the status's key_size. */
	assert_int_equal(enc("app1", "app2", 1, 0, k, &err), KSA_OK);
	assert_int_equal(k[0].size, 256);
	ksa_keys_free(k, 1);
}

static void test_retry_until_reserved(void **state)
{
	struct ksa_key k[2], d[2];
	struct ksa_err err;

	assert_int_equal(enc("app1", "app2", 2, 128, k, &err), KSA_OK);
	/* B has not heard yet: ask again later, deliver nothing. */
	assert_int_equal(dec(&W->b, "app2", "app1", k, 2, d), KSA_RETRY);
	pump();
	assert_int_equal(dec(&W->b, "app2", "app1", k, 2, d), KSA_OK);
	assert_memory_equal(d[1].key, k[1].key, 16);
	ksa_keys_free(d, 2);
	ksa_keys_free(k, 2);
}

/*
 * "Not found" is final: once B answered it for a key ID (ksa_dec_final()),
 * the reservation that arrives later is refused, A records the key
 * destroyed, and B never serves it.
 */
static void test_not_found_is_final(void **state)
{
	struct ksa_key k[2], d[2];
	struct ksa_err err;
	const char *ids[2];

	assert_int_equal(enc("app1", "app2", 2, 128, k, &err), KSA_OK);
	assert_int_equal(dec(&W->b, "app2", "app1", k, 2, d), KSA_RETRY);
	ids[0] = k[0].key_id;
	ids[1] = k[1].key_id;
	/* The wait is over: the front end answers "not found". */
	assert_int_equal(ksa_dec_final(W->b.ksa, "app2", "app1", ids, 2), 2);
	assert_int_equal(ksa_dec_final(W->b.ksa, "app2", "app1", ids, 2), 0);
	pump();			/* the reservation arrives late: refused */
	pump();			/* A hears the refusal */
	for (int i = 0; i < 2; i++)
		assert_int_equal(kma_key_state(kma_key_find(W->a.kma,
							    ids[i])),
				 KMA_KEY_DESTROYED);
	assert_int_equal(dec(&W->b, "app2", "app1", k, 2, d), KSA_NOT_FOUND);
	/* Known IDs are not touched; foreign SAEs add nothing. */
	ksa_keys_free(k, 2);
	assert_int_equal(enc("app1", "app2", 1, 128, k, &err), KSA_OK);
	pump();
	ids[0] = k[0].key_id;
	assert_int_equal(ksa_dec_final(W->b.ksa, "app2", "app1", ids, 1), 0);
	assert_int_equal(ksa_dec_final(W->b.ksa, "app1", "app2", ids, 1), 0);
	assert_int_equal(dec(&W->b, "app2", "app1", k, 1, d), KSA_OK);
	assert_memory_equal(d[0].key, k[0].key, 16);
	ksa_keys_free(d, 1);
	ksa_keys_free(k, 1);
}

/* Make @key_id's record at @n look @ms older in its expiry queue. */
static struct kma_key *age(struct node *n, const char *key_id, uint64_t ms)
{
	struct kma_key *k = kma_key_find(n->kma, key_id);

	assert_non_null(k);
	kma_key_test_age(k, ms);
	return k;
}

/*
 * Expiry: an unacknowledged reservation is given up after 60 s, and its
 * tombstone dropped 10 min after that; younger records in the same queue
 * stay.  (The pass runs at most every 100 ms, on the next request.)
 */
static void test_expiry(void **state)
{
	struct ksa_key k[2], more;
	struct ksa_err err;
	struct kma_key *r;

	assert_int_equal(enc("app1", "app2", 2, 128, k, &err), KSA_OK);
	r = age(&W->a, k[0].key_id, 60 * 1000 + 1);
	usleep(150 * 1000);
	assert_int_equal(enc("app1", "app2", 1, 128, &more, &err), KSA_OK);
	assert_int_equal(kma_key_state(r), KMA_KEY_DESTROYED);
	assert_int_equal(kma_key_state(kma_key_find(W->a.kma, k[1].key_id)),
			 KMA_KEY_RESERVED);

	age(&W->a, k[0].key_id, 10 * 60 * 1000);
	usleep(150 * 1000);
	ksa_keys_free(&more, 1);
	assert_int_equal(enc("app1", "app2", 1, 128, &more, &err), KSA_OK);
	assert_null(kma_key_find(W->a.kma, k[0].key_id));
	assert_non_null(kma_key_find(W->a.kma, k[1].key_id));
	ksa_keys_free(&more, 1);
	ksa_keys_free(k, 2);
}

/*
 * A link removed at run time: its live keys end as expiry ends them, so
 * the pairs' counts go back to zero, and the SAEs over it have no link.
 */
static void test_link_remove(void **state)
{
	struct ksa_key k[2], more, d[2];
	struct ksa_pair_info pi;
	struct ksa_err err;

	assert_int_equal(enc("app1", "app2", 2, 128, k, &err), KSA_OK);
	pump();
	assert_int_equal(enc("app1", "app2", 1, 128, &more, &err), KSA_OK);
	assert_int_equal(ksa_pair_info(W->a.ksa, 0, &pi), 0);
	assert_int_equal(pi.keys_pending, 1);
	assert_string_equal(pi.link, "AB");
	assert_int_equal(ksa_pair_info(W->b.ksa, 0, &pi), 0);
	assert_int_equal(pi.keys_stored, 2);

	assert_int_equal(ksa_link_remove(W->b.ksa, "AB"), 0);
	assert_int_equal(ksa_pair_info(W->b.ksa, 0, &pi), 0);
	assert_int_equal(pi.keys_stored, 0);
	assert_string_equal(pi.link, "");
	assert_null(kma_key_find(W->b.kma, k[0].key_id));
	assert_int_not_equal(dec(&W->b, "app2", "app1", k, 2, d), KSA_OK);

	assert_int_equal(ksa_link_remove(W->a.ksa, "AB"), 0);
	assert_int_equal(ksa_pair_info(W->a.ksa, 0, &pi), 0);
	assert_int_equal(pi.keys_pending, 0);
	assert_int_equal(kma_link_count(W->a.kma), 0);
	ksa_keys_free(&more, 1);
	assert_int_not_equal(enc("app1", "app2", 1, 128, &more, &err), KSA_OK);
	assert_int_equal(ksa_link_remove(W->a.ksa, "AB"), -ENOENT);
	W->n_wire = 0;		/* FETCHED for a link gone */
	ksa_keys_free(k, 2);
}

static void test_pair_isolation(void **state)
{
	struct ksa_key k[1], d[1];
	struct ksa_err err;

	assert_int_equal(enc("app1", "app2", 1, 256, k, &err), KSA_OK);
	pump();
	/* Another slave at the same node: not found, never the key. */
	assert_int_equal(dec(&W->b, "app3", "app1", k, 1, d), KSA_NOT_FOUND);
	/* The right slave naming the wrong master. */
	assert_int_equal(dec(&W->b, "app2", "app4", k, 1, d), KSA_NOT_FOUND);
	/* A slave not served by this node at all. */
	assert_int_equal(dec(&W->b, "app1", "app1", k, 1, d),
			 KSA_UNAUTHORIZED);
	/* Asking at the master's node does not give it out either. */
	assert_int_equal(dec(&W->a, "app4", "app1", k, 1, d), KSA_NOT_FOUND);
	/* The real slave still gets it. */
	assert_int_equal(dec(&W->b, "app2", "app1", k, 1, d), KSA_OK);
	assert_memory_equal(d[0].key, k[0].key, 32);
	ksa_keys_free(d, 1);
	ksa_keys_free(k, 1);
}

static void test_all_or_nothing(void **state)
{
	struct ksa_key k[2], d[2], bogus[2];
	struct ksa_err err;

	assert_int_equal(enc("app1", "app2", 2, 256, k, &err), KSA_OK);
	pump();
	/* One good ID and one never reserved: nothing delivered. */
	bogus[0] = k[0];
	strcpy(bogus[1].key_id, "11111111-2222-4333-8444-555555555555");
	assert_int_equal(dec(&W->b, "app2", "app1", bogus, 2, d), KSA_RETRY);
	/* One good ID and a malformed one: not found at once. */
	strcpy(bogus[1].key_id, "nope");
	assert_int_equal(dec(&W->b, "app2", "app1", bogus, 2, d),
			 KSA_NOT_FOUND);
	/* The same ID twice in one request would serve it twice. */
	bogus[1] = k[0];
	assert_int_equal(dec(&W->b, "app2", "app1", bogus, 2, d),
			 KSA_NOT_FOUND);
	/* Both good IDs are still there, once. */
	assert_int_equal(dec(&W->b, "app2", "app1", k, 2, d), KSA_OK);
	ksa_keys_free(d, 2);
	ksa_keys_free(k, 2);
}

static void test_multicast(void **state)
{
	const char *extra[] = { "app3" };
	struct ksa_key k[2], d2[2], d3[2];
	struct ksa_err err;

	assert_int_equal(ksa_enc_keys(W->a.ksa, "app1", "app2", extra, 1, 2,
				      256, k, &err), KSA_OK);
	pump();
	assert_int_equal(dec(&W->b, "app2", "app1", k, 2, d2), KSA_OK);
	assert_int_equal(dec(&W->b, "app2", "app1", k, 2, d2 + 1),
			 KSA_NOT_FOUND);
	assert_int_equal(dec(&W->b, "app3", "app1", k, 2, d3), KSA_OK);
	for (int i = 0; i < 2; i++) {
		assert_memory_equal(d2[i].key, k[i].key, 32);
		assert_memory_equal(d3[i].key, k[i].key, 32);
	}
	assert_int_equal(dec(&W->b, "app3", "app1", k, 1, d3 + 1),
			 KSA_NOT_FOUND);
	ksa_keys_free(d2, 2);
	ksa_keys_free(d3, 2);
	ksa_keys_free(k, 2);
}

static void test_bad_requests(void **state)
{
	const char *other_node[] = { "app5" }, *dup[] = { "app2" };
	const char *unknown[] = { "nobody" };
	struct ksa_key k[129];
	struct ksa_err err;

	assert_int_equal(enc("app1", "app2", 1, 100, k, &err),
			 KSA_BAD_REQUEST);
	assert_non_null(strstr(err.message, "multiple of 8"));
	assert_int_equal(enc("app1", "app2", 1, 56, k, &err),
			 KSA_BAD_REQUEST);
	assert_int_equal(enc("app1", "app2", 1, 4104, k, &err),
			 KSA_BAD_REQUEST);
	assert_int_equal(enc("app1", "app2", 0, 256, k, &err),
			 KSA_BAD_REQUEST);
	assert_int_equal(enc("app1", "app2", 129, 256, k, &err),
			 KSA_BAD_REQUEST);
	assert_int_equal(enc("app1", "nobody", 1, 256, k, &err),
			 KSA_BAD_REQUEST);
	assert_int_equal(enc("app1", "app4", 1, 256, k, &err),
			 KSA_BAD_REQUEST);	/* slave at this node */
	assert_int_equal(enc("app1", "app5", 1, 256, k, &err),
			 KSA_BAD_REQUEST);	/* no link to C */
	assert_int_equal(enc("app2", "app1", 1, 256, k, &err),
			 KSA_UNAUTHORIZED);	/* master not served here */
	assert_int_equal(ksa_enc_keys(W->a.ksa, "app1", "app2", other_node,
				      1, 1, 256, k, &err), KSA_BAD_REQUEST);
	assert_non_null(strstr(err.message, "one KME"));
	assert_int_equal(ksa_enc_keys(W->a.ksa, "app1", "app2", dup, 1, 1,
				      256, k, &err), KSA_BAD_REQUEST);
	assert_int_equal(ksa_enc_keys(W->a.ksa, "app1", "app2", unknown, 1,
				      1, 256, k, &err), KSA_BAD_REQUEST);
	/* Nothing was reserved by any of these. */
	assert_int_equal(W->n_wire, 0);
}

/*
 * Restart @n with room for @max keys per pair; a restarted end starts
 * above its persisted mark (2 s ahead), so the clock moves past it.
 */
static void node_restart_max(struct node *n, uint32_t max)
{
	node_close(n);
	W->max_key_count = max;
	node_open(n);
	W->now += 3 * SEC;
}

static void test_unavailable(void **state)
{
	struct ksa_key k[128];
	struct ksa_err err;

	W->a.peer_up = false;
	assert_int_equal(enc("app1", "app2", 1, 256, k, &err),
			 KSA_UNAVAILABLE);
	W->a.peer_up = true;
	/* Room at B for all that follows (B never hears of it). */
	node_restart_max(&W->a, 1000000);
	/* Drain the pool: 20000 own blocks of 1000 bytes in the window. */
	for (int i = 0; i < 1000; i++) {
		if (enc("app1", "app2", 128, 4096, k, &err) != KSA_OK)
			break;
		ksa_keys_free(k, 128);
		W->n_wire = 0;
	}
	assert_int_equal(enc("app1", "app2", 128, 4096, k, &err),
			 KSA_UNAVAILABLE);
	assert_non_null(strstr(err.message, "not enough key"));
}

static void test_status(void **state)
{
	struct ksa_pair_info info;
	struct ksa_status st;
	struct ksa_key k[5];
	struct ksa_err err;

	assert_int_equal(ksa_status(W->a.ksa, "app1", "app2", &st, &err),
			 KSA_OK);
	assert_string_equal(st.source_kme_id, "A");
	assert_string_equal(st.target_kme_id, "B");
	assert_int_equal(st.key_size, 256);
	assert_int_equal(st.max_key_per_request, 128);
	assert_int_equal(st.stored_key_count, 1000);	/* capped */
	assert_int_equal(enc("app1", "app2", 5, 256, k, &err), KSA_OK);
	pump();
	/* B does not serve app1: 401, as enc_keys there would answer. */
	assert_int_equal(ksa_status(W->b.ksa, "app1", "app2", &st, &err),
			 KSA_UNAUTHORIZED);
	assert_int_equal(ksa_pair_info(W->b.ksa, 0, &info), 0);
	assert_int_equal(info.keys_stored, 5);
	assert_int_equal(ksa_status(W->a.ksa, "app2", "app3", &st, &err),
			 KSA_UNAUTHORIZED);
	assert_int_equal(ksa_status(W->a.ksa, "app1", "zzz", &st, &err),
			 KSA_BAD_REQUEST);
	ksa_keys_free(k, 5);
}

static void test_store_full(void **state)
{
	struct ksa_key k[3], d[3];
	struct ksa_err err;
	struct ksa_pair_info pi;

	node_restart_max(&W->b, 2);
	assert_int_equal(enc("app1", "app2", 3, 256, k, &err), KSA_OK);
	pump();
	assert_int_equal(dec(&W->b, "app2", "app1", k, 2, d), KSA_OK);
	ksa_keys_free(d, 2);
	/* The third was refused at B (store full): not found, not retry. */
	assert_int_equal(dec(&W->b, "app2", "app1", k + 2, 1, d),
			 KSA_NOT_FOUND);
	/* A learned it: its record is destroyed, none pending. */
	assert_int_equal(ksa_pair_info(W->a.ksa, 0, &pi), 0);
	assert_int_equal(pi.keys_pending, 0);
	ksa_keys_free(k, 3);
}

/* enc_keys of @n keys app1 -> app2 at A: 503, B has no room. */
static void assert_no_room(uint32_t n)
{
	struct ksa_key k[4];
	struct ksa_err err;

	assert_int_equal(enc("app1", "app2", n, 256, k, &err),
			 KSA_UNAVAILABLE);
	assert_non_null(strstr(err.message, "no room"));
}

/*
 * After B refused a key for want of room, A answers 503 for that pair
 * for a second instead of handing out keys app2 could never get; other
 * pairs go on.  Then A tries again, and B, with room again, stores.
 */
static void test_store_full_backoff(void **state)
{
	struct ksa_key k[3], d[2], other;
	struct ksa_err err;

	node_restart_max(&W->b, 2);
	assert_int_equal(enc("app1", "app2", 3, 256, k, &err), KSA_OK);
	pump();
	assert_no_room(1);
	assert_int_equal(enc("app1", "app3", 1, 256, &other, &err), KSA_OK);
	ksa_keys_free(&other, 1);

	assert_int_equal(dec(&W->b, "app2", "app1", k, 2, d), KSA_OK);
	ksa_keys_free(d, 2);
	ksa_keys_free(k, 3);
	pump();		/* B's FETCHED notices: room again */
	usleep(1100 * 1000);
	assert_int_equal(enc("app1", "app2", 1, 256, k, &err), KSA_OK);
	pump();
	assert_int_equal(dec(&W->b, "app2", "app1", k, 1, d), KSA_OK);
	ksa_keys_free(d, 1);
	ksa_keys_free(k, 1);
}

/*
 * Once B said how much room the pair has (in its ACKs), A refuses with
 * 503 before handing out a key B could not store, never after; B's
 * FETCHED notices give the room back as app2 fetches.
 */
static void test_store_room_known(void **state)
{
	struct ksa_key k[2], d[2];
	struct ksa_err err;

	node_restart_max(&W->b, 2);
	assert_int_equal(enc("app1", "app2", 1, 256, k, &err), KSA_OK);
	pump();
	assert_no_room(2);
	assert_int_equal(enc("app1", "app2", 1, 256, k + 1, &err), KSA_OK);
	pump();
	assert_no_room(1);
	/* Both keys decode: none was refused at B. */
	assert_int_equal(dec(&W->b, "app2", "app1", k, 2, d), KSA_OK);
	ksa_keys_free(d, 2);
	ksa_keys_free(k, 2);
	assert_no_room(1);	/* A has not heard yet */
	pump();
	assert_int_equal(enc("app1", "app2", 2, 256, k, &err), KSA_OK);
	pump();
	assert_int_equal(dec(&W->b, "app2", "app1", k, 2, d), KSA_OK);
	ksa_keys_free(d, 2);
	ksa_keys_free(k, 2);
}

static void test_forged_reservations(void **state)
{
	struct kxmsg m = { .type = KXMSG_RESERVE, .n_slaves = 1,
			   .key_len = 32 };
	struct ksa_key d[1], id[1];
	struct kxmsg ack;
	char err[64];

	strcpy(m.uuid, "0f8e6a34-5b2c-4d1e-9a7b-3c2d1e0f9a8b");
	strcpy(id[0].key_id, m.uuid);
	strcpy(m.slaves[0], "app2");
	strcpy(m.link, "AB");
	/* A master that lives at B itself, claimed by A. */
	strcpy(m.master, "app3");
	m.key_id = (keysrc_sim_current_block(kma_link_src(
			kma_link_at(W->b.kma, 0))) - 2) << 16;
	ksa_kx_receive(W->b.ksa, "A", &m);
	assert_int_equal(W->n_wire, 1);
	assert_int_equal(kxmsg_decode(W->wire[0].buf, W->wire[0].len, &ack,
				      err, sizeof(err)), W->wire[0].len);
	assert_int_equal(ack.type, KXMSG_ACK);
	assert_int_equal(ack.code, KXC_UNKNOWN_SAE);
	W->n_wire = 0;
	/* A real master but a key of B's own share (odd block). */
	strcpy(m.master, "app1");
	m.key_id |= 1ull << 16;
	ksa_kx_receive(W->b.ksa, "A", &m);
	assert_int_equal(kxmsg_decode(W->wire[0].buf, W->wire[0].len, &ack,
				      err, sizeof(err)), W->wire[0].len);
	assert_int_equal(ack.code, KXC_FETCH_FAILED);
	W->n_wire = 0;
	assert_int_equal(dec(&W->b, "app2", "app1", id, 1, d), KSA_NOT_FOUND);
	/* The same UUID again: duplicate, whatever it names. */
	m.key_id &= ~(1ull << 16);
	ksa_kx_receive(W->b.ksa, "A", &m);
	assert_int_equal(kxmsg_decode(W->wire[0].buf, W->wire[0].len, &ack,
				      err, sizeof(err)), W->wire[0].len);
	assert_int_equal(ack.code, KXC_DUPLICATE);
	W->n_wire = 0;
}

static void test_restart_never_redelivers(void **state)
{
	struct ksa_key k[1], d[1];
	struct wire_msg saved;
	struct kxmsg m;
	struct ksa_err err;
	char why[64];

	assert_int_equal(enc("app1", "app2", 1, 256, k, &err), KSA_OK);
	saved = W->wire[0];
	pump();
	assert_int_equal(dec(&W->b, "app2", "app1", k, 1, d), KSA_OK);
	ksa_keys_free(d, 1);
	pump();		/* B's FETCHED notice */
	/* B is killed and restarts at once; the reservation comes again. */
	node_close(&W->b);
	node_open(&W->b);
	assert_int_equal(kxmsg_decode(saved.buf, saved.len, &m, why,
				      sizeof(why)), saved.len);
	ksa_kx_receive(W->b.ksa, "A", &m);
	assert_int_equal(kxmsg_decode(W->wire[0].buf, W->wire[0].len, &m,
				      why, sizeof(why)), W->wire[0].len);
	assert_int_equal(m.code, KXC_FETCH_FAILED);
	W->n_wire = 0;
	assert_int_equal(dec(&W->b, "app2", "app1", k, 1, d), KSA_NOT_FOUND);
	ksa_keys_free(k, 1);
}

static int count_key(void *arg, const struct ksa_key_info *k)
{
	int *n = arg;

	assert_int_equal(strlen(k->rec.key_id), 36);
	assert_string_equal(k->rec.link, "AB");
	assert_string_equal(k->master, "app1");
	assert_string_equal(k->slaves[0], "app2");
	(*n)++;
	return 0;
}

static void test_views(void **state)
{
	struct kma_link_info li;
	struct ksa_pair_info pi;
	struct ksa_key k[4], d[4];
	struct ksa_err err;
	int n = 0;

	assert_int_equal(enc("app1", "app2", 4, 256, k, &err), KSA_OK);
	pump();
	assert_int_equal(dec(&W->b, "app2", "app1", k, 1, d), KSA_OK);
	ksa_keys_free(d, 1);
	ksa_foreach_key(W->b.ksa, count_key, &n);
	assert_int_equal(n, 4);
	assert_int_equal(kma_link_count(W->b.kma), 1);
	assert_int_equal(kma_link_info(W->b.kma, 0, &li), 0);
	assert_int_equal(kma_link_info(W->b.kma, 1, &li), -1);
	assert_string_equal(li.peer, "A");
	assert_int_equal(li.keys_held, 3);
	assert_int_equal(li.bytes_fetched, 4 * 32);
	assert_int_equal(ksa_pair_count(W->b.ksa), 1);
	assert_int_equal(ksa_pair_info(W->b.ksa, 0, &pi), 0);
	assert_int_equal(pi.keys_stored, 3);
	assert_int_equal(pi.keys_supplied, 1);
	assert_int_equal(ksa_pair_info(W->a.ksa, 0, &pi), 0);
	assert_int_equal(pi.keys_supplied, 4);
	assert_int_equal(pi.keys_pending, 0);
	ksa_keys_free(k, 4);
}

static void test_bad_config(void **state)
{
	struct km_node_cfg node = { .name = "A" };
	struct ksa_limits lim = {
		.key_size = 256, .min_key_size = 64, .max_key_size = 4096,
		.max_key_per_request = 128, .max_key_count = 10,
	};
	struct ksa_sae_cfg two[2] = {
		{ "x", "cn", "A" }, { "y", "cn", "A" },
	};
	char err[160];

	lim.key_size = 100;
	assert_null(ksa_new(W->a.kma, &node, saes, 5, &lim, err,
			    sizeof(err)));
	lim.key_size = 256;
	lim.max_sae_id_count = KM_MAX_SLAVES;
	assert_null(ksa_new(W->a.kma, &node, saes, 5, &lim, err,
			    sizeof(err)));
	lim.max_sae_id_count = 0;
	assert_null(ksa_new(W->a.kma, &node, two, 2, &lim, err, sizeof(err)));
	assert_non_null(strstr(err, "twice"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_enc_dec_identical),
		T(test_sizes_and_numbers),
		T(test_retry_until_reserved),
		T(test_not_found_is_final),
		T(test_expiry),
		T(test_link_remove),
		T(test_pair_isolation),
		T(test_all_or_nothing),
		T(test_multicast),
		T(test_bad_requests),
		T(test_unavailable),
		T(test_status),
		T(test_store_full),
		T(test_store_room_known),
		T(test_store_full_backoff),
		T(test_forged_reservations),
		T(test_restart_never_redelivers),
		T(test_views),
		T(test_bad_config),
	};

	return cmocka_run_group_tests_name("ksa", tests, NULL, NULL);
}
