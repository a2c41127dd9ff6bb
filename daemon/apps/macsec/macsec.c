// SPDX-License-Identifier: GPL-2.0
/*
 * MACsec ports: one port of the rotating consumer core (apps/rotate.h)
 * per [macsec NAME] section (macsec.h); prepare and install put the SAK in
 * as RX and TX SA of the next AN, activate makes it the encoding SA,
 * retire deletes the old SAs.
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
 * receiving on the old AN for the grace period (the interval, at most
 * GRACE_MAX_MS, and no later than the next rotation), after which the old
 * SAs are deleted; the AN comes round again only three rotations later.  A failure (no key, fetch refused,
 * install error, no answer) raises alarm "macsec:IFNAME", keeps the current
 * SAK and retries; the next good rotation clears the alarm.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/rotate.h"
#include "core/alarm.h"
#include "kx/kxmsg.h"
#include "core/log.h"
#include "core/loop.h"
#include "apps/macsec/macsec.h"
#include "apps/macsec/macsec_nl.h"

#define HELLO_EVERY_MS	1000
#define PN_POLL_MS	500
#define RETRY_MS	1000
#define GRACE_MAX_MS	2000
#define ERR_MAX		MACSEC_ERROR_MAX

struct port {
	struct macsec *ms;
	struct macsec_port_cfg cfg;
	struct rotate_port *rp;
	uint32_t ifindex;
	uint32_t key_len;

	uint64_t sci, peer_sci;		/* 0: not known */
	bool peer_knows_us;		/* the peer has our SCI */
	bool rxsc_added;
	uint64_t hello_at_ms;
	uint64_t pn_polled_ms, tx_pn;
	uint64_t rekey_asked_ms;
};

struct macsec {
	struct macsec_nl *nl;		/* NULL with test ops */
	const struct macsec_kernel_ops *kops;
	void *k;
	struct rotate *rot;
	struct port *ports;
	size_t n_ports;
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

static uint64_t now_ms(const struct macsec *ms)
{
	return ms->kops->now_ms ? ms->kops->now_ms(ms->k) : loop_now_ms();
}

static uint64_t now_us(void *arg)
{
	return now_ms(arg) * 1000;
}

static const struct rotate_status *status(const struct port *p)
{
	return rotate_port_status(p->rp);
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
		rotate_port_fail(p->rp, "%s", err);
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

static void retire(void *arg, uint8_t an)
{
	remove_sas(arg, an);
}

/*
 * Owner before the offer, follower on it: the SAK as RX SA and TX SA of
 * the key's AN, replacing whatever a crash or an old rotation left there.
 * The TX SA is active but not yet the encoding SA, so nothing is sent
 * with it.
 */
static int install_sas(void *arg, const struct rotate_key *k, char *err,
		       size_t errlen)
{
	struct port *p = arg;
	struct macsec_nl_sa_cfg sa = {
		.an = k->slot, .pn = 1, .active = true,
		.key = k->bytes, .key_len = p->key_len,
	};
	int ret;

	if (!rotate_port_status(p->rp)->owner)
		ensure_rxsc(p);
	macsec_keyid(k->id, p->key_len, sa.keyid);
	if (status(p)->have_key && k->slot == status(p)->slot) {
		snprintf(err, errlen, "refusing to replace the encoding SA %u",
			 k->slot);
		return -EBUSY;
	}
	remove_sas(p, k->slot);
	ret = p->ms->kops->add_sa(p->ms->k, p->ifindex, &p->peer_sci, &sa,
				  err, errlen);
	if (ret == 0)
		ret = p->ms->kops->add_sa(p->ms->k, p->ifindex, NULL, &sa, err,
					  errlen);
	if (ret < 0)
		remove_sas(p, k->slot);
	return ret;
}

/* Owner on the ack, follower on the switch: transmit with the key's AN. */
static int set_encoding(void *arg, const struct rotate_key *k, char *err,
			size_t errlen)
{
	struct port *p = arg;

	return p->ms->kops->set_encoding_sa(p->ms->k, p->ifindex, k->slot, err,
					    errlen);
}

static const char *check_offer(void *arg, uint32_t key_len)
{
	struct port *p = arg;

	if (!p->peer_sci)
		return "no SCI from you yet";
	if (key_len != p->key_len)
		return "key length differs from the interface's";
	return NULL;
}

/* ---- Kx ------------------------------------------------------------------ */

static void send_hello(struct port *p)
{
	struct kxmsg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->type = KXMSG_MACSEC_HELLO;
	m->sci = p->sci;
	m->peer_sci = p->peer_sci;
	rotate_port_send(p->rp, m);
	free(m);
	p->hello_at_ms = now_ms(p->ms);
}

static void send_rekey(struct port *p)
{
	struct kxmsg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->type = KXMSG_MACSEC_REKEY;
	rotate_port_send(p->rp, m);
	free(m);
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
	struct rotate_port *rp = rotate_lookup(ms->rot, from, m);
	struct port *p = NULL;

	if (!rp || rotate_port_receive(rp, m))
		return;
	for (size_t i = 0; i < ms->n_ports; i++)
		if (ms->ports[i].rp == rp)
			p = &ms->ports[i];
	if (!p)
		return;
	if (m->type == KXMSG_MACSEC_HELLO)
		on_hello(p, m);
	else if (m->type == KXMSG_MACSEC_REKEY)
		rotate_port_rekey(rp);
}

/* ---- the tick ----------------------------------------------------------- */

/* Poll the TX PN of the encoding SA; true if it is time to rekey. */
static bool pn_exhausting(struct port *p, uint64_t now)
{
	struct macsec_nl_secy *secy;
	const struct macsec_nl_sa *sa;
	char err[ERR_MAX];
	bool rekey = false;

	if (!status(p)->have_key || now - p->pn_polled_ms < PN_POLL_MS)
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

static void kx_down(void *arg)
{
	struct port *p = arg;

	p->peer_knows_us = false;
}

/* Ready to rotate once the peer's SCI is known and its RX SC is there. */
static bool port_tick(void *arg, uint64_t now_us_, bool kx_new)
{
	struct port *p = arg;
	uint64_t now = now_us_ / 1000;

	if (kx_new || ((!p->peer_sci || !p->peer_knows_us) &&
		       now - p->hello_at_ms >= HELLO_EVERY_MS))
		send_hello(p);
	if (now_us_ >= status(p)->retry_us)
		ensure_rxsc(p);
	/*
	 * A new SAK is due when the PN runs out, and at once for a peer that
	 * has none: restarted, maybe on a new interface with no SAs at all,
	 * it must not wait for the owner's next scheduled rotation.
	 */
	if (pn_exhausting(p, now) || (!status(p)->have_key && p->peer_sci)) {
		if (status(p)->owner)
			rotate_port_rekey(p->rp);
		else if (now - p->rekey_asked_ms >= RETRY_MS) {
			send_rekey(p);
			p->rekey_asked_ms = now;
		}
	}
	return p->peer_sci && p->rxsc_added;
}

static const struct rotate_ops macsec_rotate_ops = {
	.kind = "macsec", .key_noun = "SAK", .install_verb = "install",
	.both_own = "both ends own the port",
	.offer = KXMSG_MACSEC_SAK, .ack = KXMSG_MACSEC_ACK,
	.sw = KXMSG_MACSEC_SWITCH, .install_failed = KXC_MACSEC_FAILED,
	.n_slots = MACSEC_NL_NUM_AN, .slot_noun = "AN",	/* in turn */
	.check_offer = check_offer,
	.tick = port_tick,
	.kx_down = kx_down,
	.prepare = install_sas,
	.install = install_sas,
	.activate = set_encoding,
	.retire = retire,
	.now_us = now_us,
};

void macsec_tick(struct macsec *ms)
{
	rotate_tick(ms->rot);
}

/* ---- set-up ------------------------------------------------------------- */

static int port_init(struct macsec *ms, struct port *p,
		     const struct macsec_port_cfg *cfg, char *err,
		     size_t errlen)
{
	char src[ALARM_SOURCE_MAX], obj[ALARM_OBJECT_MAX];
	uint64_t grace_ms = (uint64_t)cfg->rotate_s * 1000;
	struct rotate_port_cfg rc = {
		.name = cfg->name, .peer = cfg->peer, .link = cfg->link,
		.rotate_s = cfg->rotate_s,
		/*
		 * Long enough for frames queued behind a stalled host; the
		 * next rotation retires the old AN anyway, two before it
		 * comes round again.
		 */
		.grace_us = (grace_ms < GRACE_MAX_MS ? grace_ms : GRACE_MAX_MS) *
			    1000,
		.alarm_source = src, .alarm_object = obj, .ctx = p,
	};
	struct macsec_nl_secy *secy;
	char why[ERR_MAX];
	int ret = 0;

	p->ms = ms;
	p->cfg = *cfg;
	snprintf(src, sizeof(src), "macsec:%s", cfg->ifname);
	snprintf(obj, sizeof(obj), "macsec=%s", cfg->ifname);
	secy = calloc(1, sizeof(*secy));
	if (!secy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->ifindex = ms->kops->ifindex(ms->k, cfg->ifname);
	if (p->ifindex)
		ret = ms->kops->get(ms->k, p->ifindex, secy, why, sizeof(why));
	p->sci = secy->sci;
	p->key_len = macsec_nl_cipher_key_len(secy->cipher);
	rc.key_len = p->key_len;
	/* The first rotation goes to the AN after the one in use. */
	rc.first_slot = secy->encoding_sa;
	free(secy);
	/* A missing link is reported first. */
	p->rp = rotate_port_add(ms->rot, &rc, err, errlen);
	if (!p->rp)
		return -1;
	if (!p->ifindex) {
		snprintf(err, errlen,
			 "[macsec %s]: interface '%s' does not exist (create it with ip link add ... type macsec)",
			 cfg->name, cfg->ifname);
		return -1;
	}
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
		 cfg->rotate_s, status(p)->owner ? "owner" :
		 "following the peer");
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
	struct rotate_cfg rc = {
		.ops = &macsec_rotate_ops, .ctx = ms, .node = node,
		.send = kx->send, .is_up = kx->is_up, .kx_arg = kx_arg,
		.max_ports = n_ports,
	};

	if (!ms) {
		snprintf(err, errlen, "macsec: out of memory");
		return NULL;
	}
	ms->kops = kops;
	ms->k = k;
	ms->ports = calloc(n_ports ? n_ports : 1, sizeof(*ms->ports));
	if (!ms->ports) {
		snprintf(err, errlen, "macsec: out of memory");
		goto fail;
	}
	ms->rot = rotate_new(loop, kma, &rc, err, errlen);
	if (!ms->rot)
		goto fail;
	for (ms->n_ports = 0; ms->n_ports < n_ports; ms->n_ports++)
		if (port_init(ms, &ms->ports[ms->n_ports],
			      &ports[ms->n_ports], err, errlen) < 0)
			goto fail;
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
	rotate_free(ms->rot);
	macsec_nl_close(ms->nl);
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
	const struct rotate_status *st = status(p);

	if (!rotate_port_kx_up(p->rp))
		return MACSEC_PORT_KX_DOWN;
	if (!p->peer_sci)
		return MACSEC_PORT_WAITING_PEER;
	if (st->rotating)
		return MACSEC_PORT_ROTATING;
	if (st->alarmed)
		return st->have_key ? MACSEC_PORT_DEGRADED : MACSEC_PORT_FAILED;
	return st->have_key ? MACSEC_PORT_UP : MACSEC_PORT_KEYING;
}

size_t macsec_port_count(const struct macsec *ms)
{
	return ms ? ms->n_ports : 0;
}

int macsec_port_info(const struct macsec *ms, size_t i,
		     struct macsec_port_info *out)
{
	const struct rotate_status *st;
	const struct port *p;

	if (!ms || i >= ms->n_ports)
		return -1;
	p = &ms->ports[i];
	st = status(p);
	memset(out, 0, sizeof(*out));
	memcpy(out->name, p->cfg.name, sizeof(out->name));
	memcpy(out->ifname, p->cfg.ifname, sizeof(out->ifname));
	memcpy(out->peer, p->cfg.peer, sizeof(out->peer));
	memcpy(out->link, p->cfg.link, sizeof(out->link));
	out->owner = st->owner;
	out->sci = p->sci;
	out->peer_sci = p->peer_sci;
	out->state = port_state(p);
	out->have_sak = st->have_key;
	if (st->have_key) {
		out->an = st->slot;
		out->key_id = st->key_id;
		out->last_rotation_age_ms = now_ms(ms) -
					    st->last_rotation_us / 1000;
	}
	out->rotations = st->rotations;
	out->failures = st->failures;
	out->tx_pn = p->tx_pn;
	out->rotate_s = p->cfg.rotate_s;
	out->key_len = p->key_len;
	snprintf(out->last_error, sizeof(out->last_error), "%s",
		 st->last_error);
	return 0;
}
