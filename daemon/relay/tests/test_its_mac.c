// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for its_mac.c.  Test vectors are derived independently, in
 * this file, two ways: a bit-serial GF(2^128) multiply written straight
 * from NIST SP 800-38D Algorithm 1 (byte arrays, no shared code), and
 * OpenSSL's AES-GCM, whose tag over additional data alone is
 * GHASH_H(A) XOR E_K(J0) with H = E_K(0^128): the same construction with
 * AES-derived H and S.  Every test runs with each multiply implementation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "relay/its_mac.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static void random_bytes(void *buf, size_t len)
{
	assert_int_equal(RAND_bytes(buf, (int)len), 1);
}

/* SP 800-38D 6.3, Algorithm 1, one bit at a time on byte strings. */
static void ref_gf_mul(const uint8_t x[16], const uint8_t y[16],
		       uint8_t out[16])
{
	uint8_t z[16] = { 0 }, v[16];

	memcpy(v, y, 16);
	for (int i = 0; i < 128; i++) {
		int lsb = v[15] & 1;

		if (x[i / 8] & (0x80 >> (i % 8)))
			for (int j = 0; j < 16; j++)
				z[j] ^= v[j];
		for (int j = 15; j > 0; j--)
			v[j] = (uint8_t)((v[j] >> 1) | (v[j - 1] << 7));
		v[0] >>= 1;
		if (lsb)
			v[0] ^= 0xe1;
	}
	memcpy(out, z, 16);
}

/* Reference GHASH + pad, built only on ref_gf_mul. */
static void ref_mac(const uint8_t key[32], const uint8_t *msg, size_t len,
		    uint8_t tag[16])
{
	uint8_t acc[16] = { 0 }, blk[16];
	uint64_t bits = (uint64_t)len * 8;

	for (size_t off = 0; off < len; off += 16) {
		size_t n = len - off < 16 ? len - off : 16;

		memset(blk, 0, 16);
		memcpy(blk, msg + off, n);
		for (int j = 0; j < 16; j++)
			acc[j] ^= blk[j];
		ref_gf_mul(acc, key, acc);
	}
	memset(blk, 0, 16);
	for (int j = 0; j < 8; j++)
		blk[7 - j] = (uint8_t)(bits >> (8 * j));
	for (int j = 0; j < 16; j++)
		acc[j] ^= blk[j];
	ref_gf_mul(acc, key, acc);
	for (int j = 0; j < 16; j++)
		tag[j] = acc[j] ^ key[16 + j];
}

static const enum its_mac_impl impls[] = {
	ITS_MAC_IMPL_PORTABLE, ITS_MAC_IMPL_CLMUL,
};
#define N_IMPLS (ARRAY_SIZE(impls))

static void test_gf_mul_matches_bit_serial(void **state)
{
	uint8_t a[16], b[16], want[16], got[16];

	for (size_t m = 0; m < N_IMPLS; m++) {
		its_mac_select(impls[m]);
		for (int i = 0; i < 2000; i++) {
			random_bytes(a, 16);
			random_bytes(b, 16);
			if (i < 16) {	/* sparse operands hit the fold edges */
				memset(a, 0, 16);
				a[i] = 0x01;
				memset(b, 0xff, 16);
			}
			ref_gf_mul(a, b, want);
			its_gf128_store(got, its_gf128_mul(its_gf128_load(a),
							   its_gf128_load(b)));
			assert_memory_equal(got, want, 16);
		}
	}
	its_mac_select(ITS_MAC_IMPL_AUTO);
}

static void test_gf_field_laws(void **state)
{
	uint8_t one[16] = { 0x80 }, zero[16] = { 0 }, buf[16];
	struct its_gf128 a, b, c, ab, ba, lhs, rhs, bc;

	for (size_t m = 0; m < N_IMPLS; m++) {
		its_mac_select(impls[m]);
		for (int i = 0; i < 200; i++) {
			random_bytes(buf, 16);
			a = its_gf128_load(buf);
			random_bytes(buf, 16);
			b = its_gf128_load(buf);
			random_bytes(buf, 16);
			c = its_gf128_load(buf);
			ab = its_gf128_mul(a, b);
			ba = its_gf128_mul(b, a);
			assert_true(ab.hi == ba.hi && ab.lo == ba.lo);
			/* a(b + c) = ab + ac */
			bc.hi = b.hi ^ c.hi;
			bc.lo = b.lo ^ c.lo;
			lhs = its_gf128_mul(a, bc);
			rhs = its_gf128_mul(a, c);
			rhs.hi ^= ab.hi;
			rhs.lo ^= ab.lo;
			assert_true(lhs.hi == rhs.hi && lhs.lo == rhs.lo);
			lhs = its_gf128_mul(a, its_gf128_load(one));
			assert_true(lhs.hi == a.hi && lhs.lo == a.lo);
			lhs = its_gf128_mul(a, its_gf128_load(zero));
			assert_true(lhs.hi == 0 && lhs.lo == 0);
		}
	}
	its_mac_select(ITS_MAC_IMPL_AUTO);
}

/* GMAC of @aad under AES-128 key @k and 96-bit @iv, plus its H || S. */
static void openssl_gmac(const uint8_t k[16], const uint8_t iv[12],
			 const uint8_t *aad, size_t len, uint8_t tag[16],
			 uint8_t hs_key[32])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t in[32] = { 0 };
	int outl;

	assert_non_null(ctx);
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, k,
					    iv), 1);
	if (len)
		assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &outl, aad,
						   (int)len), 1);
	assert_int_equal(EVP_EncryptFinal_ex(ctx, in, &outl), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16,
					     tag), 1);
	/* H = E_K(0^128), S = E_K(IV || 0^31 || 1) */
	memcpy(in + 16, iv, 12);
	in[31] = 1;
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, k,
					    NULL), 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	assert_int_equal(EVP_EncryptUpdate(ctx, hs_key, &outl, in, 32), 1);
	assert_int_equal(outl, 32);
	EVP_CIPHER_CTX_free(ctx);
}

static void test_mac_matches_openssl_gmac(void **state)
{
	static uint8_t msg[4096 + 7];
	uint8_t k[16], iv[12], want[16], got[16], key[32];
	static const size_t lens[] = { 4096, 4096 + 7, 1000, 257 };

	for (size_t m = 0; m < N_IMPLS; m++) {
		its_mac_select(impls[m]);
		for (size_t len = 0; len < 100 + 4; len++) {
			size_t l = len < 100 ? len : lens[len - 100];

			random_bytes(k, sizeof(k));
			random_bytes(iv, sizeof(iv));
			random_bytes(msg, l);
			openssl_gmac(k, iv, msg, l, want, key);
			its_mac_tag(key, msg, l, got);
			assert_memory_equal(got, want, 16);
		}
	}
	its_mac_select(ITS_MAC_IMPL_AUTO);
}

static void test_mac_matches_reference(void **state)
{
	uint8_t msg[300], key[32], want[16], got[16];

	for (size_t m = 0; m < N_IMPLS; m++) {
		its_mac_select(impls[m]);
		for (size_t len = 0; len <= sizeof(msg); len += 13) {
			random_bytes(key, sizeof(key));
			random_bytes(msg, len);
			ref_mac(key, msg, len, want);
			its_mac_tag(key, msg, len, got);
			assert_memory_equal(got, want, 16);
		}
	}
	its_mac_select(ITS_MAC_IMPL_AUTO);
}

static void test_streaming_equals_one_shot(void **state)
{
	uint8_t msg[200], key[32], want[16], got[16];
	struct its_mac_ctx ctx;

	random_bytes(key, sizeof(key));
	random_bytes(msg, sizeof(msg));
	its_mac_tag(key, msg, sizeof(msg), want);
	for (size_t step = 1; step <= 33; step++) {
		its_mac_init(&ctx, key);
		for (size_t off = 0; off < sizeof(msg); off += step) {
			size_t n = sizeof(msg) - off < step ?
				   sizeof(msg) - off : step;

			its_mac_update(&ctx, msg + off, n);
		}
		its_mac_final(&ctx, got);
		assert_memory_equal(got, want, 16);
	}
}

/* Flip every bit of message and tag in turn: each forgery is rejected. */
static void test_every_bit_flip_detected(void **state)
{
	uint8_t msg[48], key[32], tag[16];
	size_t detected = 0, tried = 0;

	for (size_t m = 0; m < N_IMPLS; m++) {
		its_mac_select(impls[m]);
		for (size_t len = 1; len <= sizeof(msg); len++) {
			random_bytes(key, sizeof(key));
			random_bytes(msg, len);
			its_mac_tag(key, msg, len, tag);
			assert_true(its_mac_verify(key, msg, len, tag));
			for (size_t bit = 0; bit < 8 * len; bit++) {
				msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				tried++;
				detected += !its_mac_verify(key, msg, len, tag);
				msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			}
			for (size_t bit = 0; bit < 128; bit++) {
				tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				tried++;
				detected += !its_mac_verify(key, msg, len, tag);
				tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			}
			assert_true(its_mac_verify(key, msg, len, tag));
		}
	}
	its_mac_select(ITS_MAC_IMPL_AUTO);
	assert_int_equal(detected, tried);
}

/* Zero padding must not let "m" and "m || 0" share a tag. */
static void test_length_is_authenticated(void **state)
{
	uint8_t msg[32] = { 0 }, key[32], tag[16];

	random_bytes(key, sizeof(key));
	random_bytes(msg, 15);
	its_mac_tag(key, msg, 15, tag);
	assert_true(its_mac_verify(key, msg, 15, tag));
	assert_false(its_mac_verify(key, msg, 16, tag));
	assert_false(its_mac_verify(key, msg, 14, tag));
	its_mac_tag(key, msg, 0, tag);
	assert_false(its_mac_verify(key, msg, 16, tag));
}

static void test_wrong_key_rejected(void **state)
{
	uint8_t msg[64], key[32], tag[16];

	random_bytes(key, sizeof(key));
	random_bytes(msg, sizeof(msg));
	its_mac_tag(key, msg, sizeof(msg), tag);
	for (size_t bit = 0; bit < ITS_MAC_KEY_BITS; bit++) {
		key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_false(its_mac_verify(key, msg, sizeof(msg), tag));
		key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

static void test_context_zeroised(void **state)
{
	static const uint8_t zero[sizeof(struct its_mac_ctx)];
	struct its_mac_ctx ctx;
	uint8_t key[32], tag[16];

	random_bytes(key, sizeof(key));
	its_mac_init(&ctx, key);
	its_mac_update(&ctx, "relay", 5);
	its_mac_final(&ctx, tag);
	assert_memory_equal(&ctx, zero, sizeof(ctx));
	its_mac_init(&ctx, key);
	its_mac_update(&ctx, "relay", 5);
	assert_true(its_mac_final_verify(&ctx, tag));
	assert_memory_equal(&ctx, zero, sizeof(ctx));
}

static void test_impl_selection(void **state)
{
	assert_int_equal(its_mac_select(ITS_MAC_IMPL_PORTABLE),
			 ITS_MAC_IMPL_PORTABLE);
	assert_string_equal(its_mac_impl_name(ITS_MAC_IMPL_PORTABLE),
			    "portable");
	assert_int_not_equal(its_mac_select(ITS_MAC_IMPL_AUTO),
			     ITS_MAC_IMPL_AUTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gf_mul_matches_bit_serial),
		cmocka_unit_test(test_gf_field_laws),
		cmocka_unit_test(test_mac_matches_openssl_gmac),
		cmocka_unit_test(test_mac_matches_reference),
		cmocka_unit_test(test_streaming_equals_one_shot),
		cmocka_unit_test(test_every_bit_flip_detected),
		cmocka_unit_test(test_length_is_authenticated),
		cmocka_unit_test(test_wrong_key_rejected),
		cmocka_unit_test(test_context_zeroised),
		cmocka_unit_test(test_impl_selection),
	};

	return cmocka_run_group_tests_name("its_mac", tests, NULL, NULL);
}
