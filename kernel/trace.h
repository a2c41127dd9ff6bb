/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of qkd.ko: link indices, block and key IDs, sizes, QBER.
 * Never key bytes.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM qkd

#if !defined(_QKD_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _QKD_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(qkd_ingest,
	TP_PROTO(u32 link, u64 block_id, u32 len),
	TP_ARGS(link, block_id, len),
	TP_STRUCT__entry(
		__field(u32, link)
		__field(u64, block_id)
		__field(u32, len)
	),
	TP_fast_assign(
		__entry->link = link;
		__entry->block_id = block_id;
		__entry->len = len;
	),
	TP_printk("link=%u block=%llu len=%u", __entry->link,
		  __entry->block_id, __entry->len)
);

TRACE_EVENT(qkd_block_drop,
	TP_PROTO(u32 link, u64 block_id, u32 len, const char *reason),
	TP_ARGS(link, block_id, len, reason),
	TP_STRUCT__entry(
		__field(u32, link)
		__field(u64, block_id)
		__field(u32, len)
		__string(reason, reason)
	),
	TP_fast_assign(
		__entry->link = link;
		__entry->block_id = block_id;
		__entry->len = len;
		__assign_str(reason, reason);
	),
	TP_printk("link=%u block=%llu len=%u reason=%s", __entry->link,
		  __entry->block_id, __entry->len, __get_str(reason))
);

TRACE_EVENT(qkd_block_evict,
	TP_PROTO(u32 link, u64 block_id, u32 count),
	TP_ARGS(link, block_id, count),
	TP_STRUCT__entry(
		__field(u32, link)
		__field(u64, block_id)
		__field(u32, count)
	),
	TP_fast_assign(
		__entry->link = link;
		__entry->block_id = block_id;
		__entry->count = count;
	),
	TP_printk("link=%u block=%llu count=%u", __entry->link,
		  __entry->block_id, __entry->count)
);

/* Key events share one layout: which key, how long. */
DECLARE_EVENT_CLASS(qkd_key_class,
	TP_PROTO(u32 link, u64 key_id, u32 len),
	TP_ARGS(link, key_id, len),
	TP_STRUCT__entry(
		__field(u32, link)
		__field(u64, key_id)
		__field(u32, len)
	),
	TP_fast_assign(
		__entry->link = link;
		__entry->key_id = key_id;
		__entry->len = len;
	),
	TP_printk("link=%u key=%#llx len=%u", __entry->link,
		  __entry->key_id, __entry->len)
);

/* Allocated from this end's share (reserved or handed out at once). */
DEFINE_EVENT(qkd_key_class, qkd_key_alloc,
	TP_PROTO(u32 link, u64 key_id, u32 len),
	TP_ARGS(link, key_id, len));

/* Handed out by ID (KEY_GET or an in-kernel consumer). */
DEFINE_EVENT(qkd_key_class, qkd_key_fetch,
	TP_PROTO(u32 link, u64 key_id, u32 len),
	TP_ARGS(link, key_id, len));

/* Zeroised without being handed out. */
DEFINE_EVENT(qkd_key_class, qkd_key_discard,
	TP_PROTO(u32 link, u64 key_id, u32 len),
	TP_ARGS(link, key_id, len));

TRACE_EVENT(qkd_link_state,
	TP_PROTO(u32 link, u8 old_state, u8 new_state),
	TP_ARGS(link, old_state, new_state),
	TP_STRUCT__entry(
		__field(u32, link)
		__field(u8, old_state)
		__field(u8, new_state)
	),
	TP_fast_assign(
		__entry->link = link;
		__entry->old_state = old_state;
		__entry->new_state = new_state;
	),
	TP_printk("link=%u state %u -> %u", __entry->link,
		  __entry->old_state, __entry->new_state)
);

TRACE_EVENT(qkd_qber_alarm,
	TP_PROTO(u32 link, u32 qber_ppm, u32 qber_max_ppm),
	TP_ARGS(link, qber_ppm, qber_max_ppm),
	TP_STRUCT__entry(
		__field(u32, link)
		__field(u32, qber_ppm)
		__field(u32, qber_max_ppm)
	),
	TP_fast_assign(
		__entry->link = link;
		__entry->qber_ppm = qber_ppm;
		__entry->qber_max_ppm = qber_max_ppm;
	),
	TP_printk("link=%u qber=%u max=%u ppm", __entry->link,
		  __entry->qber_ppm, __entry->qber_max_ppm)
);

TRACE_EVENT(qkd_dma_error,
	TP_PROTO(u32 link),
	TP_ARGS(link),
	TP_STRUCT__entry(
		__field(u32, link)
	),
	TP_fast_assign(
		__entry->link = link;
	),
	TP_printk("link=%u", __entry->link)
);

#endif /* _QKD_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
