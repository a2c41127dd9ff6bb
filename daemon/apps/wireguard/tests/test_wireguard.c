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
#include <unistd.h>
#include <cmocka.h>

#include "core/alarm.h"
#include "kma/keysrc.h"
#include "kma/kma.h"
#include "kma/take.h"
#include "kx/kxmsg.h"
#include "apps/wireguard/wireguard.h"
#include "apps/wireguard/wg_nl.h"

#define SEC_NS		1000000000ull
#define MAX_WIRE	16
#define MAX_ROT		64

/* One wg interface's peer, as the kernel would keep it. */
struct fake_if {
	uint8_t psk[WG_KEY_LEN];
	int sets;
	int fail_set;		/* -errno for every set while non-zero */
	/* owner sets that found the other end without the same PSK */
	int sets_ahead_of_peer;
};

struct side {
	const char *name;
	char dir[64];
	struct kma *kma;
	struct wireguard *wg;
	struct fake_if fif;
};

struct wire_msg {
	int to;
	uint8_t buf[KXMSG_MAX_LEN];
	int len;
};

struct world {
	uint64_t key_ns, now_us;
	bool keys_frozen;
	struct side s[2];
	struct wire_msg wire[MAX_WIRE];
	size_t n_wire;
	uint8_t seen[MAX_ROT][WG_KEY_LEN];	/* every PSK set */
	size_t n_seen;
	uint8_t wire_log[MAX_ROT * 128];
	size_t wire_log_len;
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
	other = f == &W->s[0].fif ? &W->s[1].fif : &W->s[0].fif;
	if (f == &W->s[0].fif && memcmp(other->psk, psk, WG_KEY_LEN))
		f->sets_ahead_of_peer++;
	memcpy(f->psk, psk, WG_KEY_LEN);
	f->sets++;
	W->now_us += 30;	/* a netlink call takes time */
	if (W->n_seen < MAX_ROT)
		memcpy(W->seen[W->n_seen++], psk, WG_KEY_LEN);
	return 0;
}

static uint64_t fake_now_us(void *k)
{
	return W->now_us;
}

static const struct wireguard_kernel_ops fake_ops = {
	.get_peer = fake_get_peer,
	.set_psk = fake_set_psk,
	.now_us = fake_now_us,
};

static int wire_send(void *arg, const char *node, const struct kxmsg *m)
{
	struct side *from = arg;
	struct wire_msg *w;

	assert_true(W->n_wire < MAX_WIRE);
	w = &W->wire[W->n_wire++];
	w->to = from == &W->s[0] ? 1 : 0;
	assert_string_equal(node, W->s[w->to].name);
	w->len = kxmsg_encode(m, w->buf, sizeof(w->buf));
	assert_true(w->len > 0);
	if (W->wire_log_len + (size_t)w->len <= sizeof(W->wire_log)) {
		memcpy(W->wire_log + W->wire_log_len, w->buf, (size_t)w->len);
		W->wire_log_len += (size_t)w->len;
	}
	return 0;
}

static bool wire_is_up(void *arg, const char *node)
{
	return true;
}

static const struct wireguard_transport kx = { wire_send, wire_is_up };

static void pump(void)
{
	for (size_t i = 0; i < W->n_wire; i++) {
		struct wire_msg *w = &W->wire[i];
		struct kxmsg *m = malloc(sizeof(*m));
		char err[64];

		assert_non_null(m);
		assert_int_equal(kxmsg_decode(w->buf, (size_t)w->len, m, err,
					      sizeof(err)), w->len);
		wireguard_receive(W->s[w->to].wg, W->s[!w->to].name, m);
		free(m);
	}
	W->n_wire = 0;
}

static void run(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 100) {
		W->now_us += 100000;
		if (!W->keys_frozen)
			W->key_ns += 100 * 1000000ull;
		wireguard_tick(W->s[0].wg);
		wireguard_tick(W->s[1].wg);
		pump();
		pump();
	}
}

static uint64_t key_clock(void *arg)
{
	return W->key_ns;
}

/* 32-byte blocks at 2560 bit/s: 10 blocks a second, 5 for each end. */
static void open_side(int i)
{
	struct side *s = &W->s[i];
	uint8_t seed[32];
	struct keysrc_sim_cfg sim = {
		.link_name = "AB", .state_dir = s->dir,
		.role = i ? QKD_ROLE_RX : QKD_ROLE_TX, .seed = seed,
		.rate = 2560, .block_size = WG_KEY_LEN,
		.now_ns = key_clock, .now_arg = W,
	};
	struct km_node_cfg node = { 0 };
	struct kma_link_cfg link = {
		.name = "AB", .source = KM_SOURCE_SIM, .role = sim.role,
		.rate = sim.rate, .block_size = sim.block_size,
	};
	struct wireguard_peer_cfg cfg = {
		.name = "w0", .ifname = "wg0", .link = "AB", .rotate_s = 1,
	};
	struct keysrc *src;
	char err[200] = "";

	memset(seed, 0x5a, sizeof(seed));
	memcpy(cfg.public_key, PUB, WG_KEY_LEN);
	snprintf(cfg.peer, sizeof(cfg.peer), "%s", W->s[!i].name);
	snprintf(node.name, sizeof(node.name), "%s", s->name);
	snprintf(node.state_dir, sizeof(node.state_dir), "%s", s->dir);
	snprintf(link.peer, sizeof(link.peer), "%s", W->s[!i].name);
	src = keysrc_sim_new(&sim, err, sizeof(err));
	assert_non_null(src);
	s->kma = kma_new_with_sources(&node, &link, &src, 1, err, sizeof(err));
	assert_non_null(s->kma);
	s->wg = wireguard_new_with_ops(NULL, s->kma, s->name, &cfg, 1, &kx, s,
				       &fake_ops, &s->fif, err, sizeof(err));
	if (!s->wg)
		print_error("%s\n", err);
	assert_non_null(s->wg);
}

static int setup(void **state)
{
	W = calloc(1, sizeof(*W));
	assert_non_null(W);
	W->key_ns = 1700000000ull * SEC_NS;
	W->now_us = 1000000000;
	W->s[0].name = "A";
	W->s[1].name = "B";
	for (int i = 0; i < 2; i++) {
		snprintf(W->s[i].dir, sizeof(W->s[i].dir),
			 "/tmp/test_wireguard_%s.XXXXXX", W->s[i].name);
		assert_non_null(mkdtemp(W->s[i].dir));
	}
	open_side(0);
	open_side(1);
	W->key_ns += 2 * SEC_NS;
	alarm_reset();
	return 0;
}

static int teardown(void **state)
{
	for (int i = 0; i < 2; i++) {
		char path[128];

		wireguard_free(W->s[i].wg);
		kma_free(W->s[i].kma);
		snprintf(path, sizeof(path), "%s/AB.hwm", W->s[i].dir);
		unlink(path);
		rmdir(W->s[i].dir);
	}
	free(W);
	W = NULL;
	alarm_reset();
	return 0;
}

static struct wireguard_info info_of(int side)
{
	struct wireguard_info wi;

	assert_int_equal(wireguard_count(W->s[side].wg), 1);
	assert_int_equal(wireguard_info(W->s[side].wg, 0, &wi), 0);
	assert_int_equal(wireguard_info(W->s[side].wg, 1, &wi), -1);
	return wi;
}

static bool on_wire(const uint8_t *key)
{
	return memmem(W->wire_log, W->wire_log_len, key, WG_KEY_LEN) != NULL;
}

static void test_rotation_in_step(void **state)
{
	uint64_t ids[12];
	struct wireguard_info a, b;

	assert_true(info_of(0).owner);
	assert_false(info_of(1).owner);
	for (int r = 0; r < 12; r++) {
		run(1000);
		a = info_of(0);
		b = info_of(1);
		assert_string_equal(rotate_state_name(a.state), "up");
		assert_true(a.have_psk && b.have_psk);
		assert_true(a.key_id == b.key_id);
		assert_memory_equal(W->s[0].fif.psk, W->s[1].fif.psk,
				    WG_KEY_LEN);
		ids[r] = a.key_id;
		for (int j = 0; j < r; j++)
			assert_true(ids[j] != ids[r]);
	}
	/* A set only once B held the same PSK; B set each one first. */
	assert_int_equal(W->s[0].fif.sets_ahead_of_peer, 0);
	assert_true(W->s[0].fif.sets >= 12);
	assert_int_equal(W->s[0].fif.sets, W->s[1].fif.sets);
	for (size_t i = 0; i < W->n_seen; i++) {
		assert_false(on_wire(W->seen[i]));
		for (size_t j = 0; j < i; j++)
			if (!memcmp(W->seen[i], W->seen[j], WG_KEY_LEN))
				assert_true(i % 2 == 1 && j == i - 1);
	}
	assert_true(a.rotations >= 12 && a.failures == 0);
	assert_true(a.last_gap_us > 0 && a.max_gap_us >= a.last_gap_us);
	assert_true(a.next_rotation_ms <= 1000);
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
	rot0[0] = info_of(0).rotations;
	rot0[1] = info_of(1).rotations;
	fail0 = info_of(0).failures;
	kma_take_set_hook(count_take, NULL);
	run(1500);
	id = info_of(0).key_id;
	memcpy(psk, W->s[0].fif.psk, WG_KEY_LEN);
	W->keys_frozen = true;
	for (int i = 0; i < 30 && !alarm_is_active("wireguard:w0"); i++)
		run(1000);	/* until this end's blocks run out */
	assert_true(alarm_is_active("wireguard:w0"));
	assert_string_equal(rotate_state_name(info_of(0).state),
			    "degraded");
	assert_true(info_of(0).failures > 0);
	assert_true(strstr(info_of(0).last_error, "no 32-byte key") != NULL);
	assert_true(info_of(0).key_id != id);	/* rotated while it lasted */
	memcpy(psk, W->s[0].fif.psk, WG_KEY_LEN);
	id = info_of(0).key_id;
	run(2000);
	assert_memory_equal(W->s[0].fif.psk, psk, WG_KEY_LEN);
	assert_memory_equal(W->s[1].fif.psk, psk, WG_KEY_LEN);
	assert_true(info_of(0).key_id == id && info_of(1).key_id == id);
	rot = info_of(0).rotations;
	W->keys_frozen = false;
	run(3000);
	assert_true(info_of(0).rotations > rot);
	assert_false(alarm_is_active("wireguard:w0"));
	assert_memory_equal(W->s[0].fif.psk, W->s[1].fif.psk, WG_KEY_LEN);
	/* Accounted: a 32-byte key per rotation at each end, and at A a
	 * refused key per failure (every one was a shortage). */
	kma_take_set_hook(NULL, NULL);
	assert_int_equal(taken[0].keys, info_of(0).rotations - rot0[0]);
	assert_int_equal(taken[0].bytes, taken[0].keys * WG_KEY_LEN);
	assert_int_equal(taken[0].refused, info_of(0).failures - fail0);
	assert_true(taken[0].refused > 0);
	assert_int_equal(taken[1].keys, info_of(1).rotations - rot0[1]);
	assert_int_equal(taken[1].bytes, taken[1].keys * WG_KEY_LEN);
	assert_int_equal(taken[1].refused, 0);
}

static void test_follower_refuses(void **state)
{
	uint8_t psk[WG_KEY_LEN];

	run(1500);
	memcpy(psk, W->s[0].fif.psk, WG_KEY_LEN);
	W->s[1].fif.fail_set = -EPERM;
	run(2500);
	/* Neither end moved: the owner sets only after the follower. */
	assert_memory_equal(W->s[0].fif.psk, psk, WG_KEY_LEN);
	assert_memory_equal(W->s[1].fif.psk, psk, WG_KEY_LEN);
	assert_true(alarm_is_active("wireguard:w0"));
	assert_true(strstr(info_of(0).last_error, "could not set") != NULL);
	W->s[1].fif.fail_set = 0;
	run(2500);
	assert_false(alarm_is_active("wireguard:w0"));
	assert_memory_not_equal(W->s[0].fif.psk, psk, WG_KEY_LEN);
	assert_memory_equal(W->s[0].fif.psk, W->s[1].fif.psk, WG_KEY_LEN);
}

static void test_missing_peer(void **state)
{
	struct wireguard_peer_cfg cfg = {
		.name = "w1", .ifname = "wg0", .peer = "B", .link = "AB",
		.rotate_s = 1,
	};
	char err[300] = "";

	cfg.public_key[0] = 9;
	assert_null(wireguard_new_with_ops(NULL, W->s[0].kma, "A", &cfg, 1,
					   &kx, &W->s[0], &fake_ops,
					   &W->s[0].fif, err, sizeof(err)));
	assert_non_null(strstr(err, "[wireguard w1]: interface 'wg0' has no peer"));
	snprintf(cfg.ifname, sizeof(cfg.ifname), "wg9");
	assert_null(wireguard_new_with_ops(NULL, W->s[0].kma, "A", &cfg, 1,
					   &kx, &W->s[0], &fake_ops,
					   &W->s[0].fif, err, sizeof(err)));
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
