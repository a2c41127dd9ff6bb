// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for mgmt/view_routing.c: the JSON of "topology show", "route
 * show" and "path" for a link-state database fed by hand (observer node X
 * with no links of its own), compared as text with what qkdctl received
 * when routing/lsa.c built it (age_ms set to 0: it is a clock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "kma/kma.h"
#include "kx/kxmsg.h"
#include "mgmt/view.h"
#include "routing/lsa.h"

struct fixture {
	struct kma *kma;
	struct lsa *lsa;
	struct kxmsg m;
};

static int no_send(void *arg, const char *node, const struct kxmsg *m)
{
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

/* LSA @origin/@seq/@role with links "peer:up" or "peer:down" ... */
static void feed(struct fixture *f, const char *origin, uint64_t seq,
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
		k->level = (uint8_t)(m->n_lsa % 4);
		k->avail_bits = 1000000 * m->n_lsa;
		k->rate_bps = 1000;
	}
	va_end(ap);
	lsa_receive(f->lsa, origin, m);
}

/* Compact text of @j with every node's age_ms 0; frees @j. */
static char *text(json_t *j)
{
	json_t *nodes = json_object_get(j, "nodes"), *n;
	size_t i;
	char *s;

	assert_non_null(j);
	json_array_foreach(nodes, i, n)
		json_object_set_new(n, "age_ms", json_integer(0));
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_non_null(s);
	return s;
}

static void expect(json_t *j, const char *want)
{
	char *got = text(j);

	assert_string_equal(got, want);
	free(got);
}

static void feed_net(struct fixture *f)
{
	feed(f, "A", 10, NODE_ROLE_NONE, "B:up", NULL);
	feed(f, "B", 10, NODE_ROLE_ACCESS, "A:up", "C:down", "U:up", NULL);
	feed(f, "C", 10, NODE_ROLE_NONE, "B:up", NULL);
	feed(f, "U", 10, NODE_ROLE_USER, "B:up", NULL);
}

static void test_topology(void **state)
{
	struct fixture *f = *state;

	expect(view_routing_topology(f->lsa),
	       "{\"node\":\"X\",\"mode\":\"distributed\",\"key_relay\":\"direct\","
	       "\"controller\":\"\",\"lsa_received\":0,\"lsa_sent\":0,"
	       "\"aged_out\":0,\"nodes\":[{\"node\":\"X\",\"role\":\"node\","
	       "\"seq\":0,\"age_ms\":0,\"links\":[]}]}");
	feed_net(f);
	lsa_set_controller(f->lsa, "K");
	lsa_set_central_relay(f->lsa, true);
	expect(view_routing_topology(f->lsa),
	       "{\"node\":\"X\",\"mode\":\"centralized\",\"key_relay\":\"central\","
	       "\"controller\":\"K\",\"lsa_received\":4,\"lsa_sent\":0,"
	       "\"aged_out\":0,\"nodes\":["
	       "{\"node\":\"X\",\"role\":\"node\",\"seq\":0,\"age_ms\":0,\"links\":[]},"
	       "{\"node\":\"A\",\"role\":\"node\",\"seq\":10,\"age_ms\":0,\"links\":["
	       "{\"peer\":\"B\",\"up\":true,\"level\":\"warning\",\"avail_bits\":1000000}]},"
	       "{\"node\":\"B\",\"role\":\"access\",\"seq\":10,\"age_ms\":0,\"links\":["
	       "{\"peer\":\"A\",\"up\":true,\"level\":\"warning\",\"avail_bits\":1000000},"
	       "{\"peer\":\"C\",\"up\":false,\"level\":\"low\",\"avail_bits\":2000000},"
	       "{\"peer\":\"U\",\"up\":true,\"level\":\"ready\",\"avail_bits\":3000000}]},"
	       "{\"node\":\"C\",\"role\":\"node\",\"seq\":10,\"age_ms\":0,\"links\":["
	       "{\"peer\":\"B\",\"up\":true,\"level\":\"warning\",\"avail_bits\":1000000}]},"
	       "{\"node\":\"U\",\"role\":\"user\",\"seq\":10,\"age_ms\":0,\"links\":["
	       "{\"peer\":\"B\",\"up\":true,\"level\":\"warning\",\"avail_bits\":1000000}]}]}");
}

static void test_routes_and_paths(void **state)
{
	struct fixture *f = *state;

	expect(view_routing_routes(f->lsa), "[]");
	feed_net(f);
	expect(view_routing_routes(f->lsa),
	       "[{\"from\":\"X\",\"to\":\"A\",\"error\":\"no route from X to A: not connected\"},"
	       "{\"from\":\"X\",\"to\":\"B\",\"error\":\"no route from X to B: not connected\"},"
	       "{\"from\":\"X\",\"to\":\"C\",\"error\":\"no route from X to C: not connected\"},"
	       "{\"from\":\"X\",\"to\":\"U\",\"error\":\"no route from X to U: not connected\"}]");
	expect(view_routing_path(f->lsa, "U", "A"),
	       "{\"path\":[\"U\",\"B\",\"A\"],\"hops\":2,\"cost\":13022,"
	       "\"from\":\"U\",\"to\":\"A\"}");
	expect(view_routing_path(f->lsa, "A", "C"),
	       "{\"from\":\"A\",\"to\":\"C\",\"error\":\"no route from A to C: "
	       "every path has a link or node down\"}");
	expect(view_routing_path(f->lsa, "A", "Q"),
	       "{\"from\":\"A\",\"to\":\"Q\",\"error\":\"KME Q is not in the topology\"}");
	expect(view_routing_path(f->lsa, NULL, "C"),
	       "{\"from\":\"X\",\"to\":\"C\",\"error\":\"no route from X to C: not connected\"}");
	expect(view_routing_path(f->lsa, "B", "B"),
	       "{\"from\":\"B\",\"to\":\"B\",\"error\":\"route computation failed (-22)\"}");
}

/* Configuration 2: this node's own path is the controller's. */
static void test_pushed_path(void **state)
{
	struct fixture *f = *state;
	struct kxmsg *m = &f->m;

	feed_net(f);
	lsa_set_controller(f->lsa, "K");
	expect(view_routing_path(f->lsa, NULL, "B"),
	       "{\"from\":\"X\",\"to\":\"B\",\"error\":\"no current route table from controller K\"}");
	memset(m, 0, sizeof(*m));
	m->type = KXMSG_ROUTES;
	strcpy(m->node, "K");
	strcpy(m->dest, "X");
	m->seq = 5;
	strcpy(m->routes[0], "X,A,B");
	m->n_routes = 1;
	lsa_receive(f->lsa, "A", m);
	expect(view_routing_path(f->lsa, "X", "B"),
	       "{\"from\":\"X\",\"to\":\"B\",\"path\":[\"X\",\"A\",\"B\"],"
	       "\"hops\":2,\"source\":\"controller\"}");
	expect(view_routing_path(f->lsa, NULL, "C"),
	       "{\"from\":\"X\",\"to\":\"C\",\"error\":\"controller K gives no route to KME C\"}");
	/* another node's path is computed here */
	expect(view_routing_path(f->lsa, "U", "A"),
	       "{\"path\":[\"U\",\"B\",\"A\"],\"hops\":2,\"cost\":13022,"
	       "\"from\":\"U\",\"to\":\"A\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_topology, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routes_and_paths, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pushed_path, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("view_routing", tests, NULL, NULL);
}
