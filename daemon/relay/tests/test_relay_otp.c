// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for relay_otp.c: round trips, attempts to make a pad byte be
 * used twice, tampering, replay, malformed input and the pad audit.
 * The sender and the receiver of a hop get copies of the same random
 * "link key", as the two ends of a QKD link would.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "relay/relay_otp.h"
#include "routing/route.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define LINK_ID		7
#define PAD_START	4096	/* any agreed stream position */

struct hop {
	struct relay_link *tx;
	struct relay_link *rx;
	uint8_t *key;		/* a copy of the link key, to check pads */
	size_t key_len;
};

static void random_bytes(void *buf, size_t len)
{
	assert_int_equal(RAND_bytes(buf, (int)len), 1);
}

/* Both ends, fed the same @key_len key bytes in chunks of @chunk. */
static void hop_init(struct hop *hop, size_t key_len, size_t chunk)
{
	uint8_t *copy = malloc(key_len);

	hop->key = malloc(key_len);
	assert_non_null(copy);
	assert_non_null(hop->key);
	hop->key_len = key_len;
	random_bytes(hop->key, key_len);
	hop->tx = relay_link_new(LINK_ID, QKD_ROLE_TX, true, PAD_START);
	hop->rx = relay_link_new(LINK_ID, QKD_ROLE_TX, false, PAD_START);
	assert_non_null(hop->tx);
	assert_non_null(hop->rx);
	for (size_t off = 0; off < key_len; off += chunk) {
		size_t n = key_len - off < chunk ? key_len - off : chunk;

		memcpy(copy, hop->key + off, n);
		assert_int_equal(relay_link_add_pad(hop->tx, PAD_START + off,
						    copy, n), 0);
		memcpy(copy, hop->key + off, n);
		assert_int_equal(relay_link_add_pad(hop->rx, PAD_START + off,
						    copy, n), 0);
	}
	free(copy);
}

static void hop_fini(struct hop *hop)
{
	relay_link_free(hop->tx);
	relay_link_free(hop->rx);
	free(hop->key);
}

static int seal(struct hop *hop, const uint8_t *pl, size_t n, uint8_t *msg,
		size_t *msg_len)
{
	return relay_seal(hop->tx, pl, n, msg, RELAY_OVERHEAD + n, msg_len);
}

static void assert_audit(const struct relay_link *link)
{
	struct relay_stats st;

	relay_link_stats(link, &st);
	assert_int_equal(st.pad_bits_consumed,
			 st.relayed_bits + st.mac_key_bits + st.discarded_bits);
	assert_int_equal(st.mac_key_bits,
			 (st.messages + st.auth_failures) * ITS_MAC_KEY_BITS);
}

static void test_round_trip_across_chunks(void **state)
{
	static const size_t chunks[] = { 1, 7, 16, 33, 100000 };
	uint8_t pl[600], out[600], msg[600 + RELAY_OVERHEAD];
	size_t msg_len, out_len;
	struct hop hop;

	for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
		hop_init(&hop, 20000, chunks[c]);
		for (size_t n = 0; n <= sizeof(pl); n += 37) {
			random_bytes(pl, n);
			assert_int_equal(seal(&hop, pl, n, msg, &msg_len), 0);
			assert_int_equal(msg_len, n + RELAY_OVERHEAD);
			assert_int_equal(relay_open(hop.rx, msg, msg_len, out,
						    sizeof(out), &out_len), 0);
			assert_int_equal(out_len, n);
			assert_memory_equal(out, pl, n);
		}
		assert_audit(hop.tx);
		assert_audit(hop.rx);
		hop_fini(&hop);
	}
}

/*
 * Recover every pad byte the sender used (ciphertext XOR plaintext) and
 * its MAC key position from the header: each key byte is used at most
 * once, at the position the header names, and the bytes used are exactly
 * the stream prefix the cursor says it consumed.
 */
static void test_pad_bytes_used_once_at_named_position(void **state)
{
	uint8_t pl[300], msg[300 + RELAY_OVERHEAD];
	uint8_t *use_count;
	uint64_t expect_pos = PAD_START, pos;
	size_t msg_len, total = 0;
	struct relay_stats st;
	struct hop hop;

	hop_init(&hop, 8192, 64);
	use_count = calloc(hop.key_len, 1);
	assert_non_null(use_count);
	for (size_t n = 1; ; n = n * 3 % 251 + 1) {
		int err;

		random_bytes(pl, n);
		err = seal(&hop, pl, n, msg, &msg_len);
		if (err == -ENOSPC)
			break;
		assert_int_equal(err, 0);
		pos = (uint64_t)msg[16] << 56 | (uint64_t)msg[17] << 48 |
		      (uint64_t)msg[18] << 40 | (uint64_t)msg[19] << 32 |
		      (uint64_t)msg[20] << 24 | (uint64_t)msg[21] << 16 |
		      (uint64_t)msg[22] << 8 | msg[23];
		assert_int_equal(pos, expect_pos);
		for (size_t i = 0; i < RELAY_PAD_NEEDED(n); i++)
			use_count[pos - PAD_START + i]++;
		for (size_t i = 0; i < n; i++)
			assert_int_equal(msg[RELAY_HDR_LEN + i] ^ pl[i],
					 hop.key[pos - PAD_START +
						 ITS_MAC_KEY_LEN + i]);
		expect_pos += RELAY_PAD_NEEDED(n);
		total += RELAY_PAD_NEEDED(n);
	}
	for (size_t i = 0; i < hop.key_len; i++)
		assert_true(use_count[i] == (i < total ? 1 : 0));
	relay_link_stats(hop.tx, &st);
	assert_int_equal(st.pad_bits_consumed, 8 * total);
	assert_audit(hop.tx);
	free(use_count);
	hop_fini(&hop);
}

/* Every way we could think of to get the same pad bytes a second time. */
static void test_pad_reuse_is_impossible(void **state)
{
	uint8_t key[64], again[64], pl[16] = { 0 }, m1[64], m2[64];
	static const uint8_t zero[64];
	struct pad_cursor *cur = pad_cursor_new(100);
	size_t l1, l2;
	struct hop hop;

	assert_non_null(cur);
	random_bytes(key, sizeof(key));
	memcpy(again, key, sizeof(key));
	assert_int_equal(pad_cursor_append(cur, 100, key, 32), 0);
	/* appending moves the key in: the caller's copy is wiped */
	assert_memory_equal(key, zero, 32);
	/* the same range, an overlapping one, one before, or a gap: refused */
	assert_int_equal(pad_cursor_append(cur, 100, again, 32), -EINVAL);
	assert_int_equal(pad_cursor_append(cur, 131, again, 32), -EINVAL);
	assert_int_equal(pad_cursor_append(cur, 0, again, 32), -EINVAL);
	assert_int_equal(pad_cursor_append(cur, 133, again, 32), -EINVAL);
	assert_memory_not_equal(again, zero, 32);	/* untouched on error */
	/* consumed bytes are wiped in place, and cannot be had again */
	assert_int_equal(pad_cursor_take(cur, key, 10), 0);
	assert_memory_equal(key, again, 10);
	assert_true(pad_cursor_consumed_bytes_are_zero(cur));
	assert_int_equal(pad_cursor_position(cur), 110);
	assert_int_equal(pad_cursor_xor(cur, key, zero, 22), 0);
	assert_memory_equal(key, again + 10, 22);
	assert_int_equal(pad_cursor_take(cur, key, 1), -ENOSPC);
	/* after everything was consumed, the old range is still refused */
	assert_int_equal(pad_cursor_append(cur, 100, again, 32), -EINVAL);
	assert_int_equal(pad_cursor_append(cur, 132, again + 32, 32), 0);
	assert_int_equal(pad_cursor_take(cur, key, 33), -ENOSPC);
	assert_int_equal(pad_cursor_available(cur), 32);
	assert_int_equal(pad_cursor_discard(cur, 5), 0);
	assert_true(pad_cursor_consumed_bytes_are_zero(cur));
	assert_int_equal(pad_cursor_consumed(cur), 37);
	pad_cursor_free(cur);

	/* the same payload sealed twice never gives the same ciphertext */
	hop_init(&hop, 1024, 1024);
	assert_int_equal(seal(&hop, pl, sizeof(pl), m1, &l1), 0);
	assert_int_equal(seal(&hop, pl, sizeof(pl), m2, &l2), 0);
	assert_memory_not_equal(m1 + RELAY_HDR_LEN, m2 + RELAY_HDR_LEN,
				sizeof(pl));
	/* a receiver must not decrypt one message twice (replay) */
	assert_int_equal(relay_open(hop.rx, m1, l1, key, sizeof(key), &l2), 0);
	assert_int_equal(relay_open(hop.rx, m1, l1, key, sizeof(key), &l2),
			 -EALREADY);
	/* nor can the pad be re-added to a link under a new position */
	assert_int_equal(relay_link_add_pad(hop.tx, PAD_START, again, 16),
			 -EINVAL);
	hop_fini(&hop);
}

static void test_not_enough_pad_consumes_nothing(void **state)
{
	uint8_t pl[64] = { 1 }, msg[64 + RELAY_OVERHEAD], more[64], out[64];
	size_t msg_len, out_len;
	struct relay_stats st;
	struct hop hop;

	hop_init(&hop, RELAY_PAD_NEEDED(64) - 1, 4096);
	assert_int_equal(seal(&hop, pl, 64, msg, &msg_len), -ENOSPC);
	relay_link_stats(hop.tx, &st);
	assert_int_equal(st.pad_bits_consumed, 0);
	assert_int_equal(st.next_seq, 0);
	assert_int_equal(relay_link_pad_available(hop.tx),
			 RELAY_PAD_NEEDED(64) - 1);
	/* one more byte, on both ends, and it goes through */
	random_bytes(more, 1);
	memcpy(more + 1, more, 1);
	assert_int_equal(relay_link_add_pad(hop.tx, PAD_START + RELAY_PAD_NEEDED(
				64) - 1, more, 1), 0);
	assert_int_equal(seal(&hop, pl, 64, msg, &msg_len), 0);
	/* the receiver, still short of that byte, waits without harm */
	assert_int_equal(relay_open(hop.rx, msg, msg_len, out, sizeof(out),
				    &out_len), -ENOSPC);
	assert_int_equal(relay_link_add_pad(hop.rx, PAD_START + RELAY_PAD_NEEDED(
				64) - 1, more + 1, 1), 0);
	assert_int_equal(relay_open(hop.rx, msg, msg_len, out, sizeof(out),
				    &out_len), 0);
	assert_memory_equal(out, pl, 64);
	assert_int_equal(relay_link_pad_available(hop.tx), 0);
	assert_int_equal(relay_link_pad_available(hop.rx), 0);
	hop_fini(&hop);
}

/* Flip each bit of a sealed message: it never opens, nothing leaks. */
static void test_every_bit_flip_rejected(void **state)
{
	uint8_t pl[24], msg[24 + RELAY_OVERHEAD], out[32], next[sizeof(msg)];
	size_t msg_len, next_len, out_len;
	struct relay_stats st;
	struct hop hop;

	random_bytes(pl, sizeof(pl));
	for (size_t bit = 0; bit < 8 * sizeof(msg); bit++) {
		int err;

		hop_init(&hop, 1024, 1024);
		assert_int_equal(seal(&hop, pl, sizeof(pl), msg, &msg_len), 0);
		assert_int_equal(seal(&hop, pl, sizeof(pl), next, &next_len),
				 0);
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(out, 0xa5, sizeof(out));
		err = relay_open(hop.rx, msg, msg_len, out, sizeof(out),
				 &out_len);
		assert_int_not_equal(err, 0);
		for (size_t i = 0; i < sizeof(out); i++)
			assert_int_equal(out[i], 0xa5);
		relay_link_stats(hop.rx, &st);
		assert_int_equal(st.relayed_bits, 0);
		if (bit >= 8 * RELAY_HDR_LEN) {
			/*
			 * body or tag: caught by the MAC, pad burnt, and the
			 * honest next message still opens
			 */
			assert_int_equal(err, -EBADMSG);
			assert_int_equal(st.auth_failures, 1);
			assert_int_equal(st.discarded_bits, 8 * sizeof(pl));
			assert_int_equal(relay_open(hop.rx, next, next_len, out,
						    sizeof(out), &out_len), 0);
			assert_memory_equal(out, pl, sizeof(pl));
		}
		assert_audit(hop.rx);
		hop_fini(&hop);
	}
}

static void test_replay_and_reorder_rejected(void **state)
{
	uint8_t pl[32], m[3][32 + RELAY_OVERHEAD], out[32];
	size_t len[3], out_len;
	struct relay_stats before, after;
	struct hop hop;

	hop_init(&hop, 4096, 4096);
	for (int i = 0; i < 3; i++) {
		random_bytes(pl, sizeof(pl));
		assert_int_equal(seal(&hop, pl, sizeof(pl), m[i], &len[i]), 0);
	}
	assert_int_equal(relay_open(hop.rx, m[1], len[1], out, sizeof(out),
				    &out_len), -EPROTO);
	assert_int_equal(relay_open(hop.rx, m[0], len[0], out, sizeof(out),
				    &out_len), 0);
	relay_link_stats(hop.rx, &before);
	assert_int_equal(relay_open(hop.rx, m[0], len[0], out, sizeof(out),
				    &out_len), -EALREADY);
	relay_link_stats(hop.rx, &after);
	/* a replay changes nothing but the rejection counter */
	assert_int_equal(after.pad_bits_consumed, before.pad_bits_consumed);
	assert_int_equal(after.next_seq, before.next_seq);
	assert_int_equal(after.rejected, before.rejected + 1);
	assert_int_equal(relay_open(hop.rx, m[1], len[1], out, sizeof(out),
				    &out_len), 0);
	assert_int_equal(relay_open(hop.rx, m[2], len[2], out, sizeof(out),
				    &out_len), 0);
	assert_memory_equal(out, pl, sizeof(pl));
	assert_int_equal(relay_open(hop.rx, m[1], len[1], out, sizeof(out),
				    &out_len), -EALREADY);
	hop_fini(&hop);
}

static void test_malformed_rejected_without_state_change(void **state)
{
	uint8_t pl[16] = { 0 }, msg[16 + RELAY_OVERHEAD + 1], bad[sizeof(msg)];
	uint8_t out[16];
	size_t msg_len, out_len;
	struct relay_link *other;
	struct relay_stats st;
	struct hop hop;

	hop_init(&hop, 1024, 1024);
	assert_int_equal(seal(&hop, pl, sizeof(pl), msg, &msg_len), 0);
	/* short, truncated, extended */
	assert_int_equal(relay_open(hop.rx, msg, RELAY_OVERHEAD - 1, out,
				    sizeof(out), &out_len), -EINVAL);
	assert_int_equal(relay_open(hop.rx, msg, msg_len - 1, out, sizeof(out),
				    &out_len), -EINVAL);
	assert_int_equal(relay_open(hop.rx, msg, msg_len + 1, out, sizeof(out),
				    &out_len), -EINVAL);
	/* output buffer too small */
	assert_int_equal(relay_open(hop.rx, msg, msg_len, out, 15, &out_len),
			 -EINVAL);
	/* reserved byte, version, type */
	for (int field = 0; field < 4; field++) {
		static const int at[] = { 0, 1, 3, 31 };

		memcpy(bad, msg, msg_len);
		bad[at[field]] ^= 0x40;
		assert_int_equal(relay_open(hop.rx, bad, msg_len, out,
					    sizeof(out), &out_len), -EINVAL);
	}
	/* a message for another link, or the other direction */
	other = relay_link_new(LINK_ID + 1, QKD_ROLE_TX, false, PAD_START);
	assert_non_null(other);
	assert_int_equal(relay_open(other, msg, msg_len, out, sizeof(out),
				    &out_len), -EINVAL);
	relay_link_free(other);
	other = relay_link_new(LINK_ID, QKD_ROLE_RX, false, PAD_START);
	assert_non_null(other);
	assert_int_equal(relay_open(other, msg, msg_len, out, sizeof(out),
				    &out_len), -EINVAL);
	relay_link_free(other);
	/* wrong side of the link */
	assert_int_equal(relay_open(hop.tx, msg, msg_len, out, sizeof(out),
				    &out_len), -EINVAL);
	assert_int_equal(relay_seal(hop.rx, pl, sizeof(pl), bad, sizeof(bad),
				    &out_len), -EINVAL);
	assert_int_equal(relay_seal(hop.tx, pl, RELAY_MAX_PAYLOAD + 1, bad,
				    SIZE_MAX, &out_len), -EINVAL);
	assert_int_equal(relay_seal(hop.tx, pl, sizeof(pl), bad,
				    sizeof(pl) + RELAY_OVERHEAD - 1, &out_len),
			 -EINVAL);
	relay_link_stats(hop.rx, &st);
	assert_int_equal(st.pad_bits_consumed, 0);
	assert_int_equal(st.next_seq, 0);
	/* and the genuine message still opens */
	assert_int_equal(relay_open(hop.rx, msg, msg_len, out, sizeof(out),
				    &out_len), 0);
	hop_fini(&hop);
}

/*
 * Acceptance 2 of issue 4, for one hop in both directions of a link with
 * a mixed load including forged messages: consumed == relayed + MAC +
 * discarded at every end, and sender and receiver consumed the same.
 */
static void test_pad_accounting_audit(void **state)
{
	uint8_t pl[512], msg[512 + RELAY_OVERHEAD], out[512];
	struct relay_stats s_tx, s_rx;
	size_t msg_len, out_len, sent_bytes = 0;
	int forged = 0;
	struct hop hop;

	hop_init(&hop, 200000, 3000);
	for (int i = 0; i < 500; i++) {
		size_t n = (size_t)(i * 97) % sizeof(pl);
		int err;

		random_bytes(pl, n);
		if (seal(&hop, pl, n, msg, &msg_len))
			break;
		sent_bytes += n;
		if (i % 17 == 5) {
			msg[msg_len - 1] ^= 1;
			forged++;
		}
		err = relay_open(hop.rx, msg, msg_len, out, sizeof(out),
				 &out_len);
		assert_int_equal(err, i % 17 == 5 ? -EBADMSG : 0);
	}
	relay_link_stats(hop.tx, &s_tx);
	relay_link_stats(hop.rx, &s_rx);
	assert_audit(hop.tx);
	assert_audit(hop.rx);
	assert_int_equal(s_tx.relayed_bits, 8 * sent_bytes);
	assert_int_equal(s_tx.pad_bits_consumed, s_rx.pad_bits_consumed);
	assert_int_equal(s_rx.auth_failures, forged);
	assert_int_equal(s_rx.relayed_bits + s_rx.discarded_bits,
			 s_tx.relayed_bits);
	assert_int_equal(s_tx.pad_bits_consumed,
			 8 * (hop.key_len - relay_link_pad_available(hop.tx)));
	hop_fini(&hop);
}

static void test_error_strings(void **state)
{
	static const int errs[] = { -EINVAL, -EALREADY, -EPROTO, -ENOSPC,
				    -EBADMSG, -ENOMEM };

	for (size_t i = 0; i < ARRAY_SIZE(errs); i++)
		assert_string_not_equal(relay_strerror(errs[i]),
					relay_strerror(-9999));
	assert_null(relay_link_new(1, (enum qkd_role)5, true, 0));
}

/*
 * Relay one 256-bit key from node 0 to node @dst along @path: the source
 * seals, each trusted node opens and seals onto its next link, the
 * destination opens.  hops[l] are the two ends of link l.
 */
static void relay_along(struct hop *hops, const struct route_path *path,
			const uint8_t key[32], uint8_t got[32])
{
	uint8_t msg[32 + RELAY_OVERHEAD], cur[32];
	size_t msg_len, len;

	memcpy(cur, key, 32);
	for (uint32_t i = 0; i < path->hops; i++) {
		struct hop *h = &hops[path->links[i]];

		assert_int_equal(seal(h, cur, 32, msg, &msg_len), 0);
		memset(cur, 0, 32);
		assert_int_equal(relay_open(h->rx, msg, msg_len, cur,
					    sizeof(cur), &len), 0);
		assert_int_equal(len, 32);
	}
	memcpy(got, cur, 32);
}

/*
 * Issue 4 acceptance 2 at library level: a key crosses a 6-node ring
 * along the computed route and arrives intact; every hop's audit shows
 * exactly 256 relayed + 256 MAC key bits per key; links off the path
 * spend nothing.  Then the active path loses a link and the next key
 * goes round the other way.
 */
static void test_multi_hop_relay_along_route(void **state)
{
	struct route_link_status up = { QKD_LINK_UP, QKD_POOL_READY, 1 << 20,
					1000000 };
	struct route_link_status down = up;
	struct route_topo *t = route_topo_new();
	uint8_t key[32], got[32];
	struct route_path path;
	struct relay_stats st;
	struct hop hops[6];
	char name[2] = "A";

	assert_non_null(t);
	down.state = QKD_LINK_NO_CARRIER;
	for (int i = 0; i < 6; i++, name[0]++)
		assert_int_equal(route_node_add(t, name), i);
	for (uint32_t i = 0; i < 6; i++) {
		assert_int_equal(route_link_add(t, i, (i + 1) % 6, &up),
				 (int)i);
		hop_init(&hops[i], 1024, 1024);
	}
	for (int round = 0; round < 2; round++) {
		struct route_table *tab = route_table_new(t, 0, 512);

		assert_non_null(tab);
		assert_int_equal(route_table_path(tab, 2, &path), 0);
		route_table_free(tab);
		assert_int_equal(path.hops, round ? 4 : 2);
		random_bytes(key, sizeof(key));
		relay_along(hops, &path, key, got);
		assert_memory_equal(got, key, 32);
		route_path_release(&path);
		/* links 0, 1 carried the first key; 5, 4, 3, 2 the second */
		for (uint32_t l = 0; l < 6; l++) {
			uint64_t keys = l < 2 ? 1 : (uint64_t)round;

			relay_link_stats(hops[l].tx, &st);
			assert_int_equal(st.relayed_bits, keys * 256);
			assert_int_equal(st.mac_key_bits,
					 keys * ITS_MAC_KEY_BITS);
			assert_int_equal(st.pad_bits_consumed, keys * 512);
			relay_link_stats(hops[l].rx, &st);
			assert_int_equal(st.pad_bits_consumed, keys * 512);
			assert_audit(hops[l].tx);
			assert_audit(hops[l].rx);
		}
		/* cut B-C, the active path's second link */
		route_link_update(t, 1, &down);
	}
	for (uint32_t l = 0; l < 6; l++)
		hop_fini(&hops[l]);
	route_topo_free(t);
}

/* Runs last: from here on the process has a secure heap, as qkdkmd does. */
static void test_pad_lives_in_secure_heap(void **state)
{
	uint8_t pl[32] = { 3 }, msg[32 + RELAY_OVERHEAD], out[32];
	size_t used_before, msg_len, out_len;
	struct hop hop;

	if (!CRYPTO_secure_malloc_initialized() &&
	    !CRYPTO_secure_malloc_init(1 << 20, 16))
		skip();
	used_before = CRYPTO_secure_used();
	hop_init(&hop, 4096, 1024);
	/* 2 ends x 4 chunks of 1024 bytes, plus the chunk headers */
	assert_true(CRYPTO_secure_used() >= used_before + 2 * 4096);
	assert_int_equal(seal(&hop, pl, sizeof(pl), msg, &msg_len), 0);
	assert_int_equal(relay_open(hop.rx, msg, msg_len, out, sizeof(out),
				    &out_len), 0);
	assert_memory_equal(out, pl, sizeof(pl));
	hop_fini(&hop);
	assert_int_equal(CRYPTO_secure_used(), used_before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_across_chunks),
		cmocka_unit_test(test_pad_bytes_used_once_at_named_position),
		cmocka_unit_test(test_pad_reuse_is_impossible),
		cmocka_unit_test(test_not_enough_pad_consumes_nothing),
		cmocka_unit_test(test_every_bit_flip_rejected),
		cmocka_unit_test(test_replay_and_reorder_rejected),
		cmocka_unit_test(test_malformed_rejected_without_state_change),
		cmocka_unit_test(test_pad_accounting_audit),
		cmocka_unit_test(test_error_strings),
		cmocka_unit_test(test_multi_hop_relay_along_route),
		cmocka_unit_test(test_pad_lives_in_secure_heap),
	};

	return cmocka_run_group_tests_name("relay_otp", tests, NULL, NULL);
}
