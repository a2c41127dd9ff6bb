// SPDX-License-Identifier: GPL-2.0
/*
 * Key relay routing: topology in adjacency arrays (CSR, rebuilt only when
 * nodes or links are added) with a hash index of node names, Dijkstra on
 * an indexed binary heap into a full shortest-path tree per source, and a
 * small cache of such trees that lives as long as its topology.  The
 * metric is documented in route.h.
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
	uint32_t *name_idx;		/* open addressing: node ids, or NONE */
	uint32_t name_mask;		/* slots - 1; slots >= 2 * nodes */
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
	free(topo->name_idx);
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

static uint32_t name_hash(const char *name)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*name)
		h = (h ^ (uint8_t)*name++) * 16777619u;
	return h;
}

/* The slot of @name, or the empty slot where it would go. */
static uint32_t name_slot(const struct route_topo *topo, const char *name)
{
	uint32_t i = name_hash(name) & topo->name_mask;

	while (topo->name_idx[i] != NONE &&
	       strcmp(topo->nodes[topo->name_idx[i]].name, name))
		i = (i + 1) & topo->name_mask;
	return i;
}

/* Room in the name index for @n nodes: 0 or -ENOMEM. */
static int name_index_fit(struct route_topo *topo, uint32_t n)
{
	uint32_t slots = topo->name_idx ? topo->name_mask + 1 : 0, *idx;

	if ((uint64_t)n * 2 <= slots)
		return 0;
	slots = slots ? slots * 2 : 64;
	idx = malloc((size_t)slots * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	memset(idx, 0xff, (size_t)slots * sizeof(*idx));	/* NONE */
	free(topo->name_idx);
	topo->name_idx = idx;
	topo->name_mask = slots - 1;
	for (uint32_t v = 0; v < topo->n_nodes; v++)
		idx[name_slot(topo, topo->nodes[v].name)] = v;
	return 0;
}

int route_node_find(const struct route_topo *topo, const char *name)
{
	uint32_t v;

	if (!topo->name_idx)
		return -ENOENT;
	v = topo->name_idx[name_slot(topo, name)];
	return v == NONE ? -ENOENT : (int)v;
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
		 sizeof(*topo->nodes)) ||
	    name_index_fit(topo, topo->n_nodes + 1))
		return -ENOMEM;
	n = &topo->nodes[topo->n_nodes];
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->up = true;
	n->no_transit = false;
	topo->name_idx[name_slot(topo, name)] = topo->n_nodes;
	topo->adj_stale = true;
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

/* Up, both ends up, pool not EMPTY: usable if it holds enough. */
static bool link_open(const struct route_topo *topo, const struct route_link *l)
{
	return l->st.state == QKD_LINK_UP && l->st.level != QKD_POOL_EMPTY &&
	       topo->nodes[l->a].up && topo->nodes[l->b].up;
}

uint64_t route_link_cost(const struct route_topo *topo, uint32_t link,
			 uint64_t need_bits)
{
	const struct route_link *l;
	uint64_t cost = ROUTE_COST_HOP, supply;

	if (link >= topo->n_links)
		return ROUTE_COST_INF;
	l = &topo->links[link];
	if (!link_open(topo, l) || l->st.avail_bits < need_bits)
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

/* Dijkstra until every reachable node is settled. */
static void spt_run(struct spt *s, const struct route_topo *topo,
		    const uint64_t *link_cost)
{
	while (s->heap.n) {
		uint32_t u = heap_pop(&s->heap);

		if (topo->nodes[u].no_transit && s->dist[u] != 0)
			continue;	/* only the source leaves through it */
		for (uint32_t i = topo->adj_off[u]; i < topo->adj_off[u + 1]; i++)
			spt_relax(s, u, topo->adj[i].node, topo->adj[i].link,
				  link_cost[topo->adj[i].link]);
	}
}

static int spt_path(const struct spt *s, uint32_t src, uint32_t dst,
		    struct route_path *path)
{
	uint32_t hops = 0, v;

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

/* ---- plain reachability, for explanations ---- */

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

/* True if @dst can be reached from @src over links that pass @mode. */
static bool reachable(struct route_topo *topo, uint32_t src, uint32_t dst,
		      enum reach mode, uint64_t need_bits)
{
	uint32_t *queue, head = 0, tail = 0;
	uint8_t *seen;
	bool found = false;

	if (topo_prepare(topo))
		return false;
	queue = malloc(((size_t)topo->n_nodes + 1) * sizeof(*queue));
	seen = calloc((size_t)topo->n_nodes + 1, 1);
	if (!queue || !seen) {
		free(queue);
		free(seen);
		return false;
	}
	seen[src] = 1;
	queue[tail++] = src;
	while (head < tail && !found) {
		uint32_t u = queue[head++];

		found = u == dst;
		for (uint32_t i = topo->adj_off[u]; i < topo->adj_off[u + 1]; i++) {
			uint32_t v = topo->adj[i].node;

			if (!seen[v] &&
			    link_passes(topo, topo->adj[i].link, mode, need_bits)) {
				seen[v] = 1;
				queue[tail++] = v;
			}
		}
	}
	free(queue);
	free(seen);
	return found;
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
	else if (!reachable(topo, src, dst, REACH_ANY, 0))
		snprintf(buf, len, "no route from %s to %s: not connected", s,
			 d);
	else if (!reachable(topo, src, dst, REACH_UP, 0))
		snprintf(buf, len,
			 "no route from %s to %s: every path has a link or node down",
			 s, d);
	else if (!reachable(topo, src, dst, REACH_USABLE, need_bits))
		snprintf(buf, len,
			 "no route from %s to %s: every path has a key pool with less than %llu bits",
			 s, d, (unsigned long long)need_bits);
	else
		snprintf(buf, len,
			 "no route from %s to %s: every usable path passes through a user node, which does not relay",
			 s, d);
}

/* ---- route table: the shortest-path tree from one source ---- */

struct route_table {
	const struct route_topo *topo;
	uint32_t src;
	/*
	 * The tree holds for any need in [need_lo, need_hi]: no link that is
	 * otherwise usable has a pool size in between, so the same links
	 * are usable and cost the same.
	 */
	uint64_t need_lo, need_hi;
	struct spt s;
};

void route_table_free(struct route_table *t)
{
	if (!t)
		return;
	spt_free(&t->s);
	free(t);
}

struct route_table *route_table_new(struct route_topo *topo, uint32_t src,
				    uint64_t need_bits)
{
	struct route_table *t;
	uint64_t *cost;

	if (src >= topo->n_nodes || topo_prepare(topo))
		return NULL;
	t = calloc(1, sizeof(*t));
	cost = malloc(((size_t)topo->n_links + 1) * sizeof(*cost));
	if (!t || !cost || spt_alloc(&t->s, topo->n_nodes)) {
		free(t);
		free(cost);
		return NULL;
	}
	t->topo = topo;
	t->src = src;
	t->need_lo = 0;
	t->need_hi = UINT64_MAX;
	for (uint32_t i = 0; i < topo->n_links; i++) {
		const struct route_link *l = &topo->links[i];

		cost[i] = route_link_cost(topo, i, need_bits);
		if (!link_open(topo, l))
			continue;
		if (l->st.avail_bits < need_bits &&
		    l->st.avail_bits + 1 > t->need_lo)
			t->need_lo = l->st.avail_bits + 1;
		else if (l->st.avail_bits >= need_bits &&
			 l->st.avail_bits < t->need_hi)
			t->need_hi = l->st.avail_bits;
	}
	spt_reset(&t->s, src);
	spt_run(&t->s, topo, cost);
	free(cost);
	return t;
}

bool route_table_serves(const struct route_table *t, uint32_t src,
			uint64_t need_bits)
{
	return t->src == src && need_bits >= t->need_lo &&
	       need_bits <= t->need_hi;
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

/* ---- route cache: the trees of one topology, until it changes ---- */

struct route_cache {
	struct route_topo *topo;
	struct route_table *tab[ROUTE_CACHE_TREES];
	uint64_t used[ROUTE_CACHE_TREES];	/* at this tick; 0: free */
	uint64_t tick;
	uint64_t recomputes;
};

struct route_cache *route_cache_new(void)
{
	return calloc(1, sizeof(struct route_cache));
}

static void cache_drop_trees(struct route_cache *c)
{
	for (unsigned int i = 0; i < ROUTE_CACHE_TREES; i++) {
		route_table_free(c->tab[i]);
		c->tab[i] = NULL;
		c->used[i] = 0;
	}
}

void route_cache_free(struct route_cache *c)
{
	if (!c)
		return;
	cache_drop_trees(c);
	route_topo_free(c->topo);
	free(c);
}

void route_cache_set_topo(struct route_cache *c, struct route_topo *topo)
{
	cache_drop_trees(c);
	route_topo_free(c->topo);
	c->topo = topo;
}

struct route_topo *route_cache_topo(const struct route_cache *c)
{
	return c->topo;
}

const struct route_table *route_cache_table(struct route_cache *c,
					    uint32_t src, uint64_t need_bits)
{
	unsigned int lru = 0;

	if (!c->topo)
		return NULL;
	c->tick++;
	for (unsigned int i = 0; i < ROUTE_CACHE_TREES; i++) {
		if (c->tab[i] && route_table_serves(c->tab[i], src, need_bits)) {
			c->used[i] = c->tick;
			return c->tab[i];
		}
		if (c->used[i] < c->used[lru])
			lru = i;
	}
	route_table_free(c->tab[lru]);
	c->tab[lru] = route_table_new(c->topo, src, need_bits);
	c->used[lru] = c->tab[lru] ? c->tick : 0;
	c->recomputes++;
	return c->tab[lru];
}

int route_cache_path(struct route_cache *c, uint32_t src, uint32_t dst,
		     uint64_t need_bits, struct route_path *path)
{
	const struct route_table *t;

	memset(path, 0, sizeof(*path));
	if (!c->topo || src >= c->topo->n_nodes || dst >= c->topo->n_nodes)
		return -ENOENT;
	if (src == dst)
		return -EINVAL;
	t = route_cache_table(c, src, need_bits);
	return t ? route_table_path(t, dst, path) : -ENOMEM;
}

uint64_t route_cache_recomputes(const struct route_cache *c)
{
	return c->recomputes;
}
