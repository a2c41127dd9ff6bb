/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fault management (Y.3802 management layer): the daemon's alarms, after
 * the ITU-T X.733 alarm reporting function.
 *
 * An alarm is named by its source, a short stable string such as
 * "kx:B" or "ipsec:B", so raising it again only refreshes it and clearing
 * it needs nothing else.  Each carries X.733's fields: the managed object
 * ("peer=B", "link=AB"), an event type, a probable cause, a perceived
 * severity, when it was raised and cleared, and the operator's
 * acknowledgement; and, where cheap, the source of a root alarm that
 * explains it (a dead peer explains the relay failures behind it).  Its
 * text says what is wrong and what to do about it: operator prose, never
 * key bytes.
 *
 * Each raise and clear is logged once (warning, notice) with the fields
 * as QKD_ALARM_*= words, and sent to journald with them as structured
 * fields when journald is there (core/journal.h).  A raise that changes
 * the probable cause or the severity of an active alarm is logged too;
 * other repeats are counted, not logged.  Cleared alarms move to a bounded
 * history, newest first.
 *
 * One table per process, like the log: the daemon is single-threaded.
 */
#ifndef QKD_ALARM_H
#define QKD_ALARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ALARM_MAX		64	/* active at once; more are counted */
#define ALARM_HISTORY_MAX	64	/* cleared alarms kept */
#define ALARM_SOURCE_MAX	48
#define ALARM_OBJECT_MAX	64
#define ALARM_CAUSE_MAX		48
#define ALARM_TEXT_MAX		320

/* X.733 8.1.1 event types, plus X.736's security alarm. */
enum alarm_type {
	ALARM_COMMUNICATIONS,
	ALARM_QOS,
	ALARM_PROCESSING,
	ALARM_EQUIPMENT,
	ALARM_ENVIRONMENTAL,
	ALARM_SECURITY,
};

/* X.733 8.1.2.3, in rising order. */
enum alarm_severity {
	ALARM_CLEARED,
	ALARM_INDETERMINATE,
	ALARM_WARNING,
	ALARM_MINOR,
	ALARM_MAJOR,
	ALARM_CRITICAL,
};

struct alarm_desc {
	const char *object;		/* managed object; NULL: the source */
	enum alarm_type type;
	const char *cause;		/* probable cause, X.733's spelling */
	enum alarm_severity severity;	/* not ALARM_CLEARED */
	const char *root;		/* source of the alarm explaining it */
};

void alarm_raise_desc(const char *source, const struct alarm_desc *d,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A processingError of major severity, object = source. */
void alarm_raise(const char *source, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void alarm_clear(const char *source);
bool alarm_is_active(const char *source);
/*
 * The operator has seen alarm @id: 0, or -1 if no active alarm has that
 * ID.  An acknowledged alarm stays active until its cause is gone; a
 * change of its cause or a rise in severity asks for a new one.
 */
int alarm_ack(uint64_t id, const char *who);

/* Raises since start, including repeats of an active alarm. */
uint64_t alarm_raised_total(void);
/* New alarms not recorded because the table was full. */
uint64_t alarm_dropped_total(void);

/* One alarm, as "alarm show" and "alarm history" list it. */
struct alarm_info {
	uint64_t id;			/* unique since start, from 1 */
	char source[ALARM_SOURCE_MAX];
	char object[ALARM_OBJECT_MAX];
	enum alarm_type type;
	char cause[ALARM_CAUSE_MAX];
	enum alarm_severity severity;	/* as raised, also in the history */
	char text[ALARM_TEXT_MAX];
	time_t since;			/* first raised, CLOCK_REALTIME */
	time_t cleared;			/* 0 while active */
	uint64_t count;			/* raises while active */
	bool acked;
	time_t acked_at;
	char acked_by[32];
	char root[ALARM_SOURCE_MAX];	/* "" if none */
	uint64_t root_id;		/* 0 unless that root alarm is active */
};

size_t alarm_count(void);
/* 0, or -1 if @i is out of range.  Clearing an alarm reorders the rest. */
int alarm_info(size_t i, struct alarm_info *out);
/* Cleared alarms, newest first (@i = 0), at most ALARM_HISTORY_MAX. */
size_t alarm_history_count(void);
int alarm_history_info(size_t i, struct alarm_info *out);

const char *alarm_type_name(enum alarm_type t);
const char *alarm_severity_name(enum alarm_severity s);

/*
 * One observer of each raise, change (new cause, higher severity) and
 * clear, told after the log line with @event "raised", "changed" or
 * "cleared" (@a->cleared set).  For the Mx notifier (mgmt/mx_notify.h):
 * it must not raise or clear alarms from inside the call.  NULL: none.
 */
typedef void (*alarm_observer_fn)(void *arg, const struct alarm_info *a,
				  const char *event);
void alarm_set_observer(alarm_observer_fn fn, void *arg);

/* Forget everything (tests, daemon shutdown). */
void alarm_reset(void);

#endif /* QKD_ALARM_H */
