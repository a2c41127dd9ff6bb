// SPDX-License-Identifier: GPL-2.0
/*
 * Kx message codec (format in kxmsg.h).  Hand-written because the format is
 * tiny and must be strict; fuzzed by fuzz/fuzz_kxmsg.c.
 */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kx/kxmsg.h"

static const uint8_t kx_magic[3] = { 'Q', 'K', 'X' };

/* Which attributes each type carries: bit per attribute. */
#define A(x)	(1ull << (x))
struct type_rule {
	uint64_t required;
	uint64_t optional;
};

static const struct type_rule rules[] = {
	[KXMSG_HELLO] = { A(KXA_NODE) | A(KXA_EPOCH), 0 },
	[KXMSG_RESERVE] = { A(KXA_UUID) | A(KXA_MASTER) | A(KXA_SLAVE) |
			    A(KXA_LINK) | A(KXA_KEY_ID) | A(KXA_KEY_LEN), 0 },
	[KXMSG_ACK] = { A(KXA_UUID) | A(KXA_CODE), A(KXA_TEXT) | A(KXA_SEQ) },
	[KXMSG_ERROR] = { A(KXA_CODE) | A(KXA_TEXT), 0 },
	[KXMSG_RELAY_START] = { A(KXA_UUID) | A(KXA_MASTER) | A(KXA_SLAVE) |
				A(KXA_KEY_ID) | A(KXA_KEY_LEN) | A(KXA_DEST) |
				A(KXA_HOP), 0 },
	[KXMSG_RELAY_KEY] = { A(KXA_UUID) | A(KXA_MASTER) | A(KXA_SLAVE) |
			      A(KXA_KEY_LEN) | A(KXA_DEST) | A(KXA_HOP) |
			      A(KXA_PAD) | A(KXA_SEALED), 0 },
	[KXMSG_RELAY_ACK] = { A(KXA_NODE) | A(KXA_UUID) | A(KXA_CODE) |
			      A(KXA_HOP), A(KXA_TEXT) },
	[KXMSG_LSA] = { A(KXA_NODE) | A(KXA_SEQ),
			A(KXA_LSA_LINK) | A(KXA_ROLE) },
	[KXMSG_ROUTES] = { A(KXA_NODE) | A(KXA_DEST) | A(KXA_SEQ),
			   A(KXA_ROUTE) },
	[KXMSG_MACSEC_HELLO] = { A(KXA_PORT) | A(KXA_SCI), A(KXA_PEER_SCI) },
	[KXMSG_MACSEC_SAK] = { A(KXA_KEY_ID) | A(KXA_KEY_LEN) | A(KXA_SEQ) |
			       A(KXA_PORT) | A(KXA_AN), 0 },
	[KXMSG_MACSEC_ACK] = { A(KXA_CODE) | A(KXA_SEQ) | A(KXA_PORT),
			       A(KXA_TEXT) },
	[KXMSG_MACSEC_SWITCH] = { A(KXA_SEQ) | A(KXA_PORT) | A(KXA_AN), 0 },
	[KXMSG_MACSEC_REKEY] = { A(KXA_PORT), 0 },
	[KXMSG_IPSEC_REQUEST] = { A(KXA_GW_LOCAL) | A(KXA_GW_REMOTE) |
				  A(KXA_REQID) | A(KXA_SA_MODE), 0 },
	[KXMSG_IPSEC_OFFER] = { A(KXA_KEY_ID) | A(KXA_KEY_LEN) | A(KXA_SEQ) |
				A(KXA_GW_LOCAL) | A(KXA_GW_REMOTE) |
				A(KXA_REQID) | A(KXA_SA_MODE) | A(KXA_SPI) |
				A(KXA_KEY_ID_REV) | A(KXA_SA_LIFE), 0 },
	[KXMSG_IPSEC_ACCEPT] = { A(KXA_CODE) | A(KXA_SEQ) | A(KXA_GW_LOCAL) |
				 A(KXA_GW_REMOTE) | A(KXA_REQID),
				 A(KXA_TEXT) | A(KXA_SPI) },
	[KXMSG_FETCHED] = { A(KXA_MASTER) | A(KXA_SLAVE) | A(KXA_SEQ), 0 },
	[KXMSG_HEARTBEAT] = { A(KXA_SEQ), A(KXA_CODE) },
	[KXMSG_LINK_PARAMS] = { A(KXA_LINK) | A(KXA_SOURCE) |
				A(KXA_LINK_ROLE) | A(KXA_RATE) |
				A(KXA_BLOCK_SIZE),
				A(KXA_CODE) | A(KXA_FINGERPRINT) },
	[KXMSG_CONFIRM] = { A(KXA_LINK) | A(KXA_KEY_ID) | A(KXA_KEY_LEN) |
			    A(KXA_NONCE) | A(KXA_TAG), 0 },
	[KXMSG_CONFIRM_ACK] = { A(KXA_LINK) | A(KXA_KEY_ID) | A(KXA_CODE),
				A(KXA_TEXT) },
	[KXMSG_SRC_KEYS] = { A(KXA_LINK),
			     A(KXA_CODE) | A(KXA_TEXT) | A(KXA_SRC_KEY) },
	[KXMSG_SRC_ACK] = { A(KXA_LINK) | A(KXA_KEY_ID) | A(KXA_CODE) |
			    A(KXA_SEQ), A(KXA_TEXT) },
	[KXMSG_WG_PSK] = { A(KXA_KEY_ID) | A(KXA_KEY_LEN) | A(KXA_SEQ) |
			   A(KXA_PORT), 0 },
	[KXMSG_SWAN_PPK] = { A(KXA_KEY_ID) | A(KXA_KEY_LEN) | A(KXA_SEQ) |
			     A(KXA_PORT), 0 },
	[KXMSG_SWAN_ACK] = { A(KXA_CODE) | A(KXA_SEQ) | A(KXA_PORT),
			     A(KXA_TEXT) },
	[KXMSG_WG_ACK] = { A(KXA_CODE) | A(KXA_SEQ) | A(KXA_PORT),
			   A(KXA_TEXT) },
};

/* Configuration 4: the messages a central KM forwards between nodes. */
#define VIA	(A(KXA_VIA_TO) | A(KXA_VIA_FROM))
static const uint64_t via_types = 1ull << KXMSG_RESERVE | 1ull << KXMSG_ACK |
				  1ull << KXMSG_RELAY_START |
				  1ull << KXMSG_RELAY_KEY | 1ull << KXMSG_RELAY_ACK |
				  1ull << KXMSG_LINK_PARAMS |
				  1ull << KXMSG_CONFIRM |
				  1ull << KXMSG_CONFIRM_ACK;

static uint64_t allowed(enum kxmsg_type t)
{
	return rules[t].required | rules[t].optional |
	       (via_types & 1ull << t ? VIA : 0);
}

/* Attributes that may repeat (consecutively). */
#define REPEATS	(A(KXA_SLAVE) | A(KXA_HOP) | A(KXA_PAD) | A(KXA_LSA_LINK) | \
		 A(KXA_ROUTE) | A(KXA_SRC_KEY))
#define LSA_LINK_FIXED	18	/* up, level, avail, rate before the name */

const char *kxmsg_type_name(enum kxmsg_type t)
{
	switch (t) {
	case KXMSG_HELLO:	return "hello";
	case KXMSG_RESERVE:	return "reserve";
	case KXMSG_ACK:		return "ack";
	case KXMSG_ERROR:	return "error";
	case KXMSG_RELAY_START:	return "relay-start";
	case KXMSG_RELAY_KEY:	return "relay-key";
	case KXMSG_RELAY_ACK:	return "relay-ack";
	case KXMSG_LSA:		return "lsa";
	case KXMSG_ROUTES:	return "routes";
	case KXMSG_MACSEC_HELLO: return "macsec-hello";
	case KXMSG_MACSEC_SAK:	return "macsec-sak";
	case KXMSG_MACSEC_ACK:	return "macsec-ack";
	case KXMSG_MACSEC_SWITCH: return "macsec-switch";
	case KXMSG_MACSEC_REKEY: return "macsec-rekey";
	case KXMSG_IPSEC_REQUEST: return "ipsec-request";
	case KXMSG_IPSEC_OFFER:	return "ipsec-offer";
	case KXMSG_IPSEC_ACCEPT: return "ipsec-accept";
	case KXMSG_FETCHED:	return "fetched";
	case KXMSG_HEARTBEAT:	return "heartbeat";
	case KXMSG_LINK_PARAMS:	return "link-params";
	case KXMSG_CONFIRM:	return "confirm";
	case KXMSG_CONFIRM_ACK:	return "confirm-ack";
	case KXMSG_SRC_KEYS:	return "src-keys";
	case KXMSG_SRC_ACK:	return "src-ack";
	case KXMSG_WG_PSK:	return "wg-psk";
	case KXMSG_WG_ACK:	return "wg-ack";
	case KXMSG_SWAN_PPK:	return "swan-ppk";
	case KXMSG_SWAN_ACK:	return "swan-ack";
	case KXMSG_TYPE_END:	break;
	}
	return "unknown";
}

const char *kxmsg_code_name(uint32_t code)
{
	switch (code) {
	case KXC_OK:		return "ok";
	case KXC_BAD_MESSAGE:	return "bad message";
	case KXC_UNKNOWN_SAE:	return "unknown SAE";
	case KXC_NO_LINK:	return "no link";
	case KXC_FETCH_FAILED:	return "key fetch failed";
	case KXC_STORE_FULL:	return "key store full";
	case KXC_DUPLICATE:	return "duplicate key ID";
	case KXC_NOT_PEER:	return "not that peer";
	case KXC_NO_ROUTE:	return "no route";
	case KXC_AUTH_FAILED:	return "authentication failed";
	case KXC_REPLAY:	return "replayed relay message";
	case KXC_MACSEC_FAILED:	return "macsec install failed";
	case KXC_MISMATCH:	return "key confirmation mismatch";
	case KXC_MODULE_DOWN:	return "QKD module not answering";
	case KXC_MODULE_MISMATCH: return "QKD module answer mismatch";
	case KXC_WG_FAILED:	return "wireguard set failed";
	case KXC_SWAN_FAILED:	return "strongswan load failed";
	}
	return "unknown code";
}

static bool is_type(uint32_t t)
{
	return t >= KXMSG_HELLO && t < KXMSG_TYPE_END;
}

static const bool lower_hex[256] = {
	['0' ... '9'] = true, ['a' ... 'f'] = true,
};

/*
 * Every character is looked at, without a branch on what it is: the
 * branches on digit or letter missed on every other character of a
 * random UUID, 160 ns a call against 25.  The branch on NUL never jumps
 * for a UUID, and keeps a short string from being read past its end.
 */
int kxmsg_uuid_valid(const char *s)
{
	bool bad = false;

	for (int i = 0; i < 36; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!c)
			return 0;
		bad |= i == 8 || i == 13 || i == 18 || i == 23 ? c != '-' :
		       !lower_hex[c];
	}
	return !bad && s[36] == '\0';
}

/* Names and text: non-empty printable ASCII, below @max with the NUL. */
static bool string_ok(const char *s, size_t len, size_t max, bool spaces)
{
	if (len == 0 || len >= max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c > 0x7e || c < (spaces ? 0x20 : 0x21))
			return false;
	}
	return true;
}

/* ---- encoding ---- */

struct writer {
	uint8_t *buf;
	size_t len, pos;
	bool fail;
};

static void put(struct writer *w, const void *p, size_t n)
{
	if (w->fail || n > w->len - w->pos) {
		w->fail = true;
		return;
	}
	memcpy(w->buf + w->pos, p, n);
	w->pos += n;
}

static void put_be(struct writer *w, uint64_t v, size_t n)
{
	uint8_t b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	put(w, b, n);
}

static void put_attr(struct writer *w, enum kxmsg_attr a, const void *v,
		     size_t n)
{
	put_be(w, a, 2);
	put_be(w, n, 2);
	put(w, v, n);
}

static void put_str(struct writer *w, enum kxmsg_attr a, const char *s,
		    size_t max, bool spaces)
{
	size_t n = strnlen(s, max);

	if (!string_ok(s, n, max, spaces))
		w->fail = true;
	else
		put_attr(w, a, s, n);
}

static void put_int(struct writer *w, enum kxmsg_attr a, uint64_t v,
		    size_t n)
{
	put_be(w, a, 2);
	put_be(w, n, 2);
	put_be(w, v, n);
}

static void put_sae_list(struct writer *w, const struct kxmsg *m)
{
	if (!kxmsg_uuid_valid(m->uuid) || m->n_slaves == 0 ||
	    m->n_slaves > KM_MAX_SLAVES || m->key_len == 0)
		w->fail = true;
	put_str(w, KXA_UUID, m->uuid, sizeof(m->uuid), false);
	put_str(w, KXA_MASTER, m->master, sizeof(m->master), false);
	for (uint32_t i = 0; i < m->n_slaves && !w->fail; i++)
		put_str(w, KXA_SLAVE, m->slaves[i], sizeof(m->slaves[i]),
			false);
}

static void put_hops(struct writer *w, const struct kxmsg *m)
{
	if (m->n_hops < 2 || m->n_hops > KXMSG_MAX_HOPS)
		w->fail = true;
	for (uint32_t i = 0; i < m->n_hops && !w->fail; i++)
		put_str(w, KXA_HOP, m->hops[i], sizeof(m->hops[i]), false);
}

static void put_relay_key(struct writer *w, const struct kxmsg *m)
{
	put_sae_list(w, m);
	put_int(w, KXA_KEY_LEN, m->key_len, 4);
	put_str(w, KXA_DEST, m->dest, sizeof(m->dest), false);
	put_hops(w, m);
	if (m->n_pads == 0 || m->n_pads > KXMSG_MAX_PADS ||
	    m->sealed_len == 0 || m->sealed_len > KXMSG_SEALED_MAX)
		w->fail = true;
	for (uint32_t i = 0; i < m->n_pads && !w->fail; i++) {
		if (m->pads[i].len == 0)
			w->fail = true;
		put_be(w, KXA_PAD, 2);
		put_be(w, 12, 2);
		put_be(w, m->pads[i].key_id, 8);
		put_be(w, m->pads[i].len, 4);
	}
	if (!w->fail)
		put_attr(w, KXA_SEALED, m->sealed, m->sealed_len);
}

static void put_lsa(struct writer *w, const struct kxmsg *m)
{
	put_str(w, KXA_NODE, m->node, sizeof(m->node), false);
	put_int(w, KXA_SEQ, m->seq, 8);
	if (m->n_lsa > KXMSG_MAX_LSA_LINKS)
		w->fail = true;
	for (uint32_t i = 0; i < m->n_lsa && !w->fail; i++) {
		const struct kxmsg_lsa_link *l = &m->lsa[i];
		size_t n = strnlen(l->peer, sizeof(l->peer));

		if (!string_ok(l->peer, n, sizeof(l->peer), false) ||
		    l->up > 1 || l->level > QKD_POOL_READY) {
			w->fail = true;
			break;
		}
		put_be(w, KXA_LSA_LINK, 2);
		put_be(w, LSA_LINK_FIXED + n, 2);
		put_be(w, l->up, 1);
		put_be(w, l->level, 1);
		put_be(w, l->avail_bits, 8);
		put_be(w, l->rate_bps, 8);
		put(w, l->peer, n);
	}
}

/* The MACsec types: attributes in ascending order (see kxmsg.h). */
static void put_macsec(struct writer *w, const struct kxmsg *m)
{
	bool sak = m->type == KXMSG_MACSEC_SAK;
	bool ack = m->type == KXMSG_MACSEC_ACK;
	bool seq = sak || ack || m->type == KXMSG_MACSEC_SWITCH;

	if (sak) {
		if (m->key_len == 0)
			w->fail = true;
		put_int(w, KXA_KEY_ID, m->key_id, 8);
		put_int(w, KXA_KEY_LEN, m->key_len, 4);
	}
	if (ack) {
		put_int(w, KXA_CODE, m->code, 4);
		if (m->text[0])
			put_str(w, KXA_TEXT, m->text, sizeof(m->text), true);
	}
	if (seq)
		put_int(w, KXA_SEQ, m->seq, 8);
	put_str(w, KXA_PORT, m->port, sizeof(m->port), false);
	if (m->type == KXMSG_MACSEC_HELLO) {
		if (m->sci == 0)
			w->fail = true;
		put_int(w, KXA_SCI, m->sci, 8);
		if (m->peer_sci)
			put_int(w, KXA_PEER_SCI, m->peer_sci, 8);
	}
	if (sak || m->type == KXMSG_MACSEC_SWITCH) {
		if (m->an > 3)
			w->fail = true;
		put_int(w, KXA_AN, m->an, 1);
	}
}

/*
 * The WireGuard and strongSwan types, a key ID one way and an answer the
 * other: attributes in ascending order (see kxmsg.h).
 */
static void put_wg(struct writer *w, const struct kxmsg *m)
{
	if (m->type == KXMSG_WG_PSK || m->type == KXMSG_SWAN_PPK) {
		if (m->key_len == 0)
			w->fail = true;
		put_int(w, KXA_KEY_ID, m->key_id, 8);
		put_int(w, KXA_KEY_LEN, m->key_len, 4);
	} else {
		put_int(w, KXA_CODE, m->code, 4);
		if (m->text[0])
			put_str(w, KXA_TEXT, m->text, sizeof(m->text), true);
	}
	put_int(w, KXA_SEQ, m->seq, 8);
	put_str(w, KXA_PORT, m->port, sizeof(m->port), false);
}

/* ---- IPsec SA pair messages ---- */

static bool sa_life_ok(const struct kxmsg_sa_life *l)
{
	return l->soft_s >= 1 && l->hard_s > l->soft_s &&
	       (!l->soft_bytes || !l->hard_bytes ||
		l->soft_bytes < l->hard_bytes);
}

static void put_gateways(struct writer *w, const struct kxmsg *m)
{
	if (m->gw_len != 4 && m->gw_len != 16) {
		w->fail = true;
		return;
	}
	put_attr(w, KXA_GW_LOCAL, m->gw_local, m->gw_len);
	put_attr(w, KXA_GW_REMOTE, m->gw_remote, m->gw_len);
	put_int(w, KXA_REQID, m->reqid, 4);
}

static void put_ipsec(struct writer *w, const struct kxmsg *m)
{
	switch (m->type) {
	case KXMSG_IPSEC_REQUEST:
		put_gateways(w, m);
		put_int(w, KXA_SA_MODE, m->sa_mode, 1);
		break;
	case KXMSG_IPSEC_OFFER:
		if (m->key_len == 0 || m->spi < 256 || !sa_life_ok(&m->life))
			w->fail = true;
		put_int(w, KXA_KEY_ID, m->key_id, 8);
		put_int(w, KXA_KEY_LEN, m->key_len, 4);
		put_int(w, KXA_SEQ, m->seq, 8);
		put_gateways(w, m);
		put_int(w, KXA_SA_MODE, m->sa_mode, 1);
		put_int(w, KXA_SPI, m->spi, 4);
		put_int(w, KXA_KEY_ID_REV, m->key_id_rev, 8);
		put_be(w, KXA_SA_LIFE, 2);
		put_be(w, 32, 2);
		put_be(w, m->life.soft_s, 8);
		put_be(w, m->life.hard_s, 8);
		put_be(w, m->life.soft_bytes, 8);
		put_be(w, m->life.hard_bytes, 8);
		break;
	default:	/* KXMSG_IPSEC_ACCEPT */
		if (m->code == KXC_OK && m->spi < 256)
			w->fail = true;
		put_int(w, KXA_CODE, m->code, 4);
		if (m->text[0])
			put_str(w, KXA_TEXT, m->text, sizeof(m->text), true);
		put_int(w, KXA_SEQ, m->seq, 8);
		put_gateways(w, m);
		if (m->code == KXC_OK)
			put_int(w, KXA_SPI, m->spi, 4);
		break;
	}
	if (m->sa_mode > 1)
		w->fail = true;
}

static void put_via(struct writer *w, const struct kxmsg *m)
{
	if (m->via_to[0])
		put_str(w, KXA_VIA_TO, m->via_to, sizeof(m->via_to), false);
	if (m->via_from[0])
		put_str(w, KXA_VIA_FROM, m->via_from, sizeof(m->via_from),
			false);
}

/* The types whose attributes go on past VIA_FROM: they put VIA in place. */
static bool via_inside(enum kxmsg_type t)
{
	return t == KXMSG_LINK_PARAMS || t == KXMSG_CONFIRM ||
	       t == KXMSG_CONFIRM_ACK;
}

/* Link agreement and key confirmation (see kxmsg.h). */
static void put_confirm(struct writer *w, const struct kxmsg *m)
{
	put_str(w, KXA_LINK, m->link, sizeof(m->link), false);
	switch (m->type) {
	case KXMSG_LINK_PARAMS:
		if (m->link_role > QKD_ROLE_RX || m->block_size == 0 ||
		    m->has_fingerprint > 1 || m->code > KX_PARAMS_ASK)
			w->fail = true;
		if (m->code)
			put_int(w, KXA_CODE, m->code, 4);
		put_via(w, m);
		put_str(w, KXA_SOURCE, m->source, sizeof(m->source), false);
		put_int(w, KXA_LINK_ROLE, m->link_role, 1);
		put_int(w, KXA_RATE, m->rate, 8);
		put_int(w, KXA_BLOCK_SIZE, m->block_size, 4);
		if (m->has_fingerprint)
			put_attr(w, KXA_FINGERPRINT, m->fingerprint,
				 sizeof(m->fingerprint));
		break;
	case KXMSG_CONFIRM:
		if (m->key_len == 0)
			w->fail = true;
		put_int(w, KXA_KEY_ID, m->key_id, 8);
		put_int(w, KXA_KEY_LEN, m->key_len, 4);
		put_via(w, m);
		put_attr(w, KXA_NONCE, m->nonce, sizeof(m->nonce));
		put_attr(w, KXA_TAG, m->tag, sizeof(m->tag));
		break;
	default:	/* KXMSG_CONFIRM_ACK */
		put_int(w, KXA_KEY_ID, m->key_id, 8);
		put_int(w, KXA_CODE, m->code, 4);
		if (m->text[0])
			put_str(w, KXA_TEXT, m->text, sizeof(m->text), true);
		put_via(w, m);
		break;
	}
}

/* SRC_KEYS: either keys (CODE 0 or absent) or a state notice. */
static void put_src_keys(struct writer *w, const struct kxmsg *m)
{
	put_str(w, KXA_LINK, m->link, sizeof(m->link), false);
	if (m->n_src_keys > KXMSG_MAX_SRC_KEYS ||
	    (m->code && m->n_src_keys))
		w->fail = true;
	if (m->code)
		put_int(w, KXA_CODE, m->code, 4);
	if (m->text[0])
		put_str(w, KXA_TEXT, m->text, sizeof(m->text), true);
	for (uint32_t i = 0; i < m->n_src_keys && !w->fail; i++) {
		const struct kxmsg_src_key *k = &m->src_keys[i];
		size_t n = strnlen(k->key_id, sizeof(k->key_id));

		if (!string_ok(k->key_id, n, sizeof(k->key_id), false) ||
		    k->len == 0) {
			w->fail = true;
			break;
		}
		put_be(w, KXA_SRC_KEY, 2);
		put_be(w, 12 + n, 2);
		put_be(w, k->block, 8);
		put_be(w, k->len, 4);
		put(w, k->key_id, n);
	}
}

static void encode_body(const struct kxmsg *m, struct writer *w)
{
	switch (m->type) {
	case KXMSG_HELLO:
		put_str(w, KXA_NODE, m->node, sizeof(m->node), false);
		put_int(w, KXA_EPOCH, m->epoch, 8);
		break;
	case KXMSG_RESERVE:
		if (!kxmsg_uuid_valid(m->uuid) || m->n_slaves == 0 ||
		    m->n_slaves > KM_MAX_SLAVES || m->key_len == 0)
			w->fail = true;
		put_str(w, KXA_UUID, m->uuid, sizeof(m->uuid), false);
		put_str(w, KXA_MASTER, m->master, sizeof(m->master), false);
		for (uint32_t i = 0; i < m->n_slaves && !w->fail; i++)
			put_str(w, KXA_SLAVE, m->slaves[i],
				sizeof(m->slaves[i]), false);
		put_str(w, KXA_LINK, m->link, sizeof(m->link), false);
		put_int(w, KXA_KEY_ID, m->key_id, 8);
		put_int(w, KXA_KEY_LEN, m->key_len, 4);
		break;
	case KXMSG_ACK:
		if (!kxmsg_uuid_valid(m->uuid))
			w->fail = true;
		put_str(w, KXA_UUID, m->uuid, sizeof(m->uuid), false);
		put_int(w, KXA_CODE, m->code, 4);
		if (m->text[0])
			put_str(w, KXA_TEXT, m->text, sizeof(m->text), true);
		if (m->seq)
			put_int(w, KXA_SEQ, m->seq, 8);
		break;
	case KXMSG_FETCHED:
		if (m->n_slaves != 1 || !m->seq)
			w->fail = true;
		put_str(w, KXA_MASTER, m->master, sizeof(m->master), false);
		put_str(w, KXA_SLAVE, m->slaves[0], sizeof(m->slaves[0]),
			false);
		put_int(w, KXA_SEQ, m->seq, 8);
		break;
	case KXMSG_ERROR:
		put_int(w, KXA_CODE, m->code, 4);
		put_str(w, KXA_TEXT, m->text, sizeof(m->text), true);
		break;
	case KXMSG_RELAY_START:
		put_sae_list(w, m);
		put_int(w, KXA_KEY_ID, m->key_id, 8);
		put_int(w, KXA_KEY_LEN, m->key_len, 4);
		put_str(w, KXA_DEST, m->dest, sizeof(m->dest), false);
		put_hops(w, m);
		break;
	case KXMSG_RELAY_KEY:
		put_relay_key(w, m);
		break;
	case KXMSG_RELAY_ACK:
		if (!kxmsg_uuid_valid(m->uuid))
			w->fail = true;
		put_str(w, KXA_NODE, m->node, sizeof(m->node), false);
		put_str(w, KXA_UUID, m->uuid, sizeof(m->uuid), false);
		put_int(w, KXA_CODE, m->code, 4);
		if (m->text[0])
			put_str(w, KXA_TEXT, m->text, sizeof(m->text), true);
		put_hops(w, m);
		break;
	case KXMSG_HEARTBEAT:
		if (m->code > KX_BEAT_ECHO)
			w->fail = true;
		if (m->code)
			put_int(w, KXA_CODE, m->code, 4);
		put_int(w, KXA_SEQ, m->seq, 8);
		break;
	case KXMSG_LSA:
		put_lsa(w, m);
		break;
	case KXMSG_SRC_KEYS:
		put_src_keys(w, m);
		break;
	case KXMSG_SRC_ACK:
		put_str(w, KXA_LINK, m->link, sizeof(m->link), false);
		put_int(w, KXA_KEY_ID, m->key_id, 8);
		put_int(w, KXA_CODE, m->code, 4);
		if (m->text[0])
			put_str(w, KXA_TEXT, m->text, sizeof(m->text), true);
		put_int(w, KXA_SEQ, m->seq, 8);
		break;
	case KXMSG_ROUTES:
		put_str(w, KXA_NODE, m->node, sizeof(m->node), false);
		put_str(w, KXA_DEST, m->dest, sizeof(m->dest), false);
		put_int(w, KXA_SEQ, m->seq, 8);
		if (m->n_routes > KXMSG_MAX_ROUTES)
			w->fail = true;
		for (uint32_t i = 0; i < m->n_routes && !w->fail; i++)
			put_str(w, KXA_ROUTE, m->routes[i],
				sizeof(m->routes[i]), false);
		break;
	case KXMSG_MACSEC_HELLO:
	case KXMSG_MACSEC_SAK:
	case KXMSG_MACSEC_ACK:
	case KXMSG_MACSEC_SWITCH:
	case KXMSG_MACSEC_REKEY:
		put_macsec(w, m);
		break;
	case KXMSG_IPSEC_REQUEST:
	case KXMSG_IPSEC_OFFER:
	case KXMSG_IPSEC_ACCEPT:
		put_ipsec(w, m);
		break;
	case KXMSG_LINK_PARAMS:
	case KXMSG_CONFIRM:
	case KXMSG_CONFIRM_ACK:
		put_confirm(w, m);
		break;
	case KXMSG_WG_PSK:
	case KXMSG_WG_ACK:
	case KXMSG_SWAN_PPK:
	case KXMSG_SWAN_ACK:
		put_wg(w, m);
		break;
	default:
		w->fail = true;
	}
}

/* The appended optional attributes, after every other one. */
static void encode_tail(const struct kxmsg *m, struct writer *w)
{
	if (m->role) {
		if (m->type != KXMSG_LSA || m->role > NODE_ROLE_RELAY)
			w->fail = true;
		put_int(w, KXA_ROLE, m->role, 1);
	}
	if ((m->via_to[0] || m->via_from[0]) && !(allowed(m->type) & VIA))
		w->fail = true;
	if (!via_inside(m->type))
		put_via(w, m);
}

int kxmsg_encode(const struct kxmsg *m, uint8_t *buf, size_t len)
{
	struct writer w = { .buf = buf, .len = len };
	size_t body;

	put(&w, kx_magic, 3);
	put_be(&w, KXMSG_VERSION, 1);
	put_be(&w, m->type, 1);
	put_be(&w, 0, 3);
	put_be(&w, 0, 4);		/* length, patched below */
	encode_body(m, &w);
	encode_tail(m, &w);
	if (w.fail)
		return -1;
	body = w.pos - KXMSG_HDR_LEN;
	if (body > KXMSG_MAX_BODY)
		return -1;
	for (int i = 0; i < 4; i++)
		buf[8 + i] = (uint8_t)(body >> (24 - 8 * i));
	return (int)w.pos;
}

/* ---- decoding ---- */

static uint64_t get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

static int take_str(char *dst, size_t max, const uint8_t *v, size_t n,
		    bool spaces)
{
	if (!string_ok((const char *)v, n, max, spaces))
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int take_int(uint64_t *dst, const uint8_t *v, size_t n, size_t want)
{
	if (n != want)
		return -1;
	*dst = get_be(v, n);
	return 0;
}

static int take_lsa_link(struct kxmsg *m, const uint8_t *v, size_t n)
{
	struct kxmsg_lsa_link *l;

	if (m->n_lsa >= KXMSG_MAX_LSA_LINKS || n <= LSA_LINK_FIXED)
		return -1;
	l = &m->lsa[m->n_lsa++];
	l->up = v[0];
	l->level = v[1];
	l->avail_bits = get_be(v + 2, 8);
	l->rate_bps = get_be(v + 10, 8);
	if (l->up > 1 || l->level > QKD_POOL_READY)
		return -1;
	return take_str(l->peer, sizeof(l->peer), v + LSA_LINK_FIXED,
			n - LSA_LINK_FIXED, false);
}

static int take_src_key(struct kxmsg *m, const uint8_t *v, size_t n)
{
	struct kxmsg_src_key *k;

	if (m->n_src_keys >= KXMSG_MAX_SRC_KEYS || n <= 12)
		return -1;
	k = &m->src_keys[m->n_src_keys++];
	k->block = get_be(v, 8);
	k->len = (uint32_t)get_be(v + 8, 4);
	if (k->len == 0)
		return -1;
	return take_str(k->key_id, sizeof(k->key_id), v + 12, n - 12, false);
}

/* GW_LOCAL fixes the address length; GW_REMOTE must match it. */
static int take_gateway(struct kxmsg *m, uint8_t *dst, const uint8_t *v,
			size_t n)
{
	if ((n != 4 && n != 16) || (m->gw_len && m->gw_len != n))
		return -1;
	m->gw_len = (uint8_t)n;
	memcpy(dst, v, n);
	return 0;
}

/* A fixed-length byte string. */
static int take_bytes(uint8_t *dst, size_t want, const uint8_t *v, size_t n)
{
	if (n != want)
		return -1;
	memcpy(dst, v, n);
	return 0;
}

static int decode_confirm_attr(struct kxmsg *m, uint16_t a, const uint8_t *v,
			       size_t n)
{
	uint64_t x = 0;
	int rc;

	switch (a) {
	case KXA_SOURCE:
		return take_str(m->source, sizeof(m->source), v, n, false);
	case KXA_LINK_ROLE:
		rc = take_int(&x, v, n, 1);
		m->link_role = (uint8_t)x;
		return rc || x > QKD_ROLE_RX ? -1 : 0;
	case KXA_RATE:
		return take_int(&m->rate, v, n, 8);
	case KXA_BLOCK_SIZE:
		rc = take_int(&x, v, n, 4);
		m->block_size = (uint32_t)x;
		return rc || x == 0 ? -1 : 0;
	case KXA_FINGERPRINT:
		m->has_fingerprint = 1;
		return take_bytes(m->fingerprint, sizeof(m->fingerprint), v, n);
	case KXA_NONCE:
		return take_bytes(m->nonce, sizeof(m->nonce), v, n);
	case KXA_TAG:
		return take_bytes(m->tag, sizeof(m->tag), v, n);
	}
	return -1;
}

static int decode_ipsec_attr(struct kxmsg *m, uint16_t a, const uint8_t *v,
			     size_t n)
{
	uint64_t x = 0;
	int rc;

	if (a >= KXA_SOURCE && a <= KXA_TAG)
		return decode_confirm_attr(m, a, v, n);
	switch (a) {
	case KXA_GW_LOCAL:
		return take_gateway(m, m->gw_local, v, n);
	case KXA_GW_REMOTE:
		return take_gateway(m, m->gw_remote, v, n);
	case KXA_REQID:
		rc = take_int(&x, v, n, 4);
		m->reqid = (uint32_t)x;
		return rc;
	case KXA_SA_MODE:
		rc = take_int(&x, v, n, 1);
		m->sa_mode = (uint8_t)x;
		return rc || x > 1 ? -1 : 0;
	case KXA_SPI:
		rc = take_int(&x, v, n, 4);
		m->spi = (uint32_t)x;
		return rc || x < 256 ? -1 : 0;
	case KXA_KEY_ID_REV:
		return take_int(&m->key_id_rev, v, n, 8);
	case KXA_SRC_KEY:
		return take_src_key(m, v, n);
	case KXA_SA_LIFE:
		if (n != 32)
			return -1;
		m->life.soft_s = get_be(v, 8);
		m->life.hard_s = get_be(v + 8, 8);
		m->life.soft_bytes = get_be(v + 16, 8);
		m->life.hard_bytes = get_be(v + 24, 8);
		return sa_life_ok(&m->life) ? 0 : -1;
	}
	return -1;
}

static int decode_attr(struct kxmsg *m, uint16_t a, const uint8_t *v,
		       size_t n)
{
	uint64_t x = 0;
	int rc;

	switch (a) {
	case KXA_NODE:
		return take_str(m->node, sizeof(m->node), v, n, false);
	case KXA_EPOCH:
		return take_int(&m->epoch, v, n, 8);
	case KXA_UUID:
		rc = take_str(m->uuid, sizeof(m->uuid), v, n, false);
		return rc || !kxmsg_uuid_valid(m->uuid) ? -1 : 0;
	case KXA_MASTER:
		return take_str(m->master, sizeof(m->master), v, n, false);
	case KXA_SLAVE:
		if (m->n_slaves >= KM_MAX_SLAVES)
			return -1;
		return take_str(m->slaves[m->n_slaves++],
				sizeof(m->slaves[0]), v, n, false);
	case KXA_LINK:
		return take_str(m->link, sizeof(m->link), v, n, false);
	case KXA_KEY_ID:
		return take_int(&m->key_id, v, n, 8);
	case KXA_KEY_LEN:
		rc = take_int(&x, v, n, 4);
		m->key_len = (uint32_t)x;
		return rc || x == 0 ? -1 : 0;
	case KXA_CODE:
		rc = take_int(&x, v, n, 4);
		m->code = (uint32_t)x;
		return rc;
	case KXA_TEXT:
		return take_str(m->text, sizeof(m->text), v, n, true);
	case KXA_DEST:
		return take_str(m->dest, sizeof(m->dest), v, n, false);
	case KXA_HOP:
		if (m->n_hops >= KXMSG_MAX_HOPS)
			return -1;
		return take_str(m->hops[m->n_hops++], sizeof(m->hops[0]), v,
				n, false);
	case KXA_PAD:
		if (m->n_pads >= KXMSG_MAX_PADS || n != 12)
			return -1;
		m->pads[m->n_pads].key_id = get_be(v, 8);
		m->pads[m->n_pads].len = (uint32_t)get_be(v + 8, 4);
		return m->pads[m->n_pads++].len == 0 ? -1 : 0;
	case KXA_SEALED:
		if (n == 0 || n > KXMSG_SEALED_MAX)
			return -1;
		memcpy(m->sealed, v, n);
		m->sealed_len = (uint32_t)n;
		return 0;
	case KXA_SEQ:
		return take_int(&m->seq, v, n, 8);
	case KXA_LSA_LINK:
		return take_lsa_link(m, v, n);
	case KXA_ROUTE:
		if (m->n_routes >= KXMSG_MAX_ROUTES)
			return -1;
		return take_str(m->routes[m->n_routes++], sizeof(m->routes[0]),
				v, n, false);
	case KXA_PORT:
		return take_str(m->port, sizeof(m->port), v, n, false);
	case KXA_SCI:
		return take_int(&m->sci, v, n, 8) || m->sci == 0 ? -1 : 0;
	case KXA_PEER_SCI:
		rc = take_int(&m->peer_sci, v, n, 8);
		return rc || m->peer_sci == 0 ? -1 : 0;
	case KXA_AN:
		rc = take_int(&x, v, n, 1);
		m->an = (uint8_t)x;
		return rc || x > 3 ? -1 : 0;
	case KXA_ROLE:
		rc = take_int(&x, v, n, 1);
		m->role = (uint8_t)x;
		return rc || x == NODE_ROLE_NONE || x > NODE_ROLE_RELAY ? -1 : 0;
	case KXA_VIA_TO:
		return take_str(m->via_to, sizeof(m->via_to), v, n, false);
	case KXA_VIA_FROM:
		return take_str(m->via_from, sizeof(m->via_from), v, n, false);
	default:
		return decode_ipsec_attr(m, a, v, n);
	}
}

static int decode_body(const uint8_t *p, size_t len, struct kxmsg *m,
		       char *err, size_t errlen)
{
	const struct type_rule *rule = &rules[m->type];
	uint64_t seen = 0;
	uint16_t last = 0;
	size_t pos = 0;

	while (pos < len) {
		uint16_t a, n;

		if (len - pos < 4)
			return fail(err, errlen, "truncated attribute");
		a = (uint16_t)get_be(p + pos, 2);
		n = (uint16_t)get_be(p + pos + 2, 2);
		pos += 4;
		if (n > len - pos)
			return fail(err, errlen, "attribute overruns body");
		if (a == 0 || a > KXA_LAST || !(allowed(m->type) & A(a)))
			return fail(err, errlen, "unexpected attribute");
		/* One encoding per message: ascending order, only SLAVE
		 * repeats. */
		if (a < last || (a == last && !(REPEATS & A(a))))
			return fail(err, errlen,
				    "attribute repeated or out of order");
		last = a;
		if (decode_attr(m, a, p + pos, n))
			return fail(err, errlen, "bad attribute value");
		seen |= A(a);
		pos += n;
	}
	if ((seen & rule->required) != rule->required)
		return fail(err, errlen, "missing attribute");
	if ((m->type == KXMSG_RELAY_START || m->type == KXMSG_RELAY_KEY ||
	     m->type == KXMSG_RELAY_ACK) && m->n_hops < 2)
		return fail(err, errlen, "route shorter than one hop");
	if (m->type == KXMSG_IPSEC_ACCEPT &&
	    (m->code == KXC_OK) != !!(seen & A(KXA_SPI)))
		return fail(err, errlen, "SPI must come with code 0 only");
	if (m->type == KXMSG_LINK_PARAMS && (seen & A(KXA_CODE)) &&
	    m->code != KX_PARAMS_ASK)
		return fail(err, errlen, "link-params code is not ask");
	if (m->type == KXMSG_HEARTBEAT && (seen & A(KXA_CODE)) &&
	    (m->code < KX_BEAT_PROBE || m->code > KX_BEAT_ECHO))
		return fail(err, errlen, "heartbeat code is neither probe nor echo");
	if (m->type == KXMSG_SRC_KEYS && m->code && m->n_src_keys)
		return fail(err, errlen, "keys and an error code together");
	return 0;
}

#define SIZE_OF(field)	sizeof(((struct kxmsg *)0)->field)

/* From slaves on, only the repeated storage (and padding): what
 * kxmsg_clear() leaves alone. */
static_assert(sizeof(struct kxmsg) - offsetof(struct kxmsg, slaves) -
	      (SIZE_OF(slaves) + SIZE_OF(hops) + SIZE_OF(sealed) +
	       SIZE_OF(lsa) + SIZE_OF(routes) + SIZE_OF(src_keys)) < 8,
	      "struct kxmsg: a field after the repeated storage");

void kxmsg_clear(struct kxmsg *m, enum kxmsg_type type)
{
	memset(m, 0, offsetof(struct kxmsg, slaves));
	m->type = type;
}

int kxmsg_decode(const uint8_t *buf, size_t len, struct kxmsg *m,
		 char *err, size_t errlen)
{
	uint32_t body;
	size_t have = len < 3 ? len : 3;

	/* Reject garbage as early as its first bytes show it. */
	if (memcmp(buf, kx_magic, have))
		return fail(err, errlen, "bad magic");
	if (len >= 4 && buf[3] != KXMSG_VERSION)
		return fail(err, errlen, "unsupported version");
	if (len >= 5 && !is_type(buf[4]))
		return fail(err, errlen, "unknown message type");
	if (len >= 8 && (buf[5] | buf[6] | buf[7]))
		return fail(err, errlen, "reserved bytes not zero");
	if (len < KXMSG_HDR_LEN)
		return KXMSG_INCOMPLETE;
	body = (uint32_t)get_be(buf + 8, 4);
	if (body > KXMSG_MAX_BODY)
		return fail(err, errlen, "message too long");
	if (len - KXMSG_HDR_LEN < body)
		return KXMSG_INCOMPLETE;
	kxmsg_clear(m, buf[4]);
	if (decode_body(buf + KXMSG_HDR_LEN, body, m, err, errlen))
		return -1;
	return (int)(KXMSG_HDR_LEN + body);
}
