// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the io_uring event loop: pipes, timers, socket I/O,
 * deletion from callbacks, and a throughput figure.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "core/loop.h"

struct pipe_ctx {
	struct loop *loop;
	struct loop_watch *w;
	struct loop_watch *other;	/* deleted by this one's callback */
	int fds[2];
	int calls;
	int bytes;
	uint32_t last_revents;
	int stop_after;
	bool delete_self;
};

static void make_pipe(struct pipe_ctx *p)
{
	assert_int_equal(pipe2(p->fds, O_NONBLOCK | O_CLOEXEC), 0);
}

static void close_pipe(struct pipe_ctx *p)
{
	close(p->fds[0]);
	close(p->fds[1]);
}

static void on_readable(void *arg, uint32_t revents)
{
	struct pipe_ctx *p = arg;
	char buf[256];
	ssize_t n;

	p->calls++;
	p->last_revents = revents;
	while ((n = read(p->fds[0], buf, sizeof(buf))) > 0)
		p->bytes += (int)n;
	if (p->other) {
		loop_watch_del(p->other);
		p->other = NULL;
	}
	if (p->delete_self) {
		loop_watch_del(p->w);
		p->w = NULL;
	}
	if (p->stop_after && p->calls >= p->stop_after)
		loop_stop(p->loop);
}

static void on_stop_timer(void *arg)
{
	loop_stop(arg);
}

/* Run @loop until a loop_stop() or @ms have passed. */
static void run_for(struct loop *loop, uint64_t ms)
{
	struct loop_timer *guard = loop_timer_add(loop, ms, false,
						  on_stop_timer, loop);

	assert_non_null(guard);
	assert_int_equal(loop_run(loop), 0);
	loop_timer_del(guard);
}

static void test_pipe_read(void **state)
{
	struct loop *loop = loop_new();
	struct pipe_ctx p = { .loop = loop, .stop_after = 1 };

	assert_non_null(loop);
	make_pipe(&p);
	p.w = loop_watch_add(loop, p.fds[0], POLLIN, on_readable, &p);
	assert_non_null(p.w);
	assert_int_equal(write(p.fds[1], "hello", 5), 5);
	run_for(loop, 2000);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.bytes, 5);
	assert_true(p.last_revents & POLLIN);

	/* Multishot: a second write is seen without re-adding the watch. */
	p.stop_after = 2;
	assert_int_equal(write(p.fds[1], "again", 5), 5);
	run_for(loop, 2000);
	assert_int_equal(p.calls, 2);
	assert_int_equal(p.bytes, 10);

	loop_watch_del(p.w);
	close_pipe(&p);
	loop_free(loop);
}

static void on_writable(void *arg, uint32_t revents)
{
	struct pipe_ctx *p = arg;

	p->calls++;
	p->last_revents = revents;
	if (revents & POLLOUT) {
		/* Done writing: stop asking for POLLOUT. */
		assert_int_equal(loop_watch_set(p->w, 0), 0);
		loop_stop(p->loop);
	}
}

static void test_watch_set(void **state)
{
	struct loop *loop = loop_new();
	struct pipe_ctx p = { .loop = loop };

	make_pipe(&p);
	p.w = loop_watch_add(loop, p.fds[1], 0, on_writable, &p);
	assert_non_null(p.w);
	run_for(loop, 100);
	assert_int_equal(p.calls, 0);	/* no events asked for, none came */

	assert_int_equal(loop_watch_set(p.w, POLLOUT), 0);
	run_for(loop, 2000);
	assert_int_equal(p.calls, 1);
	assert_true(p.last_revents & POLLOUT);

	/* POLLOUT was dropped in the callback: no more calls. */
	run_for(loop, 100);
	assert_int_equal(p.calls, 1);

	loop_watch_del(p.w);
	close_pipe(&p);
	loop_free(loop);
}

/* Two ready fds; whichever callback runs first deletes the other. */
static void test_delete_other_in_callback(void **state)
{
	struct loop *loop = loop_new();
	struct pipe_ctx a = { .loop = loop }, b = { .loop = loop };

	make_pipe(&a);
	make_pipe(&b);
	a.w = loop_watch_add(loop, a.fds[0], POLLIN, on_readable, &a);
	b.w = loop_watch_add(loop, b.fds[0], POLLIN, on_readable, &b);
	a.other = b.w;
	b.other = a.w;
	assert_int_equal(write(a.fds[1], "x", 1), 1);
	assert_int_equal(write(b.fds[1], "y", 1), 1);
	run_for(loop, 200);
	/* Exactly one ran; the deleted one was never called. */
	assert_int_equal(a.calls + b.calls, 1);
	if (a.calls)
		loop_watch_del(a.w);
	else
		loop_watch_del(b.w);
	/* Closing right after deletion is allowed (the usual pattern). */
	close_pipe(&a);
	close_pipe(&b);
	run_for(loop, 50);
	loop_free(loop);
}

static void test_delete_self_in_callback(void **state)
{
	struct loop *loop = loop_new();
	struct pipe_ctx p = { .loop = loop, .delete_self = true };

	make_pipe(&p);
	p.w = loop_watch_add(loop, p.fds[0], POLLIN, on_readable, &p);
	assert_int_equal(write(p.fds[1], "x", 1), 1);
	run_for(loop, 100);
	assert_int_equal(p.calls, 1);
	assert_null(p.w);
	assert_int_equal(write(p.fds[1], "y", 1), 1);
	run_for(loop, 100);
	assert_int_equal(p.calls, 1);	/* deleted: never called again */
	close_pipe(&p);
	loop_free(loop);
}

static void test_hangup(void **state)
{
	struct loop *loop = loop_new();
	struct pipe_ctx p = { .loop = loop, .stop_after = 1 };

	make_pipe(&p);
	p.w = loop_watch_add(loop, p.fds[0], POLLIN, on_readable, &p);
	close(p.fds[1]);
	run_for(loop, 2000);
	assert_int_equal(p.calls, 1);
	assert_true(p.last_revents & POLLHUP);
	loop_watch_del(p.w);
	close(p.fds[0]);
	loop_free(loop);
}

struct timer_ctx {
	struct loop *loop;
	struct loop_timer *t;
	struct loop_timer *victim;
	int calls;
	int delete_at;
	uint64_t first_ms;
	uint64_t last_ms;
	uint64_t first_ns;
	uint64_t last_ns;
};

static void on_tick(void *arg)
{
	struct timer_ctx *c = arg;

	if (!c->calls) {
		c->first_ms = loop_now_ms();
		c->first_ns = loop_now_ns();
	}
	c->last_ms = loop_now_ms();
	c->last_ns = loop_now_ns();
	c->calls++;
	if (c->victim) {
		loop_timer_del(c->victim);
		c->victim = NULL;
	}
	if (c->delete_at && c->calls == c->delete_at) {
		loop_timer_del(c->t);
		c->t = NULL;
	}
}

static void test_timer_oneshot(void **state)
{
	struct loop *loop = loop_new();
	struct timer_ctx c = { .loop = loop };
	uint64_t start = loop_now_ms();

	c.t = loop_timer_add(loop, 30, false, on_tick, &c);
	assert_non_null(c.t);
	run_for(loop, 200);
	assert_int_equal(c.calls, 1);
	assert_true(c.first_ms - start >= 30);
	assert_true(c.first_ms - start < 150);
	loop_timer_del(c.t);	/* after it fired: still safe */
	loop_free(loop);
}

static void test_timer_repeat_and_self_delete(void **state)
{
	struct loop *loop = loop_new();
	struct timer_ctx c = { .loop = loop, .delete_at = 5 };

	c.t = loop_timer_add(loop, 10, true, on_tick, &c);
	run_for(loop, 300);
	assert_int_equal(c.calls, 5);
	assert_null(c.t);
	/* Five ticks of 10 ms: about 40 ms from first to last. */
	assert_true(c.last_ms - c.first_ms >= 35);
	loop_free(loop);
}

/*
 * Sub-millisecond timers keep their nanoseconds: neither fires early, as
 * one rounded down to whole milliseconds would (to 0 here).
 */
static void test_timer_ns(void **state)
{
	struct loop *loop = loop_new();
	struct timer_ctx once = { .loop = loop };
	struct timer_ctx rep = { .loop = loop, .delete_at = 8 };
	uint64_t start = loop_now_ns();

	once.t = loop_timer_add_ns(loop, 700000, false, on_tick, &once);
	rep.t = loop_timer_add_ns(loop, 250000, true, on_tick, &rep);
	assert_non_null(once.t);
	assert_non_null(rep.t);
	run_for(loop, 100);
	assert_int_equal(once.calls, 1);
	assert_true(once.first_ns - start >= 700000);
	assert_int_equal(rep.calls, 8);
	assert_true(rep.first_ns - start >= 250000);
	/* The eighth tick's deadline is eight periods after the start. */
	assert_true(rep.last_ns - start >= 8 * 250000);
	loop_timer_del(once.t);
	loop_free(loop);
}

static void test_timer_cancel(void **state)
{
	struct loop *loop = loop_new();
	struct timer_ctx killer = { .loop = loop }, victim = { .loop = loop };

	victim.t = loop_timer_add(loop, 50, false, on_tick, &victim);
	killer.victim = victim.t;
	killer.t = loop_timer_add(loop, 10, false, on_tick, &killer);
	run_for(loop, 150);
	assert_int_equal(killer.calls, 1);
	assert_int_equal(victim.calls, 0);
	loop_timer_del(killer.t);

	/* Cancel from outside a callback, before it fires. */
	victim.t = loop_timer_add(loop, 20, true, on_tick, &victim);
	loop_timer_del(victim.t);
	run_for(loop, 100);
	assert_int_equal(victim.calls, 0);
	loop_free(loop);
}

struct task_ctx {
	struct loop *loop;
	struct loop_task task, *chain, *victim;
	char *log;		/* each run appends its tag */
	char tag;
	int runs;
	int fd;			/* drained by on_readable_queue() */
};

static void on_task(void *arg)
{
	struct task_ctx *t = arg;
	size_t n = strlen(t->log);

	t->log[n] = t->tag;
	t->log[n + 1] = '\0';
	t->runs++;
	if (t->chain)			/* queued from a task: same pass */
		loop_task_queue(t->loop, t->chain);
	if (t->victim)
		loop_task_cancel(t->loop, t->victim);
}

/* Queued from a watch callback: runs once that batch is handled. */
static void on_readable_queue(void *arg, uint32_t revents)
{
	struct task_ctx *t = arg;
	char buf[16];

	(void)revents;
	while (read(t->fd, buf, sizeof(buf)) > 0)
		;
	loop_task_queue(t->loop, &t->task);
}

static void test_tasks(void **state)
{
	struct loop *loop = loop_new();
	char log[16] = "";
	struct task_ctx a = { .loop = loop, .log = log, .tag = 'a' },
			b = { .loop = loop, .log = log, .tag = 'b' },
			c = { .loop = loop, .log = log, .tag = 'c' },
			d = { .loop = loop, .log = log, .tag = 'd' };

	loop_task_init(&a.task, on_task, &a);
	loop_task_init(&b.task, on_task, &b);
	loop_task_init(&c.task, on_task, &c);
	loop_task_init(&d.task, on_task, &d);
	a.chain = &c.task;		/* a queues c */
	b.victim = &d.task;		/* b cancels d, queued after it */
	loop_task_queue(loop, &a.task);
	loop_task_queue(loop, &b.task);
	loop_task_queue(loop, &a.task);	/* already queued: no-op */
	loop_task_queue(loop, &d.task);
	run_for(loop, 50);
	assert_string_equal(log, "abc");
	assert_int_equal(d.runs, 0);

	/* Cancelled before the loop runs: never called. */
	loop_task_queue(loop, &d.task);
	loop_task_cancel(loop, &d.task);
	loop_task_cancel(loop, &d.task);	/* twice: harmless */
	run_for(loop, 20);
	assert_int_equal(d.runs, 0);
	assert_string_equal(log, "abc");
	loop_free(loop);
	(void)state;
}

/*
 * loop_poll() never waits: with nothing ready it returns 0; it runs queued
 * tasks, and once the pipe has data a later pass delivers it.
 */
static void test_poll(void **state)
{
	struct pipe_ctx p = { 0 };
	char log[8] = "";
	struct task_ctx t = { .log = log, .tag = 't' };
	int i, n = 0;

	p.loop = t.loop = loop_new();
	assert_non_null(p.loop);
	make_pipe(&p);
	p.w = loop_watch_add(p.loop, p.fds[0], POLLIN, on_readable, &p);
	assert_non_null(p.w);
	loop_task_init(&t.task, on_task, &t);
	loop_task_queue(p.loop, &t.task);
	assert_int_equal(loop_poll(p.loop), 0);	/* arms the watch */
	assert_string_equal(log, "t");
	assert_int_equal(loop_poll(p.loop), 0);
	assert_int_equal(p.calls, 0);

	assert_int_equal(write(p.fds[1], "abc", 3), 3);
	for (i = 0; i < 1000 && !p.calls; i++) {
		n = loop_poll(p.loop);
		assert_true(n >= 0);
	}
	assert_int_equal(n, 1);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.bytes, 3);
	assert_int_equal(loop_poll(p.loop), 0);

	loop_watch_del(p.w);
	loop_free(p.loop);
	close_pipe(&p);
	(void)state;
}

static void test_task_from_callback(void **state)
{
	struct loop *loop = loop_new();
	char log[8] = "";
	struct task_ctx t = { .loop = loop, .log = log, .tag = 'x' };
	struct loop_watch *w;
	int fds[2];

	assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	loop_task_init(&t.task, on_task, &t);
	t.fd = fds[0];
	w = loop_watch_add(loop, fds[0], POLLIN, on_readable_queue, &t);
	assert_non_null(w);
	assert_int_equal(write(fds[1], "x", 1), 1);
	run_for(loop, 100);
	assert_string_equal(log, "x");
	loop_watch_del(w);
	close(fds[0]);
	close(fds[1]);
	loop_free(loop);
	(void)state;
}

/* loop_free() with watches and timers still armed frees everything. */
static void test_free_while_armed(void **state)
{
	struct loop *loop = loop_new();
	struct pipe_ctx p = { .loop = loop };
	struct timer_ctx c = { .loop = loop };

	make_pipe(&p);
	p.w = loop_watch_add(loop, p.fds[0], POLLIN, on_readable, &p);
	c.t = loop_timer_add(loop, 100000, true, on_tick, &c);
	assert_non_null(p.w);
	assert_non_null(c.t);
	loop_free(loop);
	close_pipe(&p);
}

/* ---- loop_io ---- */

struct stream_ctx {
	struct loop *loop;
	struct loop_io *rx, *tx;
	size_t received;	/* bytes, each checked against the pattern */
	bool eof;
	int sent;		/* send completions */
	int last_send_res;
	bool bad_byte;
};

static void stream_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
				    sv), 0);
}

static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 8));
}

static void on_stream_recv(void *arg, int res)
{
	struct stream_ctx *s = arg;
	size_t cap;
	const uint8_t *buf = loop_io_buf(s->rx, &cap);

	assert_true(res >= 0 && (size_t)res <= cap);
	if (!res) {
		s->eof = true;
		loop_stop(s->loop);
		return;
	}
	for (int i = 0; i < res; i++)
		if (buf[i] != pattern_byte(s->received + i))
			s->bad_byte = true;
	s->received += (size_t)res;
	assert_int_equal(loop_io_recv(s->rx), 0);
}

static void on_stream_sent(void *arg, int res)
{
	struct stream_ctx *s = arg;

	s->sent++;
	s->last_send_res = res;
	if (res < 0)
		loop_stop(s->loop);
}

/*
 * A send larger than the socket buffer arrives whole and in order through
 * a small recv buffer (short sends are continued inside the loop), and a
 * closed peer reads as end of stream.
 */
static void test_io_stream(void **state)
{
	struct loop *loop = loop_new();
	struct stream_ctx s = { .loop = loop };
	const size_t len = 1 << 20;
	int sv[2], small = 4096;
	size_t cap;
	uint8_t *buf;

	stream_pair(sv);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small,
				    sizeof(small)), 0);
	s.tx = loop_io_new(loop, sv[0], len, on_stream_sent, &s);
	s.rx = loop_io_new(loop, sv[1], 1000, on_stream_recv, &s);
	assert_non_null(s.tx);
	assert_non_null(s.rx);
	buf = loop_io_buf(s.tx, &cap);
	assert_int_equal(cap, len);
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern_byte(i);
	assert_int_equal(loop_io_send(s.tx, len), 0);
	assert_true(loop_io_busy(s.tx));
	assert_int_equal(loop_io_send(s.tx, 1), -EINVAL);	/* one at a time */
	assert_int_equal(loop_io_recv(s.rx), 0);
	run_for(loop, 5000);
	assert_int_equal(s.sent, 1);
	assert_int_equal(s.last_send_res, (int)len);
	assert_int_equal(s.received, len);
	assert_false(s.bad_byte);
	assert_false(s.eof);

	close(sv[0]);
	loop_io_del(s.tx);
	run_for(loop, 5000);
	assert_true(s.eof);
	loop_io_del(s.rx);
	close(sv[1]);
	loop_free(loop);
}

/* A send to a closed peer fails with -EPIPE, without killing us by SIGPIPE. */
static void test_io_send_to_closed(void **state)
{
	struct loop *loop = loop_new();
	struct stream_ctx s = { .loop = loop };
	int sv[2];
	size_t cap;

	stream_pair(sv);
	close(sv[1]);
	s.tx = loop_io_new(loop, sv[0], 64, on_stream_sent, &s);
	assert_non_null(s.tx);
	memset(loop_io_buf(s.tx, &cap), 'x', 64);
	assert_int_equal(loop_io_send(s.tx, 64), 0);
	run_for(loop, 5000);
	assert_int_equal(s.sent, 1);
	assert_int_equal(s.last_send_res, -EPIPE);
	loop_io_del(s.tx);
	close(sv[0]);
	loop_free(loop);
}

/*
 * Deleting an io whose recv is in flight cancels it: no callback, and the
 * io (and its buffer, which the kernel held) is freed once the cancel
 * completed -- ASan reports a leak or a use after free otherwise, even
 * when the socket gets data after the delete.
 */
static void test_io_del_in_flight(void **state)
{
	struct loop *loop = loop_new();
	struct stream_ctx s = { .loop = loop };
	int sv[2];

	stream_pair(sv);
	s.rx = loop_io_new(loop, sv[1], 64, on_stream_recv, &s);
	assert_non_null(s.rx);
	assert_int_equal(loop_io_recv(s.rx), 0);
	run_for(loop, 20);	/* the recv is now waiting in the kernel */
	loop_io_del(s.rx);
	assert_int_equal(write(sv[0], "late", 4), 4);
	run_for(loop, 50);
	assert_int_equal(s.received, 0);
	assert_false(s.eof);

	/* And loop_free() with a recv still in flight. */
	s.rx = loop_io_new(loop, sv[1], 64, on_stream_recv, &s);
	assert_non_null(s.rx);
	assert_int_equal(loop_io_recv(s.rx), 0);
	run_for(loop, 20);
	loop_free(loop);
	close(sv[0]);
	close(sv[1]);
}

/*
 * Throughput: a ping-pong over two pipes, each event a read and a write.
 * Prints the rate as a TAP diagnostic; the assertion is a generous floor
 * (sanitizers slow this build several times over).
 */
struct pingpong {
	struct loop *loop;
	int in_fd, out_fd;
	long *count;
	long limit;
};

static void on_ping(void *arg, uint32_t revents)
{
	struct pingpong *pp = arg;
	char c;

	while (read(pp->in_fd, &c, 1) == 1) {
		if (++*pp->count >= pp->limit) {
			loop_stop(pp->loop);
			return;
		}
		if (write(pp->out_fd, &c, 1) != 1)
			fail();
	}
}

static void test_throughput(void **state)
{
	struct loop *loop = loop_new();
	int ab[2], ba[2];
	long count = 0;
	struct pingpong a, b;
	struct loop_watch *wa, *wb;
	uint64_t t0, ms;
	double rate;

	assert_int_equal(pipe2(ab, O_NONBLOCK), 0);
	assert_int_equal(pipe2(ba, O_NONBLOCK), 0);
	a = (struct pingpong){ loop, ba[0], ab[1], &count, 200000 };
	b = (struct pingpong){ loop, ab[0], ba[1], &count, 200000 };
	wa = loop_watch_add(loop, a.in_fd, POLLIN, on_ping, &a);
	wb = loop_watch_add(loop, b.in_fd, POLLIN, on_ping, &b);
	t0 = loop_now_ms();
	assert_int_equal(write(ab[1], "p", 1), 1);
	run_for(loop, 10000);
	ms = loop_now_ms() - t0;
	rate = ms ? count * 1000.0 / ms : count * 1000.0;
	printf("# loop throughput: %ld events in %llu ms = %.0f events/s\n",
	       count, (unsigned long long)ms, rate);
	assert_true(rate > 10000);
	loop_watch_del(wa);
	loop_watch_del(wb);
	close(ab[0]);
	close(ab[1]);
	close(ba[0]);
	close(ba[1]);
	loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipe_read),
		cmocka_unit_test(test_watch_set),
		cmocka_unit_test(test_delete_other_in_callback),
		cmocka_unit_test(test_delete_self_in_callback),
		cmocka_unit_test(test_hangup),
		cmocka_unit_test(test_timer_oneshot),
		cmocka_unit_test(test_timer_repeat_and_self_delete),
		cmocka_unit_test(test_timer_ns),
		cmocka_unit_test(test_timer_cancel),
		cmocka_unit_test(test_free_while_armed),
		cmocka_unit_test(test_tasks),
		cmocka_unit_test(test_task_from_callback),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_io_stream),
		cmocka_unit_test(test_io_send_to_closed),
		cmocka_unit_test(test_io_del_in_flight),
		cmocka_unit_test(test_throughput),
	};

	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
