// SPDX-License-Identifier: GPL-2.0
/*
 * Acceptance 4: an unprivileged caller gets -EPERM on every command (LINK_GET
 * too: pool figures tell how much key a link has, issue 20); malformed requests are rejected with -EINVAL (or -ERANGE
 * where a policy range check is the natural place) and an extack message,
 * and leave the link unchanged.  A link index that names no end in the
 * caller's namespace is -ENODEV on every command that takes one, as for
 * QKD_CMD_SA_ADD and the "qkd" key type (issue 20).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "qkd_test.h"

#define BLOCK		1024
#define UNPRIV_UID	65534	/* nobody */
#define OK_EINVAL	(1 << 0)
#define OK_ERANGE	(1 << 1)
#define OK_ENODEV	(1 << 2)

static struct pair p;
static struct qkd_sock *s;

/* ---- unprivileged caller ---- */

enum { U_ALLOC, U_GET, U_DISCARD, U_SET, U_LINK_GET, U_COUNT };
static const char *const unpriv_names[U_COUNT] = {
	"KEY_ALLOC", "KEY_GET", "KEY_DISCARD", "LINK_SET", "LINK_GET",
};

/* Runs as nobody; returns a bit mask of the checks that failed. */
static int unprivileged_child(void)
{
	static struct qkd_key k;
	struct qkd_sock u;
	struct qkd_link l;
	int bad = 0;

	if (setgroups(0, NULL) || setresgid(UNPRIV_UID, UNPRIV_UID, UNPRIV_UID) ||
	    setresuid(UNPRIV_UID, UNPRIV_UID, UNPRIV_UID) || qkd_open(&u, NULL))
		return 0xff;
	if (qkd_key_alloc(&u, p.tx, 32, 1, 0, &k) != -EPERM)
		bad |= 1 << U_ALLOC;
	if (qkd_key_get(&u, p.rx, 0, 32, &k) != -EPERM)
		bad |= 1 << U_GET;
	if (qkd_key_discard(&u, p.rx, 0, 32) != -EPERM)
		bad |= 1 << U_DISCARD;
	if (qkd_link_set_state(&u, p.tx, QKD_LINK_UP) != -EPERM)
		bad |= 1 << U_SET;
	if (qkd_link_get(&u, p.tx, &l) != -EPERM || qkd_link_dump(&u, &l, 1) != -EPERM)
		bad |= 1 << U_LINK_GET;
	qkd_close(&u);
	return bad;
}

static void test_unprivileged(void)
{
	int status = 0, bad, i;
	pid_t pid = fork();

	if (pid == 0)
		_exit(unprivileged_child());
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
		ktap_ok(false, "unprivileged child ran");
		return;
	}
	bad = WEXITSTATUS(status);
	if (bad == 0xff) {
		ktap_ok(false, "drop to uid %d and open a qkd socket", UNPRIV_UID);
		return;
	}
	for (i = 0; i < U_COUNT; i++)
		ktap_ok(!(bad & (1 << i)), "unprivileged %s -> -EPERM", unpriv_names[i]);
}

/* ---- malformed requests ---- */

/* What must not change when a request is rejected. */
struct snapshot {
	struct qkd_link l;
	int links;
};

static void take(struct snapshot *snap)
{
	struct qkd_link all[64];

	memset(snap, 0, sizeof(*snap));
	qkd_link_get(s, p.tx, &snap->l);
	snap->links = qkd_link_dump(s, all, 64);
}

static bool same(const struct snapshot *a, const struct snapshot *b)
{
	return a->links == b->links && a->l.index == b->l.index && a->l.state == b->l.state &&
	       a->l.qber_max == b->l.qber_max && a->l.warn == b->l.warn &&
	       a->l.ready == b->l.ready && a->l.blocks == b->l.blocks &&
	       a->l.avail == b->l.avail &&
	       !memcmp(a->l.stats, b->l.stats, sizeof(a->l.stats));
}

/* Sends @nlh, expects the errnos in @ok_mask plus an extack, state unchanged. */
static void expect_reject(struct nlmsghdr *nlh, int ok_mask, const char *what)
{
	struct snapshot before, after;
	bool errno_ok;
	int err;

	take(&before);
	err = qkd_request(s, nlh, NULL, NULL);
	errno_ok = ((ok_mask & OK_EINVAL) && err == -EINVAL) ||
		   ((ok_mask & OK_ERANGE) && err == -ERANGE) ||
		   ((ok_mask & OK_ENODEV) && err == -ENODEV);
	ktap_ok(errno_ok && s->ext_msg[0], "%s -> %s with extack (got %s, \"%s\")", what,
		ok_mask & OK_ENODEV ? "-ENODEV" :
		ok_mask & OK_ERANGE ? "-EINVAL/-ERANGE" : "-EINVAL", strerr(err), s->ext_msg);
	take(&after);
	ktap_ok(same(&before, &after), "%s: link state unchanged", what);
}

static struct nlmsghdr *req(void *buf, uint8_t cmd)
{
	return qkd_msg(s, buf, cmd, 0);
}

static struct nlmsghdr *alloc_req(void *buf, uint32_t len, uint32_t count)
{
	struct nlmsghdr *nlh = req(buf, QKD_CMD_KEY_ALLOC);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p.tx);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, len);
	mnl_attr_put_u32(nlh, QKD_A_KEY_COUNT, count);
	return nlh;
}

/* KEY_GET or KEY_DISCARD of 32 bytes at key ID 0 of link end @index. */
static struct nlmsghdr *key_ref_req(void *buf, uint8_t cmd, uint32_t index)
{
	struct nlmsghdr *nlh = req(buf, cmd);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u64(nlh, QKD_A_KEY_ID, 0);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, 32);
	return nlh;
}

/* Every command naming a link end that is not in this namespace. */
static void test_unknown_link(char *buf)
{
	static const uint8_t dst[4] = { 192, 0, 2, 99 };
	struct nlmsghdr *nlh;

	nlh = req(buf, QKD_CMD_LINK_GET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, 0x7ffffff0);
	expect_reject(nlh, OK_ENODEV, "LINK_GET on an unknown link index");

	nlh = req(buf, QKD_CMD_LINK_SET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, 0x7ffffff0);
	mnl_attr_put_u8(nlh, QKD_A_LINK_STATE, QKD_LINK_UP);
	expect_reject(nlh, OK_ENODEV, "LINK_SET on an unknown link index");

	nlh = req(buf, QKD_CMD_KEY_ALLOC);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, 0x7ffffff0);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, 32);
	expect_reject(nlh, OK_ENODEV, "KEY_ALLOC on an unknown link index");

	expect_reject(key_ref_req(buf, QKD_CMD_KEY_GET, 0x7ffffff0), OK_ENODEV,
		      "KEY_GET on an unknown link index");
	expect_reject(key_ref_req(buf, QKD_CMD_KEY_DISCARD, 0x7ffffff0), OK_ENODEV,
		      "KEY_DISCARD on an unknown link index");

	nlh = req(buf, QKD_CMD_SA_ADD);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, 0x7ffffff0);
	mnl_attr_put_u64(nlh, QKD_A_KEY_ID, 0);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, QKD_SA_KEY_LEN_AES128);
	mnl_attr_put_u16(nlh, QKD_A_SA_FAMILY, AF_INET);
	mnl_attr_put(nlh, QKD_A_SA_SADDR, 4, dst);
	mnl_attr_put(nlh, QKD_A_SA_DADDR, 4, dst);
	mnl_attr_put_u32(nlh, QKD_A_SA_SPI, 0x7001);
	expect_reject(nlh, OK_ENODEV, "SA_ADD on an unknown link index");
}

static void test_malformed(void)
{
	char buf[512];
	struct nlmsghdr *nlh;
	int devnull;

	nlh = req(buf, QKD_CMD_KEY_ALLOC);
	mnl_attr_put_u8(nlh, QKD_A_LINK_INDEX, p.tx);	/* u32 expected */
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, 32);
	expect_reject(nlh, OK_EINVAL, "KEY_ALLOC with a 1-byte LINK_INDEX");

	nlh = req(buf, QKD_CMD_KEY_GET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p.rx);
	mnl_attr_put_u32(nlh, QKD_A_KEY_ID, 0);		/* u64 expected */
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, 32);
	expect_reject(nlh, OK_EINVAL, "KEY_GET with a 4-byte KEY_ID");

	expect_reject(alloc_req(buf, 16, QKD_KEY_COUNT_MAX + 1), OK_EINVAL | OK_ERANGE,
		      "KEY_ALLOC COUNT=QKD_KEY_COUNT_MAX+1");
	expect_reject(alloc_req(buf, 16, 0), OK_EINVAL | OK_ERANGE, "KEY_ALLOC COUNT=0");
	expect_reject(alloc_req(buf, 0, 1), OK_EINVAL | OK_ERANGE, "KEY_ALLOC LEN=0");
	expect_reject(alloc_req(buf, BLOCK + 1, 1), OK_EINVAL | OK_ERANGE,
		      "KEY_ALLOC LEN=block size+1");
	expect_reject(alloc_req(buf, BLOCK, QKD_KEY_ALLOC_MAX_BYTES / BLOCK + 1),
		      OK_EINVAL | OK_ERANGE, "KEY_ALLOC COUNT*LEN > QKD_KEY_ALLOC_MAX_BYTES");

	nlh = req(buf, QKD_CMD_KEY_ALLOC);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, 32);
	expect_reject(nlh, OK_EINVAL, "KEY_ALLOC without LINK_INDEX");

	nlh = req(buf, QKD_CMD_KEY_ALLOC);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p.tx);
	expect_reject(nlh, OK_EINVAL, "KEY_ALLOC without KEY_LEN");

	nlh = req(buf, QKD_CMD_KEY_GET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p.rx);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, 32);
	expect_reject(nlh, OK_EINVAL, "KEY_GET without KEY_ID");

	test_unknown_link(buf);

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	nlh = req(buf, QKD_CMD_LINK_SET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p.tx);
	mnl_attr_put_u32(nlh, QKD_A_NETNS_FD, devnull);
	expect_reject(nlh, OK_EINVAL, "LINK_SET NETNS_FD of /dev/null");
	close(devnull);

	nlh = req(buf, QKD_CMD_LINK_SET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p.tx);
	mnl_attr_put_u32(nlh, QKD_A_NETNS_FD, 1000000);
	expect_reject(nlh, OK_EINVAL, "LINK_SET NETNS_FD not open");

	nlh = alloc_req(buf, 32, 1);
	mnl_attr_put_u32(nlh, QKD_A_KEY_FLAGS, 1U << 7);
	expect_reject(nlh, OK_EINVAL, "KEY_ALLOC with an unknown flag");

	nlh = alloc_req(buf, 32, 1);
	mnl_attr_put_u32(nlh, QKD_A_MAX + 1, 1);
	expect_reject(nlh, OK_EINVAL, "KEY_ALLOC with an unknown attribute");

	nlh = req(buf, QKD_CMD_LINK_SET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p.tx);
	mnl_attr_put_u32(nlh, QKD_A_LINK_QBER_MAX, QKD_QBER_PPM_MAX + 1);
	expect_reject(nlh, OK_EINVAL | OK_ERANGE, "LINK_SET QBER_MAX above 100%");

	nlh = req(buf, QKD_CMD_LINK_SET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p.tx);
	mnl_attr_put_u32(nlh, QKD_A_LINK_QBER_MAX, 0);
	expect_reject(nlh, OK_EINVAL | OK_ERANGE, "LINK_SET QBER_MAX=0");

	/* Valid QBER_MAX together with a bad WARN/READY: nothing applied. */
	nlh = req(buf, QKD_CMD_LINK_SET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p.tx);
	mnl_attr_put_u32(nlh, QKD_A_LINK_QBER_MAX, 123456);
	mnl_attr_put_u64(nlh, QKD_A_POOL_WARN, 4096);
	mnl_attr_put_u64(nlh, QKD_A_POOL_READY, 1024);
	expect_reject(nlh, OK_EINVAL, "LINK_SET WARN > READY (with a valid QBER_MAX)");

	nlh = req(buf, QKD_CMD_LINK_SET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p.tx);
	mnl_attr_put_u8(nlh, QKD_A_LINK_STATE, 200);
	expect_reject(nlh, OK_EINVAL | OK_ERANGE, "LINK_SET STATE=200");

	nlh = req(buf, QKD_CMD_KEY_GET);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, p.rx);
	mnl_attr_put_u64(nlh, QKD_A_KEY_ID, 0);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, BLOCK + 1);
	expect_reject(nlh, OK_EINVAL | OK_ERANGE, "KEY_GET LEN=block size+1");
}

int main(void)
{
	ktap_start(0);
	/* Both ends stay in this netns and DOWN: nothing changes on its own. */
	if (!ktap_ok(pair_create(&p, 4, 104, BLOCK, 64, 0, NULL) == 0, "create pair"))
		return ktap_finish();
	s = &p.stx;
	test_unprivileged();
	test_malformed();
	pair_destroy(&p);
	return ktap_finish();
}
