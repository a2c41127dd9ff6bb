/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Mx notifications (Documentation/qkd/mx-mu.rst, "Notifications"): each
 * alarm raise, change and clear that a [manager NAME] with "notify" may
 * see (its show and min_severity, SAE names redacted as /mx/v1/alarms
 * does; the clear of every alarm it was told of) is POSTed to it as one
 * JSON event:
 *
 *	{"node", "manager", "boot", "seq", "event": "raised"|"changed"|
 *	 "cleared", "dropped", "alarm": {id, object, event_type,
 *	 probable_cause, severity, since, count, text[, cleared]}}
 *
 * "seq" counts this manager's events from 1 since "boot" (the daemon's
 * start, Unix time): a receiver that sees a gap in seq, or a new boot,
 * polls /mx/v1/alarms, whose answer carries the seq it is current to.
 *
 * Delivery is on the event loop, one event per connection (mutual TLS
 * with this node's SAE-plane certificate, kx/tls.h; the receiver's
 * certificate must chain to the manager's "ca", else [tls] sae_ca, and
 * bear its cert_cn), in order, one at a time.  A 2xx answer delivers;
 * anything else (refused, TLS failure, other status, no answer within
 * MX_NOTIFY_TIMEOUT_MS) is retried after a back-off doubling from
 * MX_NOTIFY_BACKOFF_MS to MX_NOTIFY_BACKOFF_MAX_MS.  At most
 * notify_queue events wait (64 by default); a new one then drops the oldest, counted
 * in "dropped" (its seq is not reused: the receiver sees the gap).
 * After MX_NOTIFY_ALARM_AFTER failures in a row the minor alarm
 * "manager:NAME" is raised (never sent to NAME itself), and cleared by
 * the next delivery.
 */
#ifndef QKD_MX_NOTIFY_H
#define QKD_MX_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct loop;
struct qkd_config;
struct manager_cfg;
struct alarm_info;
struct mx_notify;

#define MX_NOTIFY_TIMEOUT_MS		10000
#define MX_NOTIFY_BACKOFF_MS		500
#define MX_NOTIFY_BACKOFF_MAX_MS	8000
#define MX_NOTIFY_ALARM_AFTER		3
/* The receiver's answer: only its status line is read. */
#define MX_NOTIFY_MAX_ANSWER		4096

/*
 * Start delivering for each [manager] of @cfg with notify.  @cfg is read
 * at each alarm event for the policies (a reload may change them); the
 * receivers and their TLS contexts are taken now.  Sets the alarm
 * observer (core/alarm.h).  NULL with the reason in @err; a config
 * without any notify gets a notifier that does nothing.
 */
struct mx_notify *mx_notify_start(struct loop *loop,
				  const struct qkd_config *cfg,
				  char *err, size_t errlen);
void mx_notify_stop(struct mx_notify *n);

/* Manager @name's last seq and dropped events; -1 if it has no notify. */
int mx_notify_state(const struct mx_notify *n, const char *name,
		    uint64_t *seq, uint64_t *dropped);

/* One manager's notifications, for /metrics. */
struct mx_notify_info {
	const char *manager;		/* its [manager] NAME */
	uint64_t events;		/* made for it (its last seq) */
	uint64_t delivered, dropped;
	unsigned int queued;		/* waiting now */
	unsigned int failures;		/* failed attempts in a row */
};
size_t mx_notify_count(const struct mx_notify *n);	/* n may be NULL */
int mx_notify_info(const struct mx_notify *n, size_t i,
		   struct mx_notify_info *out);

/*
 * One alarm as Mx shows it to @m (/mx/v1/alarms and the events): SAE
 * names of @cfg become "[sae]" without sae_names (in @a, in place).
 */
json_t *mx_alarm_json(const struct qkd_config *cfg,
		      const struct manager_cfg *m, struct alarm_info *a);

/*
 * The status of an HTTP/1.x answer in @buf: 1 with *@status (100..599)
 * once its status line is complete, 0 if more is needed, -1 if it is not
 * one ("HTTP/1.x NNN ..." with CRLF, at most MX_NOTIFY_MAX_ANSWER).
 */
int mx_notify_parse_status(const uint8_t *buf, size_t len, int *status);

#endif /* QKD_MX_NOTIFY_H */
