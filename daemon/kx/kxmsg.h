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
 * (only SLAVE, HOP, PAD and LSA_LINK repeat, consecutively), a missing
 * required attribute, a wrong integer size, a string that is empty, too long
 * or not printable ASCII, or a malformed UUID all reject the message.  No
 * message ever carries key bytes.
 *
 *	HELLO	 NODE, EPOCH		first message each way on a connection
 *	RESERVE	 UUID, MASTER, SLAVE (1..KM_MAX_SLAVES), LINK, KEY_ID, KEY_LEN
 *		 "keep the key (KEY_ID, KEY_LEN) of LINK as UUID for these SAEs"
 *	ACK	 UUID, CODE (+ TEXT)	answer to RESERVE; CODE 0 = stored
 *	ERROR	 CODE, TEXT		the sender is about to close
 *
 * Key relay (Kx-1, relay.c) and topology (lsa.c); appended types and
 * attributes.  HOP lists the whole route, source first, destination
 * last; every hop is a direct Kx connection between link neighbours.
 *
 *	RELAY_START  UUID, MASTER, SLAVE.., KEY_ID, KEY_LEN, DEST, HOP..
 *		"the key (KEY_ID, KEY_LEN) of our link is end-to-end key UUID
 *		 for these SAEs at DEST: fetch it and pass it on along HOP"
 *	RELAY_KEY    UUID, MASTER, SLAVE.., KEY_LEN, DEST, HOP.., PAD..,
 *		     SEALED
 *		"SEALED is the key, one-time padded and ITS-MACed
 *		 (relay_otp.h) with our share's keys PAD.. of our link"
 *	RELAY_ACK    NODE, UUID, CODE (+ TEXT), HOP..
 *		end-to-end answer from NODE, travelling back along HOP
 *	LSA          NODE, SEQ, LSA_LINK (0..KXMSG_MAX_LSA_LINKS)
 *		link-state advertisement of origin NODE, flooded
 *	ROUTES       NODE, DEST, SEQ, ROUTE (0..KXMSG_MAX_ROUTES)
 *		route table controller NODE computed for node DEST
 *		(configuration 2), flooded; ROUTE is "A,B,C" (source first)
 *
 * SEALED is one-time-pad ciphertext plus tag, never plaintext key; PAD
 * names key IDs (metadata), as RESERVE does.
 *
 * MACsec SAK rotation (macsec.c); appended.  PORT is the [macsec NAME]
 * section name, the same at both ends; SCI a MACsec SCI as a host integer
 * (MAC in the top 48 bits, port in the low 16), never 0; AN 0..3.
 *
 *	MACSEC_HELLO   PORT, SCI (+ PEER_SCI)
 *		"my interface has SCI; I know yours is PEER_SCI" (absent or
 *		 stale: answer with a HELLO)
 *	MACSEC_SAK     KEY_ID, KEY_LEN, SEQ, PORT, AN
 *		owner -> other end: "rotation SEQ: fetch the key (KEY_ID,
 *		 KEY_LEN) of our link and install it as RX and TX SA AN"
 *	MACSEC_ACK     CODE (+ TEXT), SEQ, PORT	answer to MACSEC_SAK
 *	MACSEC_SWITCH  SEQ, PORT, AN	"transmit with AN now"
 *	MACSEC_REKEY   PORT		other end -> owner: "my TX PN passed
 *		 the threshold: rotate now"
 *
 * Configurations 3 and 4 (Documentation/qkd/configurations.rst); appended
 * attributes, all optional:
 *	ROLE	 on LSA: the origin's node role (enum node_role), so that
 *		 routes never pass through user nodes
 *	VIA_TO	 on RESERVE, ACK, RELAY_*: the node this message is for, sent
 *		 to the central KM (configuration 4, Kx'), which forwards it
 *	VIA_FROM the node it came from, set only by the central KM when it
 *		 forwards; receivers accept it only from their central KM
 *
 * QKD-keyed IPsec SA pairs (ipsec.c, Documentation/qkd/ipsec.rst);
 * appended.  GW_LOCAL is the sender's gateway address, GW_REMOTE the
 * receiver's (both 4 or 16 bytes); with REQID they name the SA pair.
 *
 *	IPSEC_REQUEST GW_LOCAL, GW_REMOTE, REQID, SA_MODE
 *		"traffic hit the policy: please (re)key this pair"
 *	IPSEC_OFFER   KEY_ID, KEY_LEN, SEQ, GW_LOCAL, GW_REMOTE, REQID,
 *		      SA_MODE, SPI, KEY_ID_REV, SA_LIFE
 *		"generation SEQ: my inbound SA (SPI) is installed with key
 *		 KEY_ID_REV; use KEY_ID for your inbound SA"
 *	IPSEC_ACCEPT  CODE (+ TEXT), SEQ, GW_LOCAL, GW_REMOTE, REQID (+ SPI)
 *		"both my SAs of generation SEQ are in; my inbound SPI";
 *		SPI is present exactly when CODE is 0
 *
 * WireGuard preshared-key rotation (apps/wireguard/wireguard.c,
 * Documentation/qkd/wireguard.rst); appended.  PORT is the [wireguard NAME]
 * section name, the same at both ends.
 *
 *	WG_PSK	KEY_ID, KEY_LEN, SEQ, PORT
 *		owner -> other end: "rotation SEQ: fetch the key (KEY_ID,
 *		 KEY_LEN) of our link and set it as the peer's PSK"
 *	WG_ACK	CODE (+ TEXT), SEQ, PORT	answer to WG_PSK: CODE 0
 *		 once the PSK is set; the owner then sets it too
 *
 * strongSwan RFC 8784 PPK rotation (apps/strongswan/strongswan.c,
 * Documentation/qkd/strongswan.rst); appended.  PORT is the
 * [strongswan NAME] section name.
 *
 *	SWAN_PPK  KEY_ID, KEY_LEN, SEQ, PORT
 *		owner -> other end: "rotation SEQ: fetch the key (KEY_ID,
 *		 KEY_LEN) of our link and load it into charon as the PPK"
 *	SWAN_ACK  CODE (+ TEXT), SEQ, PORT	answer to SWAN_PPK: CODE 0
 *		 once charon has it; the owner then loads it and has the
 *		 IKE SA reauthenticated
 *
 * Liveness of the channel (peer.c, liveness.h); appended.
 *
 *	HEARTBEAT     SEQ (+ CODE)	"still here": sent on a channel that
 *		carried nothing for heartbeat_ms.  CODE KX_BEAT_PROBE asks
 *		for an echo at once; the echo is a HEARTBEAT with CODE
 *		KX_BEAT_ECHO and the probe's SEQ.  Inside the TLS channel,
 *		so authenticated like every Kx message.
 *
 * Link agreement and key confirmation (kma/confirm.h,
 * Documentation/qkd/confirmation.rst); appended.  LINK is the sender's
 * link name; KEY_ID names a whole block of the link (offset 0), KEY_LEN
 * its size.  FINGERPRINT is a one-way hash of a sim seed, never the seed;
 * TAG a one-time MAC of the block, never key bytes.
 *
 *	LINK_PARAMS   LINK (+ CODE), SOURCE, LINK_ROLE, RATE, BLOCK_SIZE
 *		      (+ FINGERPRINT)
 *		"this is what I believe about our link": sent by each end
 *		 when the channel comes up; a disagreement refuses the link.
 *		 CODE KX_PARAMS_ASK asks the other end for its LINK_PARAMS
 *	CONFIRM       LINK, KEY_ID, KEY_LEN, NONCE, TAG
 *		owner of the block -> other end: "my copy of block KEY_ID
 *		 has this tag under NONCE"
 *	CONFIRM_ACK   LINK, KEY_ID, CODE (+ TEXT)
 *		the verdict: CODE 0 = same bytes, block usable at both ends
 *
 * Keys from an ETSI GS QKD 014 module (kma/keysrc_etsi014.c); appended.
 * The tx end of the link took the keys with enc_keys at its module and
 * numbered them as blocks; the rx end takes the same keys with dec_keys
 * at its own module and answers.  SRC_KEY names a module key_ID, never
 * key bytes.
 *
 *	SRC_KEYS  LINK (+ CODE, TEXT), SRC_KEY (0..KXMSG_MAX_SRC_KEYS)
 *		"blocks SRC_KEY.. are these key_IDs of our modules"; CODE
 *		 not 0 (and no SRC_KEY): "my module is not answering: TEXT";
 *		 CODE 0 and no SRC_KEY: "my module answers again"
 *	SRC_ACK   LINK, KEY_ID, CODE (+ TEXT), SEQ
 *		answer to SRC_KEYS: the SEQ blocks from block KEY_ID on are
 *		 stored (CODE 0) or refused, all of them (CODE not 0)
 */
#ifndef QKD_KXMSG_H
#define QKD_KXMSG_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

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
	KXMSG_RELAY_START,
	KXMSG_RELAY_KEY,
	KXMSG_RELAY_ACK,
	KXMSG_LSA,
	KXMSG_ROUTES,
	KXMSG_MACSEC_HELLO,
	KXMSG_MACSEC_SAK,
	KXMSG_MACSEC_ACK,
	KXMSG_MACSEC_SWITCH,
	KXMSG_MACSEC_REKEY,
	KXMSG_IPSEC_REQUEST,
	KXMSG_IPSEC_OFFER,
	KXMSG_IPSEC_ACCEPT,
	/*
	 * Slave's KME -> master's KME: a key of the pair MASTER -> SLAVE
	 * left the store here (fetched, or expired); SEQ = 1 + the keys
	 * of the pair there is room for now (ksa.c).
	 */
	KXMSG_FETCHED,
	KXMSG_HEARTBEAT,
	KXMSG_LINK_PARAMS,
	KXMSG_CONFIRM,
	KXMSG_CONFIRM_ACK,
	KXMSG_SRC_KEYS,
	KXMSG_SRC_ACK,
	KXMSG_WG_PSK,
	KXMSG_WG_ACK,
	KXMSG_SWAN_PPK,
	KXMSG_SWAN_ACK,
	KXMSG_TYPE_END		/* one past the last type; not on the wire */
};

#define KXMSG_MAX_HOPS		32	/* nodes on a relay route */
#define KXMSG_MAX_PADS		8	/* link keys padding one hop */
#define KXMSG_SEALED_MAX	2048	/* relay_otp message bytes */
#define KXMSG_MAX_LSA_LINKS	48	/* links in one LSA */
#define KXMSG_MAX_ROUTES	32	/* routes in one ROUTES message */
#define KXMSG_ROUTE_MAX		200	/* "A,B,C" incl. NUL */
#define KXMSG_MAX_SRC_KEYS	48	/* module keys in one SRC_KEYS */
#define KXMSG_SRC_KEY_ID_MAX	65	/* a module key_ID incl. NUL */

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
	KXA_DEST,		/* string, destination node */
	KXA_HOP,		/* string, node; repeats (route order) */
	KXA_PAD,		/* u64 key ID + u32 length; repeats */
	KXA_SEALED,		/* bytes, relay_otp message */
	KXA_SEQ,		/* u64; in ACK and FETCHED, 1 + the room
				 * for keys of the pair (0: not said) */
	KXA_LSA_LINK,		/* u8 up, u8 level, u64 avail bits, u64
				 * rate bit/s, peer name; repeats */
	KXA_ROUTE,		/* string "A,B,C"; repeats */
	KXA_PORT,		/* string, [macsec NAME], [wireguard NAME] */
	KXA_SCI,		/* u64, not 0 */
	KXA_PEER_SCI,		/* u64, not 0 */
	KXA_AN,			/* u8, 0..3 */
	KXA_ROLE,		/* u8, enum node_role (not NONE) */
	KXA_VIA_TO,		/* string, node */
	KXA_VIA_FROM,		/* string, node */
	KXA_GW_LOCAL,		/* bytes, 4 or 16: sender's gateway address */
	KXA_GW_REMOTE,		/* bytes, same length: receiver's */
	KXA_REQID,		/* u32 */
	KXA_SA_MODE,		/* u8, enum qkd_sa_mode */
	KXA_SPI,		/* u32, >= 256 */
	KXA_KEY_ID_REV,		/* u64, key of the reverse direction */
	KXA_SA_LIFE,		/* 4 x u64: soft s, hard s, soft B, hard B */
	KXA_SOURCE,		/* string, key source kind ("sim", ...) */
	KXA_LINK_ROLE,		/* u8, enum qkd_role of the sender's end */
	KXA_RATE,		/* u64, bit/s; 0: not known */
	KXA_BLOCK_SIZE,		/* u32, bytes, not 0 */
	KXA_FINGERPRINT,	/* bytes, KXMSG_FINGERPRINT_LEN */
	KXA_NONCE,		/* bytes, KXMSG_NONCE_LEN */
	KXA_TAG,		/* bytes, KXMSG_TAG_LEN */
	KXA_SRC_KEY,		/* u64 block ID, u32 length (bytes), module
				 * key_ID (printable, no blanks); repeats */
};

#define KXA_LAST		KXA_SRC_KEY
#define KXMSG_FINGERPRINT_LEN	32
#define KXMSG_NONCE_LEN		16
#define KXMSG_TAG_LEN		16
#define KXMSG_SOURCE_MAX	16

/* CODE of a HEARTBEAT (absent: a plain heartbeat). */
#define KX_BEAT_PROBE		1
#define KX_BEAT_ECHO		2
/* CODE of a LINK_PARAMS (absent: an answer). */
#define KX_PARAMS_ASK		1

enum kxmsg_code {
	KXC_OK = 0,
	KXC_BAD_MESSAGE,	/* could not be decoded / not allowed now */
	KXC_UNKNOWN_SAE,	/* SAE not known here, or not at that node */
	KXC_NO_LINK,		/* no link to the sender */
	KXC_FETCH_FAILED,	/* the link end could not supply the bytes */
	KXC_STORE_FULL,		/* max_key_count reached for the pair */
	KXC_DUPLICATE,		/* UUID already used */
	KXC_NOT_PEER,		/* sender's identity is not the node it claims */
	KXC_NO_ROUTE,		/* relay: next hop unknown or unreachable */
	KXC_AUTH_FAILED,	/* relay: ITS MAC did not verify */
	KXC_REPLAY,		/* relay: pad already used */
	KXC_MACSEC_FAILED,	/* macsec: the SAs could not be installed */
	KXC_MISMATCH,		/* confirm: the two ends' blocks differ */
	KXC_MODULE_DOWN,	/* etsi014 source: the QKD module is not
				 * answering (or refused the request) */
	KXC_MODULE_MISMATCH,	/* etsi014 source: the module's answer does
				 * not match what the other end announced */
	KXC_WG_FAILED,		/* wireguard: the PSK could not be set */
	KXC_SWAN_FAILED,	/* strongswan: charon refused the PPK */
};

struct kxmsg_pad {
	uint64_t key_id;
	uint32_t len;
};

/* A block of an etsi014 link and the module key it is. */
struct kxmsg_src_key {
	uint64_t block;
	uint32_t len;			/* bytes, > 0 */
	char key_id[KXMSG_SRC_KEY_ID_MAX];
};

struct kxmsg_lsa_link {
	char peer[KM_NAME_MAX];
	uint8_t up;			/* 0 or 1 */
	uint8_t level;			/* enum qkd_pool_level */
	uint64_t avail_bits;
	uint64_t rate_bps;
};

/* SA lifetimes: seconds since added (soft >= 1, hard > soft); bytes, 0 =
 * none, else soft < hard. */
struct kxmsg_sa_life {
	uint64_t soft_s, hard_s, soft_bytes, hard_bytes;
};

/*
 * A decoded message, or one to encode: the fields of its type's attributes
 * are set, all others zero.  The storage of the repeated attributes comes
 * last; of it only the first n_slaves, n_hops, n_lsa, n_routes entries and
 * sealed_len bytes mean anything (see kxmsg_clear()).
 */
struct kxmsg {
	enum kxmsg_type type;
	char node[KM_NAME_MAX];
	uint64_t epoch;
	char uuid[KSA_KEY_ID_LEN];
	char master[KSA_SAE_ID_MAX];
	uint32_t n_slaves;
	char link[KM_NAME_MAX];
	uint64_t key_id;
	uint32_t key_len;
	uint32_t code;
	char text[KXMSG_TEXT_MAX];
	/* relay and LSA */
	char dest[KM_NAME_MAX];
	uint32_t n_hops;
	struct kxmsg_pad pads[KXMSG_MAX_PADS];
	uint32_t n_pads;
	uint32_t sealed_len;
	uint64_t seq;
	uint32_t n_lsa;
	uint32_t n_routes;
	/* macsec */
	char port[KM_NAME_MAX];
	uint64_t sci;
	uint64_t peer_sci;		/* 0: absent */
	uint8_t an;
	/* configurations 3 and 4 */
	uint8_t role;			/* enum node_role; LSA only */
	char via_to[KM_NAME_MAX];	/* "" unless sent through the hub */
	char via_from[KM_NAME_MAX];	/* "" unless forwarded by the hub */
	/* IPsec */
	uint8_t gw_local[16], gw_remote[16];
	uint8_t gw_len;			/* 4 or 16 */
	uint32_t reqid;
	uint8_t sa_mode;
	uint32_t spi;
	uint64_t key_id_rev;
	struct kxmsg_sa_life life;
	/* link agreement and key confirmation */
	char source[KXMSG_SOURCE_MAX];
	uint8_t link_role;		/* enum qkd_role */
	uint64_t rate;
	uint32_t block_size;
	uint8_t fingerprint[KXMSG_FINGERPRINT_LEN];
	uint8_t has_fingerprint;	/* 0 or 1 */
	uint8_t nonce[KXMSG_NONCE_LEN];
	uint8_t tag[KXMSG_TAG_LEN];
	/* etsi014 source */
	uint32_t n_src_keys;
	/* Repeated attributes: 16 of the 17 KiB.  slaves must come first. */
	char slaves[KM_MAX_SLAVES][KSA_SAE_ID_MAX];
	char hops[KXMSG_MAX_HOPS][KM_NAME_MAX];
	uint8_t sealed[KXMSG_SEALED_MAX];
	struct kxmsg_lsa_link lsa[KXMSG_MAX_LSA_LINKS];
	char routes[KXMSG_MAX_ROUTES][KXMSG_ROUTE_MAX];
	struct kxmsg_src_key src_keys[KXMSG_MAX_SRC_KEYS];
};

/*
 * Make @m an empty message of @type: clear every field but the storage of
 * the repeated attributes, which the counts (now 0) make meaningless.  A
 * node decodes and answers a message per key it reserves; clearing all of
 * struct kxmsg twice per key took 6 % of a loaded peer's CPU.
 */
void kxmsg_clear(struct kxmsg *m, enum kxmsg_type type);

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
