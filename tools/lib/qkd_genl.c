// SPDX-License-Identifier: GPL-2.0
/*
 * A small libmnl client for the "qkd" generic netlink family: see
 * qkd_genl.h.  No key bytes pass through this file's own code; a caller's
 * callback sees whatever its request asked for.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* setns() */
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "qkd_genl.h"

/* A KEY_ALLOC reply of QKD_KEY_ALLOC_MAX_BYTES, or a dump batch, fits. */
#define QKD_RECV_BUF	(1U << 20)

static int set_sockopts(struct qkd_sock *s)
{
	int one = 1, rcvbuf = 8 << 20;
	int fd = mnl_socket_get_fd(s->nl);

	/* Error messages from the kernel, without our request echoed back. */
	if (mnl_socket_setsockopt(s->nl, NETLINK_EXT_ACK, &one, sizeof(one)) ||
	    mnl_socket_setsockopt(s->nl, NETLINK_CAP_ACK, &one, sizeof(one)))
		return -errno;
	/*
	 * Large replies and bursts of events must not overrun; this needs
	 * CAP_NET_ADMIN, without it the default size has to do.
	 */
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
		/* Going on in the wrong namespace would mislead every caller. */
		perror("setns back");
		exit(1);
	}
	close(self);
	close(target);
	return nl;
}

static void mcast_group(const struct nlattr *grp, struct qkd_sock *s)
{
	const struct nlattr *a;
	const char *name = NULL;
	uint32_t id = 0;

	mnl_attr_for_each_nested(a, grp) {
		if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_NAME &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			name = mnl_attr_get_str(a);
		else if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_ID &&
			 mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			id = mnl_attr_get_u32(a);
	}
	if (name && !strcmp(name, QKD_MCGRP_LINK))
		s->grp_link = id;
	else if (name && !strcmp(name, QKD_MCGRP_POOL))
		s->grp_pool = id;
}

static int family_attr_cb(const struct nlattr *a, void *data)
{
	struct qkd_sock *s = data;
	const struct nlattr *grp;

	switch (mnl_attr_get_type(a)) {
	case CTRL_ATTR_FAMILY_ID:
		if (mnl_attr_validate(a, MNL_TYPE_U16) == 0)
			s->family = mnl_attr_get_u16(a);
		break;
	case CTRL_ATTR_MCAST_GROUPS:
		mnl_attr_for_each_nested(grp, a)
			mcast_group(grp, s);
		break;
	}
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb,
			      data);
}

static int resolve_family(struct qkd_sock *s)
{
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	int err;

	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, QKD_GENL_NAME);
	err = qkd_request(s, nlh, family_cb, s);
	return err ? err : s->family ? 0 : -EPROTO;
}

int qkd_open(struct qkd_sock *s, const char *netns_path)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->buf_size = QKD_RECV_BUF;
	s->buf = malloc(s->buf_size);
	s->nl = socket_in_netns(netns_path);
	if (!s->buf || !s->nl) {
		err = errno ? -errno : -ENOMEM;
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

struct nlmsghdr *qkd_msg(struct qkd_sock *s, void *buf, uint8_t cmd,
			 uint16_t flags)
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
		snprintf(s->ext_msg, sizeof(s->ext_msg), "%s",
			 mnl_attr_get_str(a));
	return MNL_CB_OK;
}

/* Keeps the extack message among the attributes after @off payload bytes. */
static void save_extack(struct qkd_sock *s, const struct nlmsghdr *nlh,
			size_t off)
{
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) &&
	    off < mnl_nlmsg_get_payload_len(nlh))
		mnl_attr_parse(nlh, off, extack_attr_cb, s);
}

/* The (negative) error of an NLMSG_ERROR, 0 for the ack. */
static int parse_error(struct qkd_sock *s, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*e);

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
		return -EBADMSG;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	save_extack(s, nlh, off);
	return e->error;
}

/* The end of a dump; a dump that failed midway says so here. */
static int parse_done(struct qkd_sock *s, const struct nlmsghdr *nlh)
{
	int err = 0;

	if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(err))
		memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
	if (err < 0)
		save_extack(s, nlh, sizeof(err));
	return err;
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
		int len, err;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		len = n;
		for (m = (void *)s->buf; mnl_nlmsg_ok(m, len);
		     m = mnl_nlmsg_next(m, &len)) {
			if (m->nlmsg_seq != seq || m->nlmsg_pid != s->portid)
				continue;	/* stale reply or notification */
			if (m->nlmsg_type == NLMSG_ERROR) {
				err = parse_error(s, m);
				return err ? err : cb_err;
			}
			/* A dump ends with DONE and no ack. */
			if (m->nlmsg_type == NLMSG_DONE) {
				err = parse_done(s, m);
				return err ? err : cb_err;
			}
			if (cb && !cb_err && cb(m, data) < 0)
				cb_err = -EPROTO;
		}
	}
}

const char *qkd_stat_name(unsigned int stat)
{
	/* As the files in /sys/class/qkd/qkdN/statistics/. */
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
		[QKD_STAT_INGEST_NS] = "ingest_ns",
	};

	return stat < sizeof(names) / sizeof(names[0]) ? names[stat] : NULL;
}
