// SPDX-License-Identifier: GPL-2.0
/*
 * Relay hop throughput: relay_seal (OTP + ITS MAC, what a node does to
 * send on a hop), relay_open (verify + OTP, what it does to receive) and a
 * trusted node's full hop (open from one link, seal onto the next), next
 * to a plain XOR + memcpy of the same bytes in the same process, for a few
 * payload sizes.  Also the ITS MAC alone with each multiply.  Prints a
 * table; not a pass/fail test.  Pad refills are not timed (in the daemon
 * they come from the key store at its own pace).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "relay/its_mac.h"
#include "relay/relay_otp.h"

#define ROUND_PAD	(8u << 20)	/* pad appended per round, bytes */
#define MIN_SECONDS	0.3	/* CPU time per payload size */
#define BATCH		256	/* messages timed together */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Thread CPU time, and the best batch of many: the machine is shared, so
 * wall time would measure the neighbours.
 */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_relay: %s\n", what);
	exit(1);
}

static uint8_t *xmalloc(size_t n)
{
	uint8_t *p = malloc(n);

	if (!p)
		die("out of memory");
	return p;
}

struct hop_bench {
	size_t payload;
	/* best (least) CPU seconds per message over all batches */
	double seal_s, open_s, hop_s, base_s;
	uint64_t msgs;
};

static void best(double *slot, double v)
{
	if (v < *slot)
		*slot = v;
}

/* Give both ends (and the next hop's sender) the same fresh pad. */
static void refill(struct relay_link **links, int n_links, uint64_t *pos,
		   const uint8_t *key, uint8_t *scratch)
{
	for (int i = 0; i < n_links; i++) {
		memcpy(scratch, key, ROUND_PAD);
		if (relay_link_add_pad(links[i], pos[i], scratch, ROUND_PAD))
			die("add pad");
		pos[i] += ROUND_PAD;
	}
}

/* Plain one-time pad with no MAC and no bookkeeping: the floor. */
static void baseline(const uint8_t *payload, const uint8_t *pad, uint8_t *out,
		     uint8_t *copy, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = payload[i] ^ pad[i];
	memcpy(copy, out, n);
}

static void bench_size(struct hop_bench *b, const uint8_t *key)
{
	/* link 1: A -> B (a_tx, b_rx); link 2: B -> C (b_tx, c_rx) */
	struct relay_link *a_tx = relay_link_new(1, QKD_ROLE_TX, true, 0);
	struct relay_link *b_rx = relay_link_new(1, QKD_ROLE_TX, false, 0);
	struct relay_link *b_tx = relay_link_new(2, QKD_ROLE_TX, true, 0);
	struct relay_link *c_rx = relay_link_new(2, QKD_ROLE_TX, false, 0);
	struct relay_link *links[4] = { a_tx, b_rx, b_tx, c_rx };
	size_t per_round = ROUND_PAD / RELAY_PAD_NEEDED(b->payload) - 1;
	size_t msg_len = RELAY_OVERHEAD + b->payload, got;
	uint8_t *msgs = xmalloc(per_round * msg_len);
	uint8_t *fwd = xmalloc(per_round * msg_len);
	uint8_t *payload = xmalloc(b->payload + 1);
	uint8_t *plain = xmalloc(b->payload + 1);
	uint8_t *scratch = xmalloc(ROUND_PAD);
	uint8_t *out = xmalloc(b->payload + 1);
	uint64_t pos[4] = { 0 };
	double total = 0;

	if (!a_tx || !b_rx || !b_tx || !c_rx)
		die("relay_link_new");
	RAND_bytes(payload, (int)b->payload + 1);
	b->seal_s = b->open_s = b->hop_s = b->base_s = 1e9;
	while (total < MIN_SECONDS) {
		refill(links, 4, pos, key, scratch);
		for (size_t first = 0; first + BATCH <= per_round ||
		     (first == 0 && per_round); first += BATCH) {
			size_t n = per_round - first < BATCH ?
				   per_round - first : BATCH;
			uint8_t *m = msgs + first * msg_len;
			uint8_t *f = fwd + first * msg_len;
			double t[5];

			t[0] = now();
			for (size_t i = 0; i < n; i++)
				if (relay_seal(a_tx, payload, b->payload,
					       m + i * msg_len, msg_len, &got))
					die("seal");
			t[1] = now();
			/* trusted node B: open from link 1, seal onto link 2 */
			for (size_t i = 0; i < n; i++) {
				if (relay_open(b_rx, m + i * msg_len, msg_len,
					       plain, b->payload, &got))
					die("open");
				if (relay_seal(b_tx, plain, b->payload,
					       f + i * msg_len, msg_len, &got))
					die("seal");
			}
			t[2] = now();
			for (size_t i = 0; i < n; i++)
				if (relay_open(c_rx, f + i * msg_len, msg_len,
					       plain, b->payload, &got))
					die("open");
			t[3] = now();
			for (size_t i = 0; i < n; i++)
				baseline(payload, key + (first + i) *
					 RELAY_PAD_NEEDED(b->payload), out,
					 m + i * msg_len, b->payload);
			t[4] = now();
			best(&b->seal_s, (t[1] - t[0]) / (double)n);
			best(&b->hop_s, (t[2] - t[1]) / (double)n);
			best(&b->open_s, (t[3] - t[2]) / (double)n);
			best(&b->base_s, (t[4] - t[3]) / (double)n);
			total += t[4] - t[0];
			b->msgs += n;
			if (memcmp(plain, payload, b->payload))
				die("relayed payload differs");
		}
	}
	for (int i = 0; i < 4; i++)
		relay_link_free(links[i]);
	free(msgs);
	free(fwd);
	free(payload);
	free(plain);
	free(scratch);
	free(out);
}

static double gbps(size_t payload, double s_per_msg)
{
	return (double)payload * 8 / s_per_msg / 1e9;
}

static double mac_gbytes(size_t len)
{
	uint8_t *msg = xmalloc(len), key[ITS_MAC_KEY_LEN] = { 1 }, tag[16];
	double total = 0, fastest = 1e9;

	RAND_bytes(msg, (int)len);
	while (total < MIN_SECONDS / 3) {
		double t0 = now(), t;

		for (int i = 0; i < 16; i++) {
			its_mac_tag(key, msg, len, tag);
			key[0] ^= tag[0];
		}
		t = now() - t0;
		best(&fastest, t / 16);
		total += t;
	}
	free(msg);
	return (double)len / fastest / 1e9;
}

int main(void)
{
	static const size_t sizes[] = { 32, 128, 1024, 4096, 65536 };
	uint8_t *key = xmalloc(ROUND_PAD);
	enum its_mac_impl impl = its_mac_select(ITS_MAC_IMPL_AUTO);
	bool met = false;

	RAND_bytes(key, ROUND_PAD);
	printf("# relay per hop, one core; payload Gbit/s (target >= 1 Gbit/s "
	       "per core per hop, <= 50 us per hop; DESIGN.md 7)\n");
	printf("# ITS MAC multiply: %s\n", its_mac_impl_name(impl));
	printf("%8s %10s %10s %12s %10s %14s %8s %10s\n", "payload", "seal",
	       "open", "hop(open+seal)", "us/hop", "xor+memcpy", "ratio",
	       "msgs");
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct hop_bench b = { .payload = sizes[i] };
		double hop;

		bench_size(&b, key);
		hop = gbps(b.payload, b.hop_s);
		printf("%7zuB %10.2f %10.2f %14.2f %10.3f %14.2f %8.2f %10llu\n",
		       b.payload, gbps(b.payload, b.seal_s),
		       gbps(b.payload, b.open_s), hop, b.hop_s * 1e6,
		       gbps(b.payload, b.base_s),
		       hop / gbps(b.payload, b.base_s),
		       (unsigned long long)b.msgs);
		if (b.payload >= 1024 && hop >= 1.0 && b.hop_s < 50e-6)
			met = true;
	}
	printf("# ratio = hop / baseline (a hop does two passes of OTP + MAC)\n");
	printf("\n# ITS MAC alone, GB/s\n%8s %10s %10s\n", "length", "portable",
	       "pclmulqdq");
	for (size_t len = 64; len <= 65536; len *= 32) {
		double p, h = 0;

		its_mac_select(ITS_MAC_IMPL_PORTABLE);
		p = mac_gbytes(len);
		if (its_mac_select(ITS_MAC_IMPL_CLMUL) == ITS_MAC_IMPL_CLMUL)
			h = mac_gbytes(len);
		printf("%7zuB %10.3f %10.3f\n", len, p, h);
	}
	its_mac_select(ITS_MAC_IMPL_AUTO);
	printf("\n# target >= 1 Gbit/s per core per hop (payload >= 1 KiB): %s\n",
	       met ? "met" : "NOT met");
	free(key);
	return 0;
}
