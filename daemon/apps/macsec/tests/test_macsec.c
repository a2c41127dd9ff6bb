// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for macsec.c's rotation protocol: two ports (A owns, B
 * follows) over fake MACsec interfaces, a simulated QKD link with its own
 * clock, and a Kx wire that carries encoded messages.  Checks that both ends
 * install the same SAK at the same AN in the documented order, walk the ANs,
 * never reuse a key, keep the SAK and raise an alarm on every kind of
 * failure, rekey on the PN threshold, and put no key byte on the wire.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/alarm.h"
#include "apps/macsec/macsec.h"
#include "apps/macsec/macsec_nl.h"
#include "apps/tests/consumer_harness.h"

#define IFINDEX		5
#define KEY_LEN		32
#define MAX_SEEN	256

struct fake_sa {
	bool present, active;
	uint8_t key[KEY_LEN];
	uint8_t keyid[MACSEC_KEYID_LEN];
	uint64_t pn;
};

/* One MACsec interface as the kernel would keep it. */
struct fake_if {
	uint64_t sci, rx_sci;
	int stale_rxsc;		/* RX SCs left beside rx_sci */
	uint8_t encoding_sa;
	struct fake_sa tx[4], rx[4];
	int fail_add;		/* -errno for every add_sa while set */
	/* encoding switches that found no RX SA at the peer: frame loss */
	int switches_without_peer_rx;
};

struct world {
	struct harness h;
	struct fake_if fif[2];
	/* every SAK installed, to scan the wire for */
	uint8_t seen_keys[MAX_SEEN][KEY_LEN];
	size_t n_seen;
};

static struct world *W;

static struct fake_if *peer_if(struct fake_if *f)
{
	return f == &W->fif[0] ? &W->fif[1] : &W->fif[0];
}

/* ---- fake kernel ---- */

static uint32_t fake_ifindex(void *k, const char *ifname)
{
	return strcmp(ifname, "macsec0") ? 0 : IFINDEX;
}

static int fake_get(void *k, uint32_t ifindex, struct macsec_nl_secy *out,
		    char *err, size_t errlen)
{
	struct fake_if *f = k;

	memset(out, 0, sizeof(*out));
	out->ifindex = ifindex;
	out->sci = f->sci;
	out->cipher = MACSEC_CIPHER_ID_GCM_AES_256;
	out->encoding_sa = f->encoding_sa;
	for (int an = 0; an < 4; an++) {
		out->txsa[an].present = f->tx[an].present;
		out->txsa[an].active = f->tx[an].active;
		out->txsa[an].next_pn = f->tx[an].pn;
		memcpy(out->txsa[an].keyid, f->tx[an].keyid, MACSEC_KEYID_LEN);
	}
	return 0;
}

static int fake_add_rxsc(void *k, uint32_t ifindex, uint64_t sci, char *err,
			 size_t errlen)
{
	struct fake_if *f = k;

	if (f->rx_sci == sci)
		return -EEXIST;
	if (f->rx_sci)
		f->stale_rxsc++;
	f->rx_sci = sci;
	memset(f->rx, 0, sizeof(f->rx));	/* a new SC has no SAs */
	return 0;
}

static void fake_del_rxsc(void *k, uint32_t ifindex, uint64_t sci)
{
	struct fake_if *f = k;

	if (f->rx_sci != sci)
		return;
	f->rx_sci = 0;
	memset(f->rx, 0, sizeof(f->rx));
}

static int fake_add_sa(void *k, uint32_t ifindex, const uint64_t *rx_sci,
		       const struct macsec_nl_sa_cfg *sa, char *err,
		       size_t errlen)
{
	struct fake_if *f = k;
	struct fake_sa *s = rx_sci ? &f->rx[sa->an] : &f->tx[sa->an];

	if (f->fail_add) {
		snprintf(err, errlen, "macsec: add sa: injected failure");
		return f->fail_add;
	}
	assert_int_equal(ifindex, IFINDEX);
	assert_int_equal(sa->key_len, KEY_LEN);
	assert_true(sa->pn >= 1);
	if (rx_sci)
		assert_true(*rx_sci == f->rx_sci);
	if (s->present)
		return -EBUSY;		/* as the kernel: delete first */
	s->present = true;
	s->active = sa->active;
	s->pn = sa->pn;
	memcpy(s->key, sa->key, KEY_LEN);
	memcpy(s->keyid, sa->keyid, MACSEC_KEYID_LEN);
	if (W->n_seen < MAX_SEEN)
		memcpy(W->seen_keys[W->n_seen++], sa->key, KEY_LEN);
	return 0;
}

static void fake_del_sa(void *k, uint32_t ifindex, const uint64_t *rx_sci,
			uint8_t an)
{
	struct fake_if *f = k;

	memset(rx_sci ? &f->rx[an] : &f->tx[an], 0, sizeof(struct fake_sa));
}

static int fake_set_encoding_sa(void *k, uint32_t ifindex, uint8_t an,
				char *err, size_t errlen)
{
	struct fake_if *f = k;
	struct fake_if *p = peer_if(f);

	/* The peer must already receive on this AN with this key. */
	if (!p->rx[an].present || !f->tx[an].present ||
	    memcmp(p->rx[an].key, f->tx[an].key, KEY_LEN))
		f->switches_without_peer_rx++;
	f->encoding_sa = an;
	return 0;
}

static uint64_t fake_now_ms(void *k)
{
	return W->h.now_us / 1000;
}

static const struct macsec_kernel_ops fake_ops = {
	.ifindex = fake_ifindex,
	.get = fake_get,
	.add_rxsc = fake_add_rxsc,
	.del_rxsc = fake_del_rxsc,
	.add_sa = fake_add_sa,
	.del_sa = fake_del_sa,
	.set_encoding_sa = fake_set_encoding_sa,
	.now_ms = fake_now_ms,
};

/* ---- set-up ---- */

static const struct macsec_transport kx = { harness_send, harness_is_up };

/* Side @i's port on a MACsec interface (as new) whose SCI is @sci. */
static struct macsec *open_port(int i, const struct macsec_port_cfg *port,
				uint64_t sci)
{
	struct harness_side *s = &W->h.s[i];
	struct macsec_port_cfg cfg = *port;
	struct macsec *ms;
	char err[200] = "";

	snprintf(cfg.peer, sizeof(cfg.peer), "%s", W->h.s[!i].name);
	memset(&W->fif[i], 0, sizeof(W->fif[i]));
	W->fif[i].sci = sci;
	ms = macsec_new_with_ops(NULL, s->kma, s->name, &cfg, 1, &kx, s,
				 &fake_ops, &W->fif[i], err, sizeof(err));
	if (!ms)
		print_error("%s\n", err);
	assert_non_null(ms);
	return ms;
}

/* The port harness_open() gives each side. */
static const struct macsec_port_cfg *opening_port;

static void *open_macsec(struct harness *h, int i)
{
	return open_port(i, opening_port,
			 i ? 0x5254000000bb0001ull : 0x5254000000aa0001ull);
}

static void close_macsec(void *ms)
{
	macsec_free(ms);
}

static void tick_macsec(void *ms)
{
	macsec_tick(ms);
}

static void receive_macsec(void *ms, const char *from,
			   const struct kxmsg *m)
{
	macsec_receive(ms, from, m);
}

static const struct harness_ops macsec_harness = {
	.open = open_macsec, .close = close_macsec, .tick = tick_macsec,
	.receive = receive_macsec,
	.pumps = 3,		/* answers to answers */
};

static void run(uint64_t ms)
{
	harness_run(&W->h, ms);
}

static const struct macsec_port_cfg port_1s = {
	.name = "m0", .ifname = "macsec0", .link = "AB", .rotate_s = 1,
	.key_len = KEY_LEN, .pn_threshold = MACSEC_PN_THRESHOLD_DEFAULT,
};

static void world_open(const struct macsec_port_cfg *port)
{
	W = calloc(1, sizeof(*W));
	assert_non_null(W);
	opening_port = port;
	harness_open(&W->h, "test_macsec", KEY_LEN, &macsec_harness);
}

static const struct macsec_port_cfg port_hourly = {
	.name = "m0", .ifname = "macsec0", .link = "AB", .rotate_s = 3600,
	.key_len = KEY_LEN, .pn_threshold = MACSEC_PN_THRESHOLD_DEFAULT,
};

static int setup(void **state)
{
	world_open(&port_1s);
	return 0;
}

static int setup_hourly(void **state)
{
	world_open(&port_hourly);
	return 0;
}

static int teardown(void **state)
{
	harness_close(&W->h);
	free(W);
	W = NULL;
	return 0;
}

/* ---- views ---- */

static struct macsec_port_info port_of(int side)
{
	struct macsec_port_info pi;

	assert_int_equal(macsec_port_count(W->h.s[side].app), 1);
	assert_int_equal(macsec_port_info(W->h.s[side].app, 0, &pi), 0);
	assert_int_equal(macsec_port_info(W->h.s[side].app, 1, &pi), -1);
	return pi;
}

static bool state_is(int side, enum macsec_port_state state)
{
	return port_of(side).state == state;
}

/* Both ends transmit with @an, with the same key, received by the other. */
static void assert_in_step(uint8_t an)
{
	struct fake_if *a = &W->fif[0], *b = &W->fif[1];

	assert_int_equal(a->encoding_sa, an);
	assert_int_equal(b->encoding_sa, an);
	assert_true(a->tx[an].present && b->tx[an].present);
	assert_memory_equal(a->tx[an].key, b->tx[an].key, KEY_LEN);
	assert_memory_equal(a->tx[an].key, b->rx[an].key, KEY_LEN);
	assert_memory_equal(b->tx[an].key, a->rx[an].key, KEY_LEN);
	assert_memory_equal(a->tx[an].keyid, b->tx[an].keyid, 16);
	assert_int_equal(a->switches_without_peer_rx, 0);
	assert_int_equal(b->switches_without_peer_rx, 0);
}

/* ---- tests ---- */

static void test_rotation_in_step(void **state)
{
	uint8_t keyids[12][16];
	uint8_t an = 0;

	assert_true(state_is(0, MACSEC_PORT_WAITING_PEER) ||
		    state_is(0, MACSEC_PORT_KEYING));
	run(300);
	assert_true(W->fif[0].rx_sci == W->fif[1].sci);
	assert_true(W->fif[1].rx_sci == W->fif[0].sci);
	for (int r = 0; r < 12; r++) {
		an = (uint8_t)((an + 1) % 4);
		assert_in_step(an);
		memcpy(keyids[r], W->fif[0].tx[an].keyid, 16);
		for (int j = 0; j < r; j++)
			assert_memory_not_equal(keyids[j], keyids[r], 16);
		assert_int_equal(port_of(0).rotations, r + 1);
		assert_int_equal(port_of(1).rotations, r + 1);
		assert_int_equal(port_of(0).an, an);
		run(1000);
		/* After the grace, the SAs two rotations back are gone. */
		assert_false(W->fif[0].tx[(an + 3) % 4].present);
		assert_false(W->fif[1].rx[(an + 3) % 4].present);
	}
	assert_true(state_is(0, MACSEC_PORT_UP) && state_is(1, MACSEC_PORT_UP));
	assert_false(alarm_is_active("macsec:macsec0"));
	/* Both ends name the same SAK by its key ID, each other's SCI. */
	assert_true(port_of(0).have_sak && port_of(1).have_sak);
	assert_true(port_of(0).key_id == port_of(1).key_id);
	assert_true(port_of(0).owner != port_of(1).owner);
	assert_true(port_of(0).peer_sci == port_of(1).sci);
	assert_true(port_of(1).peer_sci == port_of(0).sci);
	assert_string_equal(port_of(0).last_error, "");
}

/*
 * B comes back on a new interface (a new SCI, no SAs) an hour before the
 * next scheduled rotation: A drops the old RX SC with its SAs, receives on
 * the new one, and B's request has both ends on a fresh SAK at once.
 */
static void test_peer_sci_change(void **state)
{
	uint64_t new_sci = 0x5254000000cc0001ull;
	uint8_t an;

	run(300);
	an = W->fif[0].encoding_sa;
	assert_in_step(an);
	assert_true(W->fif[0].rx_sci == W->fif[1].sci);
	macsec_free(W->h.s[1].app);
	W->h.s[1].app = open_port(1, &port_hourly, new_sci);
	run(3000);
	assert_true(W->fif[0].rx_sci == new_sci);
	assert_int_equal(W->fif[0].stale_rxsc, 0);
	assert_in_step((uint8_t)((an + 1) % 4));
	assert_true(state_is(0, MACSEC_PORT_UP) && state_is(1, MACSEC_PORT_UP));
}

static void test_no_key_bytes_on_kx(void **state)
{
	run(5300);
	assert_true(W->n_seen >= 10);
	for (size_t i = 0; i < W->n_seen; i++)
		for (size_t off = 0; off + 8 <= W->h.wire_log_len; off++)
			assert_memory_not_equal(W->h.wire_log + off,
						W->seen_keys[i], 8);
}

static void test_peer_cannot_install(void **state)
{
	uint8_t an;

	run(300);
	an = W->fif[0].encoding_sa;
	W->fif[1].fail_add = -EINVAL;
	run(2000);
	assert_true(alarm_is_active("macsec:macsec0"));
	assert_true(state_is(0, MACSEC_PORT_DEGRADED));
	assert_true(port_of(0).failures > 0);
	/* The SAK in use stays at both ends. */
	assert_in_step(an);
	W->fif[1].fail_add = 0;
	run(1500);
	assert_false(alarm_is_active("macsec:macsec0"));
	assert_in_step((uint8_t)((an + 1) % 4));
}

static void test_no_answer(void **state)
{
	uint8_t an;

	run(300);
	an = W->fif[0].encoding_sa;
	W->h.drop = KXMSG_MACSEC_SAK;
	run(4000);
	assert_true(alarm_is_active("macsec:macsec0"));
	assert_in_step(an);
	W->h.drop = 0;
	run(1500);
	assert_false(alarm_is_active("macsec:macsec0"));
	assert_int_equal(W->fif[0].encoding_sa, (an + 1) % 4);
}

static void test_key_shortage(void **state)
{
	uint64_t before;

	run(300);
	W->h.keys_frozen = true;		/* the link delivers nothing more */
	run(15000);
	assert_true(alarm_is_active("macsec:macsec0"));
	assert_true(state_is(0, MACSEC_PORT_DEGRADED));
	before = port_of(0).rotations;
	run(2000);
	assert_int_equal(port_of(0).rotations, before);
	assert_in_step(W->fif[0].encoding_sa);
	W->h.keys_frozen = false;
	run(2000);
	assert_true(port_of(0).rotations > before);
	assert_false(alarm_is_active("macsec:macsec0"));
}

static void test_pn_threshold(void **state)
{
	struct macsec_port_cfg port = port_1s;
	uint8_t an;

	teardown(state);
	port.rotate_s = 3600;
	port.pn_threshold = 1000;
	world_open(&port);
	run(300);
	assert_int_equal(port_of(0).rotations, 1);
	run(3000);
	assert_int_equal(port_of(0).rotations, 1);	/* no reason yet */
	/* The owner's TX PN passes the threshold. */
	an = W->fif[0].encoding_sa;
	W->fif[0].tx[an].pn = 1000;
	run(1000);
	assert_int_equal(port_of(0).rotations, 2);
	/* The other end's: it asks with REKEY. */
	an = W->fif[1].encoding_sa;
	W->fif[1].tx[an].pn = 5000;
	run(1000);
	assert_int_equal(port_of(0).rotations, 3);
	/* An SA the kernel turned off (PN exhausted). */
	an = W->fif[0].encoding_sa;
	W->fif[0].tx[an].active = false;
	run(1000);
	assert_int_equal(port_of(0).rotations, 4);
	assert_in_step((uint8_t)((an + 1) % 4));
}

static void test_unknown_interface(void **state)
{
	struct macsec_port_cfg port = port_1s;
	char err[300] = "";

	snprintf(port.ifname, sizeof(port.ifname), "nosuch0");
	snprintf(port.peer, sizeof(port.peer), "B");
	assert_null(macsec_new_with_ops(NULL, W->h.s[0].kma, "A", &port, 1,
					&kx, &W->h.s[0], &fake_ops, &W->fif[0],
					err, sizeof(err)));
	assert_non_null(strstr(err, "[macsec m0]: interface 'nosuch0' does not exist"));
	port = port_1s;
	snprintf(port.link, sizeof(port.link), "XY");
	assert_null(macsec_new_with_ops(NULL, W->h.s[0].kma, "A", &port, 1,
					&kx, &W->h.s[0], &fake_ops, &W->fif[0],
					err, sizeof(err)));
	assert_string_equal(err, "[macsec m0]: no link 'XY'");
	port = port_1s;
	port.key_len = 16;
	assert_null(macsec_new_with_ops(NULL, W->h.s[0].kma, "A", &port, 1,
					&kx, &W->h.s[0], &fake_ops, &W->fif[0],
					err, sizeof(err)));
	assert_non_null(strstr(err, "cipher wants 16-byte keys"));
}

static void test_keyid(void **state)
{
	uint8_t a[16], b[16];

	macsec_keyid(1, 32, a);
	macsec_keyid(2, 32, b);
	assert_memory_not_equal(a, b, 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rotation_in_step, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_peer_sci_change,
						setup_hourly, teardown),
		cmocka_unit_test_setup_teardown(test_no_key_bytes_on_kx, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_peer_cannot_install, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_answer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_key_shortage, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pn_threshold, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_interface, setup,
						teardown),
		cmocka_unit_test(test_keyid),
	};

	return cmocka_run_group_tests_name("macsec", tests, NULL, NULL);
}
