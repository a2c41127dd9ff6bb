// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the operator views (view.h): fixed info structs, as the
 * elements hand them out, rendered to the JSON that qkdctl reads.  Field
 * names, order, types and values are qkdctl's contract: check them all.
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

#include "apps/ipsec/ipsec.h"
#include "apps/macsec/macsec.h"
#include "core/alarm.h"
#include "core/config.h"
#include "kma/kma.h"
#include "ksa/ksa.h"
#include "kx/peer.h"
#include "mgmt/account.h"
#include "mgmt/view.h"
#include "relay/relay.h"

/* @j as compact JSON (keys in insertion order) equals @want; frees @j. */
static void assert_json(json_t *j, const char *want)
{
	char *text;

	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_non_null(text);
	if (strcmp(text, want))
		print_error("got  %s\nwant %s\n", text, want);
	assert_string_equal(text, want);
	free(text);
}

static void test_alarm(void **state)
{
	struct alarm_info a = {
		.id = 7, .source = "ipsec:B", .object = "gateway=B",
		.type = ALARM_QOS, .cause = "keyPoolExhausted",
		.severity = ALARM_MAJOR, .text = "pool \"AB\" empty",
		.since = 1700000000, .count = 3,
	};

	(void)state;
	assert_json(view_alarm_json(&a),
		    "{\"source\":\"ipsec:B\",\"text\":\"pool \\\"AB\\\" empty\","
		    "\"since\":1700000000,\"count\":3,\"id\":7,"
		    "\"object\":\"gateway=B\",\"event_type\":\"qualityOfService\","
		    "\"probable_cause\":\"keyPoolExhausted\",\"severity\":\"major\","
		    "\"acked\":false,\"root\":\"\"}");
	a.acked = true;
	a.acked_at = 1700000100;
	snprintf(a.acked_by, sizeof(a.acked_by), "uid 0");
	a.cleared = 1700000200;
	snprintf(a.root, sizeof(a.root), "kx:B");
	a.root_id = 2;
	assert_json(view_alarm_json(&a),
		    "{\"source\":\"ipsec:B\",\"text\":\"pool \\\"AB\\\" empty\","
		    "\"since\":1700000000,\"count\":3,\"id\":7,"
		    "\"object\":\"gateway=B\",\"event_type\":\"qualityOfService\","
		    "\"probable_cause\":\"keyPoolExhausted\",\"severity\":\"major\","
		    "\"acked\":true,\"root\":\"kx:B\",\"acked_at\":1700000100,"
		    "\"acked_by\":\"uid 0\",\"cleared\":1700000200,\"root_id\":2}");

	alarm_reset();
	assert_json(view_alarms(), "{\"active\":[],\"raised\":0,\"dropped\":0}");
	assert_json(view_alarm_history(), "{\"history\":[],\"kept\":64}");
	alarm_raise("macsec:m0", "no key");
	alarm_raise("macsec:m0", "still no key");
	a.source[0] = '\0';
	assert_int_equal(alarm_info(0, &a), 0);
	{
		char want[512];

		snprintf(want, sizeof(want),
			 "{\"active\":[{\"source\":\"macsec:m0\",\"text\":\"still no key\","
			 "\"since\":%lld,\"count\":2,\"id\":1,\"object\":\"macsec:m0\","
			 "\"event_type\":\"processingError\",\"probable_cause\":\"unspecified\","
			 "\"severity\":\"major\",\"acked\":false,\"root\":\"\"}],"
			 "\"raised\":2,\"dropped\":0}",
			 (long long)a.since);
		assert_json(view_alarms(), want);
	}
	alarm_reset();
}

static void test_links_and_pools(void **state)
{
	struct kma_link_info l = {
		.name = "AB", .peer = "B", .source = KM_SOURCE_KERNEL,
		.role = QKD_ROLE_RX, .up = true, .block_size = 4096,
		.avail = 123456, .level = QKD_POOL_WARNING, .keys_held = 7,
		.bytes_allocated = 10, .bytes_fetched = 20,
		.bytes_discarded = 30, .fetch_failures = 1,
		.pool_warn = 1000, .pool_ready = 5000,
	};

	(void)state;
	assert_json(view_link_json(&l, true, false),
		    "{\"link\":\"AB\",\"peer\":\"B\",\"source\":\"kernel\","
		    "\"role\":\"rx\",\"state\":\"up\",\"admin\":\"down\","
		    "\"block_size\":4096,\"level\":\"warning\","
		    "\"pool_warn\":1000,\"pool_ready\":5000}");
	assert_json(view_link_json(&l, false, true),
		    "{\"link\":\"AB\",\"avail\":123456,\"level\":\"warning\","
		    "\"block_size\":4096,\"keys_held\":7,\"allocated\":10,"
		    "\"fetched\":20,\"discarded\":30,\"fetch_failures\":1}");
	/* Generation control: stopped, what the card says, QBER and SKR. */
	l.gen = (struct keysrc_gen){
		.control = true, .running = false, .has_card = true,
		.card_state = QKD_LINK_DOWN, .has_qber = true,
		.qber_ppm = 21000, .has_skr = true, .skr_bps = 0,
	};
	assert_json(view_link_json(&l, false, false),
		    "{\"link\":\"AB\",\"peer\":\"B\",\"source\":\"kernel\","
		    "\"role\":\"rx\",\"state\":\"up\",\"admin\":\"up\","
		    "\"block_size\":4096,\"level\":\"warning\","
		    "\"pool_warn\":1000,\"pool_ready\":5000,"
		    "\"generation\":\"stopped\",\"card_state\":\"down\","
		    "\"qber_ppm\":21000,\"skr_bps\":0}");
	l.gen.running = true;
	l.gen.card_state = QKD_LINK_NO_CARRIER;
	l.gen.has_qber = l.gen.has_skr = false;
	assert_json(view_link_json(&l, false, false),
		    "{\"link\":\"AB\",\"peer\":\"B\",\"source\":\"kernel\","
		    "\"role\":\"rx\",\"state\":\"up\",\"admin\":\"up\","
		    "\"block_size\":4096,\"level\":\"warning\","
		    "\"pool_warn\":1000,\"pool_ready\":5000,"
		    "\"generation\":\"running\",\"card_state\":\"no-carrier\"}");
	/* Nothing running: empty lists, not errors. */
	assert_json(view_links(NULL, NULL, false), "[]");
	assert_json(view_keys(NULL, NULL, 10), "{\"total\":0,\"keys\":[]}");
	assert_json(view_peers(NULL), "[]");
}

static void test_pair_peer_key(void **state)
{
	struct ksa_pair_info p = {
		.master = "app1", .slave = "app2", .master_node = "A",
		.slave_node = "B", .link = "AB", .keys_stored = 4,
		.keys_supplied = 5, .keys_pending = 6,
	};
	struct peer_info pe = {
		.name = "B", .address = "127.0.0.1:9000", .cert_cn = "node-b",
		.state = PEER_UP, .epoch = 77, .connects = 2, .msgs_sent = 9,
		.msgs_received = 8, .queued = 100, .last_error = "",
		.deaths = 3, .probes = 1,
	};
	struct ksa_key_info k = {
		.rec = {
			.key_id = "0f0e0d0c-0b0a-4988-8776-655443322110",
			.link = "AB",
			.src_key_id = (5ULL << QKD_KEY_ID_OFFSET_BITS) | 64,
			.len = 32,
			.use = { .n_slaves = 2, .delivered = 2 },
			.state = KMA_KEY_SUPPLIED,
			.gen_time_ns = 1, .created_ns = 2, .changed_ns = 3,
		},
		.master = "app1", .slaves = { "app2", "app3" },
	};

	(void)state;
	assert_json(view_pair_json(&p, NULL),
		    "{\"master\":\"app1\",\"slave\":\"app2\",\"master_node\":\"A\","
		    "\"slave_node\":\"B\",\"link\":\"AB\",\"stored\":4,"
		    "\"supplied\":5,\"pending\":6}");
	/* A relayed pair: no link, the route its keys take now. */
	p.link[0] = '\0';
	assert_json(view_pair_json(&p, json_pack("[s,s,s]", "A", "R", "B")),
		    "{\"master\":\"app1\",\"slave\":\"app2\",\"master_node\":\"A\","
		    "\"slave_node\":\"B\",\"link\":null,\"route\":[\"A\",\"R\",\"B\"],"
		    "\"stored\":4,\"supplied\":5,\"pending\":6}");
	assert_json(view_peer_json(&pe),
		    "{\"peer\":\"B\",\"address\":\"127.0.0.1:9000\","
		    "\"cert_cn\":\"node-b\",\"state\":\"up\",\"epoch\":77,"
		    "\"connects\":2,\"sent\":9,\"received\":8,\"queued\":100,"
		    "\"last_error\":\"\",\"deaths\":3,\"probes\":1}");
	assert_json(view_key_json(&k),
		    "{\"key_id\":\"0f0e0d0c-0b0a-4988-8776-655443322110\","
		    "\"link\":\"AB\",\"block\":5,\"offset\":64,\"size\":256,"
		    "\"master\":\"app1\",\"slaves\":[{\"sae\":\"app2\","
		    "\"delivered\":false},{\"sae\":\"app3\",\"delivered\":true}],"
		    "\"state\":\"supplied\",\"gen_time_ns\":1,\"created_ns\":2,"
		    "\"changed_ns\":3}");
}

static void test_saes(void **state)
{
	struct ksa_sae_cfg saes[2] = {
		{ .name = "app1", .cert_cn = "cn1", .node = "A" },
		{ .name = "app2", .cert_cn = "cn2", .node = "B" },
	};
	struct qkd_config cfg = { .saes = saes, .n_saes = 2 };

	(void)state;
	strcpy(cfg.node.name, "A");
	assert_json(view_saes(&cfg, NULL, NULL),
		    "{\"saes\":[{\"sae\":\"app1\",\"cert_cn\":\"cn1\",\"node\":\"A\","
		    "\"local\":true},{\"sae\":\"app2\",\"cert_cn\":\"cn2\","
		    "\"node\":\"B\",\"local\":false}],\"pairs\":[]}");
}

static void test_relay(void **state)
{
	struct relay_info r = {
		.max_sessions = 512, .open = 2, .timed_out = 1,
		.adm = {
			[RELAY_PRIO_NORMAL] = { 1, 2, 3 },
			[RELAY_PRIO_LOW] = { 4, 5, 6 },
			[RELAY_PRIO_HIGH] = { 7, 8, 9 },
		},
		.started = 10, .forwarded = 11, .delivered = 12, .acked = 13,
		.refused = 14, .auth_alarms = 15,
	};
	struct relay_session_info s = {
		.key_id = "0f0e0d0c-0b0a-4988-8776-655443322110",
		.role = RELAY_SESSION_TRANSIT, .route = "A-B-C",
		.state = "forwarded to C", .age_ms = 42, .open = true,
	};
	struct relay_link_info *l = calloc(1, sizeof(*l));
	json_t *list = json_array();

	(void)state;
	assert_non_null(l);
	assert_non_null(list);
	json_array_append_new(list, view_relay_session_json(&s));
	assert_json(view_relay_info_json(&r, list),
		    "{\"admission\":{\"max_sessions\":512,\"open\":2,\"timed_out\":1,"
		    "\"normal\":{\"admitted\":1,\"refused_busy\":2,\"refused_pool\":3},"
		    "\"low\":{\"admitted\":4,\"refused_busy\":5,\"refused_pool\":6},"
		    "\"high\":{\"admitted\":7,\"refused_busy\":8,\"refused_pool\":9}},"
		    "\"started\":10,\"forwarded\":11,\"delivered\":12,\"acked\":13,"
		    "\"refused\":14,\"auth_alarms\":15,\"sessions\":[{\"key_ID\":"
		    "\"0f0e0d0c-0b0a-4988-8776-655443322110\",\"role\":\"transit\","
		    "\"route\":\"A-B-C\",\"state\":\"forwarded to C\",\"age_ms\":42}]}");

	strcpy(l->link, "BC");
	strcpy(l->peer, "C");
	/* tx balanced: 96 bytes of pad = 512 relayed + 256 MAC key bits. */
	l->tx = (struct relay_acct){
		.pad_bytes = 96, .pad_bits_consumed = 768, .relayed_bits = 512,
		.mac_key_bits = 256, .messages = 1,
		.ranges = { { .key_id = 65536, .len = 96 } }, .n_ranges = 1,
	};
	/* rx not: a bit consumed that no counter explains. */
	l->rx = (struct relay_acct){ .pad_bytes = 1, .pad_bits_consumed = 8,
				     .discarded_bits = 7, .rejected = 1,
				     .auth_failures = 1 };
	assert_true(relay_acct_balanced(&l->tx));
	assert_false(relay_acct_balanced(&l->rx));
	assert_json(view_relay_link_json(l),
		    "{\"link\":\"BC\",\"peer\":\"C\",\"tx\":{\"pad_bits_taken\":768,"
		    "\"pad_bits_consumed\":768,\"relayed_bits\":512,"
		    "\"mac_key_bits\":256,\"discarded_bits\":0,\"messages\":1,"
		    "\"rejected\":0,\"auth_failures\":0,\"balanced\":true,"
		    "\"pad_ranges\":[[65536,96]]},\"rx\":{\"pad_bits_taken\":8,"
		    "\"pad_bits_consumed\":8,\"relayed_bits\":0,\"mac_key_bits\":0,"
		    "\"discarded_bits\":7,\"messages\":0,\"rejected\":1,"
		    "\"auth_failures\":1,\"balanced\":false,\"pad_ranges\":[]}}");
	free(l);
	assert_json(view_relay_audit(NULL), "[]");
}

static void test_ipsec(void **state)
{
	struct ipsec_info i = {
		.reqid_min = 100, .reqid_max = 199, .acquires = 5,
		.unknown_acquires = 1, .foreign_acquires = 2,
	};
	struct ipsec_pair_info up = {
		.gateway = "gwB", .peer = "B", .reqid = 101, .tunnel = true,
		.owner = true, .state = IPSEC_PAIR_UP, .rekeys = 3,
		.lifetime_s = 60, .installed = true, .generation = 4,
		.spi_in = 0x1234, .spi_out = 0xdeadbeef,
		.key_id_in = 0x50040, .key_id_out = 0x50080, .age_ms = 1500,
		.next_rekey_ms = 58500,
	};
	struct ipsec_pair_info idle = {
		.gateway = "gwC", .peer = "C", .reqid = 102,
		.state = IPSEC_PAIR_REQUESTED, .lifetime_s = 30, .alarm = true,
		.next_rekey_ms = 999,	/* not the owner: not shown */
	};
	json_t *pairs = json_array();

	(void)state;
	assert_non_null(pairs);
	json_array_append_new(pairs, view_ipsec_pair_json(&up));
	json_array_append_new(pairs, view_ipsec_pair_json(&idle));
	assert_json(view_ipsec_json(&i, pairs),
		    "{\"reqid_min\":100,\"reqid_max\":199,\"pairs\":["
		    "{\"gateway\":\"gwB\",\"peer\":\"B\",\"reqid\":101,"
		    "\"mode\":\"tunnel\",\"role\":\"owner\",\"state\":\"up\","
		    "\"generation\":4,\"rekeys\":3,\"lifetime_s\":60,"
		    "\"spi_in\":\"0x00001234\",\"spi_out\":\"0xdeadbeef\","
		    "\"key_id_in\":\"0x50040\",\"key_id_out\":\"0x50080\","
		    "\"age_ms\":1500,\"next_rekey_ms\":58500,\"alarm\":false},"
		    "{\"gateway\":\"gwC\",\"peer\":\"C\",\"reqid\":102,"
		    "\"mode\":\"transport\",\"role\":\"follower\","
		    "\"state\":\"requested\",\"generation\":0,\"rekeys\":0,"
		    "\"lifetime_s\":30,\"alarm\":true}],"
		    "\"acquires\":5,\"unknown_acquires\":1,\"foreign_acquires\":2}");
	assert_string_equal(ipsec_pair_state_name(IPSEC_PAIR_RETRY), "retrying");
	assert_string_equal(ipsec_pair_state_name(IPSEC_PAIR_OFFERED), "offered");
	assert_string_equal(ipsec_pair_state_name(IPSEC_PAIR_IDLE), "idle");
}

/* "account show": the counters of one pair's interval, in export order. */
static void test_account(void **state)
{
	struct acct_interval_info iv = {
		.seq = 3, .start = 1000, .end = 1060, .master = "app1",
		.slave = "app2",
		.c = { .enc_keys = 4, .enc_bits = 1024, .relayed_keys = 1,
		       .relayed_bits = 256, .requests = 2, .enc_refused = 5,
		       .refused = { [ACCT_R_UNKNOWN_SAE] = 2,
				    [ACCT_R_OUT_OF_KEYS] = 3 } },
	};

	(void)state;
	assert_json(view_account_interval_json(&iv),
		    "{\"enc_keys\":4,\"enc_bits\":1024,\"dec_keys\":0,"
		    "\"dec_bits\":0,\"relayed_keys\":1,\"relayed_bits\":256,"
		    "\"requests\":2,\"enc_refused\":5,\"dec_refused\":0,"
		    "\"refused\":{\"unauthorized\":0,\"unknown_sae\":2,"
		    "\"bad_request\":0,\"not_found\":0,\"out_of_keys\":3,"
		    "\"unreachable\":0,\"unavailable\":0,\"undelivered\":0},"
		    "\"seq\":3,\"start\":1000,\"end\":1060,\"master\":\"app1\","
		    "\"slave\":\"app2\"}");
	/* A consumer's interval: named as a consumer, with peer and link. */
	iv = (struct acct_interval_info){
		.seq = 4, .start = 1060, .end = 1120,
		.master = "wireguard:w0", .slave = "B", .link = "AB",
		.c = { .enc_keys = 2, .enc_bits = 512, .requests = 2 },
	};
	assert_json(view_account_interval_json(&iv),
		    "{\"enc_keys\":2,\"enc_bits\":512,\"dec_keys\":0,"
		    "\"dec_bits\":0,\"relayed_keys\":0,\"relayed_bits\":0,"
		    "\"requests\":2,\"enc_refused\":0,\"dec_refused\":0,"
		    "\"refused\":{\"unauthorized\":0,\"unknown_sae\":0,"
		    "\"bad_request\":0,\"not_found\":0,\"out_of_keys\":0,"
		    "\"unreachable\":0,\"unavailable\":0,\"undelivered\":0},"
		    "\"seq\":4,\"start\":1060,\"end\":1120,"
		    "\"consumer\":\"wireguard:w0\",\"peer\":\"B\","
		    "\"link\":\"AB\"}");
	/* Accounting off: said so, with empty lists. */
	assert_json(view_account(NULL, 10),
		    "{\"enabled\":false,\"pairs\":[],\"saes\":[],"
		    "\"intervals\":[],\"reasons\":[],\"consumers\":[],"
		    "\"consumer_intervals\":[]}");
}

static void test_macsec(void **state)
{
	struct macsec_port_info up = {
		.name = "m0", .ifname = "macsec0", .peer = "B", .link = "AB",
		.owner = true, .sci = 0x0200000000010001ULL,
		.peer_sci = 0x0200000000020001ULL, .state = MACSEC_PORT_UP,
		.have_sak = true, .an = 2, .key_id = 0x50040,
		.last_rotation_age_ms = 250, .rotations = 9, .failures = 1,
		.tx_pn = 1000, .rotate_s = 60, .key_len = 16,
		.last_error = "",
	};
	struct macsec_port_info fresh = {
		.name = "m1", .ifname = "macsec1", .peer = "C", .link = "AC",
		.sci = 0x0200000000010002ULL, .state = MACSEC_PORT_KX_DOWN,
		.rotate_s = 30, .key_len = 32,
		.last_error = "peer C not reachable",
	};

	(void)state;
	assert_json(view_macsec_port_json(&up),
		    "{\"port\":\"m0\",\"interface\":\"macsec0\",\"peer\":\"B\","
		    "\"link\":\"AB\",\"owner\":true,\"sci\":\"0200000000010001\","
		    "\"peer_sci\":\"0200000000020001\",\"state\":\"up\",\"an\":2,"
		    "\"key_id\":\"50040\",\"rotations\":9,\"failures\":1,"
		    "\"last_rotation_age_ms\":250,\"tx_pn\":1000,\"rotate_s\":60,"
		    "\"key_len\":16,\"last_error\":\"\"}");
	/* No SAK yet: no key_id, an and age -1; an unknown peer SCI is "". */
	assert_json(view_macsec_port_json(&fresh),
		    "{\"port\":\"m1\",\"interface\":\"macsec1\",\"peer\":\"C\","
		    "\"link\":\"AC\",\"owner\":false,\"sci\":\"0200000000010002\","
		    "\"peer_sci\":\"\",\"state\":\"kx-down\",\"an\":-1,"
		    "\"rotations\":0,\"failures\":0,\"last_rotation_age_ms\":-1,"
		    "\"tx_pn\":0,\"rotate_s\":30,\"key_len\":32,"
		    "\"last_error\":\"peer C not reachable\"}");
	assert_json(view_macsec(NULL), "[]");
	assert_string_equal(macsec_port_state_name(MACSEC_PORT_WAITING_PEER),
			    "waiting-peer");
	assert_string_equal(macsec_port_state_name(MACSEC_PORT_ROTATING),
			    "rotating");
	assert_string_equal(macsec_port_state_name(MACSEC_PORT_FAILED),
			    "failed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alarm),
		cmocka_unit_test(test_links_and_pools),
		cmocka_unit_test(test_pair_peer_key),
		cmocka_unit_test(test_saes),
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_ipsec),
		cmocka_unit_test(test_macsec),
		cmocka_unit_test(test_account),
	};

	return cmocka_run_group_tests_name("view", tests, NULL, NULL);
}
