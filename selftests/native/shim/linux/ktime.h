/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKD_SHIM_KTIME_H
#define _QKD_SHIM_KTIME_H

#include <time.h>
#include <linux/types.h>

static inline u64 qkd_shim_clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#define ktime_get_ns()		qkd_shim_clock_ns(CLOCK_MONOTONIC)
#define ktime_get_real_ns()	qkd_shim_clock_ns(CLOCK_REALTIME)

#endif /* _QKD_SHIM_KTIME_H */
