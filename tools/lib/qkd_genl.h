/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small libmnl client for the "qkd" generic netlink family
 * (uapi/linux/qkd.h), shared by qkdctl, the kernel selftests and the
 * ingest benchmark: open a socket (optionally in another network
 * namespace), resolve the family and its multicast groups, build a
 * request, send it and collect the replies, returning -errno together
 * with the kernel's extack message.
 */
#ifndef QKD_GENL_H
#define QKD_GENL_H

#include <stddef.h>
#include <stdint.h>
#include <linux/qkd.h>

struct mnl_socket;
struct nlmsghdr;

struct qkd_sock {
	struct mnl_socket *nl;
	uint16_t family;
	uint32_t grp_link, grp_pool;	/* multicast group IDs, 0: not offered */
	uint32_t portid, seq;
	char ext_msg[256];	/* extack message of the last error, or "" */
	char *buf;		/* receive buffer */
	size_t buf_size;
};

/*
 * Opens a socket in the network namespace of @netns_path (NULL: the
 * current one) and resolves the family: 0, or -errno (-ENOENT: no "qkd"
 * family, qkd.ko is not loaded).  On error nothing is left to close.
 */
int qkd_open(struct qkd_sock *s, const char *netns_path);
void qkd_close(struct qkd_sock *s);
/* Joins multicast group @group (grp_link or grp_pool); -ENOENT if 0. */
int qkd_join(struct qkd_sock *s, uint32_t group);

/*
 * A request for command @cmd in @buf (MNL_SOCKET_BUFFER_SIZE bytes or
 * what the attributes need), NLM_F_REQUEST | NLM_F_ACK | @flags.
 */
struct nlmsghdr *qkd_msg(struct qkd_sock *s, void *buf, uint8_t cmd,
			 uint16_t flags);
/*
 * Sends @nlh and passes each reply message to @cb (may be NULL) up to the
 * ack or the end of the dump; notifications arriving meanwhile are
 * skipped.  Returns 0, the kernel's -errno (ext_msg set when it gave a
 * reason) or -EPROTO if @cb returned an error.
 */
int qkd_request(struct qkd_sock *s, struct nlmsghdr *nlh,
		int (*cb)(const struct nlmsghdr *nlh, void *data), void *data);

/* The name of counter QKD_STAT_@stat (as its sysfs file), or NULL. */
const char *qkd_stat_name(unsigned int stat);

#endif /* QKD_GENL_H */
