/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The management listener (reference point Mk): HTTPS with mutual TLS on
 * the shared server loop (kx/https_server.h), and a router from method and
 * path to a handler, each route with the role it requires.  A client's
 * roles come from its certificate CN in the configuration ([metrics]
 * clients: monitor; admin_clients: monitor and admin).  /metrics is one
 * route; runtime provisioning (provision.h) is others.
 *
 * Adding a route is one line in mgmt_routes[] (mgmt_routes.c) and a
 * handler of type mgmt_handler.  Answers: 404 for a path no route has, 405 (with
 * Allow) for a method the path has no route for, 403 for a client without
 * the route's role; HEAD is answered wherever GET is.
 */
#ifndef QKD_MGMT_HTTP_H
#define QKD_MGMT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/names.h"
#include "kx/http.h"
#include "kx/tls.h"

struct loop;
struct ctl_sources;
struct provision;
struct mgmt_http;
struct https_server;
struct https_conn;
struct manager_cfg;

/* Roles, a bit each: a route requires one, a client holds a set. */
#define MGMT_ROLE_MONITOR	(1u << 0)	/* read the node's figures */
#define MGMT_ROLE_ADMIN		(1u << 1)	/* change the node */

#define MGMT_SERIAL_MAX		80	/* certificate serial, hex */

/* One request being routed; handlers answer with mgmt_reply*(). */
struct mgmt_req {
	const struct http_request *http;
	/* What the route path's "{name}" segment matched, percent-decoded. */
	char arg[KM_NAME_MAX * 2];
	const char *cn;			/* client certificate subject CN */
	char serial[MGMT_SERIAL_MAX];	/* its serial number, hex */
	uint32_t roles;			/* MGMT_ROLE_* the client holds */
	const struct ctl_sources *src;	/* what the views read */
	struct provision *prov;		/* NULL: no runtime provisioning */
	/* private to mgmt_http.c */
	struct https_conn *conn;
	bool answered;
};

typedef void (*mgmt_handler)(struct mgmt_req *r);

struct mgmt_route {
	const char *method;	/* "GET" (HEAD too), "POST", "PUT", "PATCH", "DELETE" */
	/* Exact, or with one "{name}" segment: any one, in r->arg. */
	const char *path;
	uint32_t role;		/* MGMT_ROLE_* required */
	mgmt_handler fn;
};

/* Answer with @body (wiped after sending). */
void mgmt_reply(struct mgmt_req *r, int status, const char *content_type,
		const void *body, size_t len);
/* Answer with @obj as JSON (application/json); takes the reference. */
struct json_t;
void mgmt_reply_json(struct mgmt_req *r, int status, struct json_t *obj);
/* Answer {"error": "..."}; @status 4xx or 5xx. */
void mgmt_error(struct mgmt_req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct mgmt_http_config {
	const char *listen;		/* "host:port" */
	struct tls_files tls;
	const char (*clients)[KM_NAME_MAX];	/* monitor role */
	size_t n_clients;
	const char (*admins)[KM_NAME_MAX];	/* monitor and admin roles */
	size_t n_admins;
	const struct mgmt_route *routes;	/* mgmt_routes, in main.c */
	size_t n_routes;
	/* [manager]s: the listener trusts each one's own "ca" too. */
	const struct manager_cfg *managers;
	size_t n_managers;
};

/* The server context for @cfg (also for a certificate reload). */
SSL_CTX *mgmt_http_ctx_new(const struct mgmt_http_config *cfg, char *err,
			   size_t errlen);
/* Listen and serve; @src is read and @prov (may be NULL) used per request. */
struct mgmt_http *mgmt_http_start(struct loop *loop,
				  const struct mgmt_http_config *cfg,
				  const struct ctl_sources *src,
				  struct provision *prov,
				  char *err, size_t errlen);
void mgmt_http_stop(struct mgmt_http *m);
struct https_server *mgmt_http_server(struct mgmt_http *m);

/* The listener's routes (mgmt_routes.c), and their handlers. */
extern const struct mgmt_route mgmt_routes[];
extern const size_t mgmt_n_routes;
void metrics_get(struct mgmt_req *r);		/* GET /metrics */
void provision_sae_list(struct mgmt_req *r);	/* provision.c */
void provision_sae_get(struct mgmt_req *r);
void provision_sae_add(struct mgmt_req *r);
void provision_sae_remove(struct mgmt_req *r);
void provision_link_list(struct mgmt_req *r);
void provision_link_get(struct mgmt_req *r);
void provision_link_patch(struct mgmt_req *r);
void provision_link_add(struct mgmt_req *r);
void provision_link_remove(struct mgmt_req *r);
void provision_peer_list(struct mgmt_req *r);
void provision_peer_add(struct mgmt_req *r);
void provision_peer_remove(struct mgmt_req *r);
void provision_link_generation(struct mgmt_req *r);

#endif /* QKD_MGMT_HTTP_H */
