/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key relay across trusted nodes (Y.3802 10.4, reference point Kx-1):
 * end-to-end keys between SAEs whose nodes have no QKD link in common.
 *
 * Master SAE at A, slave at F, route A-B-...-F (lsa_route()):
 *  - A cuts key K from its share of link A-B exactly as for a direct
 *    pair (ksa.c) and sends RELAY_START (UUID, SAEs, key ID/length, route)
 *    to B.  No key bytes cross Kx.
 *  - B fetches K from its end of A-B.  Each trusted node N holding K
 *    forwards it to the next hop M as RELAY_KEY: K one-time padded and
 *    ITS-MACed (relay_otp.h) with fresh key from N's own share of link
 *    N-M, whose key IDs go with the message so that M fetches the
 *    identical pad from its end.  N then zeroises K.
 *  - Pad cannot be reused: it comes only from keysrc_alloc() at the
 *    sender and keysrc_get() at the receiver, and both hand out each byte
 *    of a link at most once (per-byte bitmaps, persisted high-water
 *    marks).  Each message gets a fresh relay_link (one pad stream that
 *    holds exactly that message's pad), so stream state never has to be
 *    resynchronised after a reconnect.  A replayed message asks for pad
 *    the receiver already used: keysrc_get() fails, the message is
 *    refused (KXC_REPLAY).
 *  - The destination checks the tag before the plaintext is used and
 *    stores K under the UUID for the slaves (ksa_relay_deliver()), as a
 *    Kx-2 reservation would: dec_keys works as for a direct pair.
 *  - RELAY_ACK (code) travels back along the route to A, which finishes
 *    its record (consumed, or destroyed with an alarm).
 * Any failure (MAC, replay, fetch, malformed, next hop down) discards K
 * at that node, logs an alarm without key bytes, counts it and NAKs.
 */
#ifndef QKD_RELAY_H
#define QKD_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kx/kxmsg.h"

struct kma;
struct lsa;
struct relay;

/*
 * Session control (Y.3802 Appendix I, overload control).  Every relayed
 * key is a session, open at its source from RELAY_START until its
 * RELAY_ACK (or RELAY_SESSION_TIMEOUT_MS).  A request is admitted only if
 * its keys fit in the open-session slots its SAE's priority may use, and
 * if the route's key pools (as advertised) are healthy enough for it:
 *
 *	priority  slots it may fill   worst pool level on the route
 *	high      all                 any usable
 *	normal    3/4                 LOW or better
 *	low       1/2                 READY
 *
 * so that under load or scarce key, high-priority applications still get
 * keys.  A refused request gets 503 with the reason; counters per
 * priority show in "relay show".  The priorities are enum relay_priority
 * (core/config.h: [sae] priority).
 */
#define RELAY_SESSIONS_DEFAULT	512
/* A source session with no answer after this is closed as "timed out"
 * (soft state: a relay message died with a node); the slave's dec_keys
 * gave up long before (KSA_RETRY_WAIT_MS). */
#define RELAY_SESSION_TIMEOUT_MS	3000

/* Largest relayed key, bytes: fits a RELAY_KEY message. */
#define RELAY_KEY_MAX		1024
/* Relay sessions remembered (session control), and shown. */
#define RELAY_SESSIONS_KEPT	CONFIG_RELAY_SESSIONS_MAX
#define RELAY_SESSIONS_SHOWN	256
/* Pad key ranges remembered per link direction for the audit view. */
#define RELAY_RANGES_KEPT	512

struct relay_transport {
	int (*send)(void *arg, const char *node, const struct kxmsg *m);
	bool (*is_up)(void *arg, const char *node);
	/* Optional: a session through @node got no answer in time. */
	void (*suspect)(void *arg, const char *node);
};

struct relay *relay_new(struct kma *kma, struct lsa *lsa,
			const char *node, const struct relay_transport *tr,
			void *tr_arg);
void relay_free(struct relay *relay);

/* RELAY_START / RELAY_KEY / RELAY_ACK from authenticated peer @from. */
void relay_receive(struct relay *relay, const char *from,
		   const struct kxmsg *m);

/* ---- used by ksa.c (enc_keys for a slave at a non-adjacent node) ---- */

struct relay_route {
	uint32_t n_hops;			/* nodes, this node first */
	char hops[KXMSG_MAX_HOPS][KM_NAME_MAX];
};

/*
 * Route for @count keys of @len bytes to @dst, every hop able to pad all
 * of them (as its pool is advertised): 0, or -errno and a sentence.
 */
int relay_route(struct relay *relay, const char *dst, uint32_t len,
		uint32_t count, struct relay_route *rt, char *why,
		size_t whylen);
/* Open-session slots of this node (1..RELAY_SESSIONS_KEPT). */
void relay_set_max_sessions(struct relay *relay, uint32_t max);
/*
 * Admission of @count keys for @master_sae (at its priority) over @rt:
 * 0, or -EBUSY with the reason in @why.  Counted either way.
 */
int relay_admit(struct relay *relay, const char *master_sae,
		uint32_t count, const struct relay_route *rt, char *why,
		size_t whylen);
/* Priority of local SAE @sae (default normal).  0, or -ENOSPC. */
int relay_set_priority(struct relay *relay, const char *sae,
		       enum relay_priority prio);
/*
 * No route to @dst for a request (relay_route() failed with @why): alarm
 * "relay:DST", cleared once relay_route() finds one again or a key to
 * @dst is acknowledged.
 */
void relay_note_unroutable(struct relay *r, const char *dst, const char *why);

/*
 * Send RELAY_START for the key @reserve describes (a filled RESERVE: UUID,
 * SAEs, key ID and length on the first hop's link) along @rt.  0, or -1.
 */
int relay_start(struct relay *relay, const struct relay_route *rt,
		const struct kxmsg *reserve);

/* ---- up to the key supply (ksa.c registers it) ---- */

struct relay_delivery {
	/*
	 * Destination: store relayed key @bytes (@m->key_len bytes, moved in
	 * and wiped in the caller's buffer either way) under @m->uuid for
	 * @m's SAEs, master at node @origin; @prev is the node it came from.
	 * Returns a kxmsg code and, if refused, a reason in @why.
	 */
	uint32_t (*deliver)(void *arg, const char *origin, const char *prev,
			    const struct kxmsg *m, uint8_t *bytes,
			    const char **why);
	/* Source: the RELAY_ACK for a key it started, as a Kx-2 ACK. */
	void (*ack)(void *arg, const char *from, const struct kxmsg *ack);
};

/*
 * Who takes delivered keys and acks; NULL: none (relayed keys for this
 * node are refused).
 */
void relay_set_delivery(struct relay *relay, const struct relay_delivery *up,
			void *arg);

/* ---- state for the operator views (mgmt/view_relay.c): never key bytes */

const char *relay_priority_name(enum relay_priority prio);

/* Admission counters of one priority. */
struct relay_admission {
	uint64_t admitted, refused_busy, refused_pool;
};

/* Sessions and counters of this node. */
struct relay_info {
	uint32_t max_sessions;		/* open-session slots */
	uint32_t open;			/* source sessions awaiting an answer */
	uint64_t timed_out;		/* source sessions closed unanswered */
	struct relay_admission adm[RELAY_PRIO_COUNT];
	uint64_t started, forwarded, delivered, acked, refused;
	uint64_t auth_alarms;		/* relayed keys failing their ITS MAC */
};

/*
 * Fills @out.  Closes the source sessions that timed out first (as
 * admission does), so call it before relay_session_info() for a view.
 */
void relay_info(struct relay *relay, struct relay_info *out);

enum relay_session_role {
	RELAY_SESSION_SOURCE,
	RELAY_SESSION_TRANSIT,
	RELAY_SESSION_DEST,
};

const char *relay_session_role_name(enum relay_session_role role);

/* One relayed key as this node saw it. */
struct relay_session_info {
	char key_id[KSA_KEY_ID_LEN];	/* UUID */
	enum relay_session_role role;
	char route[160];		/* "A-B-C" */
	char state[96];			/* last event, operator prose */
	uint64_t age_ms;		/* since its first message here */
	bool open;			/* source: started, not yet answered */
};

/* Sessions remembered (up to RELAY_SESSIONS_KEPT); index 0 is the oldest. */
size_t relay_session_count(const struct relay *relay);
/* 0, or -1 if @i is out of range. */
int relay_session_info(const struct relay *relay, size_t i,
		       struct relay_session_info *out);

/*
 * Pad accounting of one direction of one link: pad bytes taken from the
 * key source, the relay_otp counters (consumed == relayed + MAC key +
 * discarded) and the pad key ranges used (for "no block twice" audits).
 */
struct relay_acct {
	uint64_t pad_bytes;		/* taken from the key source */
	uint64_t pad_bits_consumed;	/* relay_otp cursor witness */
	uint64_t relayed_bits, mac_key_bits, discarded_bits;
	uint64_t messages, rejected, auth_failures;
	struct kxmsg_pad ranges[RELAY_RANGES_KEPT];	/* newest last */
	uint32_t n_ranges;
};

/* Every pad bit taken was consumed, and every one consumed is counted. */
bool relay_acct_balanced(const struct relay_acct *a);

struct relay_link_info {
	char link[KM_NAME_MAX];
	char peer[KM_NAME_MAX];
	struct relay_acct tx, rx;
};

/* One per link of the key manager, in its order. */
size_t relay_link_count(const struct relay *relay);
/* 0, or -1 if @i is out of range. */
int relay_link_info(const struct relay *relay, size_t i,
		    struct relay_link_info *out);

#ifdef QKD_TEST_HOOKS
/* Flip one bit of the next sealed relay message this node sends. */
void relay_test_tamper_next(struct relay *relay);
#endif

#endif /* QKD_RELAY_H */
