// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the etsi014 key source's parsing of a QKD module's
 * answers (kma/keysrc_etsi014.c): bytes -> Status, and bytes -> Key
 * container.  Checks that a parse that succeeds gives what the caller
 * relies on (limits in order; keys within bounds, with distinct printable
 * key_IDs) and that a failed parse leaves no byte in the key buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kma/keysrc_etsi014.h"

#define MAX_KEYS	8
#define KEY_LEN		32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct keysrc_etsi014_key keys[MAX_KEYS];
	static uint8_t bytes[MAX_KEYS * KEY_LEN];
	struct keysrc_etsi014_status st;
	char err[160];
	uint32_t n;

	if (!keysrc_etsi014_parse_status((const char *)data, size, &st, err,
					 sizeof(err))) {
		if (!st.key_size || !st.max_key_per_request ||
		    !st.min_key_size || st.min_key_size > st.max_key_size)
			__builtin_trap();
	} else if (!memchr(err, '\0', sizeof(err))) {
		__builtin_trap();
	}
	memset(bytes, 0xa5, sizeof(bytes));
	if (keysrc_etsi014_parse_keys((const char *)data, size, MAX_KEYS,
				      KEY_LEN, keys, bytes, &n, err,
				      sizeof(err))) {
		for (size_t i = 0; i < sizeof(bytes); i++)
			if (bytes[i])
				__builtin_trap();
		return 0;
	}
	if (n == 0 || n > MAX_KEYS)
		__builtin_trap();
	for (uint32_t i = 0; i < n; i++) {
		size_t len = strnlen(keys[i].key_id, sizeof(keys[i].key_id));

		if (len == 0 || len == sizeof(keys[i].key_id))
			__builtin_trap();
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(keys[i].key_id, keys[j].key_id))
				__builtin_trap();
	}
	return 0;
}
