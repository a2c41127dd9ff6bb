/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKD_SHIM_CRC32C_H
#define _QKD_SHIM_CRC32C_H

#include <linux/types.h>

/*
 * The kernel's crc32c(): Castagnoli, reflected, @crc as the running value
 * with no inversion in or out (callers pass ~0).  shim/crc32c.c.
 */
u32 crc32c(u32 crc, const void *p, unsigned int len);
/* The byte-wise table version, to cross-check the fast one. */
u32 crc32c_sw(u32 crc, const void *p, unsigned int len);
/* Which implementation crc32c() uses: "sse4.2" or "table". */
const char *crc32c_impl(void);

#endif /* _QKD_SHIM_CRC32C_H */
