// SPDX-License-Identifier: GPL-2.0
/*
 * Key relay routing: topology in adjacency arrays (CSR, rebuilt only when
 * nodes or links are added), Dijkstra on an indexed binary heap, greedy
 * edge-disjoint alternatives, and a shortest-path tree that is repaired
 * incrementally after a change (only the subtree hanging off a link whose
 * cost went up, or the region a cheaper link improves, is searched again).
 * The metric is documented in route.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing/route.h"

#define NONE UINT32_MAX

struct route_node {
	char name[ROUTE_NAME_MAX];
	bool up;
	bool no_transit;		/* a path may end here, not pass */
};

struct route_link {
	uint32_t a, b;
	struct route_link_status st;
};

struct route_adj {
	uint32_t node;		/* the neighbour */
	uint32_t link;
};

struct route_topo {
	struct route_node *nodes;
	uint32_t n_nodes, cap_nodes;
	struct route_link *links;
	uint32_t n_links, cap_links;
	uint32_t *adj_off;		/* node v's entries: [off[v], off[v+1]) */
	struct route_adj *adj;
	bool adj_stale;
	uint64_t shape_gen;		/* bumped when nodes or links are added */
};

/* ---- topology ---- */

struct route_topo *route_topo_new(void)
{
	return calloc(1, sizeof(struct route_topo));
}

void route_topo_free(struct route_topo *topo)
{
	if (!topo)
		return;
	free(topo->nodes);
	free(topo->links);
	free(topo->adj_off);
	free(topo->adj);
	free(topo);
}

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
	uint32_t ncap = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = reallocarray(*arr, ncap, elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int route_node_find(const struct route_topo *topo, const char *name)
{
	for (uint32_t i = 0; i < topo->n_nodes; i++)
		if (!strcmp(topo->nodes[i].name, name))
			return (int)i;
	return -ENOENT;
}

int route_node_add(struct route_topo *topo, const char *name)
{
	struct route_node *n;

	if (!name || !*name || strlen(name) >= ROUTE_NAME_MAX ||
	    topo->n_nodes >= INT32_MAX)
		return -EINVAL;
	if (route_node_find(topo, name) >= 0)
		return -EEXIST;
	if (grow((void **)&topo->nodes, &topo->cap_nodes, topo->n_nodes + 1,
		 sizeof(*topo->nodes)))
		return -ENOMEM;
	n = &topo->nodes[topo->n_nodes];
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->up = true;
	n->no_transit = false;
	topo->adj_stale = true;
	topo->shape_gen++;
	return (int)topo->n_nodes++;
}

const char *route_node_name(const struct route_topo *topo, uint32_t node)
{
	return node < topo->n_nodes ? topo->nodes[node].name : "?";
}

int route_node_set_up(struct route_topo *topo, uint32_t node, bool up)
{
	if (node >= topo->n_nodes)
		return -ENOENT;
	topo->nodes[node].up = up;
	return 0;
}

int route_node_set_transit(struct route_topo *topo, uint32_t node,
			   bool transit)
{
	if (node >= topo->n_nodes)
		return -EINVAL;
	topo->nodes[node].no_transit = !transit;
	return 0;
}

uint32_t route_node_count(const struct route_topo *topo)
{
	return topo->n_nodes;
}

static bool status_valid(const struct route_link_status *st)
{
	return st && st->state <= QKD_LINK_ERROR && st->level <= QKD_POOL_READY;
}

int route_link_add(struct route_topo *topo, uint32_t a, uint32_t b,
		   const struct route_link_status *st)
{
	struct route_link *l;

	if (a >= topo->n_nodes || b >= topo->n_nodes)
		return -ENOENT;
	if (a == b || !status_valid(st) || topo->n_links >= INT32_MAX)
		return -EINVAL;
	if (grow((void **)&topo->links, &topo->cap_links, topo->n_links + 1,
		 sizeof(*topo->links)))
		return -ENOMEM;
	l = &topo->links[topo->n_links];
	l->a = a;
	l->b = b;
	l->st = *st;
	topo->adj_stale = true;
	topo->shape_gen++;
	return (int)topo->n_links++;
}

int route_link_update(struct route_topo *topo, uint32_t link,
		      const struct route_link_status *st)
{
	if (link >= topo->n_links)
		return -ENOENT;
	if (!status_valid(st))
		return -EINVAL;
	topo->links[link].st = *st;
	return 0;
}

int route_link_ends(const struct route_topo *topo, uint32_t link,
		    uint32_t *a, uint32_t *b)
{
	if (link >= topo->n_links)
		return -ENOENT;
	*a = topo->links[link].a;
	*b = topo->links[link].b;
	return 0;
}

uint32_t route_link_count(const struct route_topo *topo)
{
	return topo->n_links;
}

uint64_t route_link_cost(const struct route_topo *topo, uint32_t link,
			 uint64_t need_bits)
{
	const struct route_link *l;
	uint64_t cost = ROUTE_COST_HOP, supply;

	if (link >= topo->n_links)
		return ROUTE_COST_INF;
	l = &topo->links[link];
	if (l->st.state != QKD_LINK_UP || l->st.level == QKD_POOL_EMPTY ||
	    l->st.avail_bits < need_bits || !topo->nodes[l->a].up ||
	    !topo->nodes[l->b].up)
		return ROUTE_COST_INF;
	if (l->st.level == QKD_POOL_LOW)
		cost += ROUTE_COST_LOW;
	else if (l->st.level == QKD_POOL_WARNING)
		cost += ROUTE_COST_WARNING;
	/* avail + one second of generation, saturating */
	supply = l->st.avail_bits + l->st.rate_bps;
	if (supply < l->st.avail_bits || supply > UINT64_MAX / 2)
		supply = UINT64_MAX / 2;
	cost += ROUTE_COST_SCARCITY * ROUTE_SCARCITY_BITS /
		(supply + ROUTE_SCARCITY_BITS);
	return cost;
}

/* Counting sort of link ends into per-node adjacency arrays. */
static int topo_prepare(struct route_topo *topo)
{
	uint32_t n = topo->n_nodes, *off, *fill;
	struct route_adj *adj;

	if (!topo->adj_stale)
		return 0;
	off = calloc((size_t)n + 1, sizeof(*off));
	fill = calloc((size_t)n + 1, sizeof(*fill));
	adj = calloc((size_t)topo->n_links * 2 + 1, sizeof(*adj));
	if (!off || !fill || !adj) {
		free(off);
		free(fill);
		free(adj);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < topo->n_links; i++) {
		off[topo->links[i].a + 1]++;
		off[topo->links[i].b + 1]++;
	}
	for (uint32_t v = 0; v < n; v++)
		off[v + 1] += off[v];
	memcpy(fill, off, (size_t)n * sizeof(*fill));
	for (uint32_t i = 0; i < topo->n_links; i++) {
		const struct route_link *l = &topo->links[i];

		adj[fill[l->a]++] = (struct route_adj){ l->b, i };
		adj[fill[l->b]++] = (struct route_adj){ l->a, i };
	}
	free(fill);
	free(topo->adj_off);
	free(topo->adj);
	topo->adj_off = off;
	topo->adj = adj;
	topo->adj_stale = false;
	return 0;
}

/* ---- indexed binary min-heap over node ids, keyed by dist[] ---- */

struct heap {
	uint32_t *item;
	uint32_t *pos;			/* index in item[], or NONE */
	uint32_t n;
	const uint64_t *key;
};

static void heap_swap(struct heap *h, uint32_t i, uint32_t j)
{
	uint32_t t = h->item[i];

	h->item[i] = h->item[j];
	h->item[j] = t;
	h->pos[h->item[i]] = i;
	h->pos[h->item[j]] = j;
}

static void heap_up(struct heap *h, uint32_t i)
{
	while (i && h->key[h->item[(i - 1) / 2]] > h->key[h->item[i]]) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct heap *h, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && h->key[h->item[l]] < h->key[h->item[m]])
			m = l;
		if (r < h->n && h->key[h->item[r]] < h->key[h->item[m]])
			m = r;
		if (m == i)
			return;
		heap_swap(h, i, m);
		i = m;
	}
}

/* Insert, or restore order after key[v] decreased. */
static void heap_update(struct heap *h, uint32_t v)
{
	if (h->pos[v] == NONE) {
		h->item[h->n] = v;
		h->pos[v] = h->n++;
	}
	heap_up(h, h->pos[v]);
}

static uint32_t heap_pop(struct heap *h)
{
	uint32_t top = h->item[0];

	h->pos[top] = NONE;
	if (--h->n) {
		h->item[0] = h->item[h->n];
		h->pos[h->item[0]] = 0;
		heap_down(h, 0);
	}
	return top;
}

/* ---- shortest-path tree ---- */

struct spt {
	uint32_t n;
	uint64_t *dist;
	uint32_t *pred_node;
	uint32_t *pred_link;
	struct heap heap;
};

static void spt_free(struct spt *s)
{
	free(s->dist);
	free(s->pred_node);
	free(s->pred_link);
	free(s->heap.item);
	free(s->heap.pos);
	memset(s, 0, sizeof(*s));
}

static int spt_alloc(struct spt *s, uint32_t n)
{
	size_t m = n ? n : 1;

	memset(s, 0, sizeof(*s));
	s->n = n;
	s->dist = malloc(m * sizeof(*s->dist));
	s->pred_node = malloc(m * sizeof(*s->pred_node));
	s->pred_link = malloc(m * sizeof(*s->pred_link));
	s->heap.item = malloc(m * sizeof(*s->heap.item));
	s->heap.pos = malloc(m * sizeof(*s->heap.pos));
	s->heap.key = s->dist;
	if (!s->dist || !s->pred_node || !s->pred_link || !s->heap.item ||
	    !s->heap.pos) {
		spt_free(s);
		return -ENOMEM;
	}
	return 0;
}

static void spt_reset(struct spt *s, uint32_t src)
{
	for (uint32_t v = 0; v < s->n; v++) {
		s->dist[v] = ROUTE_COST_INF;
		s->pred_node[v] = NONE;
		s->pred_link[v] = NONE;
		s->heap.pos[v] = NONE;
	}
	s->heap.n = 0;
	s->dist[src] = 0;
	heap_update(&s->heap, src);
}

/* Relax the edge u -(link)-> v at @cost; queue v if it got closer. */
static void spt_relax(struct spt *s, uint32_t u, uint32_t v, uint32_t link,
		      uint64_t cost)
{
	uint64_t d;

	if (cost == ROUTE_COST_INF || s->dist[u] == ROUTE_COST_INF)
		return;
	d = s->dist[u] + cost;
	if (d < s->dist[v]) {
		s->dist[v] = d;
		s->pred_node[v] = u;
		s->pred_link[v] = link;
		heap_update(&s->heap, v);
	}
}

/* Dijkstra from whatever is queued; stops early once @stop is settled. */
static uint32_t spt_run(struct spt *s, const struct route_topo *topo,
			const uint64_t *link_cost, uint32_t stop)
{
	uint32_t settled = 0;

	while (s->heap.n) {
		uint32_t u = heap_pop(&s->heap);

		settled++;
		if (u == stop)
			break;
		if (topo->nodes[u].no_transit && s->dist[u] != 0)
			continue;	/* only the source leaves through it */
		for (uint32_t i = topo->adj_off[u]; i < topo->adj_off[u + 1]; i++)
			spt_relax(s, u, topo->adj[i].node, topo->adj[i].link,
				  link_cost[topo->adj[i].link]);
	}
	return settled;
}

static int spt_path(const struct spt *s, uint32_t src, uint32_t dst,
		    struct route_path *path)
{
	uint32_t hops = 0, v;

	memset(path, 0, sizeof(*path));
	if (s->dist[dst] == ROUTE_COST_INF)
		return -EHOSTUNREACH;
	for (v = dst; v != src; v = s->pred_node[v])
		hops++;
	path->nodes = calloc((size_t)hops + 1, sizeof(*path->nodes));
	path->links = calloc(hops ? hops : 1, sizeof(*path->links));
	if (!path->nodes || !path->links) {
		route_path_release(path);
		return -ENOMEM;
	}
	path->hops = hops;
	path->cost = s->dist[dst];
	v = dst;
	for (uint32_t i = hops; i > 0; i--) {
		path->nodes[i] = v;
		path->links[i - 1] = s->pred_link[v];
		v = s->pred_node[v];
	}
	path->nodes[0] = src;
	return 0;
}

void route_path_release(struct route_path *path)
{
	free(path->nodes);
	free(path->links);
	memset(path, 0, sizeof(*path));
}

/* Costs of every link for @need_bits; links in @excluded cost infinity. */
static uint64_t *link_costs(const struct route_topo *topo, uint64_t need_bits,
			    const uint8_t *excluded)
{
	uint64_t *cost = malloc(((size_t)topo->n_links + 1) * sizeof(*cost));

	if (!cost)
		return NULL;
	for (uint32_t i = 0; i < topo->n_links; i++)
		cost[i] = excluded && excluded[i] ? ROUTE_COST_INF :
			  route_link_cost(topo, i, need_bits);
	return cost;
}

static int check_ends(const struct route_topo *topo, uint32_t src,
		      uint32_t dst)
{
	if (src >= topo->n_nodes || dst >= topo->n_nodes)
		return -ENOENT;
	if (src == dst)
		return -EINVAL;
	if (!topo->nodes[src].up || !topo->nodes[dst].up)
		return -EHOSTUNREACH;
	return 0;
}

static int shortest_path(struct route_topo *topo, uint32_t src, uint32_t dst,
			 uint64_t need_bits, const uint8_t *excluded,
			 struct route_path *path)
{
	uint64_t *cost;
	struct spt s;
	int err;

	memset(path, 0, sizeof(*path));
	err = check_ends(topo, src, dst);
	if (!err)
		err = topo_prepare(topo);
	if (err)
		return err;
	cost = link_costs(topo, need_bits, excluded);
	if (!cost)
		return -ENOMEM;
	err = spt_alloc(&s, topo->n_nodes);
	if (!err) {
		spt_reset(&s, src);
		spt_run(&s, topo, cost, dst);
		err = spt_path(&s, src, dst, path);
		spt_free(&s);
	}
	free(cost);
	return err;
}

int route_compute(struct route_topo *topo, uint32_t src, uint32_t dst,
		  uint64_t need_bits, struct route_path *path)
{
	return shortest_path(topo, src, dst, need_bits, NULL, path);
}

int route_alternatives(struct route_topo *topo, uint32_t src, uint32_t dst,
		       uint64_t need_bits, unsigned int k,
		       struct route_path *paths, unsigned int *n_found)
{
	uint8_t *excluded;
	int err = 0;

	*n_found = 0;
	if (!k)
		return -EINVAL;
	excluded = calloc((size_t)topo->n_links + 1, 1);
	if (!excluded)
		return -ENOMEM;
	while (*n_found < k) {
		struct route_path *p = &paths[*n_found];

		err = shortest_path(topo, src, dst, need_bits, excluded, p);
		if (err)
			break;
		for (uint32_t i = 0; i < p->hops; i++)
			excluded[p->links[i]] = 1;
		(*n_found)++;
	}
	free(excluded);
	if (*n_found && err == -EHOSTUNREACH)
		return 0;
	if (err) {
		for (unsigned int i = 0; i < *n_found; i++)
			route_path_release(&paths[i]);
		*n_found = 0;
	}
	return err;
}

/* ---- plain reachability, for explanations and the benchmark baseline ---- */

enum reach { REACH_ANY, REACH_UP, REACH_USABLE };

static bool link_passes(const struct route_topo *topo, uint32_t link,
			enum reach mode, uint64_t need_bits)
{
	const struct route_link *l = &topo->links[link];

	if (mode == REACH_ANY)
		return true;
	if (mode == REACH_UP)
		return l->st.state == QKD_LINK_UP && topo->nodes[l->a].up &&
		       topo->nodes[l->b].up;
	return route_link_cost(topo, link, need_bits) != ROUTE_COST_INF;
}

/*
 * Hop count from @src to @dst over links that pass @mode, or -1; with
 * @dst == NONE the whole component is searched and *reached counts it.
 */
static int bfs(struct route_topo *topo, uint32_t src, uint32_t dst,
	       enum reach mode, uint64_t need_bits, uint32_t *reached)
{
	uint32_t *queue, *depth, head = 0, tail = 0;
	int hops = -1;

	if (topo_prepare(topo))
		return -ENOMEM;
	queue = malloc(((size_t)topo->n_nodes + 1) * sizeof(*queue));
	depth = malloc(((size_t)topo->n_nodes + 1) * sizeof(*depth));
	if (!queue || !depth) {
		free(queue);
		free(depth);
		return -ENOMEM;
	}
	for (uint32_t v = 0; v < topo->n_nodes; v++)
		depth[v] = NONE;
	depth[src] = 0;
	queue[tail++] = src;
	while (head < tail) {
		uint32_t u = queue[head++];

		if (u == dst) {
			hops = (int)depth[u];
			break;
		}
		for (uint32_t i = topo->adj_off[u]; i < topo->adj_off[u + 1]; i++) {
			uint32_t v = topo->adj[i].node;

			if (depth[v] == NONE &&
			    link_passes(topo, topo->adj[i].link, mode, need_bits)) {
				depth[v] = depth[u] + 1;
				queue[tail++] = v;
			}
		}
	}
	if (reached)
		*reached = tail;
	free(queue);
	free(depth);
	return hops;
}

int route_bfs_hops(struct route_topo *topo, uint32_t src, uint32_t dst)
{
	int hops;

	if (src >= topo->n_nodes || dst >= topo->n_nodes)
		return -ENOENT;
	hops = bfs(topo, src, dst, REACH_ANY, 0, NULL);
	return hops == -1 ? -EHOSTUNREACH : hops;
}

int route_bfs_reach(struct route_topo *topo, uint32_t src)
{
	uint32_t reached = 0;

	if (src >= topo->n_nodes)
		return -ENOENT;
	if (bfs(topo, src, NONE, REACH_ANY, 0, &reached) == -ENOMEM)
		return -ENOMEM;
	return (int)reached;
}

void route_explain(struct route_topo *topo, uint32_t src, uint32_t dst,
		   uint64_t need_bits, char *buf, size_t len)
{
	const char *s = route_node_name(topo, src);
	const char *d = route_node_name(topo, dst);

	if (src >= topo->n_nodes || dst >= topo->n_nodes)
		snprintf(buf, len, "unknown node");
	else if (src == dst)
		snprintf(buf, len, "%s is both source and destination", s);
	else if (!topo->nodes[src].up || !topo->nodes[dst].up)
		snprintf(buf, len, "node %s is down",
			 topo->nodes[src].up ? d : s);
	else if (bfs(topo, src, dst, REACH_ANY, 0, NULL) < 0)
		snprintf(buf, len, "no route from %s to %s: not connected", s,
			 d);
	else if (bfs(topo, src, dst, REACH_UP, 0, NULL) < 0)
		snprintf(buf, len,
			 "no route from %s to %s: every path has a link or node down",
			 s, d);
	else if (bfs(topo, src, dst, REACH_USABLE, need_bits, NULL) < 0)
		snprintf(buf, len,
			 "no route from %s to %s: every path has a key pool with less than %llu bits",
			 s, d, (unsigned long long)need_bits);
	else
		snprintf(buf, len,
			 "no route from %s to %s: every usable path passes through a user node, which does not relay",
			 s, d);
}

/* ---- route table: an incrementally maintained shortest-path tree ---- */

struct route_table {
	struct route_topo *topo;
	uint32_t src;
	uint64_t need_bits;
	uint64_t shape_gen;		/* of topo when the arrays were sized */
	struct spt s;
	uint64_t *cost;			/* link costs the tree was built with */
	uint8_t *in_subtree;
	uint32_t *stack;		/* DFS over the tree */
	uint32_t *subtree;		/* nodes found below a changed link */
	uint32_t last_work;
};

static void table_arrays_free(struct route_table *t)
{
	spt_free(&t->s);
	free(t->cost);
	free(t->in_subtree);
	free(t->stack);
	free(t->subtree);
	t->cost = NULL;
	t->in_subtree = NULL;
	t->stack = NULL;
	t->subtree = NULL;
}

int route_table_recompute(struct route_table *t)
{
	struct route_topo *topo = t->topo;
	int err = topo_prepare(topo);

	if (err)
		return err;
	if (t->shape_gen != topo->shape_gen || !t->cost) {
		table_arrays_free(t);
		err = spt_alloc(&t->s, topo->n_nodes);
		if (err)
			return err;
		t->in_subtree = calloc((size_t)topo->n_nodes + 1, 1);
		t->stack = malloc(((size_t)topo->n_nodes + 1) *
				  sizeof(*t->stack));
		t->subtree = malloc(((size_t)topo->n_nodes + 1) *
				    sizeof(*t->subtree));
		t->cost = link_costs(topo, t->need_bits, NULL);
		if (!t->in_subtree || !t->stack || !t->subtree || !t->cost) {
			table_arrays_free(t);
			return -ENOMEM;
		}
		t->shape_gen = topo->shape_gen;
	} else {
		for (uint32_t i = 0; i < topo->n_links; i++)
			t->cost[i] = route_link_cost(topo, i, t->need_bits);
	}
	spt_reset(&t->s, t->src);
	t->last_work = spt_run(&t->s, topo, t->cost, NONE);
	return 0;
}

struct route_table *route_table_new(struct route_topo *topo, uint32_t src,
				    uint64_t need_bits)
{
	struct route_table *t;

	if (src >= topo->n_nodes)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->topo = topo;
	t->src = src;
	t->need_bits = need_bits;
	if (route_table_recompute(t)) {
		route_table_free(t);
		return NULL;
	}
	return t;
}

void route_table_free(struct route_table *t)
{
	if (!t)
		return;
	table_arrays_free(t);
	free(t);
}

/*
 * A tree link got dearer (or unusable): every node below @child loses its
 * distance; each is re-seeded from its best neighbour outside the subtree
 * and Dijkstra settles the subtree again.  Nodes outside keep theirs,
 * which cannot have changed.
 */
static uint32_t repair_subtree(struct route_table *t, uint32_t child)
{
	const struct route_topo *topo = t->topo;
	struct spt *s = &t->s;
	uint32_t top = 0, n_sub = 0;

	t->stack[top++] = child;
	t->in_subtree[child] = 1;
	while (top) {
		uint32_t w = t->stack[--top];

		t->subtree[n_sub++] = w;
		for (uint32_t i = topo->adj_off[w]; i < topo->adj_off[w + 1]; i++) {
			uint32_t z = topo->adj[i].node;

			if (!t->in_subtree[z] && s->pred_node[z] == w &&
			    s->pred_link[z] == topo->adj[i].link) {
				t->in_subtree[z] = 1;
				t->stack[top++] = z;
			}
		}
	}
	for (uint32_t j = 0; j < n_sub; j++) {
		uint32_t w = t->subtree[j];

		s->dist[w] = ROUTE_COST_INF;
		s->pred_node[w] = NONE;
		s->pred_link[w] = NONE;
	}
	for (uint32_t j = 0; j < n_sub; j++) {
		uint32_t w = t->subtree[j];

		for (uint32_t i = topo->adj_off[w]; i < topo->adj_off[w + 1]; i++) {
			uint32_t z = topo->adj[i].node;

			if (!t->in_subtree[z])
				spt_relax(s, z, w, topo->adj[i].link,
					  t->cost[topo->adj[i].link]);
		}
	}
	for (uint32_t j = 0; j < n_sub; j++)
		t->in_subtree[t->subtree[j]] = 0;
	return spt_run(s, topo, t->cost, NONE);
}

int route_table_link_changed(struct route_table *t, uint32_t link)
{
	struct route_topo *topo = t->topo;
	uint64_t old_cost, new_cost;
	uint32_t a, b;

	if (link >= topo->n_links)
		return -ENOENT;
	if (t->shape_gen != topo->shape_gen)
		return route_table_recompute(t);
	a = topo->links[link].a;
	b = topo->links[link].b;
	old_cost = t->cost[link];
	new_cost = route_link_cost(topo, link, t->need_bits);
	t->cost[link] = new_cost;
	t->last_work = 0;
	if (new_cost < old_cost) {
		spt_relax(&t->s, a, b, link, new_cost);
		spt_relax(&t->s, b, a, link, new_cost);
		t->last_work = spt_run(&t->s, topo, t->cost, NONE);
	} else if (new_cost > old_cost) {
		if (t->s.pred_link[b] == link && t->s.pred_node[b] == a)
			t->last_work = repair_subtree(t, b);
		else if (t->s.pred_link[a] == link && t->s.pred_node[a] == b)
			t->last_work = repair_subtree(t, a);
	}
	return 0;
}

int route_table_node_changed(struct route_table *t, uint32_t node)
{
	struct route_topo *topo = t->topo;
	uint32_t work = 0;
	int err;

	if (node >= topo->n_nodes)
		return -ENOENT;
	if (t->shape_gen != topo->shape_gen)
		return route_table_recompute(t);
	for (uint32_t i = topo->adj_off[node]; i < topo->adj_off[node + 1]; i++) {
		err = route_table_link_changed(t, topo->adj[i].link);
		if (err)
			return err;
		work += t->last_work;
	}
	t->last_work = work;
	return 0;
}

uint64_t route_table_cost(const struct route_table *t, uint32_t dst)
{
	return dst < t->s.n ? t->s.dist[dst] : ROUTE_COST_INF;
}

int route_table_path(const struct route_table *t, uint32_t dst,
		     struct route_path *path)
{
	memset(path, 0, sizeof(*path));
	if (dst >= t->s.n)
		return -ENOENT;
	if (dst == t->src)
		return -EINVAL;
	if (!t->topo->nodes[dst].up || !t->topo->nodes[t->src].up)
		return -EHOSTUNREACH;
	return spt_path(&t->s, t->src, dst, path);
}

uint32_t route_table_last_work(const struct route_table *t)
{
	return t->last_work;
}
