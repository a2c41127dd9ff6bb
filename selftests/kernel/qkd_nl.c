// SPDX-License-Identifier: GPL-2.0
/*
 * Minimal libmnl client for the "qkd" generic netlink family (see
 * uapi/linux/qkd.h), shared by the kernel selftests and the benchmark.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "qkd_nl.h"

#define QKD_RECV_BUF	(1U << 20)

static int set_sockopts(struct qkd_sock *s)
{
	int one = 1, rcvbuf = 8 << 20;
	int fd = mnl_socket_get_fd(s->nl);

	if (mnl_socket_setsockopt(s->nl, NETLINK_EXT_ACK, &one, sizeof(one)) ||
	    mnl_socket_setsockopt(s->nl, NETLINK_CAP_ACK, &one, sizeof(one)))
		return -errno;
	/* Large replies (KEY_ALLOC of 64 KiB, dumps) must not overrun. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	return 0;
}

/* Creates the netlink socket inside @netns_path's namespace, then returns. */
static struct mnl_socket *socket_in_netns(const char *netns_path)
{
	struct mnl_socket *nl;
	int self, target;

	if (!netns_path)
		return mnl_socket_open(NETLINK_GENERIC);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	target = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0 || setns(target, CLONE_NEWNET)) {
		if (self >= 0)
			close(self);
		if (target >= 0)
			close(target);
		return NULL;
	}
	nl = mnl_socket_open(NETLINK_GENERIC);
	if (setns(self, CLONE_NEWNET)) {
		perror("setns back");
		exit(1);
	}
	close(self);
	close(target);
	return nl;
}

struct family_info {
	struct qkd_sock *s;
};

static int mcast_group_cb(const struct nlattr *grp, struct qkd_sock *s)
{
	struct nlattr *a;
	const char *name = NULL;
	uint32_t id = 0;

	mnl_attr_for_each_nested(a, grp) {
		if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_NAME)
			name = mnl_attr_get_str(a);
		else if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_ID)
			id = mnl_attr_get_u32(a);
	}
	if (name && !strcmp(name, QKD_MCGRP_LINK))
		s->grp_link = id;
	else if (name && !strcmp(name, QKD_MCGRP_POOL))
		s->grp_pool = id;
	return MNL_CB_OK;
}

static int family_attr_cb(const struct nlattr *a, void *data)
{
	struct qkd_sock *s = data;
	struct nlattr *grp;

	switch (mnl_attr_get_type(a)) {
	case CTRL_ATTR_FAMILY_ID:
		s->family = mnl_attr_get_u16(a);
		break;
	case CTRL_ATTR_MCAST_GROUPS:
		mnl_attr_for_each_nested(grp, a)
			mcast_group_cb(grp, s);
		break;
	}
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb, data);
}

static int resolve_family(struct qkd_sock *s)
{
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, QKD_GENL_NAME);
	return qkd_request(s, nlh, family_cb, s);
}

int qkd_open(struct qkd_sock *s, const char *netns_path)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->buf_size = QKD_RECV_BUF;
	s->buf = malloc(s->buf_size);
	s->nl = socket_in_netns(netns_path);
	if (!s->buf || !s->nl) {
		err = -errno ? -errno : -ENOMEM;
		qkd_close(s);
		return err;
	}
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		qkd_close(s);
		return err;
	}
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = (uint32_t)time(NULL);
	err = set_sockopts(s);
	if (!err)
		err = resolve_family(s);
	if (err)
		qkd_close(s);
	return err;
}

void qkd_close(struct qkd_sock *s)
{
	if (s->nl)
		mnl_socket_close(s->nl);
	free(s->buf);
	s->nl = NULL;
	s->buf = NULL;
}

int qkd_join(struct qkd_sock *s, uint32_t group)
{
	int g = group;

	if (!group)
		return -ENOENT;
	if (mnl_socket_setsockopt(s->nl, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)))
		return -errno;
	return 0;
}

struct nlmsghdr *qkd_msg(struct qkd_sock *s, void *buf, uint8_t cmd, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = s->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = QKD_GENL_VERSION;
	return nlh;
}

static int extack_attr_cb(const struct nlattr *a, void *data)
{
	struct qkd_sock *s = data;

	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		snprintf(s->ext_msg, sizeof(s->ext_msg), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

/* Returns the (negative) error of an NLMSG_ERROR, storing its extack. */
static int parse_error(struct qkd_sock *s, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	unsigned int off = sizeof(*e);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return -EBADMSG;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && off < mnl_nlmsg_get_payload_len(nlh))
		mnl_attr_parse(nlh, off, extack_attr_cb, s);
	return e->error;
}

int qkd_request(struct qkd_sock *s, struct nlmsghdr *nlh,
		int (*cb)(const struct nlmsghdr *nlh, void *data), void *data)
{
	uint32_t seq = ++s->seq;
	int cb_err = 0;

	s->ext_msg[0] = '\0';
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(s->nl, s->buf, s->buf_size);
		const struct nlmsghdr *m;
		int len;

		if (n < 0)
			return -errno;
		len = n;
		for (m = (void *)s->buf; mnl_nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
			if (m->nlmsg_seq != seq || m->nlmsg_pid != s->portid)
				continue;	/* stale reply or notification */
			if (m->nlmsg_type == NLMSG_ERROR) {
				int err = parse_error(s, m);

				return err ? err : cb_err;
			}
			if (m->nlmsg_type == NLMSG_DONE) {
				/* dumps end with DONE, then no ACK for NLM_F_DUMP */
				int err = 0;

				if (mnl_nlmsg_get_payload_len(m) >= sizeof(int))
					err = *(int *)mnl_nlmsg_get_payload(m);
				return err ? err : cb_err;
			}
			if (cb && !cb_err && cb(m, data) < 0)
				cb_err = -EPROTO;
		}
	}
}

/* ---- link attributes ---- */

static void parse_stats(const struct nlattr *nest, struct qkd_link *out)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest) {
		unsigned int t = mnl_attr_get_type(a);

		if (t <= QKD_STAT_MAX && mnl_attr_get_payload_len(a) == 8)
			out->stats[t] = mnl_attr_get_u64(a);
	}
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct qkd_link *l = data;

	switch (mnl_attr_get_type(a)) {
	case QKD_A_LINK_INDEX: l->index = mnl_attr_get_u32(a); break;
	case QKD_A_LINK_ID: l->id = mnl_attr_get_u32(a); break;
	case QKD_A_LINK_NAME:
		snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(a));
		break;
	case QKD_A_LINK_ROLE: l->role = mnl_attr_get_u8(a); break;
	case QKD_A_LINK_STATE: l->state = mnl_attr_get_u8(a); break;
	case QKD_A_LINK_QBER: l->qber = mnl_attr_get_u32(a); break;
	case QKD_A_LINK_QBER_MAX: l->qber_max = mnl_attr_get_u32(a); break;
	case QKD_A_LINK_SKR: l->skr = mnl_attr_get_u64(a); break;
	case QKD_A_LINK_BLOCK_SIZE: l->block_size = mnl_attr_get_u32(a); break;
	case QKD_A_POOL_CAPACITY: l->capacity = mnl_attr_get_u32(a); break;
	case QKD_A_POOL_BLOCKS: l->blocks = mnl_attr_get_u32(a); break;
	case QKD_A_POOL_AVAIL: l->avail = mnl_attr_get_u64(a); break;
	case QKD_A_POOL_LEVEL: l->level = mnl_attr_get_u8(a); break;
	case QKD_A_POOL_WARN: l->warn = mnl_attr_get_u64(a); break;
	case QKD_A_POOL_READY: l->ready = mnl_attr_get_u64(a); break;
	case QKD_A_STATS: parse_stats(a, l); break;
	}
	return MNL_CB_OK;
}

void qkd_parse_link(const struct nlmsghdr *nlh, struct qkd_link *out)
{
	memset(out, 0, sizeof(*out));
	mnl_attr_parse(nlh, sizeof(struct genlmsghdr), link_attr_cb, out);
}

static int link_one_cb(const struct nlmsghdr *nlh, void *data)
{
	qkd_parse_link(nlh, data);
	return MNL_CB_OK;
}

int qkd_link_get(struct qkd_sock *s, uint32_t index, struct qkd_link *out)
{
	char buf[256];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_LINK_GET, 0);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	memset(out, 0, sizeof(*out));
	return qkd_request(s, nlh, link_one_cb, out);
}

struct dump_ctx {
	struct qkd_link *out;
	int n, max;
};

static int link_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;

	if (c->n < c->max)
		qkd_parse_link(nlh, &c->out[c->n]);
	c->n++;
	return MNL_CB_OK;
}

int qkd_link_dump(struct qkd_sock *s, struct qkd_link *out, int max)
{
	char buf[256];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_LINK_GET, NLM_F_DUMP);
	struct dump_ctx c = { .out = out, .max = max };
	int err = qkd_request(s, nlh, link_dump_cb, &c);

	return err ? err : (c.n < max ? c.n : max);
}

static int link_set(struct qkd_sock *s, uint32_t index, int attr, uint64_t v, int size)
{
	char buf[256];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_LINK_SET, 0);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	if (size == 1)
		mnl_attr_put_u8(nlh, attr, v);
	else if (size == 4)
		mnl_attr_put_u32(nlh, attr, v);
	else
		mnl_attr_put_u64(nlh, attr, v);
	return qkd_request(s, nlh, NULL, NULL);
}

int qkd_link_set_state(struct qkd_sock *s, uint32_t index, uint8_t state)
{
	return link_set(s, index, QKD_A_LINK_STATE, state, 1);
}

int qkd_link_set_netns(struct qkd_sock *s, uint32_t index, int netns_fd)
{
	return link_set(s, index, QKD_A_NETNS_FD, netns_fd, 4);
}

int qkd_link_set_qber_max(struct qkd_sock *s, uint32_t index, uint32_t qber_max)
{
	return link_set(s, index, QKD_A_LINK_QBER_MAX, qber_max, 4);
}

int qkd_link_set_levels(struct qkd_sock *s, uint32_t index, uint64_t warn, uint64_t ready)
{
	char buf[256];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_LINK_SET, 0);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u64(nlh, QKD_A_POOL_WARN, warn);
	mnl_attr_put_u64(nlh, QKD_A_POOL_READY, ready);
	return qkd_request(s, nlh, NULL, NULL);
}

/* ---- keys ---- */

static int key_attr_cb(const struct nlattr *a, void *data)
{
	struct qkd_key *k = data;

	switch (mnl_attr_get_type(a)) {
	case QKD_A_KEY_ID: k->id = mnl_attr_get_u64(a); break;
	case QKD_A_KEY_LEN: k->len = mnl_attr_get_u32(a); break;
	case QKD_A_KEY_GEN_TIME: k->gen_time = mnl_attr_get_u64(a); break;
	case QKD_A_KEY_MATERIAL:
		/* an attribute payload (u16 length) always fits */
		memcpy(k->material, mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
		k->has_material = true;
		break;
	}
	return MNL_CB_OK;
}

struct keys_ctx {
	struct qkd_key *keys;
	int n, max;
};

static int key_top_cb(const struct nlattr *a, void *data)
{
	struct keys_ctx *c = data;
	struct qkd_key *k;

	if (mnl_attr_get_type(a) != QKD_A_KEY)
		return MNL_CB_OK;
	if (c->n >= c->max) {
		c->n++;
		return MNL_CB_OK;
	}
	k = &c->keys[c->n++];
	k->id = 0;
	k->len = 0;
	k->gen_time = 0;
	k->has_material = false;
	mnl_attr_parse_nested(a, key_attr_cb, k);
	if (k->has_material)
		qkd_record_key(k->material, k->len);
	return MNL_CB_OK;
}

static int keys_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), key_top_cb, data);
}

int qkd_key_alloc(struct qkd_sock *s, uint32_t index, uint32_t len, uint32_t count,
		  uint32_t flags, struct qkd_key *keys)
{
	char buf[256];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_KEY_ALLOC, 0);
	struct keys_ctx c = { .keys = keys, .max = count };
	int err;

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, len);
	mnl_attr_put_u32(nlh, QKD_A_KEY_COUNT, count);
	if (flags)
		mnl_attr_put_u32(nlh, QKD_A_KEY_FLAGS, flags);
	err = qkd_request(s, nlh, keys_cb, &c);
	return err ? err : c.n;
}

int qkd_key_get(struct qkd_sock *s, uint32_t index, uint64_t id, uint32_t len,
		struct qkd_key *key)
{
	char buf[256];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_KEY_GET, 0);
	struct keys_ctx c = { .keys = key, .max = 1 };
	int err;

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u64(nlh, QKD_A_KEY_ID, id);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, len);
	err = qkd_request(s, nlh, keys_cb, &c);
	if (!err && c.n != 1)
		err = -EPROTO;
	return err;
}

int qkd_key_discard(struct qkd_sock *s, uint32_t index, uint64_t id, uint32_t len)
{
	char buf[256];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_KEY_DISCARD, 0);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u64(nlh, QKD_A_KEY_ID, id);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, len);
	return qkd_request(s, nlh, NULL, NULL);
}

/* ---- events ---- */

int qkd_event_wait(struct qkd_sock *s, struct qkd_event *ev, int timeout_ms)
{
	struct pollfd p = { .fd = mnl_socket_get_fd(s->nl), .events = POLLIN };
	const struct nlmsghdr *m;
	ssize_t n;
	int r;

	r = poll(&p, 1, timeout_ms);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	n = recv(p.fd, s->buf, s->buf_size, 0);
	if (n < 0)
		return -errno;
	m = (void *)s->buf;
	if (!mnl_nlmsg_ok(m, n) || m->nlmsg_type != s->family)
		return -EAGAIN;
	ev->cmd = ((struct genlmsghdr *)mnl_nlmsg_get_payload(m))->cmd;
	qkd_parse_link(m, &ev->link);
	return 0;
}

/* ---- misc ---- */

void qkd_record_key(const uint8_t *key, size_t len)
{
	const char *path = getenv("QKD_KEY_LOG");
	FILE *f;
	size_t i;

	if (!path || !*path || !len)
		return;
	f = fopen(path, "a");
	if (!f)
		return;
	for (i = 0; i < len; i++)
		fprintf(f, "%02x", key[i]);
	fputc('\n', f);
	fclose(f);
}

const char *qkd_stat_name(int stat)
{
	static const char *const names[] = {
		[QKD_STAT_BLOCKS_RECEIVED] = "blocks_received",
		[QKD_STAT_BYTES_RECEIVED] = "bytes_received",
		[QKD_STAT_BLOCKS_EVICTED] = "blocks_evicted",
		[QKD_STAT_BLOCKS_BAD] = "blocks_bad",
		[QKD_STAT_BLOCKS_QBER] = "blocks_qber",
		[QKD_STAT_BLOCKS_MISSED] = "blocks_missed",
		[QKD_STAT_DMA_ERRORS] = "dma_errors",
		[QKD_STAT_BYTES_ALLOCATED] = "bytes_allocated",
		[QKD_STAT_BYTES_FETCHED] = "bytes_fetched",
		[QKD_STAT_BYTES_DISCARDED] = "bytes_discarded",
		[QKD_STAT_BYTES_WASTED] = "bytes_wasted",
		[QKD_STAT_QBER_ALARMS] = "qber_alarms",
	};

	if (stat > 0 && stat < (int)(sizeof(names) / sizeof(names[0])) && names[stat])
		return names[stat];
	return "?";
}
