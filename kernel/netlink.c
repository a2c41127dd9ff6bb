// SPDX-License-Identifier: GPL-2.0
/*
 * The "qkd" generic netlink family; uapi/linux/qkd.h documents it.
 *
 * Every op has its own strict policy (resv_start_op = 0), so unknown or
 * mistyped attributes are rejected by the core with an extack message;
 * everything the policies cannot express is checked here, before anything
 * is changed, again with an extack message.
 */
#include <linux/capability.h>
#include <linux/module.h>
#include <linux/skbuff.h>
#include <linux/netlink.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#include "device.h"
#include "keys.h"
#include "netlink.h"
#include "push.h"
#include "xfrm_sa.h"

static struct genl_family qkd_family;

enum qkd_mcgrp_id {
	QKD_MCGRP_LINK_ID,
	QKD_MCGRP_POOL_ID,
};

/*
 * Pool figures tell how much key a link has: operators only.  genl_bind()
 * enforces GENL_MCAST_CAP_NET_ADMIN (CAP_NET_ADMIN over the socket's netns)
 * from its stable backport on (6.1.192 has it).  Earlier 6.1 kernels have
 * neither the flag nor a family bind hook to check it in, so there the
 * pool group stays silent: nothing is ever sent on it (QKD_POOL_GROUP_OPEN).
 */
#ifdef GENL_MCAST_CAP_NET_ADMIN
#define QKD_POOL_GROUP_FLAGS	GENL_MCAST_CAP_NET_ADMIN
#define QKD_POOL_GROUP_OPEN	false
#else
#define QKD_POOL_GROUP_FLAGS	0
#define QKD_POOL_GROUP_OPEN	true
#endif

static const struct genl_multicast_group qkd_mcgrps[] = {
	[QKD_MCGRP_LINK_ID] = { .name = QKD_MCGRP_LINK },
	[QKD_MCGRP_POOL_ID] = {
		.name = QKD_MCGRP_POOL,
		.flags = QKD_POOL_GROUP_FLAGS,
	},
};

/* ---- policies ------------------------------------------------------- */

/* Not const: 6.1 declares nla_policy.range without it. */
static struct netlink_range_validation qber_max_range = {
	.min = 1,
	.max = QKD_QBER_PPM_MAX,
};

static struct netlink_range_validation key_len_range = {
	.min = 1,
	.max = QKD_BLOCK_SIZE_MAX,
};

static const struct nla_policy link_get_policy[QKD_A_LINK_INDEX + 1] = {
	[QKD_A_LINK_INDEX] = { .type = NLA_U32 },
};

static const struct nla_policy link_set_policy[QKD_A_NETNS_FD + 1] = {
	[QKD_A_LINK_INDEX] = { .type = NLA_U32 },
	[QKD_A_LINK_STATE] = NLA_POLICY_MAX(NLA_U8, QKD_LINK_UP),
	[QKD_A_LINK_QBER_MAX] = NLA_POLICY_FULL_RANGE(NLA_U32,
						      &qber_max_range),
	[QKD_A_POOL_WARN] = { .type = NLA_U64 },
	[QKD_A_POOL_READY] = { .type = NLA_U64 },
	[QKD_A_NETNS_FD] = { .type = NLA_U32 },
};

static const struct nla_policy key_alloc_policy[QKD_A_KEY_FLAGS + 1] = {
	[QKD_A_LINK_INDEX] = { .type = NLA_U32 },
	[QKD_A_KEY_LEN] = NLA_POLICY_FULL_RANGE(NLA_U32, &key_len_range),
	[QKD_A_KEY_COUNT] = NLA_POLICY_RANGE(NLA_U32, 1, QKD_KEY_COUNT_MAX),
	[QKD_A_KEY_FLAGS] = NLA_POLICY_MASK(NLA_U32, QKD_KEY_F_ALL),
};

/* KEY_GET and KEY_DISCARD name one key. */
static const struct nla_policy key_ref_policy[QKD_A_KEY_LEN + 1] = {
	[QKD_A_LINK_INDEX] = { .type = NLA_U32 },
	[QKD_A_KEY_ID] = { .type = NLA_U64 },
	[QKD_A_KEY_LEN] = NLA_POLICY_FULL_RANGE(NLA_U32, &key_len_range),
};

static struct netlink_range_validation push_block_size_range = {
	.min = 16,
	.max = QKD_PUSH_BLOCK_SIZE_MAX,
};

static struct netlink_range_validation push_capacity_range = {
	.min = 8,
	.max = QKD_PUSH_POOL_BLOCKS_MAX,
};

static struct netlink_range_validation block_id_range = {
	.min = 0,
	.max = QKD_BLOCK_ID_MAX,
};

static const struct nla_policy push_add_policy[QKD_A_POOL_CAPACITY + 1] = {
	[QKD_A_LINK_ID] = { .type = NLA_U32 },
	[QKD_A_LINK_ROLE] = NLA_POLICY_MAX(NLA_U8, QKD_ROLE_RX),
	[QKD_A_LINK_PEER] = { .type = NLA_STRING,
			      .len = sizeof_field(struct qkd_dev_info, peer) - 1 },
	[QKD_A_LINK_BLOCK_SIZE] = NLA_POLICY_FULL_RANGE(NLA_U32,
							&push_block_size_range),
	[QKD_A_POOL_CAPACITY] = NLA_POLICY_FULL_RANGE(NLA_U32,
						      &push_capacity_range),
};

static const struct nla_policy push_del_policy[QKD_A_LINK_INDEX + 1] = {
	[QKD_A_LINK_INDEX] = { .type = NLA_U32 },
};

/*
 * BLOCK_PUSH carries key bytes, and a request the core rejects never
 * reaches qkd.ko to be wiped.  So the op's own policy takes any attribute
 * of the family as opaque bytes (only a structurally broken message fails
 * there), and block_push() checks the request against the real policy,
 * below, and the caller's capability, where the request can be wiped on
 * every outcome.
 */
static const struct nla_policy block_push_any_policy[QKD_A_MAX + 1] = {
	[1 ... QKD_A_MAX] = { .type = NLA_BINARY },
};

static const struct nla_policy block_push_policy[QKD_A_MAX + 1] = {
	[QKD_A_LINK_INDEX] = { .type = NLA_U32 },
	[QKD_A_KEY_GEN_TIME] = { .type = NLA_U64 },
	/* At most the end's block size: checked by qkd_push_block(). */
	[QKD_A_KEY_MATERIAL] = { .type = NLA_BINARY },
	[QKD_A_BLOCK_ID] = NLA_POLICY_FULL_RANGE(NLA_U64, &block_id_range),
};

/* ---- messages ------------------------------------------------------- */

static int put_stats(struct sk_buff *skb, struct qkd_dev *qdev)
{
	struct nlattr *nest = nla_nest_start(skb, QKD_A_STATS);
	int i;

	if (!nest)
		return -EMSGSIZE;
	for (i = QKD_STAT_BLOCKS_RECEIVED; i <= QKD_STAT_MAX; i++)
		if (i != QKD_STAT_PAD &&
		    nla_put_u64_64bit(skb, i, qkd_stat(qdev, i), QKD_STAT_PAD))
			goto cancel;
	nla_nest_end(skb, nest);
	return 0;
cancel:
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}

static int put_link(struct sk_buff *skb, struct qkd_dev *qdev)
{
	struct qkd_pool_figures fig;

	qkd_pool_figures(&qdev->pool, &fig);
	if (nla_put_u32(skb, QKD_A_LINK_INDEX, qdev->index) ||
	    nla_put_u32(skb, QKD_A_LINK_ID, qdev->info.link_id) ||
	    nla_put_string(skb, QKD_A_LINK_NAME, qdev->name) ||
	    nla_put_u8(skb, QKD_A_LINK_TYPE, qdev->push ? QKD_LINK_TYPE_PUSH :
							  QKD_LINK_TYPE_CARD) ||
	    nla_put_u8(skb, QKD_A_LINK_ROLE, qdev->info.role) ||
	    nla_put_string(skb, QKD_A_LINK_PEER, qdev->info.peer) ||
	    nla_put_u8(skb, QKD_A_LINK_STATE, READ_ONCE(qdev->state)) ||
	    nla_put_u32(skb, QKD_A_LINK_QBER, READ_ONCE(qdev->qber_ppm)) ||
	    nla_put_u32(skb, QKD_A_LINK_QBER_MAX, READ_ONCE(qdev->qber_max)) ||
	    nla_put_u64_64bit(skb, QKD_A_LINK_SKR, READ_ONCE(qdev->skr_bps),
			      QKD_A_PAD) ||
	    nla_put_u32(skb, QKD_A_LINK_BLOCK_SIZE, qdev->info.block_size) ||
	    nla_put_u32(skb, QKD_A_POOL_CAPACITY, fig.capacity) ||
	    nla_put_u32(skb, QKD_A_POOL_BLOCKS, fig.blocks) ||
	    nla_put_u64_64bit(skb, QKD_A_POOL_AVAIL, fig.avail, QKD_A_PAD) ||
	    nla_put_u8(skb, QKD_A_POOL_LEVEL, fig.level) ||
	    nla_put_u64_64bit(skb, QKD_A_POOL_WARN, fig.warn, QKD_A_PAD) ||
	    nla_put_u64_64bit(skb, QKD_A_POOL_READY, fig.ready, QKD_A_PAD))
		return -EMSGSIZE;
	return put_stats(skb, qdev);
}

static int fill_link(struct sk_buff *skb, struct qkd_dev *qdev, u32 portid,
		     u32 seq, int flags)
{
	void *hdr = genlmsg_put(skb, portid, seq, &qkd_family, flags,
				QKD_CMD_LINK_GET);

	if (!hdr)
		return -EMSGSIZE;
	if (put_link(skb, qdev)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

/*
 * Report an error found by the pool or key code: @msg is a static string from the
 * pool or key code (never key bytes); NL_SET_ERR_MSG wants a literal.
 */
static void set_err(struct netlink_ext_ack *extack,
		    const struct nlattr *attr, const char *msg)
{
	if (!extack)
		return;
	extack->_msg = msg;
	extack->bad_attr = attr;
}

static const char *const required_msg[] = {
	[QKD_A_LINK_INDEX] = "missing attribute QKD_A_LINK_INDEX",
	[QKD_A_KEY_ID] = "missing attribute QKD_A_KEY_ID",
	[QKD_A_KEY_LEN] = "missing attribute QKD_A_KEY_LEN",
	[QKD_A_LINK_ID] = "missing attribute QKD_A_LINK_ID",
	[QKD_A_LINK_ROLE] = "missing attribute QKD_A_LINK_ROLE",
	[QKD_A_LINK_BLOCK_SIZE] = "missing attribute QKD_A_LINK_BLOCK_SIZE",
	[QKD_A_KEY_MATERIAL] = "missing attribute QKD_A_KEY_MATERIAL",
	[QKD_A_BLOCK_ID] = "missing attribute QKD_A_BLOCK_ID",
};

/* True if a required attribute is absent; extack names it. */
static bool attr_missing(struct genl_info *info, int attr)
{
	if (!GENL_REQ_ATTR_CHECK(info, attr))
		return false;
	if (info->extack)
		info->extack->_msg = required_msg[attr];
	return true;
}

/*
 * Look up the link end a request names; extack says why not.  ERR_PTR:
 * -EINVAL without QKD_A_LINK_INDEX, -ENODEV for an index that names no
 * end in the caller's namespace (as SA_ADD and the key type).
 */
static struct qkd_dev *request_dev(struct genl_info *info)
{
	struct qkd_dev *qdev;

	if (attr_missing(info, QKD_A_LINK_INDEX))
		return ERR_PTR(-EINVAL);
	qdev = qkd_dev_get(genl_info_net(info),
			   nla_get_u32(info->attrs[QKD_A_LINK_INDEX]));
	if (!qdev) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[QKD_A_LINK_INDEX],
				    "no such link in this network namespace");
		return ERR_PTR(-ENODEV);
	}
	return qdev;
}

/* A key no longer than the link's blocks: the policy only knows the max. */
static bool key_len_ok(struct qkd_dev *qdev, struct genl_info *info)
{
	struct nlattr *attr = info->attrs[QKD_A_KEY_LEN];

	if (nla_get_u32(attr) <= qdev->info.block_size)
		return true;
	NL_SET_ERR_MSG_ATTR(info->extack, attr,
			    "key longer than the link's block size");
	return false;
}

/*
 * KEY_GET and KEY_DISCARD: the link end a well-formed key reference names;
 * ERR_PTR as request_dev().
 */
static struct qkd_dev *key_ref_dev(struct genl_info *info)
{
	struct qkd_dev *qdev;

	if (attr_missing(info, QKD_A_KEY_ID) ||
	    attr_missing(info, QKD_A_KEY_LEN))
		return ERR_PTR(-EINVAL);
	qdev = request_dev(info);
	if (!IS_ERR(qdev) && !key_len_ok(qdev, info)) {
		qkd_dev_put(qdev);
		return ERR_PTR(-EINVAL);
	}
	return qdev;
}

/* ---- LINK_GET ------------------------------------------------------- */

static int link_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct qkd_dev *qdev = request_dev(info);
	struct sk_buff *msg;
	int err;

	if (IS_ERR(qdev))
		return PTR_ERR(qdev);
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		err = -ENOMEM;
		goto out;
	}
	err = fill_link(msg, qdev, info->snd_portid, info->snd_seq, 0);
	if (err) {
		nlmsg_free(msg);
		goto out;
	}
	err = genlmsg_reply(msg, info);
out:
	qkd_dev_put(qdev);
	return err;
}

/* Dump cursor, kept in cb->ctx: the next link index to look at. */
struct link_dump_ctx {
	u32 next_index;
};

static int link_dump_start(struct netlink_callback *cb)
{
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);

	BUILD_BUG_ON(sizeof(struct link_dump_ctx) > sizeof(cb->ctx));
	if (info->attrs[QKD_A_LINK_INDEX]) {
		NL_SET_ERR_MSG_ATTR(cb->extack, info->attrs[QKD_A_LINK_INDEX],
				    "a dump takes no link index; use a do request");
		return -EINVAL;
	}
	return 0;
}

static int link_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct link_dump_ctx *ctx = (struct link_dump_ctx *)cb->ctx;
	struct net *net = sock_net(cb->skb->sk);
	struct qkd_dev *qdev;
	u32 index;
	int err;

	for (;;) {
		index = ctx->next_index;
		qdev = qkd_dev_get_next(net, &index);
		if (!qdev)
			return 0;	/* done: NLMSG_DONE rides in this skb */
		err = fill_link(skb, qdev, NETLINK_CB(cb->skb).portid,
				cb->nlh->nlmsg_seq, NLM_F_MULTI);
		qkd_dev_put(qdev);
		if (err)
			return skb->len; /* skb full: continue in the next */
		ctx->next_index = index + 1;
	}
}

/* ---- LINK_SET ------------------------------------------------------- */

/* LINK_SET, validated and ready to apply. */
struct link_change {
	bool set_state;
	bool up;
	bool set_qber_max;
	u32 qber_max;
	bool set_thresholds;
	u64 warn;
	u64 ready;
	struct net *net;	/* reference held; NULL: stay */
};

static int link_set_validate(struct qkd_dev *qdev, struct sk_buff *skb,
			     struct genl_info *info, struct link_change *chg)
{
	struct nlattr **attrs = info->attrs;
	struct qkd_pool_figures fig;

	if (attrs[QKD_A_LINK_STATE]) {
		chg->set_state = true;
		chg->up = nla_get_u8(attrs[QKD_A_LINK_STATE]) == QKD_LINK_UP;
	}
	if (attrs[QKD_A_LINK_QBER_MAX]) {
		chg->set_qber_max = true;
		chg->qber_max = nla_get_u32(attrs[QKD_A_LINK_QBER_MAX]);
	}
	if (attrs[QKD_A_POOL_WARN] || attrs[QKD_A_POOL_READY]) {
		qkd_pool_figures(&qdev->pool, &fig);
		chg->set_thresholds = true;
		chg->warn = attrs[QKD_A_POOL_WARN] ?
			    nla_get_u64(attrs[QKD_A_POOL_WARN]) : fig.warn;
		chg->ready = attrs[QKD_A_POOL_READY] ?
			     nla_get_u64(attrs[QKD_A_POOL_READY]) : fig.ready;
		if (chg->warn > chg->ready) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    attrs[QKD_A_POOL_WARN] ?:
					    attrs[QKD_A_POOL_READY],
					    "pool WARN threshold above READY");
			return -EINVAL;
		}
	}
	if (attrs[QKD_A_NETNS_FD]) {
		struct net *net;

		net = get_net_ns_by_fd(nla_get_u32(attrs[QKD_A_NETNS_FD]));
		if (IS_ERR(net)) {
			NL_SET_ERR_MSG_ATTR(info->extack, attrs[QKD_A_NETNS_FD],
					    "not a network namespace fd");
			return -EINVAL;
		}
		if (!netlink_ns_capable(skb, net->user_ns, CAP_NET_ADMIN)) {
			put_net(net);
			NL_SET_ERR_MSG_ATTR(info->extack, attrs[QKD_A_NETNS_FD],
					    "no CAP_NET_ADMIN in the target namespace");
			return -EPERM;
		}
		chg->net = net;
	}
	return 0;
}

static int link_set_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct link_change chg = {};
	struct qkd_pool_event ev = {};
	struct qkd_dev *qdev = request_dev(info);
	int err;

	if (IS_ERR(qdev))
		return PTR_ERR(qdev);
	err = link_set_validate(qdev, skb, info, &chg);
	if (err)
		goto out;
	/* Starting the card is the only step that can fail: do it first. */
	if (chg.set_state) {
		err = qkd_dev_set_admin(qdev, chg.up);
		if (err) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    info->attrs[QKD_A_LINK_STATE],
					    "the card failed to change state");
			goto out;
		}
	}
	if (chg.set_qber_max)
		qkd_dev_set_qber_max(qdev, chg.qber_max);
	if (chg.set_thresholds) {
		qkd_pool_set_thresholds(&qdev->pool, chg.warn, chg.ready, &ev);
		qkd_dev_pool_event(qdev, &ev);
	}
	if (chg.net)
		qkd_dev_move_net(qdev, chg.net);
out:
	if (chg.net)
		put_net(chg.net);
	qkd_dev_put(qdev);
	return err;
}

/* ---- KEY_* ---------------------------------------------------------- */

/* Reply room for one key of @len bytes, material included or not. */
static size_t key_msg_size(u32 len, bool material)
{
	return nla_total_size(0) +			/* QKD_A_KEY */
	       nla_total_size_64bit(sizeof(u64)) +	/* _ID */
	       nla_total_size(sizeof(u32)) +		/* _LEN */
	       nla_total_size_64bit(sizeof(u64)) +	/* _GEN_TIME */
	       (material ? nla_total_size(len) : 0);	/* _MATERIAL */
}

/* Called under the pool's spinlock: writes into a preallocated skb only. */
static int put_key(void *ctx, u64 key_id, u32 len, u64 gen_time,
		   const u8 *material)
{
	struct sk_buff *skb = ctx;
	struct nlattr *nest = nla_nest_start(skb, QKD_A_KEY);

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, QKD_A_KEY_ID, key_id, QKD_A_PAD) ||
	    nla_put_u32(skb, QKD_A_KEY_LEN, len) ||
	    nla_put_u64_64bit(skb, QKD_A_KEY_GEN_TIME, gen_time, QKD_A_PAD) ||
	    (material && nla_put(skb, QKD_A_KEY_MATERIAL, len, material))) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

/*
 * Key-bearing replies are wiped by whoever frees their data last.  After
 * genlmsg_reply() the skb belongs to netlink: it sits in the receiver's
 * queue, is copied out by recvmsg() and freed there (or dropped on a full
 * queue, or cloned for an nlmon tap), and netlink owns skb->destructor.
 * skb_release_data() however calls the skb's ubuf_info callback when the
 * last reference to the data goes, just before it frees the head, so the
 * reply carries one: its callback zeroises the head.  SKBFL_DONT_ORPHAN
 * keeps skb_clone() from copying the data away from the callback; a head
 * copied for a tap takes a reference on the ubuf_info and is wiped the
 * same way.  Each ubuf_info holds a module reference until its last head
 * is wiped, so qkd.ko stays while a reply is unread.
 */
static void key_reply_wipe(struct sk_buff *skb, struct ubuf_info *uarg,
			   bool zerocopy_success)
{
	memzero_explicit(skb->head, skb_end_offset(skb));
	if (refcount_dec_and_test(&uarg->refcnt)) {
		kfree(uarg);
		module_put(THIS_MODULE);
	}
}

/* A reply sized for @count keys; *hdr is its genetlink header. */
static struct sk_buff *key_reply_new(struct genl_info *info, u8 cmd,
				     u32 len, u32 count, bool material,
				     void **hdr)
{
	struct ubuf_info *uarg;
	struct sk_buff *msg;

	/*
	 * Exactly the room the keys need: netlink_trim() would move a reply
	 * with much unused room to a smaller head, freeing the old one as is.
	 */
	msg = genlmsg_new(count * key_msg_size(len, material), GFP_KERNEL);
	if (!msg)
		return NULL;
	uarg = kmalloc(sizeof(*uarg), GFP_KERNEL);
	if (!uarg) {
		nlmsg_free(msg);
		return NULL;
	}
	uarg->callback = key_reply_wipe;
	refcount_set(&uarg->refcnt, 1);
	uarg->flags = SKBFL_ZEROCOPY_ENABLE | SKBFL_DONT_ORPHAN;
	__module_get(THIS_MODULE);
	skb_zcopy_init(msg, uarg);
	*hdr = genlmsg_put_reply(msg, info, &qkd_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* Frees a reply that is not sent; its data is wiped (key_reply_wipe()). */
static void key_reply_free(struct sk_buff *msg)
{
	nlmsg_free(msg);
}

static int key_alloc_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct qkd_dev *qdev;
	struct sk_buff *msg;
	void *hdr;
	u32 len, count = 1, flags = 0;
	const char *why = NULL;
	bool reserve;
	int err;

	if (attr_missing(info, QKD_A_KEY_LEN))
		return -EINVAL;
	len = nla_get_u32(attrs[QKD_A_KEY_LEN]);
	if (attrs[QKD_A_KEY_COUNT])
		count = nla_get_u32(attrs[QKD_A_KEY_COUNT]);
	if (attrs[QKD_A_KEY_FLAGS])
		flags = nla_get_u32(attrs[QKD_A_KEY_FLAGS]);
	reserve = flags & QKD_KEY_F_RESERVE;
	if ((u64)len * count > QKD_KEY_ALLOC_MAX_BYTES) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[QKD_A_KEY_COUNT],
				    "count * len over QKD_KEY_ALLOC_MAX_BYTES");
		return -EINVAL;
	}
	qdev = request_dev(info);
	if (IS_ERR(qdev))
		return PTR_ERR(qdev);
	if (!key_len_ok(qdev, info)) {
		err = -EINVAL;
		goto out;
	}
	msg = key_reply_new(info, QKD_CMD_KEY_ALLOC, len, count, !reserve,
			    &hdr);
	if (!msg) {
		err = -ENOMEM;
		goto out;
	}
	err = qkd_keys_alloc(qdev, len, count, reserve, put_key, msg, &why,
			     GFP_KERNEL);
	if (err) {
		set_err(info->extack, NULL, why);
		key_reply_free(msg);
		goto out;
	}
	genlmsg_end(msg, hdr);
	err = genlmsg_reply(msg, info);
out:
	qkd_dev_put(qdev);
	return err;
}

static int key_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct qkd_dev *qdev;
	struct sk_buff *msg;
	const char *why = NULL;
	void *hdr;
	u64 key_id;
	u32 len;
	int err;

	qdev = key_ref_dev(info);
	if (IS_ERR(qdev))
		return PTR_ERR(qdev);
	key_id = nla_get_u64(info->attrs[QKD_A_KEY_ID]);
	len = nla_get_u32(info->attrs[QKD_A_KEY_LEN]);
	msg = key_reply_new(info, QKD_CMD_KEY_GET, len, 1, true, &hdr);
	if (!msg) {
		err = -ENOMEM;
		goto out;
	}
	err = qkd_keys_fetch(qdev, key_id, len, put_key, msg, &why,
			     GFP_KERNEL);
	if (err) {
		set_err(info->extack, info->attrs[QKD_A_KEY_ID], why);
		key_reply_free(msg);
		goto out;
	}
	genlmsg_end(msg, hdr);
	err = genlmsg_reply(msg, info);
out:
	qkd_dev_put(qdev);
	return err;
}

static int key_discard_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct qkd_dev *qdev;
	const char *why = NULL;
	int err;

	qdev = key_ref_dev(info);
	if (IS_ERR(qdev))
		return PTR_ERR(qdev);
	err = qkd_keys_discard(qdev, nla_get_u64(info->attrs[QKD_A_KEY_ID]),
			       nla_get_u32(info->attrs[QKD_A_KEY_LEN]), &why,
			       GFP_KERNEL);
	if (err)
		set_err(info->extack, info->attrs[QKD_A_KEY_ID], why);
	qkd_dev_put(qdev);
	return err;
}

/* ---- push ends ------------------------------------------------------ */

static int push_add_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct qkd_dev_info di = {};
	const char *why = NULL;
	struct qkd_dev *qdev;
	struct sk_buff *msg;
	int err;

	if (attr_missing(info, QKD_A_LINK_ID) ||
	    attr_missing(info, QKD_A_LINK_ROLE) ||
	    attr_missing(info, QKD_A_LINK_BLOCK_SIZE))
		return -EINVAL;
	di.link_id = nla_get_u32(attrs[QKD_A_LINK_ID]);
	di.role = nla_get_u8(attrs[QKD_A_LINK_ROLE]);
	di.block_size = nla_get_u32(attrs[QKD_A_LINK_BLOCK_SIZE]);
	di.pool_blocks = attrs[QKD_A_POOL_CAPACITY] ?
			 nla_get_u32(attrs[QKD_A_POOL_CAPACITY]) : 0;
	if ((u64)(di.pool_blocks ?: QKD_POOL_BLOCKS_DEFAULT) * di.block_size >
	    QKD_PUSH_POOL_BYTES_MAX) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[QKD_A_POOL_CAPACITY] ?:
				    attrs[QKD_A_LINK_BLOCK_SIZE],
				    "pool capacity * block size over QKD_PUSH_POOL_BYTES_MAX");
		return -EINVAL;
	}
	if (attrs[QKD_A_LINK_PEER])
		nla_strscpy(di.peer, attrs[QKD_A_LINK_PEER], sizeof(di.peer));
	/* Allocated first: once the end exists, the reply cannot fail. */
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	qdev = qkd_push_add(genl_info_net(info), &di, &why);
	if (IS_ERR(qdev)) {
		set_err(info->extack, NULL, why);
		nlmsg_free(msg);
		return PTR_ERR(qdev);
	}
	err = fill_link(msg, qdev, info->snd_portid, info->snd_seq, 0);
	qkd_dev_put(qdev);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

static int push_del_doit(struct sk_buff *skb, struct genl_info *info)
{
	const char *why = NULL;
	int err;

	if (attr_missing(info, QKD_A_LINK_INDEX))
		return -EINVAL;
	err = qkd_push_del(genl_info_net(info),
			   nla_get_u32(info->attrs[QKD_A_LINK_INDEX]), &why);
	if (err)
		set_err(info->extack, info->attrs[QKD_A_LINK_INDEX], why);
	return err;
}

static int block_push(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct nlattr *tb[QKD_A_MAX + 1];
	struct nlattr *mat;
	const char *why = NULL;
	struct qkd_dev *qdev;
	u64 gen_time = 0;
	int err;

	/* What GENL_UNS_ADMIN_PERM checks, here so the request is wiped. */
	if (!netlink_ns_capable(skb, net->user_ns, CAP_NET_ADMIN)) {
		NL_SET_ERR_MSG(info->extack,
			       "no CAP_NET_ADMIN over this network namespace");
		return -EPERM;
	}
	err = nlmsg_parse(info->nlhdr, GENL_HDRLEN, tb, QKD_A_MAX,
			  block_push_policy, info->extack);
	if (err)
		return err;
	/* info->attrs holds the same attributes, found by the op's policy. */
	if (attr_missing(info, QKD_A_BLOCK_ID) ||
	    attr_missing(info, QKD_A_KEY_MATERIAL))
		return -EINVAL;
	qdev = request_dev(info);
	if (IS_ERR(qdev))
		return PTR_ERR(qdev);
	mat = tb[QKD_A_KEY_MATERIAL];
	if (tb[QKD_A_KEY_GEN_TIME])
		gen_time = nla_get_u64(tb[QKD_A_KEY_GEN_TIME]);
	err = qkd_push_block(qdev, nla_get_u64(tb[QKD_A_BLOCK_ID]), gen_time,
			     nla_data(mat), nla_len(mat), &why);
	if (err)
		set_err(info->extack, err == -EINVAL ? mat :
			err == -EEXIST ? tb[QKD_A_BLOCK_ID] :
			tb[QKD_A_LINK_INDEX], why);
	qkd_dev_put(qdev);
	return err;
}

static int block_push_doit(struct sk_buff *skb, struct genl_info *info)
{
	int err = block_push(skb, info);

	/*
	 * Zeroise every attribute of the request, whatever happened: the
	 * skb is freed unwiped, and an error ack echoes the request.
	 */
	memzero_explicit(nlmsg_data(info->nlhdr) + GENL_HDRLEN,
			 nlmsg_len(info->nlhdr) - GENL_HDRLEN);
	return err;
}

/* ---- family --------------------------------------------------------- */

static const struct genl_ops qkd_ops[] = {
	{
		.cmd = QKD_CMD_LINK_GET,
		.doit = link_get_doit,
		.start = link_dump_start,
		.dumpit = link_dumpit,
		.policy = link_get_policy,
		.maxattr = ARRAY_SIZE(link_get_policy) - 1,
		/* Pool figures and counters tell how much key a link has. */
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = QKD_CMD_LINK_SET,
		.doit = link_set_doit,
		.policy = link_set_policy,
		.maxattr = ARRAY_SIZE(link_set_policy) - 1,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = QKD_CMD_KEY_ALLOC,
		.doit = key_alloc_doit,
		.policy = key_alloc_policy,
		.maxattr = ARRAY_SIZE(key_alloc_policy) - 1,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = QKD_CMD_KEY_GET,
		.doit = key_get_doit,
		.policy = key_ref_policy,
		.maxattr = ARRAY_SIZE(key_ref_policy) - 1,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = QKD_CMD_KEY_DISCARD,
		.doit = key_discard_doit,
		.policy = key_ref_policy,
		.maxattr = ARRAY_SIZE(key_ref_policy) - 1,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = QKD_CMD_SA_ADD,
		.doit = qkd_sa_add_doit,
		.policy = qkd_sa_add_policy,
		.maxattr = ARRAY_SIZE(qkd_sa_add_policy) - 1,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = QKD_CMD_SA_DEL,
		.doit = qkd_sa_del_doit,
		.policy = qkd_sa_del_policy,
		.maxattr = ARRAY_SIZE(qkd_sa_del_policy) - 1,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = QKD_CMD_PUSH_ADD,
		.doit = push_add_doit,
		.policy = push_add_policy,
		.maxattr = ARRAY_SIZE(push_add_policy) - 1,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = QKD_CMD_PUSH_DEL,
		.doit = push_del_doit,
		.policy = push_del_policy,
		.maxattr = ARRAY_SIZE(push_del_policy) - 1,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = QKD_CMD_BLOCK_PUSH,
		.doit = block_push_doit,
		.policy = block_push_any_policy,
		.maxattr = ARRAY_SIZE(block_push_any_policy) - 1,
		/* CAP_NET_ADMIN is checked by block_push(), see there. */
	},
};

static struct genl_family qkd_family __ro_after_init = {
	.name = QKD_GENL_NAME,
	.version = QKD_GENL_VERSION,
	.netnsok = true,
	.parallel_ops = true,
	.resv_start_op = 0,	/* strict validation for every op */
	.ops = qkd_ops,
	.n_ops = ARRAY_SIZE(qkd_ops),
	.mcgrps = qkd_mcgrps,
	.n_mcgrps = ARRAY_SIZE(qkd_mcgrps),
	.module = THIS_MODULE,
};

/* ---- notifications -------------------------------------------------- */

/* A new multicast message on @grp of @net, or NULL if nobody listens. */
static struct sk_buff *ntf_new(struct net *net, int grp, u8 cmd,
			       struct qkd_dev *qdev, gfp_t gfp, void **hdr)
{
	struct sk_buff *skb;

	if (grp == QKD_MCGRP_POOL_ID && QKD_POOL_GROUP_OPEN)
		return NULL;	/* anyone could listen: see qkd_mcgrps */
	if (!genl_has_listeners(&qkd_family, net, grp))
		return NULL;
	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, gfp);
	if (!skb)
		return NULL;
	*hdr = genlmsg_put(skb, 0, 0, &qkd_family, 0, cmd);
	if (!*hdr ||
	    nla_put_u32(skb, QKD_A_LINK_INDEX, qdev->index) ||
	    nla_put_u32(skb, QKD_A_LINK_ID, qdev->info.link_id)) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

static void ntf_send(struct net *net, int grp, struct sk_buff *skb,
		     void *hdr, gfp_t gfp)
{
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&qkd_family, net, skb, 0, grp, gfp);
}

/* @present false: the end left @net (unregistered or moved away). */
void qkd_nl_link_ntf(struct qkd_dev *qdev, struct net *net, bool present)
{
	struct sk_buff *skb;
	void *hdr;

	skb = ntf_new(net, QKD_MCGRP_LINK_ID, QKD_CMD_LINK_NTF, qdev,
		      GFP_KERNEL, &hdr);
	if (!skb)
		return;
	if (present &&
	    nla_put_u8(skb, QKD_A_LINK_STATE, READ_ONCE(qdev->state))) {
		nlmsg_free(skb);
		return;
	}
	ntf_send(net, QKD_MCGRP_LINK_ID, skb, hdr, GFP_KERNEL);
}

void qkd_nl_qber_alarm_ntf(struct qkd_dev *qdev)
{
	struct net *net = qkd_dev_net(qdev);
	struct sk_buff *skb;
	void *hdr;

	skb = ntf_new(net, QKD_MCGRP_LINK_ID, QKD_CMD_QBER_ALARM_NTF, qdev,
		      GFP_KERNEL, &hdr);
	if (!skb)
		return;
	if (nla_put_u32(skb, QKD_A_LINK_QBER, READ_ONCE(qdev->qber_ppm)) ||
	    nla_put_u32(skb, QKD_A_LINK_QBER_MAX, READ_ONCE(qdev->qber_max))) {
		nlmsg_free(skb);
		return;
	}
	ntf_send(net, QKD_MCGRP_LINK_ID, skb, hdr, GFP_KERNEL);
}

void qkd_nl_pool_ntf(struct qkd_dev *qdev, u8 level, u64 avail, gfp_t gfp)
{
	struct net *net = qkd_dev_net(qdev);
	struct sk_buff *skb;
	void *hdr;

	skb = ntf_new(net, QKD_MCGRP_POOL_ID, QKD_CMD_POOL_NTF, qdev, gfp, &hdr);
	if (!skb)
		return;
	if (nla_put_u8(skb, QKD_A_POOL_LEVEL, level) ||
	    nla_put_u64_64bit(skb, QKD_A_POOL_AVAIL, avail, QKD_A_PAD)) {
		nlmsg_free(skb);
		return;
	}
	ntf_send(net, QKD_MCGRP_POOL_ID, skb, hdr, gfp);
}

void qkd_nl_keys_avail_ntf(struct qkd_dev *qdev)
{
	struct net *net = qkd_dev_net(qdev);
	struct qkd_pool_figures fig;
	struct sk_buff *skb;
	void *hdr;

	skb = ntf_new(net, QKD_MCGRP_POOL_ID, QKD_CMD_KEYS_AVAIL_NTF, qdev,
		      GFP_KERNEL, &hdr);
	if (!skb)
		return;
	qkd_pool_figures(&qdev->pool, &fig);
	if (nla_put_u64_64bit(skb, QKD_A_POOL_AVAIL, fig.avail, QKD_A_PAD)) {
		nlmsg_free(skb);
		return;
	}
	ntf_send(net, QKD_MCGRP_POOL_ID, skb, hdr, GFP_KERNEL);
}

int __init qkd_nl_init(void)
{
	return genl_register_family(&qkd_family);
}

void qkd_nl_exit(void)
{
	genl_unregister_family(&qkd_family);
}
