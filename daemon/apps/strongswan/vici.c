// SPDX-License-Identifier: GPL-2.0
/*
 * VICI codec and a one-command client (vici.h).  The decoder trusts
 * nothing: every length is checked against what is left, names are
 * copied NUL-ended, and the element order rules of the protocol are
 * enforced, so that a broken or hostile charon cannot make the daemon
 * read past a segment.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "apps/strongswan/vici.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- encoding ---------------------------------------------------------- */

static void put(struct vici_writer *w, const void *p, size_t n)
{
	if (w->fail || n > w->cap - w->len) {
		w->fail = true;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_u8(struct vici_writer *w, uint8_t v)
{
	put(w, &v, 1);
}

static void put_name(struct vici_writer *w, const char *name)
{
	size_t n = strlen(name);

	if (n > 255) {
		w->fail = true;
		return;
	}
	put_u8(w, (uint8_t)n);
	put(w, name, n);
}

static void put_value(struct vici_writer *w, const void *val, size_t len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };

	if (len > 0xffff) {
		w->fail = true;
		return;
	}
	put(w, hdr, 2);
	put(w, val, len);
}

void vici_begin(struct vici_writer *w, uint8_t *buf, size_t cap,
		enum vici_packet_type type, const char *name)
{
	static const uint8_t len[4];

	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = cap;
	put(w, len, sizeof(len));	/* vici_finish fills it in */
	put_u8(w, (uint8_t)type);
	if (type == VICI_CMD_REQUEST || type == VICI_EVENT_REGISTER ||
	    type == VICI_EVENT_UNREGISTER || type == VICI_EVENT)
		put_name(w, name ? name : "");
}

void vici_section_start(struct vici_writer *w, const char *name)
{
	if (w->in_list || w->depth >= VICI_DEPTH_MAX)
		w->fail = true;
	w->depth++;
	put_u8(w, VICI_SECTION_START);
	put_name(w, name);
}

void vici_section_end(struct vici_writer *w)
{
	if (w->in_list || w->depth == 0)
		w->fail = true;
	w->depth--;
	put_u8(w, VICI_SECTION_END);
}

void vici_kv(struct vici_writer *w, const char *name, const void *val,
	     size_t len)
{
	if (w->in_list)
		w->fail = true;
	put_u8(w, VICI_KEY_VALUE);
	put_name(w, name);
	put_value(w, val, len);
}

void vici_kv_str(struct vici_writer *w, const char *name, const char *val)
{
	vici_kv(w, name, val, strlen(val));
}

void vici_list_start(struct vici_writer *w, const char *name)
{
	if (w->in_list)
		w->fail = true;
	w->in_list = true;
	put_u8(w, VICI_LIST_START);
	put_name(w, name);
}

void vici_list_item(struct vici_writer *w, const void *val, size_t len)
{
	if (!w->in_list)
		w->fail = true;
	put_u8(w, VICI_LIST_ITEM);
	put_value(w, val, len);
}

void vici_list_end(struct vici_writer *w)
{
	if (!w->in_list)
		w->fail = true;
	w->in_list = false;
	put_u8(w, VICI_LIST_END);
}

long vici_finish(struct vici_writer *w)
{
	size_t n;

	if (w->fail || w->depth || w->in_list || w->len < 5)
		return -1;
	n = w->len - 4;
	if (n > VICI_SEGMENT_MAX)
		return -1;
	w->buf[0] = (uint8_t)(n >> 24);
	w->buf[1] = (uint8_t)(n >> 16);
	w->buf[2] = (uint8_t)(n >> 8);
	w->buf[3] = (uint8_t)n;
	return (long)w->len;
}

/* ---- decoding ---------------------------------------------------------- */

void vici_iter_init(struct vici_iter *it, const uint8_t *msg, size_t len)
{
	memset(it, 0, sizeof(*it));
	it->p = msg;
	it->len = len;
}

/* A u8-length name at it->off into @out. */
static int get_name(struct vici_iter *it, char out[VICI_NAME_MAX])
{
	size_t n;

	if (it->off >= it->len)
		return -1;
	n = it->p[it->off++];
	if (n > it->len - it->off)
		return -1;
	memcpy(out, it->p + it->off, n);
	out[n] = '\0';
	it->off += n;
	/* A name with a NUL in it would read as another, shorter one. */
	return strlen(out) == n ? 0 : -1;
}

static int get_value(struct vici_iter *it, struct vici_elem *e)
{
	size_t n;

	if (it->len - it->off < 2)
		return -1;
	n = (size_t)it->p[it->off] << 8 | it->p[it->off + 1];
	it->off += 2;
	if (n > it->len - it->off)
		return -1;
	e->value = it->p + it->off;
	e->value_len = n;
	it->off += n;
	return 0;
}

int vici_next(struct vici_iter *it, struct vici_elem *e, char *err,
	      size_t errlen)
{
	size_t at = it->off;
	uint8_t type;

	memset(e, 0, sizeof(*e));
	if (it->off >= it->len) {
		if (it->depth || it->in_list) {
			seterr(err, errlen, "message ends inside a %s",
			       it->in_list ? "list" : "section");
			return -1;
		}
		return 0;
	}
	type = it->p[it->off++];
	e->type = type;
	switch (type) {
	case VICI_SECTION_START:
		if (it->in_list || it->depth >= VICI_DEPTH_MAX)
			goto order;
		if (get_name(it, e->name) < 0)
			goto trunc;
		e->depth = it->depth++;
		return 1;
	case VICI_SECTION_END:
		if (it->in_list || it->depth == 0)
			goto order;
		e->depth = --it->depth;
		return 1;
	case VICI_KEY_VALUE:
		if (it->in_list)
			goto order;
		if (get_name(it, e->name) < 0 || get_value(it, e) < 0)
			goto trunc;
		e->depth = it->depth;
		return 1;
	case VICI_LIST_START:
		if (it->in_list)
			goto order;
		if (get_name(it, e->name) < 0)
			goto trunc;
		memcpy(it->list, e->name, sizeof(it->list));
		it->in_list = true;
		e->depth = it->depth;
		return 1;
	case VICI_LIST_ITEM:
		if (!it->in_list)
			goto order;
		if (get_value(it, e) < 0)
			goto trunc;
		memcpy(e->list, it->list, sizeof(e->list));
		e->depth = it->depth;
		return 1;
	case VICI_LIST_END:
		if (!it->in_list)
			goto order;
		it->in_list = false;
		e->depth = it->depth;
		return 1;
	default:
		seterr(err, errlen, "unknown element type %u at byte %zu",
		       type, at);
		return -1;
	}
order:
	seterr(err, errlen, "element type %u out of place at byte %zu", type,
	       at);
	return -1;
trunc:
	seterr(err, errlen, "element at byte %zu truncated or with a bad name",
	       at);
	return -1;
}

int vici_validate(const uint8_t *msg, size_t len, char *err, size_t errlen)
{
	struct vici_iter it;
	struct vici_elem e;
	int ret;

	vici_iter_init(&it, msg, len);
	while ((ret = vici_next(&it, &e, err, errlen)) > 0)
		;
	return ret;
}

int vici_parse(const uint8_t *seg, size_t len, struct vici_packet *out,
	       char *err, size_t errlen)
{
	size_t off = 1, n;

	memset(out, 0, sizeof(*out));
	if (len < 1 || len > VICI_SEGMENT_MAX) {
		seterr(err, errlen, "segment of %zu bytes", len);
		return -1;
	}
	out->type = seg[0];
	switch (out->type) {
	case VICI_CMD_REQUEST:
	case VICI_EVENT_REGISTER:
	case VICI_EVENT_UNREGISTER:
	case VICI_EVENT:
		if (len < 2 || (n = seg[1]) > len - 2) {
			seterr(err, errlen, "packet name truncated");
			return -1;
		}
		memcpy(out->name, seg + 2, n);
		out->name[n] = '\0';
		if (strlen(out->name) != n) {
			seterr(err, errlen, "packet name with a NUL");
			return -1;
		}
		off = 2 + n;
		break;
	case VICI_CMD_RESPONSE:
	case VICI_CMD_UNKNOWN:
	case VICI_EVENT_CONFIRM:
	case VICI_EVENT_UNKNOWN:
		break;
	default:
		seterr(err, errlen, "unknown packet type %u", out->type);
		return -1;
	}
	out->msg = seg + off;
	out->msg_len = len - off;
	return vici_validate(out->msg, out->msg_len, err, errlen);
}

bool vici_get_str(const uint8_t *msg, size_t len, const char *name,
		  char *out, size_t outlen)
{
	struct vici_iter it;
	struct vici_elem e;
	size_t n;

	vici_iter_init(&it, msg, len);
	while (vici_next(&it, &e, NULL, 0) > 0) {
		if (e.type != VICI_KEY_VALUE || e.depth || strcmp(e.name, name))
			continue;
		if (!outlen)
			return true;
		n = e.value_len < outlen - 1 ? e.value_len : outlen - 1;
		memcpy(out, e.value, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

int vici_check_success(const uint8_t *msg, size_t len, char *err,
		       size_t errlen)
{
	char v[8], why[200];

	if (vici_get_str(msg, len, "success", v, sizeof(v)) &&
	    !strcmp(v, "yes"))
		return 0;
	if (!vici_get_str(msg, len, "errmsg", why, sizeof(why)) || !why[0])
		snprintf(why, sizeof(why), "refused");
	/* charon's text, shown to the operator: printable only. */
	for (char *c = why; *c; c++)
		if (*c < ' ' || *c > '~')
			*c = '?';
	seterr(err, errlen, "%s", why);
	return -1;
}

/* ---- the client -------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Exactly @n bytes before @deadline; 0, or -errno. */
static int io_all(int fd, uint8_t *buf, size_t n, bool out, int64_t deadline)
{
	size_t done = 0;

	while (done < n) {
		struct pollfd p = { .fd = fd, .events = out ? POLLOUT : POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		r = out ? send(fd, buf + done, n - done, MSG_NOSIGNAL) :
		    recv(fd, buf + done, n - done, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		done += (size_t)r;
	}
	return 0;
}

/* One segment into @resp (@cap bytes): its length, or -1. */
static long read_segment(int fd, uint8_t *resp, size_t cap, int64_t deadline,
			 char *err, size_t errlen)
{
	uint8_t hdr[4];
	size_t n;
	int r;

	r = io_all(fd, hdr, 4, false, deadline);
	if (r < 0) {
		seterr(err, errlen, "no answer from charon: %s", strerror(-r));
		return -1;
	}
	n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 |
	    hdr[3];
	if (n < 1 || n > cap || n > VICI_SEGMENT_MAX) {
		seterr(err, errlen, "charon answered a %zu-byte segment (at most %zu here)",
		       n, cap);
		return -1;
	}
	r = io_all(fd, resp, n, false, deadline);
	if (r < 0) {
		seterr(err, errlen, "reading charon's answer: %s", strerror(-r));
		return -1;
	}
	return (long)n;
}

/* EVENT_REGISTER for @event, answered by EVENT_CONFIRM; 0 or -1. */
static int register_event(int fd, const char *event, uint8_t *buf,
			  size_t cap, int64_t deadline, char *err,
			  size_t errlen)
{
	struct vici_writer w;
	struct vici_packet pkt;
	long n;
	int r;

	vici_begin(&w, buf, cap, VICI_EVENT_REGISTER, event);
	n = vici_finish(&w);
	if (n < 0) {
		seterr(err, errlen, "bad event name");
		return -1;
	}
	r = io_all(fd, buf, (size_t)n, true, deadline);
	if (r < 0) {
		seterr(err, errlen, "sending to charon: %s", strerror(-r));
		return -1;
	}
	n = read_segment(fd, buf, cap, deadline, err, errlen);
	if (n < 0 || vici_parse(buf, (size_t)n, &pkt, err, errlen) < 0)
		return -1;
	if (pkt.type != VICI_EVENT_CONFIRM) {
		seterr(err, errlen, "charon refused event %s", event);
		return -1;
	}
	return 0;
}

long vici_call(const char *path, const uint8_t *req, size_t req_len,
	       uint8_t *resp, size_t cap, int timeout_ms, char *err,
	       size_t errlen)
{
	return vici_call_events(path, NULL, req, req_len, NULL, NULL, resp,
				cap, timeout_ms, err, errlen);
}

long vici_call_events(const char *path, const char *event,
		      const uint8_t *req, size_t req_len, vici_event_fn fn,
		      void *arg, uint8_t *resp, size_t cap, int timeout_ms,
		      char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = now_ms() + timeout_ms;
	struct vici_packet pkt;
	long ret = -1, n;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		seterr(err, errlen, "VICI socket path too long");
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		seterr(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* A local socket connects at once or not at all. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		seterr(err, errlen, "charon's VICI socket %s: %s", path,
		       strerror(errno));
		goto out;
	}
	if (event && register_event(fd, event, resp, cap, deadline, err,
				    errlen) < 0)
		goto out;
	r = io_all(fd, (uint8_t *)req, req_len, true, deadline);
	if (r < 0) {
		seterr(err, errlen, "sending to charon: %s", strerror(-r));
		goto out;
	}
	for (;;) {
		n = read_segment(fd, resp, cap, deadline, err, errlen);
		if (n < 0 || vici_parse(resp, (size_t)n, &pkt, err, errlen) < 0)
			goto out;
		if (pkt.type == VICI_EVENT) {
			/* Ours, or streamed alongside for another client. */
			if (event && fn && !strcmp(pkt.name, event))
				fn(arg, pkt.msg, pkt.msg_len);
			continue;
		}
		if (pkt.type == VICI_CMD_UNKNOWN) {
			seterr(err, errlen, "unknown command");
			goto out;
		}
		if (pkt.type != VICI_CMD_RESPONSE) {
			seterr(err, errlen, "charon answered packet type %u",
			       pkt.type);
			goto out;
		}
		memmove(resp, pkt.msg, pkt.msg_len);
		ret = (long)pkt.msg_len;
		break;
	}
out:
	close(fd);
	return ret;
}
