// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for Mx and Mu (mx.h): an Mx policy's severity floor and SAE
 * name redaction over alarms, the refusals, and that a Mu manager's
 * accounting of its SAE holds no consumer's keys, without a network (the
 * whole interfaces are tested in selftests/host/mx_mu.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "core/alarm.h"
#include "core/config.h"
#include "kma/take.h"
#include "mgmt/account.h"
#include "mgmt/ctl.h"
#include "mgmt/mx.h"
#include "mgmt/mx_notify.h"

static const char conf[] =
	"[node]\nname = A\nstate_dir = state\n"
	"[tls]\nca = ca.pem\ncert = A.pem\nkey = A.key\n"
	"[etsi014]\nlisten = 127.0.0.1:8443\n"
	"[sae app1]\ncert_cn = app1\nnode = A\n"
	"[sae app12]\ncert_cn = app12\nnode = B\n"
	"[metrics]\nlisten = 127.0.0.1:9100\nclients = prometheus\n"
	"[manager b]\ncert_cn = mgr-b\nrole = mx\n"
	"[manager c]\ncert_cn = mgr-c\nrole = mx\nshow = alarms sae_names\n"
	"min_severity = warning\n"
	"[manager u]\ncert_cn = un1\nrole = mu\nsaes = app1\n";

static struct qkd_config cfg;

static struct account *mu_acct;	/* NULL but in test_mu_account */

static json_t *ask(const char *cn, const char *method, const char *path,
		   const char *body, int *status)
{
	struct ctl_sources src = { .cfg = &cfg, .account = mu_acct };
	struct mgmt_reply r;
	json_t *j;

	mx_handle(&src, cn, method, path, (const uint8_t *)body,
		  body ? strlen(body) : 0, &r);
	*status = r.status;
	assert_string_equal(r.type, "application/json");
	j = json_loadb(r.body, r.len, 0, NULL);
	assert_non_null(j);
	free(r.body);
	return j;
}

static void raise_alarms(void)
{
	struct alarm_desc warn = { .type = ALARM_QOS, .cause = "thresholdCrossed",
				   .severity = ALARM_WARNING };
	struct alarm_desc crit = { .object = "sae=app12",
				   .type = ALARM_SECURITY,
				   .cause = "authenticationFailure",
				   .severity = ALARM_CRITICAL };

	alarm_reset();
	alarm_raise_desc("pool:AB", &warn, "pool of AB low for app1");
	alarm_raise_desc("sae:app12", &crit,
			 "app12 refused; app1, app1x and xapp1 are not it");
}

static void test_policy(void **state)
{
	json_t *j, *a;
	char *text;
	int st;

	(void)state;
	raise_alarms();
	/* b: major and up, SAE names redacted, whole words only. */
	j = ask("mgr-b", "GET", "/mx/v1/alarms", NULL, &st);
	assert_int_equal(st, 200);
	assert_int_equal(json_array_size(json_object_get(j, "active")), 1);
	a = json_array_get(json_object_get(j, "active"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "severity")),
			    "critical");
	assert_string_equal(json_string_value(json_object_get(a, "object")),
			    "sae=[sae]");
	assert_string_equal(json_string_value(json_object_get(a, "text")),
			    "[sae] refused; [sae], app1x and xapp1 are not it");
	json_decref(j);
	/* c: from warning, names shown; no summary in its policy. */
	j = ask("mgr-c", "GET", "/mx/v1/alarms", NULL, &st);
	assert_int_equal(st, 200);
	assert_int_equal(json_array_size(json_object_get(j, "active")), 2);
	text = json_dumps(j, 0);
	assert_non_null(strstr(text, "pool of AB low for app1"));
	free(text);
	json_decref(j);
	j = ask("mgr-c", "GET", "/mx/v1/summary", NULL, &st);
	assert_int_equal(st, 403);
	json_decref(j);
	/* Narrower is allowed, wider is not. */
	j = ask("mgr-c", "POST", "/mx/v1/alarms", "{\"min_severity\":\"critical\"}", &st);
	assert_int_equal(st, 200);
	assert_int_equal(json_array_size(json_object_get(j, "active")), 1);
	json_decref(j);
	j = ask("mgr-b", "POST", "/mx/v1/alarms", "{\"min_severity\":\"minor\"}", &st);
	assert_int_equal(st, 403);
	json_decref(j);
	alarm_reset();
}

static void test_refusals(void **state)
{
	static const struct { const char *cn, *method, *path, *body; int st; } c[] = {
		{ "nobody", "GET", "/mx/v1/alarms", NULL, 403 },
		{ "", "GET", "/mx/v1/alarms", NULL, 403 },
		{ "prometheus", "GET", "/mu/v1/saes", NULL, 403 },
		{ "un1", "GET", "/mx/v1/alarms", NULL, 403 },
		{ "mgr-b", "GET", "/mu/v1/saes", NULL, 403 },
		{ "mgr-b", "GET", "/mx/v1/nothing", NULL, 404 },
		{ "mgr-b", "PUT", "/mx/v1/alarms", "{}", 405 },
		{ "mgr-b", "POST", "/mx/v1/alarms", "{\"min_severity\":", 400 },
		{ "mgr-b", "POST", "/mx/v1/alarms", "{\"min_severity\":\"major\",\"x\":1}", 400 },
		{ "mgr-b", "GET", "/mx/v1/alarms", "{}", 400 },
		{ "un1", "POST", "/mu/v1/saes", "{\"saes\":[\"app12\"]}", 403 },
		{ "un1", "POST", "/mu/v1/saes", "{\"saes\":[]}", 400 },
		{ "un1", "POST", "/mu/v1/saes", "[\"app1\"]", 400 },
		{ "un1", "POST", "/mu/v1/saes", "{\"saes\":[\"app1\"]}", 200 },
	};
	json_t *j;
	int st;

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		j = ask(c[i].cn, c[i].method, c[i].path, c[i].body, &st);
		if (st != c[i].st) {
			print_error("case %zu: got %d, expected %d\n", i, st,
				    c[i].st);
			fail();
		}
		if (st != 200)
			assert_true(json_is_string(json_object_get(j, "error")));
		json_decref(j);
	}
}

/*
 * A peer node that shares its name with the SAE app1: the consumer's row
 * (slave: that node) is the node's, not app1's, and Mu does not add it.
 */
static void test_mu_account(void **state)
{
	char dir[] = "/tmp/test_mx_acct.XXXXXX", path[64], err[200] = "";
	struct account_cfg ac = { .state_dir = dir, .interval_s = 60 };
	struct ksa_acct_event ev = {
		.op = KSA_ACCT_ENC, .master = "app1", .slave = "app12",
		.keys = 2, .bits = 512, .result = KSA_OK,
	};
	struct kma_take t = {
		.kind = "wireguard", .name = "w0", .peer = "app1",
		.link = "AB", .by_id = true, .keys = 5, .bytes = 160,
	};
	json_t *j, *sae;
	int st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	mu_acct = account_open(NULL, &ac, err, sizeof(err));
	assert_non_null(mu_acct);
	account_ksa_event(mu_acct, &ev);
	account_take_event(mu_acct, &t);
	j = ask("un1", "POST", "/mu/v1/saes", "{\"saes\":[\"app1\"]}", &st);
	assert_int_equal(st, 200);
	sae = json_array_get(json_object_get(j, "saes"), 0);
	assert_int_equal(json_integer_value(json_object_get(sae,
				"supplied_keys")), 2);
	assert_int_equal(json_integer_value(json_object_get(sae,
				"supplied_bits")), 512);
	json_decref(j);
	account_close(mu_acct);
	mu_acct = NULL;
	snprintf(path, sizeof(path), "%s/accounting.log", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/accounting.journal", dir);
	unlink(path);
	rmdir(dir);
}

/* A notify receiver's answer: its status line, as it arrives. */
static void test_notify_status(void **state)
{
	static const struct { const char *in; int ret, status; } cases[] = {
		{ "HTTP/1.1 204 No Content\r\n", 1, 204 },
		{ "HTTP/1.0 200\r\n", 1, 200 },
		{ "HTTP/1.1 503 Busy\r\nRetry-After: 1\r\n\r\n", 1, 503 },
		{ "HTTP/1.1 20", 0, 0 },	/* more to come */
		{ "HT", 0, 0 },
		{ "HTTP/1.1 200 OK\n", -1, 0 },	/* no CR */
		{ "HTTP/2 200\r\n", -1, 0 },
		{ "HTTP/1.1 2x0 OK\r\n", -1, 0 },
		{ "HTTP/1.1 099 Low\r\n", -1, 0 },
		{ "HTTP/1.1 2000\r\n", -1, 0 },
		{ "SSH-2.0\r\n", -1, 0 },
		{ "X", -1, 0 },
	};
	uint8_t big[MX_NOTIFY_MAX_ANSWER];
	int status;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		status = 0;
		assert_int_equal(mx_notify_parse_status(
			(const uint8_t *)cases[i].in, strlen(cases[i].in),
			&status), cases[i].ret);
		if (cases[i].ret == 1)
			assert_int_equal(status, cases[i].status);
	}
	/* A status line that never ends is refused at the bound. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "HTTP/1.1 200 ", 13);
	assert_int_equal(mx_notify_parse_status(big, sizeof(big) - 1, &status), 0);
	assert_int_equal(mx_notify_parse_status(big, sizeof(big), &status), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_mu_account),
		cmocka_unit_test(test_notify_status),
	};
	char err[CONFIG_ERR_MAX];
	int rc;

	if (config_parse_string(conf, "t.conf", "/etc/qkd", &cfg, err,
				sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	config_free(&cfg);
	return rc;
}
