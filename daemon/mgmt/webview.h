/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The web view (webview.c): a read-only page of the whole network, for
 * the managers of role view ([manager NAME] role = view), on the
 * management listener.  Documentation/qkd/mx-mu.rst.
 */
#ifndef QKD_WEBVIEW_H
#define QKD_WEBVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl_sources;
struct mgmt_reply;

/* Whether webview_handle() answers @path ("/view" and under it). */
bool webview_owns(const char *path);

/* As mx_handle() (mx.h), for the page, its assets and its JSON. */
void webview_handle(const struct ctl_sources *src, const char *cn,
		    const char *method, const char *path, const uint8_t *body,
		    size_t body_len, struct mgmt_reply *r);

#endif /* QKD_WEBVIEW_H */
