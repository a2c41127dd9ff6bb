/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What qkdctl.c (the daemon's view) and qkdctl_kernel.c (qkd.ko's view,
 * "qkdctl kernel ...") share: the global options, the exit status, one-line
 * errors, command-word matching and the readers of decoded JSON.
 */
#ifndef QKDCTL_H
#define QKDCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#define NETNS_RUN_DIR	"/run/netns"	/* where "ip netns add" puts them */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Exit status, as "qkdctl --help" documents it. */
#define EXIT_REFUSED	1	/* not reachable, refused, or nothing found */
#define EXIT_USAGE	2	/* bad usage: nothing was sent */

/* The options before the object, as iproute2 spells them. */
struct qkdctl_opts {
	bool json;		/* -j */
	bool pretty;		/* -p */
	bool stats;		/* -s */
};

/* "qkdctl: MESSAGE" on one line of stderr, then exit(@code). */
void die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/*
 * The index in @words[0..@n-1] of @word, or else of the one word that
 * @word is a prefix of ("sh" for "show", as in ip(8)); repeated entries
 * count once.  -1 if none matches; exit 2 naming the candidates if several
 * do: "ambiguous @what 'WORD': CANDIDATES" (@what e.g. "link command").
 */
int match_word(const char *what, const char *word, const char *const *words,
	       size_t n);

/*
 * An open file descriptor for network namespace @netns: NAME as "ip netns"
 * names it, or a path (with a '/') to any nsfs file.  Exit 1 with one line
 * starting with @what if it cannot be opened.
 */
int open_netns(const char *what, const char *netns);

/* A string field of @o, or "?"; an integer field of @o, or 0. */
const char *jstr(json_t *o, const char *key);
long long jnum(json_t *o, const char *key);

/* The "kernel" part of qkdctl --help, and of "qkdctl kernel help". */
void qkdctl_kernel_usage(FILE *out);

/*
 * Runs "qkdctl [OPTIONS] kernel ARGS...": @argv holds the words after
 * "kernel".  Returns the exit status.
 */
int qkdctl_kernel_main(int argc, char **argv, struct qkdctl_opts *o);

#endif /* QKDCTL_H */
