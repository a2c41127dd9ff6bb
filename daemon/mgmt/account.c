// SPDX-License-Identifier: GPL-2.0
/*
 * Accounting: counts from the KSA hook, the journal and the interval log
 * (account.h).  Everything runs on the event loop; the files are written
 * with plain write(2), one frame per call, so that a frame is either in the
 * kernel's page cache whole or (crash in the middle) torn, which the CRC
 * tells.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/loop.h"
#include "mgmt/account.h"

#define ACCT_MAGIC0	'Q'
#define ACCT_MAGIC1	'A'
#define ACCT_VERSION	1	/* an SAE pair's record */
#define ACCT_VERSION_CONSUMER 2	/* a consumer's: a third name, the link */
#define ACCT_MAX_COUNTERS 64
#define ACCT_MAX_PAIRS	65536
#define ACCT_FILE_MAX	(1ULL << 32)	/* read at start: 4 GiB at most */

const char *const acct_reason_names[ACCT_R_N] = {
	[ACCT_R_UNAUTHORIZED] = "unauthorized",
	[ACCT_R_UNKNOWN_SAE] = "unknown_sae",
	[ACCT_R_BAD_REQUEST] = "bad_request",
	[ACCT_R_NOT_FOUND] = "not_found",
	[ACCT_R_OUT_OF_KEYS] = "out_of_keys",
	[ACCT_R_UNREACHABLE] = "unreachable",
	[ACCT_R_UNAVAILABLE] = "unavailable",
	[ACCT_R_UNDELIVERED] = "undelivered",
};

/* ---- records ------------------------------------------------------------ */

/* CRC-32 (IEEE 802.3, as zlib's crc32()), a byte at a time: one record
 * per answer is on the enc_keys path. */
static uint32_t crc_table[256];

static void crc_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
		crc_table[i] = c;
	}
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	if (!crc_table[1])
		crc_table_init();
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* The counters in record order. */
static void counts_to_array(const struct acct_counts *c, uint64_t *v)
{
	v[0] = c->enc_keys;
	v[1] = c->enc_bits;
	v[2] = c->dec_keys;
	v[3] = c->dec_bits;
	v[4] = c->relayed_keys;
	v[5] = c->relayed_bits;
	v[6] = c->requests;
	v[7] = c->enc_refused;
	v[8] = c->dec_refused;
	for (int i = 0; i < ACCT_R_N; i++)
		v[9 + i] = c->refused[i];
}

static void counts_from_array(struct acct_counts *c, const uint64_t *v)
{
	c->enc_keys = v[0];
	c->enc_bits = v[1];
	c->dec_keys = v[2];
	c->dec_bits = v[3];
	c->relayed_keys = v[4];
	c->relayed_bits = v[5];
	c->requests = v[6];
	c->enc_refused = v[7];
	c->dec_refused = v[8];
	for (int i = 0; i < ACCT_R_N; i++)
		c->refused[i] = v[9 + i];
}

void acct_counts_add(struct acct_counts *to, const struct acct_counts *c)
{
	uint64_t a[ACCT_NCOUNTERS], b[ACCT_NCOUNTERS];

	counts_to_array(to, a);
	counts_to_array(c, b);
	for (int i = 0; i < ACCT_NCOUNTERS; i++)
		a[i] += b[i];
	counts_from_array(to, a);
}

static size_t put_name(uint8_t *p, const char *s)
{
	size_t n = strnlen(s, KSA_SAE_ID_MAX - 1);

	p[0] = (uint8_t)n;
	memcpy(p + 1, s, n);
	return n + 1;
}

size_t acct_record_encode(const struct acct_record *r, uint8_t *buf)
{
	uint64_t v[ACCT_NCOUNTERS];
	uint8_t *p = buf + ACCT_HDR_LEN;
	size_t plen;
	uint32_t crc;

	*p++ = r->link[0] ? ACCT_VERSION_CONSUMER : ACCT_VERSION;
	*p++ = r->type;
	put_u64(p, r->seq);
	put_u64(p + 8, r->start);
	put_u64(p + 16, r->end);
	p += 24;
	p += put_name(p, r->master);
	p += put_name(p, r->slave);
	if (r->link[0])
		p += put_name(p, r->link);
	*p++ = ACCT_NCOUNTERS;
	counts_to_array(&r->c, v);
	for (int i = 0; i < ACCT_NCOUNTERS; i++, p += 8)
		put_u64(p, v[i]);
	plen = (size_t)(p - buf) - ACCT_HDR_LEN;
	crc = crc32_ieee(buf + ACCT_HDR_LEN, plen);
	buf[0] = ACCT_MAGIC0;
	buf[1] = ACCT_MAGIC1;
	buf[2] = (uint8_t)plen;
	buf[3] = (uint8_t)(plen >> 8);
	for (int i = 0; i < 4; i++)
		buf[4 + i] = (uint8_t)(crc >> (8 * i));
	return ACCT_HDR_LEN + plen;
}

/* An SAE ID as the config allows: 1..127 printable bytes. */
static int get_name(const uint8_t **p, const uint8_t *end, char *out)
{
	size_t n;

	if (*p >= end)
		return -1;
	n = **p;
	if (n == 0 || n >= KSA_SAE_ID_MAX || (size_t)(end - *p - 1) < n)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((*p)[1 + i] < 0x21 || (*p)[1 + i] > 0x7e)
			return -1;
	memcpy(out, *p + 1, n);
	out[n] = '\0';
	*p += n + 1;
	return 0;
}

long acct_record_decode(const uint8_t *buf, size_t len, struct acct_record *r)
{
	uint64_t v[ACCT_NCOUNTERS] = { 0 };
	const uint8_t *p, *end;
	size_t plen, n;
	uint32_t crc;
	bool consumer;

	if (len < 2)
		return (len == 0 || buf[0] == ACCT_MAGIC0) ? 0 : -1;
	if (buf[0] != ACCT_MAGIC0 || buf[1] != ACCT_MAGIC1)
		return -1;
	if (len < ACCT_HDR_LEN)
		return 0;
	plen = (size_t)buf[2] | (size_t)buf[3] << 8;
	if (plen < 1 + 1 + 24 + 2 + 2 + 1 ||
	    ACCT_HDR_LEN + plen > ACCT_FRAME_MAX)
		return -1;
	if (len < ACCT_HDR_LEN + plen)
		return 0;
	crc = (uint32_t)buf[4] | (uint32_t)buf[5] << 8 |
	      (uint32_t)buf[6] << 16 | (uint32_t)buf[7] << 24;
	p = buf + ACCT_HDR_LEN;
	end = p + plen;
	if (crc32_ieee(p, plen) != crc)
		return -1;
	memset(r, 0, sizeof(*r));
	if ((p[0] != ACCT_VERSION && p[0] != ACCT_VERSION_CONSUMER) ||
	    p[1] < ACCT_REC_EVENT || p[1] > ACCT_REC_CLOSE)
		return -1;
	consumer = p[0] == ACCT_VERSION_CONSUMER;
	r->type = p[1];
	r->seq = get_u64(p + 2);
	r->start = get_u64(p + 10);
	r->end = get_u64(p + 18);
	p += 26;
	if (!r->seq || r->start > r->end || get_name(&p, end, r->master) ||
	    get_name(&p, end, r->slave) ||
	    (consumer && get_name(&p, end, r->link)) || p >= end)
		return -1;
	n = *p++;
	/* A later version may append counters; those are not known here. */
	if (n < ACCT_NCOUNTERS || n > ACCT_MAX_COUNTERS ||
	    (size_t)(end - p) != n * 8)
		return -1;
	for (size_t i = 0; i < ACCT_NCOUNTERS; i++)
		v[i] = get_u64(p + 8 * i);
	counts_from_array(&r->c, v);
	return (long)(ACCT_HDR_LEN + plen);
}

size_t acct_scan(const uint8_t *buf, size_t len,
		 void (*fn)(void *arg, const struct acct_record *r,
			    size_t end),
		 void *arg, size_t *skipped)
{
	struct acct_record r;
	size_t off = 0, good = 0;
	long n;

	*skipped = 0;
	while (off < len) {
		n = acct_record_decode(buf + off, len - off, &r);
		if (n > 0) {
			off += (size_t)n;
			if (fn)
				fn(arg, &r, off);
			good = off;
			continue;
		}
		/* Torn or corrupt: look for the next frame that decodes. */
		off++;
		(*skipped)++;
	}
	return good;
}

/* ---- the accounting state ---------------------------------------------- */

/* An SAE pair, or a consumer (link not ""). */
struct acct_pair {
	char master[KSA_SAE_ID_MAX], slave[KSA_SAE_ID_MAX];
	char link[KSA_SAE_ID_MAX];
	struct acct_counts total, open;
	bool active;			/* something in the open interval */
};

struct acct_hist {
	uint64_t seq, start, end;
	uint32_t pair;
	struct acct_counts c;
};

/* Journal frames gathered in one loop pass (a write(2) per pass). */
#define ACCT_JBUF	(64 * 1024)

struct account {
	struct loop *loop;
	struct loop_timer *timer;
	struct loop_task flush;		/* writes jbuf at the end of the pass */
	uint8_t *jbuf;
	size_t jlen;
	uint32_t interval_s;
	char log_path[KM_PATH_MAX + 32], journal_path[KM_PATH_MAX + 32];
	int log_fd, journal_fd;
	struct acct_pair *pairs;
	size_t n_pairs, cap_pairs;
	size_t last_pair;		/* lookup cache */
	struct acct_hist *hist;		/* ring of ACCT_HISTORY */
	size_t hist_head, n_hist;
	uint64_t seq, start;		/* the open interval */
	uint64_t last_closed;		/* highest seq in the log */
	struct log_ratelimit write_warn;
	/* start-up: records waiting for their interval's CLOSE, the end of
	 * the log's last CLOSE, the journal's intervals not in the log */
	struct acct_record *staged;
	size_t n_staged, cap_staged;
	size_t log_good;
	uint64_t rec_seq, rec_start, rec_end;
};

static uint64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

static bool pair_is(const struct acct_pair *p, const char *master,
		    const char *slave, const char *link)
{
	return !strcmp(p->master, master) && !strcmp(p->slave, slave) &&
	       !strcmp(p->link, link);
}

static struct acct_pair *pair_get(struct account *a, const char *master,
				  const char *slave, const char *link)
{
	struct acct_pair *p;

	if (a->last_pair < a->n_pairs) {
		p = &a->pairs[a->last_pair];
		if (pair_is(p, master, slave, link))
			return p;
	}
	for (size_t i = 0; i < a->n_pairs; i++) {
		p = &a->pairs[i];
		if (pair_is(p, master, slave, link)) {
			a->last_pair = i;
			return p;
		}
	}
	if (a->n_pairs == a->cap_pairs) {
		size_t cap = a->cap_pairs ? 2 * a->cap_pairs : 16;

		if (cap > ACCT_MAX_PAIRS)
			return NULL;
		p = realloc(a->pairs, cap * sizeof(*p));
		if (!p)
			return NULL;
		a->pairs = p;
		a->cap_pairs = cap;
	}
	p = &a->pairs[a->n_pairs];
	memset(p, 0, sizeof(*p));
	snprintf(p->master, sizeof(p->master), "%s", master);
	snprintf(p->slave, sizeof(p->slave), "%s", slave);
	snprintf(p->link, sizeof(p->link), "%s", link);
	a->last_pair = a->n_pairs++;
	return p;
}

static void hist_add(struct account *a, const struct acct_record *r,
		     const struct acct_pair *p)
{
	struct acct_hist *h;

	if (a->n_hist < ACCT_HISTORY) {
		h = &a->hist[(a->hist_head + a->n_hist++) % ACCT_HISTORY];
	} else {
		h = &a->hist[a->hist_head];
		a->hist_head = (a->hist_head + 1) % ACCT_HISTORY;
	}
	h->seq = r->seq;
	h->start = r->start;
	h->end = r->end;
	h->pair = (uint32_t)(p - a->pairs);
	h->c = r->c;
}

/* One whole frame per write(2); a short write is retried for the rest. */
static int write_frame(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static uint8_t *read_all(int fd, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;
	ssize_t n;

	if (fstat(fd, &st) || (uint64_t)st.st_size > ACCT_FILE_MAX)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return NULL;
	while (off < (size_t)st.st_size) {
		n = pread(fd, buf + off, (size_t)st.st_size - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	*len = off;
	return buf;
}

/*
 * Write the journal frames of this loop pass.  The loop runs its tasks
 * before it submits the pass's socket sends, so an answer's event reaches
 * the kernel before the answer does (Documentation/qkd/accounting.rst).
 */
static void journal_flush(void *arg)
{
	struct account *a = arg;

	if (a->jlen && write_frame(a->journal_fd, a->jbuf, a->jlen))
		log_ratelimited(&a->write_warn, LOG_LVL_ERR,
				"accounting: %s: %s (counted in memory only)",
				a->journal_path, strerror(errno));
	a->jlen = 0;
}

/* The CLOSE record of interval @seq, over @sum. */
static void close_record(struct acct_record *r, uint64_t seq, uint64_t start,
			 uint64_t end, const struct acct_counts *sum)
{
	memset(r, 0, sizeof(*r));
	r->type = ACCT_REC_CLOSE;
	r->seq = seq;
	r->start = start;
	r->end = end;
	strcpy(r->master, "*");
	strcpy(r->slave, "*");
	r->c = *sum;
}

/*
 * Write the open interval's records (one per active pair, then its CLOSE
 * record) to the log in one write(2) and fsync it: only then is the
 * interval closed, its counts in the totals and the journal emptied.  At
 * start, records without their CLOSE are dropped (the journal still holds
 * their events).
 */
static int close_interval(struct account *a, uint64_t end)
{
	struct acct_counts sum = { 0 };
	struct acct_record r;
	size_t n = 0, len = 0;
	uint8_t *buf;
	off_t was;
	int rc;

	for (size_t i = 0; i < a->n_pairs; i++)
		n += a->pairs[i].active;
	if (!n)
		return 0;	/* nothing to bill: the interval goes on */
	/* Its events first: if the log write fails, the journal has them. */
	journal_flush(a);
	if (end < a->start)
		end = a->start;
	buf = malloc((n + 1) * ACCT_FRAME_MAX);
	if (!buf)
		return -1;
	for (size_t i = 0; i < a->n_pairs; i++) {
		struct acct_pair *p = &a->pairs[i];

		if (!p->active)
			continue;
		memset(&r, 0, sizeof(r));
		r.type = ACCT_REC_INTERVAL;
		r.seq = a->seq;
		r.start = a->start;
		r.end = end;
		snprintf(r.master, sizeof(r.master), "%s", p->master);
		snprintf(r.slave, sizeof(r.slave), "%s", p->slave);
		snprintf(r.link, sizeof(r.link), "%s", p->link);
		r.c = p->open;
		acct_counts_add(&sum, &p->open);
		len += acct_record_encode(&r, buf + len);
	}
	close_record(&r, a->seq, a->start, end, &sum);
	len += acct_record_encode(&r, buf + len);
	was = lseek(a->log_fd, 0, SEEK_END);
	rc = was < 0 ? -1 : write_frame(a->log_fd, buf, len);
	free(buf);
	if (!rc)
		rc = fsync(a->log_fd);
	if (rc) {
		/* The journal still holds the interval: a restart recovers it. */
		log_err("accounting: %s: %s; interval %llu stays open",
			a->log_path, strerror(errno),
			(unsigned long long)a->seq);
		if (was >= 0 && ftruncate(a->log_fd, was))
			log_err("accounting: %s: cannot cut a partial interval: %s",
				a->log_path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < a->n_pairs; i++) {
		struct acct_pair *p = &a->pairs[i];

		if (!p->active)
			continue;
		memset(&r, 0, sizeof(r));
		r.seq = a->seq;
		r.start = a->start;
		r.end = end;
		r.c = p->open;
		hist_add(a, &r, p);
		acct_counts_add(&p->total, &p->open);
		memset(&p->open, 0, sizeof(p->open));
		p->active = false;
	}
	a->last_closed = a->seq;
	a->seq++;
	a->start = end;
	/* Records of closed intervals are ignored at start anyway (their seq
	 * is in the log), so a failure here costs only space. */
	if (ftruncate(a->journal_fd, 0))
		log_warn("accounting: %s: %s", a->journal_path,
			 strerror(errno));
	return 0;
}

int account_close_interval(struct account *a)
{
	return close_interval(a, now_s());
}

static void on_timer(void *arg)
{
	struct account *a = arg;

	account_close_interval(a);
}

static void reason_count(struct acct_counts *c, const struct ksa_acct_event *ev)
{
	enum acct_reason r;

	switch (ev->result) {
	case KSA_UNAUTHORIZED:
		r = ACCT_R_UNAUTHORIZED;
		break;
	case KSA_BAD_REQUEST:
		r = ev->why == KSA_WHY_UNKNOWN_SAE ? ACCT_R_UNKNOWN_SAE :
						     ACCT_R_BAD_REQUEST;
		break;
	case KSA_NOT_FOUND:
	case KSA_RETRY:
		r = ACCT_R_NOT_FOUND;
		break;
	default:
		r = ev->why == KSA_WHY_OUT_OF_KEYS ? ACCT_R_OUT_OF_KEYS :
		    ev->why == KSA_WHY_UNREACHABLE ? ACCT_R_UNREACHABLE :
						     ACCT_R_UNAVAILABLE;
		break;
	}
	c->refused[r] += ev->keys;
}

/* Keys not given, to the caller of enc_keys or dec_keys. */
static void refused_count(struct acct_counts *c, const struct ksa_acct_event *ev)
{
	if (ev->op == KSA_ACCT_ENC)
		c->enc_refused += ev->keys;
	else
		c->dec_refused += ev->keys;
}

/* @r's counts as an EVENT of @p into the journal and the open interval. */
static void journal_event(struct account *a, struct acct_pair *p,
			  struct acct_record *r)
{
	r->type = ACCT_REC_EVENT;
	r->seq = a->seq;
	r->start = a->start;
	r->end = now_s();
	if (r->end < r->start)
		r->end = r->start;
	snprintf(r->master, sizeof(r->master), "%s", p->master);
	snprintf(r->slave, sizeof(r->slave), "%s", p->slave);
	snprintf(r->link, sizeof(r->link), "%s", p->link);
	if (a->jlen + ACCT_FRAME_MAX > ACCT_JBUF)
		journal_flush(a);
	a->jlen += acct_record_encode(r, a->jbuf + a->jlen);
	if (a->loop)
		loop_task_queue(a->loop, &a->flush);
	else
		journal_flush(a);
	acct_counts_add(&p->open, &r->c);
	p->active = true;
}

void account_ksa_event(void *arg, const struct ksa_acct_event *ev)
{
	struct account *a = arg;
	struct acct_record r;
	struct acct_pair *p;

	if (!ev->master || !ev->slave || !*ev->master || !*ev->slave)
		return;
	memset(&r, 0, sizeof(r));
	if (ev->result != KSA_OK) {
		reason_count(&r.c, ev);
		refused_count(&r.c, ev);
	} else if (ev->undelivered) {
		r.c.refused[ACCT_R_UNDELIVERED] = ev->keys;
		refused_count(&r.c, ev);
	} else {
		if (ev->op == KSA_ACCT_ENC) {
			r.c.enc_keys = ev->keys;
			r.c.enc_bits = ev->bits;
		} else {
			r.c.dec_keys = ev->keys;
			r.c.dec_bits = ev->bits;
		}
		r.c.relayed_keys = ev->relayed;
		r.c.relayed_bits = ev->relayed_bits;
		r.c.requests = 1;
	}
	p = pair_get(a, ev->master, ev->slave, "");
	if (!p) {
		log_ratelimited(&a->write_warn, LOG_LVL_ERR,
				"accounting: out of memory, an answer to %s -> %s not counted",
				ev->master, ev->slave);
		return;
	}
	journal_event(a, p, &r);
}

/*
 * Refusals of a consumer by reason, from the key source's -errno
 * (kma/keysrc.h): no key to draw; a key ID not, or no longer, here.
 */
static enum acct_reason take_reason(int err)
{
	switch (err) {
	case -ENOSPC:
	case -ENOBUFS:
	case -EAGAIN:
		return ACCT_R_OUT_OF_KEYS;
	case -ENOENT:
	case -EALREADY:
	case -ESRCH:
		return ACCT_R_NOT_FOUND;
	case -EHOSTUNREACH:
	case -ENOTCONN:
	case -ECONNREFUSED:
		return ACCT_R_UNREACHABLE;
	default:
		return ACCT_R_UNAVAILABLE;
	}
}

/*
 * A consumer's name in a record: printable, as the record's names must be
 * (config names are; this keeps a record decodable whatever comes).
 */
static void record_name(char *out, size_t len, const char *a, const char *b)
{
	if (b)
		snprintf(out, len, "%s:%s", a, b);
	else
		snprintf(out, len, "%s", a);
	for (; *out; out++)
		if (*out < 0x21 || *out > 0x7e)
			*out = '_';
}

void account_take_event(void *arg, const struct kma_take *t)
{
	struct account *a = arg;
	char who[KSA_SAE_ID_MAX], peer[KSA_SAE_ID_MAX], link[KSA_SAE_ID_MAX];
	struct acct_record r;
	struct acct_pair *p;

	if (!t->kind || !t->name || !t->peer || !t->link || !*t->kind ||
	    !*t->name || !*t->peer || !*t->link || !t->keys)
		return;
	record_name(who, sizeof(who), t->kind, t->name);
	record_name(peer, sizeof(peer), t->peer, NULL);
	record_name(link, sizeof(link), t->link, NULL);
	memset(&r, 0, sizeof(r));
	if (t->err) {
		r.c.refused[take_reason(t->err)] = t->keys;
		if (t->by_id)
			r.c.dec_refused = t->keys;
		else
			r.c.enc_refused = t->keys;
	} else {
		if (t->by_id) {
			r.c.dec_keys = t->keys;
			r.c.dec_bits = 8 * t->bytes;
		} else {
			r.c.enc_keys = t->keys;
			r.c.enc_bits = 8 * t->bytes;
		}
		r.c.requests = 1;
	}
	p = pair_get(a, who, peer, link);
	if (!p) {
		log_ratelimited(&a->write_warn, LOG_LVL_ERR,
				"accounting: out of memory, keys taken by %s not counted",
				who);
		return;
	}
	journal_event(a, p, &r);
}

/* ---- start-up ------------------------------------------------------------ */

static void load_log_record(void *arg, const struct acct_record *r,
			    size_t end)
{
	struct account *a = arg;
	struct acct_counts sum = { 0 };
	struct acct_record *st;

	if (r->type == ACCT_REC_INTERVAL) {
		if (a->n_staged && a->staged[0].seq != r->seq)
			a->n_staged = 0;	/* an interval without CLOSE */
		if (a->n_staged == a->cap_staged) {
			size_t cap = a->cap_staged ? 2 * a->cap_staged : 16;

			if (cap > ACCT_MAX_PAIRS ||
			    !(st = realloc(a->staged, cap * sizeof(*st))))
				return;
			a->staged = st;
			a->cap_staged = cap;
		}
		a->staged[a->n_staged++] = *r;
		return;
	}
	if (r->type != ACCT_REC_CLOSE)
		return;
	for (size_t i = 0; i < a->n_staged; i++) {
		struct acct_pair *p;

		st = &a->staged[i];
		if (st->seq != r->seq)
			continue;
		p = pair_get(a, st->master, st->slave, st->link);
		if (!p)
			continue;
		acct_counts_add(&p->total, &st->c);
		acct_counts_add(&sum, &st->c);
		hist_add(a, st, p);
	}
	if (memcmp(&sum, &r->c, sizeof(sum)))
		log_warn("accounting: %s: interval %llu lost records to corruption",
			 a->log_path, (unsigned long long)r->seq);
	a->n_staged = 0;
	if (r->seq > a->last_closed)
		a->last_closed = r->seq;
	a->log_good = end;
}

/* Journal records of an interval the log does not hold: reopen it. */
static void load_journal_record(void *arg, const struct acct_record *r,
				size_t end)
{
	struct account *a = arg;
	struct acct_pair *p;

	if (r->type != ACCT_REC_EVENT || r->seq <= a->last_closed)
		return;
	p = pair_get(a, r->master, r->slave, r->link);
	if (!p)
		return;
	acct_counts_add(&p->open, &r->c);
	p->active = true;
	if (!a->rec_seq || r->seq < a->rec_seq)
		a->rec_seq = r->seq;
	if (!a->rec_start || r->start < a->rec_start)
		a->rec_start = r->start;
	if (r->end > a->rec_end)
		a->rec_end = r->end;
}

/*
 * Read @fd's records; cut a torn tail so that appends follow good data:
 * the log after its last CLOSE record, the journal after its last frame.
 */
static int load_file(struct account *a, int fd, const char *path,
		     void (*fn)(void *, const struct acct_record *, size_t),
		     bool is_log)
{
	size_t len = 0, good, skipped;
	uint8_t *buf = read_all(fd, &len);

	if (!buf)
		return -1;
	good = acct_scan(buf, len, fn, a, &skipped);
	free(buf);
	if (is_log)
		good = a->log_good;
	if (skipped)
		log_warn("accounting: %s: %zu bytes of torn or corrupt records ignored",
			 path, skipped);
	if (good < len) {
		log_notice("accounting: %s: cut to %zu bytes (was %zu)", path,
			   good, len);
		if (ftruncate(fd, (off_t)good))
			return -1;
	}
	return 0;
}

static int open_file(const char *path)
{
	return open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

struct account *account_open(struct loop *loop, const struct account_cfg *cfg,
			     char *err, size_t errlen)
{
	struct account *a = calloc(1, sizeof(*a));
	const char *what = "out of memory";
	const char *path = "";

	if (!a)
		goto fail;
	a->log_fd = a->journal_fd = -1;
	if (!(a->hist = calloc(ACCT_HISTORY, sizeof(*a->hist))) ||
	    !(a->jbuf = malloc(ACCT_JBUF)))
		goto fail;
	a->loop = loop;
	loop_task_init(&a->flush, journal_flush, a);
	a->interval_s = cfg->interval_s ? cfg->interval_s : 60;
	a->write_warn = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	snprintf(a->log_path, sizeof(a->log_path), "%s/accounting.log",
		 cfg->state_dir);
	snprintf(a->journal_path, sizeof(a->journal_path),
		 "%s/accounting.journal", cfg->state_dir);
	path = a->log_path;
	a->log_fd = open_file(a->log_path);
	if (a->log_fd < 0 || load_file(a, a->log_fd, path, load_log_record, true))
		goto fail_errno;
	path = a->journal_path;
	a->journal_fd = open_file(a->journal_path);
	if (a->journal_fd < 0 ||
	    load_file(a, a->journal_fd, path, load_journal_record,
		      false))
		goto fail_errno;
	if (a->rec_seq) {
		/* A crash left an interval open: close it as it was. */
		a->seq = a->rec_seq;
		a->start = a->rec_start;
		log_notice("accounting: interval %llu left open by a crash, closed now",
			   (unsigned long long)a->seq);
		if (close_interval(a, a->rec_end)) {
			what = "cannot close the interval a crash left open";
			goto fail;
		}
	} else if (ftruncate(a->journal_fd, 0)) {
		goto fail_errno;
	}
	free(a->staged);
	a->staged = NULL;
	a->n_staged = a->cap_staged = 0;
	a->seq = a->last_closed + 1;
	a->start = now_s();
	if (loop) {
		a->timer = loop_timer_add(loop, (uint64_t)a->interval_s * 1000,
					  true, on_timer, a);
		if (!a->timer)
			goto fail_errno;
	}
	return a;
fail_errno:
	what = strerror(errno ? errno : EIO);
fail:
	snprintf(err, errlen, "accounting: %s%s%s", path, *path ? ": " : "",
		 what);
	account_close(a);
	return NULL;
}

void account_close(struct account *a)
{
	if (!a)
		return;
	if (a->timer)
		loop_timer_del(a->timer);
	if (a->loop)
		loop_task_cancel(a->loop, &a->flush);
	if (a->log_fd >= 0 && a->journal_fd >= 0) {
		journal_flush(a);
		account_close_interval(a);
	}
	if (a->log_fd >= 0)
		close(a->log_fd);
	if (a->journal_fd >= 0)
		close(a->journal_fd);
	free(a->pairs);
	free(a->hist);
	free(a->staged);
	free(a->jbuf);
	free(a);
}

/* ---- views ----------------------------------------------------------------- */

uint32_t account_interval_s(const struct account *a)
{
	return a->interval_s;
}

void account_open_interval(const struct account *a, uint64_t *seq,
			   uint64_t *start)
{
	*seq = a->seq;
	*start = a->start;
}

size_t account_pair_count(const struct account *a)
{
	return a->n_pairs;
}

int account_pair_info(const struct account *a, size_t i,
		      struct acct_pair_info *out)
{
	if (i >= a->n_pairs)
		return -1;
	out->master = a->pairs[i].master;
	out->slave = a->pairs[i].slave;
	out->link = a->pairs[i].link;
	out->total = a->pairs[i].total;
	acct_counts_add(&out->total, &a->pairs[i].open);
	out->open = a->pairs[i].open;
	return 0;
}

size_t account_interval_count(const struct account *a)
{
	return a->n_hist;
}

int account_interval_info(const struct account *a, size_t i,
			  struct acct_interval_info *out)
{
	const struct acct_hist *h;

	if (i >= a->n_hist)
		return -1;
	h = &a->hist[(a->hist_head + i) % ACCT_HISTORY];
	out->seq = h->seq;
	out->start = h->start;
	out->end = h->end;
	out->master = a->pairs[h->pair].master;
	out->slave = a->pairs[h->pair].slave;
	out->link = a->pairs[h->pair].link;
	out->c = h->c;
	return 0;
}
