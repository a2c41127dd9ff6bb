// SPDX-License-Identifier: GPL-2.0
/* Word-at-a-time bitmap searches and updates for linux/bitmap.h. */
#include <linux/bitmap.h>

/* Bits >= @start of word @i, inverted first if @invert. */
static unsigned long word_from(const unsigned long *map, unsigned long i,
			       unsigned long start, unsigned long invert)
{
	unsigned long w = map[i] ^ invert;

	if (i == start / BITS_PER_LONG)
		w &= ~0UL << (start % BITS_PER_LONG);
	return w;
}

static unsigned long find_next(const unsigned long *map, unsigned long size,
			       unsigned long start, unsigned long invert)
{
	unsigned long i, w, bit;

	if (start >= size)
		return size;
	for (i = start / BITS_PER_LONG; i * BITS_PER_LONG < size; i++) {
		w = word_from(map, i, start, invert);
		if (w) {
			bit = i * BITS_PER_LONG + __builtin_ctzl(w);
			return bit < size ? bit : size;
		}
	}
	return size;
}

unsigned long find_next_bit(const unsigned long *map, unsigned long size,
			    unsigned long start)
{
	return find_next(map, size, start, 0);
}

unsigned long find_next_zero_bit(const unsigned long *map, unsigned long size,
				 unsigned long start)
{
	return find_next(map, size, start, ~0UL);
}

/* Mask of bits [start, start + len) within one word; len >= 1. */
static unsigned long word_mask(unsigned int start, unsigned int len)
{
	unsigned long m = len >= BITS_PER_LONG ? ~0UL : (1UL << len) - 1;

	return m << start;
}

static void bitmap_update(unsigned long *map, unsigned int start,
			  unsigned int len, bool set)
{
	while (len) {
		unsigned int off = start % BITS_PER_LONG;
		unsigned int n = BITS_PER_LONG - off;
		unsigned long mask;

		if (n > len)
			n = len;
		mask = word_mask(off, n);
		if (set)
			map[start / BITS_PER_LONG] |= mask;
		else
			map[start / BITS_PER_LONG] &= ~mask;
		start += n;
		len -= n;
	}
}

void bitmap_set(unsigned long *map, unsigned int start, unsigned int len)
{
	bitmap_update(map, start, len, true);
}

void bitmap_clear(unsigned long *map, unsigned int start, unsigned int len)
{
	bitmap_update(map, start, len, false);
}

unsigned long bitmap_find_next_zero_area(unsigned long *map,
					 unsigned long size,
					 unsigned long start, unsigned int nr,
					 unsigned long align_mask)
{
	unsigned long index, end, busy;

	for (;;) {
		index = find_next_zero_bit(map, size, start);
		index = (index + align_mask) & ~align_mask;
		end = index + nr;
		if (end > size)
			return end;
		busy = find_next_bit(map, end, index);
		if (busy >= end)
			return index;
		start = busy + 1;
	}
}
