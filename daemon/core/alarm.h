/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fault management (Y.3802 management layer): the daemon's active alarms.
 *
 * An alarm is named by its source, a short stable string such as
 * "ipsec:B" or "macsec:macsec0", so raising it again only refreshes the
 * text and clearing it needs nothing else.  Each raise and clear is logged
 * once, at warning and notice level, with an "alarm" prefix that operators
 * can grep for; repeated raises of an active alarm are counted, not logged.
 * Texts are operator prose: never key bytes.
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
#define ALARM_SOURCE_MAX	48
#define ALARM_TEXT_MAX		160

void alarm_raise(const char *source, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void alarm_clear(const char *source);
bool alarm_is_active(const char *source);

/* Raises since start, including repeats of an active alarm. */
uint64_t alarm_raised_total(void);
/* New alarms not recorded because the table was full. */
uint64_t alarm_dropped_total(void);

/* One active alarm, as "alarm show" lists it (mgmt/view_alarm.c). */
struct alarm_info {
	char source[ALARM_SOURCE_MAX];
	char text[ALARM_TEXT_MAX];
	time_t since;			/* first raised, CLOCK_REALTIME */
	uint64_t count;			/* raises while active */
};

size_t alarm_count(void);
/* 0, or -1 if @i is out of range.  Clearing an alarm reorders the rest. */
int alarm_info(size_t i, struct alarm_info *out);

/* Forget everything (tests, daemon shutdown). */
void alarm_reset(void);

#endif /* QKD_ALARM_H */
