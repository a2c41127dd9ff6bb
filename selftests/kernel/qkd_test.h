/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KTAP output and qkd_sim fixtures for the qkd kernel selftests: create a
 * simulated card pair, put its ends into network namespaces, bring it up.
 */
#ifndef QKD_TEST_H
#define QKD_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include "qkd_nl.h"

#define SIM_BUS		"/sys/bus/qkd_sim"
#define SIM_DEBUGFS	"/sys/kernel/debug/qkd_sim"

/* ---- KTAP ---- */
void ktap_start(int planned);
/* Reports one case; returns @pass so callers can chain. */
bool ktap_ok(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ktap_skip(const char *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ktap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the totals; returns the process exit status. */
int ktap_finish(void);

/* ---- files ---- */
int write_str(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int read_u64(const char *path, uint64_t *v);
uint64_t now_ms(void);
void sleep_ms(unsigned int ms);

/* ---- a simulated pair, each end in its own netns ---- */
struct pair {
	unsigned int sim_id;
	uint32_t link_id;
	uint32_t tx, rx;		/* link indexes */
	char ns_tx[64], ns_rx[64];	/* netns names, "" if none */
	struct qkd_sock stx, srx;	/* sockets in each end's netns */
	char dir[128];			/* sysfs device dir */
	char dbg[128];			/* debugfs dir */
};

/*
 * Creates sim pair @sim_id ("ID LINK_ID BLOCK RING POOL" to new_device,
 * zero = default), moves the ends into netns "<prefix>tx"/"<prefix>rx" when
 * @prefix is non-NULL, opens a socket per end.  0 or -errno, with a diag.
 */
int pair_create(struct pair *p, unsigned int sim_id, uint32_t link_id,
		uint32_t block, uint32_t ring, uint32_t pool, const char *prefix);
void pair_destroy(struct pair *p);
int pair_set_rate(struct pair *p, uint64_t bps);
int pair_up(struct pair *p);
int pair_down(struct pair *p);
int pair_debugfs(struct pair *p, const char *knob, const char *val);
uint64_t pair_generated(struct pair *p);
/* Waits until the stat at both ends is at least @min; false on timeout. */
bool pair_wait_stat(struct pair *p, int stat, uint64_t min, int timeout_ms);
int link_stat(struct qkd_sock *s, uint32_t index, int stat, uint64_t *v);

const char *strerr(int err);	/* "-EINVAL" etc. for negative errnos */

#endif /* QKD_TEST_H */
