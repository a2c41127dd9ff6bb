/* SPDX-License-Identifier: GPL-2.0 */
/*
 * WireGuard peers over generic netlink (libmnl), as wg(8) does it: the
 * "wireguard" family of <linux/wireguard.h>.
 *
 * qkdkmd only ever changes one thing: a peer's preshared key
 * (WG_CMD_SET_DEVICE with WGPEER_F_UPDATE_ONLY, so that a peer the
 * operator removed is not re-created), and reads, for the operator view
 * the start-up checks, whether the interface has the peer (WG_CMD_GET_DEVICE).  The GET answer carries the
 * interface's private key and every PSK: the parser reads neither, and
 * nl_request() cleanses the receive buffer.  The SET request is built in
 * a buffer from the OpenSSL secure heap and cleansed once sent.
 *
 * Calls block (a short kernel call each; the socket's receive timeout
 * bounds a lost answer).  Errors are -errno, with the kernel's extack
 * message (or strerror) in @err.
 */
#ifndef QKD_WG_NL_H
#define QKD_WG_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/wireguard.h>

struct wg_nl;
struct nlmsghdr;

/* Room for one SET_DEVICE request with one peer and its PSK. */
#define WG_NL_SET_BUF	256

/* What GET_DEVICE tells about one interface and one of its peers. */
struct wg_nl_peer {
	uint32_t ifindex;		/* 0: not in the answer */
	bool found;			/* the peer is configured */
	bool has_psk;			/* its PSK is not all zero */
};

/* Resolve the family; NULL with a reason (modprobe wireguard?) in @err. */
struct wg_nl *wg_nl_open(char *err, size_t errlen);
void wg_nl_close(struct wg_nl *nl);

/* GET_DEVICE of @ifname, looking for the peer @pubkey. */
int wg_nl_get_peer(struct wg_nl *nl, const char *ifname,
		   const uint8_t pubkey[WG_KEY_LEN], struct wg_nl_peer *out,
		   char *err, size_t errlen);

/* Set @psk as the PSK of peer @pubkey on @ifname (update only). */
int wg_nl_set_psk(struct wg_nl *nl, const char *ifname,
		  const uint8_t pubkey[WG_KEY_LEN],
		  const uint8_t psk[WG_KEY_LEN], char *err, size_t errlen);

/*
 * The SET_DEVICE request for wg_nl_set_psk() into @buf (WG_NL_SET_BUF
 * bytes, 4-aligned): NULL if @ifname does not fit.  Exposed for the unit
 * test and the fuzz target.
 */
struct nlmsghdr *wg_nl_build_set_psk(void *buf, uint16_t family,
				     const char *ifname,
				     const uint8_t pubkey[WG_KEY_LEN],
				     const uint8_t psk[WG_KEY_LEN]);

/*
 * One message of a GET_DEVICE answer (or a SET_DEVICE request: same
 * attributes): fold what it says about @pubkey into @out.  The device
 * attributes come in the first message of a dump only, peers may spread
 * over several.  0, or -EPROTO for a malformed message (which changes
 * nothing in @out).  Strict and fuzzed (fuzz/fuzz_wg_nl.c).  With @psk
 * not NULL, the peer's PSK is copied there (tests only).
 */
int wg_nl_parse_device(const struct nlmsghdr *nlh,
		       const uint8_t pubkey[WG_KEY_LEN],
		       struct wg_nl_peer *out, uint8_t *psk);

#endif /* QKD_WG_NL_H */
