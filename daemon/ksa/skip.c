// SPDX-License-Identifier: GPL-2.0
/*
 * SKIP requests and answers (skip.h).  Status codes follow the draft:
 * 404 for a path it does not define, 405 for a method other than GET,
 * 400 for a bad or unknown parameter and for a keyId that is malformed
 * or names no key; 503 (plain HTTP, the draft names no code for it) when
 * the link has no key to give.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "kx/http.h"
#include "ksa/skip.h"

static int fail(struct skip_error *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct skip_error *err, int status, const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

void skip_map_result(enum ksa_result res, const struct ksa_err *kerr,
		     struct skip_error *err)
{
	const char *msg = kerr && kerr->message[0] ? kerr->message : NULL;

	switch (res) {
	case KSA_BAD_REQUEST:
	case KSA_UNAUTHORIZED:
		fail(err, 400, "%s", msg ? msg : "bad request");
		break;
	case KSA_NOT_FOUND:
	case KSA_RETRY:		/* the wait is over: not found after all */
		fail(err, 400, "key not found");
		break;
	case KSA_UNAVAILABLE:
		fail(err, 503, "%s", msg ? msg : "no key available");
		break;
	default:
		fail(err, 500, "internal error");
		break;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int skip_key_id_to_uuid(const char *hex, char uuid[KSA_KEY_ID_LEN])
{
	char *o = uuid;

	if (strlen(hex) != SKIP_KEY_ID_HEX)
		return -1;
	for (int i = 0; i < SKIP_KEY_ID_HEX; i++) {
		int v = hexval(hex[i]);

		if (v < 0)
			return -1;
		if (i == 8 || i == 12 || i == 16 || i == 20)
			*o++ = '-';
		*o++ = "0123456789abcdef"[v];
	}
	*o = '\0';
	return 0;
}

/* Strict decimal: digits only, fits in 32 bits. */
static int parse_u32(const char *s, uint32_t *out)
{
	unsigned long long v = 0;

	if (!*s || strlen(s) > 10)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static const char *remote_sae(const struct skip_config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->n_remotes; i++)
		if (!strcmp(cfg->remotes[i].system_id, id))
			return cfg->remotes[i].sae;
	return NULL;
}

static int check_size(const struct skip_config *cfg, uint32_t size,
		      struct skip_error *err)
{
	if (!size || size % 8)
		return fail(err, 400, "size shall be a positive multiple of 8");
	if (size < cfg->min_size || size > cfg->max_size)
		return fail(err, 400, "size shall be %u to %u bits",
			    cfg->min_size, cfg->max_size);
	return 0;
}

static int parse_query(const char *query, const struct skip_config *cfg,
		       struct skip_request *out, struct skip_error *err)
{
	char name[32], value[256];
	bool have_remote = false, have_size = false;
	int ret;

	while ((ret = http_query_next(&query, name, sizeof(name), value,
				      sizeof(value))) > 0) {
		if (out->endpoint != SKIP_CAPABILITIES &&
		    !strcmp(name, "remoteSystemID")) {
			if (have_remote)
				return fail(err, 400, "remoteSystemID given twice");
			have_remote = true;
			out->remote_sae = remote_sae(cfg, value);
			/* The name is the client's own input: not echoed. */
			if (!out->remote_sae)
				return fail(err, 400, "unknown remoteSystemID");
		} else if (out->endpoint == SKIP_NEW_KEY && !strcmp(name, "size")) {
			if (have_size)
				return fail(err, 400, "size given twice");
			have_size = true;
			if (parse_u32(value, &out->size))
				return fail(err, 400, "size shall be a positive multiple of 8");
			if (check_size(cfg, out->size, err))
				return -1;
		} else {
			return fail(err, 400, "unsupported query parameter");
		}
	}
	if (ret < 0)
		return fail(err, 400, "malformed query string");
	if (out->endpoint != SKIP_CAPABILITIES && !have_remote)
		return fail(err, 400, "remoteSystemID is required");
	return 0;
}

int skip_parse(const struct http_request *req, const struct skip_config *cfg,
	       struct skip_request *out, struct skip_error *err)
{
	const char *path = req->path;
	char id[SKIP_KEY_ID_HEX + 2];

	memset(out, 0, sizeof(*out));
	out->size = cfg->default_size;
	if (!strcmp(path, "/capabilities")) {
		out->endpoint = SKIP_CAPABILITIES;
	} else if (!strcmp(path, "/key")) {
		out->endpoint = SKIP_NEW_KEY;
	} else if (!strncmp(path, "/key/", 5)) {
		out->endpoint = SKIP_KEY_BY_ID;
		path += 5;
		if (http_url_decode(path, strlen(path), id, sizeof(id)) ||
		    skip_key_id_to_uuid(id, out->key_id)) {
			if (req->method != HTTP_GET)
				goto not_allowed;
			return fail(err, 400, "malformed keyId");
		}
	} else {
		return fail(err, 404, "not found");
	}
	if (req->method != HTTP_GET)
		goto not_allowed;
	return parse_query(req->query, cfg, out, err);
not_allowed:
	err->allow = "GET";
	return fail(err, 405, "method not allowed");
}

/* ---- answers ---------------------------------------------------------- */

static char *dump(json_t *obj, size_t *len)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (s)
		*len = strlen(s);
	return s;
}

char *skip_capabilities_json(const struct skip_config *cfg, size_t *len)
{
	json_t *ids = json_array();

	for (size_t i = 0; ids && i < cfg->n_remotes; i++)
		json_array_append_new(ids, json_string(cfg->remotes[i].system_id));
	/* "entropy": this endpoint serves QKD keys only, no /entropy. */
	return dump(json_pack("{s:b, s:b, s:s, s:s, s:o}",
			      "entropy", 0, "key", 1, "algorithm", "QKD",
			      "localSystemID", cfg->local_id,
			      "remoteSystemID", ids), len);
}

char *skip_error_json(const struct skip_error *err, size_t *len)
{
	return dump(json_pack("{s:s}", "message", err->message), len);
}

/*
 * Written by hand rather than with jansson, which would copy the key into
 * allocations it frees without wiping.
 */
char *skip_key_json(const struct ksa_key *key, size_t *len)
{
	static const char hex[] = "0123456789abcdef";
	size_t nbytes = key->size / 8, cap, off, start;
	char *out;
	const char *p;

	cap = sizeof("{\"keyId\":\"\",\"key\":\"\"}") + SKIP_KEY_ID_HEX + 2 * nbytes;
	out = OPENSSL_secure_malloc(cap);	/* locked: it holds the key */
	if (!out)
		return NULL;
	start = off = (size_t)sprintf(out, "{\"keyId\":\"");
	for (p = key->key_id; *p; p++) {
		if (*p == '-')
			continue;
		if (hexval(*p) < 0 || off - start == SKIP_KEY_ID_HEX)
			break;
		out[off++] = *p;
	}
	/* Only a UUID's 32 digits go into the JSON unescaped. */
	if (*p || off - start != SKIP_KEY_ID_HEX) {
		skip_body_free(out, cap);
		return NULL;
	}
	off += (size_t)sprintf(out + off, "\",\"key\":\"");
	for (size_t i = 0; i < nbytes; i++) {
		out[off++] = hex[key->key[i] >> 4];
		out[off++] = hex[key->key[i] & 0x0f];
	}
	memcpy(out + off, "\"}", 3);
	*len = off + 2;
	OPENSSL_cleanse(out + *len, cap - *len);
	return out;
}

struct skip_config *skip_config_dup(const struct skip_config *cfg)
{
	struct skip_config *c = calloc(1, sizeof(*c));
	struct skip_remote *r = calloc(cfg->n_remotes ? cfg->n_remotes : 1,
				       sizeof(*r));
	bool bad = !c || !r;

	if (c) {
		*c = *cfg;
		c->remotes = r;
		c->n_remotes = 0;
		c->local_id = strdup(cfg->local_id);
		c->local_sae = strdup(cfg->local_sae);
		c->client_cn = strdup(cfg->client_cn);
		bad |= !c->local_id || !c->local_sae || !c->client_cn;
	}
	for (size_t i = 0; !bad && i < cfg->n_remotes; i++) {
		r[i].system_id = strdup(cfg->remotes[i].system_id);
		r[i].sae = strdup(cfg->remotes[i].sae);
		c->n_remotes = i + 1;
		bad = !r[i].system_id || !r[i].sae;
	}
	if (!bad)
		return c;
	if (!c)
		free(r);
	skip_config_free(c);
	return NULL;
}

void skip_config_free(struct skip_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_remotes; i++) {
		free((char *)c->remotes[i].system_id);
		free((char *)c->remotes[i].sae);
	}
	free((struct skip_remote *)c->remotes);
	free((char *)c->local_id);
	free((char *)c->local_sae);
	free((char *)c->client_cn);
	free(c);
}

/* The key's body is in the secure heap, the others (jansson's) not. */
void skip_body_free(char *body, size_t len)
{
	OPENSSL_secure_clear_free(body, len);
}
