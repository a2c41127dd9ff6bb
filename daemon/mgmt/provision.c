// SPDX-License-Identifier: GPL-2.0
/*
 * Runtime provisioning (provision.h).  The node's SAE table is the
 * configuration's [sae] sections with an overlay on top: SAEs added, and
 * names of configured SAEs removed; a link's pool thresholds are its
 * [link] section's unless the overlay sets them.  The overlay is what
 * provisioned.json holds, so the file never repeats the configuration and
 * an SAE removed and added again comes back as added.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/log.h"
#include "kma/kma.h"
#include "ksa/ksa.h"
#include "kx/peer.h"
#include "routing/lsa.h"
#include "mgmt/ctl.h"
#include "mgmt/mgmt_http.h"
#include "mgmt/provision.h"
#include "mgmt/view.h"

/*
 * One kind of thing the manager adds and removes at run time: the items
 * added, each @size bytes starting with its name, and the names of
 * configured ones removed.  A configured item removed and added again is
 * in both: the file applies removals first.
 */
struct overlay {
	size_t size;
	void *added;
	size_t n_added;
	char (*removed)[KSA_SAE_ID_MAX];
	size_t n_removed;
};

static void *ov_item(const struct overlay *o, size_t i)
{
	return (char *)o->added + i * o->size;
}

static ssize_t ov_find_added(const struct overlay *o, const char *name)
{
	for (size_t i = 0; i < o->n_added; i++)
		if (!strcmp(ov_item(o, i), name))
			return (ssize_t)i;
	return -1;
}

static ssize_t ov_find_removed(const struct overlay *o, const char *name)
{
	for (size_t i = 0; i < o->n_removed; i++)
		if (!strcmp(o->removed[i], name))
			return (ssize_t)i;
	return -1;
}

/* Append a copy of @item; -1: no memory, nothing changed. */
static int ov_push_added(struct overlay *o, const void *item)
{
	void *a = realloc(o->added, (o->n_added + 1) * o->size);

	if (!a)
		return -1;
	o->added = a;
	memcpy(ov_item(o, o->n_added++), item, o->size);
	return 0;
}

static int ov_push_removed(struct overlay *o, const char *name)
{
	char (*r)[KSA_SAE_ID_MAX] = realloc(o->removed,
					    (o->n_removed + 1) * sizeof(*r));

	if (!r)
		return -1;
	o->removed = r;
	snprintf(o->removed[o->n_removed++], KSA_SAE_ID_MAX, "%s", name);
	return 0;
}

/* Take item @i out, into @out if not NULL. */
static void ov_drop_added(struct overlay *o, size_t i, void *out)
{
	if (out)
		memcpy(out, ov_item(o, i), o->size);
	memmove(ov_item(o, i), ov_item(o, i + 1), (o->n_added - i - 1) * o->size);
	o->n_added--;
}

static void ov_drop_removed(struct overlay *o, size_t i)
{
	memmove(&o->removed[i], &o->removed[i + 1],
		(o->n_removed - i - 1) * sizeof(*o->removed));
	o->n_removed--;
}

static void ov_free(struct overlay *o)
{
	free(o->added);
	free(o->removed);
}

/*
 * A link added at run time: its request, normalised (every value a
 * string, as the configuration file has it), seed included.
 */
struct link_added {
	char name[KM_NAME_MAX];
	json_t *fields;
};

/* A link's pool thresholds as set at run time (0: the default). */
struct link_pool {
	char name[KM_NAME_MAX];
	uint64_t pool_warn, pool_ready;
};

struct provision {
	struct ksa *ksa;
	struct kma *kma;
	struct peers *peers;		/* NULL: no [kx] */
	const struct qkd_config *cfg;
	char dir[KM_PATH_MAX];
	char path[KM_PATH_MAX + 32];
	int audit_fd;
	struct overlay sae_ov;		/* of struct ksa_sae_cfg */
	struct link_pool *pools;
	size_t n_pools;
	struct overlay peer_ov;		/* of struct peer_cfg */
	struct overlay link_ov;		/* of struct link_added */
};

/* Same rule as the configuration's names: they go into URLs and files. */
static bool valid_name(const char *s, size_t max)
{
	return config_check_name(s, max);
}

/* A certificate CN: printable ASCII, no control characters. */
static bool valid_cn(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n >= max)
		return false;
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/*
 * Exactly the three string fields @names of @obj, all required, each
 * copied to @dst[i] if shorter than @max[i]: 0, or 400 with the reason.
 * @what names the object in the errors ("an SAE").
 */
static int string_fields(json_t *obj, const char *what,
			 const char *const names[3], char *const dst[3],
			 const size_t max[3], char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj)) {
		snprintf(err, errlen, "%s is a JSON object {\"%s\", \"%s\", \"%s\"}",
			 what, names[0], names[1], names[2]);
		return 400;
	}
	json_object_foreach(obj, key, v) {
		size_t i;

		for (i = 0; i < 3; i++)
			if (!strcmp(key, names[i]))
				break;
		if (i == 3) {
			snprintf(err, errlen, "unknown field \"%.64s\" (%s, %s, %s)",
				 key, names[0], names[1], names[2]);
			return 400;
		}
		if (!json_is_string(v) || json_string_length(v) >= max[i] ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			snprintf(err, errlen, "%s: a string of at most %zu characters",
				 names[i], max[i] - 1);
			return 400;
		}
		memcpy(dst[i], json_string_value(v), json_string_length(v) + 1);
	}
	for (size_t i = 0; i < 3; i++) {
		if (!dst[i][0]) {
			snprintf(err, errlen, "missing field \"%s\"", names[i]);
			return 400;
		}
	}
	return 0;
}

static int sae_from_json(json_t *obj, struct ksa_sae_cfg *out, char *err,
			 size_t errlen)
{
	static const char *const fields[] = { "id", "cert_cn", "node" };
	char *dst[] = { out->name, out->cert_cn, out->node };
	size_t max[] = { sizeof(out->name), sizeof(out->cert_cn),
			 sizeof(out->node) };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = string_fields(obj, "an SAE", fields, dst, max, err, errlen);
	if (ret)
		return ret;
	if (!valid_name(out->name, sizeof(out->name)) ||
	    !valid_name(out->node, sizeof(out->node))) {
		snprintf(err, errlen, "id and node: 1..%d of A-Z a-z 0-9 . _ -",
			 KM_NAME_MAX - 1);
		return 400;
	}
	if (!valid_cn(out->cert_cn, sizeof(out->cert_cn))) {
		snprintf(err, errlen, "cert_cn: printable ASCII, no control characters");
		return 400;
	}
	return 0;
}

int provision_parse_sae(const char *text, size_t len, struct ksa_sae_cfg *out,
			char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	int ret;

	if (!obj) {
		snprintf(err, errlen, "malformed JSON: %.200s (line %d, column %d)",
			 jerr.text, jerr.line, jerr.column);
		return 400;
	}
	ret = sae_from_json(obj, out, err, errlen);
	json_decref(obj);
	return ret;
}

/*
 * {"pool_warn": N, "pool_ready": N}, either or both: what a [link]
 * section's keys of those names take (set_u64(), 0..), as JSON integers.
 */
static int pool_from_json(json_t *obj, struct provision_pool *out, char *err,
			  size_t errlen)
{
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "pool thresholds are a JSON object {\"pool_warn\", \"pool_ready\"}");
		return 400;
	}
	json_object_foreach(obj, key, v) {
		bool warn = !strcmp(key, "pool_warn");

		if (!warn && strcmp(key, "pool_ready")) {
			snprintf(err, errlen, "unknown field \"%.64s\" (pool_warn, pool_ready)",
				 key);
			return 400;
		}
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			snprintf(err, errlen, "%s: bytes, an integer from 0 (0: the default)",
				 key);
			return 400;
		}
		if (warn) {
			out->has_warn = true;
			out->pool_warn = (uint64_t)json_integer_value(v);
		} else {
			out->has_ready = true;
			out->pool_ready = (uint64_t)json_integer_value(v);
		}
	}
	if (!out->has_warn && !out->has_ready) {
		snprintf(err, errlen, "nothing to change: give pool_warn, pool_ready or both");
		return 400;
	}
	return 0;
}

int provision_parse_pool(const char *text, size_t len,
			 struct provision_pool *out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	int ret;

	if (!obj) {
		memset(out, 0, sizeof(*out));
		snprintf(err, errlen, "malformed JSON: %.200s (line %d, column %d)",
			 jerr.text, jerr.line, jerr.column);
		return 400;
	}
	ret = pool_from_json(obj, out, err, errlen);
	json_decref(obj);
	return ret;
}

/*
 * A peer, {"name", "address", "cert_cn"}, each checked as a [peer NAME]
 * section's: NAME and cert_cn names, address "host:port" with a numeric
 * IPv4 or [IPv6] host (config_check_address()).
 */
static int peer_from_json(json_t *obj, struct peer_cfg *out, char *err,
			  size_t errlen)
{
	static const char *const fields[] = { "name", "address", "cert_cn" };
	char *dst[] = { out->name, out->address, out->cert_cn };
	size_t max[] = { sizeof(out->name), sizeof(out->address),
			 sizeof(out->cert_cn) };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = string_fields(obj, "a peer", fields, dst, max, err, errlen);
	if (ret)
		return ret;
	if (!config_check_name(out->name, sizeof(out->name)) ||
	    !config_check_name(out->cert_cn, sizeof(out->cert_cn))) {
		snprintf(err, errlen, "name and cert_cn: 1..%d of A-Z a-z 0-9 . _ -",
			 KM_NAME_MAX - 1);
		return 400;
	}
	if (config_check_address(out->address)) {
		snprintf(err, errlen, "address: \"%.64s\" is not IPv4:port or [IPv6]:port",
			 out->address);
		return 400;
	}
	return 0;
}

int provision_parse_peer(const char *text, size_t len, struct peer_cfg *out,
			 char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	int ret;

	if (!obj) {
		memset(out, 0, sizeof(*out));
		snprintf(err, errlen, "malformed JSON: %.200s (line %d, column %d)",
			 jerr.text, jerr.line, jerr.column);
		return 400;
	}
	ret = peer_from_json(obj, out, err, errlen);
	json_decref(obj);
	return ret;
}

/* ---- links: the request body ---- */

/*
 * A [link] as JSON: "name", and the keys of a [link NAME] section
 * (Documentation/qkd/config.rst), strings, integers from 0 or booleans
 * (kernel_push).  Normalised to strings as the file has them, so that the
 * configuration parser's own checks take them (config_link_check()).
 */
static json_t *link_fields(json_t *obj, char *err, size_t errlen)
{
	json_t *out, *v, *name;
	const char *key;
	char num[24];

	if (!json_is_object(obj)) {
		snprintf(err, errlen, "a link is a JSON object {\"name\", \"peer\", \"source\", ...}: the keys of a [link] section");
		return NULL;
	}
	name = json_object_get(obj, "name");
	if (!json_is_string(name)) {
		snprintf(err, errlen, "missing field \"name\" (a string)");
		return NULL;
	}
	if (json_object_size(obj) > PROVISION_LINK_FIELDS) {
		snprintf(err, errlen, "at most %d fields", PROVISION_LINK_FIELDS);
		return NULL;
	}
	out = json_object();
	json_object_foreach(obj, key, v) {
		const char *val = num;

		if (strlen(key) >= 32) {
			snprintf(err, errlen, "unknown field \"%.32s...\"", key);
			goto bad;
		}
		if (json_is_string(v) &&
		    strlen(json_string_value(v)) == json_string_length(v) &&
		    json_string_length(v) < KM_PATH_MAX)
			val = json_string_value(v);
		else if (json_is_integer(v) && json_integer_value(v) >= 0)
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(v));
		else if (json_is_boolean(v))
			val = json_is_true(v) ? "yes" : "no";
		else {
			snprintf(err, errlen, "%s: a string of at most %d characters, an integer from 0 or a boolean",
				 key, KM_PATH_MAX - 1);
			goto bad;
		}
		if (!out || json_object_set_new(out, key, json_string(val))) {
			snprintf(err, errlen, "out of memory");
			goto bad;
		}
	}
	return out;
bad:
	json_decref(out);
	return NULL;
}

/* Overwrite the seed's text of a link object: it is a secret. */
static void seed_cleanse(json_t *fields)
{
	json_t *seed = json_object_get(fields, "seed");

	if (json_is_string(seed))
		OPENSSL_cleanse((char *)json_string_value(seed),
				json_string_length(seed));
}

static void fields_free(json_t *fields)
{
	seed_cleanse(fields);
	json_decref(fields);
}

int provision_parse_link(const char *text, size_t len, json_t **out,
			 char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);

	*out = NULL;
	if (!obj) {
		snprintf(err, errlen, "malformed JSON: %.200s (line %d, column %d)",
			 jerr.text, jerr.line, jerr.column);
		return 400;
	}
	*out = link_fields(obj, err, errlen);
	fields_free(obj);
	return *out ? 0 : 400;
}

/*
 * Check link @fields as the configuration parser checks a [link]
 * section, against the node's links and peers now: 0 and the link in
 * @out (cleanse its seed), or -1 with the reason.
 */
static int link_check(const struct provision *p, json_t *fields,
		      struct kma_link_cfg *out, char *err, size_t errlen)
{
	const char *keys[PROVISION_LINK_FIELDS], *vals[PROVISION_LINK_FIELDS];
	size_t n = 0, nl = kma_link_count(p->kma), np = 0;
	struct kma_link_cfg *links = calloc(nl + 1, sizeof(*links));
	struct peer_cfg *pc = NULL;
	struct peer_info pi;
	const char *key;
	json_t *v;
	int ret = -1;

	for (size_t i = 0; p->peers && !peers_info(p->peers, i, &pi); i++)
		np++;
	pc = calloc(np + 1, sizeof(*pc));
	if (!links || !pc) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nl; i++)
		kma_link_cfg(p->kma, i, &links[i]);
	for (size_t i = 0; i < np && !peers_info(p->peers, i, &pi); i++) {
		snprintf(pc[i].name, sizeof(pc[i].name), "%s", pi.name);
		snprintf(pc[i].address, sizeof(pc[i].address), "%s", pi.address);
		snprintf(pc[i].cert_cn, sizeof(pc[i].cert_cn), "%s", pi.cert_cn);
	}
	json_object_foreach(fields, key, v) {
		if (!strcmp(key, "name") || n == PROVISION_LINK_FIELDS)
			continue;
		keys[n] = key;
		vals[n++] = json_string_value(v);
	}
	ret = config_link_check(json_string_value(json_object_get(fields, "name")),
				keys, vals, n, p->cfg, links, nl, pc, np, out,
				err, errlen);
out:
	free(links);
	free(pc);
	return ret;
}

/* ---- the overlay and its file ---- */

static int load_links_removed(struct provision *p, json_t *removed,
			      char *err, size_t errlen);
static int load_links_added(struct provision *p, json_t *added, char *err,
			    size_t errlen);
static int save_links(const struct provision *p, json_t *root);

static const struct kma_link_cfg *config_link(const struct provision *p,
					      const char *name)
{
	for (size_t i = 0; i < p->cfg->n_links; i++)
		if (!strcmp(p->cfg->links[i].name, name))
			return &p->cfg->links[i];
	return NULL;
}

static ssize_t find_pool(const struct provision *p, const char *name)
{
	for (size_t i = 0; i < p->n_pools; i++)
		if (!strcmp(p->pools[i].name, name))
			return (ssize_t)i;
	return -1;
}

static const struct link_added *link_added(const struct provision *p,
					   const char *name)
{
	ssize_t i = ov_find_added(&p->link_ov, name);

	return i < 0 ? NULL : ov_item(&p->link_ov, (size_t)i);
}

/* A threshold of a link added at run time, as its request set it. */
static uint64_t added_u64(const struct link_added *la, const char *key)
{
	const char *v = json_string_value(json_object_get(la->fields, key));

	return v ? strtoull(v, NULL, 10) : 0;	/* checked when added */
}

/*
 * Link @name's thresholds as set: at run time, else by the request that
 * added it or by its [link].
 */
static struct link_pool pool_set(const struct provision *p, const char *name)
{
	ssize_t i = find_pool(p, name);
	const struct link_added *la = link_added(p, name);
	const struct kma_link_cfg *l = la ? NULL : config_link(p, name);
	struct link_pool lp = { .pool_warn = l ? l->pool_warn : 0,
				.pool_ready = l ? l->pool_ready : 0 };

	if (la) {
		lp.pool_warn = added_u64(la, "pool_warn");
		lp.pool_ready = added_u64(la, "pool_ready");
	}

	if (i >= 0)
		lp = p->pools[i];
	snprintf(lp.name, sizeof(lp.name), "%s", name);
	return lp;
}

/* Record @lp in the overlay, replacing the link's entry; -1: no memory. */
static int put_pool(struct provision *p, const struct link_pool *lp)
{
	ssize_t i = find_pool(p, lp->name);
	struct link_pool *a;

	if (i >= 0) {
		p->pools[i] = *lp;
		return 0;
	}
	a = realloc(p->pools, (p->n_pools + 1) * sizeof(*a));
	if (!a)
		return -1;
	p->pools = a;
	p->pools[p->n_pools++] = *lp;
	return 0;
}

static void drop_pool(struct provision *p, const char *name)
{
	ssize_t i = find_pool(p, name);

	if (i < 0)
		return;
	memmove(&p->pools[i], &p->pools[i + 1],
		(p->n_pools - (size_t)i - 1) * sizeof(*p->pools));
	p->n_pools--;
}

static bool peer_in_config(const struct provision *p, const char *name)
{
	for (size_t i = 0; i < p->cfg->n_peers; i++)
		if (!strcmp(p->cfg->peers[i].name, name))
			return true;
	return false;
}

static bool same_as_config(const struct provision *p, const struct peer_cfg *c)
{
	for (size_t i = 0; i < p->cfg->n_peers; i++)
		if (!memcmp(&p->cfg->peers[i], c, sizeof(*c)))
			return true;
	return false;
}

static json_t *peer_json(const struct peer_cfg *c)
{
	return json_pack("{s:s,s:s,s:s}", "name", c->name, "address",
			 c->address, "cert_cn", c->cert_cn);
}

/*
 * What still needs peer @name, in words, or NULL: a link to it (one per
 * peer, and its key source talks over the channel), a consumer keyed
 * over that link, the routing controller.  Such a peer is not removed.
 */
static const char *peer_user(const struct provision *p, const char *name,
			     char *buf, size_t len)
{
	const struct qkd_config *c = p->cfg;
	struct kma_link_info li;

	for (size_t i = 0; !kma_link_info(p->kma, i, &li); i++)
		if (!strcmp(li.peer, name)) {
			snprintf(buf, len, "link %s uses peer %s; remove the link first",
				 li.name, name);
			return buf;
		}
	for (size_t i = 0; i < c->n_macsec; i++)
		if (!strcmp(c->macsec[i].peer, name))
			goto consumer;
	for (size_t i = 0; i < c->n_wireguard; i++)
		if (!strcmp(c->wireguard[i].peer, name))
			goto consumer;
	for (size_t i = 0; i < c->n_strongswan; i++)
		if (!strcmp(c->strongswan[i].peer, name))
			goto consumer;
	for (size_t i = 0; i < c->ipsec.n_gws; i++)
		if (!strcmp(c->ipsec.gws[i].peer, name))
			goto consumer;
	if (!strcmp(c->controller, name)) {
		snprintf(buf, len, "peer %s is the routing controller ([node] controller)",
			 name);
		return buf;
	}
	return NULL;
consumer:
	snprintf(buf, len, "a [macsec], [wireguard], [strongswan] or [ipsec] section of the configuration uses peer %s",
		 name);
	return buf;
}

static json_t *pool_json(const struct link_pool *lp)
{
	return json_pack("{s:I,s:I}", "pool_warn", (json_int_t)lp->pool_warn,
			 "pool_ready", (json_int_t)lp->pool_ready);
}


static bool in_config(const struct provision *p, const char *name)
{
	for (size_t i = 0; i < p->cfg->n_saes; i++)
		if (!strcmp(p->cfg->saes[i].name, name))
			return true;
	return false;
}

static json_t *sae_json(const struct ksa_sae_cfg *s)
{
	return json_pack("{s:s,s:s,s:s}", "id", s->name, "cert_cn", s->cert_cn,
			 "node", s->node);
}

/* Write the overlay: a temporary file, fsync, rename, fsync the folder. */
static int save(struct provision *p, char *err, size_t errlen)
{
	char tmp[sizeof(p->path) + 8];
	json_t *root = json_pack("{s:i,s:[],s:[]}", "version", 1,
				 "saes_added", "saes_removed");
	char *text = NULL;
	int fd = -1, dfd, ret = -1;
	size_t len;

	for (size_t i = 0; root && i < p->sae_ov.n_added; i++)
		json_array_append_new(json_object_get(root, "saes_added"),
				      sae_json(ov_item(&p->sae_ov, i)));
	for (size_t i = 0; root && i < p->sae_ov.n_removed; i++)
		json_array_append_new(json_object_get(root, "saes_removed"),
				      json_string(p->sae_ov.removed[i]));
	if (root && (p->peer_ov.n_added || p->peer_ov.n_removed)) {
		json_t *a = json_array(), *r = json_array();

		for (size_t i = 0; a && i < p->peer_ov.n_added; i++)
			json_array_append_new(a, peer_json(ov_item(&p->peer_ov, i)));
		for (size_t i = 0; r && i < p->peer_ov.n_removed; i++)
			json_array_append_new(r, json_string(p->peer_ov.removed[i]));
		json_object_set_new(root, "peers_added", a);
		json_object_set_new(root, "peers_removed", r);
	}
	if (root && p->n_pools) {
		json_t *links = json_object();

		for (size_t i = 0; links && i < p->n_pools; i++)
			json_object_set_new(links, p->pools[i].name,
					    pool_json(&p->pools[i]));
		json_object_set_new(root, "links_changed", links);
	}
	if (root && save_links(p, root)) {
		json_decref(root);
		root = NULL;
	}
	text = root ? json_dumps(root, JSON_INDENT(1)) : NULL;
	json_decref(root);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	len = strlen(text);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1 || fsync(fd) || close(fd)) {
		snprintf(err, errlen, "%.200s: %s", tmp, strerror(errno ? errno : EIO));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, p->path)) {
		snprintf(err, errlen, "rename to %.200s: %s", p->path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	ret = 0;
out:
	if (text)	/* a sim link's seed */
		OPENSSL_cleanse(text, strlen(text));
	free(text);
	return ret;
}

/* "links_changed": {"LINK": {"pool_warn": N, "pool_ready": N}}, checked
 * as a request is: a bad entry stops the start, naming the file. */
static int load_pools(struct provision *p, json_t *links, char *err,
		      size_t errlen)
{
	const char *name, *why;
	json_t *v;

	if (!links)
		return 0;
	if (!json_is_object(links)) {
		snprintf(err, errlen, "%s: links_changed must be an object",
			 p->path);
		return -1;
	}
	json_object_foreach(links, name, v) {
		struct provision_pool pp;
		struct link_pool lp = { 0 };
		char e[256];

		why = pool_from_json(v, &pp, e, sizeof(e)) ? e :
		      config_check_pool(pp.pool_warn, pp.pool_ready);
		if (why) {
			snprintf(err, errlen, "%s: links_changed.%.64s: %s",
				 p->path, name, why);
			return -1;
		}
		if (kma_link_set_pool(p->kma, name, pp.pool_warn, pp.pool_ready)) {
			log_warn("provision: %s: link %s, changed at run time, is no longer there; dropped",
				 p->path, name);
			continue;
		}
		snprintf(lp.name, sizeof(lp.name), "%s", name);
		lp.pool_warn = pp.pool_warn;
		lp.pool_ready = pp.pool_ready;
		if (put_pool(p, &lp)) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* "peers_removed", then "peers_added": as the SAEs are. */
static int load_peers(struct provision *p, json_t *added, json_t *removed,
		      char *err, size_t errlen)
{
	char why[300];
	size_t i;
	json_t *v;

	if (!added && !removed)
		return 0;
	if (!json_is_array(added) || !json_is_array(removed)) {
		snprintf(err, errlen, "%s: peers_added and peers_removed must be arrays",
			 p->path);
		return -1;
	}
	if (!p->peers) {
		log_warn("provision: %s: peers changed at run time, but this node has no [peer] sections now; not applied",
			 p->path);
		return 0;
	}
	json_array_foreach(removed, i, v) {
		const char *name = json_string_value(v);

		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s: peers_removed[%zu]: not a string",
				 p->path, i);
			return -1;
		}
		if (!peer_in_config(p, name)) {
			log_warn("provision: %s: peer %s, removed at run time, is no longer in the configuration; dropped",
				 p->path, name);
			continue;
		}
		if (peer_user(p, name, why, sizeof(why)) ||
		    peers_remove(p->peers, name, why, sizeof(why)) < 0) {
			log_warn("provision: %s: peer %s not removed again: %s",
				 p->path, name, why);
			continue;
		}
		if (ov_push_removed(&p->peer_ov, name))
			goto nomem;
	}
	json_array_foreach(added, i, v) {
		struct peer_cfg c;

		if (peer_from_json(v, &c, why, sizeof(why))) {
			snprintf(err, errlen, "%s: peers_added[%zu]: %s", p->path,
				 i, why);
			return -1;
		}
		if (peers_add(p->peers, &c, why, sizeof(why)) < 0) {
			log_warn("provision: %s: peer %s not added again: %s",
				 p->path, c.name, why);
			continue;
		}
		if (ov_push_added(&p->peer_ov, &c))
			goto nomem;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int load(struct provision *p, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *added, *removed, *v;
	size_t i;
	int ret = -1;

	root = json_load_file(p->path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (access(p->path, F_OK) && errno == ENOENT)
			return 0;	/* nothing provisioned yet */
		snprintf(err, errlen, "%s:%d: %s", p->path, jerr.line, jerr.text);
		return -1;
	}
	added = json_object_get(root, "saes_added");
	removed = json_object_get(root, "saes_removed");
	if (!json_is_array(added) || !json_is_array(removed)) {
		snprintf(err, errlen, "%s: saes_added and saes_removed must be arrays",
			 p->path);
		goto out;
	}
	json_array_foreach(removed, i, v) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s: saes_removed[%zu]: not a string",
				 p->path, i);
			goto out;
		}
		if (!in_config(p, json_string_value(v))) {
			log_warn("provision: %s: SAE %s, removed at run time, is no longer in the configuration; dropped",
				 p->path, json_string_value(v));
			continue;
		}
		if (ksa_sae_remove(p->ksa, json_string_value(v), err, errlen) < 0 ||
		    ov_push_removed(&p->sae_ov, json_string_value(v)))
			goto out;
	}
	json_array_foreach(added, i, v) {
		struct ksa_sae_cfg s;
		char why[256];

		if (sae_from_json(v, &s, why, sizeof(why))) {
			snprintf(err, errlen, "%s: saes_added[%zu]: %s", p->path,
				 i, why);
			goto out;
		}
		if (ksa_sae_add(p->ksa, &s, why, sizeof(why)) < 0) {
			log_warn("provision: %s: SAE %s not added again: %s",
				 p->path, s.name, why);
			continue;
		}
		if (ov_push_added(&p->sae_ov, &s))
			goto out;
	}
	/* Links before the peers they need go, after those they need come. */
	if (load_links_removed(p, json_object_get(root, "links_removed"),
			       err, errlen) ||
	    load_peers(p, json_object_get(root, "peers_added"),
		       json_object_get(root, "peers_removed"), err, errlen) ||
	    load_links_added(p, json_object_get(root, "links_added"), err,
			     errlen) ||
	    load_pools(p, json_object_get(root, "links_changed"), err, errlen))
		goto out;
	ret = 0;
	if (p->sae_ov.n_added || p->sae_ov.n_removed)
		log_notice("provision: %s: %zu SAE(s) added, %zu removed at run time",
			   p->path, p->sae_ov.n_added, p->sae_ov.n_removed);
	if (p->peer_ov.n_added || p->peer_ov.n_removed)
		log_notice("provision: %s: %zu peer(s) added, %zu removed at run time",
			   p->path, p->peer_ov.n_added, p->peer_ov.n_removed);
	if (p->n_pools)
		log_notice("provision: %s: pool thresholds of %zu link(s) set at run time",
			   p->path, p->n_pools);
out:
	json_decref(root);
	return ret;
}

struct provision *provision_open(struct ksa *ksa, struct kma *kma,
				 struct peers *peers,
				 const struct qkd_config *cfg,
				 char *err, size_t errlen)
{
	struct provision *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, errlen, "provision: out of memory");
		return NULL;
	}
	p->ksa = ksa;
	p->kma = kma;
	p->peers = peers;
	p->cfg = cfg;
	snprintf(p->dir, sizeof(p->dir), "%s", cfg->node.state_dir);
	snprintf(p->path, sizeof(p->path), "%s/%s", p->dir, PROVISION_FILE);
	p->audit_fd = -1;	/* opened at the first change */
	p->sae_ov.size = sizeof(struct ksa_sae_cfg);
	p->peer_ov.size = sizeof(struct peer_cfg);
	p->link_ov.size = sizeof(struct link_added);
	if (load(p, err, errlen)) {
		provision_close(p);
		return NULL;
	}
	return p;
}

void provision_close(struct provision *p)
{
	if (!p)
		return;
	if (p->audit_fd >= 0)
		close(p->audit_fd);
	ov_free(&p->sae_ov);
	free(p->pools);
	ov_free(&p->peer_ov);
	for (size_t i = 0; i < p->link_ov.n_added; i++)
		fields_free(((struct link_added *)ov_item(&p->link_ov, i))->fields);
	ov_free(&p->link_ov);
	free(p);
}

/* ---- audit ---- */

/*
 * One JSON line per change asked for, done or refused, written and
 * fsync'd before the answer goes out: who (certificate CN and serial),
 * when, what, and how it ended.  It names SAEs, never keys.
 */
static void audit(struct provision *p, const struct mgmt_req *r,
		  json_t *change, int status, const char *reason)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	json_t *rec;
	char *text;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:i,s:s}",
			"time", when, "cn", r->cn, "serial", r->serial,
			"method", http_method_str(r->http->method),
			"resource", r->http->path,
			"change", change ? change : json_null(),
			"outcome", status < 300 ? "done" : "refused",
			"status", status, "reason", reason ? reason : "");
	text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	json_decref(rec);
	if (p->audit_fd < 0) {
		char path[sizeof(p->path)];

		snprintf(path, sizeof(path), "%s/%s", p->dir, PROVISION_AUDIT);
		p->audit_fd = open(path, O_WRONLY | O_APPEND | O_CREAT |
				   O_CLOEXEC, 0600);
	}
	if (!text || p->audit_fd < 0 ||
	    dprintf(p->audit_fd, "%s\n", text) < 0 || fsync(p->audit_fd))
		log_err("provision: audit log %s/%s: %s", p->dir,
			PROVISION_AUDIT, text ? strerror(errno) : "out of memory");
	free(text);
}

static void refuse(struct mgmt_req *r, json_t *change, int status,
		   const char *reason)
{
	audit(r->prov, r, change, status, reason);
	mgmt_error(r, status, "%s", reason);
}

/* ---- handlers ---- */

static bool available(struct mgmt_req *r)
{
	if (r->prov)
		return true;
	mgmt_error(r, 503, "runtime provisioning is not running on this node");
	return false;
}

static json_t *sae_view(const struct provision *p, const struct ksa_sae_cfg *s)
{
	json_t *o = sae_json(s);

	json_object_set_new(o, "local",
			    json_boolean(!strcmp(s->node, p->cfg->node.name)));
	json_object_set_new(o, "provisioned",
			    json_boolean(ov_find_added(&p->sae_ov, s->name) >= 0));
	return o;
}

void provision_sae_list(struct mgmt_req *r)
{
	struct ksa_sae_cfg s;
	json_t *arr;

	if (!available(r))
		return;
	arr = json_array();
	for (size_t i = 0; arr && !ksa_sae_get(r->prov->ksa, i, &s); i++)
		json_array_append_new(arr, sae_view(r->prov, &s));
	mgmt_reply_json(r, 200, json_pack("{s:o}", "saes", arr));
}

void provision_sae_get(struct mgmt_req *r)
{
	struct ksa_sae_cfg s;

	if (!available(r))
		return;
	for (size_t i = 0; !ksa_sae_get(r->prov->ksa, i, &s); i++) {
		if (!strcmp(s.name, r->arg)) {
			mgmt_reply_json(r, 200, sae_view(r->prov, &s));
			return;
		}
	}
	mgmt_error(r, 404, "no SAE %s", r->arg);
}

static int errno_status(int e)
{
	switch (e) {
	case -EINVAL: return 400;
	case -EEXIST: return 409;
	case -ENOENT: return 404;
	case -ENOSPC: return 507;
	default: return 503;
	}
}

void provision_sae_add(struct mgmt_req *r)
{
	struct provision *p = r->prov;
	const char *type = http_header(r->http, "Content-Type");
	struct ksa_sae_cfg s;
	char why[300];
	json_t *change;
	int st;

	if (!available(r))
		return;
	change = json_pack("{s:s}", "op", "add sae");
	if (type && strncmp(type, "application/json", 16)) {
		refuse(r, change, 415, "Content-Type must be application/json");
		return;
	}
	st = provision_parse_sae((const char *)r->http->body, r->http->body_len,
				 &s, why, sizeof(why));
	if (st) {
		refuse(r, change, st, why);
		return;
	}
	json_object_set_new(change, "sae", sae_json(&s));
	if (p->cfg->role == NODE_ROLE_RELAY && !strcmp(s.node, p->cfg->node.name)) {
		refuse(r, change, 409, "this node has role relay and serves no SAE");
		return;
	}
	st = ksa_sae_add(p->ksa, &s, why, sizeof(why));
	if (st < 0) {
		refuse(r, change, errno_status(st), why);
		return;
	}
	if (ov_push_added(&p->sae_ov, &s) || save(p, why, sizeof(why))) {
		char e[64];

		if (ov_find_added(&p->sae_ov, s.name) >= 0)
			p->sae_ov.n_added--;
		ksa_sae_remove(p->ksa, s.name, e, sizeof(e));
		log_err("provision: SAE %s not added: %s", s.name, why);
		refuse(r, change, 500, "could not write the change back; nothing changed");
		return;
	}
	log_notice("provision: SAE %s (cert_cn %s, node %s) added by CN \"%s\" serial %s",
		   s.name, s.cert_cn, s.node, r->cn, r->serial);
	audit(p, r, json_incref(change), 201, NULL);
	mgmt_reply_json(r, 201, sae_view(p, &s));
	json_decref(change);
}

void provision_sae_remove(struct mgmt_req *r)
{
	struct provision *p = r->prov;
	struct ksa_sae_cfg s = { 0 };
	char why[300];
	ssize_t a;
	bool pushed = false;
	json_t *change;
	int st;

	if (!available(r))
		return;
	change = json_pack("{s:s,s:s}", "op", "remove sae", "id", r->arg);
	if (!strcmp(r->arg, p->cfg->skip.sae) && p->cfg->skip.listen[0]) {
		refuse(r, change, 409, "the SAE is [skip] sae; change the configuration instead");
		return;
	}
	for (size_t i = 0; !ksa_sae_get(p->ksa, i, &s); i++)
		if (!strcmp(s.name, r->arg))
			break;
	st = ksa_sae_remove(p->ksa, r->arg, why, sizeof(why));
	if (st < 0) {
		refuse(r, change, errno_status(st), why);
		return;
	}
	a = ov_find_added(&p->sae_ov, r->arg);
	if (a >= 0) {
		ov_drop_added(&p->sae_ov, (size_t)a, NULL);
	} else if (ov_find_removed(&p->sae_ov, r->arg) < 0) {
		if (ov_push_removed(&p->sae_ov, r->arg)) {
			snprintf(why, sizeof(why), "out of memory");
			goto undo;
		}
		pushed = true;
	}
	if (save(p, why, sizeof(why)))
		goto undo;
	log_notice("provision: SAE %s removed by CN \"%s\" serial %s", r->arg,
		   r->cn, r->serial);
	audit(p, r, change, 200, NULL);
	mgmt_reply_json(r, 200, json_pack("{s:s,s:b}", "id", r->arg,
					  "removed", 1));
	return;
undo:
	if (pushed)
		p->sae_ov.n_removed--;
	if (a >= 0)
		ov_push_added(&p->sae_ov, &s);
	ksa_sae_add(p->ksa, &s, why, sizeof(why));
	log_err("provision: SAE %s not removed: could not write the change back",
		r->arg);
	refuse(r, change, 500, "could not write the change back; nothing changed");
}

/* ---- links: pool thresholds ---- */

/* The link as "qkdctl link show" has it, with its thresholds as set. */
static json_t *link_view(const struct provision *p, const struct lsa *lsa,
			 const struct kma_link_info *li)
{
	struct link_pool lp = pool_set(p, li->name);
	json_t *o = view_link_json(li, lsa && lsa_admin_down(lsa, li->peer),
				   false);

	if (!o)
		return NULL;
	json_object_set_new(o, "set", pool_json(&lp));
	json_object_set_new(o, "provisioned",
			    json_boolean(find_pool(p, li->name) >= 0 ||
					 link_added(p, li->name)));
	return o;
}

static int link_info(const struct provision *p, const char *name,
		     struct kma_link_info *li)
{
	for (size_t i = 0; !kma_link_info(p->kma, i, li); i++)
		if (!strcmp(li->name, name))
			return 0;
	return -1;
}

void provision_link_list(struct mgmt_req *r)
{
	struct kma_link_info li;
	json_t *arr;

	if (!available(r))
		return;
	arr = json_array();
	for (size_t i = 0; arr && !kma_link_info(r->prov->kma, i, &li); i++)
		json_array_append_new(arr, link_view(r->prov, r->src->lsa, &li));
	mgmt_reply_json(r, 200, json_pack("{s:o}", "links", arr));
}

void provision_link_get(struct mgmt_req *r)
{
	struct kma_link_info li;

	if (!available(r))
		return;
	if (link_info(r->prov, r->arg, &li)) {
		mgmt_error(r, 404, "no link %s", r->arg);
		return;
	}
	mgmt_reply_json(r, 200, link_view(r->prov, r->src->lsa, &li));
}

/*
 * PATCH /api/v1/links/NAME {"pool_warn", "pool_ready"}: what is not
 * given keeps its value as set; the pair is checked as the configuration
 * parser checks a [link]'s, then in force at once (kma_link_set_pool()).
 */
void provision_link_patch(struct mgmt_req *r)
{
	struct provision *p = r->prov;
	const char *type = http_header(r->http, "Content-Type");
	struct provision_pool pp;
	struct link_pool was, now, old;
	struct kma_link_info li;
	ssize_t had;
	const char *bad;
	char why[300];
	json_t *change;
	int st;

	if (!available(r))
		return;
	change = json_pack("{s:s,s:s}", "op", "set link pool", "link", r->arg);
	if (link_info(p, r->arg, &li)) {
		snprintf(why, sizeof(why), "no link %.64s", r->arg);
		refuse(r, change, 404, why);
		return;
	}
	if (type && strncmp(type, "application/json", 16)) {
		refuse(r, change, 415, "Content-Type must be application/json");
		return;
	}
	st = provision_parse_pool((const char *)r->http->body,
				  r->http->body_len, &pp, why, sizeof(why));
	if (st) {
		refuse(r, change, st, why);
		return;
	}
	was = now = pool_set(p, r->arg);
	if (pp.has_warn)
		now.pool_warn = pp.pool_warn;
	if (pp.has_ready)
		now.pool_ready = pp.pool_ready;
	json_object_set_new(change, "was", pool_json(&was));
	json_object_set_new(change, "set", pool_json(&now));
	bad = config_check_pool(now.pool_warn, now.pool_ready);
	if (bad) {
		snprintf(why, sizeof(why), "%s (pool_warn %" PRIu64 ", pool_ready %" PRIu64 ")",
			 bad, now.pool_warn, now.pool_ready);
		refuse(r, change, 400, why);
		return;
	}
	had = find_pool(p, r->arg);
	if (had >= 0)
		old = p->pools[had];
	if (put_pool(p, &now) || save(p, why, sizeof(why))) {
		/* back to the overlay as it was; the file is untouched */
		if (had >= 0)
			p->pools[had] = old;
		else
			drop_pool(p, r->arg);
		log_err("provision: link %s pool thresholds not set: %s",
			r->arg, why);
		refuse(r, change, 500, "could not write the change back; nothing changed");
		return;
	}
	kma_link_set_pool(p->kma, r->arg, now.pool_warn, now.pool_ready);
	link_info(p, r->arg, &li);
	log_notice("provision: link %s pool_warn %" PRIu64 " pool_ready %" PRIu64 " (in force %" PRIu64 ", %" PRIu64 ") set by CN \"%s\" serial %s",
		   r->arg, now.pool_warn, now.pool_ready, li.pool_warn,
		   li.pool_ready, r->cn, r->serial);
	audit(p, r, change, 200, NULL);
	mgmt_reply_json(r, 200, link_view(p, r->src->lsa, &li));
}

/* ---- links: added and removed ---- */

/* The link's request as the audit log and the answers show it: no seed. */
static json_t *public_fields(json_t *fields)
{
	json_t *o = json_deep_copy(fields);
	json_t *seed = o ? json_object_get(o, "seed") : NULL;

	if (seed) {
		OPENSSL_cleanse((char *)json_string_value(seed),
				json_string_length(seed));
		json_object_del(o, "seed");
	}
	return o;
}

/*
 * What of the configuration keys from link @name, in words, or NULL:
 * a consumer ([macsec], [wireguard], [strongswan], [ipsec NAME]) takes
 * its keys from it, and cannot be changed at run time.
 */
static const char *link_user(const struct provision *p, const char *name,
			     char *buf, size_t len)
{
	const struct qkd_config *c = p->cfg;
	const char *kind = NULL, *who = NULL;

	for (size_t i = 0; !kind && i < c->n_macsec; i++)
		if (!strcmp(c->macsec[i].link, name))
			kind = "macsec", who = c->macsec[i].name;
	for (size_t i = 0; !kind && i < c->n_wireguard; i++)
		if (!strcmp(c->wireguard[i].link, name))
			kind = "wireguard", who = c->wireguard[i].name;
	for (size_t i = 0; !kind && i < c->n_strongswan; i++)
		if (!strcmp(c->strongswan[i].link, name))
			kind = "strongswan", who = c->strongswan[i].name;
	for (size_t i = 0; !kind && i < c->ipsec.n_gws; i++)
		if (!strcmp(c->ipsec.gws[i].link, name))
			kind = "ipsec", who = c->ipsec.gws[i].name;
	if (!kind)
		return NULL;
	snprintf(buf, len, "[%s %s] of the configuration takes its keys from link %s; change the configuration first",
		 kind, who, name);
	return buf;
}

/* Add link @fields to the store and the KSA: 0, or an HTTP status. */
static int link_apply(struct provision *p, json_t *fields, char *why,
		      size_t whylen)
{
	struct kma_link_cfg cfg;
	int st;

	if (link_check(p, fields, &cfg, why, whylen))
		return 400;
	if (cfg.source == KM_SOURCE_KERNEL || cfg.kernel_push) {
		OPENSSL_cleanse(&cfg, sizeof(cfg));
		snprintf(why, whylen, "a link with source = kernel or kernel_push = yes is not added at run time (the daemon keeps CAP_NET_ADMIN only if such a link is configured at start): add it to the configuration and restart");
		return 501;
	}
	st = kma_link_add(p->kma, &cfg, why, whylen);
	OPENSSL_cleanse(&cfg, sizeof(cfg));
	if (st)
		return st == -EEXIST ? 409 : 503;
	ksa_links_changed(p->ksa);
	return 0;
}

/* "links_removed": configured links, removed first (their peers may go). */
static int load_links_removed(struct provision *p, json_t *removed,
			      char *err, size_t errlen)
{
	char why[300];
	size_t i;
	json_t *v;

	if (!removed)
		return 0;
	if (!json_is_array(removed)) {
		snprintf(err, errlen, "%s: links_removed must be an array", p->path);
		return -1;
	}
	json_array_foreach(removed, i, v) {
		const char *name = json_string_value(v);

		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s: links_removed[%zu]: not a string",
				 p->path, i);
			return -1;
		}
		if (!config_link(p, name) || link_user(p, name, why, sizeof(why))) {
			log_warn("provision: %s: link %s, removed at run time, is no longer in the configuration, or is in use; dropped",
				 p->path, name);
			continue;
		}
		if (ksa_link_remove(p->ksa, name) ||
		    ov_push_removed(&p->link_ov, name)) {
			snprintf(err, errlen, "%s: link %s: not removed again",
				 p->path, name);
			return -1;
		}
	}
	return 0;
}

/* "links_added", after the peers they need. */
static int load_links_added(struct provision *p, json_t *added, char *err,
			    size_t errlen)
{
	char why[300];
	size_t i;
	json_t *v;

	if (!added)
		return 0;
	if (!json_is_array(added)) {
		snprintf(err, errlen, "%s: links_added must be an array", p->path);
		return -1;
	}
	json_array_foreach(added, i, v) {
		struct link_added la = { 0 };

		la.fields = link_fields(v, why, sizeof(why));
		seed_cleanse(v);	/* the file's copy, read into memory */
		if (!la.fields) {
			snprintf(err, errlen, "%s: links_added[%zu]: %s", p->path,
				 i, why);
			return -1;
		}
		snprintf(la.name, sizeof(la.name), "%s",
			 json_string_value(json_object_get(la.fields, "name")));
		if (link_apply(p, la.fields, why, sizeof(why))) {
			log_warn("provision: %s: link %s not added again: %s",
				 p->path, la.name, why);
			fields_free(la.fields);
			continue;
		}
		if (ov_push_added(&p->link_ov, &la)) {
			fields_free(la.fields);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (p->link_ov.n_added || p->link_ov.n_removed)
		log_notice("provision: %s: %zu link(s) added, %zu removed at run time",
			   p->path, p->link_ov.n_added, p->link_ov.n_removed);
	return 0;
}

/* "links_added" and "links_removed" into @root, if any. */
static int save_links(const struct provision *p, json_t *root)
{
	json_t *a, *r;

	if (!p->link_ov.n_added && !p->link_ov.n_removed)
		return 0;
	a = json_array();
	r = json_array();
	for (size_t i = 0; a && i < p->link_ov.n_added; i++) {
		const struct link_added *la = ov_item(&p->link_ov, i);

		json_array_append(a, la->fields);
	}
	for (size_t i = 0; r && i < p->link_ov.n_removed; i++)
		json_array_append_new(r, json_string(p->link_ov.removed[i]));
	if (!a || !r || json_object_set_new(root, "links_added", a) ||
	    json_object_set_new(root, "links_removed", r))
		return -1;
	return 0;
}

/*
 * POST /api/v1/links: the body is a [link] section as JSON; checked as
 * the configuration parser checks one, against the links and peers the
 * node has now, then opened, served and written back.
 */
void provision_link_add(struct mgmt_req *r)
{
	struct provision *p = r->prov;
	const char *type = http_header(r->http, "Content-Type");
	struct link_added la = { 0 };
	struct kma_link_info li;
	const char *peer;
	char why[400];
	json_t *change;
	int st;

	if (!available(r))
		return;
	change = json_pack("{s:s}", "op", "add link");
	if (type && strncmp(type, "application/json", 16)) {
		refuse(r, change, 415, "Content-Type must be application/json");
		return;
	}
	st = provision_parse_link((const char *)r->http->body,
				  r->http->body_len, &la.fields, why,
				  sizeof(why));
	if (st) {
		refuse(r, change, st, why);
		return;
	}
	json_object_set_new(change, "link", public_fields(la.fields));
	snprintf(la.name, sizeof(la.name), "%s",
		 json_string_value(json_object_get(la.fields, "name")));
	peer = json_string_value(json_object_get(la.fields, "peer"));
	if (!link_info(p, la.name, &li)) {
		snprintf(why, sizeof(why), "link %s exists", la.name);
		st = 409;
	} else if (peer && kma_link_by_peer(p->kma, peer)) {
		snprintf(why, sizeof(why), "peer %.64s already has link %s (one link per peer pair)",
			 peer, kma_link_name(kma_link_by_peer(p->kma, peer)));
		st = 409;
	} else {
		st = link_apply(p, la.fields, why, sizeof(why));
	}
	if (st) {
		fields_free(la.fields);
		refuse(r, change, st, why);
		return;
	}
	if (ov_push_added(&p->link_ov, &la) || save(p, why, sizeof(why))) {
		if (ov_find_added(&p->link_ov, la.name) >= 0)
			p->link_ov.n_added--;
		ksa_link_remove(p->ksa, la.name);
		fields_free(la.fields);
		log_err("provision: link %s not added: %s", la.name, why);
		refuse(r, change, 500, "could not write the change back; nothing changed");
		return;
	}
	link_info(p, la.name, &li);
	log_notice("provision: link %s (peer %s, source %s) added by CN \"%s\" serial %s",
		   la.name, li.peer,
		   json_string_value(json_object_get(la.fields, "source")),
		   r->cn, r->serial);
	audit(p, r, json_incref(change), 201, NULL);
	mgmt_reply_json(r, 201, link_view(p, r->src->lsa, &li));
	json_decref(change);
}

/*
 * DELETE /api/v1/links/NAME: written back first, then the link goes with
 * its keys (zeroised) and its source; a configured link cannot come back
 * without its seed, so nothing is undone after the file is written.
 */
void provision_link_remove(struct mgmt_req *r)
{
	struct provision *p = r->prov;
	struct link_added la = { 0 };
	struct link_pool old_pool;
	struct kma_link_info li;
	ssize_t a, had;
	char why[400];
	const char *busy;
	json_t *change;

	if (!available(r))
		return;
	change = json_pack("{s:s,s:s}", "op", "remove link", "name", r->arg);
	if (link_info(p, r->arg, &li)) {
		snprintf(why, sizeof(why), "no link %.64s", r->arg);
		refuse(r, change, 404, why);
		return;
	}
	busy = link_user(p, r->arg, why, sizeof(why));
	if (busy) {
		refuse(r, change, 409, busy);
		return;
	}
	a = ov_find_added(&p->link_ov, r->arg);
	if (a >= 0)
		ov_drop_added(&p->link_ov, (size_t)a, &la);
	else if (ov_push_removed(&p->link_ov, r->arg)) {
		refuse(r, change, 500, "out of memory; nothing changed");
		return;
	}
	had = find_pool(p, r->arg);
	if (had >= 0) {
		old_pool = p->pools[had];
		drop_pool(p, r->arg);
	}
	if (save(p, why, sizeof(why))) {
		if (had >= 0)
			put_pool(p, &old_pool);
		if (a >= 0)
			ov_push_added(&p->link_ov, &la);
		else
			p->link_ov.n_removed--;
		log_err("provision: link %s not removed: %s", r->arg, why);
		refuse(r, change, 500, "could not write the change back; nothing changed");
		return;
	}
	ksa_link_remove(p->ksa, r->arg);
	if (a >= 0)
		fields_free(la.fields);
	log_notice("provision: link %s (peer %s) removed by CN \"%s\" serial %s; %u key record(s) with it",
		   r->arg, li.peer, r->cn, r->serial, li.keys_held);
	audit(p, r, change, 200, NULL);
	mgmt_reply_json(r, 200, json_pack("{s:s,s:b}", "name", r->arg,
					  "removed", 1));
}

/* ---- peers ---- */

static bool has_kx(struct mgmt_req *r, json_t *change)
{
	if (r->prov->peers)
		return true;
	refuse(r, change, 409, "this node started without [peer] sections: its Kx channel is not running");
	return false;
}

/* GET /api/v1/peers: as "qkdctl peer show" has them. */
void provision_peer_list(struct mgmt_req *r)
{
	if (!available(r))
		return;
	mgmt_reply_json(r, 200, json_pack("{s:o}", "peers",
					  view_peers(r->prov->peers)));
}

void provision_peer_add(struct mgmt_req *r)
{
	struct provision *p = r->prov;
	const char *type = http_header(r->http, "Content-Type");
	struct peer_cfg c;
	char why[300], e[64];
	ssize_t rm;
	json_t *change;
	int st;

	if (!available(r))
		return;
	change = json_pack("{s:s}", "op", "add peer");
	if (!has_kx(r, change))
		return;
	if (type && strncmp(type, "application/json", 16)) {
		refuse(r, change, 415, "Content-Type must be application/json");
		return;
	}
	st = provision_parse_peer((const char *)r->http->body,
				  r->http->body_len, &c, why, sizeof(why));
	if (st) {
		refuse(r, change, st, why);
		return;
	}
	json_object_set_new(change, "peer", peer_json(&c));
	st = peers_add(p->peers, &c, why, sizeof(why));
	if (st < 0) {
		refuse(r, change, errno_status(st), why);
		return;
	}
	/* A configured peer removed and added again as it was is back. */
	rm = ov_find_removed(&p->peer_ov, c.name);
	if (rm >= 0 && !same_as_config(p, &c))
		rm = -1;
	if (rm >= 0) {
		ov_drop_removed(&p->peer_ov, (size_t)rm);
	}
	if ((rm < 0 && ov_push_added(&p->peer_ov, &c)) || save(p, why, sizeof(why))) {
		if (rm >= 0)
			ov_push_removed(&p->peer_ov, c.name);
		else if (ov_find_added(&p->peer_ov, c.name) >= 0)
			p->peer_ov.n_added--;
		peers_remove(p->peers, c.name, e, sizeof(e));
		log_err("provision: peer %s not added: %s", c.name, why);
		refuse(r, change, 500, "could not write the change back; nothing changed");
		return;
	}
	log_notice("provision: peer %s (%s, cert_cn %s) added by CN \"%s\" serial %s",
		   c.name, c.address, c.cert_cn, r->cn, r->serial);
	audit(p, r, json_incref(change), 201, NULL);
	mgmt_reply_json(r, 201, json_incref(json_object_get(change, "peer")));
	json_decref(change);
}

void provision_peer_remove(struct mgmt_req *r)
{
	struct provision *p = r->prov;
	struct peer_cfg c = { 0 };
	struct peer_info pi;
	char why[300], e[64];
	const char *busy;
	ssize_t a;
	bool pushed = false;
	json_t *change;
	int st;

	if (!available(r))
		return;
	change = json_pack("{s:s,s:s}", "op", "remove peer", "name", r->arg);
	if (!has_kx(r, change))
		return;
	for (size_t i = 0; !peers_info(p->peers, i, &pi); i++)
		if (!strcmp(pi.name, r->arg)) {
			snprintf(c.name, sizeof(c.name), "%s", pi.name);
			snprintf(c.address, sizeof(c.address), "%s", pi.address);
			snprintf(c.cert_cn, sizeof(c.cert_cn), "%s", pi.cert_cn);
		}
	if (!c.name[0]) {
		snprintf(why, sizeof(why), "no peer %.64s", r->arg);
		refuse(r, change, 404, why);
		return;
	}
	busy = peer_user(p, r->arg, why, sizeof(why));
	if (busy) {
		refuse(r, change, 409, busy);
		return;
	}
	st = peers_remove(p->peers, r->arg, why, sizeof(why));
	if (st < 0) {
		refuse(r, change, st == -EBUSY ? 409 : errno_status(st), why);
		return;
	}
	a = ov_find_added(&p->peer_ov, r->arg);
	if (a >= 0) {
		ov_drop_added(&p->peer_ov, (size_t)a, NULL);
	} else {
		if (ov_push_removed(&p->peer_ov, r->arg)) {
			snprintf(why, sizeof(why), "out of memory");
			goto undo;
		}
		pushed = true;
	}
	if (save(p, why, sizeof(why)))
		goto undo;
	log_notice("provision: peer %s removed by CN \"%s\" serial %s", r->arg,
		   r->cn, r->serial);
	audit(p, r, change, 200, NULL);
	mgmt_reply_json(r, 200, json_pack("{s:s,s:b}", "name", r->arg,
					  "removed", 1));
	return;
undo:
	if (pushed)
		p->peer_ov.n_removed--;
	if (a >= 0)
		ov_push_added(&p->peer_ov, &c);
	peers_add(p->peers, &c, e, sizeof(e));
	log_err("provision: peer %s not removed: %s", r->arg, why);
	refuse(r, change, 500, "could not write the change back; nothing changed");
}

/* ---- key generation control (Y.3802 10.2) ---- */

int provision_parse_generation(const char *text, size_t len, bool *run,
			       char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *state = NULL;
	int ret = 400;

	if (!obj) {
		snprintf(err, errlen, "malformed JSON: %.200s (line %d, column %d)",
			 jerr.text, jerr.line, jerr.column);
		return 400;
	}
	if (json_unpack(obj, "{s:s}", "state", &state) ||
	    json_object_size(obj) != 1)
		snprintf(err, errlen, "the body is {\"state\": \"running\"} or {\"state\": \"stopped\"}");
	else if (strcmp(state, "running") && strcmp(state, "stopped"))
		snprintf(err, errlen, "state: \"running\" or \"stopped\"");
	else
		ret = 0;
	if (!ret)
		*run = !strcmp(state, "running");
	json_decref(obj);
	return ret;
}

/*
 * PUT /api/v1/links/NAME/generation: start or stop key generation at this
 * end of the link, audited like the SAE changes.  Not written back: a
 * restart starts every sim link again, and a card keeps the state it has
 * (Documentation/qkd/manager.rst).
 */
void provision_link_generation(struct mgmt_req *r)
{
	const char *type = http_header(r->http, "Content-Type");
	char why[300];
	struct kma_link_info li;
	json_t *change, *view;
	bool run = false;
	int st;

	if (!available(r))
		return;
	change = json_pack("{s:s,s:s}", "op", "link generation", "link", r->arg);
	if (type && strncmp(type, "application/json", 16)) {
		refuse(r, change, 415, "Content-Type must be application/json");
		return;
	}
	st = provision_parse_generation((const char *)r->http->body,
					r->http->body_len, &run, why,
					sizeof(why));
	if (st) {
		refuse(r, change, st, why);
		return;
	}
	json_object_set_new(change, "state", json_string(run ? "running" :
								"stopped"));
	st = kma_link_set_generation(r->prov->kma, r->arg, run, why,
				     sizeof(why));
	if (st) {
		refuse(r, change, st == -ENOENT ? 404 :
				  st == -EOPNOTSUPP ? 409 : 503, why);
		return;
	}
	log_notice("provision: link %s generation %s by CN \"%s\" serial %s",
		   r->arg, run ? "started" : "stopped", r->cn, r->serial);
	audit(r->prov, r, change, 200, NULL);
	view = link_info(r->prov, r->arg, &li) ? NULL :
	       link_view(r->prov, r->src->lsa, &li);
	if (!view) {
		mgmt_error(r, 503, "out of memory");
		return;
	}
	mgmt_reply_json(r, 200, view);
}
