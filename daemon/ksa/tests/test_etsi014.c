// SPDX-License-Identifier: GPL-2.0
/*
 * etsi014.c's pure layer: routes, methods, GET parameters and POST JSON
 * bodies to (endpoint, SAE ID, parameters), each malformed input to the
 * spec's status and message; ksa.h answers to HTTP; the JSON it sends
 * back.  No KSA is called (the real one is another module's).
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

#include "ksa/etsi014.h"
#include "kx/http.h"

static struct etsi014_request rq;

/* Parse "METHOD TARGET" with @body through the real HTTP reader. */
static int parse(const char *method, const char *target, const char *body,
		 struct etsi014_error *err)
{
	static const struct http_limits lim = {
		.max_url = 2048, .max_header_bytes = 4096, .max_body = 65536,
	};
	struct http_reader r;
	char *raw;
	size_t used;
	int ret;

	assert_int_equal(http_reader_init(&r, &lim), 0);
	assert_true(asprintf(&raw, "%s %s HTTP/1.1\r\nHost: kme\r\nContent-Length: %zu\r\n\r\n%s",
			     method, target, body ? strlen(body) : 0,
			     body ? body : "") > 0);
	assert_int_equal(http_reader_feed(&r, (uint8_t *)raw, strlen(raw), &used),
			 HTTP_REQUEST_READY);
	memset(err, 0, sizeof(*err));
	ret = etsi014_parse(&r.req, &rq, err);
	free(raw);
	http_reader_free(&r);
	return ret;
}

static void expect_error(const char *method, const char *target,
			 const char *body, int status, const char *message)
{
	struct etsi014_error err;

	if (parse(method, target, body, &err) == 0)
		fail_msg("%s %s %s: accepted", method, target, body ? body : "");
	assert_int_equal(err.status, status);
	if (message)
		assert_string_equal(err.message, message);
	etsi014_error_clear(&err);
}

static void expect_ok(const char *method, const char *target, const char *body)
{
	struct etsi014_error err;

	if (parse(method, target, body, &err))
		fail_msg("%s %s: %d %s", method, target, err.status, err.message);
}

static void test_routes(void **state)
{
	expect_ok("GET", "/api/v1/keys/app2/status", NULL);
	assert_int_equal(rq.endpoint, ETSI014_STATUS);
	assert_string_equal(rq.sae_id, "app2");

	expect_ok("GET", "/api/v1/keys/app%202/enc_keys", NULL);
	assert_int_equal(rq.endpoint, ETSI014_ENC_KEYS);
	assert_string_equal(rq.sae_id, "app 2");
	assert_int_equal(rq.number, 0);
	assert_int_equal(rq.size, 0);

	expect_ok("GET", "/api/v1/keys/app1/dec_keys?key_ID=bc490419-7d60-487f-adc1-4ddcc177c139",
		  NULL);
	assert_int_equal(rq.endpoint, ETSI014_DEC_KEYS);
	assert_string_equal(rq.sae_id, "app1");
	assert_int_equal(rq.n_key_ids, 1);
	assert_string_equal(rq.key_ids[0], "bc490419-7d60-487f-adc1-4ddcc177c139");

	expect_error("GET", "/api/v1/keys/app2/other", NULL, 404, "not found");
	expect_error("GET", "/api/v1/keys/app2/status/x", NULL, 404, NULL);
	expect_error("GET", "/api/v1/keys//status", NULL, 404, NULL);
	expect_error("GET", "/api/v2/keys/app2/status", NULL, 404, NULL);
	expect_error("GET", "/", NULL, 404, NULL);
	expect_error("GET", "/api/v1/keys/../status", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/a%2Fb/status", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/a%00/status", NULL, 400, NULL);
}

static void test_methods(void **state)
{
	struct etsi014_error err;

	assert_int_equal(parse("POST", "/api/v1/keys/app2/status", "{}", &err), -1);
	assert_int_equal(err.status, 405);
	assert_string_equal(err.allow, "GET");
	etsi014_error_clear(&err);
	assert_int_equal(parse("DELETE", "/api/v1/keys/app2/enc_keys", NULL, &err), -1);
	assert_int_equal(err.status, 405);
	assert_string_equal(err.allow, "GET, POST");
	etsi014_error_clear(&err);
	expect_error("PUT", "/api/v1/keys/app1/dec_keys", "{}", 405, NULL);
}

static void test_get_parameters(void **state)
{
	expect_ok("GET", "/api/v1/keys/app2/enc_keys?number=3&size=512", NULL);
	assert_int_equal(rq.number, 3);
	assert_int_equal(rq.size, 512);

	expect_error("GET", "/api/v1/keys/app2/enc_keys?size=100", NULL, 400,
		     "size shall be a multiple of 8");
	expect_error("GET", "/api/v1/keys/app2/enc_keys?size=0", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/app2/enc_keys?size=-8", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/app2/enc_keys?number=0", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/app2/enc_keys?number=1x", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/app2/enc_keys?number=99999999999", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/app2/enc_keys?number=100000", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/app2/enc_keys?bogus=1", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/app2/enc_keys?size=%zz", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/app2/status?number=1", NULL, 400, NULL);

	expect_ok("GET", "/api/v1/keys/app1/dec_keys?key_ID=a&key_ID=b", NULL);
	assert_int_equal(rq.n_key_ids, 2);
	assert_string_equal(rq.key_ids[1], "b");
	expect_ok("GET", "/api/v1/keys/app1/dec_keys?key_ID=a,b,c", NULL);
	assert_int_equal(rq.n_key_ids, 3);
	assert_string_equal(rq.key_ids[2], "c");
	expect_error("GET", "/api/v1/keys/app1/dec_keys?key_ID=a,,b", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/app1/dec_keys?key_ID=a,", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/app1/dec_keys", NULL, 400, NULL);
	expect_error("GET", "/api/v1/keys/app1/dec_keys?key_ID=", NULL, 400,
		     "one or more keys specified are not found on KME");
	expect_error("GET", "/api/v1/keys/app1/dec_keys?key_ID="
		     "0123456789012345678901234567890123456789", NULL, 400,
		     "one or more keys specified are not found on KME");
}

static void test_enc_body(void **state)
{
	struct etsi014_error err;
	json_t *d;

	expect_ok("POST", "/api/v1/keys/app2/enc_keys",
		  "{\"number\":2,\"size\":1024,\"additional_slave_SAE_IDs\":[\"app3\",\"app4\"],"
		  "\"extension_optional\":[{\"abc_max_age\":30000}]}");
	assert_int_equal(rq.number, 2);
	assert_int_equal(rq.size, 1024);
	assert_int_equal(rq.n_extra, 2);
	assert_string_equal(rq.extra[1], "app4");
	expect_ok("POST", "/api/v1/keys/app2/enc_keys", "{}");
	assert_int_equal(rq.number, 0);
	expect_ok("POST", "/api/v1/keys/app2/enc_keys", "{\"extension_mandatory\":[]}");

	expect_error("POST", "/api/v1/keys/app2/enc_keys", "{\"size\":12}", 400,
		     "size shall be a multiple of 8");
	expect_error("POST", "/api/v1/keys/app2/enc_keys", "{\"size\":\"256\"}", 400, NULL);
	expect_error("POST", "/api/v1/keys/app2/enc_keys", "{\"number\":-1}", 400, NULL);
	expect_error("POST", "/api/v1/keys/app2/enc_keys", "{\"number\":1.5}", 400, NULL);
	expect_error("POST", "/api/v1/keys/app2/enc_keys", "{\"number\":1,", 400, NULL);
	expect_error("POST", "/api/v1/keys/app2/enc_keys", "[1]", 400, NULL);
	expect_error("POST", "/api/v1/keys/app2/enc_keys", "{\"number\":1,\"number\":2}", 400, NULL);
	expect_error("POST", "/api/v1/keys/app2/enc_keys",
		     "{\"additional_slave_SAE_IDs\":\"app3\"}", 400, NULL);
	expect_error("POST", "/api/v1/keys/app2/enc_keys",
		     "{\"additional_slave_SAE_IDs\":[\"\"]}", 400, NULL);
	expect_error("POST", "/api/v1/keys/app2/enc_keys",
		     "{\"additional_slave_SAE_IDs\":[\"a\\u0000b\"]}", 400, NULL);

	assert_int_equal(parse("POST", "/api/v1/keys/app2/enc_keys",
			       "{\"extension_mandatory\":[{\"abc_route_type\":\"direct\"},"
			       "{\"abc_transfer_method\":\"qkd\"}]}", &err), -1);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.message,
			    "not all extension_mandatory parameters are supported");
	assert_true(json_is_array(err.details));
	assert_int_equal(json_array_size(err.details), 2);
	d = json_array_get(err.details, 1);
	assert_string_equal(json_string_value(json_object_get(d,
			    "extension_mandatory_unsupported")), "abc_transfer_method");
	etsi014_error_clear(&err);
}

static void test_dec_body(void **state)
{
	expect_ok("POST", "/api/v1/keys/app1/dec_keys",
		  "{\"key_IDs\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\"},"
		  "{\"key_ID\":\"0a782fb5-3434-48fe-aa4d-14f41d46cf92\",\"key_ID_extension\":{}}]}");
	assert_int_equal(rq.n_key_ids, 2);
	assert_string_equal(rq.key_ids[1], "0a782fb5-3434-48fe-aa4d-14f41d46cf92");
	expect_error("POST", "/api/v1/keys/app1/dec_keys", "{}", 400, NULL);
	expect_error("POST", "/api/v1/keys/app1/dec_keys", "{\"key_IDs\":[]}", 400, NULL);
	expect_error("POST", "/api/v1/keys/app1/dec_keys", "{\"key_IDs\":[{\"key_ID\":5}]}",
		     400, NULL);
	expect_error("POST", "/api/v1/keys/app1/dec_keys", "{\"key_IDs\":[\"x\"]}", 400, NULL);
	expect_error("POST", "/api/v1/keys/app1/dec_keys", "not json", 400, NULL);
}

static void test_result_mapping(void **state)
{
	struct ksa_err kerr = { "size out of range", KSA_WHY_ANY };
	struct etsi014_error err = { 0 };

	etsi014_map_result(KSA_BAD_REQUEST, &kerr, &err);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.message, "size out of range");
	etsi014_map_result(KSA_NOT_FOUND, &kerr, &err);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.message, "one or more keys specified are not found on KME");
	etsi014_map_result(KSA_RETRY, NULL, &err);
	assert_string_equal(err.message, "one or more keys specified are not found on KME");
	etsi014_map_result(KSA_UNAUTHORIZED, NULL, &err);
	assert_int_equal(err.status, 401);
	etsi014_map_result(KSA_UNAVAILABLE, NULL, &err);
	assert_int_equal(err.status, 503);
	assert_string_equal(err.message, "key data access error");
}

static void test_json_bodies(void **state)
{
	uint8_t k1[32], k2[3] = { 0xff, 0x00, 0x10 };
	struct ksa_key keys[2] = {
		{ "bc490419-7d60-487f-adc1-4ddcc177c139", 256, k1, false },
		{ "0a782fb5-3434-48fe-aa4d-14f41d46cf92", 24, k2, false },
	};
	struct ksa_status st = { "A", "B", "app1", "app2", 256, 10, 100000, 128,
				 4096, 64, 3 };
	struct etsi014_error err = { 0 };
	json_error_t jerr;
	json_t *j;
	size_t len, i;
	char *s;

	for (i = 0; i < sizeof(k1); i++)
		k1[i] = (uint8_t)i;
	s = etsi014_keys_json(keys, 2, &len);
	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	j = json_loads(s, 0, &jerr);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "keys")), 2);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(j, "keys"), 1), "key")), "/wAQ");
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(j, "keys"), 0), "key_ID")),
		"bc490419-7d60-487f-adc1-4ddcc177c139");
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(j, "keys"), 0), "key")),
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	json_decref(j);
	etsi014_body_free(s, len);

	/* A key ID that would need escaping is refused, not emitted. */
	strcpy(keys[0].key_id, "x\"y");
	assert_null(etsi014_keys_json(keys, 1, &len));

	s = etsi014_status_json(&st, &len);
	j = json_loads(s, 0, &jerr);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "source_KME_ID")), "A");
	assert_string_equal(json_string_value(json_object_get(j, "slave_SAE_ID")), "app2");
	assert_int_equal(json_integer_value(json_object_get(j, "max_SAE_ID_count")), 3);
	assert_int_equal(json_integer_value(json_object_get(j, "min_key_size")), 64);
	json_decref(j);
	free(s);

	err.status = 400;
	strcpy(err.message, "size shall be a multiple of 8");
	s = etsi014_error_json(&err, &len);
	assert_string_equal(s, "{\"message\":\"size shall be a multiple of 8\"}");
	free(s);
}

/*
 * Runs last: from here on the process has a secure heap, as qkdkmd does.
 * The key container and the HTTP response around it are in it (locked,
 * never swapped or dumped); an error body is not, nor its response.
 */
static void test_key_bytes_locked(void **state)
{
	uint8_t k[32] = { 1, 2, 3 };
	struct ksa_key key = { "bc490419-7d60-487f-adc1-4ddcc177c139", 256, k,
			       false };
	struct etsi014_error err = { .status = 400, .message = "no" };
	size_t len, rlen;
	uint8_t *resp;
	char *s;

	if (!CRYPTO_secure_malloc_initialized() &&
	    !CRYPTO_secure_malloc_init(1 << 20, 16))
		skip();
	s = etsi014_keys_json(&key, 1, &len);
	assert_non_null(s);
	assert_true(CRYPTO_secure_allocated(s));
	resp = http_response(200, NULL, NULL, s, len, true, &rlen);
	assert_non_null(resp);
	assert_true(CRYPTO_secure_allocated(resp));
	http_response_free(resp, rlen);
	etsi014_body_free(s, len);

	s = etsi014_error_json(&err, &len);
	assert_non_null(s);
	assert_false(CRYPTO_secure_allocated(s));
	resp = http_response(400, NULL, NULL, s, len, true, &rlen);
	assert_false(CRYPTO_secure_allocated(resp));
	http_response_free(resp, rlen);
	etsi014_body_free(s, len);
	assert_int_equal(CRYPTO_secure_used(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_get_parameters),
		cmocka_unit_test(test_enc_body),
		cmocka_unit_test(test_dec_body),
		cmocka_unit_test(test_result_mapping),
		cmocka_unit_test(test_json_bodies),
		cmocka_unit_test(test_key_bytes_locked),
	};

	return cmocka_run_group_tests_name("etsi014", tests, NULL, NULL);
}
