/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Topology distribution for key relay routing (Y.3802 7.3, configuration
 * 1: distributed routing control).
 *
 * Every node originates a link-state advertisement (kxmsg LSA: origin,
 * sequence number, its links with state, pool level, available bits and
 * rate) when its links change and every LSA_REFRESH_MS, and floods it to
 * its Kx peers.  A receiver keeps the newest LSA per origin (highest
 * sequence number; an origin starts its numbers at its start time in ns,
 * so a restarted node's LSAs win), re-floods it to its other peers and
 * drops it after LSA_MAX_AGE_MS without a refresh (the node is down).
 *
 * A link X-Y enters the topology only if both X's and Y's LSAs list it
 * as up (two-way check); its pool figures are the worse of the two ends.
 * Routes are computed by route.c over that topology.
 *
 * Configuration 2 (centralized, lsa_set_controller()): LSAs still flood,
 * which is how link and pool status (Ck/Cq) reaches the controller.  The
 * controller computes every node's routes and pushes each node its table
 * (kxmsg ROUTES, flooded, newest per target); the other nodes use only
 * pushed routes, and none once the table is older than LSA_MAX_AGE_MS
 * (controller down).  "Up" for a local
 * link means: the key source delivers, the Kx channel to the peer is up,
 * and no operator marked it down (lsa_set_admin_down()).
 */
#ifndef QKD_LSA_H
#define QKD_LSA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kx/kxmsg.h"

#define LSA_TICK_MS		25	/* local change detection: bounds reroute */
#define LSA_REFRESH_MS		1000
#define LSA_MAX_AGE_MS		3500
#define LSA_MAX_NODES		1024

struct loop;
struct kma;
struct peers;
struct lsa;

/* Where LSAs go: the Kx channel (peer.c) or a test harness. */
struct lsa_transport {
	int (*send)(void *arg, const char *node, const struct kxmsg *m);
	bool (*is_up)(void *arg, const char *node);
};

/* @loop may be NULL (tests: call lsa_tick() by hand). */
struct lsa *lsa_new(struct loop *loop, struct kma *kma, const char *node,
		    const struct lsa_transport *tr, void *tr_arg);
void lsa_free(struct lsa *lsa);

/* An LSA or ROUTES message from authenticated peer @from. */
void lsa_receive(struct lsa *lsa, const char *from, const struct kxmsg *m);
/* Re-check local links and age the database (the timer calls it). */
void lsa_tick(struct lsa *lsa);

/* Centralized routing with @controller (this node or another). */
void lsa_set_controller(struct lsa *lsa, const char *controller);

/*
 * Configuration 3: this node's role (enum node_role), advertised in its
 * LSAs.  Routes never pass through user nodes, and user-user and
 * user-relay links are left out of the topology.
 */
void lsa_set_role(struct lsa *lsa, uint8_t role);
uint8_t lsa_role(const struct lsa *lsa);
/*
 * Configuration 4 (with a controller): LSAs go to the controller only and
 * it sends each node its ROUTES directly, all over Kx'.
 */
void lsa_set_central_relay(struct lsa *lsa, bool central);

/* Operator/test override: advertise the link to @peer as down. */
int lsa_set_admin_down(struct lsa *lsa, const char *peer, bool down);
/* Whether an operator took the link to @peer out of routing. */
bool lsa_admin_down(const struct lsa *lsa, const char *peer);

/*
 * Least-cost relay route from this node to @dst for @need_bits of pad per
 * hop: 0 and @hops[0..*n_hops-1] (this node first, @dst last), or a
 * negative errno with a sentence in @why (-ENOENT: @dst not in the
 * topology, -EHOSTUNREACH: no usable path, -E2BIG: too many hops).
 */
int lsa_route(struct lsa *lsa, const char *dst, uint64_t need_bits,
	      char hops[][KM_NAME_MAX], uint32_t max_hops, uint32_t *n_hops,
	      char *why, size_t whylen);

/*
 * Worst pool level (enum qkd_pool_level) advertised on the links along
 * @hops[0..@n-1]; a link nobody advertised here counts as READY (with
 * centralized key relay only the controller holds the database).
 */
int lsa_path_level(struct lsa *lsa, const char hops[][KM_NAME_MAX],
		   uint32_t n);

/* ---- Plain state for the operator views (mgmt/), metadata only ---- */

struct lsa_info {
	char node[KM_NAME_MAX];		/* this node */
	char controller[KM_NAME_MAX];	/* "": distributed (configuration 1) */
	bool central_relay;		/* configuration 4 */
	uint64_t received;		/* LSAs received */
	uint64_t flooded;		/* LSA and ROUTES messages sent */
	uint64_t aged_out;		/* origins dropped for silence */
	uint64_t topo_builds;		/* topology rebuilt after a change */
	uint64_t route_recomputes;	/* shortest-path trees computed */
};

/* Drops the LSAs past LSA_MAX_AGE_MS first: the figures are as of now. */
void lsa_info(struct lsa *lsa, struct lsa_info *out);

struct lsa_node_info {
	char node[KM_NAME_MAX];		/* origin */
	uint8_t role;			/* enum node_role */
	uint64_t seq;
	uint64_t age_ms;		/* since its newest LSA was stored */
	uint32_t n_links;
	struct kxmsg_lsa_link links[KXMSG_MAX_LSA_LINKS];
};

/* The database, this node first (call lsa_info() first to age it). */
size_t lsa_node_count(const struct lsa *lsa);
/* 0, or -1 if @i is out of range. */
int lsa_node_info(const struct lsa *lsa, size_t i, struct lsa_node_info *out);

/* A relay path as the views show it; the pointers live during the call. */
struct lsa_path_info {
	const char *from, *to;
	int err;			/* 0, or a negative errno ... */
	const char *why;		/* ... and why, in one sentence */
	bool pushed;			/* configuration 2: the controller's */
	uint32_t n_nodes;		/* from ... to (err == 0) */
	const char *const *nodes;
	uint64_t cost;			/* not for pushed routes */
};

typedef int (*lsa_path_fn)(void *arg, const struct lsa_path_info *p);

/*
 * Calls @fn with the path a key from @src (NULL: this node) to @dst would
 * take, for one 256-bit key and its MAC key; this node's own is the pushed
 * route in configuration 2.  Returns what @fn returned, or -ENOMEM.
 */
int lsa_path(struct lsa *lsa, const char *src, const char *dst,
	     lsa_path_fn fn, void *arg);
/*
 * Calls @fn with the computed path from this node to every other node of
 * the database, in its order; stops when @fn returns non-zero and returns
 * that, or -ENOMEM.
 */
int lsa_foreach_route(struct lsa *lsa, lsa_path_fn fn, void *arg);

#endif /* QKD_LSA_H */
