// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for route.c on a 5-node line, a ring, a 12-node mesh and
 * random graphs.  Expected routes are checked against references written
 * here: exhaustive search over simple paths (small graphs) and an O(V^2)
 * array Dijkstra (random graphs), both using only route_link_cost().  The
 * route cache computes a tree once and serves lookups from it until the
 * topology is replaced.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "routing/route.h"

#define NEED	1280	/* one 1024-bit key plus the 256-bit MAC key */

static const struct route_link_status full = {
	QKD_LINK_UP, QKD_POOL_READY, 1ULL << 30, 1000000
};

static struct route_link_status status(enum qkd_link_state s,
				       enum qkd_pool_level l, uint64_t avail)
{
	struct route_link_status st = { s, l, avail, 1000000 };

	return st;
}

/* Nodes named A, B, C ... (then N12 ...), all links full. */
static struct route_topo *make_nodes(uint32_t n)
{
	struct route_topo *t = route_topo_new();
	char name[16];

	assert_non_null(t);
	for (uint32_t i = 0; i < n; i++) {
		if (i < 26)
			snprintf(name, sizeof(name), "%c", 'A' + i);
		else
			snprintf(name, sizeof(name), "N%u", i);
		assert_int_equal(route_node_add(t, name), (int)i);
	}
	return t;
}

static int link(struct route_topo *t, uint32_t a, uint32_t b)
{
	int l = route_link_add(t, a, b, &full);

	assert_true(l >= 0);
	return l;
}

static uint32_t node(struct route_topo *t, const char *name)
{
	int v = route_node_find(t, name);

	assert_true(v >= 0);
	return (uint32_t)v;
}

/* The path is a real, usable, simple path from src to dst at its cost. */
static void assert_valid_path(struct route_topo *t, const struct route_path *p,
			      uint32_t src, uint32_t dst, uint64_t need)
{
	uint64_t sum = 0;
	uint32_t a, b;

	assert_int_equal(p->nodes[0], src);
	assert_int_equal(p->nodes[p->hops], dst);
	for (uint32_t i = 0; i < p->hops; i++) {
		uint64_t c = route_link_cost(t, p->links[i], need);

		assert_int_equal(route_link_ends(t, p->links[i], &a, &b), 0);
		assert_true((a == p->nodes[i] && b == p->nodes[i + 1]) ||
			    (b == p->nodes[i] && a == p->nodes[i + 1]));
		assert_true(c != ROUTE_COST_INF);
		sum += c;
		for (uint32_t j = 0; j < i; j++)
			assert_int_not_equal(p->nodes[j], p->nodes[i + 1]);
	}
	assert_int_equal(sum, p->cost);
}

/* Least-cost path from a fresh route table, as route_cache_path() does. */
static int compute(struct route_topo *t, uint32_t src, uint32_t dst,
		   uint64_t need, struct route_path *p)
{
	struct route_table *tab = route_table_new(t, src, need);
	int err;

	assert_non_null(tab);
	err = route_table_path(tab, dst, p);
	route_table_free(tab);
	return err;
}

/* "A-B-C" for messages and comparisons. */
static void path_str(struct route_topo *t, const struct route_path *p,
		     char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (uint32_t i = 0; i <= p->hops && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? "-" : "",
					route_node_name(t, p->nodes[i]));
}

static void assert_route(struct route_topo *t, const char *src,
			 const char *dst, const char *want)
{
	struct route_path p;
	char got[256];

	assert_int_equal(compute(t, node(t, src), node(t, dst), NEED,
				       &p), 0);
	assert_valid_path(t, &p, node(t, src), node(t, dst), NEED);
	path_str(t, &p, got, sizeof(got));
	assert_string_equal(got, want);
	route_path_release(&p);
}

static void assert_no_route(struct route_topo *t, const char *src,
			    const char *dst, const char *why)
{
	struct route_path p;
	char msg[256];

	assert_int_equal(compute(t, node(t, src), node(t, dst), NEED,
				       &p), -EHOSTUNREACH);
	route_explain(t, node(t, src), node(t, dst), NEED, msg, sizeof(msg));
	assert_non_null(strstr(msg, why));
}

/* Least cost over every simple path, by exhaustive search. */
static uint64_t brute_best(struct route_topo *t, uint32_t u, uint32_t dst,
			   uint8_t *seen)
{
	uint64_t best = ROUTE_COST_INF;
	uint32_t a, b;

	if (u == dst)
		return 0;
	seen[u] = 1;
	for (uint32_t l = 0; l < route_link_count(t); l++) {
		uint64_t c = route_link_cost(t, l, NEED), rest;
		uint32_t v;

		route_link_ends(t, l, &a, &b);
		if (c == ROUTE_COST_INF || (a != u && b != u))
			continue;
		v = a == u ? b : a;
		if (seen[v])
			continue;
		rest = brute_best(t, v, dst, seen);
		if (rest != ROUTE_COST_INF && c + rest < best)
			best = c + rest;
	}
	seen[u] = 0;
	return best;
}

static void assert_optimal_everywhere(struct route_topo *t)
{
	uint32_t n = route_node_count(t);
	uint8_t seen[64] = { 0 };

	for (uint32_t s = 0; s < n; s++)
		for (uint32_t d = 0; d < n; d++) {
			struct route_path p;
			uint64_t best;
			int err;

			if (s == d)
				continue;
			best = brute_best(t, s, d, seen);
			err = compute(t, s, d, NEED, &p);
			if (best == ROUTE_COST_INF) {
				assert_int_equal(err, -EHOSTUNREACH);
				continue;
			}
			assert_int_equal(err, 0);
			assert_int_equal(p.cost, best);
			assert_valid_path(t, &p, s, d, NEED);
			route_path_release(&p);
		}
}

static void test_line_of_five(void **state)
{
	struct route_link_status down = status(QKD_LINK_DOWN, QKD_POOL_READY,
					       1ULL << 30);
	struct route_link_status empty = status(QKD_LINK_UP, QKD_POOL_EMPTY, 0);
	struct route_link_status low = status(QKD_LINK_UP, QKD_POOL_WARNING,
					      NEED - 1);
	struct route_topo *t = make_nodes(5);
	int bc, cd;

	link(t, 0, 1);
	bc = link(t, 1, 2);
	cd = link(t, 2, 3);
	link(t, 3, 4);
	assert_route(t, "A", "E", "A-B-C-D-E");
	assert_route(t, "D", "B", "D-C-B");
	assert_optimal_everywhere(t);
	/* a link down cuts the line: clear error */
	assert_int_equal(route_link_update(t, (uint32_t)bc, &down), 0);
	assert_no_route(t, "A", "E", "link or node down");
	assert_route(t, "C", "E", "C-D-E");
	assert_int_equal(route_link_update(t, (uint32_t)bc, &full), 0);
	/* a drained pool cuts it too, with a different reason */
	assert_int_equal(route_link_update(t, (uint32_t)cd, &empty), 0);
	assert_no_route(t, "A", "E", "key pool");
	/* a pool holding less than one relay needs is as good as empty */
	assert_int_equal(route_link_update(t, (uint32_t)cd, &low), 0);
	assert_no_route(t, "A", "E", "key pool");
	/* a relay node down */
	assert_int_equal(route_link_update(t, (uint32_t)cd, &full), 0);
	assert_int_equal(route_node_set_up(t, node(t, "C"), false), 0);
	assert_no_route(t, "A", "E", "link or node down");
	assert_no_route(t, "A", "C", "node C is down");
	route_topo_free(t);
}

/* Configuration 3: a user node ends paths but never lies inside one. */
static void test_user_nodes_do_not_transit(void **state)
{
	struct route_topo *t = make_nodes(5);	/* A-B-C short, A-D-E-C long */

	link(t, 0, 1);
	link(t, 1, 2);
	link(t, 0, 3);
	link(t, 3, 4);
	link(t, 4, 2);
	assert_route(t, "A", "C", "A-B-C");
	assert_int_equal(route_node_set_transit(t, node(t, "B"), false), 0);
	assert_route(t, "A", "C", "A-D-E-C");
	assert_route(t, "B", "C", "B-C");	/* it may start a path */
	assert_route(t, "D", "B", "D-A-B");	/* and end one */
	assert_int_equal(route_node_set_transit(t, node(t, "E"), false), 0);
	assert_no_route(t, "A", "C", "user node");
	assert_int_equal(route_node_set_transit(t, node(t, "B"), true), 0);
	assert_route(t, "A", "C", "A-B-C");
	assert_int_equal(route_node_set_transit(t, 99, false), -EINVAL);
	route_topo_free(t);
}

static void test_ring(void **state)
{
	struct route_link_status cut = status(QKD_LINK_NO_CARRIER,
					      QKD_POOL_READY, 1ULL << 30);
	struct route_link_status lower = full;
	struct route_topo *t = make_nodes(6);	/* A-B-C-D-E-F-A */
	int l[6];

	for (uint32_t i = 0; i < 6; i++)
		l[i] = link(t, i, (i + 1) % 6);
	assert_route(t, "A", "C", "A-B-C");
	assert_route(t, "A", "E", "A-F-E");
	assert_optimal_everywhere(t);
	/* A to D: three hops either way; the fuller pools win */
	lower.avail_bits = 1ULL << 21;
	assert_int_equal(route_link_update(t, (uint32_t)l[1], &lower), 0);
	assert_route(t, "A", "D", "A-F-E-D");
	assert_int_equal(route_link_update(t, (uint32_t)l[1], &full), 0);
	assert_int_equal(route_link_update(t, (uint32_t)l[4], &lower), 0);
	assert_route(t, "A", "D", "A-B-C-D");
	/* cut the active path: rerouted the long way round */
	assert_int_equal(route_link_update(t, (uint32_t)l[0], &cut), 0);
	assert_route(t, "A", "C", "A-F-E-D-C");
	route_topo_free(t);
}

/*
 * 12-node mesh: a 3 x 4 grid
 *	A B C D
 *	E F G H
 *	I J K L
 * plus the chords A-F and G-L.
 */
static struct route_topo *make_mesh(void)
{
	struct route_topo *t = make_nodes(12);

	for (uint32_t r = 0; r < 3; r++)
		for (uint32_t c = 0; c < 4; c++) {
			if (c < 3)
				link(t, r * 4 + c, r * 4 + c + 1);
			if (r < 2)
				link(t, r * 4 + c, (r + 1) * 4 + c);
		}
	link(t, 0, 5);
	link(t, 6, 11);
	return t;
}

static int find_link(struct route_topo *t, const char *x, const char *y)
{
	uint32_t a, b, u = node(t, x), v = node(t, y);

	for (uint32_t l = 0; l < route_link_count(t); l++) {
		route_link_ends(t, l, &a, &b);
		if ((a == u && b == v) || (a == v && b == u))
			return (int)l;
	}
	fail_msg("no link %s-%s", x, y);
	return -1;
}

static void test_mesh_of_twelve(void **state)
{
	struct route_topo *t = make_mesh();
	struct route_link_status warn = status(QKD_LINK_UP, QKD_POOL_WARNING,
					       1ULL << 16);
	struct route_link_status alarm = status(QKD_LINK_ALARM, QKD_POOL_READY,
						1ULL << 30);

	assert_route(t, "A", "L", "A-F-G-L");
	assert_optimal_everywhere(t);
	/* drain F-G: the relay moves off it, to a path one hop longer */
	route_link_update(t, (uint32_t)find_link(t, "F", "G"), &warn);
	assert_optimal_everywhere(t);
	{
		struct route_path p;

		assert_int_equal(compute(t, 0, 11, NEED, &p), 0);
		assert_int_equal(p.hops, 4);
		for (uint32_t i = 0; i < p.hops; i++)
			assert_int_not_equal(p.links[i], find_link(t, "F", "G"));
		route_path_release(&p);
	}
	/* QBER alarm on G-L as well: only one 4-hop path is left */
	route_link_update(t, (uint32_t)find_link(t, "G", "L"), &alarm);
	assert_route(t, "A", "L", "A-F-J-K-L");
	assert_optimal_everywhere(t);
	/* relay node G down too */
	route_node_set_up(t, node(t, "G"), false);
	assert_optimal_everywhere(t);
	assert_route(t, "C", "L", "C-D-H-L");
	route_topo_free(t);
}

static void test_metric(void **state)
{
	struct route_topo *t = make_nodes(5);
	struct route_link_status st = full;
	uint64_t c_full, c_half, c_low, c_warn;
	int l = link(t, 0, 1);

	c_full = route_link_cost(t, (uint32_t)l, NEED);
	st.avail_bits = 1ULL << 20;
	st.rate_bps = 0;
	route_link_update(t, (uint32_t)l, &st);
	c_half = route_link_cost(t, (uint32_t)l, NEED);
	st.level = QKD_POOL_LOW;
	route_link_update(t, (uint32_t)l, &st);
	c_low = route_link_cost(t, (uint32_t)l, NEED);
	st.level = QKD_POOL_WARNING;
	route_link_update(t, (uint32_t)l, &st);
	c_warn = route_link_cost(t, (uint32_t)l, NEED);
	assert_true(c_full >= ROUTE_COST_HOP && c_full < c_half);
	assert_true(c_half < c_low && c_low < c_warn);
	/* a LOW pool costs more than one extra full hop */
	assert_true(c_low - c_half > ROUTE_COST_HOP);
	/* a pool refilling fast counts as fuller */
	st.level = QKD_POOL_READY;
	st.rate_bps = 100000000;
	route_link_update(t, (uint32_t)l, &st);
	assert_true(route_link_cost(t, (uint32_t)l, NEED) < c_half);
	/* unusable: need more than the pool has, or any non-UP state */
	assert_int_equal(route_link_cost(t, (uint32_t)l, st.avail_bits + 1),
			 ROUTE_COST_INF);
	for (int s = QKD_LINK_DOWN; s <= QKD_LINK_ERROR; s++) {
		st.state = (enum qkd_link_state)s;
		route_link_update(t, (uint32_t)l, &st);
		assert_true((route_link_cost(t, (uint32_t)l, NEED) ==
			     ROUTE_COST_INF) == (s != QKD_LINK_UP));
	}
	/* saturating arithmetic with absurd figures */
	st.state = QKD_LINK_UP;
	st.avail_bits = UINT64_MAX;
	st.rate_bps = UINT64_MAX;
	route_link_update(t, (uint32_t)l, &st);
	assert_int_equal(route_link_cost(t, (uint32_t)l, NEED), ROUTE_COST_HOP);
	route_topo_free(t);
}

static void test_bad_input(void **state)
{
	struct route_topo *t = make_nodes(3);
	struct route_link_status bad = full;
	struct route_path p;
	char msg[128];

	assert_int_equal(route_node_add(t, "A"), -EEXIST);
	assert_int_equal(route_node_add(t, ""), -EINVAL);
	assert_int_equal(route_node_add(t, NULL), -EINVAL);
	assert_int_equal(route_node_find(t, "Z"), -ENOENT);
	assert_int_equal(route_link_add(t, 0, 0, &full), -EINVAL);
	assert_int_equal(route_link_add(t, 0, 9, &full), -ENOENT);
	bad.level = (enum qkd_pool_level)9;
	assert_int_equal(route_link_add(t, 0, 1, &bad), -EINVAL);
	assert_int_equal(route_link_update(t, 0, &full), -ENOENT);
	assert_int_equal(compute(t, 0, 7, NEED, &p), -ENOENT);
	assert_int_equal(compute(t, 1, 1, NEED, &p), -EINVAL);
	/* no links at all */
	assert_int_equal(compute(t, 0, 2, NEED, &p), -EHOSTUNREACH);
	route_explain(t, 0, 2, NEED, msg, sizeof(msg));
	assert_string_equal(msg, "no route from A to C: not connected");
	assert_null(route_table_new(t, 5, NEED));
	route_topo_free(t);
}

/* ---- route tables against an independent O(V^2) Dijkstra ---- */

static void reference_dist(struct route_topo *t, uint32_t src, uint64_t need,
			   uint64_t *dist)
{
	uint32_t n = route_node_count(t), a, b;
	uint8_t *done = calloc(n, 1);

	assert_non_null(done);
	for (uint32_t v = 0; v < n; v++)
		dist[v] = ROUTE_COST_INF;
	dist[src] = 0;
	for (;;) {
		uint32_t u = UINT32_MAX;

		for (uint32_t v = 0; v < n; v++)
			if (!done[v] && dist[v] != ROUTE_COST_INF &&
			    (u == UINT32_MAX || dist[v] < dist[u]))
				u = v;
		if (u == UINT32_MAX)
			break;
		done[u] = 1;
		for (uint32_t l = 0; l < route_link_count(t); l++) {
			uint64_t c = route_link_cost(t, l, need);
			uint32_t v;

			route_link_ends(t, l, &a, &b);
			if (c == ROUTE_COST_INF || (a != u && b != u))
				continue;
			v = a == u ? b : a;
			if (dist[u] + c < dist[v])
				dist[v] = dist[u] + c;
		}
	}
	free(done);
}

static uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

static struct route_link_status random_status(uint64_t *seed)
{
	struct route_link_status st;

	st.state = rnd(seed) % 5 == 0 ? QKD_LINK_DOWN : QKD_LINK_UP;
	st.level = (enum qkd_pool_level)(rnd(seed) % 4);
	st.avail_bits = rnd(seed) % 3 == 0 ? rnd(seed) % 2048 :
			(uint64_t)rnd(seed) << 4;
	st.rate_bps = rnd(seed) % 10000000;
	return st;
}

/* A table for one need serves another only if it routes alike. */
static void assert_table_serves_right(struct route_topo *t,
				      const struct route_table *tab,
				      uint32_t src, uint64_t need,
				      uint64_t *want)
{
	uint32_t n = route_node_count(t);

	reference_dist(t, src, need, want);
	for (uint32_t v = 0; v < n; v++) {
		struct route_path p;

		assert_int_equal(route_table_cost(tab, v), want[v]);
		if (v == src || want[v] == ROUTE_COST_INF)
			continue;
		assert_int_equal(route_table_path(tab, v, &p), 0);
		assert_valid_path(t, &p, src, v, need);
		route_path_release(&p);
	}
}

static void test_tables_match_reference(void **state)
{
	const uint32_t n = 120, m = 300;
	uint64_t seed = 0x9e3779b97f4a7c15ULL, *want = calloc(n, 8);
	struct route_topo *t = make_nodes(n);
	unsigned int served = 0;

	assert_non_null(want);
	for (uint32_t i = 1; i < n; i++) {	/* a random spanning tree */
		struct route_link_status st = random_status(&seed);

		assert_true(route_link_add(t, i, rnd(&seed) % i, &st) >= 0);
	}
	for (uint32_t i = n - 1; i < m; i++) {
		struct route_link_status st = random_status(&seed);
		uint32_t a = rnd(&seed) % n, b = rnd(&seed) % n;

		if (a != b)
			assert_true(route_link_add(t, a, b, &st) >= 0);
	}
	for (int step = 0; step < 200; step++) {
		uint32_t src = rnd(&seed) % n;
		struct route_table *tab;

		if (step % 50 == 49) {
			route_node_set_up(t, rnd(&seed) % n, rnd(&seed) % 2);
		} else {
			struct route_link_status st = random_status(&seed);

			route_link_update(t, rnd(&seed) % route_link_count(t),
					  &st);
		}
		tab = route_table_new(t, src, NEED);
		assert_non_null(tab);
		assert_true(route_table_serves(tab, src, NEED));
		assert_false(route_table_serves(tab, (src + 1) % n, NEED));
		assert_table_serves_right(t, tab, src, NEED, want);
		/* other needs it claims to serve route the same */
		for (int k = 0; k < 8; k++) {
			uint64_t need = rnd(&seed) % 4096;

			if (!route_table_serves(tab, src, need))
				continue;
			served++;
			assert_table_serves_right(t, tab, src, need, want);
		}
		route_table_free(tab);
	}
	assert_true(served > 0);
	route_topo_free(t);
	free(want);
}

/* The daemon's way: one tree per source and need, until the next change. */
static void test_cache_computes_once_per_change(void **state)
{
	struct route_topo *t = make_nodes(8);
	struct route_link_status down = status(QKD_LINK_DOWN, QKD_POOL_READY,
					       1ULL << 30);
	struct route_cache *c = route_cache_new();
	struct route_path p;
	int l[8];

	assert_non_null(c);
	assert_int_equal(route_cache_path(c, 0, 2, NEED, &p), -ENOENT);
	for (uint32_t i = 0; i < 8; i++)	/* ring A-B-...-H-A */
		l[i] = link(t, i, (i + 1) % 8);
	route_cache_set_topo(c, t);
	for (int round = 0; round < 3; round++)
		for (uint32_t d = 1; d < 8; d++) {
			assert_int_equal(route_cache_path(c, 0, d, NEED, &p), 0);
			assert_int_equal(p.hops, d <= 4 ? d : 8 - d);
			route_path_release(&p);
		}
	assert_int_equal(route_cache_recomputes(c), 1);
	/* another need every pool covers: the same tree */
	assert_int_equal(route_cache_path(c, 0, 2, 8 * NEED, &p), 0);
	route_path_release(&p);
	assert_int_equal(route_cache_recomputes(c), 1);
	/* a need no pool covers is another tree (and no route) */
	assert_int_equal(route_cache_path(c, 0, 2, 1ULL << 31, &p),
			 -EHOSTUNREACH);
	assert_int_equal(route_cache_recomputes(c), 2);
	assert_int_equal(route_cache_path(c, 0, 0, NEED, &p), -EINVAL);
	assert_int_equal(route_cache_path(c, 0, 9, NEED, &p), -ENOENT);
	/* other sources: a tree each, the oldest out past ROUTE_CACHE_TREES */
	for (uint32_t s = 1; s <= ROUTE_CACHE_TREES; s++) {
		assert_int_equal(route_cache_path(c, s, 0, NEED, &p), 0);
		route_path_release(&p);
	}
	assert_int_equal(route_cache_recomputes(c), 2 + ROUTE_CACHE_TREES);
	assert_int_equal(route_cache_path(c, 0, 2, NEED, &p), 0);
	route_path_release(&p);
	assert_int_equal(route_cache_recomputes(c), 3 + ROUTE_CACHE_TREES);

	/* a change: the next lookup sees the new topology's route */
	t = make_nodes(8);
	for (uint32_t i = 0; i < 8; i++)
		l[i] = link(t, i, (i + 1) % 8);
	route_link_update(t, (uint32_t)l[1], &down);	/* B-C */
	route_cache_set_topo(c, t);
	assert_ptr_equal(route_cache_topo(c), t);
	assert_int_equal(route_cache_path(c, 0, 2, NEED, &p), 0);
	assert_int_equal(p.hops, 6);
	assert_valid_path(t, &p, 0, 2, NEED);
	route_path_release(&p);
	assert_int_equal(route_cache_recomputes(c), 4 + ROUTE_CACHE_TREES);
	route_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_of_five),
		cmocka_unit_test(test_user_nodes_do_not_transit),
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_mesh_of_twelve),
		cmocka_unit_test(test_metric),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_tables_match_reference),
		cmocka_unit_test(test_cache_computes_once_per_change),
	};

	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
