// SPDX-License-Identifier: GPL-2.0
/*
 * Fixtures for the qkd kernel selftests (see qkd_test.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qkd_test.h"

static int ktap_n, ktap_failed, ktap_skipped;

void ktap_start(int planned)
{
	printf("KTAP version 1\n");
	if (planned > 0)
		printf("1..%d\n", planned);
	fflush(stdout);
}

bool ktap_ok(bool pass, const char *fmt, ...)
{
	va_list ap;

	ktap_n++;
	if (!pass)
		ktap_failed++;
	printf("%s %d - ", pass ? "ok" : "not ok", ktap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return pass;
}

void ktap_skip(const char *reason, const char *fmt, ...)
{
	va_list ap;

	ktap_n++;
	ktap_skipped++;
	printf("ok %d - ", ktap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP %s\n", reason);
	fflush(stdout);
}

void ktap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int ktap_finish(void)
{
	printf("# Totals: pass:%d fail:%d skip:%d\n",
	       ktap_n - ktap_failed - ktap_skipped, ktap_failed, ktap_skipped);
	fflush(stdout);
	return ktap_failed ? 1 : 0;
}

int write_str(const char *path, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int fd, len, err = 0;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != len)
		err = -errno;
	close(fd);
	return err;
}

int read_u64(const char *path, uint64_t *v)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	*v = strtoull(buf, NULL, 0);
	return 0;
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

const char *strerr(int err)
{
	static char buf[32];

	switch (-err) {
	case 0: return "0";
	case EPERM: return "-EPERM";
	case ENOENT: return "-ENOENT";
	case EINVAL: return "-EINVAL";
	case EALREADY: return "-EALREADY";
	case ENOSPC: return "-ENOSPC";
	case ERANGE: return "-ERANGE";
	case EOPNOTSUPP: return "-EOPNOTSUPP";
	case EBADF: return "-EBADF";
	case ENODEV: return "-ENODEV";
	case ENETDOWN: return "-ENETDOWN";
	case EEXIST: return "-EEXIST";
	case ETIMEDOUT: return "-ETIMEDOUT";
	}
	snprintf(buf, sizeof(buf), "%d", err);
	return buf;
}

static int netns_create(const char *name)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null; ip netns add %s", name, name);
	return system(cmd) == 0 ? 0 : -EIO;
}

static void netns_delete(const char *name)
{
	char cmd[128];

	if (!name[0])
		return;
	snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", name);
	if (system(cmd))
		ktap_diag("could not delete netns %s", name);
}

static int move_end(struct qkd_sock *s, uint32_t index, const char *ns)
{
	char path[128];
	int fd, err;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = qkd_link_set_netns(s, index, fd);
	if (err)
		ktap_diag("LINK_SET NETNS_FD %u -> %s: %s (%s)", index, ns, strerr(err), s->ext_msg);
	close(fd);
	return err;
}

static int pair_open_sockets(struct pair *p)
{
	char tx[128], rx[128];
	int err;

	snprintf(tx, sizeof(tx), "/run/netns/%s", p->ns_tx);
	snprintf(rx, sizeof(rx), "/run/netns/%s", p->ns_rx);
	err = qkd_open(&p->stx, p->ns_tx[0] ? tx : NULL);
	if (err)
		return err;
	err = qkd_open(&p->srx, p->ns_rx[0] ? rx : NULL);
	if (err)
		qkd_close(&p->stx);
	return err;
}

int pair_create(struct pair *p, unsigned int sim_id, uint32_t link_id,
		uint32_t block, uint32_t ring, uint32_t pool, const char *prefix)
{
	struct qkd_sock root;
	char path[192];
	uint64_t v;
	int err;

	memset(p, 0, sizeof(*p));
	p->sim_id = sim_id;
	p->link_id = link_id;
	snprintf(p->dir, sizeof(p->dir), SIM_BUS "/devices/qkd_sim%u", sim_id);
	snprintf(p->dbg, sizeof(p->dbg), SIM_DEBUGFS "/qkd_sim%u", sim_id);
	err = write_str(SIM_BUS "/new_device", "%u %u %u %u %u", sim_id, link_id,
			block ? block : 1024, ring ? ring : 256, pool);
	if (err) {
		ktap_diag("new_device %u: %s", sim_id, strerr(err));
		return err;
	}
	snprintf(path, sizeof(path), "%s/tx_index", p->dir);
	err = read_u64(path, &v);
	p->tx = v;
	snprintf(path, sizeof(path), "%s/rx_index", p->dir);
	if (!err)
		err = read_u64(path, &v);
	p->rx = v;
	if (err) {
		ktap_diag("reading %s/{tx,rx}_index: %s", p->dir, strerr(err));
		return err;
	}
	if (prefix) {
		snprintf(p->ns_tx, sizeof(p->ns_tx), "%stx", prefix);
		snprintf(p->ns_rx, sizeof(p->ns_rx), "%srx", prefix);
		err = netns_create(p->ns_tx) ?: netns_create(p->ns_rx);
		if (err)
			return err;
		err = qkd_open(&root, NULL);
		if (err)
			return err;
		err = move_end(&root, p->tx, p->ns_tx) ?: move_end(&root, p->rx, p->ns_rx);
		qkd_close(&root);
		if (err)
			return err;
	}
	return pair_open_sockets(p);
}

void pair_destroy(struct pair *p)
{
	int err;

	qkd_close(&p->stx);
	qkd_close(&p->srx);
	err = write_str(SIM_BUS "/del_device", "%u", p->sim_id);
	if (err)
		ktap_diag("del_device %u: %s", p->sim_id, strerr(err));
	netns_delete(p->ns_tx);
	netns_delete(p->ns_rx);
}

int pair_set_rate(struct pair *p, uint64_t bps)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/rate_bps", p->dir);
	return write_str(path, "%llu", (unsigned long long)bps);
}

static int pair_set(struct pair *p, uint8_t state)
{
	int err = qkd_link_set_state(&p->stx, p->tx, state);

	if (err) {
		ktap_diag("LINK_SET STATE tx: %s (%s)", strerr(err), p->stx.ext_msg);
		return err;
	}
	err = qkd_link_set_state(&p->srx, p->rx, state);
	if (err)
		ktap_diag("LINK_SET STATE rx: %s (%s)", strerr(err), p->srx.ext_msg);
	return err;
}

int pair_up(struct pair *p)
{
	return pair_set(p, QKD_LINK_UP);
}

int pair_down(struct pair *p)
{
	return pair_set(p, QKD_LINK_DOWN);
}

int pair_debugfs(struct pair *p, const char *knob, const char *val)
{
	char path[192];
	int err;

	snprintf(path, sizeof(path), "%s/%s", p->dbg, knob);
	err = write_str(path, "%s", val);
	if (err)
		ktap_diag("writing %s to %s: %s", val, path, strerr(err));
	return err;
}

uint64_t pair_generated(struct pair *p)
{
	char path[192];
	uint64_t v = 0;

	snprintf(path, sizeof(path), "%s/blocks_generated", p->dir);
	read_u64(path, &v);
	return v;
}

int link_stat(struct qkd_sock *s, uint32_t index, int stat, uint64_t *v)
{
	struct qkd_link l;
	int err = qkd_link_get(s, index, &l);

	*v = err ? 0 : l.stats[stat];
	return err;
}

bool pair_wait_stat(struct pair *p, int stat, uint64_t min, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms, a = 0, b = 0;

	do {
		if (link_stat(&p->stx, p->tx, stat, &a) || link_stat(&p->srx, p->rx, stat, &b))
			return false;
		if (a >= min && b >= min)
			return true;
		sleep_ms(50);
	} while (now_ms() < end);
	ktap_diag("timeout waiting for %s >= %llu (tx %llu, rx %llu)", qkd_stat_name(stat),
		  (unsigned long long)min, (unsigned long long)a, (unsigned long long)b);
	return false;
}
