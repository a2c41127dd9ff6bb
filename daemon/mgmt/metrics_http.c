// SPDX-License-Identifier: GPL-2.0
/*
 * The /metrics listener (metrics.h): the daemon's TLS layer (kx/tls.h:
 * mutual TLS 1.3, the shared listener gate that bounds connections before
 * they authenticate) and HTTP reader (kx/http.h), as the ETSI 014 server
 * uses them.  A client whose certificate chains to the CA but whose CN is
 * not in [metrics] clients gets 403 to every request; one without a
 * certificate never completes the handshake.
 *
 * GET and HEAD of /metrics only; 404 for other paths, 405 for other
 * methods.  Keep-alive and pipelined requests are answered in order.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/loop.h"
#include "kx/http.h"
#include "mgmt/ctl.h"
#include "mgmt/metrics.h"

#define METRICS_MAX_URL		1024
#define METRICS_MAX_HEADERS	8192
#define METRICS_MAX_BODY	1024	/* a scrape has none */
#define METRICS_IDLE_MS		30000	/* scrapers keep connections between scrapes */
#define METRICS_MAX_CONNS	64
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct mclient;

struct metrics_server {
	struct loop *loop;
	const struct ctl_sources *src;
	SSL_CTX *ctx;
	struct tls_listener *listener;
	struct loop_timer *sweep;
	char (*clients)[KM_NAME_MAX];
	size_t n_clients;
	struct http_limits limits;
	unsigned int n_conns;
	struct mclient *conns;
	struct log_ratelimit refused_log;
};

struct mclient {
	struct metrics_server *srv;	/* NULL once metrics_stop() let go */
	struct tls_conn *tls;
	struct http_reader http;
	struct mclient *prev, *next;
	bool opened, counted, allowed, closing;
	uint64_t last_active_ms;
};

static bool cn_allowed(const struct metrics_server *srv, const char *cn)
{
	for (size_t i = 0; i < srv->n_clients; i++)
		if (*cn && !strcmp(srv->clients[i], cn))
			return true;
	return false;
}

static void mclient_close(struct mclient *c)
{
	if (c->closing)
		return;
	c->closing = true;
	tls_conn_close(c->tls);
}

static void mclient_send(struct mclient *c, int status, const char *extra,
			 const char *type, const void *body, size_t body_len,
			 bool keep_alive)
{
	size_t len = 0, sent;
	uint8_t *resp = http_response(status, type, extra, body, body_len,
				      keep_alive, &len);

	/* HEAD: the headers of the GET, no body (RFC 9110 9.3.2). */
	sent = c->http.headers_done && c->http.req.method == HTTP_HEAD ?
	       len - body_len : len;
	if (!resp || tls_conn_write(c->tls, resp, sent) < 0)
		keep_alive = false;
	http_response_free(resp, len);
	if (!keep_alive)
		mclient_close(c);
}

static void mclient_error(struct mclient *c, int status, const char *extra,
			  const char *why, bool keep_alive)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%s\n", why);

	mclient_send(c, status, extra, "text/plain; charset=utf-8", body,
		     (size_t)n, keep_alive);
}

static void handle_request(struct mclient *c)
{
	const struct http_request *req = &c->http.req;
	bool keep_alive = req->keep_alive;
	size_t len = 0;
	char *text;

	if (!c->allowed) {
		mclient_error(c, 403, NULL,
			      "client certificate CN is not in [metrics] clients",
			      false);
		return;
	}
	if (strcmp(req->path, "/metrics")) {
		mclient_error(c, 404, NULL, "not found (try /metrics)",
			      keep_alive);
		return;
	}
	if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
		mclient_error(c, 405, "Allow: GET, HEAD\r\n",
			      "method not allowed", keep_alive);
		return;
	}
	text = metrics_render(c->srv->src, &len);
	if (!text) {
		mclient_error(c, 503, NULL, "out of memory", false);
		return;
	}
	mclient_send(c, 200, NULL, METRICS_CONTENT_TYPE, text, len,
		     keep_alive);
	free(text);
}

static void mclient_process(struct mclient *c)
{
	while (!c->closing) {
		size_t len, used;
		const uint8_t *in = tls_conn_input(c->tls, &len);
		int ret;

		if (!len)
			return;
		ret = http_reader_feed(&c->http, in, len, &used);
		tls_conn_consume(c->tls, used);
		if (ret == HTTP_NEED_MORE) {
			if (http_reader_take_expect_continue(&c->http))
				tls_conn_write(c->tls, http_continue_line,
					       strlen(http_continue_line));
			return;
		}
		if (ret < 0) {
			mclient_error(c, -ret, NULL, http_status_text(-ret),
				      false);
			return;
		}
		handle_request(c);
		http_reader_next(&c->http);
	}
}

static void on_open(struct tls_conn *tls, void *arg)
{
	struct mclient *c = arg;
	const char *cn = tls_conn_peer_name(tls);

	c->opened = true;
	tls_conn_admit(tls);
	if (!c->srv)
		return;
	if (c->srv->n_conns >= METRICS_MAX_CONNS) {
		log_info("metrics: connection from CN \"%s\" closed: %d connections open",
			 cn, METRICS_MAX_CONNS);
		mclient_close(c);
		return;
	}
	c->srv->n_conns++;
	c->counted = true;
	c->allowed = cn_allowed(c->srv, cn);
	if (!c->allowed)
		log_ratelimited(&c->srv->refused_log, LOG_LVL_NOTICE,
				"metrics: client certificate CN \"%s\" is not in [metrics] clients",
				cn);
}

static int on_data(struct tls_conn *tls, void *arg)
{
	struct mclient *c = arg;

	c->last_active_ms = loop_now_ms();
	if (c->srv)
		mclient_process(c);
	return 0;
}

static void on_close(struct tls_conn *tls, void *arg)
{
	struct mclient *c = arg;
	struct metrics_server *srv = c->srv;

	if (!c->opened && tls_conn_error(tls)[0] && srv)
		log_ratelimited(&srv->refused_log, LOG_LVL_INFO,
				"metrics: connection refused: %s",
				tls_conn_error(tls));
	http_reader_free(&c->http);
	if (srv) {
		if (c->prev)
			c->prev->next = c->next;
		else
			srv->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		if (c->counted)
			srv->n_conns--;
	}
	free(c);
}

static const struct tls_conn_ops mclient_ops = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

static struct tls_conn *accept_one(void *arg, int fd)
{
	struct metrics_server *srv = arg;
	struct mclient *c = calloc(1, sizeof(*c));
	int one = 1;

	/* A scrape's answer is several TLS records: without this, Nagle holds
	 * the last one for the client's delayed ACK (40 ms). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!c || http_reader_init(&c->http, &srv->limits)) {
		free(c);
		return NULL;
	}
	c->srv = srv;
	c->last_active_ms = loop_now_ms();
	c->tls = tls_conn_accept(srv->loop, srv->ctx, fd,
				 METRICS_MAX_URL + METRICS_MAX_HEADERS +
				 METRICS_MAX_BODY + 16384, &mclient_ops, c);
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

/* Idle or stalled scrapers: the listener gate only bounds the handshake. */
static void on_sweep(void *arg)
{
	struct metrics_server *srv = arg;
	uint64_t now = loop_now_ms();

	for (struct mclient *c = srv->conns; c; c = c->next) {
		if (now - c->last_active_ms <= METRICS_IDLE_MS)
			continue;
		if (c->closing || tls_conn_pending(c->tls))
			tls_conn_abort(c->tls);
		else
			mclient_close(c);
	}
}

struct metrics_server *metrics_start(struct loop *loop,
				     const struct metrics_config *cfg,
				     const struct ctl_sources *src,
				     char *err, size_t errlen)
{
	struct metrics_server *srv = calloc(1, sizeof(*srv));
	int fd;

	if (!srv || !(srv->clients = calloc(cfg->n_clients ? cfg->n_clients : 1,
					    sizeof(*srv->clients)))) {
		snprintf(err, errlen, "metrics: out of memory");
		free(srv);
		return NULL;
	}
	srv->loop = loop;
	srv->src = src;
	memcpy(srv->clients, cfg->clients, cfg->n_clients * sizeof(*srv->clients));
	srv->n_clients = cfg->n_clients;
	srv->refused_log = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, 10);
	srv->limits = (struct http_limits){
		.max_url = METRICS_MAX_URL,
		.max_header_bytes = METRICS_MAX_HEADERS,
		.max_body = METRICS_MAX_BODY,
	};
	srv->ctx = tls_ctx_new(&cfg->tls, 1, err, errlen);
	if (!srv->ctx)
		goto fail;
	fd = tls_listen_socket(cfg->listen, err, errlen);
	if (fd < 0)
		goto fail;
	srv->listener = tls_listener_new(loop, fd, "metrics", NULL,
					 accept_one, srv);
	if (!srv->listener)
		close(fd);
	srv->sweep = loop_timer_add(loop, 1000, true, on_sweep, srv);
	if (!srv->listener || !srv->sweep) {
		snprintf(err, errlen, "metrics: event loop: %s",
			 strerror(errno));
		goto fail;
	}
	return srv;
fail:
	metrics_stop(srv);
	return NULL;
}

void metrics_stop(struct metrics_server *srv)
{
	struct mclient *c, *next;

	if (!srv)
		return;
	tls_listener_free(srv->listener);
	loop_timer_del(srv->sweep);
	for (c = srv->conns; c; c = next) {	/* detached, then freed */
		next = c->next;
		c->srv = NULL;
		tls_conn_free(c->tls);
	}
	SSL_CTX_free(srv->ctx);
	free(srv->clients);
	free(srv);
}
