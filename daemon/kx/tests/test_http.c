// SPDX-License-Identifier: GPL-2.0
/*
 * http.c: request parsing whole, byte by byte and pipelined; bodies by
 * length and chunked; each limit with its status; keep-alive rules;
 * 100-continue; query decoding; response layout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "kx/http.h"

static const struct http_limits limits = {
	.max_url = 128, .max_header_bytes = 512, .max_body = 256,
};

/* Feed @s in slices of @step bytes; returns the final result. */
static int feed(struct http_reader *r, const char *s, size_t step,
		size_t *total_used)
{
	size_t len = strlen(s), off = 0;
	int ret = HTTP_NEED_MORE;

	while (off < len) {
		size_t n = len - off < step ? len - off : step, used;

		ret = http_reader_feed(r, (const uint8_t *)s + off, n, &used);
		off += used;
		if (ret != HTTP_NEED_MORE)
			break;
		assert_int_equal(used, n);
	}
	if (total_used)
		*total_used = off;
	return ret;
}

static void check_get(struct http_reader *r)
{
	assert_int_equal(r->req.method, HTTP_GET);
	assert_string_equal(r->req.path, "/api/v1/keys/app2/enc_keys");
	assert_string_equal(r->req.query, "number=2&size=128");
	assert_string_equal(http_header(&r->req, "host"), "kme-a");
	assert_string_equal(http_header(&r->req, "X-Long-Header-Name"), "v1, v2");
	assert_null(http_header(&r->req, "absent"));
	assert_true(r->req.keep_alive);
	assert_int_equal(r->req.body_len, 0);
}

static const char get_req[] =
	"GET /api/v1/keys/app2/enc_keys?number=2&size=128 HTTP/1.1\r\n"
	"Host: kme-a\r\n"
	"X-Long-Header-Name: v1, v2\r\n"
	"\r\n";

static void test_get_whole_and_bytewise(void **state)
{
	struct http_reader r;
	size_t step;

	assert_int_equal(http_reader_init(&r, &limits), 0);
	for (step = 1; step <= sizeof(get_req); step += 7) {
		size_t used;

		assert_int_equal(feed(&r, get_req, step, &used), HTTP_REQUEST_READY);
		assert_int_equal(used, strlen(get_req));
		check_get(&r);
		http_reader_next(&r);
	}
	http_reader_free(&r);
}

static void test_pipelined(void **state)
{
	char two[1024];
	struct http_reader r;
	size_t used, used2;

	snprintf(two, sizeof(two), "%s%s", get_req,
		 "POST /b HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
	assert_int_equal(http_reader_init(&r, &limits), 0);
	assert_int_equal(http_reader_feed(&r, (uint8_t *)two, strlen(two), &used),
			 HTTP_REQUEST_READY);
	assert_int_equal(used, strlen(get_req));
	check_get(&r);
	/* Not yet handled: feeding again must not start the next request. */
	assert_int_equal(http_reader_feed(&r, (uint8_t *)two + used,
					  strlen(two) - used, &used2),
			 HTTP_REQUEST_READY);
	assert_int_equal(used2, 0);
	http_reader_next(&r);
	assert_int_equal(http_reader_feed(&r, (uint8_t *)two + used,
					  strlen(two) - used, &used2),
			 HTTP_REQUEST_READY);
	assert_int_equal(used + used2, strlen(two));
	assert_int_equal(r.req.method, HTTP_POST);
	assert_string_equal(r.req.path, "/b");
	assert_int_equal(r.req.body_len, 5);
	assert_memory_equal(r.req.body, "hello", 5);
	assert_false(r.req.keep_alive);
	http_reader_free(&r);
}

static void test_chunked_body(void **state)
{
	struct http_reader r;

	assert_int_equal(http_reader_init(&r, &limits), 0);
	assert_int_equal(feed(&r, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			      "3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n", 3, NULL),
			 HTTP_REQUEST_READY);
	assert_int_equal(r.req.body_len, 7);
	assert_string_equal((const char *)r.req.body, "{\"a\":1}");
	http_reader_next(&r);
	/* Trailer fields after a chunked body are ignored. */
	assert_int_equal(feed(&r, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
			      "Host: h\r\n\r\n2\r\nab\r\n0\r\nX-Trailer: t\r\n\r\n",
			      4, NULL), HTTP_REQUEST_READY);
	assert_int_equal(r.req.n_headers, 2);
	assert_null(http_header(&r.req, "X-Trailer"));
	assert_string_equal(http_header(&r.req, "host"), "h");
	http_reader_free(&r);
}

static void test_limits(void **state)
{
	struct http_reader r;
	char buf[2048];

	assert_int_equal(http_reader_init(&r, &limits), 0);

	memset(buf, 0, sizeof(buf));
	strcpy(buf, "GET /");
	memset(buf + 5, 'a', 200);
	strcat(buf, " HTTP/1.1\r\n\r\n");
	assert_int_equal(feed(&r, buf, 9, NULL), -414);
	http_reader_next(&r);

	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nX: %0600d\r\n\r\n", 1);
	assert_int_equal(feed(&r, buf, 50, NULL), -431);
	http_reader_next(&r);

	assert_int_equal(feed(&r, "POST / HTTP/1.1\r\nContent-Length: 257\r\n\r\n",
			      1000, NULL), -413);
	http_reader_next(&r);

	snprintf(buf, sizeof(buf),
		 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "100\r\n%0256d\r\n10\r\n%016d\r\n0\r\n\r\n", 0, 0);
	assert_int_equal(feed(&r, buf, 64, NULL), -413);
	http_reader_next(&r);

	/* Exactly at the body limit is fine. */
	snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nContent-Length: 256\r\n\r\n%0256d", 0);
	assert_int_equal(feed(&r, buf, 100, NULL), HTTP_REQUEST_READY);
	assert_int_equal(r.req.body_len, 256);
	http_reader_free(&r);
}

static void test_many_headers(void **state)
{
	struct http_reader r;
	char buf[4096] = "GET / HTTP/1.1\r\n";
	int i;

	for (i = 0; i < HTTP_MAX_HEADERS + 1; i++)
		strcat(buf, "a:b\r\n");
	strcat(buf, "\r\n");
	assert_int_equal(http_reader_init(&r, &(struct http_limits){
		.max_url = 64, .max_header_bytes = 4096, .max_body = 0 }), 0);
	assert_int_equal(feed(&r, buf, 4096, NULL), -431);
	http_reader_free(&r);
}

static void test_garbage_and_versions(void **state)
{
	struct http_reader r;

	assert_int_equal(http_reader_init(&r, &limits), 0);
	assert_int_equal(feed(&r, "\x16\x03\x01garbage\r\n\r\n", 100, NULL), -400);
	http_reader_next(&r);
	assert_int_equal(feed(&r, "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 100,
			      NULL), -400);
	http_reader_next(&r);
	assert_int_equal(feed(&r, "GET / HTTP/1.0\r\n\r\n", 100, NULL),
			 HTTP_REQUEST_READY);
	assert_false(r.req.keep_alive);
	http_reader_next(&r);
	assert_int_equal(feed(&r, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			      100, NULL), HTTP_REQUEST_READY);
	assert_true(r.req.keep_alive);
	http_reader_next(&r);
	/* An empty header value, then another header. */
	assert_int_equal(feed(&r, "GET / HTTP/1.1\r\nX-Empty:\r\nHost: h\r\n\r\n", 5,
			      NULL), HTTP_REQUEST_READY);
	assert_string_equal(http_header(&r.req, "x-empty"), "");
	assert_string_equal(http_header(&r.req, "host"), "h");
	http_reader_next(&r);
	assert_false(http_reader_busy(&r));
	assert_int_equal(feed(&r, "GE", 100, NULL), HTTP_NEED_MORE);
	assert_true(http_reader_busy(&r));
	http_reader_free(&r);
}

static void test_expect_continue(void **state)
{
	struct http_reader r;

	assert_int_equal(http_reader_init(&r, &limits), 0);
	assert_int_equal(feed(&r, "POST / HTTP/1.1\r\nExpect: 100-continue\r\n"
			      "Content-Length: 2\r\n\r\n", 100, NULL), HTTP_NEED_MORE);
	assert_true(http_reader_take_expect_continue(&r));
	assert_false(http_reader_take_expect_continue(&r));
	assert_int_equal(feed(&r, "{}", 100, NULL), HTTP_REQUEST_READY);
	http_reader_free(&r);
}

static void test_query(void **state)
{
	const char *q = "number=2&&size=25%36&key_ID=a+b%2Dc&flag";
	char name[16], value[16];

	assert_int_equal(http_query_next(&q, name, sizeof(name), value, sizeof(value)), 1);
	assert_string_equal(name, "number");
	assert_string_equal(value, "2");
	assert_int_equal(http_query_next(&q, name, sizeof(name), value, sizeof(value)), 1);
	assert_string_equal(name, "size");
	assert_string_equal(value, "256");
	assert_int_equal(http_query_next(&q, name, sizeof(name), value, sizeof(value)), 1);
	assert_string_equal(value, "a b-c");
	assert_int_equal(http_query_next(&q, name, sizeof(name), value, sizeof(value)), 1);
	assert_string_equal(name, "flag");
	assert_string_equal(value, "");
	assert_int_equal(http_query_next(&q, name, sizeof(name), value, sizeof(value)), 0);

	q = "a=%zz";
	assert_int_equal(http_query_next(&q, name, sizeof(name), value, sizeof(value)), -1);
	q = "a=%0";
	assert_int_equal(http_query_next(&q, name, sizeof(name), value, sizeof(value)), -1);
	q = "a=%00";
	assert_int_equal(http_query_next(&q, name, sizeof(name), value, sizeof(value)), -1);
	q = "a=0123456789abcdef";
	assert_int_equal(http_query_next(&q, name, sizeof(name), value, sizeof(value)), -1);
	assert_int_equal(http_url_decode("app%31", 6, name, sizeof(name)), 0);
	assert_string_equal(name, "app1");
}

static void test_response(void **state)
{
	size_t len;
	uint8_t *b = http_response(400, NULL, NULL, "{}", 2, false, &len);
	const char want[] = "HTTP/1.1 400 Bad Request\r\n"
			    "Content-Type: application/json\r\n"
			    "Content-Length: 2\r\n"
			    "Cache-Control: no-store\r\n"
			    "Connection: close\r\n\r\n{}";

	assert_non_null(b);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(b, want, len);
	http_response_free(b, len);
	b = http_response(200, "text/plain", "Allow: GET\r\n", "", 0, true, &len);
	assert_non_null(b);
	assert_null(memmem(b, len, "Connection", 10));
	assert_non_null(memmem(b, len, "\r\nAllow: GET\r\n\r\n", 16));
	http_response_free(b, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_whole_and_bytewise),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_chunked_body),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_many_headers),
		cmocka_unit_test(test_garbage_and_versions),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_response),
	};

	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
