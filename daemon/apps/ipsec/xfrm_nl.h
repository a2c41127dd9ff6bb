/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ACQUIRE and EXPIRE events from the kernel's SPD/SAD (NETLINK_XFRM), the
 * way an IKE daemon hears them.  One non-blocking socket bound to
 * XFRMNLGRP_ACQUIRE and XFRMNLGRP_EXPIRE, watched on the daemon's loop.
 *
 * The parser is strict and separate from the socket, so it can be unit
 * tested and fuzzed: a message it does not fully understand (short, bad
 * family or mode, no ESP template, malformed attribute) is dropped with
 * a debug log line.  Nothing of it is secret: EXPIRE carries the SA's
 * identity and lifetimes, never its key (xfrm_user leaves the algorithm
 * attributes out of expire messages).
 */
#ifndef QKD_XFRM_NL_H
#define QKD_XFRM_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct nlmsghdr;

/* An IPv4 or IPv6 address in network byte order (IPv4: first 4 bytes). */
struct xfrm_nl_addr {
	uint8_t b[16];
};

struct xfrm_nl_selector {
	uint16_t family;
	struct xfrm_nl_addr saddr, daddr;
	uint8_t prefixlen_s, prefixlen_d;
	uint8_t proto;			/* upper layer, 0 = any */
};

/* "Traffic hit a policy whose ESP template has no SA" */
struct xfrm_nl_acquire {
	uint32_t reqid;			/* of the ESP template */
	uint8_t mode;			/* XFRM_MODE_TRANSPORT or _TUNNEL */
	uint16_t family;		/* of the SA (template): AF_INET(6) */
	struct xfrm_nl_addr saddr, daddr;	/* SA endpoints: us, peer */
	struct xfrm_nl_selector sel;	/* the packet's flow */
	uint32_t seq;			/* larval state's km.seq */
};

/* "An SA reached its soft or hard limit" */
struct xfrm_nl_expire {
	uint32_t spi;			/* host byte order */
	uint8_t proto;			/* IPPROTO_ESP, ... */
	uint16_t family;
	struct xfrm_nl_addr saddr, daddr;
	uint32_t reqid;
	bool hard;
};

enum xfrm_nl_kind {
	XFRM_NL_IGNORED,		/* not an ACQUIRE/EXPIRE we can use */
	XFRM_NL_ACQUIRE,
	XFRM_NL_EXPIRE,
};

struct xfrm_nl_event {
	enum xfrm_nl_kind kind;
	union {
		struct xfrm_nl_acquire acquire;
		struct xfrm_nl_expire expire;
	};
};

/*
 * Parse one netlink message.  Returns 0 with @ev filled (kind IGNORED
 * for other message types, or an ACQUIRE whose templates hold no ESP),
 * or -1 with a reason in @err for a malformed ACQUIRE or EXPIRE.
 */
int xfrm_nl_parse(const struct nlmsghdr *nlh, size_t len,
		  struct xfrm_nl_event *ev, char *err, size_t errlen);

/* Receive side. */
typedef void (*xfrm_nl_fn)(void *arg, const struct xfrm_nl_event *ev);

/*
 * Walk one receive buffer of messages, calling @fn for each ACQUIRE and
 * EXPIRE.  Stops at the first message whose length does not fit (libmnl's
 * walker trusts a length that is negative as an int).  Returns the
 * messages dropped as malformed.
 */
unsigned int xfrm_nl_parse_buffer(const void *buf, size_t len, xfrm_nl_fn fn,
				  void *arg);
struct xfrm_nl;

/*
 * Open and bind the socket (needs CAP_NET_ADMIN) and watch it on @loop;
 * @fn gets every parsed ACQUIRE and EXPIRE.  NULL with a reason in @err.
 */
struct xfrm_nl *xfrm_nl_open(struct loop *loop, xfrm_nl_fn fn, void *arg,
			     char *err, size_t errlen);
void xfrm_nl_close(struct xfrm_nl *x);

/* "192.0.2.1" / "2001:db8::1" into @buf (INET6_ADDRSTRLEN). */
const char *xfrm_nl_addr_str(uint16_t family, const struct xfrm_nl_addr *a,
			     char *buf, size_t len);

#endif /* QKD_XFRM_NL_H */
