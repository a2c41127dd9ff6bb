// SPDX-License-Identifier: GPL-2.0
/*
 * WireGuard PSK rotation: one state machine per [wireguard NAME] section
 * (wireguard.h).  A rotation, started by the owner every rotate_s seconds:
 *
 *   owner                                    other end
 *   alloc 32 bytes from the link (key K)
 *   WG_PSK (K, 32, seq)          -------->   get K from the link
 *                                            set K as the peer's PSK
 *                                <--------   WG_ACK (seq, ok)
 *   set K as the peer's PSK
 *
 * The other end sets first, so that at no time does the owner hold a PSK
 * the other end has not got: the window in which a handshake would fail
 * is one Kx one-way trip plus one netlink call (measured, "gap"), and
 * only a handshake in it fails; its initiator retries after REKEY_TIMEOUT
 * (5 s) while the running session keeps carrying traffic.  A failure (no
 * key, fetch refused, set refused, no answer, Kx down) raises alarm
 * "wireguard:NAME", keeps the current PSK and retries after RETRY_MS; the
 * next good rotation clears the alarm.  Every copy of a PSK in this
 * process lives in the secure heap and is cleansed as soon as it is set.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "apps/wireguard/wireguard.h"
#include "apps/wireguard/wg_nl.h"
#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "kma/kma.h"
#include "kx/kxmsg.h"
#include "kx/peer.h"

#define TICK_MS		100
#define ACK_TIMEOUT_MS	3000
#define RETRY_MS	1000
#define PSK_LEN		WG_KEY_LEN
#define ERR_MAX		WIREGUARD_ERROR_MAX

enum phase {
	PHASE_IDLE,
	PHASE_WAIT_ACK,		/* owner: key ID sent, key held in pending */
};

struct port {
	struct wireguard *wg;
	struct wireguard_peer_cfg cfg;
	struct keysrc *src;
	bool owner;
	bool kx_was_up;

	enum phase phase;
	uint8_t *pending;		/* secure heap: the owner's next PSK */
	bool have_psk;
	uint64_t key_id;		/* of the PSK in use */
	uint64_t seq;
	uint64_t next_key_id;
	uint64_t sent_at_us;
	uint64_t next_rotation_us;
	uint64_t retry_us;
	uint64_t last_rotation_us;

	uint64_t rotations, failures;
	uint64_t last_gap_us, max_gap_us;
	bool alarmed;
	char last_error[ERR_MAX];
};

struct wireguard {
	struct loop *loop;
	struct wg_nl *nl;		/* NULL with test ops */
	const struct wireguard_kernel_ops *kops;
	void *k;
	struct loop_timer *tick;
	const struct wireguard_transport *kx;
	void *kx_arg;
	uint8_t *psk;			/* secure heap: the other end's PSK */
	struct port *ports;
	size_t n_ports;
	char node_name[KM_NAME_MAX];
};

static uint64_t now_us(const struct wireguard *wg)
{
	struct timespec ts;

	if (wg->kops->now_us)
		return wg->kops->now_us(wg->k);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- failures and alarms ------------------------------------------------ */

/* "wireguard:NAME"; a name too long for an alarm source is cut. */
static void alarm_source(const struct port *p, char src[ALARM_SOURCE_MAX])
{
	snprintf(src, ALARM_SOURCE_MAX, "wireguard:%.*s",
		 ALARM_SOURCE_MAX - 11, p->cfg.name);
}

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
	alarm_source(p, src);
	snprintf(obj, sizeof(obj), "wireguard=%.*s", ALARM_OBJECT_MAX - 11,
		 p->cfg.name);
	alarm_raise_desc(src, &d,
			 "[wireguard %s] %s; keeping the current PSK, retrying",
			 p->cfg.name, p->last_error);
	p->alarmed = true;
	p->phase = PHASE_IDLE;
	OPENSSL_cleanse(p->pending, PSK_LEN);
	p->retry_us = now_us(p->wg) + RETRY_MS * 1000ull;
}

static void port_ok(struct port *p)
{
	char src[ALARM_SOURCE_MAX];

	p->last_error[0] = '\0';
	if (!p->alarmed)
		return;
	alarm_source(p, src);
	alarm_clear(src);
	p->alarmed = false;
}

/* @psk is set in the kernel: record it as the one in use. */
static void rotated(struct port *p, uint64_t key_id)
{
	p->have_psk = true;
	p->key_id = key_id;
	p->rotations++;
	p->last_rotation_us = now_us(p->wg);
	log_debug("wireguard %s: PSK key %" PRIx64 " (rotation %" PRIu64 ")",
		  p->cfg.name, key_id, p->rotations);
	port_ok(p);
}

/* ---- Kx ------------------------------------------------------------------ */

static void send_msg(struct port *p, enum kxmsg_type type, uint64_t key_id,
		     uint64_t seq, uint32_t code, const char *text)
{
	struct kxmsg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->type = type;
	m->key_id = key_id;
	m->key_len = type == KXMSG_WG_PSK ? PSK_LEN : 0;
	m->seq = seq;
	m->code = code;
	snprintf(m->text, sizeof(m->text), "%s", text ? text : "");
	snprintf(m->port, sizeof(m->port), "%s", p->cfg.name);
	if (p->wg->kx->send(p->wg->kx_arg, p->cfg.peer, m) < 0)
		log_debug("wireguard %s: %s to %s not sent", p->cfg.name,
			  kxmsg_type_name(type), p->cfg.peer);
	free(m);
}

/* ---- owner --------------------------------------------------------------- */

static void start_rotation(struct port *p)
{
	struct keysrc_key key;
	char err[ERR_MAX] = "";
	int ret;

	ret = keysrc_alloc(p->src, PSK_LEN, 1, &key, p->pending, err,
			   sizeof(err));
	if (ret < 0) {
		port_fail(p, "no %u-byte key from link %s: %s", PSK_LEN,
			  p->cfg.link, err[0] ? err : strerror(-ret));
		return;
	}
	p->phase = PHASE_WAIT_ACK;
	p->next_key_id = key.id;
	p->sent_at_us = now_us(p->wg);
	p->next_rotation_us = p->sent_at_us + p->cfg.rotate_s * 1000000ull;
	send_msg(p, KXMSG_WG_PSK, key.id, ++p->seq, 0, NULL);
}

static void on_ack(struct port *p, const struct kxmsg *m)
{
	char err[ERR_MAX];
	uint64_t gap;

	if (!p->owner || p->phase != PHASE_WAIT_ACK || m->seq != p->seq)
		return;		/* late answer to a rotation given up */
	if (m->code != KXC_OK) {
		port_fail(p, "%s could not set key %" PRIx64 ": %s%s%s",
			  p->cfg.peer, p->next_key_id,
			  kxmsg_code_name(m->code), m->text[0] ? ": " : "",
			  m->text);
		return;
	}
	if (p->wg->kops->set_psk(p->wg->k, p->cfg.ifname, p->cfg.public_key,
				 p->pending, err, sizeof(err)) < 0) {
		/* The ends now differ until the retry's key is set at both. */
		port_fail(p, "%s", err);
		return;
	}
	OPENSSL_cleanse(p->pending, PSK_LEN);
	p->phase = PHASE_IDLE;
	/* An upper bound: the other end set the key after we sent its ID. */
	gap = now_us(p->wg) - p->sent_at_us;
	p->last_gap_us = gap;
	if (gap > p->max_gap_us)
		p->max_gap_us = gap;
	rotated(p, p->next_key_id);
}

/* ---- the other end ------------------------------------------------------ */

static void on_psk(struct port *p, const struct kxmsg *m)
{
	char err[ERR_MAX] = "";
	uint32_t code = KXC_OK;
	int ret;

	if (p->owner || m->key_len != PSK_LEN) {
		send_msg(p, KXMSG_WG_ACK, 0, m->seq, KXC_BAD_MESSAGE,
			 p->owner ? "both ends own the peer" :
			 "a WireGuard PSK is 32 bytes");
		return;
	}
	ret = keysrc_get(p->src, m->key_id, PSK_LEN, p->wg->psk, NULL, err,
			 sizeof(err));
	if (ret < 0) {
		port_fail(p, "key %" PRIx64 " not fetched from link %s: %s",
			  m->key_id, p->cfg.link, err[0] ? err : strerror(-ret));
		code = KXC_FETCH_FAILED;
	} else if (p->wg->kops->set_psk(p->wg->k, p->cfg.ifname,
					p->cfg.public_key, p->wg->psk, err,
					sizeof(err)) < 0) {
		port_fail(p, "%s", err);
		code = KXC_WG_FAILED;
	} else {
		p->seq = m->seq;
		rotated(p, m->key_id);
	}
	OPENSSL_cleanse(p->wg->psk, PSK_LEN);
	send_msg(p, KXMSG_WG_ACK, 0, m->seq, code, code ? p->last_error : NULL);
}

void wireguard_receive(struct wireguard *wg, const char *from,
		       const struct kxmsg *m)
{
	struct port *p = NULL;

	for (size_t i = 0; i < wg->n_ports; i++)
		if (!strcmp(wg->ports[i].cfg.name, m->port))
			p = &wg->ports[i];
	if (!p || strcmp(p->cfg.peer, from)) {
		log_warn("wireguard: %s from %s for '%s', which is not shared with it",
			 kxmsg_type_name(m->type), from, m->port);
		return;
	}
	if (m->type == KXMSG_WG_PSK)
		on_psk(p, m);
	else if (m->type == KXMSG_WG_ACK)
		on_ack(p, m);
}

/* ---- the tick ----------------------------------------------------------- */

static void port_tick(struct port *p, uint64_t now)
{
	if (!p->wg->kx->is_up(p->wg->kx_arg, p->cfg.peer)) {
		if (p->phase == PHASE_WAIT_ACK)
			port_fail(p, "Kx to %s went down during a rotation",
				  p->cfg.peer);
		else if (p->owner && p->kx_was_up)
			log_info("wireguard %s: Kx to %s down, keeping the current PSK",
				 p->cfg.name, p->cfg.peer);
		p->kx_was_up = false;
		return;
	}
	p->kx_was_up = true;
	if (!p->owner)
		return;
	if (p->phase == PHASE_WAIT_ACK) {
		if (now - p->sent_at_us >= ACK_TIMEOUT_MS * 1000ull)
			port_fail(p, "no answer from %s to rotation %" PRIu64,
				  p->cfg.peer, p->seq);
		return;
	}
	if (now >= p->retry_us && (!p->have_psk || now >= p->next_rotation_us))
		start_rotation(p);
}

void wireguard_tick(struct wireguard *wg)
{
	uint64_t now = now_us(wg);

	for (size_t i = 0; i < wg->n_ports; i++)
		port_tick(&wg->ports[i], now);
}

static void on_tick(void *arg)
{
	wireguard_tick(arg);
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

static void pubkey_b64(const uint8_t *key, char out[48])
{
	EVP_EncodeBlock((unsigned char *)out, key, WG_KEY_LEN);
}

static int port_init(struct wireguard *wg, struct kma *kma, struct port *p,
		     const struct wireguard_peer_cfg *cfg, char *err,
		     size_t errlen)
{
	struct wg_nl_peer info;
	char why[ERR_MAX], b64[48];
	int ret;

	p->wg = wg;
	p->cfg = *cfg;
	p->owner = peer_dials(wg->node_name, cfg->peer);
	/* Fresh after a restart, so that a late ACK cannot match. */
	p->seq = kma_realtime_ns() / 1000000;
	p->pending = OPENSSL_secure_zalloc(PSK_LEN);
	if (!p->pending) {
		snprintf(err, errlen, "wireguard: out of secure memory");
		return -1;
	}
	p->src = find_link(kma, cfg->link);
	if (!p->src) {
		snprintf(err, errlen, "[wireguard %s]: no link '%s'", cfg->name,
			 cfg->link);
		return -1;
	}
	pubkey_b64(cfg->public_key, b64);
	ret = wg->kops->get_peer(wg->k, cfg->ifname, cfg->public_key, &info,
				 why, sizeof(why));
	if (ret == -ENODEV) {
		snprintf(err, errlen,
			 "[wireguard %s]: interface '%s' does not exist (create it with ip link add %s type wireguard)",
			 cfg->name, cfg->ifname, cfg->ifname);
		return -1;
	}
	if (ret == -EOPNOTSUPP) {
		snprintf(err, errlen,
			 "[wireguard %s]: interface '%s' is not a WireGuard interface",
			 cfg->name, cfg->ifname);
		return -1;
	}
	if (ret < 0) {
		snprintf(err, errlen, "[wireguard %s]: interface '%s': %s",
			 cfg->name, cfg->ifname, why);
		return -1;
	}
	if (!info.found) {
		snprintf(err, errlen,
			 "[wireguard %s]: interface '%s' has no peer %s (add it with wg set %s peer %s ...)",
			 cfg->name, cfg->ifname, b64, cfg->ifname, b64);
		return -1;
	}
	log_info("wireguard %s: %s peer %s, PSK from link %s every %u s, %s",
		 cfg->name, cfg->ifname, b64, cfg->link, cfg->rotate_s,
		 p->owner ? "owner" : "following the peer");
	return 0;
}

/* ---- the default kernel ops: wg_nl.c ---- */

static int nl_get_peer(void *k, const char *ifname, const uint8_t *pubkey,
		       struct wg_nl_peer *out, char *err, size_t errlen)
{
	return wg_nl_get_peer(k, ifname, pubkey, out, err, errlen);
}

static int nl_set_psk(void *k, const char *ifname, const uint8_t *pubkey,
		      const uint8_t *psk, char *err, size_t errlen)
{
	return wg_nl_set_psk(k, ifname, pubkey, psk, err, errlen);
}

static const struct wireguard_kernel_ops nl_ops = {
	.get_peer = nl_get_peer,
	.set_psk = nl_set_psk,
};

struct wireguard *wireguard_new_with_ops(struct loop *loop, struct kma *kma,
					 const char *node,
					 const struct wireguard_peer_cfg *peers,
					 size_t n_peers,
					 const struct wireguard_transport *kx,
					 void *kx_arg,
					 const struct wireguard_kernel_ops *kops,
					 void *k, char *err, size_t errlen)
{
	struct wireguard *wg = calloc(1, sizeof(*wg));

	if (!wg) {
		snprintf(err, errlen, "wireguard: out of memory");
		return NULL;
	}
	wg->loop = loop;
	wg->kx = kx;
	wg->kx_arg = kx_arg;
	wg->kops = kops;
	wg->k = k;
	snprintf(wg->node_name, sizeof(wg->node_name), "%s", node);
	wg->ports = calloc(n_peers ? n_peers : 1, sizeof(*wg->ports));
	wg->psk = OPENSSL_secure_zalloc(PSK_LEN);
	if (!wg->ports || !wg->psk) {
		snprintf(err, errlen, "wireguard: out of memory");
		goto fail;
	}
	for (wg->n_ports = 0; wg->n_ports < n_peers; wg->n_ports++)
		if (port_init(wg, kma, &wg->ports[wg->n_ports],
			      &peers[wg->n_ports], err, errlen) < 0) {
			wg->n_ports++;	/* its pending buffer is freed too */
			goto fail;
		}
	if (loop) {
		wg->tick = loop_timer_add(loop, TICK_MS, true, on_tick, wg);
		if (!wg->tick) {
			snprintf(err, errlen, "wireguard: timer: %s",
				 strerror(errno));
			goto fail;
		}
	}
	return wg;
fail:
	wireguard_free(wg);
	return NULL;
}

struct wireguard *wireguard_new(struct loop *loop, struct kma *kma,
				const char *node,
				const struct wireguard_peer_cfg *peers,
				size_t n_peers,
				const struct wireguard_transport *kx,
				void *kx_arg, char *err, size_t errlen)
{
	struct wg_nl *nl = wg_nl_open(err, errlen);
	struct wireguard *wg;

	if (!nl)
		return NULL;
	wg = wireguard_new_with_ops(loop, kma, node, peers, n_peers, kx,
				    kx_arg, &nl_ops, nl, err, errlen);
	if (!wg) {
		wg_nl_close(nl);
		return NULL;
	}
	wg->nl = nl;
	return wg;
}

void wireguard_free(struct wireguard *wg)
{
	if (!wg)
		return;
	if (wg->tick)
		loop_timer_del(wg->tick);
	wg_nl_close(wg->nl);
	for (size_t i = 0; i < wg->n_ports; i++)
		OPENSSL_secure_clear_free(wg->ports[i].pending, PSK_LEN);
	OPENSSL_secure_clear_free(wg->psk, PSK_LEN);
	free(wg->ports);
	free(wg);
}

/* ---- state for the views ----------------------------------------------- */

const char *wireguard_state_name(enum wireguard_state st)
{
	static const char *const names[] = {
		[WIREGUARD_KX_DOWN] = "kx-down",
		[WIREGUARD_KEYING] = "keying",
		[WIREGUARD_UP] = "up",
		[WIREGUARD_ROTATING] = "rotating",
		[WIREGUARD_DEGRADED] = "degraded",
		[WIREGUARD_FAILED] = "failed",
	};

	return (unsigned int)st < sizeof(names) / sizeof(names[0]) ?
	       names[st] : "?";
}

static enum wireguard_state port_state(const struct port *p)
{
	if (!p->wg->kx->is_up(p->wg->kx_arg, p->cfg.peer))
		return WIREGUARD_KX_DOWN;
	if (p->phase == PHASE_WAIT_ACK)
		return WIREGUARD_ROTATING;
	if (p->alarmed)
		return p->have_psk ? WIREGUARD_DEGRADED : WIREGUARD_FAILED;
	return p->have_psk ? WIREGUARD_UP : WIREGUARD_KEYING;
}

size_t wireguard_count(const struct wireguard *wg)
{
	return wg ? wg->n_ports : 0;
}

int wireguard_info(const struct wireguard *wg, size_t i,
		   struct wireguard_info *out)
{
	const struct port *p;
	uint64_t now;
	uint64_t due;

	if (!wg || i >= wg->n_ports)
		return -1;
	p = &wg->ports[i];
	now = now_us(wg);
	memset(out, 0, sizeof(*out));
	memcpy(out->name, p->cfg.name, sizeof(out->name));
	memcpy(out->ifname, p->cfg.ifname, sizeof(out->ifname));
	pubkey_b64(p->cfg.public_key, out->public_key);
	memcpy(out->peer, p->cfg.peer, sizeof(out->peer));
	memcpy(out->link, p->cfg.link, sizeof(out->link));
	out->owner = p->owner;
	out->state = port_state(p);
	out->have_psk = p->have_psk;
	if (p->have_psk) {
		out->key_id = p->key_id;
		out->age_ms = (now - p->last_rotation_us) / 1000;
	}
	/* The other end expects the owner's schedule. */
	due = p->owner ? (p->alarmed ? p->retry_us : p->next_rotation_us) :
	      p->last_rotation_us + p->cfg.rotate_s * 1000000ull;
	out->next_rotation_ms = ((int64_t)due - (int64_t)now) / 1000;
	out->rotations = p->rotations;
	out->failures = p->failures;
	out->last_gap_us = p->last_gap_us;
	out->max_gap_us = p->max_gap_us;
	out->rotate_s = p->cfg.rotate_s;
	memcpy(out->last_error, p->last_error, sizeof(out->last_error));
	return 0;
}
