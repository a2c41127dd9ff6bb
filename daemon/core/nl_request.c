// SPDX-License-Identifier: GPL-2.0
/*
 * Blocking netlink request / answer; see nl_request.h.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/netlink.h>
#include <openssl/crypto.h>

#include "core/nl_request.h"

struct answer {
	struct nl_io *io;
	nl_parse_fn parse;
	void *arg;
	int error;
};

static int on_data(const struct nlmsghdr *nlh, void *data)
{
	struct answer *a = data;
	int rc = a->parse ? a->parse(nlh, a->arg) : 0;

	if (rc < 0 && !a->error)
		a->error = rc;
	return MNL_CB_OK;
}

/* The kernel's extack message of error @e in @nlh, into @io->extack. */
static void take_extack(struct nl_io *io, const struct nlmsghdr *nlh,
			const struct nlmsgerr *e)
{
	const struct nlattr *attr;
	size_t off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	if (mnl_nlmsg_size(off) >= nlh->nlmsg_len)
		return;
	mnl_attr_for_each(attr, nlh, off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			snprintf(io->extack, sizeof(io->extack), "%s",
				 mnl_attr_get_str(attr));
	}
}

static int on_error(const struct nlmsghdr *nlh, void *data)
{
	struct answer *a = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		a->error = -EBADMSG;
		return MNL_CB_ERROR;
	}
	if (e->error == 0)
		return MNL_CB_STOP;		/* the ACK */
	a->error = e->error;
	take_extack(a->io, nlh, e);
	return MNL_CB_STOP;
}

static int on_done(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_STOP;
}

static int on_overrun(const struct nlmsghdr *nlh, void *data)
{
	((struct answer *)data)->error = -ENOBUFS;
	return MNL_CB_ERROR;
}

int nl_request(struct nl_io *io, const struct nlmsghdr *nlh,
	       nl_parse_fn parse, void *arg)
{
	struct answer a = { .io = io, .parse = parse, .arg = arg };
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_ERROR] = on_error,
		[NLMSG_DONE] = on_done,
		[NLMSG_OVERRUN] = on_overrun,
	};
	uint32_t portid = mnl_socket_get_portid(io->sock);
	size_t used = 0;	/* high-water of rx, to cleanse */
	ssize_t n;
	int ret;

	io->extack[0] = '\0';
	if (mnl_socket_sendto(io->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(io->sock, io->rx, io->rx_len);
		if (n < 0) {
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		if ((size_t)n > used)
			used = (size_t)n;
		ret = mnl_cb_run2(io->rx, (size_t)n, nlh->nlmsg_seq, portid,
				  on_data, &a, ctl, NLMSG_MIN_TYPE);
		if (ret < 0)
			ret = -errno;
	} while (ret > MNL_CB_STOP);
	OPENSSL_cleanse(io->rx, used);
	if (a.error)
		return a.error;
	return ret < 0 ? ret : 0;
}

struct mnl_socket *nl_socket_open(int bus, unsigned int timeout_s)
{
	struct timeval tv = { .tv_sec = timeout_s };
	struct mnl_socket *s = mnl_socket_open2(bus, SOCK_CLOEXEC);
	int one = 1;

	if (!s)
		return NULL;
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    (timeout_s && setsockopt(mnl_socket_get_fd(s), SOL_SOCKET,
				     SO_RCVTIMEO, &tv, sizeof(tv)) < 0)) {
		mnl_socket_close(s);
		return NULL;
	}
	/* Best effort: the kernel's reason text in errors. */
	mnl_socket_setsockopt(s, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(s, NETLINK_CAP_ACK, &one, sizeof(one));
	return s;
}
