/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test fixture over lsa.c: an observer node X with no links of its own,
 * whose link-state database the test feeds by hand; ROUTES messages it
 * sends are counted.  For cmocka tests; include once (static functions).
 */
#ifndef QKD_TEST_LSA_FIXTURE_H
#define QKD_TEST_LSA_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "kma/kma.h"
#include "kx/kxmsg.h"
#include "routing/lsa.h"

struct fixture {
	struct kma *kma;
	struct lsa *lsa;
	struct kxmsg m;
};

/* ROUTES messages X sent, and the last one. */
static unsigned int routes_sent;
static struct kxmsg last_routes;

static int no_send(void *arg, const char *node, const struct kxmsg *m)
{
	if (m->type == KXMSG_ROUTES) {
		routes_sent++;
		last_routes = *m;
	}
	return -1;
}

static bool never_up(void *arg, const char *node)
{
	return false;
}

static const struct lsa_transport tr = { no_send, never_up };

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct km_node_cfg node = { .name = "X", .state_dir = "/tmp" };
	char err[128];

	assert_non_null(f);
	f->kma = kma_new_with_sources(&node, NULL, NULL, 0, err, sizeof(err));
	assert_non_null(f->kma);
	f->lsa = lsa_new(NULL, f->kma, "X", &tr, NULL);
	assert_non_null(f->lsa);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	lsa_free(f->lsa);
	kma_free(f->kma);
	free(f);
	return 0;
}

/*
 * Feed LSA @origin/@seq from a node of @role (enum node_role) with links
 * "peer:up" or "peer:down" ... (NULL-terminated).  A pool is READY with
 * 16 Mbit, or with a suffix ":drained" WARNING with 4 kbit, ":low" LOW
 * with 1 Mbit, ":scarce" READY with 64 kbit.
 */
static void feed_role(struct fixture *f, const char *origin, uint64_t seq,
		      uint8_t role, ...)
{
	struct kxmsg *m = &f->m;
	va_list ap;
	const char *l;

	memset(m, 0, sizeof(*m));
	m->type = KXMSG_LSA;
	snprintf(m->node, sizeof(m->node), "%s", origin);
	m->seq = seq;
	m->role = role;
	va_start(ap, role);
	while ((l = va_arg(ap, const char *))) {
		struct kxmsg_lsa_link *k = &m->lsa[m->n_lsa++];

		snprintf(k->peer, sizeof(k->peer), "%.*s",
			 (int)strcspn(l, ":"), l);
		k->up = !strncmp(strchr(l, ':') + 1, "up", 2);
		k->level = QKD_POOL_READY;
		k->avail_bits = 1 << 24;
		if (strstr(l, ":drained")) {
			k->level = QKD_POOL_WARNING;
			k->avail_bits = 4096;
		} else if (strstr(l, ":low")) {
			k->level = QKD_POOL_LOW;
			k->avail_bits = 1 << 20;
		} else if (strstr(l, ":scarce")) {
			k->avail_bits = 1 << 16;
		}
	}
	va_end(ap);
	lsa_receive(f->lsa, origin, m);
}

/* A ROUTES message from controller @node for @dest: routes ... NULL. */
static void routes_msg(struct kxmsg *m, const char *node, const char *dest,
		       uint64_t seq, ...)
{
	va_list ap;
	const char *r;

	memset(m, 0, sizeof(*m));
	m->type = KXMSG_ROUTES;
	snprintf(m->node, sizeof(m->node), "%s", node);
	snprintf(m->dest, sizeof(m->dest), "%s", dest);
	m->seq = seq;
	va_start(ap, seq);
	while ((r = va_arg(ap, const char *)))
		snprintf(m->routes[m->n_routes++], sizeof(m->routes[0]), "%s",
			 r);
	va_end(ap);
}

#define feed(f, origin, seq, ...) \
	feed_role(f, origin, seq, NODE_ROLE_NONE, __VA_ARGS__)

#endif /* QKD_TEST_LSA_FIXTURE_H */
