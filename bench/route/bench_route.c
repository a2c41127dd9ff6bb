// SPDX-License-Identifier: GPL-2.0
/*
 * What the daemon's routing runs (routing/lsa.c over route.c), on
 * synthetic topologies, next to baselines measured in the same run:
 *
 *	change	after a topology change: the topology built again from the
 *		link-state list (node names looked up as lsa.c does), handed
 *		to the route cache, and the first lookup, which computes the
 *		shortest-path tree
 *	lookup	a route lookup between changes: served by the cached tree
 *	memcpy	baseline: one memcpy of the link-state list (the graph)
 *	rebuild	baseline: what a lookup cost before the cache, when the
 *		daemon rebuilt the topology and ran Dijkstra per request
 *		(here: "change" per lookup; the old code stopped Dijkstra at
 *		the destination, so it was somewhat cheaper than this)
 *
 * Topologies, each with random link status (5% down, pool levels and
 * fill at random):
 *	grid	a sqrt(n) x sqrt(n) metro grid with a few long chords
 *		(long paths: ~sqrt(n) hops)
 *	random	a random spanning tree plus random links, mean degree 4
 *		(short paths: ~log n hops)
 * The daemon holds at most LSA_MAX_NODES (1024) nodes; 10000 shows the
 * scaling.  Times are thread CPU time, best of many runs (the machine is
 * shared).  Prints a table; not a pass/fail test.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "routing/route.h"

#define NEED		1280
#define MIN_SECONDS	0.2
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* One link as a link-state database lists it: by node names. */
struct edge {
	char a[ROUTE_NAME_MAX], b[ROUTE_NAME_MAX];
	struct route_link_status st;
};

struct graph {
	uint32_t n_nodes, n_edges;
	char (*names)[ROUTE_NAME_MAX];
	struct edge *edges;
	struct edge *copy;		/* memcpy target */
	struct route_cache *cache;
	uint32_t dst;
	uint32_t hops;			/* of the path looked up */
};

static uint64_t seed = 0x2545f4914f6cdd1dULL;

static uint32_t rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return (uint32_t)(seed >> 11);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_route: %s\n", what);
	exit(1);
}

static void add_edge(struct graph *g, uint32_t a, uint32_t b)
{
	struct edge *e = &g->edges[g->n_edges];

	if (a == b)
		return;
	snprintf(e->a, sizeof(e->a), "%s", g->names[a]);
	snprintf(e->b, sizeof(e->b), "%s", g->names[b]);
	e->st.state = rnd() % 20 == 0 ? QKD_LINK_DOWN : QKD_LINK_UP;
	e->st.level = (enum qkd_pool_level)(1 + rnd() % 3);
	e->st.avail_bits = (uint64_t)rnd() << 6;
	e->st.rate_bps = rnd() % 20000000;
	g->n_edges++;
}

static void make(struct graph *g, const char *kind, uint32_t n)
{
	uint32_t side = (uint32_t)ceil(sqrt((double)n));

	memset(g, 0, sizeof(*g));
	g->n_nodes = n;
	g->names = calloc(n, sizeof(*g->names));
	g->edges = calloc(2 * (size_t)n + n / 50 + 1, sizeof(*g->edges));
	g->copy = calloc(2 * (size_t)n + n / 50 + 1, sizeof(*g->copy));
	g->cache = route_cache_new();
	if (!g->names || !g->edges || !g->copy || !g->cache)
		die("out of memory");
	for (uint32_t i = 0; i < n; i++)
		snprintf(g->names[i], sizeof(g->names[i]), "node%u", i);
	if (!strcmp(kind, "grid")) {
		for (uint32_t i = 0; i < n; i++) {
			if ((i + 1) % side && i + 1 < n)
				add_edge(g, i, i + 1);
			if (i + side < n)
				add_edge(g, i, i + side);
		}
		for (uint32_t i = 0; i < n / 50; i++)
			add_edge(g, rnd() % n, rnd() % n);
	} else {
		for (uint32_t i = 1; i < n; i++)
			add_edge(g, i, rnd() % i);
		for (uint32_t i = n - 1; i < 2 * n; i++)
			add_edge(g, rnd() % n, rnd() % n);
	}
}

static void graph_free(struct graph *g)
{
	route_cache_free(g->cache);
	free(g->names);
	free(g->edges);
	free(g->copy);
}

/* The topology from the list, by names, as lsa.c builds it. */
static struct route_topo *build(const struct graph *g)
{
	struct route_topo *t = route_topo_new();

	if (!t)
		die("out of memory");
	for (uint32_t i = 0; i < g->n_nodes; i++)
		if (route_node_add(t, g->names[i]) < 0)
			die("route_node_add");
	for (uint32_t i = 0; i < g->n_edges; i++) {
		int a = route_node_find(t, g->edges[i].a);
		int b = route_node_find(t, g->edges[i].b);

		if (a < 0 || b < 0 ||
		    route_link_add(t, (uint32_t)a, (uint32_t)b,
				   &g->edges[i].st) < 0)
			die("route_link_add");
	}
	return t;
}

static void lookup(struct graph *g)
{
	struct route_path p;

	if (route_cache_path(g->cache, 0, g->dst, NEED, &p))
		die("route_cache_path");
	g->hops = p.hops;
	route_path_release(&p);
}

static void run_memcpy(struct graph *g)
{
	memcpy(g->copy, g->edges, g->n_edges * sizeof(*g->edges));
	__asm__ volatile("" : : "r"(g->copy) : "memory");
}

static void run_build(struct graph *g)
{
	route_topo_free(build(g));
}

static void run_change(struct graph *g)
{
	route_cache_set_topo(g->cache, build(g));
	lookup(g);
}

/* Best time of @fn over repeated runs, in milliseconds. */
static double best_ms(void (*fn)(struct graph *), struct graph *g)
{
	double best = 1e9, total = 0;

	while (total < MIN_SECONDS) {
		double t0 = now(), t;

		fn(g);
		t = now() - t0;
		total += t;
		if (t < best)
			best = t;
	}
	return best * 1e3;
}

static void bench(const char *kind, uint32_t n, bool *met)
{
	double mem, bld, change, look;
	uint64_t before;
	struct graph g;

	make(&g, kind, n);
	route_cache_set_topo(g.cache, build(&g));
	/* a destination that is reachable, far from node 0 */
	g.dst = n - 1;
	while (route_table_cost(route_cache_table(g.cache, 0, NEED),
				g.dst) == ROUTE_COST_INF)
		g.dst--;
	mem = best_ms(run_memcpy, &g);
	bld = best_ms(run_build, &g);
	change = best_ms(run_change, &g);
	before = route_cache_recomputes(g.cache);
	look = best_ms(lookup, &g);
	if (route_cache_recomputes(g.cache) != before)
		die("a lookup recomputed without a change");
	printf("%-7s %6u %6u %5u %9.4f %9.4f %9.4f %9.5f %9.0f %9.0f\n",
	       kind, n, g.n_edges, g.hops, mem, bld, change, look,
	       change / mem, change / look);
	if (n == 1000 && change > 10.0)
		*met = false;
	graph_free(&g);
}

int main(void)
{
	static const uint32_t sizes[] = { 100, 1000, 10000 };
	static const char *const kinds[] = { "grid", "random" };
	bool met = true;

	printf("# route computation as the daemon runs it, ms of one core\n"
	       "# memcpy: baseline, one memcpy of the link-state list\n"
	       "# build: topology from that list; change: build + first "
	       "lookup (tree computed)\n"
	       "# lookup: between changes, from the cached tree\n"
	       "# change/memcpy: the recompute in memcpys of the graph\n"
	       "# rebuild/lookup: a lookup before the cache (rebuild and "
	       "recompute per request,\n#   = change) over one now\n");
	printf("%-7s %6s %6s %5s %9s %9s %9s %9s %9s %9s\n", "topo", "nodes",
	       "links", "hops", "memcpy", "build", "change", "lookup",
	       "chg/mcpy", "rbld/lkp");
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
			bench(kinds[k], sizes[i], &met);
	printf("\n# target (DESIGN.md 7): route recompute for 1000 nodes "
	       "<= 10 ms: %s\n", met ? "met" : "NOT met");
	return 0;
}
