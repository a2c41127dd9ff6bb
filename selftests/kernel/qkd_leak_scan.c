// SPDX-License-Identifier: GPL-2.0
/*
 * qkd_leak_scan KEYS.hex LOG...: exits 1 and names the place if any 8-byte
 * window of the keys (one hex string per line in KEYS.hex) appears in a log
 * file, either as raw bytes or as hex (either case, with or without
 * separators between byte pairs, as %*ph and %*phC print them).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "word_set.h"

#define WINDOW 8

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

static size_t load_keys(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, keys = 0;
	ssize_t n;

	if (!f) {
		perror(path);
		exit(2);
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		uint64_t w = 0;
		ssize_t i, bytes = 0;

		for (i = 0; i + 1 < n && isxdigit((unsigned char)line[i]); i += 2) {
			w = w << 8 | (hexval(line[i]) << 4 | hexval(line[i + 1]));
			if (++bytes >= WINDOW)
				word_set_add(w);
		}
		keys++;
	}
	free(line);
	fclose(f);
	return keys;
}

/* Decodes a hex digit stream into bytes; one per nibble phase. */
struct hex_decoder {
	uint64_t window;
	long bytes;
	int hi;
};

static int hex_feed(struct hex_decoder *d, int c)
{
	if (d->hi < 0) {
		d->hi = hexval(c);
		return 0;
	}
	d->window = d->window << 8 | (d->hi << 4 | hexval(c));
	d->hi = -1;
	return ++d->bytes >= WINDOW && word_set_has(d->window);
}

static void hex_reset(struct hex_decoder *d)
{
	d->bytes = 0;
	d->hi = -1;
}

/* Raw windows and hex-decoded windows (both nibble phases); 1 on a hit. */
static int scan(const char *path)
{
	FILE *f = fopen(path, "r");
	struct hex_decoder dec[2] = { { .hi = -1 }, { .hi = -1 } };
	uint64_t raw = 0;
	long off = 0, raw_n = 0, run = 0;
	int c, p, hits = 0;

	if (!f) {
		perror(path);
		return 0;
	}
	for (; (c = fgetc(f)) != EOF; off++) {
		raw = raw << 8 | (uint8_t)c;
		if (++raw_n >= WINDOW && word_set_has(raw)) {
			printf("# key bytes (raw) in %s at offset %ld\n", path, off);
			hits++;
		}
		if (isxdigit(c)) {
			for (p = 0; p < 2; p++) {
				if (p == 1 && run == 0)
					continue;	/* phase 1 starts one nibble late */
				if (hex_feed(&dec[p], c)) {
					printf("# key bytes (hex) in %s at offset %ld\n", path, off);
					hits++;
				}
			}
			run++;
			continue;
		}
		/* "de ad", "de:ad": a separator between byte pairs keeps the run */
		for (p = 0; p < 2; p++)
			if (!(dec[p].hi < 0 && (c == ' ' || c == ':' || c == '-')))
				hex_reset(&dec[p]);
		if (dec[0].bytes == 0 && dec[1].bytes == 0)
			run = 0;
	}
	fclose(f);
	return hits > 0;
}

int main(int argc, char **argv)
{
	size_t keys;
	int i, leaked = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s KEYS.hex LOG...\n", argv[0]);
		return 2;
	}
	keys = load_keys(argv[1]);
	printf("# %zu keys, %zu distinct %d-byte windows\n", keys, word_set_count(), WINDOW);
	for (i = 2; i < argc; i++)
		leaked |= scan(argv[i]);
	return leaked;
}
