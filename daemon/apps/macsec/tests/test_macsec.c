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
#include <unistd.h>
#include <cmocka.h>

#include "core/alarm.h"
#include "kma/keysrc.h"
#include "kma/kma.h"
#include "kx/kxmsg.h"
#include "apps/macsec/macsec.h"
#include "apps/macsec/macsec_nl.h"

#define SEC_NS		1000000000ull
#define IFINDEX		5
#define KEY_LEN		32
#define MAX_WIRE	64
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

struct side {
	const char *name;
	char dir[64];
	struct kma *kma;
	struct macsec *ms;
	struct fake_if fif;
};

struct wire_msg {
	int to;
	uint8_t buf[KXMSG_MAX_LEN];
	int len;
};

struct world {
	uint64_t key_ns;	/* the QKD link's clock */
	uint64_t now_ms;	/* the daemons' clock */
	bool keys_frozen;
	struct side s[2];
	struct wire_msg wire[MAX_WIRE];
	size_t n_wire;
	enum kxmsg_type drop;	/* drop this type on the wire; 0: none */
	/* every SAK installed, to scan the wire for */
	uint8_t seen_keys[MAX_SEEN][KEY_LEN];
	size_t n_seen;
	uint8_t wire_log[MAX_SEEN * 64];
	size_t wire_log_len;
};

static struct world *W;

static struct fake_if *peer_if(struct fake_if *f)
{
	return f == &W->s[0].fif ? &W->s[1].fif : &W->s[0].fif;
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
	return W->now_ms;
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

/* ---- Kx wire ---- */

static int wire_send(void *arg, const char *node, const struct kxmsg *m)
{
	struct side *from = arg;
	struct wire_msg *w;

	assert_true(W->n_wire < MAX_WIRE);
	w = &W->wire[W->n_wire++];
	w->to = from == &W->s[0] ? 1 : 0;
	assert_string_equal(node, W->s[w->to].name);
	w->len = kxmsg_encode(m, w->buf, sizeof(w->buf));
	assert_true(w->len > 0);
	if (W->wire_log_len + (size_t)w->len <= sizeof(W->wire_log)) {
		memcpy(W->wire_log + W->wire_log_len, w->buf, (size_t)w->len);
		W->wire_log_len += (size_t)w->len;
	}
	return 0;
}

static bool wire_is_up(void *arg, const char *node)
{
	return true;
}

static const struct macsec_transport kx = { wire_send, wire_is_up };

static void pump(void)
{
	for (size_t i = 0; i < W->n_wire; i++) {
		struct wire_msg *w = &W->wire[i];
		struct kxmsg *m = malloc(sizeof(*m));
		char err[64];

		assert_non_null(m);
		assert_int_equal(kxmsg_decode(w->buf, (size_t)w->len, m, err,
					      sizeof(err)), w->len);
		if (m->type != W->drop)
			macsec_receive(W->s[w->to].ms, W->s[!w->to].name, m);
		free(m);
	}
	W->n_wire = 0;
}

/* Let @ms milliseconds pass in 100 ms ticks, delivering Kx in between. */
static void run(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 100) {
		W->now_ms += 100;
		if (!W->keys_frozen)
			W->key_ns += 100 * 1000000ull;
		macsec_tick(W->s[0].ms);
		macsec_tick(W->s[1].ms);
		pump();
		pump();		/* answers to answers */
		pump();
	}
}

/* ---- set-up ---- */

static uint64_t key_clock(void *arg)
{
	return W->key_ns;
}

/* Side @i's port on a MACsec interface (as new) whose SCI is @sci. */
static void open_port(int i, const struct macsec_port_cfg *port, uint64_t sci)
{
	struct side *s = &W->s[i];
	struct macsec_port_cfg cfg = *port;
	char err[200] = "";

	snprintf(cfg.peer, sizeof(cfg.peer), "%s", W->s[!i].name);
	memset(&s->fif, 0, sizeof(s->fif));
	s->fif.sci = sci;
	s->ms = macsec_new_with_ops(NULL, s->kma, s->name, &cfg, 1, &kx, s,
				    &fake_ops, &s->fif, err, sizeof(err));
	if (!s->ms)
		print_error("%s\n", err);
	assert_non_null(s->ms);
}

/* 32-byte blocks at 2560 bit/s: 10 blocks a second, 5 for each end. */
static void open_side(int i, const struct macsec_port_cfg *port)
{
	struct side *s = &W->s[i];
	uint8_t seed[32];
	struct keysrc_sim_cfg sim = {
		.link_name = "AB", .state_dir = s->dir,
		.role = i ? QKD_ROLE_RX : QKD_ROLE_TX, .seed = seed,
		.rate = 2560, .block_size = KEY_LEN,
		.now_ns = key_clock, .now_arg = W,
	};
	struct km_node_cfg node = { 0 };
	struct kma_link_cfg link = {
		.name = "AB", .source = KM_SOURCE_SIM, .role = sim.role,
		.rate = sim.rate, .block_size = sim.block_size,
	};
	struct keysrc *src;
	char err[200] = "";

	memset(seed, 0x5a, sizeof(seed));
	snprintf(node.name, sizeof(node.name), "%s", s->name);
	snprintf(node.state_dir, sizeof(node.state_dir), "%s", s->dir);
	snprintf(link.peer, sizeof(link.peer), "%s", W->s[!i].name);
	src = keysrc_sim_new(&sim, err, sizeof(err));
	assert_non_null(src);
	s->kma = kma_new_with_sources(&node, &link, &src, 1, err, sizeof(err));
	assert_non_null(s->kma);
	open_port(i, port, i ? 0x5254000000bb0001ull : 0x5254000000aa0001ull);
}

static const struct macsec_port_cfg port_1s = {
	.name = "m0", .ifname = "macsec0", .link = "AB", .rotate_s = 1,
	.key_len = KEY_LEN, .pn_threshold = MACSEC_PN_THRESHOLD_DEFAULT,
};

static void world_open(const struct macsec_port_cfg *port)
{
	W = calloc(1, sizeof(*W));
	assert_non_null(W);
	W->key_ns = 1700000000ull * SEC_NS;
	W->now_ms = 1000000;
	W->s[0].name = "A";
	W->s[1].name = "B";
	for (int i = 0; i < 2; i++) {
		snprintf(W->s[i].dir, sizeof(W->s[i].dir),
			 "/tmp/test_macsec_%s.XXXXXX", W->s[i].name);
		assert_non_null(mkdtemp(W->s[i].dir));
	}
	open_side(0, port);
	open_side(1, port);
	W->key_ns += 2 * SEC_NS;	/* a pool's worth of blocks */
	alarm_reset();
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
	for (int i = 0; i < 2; i++) {
		char path[128];

		macsec_free(W->s[i].ms);
		kma_free(W->s[i].kma);
		snprintf(path, sizeof(path), "%s/AB.hwm", W->s[i].dir);
		unlink(path);
		rmdir(W->s[i].dir);
	}
	free(W);
	W = NULL;
	alarm_reset();
	return 0;
}

/* ---- views ---- */

static struct macsec_port_info port_of(int side)
{
	struct macsec_port_info pi;

	assert_int_equal(macsec_port_count(W->s[side].ms), 1);
	assert_int_equal(macsec_port_info(W->s[side].ms, 0, &pi), 0);
	assert_int_equal(macsec_port_info(W->s[side].ms, 1, &pi), -1);
	return pi;
}

static bool state_is(int side, enum macsec_port_state state)
{
	return port_of(side).state == state;
}

/* Both ends transmit with @an, with the same key, received by the other. */
static void assert_in_step(uint8_t an)
{
	struct fake_if *a = &W->s[0].fif, *b = &W->s[1].fif;

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
	assert_true(W->s[0].fif.rx_sci == W->s[1].fif.sci);
	assert_true(W->s[1].fif.rx_sci == W->s[0].fif.sci);
	for (int r = 0; r < 12; r++) {
		an = (uint8_t)((an + 1) % 4);
		assert_in_step(an);
		memcpy(keyids[r], W->s[0].fif.tx[an].keyid, 16);
		for (int j = 0; j < r; j++)
			assert_memory_not_equal(keyids[j], keyids[r], 16);
		assert_int_equal(port_of(0).rotations, r + 1);
		assert_int_equal(port_of(1).rotations, r + 1);
		assert_int_equal(port_of(0).an, an);
		run(1000);
		/* After the grace, the SAs two rotations back are gone. */
		assert_false(W->s[0].fif.tx[(an + 3) % 4].present);
		assert_false(W->s[1].fif.rx[(an + 3) % 4].present);
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
	an = W->s[0].fif.encoding_sa;
	assert_in_step(an);
	assert_true(W->s[0].fif.rx_sci == W->s[1].fif.sci);
	macsec_free(W->s[1].ms);
	open_port(1, &port_hourly, new_sci);
	run(3000);
	assert_true(W->s[0].fif.rx_sci == new_sci);
	assert_int_equal(W->s[0].fif.stale_rxsc, 0);
	assert_in_step((uint8_t)((an + 1) % 4));
	assert_true(state_is(0, MACSEC_PORT_UP) && state_is(1, MACSEC_PORT_UP));
}

static void test_no_key_bytes_on_kx(void **state)
{
	run(5300);
	assert_true(W->n_seen >= 10);
	for (size_t i = 0; i < W->n_seen; i++)
		for (size_t off = 0; off + 8 <= W->wire_log_len; off++)
			assert_memory_not_equal(W->wire_log + off,
						W->seen_keys[i], 8);
}

static void test_peer_cannot_install(void **state)
{
	uint8_t an;

	run(300);
	an = W->s[0].fif.encoding_sa;
	W->s[1].fif.fail_add = -EINVAL;
	run(2000);
	assert_true(alarm_is_active("macsec:macsec0"));
	assert_true(state_is(0, MACSEC_PORT_DEGRADED));
	assert_true(port_of(0).failures > 0);
	/* The SAK in use stays at both ends. */
	assert_in_step(an);
	W->s[1].fif.fail_add = 0;
	run(1500);
	assert_false(alarm_is_active("macsec:macsec0"));
	assert_in_step((uint8_t)((an + 1) % 4));
}

static void test_no_answer(void **state)
{
	uint8_t an;

	run(300);
	an = W->s[0].fif.encoding_sa;
	W->drop = KXMSG_MACSEC_SAK;
	run(4000);
	assert_true(alarm_is_active("macsec:macsec0"));
	assert_in_step(an);
	W->drop = 0;
	run(1500);
	assert_false(alarm_is_active("macsec:macsec0"));
	assert_int_equal(W->s[0].fif.encoding_sa, (an + 1) % 4);
}

static void test_key_shortage(void **state)
{
	uint64_t before;

	run(300);
	W->keys_frozen = true;		/* the link delivers nothing more */
	run(15000);
	assert_true(alarm_is_active("macsec:macsec0"));
	assert_true(state_is(0, MACSEC_PORT_DEGRADED));
	before = port_of(0).rotations;
	run(2000);
	assert_int_equal(port_of(0).rotations, before);
	assert_in_step(W->s[0].fif.encoding_sa);
	W->keys_frozen = false;
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
	an = W->s[0].fif.encoding_sa;
	W->s[0].fif.tx[an].pn = 1000;
	run(1000);
	assert_int_equal(port_of(0).rotations, 2);
	/* The other end's: it asks with REKEY. */
	an = W->s[1].fif.encoding_sa;
	W->s[1].fif.tx[an].pn = 5000;
	run(1000);
	assert_int_equal(port_of(0).rotations, 3);
	/* An SA the kernel turned off (PN exhausted). */
	an = W->s[0].fif.encoding_sa;
	W->s[0].fif.tx[an].active = false;
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
	assert_null(macsec_new_with_ops(NULL, W->s[0].kma, "A", &port, 1, &kx,
					&W->s[0], &fake_ops, &W->s[0].fif,
					err, sizeof(err)));
	assert_non_null(strstr(err, "[macsec m0]: interface 'nosuch0' does not exist"));
	port = port_1s;
	snprintf(port.link, sizeof(port.link), "XY");
	assert_null(macsec_new_with_ops(NULL, W->s[0].kma, "A", &port, 1, &kx,
					&W->s[0], &fake_ops, &W->s[0].fif,
					err, sizeof(err)));
	assert_string_equal(err, "[macsec m0]: no link 'XY'");
	port = port_1s;
	port.key_len = 16;
	assert_null(macsec_new_with_ops(NULL, W->s[0].kma, "A", &port, 1, &kx,
					&W->s[0], &fake_ops, &W->s[0].fif,
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
