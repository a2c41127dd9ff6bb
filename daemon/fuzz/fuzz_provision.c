// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the provisioning request body (mgmt/provision.c):
 * bytes -> provision_parse_sae().  A parse either gives 400 with a reason
 * or an SAE whose three fields are set, NUL-terminated within their
 * buffers, and free of control characters.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ksa_sae_cfg s;
	char err[256];
	int st;

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
