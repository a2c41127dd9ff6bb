// SPDX-License-Identifier: GPL-2.0
/*
 * Baseline for the ETSI 014 benchmark: the daemon's own HTTPS stack (event
 * loop, tls.c with mutual TLS, http.c) answering every request with one
 * fixed JSON body shaped like an enc_keys answer with one 256-bit key.
 * Whatever qkdkmd costs beyond this is the key manager and the JSON.
 *
 * Usage: static_server CA CERT KEY HOST:PORT SECONDS
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kx/http.h"
#include "core/loop.h"
#include "kx/tls.h"

static const char body[] =
	"{\"keys\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\","
	"\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}]}";

static const struct http_limits limits = {
	.max_url = 2048, .max_header_bytes = 8192, .max_body = 65536,
};

struct conn {
	struct tls_conn *tls;
	struct http_reader http;
};

static int on_data(struct tls_conn *tls, void *arg)
{
	struct conn *c = arg;

	for (;;) {
		size_t len, used, rlen;
		const uint8_t *in = tls_conn_input(tls, &len);
		uint8_t *resp;
		bool keep;
		int ret;

		if (!len)
			return 0;
		ret = http_reader_feed(&c->http, in, len, &used);
		tls_conn_consume(tls, used);
		if (ret == HTTP_NEED_MORE)
			return 0;
		keep = ret == HTTP_REQUEST_READY && c->http.req.keep_alive;
		resp = http_response(ret < 0 ? -ret : 200, "application/json", NULL,
				     body, sizeof(body) - 1, keep, &rlen);
		if (!resp || tls_conn_write(tls, resp, rlen) < 0)
			keep = false;
		http_response_free(resp, rlen);
		if (!keep) {
			tls_conn_close(tls);
			return 0;
		}
		http_reader_next(&c->http);
	}
}

static void on_close(struct tls_conn *tls, void *arg)
{
	struct conn *c = arg;

	http_reader_free(&c->http);
	free(c);
}

static const struct tls_conn_ops ops = { .on_data = on_data, .on_close = on_close };

struct server {
	struct loop *loop;
	SSL_CTX *ctx;
	int fd;
};

static void on_accept(void *arg, uint32_t revents)
{
	struct server *s = arg;
	int fd, one = 1;

	while ((fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct conn *c = calloc(1, sizeof(*c));

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (!c || http_reader_init(&c->http, &limits)) {
			free(c);
			close(fd);
			continue;
		}
		c->tls = tls_conn_accept(s->loop, s->ctx, fd, 128 * 1024, &ops, c);
		if (!c->tls) {
			http_reader_free(&c->http);
			free(c);
			close(fd);
		}
	}
}

static void on_timeout(void *arg)
{
	loop_stop(arg);
}

int main(int argc, char **argv)
{
	struct tls_files files;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct server s;
	char err[256], host[64], *port;
	int one = 1;

	if (argc != 6) {
		fprintf(stderr, "usage: %s CA CERT KEY HOST:PORT SECONDS\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);	/* a client may vanish mid-answer */
	files.ca = argv[1];
	files.cert = argv[2];
	files.key = argv[3];
	snprintf(host, sizeof(host), "%s", argv[4]);
	port = strrchr(host, ':');
	if (!port)
		return 2;
	*port++ = '\0';
	sa.sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return 2;
	s.ctx = tls_ctx_new(&files, 1, err, sizeof(err));
	if (!s.ctx) {
		fprintf(stderr, "static_server: %s\n", err);
		return 1;
	}
	s.loop = loop_new();
	s.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!s.loop || bind(s.fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s.fd, SOMAXCONN)) {
		fprintf(stderr, "static_server: %s: %s\n", argv[4], strerror(errno));
		return 1;
	}
	if (!loop_watch_add(s.loop, s.fd, POLLIN, on_accept, &s) ||
	    !loop_timer_add(s.loop, (uint64_t)atoi(argv[5]) * 1000, false,
			    on_timeout, s.loop))
		return 1;
	loop_run(s.loop);
	close(s.fd);
	loop_free(s.loop);
	SSL_CTX_free(s.ctx);
	return 0;
}
