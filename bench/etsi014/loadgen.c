// SPDX-License-Identifier: GPL-2.0
/*
 * HTTPS load generator for the ETSI 014 benchmark.  Opens C keep-alive
 * TLS 1.3 connections presenting a client certificate, then on each keeps
 * one request in flight (closed loop, maximum rate) or sends at a fixed
 * total rate (-r, open loop: request k is due at start + k / rate and its
 * latency counts from then, so a stalled server is not hidden; a request
 * due while every connection is busy waits for the first one free).
 * Requests due in the first -w seconds (warm-up: fresh connections, cold
 * caches) are sent but not counted.  Prints one line:
 *
 *   requests=N errors=E seconds=S rps=R p50_us=A p99_us=B max_us=M \
 *   wait_p99_us=W warmup_requests=U
 *
 * where U counts the answers in the warm-up, and W is how long requests
 * waited past their due time before they went out (open loop): for a free
 * connection, or for the generator's own CPU.  When W is close to p99,
 * the tail is queueing before the server saw the requests.
 *
 * The generator shares its CPU (with the peer node, in the benchmark) and
 * the host does not always run it; a request that fell due while it was
 * off its CPU could not go out before it ran again.  So in open loop it
 * also counts each request from when it was *ready*: its due time, or
 * the end of the stall it fell due in, whichever is later.  Its answer
 * still counts from when the generator read it, and a request due after
 * a stall still waits for a free connection as before.  The line goes on
 *
 *   ready_p99_us=R gen_stalls=G gen_stall_us=T
 *
 * R: p99 counted from the ready time; G and T: how many times and how
 * long in all the generator was off its CPU (GEN_STALL_NS or more) in the
 * counted part of the run.  In closed loop R is p99 and G is 0.
 *
 * -s FILE saves every "key_ID" of the answers (for a following dec_keys
 * run); -P FILE takes request targets from FILE, one per line, each once.
 * -T FILE writes one line per counted request once the run is over,
 *
 *   DUE_NS READY_NS SENT_NS ANSWERED_NS CONN
 *
 * on CLOCK_MONOTONIC (as perf record -k CLOCK_MONOTONIC stamps its
 * events), to lay the slow requests beside a trace of the server.
 *
 * It runs on the daemon's own event loop and tls.c, so that its socket I/O
 * goes through io_uring as the server's does.  It shares a CPU with what
 * it measures: with a system call per read, write and poll it left that
 * CPU too little room at half load.  In open loop it polls rather than
 * sleeps (poll_until_done()), so that CPU reads as fully busy then.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "kx/tls.h"

#define MAX_CONNS		1024
#define RESP_MAX		(256 * 1024)
#define HIST_US			1000000		/* 1 us buckets up to 1 s */
#define CONNECT_TIMEOUT_MS	10000

struct conn {
	struct tls_conn *tls;
	bool busy;		/* a request is in flight */
	uint64_t t_start_ns;	/* when it was (or should have been) sent */
	uint64_t t_ready_ns;	/* ... or later, if the generator was off CPU */
	uint64_t t_sent_ns;	/* when it went out */
	struct conn *next_idle;	/* open loop: in run.idle */
};

static struct {
	const char *addr, *name, *ca, *cert, *key, *path, *paths_file,
		   *save_file, *trace_file, *method, *body;
	int conns;
	double seconds, warmup;
	long max_requests;
	double rate;
} opt = { .name = "A", .conns = 8, .seconds = 5, .method = "GET", .body = "" };

/* A distribution of durations in microseconds. */
struct histogram {
	uint32_t count[HIST_US];	/* the last bucket also holds longer */
	uint64_t total, max_us;
};

static struct histogram latency, ready_latency, wait;

/*
 * Open loop: the generator polls, so a gap this long between the starts
 * of two of its passes means it was off its CPU (the host did not run its
 * virtual CPU, or another task on that CPU ran), not busy: a pass handles
 * at most one answer and one request per connection.  Alone on its CPU
 * at 56 000 requests/s, fewer than 1 pass in 3 000 took over 100 us.
 */
#define GEN_STALL_NS		200000

/*
 * Requests [first, end) fell due while the generator was off its CPU,
 * and could go out no sooner than @resumed_ns.  A ring of the latest
 * stalls whose requests have not all gone out; when it is full the
 * oldest is dropped, and its requests count from their due time.
 */
struct gen_stall {
	uint64_t first, end, resumed_ns;
};
#define GEN_STALLS		64
static struct gen_stall stalls[GEN_STALLS];
static unsigned int stall_head, stall_count;
static uint64_t n_gen_stalls, gen_stall_ns;

/* -T: the counted requests' times, written out after the run. */
struct trace_entry {
	uint64_t due_ns, ready_ns, sent_ns, answered_ns;
	int conn;
};
static struct trace_entry *trace;
static size_t n_trace, trace_cap;
static FILE *trace_out;
static uint64_t errors, warmup_answers;
static char **paths;
static size_t n_paths, next_path;
static FILE *save;

/* The run: who is idle, what is due, when it ends. */
static struct {
	struct loop *loop;
	struct conn *conns;
	/*
	 * Open loop: connections with nothing in flight, oldest first.  In
	 * turn, so that at a low rate none sits unused long enough for the
	 * server's idle timeout to close it.
	 */
	struct conn *idle, **idle_tail;
	int opened, busy;
	bool sending, finished;
	uint64_t t0_ns, interval_ns, sent;
	uint64_t counted_ns;	/* requests due from here on count */
} run;

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s\n", what);
	exit(1);
}

static void die_errno(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void histogram_add(struct histogram *h, uint64_t ns)
{
	uint64_t us = ns / 1000;

	h->count[us < HIST_US ? us : HIST_US - 1]++;
	h->total++;
	if (us > h->max_us)
		h->max_us = us;
}

static uint64_t percentile(const struct histogram *h, double pct)
{
	uint64_t want = (uint64_t)(h->total * pct), seen = 0;
	size_t i;

	for (i = 0; i < HIST_US; i++) {
		seen += h->count[i];
		if (seen > want)
			return i;
	}
	return h->max_us;
}

static const char *next_target(void)
{
	if (paths)
		return next_path < n_paths ? paths[next_path++] : NULL;
	return opt.path;
}

/* When the next request (due at @due_ns) may go out: then or after a stall. */
static uint64_t ready_time(uint64_t due_ns)
{
	while (stall_count) {
		const struct gen_stall *s = &stalls[stall_head];

		if (run.sent < s->end)
			return run.sent >= s->first ? s->resumed_ns : due_ns;
		stall_head = (stall_head + 1) % GEN_STALLS;
		stall_count--;
	}
	return due_ns;
}

/* Send the next request on idle @c, due at @start_ns; false if none is left. */
static bool conn_send(struct conn *c, uint64_t start_ns)
{
	const char *target;
	char req[4096];
	int n;

	if (opt.max_requests && run.sent >= (uint64_t)opt.max_requests)
		return false;
	target = next_target();
	if (!target)
		return false;
	n = snprintf(req, sizeof(req),
		     "%s %s HTTP/1.1\r\nHost: %s\r\n%s"
		     "Content-Length: %zu\r\n\r\n%s",
		     opt.method, target, opt.name,
		     *opt.body ? "Content-Type: application/json\r\n" : "",
		     strlen(opt.body), opt.body);
	if (n < 0 || (size_t)n >= sizeof(req))
		die("request too long");
	if (tls_conn_write(c->tls, req, (size_t)n) < 0)
		die("write failed (server closed?)");
	c->busy = true;
	c->t_start_ns = start_ns;
	c->t_ready_ns = ready_time(start_ns);
	c->t_sent_ns = loop_now_ns();
	if (start_ns >= run.counted_ns)
		histogram_add(&wait, c->t_sent_ns - start_ns);
	run.busy++;
	run.sent++;
	return true;
}

/* No new requests; the run ends when the last answer is in. */
static void stop_sending(void)
{
	run.sending = false;
	if (!run.busy && !run.finished) {
		run.finished = true;
		loop_stop(run.loop);
	}
}

/* Open loop: send every request that is due, on idle connections. */
static void pace(void)
{
	uint64_t due = (loop_now_ns() - run.t0_ns) / run.interval_ns + 1;

	while (run.sending && run.sent < due && run.idle) {
		struct conn *c = run.idle;

		if (!conn_send(c, run.t0_ns + run.sent * run.interval_ns)) {
			stop_sending();
			return;
		}
		run.idle = c->next_idle;
		if (!run.idle)
			run.idle_tail = &run.idle;
	}
}

/* @c has nothing in flight: give it the next request, or park it. */
static void conn_ready(struct conn *c)
{
	if (!run.sending)
		return;
	if (run.interval_ns) {
		c->next_idle = NULL;
		*run.idle_tail = c;
		run.idle_tail = &c->next_idle;
		pace();
	} else if (!conn_send(c, loop_now_ns())) {
		stop_sending();
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

/*
 * Length of the complete response at the head of @in, or 0 while some of
 * it is still to come; sets *@status and *@head_len (where the body
 * starts).  The bench talks only to its own servers, so this trusts the
 * framing and looks no further.
 */
static size_t response_length(const uint8_t *in, size_t len, int *status,
			      size_t *head_len)
{
	static const char cl[] = "\r\nContent-Length:";
	const char *head = (const char *)in;
	const char *end = memmem(head, len, "\r\n\r\n", 4);
	const char *p;
	size_t body_len = 0;

	if (!end)
		return 0;
	*head_len = (size_t)(end - head) + 4;
	for (p = head; p + sizeof(cl) - 1 < end; p++) {
		if (!strncasecmp(p, cl, sizeof(cl) - 1)) {
			body_len = strtoul(p + sizeof(cl) - 1, NULL, 10);
			break;
		}
	}
	if (len < *head_len + body_len)
		return 0;
	*status = *head_len > 12 && !memcmp(head, "HTTP/1.1 ", 9) ?
		  atoi(head + 9) : 0;
	return *head_len + body_len;
}

static void count_answer(const struct conn *c, uint64_t now_ns)
{
	histogram_add(&latency, now_ns - c->t_start_ns);
	histogram_add(&ready_latency, now_ns - c->t_ready_ns);
	if (!trace_out)
		return;
	if (n_trace == trace_cap) {
		trace_cap = trace_cap ? 2 * trace_cap : 1 << 16;
		trace = realloc(trace, trace_cap * sizeof(*trace));
		if (!trace)
			die_errno("trace");
	}
	trace[n_trace++] = (struct trace_entry){
		.due_ns = c->t_start_ns, .ready_ns = c->t_ready_ns,
		.sent_ns = c->t_sent_ns,
		.answered_ns = now_ns, .conn = (int)(c - run.conns),
	};
}

static void write_trace(void)
{
	size_t i;

	for (i = 0; i < n_trace; i++)
		fprintf(trace_out, "%llu %llu %llu %llu %d\n",
			(unsigned long long)trace[i].due_ns,
			(unsigned long long)trace[i].ready_ns,
			(unsigned long long)trace[i].sent_ns,
			(unsigned long long)trace[i].answered_ns, trace[i].conn);
	if (fclose(trace_out))
		die_errno(opt.trace_file);
}

static int on_data(struct tls_conn *tls, void *arg)
{
	struct conn *c = arg;
	size_t len, total, head_len;
	const uint8_t *in = tls_conn_input(tls, &len);
	int status = 0;

	total = response_length(in, len, &status, &head_len);
	if (!total) {
		if (len >= RESP_MAX)
			die("response too large");
		return 0;
	}
	if (!c->busy)
		die("an answer to no request");
	if (status != 200) {
		/* Error bodies carry no key: show the first one. */
		if (!errors++)
			fprintf(stderr, "loadgen: first error: %.*s\n",
				(int)(total < 512 ? total : 512), (const char *)in);
	} else if (save) {
		save_ids((const char *)in + head_len, total - head_len);
	}
	tls_conn_consume(tls, total);
	if (c->t_start_ns >= run.counted_ns)
		count_answer(c, loop_now_ns());
	else
		warmup_answers++;
	c->busy = false;
	run.busy--;
	if (run.sending)
		conn_ready(c);
	else
		stop_sending();	/* ends the run once the last answer is in */
	return 0;
}

static void on_deadline(void *arg)
{
	stop_sending();
}

/* Every connection is up: go. */
static void start(void)
{
	int i;

	run.t0_ns = loop_now_ns();
	run.idle_tail = &run.idle;
	run.counted_ns = run.t0_ns + (uint64_t)(opt.warmup * 1e9);
	run.sending = true;
	if (!loop_timer_add_ns(run.loop,
			       (uint64_t)((opt.warmup + opt.seconds) * 1e9), false,
			       on_deadline, NULL))
		die("timer");
	if (opt.rate > 0) {
		run.interval_ns = (uint64_t)(1e9 / opt.rate);
		if (!run.interval_ns)
			run.interval_ns = 1;
		loop_stop(run.loop);	/* main() polls from here on */
	}
	for (i = 0; i < opt.conns && run.sending; i++)
		conn_ready(&run.conns[i]);
}

/* Requests due by @t_ns, as pace() counts them. */
static uint64_t due_by(uint64_t t_ns)
{
	return (t_ns - run.t0_ns) / run.interval_ns + 1;
}

/* The generator ran at @prev_ns and next at @now_ns: note a stall between. */
static void note_gap(uint64_t prev_ns, uint64_t now_ns)
{
	struct gen_stall *s;
	uint64_t first, end;

	if (now_ns - prev_ns < GEN_STALL_NS)
		return;
	if (prev_ns >= run.counted_ns) {
		n_gen_stalls++;
		gen_stall_ns += now_ns - prev_ns;
	}
	first = due_by(prev_ns);
	end = due_by(now_ns);
	if (first < run.sent)
		first = run.sent;
	if (end <= first)
		return;
	if (stall_count == GEN_STALLS) {
		stall_head = (stall_head + 1) % GEN_STALLS;
		stall_count--;
	}
	s = &stalls[(stall_head + stall_count++) % GEN_STALLS];
	*s = (struct gen_stall){ first, end, now_ns };
}

/*
 * Open loop: poll instead of sleeping.  A pacing timer cost a timer
 * interrupt per request interval (11 600 a second at 56k requests/s on
 * the bench's VM) and the wake-ups for the answers came on top: the
 * generator spent 2.5 times the CPU per request of a closed loop, and at
 * half load its own lag made the tail.  Polling keeps its CPU busy, but
 * gives way to whatever else is runnable there whenever nothing came.
 */
static void poll_until_done(void)
{
	uint64_t prev = loop_now_ns(), now;
	int n;

	while (!run.finished) {
		now = loop_now_ns();
		note_gap(prev, now);
		prev = now;
		pace();
		n = loop_poll(run.loop);
		if (n < 0)
			die("event loop failed");
		if (!n)
			sched_yield();
	}
}

static void on_open(struct tls_conn *tls, void *arg)
{
	if (++run.opened == opt.conns)
		start();
}

static void on_close(struct tls_conn *tls, void *arg)
{
	if (!run.finished) {
		fprintf(stderr, "loadgen: connection closed: %s\n",
			tls_conn_error(tls));
		exit(1);
	}
	if (--run.opened == 0)
		loop_stop(run.loop);
}

static const struct tls_conn_ops ops = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

static void on_connect_timeout(void *arg)
{
	if (run.opened < opt.conns)
		die("connections not up in time");
}

static void conn_open(struct conn *c, SSL_CTX *ctx, const struct sockaddr_in *sa)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 ||
	    (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) &&
	     errno != EINPROGRESS))
		die_errno("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->tls = tls_conn_connect(run.loop, ctx, fd, opt.name, RESP_MAX, &ops, c);
	if (!c->tls)
		die("TLS connection setup failed");
}

static void load_paths(const char *file)
{
	FILE *f = fopen(file, "r");
	char line[4096];
	size_t cap = 0;

	if (!f)
		die_errno(file);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!*line)
			continue;
		if (n_paths == cap) {
			cap = cap ? cap * 2 : 1024;
			paths = realloc(paths, cap * sizeof(*paths));
			if (!paths)
				die_errno("memory");
		}
		paths[n_paths++] = strdup(line);
	}
	fclose(f);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen -a HOST:PORT --ca CA --cert CERT --key KEY\n"
		"               [-n SERVER_NAME] [-c CONNS] [-d SECONDS] [-w WARMUP_SECONDS]\n"
		"               [-N REQUESTS] [-r RATE] (-p TARGET | -P TARGETS_FILE)\n"
		"               [-m METHOD] [-b BODY] [-s SAVE_KEY_IDS_FILE]\n"
		"               [-T TRACE_FILE]\n");
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

	while ((o = getopt_long(argc, argv, "a:n:c:d:w:N:r:p:P:m:b:s:T:h", lo, NULL)) != -1) {
		switch (o) {
		case 1: opt.ca = optarg; break;
		case 2: opt.cert = optarg; break;
		case 3: opt.key = optarg; break;
		case 'a': opt.addr = optarg; break;
		case 'n': opt.name = optarg; break;
		case 'c': opt.conns = atoi(optarg); break;
		case 'd': opt.seconds = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 'N': opt.max_requests = atol(optarg); break;
		case 'r': opt.rate = atof(optarg); break;
		case 'p': opt.path = optarg; break;
		case 'P': opt.paths_file = optarg; break;
		case 'm': opt.method = optarg; break;
		case 'b': opt.body = optarg; break;
		case 's': opt.save_file = optarg; break;
		case 'T': opt.trace_file = optarg; break;
		default: usage();
		}
	}
	if (!opt.addr || !opt.ca || !opt.cert || !opt.key ||
	    (!opt.path && !opt.paths_file) || opt.conns < 1 ||
	    opt.conns > MAX_CONNS || !(opt.seconds > 0) ||
	    !(opt.warmup >= 0) || !(opt.rate >= 0) || opt.max_requests < 0)
		usage();
}

int main(int argc, char **argv)
{
	static struct conn conns[MAX_CONNS];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct tls_files files;
	char host[64], err[256], *port;
	SSL_CTX *ctx;
	double secs;
	int i;

	signal(SIGPIPE, SIG_IGN);	/* a closed server shows as a failure */
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
		die_errno(opt.save_file);
	if (opt.trace_file && !(trace_out = fopen(opt.trace_file, "w")))
		die_errno(opt.trace_file);
	files = (struct tls_files){ .ca = opt.ca, .cert = opt.cert, .key = opt.key };
	ctx = tls_ctx_new(&files, 0, err, sizeof(err));
	if (!ctx)
		die(err);
	run.loop = loop_new();
	if (!run.loop)
		die_errno("io_uring setup");
	run.conns = conns;
	for (i = 0; i < opt.conns; i++)
		conn_open(&conns[i], ctx, &sa);
	if (!loop_timer_add(run.loop, CONNECT_TIMEOUT_MS, false,
			    on_connect_timeout, NULL))
		die("timer");
	if (loop_run(run.loop) < 0)
		die("event loop failed");
	if (run.interval_ns)
		poll_until_done();

	secs = (double)(loop_now_ns() - run.counted_ns) / 1e9;
	if (secs <= 0)		/* it all ended in the warm-up */
		secs = 1e-9;
	printf("requests=%llu errors=%llu seconds=%.3f rps=%.0f p50_us=%llu p99_us=%llu max_us=%llu wait_p99_us=%llu warmup_requests=%llu",
	       (unsigned long long)latency.total, (unsigned long long)errors,
	       secs, latency.total / secs,
	       (unsigned long long)percentile(&latency, 0.50),
	       (unsigned long long)percentile(&latency, 0.99),
	       (unsigned long long)latency.max_us,
	       (unsigned long long)percentile(&wait, 0.99),
	       (unsigned long long)warmup_answers);
	printf(" ready_p99_us=%llu gen_stalls=%llu gen_stall_us=%llu\n",
	       (unsigned long long)percentile(&ready_latency, 0.99),
	       (unsigned long long)n_gen_stalls,
	       (unsigned long long)(gen_stall_ns / 1000));
	if (save)
		fclose(save);
	if (trace_out)
		write_trace();
	/* Say goodbye, so that the server sees a clean end, not an error. */
	for (i = 0; i < opt.conns; i++)
		tls_conn_close(conns[i].tls);
	loop_run(run.loop);
	loop_free(run.loop);
	SSL_CTX_free(ctx);
	return errors ? 3 : 0;
}
