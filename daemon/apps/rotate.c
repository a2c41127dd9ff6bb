// SPDX-License-Identifier: GPL-2.0
/*
 * The rotating consumer core (rotate.h): the schedule, the owner/follower
 * exchange over Kx, failures and alarms, shared by MACsec and WireGuard.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

#include "apps/rotate.h"
#include "core/log.h"
#include "core/loop.h"
#include "kma/kma.h"
#include "kma/take.h"
#include "kx/peer.h"

#define TICK_MS		100
#define RETRY_US	1000000ull

enum phase {
	PHASE_IDLE,
	PHASE_PREPARING,	/* owner: async prepare under way */
	PHASE_WAIT_ACK,		/* owner: offer sent */
	PHASE_ACTIVATING,	/* async activate under way */
	PHASE_INSTALLING,	/* follower: async install under way */
};

struct rotate_port {
	struct rotate *r;
	struct rotate_port_cfg cfg;
	char name[KM_NAME_MAX], peer[KM_NAME_MAX], link[KM_NAME_MAX];
	char alarm_source[ALARM_SOURCE_MAX], alarm_object[ALARM_OBJECT_MAX];
	struct keysrc *src;
	bool kx_was_up;

	enum phase phase;
	uint8_t *key;		/* secure heap: K until its first op returns */
	bool key_held;
	uint64_t seq;		/* generation of the rotation under way */
	uint64_t next_key_id;
	uint8_t next_slot;
	uint64_t sent_at_us;	/* the offer, or the async op's start */
	uint64_t offer_at_us;
	bool rekey_wanted;
	int old_slot;		/* -1: none to retire */
	uint64_t old_retire_us;
	struct rotate_status st;
};

struct rotate {
	struct rotate_cfg cfg;
	struct kma *kma;
	struct loop_timer *tick;
	struct rotate_port *ports;
	size_t n_ports;
	char node[KM_NAME_MAX];
	struct rotate *next;	/* the list for rotate_counter() */
};

static struct rotate *groups;

static const struct rotate_ops *ops_of(const struct rotate_port *rp)
{
	return rp->r->cfg.ops;
}

uint64_t rotate_now_us(const struct rotate *r)
{
	struct timespec ts;

	if (r->cfg.ops->now_us)
		return r->cfg.ops->now_us(r->cfg.ctx);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void forget_key(struct rotate_port *rp)
{
	OPENSSL_cleanse(rp->key, ROTATE_KEY_MAX);
	rp->key_held = false;
}

/* ---- failures and alarms ------------------------------------------------ */

static void vfail(struct rotate_port *rp, const char *fmt, va_list ap)
{
	const struct rotate_ops *o = ops_of(rp);
	struct alarm_desc d = {
		.object = rp->alarm_object, .type = ALARM_PROCESSING,
		.cause = "applicationSubsystemFailure",
		.severity = ALARM_MAJOR,
	};

	if (o->alarm_cause) {
		d.type = o->alarm_type;
		d.cause = o->alarm_cause;
		d.severity = o->alarm_severity;
	}
	vsnprintf(rp->st.last_error, sizeof(rp->st.last_error), fmt, ap);
	rp->st.failures++;
	alarm_raise_desc(rp->alarm_source, &d,
			 "[%s %s] %s; keeping the current %s, retrying",
			 o->kind, rp->name, rp->st.last_error, o->key_noun);
	rp->st.alarmed = true;
	rp->phase = PHASE_IDLE;
	rp->st.rotating = false;
	forget_key(rp);
	rp->st.retry_us = rotate_now_us(rp->r) + RETRY_US;
}

void rotate_port_fail(struct rotate_port *rp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(rp, fmt, ap);
	va_end(ap);
}

static void set_phase(struct rotate_port *rp, enum phase ph)
{
	rp->phase = ph;
	rp->st.rotating = ph != PHASE_IDLE;
}

/* K is in use at this end. */
static void completed(struct rotate_port *rp)
{
	const struct rotate_ops *o = ops_of(rp);
	uint64_t now = rotate_now_us(rp->r);

	if (o->retire && o->n_slots > 1) {
		if (rp->old_slot >= 0)	/* a rotation faster than the grace */
			o->retire(rp->cfg.ctx, (uint8_t)rp->old_slot);
		rp->old_slot = rp->st.have_key ? rp->st.slot : -1;
		rp->old_retire_us = now + rp->cfg.grace_us;
	}
	rp->st.have_key = true;
	rp->st.key_id = rp->next_key_id;
	rp->st.slot = rp->next_slot;
	rp->st.rotations++;
	rp->st.last_rotation_us = now;
	rp->rekey_wanted = false;
	set_phase(rp, PHASE_IDLE);
	rp->st.last_error[0] = '\0';
	/* The VM tests read these lines. */
	if (o->n_slots > 1)
		log_debug("%s %s: %s %u, key %" PRIx64 " (rotation %" PRIu64 ")",
			  o->kind, rp->name, o->slot_noun, rp->st.slot,
			  rp->st.key_id, rp->st.rotations);
	else
		log_debug("%s %s: %s key %" PRIx64 " (rotation %" PRIu64 ")",
			  o->kind, rp->name, o->key_noun, rp->st.key_id,
			  rp->st.rotations);
	if (rp->st.alarmed) {
		alarm_clear(rp->alarm_source);
		rp->st.alarmed = false;
	}
}

/* ---- Kx ------------------------------------------------------------------ */

void rotate_port_send(struct rotate_port *rp, struct kxmsg *m)
{
	snprintf(m->port, sizeof(m->port), "%s", rp->name);
	if (rp->r->cfg.send(rp->r->cfg.kx_arg, rp->peer, m) < 0)
		log_debug("%s %s: %s to %s not sent", ops_of(rp)->kind,
			  rp->name, kxmsg_type_name(m->type), rp->peer);
}

static void send_msg(struct rotate_port *rp, enum kxmsg_type type,
		     uint64_t key_id, uint32_t key_len, uint64_t seq,
		     uint8_t slot, uint32_t code, const char *text)
{
	struct kxmsg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->type = type;
	m->key_id = key_id;
	m->key_len = key_len;
	m->seq = seq;
	m->an = slot;
	m->code = code;
	snprintf(m->text, sizeof(m->text), "%s", text ? text : "");
	rotate_port_send(rp, m);
	free(m);
}

/* Run an op on K; the bytes go to the first op only.  Its result. */
static int run_op(struct rotate_port *rp,
		  int (*op)(void *, const struct rotate_key *, char *, size_t),
		  uint64_t key_id, uint8_t slot, char *err, size_t errlen)
{
	struct rotate_key k = {
		.bytes = rp->key_held ? rp->key : NULL,
		.len = rp->cfg.key_len, .id = key_id, .gen = rp->seq,
		.slot = slot,
	};
	int ret;

	err[0] = '\0';
	rp->sent_at_us = rotate_now_us(rp->r);
	ret = op(rp->cfg.ctx, &k, err, errlen);
	forget_key(rp);
	if (ret < 0 && !err[0])
		snprintf(err, errlen, "%s", strerror(-ret));
	return ret;
}

/*
 * Accounting: every key a port takes from its link, or asks for in vain
 * (@ret < 0), once, at the take; a rotation that fails later has spent it
 * all the same.
 */
static void account_take(struct rotate_port *rp, bool by_id, uint32_t len,
			 int ret)
{
	struct kma_take t = {
		.kind = ops_of(rp)->kind, .name = rp->name, .peer = rp->peer,
		.link = rp->link, .by_id = by_id, .keys = 1,
		.bytes = len, .err = ret < 0 ? ret : 0,
	};

	kma_take_report(&t);
}

/* ---- owner --------------------------------------------------------------- */

static void send_offer(struct rotate_port *rp)
{
	const struct rotate_ops *o = ops_of(rp);

	set_phase(rp, PHASE_WAIT_ACK);
	rp->sent_at_us = rotate_now_us(rp->r);
	rp->offer_at_us = rp->sent_at_us;
	rp->st.next_rotation_us = rp->sent_at_us +
				  rp->cfg.rotate_s * 1000000ull;
	send_msg(rp, o->offer, rp->next_key_id, rp->cfg.key_len, rp->seq,
		 rp->next_slot, 0, NULL);
}

static void start_rotation(struct rotate_port *rp)
{
	const struct rotate_ops *o = ops_of(rp);
	struct keysrc_key key;
	char err[ROTATE_ERROR_MAX] = "";
	int ret;

	ret = keysrc_alloc(rp->src, rp->cfg.key_len, 1, &key, rp->key, err,
			   sizeof(err));
	account_take(rp, false, rp->cfg.key_len, ret);
	if (ret < 0) {
		forget_key(rp);
		rotate_port_fail(rp, "no %u-byte key from link %s: %s",
				 rp->cfg.key_len, rp->link,
				 err[0] ? err : strerror(-ret));
		return;
	}
	rp->key_held = true;
	rp->seq++;
	rp->next_key_id = key.id;
	rp->next_slot = o->n_slots > 1 ?
			(uint8_t)((rp->st.slot + 1) % o->n_slots) : 0;
	if (!o->prepare) {
		send_offer(rp);
		return;
	}
	set_phase(rp, PHASE_PREPARING);
	ret = run_op(rp, o->prepare, key.id, rp->next_slot, err, sizeof(err));
	if (ret < 0)
		rotate_port_fail(rp, "%s", err);
	else if (ret != ROTATE_ASYNC && rp->phase == PHASE_PREPARING)
		send_offer(rp);
}

static void owner_activated(struct rotate_port *rp)
{
	const struct rotate_ops *o = ops_of(rp);
	/* An upper bound: the other end had K after we sent its ID. */
	uint64_t gap = rotate_now_us(rp->r) - rp->offer_at_us;

	rp->st.last_gap_us = gap;
	if (gap > rp->st.max_gap_us)
		rp->st.max_gap_us = gap;
	completed(rp);
	if (o->sw)
		send_msg(rp, o->sw, 0, 0, rp->seq, rp->st.slot, 0, NULL);
}

/* K is in use here: the owner tells the follower to switch too. */
static void activated(struct rotate_port *rp)
{
	if (rp->st.owner)
		owner_activated(rp);
	else
		completed(rp);
}

static void activate(struct rotate_port *rp)
{
	char err[ROTATE_ERROR_MAX];
	int ret;

	set_phase(rp, PHASE_ACTIVATING);
	ret = run_op(rp, ops_of(rp)->activate, rp->next_key_id,
		     rp->next_slot, err, sizeof(err));
	if (ret < 0)
		/* Owner: the ends differ until the retry's key is at both. */
		rotate_port_fail(rp, "%s", err);
	else if (ret != ROTATE_ASYNC && rp->phase == PHASE_ACTIVATING)
		activated(rp);
}

static void on_ack(struct rotate_port *rp, const struct kxmsg *m)
{
	const struct rotate_ops *o = ops_of(rp);

	if (!rp->st.owner || rp->phase != PHASE_WAIT_ACK || m->seq != rp->seq)
		return;		/* late answer to a rotation given up */
	if (m->code != KXC_OK) {
		rotate_port_fail(rp, "%s could not %s key %" PRIx64 ": %s%s%s",
				 rp->peer, o->install_verb, rp->next_key_id,
				 kxmsg_code_name(m->code),
				 m->text[0] ? ": " : "", m->text);
		return;
	}
	activate(rp);
}

/* ---- follower ------------------------------------------------------------ */

static void ack(struct rotate_port *rp, uint64_t seq, uint32_t code)
{
	send_msg(rp, ops_of(rp)->ack, 0, 0, seq, 0, code,
		 code ? rp->st.last_error : NULL);
}

/* The follower's install is done (@ret < 0: failed with @err). */
static void installed(struct rotate_port *rp, int ret, const char *err)
{
	const struct rotate_ops *o = ops_of(rp);

	if (ret < 0) {
		rotate_port_fail(rp, "%s", err);
		ack(rp, rp->seq, o->install_failed);
		return;
	}
	set_phase(rp, PHASE_IDLE);
	if (!o->sw)
		completed(rp);
	ack(rp, rp->seq, KXC_OK);
}

static void on_offer(struct rotate_port *rp, const struct kxmsg *m)
{
	const struct rotate_ops *o = ops_of(rp);
	const char *why = NULL;
	char err[ROTATE_ERROR_MAX] = "";
	int ret;

	if (rp->st.owner)
		why = o->both_own;
	else if (o->check_offer)
		why = o->check_offer(rp->cfg.ctx, m->key_len);
	else if (m->key_len != rp->cfg.key_len)
		why = "key length differs";
	if (why) {
		send_msg(rp, o->ack, 0, 0, m->seq, 0, KXC_BAD_MESSAGE, why);
		return;
	}
	ret = keysrc_get(rp->src, m->key_id, m->key_len, rp->key, NULL, err,
			 sizeof(err));
	account_take(rp, true, m->key_len, ret);
	if (ret < 0) {
		forget_key(rp);
		rotate_port_fail(rp, "key %" PRIx64 " not fetched from link %s: %s",
				 m->key_id, rp->link,
				 err[0] ? err : strerror(-ret));
		ack(rp, m->seq, KXC_FETCH_FAILED);
		return;
	}
	rp->key_held = true;
	rp->seq = m->seq;
	rp->next_key_id = m->key_id;
	rp->next_slot = m->an;
	set_phase(rp, PHASE_INSTALLING);
	ret = run_op(rp, o->install, m->key_id, m->an, err, sizeof(err));
	if (ret != ROTATE_ASYNC && rp->phase == PHASE_INSTALLING)
		installed(rp, ret, err);
}

static void on_switch(struct rotate_port *rp, const struct kxmsg *m)
{
	if (rp->st.owner || rp->phase != PHASE_IDLE || m->seq != rp->seq ||
	    m->an != rp->next_slot)
		return;
	activate(rp);
}

void rotate_port_done(struct rotate_port *rp, uint64_t gen, int ret,
		      const char *err)
{
	char why[ROTATE_ERROR_MAX];

	if (gen != rp->seq)
		return;
	snprintf(why, sizeof(why), "%s",
		 err && err[0] ? err : ret < 0 ? strerror(-ret) : "");
	switch (rp->phase) {
	case PHASE_PREPARING:
		if (ret < 0)
			rotate_port_fail(rp, "%s", why);
		else
			send_offer(rp);
		break;
	case PHASE_INSTALLING:
		installed(rp, ret, why);
		break;
	case PHASE_ACTIVATING:
		if (ret < 0)
			rotate_port_fail(rp, "%s", why);
		else
			activated(rp);
		break;
	default:
		break;		/* given up already */
	}
}

/* ---- receiving ----------------------------------------------------------- */

struct rotate_port *rotate_lookup(struct rotate *r, const char *from,
				  const struct kxmsg *m)
{
	struct rotate_port *rp = NULL;

	for (size_t i = 0; i < r->n_ports; i++)
		if (!strcmp(r->ports[i].name, m->port))
			rp = &r->ports[i];
	if (!rp || strcmp(rp->peer, from)) {
		log_warn("%s: %s from %s for '%s', which is not shared with it",
			 r->cfg.ops->kind, kxmsg_type_name(m->type), from,
			 m->port);
		return NULL;
	}
	return rp;
}

bool rotate_port_receive(struct rotate_port *rp, const struct kxmsg *m)
{
	const struct rotate_ops *o = ops_of(rp);

	if (m->type == o->offer)
		on_offer(rp, m);
	else if (m->type == o->ack)
		on_ack(rp, m);
	else if (o->sw && m->type == o->sw)
		on_switch(rp, m);
	else
		return false;
	return true;
}

void rotate_port_rekey(struct rotate_port *rp)
{
	if (rp->st.owner)
		rp->rekey_wanted = true;
}

/* ---- the tick ----------------------------------------------------------- */

static void port_tick(struct rotate_port *rp, uint64_t now)
{
	const struct rotate_ops *o = ops_of(rp);
	bool kx_new;

	if (!rotate_port_kx_up(rp)) {
		if (o->kx_down)
			o->kx_down(rp->cfg.ctx);
		if (rp->phase == PHASE_WAIT_ACK)
			rotate_port_fail(rp, "Kx to %s went down during a rotation",
					 rp->peer);
		else if (rp->st.owner && rp->kx_was_up)
			log_info("%s %s: Kx to %s down, keeping the current %s",
				 o->kind, rp->name, rp->peer, o->key_noun);
		rp->kx_was_up = false;
		return;
	}
	kx_new = !rp->kx_was_up;
	rp->kx_was_up = true;
	if (rp->phase != PHASE_IDLE && rp->phase != PHASE_WAIT_ACK &&
	    now - rp->sent_at_us >= ROTATE_OP_TIMEOUT_MS * 1000ull) {
		rotate_port_fail(rp, "no outcome of rotation %" PRIu64 " within %u ms",
				 rp->seq, ROTATE_OP_TIMEOUT_MS);
		return;
	}
	if (rp->old_slot >= 0 && now >= rp->old_retire_us) {
		o->retire(rp->cfg.ctx, (uint8_t)rp->old_slot);
		rp->old_slot = -1;
	}
	if (o->tick && !o->tick(rp->cfg.ctx, now, kx_new))
		return;
	if (!rp->st.owner)
		return;
	if (rp->phase == PHASE_WAIT_ACK) {
		if (now - rp->sent_at_us >= ROTATE_OP_TIMEOUT_MS * 1000ull)
			rotate_port_fail(rp, "no answer from %s to rotation %" PRIu64,
					 rp->peer, rp->seq);
		return;
	}
	if (rp->phase == PHASE_IDLE && now >= rp->st.retry_us &&
	    (!rp->st.have_key || rp->rekey_wanted ||
	     now >= rp->st.next_rotation_us))
		start_rotation(rp);
}

void rotate_tick(struct rotate *r)
{
	uint64_t now = rotate_now_us(r);

	for (size_t i = 0; i < r->n_ports; i++)
		port_tick(&r->ports[i], now);
}

static void on_tick(void *arg)
{
	rotate_tick(arg);
}

/* ---- set-up ------------------------------------------------------------- */

static struct keysrc *find_link(struct kma *kma, const char *name)
{
	struct kma_link *l;

	for (size_t i = 0; (l = kma_link_at(kma, i)); i++)
		if (!strcmp(kma_link_name(l), name))
			return kma_link_src(l);
	return NULL;
}

struct rotate *rotate_new(struct loop *loop, struct kma *kma,
			  const struct rotate_cfg *cfg, char *err,
			  size_t errlen)
{
	struct rotate *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->cfg = *cfg;
	r->kma = kma;
	snprintf(r->node, sizeof(r->node), "%s", cfg->node);
	r->ports = calloc(cfg->max_ports ? cfg->max_ports : 1,
			  sizeof(*r->ports));
	if (!r->ports) {
		snprintf(err, errlen, "%s: out of memory", cfg->ops->kind);
		goto fail;
	}
	if (loop) {
		r->tick = loop_timer_add(loop, TICK_MS, true, on_tick, r);
		if (!r->tick) {
			snprintf(err, errlen, "%s: timer: %s", cfg->ops->kind,
				 strerror(errno));
			goto fail;
		}
	}
	r->next = groups;
	groups = r;
	return r;
fail:
	free(r->ports);
	free(r);
	return NULL;
}

struct rotate_port *rotate_port_add(struct rotate *r,
				    const struct rotate_port_cfg *cfg,
				    char *err, size_t errlen)
{
	struct rotate_port *rp;

	if (r->n_ports >= r->cfg.max_ports || cfg->key_len > ROTATE_KEY_MAX) {
		snprintf(err, errlen, "[%s %s]: too many ports or too long a key",
			 r->cfg.ops->kind, cfg->name);
		return NULL;
	}
	rp = &r->ports[r->n_ports];
	rp->key = OPENSSL_secure_zalloc(ROTATE_KEY_MAX);
	if (!rp->key) {
		snprintf(err, errlen, "%s: out of secure memory",
			 r->cfg.ops->kind);
		return NULL;
	}
	r->n_ports++;		/* its key buffer is freed with the group */
	rp->r = r;
	rp->cfg = *cfg;
	snprintf(rp->name, sizeof(rp->name), "%s", cfg->name);
	snprintf(rp->peer, sizeof(rp->peer), "%s", cfg->peer);
	snprintf(rp->link, sizeof(rp->link), "%s", cfg->link);
	snprintf(rp->alarm_source, sizeof(rp->alarm_source), "%s",
		 cfg->alarm_source);
	snprintf(rp->alarm_object, sizeof(rp->alarm_object), "%s",
		 cfg->alarm_object);
	rp->old_slot = -1;
	rp->st.slot = cfg->first_slot;
	rp->st.owner = peer_dials(r->node, cfg->peer);
	/* Fresh after a restart, so that a late ack cannot match. */
	rp->seq = kma_realtime_ns() / 1000000;
	rp->src = find_link(r->kma, cfg->link);
	if (!rp->src) {
		snprintf(err, errlen, "[%s %s]: no link '%s'",
			 r->cfg.ops->kind, cfg->name, cfg->link);
		return NULL;
	}
	return rp;
}

void rotate_free(struct rotate *r)
{
	struct rotate **pp;

	if (!r)
		return;
	for (pp = &groups; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	if (r->tick)
		loop_timer_del(r->tick);
	for (size_t i = 0; i < r->n_ports; i++)
		OPENSSL_secure_clear_free(r->ports[i].key, ROTATE_KEY_MAX);
	free(r->ports);
	free(r);
}

/* ---- state ---------------------------------------------------------------- */

const struct rotate_status *rotate_port_status(const struct rotate_port *rp)
{
	return &rp->st;
}

bool rotate_port_kx_up(const struct rotate_port *rp)
{
	return rp->r->cfg.is_up(rp->r->cfg.kx_arg, rp->peer);
}

int rotate_counter(size_t i, struct rotate_counter *out)
{
	for (const struct rotate *r = groups; r; r = r->next) {
		if (i >= r->n_ports) {
			i -= r->n_ports;
			continue;
		}
		out->kind = r->cfg.ops->kind;
		snprintf(out->name, sizeof(out->name), "%s", r->ports[i].name);
		out->rotations = r->ports[i].st.rotations;
		out->failures = r->ports[i].st.failures;
		return 0;
	}
	return -1;
}

/* ---- for the views ------------------------------------------------------- */

enum rotate_state rotate_port_state(const struct rotate_port *rp)
{
	const struct rotate_status *st = &rp->st;

	if (!rotate_port_kx_up(rp))
		return ROTATE_KX_DOWN;
	if (st->rotating)
		return ROTATE_ROTATING;
	if (st->alarmed)
		return st->have_key ? ROTATE_DEGRADED : ROTATE_FAILED;
	return st->have_key ? ROTATE_UP : ROTATE_KEYING;
}

const char *rotate_state_name(enum rotate_state st)
{
	static const char *const names[] = {
		[ROTATE_KX_DOWN] = "kx-down",
		[ROTATE_KEYING] = "keying",
		[ROTATE_UP] = "up",
		[ROTATE_ROTATING] = "rotating",
		[ROTATE_DEGRADED] = "degraded",
		[ROTATE_FAILED] = "failed",
	};

	return (unsigned int)st < sizeof(names) / sizeof(names[0]) ?
	       names[st] : "?";
}

uint64_t rotate_port_age_ms(const struct rotate_port *rp)
{
	if (!rp->st.have_key)
		return 0;
	return (rotate_now_us(rp->r) - rp->st.last_rotation_us) / 1000;
}

void rotate_port_view(const struct rotate_port *rp, struct rotate_view *out)
{
	const struct rotate_status *st = &rp->st;

	memset(out, 0, sizeof(*out));
	out->owner = st->owner;
	out->state = rotate_port_state(rp);
	out->have_key = st->have_key;
	if (st->have_key) {
		out->key_id = st->key_id;
		out->age_ms = rotate_port_age_ms(rp);
	}
	out->next_rotation_ms = rotate_port_next_ms(rp);
	out->rotations = st->rotations;
	out->failures = st->failures;
	out->last_gap_us = st->last_gap_us;
	out->max_gap_us = st->max_gap_us;
	out->rotate_s = rp->cfg.rotate_s;
	snprintf(out->last_error, sizeof(out->last_error), "%s",
		 st->last_error);
}

int64_t rotate_port_next_ms(const struct rotate_port *rp)
{
	const struct rotate_status *st = &rp->st;
	uint64_t due = st->owner ?
		(st->alarmed ? st->retry_us : st->next_rotation_us) :
		st->last_rotation_us + rp->cfg.rotate_s * 1000000ull;

	return ((int64_t)due - (int64_t)rotate_now_us(rp->r)) / 1000;
}
