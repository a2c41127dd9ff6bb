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

#include "mgmt/view.h"
#include "routing/tests/lsa_fixture.h"

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
	feed(f, "A", 10, "B:up:drained", NULL);
	feed_role(f, "B", 10, NODE_ROLE_ACCESS, "A:up:drained", "C:down:low",
		  "U:up", NULL);
	feed(f, "C", 10, "B:up:low", NULL);
	feed_role(f, "U", 10, NODE_ROLE_USER, "B:up", NULL);
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
	       "{\"peer\":\"B\",\"up\":true,\"level\":\"warning\",\"avail_bits\":4096}]},"
	       "{\"node\":\"B\",\"role\":\"access\",\"seq\":10,\"age_ms\":0,\"links\":["
	       "{\"peer\":\"A\",\"up\":true,\"level\":\"warning\",\"avail_bits\":4096},"
	       "{\"peer\":\"C\",\"up\":false,\"level\":\"low\",\"avail_bits\":1048576},"
	       "{\"peer\":\"U\",\"up\":true,\"level\":\"ready\",\"avail_bits\":16777216}]},"
	       "{\"node\":\"C\",\"role\":\"node\",\"seq\":10,\"age_ms\":0,\"links\":["
	       "{\"peer\":\"B\",\"up\":true,\"level\":\"low\",\"avail_bits\":1048576}]},"
	       "{\"node\":\"U\",\"role\":\"user\",\"seq\":10,\"age_ms\":0,\"links\":["
	       "{\"peer\":\"B\",\"up\":true,\"level\":\"ready\",\"avail_bits\":16777216}]}]}");
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
	       "{\"path\":[\"U\",\"B\",\"A\"],\"hops\":2,\"cost\":8054,"
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
	routes_msg(m, "K", "X", 5, "X,A,B", NULL);
	lsa_receive(f->lsa, "A", m);
	expect(view_routing_path(f->lsa, "X", "B"),
	       "{\"from\":\"X\",\"to\":\"B\",\"path\":[\"X\",\"A\",\"B\"],"
	       "\"hops\":2,\"source\":\"controller\"}");
	expect(view_routing_path(f->lsa, NULL, "C"),
	       "{\"from\":\"X\",\"to\":\"C\",\"error\":\"controller K gives no route to KME C\"}");
	/* another node's path is computed here */
	expect(view_routing_path(f->lsa, "U", "A"),
	       "{\"path\":[\"U\",\"B\",\"A\"],\"hops\":2,\"cost\":8054,"
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
