// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the io_uring event loop: pipes, timers, deletion from
 * callbacks, and a throughput figure.
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
#include <cmocka.h>

#include "loop.h"

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
};

static void on_tick(void *arg)
{
	struct timer_ctx *c = arg;

	if (!c->calls)
		c->first_ms = loop_now_ms();
	c->last_ms = loop_now_ms();
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
		cmocka_unit_test(test_timer_cancel),
		cmocka_unit_test(test_free_while_armed),
		cmocka_unit_test(test_tasks),
		cmocka_unit_test(test_task_from_callback),
		cmocka_unit_test(test_throughput),
	};

	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
