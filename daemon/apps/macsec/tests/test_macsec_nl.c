// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for macsec_nl.c's GET_TXSC dump parser: messages shaped as
 * drivers/net/macsec.c (6.1) builds them, built here with libmnl, then
 * broken one way at a time.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>

#include "apps/macsec/macsec.h"
#include "apps/macsec/macsec_nl.h"

#define OUR_SCI		0x5254001234560001ull
#define PEER_SCI	0x5254001234570001ull

/* What to break in the message. */
enum breakage {
	GOOD,
	BAD_CMD,
	NO_SCI,
	AN_4,
	AN_TWICE,
	SHORT_KEYID,
	PN_3_BYTES,
	ACTIVE_2,
	RXSC_TOO_MANY,
	RXSC_SCI_TWICE,
	UNKNOWN_ATTR,		/* allowed: skipped */
	XPN_PN,			/* allowed: 8-byte PN */
};

static void put_sa(struct nlmsghdr *nlh, uint16_t idx, uint8_t an,
		   uint32_t pn, enum breakage br)
{
	struct nlattr *sa = mnl_attr_nest_start(nlh, idx), *st;
	uint8_t keyid[MACSEC_KEYID_LEN];
	uint64_t pn64 = pn;

	macsec_keyid(0x2a0000 + an, 32, keyid);
	st = mnl_attr_nest_start(nlh, MACSEC_SA_ATTR_STATS);
	mnl_attr_put_u32(nlh, 1, 0);
	mnl_attr_nest_end(nlh, st);
	mnl_attr_put_u8(nlh, MACSEC_SA_ATTR_AN, br == AN_4 ? 4 : an);
	if (br == PN_3_BYTES)
		mnl_attr_put(nlh, MACSEC_SA_ATTR_PN, 3, &pn);
	else if (br == XPN_PN)
		mnl_attr_put(nlh, MACSEC_SA_ATTR_PN, 8, &pn64);
	else
		mnl_attr_put(nlh, MACSEC_SA_ATTR_PN, 4, &pn);
	mnl_attr_put(nlh, MACSEC_SA_ATTR_KEYID,
		     br == SHORT_KEYID ? 15 : MACSEC_KEYID_LEN, keyid);
	mnl_attr_put_u8(nlh, MACSEC_SA_ATTR_ACTIVE, br == ACTIVE_2 ? 2 : 1);
	mnl_attr_nest_end(nlh, sa);
}

static void put_rxsc(struct nlmsghdr *nlh, uint16_t idx, uint64_t sci)
{
	struct nlattr *sc = mnl_attr_nest_start(nlh, idx), *list;

	mnl_attr_put_u8(nlh, MACSEC_RXSC_ATTR_ACTIVE, 1);
	mnl_attr_put_u64(nlh, MACSEC_RXSC_ATTR_SCI, htobe64(sci));
	list = mnl_attr_nest_start(nlh, MACSEC_RXSC_ATTR_SA_LIST);
	put_sa(nlh, 1, 1, 40, GOOD);
	put_sa(nlh, 2, 2, 7, GOOD);
	mnl_attr_nest_end(nlh, list);
	mnl_attr_nest_end(nlh, sc);
}

static struct nlmsghdr *build(uint8_t *buf, enum breakage br)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	struct nlattr *n;
	int n_rxsc = br == RXSC_TOO_MANY ? MACSEC_NL_MAX_RXSC + 1 : 1;

	nlh->nlmsg_type = 0x1c;
	g->cmd = br == BAD_CMD ? MACSEC_CMD_ADD_TXSA : MACSEC_CMD_GET_TXSC;
	g->version = 1;
	mnl_attr_put_u32(nlh, MACSEC_ATTR_IFINDEX, 7);
	n = mnl_attr_nest_start(nlh, MACSEC_ATTR_OFFLOAD);
	mnl_attr_put_u8(nlh, MACSEC_OFFLOAD_ATTR_TYPE, 0);
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, MACSEC_ATTR_SECY);
	if (br != NO_SCI)
		mnl_attr_put_u64(nlh, MACSEC_SECY_ATTR_SCI, htobe64(OUR_SCI));
	mnl_attr_put_u64(nlh, MACSEC_SECY_ATTR_CIPHER_SUITE,
			 MACSEC_CIPHER_ID_GCM_AES_256);
	mnl_attr_put_u8(nlh, MACSEC_SECY_ATTR_ICV_LEN, 16);
	mnl_attr_put_u8(nlh, MACSEC_SECY_ATTR_OPER, 1);
	mnl_attr_put_u8(nlh, MACSEC_SECY_ATTR_ENCODING_SA, 2);
	mnl_attr_nest_end(nlh, n);
	if (br == UNKNOWN_ATTR)
		mnl_attr_put_u32(nlh, 30, 1);
	n = mnl_attr_nest_start(nlh, MACSEC_ATTR_TXSA_LIST);
	put_sa(nlh, 1, 1, 99, GOOD);
	put_sa(nlh, 2, br == AN_TWICE ? 1 : 2, 1234, br);
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, MACSEC_ATTR_RXSC_LIST);
	for (int i = 0; i < n_rxsc; i++)
		put_rxsc(nlh, (uint16_t)(i + 1), PEER_SCI + (uint64_t)i);
	if (br == RXSC_SCI_TWICE)
		put_rxsc(nlh, 2, PEER_SCI);
	mnl_attr_nest_end(nlh, n);
	return nlh;
}

static void test_good_dump(void **state)
{
	uint8_t buf[8192] = { 0 };
	struct macsec_nl_secy s;
	uint8_t keyid[MACSEC_KEYID_LEN];

	assert_int_equal(macsec_nl_parse_secy(build(buf, GOOD), &s), 0);
	assert_int_equal(s.ifindex, 7);
	assert_true(s.sci == OUR_SCI);
	assert_true(s.cipher == MACSEC_CIPHER_ID_GCM_AES_256);
	assert_int_equal(s.encoding_sa, 2);
	assert_true(s.oper);
	assert_false(s.txsa[0].present);
	assert_true(s.txsa[1].present && s.txsa[2].present);
	assert_false(s.txsa[3].present);
	assert_true(s.txsa[2].next_pn == 1234 && s.txsa[2].active);
	macsec_keyid(0x2a0002, 32, keyid);
	assert_memory_equal(s.txsa[2].keyid, keyid, sizeof(keyid));
	assert_int_equal(s.n_rxsc, 1);
	assert_true(s.rxsc[0].sci == PEER_SCI && s.rxsc[0].active);
	assert_true(s.rxsc[0].sa[1].present && s.rxsc[0].sa[1].next_pn == 40);
	assert_false(s.rxsc[0].sa[3].present);
}

static void test_allowed_variants(void **state)
{
	uint8_t buf[8192] = { 0 };
	struct macsec_nl_secy s;

	assert_int_equal(macsec_nl_parse_secy(build(buf, UNKNOWN_ATTR), &s), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(macsec_nl_parse_secy(build(buf, XPN_PN), &s), 0);
	assert_true(s.txsa[2].next_pn == 1234);
}

static void test_rejects(void **state)
{
	static const enum breakage bad[] = {
		BAD_CMD, NO_SCI, AN_4, AN_TWICE, SHORT_KEYID, PN_3_BYTES,
		ACTIVE_2, RXSC_TOO_MANY, RXSC_SCI_TWICE,
	};
	uint8_t buf[8192];
	struct macsec_nl_secy s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(buf, 0, sizeof(buf));
		assert_int_equal(macsec_nl_parse_secy(build(buf, bad[i]), &s),
				 -EINVAL);
	}
}

/* A message cut short: every shorter length is refused or parses less. */
static void test_truncated(void **state)
{
	uint8_t buf[8192] = { 0 };
	struct nlmsghdr *nlh = build(buf, GOOD);
	uint32_t full = nlh->nlmsg_len;
	struct macsec_nl_secy s;

	nlh->nlmsg_len = sizeof(*nlh);
	assert_int_equal(macsec_nl_parse_secy(nlh, &s), -EINVAL);
	/* Cut inside the SecY nest: no SCI. */
	nlh->nlmsg_len = (uint32_t)mnl_nlmsg_size(sizeof(struct genlmsghdr)) + 20;
	assert_int_equal(macsec_nl_parse_secy(nlh, &s), -EINVAL);
	nlh->nlmsg_len = full;
	assert_int_equal(macsec_nl_parse_secy(nlh, &s), 0);
}

static void test_cipher_key_len(void **state)
{
	assert_int_equal(macsec_nl_cipher_key_len(MACSEC_CIPHER_ID_GCM_AES_128), 16);
	assert_int_equal(macsec_nl_cipher_key_len(MACSEC_DEFAULT_CIPHER_ID), 16);
	assert_int_equal(macsec_nl_cipher_key_len(MACSEC_CIPHER_ID_GCM_AES_256), 32);
	assert_int_equal(macsec_nl_cipher_key_len(MACSEC_CIPHER_ID_GCM_AES_XPN_256), 0);
}

/* KEYID: "QKD" 1, key ID and length big-endian; nothing else. */
static void test_keyid(void **state)
{
	static const uint8_t want[16] = {
		'Q', 'K', 'D', 1, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56,
		0, 0, 0, 32,
	};
	uint8_t keyid[16];

	macsec_keyid(0x123456, 32, keyid);
	assert_memory_equal(keyid, want, sizeof(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_dump),
		cmocka_unit_test(test_allowed_variants),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_cipher_key_len),
		cmocka_unit_test(test_keyid),
	};

	return cmocka_run_group_tests_name("macsec_nl", tests, NULL, NULL);
}
