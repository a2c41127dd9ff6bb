// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include "word_set.h"

static uint64_t *set;
static size_t set_size, set_used;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static void grow(void)
{
	uint64_t *old = set;
	size_t old_size = set_size, j;

	set_size = set_size ? set_size * 2 : 1 << 16;
	set = calloc(set_size, sizeof(*set));
	if (!set)
		exit(2);
	set_used = 0;
	for (j = 0; j < old_size; j++)
		if (old[j])
			word_set_add(old[j]);
	free(old);
}

void word_set_add(uint64_t w)
{
	size_t i;

	if (!w)
		return;
	if ((set_used + 1) * 2 > set_size)
		grow();
	for (i = mix(w) & (set_size - 1); set[i]; i = (i + 1) & (set_size - 1))
		if (set[i] == w)
			return;
	set[i] = w;
	set_used++;
}

int word_set_has(uint64_t w)
{
	size_t i;

	if (!set_size || !w)
		return 0;
	for (i = mix(w) & (set_size - 1); set[i]; i = (i + 1) & (set_size - 1))
		if (set[i] == w)
			return 1;
	return 0;
}

size_t word_set_count(void)
{
	return set_used;
}
