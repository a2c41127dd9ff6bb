// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for http.c: the input is a connection's byte stream,
 * fed in slices whose size comes from the first byte, through pipelined
 * requests, with every parsed field read back (query pairs, headers) so
 * that ASan sees any out-of-bounds string.
 */
#include <stdint.h>
#include <string.h>

#include "kx/http.h"

static void touch_request(const struct http_request *req)
{
	const char *q = req->query;
	char name[64], value[256];
	size_t i;

	while (http_query_next(&q, name, sizeof(name), value, sizeof(value)) > 0)
		;
	for (i = 0; i < req->n_headers; i++)
		if (strlen(req->headers[i].name) + strlen(req->headers[i].value) > 1 << 20)
			__builtin_trap();
	(void)http_header(req, "content-type");
	if (req->body_len && req->body[req->body_len] != '\0')
		__builtin_trap();
	(void)http_url_decode(req->path, strlen(req->path), value, sizeof(value));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits limits = {
		.max_url = 512, .max_header_bytes = 2048, .max_body = 1024,
	};
	struct http_reader r;
	size_t step, off = 0;

	if (size < 1)
		return 0;
	step = data[0] % 64 + 1;
	data++;
	size--;
	if (http_reader_init(&r, &limits))
		return 0;
	while (off < size) {
		size_t n = size - off < step ? size - off : step, used;
		int ret = http_reader_feed(&r, data + off, n, &used);

		if (used > n)
			__builtin_trap();
		off += used;
		if (ret < 0)
			break;
		(void)http_reader_take_expect_continue(&r);
		if (ret == HTTP_REQUEST_READY) {
			touch_request(&r.req);
			http_reader_next(&r);
		}
	}
	http_reader_free(&r);
	return 0;
}
