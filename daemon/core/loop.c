// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's event loop on io_uring.  See loop.h for the API.
 *
 * Every watch, timer and io is a struct loop_item whose address is the
 * user_data of the one io_uring request it has in flight (a multishot
 * POLL_ADD, a TIMEOUT, a RECV or SEND).  Control requests (poll update,
 * cancel) carry user_data 0 and their completions are ignored: the item
 * learns what happened from its own request's completion.
 *
 * Lifetime rule: an item may be freed only once no request of its own is in
 * flight ("armed" is false), because a completion that arrives later would
 * otherwise point at freed memory.  Deleting an armed item therefore only
 * marks it and asks the kernel to cancel; the final completion (one without
 * IORING_CQE_F_MORE, or the timeout's) frees it.  Deleting a disarmed item
 * (e.g. from its own callback) puts it on a zombie list that is freed after
 * the current batch of completions, so the code that called the callback
 * never touches freed memory.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <liburing.h>

#include "core/loop.h"

#define LOOP_SQ_ENTRIES	256
#define LOOP_CQ_ENTRIES	4096

#define NS_PER_MS	1000000ULL
#define NS_PER_SEC	1000000000ULL

enum loop_item_kind { ITEM_WATCH, ITEM_TIMER, ITEM_IO };

struct loop_item {
	struct loop *loop;
	enum loop_item_kind kind;
	bool armed;		/* its own request is in flight */
	bool deleted;		/* loop_*_del() was called */
	bool zombie;		/* on loop->zombies, freed after this batch */
	struct loop_item *prev, *next;	/* loop->items, or loop->zombies */
	void *arg;
};

struct loop_watch {
	struct loop_item item;	/* first: user_data points here */
	int fd;
	uint32_t events;
	loop_fd_fn fn;
};

struct loop_timer {
	struct loop_item item;	/* first: user_data points here */
	uint64_t period_ns;
	bool repeat;
	uint64_t deadline_ns;	/* CLOCK_MONOTONIC */
	struct __kernel_timespec ts;	/* read by the kernel at submit time */
	loop_timer_fn fn;
};

struct loop_io {
	struct loop_item item;	/* first: user_data points here */
	int fd;
	bool sending;		/* the request in flight is a send */
	size_t len;		/* bytes to send */
	size_t sent;		/* of them, sent so far */
	size_t cap;
	loop_io_fn fn;
	uint8_t buf[];		/* freed with the item: the kernel may use it */
};

struct loop {
	struct io_uring ring;
	bool stopping;
	struct loop_item *items;	/* live items, for loop_free() */
	struct loop_item *zombies;	/* deleted, nothing in flight */
	TAILQ_HEAD(, loop_task) tasks;	/* queued, in order */
};

uint64_t loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t loop_now_ms(void)
{
	return loop_now_ns() / NS_PER_MS;
}

static void list_add(struct loop_item **head, struct loop_item *it)
{
	it->prev = NULL;
	it->next = *head;
	if (*head)
		(*head)->prev = it;
	*head = it;
}

static void list_del(struct loop_item **head, struct loop_item *it)
{
	if (it->prev)
		it->prev->next = it->next;
	else
		*head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	it->prev = it->next = NULL;
}

/*
 * An SQE, flushing the submission queue to the kernel if it is full.
 * io_uring_submit() only fails on a broken ring; then NULL is returned and
 * the caller reports the error.
 */
static struct io_uring_sqe *get_sqe(struct loop *loop)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

	if (!sqe) {
		if (io_uring_submit(&loop->ring) < 0)
			return NULL;
		sqe = io_uring_get_sqe(&loop->ring);
	}
	return sqe;
}

/* A deleted item with nothing in flight: free it after this batch. */
static void maybe_bury(struct loop_item *it)
{
	if (!it->deleted || it->armed || it->zombie)
		return;
	list_del(&it->loop->items, it);
	list_add(&it->loop->zombies, it);
	it->zombie = true;
}

/*
 * Mark @it deleted.  If its request is in flight, ask the kernel to cancel
 * it (an async cancel by user_data finds polls, timeouts and socket I/O
 * alike); the item is freed on that request's last completion, or after
 * this batch when nothing is in flight.  Without an SQE the request ends
 * by itself: a timeout expires, a poll or an io ends with its socket,
 * which the owner is about to close.
 */
static void item_del(struct loop_item *it)
{
	struct io_uring_sqe *sqe;

	if (it->deleted)
		return;
	it->deleted = true;
	if (it->armed) {
		sqe = get_sqe(it->loop);
		if (sqe) {
			io_uring_prep_cancel64(sqe, (uintptr_t)it, 0);
			io_uring_sqe_set_data(sqe, NULL);
		}
	}
	maybe_bury(it);
}

static void free_zombies(struct loop *loop)
{
	while (loop->zombies) {
		struct loop_item *it = loop->zombies;

		list_del(&loop->zombies, it);
		free(it);
	}
}

/*
 * How the kernel runs the work that completes a request (a socket recv
 * whose data arrived in another CPU's softirq, say).  By default it queues
 * that work to this thread and interrupts it with an IPI wherever it is;
 * under load that is an IPI per packet, dear in a VM:
 * measured on the ETSI 014 bench, 1.7 times the server CPU per request.
 * DEFER_TASKRUN (6.1) runs the work only when this thread waits for
 * completions, which the loop does once per pass; it needs SINGLE_ISSUER,
 * which holds: one thread owns the loop.  Older kernels refuse the flags
 * and get the default.
 */
static int ring_init(struct io_uring *ring, unsigned int flags)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_CQSIZE | flags,
		.cq_entries = LOOP_CQ_ENTRIES,
	};

	return io_uring_queue_init_params(LOOP_SQ_ENTRIES, ring, &p);
}

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	int ret;

	if (!loop)
		return NULL;
	TAILQ_INIT(&loop->tasks);
	ret = ring_init(&loop->ring, IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_SINGLE_ISSUER);
	if (ret == -EINVAL)
		ret = ring_init(&loop->ring, 0);
	if (ret < 0) {
		free(loop);
		errno = -ret;
		return NULL;
	}
	return loop;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	/* Tearing the ring down cancels every request still in flight. */
	io_uring_queue_exit(&loop->ring);
	while (loop->items) {
		struct loop_item *it = loop->items;

		list_del(&loop->items, it);
		free(it);
	}
	free_zombies(loop);
	free(loop);
}

/* ---- fd watches -------------------------------------------------------- */

static int watch_arm(struct loop_watch *w)
{
	struct io_uring_sqe *sqe = get_sqe(w->item.loop);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_multishot(sqe, w->fd, w->events);
	io_uring_sqe_set_data(sqe, &w->item);
	w->item.armed = true;
	return 0;
}

struct loop_watch *loop_watch_add(struct loop *loop, int fd, uint32_t events,
				  loop_fd_fn fn, void *arg)
{
	struct loop_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->item.loop = loop;
	w->item.kind = ITEM_WATCH;
	w->item.arg = arg;
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	if (watch_arm(w) < 0) {
		free(w);
		errno = EBUSY;
		return NULL;
	}
	list_add(&loop->items, &w->item);
	return w;
}

int loop_watch_set(struct loop_watch *w, uint32_t events)
{
	struct io_uring_sqe *sqe;

	if (w->item.deleted)
		return -EINVAL;
	if (w->events == events)
		return 0;
	w->events = events;
	/*
	 * Not armed: the completion that disarmed it is being handled right
	 * now and re-arms with the new events.
	 */
	if (!w->item.armed)
		return 0;
	sqe = get_sqe(w->item.loop);
	if (!sqe)
		return -EBUSY;
	/*
	 * Update in place.  If the poll ended meanwhile (its last completion
	 * is already queued), the update fails with -ENOENT and the re-arm on
	 * that last completion picks up w->events instead.
	 */
	/* new_user_data must be 0 when it is not being updated. */
	io_uring_prep_poll_update(sqe, (uintptr_t)&w->item, 0, events,
				  IORING_POLL_UPDATE_EVENTS |
				  IORING_POLL_ADD_MULTI);
	io_uring_sqe_set_data(sqe, NULL);
	return 0;
}

void loop_watch_del(struct loop_watch *w)
{
	if (w)
		item_del(&w->item);
}

static void watch_complete(struct loop_watch *w, const struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (!more)
		w->item.armed = false;
	if (w->item.deleted)
		return;
	if (cqe->res >= 0) {
		w->fn(w->item.arg, (uint32_t)cqe->res);
	} else if (cqe->res != -ECANCELED) {
		/*
		 * The poll could not be set up (bad fd...).  Tell the owner
		 * once; re-arming would only fail again.  loop_watch_set()
		 * does not re-arm either: the owner should delete the watch.
		 */
		w->fn(w->item.arg, POLLERR | POLLNVAL);
		return;
	}
	/* The kernel ends a multishot poll now and then (or on update). */
	if (!w->item.armed && !w->item.deleted)
		watch_arm(w);
}

/* ---- timers ------------------------------------------------------------ */

static int timer_arm(struct loop_timer *t)
{
	struct io_uring_sqe *sqe = get_sqe(t->item.loop);

	if (!sqe)
		return -EBUSY;
	t->ts.tv_sec = (long long)(t->deadline_ns / NS_PER_SEC);
	t->ts.tv_nsec = (long long)(t->deadline_ns % NS_PER_SEC);
	/* Absolute deadlines, so that a repeating timer does not drift. */
	io_uring_prep_timeout(sqe, &t->ts, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data(sqe, &t->item);
	t->item.armed = true;
	/*
	 * The kernel reads t->ts when the SQE is submitted, which is always
	 * before t could be freed (freeing needs this request's completion).
	 */
	return 0;
}

struct loop_timer *loop_timer_add_ns(struct loop *loop, uint64_t ns,
				     bool repeat, loop_timer_fn fn, void *arg)
{
	struct loop_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (repeat && ns == 0)
		ns = NS_PER_MS;	/* a zero period would spin */
	t->item.loop = loop;
	t->item.kind = ITEM_TIMER;
	t->item.arg = arg;
	t->period_ns = ns;
	t->repeat = repeat;
	t->deadline_ns = loop_now_ns() + ns;
	t->fn = fn;
	if (timer_arm(t) < 0) {
		free(t);
		errno = EBUSY;
		return NULL;
	}
	list_add(&loop->items, &t->item);
	return t;
}

struct loop_timer *loop_timer_add(struct loop *loop, uint64_t ms, bool repeat,
				  loop_timer_fn fn, void *arg)
{
	return loop_timer_add_ns(loop, ms * NS_PER_MS, repeat, fn, arg);
}

void loop_timer_del(struct loop_timer *t)
{
	if (t)
		item_del(&t->item);
}

static void timer_complete(struct loop_timer *t, const struct io_uring_cqe *cqe)
{
	uint64_t now;

	t->item.armed = false;
	if (t->item.deleted || cqe->res != -ETIME)
		return;
	if (t->repeat) {
		/* Re-arm before the call, which may delete the timer. */
		now = loop_now_ns();
		t->deadline_ns += t->period_ns;
		if (t->deadline_ns <= now)	/* we fell behind: skip ticks */
			t->deadline_ns = now + t->period_ns;
		timer_arm(t);
	}
	t->fn(t->item.arg);
}

/* ---- socket I/O -------------------------------------------------------- */

struct loop_io *loop_io_new(struct loop *loop, int fd, size_t cap,
			    loop_io_fn fn, void *arg)
{
	struct loop_io *io;

	if (!cap || cap > INT_MAX) {
		errno = EINVAL;
		return NULL;
	}
	io = calloc(1, sizeof(*io) + cap);
	if (!io)
		return NULL;
	io->item.loop = loop;
	io->item.kind = ITEM_IO;
	io->item.arg = arg;
	io->fd = fd;
	io->cap = cap;
	io->fn = fn;
	list_add(&loop->items, &io->item);
	return io;
}

uint8_t *loop_io_buf(struct loop_io *io, size_t *cap)
{
	*cap = io->cap;
	return io->buf;
}

bool loop_io_busy(const struct loop_io *io)
{
	return io->item.armed;
}

/* io_uring sends with MSG_NOSIGNAL: a closed peer is -EPIPE, never SIGPIPE. */
static int io_submit(struct loop_io *io)
{
	struct io_uring_sqe *sqe;

	if (io->item.deleted)
		return -EINVAL;
	sqe = get_sqe(io->item.loop);
	if (!sqe)
		return -EBUSY;
	if (io->sending)
		io_uring_prep_send(sqe, io->fd, io->buf + io->sent,
				   io->len - io->sent, 0);
	else
		io_uring_prep_recv(sqe, io->fd, io->buf, io->cap, 0);
	io_uring_sqe_set_data(sqe, &io->item);
	io->item.armed = true;
	return 0;
}

int loop_io_recv(struct loop_io *io)
{
	if (io->item.armed)
		return -EINVAL;
	io->sending = false;
	return io_submit(io);
}

int loop_io_send(struct loop_io *io, size_t len)
{
	if (io->item.armed || !len || len > io->cap)
		return -EINVAL;
	io->sending = true;
	io->len = len;
	io->sent = 0;
	return io_submit(io);
}

void loop_io_del(struct loop_io *io)
{
	if (io)
		item_del(&io->item);
}

static void io_complete(struct loop_io *io, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	io->item.armed = false;
	if (io->item.deleted)
		return;
	if (io->sending && res > 0) {
		io->sent += (size_t)res;
		if (io->sent < io->len) {
			res = io_submit(io);	/* a short send: go on */
			if (!res)
				return;
		} else {
			res = (int)io->len;
		}
	} else if (io->sending && res == 0) {
		res = -EPIPE;	/* a stream socket that took no byte */
	}
	io->fn(io->item.arg, res);
}

/* ---- running ----------------------------------------------------------- */

static void dispatch(struct loop *loop, const struct io_uring_cqe *cqe)
{
	struct loop_item *it = io_uring_cqe_get_data(cqe);

	if (!it)
		return;		/* a control request's completion */
	switch (it->kind) {
	case ITEM_WATCH:
		watch_complete((struct loop_watch *)it, cqe);
		break;
	case ITEM_TIMER:
		timer_complete((struct loop_timer *)it, cqe);
		break;
	case ITEM_IO:
		io_complete((struct loop_io *)it, cqe);
		break;
	}
	maybe_bury(it);
}

void loop_task_init(struct loop_task *t, loop_timer_fn fn, void *arg)
{
	*t = (struct loop_task){ .fn = fn, .arg = arg };
}

void loop_task_queue(struct loop *loop, struct loop_task *t)
{
	if (t->queued)
		return;
	t->queued = true;
	TAILQ_INSERT_TAIL(&loop->tasks, t, link);
}

void loop_task_cancel(struct loop *loop, struct loop_task *t)
{
	if (!t->queued)
		return;
	TAILQ_REMOVE(&loop->tasks, t, link);
	t->queued = false;
}

/* Tasks queued while running these run too, in this same pass. */
static void run_tasks(struct loop *loop)
{
	struct loop_task *t;

	while ((t = TAILQ_FIRST(&loop->tasks))) {
		loop_task_cancel(loop, t);
		t->fn(t->arg);
	}
}

/* Handle every completion there is; returns how many. */
static unsigned int reap(struct loop *loop)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;

	io_uring_for_each_cqe(&loop->ring, head, cqe) {
		dispatch(loop, cqe);
		seen++;
	}
	io_uring_cq_advance(&loop->ring, seen);
	free_zombies(loop);
	return seen;
}

static bool enter_failed(int ret)
{
	return ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY;
}

int loop_run(struct loop *loop)
{
	int ret;

	loop->stopping = false;
	while (!loop->stopping) {
		run_tasks(loop);
		ret = io_uring_submit_and_wait(&loop->ring, 1);
		if (enter_failed(ret))
			return ret;
		reap(loop);
	}
	/* Hand requests queued by the last callbacks to the kernel. */
	io_uring_submit(&loop->ring);
	return 0;
}

int loop_poll(struct loop *loop)
{
	int ret;

	run_tasks(loop);
	ret = io_uring_submit_and_get_events(&loop->ring);
	if (enter_failed(ret))
		return ret;
	return (int)reap(loop);
}

void loop_stop(struct loop *loop)
{
	loop->stopping = true;
}
