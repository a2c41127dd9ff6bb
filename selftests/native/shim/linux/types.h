/* SPDX-License-Identifier: GPL-2.0 */
/* Userspace shim of <linux/types.h> plus the core helpers (kernel.h,
 * compiler.h, math64.h, overflow.h, byteorder) the qkd sources use. */
#ifndef _QKD_SHIM_TYPES_H
#define _QKD_SHIM_TYPES_H

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;
typedef uint16_t __le16;
typedef uint32_t __le32;
typedef uint64_t __le64;
typedef uint64_t dma_addr_t;
typedef unsigned int gfp_t;

struct list_head {
	struct list_head *next, *prev;
};

#define GFP_KERNEL	0u
#define U32_MAX		UINT32_MAX
#define BITS_PER_LONG	(8 * (int)sizeof(long))
#define L1_CACHE_BYTES	64

#define __packed	__attribute__((packed))
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define barrier()	__asm__ __volatile__("" : : : "memory")
#define READ_ONCE(x)	(*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define ALIGN(x, a)		(((x) + ((a) - 1)) & ~((typeof(x))(a) - 1))
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define BITS_TO_LONGS(n)	DIV_ROUND_UP(n, BITS_PER_LONG)
#define max(a, b)	({ typeof(a) _a = (a); typeof(b) _b = (b); _a > _b ? _a : _b; })
#define min(a, b)	({ typeof(a) _a = (a); typeof(b) _b = (b); _a < _b ? _a : _b; })
#define max_t(t, a, b)	max((t)(a), (t)(b))
#define min_t(t, a, b)	min((t)(a), (t)(b))

/* Saturates on overflow, so an oversized allocation fails (overflow.h). */
static inline size_t array_size(size_t a, size_t b)
{
	size_t n;

	return __builtin_mul_overflow(a, b, &n) ? SIZE_MAX : n;
}

static inline u64 div_u64(u64 n, u32 d)
{
	return n / d;
}

/* do_div(n, d): n becomes n / d, evaluates to the remainder (asm/div64.h). */
#define do_div(n, d) ({ u32 _d = (d); u32 _r = (u32)((n) % _d); (n) /= _d; _r; })

/* x86 is little endian: these are identities there, as in the kernel. */
#define cpu_to_le16(x)	htole16(x)
#define cpu_to_le32(x)	htole32(x)
#define cpu_to_le64(x)	htole64(x)
#define le16_to_cpu(x)	le16toh(x)
#define le32_to_cpu(x)	le32toh(x)
#define le64_to_cpu(x)	le64toh(x)

#define pr_warn(fmt, ...)	fprintf(stderr, "qkd: " fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...)	fprintf(stderr, "qkd: " fmt, ##__VA_ARGS__)
#define EXPORT_SYMBOL_GPL(sym)	extern typeof(sym) sym

#endif /* _QKD_SHIM_TYPES_H */
