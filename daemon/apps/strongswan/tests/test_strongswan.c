// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for strongswan.c's rotation: two ends (A owns, B follows),
 * each with a fake charon that answers VICI requests (load-shared,
 * get-shared, unload-shared, rekey, initiate) the way the protocol
 * description says, a simulated QKD link with its own clock and a Kx
 * wire that carries encoded messages.  Checks that both charons hold
 * exactly one PPK of the section, the same bytes under the same id, each
 * rotation; that the owner reauthenticates only once the other end holds
 * the new PPK (initiating the child when no IKE SA is up); that no key
 * byte crosses Kx; that a shortage or a refusal keeps the current PPK
 * with an alarm and recovers.
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
#include "apps/strongswan/strongswan.h"
#include "apps/strongswan/vici.h"
#include "apps/tests/consumer_harness.h"

#define MAX_SECRETS	8
#define PPK		STRONGSWAN_PPK_LEN

struct secret {
	char id[64], type[8], owner[64];
	uint8_t data[PPK];
	size_t len;
};

/* What one charon holds. */
struct fake_charon {
	struct secret sec[MAX_SECRETS];
	size_t n_sec;
	bool ike_up;
	unsigned ike_id;	/* of the IKE SA up */
	int lists;
	int reauths, initiations, unloads;
	int reauth_mismatch;	/* IKE_AUTH with the ends' PPKs differing */
	bool fail_load;
	bool stuck;		/* rekey accepted, no new IKE SA comes */
};

struct world {
	struct harness h;
	const char *child;
	struct fake_charon ch[2];
};

static struct world *W;

static const struct secret *only_ppk(const struct fake_charon *ch)
{
	const struct secret *found = NULL;

	for (size_t i = 0; i < ch->n_sec; i++)
		if (!strcmp(ch->sec[i].type, "PPK")) {
			assert_null(found);	/* never two at once */
			found = &ch->sec[i];
		}
	return found;
}

static void copy_value(const struct vici_elem *e, char *out, size_t size)
{
	assert_true(e->value_len < size);
	memcpy(out, e->value, e->value_len);
	out[e->value_len] = '\0';
}

/* Answers a request with {success, errmsg} or, for get-shared, keys. */
static long fake_call(void *c, const char *socket, const char *event,
		      const uint8_t *req, size_t req_len,
		      void (*fn)(void *arg, const uint8_t *msg, size_t len),
		      void *arg, uint8_t *resp, size_t cap, char *err,
		      size_t errlen)
{
	static unsigned next_ike_id = 1;
	struct fake_charon *ch = c, *other;
	struct vici_packet p;
	struct vici_writer w;
	struct vici_iter it;
	struct vici_elem e;
	struct secret s = { 0 };
	char ike[64] = "", child[64] = "", reauth[8] = "", timeout[8] = "";
	char ike_id[16] = "", noblock[8] = "";
	const char *fail = NULL;
	uint8_t out[4096];
	long n;

	other = ch == &W->ch[0] ? &W->ch[1] : &W->ch[0];
	assert_string_equal(socket, "/run/test.vici");
	assert_true(req_len > 4);
	assert_int_equal(vici_parse(req + 4, req_len - 4, &p, NULL, 0), 0);
	assert_int_equal(p.type, VICI_CMD_REQUEST);
	vici_iter_init(&it, p.msg, p.msg_len);
	while (vici_next(&it, &e, NULL, 0) > 0) {
		if (e.type == VICI_KEY_VALUE && !strcmp(e.name, "id"))
			copy_value(&e, s.id, sizeof(s.id));
		else if (e.type == VICI_KEY_VALUE && !strcmp(e.name, "type"))
			copy_value(&e, s.type, sizeof(s.type));
		else if (e.type == VICI_KEY_VALUE && !strcmp(e.name, "data")) {
			assert_int_equal(e.value_len, PPK);
			memcpy(s.data, e.value, PPK);
			s.len = PPK;
		} else if (e.type == VICI_LIST_ITEM &&
			   !strcmp(e.list, "owners"))
			copy_value(&e, s.owner, sizeof(s.owner));
		else if (e.type == VICI_KEY_VALUE && !strcmp(e.name, "ike"))
			copy_value(&e, ike, sizeof(ike));
		else if (e.type == VICI_KEY_VALUE && !strcmp(e.name, "child"))
			copy_value(&e, child, sizeof(child));
		else if (e.type == VICI_KEY_VALUE && !strcmp(e.name, "reauth"))
			copy_value(&e, reauth, sizeof(reauth));
		else if (e.type == VICI_KEY_VALUE &&
			 !strcmp(e.name, "timeout"))
			copy_value(&e, timeout, sizeof(timeout));
		else if (e.type == VICI_KEY_VALUE && !strcmp(e.name, "ike-id"))
			copy_value(&e, ike_id, sizeof(ike_id));
		else if (e.type == VICI_KEY_VALUE &&
			 !strcmp(e.name, "noblock"))
			copy_value(&e, noblock, sizeof(noblock));
	}
	vici_begin(&w, out, sizeof(out), VICI_CMD_RESPONSE, NULL);
	if (!strcmp(p.name, "load-shared")) {
		assert_string_equal(s.type, "PPK");
		assert_string_equal(s.owner, "qkd-s0");
		if (ch->fail_load)
			fail = "injected";
		else {
			/* The same id replaces, as charon does. */
			size_t i;

			for (i = 0; i < ch->n_sec; i++)
				if (!strcmp(ch->sec[i].id, s.id))
					break;
			assert_true(i < MAX_SECRETS);
			ch->sec[i] = s;
			if (i == ch->n_sec)
				ch->n_sec++;
		}
	} else if (!strcmp(p.name, "get-shared")) {
		vici_list_start(&w, "keys");
		for (size_t i = 0; i < ch->n_sec; i++)
			vici_list_item(&w, ch->sec[i].id, strlen(ch->sec[i].id));
		vici_list_end(&w);
	} else if (!strcmp(p.name, "unload-shared")) {
		size_t i;

		for (i = 0; i < ch->n_sec; i++)
			if (!strcmp(ch->sec[i].id, s.id))
				break;
		if (i == ch->n_sec) {
			fail = "key not found";
		} else {
			ch->sec[i] = ch->sec[--ch->n_sec];
			ch->unloads++;
		}
	} else if (!strcmp(p.name, "list-sas")) {
		uint8_t ev[256];
		char id[16];
		long en;

		assert_string_equal(event, "list-sa");
		assert_string_equal(ike, "gw");
		assert_string_equal(noblock, "yes");
		ch->lists++;
		if (ch->ike_up) {
			snprintf(id, sizeof(id), "%u", ch->ike_id);
			vici_begin(&w, ev, sizeof(ev), VICI_EVENT, "list-sa");
			vici_section_start(&w, "gw");
			vici_kv_str(&w, "uniqueid", id);
			vici_kv_str(&w, "state", "ESTABLISHED");
			vici_section_end(&w);
			en = vici_finish(&w);
			assert_true(en > 0);
			fn(arg, ev + 4 + 2 + 7, (size_t)en - 4 - 2 - 7);
		}
		vici_begin(&w, out, sizeof(out), VICI_CMD_RESPONSE, NULL);
	} else if (!strcmp(p.name, "rekey")) {
		char want[16];

		snprintf(want, sizeof(want), "%u", ch->ike_id);
		assert_string_equal(ike, "");
		assert_string_equal(reauth, "yes");
		if (!ch->ike_up || strcmp(ike_id, want)) {
			fail = "no matching SAs to rekey found";
		} else {
			const struct secret *a = only_ppk(ch), *b = only_ppk(other);

			if (!a || !b || memcmp(a->data, b->data, PPK))
				ch->reauth_mismatch++;
			ch->reauths++;
			/* make-before-break: a new IKE SA replaces it. */
			if (!ch->stuck)
				ch->ike_id = other->ike_id = next_ike_id++;
		}
	} else if (!strcmp(p.name, "initiate")) {
		assert_string_equal(child, "net");
		assert_string_equal(ike, "gw");
		assert_string_equal(timeout, "-1");
		ch->initiations++;
		ch->ike_up = other->ike_up = true;
		ch->ike_id = other->ike_id = next_ike_id++;
	} else {
		fail_msg("unexpected command %s", p.name);
	}
	if (strcmp(p.name, "get-shared")) {
		vici_kv_str(&w, "success", fail ? "no" : "yes");
		if (fail)
			vici_kv_str(&w, "errmsg", fail);
	}
	n = vici_finish(&w);
	assert_true(n > 5 && (size_t)n - 5 <= cap);
	memcpy(resp, out + 5, (size_t)n - 5);
	W->h.now_us += 200;	/* a VICI call takes time */
	return n - 5;
}

static uint64_t fake_now_us(void *c)
{
	return W->h.now_us;
}

static const struct strongswan_charon_ops fake_ops = {
	.call = fake_call,
	.now_us = fake_now_us,
};

static const struct strongswan_transport kx = {
	harness_send, harness_is_up,
};

static void *open_strongswan(struct harness *h, int i)
{
	struct harness_side *sd = &h->s[i];
	struct strongswan_conn_cfg cfg = {
		.name = "s0", .connection = "gw", .ppk_id = "qkd-s0",
		.socket = "/run/test.vici", .link = "AB", .rotate_s = 1,
	};
	struct strongswan *s;
	char err[200] = "";

	snprintf(cfg.child, sizeof(cfg.child), "%s", W->child);
	snprintf(cfg.peer, sizeof(cfg.peer), "%s", h->s[!i].name);
	s = strongswan_new_with_ops(NULL, sd->kma, sd->name, &cfg, 1, &kx, sd,
				    &fake_ops, &W->ch[i], err, sizeof(err));
	if (!s)
		print_error("%s\n", err);
	assert_non_null(s);
	return s;
}

static void close_strongswan(void *s)
{
	strongswan_free(s);
}

static void tick_strongswan(void *s)
{
	strongswan_tick(s);
}

static void receive_strongswan(void *s, const char *from,
			       const struct kxmsg *m)
{
	strongswan_receive(s, from, m);
}

static const struct harness_ops strongswan_harness = {
	.open = open_strongswan, .close = close_strongswan,
	.tick = tick_strongswan, .receive = receive_strongswan, .pumps = 2,
};

static void run(uint64_t ms)
{
	harness_run(&W->h, ms);
}

static int setup_child(const char *child)
{
	W = calloc(1, sizeof(*W));
	assert_non_null(W);
	W->child = child;
	harness_open(&W->h, "test_strongswan", PPK, &strongswan_harness);
	return 0;
}

static int setup(void **state)
{
	return setup_child("net");
}

static int setup_no_child(void **state)
{
	return setup_child("");
}

static int teardown(void **state)
{
	harness_close(&W->h);
	free(W);
	W = NULL;
	return 0;
}

static struct strongswan_info info_of(int side)
{
	struct strongswan_info si;

	assert_int_equal(strongswan_count(W->h.s[side].app), 1);
	assert_int_equal(strongswan_info(W->h.s[side].app, 0, &si), 0);
	assert_int_equal(strongswan_info(W->h.s[side].app, 1, &si), -1);
	return si;
}

static void test_rotation_in_step(void **state)
{
	struct fake_charon *a = &W->ch[0], *b = &W->ch[1];
	struct secret stale = { .id = "qkd-s0-00000000000000ff",
				.type = "PPK", .owner = "qkd-s0",
				.len = PPK };
	struct secret other = { .id = "qkd-s01-00000000000000ff",
				.type = "IKE", .len = PPK };
	uint8_t seen[12][PPK];
	struct strongswan_info ia, ib;

	/* Left by a previous run: unloaded; another section's: kept. */
	a->sec[a->n_sec++] = stale;
	a->sec[a->n_sec++] = other;
	assert_true(info_of(0).rot.owner);
	assert_false(info_of(1).rot.owner);
	for (int r = 0; r < 12; r++) {
		const struct secret *pa, *pb;

		run(1000);
		ia = info_of(0);
		ib = info_of(1);
		assert_string_equal(rotate_state_name(ia.rot.state), "up");
		assert_true(ia.rot.have_key && ib.rot.have_key);
		assert_true(ia.rot.key_id == ib.rot.key_id);
		pa = only_ppk(a);
		pb = only_ppk(b);
		assert_non_null(pa);
		assert_non_null(pb);
		assert_string_equal(pa->id, ia.secret_id);
		assert_string_equal(pb->id, ib.secret_id);
		assert_memory_equal(pa->data, pb->data, PPK);
		memcpy(seen[r], pa->data, PPK);
		for (int j = 0; j < r; j++)
			assert_memory_not_equal(seen[j], seen[r], PPK);
		assert_null(memmem(W->h.wire_log, W->h.wire_log_len, pa->data,
				   PPK));
	}
	/* Ours and the other section's. */
	assert_int_equal(a->n_sec, 2);
	assert_true(!strcmp(a->sec[0].id, "qkd-s01-00000000000000ff") ||
		    !strcmp(a->sec[1].id, "qkd-s01-00000000000000ff"));
	/* First rotation: no IKE SA, the child initiated; then reauths. */
	assert_int_equal(a->initiations, 1);
	assert_int_equal(b->initiations + b->reauths, 0);
	assert_true(a->reauths >= 11);
	assert_int_equal(a->reauth_mismatch, 0);
	assert_int_equal((int)ia.reauths, a->reauths);
	assert_int_equal((int)ia.initiations, 1);
	assert_true(ia.rot.rotations >= 12 && ia.rot.failures == 0);
	assert_true(ia.rot.next_rotation_ms <= 1000);
	assert_int_equal(alarm_count(), 0);
}

static void test_shortage_keeps_ppk(void **state)
{
	uint8_t ppk[PPK];
	uint64_t rot, id;

	run(1500);
	W->h.keys_frozen = true;
	for (int i = 0; i < 30 && !alarm_is_active("strongswan:s0"); i++)
		run(1000);	/* until this end's blocks run out */
	assert_true(alarm_is_active("strongswan:s0"));
	assert_string_equal(rotate_state_name(info_of(0).rot.state),
			    "degraded");
	assert_true(info_of(0).rot.failures > 0);
	assert_non_null(strstr(info_of(0).rot.last_error, "no 32-byte key"));
	memcpy(ppk, only_ppk(&W->ch[0])->data, PPK);
	id = info_of(0).rot.key_id;
	run(2000);
	assert_memory_equal(only_ppk(&W->ch[0])->data, ppk, PPK);
	assert_memory_equal(only_ppk(&W->ch[1])->data, ppk, PPK);
	assert_true(info_of(0).rot.key_id == id && info_of(1).rot.key_id == id);
	rot = info_of(0).rot.rotations;
	W->h.keys_frozen = false;
	run(3000);
	assert_true(info_of(0).rot.rotations > rot);
	assert_false(alarm_is_active("strongswan:s0"));
	assert_memory_equal(only_ppk(&W->ch[0])->data,
			    only_ppk(&W->ch[1])->data, PPK);
}

static void test_follower_refuses(void **state)
{
	uint8_t ppk[PPK];
	int reauths;

	run(1500);
	memcpy(ppk, only_ppk(&W->ch[0])->data, PPK);
	reauths = W->ch[0].reauths;
	W->ch[1].fail_load = true;
	run(2500);
	/* Neither end moved, no reauthentication: the owner waits for B. */
	assert_memory_equal(only_ppk(&W->ch[0])->data, ppk, PPK);
	assert_memory_equal(only_ppk(&W->ch[1])->data, ppk, PPK);
	assert_int_equal(W->ch[0].reauths, reauths);
	assert_true(alarm_is_active("strongswan:s0"));
	assert_non_null(strstr(info_of(0).rot.last_error, "could not load"));
	assert_non_null(strstr(info_of(1).rot.last_error, "injected"));
	W->ch[1].fail_load = false;
	run(2500);
	assert_false(alarm_is_active("strongswan:s0"));
	assert_memory_not_equal(only_ppk(&W->ch[0])->data, ppk, PPK);
	assert_memory_equal(only_ppk(&W->ch[0])->data,
			    only_ppk(&W->ch[1])->data, PPK);
	assert_int_equal(W->ch[0].reauth_mismatch, 0);
}

/* Without child: the PPKs rotate and wait for an IKE SA charon brings up. */
static void test_no_child_waits(void **state)
{
	run(3000);
	assert_true(info_of(0).rot.rotations >= 2);
	assert_int_equal((int)info_of(0).rot.failures, 0);
	assert_int_equal(W->ch[0].initiations, 0);
	assert_false(alarm_is_active("strongswan:s0"));
	W->ch[0].ike_up = W->ch[1].ike_up = true;
	W->ch[0].ike_id = W->ch[1].ike_id = 77;
	run(2000);
	assert_true(W->ch[0].reauths >= 1);
	assert_int_equal(W->ch[0].reauth_mismatch, 0);
}

/* A reauthentication that never completes holds rotations, then fails. */
static void test_reauth_held(void **state)
{
	uint64_t rot;
	int reauths;

	run(1500);
	W->ch[0].stuck = true;
	run(1100);
	rot = info_of(0).rot.rotations;
	reauths = W->ch[0].reauths;
	run(5000);
	/* Held: no new PPK while the IKE SA under the last is awaited. */
	assert_true(info_of(0).rot.rotations == rot);
	assert_int_equal(W->ch[0].reauths, reauths);
	assert_false(alarm_is_active("strongswan:s0"));
	/* Given up REAUTH_MAX_MS after the PPK: a failure (the next
	 * rotation, a second later, clears its alarm again). */
	for (int i = 0; i < 160 && !info_of(0).rot.failures; i++)
		run(100);
	assert_int_equal((int)info_of(0).rot.failures, 1);
	assert_true(alarm_is_active("strongswan:s0"));
	assert_non_null(strstr(info_of(0).rot.last_error,
			       "no IKE SA of gw under the new PPK"));
	W->ch[0].stuck = false;
	run(3000);
	assert_true(info_of(0).rot.rotations > rot);
	assert_false(alarm_is_active("strongswan:s0"));
}

static void test_secret_id(void **state)
{
	char id[STRONGSWAN_SECRET_ID_MAX];

	strongswan_secret_id("s0", 0x2a0000, id);
	assert_string_equal(id, "qkd-s0-00000000002a0000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rotation_in_step, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shortage_keeps_ppk, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_follower_refuses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_child_waits,
						setup_no_child, teardown),
		cmocka_unit_test_setup_teardown(test_reauth_held, setup,
						teardown),
		cmocka_unit_test(test_secret_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
