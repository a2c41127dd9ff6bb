// SPDX-License-Identifier: GPL-2.0
/*
 * skip.c: routes, methods and parameters to (endpoint, remote SAE, size,
 * key UUID), each bad request to the draft's status; ksa.h answers to
 * statuses; the capabilities and key JSON; keyId <-> UUID.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "kx/http.h"
#include "ksa/skip.h"

static const struct skip_remote remotes[] = {
	{ "gwB", "app2" }, { "gw.C", "app3" },
};
static const struct skip_config cfg = {
	.local_id = "gwA", .local_sae = "app1", .client_cn = "routerA",
	.remotes = remotes, .n_remotes = 2,
	.default_size = 256, .min_size = 64, .max_size = 4096,
};
static struct skip_request rq;

static int parse(const char *method, const char *target, struct skip_error *err)
{
	static const struct http_limits lim = {
		.max_url = 2048, .max_header_bytes = 4096, .max_body = 4096,
	};
	struct http_reader r;
	char *raw;
	size_t used;
	int ret;

	assert_int_equal(http_reader_init(&r, &lim), 0);
	assert_true(asprintf(&raw, "%s %s HTTP/1.1\r\nHost: kp\r\n\r\n",
			     method, target) > 0);
	assert_int_equal(http_reader_feed(&r, (uint8_t *)raw, strlen(raw), &used),
			 HTTP_REQUEST_READY);
	memset(err, 0, sizeof(*err));
	ret = skip_parse(&r.req, &cfg, &rq, err);
	free(raw);
	http_reader_free(&r);
	return ret;
}

static void expect_ok(const char *method, const char *target)
{
	struct skip_error err;

	if (parse(method, target, &err))
		fail_msg("%s %s: %d %s", method, target, err.status, err.message);
}

static void expect_error(const char *method, const char *target, int status)
{
	struct skip_error err;

	if (parse(method, target, &err) == 0)
		fail_msg("%s %s: accepted", method, target);
	assert_int_equal(err.status, status);
	assert_true(err.message[0]);
	assert_true((status == 405) == (err.allow != NULL));
}

static void test_routes(void **state)
{
	expect_ok("GET", "/capabilities");
	assert_int_equal(rq.endpoint, SKIP_CAPABILITIES);

	expect_ok("GET", "/key?remoteSystemID=gwB");
	assert_int_equal(rq.endpoint, SKIP_NEW_KEY);
	assert_string_equal(rq.remote_sae, "app2");
	assert_int_equal(rq.size, 256);

	expect_ok("GET", "/key?size=512&remoteSystemID=gw.C");
	assert_string_equal(rq.remote_sae, "app3");
	assert_int_equal(rq.size, 512);

	expect_ok("GET", "/key/1726E9AE76234fb1dd1283d4dca1911e?remoteSystemID=gwB");
	assert_int_equal(rq.endpoint, SKIP_KEY_BY_ID);
	assert_string_equal(rq.key_id, "1726e9ae-7623-4fb1-dd12-83d4dca1911e");
	assert_string_equal(rq.remote_sae, "app2");
}

static void test_errors(void **state)
{
	expect_error("GET", "/entropy", 404);
	expect_error("GET", "/", 404);
	expect_error("GET", "/keys?remoteSystemID=gwB", 404);
	expect_error("POST", "/key?remoteSystemID=gwB", 405);
	expect_error("DELETE", "/key/1726e9ae76234fb1dd1283d4dca1911e", 405);
	expect_error("HEAD", "/capabilities", 405);
	expect_error("GET", "/key", 400);
	expect_error("GET", "/key?remoteSystemID=gwA", 400);
	expect_error("GET", "/key?remoteSystemID=gwB&remoteSystemID=gwB", 400);
	expect_error("GET", "/key?remoteSystemID=gwB&size=100", 400);
	expect_error("GET", "/key?remoteSystemID=gwB&size=0", 400);
	expect_error("GET", "/key?remoteSystemID=gwB&size=-8", 400);
	expect_error("GET", "/key?remoteSystemID=gwB&size=56", 400);
	expect_error("GET", "/key?remoteSystemID=gwB&size=4104", 400);
	expect_error("GET", "/key?remoteSystemID=gwB&size=99999999999", 400);
	expect_error("GET", "/key?remoteSystemID=gwB&size=256&size=256", 400);
	expect_error("GET", "/key?remoteSystemID=gwB&number=1", 400);
	expect_error("GET", "/key?remoteSystemID=%zz", 400);
	expect_error("GET", "/key/1726e9ae76234fb1dd1283d4dca1911e", 400);
	expect_error("GET", "/key/1726e9ae76234fb1dd1283d4dca1911?remoteSystemID=gwB", 400);
	expect_error("GET", "/key/1726e9ae-7623-4fb1-dd12-83d4dca1911e?remoteSystemID=gwB", 400);
	expect_error("GET", "/key/1726e9ae76234fb1dd1283d4dca1911g?remoteSystemID=gwB", 400);
	expect_error("GET", "/key/1726e9ae76234fb1dd1283d4dca1911e?remoteSystemID=gwB&size=256", 400);
	expect_error("GET", "/capabilities?x=1", 400);
}

static void test_map_result(void **state)
{
	struct ksa_err kerr = { .message = "no key on link AB" };
	struct skip_error err;

	skip_map_result(KSA_NOT_FOUND, NULL, &err);
	assert_int_equal(err.status, 400);
	skip_map_result(KSA_RETRY, NULL, &err);
	assert_int_equal(err.status, 400);
	skip_map_result(KSA_BAD_REQUEST, &kerr, &err);
	assert_int_equal(err.status, 400);
	skip_map_result(KSA_UNAVAILABLE, &kerr, &err);
	assert_int_equal(err.status, 503);
	assert_string_equal(err.message, "no key on link AB");
}

static void test_json(void **state)
{
	uint8_t bytes[4] = { 0x00, 0xab, 0x10, 0xff };
	struct ksa_key k = { .key_id = "1726e9ae-7623-4fb1-dd12-83d4dca1911e",
			     .size = 32, .key = bytes };
	struct skip_error err = { 400, "unknown remoteSystemID", NULL };
	size_t len;
	char *s;

	s = skip_key_json(&k, &len);
	assert_non_null(s);
	assert_string_equal(s, "{\"keyId\":\"1726e9ae76234fb1dd1283d4dca1911e\",\"key\":\"00ab10ff\"}");
	assert_int_equal(len, strlen(s));
	skip_body_free(s, len);

	/* A key ID that is not a UUID never goes out unescaped. */
	strcpy(k.key_id, "1726e9ae-7623-4fb1-dd12-83d4dca1\"11e");
	assert_null(skip_key_json(&k, &len));
	strcpy(k.key_id, "1726e9ae");
	assert_null(skip_key_json(&k, &len));

	s = skip_capabilities_json(&cfg, &len);
	assert_string_equal(s, "{\"entropy\":false,\"key\":true,\"algorithm\":\"QKD\",\"localSystemID\":\"gwA\",\"remoteSystemID\":[\"gwB\",\"gw.C\"]}");
	free(s);
	s = skip_error_json(&err, &len);
	assert_string_equal(s, "{\"message\":\"unknown remoteSystemID\"}");
	free(s);
}

static void test_config_dup(void **state)
{
	struct skip_config *c = skip_config_dup(&cfg);

	assert_non_null(c);
	assert_string_equal(c->local_id, "gwA");
	assert_int_equal(c->n_remotes, 2);
	assert_string_equal(c->remotes[1].system_id, "gw.C");
	assert_string_equal(c->remotes[1].sae, "app3");
	assert_ptr_not_equal(c->remotes[1].sae, remotes[1].sae);
	skip_config_free(c);
}

/* Runs last: with a secure heap, as in qkdkmd, the key's body is in it. */
static void test_key_body_locked(void **state)
{
	uint8_t bytes[4] = { 0x00, 0xab, 0x10, 0xff };
	struct ksa_key k = { .key_id = "1726e9ae-7623-4fb1-dd12-83d4dca1911e",
			     .size = 32, .key = bytes };
	size_t len;
	char *s;

	if (!CRYPTO_secure_malloc_initialized() &&
	    !CRYPTO_secure_malloc_init(1 << 20, 16))
		skip();
	s = skip_key_json(&k, &len);
	assert_non_null(s);
	assert_true(CRYPTO_secure_allocated(s));
	skip_body_free(s, len);
	assert_int_equal(CRYPTO_secure_used(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_map_result),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_config_dup),
		cmocka_unit_test(test_key_body_locked),
	};

	return cmocka_run_group_tests_name("skip", tests, NULL, NULL);
}
