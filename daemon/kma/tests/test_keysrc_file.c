// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for keysrc_file.c: the key_ID parser; intake of the files in
 * a directory (taken and removed, refused and left, refused and removed);
 * and two ends of one link in one process, their SRC_KEYS / SRC_ACK going
 * through a queue here: equal files give equal blocks, a different block
 * count or a file missing at one end is refused at both with an alarm.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/rand.h>

#include "core/alarm.h"
#include "core/loop.h"
#include "kma/keysrc_file.h"

#define BS	64

/* ---- the parser ---- */

static void test_parse_id(void **state)
{
	char name[KEYSRC_FILE_NAME_MAX];
	uint32_t i, n;

	assert_int_equal(keysrc_file_parse_id("k-0001.bin/3/8", name, &i, &n), 0);
	assert_string_equal(name, "k-0001.bin");
	assert_int_equal(i, 3);
	assert_int_equal(n, 8);
	assert_int_equal(keysrc_file_parse_id("a/0/1", name, &i, &n), 0);
	assert_int_equal(keysrc_file_parse_id("a/1023/1024", name, &i, &n), 0);
	/* refused */
	assert_int_equal(keysrc_file_parse_id("a/1/1", name, &i, &n), -1);
	assert_int_equal(keysrc_file_parse_id("a/0/0", name, &i, &n), -1);
	assert_int_equal(keysrc_file_parse_id("a/0/1025", name, &i, &n), -1);
	assert_int_equal(keysrc_file_parse_id("a/01/8", name, &i, &n), -1);
	assert_int_equal(keysrc_file_parse_id("a/+1/8", name, &i, &n), -1);
	assert_int_equal(keysrc_file_parse_id("a/1/8/", name, &i, &n), -1);
	assert_int_equal(keysrc_file_parse_id("a/1", name, &i, &n), -1);
	assert_int_equal(keysrc_file_parse_id("/1/8", name, &i, &n), -1);
	assert_int_equal(keysrc_file_parse_id(".a/1/8", name, &i, &n), -1);
	assert_int_equal(keysrc_file_parse_id("a b/1/8", name, &i, &n), -1);
	assert_int_equal(keysrc_file_parse_id(
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/0/1", name, &i, &n),
		-1);	/* 41 letters */
	assert_true(keysrc_file_name_ok(
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_false(keysrc_file_name_ok(".."));
	assert_false(keysrc_file_name_ok("a/b"));
	assert_false(keysrc_file_name_ok(""));
}

/* ---- two ends, and a queue between them ---- */

struct msg {
	struct msg *next;
	struct keysrc *to;
	struct kxmsg m;
};

struct fixture {
	struct loop *loop;
	char dir[2][64];
	struct keysrc *end[2];		/* tx, rx */
	struct msg *head, **tail;
	unsigned int sent;
};

static int fx_send(void *arg, const char *node, const struct kxmsg *m)
{
	struct keysrc **end = arg;
	struct fixture *f = (struct fixture *)((char *)end -
					       offsetof(struct fixture, end));
	struct msg *q = calloc(1, sizeof(*q));

	assert_non_null(q);
	q->to = !strcmp(node, "B") ? f->end[1] : f->end[0];
	q->m = *m;
	*f->tail = q;
	f->tail = &q->next;
	f->sent++;
	return 0;
}

static void pump(struct fixture *f)
{
	while (f->head) {
		struct msg *q = f->head;

		f->head = q->next;
		if (!f->head)
			f->tail = &f->head;
		if (q->to)	/* no far end in some tests */
			keysrc_file_receive(q->to, &q->m);
		free(q);
	}
}

static const struct keysrc_etsi014_kx fx_kx = { .send = fx_send };

static void put(const char *dir, const char *name, const uint8_t *b,
		size_t len, mode_t mode)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static bool there(const char *dir, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* End @i (0: node A, 1: node B) with @role. */
static struct keysrc *open_role(struct fixture *f, int i, enum qkd_role role,
				uint32_t wait_ms)
{
	struct keysrc_file_cfg cfg = {
		.link_name = "AB",
		.peer = i ? "A" : "B",
		.role = role,
		.block_size = BS,
		.dir = f->dir[i],
		.wait_ms = wait_ms,
	};
	char err[256] = "";
	struct keysrc *s = keysrc_file_new(f->loop, &cfg, err, sizeof(err));

	if (!s)
		print_error("keysrc_file_new: %s\n", err);
	assert_non_null(s);
	keysrc_file_set_kx(s, &fx_kx, f->end);
	return s;
}

/* A tx, B rx. */
static struct keysrc *open_end(struct fixture *f, int i, uint32_t wait_ms)
{
	return open_role(f, i, i ? QKD_ROLE_RX : QKD_ROLE_TX, wait_ms);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	alarm_reset();
	f->loop = loop_new();
	assert_non_null(f->loop);
	f->tail = &f->head;
	for (int i = 0; i < 2; i++) {
		snprintf(f->dir[i], sizeof(f->dir[i]), "/tmp/kf-test-XXXXXX");
		assert_non_null(mkdtemp(f->dir[i]));
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	pump(f);
	for (int i = 0; i < 2; i++) {
		keysrc_free(f->end[i]);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir[i]);
		assert_int_equal(system(cmd), 0);
	}
	loop_free(f->loop);
	alarm_reset();
	free(f);
	return 0;
}

/* Files at start: taken and removed, or refused (left or removed). */
static void test_intake(void **state)
{
	struct fixture *f = *state;
	uint8_t b[3 * BS];
	struct keysrc_file_stats st;

	assert_int_equal(RAND_bytes(b, sizeof(b)), 1);
	put(f->dir[0], "good", b, 2 * BS, 0600);
	put(f->dir[0], "open", b, 2 * BS, 0640);
	put(f->dir[0], "short", b, 2 * BS - 1, 0600);
	put(f->dir[0], ".partial", b, 2 * BS, 0600);
	f->end[0] = open_end(f, 0, 1000);
	assert_false(there(f->dir[0], "good"));
	assert_true(there(f->dir[0], "open"));	/* left for the operator */
	assert_false(there(f->dir[0], "short"));
	assert_true(there(f->dir[0], ".partial"));	/* not finished */
	assert_true(alarm_is_active("file:AB"));
	keysrc_file_stats(f->end[0], &st);
	assert_int_equal(st.files_refused, 1);	/* "open" is not taken */
	/* announced at once, nothing usable before the answer */
	assert_int_equal(f->sent, 1);
	assert_int_equal(keysrc_avail(f->end[0]), 0);
}

static void pair_file(struct fixture *f, const char *name, size_t len)
{
	uint8_t b[8 * BS];

	assert_true(len <= sizeof(b));
	assert_int_equal(RAND_bytes(b, sizeof(b)), 1);
	put(f->dir[1], name, b, len, 0600);
	put(f->dir[0], name, b, len, 0600);
	keysrc_file_scan(f->end[1]);
	keysrc_file_scan(f->end[0]);
	pump(f);
}

/* Equal files: blocks usable at both ends, the same bytes. */
static void test_pair(void **state)
{
	struct fixture *f = *state;
	struct keysrc_key k[4];
	uint8_t a[4 * 16], b[16];
	char err[128];
	struct keysrc_file_stats st;

	f->end[0] = open_end(f, 0, 1000);
	f->end[1] = open_end(f, 1, 1000);
	pair_file(f, "f1", 4 * BS);
	assert_false(there(f->dir[0], "f1"));
	assert_false(there(f->dir[1], "f1"));
	/* two blocks each: tx even, rx odd */
	assert_int_equal(keysrc_avail(f->end[0]), 2 * BS);
	assert_int_equal(keysrc_avail(f->end[1]), 2 * BS);
	assert_int_equal(keysrc_alloc(f->end[0], 16, 4, k, a, err,
				      sizeof(err)), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(keysrc_get(f->end[1], k[i].id, 16, b, NULL,
					    err, sizeof(err)), 0);
		assert_memory_equal(a + 16 * i, b, 16);
	}
	/* once only (the block is used up: gone) */
	assert_int_equal(keysrc_get(f->end[1], k[0].id, 16, b, NULL, err,
				    sizeof(err)), -ENOENT);
	assert_false(alarm_is_active("file:AB"));
	keysrc_file_stats(f->end[1], &st);
	assert_int_equal(st.files_taken, 1);
	keysrc_file_stats(f->end[0], &st);
	assert_int_equal(st.files_taken, 1);
}

/* A file larger than one announcement goes in several, in order. */
static void test_pair_large(void **state)
{
	struct fixture *f = *state;
	static uint8_t big[100 * BS];
	char path[128];

	f->end[0] = open_end(f, 0, 1000);
	f->end[1] = open_end(f, 1, 1000);
	assert_int_equal(RAND_bytes(big, sizeof(big)), 1);
	put(f->dir[1], "big", big, sizeof(big), 0600);
	put(f->dir[0], "big", big, sizeof(big), 0600);
	keysrc_file_scan(f->end[1]);
	keysrc_file_scan(f->end[0]);
	pump(f);
	assert_int_equal(keysrc_avail(f->end[0]), 50 * BS);
	assert_int_equal(keysrc_avail(f->end[1]), 50 * BS);
	assert_false(alarm_is_active("file:AB"));
	snprintf(path, sizeof(path), "%s/big", f->dir[0]);
	assert_int_equal(access(path, F_OK), -1);
}

/* Different block counts: refused at both ends. */
static void test_count_differs(void **state)
{
	struct fixture *f = *state;
	uint8_t b[4 * BS];

	f->end[0] = open_end(f, 0, 1000);
	f->end[1] = open_end(f, 1, 1000);
	assert_int_equal(RAND_bytes(b, sizeof(b)), 1);
	put(f->dir[1], "f", b, 2 * BS, 0600);
	put(f->dir[0], "f", b, 4 * BS, 0600);
	keysrc_file_scan(f->end[1]);
	keysrc_file_scan(f->end[0]);
	pump(f);
	assert_int_equal(keysrc_avail(f->end[0]), 0);
	assert_int_equal(keysrc_avail(f->end[1]), 0);
	assert_true(alarm_is_active("file:AB"));
	/* both ends' files went: a later equal pair still works */
	pair_file(f, "g", 2 * BS);
	assert_int_equal(keysrc_avail(f->end[0]), BS);
	assert_int_equal(keysrc_avail(f->end[1]), BS);
}

/* A file only at the tx end: refused after wait_ms; later files pass. */
static void test_missing(void **state)
{
	struct fixture *f = *state;
	struct keysrc_file_stats st;
	uint8_t b[2 * BS];
	struct timespec ts = { 0, 80 * 1000000 };

	f->end[0] = open_end(f, 0, 50);
	f->end[1] = open_end(f, 1, 50);
	assert_int_equal(RAND_bytes(b, sizeof(b)), 1);
	put(f->dir[0], "lonely", b, sizeof(b), 0600);
	keysrc_file_scan(f->end[0]);
	pump(f);
	pair_file(f, "after", 2 * BS);
	/* held behind the missing one */
	assert_int_equal(keysrc_avail(f->end[1]), 0);
	nanosleep(&ts, NULL);
	keysrc_file_tick(f->end[1]);
	pump(f);
	assert_true(alarm_is_active("file:AB"));
	keysrc_file_stats(f->end[0], &st);
	assert_int_equal(st.files_refused, 1);
	assert_int_equal(st.files_taken, 1);
	assert_int_equal(keysrc_avail(f->end[0]), BS);
	assert_int_equal(keysrc_avail(f->end[1]), BS);
}

/* Both ends role tx: the announcement is refused. */
static void test_both_tx(void **state)
{
	struct fixture *f = *state;
	uint8_t b[2 * BS];

	f->end[0] = open_end(f, 0, 1000);
	f->end[1] = open_role(f, 1, QKD_ROLE_TX, 1000);
	assert_int_equal(RAND_bytes(b, sizeof(b)), 1);
	put(f->dir[0], "f", b, sizeof(b), 0600);
	keysrc_file_scan(f->end[0]);
	pump(f);
	assert_int_equal(keysrc_avail(f->end[0]), 0);
	assert_true(alarm_is_active("file:AB"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test_setup_teardown(test_intake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pair_large, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_count_differs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_both_tx, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
