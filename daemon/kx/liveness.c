// SPDX-License-Identifier: GPL-2.0
/*
 * Liveness state machine of one Kx channel.  See liveness.h.
 */
#include <string.h>

#include "kx/liveness.h"

void liveness_init(struct liveness *l, uint32_t interval_ms,
		   uint32_t dead_after)
{
	memset(l, 0, sizeof(*l));
	l->interval_ms = interval_ms ? interval_ms : LV_INTERVAL_DEFAULT_MS;
	l->dead_after = dead_after ? dead_after : LV_DEAD_AFTER_DEFAULT;
}

uint32_t liveness_dead_ms(const struct liveness *l)
{
	return l->interval_ms * l->dead_after;
}

uint64_t liveness_hold_ms(const struct liveness *l)
{
	uint64_t hold = liveness_dead_ms(l);
	uint32_t shift = l->flaps ? l->flaps - 1 : 0;

	if (shift > 16)
		shift = 16;
	hold <<= shift;
	return hold > LV_HOLD_MAX_MS ? LV_HOLD_MAX_MS : hold;
}

void liveness_open(struct liveness *l, uint64_t now)
{
	l->open = true;
	l->open_ms = now;
	l->last_rx_ms = now;
	l->last_tx_ms = now;
	l->probe_deadline_ms = 0;
	/* The hold was set when the last channel died; it runs from now. */
	l->hold_until_ms = l->flaps ? now + liveness_hold_ms(l) : now;
}

void liveness_closed(struct liveness *l)
{
	l->open = false;
	l->probe_deadline_ms = 0;
}

void liveness_rx(struct liveness *l, uint64_t now)
{
	l->last_rx_ms = now;
}

void liveness_echo(struct liveness *l, uint64_t now)
{
	liveness_rx(l, now);
	l->probe_deadline_ms = 0;
}

void liveness_tx(struct liveness *l, uint64_t now)
{
	l->last_tx_ms = now;
}

enum liveness_action liveness_poll(struct liveness *l, uint64_t now)
{
	if (!l->open)
		return LV_IDLE;
	if (now - l->last_rx_ms >= liveness_dead_ms(l) ||
	    (l->probe_deadline_ms && now >= l->probe_deadline_ms))
		return LV_DEAD;
	if (l->flaps && now >= l->hold_until_ms &&
	    now - l->hold_until_ms >= LV_STABLE_MS)
		l->flaps = 0;		/* served well: forget the flapping */
	if (now - l->last_tx_ms >= l->interval_ms)
		return LV_SEND;
	return LV_IDLE;
}

void liveness_stalled(struct liveness *l, uint64_t ms, uint64_t now)
{
	l->last_rx_ms = l->last_rx_ms + ms < now ? l->last_rx_ms + ms : now;
	if (l->probe_deadline_ms)
		l->probe_deadline_ms += ms;
}

bool liveness_probe(struct liveness *l, uint64_t now)
{
	if (!l->open || l->probe_deadline_ms)
		return false;
	l->probe_deadline_ms = now + liveness_dead_ms(l);
	return true;
}

void liveness_died(struct liveness *l, uint64_t now)
{
	(void)now;
	l->open = false;
	l->probe_deadline_ms = 0;
	l->deaths++;
	if (l->flaps < UINT32_MAX)
		l->flaps++;
}

bool liveness_usable(const struct liveness *l, uint64_t now)
{
	return l->open && now >= l->hold_until_ms;
}
