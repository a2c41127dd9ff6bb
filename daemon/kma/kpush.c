// SPDX-License-Identifier: GPL-2.0
/*
 * kernel_push: confirmed blocks into a qkd.ko push end (kpush.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <openssl/crypto.h>

#include "kma/kpush.h"
#include "kma/keysrc.h"
#include "kma/take.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/names.h"
#include "core/nl_request.h"

/* Answers are a link message or an ack; a request is one block at most. */
#define KP_RX_BUF	65536
/* A request: one block and a few attributes. */
#define KP_TX_EXTRA	512
#define KP_LOG_MS	10000	/* at most one failure message per link */

struct kpush {
	struct nl_io io;		/* io.rx: KP_RX_BUF */
	uint8_t *tx;			/* tx_len, secure heap */
	size_t tx_len;
	uint16_t family;
	uint32_t seq;
	uint32_t index;			/* 0: to be created */
	uint32_t link_id, block_size;
	uint8_t role;
	char link[KM_NAME_MAX];
	char peer[KM_NAME_MAX];
	uint64_t last_log_ms;
};

static struct nlmsghdr *msg_start(struct kpush *kp, uint8_t cmd,
				  uint16_t flags)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	memset(kp->tx, 0, 256);
	nlh = mnl_nlmsg_put_header(kp->tx);
	nlh->nlmsg_type = kp->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++kp->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = QKD_GENL_VERSION;
	return nlh;
}

static int parse_family_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct keysrc_kernel_family *fam = arg;

	return keysrc_kernel_parse_family(nlh, fam);
}

static int parse_link_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct keysrc_kernel_link *l = arg;

	return keysrc_kernel_parse_link(nlh, l);
}

/* A push end of ours a previous run left behind: its index, or 0. */
struct stale {
	uint32_t link_id, index;
	uint8_t role;
};

static int find_stale_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct keysrc_kernel_link l;
	struct stale *st = arg;

	if (keysrc_kernel_parse_link(nlh, &l))
		return -EINVAL;
	if (l.type == QKD_LINK_TYPE_PUSH && l.id == st->link_id &&
	    l.role == st->role)
		st->index = l.index;
	return 0;
}

static int push_del(struct kpush *kp, uint32_t index)
{
	struct nlmsghdr *nlh = msg_start(kp, QKD_CMD_PUSH_DEL, 0);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	return nl_request(&kp->io, nlh, NULL, NULL);
}

static int push_add(struct kpush *kp)
{
	struct keysrc_kernel_link l = { 0 };
	struct stale st = { .link_id = kp->link_id, .role = kp->role };
	struct nlmsghdr *nlh;
	int rc;

	nlh = msg_start(kp, QKD_CMD_LINK_GET, NLM_F_DUMP);
	rc = nl_request(&kp->io, nlh, find_stale_cb, &st);
	if (!rc && st.index) {
		log_info("link %s: removing the kernel push end qkd%u left by an earlier run",
			 kp->link, st.index);
		rc = push_del(kp, st.index);
	}
	if (rc)
		return rc;
	nlh = msg_start(kp, QKD_CMD_PUSH_ADD, 0);
	mnl_attr_put_u32(nlh, QKD_A_LINK_ID, kp->link_id);
	mnl_attr_put_u8(nlh, QKD_A_LINK_ROLE, kp->role);
	mnl_attr_put_u32(nlh, QKD_A_LINK_BLOCK_SIZE, kp->block_size);
	mnl_attr_put_strz(nlh, QKD_A_LINK_PEER, kp->peer);
	rc = nl_request(&kp->io, nlh, parse_link_cb, &l);
	if (rc)
		return rc;
	if (!l.index)
		return -EPROTO;
	kp->index = l.index;
	log_info("link %s: kernel push end qkd%u (link ID %u, %s, %u-byte blocks)",
		 kp->link, kp->index, kp->link_id,
		 kp->role == QKD_ROLE_RX ? "rx" : "tx", kp->block_size);
	return 0;
}

struct kpush *kpush_new(const struct kpush_cfg *cfg, char *err, size_t errlen)
{
	struct keysrc_kernel_family fam = { 0 };
	struct kpush *kp = calloc(1, sizeof(*kp));
	struct nlmsghdr *nlh;
	int rc;

	if (cfg->block_size < 16 || cfg->block_size > QKD_PUSH_BLOCK_SIZE_MAX) {
		snprintf(err, errlen, "block size %u not in 16..%u for a kernel push end",
			 cfg->block_size, QKD_PUSH_BLOCK_SIZE_MAX);
		free(kp);
		return NULL;
	}
	if (!kp) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(kp->link, sizeof(kp->link), "%s", cfg->link);
	snprintf(kp->peer, sizeof(kp->peer), "%s", cfg->peer);
	kp->link_id = cfg->link_id;
	kp->role = cfg->role;
	kp->block_size = cfg->block_size;
	kp->io.rx = malloc(KP_RX_BUF);
	kp->io.rx_len = KP_RX_BUF;
	kp->tx_len = cfg->block_size + KP_TX_EXTRA;
	kp->tx = OPENSSL_secure_zalloc(kp->tx_len);
	kp->io.sock = nl_socket_open(NETLINK_GENERIC, 5);
	if (!kp->io.rx || !kp->tx || !kp->io.sock) {
		snprintf(err, errlen, "kernel push: %s",
			 kp->io.sock ? "out of memory" : strerror(errno));
		kpush_free(kp);
		return NULL;
	}
	nlh = (struct nlmsghdr *)kp->tx;
	keysrc_kernel_build_getfamily(kp->tx, kp->tx_len, ++kp->seq);
	rc = nl_request(&kp->io, nlh, parse_family_cb, &fam);
	if (rc || !fam.id) {
		snprintf(err, errlen,
			 "generic netlink family %s not found (is qkd.ko loaded?)",
			 QKD_GENL_NAME);
		kpush_free(kp);
		return NULL;
	}
	kp->family = fam.id;
	rc = push_add(kp);
	if (rc) {
		snprintf(err, errlen, "creating the kernel push end: %s%s%s",
			 strerror(-rc), kp->io.extack[0] ? ": " : "",
			 kp->io.extack);
		kpush_free(kp);
		return NULL;
	}
	return kp;
}

void kpush_free(struct kpush *kp)
{
	if (!kp)
		return;
	if (kp->io.sock && kp->index && push_del(kp, kp->index))
		log_warn("link %s: removing kernel push end qkd%u: %s",
			 kp->link, kp->index, kp->io.extack);
	if (kp->io.sock)
		mnl_socket_close(kp->io.sock);
	if (kp->tx)
		OPENSSL_secure_clear_free(kp->tx, kp->tx_len);
	free(kp->io.rx);
	free(kp);
}

int kpush_block(struct kpush *kp, uint64_t block_id, const uint8_t *bytes,
		uint32_t len, uint64_t gen_time_ns)
{
	struct nlmsghdr *nlh;
	int rc = 0;

	if (!kp->index)
		rc = push_add(kp);
	if (!rc) {
		nlh = msg_start(kp, QKD_CMD_BLOCK_PUSH, 0);
		mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, kp->index);
		mnl_attr_put_u64(nlh, QKD_A_BLOCK_ID, block_id);
		if (gen_time_ns)
			mnl_attr_put_u64(nlh, QKD_A_KEY_GEN_TIME, gen_time_ns);
		mnl_attr_put(nlh, QKD_A_KEY_MATERIAL, len, bytes);
		rc = nl_request(&kp->io, nlh, NULL, NULL);
		OPENSSL_cleanse(kp->tx, nlh->nlmsg_len);
		if (rc == -ENODEV)
			kp->index = 0;	/* gone: made again next time */
	}
	/* Accounting: the block left the link's pool for the kernel's. */
	kma_take_report(&(struct kma_take){
		.kind = "kernel_push", .name = kp->link, .peer = kp->peer,
		.link = kp->link, .keys = 1, .bytes = len, .err = rc });
	if (rc && loop_now_ms() - kp->last_log_ms >= KP_LOG_MS) {
		kp->last_log_ms = loop_now_ms();
		log_warn("link %s: pushing block %llu into the kernel: %s%s%s",
			 kp->link, (unsigned long long)block_id, strerror(-rc),
			 kp->io.extack[0] ? ": " : "", kp->io.extack);
	}
	return rc;
}

uint32_t kpush_index(const struct kpush *kp)
{
	return kp->index;
}
