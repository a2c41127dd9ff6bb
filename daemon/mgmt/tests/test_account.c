// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for accounting (mgmt/account.h): the record codec, and the
 * files across restarts and crashes: totals continue after a restart, a
 * crash (a child that _exit()s without closing) loses no answer, a torn
 * or corrupt record is skipped and a torn tail cut off, an interval whose
 * CLOSE record never made it is taken from the journal once, not twice.
 * The node's own consumers (kma/take.h): their records are told apart from
 * the SAE pairs' (version 2, with a link), counted by how they took keys
 * and refused by reason, and survive a crash like the pairs'.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "kma/take.h"
#include "mgmt/account.h"
#include "mgmt/view.h"

struct dir {
	char path[64];
	char log[96], journal[96];
};

static void dir_make(struct dir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/qkd-acct-XXXXXX");
	assert_non_null(mkdtemp(d->path));
	snprintf(d->log, sizeof(d->log), "%s/accounting.log", d->path);
	snprintf(d->journal, sizeof(d->journal), "%s/accounting.journal",
		 d->path);
}

static void dir_remove(struct dir *d)
{
	unlink(d->log);
	unlink(d->journal);
	rmdir(d->path);
}

static struct account *open_dir(const struct dir *d)
{
	struct account_cfg cfg = { .state_dir = d->path, .interval_s = 60 };
	char err[256] = "";
	struct account *a = account_open(NULL, &cfg, err, sizeof(err));

	if (!a)
		print_error("account_open: %s\n", err);
	assert_non_null(a);
	return a;
}

static void supply(struct account *a, enum ksa_acct_op op, const char *m,
		   const char *s, uint32_t keys)
{
	struct ksa_acct_event ev = {
		.op = op, .master = m, .slave = s, .keys = keys,
		.bits = 256ull * keys, .result = KSA_OK,
	};

	account_ksa_event(a, &ev);
}

static void refuse(struct account *a, const char *m, const char *s,
		   uint32_t keys, enum ksa_result res, enum ksa_why why)
{
	struct ksa_acct_event ev = {
		.op = KSA_ACCT_ENC, .master = m, .slave = s, .keys = keys,
		.result = res, .why = (uint8_t)why,
	};

	account_ksa_event(a, &ev);
}

/* The total of pair @m -> @s (open interval included). */
static struct acct_counts total(const struct account *a, const char *m,
				const char *s)
{
	struct acct_pair_info p;
	struct acct_counts none = { 0 };

	for (size_t i = 0; i < account_pair_count(a); i++) {
		assert_int_equal(account_pair_info(a, i, &p), 0);
		if (!strcmp(p.master, m) && !strcmp(p.slave, s))
			return p.total;
	}
	return none;
}

/* A consumer's total, and that it is one (found, with its link). */
static struct acct_counts consumer_total(const struct account *a,
					 const char *who, const char *peer,
					 const char *link)
{
	struct acct_pair_info p;
	struct acct_counts none = { 0 };

	for (size_t i = 0; i < account_pair_count(a); i++) {
		assert_int_equal(account_pair_info(a, i, &p), 0);
		if (!strcmp(p.master, who) && !strcmp(p.slave, peer) &&
		    !strcmp(p.link, link))
			return p.total;
	}
	return none;
}

/* @keys keys of @len bytes taken (or refused with @err) by kind:name. */
static void take(const char *kind, const char *name, bool by_id,
		 uint32_t keys, uint32_t len, int err)
{
	struct kma_take t = {
		.kind = kind, .name = name, .peer = "B", .link = "AB",
		.by_id = by_id, .keys = keys, .bytes = (uint64_t)keys * len,
		.err = err,
	};

	kma_take_report(&t);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void append(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void test_codec(void **state)
{
	struct acct_record r = { 0 }, out;
	uint8_t buf[ACCT_FRAME_MAX];
	size_t len;

	r.type = ACCT_REC_INTERVAL;
	r.seq = 7;
	r.start = 1000;
	r.end = 1060;
	strcpy(r.master, "app1");
	strcpy(r.slave, "app2");
	r.c.enc_keys = 5;
	r.c.enc_bits = 1280;
	r.c.refused[ACCT_R_NOT_FOUND] = 3;
	len = acct_record_encode(&r, buf);
	assert_true(len > ACCT_HDR_LEN && len <= ACCT_FRAME_MAX);
	assert_int_equal(acct_record_decode(buf, len, &out), (long)len);
	assert_memory_equal(&r.c, &out.c, sizeof(r.c));
	assert_string_equal(out.master, "app1");
	assert_int_equal(out.seq, 7);
	/* Every proper prefix is "need more", never a record or garbage. */
	for (size_t i = 0; i < len; i++)
		assert_int_equal(acct_record_decode(buf, i, &out), 0);
	/* Any flipped byte after the magic is refused. */
	for (size_t i = 2; i < len; i++) {
		buf[i] ^= 0x40;
		assert_true(acct_record_decode(buf, len, &out) <= 0);
		buf[i] ^= 0x40;
	}
}

/* A clean restart: totals continue, nothing counted twice. */
static void test_restart(void **state)
{
	struct account *a;
	struct acct_counts c;
	struct dir d;

	dir_make(&d);
	a = open_dir(&d);
	supply(a, KSA_ACCT_ENC, "app1", "app2", 4);
	supply(a, KSA_ACCT_ENC, "app1", "app2", 2);
	refuse(a, "app1", "*", 3, KSA_BAD_REQUEST, KSA_WHY_UNKNOWN_SAE);
	refuse(a, "app1", "app2", 1, KSA_UNAVAILABLE, KSA_WHY_OUT_OF_KEYS);
	assert_int_equal(account_close_interval(a), 0);
	supply(a, KSA_ACCT_DEC, "app3", "app1", 1);
	account_close(a);

	a = open_dir(&d);
	c = total(a, "app1", "app2");
	assert_int_equal(c.enc_keys, 6);
	assert_int_equal(c.enc_bits, 6 * 256);
	assert_int_equal(c.requests, 2);
	assert_int_equal(c.refused[ACCT_R_OUT_OF_KEYS], 1);
	assert_int_equal(c.enc_refused, 1);
	assert_int_equal(total(a, "app1", "*").refused[ACCT_R_UNKNOWN_SAE], 3);
	assert_int_equal(total(a, "app3", "app1").dec_keys, 1);
	assert_int_equal(account_interval_count(a), 3);	/* 2 + 1 pairs */
	supply(a, KSA_ACCT_ENC, "app1", "app2", 1);
	account_close(a);
	a = open_dir(&d);
	assert_int_equal(total(a, "app1", "app2").enc_keys, 7);
	account_close(a);
	dir_remove(&d);
}

/* A crash (no account_close) loses no answer already counted. */
static void test_crash(void **state)
{
	struct account *a;
	struct dir d;
	pid_t pid;
	int st;

	dir_make(&d);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		a = open_dir(&d);
		supply(a, KSA_ACCT_ENC, "app1", "app2", 3);
		if (account_close_interval(a))
			_exit(2);
		supply(a, KSA_ACCT_ENC, "app1", "app2", 5);
		supply(a, KSA_ACCT_DEC, "app2", "app1", 2);
		_exit(0);	/* as kill -9: no close */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	a = open_dir(&d);
	assert_int_equal(total(a, "app1", "app2").enc_keys, 8);
	assert_int_equal(total(a, "app2", "app1").dec_keys, 2);
	/* The crashed interval is closed into the log at start. */
	assert_int_equal(account_interval_count(a), 3);
	assert_int_equal(file_size(d.journal), 0);
	account_close(a);
	a = open_dir(&d);
	assert_int_equal(total(a, "app1", "app2").enc_keys, 8);
	account_close(a);
	dir_remove(&d);
}

/* A torn last record (crash mid-write) is ignored and cut off. */
static void test_torn_tail(void **state)
{
	struct acct_record r = { .type = ACCT_REC_INTERVAL, .seq = 99,
				 .start = 1, .end = 2, .master = "app1",
				 .slave = "app2", .c.enc_keys = 1000 };
	uint8_t buf[ACCT_FRAME_MAX];
	struct account *a;
	off_t good;
	struct dir d;
	size_t len;

	dir_make(&d);
	a = open_dir(&d);
	supply(a, KSA_ACCT_ENC, "app1", "app2", 4);
	account_close(a);
	good = file_size(d.log);
	len = acct_record_encode(&r, buf);
	append(d.log, buf, len / 2);		/* torn in the log */
	append(d.journal, buf, len - 1);	/* and in the journal */

	a = open_dir(&d);
	assert_int_equal(total(a, "app1", "app2").enc_keys, 4);
	assert_int_equal(file_size(d.log), good);	/* cut back */
	supply(a, KSA_ACCT_ENC, "app1", "app2", 1);
	account_close(a);
	a = open_dir(&d);
	assert_int_equal(total(a, "app1", "app2").enc_keys, 5);
	account_close(a);
	dir_remove(&d);
}

/* A corrupt record inside the log: skipped, the ones after it still count. */
static void test_corrupt_middle(void **state)
{
	struct account *a;
	struct dir d;
	uint8_t byte;
	int fd;

	dir_make(&d);
	a = open_dir(&d);
	supply(a, KSA_ACCT_ENC, "app1", "app2", 4);
	assert_int_equal(account_close_interval(a), 0);
	supply(a, KSA_ACCT_ENC, "app3", "app4", 6);
	account_close(a);
	/* Flip a counter byte of the first record: its CRC fails. */
	fd = open(d.log, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, 40), 1);
	byte ^= 0xff;
	assert_int_equal(pwrite(fd, &byte, 1, 40), 1);
	close(fd);
	a = open_dir(&d);
	assert_int_equal(total(a, "app1", "app2").enc_keys, 0);
	assert_int_equal(total(a, "app3", "app4").enc_keys, 6);
	account_close(a);
	dir_remove(&d);
}

/*
 * Crash while closing: the log got the interval's records but not its
 * CLOSE.  They are dropped and the journal's events count, once.
 */
static void test_close_torn(void **state)
{
	struct acct_record r = { .type = ACCT_REC_INTERVAL, .seq = 1,
				 .start = 1, .end = 2, .master = "app1",
				 .slave = "app2", .c.enc_keys = 4 };
	uint8_t buf[ACCT_FRAME_MAX];
	struct account *a;
	struct dir d;
	pid_t pid;
	int st;

	dir_make(&d);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		a = open_dir(&d);
		supply(a, KSA_ACCT_ENC, "app1", "app2", 4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	append(d.log, buf, acct_record_encode(&r, buf));
	a = open_dir(&d);
	assert_int_equal(total(a, "app1", "app2").enc_keys, 4);
	account_close(a);
	a = open_dir(&d);
	assert_int_equal(total(a, "app1", "app2").enc_keys, 4);
	account_close(a);
	dir_remove(&d);
}

/*
 * A consumer's record is version 2 with the link; an SAE pair's stays
 * version 1, as files written before consumers were accounted.
 */
static void test_consumer_codec(void **state)
{
	struct acct_record r = { .type = ACCT_REC_EVENT, .seq = 2,
				 .start = 10, .end = 11,
				 .master = "wireguard:w0", .slave = "B",
				 .c.enc_keys = 1, .c.enc_bits = 256 };
	struct acct_record out;
	uint8_t buf[ACCT_FRAME_MAX];
	size_t len, pair_len;

	len = acct_record_encode(&r, buf);
	pair_len = len;
	assert_int_equal(buf[ACCT_HDR_LEN], 1);
	strcpy(r.link, "AB");
	len = acct_record_encode(&r, buf);
	assert_int_equal(len, pair_len + 3);
	assert_int_equal(buf[ACCT_HDR_LEN], 2);
	assert_int_equal(acct_record_decode(buf, len, &out), (long)len);
	assert_memory_equal(&r, &out, sizeof(r));
	for (size_t i = 0; i < len; i++)
		assert_int_equal(acct_record_decode(buf, i, &out), 0);
	for (size_t i = 2; i < len; i++) {
		buf[i] ^= 0x40;
		assert_true(acct_record_decode(buf, len, &out) <= 0);
		buf[i] ^= 0x40;
	}
}

/*
 * "account show": the consumers in their own lists, the SAE pairs' lists
 * (pairs, saes, intervals) as they were, without them.
 */
static void check_view(const struct account *a)
{
	json_t *v = view_account(a, 1000), *o;
	size_t i;

	assert_non_null(v);
	assert_int_equal(json_array_size(json_object_get(v, "pairs")), 1);
	assert_int_equal(json_array_size(json_object_get(v, "intervals")), 1);
	assert_int_equal(json_array_size(json_object_get(v, "saes")), 2);
	assert_int_equal(json_array_size(json_object_get(v, "consumers")), 3);
	/* the first run's interval of each, the crash's of two */
	assert_int_equal(json_array_size(json_object_get(v,
				"consumer_intervals")), 5);
	json_array_foreach(json_object_get(v, "consumers"), i, o) {
		if (strcmp(json_string_value(json_object_get(o, "consumer")),
			   "wireguard:w0"))
			continue;
		assert_string_equal(json_string_value(json_object_get(o, "kind")),
				    "wireguard");
		assert_string_equal(json_string_value(json_object_get(o, "name")),
				    "w0");
		assert_string_equal(json_string_value(json_object_get(o, "link")),
				    "AB");
		assert_int_equal(json_integer_value(json_object_get(o,
					"taken_bits")), 4 * 32 * 8);
		assert_int_equal(json_integer_value(json_object_get(o,
					"refused_keys")), 1);
	}
	json_decref(v);
}

/*
 * Consumers through the hook: taken keys by how they were taken, refused
 * ones by reason, apart from an SAE pair of the same names; closed
 * intervals, a crash and restarts keep them.
 */
static void test_consumers(void **state)
{
	struct acct_interval_info iv;
	struct acct_counts c;
	struct account *a;
	struct dir d;
	size_t n_cons = 0;
	pid_t pid;
	int st;

	dir_make(&d);
	a = open_dir(&d);
	kma_take_set_hook(account_take_event, a);
	for (int i = 0; i < 3; i++)
		take("wireguard", "w0", false, 1, 32, 0);
	take("wireguard", "w0", false, 1, 32, -ENOSPC);
	take("macsec", "m0", true, 1, 16, 0);
	take("macsec", "m0", true, 1, 16, -ENOENT);
	take("ipsec", "gw", false, 2, 36, -EIO);
	take("ipsec", "gw", false, 0, 36, 0);	/* nothing: not counted */
	/* An SAE that happens to be named like a consumer is another row. */
	supply(a, KSA_ACCT_ENC, "wireguard:w0", "B", 1);
	assert_int_equal(account_close_interval(a), 0);
	for (size_t i = 0; i < account_interval_count(a); i++) {
		assert_int_equal(account_interval_info(a, i, &iv), 0);
		n_cons += iv.link[0] != '\0';
	}
	assert_int_equal(n_cons, 3);
	account_close(a);
	kma_take_set_hook(NULL, NULL);

	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		a = open_dir(&d);
		kma_take_set_hook(account_take_event, a);
		take("wireguard", "w0", false, 1, 32, 0);
		take("macsec", "m0", true, 1, 16, 0);
		_exit(0);	/* as kill -9 */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	a = open_dir(&d);
	/* Without the hook, a take counts nowhere. */
	take("wireguard", "w0", false, 1, 32, 0);
	c = consumer_total(a, "wireguard:w0", "B", "AB");
	assert_int_equal(c.enc_keys, 4);
	assert_int_equal(c.enc_bits, 4 * 32 * 8);
	assert_int_equal(c.requests, 4);
	assert_int_equal(c.enc_refused, 1);
	assert_int_equal(c.refused[ACCT_R_OUT_OF_KEYS], 1);
	assert_int_equal(c.dec_keys, 0);
	c = consumer_total(a, "macsec:m0", "B", "AB");
	assert_int_equal(c.dec_keys, 2);
	assert_int_equal(c.dec_bits, 2 * 16 * 8);
	assert_int_equal(c.dec_refused, 1);
	assert_int_equal(c.refused[ACCT_R_NOT_FOUND], 1);
	c = consumer_total(a, "ipsec:gw", "B", "AB");
	assert_int_equal(c.enc_refused, 2);
	assert_int_equal(c.refused[ACCT_R_UNAVAILABLE], 2);
	assert_int_equal(c.requests, 0);
	c = consumer_total(a, "wireguard:w0", "B", "");
	assert_int_equal(c.enc_keys, 1);
	assert_int_equal(c.enc_bits, 256);
	assert_int_equal(account_pair_count(a), 4);
	check_view(a);
	account_close(a);
	dir_remove(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_corrupt_middle),
		cmocka_unit_test(test_close_torn),
		cmocka_unit_test(test_consumer_codec),
		cmocka_unit_test(test_consumers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
