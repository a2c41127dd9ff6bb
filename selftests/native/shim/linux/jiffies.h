/* SPDX-License-Identifier: GPL-2.0 */
/* jiffies at HZ=250 (Debian's), derived from CLOCK_MONOTONIC. */
#ifndef _QKD_SHIM_JIFFIES_H
#define _QKD_SHIM_JIFFIES_H

#include <linux/ktime.h>

#define HZ	250
#define jiffies	((unsigned long)(ktime_get_ns() / (1000000000ull / HZ)))
#define msecs_to_jiffies(ms)	DIV_ROUND_UP((unsigned long)(ms), 1000 / HZ)
#define time_after(a, b)	((long)((b) - (a)) < 0)
#define time_before(a, b)	time_after(b, a)

#endif /* _QKD_SHIM_JIFFIES_H */
