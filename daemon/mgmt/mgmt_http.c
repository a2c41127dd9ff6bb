// SPDX-License-Identifier: GPL-2.0
/*
 * The management listener's router (mgmt_http.h).  Connection handling is
 * kx/https_server.c's; here a request is matched against mgmt_routes[],
 * the client's roles checked, and the handler called.  /mx/, /mu/ and
 * /view go to mx.h and webview.h, which answer the [manager] CNs by their
 * own roles (and refuse everyone else themselves).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/config.h"
#include "core/log.h"
#include "kx/https_server.h"
#include "mgmt/ctl.h"
#include "mgmt/mgmt_http.h"
#include "mgmt/mx.h"
#include "mgmt/webview.h"

#define MGMT_MAX_URL		1024
#define MGMT_MAX_HEADERS	8192
#define MGMT_MAX_BODY		16384	/* a provisioning request; 413 beyond */
#define MGMT_IDLE_MS		30000	/* scrapers keep connections between scrapes */
#define MGMT_MAX_CONNS		64

struct mgmt_http {
	const struct mgmt_route *routes;
	size_t n_routes;
	const struct ctl_sources *src;
	struct provision *prov;
	struct https_server *https;
	char (*clients)[KM_NAME_MAX];
	size_t n_clients;
	char (*admins)[KM_NAME_MAX];
	size_t n_admins;
	struct log_ratelimit refused_log;
};

/* Per connection: who it is. */
struct mclient {
	uint32_t roles;
	char serial[MGMT_SERIAL_MAX];
};

static bool cn_in(char (*list)[KM_NAME_MAX], size_t n, const char *cn)
{
	for (size_t i = 0; i < n; i++)
		if (*cn && !strcmp(list[i], cn))
			return true;
	return false;
}

void mgmt_reply(struct mgmt_req *r, int status, const char *content_type,
		const void *body, size_t len)
{
	if (r->answered)
		return;
	r->answered = true;
	https_send(r->conn, status, content_type, NULL, body, len,
		   r->http->keep_alive && status < 500);
}

void mgmt_reply_json(struct mgmt_req *r, int status, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (!text) {
		mgmt_error(r, 503, "out of memory");
		return;
	}
	mgmt_reply(r, status, "application/json", text, strlen(text));
	OPENSSL_cleanse(text, strlen(text));
	free(text);
}

void mgmt_error(struct mgmt_req *r, int status, const char *fmt, ...)
{
	char msg[512];
	json_t *obj;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	obj = json_pack("{s:i,s:s}", "status", status, "error", msg);
	text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (!text) {
		mgmt_reply(r, 503, "text/plain", "out of memory\n", 14);
		return;
	}
	mgmt_reply(r, status, "application/json", text, strlen(text));
	free(text);
}

/*
 * @path against a route path; a segment "{name}" takes any one, its text
 * (@arg, @arglen) not yet decoded.
 */
static bool path_match(const char *pattern, const char *path,
		       const char **arg, size_t *arglen)
{
	const char *brace = strchr(pattern, '{');
	const char *close = brace ? strchr(brace, '}') : NULL;
	size_t n = brace ? (size_t)(brace - pattern) : 0;
	size_t plen = strlen(path), tail;
	const char *end;

	*arg = "";
	*arglen = 0;
	if (!close || !n || pattern[n - 1] != '/')
		return !strcmp(pattern, path);
	tail = strlen(close + 1);
	if (strncmp(path, pattern, n) || plen < n + tail + 1 ||
	    strcmp(path + plen - tail, close + 1))
		return false;
	end = path + plen - tail;
	if (memchr(path + n, '/', (size_t)(end - (path + n))))
		return false;
	*arg = path + n;
	*arglen = (size_t)(end - *arg);
	return true;
}

static bool method_is(const char *m, enum http_method hm)
{
	if (hm == HTTP_HEAD)
		return !strcmp(m, "GET");
	return !strcmp(m, http_method_str(hm));
}

static void manager_request(struct mgmt_req *r)
{
	const struct http_request *req = r->http;
	struct mgmt_reply out;

	(mx_owns(req->path) ? mx_handle : webview_handle)(r->src, r->cn,
		http_method_str(req->method), req->path, req->body,
		req->body_len, &out);
	r->answered = true;
	https_send(r->conn, out.status, out.type, out.extra, out.body, out.len,
		   req->keep_alive && out.status < 500);
	free(out.body);
}

static void on_request(void *arg, struct https_conn *conn,
		       const struct http_request *req)
{
	struct mgmt_http *m = arg;
	struct mclient *mc = https_conn_data(conn);
	struct mgmt_req r = {
		.http = req, .cn = https_conn_peer(conn),
		.roles = mc ? mc->roles : 0, .src = m->src, .prov = m->prov,
		.conn = conn,
	};
	const struct mgmt_route *route = NULL;
	char allow[96] = "";
	const char *a = "";
	size_t alen = 0;

	if (mc)
		memcpy(r.serial, mc->serial, sizeof(r.serial));
	if (mx_owns(req->path) || webview_owns(req->path)) {
		manager_request(&r);
		return;
	}
	if (!r.roles) {
		mgmt_error(&r, 403, "client certificate CN \"%s\" has no role here ([metrics] clients, admin_clients)",
			   r.cn);
		return;
	}
	for (size_t i = 0; i < m->n_routes; i++) {
		const struct mgmt_route *rt = &m->routes[i];
		const char *ra;
		size_t rlen;

		if (!path_match(rt->path, req->path, &ra, &rlen))
			continue;
		if (method_is(rt->method, req->method)) {
			route = rt;
			a = ra;
			alen = rlen;
			break;
		}
		if (strlen(allow) + strlen(rt->method) + 9 < sizeof(allow))
			snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow),
				 "%s%s%s", allow[0] ? ", " : "", rt->method,
				 strcmp(rt->method, "GET") ? "" : ", HEAD");
	}
	if (!route) {
		if (allow[0]) {
			static const char body[] =
				"{\"status\":405,\"error\":\"method not allowed\"}";
			char hdr[128];

			snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
			r.answered = true;
			https_send(conn, 405, "application/json", hdr, body,
				   sizeof(body) - 1, req->keep_alive);
			return;
		}
		mgmt_error(&r, 404, "no resource %s", req->path);
		return;
	}
	if (!(r.roles & route->role)) {
		mgmt_error(&r, 403, "client certificate CN \"%s\" lacks the %s role for %s %s",
			   r.cn, route->role == MGMT_ROLE_ADMIN ? "admin" : "monitor",
			   route->method, route->path);
		return;
	}
	if (http_url_decode(a, alen, r.arg, sizeof(r.arg))) {
		mgmt_error(&r, 400, "bad percent-encoding in the path");
		return;
	}
	route->fn(&r);
	if (!r.answered)
		mgmt_error(&r, 500, "no answer");
}

/*
 * The listener trusts [tls] sae_ca and every [manager] ca (mgmt_http_ctx_
 * new()), so the handshake alone says only "one of them".  Each client
 * must chain to its own anchor: a manager with a "ca" to that file, any
 * other client to sae_ca; a certificate of another domain's CA, or of
 * the SAE CA, that merely bears a manager's CN is refused.  The store is
 * read per connection, from the configuration as it is now (a reload
 * may have changed either); management connections are few and kept
 * alive.  NULL if @conn may stay, else why not (into @why).
 */
static const char *anchor_refusal(struct mgmt_http *m, struct https_conn *conn,
				  char *why, size_t whylen)
{
	const struct qkd_config *c = m->src->cfg;
	const struct manager_cfg *mgr = mx_manager(c, https_conn_peer(conn));
	bool own = mgr && mgr->ca[0];
	const char *ca = own ? mgr->ca : c->tls_sae_ca, *bad;
	char err[512];
	X509_STORE *store;

	if (https_conn_psk(conn))
		return NULL;
	store = tls_store_new(ca, c->tls_sae_crl, err, sizeof(err));
	if (!store) {
		snprintf(why, whylen, "cannot read %.200s: %.300s", ca, err);
		return why;
	}
	bad = https_conn_verify(conn, store);
	X509_STORE_free(store);
	if (!bad)
		return NULL;
	if (own)
		snprintf(why, whylen, "it is [manager %s]'s CN, and its certificate does not chain to that manager's ca %.200s (%.100s)",
			 mgr->name, ca, bad);
	else
		snprintf(why, whylen, "its certificate does not chain to [tls] sae_ca %.200s (%.100s)%s",
			 ca, bad, mgr ? "" : "; only a [manager] with its own ca may use another CA");
	return why;
}

static int on_open(void *arg, struct https_conn *conn)
{
	struct mgmt_http *m = arg;
	struct mclient *mc;
	const char *cn = https_conn_peer(conn);
	char why[768];

	if (anchor_refusal(m, conn, why, sizeof(why))) {
		log_ratelimited(&m->refused_log, LOG_LVL_NOTICE,
				"metrics: refused client certificate CN \"%s\": %s",
				cn, why);
		return -1;
	}
	mc = calloc(1, sizeof(*mc));
	if (!mc)
		return -1;
	if (cn_in(m->clients, m->n_clients, cn))
		mc->roles |= MGMT_ROLE_MONITOR;
	if (cn_in(m->admins, m->n_admins, cn))
		mc->roles |= MGMT_ROLE_MONITOR | MGMT_ROLE_ADMIN;
	https_conn_peer_serial(conn, mc->serial, sizeof(mc->serial));
	https_conn_set_data(conn, mc);
	if (!mc->roles && !mx_manager(m->src->cfg, cn))
		log_ratelimited(&m->refused_log, LOG_LVL_NOTICE,
				"metrics: client certificate CN \"%s\" is not in [metrics] clients or admin_clients",
				cn);
	return 0;
}

static void on_close(void *arg, struct https_conn *conn)
{
	free(https_conn_data(conn));
	https_conn_set_data(conn, NULL);
}

/* Errors the server loop answers itself (413, 408...): JSON here too. */
static void on_error(void *arg, struct https_conn *conn, int status,
		     const char *why)
{
	char body[160];
	int n = snprintf(body, sizeof(body), "{\"status\":%d,\"error\":\"%s\"}",
			 status, why);

	https_send(conn, status, "application/json", NULL, body, (size_t)n,
		   false);
}

static const struct https_server_ops mgmt_ops = {
	.on_open = on_open, .on_request = on_request, .on_error = on_error,
	.on_close = on_close,
};

SSL_CTX *mgmt_http_ctx_new(const struct mgmt_http_config *cfg, char *err,
			   size_t errlen)
{
	SSL_CTX *ctx = tls_ctx_new(&cfg->tls, 1, err, errlen);
	char why[512];

	/* Each manager's own CA too; on_open sees who may use which. */
	for (size_t i = 0; ctx && i < cfg->n_managers; i++) {
		const struct manager_cfg *mgr = &cfg->managers[i];

		if (mgr->ca[0] &&
		    tls_ctx_add_ca(ctx, mgr->ca, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "[manager %s] ca: %s", mgr->name,
				 why);
			SSL_CTX_free(ctx);
			return NULL;
		}
	}
	return ctx;
}

static char (*copy_names(const char (*in)[KM_NAME_MAX], size_t n))[KM_NAME_MAX]
{
	char (*out)[KM_NAME_MAX] = calloc(n ? n : 1, KM_NAME_MAX);

	if (out && n)
		memcpy(out, in, n * KM_NAME_MAX);
	return out;
}

struct mgmt_http *mgmt_http_start(struct loop *loop,
				  const struct mgmt_http_config *cfg,
				  const struct ctl_sources *src,
				  struct provision *prov,
				  char *err, size_t errlen)
{
	struct mgmt_http *m = calloc(1, sizeof(*m));
	struct https_server_config hc = {
		.name = "metrics", .listen = cfg->listen,
		.limits = { .max_url = MGMT_MAX_URL,
			    .max_header_bytes = MGMT_MAX_HEADERS,
			    .max_body = MGMT_MAX_BODY },
		.idle_ms = MGMT_IDLE_MS, .max_conns = MGMT_MAX_CONNS,
	};
	SSL_CTX *ctx;

	if (!m || !(m->clients = copy_names(cfg->clients, cfg->n_clients)) ||
	    !(m->admins = copy_names(cfg->admins, cfg->n_admins))) {
		snprintf(err, errlen, "metrics: out of memory");
		goto fail;
	}
	m->routes = cfg->routes;
	m->n_routes = cfg->n_routes;
	m->n_clients = cfg->n_clients;
	m->n_admins = cfg->n_admins;
	m->src = src;
	m->prov = prov;
	m->refused_log = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, 10);
	ctx = mgmt_http_ctx_new(cfg, err, errlen);
	if (!ctx)
		goto fail;
	m->https = https_server_start(loop, &hc, ctx, &mgmt_ops, m, err, errlen);
	if (m->https)
		return m;
fail:
	mgmt_http_stop(m);
	return NULL;
}

struct https_server *mgmt_http_server(struct mgmt_http *m)
{
	return m->https;
}

void mgmt_http_stop(struct mgmt_http *m)
{
	if (!m)
		return;
	https_server_stop(m->https);
	free(m->clients);
	free(m->admins);
	free(m);
}
