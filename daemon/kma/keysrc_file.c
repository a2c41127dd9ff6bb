// SPDX-License-Identifier: GPL-2.0
/*
 * Key source "file": key files dropped into a directory at each end of a
 * link (keysrc_file.h has the protocol between the two ends).
 *
 * A file, once read, is held whole in the secure heap until the two ends
 * agree on it; the tx end then cuts it into blocks that enter the store
 * (blkstore.h, the etsi014 source's too), which hands them out as keys
 * and zeroises each once every byte went.  Key confirmation (confirm.c)
 * wraps this source as every other, so a file whose bytes differ between
 * the ends never yields a key.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "kma/blkstore.h"
#include "kma/keysrc_file.h"

#define KF_MAX_FILES	64	/* files read and not yet agreed, per end */
/*
 * Announcements in flight from the tx end, and waiting for their file at
 * the rx end, which takes them in order: a file missing at the rx end
 * holds the ones behind it for at most wait_ms.
 */
#define KF_INFLIGHT	8
#define KF_STORE_BLOCKS	(2 * KEYSRC_FILE_MAX_BLOCKS)
#define KF_TICK_MS	100
/* A refused file's alarm stays up this long after the last refusal. */
#define KF_ALARM_HOLD_MS 60000

/* A file read and not yet agreed with the far end. */
struct kf_file {
	char name[KEYSRC_FILE_NAME_MAX];
	uint8_t *bytes;		/* secure heap, n * block_size */
	uint32_t n;		/* blocks */
	uint32_t next;		/* blocks announced (tx) / taken (rx) */
	uint64_t since_ms;	/* read, or last block taken */
	uint64_t gen_ns;
};

/* tx: an announcement waiting for its answer. */
struct kf_await {
	uint64_t first;
	uint32_t n;
	uint64_t deadline_ms;
	char name[KEYSRC_FILE_NAME_MAX];
};

/* rx: an announcement whose file is not here yet. */
struct kf_batch {
	struct kxmsg_src_key keys[KXMSG_MAX_SRC_KEYS];
	uint32_t n;
	char name[KEYSRC_FILE_NAME_MAX];
	uint32_t idx, count;	/* of keys[0], and the file's block count */
	uint64_t deadline_ms;
};

struct keysrc_file {
	struct keysrc src;
	struct loop *loop;
	char link[KM_NAME_MAX];
	char peer[KM_NAME_MAX];
	char where[KM_PATH_MAX + 16];
	char dir[KM_PATH_MAX];
	char alarm_src[ALARM_SOURCE_MAX];
	uint32_t wait_ms;
	int dirfd, inofd;
	struct loop_watch *ino_watch;
	struct loop_timer *tick;
	bool rescan;		/* files left on disk for want of room */

	struct keysrc_etsi014_kx kx;
	void *kx_arg;

	struct kf_file *files[KF_MAX_FILES];	/* tx: FIFO */
	uint32_t n_files;

	/* tx: the batches waiting for the far end's SRC_ACK, oldest first */
	uint64_t next_block;
	struct kf_await await[KF_INFLIGHT];
	uint32_t await_n;

	/* rx */
	struct kf_batch *rxq[KF_INFLIGHT];
	uint32_t rxq_n;
	uint64_t last_block;

	struct blkstore store;

	/* Files zeroised that could not be removed: never taken again. */
	struct { dev_t dev; ino_t ino; } stuck[16];
	uint32_t stuck_pos;

	char problem[ALARM_TEXT_MAX];
	uint64_t problem_ms;
	struct keysrc_file_stats st;
};

enum kf_problem {
	KF_REFUSED,	/* a file on disk refused: mode, size, name */
	KF_MISMATCH,	/* the two ends disagree on a file */
};

static const struct alarm_desc kf_alarm[] = {
	[KF_REFUSED] = { .type = ALARM_PROCESSING,
			 .cause = "corruptData", .severity = ALARM_MAJOR },
	[KF_MISMATCH] = { .type = ALARM_COMMUNICATIONS,
			  .cause = "communicationsProtocolError",
			  .severity = ALARM_MAJOR },
};

static struct keysrc_file *to_kf(struct keysrc *src)
{
	return (struct keysrc_file *)src;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* An operator-facing problem: logged once per text, alarm raised. */
static void problem(struct keysrc_file *s, enum kf_problem kind,
		    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct keysrc_file *s, enum kf_problem kind,
		    const char *fmt, ...)
{
	char text[ALARM_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (strcmp(text, s->problem)) {
		log_warn("link %s: %s", s->link, text);
		snprintf(s->problem, sizeof(s->problem), "%s", text);
	}
	s->problem_ms = loop_now_ms();
	alarm_raise_desc(s->alarm_src, &kf_alarm[kind], "%s", text);
}

/* ---- names ---- */

bool keysrc_file_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= KEYSRC_FILE_NAME_MAX || name[0] == '.')
		return false;
	for (; *name; name++) {
		unsigned char c = (unsigned char)*name;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* A decimal number 0..@max, no sign, no leading zero; end in @end. */
static int parse_num(const char *s, uint32_t max, uint32_t *out,
		     const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' &&
				     p[1] <= '9'))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return -1;
	}
	*out = (uint32_t)v;
	*end = p;
	return 0;
}

int keysrc_file_parse_id(const char *id, char *name, uint32_t *idx,
			 uint32_t *n)
{
	const char *slash = strchr(id, '/'), *p;
	size_t len;

	if (!slash)
		return -1;
	len = (size_t)(slash - id);
	if (len == 0 || len >= KEYSRC_FILE_NAME_MAX)
		return -1;
	memcpy(name, id, len);
	name[len] = '\0';
	if (!keysrc_file_name_ok(name) ||
	    parse_num(slash + 1, KEYSRC_FILE_MAX_BLOCKS, idx, &p) ||
	    *p != '/' ||
	    parse_num(p + 1, KEYSRC_FILE_MAX_BLOCKS, n, &p) || *p ||
	    *n == 0 || *idx >= *n) {
		name[0] = '\0';
		return -1;
	}
	return 0;
}

/* ---- files ---- */

static void file_free(struct keysrc_file *s, struct kf_file *f)
{
	if (!f)
		return;
	OPENSSL_secure_clear_free(f->bytes, (size_t)f->n * s->src.block_size);
	free(f);
}

static void file_remove(struct keysrc_file *s, uint32_t i)
{
	file_free(s, s->files[i]);
	memmove(s->files + i, s->files + i + 1,
		(s->n_files - i - 1) * sizeof(s->files[0]));
	s->files[--s->n_files] = NULL;
}

static struct kf_file *file_find(struct keysrc_file *s, const char *name,
				 uint32_t *pos)
{
	for (uint32_t i = 0; i < s->n_files; i++) {
		if (!strcmp(s->files[i]->name, name)) {
			if (pos)
				*pos = i;
			return s->files[i];
		}
	}
	return NULL;
}

/*
 * Overwrite the file @name, the one @st describes, with zeros, flush it to
 * disk and unlink it: the key must not stay readable on the medium.  It is
 * opened for writing only here: closing a file opened so is an
 * IN_CLOSE_WRITE, which for a file left in place would start it all again.
 */
static void wipe(struct keysrc_file *s, const char *name,
		 const struct stat *st)
{
	static const uint8_t zero[4096];
	off_t off = 0, size = st->st_size;
	struct stat now;
	int fd;

	fd = openat(s->dirfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &now) < 0 || now.st_ino != st->st_ino ||
	    now.st_dev != st->st_dev) {
		/* Replaced meanwhile: not the file read; left alone. */
		log_warn("link %s: key file %s/%s changed while read: not removed",
			 s->link, s->dir, name);
		if (fd >= 0)
			close(fd);
		return;
	}

	while (off < size) {
		size_t k = size - off < (off_t)sizeof(zero) ?
			   (size_t)(size - off) : sizeof(zero);
		ssize_t w = pwrite(fd, zero, k, off);

		if (w <= 0) {
			log_warn("link %s: key file %s/%s: cannot overwrite: %s",
				 s->link, s->dir, name,
				 w < 0 ? strerror(errno) : "short write");
			break;
		}
		off += w;
	}
	if (fsync(fd) < 0)
		log_warn("link %s: key file %s/%s: fsync: %s", s->link,
			 s->dir, name, strerror(errno));
	if (unlinkat(s->dirfd, name, 0) < 0) {
		problem(s, KF_REFUSED, "key file %s/%s: cannot remove it: %s (zeroised)",
			s->dir, name, strerror(errno));
		s->stuck[s->stuck_pos].dev = st->st_dev;
		s->stuck[s->stuck_pos].ino = st->st_ino;
		s->stuck_pos = (s->stuck_pos + 1) % 16;
	}
	close(fd);
}

static void tx_step(struct keysrc_file *s);
static void rx_run(struct keysrc_file *s);

/* Take the file @name from the directory, if it is one to take. */
static void intake(struct keysrc_file *s, const char *name)
{
	uint32_t bs = s->src.block_size;
	struct kf_file *f;
	struct stat st;
	uint8_t *bytes;
	size_t got = 0;
	int fd;

	if (name[0] == '.')
		return;		/* a file still being written, by convention */
	if (!keysrc_file_name_ok(name)) {
		problem(s, KF_REFUSED, "key file %s/%s refused: a name of up to %d letters, digits, '.', '_' or '-' is expected; left in place",
			s->dir, name, KEYSRC_FILE_NAME_MAX - 1);
		return;
	}
	if (s->n_files == KF_MAX_FILES) {
		s->rescan = true;	/* taken once some are agreed */
		return;
	}
	fd = openat(s->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno != ENOENT)	/* ENOENT: gone, or our own wipe */
			problem(s, KF_REFUSED, "key file %s/%s: cannot open: %s",
				s->dir, name, strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		problem(s, KF_REFUSED, "key file %s/%s refused: not a regular file; left in place",
			s->dir, name);
		goto out;
	}
	for (uint32_t i = 0; i < 16; i++)
		if (s->stuck[i].ino == st.st_ino && s->stuck[i].dev == st.st_dev)
			goto out;	/* our zeros, not key */
	if (st.st_mode & 077) {
		/* Someone else may have read it: it is not key any more.
		 * Left for the operator to look at. */
		problem(s, KF_REFUSED, "key file %s/%s refused: mode %04o lets group or others at it (0600 expected); left in place",
			s->dir, name, (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	if (file_find(s, name, NULL)) {
		problem(s, KF_REFUSED, "key file %s/%s refused: a file of that name is already held; zeroised and removed",
			s->dir, name);
		wipe(s, name, &st);
		s->st.files_refused++;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size % bs ||
	    st.st_size / bs > KEYSRC_FILE_MAX_BLOCKS) {
		problem(s, KF_REFUSED, "key file %s/%s refused: %lld bytes is not 1..%u blocks of block_size %u; zeroised and removed",
			s->dir, name, (long long)st.st_size,
			KEYSRC_FILE_MAX_BLOCKS, bs);
		wipe(s, name, &st);
		s->st.files_refused++;
		goto out;
	}
	f = calloc(1, sizeof(*f));
	bytes = OPENSSL_secure_malloc((size_t)st.st_size);
	if (!f || !bytes) {
		/* Left on disk: taken at the next scan. */
		free(f);
		OPENSSL_secure_free(bytes);
		log_warn("link %s: key file %s/%s: out of (secure) memory; left for later",
			 s->link, s->dir, name);
		s->rescan = true;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = pread(fd, bytes + got, (size_t)st.st_size - got,
				  (off_t)got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got != (size_t)st.st_size) {
		problem(s, KF_REFUSED, "key file %s/%s refused: shorter than its size (being written?); zeroised and removed",
			s->dir, name);
		OPENSSL_secure_clear_free(bytes, (size_t)st.st_size);
		free(f);
		wipe(s, name, &st);
		s->st.files_refused++;
		goto out;
	}
	wipe(s, name, &st);
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->bytes = bytes;
	f->n = (uint32_t)(st.st_size / bs);
	f->since_ms = loop_now_ms();
	f->gen_ns = realtime_ns();
	s->files[s->n_files++] = f;
	log_info("link %s: key file %s: %u block(s) read", s->link, name,
		 f->n);
out:
	close(fd);
	if (s->src.role == QKD_ROLE_TX)
		tx_step(s);
	else
		rx_run(s);
}

void keysrc_file_scan(struct keysrc *src)
{
	struct keysrc_file *s = to_kf(src);
	int fd = dup(s->dirfd);
	struct dirent *de;
	DIR *d;

	s->rescan = false;
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		log_warn("link %s: cannot read %s: %s", s->link, s->dir,
			 strerror(errno));
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)))
		if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN ||
		    de->d_type == DT_LNK)
			intake(s, de->d_name);
	closedir(d);
}

static void on_inotify(void *arg, uint32_t revents)
{
	struct keysrc_file *s = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(s->inofd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				s->rescan = true;
			else if (ev->len && ev->name[0])
				intake(s, ev->name);
			p += sizeof(*ev) + ev->len;
		}
	}
	if (s->rescan)
		keysrc_file_scan(&s->src);
}

/* ---- store ---- */

/* Block @id with a copy of @bytes; 0 or -errno. */
static int store_add(struct keysrc_file *s, uint64_t id, const uint8_t *bytes,
		     uint64_t gen_ns, bool ready)
{
	uint8_t *copy = OPENSSL_secure_malloc(s->src.block_size);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, bytes, s->src.block_size);
	return blkstore_add(&s->store, id, copy, gen_ns, ready);
}

/* ---- keysrc ops ---- */

static uint64_t kf_avail(struct keysrc *src)
{
	return to_kf(src)->store.own_avail;
}

static bool kf_is_up(struct keysrc *src)
{
	return true;
}

static int kf_alloc(struct keysrc *src, uint32_t len, uint32_t count,
		    struct keysrc_key *keys, uint8_t *bytes,
		    char *err, size_t errlen)
{
	return blkstore_alloc(&to_kf(src)->store, len, count, keys, bytes,
			      err, errlen);
}

static int kf_get(struct keysrc *src, uint64_t key_id, uint32_t len,
		  uint8_t *out, uint64_t *gen_time_ns, char *err,
		  size_t errlen)
{
	return blkstore_get(&to_kf(src)->store, key_id, len, out,
			    gen_time_ns, err, errlen);
}

static int kf_discard(struct keysrc *src, uint64_t key_id, uint32_t len)
{
	return blkstore_discard(&to_kf(src)->store, key_id, len);
}

/* ---- tx: announce each file's blocks, in order ---- */

static bool kx_up(struct keysrc_file *s)
{
	return s->kx.send && (!s->kx.is_up || s->kx.is_up(s->kx_arg, s->peer));
}

static void tx_drop_batch(struct keysrc_file *s, uint32_t i)
{
	struct kf_await *a = &s->await[i];

	for (uint32_t j = 0; j < a->n; j++)
		blkstore_finish(&s->store, blkstore_find(&s->store, a->first + j));
	blkstore_gc(&s->store);
	memmove(s->await + i, s->await + i + 1,
		(s->await_n - i - 1) * sizeof(s->await[0]));
	s->await_n--;
}

/* A batch of file @name was refused: the rest of it goes too. */
static void tx_drop_file(struct keysrc_file *s, const char *name)
{
	uint32_t pos;

	if (file_find(s, name, &pos))
		file_remove(s, pos);
	for (uint32_t i = 0; i < s->await_n;) {
		if (strcmp(s->await[i].name, name))
			i++;
		else
			tx_drop_batch(s, i);
	}
}

/* Announce the next blocks of the oldest file, while there is room. */
static void tx_step(struct keysrc_file *s)
{
	struct kf_await *a;
	struct kf_file *f;
	struct kxmsg *m;
	uint32_t k, i;

	if (s->src.role != QKD_ROLE_TX || !kx_up(s))
		return;
	m = calloc(1, sizeof(*m));
	if (!m)
		return;
	while (s->n_files && s->await_n < KF_INFLIGHT) {
		f = s->files[0];
		a = &s->await[s->await_n];
		kxmsg_clear(m, KXMSG_SRC_KEYS);
		snprintf(m->link, sizeof(m->link), "%s", s->link);
		k = f->n - f->next;
		if (k > KXMSG_MAX_SRC_KEYS)
			k = KXMSG_MAX_SRC_KEYS;
		a->first = s->next_block;
		snprintf(a->name, sizeof(a->name), "%s", f->name);
		for (i = 0; i < k; i++) {
			uint32_t idx = f->next + i;

			if (store_add(s, s->next_block, f->bytes +
				      (size_t)idx * s->src.block_size,
				      f->gen_ns, false))
				break;
			m->src_keys[i].block = s->next_block++;
			m->src_keys[i].len = s->src.block_size;
			snprintf(m->src_keys[i].key_id,
				 sizeof(m->src_keys[i].key_id), "%s/%u/%u",
				 f->name, idx, f->n);
		}
		m->n_src_keys = a->n = i;
		s->await_n++;
		if (!i || s->kx.send(s->kx_arg, s->peer, m)) {
			/* Not sent: tried again later, under new block IDs
			 * (the ring keeps them ascending). */
			tx_drop_batch(s, s->await_n - 1);
			break;
		}
		/* The rx end waits wait_ms for the file, then answers. */
		a->deadline_ms = loop_now_ms() + 2ull * s->wait_ms;
		f->next += i;
		if (f->next == f->n)
			file_remove(s, 0);	/* its blocks are in the store */
	}
	free(m);
}

static void tx_ack(struct keysrc_file *s, const struct kxmsg *m)
{
	struct kf_await *a = NULL;
	char name[KEYSRC_FILE_NAME_MAX];
	uint32_t i;

	for (i = 0; i < s->await_n && !a; i++)
		if (s->await[i].first == m->key_id &&
		    s->await[i].n == m->seq)
			a = &s->await[i];
	if (!a)
		return;		/* an answer to a batch given up on */
	i--;
	snprintf(name, sizeof(name), "%s", a->name);
	if (m->code == KXC_OK) {
		for (uint32_t j = 0; j < a->n; j++)
			blkstore_ready(&s->store, blkstore_find(&s->store, a->first + j));
		memmove(s->await + i, s->await + i + 1,
			(s->await_n - i - 1) * sizeof(s->await[0]));
		s->await_n--;
		/* A file counts as taken once its last block is agreed. */
		if (!file_find(s, name, NULL)) {
			for (i = 0; i < s->await_n; i++)
				if (!strcmp(s->await[i].name, name))
					break;
			if (i == s->await_n)
				s->st.files_taken++;
		}
	} else {
		problem(s, KF_MISMATCH, "key file %s refused by %s: %s; zeroised at both ends",
			name, s->peer,
			m->text[0] ? m->text : kxmsg_code_name(m->code));
		tx_drop_file(s, name);
		s->st.files_refused++;
	}
	tx_step(s);
}

/* ---- rx: take the blocks of the file announced ---- */

static void rx_answer(struct keysrc_file *s, uint64_t first, uint32_t n,
		      uint32_t code, const char *text)
{
	struct kxmsg m;

	kxmsg_clear(&m, KXMSG_SRC_ACK);
	snprintf(m.link, sizeof(m.link), "%s", s->link);
	m.key_id = first;
	m.seq = n;
	m.code = code;
	if (text)
		snprintf(m.text, sizeof(m.text), "%s", text);
	if (s->kx.send)
		s->kx.send(s->kx_arg, s->peer, &m);
}

static void rx_refuse(struct keysrc_file *s, const struct kf_batch *bt,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void rx_refuse(struct keysrc_file *s, const struct kf_batch *bt,
		      const char *fmt, ...)
{
	char text[KXMSG_TEXT_MAX];
	uint32_t pos;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	problem(s, KF_MISMATCH, "key file %s from %s refused: %s; zeroised",
		bt->name[0] ? bt->name : "?", s->peer, text);
	if (bt->name[0] && file_find(s, bt->name, &pos))
		file_remove(s, pos);
	s->st.files_refused++;
	rx_answer(s, bt->keys[0].block, bt->n, KXC_MODULE_MISMATCH, text);
}

/* The announced file is here: 0 if its blocks are stored (answered). */
static void rx_take(struct keysrc_file *s, const struct kf_batch *bt,
		    struct kf_file *f, uint32_t pos)
{
	uint32_t i;

	if (f->n != bt->count) {
		rx_refuse(s, bt, "%u blocks at %s, %u here", bt->count,
			  s->peer, f->n);
		return;
	}
	if (bt->idx != f->next) {
		rx_refuse(s, bt, "blocks from %u announced, %u expected",
			  bt->idx, f->next);
		return;
	}
	for (i = 0; i < bt->n; i++) {
		if (store_add(s, bt->keys[i].block, f->bytes +
			      (size_t)(bt->idx + i) * s->src.block_size,
			      f->gen_ns, true))
			break;
	}
	if (i < bt->n) {
		for (uint32_t j = 0; j < i; j++)
			blkstore_finish(&s->store, blkstore_find(&s->store,
						bt->keys[j].block));
		blkstore_gc(&s->store);
		rx_refuse(s, bt, "out of memory");
		return;
	}
	s->last_block = bt->keys[bt->n - 1].block;
	f->next += bt->n;
	f->since_ms = loop_now_ms();
	if (f->next == f->n) {
		file_remove(s, pos);
		s->st.files_taken++;
	}
	rx_answer(s, bt->keys[0].block, bt->n, KXC_OK, NULL);
}

static void rxq_pop(struct keysrc_file *s, uint32_t i)
{
	free(s->rxq[i]);
	memmove(s->rxq + i, s->rxq + i + 1,
		(s->rxq_n - i - 1) * sizeof(s->rxq[0]));
	s->rxq[--s->rxq_n] = NULL;
}

/*
 * Take the announcements in order: the oldest once its file is here, or
 * refused once it has waited wait_ms for it.
 */
static void rx_run(struct keysrc_file *s)
{
	struct kf_file *f;
	uint32_t pos;

	while (s->rxq_n) {
		struct kf_batch *bt = s->rxq[0];

		if ((f = file_find(s, bt->name, &pos)))
			rx_take(s, bt, f, pos);
		else if (loop_now_ms() >= bt->deadline_ms)
			rx_refuse(s, bt, "no such file here after %u ms",
				  s->wait_ms);
		else
			break;
		rxq_pop(s, 0);
	}
}

static void rx_batch(struct keysrc_file *s, const struct kxmsg *m)
{
	struct kf_batch *bt = calloc(1, sizeof(*bt));
	const char *why = NULL;

	if (!bt)
		return;
	bt->n = m->n_src_keys;
	memcpy(bt->keys, m->src_keys, bt->n * sizeof(bt->keys[0]));
	if (s->src.role == QKD_ROLE_TX)
		why = "both ends of the link have role = tx";
	for (uint32_t i = 0; i < bt->n && !why; i++) {
		const struct kxmsg_src_key *k = &bt->keys[i];
		char name[KEYSRC_FILE_NAME_MAX];
		uint32_t idx, cnt;

		if (keysrc_file_parse_id(k->key_id, name, &idx, &cnt))
			why = "not a key file's key_ID";
		else if (i == 0) {
			snprintf(bt->name, sizeof(bt->name), "%s", name);
			bt->idx = idx;
			bt->count = cnt;
		} else if (strcmp(name, bt->name) || cnt != bt->count ||
			   idx != bt->idx + i) {
			why = "blocks of a file out of sequence";
		}
		if (!why && (k->block != bt->keys[0].block + i ||
			     k->block <= s->last_block ||
			     k->block >= 1ull << 48))
			why = "block IDs out of sequence";
		else if (!why && k->len != s->src.block_size)
			why = "block size differs between the two ends";
	}
	if (!why && s->rxq_n == KF_INFLIGHT)
		why = "too many files announced and not here";
	if (why) {
		rx_refuse(s, bt, "%s", why);
		free(bt);
		return;
	}
	/* Later announcements are checked against this one's IDs. */
	s->last_block = bt->keys[bt->n - 1].block;
	bt->deadline_ms = loop_now_ms() + s->wait_ms;
	s->rxq[s->rxq_n++] = bt;
	rx_run(s);
}

void keysrc_file_receive(struct keysrc *src, const struct kxmsg *m)
{
	struct keysrc_file *s = to_kf(src);

	if (m->type == KXMSG_SRC_ACK && s->src.role == QKD_ROLE_TX)
		tx_ack(s, m);
	else if (m->type == KXMSG_SRC_KEYS && m->n_src_keys)
		rx_batch(s, m);
}

/* ---- the tick ---- */

void keysrc_file_tick(struct keysrc *src)
{
	struct keysrc_file *s = to_kf(src);
	uint64_t now = loop_now_ms();
	uint32_t i = 0;

	if (s->await_n && now >= s->await[0].deadline_ms) {
		char name[KEYSRC_FILE_NAME_MAX];

		snprintf(name, sizeof(name), "%s", s->await[0].name);
		problem(s, KF_MISMATCH, "key file %s: no answer from %s; zeroised",
			name, s->peer);
		tx_drop_file(s, name);
		s->st.files_refused++;
	}
	rx_run(s);
	/* rx: a file the tx end never announced has no twin there. */
	for (i = 0; s->src.role == QKD_ROLE_RX && i < s->n_files;) {
		struct kf_file *f = s->files[i];

		if (now - f->since_ms < s->wait_ms) {
			i++;
			continue;
		}
		problem(s, KF_MISMATCH, "key file %s: not announced by %s within %u ms; zeroised",
			f->name, s->peer, s->wait_ms);
		s->st.files_refused++;
		file_remove(s, i);
	}
	/* Not now - problem_ms: a problem raised in this tick is newer. */
	if (s->problem[0] && now >= s->problem_ms + KF_ALARM_HOLD_MS) {
		s->problem[0] = '\0';
		alarm_clear(s->alarm_src);
	}
	if (s->rescan && s->n_files < KF_MAX_FILES)
		keysrc_file_scan(src);
	tx_step(s);
}

static void on_tick(void *arg)
{
	keysrc_file_tick(arg);
}

void keysrc_file_set_kx(struct keysrc *src,
			const struct keysrc_etsi014_kx *kx, void *arg)
{
	struct keysrc_file *s = to_kf(src);

	s->kx = *kx;
	s->kx_arg = arg;
	tx_step(s);	/* the files taken at start */
}

void keysrc_file_stats(struct keysrc *src, struct keysrc_file_stats *out)
{
	struct keysrc_file *s = to_kf(src);

	*out = s->st;
	out->files_waiting = s->n_files + s->rxq_n;
	out->blocks_held = s->store.own_held + s->store.peer_held;
}

/* ---- construction ---- */

static void kf_free(struct keysrc *src)
{
	struct keysrc_file *s = to_kf(src);

	loop_timer_del(s->tick);
	if (s->ino_watch)
		loop_watch_del(s->ino_watch);
	if (s->inofd >= 0)
		close(s->inofd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	while (s->n_files)
		file_remove(s, s->n_files - 1);
	while (s->rxq_n)
		rxq_pop(s, s->rxq_n - 1);
	blkstore_free(&s->store);
	if (s->alarm_src[0])
		alarm_clear(s->alarm_src);
	free(s);
}

static const struct keysrc_ops kf_ops = {
	.alloc = kf_alloc,
	.get = kf_get,
	.discard = kf_discard,
	.avail = kf_avail,
	.is_up = kf_is_up,
	.free = kf_free,
};

struct keysrc *keysrc_file_new(struct loop *loop,
			       const struct keysrc_file_cfg *cfg,
			       char *err, size_t errlen)
{
	struct keysrc_file *s;

	if ((cfg->role != QKD_ROLE_TX && cfg->role != QKD_ROLE_RX) ||
	    cfg->block_size < 16 || cfg->block_size > QKD_BLOCK_SIZE_MAX ||
	    !cfg->wait_ms || !cfg->dir) {
		snprintf(err, errlen, "file link: bad parameters");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->src.ops = &kf_ops;
	s->src.kind = "file";
	s->src.role = cfg->role;
	s->src.block_size = cfg->block_size;
	s->loop = loop;
	s->dirfd = s->inofd = -1;
	s->wait_ms = cfg->wait_ms;
	snprintf(s->link, sizeof(s->link), "%s", cfg->link_name);
	snprintf(s->peer, sizeof(s->peer), "%s", cfg->peer);
	snprintf(s->where, sizeof(s->where), "%s",
		 cfg->where ? cfg->where : cfg->link_name);
	snprintf(s->dir, sizeof(s->dir), "%s", cfg->dir);
	/*
	 * Block IDs never repeat across restarts of the tx end: they start
	 * from the wall clock, on an even block, as the etsi014 source's.
	 */
	s->next_block = (realtime_ns() / 1000000ull) << 6;
	if (blkstore_init(&s->store, &s->src, KF_STORE_BLOCKS)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	s->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	if (s->dirfd < 0) {
		snprintf(err, errlen, "%s: key_dir '%s': %s", s->where,
			 cfg->dir, strerror(errno));
		goto fail;
	}
	s->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->inofd < 0 ||
	    inotify_add_watch(s->inofd, cfg->dir, IN_CLOSE_WRITE |
			      IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW) < 0) {
		snprintf(err, errlen, "%s: key_dir '%s': inotify: %s",
			 s->where, cfg->dir, strerror(errno));
		goto fail;
	}
	s->ino_watch = loop_watch_add(loop, s->inofd, POLLIN, on_inotify, s);
	s->tick = loop_timer_add(loop, KF_TICK_MS, true, on_tick, s);
	if (!s->ino_watch || !s->tick) {
		snprintf(err, errlen, "loop: %s", strerror(errno));
		goto fail;
	}
	snprintf(s->alarm_src, sizeof(s->alarm_src), "file:%s",
		 cfg->link_name);
	keysrc_file_scan(&s->src);
	return &s->src;
fail:
	kf_free(&s->src);
	return NULL;
}
