// SPDX-License-Identifier: GPL-2.0
/*
 * The alarm table and its history; see alarm.h.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alarm.h"
#include "core/journal.h"
#include "core/log.h"

static struct alarm_info active[ALARM_MAX];
static unsigned int n_active;
/* A ring: history[(hist_head - 1 - i) % MAX] is the i-th newest. */
static struct alarm_info history[ALARM_HISTORY_MAX];
static unsigned int hist_head, n_hist;
static uint64_t raised, dropped, next_id = 1;
static alarm_observer_fn observer;
static void *observer_arg;

static struct alarm_info *find(const char *source)
{
	for (unsigned int i = 0; i < n_active; i++)
		if (!strcmp(active[i].source, source))
			return &active[i];
	return NULL;
}

const char *alarm_type_name(enum alarm_type t)
{
	switch (t) {
	case ALARM_COMMUNICATIONS:	return "communications";
	case ALARM_QOS:			return "qualityOfService";
	case ALARM_PROCESSING:		return "processingError";
	case ALARM_EQUIPMENT:		return "equipment";
	case ALARM_ENVIRONMENTAL:	return "environmental";
	case ALARM_SECURITY:		return "securityService";
	}
	return "?";
}

const char *alarm_severity_name(enum alarm_severity s)
{
	switch (s) {
	case ALARM_CLEARED:		return "cleared";
	case ALARM_INDETERMINATE:	return "indeterminate";
	case ALARM_WARNING:		return "warning";
	case ALARM_MINOR:		return "minor";
	case ALARM_MAJOR:		return "major";
	case ALARM_CRITICAL:		return "critical";
	}
	return "?";
}

/*
 * One raise or clear, to the log and (if it is there) to journald with
 * the X.733 fields as structured fields.  The log line carries them as
 * words too, for a terminal or a test reading stderr.
 */
static void report(const struct alarm_info *a, const char *what,
		   enum log_level level)
{
	const char *sev = a->cleared ? "cleared" :
			  alarm_severity_name(a->severity);
	char id[24], root_id[24], msg[ALARM_TEXT_MAX + 64];
	struct journal_field f[] = {
		{ "QKD_ALARM_ID", id },
		{ "QKD_ALARM_EVENT", what },
		{ "QKD_ALARM_SOURCE", a->source },
		{ "QKD_ALARM_OBJECT", a->object },
		{ "QKD_ALARM_TYPE", alarm_type_name(a->type) },
		{ "QKD_ALARM_CAUSE", a->cause },
		{ "QKD_ALARM_SEVERITY", sev },
		{ "QKD_ALARM_ROOT", root_id },	/* last: left out if none */
	};
	size_t n = sizeof(f) / sizeof(f[0]);

	snprintf(id, sizeof(id), "%" PRIu64, a->id);
	snprintf(root_id, sizeof(root_id), "%" PRIu64, a->root_id);
	if (!a->root_id)
		n--;
	snprintf(msg, sizeof(msg), "alarm %s: %s: %s", what, a->source,
		 a->text);
	if (journal_enabled() && !journal_send(level, msg, f, n))
		return;
	log_msg(level, "alarm %s: %s: %s [QKD_ALARM_ID=%s QKD_ALARM_OBJECT=%s QKD_ALARM_TYPE=%s QKD_ALARM_CAUSE=%s QKD_ALARM_SEVERITY=%s%s%s]",
		what, a->source, a->text, id, a->object,
		alarm_type_name(a->type), a->cause, sev,
		a->root_id ? " QKD_ALARM_ROOT=" : "",
		a->root_id ? root_id : "");
}

/* The root alarm's ID while it is active (it may be raised after us). */
static void resolve_root(struct alarm_info *a)
{
	const struct alarm_info *r = a->root[0] ? find(a->root) : NULL;

	a->root_id = r && r != a ? r->id : 0;
}

static void raise_va(const char *source, const struct alarm_desc *d,
		     const char *fmt, va_list ap)
{
	struct alarm_info *a = find(source);
	const char *object = d->object ? d->object : source;
	const char *cause = d->cause ? d->cause : "unspecified";
	bool changed = false;

	raised++;
	if (a) {
		a->count++;
		changed = strcmp(a->cause, cause) || d->severity > a->severity;
		if (changed)	/* a new cause asks for a new look */
			a->acked = false;
	} else if (n_active == ALARM_MAX) {
		dropped++;
		log_warn("alarm %s: table full, not recorded", source);
		return;
	} else {
		a = &active[n_active++];
		memset(a, 0, sizeof(*a));
		a->id = next_id++;
		snprintf(a->source, sizeof(a->source), "%s", source);
		a->since = time(NULL);
		a->count = 1;
	}
	snprintf(a->object, sizeof(a->object), "%s", object);
	snprintf(a->cause, sizeof(a->cause), "%s", cause);
	snprintf(a->root, sizeof(a->root), "%s", d->root ? d->root : "");
	a->type = d->type;
	a->severity = d->severity == ALARM_CLEARED ? ALARM_INDETERMINATE :
		      d->severity;
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	resolve_root(a);
	if (a->count == 1 || changed) {
		const char *what = a->count == 1 ? "raised" : "changed";

		report(a, what, LOG_LVL_WARN);
		if (observer)
			observer(observer_arg, a, what);
	}
}

void alarm_raise_desc(const char *source, const struct alarm_desc *d,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	raise_va(source, d, fmt, ap);
	va_end(ap);
}

void alarm_raise(const char *source, const char *fmt, ...)
{
	static const struct alarm_desc d = {
		.type = ALARM_PROCESSING,
		.severity = ALARM_MAJOR,
	};
	va_list ap;

	va_start(ap, fmt);
	raise_va(source, &d, fmt, ap);
	va_end(ap);
}

void alarm_clear(const char *source)
{
	struct alarm_info *a = find(source);

	if (!a)
		return;
	a->cleared = time(NULL);
	resolve_root(a);
	report(a, "cleared", LOG_LVL_NOTICE);
	if (observer)
		observer(observer_arg, a, "cleared");
	history[hist_head] = *a;
	hist_head = (hist_head + 1) % ALARM_HISTORY_MAX;
	if (n_hist < ALARM_HISTORY_MAX)
		n_hist++;
	*a = active[--n_active];
}

bool alarm_is_active(const char *source)
{
	return find(source) != NULL;
}

int alarm_ack(uint64_t id, const char *who)
{
	for (unsigned int i = 0; i < n_active; i++) {
		struct alarm_info *a = &active[i];

		if (a->id != id)
			continue;
		if (!a->acked) {
			a->acked = true;
			a->acked_at = time(NULL);
			snprintf(a->acked_by, sizeof(a->acked_by), "%s",
				 who ? who : "");
			log_notice("alarm acknowledged: %s by %s [QKD_ALARM_ID=%" PRIu64 "]",
				   a->source, a->acked_by, a->id);
		}
		return 0;
	}
	return -1;
}

uint64_t alarm_raised_total(void)
{
	return raised;
}

uint64_t alarm_dropped_total(void)
{
	return dropped;
}

size_t alarm_count(void)
{
	return n_active;
}

int alarm_info(size_t i, struct alarm_info *out)
{
	if (i >= n_active)
		return -1;
	resolve_root(&active[i]);
	*out = active[i];
	return 0;
}

size_t alarm_history_count(void)
{
	return n_hist;
}

int alarm_history_info(size_t i, struct alarm_info *out)
{
	if (i >= n_hist)
		return -1;
	*out = history[(hist_head + ALARM_HISTORY_MAX - 1 - i) %
		       ALARM_HISTORY_MAX];
	return 0;
}

void alarm_set_observer(alarm_observer_fn fn, void *arg)
{
	observer = fn;
	observer_arg = arg;
}

void alarm_reset(void)
{
	memset(active, 0, sizeof(active));
	memset(history, 0, sizeof(history));
	n_active = 0;
	hist_head = n_hist = 0;
	raised = 0;
	dropped = 0;
	next_id = 1;
}
