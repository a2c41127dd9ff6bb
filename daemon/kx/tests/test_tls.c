// SPDX-License-Identifier: GPL-2.0
/*
 * tls.c over a socketpair on a real loop, with a throwaway PKI: handshake
 * and peer name, data both ways (large enough to need the output queue),
 * close, output coalescing, and the refusals: untrusted client, no client
 * certificate, untrusted server, wrong server name, input over the limit.
 * A listener on loopback TCP: its handshake deadline, per-source cap and
 * total cap on connections not yet admitted.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "core/loop.h"
#include "kx/tls.h"
#include "kx/tests/tls_fixture.h"

#define BIG (256 * 1024)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static char *pki;

struct side {
	const char *name;
	int opened, closed;
	char peer[256];
	char error[160];
	size_t received;
	uint8_t sum;		/* running checksum of what arrived */
	size_t send_on_open;	/* bytes to send once open */
	size_t close_after;	/* close once this much has arrived */
	int never_consume;
	int close_after_send;	/* close right after queueing send_on_open */
	int coalesce;		/* client: run the coalescing schedule */
	int check_locked;	/* on open: is the queued output locked? */
	size_t locked_growth;	/* secure heap bytes taken by that output */
};

struct pair {
	struct loop *loop;
	struct tls_conn *cli_conn, *srv_conn;
	size_t seen[3];		/* server's bytes at the coalescing checks */
	struct side srv, cli;
	struct loop_timer *deadline;
	int timed_out;
	int cli_early;
};

static struct pair *current;

static void maybe_stop(void)
{
	if (current->srv.closed && current->cli.closed)
		loop_stop(current->loop);
}

static void send_pattern(struct tls_conn *c, size_t n)
{
	static uint8_t chunk[4096];
	size_t i;

	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	while (n) {
		size_t k = n < sizeof(chunk) ? n : sizeof(chunk);

		assert_int_equal(tls_conn_write(c, chunk, k), 0);
		n -= k;
	}
}

/*
 * Coalescing at 1 s, from the open (whose handshake is the last send):
 *   +1100 ms  write 100 bytes: nothing sent for 1 s, so it leaves at once
 *   +1150     write 100: 50 ms after a send, so it waits until +2100
 *   +1200     the server writes 4 bytes: their arrival runs the client's
 *             connection, which must still hold its 100
 *   +1500     check: the server has 100 bytes
 *   +2600     check: 200; write a full record: leaves at once anyway
 *   +3000     check: 20200; close
 * The margins are hundreds of ms: a check can only fail by coalescing
 * doing the wrong thing, not by a slow machine.
 */
enum {
	CO_LONE, CO_HELD, CO_SERVER_TALKS, CO_CHECK_HELD, CO_CHECK_SENT_BIG,
	CO_CHECK_CLOSE
};

static const struct { uint64_t at_ms; int action; } coalesce_schedule[] = {
	{ 1100, CO_LONE }, { 1150, CO_HELD }, { 1200, CO_SERVER_TALKS },
	{ 1500, CO_CHECK_HELD }, { 2600, CO_CHECK_SENT_BIG },
	{ 3000, CO_CHECK_CLOSE },
};

static void coalesce_step(void *arg)
{
	int action = coalesce_schedule[(uintptr_t)arg].action;
	struct tls_conn *c = current->cli_conn;
	static uint8_t data[20000];

	switch (action) {
	case CO_LONE:
	case CO_HELD:
		assert_int_equal(tls_conn_write(c, data, 100), 0);
		break;
	case CO_SERVER_TALKS:
		assert_int_equal(tls_conn_write(current->srv_conn, "ping", 4), 0);
		break;
	case CO_CHECK_HELD:
		current->seen[0] = current->srv.received;
		break;
	case CO_CHECK_SENT_BIG:
		current->seen[1] = current->srv.received;
		assert_int_equal(tls_conn_write(c, data, sizeof(data)), 0);
		break;
	case CO_CHECK_CLOSE:
		current->seen[2] = current->srv.received;
		tls_conn_close(c);
		break;
	}
}

static void start_coalesce_schedule(struct tls_conn *c)
{
	current->cli_conn = c;
	tls_conn_set_coalesce(c, 1000);
	for (uintptr_t i = 0; i < ARRAY_SIZE(coalesce_schedule); i++)
		assert_non_null(loop_timer_add(current->loop,
					       coalesce_schedule[i].at_ms,
					       false, coalesce_step,
					       (void *)i));
}

static void on_open(struct tls_conn *c, void *arg)
{
	struct side *s = arg;

	s->opened++;
	if (s == &current->srv)
		current->srv_conn = c;
	snprintf(s->peer, sizeof(s->peer), "%s", tls_conn_peer_name(c));
	if (s->send_on_open) {
		size_t used = s->check_locked ? CRYPTO_secure_used() : 0;

		send_pattern(c, s->send_on_open);
		if (s->check_locked)
			s->locked_growth = CRYPTO_secure_used() - used;
	}
	if (s->close_after_send)
		tls_conn_close(c);
	if (s->coalesce)
		start_coalesce_schedule(c);
}

static int on_data(struct tls_conn *c, void *arg)
{
	struct side *s = arg;
	const uint8_t *p;
	size_t len, i;

	p = tls_conn_input(c, &len);
	if (s->never_consume)
		return 0;
	for (i = 0; i < len; i++)
		s->sum += p[i];
	s->received += len;
	tls_conn_consume(c, len);
	if (s->close_after && s->received >= s->close_after)
		tls_conn_close(c);
	return 0;
}

static void on_close(struct tls_conn *c, void *arg)
{
	struct side *s = arg;

	s->closed++;
	snprintf(s->error, sizeof(s->error), "%s", tls_conn_error(c));
	maybe_stop();
}

static const struct tls_conn_ops ops = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

static void on_deadline(void *arg)
{
	struct pair *p = arg;

	p->timed_out = 1;
	loop_stop(p->loop);
}

static SSL_CTX *ctx_for(const char *cert, int is_server, const char *ca)
{
	struct tls_files f = { 0 };
	char err[256];
	char ca_path[512], cert_path[512], key_path[512];
	SSL_CTX *ctx;

	snprintf(ca_path, sizeof(ca_path), "%s/%s.pem", pki, ca ? ca : "ca");
	snprintf(cert_path, sizeof(cert_path), "%s/%s.pem", pki, cert);
	snprintf(key_path, sizeof(key_path), "%s/%s.key", pki, cert);
	f.ca = ca_path;
	f.cert = cert_path;
	f.key = key_path;
	ctx = tls_ctx_new(&f, is_server, err, sizeof(err));
	if (!ctx)
		fail_msg("tls_ctx_new: %s", err);
	return ctx;
}

/* A client context that trusts the CA but has no certificate of its own. */
static SSL_CTX *ctx_anonymous_client(void)
{
	char ca_path[512];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", pki);
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_load_verify_file(ctx, ca_path), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* Run one connection between @sctx and @cctx until both sides closed. */
static void run_pair(struct pair *p, SSL_CTX *sctx, SSL_CTX *cctx,
		     const char *server_name, size_t srv_max_input)
{
	int sv[2];
	struct tls_conn *s, *c;

	current = p;
	p->srv.name = "server";
	p->cli.name = "client";
	p->loop = loop_new();
	assert_non_null(p->loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	s = tls_conn_accept(p->loop, sctx, sv[0], srv_max_input, &ops, &p->srv);
	assert_non_null(s);
	c = tls_conn_connect(p->loop, cctx, sv[1], server_name, 1 << 20, &ops,
			     &p->cli);
	assert_non_null(c);
	if (p->cli_early)	/* queued before the handshake, sent after it */
		assert_int_equal(tls_conn_write(c, "early", 5), 0);
	p->deadline = loop_timer_add(p->loop, 5000, false, on_deadline, p);
	assert_non_null(p->deadline);
	assert_int_equal(loop_run(p->loop), 0);
	loop_timer_del(p->deadline);
	/* Let deferred frees and cancellations complete. */
	loop_free(p->loop);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	assert_false(p->timed_out);
}

static uint8_t pattern_sum(size_t n)
{
	uint8_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += (uint8_t)(i % 4096);
	return sum;
}

static void test_handshake_and_data(void **state)
{
	struct pair p = { 0 };

	p.cli.send_on_open = BIG;
	p.srv.send_on_open = BIG;
	p.cli.close_after = BIG;
	run_pair(&p, ctx_for("server", 1, NULL), ctx_for("client", 0, NULL),
		 "server", 64 * 1024);
	assert_int_equal(p.srv.opened, 1);
	assert_int_equal(p.cli.opened, 1);
	assert_string_equal(p.srv.peer, "client");
	assert_string_equal(p.cli.peer, "server");
	assert_int_equal(p.srv.received, BIG);
	assert_int_equal(p.cli.received, BIG);
	assert_int_equal(p.srv.sum, pattern_sum(BIG));
	assert_int_equal(p.cli.sum, pattern_sum(BIG));
	assert_int_equal(p.srv.closed, 1);
	assert_int_equal(p.cli.closed, 1);
	assert_string_equal(p.cli.error, "");
}

/* Output queued before tls_conn_close() still arrives, then the close. */
static void test_write_before_handshake(void **state)
{
	struct pair p = { 0 };

	p.cli_early = 1;
	p.srv.close_after = 5;
	run_pair(&p, ctx_for("server", 1, NULL), ctx_for("client", 0, NULL),
		 "server", 4096);
	assert_int_equal(p.srv.received, 5);
	assert_int_equal(p.srv.sum, (uint8_t)('e' + 'a' + 'r' + 'l' + 'y'));
	assert_int_equal(p.cli.closed, 1);
}

static void test_close_flushes(void **state)
{
	struct pair p = { 0 };

	p.srv.send_on_open = BIG;
	p.srv.close_after_send = 1;
	run_pair(&p, ctx_for("server", 1, NULL), ctx_for("client", 0, NULL),
		 "server", 4096);
	assert_int_equal(p.cli.received, BIG);
	assert_int_equal(p.cli.sum, pattern_sum(BIG));
	assert_int_equal(p.cli.closed, 1);
	assert_int_equal(p.srv.closed, 1);
	assert_string_equal(p.srv.error, "");
}

static void test_untrusted_client_refused(void **state)
{
	struct pair p = { 0 };

	p.cli.send_on_open = 100;
	run_pair(&p, ctx_for("server", 1, NULL), ctx_for("rogue_client", 0, NULL),
		 "server", 4096);
	assert_int_equal(p.srv.opened, 0);
	assert_int_equal(p.srv.received, 0);
	assert_int_equal(p.srv.closed, 1);
	assert_non_null(strstr(p.srv.error, "certificate"));
	assert_non_null(strstr(p.cli.error, "alert unknown ca"));
}

static void test_no_client_cert_refused(void **state)
{
	struct pair p = { 0 };

	p.cli.send_on_open = 100;
	run_pair(&p, ctx_for("server", 1, NULL), ctx_anonymous_client(),
		 "server", 4096);
	assert_int_equal(p.srv.opened, 0);
	assert_int_equal(p.srv.received, 0);
	assert_int_equal(p.srv.closed, 1);
	assert_string_not_equal(p.srv.error, "");
	/* The client learns why: the alert was sent before the close. */
	assert_non_null(strstr(p.cli.error, "alert certificate required"));
}

static void test_untrusted_server_refused(void **state)
{
	struct pair p = { 0 };

	run_pair(&p, ctx_for("rogue_server", 1, "rogue"),
		 ctx_for("client", 0, NULL), "server", 4096);
	assert_int_equal(p.cli.opened, 0);
	assert_int_equal(p.cli.closed, 1);
	assert_non_null(strstr(p.cli.error, "certificate"));
}

static void test_wrong_server_name_refused(void **state)
{
	struct pair p = { 0 };

	run_pair(&p, ctx_for("server", 1, NULL), ctx_for("client", 0, NULL),
		 "another-server", 4096);
	assert_int_equal(p.cli.opened, 0);
	assert_int_equal(p.cli.closed, 1);
	assert_non_null(strstr(p.cli.error, "certificate"));
}

static void test_input_limit(void **state)
{
	struct pair p = { 0 };

	p.srv.never_consume = 1;
	p.cli.send_on_open = 8192;
	run_pair(&p, ctx_for("server", 1, NULL), ctx_for("client", 0, NULL),
		 "server", 1024);
	assert_int_equal(p.srv.opened, 1);
	assert_int_equal(p.srv.closed, 1);
	assert_non_null(strstr(p.srv.error, "input limit"));
}

static void test_coalesce(void **state)
{
	struct pair p = { 0 };

	p.cli.coalesce = 1;
	run_pair(&p, ctx_for("server", 1, NULL), ctx_for("client", 0, NULL),
		 "server", 64 * 1024);
	assert_false(p.timed_out);
	assert_int_equal(p.cli.received, 4);
	assert_int_equal(p.seen[0], 100);
	assert_int_equal(p.seen[1], 200);
	assert_int_equal(p.seen[2], 20200);
	assert_int_equal(p.srv.received, 20200);
	assert_int_equal(p.cli.closed, 1);
}

/* tls_ctx_new() on @key, as user @uid (in a child): its error message. */
static void ctx_error_as(uid_t uid, const char *key, char *err, size_t len)
{
	char ca[512], cert[512];
	struct tls_files f = { .ca = ca, .cert = cert, .key = key };
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/server.pem", pki);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char msg[256] = "";

		close(pipefd[0]);
		if ((uid == getuid() || setuid(uid) == 0) &&
		    !tls_ctx_new(&f, 1, msg, sizeof(msg)))
			n = write(pipefd[1], msg, strlen(msg));
		_exit(0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], err, len - 1);
	err[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);
}

/* A key file that cannot be read is named with the reason. */
static void test_unreadable_key_says_why(void **state)
{
	char key[512], err[256];

	snprintf(key, sizeof(key), "%s/nosuch.key", pki);
	ctx_error_as(getuid(), key, err, sizeof(err));
	assert_non_null(strstr(err, "nosuch.key: No such file or directory"));
	if (getuid() != 0)
		skip();		/* needs root to own a key another user can't read */
	snprintf(key, sizeof(key), "%s/server.key", pki);
	assert_int_equal(chmod(pki, 0755), 0);
	assert_int_equal(chmod(key, 0600), 0);
	ctx_error_as(65534, key, err, sizeof(err));
	assert_non_null(strstr(err, "server.key: Permission denied"));
}

/* ---- listener ----------------------------------------------------------- */

static struct {
	struct loop *loop;
	SSL_CTX *sctx;
	struct tls_listener *l;
	struct tls_listener_stats early, late;
	int srv_closed, admitted_closed, opened;
} gate;

static void gate_on_open(struct tls_conn *c, void *arg)
{
	gate.opened++;
	tls_conn_admit(c);
}

static int gate_on_data(struct tls_conn *c, void *arg)
{
	size_t len;

	tls_conn_input(c, &len);
	tls_conn_consume(c, len);
	return 0;
}

static void gate_on_close(struct tls_conn *c, void *arg)
{
	gate.srv_closed++;
}

static const struct tls_conn_ops gate_ops = {
	.on_open = gate_on_open, .on_data = gate_on_data,
	.on_close = gate_on_close,
};

static struct tls_conn *gate_accept(void *arg, int fd)
{
	return tls_conn_accept(gate.loop, gate.sctx, fd, 4096, &gate_ops, NULL);
}

static void gate_check_early(void *arg)
{
	tls_listener_stats(gate.l, &gate.early);
}

static void gate_check_late(void *arg)
{
	tls_listener_stats(gate.l, &gate.late);
	loop_stop(gate.loop);
}

/* A blocking TCP connection from @src to @port on 127.0.0.1. */
static int connect_from(const char *src, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, src, &a.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	a.sin_port = htons(port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* True if the server closed @fd (EOF or reset), waiting up to 100 ms. */
static bool closed_by_server(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char b;

	if (poll(&pfd, 1, 100) <= 0)
		return false;
	return recv(fd, &b, 1, MSG_DONTWAIT) <= 0;
}

static void on_cli_close(struct tls_conn *c, void *arg)
{
	gate.admitted_closed++;
}

static const struct tls_conn_ops cli_ops = {
	.on_close = on_cli_close,
};

/*
 * handshake 300 ms, 4 pending at most, 2 per source.  Silent connections,
 * in accept order: .1 .1 .1 .2 .3 .3, then a TLS client from .4 that is
 * admitted once open.  Expected: the third from .1 is refused; the second
 * from .3 finds 4 pending and the oldest of a source with two (the first
 * from .1) is dropped; so is the first from .3 for the client from .4,
 * which comes alone; the other three time out after 300 ms, not the
 * admitted client.
 */
static void test_listener_limits(void **state)
{
	const struct tls_listen_limits lim = {
		.handshake_ms = 300, .max_pending = 4, .max_per_source = 2,
	};
	const char *srcs[] = { "127.0.0.1", "127.0.0.1", "127.0.0.1",
			       "127.0.0.2", "127.0.0.3", "127.0.0.3" };
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int lfd, fds[ARRAY_SIZE(srcs)], cfd;
	SSL_CTX *cctx = ctx_for("client", 0, NULL);
	struct tls_conn *cli;

	memset(&gate, 0, sizeof(gate));
	gate.loop = loop_new();
	gate.sctx = ctx_for("server", 1, NULL);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	for (size_t i = 0; i < ARRAY_SIZE(srcs); i++)
		fds[i] = connect_from(srcs[i], ntohs(a.sin_port));
	cfd = connect_from("127.0.0.4", ntohs(a.sin_port));
	gate.l = tls_listener_new(gate.loop, lfd, "test", &lim, gate_accept,
				  NULL);
	assert_non_null(gate.l);
	cli = tls_conn_connect(gate.loop, cctx, cfd, "server", 4096, &cli_ops,
			       NULL);
	assert_non_null(cli);
	assert_non_null(loop_timer_add(gate.loop, 150, false,
				       gate_check_early, NULL));
	assert_non_null(loop_timer_add(gate.loop, 700, false,
				       gate_check_late, NULL));
	assert_int_equal(loop_run(gate.loop), 0);

	assert_int_equal(gate.early.accepted, 6);
	assert_int_equal(gate.early.refused_source, 1);
	assert_int_equal(gate.early.dropped, 2);
	assert_int_equal(gate.early.pending, 3);
	assert_int_equal(gate.opened, 1);	/* the TLS client, admitted */
	assert_true(closed_by_server(fds[0]));	/* dropped */
	assert_true(closed_by_server(fds[2]));	/* refused */
	assert_true(closed_by_server(fds[4]));	/* dropped */
	assert_int_equal(gate.late.timed_out, 3);
	assert_int_equal(gate.late.pending, 0);
	for (size_t i = 0; i < ARRAY_SIZE(srcs); i++) {
		assert_true(closed_by_server(fds[i]));
		close(fds[i]);
	}
	assert_int_equal(gate.admitted_closed, 0);
	/* Both ends of the admitted connection go; then free everything. */
	tls_conn_abort(cli);
	assert_non_null(loop_timer_add(gate.loop, 200, false,
				       gate_check_late, NULL));
	assert_int_equal(loop_run(gate.loop), 0);
	assert_int_equal(gate.srv_closed, 6);
	tls_listener_free(gate.l);
	loop_free(gate.loop);
	SSL_CTX_free(gate.sctx);
	SSL_CTX_free(cctx);
}

static int make_pki(void **state)
{
	struct fixture_ca ca, rogue;
	int ret;

	pki = fixture_mkdtemp();
	if (!pki)
		return -1;
	ret = fixture_ca_new(&ca, pki, "ca") | fixture_ca_new(&rogue, pki, "rogue");
	ret |= fixture_leaf(&ca, pki, "server", "server");
	ret |= fixture_leaf(&ca, pki, "client", "client");
	ret |= fixture_leaf(&rogue, pki, "rogue_client", "client");
	ret |= fixture_leaf(&rogue, pki, "rogue_server", "server");
	fixture_ca_free(&ca);
	fixture_ca_free(&rogue);
	return ret ? -1 : 0;
}

/*
 * Runs last: from here on the process has a secure heap, as qkdkmd does.
 * Output waiting in the queue (ETSI 014 answers: key bytes) is in it, and
 * the queue gives it back once sent.
 */
static void test_output_locked(void **state)
{
	struct pair p = { 0 };
	size_t base;

	if (!CRYPTO_secure_malloc_initialized() &&
	    !CRYPTO_secure_malloc_init(1 << 20, 16))
		skip();
	base = CRYPTO_secure_used();
	p.srv.send_on_open = 3000;
	p.srv.check_locked = 1;
	p.cli.close_after = 3000;
	run_pair(&p, ctx_for("server", 1, NULL), ctx_for("client", 0, NULL),
		 "server", 64 * 1024);
	assert_int_equal(p.cli.received, 3000);
	assert_true(p.srv.locked_growth >= 3000);
	assert_int_equal(CRYPTO_secure_used(), base);
}

static int remove_pki(void **state)
{
	fixture_rmdir(pki);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_and_data),
		cmocka_unit_test(test_write_before_handshake),
		cmocka_unit_test(test_close_flushes),
		cmocka_unit_test(test_untrusted_client_refused),
		cmocka_unit_test(test_no_client_cert_refused),
		cmocka_unit_test(test_untrusted_server_refused),
		cmocka_unit_test(test_wrong_server_name_refused),
		cmocka_unit_test(test_input_limit),
		cmocka_unit_test(test_coalesce),
		cmocka_unit_test(test_unreadable_key_says_why),
		cmocka_unit_test(test_listener_limits),
		cmocka_unit_test(test_output_locked),
	};

	return cmocka_run_group_tests_name("tls", tests, make_pki, remove_pki);
}
