// SPDX-License-Identifier: GPL-2.0
/*
 * NETLINK_XFRM listener: ACQUIRE and EXPIRE (xfrm_nl.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <netinet/in.h>

#include "core/log.h"
#include "core/loop.h"
#include "apps/ipsec/xfrm_nl.h"

#define XFRM_NL_RX_BUF	(64 * 1024)

struct xfrm_nl {
	struct mnl_socket *sock;
	struct loop_watch *watch;
	xfrm_nl_fn fn;
	void *arg;
	uint8_t *rx;
};

const char *xfrm_nl_addr_str(uint16_t family, const struct xfrm_nl_addr *a,
			     char *buf, size_t len)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, a->b, buf,
		       (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

static int fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

static bool family_ok(uint16_t f)
{
	return f == AF_INET || f == AF_INET6;
}

static void copy_addr(struct xfrm_nl_addr *dst, const xfrm_address_t *src,
		      uint16_t family)
{
	memset(dst, 0, sizeof(*dst));
	memcpy(dst->b, src, family == AF_INET6 ? 16 : 4);
}

static int take_selector(struct xfrm_nl_selector *out,
			 const struct xfrm_selector *sel)
{
	uint8_t max = sel->family == AF_INET6 ? 128 : 32;

	/* A tunnel-mode flow may have any family; AF_UNSPEC is "any". */
	if (sel->family && !family_ok(sel->family))
		return -1;
	if (sel->prefixlen_s > max || sel->prefixlen_d > max)
		return -1;
	out->family = sel->family;
	copy_addr(&out->saddr, &sel->saddr, sel->family);
	copy_addr(&out->daddr, &sel->daddr, sel->family);
	out->prefixlen_s = sel->prefixlen_s;
	out->prefixlen_d = sel->prefixlen_d;
	out->proto = sel->proto;
	return 0;
}

/* The first ESP template, or NULL; -1 if XFRMA_TMPL is malformed. */
static int find_esp_tmpl(const struct nlmsghdr *nlh,
			 const struct xfrm_user_tmpl **out)
{
	const struct nlattr *a;
	int seen = 0;

	*out = NULL;
	mnl_attr_for_each(a, nlh, sizeof(struct xfrm_user_acquire)) {
		const struct xfrm_user_tmpl *t;
		size_t n;

		if (mnl_attr_get_type(a) != XFRMA_TMPL)
			continue;
		if (seen++)
			return -1;	/* one XFRMA_TMPL attribute */
		n = mnl_attr_get_payload_len(a);
		if (n == 0 || n % sizeof(*t))
			return -1;
		t = mnl_attr_get_payload(a);
		for (size_t i = 0; i < n / sizeof(*t); i++) {
			if (t[i].id.proto == IPPROTO_ESP && !*out)
				*out = &t[i];
		}
	}
	return 0;
}

/* Every attribute must be whole; mnl_attr_for_each stops at a torn one. */
static bool attrs_whole(const struct nlmsghdr *nlh, size_t hdr)
{
	const struct nlattr *a;
	const char *end = (const char *)nlh + nlh->nlmsg_len;
	const char *last = (const char *)mnl_nlmsg_get_payload_offset(nlh, hdr);

	mnl_attr_for_each(a, nlh, hdr) {
		if (mnl_attr_get_len(a) < sizeof(*a))
			return false;
		last = (const char *)a + MNL_ALIGN(mnl_attr_get_len(a));
	}
	return last >= end;
}

static int parse_acquire(const struct nlmsghdr *nlh,
			 struct xfrm_nl_acquire *out, char *err, size_t errlen)
{
	const struct xfrm_user_acquire *ua = mnl_nlmsg_get_payload(nlh);
	const struct xfrm_user_tmpl *t;
	uint16_t family;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*ua)))
		return fail(err, errlen, "acquire: short message");
	if (!attrs_whole(nlh, sizeof(*ua)))
		return fail(err, errlen, "acquire: torn attribute");
	if (find_esp_tmpl(nlh, &t))
		return fail(err, errlen, "acquire: bad template attribute");
	if (!t)
		return 1;		/* AH or IPcomp only: not ours */
	family = t->family ? t->family : ua->sel.family;
	if (!family_ok(family))
		return fail(err, errlen, "acquire: bad family");
	if (t->mode != XFRM_MODE_TRANSPORT && t->mode != XFRM_MODE_TUNNEL)
		return fail(err, errlen, "acquire: mode is not transport or tunnel");
	if (take_selector(&out->sel, &ua->sel))
		return fail(err, errlen, "acquire: bad selector");
	out->reqid = t->reqid;
	out->mode = t->mode;
	out->family = family;
	copy_addr(&out->saddr, &ua->saddr, family);
	copy_addr(&out->daddr, &ua->id.daddr, family);
	out->seq = ua->seq;
	return 0;
}

static int parse_expire(const struct nlmsghdr *nlh,
			struct xfrm_nl_expire *out, char *err, size_t errlen)
{
	const struct xfrm_user_expire *ue = mnl_nlmsg_get_payload(nlh);
	const struct xfrm_usersa_info *s = &ue->state;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(*ue))
		return fail(err, errlen, "expire: short message");
	if (!family_ok(s->family))
		return fail(err, errlen, "expire: bad family");
	if (ue->hard > 1)
		return fail(err, errlen, "expire: bad hard flag");
	out->spi = ntohl(s->id.spi);
	out->proto = s->id.proto;
	out->family = s->family;
	copy_addr(&out->saddr, &s->saddr, s->family);
	copy_addr(&out->daddr, &s->id.daddr, s->family);
	out->reqid = s->reqid;
	out->hard = ue->hard;
	return 0;
}

int xfrm_nl_parse(const struct nlmsghdr *nlh, size_t len,
		  struct xfrm_nl_event *ev, char *err, size_t errlen)
{
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) ||
	    nlh->nlmsg_len > len)
		return fail(err, errlen, "truncated netlink message");
	switch (nlh->nlmsg_type) {
	case XFRM_MSG_ACQUIRE:
		rc = parse_acquire(nlh, &ev->acquire, err, errlen);
		if (rc == 0)
			ev->kind = XFRM_NL_ACQUIRE;
		return rc < 0 ? -1 : 0;
	case XFRM_MSG_EXPIRE:
		if (parse_expire(nlh, &ev->expire, err, errlen))
			return -1;
		ev->kind = XFRM_NL_EXPIRE;
		return 0;
	}
	return 0;
}

/* ---- socket ---- */

unsigned int xfrm_nl_parse_buffer(const void *buf, size_t len, xfrm_nl_fn fn,
				  void *arg)
{
	const uint8_t *p = buf;
	unsigned int dropped = 0;
	char err[128];

	while (len >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
		size_t step = NLMSG_ALIGN(nlh->nlmsg_len);
		struct xfrm_nl_event ev;

		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
			return dropped + 1;
		if (xfrm_nl_parse(nlh, nlh->nlmsg_len, &ev, err, sizeof(err))) {
			log_debug("xfrm: dropped a message: %s", err);
			dropped++;
		} else if (ev.kind != XFRM_NL_IGNORED) {
			fn(arg, &ev);
		}
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return dropped;
}

static void on_readable(void *arg, uint32_t revents)
{
	struct xfrm_nl *x = arg;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(x->sock, x->rx, XFRM_NL_RX_BUF);

		if (n < 0) {
			if (errno == ENOBUFS)
				log_warn("xfrm: event socket overrun: ACQUIRE/EXPIRE events lost");
			else if (errno != EAGAIN && errno != EINTR)
				log_warn("xfrm: event socket: %s", strerror(errno));
			if (errno != ENOBUFS && errno != EINTR)
				return;
			continue;
		}
		xfrm_nl_parse_buffer(x->rx, (size_t)n, x->fn, x->arg);
	}
}

struct xfrm_nl *xfrm_nl_open(struct loop *loop, xfrm_nl_fn fn, void *arg,
			     char *err, size_t errlen)
{
	struct xfrm_nl *x = calloc(1, sizeof(*x));
	unsigned int groups = 1u << (XFRMNLGRP_ACQUIRE - 1) |
			      1u << (XFRMNLGRP_EXPIRE - 1);

	if (!x || !(x->rx = malloc(XFRM_NL_RX_BUF))) {
		snprintf(err, errlen, "xfrm: out of memory");
		goto fail;
	}
	x->fn = fn;
	x->arg = arg;
	x->sock = mnl_socket_open2(NETLINK_XFRM, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!x->sock || mnl_socket_bind(x->sock, groups, MNL_SOCKET_AUTOPID)) {
		snprintf(err, errlen, "xfrm: NETLINK_XFRM socket: %s%s",
			 strerror(errno),
			 errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
		goto fail;
	}
	x->watch = loop_watch_add(loop, mnl_socket_get_fd(x->sock), POLLIN,
				  on_readable, x);
	if (!x->watch) {
		snprintf(err, errlen, "xfrm: watch: %s", strerror(errno));
		goto fail;
	}
	return x;
fail:
	xfrm_nl_close(x);
	return NULL;
}

void xfrm_nl_close(struct xfrm_nl *x)
{
	if (!x)
		return;
	loop_watch_del(x->watch);
	if (x->sock)
		mnl_socket_close(x->sock);
	free(x->rx);
	free(x);
}
