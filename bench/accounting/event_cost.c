// SPDX-License-Identifier: GPL-2.0
/*
 * CPU time accounting adds per answer, measured in one process where the
 * machine's other load cannot blur it: account_ksa_event() for N answers,
 * their journal written once per simulated event loop pass of B answers
 * (as the daemon does), then once per answer (no loop: a write(2) each).
 * Prints
 *
 *   batched_ns=X unbatched_ns=Y loop_ns=L batch=B events=N
 *
 * in process CPU nanoseconds per answer, the journal in DIR.  L is what
 * the simulated loop passes alone cost per answer (an io_uring system
 * call each, which the daemon's loop makes anyway); it is already taken
 * out of X.
 *
 * Usage: event_cost DIR [N] [B]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/loop.h"
#include "mgmt/account.h"

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ns per event over @n events, the loop (if any) run every @batch. */
static double measure(struct loop *loop, const char *dir, long n, long batch)
{
	struct account_cfg cfg = { .state_dir = dir, .interval_s = 86400 };
	struct ksa_acct_event ev = {
		.op = KSA_ACCT_ENC, .master = "app1", .slave = "app2",
		.keys = 1, .bits = 256, .result = KSA_OK,
	};
	char err[256];
	struct account *a = NULL;
	uint64_t t0;

	if (n < 0) {	/* the loop passes alone */
		n = -n;
		t0 = cpu_ns();
		for (long i = 0; i < n; i++)
			if ((i + 1) % batch == 0)
				loop_poll(loop);
		return (double)(cpu_ns() - t0) / (double)n;
	}
	a = account_open(loop, &cfg, err, sizeof(err));
	if (!a) {
		fprintf(stderr, "event_cost: %s\n", err);
		exit(1);
	}
	t0 = cpu_ns();
	for (long i = 0; i < n; i++) {
		account_ksa_event(a, &ev);
		if (loop && (i + 1) % batch == 0)
			loop_poll(loop);
	}
	if (loop)
		loop_poll(loop);
	t0 = cpu_ns() - t0;
	account_close(a);
	return (double)t0 / (double)n;
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 200000;
	long batch = argc > 3 ? atol(argv[3]) : 8;
	struct loop *loop;
	double b, u, l;

	if (argc < 2 || n <= 0 || batch <= 0) {
		fprintf(stderr, "usage: event_cost DIR [N] [BATCH]\n");
		return 2;
	}
	loop = loop_new();
	if (!loop)
		return 1;
	l = measure(loop, argv[1], -n, batch);
	b = measure(loop, argv[1], n, batch) - l;
	u = measure(NULL, argv[1], n, batch);
	printf("batched_ns=%.0f unbatched_ns=%.0f loop_ns=%.0f batch=%ld events=%ld\n",
	       b, u, l, batch, n);
	loop_free(loop);
	return 0;
}
