// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the control socket: requests and answers over a real unix
 * socket on a real loop, with a config but no key manager behind it (the
 * views then show empty lists).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <cmocka.h>
#include <jansson.h>

#include "core/config.h"
#include "mgmt/ctl.h"
#include "core/loop.h"

/* The one SAE the fixture's config names: "key show --sae" knows it. */
static struct ksa_sae_cfg app1 = { .name = "app1", .cert_cn = "app1",
				   .node = "A" };

struct fixture {
	char dir[64];
	char path[128];
	struct qkd_config cfg;
	struct ctl_sources src;
	struct loop *loop;
	struct ctl *ctl;
};

struct client {
	struct loop *loop;
	int fd;
	char buf[65536];
	size_t len;
	int lines_wanted;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_ctl.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/ctl.sock", f->dir);
	strcpy(f->cfg.node.name, "A");
	strcpy(f->cfg.etsi_listen, "127.0.0.1:8443");
	f->cfg.saes = &app1;
	f->cfg.n_saes = 1;
	f->src.cfg = &f->cfg;
	f->loop = loop_new();
	assert_non_null(f->loop);
	f->ctl = ctl_start(f->loop, f->path, &f->src, err, sizeof(err));
	if (!f->ctl)
		print_error("ctl_start: %s\n", err);
	assert_non_null(f->ctl);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ctl_stop(f->ctl);
	loop_free(f->loop);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void on_reply(void *arg, uint32_t revents)
{
	struct client *c = arg;
	ssize_t n;
	int lines = 0;

	while ((n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len)) > 0)
		c->len += (size_t)n;
	c->buf[c->len] = '\0';
	for (size_t i = 0; i < c->len; i++)
		lines += c->buf[i] == '\n';
	if (lines >= c->lines_wanted || n == 0)
		loop_stop(c->loop);
}

static void on_timeout(void *arg)
{
	loop_stop(arg);
}

/* Send @req (raw bytes), run the loop until @lines answer lines came. */
static void exchange(struct fixture *f, const char *req, int lines,
		     struct client *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct loop_watch *w;
	struct loop_timer *t;

	memset(c, 0, sizeof(*c));
	c->loop = f->loop;
	c->lines_wanted = lines;
	strcpy(sa.sun_path, f->path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(c->fd, req, strlen(req)), (ssize_t)strlen(req));
	w = loop_watch_add(f->loop, c->fd, POLLIN, on_reply, c);
	t = loop_timer_add(f->loop, 3000, false, on_timeout, f->loop);
	assert_int_equal(loop_run(f->loop), 0);
	loop_timer_del(t);
	loop_watch_del(w);
	close(c->fd);
}

static json_t *parse_line(const char *line)
{
	json_error_t jerr;
	json_t *j = json_loadb(line, strcspn(line, "\n"), 0, &jerr);

	if (!j)
		print_error("bad JSON answer: %s\n", jerr.text);
	assert_non_null(j);
	return j;
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	struct client c;
	json_t *j;

	exchange(f, "{\"cmd\": \"status\"}\n", 1, &c);
	j = parse_line(c.buf);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(j, "data"), "node")), "A");
	json_decref(j);
}

static void test_empty_views(void **state)
{
	static const char *const cmds[] = {
		"link show", "pool show", "peer show",
	};
	struct fixture *f = *state;
	struct client c;
	char req[64];
	json_t *j;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(req, sizeof(req), "{\"cmd\": \"%s\"}\n", cmds[i]);
		exchange(f, req, 1, &c);
		j = parse_line(c.buf);
		assert_true(json_is_true(json_object_get(j, "ok")));
		assert_true(json_is_array(json_object_get(j, "data")));
		assert_int_equal(json_array_size(json_object_get(j, "data")), 0);
		json_decref(j);
	}
	exchange(f, "{\"cmd\": \"key show\", \"sae\": \"app1\", \"limit\": 3}\n",
		 1, &c);
	j = parse_line(c.buf);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(j, "data"), "total")), 0);
	json_decref(j);
	/* Nothing configured is an empty view, for sa show as for macsec. */
	exchange(f, "{\"cmd\": \"sa show\"}\n", 1, &c);
	j = parse_line(c.buf);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_array_size(json_object_get(
		json_object_get(j, "data"), "pairs")), 0);
	json_decref(j);
	exchange(f, "{\"cmd\": \"macsec show\"}\n", 1, &c);
	j = parse_line(c.buf);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_array_size(json_object_get(j, "data")), 0);
	json_decref(j);
}

/* "key show" for an SAE the config does not name is refused, by name. */
static void test_unknown_sae(void **state)
{
	struct fixture *f = *state;
	struct client c;
	json_t *j;

	exchange(f, "{\"cmd\": \"key show\", \"sae\": \"nosuch\"}\n", 1, &c);
	j = parse_line(c.buf);
	assert_false(json_is_true(json_object_get(j, "ok")));
	assert_string_equal(json_string_value(json_object_get(j, "error")),
			    "key show: no SAE 'nosuch' (see sae show)");
	json_decref(j);
}

/* Several requests on one connection, bad ones answered with errors. */
static void test_errors_and_pipelining(void **state)
{
	struct fixture *f = *state;
	struct client c;
	const char *line;
	json_t *j;

	exchange(f, "not json\n{\"cmd\": \"reboot\"}\n{\"cmd\": 5}\n"
		 "{\"cmd\": \"key show\", \"limit\": 0}\n"
		 "{\"cmd\": \"status\", \"extra\": 1}\n{\"cmd\": \"status\"}\n",
		 6, &c);
	line = c.buf;
	for (int i = 0; i < 6; i++) {
		assert_non_null(line);
		j = parse_line(line);
		assert_int_equal(json_is_true(json_object_get(j, "ok")), i == 5);
		if (i < 5)
			assert_non_null(json_string_value(json_object_get(j, "error")));
		json_decref(j);
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
}

static void test_long_line(void **state)
{
	struct fixture *f = *state;
	char *req = malloc(CTL_LINE_MAX + 10);
	struct client c;
	json_t *j;

	memset(req, 'x', CTL_LINE_MAX + 8);
	req[CTL_LINE_MAX + 8] = '\0';
	exchange(f, req, 1, &c);
	j = parse_line(c.buf);
	assert_false(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	free(req);
}

static void test_socket_in_use(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct stat st;

	assert_null(ctl_start(f->loop, f->path, &f->src, err, sizeof(err)));
	assert_non_null(strstr(err, "another daemon is listening"));
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_views, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_sae, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors_and_pipelining,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_in_use, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("ctl", tests, NULL, NULL);
}
