// SPDX-License-Identifier: GPL-2.0
/*
 * The accounting view (view.h): "account show", from mgmt/account.h.
 *
 *	{"interval_s": N, "open": {"seq", "start"},
 *	 "pairs": [{master, slave, "total": COUNTS, "open": COUNTS}],
 *	 "saes": [{sae, supplied_keys, supplied_bits, relayed_keys,
 *		   relayed_bits, refused_keys}],
 *	 "intervals": [{seq, start, end, master, slave, COUNTS...}],
 *	 "consumers": [{consumer, kind, name, peer, link, taken_keys,
 *		        taken_bits, refused_keys, "total": COUNTS,
 *		        "open": COUNTS}],
 *	 "consumer_intervals": [{seq, start, end, consumer, peer, link,
 *				 COUNTS...}]}
 *
 * Consumers (mgmt/account.h) are kept apart from the SAE pairs, so that a
 * reader of "pairs", "saes" and "intervals" sees what it always saw.
 * COUNTS is view_account_counts_json(): enc_keys, enc_bits, dec_keys,
 * dec_bits, relayed_keys, relayed_bits, requests, enc_refused,
 * dec_refused and "refused": {REASON: keys}.  "intervals" holds the newest
 * @limit closed intervals, oldest first.  Counts of keys only: no key ID
 * and no key byte is ever in accounting.
 */
#include <stdlib.h>
#include <string.h>

#include "mgmt/account.h"
#include "mgmt/view.h"

json_t *view_account_counts_json(const struct acct_counts *c)
{
	json_t *refused = json_object(), *o;

	for (int i = 0; refused && i < ACCT_R_N; i++)
		json_object_set_new(refused, acct_reason_names[i],
				    json_integer((json_int_t)c->refused[i]));
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		      "enc_keys", (json_int_t)c->enc_keys,
		      "enc_bits", (json_int_t)c->enc_bits,
		      "dec_keys", (json_int_t)c->dec_keys,
		      "dec_bits", (json_int_t)c->dec_bits,
		      "relayed_keys", (json_int_t)c->relayed_keys,
		      "relayed_bits", (json_int_t)c->relayed_bits,
		      "requests", (json_int_t)c->requests,
		      "enc_refused", (json_int_t)c->enc_refused,
		      "dec_refused", (json_int_t)c->dec_refused);
	if (o && refused)
		json_object_set_new(o, "refused", refused);
	else
		json_decref(refused);
	return o;
}

json_t *view_account_interval_json(const struct acct_interval_info *iv)
{
	json_t *o = view_account_counts_json(&iv->c);

	if (o && iv->link && iv->link[0])
		json_object_update_new(o, json_pack("{s:I, s:I, s:I, s:s, s:s, s:s}",
			"seq", (json_int_t)iv->seq,
			"start", (json_int_t)iv->start,
			"end", (json_int_t)iv->end,
			"consumer", iv->master, "peer", iv->slave,
			"link", iv->link));
	else if (o)
		json_object_update_new(o, json_pack("{s:I, s:I, s:I, s:s, s:s}",
			"seq", (json_int_t)iv->seq,
			"start", (json_int_t)iv->start,
			"end", (json_int_t)iv->end,
			"master", iv->master, "slave", iv->slave));
	return o;
}

/* A consumer's entry: "wireguard:w0" split into kind and name again. */
static json_t *consumer_json(const struct acct_pair_info *p)
{
	const char *colon = strchr(p->master, ':');
	int kind_len = colon ? (int)(colon - p->master) : 0;

	return json_pack("{s:s, s:s#, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o}",
			 "consumer", p->master,
			 "kind", p->master, kind_len,
			 "name", colon ? colon + 1 : p->master,
			 "peer", p->slave, "link", p->link,
			 "taken_keys",
			 (json_int_t)(p->total.enc_keys + p->total.dec_keys),
			 "taken_bits",
			 (json_int_t)(p->total.enc_bits + p->total.dec_bits),
			 "refused_keys",
			 (json_int_t)(p->total.enc_refused +
				      p->total.dec_refused),
			 "total", view_account_counts_json(&p->total),
			 "open", view_account_counts_json(&p->open));
}

/* One SAE's share: what it got as master (enc_keys), as slave (dec_keys). */
struct sae_sum {
	const char *sae;
	uint64_t keys, bits, relayed_keys, relayed_bits, refused;
};

static struct sae_sum *sae_sum_get(struct sae_sum *s, size_t *n,
				   const char *sae)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(s[i].sae, sae))
			return &s[i];
	memset(&s[*n], 0, sizeof(s[*n]));
	s[*n].sae = sae;
	return &s[(*n)++];
}

static json_t *saes_json(const struct account *a)
{
	size_t np = account_pair_count(a), n = 0;
	struct sae_sum *s = calloc(2 * np + 1, sizeof(*s)), *m, *v;
	json_t *arr = json_array();
	struct acct_pair_info p;

	for (size_t i = 0; s && arr && i < np; i++) {
		if (account_pair_info(a, i, &p) || p.link[0])
			continue;
		/* Relayed keys go to whichever end got them here. */
		m = sae_sum_get(s, &n, p.master);
		m->keys += p.total.enc_keys;
		m->bits += p.total.enc_bits;
		m->refused += p.total.enc_refused;
		v = sae_sum_get(s, &n, p.slave);
		v->keys += p.total.dec_keys;
		v->bits += p.total.dec_bits;
		v->refused += p.total.dec_refused;
		if (p.total.enc_keys) {
			m->relayed_keys += p.total.relayed_keys;
			m->relayed_bits += p.total.relayed_bits;
		} else {
			v->relayed_keys += p.total.relayed_keys;
			v->relayed_bits += p.total.relayed_bits;
		}
	}
	for (size_t i = 0; s && arr && i < n; i++)
		json_array_append_new(arr, json_pack(
			"{s:s, s:I, s:I, s:I, s:I, s:I}", "sae", s[i].sae,
			"supplied_keys", (json_int_t)s[i].keys,
			"supplied_bits", (json_int_t)s[i].bits,
			"relayed_keys", (json_int_t)s[i].relayed_keys,
			"relayed_bits", (json_int_t)s[i].relayed_bits,
			"refused_keys", (json_int_t)s[i].refused));
	free(s);
	return arr;
}

json_t *view_account(const struct account *a, size_t limit)
{
	json_t *pairs = json_array(), *ivs = json_array(), *reasons = json_array();
	json_t *cons = json_array(), *civs = json_array();
	struct acct_interval_info iv;
	struct acct_pair_info p;
	uint64_t seq = 0, start = 0;
	size_t n, skip[2] = { 0, 0 };
	int k;

	if (!a)
		return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o, s:o}",
				 "enabled", 0, "pairs", pairs,
				 "saes", json_array(), "intervals", ivs,
				 "reasons", reasons, "consumers", cons,
				 "consumer_intervals", civs);
	for (int i = 0; reasons && i < ACCT_R_N; i++)
		json_array_append_new(reasons,
				      json_string(acct_reason_names[i]));
	for (size_t i = 0; pairs && cons && i < account_pair_count(a); i++) {
		if (account_pair_info(a, i, &p))
			continue;
		if (p.link[0])
			json_array_append_new(cons, consumer_json(&p));
		else
			json_array_append_new(pairs, json_pack(
				"{s:s, s:s, s:o, s:o}", "master", p.master,
				"slave", p.slave,
				"total", view_account_counts_json(&p.total),
				"open", view_account_counts_json(&p.open)));
	}
	/* The newest @limit of each kind, oldest first. */
	n = account_interval_count(a);
	for (size_t i = 0; i < n; i++)
		if (!account_interval_info(a, i, &iv))
			skip[iv.link[0] != '\0']++;
	for (int j = 0; j < 2; j++)
		skip[j] = skip[j] > limit ? skip[j] - limit : 0;
	for (size_t i = 0; ivs && civs && i < n; i++) {
		if (account_interval_info(a, i, &iv))
			continue;
		k = iv.link[0] != '\0';
		if (skip[k]) {
			skip[k]--;
			continue;
		}
		json_array_append_new(k ? civs : ivs,
				      view_account_interval_json(&iv));
	}
	account_open_interval(a, &seq, &start);
	return json_pack("{s:b, s:I, s:{s:I, s:I}, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "enabled", 1,
			 "interval_s", (json_int_t)account_interval_s(a),
			 "open", "seq", (json_int_t)seq,
			 "start", (json_int_t)start,
			 "reasons", reasons, "pairs", pairs,
			 "saes", saes_json(a), "intervals", ivs,
			 "consumers", cons, "consumer_intervals", civs);
}
