/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The qkd generic netlink calls behind QKD-keyed IPsec SAs: find a link
 * end, reserve keys (QKD_CMD_KEY_ALLOC with QKD_KEY_F_RESERVE), install
 * and delete SAs (QKD_CMD_SA_ADD / QKD_CMD_SA_DEL).
 *
 * One blocking libmnl socket of its own: the kernel answers each of these
 * at once, so the loop is held for one round trip.  No reply carries key
 * bytes (reservations return IDs only, SA_ADD an ack), and nothing here
 * logs; errors come back as -errno plus the kernel's extack text.
 */
#ifndef QKD_QKD_SA_H
#define QKD_QKD_SA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qkd_sa_sock;

/* What the budget needs of a link end (QKD_CMD_LINK_GET). */
struct qkd_sa_link {
	uint32_t index, id;
	uint64_t avail;			/* bytes this end may still allocate */
	uint64_t skr;			/* secret key rate, bit/s, both ends */
	bool pushed;			/* a push end: the rate is not known */
};

struct qkd_sa_params {
	uint32_t link_index;
	uint64_t key_id;
	uint32_t key_len;		/* 20 or 36 */
	uint16_t family;		/* AF_INET or AF_INET6 */
	uint8_t saddr[16], daddr[16];	/* network order */
	uint32_t spi;			/* host order, >= 256 */
	uint8_t mode;			/* enum qkd_sa_mode */
	uint32_t reqid;
	uint32_t replay_window;		/* packets, 0..QKD_SA_REPLAY_WINDOW_MAX */
	uint64_t soft_s, hard_s;	/* lifetimes since added */
	uint64_t soft_bytes, hard_bytes;	/* 0: none */
};

/* NULL with a reason in @err (no qkd family: module not loaded). */
struct qkd_sa_sock *qkd_sa_open(char *err, size_t errlen);
void qkd_sa_close(struct qkd_sa_sock *s);

/* The extack text of the last failed call ("" if none). */
const char *qkd_sa_extack(const struct qkd_sa_sock *s);

/* The end of link @link_id in this namespace: 0, -ENODEV, or -errno. */
int qkd_sa_link_get(struct qkd_sa_sock *s, uint32_t link_id,
		    struct qkd_sa_link *out);

/* Reserve @count keys of @len bytes; their IDs into @ids.  -ENOSPC when
 * this end's share of the pool cannot supply them all. */
int qkd_sa_reserve(struct qkd_sa_sock *s, uint32_t index, uint32_t len,
		   uint32_t count, uint64_t *ids);

/* Give back a reserved key nobody will use (zeroised in the pool). */
int qkd_sa_discard(struct qkd_sa_sock *s, uint32_t index, uint64_t key_id,
		   uint32_t len);

int qkd_sa_add(struct qkd_sa_sock *s, const struct qkd_sa_params *p);
int qkd_sa_del(struct qkd_sa_sock *s, uint16_t family, const uint8_t *daddr,
	       uint32_t spi);

#endif /* QKD_QKD_SA_H */
