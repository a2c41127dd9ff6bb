// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for macsec_nl.c's GET_TXSC dump parser.  The input is
 * one netlink message; its header's length is forced to the input size (as
 * mnl_nlmsg_ok() guarantees before the daemon parses).  Whatever parses
 * must be sane: ANs in range, at most MACSEC_NL_MAX_RXSC RX SCs.
 */
#include <stdint.h>
#include <string.h>
#include <linux/netlink.h>

#include "apps/macsec/macsec_nl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint32_t buf[16384 / 4];
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct macsec_nl_secy s;

	if (size < sizeof(*nlh) || size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	nlh->nlmsg_len = (uint32_t)size;
	if (macsec_nl_parse_secy(nlh, &s) == 0) {
		if (s.encoding_sa >= MACSEC_NL_NUM_AN ||
		    s.n_rxsc > MACSEC_NL_MAX_RXSC)
			__builtin_trap();
		for (uint32_t i = 0; i < s.n_rxsc; i++)
			for (uint32_t j = 0; j < i; j++)
				if (s.rxsc[i].sci == s.rxsc[j].sci)
					__builtin_trap();
	}
	return 0;
}
