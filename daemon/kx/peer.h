/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kx channel between key manager daemons (peer.c).  The public API (start,
 * stop, views) is in keymgr.h; this header has the pieces peer.c shares with
 * its tests.
 *
 * Connections: one mutually authenticated TLS 1.3 connection per pair of
 * nodes.  To avoid two crossing connections, only the node whose name sorts
 * first dials (reconnecting with exponential backoff); the other listens.
 * Either way the peer is identified by its certificate's CN, which must be
 * a configured peer's cert_cn, and then by its HELLO, whose node name must
 * be that peer's.  Anything else is logged (names only) and closed.  A new
 * authenticated connection from a peer replaces the old one (the peer may
 * have restarted).
 */
#ifndef QKD_PEER_H
#define QKD_PEER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "kx/kxmsg.h"

#define PEER_BACKOFF_MIN_MS	100
#define PEER_BACKOFF_MAX_MS	5000
#define PEER_DIAL_TIMEOUT_MS	5000	/* connect + TLS + hello, or retry */
#define PEER_MAX_INPUT		(4 * 4108)	/* bounded: 4 max messages */
#define PEER_MAX_PENDING	(4u << 20)	/* output back-pressure, bytes */
/*
 * A busy link sends at most one record per this many ms (a burst of Kx-2
 * reservations leaves together); a lone message leaves at once.  See
 * tls_conn_set_coalesce().
 */
#define PEER_COALESCE_MS	1

/* "a.b.c.d:port" or "[v6]:port" -> sockaddr.  0, or -1. */
int peer_parse_addr(const char *s, struct sockaddr_storage *ss,
		    socklen_t *len);

/* True if node @self dials @peer (the other waits to be called). */
bool peer_dials(const char *self, const char *peer);

/*
 * Who gets the messages of one Kx type (relay.c, lsa.c, ...), and the
 * transport they send with (@ps is the struct peers).  Hello, error and the
 * key sync types (RESERVE, ACK: ksa.c) are peer.c's own; a type nobody
 * registered is answered with an error and the connection is closed.
 */
struct peers;
typedef void (*peers_rx_fn)(void *arg, const char *from,
			    const struct kxmsg *m);
void peers_on_message(struct peers *ps, enum kxmsg_type type,
		      peers_rx_fn fn, void *arg);
int peers_send(void *ps, const char *node, const struct kxmsg *m);
bool peers_is_up(void *ps, const char *node);

/*
 * Configuration 4 (centralized key relay over Kx'): @hub is the central
 * KM.  On the other nodes, a message for a node that is not a configured
 * peer goes to the hub with VIA_TO, and "is up" means the hub is up.  The
 * hub forwards such messages (relay messages only between neighbours on
 * their route) with VIA_FROM set to the authenticated sender; a node
 * accepts VIA_FROM only from its hub.  NULL or "": no hub.
 */
void peers_set_hub(struct peers *ps, const char *hub);
void peers_hub_stats(const struct peers *ps, uint64_t *forwarded,
		     uint64_t *refused);

#endif /* QKD_PEER_H */
