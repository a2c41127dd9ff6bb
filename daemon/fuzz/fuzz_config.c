// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the config parser: any bytes, parsed from memory
 * (libinih's stream interface over our line reader).  Must never crash,
 * leak or read out of bounds; a result is either a config or an error.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONFIG_ERR_MAX];
	struct qkd_config cfg;
	char *text;

	if (size > 64 * 1024)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_parse_string(text, "fuzz.conf", "/base", &cfg, err,
				sizeof(err)) == 0)
		config_free(&cfg);
	else if (!memchr(err, '\0', sizeof(err)))
		abort();	/* the error must be a terminated string */
	free(text);
	return 0;
}
