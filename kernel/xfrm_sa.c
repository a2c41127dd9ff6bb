// SPDX-License-Identifier: GPL-2.0
/*
 * QKD-keyed ESP SAs (QKD_CMD_SA_ADD / QKD_CMD_SA_DEL, uapi/linux/qkd.h).
 *
 * SA_ADD builds an ordinary xfrm state whose rfc4106(gcm(aes)) key is taken
 * from the QKD pool straight into the state's key buffer, so the key never
 * exists in userspace.  net/xfrm/xfrm_user.c's construct step is static, so
 * the few steps it takes for an AEAD ESP SA are repeated here.
 *
 * ACQUIREs and EXPIREs reach the daemon over NETLINK_XFRM like any IKE
 * daemon's, and the daemon decides when to call SA_ADD.  The xfrm_mgr
 * registered here only listens: it acquires nothing and compiles no
 * policy, so the packet path meets none of our code.
 *
 * Every SA installed here is remembered, per netns, with a reference, so
 * that SA_DEL can refuse to touch SAs of others (an IKE daemon) and so that
 * netns exit and module unload delete what we installed.  An SA that dies
 * behind our back (hard expiry, "ip xfrm state del/flush") is released at
 * once: the xfrm_mgr's notify marks its hash bucket, and a work item (and
 * every SA_ADD) drops the dead entries of marked buckets, zeroising the
 * state's key first.  xfrm frees x->aead with plain kfree(), so without
 * that the key would outlive the SA in freed memory.
 *
 * NEWSA/DELSA announcements carry the key (xfrm_user copies the AEAD into
 * them), so they are sent only while someone listens to XFRMNLGRP_SA:
 * otherwise each would leave a copy of the key in a freed skb.
 */
#include <linux/bitmap.h>
#include <linux/hash.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/xfrm.h>

#include "device.h"
#include "qkd_keys.h"
#include "xfrm_sa.h"

#define SA_HASH_BITS	10
#define SA_AEAD_NAME	"rfc4106(gcm(aes))"
#define SA_ICV_BITS	128
#define SA_SALT_LEN	4

/* One SA we installed; holds a reference on it. */
struct qkd_sa {
	struct hlist_node node;
	struct xfrm_state *x;
};

struct qkd_sa_net {
	struct mutex lock;		/* serialises SA_ADD/SA_DEL/prune/exit */
	struct hlist_head *table;	/* by SPI */
	/* Buckets that may hold a dead SA; set from any context. */
	spinlock_t dirty_lock;
	bool dying;			/* under dirty_lock: queue no work */
	DECLARE_BITMAP(dirty, 1U << SA_HASH_BITS);
	struct work_struct prune_work;
};

static unsigned int qkd_sa_net_id __read_mostly;

/* Everything an SA_ADD request says, checked. */
struct sa_request {
	u32 link_index;
	u64 key_id;
	u32 key_len;
	u16 family;
	u8 mode;
	xfrm_address_t saddr, daddr;
	__be32 spi;
	u32 reqid;
	u32 replay_window;
	struct xfrm_lifetime_cfg lft;
	struct xfrm_mark mark;
	u32 if_id;
	struct xfrm_selector sel;
};

/* ---- policies ------------------------------------------------------- */

const struct nla_policy qkd_sa_add_policy[QKD_A_SA_SEL_PROTO + 1] = {
	[QKD_A_LINK_INDEX] = { .type = NLA_U32 },
	[QKD_A_KEY_ID] = { .type = NLA_U64 },
	[QKD_A_KEY_LEN] = { .type = NLA_U32 },
	[QKD_A_SA_FAMILY] = { .type = NLA_U16 },
	[QKD_A_SA_SADDR] = { .type = NLA_BINARY, .len = 16 },
	[QKD_A_SA_DADDR] = { .type = NLA_BINARY, .len = 16 },
	[QKD_A_SA_SPI] = NLA_POLICY_MIN(NLA_U32, 256),
	[QKD_A_SA_MODE] = NLA_POLICY_MAX(NLA_U8, QKD_SA_MODE_TUNNEL),
	[QKD_A_SA_REQID] = { .type = NLA_U32 },
	[QKD_A_SA_REPLAY_WINDOW] = NLA_POLICY_MAX(NLA_U32,
						  QKD_SA_REPLAY_WINDOW_MAX),
	[QKD_A_SA_SOFT_SECONDS] = NLA_POLICY_MIN(NLA_U64, 1),
	[QKD_A_SA_HARD_SECONDS] = NLA_POLICY_MIN(NLA_U64, 1),
	[QKD_A_SA_SOFT_BYTES] = NLA_POLICY_MIN(NLA_U64, 1),
	[QKD_A_SA_HARD_BYTES] = NLA_POLICY_MIN(NLA_U64, 1),
	[QKD_A_SA_MARK] = { .type = NLA_U32 },
	[QKD_A_SA_MARK_MASK] = { .type = NLA_U32 },
	[QKD_A_SA_IF_ID] = { .type = NLA_U32 },
	[QKD_A_SA_SEL_SADDR] = { .type = NLA_BINARY, .len = 16 },
	[QKD_A_SA_SEL_DADDR] = { .type = NLA_BINARY, .len = 16 },
	[QKD_A_SA_SEL_SPLEN] = NLA_POLICY_MAX(NLA_U8, 128),
	[QKD_A_SA_SEL_DPLEN] = NLA_POLICY_MAX(NLA_U8, 128),
	[QKD_A_SA_SEL_PROTO] = { .type = NLA_U8 },
};

const struct nla_policy qkd_sa_del_policy[QKD_A_SA_SPI + 1] = {
	[QKD_A_SA_FAMILY] = { .type = NLA_U16 },
	[QKD_A_SA_DADDR] = { .type = NLA_BINARY, .len = 16 },
	[QKD_A_SA_SPI] = NLA_POLICY_MIN(NLA_U32, 256),
};

/* ---- request parsing ------------------------------------------------ */

/* NL_SET_ERR_MSG() wants a literal; @msg is always a static string. */
static void set_msg(struct netlink_ext_ack *extack, const char *msg)
{
	if (extack)
		extack->_msg = msg;
}

static bool require(struct genl_info *info, int attr, const char *msg)
{
	if (info->attrs[attr])
		return true;
	set_msg(info->extack, msg);
	NL_SET_ERR_ATTR_MISS(info->extack, NULL, attr);
	return false;
}

static int addr_len(u16 family)
{
	return family == AF_INET ? sizeof(struct in_addr) :
				   sizeof(struct in6_addr);
}

static int parse_family(struct genl_info *info, u16 *family)
{
	if (!require(info, QKD_A_SA_FAMILY, "missing attribute QKD_A_SA_FAMILY"))
		return -EINVAL;
	*family = nla_get_u16(info->attrs[QKD_A_SA_FAMILY]);
	if (*family == AF_INET || *family == AF_INET6)
		return 0;
	NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[QKD_A_SA_FAMILY],
			    "family must be AF_INET or AF_INET6");
	return -EINVAL;
}

/* An address attribute of exactly the family's length. */
static int parse_addr(struct genl_info *info, int attr, u16 family,
		      xfrm_address_t *addr)
{
	struct nlattr *a = info->attrs[attr];

	if (nla_len(a) != addr_len(family)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a,
				    "address length does not match the family");
		return -EINVAL;
	}
	memset(addr, 0, sizeof(*addr));
	memcpy(addr, nla_data(a), nla_len(a));
	return 0;
}

static int parse_key(struct genl_info *info, struct sa_request *req)
{
	struct nlattr **a = info->attrs;

	if (!require(info, QKD_A_LINK_INDEX,
		     "missing attribute QKD_A_LINK_INDEX") ||
	    !require(info, QKD_A_KEY_ID, "missing attribute QKD_A_KEY_ID") ||
	    !require(info, QKD_A_KEY_LEN, "missing attribute QKD_A_KEY_LEN"))
		return -EINVAL;
	req->link_index = nla_get_u32(a[QKD_A_LINK_INDEX]);
	req->key_id = nla_get_u64(a[QKD_A_KEY_ID]);
	req->key_len = nla_get_u32(a[QKD_A_KEY_LEN]);
	if (req->key_len == QKD_SA_KEY_LEN_AES128 ||
	    req->key_len == QKD_SA_KEY_LEN_AES256)
		return 0;
	NL_SET_ERR_MSG_ATTR(info->extack, a[QKD_A_KEY_LEN],
			    "key length must be 20 (AES-128-GCM) or 36 (AES-256-GCM) bytes incl. salt");
	return -EINVAL;
}

static u64 get_u64_or(struct nlattr *a, u64 absent)
{
	return a ? nla_get_u64(a) : absent;
}

static int parse_lifetimes(struct genl_info *info, struct xfrm_lifetime_cfg *lft)
{
	struct nlattr **a = info->attrs;

	memset(lft, 0, sizeof(*lft));
	lft->soft_packet_limit = XFRM_INF;
	lft->hard_packet_limit = XFRM_INF;
	lft->soft_add_expires_seconds = get_u64_or(a[QKD_A_SA_SOFT_SECONDS], 0);
	lft->hard_add_expires_seconds = get_u64_or(a[QKD_A_SA_HARD_SECONDS], 0);
	lft->soft_byte_limit = get_u64_or(a[QKD_A_SA_SOFT_BYTES], XFRM_INF);
	lft->hard_byte_limit = get_u64_or(a[QKD_A_SA_HARD_BYTES], XFRM_INF);
	if (a[QKD_A_SA_SOFT_SECONDS] && a[QKD_A_SA_HARD_SECONDS] &&
	    lft->soft_add_expires_seconds >= lft->hard_add_expires_seconds) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKD_A_SA_SOFT_SECONDS],
				    "soft lifetime must be shorter than the hard one");
		return -EINVAL;
	}
	if (a[QKD_A_SA_SOFT_BYTES] && a[QKD_A_SA_HARD_BYTES] &&
	    lft->soft_byte_limit >= lft->hard_byte_limit) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKD_A_SA_SOFT_BYTES],
				    "soft byte limit must be below the hard one");
		return -EINVAL;
	}
	return 0;
}

/*
 * The selector: given explicitly, or in transport mode the SA's own
 * addresses, or in tunnel mode anything (AF_UNSPEC; the policy decides).
 */
static int parse_selector(struct genl_info *info, struct sa_request *req)
{
	struct nlattr **a = info->attrs;
	struct xfrm_selector *sel = &req->sel;
	u8 max_plen = addr_len(req->family) * 8;
	int err;

	memset(sel, 0, sizeof(*sel));
	if (!a[QKD_A_SA_SEL_SADDR] && !a[QKD_A_SA_SEL_DADDR]) {
		if (req->mode == QKD_SA_MODE_TUNNEL)
			return 0;	/* sel.family AF_UNSPEC */
		sel->saddr = req->saddr;
		sel->daddr = req->daddr;
		sel->prefixlen_s = max_plen;
		sel->prefixlen_d = max_plen;
	} else {
		if (!require(info, QKD_A_SA_SEL_SADDR,
			     "selector needs both QKD_A_SA_SEL_SADDR and _DADDR") ||
		    !require(info, QKD_A_SA_SEL_DADDR,
			     "selector needs both QKD_A_SA_SEL_SADDR and _DADDR"))
			return -EINVAL;
		err = parse_addr(info, QKD_A_SA_SEL_SADDR, req->family,
				 &sel->saddr);
		if (!err)
			err = parse_addr(info, QKD_A_SA_SEL_DADDR, req->family,
					 &sel->daddr);
		if (err)
			return err;
		sel->prefixlen_s = a[QKD_A_SA_SEL_SPLEN] ?
			nla_get_u8(a[QKD_A_SA_SEL_SPLEN]) : max_plen;
		sel->prefixlen_d = a[QKD_A_SA_SEL_DPLEN] ?
			nla_get_u8(a[QKD_A_SA_SEL_DPLEN]) : max_plen;
		if (sel->prefixlen_s > max_plen || sel->prefixlen_d > max_plen) {
			NL_SET_ERR_MSG(info->extack,
				       "selector prefix longer than the address");
			return -EINVAL;
		}
	}
	sel->family = req->family;
	if (a[QKD_A_SA_SEL_PROTO])
		sel->proto = nla_get_u8(a[QKD_A_SA_SEL_PROTO]);
	return 0;
}

static int parse_sa_id(struct genl_info *info, u16 *family,
		       xfrm_address_t *daddr, __be32 *spi)
{
	int err = parse_family(info, family);

	if (err)
		return err;
	if (!require(info, QKD_A_SA_DADDR, "missing attribute QKD_A_SA_DADDR") ||
	    !require(info, QKD_A_SA_SPI, "missing attribute QKD_A_SA_SPI"))
		return -EINVAL;
	*spi = htonl(nla_get_u32(info->attrs[QKD_A_SA_SPI]));
	return parse_addr(info, QKD_A_SA_DADDR, *family, daddr);
}

static int parse_sa_request(struct genl_info *info, struct sa_request *req)
{
	struct nlattr **a = info->attrs;
	int err;

	memset(req, 0, sizeof(*req));
	err = parse_key(info, req);
	if (!err)
		err = parse_sa_id(info, &req->family, &req->daddr, &req->spi);
	if (err)
		return err;
	if (!require(info, QKD_A_SA_SADDR, "missing attribute QKD_A_SA_SADDR"))
		return -EINVAL;
	err = parse_addr(info, QKD_A_SA_SADDR, req->family, &req->saddr);
	if (err)
		return err;
	req->mode = a[QKD_A_SA_MODE] ? nla_get_u8(a[QKD_A_SA_MODE]) :
				       QKD_SA_MODE_TRANSPORT;
	req->reqid = a[QKD_A_SA_REQID] ? nla_get_u32(a[QKD_A_SA_REQID]) : 0;
	req->replay_window = a[QKD_A_SA_REPLAY_WINDOW] ?
		nla_get_u32(a[QKD_A_SA_REPLAY_WINDOW]) :
		QKD_SA_REPLAY_WINDOW_DEFAULT;
	if (a[QKD_A_SA_MARK]) {
		req->mark.v = nla_get_u32(a[QKD_A_SA_MARK]);
		req->mark.m = a[QKD_A_SA_MARK_MASK] ?
			nla_get_u32(a[QKD_A_SA_MARK_MASK]) : 0xffffffff;
	} else if (a[QKD_A_SA_MARK_MASK]) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKD_A_SA_MARK_MASK],
				    "a mark mask needs QKD_A_SA_MARK");
		return -EINVAL;
	}
	req->if_id = a[QKD_A_SA_IF_ID] ? nla_get_u32(a[QKD_A_SA_IF_ID]) : 0;
	err = parse_lifetimes(info, &req->lft);
	if (!err)
		err = parse_selector(info, req);
	return err;
}

/* ---- the SA table --------------------------------------------------- */

static u32 sa_hash(__be32 spi)
{
	return hash_32((__force u32)spi, SA_HASH_BITS);
}

static struct hlist_head *sa_bucket(struct qkd_sa_net *sn, __be32 spi)
{
	return &sn->table[sa_hash(spi)];
}

/*
 * Announces @x to NETLINK_XFRM (and PF_KEY) listeners.  xfrm_user puts the
 * key into the message and frees it unzeroised when nobody listens, so
 * only do it for a listener.
 */
static void sa_announce(struct xfrm_state *x, const struct km_event *c)
{
	struct net *net = xs_net(x);
	struct sock *nlsk;
	bool listening;

	rcu_read_lock();
	nlsk = rcu_dereference(net->xfrm.nlsk);
	listening = nlsk && netlink_has_listeners(nlsk, XFRMNLGRP_SA);
	rcu_read_unlock();
	if (listening)
		km_state_notify(x, c);
}

/* Zeroises the key of a dead state: xfrm frees x->aead without doing so. */
static void sa_wipe_key(struct xfrm_state *x)
{
	spin_lock_bh(&x->lock);
	if (x->aead)
		memzero_explicit(x->aead->alg_key,
				 DIV_ROUND_UP(x->aead->alg_key_len, 8));
	spin_unlock_bh(&x->lock);
}

static bool sa_matches(struct xfrm_state *x, u16 family,
		       const xfrm_address_t *daddr, __be32 spi)
{
	return x->id.spi == spi && x->props.family == family &&
	       xfrm_addr_equal(&x->id.daddr, daddr, family);
}

/*
 * Deletes an SA we installed (if it is still alive), tells xfrm_user's
 * listeners, drops our reference and forgets it.  0, or -ESRCH if it was
 * already gone (flushed or expired).
 */
static int sa_forget(struct qkd_sa *sa)
{
	struct xfrm_state *x = sa->x;
	struct km_event c = { .event = XFRM_MSG_DELSA };
	int err;

	hlist_del(&sa->node);
	err = xfrm_state_delete(x);
	if (!err) {
		xfrm_audit_state_delete(x, 1, true);
		sa_announce(x, &c);
	}
	/* Dead now: nothing reads the key any more. */
	sa_wipe_key(x);
	xfrm_state_put(x);
	kfree(sa);
	return err;
}

/* Drops entries for SAs that died behind our back (flush, hard expiry). */
static void sa_prune_bucket(struct hlist_head *bucket)
{
	struct hlist_node *tmp;
	struct qkd_sa *sa;

	hlist_for_each_entry_safe(sa, tmp, bucket, node)
		if (READ_ONCE(sa->x->km.state) == XFRM_STATE_DEAD)
			sa_forget(sa);
}

/* Prunes every bucket marked since the last call.  Under sn->lock. */
static void sa_prune_dirty(struct qkd_sa_net *sn)
{
	DECLARE_BITMAP(dirty, 1U << SA_HASH_BITS);
	unsigned int i;

	lockdep_assert_held(&sn->lock);
	spin_lock_bh(&sn->dirty_lock);
	bitmap_copy(dirty, sn->dirty, 1U << SA_HASH_BITS);
	bitmap_zero(sn->dirty, 1U << SA_HASH_BITS);
	spin_unlock_bh(&sn->dirty_lock);
	for_each_set_bit(i, dirty, 1U << SA_HASH_BITS)
		sa_prune_bucket(&sn->table[i]);
}

static void sa_prune_work(struct work_struct *work)
{
	struct qkd_sa_net *sn = container_of(work, struct qkd_sa_net,
					     prune_work);

	mutex_lock(&sn->lock);
	sa_prune_dirty(sn);
	mutex_unlock(&sn->lock);
}

/* Marks @bucket (-1: all) of @net for pruning.  Any context. */
static void sa_mark_dirty(struct net *net, int bucket)
{
	struct qkd_sa_net *sn = net_generic(net, qkd_sa_net_id);
	unsigned long flags;

	spin_lock_irqsave(&sn->dirty_lock, flags);
	if (!sn->dying) {
		if (bucket < 0)
			bitmap_fill(sn->dirty, 1U << SA_HASH_BITS);
		else
			__set_bit(bucket, sn->dirty);
		schedule_work(&sn->prune_work);
	}
	spin_unlock_irqrestore(&sn->dirty_lock, flags);
}

/*
 * xfrm_mgr.notify, from process or softirq context: an SA may have died.
 * Hard expiry deletes the state before it notifies; a byte-limit hard
 * expiry notifies first and again once its timer deleted it.
 */
static int sa_km_notify(struct xfrm_state *x, const struct km_event *c)
{
	switch (c->event) {
	case XFRM_MSG_EXPIRE:
		if (!c->data.hard)
			break;
		fallthrough;
	case XFRM_MSG_DELSA:
		if (x && x->id.proto == IPPROTO_ESP)
			sa_mark_dirty(xs_net(x), sa_hash(x->id.spi));
		break;
	case XFRM_MSG_FLUSHSA:
		if (c->net)
			sa_mark_dirty(c->net, -1);
		break;
	}
	return 0;
}

/* Not a key manager: km_query() and xfrm_user_policy() call these. */
static int sa_km_acquire(struct xfrm_state *x, struct xfrm_tmpl *t,
			 struct xfrm_policy *xp)
{
	return -EINVAL;
}

static struct xfrm_policy *sa_km_compile_policy(struct sock *sk, int opt,
						u8 *data, int len, int *dir)
{
	*dir = -EOPNOTSUPP;
	return NULL;
}

static struct xfrm_mgr qkd_sa_km = {
	.notify = sa_km_notify,
	.acquire = sa_km_acquire,
	.compile_policy = sa_km_compile_policy,
};

/* ---- building the SA ------------------------------------------------ */

static const char *take_error(int err)
{
	switch (err) {
	case -ENODEV:
		return "no such link in this network namespace";
	case -ENOENT:
		return "key block not in the pool";
	case -EALREADY:
		return "key already taken or discarded";
	default:
		return "key range invalid, or a key of this end that was not reserved";
	}
}

/* The AEAD with its key taken from the pool straight into place. */
static int attach_qkd_aead(struct net *net, struct xfrm_state *x,
			   const struct sa_request *req,
			   struct netlink_ext_ack *extack)
{
	struct xfrm_algo_desc *desc;
	struct xfrm_algo_aead *aead;
	int err;

	desc = xfrm_aead_get_byname(SA_AEAD_NAME, SA_ICV_BITS, 1);
	if (!desc) {
		NL_SET_ERR_MSG(extack, "AEAD " SA_AEAD_NAME " not available");
		return -EOPNOTSUPP;
	}
	aead = kzalloc(sizeof(*aead) + req->key_len, GFP_KERNEL);
	if (!aead)
		return -ENOMEM;
	err = qkd_key_take(net, req->link_index, req->key_id, req->key_len,
			   aead->alg_key, GFP_KERNEL);
	if (err) {
		kfree_sensitive(aead);
		set_msg(extack, take_error(err));
		return err;
	}
	strscpy(aead->alg_name, desc->name, sizeof(aead->alg_name));
	aead->alg_key_len = req->key_len * 8;	/* bits, salt included */
	aead->alg_icv_len = SA_ICV_BITS;
	x->aead = aead;		/* freed with the state */
	x->props.ealgo = desc->desc.sadb_alg_id;
	/* esp_init_aead() builds "seqiv(rfc4106(gcm(aes)))" from this. */
	x->geniv = desc->uinfo.aead.geniv;
	return 0;
}

static void fill_state(struct net *net, struct xfrm_state *x,
		       const struct sa_request *req)
{
	x->id.daddr = req->daddr;
	x->id.spi = req->spi;
	x->id.proto = IPPROTO_ESP;
	x->props.saddr = req->saddr;
	x->props.family = req->family;
	x->props.mode = req->mode == QKD_SA_MODE_TUNNEL ? XFRM_MODE_TUNNEL :
							  XFRM_MODE_TRANSPORT;
	x->props.reqid = req->reqid;
	if (req->mode == QKD_SA_MODE_TUNNEL && !req->sel.family)
		x->props.flags |= XFRM_STATE_AF_UNSPEC;
	x->sel = req->sel;
	x->lft = req->lft;
	x->mark = req->mark;
	x->if_id = req->if_id;
	x->replay_maxdiff = net->xfrm.sysctl_aevent_rseqth;
	x->replay_maxage = (net->xfrm.sysctl_aevent_etime * HZ) / XFRM_AE_ETH_M;
}

/*
 * The replay window: xfrm's legacy one (a u32 bitmap) up to 32 packets,
 * a replay_esn bitmap of the window's size above that, which
 * xfrm_init_replay() turns into XFRM_REPLAY_MODE_BMP (no ESN flag: 32-bit
 * sequence numbers, as for a legacy SA).  The state frees both copies.
 */
static int attach_replay(struct xfrm_state *x, u32 window)
{
	struct xfrm_replay_state_esn *rs;
	u32 bmp_len;

	if (window <= sizeof(x->replay.bitmap) * 8) {
		x->props.replay_window = window;
		return 0;
	}
	bmp_len = DIV_ROUND_UP(window, sizeof(rs->bmp[0]) * 8);
	rs = kzalloc(struct_size(rs, bmp, bmp_len), GFP_KERNEL);
	if (!rs)
		return -ENOMEM;
	rs->bmp_len = bmp_len;
	rs->replay_window = window;
	x->replay_esn = rs;
	x->preplay_esn = kmemdup(rs, struct_size(rs, bmp, bmp_len),
				 GFP_KERNEL);
	return x->preplay_esn ? 0 : -ENOMEM;
}

/* A ready, not yet inserted state keyed from the pool; ERR_PTR on error. */
static struct xfrm_state *build_state(struct net *net,
				      const struct sa_request *req,
				      struct netlink_ext_ack *extack)
{
	struct xfrm_state *x = xfrm_state_alloc(net);
	int err;

	if (!x)
		return ERR_PTR(-ENOMEM);
	fill_state(net, x, req);
	/* Before the key is taken: a failure here wastes no key. */
	err = attach_replay(x, req->replay_window);
	if (!err)
		err = attach_qkd_aead(net, x, req, extack);
	if (!err)
		err = __xfrm_init_state(x, true, false, extack);
	if (err) {
		x->km.state = XFRM_STATE_DEAD;
		sa_wipe_key(x);
		xfrm_state_put(x);
		return ERR_PTR(err);
	}
	return x;
}

static bool sa_exists(struct net *net, const struct sa_request *req)
{
	struct xfrm_state *x;

	x = xfrm_state_lookup(net, req->mark.v & req->mark.m, &req->daddr,
			      req->spi, IPPROTO_ESP, req->family);
	if (!x)
		return false;
	xfrm_state_put(x);
	return true;
}

/* Inserts @x, remembered in @sa, and announces it; consumes @x on error. */
static int insert_state(struct qkd_sa_net *sn, struct qkd_sa *sa,
			struct xfrm_state *x, struct genl_info *info)
{
	struct km_event c = {
		.event = XFRM_MSG_NEWSA,
		.seq = info->snd_seq,
		.portid = info->snd_portid,
	};
	int err;

	xfrm_state_hold(x);	/* ours, kept in @sa */
	err = xfrm_state_add(x);
	xfrm_audit_state_add(x, err ? 0 : 1, true);
	if (err) {
		x->km.state = XFRM_STATE_DEAD;
		sa_wipe_key(x);
		__xfrm_state_put(x);
		xfrm_state_put(x);
		if (err == -EEXIST)
			NL_SET_ERR_MSG(info->extack,
				       "an SA with this destination and SPI exists");
		return err;
	}
	/* As xfrm_add_sa(): __xfrm_init_state() leaves the state VOID. */
	if (x->km.state == XFRM_STATE_VOID)
		x->km.state = XFRM_STATE_VALID;
	sa->x = x;
	hlist_add_head(&sa->node, sa_bucket(sn, x->id.spi));
	sa_announce(x, &c);
	return 0;
}

static bool link_exists(struct net *net, u32 index)
{
	struct qkd_dev *qdev = qkd_dev_get(net, index);

	if (qdev)
		qkd_dev_put(qdev);
	return qdev;
}

int qkd_sa_add_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct qkd_sa_net *sn = net_generic(net, qkd_sa_net_id);
	struct sa_request req;
	struct xfrm_state *x;
	struct qkd_sa *sa;
	int err;

	err = parse_sa_request(info, &req);
	if (err)
		return err;
	/* An unknown link is -ENODEV before anything else can fail. */
	if (!link_exists(net, req.link_index)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[QKD_A_LINK_INDEX],
				    "no such link in this network namespace");
		return -ENODEV;
	}
	sa = kzalloc(sizeof(*sa), GFP_KERNEL);
	if (!sa)
		return -ENOMEM;
	mutex_lock(&sn->lock);
	sa_prune_dirty(sn);
	sa_prune_bucket(sa_bucket(sn, req.spi));
	/* Checked before the key is taken, so a duplicate wastes no key. */
	if (sa_exists(net, &req)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[QKD_A_SA_SPI],
				    "an SA with this destination and SPI exists");
		err = -EEXIST;
		goto out;
	}
	x = build_state(net, &req, info->extack);
	if (IS_ERR(x)) {
		err = PTR_ERR(x);
		goto out;
	}
	err = insert_state(sn, sa, x, info);
	if (!err)
		sa = NULL;
out:
	mutex_unlock(&sn->lock);
	kfree(sa);
	return err;
}

int qkd_sa_del_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct qkd_sa_net *sn = net_generic(net, qkd_sa_net_id);
	xfrm_address_t daddr;
	struct qkd_sa *sa;
	__be32 spi;
	u16 family;
	int err;

	err = parse_sa_id(info, &family, &daddr, &spi);
	if (err)
		return err;
	err = -ENOENT;
	mutex_lock(&sn->lock);
	hlist_for_each_entry(sa, sa_bucket(sn, spi), node) {
		if (!sa_matches(sa->x, family, &daddr, spi))
			continue;
		err = sa_forget(sa) ? -ENOENT : 0;
		break;
	}
	mutex_unlock(&sn->lock);
	if (err)
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[QKD_A_SA_SPI],
				    "no live SA installed by qkd with this destination and SPI");
	return err;
}

/* ---- per netns ------------------------------------------------------ */

static int __net_init qkd_sa_net_init(struct net *net)
{
	struct qkd_sa_net *sn = net_generic(net, qkd_sa_net_id);

	mutex_init(&sn->lock);
	spin_lock_init(&sn->dirty_lock);
	INIT_WORK(&sn->prune_work, sa_prune_work);
	sn->table = kvcalloc(1U << SA_HASH_BITS, sizeof(*sn->table),
			     GFP_KERNEL);
	return sn->table ? 0 : -ENOMEM;
}

static void __net_exit qkd_sa_net_exit(struct net *net)
{
	struct qkd_sa_net *sn = net_generic(net, qkd_sa_net_id);
	struct hlist_node *tmp;
	struct qkd_sa *sa;
	unsigned int i;

	spin_lock_bh(&sn->dirty_lock);
	sn->dying = true;
	spin_unlock_bh(&sn->dirty_lock);
	cancel_work_sync(&sn->prune_work);
	mutex_lock(&sn->lock);
	for (i = 0; i < (1U << SA_HASH_BITS); i++) {
		hlist_for_each_entry_safe(sa, tmp, &sn->table[i], node)
			sa_forget(sa);
		cond_resched();
	}
	mutex_unlock(&sn->lock);
	kvfree(sn->table);
}

static struct pernet_operations qkd_sa_net_ops = {
	.init = qkd_sa_net_init,
	.exit = qkd_sa_net_exit,
	.id = &qkd_sa_net_id,
	.size = sizeof(struct qkd_sa_net),
};

int qkd_xfrm_sa_init(void)
{
	int err = register_pernet_subsys(&qkd_sa_net_ops);

	if (!err)
		xfrm_register_km(&qkd_sa_km);
	return err;
}

/* Deletes every SA installed here, in every netns. */
void qkd_xfrm_sa_exit(void)
{
	xfrm_unregister_km(&qkd_sa_km);	/* waits for notifiers in flight */
	unregister_pernet_subsys(&qkd_sa_net_ops);
}
