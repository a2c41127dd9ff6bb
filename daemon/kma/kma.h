/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KMA key store: the links of this node (one key source each) and the
 * application key records cut from them (DESIGN.md section 4).
 *
 * A record names a key by UUID and by where it lies on its link (source key
 * ID and length).  Its lifecycle:
 *
 *   master's node: RESERVED (handed to the master, reservation sent to the
 *                  slave's node) -> CONSUMED (peer acked) or DESTROYED
 *                  (peer refused, or no answer in time); never holds bytes.
 *   slave's node:  STORED (bytes fetched from the link, in the secure heap)
 *                  -> SUPPLIED (some slaves served) -> CONSUMED (all served;
 *                  bytes zeroised) or DESTROYED (expired/evicted unused).
 *
 * Final records (CONSUMED, DESTROYED) are kept for a while as tombstones so a
 * repeated key ID is recognised; the store is bounded and drops the oldest
 * tombstones first.  Only ksa.c changes records, through the functions
 * below; the record itself is the store's.
 */
#ifndef QKD_KMA_H
#define QKD_KMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "kma/keysrc.h"

struct loop;


/*
 * Open every link's key source.  Sim sources keep their high-water marks
 * in @node->state_dir/<link>.hwm.  Kernel sources need the qkd module.
 */
struct kma *kma_new(struct loop *loop, const struct km_node_cfg *node,
		    const struct kma_link_cfg *links, size_t n_links,
		    char *err, size_t errlen);
void kma_free(struct kma *kma);

/*
 * Links with source = etsi014: how they reach their far node over Kx, and
 * the SRC_KEYS / SRC_ACK messages that node sends (keysrc_etsi014.h).
 */
struct kxmsg;
struct keysrc_etsi014_kx;
void kma_etsi014_use_kx(struct kma *kma, const struct keysrc_etsi014_kx *kx,
			void *arg);
void kma_etsi014_receive(struct kma *kma, const char *from,
			 const struct kxmsg *m);

/* ---- Read-only views (metadata, never key bytes) ---- */

struct kma_link_info {
	char name[KM_NAME_MAX];
	char peer[KM_NAME_MAX];
	enum km_source source;
	enum qkd_role role;
	bool up;			/* source delivering key */
	uint32_t block_size;		/* bytes */
	uint64_t avail;			/* bytes this end may still allocate */
	enum qkd_pool_level level;
	uint64_t pool_warn, pool_ready;	/* level thresholds in force, bytes */
	uint32_t keys_held;		/* application key records in store */
	uint64_t bytes_allocated;	/* own share handed out */
	uint64_t bytes_fetched;		/* peer share fetched */
	uint64_t bytes_discarded;
	uint64_t fetch_failures;
	uint64_t rate_bps;		/* key generation rate; 0: unknown */
	struct keysrc_gen gen;		/* generation control and figures */
	/* key confirmation (kma/confirm.h); all 0 without it */
	bool confirming;
	char agreement[16];		/* "waiting", "agreed", "refused" */
	char refused[160];		/* why, if refused */
	uint64_t blocks_confirmed;
	uint64_t blocks_mismatched;
	uint64_t blocks_unconfirmed;	/* unanswered or unreadable */
	uint64_t confirm_key_bytes;	/* key spent on confirmation */
	/* source = etsi014: the modules' state and the source's counters */
	bool has_module;
	bool module_up, peer_module_up;
	uint64_t module_requests, module_failures, module_backoffs;
	uint64_t module_keys_taken, module_keys_refused;
	/* kernel_push = yes: confirmed blocks into a qkd.ko push end */
	bool kernel_push;
	uint32_t link_id;
	uint64_t blocks_pushed, blocks_push_skipped, blocks_push_failed;
};

/*
 * The Kx channel as the transport of key confirmation and link agreement
 * (confirm.h): LINK_PARAMS, CONFIRM and CONFIRM_ACK from @peers come here.
 * NULL detaches: call it before peers_stop().
 */
struct peers;
void kma_use_peers(struct kma *kma, struct peers *peers);

size_t kma_link_count(const struct kma *kma);
/* Link @i's configuration, seed cleared, thresholds in force: 0, or -1. */
int kma_link_cfg(const struct kma *kma, size_t i, struct kma_link_cfg *out);
/*
 * Set link @name's pool thresholds as a [link] section sets them (0: the
 * default), in force from the next kma_link_info(): pool levels, alarms
 * and link-state advertisements follow.  The caller checked them
 * (config_check_pool()).  0, or -ENOENT.
 */
int kma_link_set_pool(struct kma *kma, const char *name, uint64_t pool_warn,
		      uint64_t pool_ready);
/*
 * Start (@run) or stop key generation on link @name at this end (Y.3802
 * 10.2): 0, -ENOENT (no such link), -EOPNOTSUPP (its source has no
 * generation control: etsi014, file) or the source's -errno; the reason
 * in @err.  Not persisted: see Documentation/qkd/manager.rst.
 */
int kma_link_set_generation(struct kma *kma, const char *name, bool run,
			    char *err, size_t errlen);
/*
 * Add link @cfg at run time (runtime provisioning), its source opened as
 * kma_new() opens one; no other link moves.  If its peer's Kx channel is
 * up, link agreement starts at the source's first tick, else when the
 * channel comes up.  The
 * caller checked @cfg (config_link_check()) and cleanses its seed.  0, or
 * -EEXIST (name or peer taken), -EIO (the source would not open), with
 * the reason in @err.
 */
int kma_link_add(struct kma *kma, const struct kma_link_cfg *cfg, char *err,
		 size_t errlen);
/*
 * Remove link @name: its key records (bytes zeroised), then its source.
 * The KSA ends its live records first (ksa_link_remove()).  0, -ENOENT.
 */
int kma_link_remove(struct kma *kma, const char *name);
/* 0, or -1 if @i is out of range. */
int kma_link_info(const struct kma *kma, size_t i, struct kma_link_info *out);

enum kma_key_state {
	KMA_KEY_STORED,		/* bytes held here, waiting for an SAE */
	KMA_KEY_RESERVED,	/* master side: sent to the peer, not acked */
	KMA_KEY_SUPPLIED,	/* handed to an SAE (some slaves may wait) */
	KMA_KEY_CONSUMED,	/* handed to every SAE; bytes zeroised */
	KMA_KEY_DESTROYED,	/* discarded unused (expired, lost, evicted) */
};

const char *kma_key_state_name(enum kma_key_state s);

/*
 * Whom a record's key is for, as the key supply above counts them: it is
 * kept with the record for the KSA, and the store never reads it.
 */
struct kma_key_use {
	uint16_t master;		/* indexes into the KSA's SAE table */
	uint16_t slaves[KM_MAX_SLAVES];
	uint32_t n_slaves;
	uint32_t delivered;		/* bit i: slaves[i] served */
	uint32_t pair;			/* KSA pair index */
};

struct kma_key_info {
	char key_id[KSA_KEY_ID_LEN];	/* UUID */
	char link[KM_NAME_MAX];
	uint64_t src_key_id;		/* block_id << 16 | offset */
	uint32_t len;			/* bytes */
	struct kma_key_use use;		/* SAE indexes: ksa_foreach_key() names them */
	enum kma_key_state state;
	uint64_t gen_time_ns;		/* block generation, CLOCK_REALTIME */
	uint64_t created_ns;		/* record created here, CLOCK_REALTIME */
	uint64_t changed_ns;		/* last state change, CLOCK_REALTIME */
};

/* Calls @fn for every key record (newest last); stops if @fn returns != 0. */
void kma_foreach_key(const struct kma *kma,
		     int (*fn)(void *arg, const struct kma_key_info *k),
		     void *arg);

/* Records the store holds, live and tombstones. */
#define KMA_MAX_RECORDS		(1u << 18)

struct kma_link;

/*
 * Expiry queues.  Every record also sits in the queue of its state's
 * class, in the order it entered that queue (queued_ms), so that an expiry
 * pass looks only at records that are due and stops at the first that is
 * not, and the oldest tombstone is always at hand.
 */
enum kma_queue {
	KMA_Q_RESERVED,		/* RESERVED: waiting for the peer's ACK */
	KMA_Q_STORED,		/* STORED, SUPPLIED: bytes waiting for SAEs */
	KMA_Q_FINAL,		/* CONSUMED, DESTROYED: tombstones */
	KMA_QUEUES,
};


struct kma_link *kma_link_by_peer(struct kma *kma, const char *node);
struct kma_link *kma_link_at(struct kma *kma, size_t i);
const char *kma_link_name(const struct kma_link *l);
const char *kma_link_peer(const struct kma_link *l);
struct keysrc *kma_link_src(struct kma_link *l);

/* Node name given to kma_new(). */
const char *kma_node(const struct kma *kma);

/*
 * A fresh record (state @state, zero slaves), or NULL if the store is full
 * of live records (ENOSPC) or @uuid exists (EEXIST).
 */
struct kma_key *kma_key_add(struct kma *kma, struct kma_link *link,
			    const char *uuid, enum kma_key_state state);
struct kma_key *kma_key_find(struct kma *kma, const char *uuid);
/* Move to @state; final states zeroise and free the bytes. */
void kma_key_set_state(struct kma *kma, struct kma_key *k,
		       enum kma_key_state state);
/* Unlink and free a record (zeroising its bytes). */
void kma_key_remove(struct kma *kma, struct kma_key *k);
/*
 * The record longest in queue @q, then the next younger in the same queue
 * (kma_key_queue_next()), with the time each entered it; for expiry.
 */
struct kma_key *kma_key_oldest(struct kma *kma, enum kma_queue q);
struct kma_key *kma_key_queue_next(const struct kma_key *k);
uint64_t kma_key_queued_ms(const struct kma_key *k);
size_t kma_key_live_count(const struct kma *kma);

/* ---- one record (struct kma_key is the store's own) ---- */

const char *kma_key_uuid(const struct kma_key *k);
struct kma_link *kma_key_link(const struct kma_key *k);
enum kma_key_state kma_key_state(const struct kma_key *k);
/* Where the key lies: source key ID (block_id << 16 | offset) or 0. */
uint64_t kma_key_src_id(const struct kma_key *k);
uint32_t kma_key_len(const struct kma_key *k);	/* bytes */
/* Set where the key lies, its length and when its block was made. */
void kma_key_set_source(struct kma_key *k, uint64_t src_id, uint32_t len,
			uint64_t gen_time_ns);
struct kma_key_use *kma_key_use(struct kma_key *k);
/* The key bytes (slave side, STORED or SUPPLIED), or NULL. */
const uint8_t *kma_key_bytes(const struct kma_key *k);
/*
 * Give the record its bytes: kma_key_len() bytes from the OpenSSL secure
 * heap, owned (and zeroised when it ends) by the store from now on.
 */
void kma_key_set_bytes(struct kma_key *k, uint8_t *bytes);

#ifdef QKD_UNIT_TEST
/* Make @k look @ms older in its expiry queue. */
void kma_key_test_age(struct kma_key *k, uint64_t ms);
#endif

/*
 * Build a store over ready-made sources (tests; kma_new() uses it).  Takes
 * ownership of @srcs[i] (freed by kma_free()) even on failure.
 */
struct kma *kma_new_with_sources(const struct km_node_cfg *node,
				 const struct kma_link_cfg *links,
				 struct keysrc **srcs, size_t n_links,
				 char *err, size_t errlen);

uint64_t kma_realtime_ns(void);

#endif /* QKD_KMA_H */
