// SPDX-License-Identifier: GPL-2.0
/*
 * qkdtrace's BPF side: programs on qkd.ko's tracepoints that count key flow
 * per link end, histogram block age at allocation and fetch, and stream
 * link events to userspace.
 *
 * qkd.ko is built out of tree, so it has no BTF: these are classic
 * "tracepoint/" programs whose context structs are declared here to match
 * /sys/kernel/tracing/events/qkd/<event>/format.  qkdtrace.c checks that
 * layout against the running module before it loads anything, so a change
 * to kernel/trace.h gives a clear error instead of garbage.
 *
 * The tracepoints carry no key bytes; nothing here reads any.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "qkdtrace.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by userspace before load: which parts of the tool are in use. */
const volatile __u8 count_flow;
const volatile __u8 track_latency;

/* --- tracepoint contexts (see the format files) ------------------------ */

/* The common fields every trace event starts with. */
struct trace_common {
	__u16 type;
	__u8 flags;
	__u8 preempt_count;
	__s32 pid;
};

struct tp_block {		/* qkd_ingest, qkd_block_evict */
	struct trace_common common;
	__u32 link;
	__u64 block_id;
	__u32 len_or_count;
};

struct tp_block_drop {
	struct trace_common common;
	__u32 link;
	__u64 block_id;
	__u32 len;
	__u32 reason_loc;	/* __data_loc: length << 16 | offset */
};

struct tp_key {			/* qkd_key_alloc, _fetch, _discard */
	struct trace_common common;
	__u32 link;
	__u64 key_id;
	__u32 len;
};

struct tp_link_state {
	struct trace_common common;
	__u32 link;
	__u8 old_state;
	__u8 new_state;
};

struct tp_qber_alarm {
	struct trace_common common;
	__u32 link;
	__u32 qber_ppm;
	__u32 qber_max_ppm;
};

struct tp_dma_error {
	struct trace_common common;
	__u32 link;
};

/* --- maps -------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);			/* link index */
	__type(value, struct qkdtrace_link_flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct qkdtrace_drop_key);
	__type(value, struct qkdtrace_count);
} drops SEC(".maps");

/* Blocks still in some pool; the oldest are forgotten first, like the pool. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct qkdtrace_block_key);
	__type(value, __u64);			/* ingest time, ns */
} ingest_time SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct qkdtrace_hist_key);
	__type(value, __u64);
} latency_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* --- helpers ----------------------------------------------------------- */

static __always_inline void count(__u32 link, enum qkdtrace_flow what,
				  __u64 events_n, __u64 bytes)
{
	struct qkdtrace_link_flow *f, zero = {};

	if (!count_flow || what >= QKDTRACE_FLOW_MAX)
		return;
	f = bpf_map_lookup_elem(&flows, &link);
	if (!f) {
		bpf_map_update_elem(&flows, &link, &zero, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&flows, &link);
		if (!f)
			return;
	}
	__sync_fetch_and_add(&f->flow[what].events, events_n);
	__sync_fetch_and_add(&f->flow[what].bytes, bytes);
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

	__u32 shift;

	/* Binary search over the bit position: six steps, unrolled. */
	for (shift = 32; shift; shift >>= 1) {
		if (v >> shift) {
			v >>= shift;
			r += shift;
		}
	}
	return r;
}

/* Age of the key's block since this end ingested it, into a histogram. */
static __always_inline void record_age(__u32 link, __u64 key_id,
				       enum qkdtrace_latency_op op)
{
	struct qkdtrace_block_key bk = {
		.link = link,
		.block_id = key_id >> QKDTRACE_KEY_ID_OFFSET_BITS,
	};
	struct qkdtrace_hist_key hk = { .link = link, .op = op };
	__u64 *ingested, *slot, one = 1, age_us;

	if (!track_latency)
		return;
	ingested = bpf_map_lookup_elem(&ingest_time, &bk);
	if (!ingested)
		return;		/* ingested before we started: age unknown */
	age_us = (bpf_ktime_get_ns() - *ingested) / 1000;
	hk.slot = age_us ? log2_u64(age_us) + 1 : 0;
	if (hk.slot >= QKDTRACE_HIST_SLOTS)
		hk.slot = QKDTRACE_HIST_SLOTS - 1;
	slot = bpf_map_lookup_elem(&latency_hist, &hk);
	if (slot)
		__sync_fetch_and_add(slot, 1);
	else
		bpf_map_update_elem(&latency_hist, &hk, &one, BPF_NOEXIST);
}

static __always_inline void emit(enum qkdtrace_event_type type, __u32 link,
				 __u32 a, __u32 b)
{
	struct qkdtrace_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return;		/* userspace is behind: the event is lost */
	e->time_ns = bpf_ktime_get_ns();
	e->type = type;
	e->link = link;
	e->a = a;
	e->b = b;
	bpf_ringbuf_submit(e, 0);
}

/* --- programs ---------------------------------------------------------- */

SEC("tracepoint/qkd/qkd_ingest")
int on_ingest(struct tp_block *ctx)
{
	struct qkdtrace_block_key bk = {
		.link = ctx->link,
		.block_id = ctx->block_id,
	};
	__u64 now = bpf_ktime_get_ns();

	count(ctx->link, QKDTRACE_INGESTED, 1, ctx->len_or_count);
	if (track_latency)
		bpf_map_update_elem(&ingest_time, &bk, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint/qkd/qkd_block_evict")
int on_evict(struct tp_block *ctx)
{
	count(ctx->link, QKDTRACE_EVICTED, ctx->len_or_count, 0);
	return 0;
}

SEC("tracepoint/qkd/qkd_block_drop")
int on_drop(struct tp_block_drop *ctx)
{
	struct qkdtrace_drop_key dk = { .link = ctx->link };
	struct qkdtrace_count *c, one = { 1, ctx->len };
	__u32 loc = ctx->reason_loc;

	count(ctx->link, QKDTRACE_DROPPED, 1, ctx->len);
	bpf_probe_read_kernel_str(dk.reason, sizeof(dk.reason),
				  (void *)ctx + (loc & 0xffff));
	c = bpf_map_lookup_elem(&drops, &dk);
	if (c) {
		__sync_fetch_and_add(&c->events, 1);
		__sync_fetch_and_add(&c->bytes, ctx->len);
	} else {
		bpf_map_update_elem(&drops, &dk, &one, BPF_NOEXIST);
	}
	return 0;
}

SEC("tracepoint/qkd/qkd_key_alloc")
int on_key_alloc(struct tp_key *ctx)
{
	count(ctx->link, QKDTRACE_ALLOCATED, 1, ctx->len);
	record_age(ctx->link, ctx->key_id, QKDTRACE_LAT_ALLOC);
	return 0;
}

SEC("tracepoint/qkd/qkd_key_fetch")
int on_key_fetch(struct tp_key *ctx)
{
	count(ctx->link, QKDTRACE_FETCHED, 1, ctx->len);
	record_age(ctx->link, ctx->key_id, QKDTRACE_LAT_FETCH);
	return 0;
}

SEC("tracepoint/qkd/qkd_key_discard")
int on_key_discard(struct tp_key *ctx)
{
	count(ctx->link, QKDTRACE_DISCARDED, 1, ctx->len);
	return 0;
}

SEC("tracepoint/qkd/qkd_link_state")
int on_link_state(struct tp_link_state *ctx)
{
	emit(QKDTRACE_EV_LINK_STATE, ctx->link, ctx->old_state,
	     ctx->new_state);
	return 0;
}

SEC("tracepoint/qkd/qkd_qber_alarm")
int on_qber_alarm(struct tp_qber_alarm *ctx)
{
	emit(QKDTRACE_EV_QBER_ALARM, ctx->link, ctx->qber_ppm,
	     ctx->qber_max_ppm);
	return 0;
}

SEC("tracepoint/qkd/qkd_dma_error")
int on_dma_error(struct tp_dma_error *ctx)
{
	emit(QKDTRACE_EV_DMA_ERROR, ctx->link, 0, 0);
	return 0;
}
