/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Types shared by qkdtrace's BPF program and its userspace half: map keys,
 * map values and ring-buffer records.  Only metadata (link indices, block
 * IDs, sizes, QBER, times) ever goes through them: the qkd tracepoints
 * carry no key bytes and neither does anything here.
 */
#ifndef QKDTRACE_H
#define QKDTRACE_H

/* Key IDs name a byte range of a block (uapi/linux/qkd.h). */
#define QKDTRACE_KEY_ID_OFFSET_BITS	16

#define QKDTRACE_REASON_LEN	16	/* drop reason strings, truncated */
#define QKDTRACE_HIST_SLOTS	32	/* log2 buckets of microseconds */

/* What happened to key material on one link end: a counter pair each. */
enum qkdtrace_flow {
	QKDTRACE_INGESTED,	/* qkd_ingest: block accepted into the pool */
	QKDTRACE_ALLOCATED,	/* qkd_key_alloc */
	QKDTRACE_FETCHED,	/* qkd_key_fetch */
	QKDTRACE_DISCARDED,	/* qkd_key_discard */
	QKDTRACE_EVICTED,	/* qkd_block_evict: bytes unknown, blocks only */
	QKDTRACE_DROPPED,	/* qkd_block_drop, all reasons */
	QKDTRACE_FLOW_MAX,
};

struct qkdtrace_count {
	__u64 events;	/* blocks for block flows, keys for key flows */
	__u64 bytes;
};

struct qkdtrace_link_flow {
	struct qkdtrace_count flow[QKDTRACE_FLOW_MAX];
};

/* Drops are also counted per reason string. */
struct qkdtrace_drop_key {
	__u32 link;
	char reason[QKDTRACE_REASON_LEN];
};

/* Ingest time of a block at one link end, for the latency histograms. */
struct qkdtrace_block_key {
	__u32 link;
	__u32 pad;
	__u64 block_id;
};

enum qkdtrace_latency_op {
	QKDTRACE_LAT_ALLOC,
	QKDTRACE_LAT_FETCH,
};

struct qkdtrace_hist_key {
	__u32 link;
	__u32 op;	/* enum qkdtrace_latency_op */
	__u32 slot;	/* log2(age in microseconds) */
};

enum qkdtrace_event_type {
	QKDTRACE_EV_LINK_STATE,	/* a = old state, b = new state */
	QKDTRACE_EV_QBER_ALARM,	/* a = QBER ppm, b = threshold ppm */
	QKDTRACE_EV_DMA_ERROR,
};

struct qkdtrace_event {
	__u64 time_ns;	/* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 type;	/* enum qkdtrace_event_type */
	__u32 link;
	__u32 a;
	__u32 b;
};

#endif /* QKDTRACE_H */
