// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the key file source's key_ID parser
 * (kma/keysrc_file.c): bytes -> "NAME/I/N".  A parse that succeeds must
 * give a valid file name and I < N <= KEYSRC_FILE_MAX_BLOCKS, and must
 * print back to exactly the input (one spelling per block, so the two ends
 * can never name one block two ways).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kma/keysrc_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[KXMSG_SRC_KEY_ID_MAX + 16], name[KEYSRC_FILE_NAME_MAX];
	char back[sizeof(id) + 32];
	uint32_t idx, n;

	if (size >= sizeof(id))
		return 0;
	memcpy(id, data, size);
	id[size] = '\0';
	if (keysrc_file_parse_id(id, name, &idx, &n))
		return 0;
	if (!keysrc_file_name_ok(name) || n == 0 || idx >= n ||
	    n > KEYSRC_FILE_MAX_BLOCKS)
		__builtin_trap();
	snprintf(back, sizeof(back), "%s/%u/%u", name, idx, n);
	if (strcmp(back, id) || strlen(back) >= KXMSG_SRC_KEY_ID_MAX)
		__builtin_trap();
	return 0;
}
