/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Structured entries for journald, over its native protocol
 * (systemd.journal-fields(7), "Native Journal Protocol"): one datagram of
 * NAME=value lines to /run/systemd/journal/socket.  Used for events an
 * operator's tools select by field, such as alarms (QKD_ALARM_ID=...).
 *
 * The socket is $QKD_JOURNAL_SOCKET if set (tests listen there), else
 * journald's, and only when stderr goes to journald (log_to_journal()).
 * Values are one line each: control characters become '?', as in the log.
 */
#ifndef QKD_JOURNAL_H
#define QKD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/log.h"

struct journal_field {
	const char *name;	/* upper case, digits, '_' */
	const char *value;
};

/* True if entries go to a journal socket (else: to the log line only). */
bool journal_enabled(void);
/*
 * Send MESSAGE=@message, PRIORITY=@level, SYSLOG_IDENTIFIER and @fields.
 * 0 if journald took it, -1 if not (the caller logs the line instead).
 */
int journal_send(enum log_level level, const char *message,
		 const struct journal_field *fields, size_t n);

#endif /* QKD_JOURNAL_H */
