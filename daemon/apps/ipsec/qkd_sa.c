// SPDX-License-Identifier: GPL-2.0
/*
 * qkd genetlink calls for IPsec SAs (qkd_sa.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "kma/keysrc.h"
#include "core/nl_request.h"
#include "apps/ipsec/qkd_sa.h"

#define QS_RX_BUF	(64 * 1024)
#define QS_TX_BUF	1024

struct qkd_sa_sock {
	struct nl_io io;
	uint32_t seq;
	uint16_t family;
};

static int request(struct qkd_sa_sock *s, struct nlmsghdr *nlh,
		   nl_parse_fn parse, void *arg)
{
	return nl_request(&s->io, nlh, parse, arg);
}

static struct nlmsghdr *start(struct qkd_sa_sock *s, void *buf, uint8_t cmd,
			      uint16_t flags)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	memset(buf, 0, QS_TX_BUF);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = s->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++s->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = QKD_GENL_VERSION;
	return nlh;
}

static int family_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct keysrc_kernel_family *f = arg;

	return keysrc_kernel_parse_family(nlh, f);
}

struct qkd_sa_sock *qkd_sa_open(char *err, size_t errlen)
{
	struct qkd_sa_sock *s = calloc(1, sizeof(*s));
	struct keysrc_kernel_family fam = { 0 };
	uint8_t buf[QS_TX_BUF];
	size_t len;
	int rc;

	if (!s || !(s->io.rx = malloc(QS_RX_BUF))) {
		snprintf(err, errlen, "qkd: out of memory");
		goto fail;
	}
	s->io.rx_len = QS_RX_BUF;
	s->io.sock = nl_socket_open(NETLINK_GENERIC, 0);
	if (!s->io.sock) {
		snprintf(err, errlen, "qkd: genetlink socket: %s",
			 strerror(errno));
		goto fail;
	}
	len = keysrc_kernel_build_getfamily(buf, sizeof(buf), ++s->seq);
	rc = len ? request(s, (struct nlmsghdr *)buf, family_cb, &fam) : -EINVAL;
	if (rc || !fam.id) {
		snprintf(err, errlen,
			 "qkd: no generic netlink family \"%s\" (is qkd.ko loaded?): %s",
			 QKD_GENL_NAME, strerror(rc ? -rc : ENOENT));
		goto fail;
	}
	s->family = fam.id;
	return s;
fail:
	qkd_sa_close(s);
	return NULL;
}

void qkd_sa_close(struct qkd_sa_sock *s)
{
	if (!s)
		return;
	if (s->io.sock)
		mnl_socket_close(s->io.sock);
	free(s->io.rx);
	free(s);
}

const char *qkd_sa_extack(const struct qkd_sa_sock *s)
{
	return s->io.extack;
}

/* ---- LINK_GET ---- */

struct link_find {
	uint32_t want_id;
	struct qkd_sa_link *out;
	bool found;
};

static int link_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct link_find *lf = arg;
	struct qkd_sa_link l = { 0 };
	const struct nlattr *a;
	bool have_index = false;

	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		size_t n = mnl_attr_get_payload_len(a);

		switch (mnl_attr_get_type(a)) {
		case QKD_A_LINK_INDEX:
			if (n != 4)
				return -EINVAL;
			l.index = mnl_attr_get_u32(a);
			have_index = true;
			break;
		case QKD_A_LINK_ID:
			if (n != 4)
				return -EINVAL;
			l.id = mnl_attr_get_u32(a);
			break;
		case QKD_A_POOL_AVAIL:
			if (n != 8)
				return -EINVAL;
			l.avail = mnl_attr_get_u64(a);
			break;
		case QKD_A_LINK_SKR:
			if (n != 8)
				return -EINVAL;
			l.skr = mnl_attr_get_u64(a);
			break;
		case QKD_A_LINK_TYPE:
			if (n != 1)
				return -EINVAL;
			l.pushed = mnl_attr_get_u8(a) == QKD_LINK_TYPE_PUSH;
			break;
		}
	}
	if (have_index && l.id == lf->want_id && !lf->found) {
		*lf->out = l;
		lf->found = true;
	}
	return 0;
}

int qkd_sa_link_get(struct qkd_sa_sock *s, uint32_t link_id,
		    struct qkd_sa_link *out)
{
	uint8_t buf[QS_TX_BUF];
	struct link_find lf = { .want_id = link_id, .out = out };
	int rc;

	rc = request(s, start(s, buf, QKD_CMD_LINK_GET, NLM_F_DUMP), link_cb,
		     &lf);
	if (rc)
		return rc;
	return lf.found ? 0 : -ENODEV;
}

/* ---- keys ---- */

struct key_ids {
	uint64_t *ids;
	uint32_t max, n;
};

static int keys_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct key_ids *k = arg;
	const struct nlattr *a, *b;

	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		bool have = false;

		if (mnl_attr_get_type(a) != QKD_A_KEY)
			continue;
		mnl_attr_for_each_nested(b, a) {
			if (mnl_attr_get_type(b) == QKD_A_KEY_MATERIAL)
				return -EINVAL;	/* asked for none */
			if (mnl_attr_get_type(b) != QKD_A_KEY_ID)
				continue;
			if (mnl_attr_get_payload_len(b) != 8 || k->n >= k->max)
				return -EINVAL;
			k->ids[k->n++] = mnl_attr_get_u64(b);
			have = true;
		}
		if (!have)
			return -EINVAL;
	}
	return 0;
}

int qkd_sa_reserve(struct qkd_sa_sock *s, uint32_t index, uint32_t len,
		   uint32_t count, uint64_t *ids)
{
	uint8_t buf[QS_TX_BUF];
	struct nlmsghdr *nlh = start(s, buf, QKD_CMD_KEY_ALLOC, NLM_F_ACK);
	struct key_ids k = { .ids = ids, .max = count };
	int rc;

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, len);
	mnl_attr_put_u32(nlh, QKD_A_KEY_COUNT, count);
	mnl_attr_put_u32(nlh, QKD_A_KEY_FLAGS, QKD_KEY_F_RESERVE);
	rc = request(s, nlh, keys_cb, &k);
	if (!rc && k.n != count)
		rc = -EBADMSG;
	return rc;
}

int qkd_sa_discard(struct qkd_sa_sock *s, uint32_t index, uint64_t key_id,
		   uint32_t len)
{
	uint8_t buf[QS_TX_BUF];
	struct nlmsghdr *nlh = start(s, buf, QKD_CMD_KEY_DISCARD, NLM_F_ACK);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u64(nlh, QKD_A_KEY_ID, key_id);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, len);
	return request(s, nlh, NULL, NULL);
}

/* ---- SAs ---- */

static size_t addr_len(uint16_t family)
{
	return family == AF_INET6 ? 16 : 4;
}

int qkd_sa_add(struct qkd_sa_sock *s, const struct qkd_sa_params *p)
{
	uint8_t buf[QS_TX_BUF];
	struct nlmsghdr *nlh = start(s, buf, QKD_CMD_SA_ADD, NLM_F_ACK);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p->link_index);
	mnl_attr_put_u64(nlh, QKD_A_KEY_ID, p->key_id);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, p->key_len);
	mnl_attr_put_u16(nlh, QKD_A_SA_FAMILY, p->family);
	mnl_attr_put(nlh, QKD_A_SA_SADDR, addr_len(p->family), p->saddr);
	mnl_attr_put(nlh, QKD_A_SA_DADDR, addr_len(p->family), p->daddr);
	mnl_attr_put_u32(nlh, QKD_A_SA_SPI, p->spi);
	mnl_attr_put_u8(nlh, QKD_A_SA_MODE, p->mode);
	mnl_attr_put_u32(nlh, QKD_A_SA_REQID, p->reqid);
	mnl_attr_put_u32(nlh, QKD_A_SA_REPLAY_WINDOW, p->replay_window);
	mnl_attr_put_u64(nlh, QKD_A_SA_SOFT_SECONDS, p->soft_s);
	mnl_attr_put_u64(nlh, QKD_A_SA_HARD_SECONDS, p->hard_s);
	if (p->soft_bytes)
		mnl_attr_put_u64(nlh, QKD_A_SA_SOFT_BYTES, p->soft_bytes);
	if (p->hard_bytes)
		mnl_attr_put_u64(nlh, QKD_A_SA_HARD_BYTES, p->hard_bytes);
	return request(s, nlh, NULL, NULL);
}

int qkd_sa_del(struct qkd_sa_sock *s, uint16_t family, const uint8_t *daddr,
	       uint32_t spi)
{
	uint8_t buf[QS_TX_BUF];
	struct nlmsghdr *nlh = start(s, buf, QKD_CMD_SA_DEL, NLM_F_ACK);

	mnl_attr_put_u16(nlh, QKD_A_SA_FAMILY, family);
	mnl_attr_put(nlh, QKD_A_SA_DADDR, addr_len(family), daddr);
	mnl_attr_put_u32(nlh, QKD_A_SA_SPI, spi);
	return request(s, nlh, NULL, NULL);
}
