// SPDX-License-Identifier: GPL-2.0
/*
 * Helper for the shell selftests:
 *   qkd_util up SIM_ID             bring both ends of qkd_simSIM_ID up
 *   qkd_util dump-loop SECONDS     LINK_GET dumps in a loop
 *   qkd_util read-loop SECONDS SIM_ID   KEY_ALLOC at tx + KEY_GET at rx in a loop
 *   qkd_util cycles N KO_DIR       N x: load qkd.ko + qkd_sim.ko, start a
 *                                  generating pair, unload (no exec per step:
 *                                  forks are slow under TCG)
 * The loops survive the family or the link going away (they reopen) and
 * print how many requests succeeded; exit 0 unless they could not run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "qkd_test.h"

static int read_index(unsigned int sim_id, const char *end, uint32_t *index)
{
	char path[160];
	uint64_t v;
	int err;

	snprintf(path, sizeof(path), SIM_BUS "/devices/qkd_sim%u/%s_index", sim_id, end);
	err = read_u64(path, &v);
	*index = v;
	return err;
}

static int cmd_up(unsigned int sim_id)
{
	struct qkd_sock s;
	uint32_t tx, rx;
	int err = read_index(sim_id, "tx", &tx) ?: read_index(sim_id, "rx", &rx);

	if (err || (err = qkd_open(&s, NULL))) {
		fprintf(stderr, "qkd_util up %u: %s\n", sim_id, strerror(-err));
		return 1;
	}
	err = qkd_link_set_state(&s, tx, QKD_LINK_UP) ?: qkd_link_set_state(&s, rx, QKD_LINK_UP);
	if (err)
		fprintf(stderr, "qkd_util up %u: %s (%s)\n", sim_id, strerror(-err), s.ext_msg);
	qkd_close(&s);
	return err ? 1 : 0;
}

static int loop(unsigned int seconds, int sim_id)
{
	static struct qkd_key k, got;
	struct qkd_link links[16];
	uint64_t end = now_ms() + seconds * 1000ULL, ok = 0, failed = 0;
	uint32_t tx = 0, rx = 0;
	struct qkd_sock s;
	bool open = false;

	while (now_ms() < end) {
		if (!open) {
			open = qkd_open(&s, NULL) == 0;
			if (sim_id >= 0 && open &&
			    (read_index(sim_id, "tx", &tx) || read_index(sim_id, "rx", &rx))) {
				qkd_close(&s);
				open = false;
			}
			if (!open) {
				failed++;
				sleep_ms(20);
				continue;
			}
		}
		if (sim_id < 0) {
			if (qkd_link_dump(&s, links, 16) >= 0)
				ok++;
			else
				failed++, qkd_close(&s), open = false;
		} else if (qkd_key_alloc(&s, tx, 32, 1, 0, &k) == 1 &&
			   qkd_key_get(&s, rx, k.id, k.len, &got) == 0) {
			ok++;
		} else {
			failed++;
			qkd_close(&s);
			open = false;
			sleep_ms(5);
		}
	}
	if (open)
		qkd_close(&s);
	printf("%s: %llu requests succeeded, %llu failed\n", sim_id < 0 ? "dump-loop" : "read-loop",
	       (unsigned long long)ok, (unsigned long long)failed);
	return 0;
}

static int load_module(const char *dir, const char *name)
{
	char path[512];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s.ko", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_finit_module, fd, "", 0))
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err)
		fprintf(stderr, "loading %s: %s\n", path, strerror(-err));
	return err;
}

/* rmmod; a dump in flight holds a module reference for a moment: retry. */
static int unload_module(const char *name)
{
	int tries;

	for (tries = 0; tries < 100; tries++) {
		if (!syscall(SYS_delete_module, name, O_NONBLOCK))
			return 0;
		if (errno != EAGAIN && errno != EBUSY)
			break;
		sleep_ms(50);
	}
	fprintf(stderr, "unloading %s: %s\n", name, strerror(errno));
	return -errno;
}

/*
 * Every qkd tracepoint is lost with its module: turn them on after a load.
 * Only on the first cycle: enabling tracepoints patches kernel text
 * (text_poke_bp IPIs), and doing that 100 times under TCG on a loaded host
 * soft-locked the guest in one run (see Documentation/qkd/testing.rst).
 */
static void trace_on(void)
{
	glob_t g;
	size_t i;

	if (glob("/sys/kernel/tracing/events/qkd*/enable", 0, NULL, &g))
		return;
	for (i = 0; i < g.gl_pathc; i++)
		write_str(g.gl_pathv[i], "1");
	globfree(&g);
}

static int cmd_cycles(int n, const char *dir)
{
	int i, err = 0;
	unsigned int id;

	for (i = 1; i <= n && !err; i++) {
		char dev[128];

		id = i % 8;
		snprintf(dev, sizeof(dev), SIM_BUS "/devices/qkd_sim%u/rate_bps", id);
		err = load_module(dir, "qkd") ?: load_module(dir, "qkd_sim");
		if (err)
			break;
		if (i == 1)
			trace_on();	/* see trace_on(): once, not per cycle */
		err = write_str(SIM_BUS "/new_device", "%u %u 256 16 32", id, 500 + id) ?:
		      write_str(dev, "1000000") ?: cmd_up(id);
		if (err)
			fprintf(stderr, "cycle %d: creating/starting pair %u failed\n", i, id);
		sleep_ms(50);
		err = unload_module("qkd_sim") ?: unload_module("qkd") ?: err;
	}
	printf("%d of %d cycles completed\n", err ? i - 2 : i - 1, n);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "up"))
		return cmd_up(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "dump-loop"))
		return loop(atoi(argv[2]), -1);
	if (argc == 4 && !strcmp(argv[1], "read-loop"))
		return loop(atoi(argv[2]), atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "cycles"))
		return cmd_cycles(atoi(argv[2]), argv[3]);
	fprintf(stderr, "usage: %s up SIM_ID | dump-loop SECONDS | read-loop SECONDS SIM_ID | cycles N KO_DIR\n",
		argv[0]);
	return 2;
}
