// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for xfrm_nl.c's parser: the input is one receive
 * buffer of NETLINK_XFRM messages, walked as the listener walks it
 * (xfrm_nl_parse_buffer).  What parses must be self-consistent.
 */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "apps/ipsec/xfrm_nl.h"

static void check(void *arg, const struct xfrm_nl_event *ev)
{
	if (ev->kind == XFRM_NL_ACQUIRE &&
	    ((ev->acquire.family != AF_INET && ev->acquire.family != AF_INET6) ||
	     ev->acquire.mode > 1))
		__builtin_trap();
	if (ev->kind == XFRM_NL_EXPIRE &&
	    ev->expire.family != AF_INET && ev->expire.family != AF_INET6)
		__builtin_trap();
	(*(unsigned int *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[65536] __attribute__((aligned(8)));
	unsigned int events = 0;

	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);	/* aligned, as recvfrom() leaves it */
	xfrm_nl_parse_buffer(buf, size, check, &events);
	return 0;
}
