// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for kernel/pool.c (compiled unchanged over shim/):
 * the input is a pool geometry and a sequence of operations on a simulated
 * link, two pools fed the same blocks (pool_model.c).  After every step the
 * model checks that no byte is handed out twice, both ends give the same
 * bytes for a key ID, the retire guard holds, the counters agree with the
 * bitmaps, and handed-out bytes are zeroised; ASan/UBSan catch the rest.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pool_model.h"

struct input {
	const u8 *p;
	size_t left;
};

static u32 next_byte(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static u32 next_u16(struct input *in)
{
	return next_byte(in) | next_byte(in) << 8;
}

/* Key lengths: mostly short, sometimes up to (and past) a block. */
static u32 key_len(struct input *in, u32 block_size)
{
	u32 b = next_byte(in);

	if (b < 0xc0)
		return 1 + b % 32;
	return next_u16(in) % (block_size + 2);
}

/* A key ID near the newest blocks, so that it often names a stored one. */
static u64 near_key_id(struct pool_model *m, struct input *in)
{
	u64 back = next_byte(in) % (m->capacity + 4);
	u64 block = m->next_id > back ? m->next_id - 1 - back : 0;
	u32 off = next_u16(in) % (m->block_size + 8);

	if (next_byte(in) == 0xff)		/* now and then: anything */
		return (u64)next_u16(in) << 40 | next_u16(in);
	return qkd_key_id(block, off);
}

static int step(struct pool_model *m, struct input *in)
{
	u32 op = next_byte(in), p = next_byte(in);
	unsigned int end = p & 1;

	switch (op % 9) {
	case 0:
	case 1:
	case 2: {
		u32 skip = (p & 6) == 6 ? next_byte(in) % 8 : 0;
		u32 len = p & 8 ? 1 + next_u16(in) % m->block_size : 0;
		unsigned int ends = (p & 0x30) == 0x30 ? 1 + (p >> 6) % 2 : 3;

		return model_ingest(m, skip, len, ends);
	}
	case 3:
	case 4:
		return model_alloc(m, end, key_len(in, m->block_size),
				   1 + next_byte(in) % 8, p & 2);
	case 5:
		return model_fetch_recorded(m, next_byte(in), p & 2);
	case 6:
		return model_fetch_any(m, end, near_key_id(m, in),
				       key_len(in, m->block_size));
	case 7:
		return model_discard(m, end, near_key_id(m, in),
				     key_len(in, m->block_size));
	default:
		if (p & 2)
			return model_replay(m, end, next_byte(in));
		return model_thresholds(m, end, next_u16(in), next_u16(in));
	}
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct input in = { data, size };
	struct pool_model m;
	/* Small pools wrap often (1 block: no guard zone at all); blocks
	 * up to 4 bitmap words plus a bit. */
	u32 capacity = 1 + next_byte(&in) % 48;
	u32 block_size = 16 + next_u16(&in) % 257;

	if (model_init(&m, capacity, block_size))
		return 0;
	while (in.left && !m.failure)
		step(&m, &in);
	if (m.failure) {
		fprintf(stderr, "pool invariant violated: %s (capacity %u, block %u)\n",
			m.failure, capacity, block_size);
		abort();
	}
	model_destroy(&m);
	return 0;
}
