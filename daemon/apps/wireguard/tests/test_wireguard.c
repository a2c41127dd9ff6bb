// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for wireguard.c's rotation protocol: two ends (A owns, B
 * follows) over fake WireGuard interfaces, a simulated QKD link with its
 * own clock, and a Kx wire that carries encoded messages.  Checks that
 * both ends set the same fresh PSK each rotation, the follower first, no
 * key ID twice and no key byte on the wire; that a shortage or a refusal
 * keeps the current PSK with an alarm and recovers; and that what each end
 * reports to accounting (kma/take.h) is one 32-byte key per rotation and
 * one refused key per failure for lack of key.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/alarm.h"
#include "kma/take.h"
#include "apps/wireguard/wireguard.h"
#include "apps/wireguard/wg_nl.h"
#include "apps/tests/consumer_harness.h"

#define MAX_ROT		64

/* One wg interface's peer, as the kernel would keep it. */
struct fake_if {
	uint8_t psk[WG_KEY_LEN];
	int sets;
	int fail_set;		/* -errno for every set while non-zero */
	/* owner sets that found the other end without the same PSK */
	int sets_ahead_of_peer;
};

struct world {
	struct harness h;
	struct fake_if fif[2];
	uint8_t seen[MAX_ROT][WG_KEY_LEN];	/* every PSK set */
	size_t n_seen;
};

static struct world *W;
static const uint8_t PUB[WG_KEY_LEN] = { 1, 2, 3, 4 };

static int fake_get_peer(void *k, const char *ifname, const uint8_t *pubkey,
			 struct wg_nl_peer *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(ifname, "wg0"))
		return -ENODEV;
	out->ifindex = 7;
	out->found = !memcmp(pubkey, PUB, WG_KEY_LEN);
	return 0;
}

static int fake_set_psk(void *k, const char *ifname, const uint8_t *pubkey,
			const uint8_t *psk, char *err, size_t errlen)
{
	struct fake_if *f = k, *other;

	if (f->fail_set) {
		snprintf(err, errlen, "wireguard: set peer: injected");
		return f->fail_set;
	}
	assert_string_equal(ifname, "wg0");
	assert_memory_equal(pubkey, PUB, WG_KEY_LEN);
	other = f == &W->fif[0] ? &W->fif[1] : &W->fif[0];
	if (f == &W->fif[0] && memcmp(other->psk, psk, WG_KEY_LEN))
		f->sets_ahead_of_peer++;
	memcpy(f->psk, psk, WG_KEY_LEN);
	f->sets++;
	W->h.now_us += 30;	/* a netlink call takes time */
	if (W->n_seen < MAX_ROT)
		memcpy(W->seen[W->n_seen++], psk, WG_KEY_LEN);
	return 0;
}

static uint64_t fake_now_us(void *k)
{
	return W->h.now_us;
}

static const struct wireguard_kernel_ops fake_ops = {
	.get_peer = fake_get_peer,
	.set_psk = fake_set_psk,
	.now_us = fake_now_us,
};

static const struct wireguard_transport kx = {
	harness_send, harness_is_up,
};

static void *open_wireguard(struct harness *h, int i)
{
	struct harness_side *s = &h->s[i];
	struct wireguard_peer_cfg cfg = {
		.name = "w0", .ifname = "wg0", .link = "AB", .rotate_s = 1,
	};
	struct wireguard *wg;
	char err[200] = "";

	memcpy(cfg.public_key, PUB, WG_KEY_LEN);
	snprintf(cfg.peer, sizeof(cfg.peer), "%s", h->s[!i].name);
	wg = wireguard_new_with_ops(NULL, s->kma, s->name, &cfg, 1, &kx, s,
				    &fake_ops, &W->fif[i], err, sizeof(err));
	if (!wg)
		print_error("%s\n", err);
	assert_non_null(wg);
	return wg;
}

static void close_wireguard(void *wg)
{
	wireguard_free(wg);
}

static void tick_wireguard(void *wg)
{
	wireguard_tick(wg);
}

static void receive_wireguard(void *wg, const char *from,
			      const struct kxmsg *m)
{
	wireguard_receive(wg, from, m);
}

static const struct harness_ops wireguard_harness = {
	.open = open_wireguard, .close = close_wireguard,
	.tick = tick_wireguard, .receive = receive_wireguard, .pumps = 2,
};

static void run(uint64_t ms)
{
	harness_run(&W->h, ms);
}

static int setup(void **state)
{
	W = calloc(1, sizeof(*W));
	assert_non_null(W);
	harness_open(&W->h, "test_wireguard", WG_KEY_LEN, &wireguard_harness);
	return 0;
}

static int teardown(void **state)
{
	harness_close(&W->h);
	free(W);
	W = NULL;
	return 0;
}

static struct wireguard_info info_of(int side)
{
	struct wireguard_info wi;

	assert_int_equal(wireguard_count(W->h.s[side].app), 1);
	assert_int_equal(wireguard_info(W->h.s[side].app, 0, &wi), 0);
	assert_int_equal(wireguard_info(W->h.s[side].app, 1, &wi), -1);
	return wi;
}

static bool on_wire(const uint8_t *key)
{
	return memmem(W->h.wire_log, W->h.wire_log_len, key,
		      WG_KEY_LEN) != NULL;
}

static void test_rotation_in_step(void **state)
{
	uint64_t ids[12];
	struct wireguard_info a, b;

	assert_true(info_of(0).rot.owner);
	assert_false(info_of(1).rot.owner);
	for (int r = 0; r < 12; r++) {
		run(1000);
		a = info_of(0);
		b = info_of(1);
		assert_string_equal(rotate_state_name(a.rot.state), "up");
		assert_true(a.rot.have_key && b.rot.have_key);
		assert_true(a.rot.key_id == b.rot.key_id);
		assert_memory_equal(W->fif[0].psk, W->fif[1].psk,
				    WG_KEY_LEN);
		ids[r] = a.rot.key_id;
		for (int j = 0; j < r; j++)
			assert_true(ids[j] != ids[r]);
	}
	/* A set only once B held the same PSK; B set each one first. */
	assert_int_equal(W->fif[0].sets_ahead_of_peer, 0);
	assert_true(W->fif[0].sets >= 12);
	assert_int_equal(W->fif[0].sets, W->fif[1].sets);
	for (size_t i = 0; i < W->n_seen; i++) {
		assert_false(on_wire(W->seen[i]));
		for (size_t j = 0; j < i; j++)
			if (!memcmp(W->seen[i], W->seen[j], WG_KEY_LEN))
				assert_true(i % 2 == 1 && j == i - 1);
	}
	assert_true(a.rot.rotations >= 12 && a.rot.failures == 0);
	assert_true(a.rot.last_gap_us > 0 && a.rot.max_gap_us >= a.rot.last_gap_us);
	assert_true(a.rot.next_rotation_ms <= 1000);
	assert_int_equal(alarm_count(), 0);
}

/* What the ends report to accounting, by peer: A's takes name B. */
struct taken {
	uint64_t keys, bytes, refused;
};

static struct taken taken[2];

static void count_take(void *arg, const struct kma_take *t)
{
	struct taken *tk = &taken[!strcmp(t->peer, "A")];

	assert_string_equal(t->kind, "wireguard");
	assert_string_equal(t->name, "w0");
	assert_string_equal(t->link, "AB");
	/* A, the owner, draws; B fetches by A's key IDs. */
	assert_int_equal(t->by_id, tk == &taken[1]);
	if (t->err) {
		tk->refused += t->keys;
	} else {
		tk->keys += t->keys;
		tk->bytes += t->bytes;
	}
}

static void test_shortage_keeps_psk(void **state)
{
	uint8_t psk[WG_KEY_LEN];
	uint64_t rot, id, rot0[2], fail0;

	memset(taken, 0, sizeof(taken));
	rot0[0] = info_of(0).rot.rotations;
	rot0[1] = info_of(1).rot.rotations;
	fail0 = info_of(0).rot.failures;
	kma_take_set_hook(count_take, NULL);
	run(1500);
	id = info_of(0).rot.key_id;
	memcpy(psk, W->fif[0].psk, WG_KEY_LEN);
	W->h.keys_frozen = true;
	for (int i = 0; i < 30 && !alarm_is_active("wireguard:w0"); i++)
		run(1000);	/* until this end's blocks run out */
	assert_true(alarm_is_active("wireguard:w0"));
	assert_string_equal(rotate_state_name(info_of(0).rot.state),
			    "degraded");
	assert_true(info_of(0).rot.failures > 0);
	assert_true(strstr(info_of(0).rot.last_error, "no 32-byte key") != NULL);
	assert_true(info_of(0).rot.key_id != id);	/* rotated while it lasted */
	memcpy(psk, W->fif[0].psk, WG_KEY_LEN);
	id = info_of(0).rot.key_id;
	run(2000);
	assert_memory_equal(W->fif[0].psk, psk, WG_KEY_LEN);
	assert_memory_equal(W->fif[1].psk, psk, WG_KEY_LEN);
	assert_true(info_of(0).rot.key_id == id && info_of(1).rot.key_id == id);
	rot = info_of(0).rot.rotations;
	W->h.keys_frozen = false;
	run(3000);
	assert_true(info_of(0).rot.rotations > rot);
	assert_false(alarm_is_active("wireguard:w0"));
	assert_memory_equal(W->fif[0].psk, W->fif[1].psk, WG_KEY_LEN);
	/* Accounted: a 32-byte key per rotation at each end, and at A a
	 * refused key per failure (every one was a shortage). */
	kma_take_set_hook(NULL, NULL);
	assert_int_equal(taken[0].keys, info_of(0).rot.rotations - rot0[0]);
	assert_int_equal(taken[0].bytes, taken[0].keys * WG_KEY_LEN);
	assert_int_equal(taken[0].refused, info_of(0).rot.failures - fail0);
	assert_true(taken[0].refused > 0);
	assert_int_equal(taken[1].keys, info_of(1).rot.rotations - rot0[1]);
	assert_int_equal(taken[1].bytes, taken[1].keys * WG_KEY_LEN);
	assert_int_equal(taken[1].refused, 0);
}

static void test_follower_refuses(void **state)
{
	uint8_t psk[WG_KEY_LEN];

	run(1500);
	memcpy(psk, W->fif[0].psk, WG_KEY_LEN);
	W->fif[1].fail_set = -EPERM;
	run(2500);
	/* Neither end moved: the owner sets only after the follower. */
	assert_memory_equal(W->fif[0].psk, psk, WG_KEY_LEN);
	assert_memory_equal(W->fif[1].psk, psk, WG_KEY_LEN);
	assert_true(alarm_is_active("wireguard:w0"));
	assert_true(strstr(info_of(0).rot.last_error, "could not set") != NULL);
	W->fif[1].fail_set = 0;
	run(2500);
	assert_false(alarm_is_active("wireguard:w0"));
	assert_memory_not_equal(W->fif[0].psk, psk, WG_KEY_LEN);
	assert_memory_equal(W->fif[0].psk, W->fif[1].psk, WG_KEY_LEN);
}

static void test_missing_peer(void **state)
{
	struct wireguard_peer_cfg cfg = {
		.name = "w1", .ifname = "wg0", .peer = "B", .link = "AB",
		.rotate_s = 1,
	};
	char err[300] = "";

	cfg.public_key[0] = 9;
	assert_null(wireguard_new_with_ops(NULL, W->h.s[0].kma, "A", &cfg, 1,
					   &kx, &W->h.s[0], &fake_ops,
					   &W->fif[0], err, sizeof(err)));
	assert_non_null(strstr(err, "[wireguard w1]: interface 'wg0' has no peer"));
	snprintf(cfg.ifname, sizeof(cfg.ifname), "wg9");
	assert_null(wireguard_new_with_ops(NULL, W->h.s[0].kma, "A", &cfg, 1,
					   &kx, &W->h.s[0], &fake_ops,
					   &W->fif[0], err, sizeof(err)));
	assert_non_null(strstr(err, "interface 'wg9' does not exist"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rotation_in_step, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shortage_keeps_psk, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_follower_refuses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_peer, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
