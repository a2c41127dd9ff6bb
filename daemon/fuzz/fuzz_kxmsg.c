// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for kxmsg.c: the input is a Kx byte stream.  Messages
 * are decoded one after another as peer.c does; every message that decodes
 * must encode again to exactly the bytes it came from (the format has one
 * encoding per message) and decode to the same fields.
 */
#include <stdint.h>
#include <string.h>

#include "kxmsg.h"

static void check_round_trip(const uint8_t *in, int n, const struct kxmsg *m)
{
	static uint8_t again[KXMSG_MAX_LEN];
	struct kxmsg m2;
	char err[64];
	int n2 = kxmsg_encode(m, again, sizeof(again));

	if (n2 != n || memcmp(again, in, (size_t)n))
		__builtin_trap();
	if (kxmsg_decode(again, (size_t)n2, &m2, err, sizeof(err)) != n2 ||
	    memcmp(m, &m2, sizeof(m2)))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kxmsg m;
	char err[64];

	while (size) {
		int n;

		memset(&m, 0, sizeof(m));
		n = kxmsg_decode(data, size, &m, err, sizeof(err));
		if (n <= 0)
			break;
		if ((size_t)n > size)
			__builtin_trap();
		check_round_trip(data, n, &m);
		data += n;
		size -= (size_t)n;
	}
	return 0;
}
