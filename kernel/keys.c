// SPDX-License-Identifier: GPL-2.0
/*
 * Key operations on a link end: allocation from this end's share, fetch by
 * ID, discard.  Netlink (netlink.c) and in-kernel consumers (qkd_keys.h)
 * both come through here, so counters and traces are kept in one place.
 */
#include <linux/module.h>
#include <linux/string.h>

#include "device.h"
#include "keys.h"
#include "qkd_keys.h"
#include "trace.h"

/* Wraps a caller's emit to trace every key handed out (IDs only). */
struct traced_emit {
	struct qkd_dev *qdev;
	qkd_pool_emit_t emit;
	void *ctx;
	bool alloc;
};

static int traced_emit(void *ctx, u64 key_id, u32 len, u64 gen_time,
		       const u8 *material)
{
	struct traced_emit *te = ctx;

	if (te->alloc)
		trace_qkd_key_alloc(te->qdev->index, key_id, len);
	else
		trace_qkd_key_fetch(te->qdev->index, key_id, len);
	return te->emit(te->ctx, key_id, len, gen_time, material);
}

int qkd_keys_alloc(struct qkd_dev *qdev, u32 len, u32 count, bool reserve,
		   qkd_pool_emit_t emit, void *ctx, const char **why,
		   gfp_t gfp)
{
	struct traced_emit te = { qdev, emit, ctx, true };
	struct qkd_pool_event ev = {};
	int err;

	if (!len || len > qdev->info.block_size) {
		*why = "key length must be 1 .. the link's block size";
		return -EINVAL;
	}
	err = qkd_pool_alloc(&qdev->pool, len, count, reserve, traced_emit,
			     &te, &ev);
	if (err == -ENOSPC)
		*why = "not enough key in pool";
	else if (err)
		*why = "no room for the keys in the reply";
	else
		qkd_stat_add(qdev, QKD_STAT_BYTES_ALLOCATED, (u64)len * count);
	qkd_dev_pool_event_gfp(qdev, &ev, gfp);
	return err;
}

int qkd_keys_fetch(struct qkd_dev *qdev, u64 key_id, u32 len,
		   qkd_pool_emit_t emit, void *ctx, const char **why,
		   gfp_t gfp)
{
	struct traced_emit te = { qdev, emit, ctx, false };
	struct qkd_pool_event ev = {};
	int err;

	err = qkd_pool_fetch(&qdev->pool, key_id, len, traced_emit, &te, &ev,
			     why);
	if (ev.consumed)
		qkd_stat_add(qdev, QKD_STAT_BYTES_FETCHED, ev.consumed);
	qkd_dev_pool_event_gfp(qdev, &ev, gfp);
	return err;
}

int qkd_keys_discard(struct qkd_dev *qdev, u64 key_id, u32 len,
		     const char **why, gfp_t gfp)
{
	struct qkd_pool_event ev = {};
	int err;

	err = qkd_pool_discard(&qdev->pool, key_id, len, &ev, why);
	if (err)
		return err;
	trace_qkd_key_discard(qdev->index, key_id, len);
	qkd_stat_add(qdev, QKD_STAT_BYTES_DISCARDED, ev.consumed);
	qkd_dev_pool_event_gfp(qdev, &ev, gfp);
	return 0;
}

/* ---- exported in-kernel API ------------------------------------------ */

struct kernel_key {
	u8 *buf;
	u64 key_id;
	u64 gen_time;
};

static int copy_to_kernel_buf(void *ctx, u64 key_id, u32 len, u64 gen_time,
			      const u8 *material)
{
	struct kernel_key *key = ctx;

	memcpy(key->buf, material, len);
	key->key_id = key_id;
	key->gen_time = gen_time;
	return 0;
}

int qkd_key_take(struct net *net, u32 index, u64 key_id, u32 len, u8 *buf,
		 gfp_t gfp)
{
	struct kernel_key key = { .buf = buf };
	struct qkd_dev *qdev = qkd_dev_get(net, index);
	const char *why;
	int err;

	if (!qdev)
		return -ENODEV;
	err = qkd_keys_fetch(qdev, key_id, len, copy_to_kernel_buf, &key,
			     &why, gfp);
	qkd_dev_put(qdev);
	return err;
}
EXPORT_SYMBOL_GPL(qkd_key_take);

int qkd_key_alloc_kernel(struct net *net, u32 index, u32 len, u64 *key_id,
			 u8 *buf, u64 *gen_time_ns, gfp_t gfp)
{
	struct kernel_key key = { .buf = buf };
	struct qkd_dev *qdev = qkd_dev_get(net, index);
	const char *why;
	int err;

	if (!qdev)
		return -ENODEV;
	err = qkd_keys_alloc(qdev, len, 1, false, copy_to_kernel_buf, &key,
			     &why, gfp);
	qkd_dev_put(qdev);
	if (err)
		return err;
	*key_id = key.key_id;
	if (gen_time_ns)
		*gen_time_ns = key.gen_time;
	return 0;
}
EXPORT_SYMBOL_GPL(qkd_key_alloc_kernel);

int qkd_key_discard(struct net *net, u32 index, u64 key_id, u32 len,
		    gfp_t gfp)
{
	struct qkd_dev *qdev = qkd_dev_get(net, index);
	const char *why;
	int err;

	if (!qdev)
		return -ENODEV;
	err = qkd_keys_discard(qdev, key_id, len, &why, gfp);
	qkd_dev_put(qdev);
	return err;
}
EXPORT_SYMBOL_GPL(qkd_key_discard);
