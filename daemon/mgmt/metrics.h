/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Performance management (Y.3802 7.4): the node's figures in the
 * Prometheus text exposition format (version 0.0.4), served over HTTPS
 * with mutual TLS at /metrics (mgmt_http.h) to the certificate CNs of
 * [metrics] clients.
 * Documentation/qkd/metrics.rst lists every series.
 *
 * The text is rendered from the same plain state the operator views read
 * (view.h: X_count/X_info/X_foreach), so it holds names, states and
 * counters, never key bytes.  Its cost grows with links, peers and SAE
 * pairs, not with the key records held.
 */
#ifndef QKD_METRICS_H
#define QKD_METRICS_H

#include <stddef.h>

#include "kx/tls.h"
#include "core/names.h"

struct ctl_sources;

/* The exposition text, malloc'd (*@len bytes, NUL-terminated); NULL if
 * out of memory.  Any element of @src but cfg may be NULL. */
char *metrics_render(const struct ctl_sources *src, size_t *len);

/* Writes @v as a label value: \, " and newline escaped (exposition format). */
void metrics_escape(char *out, size_t outlen, const char *v);

#endif /* QKD_METRICS_H */
