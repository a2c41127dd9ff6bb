/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-hop key relay encryption (Y.3802 7.2 key relay, reference point Kx-1):
 * one-time pad plus an ITS MAC (its_mac.h), both keyed from QKD link key.
 *
 * Pad stream.  Each direction of a link has one pad stream: the key bytes
 * of the sending end's share of the link (tx end: even blocks, rx end: odd,
 * as in <linux/qkd.h>), in block order, addressed by a 64-bit byte
 * position that both ends compute the same way.  The sender and the
 * receiver each hold the same stream in a struct pad_cursor.
 *
 * Structurally no reuse.  Pad bytes can only be obtained from a cursor, and
 * a cursor only moves forward: every byte it hands out (taken, XORed into
 * data, or discarded) is zeroised in its buffer at once and its position
 * advances past it; appended key must start exactly where the stream ends,
 * so a range that was ever in the stream can never be added again.  The
 * cursor is opaque (no copies) and owns its buffers in the OpenSSL secure
 * heap; appending moves the caller's bytes in and wipes the caller's copy.
 *
 * Message (all integers big-endian; RELAY_HDR_LEN = 32):
 *
 *	off size field
 *	 0   1   version		RELAY_VERSION (1)
 *	 1   1   type		RELAY_TYPE_KEY (1): payload is relayed key
 *	 2   1   sender_role	enum qkd_role of the sending end (its share)
 *	 3   1   reserved		0
 *	 4   4   link_id		the QKD link this hop runs over
 *	 8   8   seq		per link and direction, 0, 1, 2, ...
 *	16   8   pad_pos		stream position of this message's pad
 *	24   4   payload_len	bytes, <= RELAY_MAX_PAYLOAD
 *	28   4   reserved		0
 *	32   n   ciphertext		payload XOR pad[pad_pos + 32 ..]
 *	32+n 16  tag		ITS MAC over bytes 0 .. 32+n-1,
 *				key = pad[pad_pos .. pad_pos + 31]
 *
 * Each message consumes exactly 32 + n pad bytes at pad_pos: 256 MAC key
 * bits and 8n pad bits.  Pad accounting per link direction:
 *	pad_bits_consumed == relayed_bits + mac_key_bits + discarded_bits
 * where the left side is counted by the cursor and the right by the relay
 * code, so a test can audit one against the other.
 *
 * The receiver accepts only seq == the next expected and pad_pos == its
 * cursor position (transport is TLS over TCP: ordered, lossless; after a
 * break the daemon starts a new stream).  It verifies the tag before it
 * writes any plaintext.  A message that fails the tag still burns its pad
 * (MAC key and n bytes) and its sequence number, so no key is ever used
 * twice and an honest sender stays in step; its bytes count as discarded.
 *
 * Errors (negative errno; relay_strerror() gives a sentence):
 *	-EINVAL		malformed message or bad argument (no state change)
 *	-EALREADY	replay: sequence number already used (no state change)
 *	-EPROTO		out of step: sequence gap or pad position mismatch
 *			(no state change)
 *	-ENOSPC		not enough pad in the cursor yet (no state change)
 *	-EBADMSG	authentication failed: pad burnt, nothing delivered
 *	-ENOMEM		allocation failed (no state change)
 */
#ifndef QKD_RELAY_OTP_H
#define QKD_RELAY_OTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/qkd.h>

#include "relay/its_mac.h"

#define RELAY_VERSION		1
#define RELAY_TYPE_KEY		1
#define RELAY_HDR_LEN		32
#define RELAY_TAG_LEN		ITS_MAC_TAG_LEN
#define RELAY_MAX_PAYLOAD	65536
#define RELAY_OVERHEAD		(RELAY_HDR_LEN + RELAY_TAG_LEN)
/* Pad bytes one message of @n payload bytes consumes. */
#define RELAY_PAD_NEEDED(n)	((size_t)(n) + ITS_MAC_KEY_LEN)

/* ---- pad cursor: the only source of pad bytes ---- */

struct pad_cursor;

/* An empty stream whose first byte will be at @start_pos; NULL on ENOMEM. */
struct pad_cursor *pad_cursor_new(uint64_t start_pos);
/* Zeroises and frees everything still held. */
void pad_cursor_free(struct pad_cursor *cur);

/*
 * Moves @len key bytes into the stream at @pos, which must be exactly
 * pad_cursor_end() (-EINVAL otherwise: overlap would be reuse).  @key is
 * wiped on success and left untouched on error.
 */
int pad_cursor_append(struct pad_cursor *cur, uint64_t pos, uint8_t *key,
		      size_t len);

uint64_t pad_cursor_position(const struct pad_cursor *cur); /* next byte */
uint64_t pad_cursor_end(const struct pad_cursor *cur);	/* one past last */
size_t pad_cursor_available(const struct pad_cursor *cur);
/* Bytes handed out or discarded since creation (the accounting witness). */
uint64_t pad_cursor_consumed(const struct pad_cursor *cur);

/*
 * Each of these consumes exactly @n bytes or, with -ENOSPC, none.
 * take copies the pad out (for MAC keys), xor writes src ^ pad to dst
 * (dst == src allowed), discard just burns it.
 */
int pad_cursor_take(struct pad_cursor *cur, uint8_t *out, size_t n);
int pad_cursor_xor(struct pad_cursor *cur, uint8_t *dst, const uint8_t *src,
		   size_t n);
int pad_cursor_discard(struct pad_cursor *cur, size_t n);

#ifdef QKD_UNIT_TEST
/* True if every byte already handed out but still buffered is zero. */
bool pad_cursor_consumed_bytes_are_zero(const struct pad_cursor *cur);
#endif

/* ---- one direction of one link ---- */

struct relay_link;

struct relay_stats {
	uint64_t pad_bits_consumed;	/* from the cursor */
	uint64_t relayed_bits;		/* payload sent or delivered */
	uint64_t mac_key_bits;		/* ITS_MAC_KEY_BITS per message */
	uint64_t discarded_bits;	/* burnt by rejected messages */
	uint64_t messages;		/* sealed or delivered */
	uint64_t rejected;		/* any error on open */
	uint64_t auth_failures;		/* -EBADMSG: raise an alarm */
	uint64_t next_seq;
};

/*
 * @sending: this end seals (true) or opens (false) on this stream.
 * @sender_role: role of the sending end on the link, whose share the pad
 * stream is cut from.  @pad_start: stream position of the first pad byte.
 */
struct relay_link *relay_link_new(uint32_t link_id,
				  enum qkd_role sender_role, bool sending,
				  uint64_t pad_start);
void relay_link_free(struct relay_link *link);

/* Adds fresh link key to the stream; see pad_cursor_append(). */
int relay_link_add_pad(struct relay_link *link, uint64_t pos, uint8_t *key,
		       size_t len);
size_t relay_link_pad_available(const struct relay_link *link);
void relay_link_stats(const struct relay_link *link, struct relay_stats *st);

/*
 * Encrypts and authenticates @len payload bytes into @out (RELAY_OVERHEAD
 * + @len bytes; @out must not overlap @payload).  0 and *out_len, or a
 * negative errno with nothing consumed.
 */
int relay_seal(struct relay_link *link, const uint8_t *payload, size_t len,
	       uint8_t *out, size_t out_size, size_t *out_len);

/*
 * Checks and decrypts one message into @payload (up to @payload_size
 * bytes).  Plaintext is written only after the tag verified.
 */
int relay_open(struct relay_link *link, const uint8_t *msg, size_t msg_len,
	       uint8_t *payload, size_t payload_size, size_t *payload_len);

/* A sentence for a relay_* / pad_cursor_* error, never with key bytes. */
const char *relay_strerror(int err);

#endif /* QKD_RELAY_OTP_H */
