/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Leveled logging to stderr.  Under systemd (JOURNAL_STREAM set and naming
 * our stderr) each line carries a "<N>" syslog priority prefix that journald
 * turns into the entry's priority; otherwise lines are plain text with a
 * level word, for a terminal or a test log.
 *
 * printf-style text only.  There is deliberately no function that formats
 * a binary buffer (hex dump, base64): key bytes must never reach a log, and
 * the easiest way to make sure is to have no tool for it.  Log key IDs,
 * sizes and states instead.
 */
#ifndef QKD_LOG_H
#define QKD_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* syslog(3) priorities, as journald reads them. */
enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Detect journald on stderr; @level is the most verbose level printed. */
void log_init(const char *ident, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* True when stderr goes to journald (lines carry "<N>" prefixes). */
bool log_to_journal(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A rate limit for messages that a peer or a full store could repeat
 * thousands of times a second (one per key): at most @burst messages per
 * @interval_ms window pass.  The first message of a later window first
 * says how many were suppressed.  One limiter per kind of message.
 */
struct log_ratelimit {
	uint32_t interval_ms, burst;
	uint64_t window_start_ms;
	uint32_t passed, suppressed;
};

#define LOG_RATELIMIT_INIT(ms, n)	{ .interval_ms = (ms), .burst = (n) }

/* True if a message may be logged now (after any "suppressed" line). */
bool log_ratelimit_pass(struct log_ratelimit *rl, enum log_level level);

#define log_ratelimited(rl, level, ...)					\
	do {								\
		if (log_ratelimit_pass(rl, level))			\
			log_msg(level, __VA_ARGS__);			\
	} while (0)

#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif /* QKD_LOG_H */
