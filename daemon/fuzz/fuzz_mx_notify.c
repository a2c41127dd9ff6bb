// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the Mx notifier's reading of a receiver's answer
 * (mx_notify_parse_status()): any bytes, checked at every prefix length
 * as they would arrive.  Must never read past @len, must answer "more"
 * only while the status line can still complete, and a status it finds
 * must be 100..599 and stay the same for every longer prefix.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/mx_notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int first = 0, status;
	uint8_t *copy;

	/* An exact-size heap copy: ASan sees any read beyond it. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	for (size_t n = 1; n <= size; n++) {
		int r = mx_notify_parse_status(copy, n, &status);

		if (r < -1 || r > 1)
			__builtin_trap();
		if (r == 1 && (status < 100 || status > 599))
			__builtin_trap();
		if (r == 1 && first && status != first)
			__builtin_trap();
		if (r == 1)
			first = status;
		if (first && r != 1)
			__builtin_trap();	/* once complete, always */
		if (r == 0 && n >= MX_NOTIFY_MAX_ANSWER)
			__builtin_trap();
		if (r < 0)
			break;
	}
	free(copy);
	return 0;
}
