// SPDX-License-Identifier: GPL-2.0
/*
 * MACsec ports: one state machine per [macsec NAME] section (macsec.h).
 *
 * A rotation, started by the owner every rotate_s seconds, early when a TX
 * PN passes pn_threshold (either end: the other end asks with REKEY), or
 * when the encoding SA went inactive (PN exhausted):
 *
 *   owner                                    other end
 *   alloc SAK from the link (key ID K)
 *   install RX SA n, TX SA n (n = AN + 1)
 *   MACSEC_SAK (K, len, seq, n)  -------->   get K from the link
 *                                            install RX SA n, TX SA n
 *                                <--------   MACSEC_ACK (seq, ok)
 *   encoding SA := n
 *   MACSEC_SWITCH (seq, n)       -------->   encoding SA := n
 *
 * Each end can receive on n before either end sends on it, and keeps
 * receiving on the old AN for the grace period (half the interval, at most
 * GRACE_MAX_MS), after which the old SAs are deleted; the AN comes round
 * again only three rotations later.  A failure (no key, fetch refused,
 * install error, no answer) raises alarm "macsec:IFNAME", keeps the current
 * SAK and retries; the next good rotation clears the alarm.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "core/alarm.h"
#include "kma/kma.h"
#include "kx/kxmsg.h"
#include "core/log.h"
#include "core/loop.h"
#include "apps/macsec/macsec.h"
#include "apps/macsec/macsec_nl.h"
#include "kx/peer.h"

#define TICK_MS		100
#define HELLO_EVERY_MS	1000
#define PN_POLL_MS	500
#define ACK_TIMEOUT_MS	3000
#define RETRY_MS	1000
#define GRACE_MAX_MS	500
#define ERR_MAX		MACSEC_ERROR_MAX

enum port_phase {
	PHASE_IDLE,		/* current SAK (if any) in use */
	PHASE_WAIT_ACK,		/* owner: SAK sent, new SAs installed */
};

struct port {
	struct macsec *ms;
	struct macsec_port_cfg cfg;
	struct keysrc *src;
	uint32_t ifindex;
	uint32_t key_len;
	bool owner;

	uint64_t sci, peer_sci;		/* 0: not known */
	bool peer_knows_us;		/* the peer has our SCI */
	bool rxsc_added;
	bool kx_was_up;
	uint64_t hello_at_ms;

	enum port_phase phase;
	bool have_sak;
	uint8_t an;			/* encoding SA */
	uint64_t key_id;		/* of the SAK in use */
	/* the rotation under way */
	uint64_t seq;
	uint8_t next_an;
	uint64_t next_key_id;
	uint64_t sent_at_ms;
	uint64_t next_rotation_ms;	/* when the SAK in use expires */
	uint64_t retry_ms;		/* no attempt before, after a failure */
	bool rekey_wanted;		/* PN threshold (ours or the peer's) */
	/* old SAs waiting out the grace period */
	int old_an;			/* -1: none */
	uint64_t old_delete_ms;

	uint64_t rotations, failures;
	uint64_t last_rotation_ms;
	uint64_t pn_polled_ms, tx_pn;
	uint64_t rekey_asked_ms;
	bool alarmed;
	char last_error[ERR_MAX];
};

struct macsec {
	struct loop *loop;
	struct macsec_nl *nl;		/* NULL with test ops */
	const struct macsec_kernel_ops *kops;
	void *k;
	struct loop_timer *tick;
	const struct macsec_transport *kx;
	void *kx_arg;
	uint8_t *sak;			/* secure heap; the SAK in transit */
	struct port *ports;
	size_t n_ports;
	char node_name[KM_NAME_MAX];
};

void macsec_keyid(uint64_t key_id, uint32_t key_len, uint8_t out[16])
{
	/* "QKD" + version, the link key ID and its length, big-endian. */
	static const uint8_t tag[4] = { 'Q', 'K', 'D', 1 };
	uint64_t id = htobe64(key_id);
	uint32_t len = htobe32(key_len);

	memcpy(out, tag, 4);
	memcpy(out + 4, &id, 8);
	memcpy(out + 12, &len, 4);
}

static uint64_t grace_ms(const struct port *p)
{
	uint64_t half = (uint64_t)p->cfg.rotate_s * 500;

	return half < GRACE_MAX_MS ? half : GRACE_MAX_MS;
}

static uint64_t now_ms(const struct macsec *ms)
{
	return ms->kops->now_ms ? ms->kops->now_ms(ms->k) : loop_now_ms();
}

/* ---- failures and alarms ------------------------------------------------ */

static void port_fail(struct port *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void port_fail(struct port *p, const char *fmt, ...)
{
	char src[ALARM_SOURCE_MAX], obj[ALARM_OBJECT_MAX];
	struct alarm_desc d = {
		.object = obj, .type = ALARM_PROCESSING,
		.cause = "applicationSubsystemFailure",
		.severity = ALARM_MAJOR,
	};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
	va_end(ap);
	p->failures++;
	snprintf(src, sizeof(src), "macsec:%s", p->cfg.ifname);
	snprintf(obj, sizeof(obj), "macsec=%s", p->cfg.ifname);
	alarm_raise_desc(src, &d, "[macsec %s] %s; keeping the current SAK, retrying",
			 p->cfg.name, p->last_error);
	p->alarmed = true;
	p->phase = PHASE_IDLE;
	p->retry_ms = now_ms(p->ms) + RETRY_MS;
}

static void port_ok(struct port *p)
{
	char src[ALARM_SOURCE_MAX];

	if (!p->alarmed)
		return;
	snprintf(src, sizeof(src), "macsec:%s", p->cfg.ifname);
	alarm_clear(src);
	p->alarmed = false;
}

/* ---- kernel state ------------------------------------------------------- */

static void ensure_rxsc(struct port *p)
{
	char err[ERR_MAX];
	int ret;

	if (p->rxsc_added || !p->peer_sci)
		return;
	ret = p->ms->kops->add_rxsc(p->ms->k, p->ifindex, p->peer_sci, err,
				    sizeof(err));
	if (ret < 0 && ret != -EEXIST) {
		port_fail(p, "%s", err);
		return;
	}
	p->rxsc_added = true;
	log_info("macsec %s: RX SC %016" PRIx64 " on %s", p->cfg.name,
		 p->peer_sci, p->cfg.ifname);
}

/* Deactivate and delete the RX and TX SA at @an, if there are any. */
static void remove_sas(struct port *p, uint8_t an)
{
	p->ms->kops->del_sa(p->ms->k, p->ifindex, &p->peer_sci, an);
	p->ms->kops->del_sa(p->ms->k, p->ifindex, NULL, an);
}

/*
 * The SAK (in ms->sak) as RX SA and TX SA @an, replacing whatever a crash
 * or an old rotation left there.  The TX SA is active but not yet the
 * encoding SA, so nothing is sent with it.  Cleanses the SAK.
 */
static int install_sas(struct port *p, uint8_t an, uint64_t key_id)
{
	struct macsec_nl_sa_cfg sa = {
		.an = an, .pn = 1, .active = true,
		.key = p->ms->sak, .key_len = p->key_len,
	};
	char err[ERR_MAX];
	int ret;

	macsec_keyid(key_id, p->key_len, sa.keyid);
	if (p->have_sak && an == p->an) {
		OPENSSL_cleanse(p->ms->sak, p->key_len);
		port_fail(p, "refusing to replace the encoding SA %u", an);
		return -EBUSY;
	}
	remove_sas(p, an);
	ret = p->ms->kops->add_sa(p->ms->k, p->ifindex, &p->peer_sci, &sa,
				  err, sizeof(err));
	if (ret == 0)
		ret = p->ms->kops->add_sa(p->ms->k, p->ifindex, NULL, &sa, err,
					  sizeof(err));
	OPENSSL_cleanse(p->ms->sak, p->key_len);
	if (ret < 0) {
		remove_sas(p, an);
		port_fail(p, "%s", err);
	}
	return ret;
}

/* The rotation is complete at this end: transmit with @an. */
static int switch_to(struct port *p, uint8_t an, uint64_t key_id)
{
	char err[ERR_MAX];
	uint64_t now = now_ms(p->ms);
	int ret;

	ret = p->ms->kops->set_encoding_sa(p->ms->k, p->ifindex, an, err,
					   sizeof(err));
	if (ret < 0) {
		port_fail(p, "%s", err);
		return ret;
	}
	if (p->old_an >= 0)	/* a rotation faster than the grace */
		remove_sas(p, (uint8_t)p->old_an);
	p->old_an = p->have_sak ? p->an : -1;
	p->old_delete_ms = now + grace_ms(p);
	p->have_sak = true;
	p->an = an;
	p->key_id = key_id;
	p->rotations++;
	p->last_rotation_ms = now;
	p->rekey_wanted = false;
	p->phase = PHASE_IDLE;
	p->last_error[0] = '\0';
	log_debug("macsec %s: AN %u, key %" PRIx64 " (rotation %" PRIu64 ")",
		  p->cfg.name, an, key_id, p->rotations);
	port_ok(p);
	return 0;
}

/* ---- Kx ------------------------------------------------------------------ */

static void kx_send(struct port *p, struct kxmsg *m)
{
	snprintf(m->port, sizeof(m->port), "%s", p->cfg.name);
	if (p->ms->kx->send(p->ms->kx_arg, p->cfg.peer, m) < 0)
		log_debug("macsec %s: %s to %s not sent", p->cfg.name,
			  kxmsg_type_name(m->type), p->cfg.peer);
}

static void send_hello(struct port *p)
{
	struct kxmsg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->type = KXMSG_MACSEC_HELLO;
	m->sci = p->sci;
	m->peer_sci = p->peer_sci;
	kx_send(p, m);
	free(m);
	p->hello_at_ms = now_ms(p->ms);
}

static void send_simple(struct port *p, enum kxmsg_type type, uint64_t seq,
			uint8_t an, uint32_t code, const char *text)
{
	struct kxmsg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->type = type;
	m->seq = seq;
	m->an = an;
	m->code = code;
	snprintf(m->text, sizeof(m->text), "%s", text ? text : "");
	kx_send(p, m);
	free(m);
}

/* ---- owner: start a rotation -------------------------------------------- */

static void start_rotation(struct port *p)
{
	struct keysrc_key key;
	struct kxmsg *m;
	char err[ERR_MAX] = "";
	uint8_t an = (uint8_t)((p->an + 1) % MACSEC_NL_NUM_AN);
	int ret;

	ret = keysrc_alloc(p->src, p->key_len, 1, &key, p->ms->sak, err,
			   sizeof(err));
	if (ret < 0) {
		OPENSSL_cleanse(p->ms->sak, p->key_len);
		port_fail(p, "no %u-byte key from link %s: %s", p->key_len,
			  p->cfg.link, err[0] ? err : strerror(-ret));
		return;
	}
	if (install_sas(p, an, key.id) < 0)
		return;
	m = calloc(1, sizeof(*m));
	if (!m) {
		port_fail(p, "out of memory");
		return;
	}
	m->type = KXMSG_MACSEC_SAK;
	m->key_id = key.id;
	m->key_len = p->key_len;
	m->seq = ++p->seq;
	m->an = an;
	kx_send(p, m);
	free(m);
	p->phase = PHASE_WAIT_ACK;
	p->next_an = an;
	p->next_key_id = key.id;
	p->sent_at_ms = now_ms(p->ms);
	p->next_rotation_ms = p->sent_at_ms + (uint64_t)p->cfg.rotate_s * 1000;
}

static void on_ack(struct port *p, const struct kxmsg *m)
{
	if (!p->owner || p->phase != PHASE_WAIT_ACK || m->seq != p->seq)
		return;		/* late answer to a rotation given up */
	if (m->code != KXC_OK) {
		port_fail(p, "%s could not install key %" PRIx64 ": %s%s%s",
			  p->cfg.peer, p->next_key_id, kxmsg_code_name(m->code),
			  m->text[0] ? ": " : "", m->text);
		return;
	}
	if (switch_to(p, p->next_an, p->next_key_id) == 0)
		send_simple(p, KXMSG_MACSEC_SWITCH, m->seq, p->next_an, 0,
			    NULL);
}

/* ---- the other end ------------------------------------------------------ */

static void on_sak(struct port *p, const struct kxmsg *m)
{
	char err[ERR_MAX] = "";
	uint32_t code = KXC_OK;
	int ret;

	if (p->owner || !p->peer_sci || m->key_len != p->key_len) {
		send_simple(p, KXMSG_MACSEC_ACK, m->seq, 0, KXC_BAD_MESSAGE,
			    p->owner ? "both ends own the port" :
			    !p->peer_sci ? "no SCI from you yet" :
			    "key length differs from the interface's");
		return;
	}
	ensure_rxsc(p);
	ret = keysrc_get(p->src, m->key_id, m->key_len, p->ms->sak, NULL, err,
			 sizeof(err));
	if (ret < 0) {
		OPENSSL_cleanse(p->ms->sak, p->key_len);
		port_fail(p, "key %" PRIx64 " not fetched from link %s: %s",
			  m->key_id, p->cfg.link, err[0] ? err : strerror(-ret));
		code = KXC_FETCH_FAILED;
	} else if (install_sas(p, m->an, m->key_id) < 0) {
		code = KXC_MACSEC_FAILED;
	} else {
		p->next_an = m->an;
		p->next_key_id = m->key_id;
		p->seq = m->seq;
	}
	send_simple(p, KXMSG_MACSEC_ACK, m->seq, 0, code,
		    code ? p->last_error : NULL);
}

static void on_switch(struct port *p, const struct kxmsg *m)
{
	if (p->owner || m->seq != p->seq || m->an != p->next_an)
		return;
	switch_to(p, m->an, p->next_key_id);
}

static void on_hello(struct port *p, const struct kxmsg *m)
{
	if (p->peer_sci != m->sci) {
		if (p->peer_sci) {
			log_warn("macsec %s: peer SCI changed to %016" PRIx64,
				 p->cfg.name, m->sci);
			/* Else the old SC and its RX SAs keep accepting
			 * frames under SAKs that are no longer in use. */
			if (p->rxsc_added)
				p->ms->kops->del_rxsc(p->ms->k, p->ifindex,
						      p->peer_sci);
		}
		p->peer_sci = m->sci;
		p->rxsc_added = false;
		ensure_rxsc(p);
	}
	p->peer_knows_us = m->peer_sci == p->sci;
	if (!p->peer_knows_us)
		send_hello(p);
}

void macsec_receive(struct macsec *ms, const char *from,
		    const struct kxmsg *m)
{
	struct port *p = NULL;

	for (size_t i = 0; i < ms->n_ports; i++)
		if (!strcmp(ms->ports[i].cfg.name, m->port))
			p = &ms->ports[i];
	if (!p || strcmp(p->cfg.peer, from)) {
		log_warn("macsec: %s from %s for port '%s', which is not shared with it",
			 kxmsg_type_name(m->type), from, m->port);
		return;
	}
	switch (m->type) {
	case KXMSG_MACSEC_HELLO:
		on_hello(p, m);
		break;
	case KXMSG_MACSEC_SAK:
		on_sak(p, m);
		break;
	case KXMSG_MACSEC_ACK:
		on_ack(p, m);
		break;
	case KXMSG_MACSEC_SWITCH:
		on_switch(p, m);
		break;
	case KXMSG_MACSEC_REKEY:
		if (p->owner)
			p->rekey_wanted = true;
		break;
	default:
		break;
	}
}

/* ---- the tick ----------------------------------------------------------- */

/* Poll the TX PN of the encoding SA; true if it is time to rekey. */
static bool pn_exhausting(struct port *p, uint64_t now)
{
	struct macsec_nl_secy *secy;
	const struct macsec_nl_sa *sa;
	char err[ERR_MAX];
	bool rekey = false;

	if (!p->have_sak || now - p->pn_polled_ms < PN_POLL_MS)
		return false;
	p->pn_polled_ms = now;
	secy = malloc(sizeof(*secy));
	if (!secy)
		return false;
	if (p->ms->kops->get(p->ms->k, p->ifindex, secy, err,
			     sizeof(err)) < 0) {
		log_warn("macsec %s: %s", p->cfg.name, err);
	} else {
		sa = &secy->txsa[secy->encoding_sa];
		p->tx_pn = sa->present ? sa->next_pn : 0;
		/* An exhausted PN only makes the kernel flip the SA off. */
		rekey = sa->present && (!sa->active ||
					sa->next_pn >= p->cfg.pn_threshold);
	}
	free(secy);
	return rekey;
}

static void port_tick(struct port *p, uint64_t now)
{
	bool up = p->ms->kx->is_up(p->ms->kx_arg, p->cfg.peer);

	if (!up) {
		p->kx_was_up = false;
		p->peer_knows_us = false;
		if (p->phase == PHASE_WAIT_ACK)
			port_fail(p, "Kx to %s went down during a rotation",
				  p->cfg.peer);
		return;
	}
	if (!p->kx_was_up || ((!p->peer_sci || !p->peer_knows_us) &&
			      now - p->hello_at_ms >= HELLO_EVERY_MS)) {
		p->kx_was_up = true;
		send_hello(p);
	}
	if (now >= p->retry_ms)
		ensure_rxsc(p);
	if (p->old_an >= 0 && now >= p->old_delete_ms) {
		remove_sas(p, (uint8_t)p->old_an);
		p->old_an = -1;
	}
	/*
	 * A new SAK is due when the PN runs out, and at once for a peer that
	 * has none: restarted, maybe on a new interface with no SAs at all,
	 * it must not wait for the owner's next scheduled rotation.
	 */
	if (pn_exhausting(p, now) || (!p->have_sak && p->peer_sci)) {
		if (p->owner)
			p->rekey_wanted = true;
		else if (now - p->rekey_asked_ms >= RETRY_MS) {
			send_simple(p, KXMSG_MACSEC_REKEY, 0, 0, 0, NULL);
			p->rekey_asked_ms = now;
		}
	}
	if (!p->owner || !p->peer_sci || !p->rxsc_added)
		return;
	if (p->phase == PHASE_WAIT_ACK) {
		if (now - p->sent_at_ms >= ACK_TIMEOUT_MS)
			port_fail(p, "no answer from %s to rotation %" PRIu64,
				  p->cfg.peer, p->seq);
		return;
	}
	if (now >= p->retry_ms &&
	    (!p->have_sak || p->rekey_wanted || now >= p->next_rotation_ms))
		start_rotation(p);
}

void macsec_tick(struct macsec *ms)
{
	uint64_t now = now_ms(ms);

	for (size_t i = 0; i < ms->n_ports; i++)
		port_tick(&ms->ports[i], now);
}

static void on_tick(void *arg)
{
	macsec_tick(arg);
}

/* ---- set-up ------------------------------------------------------------- */

static struct keysrc *find_link(struct kma *kma, const char *name)
{
	struct kma_link *l;

	for (size_t i = 0; (l = kma_link_at(kma, i)); i++)
		if (!strcmp(kma_link_name(l), name))
			return kma_link_src(l);
	return NULL;
}

static int port_init(struct macsec *ms, struct kma *kma, struct port *p,
		     const struct macsec_port_cfg *cfg, char *err,
		     size_t errlen)
{
	struct macsec_nl_secy *secy;
	char why[ERR_MAX];
	int ret;

	p->ms = ms;
	p->cfg = *cfg;
	p->old_an = -1;
	p->owner = peer_dials(ms->node_name, cfg->peer);
	p->seq = kma_realtime_ns() / 1000000;	/* fresh after a restart */
	p->src = find_link(kma, cfg->link);
	if (!p->src) {
		snprintf(err, errlen, "[macsec %s]: no link '%s'", cfg->name,
			 cfg->link);
		return -1;
	}
	p->ifindex = ms->kops->ifindex(ms->k, cfg->ifname);
	if (!p->ifindex) {
		snprintf(err, errlen,
			 "[macsec %s]: interface '%s' does not exist (create it with ip link add ... type macsec)",
			 cfg->name, cfg->ifname);
		return -1;
	}
	secy = malloc(sizeof(*secy));
	if (!secy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ret = ms->kops->get(ms->k, p->ifindex, secy, why, sizeof(why));
	p->sci = secy->sci;
	p->key_len = macsec_nl_cipher_key_len(secy->cipher);
	/* The first rotation goes to the AN after the one in use. */
	p->an = secy->encoding_sa;
	free(secy);
	if (ret < 0) {
		snprintf(err, errlen, "[macsec %s]: interface '%s': %s",
			 cfg->name, cfg->ifname, why);
		return -1;
	}
	if (!p->key_len) {
		snprintf(err, errlen,
			 "[macsec %s]: interface '%s' uses an XPN or unknown cipher suite (gcm-aes-128 and gcm-aes-256 are supported)",
			 cfg->name, cfg->ifname);
		return -1;
	}
	if (cfg->key_len && cfg->key_len != p->key_len) {
		snprintf(err, errlen,
			 "[macsec %s]: cipher wants %u-byte keys but interface '%s' uses %u",
			 cfg->name, cfg->key_len, cfg->ifname, p->key_len);
		return -1;
	}
	log_info("macsec %s: %s SCI %016" PRIx64 ", %u-byte SAKs from link %s every %u s, %s",
		 cfg->name, cfg->ifname, p->sci, p->key_len, cfg->link,
		 cfg->rotate_s, p->owner ? "owner" : "following the peer");
	return 0;
}

/* ---- the default kernel ops: macsec_nl.c ---- */

static uint32_t nl_ifindex(void *k, const char *ifname)
{
	return if_nametoindex(ifname);
}

static int nl_get(void *k, uint32_t ifindex, struct macsec_nl_secy *out,
		  char *err, size_t errlen)
{
	return macsec_nl_get(k, ifindex, out, err, errlen);
}

static int nl_add_rxsc(void *k, uint32_t ifindex, uint64_t sci, char *err,
		       size_t errlen)
{
	return macsec_nl_add_rxsc(k, ifindex, sci, err, errlen);
}

static void nl_del_rxsc(void *k, uint32_t ifindex, uint64_t sci)
{
	char err[ERR_MAX];

	macsec_nl_del_rxsc(k, ifindex, sci, err, sizeof(err));
}

static int nl_add_sa(void *k, uint32_t ifindex, const uint64_t *rx_sci,
		     const struct macsec_nl_sa_cfg *sa, char *err,
		     size_t errlen)
{
	if (rx_sci)
		return macsec_nl_add_rxsa(k, ifindex, *rx_sci, sa, err, errlen);
	return macsec_nl_add_txsa(k, ifindex, sa, err, errlen);
}

/* The kernel refuses to delete an active SA (-EBUSY): deactivate first. */
static void nl_del_sa(void *k, uint32_t ifindex, const uint64_t *rx_sci,
		      uint8_t an)
{
	char err[ERR_MAX];

	if (rx_sci) {
		macsec_nl_upd_rxsa(k, ifindex, *rx_sci, an, false, err,
				   sizeof(err));
		macsec_nl_del_rxsa(k, ifindex, *rx_sci, an, err, sizeof(err));
	} else {
		macsec_nl_upd_txsa(k, ifindex, an, false, err, sizeof(err));
		macsec_nl_del_txsa(k, ifindex, an, err, sizeof(err));
	}
}

static int nl_set_encoding_sa(void *k, uint32_t ifindex, uint8_t an,
			      char *err, size_t errlen)
{
	return macsec_nl_set_encoding_sa(k, ifindex, an, err, errlen);
}

static const struct macsec_kernel_ops nl_ops = {
	.ifindex = nl_ifindex,
	.get = nl_get,
	.add_rxsc = nl_add_rxsc,
	.del_rxsc = nl_del_rxsc,
	.add_sa = nl_add_sa,
	.del_sa = nl_del_sa,
	.set_encoding_sa = nl_set_encoding_sa,
};

struct macsec *macsec_new_with_ops(struct loop *loop, struct kma *kma,
				   const char *node,
				   const struct macsec_port_cfg *ports,
				   size_t n_ports,
				   const struct macsec_transport *kx,
				   void *kx_arg,
				   const struct macsec_kernel_ops *kops,
				   void *k, char *err, size_t errlen)
{
	struct macsec *ms = calloc(1, sizeof(*ms));

	if (!ms) {
		snprintf(err, errlen, "macsec: out of memory");
		return NULL;
	}
	ms->loop = loop;
	ms->kx = kx;
	ms->kx_arg = kx_arg;
	ms->kops = kops;
	ms->k = k;
	snprintf(ms->node_name, sizeof(ms->node_name), "%s", node);
	ms->ports = calloc(n_ports ? n_ports : 1, sizeof(*ms->ports));
	ms->sak = OPENSSL_secure_zalloc(MACSEC_MAX_KEY_LEN);
	if (!ms->ports || !ms->sak) {
		snprintf(err, errlen, "macsec: out of memory");
		goto fail;
	}
	for (ms->n_ports = 0; ms->n_ports < n_ports; ms->n_ports++)
		if (port_init(ms, kma, &ms->ports[ms->n_ports],
			      &ports[ms->n_ports], err, errlen) < 0)
			goto fail;
	if (loop) {
		ms->tick = loop_timer_add(loop, TICK_MS, true, on_tick, ms);
		if (!ms->tick) {
			snprintf(err, errlen, "macsec: timer: %s",
				 strerror(errno));
			goto fail;
		}
	}
	return ms;
fail:
	macsec_free(ms);
	return NULL;
}

struct macsec *macsec_new(struct loop *loop, struct kma *kma,
			  const char *node, const struct macsec_port_cfg *ports,
			  size_t n_ports, const struct macsec_transport *kx,
			  void *kx_arg, char *err, size_t errlen)
{
	struct macsec_nl *nl = macsec_nl_open(err, errlen);
	struct macsec *ms;

	if (!nl)
		return NULL;
	ms = macsec_new_with_ops(loop, kma, node, ports, n_ports, kx, kx_arg,
				 &nl_ops, nl, err, errlen);
	if (!ms) {
		macsec_nl_close(nl);
		return NULL;
	}
	ms->nl = nl;
	return ms;
}

void macsec_free(struct macsec *ms)
{
	if (!ms)
		return;
	if (ms->tick)
		loop_timer_del(ms->tick);
	macsec_nl_close(ms->nl);
	OPENSSL_secure_clear_free(ms->sak, MACSEC_MAX_KEY_LEN);
	free(ms->ports);
	free(ms);
}

/* ---- state for the views ----------------------------------------------- */

const char *macsec_port_state_name(enum macsec_port_state st)
{
	static const char *const names[] = {
		[MACSEC_PORT_KX_DOWN] = "kx-down",
		[MACSEC_PORT_WAITING_PEER] = "waiting-peer",
		[MACSEC_PORT_KEYING] = "keying",
		[MACSEC_PORT_UP] = "up",
		[MACSEC_PORT_ROTATING] = "rotating",
		[MACSEC_PORT_DEGRADED] = "degraded",
		[MACSEC_PORT_FAILED] = "failed",
	};

	return (unsigned int)st < sizeof(names) / sizeof(names[0]) ?
	       names[st] : "?";
}

static enum macsec_port_state port_state(const struct port *p)
{
	if (!p->ms->kx->is_up(p->ms->kx_arg, p->cfg.peer))
		return MACSEC_PORT_KX_DOWN;
	if (!p->peer_sci)
		return MACSEC_PORT_WAITING_PEER;
	if (p->phase == PHASE_WAIT_ACK)
		return MACSEC_PORT_ROTATING;
	if (p->alarmed)
		return p->have_sak ? MACSEC_PORT_DEGRADED : MACSEC_PORT_FAILED;
	return p->have_sak ? MACSEC_PORT_UP : MACSEC_PORT_KEYING;
}

size_t macsec_port_count(const struct macsec *ms)
{
	return ms ? ms->n_ports : 0;
}

int macsec_port_info(const struct macsec *ms, size_t i,
		     struct macsec_port_info *out)
{
	const struct port *p;

	if (!ms || i >= ms->n_ports)
		return -1;
	p = &ms->ports[i];
	memset(out, 0, sizeof(*out));
	memcpy(out->name, p->cfg.name, sizeof(out->name));
	memcpy(out->ifname, p->cfg.ifname, sizeof(out->ifname));
	memcpy(out->peer, p->cfg.peer, sizeof(out->peer));
	memcpy(out->link, p->cfg.link, sizeof(out->link));
	out->owner = p->owner;
	out->sci = p->sci;
	out->peer_sci = p->peer_sci;
	out->state = port_state(p);
	out->have_sak = p->have_sak;
	if (p->have_sak) {
		out->an = p->an;
		out->key_id = p->key_id;
		out->last_rotation_age_ms = now_ms(ms) - p->last_rotation_ms;
	}
	out->rotations = p->rotations;
	out->failures = p->failures;
	out->tx_pn = p->tx_pn;
	out->rotate_s = p->cfg.rotate_s;
	out->key_len = p->key_len;
	memcpy(out->last_error, p->last_error, sizeof(out->last_error));
	return 0;
}
