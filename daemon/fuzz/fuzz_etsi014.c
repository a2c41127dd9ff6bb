// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the ETSI 014 request layer: bytes -> HTTP request
 * (http.c) -> etsi014_parse() (route, method, query, JSON body) -> error
 * JSON.  Checks that a parse either fills a consistent request or gives an
 * error status the server can send.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ksa/etsi014.h"
#include "kx/http.h"

static struct etsi014_request rq;

static void check_request(void)
{
	size_t i;

	if (rq.endpoint > ETSI014_DEC_KEYS || !rq.sae_id[0] ||
	    rq.n_extra > ETSI014_MAX_EXTRA_SLAVES ||
	    rq.n_key_ids > ETSI014_MAX_KEY_IDS)
		__builtin_trap();
	if (rq.size % 8 || rq.number > ETSI014_MAX_KEY_IDS)
		__builtin_trap();
	for (i = 0; i < rq.n_key_ids; i++)
		if (!rq.key_ids[i][0] || strlen(rq.key_ids[i]) >= KSA_KEY_ID_LEN)
			__builtin_trap();
	if (rq.endpoint == ETSI014_DEC_KEYS && !rq.n_key_ids)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits limits = {
		.max_url = 2048, .max_header_bytes = 8192, .max_body = 65536,
	};
	struct http_reader r;
	size_t off = 0;

	if (http_reader_init(&r, &limits))
		return 0;
	while (off < size) {
		struct etsi014_error err = { 0 };
		size_t used, len;
		char *body;
		int ret = http_reader_feed(&r, data + off, size - off, &used);

		off += used;
		if (ret != HTTP_REQUEST_READY)
			break;
		if (etsi014_parse(&r.req, &rq, &err) == 0) {
			check_request();
		} else {
			if (err.status < 400 || err.status > 599 || !err.message[0])
				__builtin_trap();
			body = etsi014_error_json(&err, &len);
			if (!body || strlen(body) != len)
				__builtin_trap();
			free(body);
		}
		etsi014_error_clear(&err);
		http_reader_next(&r);
	}
	http_reader_free(&r);
	return 0;
}
