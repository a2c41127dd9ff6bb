/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdctl's "kernel" commands: the link ends of qkd.ko, over the "qkd"
 * generic netlink family (uapi/linux/qkd.h), without the daemon.
 */
#ifndef QKDCTL_KERNEL_H
#define QKDCTL_KERNEL_H

#include <stdbool.h>
#include <stdio.h>

/* The "kernel" section of qkdctl --help. */
void qkdctl_kernel_usage(FILE *out);

/*
 * Runs "qkdctl [-j] [-p] kernel ARGS...": @argv holds the words after
 * "kernel".  Returns the exit status: 0 done, 1 the kernel refused or
 * could not be reached, 2 bad usage (nothing was sent).
 */
int qkdctl_kernel_main(int argc, char **argv, bool json, bool pretty);

#endif /* QKDCTL_KERNEL_H */
