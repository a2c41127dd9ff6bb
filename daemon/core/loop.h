/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's event loop, on io_uring (liburing).  Single-threaded: every
 * callback runs on the loop's thread, so daemon state needs no locks.
 *
 * Sockets are either watched with multishot IORING_OP_POLL_ADD (the
 * callback gets the poll revents and does its own non-blocking I/O), or
 * read and written by io_uring itself through a loop_io (IORING_OP_RECV /
 * IORING_OP_SEND), which costs no system call of its own: the requests go
 * to the kernel with the loop's one io_uring_enter() per batch.  Timers are
 * IORING_OP_TIMEOUT.  Signals come through a signalfd the caller watches
 * like any fd.
 */
#ifndef QKD_LOOP_H
#define QKD_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct loop;
struct loop_watch;
struct loop_timer;

typedef void (*loop_fd_fn)(void *arg, uint32_t revents);
typedef void (*loop_timer_fn)(void *arg);

/* Returns NULL with errno set on failure. */
struct loop *loop_new(void);
void loop_free(struct loop *loop);

/*
 * Watch @fd for @events (POLLIN and/or POLLOUT).  The watch stays armed until
 * loop_watch_del().  loop_watch_set() changes the events (e.g. to add POLLOUT
 * while output is pending).  A callback may delete its own watch, or any
 * other; the loop never calls a deleted watch again.
 *
 * Multishot polls report readiness as it arises (a wake-up of the fd), not
 * as long as it lasts: a callback must read (or write) until EAGAIN, or it
 * will not be called again for data that is already there.  @revents with
 * POLLNVAL means the poll could not be set up (bad fd); the watch is then
 * dead and should be deleted.
 */
struct loop_watch *loop_watch_add(struct loop *loop, int fd, uint32_t events,
				  loop_fd_fn fn, void *arg);
int loop_watch_set(struct loop_watch *w, uint32_t events);
void loop_watch_del(struct loop_watch *w);

/*
 * A loop_io moves a socket's bytes through io_uring: it owns a buffer of
 * @cap bytes and has at most one recv or send of it in flight.  @fn gets
 * the outcome: for a recv, the bytes received (0 at end of stream); for a
 * send, the whole length asked (short sends are continued inside); or
 * -errno.  The kernel may write the buffer until @fn is called: touch it
 * only while loop_io_busy() is false.
 *
 * loop_io_del() cancels what is in flight; @fn is not called again, and
 * the io (with its buffer) is freed once the kernel is done with it, so
 * the owner may close the fd and free itself right away.
 */
struct loop_io;
typedef void (*loop_io_fn)(void *arg, int res);

struct loop_io *loop_io_new(struct loop *loop, int fd, size_t cap,
			    loop_io_fn fn, void *arg);
uint8_t *loop_io_buf(struct loop_io *io, size_t *cap);
bool loop_io_busy(const struct loop_io *io);
/* Receive up to cap bytes into the buffer; 0, or -EBUSY (ring broken). */
int loop_io_recv(struct loop_io *io);
/* Send the buffer's first @len (> 0) bytes; 0, or -EBUSY (ring broken). */
int loop_io_send(struct loop_io *io, size_t len);
void loop_io_del(struct loop_io *io);

/*
 * Call @fn once after @ms milliseconds (CLOCK_MONOTONIC), or every @ms with
 * @repeat.  loop_timer_del() cancels; safe from within @fn.
 *
 * A one-shot timer stays allocated after it fired, until loop_timer_del()
 * (so that deleting it later is always safe); loop_free() frees what is
 * left.  Repeating timers do not drift: deadlines are absolute.
 */
struct loop_timer *loop_timer_add(struct loop *loop, uint64_t ms, bool repeat,
				  loop_timer_fn fn, void *arg);
/* The same in nanoseconds, for pacing finer than a millisecond. */
struct loop_timer *loop_timer_add_ns(struct loop *loop, uint64_t ns,
				     bool repeat, loop_timer_fn fn, void *arg);
void loop_timer_del(struct loop_timer *t);

/*
 * A deferred call, embedded in its owner: once queued, the loop calls
 * @fn(@arg) after it has handled the current batch of completions and
 * before it waits again.  Unlike a zero-delay timer it costs no system
 * call and cannot fail, so several writes made while handling one batch
 * can leave in one flush.  Queuing a queued task does nothing; the owner
 * must loop_task_cancel() it before freeing it.
 */
struct loop_task {
	TAILQ_ENTRY(loop_task) link;	/* in the loop's queue, if queued */
	loop_timer_fn fn;
	void *arg;
	bool queued;
};

void loop_task_init(struct loop_task *t, loop_timer_fn fn, void *arg);
void loop_task_queue(struct loop *loop, struct loop_task *t);
void loop_task_cancel(struct loop *loop, struct loop_task *t);

/* Run until loop_stop(); returns 0, or -errno on an io_uring failure. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

/*
 * One pass that does not wait: run the queued tasks, hand new requests to
 * the kernel, handle the completions there are.  Returns how many, or
 * -errno.  For a caller that busy-polls instead of sleeping, such as the
 * benchmark's load generator, whose every wake-up is an interrupt.
 */
int loop_poll(struct loop *loop);

/* CLOCK_MONOTONIC, as the loop's timers see it. */
uint64_t loop_now_ms(void);
uint64_t loop_now_ns(void);

#endif /* QKD_LOOP_H */
