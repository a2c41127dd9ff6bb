/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One blocking netlink request and its answers, over libmnl: the qkd and
 * macsec generic netlink families and rtnetlink all answer the same way
 * (data messages, then an ACK, an error with the kernel's extack reason,
 * or the end of a dump), so keysrc_kernel.c, qkd_sa.c and macsec_nl.c
 * share this.  The requests are short kernel calls; blocking the loop for
 * one is cheaper than a state machine per call.
 */
#ifndef QKD_NL_REQUEST_H
#define QKD_NL_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include <libmnl/libmnl.h>

#define NL_EXTACK_MAX	128

struct nl_io {
	struct mnl_socket *sock;	/* from nl_socket_open() */
	uint8_t *rx;			/* receive buffer, rx_len bytes */
	size_t rx_len;
	char extack[NL_EXTACK_MAX];	/* kernel's reason for the last error */
};

/* Parse one data message of an answer: 0, or -errno to fail the request. */
typedef int (*nl_parse_fn)(const struct nlmsghdr *nlh, void *arg);

/*
 * Open a @bus socket bound to an automatic port, asking for extended and
 * capped ACKs; with @timeout_s > 0 a silent kernel ends a request with
 * -ETIMEDOUT.  NULL with errno set on failure.
 */
struct mnl_socket *nl_socket_open(int bus, unsigned int timeout_s);

/*
 * Send @nlh (its nlmsg_seq set by the caller) and read the answers to it
 * until its ACK, error or dump end; @parse (may be NULL) sees every data
 * message.  Returns 0, the first error @parse returned, the kernel's
 * -errno (its reason in @io->extack, else ""), or the socket's -errno.
 * The buffer is cleansed afterwards: answers may hold key bytes, and an
 * error echoes the request.
 */
int nl_request(struct nl_io *io, const struct nlmsghdr *nlh,
	       nl_parse_fn parse, void *arg);

#endif /* QKD_NL_REQUEST_H */
