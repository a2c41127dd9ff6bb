/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The seeded key of qkd_sim (Documentation/qkd/sim.rst, "Seeded key"),
 * shared by the driver and by the selftests that recompute it.
 */
#ifndef _QKD_SIM_SEEDED_KEY_H
#define _QKD_SIM_SEEDED_KEY_H

#include <linux/types.h>
#include <linux/qkd.h>

/*
 * Word @i of block @block_id: the splitmix64 sequence from @seed, at
 * position block_id * (QKD_BLOCK_SIZE_MAX / 8) + i + 1.
 */
static inline __u64 qkd_sim_seeded_word(__u64 seed, __u64 block_id, __u32 i)
{
	__u64 z = seed + (block_id * (QKD_BLOCK_SIZE_MAX / 8) + i + 1) *
			 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#endif /* _QKD_SIM_SEEDED_KEY_H */
