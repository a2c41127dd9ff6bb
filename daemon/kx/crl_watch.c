// SPDX-License-Identifier: GPL-2.0
/*
 * Expiry of the configured CRLs: an alarm, and open connections verified
 * again, when a CRL's nextUpdate passes (crl_watch.h).
 *
 * The timer runs on CLOCK_MONOTONIC while nextUpdate is wall-clock time,
 * so a wait is at most CRL_WATCH_MAX_WAIT_MS: a clock set forward is seen
 * within that, and a wake-up with nothing expired just waits again.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "kx/crl_watch.h"
#include "kx/tls.h"

#define CRL_WATCH_MAX		4
#define CRL_WATCH_MAX_WAIT_MS	(3600u * 1000)
/* OpenSSL calls a CRL expired once the time is past nextUpdate. */
#define CRL_WATCH_SLACK_MS	1000

struct crl_watched {
	char plane[8];
	char path[256];
	time_t next_update;	/* 0: none, or unreadable */
	bool alarmed;
};

struct crl_watch {
	struct loop *loop;
	struct loop_timer *timer;
	struct crl_watched f[CRL_WATCH_MAX];
	size_t n;
};

static void alarm_source(const struct crl_watched *f, char *buf, size_t len)
{
	snprintf(buf, len, "crl:%s", f->plane);
}

static void raise_expired(struct crl_watched *f)
{
	char src[ALARM_SOURCE_MAX], when[32], obj[ALARM_OBJECT_MAX];
	struct tm tm;
	struct alarm_desc d = {
		.object = obj, .type = ALARM_SECURITY,
		.cause = "authenticationFailure", .severity = ALARM_CRITICAL,
	};

	alarm_source(f, src, sizeof(src));
	snprintf(obj, sizeof(obj), "tls=%s_crl", f->plane);
	gmtime_r(&f->next_update, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	alarm_raise_desc(src, &d,
			 "CRL %s expired at %s: fetch a fresh one and reload (SIGHUP); until then every %s handshake is refused",
			 f->path, when, f->plane);
	f->alarmed = true;
}

static void arm(struct crl_watch *w);

static void on_timer(void *arg)
{
	struct crl_watch *w = arg;
	time_t now = time(NULL);
	bool expired = false;
	unsigned int closed;

	loop_timer_del(w->timer);
	w->timer = NULL;
	for (size_t i = 0; i < w->n; i++) {
		struct crl_watched *f = &w->f[i];

		if (f->next_update && f->next_update < now && !f->alarmed) {
			raise_expired(f);
			expired = true;
		}
	}
	if (expired) {
		closed = tls_conns_recheck_all();
		log_notice("TLS: a CRL expired; open connections verified again, %u closed",
			   closed);
	}
	arm(w);
}

/* The timer for the earliest nextUpdate still to come, if any. */
static void arm(struct crl_watch *w)
{
	time_t now = time(NULL), next = 0;
	uint64_t ms;

	for (size_t i = 0; i < w->n; i++) {
		const struct crl_watched *f = &w->f[i];

		if (f->next_update && !f->alarmed &&
		    (!next || f->next_update < next))
			next = f->next_update;
	}
	if (!next)
		return;
	ms = next > now ? (uint64_t)(next - now) * 1000 : 0;
	ms += CRL_WATCH_SLACK_MS;
	if (ms > CRL_WATCH_MAX_WAIT_MS)
		ms = CRL_WATCH_MAX_WAIT_MS;
	w->timer = loop_timer_add(w->loop, ms, false, on_timer, w);
	if (!w->timer)
		log_err("TLS: no timer for CRL expiry: open connections are checked again only on SIGHUP");
}

struct crl_watch *crl_watch_new(struct loop *loop)
{
	struct crl_watch *w = calloc(1, sizeof(*w));

	if (w)
		w->loop = loop;
	return w;
}

void crl_watch_set(struct crl_watch *w, const struct crl_watch_file *files,
		   size_t n)
{
	char src[ALARM_SOURCE_MAX];
	time_t now = time(NULL);

	loop_timer_del(w->timer);
	w->timer = NULL;
	/* Fresh files clear their alarms; one still expired raises anew. */
	for (size_t i = 0; i < w->n; i++) {
		alarm_source(&w->f[i], src, sizeof(src));
		alarm_clear(src);
	}
	w->n = 0;
	for (size_t i = 0; i < n && w->n < CRL_WATCH_MAX; i++) {
		struct crl_watched *f = &w->f[w->n];

		if (!files[i].path || !files[i].path[0])
			continue;
		memset(f, 0, sizeof(*f));
		snprintf(f->plane, sizeof(f->plane), "%s", files[i].plane);
		snprintf(f->path, sizeof(f->path), "%s", files[i].path);
		if (tls_crl_next_update(f->path, &f->next_update) < 0)
			f->next_update = 0;	/* the TLS context said why */
		if (f->next_update && f->next_update < now)
			raise_expired(f);
		w->n++;
	}
	arm(w);
}

void crl_watch_free(struct crl_watch *w)
{
	if (!w)
		return;
	loop_timer_del(w->timer);
	free(w);
}
