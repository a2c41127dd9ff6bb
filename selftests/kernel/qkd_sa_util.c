// SPDX-License-Identifier: GPL-2.0
/*
 * Helper for the QKD-keyed xfrm SA selftests and the xfrm benchmark
 * (qkd_xfrm_test.sh, bench/xfrm/).  NETNS is a name under /run/netns or
 * "-" for the current namespace.
 *
 *   qkd_sa_util pair SIM_ID LINK_ID PREFIX BLOCK POOL RATE_BPS
 *	create qkd_simSIM_ID, ends in netns PREFIXtx / PREFIXrx, both up at
 *	RATE_BPS (0: as fast as possible); prints "TX_INDEX RX_INDEX"
 *   qkd_sa_util alloc NETNS INDEX LEN [reserve]
 *	KEY_ALLOC; prints "KEY_ID_HEX [MATERIAL_HEX]"
 *   qkd_sa_util drain NETNS INDEX LEN
 *	reserve LEN-byte keys until this end's share cannot supply one
 *	more (-ENOSPC); prints how many.  Empties a pool for the daemon's
 *	IPsec tests without any key byte leaving the kernel.
 *   qkd_sa_util sa-add NETNS NAME=VALUE...
 *	SA_ADD; names: link id len family(4|6) src dst spi mode
 *	(transport|tunnel) reqid replay soft-s hard-s soft-b hard-b mark
 *	mark-mask if-id sel-src sel-dst (ADDR/PLEN) sel-proto
 *   qkd_sa_util sa-del NETNS FAMILY DST SPI
 *	Both print "ERR -EXXX: extack message" and exit 1 on failure.
 *   qkd_sa_util bench NETNS INDEX COUNT SPI_BASE
 *	reserve COUNT 20-byte keys (in small batches), SA_ADD one transport
 *	SA per key (10.0.0.1 -> 10.128.0.0 + SPI, SPIs from SPI_BASE);
 *	prints "sa_add COUNT MS" (MS: the SA_ADDs only)
 *   qkd_sa_util probe NETNS COUNT SPI_BASE
 *	COUNT SA_ADDs of existing SPIs (duplicate check = xfrm state lookup,
 *	no key used); prints "probe COUNT MS"
 *   qkd_sa_util fetch NETNS TX RX LEN COUNT
 *	KEY_ALLOC COUNT keys of LEN bytes at TX in one reply, then KEY_GET
 *	each at RX: the kernel built a reply with their bytes at each end.
 *	Prints the key IDs only, and wipes every copy it received before it
 *	exits, so a scan of RAM afterwards finds only what the kernel kept.
 *   qkd_sa_util rekey NETNS TX RX COUNT HARD_S SPI_BASE
 *	one generation a second, COUNT times: reserve a 20-byte key at TX,
 *	SA_ADD 198.51.100.1 -> .2 at TX and .2 -> .1 at RX with it (SPI
 *	SPI_BASE + generation, hard lifetime HARD_S, no soft one), as a
 *	daemon rekeying every second would; prints each key ID
 *
 * Key material is printed only by "alloc" (the test compares it with the
 * SA's key and never echoes it) and recorded for the leak scan.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "qkd_test.h"

/* Keys reserved per KEY_ALLOC, used at once: never old enough to be evicted. */
#define BENCH_BATCH	256
/* Benchmark SA i goes to 10.128.0.0 + SPI: one peer per SA, as at a hub. */
#define BENCH_DST_BASE	0x0a800000

static const char *netns_path(const char *ns, char *buf, size_t size)
{
	if (!strcmp(ns, "-"))
		return NULL;
	snprintf(buf, size, "/run/netns/%s", ns);
	return buf;
}

static int open_ns(struct qkd_sock *s, const char *ns)
{
	char path[128];
	int err = qkd_open(s, netns_path(ns, path, sizeof(path)));

	if (err)
		fprintf(stderr, "cannot open a qkd socket in %s: %s\n", ns, strerr(err));
	return err;
}

static int fail(struct qkd_sock *s, int err)
{
	printf("ERR %s: %s\n", strerr(err), s->ext_msg);
	return 1;
}

static void print_hex(const uint8_t *p, size_t len)
{
	while (len--)
		printf("%02x", *p++);
}

static int cmd_pair(char **argv)
{
	struct pair p;
	int err;

	err = pair_create(&p, atoi(argv[0]), strtoul(argv[1], NULL, 0), atoi(argv[3]),
			  0, atoi(argv[4]), argv[2]);
	if (!err)
		err = pair_set_rate(&p, strtoull(argv[5], NULL, 0) ?: UINT64_MAX);
	if (!err)
		err = pair_up(&p);
	if (err) {
		fprintf(stderr, "pair: %s\n", strerr(err));
		return 1;
	}
	printf("%u %u\n", p.tx, p.rx);
	return 0;
}

static int cmd_alloc(char **argv, int argc)
{
	static struct qkd_key key;
	bool reserve = argc > 3 && !strcmp(argv[3], "reserve");
	struct qkd_sock s;
	int n;

	if (open_ns(&s, argv[0]))
		return 1;
	n = qkd_key_alloc(&s, atoi(argv[1]), atoi(argv[2]), 1,
			  reserve ? QKD_KEY_F_RESERVE : 0, &key);
	if (n != 1)
		return fail(&s, n < 0 ? n : -EIO);
	printf("%016llx", (unsigned long long)key.id);
	if (key.has_material) {
		putchar(' ');
		print_hex(key.material, key.len);
		qkd_record_key(key.material, key.len);
	}
	putchar('\n');
	qkd_close(&s);
	return 0;
}

static int cmd_drain(char **argv)
{
	static struct qkd_key key;
	struct qkd_sock s;
	unsigned long n = 0;
	int rc;

	if (open_ns(&s, argv[0]))
		return 1;
	while ((rc = qkd_key_alloc(&s, atoi(argv[1]), atoi(argv[2]), 1,
				   QKD_KEY_F_RESERVE, &key)) == 1)
		n++;
	if (rc != -ENOSPC)
		return fail(&s, rc < 0 ? rc : -EIO);
	printf("%lu\n", n);
	qkd_close(&s);
	return 0;
}

/* ADDR or ADDR/PLEN (IPv4 or IPv6, as written) into the attribute pair. */
static int put_addr(struct nlmsghdr *nlh, int attr, int plen_attr, const char *text)
{
	char buf[64], *slash;
	uint8_t addr[16];
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;

	snprintf(buf, sizeof(buf), "%s", text);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (inet_pton(family, buf, addr) != 1)
		return -EINVAL;
	mnl_attr_put(nlh, attr, family == AF_INET ? 4 : 16, addr);
	if (slash && plen_attr)
		mnl_attr_put_u8(nlh, plen_attr, atoi(slash));
	return 0;
}

struct u_attr {
	const char *name;
	int attr, size;		/* size 1/4/8: integer */
};

static const struct u_attr int_attrs[] = {
	{ "link", QKD_A_LINK_INDEX, 4 }, { "id", QKD_A_KEY_ID, 8 },
	{ "len", QKD_A_KEY_LEN, 4 }, { "spi", QKD_A_SA_SPI, 4 },
	{ "reqid", QKD_A_SA_REQID, 4 }, { "replay", QKD_A_SA_REPLAY_WINDOW, 4 },
	{ "soft-s", QKD_A_SA_SOFT_SECONDS, 8 }, { "hard-s", QKD_A_SA_HARD_SECONDS, 8 },
	{ "soft-b", QKD_A_SA_SOFT_BYTES, 8 }, { "hard-b", QKD_A_SA_HARD_BYTES, 8 },
	{ "mark", QKD_A_SA_MARK, 4 }, { "mark-mask", QKD_A_SA_MARK_MASK, 4 },
	{ "if-id", QKD_A_SA_IF_ID, 4 }, { "sel-proto", QKD_A_SA_SEL_PROTO, 1 },
	{ "fam16", QKD_A_SA_FAMILY, 2 },	/* raw family, for bad-input tests */
};

static int put_int(struct nlmsghdr *nlh, const char *name, const char *val)
{
	unsigned long long v = strtoull(val, NULL, 0);
	size_t i;

	for (i = 0; i < sizeof(int_attrs) / sizeof(int_attrs[0]); i++) {
		const struct u_attr *a = &int_attrs[i];

		if (strcmp(a->name, name))
			continue;
		switch (a->size) {
		case 1: mnl_attr_put_u8(nlh, a->attr, v); break;
		case 2: mnl_attr_put_u16(nlh, a->attr, v); break;
		case 4: mnl_attr_put_u32(nlh, a->attr, v); break;
		default: mnl_attr_put_u64(nlh, a->attr, v); break;
		}
		return 0;
	}
	return -ENOENT;
}

/* One NAME=VALUE of sa-add. */
static int put_sa_arg(struct nlmsghdr *nlh, int *family, const char *arg)
{
	char name[32];
	const char *val = strchr(arg, '=');

	if (!val || val - arg >= (int)sizeof(name))
		return -EINVAL;
	snprintf(name, sizeof(name), "%.*s", (int)(val - arg), arg);
	val++;
	if (!strcmp(name, "family")) {
		*family = atoi(val) == 6 ? AF_INET6 : AF_INET;
		mnl_attr_put_u16(nlh, QKD_A_SA_FAMILY, *family);
		return 0;
	}
	if (!strcmp(name, "mode")) {
		mnl_attr_put_u8(nlh, QKD_A_SA_MODE, !strcmp(val, "tunnel") ?
				QKD_SA_MODE_TUNNEL : QKD_SA_MODE_TRANSPORT);
		return 0;
	}
	if (!strcmp(name, "src"))
		return put_addr(nlh, QKD_A_SA_SADDR, 0, val);
	if (!strcmp(name, "dst"))
		return put_addr(nlh, QKD_A_SA_DADDR, 0, val);
	if (!strcmp(name, "sel-src"))
		return put_addr(nlh, QKD_A_SA_SEL_SADDR, QKD_A_SA_SEL_SPLEN, val);
	if (!strcmp(name, "sel-dst"))
		return put_addr(nlh, QKD_A_SA_SEL_DADDR, QKD_A_SA_SEL_DPLEN, val);
	return put_int(nlh, name, val);
}

static int cmd_sa_add(char **argv, int argc)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int family = AF_INET, err, i;
	struct nlmsghdr *nlh;
	struct qkd_sock s;

	if (open_ns(&s, argv[0]))
		return 1;
	nlh = qkd_msg(&s, buf, QKD_CMD_SA_ADD, 0);
	for (i = 1; i < argc; i++) {
		if (put_sa_arg(nlh, &family, argv[i])) {
			fprintf(stderr, "bad argument %s\n", argv[i]);
			return 2;
		}
	}
	err = qkd_request(&s, nlh, NULL, NULL);
	if (err)
		return fail(&s, err);
	qkd_close(&s);
	return 0;
}

static int cmd_sa_del(char **argv)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int family = atoi(argv[1]) == 6 ? AF_INET6 : AF_INET, err;
	struct nlmsghdr *nlh;
	struct qkd_sock s;

	if (open_ns(&s, argv[0]))
		return 1;
	nlh = qkd_msg(&s, buf, QKD_CMD_SA_DEL, 0);
	mnl_attr_put_u16(nlh, QKD_A_SA_FAMILY, family);
	if (put_addr(nlh, QKD_A_SA_DADDR, 0, argv[2]))
		return 2;
	mnl_attr_put_u32(nlh, QKD_A_SA_SPI, strtoul(argv[3], NULL, 0));
	err = qkd_request(&s, nlh, NULL, NULL);
	if (err)
		return fail(&s, err);
	qkd_close(&s);
	return 0;
}

/*
 * SA_ADD of one benchmark SA: 10.0.0.1 -> 10.128.0.0 + SPI, transport.
 * Distinct peers: SAs sharing (saddr, daddr, reqid) make every insert walk
 * all of them in xfrm's own __xfrm_state_bump_genids().
 */
static int bench_sa_add(struct qkd_sock *s, uint32_t index, uint64_t key_id,
			uint32_t spi)
{
	char buf[1024];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_SA_ADD, 0);
	uint32_t src = htonl(0x0a000001), dst = htonl(BENCH_DST_BASE + spi);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u64(nlh, QKD_A_KEY_ID, key_id);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, QKD_SA_KEY_LEN_AES128);
	mnl_attr_put_u16(nlh, QKD_A_SA_FAMILY, AF_INET);
	mnl_attr_put(nlh, QKD_A_SA_SADDR, 4, &src);
	mnl_attr_put(nlh, QKD_A_SA_DADDR, 4, &dst);
	mnl_attr_put_u32(nlh, QKD_A_SA_SPI, spi);
	mnl_attr_put_u32(nlh, QKD_A_SA_REQID, 1);
	return qkd_request(s, nlh, NULL, NULL);
}

static int cmd_bench(char **argv)
{
	static struct qkd_key keys[BENCH_BATCH];
	uint32_t index = atoi(argv[1]), count = atoi(argv[2]);
	uint32_t spi = strtoul(argv[3], NULL, 0), done = 0;
	uint64_t spent = 0, t;
	struct qkd_sock s;
	int n, i, err;

	if (open_ns(&s, argv[0]))
		return 1;
	while (done < count) {
		int want = count - done < BENCH_BATCH ? count - done : BENCH_BATCH;

		n = qkd_key_alloc(&s, index, QKD_SA_KEY_LEN_AES128, want,
				  QKD_KEY_F_RESERVE, keys);
		if (n == -ENOSPC) {	/* wait for the link */
			sleep_ms(50);
			continue;
		}
		if (n < 0)
			return fail(&s, n);
		t = now_ms();
		for (i = 0; i < n; i++) {
			err = bench_sa_add(&s, index, keys[i].id, spi + done + i);
			if (err) {
				printf("after %u SAs: ", done + i);
				return fail(&s, err);
			}
		}
		spent += now_ms() - t;
		done += n;
	}
	printf("sa_add %u %llu\n", count, (unsigned long long)spent);
	qkd_close(&s);
	return 0;
}

static int cmd_probe(char **argv)
{
	uint32_t count = atoi(argv[1]), spi = strtoul(argv[2], NULL, 0), i;
	struct qkd_sock s;
	uint64_t t;
	int err;

	if (open_ns(&s, argv[0]))
		return 1;
	t = now_ms();
	for (i = 0; i < count; i++) {
		err = bench_sa_add(&s, 1, 0, spi + i);
		if (err != -EEXIST)
			return fail(&s, err ? err : -EIO);
	}
	printf("probe %u %llu\n", count, (unsigned long long)(now_ms() - t));
	qkd_close(&s);
	return 0;
}

static int cmd_fetch(char **argv)
{
	uint32_t tx = atoi(argv[1]), rx = atoi(argv[2]), len = atoi(argv[3]);
	uint32_t count = atoi(argv[4]), i;
	static struct qkd_key keys[64], peer;
	struct qkd_sock s;
	int n = -EINVAL, err = 0, j;

	if (count > 64 || open_ns(&s, argv[0]))
		return 1;
	for (j = 0; j < 100; j++) {	/* the link may be starting */
		n = qkd_key_alloc(&s, tx, len, count, 0, keys);
		if (n != -ENOSPC)
			break;
		sleep_ms(50);
	}
	for (i = 0; n == (int)count && !err && i < count; i++) {
		for (j = 0; j < 60; j++) {	/* the peer's block in flight */
			err = qkd_key_get(&s, rx, keys[i].id, len, &peer);
			if (err != -ENOENT)
				break;
			sleep_ms(50);
		}
		if (!err && memcmp(peer.material, keys[i].material, len))
			err = -EBADMSG;
	}
	for (i = 0; n == (int)count && i < count; i++)
		printf("%016llx\n", (unsigned long long)keys[i].id);
	explicit_bzero(keys, sizeof(keys));
	explicit_bzero(&peer, sizeof(peer));
	explicit_bzero(s.buf, s.buf_size);
	if (n != (int)count || err)
		return fail(&s, n != (int)count ? (n < 0 ? n : -EIO) : err);
	qkd_close(&s);
	return 0;
}

/* One SA of a rekey generation: @fwd 198.51.100.1 -> .2, else back. */
static int rekey_sa_add(struct qkd_sock *s, uint32_t index, uint64_t key_id,
			uint32_t spi, bool fwd, uint64_t hard_s)
{
	char buf[1024];
	struct nlmsghdr *nlh = qkd_msg(s, buf, QKD_CMD_SA_ADD, 0);
	uint32_t a = htonl(0xc6336401), b = htonl(0xc6336402);

	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	mnl_attr_put_u64(nlh, QKD_A_KEY_ID, key_id);
	mnl_attr_put_u32(nlh, QKD_A_KEY_LEN, QKD_SA_KEY_LEN_AES128);
	mnl_attr_put_u16(nlh, QKD_A_SA_FAMILY, AF_INET);
	mnl_attr_put(nlh, QKD_A_SA_SADDR, 4, fwd ? &a : &b);
	mnl_attr_put(nlh, QKD_A_SA_DADDR, 4, fwd ? &b : &a);
	mnl_attr_put_u32(nlh, QKD_A_SA_SPI, spi);
	mnl_attr_put_u32(nlh, QKD_A_SA_REQID, 7);
	mnl_attr_put_u64(nlh, QKD_A_SA_HARD_SECONDS, hard_s);
	return qkd_request(s, nlh, NULL, NULL);
}

static int cmd_rekey(char **argv)
{
	uint32_t tx = atoi(argv[1]), rx = atoi(argv[2]), count = atoi(argv[3]);
	uint64_t hard_s = strtoull(argv[4], NULL, 0), t0;
	uint32_t spi = strtoul(argv[5], NULL, 0), gen;
	static struct qkd_key key;
	struct qkd_sock s;
	int n, err, i;

	if (open_ns(&s, argv[0]))
		return 1;
	for (gen = 0; gen < count; gen++) {
		t0 = now_ms();
		for (i = 0; i < 100; i++) {	/* the link may be starting */
			n = qkd_key_alloc(&s, tx, QKD_SA_KEY_LEN_AES128, 1,
					  QKD_KEY_F_RESERVE, &key);
			if (n != -ENOSPC)
				break;
			sleep_ms(50);
		}
		if (n != 1)
			return fail(&s, n < 0 ? n : -EIO);
		err = rekey_sa_add(&s, tx, key.id, spi + gen, true, hard_s);
		/* The peer's copy of the block may still be on its way. */
		for (i = 0; !err && i < 60; i++) {
			err = rekey_sa_add(&s, rx, key.id, spi + gen, false,
					   hard_s);
			if (err != -ENOENT)
				break;
			sleep_ms(50);
		}
		if (err)
			return fail(&s, err);
		printf("%016llx\n", (unsigned long long)key.id);
		fflush(stdout);
		if (now_ms() - t0 < 1000)
			sleep_ms(1000 - (now_ms() - t0));
	}
	qkd_close(&s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 8 && !strcmp(argv[1], "pair"))
		return cmd_pair(argv + 2);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "alloc"))
		return cmd_alloc(argv + 2, argc - 2);
	if (argc == 5 && !strcmp(argv[1], "drain"))
		return cmd_drain(argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "sa-add"))
		return cmd_sa_add(argv + 2, argc - 2);
	if (argc == 6 && !strcmp(argv[1], "sa-del"))
		return cmd_sa_del(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "bench"))
		return cmd_bench(argv + 2);
	if (argc == 5 && !strcmp(argv[1], "probe"))
		return cmd_probe(argv + 2);
	if (argc == 7 && !strcmp(argv[1], "fetch"))
		return cmd_fetch(argv + 2);
	if (argc == 8 && !strcmp(argv[1], "rekey"))
		return cmd_rekey(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of qkd_sa_util.c\n");
	return 2;
}
