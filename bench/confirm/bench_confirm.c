// SPDX-License-Identifier: GPL-2.0
/*
 * The cost of key confirmation (Documentation/qkd/confirmation.rst), next
 * to baselines measured in the same run:
 *
 *   key	bytes of every block spent on its confirmation (the Poly1305
 *		key, CONFIRM_KEY_BYTES) and their fraction of the block
 *   tag	CPU for one confirm_tag() over a block, as each end computes
 *		it, next to a memcpy of the block (what every block costs on
 *		its way out anyway) and a bare one-shot Poly1305 over the same
 *		bytes (OpenSSL's EVP_Q_mac): the ratios show what the framing
 *		(label, block ID, size, nonce) and the API add
 *   link	CPU per block through two whole ends, as the daemon runs them
 *		but over an in-memory Kx: two sim sources behind confirm_wrap()
 *		(CONFIRM and CONFIRM_ACK encoded as Kx messages are passed as
 *		structs; TLS is not counted), every block's usable bytes taken
 *		as keys at one end and fetched at the other; next to the same
 *		two sim sources bare, the same bytes out
 *
 * Times are thread CPU time, best of several runs (the machine is
 * shared).  Prints a table; not a pass/fail test.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/alarm.h"
#include "core/log.h"
#include "kma/confirm.h"

#define RUNS		5
#define SEC		1000000000ull
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile uint8_t sink;

/* ---- one block: tag, memcpy, bare Poly1305 ---- */

struct prim {
	double tag, copy, poly;	/* ns per block, best run */
};

static void prim(uint32_t bs, struct prim *out)
{
	uint8_t *block = malloc(bs), *copy = malloc(bs), nonce[16], tag[16];
	uint32_t n = (uint32_t)(64u << 20) / bs;	/* 64 MiB a run */
	size_t outl;

	if (n > 200000)
		n = 200000;
	RAND_bytes(block, (int)bs);
	RAND_bytes(nonce, sizeof(nonce));
	out->tag = out->copy = out->poly = 1e30;
	for (int r = 0; r < RUNS; r++) {
		double t0 = cpu_ns(), t;

		for (uint32_t i = 0; i < n; i++) {
			if (confirm_tag(i, nonce, block, bs, tag))
				abort();
			sink ^= tag[0];
		}
		t = (cpu_ns() - t0) / n;
		out->tag = t < out->tag ? t : out->tag;

		t0 = cpu_ns();
		for (uint32_t i = 0; i < n; i++) {
			block[0] = (uint8_t)i;
			memcpy(copy, block, bs);
			sink ^= copy[bs - 1];
		}
		t = (cpu_ns() - t0) / n;
		out->copy = t < out->copy ? t : out->copy;

		t0 = cpu_ns();
		for (uint32_t i = 0; i < n; i++) {
			if (!EVP_Q_mac(NULL, "POLY1305", NULL, NULL, NULL,
				       block + bs - 32, 32, block, bs - 32,
				       tag, sizeof(tag), &outl))
				abort();
			sink ^= tag[0];
		}
		t = (cpu_ns() - t0) / n;
		out->poly = t < out->poly ? t : out->poly;
	}
	free(block);
	free(copy);
}

/* ---- two ends over an in-memory Kx ---- */

#define QMAX	4096

static uint64_t now_ns = 1700000000ull * SEC;
static char dir[] = "/tmp/bench_confirm.XXXXXX";

static uint64_t fake_now(void *arg)
{
	return now_ns;
}

struct end {
	struct keysrc *src;
	struct end *other;
	struct kxmsg *q;
	size_t head, n;
};

static int t_send(void *arg, const char *node, const struct kxmsg *m)
{
	struct end *to = ((struct end *)arg)->other;

	if (to->n == QMAX)
		return -1;
	if (to->head == to->n)
		to->head = to->n = 0;
	to->q[to->n++] = *m;
	return 0;
}

static bool t_is_up(void *arg, const char *node)
{
	return true;
}

static const struct confirm_transport tr = { t_send, t_is_up };

static void deliver(struct end *a, struct end *b)
{
	while (a->head < a->n || b->head < b->n) {
		struct end *e = a->head < a->n ? a : b;

		confirm_receive(e->src, &e->q[e->head++]);
	}
	a->head = a->n = b->head = b->n = 0;
}

static struct keysrc *open_src(const char *name, enum qkd_role role,
			       uint32_t bs, bool confirmed)
{
	uint8_t seed[32] = { 1, 2, 3 };
	struct keysrc_sim_cfg sim = {
		.link_name = name, .state_dir = dir, .role = role,
		.seed = seed, .rate = 8ull * bs * 1000, .block_size = bs,
		.now_ns = fake_now,
	};
	struct confirm_cfg cc = {
		.link = "AB", .peer = "X",
		.params = { .kind = "sim", .role = role, .rate = sim.rate,
			    .block_size = bs, .has_fp = true },
	};
	char err[128];
	struct keysrc *s = keysrc_sim_new(&sim, err, sizeof(err));

	if (!s) {
		fprintf(stderr, "sim: %s\n", err);
		exit(1);
	}
	if (!confirmed)
		return s;
	confirm_seed_fingerprint(seed, cc.params.fp);
	s = confirm_wrap(NULL, s, &cc, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "confirm: %s\n", err);
		exit(1);
	}
	return s;
}

/*
 * Take every block of A's share whole (its usable bytes as one key) and
 * fetch it at B; @n blocks.  Returns ns of CPU per block.
 */
static double link_run(uint32_t bs, bool confirmed, uint32_t n,
		       uint64_t *spent, uint64_t *checked)
{
	struct end a = { 0 }, b = { 0 };
	uint8_t *ka = malloc(bs), *kb = malloc(bs);
	char err[128];
	uint32_t done = 0, len;
	double t0;
	int stall = 0;

	a.other = &b;
	b.other = &a;
	now_ns += 100 * SEC;	/* above the marks of the last run */
	a.src = open_src("ABa", QKD_ROLE_TX, bs, confirmed);
	b.src = open_src("ABb", QKD_ROLE_RX, bs, confirmed);
	len = a.src->block_size;
	if (confirmed) {
		a.q = calloc(QMAX, sizeof(*a.q));
		b.q = calloc(QMAX, sizeof(*b.q));
		confirm_set_transport(a.src, &tr, &a);
		confirm_set_transport(b.src, &tr, &b);
		confirm_peer_up(a.src);
		confirm_peer_up(b.src);
		deliver(&a, &b);
	}
	t0 = cpu_ns();
	while (done < n && stall < 1000) {
		struct keysrc_key k;

		now_ns += SEC / 100;	/* 10 new blocks */
		if (confirmed) {
			confirm_tick(a.src);
			confirm_tick(b.src);
			deliver(&a, &b);
		}
		stall++;
		while (done < n &&
		       !keysrc_alloc(a.src, len, 1, &k, ka, err, sizeof(err))) {
			if (keysrc_get(b.src, k.id, len, kb, NULL, err,
				       sizeof(err)) || memcmp(ka, kb, len)) {
				fprintf(stderr, "get: %s\n", err);
				exit(1);
			}
			done++;
			stall = 0;
		}
	}
	t0 = (cpu_ns() - t0) / (done ? done : 1);
	if (done < n) {
		fprintf(stderr, "only %u of %u blocks\n", done, n);
		exit(1);
	}
	if (confirmed) {
		struct confirm_stats sa, sb;

		confirm_stats(a.src, &sa);
		confirm_stats(b.src, &sb);
		*spent = sa.key_bytes_spent + sb.key_bytes_spent;
		*checked = sa.confirmed + sb.confirmed;
		if (sa.mismatched || sb.mismatched)
			exit(1);
	}
	keysrc_free(a.src);
	keysrc_free(b.src);
	free(a.q);
	free(b.q);
	OPENSSL_cleanse(ka, bs);
	OPENSSL_cleanse(kb, bs);
	free(ka);
	free(kb);
	return t0;
}

int main(void)
{
	static const uint32_t sizes[] = { 64, 544, 1024, 4096, 16384 };

	if (!mkdtemp(dir))
		return 1;
	/* "parameters agreed" at every run would drown the table */
	log_init("bench_confirm", LOG_LVL_WARN);
	printf("# key confirmation: cost per block (thread CPU, best of %d)\n", RUNS);
	printf("%-6s %6s %7s | %8s %8s %8s %7s %7s | %9s %9s %6s %8s\n",
	       "block", "key B", "key %", "tag ns", "copy ns", "p1305 ns",
	       "tag/cp", "tag/p13", "link ns", "bare ns", "ratio", "+ns/blk");
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint32_t bs = sizes[i], n = bs >= 4096 ? 2000 : 5000;
		struct prim p;
		double lc = 1e30, lb = 1e30;
		uint64_t spent = 0, checked = 0;

		prim(bs, &p);
		for (int r = 0; r < RUNS; r++) {
			double t = link_run(bs, true, n, &spent, &checked);

			lc = t < lc ? t : lc;
			t = link_run(bs, false, n, NULL, NULL);
			lb = t < lb ? t : lb;
		}
		/* measured, not assumed: what the wrappers counted */
		printf("%-6u %6" PRIu64 " %6.2f%% | %8.0f %8.0f %8.0f %7.1f %7.2f | %9.0f %9.0f %6.2f %8.0f\n",
		       bs, checked ? spent / checked : 0,
		       checked ? 100.0 * spent / checked / bs : 0,
		       p.tag, p.copy, p.poly, p.tag / p.copy, p.tag / p.poly,
		       lc, lb, lc / lb, lc - lb);
	}
	printf("# key B: key bytes spent per confirmed block (counted by confirm.c); key %%: of the block\n");
	printf("# tag: one confirm_tag() (each end computes one per block); copy: memcpy of the block;\n");
	printf("#   p1305: bare Poly1305 over the block; link: per block through two confirmed sim ends,\n");
	printf("#   both ends' CPU; bare: the same two sim ends unwrapped; +ns/blk: confirmation's share\n");
	alarm_reset();
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			return 1;
	}
	return 0;
}
