// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the config parser: a good file read back field by field,
 * and bad files, each with the exact "FILE:LINE: reason" expected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "core/alarm.h"
#include "core/config.h"
#include "kx/kxmsg.h"
#include "relay/relay.h"

#define SEED "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* A complete, valid file; bad cases are this with one line changed. */
static const char *const good_lines[] = {
	"; node A of a two-node line",		/* 1 */
	"[node]",				/* 2 */
	"name = A",				/* 3 */
	"state_dir = state/A",			/* 4 */
	"control = /run/qkdkmd/A.sock",		/* 5 */
	"",					/* 6 */
	"[tls]",				/* 7 */
	"ca = ca.pem",				/* 8 */
	"cert = A.pem",				/* 9 */
	"key = A.key",				/* 10 */
	"[etsi014]",				/* 11 */
	"listen = 127.0.0.1:8443",		/* 12 */
	"key_size = 256 ; default",		/* 13 */
	"max_key_per_request = 64",		/* 14 */
	"[kx]",					/* 15 */
	"listen = 127.0.0.1:9001",		/* 16 */
	"[peer B]",				/* 17 */
	"address = 127.0.0.1:9002",		/* 18 */
	"cert_cn = B",				/* 19 */
	"[link AB]",				/* 20 */
	"peer = B",				/* 21 */
	"source = sim",				/* 22 */
	"role = tx",				/* 23 */
	"seed = " SEED,				/* 24 */
	"rate = 20000000",			/* 25 */
	"block_size = 2048",			/* 26 */
	"[sae app1]",				/* 27 */
	"cert_cn = app1",			/* 28 */
	"node = A",				/* 29 */
	"[sae app2]",				/* 30 */
	"  cert_cn = app2",			/* 31: indented is fine */
	"node = B",				/* 32 */
	NULL
};

/* The good file with line @lineno (1-based) replaced by @repl (NULL: drop). */
static char *file_with(int lineno, const char *repl)
{
	size_t size = 8192, used = 0;
	char *buf = malloc(size);
	int i;

	assert_non_null(buf);
	buf[0] = '\0';
	for (i = 0; good_lines[i]; i++) {
		const char *l = i + 1 == lineno ? repl : good_lines[i];

		if (i + 1 == lineno && !repl)
			l = "";
		used += (size_t)snprintf(buf + used, size - used, "%s\n", l);
		assert_true(used < size);
	}
	return buf;
}

static int parse(const char *text, struct qkd_config *cfg, char *err)
{
	return config_parse_string(text, "t.conf", "/etc/qkd", cfg, err,
				   CONFIG_ERR_MAX);
}

static void test_good(void **state)
{
	char *text = file_with(0, NULL), err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;
	static const unsigned char seed0[] = { 0x00, 0x11, 0x22 };

	assert_int_equal(parse(text, &c, err), 0);
	assert_string_equal(c.node.name, "A");
	assert_string_equal(c.node.state_dir, "/etc/qkd/state/A");
	assert_string_equal(c.control, "/run/qkdkmd/A.sock");
	assert_string_equal(c.tls_ca, "/etc/qkd/ca.pem");
	assert_string_equal(c.tls_key, "/etc/qkd/A.key");
	assert_string_equal(c.etsi_listen, "127.0.0.1:8443");
	assert_int_equal(c.limits.key_size, 256);
	assert_int_equal(c.limits.min_key_size, 64);	/* default */
	assert_int_equal(c.limits.max_key_per_request, 64);
	assert_string_equal(c.kx_listen, "127.0.0.1:9001");
	assert_int_equal(c.n_peers, 1);
	assert_string_equal(c.peers[0].address, "127.0.0.1:9002");
	assert_int_equal(c.n_links, 1);
	assert_string_equal(c.links[0].peer, "B");
	assert_int_equal(c.links[0].source, KM_SOURCE_SIM);
	assert_int_equal(c.links[0].role, QKD_ROLE_TX);
	assert_memory_equal(c.links[0].seed, seed0, sizeof(seed0));
	assert_int_equal(c.links[0].seed[31], 0xff);
	assert_int_equal(c.links[0].rate, 20000000);
	assert_int_equal(c.links[0].block_size, 2048);
	assert_int_equal(c.n_saes, 2);
	assert_string_equal(c.saes[1].name, "app2");
	assert_string_equal(c.saes[1].cert_cn, "app2");
	assert_string_equal(c.saes[1].node, "B");
	config_free(&c);
	free(text);
}

/* [node] controller: centralized routing (configuration 2). */
static void test_controller(void **state)
{
	char *text = file_with(3, "name = A\ncontroller = C"),
	     err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;

	assert_int_equal(parse(text, &c, err), 0);
	assert_string_equal(c.controller, "C");
	config_free(&c);
	free(text);
	text = file_with(3, "name = A\ncontroller = C/x");
	assert_int_equal(parse(text, &c, err), -1);
	assert_non_null(strstr(err, "t.conf:4: "));
	free(text);
}

/* [accounting]: on by default; interval and enabled; bad values say why. */
static void test_accounting(void **state)
{
	static const struct { const char *section, *error; } bad[] = {
		{ "[accounting]\ninterval = 0", "t.conf:34: interval: " },
		{ "[accounting]\ninterval = 86401", "t.conf:34: interval: " },
		{ "[accounting]\nenabled = maybe",
		  "t.conf:34: enabled: 'maybe' is not yes or no" },
		{ "[accounting]\nsync = yes",
		  "t.conf:34: unknown key 'sync' in [accounting]" },
		{ "[accounting]\n[accounting]",
		  "t.conf:34: duplicate section [accounting] (first at line 33)" },
	};
	char *text = file_with(1, "; defaults"), err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;

	assert_int_equal(parse(text, &c, err), 0);
	assert_true(c.acct_enabled);
	assert_int_equal(c.acct_interval_s, 60);
	config_free(&c);
	free(text);
	text = file_with(32, "node = B\n[accounting]\nenabled = no\ninterval = 300");
	assert_int_equal(parse(text, &c, err), 0);
	assert_false(c.acct_enabled);
	assert_int_equal(c.acct_interval_s, 300);
	config_free(&c);
	free(text);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char tail[256];

		snprintf(tail, sizeof(tail), "node = B\n%s", bad[i].section);
		text = file_with(32, tail);
		err[0] = '\0';
		assert_int_equal(parse(text, &c, err), -1);
		if (strncmp(err, bad[i].error, strlen(bad[i].error)))
			print_error("got '%s'\nwant '%s...'\n", err, bad[i].error);
		assert_memory_equal(err, bad[i].error, strlen(bad[i].error));
		free(text);
	}
}

/* [node] role and key_relay: configurations 3 and 4. */
static void test_roles_and_central_relay(void **state)
{
	char *text = file_with(3, "name = A\nrole = user"),
	     err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;

	assert_int_equal(parse(text, &c, err), 0);
	assert_int_equal(c.role, NODE_ROLE_USER);
	assert_false(c.central_relay);
	config_free(&c);
	free(text);
	text = file_with(3, "name = A\nrole = boss");
	assert_int_equal(parse(text, &c, err), -1);
	assert_non_null(strstr(err, "t.conf:4: role: 'boss' is not user"));
	free(text);
	/* Access and relay nodes supply no keys: no SAE of their own. */
	text = file_with(3, "name = A\nrole = relay");
	assert_int_equal(parse(text, &c, err), -1);
	assert_non_null(strstr(err, "t.conf:28: [sae app1]: this node has role relay"));
	free(text);
	/* Central key relay: the controller is the only peer. */
	text = file_with(3, "name = A\nkey_relay = central\ncontroller = B");
	assert_int_equal(parse(text, &c, err), 0);
	assert_true(c.central_relay);
	config_free(&c);
	free(text);
	text = file_with(3, "name = A\nkey_relay = central");
	assert_int_equal(parse(text, &c, err), -1);
	assert_non_null(strstr(err, "needs 'controller'"));
	free(text);
	text = file_with(3, "name = A\nkey_relay = central\ncontroller = C");
	assert_int_equal(parse(text, &c, err), -1);
	assert_non_null(strstr(err, "the only [peer] is the controller 'C'"));
	free(text);
	text = file_with(3, "name = A\nkey_relay = sideways");
	assert_int_equal(parse(text, &c, err), -1);
	assert_non_null(strstr(err, "key_relay: 'sideways' is not direct or central"));
	free(text);
}

/* Session control: [node] relay_sessions, [sae] priority. */
static void test_session_control(void **state)
{
	char *text = file_with(32, "node = B\npriority = high"),
	     err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;

	assert_int_equal(parse(text, &c, err), 0);
	assert_int_equal(c.sae_priority[0], RELAY_PRIO_NORMAL);
	assert_int_equal(c.sae_priority[1], RELAY_PRIO_HIGH);
	assert_int_equal(c.relay_sessions, 0);
	config_free(&c);
	free(text);
	text = file_with(32, "node = B\npriority = urgent");
	assert_int_equal(parse(text, &c, err), -1);
	assert_non_null(strstr(err, "t.conf:33: priority: 'urgent' is not low, normal or high"));
	free(text);
	text = file_with(3, "name = A\nrelay_sessions = 64");
	assert_int_equal(parse(text, &c, err), 0);
	assert_int_equal(c.relay_sessions, 64);
	config_free(&c);
	free(text);
	text = file_with(3, "name = A\nrelay_sessions = 5000");
	assert_int_equal(parse(text, &c, err), -1);
	assert_non_null(strstr(err, "t.conf:4: relay_sessions"));
	free(text);
}

/* An SAE at a node that is not a link neighbour: reached by key relay. */
static void test_sae_at_relay_node(void **state)
{
	char *text = file_with(32, "node = Z"), err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;

	assert_int_equal(parse(text, &c, err), 0);
	assert_string_equal(c.saes[1].name, "app2");
	assert_string_equal(c.saes[1].node, "Z");
	config_free(&c);
	free(text);
}

/* A kernel-source link over IPv6: no sim keys, link_id required. */
static void test_good_kernel(void **state)
{
	static const char text[] =
		"[node]\nname = B\nstate_dir = /var/lib/qkdkmd\n"
		"secure_heap = 1048576\nlog_level = debug\n"
		"[tls]\nca = /c\ncert = /p\nkey = /k\n"
		"[etsi014]\nlisten = [::1]:8443\n"
		"[kx]\nlisten = [::1]:9002\n"
		"[peer A]\naddress = [::1]:9001\ncert_cn = A\n"
		"[link AB]\npeer = A\nsource = kernel\nlink_id = 7\n"
		"pool_warn = 100\npool_ready = 1000\n"
		"[sae app1]\ncert_cn = app1\nnode = A\n";
	char err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;

	if (parse(text, &c, err))
		print_error("%s\n", err);
	assert_string_equal(err, "");
	assert_int_equal(c.links[0].source, KM_SOURCE_KERNEL);
	assert_int_equal(c.links[0].link_id, 7);
	assert_int_equal(c.links[0].pool_ready, 1000);
	assert_int_equal(c.secure_heap, 1048576);
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	/* Default control socket from the node name. */
	assert_string_equal(c.control, "/run/qkdkmd/B.sock");
	config_free(&c);

	assert_int_equal(parse("[node]\nsecure_heap = 1000000\n", &c, err), -1);
	assert_string_equal(err, "t.conf:2: secure_heap: 1000000 is not a power of two");
}

/* [link] source = file: a good one, then what is refused, with lines. */
static void test_file_link(void **state)
{
	static const char head[] =
		"[node]\nname = B\nstate_dir = /var/lib/qkdkmd\n"	/* 1-3 */
		"[tls]\nca = /c\ncert = /p\nkey = /k\n"		/* 4-7 */
		"[etsi014]\nlisten = [::1]:8443\n"			/* 8-9 */
		"[kx]\nlisten = [::1]:9002\n"				/* 10-11 */
		"[peer A]\naddress = [::1]:9001\ncert_cn = A\n"	/* 12-14 */
		"[sae app1]\ncert_cn = app1\nnode = A\n"		/* 15-17 */
		"[link AB]\npeer = A\nsource = file\n";		/* 18-20 */
	char dir[] = "/tmp/kf-conf-XXXXXX", open_dir[64];
	char text[2048], err[CONFIG_ERR_MAX] = "", want[256];
	struct qkd_config c;

	assert_non_null(mkdtemp(dir));		/* 0700 */
	snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
	assert_int_equal(mkdir(open_dir, 0700), 0);
	assert_int_equal(chmod(open_dir, 0750), 0);
	snprintf(text, sizeof(text), "%srole = rx\nkey_dir = %s\n"
		 "key_wait_ms = 2000\n", head, dir);
	if (parse(text, &c, err))
		print_error("%s\n", err);
	assert_string_equal(err, "");
	assert_int_equal(c.links[0].source, KM_SOURCE_FILE);
	assert_string_equal(c.links[0].key_dir, dir);
	assert_int_equal(c.links[0].key_wait_ms, 2000);
	config_free(&c);

	snprintf(text, sizeof(text), "%srole = rx\nkey_dir = %s/none\n", head,
		 dir);
	assert_int_equal(parse(text, &c, err), -1);
	snprintf(want, sizeof(want),
		 "t.conf:22: key_dir: '%s/none': No such file or directory", dir);
	assert_string_equal(err, want);

	snprintf(text, sizeof(text), "%srole = rx\nkey_dir = %s\n", head,
		 open_dir);
	assert_int_equal(parse(text, &c, err), -1);
	snprintf(want, sizeof(want),
		 "t.conf:22: key_dir: '%s' is open to group or others (mode 0750): chmod 700 it",
		 open_dir);
	assert_string_equal(err, want);

	snprintf(text, sizeof(text), "%srole = rx\n", head);
	assert_int_equal(parse(text, &c, err), -1);
	assert_string_equal(err,
		"t.conf:18: [link AB]: source = file needs 'key_dir'");

	snprintf(text, sizeof(text), "%srole = rx\nkey_dir = %s\nseed = %064d\n",
		 head, dir, 0);
	assert_int_equal(parse(text, &c, err), -1);
	assert_string_equal(err,
		"t.conf:18: [link AB]: 'seed' is not for source = file");
	assert_int_equal(rmdir(open_dir), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* [link] source = etsi014: a good one, then what is refused, with lines. */
static void test_etsi014_link(void **state)
{
	static const char head[] =
		"[node]\nname = B\nstate_dir = /var/lib/qkdkmd\n"	/* 1-3 */
		"[tls]\nca = /c\ncert = /p\nkey = /k\n"		/* 4-7 */
		"[etsi014]\nlisten = [::1]:8443\n"			/* 8-9 */
		"[kx]\nlisten = [::1]:9002\n"				/* 10-11 */
		"[peer A]\naddress = [::1]:9001\ncert_cn = A\n"	/* 12-14 */
		"[sae app1]\ncert_cn = app1\nnode = A\n"		/* 15-17 */
		"[link AB]\npeer = A\nsource = etsi014\nrole = rx\n"	/* 18-21 */
		"kme_cert = /dev/null\nkme_key = /dev/null\n"		/* 22-23 */
		"sae_id = kmB\n";					/* 24 */
	static const struct { const char *tail, *err; } bad[] = {
		{ "kme_url = https://kme.example:8443\npeer_sae_id = kmB\nkme_ca = /dev/null\n",
		  "t.conf:18: [link AB]: sae_id and peer_sae_id are the same" },
		{ "kme_url = http://10.0.0.1:8443\npeer_sae_id = kmA\n",
		  "t.conf:25: kme_url: 'http://10.0.0.1:8443' does not start with https:// (the module must be reached over TLS)" },
		{ "kme_url = https://10.0.0.1:8443/api/v1\npeer_sae_id = kmA\n",
		  "t.conf:25: kme_url: 'https://10.0.0.1:8443/api/v1': give the KME's base URL only, without a path" },
		{ "kme_url = https://10.0.0.1:99999\npeer_sae_id = kmA\n",
		  "t.conf:25: kme_url: 'https://10.0.0.1:99999': bad port" },
		{ "kme_url = https://10.0.0.1\nkme_ca = /dev/null\n",
		  "t.conf:18: [link AB]: source = etsi014 needs 'peer_sae_id'" },
		{ "kme_url = https://10.0.0.1\npeer_sae_id = kmA\nkme_ca = /nonexistent/ca.pem\n",
		  "t.conf:27: kme_ca: cannot read '/nonexistent/ca.pem': No such file or directory" },
		{ "kme_url = https://10.0.0.1\npeer_sae_id = kmA\nkme_ca = /dev/null\nlink_id = 3\n",
		  "t.conf:18: [link AB]: 'link_id' is for source = kernel or kernel_push = yes" },
		{ "kme_url = https://10.0.0.1\npeer_sae_id = kmA\nkme_ca = /dev/null\nkernel_push = yes\n",
		  "t.conf:18: [link AB]: kernel_push = yes needs 'link_id'" },
		{ "kme_url = https://10.0.0.1\npeer_sae_id = kmA\nkme_ca = /dev/null\nkernel_push = 1\n",
		  "t.conf:28: kernel_push: '1' is not yes or no" },
		{ "kme_url = https://10.0.0.1\npeer_sae_id = kmA\nkme_ca = /dev/null\nstore_min = 9\nstore_max = 9\n",
		  "t.conf:18: [link AB]: store_min must be below store_max" },
	};
	char text[2048], err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;

	snprintf(text, sizeof(text), "%skme_url = https://[::1]:8443/\n"
		 "peer_sae_id = kmA\nkme_ca = /dev/null\n", head);
	if (parse(text, &c, err))
		print_error("%s\n", err);
	assert_string_equal(err, "");
	assert_int_equal(c.links[0].source, KM_SOURCE_ETSI014);
	assert_string_equal(c.links[0].kme_url, "https://[::1]:8443");
	assert_string_equal(c.links[0].kme_ca, "/dev/null");
	assert_string_equal(c.links[0].peer_sae_id, "kmA");
	assert_int_equal(c.links[0].store_min, 64);
	assert_int_equal(c.links[0].store_max, 256);
	assert_int_equal(c.links[0].kme_timeout_ms, 5000);
	assert_string_equal(c.links[0].where, "t.conf:18");
	assert_false(c.links[0].kernel_push);
	config_free(&c);
	/* Confirmed blocks into a qkd.ko push end of link ID 7. */
	snprintf(text, sizeof(text), "%skme_url = https://[::1]:8443/\n"
		 "peer_sae_id = kmA\nkme_ca = /dev/null\nkernel_push = yes\n"
		 "link_id = 7\n", head);
	if (parse(text, &c, err))
		print_error("%s\n", err);
	assert_string_equal(err, "");
	assert_true(c.links[0].kernel_push);
	assert_int_equal(c.links[0].link_id, 7);
	config_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", head, bad[i].tail);
		assert_int_equal(parse(text, &c, err), -1);
		assert_string_equal(err, bad[i].err);
	}
}

/* [ipsec] and [ipsec NAME]: a good file, then one bad line at a time. */
static const char *const ipsec_lines[] = {
	"[node]",				/* 1 */
	"name = A",				/* 2 */
	"state_dir = /var/lib/qkdkmd",		/* 3 */
	"[tls]",				/* 4 */
	"ca = /c",				/* 5 */
	"cert = /p",				/* 6 */
	"key = /k",				/* 7 */
	"[etsi014]",				/* 8 */
	"listen = 127.0.0.1:8443",		/* 9 */
	"[kx]",					/* 10 */
	"listen = 127.0.0.1:9001",		/* 11 */
	"[peer B]",				/* 12 */
	"address = 127.0.0.1:9002",		/* 13 */
	"cert_cn = B",				/* 14 */
	"[link AB]",				/* 15 */
	"peer = B",				/* 16 */
	"source = kernel",			/* 17 */
	"link_id = 7",				/* 18 */
	"[ipsec]",				/* 19 */
	"reqid_min = 100",			/* 20 */
	"reqid_max = 199",			/* 21 */
	"[ipsec gw4]",				/* 22 */
	"peer = B",				/* 23 */
	"link = AB",				/* 24 */
	"local = 192.0.2.1",			/* 25 */
	"remote = 192.0.2.2",			/* 26 */
	"lifetime = 1",				/* 27 */
	"grace = 2",				/* 28 */
	"soft_bytes = 1000000",			/* 29 */
	"hard_bytes = 2000000",			/* 30 */
	"[ipsec gw6]",				/* 31 */
	"peer = B",				/* 32 */
	"link = AB",				/* 33 */
	"local = 2001:db8::1",			/* 34 */
	"remote = 2001:db8::2",			/* 35 */
	"cipher = aes128-gcm",			/* 36 */
	NULL
};

static char *ipsec_file_with(int lineno, const char *repl)
{
	size_t size = 4096, used = 0;
	char *buf = malloc(size);

	assert_non_null(buf);
	buf[0] = '\0';
	for (int i = 0; ipsec_lines[i]; i++) {
		const char *l = i + 1 == lineno ? repl : ipsec_lines[i];

		used += (size_t)snprintf(buf + used, size - used, "%s\n",
					 l ? l : "");
		assert_true(used < size);
	}
	return buf;
}

static void test_ipsec(void **state)
{
	static const struct { int line; const char *repl, *error; } bad[] = {
		{ 20, "reqid_min = 0",
		  "t.conf:20: reqid_min: bad number '0' (expected 1..4294967295)" },
		{ 20, "reqid_min = 300", "t.conf:19: [ipsec]: reqid_min above reqid_max" },
		{ 21, NULL, "t.conf:19: [ipsec]: missing required key 'reqid_max'" },
		{ 19, "[kx2]", "t.conf:19: unknown section [kx2]" },
		{ 23, "peer = C", "t.conf:22: [ipsec gw4]: peer 'C' is not a [peer] section" },
		{ 24, "link = XY", "t.conf:22: [ipsec gw4]: link 'XY' is not a [link] section" },
		{ 25, NULL, "t.conf:22: [ipsec gw4]: missing required key 'local'" },
		{ 25, "local = gateway-a",
		  "t.conf:25: local: 'gateway-a' is not an IPv4 or IPv6 address" },
		{ 26, "remote = 2001:db8::2",
		  "t.conf:26: local and remote are not of one address family" },
		{ 27, "lifetime = 0",
		  "t.conf:27: lifetime: bad number '0' (expected 1..86400)" },
		{ 28, "grace = 1", "t.conf:28: grace: bad number '1' (expected 2..3600)" },
		{ 30, "hard_bytes = 1000000",
		  "t.conf:22: [ipsec gw4]: soft_bytes must be below hard_bytes" },
		{ 36, "cipher = des", "t.conf:36: cipher: 'des' is not aes256-gcm or aes128-gcm" },
		{ 35, "remote = 2001:db8::2\nmode = tunnel",
		  "t.conf:36: unknown key 'mode' in [ipsec gw6]" },
		{ 35, "remote = 192.0.2.2",
		  "t.conf:35: local and remote are not of one address family" },
		{ 31, "[ipsec gw4]", "t.conf:31: duplicate section [ipsec gw4]" },
		{ 21, "reqid_max = 199\nreplay_window = 4097",
		  "t.conf:22: replay_window: bad number '4097' (expected 0..4096)" },
	};
	char err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;
	char *text = ipsec_file_with(0, NULL);

	if (parse(text, &c, err))
		print_error("%s\n", err);
	assert_string_equal(err, "");
	free(text);
	assert_int_equal(c.ipsec.reqid_min, 100);
	assert_int_equal(c.ipsec.reqid_max, 199);
	assert_int_equal(c.ipsec.n_gws, 2);
	assert_int_equal(c.ipsec.gws[0].family, AF_INET);
	assert_int_equal(c.ipsec.gws[0].link_id, 7);
	assert_int_equal(c.ipsec.gws[0].key_len, 36);
	assert_int_equal(c.ipsec.gws[0].lifetime_s, 1);
	assert_int_equal(c.ipsec.gws[0].grace_s, 2);
	assert_true(c.ipsec.gws[0].hard_bytes == 2000000);
	assert_int_equal(c.ipsec.gws[0].remote[3], 2);
	assert_int_equal(c.ipsec.gws[1].family, AF_INET6);
	assert_int_equal(c.ipsec.gws[1].key_len, 20);
	assert_int_equal(c.ipsec.gws[1].lifetime_s, 3600);	/* defaults */
	assert_int_equal(c.ipsec.gws[1].grace_s, 30);
	assert_true(c.ipsec.gws[1].soft_bytes == 0);
	assert_int_equal(c.ipsec.replay_window, QKD_SA_REPLAY_WINDOW_DEFAULT);
	config_free(&c);
	text = ipsec_file_with(21, "reqid_max = 199\nreplay_window = 64");
	if (parse(text, &c, err))
		print_error("%s\n", err);
	free(text);
	assert_int_equal(c.ipsec.replay_window, 64);
	config_free(&c);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		text = ipsec_file_with(bad[i].line, bad[i].repl);
		err[0] = '\0';
		if (parse(text, &c, err) != -1 || strcmp(err, bad[i].error)) {
			print_error("case %zu: got '%s'\n   expected '%s'\n", i,
				    err, bad[i].error);
			fail();
		}
		assert_null(c.ipsec.gws);
		free(text);
	}

	/* A gateway needs a kernel link, to its own peer, and [ipsec]. */
	text = ipsec_file_with(18, "role = tx\nseed = " SEED);
	memcpy(strstr(text, "source = kernel"), "source = sim   ", 15);
	assert_int_equal(parse(text, &c, err), -1);
	free(text);
	assert_string_equal(err,
			    "t.conf:23: [ipsec gw4]: link 'AB' must have source = kernel or kernel_push = yes (SAs are keyed in the kernel)");
	/* ... or a link that feeds its confirmed blocks into a push end. */
	text = ipsec_file_with(18, "role = tx\nseed = " SEED "\nkernel_push = yes\nlink_id = 5");
	memcpy(strstr(text, "source = kernel"), "source = sim   ", 15);
	err[0] = '\0';
	if (parse(text, &c, err))
		print_error("%s\n", err);
	free(text);
	assert_string_equal(err, "");
	assert_int_equal(c.ipsec.gws[0].link_id, 5);
	config_free(&c);
	text = ipsec_file_with(0, NULL);
	{
		static const char sec[] = "[ipsec]\nreqid_min = 100\nreqid_max = 199\n";
		char *at = strstr(text, sec);

		memmove(at, at + strlen(sec), strlen(at + strlen(sec)) + 1);
	}
	assert_int_equal(parse(text, &c, err), -1);
	free(text);
	assert_string_equal(err,
			    "t.conf:19: [ipsec gw4]: needs an [ipsec] section with reqid_min and reqid_max");
}

/* [skip], after the good file's 32 lines. */
static const char *const skip_lines[] = {
	"[skip]",				/* 33 */
	"listen = 127.0.0.1:9443",		/* 34 */
	"local_system_id = gwA",		/* 35 */
	"sae = app1",				/* 36 */
	"client_cn = router-a",			/* 37 */
	"remote_systems = gwB:app2, gw.C:app2",	/* 38 */
	NULL
};

static char *skip_file_with(int lineno, const char *repl)
{
	char *base = file_with(0, NULL), *buf;
	size_t size = strlen(base) + 1024, used;

	buf = malloc(size);
	assert_non_null(buf);
	used = (size_t)snprintf(buf, size, "%s", base);
	free(base);
	for (int i = 0; skip_lines[i]; i++) {
		const char *l = i + 33 == lineno ? repl : skip_lines[i];

		used += (size_t)snprintf(buf + used, size - used, "%s\n",
					 l ? l : "");
		assert_true(used < size);
	}
	return buf;
}

static void test_skip(void **state)
{
	static const struct { int line; const char *repl, *error; } bad[] = {
		{ 34, NULL, "t.conf:33: [skip]: missing required key 'listen'" },
		{ 38, NULL, "t.conf:33: [skip]: missing required key 'remote_systems'" },
		{ 34, "listen = 127.0.0.1:8443",
		  "t.conf:33: [skip]: listen is [etsi014]'s address too" },
		{ 35, "local_system_id = gw A",
		  "t.conf:35: local_system_id: bad name 'gw A' (1..127 of A-Z a-z 0-9 . _ -)" },
		{ 36, "sae = app9", "t.conf:33: [skip]: sae 'app9' is not a [sae] section" },
		{ 36, "sae = app2",
		  "t.conf:33: [skip]: sae 'app2' is served by node 'B', not this node" },
		{ 38, "remote_systems = gwB",
		  "t.conf:38: remote_systems: 'gwB' is not ID:SAE" },
		{ 38, "remote_systems = gwB:app2,gwB:app2",
		  "t.conf:38: remote_systems: 'gwB' given twice" },
		{ 38, "remote_systems = gwB:app/2",
		  "t.conf:38: remote_systems: bad name in 'gwB:app/2' (A-Z a-z 0-9 . _ -)" },
		{ 38, "remote_systems = gwB:app7",
		  "t.conf:33: [skip]: remote system 'gwB': sae 'app7' is not a [sae] section" },
		{ 38, "remote_systems = gwB:app1",
		  "t.conf:33: [skip]: remote system 'gwB' stands for this node's own sae 'app1'" },
		{ 37, "client_cn = router-a\nentropy = yes",
		  "t.conf:38: unknown key 'entropy' in [skip]" },
		{ 37, "client_cn = router-a\npsk_identity = r1",
		  "t.conf:33: [skip]: psk_identity and psk_file go together" },
		{ 37, "client_cn = router-a\npsk_file = r1.psk",
		  "t.conf:33: [skip]: psk_identity and psk_file go together" },
		{ 37, "client_cn = router-a\npsk_hash = md5",
		  "t.conf:38: psk_hash: 'md5' is not sha256 or sha384" },
	};
	char err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;
	char *text = skip_file_with(0, NULL);

	if (parse(text, &c, err))
		print_error("%s\n", err);
	assert_string_equal(err, "");
	free(text);
	assert_string_equal(c.skip.listen, "127.0.0.1:9443");
	assert_string_equal(c.skip.local_id, "gwA");
	assert_string_equal(c.skip.sae, "app1");
	assert_string_equal(c.skip.client_cn, "router-a");
	assert_int_equal(c.skip.n_remotes, 2);
	assert_string_equal(c.skip.remotes[1].id, "gw.C");
	assert_string_equal(c.skip.remotes[1].sae, "app2");
	assert_string_equal(c.skip.ca, "");
	assert_string_equal(c.skip.psk_identity, "");
	assert_true(c.skip.psk_sha384);
	config_free(&c);
	text = skip_file_with(37, "client_cn = router-a\npsk_identity = r1\npsk_file = /etc/r1.psk\npsk_hash = sha256");
	if (parse(text, &c, err))
		print_error("%s\n", err);
	free(text);
	assert_string_equal(c.skip.psk_identity, "r1");
	assert_string_equal(c.skip.psk_file, "/etc/r1.psk");
	assert_false(c.skip.psk_sha384);
	config_free(&c);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		text = skip_file_with(bad[i].line, bad[i].repl);
		err[0] = '\0';
		if (parse(text, &c, err) != -1 || strcmp(err, bad[i].error)) {
			print_error("case %zu: got '%s'\n   expected '%s'\n", i,
				    err, bad[i].error);
			fail();
		}
		free(text);
	}
}

struct bad_case {
	int line;		/* line to replace */
	const char *repl;	/* its new text, NULL to blank it */
	const char *error;	/* expected message */
};

static const struct bad_case bad_cases[] = {
	/* An SAE and a KM never share a certificate CN. */
	{ 28, "cert_cn = B",
	  "t.conf:27: [sae app1]: cert_cn 'B' is also [peer B]'s; an SAE and a KM must not share a certificate CN" },
	{ 31, "cert_cn = A",
	  "t.conf:30: [sae app2]: cert_cn 'A' is this node's name (a KM's certificate CN)" },
	{ 8, "kx_ca = km.pem",
	  "t.conf:7: [tls]: missing required key 'ca' (or both 'kx_ca' and 'sae_ca')" },
	/* A plane's certificate goes with its key; cert and key otherwise. */
	{ 9, "kx_cert = A-kx.pem",
	  "t.conf:7: [tls]: 'kx_cert' and 'kx_key' go together; one is missing" },
	{ 10, "sae_key = A-sae.key",
	  "t.conf:7: [tls]: 'sae_cert' and 'sae_key' go together; one is missing" },
	{ 9, "kx_cert = A-kx.pem\nkx_key = A-kx.key",
	  "t.conf:7: [tls]: missing required key 'cert' (or both 'kx_cert' and 'sae_cert')" },
	{ 5, "allow_unlocked_memory = maybe",
	  "t.conf:5: allow_unlocked_memory: 'maybe' is not yes or no" },
	{ 5, "lock_all_memory = 1",
	  "t.conf:5: lock_all_memory: '1' is not yes or no" },
	{ 3, "nmae = A", "t.conf:3: unknown key 'nmae' in [node]" },
	{ 11, "[etsi]", "t.conf:11: unknown section [etsi]" },
	{ 13, "key_size = 25x",
	  "t.conf:13: key_size: bad number '25x' (expected 8..524288)" },
	{ 13, "key_size = -8",
	  "t.conf:13: key_size: bad number '-8' (expected 8..524288)" },
	{ 13, "key_size = 260",
	  "t.conf:11: [etsi014]: key sizes must be multiples of 8" },
	{ 14, "max_key_per_request = 5000",
	  "t.conf:14: max_key_per_request: bad number '5000' (expected 1..4096)" },
	{ 14, "listen = 127.0.0.1:8444",
	  "t.conf:14: duplicate key 'listen' in [etsi014]" },
	{ 12, "listen = localhost:8443",
	  "t.conf:12: listen: bad address 'localhost:8443' (expected IPv4:port or [IPv6]:port)" },
	{ 12, "listen = 127.0.0.1:0",
	  "t.conf:12: listen: bad address '127.0.0.1:0' (expected IPv4:port or [IPv6]:port)" },
	{ 3, NULL, "t.conf:2: [node]: missing required key 'name'" },
	{ 18, NULL, "t.conf:17: [peer B]: missing required key 'address'" },
	{ 21, "peer = C", "t.conf:20: [link AB]: peer 'C' is not a [peer] section" },
	{ 30, "[sae app1]", "t.conf:30: duplicate section [sae app1]" },
	{ 15, "[tls]", "t.conf:15: duplicate section [tls] (first at line 7)" },
	{ 22, "source = fake", "t.conf:22: source: 'fake' is not sim, kernel, etsi014 or file" },
	{ 23, "role = both", "t.conf:23: role: 'both' is not tx or rx" },
	{ 24, "seed = 0011", "t.conf:24: seed: expected 64 hex digits" },
	{ 24, "seed = zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	  "t.conf:24: seed: not a hex digit at position 1" },
	{ 23, NULL, "t.conf:20: [link AB]: source = sim needs 'role'" },
	{ 22, "source = kernel",
	  "t.conf:20: [link AB]: source = kernel needs 'link_id'" },
	{ 26, "block_size = 8",
	  "t.conf:26: block_size: bad number '8' (expected 64..65536)" },
	{ 26, "block_size = 256",
	  "t.conf:11: [etsi014]: max_key_size 4096 bits exceeds [link AB] block_size 256 bytes less 32 for key confirmation" },
	{ 31, "cert_cn = app1",
	  "t.conf:30: [sae app2]: cert_cn 'app1' already used by [sae app1]" },
	{ 17, "[peer A]", "t.conf:17: [peer A]: that is this node's own name" },
	{ 17, "[peer B/x]",
	  "t.conf:17: bad name in [peer B/x] (A-Z a-z 0-9 . _ -, shorter than 64)" },
	{ 6, "this is not ini",
	  "t.conf:6: syntax error (expected [section] or key = value)" },
	{ 1, "name = X", "t.conf:1: key 'name' outside any section" },
	{ 2, "[nodes]", "t.conf:2: unknown section [nodes]" },
	{ 5, "log_level = loud",
	  "t.conf:5: log_level: 'loud' is not error, warning, notice, info or debug" },
	{ 5, "control = ", "t.conf:5: control: empty path" },
};

static void test_bad(void **state)
{
	char err[CONFIG_ERR_MAX];
	struct qkd_config c;
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		char *text = file_with(b->line, b->repl);

		err[0] = '\0';
		if (parse(text, &c, err) != -1 || strcmp(err, b->error)) {
			print_error("case %zu: got '%s'\n   expected '%s'\n", i,
				    err, b->error);
			fail();
		}
		/* A failed parse leaves nothing to free. */
		assert_null(c.links);
		assert_null(c.peers);
		free(text);
	}
}

/* [metrics]: its listener and the CNs that may scrape it. */
static void test_metrics(void **state)
{
	static const struct { const char *section, *error; } bad[] = {
		{ "[metrics]\nclients = prom\n",
		  "t.conf:33: [metrics]: missing required key 'listen'" },
		{ "[metrics]\nlisten = 127.0.0.1:9100\n",
		  "t.conf:33: [metrics]: missing required key 'clients'" },
		{ "[metrics]\nlisten = 127.0.0.1:9100\nclients = , ,\n",
		  "t.conf:35: clients: no certificate CN given" },
		{ "[metrics]\nlisten = 127.0.0.1:9100\nclients = prom a/b\n",
		  "t.conf:35: clients: bad name 'a/b' (1..63 of A-Z a-z 0-9 . _ -)" },
		{ "[metrics]\nlisten = 127.0.0.1:9001\nclients = prom\n",
		  "t.conf:33: [metrics]: listen 127.0.0.1:9001 is also the [kx] listener; give it a port of its own" },
		{ "[metrics]\nlisten = 127.0.0.1:8443\nclients = prom\n",
		  "t.conf:33: [metrics]: listen 127.0.0.1:8443 is also the [etsi014] listener; give it a port of its own" },
		{ "[metrics]\nlisten = 127.0.0.1:9100\nclients = p\nport = 1\n",
		  "t.conf:36: unknown key 'port' in [metrics]" },
		{ "[metrics]\nlisten = 127.0.0.1:9100\nclients = a b c d e f g h i j k l m n o p q\n",
		  "t.conf:35: clients: more than 16 names" },
	};
	char tail[512], *text, err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;

	(void)state;
	text = file_with(32, "node = B\n[metrics]\nlisten = 127.0.0.1:9100\nclients = prom,\tgrafana-agent  prom2");
	assert_int_equal(parse(text, &c, err), 0);
	free(text);
	assert_string_equal(c.metrics_listen, "127.0.0.1:9100");
	assert_int_equal(c.n_metrics_clients, 3);
	assert_string_equal(c.metrics_clients[0], "prom");
	assert_string_equal(c.metrics_clients[1], "grafana-agent");
	assert_string_equal(c.metrics_clients[2], "prom2");
	config_free(&c);
	/* No section: no listener. */
	text = file_with(0, NULL);
	assert_int_equal(parse(text, &c, err), 0);
	free(text);
	assert_string_equal(c.metrics_listen, "");
	config_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(tail, sizeof(tail), "node = B\n%s", bad[i].section);
		text = file_with(32, tail);
		err[0] = '\0';
		if (parse(text, &c, err) != -1 || strcmp(err, bad[i].error)) {
			print_error("case %zu: got '%s'\n   expected '%s'\n", i,
				    err, bad[i].error);
			fail();
		}
		free(text);
	}
}

/* [manager NAME]: Mx, Mu and view managers on the [metrics] listener. */
static void test_managers(void **state)
{
#define M "[metrics]\nlisten = 127.0.0.1:9100\nclients = prom\n"
	static const struct { const char *section, *error; } bad[] = {
		{ "[manager b]\ncert_cn = mgr-b\nrole = mx\n",
		  "t.conf:33: [manager b]: needs a [metrics] section: managers are served on its listener" },
		{ M "[manager b]\nrole = mx\n",
		  "t.conf:36: [manager b]: missing required key 'cert_cn'" },
		{ M "[manager b]\ncert_cn = mgr-b\n",
		  "t.conf:36: [manager b]: missing required key 'role'" },
		{ M "[manager b]\ncert_cn = mgr-b\nrole = boss\n",
		  "t.conf:38: role: 'boss' is not mx, mu or view" },
		{ M "[manager b]\ncert_cn = mgr-b\nrole = mx\nshow = alarms keys\n",
		  "t.conf:39: show: 'keys' is not alarms, summary or sae_names" },
		{ M "[manager b]\ncert_cn = mgr-b\nrole = mx\nmin_severity = cleared\n",
		  "t.conf:39: min_severity: 'cleared' is not warning, minor, major or critical" },
		{ M "[manager u]\ncert_cn = un1\nrole = mu\n",
		  "t.conf:36: [manager u]: role mu needs 'saes', the SAEs of its user network" },
		{ M "[manager u]\ncert_cn = un1\nrole = mu\nsaes = app1 app9\n",
		  "t.conf:36: [manager u]: saes: 'app9' is not an [sae] section" },
		{ M "[manager u]\ncert_cn = un1\nrole = mu\nsaes = ,\n",
		  "t.conf:39: saes: no SAE given" },
		{ M "[manager b]\ncert_cn = mgr-b\nrole = mx\nsaes = app1\n",
		  "t.conf:36: [manager b]: 'saes' is for role mu only" },
		{ M "[manager u]\ncert_cn = un1\nrole = mu\nsaes = app1\nshow = alarms\n",
		  "t.conf:36: [manager u]: 'show', 'min_severity' and 'notify' are for role mx only" },
		{ M "[manager b]\ncert_cn = m\nrole = mx\nnotify = http://127.0.0.1:1/x\n",
		  "t.conf:39: notify: 'http://127.0.0.1:1/x' does not start with https://" },
		{ M "[manager b]\ncert_cn = m\nrole = mx\nnotify = https://mgr.example:443/x\n",
		  "t.conf:39: notify: 'mgr.example:443' is not a numeric IPv4 or [IPv6] address with a port" },
		{ M "[manager b]\ncert_cn = m\nrole = mx\nnotify = https:///x\n",
		  "t.conf:39: notify: no host:port in 'https:///x'" },
		{ M "[manager b]\ncert_cn = m\nrole = mx\nnotify = https://127.0.0.1:9/a\x01\n",
		  "t.conf:39: notify: the path has a blank or a control or non-ASCII byte" },
		{ M "[manager b]\ncert_cn = m\nrole = mx\nshow = summary\nnotify = https://127.0.0.1:9/\n",
		  "t.conf:36: [manager b]: 'notify' sends alarms: its 'show' needs alarms" },
		{ M "[manager b]\ncert_cn = m\nrole = mx\nnotify_queue = 8\n",
		  "t.conf:36: [manager b]: 'notify_queue' without 'notify'" },
		{ M "[manager b]\ncert_cn = m\nrole = mx\nnotify = https://127.0.0.1:9/\nnotify_queue = 0\n",
		  "t.conf:40: notify_queue: bad number '0' (expected 1..1024)" },
		{ M "[manager u]\ncert_cn = un1\nrole = mu\nsaes = app1\nnotify = https://127.0.0.1:9/\n",
		  "t.conf:36: [manager u]: 'show', 'min_severity' and 'notify' are for role mx only" },
		{ M "[manager b]\ncert_cn = m\nrole = mx\n[manager c]\ncert_cn = m\nrole = view\n",
		  "t.conf:39: [manager c]: cert_cn m is also [manager b]'s; one role per certificate" },
		{ M "[manager b]\ncert_cn = m\nrole = mx\n[manager b]\n",
		  "t.conf:39: duplicate section [manager b]" },
		{ M "[manager b]\ncert_cn = m\nrole = mx\npolicy = all\n",
		  "t.conf:39: unknown key 'policy' in [manager b]" },
	};
	char tail[1024], *text, err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;

	(void)state;
	text = file_with(32, "node = B\n" M
			 "[manager b]\ncert_cn = mgr-b\nrole = mx\n"
			 "ca = /etc/qkd/domain-b-ca.pem\n"
			 "notify = https://[::1]:8443/qkd/events\n"
			 "[manager c]\ncert_cn = mgr-c\nrole = mx\nshow = summary, sae_names\nmin_severity = warning\n"
			 "[manager u]\ncert_cn = un1\nrole = mu\nsaes = app1 app2\n"
			 "[manager v]\ncert_cn = noc\nrole = view");
	assert_int_equal(parse(text, &c, err), 0);
	free(text);
	assert_int_equal(c.n_managers, 4);
	assert_int_equal(c.managers[0].role, MANAGER_MX);
	/* The default policy: alarms from major and summaries, no SAE names. */
	assert_int_equal(c.managers[0].show,
			 MANAGER_SHOW_ALARMS | MANAGER_SHOW_SUMMARY);
	assert_int_equal(c.managers[0].min_severity, ALARM_MAJOR);
	assert_string_equal(c.managers[0].ca, "/etc/qkd/domain-b-ca.pem");
	assert_string_equal(c.managers[0].notify_addr, "[::1]:8443");
	assert_string_equal(c.managers[0].notify_path, "/qkd/events");
	assert_int_equal(c.managers[0].notify_queue, CONFIG_NOTIFY_QUEUE);
	assert_string_equal(c.managers[1].ca, "");
	assert_string_equal(c.managers[1].notify_addr, "");
	assert_int_equal(c.managers[1].show,
			 MANAGER_SHOW_SUMMARY | MANAGER_SHOW_SAE_NAMES);
	assert_int_equal(c.managers[1].min_severity, ALARM_WARNING);
	assert_int_equal(c.managers[2].role, MANAGER_MU);
	assert_int_equal(c.managers[2].n_saes, 2);
	assert_string_equal(c.managers[2].saes[1], "app2");
	assert_int_equal(c.managers[3].role, MANAGER_VIEW);
	assert_string_equal(c.managers[3].cert_cn, "noc");
	config_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(tail, sizeof(tail), "node = B\n%s", bad[i].section);
		text = file_with(32, tail);
		err[0] = '\0';
		if (parse(text, &c, err) != -1 || strcmp(err, bad[i].error)) {
			print_error("case %zu: got '%s'\n   expected '%s'\n", i,
				    err, bad[i].error);
			fail();
		}
		free(text);
	}
#undef M
}

/* [macsec NAME] after the good file's last line (32), from line 33 on. */
static char *file_with_macsec(const char *section)
{
	char tail[1024];

	snprintf(tail, sizeof(tail), "node = B\n%s", section);
	return file_with(32, tail);
}

static void test_macsec(void **state)
{
	static const struct { const char *section, *error; } bad[] = {
		{ "[macsec m0]\ninterface = macsec0\npeer = B\n",
		  "t.conf:33: [macsec m0]: missing required key 'link'" },
		{ "[macsec m0]\ninterface = macsec0\npeer = C\nlink = AB\n",
		  "t.conf:33: [macsec m0]: peer 'C' is not a [peer] section" },
		{ "[macsec m0]\ninterface = macsec0\npeer = B\nlink = BC\n",
		  "t.conf:33: [macsec m0]: link 'BC' is not a [link] section" },
		{ "[macsec m0]\ninterface = a/b\n",
		  "t.conf:34: interface: 'a/b' is not an interface name" },
		{ "[macsec m0]\ninterface = macsec0123456789\n",
		  "t.conf:34: interface: 'macsec0123456789' is not an interface name" },
		{ "[macsec m0]\nrotate_interval = 0\n",
		  "t.conf:34: rotate_interval: bad number '0' (expected 1..86400)" },
		{ "[macsec m0]\ncipher = gcm-aes-xpn-256\n",
		  "t.conf:34: cipher: 'gcm-aes-xpn-256' is not gcm-aes-128 or gcm-aes-256" },
		{ "[macsec m0]\npn_threshold = 4294967296\n",
		  "t.conf:34: pn_threshold: bad number '4294967296' (expected 1..4294967295)" },
		{ "[macsec m0]\nport = 1\n",
		  "t.conf:34: unknown key 'port' in [macsec m0]" },
		{ "[macsec m0]\ninterface = macsec0\npeer = B\nlink = AB\n"
		  "[macsec m1]\ninterface = macsec0\npeer = B\nlink = AB\n",
		  "t.conf:37: [macsec m1]: interface 'macsec0' already used by [macsec m0]" },
		{ "[macsec m0]\ninterface = macsec0\npeer = B\nlink = AB\n[macsec m0]\n",
		  "t.conf:37: duplicate section [macsec m0]" },
	};
	char err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;
	char *text;

	text = file_with_macsec("[macsec m0]\ninterface = macsec0\npeer = B\n"
				"link = AB\nrotate_interval = 1\n"
				"cipher = gcm-aes-256\npn_threshold = 1000\n"
				"[macsec m1]\ninterface = macsec1\npeer = B\n"
				"link = AB\n");
	if (parse(text, &c, err))
		print_error("%s\n", err);
	assert_string_equal(err, "");
	assert_int_equal(c.n_macsec, 2);
	assert_string_equal(c.macsec[0].name, "m0");
	assert_string_equal(c.macsec[0].ifname, "macsec0");
	assert_string_equal(c.macsec[0].peer, "B");
	assert_string_equal(c.macsec[0].link, "AB");
	assert_int_equal(c.macsec[0].rotate_s, 1);
	assert_int_equal(c.macsec[0].key_len, 32);
	assert_true(c.macsec[0].pn_threshold == 1000);
	/* Defaults: a minute, the interface's cipher, 3/4 of the PN space. */
	assert_int_equal(c.macsec[1].rotate_s, 60);
	assert_int_equal(c.macsec[1].key_len, 0);
	assert_true(c.macsec[1].pn_threshold == MACSEC_PN_THRESHOLD_DEFAULT);
	config_free(&c);
	assert_null(c.macsec);
	free(text);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		text = file_with_macsec(bad[i].section);
		err[0] = '\0';
		if (parse(text, &c, err) != -1 || strcmp(err, bad[i].error)) {
			print_error("macsec case %zu: got '%s'\n   expected '%s'\n",
				    i, err, bad[i].error);
			fail();
		}
		assert_null(c.macsec);
		free(text);
	}
}

#define WG_PUB	"vjseyckX0ZaXFlW/3odKe00XMm1m9qnDUol5oXzaICk="

static void test_wireguard(void **state)
{
	static const struct { const char *section, *error; } bad[] = {
		{ "[wireguard w0]\ninterface = wg0\npeer = B\nlink = AB\n",
		  "t.conf:33: [wireguard w0]: missing required key 'public_key'" },
		{ "[wireguard w0]\npublic_key = vjseyckX0ZaXFlW\n",
		  "t.conf:34: public_key: not a WireGuard key (44 characters of base64, as wg pubkey prints)" },
		{ "[wireguard w0]\npublic_key = vjseyckX0ZaXFlW/3odKe00XMm1m9qnDUol5oXzaIC!=\n",
		  "t.conf:34: public_key: not a WireGuard key (44 characters of base64, as wg pubkey prints)" },
		{ "[wireguard w0]\ninterface = wg0\npublic_key = " WG_PUB
		  "\npeer = C\nlink = AB\n",
		  "t.conf:33: [wireguard w0]: peer 'C' is not a [peer] section" },
		{ "[wireguard w0]\nrotate_interval = 0\n",
		  "t.conf:34: rotate_interval: bad number '0' (expected 1..86400)" },
		{ "[wireguard w0]\ninterface = wg0\npublic_key = " WG_PUB
		  "\npeer = B\nlink = AB\n"
		  "[wireguard w1]\ninterface = wg0\npublic_key = " WG_PUB
		  "\npeer = B\nlink = AB\n",
		  "t.conf:38: [wireguard w1]: interface 'wg0' and public_key already used by [wireguard w0]" },
	};
	char err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;
	char *text;

	text = file_with_macsec("[wireguard w0]\ninterface = wg0\n"
				"public_key = " WG_PUB "\npeer = B\n"
				"link = AB\nrotate_interval = 5\n");
	if (parse(text, &c, err))
		print_error("%s\n", err);
	assert_string_equal(err, "");
	assert_int_equal(c.n_wireguard, 1);
	assert_string_equal(c.wireguard[0].ifname, "wg0");
	assert_int_equal(c.wireguard[0].rotate_s, 5);
	assert_int_equal(c.wireguard[0].public_key[0], 0xbe);
	assert_int_equal(c.wireguard[0].public_key[31], 0x29);
	config_free(&c);
	assert_null(c.wireguard);
	free(text);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		text = file_with_macsec(bad[i].section);
		err[0] = '\0';
		if (parse(text, &c, err) != -1 || strcmp(err, bad[i].error)) {
			print_error("wireguard case %zu: got '%s'\n   expected '%s'\n",
				    i, err, bad[i].error);
			fail();
		}
		assert_null(c.wireguard);
		free(text);
	}
}

static void test_strongswan(void **state)
{
	static const struct { const char *section, *error; } bad[] = {
		{ "[strongswan s0]\nlink = AB\n",
		  "t.conf:33: [strongswan s0]: missing required key 'peer'" },
		{ "[strongswan s0]\npeer = B\nlink = AC\n",
		  "t.conf:33: [strongswan s0]: link 'AC' is not a [link] section" },
		{ "[strongswan s0]\nppk_id = qkd ppk\n",
		  "t.conf:34: ppk_id: 'qkd ppk' has a blank, quote or non-ASCII character" },
		{ "[strongswan s0]\nconnection = \"gw\"\n",
		  "t.conf:34: connection: '\"gw\"' has a blank, quote or non-ASCII character" },
		{ "[strongswan s0]\nrotate_interval = 86401\n",
		  "t.conf:34: rotate_interval: bad number '86401' (expected 1..86400)" },
		{ "[strongswan s0]\nsocket =\n",
		  "t.conf:34: socket: empty path" },
		{ "[strongswan s0]\npeer = B\nlink = AB\n"
		  "[strongswan s1]\npeer = B\nlink = AB\nconnection = s0\n",
		  "t.conf:36: [strongswan s1]: connection 's0' of /var/run/charon.vici already used by [strongswan s0]" },
		{ "[strongswan s0]\nsecret = 0x00\n",
		  "t.conf:34: unknown key 'secret' in [strongswan s0]" },
	};
	char err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;
	char *text;

	text = file_with_macsec("[strongswan s0]\npeer = B\nlink = AB\n"
				"[strongswan s1]\npeer = B\nlink = AB\n"
				"connection = gw-gw\nchild = net\n"
				"ppk_id = ppk@qkd.example\nsocket = charon.vici\n"
				"rotate_interval = 5\n");
	if (parse(text, &c, err))
		print_error("%s\n", err);
	assert_string_equal(err, "");
	assert_int_equal(c.n_strongswan, 2);
	/* Defaults: connection NAME, ppk_id qkd-NAME, charon's socket. */
	assert_string_equal(c.strongswan[0].connection, "s0");
	assert_string_equal(c.strongswan[0].ppk_id, "qkd-s0");
	assert_string_equal(c.strongswan[0].child, "");
	assert_string_equal(c.strongswan[0].socket, "/var/run/charon.vici");
	assert_int_equal(c.strongswan[0].rotate_s, 3600);
	assert_string_equal(c.strongswan[1].connection, "gw-gw");
	assert_string_equal(c.strongswan[1].child, "net");
	assert_string_equal(c.strongswan[1].ppk_id, "ppk@qkd.example");
	assert_int_equal(c.strongswan[1].rotate_s, 5);
	/* A relative socket is next to the config file. */
	assert_non_null(strstr(c.strongswan[1].socket, "/charon.vici"));
	assert_true(c.strongswan[1].socket[0] == '/');
	config_free(&c);
	assert_null(c.strongswan);
	free(text);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		text = file_with_macsec(bad[i].section);
		err[0] = '\0';
		if (parse(text, &c, err) != -1 || strcmp(err, bad[i].error)) {
			print_error("strongswan case %zu: got '%s'\n   expected '%s'\n",
				    i, err, bad[i].error);
			fail();
		}
		assert_null(c.strongswan);
		free(text);
	}
}

static void test_missing_sections(void **state)
{
	char err[CONFIG_ERR_MAX];
	struct qkd_config c;

	assert_int_equal(parse("", &c, err), -1);
	assert_string_equal(err, "t.conf: missing section [node]");
	assert_int_equal(parse("[node]\nname = A\nstate_dir = /x\n", &c, err),
			 -1);
	assert_string_equal(err, "t.conf: missing section [tls]");
}

static void test_long_line(void **state)
{
	char text[600], err[CONFIG_ERR_MAX];
	struct qkd_config c;

	snprintf(text, sizeof(text), "[node]\nname = %0300d\n", 0);
	assert_int_equal(parse(text, &c, err), -1);
	assert_string_equal(err, "t.conf:2: line too long (at most 198 characters)");
}

/* Two trust anchors and CRLs; each defaults to the shared one. */
static void test_trust_anchors(void **state)
{
	char err[CONFIG_ERR_MAX] = "";
	struct qkd_config c;
	char *text;

	text = file_with(0, NULL);
	assert_int_equal(parse(text, &c, err), 0);
	assert_string_equal(c.tls_kx_ca, "/etc/qkd/ca.pem");
	assert_string_equal(c.tls_sae_ca, "/etc/qkd/ca.pem");
	assert_string_equal(c.tls_kx_crl, "");
	assert_string_equal(c.tls_sae_crl, "");
	assert_false(c.allow_unlocked_memory);
	assert_false(c.lock_all_memory);
	config_free(&c);
	free(text);

	text = file_with(8, "kx_ca = km.pem\nsae_ca = sae.pem\ncrl = all.crl");
	assert_int_equal(parse(text, &c, err), 0);
	assert_string_equal(c.tls_ca, "");
	assert_string_equal(c.tls_kx_ca, "/etc/qkd/km.pem");
	assert_string_equal(c.tls_sae_ca, "/etc/qkd/sae.pem");
	assert_string_equal(c.tls_kx_crl, "/etc/qkd/all.crl");
	assert_string_equal(c.tls_sae_crl, "/etc/qkd/all.crl");
	config_free(&c);
	free(text);

	/* kx_crl wins over crl, in either order. */
	text = file_with(8, "ca = ca.pem\nkx_crl = km.crl\ncrl = all.crl");
	assert_int_equal(parse(text, &c, err), 0);
	assert_string_equal(c.tls_kx_ca, "/etc/qkd/ca.pem");
	assert_string_equal(c.tls_kx_crl, "/etc/qkd/km.crl");
	assert_string_equal(c.tls_sae_crl, "/etc/qkd/all.crl");
	config_free(&c);
	free(text);
	text = file_with(8, "ca = ca.pem\ncrl = all.crl\nsae_crl = sae.crl");
	assert_int_equal(parse(text, &c, err), 0);
	assert_string_equal(c.tls_kx_crl, "/etc/qkd/all.crl");
	assert_string_equal(c.tls_sae_crl, "/etc/qkd/sae.crl");
	config_free(&c);
	free(text);

	/* Each plane's certificate and key, falling back to cert and key. */
	text = file_with(0, NULL);
	assert_int_equal(parse(text, &c, err), 0);
	assert_string_equal(c.tls_kx_cert, "/etc/qkd/A.pem");
	assert_string_equal(c.tls_kx_key, "/etc/qkd/A.key");
	assert_string_equal(c.tls_sae_cert, "/etc/qkd/A.pem");
	assert_string_equal(c.tls_sae_key, "/etc/qkd/A.key");
	config_free(&c);
	free(text);
	text = file_with(10, "key = A.key\nsae_cert = A-sae.pem\nsae_key = A-sae.key");
	assert_int_equal(parse(text, &c, err), 0);
	assert_string_equal(c.tls_kx_cert, "/etc/qkd/A.pem");
	assert_string_equal(c.tls_kx_key, "/etc/qkd/A.key");
	assert_string_equal(c.tls_sae_cert, "/etc/qkd/A-sae.pem");
	assert_string_equal(c.tls_sae_key, "/etc/qkd/A-sae.key");
	config_free(&c);
	free(text);
	/* Both planes their own: cert and key are not needed. */
	text = file_with(9, "kx_cert = A-kx.pem\nkx_key = A-kx.key\nsae_cert = A-sae.pem\nsae_key = A-sae.key");
	memset(strstr(text, "key = A.key"), ' ', strlen("key = A.key"));
	assert_int_equal(parse(text, &c, err), 0);
	assert_string_equal(c.tls_kx_cert, "/etc/qkd/A-kx.pem");
	assert_string_equal(c.tls_kx_key, "/etc/qkd/A-kx.key");
	assert_string_equal(c.tls_sae_cert, "/etc/qkd/A-sae.pem");
	assert_string_equal(c.tls_sae_key, "/etc/qkd/A-sae.key");
	config_free(&c);
	free(text);

	text = file_with(5, "allow_unlocked_memory = yes");
	assert_int_equal(parse(text, &c, err), 0);
	assert_true(c.allow_unlocked_memory);
	config_free(&c);
	free(text);

	text = file_with(5, "lock_all_memory = yes");
	assert_int_equal(parse(text, &c, err), 0);
	assert_true(c.lock_all_memory);
	config_free(&c);
	free(text);
}

/* Who may read a file with seeds (config_check_secrets_mode()). */
static void test_secrets_mode(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX", path[128], err[CONFIG_ERR_MAX];
	char *text = file_with(0, NULL);
	struct qkd_config c;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(config_check_secrets_mode(path, &c, err, sizeof(err)), 0);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(config_check_secrets_mode(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mode 0604 lets every user read"));
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(path, 0602), 0);
	assert_int_equal(config_check_secrets_mode(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mode 0602 lets every user change it"));
	/* No seed (no sim link): reading is fine, writing still is not. */
	c.n_links = 0;
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_check_secrets_mode(path, &c, err, sizeof(err)), 0);
	c.n_links = 1;
	config_free(&c);
	unlink(path);
	rmdir(dir);
	free(text);
}

static void test_file(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX", path[128], err[CONFIG_ERR_MAX];
	char *text = file_with(0, NULL);
	struct qkd_config c;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	/* Relative paths resolve against the file's directory. */
	assert_true(!strncmp(c.tls_ca, dir, strlen(dir)));
	config_free(&c);
	unlink(path);
	rmdir(dir);

	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_etsi014_link),
		cmocka_unit_test(test_file_link),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_good_kernel),
		cmocka_unit_test(test_ipsec),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_sae_at_relay_node),
		cmocka_unit_test(test_controller),
		cmocka_unit_test(test_accounting),
		cmocka_unit_test(test_roles_and_central_relay),
		cmocka_unit_test(test_session_control),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_missing_sections),
		cmocka_unit_test(test_macsec),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_managers),
		cmocka_unit_test(test_wireguard),
		cmocka_unit_test(test_strongswan),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_trust_anchors),
		cmocka_unit_test(test_secrets_mode),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
