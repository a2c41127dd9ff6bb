// SPDX-License-Identifier: GPL-2.0
/*
 * Ingest benchmark, run inside the test VM (bench/run_all.sh):
 *  1. ring ingest: a qkd_sim pair at rate_bps=U64_MAX; blocks/s and Gbit/s
 *     from the pool counters over a window, CPU use from /proc/stat;
 *  2. pool -> userspace: fill the pool, stop, drain it with KEY_ALLOC of the
 *     largest size over genetlink, Gbit/s;
 * each next to a userspace memcpy of the same block size and volume, run in
 * the same VM with generation stopped (the baseline the ratio is against).
 * Not pass/fail: it prints a table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "qkd_test.h"

#define SIM_ID		900
#define BLOCK		4096
#define RING		1024
#define POOL_BLOCKS	8192
#define WINDOW_MS	5000
#define ALLOC_LEN	1024
#define ALLOC_COUNT	(QKD_KEY_ALLOC_MAX_BYTES / ALLOC_LEN)

struct cpu_sample {
	unsigned long long busy, total;
};

static void cpu_read(struct cpu_sample *c)
{
	unsigned long long v[10] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int i;

	memset(c, 0, sizeof(*c));
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (i = 0; i < 8; i++)
			c->total += v[i];
		c->busy = c->total - v[3] - v[4];	/* minus idle and iowait */
	}
	fclose(f);
}

/* Gbit/s of memcpy of @block-byte buffers for @bytes, cycling a 16 MiB area. */
static double memcpy_gbps(size_t block, uint64_t bytes)
{
	size_t area = 16 << 20, off = 0;
	char *src = malloc(area), *dst = malloc(area);
	uint64_t t0, t1, done;

	if (!src || !dst)
		exit(1);
	memset(src, 0x5a, area);
	memset(dst, 0, area);
	t0 = now_ms();
	for (done = 0; done < bytes; done += block) {
		memcpy(dst + off, src + off, block);
		off = (off + block) % area;
	}
	t1 = now_ms();
	__asm__ volatile("" : : "r"(dst) : "memory");
	free(src);
	free(dst);
	return t1 > t0 ? bytes * 8.0 / ((t1 - t0) * 1e6) : 0;
}

/*
 * Gbit/s of getrandom() in @block pieces: the kernel RNG the simulator fills
 * every block from, so the ceiling of what the simulated card can produce.
 */
static double rng_gbps(size_t block, uint64_t bytes)
{
	char *buf = malloc(block);
	uint64_t t0, t1, done;

	if (!buf)
		exit(1);
	t0 = now_ms();
	for (done = 0; done < bytes; done += block)
		if (getrandom(buf, block, 0) != (ssize_t)block)
			break;
	t1 = now_ms();
	free(buf);
	return t1 > t0 ? done * 8.0 / ((t1 - t0) * 1e6) : 0;
}

static void row(const char *what, double gbps, double per_s, const char *unit, double base)
{
	if (!per_s)
		per_s = gbps * 1e9 / 8 / BLOCK;
	printf("%-34s %10.3f %14.0f %-9s %8.3f\n", what, gbps, per_s, *unit ? unit : "blocks",
	       base > 0 ? gbps / base : 0);
}

static void table_head(void)
{
	printf("%-34s %10s %14s %-9s %8s\n", "path", "Gbit/s", "per second", "unit", "ratio");
}

/*
 * Ring ingest at the simulator's maximum rate.  The memcpy baseline runs
 * after generation is stopped, over the same volume the ring moved, so the
 * two do not compete for the vCPUs.
 */
static int bench_ingest(struct pair *p)
{
	uint64_t b0 = 0, n0 = 0, b1 = 0, n1 = 0, ns0 = 0, ns1 = 0, t0, t1, bytes;
	struct cpu_sample c0, c1;
	double secs, base, cpu, gbps, core_gbps, share;

	if (pair_set_rate(p, UINT64_MAX) || pair_up(p))
		return -1;
	pair_wait_stat(p, QKD_STAT_BLOCKS_RECEIVED, 100, 10000);
	link_stat(&p->stx, p->tx, QKD_STAT_BYTES_RECEIVED, &b0);
	link_stat(&p->stx, p->tx, QKD_STAT_BLOCKS_RECEIVED, &n0);
	link_stat(&p->stx, p->tx, QKD_STAT_INGEST_NS, &ns0);
	cpu_read(&c0);
	t0 = now_ms();
	sleep_ms(WINDOW_MS);
	link_stat(&p->stx, p->tx, QKD_STAT_BYTES_RECEIVED, &b1);
	link_stat(&p->stx, p->tx, QKD_STAT_BLOCKS_RECEIVED, &n1);
	link_stat(&p->stx, p->tx, QKD_STAT_INGEST_NS, &ns1);
	t1 = now_ms();
	cpu_read(&c1);
	if (pair_down(p))
		return -1;
	secs = (t1 - t0) / 1000.0;
	bytes = b1 - b0;
	gbps = bytes * 8 / secs / 1e9;
	cpu = c1.total > c0.total ? 100.0 * (c1.busy - c0.busy) / (c1.total - c0.total) : 0;
	/* The core's own cost: bytes per nanosecond of ingest work (tx end). */
	core_gbps = ns1 > ns0 ? bytes * 8.0 / (ns1 - ns0) : 0;
	share = ns1 > ns0 ? (ns1 - ns0) / (secs * 1e9) : 0;
	base = memcpy_gbps(BLOCK, bytes ? bytes : (64 << 20));
	printf("\n## ring ingest (card -> pool), block %d B, ring %d, rate_bps=U64_MAX, %.1f s window\n",
	       BLOCK, RING, secs);
	table_head();
	row("userspace memcpy, same volume", base, base * 1e9 / 8 / BLOCK, "blocks", base);
	row("kernel RNG (getrandom), same vol.", rng_gbps(BLOCK, bytes ? bytes : (64 << 20)),
	    0, "", base);
	row("ring ingest, one end (tx)", gbps, (n1 - n0) / secs, "blocks", base);
	row("ring ingest, both ends", 2 * gbps, 2 * (n1 - n0) / secs, "blocks", base);
	row("core ingest per core-second (tx)", core_gbps,
	    core_gbps * 1e9 / 8 / BLOCK, "blocks", base);
	printf("# core ingest time (QKD_STAT_INGEST_NS): %.1f%% of one core at %.3f Gbit/s;\n"
	       "# 1 Gbit/s of key would take %.1f%% of one core at this cost (target <= 10%%).\n",
	       100 * share, gbps, core_gbps > 0 ? 100 / core_gbps : 0);
	printf("# CPU busy during the window: %.1f%% of 2 vCPUs (simulator generating with the\n"
	       "# kernel RNG + both ends' ingest; /proc/stat deltas).  The simulator draws every\n"
	       "# block from the kernel RNG once: the RNG row bounds what it can produce.\n", cpu);
	return 0;
}

/*
 * Pool -> userspace: fill the pool, stop generation, then drain the tx
 * share with the largest KEY_ALLOC requests and time it.
 */
static int bench_genl(struct pair *p)
{
	static struct qkd_key keys[ALLOC_COUNT];
	uint64_t t0, t1, bytes = 0, calls = 0;
	double secs, gbps, base;
	int n;

	if (pair_up(p))
		return -1;
	pair_wait_stat(p, QKD_STAT_BLOCKS_EVICTED, 1, 60000);
	if (pair_down(p))
		return -1;
	t0 = now_ms();
	for (;;) {
		n = qkd_key_alloc(&p->stx, p->tx, ALLOC_LEN, ALLOC_COUNT, 0, keys);
		if (n != ALLOC_COUNT)
			break;
		bytes += (uint64_t)n * ALLOC_LEN;
		calls++;
	}
	t1 = now_ms();
	if (n != -ENOSPC) {
		fprintf(stderr, "KEY_ALLOC: %s (%s)\n", strerror(-n), p->stx.ext_msg);
		return -1;
	}
	secs = (t1 - t0) / 1000.0;
	gbps = secs > 0 ? bytes * 8 / secs / 1e9 : 0;
	/*
	 * The kernel copies key by key into the reply: the baseline copies
	 * ALLOC_LEN-byte pieces.  (64 KiB memcpy takes glibc's "rep movsb"
	 * path, which TCG emulates slowly: no fair baseline in the VM.)
	 */
	base = memcpy_gbps(ALLOC_LEN, bytes ? bytes : (64 << 20));
	printf("\n## pool -> userspace over genetlink: drain %.1f MiB with KEY_ALLOC %d x %d B, %.2f s\n",
	       bytes / 1048576.0, ALLOC_COUNT, ALLOC_LEN, secs);
	table_head();
	row("userspace memcpy 1 KiB, same volume", base, base * 1e9 / 8 / ALLOC_LEN / ALLOC_COUNT,
	    "x64 keys", base);
	row("KEY_ALLOC (pool -> userspace)", gbps, calls / secs, "requests", base);
	return 0;
}

int main(void)
{
	struct pair p;
	int err;

	printf("# qkd ingest benchmark (in the test VM, TCG: figures are relative; see ratios)\n");
	printf("# baseline: userspace memcpy of the same block size and volume, same VM\n");
	err = pair_create(&p, SIM_ID, 900, BLOCK, RING, POOL_BLOCKS, NULL);
	if (err) {
		fprintf(stderr, "creating the pair failed: %s\n", strerr(err));
		return 1;
	}
	err = bench_ingest(&p) ?: bench_genl(&p);
	pair_down(&p);
	pair_destroy(&p);
	return err ? 1 : 0;
}
