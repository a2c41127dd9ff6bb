/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kx channel between key manager daemons (peer.c).
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
#include <openssl/ssl.h>

#include "core/config.h"
#include "kx/kxmsg.h"

struct loop;
struct peers;

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
/*
 * A dialer waiting to redial a peer makes a bare TCP connect to its
 * address this often (no TLS); when it is accepted the peer is dialed at
 * once with the back-off reset.  A refused or silent probe costs a SYN.
 */
#define PEER_PROBE_MS		100
/* A peer not up this long gets an alarm (a refused handshake: at once). */
#define PEER_ALARM_GRACE_MS	3000

/* "a.b.c.d:port" or "[v6]:port" -> sockaddr.  0, or -1. */
int peer_parse_addr(const char *s, struct sockaddr_storage *ss,
		    socklen_t *len);

/* True if node @self dials @peer (the other waits to be called). */
bool peer_dials(const char *self, const char *peer);

/*
 * Who gets the messages of one Kx type (relay.c, lsa.c, ...), and the
 * transport they send with (@ps is the struct peers).  Hello and error are
 * peer.c's own; a type nobody registered is answered with an error and the
 * connection is closed.
 */
struct peers;
typedef void (*peers_rx_fn)(void *arg, const char *from,
			    const struct kxmsg *m);
void peers_on_message(struct peers *ps, enum kxmsg_type type,
		      peers_rx_fn fn, void *arg);
int peers_send(void *ps, const char *node, const struct kxmsg *m);
bool peers_is_up(void *ps, const char *node);

/*
 * @fn(@arg, node) each time a channel to @node comes up (hello received),
 * after which messages sent to @node go over that new channel: what was
 * agreed on the previous one is to be agreed again (kma/confirm.c).  One
 * hook; NULL removes it.
 */
typedef void (*peers_up_fn)(void *arg, const char *node);
void peers_on_up(struct peers *ps, peers_up_fn fn, void *arg);

/*
 * Configuration 4 (centralized key relay over Kx'): @hub is the central
 * KM.  On the other nodes, a message for a node that is not a configured
 * peer goes to the hub with VIA_TO, and "is up" means the hub is up.  The
 * hub forwards such messages (relay messages only between neighbours on
 * their route) with VIA_FROM set to the authenticated sender; a node
 * accepts VIA_FROM only from its hub.  NULL or "": no hub.
 */
void peers_set_hub(struct peers *ps, const char *hub);
/*
 * The source of the alarm of the Kx channel to @peer ("kx:NAME", cut to
 * @len >= 5), for alarms it explains (core/alarm.h, struct alarm_desc's
 * root): a relay that fails behind a dead peer.
 */
void peers_alarm_source(const char *peer, char *buf, size_t len);

/* Key traffic only: LINK_PARAMS and CONFIRM* are forwarded uncounted. */
void peers_hub_stats(const struct peers *ps, uint64_t *forwarded,
		     uint64_t *refused);

/*
 * Listen on @kx_listen ("host:port") and connect to every peer, mutual TLS
 * with @server_ctx / @client_ctx (tls_ctx_new()), reconnecting with
 * backoff.  A connection is accepted only if the peer certificate's CN is a
 * configured peer's cert_cn.  Messages go to whoever registered for their
 * type (peers_on_message()); peers_send() and peers_is_up() are the
 * transport the parts above send with.
 * The SSL_CTXs stay owned by the caller and must outlive the peers.
 */
struct peers *peers_start(struct loop *loop, SSL_CTX *server_ctx,
			  SSL_CTX *client_ctx, const struct km_node_cfg *node,
			  const struct peer_cfg *peers, size_t n_peers,
			  const char *kx_listen, char *err, size_t errlen);
/*
 * Certificate reload: dials and accepts from now on use these contexts
 * (still the caller's).  Open channels are the caller's to recheck
 * (tls_conns_recheck()).
 */
void peers_set_ctx(struct peers *ps, SSL_CTX *server_ctx, SSL_CTX *client_ctx);

void peers_stop(struct peers *peers);

/*
 * A peer added to or removed from the running channel set (runtime
 * provisioning): an added one is dialed or awaited as a configured one
 * is; a removed one's connections close and its alarm clears.  The
 * caller checked what the configuration parser checks.  0, or -errno
 * with the reason in @err: -EINVAL (this node, a bad address), -EEXIST
 * (its name or cert_cn is a peer's), -ENOENT, -EBUSY (the hub), -ENOMEM.
 */
int peers_add(struct peers *ps, const struct peer_cfg *cfg, char *err,
	      size_t errlen);
int peers_remove(struct peers *ps, const char *name, char *err,
		 size_t errlen);

/*
 * Liveness of every channel (liveness.h): a HEARTBEAT when nothing else
 * went out for @heartbeat_ms, death (close, link out of routing, alarm
 * "kx:NAME") after @dead_after intervals with nothing received, and
 * TCP_USER_TIMEOUT at the same dead interval.  0: the defaults (100 ms,
 * 3).  peers_start() sets the defaults.  0, or -1 (no timer).
 */
int peers_set_liveness(struct peers *ps, uint32_t heartbeat_ms,
		       uint32_t dead_after);
/*
 * Something sent through @node got no answer (a relay session timed out):
 * probe the channel; without the echo within the dead interval it is dead.
 */
void peers_link_suspect(void *ps, const char *node);

/* ---- Read-only views (metadata, never key bytes) ---- */

enum peer_state {
	PEER_DOWN,		/* not connected; waiting for a retry */
	PEER_CONNECTING,	/* TCP/TLS handshake or hello in progress */
	PEER_UP,		/* hello exchanged, Kx-2 flowing */
	PEER_HELD,		/* (views) up again after a death, on hold */
};

const char *peer_state_name(enum peer_state s);

struct peer_info {
	char name[KM_NAME_MAX];
	char address[KM_ADDR_MAX];
	char cert_cn[KM_NAME_MAX];
	enum peer_state state;
	uint64_t epoch;			/* peer's start epoch from its hello */
	uint64_t connects;		/* successful hellos since start */
	uint64_t msgs_sent, msgs_received;
	uint32_t queued;		/* bytes waiting to be sent */
	uint64_t deaths;		/* channels declared dead (liveness) */
	uint64_t probes;		/* liveness probes after relay timeouts */
	char last_error[320];		/* ALARM_TEXT_MAX; never key bytes */
};

size_t peers_count(const struct peers *peers);
int peers_info(const struct peers *peers, size_t i, struct peer_info *out);

#endif /* QKD_PEER_H */
