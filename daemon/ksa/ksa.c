// SPDX-License-Identifier: GPL-2.0
/*
 * KSA: key supply to SAEs (implements ksa.h) and the Kx-2 key sync.
 *
 * A key for master M (at this node) and slave S (at node B) is cut from
 * this end's share of the link to B.  M gets it at once; B hears a RESERVE
 * (UUID, M, slaves, link key ID, length) over Kx-2, fetches the same bytes
 * from its own end of the link, stores them and ACKs.  S's dec_keys at B
 * then serves each key once per slave SAE.  Key bytes never cross Kx-2.
 *
 * If S asks before B heard, dec_keys returns KSA_RETRY (see ksa.h).  Keys
 * do not survive a restart: a key whose reservation or bytes were lost is
 * answered "not found", never delivered twice (the key sources never hand
 * a byte out twice, even across restarts).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "kma/kma.h"
#include "ksa/ksa.h"
#include "kx/kxmsg.h"
#include "kx/peer.h"
#include "core/log.h"
#include "core/loop.h"
#include "relay/relay.h"

/* Master side: a reservation nobody acked within this is given up. */
#define KSA_ACK_TTL_MS		(60 * 1000)
/* Slave side: keys nobody fetched within this of storing are destroyed. */
#define KSA_STORE_TTL_MS	(60 * 60 * 1000)
/* Consumed/destroyed records are kept this long after they ended. */
#define KSA_TOMBSTONE_TTL_MS	(10 * 60 * 1000)
#define KSA_EXPIRE_EVERY_MS	100
/* Warnings about single keys: at most this many per this many ms. */
#define KSA_KEY_WARN_BURST	10
#define KSA_KEY_WARN_MS		1000
#define KSA_MAX_SAES		4096

struct ksa_sae {
	char name[KSA_SAE_ID_MAX];
	char cert_cn[KSA_SAE_ID_MAX];
	char node[KM_NAME_MAX];
	/* Removed at run time (ksa_sae_remove()): the slot stays, because
	 * pairs and key records name SAEs by index, but no lookup finds it. */
	bool removed;
	bool local;			/* served by this node */
	struct kma_link *link;		/* to its node, if remote */
};

struct ksa_pair {
	uint16_t master, slave;
	struct kma_link *link;
	uint32_t stored;
	uint64_t supplied;
	uint64_t pending;
	uint64_t peer_full_until_ms;	/* the slave's KME had no room */
	/*
	 * Master side: 1 + the keys of the pair the slave's KME said it had
	 * room for, in its last ACK or FETCHED (0: not heard yet).  Keys
	 * reserved since, still unacked, are in @pending.
	 */
	uint64_t peer_room;
};

/*
 * After the slave's KME refused a key of a pair for want of room, the
 * master's enc_keys answers 503 for this long instead of handing out keys
 * the slave could never get.  Then one request probes again.
 */
#define KSA_PEER_FULL_MS	1000

/* Bytes of randomness fetched at once for key IDs (16 per ID). */
#define KSA_UUID_POOL		1024

struct ksa {
	struct kma *kma;
	char node[KM_NAME_MAX];
	struct ksa_sae *saes;
	size_t n_saes;
	struct ksa_limits lim;
	struct ksa_pair *pairs;
	size_t n_pairs, cap_pairs;
	const struct ksa_kx_ops *kx;
	void *kx_arg;
	struct relay *relay;		/* NULL: direct pairs only */
	ksa_acct_fn acct;		/* accounting hook, may be NULL */
	void *acct_arg;
	uint64_t last_expire_ms;
	struct log_ratelimit key_warn;	/* per-key warnings (log.h) */
	struct kxmsg msg;		/* scratch for outgoing messages */
	/* Random bytes for key IDs, drawn in batches: one RAND_bytes() call
	 * (with its fork check and DRBG locking) per KSA_UUID_POOL / 16 IDs
	 * instead of one per key.  Used bytes are wiped at once. */
	uint8_t uuid_pool[KSA_UUID_POOL];
	size_t uuid_pool_left;		/* unused bytes at the pool's end */
};

/* ---- SAEs and pairs ---- */

static int sae_find(const struct ksa *ksa, const char *name)
{
	for (size_t i = 0; i < ksa->n_saes; i++)
		if (!ksa->saes[i].removed && !strcmp(ksa->saes[i].name, name))
			return (int)i;
	return -1;
}

static int sae_find_cn(const struct ksa *ksa, const char *cn)
{
	for (size_t i = 0; i < ksa->n_saes; i++)
		if (!ksa->saes[i].removed && !strcmp(ksa->saes[i].cert_cn, cn))
			return (int)i;
	return -1;
}

int ksa_sae_by_cn(const struct ksa *ksa, const char *cn, char *out,
		  size_t len)
{
	int i = *cn ? sae_find_cn(ksa, cn) : -1;

	if (i < 0)
		return -1;
	snprintf(out, len, "%s", ksa->saes[i].name);
	return 0;
}

static void sae_name_into(const struct ksa *ksa, uint16_t i, char *out,
			  size_t len)
{
	if (i < ksa->n_saes)
		snprintf(out, len, "%s", ksa->saes[i].name);
	else
		snprintf(out, len, "#%u", i);
}

/* The link to a remote SAE's node, NULL for a local SAE or no link. */
static struct kma_link *sae_link(const struct ksa *ksa,
				 const struct ksa_sae *s)
{
	return s->local ? NULL : kma_link_by_peer(ksa->kma, s->node);
}

/* A pair's keys go over the link of its remote end. */
static struct kma_link *pair_link(const struct ksa *ksa, size_t m, size_t s)
{
	return ksa->saes[m].local ? ksa->saes[s].link : ksa->saes[m].link;
}

static struct ksa_pair *pair_get(struct ksa *ksa, int m, int s)
{
	struct ksa_pair *p;

	for (size_t i = 0; i < ksa->n_pairs; i++)
		if (ksa->pairs[i].master == m && ksa->pairs[i].slave == s)
			return &ksa->pairs[i];
	if (ksa->n_pairs == ksa->cap_pairs) {
		size_t cap = ksa->cap_pairs ? 2 * ksa->cap_pairs : 16;

		p = realloc(ksa->pairs, cap * sizeof(*p));
		if (!p)
			return NULL;
		ksa->pairs = p;
		ksa->cap_pairs = cap;
	}
	p = &ksa->pairs[ksa->n_pairs++];
	memset(p, 0, sizeof(*p));
	p->master = (uint16_t)m;
	p->slave = (uint16_t)s;
	p->link = pair_link(ksa, m, s);
	return p;
}

size_t ksa_pair_count(const struct ksa *ksa)
{
	return ksa->n_pairs;
}

int ksa_pair_info(const struct ksa *ksa, size_t i, struct ksa_pair_info *out)
{
	const struct ksa_pair *p;

	if (i >= ksa->n_pairs)
		return -1;
	p = &ksa->pairs[i];
	memset(out, 0, sizeof(*out));
	snprintf(out->master, sizeof(out->master), "%s",
		 ksa->saes[p->master].name);
	snprintf(out->slave, sizeof(out->slave), "%s",
		 ksa->saes[p->slave].name);
	snprintf(out->master_node, sizeof(out->master_node), "%s",
		 ksa->saes[p->master].node);
	snprintf(out->slave_node, sizeof(out->slave_node), "%s",
		 ksa->saes[p->slave].node);
	snprintf(out->link, sizeof(out->link), "%s",
		 p->link ? kma_link_name(p->link) : "");
	out->keys_stored = p->stored;
	out->keys_supplied = p->supplied;
	out->keys_pending = p->pending;
	return 0;
}

struct key_walk {
	const struct ksa *ksa;
	int (*fn)(void *arg, const struct ksa_key_info *k);
	void *arg;
	struct ksa_key_info info;
};

static int key_named(void *arg, const struct kma_key_info *rec)
{
	struct key_walk *w = arg;
	struct ksa_key_info *k = &w->info;

	k->rec = *rec;
	sae_name_into(w->ksa, rec->use.master, k->master, sizeof(k->master));
	for (uint32_t i = 0; i < rec->use.n_slaves && i < KM_MAX_SLAVES; i++)
		sae_name_into(w->ksa, rec->use.slaves[i], k->slaves[i],
			      sizeof(k->slaves[i]));
	return w->fn(w->arg, k);
}

void ksa_foreach_key(const struct ksa *ksa,
		     int (*fn)(void *arg, const struct ksa_key_info *k),
		     void *arg)
{
	struct key_walk *w = calloc(1, sizeof(*w));

	if (!w)
		return;
	w->ksa = ksa;
	w->fn = fn;
	w->arg = arg;
	kma_foreach_key(ksa->kma, key_named, w);
	free(w);
}

static enum ksa_result fail(struct ksa_err *err, enum ksa_result r,
			    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum ksa_result fail(struct ksa_err *err, enum ksa_result r,
			    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return r;
}

static enum ksa_result fail_why(struct ksa_err *err, enum ksa_result r,
				enum ksa_why why, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum ksa_result fail_why(struct ksa_err *err, enum ksa_result r,
				enum ksa_why why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	err->why = (uint8_t)why;
	return r;
}

/* @name is an SAE this KME serves: KSA_OK with its index in *@i, or 401. */
static enum ksa_result sae_served(const struct ksa *ksa, const char *name,
				  int *i, struct ksa_err *err)
{
	*i = sae_find(ksa, name);
	if (*i < 0 || !ksa->saes[*i].local)
		return fail(err, KSA_UNAUTHORIZED,
			    "SAE %s is not served by this KME", name);
	return KSA_OK;
}

/* ---- record lifecycle ---- */

static void send_fetched(struct ksa *ksa, const struct ksa_pair *p);

/*
 * Slave side: the room for more keys of @p, as told to the master's KME
 * (KXA_SEQ: 1 + room).
 */
static uint64_t pair_room_seq(const struct ksa *ksa, const struct ksa_pair *p)
{
	uint32_t max = ksa->lim.max_key_count;

	return 1 + (p && p->stored < max ? max - p->stored : 0);
}

/*
 * Master side: could the slave's KME store @n more keys of @p?  Until it
 * said, it is taken to have our own max_key_count of room.
 */
static bool pair_has_room(const struct ksa *ksa, const struct ksa_pair *p,
			  uint64_t n)
{
	uint64_t room = p->peer_room ? p->peer_room - 1 :
			ksa->lim.max_key_count;

	return p->pending + n <= room;
}

/* Leave the live states: update the pair's counters, zeroise bytes. */
static void record_finish(struct ksa *ksa, struct kma_key *k,
			  enum kma_key_state state)
{
	struct ksa_pair *p = &ksa->pairs[kma_key_use(k)->pair];
	enum kma_key_state was = kma_key_state(k);

	if (was == KMA_KEY_RESERVED && p->pending)
		p->pending--;
	if ((was == KMA_KEY_STORED || was == KMA_KEY_SUPPLIED) && p->stored) {
		p->stored--;
		send_fetched(ksa, p);	/* room again at this KME */
	}
	kma_key_set_state(ksa->kma, k, state);
}

/*
 * End what is due in expiry queue @q: records that entered it @ttl_ms ago
 * or more.  Each queue is in order of entry, so the walk stops at the
 * first record that is not due and a pass costs only what it ends.
 */
static void expire_queue(struct ksa *ksa, enum kma_queue q, uint64_t ttl_ms,
			 uint64_t now)
{
	struct kma_key *k, *next;

	/*
	 * Not now - queued_ms: a record requeued during this pass may be
	 * stamped a millisecond after @now.
	 */
	for (k = kma_key_oldest(ksa->kma, q);
	     k && kma_key_queued_ms(k) + ttl_ms <= now; k = next) {
		next = kma_key_queue_next(k);	/* k leaves the queue below */
		switch (q) {
		case KMA_Q_RESERVED:
			log_ratelimited(&ksa->key_warn, LOG_LVL_WARN,
					"key %s: no answer from node %s, given up",
					kma_key_uuid(k),
					kma_link_peer(kma_key_link(k)));
			record_finish(ksa, k, KMA_KEY_DESTROYED);
			break;
		case KMA_Q_STORED:
			log_ratelimited(&ksa->key_warn, LOG_LVL_INFO,
					"key %s: not fetched in time, destroyed",
					kma_key_uuid(k));
			record_finish(ksa, k, KMA_KEY_DESTROYED);
			break;
		default:
			kma_key_remove(ksa->kma, k);
			break;
		}
	}
}

static void expire(struct ksa *ksa)
{
	uint64_t now = loop_now_ms();

	if (now - ksa->last_expire_ms < KSA_EXPIRE_EVERY_MS)
		return;
	ksa->last_expire_ms = now;
	expire_queue(ksa, KMA_Q_RESERVED, KSA_ACK_TTL_MS, now);
	expire_queue(ksa, KMA_Q_STORED, KSA_STORE_TTL_MS, now);
	expire_queue(ksa, KMA_Q_FINAL, KSA_TOMBSTONE_TTL_MS, now);
}

/* 8-4-4-4-12 lower-case hex, by hand: snprintf was a visible cost per key. */
static void uuid_format(const uint8_t b[16], char out[KSA_KEY_ID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	char *o = out;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 0x0f];
	}
	*o = '\0';
}

static void uuid_v4(struct ksa *ksa, char out[KSA_KEY_ID_LEN])
{
	uint8_t b[16];
	uint8_t *src;

	if (ksa->uuid_pool_left < sizeof(b)) {
		if (RAND_bytes(ksa->uuid_pool, sizeof(ksa->uuid_pool)) != 1)
			abort();	/* no randomness: nothing safe left */
		ksa->uuid_pool_left = sizeof(ksa->uuid_pool);
	}
	src = ksa->uuid_pool + sizeof(ksa->uuid_pool) - ksa->uuid_pool_left;
	memcpy(b, src, sizeof(b));
	OPENSSL_cleanse(src, sizeof(b));	/* never handed out twice */
	ksa->uuid_pool_left -= sizeof(b);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	uuid_format(b, out);
}

/* ---- status ---- */

/* Bytes the first link of the relay route to @node could supply now. */
static uint64_t relay_first_hop_avail(struct ksa *ksa, const char *node)
{
	struct relay_route *rt = malloc(sizeof(*rt));
	struct kma_link *l = NULL;
	char why[160];

	if (rt && relay_route(ksa->relay, node, ksa->lim.key_size / 8, 1, rt,
			      why, sizeof(why)) == 0)
		l = kma_link_by_peer(ksa->kma, rt->hops[1]);
	free(rt);
	return l ? keysrc_avail(kma_link_src(l)) : 0;
}

/*
 * Get status answers as enc_keys would for the same pair: the same 401
 * and 400 refusals, and as stored_key_count the keys of the default size
 * enc_keys could hand out now, so 0 while the slave's KME is unreachable
 * or has no room (where enc_keys answers 503).
 */
enum ksa_result ksa_status(struct ksa *ksa, const char *master_sae,
			   const char *slave_sae, struct ksa_status *out,
			   struct ksa_err *err)
{
	int m = sae_find(ksa, master_sae), s = sae_find(ksa, slave_sae);
	const struct ksa_sae *ms, *ss;
	struct ksa_pair *p;
	uint64_t count;

	if (sae_served(ksa, master_sae, &m, err))
		return KSA_UNAUTHORIZED;
	if (s < 0)
		return fail_why(err, KSA_BAD_REQUEST, KSA_WHY_UNKNOWN_SAE,
				"slave SAE %s is not known", slave_sae);
	if (s == m)
		return fail(err, KSA_BAD_REQUEST,
			    "slave SAE %s is the master", slave_sae);
	ms = &ksa->saes[m];
	ss = &ksa->saes[s];
	if (ss->local || (!ss->link && !ksa->relay))
		return fail(err, KSA_BAD_REQUEST,
			    "no QKD link from KME %s to KME %s",
			    ms->node, ss->node);
	p = pair_get(ksa, m, s);
	if (!p)
		return fail(err, KSA_UNAVAILABLE, "out of memory");
	memset(out, 0, sizeof(*out));
	snprintf(out->source_kme_id, sizeof(out->source_kme_id), "%s",
		 ms->node);
	snprintf(out->target_kme_id, sizeof(out->target_kme_id), "%s",
		 ss->node);
	snprintf(out->master_sae_id, sizeof(out->master_sae_id), "%s",
		 ms->name);
	snprintf(out->slave_sae_id, sizeof(out->slave_sae_id), "%s",
		 ss->name);
	if (p->link)
		count = ksa->kx && ksa->kx->is_up(ksa->kx_arg,
						  kma_link_peer(p->link)) ?
			keysrc_avail(kma_link_src(p->link)) /
			(ksa->lim.key_size / 8) : 0;
	else	/* relayed: the first hop's pool decides */
		count = relay_first_hop_avail(ksa, ss->node) /
			(ksa->lim.key_size / 8);
	if (p->peer_full_until_ms > loop_now_ms())
		count = 0;
	if (p->link && p->peer_room)
		count = p->pending + 1 >= p->peer_room ? 0 :
			(count < p->peer_room - 1 - p->pending ? count :
			 p->peer_room - 1 - p->pending);
	out->stored_key_count = count > ksa->lim.max_key_count ?
				ksa->lim.max_key_count : (uint32_t)count;
	out->key_size = ksa->lim.key_size;
	out->max_key_count = ksa->lim.max_key_count;
	out->max_key_per_request = ksa->lim.max_key_per_request;
	out->max_key_size = ksa->lim.max_key_size;
	out->min_key_size = ksa->lim.min_key_size;
	out->max_sae_id_count = ksa->lim.max_sae_id_count;
	return KSA_OK;
}

/* ---- enc_keys ---- */

struct enc_req {
	int master;
	int slaves[KM_MAX_SLAVES];
	uint32_t n_slaves;
	struct kma_link *link;
	uint32_t len;			/* bytes per key */
	bool relayed;			/* slave's node is not a neighbour */
	struct relay_route rt;		/* then: the route, this node first */
};

/* A slave at a non-adjacent node: route through trusted nodes. */
static enum ksa_result enc_relay_check(struct ksa *ksa,
				       const struct ksa_sae *first,
				       uint32_t number, uint32_t size,
				       struct enc_req *rq, struct ksa_err *err)
{
	char why[160];
	int rc;

	/* The whole request goes one way: every hop must carry all of it. */
	rc = relay_route(ksa->relay, first->node, size / 8, number, &rq->rt,
			 why, sizeof(why));
	if (rc == -EINVAL)
		return fail(err, KSA_BAD_REQUEST, "%s", why);
	if (rc) {
		relay_note_unroutable(ksa->relay, first->node, why);
		return fail_why(err, KSA_UNAVAILABLE, KSA_WHY_UNREACHABLE,
				"no relay route from KME %s to KME %s: %s",
			    ksa->node, first->node, why);
	}
	if (relay_admit(ksa->relay, ksa->saes[rq->master].name, number,
			&rq->rt, why, sizeof(why)))
		return fail(err, KSA_UNAVAILABLE, "%s", why);
	rq->relayed = true;
	rq->link = kma_link_by_peer(ksa->kma, rq->rt.hops[1]);
	if (!rq->link)
		return fail(err, KSA_UNAVAILABLE,
			    "relay route leaves over an unknown link");
	return KSA_OK;
}

static enum ksa_result enc_check(struct ksa *ksa, const char *master,
				 const char *slave, const char *const *extra,
				 size_t n_extra, uint32_t number, uint32_t size,
				 struct enc_req *rq, struct ksa_err *err)
{
	const struct ksa_sae *first;

	if (sae_served(ksa, master, &rq->master, err))
		return KSA_UNAUTHORIZED;
	if (number == 0 || number > ksa->lim.max_key_per_request)
		return fail(err, KSA_BAD_REQUEST,
			    "number must be 1..%u (max_key_per_request)",
			    ksa->lim.max_key_per_request);
	if (size % 8 || size < ksa->lim.min_key_size ||
	    size > ksa->lim.max_key_size)
		return fail(err, KSA_BAD_REQUEST,
			    "size must be a multiple of 8 in %u..%u",
			    ksa->lim.min_key_size, ksa->lim.max_key_size);
	if (n_extra > ksa->lim.max_sae_id_count)
		return fail(err, KSA_BAD_REQUEST,
			    "at most %u additional_slave_SAE_IDs",
			    ksa->lim.max_sae_id_count);
	rq->n_slaves = 0;
	for (size_t i = 0; i <= n_extra; i++) {
		const char *name = i ? extra[i - 1] : slave;
		int s = sae_find(ksa, name);

		if (s < 0)
			return fail_why(err, KSA_BAD_REQUEST,
					KSA_WHY_UNKNOWN_SAE,
					"slave SAE %s is not known", name);
		for (uint32_t j = 0; j < rq->n_slaves; j++)
			if (rq->slaves[j] == s)
				return fail(err, KSA_BAD_REQUEST,
					    "slave SAE %s given twice", name);
		if (s == rq->master)
			return fail(err, KSA_BAD_REQUEST,
				    "slave SAE %s is the master", name);
		rq->slaves[rq->n_slaves++] = s;
	}
	first = &ksa->saes[rq->slaves[0]];
	for (uint32_t j = 1; j < rq->n_slaves; j++)
		if (strcmp(ksa->saes[rq->slaves[j]].node, first->node))
			return fail(err, KSA_BAD_REQUEST,
				    "all slave SAEs must be at one KME (%s is at %s, %s at %s): relaying is not supported",
				    first->name, first->node,
				    ksa->saes[rq->slaves[j]].name,
				    ksa->saes[rq->slaves[j]].node);
	rq->link = first->link;
	if (!first->local && !rq->link && ksa->relay) {
		enum ksa_result r = enc_relay_check(ksa, first, number, size,
						    rq, err);

		if (r)
			return r;
	}
	if (first->local || !rq->link)
		return fail(err, KSA_BAD_REQUEST,
			    "no QKD link from KME %s to KME %s", ksa->node,
			    first->node);
	rq->len = size / 8;
	if (rq->len > kma_link_src(rq->link)->block_size)
		return fail(err, KSA_BAD_REQUEST,
			    "size over the link's block size (%u bits)",
			    kma_link_src(rq->link)->block_size * 8);
	if (!ksa->kx || !ksa->kx->is_up(ksa->kx_arg,
					 kma_link_peer(rq->link)))
		return fail_why(err, KSA_UNAVAILABLE, KSA_WHY_UNREACHABLE,
				"KME %s is not reachable",
			    kma_link_peer(rq->link));
	return KSA_OK;
}

/* Cut @n keys from the link, in chunks the kernel accepts. */
static int cut_keys(struct keysrc *src, uint32_t len, uint32_t n,
		    struct keysrc_key *keys, uint8_t *bytes,
		    char *why, size_t whylen)
{
	uint32_t per = QKD_KEY_ALLOC_MAX_BYTES / len;
	uint32_t done = 0;

	if (per > QKD_KEY_COUNT_MAX)
		per = QKD_KEY_COUNT_MAX;
	if (!keysrc_is_up(src)) {
		snprintf(why, whylen, "QKD link is down");
		return -ENETDOWN;
	}
	if (keysrc_avail(src) < (uint64_t)len * n) {
		snprintf(why, whylen, "not enough key in pool");
		return -ENOSPC;
	}
	while (done < n) {
		uint32_t c = n - done < per ? n - done : per;
		int rc = keysrc_alloc(src, len, c, keys + done,
				      bytes + (size_t)done * len, why, whylen);

		if (rc)
			return rc;
		done += c;
	}
	return 0;
}

/* Whom @k is for: @rq's SAEs, counted in pair @p. */
static void record_use(const struct ksa *ksa, struct kma_key *k,
		       const struct enc_req *rq, const struct ksa_pair *p)
{
	struct kma_key_use *u = kma_key_use(k);

	u->master = (uint16_t)rq->master;
	for (uint32_t i = 0; i < rq->n_slaves; i++)
		u->slaves[i] = (uint16_t)rq->slaves[i];
	u->n_slaves = rq->n_slaves;
	u->pair = (uint32_t)(p - ksa->pairs);
}

static void reserve_msg(const struct ksa *ksa, const struct enc_req *rq,
			const struct kma_key *k, struct kxmsg *m)
{
	kxmsg_clear(m, KXMSG_RESERVE);
	memcpy(m->uuid, kma_key_uuid(k), KSA_KEY_ID_LEN);
	snprintf(m->master, sizeof(m->master), "%s",
		 ksa->saes[rq->master].name);
	for (uint32_t i = 0; i < rq->n_slaves; i++)
		snprintf(m->slaves[i], sizeof(m->slaves[i]), "%s",
			 ksa->saes[rq->slaves[i]].name);
	m->n_slaves = rq->n_slaves;
	snprintf(m->link, sizeof(m->link), "%s", kma_link_name(rq->link));
	m->key_id = kma_key_src_id(k);
	m->key_len = kma_key_len(k);
}

/* Record key @i, tell the slave's node, hand the bytes to the master. */
static int enc_one(struct ksa *ksa, const struct enc_req *rq,
		   struct ksa_pair *p, const struct keysrc_key *sk,
		   const uint8_t *bytes, struct ksa_key *out, struct kxmsg *m)
{
	struct kma_key *k;
	char uuid[KSA_KEY_ID_LEN];

	uuid_v4(ksa, uuid);
	out->key = OPENSSL_secure_malloc(rq->len);
	out->size = rq->len * 8;	/* ksa_keys_free() needs it */
	k = kma_key_add(ksa->kma, rq->link, uuid, KMA_KEY_RESERVED);
	if (!out->key || !k) {
		if (k)
			kma_key_remove(ksa->kma, k);
		return -1;
	}
	kma_key_set_source(k, sk->id, sk->len, sk->gen_time_ns);
	record_use(ksa, k, rq, p);
	p->pending++;
	reserve_msg(ksa, rq, k, m);
	if (rq->relayed ? relay_start(ksa->relay, &rq->rt, m) :
	    ksa->kx->send(ksa->kx_arg, kma_link_peer(rq->link), m)) {
		record_finish(ksa, k, KMA_KEY_DESTROYED);
		return -1;
	}
	memcpy(out->key, bytes, rq->len);
	memcpy(out->key_id, uuid, KSA_KEY_ID_LEN);
	out->size = rq->len * 8;
	out->relayed = rq->relayed;
	p->supplied++;
	return 0;
}

enum ksa_result ksa_enc_keys(struct ksa *ksa, const char *master,
			     const char *slave, const char *const *extra,
			     size_t n_extra, uint32_t number, uint32_t size,
			     struct ksa_key *out, struct ksa_err *err)
{
	struct keysrc_key *keys = NULL;
	uint8_t *bytes = NULL;
	struct ksa_pair *p;
	struct enc_req rq = { 0 };
	enum ksa_result r;
	char why[128];
	uint32_t i = 0;
	int rc;

	expire(ksa);
	if (!size)
		size = ksa->lim.key_size;
	r = enc_check(ksa, master, slave, extra, n_extra, number, size, &rq,
		      err);
	if (r)
		return r;
	p = pair_get(ksa, rq.master, rq.slaves[0]);
	/* Never a key the slave could not fetch: the slave's KME full. */
	if (p && (p->peer_full_until_ms > loop_now_ms() ||
		  (!rq.relayed && !pair_has_room(ksa, p, number))))
		return fail_why(err, KSA_UNAVAILABLE, KSA_WHY_UNREACHABLE,
				"KME %s has no room for more keys of %s -> %s; retry later",
			    kma_link_peer(rq.link), master,
			    ksa->saes[rq.slaves[0]].name);
	keys = calloc(number, sizeof(*keys));
	bytes = OPENSSL_secure_malloc((size_t)number * rq.len);
	memset(out, 0, number * sizeof(*out));
	if (!p || !keys || !bytes) {
		r = fail(err, KSA_UNAVAILABLE, "out of memory");
		goto out;
	}
	rc = cut_keys(kma_link_src(rq.link), rq.len, number, keys, bytes,
		      why, sizeof(why));
	if (rc) {
		r = fail_why(err, KSA_UNAVAILABLE, KSA_WHY_OUT_OF_KEYS,
			     "link %s: %s", kma_link_name(rq.link), why);
		goto out;
	}
	for (i = 0; i < number; i++) {
		if (enc_one(ksa, &rq, p, &keys[i], bytes + (size_t)i * rq.len,
			    &out[i], &ksa->msg)) {
			r = fail(err, KSA_UNAVAILABLE,
				 "cannot reserve keys at KME %s",
				 kma_link_peer(rq.link));
			break;
		}
	}
out:
	if (r != KSA_OK)
		ksa_keys_free(out, i < number ? i + 1 : number);
	if (bytes)
		OPENSSL_secure_clear_free(bytes, (size_t)number * rq.len);
	free(keys);
	return r;
}

/* ---- dec_keys ---- */

static int slave_slot(const struct kma_key_use *u, int s)
{
	for (uint32_t i = 0; i < u->n_slaves; i++)
		if (u->slaves[i] == s)
			return (int)i;
	return -1;
}

/* Checks one requested ID: KSA_OK (deliverable), _RETRY or _NOT_FOUND. */
static enum ksa_result dec_lookup(struct ksa *ksa, int s, int m,
				  const char *id, struct kma_key **out)
{
	const struct kma_key_use *u;
	enum kma_key_state state;
	struct kma_key *k;
	int slot;

	if (!kxmsg_uuid_valid(id))
		return KSA_NOT_FOUND;
	k = kma_key_find(ksa->kma, id);
	if (!k)
		return KSA_RETRY;
	u = kma_key_use(k);
	slot = slave_slot(u, s);
	state = kma_key_state(k);
	if (u->master != m || slot < 0 || !kma_key_bytes(k) ||
	    (u->delivered & (1u << slot)) ||
	    (state != KMA_KEY_STORED && state != KMA_KEY_SUPPLIED))
		return KSA_NOT_FOUND;
	*out = k;
	return KSA_OK;
}

static void dec_deliver(struct ksa *ksa, struct kma_key *k, int s,
			struct ksa_key *out)
{
	struct kma_key_use *u = kma_key_use(k);
	int slot = slave_slot(u, s);
	uint32_t all = (u->n_slaves >= 32) ? UINT32_MAX :
		       ((1u << u->n_slaves) - 1);

	memcpy(out->key, kma_key_bytes(k), kma_key_len(k));
	memcpy(out->key_id, kma_key_uuid(k), KSA_KEY_ID_LEN);
	out->size = kma_key_len(k) * 8;
	/* The master's node is no neighbour: the key came by relay. */
	out->relayed = !ksa->saes[u->master].local &&
		       !ksa->saes[u->master].link;
	u->delivered |= 1u << slot;
	ksa->pairs[u->pair].supplied++;
	if (u->delivered == all)
		record_finish(ksa, k, KMA_KEY_CONSUMED);
	else
		kma_key_set_state(ksa->kma, k, KMA_KEY_SUPPLIED);
}

enum ksa_result ksa_dec_keys(struct ksa *ksa, const char *slave,
			     const char *master, const char *const *key_ids,
			     size_t n, struct ksa_key *out, struct ksa_err *err)
{
	int s = sae_find(ksa, slave), m = sae_find(ksa, master);
	struct kma_key **found;
	enum ksa_result r = KSA_OK, r1;
	size_t i, j;

	expire(ksa);
	if (sae_served(ksa, slave, &s, err))
		return KSA_UNAUTHORIZED;
	if (m < 0)
		return fail_why(err, KSA_BAD_REQUEST, KSA_WHY_UNKNOWN_SAE,
				"master SAE %s is not known", master);
	if (n == 0 || n > ksa->lim.max_key_per_request)
		return fail(err, KSA_BAD_REQUEST,
			    "1..%u key IDs per request",
			    ksa->lim.max_key_per_request);
	found = calloc(n, sizeof(*found));
	if (!found)
		return fail(err, KSA_UNAVAILABLE, "out of memory");
	for (i = 0; i < n && r != KSA_NOT_FOUND; i++) {
		for (j = 0; j < i; j++)
			if (!strcmp(key_ids[i], key_ids[j]))
				r = KSA_NOT_FOUND;	/* would serve twice */
		r1 = dec_lookup(ksa, s, m, key_ids[i], &found[i]);
		if (r1 == KSA_NOT_FOUND || (r1 == KSA_RETRY && r == KSA_OK))
			r = r1;
	}
	/* NOT_FOUND outranks RETRY: waiting cannot fix a foreign key. */
	if (r == KSA_NOT_FOUND) {
		fail(err, r, "one or more keys specified are not found on KME");
	} else if (r == KSA_RETRY) {
		fail(err, r, "key reservation not yet received");
	} else {
		memset(out, 0, n * sizeof(*out));
		for (i = 0; i < n; i++) {
			out[i].key = OPENSSL_secure_malloc(
						kma_key_len(found[i]));
			if (!out[i].key) {
				ksa_keys_free(out, i);
				free(found);
				return fail(err, KSA_UNAVAILABLE,
					    "out of memory");
			}
		}
		for (i = 0; i < n; i++)
			dec_deliver(ksa, found[i], s, &out[i]);
	}
	free(found);
	return r;
}

size_t ksa_dec_final(struct ksa *ksa, const char *slave, const char *master,
		     const char *const *key_ids, size_t n)
{
	int s = sae_find(ksa, slave), m = sae_find(ksa, master);
	struct kma_link *link;
	struct kma_key *k;
	size_t added = 0;

	if (s < 0 || m < 0 || !ksa->saes[s].local)
		return 0;
	/* Any link will do: the record only holds the ID (length 0). */
	link = ksa->saes[m].link ? ksa->saes[m].link :
	       kma_link_at(ksa->kma, 0);
	for (size_t i = 0; link && i < n; i++) {
		if (!kxmsg_uuid_valid(key_ids[i]) ||
		    kma_key_find(ksa->kma, key_ids[i]))
			continue;
		k = kma_key_add(ksa->kma, link, key_ids[i], KMA_KEY_DESTROYED);
		if (!k)
			continue;
		kma_key_use(k)->master = (uint16_t)m;
		kma_key_use(k)->slaves[0] = (uint16_t)s;
		kma_key_use(k)->n_slaves = 1;
		added++;
		log_ratelimited(&ksa->key_warn, LOG_LVL_INFO,
				"key %s: answered not found to %s, never deliverable here now",
				key_ids[i], slave);
	}
	return added;
}

/* Why a known key ID is refused: a tombstone of ksa_dec_final() has no
 * length. */
static const char *used_why(const struct kma_key *k)
{
	return kma_key_len(k) ? "key ID already used" :
	       "key ID answered not found to the slave SAE before it arrived";
}

void ksa_keys_free(struct ksa_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (keys[i].key)
			OPENSSL_secure_clear_free(keys[i].key, keys[i].size / 8 ?
						  keys[i].size / 8 : 1);
		keys[i].key = NULL;
		OPENSSL_cleanse(keys[i].key_id, sizeof(keys[i].key_id));
	}
}

/* ---- Kx-2: reservations from peers ---- */

static void send_ack(struct ksa *ksa, const char *to, const char *uuid,
		     uint32_t code, const char *text, uint64_t room_seq)
{
	struct kxmsg *m = &ksa->msg;

	kxmsg_clear(m, KXMSG_ACK);
	memcpy(m->uuid, uuid, KSA_KEY_ID_LEN);
	m->code = code;
	m->seq = room_seq;
	snprintf(m->text, sizeof(m->text), "%s", text ? text : "");
	if (ksa->kx && ksa->kx->send(ksa->kx_arg, to, m))
		log_ratelimited(&ksa->key_warn, LOG_LVL_WARN,
				"key %s: cannot answer node %s", uuid, to);
}

/* Who may reserve what: returns KXC_OK and fills @rq, or a refusal. */
static uint32_t reserve_check(struct ksa *ksa, const char *origin,
			      const char *from, const struct kxmsg *m,
			      struct enc_req *rq, const char **why)
{
	rq->master = sae_find(ksa, m->master);
	if (rq->master < 0 || strcmp(ksa->saes[rq->master].node, origin)) {
		*why = "master SAE is not at the sending node";
		return KXC_UNKNOWN_SAE;
	}
	rq->n_slaves = m->n_slaves;
	for (uint32_t i = 0; i < m->n_slaves; i++) {
		int s = sae_find(ksa, m->slaves[i]);

		if (s < 0 || !ksa->saes[s].local) {
			*why = "slave SAE is not served here";
			return KXC_UNKNOWN_SAE;
		}
		for (uint32_t j = 0; j < i; j++)
			if (rq->slaves[j] == s) {
				*why = "slave SAE given twice";
				return KXC_BAD_MESSAGE;
			}
		rq->slaves[i] = s;
	}
	if (m->n_slaves > ksa->lim.max_sae_id_count + 1 ||
	    m->key_len * 8 > ksa->lim.max_key_size ||
	    m->key_len * 8 < ksa->lim.min_key_size) {
		*why = "outside this KME's limits";
		return KXC_BAD_MESSAGE;
	}
	rq->link = kma_link_by_peer(ksa->kma, from);
	if (!rq->link) {
		*why = "no link to the sending node";
		return KXC_NO_LINK;
	}
	rq->len = m->key_len;
	return KXC_OK;
}

static uint32_t reserve_store(struct ksa *ksa, const struct kxmsg *m,
			      const struct enc_req *rq, const char **why,
			      char *reason, size_t reasonlen)
{
	struct keysrc *src = kma_link_src(rq->link);
	struct ksa_pair *p = pair_get(ksa, rq->master, rq->slaves[0]);
	struct kma_key *k;
	uint8_t *bytes = NULL;
	uint64_t gen_time_ns = 0;
	int rc;

	k = p ? kma_key_add(ksa->kma, rq->link, m->uuid, KMA_KEY_STORED) :
		NULL;
	if (!k) {
		keysrc_discard(src, m->key_id, m->key_len);
		*why = "key store full";
		return KXC_STORE_FULL;
	}
	kma_key_set_source(k, m->key_id, m->key_len, 0);
	record_use(ksa, k, rq, p);
	/* From here a refusal leaves a tombstone: the slave's dec_keys
	 * then hears "not found" at once instead of waiting. */
	if (p->stored >= ksa->lim.max_key_count) {
		keysrc_discard(src, m->key_id, m->key_len);
		kma_key_set_state(ksa->kma, k, KMA_KEY_DESTROYED);
		*why = "max_key_count reached";
		return KXC_STORE_FULL;
	}
	bytes = OPENSSL_secure_malloc(m->key_len);
	rc = bytes ? keysrc_get(src, m->key_id, m->key_len, bytes,
				&gen_time_ns, reason, reasonlen) : -ENOMEM;
	if (rc) {
		if (bytes)
			OPENSSL_secure_clear_free(bytes, m->key_len);
		else
			snprintf(reason, reasonlen, "out of secure memory");
		kma_key_set_state(ksa->kma, k, KMA_KEY_DESTROYED);
		*why = reason;
		return KXC_FETCH_FAILED;
	}
	kma_key_set_source(k, m->key_id, m->key_len, gen_time_ns);
	kma_key_set_bytes(k, bytes);
	p->stored++;
	return KXC_OK;
}

static void on_reserve(struct ksa *ksa, const char *from,
		       const struct kxmsg *m)
{
	const char *why = "";
	char reason[128];
	struct enc_req rq = { 0 };
	struct kma_key *old = kma_key_find(ksa->kma, m->uuid);
	uint32_t code;

	if (old) {
		code = KXC_DUPLICATE;
		why = used_why(old);
	} else {
		code = reserve_check(ksa, from, from, m, &rq, &why);
		if (code == KXC_OK)
			code = reserve_store(ksa, m, &rq, &why, reason,
					     sizeof(reason));
	}
	if (code != KXC_OK)
		log_ratelimited(&ksa->key_warn, LOG_LVL_WARN,
				"key %s from node %s refused: %s (%s)", m->uuid,
				from, kxmsg_code_name(code), why);
	/* With the room left for the pair, if the pair is known here. */
	send_ack(ksa, from, m->uuid, code, code == KXC_OK ? NULL : why,
		 code == KXC_OK || code == KXC_STORE_FULL ?
		 pair_room_seq(ksa, pair_get(ksa, rq.master, rq.slaves[0])) :
		 0);
}

/*
 * Slave side: a key of @p left the store here.  Tell the master's KME,
 * when it is a neighbour, how much room the pair has now, so that its
 * enc_keys hands out only keys this KME can store.
 */
static void send_fetched(struct ksa *ksa, const struct ksa_pair *p)
{
	const struct ksa_sae *ms = &ksa->saes[p->master];
	struct kxmsg *m = &ksa->msg;

	if (ms->local || !ms->link || !ksa->kx ||
	    !ksa->kx->is_up(ksa->kx_arg, ms->node))
		return;
	kxmsg_clear(m, KXMSG_FETCHED);
	snprintf(m->master, sizeof(m->master), "%s", ms->name);
	snprintf(m->slaves[0], sizeof(m->slaves[0]), "%s",
		 ksa->saes[p->slave].name);
	m->n_slaves = 1;
	m->seq = pair_room_seq(ksa, p);
	ksa->kx->send(ksa->kx_arg, ms->node, m);
}

/* Master side: the slave's KME has room again (or less). */
static void on_fetched(struct ksa *ksa, const char *from,
		       const struct kxmsg *m)
{
	int mi = sae_find(ksa, m->master);
	int si = m->n_slaves == 1 ? sae_find(ksa, m->slaves[0]) : -1;
	struct ksa_pair *p;

	if (mi < 0 || si < 0 || !ksa->saes[mi].local ||
	    strcmp(ksa->saes[si].node, from))
		return;		/* not a pair of ours with that node */
	p = pair_get(ksa, mi, si);
	if (p)
		p->peer_room = m->seq;
}

static void pair_peer_full(struct ksa *ksa, struct kma_key *k,
			   const char *from)
{
	uint64_t now = loop_now_ms();
	uint32_t pair = kma_key_use(k)->pair;
	struct ksa_pair *p;

	if (pair >= ksa->n_pairs)
		return;
	p = &ksa->pairs[pair];
	if (p->peer_full_until_ms <= now)
		log_notice("node %s has no room for keys of %s -> %s: enc_keys answers 503 for %u ms",
			   from, ksa->saes[p->master].name,
			   ksa->saes[p->slave].name, KSA_PEER_FULL_MS);
	p->peer_full_until_ms = now + KSA_PEER_FULL_MS;
}

static void on_ack(struct ksa *ksa, const char *from, const struct kxmsg *m)
{
	struct kma_key *k = kma_key_find(ksa->kma, m->uuid);

	if (!k || kma_key_state(k) != KMA_KEY_RESERVED ||
	    strcmp(kma_link_peer(kma_key_link(k)), from)) {
		log_ratelimited(&ksa->key_warn, LOG_LVL_WARN,
				"node %s acked key %s that it was not sent",
				from, m->uuid);
		return;
	}
	if (m->seq && !strcmp(kma_link_peer(kma_key_link(k)), from))
		ksa->pairs[kma_key_use(k)->pair].peer_room = m->seq;
	if (m->code == KXC_OK) {
		record_finish(ksa, k, KMA_KEY_CONSUMED);
		return;
	}
	log_ratelimited(&ksa->key_warn, LOG_LVL_WARN,
			"key %s: node %s refused it: %s (%s)", m->uuid, from,
			kxmsg_code_name(m->code), m->text);
	if (m->code == KXC_STORE_FULL)
		pair_peer_full(ksa, k, from);
	record_finish(ksa, k, KMA_KEY_DESTROYED);
}

void ksa_kx_receive(struct ksa *ksa, const char *from, const struct kxmsg *m)
{
	expire(ksa);
	if (m->type == KXMSG_RESERVE)
		on_reserve(ksa, from, m);
	else if (m->type == KXMSG_ACK)
		on_ack(ksa, from, m);
	else if (m->type == KXMSG_FETCHED)
		on_fetched(ksa, from, m);
}

/* ---- relayed keys (relay.h) ---- */

static uint32_t relay_deliver(void *arg, const char *origin,
			      const char *prev, const struct kxmsg *m,
			      uint8_t *bytes, const char **why)
{
	struct ksa *ksa = arg;
	struct enc_req rq = { 0 };
	struct ksa_pair *p;
	struct kma_key *k;
	uint8_t *copy;
	uint32_t code;

	expire(ksa);
	k = kma_key_find(ksa->kma, m->uuid);
	if (k) {
		*why = used_why(k);
		code = KXC_DUPLICATE;
		goto refuse;
	}
	code = reserve_check(ksa, origin, prev, m, &rq, why);
	if (code != KXC_OK)
		goto refuse;
	p = pair_get(ksa, rq.master, rq.slaves[0]);
	k = p ? kma_key_add(ksa->kma, rq.link, m->uuid, KMA_KEY_STORED) :
		NULL;
	if (!k) {
		*why = "key store full";
		code = KXC_STORE_FULL;
		goto refuse;
	}
	/* Source key ID 0: not from one link, relayed. */
	kma_key_set_source(k, 0, m->key_len, kma_realtime_ns());
	record_use(ksa, k, &rq, p);
	if (p->stored >= ksa->lim.max_key_count) {
		kma_key_set_state(ksa->kma, k, KMA_KEY_DESTROYED);
		*why = "max_key_count reached";
		code = KXC_STORE_FULL;
		goto refuse;
	}
	copy = OPENSSL_secure_malloc(m->key_len);
	if (!copy) {
		kma_key_set_state(ksa->kma, k, KMA_KEY_DESTROYED);
		*why = "out of secure memory";
		code = KXC_FETCH_FAILED;
		goto refuse;
	}
	memcpy(copy, bytes, m->key_len);
	kma_key_set_bytes(k, copy);
	OPENSSL_cleanse(bytes, m->key_len);
	p->stored++;
	return KXC_OK;
refuse:
	OPENSSL_cleanse(bytes, m->key_len);
	return code;
}

static void relay_ack(void *arg, const char *from, const struct kxmsg *ack)
{
	ksa_kx_receive(arg, from, ack);
}

static const struct relay_delivery relay_up = {
	.deliver = relay_deliver,
	.ack = relay_ack,
};

void ksa_set_relay(struct ksa *ksa, struct relay *relay)
{
	if (ksa->relay)
		relay_set_delivery(ksa->relay, NULL, NULL);
	ksa->relay = relay;
	if (relay)
		relay_set_delivery(relay, &relay_up, ksa);
}

void ksa_set_accounting(struct ksa *ksa, ksa_acct_fn fn, void *arg)
{
	ksa->acct = fn;
	ksa->acct_arg = arg;
}

bool ksa_accounting_on(const struct ksa *ksa)
{
	return ksa->acct != NULL;
}

/*
 * An SAE ID the table does not hold is reported as "*": a caller making up
 * names must not make accounting grow a pair per name.
 */
void ksa_account(struct ksa *ksa, const struct ksa_acct_event *ev)
{
	struct ksa_acct_event e;

	if (!ksa->acct)
		return;
	e = *ev;
	if (sae_find(ksa, e.master) < 0)
		e.master = "*";
	if (sae_find(ksa, e.slave) < 0)
		e.slave = "*";
	ksa->acct(ksa->acct_arg, &e);
}

void ksa_set_kx(struct ksa *ksa, const struct ksa_kx_ops *ops, void *arg)
{
	ksa->kx = ops;
	ksa->kx_arg = arg;
}

static const struct ksa_kx_ops peers_kx = {
	.send = peers_send, .is_up = peers_is_up,
};

static void peers_rx(void *arg, const char *from, const struct kxmsg *m)
{
	ksa_kx_receive(arg, from, m);
}

void ksa_use_peers(struct ksa *ksa, struct peers *peers)
{
	if (ksa->kx_arg && ksa->kx == &peers_kx) {
		peers_on_message(ksa->kx_arg, KXMSG_RESERVE, NULL, NULL);
		peers_on_message(ksa->kx_arg, KXMSG_ACK, NULL, NULL);
		peers_on_message(ksa->kx_arg, KXMSG_FETCHED, NULL, NULL);
	}
	ksa_set_kx(ksa, peers ? &peers_kx : NULL, peers);
	if (peers) {
		peers_on_message(peers, KXMSG_RESERVE, peers_rx, ksa);
		peers_on_message(peers, KXMSG_ACK, peers_rx, ksa);
		peers_on_message(peers, KXMSG_FETCHED, peers_rx, ksa);
	}
}

/* ---- construction ---- */

static int check_limits(const struct ksa_limits *l, char *err, size_t errlen)
{
	if (l->min_key_size < 8 || l->min_key_size % 8 ||
	    l->max_key_size % 8 || l->max_key_size < l->min_key_size ||
	    l->key_size % 8 || l->key_size < l->min_key_size ||
	    l->key_size > l->max_key_size) {
		snprintf(err, errlen,
			 "key sizes must be multiples of 8 with 8 <= min_key_size <= key_size <= max_key_size");
		return -1;
	}
	if (l->max_key_per_request == 0 || l->max_key_count == 0) {
		snprintf(err, errlen,
			 "max_key_per_request and max_key_count must be positive");
		return -1;
	}
	if (l->max_sae_id_count > KM_MAX_SLAVES - 1) {
		snprintf(err, errlen, "max_sae_id_count must be at most %d",
			 KM_MAX_SLAVES - 1);
		return -1;
	}
	return 0;
}

static int load_saes(struct ksa *ksa, const struct ksa_sae_cfg *saes,
		     size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		struct ksa_sae *s = &ksa->saes[i];

		for (size_t j = 0; j < i; j++) {
			if (!strcmp(saes[i].name, saes[j].name) ||
			    !strcmp(saes[i].cert_cn, saes[j].cert_cn)) {
				snprintf(err, errlen,
					 "sae %s: name or cert_cn used twice",
					 saes[i].name);
				return -1;
			}
		}
		snprintf(s->name, sizeof(s->name), "%s", saes[i].name);
		snprintf(s->cert_cn, sizeof(s->cert_cn), "%s", saes[i].cert_cn);
		snprintf(s->node, sizeof(s->node), "%s", saes[i].node);
		s->local = !strcmp(s->node, ksa->node);
		s->link = sae_link(ksa, s);
		/* SAEs at nodes without a link stay unreachable (later:
		 * relaying); they are not an error in a shared SAE table. */
	}
	ksa->n_saes = n;
	return 0;
}

struct ksa *ksa_new(struct kma *kma, const struct km_node_cfg *node,
		    const struct ksa_sae_cfg *saes, size_t n_saes,
		    const struct ksa_limits *limits, char *err, size_t errlen)
{
	struct ksa *ksa;

	if (check_limits(limits, err, errlen))
		return NULL;
	if (n_saes > KSA_MAX_SAES) {
		snprintf(err, errlen, "at most %d SAEs", KSA_MAX_SAES);
		return NULL;
	}
	ksa = calloc(1, sizeof(*ksa));
	if (ksa)
		ksa->saes = calloc(n_saes ? n_saes : 1, sizeof(*ksa->saes));
	if (!ksa || !ksa->saes) {
		free(ksa);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ksa->kma = kma;
	ksa->key_warn = (struct log_ratelimit)
		LOG_RATELIMIT_INIT(KSA_KEY_WARN_MS, KSA_KEY_WARN_BURST);
	ksa->lim = *limits;
	snprintf(ksa->node, sizeof(ksa->node), "%s", node->name);
	if (load_saes(ksa, saes, n_saes, err, errlen)) {
		ksa_free(ksa);
		return NULL;
	}
	return ksa;
}

int ksa_sae_add(struct ksa *ksa, const struct ksa_sae_cfg *sae, char *err,
		size_t errlen)
{
	struct ksa_sae *s;

	if (!sae->name[0] || !sae->cert_cn[0] || !sae->node[0]) {
		snprintf(err, errlen, "an SAE needs an id, a cert_cn and a node");
		return -EINVAL;
	}
	if (sae_find(ksa, sae->name) >= 0) {
		snprintf(err, errlen, "SAE %s exists", sae->name);
		return -EEXIST;
	}
	if (sae_find_cn(ksa, sae->cert_cn) >= 0) {
		snprintf(err, errlen, "cert_cn %s is already another SAE's",
			 sae->cert_cn);
		return -EEXIST;
	}
	/* Removed slots are never reused: key records still name them. */
	if (ksa->n_saes >= KSA_MAX_SAES) {
		snprintf(err, errlen, "at most %d SAEs, removed ones included, until a restart",
			 KSA_MAX_SAES);
		return -ENOSPC;
	}
	s = realloc(ksa->saes, (ksa->n_saes + 1) * sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ksa->saes = s;
	s = &ksa->saes[ksa->n_saes];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", sae->name);
	snprintf(s->cert_cn, sizeof(s->cert_cn), "%s", sae->cert_cn);
	snprintf(s->node, sizeof(s->node), "%s", sae->node);
	s->local = !strcmp(s->node, ksa->node);
	s->link = sae_link(ksa, s);
	ksa->n_saes++;
	return 0;
}

int ksa_sae_remove(struct ksa *ksa, const char *name, char *err,
		   size_t errlen)
{
	int i = sae_find(ksa, name);

	if (i < 0) {
		snprintf(err, errlen, "no SAE %s", name);
		return -ENOENT;
	}
	ksa->saes[i].removed = true;
	return 0;
}

void ksa_links_changed(struct ksa *ksa)
{
	for (size_t i = 0; i < ksa->n_saes; i++) {
		struct ksa_sae *s = &ksa->saes[i];

		s->link = sae_link(ksa, s);
	}
	for (size_t i = 0; i < ksa->n_pairs; i++) {
		struct ksa_pair *p = &ksa->pairs[i];

		p->link = pair_link(ksa, p->master, p->slave);
	}
}

int ksa_link_remove(struct ksa *ksa, const char *name)
{
	static const enum kma_queue live[] = { KMA_Q_RESERVED, KMA_Q_STORED };
	struct kma_link *l = NULL, *x;
	struct kma_key *k, *next;
	int rc;

	for (size_t i = 0; (x = kma_link_at(ksa->kma, i)); i++)
		if (!strcmp(kma_link_name(x), name))
			l = x;
	if (!l)
		return -ENOENT;
	/* Its live keys end as expiry ends them: the pairs' counts follow. */
	for (size_t q = 0; q < sizeof(live) / sizeof(live[0]); q++)
		for (k = kma_key_oldest(ksa->kma, live[q]); k; k = next) {
			next = kma_key_queue_next(k);
			if (kma_key_link(k) == l)
				record_finish(ksa, k, KMA_KEY_DESTROYED);
		}
	rc = kma_link_remove(ksa->kma, name);
	ksa_links_changed(ksa);
	return rc;
}

int ksa_sae_get(const struct ksa *ksa, size_t i, struct ksa_sae_cfg *out)
{
	for (size_t j = 0; j < ksa->n_saes; j++) {
		const struct ksa_sae *s = &ksa->saes[j];

		if (s->removed || i--)
			continue;
		memset(out, 0, sizeof(*out));
		snprintf(out->name, sizeof(out->name), "%s", s->name);
		snprintf(out->cert_cn, sizeof(out->cert_cn), "%s", s->cert_cn);
		snprintf(out->node, sizeof(out->node), "%s", s->node);
		return 0;
	}
	return -1;
}

void ksa_free(struct ksa *ksa)
{
	if (!ksa)
		return;
	OPENSSL_cleanse(ksa->uuid_pool, sizeof(ksa->uuid_pool));
	free(ksa->saes);
	free(ksa->pairs);
	free(ksa);
}
