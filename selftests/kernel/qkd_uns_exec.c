// SPDX-License-Identifier: GPL-2.0
/*
 * qkd_uns_exec UID CMD [ARG...]: runs CMD as root of a fresh user namespace
 * with its own network namespace, created by UID (as "setpriv
 * --reuid=UID unshare -Urn CMD" would), in the same root directory.
 *
 * The VM runs the tests chrooted (selftests/vm/init.sh), and the kernel
 * lets no chrooted process create a user namespace, so this first leaves
 * the chroot for the root of PID 1, then drops to UID, unshares, maps
 * UID to root, and chroots back into the directory it started in (which
 * root of the new user namespace may do).  Run it as root.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

int main(int argc, char **argv)
{
	char cwd[PATH_MAX], map[64];
	const char *step = "getcwd";
	uid_t uid;
	int here, top;

	if (argc < 3) {
		fprintf(stderr, "usage: %s UID CMD [ARG...]\n", argv[0]);
		return 2;
	}
	uid = atoi(argv[1]);
	if (!getcwd(cwd, sizeof(cwd)))
		goto fail;
	step = "leave the chroot";
	here = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	top = open("/proc/1/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (here < 0 || top < 0 || fchdir(top) || chroot("."))
		goto fail;
	step = "drop to UID";
	if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
		goto fail;
	/* The uid change made us undumpable: /proc/self would be root's. */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		goto fail;
	step = "unshare";
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET))
		goto fail;
	/* Our /proc is the chroot's: the initramfs has none. */
	step = "map UID to root";
	snprintf(map, sizeof(map), "0 %u 1\n", uid);
	if (fchdir(here) || write_file("proc/self/setgroups", "deny") ||
	    write_file("proc/self/uid_map", map) ||
	    write_file("proc/self/gid_map", map))
		goto fail;
	step = "chroot back";
	if (chroot(".") || chdir(cwd))
		goto fail;
	execvp(argv[2], argv + 2);
	step = argv[2];
fail:
	fprintf(stderr, "qkd_uns_exec: %s: %m\n", step);
	return 127;
}
