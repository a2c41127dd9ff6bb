// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the provisioning request bodies (mgmt/provision.c):
 * the same bytes to each parser.  provision_parse_sae(): 400 with a
 * reason, or an SAE whose three fields are set, NUL-terminated within
 * their buffers, and free of control characters.  provision_parse_pool():
 * 400 with a reason, or at least one threshold, each a JSON integer >= 0.
 * provision_parse_peer(): 400 with a reason, or a peer whose name and
 * cert_cn are names and whose address the config parser takes.
 * provision_parse_generation(): 400 with a reason, or one of the two
 * states, and then the bytes name it.  provision_parse_link(): 400 with a
 * reason, or an object of strings free of NUL with a "name"; then
 * config_link_check() against a node with one peer, B: -1 with a reason,
 * or a link of that name to B.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "mgmt/provision.h"

static void check_field(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (!n || n == size)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			__builtin_trap();
}

static void pool(const uint8_t *data, size_t size)
{
	struct provision_pool pp;
	char err[256];
	int st;

	err[0] = '\0';
	st = provision_parse_pool((const char *)data, size, &pp, err,
				  sizeof(err));
	if (st) {
		if (st != 400 || !err[0] || strnlen(err, sizeof(err)) == sizeof(err))
			__builtin_trap();
		return;
	}
	if (!pp.has_warn && !pp.has_ready)
		__builtin_trap();
	/* JSON integers are signed 64-bit: nothing above INT64_MAX gets in */
	if ((pp.has_warn && pp.pool_warn > INT64_MAX) ||
	    (pp.has_ready && pp.pool_ready > INT64_MAX) ||
	    (!pp.has_warn && pp.pool_warn) || (!pp.has_ready && pp.pool_ready))
		__builtin_trap();
}

static void peer(const uint8_t *data, size_t size)
{
	struct peer_cfg c;
	char err[256];
	int st;

	err[0] = '\0';
	st = provision_parse_peer((const char *)data, size, &c, err,
				  sizeof(err));
	if (st) {
		if (st != 400 || !err[0] || strnlen(err, sizeof(err)) == sizeof(err))
			__builtin_trap();
		return;
	}
	if (!config_check_name(c.name, sizeof(c.name)) ||
	    !config_check_name(c.cert_cn, sizeof(c.cert_cn)) ||
	    strnlen(c.address, sizeof(c.address)) == sizeof(c.address) ||
	    config_check_address(c.address))
		__builtin_trap();
}

static void generation(const uint8_t *data, size_t size)
{
	char err[256] = "";
	bool run = false;
	int st = provision_parse_generation((const char *)data, size, &run,
					    err, sizeof(err));

	if (st) {
		if (st != 400 || !err[0] || strnlen(err, sizeof(err)) == sizeof(err))
			__builtin_trap();
		return;
	}
	if (!memmem(data, size, run ? "running" : "stopped", 7))
		__builtin_trap();
}

static void link_body(const uint8_t *data, size_t size)
{
	static const struct peer_cfg b = { "B", "127.0.0.1:1", "B" };
	static struct qkd_config cfg = { .node = { "A", "/nonexistent" } };
	const char *keys[PROVISION_LINK_FIELDS], *vals[PROVISION_LINK_FIELDS];
	struct kma_link_cfg l;
	char err[512] = "";
	const char *key;
	json_t *fields, *v;
	size_t n = 0;
	int st = provision_parse_link((const char *)data, size, &fields, err,
				      sizeof(err));

	if (st) {
		if (st != 400 || fields || !err[0] ||
		    strnlen(err, sizeof(err)) == sizeof(err))
			__builtin_trap();
		return;
	}
	if (!json_is_string(json_object_get(fields, "name")))
		__builtin_trap();
	json_object_foreach(fields, key, v) {
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v))
			__builtin_trap();
		if (strcmp(key, "name") && n < PROVISION_LINK_FIELDS) {
			keys[n] = key;
			vals[n++] = json_string_value(v);
		}
	}
	err[0] = '\0';
	if (config_link_check(json_string_value(json_object_get(fields, "name")),
			      keys, vals, n, &cfg, NULL, 0, &b, 1, &l, err,
			      sizeof(err))) {
		if (!err[0] || strnlen(err, sizeof(err)) == sizeof(err))
			__builtin_trap();
	} else if (strcmp(l.name, json_string_value(json_object_get(fields, "name"))) ||
		   strcmp(l.peer, "B")) {
		__builtin_trap();
	}
	json_decref(fields);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ksa_sae_cfg s;
	char err[256];
	int st;

	pool(data, size);
	peer(data, size);
	generation(data, size);
	link_body(data, size);

	err[0] = '\0';
	st = provision_parse_sae((const char *)data, size, &s, err, sizeof(err));
	if (st) {
		if (st != 400 || !err[0] || strnlen(err, sizeof(err)) == sizeof(err))
			__builtin_trap();
		return 0;
	}
	check_field(s.name, sizeof(s.name));
	check_field(s.cert_cn, sizeof(s.cert_cn));
	check_field(s.node, sizeof(s.node));
	if (strchr(s.name, '/') || strchr(s.node, ' '))
		__builtin_trap();
	return 0;
}
