// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for alarm.c: raise, refresh, clear, the full table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "core/alarm.h"

static int reset(void **state)
{
	(void)state;
	alarm_reset();
	return 0;
}

static void test_raise_refresh_clear(void **state)
{
	struct alarm_info a;
	time_t before = time(NULL);

	(void)state;
	alarm_raise("ipsec:B", "pool empty on link %s", "AB");
	alarm_raise("ipsec:B", "pool still empty on link %s", "AB");
	assert_true(alarm_is_active("ipsec:B"));
	assert_false(alarm_is_active("ipsec:C"));
	assert_int_equal(alarm_count(), 1);
	assert_int_equal(alarm_info(0, &a), 0);
	assert_int_equal(alarm_info(1, &a), -1);
	assert_string_equal(a.source, "ipsec:B");
	assert_string_equal(a.text, "pool still empty on link AB");
	assert_int_equal(a.count, 2);
	assert_true(a.since >= before && a.since <= time(NULL));
	assert_int_equal(alarm_raised_total(), 2);
	assert_int_equal(alarm_dropped_total(), 0);

	alarm_clear("ipsec:B");
	alarm_clear("ipsec:B");		/* clearing twice is harmless */
	assert_false(alarm_is_active("ipsec:B"));
	assert_int_equal(alarm_raised_total(), 2);
}

static void test_clear_keeps_others(void **state)
{
	char src[ALARM_SOURCE_MAX];

	(void)state;
	for (int i = 0; i < 5; i++) {
		snprintf(src, sizeof(src), "s%d", i);
		alarm_raise(src, "alarm %d", i);
	}
	alarm_clear("s1");
	for (int i = 0; i < 5; i++) {
		snprintf(src, sizeof(src), "s%d", i);
		assert_int_equal(alarm_is_active(src), i != 1);
	}
}

/* X.733 fields, the cause changing, acknowledgement, root alarms. */
static void test_x733_fields(void **state)
{
	struct alarm_desc root = {
		.object = "peer=B", .type = ALARM_COMMUNICATIONS,
		.cause = "lossOfSignal", .severity = ALARM_MAJOR,
	};
	struct alarm_desc child = {
		.object = "relay=A>C", .type = ALARM_COMMUNICATIONS,
		.cause = "remoteNodeTransmissionError",
		.severity = ALARM_MINOR, .root = "kx:B",
	};
	struct alarm_info a;

	(void)state;
	alarm_raise_desc("relay:C", &child, "no answer from C");
	assert_int_equal(alarm_info(0, &a), 0);
	assert_int_equal(a.id, 1);
	assert_string_equal(a.object, "relay=A>C");
	assert_int_equal(a.type, ALARM_COMMUNICATIONS);
	assert_string_equal(a.cause, "remoteNodeTransmissionError");
	assert_int_equal(a.severity, ALARM_MINOR);
	assert_string_equal(a.root, "kx:B");
	assert_int_equal(a.root_id, 0);		/* the root is not active */

	/* The root raised later still explains it. */
	alarm_raise_desc("kx:B", &root, "Kx channel to B dead");
	assert_int_equal(alarm_info(0, &a), 0);
	assert_int_equal(a.root_id, 2);

	/* Acknowledged; the same cause again keeps it so, a new one not. */
	assert_int_equal(alarm_ack(2, "uid 0"), 0);
	assert_int_equal(alarm_ack(3, "uid 0"), -1);
	alarm_raise_desc("kx:B", &root, "Kx channel to B still dead");
	assert_int_equal(alarm_info(1, &a), 0);
	assert_true(a.acked);
	assert_string_equal(a.acked_by, "uid 0");
	assert_true(a.acked_at > 0);
	root.cause = "authenticationFailure";
	root.type = ALARM_SECURITY;
	alarm_raise_desc("kx:B", &root, "handshake refused");
	assert_int_equal(alarm_info(1, &a), 0);
	assert_false(a.acked);
	assert_int_equal(a.type, ALARM_SECURITY);
	assert_int_equal(a.id, 2);			/* the same alarm */
	assert_int_equal(a.count, 3);

	assert_string_equal(alarm_type_name(ALARM_QOS), "qualityOfService");
	assert_string_equal(alarm_severity_name(ALARM_CRITICAL), "critical");
}

/* Cleared alarms go to the history, newest first, bounded. */
static void test_history(void **state)
{
	char src[ALARM_SOURCE_MAX];
	struct alarm_info a;

	(void)state;
	assert_int_equal(alarm_history_count(), 0);
	assert_int_equal(alarm_history_info(0, &a), -1);
	alarm_raise("s0", "first");
	assert_int_equal(alarm_ack(1, "uid 7"), 0);
	alarm_clear("s0");
	assert_int_equal(alarm_history_count(), 1);
	assert_int_equal(alarm_history_info(0, &a), 0);
	assert_string_equal(a.source, "s0");
	assert_true(a.cleared >= a.since && a.since > 0);
	assert_true(a.acked);
	assert_string_equal(a.acked_by, "uid 7");
	/* A new raise of the same source is a new alarm. */
	alarm_raise("s0", "again");
	assert_int_equal(alarm_info(0, &a), 0);
	assert_int_equal(a.id, 2);
	assert_false(a.acked);
	for (int i = 1; i <= ALARM_HISTORY_MAX + 5; i++) {
		snprintf(src, sizeof(src), "h%d", i);
		alarm_raise(src, "alarm %d", i);
		alarm_clear(src);
	}
	assert_int_equal(alarm_history_count(), ALARM_HISTORY_MAX);
	assert_int_equal(alarm_history_info(0, &a), 0);
	snprintf(src, sizeof(src), "h%d", ALARM_HISTORY_MAX + 5);
	assert_string_equal(a.source, src);
	assert_int_equal(alarm_history_info(ALARM_HISTORY_MAX - 1, &a), 0);
	assert_string_equal(a.source, "h6");
	assert_int_equal(alarm_history_info(ALARM_HISTORY_MAX, &a), -1);
}

static void test_table_full_is_counted(void **state)
{
	char src[ALARM_SOURCE_MAX];

	(void)state;
	for (int i = 0; i < ALARM_MAX + 3; i++) {
		snprintf(src, sizeof(src), "s%d", i);
		alarm_raise(src, "alarm %d", i);
	}
	assert_false(alarm_is_active("s64"));
	assert_int_equal(alarm_count(), ALARM_MAX);
	assert_int_equal(alarm_dropped_total(), 3);
	alarm_clear("s0");
	alarm_raise("late", "fits again");
	assert_true(alarm_is_active("late"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_raise_refresh_clear, reset),
		cmocka_unit_test_setup(test_clear_keeps_others, reset),
		cmocka_unit_test_setup(test_x733_fields, reset),
		cmocka_unit_test_setup(test_history, reset),
		cmocka_unit_test_setup(test_table_full_is_counted, reset),
	};

	return cmocka_run_group_tests_name("alarm", tests, NULL, NULL);
}
