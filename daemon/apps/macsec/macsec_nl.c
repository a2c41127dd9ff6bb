// SPDX-License-Identifier: GPL-2.0
/*
 * MACsec over netlink: the "macsec" genl family for SCs and SAs, rtnetlink
 * for the encoding SA (see macsec_nl.h).  The dump parser is strict and
 * fuzzed (fuzz/fuzz_macsec_nl.c).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <openssl/crypto.h>

#include "apps/macsec/macsec_nl.h"
#include "core/nl_request.h"

#define NL_BUF		32768
#define NL_TIMEOUT_S	2	/* a lost answer: give up after this */

struct macsec_nl {
	struct nl_io genl, rtnl;	/* both use answer_buf */
	uint16_t family;
	uint32_t seq;
};

/* Answers are read one request at a time; the daemon has one thread. */
static uint8_t answer_buf[NL_BUF];

uint32_t macsec_nl_cipher_key_len(uint64_t cipher)
{
	switch (cipher) {
	case MACSEC_CIPHER_ID_GCM_AES_128:
	case MACSEC_DEFAULT_CIPHER_ID:
		return 16;
	case MACSEC_CIPHER_ID_GCM_AES_256:
		return 32;
	}
	return 0;
}

/* ---- request / answer ------------------------------------------------- */

static int say(char *err, size_t errlen, int ret, const char *what,
	       const char *why)
{
	snprintf(err, errlen, "%s: %s", what, why ? why : strerror(-ret));
	return ret;
}

/*
 * Send @nlh and read answers until its ACK, error or dump end.  @fn sees
 * every data message; its first negative return is the result.  Errors
 * are described in @err, prefixed by @what.
 */
static int talk(struct macsec_nl *nl, struct nl_io *io, struct nlmsghdr *nlh,
		nl_parse_fn fn, void *data, const char *what, char *err,
		size_t errlen)
{
	int ret;

	nlh->nlmsg_seq = ++nl->seq;
	ret = nl_request(io, nlh, fn, data);
	if (ret < 0)
		say(err, errlen, ret, what, io->extack[0] ? io->extack : NULL);
	return ret;
}

static struct nlmsghdr *genl_start(struct macsec_nl *nl, void *buf,
				   uint16_t family, uint8_t cmd, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = family;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = MACSEC_GENL_VERSION;
	return nlh;
}

/* ---- opening ----------------------------------------------------------- */

static int family_cb(const struct nlmsghdr *h, void *data)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, h, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID &&
		    mnl_attr_validate(a, MNL_TYPE_U16) == 0) {
			*(uint16_t *)data = mnl_attr_get_u16(a);
			return 0;
		}
	}
	return -EPROTO;
}

static int open_io(struct nl_io *io, int bus)
{
	io->rx = answer_buf;
	io->rx_len = sizeof(answer_buf);
	io->sock = nl_socket_open(bus, NL_TIMEOUT_S);
	return io->sock ? 0 : -1;
}

struct macsec_nl *macsec_nl_open(char *err, size_t errlen)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
	struct macsec_nl *nl = calloc(1, sizeof(*nl));
	struct nlmsghdr *nlh;
	int ret;

	if (!nl) {
		snprintf(err, errlen, "macsec: out of memory");
		return NULL;
	}
	if (open_io(&nl->genl, NETLINK_GENERIC) ||
	    open_io(&nl->rtnl, NETLINK_ROUTE)) {
		snprintf(err, errlen, "macsec: netlink socket: %s",
			 strerror(errno));
		macsec_nl_close(nl);
		return NULL;
	}
	nlh = genl_start(nl, buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_ACK);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, MACSEC_GENL_NAME);
	ret = talk(nl, &nl->genl, nlh, family_cb, &nl->family,
		   "macsec: genl family", err, errlen);
	if (ret == -ENOENT)
		snprintf(err, errlen,
			 "macsec: no 'macsec' genetlink family (modprobe macsec)");
	if (ret < 0 || !nl->family) {
		if (ret == 0)
			snprintf(err, errlen, "macsec: genl family without ID");
		macsec_nl_close(nl);
		return NULL;
	}
	return nl;
}

void macsec_nl_close(struct macsec_nl *nl)
{
	if (!nl)
		return;
	if (nl->genl.sock)
		mnl_socket_close(nl->genl.sock);
	if (nl->rtnl.sock)
		mnl_socket_close(nl->rtnl.sock);
	free(nl);
}

/* ---- SCs and SAs -------------------------------------------------------- */

static struct nlmsghdr *sa_start(struct macsec_nl *nl, void *buf, uint8_t cmd,
				 uint32_t ifindex)
{
	struct nlmsghdr *nlh = genl_start(nl, buf, nl->family, cmd, NLM_F_ACK);

	mnl_attr_put_u32(nlh, MACSEC_ATTR_IFINDEX, ifindex);
	return nlh;
}

static void put_rxsc(struct nlmsghdr *nlh, uint64_t sci, int active)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, MACSEC_ATTR_RXSC_CONFIG);

	mnl_attr_put_u64(nlh, MACSEC_RXSC_ATTR_SCI, htobe64(sci));
	if (active >= 0)
		mnl_attr_put_u8(nlh, MACSEC_RXSC_ATTR_ACTIVE, (uint8_t)active);
	mnl_attr_nest_end(nlh, nest);
}

/* The SA config nest; @sa->key NULL for DEL / UPD. */
static void put_sa(struct nlmsghdr *nlh, const struct macsec_nl_sa_cfg *sa,
		   bool with_active)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, MACSEC_ATTR_SA_CONFIG);

	mnl_attr_put_u8(nlh, MACSEC_SA_ATTR_AN, sa->an);
	if (with_active)
		mnl_attr_put_u8(nlh, MACSEC_SA_ATTR_ACTIVE, sa->active);
	if (sa->key) {
		mnl_attr_put_u32(nlh, MACSEC_SA_ATTR_PN, sa->pn);
		mnl_attr_put(nlh, MACSEC_SA_ATTR_KEY, sa->key_len, sa->key);
		mnl_attr_put(nlh, MACSEC_SA_ATTR_KEYID, MACSEC_KEYID_LEN,
			     sa->keyid);
	}
	mnl_attr_nest_end(nlh, nest);
}

int macsec_nl_add_rxsc(struct macsec_nl *nl, uint32_t ifindex, uint64_t sci,
		       char *err, size_t errlen)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = sa_start(nl, buf, MACSEC_CMD_ADD_RXSC, ifindex);

	put_rxsc(nlh, sci, 1);
	return talk(nl, &nl->genl, nlh, NULL, NULL, "macsec: add rx sc", err,
		    errlen);
}

/* Its RX SAs go with it. */
int macsec_nl_del_rxsc(struct macsec_nl *nl, uint32_t ifindex, uint64_t sci,
		       char *err, size_t errlen)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = sa_start(nl, buf, MACSEC_CMD_DEL_RXSC, ifindex);

	put_rxsc(nlh, sci, -1);
	return talk(nl, &nl->genl, nlh, NULL, NULL, "macsec: del rx sc", err,
		    errlen);
}

/* ADD_TXSA / ADD_RXSA: the key is in the buffer only while it is sent. */
static int add_sa(struct macsec_nl *nl, uint8_t cmd, uint32_t ifindex,
		  const uint64_t *sci, const struct macsec_nl_sa_cfg *sa,
		  const char *what, char *err, size_t errlen)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int ret;

	if (!sa->key || sa->an >= MACSEC_NL_NUM_AN || !sa->pn ||
	    !sa->key_len || sa->key_len > MACSEC_MAX_KEY_LEN)
		return say(err, errlen, -EINVAL, what, "bad SA parameters");
	nlh = sa_start(nl, buf, cmd, ifindex);
	if (sci)
		put_rxsc(nlh, *sci, -1);
	put_sa(nlh, sa, true);
	ret = talk(nl, &nl->genl, nlh, NULL, NULL, what, err, errlen);
	OPENSSL_cleanse(buf, sizeof(buf));
	return ret;
}

int macsec_nl_add_txsa(struct macsec_nl *nl, uint32_t ifindex,
		       const struct macsec_nl_sa_cfg *sa, char *err,
		       size_t errlen)
{
	return add_sa(nl, MACSEC_CMD_ADD_TXSA, ifindex, NULL, sa,
		      "macsec: add tx sa", err, errlen);
}

int macsec_nl_add_rxsa(struct macsec_nl *nl, uint32_t ifindex, uint64_t sci,
		       const struct macsec_nl_sa_cfg *sa, char *err,
		       size_t errlen)
{
	return add_sa(nl, MACSEC_CMD_ADD_RXSA, ifindex, &sci, sa,
		      "macsec: add rx sa", err, errlen);
}

/* DEL_* and UPD_* of one SA: AN (+ ACTIVE for UPD). */
static int sa_op(struct macsec_nl *nl, uint8_t cmd, uint32_t ifindex,
		 const uint64_t *sci, uint8_t an, int active,
		 const char *what, char *err, size_t errlen)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
	struct macsec_nl_sa_cfg sa = { .an = an, .active = active > 0 };
	struct nlmsghdr *nlh;

	if (an >= MACSEC_NL_NUM_AN)
		return say(err, errlen, -EINVAL, what, "AN above 3");
	nlh = sa_start(nl, buf, cmd, ifindex);
	if (sci)
		put_rxsc(nlh, *sci, -1);
	put_sa(nlh, &sa, active >= 0);
	return talk(nl, &nl->genl, nlh, NULL, NULL, what, err, errlen);
}

int macsec_nl_del_txsa(struct macsec_nl *nl, uint32_t ifindex, uint8_t an,
		       char *err, size_t errlen)
{
	return sa_op(nl, MACSEC_CMD_DEL_TXSA, ifindex, NULL, an, -1,
		     "macsec: del tx sa", err, errlen);
}

int macsec_nl_del_rxsa(struct macsec_nl *nl, uint32_t ifindex, uint64_t sci,
		       uint8_t an, char *err, size_t errlen)
{
	return sa_op(nl, MACSEC_CMD_DEL_RXSA, ifindex, &sci, an, -1,
		     "macsec: del rx sa", err, errlen);
}

int macsec_nl_upd_txsa(struct macsec_nl *nl, uint32_t ifindex, uint8_t an,
		       bool active, char *err, size_t errlen)
{
	return sa_op(nl, MACSEC_CMD_UPD_TXSA, ifindex, NULL, an, active,
		     "macsec: update tx sa", err, errlen);
}

int macsec_nl_upd_rxsa(struct macsec_nl *nl, uint32_t ifindex, uint64_t sci,
		       uint8_t an, bool active, char *err, size_t errlen)
{
	return sa_op(nl, MACSEC_CMD_UPD_RXSA, ifindex, &sci, an, active,
		     "macsec: update rx sa", err, errlen);
}

int macsec_nl_set_encoding_sa(struct macsec_nl *nl, uint32_t ifindex,
			      uint8_t an, char *err, size_t errlen)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlattr *info, *data;
	struct ifinfomsg *ifi;

	if (an >= MACSEC_NL_NUM_AN)
		return say(err, errlen, -EINVAL, "macsec: encoding sa",
			   "AN above 3");
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "macsec");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u8(nlh, IFLA_MACSEC_ENCODING_SA, an);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return talk(nl, &nl->rtnl, nlh, NULL, NULL, "macsec: encoding sa", err,
		    errlen);
}

/* ---- the GET_TXSC dump -------------------------------------------------- */

#define MAX_ATTR	16	/* above every attribute type the parser knows */

/*
 * Index the attributes of a nest (or message) by type into @tb[0..max]:
 * types above @max are skipped, a known type twice is an error.
 */
struct index_ctx {
	const struct nlattr **tb;
	uint16_t max;
};

static int index_cb(const struct nlattr *a, void *data)
{
	struct index_ctx *c = data;
	uint16_t t = mnl_attr_get_type(a);

	if (t == 0 || t > c->max)
		return MNL_CB_OK;
	if (c->tb[t])
		return MNL_CB_ERROR;
	c->tb[t] = a;
	return MNL_CB_OK;
}

static int index_nest(const struct nlattr *nest, const struct nlattr **tb,
		      uint16_t max)
{
	struct index_ctx c = { tb, max };

	memset(tb, 0, (max + 1u) * sizeof(*tb));
	if (mnl_attr_validate(nest, MNL_TYPE_NESTED) < 0)
		return -EINVAL;
	return mnl_attr_parse_nested(nest, index_cb, &c) == MNL_CB_OK ?
	       0 : -EINVAL;
}

static bool u8_ok(const struct nlattr *a, uint8_t max, uint8_t *out)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U8) < 0 ||
	    mnl_attr_get_u8(a) > max)
		return false;
	*out = mnl_attr_get_u8(a);
	return true;
}

static bool sci_ok(const struct nlattr *a, uint64_t *out)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U64) < 0)
		return false;
	*out = be64toh(mnl_attr_get_u64(a));
	return true;
}

/* One SA nest of a TXSA or RXSA list into @sas[AN]. */
static int parse_sa(const struct nlattr *nest, struct macsec_nl_sa *sas)
{
	const struct nlattr *tb[MAX_ATTR + 1];
	struct macsec_nl_sa *sa;
	uint8_t an, active;
	uint16_t pn_len;

	if (index_nest(nest, tb, MACSEC_SA_ATTR_MAX) < 0 ||
	    !u8_ok(tb[MACSEC_SA_ATTR_AN], MACSEC_NL_NUM_AN - 1, &an) ||
	    !u8_ok(tb[MACSEC_SA_ATTR_ACTIVE], 1, &active) ||
	    !tb[MACSEC_SA_ATTR_PN] || !tb[MACSEC_SA_ATTR_KEYID] ||
	    mnl_attr_get_payload_len(tb[MACSEC_SA_ATTR_KEYID]) !=
	    MACSEC_KEYID_LEN)
		return -EINVAL;
	sa = &sas[an];
	if (sa->present)
		return -EINVAL;
	pn_len = mnl_attr_get_payload_len(tb[MACSEC_SA_ATTR_PN]);
	if (pn_len == 4)
		sa->next_pn = mnl_attr_get_u32(tb[MACSEC_SA_ATTR_PN]);
	else if (pn_len == 8)
		sa->next_pn = mnl_attr_get_u64(tb[MACSEC_SA_ATTR_PN]);
	else
		return -EINVAL;
	memcpy(sa->keyid, mnl_attr_get_payload(tb[MACSEC_SA_ATTR_KEYID]),
	       MACSEC_KEYID_LEN);
	sa->active = active;
	sa->present = true;
	return 0;
}

/* A list nest whose every member is an SA nest. */
static int parse_sa_list(const struct nlattr *list, struct macsec_nl_sa *sas)
{
	const struct nlattr *a;

	if (mnl_attr_validate(list, MNL_TYPE_NESTED) < 0)
		return -EINVAL;
	mnl_attr_for_each_nested(a, list)
		if (parse_sa(a, sas) < 0)
			return -EINVAL;
	return 0;
}

static int parse_rxsc(const struct nlattr *nest, struct macsec_nl_secy *out)
{
	const struct nlattr *tb[MAX_ATTR + 1];
	struct macsec_nl_rxsc *sc;
	uint8_t active;

	if (out->n_rxsc >= MACSEC_NL_MAX_RXSC ||
	    index_nest(nest, tb, MACSEC_RXSC_ATTR_MAX) < 0)
		return -EINVAL;
	sc = &out->rxsc[out->n_rxsc];
	memset(sc, 0, sizeof(*sc));
	if (!sci_ok(tb[MACSEC_RXSC_ATTR_SCI], &sc->sci) ||
	    !u8_ok(tb[MACSEC_RXSC_ATTR_ACTIVE], 1, &active))
		return -EINVAL;
	sc->active = active;
	if (tb[MACSEC_RXSC_ATTR_SA_LIST] &&
	    parse_sa_list(tb[MACSEC_RXSC_ATTR_SA_LIST], sc->sa) < 0)
		return -EINVAL;
	for (uint32_t i = 0; i < out->n_rxsc; i++)
		if (out->rxsc[i].sci == sc->sci)
			return -EINVAL;
	out->n_rxsc++;
	return 0;
}

static int parse_secy_nest(const struct nlattr *nest,
			   struct macsec_nl_secy *out)
{
	const struct nlattr *tb[MAX_ATTR + 1];
	uint8_t oper = 0;

	if (index_nest(nest, tb, MACSEC_SECY_ATTR_MAX) < 0 ||
	    !sci_ok(tb[MACSEC_SECY_ATTR_SCI], &out->sci) ||
	    !tb[MACSEC_SECY_ATTR_CIPHER_SUITE] ||
	    mnl_attr_validate(tb[MACSEC_SECY_ATTR_CIPHER_SUITE],
			      MNL_TYPE_U64) < 0 ||
	    !u8_ok(tb[MACSEC_SECY_ATTR_ENCODING_SA], MACSEC_NL_NUM_AN - 1,
		   &out->encoding_sa) ||
	    (tb[MACSEC_SECY_ATTR_OPER] &&
	     !u8_ok(tb[MACSEC_SECY_ATTR_OPER], 1, &oper)))
		return -EINVAL;
	out->cipher = mnl_attr_get_u64(tb[MACSEC_SECY_ATTR_CIPHER_SUITE]);
	out->oper = oper;
	return 0;
}

int macsec_nl_parse_secy(const struct nlmsghdr *nlh, struct macsec_nl_secy *out)
{
	const struct nlattr *tb[MAX_ATTR + 1] = { 0 };
	struct index_ctx c = { tb, MACSEC_ATTR_MAX };
	const struct genlmsghdr *g;
	const struct nlattr *a;

	memset(out, 0, sizeof(*out));
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)))
		return -EINVAL;
	g = mnl_nlmsg_get_payload(nlh);
	if (g->cmd != MACSEC_CMD_GET_TXSC ||
	    mnl_attr_parse(nlh, sizeof(*g), index_cb, &c) != MNL_CB_OK)
		return -EINVAL;
	if (!tb[MACSEC_ATTR_IFINDEX] ||
	    mnl_attr_validate(tb[MACSEC_ATTR_IFINDEX], MNL_TYPE_U32) < 0 ||
	    !tb[MACSEC_ATTR_SECY] ||
	    parse_secy_nest(tb[MACSEC_ATTR_SECY], out) < 0)
		return -EINVAL;
	out->ifindex = mnl_attr_get_u32(tb[MACSEC_ATTR_IFINDEX]);
	if (tb[MACSEC_ATTR_TXSA_LIST] &&
	    parse_sa_list(tb[MACSEC_ATTR_TXSA_LIST], out->txsa) < 0)
		return -EINVAL;
	if (tb[MACSEC_ATTR_RXSC_LIST]) {
		if (mnl_attr_validate(tb[MACSEC_ATTR_RXSC_LIST],
				      MNL_TYPE_NESTED) < 0)
			return -EINVAL;
		mnl_attr_for_each_nested(a, tb[MACSEC_ATTR_RXSC_LIST])
			if (parse_rxsc(a, out) < 0)
				return -EINVAL;
	}
	return 0;
}

struct get_ctx {
	uint32_t ifindex;
	struct macsec_nl_secy *out;
	bool found;
};

static int get_cb(const struct nlmsghdr *h, void *data)
{
	struct get_ctx *c = data;
	struct macsec_nl_secy secy;

	if (c->found)
		return 0;
	if (macsec_nl_parse_secy(h, &secy) < 0)
		return -EPROTO;
	if (secy.ifindex == c->ifindex) {
		*c->out = secy;
		c->found = true;
	}
	return 0;
}

int macsec_nl_get(struct macsec_nl *nl, uint32_t ifindex,
		  struct macsec_nl_secy *out, char *err, size_t errlen)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
	struct get_ctx c = { .ifindex = ifindex, .out = out };
	struct nlmsghdr *nlh = genl_start(nl, buf, nl->family,
					  MACSEC_CMD_GET_TXSC, NLM_F_DUMP);
	int ret;

	ret = talk(nl, &nl->genl, nlh, get_cb, &c, "macsec: dump", err, errlen);
	if (ret == -EPROTO)
		return say(err, errlen, ret, "macsec: dump",
			   "malformed answer");
	if (ret == 0 && !c.found)
		return say(err, errlen, -ENODEV, "macsec",
			   "not a macsec interface");
	return ret;
}
