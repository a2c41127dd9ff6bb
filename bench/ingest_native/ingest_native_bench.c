// SPDX-License-Identifier: GPL-2.0
/*
 * Native ingest benchmark: qkd.ko's own ring drain (ring.c) and key pool
 * (pool.c), compiled unchanged in userspace over selftests/native/shim,
 * measured on the real CPU instead of the test VM's emulated one.
 *
 * A "card" in this thread fills every free descriptor of the ring (payload,
 * header, crc32c, flag) the way qkd_sim does; that is the card's work and is
 * not timed.  Then the core's work item, qkd_dev_work(), drains the ring:
 * descriptor check, crc32c verify, copy into the pool (evicting the oldest
 * block once the pool is full), bitmap and counter updates, buffer
 * zeroising, doorbell.  Only the drain is timed, in thread CPU time, so the
 * figure is the CPU the kernel spends per Gbit/s of key.
 *
 * Baselines, measured in the same run over the same ring and the same pool
 * sized destination, interleaved with the real thing round by round:
 * memcpy of each block into its slot, and crc32c + memcpy.  The key
 * allocation figure drains a full pool with qkd_pool_alloc() (KEY_ALLOC's
 * path minus netlink), copying each key out as the reply would.
 *
 * Prints figures and ratios; never judges a time.  Exits non-zero only if
 * the code under test misbehaved (a block not counted as received, a key
 * that differs from its block).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/crc32c.h>
#include <linux/dma-mapping.h>
#include <linux/ktime.h>
#include "qkd_dev_stubs.h"

struct bench_opts {
	u32 block_size;
	u32 ring_size;
	u32 pool_blocks;
	u32 key_len;
	double seconds;		/* per method, spread over the rounds */
	unsigned int rounds;
	bool cold;		/* flush the ring from the caches before a drain */
};

/* The simulated card: where it writes next, and the key stream it sends. */
struct card {
	struct qkd_dev *qdev;
	u32 next;		/* next descriptor to fill */
	u32 doorbell;		/* last index the core rang */
	u64 block_id;
	u64 rng;
};

struct tally {
	u64 ns;			/* thread CPU time */
	u64 bytes;
};

static u64 cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* xorshift64*: stands in for key bytes; not secret, only varied. */
static u64 next_rand(u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void fill_random(u64 *rng, void *buf, u32 len)
{
	u8 *p = buf;
	u64 r;

	for (; len >= 8; p += 8, len -= 8) {
		r = next_rand(rng);
		memcpy(p, &r, 8);
	}
	for (r = next_rand(rng); len; len--, r >>= 8)
		*p++ = (u8)r;
}

static void card_doorbell(struct qkd_dev *qdev, u32 next)
{
	struct card *card = qdev->priv;

	card->doorbell = next;
}

/* Complete every descriptor the card owns, as qkd_sim's engine does. */
static u32 card_fill_ring(struct card *card)
{
	struct qkd_dev *qdev = card->qdev;
	u32 size = qkd_dev_ring_size(qdev), len = qdev->info.block_size, n;

	for (n = 0; n < size; n++) {
		struct qkd_ring_desc *desc = qkd_dev_ring_desc(qdev, card->next);
		void *buf = qkd_dev_ring_buf(qdev, card->next);

		if (!(le16_to_cpu(READ_ONCE(desc->flags)) & QKD_DESC_F_CARD))
			break;
		fill_random(&card->rng, buf, len);
		desc->block_id = cpu_to_le64(card->block_id++);
		desc->len = cpu_to_le32(len);
		desc->gen_time_ns = cpu_to_le64(ktime_get_real_ns());
		desc->qber_ppm = cpu_to_le32(20000);
		desc->crc32c = cpu_to_le32(crc32c(~0U, buf, len));
		dma_wmb();
		WRITE_ONCE(desc->flags, cpu_to_le16(0));
		card->next = (card->next + 1) & (size - 1);
	}
	return n;
}

/*
 * With -c: write back and drop the ring's lines from every cache level
 * (untimed), as if the card's DMA writes had gone to memory only, not into
 * the last-level cache.
 */
static void flush_ring(struct qkd_dev *qdev)
{
	struct qkd_ring *ring = &qdev->ring;
	u32 i, off;

	for (i = 0; i < ring->size; i++) {
		const char *buf = qkd_ring_buf(ring, i);

		for (off = 0; off < ring->block_size; off += 64)
			__builtin_ia32_clflush(buf + off);
	}
	for (off = 0; off < ring->size * sizeof(*ring->desc); off += 64)
		__builtin_ia32_clflush((const char *)ring->desc + off);
	__builtin_ia32_mfence();
}

/* The core's side: run the work item until it stops requeueing itself. */
static void core_drain(struct qkd_dev *qdev)
{
	do {
		qdev->work.pending = 0;
		qkd_dev_work(&qdev->work);
	} while (qdev->work.pending);
}

/* Baseline: copy each completed block into its pool slot, optionally
 * checking its crc32c first; hand the descriptors back as the core would. */
static void baseline_drain(struct qkd_dev *qdev, u8 *pool_area, u64 *slot,
			   bool with_crc)
{
	struct qkd_ring *ring = &qdev->ring;
	u32 cap = qdev->info.pool_blocks, len = qdev->info.block_size, i;

	for (i = 0; i < ring->size; i++) {
		struct qkd_ring_desc *desc = &ring->desc[i];
		void *buf = qkd_ring_buf(ring, i);

		if (with_crc && crc32c(~0U, buf, len) !=
				le32_to_cpu(desc->crc32c))
			abort();
		memcpy(pool_area + (*slot % cap) * len, buf, len);
		(*slot)++;
		WRITE_ONCE(desc->flags, cpu_to_le16(QKD_DESC_F_CARD));
	}
	__asm__ __volatile__("" : : "r"(pool_area) : "memory");
}

enum method { M_MEMCPY, M_CRC_MEMCPY, M_QKD, M_COUNT };

static const char *const method_name[M_COUNT] = {
	[M_MEMCPY] = "memcpy into pool slots (baseline)",
	[M_CRC_MEMCPY] = "crc32c + memcpy (baseline)",
	[M_QKD] = "qkd ring drain -> pool (ring.c+pool.c)",
};

/* One ring's worth of blocks through @m, timed into @t. */
static void run_one(enum method m, struct card *card, u8 *pool_area,
		   u64 *slot, bool cold, struct tally *t)
{
	struct qkd_dev *qdev = card->qdev;
	u64 block_id = card->block_id, t0;
	u32 blocks;

	if (m != M_QKD) {
		/* The baselines borrow the ring's buffers and descriptors:
		 * re-arm them all, then let the card fill them. */
		qkd_ring_reset(&qdev->ring);
		card->next = 0;
	}
	blocks = card_fill_ring(card);
	if (cold)
		flush_ring(qdev);
	t0 = cpu_ns();
	if (m == M_QKD)
		core_drain(qdev);
	else
		baseline_drain(qdev, pool_area, slot, m == M_CRC_MEMCPY);
	t->ns += cpu_ns() - t0;
	t->bytes += (u64)blocks * qdev->info.block_size;
	if (m != M_QKD) {
		/* Give the ring back to the core as it was, and the block
		 * IDs too: the pool never saw these blocks. */
		qkd_ring_reset(&qdev->ring);
		card->next = 0;
		card->block_id = block_id;
	}
}

static double gbps(const struct tally *t)
{
	return t->ns ? t->bytes * 8.0 / t->ns : 0;
}

static int bench_ingest(const struct bench_opts *o, struct qkd_dev *qdev,
			struct card *card)
{
	struct tally t[M_COUNT] = {};
	u64 budget_ns = (u64)(o->seconds * 1e9 / o->rounds), slot = 0;
	u64 received, bad;
	unsigned int r;
	u8 *pool_area;
	int m;

	pool_area = calloc(o->pool_blocks, o->block_size);
	if (!pool_area)
		return -1;
	/* Warm up: fill the pool once so eviction runs from the start. */
	while (qkd_stat(qdev, QKD_STAT_BLOCKS_RECEIVED) < o->pool_blocks) {
		card_fill_ring(card);
		core_drain(qdev);
	}
	for (r = 0; r < o->rounds; r++) {
		for (m = 0; m < M_COUNT; m++) {
			u64 until = t[m].ns + budget_ns;

			while (t[m].ns < until)
				run_one(m, card, pool_area, &slot, o->cold,
					&t[m]);
		}
	}
	free(pool_area);

	received = qkd_stat(qdev, QKD_STAT_BLOCKS_RECEIVED);
	bad = qkd_stat(qdev, QKD_STAT_BLOCKS_BAD) +
	      qkd_stat(qdev, QKD_STAT_BLOCKS_MISSED);
	if (bad || received * o->block_size !=
	    qkd_stat(qdev, QKD_STAT_BYTES_RECEIVED)) {
		fprintf(stderr, "ingest_native: %llu blocks bad or missed\n",
			(unsigned long long)bad);
		return -1;
	}

	printf("ring ingest, %u-byte blocks, ring %u, pool %u blocks (%u MiB), ring %s before each drain; crc32c: %s\n",
	       o->block_size, o->ring_size, o->pool_blocks,
	       (u32)((u64)o->pool_blocks * o->block_size >> 20),
	       o->cold ? "flushed from the caches" : "cache-warm",
	       crc32c_impl());
	printf("  %-42s %9s %10s %12s %9s\n", "path", "Gbit/s", "Mblocks/s",
	       "core/Gbit/s", "vs memcpy");
	for (m = 0; m < M_COUNT; m++)
		printf("  %-42s %9.2f %10.3f %12.4f %9.3f\n", method_name[m],
		       gbps(&t[m]), gbps(&t[m]) * 1e3 / 8 / o->block_size,
		       1.0 / gbps(&t[m]), gbps(&t[m]) / gbps(&t[M_MEMCPY]));
	printf("  qkd drain vs crc32c + memcpy: %.3f; pool evictions: %llu\n",
	       gbps(&t[M_QKD]) / gbps(&t[M_CRC_MEMCPY]),
	       (unsigned long long)qkd_stat(qdev, QKD_STAT_BLOCKS_EVICTED));
	printf("  target: 1 Gbit/s in <= 0.10 of a core; this path needs %.4f of a core per Gbit/s\n",
	       1.0 / gbps(&t[M_QKD]));
	return 0;
}

/* The reply a KEY_ALLOC builds: here, key bytes copied to a buffer. */
struct alloc_reply {
	u8 *buf;
	size_t used, cap;
	u64 keys;
};

static int emit_key(void *ctx, u64 key_id, u32 len, u64 gen_time,
		    const u8 *material)
{
	struct alloc_reply *reply = ctx;

	if (reply->used + len > reply->cap)
		reply->used = 0;
	memcpy(reply->buf + reply->used, material, len);
	reply->used += len;
	reply->keys++;
	return 0;
}

/* Drain the pool's own share with allocations of QKD_KEY_ALLOC_MAX_BYTES
 * worth of @key_len keys each; refill through the ring; repeat. */
static int bench_alloc(const struct bench_opts *o, struct qkd_dev *qdev,
		       struct card *card, u32 key_len)
{
	/* The largest request, or a quarter of a small pool's own share. */
	u32 count = min_t(u64, QKD_KEY_ALLOC_MAX_BYTES / key_len,
			  max_t(u64, 1, (u64)o->pool_blocks * o->block_size /
				     8 / key_len));
	struct alloc_reply reply = { .cap = QKD_KEY_ALLOC_MAX_BYTES };
	struct tally t = {}, copy = {};
	u64 budget = (u64)(o->seconds * 1e9), t0;
	u8 *dst;

	reply.buf = malloc(reply.cap);
	dst = malloc(reply.cap);
	if (!reply.buf || !dst)
		return -1;
	while (t.ns < budget) {
		struct qkd_pool_event ev = {};
		u32 i;

		for (i = 0; i < DIV_ROUND_UP(o->pool_blocks, o->ring_size); i++) {
			card_fill_ring(card);
			core_drain(qdev);
		}
		t0 = cpu_ns();
		while (!qkd_pool_alloc(&qdev->pool, key_len, count, false,
				       emit_key, &reply, &ev))
			t.bytes += (u64)key_len * count;
		t.ns += cpu_ns() - t0;
		/* Baseline: the same bytes memcpy'd key by key. */
		t0 = cpu_ns();
		while (copy.bytes < t.bytes) {
			for (i = 0; i < count; i++)
				memcpy(dst + (size_t)i * key_len,
				       reply.buf + (size_t)i * key_len, key_len);
			__asm__ __volatile__("" : : "r"(dst) : "memory");
			copy.bytes += (u64)key_len * count;
		}
		copy.ns += cpu_ns() - t0;
	}
	printf("key allocation from the pool (KEY_ALLOC minus netlink), %u-byte keys, %u per call\n",
	       key_len, count);
	printf("  %-42s %9.2f Gbit/s  %.2f Mkeys/s  vs memcpy of the keys %.3f\n",
	       "qkd_pool_alloc", gbps(&t), gbps(&t) * 1e3 / 8 / key_len,
	       gbps(&t) / gbps(&copy));
	free(reply.buf);
	free(dst);
	if (!t.bytes)
		fprintf(stderr, "ingest_native_bench: no allocation of %u x %u bytes succeeded\n",
			count, key_len);
	return t.bytes ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ingest_native_bench [--help] [-c] [-b BLOCK] [-r RING] [-p POOL] [-k KEYLEN] [-t SECONDS] [-n ROUNDS]\n"
"\n"
"Measure qkd.ko's ring ingest and key pool (kernel/ring.c, kernel/pool.c,\n"
"compiled unchanged over selftests/native/shim) on this CPU.\n"
"\n"
"  -c          cold ring: flush the ring from the caches after the card\n"
"              writes it (DMA to memory, no cache injection); ingest only\n"
"  -b BLOCK    key block size in bytes (default 4096, 16..65536)\n"
"  -r RING     descriptors in the ring, a power of two (default 1024)\n"
"  -p POOL     pool capacity in blocks (default 8192)\n"
"  -k KEYLEN   key length for the allocation figure (default 32)\n"
"  -t SECONDS  CPU seconds per measured path (default 2)\n"
"  -n ROUNDS   rounds the paths are interleaved in (default 8)\n"
"  -h, --help  this text\n"
"\n"
"Prints Gbit/s, blocks/s, the share of a core 1 Gbit/s costs, and ratios\n"
"against memcpy and crc32c + memcpy measured in the same run.\n");
}

static int parse_u32(const char *s, u32 lo, u32 hi, u32 *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (u32)v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
	u32 rounds = o->rounds;
	char *end;
	int c;

	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{}
	};

	while ((c = getopt_long(argc, argv, "cb:r:p:k:t:n:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'c':
			o->cold = true;
			break;
		case 'b':
			if (parse_u32(optarg, 16, QKD_BLOCK_SIZE_MAX, &o->block_size))
				goto bad;
			break;
		case 'r':
			if (parse_u32(optarg, 8, 65536, &o->ring_size) ||
			    (o->ring_size & (o->ring_size - 1)))
				goto bad;
			break;
		case 'p':
			if (parse_u32(optarg, 16, 1 << 20, &o->pool_blocks))
				goto bad;
			break;
		case 'k':
			if (parse_u32(optarg, 1, QKD_KEY_ALLOC_MAX_BYTES, &o->key_len))
				goto bad;
			break;
		case 't':
			o->seconds = strtod(optarg, &end);
			if (*end || !(o->seconds > 0 && o->seconds <= 600))
				goto bad;
			break;
		case 'n':
			if (parse_u32(optarg, 1, 1000, &rounds))
				goto bad;
			o->rounds = rounds;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "ingest_native_bench: see --help\n");
			return -1;
		}
	}
	if (o->key_len > o->block_size) {
		fprintf(stderr, "ingest_native_bench: -k %u is longer than a block (-b %u)\n",
			o->key_len, o->block_size);
		return -1;
	}
	if (optind == argc)
		return 0;
	fprintf(stderr, "ingest_native_bench: unexpected argument '%s'\n",
		argv[optind]);
	return -1;
bad:
	fprintf(stderr, "ingest_native_bench: bad value '%s' for -%c (see --help)\n",
		optarg, c);
	return -1;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.block_size = 4096, .ring_size = 1024, .pool_blocks = 8192,
		.key_len = 32, .seconds = 2, .rounds = 8,
	};
	struct card card = { .rng = 0x9e3779b97f4a7c15ull };
	struct qkd_dev *qdev;
	int err;

	if (parse_opts(argc, argv, &o))
		return 2;
	qdev = qkd_stub_dev_new(QKD_ROLE_TX, o.block_size, o.ring_size,
				o.pool_blocks, card_doorbell);
	if (!qdev) {
		fprintf(stderr, "ingest_native_bench: out of memory\n");
		return 1;
	}
	qdev->priv = &card;
	card.qdev = qdev;
	err = bench_ingest(&o, qdev, &card);
	if (!err && !o.cold)
		err = bench_alloc(&o, qdev, &card, o.key_len);
	if (!err && !o.cold && o.key_len != 1024 && o.block_size >= 1024)
		err = bench_alloc(&o, qdev, &card, 1024);
	qkd_stub_dev_free(qdev);
	return err ? 1 : 0;
}
