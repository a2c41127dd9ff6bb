// SPDX-License-Identifier: GPL-2.0
/*
 * Key confirmation and link agreement: a key source in front of any key
 * source (confirm.h, Documentation/qkd/confirmation.rst).
 *
 * Blocks are taken whole from the inner source: this end's own share with
 * alloc(block_size, 1) (a key never spans blocks, so that is always one
 * whole block), the far end's share with get(block << 16, block_size) when
 * its CONFIRM names it.  Each end keeps its confirmed blocks in a ring
 * sorted by block ID (blocks are taken, sent and so received in ascending
 * order over the ordered Kx channel), looked up by binary search.  The
 * wrapper hands out at most what the ring holds, so the store above never
 * sees a byte that was not confirmed at both ends.
 *
 * Own blocks are taken ahead of use, as they arrive, up to a bounded
 * number; the far end holds twice as many of ours and evicts the oldest,
 * which by then were used up or dropped here.  Bytes live in the OpenSSL
 * secure heap and are zeroised as they are handed out or dropped.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "kma/blkring.h"
#include "kma/confirm.h"

static const char tag_label[] = "qkdn key confirmation v1";
static const char fp_label[] = "qkdn sim seed fingerprint v1";

/* Own blocks taken ahead: about 64 KiB, 8..64 blocks (small blocks, less). */
#define OWN_BYTES	(64u << 10)
#define OWN_MIN		8
#define OWN_MAX		64
/*
 * kernel_push: a confirmed block waits this long for the block ID before
 * it (the far end's, whose CONFIRM may still be on its way) before it is
 * pushed without it; the kernel takes ascending block IDs only.
 */
#define SINK_HOLD_MS		2000
/* Mismatch alarm cleared after this long with blocks confirmed, none not. */
#define MISMATCH_CLEAR_MS	60000

enum cblock_state {
	CB_PENDING,		/* own, CONFIRM sent, no verdict yet */
	CB_READY,		/* confirmed: bytes may be handed out */
	CB_DEAD,		/* dropped or used up; bytes gone */
};

struct cblock {
	uint64_t id;
	enum cblock_state state;
	uint8_t *bytes;		/* block_size of the source, secure heap */
	uint8_t *used;		/* far end's blocks: bitmap of bytes out */
	uint32_t off;		/* own blocks: next byte to hand out */
	uint64_t gen_time_ns;
	uint64_t sent_ms;	/* own: when the CONFIRM left */
	uint64_t ready_ms;	/* when it was confirmed */
};

struct confirm {
	struct keysrc src;
	struct keysrc *inner;
	struct loop_timer *timer;
	char link[KM_NAME_MAX];
	char peer[KM_NAME_MAX];
	char alarm_link[ALARM_SOURCE_MAX];	/* "link:NAME" */
	char alarm_confirm[ALARM_SOURCE_MAX];	/* "confirm:NAME" */
	struct confirm_params params;
	const struct confirm_transport *tr;
	void *tr_arg;
	enum confirm_state state;
	char refused[CONFIRM_WHY_MAX];
	uint64_t last_ask_ms;
	uint32_t usable;		/* bytes of a block handed out */
	struct blkring own, far;	/* of struct cblock */
	uint64_t own_avail;		/* READY own bytes not handed out */
	uint64_t last_far_id;		/* newest far block checked, + 1 */
	uint64_t confirmed, mismatched, failed, spent;
	uint64_t last_mismatch_ms, confirmed_at_mismatch;
	uint64_t last_mismatch_log_ms;
	struct kxmsg *msg;		/* scratch for sending */
	bool in_tick;
	struct confirm_sink sink;	/* kernel_push; push NULL: none */
	uint64_t sink_next;		/* lowest block ID it still takes */
	bool sink_started;		/* sink_next is valid */
	uint64_t sink_pushed, sink_skipped, sink_failed;
#ifdef QKD_TEST_HOOKS
	bool corrupt;			/* play a faulty source (below) */
#endif
};

/*
 * Test builds only (key_confirm.sh): with QKD_TEST_CORRUPT_BLOCKS=1 in the
 * environment, flip a bit of every block read from the source at this
 * end, as a faulty QKD module would.
 */
static void test_corrupt(struct confirm *c, uint8_t *block)
{
#ifdef QKD_TEST_HOOKS
	if (c->corrupt)
		block[0] ^= 0x01;
#endif
}

static const struct keysrc_ops confirm_ops;

static struct confirm *to_c(struct keysrc *src)
{
	return (struct confirm *)src;
}

bool keysrc_is_confirm(const struct keysrc *src)
{
	return src && src->ops == &confirm_ops;
}

struct keysrc *confirm_inner(struct keysrc *src)
{
	return keysrc_is_confirm(src) ? ((struct confirm *)src)->inner : src;
}

const char *confirm_state_name(enum confirm_state s)
{
	switch (s) {
	case CONFIRM_WAITING:	return "waiting";
	case CONFIRM_AGREED:	return "agreed";
	case CONFIRM_REFUSED:	return "refused";
	}
	return "?";
}

/* ---- the construction ---- */

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

int confirm_tag(uint64_t block_id, const uint8_t *nonce,
		const uint8_t *block, uint32_t block_size, uint8_t *tag)
{
	uint8_t ctx[sizeof(tag_label) + 8 + 4 + CONFIRM_NONCE_BYTES];
	EVP_MAC *mac;
	EVP_MAC_CTX *mc = NULL;
	size_t outl = 0;
	int ok = 0;

	if (block_size <= CONFIRM_KEY_BYTES)
		return -1;
	/* The label's NUL ends it: the fields after it cannot shift. */
	memcpy(ctx, tag_label, sizeof(tag_label));
	put_be(ctx + sizeof(tag_label), block_id, 8);
	put_be(ctx + sizeof(tag_label) + 8, block_size, 4);
	memcpy(ctx + sizeof(tag_label) + 12, nonce, CONFIRM_NONCE_BYTES);
	mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
	if (mac)
		mc = EVP_MAC_CTX_new(mac);
	if (mc &&
	    EVP_MAC_init(mc, block + block_size - CONFIRM_KEY_BYTES,
			 CONFIRM_KEY_BYTES, NULL) == 1 &&
	    EVP_MAC_update(mc, ctx, sizeof(ctx)) == 1 &&
	    EVP_MAC_update(mc, block, block_size - CONFIRM_KEY_BYTES) == 1 &&
	    EVP_MAC_final(mc, tag, &outl, CONFIRM_TAG_BYTES) == 1 &&
	    outl == CONFIRM_TAG_BYTES)
		ok = 1;
	/* The context holds the one-time key. */
	EVP_MAC_CTX_free(mc);
	EVP_MAC_free(mac);
	return ok ? 0 : -1;
}

int confirm_seed_fingerprint(const uint8_t *seed, uint8_t *fp)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, fp_label, sizeof(fp_label)) == 1 &&
	     EVP_DigestUpdate(md, seed, KM_SEED_LEN) == 1 &&
	     EVP_DigestFinal_ex(md, fp, &n) == 1 && n == CONFIRM_FP_BYTES;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

static const char *role_name(unsigned int role)
{
	return role == QKD_ROLE_TX ? "tx" : role == QKD_ROLE_RX ? "rx" : "?";
}

int confirm_params_check(const char *link, const char *peer,
			 const struct confirm_params *mine,
			 const struct kxmsg *theirs, char *why, size_t len)
{
	if (strcmp(mine->kind, theirs->source))
		snprintf(why, len,
			 "link %s: key sources differ: %s here, %s at %s",
			 link, mine->kind, theirs->source, peer);
	else if (theirs->link_role == mine->role)
		snprintf(why, len,
			 "link %s: both ends are role %s; one must be %s",
			 link, role_name(mine->role),
			 role_name(mine->role == QKD_ROLE_TX ? QKD_ROLE_RX :
				   QKD_ROLE_TX));
	else if (theirs->block_size != mine->block_size)
		snprintf(why, len,
			 "link %s: block sizes differ: %u here, %u at %s",
			 link, mine->block_size, theirs->block_size, peer);
	else if (mine->rate && theirs->rate && mine->rate != theirs->rate)
		snprintf(why, len,
			 "link %s: rates differ: %llu bit/s here, %llu at %s",
			 link, (unsigned long long)mine->rate,
			 (unsigned long long)theirs->rate, peer);
	else if (mine->has_fp != !!theirs->has_fingerprint ||
		 (mine->has_fp &&
		  CRYPTO_memcmp(mine->fp, theirs->fingerprint,
				CONFIRM_FP_BYTES)))
		snprintf(why, len, "link %s: seed fingerprints differ", link);
	else
		return 0;
	return -1;
}

/* ---- rings ---- */

static void block_wipe(struct confirm *c, struct cblock *b)
{
	if (b->bytes)
		OPENSSL_secure_clear_free(b->bytes, c->inner->block_size);
	free(b->used);
	b->bytes = NULL;
	b->used = NULL;
	b->state = CB_DEAD;
}

/* Drop the oldest block; its unused bytes count as discarded. */
static void ring_pop(struct confirm *c, struct blkring *r)
{
	struct cblock *b = blkring_at(r, 0);

	if (b->state == CB_READY && r == &c->own) {
		c->own_avail -= c->usable - b->off;
		c->src.discarded += c->usable - b->off;
	}
	block_wipe(c, b);
	blkring_pop(r);
}

/* Pop used-up and dead blocks off the head. */
static void ring_trim(struct confirm *c, struct blkring *r)
{
	while (r->n &&
	       ((struct cblock *)blkring_at(r, 0))->state == CB_DEAD)
		ring_pop(c, r);
}

/* ---- kernel_push ---- */

/* The oldest block of @r that is not dead, or NULL. */
static struct cblock *first_live(struct blkring *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		struct cblock *b = blkring_at(r, i);

		if (b->state != CB_DEAD)
			return b;
	}
	return NULL;
}

/*
 * Hand confirmed blocks to the sink, lowest ID first across both shares,
 * up to the first own block still waiting for its verdict.
 */
static void sink_flush(struct confirm *c)
{
	if (!c->sink.push)
		return;
	for (;;) {
		struct cblock *o = first_live(&c->own);
		struct cblock *f = first_live(&c->far);
		struct cblock *b = !o ? f : !f ? o : o->id < f->id ? o : f;

		if (!b || b->state == CB_PENDING)
			break;
		/*
		 * Both ends push the same IDs in the same order only if a
		 * block waits for the one before it: an own block is
		 * confirmed a round trip after the far end's next lower one
		 * may still be taken there.
		 */
		if (c->sink_started && b->id > c->sink_next &&
		    loop_now_ms() - b->ready_ms < SINK_HOLD_MS)
			break;
		if (b->id < c->sink_next)
			c->sink_skipped++;
		else if (c->sink.push(c->sink.arg, b->id, b->bytes, c->usable,
				      b->gen_time_ns))
			c->sink_failed++;
		else
			c->sink_pushed++;
		if (b->id >= c->sink_next)
			c->sink_next = b->id + 1;
		c->sink_started = true;
		if (b == o)
			c->own_avail -= c->usable - b->off;
		block_wipe(c, b);
	}
	ring_trim(c, &c->own);
	ring_trim(c, &c->far);
}

void confirm_set_sink(struct keysrc *src, const struct confirm_sink *sink)
{
	struct confirm *c = to_c(src);

	if (c->sink.free)
		c->sink.free(c->sink.arg);
	c->sink = *sink;
	sink_flush(c);
}

/* ---- alarms ---- */

/*
 * Different bytes at the two ends: an error the reconciliation missed, a
 * module or a key source gone wrong, or tampering; no key is served from
 * the block, so the link's supply suffers.
 */
static const struct alarm_desc mismatch_alarm = {
	.type = ALARM_SECURITY, .cause = "integrityViolation",
	.severity = ALARM_MAJOR,
};

/* The two ends' link parameters differ: one of the configs is wrong. */
static const struct alarm_desc params_alarm = {
	.type = ALARM_PROCESSING, .cause = "configurationOrCustomizationError",
	.severity = ALARM_MAJOR,
};

static void mismatch(struct confirm *c, uint64_t block, const char *where)
{
	uint64_t now = loop_now_ms();
	bool quiet = c->mismatched && now - c->last_mismatch_log_ms < 1000;

	c->mismatched++;
	c->last_mismatch_ms = now;
	c->confirmed_at_mismatch = c->confirmed;
	/* A wrong source fails every block: one line a second at most. */
	if (!quiet) {
		c->last_mismatch_log_ms = now;
		log_warn("link %s: key confirmation failed for block %llu (%s): the two ends hold different bytes; block discarded",
			 c->link, (unsigned long long)block, where);
	}
	alarm_raise_desc(c->alarm_confirm, &mismatch_alarm,
			 "link %s: key confirmation failed: the two ends hold different key bytes (%llu blocks discarded)",
			 c->link, (unsigned long long)c->mismatched);
}

/* ---- talking to the far end ---- */

static int send_msg(struct confirm *c)
{
	snprintf(c->msg->link, sizeof(c->msg->link), "%s", c->link);
	if (!c->tr || c->tr->send(c->tr_arg, c->peer, c->msg))
		return -1;
	return 0;
}

static void send_params(struct confirm *c, bool ask)
{
	struct kxmsg *m = c->msg;

	kxmsg_clear(m, KXMSG_LINK_PARAMS);
	m->code = ask ? KX_PARAMS_ASK : 0;
	snprintf(m->source, sizeof(m->source), "%s", c->params.kind);
	m->link_role = (uint8_t)c->params.role;
	m->rate = c->params.rate;
	m->block_size = c->params.block_size;
	m->has_fingerprint = c->params.has_fp;
	if (c->params.has_fp)
		memcpy(m->fingerprint, c->params.fp, CONFIRM_FP_BYTES);
	if (ask)
		c->last_ask_ms = loop_now_ms();
	if (send_msg(c))
		log_debug("link %s: cannot send link parameters to %s",
			  c->link, c->peer);
}

/* Answer a CONFIRM; returns 0 so that callers can end with it. */
static int send_verdict(struct confirm *c, uint64_t key_id, uint32_t code,
			const char *text)
{
	kxmsg_clear(c->msg, KXMSG_CONFIRM_ACK);
	c->msg->key_id = key_id;
	c->msg->code = code;
	snprintf(c->msg->text, sizeof(c->msg->text), "%s", text ? text : "");
	send_msg(c);
	return 0;
}

/* Forget own blocks still waiting for a verdict (the channel changed). */
static void drop_pending(struct confirm *c)
{
	for (uint32_t i = 0; i < c->own.n; i++) {
		struct cblock *b = blkring_at(&c->own, i);

		if (b->state == CB_PENDING) {
			block_wipe(c, b);
			c->failed++;
		}
	}
	ring_trim(c, &c->own);
}

/*
 * The far end (re)starts agreeing: it may be a new instance that holds
 * none of the blocks confirmed with the old one, so neither end may use
 * them any more.
 */
static void drop_all(struct confirm *c)
{
	drop_pending(c);
	while (c->own.n)
		ring_pop(c, &c->own);
	while (c->far.n)
		ring_pop(c, &c->far);
}

void confirm_peer_up(struct keysrc *src)
{
	struct confirm *c = to_c(src);

	drop_all(c);
	if (c->state == CONFIRM_AGREED)
		c->state = CONFIRM_WAITING;
	send_params(c, true);
}

static void on_params(struct confirm *c, const struct kxmsg *m)
{
	char why[CONFIRM_WHY_MAX];

	if (m->code == KX_PARAMS_ASK)
		drop_all(c);
	if (confirm_params_check(c->link, c->peer, &c->params, m, why,
				 sizeof(why))) {
		if (c->state != CONFIRM_REFUSED || strcmp(why, c->refused))
			log_warn("%s; link refused", why);
		c->state = CONFIRM_REFUSED;
		snprintf(c->refused, sizeof(c->refused), "%s", why);
		drop_pending(c);
		alarm_raise_desc(c->alarm_link, &params_alarm, "%s", why);
	} else {
		if (c->state != CONFIRM_AGREED)
			log_notice("link %s: parameters agreed with %s",
				   c->link, c->peer);
		c->state = CONFIRM_AGREED;
		c->refused[0] = '\0';
		alarm_clear(c->alarm_link);
	}
	/* A new round: the far end may have restarted its block IDs. */
	c->last_far_id = 0;
	if (m->code == KX_PARAMS_ASK)
		send_params(c, false);
}

/* The far end's block: read ours, compare, answer. */
static int on_confirm(struct confirm *c, const struct kxmsg *m)
{
	uint64_t blk = keysrc_block_of(m->key_id);
	uint32_t bs = c->inner->block_size;
	uint8_t tag[CONFIRM_TAG_BYTES];
	char err[128] = "";
	struct cblock *b;
	uint8_t *bytes;
	uint64_t gen = 0;
	int rc;

	if (c->state != CONFIRM_AGREED)
		return send_verdict(c, m->key_id, KXC_NO_LINK,
				    "link parameters not agreed");
	if (keysrc_offset_of(m->key_id) || m->key_len != bs ||
	    keysrc_block_is_own(c->src.role, blk) ||
	    (c->last_far_id && blk < c->last_far_id))
		return send_verdict(c, m->key_id, KXC_BAD_MESSAGE,
				    "not a whole block of your share, in order");
	c->last_far_id = blk + 1;
	bytes = OPENSSL_secure_malloc(bs);
	if (!bytes)
		return send_verdict(c, m->key_id, KXC_FETCH_FAILED,
				    "out of secure memory");
	rc = keysrc_get(c->inner, m->key_id, bs, bytes, &gen, err,
			sizeof(err));
	if (rc) {
		OPENSSL_secure_clear_free(bytes, bs);
		c->failed++;
		return send_verdict(c, m->key_id, KXC_FETCH_FAILED, err);
	}
	test_corrupt(c, bytes);
	c->spent += CONFIRM_KEY_BYTES;
	if (confirm_tag(blk, m->nonce, bytes, bs, tag)) {
		OPENSSL_secure_clear_free(bytes, bs);
		c->failed++;
		return send_verdict(c, m->key_id, KXC_FETCH_FAILED,
				    "cannot compute the tag");
	}
	/* The MAC key is spent: it never leaves this function. */
	OPENSSL_cleanse(bytes + c->usable, CONFIRM_KEY_BYTES);
	if (CRYPTO_memcmp(tag, m->tag, CONFIRM_TAG_BYTES)) {
		OPENSSL_secure_clear_free(bytes, bs);
		mismatch(c, blk, "checked here");
		return send_verdict(c, m->key_id, KXC_MISMATCH,
				    "tags differ");
	}
	if (c->far.n == c->far.cap)
		ring_pop(c, &c->far);
	b = blkring_push(&c->far, blk);
	b->bytes = bytes;
	b->used = calloc((c->usable + 7) / 8, 1);
	b->gen_time_ns = gen;
	b->state = CB_READY;
	b->ready_ms = loop_now_ms();
	if (!b->used) {
		block_wipe(c, b);
		c->failed++;
		return send_verdict(c, m->key_id, KXC_FETCH_FAILED,
				    "out of memory");
	}
	c->confirmed++;
	rc = send_verdict(c, m->key_id, KXC_OK, NULL);
	sink_flush(c);
	return rc;
}

static void on_verdict(struct confirm *c, const struct kxmsg *m)
{
	uint64_t blk = keysrc_block_of(m->key_id);
	struct cblock *b = blkring_find(&c->own, blk);

	if (!b || b->state != CB_PENDING || keysrc_offset_of(m->key_id))
		return;		/* dropped meanwhile: nothing to do */
	if (m->code == KXC_OK) {
		OPENSSL_cleanse(b->bytes + c->usable, CONFIRM_KEY_BYTES);
		b->state = CB_READY;
		b->ready_ms = loop_now_ms();
		c->own_avail += c->usable;
		c->confirmed++;
		sink_flush(c);
		return;
	}
	block_wipe(c, b);
	if (m->code == KXC_MISMATCH)
		mismatch(c, blk, "checked at the far end");
	else
		c->failed++;
	ring_trim(c, &c->own);
	sink_flush(c);		/* it held back the blocks after it */
}

void confirm_receive(struct keysrc *src, const struct kxmsg *m)
{
	struct confirm *c = to_c(src);

	switch (m->type) {
	case KXMSG_LINK_PARAMS:
		on_params(c, m);
		break;
	case KXMSG_CONFIRM:
		on_confirm(c, m);
		break;
	case KXMSG_CONFIRM_ACK:
		on_verdict(c, m);
		confirm_tick(src);	/* refill at once */
		break;
	default:
		break;
	}
}

/* Take one own block from the source and send its tag: 0, or -1. */
static int take_block(struct confirm *c)
{
	uint32_t bs = c->inner->block_size;
	struct keysrc_key k;
	char err[128];
	struct cblock *b;
	uint8_t *bytes = OPENSSL_secure_malloc(bs);
	int rc;

	if (!bytes)
		return -1;
	rc = keysrc_alloc(c->inner, bs, 1, &k, bytes, err, sizeof(err));
	if (rc || keysrc_offset_of(k.id) ||
	    (c->own.n &&
	     blkring_id(&c->own, blkring_at(&c->own, c->own.n - 1)) >=
	     keysrc_block_of(k.id))) {
		OPENSSL_secure_clear_free(bytes, bs);
		return -1;
	}
	test_corrupt(c, bytes);
	kxmsg_clear(c->msg, KXMSG_CONFIRM);
	c->msg->key_id = k.id;
	c->msg->key_len = bs;
	c->spent += CONFIRM_KEY_BYTES;
	if (RAND_bytes(c->msg->nonce, CONFIRM_NONCE_BYTES) != 1 ||
	    confirm_tag(keysrc_block_of(k.id), c->msg->nonce, bytes, bs,
			c->msg->tag) || send_msg(c)) {
		OPENSSL_secure_clear_free(bytes, bs);
		c->failed++;
		return -1;
	}
	b = blkring_push(&c->own, keysrc_block_of(k.id));
	b->bytes = bytes;
	b->gen_time_ns = k.gen_time_ns;
	b->sent_ms = loop_now_ms();
	b->state = CB_PENDING;
	return 0;
}

void confirm_tick(struct keysrc *src)
{
	struct confirm *c = to_c(src);
	uint64_t now = loop_now_ms();
	bool up;

	if (c->in_tick)
		return;
	c->in_tick = true;
	up = c->tr && c->tr->is_up(c->tr_arg, c->peer);
	if (up && c->state == CONFIRM_WAITING &&
	    now - c->last_ask_ms >= CONFIRM_ASK_MS)
		send_params(c, true);
	for (uint32_t i = 0; i < c->own.n; i++) {
		struct cblock *b = blkring_at(&c->own, i);

		if (b->state == CB_PENDING &&
		    now - b->sent_ms >= CONFIRM_TIMEOUT_MS) {
			block_wipe(c, b);
			c->failed++;
		}
	}
	ring_trim(c, &c->own);
	sink_flush(c);
	while (up && c->state == CONFIRM_AGREED && c->own.n < c->own.cap &&
	       keysrc_is_up(c->inner) &&
	       keysrc_avail(c->inner) >= c->inner->block_size &&
	       take_block(c) == 0)
		;
	if (alarm_is_active(c->alarm_confirm) &&
	    c->confirmed > c->confirmed_at_mismatch &&
	    now - c->last_mismatch_ms >= MISMATCH_CLEAR_MS)
		alarm_clear(c->alarm_confirm);
	c->in_tick = false;
}

static void on_timer(void *arg)
{
	confirm_tick(arg);
}

void confirm_set_transport(struct keysrc *src,
			   const struct confirm_transport *tr, void *arg)
{
	struct confirm *c = to_c(src);

	c->tr = tr;
	c->tr_arg = arg;
	if (!tr) {
		drop_pending(c);
		c->state = CONFIRM_WAITING;
	}
}

/* ---- the keysrc interface ---- */

/* As the sources do: a key never spans blocks; a short tail is wasted. */
static bool plan_fits(struct confirm *c, uint32_t len, uint32_t count)
{
	for (uint32_t i = 0; i < c->own.n && count; i++) {
		struct cblock *b = blkring_at(&c->own, i);
		uint32_t fit;

		if (b->state != CB_READY)
			continue;
		fit = (c->usable - b->off) / len;
		count -= fit < count ? fit : count;
	}
	return count == 0;
}

static int c_alloc(struct keysrc *src, uint32_t len, uint32_t count,
		   struct keysrc_key *keys, uint8_t *bytes,
		   char *err, size_t errlen)
{
	struct confirm *c = to_c(src);
	uint32_t i = 0;

	if (len == 0 || len > c->usable || count == 0 ||
	    count > QKD_KEY_COUNT_MAX) {
		snprintf(err, errlen, "bad key length or count");
		return -EINVAL;
	}
	if (c->state != CONFIRM_AGREED) {
		snprintf(err, errlen, "link not agreed with the far end");
		return -ENETDOWN;
	}
	if (c->sink.push) {
		snprintf(err, errlen, "the link's keys go to the kernel (kernel_push)");
		return -ENOSPC;
	}
	if (!plan_fits(c, len, count)) {
		snprintf(err, errlen, "not enough confirmed key in pool");
		confirm_tick(src);	/* confirm more for next time */
		return -ENOSPC;
	}
	for (uint32_t j = 0; j < c->own.n && i < count; j++) {
		struct cblock *b = blkring_at(&c->own, j);

		if (b->state != CB_READY)
			continue;
		while (i < count && c->usable - b->off >= len) {
			keys[i].id = b->id << QKD_KEY_ID_OFFSET_BITS | b->off;
			keys[i].len = len;
			keys[i].gen_time_ns = b->gen_time_ns;
			memcpy(bytes + (size_t)i * len, b->bytes + b->off,
			       len);
			OPENSSL_cleanse(b->bytes + b->off, len);
			b->off += len;
			c->own_avail -= len;
			src->allocated += len;
			i++;
		}
		if (c->usable - b->off < len && i < count) {
			/* The tail is wasted, as in the sources. */
			c->own_avail -= c->usable - b->off;
			src->discarded += c->usable - b->off;
			b->off = c->usable;
		}
		if (b->off == c->usable)
			block_wipe(c, b);
	}
	ring_trim(c, &c->own);
	if (c->own.n < c->own.cap / 2)
		confirm_tick(src);
	return 0;
}

static bool range_free(const struct cblock *b, uint32_t off, uint32_t len)
{
	for (uint32_t i = off; i < off + len; i++)
		if (b->used[i / 8] & (1u << (i % 8)))
			return false;
	return true;
}

static void range_mark(struct confirm *c, struct cblock *b, uint32_t off,
		       uint32_t len)
{
	bool all = true;

	for (uint32_t i = off; i < off + len; i++)
		b->used[i / 8] |= (uint8_t)(1u << (i % 8));
	OPENSSL_cleanse(b->bytes + off, len);
	for (uint32_t i = 0; i < c->usable && all; i++)
		all = b->used[i / 8] & (1u << (i % 8));
	if (all)
		block_wipe(c, b);
}

/* The far end's block of @key_id, or NULL with the reason. */
static struct cblock *far_block(struct confirm *c, uint64_t key_id,
				uint32_t len, int *rc, char *err,
				size_t errlen)
{
	uint64_t blk = keysrc_block_of(key_id);
	uint32_t off = keysrc_offset_of(key_id);
	struct cblock *b;

	*rc = -EINVAL;
	if (len == 0 || off >= c->usable || len > c->usable - off) {
		snprintf(err, errlen, "range outside the confirmed block");
		return NULL;
	}
	if (keysrc_block_is_own(c->src.role, blk)) {
		snprintf(err, errlen, "key of this end's share");
		return NULL;
	}
	b = blkring_find(&c->far, blk);
	if (!b) {
		*rc = -ENOENT;
		snprintf(err, errlen, "block not confirmed here");
		return NULL;
	}
	return b;
}

static int c_get(struct keysrc *src, uint64_t key_id, uint32_t len,
		 uint8_t *out, uint64_t *gen_time_ns, char *err, size_t errlen)
{
	struct confirm *c = to_c(src);
	uint32_t off = keysrc_offset_of(key_id);
	struct cblock *b;
	int rc;

	b = far_block(c, key_id, len, &rc, err, errlen);
	if (b && (b->state != CB_READY || !range_free(b, off, len))) {
		snprintf(err, errlen, "key already handed out");
		rc = -EALREADY;
		b = NULL;
	}
	if (!b) {
		src->fetch_failures++;
		return rc;
	}
	memcpy(out, b->bytes + off, len);
	if (gen_time_ns)
		*gen_time_ns = b->gen_time_ns;
	range_mark(c, b, off, len);
	src->fetched += len;
	return 0;
}

static int c_discard(struct keysrc *src, uint64_t key_id, uint32_t len)
{
	struct confirm *c = to_c(src);
	uint32_t off = keysrc_offset_of(key_id);
	struct cblock *b;
	char err[64];
	int rc;

	b = far_block(c, key_id, len, &rc, err, sizeof(err));
	if (!b)
		return rc == -ENOENT ? 0 : rc;
	if (b->state == CB_READY) {
		range_mark(c, b, off, len);
		src->discarded += len;
	}
	return 0;
}

static uint64_t c_avail(struct keysrc *src)
{
	struct confirm *c = to_c(src);

	uint64_t in;

	if (c->state == CONFIRM_REFUSED || c->sink.push)
		return 0;
	/*
	 * The pool is the source's: what it holds is confirmed as it is
	 * needed, one round trip ahead, so pool levels and routing see it.
	 * Only alloc() is held to what is confirmed already.
	 */
	in = keysrc_avail(c->inner);
	in = in / c->inner->block_size * c->usable;
	return c->own_avail + in;
}

static bool c_is_up(struct keysrc *src)
{
	struct confirm *c = to_c(src);

	/*
	 * Down only when refused: before the far end answers, the source is
	 * up as before, it just has no confirmed key yet (avail 0).
	 */
	return c->state != CONFIRM_REFUSED && keysrc_is_up(c->inner);
}

static void c_free(struct keysrc *src)
{
	struct confirm *c = to_c(src);

	if (c->timer)
		loop_timer_del(c->timer);
	while (c->own.n)
		ring_pop(c, &c->own);
	while (c->far.n)
		ring_pop(c, &c->far);
	blkring_free(&c->own);
	blkring_free(&c->far);
	free(c->msg);
	if (c->sink.free)
		c->sink.free(c->sink.arg);
	keysrc_free(c->inner);
	alarm_clear(c->alarm_link);
	alarm_clear(c->alarm_confirm);
	free(c);
}

/* Generation is the source's: confirmation only passes it on. */
static int c_set_generation(struct keysrc *src, bool run, char *err,
			    size_t errlen)
{
	return keysrc_set_generation(to_c(src)->inner, run, err, errlen);
}

static void c_generation(struct keysrc *src, struct keysrc_gen *out)
{
	keysrc_generation(to_c(src)->inner, out);
}

static const struct keysrc_ops confirm_ops = {
	.alloc = c_alloc,
	.get = c_get,
	.discard = c_discard,
	.avail = c_avail,
	.is_up = c_is_up,
	.free = c_free,
	.set_generation = c_set_generation,
	.generation = c_generation,
};

void confirm_stats(const struct keysrc *src, struct confirm_stats *out)
{
	const struct confirm *c = (const struct confirm *)src;

	memset(out, 0, sizeof(*out));
	out->state = c->state;
	snprintf(out->refused, sizeof(out->refused), "%s", c->refused);
	out->confirmed = c->confirmed;
	out->mismatched = c->mismatched;
	out->failed = c->failed;
	out->key_bytes_spent = c->spent;
	for (uint32_t i = 0; i < c->own.n; i++) {
		const struct cblock *b = blkring_at(&c->own, i);

		out->pending += b->state == CB_PENDING;
		out->own_blocks += b->state == CB_READY;
	}
	for (uint32_t i = 0; i < c->far.n; i++)
		out->peer_blocks += ((const struct cblock *)
				     blkring_at(&c->far, i))->state == CB_READY;
	out->inner_allocated = c->inner->allocated;
	out->inner_fetched = c->inner->fetched;
	out->has_sink = c->sink.push != NULL;
	out->sink_pushed = c->sink_pushed;
	out->sink_skipped = c->sink_skipped;
	out->sink_failed = c->sink_failed;
}

struct keysrc *confirm_wrap(struct loop *loop, struct keysrc *inner,
			    const struct confirm_cfg *cfg,
			    char *err, size_t errlen)
{
	struct confirm *c;
	uint32_t own;

	if (inner->block_size < KM_BLOCK_SIZE_MIN) {
		snprintf(err, errlen,
			 "block size %u too small for key confirmation (at least %u)",
			 inner->block_size, KM_BLOCK_SIZE_MIN);
		keysrc_free(inner);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	own = OWN_BYTES / inner->block_size;
	own = own < OWN_MIN ? OWN_MIN : own > OWN_MAX ? OWN_MAX : own;
	if (c) {
		blkring_init(&c->own, own, sizeof(struct cblock),
			     offsetof(struct cblock, id));
		blkring_init(&c->far, 2 * own, sizeof(struct cblock),
			     offsetof(struct cblock, id));
		c->msg = calloc(1, sizeof(*c->msg));
	}
	if (!c || !c->own.slots || !c->far.slots || !c->msg) {
		snprintf(err, errlen, "out of memory");
		if (c) {
			blkring_free(&c->own);
			blkring_free(&c->far);
			free(c->msg);
		}
		free(c);
		keysrc_free(inner);
		return NULL;
	}
	c->inner = inner;
	c->src.ops = &confirm_ops;
	c->src.kind = inner->kind;
	c->src.role = inner->role;
	c->usable = inner->block_size - CONFIRM_KEY_BYTES;
	c->src.block_size = c->usable;
	c->params = cfg->params;
	snprintf(c->link, sizeof(c->link), "%s", cfg->link);
	snprintf(c->peer, sizeof(c->peer), "%s", cfg->peer);
	snprintf(c->alarm_link, sizeof(c->alarm_link), "link:%s", cfg->link);
	snprintf(c->alarm_confirm, sizeof(c->alarm_confirm), "confirm:%s",
		 cfg->link);
#ifdef QKD_TEST_HOOKS
	c->corrupt = getenv("QKD_TEST_CORRUPT_BLOCKS") != NULL;
	if (c->corrupt)
		log_warn("confirm test hook: corrupting every block of link %s",
			 c->link);
#endif
	if (loop) {
		c->timer = loop_timer_add(loop, CONFIRM_TICK_MS, true,
					  on_timer, c);
		if (!c->timer) {
			snprintf(err, errlen, "cannot add the confirmation timer");
			c_free(&c->src);
			return NULL;
		}
	}
	return &c->src;
}
