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

#include <stddef.h>

#include <jansson.h>

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

/* "sa show": {"reqid_min", "reqid_max", "pairs": [...], counters} */
json_t *ipsec_view(const struct ipsec *ips);

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
