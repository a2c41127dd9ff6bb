// SPDX-License-Identifier: GPL-2.0
/*
 * Kx channel: TLS connections to the peer daemons, framing of kxmsg
 * messages, and their dispatch by type to the parts above.  See peer.h.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "kx/kxmsg.h"
#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "kx/liveness.h"
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
	char from[INET6_ADDRSTRLEN];	/* inbound: the source address */
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
	/* Types sent to us that nothing here serves (one bit each, warned
	 * once): a consumer configured at the other end only. */
	uint64_t unserved_types;
	char last_error[ALARM_TEXT_MAX];
	/* Liveness (liveness.h) of the channel in use. */
	struct liveness lv;
	uint64_t beat_seq, probes;
	bool alarmed;			/* "kx:NAME" raised, not cleared yet */
	char alarm_text[ALARM_TEXT_MAX];	/* as last raised */
	uint64_t down_since_ms;		/* not up since (peer_alarm_tick()) */
	bool cert_fault;		/* last_error is a refused handshake */
	/* Fast rejoin: a TCP connect probe while waiting to retry. */
	int probe_fd;
	struct loop_watch *probe_watch;
	uint64_t probe_started_ms;
	bool probe_armed;		/* a regular dial failed since */
	bool probe_dial;		/* the attempt in flight came of a probe */
};
static_assert(KXMSG_TYPE_END <= 64, "peer.unserved_types: a bit per type");

struct peers {
	struct loop *loop;
	SSL_CTX *server_ctx, *client_ctx;
	char node[KM_NAME_MAX];
	uint64_t epoch;
	struct peer **peers;		/* each its own: conns point to it */
	size_t n_peers;
	struct tls_listener *listener;
	struct kx_conn *conns;		/* every live connection */
	struct {			/* peers_on_message() */
		peers_rx_fn fn;
		void *arg;
	} rx[KXMSG_TYPE_END];
	peers_up_fn on_up;		/* peers_on_up() */
	void *on_up_arg;
	/* Configuration 4: the central KM ("" = none), see peer.h. */
	char hub[KM_NAME_MAX];
	uint64_t hub_forwarded, hub_refused;
	struct kxmsg via;		/* scratch for hub traffic */
	/* Liveness: heartbeat interval, missed beats to death. */
	uint32_t beat_ms, dead_after;
	struct loop_timer *beat_timer;
	uint32_t tick_ms;
	uint64_t last_tick_ms;		/* when beat_tick() last ran */
	uint64_t last_probe_ms;
	/* Outgoing connections leave from the listen address, if specific. */
	struct sockaddr_storage src;
	socklen_t src_len;
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
	case PEER_HELD:		return "held";
	}
	return "?";
}

static struct peer *peer_by_name(struct peers *ps, const char *name)
{
	for (size_t i = 0; i < ps->n_peers; i++)
		if (!strcmp(ps->peers[i]->cfg.name, name))
			return ps->peers[i];
	return NULL;
}

static struct peer *peer_by_cn(struct peers *ps, const char *cn)
{
	for (size_t i = 0; i < ps->n_peers; i++)
		if (!strcmp(ps->peers[i]->cfg.cert_cn, cn))
			return ps->peers[i];
	return NULL;
}

static void note_error(struct peer *p, const char *why)
{
	snprintf(p->last_error, sizeof(p->last_error), "%s", why);
	p->cert_fault = false;
}

/* ---- alarms (core/alarm.h) ---- */

/* Operator prose, cut to fit: a long name shortens it, nothing worse. */
static void say(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

void peers_alarm_source(const char *peer, char *buf, size_t len)
{
	size_t n = strlen(peer);

	if (n > len - 4)
		n = len - 4;
	memcpy(buf, "kx:", 3);
	memcpy(buf + 3, peer, n);
	buf[3 + n] = '\0';
}

static void alarm_source(const struct peer *p, char *buf, size_t len)
{
	peers_alarm_source(p->cfg.name, buf, len);
}

/*
 * Raise (or update) the alarm of the Kx channel to @p, object
 * "peer=NAME".  The same words again change nothing, so that a peer
 * refused at every retry is one alarm, not one per second.
 */
static void peer_alarm(struct peer *p, enum alarm_type type,
		       const char *cause, enum alarm_severity sev,
		       const char *text)
{
	char src[ALARM_SOURCE_MAX], obj[ALARM_OBJECT_MAX];
	struct alarm_desc d = {
		.object = obj, .type = type, .cause = cause, .severity = sev,
	};

	if (p->alarmed && !strcmp(p->alarm_text, text))
		return;
	alarm_source(p, src, sizeof(src));
	say(obj, sizeof(obj), "peer=%s", p->cfg.name);
	alarm_raise_desc(src, &d, "%s", text);
	snprintf(p->alarm_text, sizeof(p->alarm_text), "%s", text);
	p->alarmed = true;
}

static void peer_alarm_clear(struct peer *p)
{
	char src[ALARM_SOURCE_MAX];

	if (!p->alarmed)
		return;
	p->alarmed = false;
	p->alarm_text[0] = '\0';
	alarm_source(p, src, sizeof(src));
	alarm_clear(src);
}

/* An inbound connection's source address, as text ("" if unknown). */
static void source_address(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const void *a;

	buf[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	a = ss.ss_family == AF_INET ?
	    (const void *)&((struct sockaddr_in *)&ss)->sin_addr :
	    (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (!inet_ntop(ss.ss_family, a, buf, (socklen_t)len))
		buf[0] = '\0';
}

/*
 * The peer whose configured address has host @ip, if exactly one has:
 * before a certificate names it, that is all an inbound connection tells.
 * (Peers sharing an address, as on one test host, stay unnamed.)
 */
static struct peer *peer_by_ip(struct peers *ps, const char *ip)
{
	struct peer *found = NULL;
	struct sockaddr_storage ss;
	char host[INET6_ADDRSTRLEN];
	socklen_t sl;
	const void *a;

	if (!ip[0])
		return NULL;
	for (size_t i = 0; i < ps->n_peers; i++) {
		if (peer_parse_addr(ps->peers[i]->cfg.address, &ss, &sl))
			continue;
		a = ss.ss_family == AF_INET ?
		    (const void *)&((struct sockaddr_in *)&ss)->sin_addr :
		    (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
		if (!inet_ntop(ss.ss_family, a, host, sizeof(host)) ||
		    strcmp(host, ip))
			continue;
		if (found)
			return NULL;
		found = ps->peers[i];
	}
	return found;
}

static bool unknown_ca(int e)
{
	return e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	       e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	       e == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	       e == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	       e == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
	       e == X509_V_ERR_CERT_UNTRUSTED ||
	       e == X509_V_ERR_CERT_SIGNATURE_FAILURE;
}

/*
 * What to fix when the handshake with @who (a peer name, or "the node at
 * ADDR") was refused, by us (its certificate) or by it (ours): the words
 * into @buf, true; false if @r shows no refusal.  @cfg_cn: the CN we
 * expect of it, if we know; @it_serves: it was the TLS server, so its
 * certificate needed serverAuth (else clientAuth).
 */
static bool describe_refusal(const struct peers *ps,
			     const struct tls_refusal *r, const char *who,
			     const char *cfg_cn, bool it_serves,
			     char *buf, size_t len)
{
	int e = r->verify_error, al = r->alert_received;
	const char *cn = r->cn[0] ? r->cn : "?";

	if (e == X509_V_ERR_HOSTNAME_MISMATCH)
		say(buf, len, "Kx handshake refused: %s's certificate has CN \"%s\" where \"%s\" was configured (cert_cn): reissue it with CN %s, or correct cert_cn",
			 who, cn, cfg_cn ? cfg_cn : "?", cfg_cn ? cfg_cn : "?");
	else if (unknown_ca(e))
		say(buf, len, "Kx handshake refused: %s's certificate (CN \"%s\", issuer \"%s\") is from an unknown CA (%s): issue it from the CA in our [tls] ca, or add its CA there",
			 who, cn, r->issuer, X509_verify_cert_error_string(e));
	else if (e == X509_V_ERR_CERT_HAS_EXPIRED)
		say(buf, len, "Kx handshake refused: %s's certificate (CN \"%s\") %sexpired on %s: renew it",
			 who, cn, r->depth ? "chain has a CA that " : "",
			 r->not_after);
	else if (e == X509_V_ERR_CERT_NOT_YET_VALID)
		say(buf, len, "Kx handshake refused: %s's certificate (CN \"%s\") is not valid yet: check the clocks of both nodes",
			 who, cn);
	else if (e == X509_V_ERR_INVALID_PURPOSE)
		say(buf, len, "Kx handshake refused: %s's certificate (CN \"%s\") lacks the extended key usage %s (wrong EKU): Kx certificates need both serverAuth and clientAuth",
			 who, cn, it_serves ? "serverAuth it needs to accept our connections" :
			 "clientAuth it needs to dial us");
	else if (e)
		say(buf, len, "Kx handshake refused: %s's certificate (CN \"%s\"): %s",
			 who, cn, X509_verify_cert_error_string(e));
	else if (al == SSL_AD_UNKNOWN_CA)
		say(buf, len, "Kx handshake refused by %s (TLS alert \"%s\"): it does not trust the CA of our certificate: have ours issued from the CA in its [tls] ca, or add our CA there",
			 who, tls_alert_name(al));
	else if (al == SSL_AD_CERTIFICATE_EXPIRED)
		say(buf, len, "Kx handshake refused by %s (TLS alert \"%s\"): our certificate has expired: renew our [tls] cert",
			 who, tls_alert_name(al));
	else if (al == SSL_AD_UNSUPPORTED_CERTIFICATE)
		say(buf, len, "Kx handshake refused by %s (TLS alert \"%s\"): our certificate lacks the extended key usage it needs (wrong EKU): give it both serverAuth and clientAuth",
			 who, tls_alert_name(al));
	else if (al)
		say(buf, len, "Kx handshake refused by %s (TLS alert \"%s\"): it does not accept our certificate: check that its CN is what %s has as cert_cn for %s, and see %s's log",
			 who, tls_alert_name(al), who, ps->node, who);
	else
		return false;
	return true;
}

/* A refused handshake or identity with @p: note it and raise at once. */
static void peer_refused(struct peer *p, const char *text)
{
	snprintf(p->last_error, sizeof(p->last_error), "%s", text);
	p->cert_fault = true;
	/* Once per mistake: every retry meets it again. */
	if (!p->alarmed || strcmp(p->alarm_text, text))
		log_warn("Kx: %s", text);
	peer_alarm(p, ALARM_SECURITY, "authenticationFailure", ALARM_CRITICAL,
		   text);
}

/*
 * The same, for a connection no peer could be named for (several peers
 * share its address): one alarm per source address, "kx-from:ADDR",
 * cleared once a peer from there comes up.
 */
static void source_refused(const char *from, const char *text)
{
	char src[ALARM_SOURCE_MAX], obj[ALARM_OBJECT_MAX];
	struct alarm_desc d = {
		.object = obj, .type = ALARM_SECURITY,
		.cause = "authenticationFailure", .severity = ALARM_CRITICAL,
	};

	say(src, sizeof(src), "kx-from:%s", from[0] ? from : "?");
	say(obj, sizeof(obj), "kx-source=%s", from[0] ? from : "?");
	if (!alarm_is_active(src))	/* once, not at every retry */
		log_warn("Kx: %s", text);
	alarm_raise_desc(src, &d, "%s", text);
}

static int conn_send(struct kx_conn *kc, const struct kxmsg *m)
{
	uint8_t buf[KXMSG_MAX_LEN];
	int n = kxmsg_encode(m, buf, sizeof(buf));

	if (n < 0)
		return -1;
	if (tls_conn_pending(kc->tls) > PEER_MAX_PENDING)
		return -1;
	if (tls_conn_write(kc->tls, buf, (size_t)n))
		return -1;
	if (kc->peer && kc->peer->conn == kc)
		liveness_tx(&kc->peer->lv, loop_now_ms());
	return 0;
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
	/* Probe while waiting, unless a probe brought on the failed dial
	 * (a peer that accepts TCP but not us: the back-off paces it). */
	p->probe_armed = !p->probe_dial;
	p->probe_dial = false;
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

/*
 * A verified certificate whose CN is no peer's: say so in the log, in an
 * alarm, and to the dialer (an error before hello), so that both ends
 * know what to fix.
 */
static void refuse_cn(struct kx_conn *kc, struct tls_conn *c, const char *cn)
{
	struct peers *ps = kc->ps;
	struct peer *p = kc->outbound ? kc->peer : peer_by_ip(ps, kc->from);
	struct kxmsg m = { .type = KXMSG_ERROR, .code = KXC_NOT_PEER };
	char text[ALARM_TEXT_MAX];

	if (p)
		say(text, sizeof(text), "Kx handshake refused: %s's certificate has CN \"%s\" where \"%s\" was configured (cert_cn): reissue it with CN %s, or correct cert_cn",
			 p->cfg.name, cn, p->cfg.cert_cn, p->cfg.cert_cn);
	else
		say(text, sizeof(text), "Kx connection from %s refused: its certificate has CN \"%s\", which is no [peer]'s cert_cn here: correct the cert_cn of that peer, or reissue its certificate",
			 kc->from[0] ? kc->from : "?", cn);
	if (p)
		peer_refused(p, text);
	else
		source_refused(kc->from, text);
	snprintf(m.text, sizeof(m.text), "%s has no peer with certificate CN \"%s\"",
		 ps->node, cn);
	if (kc->outbound)	/* on_close retries the dial */
		kc->why_closed = "refused: certificate CN (see alarm)";
	else			/* not to be taken for @p's channel */
		kc->peer = NULL;
	conn_send(kc, &m);
	tls_conn_close(c);
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
		refuse_cn(kc, c, cn);
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
	p->probe_dial = false;
	p->down_since_ms = 0;
	p->cert_fault = false;
	if (!kc->outbound && kc->from[0]) {
		char src[ALARM_SOURCE_MAX];

		say(src, sizeof(src), "kx-from:%s", kc->from);
		alarm_clear(src);
	}
	liveness_open(&p->lv, loop_now_ms());
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
	if (kc->ps->on_up)
		kc->ps->on_up(kc->ps->on_up_arg, p->cfg.name);
}

void peers_on_up(struct peers *ps, peers_up_fn fn, void *arg)
{
	ps->on_up = fn;
	ps->on_up_arg = arg;
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
	/*
	 * Link agreement asks again every second until the other node is
	 * there, and confirmation runs all the time: neither is counted or
	 * logged as key traffic (kma/confirm.h).
	 */
	bool confirm = m->type == KXMSG_LINK_PARAMS ||
		       m->type == KXMSG_CONFIRM ||
		       m->type == KXMSG_CONFIRM_ACK;
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
	if (why && confirm) {
		log_debug("Kx central KM: %s from %s for %s dropped: %s",
			  kxmsg_type_name(m->type), p->cfg.name, m->via_to,
			  why);
		return;
	}
	if (why) {
		ps->hub_refused++;
		log_warn("Kx central KM: %s from %s for %s dropped: %s",
			 kxmsg_type_name(m->type), p->cfg.name, m->via_to,
			 why);
		return;
	}
	if (!confirm)
		ps->hub_forwarded++;
}

/* ---- liveness ---- */

static int send_beat(struct kx_conn *kc, uint32_t code, uint64_t seq)
{
	struct kxmsg *m = &kc->ps->via;
	int rc;

	kxmsg_clear(m, KXMSG_HEARTBEAT);
	m->code = code;
	m->seq = seq;
	rc = conn_send(kc, m);
	if (!rc)
		kc->peer->sent++;
	return rc;
}

static void on_heartbeat(struct kx_conn *kc, const struct kxmsg *m)
{
	struct peer *p = kc->peer;

	if (p->conn != kc)
		return;
	if (m->code == KX_BEAT_PROBE)
		send_beat(kc, KX_BEAT_ECHO, m->seq);
	else if (m->code == KX_BEAT_ECHO && m->seq == p->beat_seq)
		liveness_echo(&p->lv, loop_now_ms());
}

/*
 * The channel in use went silent: close it now.  Its link leaves routing
 * with it (lsa.c sees peers_is_up() false at its next tick, as for
 * "qkdctl link down"), and the next channel is held (liveness.h).
 */
static void peer_dead(struct peer *p, const char *why)
{
	char text[ALARM_TEXT_MAX];

	liveness_died(&p->lv, loop_now_ms());
	say(text, sizeof(text), "Kx channel to %s dead: %s; link out of routing: check the network path to %s (%s) and that its qkdkmd runs",
		 p->cfg.name, why, p->cfg.name, p->cfg.address);
	peer_alarm(p, ALARM_COMMUNICATIONS, "lossOfSignal", ALARM_MAJOR, text);
	log_warn("Kx: peer %s dead: %s (held %llu ms when back)", p->cfg.name,
		 why, (unsigned long long)liveness_hold_ms(&p->lv));
	p->conn->why_closed = why;
	tls_conn_abort(p->conn->tls);	/* on_close marks it down */
}

static void probe_stop(struct peer *p)
{
	if (p->probe_watch)
		loop_watch_del(p->probe_watch);
	p->probe_watch = NULL;
	if (p->probe_fd >= 0)
		close(p->probe_fd);
	p->probe_fd = -1;
}

static int bind_src(struct peers *ps, int fd)
{
	if (!ps->src_len)
		return 0;
	return bind(fd, (struct sockaddr *)&ps->src, ps->src_len);
}

/* The address accepts connections again: dial now, back-off from the start. */
static void probe_accepted(struct peer *p)
{
	probe_stop(p);
	if (p->conn || p->dialing || !p->retry)
		return;
	loop_timer_del(p->retry);
	p->retry = NULL;
	p->backoff_ms = PEER_BACKOFF_MIN_MS;
	log_info("Kx: peer %s accepts connections again: dialing now",
		 p->cfg.name);
	p->probe_dial = true;	/* a failure now waits for the back-off */
	dial(p);
}

static void probe_ready(void *arg, uint32_t revents)
{
	struct peer *p = arg;
	socklen_t len = sizeof(int);
	int err = 0;

	if ((revents & POLLNVAL) ||
	    getsockopt(p->probe_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = EBADF;
	if (err) {
		probe_stop(p);
		return;
	}
	probe_accepted(p);
}

/*
 * A cheap TCP connect to a peer we wait to redial: no TLS, closed at
 * once.  A restarted peer is so found within PEER_PROBE_MS of listening
 * instead of at the end of a back-off of up to PEER_BACKOFF_MAX_MS.
 */
static void probe_start(struct peer *p)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	int fd;

	probe_stop(p);		/* one at a time; a silent one is given up */
	if (peer_parse_addr(p->cfg.address, &ss, &slen))
		return;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return;
	if (bind_src(p->ps, fd) < 0) {
		close(fd);
		return;
	}
	p->probe_fd = fd;
	p->probe_started_ms = loop_now_ms();
	if (connect(fd, (struct sockaddr *)&ss, slen) == 0) {
		probe_accepted(p);
		return;
	}
	if (errno != EINPROGRESS) {
		probe_stop(p);
		return;
	}
	p->probe_watch = loop_watch_add(p->ps->loop, fd, POLLOUT, probe_ready,
					p);
	if (!p->probe_watch)
		probe_stop(p);
}

/*
 * A peer not up for PEER_ALARM_GRACE_MS (a restart, the first connection
 * of both starting) gets an alarm naming what the last attempt met.
 */
static void peer_alarm_tick(struct peer *p, uint64_t now)
{
	bool dials = peer_dials(p->ps->node, p->cfg.name);
	char text[ALARM_TEXT_MAX];

	if (!p->down_since_ms)
		p->down_since_ms = now;
	if (p->cert_fault || now - p->down_since_ms < PEER_ALARM_GRACE_MS)
		return;
	if (dials && p->last_error[0])
		say(text, sizeof(text), "no Kx channel to %s: connecting to %s failed: %s: check that qkdkmd runs on %s and listens there ([peer %s] address)",
			 p->cfg.name, p->cfg.address, p->last_error,
			 p->cfg.name, p->cfg.name);
	else if (p->last_error[0])
		say(text, sizeof(text), "no Kx channel to %s: the last one ended: %s; %s dials this node: check that qkdkmd runs on %s and that its [peer %s] address is our [kx] listen",
			 p->cfg.name, p->last_error, p->cfg.name,
			 p->cfg.name, p->ps->node);
	else
		say(text, sizeof(text), "no Kx channel to %s yet: %s dials this node: check that qkdkmd runs on %s and that its [peer %s] address is our [kx] listen",
			 p->cfg.name, p->cfg.name, p->cfg.name, p->ps->node);
	if (p->alarmed && !strncmp(p->alarm_text, "Kx channel to", 13))
		return;		/* the death or close said it already */
	peer_alarm(p, ALARM_COMMUNICATIONS, "connectionEstablishmentError",
		   ALARM_MAJOR, text);
}

static void beat_tick(void *arg)
{
	struct peers *ps = arg;
	uint64_t now = loop_now_ms();
	bool probe = now - ps->last_probe_ms >= PEER_PROBE_MS;
	uint64_t late = now - ps->last_tick_ms;

	if (probe)
		ps->last_probe_ms = now;
	/* Our own loop did not run for a while: the input that came meanwhile
	 * is still unread, so that time is not the peers' silence. */
	late = ps->last_tick_ms && late > 2 * ps->tick_ms ?
	       late - ps->tick_ms : 0;
	if (late * 2 >= (uint64_t)ps->beat_ms * ps->dead_after)
		log_info("Kx: event loop stalled %llu ms: not counted as peer silence",
			 (unsigned long long)late);
	ps->last_tick_ms = now;
	for (size_t i = 0; i < ps->n_peers; i++) {
		struct peer *p = ps->peers[i];

		if (!p->conn || p->state != PEER_UP) {
			if (probe && p->retry && p->probe_armed)
				probe_start(p);
			peer_alarm_tick(p, now);
			continue;
		}
		if (late)
			liveness_stalled(&p->lv, late, now);
		switch (liveness_poll(&p->lv, now)) {
		case LV_DEAD:
			peer_dead(p, p->lv.probe_deadline_ms ?
				  "no echo to a liveness probe" :
				  "no heartbeat within the dead interval");
			continue;
		case LV_SEND:
			send_beat(p->conn, 0, ++p->beat_seq);
			break;
		case LV_IDLE:
			break;
		}
		if (p->alarmed && liveness_usable(&p->lv, now)) {
			peer_alarm_clear(p);
			log_notice("Kx: peer %s live again, link back in routing",
				   p->cfg.name);
		}
	}
}

static int handle_msg(struct kx_conn *kc, const struct kxmsg *m)
{
	struct peer *p = kc->peer;
	const char *from = p->cfg.name;

	if (!kc->hello_rx) {
		if (m->type == KXMSG_ERROR && m->code == KXC_NOT_PEER) {
			char text[ALARM_TEXT_MAX];

			say(text, sizeof(text), "Kx handshake refused by %s: \"%s\": our certificate's CN must be what %s has as cert_cn for %s",
				 p->cfg.name, m->text, p->cfg.name,
				 kc->ps->node);
			peer_refused(p, text);
			kc->why_closed = "refused by the peer (see alarm)";
			tls_conn_close(kc->tls);
			return -1;
		}
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
	if (p->conn == kc)
		liveness_rx(&p->lv, loop_now_ms());
	if (m->type == KXMSG_HEARTBEAT) {
		on_heartbeat(kc, m);
		return 0;
	}
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
	/*
	 * Dropped, the channel kept: a consumer configured at one end only
	 * must not take down the keys, relays and other consumers that share
	 * the channel.  Its own rotation times out and raises its alarm.
	 */
	if (!kc->ps->rx[m->type].fn) {
		if (!(p->unserved_types & (1ull << m->type)))
			log_warn("Kx: peer %s sent %s, which nothing here serves (a section configured at %s only?): dropped",
				 p->cfg.name, kxmsg_type_name(m->type),
				 p->cfg.name);
		p->unserved_types |= 1ull << m->type;
		return 0;
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

/* An inbound handshake that failed before any peer was named. */
static void inbound_refused(struct kx_conn *kc, struct tls_conn *c)
{
	struct peer *p = peer_by_ip(kc->ps, kc->from);
	char who[64], text[ALARM_TEXT_MAX];

	if (p)
		say(who, sizeof(who), "%s", p->cfg.name);
	else
		say(who, sizeof(who), "the node at %s",
			 kc->from[0] ? kc->from : "?");
	if (!describe_refusal(kc->ps, tls_conn_refusal(c), who,
			      p ? p->cfg.cert_cn : NULL, false, text,
			      sizeof(text)))
		return;
	if (p)
		peer_refused(p, text);
	else
		source_refused(kc->from, text);
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
		char text[ALARM_TEXT_MAX];

		p->conn = NULL;
		p->state = PEER_DOWN;
		p->down_since_ms = loop_now_ms();
		liveness_closed(&p->lv);
		/* A peer that keeps failing right after hello is not
		 * retried at full speed; one that was up a while is. */
		if (loop_now_ms() - p->up_since_ms > PEER_BACKOFF_MAX_MS)
			p->backoff_ms = PEER_BACKOFF_MIN_MS;
		note_error(p, close_reason(kc, c, "connection closed"));
		log_notice("Kx: peer %s down: %s", p->cfg.name,
			   p->last_error);
		if (!p->alarmed) {	/* else its death said more */
			/* OpenSSL's words for a peer gone without a TLS
			 * goodbye: killed, crashed, or its host down. */
			bool abrupt = strstr(p->last_error, "unexpected eof") ||
				      strstr(p->last_error, "reset by peer");

			say(text, sizeof(text), "Kx channel to %s closed: %s; link out of routing: check that qkdkmd runs on %s (%s)",
			    p->cfg.name, abrupt ?
			    "the peer went away without closing it (killed, crashed or cut off)" :
			    p->last_error, p->cfg.name, p->cfg.address);
			peer_alarm(p, ALARM_COMMUNICATIONS,
				   "connectionEstablishmentError", ALARM_MAJOR,
				   text);
		}
	} else if (p && kc->outbound) {
		char text[ALARM_TEXT_MAX];

		if (describe_refusal(kc->ps, tls_conn_refusal(c), p->cfg.name,
				     p->cfg.cert_cn, true, text, sizeof(text)))
			peer_refused(p, text);
		else if (!p->cert_fault || !kc->why_closed)
			note_error(p, close_reason(kc, c, "connection failed"));
		if (p->state != PEER_UP)
			p->state = PEER_DOWN;
	} else if (!p && !kc->outbound && kc->ps && !kc->hello_rx) {
		inbound_refused(kc, c);
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

/*
 * Bytes unacknowledged for the dead interval: the kernel gives up on the
 * connection too (and on a connect() whose SYNs get no answer), in step
 * with the heartbeats.
 */
static void user_timeout(struct peers *ps, int fd)
{
	unsigned int ms = ps->beat_ms * ps->dead_after;

	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
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
	if (fd >= 0) {
		no_delay(fd);
		user_timeout(ps, fd);
	}
	if (fd < 0 || !kc || bind_src(ps, fd) < 0 ||
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
	user_timeout(ps, fd);
	source_address(fd, kc->from, sizeof(kc->from));
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
	       liveness_usable(&p->lv, loop_now_ms()) &&
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

/* A specific listen address (not a wildcard) is also the source. */
static void set_source(struct peers *ps, const char *kx_listen)
{
	struct sockaddr_storage ss;
	socklen_t slen;

	if (peer_parse_addr(kx_listen, &ss, &slen))
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
			return;
		sin->sin_port = 0;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			return;
		sin6->sin6_port = 0;
	}
	ps->src = ss;
	ps->src_len = slen;
}

int peers_set_liveness(struct peers *ps, uint32_t heartbeat_ms,
		       uint32_t dead_after)
{
	uint32_t tick;

	ps->beat_ms = heartbeat_ms ? heartbeat_ms : LV_INTERVAL_DEFAULT_MS;
	ps->dead_after = dead_after ? dead_after : LV_DEAD_AFTER_DEFAULT;
	for (size_t i = 0; i < ps->n_peers; i++) {
		struct peer *p = ps->peers[i];
		struct liveness was = p->lv;

		liveness_init(&p->lv, ps->beat_ms, ps->dead_after);
		if (was.open)
			liveness_open(&p->lv, loop_now_ms());
	}
	if (ps->beat_timer)
		loop_timer_del(ps->beat_timer);
	/* A quarter beat: death is seen at most this late; probes ride it. */
	tick = ps->beat_ms / 4;
	if (tick > PEER_PROBE_MS / 2)
		tick = PEER_PROBE_MS / 2;
	ps->tick_ms = tick ? tick : 1;
	ps->last_tick_ms = 0;
	ps->beat_timer = loop_timer_add(ps->loop, ps->tick_ms, true,
					beat_tick, ps);
	return ps->beat_timer ? 0 : -1;
}

void peers_link_suspect(void *arg, const char *node)
{
	struct peers *ps = arg;
	struct peer *p = via_hub(ps, node);

	if (!p)
		p = peer_by_name(ps, node);
	if (!p || !p->conn || p->state != PEER_UP ||
	    !liveness_probe(&p->lv, loop_now_ms()))
		return;
	p->probes++;
	if (send_beat(p->conn, KX_BEAT_PROBE, ++p->beat_seq))
		peer_dead(p, "cannot send a liveness probe");
}

void peers_set_ctx(struct peers *ps, SSL_CTX *server_ctx, SSL_CTX *client_ctx)
{
	ps->server_ctx = server_ctx;
	ps->client_ctx = client_ctx;
}

/* One peer more, not dialed yet: the start and a runtime add share it. */
static struct peer *peer_new(struct peers *ps, const struct peer_cfg *cfg,
			     char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	struct peer **a, *p;

	if (peer_parse_addr(cfg->address, &ss, &slen)) {
		snprintf(err, errlen, "peer %s: bad address %s", cfg->name,
			 cfg->address);
		return NULL;
	}
	a = realloc(ps->peers, (ps->n_peers + 1) * sizeof(*a));
	if (a)
		ps->peers = a;
	p = a ? calloc(1, sizeof(*p)) : NULL;
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->ps = ps;
	p->cfg = *cfg;
	p->backoff_ms = PEER_BACKOFF_MIN_MS;
	p->probe_fd = -1;
	liveness_init(&p->lv, ps->beat_ms, ps->dead_after);
	ps->peers[ps->n_peers++] = p;
	return p;
}

static void peer_free(struct peer *p)
{
	if (p->retry)
		loop_timer_del(p->retry);
	p->retry = NULL;
	dial_timeout_stop(p);
	probe_stop(p);
	free(p);
}

struct peers *peers_start(struct loop *loop, SSL_CTX *server_ctx,
			  SSL_CTX *client_ctx, const struct km_node_cfg *node,
			  const struct peer_cfg *cfgs, size_t n_peers,
			  const char *kx_listen, char *err, size_t errlen)
{
	struct peers *ps = calloc(1, sizeof(*ps));

	if (!ps) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ps->loop = loop;
	ps->server_ctx = server_ctx;
	ps->client_ctx = client_ctx;
	ps->epoch = new_epoch();
	snprintf(ps->node, sizeof(ps->node), "%s", node->name);
	for (size_t i = 0; i < n_peers; i++)
		if (!peer_new(ps, &cfgs[i], err, errlen))
			goto fail;
	if (kx_listen && *kx_listen && listen_on(ps, kx_listen, err, errlen))
		goto fail;
	if (kx_listen && *kx_listen)
		set_source(ps, kx_listen);
	if (peers_set_liveness(ps, 0, 0)) {
		snprintf(err, errlen, "kx heartbeat timer: %s", strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < n_peers; i++)
		if (peer_dials(ps->node, ps->peers[i]->cfg.name))
			dial(ps->peers[i]);
	return ps;
fail:
	peers_stop(ps);
	return NULL;
}

int peers_add(struct peers *ps, const struct peer_cfg *cfg, char *err,
	      size_t errlen)
{
	struct peer *p;

	if (!strcmp(cfg->name, ps->node)) {
		snprintf(err, errlen, "%s is this node", cfg->name);
		return -EINVAL;
	}
	if (peer_by_name(ps, cfg->name)) {
		snprintf(err, errlen, "peer %s exists", cfg->name);
		return -EEXIST;
	}
	if (peer_by_cn(ps, cfg->cert_cn)) {
		snprintf(err, errlen, "cert_cn \"%s\" is another peer's",
			 cfg->cert_cn);
		return -EEXIST;
	}
	p = peer_new(ps, cfg, err, errlen);
	if (!p)
		return strstr(err, "memory") ? -ENOMEM : -EINVAL;
	log_notice("Kx: peer %s (%s, cert_cn %s) added", cfg->name,
		   cfg->address, cfg->cert_cn);
	if (peer_dials(ps->node, cfg->name))
		dial(p);
	return 0;
}

int peers_remove(struct peers *ps, const char *name, char *err,
		 size_t errlen)
{
	struct peer *p = peer_by_name(ps, name);
	struct kx_conn *kc, *next;
	size_t i;

	if (!p) {
		snprintf(err, errlen, "no peer %s", name);
		return -ENOENT;
	}
	if (!strcmp(ps->hub, name)) {
		snprintf(err, errlen, "peer %s is the central KM every key relay goes through",
			 name);
		return -EBUSY;
	}
	/* Its connections go as at a stop: detached, then freed. */
	for (kc = ps->conns; kc; kc = next) {
		next = kc->next;
		if (kc->peer != p)
			continue;
		conn_unlink(kc);
		kc->ps = NULL;
		kc->peer = NULL;
		tls_conn_free(kc->tls);
	}
	peer_alarm_clear(p);
	for (i = 0; ps->peers[i] != p; i++)
		;
	memmove(&ps->peers[i], &ps->peers[i + 1],
		(ps->n_peers - i - 1) * sizeof(*ps->peers));
	ps->n_peers--;
	peer_free(p);
	log_notice("Kx: peer %s removed", name);
	return 0;
}

void peers_stop(struct peers *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->n_peers; i++) {
		struct peer *p = ps->peers[i];

		if (p->retry)
			loop_timer_del(p->retry);
		p->retry = NULL;
		dial_timeout_stop(p);
		probe_stop(p);
	}
	if (ps->beat_timer)
		loop_timer_del(ps->beat_timer);
	ps->beat_timer = NULL;
	/*
	 * Detach and free every connection now (no goodbyes on the way out):
	 * the loop may not run again to reap them.  on_close frees each
	 * kx_conn.
	 */
	while (ps->conns) {
		struct kx_conn *kc = ps->conns;

		conn_unlink(kc);
		kc->ps = NULL;
		kc->peer = NULL;
		tls_conn_free(kc->tls);
	}
	tls_listener_free(ps->listener);
	for (size_t i = 0; i < ps->n_peers; i++)
		free(ps->peers[i]);
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
	p = ps->peers[i];
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
	if (p->state == PEER_UP && !liveness_usable(&p->lv, loop_now_ms()))
		out->state = PEER_HELD;
	out->deaths = p->lv.deaths;
	out->probes = p->probes;
	snprintf(out->last_error, sizeof(out->last_error), "%s",
		 p->last_error);
	return 0;
}
