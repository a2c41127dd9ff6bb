// SPDX-License-Identifier: GPL-2.0
/*
 * HTTPS load generator for the ETSI 014 benchmark.  Opens C keep-alive
 * TLS 1.3 connections presenting a client certificate, then on each keeps
 * one request in flight (closed loop, maximum rate) or sends at a fixed
 * total rate (-r, open loop: latency counts from the scheduled send time,
 * so a stalled server is not hidden).  Prints one line:
 *
 *   requests=N errors=E seconds=S rps=R p50_us=A p99_us=B max_us=M
 *
 * -s FILE saves every "key_ID" of the answers (for a following dec_keys
 * run); -P FILE takes request targets from FILE, one per line, each once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_CONNS	1024
#define RESP_MAX	(256 * 1024)
#define HIST_US		1000000		/* 1 us buckets up to 1 s */

struct conn {
	SSL *ssl;
	int fd;
	bool busy;		/* a request is in flight */
	uint64_t t_start_ns;	/* when it was (or should have been) sent */
	uint64_t next_ns;	/* open loop: next scheduled send */
	char req[4096];
	size_t req_len, req_off;
	char resp[RESP_MAX];
	size_t resp_len;
};

static struct {
	const char *addr, *name, *ca, *cert, *key, *path, *paths_file,
		   *save_file, *method, *body;
	int conns;
	double seconds;
	long max_requests;
	double rate;
} opt = { .name = "A", .conns = 8, .seconds = 5, .method = "GET", .body = "" };

static uint32_t hist[HIST_US];
static uint64_t overflow, done, errors, max_us;
static char **paths;
static size_t n_paths, next_path;
static FILE *save;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: ", what);
	ERR_print_errors_fp(stderr);
	fprintf(stderr, "%s\n", errno ? strerror(errno) : "");
	exit(1);
}

static SSL_CTX *make_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_load_verify_file(ctx, opt.ca) ||
	    SSL_CTX_use_certificate_chain_file(ctx, opt.cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, opt.key, SSL_FILETYPE_PEM) != 1)
		die("TLS setup");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

static int fcntl_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Blocking connect and handshake; then non-blocking for the run. */
static void conn_open(struct conn *c, SSL_CTX *ctx, const struct sockaddr_in *sa)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)))
		die("connect");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ssl = SSL_new(ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set1_host(c->ssl, opt.name);
	if (SSL_connect(c->ssl) != 1)
		die("handshake");
	if (fcntl_nonblock(c->fd))
		die("fcntl");
}

static const char *next_target(void)
{
	if (paths)
		return next_path < n_paths ? paths[next_path++] : NULL;
	return opt.path;
}

static bool conn_send(struct conn *c, uint64_t start_ns)
{
	const char *target = next_target();
	int n;

	if (!target)
		return false;
	n = snprintf(c->req, sizeof(c->req),
		     "%s %s HTTP/1.1\r\nHost: %s\r\n%s"
		     "Content-Length: %zu\r\n\r\n%s",
		     opt.method, target, opt.name,
		     *opt.body ? "Content-Type: application/json\r\n" : "",
		     strlen(opt.body), opt.body);
	if (n < 0 || (size_t)n >= sizeof(c->req))
		die("request too long");
	c->req_len = (size_t)n;
	c->req_off = 0;
	c->resp_len = 0;
	c->busy = true;
	c->t_start_ns = start_ns;
	return true;
}

static void conn_flush(struct conn *c)
{
	while (c->req_off < c->req_len) {
		size_t n;

		if (SSL_write_ex(c->ssl, c->req + c->req_off,
				 c->req_len - c->req_off, &n) <= 0) {
			int e = SSL_get_error(c->ssl, 0);

			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			die("write");
		}
		c->req_off += n;
	}
}

static void save_ids(const char *body, size_t len)
{
	static const char tag[] = "\"key_ID\":\"";
	const char *p = body, *end = body + len;

	while ((p = memmem(p, (size_t)(end - p), tag, sizeof(tag) - 1))) {
		const char *q;

		p += sizeof(tag) - 1;
		q = memchr(p, '"', (size_t)(end - p));
		if (!q)
			break;
		fprintf(save, "%.*s\n", (int)(q - p), p);
		p = q;
	}
}

static void record(uint64_t ns)
{
	uint64_t us = ns / 1000;

	if (us < HIST_US)
		hist[us]++;
	else
		overflow++;
	if (us > max_us)
		max_us = us;
}

/* A complete response in c->resp?  Then account for it. */
static bool conn_response_done(struct conn *c)
{
	char *hdr_end, *cl;
	size_t body_len, head_len;
	int status;

	c->resp[c->resp_len] = '\0';
	hdr_end = strstr(c->resp, "\r\n\r\n");
	if (!hdr_end)
		return false;
	head_len = (size_t)(hdr_end - c->resp) + 4;
	cl = strcasestr(c->resp, "\r\nContent-Length:");
	body_len = cl && cl < hdr_end ? strtoul(cl + 17, NULL, 10) : 0;
	if (c->resp_len < head_len + body_len)
		return false;
	if (sscanf(c->resp, "HTTP/1.1 %d", &status) != 1 || status != 200) {
		/* Error bodies carry no key: show the first one. */
		if (!errors++)
			fprintf(stderr, "loadgen: first error: %.*s\n",
				(int)(head_len + body_len < 512 ? head_len + body_len : 512),
				c->resp);
	} else if (save)
		save_ids(c->resp + head_len, body_len);
	record(now_ns() - c->t_start_ns);
	done++;
	c->busy = false;
	return true;
}

static void conn_read(struct conn *c)
{
	for (;;) {
		size_t n;

		if (SSL_read_ex(c->ssl, c->resp + c->resp_len,
				RESP_MAX - 1 - c->resp_len, &n) <= 0) {
			int e = SSL_get_error(c->ssl, 0);

			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			die("read (server closed?)");
		}
		c->resp_len += n;
		if (conn_response_done(c))
			return;
		if (c->resp_len >= RESP_MAX - 1)
			die("response too large");
	}
}

static uint64_t percentile(uint64_t total, double pct)
{
	uint64_t want = (uint64_t)(total * pct), seen = 0;
	size_t i;

	for (i = 0; i < HIST_US; i++) {
		seen += hist[i];
		if (seen > want)
			return i;
	}
	return max_us;
}

static void load_paths(const char *file)
{
	FILE *f = fopen(file, "r");
	char line[4096];
	size_t cap = 0;

	if (!f)
		die(file);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!*line)
			continue;
		if (n_paths == cap) {
			cap = cap ? cap * 2 : 1024;
			paths = realloc(paths, cap * sizeof(*paths));
			if (!paths)
				die("memory");
		}
		paths[n_paths++] = strdup(line);
	}
	fclose(f);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen -a HOST:PORT --ca CA --cert CERT --key KEY\n"
		"               [-n SERVER_NAME] [-c CONNS] [-d SECONDS] [-N REQUESTS]\n"
		"               [-r RATE] (-p TARGET | -P TARGETS_FILE)\n"
		"               [-m METHOD] [-b BODY] [-s SAVE_KEY_IDS_FILE]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 1 },
		{ "cert", required_argument, NULL, 2 },
		{ "key", required_argument, NULL, 3 },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "a:n:c:d:N:r:p:P:m:b:s:h", lo, NULL)) != -1) {
		switch (o) {
		case 1: opt.ca = optarg; break;
		case 2: opt.cert = optarg; break;
		case 3: opt.key = optarg; break;
		case 'a': opt.addr = optarg; break;
		case 'n': opt.name = optarg; break;
		case 'c': opt.conns = atoi(optarg); break;
		case 'd': opt.seconds = atof(optarg); break;
		case 'N': opt.max_requests = atol(optarg); break;
		case 'r': opt.rate = atof(optarg); break;
		case 'p': opt.path = optarg; break;
		case 'P': opt.paths_file = optarg; break;
		case 'm': opt.method = optarg; break;
		case 'b': opt.body = optarg; break;
		case 's': opt.save_file = optarg; break;
		default: usage();
		}
	}
	if (!opt.addr || !opt.ca || !opt.cert || !opt.key ||
	    (!opt.path && !opt.paths_file) || opt.conns < 1 ||
	    opt.conns > MAX_CONNS)
		usage();
}

int main(int argc, char **argv)
{
	static struct conn conns[MAX_CONNS];
	struct pollfd pfd[MAX_CONNS];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64], *port;
	uint64_t t0, deadline, interval = 0, sent = 0;
	bool sending = true;
	SSL_CTX *ctx;
	int i, busy;

	signal(SIGPIPE, SIG_IGN);	/* a closed server shows as a read error */
	parse_args(argc, argv);
	snprintf(host, sizeof(host), "%s", opt.addr);
	port = strrchr(host, ':');
	if (!port)
		usage();
	*port++ = '\0';
	sa.sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		usage();
	if (opt.paths_file)
		load_paths(opt.paths_file);
	if (opt.save_file && !(save = fopen(opt.save_file, "w")))
		die(opt.save_file);
	ctx = make_ctx();
	for (i = 0; i < opt.conns; i++)
		conn_open(&conns[i], ctx, &sa);

	t0 = now_ns();
	deadline = t0 + (uint64_t)(opt.seconds * 1e9);
	if (opt.rate > 0) {
		interval = (uint64_t)(1e9 * opt.conns / opt.rate);
		for (i = 0; i < opt.conns; i++)
			conns[i].next_ns = t0 + (uint64_t)i * interval / opt.conns;
	}
	for (;;) {
		uint64_t now = now_ns();
		/* Sleep to the next scheduled send exactly: a timeout rounded
		 * down to 0 ms would spin and steal the server's CPU. */
		uint64_t timeout_ns = 100000000;
		struct timespec ts;

		if (now >= deadline ||
		    (opt.max_requests && sent >= (uint64_t)opt.max_requests))
			sending = false;
		busy = 0;
		for (i = 0; i < opt.conns; i++) {
			struct conn *c = &conns[i];

			if (!c->busy && sending) {
				uint64_t start = now;

				if (interval) {
					if (c->next_ns > now) {
						if (c->next_ns - now < timeout_ns)
							timeout_ns = c->next_ns - now;
						goto arm;
					}
					start = c->next_ns;
					c->next_ns += interval;
				}
				if (!conn_send(c, start)) {
					sending = false;
					goto arm;
				}
				sent++;
				conn_flush(c);
			}
arm:
			pfd[i].fd = c->fd;
			pfd[i].events = c->busy ? POLLIN : 0;
			if (c->busy && c->req_off < c->req_len)
				pfd[i].events |= POLLOUT;
			busy += c->busy;
		}
		if (!sending && !busy)
			break;
		ts.tv_sec = (time_t)(timeout_ns / 1000000000);
		ts.tv_nsec = (long)(timeout_ns % 1000000000);
		if (ppoll(pfd, (nfds_t)opt.conns, &ts, NULL) < 0 && errno != EINTR)
			die("ppoll");
		for (i = 0; i < opt.conns; i++) {
			struct conn *c = &conns[i];

			if (!c->busy)
				continue;
			if (pfd[i].revents & POLLOUT)
				conn_flush(c);
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR) ||
			    SSL_pending(c->ssl))
				conn_read(c);
		}
	}
	{
		double secs = (double)(now_ns() - t0) / 1e9;
		uint64_t total = done;

		printf("requests=%llu errors=%llu seconds=%.3f rps=%.0f p50_us=%llu p99_us=%llu max_us=%llu\n",
		       (unsigned long long)done, (unsigned long long)errors, secs,
		       done / secs, (unsigned long long)percentile(total, 0.50),
		       (unsigned long long)percentile(total, 0.99),
		       (unsigned long long)max_us);
	}
	if (save)
		fclose(save);
	for (i = 0; i < opt.conns; i++) {
		SSL_shutdown(conns[i].ssl);
		SSL_free(conns[i].ssl);
		close(conns[i].fd);
	}
	SSL_CTX_free(ctx);
	return errors ? 3 : 0;
}
