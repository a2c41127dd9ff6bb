/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key source "file" (keysrc_file.c): key files that a QKD system's
 * post-processing drops into a directory at each end of a link, under the
 * same name at both ends (Documentation/qkd/key-file-source.rst).
 *
 * Each end reads every new file in its key_dir once (O_NOFOLLOW, into the
 * secure heap), overwrites it with zeros, fsyncs and unlinks it.  A file
 * open to group or others is refused and left in place; a file whose size
 * is not a whole number of blocks is refused, zeroised and removed.
 *
 * The end with role = tx numbers the blocks of each file in sequence and
 * announces them to the far node over Kx with the messages of the etsi014
 * source (SRC_KEYS, SRC_ACK), the "module key_ID" of block i of a file of
 * n blocks being "NAME/i/n".  The rx end answers once it holds the file of
 * that name with the same block count, and refuses a different count, or a
 * file still missing after wait_ms; the tx end uses the blocks only after
 * the answer.  From there on tx allocates even blocks, rx odd (keysrc.h).
 */
#ifndef QKD_KEYSRC_FILE_H
#define QKD_KEYSRC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kma/keysrc.h"
#include "kma/keysrc_etsi014.h"

struct loop;

/* A key file's name: 1..40 of [A-Za-z0-9._-], not starting with '.'. */
#define KEYSRC_FILE_NAME_MAX	41	/* incl. NUL */
/* The most blocks one file may hold (larger files are refused). */
#define KEYSRC_FILE_MAX_BLOCKS	1024

struct keysrc_file_cfg {
	const char *link_name;
	const char *peer;		/* the far node */
	const char *where;		/* "FILE:LINE" of the [link] */
	enum qkd_role role;
	uint32_t block_size;		/* bytes */
	const char *dir;		/* key_dir */
	uint32_t wait_ms;		/* how long a file waits for its twin */
};

/*
 * Watch @cfg->dir (inotify) and take the files already there.  NULL with
 * a reason in @err if the directory cannot be watched.
 */
struct keysrc *keysrc_file_new(struct loop *loop,
			       const struct keysrc_file_cfg *cfg,
			       char *err, size_t errlen);

/* How the source reaches the far node: the etsi014 source's interface. */
void keysrc_file_set_kx(struct keysrc *src,
			const struct keysrc_etsi014_kx *kx, void *arg);
/* A SRC_KEYS or SRC_ACK from the far node of this source's link. */
void keysrc_file_receive(struct keysrc *src, const struct kxmsg *m);
/* Read the directory now (at start, and where inotify lost events). */
void keysrc_file_scan(struct keysrc *src);
/* The timers' work: deadlines, announcing the next file. */
void keysrc_file_tick(struct keysrc *src);

struct keysrc_file_stats {
	uint64_t files_taken;		/* read and agreed with the far end */
	uint64_t files_refused;		/* refused here or by the far end */
	uint32_t files_waiting;		/* read, not yet agreed */
	uint32_t blocks_held;
};
void keysrc_file_stats(struct keysrc *src, struct keysrc_file_stats *out);

/* ---- names (fuzz/fuzz_keyfile.c) ---- */

/* True if @name may be a key file's name (see KEYSRC_FILE_NAME_MAX). */
bool keysrc_file_name_ok(const char *name);

/*
 * Parse a key_ID "NAME/I/N" (decimal, no sign or leading zero, I < N <=
 * KEYSRC_FILE_MAX_BLOCKS) into @name (KEYSRC_FILE_NAME_MAX bytes), @idx and
 * @n.  0, or -1 if it is not of that form.
 */
int keysrc_file_parse_id(const char *id, char *name, uint32_t *idx,
			 uint32_t *n);

#endif /* QKD_KEYSRC_FILE_H */
