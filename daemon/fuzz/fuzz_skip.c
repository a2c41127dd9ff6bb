// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the SKIP request layer: bytes -> HTTP request
 * (http.c) -> skip_parse() (route, method, query, keyId) -> error JSON.
 * Checks that a parse either fills a consistent request or gives an
 * error status the server can send, and that a keyId round-trips.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kx/http.h"
#include "ksa/skip.h"

static const struct skip_remote remotes[] = {
	{ "gwB", "app2" }, { "gwC", "app3" },
};
static const struct skip_config cfg = {
	.local_id = "gwA", .local_sae = "app1", .client_cn = "routerA",
	.remotes = remotes, .n_remotes = 2,
	.default_size = 256, .min_size = 64, .max_size = 4096,
};

static void check_request(const struct skip_request *rq)
{
	static uint8_t zero[512];
	struct ksa_key k = { .size = rq->size, .key = zero };
	char uuid[KSA_KEY_ID_LEN], *body;
	size_t len;

	if (rq->endpoint > SKIP_KEY_BY_ID)
		__builtin_trap();
	if (rq->endpoint != SKIP_CAPABILITIES &&
	    rq->remote_sae != remotes[0].sae && rq->remote_sae != remotes[1].sae)
		__builtin_trap();
	if (rq->size % 8 || rq->size < cfg.min_size || rq->size > cfg.max_size)
		__builtin_trap();
	if (rq->endpoint != SKIP_KEY_BY_ID)
		return;
	/* The UUID's digits are the keyId again, and the answer holds them. */
	memcpy(k.key_id, rq->key_id, sizeof(k.key_id));
	k.size = 256;
	body = skip_key_json(&k, &len);
	if (!body || strlen(body) != len || len != 10 + SKIP_KEY_ID_HEX + 9 + 64 + 2)
		__builtin_trap();
	body[10 + SKIP_KEY_ID_HEX] = '\0';
	if (skip_key_id_to_uuid(body + 10, uuid) || strcmp(uuid, rq->key_id))
		__builtin_trap();
	skip_body_free(body, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits limits = {
		.max_url = 2048, .max_header_bytes = 8192, .max_body = 4096,
	};
	struct http_reader r;
	size_t off = 0;

	if (http_reader_init(&r, &limits))
		return 0;
	while (off < size) {
		struct skip_error err = { 0 };
		struct skip_request rq;
		size_t used, len;
		char *body;
		int ret = http_reader_feed(&r, data + off, size - off, &used);

		off += used;
		if (ret != HTTP_REQUEST_READY)
			break;
		if (skip_parse(&r.req, &cfg, &rq, &err) == 0) {
			check_request(&rq);
		} else {
			if (err.status < 400 || err.status > 599 || !err.message[0] ||
			    (err.status == 405) != (err.allow != NULL))
				__builtin_trap();
			body = skip_error_json(&err, &len);
			if (!body || strlen(body) != len)
				__builtin_trap();
			free(body);
		}
		http_reader_next(&r);
	}
	http_reader_free(&r);
	return 0;
}
