// SPDX-License-Identifier: GPL-2.0
/*
 * Kx channel: TLS connections to the peer daemons, framing of kxmsg
 * messages, and their dispatch by type to the parts above.  See peer.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "kx/kxmsg.h"
#include "core/log.h"
#include "core/loop.h"
#include "kx/peer.h"
#include "kx/tls.h"

struct peers;

struct kx_conn {
	struct peers *ps;
	struct peer *peer;		/* known after the certificate check */
	struct tls_conn *tls;
	bool outbound;
	bool hello_rx;
	const char *why_closed;		/* our reason, if we ended it */
	struct kx_conn *next, **pprev;	/* on peers->conns until closed */
	struct kxmsg rx;		/* the message being handled */
};

struct peer {
	struct peers *ps;
	struct peer_cfg cfg;
	enum peer_state state;
	struct kx_conn *conn;		/* the connection in use (hello done) */
	struct kx_conn *dialing;	/* our outbound attempt, if any */
	struct loop_timer *retry;
	struct loop_timer *dial_timeout;	/* on our outbound attempt */
	uint64_t backoff_ms;
	uint64_t up_since_ms;
	uint64_t epoch;
	uint64_t connects, sent, received;
	char last_error[128];
};

struct peers {
	struct loop *loop;
	SSL_CTX *server_ctx, *client_ctx;
	char node[KM_NAME_MAX];
	uint64_t epoch;
	struct peer *peers;
	size_t n_peers;
	struct tls_listener *listener;
	struct kx_conn *conns;		/* every live connection */
	struct {			/* peers_on_message() */
		peers_rx_fn fn;
		void *arg;
	} rx[KXMSG_TYPE_END];
	/* Configuration 4: the central KM ("" = none), see peer.h. */
	char hub[KM_NAME_MAX];
	uint64_t hub_forwarded, hub_refused;
	struct kxmsg via;		/* scratch for hub traffic */
};

static void dial(struct peer *p);

static struct kx_conn *conn_new(struct peers *ps, struct peer *p,
				bool outbound)
{
	struct kx_conn *kc = calloc(1, sizeof(*kc));

	if (!kc)
		return NULL;
	kc->ps = ps;
	kc->peer = p;
	kc->outbound = outbound;
	kc->next = ps->conns;
	if (kc->next)
		kc->next->pprev = &kc->next;
	kc->pprev = &ps->conns;
	ps->conns = kc;
	return kc;
}

/* Off the list; a detached connection (ps NULL) is on none. */
static void conn_unlink(struct kx_conn *kc)
{
	if (!kc->pprev)
		return;
	*kc->pprev = kc->next;
	if (kc->next)
		kc->next->pprev = kc->pprev;
	kc->pprev = NULL;
	kc->next = NULL;
}

/* ---- helpers ---- */

int peer_parse_addr(const char *s, struct sockaddr_storage *ss,
		    socklen_t *len)
{
	char host[KM_ADDR_MAX];
	const char *colon = strrchr(s, ':');
	size_t hlen;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (!colon || colon == s)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535)
		return -1;
	hlen = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hlen < 3 || s[hlen - 1] != ']')
			return -1;
		s++;
		hlen -= 2;
	} else if (memchr(s, ':', hlen)) {
		return -1;	/* IPv6 needs its brackets */
	}
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr)
	    == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host,
		      &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -1;
}

bool peer_dials(const char *self, const char *peer)
{
	return strcmp(self, peer) < 0;
}

const char *peer_state_name(enum peer_state s)
{
	switch (s) {
	case PEER_DOWN:		return "down";
	case PEER_CONNECTING:	return "connecting";
	case PEER_UP:		return "up";
	}
	return "?";
}

static struct peer *peer_by_name(struct peers *ps, const char *name)
{
	for (size_t i = 0; i < ps->n_peers; i++)
		if (!strcmp(ps->peers[i].cfg.name, name))
			return &ps->peers[i];
	return NULL;
}

static struct peer *peer_by_cn(struct peers *ps, const char *cn)
{
	for (size_t i = 0; i < ps->n_peers; i++)
		if (!strcmp(ps->peers[i].cfg.cert_cn, cn))
			return &ps->peers[i];
	return NULL;
}

static void note_error(struct peer *p, const char *why)
{
	snprintf(p->last_error, sizeof(p->last_error), "%s", why);
}

static int conn_send(struct kx_conn *kc, const struct kxmsg *m)
{
	uint8_t buf[KXMSG_MAX_LEN];
	int n = kxmsg_encode(m, buf, sizeof(buf));

	if (n < 0)
		return -1;
	if (tls_conn_pending(kc->tls) > PEER_MAX_PENDING)
		return -1;
	return tls_conn_write(kc->tls, buf, (size_t)n);
}

static void send_error_and_close(struct kx_conn *kc, uint32_t code,
				 const char *text)
{
	struct kxmsg m = { .type = KXMSG_ERROR, .code = code };

	snprintf(m.text, sizeof(m.text), "%s", text);
	conn_send(kc, &m);
	tls_conn_close(kc->tls);
}

/* ---- reconnecting ---- */

static void retry_fire(void *arg)
{
	struct peer *p = arg;

	loop_timer_del(p->retry);
	p->retry = NULL;
	dial(p);
}

static void dial_timeout_stop(struct peer *p)
{
	loop_timer_del(p->dial_timeout);
	p->dial_timeout = NULL;
}

/* An attempt stuck in connect, handshake or hello is given up and retried. */
static void dial_timeout_fire(void *arg)
{
	struct peer *p = arg;

	dial_timeout_stop(p);
	if (!p->dialing)
		return;
	p->dialing->why_closed = "no hello within the dial timeout";
	tls_conn_abort(p->dialing->tls);	/* on_close schedules the retry */
}

static void schedule_retry(struct peer *p)
{
	if (!peer_dials(p->ps->node, p->cfg.name) || p->retry || p->dialing)
		return;
	p->retry = loop_timer_add(p->ps->loop, p->backoff_ms, false,
				  retry_fire, p);
	p->backoff_ms *= 2;
	if (p->backoff_ms > PEER_BACKOFF_MAX_MS)
		p->backoff_ms = PEER_BACKOFF_MAX_MS;
}

/* ---- connection callbacks ---- */

static void send_hello(struct kx_conn *kc)
{
	struct kxmsg m = { .type = KXMSG_HELLO, .epoch = kc->ps->epoch };

	snprintf(m.node, sizeof(m.node), "%s", kc->ps->node);
	if (conn_send(kc, &m))
		tls_conn_close(kc->tls);
}

static void on_open(struct tls_conn *c, void *arg)
{
	struct kx_conn *kc = arg;
	const char *cn = tls_conn_peer_name(c);
	struct peer *p;

	if (!kc->ps) {		/* peers_stop() ran */
		tls_conn_close(c);
		return;
	}
	p = peer_by_cn(kc->ps, cn);
	if (!p || (kc->outbound && p != kc->peer)) {
		log_warn("Kx: refused connection from certificate CN \"%s\": not a configured peer",
			 cn);
		tls_conn_close(c);
		return;
	}
	kc->peer = p;
	tls_conn_set_coalesce(c, PEER_COALESCE_MS);
	send_hello(kc);
}

static void peer_up(struct kx_conn *kc, const struct kxmsg *m)
{
	struct peer *p = kc->peer;
	struct kx_conn *old = p->conn;

	kc->hello_rx = true;
	tls_conn_admit(kc->tls);
	p->conn = kc;
	if (p->dialing == kc) {
		p->dialing = NULL;
		dial_timeout_stop(p);
	}
	p->state = PEER_UP;
	p->epoch = m->epoch;
	p->connects++;
	p->up_since_ms = loop_now_ms();
	p->last_error[0] = '\0';
	log_notice("Kx: peer %s up (%s)", p->cfg.name,
		   kc->outbound ? "outbound" : "inbound");
	if (old && old != kc) {
		old->peer = NULL;	/* replaced: its close changes nothing */
		tls_conn_close(old->tls);
	}
}

static bool is_hub(const struct peers *ps)
{
	return ps->hub[0] && !strcmp(ps->hub, ps->node);
}

/* True if @a and @b are next to each other on @m's relay route. */
static bool route_neighbours(const struct kxmsg *m, const char *a,
			     const char *b)
{
	for (uint32_t i = 0; i + 1 < m->n_hops; i++)
		if ((!strcmp(m->hops[i], a) && !strcmp(m->hops[i + 1], b)) ||
		    (!strcmp(m->hops[i], b) && !strcmp(m->hops[i + 1], a)))
			return true;
	return false;
}

/*
 * Central KM: pass @m from @p on to its VIA_TO node, naming @p as
 * VIA_FROM.  Relay messages only go between neighbours on their route,
 * so the central KM drives each hop and nothing else.
 */
static void hub_forward(struct peers *ps, struct peer *p,
			const struct kxmsg *m)
{
	struct peer *to = peer_by_name(ps, m->via_to);
	bool relay = m->type == KXMSG_RELAY_START ||
		     m->type == KXMSG_RELAY_KEY ||
		     m->type == KXMSG_RELAY_ACK;
	const char *why = NULL;

	if (!to || to == p)
		why = "addressee is not a node of this central KM";
	else if (relay && !route_neighbours(m, p->cfg.name, to->cfg.name))
		why = "relay message between nodes that are not neighbours on its route";
	else if (!to->conn || to->state != PEER_UP)
		why = "addressee is not connected";
	if (!why) {
		ps->via = *m;
		ps->via.via_to[0] = '\0';
		snprintf(ps->via.via_from, sizeof(ps->via.via_from), "%s",
			 p->cfg.name);
		if (conn_send(to->conn, &ps->via))
			why = "cannot queue it for the addressee";
		else
			to->sent++;
		OPENSSL_cleanse(&ps->via, sizeof(ps->via));
	}
	if (why) {
		ps->hub_refused++;
		log_warn("Kx central KM: %s from %s for %s dropped: %s",
			 kxmsg_type_name(m->type), p->cfg.name, m->via_to,
			 why);
		return;
	}
	ps->hub_forwarded++;
}

static int handle_msg(struct kx_conn *kc, const struct kxmsg *m)
{
	struct peer *p = kc->peer;
	const char *from = p->cfg.name;

	if (!kc->hello_rx) {
		if (m->type != KXMSG_HELLO || strcmp(m->node, p->cfg.name)) {
			log_warn("Kx: connection with certificate CN \"%s\" sent %s \"%s\", not hello as node %s",
				 p->cfg.cert_cn, kxmsg_type_name(m->type),
				 m->type == KXMSG_HELLO ? m->node : "",
				 p->cfg.name);
			send_error_and_close(kc, KXC_NOT_PEER,
					     "hello with the wrong node name");
			return -1;
		}
		peer_up(kc, m);
		return 0;
	}
	p->received++;
	if (m->via_to[0] && is_hub(kc->ps) && !m->via_from[0]) {
		hub_forward(kc->ps, p, m);
		return 0;
	}
	if (m->via_to[0] || (m->via_from[0] && (is_hub(kc->ps) ||
						strcmp(from, kc->ps->hub)))) {
		send_error_and_close(kc, KXC_BAD_MESSAGE,
				     "forwarding is the central KM's job");
		return -1;
	}
	if (m->via_from[0])
		from = m->via_from;	/* vouched for by our central KM */
	switch (m->type) {
	case KXMSG_ERROR:
		log_warn("Kx: peer %s reports: %s (%s)", p->cfg.name,
			 kxmsg_code_name(m->code), m->text);
		tls_conn_close(kc->tls);
		return -1;
	case KXMSG_HELLO:
		send_error_and_close(kc, KXC_BAD_MESSAGE, "unexpected hello");
		return -1;
	default:
		break;
	}
	if (!kc->ps->rx[m->type].fn) {
		send_error_and_close(kc, KXC_BAD_MESSAGE,
				     "message type not served here");
		return -1;
	}
	kc->ps->rx[m->type].fn(kc->ps->rx[m->type].arg, from, m);
	return 0;
}

static int on_data(struct tls_conn *c, void *arg)
{
	struct kx_conn *kc = arg;
	struct kxmsg *m = &kc->rx;	/* tls.c does not nest on_data */
	const uint8_t *in;
	size_t len;
	char why[64];
	int n, rc = 0;

	if (!kc->peer)		/* refused or replaced: ignore the rest */
		return 0;
	while (rc == 0) {
		in = tls_conn_input(c, &len);
		if (!len)
			break;
		n = kxmsg_decode(in, len, m, why, sizeof(why));
		if (n == KXMSG_INCOMPLETE)
			break;
		if (n < 0) {
			log_warn("Kx: bad message from peer %s: %s",
				 kc->peer->cfg.name, why);
			send_error_and_close(kc, KXC_BAD_MESSAGE, why);
			break;
		}
		tls_conn_consume(c, (size_t)n);
		rc = handle_msg(kc, m);
	}
	return 0;
}

/* Why @kc ended, for peer show: our own reason first, then TLS's. */
static const char *close_reason(struct kx_conn *kc, struct tls_conn *c,
				const char *fallback)
{
	if (kc->why_closed)
		return kc->why_closed;
	return tls_conn_error(c)[0] ? tls_conn_error(c) : fallback;
}

static void on_close(struct tls_conn *c, void *arg)
{
	struct kx_conn *kc = arg;
	struct peer *p = kc->peer;

	if (p && p->dialing == kc) {
		p->dialing = NULL;
		dial_timeout_stop(p);
	}
	if (p && p->conn == kc) {
		p->conn = NULL;
		p->state = PEER_DOWN;
		/* A peer that keeps failing right after hello is not
		 * retried at full speed; one that was up a while is. */
		if (loop_now_ms() - p->up_since_ms > PEER_BACKOFF_MAX_MS)
			p->backoff_ms = PEER_BACKOFF_MIN_MS;
		note_error(p, close_reason(kc, c, "connection closed"));
		log_notice("Kx: peer %s down: %s", p->cfg.name,
			   p->last_error);
	} else if (p && kc->outbound) {
		note_error(p, close_reason(kc, c, "connection failed"));
		if (p->state != PEER_UP)
			p->state = PEER_DOWN;
	}
	if (p)
		schedule_retry(p);
	conn_unlink(kc);
	free(kc);
}

static const struct tls_conn_ops kx_ops = {
	.on_open = on_open,
	.on_data = on_data,
	.on_close = on_close,
};

/* ---- dialing and listening ---- */

/*
 * Kx messages are small and often answered at once (relay hops, acks):
 * without this, Nagle's algorithm and delayed ACKs add ~40 ms stalls.
 */
static void no_delay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void dial(struct peer *p)
{
	struct peers *ps = p->ps;
	struct sockaddr_storage ss;
	struct kx_conn *kc;
	socklen_t slen;
	int fd;

	if (p->conn || p->dialing)
		return;
	if (peer_parse_addr(p->cfg.address, &ss, &slen))
		return;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	kc = conn_new(ps, p, true);
	if (fd >= 0)
		no_delay(fd);
	if (fd < 0 || !kc ||
	    (connect(fd, (struct sockaddr *)&ss, slen) < 0 &&
	     errno != EINPROGRESS)) {
		note_error(p, strerror(errno));
		goto fail;
	}
	kc->tls = tls_conn_connect(ps->loop, ps->client_ctx, fd,
				   p->cfg.cert_cn, PEER_MAX_INPUT, &kx_ops, kc);
	if (!kc->tls) {
		note_error(p, "TLS setup failed");
		goto fail;
	}
	p->dialing = kc;
	p->dial_timeout = loop_timer_add(ps->loop, PEER_DIAL_TIMEOUT_MS, false,
					 dial_timeout_fire, p);
	if (p->state == PEER_DOWN)
		p->state = PEER_CONNECTING;
	return;
fail:
	if (fd >= 0)
		close(fd);
	if (kc)
		conn_unlink(kc);
	free(kc);
	schedule_retry(p);
}

/*
 * The listener's accept callback.  It bounds the connection until the
 * peer's hello (peer_up() admits it): a connection that proves nothing
 * within TLS_HANDSHAKE_MS, TLS and hello both, is cut.
 */
static struct tls_conn *on_accept(void *arg, int fd)
{
	struct peers *ps = arg;
	struct kx_conn *kc = conn_new(ps, NULL, false);

	if (!kc)
		return NULL;
	no_delay(fd);
	kc->tls = tls_conn_accept(ps->loop, ps->server_ctx, fd,
				  PEER_MAX_INPUT, &kx_ops, kc);
	if (!kc->tls) {
		conn_unlink(kc);
		free(kc);
		return NULL;
	}
	return kc->tls;
}

static int listen_on(struct peers *ps, const char *addr, char *err,
		     size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	int fd, one = 1;

	if (peer_parse_addr(addr, &ss, &slen)) {
		snprintf(err, errlen, "kx listen %s: bad address", addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, slen) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		snprintf(err, errlen, "kx listen %s: %s", addr,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ps->listener = tls_listener_new(ps->loop, fd, "Kx", NULL, on_accept,
					ps);
	if (!ps->listener) {
		snprintf(err, errlen, "kx listen: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return 0;
}

/* ---- KSA transport ---- */

/* A node we reach only through our central KM (configuration 4). */
static struct peer *via_hub(struct peers *ps, const char *node)
{
	if (!ps->hub[0] || is_hub(ps) || peer_by_name(ps, node))
		return NULL;
	return peer_by_name(ps, ps->hub);
}

int peers_send(void *arg, const char *node, const struct kxmsg *m)
{
	struct peers *ps = arg;
	struct peer *p = peer_by_name(ps, node), *hub = via_hub(ps, node);
	int rc;

	if (hub)
		p = hub;
	if (!p || !p->conn)
		return -1;
	if (hub || m->via_from[0]) {
		/* Passing on a message the hub brought (RELAY_ACK): the
		 * forwarding marks are the hub's to set, per message. */
		ps->via = *m;
		ps->via.via_from[0] = '\0';
		snprintf(ps->via.via_to, sizeof(ps->via.via_to), "%s",
			 hub ? node : "");
		rc = conn_send(p->conn, &ps->via);
		OPENSSL_cleanse(&ps->via, sizeof(ps->via));
	} else {
		rc = conn_send(p->conn, m);
	}
	if (rc)
		return -1;
	p->sent++;
	return 0;
}

bool peers_is_up(void *arg, const char *node)
{
	struct peer *p = via_hub(arg, node);

	if (!p)
		p = peer_by_name(arg, node);
	return p && p->state == PEER_UP && p->conn &&
	       tls_conn_pending(p->conn->tls) <= PEER_MAX_PENDING;
}

void peers_set_hub(struct peers *ps, const char *hub)
{
	snprintf(ps->hub, sizeof(ps->hub), "%s", hub ? hub : "");
}

void peers_hub_stats(const struct peers *ps, uint64_t *forwarded,
		     uint64_t *refused)
{
	*forwarded = ps->hub_forwarded;
	*refused = ps->hub_refused;
}

void peers_on_message(struct peers *ps, enum kxmsg_type type,
		      peers_rx_fn fn, void *arg)
{
	ps->rx[type].fn = fn;
	ps->rx[type].arg = arg;
}

/* ---- public ---- */

static uint64_t new_epoch(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct peers *peers_start(struct loop *loop, SSL_CTX *server_ctx,
			  SSL_CTX *client_ctx, const struct km_node_cfg *node,
			  const struct peer_cfg *cfgs, size_t n_peers,
			  const char *kx_listen, char *err, size_t errlen)
{
	struct peers *ps = calloc(1, sizeof(*ps));
	struct sockaddr_storage ss;
	socklen_t slen;

	if (ps)
		ps->peers = calloc(n_peers ? n_peers : 1, sizeof(*ps->peers));
	if (!ps || !ps->peers) {
		free(ps);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ps->loop = loop;
	ps->server_ctx = server_ctx;
	ps->client_ctx = client_ctx;
	ps->epoch = new_epoch();
	snprintf(ps->node, sizeof(ps->node), "%s", node->name);
	ps->n_peers = n_peers;
	for (size_t i = 0; i < n_peers; i++) {
		struct peer *p = &ps->peers[i];

		p->ps = ps;
		p->cfg = cfgs[i];
		p->backoff_ms = PEER_BACKOFF_MIN_MS;
		if (peer_parse_addr(p->cfg.address, &ss, &slen)) {
			snprintf(err, errlen, "peer %s: bad address %s",
				 p->cfg.name, p->cfg.address);
			goto fail;
		}
	}
	if (kx_listen && *kx_listen && listen_on(ps, kx_listen, err, errlen))
		goto fail;
	for (size_t i = 0; i < n_peers; i++)
		if (peer_dials(ps->node, ps->peers[i].cfg.name))
			dial(&ps->peers[i]);
	return ps;
fail:
	peers_stop(ps);
	return NULL;
}

void peers_stop(struct peers *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->n_peers; i++) {
		struct peer *p = &ps->peers[i];

		if (p->retry)
			loop_timer_del(p->retry);
		p->retry = NULL;
		dial_timeout_stop(p);
	}
	/* Connections outlive us until the loop closes them: detach. */
	while (ps->conns) {
		struct kx_conn *kc = ps->conns;

		conn_unlink(kc);
		kc->ps = NULL;
		kc->peer = NULL;
		tls_conn_abort(kc->tls);	/* no goodbyes on the way out */
	}
	tls_listener_free(ps->listener);
	free(ps->peers);
	free(ps);
}

size_t peers_count(const struct peers *ps)
{
	return ps ? ps->n_peers : 0;
}

int peers_info(const struct peers *ps, size_t i, struct peer_info *out)
{
	const struct peer *p;

	if (!ps || i >= ps->n_peers)
		return -1;
	p = &ps->peers[i];
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", p->cfg.name);
	snprintf(out->address, sizeof(out->address), "%s", p->cfg.address);
	snprintf(out->cert_cn, sizeof(out->cert_cn), "%s", p->cfg.cert_cn);
	out->state = p->state;
	out->epoch = p->epoch;
	out->connects = p->connects;
	out->msgs_sent = p->sent;
	out->msgs_received = p->received;
	out->queued = p->conn ? (uint32_t)tls_conn_pending(p->conn->tls) : 0;
	snprintf(out->last_error, sizeof(out->last_error), "%s",
		 p->last_error);
	return 0;
}
