// SPDX-License-Identifier: GPL-2.0
/*
 * Leveled logging to stderr; see log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/loop.h"

#define LOG_LINE_MAX	1024

static enum log_level max_level = LOG_LVL_INFO;
static bool journal;
static const char *log_ident = "qkdkmd";

/*
 * systemd sets JOURNAL_STREAM=<dev>:<inode> of the stream it connected to
 * stdout/stderr; it only counts if stderr still is that stream (a test
 * harness may have redirected it).
 */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(fileno(stderr), &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(const char *ident, enum log_level level)
{
	if (ident)
		log_ident = ident;
	max_level = level;
	journal = stderr_is_journal();
}

void log_set_level(enum log_level level)
{
	max_level = level;
}

enum log_level log_get_level(void)
{
	return max_level;
}

bool log_to_journal(void)
{
	return journal;
}

static const char *level_word(enum log_level level)
{
	switch (level) {
	case LOG_LVL_ERR:	return "error";
	case LOG_LVL_WARN:	return "warning";
	case LOG_LVL_NOTICE:	return "notice";
	case LOG_LVL_INFO:	return "info";
	default:		return "debug";
	}
}

/* Control characters from untrusted strings (peer names...) become '?'. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	int saved_errno = errno;	/* callers may log, then test errno */
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sanitize(line);
	/* One fprintf per line, so that lines never interleave. */
	if (journal) {
		fprintf(stderr, "<%d>%s\n", (int)level, line);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
			log_ident, level_word(level), line);
	}
	errno = saved_errno;
}

bool log_ratelimit_pass(struct log_ratelimit *rl, enum log_level level)
{
	uint64_t now;

	if (level > max_level)
		return false;
	now = loop_now_ms();
	if (!rl->window_start_ms || now - rl->window_start_ms >= rl->interval_ms) {
		if (rl->suppressed)
			log_msg(level, "(%u similar messages suppressed)",
				rl->suppressed);
		rl->window_start_ms = now;
		rl->passed = rl->suppressed = 0;
	}
	if (rl->passed < rl->burst) {
		rl->passed++;
		return true;
	}
	rl->suppressed++;
	return false;
}
