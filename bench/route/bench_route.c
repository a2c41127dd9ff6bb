// SPDX-License-Identifier: GPL-2.0
/*
 * Route computation time on synthetic topologies next to one BFS over the
 * same graph (the cheapest possible search, ignoring the metric).
 *
 * Topologies, each with random link status (5% down, pool levels and
 * fill at random):
 *	grid	a sqrt(n) x sqrt(n) metro grid with a few long chords
 *		(long paths: ~sqrt(n) hops)
 *	random	a random spanning tree plus random links, mean degree 4
 *		(short paths: ~log n hops)
 *
 * Times are thread CPU time, best of many runs (the machine is shared).
 * Prints a table; not a pass/fail test.
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

static struct route_link_status random_status(void)
{
	struct route_link_status st;

	st.state = rnd() % 20 == 0 ? QKD_LINK_DOWN : QKD_LINK_UP;
	st.level = (enum qkd_pool_level)(1 + rnd() % 3);
	st.avail_bits = (uint64_t)rnd() << 6;
	st.rate_bps = rnd() % 20000000;
	return st;
}

static void add_link(struct route_topo *t, uint32_t a, uint32_t b)
{
	struct route_link_status st = random_status();

	if (a != b && route_link_add(t, a, b, &st) < 0)
		die("route_link_add");
}

static struct route_topo *make(const char *kind, uint32_t n)
{
	struct route_topo *t = route_topo_new();
	uint32_t side = (uint32_t)ceil(sqrt((double)n));
	char name[32];

	if (!t)
		die("out of memory");
	for (uint32_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		if (route_node_add(t, name) < 0)
			die("route_node_add");
	}
	if (!strcmp(kind, "grid")) {
		for (uint32_t i = 0; i < n; i++) {
			if ((i + 1) % side && i + 1 < n)
				add_link(t, i, i + 1);
			if (i + side < n)
				add_link(t, i, i + side);
		}
		for (uint32_t i = 0; i < n / 50; i++)
			add_link(t, rnd() % n, rnd() % n);
	} else {
		for (uint32_t i = 1; i < n; i++)
			add_link(t, i, rnd() % i);
		for (uint32_t i = n - 1; i < 2 * n; i++)
			add_link(t, rnd() % n, rnd() % n);
	}
	return t;
}

/* What one timed run works on. */
struct job {
	struct route_topo *t;
	struct route_table *tab;
	uint32_t dst;
	uint32_t hops;		/* of the computed path */
	unsigned int n_alt;	/* alternatives found */
};

static void run_bfs(struct job *j)
{
	route_bfs_hops(j->t, 0, j->dst);
}

static void run_bfs_all(struct job *j)
{
	route_bfs_reach(j->t, 0);
}

static void run_path(struct job *j)
{
	struct route_path p;

	if (route_compute(j->t, 0, j->dst, NEED, &p))
		die("route_compute");
	j->hops = p.hops;
	route_path_release(&p);
}

static void run_spt(struct job *j)
{
	if (route_table_recompute(j->tab))
		die("route_table_recompute");
}

static void run_alternatives(struct job *j)
{
	struct route_path alt[3];

	if (route_alternatives(j->t, 0, j->dst, NEED, 3, alt, &j->n_alt))
		die("route_alternatives");
	for (unsigned int i = 0; i < j->n_alt; i++)
		route_path_release(&alt[i]);
}

/* Best time of @fn over repeated runs, in milliseconds. */
static double best_ms(void (*fn)(struct job *), struct job *j)
{
	double best = 1e9, total = 0;

	while (total < MIN_SECONDS) {
		double t0 = now(), t;

		fn(j);
		t = now() - t0;
		total += t;
		if (t < best)
			best = t;
	}
	return best * 1e3;
}

static void bench(const char *kind, uint32_t n, bool *met)
{
	struct route_topo *t = make(kind, n);
	struct route_table *tab = route_table_new(t, 0, NEED);
	uint32_t m = route_link_count(t);
	double bfs, bfs_all, one, full, alts, inc, inc_worst = 0, inc_sum = 0;
	struct job j = { .t = t, .tab = tab, .dst = n - 1 };

	if (!tab)
		die("route_table_new");
	/* a destination that is reachable, far from node 0 */
	while (route_table_cost(tab, j.dst) == ROUTE_COST_INF)
		j.dst--;
	bfs = best_ms(run_bfs, &j);
	one = best_ms(run_path, &j);
	bfs_all = best_ms(run_bfs_all, &j);
	full = best_ms(run_spt, &j);
	alts = best_ms(run_alternatives, &j);
	/* incremental: one random link changes, the table follows */
	for (int i = 0; i < 2000; i++) {
		struct route_link_status st = random_status();
		uint32_t l = rnd() % m;
		double t0;

		route_link_update(t, l, &st);
		t0 = now();
		route_table_link_changed(tab, l);
		inc = (now() - t0) * 1e3;
		inc_sum += inc;
		if (inc > inc_worst)
			inc_worst = inc;
	}
	printf("%-7s %6u %6u %5u %8.3f %8.3f %8.3f %8.3f %8.3f %8.4f %8.3f %5u\n",
	       kind, n, m, j.hops, bfs, one, bfs_all, full, alts,
	       inc_sum / 2000, inc_worst, j.n_alt);
	if (n >= 1000 && full > 10.0)
		*met = false;
	route_table_free(tab);
	route_topo_free(t);
}

int main(void)
{
	static const uint32_t sizes[] = { 100, 1000, 10000 };
	static const char *const kinds[] = { "grid", "random" };
	bool met = true;

	printf("# route computation, ms of one core (target: recompute for "
	       "1000 nodes <= 10 ms, DESIGN.md 7)\n");
	printf("# bfs: BFS src->dst, baseline for path (route_compute src->dst);"
	       "\n# bfs-all: BFS over the whole graph, baseline for spt (full "
	       "shortest-path\n# tree, i.e. a full recompute); k=3: "
	       "edge-disjoint alternatives;\n# incr: route_table update after "
	       "one link change (mean, worst of 2000)\n");
	printf("%-7s %6s %6s %5s %8s %8s %8s %8s %8s %8s %8s %5s\n", "topo",
	       "nodes", "links", "hops", "bfs", "path", "bfs-all", "spt", "k=3",
	       "incr", "incr-max", "alts");
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
			bench(kinds[k], sizes[i], &met);
	printf("\n# target: full recompute for 1000 nodes <= 10 ms: %s\n",
	       met ? "met" : "NOT met");
	return 0;
}
