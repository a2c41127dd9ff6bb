// SPDX-License-Identifier: GPL-2.0
/*
 * Two nodes, a simulated QKD link and a Kx wire for the rotating
 * consumers' unit tests (consumer_harness.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "apps/tests/consumer_harness.h"
#include "core/alarm.h"
#include "kma/keysrc.h"

#define SEC_NS		1000000000ull

int harness_send(void *arg, const char *node, const struct kxmsg *m)
{
	struct harness_side *from = arg;
	struct harness *h = from->h;
	struct harness_wire_msg *w;

	assert_true(h->n_wire < HARNESS_MAX_WIRE);
	w = &h->wire[h->n_wire++];
	w->to = from == &h->s[0] ? 1 : 0;
	assert_string_equal(node, h->s[w->to].name);
	w->len = kxmsg_encode(m, w->buf, sizeof(w->buf));
	assert_true(w->len > 0);
	if (h->wire_log_len + (size_t)w->len <= sizeof(h->wire_log)) {
		memcpy(h->wire_log + h->wire_log_len, w->buf, (size_t)w->len);
		h->wire_log_len += (size_t)w->len;
	}
	return 0;
}

bool harness_is_up(void *arg, const char *node)
{
	return true;
}

static void pump(struct harness *h)
{
	for (size_t i = 0; i < h->n_wire; i++) {
		struct harness_wire_msg *w = &h->wire[i];
		struct kxmsg *m = malloc(sizeof(*m));
		char err[64];

		assert_non_null(m);
		assert_int_equal(kxmsg_decode(w->buf, (size_t)w->len, m, err,
					      sizeof(err)), w->len);
		if (m->type != h->drop)
			h->ops->receive(h->s[w->to].app, h->s[!w->to].name, m);
		free(m);
	}
	h->n_wire = 0;
}

void harness_run(struct harness *h, uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 100) {
		h->now_us += 100000;
		if (!h->keys_frozen)
			h->key_ns += 100 * 1000000ull;
		h->ops->tick(h->s[0].app);
		h->ops->tick(h->s[1].app);
		for (int p = 0; p < h->ops->pumps; p++)
			pump(h);
	}
}

static uint64_t key_clock(void *arg)
{
	struct harness *h = arg;

	return h->key_ns;
}

/* Blocks of @key_len bytes at 2560 bit/s: 10 a second for 32 bytes. */
static void open_kma(struct harness *h, int i, size_t key_len)
{
	struct harness_side *s = &h->s[i];
	uint8_t seed[32];
	struct keysrc_sim_cfg sim = {
		.link_name = "AB", .state_dir = s->dir,
		.role = i ? QKD_ROLE_RX : QKD_ROLE_TX, .seed = seed,
		.rate = 2560, .block_size = key_len,
		.now_ns = key_clock, .now_arg = h,
	};
	struct km_node_cfg node = { 0 };
	struct kma_link_cfg link = {
		.name = "AB", .source = KM_SOURCE_SIM, .role = sim.role,
		.rate = sim.rate, .block_size = sim.block_size,
	};
	struct keysrc *src;
	char err[200] = "";

	memset(seed, 0x5a, sizeof(seed));
	snprintf(node.name, sizeof(node.name), "%s", s->name);
	snprintf(node.state_dir, sizeof(node.state_dir), "%s", s->dir);
	snprintf(link.peer, sizeof(link.peer), "%s", h->s[!i].name);
	src = keysrc_sim_new(&sim, err, sizeof(err));
	assert_non_null(src);
	s->kma = kma_new_with_sources(&node, &link, &src, 1, err, sizeof(err));
	assert_non_null(s->kma);
}

void harness_open(struct harness *h, const char *test, size_t key_len,
		  const struct harness_ops *ops)
{
	h->ops = ops;
	h->key_ns = 1700000000ull * SEC_NS;
	h->now_us = 1000000000;
	h->s[0].name = "A";
	h->s[1].name = "B";
	for (int i = 0; i < 2; i++) {
		h->s[i].h = h;
		snprintf(h->s[i].dir, sizeof(h->s[i].dir), "/tmp/%s_%s.XXXXXX",
			 test, h->s[i].name);
		assert_non_null(mkdtemp(h->s[i].dir));
	}
	for (int i = 0; i < 2; i++) {
		open_kma(h, i, key_len);
		h->s[i].app = ops->open(h, i);
	}
	h->key_ns += 2 * SEC_NS;	/* a pool's worth of blocks */
	alarm_reset();
}

void harness_close(struct harness *h)
{
	for (int i = 0; i < 2; i++) {
		char path[128];

		h->ops->close(h->s[i].app);
		kma_free(h->s[i].kma);
		snprintf(path, sizeof(path), "%s/AB.hwm", h->s[i].dir);
		unlink(path);
		rmdir(h->s[i].dir);
	}
	alarm_reset();
}
