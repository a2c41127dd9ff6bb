/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key relay routing (Y.3802 7.3 routing control, 10.4-10.5): the QKDN
 * topology with per-link state and key-pool status, least-cost relay
 * paths as shortest-path trees, and a cache of those trees that lasts
 * until the topology changes.
 *
 * Nodes and links are numbered from 0 in the order they are added and are
 * never removed (a link that goes away is set down).  Links are
 * undirected: a relay hop uses the pool of one link whichever way it runs.
 *
 * Metric (Documentation/qkd/relay.rst explains the numbers).  A link is
 * usable for a relay that needs @need_bits of pad per hop only if it is
 * QKD_LINK_UP, both ends are up, its pool is not QKD_POOL_EMPTY and holds
 * at least @need_bits.  A usable link costs
 *
 *	ROUTE_COST_HOP
 *	+ level penalty (READY 0, LOW ROUTE_COST_LOW, WARNING ROUTE_COST_WARNING)
 *	+ ROUTE_COST_SCARCITY * S / (avail_bits + rate_bps * 1 s + S),
 *	  S = ROUTE_SCARCITY_BITS
 *
 * so paths with fewer hops win among full pools, a pool below its READY
 * threshold costs more than one extra hop, and among equal levels the
 * fuller (or faster refilling) pool wins.  Path cost is the sum over hops.
 *
 * Errors are negative errno: -ENOENT unknown node or link, -EINVAL bad
 * argument, -EEXIST duplicate node name, -ENOMEM, and -EHOSTUNREACH when
 * no usable path exists (route_explain() says why, in words).
 */
#ifndef QKD_ROUTE_H
#define QKD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/qkd.h>

#define ROUTE_NAME_MAX		64	/* node name incl. NUL */
#define ROUTE_COST_INF		UINT64_MAX
#define ROUTE_COST_HOP		1000
#define ROUTE_COST_LOW		1500
#define ROUTE_COST_WARNING	5000
#define ROUTE_COST_SCARCITY	1000
#define ROUTE_SCARCITY_BITS	(1ULL << 20)

struct route_link_status {
	enum qkd_link_state state;
	enum qkd_pool_level level;
	uint64_t avail_bits;	/* key in the pool, usable for relay */
	uint64_t rate_bps;	/* secret key rate of the link */
};

struct route_path {
	uint32_t hops;		/* links; nodes has hops + 1 entries */
	uint64_t cost;
	uint32_t *nodes;	/* src ... dst */
	uint32_t *links;	/* links[i] joins nodes[i] and nodes[i + 1] */
};

struct route_topo;

struct route_topo *route_topo_new(void);
void route_topo_free(struct route_topo *topo);

/* Returns the new node's index, or a negative errno. */
int route_node_add(struct route_topo *topo, const char *name);
int route_node_find(const struct route_topo *topo, const char *name);
const char *route_node_name(const struct route_topo *topo, uint32_t node);
int route_node_set_up(struct route_topo *topo, uint32_t node, bool up);
/*
 * A node that is not a transit node (a configuration 3 user node) may
 * start or end a path but never lies inside one.  Default: transit.
 */
int route_node_set_transit(struct route_topo *topo, uint32_t node,
			   bool transit);
uint32_t route_node_count(const struct route_topo *topo);

/* Returns the new link's index, or a negative errno. */
int route_link_add(struct route_topo *topo, uint32_t a, uint32_t b,
		   const struct route_link_status *st);
int route_link_update(struct route_topo *topo, uint32_t link,
		      const struct route_link_status *st);
int route_link_ends(const struct route_topo *topo, uint32_t link,
		    uint32_t *a, uint32_t *b);
uint32_t route_link_count(const struct route_topo *topo);
/* ROUTE_COST_INF if the link is unusable for @need_bits. */
uint64_t route_link_cost(const struct route_topo *topo, uint32_t link,
			 uint64_t need_bits);

void route_path_release(struct route_path *path);

/* Why there is no usable path from @src to @dst, as one sentence. */
void route_explain(struct route_topo *topo, uint32_t src, uint32_t dst,
		   uint64_t need_bits, char *buf, size_t len);

/*
 * Route table: the least-cost paths from one source for @need_bits of pad
 * per hop (a shortest-path tree over the whole topology, computed by
 * route_table_new()).  It reads @topo, which must not change while the
 * table is used; it serves any need for which the same links are usable
 * (route_table_serves()).  NULL: @src unknown, or out of memory.
 */
struct route_table;

struct route_table *route_table_new(struct route_topo *topo, uint32_t src,
				    uint64_t need_bits);
void route_table_free(struct route_table *table);
bool route_table_serves(const struct route_table *table, uint32_t src,
			uint64_t need_bits);
uint64_t route_table_cost(const struct route_table *table, uint32_t dst);
/* Least-cost path to @dst; release it with route_path_release(). */
int route_table_path(const struct route_table *table, uint32_t dst,
		     struct route_path *path);

/*
 * Route cache: one topology and the last ROUTE_CACHE_TREES route tables
 * computed over it.  A lookup that a cached table serves computes nothing;
 * otherwise it computes a table (least recently used one out).  On any
 * change, build the new topology and hand it over: every table goes.
 */
#define ROUTE_CACHE_TREES	4

struct route_cache;

struct route_cache *route_cache_new(void);
void route_cache_free(struct route_cache *cache);
/* Take @topo (NULL: none), dropping the old topology and its tables. */
void route_cache_set_topo(struct route_cache *cache, struct route_topo *topo);
struct route_topo *route_cache_topo(const struct route_cache *cache);
/* The table for @src and @need_bits, cached or computed now; NULL: ENOMEM. */
const struct route_table *route_cache_table(struct route_cache *cache,
					    uint32_t src, uint64_t need_bits);
/*
 * Least-cost path from @src to @dst: 0, -ENOENT (no topology or unknown
 * node), -EINVAL (@src == @dst), -EHOSTUNREACH, -ENOMEM.
 */
int route_cache_path(struct route_cache *cache, uint32_t src, uint32_t dst,
		     uint64_t need_bits, struct route_path *path);
/* Route tables computed so far: the work done. */
uint64_t route_cache_recomputes(const struct route_cache *cache);

#endif /* QKD_ROUTE_H */
