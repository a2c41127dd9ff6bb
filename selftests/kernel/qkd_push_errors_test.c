// SPDX-License-Identifier: GPL-2.0
/*
 * Push ends (QKD_CMD_PUSH_ADD, _PUSH_DEL, _BLOCK_PUSH): a pushed block is
 * a card's block to the pool (same key IDs, same bytes at both ends, the
 * same counters), and every bad request is refused with its errno and an
 * extack, changing nothing: bad lengths, a duplicate or older block ID,
 * an ID past QKD_BLOCK_ID_MAX, a push to an end with a card, an end that
 * is down, an unprivileged caller.  The request is wiped on every path:
 * an error ack that echoes it (no NETLINK_CAP_ACK) holds no key byte.  A
 * push end goes away with its namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "qkd_test.h"

#define BLOCK		256
#define LINK_ID		9001
#define UNPRIV_UID	65534	/* nobody */

static struct qkd_sock s;
static struct qkd_link tx, rx;
static uint8_t blocks[8][BLOCK];

static void fill_blocks(void)
{
	for (unsigned int b = 0; b < 8; b++)
		for (unsigned int i = 0; i < BLOCK; i++)
			blocks[b][i] = (uint8_t)(0x5a ^ (b * 37 + i * 11 + (i >> 3)));
}

static bool expect(int err, int want, const char *what)
{
	return ktap_ok(err == want && (want == 0 || s.ext_msg[0]),
		       "%s -> %s%s (got %s, \"%s\")", what, strerr(want),
		       want ? " with extack" : "", strerr(err), err ? s.ext_msg : "");
}

static uint64_t stat_of(uint32_t index, int stat)
{
	uint64_t v = 0;

	link_stat(&s, index, stat, &v);
	return v;
}

/* ---- a pushed block is a card's block ---- */

static void test_add(void)
{
	struct qkd_link l;

	ktap_ok(qkd_push_add(&s, LINK_ID, QKD_ROLE_TX, BLOCK, 64, &tx) == 0 &&
		qkd_push_add(&s, LINK_ID, QKD_ROLE_RX, BLOCK, 64, &rx) == 0,
		"PUSH_ADD both ends of link %u (%s)", LINK_ID, s.ext_msg);
	ktap_ok(qkd_link_get(&s, tx.index, &l) == 0 && l.type == QKD_LINK_TYPE_PUSH &&
		l.state == QKD_LINK_UP && l.block_size == BLOCK && l.capacity == 64 &&
		l.role == QKD_ROLE_TX && l.id == LINK_ID,
		"LINK_GET: type push, up, block size %u, capacity 64", BLOCK);
	expect(qkd_push_add(&s, LINK_ID, QKD_ROLE_TX, BLOCK, 64, &l), -EEXIST,
	       "PUSH_ADD a second TX end of the link");
}

static void test_keys(void)
{
	struct qkd_key k[2], got;
	bool ok = true;

	for (unsigned int b = 0; b < 4; b++)
		ok &= qkd_block_push(&s, tx.index, b, blocks[b], BLOCK) == 0 &&
		      qkd_block_push(&s, rx.index, b, blocks[b], BLOCK) == 0;
	ktap_ok(ok, "BLOCK_PUSH blocks 0..3 to both ends (%s)", s.ext_msg);
	ktap_ok(stat_of(tx.index, QKD_STAT_BLOCKS_RECEIVED) == 4 &&
		stat_of(rx.index, QKD_STAT_BYTES_RECEIVED) == 4 * BLOCK,
		"counted as received blocks and bytes");

	/* TX allocates from even blocks, RX fetches the same bytes by ID. */
	ok = qkd_key_alloc(&s, tx.index, 32, 2, 0, k) == 2;
	ktap_ok(ok && k[0].id == 0 && k[1].id == 32 &&
		!memcmp(k[0].material, blocks[0], 32) &&
		!memcmp(k[1].material, blocks[0] + 32, 32),
		"KEY_ALLOC at TX: key IDs 0 and 32, the pushed bytes of block 0");
	ok = qkd_key_get(&s, rx.index, 32, 32, &got) == 0;
	ktap_ok(ok && !memcmp(got.material, blocks[0] + 32, 32),
		"KEY_GET at RX of key 32: the same bytes");
	ok = qkd_key_alloc(&s, rx.index, 16, 1, 0, k) == 1;
	ktap_ok(ok && k[0].id == (1ULL << QKD_KEY_ID_OFFSET_BITS) &&
		!memcmp(k[0].material, blocks[1], 16),
		"KEY_ALLOC at RX: from odd block 1");

	/* A gap in the IDs is counted as for a card. */
	ktap_ok(qkd_block_push(&s, tx.index, 6, blocks[6], BLOCK) == 0 &&
		stat_of(tx.index, QKD_STAT_BLOCKS_MISSED) == 2,
		"a push skipping IDs 4 and 5 counts 2 missed blocks");
	ktap_ok(qkd_block_push(&s, tx.index, 7, blocks[7], 100) == 0,
		"a short block (100 of %u bytes) is taken", BLOCK);
}

/* ---- refused pushes change nothing ---- */

static void refused(struct nlmsghdr *nlh, int want, const char *what)
{
	struct qkd_link before, after;
	int err;

	qkd_link_get(&s, tx.index, &before);
	err = qkd_request(&s, nlh, NULL, NULL);
	expect(err, want, what);
	qkd_link_get(&s, tx.index, &after);
	ktap_ok(before.blocks == after.blocks && before.avail == after.avail &&
		!memcmp(before.stats, after.stats, sizeof(before.stats)),
		"%s: pool and counters unchanged", what);
}

static struct nlmsghdr *push_req(void *buf, uint32_t index, uint64_t id, uint32_t len)
{
	struct nlmsghdr *nlh = qkd_msg(&s, buf, QKD_CMD_BLOCK_PUSH, 0);
	static uint8_t zero[BLOCK + 1];

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u64(nlh, QKD_A_BLOCK_ID, id);
	mnl_attr_put(nlh, QKD_A_KEY_MATERIAL, len, zero);
	return nlh;
}

static void test_bad_push(struct pair *card)
{
	char buf[4096];
	struct nlmsghdr *nlh;

	refused(push_req(buf, tx.index, 8, BLOCK + 1), -EINVAL,
		"BLOCK_PUSH of block size + 1 bytes");
	refused(push_req(buf, tx.index, 8, 0), -EINVAL, "BLOCK_PUSH of 0 bytes");
	refused(push_req(buf, tx.index, 7, BLOCK), -EEXIST, "BLOCK_PUSH of a duplicate block ID");
	refused(push_req(buf, tx.index, 3, BLOCK), -EEXIST, "BLOCK_PUSH of an older block ID");
	refused(push_req(buf, tx.index, QKD_BLOCK_ID_MAX + 1, BLOCK), -ERANGE,
		"BLOCK_PUSH of block ID QKD_BLOCK_ID_MAX + 1");
	refused(push_req(buf, 0x7ffffff0, 8, BLOCK), -ENODEV, "BLOCK_PUSH to an unknown link");

	nlh = qkd_msg(&s, buf, QKD_CMD_BLOCK_PUSH, 0);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, tx.index);
	mnl_attr_put_u64(nlh, QKD_A_BLOCK_ID, 8);
	refused(nlh, -EINVAL, "BLOCK_PUSH without KEY_MATERIAL");

	nlh = push_req(buf, tx.index, 8, BLOCK);
	mnl_attr_put_u32(nlh, QKD_A_SA_SPI, 1);
	refused(nlh, -EINVAL, "BLOCK_PUSH with an attribute it does not take");

	nlh = push_req(buf, tx.index, 8, BLOCK);
	((struct nlattr *)mnl_nlmsg_get_payload_offset(nlh, GENL_HDRLEN))->nla_len = 6;
	refused(nlh, -EINVAL, "BLOCK_PUSH with a 2-byte LINK_INDEX");

	expect(qkd_block_push(&s, card->tx, 1000, blocks[0], 64), -EOPNOTSUPP,
	       "BLOCK_PUSH to an end with a card");
	expect(qkd_push_del(&s, card->tx), -EOPNOTSUPP, "PUSH_DEL of an end with a card");

	ktap_ok(qkd_link_set_state(&s, tx.index, QKD_LINK_DOWN) == 0, "LINK_SET push end down");
	refused(push_req(buf, tx.index, 8, BLOCK), -ENETDOWN, "BLOCK_PUSH to an end that is down");
	ktap_ok(qkd_link_set_state(&s, tx.index, QKD_LINK_UP) == 0 &&
		qkd_block_push(&s, tx.index, 8, blocks[0], BLOCK) == 0,
		"up again: pushes are taken");
}

static void test_bad_add(void)
{
	char buf[512];
	struct nlmsghdr *nlh;
	struct qkd_link l;
	int n = qkd_link_dump(&s, &l, 1);

	expect(qkd_push_add(&s, LINK_ID + 1, QKD_ROLE_TX, 8, 0, &l), -ERANGE,
	       "PUSH_ADD with block size 8");
	expect(qkd_push_add(&s, LINK_ID + 1, QKD_ROLE_TX, QKD_PUSH_BLOCK_SIZE_MAX + 1, 0, &l),
	       -ERANGE, "PUSH_ADD with block size QKD_PUSH_BLOCK_SIZE_MAX + 1");
	expect(qkd_push_add(&s, LINK_ID + 1, QKD_ROLE_TX, 65528, 65536, &l), -EINVAL,
	       "PUSH_ADD of a pool over QKD_PUSH_POOL_BYTES_MAX");
	expect(qkd_push_add(&s, LINK_ID + 1, 2, BLOCK, 0, &l), -ERANGE, "PUSH_ADD with role 2");

	nlh = qkd_msg(&s, buf, QKD_CMD_PUSH_ADD, 0);
	mnl_attr_put_u32(nlh, QKD_A_LINK_ID, LINK_ID + 1);
	mnl_attr_put_u32(nlh, QKD_A_LINK_BLOCK_SIZE, BLOCK);
	expect(qkd_request(&s, nlh, NULL, NULL), -EINVAL, "PUSH_ADD without ROLE");
	ktap_ok(qkd_link_dump(&s, &l, 1) == n, "no end was added by the refused PUSH_ADDs");
	expect(qkd_push_del(&s, 0x7ffffff0), -ENODEV, "PUSH_DEL of an unknown link");
}

/* ---- the request is wiped ---- */

static void test_echo_wiped(void)
{
	static uint8_t secret[BLOCK];
	int zero = 0, one = 1, err;

	for (unsigned int i = 0; i < BLOCK; i++)
		secret[i] = (uint8_t)(0xc3 ^ (i * 7));
	/* Full acks: an error echoes the whole request back. */
	mnl_socket_setsockopt(s.nl, NETLINK_CAP_ACK, &zero, sizeof(zero));
	memset(s.buf, 0, s.buf_size);
	err = qkd_block_push(&s, tx.index, 7, secret, BLOCK);	/* duplicate ID */
	ktap_ok(err == -EEXIST && !memmem(s.buf, s.buf_size, secret, 32),
		"the error ack's echo of a refused BLOCK_PUSH holds no key byte (%s)",
		strerr(err));
	memset(s.buf, 0, s.buf_size);
	err = qkd_block_push(&s, tx.index, 9, secret, 17);
	mnl_socket_setsockopt(s.nl, NETLINK_CAP_ACK, &one, sizeof(one));
	ktap_ok(err == 0, "a good BLOCK_PUSH is acked (%s)", strerr(err));
}

/* ---- permissions ---- */

static int unprivileged_child(void)
{
	struct qkd_sock u;
	struct qkd_link l;
	int bad = 0;

	if (setgroups(0, NULL) || setresgid(UNPRIV_UID, UNPRIV_UID, UNPRIV_UID) ||
	    setresuid(UNPRIV_UID, UNPRIV_UID, UNPRIV_UID) || qkd_open(&u, NULL))
		return 0xff;
	if (qkd_push_add(&u, LINK_ID + 2, QKD_ROLE_TX, BLOCK, 0, &l) != -EPERM)
		bad |= 1;
	if (qkd_block_push(&u, tx.index, 100, blocks[0], BLOCK) != -EPERM)
		bad |= 2;
	if (qkd_push_del(&u, tx.index) != -EPERM)
		bad |= 4;
	qkd_close(&u);
	return bad;
}

static void test_unprivileged(void)
{
	static const char *const names[] = { "PUSH_ADD", "BLOCK_PUSH", "PUSH_DEL" };
	int status = 0, bad;
	pid_t pid = fork();

	if (pid == 0)
		_exit(unprivileged_child());
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) == 0xff) {
		ktap_ok(false, "unprivileged child ran");
		return;
	}
	bad = WEXITSTATUS(status);
	for (int i = 0; i < 3; i++)
		ktap_ok(!(bad & (1 << i)), "unprivileged %s -> -EPERM", names[i]);
}

/* ---- lifetime ---- */

static bool link_id_present(uint32_t id)
{
	struct qkd_link all[64];
	int n = qkd_link_dump(&s, all, 64);

	for (int i = 0; i < n && i < 64; i++)
		if (all[i].id == id)
			return true;
	return false;
}

static void test_netns_gone(void)
{
	struct qkd_sock ns;
	struct qkd_link l;
	bool made;

	if (system("ip netns del qkdpush 2>/dev/null; ip netns add qkdpush")) {
		ktap_ok(false, "ip netns add qkdpush");
		return;
	}
	made = qkd_open(&ns, "/run/netns/qkdpush") == 0 &&
	       qkd_push_add(&ns, LINK_ID + 3, QKD_ROLE_RX, BLOCK, 0, &l) == 0;
	ktap_ok(made && !link_id_present(LINK_ID + 3),
		"a push end made in another namespace is not seen here");
	if (made)
		qkd_close(&ns);
	if (system("ip netns del qkdpush"))
		ktap_diag("could not delete netns qkdpush");
	/* The namespace is cleaned up asynchronously. */
	for (int i = 0; i < 100 && !link_id_present(LINK_ID + 3); i++) {
		char path[64];

		snprintf(path, sizeof(path), "/sys/class/qkd/qkd%u", l.index);
		if (access(path, F_OK))
			break;
		sleep_ms(100);
	}
	ktap_ok(!link_id_present(LINK_ID + 3) &&
		access("/sys/devices/qkd_push", F_OK) == 0,
		"its namespace gone, the push end is gone (not moved to init_net)");
	{
		char path[64];

		snprintf(path, sizeof(path), "/sys/class/qkd/qkd%u", l.index);
		ktap_ok(access(path, F_OK) != 0, "and so is %s", path);
	}
}

int main(void)
{
	struct pair card;

	ktap_start(0);
	fill_blocks();
	if (!ktap_ok(qkd_open(&s, NULL) == 0, "open a qkd socket"))
		return ktap_finish();
	if (!ktap_ok(pair_create(&card, 7, 107, 1024, 64, 0, NULL) == 0, "create a card pair"))
		return ktap_finish();
	test_add();
	test_keys();
	test_bad_push(&card);
	test_bad_add();
	test_echo_wiped();
	test_unprivileged();
	ktap_ok(qkd_push_del(&s, tx.index) == 0 && qkd_push_del(&s, rx.index) == 0,
		"PUSH_DEL both ends");
	ktap_ok(!link_id_present(LINK_ID), "the link is gone");
	expect(qkd_block_push(&s, tx.index, 100, blocks[0], BLOCK), -ENODEV,
	       "BLOCK_PUSH to a removed end");
	test_netns_gone();
	pair_destroy(&card);
	qkd_close(&s);
	return ktap_finish();
}
