// SPDX-License-Identifier: GPL-2.0
/*
 * The consumers' accounting hook (take.h).  One global hook, as there is
 * one accounting per daemon: the consumers that report are made in
 * several places (each consumer's start, the key sources' sinks), none of
 * which has the accounting at hand.
 */
#include <stddef.h>

#include "kma/take.h"

static kma_take_fn take_fn;
static void *take_arg;

void kma_take_set_hook(kma_take_fn fn, void *arg)
{
	take_fn = fn;
	take_arg = fn ? arg : NULL;
}

void kma_take_report(const struct kma_take *t)
{
	if (take_fn && t->keys)
		take_fn(take_arg, t);
}
