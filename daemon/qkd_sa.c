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
#include <openssl/crypto.h>

#include "keysrc.h"
#include "qkd_sa.h"

#define QS_RX_BUF	(64 * 1024)
#define QS_TX_BUF	1024

struct qkd_sa_sock {
	struct mnl_socket *sock;
	uint32_t portid, seq;
	uint16_t family;
	uint8_t *rx;
	char extack[128];
};

struct reply_ctx {
	struct qkd_sa_sock *s;
	int (*parse)(const struct nlmsghdr *nlh, void *arg);
	void *arg;
	int error;
};

static int data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reply_ctx *rc = data;

	if (rc->parse && rc->parse(nlh, rc->arg))
		rc->error = -EINVAL;
	return MNL_CB_OK;
}

static int error_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reply_ctx *rc = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t off;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		rc->error = -EBADMSG;
		return MNL_CB_ERROR;
	}
	if (e->error == 0)
		return MNL_CB_STOP;
	rc->error = e->error;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return MNL_CB_STOP;
	off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	mnl_attr_for_each(a, nlh, off) {
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(rc->s->extack, sizeof(rc->s->extack), "%s",
				 mnl_attr_get_str(a));
	}
	return MNL_CB_STOP;
}

static int stop_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_STOP;
}

static int request(struct qkd_sa_sock *s, struct nlmsghdr *nlh,
		   int (*parse)(const struct nlmsghdr *, void *), void *arg)
{
	struct reply_ctx rc = { .s = s, .parse = parse, .arg = arg };
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_ERROR] = error_cb,
		[NLMSG_DONE] = stop_cb,
	};
	size_t used = 0;
	ssize_t n;
	int ret;

	s->extack[0] = '\0';
	if (mnl_socket_sendto(s->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(s->sock, s->rx, QS_RX_BUF);
		if (n < 0) {
			ret = -1;
			break;
		}
		if ((size_t)n > used)
			used = (size_t)n;
		ret = mnl_cb_run2(s->rx, (size_t)n, nlh->nlmsg_seq, s->portid,
				  data_cb, &rc, ctl, NLMSG_MIN_TYPE);
	} while (ret > MNL_CB_STOP);
	/* No key bytes are asked for, but clean up as if there were. */
	OPENSSL_cleanse(s->rx, used);
	if (rc.error)
		return rc.error;
	return ret < 0 ? -errno : 0;
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

	if (!s || !(s->rx = malloc(QS_RX_BUF))) {
		snprintf(err, errlen, "qkd: out of memory");
		goto fail;
	}
	s->sock = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!s->sock || mnl_socket_bind(s->sock, 0, MNL_SOCKET_AUTOPID)) {
		snprintf(err, errlen, "qkd: genetlink socket: %s",
			 strerror(errno));
		goto fail;
	}
	s->portid = mnl_socket_get_portid(s->sock);
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
	if (s->sock)
		mnl_socket_close(s->sock);
	free(s->rx);
	free(s);
}

const char *qkd_sa_extack(const struct qkd_sa_sock *s)
{
	return s->extack;
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
				return -1;
			l.index = mnl_attr_get_u32(a);
			have_index = true;
			break;
		case QKD_A_LINK_ID:
			if (n != 4)
				return -1;
			l.id = mnl_attr_get_u32(a);
			break;
		case QKD_A_POOL_AVAIL:
			if (n != 8)
				return -1;
			l.avail = mnl_attr_get_u64(a);
			break;
		case QKD_A_LINK_SKR:
			if (n != 8)
				return -1;
			l.skr = mnl_attr_get_u64(a);
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
				return -1;	/* asked for none */
			if (mnl_attr_get_type(b) != QKD_A_KEY_ID)
				continue;
			if (mnl_attr_get_payload_len(b) != 8 || k->n >= k->max)
				return -1;
			k->ids[k->n++] = mnl_attr_get_u64(b);
			have = true;
		}
		if (!have)
			return -1;
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
