// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the provisioning request bodies (mgmt/provision.c):
 * bytes -> provision_parse_sae().  A parse either gives 400 with a reason
 * or an SAE whose three fields are set, NUL-terminated within their
 * buffers, and free of control characters.  The same bytes go to
 * provision_parse_generation(): 400 with a reason, or one of the two
 * states, and then the bytes name it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

static void check_generation(const uint8_t *data, size_t size)
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ksa_sae_cfg s;
	char err[256];
	int st;

	check_generation(data, size);
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
