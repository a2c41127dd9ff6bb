// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for wg_nl.c.  The input is one netlink message (its
 * header's length forced to the input size, as mnl_nlmsg_ok() guarantees
 * before the daemon parses), given to the GET_DEVICE parser looking for
 * the peer whose public key is the input's first 32 bytes (or zeros):
 * whatever parses must be consistent.  Then the SET_DEVICE builder is fed
 * a name, a public key and a PSK cut from the input, and its request must
 * parse back to that peer and that PSK.
 */
#include <stdint.h>
#include <string.h>
#include <linux/netlink.h>

#include "apps/wireguard/wg_nl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint32_t buf[16384 / 4], set[WG_NL_SET_BUF / 4];
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	uint8_t pub[WG_KEY_LEN] = { 0 }, psk[WG_KEY_LEN] = { 0 };
	uint8_t back[WG_KEY_LEN];
	struct wg_nl_peer out = { 0 };
	char name[16] = "wg0";

	if (size >= WG_KEY_LEN)
		memcpy(pub, data, WG_KEY_LEN);
	if (size >= sizeof(*nlh) && size <= sizeof(buf)) {
		memcpy(buf, data, size);
		nlh->nlmsg_len = (uint32_t)size;
		if (wg_nl_parse_device(nlh, pub, &out, NULL) == 0 &&
		    !out.found && out.has_psk)
			__builtin_trap();
	}

	/* The builder: a name of 1..15 printable bytes, then keys. */
	if (size >= 1 + 2 * WG_KEY_LEN) {
		size_t n = data[0] % 15 + 1;

		for (size_t i = 0; i < n; i++)
			name[i] = (char)(0x21 + data[(i + 1) % size] % 94);
		name[n] = '\0';
		memcpy(psk, data + size - WG_KEY_LEN, WG_KEY_LEN);
	}
	nlh = wg_nl_build_set_psk(set, 0x1d, name, pub, psk);
	if (!nlh || nlh->nlmsg_len > sizeof(set))
		__builtin_trap();
	memset(&out, 0, sizeof(out));
	if (wg_nl_parse_device(nlh, pub, &out, back) != 0 || !out.found ||
	    memcmp(back, psk, WG_KEY_LEN))
		__builtin_trap();
	return 0;
}
