// SPDX-License-Identifier: GPL-2.0
/*
 * WireGuard over generic netlink (wg_nl.h).  The GET_DEVICE parser is
 * strict about the attributes it reads and fuzzed (fuzz/fuzz_wg_nl.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <openssl/crypto.h>

#include "apps/wireguard/wg_nl.h"
#include "core/nl_request.h"

#define NL_BUF		32768
#define NL_TIMEOUT_S	2

struct wg_nl {
	struct nl_io io;
	uint16_t family;
	uint32_t seq;
	uint8_t *set_buf;	/* secure heap, WG_NL_SET_BUF: holds a PSK */
};

/* Answers are read one request at a time; the daemon has one thread. */
static uint8_t answer_buf[NL_BUF];

static int talk(struct wg_nl *nl, struct nlmsghdr *nlh, nl_parse_fn fn,
		void *data, const char *what, char *err, size_t errlen)
{
	int ret;

	nlh->nlmsg_seq = ++nl->seq;
	ret = nl_request(&nl->io, nlh, fn, data);
	if (ret < 0)
		snprintf(err, errlen, "%s: %s", what,
			 nl->io.extack[0] ? nl->io.extack : strerror(-ret));
	return ret;
}

static struct nlmsghdr *genl_start(void *buf, uint16_t family, uint8_t cmd,
				   uint8_t version, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = family;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

/* ---- the parser ---------------------------------------------------------- */

struct peer_scan {
	const uint8_t *want;
	struct wg_nl_peer found;
	uint8_t *psk;
	bool matched;
};

/* One peer nest; -1 if malformed. */
static int parse_peer(const struct nlattr *peer, struct peer_scan *s)
{
	const struct nlattr *a;
	const uint8_t *pub = NULL, *psk = NULL;
	static const uint8_t zero[WG_KEY_LEN];

	mnl_attr_for_each_nested(a, peer) {
		switch (mnl_attr_get_type(a)) {
		case WGPEER_A_PUBLIC_KEY:
			if (mnl_attr_get_payload_len(a) != WG_KEY_LEN)
				return -1;
			pub = mnl_attr_get_payload(a);
			break;
		case WGPEER_A_PRESHARED_KEY:
			if (mnl_attr_get_payload_len(a) != WG_KEY_LEN)
				return -1;
			psk = mnl_attr_get_payload(a);
			break;
		default:	/* allowed IPs, endpoint, ...: not ours */
			break;
		}
	}
	/* The kernel names every peer it lists. */
	if (!pub)
		return -1;
	if (memcmp(pub, s->want, WG_KEY_LEN))
		return 0;
	if (s->matched)		/* a peer listed twice */
		return -1;
	s->matched = true;
	s->found.found = true;
	s->found.has_psk = psk && CRYPTO_memcmp(psk, zero, WG_KEY_LEN) != 0;
	if (s->psk && psk)
		memcpy(s->psk, psk, WG_KEY_LEN);
	return 0;
}

int wg_nl_parse_device(const struct nlmsghdr *nlh,
		       const uint8_t pubkey[WG_KEY_LEN],
		       struct wg_nl_peer *out, uint8_t *psk)
{
	struct peer_scan s = { .want = pubkey, .found = *out, .psk = psk };
	const struct nlattr *a, *p;
	const char *name;
	size_t len;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr))
		return -EPROTO;
	/* A peer already found in an earlier message of the dump. */
	s.matched = out->found;
	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		switch (mnl_attr_get_type(a)) {
		case WGDEVICE_A_IFINDEX:
			if (mnl_attr_validate(a, MNL_TYPE_U32) < 0 ||
			    mnl_attr_get_u32(a) == 0)
				return -EPROTO;
			s.found.ifindex = mnl_attr_get_u32(a);
			break;
		case WGDEVICE_A_IFNAME:
			name = mnl_attr_get_payload(a);
			len = mnl_attr_get_payload_len(a);
			if (len == 0 || len > IFNAMSIZ ||
			    !memchr(name, '\0', len))
				return -EPROTO;
			break;
		case WGDEVICE_A_PEERS:
			mnl_attr_for_each_nested(p, a)
				if (parse_peer(p, &s) < 0)
					return -EPROTO;
			break;
		default:
			break;
		}
	}
	*out = s.found;
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

struct nlmsghdr *wg_nl_build_set_psk(void *buf, uint16_t family,
				     const char *ifname,
				     const uint8_t pubkey[WG_KEY_LEN],
				     const uint8_t psk[WG_KEY_LEN])
{
	struct nlmsghdr *nlh;
	struct nlattr *peers, *peer;
	size_t n = strlen(ifname);

	if (n == 0 || n >= IFNAMSIZ)
		return NULL;
	memset(buf, 0, WG_NL_SET_BUF);
	nlh = genl_start(buf, family, WG_CMD_SET_DEVICE, WG_GENL_VERSION,
			 NLM_F_ACK);
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, pubkey);
	mnl_attr_put(nlh, WGPEER_A_PRESHARED_KEY, WG_KEY_LEN, psk);
	/* Never re-create a peer the operator has removed. */
	mnl_attr_put_u32(nlh, WGPEER_A_FLAGS, WGPEER_F_UPDATE_ONLY);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	return nlh;
}

int wg_nl_set_psk(struct wg_nl *nl, const char *ifname,
		  const uint8_t pubkey[WG_KEY_LEN],
		  const uint8_t psk[WG_KEY_LEN], char *err, size_t errlen)
{
	struct nlmsghdr *nlh = wg_nl_build_set_psk(nl->set_buf, nl->family,
						   ifname, pubkey, psk);
	int ret;

	if (!nlh) {
		snprintf(err, errlen, "wireguard: bad interface name");
		return -EINVAL;
	}
	ret = talk(nl, nlh, NULL, NULL, "wireguard: set peer", err, errlen);
	OPENSSL_cleanse(nl->set_buf, WG_NL_SET_BUF);
	return ret;
}

struct get_arg {
	const uint8_t *pubkey;
	struct wg_nl_peer *out;
};

static int get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct get_arg *g = data;

	return wg_nl_parse_device(nlh, g->pubkey, g->out, NULL);
}

int wg_nl_get_peer(struct wg_nl *nl, const char *ifname,
		   const uint8_t pubkey[WG_KEY_LEN], struct wg_nl_peer *out,
		   char *err, size_t errlen)
{
	uint8_t buf[128];
	struct get_arg g = { .pubkey = pubkey, .out = out };
	struct nlmsghdr *nlh;

	memset(out, 0, sizeof(*out));
	nlh = genl_start(buf, nl->family, WG_CMD_GET_DEVICE, WG_GENL_VERSION,
			 NLM_F_ACK | NLM_F_DUMP);
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	return talk(nl, nlh, get_cb, &g, "wireguard: get device", err,
		    errlen);
}

/* ---- opening ------------------------------------------------------------ */

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

struct wg_nl *wg_nl_open(char *err, size_t errlen)
{
	uint8_t buf[128];
	struct wg_nl *nl = calloc(1, sizeof(*nl));
	struct nlmsghdr *nlh;
	int ret;

	if (!nl || !(nl->set_buf = OPENSSL_secure_zalloc(WG_NL_SET_BUF))) {
		snprintf(err, errlen, "wireguard: out of memory");
		wg_nl_close(nl);
		return NULL;
	}
	nl->io.rx = answer_buf;
	nl->io.rx_len = sizeof(answer_buf);
	nl->io.sock = nl_socket_open(NETLINK_GENERIC, NL_TIMEOUT_S);
	if (!nl->io.sock) {
		snprintf(err, errlen, "wireguard: netlink socket: %s",
			 strerror(errno));
		wg_nl_close(nl);
		return NULL;
	}
	nlh = genl_start(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_ACK);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	ret = talk(nl, nlh, family_cb, &nl->family, "wireguard: genl family",
		   err, errlen);
	if (ret == -ENOENT)
		snprintf(err, errlen,
			 "wireguard: no 'wireguard' genetlink family (modprobe wireguard)");
	if (ret < 0 || !nl->family) {
		if (ret == 0)
			snprintf(err, errlen,
				 "wireguard: genl family without ID");
		wg_nl_close(nl);
		return NULL;
	}
	return nl;
}

void wg_nl_close(struct wg_nl *nl)
{
	if (!nl)
		return;
	if (nl->io.sock)
		mnl_socket_close(nl->io.sock);
	OPENSSL_secure_clear_free(nl->set_buf, WG_NL_SET_BUF);
	free(nl);
}
