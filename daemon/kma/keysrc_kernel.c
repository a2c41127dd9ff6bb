// SPDX-License-Identifier: GPL-2.0
/*
 * Key source backed by qkd.ko: generic netlink family "qkd" (libmnl).
 *
 * Two sockets: a blocking one for request/reply (the kernel answers key
 * commands at once, so the loop is held only for a round trip) and a
 * non-blocking one subscribed to the "link" and "pool" multicast groups,
 * watched on the loop.  The receive buffer of the request socket holds key
 * material: it lives in the secure heap and is cleansed after every reply.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <openssl/crypto.h>

#include "kma/keysrc.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/nl_request.h"

/* Largest reply: QKD_KEY_ALLOC_MAX_BYTES of material plus per-key attrs. */
#define KQ_RX_BUF	(QKD_KEY_ALLOC_MAX_BYTES + QKD_KEY_COUNT_MAX * 64 + 4096)
#define KQ_TX_BUF	1024

struct keysrc_kernel {
	struct keysrc src;
	struct loop *loop;
	struct nl_io io;		/* requests; io.rx: KQ_RX_BUF, secure */
	struct mnl_socket *events;
	struct loop_watch *watch;
	uint32_t seq;
	struct keysrc_kernel_family fam;
	uint32_t link_id, index;
	uint8_t state, level;
	bool gone;			/* end left the namespace / removed */
	uint64_t avail;
	/* The card's figures from the last LINK_GET (refresh()). */
	uint32_t qber_ppm;
	uint64_t skr_bps;
	bool has_qber, has_skr;
	uint64_t refreshed_ms;		/* CLOCK_MONOTONIC; 0: never */
};

/* LINK_GET at most this often for views and scrapes. */
#define KQ_REFRESH_MS	1000

static struct keysrc_kernel *to_kq(struct keysrc *src)
{
	return (struct keysrc_kernel *)src;
}

/* ---- message building ---- */

static struct nlmsghdr *genl_start(void *buf, size_t len, uint16_t type,
				   uint16_t flags, uint32_t seq, uint8_t cmd,
				   uint8_t version)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	if (len < 256)
		return NULL;
	memset(buf, 0, 256);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

size_t keysrc_kernel_build_getfamily(void *buf, size_t len, uint32_t seq)
{
	struct nlmsghdr *nlh = genl_start(buf, len, GENL_ID_CTRL, NLM_F_ACK,
					  seq, CTRL_CMD_GETFAMILY, 1);

	if (!nlh)
		return 0;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, QKD_GENL_NAME);
	return nlh->nlmsg_len;
}

size_t keysrc_kernel_build_link_dump(void *buf, size_t len, uint16_t family,
				     uint32_t seq)
{
	struct nlmsghdr *nlh = genl_start(buf, len, family, NLM_F_DUMP, seq,
					  QKD_CMD_LINK_GET, QKD_GENL_VERSION);

	return nlh ? nlh->nlmsg_len : 0;
}

size_t keysrc_kernel_build_link_get(void *buf, size_t len, uint16_t family,
				    uint32_t seq, uint32_t index)
{
	struct nlmsghdr *nlh = genl_start(buf, len, family, NLM_F_ACK, seq,
					  QKD_CMD_LINK_GET, QKD_GENL_VERSION);

	if (!nlh)
		return 0;
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	return nlh->nlmsg_len;
}

size_t keysrc_kernel_build_link_set_state(void *buf, size_t len,
					  uint16_t family, uint32_t seq,
					  uint32_t index, uint8_t state)
{
	struct nlmsghdr *nlh = genl_start(buf, len, family, NLM_F_ACK, seq,
					  QKD_CMD_LINK_SET, QKD_GENL_VERSION);

	if (!nlh)
		return 0;
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u8(nlh, QKD_A_LINK_STATE, state);
	return nlh->nlmsg_len;
}

size_t keysrc_kernel_build_key_alloc(void *buf, size_t len, uint16_t family,
				     uint32_t seq, uint32_t index,
				     uint32_t key_len, uint32_t count)
{
	struct nlmsghdr *nlh = genl_start(buf, len, family, NLM_F_ACK, seq,
					  QKD_CMD_KEY_ALLOC, QKD_GENL_VERSION);

	if (!nlh)
		return 0;
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, key_len);
	mnl_attr_put_u32(nlh, QKD_A_KEY_COUNT, count);
	return nlh->nlmsg_len;
}

size_t keysrc_kernel_build_key_op(void *buf, size_t len, uint16_t family,
				  uint32_t seq, uint8_t cmd, uint32_t index,
				  uint64_t key_id, uint32_t key_len)
{
	struct nlmsghdr *nlh;

	if (cmd != QKD_CMD_KEY_GET && cmd != QKD_CMD_KEY_DISCARD)
		return 0;
	nlh = genl_start(buf, len, family, NLM_F_ACK, seq, cmd,
			 QKD_GENL_VERSION);
	if (!nlh)
		return 0;
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u64(nlh, QKD_A_KEY_ID, key_id);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, key_len);
	return nlh->nlmsg_len;
}

/* ---- parsing ---- */

static int check_len(const struct nlattr *a, size_t want)
{
	return mnl_attr_get_payload_len(a) == want ? 0 : -EINVAL;
}

static int family_grp_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t t = mnl_attr_get_type(a);

	if (t == CTRL_ATTR_MCAST_GRP_NAME || t == CTRL_ATTR_MCAST_GRP_ID)
		tb[t] = a;
	return MNL_CB_OK;
}

static int family_grps(const struct nlattr *nest,
		       struct keysrc_kernel_family *out)
{
	const struct nlattr *grp;

	mnl_attr_for_each_nested(grp, nest) {
		const struct nlattr *tb[CTRL_ATTR_MCAST_GRP_MAX + 1] = { 0 };
		const char *name;
		uint32_t id;

		if (mnl_attr_parse_nested(grp, family_grp_cb, tb) < 0 ||
		    !tb[CTRL_ATTR_MCAST_GRP_NAME] ||
		    !tb[CTRL_ATTR_MCAST_GRP_ID] ||
		    mnl_attr_validate(tb[CTRL_ATTR_MCAST_GRP_NAME],
				      MNL_TYPE_NUL_STRING) < 0 ||
		    check_len(tb[CTRL_ATTR_MCAST_GRP_ID], 4))
			return -EINVAL;
		name = mnl_attr_get_str(tb[CTRL_ATTR_MCAST_GRP_NAME]);
		id = mnl_attr_get_u32(tb[CTRL_ATTR_MCAST_GRP_ID]);
		if (!strcmp(name, QKD_MCGRP_LINK))
			out->grp_link = id;
		else if (!strcmp(name, QKD_MCGRP_POOL))
			out->grp_pool = id;
	}
	return 0;
}

int keysrc_kernel_parse_family(const struct nlmsghdr *nlh,
			       struct keysrc_kernel_family *out)
{
	const struct nlattr *a;
	bool have_id = false;

	memset(out, 0, sizeof(*out));
	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return -EINVAL;
	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		switch (mnl_attr_get_type(a)) {
		case CTRL_ATTR_FAMILY_ID:
			if (check_len(a, 2))
				return -EINVAL;
			out->id = mnl_attr_get_u16(a);
			have_id = true;
			break;
		case CTRL_ATTR_MCAST_GROUPS:
			if (family_grps(a, out))
				return -EINVAL;
			break;
		}
	}
	return have_id ? 0 : -EINVAL;
}

int keysrc_kernel_parse_link(const struct nlmsghdr *nlh,
			     struct keysrc_kernel_link *out)
{
	const struct nlattr *a;
	bool have_index = false;

	memset(out, 0, sizeof(*out));
	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return -EINVAL;
	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		switch (mnl_attr_get_type(a)) {
		case QKD_A_LINK_INDEX:
			if (check_len(a, 4))
				return -EINVAL;
			out->index = mnl_attr_get_u32(a);
			have_index = true;
			break;
		case QKD_A_LINK_ID:
			if (check_len(a, 4))
				return -EINVAL;
			out->id = mnl_attr_get_u32(a);
			break;
		case QKD_A_LINK_ROLE:
			if (check_len(a, 1))
				return -EINVAL;
			out->role = mnl_attr_get_u8(a);
			break;
		case QKD_A_LINK_STATE:
			if (check_len(a, 1))
				return -EINVAL;
			out->state = mnl_attr_get_u8(a);
			out->has_state = true;
			break;
		case QKD_A_LINK_BLOCK_SIZE:
			if (check_len(a, 4))
				return -EINVAL;
			out->block_size = mnl_attr_get_u32(a);
			break;
		case QKD_A_POOL_AVAIL:
			if (check_len(a, 8))
				return -EINVAL;
			out->avail = mnl_attr_get_u64(a);
			out->has_avail = true;
			break;
		case QKD_A_POOL_LEVEL:
			if (check_len(a, 1))
				return -EINVAL;
			out->level = mnl_attr_get_u8(a);
			out->has_level = true;
			break;
		case QKD_A_LINK_TYPE:
			if (check_len(a, 1))
				return -EINVAL;
			out->type = mnl_attr_get_u8(a);
			break;
		case QKD_A_LINK_QBER:
			if (check_len(a, 4))
				return -EINVAL;
			out->qber_ppm = mnl_attr_get_u32(a);
			out->has_qber = true;
			break;
		case QKD_A_LINK_SKR:
			if (check_len(a, 8))
				return -EINVAL;
			out->skr_bps = mnl_attr_get_u64(a);
			out->has_skr = true;
			break;
		}
	}
	return have_index ? 0 : -EINVAL;
}

static int parse_one_key(const struct nlattr *nest,
			 struct keysrc_kernel_keys *out)
{
	const struct nlattr *a, *material = NULL;
	struct keysrc_key k = { 0 };
	bool have_id = false;

	mnl_attr_for_each_nested(a, nest) {
		switch (mnl_attr_get_type(a)) {
		case QKD_A_KEY_ID:
			if (check_len(a, 8))
				return -EINVAL;
			k.id = mnl_attr_get_u64(a);
			have_id = true;
			break;
		case QKD_A_KEY_LEN:
			if (check_len(a, 4))
				return -EINVAL;
			k.len = mnl_attr_get_u32(a);
			break;
		case QKD_A_KEY_GEN_TIME:
			if (check_len(a, 8))
				return -EINVAL;
			k.gen_time_ns = mnl_attr_get_u64(a);
			break;
		case QKD_A_KEY_MATERIAL:
			material = a;
			break;
		}
	}
	if (!have_id || k.len != out->len || !material ||
	    mnl_attr_get_payload_len(material) != out->len ||
	    out->n >= out->max)
		return -EINVAL;
	memcpy(out->bytes + (size_t)out->n * out->len,
	       mnl_attr_get_payload(material), out->len);
	out->keys[out->n++] = k;
	return 0;
}

int keysrc_kernel_parse_keys(const struct nlmsghdr *nlh,
			     struct keysrc_kernel_keys *out)
{
	const struct nlattr *a;

	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return -EINVAL;
	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		if (mnl_attr_get_type(a) != QKD_A_KEY)
			continue;
		if (parse_one_key(a, out))
			return -EINVAL;
	}
	return 0;
}

/* ---- request / reply ---- */

static int request(struct keysrc_kernel *kq, void *msg, size_t len,
		   nl_parse_fn parse, void *arg)
{
	struct nlmsghdr *nlh = msg;

	if (!len || nlh->nlmsg_len != len)
		return -EINVAL;
	return nl_request(&kq->io, nlh, parse, arg);
}

static int parse_family_cb(const struct nlmsghdr *nlh, void *arg)
{
	return keysrc_kernel_parse_family(nlh, arg);
}

struct link_find {
	uint32_t link_id;
	int role;		/* -1: any end */
	bool found;
	struct keysrc_kernel_link link;
};

static int parse_link_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct link_find *lf = arg;
	struct keysrc_kernel_link l;

	if (keysrc_kernel_parse_link(nlh, &l))
		return -EINVAL;
	if (l.id == lf->link_id && !lf->found &&
	    (lf->role < 0 || l.role == lf->role)) {
		lf->link = l;
		lf->found = true;
	}
	return 0;
}

static int parse_keys_cb(const struct nlmsghdr *nlh, void *arg)
{
	return keysrc_kernel_parse_keys(nlh, arg);
}

static void set_err(struct keysrc_kernel *kq, int rc, char *err, size_t len)
{
	if (kq->io.extack[0])
		snprintf(err, len, "%s", kq->io.extack);
	else
		snprintf(err, len, "%s", strerror(-rc));
}

/* ---- ops ---- */

/* Key commands on an end that is gone would reach whatever reuses its index. */
static int check_not_gone(struct keysrc_kernel *kq, char *err, size_t errlen)
{
	if (!kq->gone)
		return 0;
	if (err)
		snprintf(err, errlen, "kernel link end removed or moved to another namespace");
	return -ENETDOWN;
}

static int kq_alloc(struct keysrc *src, uint32_t len, uint32_t count,
		    struct keysrc_key *keys, uint8_t *bytes,
		    char *err, size_t errlen)
{
	struct keysrc_kernel *kq = to_kq(src);
	struct keysrc_kernel_keys out = {
		.keys = keys, .bytes = bytes, .max = count, .len = len,
	};
	uint8_t msg[KQ_TX_BUF];
	size_t n;
	int rc = check_not_gone(kq, err, errlen);

	if (rc) {
		OPENSSL_cleanse(bytes, (size_t)count * len);
		return rc;
	}
	n = keysrc_kernel_build_key_alloc(msg, sizeof(msg), kq->fam.id,
					  ++kq->seq, kq->index, len, count);
	rc = request(kq, msg, n, parse_keys_cb, &out);
	if (rc == 0 && out.n != count)
		rc = -EBADMSG;
	if (rc) {
		OPENSSL_cleanse(bytes, (size_t)count * len);
		set_err(kq, rc, err, errlen);
		return rc;
	}
	src->allocated += (uint64_t)count * len;
	kq->avail = kq->avail > (uint64_t)count * len ?
		    kq->avail - (uint64_t)count * len : 0;
	return 0;
}

static int kq_get(struct keysrc *src, uint64_t key_id, uint32_t len,
		  uint8_t *out, uint64_t *gen_time_ns, char *err, size_t errlen)
{
	struct keysrc_kernel *kq = to_kq(src);
	struct keysrc_key k;
	struct keysrc_kernel_keys keys = {
		.keys = &k, .bytes = out, .max = 1, .len = len,
	};
	uint8_t msg[KQ_TX_BUF];
	size_t n;
	int rc = check_not_gone(kq, err, errlen);

	if (rc) {
		src->fetch_failures++;
		OPENSSL_cleanse(out, len);
		return rc;
	}
	n = keysrc_kernel_build_key_op(msg, sizeof(msg), kq->fam.id,
				       ++kq->seq, QKD_CMD_KEY_GET, kq->index,
				       key_id, len);
	rc = request(kq, msg, n, parse_keys_cb, &keys);
	if (rc == 0 && (keys.n != 1 || k.id != key_id))
		rc = -EBADMSG;
	if (rc) {
		src->fetch_failures++;
		OPENSSL_cleanse(out, len);
		set_err(kq, rc, err, errlen);
		return rc;
	}
	if (gen_time_ns)
		*gen_time_ns = k.gen_time_ns;
	src->fetched += len;
	return 0;
}

static int kq_discard(struct keysrc *src, uint64_t key_id, uint32_t len)
{
	struct keysrc_kernel *kq = to_kq(src);
	uint8_t msg[KQ_TX_BUF];
	size_t n;
	int rc = check_not_gone(kq, NULL, 0);

	if (rc)
		return rc;
	n = keysrc_kernel_build_key_op(msg, sizeof(msg), kq->fam.id,
				       ++kq->seq, QKD_CMD_KEY_DISCARD,
				       kq->index, key_id, len);
	rc = request(kq, msg, n, NULL, NULL);
	if (rc == 0)
		src->discarded += len;
	return rc;
}

static uint64_t kq_avail(struct keysrc *src)
{
	return to_kq(src)->avail;
}

static bool kq_is_up(struct keysrc *src)
{
	return to_kq(src)->state == QKD_LINK_UP;
}

static void kq_free(struct keysrc *src)
{
	struct keysrc_kernel *kq = to_kq(src);

	if (kq->watch)
		loop_watch_del(kq->watch);
	if (kq->events)
		mnl_socket_close(kq->events);
	if (kq->io.sock)
		mnl_socket_close(kq->io.sock);
	if (kq->io.rx)
		OPENSSL_secure_clear_free(kq->io.rx, KQ_RX_BUF);
	free(kq);
}

static void link_changed(struct keysrc_kernel *kq,
			 const struct keysrc_kernel_link *l);

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct link_get {
	uint32_t index;
	bool found;
	struct keysrc_kernel_link link;
};

static int parse_link_get_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct link_get *lg = arg;
	struct keysrc_kernel_link l;

	if (keysrc_kernel_parse_link(nlh, &l))
		return -EINVAL;
	if (l.index == lg->index) {
		lg->link = l;
		lg->found = true;
	}
	return 0;
}

/*
 * The card's state, QBER and SKR as LINK_GET reports them now: state
 * changes come as LINK_NTF too, but QBER and SKR only here.
 */
static int refresh(struct keysrc_kernel *kq)
{
	struct link_get lg = { .index = kq->index };
	uint8_t msg[KQ_TX_BUF];
	size_t n;
	int rc = check_not_gone(kq, NULL, 0);

	if (rc)
		return rc;
	n = keysrc_kernel_build_link_get(msg, sizeof(msg), kq->fam.id,
					 ++kq->seq, kq->index);
	rc = request(kq, msg, n, parse_link_get_cb, &lg);
	if (rc == 0 && (!lg.found || lg.link.id != kq->link_id))
		rc = -ENODEV;
	if (rc)
		return rc;
	kq->refreshed_ms = mono_ms();
	kq->has_qber = lg.link.has_qber;
	kq->qber_ppm = lg.link.qber_ppm;
	kq->has_skr = lg.link.has_skr;
	kq->skr_bps = lg.link.skr_bps;
	if (lg.link.has_avail)
		kq->avail = lg.link.avail;
	if (lg.link.has_state)
		link_changed(kq, &lg.link);
	return 0;
}

static int kq_set_generation(struct keysrc *src, bool run, char *err,
			     size_t errlen)
{
	struct keysrc_kernel *kq = to_kq(src);
	uint8_t msg[KQ_TX_BUF];
	size_t n;
	int rc = check_not_gone(kq, err, errlen);

	if (rc)
		return rc;
	n = keysrc_kernel_build_link_set_state(msg, sizeof(msg), kq->fam.id,
					       ++kq->seq, kq->index,
					       run ? QKD_LINK_UP :
						     QKD_LINK_DOWN);
	rc = request(kq, msg, n, NULL, NULL);
	if (rc) {
		set_err(kq, rc, err, errlen);
		return rc;
	}
	/* Read back what the card says now, not what was asked. */
	rc = refresh(kq);
	if (rc)
		snprintf(err, errlen, "LINK_GET after LINK_SET: %s",
			 strerror(-rc));
	return rc;
}

static void kq_generation(struct keysrc *src, struct keysrc_gen *out)
{
	struct keysrc_kernel *kq = to_kq(src);

	if (!kq->gone && mono_ms() - kq->refreshed_ms >= KQ_REFRESH_MS &&
	    refresh(kq))
		kq->refreshed_ms = mono_ms();	/* not again at once */
	out->control = !kq->gone;
	/* UP, NO_CARRIER and ALARM are all "asked to run". */
	out->running = kq->state != QKD_LINK_DOWN;
	out->has_card = true;
	out->card_state = kq->state;
	out->has_qber = kq->has_qber && !kq->gone;
	out->qber_ppm = kq->qber_ppm;
	out->has_skr = kq->has_skr && !kq->gone;
	out->skr_bps = kq->skr_bps;
}

static const struct keysrc_ops kq_ops = {
	.alloc = kq_alloc,
	.get = kq_get,
	.discard = kq_discard,
	.avail = kq_avail,
	.is_up = kq_is_up,
	.free = kq_free,
	.set_generation = kq_set_generation,
	.generation = kq_generation,
};

/* ---- events ---- */

static void emit(struct keysrc_kernel *kq, enum keysrc_event_type type)
{
	struct keysrc_event ev = {
		.type = type,
		.up = kq->state == QKD_LINK_UP,
		.level = kq->level,
		.avail = kq->avail,
	};

	if (kq->src.on_event)
		kq->src.on_event(kq->src.event_arg, &ev);
}

/*
 * A LINK_NTF without QKD_A_LINK_STATE says the end left this namespace or
 * was removed (driver or module unloaded): to us it is down for good, and
 * every key command on it must stop: qkd.ko reuses free indexes, so a
 * later end with the same index may be another link, and a KEY_ALLOC sent
 * there would hand out keys the peer cannot match.  A restart of the
 * daemon finds the link again by its ID.
 */
static void link_changed(struct keysrc_kernel *kq,
			 const struct keysrc_kernel_link *l)
{
	uint8_t state = l->has_state ? l->state : QKD_LINK_DOWN;

	if (!l->has_state && !kq->gone) {
		kq->gone = true;
		log_warn("kernel link %u: end %u left this network namespace or was removed",
			 kq->link_id, kq->index);
	}
	if (kq->gone) {
		state = QKD_LINK_DOWN;
		kq->avail = 0;
	}
	if (state == kq->state)
		return;
	kq->state = state;
	log_notice("kernel link %u: %s", kq->link_id,
		   state == QKD_LINK_UP ? "up" : "not up");
	emit(kq, KEYSRC_EV_LINK);
}

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct keysrc_kernel *kq = data;
	const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);
	struct keysrc_kernel_link l;

	if (nlh->nlmsg_type != kq->fam.id ||
	    keysrc_kernel_parse_link(nlh, &l) || l.index != kq->index)
		return MNL_CB_OK;
	if (l.has_avail && !kq->gone)
		kq->avail = l.avail;
	switch (g->cmd) {
	case QKD_CMD_LINK_NTF:
		link_changed(kq, &l);
		break;
	case QKD_CMD_POOL_NTF:
		if (l.has_level) {
			kq->level = l.level;
			emit(kq, KEYSRC_EV_LEVEL);
		}
		break;
	}
	return MNL_CB_OK;
}

static void on_events(void *arg, uint32_t revents)
{
	struct keysrc_kernel *kq = arg;
	uint8_t buf[8192];
	ssize_t n;

	for (;;) {
		n = mnl_socket_recvfrom(kq->events, buf, sizeof(buf));
		if (n <= 0)
			break;
		mnl_cb_run(buf, (size_t)n, 0, 0, event_cb, kq);
	}
	if (n < 0 && errno == ENOBUFS)
		log_warn("kernel link %u: events lost (ENOBUFS)", kq->link_id);
}

/* ---- setup ---- */

static int open_sockets(struct keysrc_kernel *kq, char *err, size_t errlen)
{
	kq->io.sock = nl_socket_open(NETLINK_GENERIC, 0);
	kq->events = mnl_socket_open2(NETLINK_GENERIC,
				      SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!kq->io.sock || !kq->events ||
	    mnl_socket_bind(kq->events, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "generic netlink socket: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int resolve(struct keysrc_kernel *kq, char *err, size_t errlen)
{
	uint8_t msg[KQ_TX_BUF];
	size_t n = keysrc_kernel_build_getfamily(msg, sizeof(msg), ++kq->seq);
	int rc = request(kq, msg, n, parse_family_cb, &kq->fam);

	if (rc || !kq->fam.id) {
		snprintf(err, errlen,
			 "generic netlink family %s not found (is qkd.ko loaded?)",
			 QKD_GENL_NAME);
		return -1;
	}
	if (!kq->fam.grp_link || !kq->fam.grp_pool) {
		snprintf(err, errlen, "qkd multicast groups missing");
		return -1;
	}
	return 0;
}

static int find_link(struct keysrc_kernel *kq, int role, char *err,
		     size_t errlen)
{
	struct link_find lf = { .link_id = kq->link_id, .role = role };
	uint8_t msg[KQ_TX_BUF];
	size_t n = keysrc_kernel_build_link_dump(msg, sizeof(msg), kq->fam.id,
						 ++kq->seq);
	int rc = request(kq, msg, n, parse_link_cb, &lf);

	if (rc) {
		snprintf(err, errlen, "LINK_GET: %s", strerror(-rc));
		return -1;
	}
	if (!lf.found || !lf.link.block_size) {
		snprintf(err, errlen, "no qkd link with ID %u here",
			 kq->link_id);
		return -1;
	}
	kq->index = lf.link.index;
	kq->src.role = lf.link.role == QKD_ROLE_RX ? QKD_ROLE_RX : QKD_ROLE_TX;
	kq->src.block_size = lf.link.block_size;
	kq->state = lf.link.state;
	kq->level = lf.link.level;
	kq->avail = lf.link.avail;
	kq->has_qber = lf.link.has_qber;
	kq->qber_ppm = lf.link.qber_ppm;
	kq->has_skr = lf.link.has_skr;
	kq->skr_bps = lf.link.skr_bps;
	kq->refreshed_ms = mono_ms();
	return 0;
}

static int subscribe(struct keysrc_kernel *kq, char *err, size_t errlen)
{
	uint32_t groups[2] = { kq->fam.grp_link, kq->fam.grp_pool };

	for (int i = 0; i < 2; i++) {
		if (mnl_socket_setsockopt(kq->events, NETLINK_ADD_MEMBERSHIP,
					  &groups[i], sizeof(groups[i])) < 0) {
			snprintf(err, errlen, "join multicast group: %s",
				 strerror(errno));
			return -1;
		}
	}
	if (!kq->loop)
		return 0;
	kq->watch = loop_watch_add(kq->loop, mnl_socket_get_fd(kq->events),
				   POLLIN, on_events, kq);
	if (!kq->watch) {
		snprintf(err, errlen, "loop: %s", strerror(errno));
		return -1;
	}
	return 0;
}

struct keysrc *keysrc_kernel_new(struct loop *loop, uint32_t link_id,
				 char *err, size_t errlen)
{
	return keysrc_kernel_new_end(loop, link_id, -1, err, errlen);
}

struct keysrc *keysrc_kernel_new_end(struct loop *loop, uint32_t link_id,
				     int role, char *err, size_t errlen)
{
	struct keysrc_kernel *kq = calloc(1, sizeof(*kq));

	if (!kq) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	kq->src.ops = &kq_ops;
	kq->src.kind = "kernel";
	kq->loop = loop;
	kq->link_id = link_id;
	kq->seq = (uint32_t)time(NULL);
	kq->io.rx = OPENSSL_secure_malloc(KQ_RX_BUF);
	kq->io.rx_len = KQ_RX_BUF;
	if (!kq->io.rx) {
		snprintf(err, errlen, "out of secure memory");
		goto fail;
	}
	/* Subscribe before the dump, so no change between them is lost. */
	if (open_sockets(kq, err, errlen) || resolve(kq, err, errlen) ||
	    subscribe(kq, err, errlen) || find_link(kq, role, err, errlen))
		goto fail;
	return &kq->src;
fail:
	kq_free(&kq->src);
	return NULL;
}
