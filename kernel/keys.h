/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key operations on one link end, shared by the netlink handlers and the
 * exported in-kernel API.  They keep counters, tracepoints and pool events in
 * one place.  On error, *why explains it (for extack); never key bytes.
 */
#ifndef _QKD_KEYS_INTERNAL_H
#define _QKD_KEYS_INTERNAL_H

#include "pool.h"

struct qkd_dev;

/* @gfp: for the pool event they may send (see qkd_keys.h). */
int qkd_keys_alloc(struct qkd_dev *qdev, u32 len, u32 count, bool reserve,
		   qkd_pool_emit_t emit, void *ctx, const char **why,
		   gfp_t gfp);
int qkd_keys_fetch(struct qkd_dev *qdev, u64 key_id, u32 len,
		   qkd_pool_emit_t emit, void *ctx, const char **why,
		   gfp_t gfp);
int qkd_keys_discard(struct qkd_dev *qdev, u64 key_id, u32 len,
		     const char **why, gfp_t gfp);

#endif /* _QKD_KEYS_INTERNAL_H */
