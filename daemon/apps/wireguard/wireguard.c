// SPDX-License-Identifier: GPL-2.0
/*
 * WireGuard PSK rotation: one port of the rotating consumer core
 * (apps/rotate.h) per [wireguard NAME] section (wireguard.h), with no
 * prepare and no switch step.  A rotation, started by the owner every
 * rotate_s seconds:
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
 * "wireguard:NAME", keeps the current PSK and retries after 1 s; the
 * next good rotation clears the alarm.  Every copy of a PSK in this
 * process lives in the secure heap and is cleansed as soon as it is set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

#include "apps/rotate.h"
#include "apps/wireguard/wireguard.h"
#include "apps/wireguard/wg_nl.h"
#include "core/alarm.h"
#include "core/log.h"
#include "kx/kxmsg.h"

#define PSK_LEN		WG_KEY_LEN

struct port {
	struct wireguard *wg;
	struct wireguard_peer_cfg cfg;
	struct rotate_port *rp;
};

struct wireguard {
	struct wg_nl *nl;		/* NULL with test ops */
	const struct wireguard_kernel_ops *kops;
	void *k;
	struct rotate *rot;
	struct port *ports;
	size_t n_ports;
};

static uint64_t now_us(void *arg)
{
	struct wireguard *wg = arg;
	struct timespec ts;

	if (wg->kops->now_us)
		return wg->kops->now_us(wg->k);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- the rotation ops (rotate.h) ---------------------------------------- */

static const char *check_offer(void *arg, uint32_t key_len)
{
	return key_len == PSK_LEN ? NULL : "a WireGuard PSK is 32 bytes";
}

/* Follower on the offer, owner on the ack: the PSK is the key. */
static int set_psk(void *arg, const struct rotate_key *k, char *err,
		   size_t errlen)
{
	struct port *p = arg;

	return p->wg->kops->set_psk(p->wg->k, p->cfg.ifname,
				    p->cfg.public_key, k->bytes, err, errlen);
}

static const struct rotate_ops wg_rotate_ops = {
	.kind = "wireguard", .key_noun = "PSK", .install_verb = "set",
	.both_own = "both ends own the peer",
	/* No switch: the follower's PSK is in use once set. */
	.offer = KXMSG_WG_PSK, .ack = KXMSG_WG_ACK,
	.install_failed = KXC_WG_FAILED,
	.check_offer = check_offer,
	.install = set_psk,
	.activate = set_psk,
	.now_us = now_us,
};

void wireguard_receive(struct wireguard *wg, const char *from,
		       const struct kxmsg *m)
{
	struct rotate_port *rp = rotate_lookup(wg->rot, from, m);

	if (rp)
		rotate_port_receive(rp, m);
}

void wireguard_tick(struct wireguard *wg)
{
	rotate_tick(wg->rot);
}

/* ---- set-up ------------------------------------------------------------- */

static void pubkey_b64(const uint8_t *key, char out[48])
{
	EVP_EncodeBlock((unsigned char *)out, key, WG_KEY_LEN);
}

/* Alarm "wireguard:NAME"; a name too long for an alarm source is cut. */
static int port_init(struct wireguard *wg, struct port *p,
		     const struct wireguard_peer_cfg *cfg, char *err,
		     size_t errlen)
{
	char src[ALARM_SOURCE_MAX], obj[ALARM_OBJECT_MAX];
	struct rotate_port_cfg rc = {
		.name = cfg->name, .peer = cfg->peer, .link = cfg->link,
		.rotate_s = cfg->rotate_s, .key_len = PSK_LEN,
		.alarm_source = src, .alarm_object = obj, .ctx = p,
	};
	struct wg_nl_peer info;
	char why[WIREGUARD_ERROR_MAX], b64[48];
	int ret;

	p->wg = wg;
	p->cfg = *cfg;
	snprintf(src, sizeof(src), "wireguard:%.*s", ALARM_SOURCE_MAX - 11,
		 cfg->name);
	snprintf(obj, sizeof(obj), "wireguard=%.*s", ALARM_OBJECT_MAX - 11,
		 cfg->name);
	p->rp = rotate_port_add(wg->rot, &rc, err, errlen);
	if (!p->rp)
		return -1;
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
		 rotate_port_status(p->rp)->owner ? "owner" :
		 "following the peer");
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
	struct rotate_cfg rc = {
		.ops = &wg_rotate_ops, .ctx = wg, .node = node,
		.send = kx->send, .is_up = kx->is_up, .kx_arg = kx_arg,
		.max_ports = n_peers,
	};

	if (!wg) {
		snprintf(err, errlen, "wireguard: out of memory");
		return NULL;
	}
	wg->kops = kops;
	wg->k = k;
	wg->ports = calloc(n_peers ? n_peers : 1, sizeof(*wg->ports));
	if (!wg->ports) {
		snprintf(err, errlen, "wireguard: out of memory");
		goto fail;
	}
	wg->rot = rotate_new(loop, kma, &rc, err, errlen);
	if (!wg->rot)
		goto fail;
	for (wg->n_ports = 0; wg->n_ports < n_peers; wg->n_ports++)
		if (port_init(wg, &wg->ports[wg->n_ports],
			      &peers[wg->n_ports], err, errlen) < 0)
			goto fail;
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
	rotate_free(wg->rot);
	wg_nl_close(wg->nl);
	free(wg->ports);
	free(wg);
}

/* ---- state for the views ----------------------------------------------- */

size_t wireguard_count(const struct wireguard *wg)
{
	return wg ? wg->n_ports : 0;
}

int wireguard_info(const struct wireguard *wg, size_t i,
		   struct wireguard_info *out)
{
	const struct port *p;

	if (!wg || i >= wg->n_ports)
		return -1;
	p = &wg->ports[i];
	memset(out, 0, sizeof(*out));
	memcpy(out->name, p->cfg.name, sizeof(out->name));
	memcpy(out->ifname, p->cfg.ifname, sizeof(out->ifname));
	pubkey_b64(p->cfg.public_key, out->public_key);
	memcpy(out->peer, p->cfg.peer, sizeof(out->peer));
	memcpy(out->link, p->cfg.link, sizeof(out->link));
	rotate_port_view(p->rp, &out->rot);
	return 0;
}
