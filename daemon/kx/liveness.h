/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Liveness of one Kx channel (peer.c): heartbeats, the dead interval and
 * the hysteresis with which a channel that died comes back.  Pure state,
 * no I/O: peer.c feeds it the clock and what it sent and received, and
 * acts on what it answers.  See Documentation/qkd/routing.rst, "Liveness".
 *
 *  - Every message counts: a channel that carried anything within
 *    interval_ms sends no heartbeat (liveness_poll() answers LV_SEND only
 *    when nothing went out for interval_ms).
 *  - A channel that received nothing for interval_ms * dead_after is dead
 *    (LV_DEAD); peer.c closes it, which takes its link out of routing.
 *  - A probe (liveness_probe(): a relay session through this peer got no
 *    answer) is a heartbeat that asks for an echo; without the echo
 *    (liveness_echo()) within the dead interval the channel is dead,
 *    however much else the peer sends.
 *  - Hysteresis: after a death the next channel to the peer is held, not
 *    used for routing or keys, until it has been up and live for the hold
 *    time: the dead interval, doubled for each further death that follows
 *    within LV_STABLE_MS of usable service, up to LV_HOLD_MAX_MS.
 */
#ifndef QKD_LIVENESS_H
#define QKD_LIVENESS_H

#include <stdbool.h>
#include <stdint.h>

#define LV_INTERVAL_DEFAULT_MS	100
#define LV_DEAD_AFTER_DEFAULT	3
#define LV_HOLD_MAX_MS		5000
#define LV_STABLE_MS		10000	/* usable this long: flaps forgotten */

enum liveness_action {
	LV_IDLE,	/* nothing to do */
	LV_SEND,	/* send a heartbeat now */
	LV_DEAD,	/* silent for the dead interval: close the channel */
};

struct liveness {
	uint32_t interval_ms;
	uint32_t dead_after;
	bool open;			/* a channel is up */
	uint64_t last_rx_ms, last_tx_ms;
	uint64_t open_ms;		/* when the channel came up */
	uint64_t hold_until_ms;		/* not usable before */
	uint64_t probe_deadline_ms;	/* 0: no probe outstanding */
	uint32_t flaps;			/* deaths since the last stable period */
	uint64_t deaths;		/* since start */
};

void liveness_init(struct liveness *l, uint32_t interval_ms,
		   uint32_t dead_after);
uint32_t liveness_dead_ms(const struct liveness *l);
/* A channel came up (hello exchanged) at @now. */
void liveness_open(struct liveness *l, uint64_t now);
/* The channel ended for another reason (closed, reset, replaced). */
void liveness_closed(struct liveness *l);
void liveness_rx(struct liveness *l, uint64_t now);
/* The echo of our probe arrived. */
void liveness_echo(struct liveness *l, uint64_t now);
void liveness_tx(struct liveness *l, uint64_t now);
/* What to do now; call at least every interval_ms / 2 while open. */
enum liveness_action liveness_poll(struct liveness *l, uint64_t now);
/* Want an echo within the dead interval (true: send the probe now). */
bool liveness_probe(struct liveness *l, uint64_t now);
/*
 * This process was not running for @ms (its own loop stalled: a busy
 * host, a debugger): input could not be read meanwhile, so that time does
 * not count as the peer's silence.
 */
void liveness_stalled(struct liveness *l, uint64_t ms, uint64_t now);
/* The channel was declared dead at @now (by liveness_poll() or otherwise). */
void liveness_died(struct liveness *l, uint64_t now);
/* Open and out of its hold time: fit for routing and keys. */
bool liveness_usable(const struct liveness *l, uint64_t now);
/* The hold the next channel gets, if it died now (ms). */
uint64_t liveness_hold_ms(const struct liveness *l);

#endif /* QKD_LIVENESS_H */
