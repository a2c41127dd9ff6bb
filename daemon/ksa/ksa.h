/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KSA: key supply to applications (Y.3802 7.2, reference point Ak).
 *
 * This is the boundary between the ETSI GS QKD 014 front end (etsi014.c,
 * which speaks HTTP and JSON) and the key manager (which stores keys and
 * keeps the peer KSA in sync over Kx-2).  The front end authenticates the
 * caller (SAE ID from the client certificate) and validates the request
 * syntax; everything here takes already-authenticated SAE IDs.
 *
 * Sizes are in bits, always a positive multiple of 8.  Key material is
 * returned in buffers from the OpenSSL secure heap (mlock'd), which must
 * be released with ksa_keys_free() (that zeroises them).
 *
 * Added by D1b: KSA_RETRY (dec_keys only).  The slave's node may hear of a
 * key's Kx-2 reservation a little after the master got it.  When a
 * requested key ID is not known here yet, ksa_dec_keys() delivers nothing
 * and returns KSA_RETRY; the front end calls it again every
 * KSA_RETRY_INTERVAL_MS (from a loop timer, not blocking) and, once
 * KSA_RETRY_WAIT_MS have passed since the request arrived, answers
 * KSA_NOT_FOUND's error instead, after ksa_dec_final().
 *
 * "Not found" is final: ksa_dec_final() leaves a tombstone for every
 * requested key ID not known here, so that a reservation or relayed key
 * for it that arrives later is refused (its source records the key
 * destroyed, never delivered) instead of being served to a later request.
 */
#ifndef QKD_KSA_H
#define QKD_KSA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "kma/kma.h"

struct ksa;
struct kma;
struct kxmsg;

#define KSA_SAE_ID_MAX	128	/* bytes incl. NUL */
#define KSA_KEY_ID_LEN	37	/* canonical UUID text incl. NUL */

/* Answers, mapped by the front end to HTTP status codes and ETSI messages. */
enum ksa_result {
	KSA_OK = 0,
	KSA_BAD_REQUEST,	/* 400, with a message in ksa_err */
	KSA_UNAUTHORIZED,	/* 401: SAE may not use this pair */
	KSA_NOT_FOUND,		/* 400 "one or more keys specified are not found on KME" */
	KSA_UNAVAILABLE,	/* 503: not enough key, peer unreachable... */
	KSA_RETRY,		/* dec_keys: not known yet, ask again (above) */
};

#define KSA_RETRY_INTERVAL_MS	20
#define KSA_RETRY_WAIT_MS	1000

/* Why a request was refused, beyond its enum ksa_result (accounting). */
enum ksa_why {
	KSA_WHY_ANY = 0,	/* nothing finer than the result */
	KSA_WHY_UNKNOWN_SAE,	/* the other SAE is not in the SAE table */
	KSA_WHY_OUT_OF_KEYS,	/* the link's pool (or relay route) had too little */
	KSA_WHY_UNREACHABLE,	/* the peer KME is down or has no room */
};

struct ksa_err {
	char message[160];	/* never contains key bytes */
	uint8_t why;		/* enum ksa_why */
};

/* Answer to Get status (ETSI 014 clause 6.1), for one master/slave pair. */
struct ksa_status {
	char source_kme_id[KSA_SAE_ID_MAX];
	char target_kme_id[KSA_SAE_ID_MAX];
	char master_sae_id[KSA_SAE_ID_MAX];
	char slave_sae_id[KSA_SAE_ID_MAX];
	uint32_t key_size;		/* default size, bits */
	uint32_t stored_key_count;
	uint32_t max_key_count;
	uint32_t max_key_per_request;
	uint32_t max_key_size;
	uint32_t min_key_size;
	uint32_t max_sae_id_count;	/* additional slaves allowed */
};

struct ksa_key {
	char key_id[KSA_KEY_ID_LEN];
	uint32_t size;			/* bits */
	uint8_t *key;			/* size / 8 bytes, in locked memory */
	bool relayed;			/* the pair's keys cross relay nodes */
};

/* The caller (an SAE) asks for its own view of the pair. */
enum ksa_result ksa_status(struct ksa *ksa, const char *master_sae,
			   const char *slave_sae, struct ksa_status *out,
			   struct ksa_err *err);

/*
 * Master SAE @master gets @number new keys of @size bits (0: the default
 * key_size of the status) shared with @slave and the @n_extra additional
 * slaves.  Needs no round trip to the peer: the peer KSA learns the
 * reservation asynchronously (Kx-2).
 * On KSA_OK, @out[0..number-1] are filled; free with ksa_keys_free().
 */
enum ksa_result ksa_enc_keys(struct ksa *ksa, const char *master,
			     const char *slave, const char *const *extra,
			     size_t n_extra, uint32_t number, uint32_t size,
			     struct ksa_key *out, struct ksa_err *err);

/*
 * Slave SAE @slave gets the keys named by @key_ids that @master obtained
 * for it.  All or nothing: one unknown, foreign or already delivered ID
 * fails the whole request and delivers none.  Each key is delivered to each
 * SAE at most once.
 */
enum ksa_result ksa_dec_keys(struct ksa *ksa, const char *slave,
			     const char *master, const char *const *key_ids,
			     size_t n, struct ksa_key *out, struct ksa_err *err);

void ksa_keys_free(struct ksa_key *keys, size_t n);

/*
 * The front end answers "not found" to this dec_keys: make it final (see
 * above).  Key IDs known here are left alone; returns how many tombstones
 * were added.
 */
size_t ksa_dec_final(struct ksa *ksa, const char *slave, const char *master,
		     const char *const *key_ids, size_t n);

/*
 * Build the KSA over @kma.  Checks the SAE table: unique names and cert
 * CNs, every SAE's node known (this node or a link peer); @limits sane.
 */
struct ksa *ksa_new(struct kma *kma, const struct km_node_cfg *node,
		    const struct ksa_sae_cfg *saes, size_t n_saes,
		    const struct ksa_limits *limits, char *err, size_t errlen);
void ksa_free(struct ksa *ksa);

/*
 * ---- The SAE table at run time (configuration management, 10.1) ----
 * An SAE added is served at once (ETSI 014 looks callers up here by
 * certificate CN); one removed is refused from then on (401), its keys
 * stay until they expire or are taken.  Errors are -errno with the reason
 * in @err: -EINVAL (field missing), -EEXIST (the id or the cert_cn is
 * taken), -ENOENT (no such SAE), -ENOSPC, -ENOMEM.
 */
int ksa_sae_add(struct ksa *ksa, const struct ksa_sae_cfg *sae, char *err,
		size_t errlen);
int ksa_sae_remove(struct ksa *ksa, const char *name, char *err,
		   size_t errlen);
/* The @i-th SAE in the table now: 0, or -1 past the end. */
int ksa_sae_get(const struct ksa *ksa, size_t i, struct ksa_sae_cfg *out);

/*
 * Links added or removed at run time: SAEs and pairs look their link up
 * again (kma_link_by_peer()).  Call after kma_link_add().
 */
void ksa_links_changed(struct ksa *ksa);
/*
 * Remove link @name: its live keys are destroyed as expiry destroys them
 * (the pairs' counts follow), then the store drops the link, its records
 * and its source (kma_link_remove()).  0, or -ENOENT.
 */
int ksa_link_remove(struct ksa *ksa, const char *name);
/* The SAE whose certificate CN is @cn, into @out: 0, or -1 if none. */
int ksa_sae_by_cn(const struct ksa *ksa, const char *cn, char *out,
		  size_t len);

/*
 * ---- Kx-2 wiring between the KSA and the Kx channel ----
 * main.c wires it to the peers (peer.h); unit tests wire two KSAs back to
 * back.
 */
struct ksa_kx_ops {
	/* Queue @m for peer node @node: 0, or -1 if it is not reachable. */
	int (*send)(void *arg, const char *node, const struct kxmsg *m);
	/* True once a hello was exchanged with @node on a live channel. */
	bool (*is_up)(void *arg, const char *node);
};

void ksa_set_kx(struct ksa *ksa, const struct ksa_kx_ops *ops, void *arg);
/*
 * The Kx channel as transport: RESERVE and ACK from @peers come here, and
 * answers go out through it.  NULL detaches: call it before peers_stop().
 */
struct peers;
void ksa_use_peers(struct ksa *ksa, struct peers *peers);
/*
 * A RESERVE or ACK from authenticated peer node @from (peer.c checked the
 * certificate).  Answers (ACK) go out through ops->send.
 */
void ksa_kx_receive(struct ksa *ksa, const char *from, const struct kxmsg *m);

/*
 * Lets ksa_enc_keys() relay to SAEs at non-adjacent nodes, and takes the
 * keys @relay delivers here.  NULL detaches: call it before relay_free().
 */
struct relay;
void ksa_set_relay(struct ksa *ksa, struct relay *relay);

/*
 * ---- Accounting (Y.3802 management layer) ----
 * The front end reports each answer to enc_keys or dec_keys once it has
 * handed the answer to TLS: keys supplied, or keys refused and why.  The
 * KSA passes the event on to whoever registered (mgmt/account.c, wired by
 * main.c), so that the key supply layer never depends on management.
 */
enum ksa_acct_op { KSA_ACCT_ENC, KSA_ACCT_DEC };

struct ksa_acct_event {
	enum ksa_acct_op op;
	const char *master, *slave;	/* the pair (first slave for enc_keys) */
	uint32_t keys;			/* supplied, or asked for if refused */
	uint64_t bits;			/* supplied bits (0 if refused) */
	uint32_t relayed;		/* of @keys, those of a relayed pair */
	uint64_t relayed_bits;
	enum ksa_result result;		/* KSA_OK: supplied */
	uint8_t why;			/* enum ksa_why, if refused */
	bool undelivered;		/* keys taken but the answer not sent */
};

typedef void (*ksa_acct_fn)(void *arg, const struct ksa_acct_event *ev);

/* @fn gets every event from now on; NULL detaches. */
void ksa_set_accounting(struct ksa *ksa, ksa_acct_fn fn, void *arg);
/* The front end's report; a no-op without a registered @fn.  An SAE ID
 * not in the SAE table goes on as "*". */
void ksa_account(struct ksa *ksa, const struct ksa_acct_event *ev);
bool ksa_accounting_on(const struct ksa *ksa);

/* ---- Read-only views (metadata, never key bytes) ---- */

struct ksa_pair_info {
	char master[KSA_SAE_ID_MAX];
	char slave[KSA_SAE_ID_MAX];
	char master_node[KM_NAME_MAX];
	char slave_node[KM_NAME_MAX];
	char link[KM_NAME_MAX];
	uint32_t keys_stored;		/* here, waiting for this node's SAE */
	uint64_t keys_supplied;		/* handed out here, since start */
	uint64_t keys_pending;		/* master side: reservation not acked */
};

size_t ksa_pair_count(const struct ksa *ksa);
int ksa_pair_info(const struct ksa *ksa, size_t i, struct ksa_pair_info *out);

/* A key record with the names of its SAEs. */
struct ksa_key_info {
	struct kma_key_info rec;
	char master[KSA_SAE_ID_MAX];
	char slaves[KM_MAX_SLAVES][KSA_SAE_ID_MAX];	/* rec.use.n_slaves */
};

/* Calls @fn for every key record (newest last); stops if @fn returns != 0. */
void ksa_foreach_key(const struct ksa *ksa,
		     int (*fn)(void *arg, const struct ksa_key_info *k),
		     void *arg);

#endif /* QKD_KSA_H */
