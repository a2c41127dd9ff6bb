// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for kxmsg.c: the input is a Kx byte stream.  Messages
 * are decoded one after another into one struct, as peer.c does; every
 * message that decodes must encode again to exactly the bytes it came from
 * (the format has one encoding per message) and decode to the same fields.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kx/kxmsg.h"

/* The @n strings of @field, each up to its NUL. */
#define SAME_STRINGS(a, b, field, n) same_strings((a)->field[0], \
	(b)->field[0], sizeof((a)->field[0]), n)

static int same_strings(const char *a, const char *b, size_t stride,
			uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(a + i * stride, b + i * stride))
			return 0;
	return 1;
}

static int same_lsa(const struct kxmsg *a, const struct kxmsg *b)
{
	for (uint32_t i = 0; i < a->n_lsa; i++) {
		const struct kxmsg_lsa_link *x = &a->lsa[i], *y = &b->lsa[i];

		if (x->up != y->up || x->level != y->level ||
		    x->avail_bits != y->avail_bits ||
		    x->rate_bps != y->rate_bps || strcmp(x->peer, y->peer))
			return 0;
	}
	return 1;
}

/* Equal in every field that means anything (see struct kxmsg). */
static int same_fields(const struct kxmsg *a, const struct kxmsg *b)
{
	return !memcmp(a, b, offsetof(struct kxmsg, slaves)) &&
	       SAME_STRINGS(a, b, slaves, a->n_slaves) &&
	       SAME_STRINGS(a, b, hops, a->n_hops) &&
	       SAME_STRINGS(a, b, routes, a->n_routes) &&
	       !memcmp(a->sealed, b->sealed, a->sealed_len) && same_lsa(a, b);
}

static void check_round_trip(const uint8_t *in, int n, const struct kxmsg *m)
{
	static uint8_t again[KXMSG_MAX_LEN];
	static struct kxmsg m2;
	char err[64];
	int n2 = kxmsg_encode(m, again, sizeof(again));

	if (n2 != n || memcmp(again, in, (size_t)n))
		__builtin_trap();
	if (kxmsg_decode(again, (size_t)n2, &m2, err, sizeof(err)) != n2 ||
	    !same_fields(m, &m2))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kxmsg m;
	char err[64];

	while (size) {
		int n;

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
