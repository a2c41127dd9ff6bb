// SPDX-License-Identifier: GPL-2.0
/*
 * Per-hop relay encryption: the pad cursor (a forward-only, self-wiping
 * queue of link key bytes) and the sealed relay message built on it.
 * The message format and the error contract are in relay_otp.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "relay/relay_otp.h"

/* One appended key buffer; bytes[0 .. used) are already zeroised. */
struct pad_chunk {
	struct pad_chunk *next;
	size_t len;
	size_t used;
	uint8_t bytes[];
};

struct pad_cursor {
	struct pad_chunk *head;		/* oldest: the next byte is here */
	struct pad_chunk *tail;
	uint64_t position;		/* stream position of the next byte */
	uint64_t end;			/* one past the last byte appended */
	uint64_t consumed;		/* bytes handed out since creation */
};

struct pad_cursor *pad_cursor_new(uint64_t start_pos)
{
	struct pad_cursor *cur = calloc(1, sizeof(*cur));

	if (!cur)
		return NULL;
	cur->position = start_pos;
	cur->end = start_pos;
	return cur;
}

static void chunk_free(struct pad_chunk *c)
{
	OPENSSL_secure_clear_free(c, sizeof(*c) + c->len);
}

void pad_cursor_free(struct pad_cursor *cur)
{
	struct pad_chunk *c, *next;

	if (!cur)
		return;
	for (c = cur->head; c; c = next) {
		next = c->next;
		chunk_free(c);
	}
	free(cur);
}

int pad_cursor_append(struct pad_cursor *cur, uint64_t pos, uint8_t *key,
		      size_t len)
{
	struct pad_chunk *c;

	if (!cur || !key || !len || pos != cur->end ||
	    len > UINT64_MAX - cur->end || len > SIZE_MAX - sizeof(*c))
		return -EINVAL;
	c = OPENSSL_secure_malloc(sizeof(*c) + len);
	if (!c)
		return -ENOMEM;
	c->next = NULL;
	c->len = len;
	c->used = 0;
	memcpy(c->bytes, key, len);
	OPENSSL_cleanse(key, len);
	if (cur->tail)
		cur->tail->next = c;
	else
		cur->head = c;
	cur->tail = c;
	cur->end += len;
	return 0;
}

uint64_t pad_cursor_position(const struct pad_cursor *cur)
{
	return cur->position;
}

uint64_t pad_cursor_end(const struct pad_cursor *cur)
{
	return cur->end;
}

size_t pad_cursor_available(const struct pad_cursor *cur)
{
	return (size_t)(cur->end - cur->position);
}

uint64_t pad_cursor_consumed(const struct pad_cursor *cur)
{
	return cur->consumed;
}

static void xor_bytes(uint8_t *dst, const uint8_t *src, const uint8_t *pad,
		      size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t a, b;

		memcpy(&a, src + i, 8);
		memcpy(&b, pad + i, 8);
		a ^= b;
		memcpy(dst + i, &a, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ pad[i];
}

enum pad_use { PAD_TAKE, PAD_XOR, PAD_DISCARD };

/*
 * The one place pad bytes leave the buffer: use them once, wipe them,
 * move forward.  Whole-or-nothing: the caller checked availability.
 */
static int cursor_consume(struct pad_cursor *cur, enum pad_use use,
			  uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t done = 0;

	if (n > pad_cursor_available(cur))
		return -ENOSPC;
	while (done < n) {
		struct pad_chunk *c = cur->head;
		uint8_t *pad = c->bytes + c->used;
		size_t k = c->len - c->used;

		if (k > n - done)
			k = n - done;
		if (use == PAD_TAKE)
			memcpy(dst + done, pad, k);
		else if (use == PAD_XOR)
			xor_bytes(dst + done, src + done, pad, k);
		OPENSSL_cleanse(pad, k);
		c->used += k;
		done += k;
		if (c->used == c->len) {
			cur->head = c->next;
			if (!cur->head)
				cur->tail = NULL;
			chunk_free(c);
		}
	}
	cur->position += n;
	cur->consumed += n;
	return 0;
}

int pad_cursor_take(struct pad_cursor *cur, uint8_t *out, size_t n)
{
	return cursor_consume(cur, PAD_TAKE, out, NULL, n);
}

int pad_cursor_xor(struct pad_cursor *cur, uint8_t *dst, const uint8_t *src,
		   size_t n)
{
	return cursor_consume(cur, PAD_XOR, dst, src, n);
}

int pad_cursor_discard(struct pad_cursor *cur, size_t n)
{
	return cursor_consume(cur, PAD_DISCARD, NULL, NULL, n);
}

#ifdef QKD_UNIT_TEST
bool pad_cursor_consumed_bytes_are_zero(const struct pad_cursor *cur)
{
	const struct pad_chunk *c;
	uint8_t acc = 0;

	for (c = cur->head; c; c = c->next)
		for (size_t i = 0; i < c->used; i++)
			acc |= c->bytes[i];
	return acc == 0;
}
#endif

/* ---- relay messages ---- */

struct relay_link {
	struct pad_cursor *pad;
	uint32_t link_id;
	uint8_t sender_role;
	bool sending;
	struct relay_stats st;		/* pad_bits_consumed from the cursor */
};

struct relay_hdr {
	uint8_t version;
	uint8_t type;
	uint8_t sender_role;
	uint32_t link_id;
	uint64_t seq;
	uint64_t pad_pos;
	uint32_t payload_len;
};

struct relay_link *relay_link_new(uint32_t link_id,
				  enum qkd_role sender_role, bool sending,
				  uint64_t pad_start)
{
	struct relay_link *link;

	if (sender_role != QKD_ROLE_TX && sender_role != QKD_ROLE_RX)
		return NULL;
	link = calloc(1, sizeof(*link));
	if (!link)
		return NULL;
	link->pad = pad_cursor_new(pad_start);
	if (!link->pad) {
		free(link);
		return NULL;
	}
	link->link_id = link_id;
	link->sender_role = (uint8_t)sender_role;
	link->sending = sending;
	return link;
}

void relay_link_free(struct relay_link *link)
{
	if (!link)
		return;
	pad_cursor_free(link->pad);
	free(link);
}

int relay_link_add_pad(struct relay_link *link, uint64_t pos, uint8_t *key,
		       size_t len)
{
	return pad_cursor_append(link->pad, pos, key, len);
}

size_t relay_link_pad_available(const struct relay_link *link)
{
	return pad_cursor_available(link->pad);
}

void relay_link_stats(const struct relay_link *link, struct relay_stats *st)
{
	*st = link->st;
	st->pad_bits_consumed = 8 * pad_cursor_consumed(link->pad);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void hdr_encode(uint8_t out[RELAY_HDR_LEN], const struct relay_hdr *h)
{
	memset(out, 0, RELAY_HDR_LEN);
	out[0] = h->version;
	out[1] = h->type;
	out[2] = h->sender_role;
	put_be32(out + 4, h->link_id);
	put_be64(out + 8, h->seq);
	put_be64(out + 16, h->pad_pos);
	put_be32(out + 24, h->payload_len);
}

/* Syntax only: every field known, reserved bytes zero, lengths agree. */
static int hdr_decode(struct relay_hdr *h, const uint8_t *msg, size_t msg_len)
{
	if (msg_len < RELAY_OVERHEAD)
		return -EINVAL;
	h->version = msg[0];
	h->type = msg[1];
	h->sender_role = msg[2];
	h->link_id = get_be32(msg + 4);
	h->seq = get_be64(msg + 8);
	h->pad_pos = get_be64(msg + 16);
	h->payload_len = get_be32(msg + 24);
	if (h->version != RELAY_VERSION || h->type != RELAY_TYPE_KEY ||
	    msg[3] != 0 || get_be32(msg + 28) != 0 ||
	    h->payload_len > RELAY_MAX_PAYLOAD ||
	    h->payload_len != msg_len - RELAY_OVERHEAD)
		return -EINVAL;
	return 0;
}

/* Starts the message's MAC with the next ITS_MAC_KEY_LEN pad bytes. */
static int mac_start(struct relay_link *link, struct its_mac_ctx *mac)
{
	uint8_t key[ITS_MAC_KEY_LEN];
	int err = pad_cursor_take(link->pad, key, sizeof(key));

	if (err)
		return err;
	its_mac_init(mac, key);
	OPENSSL_cleanse(key, sizeof(key));
	link->st.mac_key_bits += ITS_MAC_KEY_BITS;
	return 0;
}

int relay_seal(struct relay_link *link, const uint8_t *payload, size_t len,
	       uint8_t *out, size_t out_size, size_t *out_len)
{
	struct relay_hdr h = {
		.version = RELAY_VERSION,
		.type = RELAY_TYPE_KEY,
		.sender_role = link->sender_role,
		.link_id = link->link_id,
		.seq = link->st.next_seq,
		.pad_pos = pad_cursor_position(link->pad),
		.payload_len = (uint32_t)len,
	};
	struct its_mac_ctx mac;
	int err;

	if (!link->sending || (!payload && len) || len > RELAY_MAX_PAYLOAD ||
	    out_size < RELAY_OVERHEAD + len)
		return -EINVAL;
	if (pad_cursor_available(link->pad) < RELAY_PAD_NEEDED(len))
		return -ENOSPC;
	hdr_encode(out, &h);
	/* Order in the stream: MAC key first, then the payload pad. */
	err = mac_start(link, &mac);
	if (err)	/* cannot happen: availability checked above */
		return err;
	if (len)
		pad_cursor_xor(link->pad, out + RELAY_HDR_LEN, payload, len);
	its_mac_update(&mac, out, RELAY_HDR_LEN + len);
	its_mac_final(&mac, out + RELAY_HDR_LEN + len);
	link->st.relayed_bits += 8 * (uint64_t)len;
	link->st.messages++;
	link->st.next_seq++;
	*out_len = RELAY_OVERHEAD + len;
	return 0;
}

/* Checks that can fail without touching any state. */
static int open_precheck(struct relay_link *link, const struct relay_hdr *h,
			 size_t payload_size)
{
	if (link->sending || h->link_id != link->link_id ||
	    h->sender_role != link->sender_role ||
	    h->payload_len > payload_size)
		return -EINVAL;
	if (h->seq < link->st.next_seq)
		return -EALREADY;
	if (h->seq > link->st.next_seq ||
	    h->pad_pos != pad_cursor_position(link->pad))
		return -EPROTO;
	if (pad_cursor_available(link->pad) < RELAY_PAD_NEEDED(h->payload_len))
		return -ENOSPC;
	return 0;
}

int relay_open(struct relay_link *link, const uint8_t *msg, size_t msg_len,
	       uint8_t *payload, size_t payload_size, size_t *payload_len)
{
	const uint8_t *ct = msg + RELAY_HDR_LEN;
	struct its_mac_ctx mac;
	struct relay_hdr h;
	size_t n;
	int err;

	err = hdr_decode(&h, msg, msg_len);
	if (!err)
		err = open_precheck(link, &h, payload_size);
	if (err) {
		link->st.rejected++;
		return err;
	}
	n = h.payload_len;
	err = mac_start(link, &mac);
	if (err)	/* cannot happen after the precheck */
		return err;
	its_mac_update(&mac, msg, RELAY_HDR_LEN + n);
	link->st.next_seq++;
	if (!its_mac_final_verify(&mac, ct + n)) {
		/* Burn the payload pad too: the honest sender used it. */
		pad_cursor_discard(link->pad, n);
		link->st.discarded_bits += 8 * (uint64_t)n;
		link->st.rejected++;
		link->st.auth_failures++;
		return -EBADMSG;
	}
	if (n)
		pad_cursor_xor(link->pad, payload, ct, n);
	link->st.relayed_bits += 8 * (uint64_t)n;
	link->st.messages++;
	*payload_len = n;
	return 0;
}

const char *relay_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EINVAL:
		return "malformed relay message or wrong link";
	case -EALREADY:
		return "replayed relay message (sequence number already used)";
	case -EPROTO:
		return "relay message out of sequence or at the wrong pad position";
	case -ENOSPC:
		return "not enough link key for the one-time pad";
	case -EBADMSG:
		return "relay message failed authentication; its key was discarded";
	case -ENOMEM:
		return "out of memory";
	default:
		return "relay error";
	}
}
