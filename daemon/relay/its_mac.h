/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ITS MAC: an information-theoretically secure one-time message
 * authentication code for relay messages (Wegman-Carter).
 *
 *	tag = GHASH_H(msg) XOR S
 *
 * H (16 bytes, the hash key) and S (16 bytes, the tag pad) are fresh QKD
 * link key bytes, used for exactly one message and then zeroised.  GHASH is
 * the polynomial universal hash over GF(2^128) with the polynomial
 * x^128 + x^7 + x^2 + x + 1 and the bit order of NIST SP 800-38D (AES-GCM):
 * the message is cut into 16-byte blocks (the last one zero-padded), followed
 * by one length block (bit length of the message as a 64-bit big-endian
 * number, then 8 zero bytes), and evaluated as a polynomial in H by Horner's
 * rule.  So the tag equals AES-GCM's GMAC of the message as additional data,
 * had H and S been AES outputs; the unit test checks exactly that against
 * OpenSSL.  Here H and S are uniform key bits, hence no computational
 * assumption: an attacker who saw one (message, tag) pair forges another
 * with probability at most (ceil(L/16) + 1) / 2^128 for L-byte messages.
 * Documentation/qkd/relay.rst has the argument.
 *
 * Constant time: no table lookup or branch depends on H, S or the
 * accumulator.  On x86-64 with PCLMULQDQ the carry-less multiply is done in
 * hardware, otherwise by a portable masked shift-and-add; both run the same
 * reduction and are tested against an independent bit-serial reference.
 */
#ifndef QKD_ITS_MAC_H
#define QKD_ITS_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ITS_MAC_HASH_KEY_LEN	16
#define ITS_MAC_TAG_PAD_LEN	16
#define ITS_MAC_KEY_LEN		(ITS_MAC_HASH_KEY_LEN + ITS_MAC_TAG_PAD_LEN)
#define ITS_MAC_KEY_BITS	(8 * ITS_MAC_KEY_LEN)
#define ITS_MAC_TAG_LEN		16

/* A GF(2^128) element: hi holds bytes 0-7 of the block (big-endian). */
struct its_gf128 {
	uint64_t hi;
	uint64_t lo;
};

/*
 * One message being authenticated.  Holds key material: finish every
 * context with its_mac_final() or its_mac_abort(), both zeroise it.
 */
struct its_mac_ctx {
	struct its_gf128 h;		/* hash key */
	struct its_gf128 acc;		/* Horner accumulator */
	uint8_t tag_pad[ITS_MAC_TAG_PAD_LEN];
	uint8_t partial[16];		/* bytes of an unfinished block */
	size_t partial_len;
	uint64_t total_len;		/* message bytes so far */
};

/*
 * Start a message.  @key is H || S (ITS_MAC_KEY_LEN bytes); the context
 * copies it, the caller zeroises its own copy (relay_otp takes it straight
 * from the pad cursor).
 */
void its_mac_init(struct its_mac_ctx *ctx, const uint8_t key[ITS_MAC_KEY_LEN]);
void its_mac_update(struct its_mac_ctx *ctx, const void *data, size_t len);
/* Writes the tag and zeroises the context. */
void its_mac_final(struct its_mac_ctx *ctx, uint8_t tag[ITS_MAC_TAG_LEN]);
/* Checks @tag in constant time, zeroises the context; true if it matches. */
bool its_mac_final_verify(struct its_mac_ctx *ctx,
			  const uint8_t tag[ITS_MAC_TAG_LEN]);
/* Zeroises an unfinished context. */
void its_mac_abort(struct its_mac_ctx *ctx);

/* One-shot helpers. */
void its_mac_tag(const uint8_t key[ITS_MAC_KEY_LEN], const void *msg,
		 size_t len, uint8_t tag[ITS_MAC_TAG_LEN]);
bool its_mac_verify(const uint8_t key[ITS_MAC_KEY_LEN], const void *msg,
		    size_t len, const uint8_t tag[ITS_MAC_TAG_LEN]);

/* Field arithmetic, exported for the tests and the benchmark. */
struct its_gf128 its_gf128_load(const uint8_t block[16]);
void its_gf128_store(uint8_t block[16], struct its_gf128 x);
struct its_gf128 its_gf128_mul(struct its_gf128 a, struct its_gf128 b);

/* Which carry-less multiply is in use; tests and benchmarks switch it. */
enum its_mac_impl {
	ITS_MAC_IMPL_AUTO,	/* hardware if the CPU has it */
	ITS_MAC_IMPL_PORTABLE,	/* masked shift-and-add, any CPU */
	ITS_MAC_IMPL_CLMUL,	/* x86-64 PCLMULQDQ */
};

/*
 * Selects @want if available; returns what is now in use.  Process-wide
 * and not thread-safe: call it at start-up (the default is AUTO).
 */
enum its_mac_impl its_mac_select(enum its_mac_impl want);
const char *its_mac_impl_name(enum its_mac_impl impl);

#endif /* QKD_ITS_MAC_H */
