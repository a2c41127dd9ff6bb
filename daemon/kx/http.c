// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP/1.1 request reader on libhttp-parser, and response builder.
 *
 * libhttp-parser hands us the request in pieces (URL, header names and
 * values, body) as the bytes arrive; we copy them into three fixed-limit
 * buffers so a request split across any number of reads comes out the
 * same.  When a message completes we pause the parser, so that with
 * pipelining the bytes of the next request stay in the caller's input
 * until this one is answered.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "kx/http.h"

const char http_continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static struct http_reader *reader_of(http_parser *p)
{
	return p->data;
}

/* Stop the parse with @status; libhttp-parser sees a callback error. */
static int reader_fail(struct http_reader *r, int status)
{
	if (!r->error_status)
		r->error_status = status;
	return -1;
}

static int on_message_begin(http_parser *p)
{
	reader_of(p)->started = true;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = reader_of(p);

	if (len > r->limits.max_url - r->url_len)
		return reader_fail(r, 414);
	memcpy(r->url + r->url_len, at, len);
	r->url_len += len;
	r->url[r->url_len] = '\0';
	return 0;
}

/* Append to the header arena, keeping room for a terminating NUL. */
static int hdr_append(struct http_reader *r, const char *at, size_t len)
{
	if (len >= r->limits.max_header_bytes - r->hdr_len)
		return reader_fail(r, 431);
	memcpy(r->hdr + r->hdr_len, at, len);
	r->hdr_len += len;
	return 0;
}

static int hdr_terminate(struct http_reader *r)
{
	if (r->hdr_len + 1 > r->limits.max_header_bytes)
		return reader_fail(r, 431);
	r->hdr[r->hdr_len++] = '\0';
	return 0;
}

/*
 * While parsing we note where each name and value starts in the arena;
 * they become pointers in on_headers_complete.
 */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = reader_of(p);
	struct http_request *req = &r->req;

	if (r->headers_done)		/* chunked trailer: ignored */
		return 0;
	if (r->in_value || !req->n_headers) {
		if (r->in_value && hdr_terminate(r))
			return -1;
		if (req->n_headers == HTTP_MAX_HEADERS)
			return reader_fail(r, 431);
		r->hdr_off[req->n_headers++][0] = r->hdr_len;
		r->in_value = false;
	}
	return hdr_append(r, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = reader_of(p);
	struct http_request *req = &r->req;

	if (r->headers_done)
		return 0;
	if (!r->in_value) {
		if (hdr_terminate(r))
			return -1;
		r->hdr_off[req->n_headers - 1][1] = r->hdr_len;
		r->in_value = true;
	}
	return hdr_append(r, at, len);
}

static void split_target(struct http_reader *r)
{
	char *q, *frag;

	frag = strchr(r->url, '#');
	if (frag)
		*frag = '\0';
	q = strchr(r->url, '?');
	r->req.path = r->url;
	r->req.query = "";
	if (q) {
		*q = '\0';
		r->req.query = q + 1;
	}
}

static int on_headers_complete(http_parser *p)
{
	struct http_reader *r = reader_of(p);
	struct http_request *req = &r->req;
	const char *expect;
	size_t i;

	if (req->n_headers && !r->in_value)
		return reader_fail(r, 400);	/* a name without a value */
	if (req->n_headers && hdr_terminate(r))
		return -1;
	for (i = 0; i < req->n_headers; i++) {
		req->headers[i].name = r->hdr + r->hdr_off[i][0];
		req->headers[i].value = r->hdr + r->hdr_off[i][1];
	}
	r->headers_done = true;
	req->method = p->method;
	split_target(r);
	if (p->content_length != ULLONG_MAX &&
	    p->content_length > r->limits.max_body)
		return reader_fail(r, 413);
	expect = http_header(req, "Expect");
	if (expect && !strcasecmp(expect, "100-continue"))
		r->expect_continue = true;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = reader_of(p);

	if (len > r->limits.max_body - r->body_len)
		return reader_fail(r, 413);
	if (r->body_len + len + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 1024;
		uint8_t *nb;

		while (cap < r->body_len + len + 1)
			cap *= 2;
		if (cap > r->limits.max_body + 1)
			cap = r->limits.max_body + 1;
		nb = malloc(cap);
		if (!nb)
			return reader_fail(r, 503);
		if (r->body) {
			memcpy(nb, r->body, r->body_len);
			OPENSSL_cleanse(r->body, r->body_cap);
			free(r->body);
		}
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, at, len);
	r->body_len += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_reader *r = reader_of(p);

	r->complete = true;
	r->req.keep_alive = http_should_keep_alive(p);
	if (r->body)
		r->body[r->body_len] = '\0';
	r->req.body = r->body ? r->body : (const uint8_t *)"";
	r->req.body_len = r->body_len;
	/* Leave the next pipelined request in the caller's input. */
	http_parser_pause(p, 1);
	return 0;
}

int http_reader_init(struct http_reader *r, const struct http_limits *limits)
{
	memset(r, 0, sizeof(*r));
	r->limits = *limits;
	if (!r->limits.max_url || !r->limits.max_header_bytes)
		return -1;
	r->url = malloc(r->limits.max_url + 1);
	r->hdr = malloc(r->limits.max_header_bytes);
	if (!r->url || !r->hdr) {
		http_reader_free(r);
		return -1;
	}
	r->settings.on_message_begin = on_message_begin;
	r->settings.on_url = on_url;
	r->settings.on_header_field = on_header_field;
	r->settings.on_header_value = on_header_value;
	r->settings.on_headers_complete = on_headers_complete;
	r->settings.on_body = on_body;
	r->settings.on_message_complete = on_message_complete;
	http_reader_next(r);
	return 0;
}

static void reader_wipe(struct http_reader *r)
{
	if (r->url)
		OPENSSL_cleanse(r->url, r->url_len + 1);
	if (r->hdr)
		OPENSSL_cleanse(r->hdr, r->hdr_len);
	if (r->body)
		OPENSSL_cleanse(r->body, r->body_cap);
}

void http_reader_free(struct http_reader *r)
{
	reader_wipe(r);
	free(r->url);
	free(r->hdr);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

void http_reader_next(struct http_reader *r)
{
	reader_wipe(r);
	r->url_len = 0;
	r->url[0] = '\0';
	r->hdr_len = 0;
	r->body_len = 0;
	r->in_value = false;
	r->headers_done = false;
	r->complete = false;
	r->expect_continue = false;
	r->error_status = 0;
	r->started = false;
	memset(&r->req, 0, sizeof(r->req));
	r->req.path = r->url;
	r->req.query = "";
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
}

int http_reader_feed(struct http_reader *r, const uint8_t *data, size_t len,
		     size_t *used)
{
	enum http_errno e;
	size_t n;

	*used = 0;
	if (r->complete)
		return HTTP_REQUEST_READY;	/* caller has not called next */
	if (!len)
		return HTTP_NEED_MORE;	/* zero would mean EOF to the parser */
	n = http_parser_execute(&r->parser, &r->settings, (const char *)data,
				len);
	*used = n;
	if (r->error_status)
		return -r->error_status;
	e = HTTP_PARSER_ERRNO(&r->parser);
	if (r->complete && (e == HPE_OK || e == HPE_PAUSED))
		return HTTP_REQUEST_READY;
	if (e != HPE_OK)
		return -400;
	if (r->parser.upgrade)		/* CONNECT or Upgrade: not served */
		return -400;
	return HTTP_NEED_MORE;
}

bool http_reader_take_expect_continue(struct http_reader *r)
{
	bool want = r->expect_continue && r->headers_done && !r->complete;

	if (want)
		r->expect_continue = false;
	return want;
}

bool http_reader_busy(const struct http_reader *r)
{
	return r->started;
}

const char *http_header(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_headers; i++)
		if (!strcasecmp(req->headers[i].name, name))
			return req->headers[i].value;
	return NULL;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int decode(const char *in, size_t len, char *out, size_t out_len,
		  bool plus_is_space)
{
	size_t i, o = 0;

	if (!out_len)
		return -1;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hex_digit(in[i + 1]);
			lo = hex_digit(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (!c || o + 1 >= out_len)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

int http_url_decode(const char *in, size_t len, char *out, size_t out_len)
{
	return decode(in, len, out, out_len, false);
}

int http_query_next(const char **q, char *name, size_t name_len,
		    char *value, size_t value_len)
{
	const char *s = *q, *amp, *eq;
	size_t len;

	while (*s == '&')
		s++;
	if (!*s) {
		*q = s;
		return 0;
	}
	amp = strchr(s, '&');
	len = amp ? (size_t)(amp - s) : strlen(s);
	*q = s + len;
	eq = memchr(s, '=', len);
	if (!eq) {		/* "name" alone: an empty value */
		if (decode(s, len, name, name_len, true) || !value_len)
			return -1;
		value[0] = '\0';
		return 1;
	}
	if (decode(s, (size_t)(eq - s), name, name_len, true) ||
	    decode(eq + 1, len - (size_t)(eq - s) - 1, value, value_len, true))
		return -1;
	return 1;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

uint8_t *http_response(int status, const char *content_type,
		       const char *extra_headers, const void *body,
		       size_t body_len, bool keep_alive, size_t *out_len)
{
	char head[512];
	int n;
	uint8_t *buf;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %zu\r\n"
		     "Cache-Control: no-store\r\n"
		     "%s%s"
		     "\r\n",
		     status, http_status_text(status),
		     content_type ? content_type : "application/json",
		     body_len, extra_headers ? extra_headers : "",
		     keep_alive ? "" : "Connection: close\r\n");
	if (n < 0 || (size_t)n >= sizeof(head))
		return NULL;
	/* A body in the secure heap (keys) makes a response there too. */
	buf = body && CRYPTO_secure_allocated(body) ?
	      OPENSSL_secure_malloc((size_t)n + body_len) :
	      malloc((size_t)n + body_len);
	if (!buf)
		return NULL;
	memcpy(buf, head, (size_t)n);
	if (body_len)
		memcpy(buf + n, body, body_len);
	*out_len = (size_t)n + body_len;
	return buf;
}

void http_response_free(uint8_t *buf, size_t len)
{
	OPENSSL_secure_clear_free(buf, len);
}
