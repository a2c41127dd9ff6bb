// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for liveness.c: heartbeats only on an idle channel, death
 * after the dead interval of silence and not before, probes, and the
 * hysteresis with which a channel that died comes back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kx/liveness.h"

static void test_defaults(void **state)
{
	struct liveness l;

	liveness_init(&l, 0, 0);
	assert_int_equal(l.interval_ms, 100);
	assert_int_equal(l.dead_after, 3);
	assert_int_equal(liveness_dead_ms(&l), 300);
	assert_int_equal(liveness_poll(&l, 1000), LV_IDLE);	/* not open */
	assert_false(liveness_usable(&l, 1000));
}

static void test_heartbeat_when_idle(void **state)
{
	struct liveness l;

	liveness_init(&l, 100, 3);
	liveness_open(&l, 1000);
	assert_true(liveness_usable(&l, 1000));	/* no death: no hold */
	assert_int_equal(liveness_poll(&l, 1050), LV_IDLE);
	assert_int_equal(liveness_poll(&l, 1100), LV_SEND);
	liveness_tx(&l, 1100);
	assert_int_equal(liveness_poll(&l, 1150), LV_IDLE);
	/* Traffic counts as a heartbeat: nothing extra on a busy channel. */
	liveness_tx(&l, 1190);
	liveness_rx(&l, 1190);
	assert_int_equal(liveness_poll(&l, 1250), LV_IDLE);
}

static void test_dead_after_silence(void **state)
{
	struct liveness l;

	liveness_init(&l, 100, 3);
	liveness_open(&l, 0);
	for (uint64_t t = 50; t < 300; t += 50) {
		assert_int_not_equal(liveness_poll(&l, t), LV_DEAD);
		liveness_tx(&l, t);
	}
	assert_int_not_equal(liveness_poll(&l, 299), LV_DEAD);
	assert_int_equal(liveness_poll(&l, 300), LV_DEAD);
	/* Input keeps it alive however long it runs. */
	liveness_init(&l, 100, 3);
	liveness_open(&l, 0);
	for (uint64_t t = 0; t < 10000; t += 250) {
		liveness_rx(&l, t);
		liveness_tx(&l, t);
		assert_int_not_equal(liveness_poll(&l, t + 249), LV_DEAD);
	}
}

static void test_probe(void **state)
{
	struct liveness l;

	liveness_init(&l, 100, 3);
	liveness_open(&l, 0);
	assert_true(liveness_probe(&l, 100));
	assert_false(liveness_probe(&l, 150));	/* one at a time */
	/* Other traffic is no echo. */
	for (uint64_t t = 150; t < 400; t += 50) {
		liveness_rx(&l, t);
		assert_int_not_equal(liveness_poll(&l, t), LV_DEAD);
	}
	assert_int_equal(liveness_poll(&l, 400), LV_DEAD);
	/* Answered: the probe is over. */
	liveness_init(&l, 1000, 3);
	liveness_open(&l, 0);
	assert_true(liveness_probe(&l, 100));
	liveness_echo(&l, 200);
	assert_int_not_equal(liveness_poll(&l, 3100), LV_DEAD);
	assert_true(liveness_probe(&l, 3100));
	/* Not open: nothing to probe. */
	liveness_closed(&l);
	assert_false(liveness_probe(&l, 3200));
}

/* Time our own process did not run is not the peer's silence. */
static void test_stalled(void **state)
{
	struct liveness l;

	liveness_init(&l, 100, 3);
	liveness_open(&l, 0);
	liveness_rx(&l, 100);
	/* Asleep from 125 to 1125: the peer's input waits unread. */
	liveness_stalled(&l, 1000, 1125);
	assert_int_not_equal(liveness_poll(&l, 1125), LV_DEAD);
	assert_int_not_equal(liveness_poll(&l, 1399), LV_DEAD);
	assert_int_equal(liveness_poll(&l, 1400), LV_DEAD);
	/* Never beyond now; a probe's deadline moves too. */
	liveness_init(&l, 100, 3);
	liveness_open(&l, 0);
	assert_true(liveness_probe(&l, 10));
	liveness_stalled(&l, 5000, 200);
	assert_int_equal(l.last_rx_ms, 200);
	assert_int_equal(l.probe_deadline_ms, 5310);
}

static void test_hysteresis(void **state)
{
	struct liveness l;
	uint64_t t = 0;

	liveness_init(&l, 100, 3);
	liveness_open(&l, t);
	t += 300;
	assert_int_equal(liveness_poll(&l, t), LV_DEAD);
	liveness_died(&l, t);
	assert_false(liveness_usable(&l, t));
	assert_int_equal(l.deaths, 1);
	/* Back: held for the dead interval. */
	t += 50;
	liveness_open(&l, t);
	assert_false(liveness_usable(&l, t));
	assert_false(liveness_usable(&l, t + 299));
	assert_true(liveness_usable(&l, t + 300));
	/* Dies again soon: the hold doubles, up to its bound. */
	liveness_died(&l, t + 400);
	assert_int_equal(liveness_hold_ms(&l), 600);
	liveness_died(&l, t + 500);
	liveness_died(&l, t + 600);
	liveness_died(&l, t + 700);
	assert_int_equal(liveness_hold_ms(&l), 4800);
	for (int i = 0; i < 40; i++)
		liveness_died(&l, t + 800);
	assert_int_equal(liveness_hold_ms(&l), LV_HOLD_MAX_MS);
	/* Usable and live for LV_STABLE_MS: flapping forgotten. */
	t = 100000;
	liveness_open(&l, t);
	assert_false(liveness_usable(&l, t + LV_HOLD_MAX_MS - 1));
	for (uint64_t u = t; u <= t + LV_HOLD_MAX_MS + LV_STABLE_MS; u += 100) {
		liveness_rx(&l, u);
		liveness_tx(&l, u);
		assert_int_not_equal(liveness_poll(&l, u), LV_DEAD);
	}
	assert_int_equal(l.flaps, 0);
	assert_int_equal(liveness_hold_ms(&l), 300);
	/* A plain close (peer restarted) is no death: no hold next time. */
	liveness_closed(&l);
	liveness_open(&l, 200000);
	assert_true(liveness_usable(&l, 200000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_heartbeat_when_idle),
		cmocka_unit_test(test_dead_after_silence),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_stalled),
		cmocka_unit_test(test_hysteresis),
	};

	return cmocka_run_group_tests_name("liveness", tests, NULL, NULL);
}
