// SPDX-License-Identifier: GPL-2.0
/*
 * Key source "etsi014": keys from a QKD module's ETSI GS QKD 014 KME
 * (keysrc_etsi014.h has the protocol between the two ends).
 *
 * HTTP goes through libcurl's multi interface, driven by the daemon's loop:
 * curl tells which sockets to watch and when to wake it, and the loop calls
 * back; nothing here ever blocks.  One request per source is in flight at
 * a time, on a keep-alive TLS connection that verifies the module's
 * certificate against kme_ca and presents kme_cert.
 *
 * The store is a ring of blocks in increasing block ID order (both ends
 * insert in the order the tx end numbered them).  Each block keeps its
 * bytes in the secure heap and a bitmap of the bytes handed out; a block
 * whose every byte went is zeroised and dropped.
 *
 * Module liveness: any HTTP answer means the module is there; a failed
 * connection, TLS handshake or timeout means it is not, and takes the link
 * down (alarm "etsi014:LINK") until it answers again, with exponential
 * back-off between tries.  The far end is told over Kx, so both ends of
 * the link go down together.
 */
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>
#include <poll.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "kma/blkstore.h"
#include "kma/keysrc_etsi014.h"

#define E14_MAX_BODY		(512u << 10)	/* an answer larger is refused */
#define E14_BODY_MIN		4096u		/* first size of the answer buffer */
#define E14_BACKOFF_MIN_MS	200
#define E14_BACKOFF_MAX_MS	10000
#define E14_STATUS_EVERY_MS	5000	/* re-read the module's status; also
					 * shows it still answers */
#define E14_IDLE_PROBE_MS	5000	/* rx: a status call when idle */
#define E14_TICK_MS		100
#define E14_KICK_MS		20	/* re-check curl's sockets in flight */
#define E14_RECENT_IDS		4096	/* module key_IDs remembered */
#define E14_RX_QUEUE		4	/* batches waiting for dec_keys */
#define E14_MAX_WATCHES		4
/* An alarm for a passing fault stays up at least this long. */
#define E14_ALARM_HOLD_MS	5000

/* A batch the rx end is to fetch with dec_keys. */
struct e14_batch {
	uint64_t first;		/* block ID of keys[0]; IDs follow in order */
	uint32_t n;
	uint64_t deadline_ms;	/* answer a refusal if not fetched by then */
	struct kxmsg_src_key keys[KXMSG_MAX_SRC_KEYS];
};

enum e14_req {
	REQ_NONE,
	REQ_STATUS,
	REQ_ENC,
	REQ_DEC,
};

struct e14_watch {
	curl_socket_t fd;
	struct loop_watch *w;
	struct keysrc_etsi014 *s;
};

struct keysrc_etsi014 {
	struct keysrc src;
	struct loop *loop;
	char link[KM_NAME_MAX];
	char peer[KM_NAME_MAX];
	char where[KM_PATH_MAX + 16];
	char alarm_src[ALARM_SOURCE_MAX];
	char url[KM_URL_MAX];
	char sae_id[KSA_SAE_ID_MAX], peer_sae_id[KSA_SAE_ID_MAX];
	uint32_t store_min, store_max, timeout_ms;

	/* Kx */
	struct keysrc_etsi014_kx kx;
	void *kx_arg;

	/* HTTP */
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	char curl_err[CURL_ERROR_SIZE];
	char *body;			/* answer, in the secure heap */
	size_t body_len;
	size_t body_room;		/* grows to the largest answer */
	bool body_over;			/* answer too large: refused */
	bool body_nomem;		/* no room for it in the secure heap */
	char *post;			/* request body (key_IDs, never keys) */
	enum e14_req req;
	struct loop_timer *curl_timer;
	struct loop_task curl_task;
	struct loop_task step_task;	/* the next step, once curl is idle */
	struct loop_timer *kick;
	struct e14_watch watches[E14_MAX_WATCHES];

	/* module state */
	bool module_up;
	bool peer_module_up;
	bool was_up;			/* as last reported */
	bool have_status;
	bool filling;			/* tx: below store_min, not yet full */
	struct keysrc_etsi014_status status;
	uint64_t status_ms;		/* when it was read */
	uint32_t backoff_ms;
	uint64_t next_try_ms;
	uint64_t last_answer_ms;
	uint64_t state_sent_ms;		/* module down: told the far end */
	char problem[ALARM_TEXT_MAX];	/* the last fault seen; "" */
	uint64_t problem_ms;		/* when it was last seen */
	bool clear_pending;		/* fault over: clear after the hold */

	/* tx: the batch waiting for the far end's SRC_ACK */
	uint64_t next_block;
	bool awaiting;
	uint64_t await_first;
	uint32_t await_n;
	uint64_t await_deadline_ms;

	/* rx: batches to fetch, FIFO */
	struct e14_batch *rxq[E14_RX_QUEUE];
	uint32_t rxq_n;
	uint64_t last_block;		/* highest stored; 0: none yet */

	/* the store */
	struct blkstore store;

	uint64_t recent[E14_RECENT_IDS];	/* FNV-1a of module key_IDs */
	uint32_t recent_pos;

	struct loop_timer *tick;
	struct keysrc_etsi014_stats st;
};

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct keysrc_etsi014 *to_e14(struct keysrc *src)
{
	return (struct keysrc_etsi014 *)src;
}

/* ---- parsing (no state: fuzzed on its own) ---- */

static int u32_field(json_t *o, const char *name, bool required,
		     uint32_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, name);
	json_int_t i;

	*out = 0;
	if (!v) {
		if (required) {
			snprintf(err, errlen, "status: no %s", name);
			return -1;
		}
		return 0;
	}
	if (!json_is_integer(v)) {
		snprintf(err, errlen, "status: %s is not an integer", name);
		return -1;
	}
	i = json_integer_value(v);
	if (i < 0 || i > (json_int_t)UINT32_MAX || (required && i == 0)) {
		snprintf(err, errlen, "status: %s out of range", name);
		return -1;
	}
	*out = (uint32_t)i;
	return 0;
}

static void str_field(json_t *o, const char *name, char *out, size_t max)
{
	const char *v = json_string_value(json_object_get(o, name));

	out[0] = '\0';
	if (v && strlen(v) < max)
		snprintf(out, max, "%s", v);
}

/* The position only: jansson's text quotes the input, which may be key. */
static void json_fail(const json_error_t *je, char *err, size_t errlen)
{
	snprintf(err, errlen, "malformed JSON (line %d, column %d)",
		 je->line, je->column);
}

int keysrc_etsi014_parse_status(const char *body, size_t len,
				struct keysrc_etsi014_status *out,
				char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!o) {
		json_fail(&je, err, errlen);
		return -1;
	}
	if (!json_is_object(o)) {
		snprintf(err, errlen, "status: not a JSON object");
		goto out;
	}
	if (u32_field(o, "key_size", true, &out->key_size, err, errlen) ||
	    u32_field(o, "max_key_per_request", true,
		      &out->max_key_per_request, err, errlen) ||
	    u32_field(o, "max_key_size", true, &out->max_key_size, err,
		      errlen) ||
	    u32_field(o, "min_key_size", true, &out->min_key_size, err,
		      errlen) ||
	    u32_field(o, "stored_key_count", false, &out->stored_key_count,
		      err, errlen) ||
	    u32_field(o, "max_key_count", false, &out->max_key_count, err,
		      errlen))
		goto out;
	if (out->min_key_size > out->max_key_size) {
		snprintf(err, errlen, "status: min_key_size above max_key_size");
		goto out;
	}
	str_field(o, "master_SAE_ID", out->master_sae_id,
		  sizeof(out->master_sae_id));
	str_field(o, "slave_SAE_ID", out->slave_sae_id,
		  sizeof(out->slave_sae_id));
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static bool key_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= KXMSG_SRC_KEY_ID_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* Base64 @b64 into exactly @want bytes at @out, or -1. */
static int b64_exact(const char *b64, size_t n, uint8_t *out, uint32_t want)
{
	size_t pad = 0, room;
	uint8_t *tmp;
	int got, rc = -1;

	if (n == 0 || n % 4 || n > (size_t)INT32_MAX)
		return -1;
	while (pad < 2 && b64[n - 1 - pad] == '=')
		pad++;
	room = n / 4 * 3;
	if (room - pad != want)
		return -1;
	tmp = OPENSSL_secure_malloc(room);
	if (!tmp)
		return -1;
	got = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)n);
	if (got == (int)room) {
		memcpy(out, tmp, want);
		rc = 0;
	}
	OPENSSL_secure_clear_free(tmp, room);
	return rc;
}

/* Overwrite the key strings jansson holds before they go back to malloc. */
static void cleanse_keys(json_t *keys)
{
	size_t i;
	json_t *k;

	json_array_foreach(keys, i, k) {
		json_t *v = json_object_get(k, "key");

		if (json_is_string(v))
			OPENSSL_cleanse((char *)json_string_value(v),
					json_string_length(v));
	}
}

int keysrc_etsi014_parse_keys(const char *body, size_t len, uint32_t max,
			      uint32_t key_len,
			      struct keysrc_etsi014_key *keys, uint8_t *bytes,
			      uint32_t *n, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	json_t *arr, *k;
	size_t i, cnt = 0;
	int rc = -1;

	*n = 0;
	if (!o) {
		json_fail(&je, err, errlen);
		OPENSSL_cleanse(bytes, (size_t)max * key_len);
		return -1;
	}
	arr = json_object_get(o, "keys");
	if (!json_is_object(o) || !json_is_array(arr)) {
		snprintf(err, errlen, "key container without a keys array");
		goto out;
	}
	cnt = json_array_size(arr);
	if (cnt == 0 || cnt > max) {
		snprintf(err, errlen, "%zu keys in the answer, asked for %u",
			 cnt, max);
		goto out;
	}
	json_array_foreach(arr, i, k) {
		const char *id = json_string_value(json_object_get(k, "key_ID"));
		json_t *kv = json_object_get(k, "key");

		if (!json_is_object(k) || !id || !key_id_ok(id)) {
			snprintf(err, errlen, "key %zu: missing or bad key_ID", i);
			goto out;
		}
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(keys[j].key_id, id)) {
				snprintf(err, errlen,
					 "key_ID %s twice in one answer", id);
				goto out;
			}
		}
		snprintf(keys[i].key_id, sizeof(keys[i].key_id), "%s", id);
		if (!json_is_string(kv) ||
		    b64_exact(json_string_value(kv), json_string_length(kv),
			      bytes + i * key_len, key_len)) {
			snprintf(err, errlen,
				 "key_ID %s: key is not %u bytes of base64",
				 id, key_len);
			goto out;
		}
	}
	*n = (uint32_t)cnt;
	rc = 0;
out:
	if (json_is_object(o) && json_is_array(arr))
		cleanse_keys(arr);
	if (rc)
		OPENSSL_cleanse(bytes, (size_t)max * key_len);
	json_decref(o);
	return rc;
}

/* ---- store ---- */

/*
 * The rx end's share left unused piles up at both ends: beyond a bound its
 * oldest blocks go, unused.  The rx end, which allocates them, drops them
 * a batch earlier than the tx end, so that it never allocates a block the
 * tx end no longer holds.
 */
static void store_trim(struct keysrc_etsi014 *s)
{
	bool tx = s->src.role == QKD_ROLE_TX;
	uint32_t bound = 2 * s->store_max, *held;

	if (!tx && bound > 2 * KXMSG_MAX_SRC_KEYS)
		bound -= KXMSG_MAX_SRC_KEYS;
	else if (!tx)
		bound = s->store_max;
	held = tx ? &s->store.peer_held : &s->store.own_held;
	for (uint32_t i = 0; i < blkstore_count(&s->store) && *held > bound;
	     i++) {
		struct blkstore_block *b = blkstore_at(&s->store, i);

		if (b->bytes && b->ready && (keysrc_block_is_own(s->src.role, b->id) != tx))
			blkstore_finish(&s->store, b);
	}
	blkstore_gc(&s->store);
}

static uint64_t fnv64(const char *str)
{
	uint64_t h = 1469598103934665603ull;

	for (; *str; str++)
		h = (h ^ (uint8_t)*str) * 1099511628211ull;
	return h | 1;		/* 0 marks an empty slot */
}

static bool recent_has(const struct keysrc_etsi014 *s, uint64_t h)
{
	for (uint32_t i = 0; i < E14_RECENT_IDS; i++)
		if (s->recent[i] == h)
			return true;
	return false;
}

static void recent_add(struct keysrc_etsi014 *s, uint64_t h)
{
	s->recent[s->recent_pos] = h;
	s->recent_pos = (s->recent_pos + 1) % E14_RECENT_IDS;
}

/* ---- keysrc ops ---- */

static uint64_t e14_avail(struct keysrc *src)
{
	struct keysrc_etsi014 *s = to_e14(src);

	return s->module_up && s->peer_module_up ? s->store.own_avail : 0;
}

static bool e14_is_up(struct keysrc *src)
{
	struct keysrc_etsi014 *s = to_e14(src);

	return s->module_up && s->peer_module_up;
}

static int e14_alloc(struct keysrc *src, uint32_t len, uint32_t count,
		     struct keysrc_key *keys, uint8_t *bytes,
		     char *err, size_t errlen)
{
	if (!e14_is_up(src)) {
		snprintf(err, errlen, "QKD module not answering");
		return -ENETDOWN;
	}
	return blkstore_alloc(&to_e14(src)->store, len, count, keys, bytes,
			      err, errlen);
}

static int e14_get(struct keysrc *src, uint64_t key_id, uint32_t len,
		   uint8_t *out, uint64_t *gen_time_ns, char *err,
		   size_t errlen)
{
	return blkstore_get(&to_e14(src)->store, key_id, len, out,
			    gen_time_ns, err, errlen);
}

static int e14_discard(struct keysrc *src, uint64_t key_id, uint32_t len)
{
	return blkstore_discard(&to_e14(src)->store, key_id, len);
}

/* ---- link state ---- */

static void notify(struct keysrc_etsi014 *s)
{
	bool up = e14_is_up(&s->src);
	struct keysrc_event ev = { .type = KEYSRC_EV_LINK, .up = up };

	if (up == s->was_up)
		return;
	s->was_up = up;
	if (up) {
		log_notice("link %s: QKD modules answer again: link up",
			   s->link);
		if (!s->problem[0])
			alarm_clear(s->alarm_src);
	} else {
		log_warn("link %s: link down (%s module not answering)",
			 s->link, s->module_up ? "the far node's" : "our");
	}
	ev.avail = e14_avail(&s->src);
	if (s->src.on_event)
		s->src.on_event(s->src.event_arg, &ev);
}

/* What an operator-facing problem is, for its alarm (alarms.rst). */
enum e14_problem {
	E14_UNREACHABLE,	/* a module or the peer node not answering */
	E14_PROTOCOL,		/* an answer or keys that break the protocol */
	E14_CONFIG,		/* the module and our config disagree */
	E14_NO_KEYS,		/* the module is out of key */
	E14_AUTH,		/* the module's certificate fails verification */
};

static const struct alarm_desc e14_alarm[] = {
	[E14_UNREACHABLE] = { .type = ALARM_COMMUNICATIONS,
			      .cause = "communicationsSubsystemFailure",
			      .severity = ALARM_MAJOR },
	[E14_PROTOCOL] = { .type = ALARM_COMMUNICATIONS,
			   .cause = "communicationsProtocolError",
			   .severity = ALARM_MAJOR },
	[E14_CONFIG] = { .type = ALARM_PROCESSING,
			 .cause = "configurationOrCustomizationError",
			 .severity = ALARM_MAJOR },
	[E14_NO_KEYS] = { .type = ALARM_QOS,
			  .cause = "resourceAtOrNearingCapacity",
			  .severity = ALARM_MAJOR },
	[E14_AUTH] = { .type = ALARM_SECURITY,
		       .cause = "authenticationFailure",
		       .severity = ALARM_MAJOR },
};

/* An operator-facing problem with the link: alarm, counted, not repeated. */
static void problem(struct keysrc_etsi014 *s, enum e14_problem kind,
		    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct keysrc_etsi014 *s, enum e14_problem kind,
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
	s->clear_pending = false;
	alarm_raise_desc(s->alarm_src, &e14_alarm[kind], "%s", text);
}

/* The fault is over: the alarm goes once it has been up for the hold. */
static void problem_clear(struct keysrc_etsi014 *s)
{
	if (!s->problem[0])
		return;
	if (loop_now_ms() - s->problem_ms < E14_ALARM_HOLD_MS) {
		s->clear_pending = true;
		return;
	}
	s->problem[0] = '\0';
	s->clear_pending = false;
	if (e14_is_up(&s->src))
		alarm_clear(s->alarm_src);
}

static void send_state(struct keysrc_etsi014 *s)
{
	struct kxmsg m;

	if (!s->kx.send || !s->kx.is_up(s->kx_arg, s->peer))
		return;
	kxmsg_clear(&m, KXMSG_SRC_KEYS);
	snprintf(m.link, sizeof(m.link), "%s", s->link);
	if (!s->module_up) {
		m.code = KXC_MODULE_DOWN;
		snprintf(m.text, sizeof(m.text), "module at %.120s not answering",
			 s->url);
	}
	s->kx.send(s->kx_arg, s->peer, &m);
}

static void set_module_up(struct keysrc_etsi014 *s, bool up)
{
	if (up)
		s->last_answer_ms = loop_now_ms();
	if (s->module_up == up)
		return;
	s->module_up = up;
	send_state(s);
	notify(s);
}

static void backoff(struct keysrc_etsi014 *s)
{
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : E14_BACKOFF_MIN_MS;
	if (s->backoff_ms > E14_BACKOFF_MAX_MS)
		s->backoff_ms = E14_BACKOFF_MAX_MS;
	s->next_try_ms = loop_now_ms() + s->backoff_ms;
	s->st.backoffs++;
}

/* ---- curl driven by the loop ---- */

static void kick_tick(struct keysrc_etsi014 *s);
static void request_done(struct keysrc_etsi014 *s, CURLcode rc, long code);

static void curl_check_done(struct keysrc_etsi014 *s)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(s->multi, &left))) {
		CURLcode rc;
		long code = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE,
				  &code);
		curl_multi_remove_handle(s->multi, msg->easy_handle);
		loop_timer_del(s->kick);
		s->kick = NULL;
		request_done(s, rc, code);
	}
}

static void curl_action(struct keysrc_etsi014 *s, curl_socket_t fd, int ev)
{
	int running;

	curl_multi_socket_action(s->multi, fd, ev, &running);
	curl_check_done(s);
}

static void on_curl_fd(void *arg, uint32_t revents)
{
	struct e14_watch *w = arg;
	int ev = 0;

	if (revents & POLLIN)
		ev |= CURL_CSELECT_IN;
	if (revents & POLLOUT)
		ev |= CURL_CSELECT_OUT;
	if (revents & (POLLERR | POLLHUP | POLLNVAL))
		ev |= CURL_CSELECT_ERR;
	curl_action(w->s, w->fd, ev);
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp,
			  void *socketp)
{
	struct keysrc_etsi014 *s = userp;
	struct e14_watch *w = socketp;
	uint32_t events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (w) {
			loop_watch_del(w->w);
			w->w = NULL;
			w->fd = CURL_SOCKET_BAD;
			curl_multi_assign(s->multi, fd, NULL);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= POLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= POLLOUT;
	if (w) {
		loop_watch_set(w->w, events);
		return 0;
	}
	for (int i = 0; i < E14_MAX_WATCHES; i++) {
		if (s->watches[i].w)
			continue;
		w = &s->watches[i];
		w->s = s;
		w->fd = fd;
		w->w = loop_watch_add(s->loop, fd, events, on_curl_fd, w);
		if (!w->w)
			return -1;
		curl_multi_assign(s->multi, fd, w);
		return 0;
	}
	return -1;
}

static void on_curl_timer_fire(void *arg)
{
	struct keysrc_etsi014 *s = arg;

	loop_timer_del(s->curl_timer);
	s->curl_timer = NULL;
	curl_action(s, CURL_SOCKET_TIMEOUT, 0);
}

static void on_curl_task(void *arg)
{
	curl_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* curl asks to be woken after @ms (-1: never); never call it from here. */
static int on_curl_timer(CURLM *m, long ms, void *userp)
{
	struct keysrc_etsi014 *s = userp;

	loop_timer_del(s->curl_timer);
	s->curl_timer = NULL;
	if (ms == 0)
		loop_task_queue(s->loop, &s->curl_task);
	else if (ms > 0)
		s->curl_timer = loop_timer_add(s->loop, (uint64_t)ms, false,
					       on_curl_timer_fire, s);
	return 0;
}

/*
 * The loop reports readiness as it arises, not while it lasts: should curl
 * leave bytes unread on a socket, no new wake-up comes.  While a request
 * is in flight, let curl look at its sockets itself now and then.
 */
static void on_kick(void *arg)
{
	struct keysrc_etsi014 *s = arg;

	kick_tick(s);
}

static void kick_tick(struct keysrc_etsi014 *s)
{
	for (int i = 0; i < E14_MAX_WATCHES && s->req != REQ_NONE; i++)
		if (s->watches[i].w)
			curl_action(s, s->watches[i].fd, 0);
}

/*
 * An answer holds keys (base64), so it lives in the locked secure heap.
 * The buffer grows by doubling to the largest answer seen, at most
 * E14_MAX_BODY, rather than taking that much of the heap for every link.
 */
static int body_reserve(struct keysrc_etsi014 *s, size_t need)
{
	size_t room = s->body_room ? s->body_room : E14_BODY_MIN;
	char *b;

	if (need <= s->body_room)
		return 0;
	while (room < need)
		room *= 2;
	b = OPENSSL_secure_malloc(room);
	if (!b)
		return -1;
	if (s->body) {
		memcpy(b, s->body, s->body_len);
		OPENSSL_secure_clear_free(s->body, s->body_room);
	}
	s->body = b;
	s->body_room = room;
	return 0;
}

static size_t on_curl_write(char *p, size_t size, size_t n, void *arg)
{
	struct keysrc_etsi014 *s = arg;
	size_t len = size * n;

	if (len > E14_MAX_BODY - s->body_len) {
		s->body_over = true;
		return 0;	/* curl aborts the transfer */
	}
	if (body_reserve(s, s->body_len + len)) {
		s->body_nomem = true;
		return 0;
	}
	memcpy(s->body + s->body_len, p, len);
	s->body_len += len;
	return len;
}

static void body_reset(struct keysrc_etsi014 *s)
{
	OPENSSL_cleanse(s->body, s->body_len);
	s->body_len = 0;
	s->body_over = false;
	s->body_nomem = false;
}

/* Start @req: GET if @post is NULL, else POST it as JSON. */
static int request_start(struct keysrc_etsi014 *s, enum e14_req req,
			 const char *method, const char *sae, char *post)
{
	char url[KM_URL_MAX + KSA_SAE_ID_MAX + 32];

	snprintf(url, sizeof(url), "%s/api/v1/keys/%s/%s", s->url, sae,
		 method);
	body_reset(s);
	free(s->post);
	s->post = post;
	s->curl_err[0] = '\0';
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	if (post) {
		curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE,
				 (long)strlen(post));
	} else {
		curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
	}
	if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK)
		return -1;
	s->req = req;
	s->st.requests++;
	s->kick = loop_timer_add(s->loop, E14_KICK_MS, true, on_kick, s);
	return 0;
}

/* ---- tx: status and enc_keys ---- */

static void start_tx(struct keysrc_etsi014 *s);
static void start_rx(struct keysrc_etsi014 *s);

/*
 * Prefetch: once this end's share is below store_min blocks, fetch until it
 * holds store_max.  The far end's share at this end only shrinks when the
 * far end uses it, so it does not count here (store_trim() bounds it).
 */
static bool tx_wants(struct keysrc_etsi014 *s)
{
	if (s->store.own_held < s->store_min)
		s->filling = true;
	else if (s->store.own_held >= s->store_max)
		s->filling = false;
	return s->filling;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* The block size must be a key size the module delivers. */
static bool status_fits(struct keysrc_etsi014 *s)
{
	uint32_t bits = s->src.block_size * 8;
	const struct keysrc_etsi014_status *st = &s->status;

	if (bits < st->min_key_size || bits > st->max_key_size) {
		problem(s, E14_CONFIG, "%s: block_size %u bits, the module delivers %u..%u bits (kme_url %s)",
			s->where, bits, st->min_key_size, st->max_key_size,
			s->url);
		return false;
	}
	if (st->master_sae_id[0] && strcmp(st->master_sae_id, s->sae_id)) {
		problem(s, E14_CONFIG, "%s: the module knows this client as SAE '%s', not sae_id '%s'",
			s->where, st->master_sae_id, s->sae_id);
		return false;
	}
	if (st->slave_sae_id[0] && strcmp(st->slave_sae_id, s->peer_sae_id)) {
		problem(s, E14_CONFIG, "%s: status names slave SAE '%s', not peer_sae_id '%s'",
			s->where, st->slave_sae_id, s->peer_sae_id);
		return false;
	}
	return true;
}

static void start_tx(struct keysrc_etsi014 *s)
{
	uint64_t now = loop_now_ms();
	uint32_t n, most;
	char *post;

	if (!s->have_status || now - s->status_ms >= E14_STATUS_EVERY_MS ||
	    !s->module_up) {
		request_start(s, REQ_STATUS, "status", s->peer_sae_id, NULL);
		return;
	}
	if (s->awaiting || !tx_wants(s) || !status_fits(s) ||
	    !s->kx.is_up || !s->kx.is_up(s->kx_arg, s->peer) ||
	    !s->peer_module_up)
		return;
	if (s->status.stored_key_count == 0) {
		/* Nothing there: look again after a pause, not at once. */
		problem(s, E14_NO_KEYS, "module %s has no keys for peer_sae_id '%s' (stored_key_count 0)",
			s->url, s->peer_sae_id);
		s->have_status = false;
		backoff(s);
		return;
	}
	most = 2 * (s->store_max - min_u32(s->store_max, s->store.own_held));
	n = min_u32(KXMSG_MAX_SRC_KEYS, s->status.max_key_per_request);
	n = min_u32(n, s->status.stored_key_count);
	n = min_u32(n, most ? most : 1);
	if (s->src.block_size * 8 == s->status.key_size) {
		if (asprintf(&post, "{\"number\": %u}", n) < 0)
			return;
	} else if (asprintf(&post, "{\"number\": %u, \"size\": %u}", n,
			    s->src.block_size * 8) < 0) {
		return;
	}
	if (request_start(s, REQ_ENC, "enc_keys", s->peer_sae_id, post))
		problem(s, E14_UNREACHABLE, "cannot start a request to %s", s->url);
}

static void tx_status_done(struct keysrc_etsi014 *s, long code)
{
	char why[160];

	if (code != 200) {
		problem(s, E14_CONFIG, "%s: status at %s answers HTTP %ld for peer_sae_id '%s' (unknown SAE ID, or kme_cert not accepted?)",
			s->where, s->url, code, s->peer_sae_id);
		backoff(s);
		return;
	}
	if (keysrc_etsi014_parse_status(s->body, s->body_len, &s->status, why,
					sizeof(why))) {
		problem(s, E14_PROTOCOL, "module %s: bad status answer: %s", s->url, why);
		backoff(s);
		return;
	}
	s->have_status = true;
	s->status_ms = loop_now_ms();
	if (status_fits(s))
		problem_clear(s);
	s->backoff_ms = 0;
}

static void tx_send_batch(struct keysrc_etsi014 *s,
			  const struct keysrc_etsi014_key *keys,
			  uint8_t *bytes, uint32_t n)
{
	struct kxmsg *m = calloc(1, sizeof(*m));
	uint32_t bs = s->src.block_size, i, dup = 0;

	for (i = 0; i < n; i++)
		if (recent_has(s, fnv64(keys[i].key_id)))
			dup++;
	if (dup || !m) {
		/* A module that repeats a key_ID: none of these keys is
		 * trusted; they are dropped here and never announced. */
		if (dup)
			problem(s, E14_PROTOCOL, "module %s returned %u key_ID(s) it had returned before: %u keys refused",
				s->url, dup, n);
		s->st.keys_refused += n;
		free(m);
		backoff(s);
		return;
	}
	kxmsg_clear(m, KXMSG_SRC_KEYS);
	snprintf(m->link, sizeof(m->link), "%s", s->link);
	m->n_src_keys = n;
	s->await_first = s->next_block;
	for (i = 0; i < n; i++) {
		uint8_t *b = OPENSSL_secure_malloc(bs);

		if (b)
			memcpy(b, bytes + (size_t)i * bs, bs);
		if (!b || blkstore_add(&s->store, s->next_block, b,
				       realtime_ns(), false))
			break;
		recent_add(s, fnv64(keys[i].key_id));
		m->src_keys[i].block = s->next_block++;
		m->src_keys[i].len = bs;
		snprintf(m->src_keys[i].key_id, sizeof(m->src_keys[i].key_id),
			 "%s", keys[i].key_id);
	}
	m->n_src_keys = i;
	s->await_n = i;
	if (i && s->kx.send(s->kx_arg, s->peer, m) == 0) {
		s->awaiting = true;
		s->await_deadline_ms = loop_now_ms() + 6ull * s->timeout_ms;
	} else if (i) {
		/* Not sent: the blocks can never be shared. */
		for (uint32_t j = 0; j < i; j++)
			blkstore_finish(&s->store, blkstore_find(&s->store,
						s->await_first + j));
		blkstore_gc(&s->store);
		s->st.keys_refused += i;
	}
	s->st.keys_refused += n - i;
	free(m);
}

static void tx_enc_done(struct keysrc_etsi014 *s, long code)
{
	uint32_t bs = s->src.block_size, want = KXMSG_MAX_SRC_KEYS, n;
	struct keysrc_etsi014_key *keys;
	uint8_t *bytes;
	char why[160];

	if (code == 503 || code == 400) {
		/* Out of key (or the size refused): read status again. */
		problem(s, E14_NO_KEYS, "module %s answers enc_keys with HTTP %ld", s->url,
			code);
		s->have_status = false;
		backoff(s);
		return;
	}
	if (code != 200) {
		problem(s, E14_CONFIG, "%s: enc_keys at %s answers HTTP %ld for peer_sae_id '%s'",
			s->where, s->url, code, s->peer_sae_id);
		backoff(s);
		return;
	}
	keys = calloc(want, sizeof(*keys));
	bytes = OPENSSL_secure_malloc((size_t)want * bs);
	if (!keys || !bytes) {
		free(keys);
		OPENSSL_secure_free(bytes);
		backoff(s);
		return;
	}
	if (keysrc_etsi014_parse_keys(s->body, s->body_len, want, bs, keys,
				      bytes, &n, why, sizeof(why))) {
		problem(s, E14_PROTOCOL, "module %s: enc_keys answer refused: %s", s->url,
			why);
		s->st.failures++;
		backoff(s);
	} else {
		s->status.stored_key_count -= min_u32(n,
					s->status.stored_key_count);
		s->backoff_ms = 0;
		tx_send_batch(s, keys, bytes, n);
	}
	OPENSSL_secure_clear_free(bytes, (size_t)want * bs);
	free(keys);
}

/* The far end stored (or refused) the batch. */
static void tx_ack(struct keysrc_etsi014 *s, const struct kxmsg *m)
{
	if (!s->awaiting || m->key_id != s->await_first ||
	    m->seq != s->await_n)
		return;		/* an answer to a batch given up on */
	s->awaiting = false;
	if (m->code == KXC_OK && !s->peer_module_up) {
		s->peer_module_up = true;
		notify(s);
	}
	for (uint32_t i = 0; i < s->await_n; i++) {
		struct blkstore_block *b =
			blkstore_find(&s->store, s->await_first + i);

		if (m->code == KXC_OK)
			blkstore_ready(&s->store, b);
		else
			blkstore_finish(&s->store, b);
	}
	if (m->code == KXC_OK) {
		s->st.keys_taken += s->await_n;
		problem_clear(s);
		store_trim(s);
	} else {
		s->st.keys_refused += s->await_n;
		problem(s, E14_PROTOCOL, "%s refused %u keys: %s%s%s", s->peer, s->await_n,
			kxmsg_code_name(m->code), m->text[0] ? ": " : "",
			m->text);
		backoff(s);
	}
	blkstore_gc(&s->store);
}

static void tx_give_up(struct keysrc_etsi014 *s)
{
	for (uint32_t i = 0; i < s->await_n; i++) {
		blkstore_finish(&s->store,
				blkstore_find(&s->store, s->await_first + i));
	}
	blkstore_gc(&s->store);
	s->awaiting = false;
	s->st.keys_refused += s->await_n;
	problem(s, E14_UNREACHABLE, "no answer from %s for %u keys: discarded", s->peer,
		s->await_n);
}

/* ---- rx: dec_keys ---- */

static void rx_answer(struct keysrc_etsi014 *s, const struct e14_batch *bt,
		      uint32_t code, const char *text)
{
	struct kxmsg m;

	kxmsg_clear(&m, KXMSG_SRC_ACK);
	snprintf(m.link, sizeof(m.link), "%s", s->link);
	m.key_id = bt->first;
	m.seq = bt->n;
	m.code = code;
	if (text)
		snprintf(m.text, sizeof(m.text), "%s", text);
	if (s->kx.send)
		s->kx.send(s->kx_arg, s->peer, &m);
}

static void rx_pop(struct keysrc_etsi014 *s)
{
	free(s->rxq[0]);
	memmove(s->rxq, s->rxq + 1, (s->rxq_n - 1) * sizeof(s->rxq[0]));
	s->rxq[--s->rxq_n] = NULL;
}

static void rx_refuse(struct keysrc_etsi014 *s, uint32_t code,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void rx_refuse(struct keysrc_etsi014 *s, uint32_t code,
		      const char *fmt, ...)
{
	char text[KXMSG_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	problem(s, E14_PROTOCOL, "%u keys from %s refused: %s", s->rxq[0]->n, s->peer,
		text);
	s->st.keys_refused += s->rxq[0]->n;
	rx_answer(s, s->rxq[0], code, text);
	rx_pop(s);
}

static void start_rx(struct keysrc_etsi014 *s)
{
	struct e14_batch *bt;
	size_t len, pos;
	char *post;

	if (!s->rxq_n) {
		/* Idle: is the module still there? */
		if (loop_now_ms() - s->last_answer_ms >= E14_IDLE_PROBE_MS ||
		    !s->module_up)
			request_start(s, REQ_STATUS, "status", s->peer_sae_id,
				      NULL);
		return;
	}
	bt = s->rxq[0];
	len = 32 + (size_t)bt->n * (KXMSG_SRC_KEY_ID_MAX + 16);
	post = malloc(len);
	if (!post)
		return;
	pos = (size_t)snprintf(post, len, "{\"key_IDs\": [");
	for (uint32_t i = 0; i < bt->n; i++)
		pos += (size_t)snprintf(post + pos, len - pos,
					"%s{\"key_ID\": \"%s\"}", i ? ", " : "",
					bt->keys[i].key_id);
	snprintf(post + pos, len - pos, "]}");
	if (request_start(s, REQ_DEC, "dec_keys", s->peer_sae_id, post))
		problem(s, E14_UNREACHABLE, "cannot start a request to %s", s->url);
}

static void rx_dec_done(struct keysrc_etsi014 *s, long code)
{
	struct e14_batch *bt = s->rxq[0];
	uint32_t bs = s->src.block_size, n, i, j;
	struct keysrc_etsi014_key *keys;
	uint8_t *bytes;
	char why[160];
	size_t len;

	if (!bt)
		return;
	if (code == 503) {
		/* Not there yet, or a passing fault: again, until the
		 * batch's deadline. */
		backoff(s);
		return;
	}
	if (code != 200) {
		rx_refuse(s, KXC_MODULE_MISMATCH,
			  "dec_keys at %s answers HTTP %ld", s->url, code);
		return;
	}
	/* bt is freed on the way out (rx_pop(), rx_refuse()): its size now. */
	len = (size_t)bt->n * bs;
	keys = calloc(bt->n, sizeof(*keys));
	bytes = OPENSSL_secure_malloc(len);
	if (!keys || !bytes) {
		free(keys);
		OPENSSL_secure_free(bytes);
		backoff(s);
		return;
	}
	if (keysrc_etsi014_parse_keys(s->body, s->body_len, bt->n, bs, keys,
				      bytes, &n, why, sizeof(why))) {
		rx_refuse(s, KXC_MODULE_MISMATCH, "dec_keys answer: %s", why);
		goto out;
	}
	if (n != bt->n) {
		rx_refuse(s, KXC_MODULE_MISMATCH,
			  "dec_keys gave %u keys for %u key_IDs", n, bt->n);
		goto out;
	}
	/* Every key asked for, each once (the parser refused repeats). */
	for (i = 0; i < n; i++) {
		for (j = 0; j < n && strcmp(keys[j].key_id,
					    bt->keys[i].key_id); j++)
			;
		if (j == n) {
			rx_refuse(s, KXC_MODULE_MISMATCH,
				  "dec_keys did not return key_ID %s",
				  bt->keys[i].key_id);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		uint8_t *b = OPENSSL_secure_malloc(bs);

		for (j = 0; strcmp(keys[j].key_id, bt->keys[i].key_id); j++)
			;
		if (b)
			memcpy(b, bytes + (size_t)j * bs, bs);
		if (!b || blkstore_add(&s->store, bt->keys[i].block, b,
				       realtime_ns(), true))
			break;
		recent_add(s, fnv64(bt->keys[i].key_id));
		s->last_block = bt->keys[i].block;
	}
	if (i < n) {
		/* Out of memory: what went in stays unused; the rest is
		 * refused at both ends. */
		for (j = 0; j < i; j++)
			blkstore_finish(&s->store, blkstore_find(&s->store,
						bt->keys[j].block));
		blkstore_gc(&s->store);
		rx_refuse(s, KXC_FETCH_FAILED, "out of memory");
		goto out;
	}
	s->st.keys_taken += n;
	s->backoff_ms = 0;
	problem_clear(s);
	store_trim(s);
	rx_answer(s, bt, KXC_OK, NULL);
	rx_pop(s);
out:
	OPENSSL_secure_clear_free(bytes, len);
	free(keys);
}

/* A batch announced by the tx end. */
static void rx_batch(struct keysrc_etsi014 *s, const struct kxmsg *m)
{
	struct e14_batch *bt = calloc(1, sizeof(*bt));
	uint64_t prev = s->last_block;
	const char *why = NULL;
	uint32_t i;

	if (!bt)
		return;
	bt->first = m->src_keys[0].block;
	bt->n = m->n_src_keys;
	bt->deadline_ms = loop_now_ms() + 4ull * s->timeout_ms;
	memcpy(bt->keys, m->src_keys, m->n_src_keys * sizeof(bt->keys[0]));
	if (s->src.role == QKD_ROLE_TX)
		why = "both ends of the link have role = tx";
	for (i = 0; i < bt->n && !why; i++) {
		const struct kxmsg_src_key *k = &bt->keys[i];

		if (k->block != bt->first + i || k->block <= prev ||
		    k->block >= 1ull << 48)
			why = "block IDs out of sequence";
		else if (k->len != s->src.block_size)
			why = "block size differs between the two ends";
		else if (recent_has(s, fnv64(k->key_id)))
			why = "a key_ID seen before";
		for (uint32_t j = 0; j < i && !why; j++)
			if (!strcmp(bt->keys[j].key_id, k->key_id))
				why = "a key_ID twice";
	}
	if (!why && s->rxq_n == E14_RX_QUEUE)
		why = "too many batches waiting";
	if (why) {
		problem(s, E14_PROTOCOL, "%u keys from %s refused: %s", bt->n, s->peer, why);
		s->st.keys_refused += bt->n;
		rx_answer(s, bt, KXC_MODULE_MISMATCH, why);
		free(bt);
		return;
	}
	if (!s->peer_module_up) {
		/* Keys come only from a module that answers. */
		s->peer_module_up = true;
		notify(s);
	}
	/* Later batches are checked against this one's IDs already. */
	s->last_block = bt->keys[bt->n - 1].block;
	s->rxq[s->rxq_n++] = bt;
	if (s->req == REQ_NONE && loop_now_ms() >= s->next_try_ms)
		start_rx(s);
}

/* ---- requests done, and the tick ---- */

/* rx: the idle probe.  Any answer shows the module is there. */
static void rx_status_done(struct keysrc_etsi014 *s, long code)
{
	if (code == 200) {
		s->backoff_ms = 0;
		if (s->peer_module_up)
			problem_clear(s);
		return;
	}
	problem(s, E14_CONFIG, "%s: status at %s answers HTTP %ld for peer_sae_id '%s' (unknown SAE ID, or kme_cert not accepted?)",
		s->where, s->url, code, s->peer_sae_id);
	backoff(s);
}

/*
 * The module's certificate failed verification: say why in words that tell
 * the operator what to fix, not libcurl's.  NULL when the cause is not one
 * of these (libcurl's text then stands).
 */
static const char *cert_fixit(struct keysrc_etsi014 *s, CURLcode rc)
{
	long vr = X509_V_OK;

	if (rc != CURLE_PEER_FAILED_VERIFICATION ||
	    curl_easy_getinfo(s->easy, CURLINFO_SSL_VERIFYRESULT, &vr) !=
	    CURLE_OK)
		return NULL;
	switch (vr) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "its TLS certificate has expired: renew the module's certificate (or check this node's clock)";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "its TLS certificate is not valid yet: check the clocks of this node and the module";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		return "its TLS certificate is signed by an unknown CA: put the CA that signed the module's certificate in kme_ca";
	default:
		return NULL;
	}
}

static void request_done(struct keysrc_etsi014 *s, CURLcode rc, long code)
{
	enum e14_req req = s->req;

	s->req = REQ_NONE;
	if (rc != CURLE_OK) {
		s->st.failures++;
		if (s->body_nomem) {
			/* Keys wait for room, as for a module away. */
			problem(s, E14_PROTOCOL, "module %s: no room in the secure heap for its answer; raise [node] secure_heap",
				s->url);
		} else if (s->body_over) {
			/* The module answered, with too much. */
			set_module_up(s, true);
			problem(s, E14_PROTOCOL, "module %s: answer larger than %u bytes refused",
				s->url, E14_MAX_BODY);
			if (req == REQ_DEC && s->rxq_n)
				rx_refuse(s, KXC_MODULE_MISMATCH,
					  "dec_keys answer too large");
		} else if (cert_fixit(s, rc)) {
			/* Not "not answering": trying again will not help. */
			problem(s, E14_AUTH, "%s: module %s refused: %s", s->where,
				s->url, cert_fixit(s, rc));
			set_module_up(s, false);
		} else {
			problem(s, E14_UNREACHABLE, "module %s not answering: %s", s->url,
				s->curl_err[0] ? s->curl_err :
				curl_easy_strerror(rc));
			set_module_up(s, false);
		}
		backoff(s);
	} else {
		set_module_up(s, true);
		if (req == REQ_STATUS && s->src.role == QKD_ROLE_TX)
			tx_status_done(s, code);
		else if (req == REQ_STATUS)
			rx_status_done(s, code);
		else if (req == REQ_ENC)
			tx_enc_done(s, code);
		else if (req == REQ_DEC)
			rx_dec_done(s, code);
	}
	body_reset(s);
	free(s->post);
	s->post = NULL;
	/* The next step at once unless backing off. */
	if (loop_now_ms() >= s->next_try_ms)
		loop_task_queue(s->loop, &s->step_task);
}

static void on_tick(void *arg)
{
	struct keysrc_etsi014 *s = arg;
	uint64_t now = loop_now_ms();

	if (s->awaiting && now >= s->await_deadline_ms)
		tx_give_up(s);
	if (s->clear_pending)
		problem_clear(s);
	/* A down module is said again now and then: the word may have
	 * gone while the Kx channel was down. */
	if (!s->module_up && now - s->state_sent_ms >= 1000) {
		s->state_sent_ms = now;
		send_state(s);
	}
	while (s->req == REQ_NONE && s->rxq_n &&
	       now >= s->rxq[0]->deadline_ms)
		rx_refuse(s, KXC_MODULE_DOWN, "module at %s not answering",
			  s->url);
	if (s->req != REQ_NONE || now < s->next_try_ms)
		return;
	if (s->src.role == QKD_ROLE_TX)
		start_tx(s);
	else
		start_rx(s);
}

void keysrc_etsi014_receive(struct keysrc *src, const struct kxmsg *m)
{
	struct keysrc_etsi014 *s = to_e14(src);

	if (m->type == KXMSG_SRC_ACK) {
		if (s->src.role == QKD_ROLE_TX)
			tx_ack(s, m);
		return;
	}
	if (m->type != KXMSG_SRC_KEYS)
		return;
	if (!m->n_src_keys) {
		/* The far end's module state. */
		bool up = m->code == KXC_OK;

		if (up != s->peer_module_up) {
			s->peer_module_up = up;
			if (!up)
				problem(s, E14_UNREACHABLE, "%s: %s", s->peer, m->text[0] ?
					m->text : "its QKD module is down");
			else if (s->module_up)
				problem_clear(s);
			notify(s);
		}
		return;
	}
	rx_batch(s, m);
}

void keysrc_etsi014_set_kx(struct keysrc *src,
			   const struct keysrc_etsi014_kx *kx, void *arg)
{
	struct keysrc_etsi014 *s = to_e14(src);

	s->kx = *kx;
	s->kx_arg = arg;
}

void keysrc_etsi014_stats(struct keysrc *src,
			  struct keysrc_etsi014_stats *out)
{
	struct keysrc_etsi014 *s = to_e14(src);

	*out = s->st;
	out->module_up = s->module_up;
	out->peer_module_up = s->peer_module_up;
	out->blocks_held = s->store.own_held + s->store.peer_held;
}

/* ---- construction ---- */

static void e14_free(struct keysrc *src)
{
	struct keysrc_etsi014 *s = to_e14(src);

	loop_timer_del(s->tick);
	loop_timer_del(s->kick);
	loop_timer_del(s->curl_timer);
	loop_task_cancel(s->loop, &s->curl_task);
	loop_task_cancel(s->loop, &s->step_task);
	if (s->multi && s->easy && s->req != REQ_NONE)
		curl_multi_remove_handle(s->multi, s->easy);
	if (s->easy)
		curl_easy_cleanup(s->easy);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	for (int i = 0; i < E14_MAX_WATCHES; i++)
		if (s->watches[i].w)
			loop_watch_del(s->watches[i].w);
	curl_slist_free_all(s->headers);
	if (s->body)
		OPENSSL_secure_clear_free(s->body, s->body_room);
	free(s->post);
	blkstore_free(&s->store);
	while (s->rxq_n)
		rx_pop(s);
	if (s->alarm_src[0])
		alarm_clear(s->alarm_src);
	curl_global_cleanup();
	free(s);
}

static const struct keysrc_ops e14_ops = {
	.alloc = e14_alloc,
	.get = e14_get,
	.discard = e14_discard,
	.avail = e14_avail,
	.is_up = e14_is_up,
	.free = e14_free,
};

static int setup_curl(struct keysrc_etsi014 *s,
		      const struct keysrc_etsi014_cfg *cfg)
{
	CURL *e;

	s->multi = curl_multi_init();
	s->easy = e = curl_easy_init();
	s->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!s->multi || !e || !s->headers)
		return -1;
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, 2L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(e, CURLOPT_SSLCERT, cfg->cert);
	curl_easy_setopt(e, CURLOPT_SSLKEY, cfg->key);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_curl_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_err);
	curl_easy_setopt(e, CURLOPT_PRIVATE, s);
	return 0;
}

struct keysrc *keysrc_etsi014_new(struct loop *loop,
				  const struct keysrc_etsi014_cfg *cfg,
				  char *err, size_t errlen)
{
	struct keysrc_etsi014 *s;
	int rc;

	if ((cfg->role != QKD_ROLE_TX && cfg->role != QKD_ROLE_RX) ||
	    cfg->block_size < 16 || cfg->block_size > QKD_BLOCK_SIZE_MAX ||
	    !cfg->store_min || cfg->store_min >= cfg->store_max ||
	    !cfg->timeout_ms) {
		snprintf(err, errlen, "etsi014 link: bad parameters");
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(err, errlen, "libcurl does not start");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->src.ops = &e14_ops;
	s->src.kind = "etsi014";
	s->src.role = cfg->role;
	s->src.block_size = cfg->block_size;
	s->loop = loop;
	snprintf(s->link, sizeof(s->link), "%s", cfg->link_name);
	snprintf(s->peer, sizeof(s->peer), "%s", cfg->peer);
	snprintf(s->where, sizeof(s->where), "%s", cfg->where ? cfg->where :
		 cfg->link_name);
	snprintf(s->alarm_src, sizeof(s->alarm_src), "etsi014:%s",
		 cfg->link_name);
	snprintf(s->url, sizeof(s->url), "%s", cfg->url);
	snprintf(s->sae_id, sizeof(s->sae_id), "%s", cfg->sae_id);
	snprintf(s->peer_sae_id, sizeof(s->peer_sae_id), "%s",
		 cfg->peer_sae_id);
	s->store_min = cfg->store_min;
	s->store_max = cfg->store_max;
	s->timeout_ms = cfg->timeout_ms;
	/* Optimistic until the first try says otherwise: the far end's
	 * state comes over Kx. */
	s->module_up = s->peer_module_up = s->was_up = true;
	/*
	 * Block IDs never repeat across restarts of the tx end: they start
	 * from the wall clock (64 per millisecond, below 2^48 until 2109),
	 * on an even block.
	 */
	s->next_block = (realtime_ns() / 1000000ull) << 6;
	rc = blkstore_init(&s->store, &s->src,
			   4 * cfg->store_max + 2 * KXMSG_MAX_SRC_KEYS);
	loop_task_init(&s->curl_task, on_curl_task, s);
	loop_task_init(&s->step_task, on_tick, s);
	if (rc || body_reserve(s, E14_BODY_MIN) || setup_curl(s, cfg)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	s->tick = loop_timer_add(loop, E14_TICK_MS, true, on_tick, s);
	if (!s->tick) {
		snprintf(err, errlen, "timer: %s", strerror(errno));
		goto fail;
	}
	return &s->src;
fail:
	e14_free(&s->src);
	return NULL;
}
