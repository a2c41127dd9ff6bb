// SPDX-License-Identifier: GPL-2.0
/*
 * ITS MAC: Wegman-Carter with GHASH over GF(2^128) and a one-time tag pad.
 *
 * Representation.  A 16-byte block b[0..15] is read as two big-endian
 * 64-bit words, hi = b[0..7], lo = b[8..15], i.e. a 128-bit integer V whose
 * bit j holds the coefficient of x^(127 - j) (SP 800-38D puts x^0 in the
 * most significant bit of b[0]).  In this "reflected" form multiplying by x
 * is a right shift, and the carry-less product of two 128-bit integers is
 * the reflected field product shifted right by one bit.
 *
 * Multiplication is a 128x128 -> 256 bit carry-less multiply (hardware or
 * portable, both constant time) followed by one reduction shared by both:
 * after the one-bit fix-up, the top half Hi is the product's x^0..x^127
 * part and the bottom half Lo its x^128..x^255 part, and
 *	x^128 = x^7 + x^2 + x + 1	(mod x^128 + x^7 + x^2 + x + 1)
 * folds Lo back in two steps (the second fold cannot overflow again).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "relay/its_mac.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define ITS_HAVE_CLMUL_BUILD 1
#endif

struct its_u256 {
	uint64_t w[4];			/* w[3] most significant */
};

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

struct its_gf128 its_gf128_load(const uint8_t block[16])
{
	struct its_gf128 x = { load_be64(block), load_be64(block + 8) };

	return x;
}

void its_gf128_store(uint8_t block[16], struct its_gf128 x)
{
	store_be64(block, x.hi);
	store_be64(block + 8, x.lo);
}

/* 64x64 carry-less multiply: every bit of b selects a shifted copy of a. */
static void clmul64_portable(uint64_t a, uint64_t b, uint64_t *hi,
			     uint64_t *lo)
{
	uint64_t h = 0, l = 0;

	for (int i = 0; i < 64; i++) {
		uint64_t mask = (uint64_t)0 - ((b >> i) & 1);

		l ^= (a << i) & mask;
		/* (a >> 1) >> (63 - i) is a >> (64 - i) without the UB at i=0 */
		h ^= ((a >> 1) >> (63 - i)) & mask;
	}
	*hi = h;
	*lo = l;
}

/* Karatsuba: three 64-bit products instead of four. */
static struct its_u256 clmul128_portable(struct its_gf128 a,
					 struct its_gf128 b)
{
	uint64_t lh, ll, hh, hl, mh, ml;
	struct its_u256 p;

	clmul64_portable(a.lo, b.lo, &lh, &ll);
	clmul64_portable(a.hi, b.hi, &hh, &hl);
	clmul64_portable(a.lo ^ a.hi, b.lo ^ b.hi, &mh, &ml);
	mh ^= lh ^ hh;
	ml ^= ll ^ hl;
	p.w[0] = ll;
	p.w[1] = lh ^ ml;
	p.w[2] = hl ^ mh;
	p.w[3] = hh;
	return p;
}

#ifdef ITS_HAVE_CLMUL_BUILD
__attribute__((target("pclmul,sse2")))
static struct its_u256 clmul128_hw(struct its_gf128 a, struct its_gf128 b)
{
	__m128i va = _mm_set_epi64x((long long)a.hi, (long long)a.lo);
	__m128i vb = _mm_set_epi64x((long long)b.hi, (long long)b.lo);
	__m128i lo = _mm_clmulepi64_si128(va, vb, 0x00);
	__m128i hi = _mm_clmulepi64_si128(va, vb, 0x11);
	__m128i mid = _mm_xor_si128(_mm_clmulepi64_si128(va, vb, 0x01),
				    _mm_clmulepi64_si128(va, vb, 0x10));
	uint64_t l[2], h[2], m[2];
	struct its_u256 p;

	_mm_storeu_si128((__m128i *)l, lo);
	_mm_storeu_si128((__m128i *)h, hi);
	_mm_storeu_si128((__m128i *)m, mid);
	p.w[0] = l[0];
	p.w[1] = l[1] ^ m[0];
	p.w[2] = h[0] ^ m[1];
	p.w[3] = h[1];
	return p;
}
#endif

/* Shift the 255-bit product left by one, then fold the x^128.. half. */
static struct its_gf128 gf128_reduce(struct its_u256 p)
{
	uint64_t q3 = (p.w[3] << 1) | (p.w[2] >> 63);
	uint64_t q2 = (p.w[2] << 1) | (p.w[1] >> 63);
	uint64_t q1 = (p.w[1] << 1) | (p.w[0] >> 63);
	uint64_t q0 = p.w[0] << 1;
	struct its_gf128 r;
	uint64_t w;

	/* Lo * (1 + x + x^2 + x^7): multiplying by x^k is a right shift. */
	r.hi = q3 ^ q1 ^ (q1 >> 1) ^ (q1 >> 2) ^ (q1 >> 7);
	r.lo = q2 ^ q0 ^ (q0 >> 1) ^ (q0 >> 2) ^ (q0 >> 7) ^
	       (q1 << 63) ^ (q1 << 62) ^ (q1 << 57);
	/* The bits shifted out (degree 128..134) come back as x^0..x^6. */
	w = (q0 << 63) ^ (q0 << 62) ^ (q0 << 57);
	r.hi ^= w ^ (w >> 1) ^ (w >> 2) ^ (w >> 7);
	return r;
}

static struct its_gf128 gf128_mul_portable(struct its_gf128 a,
					   struct its_gf128 b)
{
	return gf128_reduce(clmul128_portable(a, b));
}

#ifdef ITS_HAVE_CLMUL_BUILD
__attribute__((target("pclmul,sse2")))
static struct its_gf128 gf128_mul_hw(struct its_gf128 a, struct its_gf128 b)
{
	return gf128_reduce(clmul128_hw(a, b));
}
#endif

static enum its_mac_impl impl_in_use = ITS_MAC_IMPL_AUTO;

static bool cpu_has_clmul(void)
{
#ifdef ITS_HAVE_CLMUL_BUILD
	__builtin_cpu_init();
	return __builtin_cpu_supports("pclmul");
#else
	return false;
#endif
}

enum its_mac_impl its_mac_select(enum its_mac_impl want)
{
	if (want == ITS_MAC_IMPL_PORTABLE || !cpu_has_clmul())
		impl_in_use = ITS_MAC_IMPL_PORTABLE;
	else
		impl_in_use = ITS_MAC_IMPL_CLMUL;
	return impl_in_use;
}

static enum its_mac_impl current_impl(void)
{
	if (impl_in_use == ITS_MAC_IMPL_AUTO)
		its_mac_select(ITS_MAC_IMPL_AUTO);
	return impl_in_use;
}

const char *its_mac_impl_name(enum its_mac_impl impl)
{
	switch (impl) {
	case ITS_MAC_IMPL_PORTABLE:
		return "portable";
	case ITS_MAC_IMPL_CLMUL:
		return "pclmulqdq";
	default:
		return "auto";
	}
}

struct its_gf128 its_gf128_mul(struct its_gf128 a, struct its_gf128 b)
{
#ifdef ITS_HAVE_CLMUL_BUILD
	if (current_impl() == ITS_MAC_IMPL_CLMUL)
		return gf128_mul_hw(a, b);
#endif
	return gf128_mul_portable(a, b);
}

/* Horner's rule over whole blocks: acc = (acc + block) * H. */
static struct its_gf128 ghash_blocks_portable(struct its_gf128 acc,
					      struct its_gf128 h,
					      const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++, p += 16) {
		acc.hi ^= load_be64(p);
		acc.lo ^= load_be64(p + 8);
		acc = gf128_mul_portable(acc, h);
	}
	return acc;
}

#ifdef ITS_HAVE_CLMUL_BUILD
__attribute__((target("pclmul,sse2")))
static struct its_gf128 ghash_blocks_hw(struct its_gf128 acc,
					struct its_gf128 h,
					const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++, p += 16) {
		acc.hi ^= load_be64(p);
		acc.lo ^= load_be64(p + 8);
		acc = gf128_mul_hw(acc, h);
	}
	return acc;
}
#endif

static struct its_gf128 ghash_blocks(struct its_gf128 acc, struct its_gf128 h,
				     const uint8_t *p, size_t n)
{
#ifdef ITS_HAVE_CLMUL_BUILD
	if (current_impl() == ITS_MAC_IMPL_CLMUL)
		return ghash_blocks_hw(acc, h, p, n);
#endif
	return ghash_blocks_portable(acc, h, p, n);
}

void its_mac_init(struct its_mac_ctx *ctx, const uint8_t key[ITS_MAC_KEY_LEN])
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->h = its_gf128_load(key);
	memcpy(ctx->tag_pad, key + ITS_MAC_HASH_KEY_LEN, ITS_MAC_TAG_PAD_LEN);
}

void its_mac_update(struct its_mac_ctx *ctx, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t n;

	if (!len)
		return;
	ctx->total_len += len;
	if (ctx->partial_len) {
		n = 16 - ctx->partial_len;
		if (n > len)
			n = len;
		memcpy(ctx->partial + ctx->partial_len, p, n);
		ctx->partial_len += n;
		p += n;
		len -= n;
		if (ctx->partial_len < 16)
			return;
		ctx->acc = ghash_blocks(ctx->acc, ctx->h, ctx->partial, 1);
		ctx->partial_len = 0;
	}
	n = len / 16;
	if (n)
		ctx->acc = ghash_blocks(ctx->acc, ctx->h, p, n);
	p += 16 * n;
	len -= 16 * n;
	memcpy(ctx->partial, p, len);
	ctx->partial_len = len;
}

/* GHASH of everything so far, with padding and length block. */
static void mac_finish(struct its_mac_ctx *ctx, uint8_t tag[ITS_MAC_TAG_LEN])
{
	uint8_t lenblock[16] = { 0 };

	if (ctx->partial_len) {
		memset(ctx->partial + ctx->partial_len, 0,
		       16 - ctx->partial_len);
		ctx->acc = ghash_blocks(ctx->acc, ctx->h, ctx->partial, 1);
	}
	store_be64(lenblock, ctx->total_len * 8);
	ctx->acc = ghash_blocks(ctx->acc, ctx->h, lenblock, 1);
	its_gf128_store(tag, ctx->acc);
	for (int i = 0; i < ITS_MAC_TAG_LEN; i++)
		tag[i] ^= ctx->tag_pad[i];
}

void its_mac_abort(struct its_mac_ctx *ctx)
{
	OPENSSL_cleanse(ctx, sizeof(*ctx));
}

void its_mac_final(struct its_mac_ctx *ctx, uint8_t tag[ITS_MAC_TAG_LEN])
{
	mac_finish(ctx, tag);
	its_mac_abort(ctx);
}

bool its_mac_final_verify(struct its_mac_ctx *ctx,
			  const uint8_t tag[ITS_MAC_TAG_LEN])
{
	uint8_t expect[ITS_MAC_TAG_LEN];
	bool ok;

	mac_finish(ctx, expect);
	its_mac_abort(ctx);
	ok = CRYPTO_memcmp(expect, tag, ITS_MAC_TAG_LEN) == 0;
	OPENSSL_cleanse(expect, sizeof(expect));
	return ok;
}

void its_mac_tag(const uint8_t key[ITS_MAC_KEY_LEN], const void *msg,
		 size_t len, uint8_t tag[ITS_MAC_TAG_LEN])
{
	struct its_mac_ctx ctx;

	its_mac_init(&ctx, key);
	its_mac_update(&ctx, msg, len);
	its_mac_final(&ctx, tag);
}

bool its_mac_verify(const uint8_t key[ITS_MAC_KEY_LEN], const void *msg,
		    size_t len, const uint8_t tag[ITS_MAC_TAG_LEN])
{
	struct its_mac_ctx ctx;

	its_mac_init(&ctx, key);
	its_mac_update(&ctx, msg, len);
	return its_mac_final_verify(&ctx, tag);
}
