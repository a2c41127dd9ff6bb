/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Link and key commands of the "qkd" generic netlink family for the kernel
 * selftests and the benchmark, over the shared client in tools/lib/qkd_genl.h
 * (socket, family, requests, extack).
 */
#ifndef QKD_NL_H
#define QKD_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/qkd.h>

#include "qkd_genl.h"

struct nlmsghdr;

struct qkd_link {
	uint32_t index, id, qber, qber_max, block_size, capacity, blocks;
	uint8_t role, state, level, type;
	uint64_t skr, avail, warn, ready;
	uint64_t stats[QKD_STAT_MAX + 1];
	char name[64];
};

struct qkd_key {
	uint64_t id;
	uint32_t len;
	uint64_t gen_time;
	bool has_material;
	uint8_t material[QKD_BLOCK_SIZE_MAX];
};

/* A notification received on a multicast group. */
struct qkd_event {
	uint8_t cmd;
	struct qkd_link link;	/* the attributes it carried */
};

int qkd_link_get(struct qkd_sock *s, uint32_t index, struct qkd_link *out);
/* Fills up to @max links, returns how many (or -errno). */
int qkd_link_dump(struct qkd_sock *s, struct qkd_link *out, int max);
int qkd_link_set_state(struct qkd_sock *s, uint32_t index, uint8_t state);
int qkd_link_set_netns(struct qkd_sock *s, uint32_t index, int netns_fd);
int qkd_link_set_levels(struct qkd_sock *s, uint32_t index, uint64_t warn, uint64_t ready);
int qkd_link_set_qber_max(struct qkd_sock *s, uint32_t index, uint32_t qber_max);

/* KEY_ALLOC: @keys has room for @count keys; returns keys received or -errno. */
int qkd_key_alloc(struct qkd_sock *s, uint32_t index, uint32_t len, uint32_t count,
		  uint32_t flags, struct qkd_key *keys);
int qkd_key_get(struct qkd_sock *s, uint32_t index, uint64_t id, uint32_t len,
		struct qkd_key *key);
int qkd_key_discard(struct qkd_sock *s, uint32_t index, uint64_t id, uint32_t len);

/*
 * Push ends (QKD_CMD_PUSH_ADD / _DEL / BLOCK_PUSH).  qkd_push_add() fills
 * @out with the new end (its index in out->index); @capacity 0: default.
 */
int qkd_push_add(struct qkd_sock *s, uint32_t link_id, uint8_t role, uint32_t block_size,
		 uint32_t capacity, struct qkd_link *out);
int qkd_push_del(struct qkd_sock *s, uint32_t index);
int qkd_block_push(struct qkd_sock *s, uint32_t index, uint64_t block_id, const void *bytes,
		   uint32_t len);

/* Waits up to @timeout_ms for a notification; 0 ok, -ETIMEDOUT, -errno. */
int qkd_event_wait(struct qkd_sock *s, struct qkd_event *ev, int timeout_ms);

/* Parses QKD_A_* link attributes of a message into @out. */
void qkd_parse_link(const struct nlmsghdr *nlh, struct qkd_link *out);

/* Appends @len key bytes in hex to $QKD_KEY_LOG (for the leak scan). */
void qkd_record_key(const uint8_t *key, size_t len);

#endif /* QKD_NL_H */
