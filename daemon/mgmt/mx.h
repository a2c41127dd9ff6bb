/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Mx and Mu (Y.3802 Amd. 1; Documentation/qkd/mx-mu.rst): what a manager
 * outside this node may read over the management listener, by the
 * [manager NAME] section its client certificate's CN names.
 *
 *	Mx (role mx), the manager of another QKDN domain:
 *		GET  /mx/v1/alarms	active alarms from the policy's
 *		POST /mx/v1/alarms	  min_severity ({"min_severity"} narrows)
 *		GET  /mx/v1/summary	links up/down, key rates, alarm counts
 *	Mu (role mu), a user network manager:
 *		GET  /mu/v1/saes	its own SAEs' keys supplied and refused,
 *		POST /mu/v1/saes	  and routes to its own SAEs elsewhere
 *					  ({"saes": [...]} narrows)
 *
 * Every answer is JSON; errors are {"error": "..."} with 400 (malformed
 * body), 403 (not a manager, wrong role, beyond its policy), 404, 405.
 * Nothing here changes state, and no key byte or key ID is ever read.
 */
#ifndef QKD_MX_H
#define QKD_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl_sources;
struct qkd_config;
struct manager_cfg;

/* A query body ({"min_severity"}, {"saes": [...]}) fits in this. */
#define MX_MAX_BODY	1024

/* One answer: the listener sends it as it is. */
struct mgmt_reply {
	int status;
	const char *type;	/* Content-Type */
	const char *extra;	/* more header lines ("Name: v\r\n"), or NULL */
	char *body;		/* malloc'd; NULL with len 0 if none */
	size_t len;
};

/* The [manager] whose cert_cn is @cn, or NULL. */
const struct manager_cfg *mx_manager(const struct qkd_config *cfg,
				     const char *cn);

/* An error answer {"error": @why} (JSON). */
void mx_error(struct mgmt_reply *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Whether mx_handle() answers @path ("/mx/..." or "/mu/..."). */
bool mx_owns(const char *path);

/*
 * Answers one request to @path (mx_owns()) of the client whose
 * certificate CN is @cn.  @method is "GET", "HEAD", "POST"...  Any element
 * of @src but cfg may be NULL.  r->body is malloc'd (free() it).
 */
void mx_handle(const struct ctl_sources *src, const char *cn,
	       const char *method, const char *path, const uint8_t *body,
	       size_t body_len, struct mgmt_reply *r);

#endif /* QKD_MX_H */
