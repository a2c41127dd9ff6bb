// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for relay.c (with lsa.c, ksa.c and kxmsg.c): three nodes
 * A - B - C in one process, each with its KMA over simulated link ends
 * (fake clock), KSA, LSA database and relay, wired back to back through a
 * message queue the tests pump by hand.  Every message is encoded and
 * decoded on the way, so the tests also cover the new kxmsg types.
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

#include "kma/kma.h"
#include "ksa/ksa.h"
#include "kx/peer.h"
#include "kma/kma.h"
#include "ksa/ksa.h"
#include "kx/kxmsg.h"
#include "routing/lsa.h"
#include "relay/relay.h"
#include "relay/relay_otp.h"

#define SEC		1000000000ull
#define MAX_WIRE	256
#define N_NODES		3

struct node {
	const char *name;
	char dir[64];
	struct kma *kma;
	struct ksa *ksa;
	struct lsa *lsa;
	struct relay *relay;
	bool up;			/* reachable by its neighbours */
};

struct wire_msg {
	int to;
	const char *from;
	uint8_t buf[KXMSG_MAX_LEN];
	int len;
};

struct world {
	uint64_t now;
	struct node n[N_NODES];
	struct wire_msg wire[MAX_WIRE];
	size_t n_wire;
	bool tamper_next;		/* flip a sealed bit on the wire */
	struct wire_msg captured;	/* last RELAY_KEY delivered */
};

static struct world *W;

static const struct ksa_sae_cfg saes[] = {
	{ "app1", "app1-cn", "A" },
	{ "app2", "app2-cn", "B" },
	{ "app3", "app3-cn", "C" },
	{ "app9", "app9-cn", "Z" },	/* a node nobody announces */
	{ "app4", "app4-cn", "A" },	/* high priority */
	{ "app5", "app5-cn", "A" },	/* low priority */
};

static uint64_t fake_now(void *arg)
{
	return ((struct world *)arg)->now;
}

static int node_index(const char *name)
{
	for (int i = 0; i < N_NODES; i++)
		if (!strcmp(W->n[i].name, name))
			return i;
	return -1;
}

static bool adjacent(int a, int b)
{
	return a - b == 1 || b - a == 1;
}

static int wire_send(void *arg, const char *node, const struct kxmsg *m)
{
	struct node *from = arg;
	int to = node_index(node);
	struct wire_msg *w;

	if (to < 0 || !adjacent(to, (int)(from - W->n)) || !W->n[to].up ||
	    W->n_wire == MAX_WIRE)
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
	struct node *from = arg;
	int to = node_index(node);

	return to >= 0 && adjacent(to, (int)(from - W->n)) && W->n[to].up &&
	       from->up;
}

static const struct ksa_kx_ops kx_ops = { wire_send, wire_is_up };
static const struct lsa_transport lsa_ops = { wire_send, wire_is_up };
static const struct relay_transport relay_ops = { wire_send, wire_is_up, NULL };

static void deliver(struct wire_msg *w)
{
	struct node *to = &W->n[w->to];
	struct kxmsg *m = malloc(sizeof(*m));
	char err[64];

	assert_non_null(m);
	assert_int_equal(kxmsg_decode(w->buf, (size_t)w->len, m, err,
				      sizeof(err)), w->len);
	if (m->type == KXMSG_RELAY_KEY) {
		if (W->tamper_next) {
			W->tamper_next = false;
			m->sealed[RELAY_HDR_LEN] ^= 0x10;
		}
		W->captured = *w;
	}
	switch (m->type) {
	case KXMSG_RESERVE:
	case KXMSG_ACK:
		ksa_kx_receive(to->ksa, w->from, m);
		break;
	case KXMSG_LSA:
		lsa_receive(to->lsa, w->from, m);
		break;
	default:
		relay_receive(to->relay, w->from, m);
		break;
	}
	free(m);
}

/* Deliver everything queued, including answers queued meanwhile. */
static size_t pump(void)
{
	size_t done = 0;

	while (done < W->n_wire)
		deliver(&W->wire[done++]);
	W->n_wire = 0;
	return done;
}

static void flood_lsas(void)
{
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N_NODES; i++)
			lsa_tick(W->n[i].lsa);
		pump();
	}
}

static struct keysrc *sim_end(struct node *n, const char *link,
			      enum qkd_role role, uint8_t seed_byte)
{
	uint8_t seed[32];
	struct keysrc_sim_cfg sim = {
		.link_name = link, .state_dir = n->dir, .role = role,
		.seed = seed, .rate = 80000000, .block_size = 1000,
		.now_ns = fake_now, .now_arg = W,
	};
	char err[160] = "";
	struct keysrc *src;

	memset(seed, seed_byte, sizeof(seed));
	src = keysrc_sim_new(&sim, err, sizeof(err));
	assert_non_null(src);
	return src;
}

static void link_cfg(struct kma_link_cfg *l, const char *name,
		     const char *peer, enum qkd_role role)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->peer, sizeof(l->peer), "%s", peer);
	l->source = KM_SOURCE_SIM;
	l->role = role;
	l->rate = 80000000;
	l->block_size = 1000;
}

static void node_open(int i)
{
	struct node *n = &W->n[i];
	struct km_node_cfg node = { 0 };
	struct kma_link_cfg links[2];
	struct keysrc *srcs[2];
	struct ksa_limits lim = {
		.key_size = 256, .min_key_size = 64, .max_key_size = 4096,
		.max_key_per_request = 128, .max_key_count = 1000,
		.max_sae_id_count = 3,
	};
	size_t k = 0;
	char err[160] = "";

	snprintf(node.name, sizeof(node.name), "%s", n->name);
	snprintf(node.state_dir, sizeof(node.state_dir), "%s", n->dir);
	if (i > 0) {	/* link to the left: we are rx */
		link_cfg(&links[k], i == 1 ? "AB" : "BC", W->n[i - 1].name,
			 QKD_ROLE_RX);
		srcs[k] = sim_end(n, links[k].name, QKD_ROLE_RX,
				  (uint8_t)(0x40 + i));
		k++;
	}
	if (i + 1 < N_NODES) {
		link_cfg(&links[k], i == 0 ? "AB" : "BC", W->n[i + 1].name,
			 QKD_ROLE_TX);
		srcs[k] = sim_end(n, links[k].name, QKD_ROLE_TX,
				  (uint8_t)(0x41 + i));
		k++;
	}
	n->kma = kma_new_with_sources(&node, links, srcs, k, err,
				      sizeof(err));
	assert_non_null(n->kma);
	n->ksa = ksa_new(n->kma, &node, saes, sizeof(saes) / sizeof(saes[0]),
			 &lim, err, sizeof(err));
	assert_non_null(n->ksa);
	ksa_set_kx(n->ksa, &kx_ops, n);
	n->lsa = lsa_new(NULL, n->kma, n->name, &lsa_ops, n);
	assert_non_null(n->lsa);
	n->relay = relay_new(n->kma, n->lsa, n->name, &relay_ops, n);
	assert_non_null(n->relay);
	ksa_set_relay(n->ksa, n->relay);
	n->up = true;
}

static int setup(void **state)
{
	static const char *const names[N_NODES] = { "A", "B", "C" };

	W = calloc(1, sizeof(*W));
	assert_non_null(W);
	W->now = 1700000000ull * SEC;
	for (int i = 0; i < N_NODES; i++) {
		W->n[i].name = names[i];
		snprintf(W->n[i].dir, sizeof(W->n[i].dir),
			 "/tmp/test_relay_%s.XXXXXX", names[i]);
		assert_non_null(mkdtemp(W->n[i].dir));
	}
	for (int i = 0; i < N_NODES; i++)
		node_open(i);
	W->now += SEC / 10;	/* 1000 blocks of key per link */
	flood_lsas();
	*state = W;
	return 0;
}

static int teardown(void **state)
{
	for (int i = 0; i < N_NODES; i++) {
		struct node *n = &W->n[i];
		char path[128];

		ksa_set_relay(n->ksa, NULL);
		relay_free(n->relay);
		lsa_free(n->lsa);
		ksa_free(n->ksa);
		kma_free(n->kma);
		snprintf(path, sizeof(path), "%s/AB.hwm", n->dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/BC.hwm", n->dir);
		unlink(path);
		rmdir(n->dir);
	}
	free(W);
	W = NULL;
	return 0;
}

static enum ksa_result enc_a(uint32_t number, uint32_t size,
			     struct ksa_key *out, struct ksa_err *err)
{
	return ksa_enc_keys(W->n[0].ksa, "app1", "app3", NULL, 0, number,
			    size, out, err);
}

static enum ksa_result dec_c(const struct ksa_key *keys, size_t count,
			     struct ksa_key *out)
{
	const char *ids[16];
	struct ksa_err err;

	for (size_t i = 0; i < count; i++)
		ids[i] = keys[i].key_id;
	return ksa_dec_keys(W->n[2].ksa, "app3", "app1", ids, count, out,
			    &err);
}

static struct relay_info info_of(struct node *n)
{
	struct relay_info ri;

	relay_info(n->relay, &ri);
	return ri;
}

static const char *key_state(struct node *n, const char *uuid)
{
	struct kma_key *k = kma_key_find(n->kma, uuid);

	return k ? kma_key_state_name(kma_key_state(k)) : "none";
}

/* ---- tests ---- */

static void test_route_from_lsas(void **state)
{
	char hops[KXMSG_MAX_HOPS][KM_NAME_MAX], why[160];
	uint32_t n = 0;

	assert_int_equal(lsa_route(W->n[0].lsa, "C", 512, hops,
				   KXMSG_MAX_HOPS, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(hops[0], "A");
	assert_string_equal(hops[1], "B");
	assert_string_equal(hops[2], "C");
	assert_int_equal(lsa_route(W->n[0].lsa, "Z", 512, hops,
				   KXMSG_MAX_HOPS, &n, why, sizeof(why)),
			 -ENOENT);
	assert_non_null(strstr(why, "not in the topology"));
}

static void test_relay_end_to_end(void **state)
{
	struct ksa_key k[3], d[3];
	struct ksa_err err;
	struct relay_link_info *l = calloc(1, sizeof(*l));
	struct relay_session_info si;
	size_t found = 0;

	assert_non_null(l);

	assert_int_equal(enc_a(3, 512, k, &err), KSA_OK);
	/* Nothing arrived at C yet: dec_keys waits (RETRY). */
	assert_int_equal(dec_c(k, 1, d), KSA_RETRY);
	assert_true(pump() >= 9);	/* start, key, ack (x2) per key */
	assert_int_equal(dec_c(k, 3, d), KSA_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(d[i].size, 512);
		assert_memory_equal(k[i].key, d[i].key, 64);
		assert_string_equal(key_state(&W->n[0], k[i].key_id),
				    "consumed");	/* acked end to end */
	}
	ksa_keys_free(d, 3);
	/* Delivered once only. */
	assert_int_equal(dec_c(k, 1, d), KSA_NOT_FOUND);

	/* B relayed 3 keys to C: pad = 3 * (64 + 32) bytes, balanced. */
	assert_int_equal(relay_link_count(W->n[1].relay), 2);
	assert_int_equal(relay_link_info(W->n[1].relay, 2, l), -1);
	for (size_t i = 0; i < relay_link_count(W->n[1].relay); i++) {
		assert_int_equal(relay_link_info(W->n[1].relay, i, l), 0);
		if (strcmp(l->peer, "C"))
			continue;
		found++;
		assert_string_equal(l->link, "BC");
		assert_int_equal(l->tx.pad_bytes * 8, 3 * (64 + 32) * 8);
		assert_int_equal(l->tx.relayed_bits, 3 * 512);
		assert_int_equal(l->tx.mac_key_bits, 3 * 256);
		assert_int_equal(l->tx.n_ranges, 3);
		assert_true(relay_acct_balanced(&l->tx));
	}
	assert_int_equal(found, 1);
	free(l);
	/* A remembers the three sessions it started, oldest first. */
	assert_int_equal(relay_session_count(W->n[0].relay), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(relay_session_info(W->n[0].relay, i, &si), 0);
		assert_string_equal(si.key_id, k[i].key_id);
		assert_int_equal(si.role, RELAY_SESSION_SOURCE);
		assert_string_equal(si.route, "A-B-C");
		assert_false(si.open);
	}
	assert_int_equal(relay_session_info(W->n[0].relay, 3, &si), -1);
	assert_int_equal(relay_session_info(W->n[2].relay, 0, &si), 0);
	assert_int_equal(si.role, RELAY_SESSION_DEST);
	assert_int_equal(info_of(&W->n[0]).acked, 3);
	assert_int_equal(info_of(&W->n[2]).delivered, 3);
	ksa_keys_free(k, 3);
}

static void test_tampered_key_never_delivered(void **state)
{
	struct ksa_key k[1], d[1];
	struct ksa_err err;

	assert_int_equal(enc_a(1, 256, k, &err), KSA_OK);
	W->tamper_next = true;
	pump();
	/* C refused: no record, so dec_keys can never get it. */
	assert_int_not_equal(dec_c(k, 1, d), KSA_OK);
	assert_string_equal(key_state(&W->n[2], k[0].key_id), "none");
	/* A heard the NAK and destroyed its record. */
	assert_string_equal(key_state(&W->n[0], k[0].key_id), "destroyed");
	assert_int_equal(info_of(&W->n[2]).auth_alarms, 1);
	ksa_keys_free(k, 1);

	/* The next key relays fine: no stream state to get out of step. */
	assert_int_equal(enc_a(1, 256, k, &err), KSA_OK);
	pump();
	assert_int_equal(dec_c(k, 1, d), KSA_OK);
	assert_memory_equal(k[0].key, d[0].key, 32);
	ksa_keys_free(d, 1);
	ksa_keys_free(k, 1);
}

static void test_replay_refused(void **state)
{
	struct ksa_key k[1], d[1];
	struct ksa_err err;
	struct wire_msg replay;

	assert_int_equal(enc_a(1, 256, k, &err), KSA_OK);
	pump();
	assert_int_equal(dec_c(k, 1, d), KSA_OK);
	ksa_keys_free(d, 1);
	/* The same RELAY_KEY again: its pad was used, C refuses it. */
	replay = W->captured;
	W->wire[W->n_wire++] = replay;
	pump();
	assert_int_equal(info_of(&W->n[2]).refused, 1);
	assert_int_equal(info_of(&W->n[2]).delivered, 1);
	assert_int_equal(dec_c(k, 1, d), KSA_NOT_FOUND);
	ksa_keys_free(k, 1);
}

static void test_route_must_pass_sender(void **state)
{
	struct kxmsg *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	/* A RELAY_START claiming to come from C to A: not on its route. */
	m->type = KXMSG_RELAY_START;
	strcpy(m->uuid, "0f0e0d0c-0b0a-4988-8776-655443322110");
	strcpy(m->master, "app1");
	strcpy(m->slaves[0], "app3");
	m->n_slaves = 1;
	m->key_id = 1 << 16;
	m->key_len = 32;
	strcpy(m->dest, "C");
	strcpy(m->hops[0], "A");
	strcpy(m->hops[1], "B");
	strcpy(m->hops[2], "C");
	m->n_hops = 3;
	relay_receive(W->n[1].relay, "C", m);
	assert_int_equal(info_of(&W->n[1]).refused, 1);
	assert_int_equal(info_of(&W->n[1]).forwarded, 0);
	free(m);
}

static void test_no_route_is_unavailable(void **state)
{
	struct ksa_key k[1];
	struct ksa_err err;

	W->n[2].up = false;	/* C gone: B advertises B-C down */
	flood_lsas();
	assert_int_equal(enc_a(1, 256, k, &err), KSA_UNAVAILABLE);
	assert_non_null(strstr(err.message, "no relay route"));
	assert_int_equal(ksa_enc_keys(W->n[0].ksa, "app1", "app9", NULL, 0,
				      1, 256, k, &err), KSA_UNAVAILABLE);
	assert_non_null(strstr(err.message, "not in the topology"));
	W->n[2].up = true;
	flood_lsas();
	assert_int_equal(enc_a(1, 256, k, &err), KSA_OK);
	pump();
	ksa_keys_free(k, 1);
}

static enum ksa_result enc_from(const char *master, uint32_t number,
				struct ksa_key *out, struct ksa_err *err)
{
	return ksa_enc_keys(W->n[0].ksa, master, "app3", NULL, 0, number, 256,
			    out, err);
}

static struct relay_admission admission(enum relay_priority prio)
{
	return info_of(&W->n[0]).adm[prio];
}

/* B advertises its link to C at @level (a newer LSA than any before). */
static void b_advertises(uint8_t level, uint64_t seq)
{
	struct kxmsg *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->type = KXMSG_LSA;
	strcpy(m->node, "B");
	m->seq = seq;
	m->n_lsa = 2;
	strcpy(m->lsa[0].peer, "A");
	strcpy(m->lsa[1].peer, "C");
	for (int i = 0; i < 2; i++) {
		m->lsa[i].up = 1;
		m->lsa[i].level = i ? level : QKD_POOL_READY;
		m->lsa[i].avail_bits = 1ull << 30;
	}
	lsa_receive(W->n[0].lsa, "B", m);
	free(m);
}

/* Session control: slots and scarce key go to higher priorities first. */
static void test_session_admission(void **state)
{
	struct ksa_key k1[3], k2[4], k3[4], k4[1];
	struct ksa_err err;

	relay_set_max_sessions(W->n[0].relay, 8);
	assert_int_equal(relay_set_priority(W->n[0].relay, "app4",
					    RELAY_PRIO_HIGH), 0);
	assert_int_equal(relay_set_priority(W->n[0].relay, "app5",
					    RELAY_PRIO_LOW), 0);
	assert_int_equal(enc_from("app1", 3, k1, &err), KSA_OK);
	/* 3 open; normal may open 6 of 8. */
	assert_int_equal(enc_from("app1", 4, k2, &err), KSA_UNAVAILABLE);
	assert_non_null(strstr(err.message,
			       "relay overload: 3 relay sessions open, normal-priority SAEs may open 6"));
	assert_int_equal(enc_from("app4", 4, k2, &err), KSA_OK);	/* high */
	assert_int_equal(enc_from("app5", 1, k4, &err), KSA_UNAVAILABLE);
	assert_non_null(strstr(err.message, "low-priority SAEs may open 4"));
	/* Answers close the sessions; low priority still needs READY pools. */
	pump();
	b_advertises(QKD_POOL_LOW, UINT64_MAX - 1);
	assert_int_equal(enc_from("app5", 1, k4, &err), KSA_UNAVAILABLE);
	assert_non_null(strstr(err.message, "a key pool on the route is low"));
	b_advertises(QKD_POOL_READY, UINT64_MAX);
	assert_int_equal(enc_from("app5", 1, k4, &err), KSA_OK);
	assert_int_equal(enc_from("app1", 4, k3, &err), KSA_OK);
	pump();
	assert_int_equal(admission(RELAY_PRIO_NORMAL).admitted, 2);
	assert_int_equal(admission(RELAY_PRIO_NORMAL).refused_busy, 1);
	assert_int_equal(admission(RELAY_PRIO_HIGH).admitted, 1);
	assert_int_equal(admission(RELAY_PRIO_LOW).admitted, 1);
	assert_int_equal(admission(RELAY_PRIO_LOW).refused_busy, 1);
	assert_int_equal(admission(RELAY_PRIO_LOW).refused_pool, 1);
	assert_int_equal(info_of(&W->n[0]).max_sessions, 8);
	assert_int_equal(info_of(&W->n[0]).open, 0);
	ksa_keys_free(k1, 3);
	ksa_keys_free(k2, 4);
	ksa_keys_free(k3, 4);
	ksa_keys_free(k4, 1);
}

static void test_kxmsg_relay_roundtrip(void **state)
{
	struct kxmsg *m = calloc(2, sizeof(*m)), *back = m + 1;
	uint8_t buf[KXMSG_MAX_LEN];
	char err[64];
	int n;

	assert_non_null(m);
	m->type = KXMSG_RELAY_KEY;
	strcpy(m->uuid, "0f0e0d0c-0b0a-4988-8776-655443322110");
	strcpy(m->master, "app1");
	strcpy(m->slaves[0], "app3");
	m->n_slaves = 1;
	m->key_len = 32;
	strcpy(m->dest, "C");
	strcpy(m->hops[0], "A");
	strcpy(m->hops[1], "B");
	strcpy(m->hops[2], "C");
	m->n_hops = 3;
	m->pads[0] = (struct kxmsg_pad){ 7ull << 16, 64 };
	m->n_pads = 1;
	m->sealed_len = RELAY_OVERHEAD + 32;
	memset(m->sealed, 0x5a, m->sealed_len);
	n = kxmsg_encode(m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, back, err, sizeof(err)),
			 n);
	assert_int_equal(back->n_hops, 3);
	assert_string_equal(back->hops[2], "C");
	assert_int_equal(back->pads[0].key_id, 7ull << 16);
	assert_int_equal(back->sealed_len, RELAY_OVERHEAD + 32);
	assert_memory_equal(back->sealed, m->sealed, m->sealed_len);
	/* A route of one node is refused both ways. */
	m->n_hops = 1;
	assert_int_equal(kxmsg_encode(m, buf, sizeof(buf)), -1);

	memset(m, 0, sizeof(*m));
	m->type = KXMSG_LSA;
	strcpy(m->node, "B");
	m->seq = 42;
	strcpy(m->lsa[0].peer, "A");
	m->lsa[0].up = 1;
	m->lsa[0].level = QKD_POOL_READY;
	m->lsa[0].avail_bits = 123456;
	m->n_lsa = 1;
	n = kxmsg_encode(m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, back, err, sizeof(err)),
			 n);
	assert_int_equal(back->seq, 42);
	assert_string_equal(back->lsa[0].peer, "A");
	assert_int_equal(back->lsa[0].avail_bits, 123456);
	/* A bad "up" flag is refused. */
	buf[KXMSG_HDR_LEN + 4 + 1 + 4 + 8 + 4] = 2;
	assert_int_equal(kxmsg_decode(buf, (size_t)n, back, err, sizeof(err)),
			 -1);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kxmsg_relay_roundtrip),
		cmocka_unit_test_setup_teardown(test_session_admission, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_route_from_lsas, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_relay_end_to_end, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_tampered_key_never_delivered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_route_must_pass_sender,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_route_is_unavailable,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
