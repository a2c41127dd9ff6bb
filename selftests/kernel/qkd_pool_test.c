// SPDX-License-Identifier: GPL-2.0
/*
 * Acceptance 2: a full pool evicts its oldest block (counted in
 * QKD_STAT_BLOCKS_EVICTED; KEY_GET of an evicted block -> -ENOENT), and
 * every pool level crossing sends QKD_CMD_POOL_NTF on the "pool" group.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qkd_test.h"

#define BLOCK		256
#define POOL_BLOCKS	16
#define RATE_BPS	(100ULL * BLOCK * 8)	/* 100 blocks/s */
#define WARN_BYTES	512
#define READY_BYTES	1536		/* the tx share holds 8 * 256 = 2048 */

static struct pair p;
static struct qkd_sock ev;
static bool level_seen[QKD_POOL_READY + 1];

/* Collects POOL_NTF levels for the tx end until @level is seen. */
static bool wait_level(uint8_t level, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	struct qkd_event e;

	while (!level_seen[level] && now_ms() < end) {
		int err = qkd_event_wait(&ev, &e, 200);

		if (err || e.cmd != QKD_CMD_POOL_NTF || e.link.index != p.tx)
			continue;
		if (e.link.level <= QKD_POOL_READY)
			level_seen[e.link.level] = true;
	}
	return level_seen[level];
}

static void test_fill_and_evict(void)
{
	struct qkd_link l;
	uint64_t ev_tx = 0, ev_rx = 0;
	static struct qkd_key k;
	int err, n;

	ktap_ok(wait_level(QKD_POOL_READY, 10000), "POOL_NTF level READY received while filling");
	ktap_ok(pair_wait_stat(&p, QKD_STAT_BLOCKS_EVICTED, 4, 10000),
		"full pool evicts blocks at both ends (QKD_STAT_BLOCKS_EVICTED)");
	link_stat(&p.stx, p.tx, QKD_STAT_BLOCKS_EVICTED, &ev_tx);
	link_stat(&p.srx, p.rx, QKD_STAT_BLOCKS_EVICTED, &ev_rx);
	ktap_diag("evicted: tx %llu rx %llu", (unsigned long long)ev_tx, (unsigned long long)ev_rx);
	err = qkd_link_get(&p.stx, p.tx, &l);
	ktap_ok(!err && l.capacity == POOL_BLOCKS && l.blocks <= l.capacity,
		"pool holds at most its capacity (%u of %u)", l.blocks, l.capacity);
	/* Block 0 (the tx share) was the first in and must be gone at the rx end. */
	err = qkd_key_get(&p.srx, p.rx, 0, 16, &k);
	ktap_ok(err == -ENOENT, "KEY_GET of the evicted first block -> -ENOENT (got %s, \"%s\")",
		strerr(err), p.srx.ext_msg);
	/* The oldest block still held is among the newest POOL_BLOCKS received. */
	err = qkd_link_get(&p.stx, p.tx, &l);
	n = qkd_key_alloc(&p.stx, p.tx, 16, 1, 0, &k);
	if (!err && n == 1) {
		uint64_t block = k.id >> QKD_KEY_ID_OFFSET_BITS;
		uint64_t received = l.stats[QKD_STAT_BLOCKS_RECEIVED];

		ktap_ok(block + POOL_BLOCKS >= received,
			"allocation comes from a block the oldest-first policy kept (block %llu, received %llu)",
			(unsigned long long)block, (unsigned long long)received);
	} else {
		ktap_ok(false, "allocation after eviction (%s, %s)", strerr(n), p.stx.ext_msg);
	}
}

static void test_drain(void)
{
	static struct qkd_key keys[8];
	struct qkd_link l;
	int n, calls = 0;

	ktap_ok(pair_down(&p) == 0, "stop generation");
	do {
		n = qkd_key_alloc(&p.stx, p.tx, 128, 1, 0, keys);
	} while (n == 1 && ++calls < 1000);
	ktap_ok(n == -ENOSPC && p.stx.ext_msg[0],
		"draining the share ends in -ENOSPC with extack (got %s, \"%s\" after %d keys)",
		strerr(n), p.stx.ext_msg, calls);
	ktap_ok(wait_level(QKD_POOL_WARNING, 3000), "POOL_NTF level WARNING received while draining");
	ktap_ok(wait_level(QKD_POOL_EMPTY, 3000), "POOL_NTF level EMPTY received when drained");
	n = qkd_link_get(&p.stx, p.tx, &l);
	ktap_ok(!n && l.level == QKD_POOL_EMPTY && l.avail < 128,
		"LINK_GET reports level EMPTY (level %u, avail %llu)", l.level,
		(unsigned long long)l.avail);
}

int main(void)
{
	char ns[128];
	int err;

	ktap_start(0);
	if (!ktap_ok(pair_create(&p, 2, 102, BLOCK, 64, POOL_BLOCKS, "qkd2") == 0,
		     "create pair with POOL_BLOCKS=%d", POOL_BLOCKS))
		return ktap_finish();
	snprintf(ns, sizeof(ns), "/run/netns/%s", p.ns_tx);
	err = qkd_open(&ev, ns) ?: qkd_join(&ev, ev.grp_pool);
	ktap_ok(!err, "subscribe to the \"pool\" group in the tx netns (%s)", strerr(err));
	err = qkd_link_set_levels(&p.stx, p.tx, WARN_BYTES, READY_BYTES);
	ktap_ok(!err, "LINK_SET POOL_WARN=%d POOL_READY=%d (%s %s)", WARN_BYTES, READY_BYTES,
		strerr(err), p.stx.ext_msg);
	ktap_ok(pair_set_rate(&p, RATE_BPS) == 0 && pair_up(&p) == 0, "start generation");
	test_fill_and_evict();
	test_drain();
	qkd_close(&ev);
	pair_destroy(&p);
	return ktap_finish();
}
