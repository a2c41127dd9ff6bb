// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the checks of runtime provisioning (provision.h): the
 * request bodies (thresholds, peers), and the [link] rule that a runtime change shares with
 * the configuration parser.  The whole API is tested with curl in
 * selftests/host/provision.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/config.h"
#include "mgmt/provision.h"

static int pool(const char *body, struct provision_pool *pp, char *err,
		size_t errlen)
{
	err[0] = '\0';
	return provision_parse_pool(body, strlen(body), pp, err, errlen);
}

static void test_pool_body(void **state)
{
	struct provision_pool pp;
	char err[256];

	(void)state;
	assert_int_equal(pool("{\"pool_warn\": 1000}", &pp, err, sizeof(err)), 0);
	assert_true(pp.has_warn);
	assert_false(pp.has_ready);
	assert_int_equal(pp.pool_warn, 1000);
	assert_int_equal(pool("{\"pool_ready\": 0, \"pool_warn\": 9223372036854775807}",
			      &pp, err, sizeof(err)), 0);
	assert_true(pp.has_warn && pp.has_ready);
	assert_int_equal(pp.pool_ready, 0);
	assert_int_equal(pp.pool_warn, INT64_MAX);

	/* each refusal gives 400 and says why */
	static const struct { const char *body, *why; } bad[] = {
		{ "{\"pool_warn\": ", "malformed JSON" },
		{ "{\"pool_warn\": 1, \"pool_warn\": 2}", "malformed JSON" },
		{ "{\"pool_warn\": 18446744073709551616}", "malformed JSON" },
		{ "[1000]", "a JSON object" },
		{ "{}", "nothing to change" },
		{ "{\"pool_low\": 5}", "unknown field \"pool_low\"" },
		{ "{\"pool_warn\": -1}", "pool_warn: bytes, an integer from 0" },
		{ "{\"pool_ready\": 1.5}", "pool_ready: bytes, an integer from 0" },
		{ "{\"pool_ready\": \"100\"}", "pool_ready: bytes" },
		{ "{\"pool_warn\": null}", "pool_warn: bytes" },
		{ "{\"pool_warn\": true}", "pool_warn: bytes" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pool(bad[i].body, &pp, err, sizeof(err)), 400);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].body, err,
				 bad[i].why);
	}
	/* a short error buffer is cut, still terminated */
	assert_int_equal(pool("{\"pool_low\": 5}", &pp, err, 8), 400);
	assert_int_equal(strlen(err), 7);
}

/* The rule the parser applies to a [link], and provisioning to a change. */
static void test_pool_rule(void **state)
{
	struct qkd_config cfg;
	char err[CONFIG_ERR_MAX];
	static const char conf[] =
		"[node]\nname = A\nstate_dir = /tmp\n"
		"[tls]\nca = /dev/null\ncert = /dev/null\nkey = /dev/null\n"
		"[etsi014]\nlisten = 127.0.0.1:8443\n"
		"[kx]\nlisten = 127.0.0.1:9001\n"
		"[peer B]\naddress = 127.0.0.1:9000\ncert_cn = B\n"
		"[link AB]\npeer = B\nsource = sim\nrole = tx\n"
		"seed = 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
		"pool_warn = 2000\npool_ready = 1000\n";

	(void)state;
	assert_null(config_check_pool(0, 0));
	assert_null(config_check_pool(1000, 1000));
	assert_null(config_check_pool(5000, 0));	/* ready: default */
	assert_null(config_check_pool(0, 5));
	assert_non_null(config_check_pool(1001, 1000));
	assert_string_equal(config_check_pool(1001, 1000),
			    "pool_warn above pool_ready");
	assert_int_equal(config_parse_string(conf, "t.conf", "/tmp", &cfg, err,
					     sizeof(err)), -1);
	if (!strstr(err, "[link AB]: pool_warn above pool_ready"))
		fail_msg("%s", err);
}

static void test_peer_body(void **state)
{
	struct peer_cfg c;
	char err[256];
	static const char good[] =
		"{\"name\": \"C\", \"address\": \"[::1]:9003\", \"cert_cn\": \"kme-c\"}";

	(void)state;
	assert_int_equal(provision_parse_peer(good, strlen(good), &c, err,
					      sizeof(err)), 0);
	assert_string_equal(c.name, "C");
	assert_string_equal(c.address, "[::1]:9003");
	assert_string_equal(c.cert_cn, "kme-c");

	static const struct { const char *body, *why; } bad[] = {
		{ "{\"name\": \"C\"", "malformed JSON" },
		{ "[\"C\"]", "a JSON object" },
		{ "{\"name\": \"C\", \"cert_cn\": \"C\"}", "missing field \"address\"" },
		{ "{\"name\": \"C\", \"address\": \"127.0.0.1:1\", \"cert_cn\": \"C\", \"seed\": \"00\"}",
		  "unknown field \"seed\"" },
		{ "{\"name\": \"C/D\", \"address\": \"127.0.0.1:1\", \"cert_cn\": \"C\"}",
		  "name and cert_cn" },
		{ "{\"name\": \"C\", \"address\": \"127.0.0.1:1\", \"cert_cn\": \"C D\"}",
		  "name and cert_cn" },
		{ "{\"name\": \"C\", \"address\": \"c.example:1\", \"cert_cn\": \"C\"}",
		  "address: \"c.example:1\" is not" },
		{ "{\"name\": \"C\", \"address\": \"127.0.0.1:0\", \"cert_cn\": \"C\"}",
		  "address" },
		{ "{\"name\": \"C\", \"address\": 9003, \"cert_cn\": \"C\"}",
		  "address: a string" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(provision_parse_peer(bad[i].body,
						      strlen(bad[i].body), &c,
						      err, sizeof(err)), 400);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].body, err,
				 bad[i].why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_body),
		cmocka_unit_test(test_pool_rule),
		cmocka_unit_test(test_peer_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
