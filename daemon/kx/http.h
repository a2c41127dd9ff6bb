/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HTTP/1.1 server-side request reader and response builder, on
 * libhttp-parser.  Pure: no I/O, no allocation beyond the reader's own
 * bounded buffers, so it can be fuzzed on its own.
 *
 * A reader is fed the connection's input as it arrives; it reports a
 * complete request (keep-alive and pipelining: feed the rest after handling
 * it), a need for more bytes, or an HTTP error status to answer with before
 * closing.  Request bodies may carry key IDs, so the reader cleanses its
 * buffers between requests.
 */
#ifndef QKD_HTTP_H
#define QKD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <http_parser.h>

#define HTTP_MAX_HEADERS	32

struct http_limits {
	size_t max_url;		/* request target bytes (414 beyond) */
	size_t max_header_bytes; /* all header names and values (431 beyond) */
	size_t max_body;	/* body bytes (413 beyond) */
};

struct http_header {
	const char *name;	/* NUL-terminated, as sent */
	const char *value;
};

struct http_request {
	enum http_method method;
	const char *path;	/* target up to '?', not decoded */
	const char *query;	/* after '?', not decoded; "" if none */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	const uint8_t *body;	/* NUL-terminated for convenience */
	size_t body_len;
	bool keep_alive;	/* the client allows another request after this */
};

enum http_feed_result {
	HTTP_NEED_MORE = 0,	/* all input taken, request not complete yet */
	HTTP_REQUEST_READY = 1,	/* reader->req is valid until http_reader_next() */
	/* < 0: -(HTTP status) to answer with, then close */
};

struct http_reader {
	http_parser parser;
	http_parser_settings settings;
	struct http_limits limits;
	struct http_request req;
	char *url;		/* request target, NUL-terminated */
	size_t url_len;
	char *hdr;		/* header names and values, NUL-separated */
	size_t hdr_len;
	size_t hdr_off[HTTP_MAX_HEADERS][2];	/* name, value starts in hdr */
	bool in_value;		/* last header callback was a value */
	uint8_t *body;
	size_t body_len;
	size_t body_cap;
	bool started;		/* first byte of a request seen */
	bool headers_done;
	bool complete;
	bool expect_continue;	/* client sent Expect: 100-continue */
	int error_status;	/* set by a callback that hit a limit */
};

/* 0, or -1 on allocation failure. */
int http_reader_init(struct http_reader *r, const struct http_limits *limits);
void http_reader_free(struct http_reader *r);

/*
 * Parse @len bytes of input.  *@used is set to the bytes taken (all of them
 * unless a request completed or an error stopped the parse): drop those
 * from the input, and after HTTP_REQUEST_READY feed the rest again.
 */
int http_reader_feed(struct http_reader *r, const uint8_t *data, size_t len,
		     size_t *used);
/* The request was handled: wipe it and get ready for the next one. */
void http_reader_next(struct http_reader *r);
/*
 * True once per request whose headers asked for "100 Continue" before the
 * body: send it (http_continue_line) and the client sends the body.
 */
bool http_reader_take_expect_continue(struct http_reader *r);
/* Parsing has started on a request that is not complete yet. */
bool http_reader_busy(const struct http_reader *r);

extern const char http_continue_line[];	/* "HTTP/1.1 100 Continue\r\n\r\n" */

/* Case-insensitive header lookup; NULL if absent. */
const char *http_header(const struct http_request *req, const char *name);

/*
 * Next "name=value" pair of a query string, percent-decoded (and '+' as
 * space).  Advances *@q.  Returns 1 for a pair, 0 at the end, -1 for bad
 * encoding (a bad escape, a NUL, or a field over its buffer).
 */
int http_query_next(const char **q, char *name, size_t name_len,
		    char *value, size_t value_len);
/* Percent-decode @len bytes into @out (NUL-terminated); -1 if bad. */
int http_url_decode(const char *in, size_t len, char *out, size_t out_len);

const char *http_status_text(int status);

/*
 * A complete response (status line, Date-less headers, body) in a fresh
 * buffer, in the secure heap if @body is (key bytes); free it with
 * http_response_free(), which wipes it.
 * @extra_headers: NULL, or whole "Name: value\r\n" lines to add.  NULL if
 * out of memory.
 */
uint8_t *http_response(int status, const char *content_type,
		       const char *extra_headers, const void *body,
		       size_t body_len, bool keep_alive, size_t *out_len);
void http_response_free(uint8_t *buf, size_t len);

#endif /* QKD_HTTP_H */
