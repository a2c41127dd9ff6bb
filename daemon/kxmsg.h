/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kx messages between key manager daemons (Kx-2 key sync; carried over the
 * mutually authenticated TLS channel of peer.c).
 *
 * Wire format, all integers big-endian:
 *
 *	header (12 bytes)
 *	  u8[3]  magic "QKX"
 *	  u8     version (KXMSG_VERSION)
 *	  u8     type (enum kxmsg_type)
 *	  u8[3]  zero
 *	  u32    body length (<= KXMSG_MAX_BODY)
 *	body: attributes, each
 *	  u16    attribute type (enum kxmsg_attr)
 *	  u16    value length
 *	  value
 *
 * Attributes appear in ascending type order, so every message has exactly
 * one encoding.  Decoding is strict: unknown versions, types and
 * attributes, an attribute a type does not carry, out of order or twice
 * (only SLAVE repeats, consecutively), a missing
 * required attribute, a wrong integer size, a string that is empty, too long
 * or not printable ASCII, or a malformed UUID all reject the message.  No
 * message ever carries key bytes.
 *
 *	HELLO	 NODE, EPOCH		first message each way on a connection
 *	RESERVE	 UUID, MASTER, SLAVE (1..KM_MAX_SLAVES), LINK, KEY_ID, KEY_LEN
 *		 "keep the key (KEY_ID, KEY_LEN) of LINK as UUID for these SAEs"
 *	ACK	 UUID, CODE (+ TEXT)	answer to RESERVE; CODE 0 = stored
 *	ERROR	 CODE, TEXT		the sender is about to close
 */
#ifndef QKD_KXMSG_H
#define QKD_KXMSG_H

#include <stddef.h>
#include <stdint.h>

#include "keymgr.h"

#define KXMSG_VERSION		1
#define KXMSG_HDR_LEN		12
#define KXMSG_MAX_BODY		4096
#define KXMSG_MAX_LEN		(KXMSG_HDR_LEN + KXMSG_MAX_BODY)
#define KXMSG_TEXT_MAX		160

enum kxmsg_type {
	KXMSG_HELLO = 1,
	KXMSG_RESERVE,
	KXMSG_ACK,
	KXMSG_ERROR,
};

enum kxmsg_attr {
	KXA_NODE = 1,		/* string */
	KXA_EPOCH,		/* u64 */
	KXA_UUID,		/* string, canonical lower-case UUID */
	KXA_MASTER,		/* string, SAE ID */
	KXA_SLAVE,		/* string, SAE ID; repeats */
	KXA_LINK,		/* string, the sender's link name */
	KXA_KEY_ID,		/* u64 */
	KXA_KEY_LEN,		/* u32, bytes */
	KXA_CODE,		/* u32, enum kxmsg_code */
	KXA_TEXT,		/* string, printable, never key bytes */
};

enum kxmsg_code {
	KXC_OK = 0,
	KXC_BAD_MESSAGE,	/* could not be decoded / not allowed now */
	KXC_UNKNOWN_SAE,	/* SAE not known here, or not at that node */
	KXC_NO_LINK,		/* no link to the sender */
	KXC_FETCH_FAILED,	/* the link end could not supply the bytes */
	KXC_STORE_FULL,		/* max_key_count reached for the pair */
	KXC_DUPLICATE,		/* UUID already used */
	KXC_NOT_PEER,		/* sender's identity is not the node it claims */
};

struct kxmsg {
	enum kxmsg_type type;
	char node[KM_NAME_MAX];
	uint64_t epoch;
	char uuid[KSA_KEY_ID_LEN];
	char master[KSA_SAE_ID_MAX];
	char slaves[KM_MAX_SLAVES][KSA_SAE_ID_MAX];
	uint32_t n_slaves;
	char link[KM_NAME_MAX];
	uint64_t key_id;
	uint32_t key_len;
	uint32_t code;
	char text[KXMSG_TEXT_MAX];
};

/*
 * Encode @m into @buf.  Returns the length, or -1 if @m is invalid (same
 * rules as decoding) or does not fit in @len.
 */
int kxmsg_encode(const struct kxmsg *m, uint8_t *buf, size_t len);

#define KXMSG_INCOMPLETE	0	/* need more input */

/*
 * Decode one message from the front of @buf.  Returns its length (> 0), 0
 * (KXMSG_INCOMPLETE) if @buf holds only a prefix of a possibly valid
 * message, or -1 if the input is invalid (reason in @err).
 */
int kxmsg_decode(const uint8_t *buf, size_t len, struct kxmsg *m,
		 char *err, size_t errlen);

const char *kxmsg_type_name(enum kxmsg_type t);
const char *kxmsg_code_name(uint32_t code);

/* True if @s is a canonical lower-case UUID (36 characters). */
int kxmsg_uuid_valid(const char *s);

#endif /* QKD_KXMSG_H */
