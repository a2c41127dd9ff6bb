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
#include <stdint.h>

#include <jansson.h>

#define ALARM_MAX		64	/* active at once; more are counted */
#define ALARM_SOURCE_MAX	48
#define ALARM_TEXT_MAX		160

void alarm_raise(const char *source, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void alarm_clear(const char *source);
bool alarm_is_active(const char *source);

/* Raises since start, including repeats of an active alarm. */
uint64_t alarm_raised_total(void);

/* {"active": [{source, text, since, count}], "raised": N, "dropped": N} */
json_t *alarm_view(void);

/* Forget everything (tests, daemon shutdown). */
void alarm_reset(void);

#endif /* QKD_ALARM_H */
