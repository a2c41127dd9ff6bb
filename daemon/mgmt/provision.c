// SPDX-License-Identifier: GPL-2.0
/*
 * Runtime provisioning of SAEs (provision.h).  The node's SAE table is
 * the configuration's [sae] sections with an overlay on top: SAEs added,
 * and names of configured SAEs removed.  The overlay is what
 * provisioned.json holds, so the file never repeats the configuration and
 * an SAE removed and added again comes back as added.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "core/log.h"
#include "kma/kma.h"
#include "ksa/ksa.h"
#include "mgmt/ctl.h"
#include "mgmt/mgmt_http.h"
#include "mgmt/provision.h"
#include "mgmt/view.h"
#include "routing/lsa.h"

struct provision {
	struct ksa *ksa;
	const struct qkd_config *cfg;
	char dir[KM_PATH_MAX];
	char path[KM_PATH_MAX + 32];
	int audit_fd;
	struct ksa_sae_cfg *added;
	size_t n_added;
	char (*removed)[KSA_SAE_ID_MAX];
	size_t n_removed;
};

/* Same rule as the configuration's names: they go into URLs and files. */
static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n >= max)
		return false;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-", *s))
			return false;
	return true;
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

static int sae_from_json(json_t *obj, struct ksa_sae_cfg *out, char *err,
			 size_t errlen)
{
	static const char *const fields[] = { "id", "cert_cn", "node" };
	char *dst[] = { out->name, out->cert_cn, out->node };
	size_t max[] = { sizeof(out->name), sizeof(out->cert_cn),
			 sizeof(out->node) };
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "an SAE is a JSON object {\"id\", \"cert_cn\", \"node\"}");
		return 400;
	}
	json_object_foreach(obj, key, v) {
		size_t i;

		for (i = 0; i < 3; i++)
			if (!strcmp(key, fields[i]))
				break;
		if (i == 3) {
			snprintf(err, errlen, "unknown field \"%.64s\" (id, cert_cn, node)",
				 key);
			return 400;
		}
		if (!json_is_string(v) || json_string_length(v) >= max[i] ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			snprintf(err, errlen, "%s: a string of at most %zu characters",
				 fields[i], max[i] - 1);
			return 400;
		}
		memcpy(dst[i], json_string_value(v), json_string_length(v) + 1);
	}
	for (size_t i = 0; i < 3; i++) {
		if (!dst[i][0]) {
			snprintf(err, errlen, "missing field \"%s\"", fields[i]);
			return 400;
		}
	}
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

/* ---- the overlay and its file ---- */

static bool in_config(const struct provision *p, const char *name)
{
	for (size_t i = 0; i < p->cfg->n_saes; i++)
		if (!strcmp(p->cfg->saes[i].name, name))
			return true;
	return false;
}

static ssize_t find_added(const struct provision *p, const char *name)
{
	for (size_t i = 0; i < p->n_added; i++)
		if (!strcmp(p->added[i].name, name))
			return (ssize_t)i;
	return -1;
}

static bool is_removed(const struct provision *p, const char *name)
{
	for (size_t i = 0; i < p->n_removed; i++)
		if (!strcmp(p->removed[i], name))
			return true;
	return false;
}

static int push_added(struct provision *p, const struct ksa_sae_cfg *s)
{
	struct ksa_sae_cfg *a = realloc(p->added, (p->n_added + 1) * sizeof(*a));

	if (!a)
		return -1;
	p->added = a;
	p->added[p->n_added++] = *s;
	return 0;
}

static int push_removed(struct provision *p, const char *name)
{
	char (*r)[KSA_SAE_ID_MAX] = realloc(p->removed,
					    (p->n_removed + 1) * sizeof(*r));

	if (!r)
		return -1;
	p->removed = r;
	snprintf(p->removed[p->n_removed++], KSA_SAE_ID_MAX, "%s", name);
	return 0;
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

	for (size_t i = 0; root && i < p->n_added; i++)
		json_array_append_new(json_object_get(root, "saes_added"),
				      sae_json(&p->added[i]));
	for (size_t i = 0; root && i < p->n_removed; i++)
		json_array_append_new(json_object_get(root, "saes_removed"),
				      json_string(p->removed[i]));
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
	free(text);
	return ret;
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
		    push_removed(p, json_string_value(v)))
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
		if (push_added(p, &s))
			goto out;
	}
	ret = 0;
	if (p->n_added || p->n_removed)
		log_notice("provision: %s: %zu SAE(s) added, %zu removed at run time",
			   p->path, p->n_added, p->n_removed);
out:
	json_decref(root);
	return ret;
}

struct provision *provision_open(struct ksa *ksa, const struct qkd_config *cfg,
				 char *err, size_t errlen)
{
	struct provision *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, errlen, "provision: out of memory");
		return NULL;
	}
	p->ksa = ksa;
	p->cfg = cfg;
	snprintf(p->dir, sizeof(p->dir), "%s", cfg->node.state_dir);
	snprintf(p->path, sizeof(p->path), "%s/%s", p->dir, PROVISION_FILE);
	p->audit_fd = -1;	/* opened at the first change */
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
	free(p->added);
	free(p->removed);
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
			    json_boolean(find_added(p, s->name) >= 0));
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
	if (push_added(p, &s) || save(p, why, sizeof(why))) {
		char e[64];

		if (find_added(p, s.name) >= 0)
			p->n_added--;
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
	a = find_added(p, r->arg);
	if (a >= 0) {
		memmove(&p->added[a], &p->added[a + 1],
			(p->n_added - (size_t)a - 1) * sizeof(*p->added));
		p->n_added--;
	} else if (!is_removed(p, r->arg)) {
		if (push_removed(p, r->arg)) {
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
		p->n_removed--;
	if (a >= 0)
		push_added(p, &s);
	ksa_sae_add(p->ksa, &s, why, sizeof(why));
	log_err("provision: SAE %s not removed: could not write the change back",
		r->arg);
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

/* The link as "qkdctl link show -j" shows it, or NULL. */
static json_t *link_view(const struct ctl_sources *src, const char *name)
{
	struct kma_link_info li;

	for (size_t i = 0; src->kma && !kma_link_info(src->kma, i, &li); i++)
		if (!strcmp(li.name, name))
			return view_link_json(&li, src->lsa &&
					      lsa_admin_down(src->lsa, li.peer),
					      false);
	return NULL;
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
	st = r->src->kma ? kma_link_set_generation(r->src->kma, r->arg, run,
						    why, sizeof(why)) : -ENOENT;
	if (st == -ENOENT && !r->src->kma)
		snprintf(why, sizeof(why), "no link %.64s", r->arg);
	if (st) {
		refuse(r, change, st == -ENOENT ? 404 :
				  st == -EOPNOTSUPP ? 409 : 503, why);
		return;
	}
	log_notice("provision: link %s generation %s by CN \"%s\" serial %s",
		   r->arg, run ? "started" : "stopped", r->cn, r->serial);
	audit(r->prov, r, change, 200, NULL);
	view = link_view(r->src, r->arg);
	if (!view) {
		mgmt_error(r, 503, "out of memory");
		return;
	}
	mgmt_reply_json(r, 200, view);
}
