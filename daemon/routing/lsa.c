// SPDX-License-Identifier: GPL-2.0
/*
 * Link-state advertisements and route computation for key relay
 * (configuration 1, distributed).  See lsa.h.
 *
 * Routes are computed once per change of the graph the database
 * describes: every change bumps topo_gen; the next lookup rebuilds the
 * topology and hands it to the route cache (route.h), whose trees then
 * serve every lookup until the next change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kma/kma.h"
#include "core/log.h"
#include "core/loop.h"
#include "routing/lsa.h"
#include "routing/route.h"

#define LSA_MAX_ADMIN_DOWN	16

struct lsa_entry {
	char origin[KM_NAME_MAX];
	uint64_t seq;
	uint64_t rx_ms;			/* monotonic, when stored */
	uint8_t role;			/* enum node_role */
	uint32_t n_links;
	struct kxmsg_lsa_link links[KXMSG_MAX_LSA_LINKS];
};

/* Configuration 2: a route table pushed by the controller. */
struct pushed {
	char routes[KXMSG_MAX_ROUTES][KXMSG_ROUTE_MAX];
	uint32_t n;
	uint64_t seq, rx_ms;
};

/* Configuration 2, controller: what it pushes to one target. */
struct push_table {
	size_t off;			/* first route in push_buf */
	uint32_t n;			/* routes, each NUL-terminated */
};

/* Newest ROUTES sequence number seen per target (stops the flood). */
struct routes_seen {
	char target[KM_NAME_MAX];
	uint64_t seq;
};

struct lsa {
	struct loop *loop;
	struct loop_timer *timer;
	struct kma *kma;
	char node[KM_NAME_MAX];
	const struct lsa_transport *tr;
	void *tr_arg;
	uint64_t seq;			/* of our last LSA */
	uint64_t originated_ms;
	struct lsa_entry *db;		/* db[0] is ours */
	size_t n_db, cap_db;
	char admin_down[LSA_MAX_ADMIN_DOWN][KM_NAME_MAX];
	size_t n_admin_down;
	uint64_t received, flooded, aged_out;
	/* configuration 2 */
	char controller[KM_NAME_MAX];	/* "" : distributed */
	bool central_relay;		/* configuration 4: Kx' only */
	bool dirty;			/* topology changed since last push */
	uint64_t pushed_ms, push_seq, pushes;
	struct pushed pushed;
	struct routes_seen *seen;
	size_t n_seen;
	struct kxmsg msg;		/* scratch */
	/* routes: once per topology change */
	struct route_cache *routes;
	uint64_t topo_gen;		/* bumped by every change of the graph */
	uint64_t built_gen;		/* topo_gen the cached topology shows */
	uint64_t topo_builds;
	/* configuration 2, controller: tables of db order, as of push_gen */
	struct push_table *push_tab;
	size_t n_push_tab;
	char *push_buf;
	size_t push_len, push_cap;
	uint64_t push_gen;
};

static bool is_controller(const struct lsa *lsa)
{
	return lsa->controller[0] && !strcmp(lsa->controller, lsa->node);
}

static bool uses_pushed_routes(const struct lsa *lsa)
{
	return lsa->controller[0] && !is_controller(lsa);
}

static struct lsa_entry *entry_find(struct lsa *lsa, const char *origin)
{
	for (size_t i = 0; i < lsa->n_db; i++)
		if (!strcmp(lsa->db[i].origin, origin))
			return &lsa->db[i];
	return NULL;
}

static struct lsa_entry *entry_add(struct lsa *lsa, const char *origin)
{
	struct lsa_entry *e;

	if (lsa->n_db == lsa->cap_db) {
		size_t cap = lsa->cap_db ? 2 * lsa->cap_db : 16;

		if (cap > LSA_MAX_NODES)
			return NULL;
		e = realloc(lsa->db, cap * sizeof(*e));
		if (!e)
			return NULL;
		lsa->db = e;
		lsa->cap_db = cap;
	}
	e = &lsa->db[lsa->n_db++];
	memset(e, 0, sizeof(*e));
	snprintf(e->origin, sizeof(e->origin), "%s", origin);
	return e;
}

/* The graph may have changed: routes are recomputed at the next lookup. */
static void topo_changed(struct lsa *lsa)
{
	lsa->topo_gen++;
}

/* Same links with the same figures: the same graph, the same costs. */
static bool same_links(const struct kxmsg_lsa_link *a, uint32_t na,
		       const struct kxmsg_lsa_link *b, uint32_t nb)
{
	if (na != nb)
		return false;
	for (uint32_t i = 0; i < na; i++)
		if (strcmp(a[i].peer, b[i].peer) || a[i].up != b[i].up ||
		    a[i].level != b[i].level ||
		    a[i].avail_bits != b[i].avail_bits ||
		    a[i].rate_bps != b[i].rate_bps)
			return false;
	return true;
}

bool lsa_admin_down(const struct lsa *lsa, const char *peer)
{
	for (size_t i = 0; i < lsa->n_admin_down; i++)
		if (!strcmp(lsa->admin_down[i], peer))
			return true;
	return false;
}

/* ---- flooding ---- */

static void entry_to_msg(const struct lsa_entry *e, struct kxmsg *m)
{
	kxmsg_clear(m, KXMSG_LSA);
	snprintf(m->node, sizeof(m->node), "%s", e->origin);
	m->seq = e->seq;
	m->role = e->role;
	m->n_lsa = e->n_links;
	memcpy(m->lsa, e->links, e->n_links * sizeof(e->links[0]));
}

/* Send @m to every up peer except @except (NULL: all). */
static void flood_msg(struct lsa *lsa, const struct kxmsg *m,
		      const char *except)
{
	size_t n = kma_link_count(lsa->kma);

	/* Configuration 4: nodes talk to the central KM/controller only. */
	if (uses_pushed_routes(lsa) && lsa->central_relay) {
		if (lsa->tr->send(lsa->tr_arg, lsa->controller, m) == 0)
			lsa->flooded++;
		return;
	}

	for (size_t i = 0; i < n; i++) {
		struct kma_link_info li;

		if (kma_link_info(lsa->kma, i, &li) ||
		    (except && !strcmp(li.peer, except)) ||
		    !lsa->tr->is_up(lsa->tr_arg, li.peer))
			continue;
		if (lsa->tr->send(lsa->tr_arg, li.peer, m) == 0)
			lsa->flooded++;
	}
}

static void flood(struct lsa *lsa, const struct lsa_entry *e,
		  const char *except)
{
	entry_to_msg(e, &lsa->msg);
	flood_msg(lsa, &lsa->msg, except);
}

/* Our links as we would advertise them now. */
static uint32_t local_links(struct lsa *lsa, struct kxmsg_lsa_link *out)
{
	size_t n = kma_link_count(lsa->kma);
	uint32_t k = 0;

	for (size_t i = 0; i < n && k < KXMSG_MAX_LSA_LINKS; i++) {
		struct kma_link_info li;
		struct kxmsg_lsa_link *l = &out[k];

		if (kma_link_info(lsa->kma, i, &li))
			continue;
		memset(l, 0, sizeof(*l));
		snprintf(l->peer, sizeof(l->peer), "%s", li.peer);
		l->up = li.up && lsa->tr->is_up(lsa->tr_arg, li.peer) &&
			!lsa_admin_down(lsa, li.peer);
		l->level = (uint8_t)li.level;
		l->avail_bits = li.avail * 8;
		l->rate_bps = li.rate_bps;	/* the metric's "one second" */
		k++;
	}
	return k;
}

/*
 * Available key moved by more than a quarter since it was advertised: a
 * pool drained by relays must reach the route metric at once, not at the
 * next refresh, while the small ups and downs of normal use do not flood.
 */
static bool avail_moved(uint64_t now, uint64_t then)
{
	uint64_t diff = now > then ? now - then : then - now;
	uint64_t big = now > then ? now : then;

	return diff > big / 4;
}

static bool links_changed(const struct kxmsg_lsa_link *a, uint32_t na,
			  const struct kxmsg_lsa_link *b, uint32_t nb)
{
	if (na != nb)
		return true;
	for (uint32_t i = 0; i < na; i++)
		if (a[i].up != b[i].up || a[i].level != b[i].level ||
		    strcmp(a[i].peer, b[i].peer))
			return true;
	return false;
}

/* ... or a pool drained or refilled: re-advertise, recompute. */
static bool links_or_pool_changed(const struct kxmsg_lsa_link *a, uint32_t na,
			      const struct kxmsg_lsa_link *b, uint32_t nb)
{
	if (links_changed(a, na, b, nb))
		return true;
	for (uint32_t i = 0; i < na; i++)
		if (avail_moved(a[i].avail_bits, b[i].avail_bits))
			return true;
	return false;
}

static void originate(struct lsa *lsa, bool force)
{
	struct lsa_entry *me = &lsa->db[0];
	struct kxmsg_lsa_link now[KXMSG_MAX_LSA_LINKS];
	uint32_t n = local_links(lsa, now);
	uint64_t t = loop_now_ms();

	bool changed = links_or_pool_changed(now, n, me->links, me->n_links);

	if (!force && !changed && t - lsa->originated_ms < LSA_REFRESH_MS)
		return;
	if (changed || force)
		lsa->dirty = true;
	if (!same_links(now, n, me->links, me->n_links))
		topo_changed(lsa);
	me->n_links = n;
	memcpy(me->links, now, n * sizeof(now[0]));
	me->seq = ++lsa->seq;
	me->rx_ms = t;
	lsa->originated_ms = t;
	flood(lsa, me, NULL);
}

static void age_out(struct lsa *lsa)
{
	uint64_t t = loop_now_ms();

	for (size_t i = 1; i < lsa->n_db;) {
		if (t - lsa->db[i].rx_ms > LSA_MAX_AGE_MS) {
			log_notice("routing: no LSA from node %s for %d ms, node considered down",
				   lsa->db[i].origin, LSA_MAX_AGE_MS);
			lsa->db[i] = lsa->db[--lsa->n_db];
			lsa->aged_out++;
			lsa->dirty = true;
			topo_changed(lsa);
		} else {
			i++;
		}
	}
}

static void push_routes(struct lsa *lsa);

void lsa_tick(struct lsa *lsa)
{
	age_out(lsa);
	originate(lsa, false);
	if (is_controller(lsa) &&
	    (lsa->dirty || loop_now_ms() - lsa->pushed_ms >= LSA_REFRESH_MS))
		push_routes(lsa);
}

static void tick_fire(void *arg)
{
	lsa_tick(arg);
}

static void routes_receive(struct lsa *lsa, const char *from,
			   const struct kxmsg *m);

void lsa_receive(struct lsa *lsa, const char *from, const struct kxmsg *m)
{
	struct lsa_entry *e;

	if (m->type == KXMSG_ROUTES) {
		routes_receive(lsa, from, m);
		return;
	}
	if (m->type != KXMSG_LSA || !strcmp(m->node, lsa->node))
		return;		/* our own, flooded back */
	lsa->received++;
	e = entry_find(lsa, m->node);
	if (e && m->seq <= e->seq)
		return;		/* old or already known: stop the flood */
	if (!e || links_or_pool_changed(m->lsa, m->n_lsa, e->links, e->n_links))
		lsa->dirty = true;
	if (!e || e->role != m->role ||
	    !same_links(m->lsa, m->n_lsa, e->links, e->n_links))
		topo_changed(lsa);
	if (!e)
		e = entry_add(lsa, m->node);
	if (!e) {
		log_warn("routing: LSA from %s dropped: too many nodes",
			 m->node);
		return;
	}
	e->seq = m->seq;
	e->rx_ms = loop_now_ms();
	e->role = m->role;
	e->n_links = m->n_lsa;
	memcpy(e->links, m->lsa, m->n_lsa * sizeof(m->lsa[0]));
	flood(lsa, e, from);
}

int lsa_set_admin_down(struct lsa *lsa, const char *peer, bool down)
{
	size_t i;

	if (!kma_link_by_peer(lsa->kma, peer))
		return -ENOENT;
	for (i = 0; i < lsa->n_admin_down; i++)
		if (!strcmp(lsa->admin_down[i], peer))
			break;
	if (down && i == lsa->n_admin_down) {
		if (i == LSA_MAX_ADMIN_DOWN)
			return -ENOSPC;
		snprintf(lsa->admin_down[lsa->n_admin_down++], KM_NAME_MAX,
			 "%s", peer);
	} else if (!down && i < lsa->n_admin_down) {
		lsa->n_admin_down--;
		memmove(lsa->admin_down[i], lsa->admin_down[lsa->n_admin_down],
			KM_NAME_MAX);
	}
	log_notice("routing: link to %s administratively %s", peer,
		   down ? "down" : "up");
	originate(lsa, true);
	return 0;
}

/* ---- topology and routes ---- */

static const struct kxmsg_lsa_link *link_to(const struct lsa_entry *e,
					    const char *peer)
{
	for (uint32_t i = 0; i < e->n_links; i++)
		if (!strcmp(e->links[i].peer, peer))
			return &e->links[i];
	return NULL;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * Configuration 3 (Y.3802 9.3): user nodes attach to access nodes (the
 * QKD access network), relay nodes form the backbone with access nodes at
 * its edge.  A user-user or user-relay link is not part of the network.
 * Nodes without a role (configurations 1, 2, 4) link freely.
 */
static bool roles_may_link(uint8_t a, uint8_t b)
{
	if (a == NODE_ROLE_NONE || b == NODE_ROLE_NONE)
		return true;
	if (a == NODE_ROLE_USER || b == NODE_ROLE_USER)
		return a == NODE_ROLE_ACCESS || b == NODE_ROLE_ACCESS;
	return true;
}

/* The topology the database describes; node i is db[i]. */
static struct route_topo *build_topo(struct lsa *lsa)
{
	struct route_topo *topo = route_topo_new();

	if (!topo)
		return NULL;
	for (size_t i = 0; i < lsa->n_db; i++) {
		if (route_node_add(topo, lsa->db[i].origin) < 0)
			goto fail;
		/* A user node obtains keys; it never relays for others. */
		if (lsa->db[i].role == NODE_ROLE_USER)
			route_node_set_transit(topo, (uint32_t)i, false);
	}
	for (size_t i = 0; i < lsa->n_db; i++) {
		const struct lsa_entry *x = &lsa->db[i];

		for (uint32_t j = 0; j < x->n_links; j++) {
			const struct kxmsg_lsa_link *xy = &x->links[j];
			int y = route_node_find(topo, xy->peer);
			const struct kxmsg_lsa_link *yx;
			struct route_link_status st;

			/* Each link once, and only if both ends agree. */
			if (y < 0 || strcmp(x->origin, xy->peer) >= 0)
				continue;
			yx = link_to(&lsa->db[y], x->origin);
			if (!yx || !roles_may_link(x->role, lsa->db[y].role))
				continue;
			st.state = xy->up && yx->up ? QKD_LINK_UP :
				   QKD_LINK_DOWN;
			st.level = xy->level < yx->level ? xy->level :
				   yx->level;
			st.avail_bits = min_u64(xy->avail_bits,
						yx->avail_bits);
			st.rate_bps = min_u64(xy->rate_bps, yx->rate_bps);
			if (route_link_add(topo, (uint32_t)i, (uint32_t)y,
					   &st) < 0)
				goto fail;
		}
	}
	return topo;
fail:
	route_topo_free(topo);
	return NULL;
}

/* The topology as of the last change (built now if need be); NULL: ENOMEM. */
static struct route_topo *current_topo(struct lsa *lsa)
{
	struct route_topo *topo = route_cache_topo(lsa->routes);

	if (topo && lsa->built_gen == lsa->topo_gen)
		return topo;
	topo = build_topo(lsa);
	route_cache_set_topo(lsa->routes, topo);
	if (topo) {
		lsa->built_gen = lsa->topo_gen;
		lsa->topo_builds++;
	}
	return topo;
}

/* Least-cost path from @src to @dst over the current topology's cache. */
static int route_from(struct lsa *lsa, const char *src, const char *dst,
		      uint64_t need_bits, struct route_path *path, char *why,
		      size_t whylen)
{
	struct route_topo *topo = current_topo(lsa);
	int s, d, rc;

	memset(path, 0, sizeof(*path));
	if (!topo) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	s = route_node_find(topo, src);
	d = route_node_find(topo, dst);
	if (s < 0 || d < 0) {
		snprintf(why, whylen, "KME %s is not in the topology",
			 s < 0 ? src : dst);
		return -ENOENT;
	}
	rc = route_cache_path(lsa->routes, (uint32_t)s, (uint32_t)d,
			      need_bits, path);
	if (rc == -EHOSTUNREACH)
		route_explain(topo, (uint32_t)s, (uint32_t)d, need_bits, why,
			      whylen);
	else if (rc)
		snprintf(why, whylen, "route computation failed (%d)", rc);
	return rc;
}

/* ---- configuration 2: the controller pushes route tables ---- */

/* Pad need the controller plans for: a 256-bit key and its MAC key. */
#define PUSH_NEED_BITS	(256 + 256)

/* "A,B,C" for @p; 0, or -1 if it does not fit. */
static int path_string(struct route_topo *topo, const struct route_path *p,
		       char *out, size_t len)
{
	size_t pos = 0;

	for (uint32_t i = 0; i <= p->hops; i++) {
		int n = snprintf(out + pos, len - pos, "%s%s", i ? "," : "",
				 route_node_name(topo, p->nodes[i]));

		if (n < 0 || (size_t)n >= len - pos)
			return -1;
		pos += (size_t)n;
	}
	return 0;
}

static int push_append(struct lsa *lsa, const char *route)
{
	size_t len = strlen(route) + 1;

	if (lsa->push_len + len > lsa->push_cap) {
		size_t cap = 2 * lsa->push_cap + len + 4096;
		char *p = realloc(lsa->push_buf, cap);

		if (!p)
			return -ENOMEM;
		lsa->push_buf = p;
		lsa->push_cap = cap;
	}
	memcpy(lsa->push_buf + lsa->push_len, route, len);
	lsa->push_len += len;
	return 0;
}

/*
 * Every node's routes to every other known node, in database order, as
 * the controller pushes them; computed again only after a change.
 */
static int push_tables(struct lsa *lsa)
{
	char why[160], route[KXMSG_ROUTE_MAX];

	if (lsa->push_tab && lsa->push_gen == lsa->topo_gen &&
	    lsa->n_push_tab == lsa->n_db)
		return 0;
	free(lsa->push_tab);
	lsa->push_tab = calloc(lsa->n_db, sizeof(*lsa->push_tab));
	lsa->n_push_tab = 0;
	lsa->push_len = 0;
	if (!lsa->push_tab)
		return -ENOMEM;
	/* db[0], the controller, routes for itself. */
	for (size_t i = 1; i < lsa->n_db; i++) {
		struct push_table *t = &lsa->push_tab[i];

		t->off = lsa->push_len;
		for (size_t j = 0; j < lsa->n_db && t->n < KXMSG_MAX_ROUTES;
		     j++) {
			struct route_path path;
			int rc;

			if (j == i)
				continue;
			rc = route_from(lsa, lsa->db[i].origin,
					lsa->db[j].origin, PUSH_NEED_BITS,
					&path, why, sizeof(why));
			if (rc == 0 &&
			    path_string(route_cache_topo(lsa->routes), &path,
					route, sizeof(route)) == 0) {
				rc = push_append(lsa, route);
				t->n += rc == 0;
			}
			route_path_release(&path);
			if (rc == -ENOMEM) {
				free(lsa->push_tab);
				lsa->push_tab = NULL;
				return rc;
			}
		}
	}
	lsa->n_push_tab = lsa->n_db;
	lsa->push_gen = lsa->topo_gen;
	return 0;
}

static void push_routes(struct lsa *lsa)
{
	struct kxmsg *m = &lsa->msg;

	if (push_tables(lsa))
		return;
	lsa->push_seq++;
	for (size_t i = 1; i < lsa->n_db; i++) {
		const char *r = lsa->push_buf + lsa->push_tab[i].off;

		kxmsg_clear(m, KXMSG_ROUTES);
		snprintf(m->node, sizeof(m->node), "%s", lsa->node);
		snprintf(m->dest, sizeof(m->dest), "%s", lsa->db[i].origin);
		m->seq = lsa->push_seq;
		for (; m->n_routes < lsa->push_tab[i].n; r += strlen(r) + 1)
			snprintf(m->routes[m->n_routes++],
				 sizeof(m->routes[0]), "%s", r);
		if (lsa->central_relay)
			lsa->tr->send(lsa->tr_arg, m->dest, m);	/* Kx' */
		else
			flood_msg(lsa, m, NULL);
	}
	lsa->dirty = false;
	lsa->pushed_ms = loop_now_ms();
	lsa->pushes++;
}

/* True if @m is newer than any ROUTES for its target seen so far. */
static bool routes_newer(struct lsa *lsa, const struct kxmsg *m)
{
	struct routes_seen *s;

	for (size_t i = 0; i < lsa->n_seen; i++) {
		if (strcmp(lsa->seen[i].target, m->dest))
			continue;
		if (m->seq <= lsa->seen[i].seq)
			return false;
		lsa->seen[i].seq = m->seq;
		return true;
	}
	if (lsa->n_seen >= LSA_MAX_NODES)
		return false;
	s = realloc(lsa->seen, (lsa->n_seen + 1) * sizeof(*s));
	if (!s)
		return false;
	lsa->seen = s;
	snprintf(s[lsa->n_seen].target, sizeof(s[0].target), "%s", m->dest);
	s[lsa->n_seen++].seq = m->seq;
	return true;
}

static void routes_receive(struct lsa *lsa, const char *from,
			   const struct kxmsg *m)
{
	if (!uses_pushed_routes(lsa) || strcmp(m->node, lsa->controller))
		return;		/* not our controller's */
	if (!routes_newer(lsa, m))
		return;
	if (strcmp(m->dest, lsa->node)) {
		flood_msg(lsa, m, from);
		return;
	}
	memcpy(lsa->pushed.routes, m->routes,
	       m->n_routes * sizeof(m->routes[0]));
	lsa->pushed.n = m->n_routes;
	lsa->pushed.seq = m->seq;
	lsa->pushed.rx_ms = loop_now_ms();
}

/* Split "A,B,C" into @hops; the number of nodes, or -1. */
static int split_route(const char *s, char hops[][KM_NAME_MAX],
		       uint32_t max_hops)
{
	uint32_t n = 0;

	while (*s) {
		size_t len = strcspn(s, ",");

		if (n == max_hops || len == 0 || len >= KM_NAME_MAX)
			return -1;
		memcpy(hops[n], s, len);
		hops[n++][len] = '\0';
		s += len;
		if (*s == ',')
			s++;
	}
	return (int)n;
}

/* The pushed route to @dst, or NULL. */
static const char *pushed_route(const struct lsa *lsa, const char *dst)
{
	for (uint32_t i = 0; i < lsa->pushed.n; i++) {
		const char *r = lsa->pushed.routes[i];
		const char *last = strrchr(r, ',');

		if (last && !strcmp(last + 1, dst))
			return r;
	}
	return NULL;
}

static int route_pushed(struct lsa *lsa, const char *dst,
			char hops[][KM_NAME_MAX], uint32_t max_hops,
			uint32_t *n_hops, char *why, size_t whylen)
{
	const char *r;
	int n;

	if (!lsa->pushed.rx_ms ||
	    loop_now_ms() - lsa->pushed.rx_ms > LSA_MAX_AGE_MS) {
		snprintf(why, whylen,
			 "no current route table from controller %s",
			 lsa->controller);
		return -EHOSTUNREACH;
	}
	r = pushed_route(lsa, dst);
	if (!r) {
		snprintf(why, whylen, "controller %s gives no route to KME %s",
			 lsa->controller, dst);
		return -EHOSTUNREACH;
	}
	n = split_route(r, hops, max_hops);
	if (n < 2 || strcmp(hops[0], lsa->node)) {
		snprintf(why, whylen, "controller's route to KME %s is unusable",
			 dst);
		return -EHOSTUNREACH;
	}
	*n_hops = (uint32_t)n;
	return 0;
}

void lsa_set_role(struct lsa *lsa, uint8_t role)
{
	lsa->db[0].role = role;
	lsa->dirty = true;
	topo_changed(lsa);
}

uint8_t lsa_role(const struct lsa *lsa)
{
	return lsa->db[0].role;
}

void lsa_set_central_relay(struct lsa *lsa, bool central)
{
	lsa->central_relay = central;
	lsa->dirty = true;
}

void lsa_set_controller(struct lsa *lsa, const char *controller)
{
	snprintf(lsa->controller, sizeof(lsa->controller), "%s",
		 controller ? controller : "");
	lsa->dirty = true;
}

int lsa_route(struct lsa *lsa, const char *dst, uint64_t need_bits,
	      char hops[][KM_NAME_MAX], uint32_t max_hops, uint32_t *n_hops,
	      char *why, size_t whylen)
{
	struct route_path path;
	int rc;

	age_out(lsa);
	originate(lsa, false);	/* our own links as of now */
	if (uses_pushed_routes(lsa))
		return route_pushed(lsa, dst, hops, max_hops, n_hops, why,
				    whylen);
	rc = route_from(lsa, lsa->node, dst, need_bits, &path, why, whylen);
	if (rc == 0 && path.hops + 1 > max_hops) {
		snprintf(why, whylen, "route to KME %s has %u hops, over %u",
			 dst, path.hops, max_hops - 1);
		rc = -E2BIG;
	}
	if (rc == 0) {
		*n_hops = path.hops + 1;
		for (uint32_t i = 0; i <= path.hops; i++)
			snprintf(hops[i], KM_NAME_MAX, "%s",
				 route_node_name(route_cache_topo(lsa->routes),
						 path.nodes[i]));
	}
	route_path_release(&path);
	return rc;
}

int lsa_path_level(struct lsa *lsa, const char hops[][KM_NAME_MAX],
		   uint32_t n)
{
	int worst = QKD_POOL_READY;

	for (uint32_t i = 0; i + 1 < n; i++) {
		for (int end = 0; end < 2; end++) {
			const struct lsa_entry *e =
				entry_find(lsa, hops[i + end]);
			const struct kxmsg_lsa_link *l =
				e ? link_to(e, hops[i + 1 - end]) : NULL;

			if (l && l->level < worst)
				worst = l->level;
		}
	}
	return worst;
}

void lsa_info(struct lsa *lsa, struct lsa_info *out)
{
	age_out(lsa);
	memset(out, 0, sizeof(*out));
	snprintf(out->node, sizeof(out->node), "%s", lsa->node);
	snprintf(out->controller, sizeof(out->controller), "%s",
		 lsa->controller);
	out->central_relay = lsa->central_relay;
	out->received = lsa->received;
	out->flooded = lsa->flooded;
	out->aged_out = lsa->aged_out;
	out->topo_builds = lsa->topo_builds;
	out->route_recomputes = route_cache_recomputes(lsa->routes);
}

size_t lsa_node_count(const struct lsa *lsa)
{
	return lsa->n_db;
}

int lsa_node_info(const struct lsa *lsa, size_t i, struct lsa_node_info *out)
{
	const struct lsa_entry *e;

	if (i >= lsa->n_db)
		return -1;
	e = &lsa->db[i];
	memset(out, 0, sizeof(*out));
	snprintf(out->node, sizeof(out->node), "%s", e->origin);
	out->role = e->role;
	out->seq = e->seq;
	out->age_ms = loop_now_ms() - e->rx_ms;
	out->n_links = e->n_links;
	memcpy(out->links, e->links, e->n_links * sizeof(e->links[0]));
	return 0;
}

/* Pad need of the views: one 256-bit key plus its MAC key. */
#define VIEW_NEED_BITS	(256 + 256)

static int computed_path(struct lsa *lsa, const char *src, const char *dst,
			 lsa_path_fn fn, void *arg)
{
	struct lsa_path_info pi = { .from = src, .to = dst };
	struct route_path path;
	const char **names = NULL;
	char why[160];
	int rc;

	pi.err = route_from(lsa, src, dst, VIEW_NEED_BITS, &path, why,
			    sizeof(why));
	if (pi.err) {
		pi.why = why;
	} else {
		names = calloc((size_t)path.hops + 1, sizeof(*names));
		if (!names) {
			route_path_release(&path);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i <= path.hops; i++)
			names[i] = route_node_name(route_cache_topo(lsa->routes),
						   path.nodes[i]);
		pi.n_nodes = path.hops + 1;
		pi.nodes = names;
		pi.cost = path.cost;
	}
	rc = fn(arg, &pi);
	free(names);
	route_path_release(&path);
	return rc;
}

/* Our own path in configuration 2: the pushed route. */
static int pushed_path(struct lsa *lsa, const char *dst, lsa_path_fn fn,
		       void *arg)
{
	char hops[KXMSG_MAX_HOPS][KM_NAME_MAX], why[160];
	const char *names[KXMSG_MAX_HOPS];
	struct lsa_path_info pi = { .from = lsa->node, .to = dst,
				    .pushed = true };
	uint32_t n = 0;

	pi.err = route_pushed(lsa, dst, hops, KXMSG_MAX_HOPS, &n, why,
			      sizeof(why));
	if (pi.err) {
		pi.why = why;
	} else {
		for (uint32_t i = 0; i < n; i++)
			names[i] = hops[i];
		pi.n_nodes = n;
		pi.nodes = names;
	}
	return fn(arg, &pi);
}

int lsa_path(struct lsa *lsa, const char *src, const char *dst,
	     lsa_path_fn fn, void *arg)
{
	if (uses_pushed_routes(lsa) && (!src || !strcmp(src, lsa->node)))
		return pushed_path(lsa, dst, fn, arg);
	age_out(lsa);
	if (!current_topo(lsa))
		return -ENOMEM;
	return computed_path(lsa, src ? src : lsa->node, dst, fn, arg);
}

int lsa_foreach_route(struct lsa *lsa, lsa_path_fn fn, void *arg)
{
	age_out(lsa);
	if (!current_topo(lsa))
		return -ENOMEM;
	for (size_t i = 1; i < lsa->n_db; i++) {
		int rc = computed_path(lsa, lsa->node, lsa->db[i].origin, fn,
				       arg);

		if (rc)
			return rc;
	}
	return 0;
}

/* ---- lifetime ---- */

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct lsa *lsa_new(struct loop *loop, struct kma *kma, const char *node,
		    const struct lsa_transport *tr, void *tr_arg)
{
	struct lsa *lsa = calloc(1, sizeof(*lsa));

	if (!lsa)
		return NULL;
	lsa->loop = loop;
	lsa->kma = kma;
	lsa->tr = tr;
	lsa->tr_arg = tr_arg;
	snprintf(lsa->node, sizeof(lsa->node), "%s", node);
	/* A restarted node's numbers start above its old ones. */
	lsa->seq = realtime_ns();
	lsa->topo_gen = 1;		/* nothing built yet */
	lsa->routes = route_cache_new();
	if (!lsa->routes || !entry_add(lsa, node))
		goto fail;
	lsa->db[0].rx_ms = loop_now_ms();
	if (loop) {
		lsa->timer = loop_timer_add(loop, LSA_TICK_MS, true,
					    tick_fire, lsa);
		if (!lsa->timer)
			goto fail;
	}
	return lsa;
fail:
	lsa_free(lsa);
	return NULL;
}

void lsa_free(struct lsa *lsa)
{
	if (!lsa)
		return;
	if (lsa->timer)
		loop_timer_del(lsa->timer);
	route_cache_free(lsa->routes);
	free(lsa->push_tab);
	free(lsa->push_buf);
	free(lsa->seen);
	free(lsa->db);
	free(lsa);
}
