// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the rotating consumer core (apps/rotate.h) with a consumer
 * shaped like an IKE PPK one: prepare (owner) and install (follower) load
 * the key, activate (owner) answers later (ROTATE_ASYNC), as a
 * reauthentication would.  Two ends over a simulated QKD link, a fake
 * clock and a Kx wire of encoded messages.  Checks that the key bytes
 * reach the first op only, that both ends load the same key, that an async
 * outcome completes or fails the rotation, the per-consumer series in
 * /metrics, and the accounting of the keys the ports take (kma/take.h into
 * mgmt/account.h): exactly rotations x key size at each end.
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

#include "apps/rotate.h"
#include "apps/tests/consumer_harness.h"
#include "core/alarm.h"
#include "kma/kma.h"
#include "kma/take.h"
#include "kx/kxmsg.h"
#include "mgmt/account.h"
#include "mgmt/ctl.h"
#include "mgmt/metrics.h"

#define KEY_LEN		32

/* One end's "program": what its ops saw. */
struct end {
	struct rotate_port *rp;
	uint8_t loaded[KEY_LEN];	/* the key the "program" holds */
	uint64_t loaded_id;
	int loads, activations;
	uint64_t async_gen;		/* activate pending: its gen */
	bool async_pending;
	int null_bytes_ops;		/* ops after the first got NULL */
};

struct world {
	struct harness h;
	struct end e[2];
};

static struct world *W;

static int load(void *arg, const struct rotate_key *k, char *err,
		size_t errlen)
{
	struct end *s = arg;

	assert_non_null(k->bytes);
	assert_int_equal(k->len, KEY_LEN);
	memcpy(s->loaded, k->bytes, KEY_LEN);
	s->loaded_id = k->id;
	s->loads++;
	return 0;
}

static int reauth(void *arg, const struct rotate_key *k, char *err,
		  size_t errlen)
{
	struct end *s = arg;

	if (!k->bytes)
		s->null_bytes_ops++;
	assert_int_equal(k->id, s->loaded_id);
	s->async_gen = k->gen;
	s->async_pending = true;
	return ROTATE_ASYNC;
}

static uint64_t fake_now_us(void *ctx)
{
	return W->h.now_us;
}

static const struct rotate_ops ppk_ops = {
	.kind = "test-ppk", .key_noun = "PPK", .install_verb = "load",
	.both_own = "both ends own it",
	.offer = KXMSG_WG_PSK, .ack = KXMSG_WG_ACK,
	.install_failed = KXC_WG_FAILED,
	.alarm_type = ALARM_SECURITY, .alarm_cause = "keyExpired",
	.alarm_severity = ALARM_MINOR,
	.prepare = load,
	.install = load,
	.activate = reauth,
	.now_us = fake_now_us,
};

static void *open_rotate(struct harness *h, int i)
{
	struct harness_side *s = &h->s[i];
	struct rotate_cfg rc = {
		.ops = &ppk_ops, .node = s->name, .send = harness_send,
		.is_up = harness_is_up, .kx_arg = s, .max_ports = 1,
	};
	struct rotate_port_cfg pc = {
		.name = "ike0", .peer = h->s[!i].name, .link = "AB",
		.rotate_s = 1, .key_len = KEY_LEN,
		.alarm_source = "test-ppk:ike0", .alarm_object = "ppk=ike0",
		.ctx = &W->e[i],
	};
	struct rotate *rot;
	char err[200] = "";

	rot = rotate_new(NULL, s->kma, &rc, err, sizeof(err));
	assert_non_null(rot);
	W->e[i].rp = rotate_port_add(rot, &pc, err, sizeof(err));
	if (!W->e[i].rp)
		print_error("%s\n", err);
	assert_non_null(W->e[i].rp);
	return rot;
}

static void close_rotate(void *rot)
{
	rotate_free(rot);
}

static void tick_rotate(void *rot)
{
	rotate_tick(rot);
}

static void receive_rotate(void *rot, const char *from,
			   const struct kxmsg *m)
{
	struct rotate_port *rp = rotate_lookup(rot, from, m);

	assert_non_null(rp);
	assert_true(rotate_port_receive(rp, m));
}

static const struct harness_ops rotate_harness = {
	.open = open_rotate, .close = close_rotate, .tick = tick_rotate,
	.receive = receive_rotate, .pumps = 2,
};

static void run(uint64_t ms)
{
	harness_run(&W->h, ms);
}

static int setup(void **state)
{
	W = calloc(1, sizeof(*W));
	assert_non_null(W);
	harness_open(&W->h, "test_rotate", KEY_LEN, &rotate_harness);
	return 0;
}

static int teardown(void **state)
{
	harness_close(&W->h);
	free(W);
	W = NULL;
	return 0;
}

/* The owner's async op ends: ok or not. */
static void finish(int ret)
{
	struct end *a = &W->e[0];

	assert_true(a->async_pending);
	a->async_pending = false;
	a->activations++;
	rotate_port_done(a->rp, a->async_gen, ret, ret ? "reauth refused" : NULL);
}

static void test_async_rotation(void **state)
{
	const struct rotate_status *a = rotate_port_status(W->e[0].rp);
	const struct rotate_status *b = rotate_port_status(W->e[1].rp);
	uint64_t last = 0;

	assert_true(a->owner);
	assert_false(b->owner);
	for (int r = 0; r < 5; r++) {
		run(1000);
		/* Both ends hold the same new key; A's step is pending. */
		assert_int_equal(W->e[0].loads, r + 1);
		assert_int_equal(W->e[1].loads, r + 1);
		assert_memory_equal(W->e[0].loaded, W->e[1].loaded, KEY_LEN);
		assert_true(W->e[0].loaded_id != last);
		last = W->e[0].loaded_id;
		assert_true(a->rotating);
		/* The follower has no switch step: done on its install. */
		assert_int_equal(b->rotations, r + 1);
		finish(0);
		assert_false(a->rotating);
		assert_int_equal(a->rotations, r + 1);
		assert_int_equal(a->key_id, last);
	}
	/* Only the first op of a rotation saw the bytes. */
	assert_int_equal(W->e[0].null_bytes_ops, 5);
	/* A stale outcome changes nothing. */
	rotate_port_done(W->e[0].rp, W->e[0].async_gen - 1, -EIO, "late");
	assert_int_equal(a->failures, 0);
	assert_int_equal(alarm_count(), 0);
}

static void test_async_failure_and_timeout(void **state)
{
	const struct rotate_status *a = rotate_port_status(W->e[0].rp);
	struct alarm_info ai;

	run(1000);
	finish(-EPERM);
	assert_int_equal(a->failures, 1);
	assert_int_equal(a->rotations, 0);
	assert_true(a->alarmed);
	assert_non_null(strstr(a->last_error, "reauth refused"));
	assert_int_equal(alarm_count(), 1);
	assert_int_equal(alarm_info(0, &ai), 0);
	assert_string_equal(ai.source, "test-ppk:ike0");
	assert_int_equal(ai.type, ALARM_SECURITY);
	assert_string_equal(ai.cause, "keyExpired");
	assert_int_equal(ai.severity, ALARM_MINOR);
	/* Retried after a second; no outcome within the timeout: failed. */
	run(1000);
	assert_true(W->e[0].async_pending);
	W->e[0].async_pending = false;
	run(ROTATE_OP_TIMEOUT_MS);
	assert_int_equal(a->failures, 2);
	assert_non_null(strstr(a->last_error, "no outcome of rotation"));
	/* The next good one clears the alarm. */
	run(1000);
	finish(0);
	assert_int_equal(a->rotations, 1);
	assert_false(a->alarmed);
	assert_int_equal(alarm_count(), 0);
}

/* The series qkd_consumer_rotations_total and ..._failures_total. */
static void test_metrics(void **state)
{
	struct qkd_config cfg;
	struct ctl_sources src = { .cfg = &cfg };
	size_t len;
	char *text;

	memset(&cfg, 0, sizeof(cfg));
	run(1000);
	finish(0);
	run(1000);
	finish(-EIO);
	text = metrics_render(&src, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "\n# TYPE qkd_consumer_rotations_total counter\n"));
	assert_non_null(strstr(text, "\nqkd_consumer_rotations_total{kind=\"test-ppk\",name=\"ike0\"} 1\n"));
	/* B, the follower, completed both on its install. */
	assert_non_null(strstr(text, "\nqkd_consumer_rotations_total{kind=\"test-ppk\",name=\"ike0\"} 2\n"));
	assert_non_null(strstr(text, "\n# TYPE qkd_consumer_rotation_failures_total counter\n"));
	assert_non_null(strstr(text, "\nqkd_consumer_rotation_failures_total{kind=\"test-ppk\",name=\"ike0\"} 1\n"));
	free(text);
}

/* The consumer test-ppk:ike0's total toward @peer, from the accounting. */
static struct acct_counts taken(const struct account *acct, const char *peer)
{
	struct acct_pair_info p;
	struct acct_counts none = { 0 };

	for (size_t i = 0; i < account_pair_count(acct); i++) {
		assert_int_equal(account_pair_info(acct, i, &p), 0);
		if (!strcmp(p.master, "test-ppk:ike0") &&
		    !strcmp(p.slave, peer) && !strcmp(p.link, "AB"))
			return p.total;
	}
	return none;
}

static void test_accounting(void **state)
{
	const struct rotate_status *a = rotate_port_status(W->e[0].rp);
	const struct rotate_status *b = rotate_port_status(W->e[1].rp);
	struct account_cfg ac = { .interval_s = 60 };
	struct kxmsg offer = { .type = KXMSG_WG_PSK, .key_len = KEY_LEN,
			       .seq = 1000 };
	struct acct_counts ca, cb;
	struct account *acct;
	char dir[64], path[96], err[200] = "";

	snprintf(dir, sizeof(dir), "/tmp/test_rotate_acct.XXXXXX");
	assert_non_null(mkdtemp(dir));
	ac.state_dir = dir;
	acct = account_open(NULL, &ac, err, sizeof(err));
	assert_non_null(acct);
	kma_take_set_hook(account_take_event, acct);
	for (int r = 0; r < 4; r++) {
		run(1000);
		finish(0);
	}
	assert_int_equal(a->rotations, 4);
	assert_int_equal(b->rotations, 4);
	/* A, the owner, drew each key new; B fetched it by A's key ID. */
	ca = taken(acct, "B");
	cb = taken(acct, "A");
	assert_int_equal(ca.enc_keys, a->rotations);
	assert_int_equal(ca.enc_bits, a->rotations * KEY_LEN * 8);
	assert_int_equal(ca.dec_keys + ca.enc_refused + ca.dec_refused, 0);
	assert_int_equal(cb.dec_keys, b->rotations);
	assert_int_equal(cb.dec_bits, b->rotations * KEY_LEN * 8);
	assert_int_equal(cb.enc_keys + cb.enc_refused + cb.dec_refused, 0);
	/* An offer of a key B took already: refused, not found. */
	offer.key_id = b->key_id;
	snprintf(offer.port, sizeof(offer.port), "ike0");
	assert_true(rotate_port_receive(W->e[1].rp, &offer));
	W->h.n_wire = 0;	/* its NAK */
	cb = taken(acct, "A");
	assert_int_equal(cb.dec_keys, 4);
	assert_int_equal(cb.dec_refused, 1);
	assert_int_equal(cb.refused[ACCT_R_NOT_FOUND], 1);
	kma_take_set_hook(NULL, NULL);
	account_close(acct);
	/* Durable: a restart reads the same totals back. */
	acct = account_open(NULL, &ac, err, sizeof(err));
	assert_non_null(acct);
	assert_int_equal(taken(acct, "B").enc_bits, 4 * KEY_LEN * 8);
	assert_int_equal(taken(acct, "A").dec_bits, 4 * KEY_LEN * 8);
	account_close(acct);
	snprintf(path, sizeof(path), "%s/accounting.log", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/accounting.journal", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_async_rotation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_async_failure_and_timeout,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accounting, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("rotate", tests, NULL, NULL);
}
