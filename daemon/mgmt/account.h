/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Accounting (Y.3802 7.4, management layer): keys supplied to and refused
 * to each SAE pair, per interval, kept in state_dir so that a charging
 * system can bill what applications were given.
 *
 * Fed by the KSA's accounting hook (ksa_set_accounting(), wired by
 * main.c): the ETSI 014 front end reports each enc_keys/dec_keys answer
 * once TLS took it.  And by the consumers' hook (kma_take_set_hook(),
 * kma/take.h): each key the node's own consumers (MACsec, WireGuard,
 * strongSwan, IPsec, the kernel push ends) take from a link's pool, kept
 * as a "consumer" ("wireguard:w0") with its peer node and link beside the
 * SAE pairs.  Two append-only files of framed records:
 *
 *   accounting.journal  one record per answer of the open interval,
 *                       written (one write(2) per event loop pass) before
 *                       the loop submits the pass's socket sends, so a
 *                       process crash loses no answer a client got;
 *   accounting.log      one record per SAE pair per closed interval,
 *                       fsync'd before the interval counts as closed;
 *                       then the journal is emptied.
 *
 * At start the log is read (totals continue), then the journal's records
 * of intervals the log does not hold yet are closed into the log.  A torn
 * or corrupt record (length and CRC-32 checked) is skipped, and a torn
 * tail cut off, never breaking the file.  Documentation/qkd/accounting.rst
 * has the record format and the crash behaviour.
 */
#ifndef QKD_ACCOUNT_H
#define QKD_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kma/take.h"
#include "ksa/ksa.h"

struct loop;
struct account;

/* Why keys were refused; the order is the record's and the exports'. */
enum acct_reason {
	ACCT_R_UNAUTHORIZED,	/* 401: the caller may not use the pair */
	ACCT_R_UNKNOWN_SAE,	/* the other SAE is not in the SAE table */
	ACCT_R_BAD_REQUEST,	/* other 400s */
	ACCT_R_NOT_FOUND,	/* dec_keys: a key ID not (or no longer) here */
	ACCT_R_OUT_OF_KEYS,	/* the link's pool had too little */
	ACCT_R_UNREACHABLE,	/* the peer KME down, full, or no route */
	ACCT_R_UNAVAILABLE,	/* other 503s */
	ACCT_R_UNDELIVERED,	/* keys taken, but the answer not sent */
	ACCT_R_N,
};

extern const char *const acct_reason_names[ACCT_R_N];

struct acct_counts {
	uint64_t enc_keys, enc_bits;	/* to the master, by enc_keys */
	uint64_t dec_keys, dec_bits;	/* to the slave, by dec_keys */
	uint64_t relayed_keys, relayed_bits; /* of those, of relayed pairs */
	uint64_t requests;		/* answers that carried keys */
	/* Keys asked for and not given: by enc_keys (to the master), by
	 * dec_keys (to the slave), and the same keys by reason. */
	uint64_t enc_refused, dec_refused;
	uint64_t refused[ACCT_R_N];
};

#define ACCT_NCOUNTERS	(9 + ACCT_R_N)

enum acct_rec_type {
	ACCT_REC_EVENT = 1,	/* journal: one answer */
	ACCT_REC_INTERVAL = 2,	/* log: one pair's closed interval */
	ACCT_REC_CLOSE = 3,	/* log: the interval's records are complete;
				 * SAEs "*", counts the sum of its records */
};

/*
 * A record of an SAE pair (record version 1), or with a link, of a
 * consumer (version 2): master is then the consumer ("wireguard:w0"),
 * slave the peer node; enc_* count the keys it drew new from the pool,
 * dec_* those it fetched by the other end's key IDs.
 */
struct acct_record {
	uint8_t type;			/* enum acct_rec_type */
	uint64_t seq;			/* interval number, from 1 */
	uint64_t start, end;		/* UNIX seconds */
	char master[KSA_SAE_ID_MAX], slave[KSA_SAE_ID_MAX];
	char link[KSA_SAE_ID_MAX];	/* "" but for a consumer */
	struct acct_counts c;
};

/*
 * Record framing: "QA", payload length (u16 LE), CRC-32 of the payload
 * (u32 LE), payload.  ACCT_FRAME_MAX bounds a whole frame.
 */
#define ACCT_HDR_LEN	8
#define ACCT_FRAME_MAX	(ACCT_HDR_LEN + 1 + 1 + 3 * 8 + 3 * KSA_SAE_ID_MAX + \
			 1 + 64 * 8)

/* Encode @r into @buf (ACCT_FRAME_MAX bytes); the frame's length. */
size_t acct_record_encode(const struct acct_record *r, uint8_t *buf);
/*
 * Decode the frame at the start of @buf: its length (> 0) with @r filled,
 * 0 if @buf holds only the start of a frame (or nothing), -1 if what is
 * there is no valid frame (bad magic, length, CRC or payload).
 */
long acct_record_decode(const uint8_t *buf, size_t len,
			struct acct_record *r);
/*
 * Walk the records of a whole file's bytes: @fn for each valid one, with
 * the offset just past it.  Invalid bytes are skipped up to the next valid
 * frame.  Returns the end of the last valid frame; *@skipped gets the
 * bytes skipped in between or after it.
 */
size_t acct_scan(const uint8_t *buf, size_t len,
		 void (*fn)(void *arg, const struct acct_record *r,
			    size_t end),
		 void *arg, size_t *skipped);

void acct_counts_add(struct acct_counts *to, const struct acct_counts *c);

struct account_cfg {
	const char *state_dir;
	uint32_t interval_s;		/* 1..86400 */
};

/*
 * Open (create) the files in @cfg->state_dir, reload the totals and close
 * the interval a crash left open.  NULL with @err set on failure.
 */
struct account *account_open(struct loop *loop, const struct account_cfg *cfg,
			     char *err, size_t errlen);
/* Close the open interval into the log, then free. */
void account_close(struct account *a);

/* The KSA hook (ksa_acct_fn): @arg is the struct account. */
void account_ksa_event(void *arg, const struct ksa_acct_event *ev);

/* The consumers' hook (kma_take_fn): @arg is the struct account. */
void account_take_event(void *arg, const struct kma_take *t);

/* Close the open interval now (the timer does it every interval_s). */
int account_close_interval(struct account *a);

/* ---- read-only views (view_account.c) ---- */
/* An SAE pair, or a consumer (link not ""; see struct acct_record). */
struct acct_pair_info {
	const char *master, *slave, *link;
	struct acct_counts total;	/* since the log began, open included */
	struct acct_counts open;	/* in the open interval */
};

struct acct_interval_info {
	uint64_t seq, start, end;
	const char *master, *slave, *link;
	struct acct_counts c;
};

uint32_t account_interval_s(const struct account *a);
/* The open interval: its number and start. */
void account_open_interval(const struct account *a, uint64_t *seq,
			   uint64_t *start);
size_t account_pair_count(const struct account *a);
int account_pair_info(const struct account *a, size_t i,
		      struct acct_pair_info *out);
/* Closed intervals kept in memory (the newest ACCT_HISTORY), oldest first. */
#define ACCT_HISTORY	4096
size_t account_interval_count(const struct account *a);
int account_interval_info(const struct account *a, size_t i,
			  struct acct_interval_info *out);

#endif /* QKD_ACCOUNT_H */
