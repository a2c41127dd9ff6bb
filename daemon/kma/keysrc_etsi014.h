/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key source "etsi014" (keysrc_etsi014.c): keys from a commercial QKD
 * module that delivers them over ETSI GS QKD 014.  Each end's module is a
 * KME; this node is its SAE client (mutual TLS).
 *
 * The end with role = tx is the master: it calls enc_keys at its module
 * for the far node's SAE ID (peer_sae_id), numbers the keys as blocks in
 * sequence (each module key is one block of block_size bytes) and sends
 * (block ID, module key_ID) pairs to the far node over Kx (SRC_KEYS).  The
 * rx end calls dec_keys at its own module for those key_IDs, stores the
 * same blocks and answers (SRC_ACK); only then does the tx end use them.
 * From there on the blocks are used as every source's are (keysrc.h): tx
 * allocates even blocks, rx odd.
 */
#ifndef QKD_KEYSRC_ETSI014_H
#define QKD_KEYSRC_ETSI014_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kma/keysrc.h"
#include "kx/kxmsg.h"

struct loop;

struct keysrc_etsi014_cfg {
	const char *link_name;
	const char *peer;		/* the far node */
	const char *where;		/* "FILE:LINE" of the [link], for alarms */
	enum qkd_role role;
	uint32_t block_size;		/* bytes: the size of each module key */
	const char *url;		/* "https://host:port" */
	const char *ca, *cert, *key;	/* PEM files */
	const char *sae_id;		/* ours at our module */
	const char *peer_sae_id;	/* the far node's */
	uint32_t store_min, store_max;	/* blocks of each share */
	uint32_t timeout_ms;		/* one request to the module */
};

struct keysrc *keysrc_etsi014_new(struct loop *loop,
				  const struct keysrc_etsi014_cfg *cfg,
				  char *err, size_t errlen);

/* How the source reaches the far node (peers_send, peers_is_up). */
struct keysrc_etsi014_kx {
	int (*send)(void *arg, const char *node, const struct kxmsg *m);
	bool (*is_up)(void *arg, const char *node);
};
void keysrc_etsi014_set_kx(struct keysrc *src,
			   const struct keysrc_etsi014_kx *kx, void *arg);
/* A SRC_KEYS or SRC_ACK from the far node of this source's link. */
void keysrc_etsi014_receive(struct keysrc *src, const struct kxmsg *m);

/* Counters for the views (metadata only). */
struct keysrc_etsi014_stats {
	bool module_up;			/* our module answers */
	bool peer_module_up;		/* the far node's does, as it says */
	uint64_t requests, failures, backoffs;
	uint64_t keys_taken;		/* module keys stored as blocks */
	uint64_t keys_refused;		/* taken but refused / discarded */
	uint32_t blocks_held;
};
void keysrc_etsi014_stats(struct keysrc *src,
			  struct keysrc_etsi014_stats *out);

/* ---- parsing the module's answers (fuzz/fuzz_etsi014_src.c) ---- */

/* A Status object; fields absent from the answer are 0 / "". */
struct keysrc_etsi014_status {
	char master_sae_id[KSA_SAE_ID_MAX];
	char slave_sae_id[KSA_SAE_ID_MAX];
	uint32_t key_size;		/* bits */
	uint32_t stored_key_count, max_key_count;
	uint32_t max_key_per_request;
	uint32_t max_key_size, min_key_size;	/* bits */
};

/*
 * Parse a Status body.  0, or -1 with a reason in @err for a body that is
 * not a JSON object with the spec's integer fields (key_size,
 * max_key_per_request, max_key_size, min_key_size required and > 0).
 */
int keysrc_etsi014_parse_status(const char *body, size_t len,
				struct keysrc_etsi014_status *out,
				char *err, size_t errlen);

struct keysrc_etsi014_key {
	char key_id[KXMSG_SRC_KEY_ID_MAX];
};

/*
 * Parse a Key container: at most @max keys, each exactly @key_len bytes
 * once decoded (base64); IDs into @keys, bytes back to back into @bytes
 * (room for @max * @key_len).  A key_ID that is empty, too long, not
 * printable or repeated within the container rejects the whole answer.
 * 0 and *@n, or -1 with a reason (never key bytes) in @err; on failure
 * @bytes is zeroised.
 */
int keysrc_etsi014_parse_keys(const char *body, size_t len, uint32_t max,
			      uint32_t key_len,
			      struct keysrc_etsi014_key *keys, uint8_t *bytes,
			      uint32_t *n, char *err, size_t errlen);

#endif /* QKD_KEYSRC_ETSI014_H */
