// SPDX-License-Identifier: GPL-2.0
/*
 * journald's native protocol; see journal.h.  An entry that does not fit
 * one datagram would need a memfd: ours are a few hundred bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/journal.h"

#define JOURNAL_SOCKET		"/run/systemd/journal/socket"
#define JOURNAL_ENTRY_MAX	4096

static int journal_fd = -1;

static const char *socket_path(void)
{
	const char *env = getenv("QKD_JOURNAL_SOCKET");

	if (env && *env)
		return env;
	return log_to_journal() ? JOURNAL_SOCKET : NULL;
}

bool journal_enabled(void)
{
	return socket_path() != NULL;
}

/* Append "NAME=value\n", the value made one clean line. */
static size_t put_field(char *buf, size_t off, const char *name,
			const char *value)
{
	int n;

	if (off >= JOURNAL_ENTRY_MAX)
		return off;
	n = snprintf(buf + off, JOURNAL_ENTRY_MAX - off, "%s=", name);
	if (n < 0 || (size_t)n >= JOURNAL_ENTRY_MAX - off)
		return JOURNAL_ENTRY_MAX;
	off += (size_t)n;
	for (; *value && off < JOURNAL_ENTRY_MAX - 1; value++)
		buf[off++] = (unsigned char)*value < 0x20 || *value == 0x7f ?
			     '?' : *value;
	if (off >= JOURNAL_ENTRY_MAX - 1)
		return JOURNAL_ENTRY_MAX;
	buf[off++] = '\n';
	return off;
}

int journal_send(enum log_level level, const char *message,
		 const struct journal_field *fields, size_t n)
{
	const char *path = socket_path();
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[JOURNAL_ENTRY_MAX], prio[4];
	size_t off = 0;

	if (!path || strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	snprintf(prio, sizeof(prio), "%d", (int)level);
	off = put_field(buf, off, "MESSAGE", message);
	off = put_field(buf, off, "PRIORITY", prio);
	off = put_field(buf, off, "SYSLOG_IDENTIFIER", "qkdkmd");
	for (size_t i = 0; i < n; i++)
		off = put_field(buf, off, fields[i].name, fields[i].value);
	if (off >= JOURNAL_ENTRY_MAX)
		return -1;
	if (journal_fd < 0)
		journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
				    SOCK_NONBLOCK, 0);
	if (journal_fd < 0)
		return -1;
	if (sendto(journal_fd, buf, off, MSG_NOSIGNAL,
		   (struct sockaddr *)&sun, sizeof(sun)) != (ssize_t)off)
		return -1;
	return 0;
}
