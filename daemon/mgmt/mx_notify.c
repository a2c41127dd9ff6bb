// SPDX-License-Identifier: GPL-2.0
/*
 * Mx notifications; see mx_notify.h.  One target per [manager] with
 * notify: a ring of events waiting, and at most one connection.  Events
 * are queued from the alarm observer and sent from a loop task, never
 * from inside the observer (which runs deep in whatever raised).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "core/alarm.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "kx/peer.h"
#include "kx/tls.h"
#include "mgmt/mx_notify.h"

struct event {
	json_t *alarm;
	const char *what;		/* "raised", "changed", "cleared" */
	uint64_t seq;
};

struct target {
	struct mx_notify *n;
	char name[KM_NAME_MAX];
	char cn[KM_NAME_MAX];
	char addr[KM_ADDR_MAX];
	char path[CONFIG_MANAGER_PATH_MAX];
	char source[ALARM_SOURCE_MAX];	/* its own alarm, "manager:NAME" */
	SSL_CTX *ctx;
	struct event *q;		/* a ring of size */
	unsigned int size, head, count;
	uint64_t seq, dropped, delivered;
	struct tls_conn *conn;
	uint64_t inflight;		/* seq on the wire, 0 if none */
	bool ok;			/* the receiver said 2xx */
	char error[256];		/* why the attempt failed */
	unsigned int failures;		/* in a row */
	uint32_t backoff_ms;
	struct loop_timer *retry, *deadline;
	struct loop_task kick;
	/* IDs of active alarms it was told of: their clear follows. */
	uint64_t shown[ALARM_MAX];
	unsigned int n_shown;
};

struct mx_notify {
	struct loop *loop;
	const struct qkd_config *cfg;
	time_t boot;
	bool stopping;
	struct target *t;
	size_t n;
};

/* ---- the alarm as Mx shows it ---------------------------------------- */

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
	       ch == '-';
}

/* Each whole-word SAE name of @cfg in @s becomes "[sae]", in place. */
static void redact_saes(const struct qkd_config *cfg, char *s, size_t size)
{
	static const char mark[] = "[sae]";

	for (size_t i = 0; i < cfg->n_saes; i++) {
		const char *name = cfg->saes[i].name;
		size_t n = strlen(name), len = strlen(s);
		char *at = s;

		while (n && (at = strstr(at, name))) {
			bool word = (at == s || !name_char(at[-1])) &&
				    !name_char(at[n]);

			if (!word) {
				at++;
				continue;
			}
			/* A 1..4 character name grows: cut if out of room. */
			if (len - n + sizeof(mark) > size) {
				*at = '\0';	/* cut rather than show it */
				break;
			}
			memmove(at + sizeof(mark) - 1, at + n,
				len - (size_t)(at - s) - n + 1);
			memcpy(at, mark, sizeof(mark) - 1);
			len = len - n + sizeof(mark) - 1;
			at += sizeof(mark) - 1;
		}
	}
}

json_t *mx_alarm_json(const struct qkd_config *cfg,
		      const struct manager_cfg *m, struct alarm_info *a)
{
	if (!(m->show & MANAGER_SHOW_SAE_NAMES)) {
		redact_saes(cfg, a->source, sizeof(a->source));
		redact_saes(cfg, a->object, sizeof(a->object));
		redact_saes(cfg, a->cause, sizeof(a->cause));
		redact_saes(cfg, a->text, sizeof(a->text));
	}
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:s}",
			 "id", (json_int_t)a->id, "object", a->object,
			 "event_type", alarm_type_name(a->type),
			 "probable_cause", a->cause,
			 "severity", alarm_severity_name(a->severity),
			 "since", (json_int_t)a->since,
			 "count", (json_int_t)a->count, "text", a->text);
}

/* ---- the receiver's answer ------------------------------------------- */

int mx_notify_parse_status(const uint8_t *buf, size_t len, int *status)
{
	static const char proto[] = "HTTP/1.";
	const uint8_t *eol = memchr(buf, '\n', len);
	size_t n = eol ? (size_t)(eol - buf) : len;
	size_t p = sizeof(proto) - 1;

	/* What is there must already be a status line's start. */
	if (memcmp(buf, proto, n < p ? n : p))
		return -1;
	if (!eol)
		return len >= MX_NOTIFY_MAX_ANSWER ? -1 : 0;
	/* "HTTP/1.x NNN" then a blank or the CR of CRLF. */
	if (n < p + 6 || (buf[p] != '0' && buf[p] != '1') ||
	    buf[p + 1] != ' ' || buf[n - 1] != '\r')
		return -1;
	for (size_t i = p + 2; i < p + 5; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
	if (buf[p + 5] != ' ' && buf[p + 5] != '\r')
		return -1;
	*status = (buf[p + 2] - '0') * 100 + (buf[p + 3] - '0') * 10 +
		  (buf[p + 4] - '0');
	return *status >= 100 && *status <= 599 ? 1 : -1;
}

/* ---- the queue -------------------------------------------------------- */

static struct event *head_event(struct target *t)
{
	return t->count ? &t->q[t->head] : NULL;
}

static void pop(struct target *t)
{
	json_decref(t->q[t->head].alarm);
	t->q[t->head].alarm = NULL;
	t->head = (t->head + 1) % t->size;
	t->count--;
}

static void push(struct target *t, json_t *alarm, const char *what)
{
	struct event *e;

	if (t->count == t->size) {
		/* The receiver is away: the oldest goes, the gap is counted. */
		pop(t);
		t->dropped++;
	}
	e = &t->q[(t->head + t->count++) % t->size];
	e->alarm = alarm;
	e->what = what;
	e->seq = ++t->seq;
}

static const struct manager_cfg *policy(const struct mx_notify *n,
					const char *name)
{
	for (size_t i = 0; i < n->cfg->n_managers; i++)
		if (!strcmp(n->cfg->managers[i].name, name))
			return &n->cfg->managers[i];
	return NULL;
}

/*
 * Whether @t's manager is to hear of @a: what its policy shows now, and
 * the clear of whatever it was told of, even if the alarm's severity
 * dropped below its min_severity since (else it would hold it forever).
 */
static bool shown(struct target *t, const struct manager_cfg *m,
		  const struct alarm_info *a)
{
	bool visible = m && m->role == MANAGER_MX &&
		       (m->show & MANAGER_SHOW_ALARMS) &&
		       (int)a->severity >= m->min_severity &&
		       strcmp(a->source, t->source);
	unsigned int i;

	for (i = 0; i < t->n_shown && t->shown[i] != a->id; i++)
		;
	if (a->cleared) {
		if (i == t->n_shown)
			return false;
		t->shown[i] = t->shown[--t->n_shown];
		return m != NULL;
	}
	if (visible && i == t->n_shown && t->n_shown < ALARM_MAX)
		t->shown[t->n_shown++] = a->id;
	return visible;
}

static void observe(void *arg, const struct alarm_info *a, const char *what)
{
	struct mx_notify *n = arg;

	for (size_t i = 0; i < n->n; i++) {
		struct target *t = &n->t[i];
		/* The policy now: a reload may have narrowed or removed it. */
		const struct manager_cfg *m = policy(n, t->name);
		struct alarm_info copy = *a;
		json_t *j;

		if (!shown(t, m, a))
			continue;
		j = mx_alarm_json(n->cfg, m, &copy);
		if (j && a->cleared)
			json_object_set_new(j, "cleared",
					    json_integer((json_int_t)a->cleared));
		if (!j)
			continue;
		push(t, j, what);
		if (!t->conn && !t->retry)
			loop_task_queue(n->loop, &t->kick);
	}
}

/* ---- delivery --------------------------------------------------------- */

static void schedule_retry(struct target *t);

static void fail(struct target *t)
{
	const struct event *e = head_event(t);

	t->failures++;
	if (t->failures == 1)
		log_notice("Mx notify %s: event %" PRIu64 " not delivered to %s: %s; retrying",
			   t->name, e ? e->seq : 0, t->addr, t->error);
	if (t->failures == MX_NOTIFY_ALARM_AFTER) {
		struct alarm_desc d = {
			.object = NULL, .type = ALARM_COMMUNICATIONS,
			.cause = "communicationsSubsystemFailure",
			.severity = ALARM_MINOR,
		};
		char object[ALARM_OBJECT_MAX];

		snprintf(object, sizeof(object), "manager=%.55s", t->name);
		d.object = object;
		alarm_raise_desc(t->source, &d,
				 "alarm notifications to manager %s at %s fail: %s; events wait (at most %u, then the oldest is dropped) and are retried; check that the receiver runs and that its certificate has CN %s and chains to the manager's ca",
				 t->name, t->addr, t->error, t->size, t->cn);
	}
	schedule_retry(t);
}

static void retry_fire(void *arg);

static void schedule_retry(struct target *t)
{
	loop_timer_del(t->retry);
	t->retry = loop_timer_add(t->n->loop, t->backoff_ms, false,
				  retry_fire, t);
	t->backoff_ms = t->backoff_ms * 2 > MX_NOTIFY_BACKOFF_MAX_MS ?
			MX_NOTIFY_BACKOFF_MAX_MS : t->backoff_ms * 2;
}

static void delivered(struct target *t)
{
	struct event *e = head_event(t);

	/* Unless drop-oldest took it while it was on the wire. */
	if (e && e->seq == t->inflight)
		pop(t);
	t->delivered++;
	t->failures = 0;
	t->backoff_ms = MX_NOTIFY_BACKOFF_MS;
	if (alarm_is_active(t->source))
		alarm_clear(t->source);
}

static void on_open(struct tls_conn *c, void *arg)
{
	struct target *t = arg;
	const char *peer = tls_conn_peer_name(c);
	struct event *e = head_event(t);
	json_t *j;
	char *body, hdr[512];
	int hn;

	/* The host check passes on a DNS SAN; the CN must be the manager's. */
	if (strcmp(peer, t->cn)) {
		snprintf(t->error, sizeof(t->error),
			 "the receiver's certificate CN is \"%.64s\", [manager %s] cert_cn is \"%s\"",
			 peer, t->name, t->cn);
		tls_conn_abort(c);
		return;
	}
	if (!e) {		/* nothing left (cannot happen: one sender) */
		tls_conn_close(c);
		return;
	}
	t->inflight = e->seq;
	j = json_pack("{s:s, s:s, s:I, s:I, s:s, s:I, s:O}",
		      "node", t->n->cfg->node.name, "manager", t->name,
		      "boot", (json_int_t)t->n->boot,
		      "seq", (json_int_t)e->seq, "event", e->what,
		      "dropped", (json_int_t)t->dropped, "alarm", e->alarm);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!body) {
		snprintf(t->error, sizeof(t->error), "out of memory");
		tls_conn_abort(c);
		return;
	}
	hn = snprintf(hdr, sizeof(hdr),
		      "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: qkdkmd\r\n"
		      "Content-Type: application/json\r\n"
		      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		      t->path, t->addr, strlen(body));
	if (hn < 0 || (size_t)hn >= sizeof(hdr) ||
	    tls_conn_write(c, hdr, (size_t)hn) ||
	    tls_conn_write(c, body, strlen(body)))
		snprintf(t->error, sizeof(t->error), "cannot send: %s",
			 tls_conn_error(c));
	free(body);
}

static int on_data(struct tls_conn *c, void *arg)
{
	struct target *t = arg;
	size_t len;
	const uint8_t *in = tls_conn_input(c, &len);
	int status = 0, r;

	if (t->ok || !t->inflight) {	/* the rest of the answer: not read */
		tls_conn_consume(c, len);
		return 0;
	}
	r = mx_notify_parse_status(in, len, &status);
	if (!r)
		return 0;
	tls_conn_consume(c, len);
	if (r < 0) {
		snprintf(t->error, sizeof(t->error), "the receiver's answer is not HTTP");
		return -1;
	}
	if (status < 200 || status > 299) {
		snprintf(t->error, sizeof(t->error), "the receiver answered HTTP %d",
			 status);
		return -1;
	}
	t->ok = true;
	tls_conn_close(c);
	return 0;
}

static void on_close(struct tls_conn *c, void *arg)
{
	struct target *t = arg;
	const struct tls_refusal *r = tls_conn_refusal(c);

	t->conn = NULL;
	loop_timer_del(t->deadline);
	t->deadline = NULL;
	if (t->n->stopping)
		return;
	if (t->ok) {
		delivered(t);
	} else {
		if (!t->error[0] && r->verify_error)
			snprintf(t->error, sizeof(t->error),
				 "the receiver's certificate (CN \"%.64s\", issuer %.64s) is refused: %s",
				 r->cn, r->issuer,
				 X509_verify_cert_error_string(r->verify_error));
		if (!t->error[0])
			snprintf(t->error, sizeof(t->error), "%s",
				 *tls_conn_error(c) ? tls_conn_error(c) :
				 "the receiver closed without an answer");
		fail(t);
	}
	t->inflight = 0;
	if (t->ok && t->count)
		loop_task_queue(t->n->loop, &t->kick);
	t->ok = false;
}

static const struct tls_conn_ops notify_ops = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

static void deadline_fire(void *arg)
{
	struct target *t = arg;

	loop_timer_del(t->deadline);
	t->deadline = NULL;
	if (t->conn && !t->ok) {
		snprintf(t->error, sizeof(t->error), "no answer within %d s",
			 MX_NOTIFY_TIMEOUT_MS / 1000);
		tls_conn_abort(t->conn);
	}
}

static void send_next(void *arg)
{
	struct target *t = arg;
	struct sockaddr_storage ss;
	socklen_t slen;
	int fd;

	if (t->conn || t->retry || !t->count)
		return;
	t->error[0] = '\0';
	t->ok = false;
	t->inflight = 0;
	if (peer_parse_addr(t->addr, &ss, &slen)) {
		snprintf(t->error, sizeof(t->error), "bad address %s", t->addr);
		fail(t);
		return;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&ss, slen) < 0 &&
		       errno != EINPROGRESS)) {
		snprintf(t->error, sizeof(t->error), "connect: %s",
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		fail(t);
		return;
	}
	t->conn = tls_conn_connect(t->n->loop, t->ctx, fd, t->cn,
				   MX_NOTIFY_MAX_ANSWER, &notify_ops, t);
	if (!t->conn) {
		close(fd);
		snprintf(t->error, sizeof(t->error), "TLS setup failed");
		fail(t);
		return;
	}
	t->deadline = loop_timer_add(t->n->loop, MX_NOTIFY_TIMEOUT_MS, false,
				     deadline_fire, t);
}

static void retry_fire(void *arg)
{
	struct target *t = arg;

	loop_timer_del(t->retry);
	t->retry = NULL;
	send_next(t);
}

/* ---- set-up ----------------------------------------------------------- */

struct mx_notify *mx_notify_start(struct loop *loop,
				  const struct qkd_config *cfg,
				  char *err, size_t errlen)
{
	struct mx_notify *n = calloc(1, sizeof(*n));
	char why[512];

	if (!n || !(n->t = calloc(cfg->n_managers + 1, sizeof(*n->t)))) {
		snprintf(err, errlen, "Mx notify: out of memory");
		free(n);
		return NULL;
	}
	n->loop = loop;
	n->cfg = cfg;
	n->boot = time(NULL);
	for (size_t i = 0; i < cfg->n_managers; i++) {
		const struct manager_cfg *m = &cfg->managers[i];
		struct tls_files files = {
			.ca = m->ca[0] ? m->ca : cfg->tls_sae_ca,
			.cert = cfg->tls_sae_cert, .key = cfg->tls_sae_key,
			.crl = cfg->tls_sae_crl,
		};
		struct target *t = &n->t[n->n];

		if (!m->notify_addr[0])
			continue;
		t->size = m->notify_queue ? m->notify_queue : CONFIG_NOTIFY_QUEUE;
		t->q = calloc(t->size, sizeof(*t->q));
		t->ctx = t->q ? tls_ctx_new(&files, 0, why, sizeof(why)) : NULL;
		if (!t->q)
			snprintf(why, sizeof(why), "out of memory");
		if (!t->ctx) {
			free(t->q);
			t->q = NULL;
			snprintf(err, errlen, "[manager %s] notify: %s",
				 m->name, why);
			mx_notify_stop(n);
			return NULL;
		}
		n->n++;
		t->n = n;
		snprintf(t->name, sizeof(t->name), "%s", m->name);
		snprintf(t->cn, sizeof(t->cn), "%s", m->cert_cn);
		snprintf(t->addr, sizeof(t->addr), "%s", m->notify_addr);
		snprintf(t->path, sizeof(t->path), "%s", m->notify_path);
		snprintf(t->source, sizeof(t->source), "manager:%.39s", m->name);
		t->backoff_ms = MX_NOTIFY_BACKOFF_MS;
		loop_task_init(&t->kick, send_next, t);
	}
	if (n->n)
		alarm_set_observer(observe, n);
	return n;
}

void mx_notify_stop(struct mx_notify *n)
{
	if (!n)
		return;
	if (n->n)
		alarm_set_observer(NULL, NULL);
	n->stopping = true;
	for (size_t i = 0; i < n->n; i++) {
		struct target *t = &n->t[i];

		loop_task_cancel(n->loop, &t->kick);
		loop_timer_del(t->retry);
		loop_timer_del(t->deadline);
		t->retry = t->deadline = NULL;
		if (t->conn)
			tls_conn_free(t->conn);
		while (t->count)
			pop(t);
		free(t->q);
		SSL_CTX_free(t->ctx);
	}
	free(n->t);
	free(n);
}

int mx_notify_state(const struct mx_notify *n, const char *name,
		    uint64_t *seq, uint64_t *dropped)
{
	for (size_t i = 0; n && i < n->n; i++)
		if (!strcmp(n->t[i].name, name)) {
			*seq = n->t[i].seq;
			*dropped = n->t[i].dropped;
			return 0;
		}
	return -1;
}

size_t mx_notify_count(const struct mx_notify *n)
{
	return n ? n->n : 0;
}

int mx_notify_info(const struct mx_notify *n, size_t i,
		   struct mx_notify_info *out)
{
	const struct target *t;

	if (!n || i >= n->n)
		return -1;
	t = &n->t[i];
	*out = (struct mx_notify_info){
		.manager = t->name, .events = t->seq,
		.delivered = t->delivered, .dropped = t->dropped,
		.queued = t->count, .failures = t->failures,
	};
	return 0;
}
