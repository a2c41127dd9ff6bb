// SPDX-License-Identifier: GPL-2.0
/*
 * Mutually authenticated TLS 1.3 connections driven by the event loop.
 *
 * Each connection is a small state machine (handshake, open, closing) fed
 * by one loop watch on its socket.  OpenSSL does the socket I/O itself; we
 * translate its WANT_READ / WANT_WRITE answers into the watch's POLLIN /
 * POLLOUT.  Input is buffered up to the caller's bound; output is queued
 * when the socket is full.  Both buffers may hold key material, so every
 * byte that leaves them is cleansed.
 *
 * Callbacks run only from the watch handler or from a loop task,
 * never from inside a tls_conn_*() call, so a caller may close or write
 * from anywhere without its own state being freed under its feet.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "loop.h"
#include "tls.h"

#define TLS_IN_CHUNK	 16384		/* input buffer grows by this much */
#define TLS_OUT_MAX	 (16u << 20)	/* queued output beyond this fails */
#define TLS_PEER_NAME_MAX 256
#define TLS_LINGER_MS	 1000		/* at most, after our close_notify */

enum tls_state {
	TLS_HANDSHAKE,
	TLS_OPEN,
	TLS_CLOSING,	/* flushing queued output, then shut down */
	TLS_LINGER,	/* our side shut: drain the peer's last bytes briefly */
	TLS_DEAD,	/* waiting to be freed once off the stack */
};

struct tls_buf {
	uint8_t *data;
	size_t head;	/* first unconsumed byte */
	size_t len;	/* bytes from head */
	size_t cap;
};

struct tls_conn {
	struct loop *loop;
	SSL *ssl;
	int fd;
	struct loop_watch *watch;
	struct loop_timer *reaper;	/* free after lingering */
	struct loop_task reap;		/* free once off the stack */
	struct loop_task flusher;	/* send of queued output */
	uint32_t events;		/* what the watch is armed for */
	enum tls_state state;
	bool want_write;		/* OpenSSL asked for POLLOUT */
	bool in_handler;		/* on the stack: defer the free */
	bool opened;			/* on_open was called */
	bool read_eof;			/* peer gone; deliver what came, then close */
	bool short_read;		/* last socket read got less than asked */
	size_t max_input;
	struct tls_buf in, out;
	const struct tls_conn_ops *ops;
	void *arg;
	char peer_name[TLS_PEER_NAME_MAX];
	char error[160];
};

/* ---- SSL_CTX ----------------------------------------------------------- */

static void openssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

SSL_CTX *tls_ctx_new(const struct tls_files *files, int is_server,
		     char *err, size_t errlen)
{
	char why[128];
	const char *what;
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		what = "SSL_CTX_new";
		goto fail;
	}
	what = "TLS 1.3";
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION))
		goto fail;
	what = files->ca;
	if (!SSL_CTX_load_verify_file(ctx, files->ca))
		goto fail;
	what = files->cert;
	if (SSL_CTX_use_certificate_chain_file(ctx, files->cert) != 1)
		goto fail;
	what = files->key;
	if (SSL_CTX_use_PrivateKey_file(ctx, files->key, SSL_FILETYPE_PEM) != 1)
		goto fail;
	what = "private key does not match certificate";
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	if (is_server) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(files->ca);

		what = files->ca;
		if (!names)
			goto fail;
		SSL_CTX_set_client_CA_list(ctx, names);
		/* No resumption: every connection proves its certificate. */
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/*
	 * Read whole socket buffers, not a 5-byte header and then the record
	 * body: one system call per burst instead of two per record.  Safe
	 * because conn_fill() always reads until WANT_READ (or a full input
	 * buffer), so no record is left waiting inside the SSL object.
	 */
	SSL_CTX_set_read_ahead(ctx, 1);
	return ctx;

fail:
	openssl_reason(why, sizeof(why));
	snprintf(err, errlen, "%s: %s", what ? what : "(null)", why);
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- buffers ----------------------------------------------------------- */

static void buf_free(struct tls_buf *b)
{
	if (b->data) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

/* Drop @n bytes from the front, wiping them. */
static void buf_consume(struct tls_buf *b, size_t n)
{
	if (n > b->len)
		n = b->len;
	OPENSSL_cleanse(b->data + b->head, n);
	b->head += n;
	b->len -= n;
	if (!b->len)
		b->head = 0;
}

/*
 * Make room for @want more bytes at the tail without exceeding @limit in
 * total; returns the room obtained (0 if none).  Moves the live bytes to the
 * front and wipes what they leave behind.
 */
static size_t buf_room(struct tls_buf *b, size_t want, size_t limit)
{
	size_t need = b->len + want;

	if (need > limit)
		need = limit;
	if (b->head && b->head + b->len + want > b->cap) {
		memmove(b->data, b->data + b->head, b->len);
		OPENSSL_cleanse(b->data + b->len,
				b->head < b->cap - b->len ? b->head :
				b->cap - b->len);
		b->head = 0;
	}
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : TLS_IN_CHUNK;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		if (cap > limit)
			cap = limit;
		p = malloc(cap);
		if (!p)
			return b->cap - b->head - b->len;
		if (b->data) {
			memcpy(p, b->data + b->head, b->len);
			OPENSSL_cleanse(b->data, b->cap);
			free(b->data);
		}
		b->data = p;
		b->head = 0;
		b->cap = cap;
	}
	return b->cap - b->head - b->len;
}

/* ---- connection lifecycle ------------------------------------------- */

static void conn_free(struct tls_conn *c)
{
	if (c->reaper)
		loop_timer_del(c->reaper);
	loop_task_cancel(c->loop, &c->reap);
	loop_task_cancel(c->loop, &c->flusher);
	if (c->watch)
		loop_watch_del(c->watch);
	if (c->ops->on_close)
		c->ops->on_close(c, c->arg);
	SSL_free(c->ssl);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

static void conn_reap(void *arg)
{
	struct tls_conn *c = arg;

	conn_free(c);		/* deletes the spent linger timer too */
}

/*
 * Mark @c dead: stop watching the socket and free it once nobody is on the
 * stack -- at the end of the handler, or from a loop task.
 */
static void conn_kill(struct tls_conn *c, const char *why)
{
	if (c->state == TLS_DEAD)
		return;
	c->state = TLS_DEAD;
	if (why && !c->error[0])
		snprintf(c->error, sizeof(c->error), "%s", why);
	if (c->watch) {
		loop_watch_del(c->watch);
		c->watch = NULL;
	}
	if (!c->in_handler)
		loop_task_queue(c->loop, &c->reap);
}

/*
 * Why an SSL_* call returning @ret failed, into @why ("" for the peer's
 * orderly close_notify).
 */
static void conn_ssl_reason(struct tls_conn *c, const char *stage, int ret,
			    char *why, size_t len)
{
	int e = SSL_get_error(c->ssl, ret);

	why[0] = '\0';
	if (e == SSL_ERROR_ZERO_RETURN)
		return;
	if (e == SSL_ERROR_SYSCALL && !ERR_peek_error()) {
		if (errno && ret < 0)
			snprintf(why, len, "%s: %s", stage, strerror(errno));
		else
			snprintf(why, len, "%s: peer closed", stage);
	} else {
		long v = SSL_get_verify_result(c->ssl);
		char ossl[96];

		openssl_reason(ossl, sizeof(ossl));
		if (v != X509_V_OK)
			snprintf(why, len, "%s: certificate: %s", stage,
				 X509_verify_cert_error_string(v));
		else
			snprintf(why, len, "%s: %s", stage, ossl);
	}
}

static void conn_fail_ssl(struct tls_conn *c, const char *stage, int ret)
{
	char why[120];

	conn_ssl_reason(c, stage, ret, why, sizeof(why));
	conn_kill(c, why[0] ? why : NULL);
}

/* Arm the watch for what we wait for: always input, output when due. */
static void conn_rearm(struct tls_conn *c)
{
	uint32_t ev = POLLIN;

	if (c->state == TLS_DEAD || !c->watch)
		return;
	/* Output queued during the handshake waits for it to finish. */
	if (c->want_write || (c->out.len && c->state != TLS_HANDSHAKE))
		ev |= POLLOUT;
	if (ev != c->events && loop_watch_set(c->watch, ev) == 0)
		c->events = ev;
}

/*
 * Classify a non-positive SSL_* return: 0 if it is a retryable WANT_*
 * (and note which direction), -1 if the connection failed (killed).
 */
static int conn_retry_or_fail(struct tls_conn *c, const char *stage, int ret)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->want_write = true;
		return 0;
	default:
		conn_fail_ssl(c, stage, ret);
		return -1;
	}
}

/* Subject CN, only if there is exactly one and it is a clean string. */
static void peer_cn(struct tls_conn *c)
{
	X509 *cert = SSL_get0_peer_certificate(c->ssl);
	X509_NAME *subj = cert ? X509_get_subject_name(cert) : NULL;
	const ASN1_STRING *s;
	int i, len;

	c->peer_name[0] = '\0';
	if (!subj)
		return;
	i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(subj, NID_commonName, i) >= 0)
		return;
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
	len = ASN1_STRING_length(s);
	if (len <= 0 || len >= (int)sizeof(c->peer_name) ||
	    memchr(ASN1_STRING_get0_data(s), '\0', len))
		return;
	memcpy(c->peer_name, ASN1_STRING_get0_data(s), len);
	c->peer_name[len] = '\0';
}

static int conn_handshake(struct tls_conn *c)
{
	int ret;

	ERR_clear_error();
	ret = SSL_do_handshake(c->ssl);
	if (ret != 1)
		return conn_retry_or_fail(c, "handshake", ret) ? -1 : 1;
	/* SSL_VERIFY_FAIL_IF_NO_PEER_CERT makes these hold; belt and braces. */
	if (!SSL_get0_peer_certificate(c->ssl) ||
	    SSL_get_verify_result(c->ssl) != X509_V_OK) {
		conn_kill(c, "handshake: peer certificate not verified");
		return -1;
	}
	peer_cn(c);
	c->state = TLS_OPEN;
	c->opened = true;
	if (c->ops->on_open)
		c->ops->on_open(c, c->arg);
	return 0;
}

/* Send queued output; 0 when the queue is empty or the socket is full. */
static int conn_flush(struct tls_conn *c)
{
	while (c->out.len) {
		size_t n = 0;
		int ret;

		ERR_clear_error();
		ret = SSL_write_ex(c->ssl, c->out.data + c->out.head,
				   c->out.len, &n);
		if (ret <= 0)
			return conn_retry_or_fail(c, "write", ret);
		buf_consume(&c->out, n);
	}
	return 0;
}

/*
 * Read what fits into the input buffer: 1 if bytes came, 0 if none, -1 if
 * the connection failed.  When the peer closes (or the read fails) after
 * some bytes came, those are handed over first: read_eof is set and the
 * caller closes after on_data.  *drained is set when reading stopped
 * because the socket (and the SSL object) had nothing more: reading again
 * before the next poll event would only cost a failing system call.
 */
static int conn_fill(struct tls_conn *c, bool *drained)
{
	int got = 0;

	*drained = false;

	for (;;) {
		size_t room = buf_room(&c->in, TLS_IN_CHUNK, c->max_input);
		size_t n = 0;
		int ret, e;

		if (!room)
			return got;	/* full: the owner must drain first */
		ERR_clear_error();
		ret = SSL_read_ex(c->ssl, c->in.data + c->in.head + c->in.len,
				  room, &n);
		if (ret > 0) {
			c->in.len += n;
			got = 1;
			/*
			 * The socket gave less than OpenSSL asked for and all
			 * of it is decrypted: it was empty then, and bytes
			 * arriving since raise a poll event.  Skip the read
			 * that would only fail with EAGAIN.
			 */
			if (c->short_read && !SSL_has_pending(c->ssl)) {
				*drained = true;
				return got;
			}
			continue;
		}
		e = SSL_get_error(c->ssl, ret);
		if (e == SSL_ERROR_WANT_READ) {
			*drained = true;
			return got;
		}
		if (e == SSL_ERROR_WANT_WRITE) {
			c->want_write = true;
			return got;
		}
		if (!got) {
			conn_fail_ssl(c, "read", ret);
			return -1;
		}
		conn_ssl_reason(c, "read", ret, c->error, sizeof(c->error));
		c->read_eof = true;
		return 1;
	}
}

/*
 * Read and hand input to the owner until the socket has no more or the
 * owner stops consuming.  A full buffer the owner does not drain is a
 * peer sending more than it may: close.
 */
static void conn_pump_input(struct tls_conn *c)
{
	bool drained = false;

	for (;;) {
		size_t before;
		/* Once drained, the multishot poll reports new bytes. */
		int got = drained ? 0 : conn_fill(c, &drained);

		if (got < 0 || c->state != TLS_OPEN)
			return;
		if (!got && !c->in.len)
			return;
		before = c->in.len;
		if (c->ops->on_data(c, c->arg) < 0) {
			conn_kill(c, NULL);
			return;
		}
		if (c->state != TLS_OPEN)
			return;
		if (c->read_eof) {
			conn_kill(c, NULL);	/* reason already in c->error */
			return;
		}
		if (c->in.len >= c->max_input) {
			conn_kill(c, "input limit exceeded");
			return;
		}
		if (!got || c->in.len == before)
			return;		/* nothing new, or owner is waiting */
	}
}

/*
 * Queue drained while closing: send close_notify (best effort) and shut
 * our direction.  Closing the socket outright while the peer's bytes are
 * still unread (say the rest of a body we refused with 413) would make the
 * kernel send a reset, which can destroy our last answer before the peer
 * reads it; so read and drop what still comes, for a bounded time.
 */
static void conn_finish_close(struct tls_conn *c)
{
	if (c->out.len)
		return;
	if (!c->opened) {
		conn_kill(c, NULL);
		return;
	}
	ERR_clear_error();
	SSL_shutdown(c->ssl);
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_kill(c, NULL);
		return;
	}
	if (c->reaper)
		loop_timer_del(c->reaper);
	c->reaper = loop_timer_add(c->loop, TLS_LINGER_MS, false, conn_reap, c);
	if (!c->reaper) {
		conn_kill(c, NULL);
		return;
	}
	c->state = TLS_LINGER;
}

/* Lingering: drop input until the peer closes (or the timer ends it). */
static void conn_drain(struct tls_conn *c)
{
	uint8_t sink[4096];

	for (;;) {
		ssize_t n = read(c->fd, sink, sizeof(sink));

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_kill(c, NULL);	/* EOF or error: done */
		return;
	}
}

static void conn_on_event(void *arg, uint32_t revents)
{
	struct tls_conn *c = arg;

	c->in_handler = true;
	c->want_write = false;
	if (c->state == TLS_LINGER) {
		conn_drain(c);
		goto out;
	}
	if (c->state == TLS_HANDSHAKE && conn_handshake(c) != 0)
		goto out;
	if (c->state == TLS_OPEN || c->state == TLS_CLOSING) {
		if (conn_flush(c) < 0)
			goto out;
	}
	if (c->state == TLS_OPEN)
		conn_pump_input(c);
	/* Send what on_open / on_data wrote. */
	if ((c->state == TLS_OPEN || c->state == TLS_CLOSING) && c->out.len &&
	    conn_flush(c) < 0)
		goto out;
	if (c->state == TLS_CLOSING)
		conn_finish_close(c);
	if (c->state != TLS_DEAD && (revents & (POLLERR | POLLHUP)) &&
	    !(revents & POLLIN))
		conn_kill(c, "socket error or hang-up");
out:
	c->in_handler = false;
	if (c->state == TLS_DEAD) {
		conn_free(c);
		return;
	}
	conn_rearm(c);
}

/* The deferred flush of tls_conn_write(): a handler run without events. */
static void conn_flush_later(void *arg)
{
	conn_on_event(arg, 0);
}

/* Notes whether each read from the socket came back short (see conn_fill). */
static long note_short_read(BIO *bio, int oper, const char *argp, size_t len,
			    int argi, long argl, int ret, size_t *processed)
{
	struct tls_conn *c = (struct tls_conn *)BIO_get_callback_arg(bio);

	if (oper == (BIO_CB_READ | BIO_CB_RETURN))
		c->short_read = ret > 0 && processed && *processed < len;
	return oper & BIO_CB_RETURN ? ret : 1;
}

static struct tls_conn *conn_new(struct loop *loop, SSL_CTX *ctx, int fd,
				 size_t max_input,
				 const struct tls_conn_ops *ops, void *arg)
{
	struct tls_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ssl = SSL_new(ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, fd)) {
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	BIO_set_callback_arg(SSL_get_rbio(c->ssl), (char *)c);
	BIO_set_callback_ex(SSL_get_rbio(c->ssl), note_short_read);
	c->loop = loop;
	c->fd = fd;
	c->max_input = max_input ? max_input : TLS_IN_CHUNK;
	c->ops = ops;
	c->arg = arg;
	c->state = TLS_HANDSHAKE;
	loop_task_init(&c->reap, conn_reap, c);
	loop_task_init(&c->flusher, conn_flush_later, c);
	return c;
}

static struct tls_conn *conn_start(struct tls_conn *c, uint32_t events)
{
	c->events = events;
	c->watch = loop_watch_add(c->loop, c->fd, events, conn_on_event, c);
	if (!c->watch) {
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	return c;
}

struct tls_conn *tls_conn_accept(struct loop *loop, SSL_CTX *ctx, int fd,
				 size_t max_input,
				 const struct tls_conn_ops *ops, void *arg)
{
	struct tls_conn *c = conn_new(loop, ctx, fd, max_input, ops, arg);

	if (!c)
		return NULL;
	SSL_set_accept_state(c->ssl);
	/* The client speaks first. */
	return conn_start(c, POLLIN);
}

struct tls_conn *tls_conn_connect(struct loop *loop, SSL_CTX *ctx, int fd,
				  const char *peer_name, size_t max_input,
				  const struct tls_conn_ops *ops, void *arg)
{
	struct tls_conn *c = conn_new(loop, ctx, fd, max_input, ops, arg);

	if (!c)
		return NULL;
	SSL_set_connect_state(c->ssl);
	/* Checks DNS SANs, or the subject CN when there are none. */
	if (!peer_name || !*peer_name || !SSL_set1_host(c->ssl, peer_name) ||
	    !SSL_set_tlsext_host_name(c->ssl, peer_name)) {
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	/* POLLOUT tells us when connect() completed; then we say hello. */
	return conn_start(c, POLLIN | POLLOUT);
}

/* ---- data --------------------------------------------------------------- */

const uint8_t *tls_conn_input(struct tls_conn *c, size_t *len)
{
	*len = c->in.len;
	return c->in.len ? c->in.data + c->in.head : NULL;
}

void tls_conn_consume(struct tls_conn *c, size_t n)
{
	buf_consume(&c->in, n);
}

/*
 * Writes are only queued here and sent in one go later: at the end of this
 * connection's own handler, or else from a loop task, i.e. once the
 * loop has run every callback of its current batch.  Several messages
 * written meanwhile (pipelined answers, a burst of Kx-2 reservations) so
 * leave as one TLS record and one system call instead of one each.
 */
int tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
	if (c->state != TLS_HANDSHAKE && c->state != TLS_OPEN)
		return -1;
	if (c->out.len + len > TLS_OUT_MAX ||
	    buf_room(&c->out, len, TLS_OUT_MAX) < len) {
		conn_kill(c, "output queue full");
		return -1;
	}
	memcpy(c->out.data + c->out.head + c->out.len, buf, len);
	c->out.len += len;
	if (!c->in_handler && c->state == TLS_OPEN)
		loop_task_queue(c->loop, &c->flusher);
	return 0;
}

size_t tls_conn_pending(const struct tls_conn *c)
{
	return c->out.len;
}

const char *tls_conn_peer_name(const struct tls_conn *c)
{
	return c->peer_name;
}

const char *tls_conn_error(const struct tls_conn *c)
{
	return c->error;
}

void tls_conn_close(struct tls_conn *c)
{
	if (c->state != TLS_HANDSHAKE && c->state != TLS_OPEN)
		return;
	if (c->state == TLS_HANDSHAKE) {
		conn_kill(c, NULL);
		return;
	}
	c->state = TLS_CLOSING;
	if (!c->in_handler) {
		if (conn_flush(c) < 0)
			return;
		conn_finish_close(c);
		conn_rearm(c);
	}
}

void tls_conn_abort(struct tls_conn *c)
{
	conn_kill(c, NULL);
}
