// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for wg_nl.c: the SET_DEVICE request wg_nl_set_psk() sends has
 * the layout of <linux/wireguard.h> (checked attribute by attribute with
 * libmnl, not with our parser alone), parses back to the same peer and
 * PSK, and the GET_DEVICE parser folds a dump's messages, ignores other
 * peers and refuses malformed attributes without changing its output.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>

#include "apps/wireguard/wg_nl.h"

#define FAMILY	0x1d

static const uint8_t PUB[WG_KEY_LEN] = { 0xaa, 1, 2, 3 };
static const uint8_t OTHER[WG_KEY_LEN] = { 0xbb, 9 };
static const uint8_t PSK[WG_KEY_LEN] = { 0x11, 0x22, 0x33, [31] = 0x44 };

static void test_set_layout(void **state)
{
	uint32_t buf[WG_NL_SET_BUF / 4];
	struct nlmsghdr *nlh = wg_nl_build_set_psk(buf, FAMILY, "wg0", PUB,
						   PSK);
	const struct genlmsghdr *g;
	const struct nlattr *a, *peer, *p;
	int n_top = 0, n_peer = 0;

	assert_non_null(nlh);
	assert_true(nlh->nlmsg_len <= WG_NL_SET_BUF);
	assert_int_equal(nlh->nlmsg_type, FAMILY);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	g = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(g->cmd, WG_CMD_SET_DEVICE);
	assert_int_equal(g->version, WG_GENL_VERSION);
	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		n_top++;
		if (mnl_attr_get_type(a) == WGDEVICE_A_IFNAME) {
			assert_string_equal(mnl_attr_get_str(a), "wg0");
			continue;
		}
		assert_int_equal(mnl_attr_get_type(a), WGDEVICE_A_PEERS);
		mnl_attr_for_each_nested(peer, a) {
			n_peer++;
			mnl_attr_for_each_nested(p, peer) {
				switch (mnl_attr_get_type(p)) {
				case WGPEER_A_PUBLIC_KEY:
					assert_memory_equal(mnl_attr_get_payload(p), PUB, WG_KEY_LEN);
					break;
				case WGPEER_A_PRESHARED_KEY:
					assert_memory_equal(mnl_attr_get_payload(p), PSK, WG_KEY_LEN);
					break;
				case WGPEER_A_FLAGS:
					assert_int_equal(mnl_attr_get_u32(p), WGPEER_F_UPDATE_ONLY);
					break;
				default:
					fail_msg("unexpected peer attribute %u",
						 mnl_attr_get_type(p));
				}
			}
		}
	}
	assert_int_equal(n_top, 2);
	assert_int_equal(n_peer, 1);
	assert_null(wg_nl_build_set_psk(buf, FAMILY, "a-name-far-too-long",
					PUB, PSK));
}

static void test_set_parses_back(void **state)
{
	uint32_t buf[WG_NL_SET_BUF / 4];
	struct nlmsghdr *nlh = wg_nl_build_set_psk(buf, FAMILY, "wg0", PUB,
						   PSK);
	struct wg_nl_peer out = { 0 };
	uint8_t psk[WG_KEY_LEN] = { 0 };

	assert_int_equal(wg_nl_parse_device(nlh, PUB, &out, psk), 0);
	assert_true(out.found && out.has_psk);
	assert_memory_equal(psk, PSK, WG_KEY_LEN);
	memset(&out, 0, sizeof(out));
	assert_int_equal(wg_nl_parse_device(nlh, OTHER, &out, NULL), 0);
	assert_false(out.found);
}

/* A GET_DEVICE answer message: device attributes if @first, then peers. */
static struct nlmsghdr *answer(void *buf, bool first,
			       const uint8_t *const *pubs, int n,
			       uint16_t pub_len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	struct __kernel_timespec ts = { .tv_sec = 1700000000 };
	struct nlattr *peers, *peer;
	static const uint8_t zero[WG_KEY_LEN];

	g->cmd = WG_CMD_GET_DEVICE;
	if (first) {
		mnl_attr_put_u32(nlh, WGDEVICE_A_IFINDEX, 7);
		mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wg0");
		mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, OTHER);
	}
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	for (int i = 0; i < n; i++) {
		peer = mnl_attr_nest_start(nlh, (uint16_t)i);
		mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, pub_len, pubs[i]);
		mnl_attr_put(nlh, WGPEER_A_PRESHARED_KEY, WG_KEY_LEN,
			     i ? PSK : zero);
		mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(ts),
			     &ts);
		mnl_attr_put_u64(nlh, WGPEER_A_RX_BYTES, 1000 + i);
		mnl_attr_nest_end(nlh, peer);
	}
	mnl_attr_nest_end(nlh, peers);
	return nlh;
}

static void test_get_dump(void **state)
{
	uint32_t b1[256], b2[256];
	const uint8_t *first[] = { OTHER }, *second[] = { OTHER, PUB };
	struct wg_nl_peer out = { 0 };

	assert_int_equal(wg_nl_parse_device(answer(b1, true, first, 1,
						   WG_KEY_LEN), PUB, &out,
					    NULL), 0);
	assert_int_equal(out.ifindex, 7);
	assert_false(out.found);
	assert_int_equal(wg_nl_parse_device(answer(b2, false, second, 2,
						   WG_KEY_LEN), PUB, &out,
					    NULL), 0);
	assert_true(out.found && out.has_psk);
	assert_int_equal(out.ifindex, 7);
	/* The same peer again in a later message: malformed. */
	assert_int_equal(wg_nl_parse_device(answer(b2, false, second, 2,
						   WG_KEY_LEN), PUB, &out,
					    NULL), -EPROTO);
}

static void test_get_malformed(void **state)
{
	uint32_t b[256];
	const uint8_t *pubs[] = { PUB };
	struct wg_nl_peer out = { .ifindex = 5 };
	struct nlmsghdr *nlh;

	/* A 31-byte public key: refused, @out untouched. */
	nlh = answer(b, true, pubs, 1, WG_KEY_LEN - 1);
	assert_int_equal(wg_nl_parse_device(nlh, PUB, &out, NULL), -EPROTO);
	assert_int_equal(out.ifindex, 5);
	assert_false(out.found);
	/* No genetlink header at all. */
	nlh = mnl_nlmsg_put_header(b);
	assert_int_equal(wg_nl_parse_device(nlh, PUB, &out, NULL), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_layout),
		cmocka_unit_test(test_set_parses_back),
		cmocka_unit_test(test_get_dump),
		cmocka_unit_test(test_get_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
