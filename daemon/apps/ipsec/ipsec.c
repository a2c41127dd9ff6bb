// SPDX-License-Identifier: GPL-2.0
/*
 * QKD-keyed IPsec gateway: the SA-pair state machine (ipsec.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <openssl/rand.h>

#include "core/alarm.h"
#include "core/config.h"
#include "apps/ipsec/ipsec.h"
#include "core/log.h"
#include "core/loop.h"
#include "kma/take.h"
#include "kx/peer.h"
#include "apps/ipsec/qkd_sa.h"
#include "apps/ipsec/xfrm_nl.h"

#define SPI_TRIES	8	/* fresh random SPIs after -EEXIST */

/* One generation of an SA pair: what both ends installed. */
struct sa_gen {
	uint64_t seq;
	uint32_t spi_in, spi_out;	/* inbound: dst = us */
	uint64_t key_in, key_out;	/* QKD key IDs */
	uint64_t installed_ms;
};

/* ipsec.h has them documented, as the views show them. */
enum pair_state {
	PAIR_IDLE = IPSEC_PAIR_IDLE,
	PAIR_REQUESTED = IPSEC_PAIR_REQUESTED,
	PAIR_OFFERED = IPSEC_PAIR_OFFERED,
	PAIR_UP = IPSEC_PAIR_UP,
	PAIR_RETRY = IPSEC_PAIR_RETRY,
};

struct sa_pair {
	struct sa_pair *next;
	struct ipsec *ips;
	const struct ipsec_gw_cfg *gw;
	uint32_t reqid;
	uint8_t mode;			/* enum qkd_sa_mode */
	bool owner;
	enum pair_state state;
	bool have_cur;
	struct sa_gen cur, offer;
	uint64_t next_seq;
	uint32_t lifetime_s;		/* in force: configured or stretched */
	uint64_t rekey_at_ms;		/* owner's fallback deadline */
	uint64_t rekeys;		/* successor generations installed */
	int no_key;			/* -errno of the last failed reserve */
	unsigned int want_lifetime;	/* > configured: budget stretched it */
	unsigned long long skr;		/* link rate at the last budget check */
	unsigned int request_tries;
	struct loop_timer *timer;
};

struct ipsec {
	struct loop *loop;
	const struct ipsec_cfg *cfg;
	const char *self;
	struct peers *peers;
	struct qkd_sa_sock *qs;
	struct xfrm_nl *xn;
	struct sa_pair *pairs;
	uint64_t acquires, foreign_acquires, unknown_acquires;
};

/* ---- helpers ---- */

static size_t alen(uint16_t family)
{
	return family == AF_INET6 ? 16 : 4;
}

static const char *addr_str(uint16_t family, const uint8_t *a, char *buf,
			    size_t len)
{
	struct xfrm_nl_addr x = { 0 };

	memcpy(x.b, a, alen(family));
	return xfrm_nl_addr_str(family, &x, buf, len);
}

static void alarm_source(const struct ipsec_gw_cfg *gw, char *buf, size_t len)
{
	snprintf(buf, len, "ipsec:%.41s", gw->name);
}

static uint32_t random_spi(void)
{
	uint32_t v = 0;

	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = (uint32_t)loop_now_ms() * 2654435761u;
	return 256 + v % (UINT32_MAX - 256);
}

unsigned int ipsec_budget_lifetime(unsigned int lifetime, unsigned int key_len,
				   unsigned int pairs, unsigned long long skr)
{
	/* This end allocates from half the blocks (skr / 16 bytes/s), and
	 * IPsec may take half of that: the rest stays for ETSI 014 and
	 * relay.  Each pair needs 2 * key_len bytes per lifetime. */
	unsigned long long need = 2ULL * key_len * (pairs ? pairs : 1) * 32;
	unsigned long long min;

	if (!skr)
		return IPSEC_LIFETIME_MAX;
	min = (need + skr - 1) / skr;
	if (min > IPSEC_LIFETIME_MAX)
		min = IPSEC_LIFETIME_MAX;
	return min > lifetime ? (unsigned int)min : lifetime;
}

static const struct ipsec_gw_cfg *gw_by_addrs(const struct ipsec *ips,
					      uint16_t family,
					      const uint8_t *local,
					      const uint8_t *remote)
{
	for (size_t i = 0; i < ips->cfg->n_gws; i++) {
		const struct ipsec_gw_cfg *gw = &ips->cfg->gws[i];

		if (gw->family == family &&
		    !memcmp(gw->local, local, alen(family)) &&
		    !memcmp(gw->remote, remote, alen(family)))
			return gw;
	}
	return NULL;
}

static bool reqid_ours(const struct ipsec *ips, uint32_t reqid)
{
	return reqid >= ips->cfg->reqid_min && reqid <= ips->cfg->reqid_max;
}

static struct sa_pair *pair_find(struct ipsec *ips,
				 const struct ipsec_gw_cfg *gw, uint32_t reqid,
				 uint8_t mode, bool create)
{
	struct sa_pair *p;

	for (p = ips->pairs; p; p = p->next)
		if (p->gw == gw && p->reqid == reqid)
			return p;
	if (!create)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p) {
		log_err("ipsec %s: out of memory", gw->name);
		return NULL;
	}
	p->ips = ips;
	p->gw = gw;
	p->reqid = reqid;
	p->mode = mode;
	p->owner = peer_dials(ips->self, gw->peer);
	p->lifetime_s = gw->lifetime_s;
	p->next = ips->pairs;
	ips->pairs = p;
	return p;
}

static void pair_timer(struct sa_pair *p, uint64_t ms,
		       void (*fn)(void *arg))
{
	loop_timer_del(p->timer);
	p->timer = ms ? loop_timer_add(p->ips->loop, ms, false, fn, p) : NULL;
}

/* Fill the fixed part of an IPSEC_* message for @p. */
static void msg_init(struct kxmsg *m, const struct sa_pair *p,
		     enum kxmsg_type type)
{
	kxmsg_clear(m, type);
	m->gw_len = (uint8_t)alen(p->gw->family);
	memcpy(m->gw_local, p->gw->local, m->gw_len);
	memcpy(m->gw_remote, p->gw->remote, m->gw_len);
	m->reqid = p->reqid;
	m->sa_mode = p->mode;
}

static void sa_params(struct qkd_sa_params *sp, const struct sa_pair *p,
		      uint32_t index, bool inbound, uint64_t key_id,
		      uint32_t spi, const struct kxmsg_sa_life *life)
{
	const struct ipsec_gw_cfg *gw = p->gw;

	memset(sp, 0, sizeof(*sp));
	sp->link_index = index;
	sp->key_id = key_id;
	sp->key_len = gw->key_len;
	sp->family = gw->family;
	memcpy(sp->saddr, inbound ? gw->remote : gw->local, alen(gw->family));
	memcpy(sp->daddr, inbound ? gw->local : gw->remote, alen(gw->family));
	sp->spi = spi;
	sp->mode = p->mode;
	sp->reqid = p->reqid;
	sp->replay_window = p->ips->cfg->replay_window;
	sp->soft_s = life->soft_s;
	sp->hard_s = life->hard_s;
	sp->soft_bytes = life->soft_bytes;
	sp->hard_bytes = life->hard_bytes;
}

/*
 * Install our inbound SA with a fresh random SPI (retried on -EEXIST,
 * which the kernel checks before it takes the key).  0 or -errno.
 */
static int add_inbound(struct sa_pair *p, uint32_t index, uint64_t key_id,
		       const struct kxmsg_sa_life *life, uint32_t *spi)
{
	struct qkd_sa_params sp;
	int rc = -EEXIST;

	for (int i = 0; i < SPI_TRIES && rc == -EEXIST; i++) {
		*spi = random_spi();
		sa_params(&sp, p, index, true, key_id, *spi, life);
		rc = qkd_sa_add(p->ips->qs, &sp);
	}
	return rc;
}

static void log_sa_error(const struct sa_pair *p, const char *what, int rc)
{
	const char *ext = qkd_sa_extack(p->ips->qs);

	log_warn("ipsec %s: reqid %u: %s: %s%s%s", p->gw->name, p->reqid, what,
		 strerror(-rc), ext[0] ? ": " : "", ext);
}

static void log_generation(const struct sa_pair *p, const char *verb)
{
	log_info("ipsec %s: reqid %u generation %" PRIu64 " %s: out spi 0x%08x key 0x%" PRIx64 ", in spi 0x%08x key 0x%" PRIx64 ", lifetime %u s",
		 p->gw->name, p->reqid, p->cur.seq, verb, p->cur.spi_out,
		 p->cur.key_out, p->cur.spi_in, p->cur.key_in, p->lifetime_s);
}

/* ---- owner ---- */

static void owner_rekey(struct sa_pair *p);

/*
 * An offer that will not complete: K_out was reserved here and nobody
 * will take it at this end, so zeroise it now rather than at eviction.
 * (K_in went into our inbound SA; the peer may have taken K_out at its
 * end, which is its own copy.)
 */
static void drop_offer(struct sa_pair *p)
{
	struct qkd_sa_link link;

	if (!qkd_sa_link_get(p->ips->qs, p->gw->link_id, &link))
		qkd_sa_discard(p->ips->qs, link.index, p->offer.key_out,
			       p->gw->key_len);
}

static void owner_timer_cb(void *arg)
{
	struct sa_pair *p = arg;

	if (p->state == PAIR_OFFERED) {
		log_warn("ipsec %s: reqid %u: no answer from %s to offer %" PRIu64 " within %d ms; retrying",
			 p->gw->name, p->reqid, p->gw->peer, p->offer.seq,
			 IPSEC_OFFER_TIMEOUT_MS);
		drop_offer(p);
	}
	owner_rekey(p);
}

static void owner_retry(struct sa_pair *p)
{
	p->state = PAIR_RETRY;
	pair_timer(p, IPSEC_RETRY_MS, owner_timer_cb);
}

static unsigned int owned_pairs_on_link(const struct ipsec *ips,
					uint32_t link_id)
{
	unsigned int n = 0;

	for (const struct sa_pair *q = ips->pairs; q; q = q->next)
		if (q->owner && q->gw->link_id == link_id)
			n++;
	return n;
}

/*
 * One alarm per gateway, "ipsec:NAME", from the state of all its pairs:
 * an empty pool outranks a stretched lifetime; neither clears it.
 */
static void gw_alarm_update(struct ipsec *ips, const struct ipsec_gw_cfg *gw)
{
	const struct sa_pair *empty = NULL, *thin = NULL;
	char src[ALARM_SOURCE_MAX], obj[ALARM_OBJECT_MAX];
	struct alarm_desc d = { .object = obj, .type = ALARM_QOS };
	uint64_t now = loop_now_ms(), left = 0;

	for (const struct sa_pair *q = ips->pairs; q; q = q->next) {
		if (q->gw != gw)
			continue;
		if (q->no_key && !empty)
			empty = q;
		if (q->want_lifetime > gw->lifetime_s && !thin)
			thin = q;
	}
	alarm_source(gw, src, sizeof(src));
	snprintf(obj, sizeof(obj), "gateway=%.41s", gw->name);
	if (empty) {
		if (empty->have_cur) {
			uint64_t hard = empty->cur.installed_ms +
				1000ULL * (empty->lifetime_s + gw->grace_s);

			left = hard > now ? (hard - now + 999) / 1000 : 0;
		}
		d.cause = "resourceAtOrNearingCapacity";
		d.severity = ALARM_MAJOR;
		alarm_raise_desc(src, &d, "no key for reqid %u on link %s (%s): keeping the current SAs (hard limit in %" PRIu64 " s), retrying every second",
			    empty->reqid, gw->link,
			    empty->no_key == -ENOSPC ? "pool empty" :
			    strerror(-empty->no_key), left);
	} else if (thin) {
		d.cause = "thresholdCrossed";
		d.severity = ALARM_WARNING;
		alarm_raise_desc(src, &d, "key budget: lifetime stretched from %u s to %u s (link %s: %llu bit/s for %u-byte keys)",
			    gw->lifetime_s, thin->want_lifetime, gw->link,
			    thin->skr, gw->key_len);
	} else {
		alarm_clear(src);
	}
}

/* The key budget: stretch the lifetime if the link cannot keep up. */
static void apply_budget(struct sa_pair *p, const struct qkd_sa_link *link)
{
	const struct ipsec_gw_cfg *gw = p->gw;
	unsigned int n = owned_pairs_on_link(p->ips, gw->link_id);

	p->skr = link->skr;
	/*
	 * A push end reports no rate (its key source, a module, keeps its
	 * own): the configured lifetime stands, and a shortage shows as one.
	 */
	p->want_lifetime = link->pushed ? gw->lifetime_s :
		ipsec_budget_lifetime(gw->lifetime_s, gw->key_len, n,
				      link->skr);
	p->lifetime_s = p->want_lifetime;
}

/*
 * Accounting: @keys keys of the gateway's length taken from the kernel's
 * pool of its link (@rc 0) or asked for in vain.  The owner reserves both
 * directions' keys at once; the follower's SAs take them by ID.
 */
static void account_take(const struct sa_pair *p, bool by_id, uint32_t keys,
			 int rc)
{
	const struct ipsec_gw_cfg *gw = p->gw;
	struct kma_take t = {
		.kind = "ipsec", .name = gw->name, .peer = gw->peer,
		.link = gw->link, .by_id = by_id, .keys = keys,
		.bytes = (uint64_t)keys * gw->key_len, .err = rc < 0 ? rc : 0,
	};

	kma_take_report(&t);
}

static void no_key(struct sa_pair *p, int rc)
{
	p->no_key = rc;
	gw_alarm_update(p->ips, p->gw);
	owner_retry(p);
}

/* Reserve two keys and install the inbound SA; then OFFER. */
static void owner_rekey(struct sa_pair *p)
{
	struct ipsec *ips = p->ips;
	const struct ipsec_gw_cfg *gw = p->gw;
	struct qkd_sa_link link;
	struct kxmsg m;
	uint64_t ids[2];
	uint32_t spi;
	int rc;

	pair_timer(p, 0, NULL);
	if (!peers_is_up(ips->peers, gw->peer)) {
		log_debug("ipsec %s: peer %s not connected; retrying",
			  gw->name, gw->peer);
		owner_retry(p);
		return;
	}
	rc = qkd_sa_link_get(ips->qs, gw->link_id, &link);
	if (rc) {
		account_take(p, false, 2, rc);
		no_key(p, rc);
		return;
	}
	apply_budget(p, &link);
	rc = qkd_sa_reserve(ips->qs, link.index, gw->key_len, 2, ids);
	account_take(p, false, 2, rc);
	if (rc) {
		no_key(p, rc);
		return;
	}
	p->no_key = 0;
	gw_alarm_update(ips, gw);
	msg_init(&m, p, KXMSG_IPSEC_OFFER);
	m.key_id = ids[0];		/* owner -> peer */
	m.key_id_rev = ids[1];		/* peer -> owner */
	m.key_len = gw->key_len;
	m.life = (struct kxmsg_sa_life){
		.soft_s = p->lifetime_s,
		.hard_s = p->lifetime_s + gw->grace_s,
		.soft_bytes = gw->soft_bytes, .hard_bytes = gw->hard_bytes,
	};
	rc = add_inbound(p, link.index, ids[1], &m.life, &spi);
	if (rc) {
		log_sa_error(p, "inbound SA", rc);
		qkd_sa_discard(ips->qs, link.index, ids[0], gw->key_len);
		qkd_sa_discard(ips->qs, link.index, ids[1], gw->key_len);
		owner_retry(p);
		return;
	}
	m.seq = ++p->next_seq;
	m.spi = spi;
	p->offer = (struct sa_gen){
		.seq = m.seq, .spi_in = spi, .key_in = ids[1],
		.key_out = ids[0],
	};
	p->state = PAIR_OFFERED;
	pair_timer(p, IPSEC_OFFER_TIMEOUT_MS, owner_timer_cb);
	if (peers_send(ips->peers, gw->peer, &m))
		log_warn("ipsec %s: could not send the offer to %s", gw->name,
			 gw->peer);
}

/* Start a (re)key unless one is under way. */
static void owner_kick(struct sa_pair *p)
{
	if (p->state != PAIR_OFFERED)
		owner_rekey(p);
}

static void owner_accept(struct sa_pair *p, const struct kxmsg *m)
{
	struct ipsec *ips = p->ips;
	struct qkd_sa_params sp;
	struct qkd_sa_link link;
	struct kxmsg_sa_life life = {
		.soft_s = p->lifetime_s,
		.hard_s = p->lifetime_s + p->gw->grace_s,
		.soft_bytes = p->gw->soft_bytes, .hard_bytes = p->gw->hard_bytes,
	};
	int rc;

	if (p->state != PAIR_OFFERED || m->seq != p->offer.seq) {
		log_debug("ipsec %s: stale accept %" PRIu64, p->gw->name,
			  m->seq);
		return;
	}
	if (m->code != KXC_OK) {
		log_warn("ipsec %s: reqid %u: %s refused offer %" PRIu64 ": %s%s%s",
			 p->gw->name, p->reqid, p->gw->peer, m->seq,
			 kxmsg_code_name(m->code), m->text[0] ? ": " : "",
			 m->text);
		drop_offer(p);
		owner_retry(p);
		return;
	}
	rc = qkd_sa_link_get(ips->qs, p->gw->link_id, &link);
	if (!rc) {
		sa_params(&sp, p, link.index, false, p->offer.key_out, m->spi,
			  &life);
		rc = qkd_sa_add(ips->qs, &sp);
	}
	if (rc) {
		log_sa_error(p, "outbound SA", rc);
		drop_offer(p);
		owner_retry(p);
		return;
	}
	if (p->have_cur)
		p->rekeys++;
	p->cur = p->offer;
	p->cur.spi_out = m->spi;
	p->cur.installed_ms = loop_now_ms();
	p->have_cur = true;
	p->state = PAIR_UP;
	/* The soft EXPIRE normally comes first; this is the fallback. */
	p->rekey_at_ms = p->cur.installed_ms + 1000ULL * p->lifetime_s;
	pair_timer(p, 1000ULL * p->lifetime_s + 1000, owner_timer_cb);
	log_generation(p, "up");
}

/* ---- follower ---- */

static void follower_request_cb(void *arg)
{
	struct sa_pair *p = arg;
	struct kxmsg m;

	if (p->state != PAIR_REQUESTED)
		return;
	if (p->request_tries++ >= IPSEC_REQUEST_TRIES) {
		log_warn("ipsec %s: reqid %u: %s did not offer SAs; giving up until the next ACQUIRE",
			 p->gw->name, p->reqid, p->gw->peer);
		p->state = p->have_cur ? PAIR_UP : PAIR_IDLE;
		return;
	}
	msg_init(&m, p, KXMSG_IPSEC_REQUEST);
	if (peers_send(p->ips->peers, p->gw->peer, &m))
		log_debug("ipsec %s: peer %s not connected; will ask again",
			  p->gw->name, p->gw->peer);
	pair_timer(p, IPSEC_RETRY_MS, follower_request_cb);
}

static void follower_request(struct sa_pair *p)
{
	if (p->state == PAIR_REQUESTED)
		return;
	p->state = PAIR_REQUESTED;
	p->request_tries = 0;
	follower_request_cb(p);
}

static void send_accept(struct sa_pair *p, const struct kxmsg *offer,
			uint32_t code, const char *text, uint32_t spi)
{
	struct kxmsg m;

	msg_init(&m, p, KXMSG_IPSEC_ACCEPT);
	m.seq = offer->seq;
	m.code = code;
	m.spi = spi;
	snprintf(m.text, sizeof(m.text), "%s", text);
	if (peers_send(p->ips->peers, p->gw->peer, &m))
		log_warn("ipsec %s: could not answer %s", p->gw->name,
			 p->gw->peer);
}

/* Inbound first, then outbound: the owner's inbound is already in. */
static void follower_offer(struct sa_pair *p, const struct kxmsg *m)
{
	struct ipsec *ips = p->ips;
	struct qkd_sa_link link;
	struct qkd_sa_params sp;
	char why[KXMSG_TEXT_MAX];
	uint32_t spi = 0;
	int rc;

	if (m->key_len != p->gw->key_len) {
		log_warn("ipsec %s: offer with %u-byte keys, configured %u",
			 p->gw->name, m->key_len, p->gw->key_len);
		send_accept(p, m, KXC_BAD_MESSAGE, "key length differs", 0);
		return;
	}
	p->mode = m->sa_mode;
	rc = qkd_sa_link_get(ips->qs, p->gw->link_id, &link);
	if (!rc)
		rc = add_inbound(p, link.index, m->key_id, &m->life, &spi);
	account_take(p, true, rc ? 2 : 1, rc);
	if (!rc) {
		sa_params(&sp, p, link.index, false, m->key_id_rev, m->spi,
			  &m->life);
		rc = qkd_sa_add(ips->qs, &sp);
		account_take(p, true, 1, rc);
		if (rc)
			log_sa_error(p, "outbound SA", rc);
	} else {
		log_sa_error(p, "inbound SA", rc);
	}
	if (rc) {
		snprintf(why, sizeof(why), "SA_ADD: %s", strerror(-rc));
		send_accept(p, m, KXC_FETCH_FAILED, why, 0);
		return;
	}
	if (p->have_cur)
		p->rekeys++;
	p->cur = (struct sa_gen){
		.seq = m->seq, .spi_in = spi, .spi_out = m->spi,
		.key_in = m->key_id, .key_out = m->key_id_rev,
		.installed_ms = loop_now_ms(),
	};
	p->have_cur = true;
	p->lifetime_s = (uint32_t)m->life.soft_s;
	p->state = PAIR_UP;
	pair_timer(p, 0, NULL);
	send_accept(p, m, KXC_OK, "", spi);
	log_generation(p, "up");
}

/* ---- events from the kernel ---- */

static void on_acquire(struct ipsec *ips, const struct xfrm_nl_acquire *a)
{
	const struct ipsec_gw_cfg *gw;
	struct sa_pair *p;
	char dst[64], src[ALARM_SOURCE_MAX];

	if (!reqid_ours(ips, a->reqid)) {
		ips->foreign_acquires++;
		log_debug("ipsec: ACQUIRE reqid %u is not ours (IKE)", a->reqid);
		return;
	}
	ips->acquires++;
	gw = gw_by_addrs(ips, a->family, a->saddr.b, a->daddr.b);
	xfrm_nl_addr_str(a->family, &a->daddr, dst, sizeof(dst));
	if (!gw) {
		ips->unknown_acquires++;
		log_warn("ipsec: ACQUIRE for reqid %u toward %s: no [ipsec] gateway section has that remote address; no SA installed",
			 a->reqid, dst);
		static const struct alarm_desc unknown = {
			.type = ALARM_PROCESSING,
			.cause = "configurationOrCustomizationError",
			.severity = ALARM_MAJOR,
		};

		snprintf(src, sizeof(src), "ipsec:%.41s", dst);
		alarm_raise_desc(src, &unknown, "policy with reqid %u toward unknown gateway %s: no SA; add an [ipsec] gateway for it or remove the policy",
				 a->reqid, dst);
		return;
	}
	p = pair_find(ips, gw, a->reqid, a->mode == 1 ? QKD_SA_MODE_TUNNEL :
		      QKD_SA_MODE_TRANSPORT, true);
	if (!p)
		return;
	log_info("ipsec %s: ACQUIRE reqid %u toward %s (%s)", gw->name,
		 a->reqid, dst, p->owner ? "keying" : "asking the owner");
	if (p->owner)
		owner_kick(p);
	else
		follower_request(p);
}

static bool is_current(const struct sa_pair *p, const struct xfrm_nl_expire *e)
{
	const struct ipsec_gw_cfg *gw = p->gw;

	if (!p->have_cur || e->family != gw->family || e->reqid != p->reqid)
		return false;
	return (e->spi == p->cur.spi_out &&
		!memcmp(e->daddr.b, gw->remote, alen(gw->family))) ||
	       (e->spi == p->cur.spi_in &&
		!memcmp(e->daddr.b, gw->local, alen(gw->family)));
}

/*
 * A hard expiry killed one of our SAs, of any generation (an old one at
 * the end of its grace): SA_DEL makes qkd.ko drop its reference at once,
 * so the state and its key are freed now.  -ENOENT: qkd.ko had already
 * released it.
 */
static void release_expired(struct ipsec *ips, const struct xfrm_nl_expire *e)
{
	int rc = qkd_sa_del(ips->qs, e->family, e->daddr.b, e->spi);

	if (rc && rc != -ENOENT)
		log_warn("ipsec: SA_DEL of expired SA 0x%08x: %s%s%s", e->spi,
			 strerror(-rc), qkd_sa_extack(ips->qs)[0] ? ": " : "",
			 qkd_sa_extack(ips->qs));
}

static void on_expire(struct ipsec *ips, const struct xfrm_nl_expire *e)
{
	struct sa_pair *p;

	if (e->proto != IPPROTO_ESP || !reqid_ours(ips, e->reqid))
		return;
	if (e->hard)
		release_expired(ips, e);
	for (p = ips->pairs; p && !is_current(p, e); p = p->next)
		;
	if (!p)
		return;		/* an older generation: expected */
	if (e->hard) {
		log_warn("ipsec %s: reqid %u: current SA 0x%08x reached its hard limit",
			 p->gw->name, p->reqid, e->spi);
		p->have_cur = false;
		if (p->state == PAIR_UP)
			p->state = PAIR_IDLE;
		if (p->owner && p->state == PAIR_IDLE)
			pair_timer(p, 0, NULL);
		return;
	}
	if (p->owner && p->state == PAIR_UP) {
		log_debug("ipsec %s: soft expiry of 0x%08x: rekeying",
			  p->gw->name, e->spi);
		owner_rekey(p);
	}
}

static void on_xfrm(void *arg, const struct xfrm_nl_event *ev)
{
	if (ev->kind == XFRM_NL_ACQUIRE)
		on_acquire(arg, &ev->acquire);
	else if (ev->kind == XFRM_NL_EXPIRE)
		on_expire(arg, &ev->expire);
}

/* ---- Kx ---- */

void ipsec_receive(void *arg, const char *from, const struct kxmsg *m)
{
	struct ipsec *ips = arg;
	const struct ipsec_gw_cfg *gw;
	struct sa_pair *p;
	uint16_t family = m->gw_len == 16 ? AF_INET6 : AF_INET;
	char a[64];

	/* The sender's local address is our remote one. */
	gw = gw_by_addrs(ips, family, m->gw_remote, m->gw_local);
	if (!gw || strcmp(gw->peer, from) || !reqid_ours(ips, m->reqid)) {
		log_warn("ipsec: %s from %s for gateway %s reqid %u: no such [ipsec] gateway of that peer; ignored",
			 kxmsg_type_name(m->type), from,
			 addr_str(family, m->gw_local, a, sizeof(a)), m->reqid);
		return;
	}
	p = pair_find(ips, gw, m->reqid, m->sa_mode,
		      m->type != KXMSG_IPSEC_ACCEPT);
	if (!p)
		return;
	switch (m->type) {
	case KXMSG_IPSEC_REQUEST:
		if (p->owner)
			owner_kick(p);
		else
			log_warn("ipsec %s: %s asks us to key, but it owns the pair",
				 gw->name, from);
		break;
	case KXMSG_IPSEC_OFFER:
		if (!p->owner)
			follower_offer(p, m);
		else
			log_warn("ipsec %s: offer from %s, but we own the pair",
				 gw->name, from);
		break;
	case KXMSG_IPSEC_ACCEPT:
		if (p->owner)
			owner_accept(p, m);
		break;
	default:
		break;
	}
}

/* ---- state for the views ---- */

const char *ipsec_pair_state_name(enum ipsec_pair_state st)
{
	static const char *const names[] = {
		[IPSEC_PAIR_IDLE] = "idle", [IPSEC_PAIR_REQUESTED] = "requested",
		[IPSEC_PAIR_OFFERED] = "offered", [IPSEC_PAIR_UP] = "up",
		[IPSEC_PAIR_RETRY] = "retrying",
	};

	return (unsigned int)st < sizeof(names) / sizeof(names[0]) ?
	       names[st] : "?";
}

void ipsec_info(const struct ipsec *ips, struct ipsec_info *out)
{
	memset(out, 0, sizeof(*out));
	out->reqid_min = ips->cfg->reqid_min;
	out->reqid_max = ips->cfg->reqid_max;
	out->acquires = ips->acquires;
	out->unknown_acquires = ips->unknown_acquires;
	out->foreign_acquires = ips->foreign_acquires;
}

static void pair_info(const struct sa_pair *p, uint64_t now,
		      struct ipsec_pair_info *out)
{
	char src[ALARM_SOURCE_MAX];

	memset(out, 0, sizeof(*out));
	snprintf(out->gateway, sizeof(out->gateway), "%s", p->gw->name);
	snprintf(out->peer, sizeof(out->peer), "%s", p->gw->peer);
	out->reqid = p->reqid;
	out->tunnel = p->mode == QKD_SA_MODE_TUNNEL;
	out->owner = p->owner;
	out->state = (enum ipsec_pair_state)p->state;
	out->rekeys = p->rekeys;
	out->lifetime_s = p->lifetime_s;
	alarm_source(p->gw, src, sizeof(src));
	out->alarm = alarm_is_active(src);
	if (p->have_cur) {
		out->installed = true;
		out->generation = p->cur.seq;
		out->spi_in = p->cur.spi_in;
		out->spi_out = p->cur.spi_out;
		out->key_id_in = p->cur.key_in;
		out->key_id_out = p->cur.key_out;
		out->age_ms = now - p->cur.installed_ms;
	}
	if (p->owner && p->state == PAIR_UP && p->rekey_at_ms > now)
		out->next_rekey_ms = p->rekey_at_ms - now;
}

void ipsec_foreach_pair(const struct ipsec *ips,
			int (*fn)(void *arg, const struct ipsec_pair_info *p),
			void *arg)
{
	struct ipsec_pair_info info;
	uint64_t now = loop_now_ms();

	for (const struct sa_pair *p = ips->pairs; p; p = p->next) {
		pair_info(p, now, &info);
		if (fn(arg, &info))
			break;
	}
}

/* ---- start / stop ---- */

struct ipsec *ipsec_start(struct loop *loop, const struct ipsec_cfg *cfg,
			  const char *self, struct peers *peers,
			  char *err, size_t errlen)
{
	struct ipsec *ips = calloc(1, sizeof(*ips));

	if (!ips) {
		snprintf(err, errlen, "ipsec: out of memory");
		return NULL;
	}
	ips->loop = loop;
	ips->cfg = cfg;
	ips->self = self;
	ips->peers = peers;
	ips->qs = qkd_sa_open(err, errlen);
	if (!ips->qs)
		goto fail;
	ips->xn = xfrm_nl_open(loop, on_xfrm, ips, err, errlen);
	if (!ips->xn)
		goto fail;
	peers_on_message(peers, KXMSG_IPSEC_REQUEST, ipsec_receive, ips);
	peers_on_message(peers, KXMSG_IPSEC_OFFER, ipsec_receive, ips);
	peers_on_message(peers, KXMSG_IPSEC_ACCEPT, ipsec_receive, ips);
	log_notice("ipsec: %zu gateway(s), reqids %u..%u", cfg->n_gws,
		   cfg->reqid_min, cfg->reqid_max);
	return ips;
fail:
	ipsec_stop(ips);
	return NULL;
}

void ipsec_stop(struct ipsec *ips)
{
	struct sa_pair *p, *next;

	if (!ips)
		return;
	if (ips->peers) {
		peers_on_message(ips->peers, KXMSG_IPSEC_REQUEST, NULL, NULL);
		peers_on_message(ips->peers, KXMSG_IPSEC_OFFER, NULL, NULL);
		peers_on_message(ips->peers, KXMSG_IPSEC_ACCEPT, NULL, NULL);
	}
	for (p = ips->pairs; p; p = next) {
		next = p->next;
		loop_timer_del(p->timer);
		free(p);
	}
	xfrm_nl_close(ips->xn);
	qkd_sa_close(ips->qs);
	free(ips);
}
