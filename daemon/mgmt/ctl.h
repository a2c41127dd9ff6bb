/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's local control socket, spoken by qkdctl.
 *
 * A unix stream socket; one JSON object per line each way.  Request:
 *
 *	{"cmd": "status"}
 *	{"cmd": "link show"} / "pool show" / "sae show" / "peer show"
 *	{"cmd": "key show", "sae": "app1", "limit": 1000}   (both optional;
 *	    an SAE the config does not name is refused)
 *	{"cmd": "topology show"} / "route show" / "relay show" / "relay audit"
 *	{"cmd": "path", "to": "F", "from": "A"}   ("from" optional)
 *	{"cmd": "link down", "peer": "B"} / "link up"   (routing only)
 *	{"cmd": "link generation", "link": "AB", "state": "stop"}  ("start"
 *	    or "stop": key generation at this end, Y.3802 10.2; answers the
 *	    link as "link show" shows it)
 *	{"cmd": "account show", "limit": 1000}   (accounting: totals per SAE
 *	    pair and SAE, the open interval, the newest "limit" closed ones)
 *	{"cmd": "sa show"}   (QKD-keyed IPsec SA pairs; without [ipsec]
 *	    {"pairs": []}, as "macsec show" answers [] without [macsec])
 *	{"cmd": "wireguard show"}   (WireGuard PSK rotation; [] without
 *	    [wireguard])
 *	{"cmd": "strongswan show"}   (strongSwan PPK rotation; [] without
 *	    [strongswan])
 *
 * Response: {"ok": true, "data": ...} or {"ok": false, "error": "reason"}.
 * A connection may carry several requests in turn.  Everything shown is
 * metadata (names, IDs, sizes, states, counters, times): no request can
 * return key bytes, because none of the functions the socket calls can
 * produce them.
 *
 * Access: the socket file's mode (0660) and its directory's, and the
 * client's credentials (SO_PEERCRED, SO_PEERGROUPS) checked on accept.
 * Root, the daemon's own user and members of [node] control_admin_group
 * may change state ("link down", "link up", "link generation"); other members of the
 * socket's group (the daemon's) may only read; anyone else is refused
 * with "permission denied".  A connection idle for CTL_IDLE_MS is closed.
 */
#ifndef QKD_CTL_H
#define QKD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_LINE_MAX		4096	/* longest request line */
#define CTL_KEY_LIMIT_DEFAULT	1000	/* newest key records shown */
#define CTL_SOCKET_DIR		"/run/qkdkmd"
#define CTL_IDLE_MS		30000	/* an idle connection is closed */

struct loop;
struct kma;
struct ksa;
struct peers;
struct lsa;
struct relay;
struct ipsec;
struct etsi014_server;
struct qkd_config;
struct account;
struct mx_notify;
struct ctl;

/* What the control socket shows; any pointer may be NULL (not running). */
struct ctl_sources {
	const struct qkd_config *cfg;
	struct kma *kma;		/* "link generation" changes it */
	const struct ksa *ksa;
	const struct peers *peers;
	struct lsa *lsa;		/* key relay routing (may be NULL) */
	struct relay *relay;
	struct macsec *macsec;		/* may be NULL: no [macsec] */
	struct wireguard *wireguard;	/* may be NULL: no [wireguard] */
	struct strongswan *strongswan;	/* may be NULL: no [strongswan] */
	struct ipsec *ipsec;		/* "sa show" (may be NULL) */
	struct etsi014_server *etsi;	/* its request counters (metrics.h) */
	const struct account *account;	/* "account show" (may be NULL) */
	const struct mx_notify *notify;	/* Mx notifications (may be NULL) */
	bool memory_locked;		/* [node] lock_all_memory in effect */
};

/*
 * Listen on @path (a stale socket file is replaced; a live daemon on it is
 * an error).  @src is read at each request, so main.c may update it.
 */
struct ctl *ctl_start(struct loop *loop, const char *path,
		      const struct ctl_sources *src, char *err, size_t errlen);
/* Close every connection and remove the socket file. */
void ctl_stop(struct ctl *ctl);

#endif /* QKD_CTL_H */
