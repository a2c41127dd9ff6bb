/* SPDX-License-Identifier: GPL-2.0 */
/*
 * WireGuard preshared-key rotation from QKD keys
 * (Documentation/qkd/wireguard.rst).
 *
 * The operator creates the wg interface and its peer (wg(8), ip(8)); for
 * each [wireguard NAME] section the daemon sets the peer's preshared key
 * to a fresh QKD key every rotate_interval seconds, the same key at both
 * ends.  The owner (the node that dials the Kx connection, peer_dials())
 * allocates a key from the link and sends its ID (WG_PSK); the other end
 * fetches the same key by ID, sets it and answers (WG_ACK); the owner sets
 * it on that answer.  Kx carries key IDs only.  WireGuard mixes the PSK
 * into handshakes only: sessions keep their keys, the new PSK protects the
 * next handshake (wireguard.rst explains the order and the gap).
 *
 * The PSK crosses into the daemon (the 6.1 kernel has no way to set it by
 * key ID): secure heap, cleansed once the netlink request is sent.
 */
#ifndef QKD_WIREGUARD_H
#define QKD_WIREGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

#include "apps/rotate.h"
#include "core/config.h"

#define WIREGUARD_ERROR_MAX	256

struct loop;
struct kma;
struct kxmsg;
struct wireguard;
struct wg_nl_peer;

struct wireguard_transport {
	int (*send)(void *arg, const char *node, const struct kxmsg *m);
	bool (*is_up)(void *arg, const char *node);
};

/*
 * The kernel side: wg_nl.c by default, a fake in the unit tests.  Errors
 * are -errno with a reason in @err.
 */
struct wireguard_kernel_ops {
	int (*get_peer)(void *k, const char *ifname, const uint8_t *pubkey,
			struct wg_nl_peer *out, char *err, size_t errlen);
	int (*set_psk)(void *k, const char *ifname, const uint8_t *pubkey,
		       const uint8_t *psk, char *err, size_t errlen);
	/* Monotonic microseconds; NULL: CLOCK_MONOTONIC. */
	uint64_t (*now_us)(void *k);
};

/*
 * Check every section's interface and peer (exists, is WireGuard, has that
 * public key) and link; start rotating.  NULL with a reason in @err.
 */
struct wireguard *wireguard_new(struct loop *loop, struct kma *kma,
				const char *node,
				const struct wireguard_peer_cfg *peers,
				size_t n_peers,
				const struct wireguard_transport *kx,
				void *kx_arg, char *err, size_t errlen);
/* Without a timer when @loop is NULL: call wireguard_tick() (unit tests). */
struct wireguard *wireguard_new_with_ops(struct loop *loop, struct kma *kma,
					 const char *node,
					 const struct wireguard_peer_cfg *peers,
					 size_t n_peers,
					 const struct wireguard_transport *kx,
					 void *kx_arg,
					 const struct wireguard_kernel_ops *kops,
					 void *k, char *err, size_t errlen);
/* Stops rotating; the PSK in the kernel stays. */
void wireguard_free(struct wireguard *wg);
void wireguard_tick(struct wireguard *wg);

/* A WG_* Kx message from peer node @from. */
void wireguard_receive(struct wireguard *wg, const char *from,
		       const struct kxmsg *m);

/* ---- state for "wireguard show" (mgmt/view_apps.c): key IDs, never keys */

struct wireguard_info {
	char name[KM_NAME_MAX];
	char ifname[IFNAMSIZ];
	char public_key[48];		/* base64, as wg(8) prints it */
	char peer[KM_NAME_MAX];
	char link[KM_NAME_MAX];
	struct rotate_view rot;		/* the PSK: see wireguard.rst */
};

size_t wireguard_count(const struct wireguard *wg);
/* 0, or -1 if @i is out of range. */
int wireguard_info(const struct wireguard *wg, size_t i,
		   struct wireguard_info *out);

#endif /* QKD_WIREGUARD_H */
