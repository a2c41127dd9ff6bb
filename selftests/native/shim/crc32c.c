// SPDX-License-Identifier: GPL-2.0
/*
 * crc32c() for linux/crc32c.h: the SSE4.2 CRC32 instruction, 8 bytes per
 * step, where the CPU has it (the kernel's crc32c-intel uses the same
 * instruction, three streams in parallel for long buffers, so it is faster
 * still: figures measured with this one are on the safe side); otherwise a
 * byte-wise table.
 */
#include <string.h>
#include <linux/crc32c.h>

#define CRC32C_POLY_REFLECTED	0x82f63b78u

static u32 crc_table[256];
static u32 (*crc_impl)(u32 crc, const u8 *p, unsigned int len);

static void table_init(void)
{
	u32 i, j, c;

	for (i = 0; i < 256; i++) {
		for (c = i, j = 0; j < 8; j++)
			c = c & 1 ? c >> 1 ^ CRC32C_POLY_REFLECTED : c >> 1;
		crc_table[i] = c;
	}
}

u32 crc32c_sw(u32 crc, const void *buf, unsigned int len)
{
	const u8 *p = buf;

	if (!crc_table[1])
		table_init();
	while (len--)
		crc = crc >> 8 ^ crc_table[(crc ^ *p++) & 0xff];
	return crc;
}

__attribute__((target("sse4.2")))
static u32 crc32c_sse42(u32 crc, const u8 *p, unsigned int len)
{
	u64 c = crc, word;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&word, p, 8);
		c = __builtin_ia32_crc32di(c, word);
	}
	for (; len; p++, len--)
		c = __builtin_ia32_crc32qi((u32)c, *p);
	return (u32)c;
}

static u32 crc32c_table(u32 crc, const u8 *p, unsigned int len)
{
	return crc32c_sw(crc, p, len);
}

static bool have_sse42(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}

u32 crc32c(u32 crc, const void *p, unsigned int len)
{
	if (!crc_impl)
		crc_impl = have_sse42() ? crc32c_sse42 : crc32c_table;
	return crc_impl(crc, p, len);
}

const char *crc32c_impl(void)
{
	return have_sse42() ? "sse4.2" : "table";
}
