/* SPDX-License-Identifier: GPL-2.0 */
/*
 * QKD-keyed IPsec gateway: SA pairs for `ip xfrm policy` lines alone.
 *
 * The operator writes policies whose ESP template carries a reqid in the
 * configured range; when traffic hits one, the kernel's ACQUIRE reaches
 * us (xfrm_nl.h).  Per remote gateway ([ipsec NAME]) and reqid we keep
 * one SA pair: an inbound and an outbound rfc4106 SA, each keyed by its
 * own QKD key (both directions start their GCM nonces at sequence 1, so
 * one key for both would repeat nonces).  qkd.ko installs the SAs from
 * the pool by key ID (qkd_sa.h); no key byte enters this process.
 *
 * Owner: the node whose name sorts first (the one that dials the Kx
 * connection, peer_dials()) owns every pair with that peer.  It reserves
 * both keys, chooses SPIs for its inbound side and the lifetimes, and
 * rekeys.  The other node only asks (IPSEC_REQUEST) and follows.  Order,
 * so that no packet meets a missing SA:
 *
 *	owner:	reserve K_out, K_in; add inbound(SPI_o, K_in); OFFER
 *	peer:	add inbound(SPI_p, K_out); add outbound(SPI_o, K_in); ACCEPT
 *	owner:	add outbound(SPI_p, K_out)
 *
 * Rekey: on the soft EXPIRE of any SA of the current generation at the
 * owner (a timer one second after the soft limit is the fallback) the
 * owner makes a successor pair the same way.  The kernel then prefers
 * the newer outbound SA; the old ones die at their hard limit (soft +
 * grace).  Before each (re)key the owner checks the key budget and may
 * stretch the lifetime (Documentation/qkd/ipsec.rst); with an empty pool
 * it raises an alarm, keeps the SAs it has and retries every second.
 */
#ifndef QKD_IPSEC_H
#define QKD_IPSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kx/kxmsg.h"

struct loop;
struct peers;
struct ipsec_cfg;
struct ipsec;

#define IPSEC_OFFER_TIMEOUT_MS	5000	/* no ACCEPT: give up, retry */
#define IPSEC_RETRY_MS		1000	/* pool empty, refused, peer down */
#define IPSEC_REQUEST_TRIES	30	/* the larval SA lives 30 s */
#define IPSEC_LIFETIME_MAX	86400	/* the budget never stretches more */

/*
 * Start listening for ACQUIRE/EXPIRE and register the IPSEC_* Kx types
 * with @peers.  @cfg and @self must outlive the returned object.
 */
struct ipsec *ipsec_start(struct loop *loop, const struct ipsec_cfg *cfg,
			  const char *self, struct peers *peers,
			  char *err, size_t errlen);
/* Stops listening; installed SAs stay until their hard limit. */
void ipsec_stop(struct ipsec *ips);

/* A Kx message of type IPSEC_REQUEST, _OFFER or _ACCEPT from @from. */
void ipsec_receive(void *ips, const char *from, const struct kxmsg *m);

/* ---- state for "sa show" (mgmt/view_apps.c): key IDs, never key bytes */

struct ipsec_info {
	uint32_t reqid_min, reqid_max;	/* configured for QKD SAs */
	uint64_t acquires;		/* ACQUIREs for our reqids */
	uint64_t unknown_acquires;	/* no [ipsec NAME] for the addresses */
	uint64_t foreign_acquires;	/* reqid outside our range */
};

void ipsec_info(const struct ipsec *ips, struct ipsec_info *out);

enum ipsec_pair_state {
	IPSEC_PAIR_IDLE,	/* nothing installed or asked for */
	IPSEC_PAIR_REQUESTED,	/* follower: asked the owner to key */
	IPSEC_PAIR_OFFERED,	/* owner: inbound in, waiting for ACCEPT */
	IPSEC_PAIR_UP,		/* current generation complete */
	IPSEC_PAIR_RETRY,	/* owner: (re)key failed, retrying each second */
};

const char *ipsec_pair_state_name(enum ipsec_pair_state s);

struct ipsec_pair_info {
	char gateway[KM_NAME_MAX];	/* [ipsec NAME] */
	char peer[KM_NAME_MAX];
	uint32_t reqid;
	bool tunnel;			/* else transport mode */
	bool owner;			/* else follower */
	enum ipsec_pair_state state;
	uint64_t rekeys;		/* successor generations installed */
	uint32_t lifetime_s;		/* in force: configured or stretched */
	bool alarm;			/* the gateway's alarm is active */
	/* Only if @installed: the current generation. */
	bool installed;
	uint64_t generation;
	uint32_t spi_in, spi_out;	/* inbound: dst = us */
	uint64_t key_id_in, key_id_out;	/* QKD key IDs */
	uint64_t age_ms;		/* since it was installed */
	/* Only if @owner and state IPSEC_PAIR_UP; 0 when overdue. */
	uint64_t next_rekey_ms;
};

/*
 * Calls @fn for every SA pair, in the gateway's order; stops if @fn
 * returns != 0.
 */
void ipsec_foreach_pair(const struct ipsec *ips,
			int (*fn)(void *arg, const struct ipsec_pair_info *p),
			void *arg);

/*
 * The budget rule, exposed for unit tests: the soft lifetime, in
 * seconds, for @pairs pairs of @key_len-byte keys on a link whose card
 * reports @skr bit/s (this end allocates from half of it), given the
 * configured @lifetime.  Never below @lifetime, never above
 * IPSEC_LIFETIME_MAX.
 */
unsigned int ipsec_budget_lifetime(unsigned int lifetime, unsigned int key_len,
				   unsigned int pairs, unsigned long long skr);

#endif /* QKD_IPSEC_H */
