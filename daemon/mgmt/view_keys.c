// SPDX-License-Identifier: GPL-2.0
/*
 * The key manager's views (view.h): links and their pools (kma.h), SAEs,
 * SAE pairs and application key records (ksa.h).  Metadata only: their
 * *_info() and foreach functions fill structs that hold no key bytes.
 */
#include <string.h>

#include "core/config.h"
#include "kma/kma.h"
#include "ksa/ksa.h"
#include "routing/lsa.h"
#include "mgmt/view.h"

static const char *level_name(enum qkd_pool_level l)
{
	switch (l) {
	case QKD_POOL_EMPTY:	return "empty";
	case QKD_POOL_WARNING:	return "warning";
	case QKD_POOL_LOW:	return "low";
	case QKD_POOL_READY:	return "ready";
	}
	return "?";
}

static const char *source_name(enum km_source s)
{
	return s == KM_SOURCE_KERNEL ? "kernel" :
	       s == KM_SOURCE_ETSI014 ? "etsi014" :
	       s == KM_SOURCE_FILE ? "file" : "sim";
}

/* ---- links and pools ---------------------------------------------------- */

/* Key confirmation (kma/confirm.h): counters, or the agreement. */
static json_t *add_confirm(json_t *o, const struct kma_link_info *l,
			   bool pools)
{
	if (!o || !l->confirming)
		return o;
	if (pools) {
		json_object_set_new(o, "confirmed",
				    json_integer((json_int_t)l->blocks_confirmed));
		json_object_set_new(o, "mismatched",
				    json_integer((json_int_t)l->blocks_mismatched));
		json_object_set_new(o, "unconfirmed",
				    json_integer((json_int_t)l->blocks_unconfirmed));
		json_object_set_new(o, "confirm_key_bytes",
				    json_integer((json_int_t)l->confirm_key_bytes));
		return o;
	}
	json_object_set_new(o, "agreement", json_string(l->agreement));
	if (l->refused[0])
		json_object_set_new(o, "refused", json_string(l->refused));
	json_object_set_new(o, "confirmed",
			    json_integer((json_int_t)l->blocks_confirmed));
	json_object_set_new(o, "mismatched",
			    json_integer((json_int_t)l->blocks_mismatched));
	return o;
}

/* source = etsi014: the QKD modules and the source's counters. */
static json_t *module_json(const struct kma_link_info *l)
{
	if (!l->has_module)
		return NULL;
	return json_pack("{s:b, s:b, s:I, s:I, s:I, s:I, s:I}",
			 "up", l->module_up, "peer_up", l->peer_module_up,
			 "requests", (json_int_t)l->module_requests,
			 "failures", (json_int_t)l->module_failures,
			 "backoffs", (json_int_t)l->module_backoffs,
			 "keys_taken", (json_int_t)l->module_keys_taken,
			 "keys_refused", (json_int_t)l->module_keys_refused);
}

static json_t *link_json(const struct kma_link_info *l, bool admin_down,
			 bool pools)
{
	if (pools)
		return json_pack("{s:s, s:I, s:s, s:I, s:i, s:I, s:I, s:I, s:I}",
				 "link", l->name,
				 "avail", (json_int_t)l->avail,
				 "level", level_name(l->level),
				 "block_size", (json_int_t)l->block_size,
				 "keys_held", (int)l->keys_held,
				 "allocated", (json_int_t)l->bytes_allocated,
				 "fetched", (json_int_t)l->bytes_fetched,
				 "discarded", (json_int_t)l->bytes_discarded,
				 "fetch_failures", (json_int_t)l->fetch_failures);
	/*
	 * "state" is the key source's; "link down PEER" only takes the link
	 * out of routing, shown as "admin".
	 */
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:o*}",
			 "link", l->name, "peer", l->peer,
			 "source", source_name(l->source),
			 "role", l->role == QKD_ROLE_TX ? "tx" : "rx",
			 "state", l->up ? "up" : "down",
			 "admin", admin_down ? "down" : "up",
			 "block_size", (json_int_t)l->block_size,
			 "level", level_name(l->level),
			 "pool_warn", (json_int_t)l->pool_warn,
			 "pool_ready", (json_int_t)l->pool_ready,
			 "module", module_json(l));
}

static const char *card_state_name(uint8_t s)
{
	static const char *const names[] = { QKD_LINK_STATE_NAMES };

	return s < sizeof(names) / sizeof(names[0]) && names[s] ? names[s] :
								   "?";
}

/*
 * Key generation (Y.3802 10.2): "running" or "stopped" where the source
 * has the control, the state a card reports, QBER and SKR where known.
 */
static json_t *add_generation(json_t *o, const struct kma_link_info *l)
{
	if (o && l->gen.control)
		json_object_set_new(o, "generation",
				    json_string(l->gen.running ? "running" :
								  "stopped"));
	if (o && l->gen.has_card)
		json_object_set_new(o, "card_state",
				    json_string(card_state_name(l->gen.card_state)));
	if (o && l->gen.has_qber)
		json_object_set_new(o, "qber_ppm",
				    json_integer((json_int_t)l->gen.qber_ppm));
	if (o && l->gen.has_skr)
		json_object_set_new(o, "skr_bps",
				    json_integer((json_int_t)l->gen.skr_bps));
	return o;
}

/* kernel_push = yes: the blocks pushed into qkd.ko (no key bytes). */
static json_t *add_kernel_push(json_t *o, const struct kma_link_info *l)
{
	if (!o || !l->kernel_push)
		return o;
	json_object_set_new(o, "kernel_push",
			    json_pack("{s:I, s:I, s:I, s:I}",
				      "link_id", (json_int_t)l->link_id,
				      "pushed", (json_int_t)l->blocks_pushed,
				      "skipped", (json_int_t)l->blocks_push_skipped,
				      "failed", (json_int_t)l->blocks_push_failed));
	return o;
}

json_t *view_link_json(const struct kma_link_info *l, bool admin_down,
		       bool pools)
{
	json_t *o = add_kernel_push(add_confirm(link_json(l, admin_down, pools),
						l, pools), l);

	return pools ? o : add_generation(o, l);
}

json_t *view_links(const struct kma *kma, const struct lsa *lsa, bool pools)
{
	size_t n = kma ? kma_link_count(kma) : 0;
	json_t *arr = json_array();
	struct kma_link_info li;

	for (size_t i = 0; arr && i < n; i++)
		if (!kma_link_info(kma, i, &li))
			json_array_append_new(arr, view_link_json(&li,
				lsa && lsa_admin_down(lsa, li.peer), pools));
	return arr;
}

/* ---- SAEs and SAE pairs ------------------------------------------------- */

json_t *view_pair_json(const struct ksa_pair_info *p, json_t *route)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:o*, s:I, s:I, s:I}",
			 "master", p->master, "slave", p->slave,
			 "master_node", p->master_node,
			 "slave_node", p->slave_node,
			 "link", *p->link ? p->link : NULL,
			 "route", route,
			 "stored", (json_int_t)p->keys_stored,
			 "supplied", (json_int_t)p->keys_supplied,
			 "pending", (json_int_t)p->keys_pending);
}

/*
 * A pair whose SAEs' nodes share no link gets its keys by relay: the
 * nodes a key would pass now, or NULL without a route (or key relay).
 */
static int route_nodes(void *arg, const struct lsa_path_info *p)
{
	json_t **nodes = arg;

	if (p->err)
		return 0;
	*nodes = json_array();
	for (uint32_t i = 0; *nodes && i < p->n_nodes; i++)
		json_array_append_new(*nodes, json_string(p->nodes[i]));
	return 0;
}

static json_t *pair_route(struct lsa *lsa, const struct ksa_pair_info *p)
{
	json_t *nodes = NULL;

	if (!*p->link && lsa)
		lsa_path(lsa, p->master_node, p->slave_node, route_nodes, &nodes);
	return nodes;
}

json_t *view_saes(const struct qkd_config *cfg, const struct ksa *ksa,
		  struct lsa *lsa)
{
	json_t *root = json_object(), *saes = json_array(), *pairs = json_array();
	struct ksa_pair_info pi;
	size_t i, n;

	if (!root || !saes || !pairs) {
		json_decref(root);
		json_decref(saes);
		json_decref(pairs);
		return NULL;
	}
	/* The KSA's table, with SAEs provisioned at run time; without a
	 * KSA (tests), the configuration's. */
	for (i = 0; ksa ? 1 : i < cfg->n_saes; i++) {
		struct ksa_sae_cfg rt;
		const struct ksa_sae_cfg *c = &rt;

		if (!ksa)
			c = &cfg->saes[i];
		else if (ksa_sae_get(ksa, i, &rt))
			break;
		json_array_append_new(saes, json_pack("{s:s, s:s, s:s, s:b}",
				"sae", c->name, "cert_cn", c->cert_cn,
				"node", c->node,
				"local", !strcmp(c->node, cfg->node.name)));
	}
	n = ksa ? ksa_pair_count(ksa) : 0;
	for (i = 0; i < n; i++)
		if (!ksa_pair_info(ksa, i, &pi))
			json_array_append_new(pairs,
				view_pair_json(&pi, pair_route(lsa, &pi)));
	json_object_set_new(root, "saes", saes);
	json_object_set_new(root, "pairs", pairs);
	return root;
}

/* ---- key records -------------------------------------------------------- */

struct key_collect {
	const char *sae;	/* NULL: all */
	size_t skip;		/* matching records to pass over (older) */
	size_t seen;		/* matching records so far */
	json_t *arr;		/* NULL on the counting pass */
};

static bool key_involves(const struct ksa_key_info *k, const char *sae)
{
	if (!strcmp(k->master, sae))
		return true;
	for (uint32_t i = 0; i < k->rec.use.n_slaves && i < KM_MAX_SLAVES; i++)
		if (!strcmp(k->slaves[i], sae))
			return true;
	return false;
}

json_t *view_key_json(const struct ksa_key_info *key)
{
	const struct kma_key_info *k = &key->rec;
	json_t *slaves = json_array();

	for (uint32_t i = 0; slaves && i < k->use.n_slaves && i < KM_MAX_SLAVES;
	     i++)
		json_array_append_new(slaves, json_pack("{s:s, s:b}",
				"sae", key->slaves[i],
				"delivered", !!(k->use.delivered & (1u << i))));
	/* Key ID, place and size, state, times: never the bytes. */
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:o, s:s, s:I, s:I, s:I}",
			 "key_id", k->key_id, "link", k->link,
			 "block", (json_int_t)(k->src_key_id >> QKD_KEY_ID_OFFSET_BITS),
			 "offset", (json_int_t)(k->src_key_id &
					((1u << QKD_KEY_ID_OFFSET_BITS) - 1)),
			 "size", (json_int_t)k->len * 8,
			 "master", key->master, "slaves", slaves,
			 "state", kma_key_state_name(k->state),
			 "gen_time_ns", (json_int_t)k->gen_time_ns,
			 "created_ns", (json_int_t)k->created_ns,
			 "changed_ns", (json_int_t)k->changed_ns);
}

static int key_one(void *arg, const struct ksa_key_info *k)
{
	struct key_collect *kc = arg;

	if (kc->sae && !key_involves(k, kc->sae))
		return 0;
	if (kc->arr && kc->seen >= kc->skip)
		json_array_append_new(kc->arr, view_key_json(k));
	kc->seen++;
	return 0;
}

/* Count the matching records, then collect the newest @limit. */
json_t *view_keys(const struct ksa *ksa, const char *sae, size_t limit)
{
	struct key_collect kc = { .sae = sae };
	size_t total;

	if (ksa)
		ksa_foreach_key(ksa, key_one, &kc);
	total = kc.seen;
	kc.skip = total > limit ? total - limit : 0;
	kc.seen = 0;
	kc.arr = json_array();
	if (!kc.arr)
		return NULL;
	if (ksa)
		ksa_foreach_key(ksa, key_one, &kc);
	return json_pack("{s:I, s:o}", "total", (json_int_t)total,
			 "keys", kc.arr);
}
