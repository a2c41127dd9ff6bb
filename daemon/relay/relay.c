// SPDX-License-Identifier: GPL-2.0
/*
 * Key relay sessions over Kx-1: RELAY_START at the first trusted node,
 * RELAY_KEY hop by hop, RELAY_ACK back to the source.  See relay.h for
 * the protocol and why it is safe.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "kma/kma.h"
#include "core/alarm.h"
#include "core/log.h"
#include "kx/peer.h"
#include "core/loop.h"
#include "routing/lsa.h"
#include "relay/relay.h"
#include "relay/relay_otp.h"

struct relay_linkacct {
	char peer[KM_NAME_MAX];
	struct relay_acct tx, rx;
};

enum session_role {
	ROLE_SOURCE = RELAY_SESSION_SOURCE,
	ROLE_TRANSIT = RELAY_SESSION_TRANSIT,
	ROLE_DEST = RELAY_SESSION_DEST,
};

struct relay_session {
	char uuid[KSA_KEY_ID_LEN];
	enum session_role role;
	char route[160];
	char state[96];
	uint64_t started_ms, changed_ms;
	bool open;			/* source: started, not yet answered */
	char next[KM_NAME_MAX];		/* the hop after this node */
};

/*
 * Alarm state per destination this node relays to as the source, and per
 * neighbour whose relayed keys failed their MAC here (see relay_alarm()).
 */
#define RELAY_ALARM_SLOTS	32

struct relay_alarm_slot {
	char node[KM_NAME_MAX];		/* "" = free */
	char next[KM_NAME_MAX];		/* destination: last first hop */
	bool alarmed;
	bool no_route;			/* raised by relay_note_unroutable() */
};

struct relay_sae_prio {
	char sae[KSA_SAE_ID_MAX];
	enum relay_priority prio;
};

struct relay {
	struct kma *kma;
	const struct relay_delivery *up;
	void *up_arg;
	struct lsa *lsa;
	char node[KM_NAME_MAX];
	const struct relay_transport *tr;
	void *tr_arg;
	struct relay_linkacct *acct;	/* one per kma link */
	size_t n_acct;
	struct relay_session sessions[RELAY_SESSIONS_KEPT];
	uint64_t n_sessions;		/* ever; ring index = n % KEPT */
	uint64_t started, forwarded, delivered, acked, refused, alarms;
	uint32_t max_sessions;		/* open-session slots */
	uint64_t timed_out;
	struct relay_sae_prio *prio;	/* SAEs not at normal priority */
	size_t n_prio;
	struct relay_admission adm[RELAY_PRIO_COUNT];
	bool tamper_next;		/* test hook only */
	struct relay_alarm_slot dest[RELAY_ALARM_SLOTS];
	struct relay_alarm_slot auth[RELAY_ALARM_SLOTS];
	struct kxmsg msg;		/* scratch for outgoing messages */
};

/* ---- alarms ---- */

/* @node's slot in @tab, made if @make (the oldest unalarmed one reused). */
static struct relay_alarm_slot *alarm_slot(struct relay_alarm_slot *tab,
					   const char *node, bool make)
{
	struct relay_alarm_slot *free_slot = NULL;

	for (size_t i = 0; i < RELAY_ALARM_SLOTS; i++) {
		if (!strcmp(tab[i].node, node))
			return &tab[i];
		if (!free_slot && !tab[i].alarmed)
			free_slot = &tab[i];
	}
	if (!make || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->node, sizeof(free_slot->node), "%s", node);
	return free_slot;
}

/* Operator prose, cut to fit. */
static void say(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/*
 * Relays from this node to @dst fail: alarm "relay:DST", object
 * "relay=SRC>DST", explained by the Kx channel to the first hop of the
 * last route to @dst when that one is down (its alarm is the root).
 * Cleared by the next key acknowledged by @dst, or for want of a route,
 * by a route found again.
 */
static void dest_alarm(struct relay *r, const char *dst, bool security,
		       bool no_route, const char *text)
{
	struct relay_alarm_slot *s = alarm_slot(r->dest, dst, true);
	char src[ALARM_SOURCE_MAX], obj[ALARM_OBJECT_MAX], root[ALARM_SOURCE_MAX];
	struct alarm_desc d = {
		.object = obj,
		.type = security ? ALARM_SECURITY : ALARM_COMMUNICATIONS,
		.cause = security ? "integrityViolation" :
			 no_route ? "routingFailure" :
			 "remoteNodeTransmissionError",
		.severity = security ? ALARM_CRITICAL : ALARM_MAJOR,
	};

	say(src, sizeof(src), "relay:%s", dst);
	say(obj, sizeof(obj), "relay=%s>%s", r->node, dst);
	if (s && s->next[0]) {
		peers_alarm_source(s->next, root, sizeof(root));
		d.root = root;
	}
	alarm_raise_desc(src, &d, "%s", text);
	if (s) {
		s->alarmed = true;
		s->no_route = no_route;
	}
}

static void dest_ok(struct relay *r, const char *dst, bool routed_only)
{
	struct relay_alarm_slot *s = alarm_slot(r->dest, dst, false);
	char src[ALARM_SOURCE_MAX];

	/* No slot (more alarmed destinations than slots): by name. */
	if (s && (!s->alarmed || (routed_only && !s->no_route)))
		return;
	say(src, sizeof(src), "relay:%s", dst);
	alarm_clear(src);
	if (s)
		s->alarmed = false;
}

static void dest_next_hop(struct relay *r, const char *dst, const char *next)
{
	struct relay_alarm_slot *s = alarm_slot(r->dest, dst, true);

	if (s)
		snprintf(s->next, sizeof(s->next), "%s", next);
}

/*
 * A relayed key from neighbour @from failed its ITS MAC here: alarm
 * "relay-auth:FROM", object "relay-hop=FROM>NODE", a security alarm;
 * cleared by the next key from @from that authenticates.
 */
static void auth_alarm(struct relay *r, const char *from, const char *uuid)
{
	struct relay_alarm_slot *s = alarm_slot(r->auth, from, true);
	char src[ALARM_SOURCE_MAX], obj[ALARM_OBJECT_MAX];
	struct alarm_desc d = {
		.object = obj, .type = ALARM_SECURITY,
		.cause = "integrityViolation", .severity = ALARM_CRITICAL,
	};

	say(src, sizeof(src), "relay-auth:%s", from);
	say(obj, sizeof(obj), "relay-hop=%s>%s", from, r->node);
	alarm_raise_desc(src, &d, "relayed key %s from %s failed its ITS MAC check: key discarded; the message was altered between %s's relay and here (a compromised node or Kx path), or the pads of link %s-%s are out of step: inspect node %s and the link's key source",
			 uuid, from, from, from, r->node, from);
	if (s)
		s->alarmed = true;
}

static void auth_ok(struct relay *r, const char *from)
{
	struct relay_alarm_slot *s = alarm_slot(r->auth, from, false);
	char src[ALARM_SOURCE_MAX];

	if (s && !s->alarmed)
		return;
	say(src, sizeof(src), "relay-auth:%s", from);
	alarm_clear(src);
	if (s)
		s->alarmed = false;
}

void relay_note_unroutable(struct relay *r, const char *dst, const char *why)
{
	char text[ALARM_TEXT_MAX];

	say(text, sizeof(text), "no relay route from %s to %s: %s: keys for SAEs at %s cannot be supplied; see the alarms of the Kx channels (peer show, topology show)",
	    r->node, dst, why, dst);
	dest_alarm(r, dst, false, true, text);
}

/* ---- bookkeeping ---- */

static struct relay_linkacct *acct_find(const struct relay *r,
					const char *peer)
{
	for (size_t i = 0; i < r->n_acct; i++)
		if (!strcmp(r->acct[i].peer, peer))
			return &r->acct[i];
	return NULL;
}

/*
 * The counters of the link to @peer, or NULL if there is no such link.
 * Links come and go at run time (provision.h): a new link gets fresh
 * counters here, and those of links gone are dropped then.
 */
static struct relay_linkacct *acct_for(struct relay *r, const char *peer)
{
	struct relay_linkacct *a = acct_find(r, peer);
	size_t i, j;

	if (a || !kma_link_by_peer(r->kma, peer))
		return a;
	for (i = j = 0; i < r->n_acct; i++)
		if (kma_link_by_peer(r->kma, r->acct[i].peer))
			r->acct[j++] = r->acct[i];
	r->n_acct = j;
	a = realloc(r->acct, (r->n_acct + 1) * sizeof(*a));
	if (!a)
		return NULL;
	r->acct = a;
	a = &r->acct[r->n_acct++];
	memset(a, 0, sizeof(*a));
	snprintf(a->peer, sizeof(a->peer), "%s", peer);
	return a;
}

static void acct_range(struct relay_acct *a, uint64_t id, uint32_t len)
{
	if (a->n_ranges == RELAY_RANGES_KEPT) {
		memmove(a->ranges, a->ranges + 1,
			(RELAY_RANGES_KEPT - 1) * sizeof(a->ranges[0]));
		a->n_ranges--;
	}
	a->ranges[a->n_ranges].key_id = id;
	a->ranges[a->n_ranges++].len = len;
}

static void acct_stats(struct relay_acct *a, struct relay_link *l)
{
	struct relay_stats st;

	relay_link_stats(l, &st);
	a->pad_bits_consumed += st.pad_bits_consumed;
	a->relayed_bits += st.relayed_bits;
	a->mac_key_bits += st.mac_key_bits;
	a->discarded_bits += st.discarded_bits;
	a->messages += st.messages;
	a->rejected += st.rejected;
	a->auth_failures += st.auth_failures;
}

static void route_text(const struct kxmsg *m, char *buf, size_t len)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < m->n_hops && pos < len; i++)
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s",
					i ? "-" : "", m->hops[i]);
}

static struct relay_session *session_find(struct relay *r, const char *uuid)
{
	uint64_t n = r->n_sessions < RELAY_SESSIONS_KEPT ? r->n_sessions :
		     RELAY_SESSIONS_KEPT;

	for (uint64_t i = 0; i < n; i++)
		if (!strcmp(r->sessions[i].uuid, uuid))
			return &r->sessions[i];
	return NULL;
}

static void session_note(struct relay *r, const struct kxmsg *m,
			 enum session_role role, const char *state)
{
	struct relay_session *s = session_find(r, m->uuid);

	if (!s) {
		s = &r->sessions[r->n_sessions++ % RELAY_SESSIONS_KEPT];
		memset(s, 0, sizeof(*s));
		memcpy(s->uuid, m->uuid, KSA_KEY_ID_LEN);
		s->role = role;
		route_text(m, s->route, sizeof(s->route));
		if (m->n_hops > 1)
			snprintf(s->next, sizeof(s->next), "%s", m->hops[1]);
		s->started_ms = loop_now_ms();
	}
	snprintf(s->state, sizeof(s->state), "%s", state);
	s->changed_ms = loop_now_ms();
}

/* Position of this node on @m's route, or -1. */
static int my_hop(const struct relay *r, const struct kxmsg *m)
{
	for (uint32_t i = 0; i < m->n_hops; i++)
		if (!strcmp(m->hops[i], r->node))
			return (int)i;
	return -1;
}

/* A stable 32-bit name for the link between @a and @b (either order),
 * authenticated in every relay_otp header. */
static uint32_t link_tag(const char *a, const char *b)
{
	const char *lo = strcmp(a, b) < 0 ? a : b, *hi = lo == a ? b : a;
	uint32_t h = 2166136261u;

	for (const char *p = lo; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ '|') * 16777619u;
	for (const char *p = hi; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

/* ---- answers ---- */

/* RELAY_ACK for @m (code, reason) back towards the source. */
static void answer(struct relay *r, const struct kxmsg *m, int pos,
		   uint32_t code, const char *why)
{
	struct kxmsg *a = &r->msg;

	if (code != KXC_OK) {
		r->refused++;
		log_warn("relay alarm: key %s (route %s...%s) discarded at %s: %s (%s)",
			 m->uuid, m->hops[0], m->hops[m->n_hops - 1], r->node,
			 kxmsg_code_name(code), why);
	}
	if (pos <= 0)
		return;
	kxmsg_clear(a, KXMSG_RELAY_ACK);
	snprintf(a->node, sizeof(a->node), "%s", r->node);
	memcpy(a->uuid, m->uuid, KSA_KEY_ID_LEN);
	a->code = code;
	snprintf(a->text, sizeof(a->text), "%s", why ? why : "");
	a->n_hops = m->n_hops;
	memcpy(a->hops, m->hops, sizeof(a->hops[0]) * m->n_hops);
	if (r->tr->send(r->tr_arg, m->hops[pos - 1], a))
		log_warn("relay: key %s: cannot answer towards %s", m->uuid,
			 m->hops[0]);
}

/* ---- sending one hop ---- */

/* Pad for @need bytes from this end's share of @l, appended to @rl. */
static int take_pad(struct relay *r, struct kma_link *l,
		    struct relay_link *rl, uint32_t need, struct kxmsg *out,
		    struct relay_acct *a, const char **why)
{
	struct keysrc *src = kma_link_src(l);
	uint8_t *buf = OPENSSL_secure_malloc(src->block_size);
	uint64_t pos = 0;
	char err[96];
	int rc = 0;

	if (!buf) {
		*why = "out of secure memory";
		return -ENOMEM;
	}
	if (keysrc_avail(src) < need) {
		*why = "not enough key in the next hop's pool";
		rc = -ENOSPC;
	}
	while (rc == 0 && pos < need) {
		uint32_t n = need - pos < src->block_size ?
			     (uint32_t)(need - pos) : src->block_size;
		struct keysrc_key k;

		if (out->n_pads == KXMSG_MAX_PADS) {
			*why = "key too long for the next hop's block size";
			rc = -E2BIG;
			break;
		}
		rc = keysrc_alloc(src, n, 1, &k, buf, err, sizeof(err));
		if (rc) {
			*why = "next hop's pool could not supply pad";
			break;
		}
		a->pad_bytes += n;
		acct_range(a, k.id, n);
		out->pads[out->n_pads].key_id = k.id;
		out->pads[out->n_pads++].len = n;
		rc = relay_link_add_pad(rl, pos, buf, n);
		if (rc)
			*why = relay_strerror(rc);
		pos += n;
	}
	OPENSSL_secure_clear_free(buf, src->block_size);
	return rc;
}

/*
 * Pass @key (@m->key_len bytes) on from route position @pos to @pos + 1
 * as RELAY_KEY.  Returns KXC_OK or a code with @why.
 */
static uint32_t forward(struct relay *r, const struct kxmsg *m, int pos,
			const uint8_t *key, const char **why)
{
	const char *next = m->hops[pos + 1];
	struct kma_link *l = kma_link_by_peer(r->kma, next);
	struct relay_linkacct *la = acct_for(r, next);
	struct kxmsg *out = &r->msg;
	struct relay_link *rl;
	size_t sealed_len;
	uint32_t code = KXC_OK;
	int rc;

	if (!l || !la || !r->tr->is_up(r->tr_arg, next)) {
		*why = "next hop is not a reachable link neighbour";
		return KXC_NO_ROUTE;
	}
	rl = relay_link_new(link_tag(r->node, next), kma_link_src(l)->role,
			    true, 0);
	if (!rl) {
		*why = "out of memory";
		return KXC_FETCH_FAILED;
	}
	kxmsg_clear(out, KXMSG_RELAY_KEY);
	memcpy(out->uuid, m->uuid, KSA_KEY_ID_LEN);
	memcpy(out->master, m->master, sizeof(out->master));
	memcpy(out->slaves, m->slaves, sizeof(out->slaves[0]) * m->n_slaves);
	out->n_slaves = m->n_slaves;
	out->key_len = m->key_len;
	memcpy(out->dest, m->dest, sizeof(out->dest));
	memcpy(out->hops, m->hops, sizeof(out->hops[0]) * m->n_hops);
	out->n_hops = m->n_hops;
	rc = take_pad(r, l, rl, (uint32_t)RELAY_PAD_NEEDED(m->key_len), out,
		      &la->tx, why);
	if (rc == 0) {
		rc = relay_seal(rl, key, m->key_len, out->sealed,
				sizeof(out->sealed), &sealed_len);
		if (rc)
			*why = relay_strerror(rc);
	}
	acct_stats(&la->tx, rl);
	/* Pad taken but not used by a seal is burnt: account it. */
	la->tx.discarded_bits += (uint64_t)relay_link_pad_available(rl) * 8;
	la->tx.pad_bits_consumed +=
		(uint64_t)relay_link_pad_available(rl) * 8;
	relay_link_free(rl);
	if (rc) {
		code = rc == -ENOSPC ? KXC_NO_ROUTE : KXC_FETCH_FAILED;
		goto out;
	}
	out->sealed_len = (uint32_t)sealed_len;
#ifdef QKD_TEST_HOOKS
	if (r->tamper_next) {
		r->tamper_next = false;
		out->sealed[RELAY_HDR_LEN] ^= 0x01;
		log_warn("relay test hook: flipped a bit of key %s", m->uuid);
	}
#endif
	if (r->tr->send(r->tr_arg, next, out)) {
		*why = "cannot send to the next hop";
		code = KXC_NO_ROUTE;
		goto out;
	}
	r->forwarded++;
out:
	OPENSSL_cleanse(out->sealed, sizeof(out->sealed));
	return code;
}

/* ---- receiving ---- */

/* Common checks: this node on the route right after @from. */
static int route_check(struct relay *r, const char *from,
		       const struct kxmsg *m, const char **why)
{
	int pos = my_hop(r, m);

	if (pos <= 0 || strcmp(m->hops[pos - 1], from) ||
	    strcmp(m->dest, m->hops[m->n_hops - 1]) ||
	    m->key_len > RELAY_KEY_MAX) {
		*why = "route does not pass here after the sender";
		return -1;
	}
	for (uint32_t i = 0; i < m->n_hops; i++)
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(m->hops[i], m->hops[j])) {
				*why = "route visits a node twice";
				return -1;
			}
	return pos;
}

/* Hand a relayed key to the key supply above; @key is wiped either way. */
static uint32_t deliver(struct relay *r, const char *origin, const char *prev,
			const struct kxmsg *m, uint8_t *key, const char **why)
{
	if (!r->up) {
		OPENSSL_cleanse(key, m->key_len);
		*why = "this node supplies no keys to applications";
		return KXC_UNKNOWN_SAE;
	}
	return r->up->deliver(r->up_arg, origin, prev, m, key, why);
}

/* The key is here (@key): deliver it or pass it on; @key is wiped. */
static void key_arrived(struct relay *r, const char *from,
			const struct kxmsg *m, int pos, uint8_t *key)
{
	const char *why = "";
	uint32_t code;

	if ((uint32_t)pos == m->n_hops - 1) {
		code = deliver(r, m->hops[0], from, m, key, &why);
		if (code == KXC_OK)
			r->delivered++;
		session_note(r, m, ROLE_DEST, code == KXC_OK ? "delivered" :
			     kxmsg_code_name(code));
		answer(r, m, pos, code, why);
		return;
	}
	if (r->lsa && lsa_role(r->lsa) == NODE_ROLE_USER) {
		why = "a user node does not relay keys for others";
		code = KXC_NO_ROUTE;
	} else {
		code = forward(r, m, pos, key, &why);
	}
	OPENSSL_cleanse(key, m->key_len);
	session_note(r, m, ROLE_TRANSIT, code == KXC_OK ? "forwarded" :
		     kxmsg_code_name(code));
	if (code != KXC_OK)
		answer(r, m, pos, code, why);
}

static void on_start(struct relay *r, const char *from, const struct kxmsg *m)
{
	struct kma_link *l = kma_link_by_peer(r->kma, from);
	const char *why = "";
	char err[96];
	uint8_t *key;
	int pos = route_check(r, from, m, &why);

	if (pos != 1 || m->n_hops < 3 || !l) {
		answer(r, m, pos > 0 ? pos : 0, KXC_BAD_MESSAGE,
		       pos > 0 ? "relay start must come from the source" : why);
		return;
	}
	key = OPENSSL_secure_malloc(m->key_len);
	if (!key || keysrc_get(kma_link_src(l), m->key_id, m->key_len, key,
			       NULL, err, sizeof(err))) {
		if (key)
			OPENSSL_secure_clear_free(key, m->key_len);
		answer(r, m, pos, KXC_FETCH_FAILED, key ? err :
		       "out of secure memory");
		return;
	}
	key_arrived(r, from, m, pos, key);
	OPENSSL_secure_clear_free(key, m->key_len);
}

/* Fetch @m's pad from our end of the link to @from into @rl. */
static uint32_t fetch_pad(struct relay *r, struct kma_link *l,
			  struct relay_link *rl, const struct kxmsg *m,
			  struct relay_acct *a, char *err, size_t errlen)
{
	struct keysrc *src = kma_link_src(l);
	uint64_t pos = 0;
	uint8_t *buf;
	uint32_t code = KXC_OK;

	for (uint32_t i = 0; i < m->n_pads; i++)
		pos += m->pads[i].len;
	if (pos != RELAY_PAD_NEEDED(m->key_len) ||
	    m->sealed_len != RELAY_OVERHEAD + m->key_len) {
		snprintf(err, errlen, "pad or message length does not match");
		return KXC_BAD_MESSAGE;
	}
	buf = OPENSSL_secure_malloc(src->block_size);
	if (!buf) {
		snprintf(err, errlen, "out of secure memory");
		return KXC_FETCH_FAILED;
	}
	pos = 0;
	for (uint32_t i = 0; i < m->n_pads && code == KXC_OK; i++) {
		const struct kxmsg_pad *p = &m->pads[i];
		int rc = p->len > src->block_size ? -EINVAL :
			 keysrc_get(src, p->key_id, p->len, buf, NULL, err,
				    errlen);

		if (rc == -EALREADY)
			code = KXC_REPLAY;
		else if (rc)
			code = KXC_FETCH_FAILED;
		else if (relay_link_add_pad(rl, pos, buf, p->len))
			code = KXC_FETCH_FAILED;
		if (rc == 0) {
			a->pad_bytes += p->len;
			acct_range(a, p->key_id, p->len);
		}
		pos += p->len;
	}
	OPENSSL_secure_clear_free(buf, src->block_size);
	return code;
}

static void on_key(struct relay *r, const char *from, const struct kxmsg *m)
{
	struct kma_link *l = kma_link_by_peer(r->kma, from);
	struct relay_linkacct *la = acct_for(r, from);
	const char *why = "";
	char err[96] = "";
	struct relay_link *rl = NULL;
	uint8_t *key = NULL;
	size_t got = 0;
	uint32_t code = KXC_OK;
	int pos = route_check(r, from, m, &why), rc;

	if (pos < 2 || !l || !la) {
		answer(r, m, pos > 0 ? pos : 0, KXC_BAD_MESSAGE,
		       pos > 0 ? "relay key from the source" : why);
		return;
	}
	/* The pad is the sender's share: the other role of the link. */
	rl = relay_link_new(link_tag(r->node, from),
			    kma_link_src(l)->role == QKD_ROLE_TX ?
			    QKD_ROLE_RX : QKD_ROLE_TX, false, 0);
	key = OPENSSL_secure_malloc(m->key_len);
	if (!rl || !key) {
		code = KXC_FETCH_FAILED;
		snprintf(err, sizeof(err), "out of memory");
		goto out;
	}
	code = fetch_pad(r, l, rl, m, &la->rx, err, sizeof(err));
	if (code != KXC_OK)
		goto out;
	rc = relay_open(rl, m->sealed, m->sealed_len, key, m->key_len, &got);
	if (rc || got != m->key_len) {
		code = rc == -EBADMSG ? KXC_AUTH_FAILED : KXC_BAD_MESSAGE;
		snprintf(err, sizeof(err), "%s", rc ? relay_strerror(rc) :
			 "payload length does not match");
		if (rc == -EBADMSG) {
			r->alarms++;
			auth_alarm(r, from, m->uuid);
		}
		goto out;
	}
	auth_ok(r, from);
	acct_stats(&la->rx, rl);
	relay_link_free(rl);
	rl = NULL;
	key_arrived(r, from, m, pos, key);
out:
	if (rl) {
		uint64_t left = (uint64_t)relay_link_pad_available(rl) * 8;

		/* Pad fetched but never reached by the cursor is burnt. */
		acct_stats(&la->rx, rl);
		la->rx.discarded_bits += left;
		la->rx.pad_bits_consumed += left;
		relay_link_free(rl);
	}
	if (key)
		OPENSSL_secure_clear_free(key, m->key_len);
	if (code != KXC_OK) {
		session_note(r, m, (uint32_t)pos == m->n_hops - 1 ?
			     ROLE_DEST : ROLE_TRANSIT, kxmsg_code_name(code));
		answer(r, m, pos, code, err);
	}
}

static void on_ack(struct relay *r, const char *from, const struct kxmsg *m)
{
	int pos = my_hop(r, m);
	struct kxmsg *ack = &r->msg;
	char state[96];

	if (pos < 0 || (uint32_t)pos + 1 >= m->n_hops ||
	    strcmp(m->hops[pos + 1], from)) {
		log_warn("relay: answer for key %s from %s does not follow its route",
			 m->uuid, from);
		return;
	}
	if (pos > 0) {
		if (r->tr->send(r->tr_arg, m->hops[pos - 1], m))
			log_warn("relay: cannot pass answer for key %s on",
				 m->uuid);
		return;
	}
	/* We are the source: the KSA finishes its record. */
	if (m->code == KXC_OK)
		snprintf(state, sizeof(state), "acked");
	else
		snprintf(state, sizeof(state), "refused at %.64s: %s", m->node,
			 kxmsg_code_name(m->code));
	session_note(r, m, ROLE_SOURCE, state);
	session_find(r, m->uuid)->open = false;
	if (m->code == KXC_OK) {
		r->acked++;
		dest_ok(r, m->hops[m->n_hops - 1], false);
	} else {
		char text[ALARM_TEXT_MAX];
		bool auth = m->code == KXC_AUTH_FAILED;

		log_warn("relay alarm: key %s refused at node %s: %s (%s)",
			 m->uuid, m->node, kxmsg_code_name(m->code), m->text);
		say(text, sizeof(text), "key %s relayed to %s was refused at %s: %s (%s)%s",
		    m->uuid, m->hops[m->n_hops - 1], m->node,
		    kxmsg_code_name(m->code), m->text,
		    auth ? ": altered on the way (see the relay-auth alarm at that node): inspect the node before it on the route" :
		    ": see that node's alarms");
		dest_alarm(r, m->hops[m->n_hops - 1], auth, false, text);
	}
	kxmsg_clear(ack, KXMSG_ACK);
	memcpy(ack->uuid, m->uuid, KSA_KEY_ID_LEN);
	ack->code = m->code;
	if (m->code != KXC_OK)
		snprintf(ack->text, sizeof(ack->text), "at %.32s: %.100s",
			 m->node, m->text);
	/* The KSA answers with its own message buffer: no clash. */
	if (r->up)
		r->up->ack(r->up_arg, m->hops[1], ack);
}

void relay_receive(struct relay *r, const char *from, const struct kxmsg *m)
{
	switch (m->type) {
	case KXMSG_RELAY_START:
		on_start(r, from, m);
		break;
	case KXMSG_RELAY_KEY:
		on_key(r, from, m);
		break;
	case KXMSG_RELAY_ACK:
		on_ack(r, from, m);
		break;
	default:
		break;
	}
}

/* ---- source side, for ksa.c ---- */

int relay_route(struct relay *r, const char *dst, uint32_t len,
		uint32_t count, struct relay_route *rt, char *why,
		size_t whylen)
{
	uint64_t need = (uint64_t)RELAY_PAD_NEEDED(len) * 8 * (count ? count : 1);

	if (len > RELAY_KEY_MAX) {
		snprintf(why, whylen, "relayed keys are at most %d bits",
			 RELAY_KEY_MAX * 8);
		return -EINVAL;
	}
	if (!r->lsa) {
		snprintf(why, whylen, "no routing");
		return -EHOSTUNREACH;
	}
	int rc = lsa_route(r->lsa, dst, need, rt->hops, KXMSG_MAX_HOPS,
			   &rt->n_hops, why, whylen);

	if (rc)
		return rc;
	dest_ok(r, dst, true);
	return 0;
}

int relay_start(struct relay *r, const struct relay_route *rt,
		const struct kxmsg *reserve)
{
	struct kxmsg *m = &r->msg;

	if (rt->n_hops < 3)
		return -1;
	kxmsg_clear(m, KXMSG_RELAY_START);
	memcpy(m->uuid, reserve->uuid, KSA_KEY_ID_LEN);
	memcpy(m->master, reserve->master, sizeof(m->master));
	memcpy(m->slaves, reserve->slaves,
	       sizeof(m->slaves[0]) * reserve->n_slaves);
	m->n_slaves = reserve->n_slaves;
	m->key_id = reserve->key_id;
	m->key_len = reserve->key_len;
	snprintf(m->dest, sizeof(m->dest), "%s", rt->hops[rt->n_hops - 1]);
	memcpy(m->hops, rt->hops, sizeof(m->hops[0]) * rt->n_hops);
	m->n_hops = rt->n_hops;
	dest_next_hop(r, m->dest, rt->hops[1]);
	if (r->tr->send(r->tr_arg, rt->hops[1], m))
		return -1;
	r->started++;
	session_note(r, m, ROLE_SOURCE, "started");
	session_find(r, m->uuid)->open = true;
	return 0;
}

/* ---- session control ---- */

void relay_set_max_sessions(struct relay *r, uint32_t max)
{
	r->max_sessions = max < 1 ? 1 : max > RELAY_SESSIONS_KEPT ?
			  RELAY_SESSIONS_KEPT : max;
}

/* Source sessions started and not answered; late ones are closed. */
static uint32_t sessions_open(struct relay *r)
{
	uint64_t n = r->n_sessions < RELAY_SESSIONS_KEPT ? r->n_sessions :
		     RELAY_SESSIONS_KEPT, now = loop_now_ms();
	uint32_t open = 0;

	for (uint64_t i = 0; i < n; i++) {
		struct relay_session *s = &r->sessions[i];

		if (!s->open)
			continue;
		if (now - s->started_ms < RELAY_SESSION_TIMEOUT_MS) {
			open++;
			continue;
		}
		s->open = false;
		s->changed_ms = now;
		snprintf(s->state, sizeof(s->state), "timed out: no answer");
		r->timed_out++;
		log_warn("relay alarm: key %s (route %s): no answer within %d ms, session closed",
			 s->uuid, s->route, RELAY_SESSION_TIMEOUT_MS);
		{
			const char *dst = strrchr(s->route, '-');
			char text[ALARM_TEXT_MAX];

			say(text, sizeof(text), "key %s relayed on route %s: no answer within %d ms: a node on the route is down or cut off: see the alarms of the Kx channels",
			    s->uuid, s->route, RELAY_SESSION_TIMEOUT_MS);
			dest_alarm(r, dst ? dst + 1 : s->route, false, false,
				   text);
		}
		/* Counts against the link to the next hop: its channel must
		 * prove itself at once (a liveness probe) or go down. */
		if (r->tr->suspect && s->next[0])
			r->tr->suspect(r->tr_arg, s->next);
	}
	return open;
}

static const char *const prio_names[RELAY_PRIO_COUNT] = {
	[RELAY_PRIO_NORMAL] = "normal", [RELAY_PRIO_LOW] = "low",
	[RELAY_PRIO_HIGH] = "high",
};

int relay_set_priority(struct relay *r, const char *sae,
		       enum relay_priority prio)
{
	struct relay_sae_prio *p;

	for (size_t i = 0; i < r->n_prio; i++)
		if (!strcmp(r->prio[i].sae, sae)) {
			r->prio[i].prio = prio;
			return 0;
		}
	p = realloc(r->prio, (r->n_prio + 1) * sizeof(*p));
	if (!p)
		return -ENOSPC;
	r->prio = p;
	snprintf(p[r->n_prio].sae, sizeof(p[0].sae), "%s", sae);
	p[r->n_prio++].prio = prio;
	return 0;
}

static enum relay_priority priority_of(const struct relay *r,
				       const char *sae)
{
	for (size_t i = 0; i < r->n_prio; i++)
		if (!strcmp(r->prio[i].sae, sae))
			return r->prio[i].prio;
	return RELAY_PRIO_NORMAL;
}

int relay_admit(struct relay *r, const char *master_sae, uint32_t count,
		const struct relay_route *rt, char *why, size_t whylen)
{
	enum relay_priority prio = priority_of(r, master_sae);
	static const char *const levels[] = { "empty", "warning", "low",
					      "ready" };
	uint32_t open = sessions_open(r), slots = r->max_sessions;
	int level = r->lsa ? lsa_path_level(r->lsa, rt->hops, rt->n_hops) :
		    QKD_POOL_READY, min_level = QKD_POOL_EMPTY;

	if (prio >= RELAY_PRIO_COUNT)
		prio = RELAY_PRIO_NORMAL;
	if (prio == RELAY_PRIO_NORMAL) {
		slots = slots * 3 / 4;
		min_level = QKD_POOL_LOW;
	} else if (prio == RELAY_PRIO_LOW) {
		slots = slots / 2;
		min_level = QKD_POOL_READY;
	}
	if (open + count > slots) {
		r->adm[prio].refused_busy++;
		snprintf(why, whylen,
			 "relay overload: %u relay sessions open, %s-priority SAEs may open %u",
			 open, prio_names[prio], slots);
		return -EBUSY;
	}
	if (level < min_level) {
		r->adm[prio].refused_pool++;
		snprintf(why, whylen,
			 "relay overload: a key pool on the route is %s, kept for higher-priority SAEs",
			 levels[level & 3]);
		return -EBUSY;
	}
	r->adm[prio].admitted++;
	return 0;
}

/* ---- state for the views ---- */

const char *relay_priority_name(enum relay_priority prio)
{
	return prio < RELAY_PRIO_COUNT ? prio_names[prio] : "?";
}

const char *relay_session_role_name(enum relay_session_role role)
{
	return role == RELAY_SESSION_SOURCE ? "source" :
	       role == RELAY_SESSION_TRANSIT ? "transit" : "destination";
}

void relay_info(struct relay *r, struct relay_info *out)
{
	memset(out, 0, sizeof(*out));
	out->open = sessions_open(r);	/* closes late sessions first */
	out->max_sessions = r->max_sessions;
	out->timed_out = r->timed_out;
	memcpy(out->adm, r->adm, sizeof(out->adm));
	out->started = r->started;
	out->forwarded = r->forwarded;
	out->delivered = r->delivered;
	out->acked = r->acked;
	out->refused = r->refused;
	out->auth_alarms = r->alarms;
}

size_t relay_session_count(const struct relay *r)
{
	return r->n_sessions < RELAY_SESSIONS_KEPT ? (size_t)r->n_sessions :
	       RELAY_SESSIONS_KEPT;
}

int relay_session_info(const struct relay *r, size_t i,
		       struct relay_session_info *out)
{
	size_t n = relay_session_count(r);
	const struct relay_session *s;

	if (i >= n)
		return -1;
	s = &r->sessions[(r->n_sessions - n + i) % RELAY_SESSIONS_KEPT];
	memset(out, 0, sizeof(*out));
	memcpy(out->key_id, s->uuid, sizeof(out->key_id));
	out->role = (enum relay_session_role)s->role;
	memcpy(out->route, s->route, sizeof(out->route));
	memcpy(out->state, s->state, sizeof(out->state));
	out->age_ms = loop_now_ms() - s->started_ms;
	out->open = s->open;
	return 0;
}

bool relay_acct_balanced(const struct relay_acct *a)
{
	return a->pad_bytes * 8 == a->pad_bits_consumed &&
	       a->pad_bits_consumed == a->relayed_bits + a->mac_key_bits +
	       a->discarded_bits;
}

/* The links of the store now, with their counters (none yet: zero). */
size_t relay_link_count(const struct relay *r)
{
	return kma_link_count(r->kma);
}

int relay_link_info(const struct relay *r, size_t i,
		    struct relay_link_info *out)
{
	struct kma_link *l = kma_link_at(r->kma, i);
	const struct relay_linkacct *a;

	if (!l)
		return -1;
	a = acct_find(r, kma_link_peer(l));
	memset(out, 0, sizeof(*out));
	snprintf(out->link, sizeof(out->link), "%s", kma_link_name(l));
	snprintf(out->peer, sizeof(out->peer), "%s", kma_link_peer(l));
	if (a) {
		out->tx = a->tx;
		out->rx = a->rx;
	}
	return 0;
}

#ifdef QKD_TEST_HOOKS
void relay_test_tamper_next(struct relay *r)
{
	r->tamper_next = true;
}
#endif

/* ---- lifetime ---- */

struct relay *relay_new(struct kma *kma, struct lsa *lsa,
			const char *node, const struct relay_transport *tr,
			void *tr_arg)
{
	struct relay *r = calloc(1, sizeof(*r));
	size_t n = kma_link_count(kma);

	if (r)
		r->acct = calloc(n ? n : 1, sizeof(*r->acct));
	if (!r || !r->acct) {
		free(r);
		return NULL;
	}
	r->kma = kma;
	r->lsa = lsa;
	r->tr = tr;
	r->tr_arg = tr_arg;
	r->max_sessions = RELAY_SESSIONS_DEFAULT;
	snprintf(r->node, sizeof(r->node), "%s", node);
	for (size_t i = 0; i < n; i++)
		snprintf(r->acct[i].peer, sizeof(r->acct[i].peer), "%s",
			 kma_link_peer(kma_link_at(kma, i)));
	r->n_acct = n;
	return r;
}

void relay_set_delivery(struct relay *r, const struct relay_delivery *up,
			void *arg)
{
	r->up = up;
	r->up_arg = arg;
}

void relay_free(struct relay *r)
{
	if (!r)
		return;
	free(r->prio);
	free(r->acct);
	OPENSSL_cleanse(&r->msg, sizeof(r->msg));
	free(r);
}
