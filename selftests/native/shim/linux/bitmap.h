/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The bitmap and find_bit calls pool.c makes, word at a time like the
 * kernel's lib/find_bit.c and lib/bitmap.c (implemented in shim/bitmap.c).
 */
#ifndef _QKD_SHIM_BITMAP_H
#define _QKD_SHIM_BITMAP_H

#include <linux/types.h>

/* First set (zero) bit in [start, size), or size if there is none. */
unsigned long find_next_bit(const unsigned long *map, unsigned long size,
			    unsigned long start);
unsigned long find_next_zero_bit(const unsigned long *map, unsigned long size,
				 unsigned long start);
void bitmap_set(unsigned long *map, unsigned int start, unsigned int len);
void bitmap_clear(unsigned long *map, unsigned int start, unsigned int len);
/*
 * First run of @nr zero bits in [start, size) whose index is a multiple of
 * align_mask + 1; if there is none, an index with index + nr > size.
 */
unsigned long bitmap_find_next_zero_area(unsigned long *map,
					 unsigned long size,
					 unsigned long start, unsigned int nr,
					 unsigned long align_mask);

static inline bool test_bit(unsigned long nr, const unsigned long *map)
{
	return (map[nr / BITS_PER_LONG] >> (nr % BITS_PER_LONG)) & 1;
}

#endif /* _QKD_SHIM_BITMAP_H */
