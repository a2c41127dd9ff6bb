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
		cmocka_unit_test_setup(test_table_full_is_counted, reset),
	};

	return cmocka_run_group_tests_name("alarm", tests, NULL, NULL);
}
