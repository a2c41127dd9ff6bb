// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for vici.c: the writer produces the byte layout of the VICI
 * protocol description (its own encoding example, byte for byte), the
 * decoder walks it back, refuses every malformed message the protocol
 * rules out, and vici_call() talks to a server on a UNIX socket, skipping
 * the events charon streams before its response.
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
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "apps/strongswan/vici.h"

/* The protocol description's example, as it gives the C array. */
static const uint8_t EXAMPLE[] = {
	3, 4, 'k', 'e', 'y', '1', 0, 6, 'v', 'a', 'l', 'u', 'e', '1',
	1, 8, 's', 'e', 'c', 't', 'i', 'o', 'n', '1',
	1, 11, 's', 'u', 'b', '-', 's', 'e', 'c', 't', 'i', 'o', 'n',
	3, 4, 'k', 'e', 'y', '2', 0, 6, 'v', 'a', 'l', 'u', 'e', '2',
	2,
	4, 5, 'l', 'i', 's', 't', '1',
	5, 0, 5, 'i', 't', 'e', 'm', '1',
	5, 0, 5, 'i', 't', 'e', 'm', '2',
	6,
	2,
};

static void test_encode_example(void **state)
{
	uint8_t buf[256];
	struct vici_writer w;
	long n;

	vici_begin(&w, buf, sizeof(buf), VICI_CMD_REQUEST, "load-conn");
	vici_kv_str(&w, "key1", "value1");
	vici_section_start(&w, "section1");
	vici_section_start(&w, "sub-section");
	vici_kv_str(&w, "key2", "value2");
	vici_section_end(&w);
	vici_list_start(&w, "list1");
	vici_list_item(&w, "item1", 5);
	vici_list_item(&w, "item2", 5);
	vici_list_end(&w);
	vici_section_end(&w);
	n = vici_finish(&w);
	assert_int_equal(n, 4 + 1 + 1 + 9 + sizeof(EXAMPLE));
	/* Length prefix: the data only, big-endian. */
	assert_int_equal(buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3],
			 n - 4);
	assert_int_equal(buf[4], VICI_CMD_REQUEST);
	assert_int_equal(buf[5], 9);
	assert_memory_equal(buf + 6, "load-conn", 9);
	assert_memory_equal(buf + 15, EXAMPLE, sizeof(EXAMPLE));
}

static void test_encode_refuses(void **state)
{
	uint8_t buf[64];
	char name[300];
	struct vici_writer w;

	/* Unbalanced section, list left open, item outside a list. */
	vici_begin(&w, buf, sizeof(buf), VICI_CMD_REQUEST, "x");
	vici_section_start(&w, "s");
	assert_int_equal(vici_finish(&w), -1);
	vici_begin(&w, buf, sizeof(buf), VICI_CMD_REQUEST, "x");
	vici_list_start(&w, "l");
	assert_int_equal(vici_finish(&w), -1);
	vici_begin(&w, buf, sizeof(buf), VICI_CMD_REQUEST, "x");
	vici_list_item(&w, "i", 1);
	assert_int_equal(vici_finish(&w), -1);
	/* A key/value inside a list. */
	vici_begin(&w, buf, sizeof(buf), VICI_CMD_REQUEST, "x");
	vici_list_start(&w, "l");
	vici_kv_str(&w, "k", "v");
	vici_list_end(&w);
	assert_int_equal(vici_finish(&w), -1);
	/* A name over 255 bytes; a buffer too small. */
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	vici_begin(&w, buf, sizeof(buf), VICI_CMD_REQUEST, "x");
	vici_kv_str(&w, name, "v");
	assert_int_equal(vici_finish(&w), -1);
	vici_begin(&w, buf, 16, VICI_CMD_REQUEST, "x");
	vici_kv_str(&w, "key", "a value too long for 16 bytes");
	assert_int_equal(vici_finish(&w), -1);
	/* An unnamed type gets no name. */
	vici_begin(&w, buf, sizeof(buf), VICI_CMD_RESPONSE, "ignored");
	assert_int_equal(vici_finish(&w), 5);
	assert_int_equal(buf[4], VICI_CMD_RESPONSE);
}

static void test_decode_example(void **state)
{
	static const struct { uint8_t type; const char *name, *value, *list;
			      int depth; } want[] = {
		{ VICI_KEY_VALUE, "key1", "value1", "", 0 },
		{ VICI_SECTION_START, "section1", NULL, "", 0 },
		{ VICI_SECTION_START, "sub-section", NULL, "", 1 },
		{ VICI_KEY_VALUE, "key2", "value2", "", 2 },
		{ VICI_SECTION_END, "", NULL, "", 1 },
		{ VICI_LIST_START, "list1", NULL, "", 1 },
		{ VICI_LIST_ITEM, "", "item1", "list1", 1 },
		{ VICI_LIST_ITEM, "", "item2", "list1", 1 },
		{ VICI_LIST_END, "", NULL, "", 1 },
		{ VICI_SECTION_END, "", NULL, "", 0 },
	};
	struct vici_iter it;
	struct vici_elem e;
	char v[16];
	size_t i = 0;

	vici_iter_init(&it, EXAMPLE, sizeof(EXAMPLE));
	while (vici_next(&it, &e, NULL, 0) > 0) {
		assert_true(i < sizeof(want) / sizeof(want[0]));
		assert_int_equal(e.type, want[i].type);
		assert_string_equal(e.name, want[i].name);
		assert_string_equal(e.list, want[i].list);
		assert_int_equal(e.depth, want[i].depth);
		if (want[i].value) {
			assert_int_equal(e.value_len, strlen(want[i].value));
			assert_memory_equal(e.value, want[i].value,
					    e.value_len);
		}
		i++;
	}
	assert_int_equal(i, sizeof(want) / sizeof(want[0]));
	assert_int_equal(vici_validate(EXAMPLE, sizeof(EXAMPLE), NULL, 0), 0);
	/* Root keys only: key2 is in a section. */
	assert_true(vici_get_str(EXAMPLE, sizeof(EXAMPLE), "key1", v,
				 sizeof(v)));
	assert_string_equal(v, "value1");
	assert_false(vici_get_str(EXAMPLE, sizeof(EXAMPLE), "key2", v,
				  sizeof(v)));
	/* Cut to fit. */
	assert_true(vici_get_str(EXAMPLE, sizeof(EXAMPLE), "key1", v, 4));
	assert_string_equal(v, "val");
}

static void test_decode_malformed(void **state)
{
	static const struct { const char *why; uint8_t b[16]; size_t n; } bad[] = {
		{ "unknown element type", { 7 }, 1 },
		{ "type 0", { 0 }, 1 },
		{ "section not closed", { 1, 1, 's' }, 3 },
		{ "end without start", { 2 }, 1 },
		{ "list not closed", { 4, 1, 'l' }, 3 },
		{ "item outside a list", { 5, 0, 1, 'x' }, 4 },
		{ "list end outside a list", { 6 }, 1 },
		{ "nested list", { 4, 1, 'l', 4, 1, 'm', 6, 6 }, 8 },
		{ "key/value in a list", { 4, 1, 'l', 3, 1, 'k', 0, 0, 6 }, 9 },
		{ "section in a list", { 4, 1, 'l', 1, 1, 's', 2, 6 }, 8 },
		{ "name past the end", { 3, 5, 'k' }, 3 },
		{ "value length past the end", { 3, 1, 'k', 0, 9, 'v' }, 6 },
		{ "value length cut", { 3, 1, 'k', 0 }, 4 },
		{ "name with a NUL", { 3, 2, 'k', 0, 0, 0 }, 6 },
		{ "no name length", { 1 }, 1 },
	};
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (vici_validate(bad[i].b, bad[i].n, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", bad[i].why);
		assert_true(err[0] != '\0');
	}
	/* Sections deeper than VICI_DEPTH_MAX. */
	{
		uint8_t deep[3 * (VICI_DEPTH_MAX + 1) + VICI_DEPTH_MAX + 1];
		size_t n = 0;

		for (int d = 0; d <= VICI_DEPTH_MAX; d++) {
			deep[n++] = 1;
			deep[n++] = 1;
			deep[n++] = 's';
		}
		for (int d = 0; d <= VICI_DEPTH_MAX; d++)
			deep[n++] = 2;
		assert_int_equal(vici_validate(deep, n, NULL, 0), -1);
	}
}

static void test_parse_packets(void **state)
{
	static const uint8_t event[] = { 7, 4, 'l', 'o', 'g', 's',
					 3, 1, 'k', 0, 1, 'v' };
	static const uint8_t unnamed[] = { 1, 3, 1, 'k', 0, 1, 'v' };
	static const uint8_t bad_name[] = { 0, 9, 'x' };
	static const uint8_t bad_type[] = { 8 };
	struct vici_packet p;

	assert_int_equal(vici_parse(event, sizeof(event), &p, NULL, 0), 0);
	assert_int_equal(p.type, VICI_EVENT);
	assert_string_equal(p.name, "logs");
	assert_int_equal(p.msg_len, 6);
	assert_int_equal(vici_parse(unnamed, sizeof(unnamed), &p, NULL, 0), 0);
	assert_int_equal(p.type, VICI_CMD_RESPONSE);
	assert_string_equal(p.name, "");
	assert_int_equal(p.msg_len, 6);
	assert_int_equal(vici_parse(bad_name, sizeof(bad_name), &p, NULL, 0),
			 -1);
	assert_int_equal(vici_parse(bad_type, sizeof(bad_type), &p, NULL, 0),
			 -1);
	assert_int_equal(vici_parse(event, 0, &p, NULL, 0), -1);
}

static void test_check_success(void **state)
{
	static const uint8_t yes[] = { 3, 7, 's', 'u', 'c', 'c', 'e', 's', 's',
				       0, 3, 'y', 'e', 's' };
	static const uint8_t no[] = { 3, 7, 's', 'u', 'c', 'c', 'e', 's', 's',
				      0, 2, 'n', 'o',
				      3, 6, 'e', 'r', 'r', 'm', 's', 'g',
				      0, 4, 'o', 'o', '\n', 'f' };
	char err[64];

	assert_int_equal(vici_check_success(yes, sizeof(yes), err,
					    sizeof(err)), 0);
	assert_int_equal(vici_check_success(no, sizeof(no), err, sizeof(err)),
			 -1);
	assert_string_equal(err, "oo?f");	/* no control bytes out */
	assert_int_equal(vici_check_success(no, 13, err, sizeof(err)), -1);
	assert_string_equal(err, "refused");
}

/* One packet from the client into @buf, parsed into @p. */
static void recv_packet(int fd, uint8_t *buf, size_t cap,
			struct vici_packet *p)
{
	uint32_t n;

	if (recv(fd, buf, 4, MSG_WAITALL) != 4)
		_exit(1);
	n = (uint32_t)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3];
	if (n > cap || recv(fd, buf, n, MSG_WAITALL) != (ssize_t)n ||
	    vici_parse(buf, n, p, NULL, 0) < 0)
		_exit(2);
}

/*
 * A one-shot server.  An event, then a response echoing the request
 * name; for "list-sas" the client must have registered for "list-sa",
 * and gets two of those events between an unrelated one and the answer.
 */
static void serve(int lfd, bool unknown)
{
	uint8_t buf[512], out[512];
	struct vici_writer w;
	struct vici_packet p;
	long len;
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		_exit(1);
	recv_packet(fd, buf, sizeof(buf), &p);
	if (p.type == VICI_EVENT_REGISTER) {
		if (strcmp(p.name, "list-sa"))
			_exit(5);
		vici_begin(&w, out, sizeof(out), VICI_EVENT_CONFIRM, NULL);
		len = vici_finish(&w);
		if (send(fd, out, (size_t)len, 0) != len)
			_exit(6);
		recv_packet(fd, buf, sizeof(buf), &p);
		if (strcmp(p.name, "list-sas"))
			_exit(7);
		for (int i = 1; i <= 2; i++) {
			char id[4];

			snprintf(id, sizeof(id), "%d", i);
			vici_begin(&w, out, sizeof(out), VICI_EVENT, "list-sa");
			vici_section_start(&w, "gw");
			vici_kv_str(&w, "uniqueid", id);
			vici_section_end(&w);
			len = vici_finish(&w);
			if (send(fd, out, (size_t)len, 0) != len)
				_exit(8);
		}
	}
	if (p.type != VICI_CMD_REQUEST)
		_exit(2);
	vici_begin(&w, out, sizeof(out), VICI_EVENT, "control-log");
	vici_kv_str(&w, "msg", "initiating");
	len = vici_finish(&w);
	if (send(fd, out, (size_t)len, 0) != len)
		_exit(3);
	if (unknown) {
		vici_begin(&w, out, sizeof(out), VICI_CMD_UNKNOWN, NULL);
	} else {
		vici_begin(&w, out, sizeof(out), VICI_CMD_RESPONSE, NULL);
		vici_kv_str(&w, "success", "yes");
		vici_kv_str(&w, "cmd", p.name);
	}
	len = vici_finish(&w);
	if (send(fd, out, (size_t)len, 0) != len)
		_exit(4);
	close(fd);
	_exit(0);
}

static void count_event(void *arg, const uint8_t *msg, size_t len)
{
	struct vici_iter it;
	struct vici_elem e;
	int *n = arg;

	vici_iter_init(&it, msg, len);
	while (vici_next(&it, &e, NULL, 0) > 0)
		if (e.type == VICI_KEY_VALUE && !strcmp(e.name, "uniqueid") &&
		    e.value_len == 1 && e.value[0] == '1' + *n)
			(*n)++;
}

static void test_call(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t req[64], resp[256];
	struct vici_writer w;
	char err[128], v[32];
	long n, rlen;
	int lfd, status;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/test_vici.%d",
		 (int)getpid());
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 2), 0);
	vici_begin(&w, req, sizeof(req), VICI_CMD_REQUEST, "rekey");
	vici_kv_str(&w, "ike", "gw");
	n = vici_finish(&w);
	assert_true(n > 0);
	for (int unknown = 0; unknown < 2; unknown++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			serve(lfd, unknown);
		rlen = vici_call(sa.sun_path, req, (size_t)n, resp,
				 sizeof(resp), 5000, err, sizeof(err));
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		if (unknown) {
			assert_int_equal(rlen, -1);
			assert_string_equal(err, "unknown command");
			continue;
		}
		assert_true(rlen > 0);
		assert_int_equal(vici_check_success(resp, (size_t)rlen, err,
						    sizeof(err)), 0);
		assert_true(vici_get_str(resp, (size_t)rlen, "cmd", v,
					 sizeof(v)));
		assert_string_equal(v, "rekey");
	}
	/* Streamed: the two list-sa events, not the control-log one. */
	vici_begin(&w, req, sizeof(req), VICI_CMD_REQUEST, "list-sas");
	vici_kv_str(&w, "ike", "gw");
	n = vici_finish(&w);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		serve(lfd, false);
	{
		int events = 0;

		rlen = vici_call_events(sa.sun_path, "list-sa", req, (size_t)n,
					count_event, &events, resp,
					sizeof(resp), 5000, err, sizeof(err));
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_true(rlen > 0);
		assert_int_equal(events, 2);
	}
	close(lfd);
	unlink(sa.sun_path);
	/* Nobody there. */
	assert_int_equal(vici_call(sa.sun_path, req, (size_t)n, resp,
				   sizeof(resp), 500, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "VICI socket"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_example),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_decode_example),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_parse_packets),
		cmocka_unit_test(test_check_success),
		cmocka_unit_test(test_call),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
