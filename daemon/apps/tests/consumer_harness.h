/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Two nodes for the unit tests of a rotating consumer (apps/rotate.c and
 * the consumers built on it): A (side 0, the TX end of link "AB") and B
 * (side 1), each with a key manager over a simulated QKD link that has its
 * own clock, the daemons' clock, and a Kx wire that carries the consumers'
 * messages encoded, as the real channel would, and logs them so that a test
 * can look for key bytes on it.  The test says how to make, drive and feed
 * its consumer (struct harness_ops); the harness runs the two ends.
 *
 * The link makes blocks of the consumer's key length at 2560 bit/s; after
 * harness_open() two seconds' worth are there.
 */
#ifndef QKD_APPS_TESTS_CONSUMER_HARNESS_H
#define QKD_APPS_TESTS_CONSUMER_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kma/kma.h"
#include "kx/kxmsg.h"

#define HARNESS_MAX_WIRE	64
#define HARNESS_WIRE_LOG	16384

struct harness;

struct harness_side {
	struct harness *h;
	const char *name;		/* "A" or "B" */
	char dir[64];			/* its state directory */
	struct kma *kma;
	void *app;			/* the consumer, as ops->open made it */
};

struct harness_ops {
	/*
	 * Side @i's consumer over h->s[i].kma, sending with harness_send()
	 * and harness_is_up() and &h->s[i] as their argument.
	 */
	void *(*open)(struct harness *h, int i);
	void (*close)(void *app);
	void (*tick)(void *app);
	/* A message from the node @from to the consumer @app. */
	void (*receive)(void *app, const char *from, const struct kxmsg *m);
	int pumps;		/* wire deliveries a tick: answers to answers */
};

struct harness_wire_msg {
	int to;
	uint8_t buf[KXMSG_MAX_LEN];
	int len;
};

struct harness {
	const struct harness_ops *ops;
	uint64_t key_ns;		/* the QKD link's clock */
	uint64_t now_us;		/* the daemons' clock */
	bool keys_frozen;		/* the link delivers nothing more */
	enum kxmsg_type drop;		/* lost on the wire; 0: none */
	struct harness_side s[2];
	struct harness_wire_msg wire[HARNESS_MAX_WIRE];
	size_t n_wire;
	uint8_t wire_log[HARNESS_WIRE_LOG];	/* all sent, while it fits */
	size_t wire_log_len;
};

/*
 * Both nodes, in temporary directories named after @test, on a zeroed @h:
 * for each side its key manager, then its consumer by @ops->open.
 */
void harness_open(struct harness *h, const char *test, size_t key_len,
		  const struct harness_ops *ops);
/* Frees both consumers and key managers and removes their state. */
void harness_close(struct harness *h);

/* Let @ms milliseconds pass in 100 ms ticks, delivering Kx in between. */
void harness_run(struct harness *h, uint64_t ms);

/* The Kx transport of a consumer; @arg is its struct harness_side. */
int harness_send(void *arg, const char *node, const struct kxmsg *m);
bool harness_is_up(void *arg, const char *node);

#endif
