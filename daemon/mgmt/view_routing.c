// SPDX-License-Identifier: GPL-2.0
/*
 * The routing views (view.h), from routing/lsa.h:
 *
 *	"topology show": {node, mode, key_relay, controller, lsa_received,
 *			 lsa_sent, aged_out, "nodes": [{node, role, seq,
 *			 age_ms, "links": [{peer, up, level, avail_bits}]}]}
 *	"route show":	 [path] from this node to every other known node
 *	"path":		 {path: [nodes], hops, cost, from, to}, for this
 *			 node in configuration 2 {from, to, path, hops,
 *			 source: "controller"}; or {from, to, error}
 */
#include <errno.h>
#include <stdlib.h>
#include <jansson.h>

#include "core/config.h"
#include "kx/kxmsg.h"
#include "mgmt/view.h"
#include "routing/lsa.h"

static const char *level_name(uint8_t level)
{
	static const char *const names[] = { "empty", "warning", "low",
					     "ready" };

	return level < 4 ? names[level] : "?";
}

static const char *role_name(uint8_t role)
{
	static const char *const names[] = { "node", "user", "access",
					     "relay" };

	return role <= NODE_ROLE_RELAY ? names[role] : "?";
}

json_t *view_routing_node_json(const struct lsa_node_info *n)
{
	json_t *links = json_array();

	for (uint32_t j = 0; j < n->n_links; j++) {
		const struct kxmsg_lsa_link *l = &n->links[j];

		json_array_append_new(links, json_pack(
			"{s:s, s:b, s:s, s:I}", "peer", l->peer, "up", l->up,
			"level", level_name(l->level),
			"avail_bits", (json_int_t)l->avail_bits));
	}
	return json_pack("{s:s, s:s, s:I, s:I, s:o}", "node", n->node, "role",
			 role_name(n->role), "seq", (json_int_t)n->seq,
			 "age_ms", (json_int_t)n->age_ms, "links", links);
}

json_t *view_routing_topology(struct lsa *lsa)
{
	struct lsa_node_info *n = malloc(sizeof(*n));
	json_t *nodes = json_array();
	struct lsa_info in;

	if (!n || !nodes) {
		free(n);
		json_decref(nodes);
		return NULL;
	}
	lsa_info(lsa, &in);
	for (size_t i = 0; lsa_node_info(lsa, i, n) == 0; i++)
		json_array_append_new(nodes, view_routing_node_json(n));
	free(n);
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "node",
			 in.node, "mode",
			 in.controller[0] ? "centralized" : "distributed",
			 "key_relay", in.central_relay ? "central" : "direct",
			 "controller", in.controller, "lsa_received",
			 (json_int_t)in.received, "lsa_sent",
			 (json_int_t)in.flooded, "aged_out",
			 (json_int_t)in.aged_out, "nodes", nodes);
}

json_t *view_routing_path_json(const struct lsa_path_info *p)
{
	json_t *hops;

	if (p->err)
		return json_pack("{s:s, s:s, s:s}", "from", p->from, "to",
				 p->to, "error", p->why);
	hops = json_array();
	for (uint32_t i = 0; i < p->n_nodes; i++)
		json_array_append_new(hops, json_string(p->nodes[i]));
	if (p->pushed)
		return json_pack("{s:s, s:s, s:o, s:I, s:s}", "from", p->from,
				 "to", p->to, "path", hops, "hops",
				 (json_int_t)(p->n_nodes - 1), "source",
				 "controller");
	return json_pack("{s:o, s:I, s:I, s:s, s:s}", "path", hops, "hops",
			 (json_int_t)(p->n_nodes - 1), "cost",
			 (json_int_t)p->cost, "from", p->from, "to", p->to);
}

static int append_path(void *arg, const struct lsa_path_info *p)
{
	json_t *j = view_routing_path_json(p);

	return json_array_append_new(arg, j) ? -ENOMEM : 0;
}

json_t *view_routing_routes(struct lsa *lsa)
{
	json_t *routes = json_array();

	if (routes && lsa_foreach_route(lsa, append_path, routes)) {
		json_decref(routes);
		return NULL;
	}
	return routes;
}

static int keep_path(void *arg, const struct lsa_path_info *p)
{
	json_t **out = arg;

	*out = view_routing_path_json(p);
	return *out ? 0 : -ENOMEM;
}

json_t *view_routing_path(struct lsa *lsa, const char *from, const char *to)
{
	json_t *j = NULL;

	if (lsa_path(lsa, from, to, keep_path, &j))
		return NULL;
	return j;
}
