/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Operator views: the JSON that qkdctl shows ("data" of a control socket
 * answer, ctl.h).  One pattern for every element: the element's own header
 * hands out plain state (X_count() + X_info(), or X_foreach(), filling
 * structs that hold names, IDs, counters and states, never key bytes); the
 * files here turn that state into JSON, one file per element.
 *
 * A view_X() gathers and renders a whole view, and returns NULL only when
 * out of memory; an element it is given (kma, ksa, peers, relay, ipsec,
 * macsec, account; not lsa) may be NULL, not running, which shows as an empty view; the
 * config may not.  A view_X_json() renders one info struct, for the views
 * and for the unit tests.
 */
#ifndef QKD_VIEW_H
#define QKD_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

struct qkd_config;
struct kma;
struct ksa;
struct peers;
struct lsa;
struct relay;
struct ipsec;
struct macsec;
struct wireguard;
struct strongswan;
struct alarm_info;
struct kma_link_info;
struct ksa_key_info;
struct ksa_pair_info;
struct peer_info;
struct relay_info;
struct relay_session_info;
struct relay_link_info;
struct ipsec_info;
struct ipsec_pair_info;
struct macsec_port_info;
struct wireguard_info;
struct strongswan_info;
struct lsa;
struct lsa_node_info;
struct lsa_path_info;
struct account;
struct acct_counts;
struct acct_interval_info;

/* view_node.c: "status", "peer show" */
json_t *view_status(const struct qkd_config *cfg, const struct kma *kma,
		    const struct peers *peers, uint64_t uptime_s,
		    time_t started, bool memory_locked);
json_t *view_peers(const struct peers *peers);
json_t *view_peer_json(const struct peer_info *p);

/* view_keys.c: "link show", "pool show", "sae show", "key show" */
json_t *view_links(const struct kma *kma, const struct lsa *lsa, bool pools);
/* @admin_down: taken out of routing by "link down PEER". */
json_t *view_link_json(const struct kma_link_info *l, bool admin_down,
		       bool pools);
json_t *view_saes(const struct qkd_config *cfg, const struct ksa *ksa,
		  struct lsa *lsa);
/* @route: for a relayed pair, the nodes its keys pass now (taken over). */
json_t *view_pair_json(const struct ksa_pair_info *p, json_t *route);
/* The newest @limit key records (of SAE @sae, or all if NULL). */
json_t *view_keys(const struct ksa *ksa, const char *sae, size_t limit);
json_t *view_key_json(const struct ksa_key_info *k);

/* view_alarm.c: "alarm show", "alarm history" */
json_t *view_alarms(void);
json_t *view_alarm_history(void);
json_t *view_alarm_json(const struct alarm_info *a);

/* view_relay.c: "relay show", "relay audit" */
json_t *view_relay_sessions(struct relay *relay, const struct peers *peers);
/* @sessions: an array of view_relay_session_json(), taken over. */
json_t *view_relay_info_json(const struct relay_info *r, json_t *sessions);
json_t *view_relay_session_json(const struct relay_session_info *s);
json_t *view_relay_audit(const struct relay *relay);
json_t *view_relay_link_json(const struct relay_link_info *l);

/* view_apps.c: "sa show", "macsec show" */
json_t *view_ipsec(const struct ipsec *ips);
/* @pairs: an array of view_ipsec_pair_json(), taken over. */
json_t *view_ipsec_json(const struct ipsec_info *i, json_t *pairs);
json_t *view_ipsec_pair_json(const struct ipsec_pair_info *p);
json_t *view_macsec(const struct macsec *ms);
json_t *view_macsec_port_json(const struct macsec_port_info *p);
/* "wireguard show" */
json_t *view_wireguard(const struct wireguard *wg);
json_t *view_wireguard_json(const struct wireguard_info *w);
/* "strongswan show" */
json_t *view_strongswan(const struct strongswan *s);
json_t *view_strongswan_json(const struct strongswan_info *w);

/* view_account.c: "account show"; the newest @limit closed intervals. */
json_t *view_account(const struct account *a, size_t limit);
json_t *view_account_counts_json(const struct acct_counts *c);
json_t *view_account_interval_json(const struct acct_interval_info *iv);

/* view_routing.c: "topology show", "route show", "path" */
json_t *view_routing_topology(struct lsa *lsa);
json_t *view_routing_node_json(const struct lsa_node_info *n);
json_t *view_routing_routes(struct lsa *lsa);
json_t *view_routing_path(struct lsa *lsa, const char *from, const char *to);
json_t *view_routing_path_json(const struct lsa_path_info *p);

#endif /* QKD_VIEW_H */
