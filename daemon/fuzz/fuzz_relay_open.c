// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for relay_open(), the parser of relay messages that
 * arrive from a peer.  The receiving link holds a fixed pad pattern (the
 * seeds in corpus/relay_open/ were sealed with the same pattern).
 *
 * First input byte selects the mode:
 *	even	the rest is a message off the wire: relay_open() must not
 *		crash, and the pad audit must hold whatever it returns
 *	odd	the rest is a payload (first 4 KiB): seal it, open it (must round-trip),
 *		seal it again, flip one bit chosen by the input, open it
 *		(must fail and deliver nothing)
 *
 * Seeds: sealed_N is byte 0 then a message sealed on link 7 (sender role
 * TX, stream from position 0, the pad pattern below) with an N-byte
 * payload, so it opens; roundtrip_N is byte 1 then N arbitrary bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/relay_otp.h"

/* Small enough to keep runs fast; bigger messages hit -ENOSPC. */
#define MAX_FUZZ_PAYLOAD	4096
#define PAD_LEN	(2 * RELAY_PAD_NEEDED(MAX_FUZZ_PAYLOAD) + 64)

static uint8_t pad_pattern[PAD_LEN];

static void fill_pad(void)
{
	for (size_t i = 0; i < PAD_LEN; i++)
		pad_pattern[i] = (uint8_t)(i * 131 + 7 + (i >> 8));
}

static struct relay_link *link_with_pad(bool sending)
{
	static uint8_t copy[PAD_LEN];
	struct relay_link *l = relay_link_new(7, QKD_ROLE_TX, sending, 0);

	if (!l)
		abort();
	memcpy(copy, pad_pattern, PAD_LEN);
	if (relay_link_add_pad(l, 0, copy, PAD_LEN))
		abort();
	return l;
}

static void audit(const struct relay_link *l)
{
	struct relay_stats st;

	relay_link_stats(l, &st);
	if (st.pad_bits_consumed !=
	    st.relayed_bits + st.mac_key_bits + st.discarded_bits)
		abort();
}

static void round_trip(const uint8_t *data, size_t size)
{
	static uint8_t msg[RELAY_MAX_PAYLOAD + RELAY_OVERHEAD];
	static uint8_t out[RELAY_MAX_PAYLOAD];
	struct relay_link *tx = link_with_pad(true);
	struct relay_link *rx = link_with_pad(false);
	size_t len, out_len, bit;

	if (size > MAX_FUZZ_PAYLOAD)
		size = MAX_FUZZ_PAYLOAD;
	if (relay_seal(tx, data, size, msg, sizeof(msg), &len) ||
	    relay_open(rx, msg, len, out, sizeof(out), &out_len) ||
	    out_len != size || memcmp(out, data, size))
		abort();
	if (relay_seal(tx, data, size, msg, sizeof(msg), &len))
		abort();
	bit = size ? (data[0] * 257u + data[size - 1]) % (8 * len) : 0;
	msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	memset(out, 0x5a, size);
	if (!relay_open(rx, msg, len, out, sizeof(out), &out_len))
		abort();
	for (size_t i = 0; i < size; i++)
		if (out[i] != 0x5a)
			abort();
	audit(tx);
	audit(rx);
	relay_link_free(tx);
	relay_link_free(rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[RELAY_MAX_PAYLOAD];
	struct relay_link *rx;
	size_t out_len;

	if (!size)
		return 0;
	if (!pad_pattern[0])
		fill_pad();
	if (data[0] & 1) {
		round_trip(data + 1, size - 1);
		return 0;
	}
	rx = link_with_pad(false);
	relay_open(rx, data + 1, size - 1, out, sizeof(out), &out_len);
	audit(rx);
	relay_link_free(rx);
	return 0;
}
