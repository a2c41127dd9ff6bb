// SPDX-License-Identifier: GPL-2.0
/*
 * The machine's own floor for the ETSI 014 latency figures: how long it
 * takes to wake a thread that sleeps on one CPU from another, with nothing
 * else to do.  One thread, pinned to CPU 1 as the server is, blocks in
 * read() on a pipe; the main thread, on CPU 0 as the load generator, polls
 * the clock and writes its timestamp at random (Poisson) times, RATE a
 * second on average.  Each wake-up's latency is from the write to the
 * return of the read.  Prints one line:
 *
 *   wakes=N p50_us=A p99_us=B p999_us=C max_us=M over_500us=K
 *
 * A server that sleeps between requests cannot have a latency tail below
 * this one; on a virtual machine it shows the host's scheduling too.
 *
 * Usage: wakeup [RATE] [SECONDS]   (defaults 27000 a second, 4 s)
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAKER_CPU	0
#define SLEEPER_CPU	1

static int pipe_fds[2];
static uint64_t *latency_ns;
static size_t n_wakes, max_wakes;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Best effort: on a one-CPU machine both threads share it. */
static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Reads stamps until the zero stamp that ends the run. */
static void *sleeper(void *arg)
{
	uint64_t stamp;

	pin_to(SLEEPER_CPU);
	while (read(pipe_fds[0], &stamp, sizeof(stamp)) == sizeof(stamp) &&
	       stamp) {
		uint64_t t = now_ns();

		if (n_wakes < max_wakes)
			latency_ns[n_wakes++] = t - stamp;
	}
	return NULL;
}

static void send_stamp(uint64_t stamp)
{
	if (write(pipe_fds[1], &stamp, sizeof(stamp)) != sizeof(stamp)) {
		perror("wakeup: write");
		exit(1);
	}
}

/* Exponential gaps, mean 1 / @rate seconds. */
static uint64_t next_gap_ns(double rate)
{
	double u = (rand() + 1.0) / ((double)RAND_MAX + 2.0);

	return (uint64_t)(-log(u) / rate * 1e9);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t at(double q)
{
	return latency_ns[(size_t)(q * (double)(n_wakes - 1))] / 1000;
}

int main(int argc, char **argv)
{
	double rate = argc > 1 ? atof(argv[1]) : 27000;
	double seconds = argc > 2 ? atof(argv[2]) : 4;
	uint64_t end, due;
	size_t i, over = 0;
	pthread_t thread;

	if (argc > 3 || rate <= 0 || seconds <= 0 || rate * seconds > 1e8) {
		fprintf(stderr, "usage: wakeup [RATE] [SECONDS]\n");
		return 2;
	}
	max_wakes = (size_t)(rate * seconds * 2) + 16;
	latency_ns = calloc(max_wakes, sizeof(*latency_ns));
	if (!latency_ns || pipe(pipe_fds)) {
		perror("wakeup");
		return 1;
	}
	errno = pthread_create(&thread, NULL, sleeper, NULL);
	if (errno) {
		perror("wakeup: thread");
		return 1;
	}
	pin_to(WAKER_CPU);
	srand(1);
	due = now_ns();
	end = due + (uint64_t)(seconds * 1e9);
	while ((due += next_gap_ns(rate)) < end) {
		while (now_ns() < due)
			;	/* poll, as the open-loop load generator does */
		send_stamp(now_ns());
	}
	send_stamp(0);
	pthread_join(thread, NULL);
	if (!n_wakes) {
		fprintf(stderr, "wakeup: no wake-ups measured\n");
		return 1;
	}
	qsort(latency_ns, n_wakes, sizeof(*latency_ns), cmp_u64);
	for (i = 0; i < n_wakes; i++)
		over += latency_ns[i] > 500000;
	printf("wakes=%zu p50_us=%llu p99_us=%llu p999_us=%llu max_us=%llu over_500us=%zu\n",
	       n_wakes, (unsigned long long)at(0.50),
	       (unsigned long long)at(0.99), (unsigned long long)at(0.999),
	       (unsigned long long)at(1.0), over);
	return 0;
}
