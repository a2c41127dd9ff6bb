// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for kxmsg.c: round trips, framing (prefixes are incomplete,
 * concatenations split), and strict rejection of malformed input.  The
 * malformed messages are built byte by byte here, not with the encoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kx/kxmsg.h"

static const char uuid[] = "0f8e6a34-5b2c-4d1e-9a7b-3c2d1e0f9a8b";

static struct kxmsg reserve(void)
{
	struct kxmsg m = { .type = KXMSG_RESERVE };

	strcpy(m.uuid, uuid);
	strcpy(m.master, "app1");
	strcpy(m.slaves[0], "app2");
	strcpy(m.slaves[1], "app3");
	m.n_slaves = 2;
	strcpy(m.link, "AB");
	m.key_id = 0x123456789abcull << 16 | 48;
	m.key_len = 32;
	return m;
}

static void round_trip(const struct kxmsg *in)
{
	uint8_t buf[KXMSG_MAX_LEN];
	struct kxmsg out;
	char err[64];
	int n = kxmsg_encode(in, buf, sizeof(buf));

	assert_true(n > KXMSG_HDR_LEN);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_int_equal(out.type, in->type);
	assert_string_equal(out.node, in->node);
	assert_true(out.epoch == in->epoch);
	assert_string_equal(out.uuid, in->uuid);
	assert_string_equal(out.master, in->master);
	assert_int_equal(out.n_slaves, in->n_slaves);
	for (uint32_t i = 0; i < in->n_slaves; i++)
		assert_string_equal(out.slaves[i], in->slaves[i]);
	assert_string_equal(out.link, in->link);
	assert_true(out.key_id == in->key_id);
	assert_int_equal(out.key_len, in->key_len);
	assert_int_equal(out.code, in->code);
	assert_string_equal(out.text, in->text);
}

static void test_round_trips(void **state)
{
	struct kxmsg m = reserve();
	struct kxmsg h = { .type = KXMSG_HELLO, .epoch = UINT64_MAX - 5 };
	struct kxmsg a = { .type = KXMSG_ACK, .code = KXC_FETCH_FAILED };
	struct kxmsg e = { .type = KXMSG_ERROR, .code = KXC_NOT_PEER };

	round_trip(&m);
	m.n_slaves = KM_MAX_SLAVES;
	for (int i = 0; i < KM_MAX_SLAVES; i++)
		snprintf(m.slaves[i], sizeof(m.slaves[i]), "sae-%d", i);
	round_trip(&m);
	strcpy(h.node, "node-A");
	round_trip(&h);
	strcpy(a.uuid, uuid);
	round_trip(&a);
	strcpy(a.text, "block not in the pool");
	round_trip(&a);
	strcpy(e.text, "hello with the wrong node name");
	round_trip(&e);
	a.seq = 4;		/* room for 3 more keys of the pair */
	round_trip(&a);
	{
		struct kxmsg f = { .type = KXMSG_FETCHED, .n_slaves = 1,
				   .seq = 1 };
		uint8_t buf[KXMSG_MAX_LEN];

		strcpy(f.master, "app1");
		strcpy(f.slaves[0], "app2");
		round_trip(&f);
		f.seq = 0;	/* the room must be said */
		assert_int_equal(kxmsg_encode(&f, buf, sizeof(buf)), -1);
	}
}

static void test_framing(void **state)
{
	struct kxmsg m = reserve(), out;
	uint8_t buf[2 * KXMSG_MAX_LEN];
	char err[64];
	int n = kxmsg_encode(&m, buf, sizeof(buf));

	assert_true(n > 0);
	/* Every strict prefix is "incomplete", never an error. */
	for (int i = 0; i < n; i++)
		assert_int_equal(kxmsg_decode(buf, (size_t)i, &out, err,
					      sizeof(err)), KXMSG_INCOMPLETE);
	/* Two messages back to back decode one at a time. */
	memcpy(buf + n, buf, (size_t)n);
	assert_int_equal(kxmsg_decode(buf, 2 * (size_t)n, &out, err,
				      sizeof(err)), n);
	assert_int_equal(kxmsg_decode(buf + n, (size_t)n, &out, err,
				      sizeof(err)), n);
}

/*
 * peer.c decodes every message of a connection into one struct kxmsg.  A
 * message must come out whole whatever came before it: nothing of an
 * earlier one may show in its fields (it would encode again differently).
 */
static void test_reused_buffer(void **state)
{
	struct kxmsg ack = { .type = KXMSG_ACK, .code = KXC_STORE_FULL },
		     m = reserve(), out;
	uint8_t buf[3][KXMSG_MAX_LEN], again[KXMSG_MAX_LEN];
	int n[3];
	char err[64];

	for (uint32_t i = 0; i < KM_MAX_SLAVES; i++)
		snprintf(m.slaves[i], sizeof(m.slaves[i]), "a-longer-name-%u",
			 i);
	m.n_slaves = KM_MAX_SLAVES;
	strcpy(ack.uuid, uuid);
	strcpy(ack.text, "store full");
	strcpy(ack.via_to, "K");
	n[0] = kxmsg_encode(&m, buf[0], sizeof(buf[0]));
	n[1] = kxmsg_encode(&ack, buf[1], sizeof(buf[1]));
	m = reserve();			/* two short slave names */
	n[2] = kxmsg_encode(&m, buf[2], sizeof(buf[2]));
	memset(&out, 0xa5, sizeof(out));
	for (int i = 0; i < 3; i++) {
		assert_true(n[i] > 0);
		assert_int_equal(kxmsg_decode(buf[i], (size_t)n[i], &out, err,
					      sizeof(err)), n[i]);
	}
	assert_int_equal(out.n_slaves, 2);
	assert_string_equal(out.slaves[1], "app3");
	assert_int_equal(out.code, 0);
	assert_string_equal(out.text, "");
	assert_string_equal(out.via_to, "");
	assert_int_equal(kxmsg_encode(&out, again, sizeof(again)), n[2]);
	assert_memory_equal(again, buf[2], (size_t)n[2]);
}

/* A raw message: header + the given body. */
static size_t raw(uint8_t *buf, uint8_t type, const uint8_t *body,
		  size_t blen)
{
	memcpy(buf, "QKX\x01", 4);
	buf[4] = type;
	buf[5] = buf[6] = buf[7] = 0;
	buf[8] = (uint8_t)(blen >> 24);
	buf[9] = (uint8_t)(blen >> 16);
	buf[10] = (uint8_t)(blen >> 8);
	buf[11] = (uint8_t)blen;
	if (blen)
		memcpy(buf + 12, body, blen);
	return 12 + blen;
}

static size_t attr(uint8_t *p, uint16_t type, const void *v, uint16_t len)
{
	p[0] = (uint8_t)(type >> 8);
	p[1] = (uint8_t)type;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	memcpy(p + 4, v, len);
	return 4 + (size_t)len;
}

static int decode(const uint8_t *buf, size_t len)
{
	struct kxmsg m;
	char err[64];

	return kxmsg_decode(buf, len, &m, err, sizeof(err));
}

/* Key IDs: lower-case hex in the 8-4-4-4-12 shape, nothing more or less. */
static void test_uuid_shape(void **state)
{
	static const char good[] = "0123abcd-4567-89ef-a0b1-c2d3e4f5a6b7";
	char s[40], *p;

	assert_true(kxmsg_uuid_valid(good));
	/* Every position, each with a character of the wrong kind. */
	for (size_t i = 0; i < 36; i++) {
		bool dash = good[i] == '-';
		const char *wrong = dash ? "0a_ " : "-gG/:`A \xff";

		for (const char *w = wrong; *w; w++) {
			memcpy(s, good, sizeof(good));
			s[i] = *w;
			assert_false(kxmsg_uuid_valid(s));
		}
		/* Cut short here. */
		memcpy(s, good, sizeof(good));
		s[i] = '\0';
		assert_false(kxmsg_uuid_valid(s));
	}
	memcpy(s, good, sizeof(good));
	s[36] = 'a';
	s[37] = '\0';
	assert_false(kxmsg_uuid_valid(s));
	assert_false(kxmsg_uuid_valid(""));
	/* Nothing past the NUL is read (AddressSanitizer would see it). */
	p = strdup("0123abcd-4567");
	assert_non_null(p);
	assert_false(kxmsg_uuid_valid(p));
	free(p);
}

static void test_hello_by_hand(void **state)
{
	uint8_t body[64], buf[128];
	uint8_t epoch[8] = { 0, 0, 0, 0, 0, 0, 1, 2 };
	size_t b = 0;
	struct kxmsg m;
	char err[64];

	b += attr(body + b, KXA_NODE, "B", 1);
	b += attr(body + b, KXA_EPOCH, epoch, 8);
	assert_int_equal(kxmsg_decode(buf, raw(buf, KXMSG_HELLO, body, b), &m,
				      err, sizeof(err)), 12 + (int)b);
	assert_string_equal(m.node, "B");
	assert_true(m.epoch == 0x102);
}

static void test_rejects(void **state)
{
	uint8_t body[256], buf[512];
	uint8_t epoch[8] = { 0 }, four[4] = { 0, 0, 0, 32 };
	size_t b, n;

	/* Wrong magic, version, type, reserved bytes. */
	n = raw(buf, KXMSG_HELLO, NULL, 0);
	buf[0] = 'X';
	assert_int_equal(decode(buf, n), -1);
	assert_int_equal(decode(buf, 1), -1);	/* as soon as it shows */
	n = raw(buf, KXMSG_HELLO, NULL, 0);
	buf[3] = 2;
	assert_int_equal(decode(buf, n), -1);
	n = raw(buf, 9, NULL, 0);
	assert_int_equal(decode(buf, n), -1);
	n = raw(buf, KXMSG_HELLO, NULL, 0);
	buf[6] = 1;
	assert_int_equal(decode(buf, n), -1);
	/* Body length over the limit, even before the body arrives. */
	n = raw(buf, KXMSG_HELLO, NULL, 0);
	buf[10] = 0x10;
	buf[11] = 0x01;
	assert_int_equal(decode(buf, n), -1);
	/* Missing required attribute. */
	b = attr(body, KXA_NODE, "B", 1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HELLO, body, b)), -1);
	/* Repeated attribute. */
	b = attr(body, KXA_NODE, "B", 1);
	b += attr(body + b, KXA_NODE, "C", 1);
	b += attr(body + b, KXA_EPOCH, epoch, 8);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HELLO, body, b)), -1);
	/* Attributes out of order. */
	b = attr(body, KXA_EPOCH, epoch, 8);
	b += attr(body + b, KXA_NODE, "B", 1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HELLO, body, b)), -1);
	/* Attribute the type does not carry; unknown attribute. */
	b = attr(body, KXA_NODE, "B", 1);
	b += attr(body + b, KXA_EPOCH, epoch, 8);
	b += attr(body + b, KXA_KEY_LEN, four, 4);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HELLO, body, b)), -1);
	b = attr(body, KXA_NODE, "B", 1);
	b += attr(body + b, KXA_EPOCH, epoch, 8);
	b += attr(body + b, 99, four, 4);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HELLO, body, b)), -1);
	/* Integer of the wrong size. */
	b = attr(body, KXA_NODE, "B", 1);
	b += attr(body + b, KXA_EPOCH, epoch, 4);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HELLO, body, b)), -1);
	/* Empty, non-printable, embedded NUL strings. */
	b = attr(body, KXA_NODE, "", 0);
	b += attr(body + b, KXA_EPOCH, epoch, 8);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HELLO, body, b)), -1);
	b = attr(body, KXA_NODE, "B\n", 2);
	b += attr(body + b, KXA_EPOCH, epoch, 8);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HELLO, body, b)), -1);
	b = attr(body, KXA_NODE, "B\0C", 3);
	b += attr(body + b, KXA_EPOCH, epoch, 8);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HELLO, body, b)), -1);
	/* Attribute running past the body; truncated attribute header. */
	b = attr(body, KXA_NODE, "B", 1);
	b += attr(body + b, KXA_EPOCH, epoch, 8);
	n = raw(buf, KXMSG_HELLO, body, b - 1);
	assert_int_equal(decode(buf, n), -1);
	b = attr(body, KXA_NODE, "B", 1);
	b += attr(body + b, KXA_EPOCH, epoch, 8);
	body[b++] = 0;
	assert_int_equal(decode(buf, raw(buf, KXMSG_HELLO, body, b)), -1);
}

static void test_reserve_rules(void **state)
{
	struct kxmsg m = reserve();
	uint8_t buf[KXMSG_MAX_LEN], body[256];
	uint8_t id[8] = { 0 }, zero[4] = { 0 }, len[4] = { 0, 0, 0, 32 };
	size_t b;

	/* The encoder refuses what the decoder would refuse. */
	strcpy(m.uuid, "0F8E6A34-5B2C-4D1E-9A7B-3C2D1E0F9A8B");
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m = reserve();
	m.n_slaves = 0;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m = reserve();
	m.key_len = 0;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m = reserve();
	m.master[0] = '\0';
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m = reserve();
	assert_int_equal(kxmsg_encode(&m, buf, 20), -1);	/* too small */

	/* By hand: a bad UUID, a zero length, too many slaves. */
	b = attr(body, KXA_UUID, "not-a-uuid-not-a-uuid-not-a-uuid-xx", 36);
	b += attr(body + b, KXA_MASTER, "m", 1);
	b += attr(body + b, KXA_SLAVE, "s", 1);
	b += attr(body + b, KXA_LINK, "l", 1);
	b += attr(body + b, KXA_KEY_ID, id, 8);
	b += attr(body + b, KXA_KEY_LEN, len, 4);
	assert_int_equal(decode(buf, raw(buf, KXMSG_RESERVE, body, b)), -1);
	b = attr(body, KXA_UUID, uuid, 36);
	b += attr(body + b, KXA_MASTER, "m", 1);
	b += attr(body + b, KXA_SLAVE, "s", 1);
	b += attr(body + b, KXA_LINK, "l", 1);
	b += attr(body + b, KXA_KEY_ID, id, 8);
	size_t ok = b;

	b += attr(body + b, KXA_KEY_LEN, zero, 4);
	assert_int_equal(decode(buf, raw(buf, KXMSG_RESERVE, body, b)), -1);
	b = ok + attr(body + ok, KXA_KEY_LEN, len, 4);
	assert_true(decode(buf, raw(buf, KXMSG_RESERVE, body, b)) > 0);
	for (int i = 0; i < KM_MAX_SLAVES; i++)
		b += attr(body + b, KXA_SLAVE, "t", 1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_RESERVE, body, b)), -1);
}

/* MACsec rotation messages: round trips and their own rules. */
static void macsec_round_trip(const struct kxmsg *in)
{
	uint8_t buf[KXMSG_MAX_LEN];
	struct kxmsg out;
	char err[64];
	int n = kxmsg_encode(in, buf, sizeof(buf));

	assert_true(n > KXMSG_HDR_LEN);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_int_equal(out.type, in->type);
	assert_string_equal(out.port, in->port);
	assert_true(out.sci == in->sci && out.peer_sci == in->peer_sci);
	assert_true(out.seq == in->seq && out.key_id == in->key_id);
	assert_int_equal(out.key_len, in->key_len);
	assert_int_equal(out.an, in->an);
	assert_int_equal(out.code, in->code);
	assert_string_equal(out.text, in->text);
}

/* WG_PSK and WG_ACK: key ID and port only; the encoder wants a length. */
static void test_wireguard_messages(void **state)
{
	struct kxmsg k = { .type = KXMSG_WG_PSK, .key_id = 0x42eda3af40000,
			   .key_len = 32, .seq = 9 };
	struct kxmsg a = { .type = KXMSG_WG_ACK, .seq = 9 };
	uint8_t buf[KXMSG_MAX_LEN], body[64];
	uint8_t seq[8] = { 0, 0, 0, 0, 0, 0, 0, 9 };
	size_t b;

	strcpy(k.port, "w0");
	strcpy(a.port, "w0");
	macsec_round_trip(&k);
	macsec_round_trip(&a);
	a.code = KXC_WG_FAILED;
	strcpy(a.text, "wireguard: set peer: No such device");
	macsec_round_trip(&a);
	assert_string_equal(kxmsg_type_name(KXMSG_WG_PSK), "wg-psk");
	assert_string_equal(kxmsg_code_name(KXC_WG_FAILED),
			    "wireguard set failed");
	k.key_len = 0;
	assert_int_equal(kxmsg_encode(&k, buf, sizeof(buf)), -1);
	/* By hand: a PSK message without its key ID is refused. */
	b = attr(body, KXA_SEQ, seq, 8);
	b += attr(body + b, KXA_PORT, "w0", 2);
	assert_int_equal(decode(buf, raw(buf, KXMSG_WG_PSK, body, b)), -1);
}

/* SWAN_PPK and SWAN_ACK: the same layout as the WireGuard pair. */
static void test_strongswan_messages(void **state)
{
	struct kxmsg k = { .type = KXMSG_SWAN_PPK, .key_id = 0x70000,
			   .key_len = 32, .seq = 11 };
	struct kxmsg a = { .type = KXMSG_SWAN_ACK, .seq = 11 };
	uint8_t buf[KXMSG_MAX_LEN], body[64];
	uint8_t seq[8] = { 0, 0, 0, 0, 0, 0, 0, 11 };
	size_t b;

	strcpy(k.port, "s0");
	strcpy(a.port, "s0");
	macsec_round_trip(&k);
	macsec_round_trip(&a);
	a.code = KXC_SWAN_FAILED;
	strcpy(a.text, "charon's VICI socket /run/charon.vici: No such file or directory");
	macsec_round_trip(&a);
	assert_string_equal(kxmsg_type_name(KXMSG_SWAN_PPK), "swan-ppk");
	assert_string_equal(kxmsg_type_name(KXMSG_SWAN_ACK), "swan-ack");
	assert_string_equal(kxmsg_code_name(KXC_SWAN_FAILED),
			    "strongswan load failed");
	k.key_len = 0;
	assert_int_equal(kxmsg_encode(&k, buf, sizeof(buf)), -1);
	/* An ACK without its code is refused. */
	b = attr(body, KXA_SEQ, seq, 8);
	b += attr(body + b, KXA_PORT, "s0", 2);
	assert_int_equal(decode(buf, raw(buf, KXMSG_SWAN_ACK, body, b)), -1);
}

static void test_macsec_messages(void **state)
{
	struct kxmsg h = { .type = KXMSG_MACSEC_HELLO,
			   .sci = 0x5254001234560001ull };
	struct kxmsg k = { .type = KXMSG_MACSEC_SAK, .key_id = 0x2a0020,
			   .key_len = 32, .seq = 7, .an = 3 };
	struct kxmsg a = { .type = KXMSG_MACSEC_ACK, .seq = 7 };
	struct kxmsg w = { .type = KXMSG_MACSEC_SWITCH, .seq = 7, .an = 3 };
	struct kxmsg r = { .type = KXMSG_MACSEC_REKEY };
	uint8_t buf[KXMSG_MAX_LEN], body[128];
	uint8_t sci[8] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0, 1 };
	uint8_t zero8[8] = { 0 }, an4 = 4;
	size_t b;

	strcpy(h.port, "m0");
	strcpy(k.port, "m0");
	strcpy(a.port, "m0");
	strcpy(w.port, "m0");
	strcpy(r.port, "m0");
	macsec_round_trip(&h);
	h.peer_sci = 0x5254001234570001ull;
	macsec_round_trip(&h);
	macsec_round_trip(&k);
	macsec_round_trip(&a);
	a.code = KXC_FETCH_FAILED;
	strcpy(a.text, "block not in the pool");
	macsec_round_trip(&a);
	macsec_round_trip(&w);
	macsec_round_trip(&r);

	/* The encoder refuses an AN above 3, a zero SCI, no port. */
	k.an = 4;
	assert_int_equal(kxmsg_encode(&k, buf, sizeof(buf)), -1);
	h.sci = 0;
	assert_int_equal(kxmsg_encode(&h, buf, sizeof(buf)), -1);
	r.port[0] = '\0';
	assert_int_equal(kxmsg_encode(&r, buf, sizeof(buf)), -1);

	/* By hand: a good HELLO, then a zero SCI, an AN of 4, a missing AN. */
	b = attr(body, KXA_PORT, "m0", 2);
	b += attr(body + b, KXA_SCI, sci, 8);
	assert_true(decode(buf, raw(buf, KXMSG_MACSEC_HELLO, body, b)) > 0);
	b = attr(body, KXA_PORT, "m0", 2);
	b += attr(body + b, KXA_SCI, zero8, 8);
	assert_int_equal(decode(buf, raw(buf, KXMSG_MACSEC_HELLO, body, b)), -1);
	b = attr(body, KXA_SEQ, zero8, 8);
	b += attr(body + b, KXA_PORT, "m0", 2);
	size_t no_an = b;

	b += attr(body + b, KXA_AN, &an4, 1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_MACSEC_SWITCH, body, b)), -1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_MACSEC_SWITCH, body, no_an)),
			 -1);
	/* No key bytes can ride along: SAK takes no SEALED / PAD. */
	b = attr(body, KXA_PORT, "m0", 2);
	b += attr(body + b, KXA_SCI, sci, 8);
	b += attr(body + b, KXA_AN, zero8, 1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_MACSEC_HELLO, body, b)), -1);
}

/* Configurations 3 and 4: ROLE on LSA, VIA_TO / VIA_FROM on node traffic. */
static void test_role_and_via(void **state)
{
	struct kxmsg lsa = { .type = KXMSG_LSA, .seq = 7,
			     .role = NODE_ROLE_ACCESS }, out, m = reserve();
	uint8_t buf[KXMSG_MAX_LEN], body[256], one[2] = { NODE_ROLE_USER, 0 };
	uint8_t seq[8] = { 0 }, id[8] = { 0 }, len[4] = { 0, 0, 0, 32 };
	char err[64];
	size_t b, ok;
	int n;

	strcpy(lsa.node, "X1");
	n = kxmsg_encode(&lsa, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_int_equal(out.role, NODE_ROLE_ACCESS);
	lsa.role = NODE_ROLE_RELAY + 1;		/* no such role */
	assert_int_equal(kxmsg_encode(&lsa, buf, sizeof(buf)), -1);
	lsa.role = NODE_ROLE_NONE;
	strcpy(lsa.via_to, "K");		/* LSAs are not forwarded */
	assert_int_equal(kxmsg_encode(&lsa, buf, sizeof(buf)), -1);

	strcpy(m.via_to, "B");
	n = kxmsg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_string_equal(out.via_to, "B");
	assert_string_equal(out.via_from, "");
	m.via_to[0] = '\0';
	strcpy(m.via_from, "A");
	n = kxmsg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_string_equal(out.via_from, "A");
	m.role = NODE_ROLE_USER;			/* only LSAs carry a role */
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);

	/* By hand: role 0, role on a RESERVE, VIA before ROLE, VIA on HELLO. */
	b = attr(body, KXA_NODE, "X1", 2);
	b += attr(body + b, KXA_SEQ, seq, 8);
	ok = b;
	b += attr(body + b, KXA_ROLE, one, 1);
	assert_true(decode(buf, raw(buf, KXMSG_LSA, body, b)) > 0);
	b = ok + attr(body + ok, KXA_ROLE, "\0", 1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_LSA, body, b)), -1);
	b = ok + attr(body + ok, KXA_ROLE, one, 2);
	assert_int_equal(decode(buf, raw(buf, KXMSG_LSA, body, b)), -1);
	b = ok + attr(body + ok, KXA_VIA_TO, "K", 1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_LSA, body, b)), -1);
	b = attr(body, KXA_UUID, uuid, 36);
	b += attr(body + b, KXA_MASTER, "m", 1);
	b += attr(body + b, KXA_SLAVE, "s", 1);
	b += attr(body + b, KXA_LINK, "l", 1);
	b += attr(body + b, KXA_KEY_ID, id, 8);
	b += attr(body + b, KXA_KEY_LEN, len, 4);
	ok = b;
	b += attr(body + b, KXA_ROLE, one, 1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_RESERVE, body, b)), -1);
	b = ok + attr(body + ok, KXA_VIA_FROM, "A", 1);
	b += attr(body + b, KXA_VIA_TO, "B", 1);	/* out of order */
	assert_int_equal(decode(buf, raw(buf, KXMSG_RESERVE, body, b)), -1);
	b = ok + attr(body + ok, KXA_VIA_TO, "B", 1);
	b += attr(body + b, KXA_VIA_FROM, "A", 1);
	assert_true(decode(buf, raw(buf, KXMSG_RESERVE, body, b)) > 0);
	b = attr(body, KXA_NODE, "B", 1);
	b += attr(body + b, KXA_EPOCH, seq, 8);
	b += attr(body + b, KXA_VIA_TO, "C", 1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HELLO, body, b)), -1);
}

/* IPsec SA pair messages (ipsec.c): round trips and their own rules. */
static struct kxmsg ipsec_offer(void)
{
	struct kxmsg m = { .type = KXMSG_IPSEC_OFFER };
	static const uint8_t a4[4] = { 192, 0, 2, 1 }, b4[4] = { 192, 0, 2, 2 };

	m.gw_len = 4;
	memcpy(m.gw_local, a4, 4);
	memcpy(m.gw_remote, b4, 4);
	m.reqid = 100;
	m.sa_mode = 1;
	m.key_id = 0x35a0000;
	m.key_id_rev = 0x35a0024;
	m.key_len = 36;
	m.seq = 7;
	m.spi = 0xc0ffee;
	m.life = (struct kxmsg_sa_life){ 1, 3, 1 << 20, 1 << 21 };
	return m;
}

static void ipsec_round_trip(const struct kxmsg *in)
{
	uint8_t buf[KXMSG_MAX_LEN];
	struct kxmsg out;
	char err[64];
	int n = kxmsg_encode(in, buf, sizeof(buf));

	assert_true(n > KXMSG_HDR_LEN);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)), n);
	assert_int_equal(out.type, in->type);
	assert_int_equal(out.gw_len, in->gw_len);
	assert_memory_equal(out.gw_local, in->gw_local, in->gw_len);
	assert_memory_equal(out.gw_remote, in->gw_remote, in->gw_len);
	assert_int_equal(out.reqid, in->reqid);
	assert_int_equal(out.sa_mode, in->sa_mode);
	if (in->type == KXMSG_IPSEC_REQUEST)
		return;		/* no more than the pair's name */
	assert_int_equal(out.spi, in->spi);
	assert_true(out.seq == in->seq);
	assert_int_equal(out.code, in->code);
	if (in->type == KXMSG_IPSEC_OFFER) {
		assert_true(out.key_id == in->key_id);
		assert_true(out.key_id_rev == in->key_id_rev);
		assert_int_equal(out.key_len, in->key_len);
		assert_memory_equal(&out.life, &in->life, sizeof(out.life));
	}
}

static void test_ipsec_messages(void **state)
{
	struct kxmsg m = ipsec_offer(), r, a;
	uint8_t buf[KXMSG_MAX_LEN], body[256];
	uint8_t addr4[4] = { 10, 0, 0, 1 }, addr6[16] = { 0x20, 1 };
	uint8_t reqid[4] = { 0, 0, 0, 100 }, mode[1] = { 2 };
	size_t b;

	ipsec_round_trip(&m);
	m.gw_len = 16;
	m.gw_local[15] = 1;
	ipsec_round_trip(&m);

	r = ipsec_offer();
	r.type = KXMSG_IPSEC_REQUEST;
	ipsec_round_trip(&r);

	a = ipsec_offer();
	a.type = KXMSG_IPSEC_ACCEPT;
	a.sa_mode = 0;		/* not carried: the offer had it */
	ipsec_round_trip(&a);
	a.code = KXC_FETCH_FAILED;
	a.spi = 0;
	strcpy(a.text, "SA_ADD: key already taken");
	ipsec_round_trip(&a);

	/* The encoder refuses what the decoder would refuse. */
	m = ipsec_offer();
	m.spi = 255;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m = ipsec_offer();
	m.life.hard_s = m.life.soft_s;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m = ipsec_offer();
	m.life.soft_bytes = m.life.hard_bytes;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m = ipsec_offer();
	m.gw_len = 5;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m = ipsec_offer();
	m.sa_mode = 2;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	a = ipsec_offer();
	a.type = KXMSG_IPSEC_ACCEPT;
	a.spi = 0;		/* code 0 needs the SPI */
	assert_int_equal(kxmsg_encode(&a, buf, sizeof(buf)), -1);

	/* By hand: addresses of two lengths, a bad mode. */
	b = attr(body, KXA_GW_LOCAL, addr4, 4);
	b += attr(body + b, KXA_GW_REMOTE, addr6, 16);
	b += attr(body + b, KXA_REQID, reqid, 4);
	mode[0] = 0;
	b += attr(body + b, KXA_SA_MODE, mode, 1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_IPSEC_REQUEST, body, b)), -1);
	b = attr(body, KXA_GW_LOCAL, addr4, 4);
	b += attr(body + b, KXA_GW_REMOTE, addr4, 4);
	b += attr(body + b, KXA_REQID, reqid, 4);
	size_t ok = b;

	b += attr(body + b, KXA_SA_MODE, mode, 1);
	assert_true(decode(buf, raw(buf, KXMSG_IPSEC_REQUEST, body, b)) > 0);
	mode[0] = 2;
	b = ok + attr(body + ok, KXA_SA_MODE, mode, 1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_IPSEC_REQUEST, body, b)), -1);
}

/* HEARTBEAT: SEQ, and CODE only as probe or echo. */
static void test_heartbeat(void **state)
{
	uint8_t buf[KXMSG_MAX_LEN], body[64];
	uint8_t seq[8] = { 0, 0, 0, 0, 0, 0, 0, 7 }, code[4] = { 0, 0, 0, 3 };
	struct kxmsg m, out;
	char err[64];
	size_t b;
	int n;

	for (uint32_t c = 0; c <= KX_BEAT_ECHO; c++) {
		kxmsg_clear(&m, KXMSG_HEARTBEAT);
		m.seq = 42 + c;
		m.code = c;
		n = kxmsg_encode(&m, buf, sizeof(buf));
		assert_true(n > KXMSG_HDR_LEN);
		assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err,
					      sizeof(err)), n);
		assert_int_equal(out.type, KXMSG_HEARTBEAT);
		assert_int_equal(out.seq, 42 + c);
		assert_int_equal(out.code, c);
	}
	assert_string_equal(kxmsg_type_name(KXMSG_HEARTBEAT), "heartbeat");
	m.code = 3;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	/* By hand: a code that is neither, no SEQ, a foreign attribute. */
	b = attr(body, KXA_CODE, code, 4);
	b += attr(body + b, KXA_SEQ, seq, 8);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HEARTBEAT, body, b)), -1);
	code[3] = 0;
	b = attr(body, KXA_CODE, code, 4);
	b += attr(body + b, KXA_SEQ, seq, 8);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HEARTBEAT, body, b)), -1);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HEARTBEAT, body, 0)), -1);
	b = attr(body, KXA_NODE, "A", 1);
	b += attr(body + b, KXA_SEQ, seq, 8);
	assert_int_equal(decode(buf, raw(buf, KXMSG_HEARTBEAT, body, b)), -1);
	b = attr(body, KXA_SEQ, seq, 8);
	assert_true(decode(buf, raw(buf, KXMSG_HEARTBEAT, body, b)) > 0);
}

/* LINK_PARAMS, CONFIRM, CONFIRM_ACK (kma/confirm.h). */
static void test_confirm_messages(void **state)
{
	uint8_t buf[KXMSG_MAX_LEN], body[256];
	uint8_t role[1] = { 2 }, bs[4] = { 0, 0, 4, 0 }, rate[8] = { 0 };
	uint8_t tag[15] = { 0 };
	struct kxmsg m, out;
	char err[64];
	size_t b;
	int n;

	kxmsg_clear(&m, KXMSG_LINK_PARAMS);
	strcpy(m.link, "AB");
	strcpy(m.source, "sim");
	m.link_role = QKD_ROLE_RX;
	m.rate = 10000000;
	m.block_size = 1024;
	m.code = KX_PARAMS_ASK;
	m.has_fingerprint = 1;
	memset(m.fingerprint, 0xa5, sizeof(m.fingerprint));
	n = kxmsg_encode(&m, buf, sizeof(buf));
	assert_true(n > KXMSG_HDR_LEN);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_string_equal(out.source, "sim");
	assert_int_equal(out.link_role, QKD_ROLE_RX);
	assert_true(out.rate == 10000000);
	assert_int_equal(out.block_size, 1024);
	assert_int_equal(out.code, KX_PARAMS_ASK);
	assert_int_equal(out.has_fingerprint, 1);
	assert_memory_equal(out.fingerprint, m.fingerprint, 32);
	m.has_fingerprint = 0;
	m.code = 0;
	n = kxmsg_encode(&m, buf, sizeof(buf));
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_int_equal(out.has_fingerprint, 0);
	m.code = 2;		/* only "ask" */
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m.code = 0;
	m.block_size = 0;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);

	kxmsg_clear(&m, KXMSG_CONFIRM);
	strcpy(m.link, "AB");
	m.key_id = 77ull << 16;
	m.key_len = 1024;
	memset(m.nonce, 1, sizeof(m.nonce));
	memset(m.tag, 2, sizeof(m.tag));
	n = kxmsg_encode(&m, buf, sizeof(buf));
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_true(out.key_id == m.key_id);
	assert_memory_equal(out.nonce, m.nonce, 16);
	assert_memory_equal(out.tag, m.tag, 16);
	/* Through a central KM: VIA_TO and VIA_FROM keep the order. */
	strcpy(m.via_to, "C");
	strcpy(m.via_from, "B");
	n = kxmsg_encode(&m, buf, sizeof(buf));
	assert_true(n > KXMSG_HDR_LEN);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_string_equal(out.via_to, "C");
	assert_string_equal(out.via_from, "B");
	assert_memory_equal(out.tag, m.tag, 16);

	kxmsg_clear(&m, KXMSG_CONFIRM_ACK);
	strcpy(m.link, "AB");
	m.key_id = 77ull << 16;
	m.code = KXC_MISMATCH;
	strcpy(m.text, "tags differ");
	round_trip(&m);
	strcpy(m.via_to, "C");
	n = kxmsg_encode(&m, buf, sizeof(buf));
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_string_equal(out.via_to, "C");
	assert_string_equal(kxmsg_code_name(KXC_MISMATCH),
			    "key confirmation mismatch");
	assert_string_equal(kxmsg_type_name(KXMSG_CONFIRM), "confirm");

	/* By hand: a role that is neither, a short tag, no BLOCK_SIZE. */
	b = attr(body, KXA_LINK, "AB", 2);
	b += attr(body + b, KXA_SOURCE, "sim", 3);
	b += attr(body + b, KXA_LINK_ROLE, role, 1);
	b += attr(body + b, KXA_RATE, rate, 8);
	b += attr(body + b, KXA_BLOCK_SIZE, bs, 4);
	assert_int_equal(decode(buf, raw(buf, KXMSG_LINK_PARAMS, body, b)), -1);
	role[0] = 1;
	b = attr(body, KXA_LINK, "AB", 2);
	b += attr(body + b, KXA_SOURCE, "sim", 3);
	b += attr(body + b, KXA_LINK_ROLE, role, 1);
	b += attr(body + b, KXA_RATE, rate, 8);
	assert_int_equal(decode(buf, raw(buf, KXMSG_LINK_PARAMS, body, b)), -1);
	b += attr(body + b, KXA_BLOCK_SIZE, bs, 4);
	assert_true(decode(buf, raw(buf, KXMSG_LINK_PARAMS, body, b)) > 0);
	b = attr(body, KXA_LINK, "AB", 2);
	b += attr(body + b, KXA_KEY_ID, rate, 8);
	b += attr(body + b, KXA_KEY_LEN, bs, 4);
	b += attr(body + b, KXA_NONCE, m.nonce, 16);
	b += attr(body + b, KXA_TAG, tag, sizeof(tag));
	assert_int_equal(decode(buf, raw(buf, KXMSG_CONFIRM, body, b)), -1);
}

/* etsi014 source: SRC_KEYS (keys, or a state notice) and SRC_ACK. */
static void test_src_keys(void **state)
{
	static struct kxmsg m, out;
	uint8_t buf[KXMSG_MAX_LEN];
	char err[64];
	int n;

	kxmsg_clear(&m, KXMSG_SRC_KEYS);
	strcpy(m.link, "AB");
	m.n_src_keys = KXMSG_MAX_SRC_KEYS;
	for (uint32_t i = 0; i < m.n_src_keys; i++) {
		m.src_keys[i].block = (1ull << 40) + i;
		m.src_keys[i].len = 512;
		/* The longest key_ID: the worst case must fit one message. */
		memset(m.src_keys[i].key_id, 'a' + i % 26,
		       KXMSG_SRC_KEY_ID_MAX - 1);
	}
	n = kxmsg_encode(&m, buf, sizeof(buf));
	assert_true(n > KXMSG_HDR_LEN);
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_int_equal(out.n_src_keys, KXMSG_MAX_SRC_KEYS);
	for (uint32_t i = 0; i < out.n_src_keys; i++) {
		assert_true(out.src_keys[i].block == (1ull << 40) + i);
		assert_int_equal(out.src_keys[i].len, 512);
		assert_string_equal(out.src_keys[i].key_id,
				    m.src_keys[i].key_id);
	}
	/* Keys and an error code never go together; no empty key_ID, no
	 * zero length, no more than KXMSG_MAX_SRC_KEYS. */
	m.code = KXC_MODULE_DOWN;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m.code = 0;
	m.n_src_keys = KXMSG_MAX_SRC_KEYS + 1;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m.n_src_keys = 1;
	m.src_keys[0].len = 0;
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);
	m.src_keys[0].len = 32;
	m.src_keys[0].key_id[0] = '\0';
	assert_int_equal(kxmsg_encode(&m, buf, sizeof(buf)), -1);

	/* The state notice. */
	kxmsg_clear(&m, KXMSG_SRC_KEYS);
	strcpy(m.link, "AB");
	m.code = KXC_MODULE_DOWN;
	strcpy(m.text, "module at https://127.0.0.1:9 not answering");
	n = kxmsg_encode(&m, buf, sizeof(buf));
	assert_int_equal(kxmsg_decode(buf, (size_t)n, &out, err, sizeof(err)),
			 n);
	assert_int_equal(out.code, KXC_MODULE_DOWN);
	assert_int_equal(out.n_src_keys, 0);
	assert_string_equal(out.text, m.text);

	kxmsg_clear(&m, KXMSG_SRC_ACK);
	strcpy(m.link, "AB");
	m.key_id = 1ull << 40;
	m.seq = 48;
	m.code = KXC_MODULE_MISMATCH;
	strcpy(m.text, "dec_keys answer: malformed JSON");
	round_trip(&m);
	assert_string_equal(kxmsg_type_name(KXMSG_SRC_ACK), "src-ack");
	assert_string_equal(kxmsg_code_name(KXC_MODULE_DOWN),
			    "QKD module not answering");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_reused_buffer),
		cmocka_unit_test(test_uuid_shape),
		cmocka_unit_test(test_hello_by_hand),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_reserve_rules),
		cmocka_unit_test(test_macsec_messages),
		cmocka_unit_test(test_wireguard_messages),
		cmocka_unit_test(test_strongswan_messages),
		cmocka_unit_test(test_role_and_via),
		cmocka_unit_test(test_ipsec_messages),
		cmocka_unit_test(test_heartbeat),
		cmocka_unit_test(test_confirm_messages),
		cmocka_unit_test(test_src_keys),
	};

	return cmocka_run_group_tests_name("kxmsg", tests, NULL, NULL);
}
