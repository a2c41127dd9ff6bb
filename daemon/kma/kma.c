// SPDX-License-Identifier: GPL-2.0
/*
 * KMA key store: per-link key sources and the application key records.
 * Records sit in a hash table by UUID, on one list in creation order (for
 * listings) and in the expiry queue of their state (kma.h), which makes
 * lookup, expiry and "drop the oldest tombstone" cheap.
 *
 * Records come from chunks mapped with MAP_POPULATE and go back to a free
 * list, never to the system: a store filling up from malloc() took a page
 * fault every 20 records, and on a virtual machine a fault costs ten
 * times more than populating the page up front (11 against 0.7 us on
 * the bench's VM).  Memory stays bounded by KMA_MAX_RECORDS.  Freed
 * records are poisoned, so that AddressSanitizer still catches a use
 * after free.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <openssl/crypto.h>
#include <sanitizer/asan_interface.h>

#include "kma/kma.h"
#include "kma/confirm.h"
#include "kma/keysrc_etsi014.h"
#include "kma/kpush.h"
#include "kma/keysrc_file.h"
#include "core/log.h"
#include "core/loop.h"
#include "kx/peer.h"

#define KMA_HASH_BUCKETS	KMA_MAX_RECORDS	/* chains of about one */

struct kma_link {
	struct kma_link_cfg cfg;	/* seed cleared after use */
	struct keysrc *src;
	size_t keys_held;		/* its records in a live state */
};

struct kma_key {
	char uuid[KSA_KEY_ID_LEN];
	struct kma_link *link;
	uint64_t src_id;
	uint32_t len;			/* bytes */
	struct kma_key_use use;
	enum kma_key_state state;
	uint8_t *bytes;			/* slave side while STORED/SUPPLIED */
	uint64_t gen_time_ns;
	uint64_t created_ns, changed_ns;
	uint64_t queued_ms;		/* loop_now_ms(): entered its queue */
	struct kma_key *queue_newer;	/* next in its queue */
	struct kma_key *hash_next;
	struct kma_key *older, *newer;	/* all records, creation order */
	struct kma_key *queue_older;
};

/* 256 KiB: populating one costs the loop about 100 us. */
#define RECORD_CHUNK_BYTES	(256 << 10)
struct record_chunk {
	struct record_chunk *next;
	struct kma_key records[];
};
#define RECORDS_PER_CHUNK	((RECORD_CHUNK_BYTES - \
	sizeof(struct record_chunk)) / sizeof(struct kma_key))

struct kma {
	char node[KM_NAME_MAX];
	/* Each link on its own: records point at their link, and a link
	 * added or removed at run time must not move the others. */
	struct kma_link **links;
	size_t n_links;
	struct loop *loop;		/* kma_new(); NULL in unit tests */
	struct km_node_cfg node_cfg;
	const struct keysrc_etsi014_kx *e14_kx;	/* kma_etsi014_use_kx() */
	void *e14_kx_arg;
	struct kma_key **hash;
	struct kma_key *oldest, *newest;
	struct {
		struct kma_key *oldest, *newest;
	} queue[KMA_QUEUES];
	size_t n_records, n_live;
	struct record_chunk *chunks;	/* where records come from */
	struct kma_key *free_records;	/* chained by hash_next */
	struct peers *peers;		/* kma_use_peers() */
};

uint64_t kma_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *kma_key_state_name(enum kma_key_state s)
{
	switch (s) {
	case KMA_KEY_STORED:	return "stored";
	case KMA_KEY_RESERVED:	return "reserved";
	case KMA_KEY_SUPPLIED:	return "supplied";
	case KMA_KEY_CONSUMED:	return "consumed";
	case KMA_KEY_DESTROYED:	return "destroyed";
	}
	return "?";
}

static bool state_is_final(enum kma_key_state s)
{
	return s == KMA_KEY_CONSUMED || s == KMA_KEY_DESTROYED;
}

/* FNV-1a over the UUID text. */
static uint32_t uuid_hash(const char *uuid)
{
	uint32_t h = 2166136261u;

	for (; *uuid; uuid++)
		h = (h ^ (uint8_t)*uuid) * 16777619u;
	return h & (KMA_HASH_BUCKETS - 1);
}

/* ---- links ---- */

struct kma_link *kma_link_by_peer(struct kma *kma, const char *node)
{
	for (size_t i = 0; i < kma->n_links; i++)
		if (!strcmp(kma->links[i]->cfg.peer, node))
			return kma->links[i];
	return NULL;
}

static struct kma_link *link_by_name(const struct kma *kma, const char *name)
{
	for (size_t i = 0; i < kma->n_links; i++)
		if (!strcmp(kma->links[i]->cfg.name, name))
			return kma->links[i];
	return NULL;
}

struct kma_link *kma_link_at(struct kma *kma, size_t i)
{
	return i < kma->n_links ? kma->links[i] : NULL;
}

const char *kma_link_name(const struct kma_link *l)
{
	return l->cfg.name;
}

const char *kma_link_peer(const struct kma_link *l)
{
	return l->cfg.peer;
}

struct keysrc *kma_link_src(struct kma_link *l)
{
	return l->src;
}

const char *kma_node(const struct kma *kma)
{
	return kma->node;
}

int kma_link_cfg(const struct kma *kma, size_t i, struct kma_link_cfg *out)
{
	if (i >= kma->n_links)
		return -1;
	*out = kma->links[i]->cfg;	/* its seed was cleared */
	return 0;
}

size_t kma_link_count(const struct kma *kma)
{
	return kma->n_links;
}

static void default_thresholds(struct kma_link_cfg *cfg,
			       const struct keysrc *src);

int kma_link_set_pool(struct kma *kma, const char *name, uint64_t pool_warn,
		      uint64_t pool_ready)
{
	struct kma_link *l = link_by_name(kma, name);

	if (!l)
		return -ENOENT;
	l->cfg.pool_warn = pool_warn;
	l->cfg.pool_ready = pool_ready;
	default_thresholds(&l->cfg, l->src);
	return 0;
}

int kma_link_set_generation(struct kma *kma, const char *name, bool run,
			    char *err, size_t errlen)
{
	struct kma_link *l = link_by_name(kma, name);
	char why[160] = "";
	int rc;

	if (!l) {
		snprintf(err, errlen, "no link %.64s (see link show)", name);
		return -ENOENT;
	}
	rc = keysrc_set_generation(l->src, run, why, sizeof(why));
	if (rc == -EOPNOTSUPP) {
		snprintf(err, errlen,
			 "link %s: %s; its QKD modules generate on their own: stop them there",
			 name, why);
		return rc;
	}
	if (rc) {
		snprintf(err, errlen, "link %s: %s", name, why);
		return rc;
	}
	log_notice("link %s: key generation %s", name,
		   run ? "started" : "stopped");
	return 0;
}

static enum qkd_pool_level pool_level(const struct kma_link *l, uint64_t avail)
{
	if (avail == 0)
		return QKD_POOL_EMPTY;
	if (avail < l->cfg.pool_warn)
		return QKD_POOL_WARNING;
	if (avail < l->cfg.pool_ready)
		return QKD_POOL_LOW;
	return QKD_POOL_READY;
}

int kma_link_info(const struct kma *kma, size_t i, struct kma_link_info *out)
{
	const struct kma_link *l;
	struct keysrc *src;

	if (i >= kma->n_links)
		return -1;
	l = kma->links[i];
	src = l->src;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", l->cfg.name);
	snprintf(out->peer, sizeof(out->peer), "%s", l->cfg.peer);
	out->source = l->cfg.source;
	out->role = src->role;
	out->up = keysrc_is_up(src);
	out->block_size = src->block_size;
	out->avail = keysrc_avail(src);
	out->level = pool_level(l, out->avail);
	out->pool_warn = l->cfg.pool_warn;
	out->pool_ready = l->cfg.pool_ready;
	out->bytes_allocated = src->allocated;
	out->bytes_fetched = src->fetched;
	out->bytes_discarded = src->discarded;
	out->fetch_failures = src->fetch_failures;
	out->rate_bps = l->cfg.source == KM_SOURCE_SIM ? l->cfg.rate : 0;
	out->keys_held = l->keys_held;
	keysrc_generation(src, &out->gen);
	if (keysrc_is_confirm(src)) {
		struct confirm_stats cs;

		confirm_stats(src, &cs);
		out->confirming = true;
		snprintf(out->agreement, sizeof(out->agreement), "%s",
			 confirm_state_name(cs.state));
		snprintf(out->refused, sizeof(out->refused), "%s", cs.refused);
		out->blocks_confirmed = cs.confirmed;
		out->blocks_mismatched = cs.mismatched;
		out->blocks_unconfirmed = cs.failed;
		out->confirm_key_bytes = cs.key_bytes_spent;
		out->kernel_push = cs.has_sink;
		out->link_id = l->cfg.link_id;
		out->blocks_pushed = cs.sink_pushed;
		out->blocks_push_skipped = cs.sink_skipped;
		out->blocks_push_failed = cs.sink_failed;
	}
	if (l->cfg.source == KM_SOURCE_ETSI014) {
		struct keysrc_etsi014_stats st;

		keysrc_etsi014_stats(confirm_inner(src), &st);
		out->has_module = true;
		out->module_up = st.module_up;
		out->peer_module_up = st.peer_module_up;
		out->module_requests = st.requests;
		out->module_failures = st.failures;
		out->module_backoffs = st.backoffs;
		out->module_keys_taken = st.keys_taken;
		out->module_keys_refused = st.keys_refused;
	}
	return 0;
}

/* ---- key confirmation over Kx ---- */

static const struct confirm_transport peers_confirm = {
	.send = peers_send, .is_up = peers_is_up,
};

static void confirm_rx(void *arg, const char *from, const struct kxmsg *m)
{
	struct kma_link *l = kma_link_by_peer(arg, from);

	if (l && keysrc_is_confirm(l->src))
		confirm_receive(l->src, m);
}

static void confirm_up(void *arg, const char *node)
{
	struct kma_link *l = kma_link_by_peer(arg, node);

	if (l && keysrc_is_confirm(l->src))
		confirm_peer_up(l->src);
}

void kma_use_peers(struct kma *kma, struct peers *peers)
{
	static const enum kxmsg_type types[] = {
		KXMSG_LINK_PARAMS, KXMSG_CONFIRM, KXMSG_CONFIRM_ACK,
	};

	if (kma->peers) {
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			peers_on_message(kma->peers, types[i], NULL, NULL);
		peers_on_up(kma->peers, NULL, NULL);
	}
	kma->peers = peers;
	for (size_t i = 0; i < kma->n_links; i++)
		if (keysrc_is_confirm(kma->links[i]->src))
			confirm_set_transport(kma->links[i]->src,
					      peers ? &peers_confirm : NULL,
					      peers);
	if (peers) {
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			peers_on_message(peers, types[i], confirm_rx, kma);
		peers_on_up(peers, confirm_up, kma);
	}
}

/* ---- records ---- */

/* Count @k into (+1) or out of (-1) the live records, in all and per link. */
static void count_live(struct kma *kma, struct kma_key *k, int delta)
{
	kma->n_live += delta;
	if (k->link)
		k->link->keys_held += delta;
}

static enum kma_queue queue_of(enum kma_key_state state)
{
	switch (state) {
	case KMA_KEY_RESERVED:
		return KMA_Q_RESERVED;
	case KMA_KEY_STORED:
	case KMA_KEY_SUPPLIED:
		return KMA_Q_STORED;
	default:
		return KMA_Q_FINAL;
	}
}

static void queue_append(struct kma *kma, struct kma_key *k)
{
	enum kma_queue q = queue_of(k->state);

	k->queued_ms = loop_now_ms();
	k->queue_newer = NULL;
	k->queue_older = kma->queue[q].newest;
	if (k->queue_older)
		k->queue_older->queue_newer = k;
	else
		kma->queue[q].oldest = k;
	kma->queue[q].newest = k;
}

static void queue_unlink(struct kma *kma, struct kma_key *k)
{
	enum kma_queue q = queue_of(k->state);

	if (k->queue_older)
		k->queue_older->queue_newer = k->queue_newer;
	else
		kma->queue[q].oldest = k->queue_newer;
	if (k->queue_newer)
		k->queue_newer->queue_older = k->queue_older;
	else
		kma->queue[q].newest = k->queue_older;
	k->queue_older = k->queue_newer = NULL;
}

static void record_unlink(struct kma *kma, struct kma_key *k)
{
	struct kma_key **pp = &kma->hash[uuid_hash(k->uuid)];

	while (*pp && *pp != k)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = k->hash_next;
	if (k->older)
		k->older->newer = k->newer;
	else
		kma->oldest = k->newer;
	if (k->newer)
		k->newer->older = k->older;
	else
		kma->newest = k->older;
	queue_unlink(kma, k);
	kma->n_records--;
	if (!state_is_final(k->state))
		count_live(kma, k, -1);
}

/* Onto the free list, poisoned; @k must be zero but for the link. */
static void record_push_free(struct kma *kma, struct kma_key *k)
{
	k->hash_next = kma->free_records;
	kma->free_records = k;
	ASAN_POISON_MEMORY_REGION(k, sizeof(*k));
}

static void record_free(struct kma *kma, struct kma_key *k)
{
	if (k->bytes)
		OPENSSL_secure_clear_free(k->bytes, k->len);
	OPENSSL_cleanse(k, sizeof(*k));
	record_push_free(kma, k);
}

/* A zeroed record, or NULL if no memory. */
static struct kma_key *record_alloc(struct kma *kma)
{
	struct record_chunk *c;
	struct kma_key *k;

	if (!kma->free_records) {
		c = mmap(NULL, RECORD_CHUNK_BYTES, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (c == MAP_FAILED)
			return NULL;
		c->next = kma->chunks;
		kma->chunks = c;
		/* Anonymous memory comes zeroed. */
		for (size_t i = RECORDS_PER_CHUNK; i-- > 0;)
			record_push_free(kma, &c->records[i]);
	}
	k = kma->free_records;
	ASAN_UNPOISON_MEMORY_REGION(k, sizeof(*k));
	kma->free_records = k->hash_next;
	k->hash_next = NULL;
	return k;
}

/* Make room by dropping the oldest tombstone; false if there is none. */
static bool drop_oldest_tombstone(struct kma *kma)
{
	struct kma_key *k = kma->queue[KMA_Q_FINAL].oldest;

	if (!k)
		return false;
	record_unlink(kma, k);
	record_free(kma, k);
	return true;
}

struct kma_key *kma_key_find(struct kma *kma, const char *uuid)
{
	struct kma_key *k = kma->hash[uuid_hash(uuid)];

	while (k && strcmp(k->uuid, uuid))
		k = k->hash_next;
	return k;
}

struct kma_key *kma_key_add(struct kma *kma, struct kma_link *link,
			    const char *uuid, enum kma_key_state state)
{
	uint32_t h = uuid_hash(uuid);
	struct kma_key *k;

	if (strlen(uuid) != KSA_KEY_ID_LEN - 1) {
		errno = EINVAL;
		return NULL;
	}
	if (kma_key_find(kma, uuid)) {
		errno = EEXIST;
		return NULL;
	}
	if (kma->n_records >= KMA_MAX_RECORDS && !drop_oldest_tombstone(kma)) {
		errno = ENOSPC;
		return NULL;
	}
	k = record_alloc(kma);
	if (!k)
		return NULL;
	memcpy(k->uuid, uuid, KSA_KEY_ID_LEN);
	k->link = link;
	k->state = state;
	k->created_ns = k->changed_ns = kma_realtime_ns();
	queue_append(kma, k);
	k->hash_next = kma->hash[h];
	kma->hash[h] = k;
	k->older = kma->newest;
	if (kma->newest)
		kma->newest->newer = k;
	else
		kma->oldest = k;
	kma->newest = k;
	kma->n_records++;
	if (!state_is_final(state))
		count_live(kma, k, +1);
	return k;
}

void kma_key_set_state(struct kma *kma, struct kma_key *k,
		       enum kma_key_state state)
{
	bool requeue = queue_of(k->state) != queue_of(state);

	if (!state_is_final(k->state) && state_is_final(state))
		count_live(kma, k, -1);
	if (requeue)
		queue_unlink(kma, k);
	k->state = state;
	if (requeue)
		queue_append(kma, k);
	k->changed_ns = kma_realtime_ns();
	if (state_is_final(state) && k->bytes) {
		OPENSSL_secure_clear_free(k->bytes, k->len);
		k->bytes = NULL;
	}
}

void kma_key_remove(struct kma *kma, struct kma_key *k)
{
	record_unlink(kma, k);
	record_free(kma, k);
}

struct kma_key *kma_key_oldest(struct kma *kma, enum kma_queue q)
{
	return kma->queue[q].oldest;
}

size_t kma_key_live_count(const struct kma *kma)
{
	return kma->n_live;
}

#ifdef QKD_UNIT_TEST
void kma_key_test_age(struct kma_key *k, uint64_t ms)
{
	k->queued_ms -= ms;
}
#endif

struct kma_key *kma_key_queue_next(const struct kma_key *k)
{
	return k->queue_newer;
}

uint64_t kma_key_queued_ms(const struct kma_key *k)
{
	return k->queued_ms;
}

const char *kma_key_uuid(const struct kma_key *k)
{
	return k->uuid;
}

struct kma_link *kma_key_link(const struct kma_key *k)
{
	return k->link;
}

enum kma_key_state kma_key_state(const struct kma_key *k)
{
	return k->state;
}

uint64_t kma_key_src_id(const struct kma_key *k)
{
	return k->src_id;
}

uint32_t kma_key_len(const struct kma_key *k)
{
	return k->len;
}

void kma_key_set_source(struct kma_key *k, uint64_t src_id, uint32_t len,
			uint64_t gen_time_ns)
{
	k->src_id = src_id;
	k->len = len;
	k->gen_time_ns = gen_time_ns;
}

struct kma_key_use *kma_key_use(struct kma_key *k)
{
	return &k->use;
}

const uint8_t *kma_key_bytes(const struct kma_key *k)
{
	return k->bytes;
}

void kma_key_set_bytes(struct kma_key *k, uint8_t *bytes)
{
	if (k->bytes)
		OPENSSL_secure_clear_free(k->bytes, k->len);
	k->bytes = bytes;
}

void kma_foreach_key(const struct kma *kma,
		     int (*fn)(void *arg, const struct kma_key_info *k),
		     void *arg)
{
	struct kma_key_info *info = malloc(sizeof(*info));

	if (!info)
		return;
	for (const struct kma_key *k = kma->oldest; k; k = k->newer) {
		memset(info, 0, sizeof(*info));
		memcpy(info->key_id, k->uuid, KSA_KEY_ID_LEN);
		snprintf(info->link, sizeof(info->link), "%s",
			 k->link->cfg.name);
		info->src_key_id = k->src_id;
		info->len = k->len;
		info->use = k->use;
		info->state = k->state;
		info->gen_time_ns = k->gen_time_ns;
		info->created_ns = k->created_ns;
		info->changed_ns = k->changed_ns;
		if (fn(arg, info))
			break;
	}
	free(info);
}

/* ---- construction ---- */

static void default_thresholds(struct kma_link_cfg *cfg,
			       const struct keysrc *src)
{
	/* sim: this end holds at most about one second of key (keysrc_sim.c
	 * allocates from the newer half of a 4 s window, half of it ours). */
	uint64_t full = cfg->source == KM_SOURCE_SIM ? cfg->rate / 8 :
			cfg->source == KM_SOURCE_ETSI014 ?
			(uint64_t)src->block_size * cfg->store_max :
			(uint64_t)src->block_size * 256;

	/* ... but never less than our quarter of the smallest window (16
	 * blocks): at low rates a sim end holds several seconds of key. */
	if (cfg->source == KM_SOURCE_SIM && full < (uint64_t)src->block_size * 4)
		full = (uint64_t)src->block_size * 4;

	if (!cfg->pool_warn)
		cfg->pool_warn = full / 10;
	if (!cfg->pool_ready)
		cfg->pool_ready = full / 2;
	if (cfg->pool_ready < cfg->pool_warn)
		cfg->pool_ready = cfg->pool_warn;
}

/*
 * Put link @cfg with its source @src (taken over, freed on failure) into
 * the store: at start and at run time alike, so that no link moves.
 */
/* -EEXIST with the reason if @cfg's name or peer is taken, else 0. */
static int link_conflict(struct kma *kma, const struct kma_link_cfg *cfg,
			 char *err, size_t errlen)
{
	struct kma_link *l = kma_link_by_peer(kma, cfg->peer);

	if (link_by_name(kma, cfg->name)) {
		snprintf(err, errlen, "link %s exists", cfg->name);
		return -EEXIST;
	}
	if (l) {
		snprintf(err, errlen, "peer %s already has link %s (one link per peer pair)",
			 cfg->peer, l->cfg.name);
		return -EEXIST;
	}
	return 0;
}

static int link_insert(struct kma *kma, const struct kma_link_cfg *cfg,
		       struct keysrc *src, char *err, size_t errlen)
{
	struct kma_link **a, *l = NULL;

	if (link_conflict(kma, cfg, err, errlen))
		goto fail;
	a = realloc(kma->links, (kma->n_links + 1) * sizeof(*a));
	if (a)
		kma->links = a;
	l = a ? calloc(1, sizeof(*l)) : NULL;
	if (!l) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	l->cfg = *cfg;
	OPENSSL_cleanse(l->cfg.seed, KM_SEED_LEN);
	l->src = src;
	default_thresholds(&l->cfg, src);
	kma->links[kma->n_links++] = l;
	return 0;
fail:
	keysrc_free(src);
	return -1;
}

struct kma *kma_new_with_sources(const struct km_node_cfg *node,
				 const struct kma_link_cfg *links,
				 struct keysrc **srcs, size_t n_links,
				 char *err, size_t errlen)
{
	struct kma *kma = calloc(1, sizeof(*kma));
	size_t i = 0;

	if (kma)
		kma->hash = calloc(KMA_HASH_BUCKETS, sizeof(*kma->hash));
	if (!kma || !kma->hash) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(kma->node, sizeof(kma->node), "%s", node->name);
	kma->node_cfg = *node;
	for (; i < n_links; i++)
		if (link_insert(kma, &links[i], srcs[i], err, errlen)) {
			i++;
			goto fail;
		}
	return kma;
fail:
	for (; i < n_links; i++)
		keysrc_free(srcs[i]);
	kma_free(kma);
	return NULL;
}

static int sink_push(void *arg, uint64_t block_id, const uint8_t *bytes,
		     uint32_t len, uint64_t gen_time_ns)
{
	return kpush_block(arg, block_id, bytes, len, gen_time_ns);
}

static void sink_free(void *arg)
{
	kpush_free(arg);
}

/* kernel_push: the confirmed blocks go to a qkd.ko push end. */
static int add_kernel_push(struct keysrc *src, const struct kma_link_cfg *l,
			   char *err, size_t errlen)
{
	struct kpush_cfg kc = {
		.link = l->name,
		.peer = l->peer,
		.link_id = l->link_id,
		.role = src->role == QKD_ROLE_RX ? QKD_ROLE_RX : QKD_ROLE_TX,
		.block_size = src->block_size,	/* confirmed bytes per block */
	};
	struct confirm_sink sink = { .push = sink_push, .free = sink_free };

	sink.arg = kpush_new(&kc, err, errlen);
	if (!sink.arg)
		return -1;
	confirm_set_sink(src, &sink);
	return 0;
}

static struct keysrc *open_source(struct loop *loop,
				  const struct km_node_cfg *node,
				  const struct kma_link_cfg *l,
				  char *err, size_t errlen)
{
	struct keysrc_sim_cfg sim = {
		.link_name = l->name,
		.state_dir = node->state_dir,
		.role = l->role,
		.seed = l->seed,
		.rate = l->rate,
		.block_size = l->block_size,
	};

	struct keysrc_etsi014_cfg e14 = {
		.link_name = l->name,
		.peer = l->peer,
		.where = l->where,
		.role = l->role,
		.block_size = l->block_size,
		.url = l->kme_url,
		.ca = l->kme_ca,
		.cert = l->kme_cert,
		.key = l->kme_key,
		.sae_id = l->sae_id,
		.peer_sae_id = l->peer_sae_id,
		.store_min = l->store_min,
		.store_max = l->store_max,
		.timeout_ms = l->kme_timeout_ms,
	};
	struct keysrc_file_cfg kf = {
		.link_name = l->name,
		.peer = l->peer,
		.where = l->where,
		.role = l->role,
		.block_size = l->block_size,
		.dir = l->key_dir,
		.wait_ms = l->key_wait_ms,
	};
	struct confirm_cfg cc = { .link = l->name, .peer = l->peer };
	struct keysrc *src;

	if (l->source == KM_SOURCE_KERNEL)
		src = keysrc_kernel_new(loop, l->link_id, err, errlen);
	else if (l->source == KM_SOURCE_ETSI014)
		src = keysrc_etsi014_new(loop, &e14, err, errlen);
	else if (l->source == KM_SOURCE_FILE)
		src = keysrc_file_new(loop, &kf, err, errlen);
	else
		src = keysrc_sim_new(&sim, err, errlen);
	if (!src)
		return NULL;
	/* Every source goes through key confirmation (confirm.h). */
	snprintf(cc.params.kind, sizeof(cc.params.kind), "%s", src->kind);
	cc.params.role = src->role;
	cc.params.block_size = src->block_size;
	if (l->source == KM_SOURCE_SIM) {
		cc.params.rate = l->rate;
		cc.params.has_fp = true;
		if (confirm_seed_fingerprint(l->seed, cc.params.fp)) {
			snprintf(err, errlen, "cannot hash the seed");
			keysrc_free(src);
			return NULL;
		}
	}
	src = confirm_wrap(loop, src, &cc, err, errlen);
	if (src && l->kernel_push && add_kernel_push(src, l, err, errlen)) {
		keysrc_free(src);
		return NULL;
	}
	return src;
}

struct kma *kma_new(struct loop *loop, const struct km_node_cfg *node,
		    const struct kma_link_cfg *links, size_t n_links,
		    char *err, size_t errlen)
{
	struct keysrc **srcs = calloc(n_links ? n_links : 1, sizeof(*srcs));
	char why[256];
	struct kma *kma;
	size_t i, j;

	if (!srcs) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < n_links; i++) {
		for (j = 0; j < i; j++) {
			if (!strcmp(links[i].peer, links[j].peer)) {
				snprintf(err, errlen,
					 "links %s and %s: two links to peer %s",
					 links[j].name, links[i].name,
					 links[i].peer);
				goto fail;
			}
		}
		srcs[i] = open_source(loop, node, &links[i], why, sizeof(why));
		if (!srcs[i]) {
			snprintf(err, errlen, "link %s: %s", links[i].name, why);
			goto fail;
		}
	}
	kma = kma_new_with_sources(node, links, srcs, n_links, err, errlen);
	free(srcs);
	if (kma)
		kma->loop = loop;
	return kma;
fail:
	for (j = 0; j < i; j++)
		keysrc_free(srcs[j]);
	free(srcs);
	return NULL;
}

void kma_etsi014_receive(struct kma *kma, const char *from,
			 const struct kxmsg *m)
{
	struct kma_link *l = kma_link_by_peer(kma, from);

	if (l && l->cfg.source == KM_SOURCE_ETSI014)
		keysrc_etsi014_receive(confirm_inner(l->src), m);
	else if (l && l->cfg.source == KM_SOURCE_FILE)
		keysrc_file_receive(confirm_inner(l->src), m);
}

/* Links whose source talks to its far node over Kx: etsi014, file. */
static void link_set_kx(struct kma *kma, struct kma_link *l)
{
	if (!kma->e14_kx)
		return;
	if (l->cfg.source == KM_SOURCE_ETSI014)
		keysrc_etsi014_set_kx(confirm_inner(l->src), kma->e14_kx,
				      kma->e14_kx_arg);
	else if (l->cfg.source == KM_SOURCE_FILE)
		keysrc_file_set_kx(confirm_inner(l->src), kma->e14_kx,
				   kma->e14_kx_arg);
}

void kma_etsi014_use_kx(struct kma *kma, const struct keysrc_etsi014_kx *kx,
			void *arg)
{
	kma->e14_kx = kx;
	kma->e14_kx_arg = arg;
	for (size_t i = 0; i < kma->n_links; i++)
		link_set_kx(kma, kma->links[i]);
}

int kma_link_add(struct kma *kma, const struct kma_link_cfg *cfg, char *err,
		 size_t errlen)
{
	struct keysrc *src;
	struct kma_link *l;
	char why[256];

	if (!kma->loop) {
		snprintf(err, errlen, "the store was built without an event loop");
		return -EINVAL;
	}
	/* Before the source opens: a duplicate must not touch its module. */
	if (link_conflict(kma, cfg, err, errlen))
		return -EEXIST;
	src = open_source(kma->loop, &kma->node_cfg, cfg, why, sizeof(why));
	if (!src) {
		snprintf(err, errlen, "link %s: %s", cfg->name, why);
		return -EIO;
	}
	if (link_insert(kma, cfg, src, err, errlen))
		return -ENOMEM;
	l = kma->links[kma->n_links - 1];
	/* Link agreement starts from its first tick if the peer is up
	 * (confirm_tick() asks while waiting), else when it comes up. */
	if (keysrc_is_confirm(l->src) && kma->peers)
		confirm_set_transport(l->src, &peers_confirm, kma->peers);
	link_set_kx(kma, l);
	return 0;
}

int kma_link_remove(struct kma *kma, const char *name)
{
	struct kma_link *l = link_by_name(kma, name);
	struct kma_key *k, *next;
	size_t i;

	if (!l)
		return -ENOENT;
	/* Its records go too, tombstones included: they point at it. */
	for (k = kma->oldest; k; k = next) {
		next = k->newer;
		if (k->link == l) {
			record_unlink(kma, k);
			record_free(kma, k);
		}
	}
	for (i = 0; kma->links[i] != l; i++)
		;
	memmove(&kma->links[i], &kma->links[i + 1],
		(kma->n_links - i - 1) * sizeof(*kma->links));
	kma->n_links--;
	keysrc_free(l->src);
	OPENSSL_cleanse(l, sizeof(*l));
	free(l);
	return 0;
}

void kma_free(struct kma *kma)
{
	struct kma_key *k, *next;

	if (!kma)
		return;
	for (k = kma->oldest; k; k = next) {
		next = k->newer;
		record_free(kma, k);
	}
	while (kma->chunks) {
		struct record_chunk *c = kma->chunks;

		kma->chunks = c->next;
		/* The address range may come back from another mmap(). */
		ASAN_UNPOISON_MEMORY_REGION(c, RECORD_CHUNK_BYTES);
		munmap(c, RECORD_CHUNK_BYTES);
	}
	for (size_t i = 0; i < kma->n_links; i++) {
		keysrc_free(kma->links[i]->src);
		OPENSSL_cleanse(kma->links[i], sizeof(*kma->links[i]));
		free(kma->links[i]);
	}
	free(kma->links);
	free(kma->hash);
	free(kma);
}
