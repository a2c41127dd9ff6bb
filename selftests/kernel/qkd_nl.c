// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel selftests' and the benchmark's view of the "qkd" generic
 * netlink family: link and key commands decoded into plain structs, on top
 * of the request plumbing in tools/lib/qkd_genl.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>

#include "qkd_nl.h"

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
	case QKD_A_LINK_TYPE: l->type = mnl_attr_get_u8(a); break;
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

int qkd_push_add(struct qkd_sock *s, uint32_t link_id, uint8_t role, uint32_t block_size,
		 uint32_t capacity, struct qkd_link *out)
{
	char buf[256];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_PUSH_ADD, 0);

	mnl_attr_put_u32(nlh, QKD_A_LINK_ID, link_id);
	mnl_attr_put_u8(nlh, QKD_A_LINK_ROLE, role);
	mnl_attr_put_u32(nlh, QKD_A_LINK_BLOCK_SIZE, block_size);
	if (capacity)
		mnl_attr_put_u32(nlh, QKD_A_POOL_CAPACITY, capacity);
	memset(out, 0, sizeof(*out));
	return qkd_request(s, nlh, link_one_cb, out);
}

int qkd_push_del(struct qkd_sock *s, uint32_t index)
{
	char buf[256];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_PUSH_DEL, 0);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	return qkd_request(s, nlh, NULL, NULL);
}

int qkd_block_push(struct qkd_sock *s, uint32_t index, uint64_t block_id, const void *bytes,
		   uint32_t len)
{
	static char buf[512 + QKD_BLOCK_SIZE_MAX];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_BLOCK_PUSH, 0);
	int err;

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u64(nlh, QKD_A_BLOCK_ID, block_id);
	mnl_attr_put(nlh, QKD_A_KEY_MATERIAL, len, bytes);
	err = qkd_request(s, nlh, NULL, NULL);
	memset(buf, 0, nlh->nlmsg_len);
	return err;
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
