/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key relay routing (Y.3802 7.3 routing control, 10.4-10.5): the QKDN
 * topology with per-link state and key-pool status, least-cost relay
 * paths, edge-disjoint alternatives and incremental recompute after a
 * link or node changes.
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
 * route_compute() and route_alternatives() honour it; route_table does
 * not (the daemon does not use it for such networks).
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

/* Least-cost path; release it with route_path_release(). */
int route_compute(struct route_topo *topo, uint32_t src, uint32_t dst,
		  uint64_t need_bits, struct route_path *path);
void route_path_release(struct route_path *path);

/*
 * Up to @k pairwise edge-disjoint paths, best first (greedy: each is the
 * least-cost path avoiding the links of those before it).  *n_found may be
 * less than @k; 0 paths is -EHOSTUNREACH.
 */
int route_alternatives(struct route_topo *topo, uint32_t src, uint32_t dst,
		       uint64_t need_bits, unsigned int k,
		       struct route_path *paths, unsigned int *n_found);

/* Why there is no usable path from @src to @dst, as one sentence. */
void route_explain(struct route_topo *topo, uint32_t src, uint32_t dst,
		   uint64_t need_bits, char *buf, size_t len);

/*
 * Route table: the shortest-path tree from one source, kept current
 * after changes with route_table_link_changed() / _node_changed(), which
 * redo only the part of the tree the change can affect.  Adding nodes or
 * links makes the next call recompute in full.
 */
struct route_table;

struct route_table *route_table_new(struct route_topo *topo, uint32_t src,
				    uint64_t need_bits);
void route_table_free(struct route_table *table);
int route_table_recompute(struct route_table *table);
/* Call after route_link_update() of @link. */
int route_table_link_changed(struct route_table *table, uint32_t link);
/* Call after route_node_set_up() of @node. */
int route_table_node_changed(struct route_table *table, uint32_t node);
uint64_t route_table_cost(const struct route_table *table, uint32_t dst);
int route_table_path(const struct route_table *table, uint32_t dst,
		     struct route_path *path);
/* Nodes whose distance was (re)settled by the last update: the work done. */
uint32_t route_table_last_work(const struct route_table *table);

/*
 * Graph search without the metric or link state (benchmark baselines):
 * BFS hop count from @src to @dst, and the number of nodes BFS reaches
 * from @src over the whole graph.
 */
int route_bfs_hops(struct route_topo *topo, uint32_t src, uint32_t dst);
int route_bfs_reach(struct route_topo *topo, uint32_t src);

#endif /* QKD_ROUTE_H */
