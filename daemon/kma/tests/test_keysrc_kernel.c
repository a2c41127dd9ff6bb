// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests for keysrc_kernel.c's message building and parsing (qkd.ko
 * itself is only available in the VM).  Requests are taken apart with
 * libmnl's generic attribute walker and checked against uapi/linux/qkd.h;
 * replies are built here by hand, including malformed ones.
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

#include "kma/keysrc.h"

#define FAMILY	0x1d

static uint8_t buf[8192];

static const struct nlattr *find_attr(const struct nlmsghdr *nlh,
				      uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, GENL_HDRLEN)
		if (mnl_attr_get_type(a) == type)
			return a;
	return NULL;
}

static const struct genlmsghdr *genl(const struct nlmsghdr *nlh)
{
	return mnl_nlmsg_get_payload(nlh);
}

static void test_build_requests(void **state)
{
	const struct nlmsghdr *nlh = (const void *)buf;
	size_t n;

	n = keysrc_kernel_build_getfamily(buf, sizeof(buf), 7);
	assert_true(n > 0 && n == nlh->nlmsg_len);
	assert_int_equal(nlh->nlmsg_type, GENL_ID_CTRL);
	assert_int_equal(genl(nlh)->cmd, CTRL_CMD_GETFAMILY);
	assert_string_equal(mnl_attr_get_str(find_attr(nlh,
					     CTRL_ATTR_FAMILY_NAME)), "qkd");

	n = keysrc_kernel_build_link_dump(buf, sizeof(buf), FAMILY, 8);
	assert_int_equal(nlh->nlmsg_type, FAMILY);
	assert_true(nlh->nlmsg_flags & NLM_F_DUMP);
	assert_int_equal(genl(nlh)->cmd, QKD_CMD_LINK_GET);
	assert_int_equal(genl(nlh)->version, QKD_GENL_VERSION);
	assert_null(find_attr(nlh, QKD_A_LINK_INDEX));

	n = keysrc_kernel_build_key_alloc(buf, sizeof(buf), FAMILY, 9, 3, 32,
					  100);
	assert_true(n > 0);
	assert_int_equal(nlh->nlmsg_seq, 9);
	assert_int_equal(genl(nlh)->cmd, QKD_CMD_KEY_ALLOC);
	assert_int_equal(mnl_attr_get_u32(find_attr(nlh, QKD_A_LINK_INDEX)),
			 3);
	assert_int_equal(mnl_attr_get_u32(find_attr(nlh, QKD_A_KEY_LEN)), 32);
	assert_int_equal(mnl_attr_get_u32(find_attr(nlh, QKD_A_KEY_COUNT)),
			 100);
	assert_null(find_attr(nlh, QKD_A_KEY_FLAGS));

	n = keysrc_kernel_build_key_op(buf, sizeof(buf), FAMILY, 10,
				       QKD_CMD_KEY_GET, 3,
				       0x1234567890ull << 16 | 8, 16);
	assert_true(n > 0);
	assert_int_equal(genl(nlh)->cmd, QKD_CMD_KEY_GET);
	assert_true(mnl_attr_get_u64(find_attr(nlh, QKD_A_KEY_ID)) ==
		    (0x1234567890ull << 16 | 8));
	assert_int_equal(mnl_attr_get_payload_len(find_attr(nlh,
						  QKD_A_KEY_ID)), 8);
	n = keysrc_kernel_build_key_op(buf, sizeof(buf), FAMILY, 11,
				       QKD_CMD_KEY_DISCARD, 3, 1, 16);
	assert_int_equal(genl(nlh)->cmd, QKD_CMD_KEY_DISCARD);
	/* Only KEY_GET and KEY_DISCARD take this shape; tiny buffers fail. */
	assert_int_equal(keysrc_kernel_build_key_op(buf, sizeof(buf), FAMILY,
						    1, QKD_CMD_KEY_ALLOC, 3, 1,
						    16), 0);
	assert_int_equal(keysrc_kernel_build_key_alloc(buf, 16, FAMILY, 1, 3,
						       32, 1), 0);

	/* Generation control: LINK_SET of the state, LINK_GET of one end. */
	n = keysrc_kernel_build_link_set_state(buf, sizeof(buf), FAMILY, 12, 5,
					       QKD_LINK_DOWN);
	assert_true(n > 0 && n == nlh->nlmsg_len);
	assert_int_equal(genl(nlh)->cmd, QKD_CMD_LINK_SET);
	assert_true(nlh->nlmsg_flags & NLM_F_ACK);
	assert_int_equal(mnl_attr_get_u32(find_attr(nlh, QKD_A_LINK_INDEX)),
			 5);
	assert_int_equal(mnl_attr_get_payload_len(find_attr(nlh,
						  QKD_A_LINK_STATE)), 1);
	assert_int_equal(mnl_attr_get_u8(find_attr(nlh, QKD_A_LINK_STATE)),
			 QKD_LINK_DOWN);
	n = keysrc_kernel_build_link_set_state(buf, sizeof(buf), FAMILY, 13, 5,
					       QKD_LINK_UP);
	assert_int_equal(mnl_attr_get_u8(find_attr(nlh, QKD_A_LINK_STATE)),
			 QKD_LINK_UP);
	n = keysrc_kernel_build_link_get(buf, sizeof(buf), FAMILY, 14, 5);
	assert_true(n > 0);
	assert_int_equal(genl(nlh)->cmd, QKD_CMD_LINK_GET);
	assert_false(nlh->nlmsg_flags & NLM_F_DUMP);
	assert_int_equal(mnl_attr_get_u32(find_attr(nlh, QKD_A_LINK_INDEX)),
			 5);
	assert_int_equal(keysrc_kernel_build_link_get(buf, 16, FAMILY, 1, 5), 0);
	assert_int_equal(keysrc_kernel_build_link_set_state(buf, 16, FAMILY, 1,
							    5, 1), 0);
}

static struct nlmsghdr *reply(uint16_t type, uint8_t cmd)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	return nlh;
}

static void put_key(struct nlmsghdr *nlh, uint64_t id, uint32_t len,
		    const uint8_t *material, uint32_t material_len)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, QKD_A_KEY);

	mnl_attr_put_u64(nlh, QKD_A_KEY_ID, id);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, len);
	mnl_attr_put_u64(nlh, QKD_A_KEY_GEN_TIME, 1234);
	if (material)
		mnl_attr_put(nlh, QKD_A_KEY_MATERIAL, material_len, material);
	mnl_attr_nest_end(nlh, nest);
}

static void test_parse_keys(void **state)
{
	uint8_t m1[16], m2[16], out[3 * 16];
	struct keysrc_key keys[3];
	struct keysrc_kernel_keys kk = {
		.keys = keys, .bytes = out, .max = 2, .len = 16,
	};
	struct nlmsghdr *nlh;

	memset(m1, 0xaa, sizeof(m1));
	memset(m2, 0x55, sizeof(m2));
	nlh = reply(FAMILY, QKD_CMD_KEY_ALLOC);
	put_key(nlh, 100 << 16, 16, m1, 16);
	put_key(nlh, 100 << 16 | 16, 16, m2, 16);
	assert_int_equal(keysrc_kernel_parse_keys(nlh, &kk), 0);
	assert_int_equal(kk.n, 2);
	assert_true(keys[1].id == (100 << 16 | 16));
	assert_true(keys[0].gen_time_ns == 1234);
	assert_memory_equal(out, m1, 16);
	assert_memory_equal(out + 16, m2, 16);

	/* More keys than asked for. */
	kk.n = 0;
	kk.max = 1;
	assert_int_equal(keysrc_kernel_parse_keys(nlh, &kk), -EINVAL);
	/* Material of the wrong length, or none. */
	kk.n = 0;
	kk.max = 2;
	nlh = reply(FAMILY, QKD_CMD_KEY_GET);
	put_key(nlh, 1, 16, m1, 15);
	assert_int_equal(keysrc_kernel_parse_keys(nlh, &kk), -EINVAL);
	kk.n = 0;
	nlh = reply(FAMILY, QKD_CMD_KEY_GET);
	put_key(nlh, 1, 16, NULL, 0);
	assert_int_equal(keysrc_kernel_parse_keys(nlh, &kk), -EINVAL);
	/* A length other than requested. */
	kk.n = 0;
	nlh = reply(FAMILY, QKD_CMD_KEY_GET);
	put_key(nlh, 1, 8, m1, 8);
	assert_int_equal(keysrc_kernel_parse_keys(nlh, &kk), -EINVAL);
	/* A key ID attribute of the wrong size. */
	kk.n = 0;
	nlh = reply(FAMILY, QKD_CMD_KEY_GET);
	{
		struct nlattr *nest = mnl_attr_nest_start(nlh, QKD_A_KEY);

		mnl_attr_put_u32(nlh, QKD_A_KEY_ID, 1);
		mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, 16);
		mnl_attr_put(nlh, QKD_A_KEY_MATERIAL, 16, m1);
		mnl_attr_nest_end(nlh, nest);
	}
	assert_int_equal(keysrc_kernel_parse_keys(nlh, &kk), -EINVAL);
}

static void test_parse_link(void **state)
{
	struct keysrc_kernel_link l;
	struct nlmsghdr *nlh;

	nlh = reply(FAMILY, QKD_CMD_LINK_GET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, 4);
	mnl_attr_put_u32(nlh, QKD_A_LINK_ID, 7);
	mnl_attr_put_strz(nlh, QKD_A_LINK_NAME, "qkd_sim0");
	mnl_attr_put_u8(nlh, QKD_A_LINK_ROLE, QKD_ROLE_RX);
	mnl_attr_put_u8(nlh, QKD_A_LINK_STATE, QKD_LINK_UP);
	mnl_attr_put_u32(nlh, QKD_A_LINK_BLOCK_SIZE, 4096);
	mnl_attr_put_u64(nlh, QKD_A_POOL_AVAIL, 1 << 20);
	mnl_attr_put_u8(nlh, QKD_A_POOL_LEVEL, QKD_POOL_READY);
	assert_int_equal(keysrc_kernel_parse_link(nlh, &l), 0);
	assert_int_equal(l.index, 4);
	assert_int_equal(l.id, 7);
	assert_int_equal(l.role, QKD_ROLE_RX);
	assert_int_equal(l.state, QKD_LINK_UP);
	assert_int_equal(l.block_size, 4096);
	assert_true(l.has_avail && l.avail == 1 << 20);
	assert_true(l.has_level && l.level == QKD_POOL_READY);
	assert_false(l.has_qber || l.has_skr);

	/* QBER (ppm, u32) and SKR (bit/s, u64) as LINK_GET reports them. */
	mnl_attr_put_u32(nlh, QKD_A_LINK_QBER, 23456);
	mnl_attr_put_u64(nlh, QKD_A_LINK_SKR, 5000000000ull);
	assert_int_equal(keysrc_kernel_parse_link(nlh, &l), 0);
	assert_true(l.has_qber && l.qber_ppm == 23456);
	assert_true(l.has_skr && l.skr_bps == 5000000000ull);
	/* ... of the right sizes only. */
	nlh = reply(FAMILY, QKD_CMD_LINK_GET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, 4);
	mnl_attr_put_u32(nlh, QKD_A_LINK_SKR, 1);
	assert_int_equal(keysrc_kernel_parse_link(nlh, &l), -EINVAL);
	nlh = reply(FAMILY, QKD_CMD_LINK_GET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, 4);
	mnl_attr_put_u64(nlh, QKD_A_LINK_QBER, 1);
	assert_int_equal(keysrc_kernel_parse_link(nlh, &l), -EINVAL);

	/* An event with only some attributes. */
	nlh = reply(FAMILY, QKD_CMD_KEYS_AVAIL_NTF);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, 4);
	mnl_attr_put_u64(nlh, QKD_A_POOL_AVAIL, 99);
	assert_int_equal(keysrc_kernel_parse_link(nlh, &l), 0);
	assert_false(l.has_state);
	assert_false(l.has_level);
	assert_true(l.avail == 99);

	/* No index; a u32 where a u8 belongs. */
	nlh = reply(FAMILY, QKD_CMD_LINK_NTF);
	mnl_attr_put_u32(nlh, QKD_A_LINK_ID, 7);
	assert_int_equal(keysrc_kernel_parse_link(nlh, &l), -EINVAL);
	nlh = reply(FAMILY, QKD_CMD_LINK_NTF);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, 4);
	mnl_attr_put_u32(nlh, QKD_A_LINK_STATE, 1);
	assert_int_equal(keysrc_kernel_parse_link(nlh, &l), -EINVAL);
}

static void test_parse_family(void **state)
{
	struct keysrc_kernel_family f;
	struct nlattr *grps, *g;
	struct nlmsghdr *nlh;

	nlh = reply(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "qkd");
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, FAMILY);
	grps = mnl_attr_nest_start(nlh, CTRL_ATTR_MCAST_GROUPS);
	g = mnl_attr_nest_start(nlh, 1);
	mnl_attr_put_strz(nlh, CTRL_ATTR_MCAST_GRP_NAME, "link");
	mnl_attr_put_u32(nlh, CTRL_ATTR_MCAST_GRP_ID, 11);
	mnl_attr_nest_end(nlh, g);
	g = mnl_attr_nest_start(nlh, 2);
	mnl_attr_put_strz(nlh, CTRL_ATTR_MCAST_GRP_NAME, "pool");
	mnl_attr_put_u32(nlh, CTRL_ATTR_MCAST_GRP_ID, 12);
	mnl_attr_nest_end(nlh, g);
	mnl_attr_nest_end(nlh, grps);
	assert_int_equal(keysrc_kernel_parse_family(nlh, &f), 0);
	assert_int_equal(f.id, FAMILY);
	assert_int_equal(f.grp_link, 11);
	assert_int_equal(f.grp_pool, 12);

	/* A group without an ID. */
	nlh = reply(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, FAMILY);
	grps = mnl_attr_nest_start(nlh, CTRL_ATTR_MCAST_GROUPS);
	g = mnl_attr_nest_start(nlh, 1);
	mnl_attr_put_strz(nlh, CTRL_ATTR_MCAST_GRP_NAME, "link");
	mnl_attr_nest_end(nlh, g);
	mnl_attr_nest_end(nlh, grps);
	assert_int_equal(keysrc_kernel_parse_family(nlh, &f), -EINVAL);
	/* No family ID at all. */
	nlh = reply(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "qkd");
	assert_int_equal(keysrc_kernel_parse_family(nlh, &f), -EINVAL);
}

static void test_no_module_clear_error(void **state)
{
	char err[160] = "";

	/* On a host without qkd.ko: a clear reason, no crash. */
	struct keysrc *src = keysrc_kernel_new(NULL, 7, err, sizeof(err));

	if (src) {
		keysrc_free(src);
		skip();		/* the module is loaded here after all */
	}
	assert_true(strlen(err) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_requests),
		cmocka_unit_test(test_parse_keys),
		cmocka_unit_test(test_parse_link),
		cmocka_unit_test(test_parse_family),
		cmocka_unit_test(test_no_module_clear_error),
	};

	return cmocka_run_group_tests_name("keysrc_kernel", tests, NULL, NULL);
}
