/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rotating consumer core: one key-rotation state machine shared by the
 * consumers that put a fresh QKD key, the same at both ends of a link, into
 * something outside the daemon every rotate_s seconds (MACsec SAKs,
 * WireGuard PSKs; Documentation/qkd/architecture.rst, "Rotating
 * consumers").
 *
 * A consumer makes one group (rotate_new) and adds one port per config
 * section (rotate_port_add).  The core does the rest: the schedule and the
 * retry after a failure, the key from the link (keysrc), the owner/follower
 * exchange over Kx (key IDs only), the ACK timeout, the alarm and its
 * clearing, the counters, and the accounting of every key a port takes
 * or is refused (kma/take.h).  What touches the kernel or another program is
 * the consumer's, through struct rotate_ops:
 *
 *   owner (peer_dials())                      follower
 *   alloc key K from the link
 *   ops->prepare(K)          [optional]
 *   offer (K id, len, gen, slot)  -------->   get K from the link
 *                                             ops->install(K)
 *                                 <--------   ack (gen, code)
 *   ops->activate(K)
 *   switch (gen, slot) [if ops->sw] ------>   ops->activate(K)
 *   (after grace_us) ops->retire(old slot)    (after grace_us) ditto
 *
 * Without ops->sw the follower's rotation completes when install returns.
 *
 * Key bytes: the core holds K in the secure heap from the moment it has
 * it until the first op that receives it returns (owner: prepare if there
 * is one, else activate; follower: install), then cleanses it.  Every
 * other op gets k->bytes == NULL.  An op must not keep the pointer.
 *
 * Op results: 0 done, -errno failed (a one-line reason in @err, never key
 * bytes), or ROTATE_ASYNC: the consumer calls rotate_port_done() with the
 * key's generation when the outcome is known (within ROTATE_OP_TIMEOUT_MS,
 * else the rotation fails).  rotate_port_done() may be called from inside
 * the op itself.
 *
 * A failure anywhere raises the port's alarm (source, object, the
 * consumer's X.733 fields), keeps the key in use, and retries after 1 s;
 * the next good rotation clears the alarm.
 *
 * Every group is also listed for the metrics (rotate_counter()).  Single
 * threaded, like the rest of the daemon.
 */
#ifndef QKD_APPS_ROTATE_H
#define QKD_APPS_ROTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/alarm.h"
#include "core/config.h"
#include "kx/kxmsg.h"

#define ROTATE_ERROR_MAX	256	/* a port's last error, with its NUL */
#define ROTATE_KEY_MAX		64	/* bytes, the largest key a port takes */
#define ROTATE_ASYNC		1	/* an op's outcome comes later */
#define ROTATE_OP_TIMEOUT_MS	3000	/* for an ack or an ROTATE_ASYNC op */

struct loop;
struct kma;
struct rotate;
struct rotate_port;

/* The key an op works on. */
struct rotate_key {
	const uint8_t *bytes;	/* secure heap; NULL but for the first op */
	uint32_t len;
	uint64_t id;		/* its QKD key ID on the link */
	uint64_t gen;		/* the rotation's generation (Kx seq) */
	uint8_t slot;		/* (gen's slot) mod n_slots; 0 if n_slots <= 1 */
};

/*
 * What a consumer does; @port is the @ctx given to rotate_port_add().
 * Only install and activate are required.
 */
struct rotate_ops {
	const char *kind;	/* "macsec": logs, "[kind name]", metrics */
	const char *key_noun;	/* "SAK": "keeping the current SAK" */
	const char *install_verb;	/* "install": "X could not install key" */
	const char *both_own;	/* offer refused: "both ends own the port" */
	enum kxmsg_type offer, ack, sw;	/* sw 0: no switch message */
	uint32_t install_failed;	/* KXC_* the follower acks a failure with */
	uint8_t n_slots;	/* > 1: slots rotate, the old one is retired */
	const char *slot_noun;	/* with n_slots > 1: "AN" */
	/*
	 * X.733 fields of the port's alarm; cause NULL: processingError,
	 * applicationSubsystemFailure, major.
	 */
	enum alarm_type alarm_type;
	const char *alarm_cause;
	enum alarm_severity alarm_severity;

	/* Follower: NULL to take an offer of @key_len, else a reason. */
	const char *(*check_offer)(void *port, uint32_t key_len);
	/*
	 * Every tick (100 ms) while Kx is up, @kx_new after it came up.  False
	 * holds the owner's rotations back (e.g. the peer's identity not yet
	 * known).  NULL: always ready.
	 */
	bool (*tick)(void *port, uint64_t now_us, bool kx_new);
	/* Kx to the peer is down (each tick); NULL: nothing to do. */
	void (*kx_down)(void *port);
	/* Owner, before the offer: ready to receive with K.  NULL: nothing. */
	int (*prepare)(void *port, const struct rotate_key *k, char *err,
		       size_t errlen);
	/* Follower, on the offer: ready to use K. */
	int (*install)(void *port, const struct rotate_key *k, char *err,
		       size_t errlen);
	/* Owner on the ack, follower on the switch: K is now in use. */
	int (*activate)(void *port, const struct rotate_key *k, char *err,
			size_t errlen);
	/* The slot replaced grace_us ago can go.  NULL: nothing to do. */
	void (*retire)(void *port, uint8_t slot);
	/* Monotonic microseconds for @ctx of rotate_cfg.  NULL: CLOCK_MONOTONIC. */
	uint64_t (*now_us)(void *ctx);
};

/* A group: one consumer instance. */
struct rotate_cfg {
	const struct rotate_ops *ops;
	void *ctx;			/* for ops->now_us */
	const char *node;		/* this node's name (peer_dials()) */
	int (*send)(void *arg, const char *node, const struct kxmsg *m);
	bool (*is_up)(void *arg, const char *node);
	void *kx_arg;
	size_t max_ports;
};

struct rotate_port_cfg {
	const char *name;		/* the section name, Kx "port" */
	const char *peer;
	const char *link;
	uint32_t rotate_s;
	uint32_t key_len;		/* <= ROTATE_KEY_MAX */
	uint64_t grace_us;		/* before ops->retire */
	uint8_t first_slot;		/* the slot in use at start */
	const char *alarm_source;	/* "macsec:eth0" */
	const char *alarm_object;	/* "macsec=eth0" */
	void *ctx;			/* the consumer's port, for the ops */
};

/*
 * Without a timer when @loop is NULL: call rotate_tick() (unit tests).
 * NULL with a reason in @err.
 */
struct rotate *rotate_new(struct loop *loop, struct kma *kma,
			  const struct rotate_cfg *cfg, char *err,
			  size_t errlen);
/* Stops rotating; the keys in use stay where they are. */
void rotate_free(struct rotate *r);
void rotate_tick(struct rotate *r);

/* NULL with "[kind name]: no link 'L'" in @err. */
struct rotate_port *rotate_port_add(struct rotate *r,
				    const struct rotate_port_cfg *cfg,
				    char *err, size_t errlen);

/*
 * A Kx message for this group from @from: the port it is for, or NULL (a
 * warning logged) if no port of that name is shared with @from.
 */
struct rotate_port *rotate_lookup(struct rotate *r, const char *from,
				  const struct kxmsg *m);
/* Handles ops->offer, ->ack and ->sw; false for any other type. */
bool rotate_port_receive(struct rotate_port *rp, const struct kxmsg *m);

/* The outcome of an op that returned ROTATE_ASYNC; a stale @gen is ignored. */
void rotate_port_done(struct rotate_port *rp, uint64_t gen, int ret,
		      const char *err);
/* Owner: rotate at the next tick. */
void rotate_port_rekey(struct rotate_port *rp);
/* A failure outside a rotation: alarm, retry after 1 s. */
void rotate_port_fail(struct rotate_port *rp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The port's sending of a consumer message over Kx (port name set). */
void rotate_port_send(struct rotate_port *rp, struct kxmsg *m);

/* ---- state, for the views and the consumer's ops: key IDs, never keys */

struct rotate_status {
	bool owner;
	bool rotating;		/* an offer out, or an async op under way */
	bool alarmed;
	bool have_key;
	uint64_t key_id;	/* of the key in use, if have_key */
	uint8_t slot;		/* in use (first_slot before any rotation) */
	uint64_t last_rotation_us;
	uint64_t next_rotation_us;	/* owner: when the key in use expires */
	uint64_t retry_us;	/* no attempt before, after a failure */
	uint64_t rotations, failures;
	uint64_t last_gap_us, max_gap_us;	/* owner: offer sent to activated */
	char last_error[ROTATE_ERROR_MAX];
};

const struct rotate_status *rotate_port_status(const struct rotate_port *rp);

/* A port as the views name it (PSK, PPK: "the key"). */
enum rotate_state {
	ROTATE_KX_DOWN,		/* no Kx channel to the peer */
	ROTATE_KEYING,		/* no QKD key in use yet */
	ROTATE_UP,		/* a QKD key in use, no alarm */
	ROTATE_ROTATING,	/* a rotation under way */
	ROTATE_DEGRADED,	/* alarm, the current key kept */
	ROTATE_FAILED,		/* alarm, no QKD key */
};

enum rotate_state rotate_port_state(const struct rotate_port *rp);
const char *rotate_state_name(enum rotate_state st);
/* The key in use's age (0 without one), in ms. */
uint64_t rotate_port_age_ms(const struct rotate_port *rp);
/*
 * Until the next rotation, in ms (negative: overdue): the owner's
 * schedule, or its retry after a failure; the follower expects the
 * owner's schedule.
 */
int64_t rotate_port_next_ms(const struct rotate_port *rp);
bool rotate_port_kx_up(const struct rotate_port *rp);
uint64_t rotate_now_us(const struct rotate *r);

/* What a consumer's view shows of each port, whatever its key. */
struct rotate_view {
	bool owner;
	enum rotate_state state;	/* rotate_state_name() */
	bool have_key;
	uint64_t key_id;		/* of the key in use, if have_key */
	uint64_t age_ms;		/* since it was installed here */
	int64_t next_rotation_ms;	/* rotate_port_next_ms() */
	uint64_t rotations, failures;
	uint64_t last_gap_us, max_gap_us;	/* owner: offer sent to activated */
	uint32_t rotate_s;
	char last_error[ROTATE_ERROR_MAX];
};

void rotate_port_view(const struct rotate_port *rp, struct rotate_view *out);

/* ---- every port of every group, for the metrics ---- */

struct rotate_counter {
	const char *kind;
	char name[KM_NAME_MAX];
	uint64_t rotations, failures;
};

/* 0, or -1 past the last port. */
int rotate_counter(size_t i, struct rotate_counter *out);

#endif /* QKD_APPS_ROTATE_H */
