// SPDX-License-Identifier: GPL-2.0
/*
 * The key relay views (view.h), from relay/relay.h:
 *
 *	"relay show":  {"admission": {max_sessions, open, timed_out,
 *			 normal|low|high: {admitted, refused_busy, refused_pool}},
 *			started, forwarded, delivered, acked, refused,
 *			auth_alarms, "sessions": [{key_ID, role, route, state,
 *			age_ms}] (the newest RELAY_SESSIONS_SHOWN, newest last),
 *			central_forwarded, central_refused}
 *	"relay audit": [{link, peer, tx, rx}], each direction {pad_bits_taken,
 *			pad_bits_consumed, relayed_bits, mac_key_bits,
 *			discarded_bits, messages, rejected, auth_failures,
 *			balanced, pad_ranges: [[key_id, len], ...]}
 */
#include <stdlib.h>
#include <string.h>

#include "kx/peer.h"
#include "relay/relay.h"
#include "mgmt/view.h"

json_t *view_relay_info_json(const struct relay_info *r, json_t *sessions)
{
	json_t *adm = json_pack("{s:I, s:I, s:I}",
				"max_sessions", (json_int_t)r->max_sessions,
				"open", (json_int_t)r->open,
				"timed_out", (json_int_t)r->timed_out);

	for (int p = 0; adm && p < RELAY_PRIO_COUNT; p++)
		json_object_set_new(adm, relay_priority_name(p), json_pack(
			"{s:I, s:I, s:I}",
			"admitted", (json_int_t)r->adm[p].admitted,
			"refused_busy", (json_int_t)r->adm[p].refused_busy,
			"refused_pool", (json_int_t)r->adm[p].refused_pool));
	return json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
			 "admission", adm,
			 "started", (json_int_t)r->started,
			 "forwarded", (json_int_t)r->forwarded,
			 "delivered", (json_int_t)r->delivered,
			 "acked", (json_int_t)r->acked,
			 "refused", (json_int_t)r->refused,
			 "auth_alarms", (json_int_t)r->auth_alarms,
			 "sessions", sessions);
}

json_t *view_relay_session_json(const struct relay_session_info *s)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I}", "key_ID", s->key_id,
			 "role", relay_session_role_name(s->role),
			 "route", s->route, "state", s->state,
			 "age_ms", (json_int_t)s->age_ms);
}

/* Relay sessions, plus what a central KM forwarded (configuration 4). */
json_t *view_relay_sessions(struct relay *relay, const struct peers *peers)
{
	struct relay_info info;
	struct relay_session_info s;
	json_t *list = json_array(), *j;
	size_t n, first;
	uint64_t fwd, refused;

	if (!list)
		return NULL;
	memset(&info, 0, sizeof(info));
	if (relay)
		relay_info(relay, &info);	/* closes late sessions first */
	n = relay ? relay_session_count(relay) : 0;
	first = n > RELAY_SESSIONS_SHOWN ? n - RELAY_SESSIONS_SHOWN : 0;
	for (size_t i = first; i < n; i++)
		if (!relay_session_info(relay, i, &s))
			json_array_append_new(list, view_relay_session_json(&s));
	j = view_relay_info_json(&info, list);
	if (j && peers) {
		peers_hub_stats(peers, &fwd, &refused);
		json_object_set_new(j, "central_forwarded",
				    json_integer((json_int_t)fwd));
		json_object_set_new(j, "central_refused",
				    json_integer((json_int_t)refused));
	}
	return j;
}

static json_t *acct_json(const struct relay_acct *a)
{
	json_t *ranges = json_array();

	for (uint32_t i = 0; ranges && i < a->n_ranges &&
	     i < RELAY_RANGES_KEPT; i++)
		json_array_append_new(ranges, json_pack(
			"[I, I]", (json_int_t)a->ranges[i].key_id,
			(json_int_t)a->ranges[i].len));
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:o}",
		"pad_bits_taken", (json_int_t)(a->pad_bytes * 8),
		"pad_bits_consumed", (json_int_t)a->pad_bits_consumed,
		"relayed_bits", (json_int_t)a->relayed_bits,
		"mac_key_bits", (json_int_t)a->mac_key_bits,
		"discarded_bits", (json_int_t)a->discarded_bits,
		"messages", (json_int_t)a->messages,
		"rejected", (json_int_t)a->rejected,
		"auth_failures", (json_int_t)a->auth_failures,
		"balanced", relay_acct_balanced(a),
		"pad_ranges", ranges);
}

json_t *view_relay_link_json(const struct relay_link_info *l)
{
	return json_pack("{s:s, s:s, s:o, s:o}", "link", l->link,
			 "peer", l->peer, "tx", acct_json(&l->tx),
			 "rx", acct_json(&l->rx));
}

json_t *view_relay_audit(const struct relay *relay)
{
	size_t n = relay ? relay_link_count(relay) : 0;
	json_t *links = json_array();
	struct relay_link_info *l;

	if (!links || !n)
		return links;
	/* Two directions of RELAY_RANGES_KEPT ranges: not for the stack. */
	l = malloc(sizeof(*l));
	if (!l) {
		json_decref(links);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (!relay_link_info(relay, i, l))
			json_array_append_new(links, view_relay_link_json(l));
	free(l);
	return links;
}
