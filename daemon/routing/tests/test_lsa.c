// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for lsa.c: the link-state database of an observer node X
 * (no links of its own) fed with hand-made LSAs of a line A - B - C:
 * routes follow the newest LSA per origin, a link needs both ends to call
 * it up, old sequence numbers are ignored, silent origins age out.
 * Routes are computed once per change of the graph and served from the
 * cache until the next one.
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

#include "routing/tests/lsa_fixture.h"

#define PATH_TEXT_MAX	256

static int path_text(void *arg, const struct lsa_path_info *p)
{
	char *out = arg;

	out[0] = '\0';
	if (p->err)
		snprintf(out, PATH_TEXT_MAX, "error: %s", p->why);
	for (uint32_t i = 0; !p->err && i < p->n_nodes; i++)
		snprintf(out + strlen(out), PATH_TEXT_MAX - strlen(out),
			 "%s%s", i ? "-" : "", p->nodes[i]);
	return 0;
}

/* "A-B-C" or the error text of the path from @src to @dst. */
static char *path(struct fixture *f, const char *src, const char *dst)
{
	static char out[PATH_TEXT_MAX];

	assert_int_equal(lsa_path(f->lsa, src, dst, path_text, out), 0);
	return out;
}

static struct lsa_info info(struct fixture *f)
{
	struct lsa_info in;

	lsa_info(f->lsa, &in);
	return in;
}

static void feed_line(struct fixture *f, uint64_t seq)
{
	feed(f, "A", seq, "B:up", NULL);
	feed(f, "B", seq, "A:up", "C:up", NULL);
	feed(f, "C", seq, "B:up", NULL);
}

static void test_line_route(void **state)
{
	struct fixture *f = *state;

	feed_line(f, 10);
	assert_string_equal(path(f, "A", "C"), "A-B-C");
	assert_string_equal(path(f, "C", "A"), "C-B-A");
	assert_non_null(strstr(path(f, "A", "Q"), "not in the topology"));
}

static void test_newest_wins(void **state)
{
	struct fixture *f = *state;

	feed_line(f, 10);
	feed(f, "B", 11, "A:up", "C:down", NULL);
	assert_non_null(strstr(path(f, "A", "C"), "error"));
	/* An older LSA from B (C up again) is ignored. */
	feed(f, "B", 9, "A:up", "C:up", NULL);
	assert_non_null(strstr(path(f, "A", "C"), "error"));
	feed(f, "B", 12, "A:up", "C:up", NULL);
	assert_string_equal(path(f, "A", "C"), "A-B-C");
}

static void test_two_way_check(void **state)
{
	struct fixture *f = *state;

	feed(f, "A", 1, "B:up", NULL);
	feed(f, "B", 1, "A:up", NULL);		/* B does not list C */
	feed(f, "C", 1, "B:up", NULL);
	assert_non_null(strstr(path(f, "A", "C"), "error"));
	assert_string_equal(path(f, "A", "B"), "A-B");
}

/* Square A-B-D, A-C-D: a drained pool on one side moves the route. */
static void test_drained_pool_moves_route(void **state)
{
	struct fixture *f = *state;

	feed(f, "A", 1, "B:up", "C:up", NULL);
	feed(f, "B", 1, "A:up", "D:up", NULL);
	feed(f, "C", 1, "A:up", "D:up", NULL);
	feed(f, "D", 1, "B:up", "C:up", NULL);
	assert_int_equal(strlen(path(f, "A", "D")), 5);	/* 2 hops */
	feed(f, "B", 2, "A:up", "D:up:drained", NULL);
	assert_string_equal(path(f, "A", "D"), "A-C-D");
	feed(f, "B", 3, "A:up", "D:up", NULL);
	feed(f, "C", 2, "A:up:drained", "D:up", NULL);
	assert_string_equal(path(f, "A", "D"), "A-B-D");
}

/* Configuration 2: X takes routes only from its controller K. */
static void test_pushed_routes(void **state)
{
	struct fixture *f = *state;
	struct kxmsg *m = &f->m, *back = calloc(1, sizeof(*back));
	uint8_t buf[KXMSG_MAX_LEN];
	char err[64];
	int n;

	assert_non_null(back);
	lsa_set_controller(f->lsa, "K");
	assert_non_null(strstr(path(f, "X", "B"), "no current route table"));
	routes_msg(m, "K", "X", 5, "X,A,B", "X,A", NULL);
	/* Through the codec, as on the wire. */
	n = kxmsg_encode(m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, back, err, sizeof(err)),
			 n);
	lsa_receive(f->lsa, "A", back);
	assert_string_equal(path(f, "X", "B"), "X-A-B");
	/* An older table, or one from another node, changes nothing. */
	strcpy(m->routes[0], "X,C,B");
	m->seq = 4;
	lsa_receive(f->lsa, "A", m);
	assert_string_equal(path(f, "X", "B"), "X-A-B");
	strcpy(m->node, "Q");
	m->seq = 6;
	lsa_receive(f->lsa, "A", m);
	assert_string_equal(path(f, "X", "B"), "X-A-B");
	assert_non_null(strstr(path(f, "X", "C"), "no route to KME C"));
	free(back);
}

static void test_own_lsa_ignored(void **state)
{
	struct fixture *f = *state;

	feed(f, "X", 1ull << 62, "A:up", NULL);	/* ours, flooded back */
	assert_int_equal(info(f).received, 0);
	assert_int_equal(lsa_node_count(f->lsa), 1);
}

static void test_age_out(void **state)
{
	struct fixture *f = *state;
	struct lsa_node_info n;

	feed_line(f, 10);
	usleep((LSA_MAX_AGE_MS + 200) * 1000);
	feed(f, "A", 11, "B:up", NULL);		/* A still talks */
	/* X (ourselves) and A remain; B and C aged out. */
	assert_int_equal(info(f).aged_out, 2);
	assert_int_equal(lsa_node_count(f->lsa), 2);
	assert_int_equal(lsa_node_info(f->lsa, 1, &n), 0);
	assert_string_equal(n.node, "A");
	assert_int_equal(n.seq, 11);
	assert_int_equal(n.n_links, 1);
	assert_string_equal(n.links[0].peer, "B");
	assert_int_equal(lsa_node_info(f->lsa, 2, &n), -1);
	assert_non_null(strstr(path(f, "A", "C"), "not in the topology"));
}

/* Topologies built and trees computed so far. */
static void assert_work(struct fixture *f, uint64_t builds,
			uint64_t recomputes)
{
	struct lsa_info in = info(f);

	assert_int_equal(in.topo_builds, builds);
	assert_int_equal(in.route_recomputes, recomputes);
}

/* Lookups between changes are served from the trees computed after one. */
static void test_routes_cached_until_change(void **state)
{
	struct fixture *f = *state;

	feed(f, "A", 1, "B:up", "C:up", NULL);	/* square A-B-D, A-C-D */
	feed(f, "B", 1, "A:up", "D:up", NULL);
	feed(f, "C", 1, "A:up", "D:up:scarce", NULL);
	feed(f, "D", 1, "B:up", "C:up:scarce", NULL);
	for (int i = 0; i < 5; i++) {
		assert_string_equal(path(f, "A", "D"), "A-B-D");
		assert_string_equal(path(f, "A", "C"), "A-C");
		assert_string_equal(path(f, "D", "A"), "D-B-A");
	}
	assert_work(f, 1, 2);			/* trees from A and D */
	/* refreshed LSAs with the same figures change nothing */
	feed(f, "A", 2, "B:up", "C:up", NULL);
	feed(f, "D", 2, "B:up", "C:up:scarce", NULL);
	assert_string_equal(path(f, "A", "D"), "A-B-D");
	assert_work(f, 1, 2);
	/* less key on B-D, same pool level: the next lookup goes round */
	feed(f, "B", 2, "A:up", "D:up:scarce", NULL);
	feed(f, "D", 3, "B:up:scarce", "C:up", NULL);
	feed(f, "C", 2, "A:up", "D:up", NULL);
	assert_string_equal(path(f, "A", "D"), "A-C-D");
	assert_work(f, 2, 3);
	/* a link down */
	feed(f, "A", 3, "B:up", "C:down", NULL);
	assert_string_equal(path(f, "A", "D"), "A-B-D");
	assert_work(f, 3, 4);
	/* expiry: silent origins go, and their links with them */
	usleep((LSA_MAX_AGE_MS + 200) * 1000);
	feed(f, "A", 4, "B:up", "C:down", NULL);	/* A refreshes */
	assert_non_null(strstr(path(f, "A", "D"), "not in the topology"));
	assert_string_equal(path(f, "A", "X"),
			    "error: no route from A to X: not connected");
	assert_work(f, 4, 5);
}

/* Line A - B - ... - F, more origins than the route cache holds trees. */
static void feed_line6(struct fixture *f, uint64_t seq)
{
	feed(f, "A", seq, "B:up", NULL);
	feed(f, "B", seq, "A:up", "C:up", NULL);
	feed(f, "C", seq, "B:up", "D:up", NULL);
	feed(f, "D", seq, "C:up", "E:up", NULL);
	feed(f, "E", seq, "D:up", "F:up", NULL);
	feed(f, "F", seq, "E:up", NULL);
}

/* Configuration 2: the controller computes after a change, not per push. */
static void test_controller_pushes_once_per_change(void **state)
{
	struct fixture *f = *state;

	lsa_set_controller(f->lsa, "X");
	lsa_set_central_relay(f->lsa, true);	/* ROUTES go to the target */
	routes_sent = 0;
	feed_line6(f, 10);
	lsa_tick(f->lsa);
	assert_int_equal(routes_sent, 6);	/* A to F */
	assert_string_equal(last_routes.dest, "F");
	assert_int_equal(last_routes.n_routes, 5);
	assert_string_equal(last_routes.routes[0], "F,E,D,C,B,A");
	assert_string_equal(last_routes.routes[4], "F,E");
	assert_int_equal(info(f).route_recomputes, 6);
	/* the refresh a second later sends the same tables, computed before */
	usleep((LSA_REFRESH_MS + 100) * 1000);
	feed_line6(f, 11);
	lsa_tick(f->lsa);
	assert_int_equal(routes_sent, 12);
	assert_int_equal(last_routes.n_routes, 5);
	assert_string_equal(last_routes.routes[0], "F,E,D,C,B,A");
	assert_int_equal(info(f).route_recomputes, 6);
	/* E-F down: new tables at once */
	feed(f, "E", 12, "D:up", "F:down", NULL);
	lsa_tick(f->lsa);
	assert_int_equal(routes_sent, 18);
	assert_string_equal(last_routes.dest, "F");
	assert_int_equal(last_routes.n_routes, 0);
	assert_int_equal(info(f).route_recomputes, 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_line_route, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_newest_wins, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_two_way_check, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drained_pool_moves_route,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pushed_routes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_own_lsa_ignored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_age_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routes_cached_until_change,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_controller_pushes_once_per_change, setup,
			teardown),
	};

	return cmocka_run_group_tests_name("lsa", tests, NULL, NULL);
}
