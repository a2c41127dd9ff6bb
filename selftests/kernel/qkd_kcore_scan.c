// SPDX-License-Identifier: GPL-2.0
/*
 * qkd_kcore_scan SEED KEY_ID:LEN...: counts the places in physical memory
 * that still hold bytes of the given keys of a seeded qkd_sim pair (see
 * "Seeded key" in Documentation/qkd/sim.rst).
 *
 * Each line read on stdin starts a scan of all RAM through /proc/kcore; the
 * number of 8-byte aligned words equal to an 8-byte window of one of the
 * keys is printed on a line of its own.  Key payloads are 8-byte aligned,
 * so a key of LEN bytes held anywhere shows up as LEN / 8 words or more.
 *
 * Two precautions keep the tool from finding its own traces:
 * - the key bytes are computed from the seed, never read from the kernel,
 *   and are kept only masked (XOR a random mask), so this process's memory
 *   never holds them in the clear;
 * - one process with one open /proc/kcore runs every scan, so the copies
 *   an earlier scan made (in our buffer and in the kernel's per-open bounce
 *   page) are overwritten by later reads, not left in freed memory for the
 *   next scan to find.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <linux/qkd.h>
#include "seeded_key.h"
#include "word_set.h"

#define CHUNK		(1 << 20)
#define MAX_SEGMENTS	64

static uint64_t mask;

/* Bytes pos .. pos + 7 of a block, as a little-endian load would see them. */
static uint64_t block_window(uint64_t seed, uint64_t block_id, uint32_t pos)
{
	uint64_t lo = qkd_sim_seeded_word(seed, block_id, pos / 8);
	unsigned int shift = pos % 8 * 8;

	if (!shift)
		return lo;
	return lo >> shift | qkd_sim_seeded_word(seed, block_id, pos / 8 + 1) << (64 - shift);
}

/* Adds every 8-byte window of one key, masked. */
static int add_key(uint64_t seed, const char *spec)
{
	uint64_t key_id, block_id;
	uint32_t off, len, j;
	char *end;

	errno = 0;
	key_id = strtoull(spec, &end, 16);
	if (errno || *end != ':')
		return -1;
	len = strtoul(end + 1, &end, 10);
	off = key_id & (QKD_BLOCK_SIZE_MAX - 1);
	block_id = key_id >> QKD_KEY_ID_OFFSET_BITS;
	if (*end || len < 8 || off + len > QKD_BLOCK_SIZE_MAX)
		return -1;
	for (j = 0; j + 8 <= len; j++)
		word_set_add(block_window(seed, block_id, off + j) ^ mask);
	return 0;
}

struct segment {
	off_t offset;
	uint64_t size;
};

/* The segments of /proc/kcore that map RAM (those with a physical address). */
static int ram_segments(int fd, struct segment *seg)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int i, n = 0;

	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64)
		return -1;
	for (i = 0; i < eh.e_phnum && n < MAX_SEGMENTS; i++) {
		if (pread(fd, &ph, sizeof(ph), eh.e_phoff + (off_t)i * eh.e_phentsize) != sizeof(ph))
			return -1;
		if (ph.p_type != PT_LOAD || ph.p_paddr == (Elf64_Addr)-1)
			continue;
		seg[n].offset = ph.p_offset;
		seg[n++].size = ph.p_memsz;
	}
	return n;
}

static uint64_t scan(int fd, const struct segment *seg, int nseg, uint64_t *buf)
{
	uint64_t hits = 0, pos;
	ssize_t got, i;
	int s;

	for (s = 0; s < nseg; s++) {
		for (pos = 0; pos < seg[s].size; pos += got) {
			uint64_t want = seg[s].size - pos < CHUNK ? seg[s].size - pos : CHUNK;

			got = pread(fd, buf, want, seg[s].offset + pos);
			if (got <= 0)
				break;	/* a hole at the end of a segment */
			for (i = 0; i < got / 8; i++)
				hits += word_set_has(buf[i] ^ mask);
		}
	}
	return hits;
}

int main(int argc, char **argv)
{
	struct segment seg[MAX_SEGMENTS];
	char line[64];
	uint64_t seed, *buf;
	int fd, nseg, i;
	char *end;

	if (argc < 3) {
		fprintf(stderr, "usage: %s SEED KEY_ID:LEN... (key IDs in hex)\n", argv[0]);
		return 2;
	}
	errno = 0;
	seed = strtoull(argv[1], &end, 0);
	if (errno || end == argv[1] || *end) {
		fprintf(stderr, "bad seed %s (want a u64, decimal or 0x hex)\n", argv[1]);
		return 2;
	}
	if (getrandom(&mask, sizeof(mask), 0) != sizeof(mask))
		return 2;
	for (i = 2; i < argc; i++) {
		if (add_key(seed, argv[i])) {
			fprintf(stderr, "bad key %s (want KEY_ID_HEX:LEN, LEN >= 8)\n", argv[i]);
			return 2;
		}
	}
	fd = open("/proc/kcore", O_RDONLY);
	nseg = fd < 0 ? -1 : ram_segments(fd, seg);
	buf = aligned_alloc(4096, CHUNK);
	if (nseg <= 0 || !buf) {
		perror("/proc/kcore");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin))
		printf("%" PRIu64 "\n", scan(fd, seg, nseg, buf));
	explicit_bzero(buf, CHUNK);
	return 0;
}
