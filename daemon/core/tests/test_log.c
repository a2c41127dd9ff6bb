// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for log.c: the rate limit for per-key messages (a burst per
 * window passes, the rest is counted and reported by the next window's
 * first message) and control characters replaced in logged text.
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

#include "core/log.h"

static char captured[8192];

/* Run @fn with stderr going to a file; its text lands in captured[]. */
static void capture(void (*fn)(void))
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(f);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_int_equal(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
	fn();
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(captured, 1, sizeof(captured) - 1, f);
	captured[n] = '\0';
	fclose(f);
}

static int count(const char *needle)
{
	int n = 0;

	for (const char *p = captured; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static struct log_ratelimit rl = LOG_RATELIMIT_INIT(300, 5);

static void burst_of_100(void)
{
	for (int i = 0; i < 100; i++)
		log_ratelimited(&rl, LOG_LVL_WARN, "key %d refused", i);
}

static void one_more_later(void)
{
	usleep(400 * 1000);	/* past the 300 ms window */
	log_ratelimited(&rl, LOG_LVL_WARN, "key %d refused", 100);
}

static void test_ratelimit(void **state)
{
	log_init("test", LOG_LVL_INFO);
	capture(burst_of_100);
	assert_int_equal(count(" refused"), 5);
	assert_non_null(strstr(captured, "key 4 refused"));
	assert_null(strstr(captured, "key 5 refused"));
	assert_int_equal(count("suppressed"), 0);

	capture(one_more_later);
	assert_non_null(strstr(captured, "(95 similar messages suppressed)"));
	assert_non_null(strstr(captured, "key 100 refused"));
	assert_true(strstr(captured, "suppressed") <
		    strstr(captured, "key 100 refused"));
}

/* A message below the level is neither printed nor counted. */
static void debug_burst(void)
{
	static struct log_ratelimit quiet = LOG_RATELIMIT_INIT(300, 1);

	for (int i = 0; i < 10; i++)
		log_ratelimited(&quiet, LOG_LVL_DEBUG, "debug %d", i);
	assert_int_equal(quiet.suppressed, 0);
}

static void test_ratelimit_below_level(void **state)
{
	log_init("test", LOG_LVL_INFO);
	capture(debug_burst);
	assert_string_equal(captured, "");
}

static void control_chars(void)
{
	log_warn("line\nbreak\x1b[31m");
}

static void test_control_characters(void **state)
{
	log_init("test", LOG_LVL_INFO);
	capture(control_chars);
	assert_non_null(strstr(captured, "line?break?[31m"));
	assert_int_equal(count("\n"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_ratelimit_below_level),
		cmocka_unit_test(test_control_characters),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
