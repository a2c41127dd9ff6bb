// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the checks of runtime provisioning (provision.h): the
 * request bodies (thresholds, peers, links), and the [link] rules that a runtime change shares with
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

/* A link's body becomes the strings a [link] section would hold. */
static void test_link_body(void **state)
{
	static const char good[] =
		"{\"name\": \"AC\", \"peer\": \"C\", \"source\": \"sim\", "
		"\"role\": \"tx\", \"rate\": 1000000, \"kernel_push\": false}";
	static const struct { const char *body, *why; } bad[] = {
		{ "{\"name\": \"AC\"", "malformed JSON" },
		{ "[\"AC\"]", "a JSON object" },
		{ "{\"peer\": \"C\"}", "missing field \"name\"" },
		{ "{\"name\": 3}", "missing field \"name\"" },
		{ "{\"name\": \"AC\", \"rate\": -1}", "rate: a string" },
		{ "{\"name\": \"AC\", \"rate\": 1.5}", "rate: a string" },
		{ "{\"name\": \"AC\", \"role\": [\"tx\"]}", "role: a string" },
		{ "{\"name\": \"AC\", \"role\": \"t\\u0000x\"}", "is not allowed" },
	};
	char err[256];
	json_t *f;

	(void)state;
	assert_int_equal(provision_parse_link(good, strlen(good), &f, err,
					      sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(f, "rate")),
			    "1000000");
	assert_string_equal(json_string_value(json_object_get(f, "kernel_push")),
			    "no");
	assert_string_equal(json_string_value(json_object_get(f, "name")), "AC");
	json_decref(f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(provision_parse_link(bad[i].body,
						      strlen(bad[i].body), &f,
						      err, sizeof(err)), 400);
		assert_null(f);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].body, err,
				 bad[i].why);
	}
}

/*
 * config_link_check(): the [link] section's rules for a link from
 * outside the file, against the links and peers the node has now.
 */
static void test_link_check(void **state)
{
	static const char seed[] =
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	static struct qkd_config cfg = { .node = { "A", "/nonexistent" } };
	static const struct peer_cfg peers[] = {
		{ "B", "127.0.0.1:1", "B" }, { "C", "127.0.0.1:2", "C" },
	};
	static const struct kma_link_cfg ab = {
		.name = "AB", .peer = "B", .source = KM_SOURCE_SIM,
	};
	const char *k[] = { "peer", "source", "role", "seed", "rate" };
	const char *v[] = { "C", "sim", "tx", seed, "1000000" };
	static const struct {
		const char *name, *key, *val, *why;
	} bad[] = {
		{ "AC", "peer", "B", "already has [link AB]" },
		{ "AC", "peer", "Z", "peer 'Z' is not a [peer] section" },
		{ "AC", "source", "quantum", "source: 'quantum' is not" },
		{ "AC", "rate", "0", "rate" },
		{ "AC", "seed", "00zz", "seed: expected 64 hex digits" },
		{ "AC", "colour", "blue", "unknown key 'colour' in [link AC]" },
		{ "AC", "key_dir", "/nonexistent", "key_dir" },
		{ "AB", "peer", "C", "there is a link of that name" },
		{ "A/C", "peer", "C", "link name" },
	};
	struct kma_link_cfg l;
	char err[512];

	(void)state;
	assert_int_equal(config_link_check("AC", k, v, 5, &cfg, &ab, 1, peers,
					   2, &l, err, sizeof(err)), 0);
	assert_string_equal(l.name, "AC");
	assert_string_equal(l.peer, "C");
	assert_int_equal(l.source, KM_SOURCE_SIM);
	assert_int_equal(l.rate, 1000000);
	assert_int_equal(l.block_size, 1024);		/* the default */
	assert_int_equal(l.seed[31], 0xff);
	/* no seed: a sim link needs one */
	assert_int_equal(config_link_check("AC", k, v, 3, &cfg, &ab, 1, peers,
					   2, &l, err, sizeof(err)), -1);
	assert_string_equal(err, "[link AC]: source = sim needs 'seed'");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *kk[6] = { "peer", "source", "role", "seed", "rate" };
		const char *vv[6] = { "C", "sim", "tx", seed, "1000000" };
		size_t n = 5, j;

		for (j = 0; j < 5 && strcmp(kk[j], bad[i].key); j++)
			;
		if (j == 5)
			n++;
		kk[j] = bad[i].key;
		vv[j] = bad[i].val;
		err[0] = '\0';
		assert_int_equal(config_link_check(bad[i].name, kk, vv, n, &cfg,
						   &ab, 1, peers, 2, &l, err,
						   sizeof(err)), -1);
		if (!strstr(err, bad[i].why) || strstr(err, "0011223344"))
			fail_msg("%s=%s: \"%s\" lacks \"%s\"", bad[i].key,
				 bad[i].val, err, bad[i].why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_body),
		cmocka_unit_test(test_pool_rule),
		cmocka_unit_test(test_peer_body),
		cmocka_unit_test(test_link_body),
		cmocka_unit_test(test_link_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
