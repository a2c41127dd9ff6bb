// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the Mx, Mu and web view request handlers (mx.h,
 * webview.h): any body, to any of their paths, with any method, as each
 * kind of manager.  Must never crash, leak or read out of bounds, and
 * must always answer with a status and a Content-Type.  An active alarm
 * names SAEs, so the Mx answers go through the SAE name redaction.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alarm.h"
#include "core/config.h"
#include "mgmt/ctl.h"
#include "mgmt/mx.h"
#include "mgmt/webview.h"

static const char conf[] =
	"[node]\nname = A\nstate_dir = state\n"
	"[tls]\nca = ca.pem\ncert = A.pem\nkey = A.key\n"
	"[etsi014]\nlisten = 127.0.0.1:8443\n"
	"[sae app1]\ncert_cn = app1\nnode = A\n"
	"[sae app12]\ncert_cn = app12\nnode = B\n"
	"[sae a]\ncert_cn = a\nnode = B\n"
	"[metrics]\nlisten = 127.0.0.1:9100\nclients = prometheus\n"
	"[manager b]\ncert_cn = mgr-b\nrole = mx\nshow = alarms summary\n"
	"min_severity = minor\n"
	"[manager u]\ncert_cn = un1\nrole = mu\nsaes = app1 app12\n"
	"[manager v]\ncert_cn = noc\nrole = view\n";

static const char *const cns[] = { "mgr-b", "un1", "noc", "nobody" };
static const char *const methods[] = { "GET", "POST", "HEAD", "DELETE" };
static const char *const paths[] = {
	"/mx/v1/alarms", "/mx/v1/summary", "/mu/v1/saes", "/mx", "/mu/x",
	"/view", "/view/app.js", "/view/app.css", "/view/v1/network", "/view/x",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct qkd_config cfg;
	static bool ready;
	struct ctl_sources src = { .cfg = &cfg };
	struct mgmt_reply r;
	char err[CONFIG_ERR_MAX];
	const char *path;

	if (!ready) {
		if (config_parse_string(conf, "fuzz.conf", "/base", &cfg, err,
					sizeof(err)))
			abort();
		alarm_raise("sae:app1", "app1 and app12 refused; a, app1a, xapp1");
		ready = true;
	}
	if (size < 2)
		return 0;
	path = paths[data[1] % (sizeof(paths) / sizeof(paths[0]))];
	(mx_owns(path) ? mx_handle : webview_handle)(&src, cns[data[0] & 3],
		methods[(data[0] >> 2) & 3], path, data + 2, size - 2, &r);
	if (!r.status || !r.type || (r.len && !r.body))
		abort();
	free(r.body);
	return 0;
}
