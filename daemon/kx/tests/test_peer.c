// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for peer.c: real Kx channels over mutual TLS on loopback, in
 * one process and one event loop.  Node A and node B, each with a KMA over
 * one end of a simulated link and a KSA, find each other, and a key A's
 * master gets is served to B's slave with the same bytes.  Impostors (a
 * certificate CN that is not a configured peer, a certificate from another
 * CA, a node whose hello names someone else) never come up.
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
#include <sys/stat.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "kma/kma.h"
#include "ksa/ksa.h"
#include "kx/peer.h"
#include "kma/kma.h"
#include "core/loop.h"
#include "kx/kxmsg.h"
#include "kx/peer.h"
#include "kx/tls.h"
#include "kx/tests/tls_fixture.h"

struct node {
	char name[16];
	char cert[16];			/* file stem of its certificate */
	const char *ca;			/* CA file stem it trusts/presents */
	char listen[32];
	struct peer_cfg peer;		/* its one peer */
	char state[600];
	SSL_CTX *srv, *cli;
	struct kma *kma;
	struct ksa *ksa;
	struct peers *peers;
};

static char *dir;
static struct loop *loop;
static int base_port;
static uint8_t seed[32];

static const struct ksa_sae_cfg saes[] = {
	{ "app1", "app1", "A" },
	{ "app2", "app2", "B" },
};

static int group_setup(void **state)
{
	struct fixture_ca ca, rogue;

	dir = fixture_mkdtemp();
	assert_non_null(dir);
	assert_int_equal(fixture_ca_new(&ca, dir, "ca"), 0);
	assert_int_equal(fixture_ca_new(&rogue, dir, "rogue"), 0);
	assert_int_equal(fixture_leaf(&ca, dir, "A", "A"), 0);
	assert_int_equal(fixture_leaf(&ca, dir, "B", "B"), 0);
	assert_int_equal(fixture_leaf(&ca, dir, "M", "Mallory"), 0);
	assert_int_equal(fixture_leaf(&rogue, dir, "RA", "A"), 0);
	fixture_ca_free(&ca);
	fixture_ca_free(&rogue);
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)(i * 3);
	base_port = 20000 + (getpid() % 20000);
	return 0;
}

static int group_teardown(void **state)
{
	fixture_rmdir(dir);
	return 0;
}

static void node_init(struct node *n, const char *name, const char *cert,
		      int port, const char *peer, const char *peer_cn,
		      int peer_port)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->cert, sizeof(n->cert), "%s", cert);
	n->ca = "ca";
	snprintf(n->listen, sizeof(n->listen), "127.0.0.1:%d", port);
	snprintf(n->peer.name, sizeof(n->peer.name), "%s", peer);
	snprintf(n->peer.cert_cn, sizeof(n->peer.cert_cn), "%s", peer_cn);
	snprintf(n->peer.address, sizeof(n->peer.address), "127.0.0.1:%d",
		 peer_port);
}

static void node_start(struct node *n, enum qkd_role role)
{
	char cert[600], key[600], ca[600], err[256] = "";
	struct tls_files files = { .ca = ca, .cert = cert, .key = key };
	struct km_node_cfg node = { 0 };
	struct kma_link_cfg link = {
		.source = KM_SOURCE_SIM, .role = role, .rate = 8000000,
		.block_size = 1000,
	};
	struct ksa_limits lim = {
		.key_size = 256, .min_key_size = 64, .max_key_size = 4096,
		.max_key_per_request = 16, .max_key_count = 100,
	};

	snprintf(ca, sizeof(ca), "%s/%s.pem", dir, n->ca);
	snprintf(cert, sizeof(cert), "%s/%s.pem", dir, n->cert);
	snprintf(key, sizeof(key), "%s/%s.key", dir, n->cert);
	snprintf(n->state, sizeof(n->state), "%s/state-%s", dir, n->name);
	mkdir(n->state, 0700);
	n->srv = tls_ctx_new(&files, 1, err, sizeof(err));
	n->cli = tls_ctx_new(&files, 0, err, sizeof(err));
	if (!n->srv || !n->cli)
		print_error("tls_ctx_new: %s\n", err);
	assert_non_null(n->srv);
	assert_non_null(n->cli);
	snprintf(node.name, sizeof(node.name), "%s", n->name);
	snprintf(node.state_dir, sizeof(node.state_dir), "%s", n->state);
	strcpy(link.name, "AB");
	snprintf(link.peer, sizeof(link.peer), "%s", n->peer.name);
	memcpy(link.seed, seed, 32);
	n->kma = kma_new(loop, &node, &link, 1, err, sizeof(err));
	assert_non_null(n->kma);
	n->ksa = ksa_new(n->kma, &node, saes, 2, &lim, err, sizeof(err));
	assert_non_null(n->ksa);
	n->peers = peers_start(loop, n->srv, n->cli, &node, &n->peer, 1,
			       n->listen, err, sizeof(err));
	if (!n->peers)
		print_error("peers_start: %s\n", err);
	assert_non_null(n->peers);
	ksa_use_peers(n->ksa, n->peers);
	kma_use_peers(n->kma, n->peers);
}

static void node_stop(struct node *n)
{
	ksa_use_peers(n->ksa, NULL);
	kma_use_peers(n->kma, NULL);
	peers_stop(n->peers);
	ksa_free(n->ksa);
	kma_free(n->kma);
	SSL_CTX_free(n->srv);
	SSL_CTX_free(n->cli);
}

/* ---- running the loop until something holds ---- */

struct wait {
	bool (*cond)(void *arg);
	void *arg;
	uint64_t deadline;
	bool met;
};

static void wait_tick(void *arg)
{
	struct wait *w = arg;

	if (w->cond(w->arg)) {
		w->met = true;
		loop_stop(loop);
	} else if (loop_now_ms() > w->deadline) {
		loop_stop(loop);
	}
}

static bool run_until(bool (*cond)(void *), void *arg, uint64_t ms)
{
	struct wait w = { cond, arg, loop_now_ms() + ms, false };
	struct loop_timer *t = loop_timer_add(loop, 10, true, wait_tick, &w);

	assert_non_null(t);
	assert_int_equal(loop_run(loop), 0);
	loop_timer_del(t);
	return w.met;
}

static bool peer_is_up(void *arg)
{
	struct peer_info pi;

	return peers_info(arg, 0, &pi) == 0 && pi.state == PEER_UP;
}

static bool never(void *arg)
{
	return false;
}

struct dec_try {
	struct node *b;
	struct ksa_key *keys, *out;
	size_t n;
	enum ksa_result r;
};

static bool dec_done(void *arg)
{
	struct dec_try *d = arg;
	const char *ids[16];
	struct ksa_err err;

	for (size_t i = 0; i < d->n; i++)
		ids[i] = d->keys[i].key_id;
	d->r = ksa_dec_keys(d->b->ksa, "app2", "app1", ids, d->n, d->out,
			    &err);
	return d->r != KSA_RETRY;
}

/* The master's node (d->b here) once its first blocks are confirmed. */
static bool enc_done(void *arg)
{
	struct dec_try *e = arg;
	struct ksa_err err;

	e->r = ksa_enc_keys(e->b->ksa, "app1", "app2", NULL, 0, e->n, 256,
			    e->keys, &err);
	return e->r != KSA_UNAVAILABLE;
}

/* ---- tests ---- */

static int setup(void **state)
{
	loop = loop_new();
	assert_non_null(loop);
	base_port += 4;
	return 0;
}

static int teardown(void **state)
{
	/* Let closing connections finish before the loop goes. */
	run_until(never, NULL, 100);
	loop_free(loop);
	return 0;
}

/* A (Tx) and B (Rx), each the other's peer, with the channel up. */
static void pair_up(struct node *a, struct node *b)
{
	node_init(a, "A", "A", base_port, "B", "B", base_port + 1);
	node_init(b, "B", "B", base_port + 1, "A", "A", base_port);
	node_start(a, QKD_ROLE_TX);
	node_start(b, QKD_ROLE_RX);
	assert_true(run_until(peer_is_up, a->peers, 20000));
	assert_true(run_until(peer_is_up, b->peers, 20000));
}

static void test_keys_cross_kx(void **state)
{
	struct node a, b;
	struct ksa_key k[4], d[4];
	struct dec_try et = { &a, k, NULL, 4, KSA_UNAVAILABLE };
	struct dec_try dt = { &b, k, d, 4, KSA_RETRY };
	struct peer_info pi;

	pair_up(&a, &b);
	/* Keys are served once confirmed over the channel (confirm.h). */
	assert_true(run_until(enc_done, &et, 10000));
	assert_int_equal(et.r, KSA_OK);
	assert_true(run_until(dec_done, &dt, 10000));
	assert_int_equal(dt.r, KSA_OK);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(d[i].key_id, k[i].key_id);
		assert_memory_equal(d[i].key, k[i].key, 32);
	}
	ksa_keys_free(d, 4);
	ksa_keys_free(k, 4);
	assert_int_equal(peers_info(a.peers, 0, &pi), 0);
	assert_true(pi.msgs_sent >= 4);
	assert_int_equal(peers_info(b.peers, 0, &pi), 0);
	assert_true(pi.msgs_received >= 4);
	assert_int_equal(peers_info(b.peers, 1, &pi), -1);
	node_stop(&a);
	node_stop(&b);
}

static void test_unknown_cn_refused(void **state)
{
	struct node a, m;

	/* B is absent; "Mallory" is a valid certificate of the right CA but
	 * not A's peer B: A (which dials B) must refuse it as B. */
	node_init(&a, "A", "A", base_port, "B", "B", base_port + 1);
	node_init(&m, "B", "M", base_port + 1, "A", "A", base_port);
	node_start(&a, QKD_ROLE_TX);
	node_start(&m, QKD_ROLE_RX);
	assert_false(run_until(peer_is_up, a.peers, 1500));
	assert_false(peer_is_up(m.peers));
	node_stop(&a);
	node_stop(&m);
}

static void test_inbound_unknown_cn_refused(void **state)
{
	struct node b, m;

	/* "A0" (certificate CN "Mallory") dials B; B only knows peer A. */
	node_init(&b, "B", "B", base_port + 1, "A", "A", base_port);
	node_init(&m, "A0", "M", base_port, "B", "B", base_port + 1);
	node_start(&b, QKD_ROLE_RX);
	node_start(&m, QKD_ROLE_TX);
	assert_false(run_until(peer_is_up, b.peers, 1500));
	assert_false(peer_is_up(m.peers));
	node_stop(&b);
	node_stop(&m);
}

static void test_wrong_hello_refused(void **state)
{
	struct node a, b;

	/* A real certificate of A, but its daemon says it is node "A2". */
	node_init(&b, "B", "B", base_port + 1, "A", "A", base_port);
	node_init(&a, "A2", "A", base_port, "B", "B", base_port + 1);
	node_start(&b, QKD_ROLE_RX);
	node_start(&a, QKD_ROLE_TX);
	assert_false(run_until(peer_is_up, b.peers, 1500));
	node_stop(&a);
	node_stop(&b);
}

static void test_untrusted_ca_refused(void **state)
{
	struct node a, b;

	node_init(&a, "A", "RA", base_port, "B", "B", base_port + 1);
	node_init(&b, "B", "B", base_port + 1, "A", "A", base_port);
	a.ca = "ca";	/* A trusts the CA, but its own cert is rogue */
	node_start(&a, QKD_ROLE_TX);
	node_start(&b, QKD_ROLE_RX);
	assert_false(run_until(peer_is_up, b.peers, 1500));
	assert_false(peer_is_up(a.peers));
	node_stop(&a);
	node_stop(&b);
}

/* A TCP listener that never accepts: the kernel completes the handshake
 * into the backlog, so a dial gets connected and then hears nothing. */
static int silent_listener(int port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static bool dial_gave_up(void *arg)
{
	struct peer_info pi;

	return peers_info(arg, 0, &pi) == 0 &&
	       strstr(pi.last_error, "dial timeout") != NULL;
}

/* Count the connections waiting in (non-blocking) @fd's backlog. */
static int drain_backlog(int fd)
{
	int n = 0, c;

	while ((c = accept4(fd, NULL, NULL, 0)) >= 0) {
		close(c);
		n++;
	}
	return n;
}

static void test_stuck_dial_retried(void **state)
{
	int silent = silent_listener(base_port + 1);
	struct node a, b;

	/* A dials "B", which is a listener that never answers: after the
	 * dial timeout A gives up and dials again (a second connection),
	 * and once the real B listens there, the channel comes up. */
	node_init(&a, "A", "A", base_port, "B", "B", base_port + 1);
	node_start(&a, QKD_ROLE_TX);
	assert_true(run_until(dial_gave_up, a.peers,
			      PEER_DIAL_TIMEOUT_MS + 2000));
	assert_false(peer_is_up(a.peers));
	run_until(never, NULL, PEER_BACKOFF_MAX_MS < 1500 ?
		  PEER_BACKOFF_MAX_MS : 1500);
	assert_true(drain_backlog(silent) >= 2);
	close(silent);

	node_init(&b, "B", "B", base_port + 1, "A", "A", base_port);
	node_start(&b, QKD_ROLE_RX);
	assert_true(run_until(peer_is_up, a.peers,
			      PEER_DIAL_TIMEOUT_MS + PEER_BACKOFF_MAX_MS));
	node_stop(&a);
	node_stop(&b);
}

/* Configuration 4: a RESERVE for a node that is not a peer, via the hub. */
static struct kxmsg *reserve_for_c(void)
{
	struct kxmsg *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->type = KXMSG_RESERVE;
	strcpy(m->uuid, "0f8e6a34-5b2c-4d1e-9a7b-3c2d1e0f9a8b");
	strcpy(m->master, "app1");
	strcpy(m->slaves[0], "app2");
	m->n_slaves = 1;
	strcpy(m->link, "AC");
	m->key_len = 32;
	return m;
}

static bool hub_refused_one(void *arg)
{
	uint64_t fwd, refused;

	peers_hub_stats(arg, &fwd, &refused);
	return refused == 1;
}

static bool peer_is_down(void *arg)
{
	return !peer_is_up(arg);
}

static void test_hub_forwarding_rules(void **state)
{
	struct node a, b;
	struct kxmsg *m = reserve_for_c();
	uint64_t fwd, refused;

	node_init(&a, "A", "A", base_port, "B", "B", base_port + 1);
	node_init(&b, "B", "B", base_port + 1, "A", "A", base_port);
	node_start(&a, QKD_ROLE_TX);
	node_start(&b, QKD_ROLE_RX);
	peers_set_hub(a.peers, "B");
	peers_set_hub(b.peers, "B");
	assert_true(run_until(peer_is_up, a.peers, 20000));
	/* A reaches C through its hub B: "up" as long as B is. */
	assert_true(peers_is_up(a.peers, "C"));
	assert_int_equal(peers_send(a.peers, "C", m), 0);
	/* B is the hub but has no node C: dropped, counted, channel kept. */
	assert_true(run_until(hub_refused_one, b.peers, 10000));
	peers_hub_stats(b.peers, &fwd, &refused);
	assert_int_equal(fwd, 0);
	assert_true(peer_is_up(a.peers));
	/* A node that is not the hub refuses to forward and hangs up. */
	peers_set_hub(b.peers, NULL);
	assert_int_equal(peers_send(a.peers, "C", m), 0);
	assert_true(run_until(peer_is_down, a.peers, 10000));
	free(m);
	node_stop(&a);
	node_stop(&b);
}

struct received_at_least {
	struct peers *peers;
	uint64_t n;
};

static bool received_at_least(void *arg)
{
	struct received_at_least *r = arg;
	struct peer_info pi;

	return peers_info(r->peers, 0, &pi) == 0 && pi.msgs_received >= r->n;
}

/*
 * A type nothing at B serves (a [strongswan] section at A only) is
 * dropped; the channel, which carries keys and relays, stays up.
 */
static void test_unserved_type_dropped(void **state)
{
	struct kxmsg *m = calloc(1, sizeof(*m));
	struct received_at_least r;
	struct peer_info pa, pb;
	struct node a, b;

	assert_non_null(m);
	m->type = KXMSG_SWAN_PPK;
	m->key_id = 7;
	m->key_len = 32;
	m->seq = 1;
	strcpy(m->port, "s0");
	pair_up(&a, &b);
	assert_int_equal(peers_info(b.peers, 0, &pb), 0);
	r.peers = b.peers;
	r.n = pb.msgs_received + 2;
	assert_int_equal(peers_send(a.peers, "B", m), 0);
	assert_int_equal(peers_send(a.peers, "B", m), 0);
	assert_true(run_until(received_at_least, &r, 10000));
	run_until(peer_is_down, a.peers, 500);
	assert_int_equal(peers_info(a.peers, 0, &pa), 0);
	assert_int_equal(pa.state, PEER_UP);
	assert_int_equal(pa.connects, 1);
	free(m);
	node_stop(&a);
	node_stop(&b);
}

static void test_addresses(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_int_equal(peer_parse_addr("127.0.0.1:9001", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(peer_parse_addr("[::1]:9001", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(peer_parse_addr("::1:9001", &ss, &len), -1);
	assert_int_equal(peer_parse_addr("127.0.0.1", &ss, &len), -1);
	assert_int_equal(peer_parse_addr("127.0.0.1:0", &ss, &len), -1);
	assert_int_equal(peer_parse_addr("127.0.0.1:65536", &ss, &len), -1);
	assert_int_equal(peer_parse_addr("127.0.0.1:9x", &ss, &len), -1);
	assert_int_equal(peer_parse_addr("host:9001", &ss, &len), -1);
	assert_int_equal(peer_parse_addr(":9001", &ss, &len), -1);
	assert_true(peer_dials("A", "B"));
	assert_false(peer_dials("B", "A"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_keys_cross_kx),
		T(test_unknown_cn_refused),
		T(test_inbound_unknown_cn_refused),
		T(test_wrong_hello_refused),
		T(test_untrusted_ca_refused),
		T(test_stuck_dial_retried),
		T(test_hub_forwarding_rules),
		T(test_unserved_type_dropped),
		cmocka_unit_test(test_addresses),
	};

	return cmocka_run_group_tests_name("peer", tests, group_setup,
					   group_teardown);
}
