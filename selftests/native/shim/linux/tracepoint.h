/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints compile to empty inline functions: a disabled kernel
 * tracepoint is a patched-out jump, which is what the figures should show.
 */
#ifndef _QKD_SHIM_TRACEPOINT_H
#define _QKD_SHIM_TRACEPOINT_H

#include <linux/types.h>

#define TP_PROTO(args...)	args
#define TP_ARGS(args...)	args
#define TRACE_EVENT(name, proto, args, tstruct, assign, print) \
	static inline void trace_##name(proto) {}
#define DECLARE_EVENT_CLASS(name, proto, args, tstruct, assign, print)
#define DEFINE_EVENT(template, name, proto, args) \
	static inline void trace_##name(proto) {}

#endif /* _QKD_SHIM_TRACEPOINT_H */
