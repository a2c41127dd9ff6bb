// SPDX-License-Identifier: GPL-2.0
/*
 * Mx and Mu (mx.h): the answers are built from the same plain state the
 * operator views read (alarm_info, kma_link_info, ksa_pair_info, account
 * pairs, lsa paths), then cut down to what the manager's [manager]
 * section allows.  What the policy hides is left out, not counted: a
 * peer domain learns nothing from the size of what it cannot see.
 *
 *	/mx/v1/alarms:	{node, min_severity, active: [{id, object,
 *			 event_type, probable_cause, severity, since,
 *			 count, text}], [notify: {seq, dropped}] with notify}
 *	/mx/v1/summary: {node, time, links_up, links_down, links: [{link,
 *			 peer, up, level, rate_bps}], alarms: {SEVERITY: N},
 *			 keys_supplied, sae_pairs, [saes: [{sae,
 *			 keys_supplied}] with sae_names]}
 *	/mu/v1/saes:	{node, saes: [{sae, node, here, [supplied_keys,
 *			 supplied_bits, relayed_keys, refused_keys,
 *			 keys_waiting] if here, peers: [{sae, node,
 *			 route, hops}]}]}
 *
 * Without sae_names in an Mx policy, each SAE name of the configuration
 * in an alarm's fields becomes "[sae]".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "core/alarm.h"
#include "core/config.h"
#include "kma/kma.h"
#include "ksa/ksa.h"
#include "kx/peer.h"
#include "routing/lsa.h"
#include "mgmt/account.h"
#include "mgmt/ctl.h"
#include "mgmt/mx.h"
#include "mgmt/mx_notify.h"

#define JSON_TYPE	"application/json"

const struct manager_cfg *mx_manager(const struct qkd_config *cfg,
				     const char *cn)
{
	for (size_t i = 0; cn && *cn && i < cfg->n_managers; i++)
		if (!strcmp(cfg->managers[i].cert_cn, cn))
			return &cfg->managers[i];
	return NULL;
}

static void reply_json(struct mgmt_reply *r, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (!text) {
		r->status = 503;
		r->type = "text/plain; charset=utf-8";
		r->body = NULL;
		r->len = 0;
		return;
	}
	r->status = status;
	r->type = JSON_TYPE;
	r->len = strlen(text);
	r->body = text;
}

void mx_error(struct mgmt_reply *r, int status, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	reply_json(r, status, json_pack("{s:s}", "error", why));
}

bool mx_owns(const char *path)
{
	return !strncmp(path, "/mx/", 4) || !strncmp(path, "/mu/", 4) ||
	       !strcmp(path, "/mx") || !strcmp(path, "/mu");
}

static const char *role_name(uint8_t role)
{
	return role == MANAGER_MX ? "mx" : role == MANAGER_MU ? "mu" : "view";
}

static int severity_of(const char *name)
{
	for (int s = ALARM_WARNING; s <= ALARM_CRITICAL; s++)
		if (!strcmp(name, alarm_severity_name(s)))
			return s;
	return -1;
}

/* POST /mx/v1/alarms {"min_severity": S}: only ever narrower. */
static int alarms_query(const struct manager_cfg *m, const uint8_t *body,
			size_t len, int *min, struct mgmt_reply *r)
{
	json_error_t jerr;
	json_t *q = json_loadb((const char *)body, len,
			       JSON_REJECT_DUPLICATES, &jerr), *v;
	const char *key;
	int s;

	if (!q || !json_is_object(q)) {
		mx_error(r, 400, "body is not a JSON object%s%s",
			 q ? "" : ": ", q ? "" : jerr.text);
		json_decref(q);
		return -1;
	}
	json_object_foreach(q, key, v) {
		if (strcmp(key, "min_severity")) {
			mx_error(r, 400, "unknown field \"%.64s\" (only min_severity)",
				 key);
			goto bad;
		}
		if (!json_is_string(v) ||
		    (s = severity_of(json_string_value(v))) < 0) {
			mx_error(r, 400, "min_severity is not one of warning, minor, major, critical");
			goto bad;
		}
		if (s < m->min_severity) {
			mx_error(r, 403, "the policy for manager %s shows alarms of %s and above only",
				 m->name, alarm_severity_name(m->min_severity));
			goto bad;
		}
		*min = s;
	}
	json_decref(q);
	return 0;
bad:
	json_decref(q);
	return -1;
}

static void mx_alarms(const struct ctl_sources *src,
		      const struct manager_cfg *m, int min,
		      struct mgmt_reply *r)
{
	json_t *arr = json_array();
	struct alarm_info a;

	uint64_t seq, dropped;
	json_t *o;

	for (size_t i = 0; arr && i < alarm_count(); i++)
		if (!alarm_info(i, &a) && (int)a.severity >= min)
			json_array_append_new(arr,
					      mx_alarm_json(src->cfg, m, &a));
	o = json_pack("{s:s, s:s, s:o*}", "node", src->cfg->node.name,
		      "min_severity", alarm_severity_name(min), "active", arr);
	/* The event this list is current to: a receiver resyncs from it. */
	if (o && !mx_notify_state(src->notify, m->name, &seq, &dropped))
		json_object_set_new(o, "notify", json_pack("{s:I, s:I}",
				    "seq", (json_int_t)seq,
				    "dropped", (json_int_t)dropped));
	reply_json(r, 200, o);
}

/* Whether the Kx channel to @peer is up; true if there is no such peer. */
static bool peer_up(const struct peers *peers, const char *peer)
{
	size_t n = peers ? peers_count(peers) : 0;
	struct peer_info pi;

	for (size_t i = 0; i < n; i++)
		if (!peers_info(peers, i, &pi) && !strcmp(pi.name, peer))
			return pi.state == PEER_UP;
	return true;
}

/* A link is up when its source delivers key and its Kx peer is up. */
static json_t *summary_links(const struct kma *kma, const struct peers *peers,
			     int *up, int *down)
{
	static const char *const level[] = { "empty", "warning", "low",
					     "ready" };
	size_t n = kma ? kma_link_count(kma) : 0;
	json_t *arr = json_array();
	struct kma_link_info *li = malloc(sizeof(*li));

	for (size_t i = 0; li && arr && i < n; i++) {
		if (kma_link_info(kma, i, li))
			continue;
		bool is_up = li->up && peer_up(peers, li->peer);

		*(is_up ? up : down) += 1;
		json_array_append_new(arr, json_pack(
			"{s:s, s:s, s:b, s:s, s:I}", "link", li->name,
			"peer", li->peer, "up", is_up, "level",
			(unsigned int)li->level < 4 ? level[li->level] : "?",
			"rate_bps", (json_int_t)li->rate_bps));
	}
	free(li);
	return arr;
}

/* Keys supplied here, in all and (with sae_names) per SAE. */
static void summary_saes(const struct ksa *ksa, bool names, json_t *o)
{
	size_t n = ksa ? ksa_pair_count(ksa) : 0;
	json_t *saes = names ? json_array() : NULL;
	struct ksa_pair_info p;
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		if (ksa_pair_info(ksa, i, &p))
			continue;
		total += p.keys_supplied;
		if (saes)
			json_array_append_new(saes, json_pack(
				"{s:s, s:s, s:I}", "master", p.master,
				"slave", p.slave, "keys_supplied",
				(json_int_t)p.keys_supplied));
	}
	json_object_set_new(o, "keys_supplied", json_integer((json_int_t)total));
	json_object_set_new(o, "sae_pairs", json_integer((json_int_t)n));
	if (saes)
		json_object_set_new(o, "saes", saes);
}

static void mx_summary(const struct ctl_sources *src,
		       const struct manager_cfg *m, struct mgmt_reply *r)
{
	int counts[ALARM_CRITICAL + 1] = { 0 }, up = 0, down = 0;
	json_t *links = summary_links(src->kma, src->peers, &up, &down);
	json_t *alarms = json_object(), *o;
	struct alarm_info a;

	for (size_t i = 0; i < alarm_count(); i++)
		if (!alarm_info(i, &a) && a.severity <= ALARM_CRITICAL)
			counts[a.severity]++;
	/* The counts follow the same policy as the alarms themselves. */
	for (int s = m->min_severity; alarms && s <= ALARM_CRITICAL; s++)
		json_object_set_new(alarms, alarm_severity_name(s),
				    json_integer(counts[s]));
	o = json_pack("{s:s, s:I, s:i, s:i, s:o*, s:o*}", "node",
		      src->cfg->node.name, "time", (json_int_t)time(NULL),
		      "links_up", up, "links_down", down, "links", links,
		      "alarms", alarms);
	if (o)
		summary_saes(src->ksa, m->show & MANAGER_SHOW_SAE_NAMES, o);
	reply_json(r, 200, o);
}

static bool manager_has(const struct manager_cfg *m, const char *sae)
{
	for (size_t i = 0; i < m->n_saes; i++)
		if (!strcmp(m->saes[i], sae))
			return true;
	return false;
}

static const char *sae_node(const struct qkd_config *cfg, const char *sae)
{
	for (size_t i = 0; i < cfg->n_saes; i++)
		if (!strcmp(cfg->saes[i].name, sae))
			return cfg->saes[i].node;
	return "";
}

static int keep_hops(void *arg, const struct lsa_path_info *p)
{
	*(int *)arg = p->err ? -1 : (int)p->n_nodes - 1;
	return 0;
}

/* Whether keys can reach @to from here now: direct or relayed. */
static json_t *route_json(const struct ctl_sources *src, const char *sae,
			  const char *to)
{
	const char *here = src->cfg->node.name;
	int hops = -1;

	if (!strcmp(to, here))
		return json_pack("{s:s, s:s, s:s, s:i}", "sae", sae, "node", to,
				 "route", "local", "hops", 0);
	if (src->lsa)
		lsa_path(src->lsa, here, to, keep_hops, &hops);
	return json_pack("{s:s, s:s, s:s, s:i}", "sae", sae, "node", to,
			 "route", hops > 0 ? "available" : "none",
			 "hops", hops > 0 ? hops : 0);
}

/* Accounting of @sae here: as master (enc_keys) and as slave (dec_keys). */
static void mu_account(const struct ctl_sources *src, const char *sae,
		       json_t *o)
{
	uint64_t keys = 0, bits = 0, relayed = 0, refused = 0, waiting = 0;
	size_t n = src->account ? account_pair_count(src->account) : 0;
	size_t np = src->ksa ? ksa_pair_count(src->ksa) : 0;
	struct acct_pair_info p;
	struct ksa_pair_info kp;

	for (size_t i = 0; i < n; i++) {
		/* A consumer's keys are the node's, not an SAE's. */
		if (account_pair_info(src->account, i, &p) || p.link[0])
			continue;
		if (!strcmp(p.master, sae)) {
			keys += p.total.enc_keys;
			bits += p.total.enc_bits;
			refused += p.total.enc_refused;
			if (p.total.enc_keys)
				relayed += p.total.relayed_keys;
		}
		if (!strcmp(p.slave, sae)) {
			keys += p.total.dec_keys;
			bits += p.total.dec_bits;
			refused += p.total.dec_refused;
			if (!p.total.enc_keys)
				relayed += p.total.relayed_keys;
		}
	}
	for (size_t i = 0; i < np; i++)
		if (!ksa_pair_info(src->ksa, i, &kp) && !strcmp(kp.slave, sae))
			waiting += kp.keys_stored;
	json_object_update_new(o, json_pack("{s:I, s:I, s:I, s:I, s:I}",
		"supplied_keys", (json_int_t)keys,
		"supplied_bits", (json_int_t)bits,
		"relayed_keys", (json_int_t)relayed,
		"refused_keys", (json_int_t)refused,
		"keys_waiting", (json_int_t)waiting));
}

static json_t *mu_sae_json(const struct ctl_sources *src,
			   const struct manager_cfg *m, const char *sae)
{
	const char *node = sae_node(src->cfg, sae);
	bool here = !strcmp(node, src->cfg->node.name);
	json_t *peers = json_array(), *o;

	/* Routes from here to the user's other SAEs; of others, nothing. */
	for (size_t i = 0; here && peers && i < m->n_saes; i++)
		if (strcmp(m->saes[i], sae))
			json_array_append_new(peers, route_json(src, m->saes[i],
					sae_node(src->cfg, m->saes[i])));
	o = json_pack("{s:s, s:s, s:b, s:o*}", "sae", sae, "node", node,
		      "here", here, "peers", peers);
	if (o && here)
		mu_account(src, sae, o);
	return o;
}

/* POST /mu/v1/saes {"saes": [...]}: some of the manager's own SAEs. */
static json_t *mu_query(const struct manager_cfg *m, const uint8_t *body,
			size_t len, struct mgmt_reply *r)
{
	json_error_t jerr;
	json_t *q = json_loadb((const char *)body, len,
			       JSON_REJECT_DUPLICATES, &jerr), *v, *saes;
	const char *key;
	size_t i;

	if (!q || !json_is_object(q)) {
		mx_error(r, 400, "body is not a JSON object%s%s",
			 q ? "" : ": ", q ? "" : jerr.text);
		goto bad;
	}
	json_object_foreach(q, key, v)
		if (strcmp(key, "saes")) {
			mx_error(r, 400, "unknown field \"%.64s\" (only saes)",
				 key);
			goto bad;
		}
	saes = json_object_get(q, "saes");
	if (!json_is_array(saes) || !json_array_size(saes)) {
		mx_error(r, 400, "saes is not a non-empty array of SAE IDs");
		goto bad;
	}
	json_array_foreach(saes, i, v) {
		if (!json_is_string(v)) {
			mx_error(r, 400, "saes[%zu] is not a string", i);
			goto bad;
		}
		if (!manager_has(m, json_string_value(v))) {
			/* The name is the client's own input: not echoed. */
			mx_error(r, 403, "saes[%zu] is not an SAE of user network manager %s",
				 i, m->name);
			goto bad;
		}
	}
	json_incref(saes);
	json_decref(q);
	return saes;
bad:
	json_decref(q);
	return NULL;
}

static void mu_saes(const struct ctl_sources *src,
		    const struct manager_cfg *m, json_t *only,
		    struct mgmt_reply *r)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < m->n_saes; i++) {
		bool asked = !only;
		json_t *v;
		size_t k;

		json_array_foreach(only, k, v)
			if (!strcmp(json_string_value(v), m->saes[i]))
				asked = true;
		if (asked)
			json_array_append_new(arr,
					      mu_sae_json(src, m, m->saes[i]));
	}
	reply_json(r, 200, json_pack("{s:s, s:s, s:o*}", "node",
				     src->cfg->node.name, "manager", m->name,
				     "saes", arr));
}

void mx_handle(const struct ctl_sources *src, const char *cn,
	       const char *method, const char *path, const uint8_t *body,
	       size_t body_len, struct mgmt_reply *r)
{
	const struct manager_cfg *m = mx_manager(src->cfg, cn);
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	bool post = !strcmp(method, "POST");
	bool mx = !strncmp(path, "/mx", 3);
	int min;

	memset(r, 0, sizeof(*r));
	if (!m) {
		mx_error(r, 403, "client certificate CN \"%s\" is not the cert_cn of a [manager]",
			 cn);
		return;
	}
	if (m->role != (mx ? MANAGER_MX : MANAGER_MU)) {
		mx_error(r, 403, "manager %s has role %s; %s is for role %s",
			 m->name, role_name(m->role), mx ? "/mx" : "/mu",
			 mx ? "mx" : "mu");
		return;
	}
	if (get && body_len) {
		mx_error(r, 400, "a %s has no body", method);
		return;
	}
	if (body_len > MX_MAX_BODY) {
		mx_error(r, 413, "a query body is at most %d bytes", MX_MAX_BODY);
		return;
	}
	if (mx && !strcmp(path, "/mx/v1/alarms") &&
	    (m->show & MANAGER_SHOW_ALARMS)) {
		min = m->min_severity;
		if (!get && !post)
			goto not_allowed;
		if (post && alarms_query(m, body, body_len, &min, r))
			return;
		mx_alarms(src, m, min, r);
	} else if (mx && !strcmp(path, "/mx/v1/summary") &&
		   (m->show & MANAGER_SHOW_SUMMARY)) {
		if (!get)
			goto not_allowed;
		mx_summary(src, m, r);
	} else if (!mx && !strcmp(path, "/mu/v1/saes")) {
		json_t *only = NULL;

		if (!get && !post)
			goto not_allowed;
		if (post && !(only = mu_query(m, body, body_len, r)))
			return;
		mu_saes(src, m, only, r);
		json_decref(only);
	} else if (mx && (!strcmp(path, "/mx/v1/alarms") ||
			  !strcmp(path, "/mx/v1/summary"))) {
		mx_error(r, 403, "the policy for manager %s does not show %s",
			 m->name, path + 7);
	} else {
		mx_error(r, 404, "no such resource (%s)",
			 mx ? "/mx/v1/alarms, /mx/v1/summary" : "/mu/v1/saes");
	}
	return;
not_allowed:
	mx_error(r, 405, "method %s not allowed here", method);
	r->extra = !strcmp(path, "/mx/v1/summary") ? "Allow: GET, HEAD\r\n" :
		   "Allow: GET, HEAD, POST\r\n";
}
