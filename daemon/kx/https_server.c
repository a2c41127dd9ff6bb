// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTPS server loop (https_server.h): TLS from tls.h, requests from
 * http.h, answers from the owner.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/loop.h"
#include "kx/https_server.h"
#include "kx/tls.h"

struct https_server {
	struct loop *loop;
	char name[32];
	SSL_CTX *ctx;
	struct tls_listener *listener;
	struct loop_timer *sweep;
	struct http_limits limits;
	uint32_t idle_ms;
	uint32_t max_conns;
	uint32_t n_conns;		/* authenticated ones (opened) */
	struct https_conn *conns;
	const struct https_server_ops *ops;
	void *arg;
	/* Refused handshakes, one line each up to a burst: a flood of them
	 * must not flood the log (the listener logs their counts). */
	struct log_ratelimit refused_log;
};

struct https_conn {
	struct https_server *srv;	/* NULL once https_server_stop() let go */
	struct tls_conn *tls;
	struct http_reader http;
	struct https_conn *prev, *next;
	void *data;			/* the owner's */
	bool opened;
	bool counted;			/* in srv->n_conns */
	bool closing;
	bool held;			/* answer pending (https_hold()) */
	uint64_t last_active_ms;	/* bytes in or out */
	uint64_t request_start_ms;	/* first byte of the current request */
	uint64_t request_start_us;	/* the same, finer, for latencies */
	uint64_t closing_ms;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

const char *https_conn_peer(const struct https_conn *c)
{
	return tls_conn_peer_name(c->tls);
}

const char *https_conn_verify(const struct https_conn *c,
			      X509_STORE *store)
{
	return tls_conn_verify(c->tls, store);
}

bool https_conn_psk(const struct https_conn *c)
{
	return tls_conn_psk(c->tls);
}

void https_conn_peer_serial(const struct https_conn *c, char *out, size_t len)
{
	tls_conn_peer_serial(c->tls, out, len);
}

void *https_conn_data(const struct https_conn *c)
{
	return c->data;
}

void https_conn_set_data(struct https_conn *c, void *data)
{
	c->data = data;
}

const struct http_request *https_conn_request(const struct https_conn *c)
{
	return c->http.headers_done ? &c->http.req : NULL;
}

uint64_t https_conn_request_start_us(const struct https_conn *c)
{
	return c->request_start_us;
}

uint64_t https_conn_request_start_ms(const struct https_conn *c)
{
	return c->request_start_ms;
}

void https_close(struct https_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->closing_ms = loop_now_ms();
	tls_conn_close(c->tls);
}

bool https_send(struct https_conn *c, int status, const char *content_type,
		const char *extra_headers, const void *body, size_t body_len,
		bool keep_alive)
{
	size_t len = 0, sent_len;
	bool sent = false;
	uint8_t *resp = http_response(status, content_type, extra_headers,
				      body, body_len, keep_alive, &len);

	/* An answer to HEAD has its header only (RFC 9110 9.3.2). */
	if (resp && c->http.headers_done && c->http.req.method == HTTP_HEAD)
		sent_len = len - body_len;
	else
		sent_len = len;
	if (!resp || tls_conn_write(c->tls, resp, sent_len) < 0)
		keep_alive = false;
	else
		sent = true;
	http_response_free(resp, len);
	c->last_active_ms = loop_now_ms();
	if (!keep_alive)
		https_close(c);
	return sent;
}

static void send_error(struct https_conn *c, int status, const char *why)
{
	char body[128];
	int n;

	if (c->srv && c->srv->ops->on_error) {
		c->srv->ops->on_error(c->srv->arg, c, status, why);
		return;
	}
	n = snprintf(body, sizeof(body), "%s\n", why);
	https_send(c, status, "text/plain; charset=utf-8", NULL, body,
		   (size_t)n, false);
}

static const char *reader_error_message(int status)
{
	switch (status) {
	case 413: return "request body too large";
	case 414: return "request URL too long";
	case 431: return "request header fields too large";
	case 503: return "out of memory";
	default: return "malformed HTTP request";
	}
}

/* Answer every complete request in the input, in order. */
static void conn_process(struct https_conn *c)
{
	while (!c->held && !c->closing && c->srv) {
		size_t len, used;
		const uint8_t *in = tls_conn_input(c->tls, &len);
		bool was_busy = http_reader_busy(&c->http);
		int ret;

		if (!len)
			return;
		ret = http_reader_feed(&c->http, in, len, &used);
		tls_conn_consume(c->tls, used);
		if (!was_busy && http_reader_busy(&c->http)) {
			c->request_start_ms = loop_now_ms();
			c->request_start_us = now_us();
		}
		if (ret == HTTP_NEED_MORE) {
			if (http_reader_take_expect_continue(&c->http))
				tls_conn_write(c->tls, http_continue_line,
					       strlen(http_continue_line));
			return;
		}
		if (ret < 0) {
			send_error(c, -ret, reader_error_message(-ret));
			return;
		}
		c->srv->ops->on_request(c->srv->arg, c, &c->http.req);
		if (c->held)
			return;
		http_reader_next(&c->http);
	}
}

void https_hold(struct https_conn *c)
{
	c->held = true;
}

void https_resume(struct https_conn *c)
{
	if (!c->held)
		return;
	c->held = false;
	http_reader_next(&c->http);
	conn_process(c);	/* pipelined requests held back meanwhile */
}

static void on_open(struct tls_conn *tls, void *arg)
{
	struct https_conn *c = arg;
	struct https_server *srv = c->srv;

	c->opened = true;
	tls_conn_admit(tls);
	if (!srv)
		return;
	if (srv->n_conns >= srv->max_conns) {
		log_info("%s: connection from CN \"%s\" closed: max_connections (%u) reached",
			 srv->name, tls_conn_peer_name(tls), srv->max_conns);
		https_close(c);
		return;
	}
	srv->n_conns++;
	c->counted = true;
	if (srv->ops->on_open(srv->arg, c))
		https_close(c);
}

static int on_data(struct tls_conn *tls, void *arg)
{
	struct https_conn *c = arg;

	c->last_active_ms = loop_now_ms();
	conn_process(c);
	return 0;
}

static void on_close(struct tls_conn *tls, void *arg)
{
	struct https_conn *c = arg;
	struct https_server *srv = c->srv;

	if (srv) {		/* NULL once https_server_stop() let go of us */
		if (!c->opened && tls_conn_error(tls)[0])
			log_ratelimited(&srv->refused_log, LOG_LVL_INFO,
					"%s: connection refused: %s", srv->name,
					tls_conn_error(tls));
		if (srv->ops->on_close)
			srv->ops->on_close(srv->arg, c);
		if (c->prev)
			c->prev->next = c->next;
		else
			srv->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		if (c->counted)
			srv->n_conns--;
	}
	http_reader_free(&c->http);
	free(c);
}

static const struct tls_conn_ops conn_ops = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

/* The listener's accept callback; it bounds connections until on_open. */
static struct tls_conn *accept_one(void *arg, int fd)
{
	struct https_server *srv = arg;
	struct https_conn *c;
	int one = 1;

	/* An answer is often several TLS records: without this, Nagle holds
	 * the last one for the client's delayed ACK (40 ms). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c || http_reader_init(&c->http, &srv->limits)) {
		free(c);
		return NULL;
	}
	c->srv = srv;
	c->last_active_ms = loop_now_ms();
	c->tls = tls_conn_accept(srv->loop, srv->ctx, fd,
				 srv->limits.max_url + srv->limits.max_header_bytes +
				 srv->limits.max_body + 16384, &conn_ops, c);
	if (!c->tls) {
		http_reader_free(&c->http);
		free(c);
		return NULL;
	}
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	return c->tls;
}

/*
 * Cut off connections that stall: no handshake, a request that does not
 * complete (408), an idle keep-alive connection, or output nobody reads.
 */
static void sweep_conn(struct https_conn *c, uint64_t now, uint32_t limit)
{
	if (c->closing) {
		if (now - c->closing_ms > limit)
			tls_conn_abort(c->tls);
		return;
	}
	if (c->held)
		return;		/* the owner bounds the wait */
	if (!c->opened || tls_conn_pending(c->tls)) {
		if (now - c->last_active_ms > limit)
			tls_conn_abort(c->tls);
		return;
	}
	if (http_reader_busy(&c->http)) {
		if (now - c->request_start_ms > limit)
			send_error(c, 408, "request timeout");
		return;
	}
	if (now - c->last_active_ms > limit)
		https_close(c);
}

static void on_sweep(void *arg)
{
	struct https_server *srv = arg;
	uint64_t now = loop_now_ms();

	/* tls_conn_abort/close free connections only later, from the loop. */
	for (struct https_conn *c = srv->conns; c; c = c->next)
		sweep_conn(c, now, srv->idle_ms);
}

struct https_server *https_server_start(struct loop *loop,
					const struct https_server_config *cfg,
					SSL_CTX *ctx,
					const struct https_server_ops *ops,
					void *arg, char *err, size_t errlen)
{
	struct https_server *srv = calloc(1, sizeof(*srv));
	uint32_t tick;
	int fd;

	if (!srv) {
		snprintf(err, errlen, "%s: out of memory", cfg->name);
		SSL_CTX_free(ctx);
		return NULL;
	}
	srv->loop = loop;
	snprintf(srv->name, sizeof(srv->name), "%s", cfg->name);
	srv->ctx = ctx;
	srv->ops = ops;
	srv->arg = arg;
	srv->limits = cfg->limits;
	srv->idle_ms = cfg->idle_ms;
	srv->max_conns = cfg->max_conns;
	srv->refused_log = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, 10);
	fd = tls_listen_socket(cfg->listen, err, errlen);
	if (fd < 0)
		goto fail;
	srv->listener = tls_listener_new(loop, fd, srv->name, NULL,
					 accept_one, srv);
	if (!srv->listener)
		close(fd);
	tick = srv->idle_ms / 4 > 50 ? srv->idle_ms / 4 : 50;
	if (tick > 1000)
		tick = 1000;
	srv->sweep = loop_timer_add(loop, tick, true, on_sweep, srv);
	if (!srv->listener || !srv->sweep) {
		snprintf(err, errlen, "%s: event loop: %s", srv->name,
			 strerror(errno));
		goto fail;
	}
	return srv;
fail:
	https_server_stop(srv);
	return NULL;
}

SSL_CTX *https_server_set_ctx(struct https_server *srv, SSL_CTX *ctx)
{
	SSL_CTX *old = srv->ctx;

	srv->ctx = ctx;
	return old;
}

uint32_t https_server_conns(const struct https_server *srv)
{
	return srv->n_conns;
}

void https_server_stop(struct https_server *srv)
{
	struct https_conn *c, *next;

	if (!srv)
		return;
	tls_listener_free(srv->listener);
	loop_timer_del(srv->sweep);
	/*
	 * Close and free every connection now: the loop may not run again
	 * (daemon exit).  The owner lets go of each first; then they are
	 * detached, so that their on_close leaves @srv alone.
	 */
	for (c = srv->conns; c; c = next) {
		next = c->next;
		if (srv->ops->on_close)
			srv->ops->on_close(srv->arg, c);
		c->srv = NULL;
		tls_conn_free(c->tls);
	}
	srv->conns = NULL;
	SSL_CTX_free(srv->ctx);
	free(srv);
}
