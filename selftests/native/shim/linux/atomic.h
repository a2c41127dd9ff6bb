/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKD_SHIM_ATOMIC_H
#define _QKD_SHIM_ATOMIC_H

#include <linux/types.h>

typedef struct {
	s64 counter;
} atomic64_t;

static inline void atomic64_add(s64 n, atomic64_t *v)
{
	__atomic_fetch_add(&v->counter, n, __ATOMIC_RELAXED);
}

static inline s64 atomic64_read(const atomic64_t *v)
{
	return __atomic_load_n(&v->counter, __ATOMIC_RELAXED);
}

static inline void set_bit(long nr, unsigned long *addr)
{
	__atomic_fetch_or(addr + nr / BITS_PER_LONG,
			  1UL << (nr % BITS_PER_LONG), __ATOMIC_RELAXED);
}

static inline bool test_and_clear_bit(long nr, unsigned long *addr)
{
	unsigned long mask = 1UL << (nr % BITS_PER_LONG);

	return __atomic_fetch_and(addr + nr / BITS_PER_LONG, ~mask,
				  __ATOMIC_SEQ_CST) & mask;
}

#endif /* _QKD_SHIM_ATOMIC_H */
