/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Runtime provisioning over Mk (Y.3802 10.1, configuration management):
 * SAEs and Kx peers added to and removed from a running node, and links'
 * pool thresholds changed, through the management listener (mgmt_http.h,
 * admin role), without a restart and without losing keys.  Each change is checked first (bad input changes nothing),
 * applied to the KSA's SAE table, written back to
 * STATE_DIR/provisioned.json (fsync, rename: a crash leaves the old or
 * the new file) so a restart keeps it, and recorded in the append-only
 * audit log STATE_DIR/audit.log with the certificate that asked (security
 * management).  Documentation/qkd/manager.rst describes the resources.
 */
#ifndef QKD_PROVISION_H
#define QKD_PROVISION_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/config.h"

struct ksa;
struct provision;

#define PROVISION_FILE		"provisioned.json"
#define PROVISION_AUDIT		"audit.log"

/*
 * Apply STATE_DIR/provisioned.json (if any) to @ksa, on top of @cfg's
 * [sae] sections; at every start, with or without a management listener.
 * NULL with the reason in @err.
 */
struct kma;
struct peers;
/* @peers: NULL on a node without [kx] (no peer can be added). */
struct provision *provision_open(struct ksa *ksa, struct kma *kma,
				 struct peers *peers,
				 const struct qkd_config *cfg,
				 char *err, size_t errlen);
void provision_close(struct provision *p);

/*
 * An SAE as a JSON object {"id", "cert_cn", "node"}, nothing else: 0, or
 * an HTTP status (400) with the reason in @err.  For the handler, the
 * state file and the fuzz target.
 */
int provision_parse_sae(const char *text, size_t len, struct ksa_sae_cfg *out,
			char *err, size_t errlen);

/*
 * A peer as a JSON object {"name", "address", "cert_cn"}, nothing else,
 * checked as a [peer] section is: 0, or 400 with the reason in @err.
 */
int provision_parse_peer(const char *text, size_t len, struct peer_cfg *out,
			 char *err, size_t errlen);

/*
 * A link's pool thresholds to set, {"pool_warn": N, "pool_ready": N},
 * either or both, integers from 0 (0: the default): 0, or 400 with the
 * reason in @err.  Whether the pair goes together is config_check_pool()'s.
 */
struct provision_pool {
	bool has_warn, has_ready;
	uint64_t pool_warn, pool_ready;
};
int provision_parse_pool(const char *text, size_t len,
			 struct provision_pool *out, char *err, size_t errlen);

/*
 * Key generation control (Y.3802 10.2), PUT /api/v1/links/NAME/generation:
 * the body {"state": "running"} or {"state": "stopped"}, nothing else;
 * 0 and *@run, or 400 with the reason in @err.
 */
int provision_parse_generation(const char *text, size_t len, bool *run,
			       char *err, size_t errlen);

/*
 * A link, POST /api/v1/links: a JSON object with "name" and the keys of
 * a [link NAME] section (Documentation/qkd/config.rst), each a string, an
 * integer from 0 or a boolean, at most PROVISION_LINK_FIELDS of them:
 * 0 and the fields as strings in *@out (the caller json_decref()s it), or
 * 400 with the reason.  Whether the keys make a link is
 * config_link_check()'s; the reason never quotes a seed.
 */
#define PROVISION_LINK_FIELDS	32
int provision_parse_link(const char *text, size_t len, json_t **out,
			 char *err, size_t errlen);

#endif /* QKD_PROVISION_H */
