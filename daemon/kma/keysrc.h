/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key sources (Kq-1): one object per end of a QKD link, behind one interface.
 *
 * The model is qkd.ko's (uapi/linux/qkd.h): the link delivers numbered
 * blocks, identical at both ends; a key is a byte range of one block named
 * by key_id = block_id << QKD_KEY_ID_OFFSET_BITS | offset, and its length.
 * Each end allocates only from its own share (QKD_ROLE_TX: even blocks,
 * QKD_ROLE_RX: odd), so allocation needs no round trip; the peer fetches the
 * same (key ID, length) from its end with get().  Every byte is handed out
 * at most once per end.
 *
 * Errors are negative errno values, as the kernel returns them:
 *   -ENOSPC   alloc: this end's share cannot supply count keys of len
 *   -ENOENT   get: block not in the store (not yet generated, evicted, or
 *             from before this source started)
 *   -EALREADY get: some byte already handed out or discarded
 *   -EINVAL   bad length / range, or get of this end's own share
 *   -ENETDOWN the link is down / the module is gone
 * and a short reason (never key bytes) in @err where one is taken.
 */
#ifndef QKD_KEYSRC_H
#define QKD_KEYSRC_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/qkd.h>

struct loop;
struct keysrc;

struct keysrc_key {
	uint64_t id;		/* block_id << 16 | offset */
	uint32_t len;		/* bytes */
	uint64_t gen_time_ns;	/* block generation, CLOCK_REALTIME */
};

enum keysrc_event_type {
	KEYSRC_EV_LINK,		/* link came up or went down */
	KEYSRC_EV_LEVEL,	/* pool level changed */
};

struct keysrc_event {
	enum keysrc_event_type type;
	bool up;
	enum qkd_pool_level level;
	uint64_t avail;		/* bytes this end may allocate */
};

typedef void (*keysrc_event_fn)(void *arg, const struct keysrc_event *ev);

/*
 * Key generation control (Y.3802 10.2) and what the source reports of its
 * generation.  Sources without control (etsi014, file: their QKD modules
 * generate on their own) leave @control false and report nothing.
 */
struct keysrc_gen {
	bool control;		/* keysrc_set_generation() works here */
	bool running;		/* generating, or asked to (card: not DOWN) */
	bool has_card;		/* a card reports @card_state */
	uint8_t card_state;	/* enum qkd_link_state */
	bool has_qber, has_skr;
	uint32_t qber_ppm;	/* quantum bit error rate, parts per million */
	uint64_t skr_bps;	/* secret key rate, bit/s */
};

struct keysrc_ops {
	/*
	 * @count keys of @len bytes each from this end's share, consumed at
	 * once: @keys[0..count-1] and their bytes, back to back, in
	 * @bytes[0..count*len-1].  All or none.
	 */
	int (*alloc)(struct keysrc *src, uint32_t len, uint32_t count,
		     struct keysrc_key *keys, uint8_t *bytes,
		     char *err, size_t errlen);
	/* The peer's key @key_id of @len bytes into @out (once only). */
	int (*get)(struct keysrc *src, uint64_t key_id, uint32_t len,
		   uint8_t *out, uint64_t *gen_time_ns,
		   char *err, size_t errlen);
	/* Zeroise a range without handing it out; 0 or -errno. */
	int (*discard)(struct keysrc *src, uint64_t key_id, uint32_t len);
	/* Bytes this end may still allocate. */
	uint64_t (*avail)(struct keysrc *src);
	bool (*is_up)(struct keysrc *src);
	void (*free)(struct keysrc *src);
	/*
	 * Start (@run) or stop key generation at this end: 0 or -errno with
	 * a reason in @err.  May be NULL: the source has no such control.
	 */
	int (*set_generation)(struct keysrc *src, bool run,
			      char *err, size_t errlen);
	/* Fill @out (zeroed by the caller); may be NULL. */
	void (*generation)(struct keysrc *src, struct keysrc_gen *out);
};

/* Common head of every source; implementations embed it first. */
struct keysrc {
	const struct keysrc_ops *ops;
	const char *kind;		/* "sim", "kernel" */
	enum qkd_role role;
	uint32_t block_size;		/* bytes */
	keysrc_event_fn on_event;	/* may be NULL */
	void *event_arg;
	/* counters: bytes, and failed get()s */
	uint64_t allocated, fetched, discarded;
	uint64_t fetch_failures;
};

static inline int keysrc_alloc(struct keysrc *s, uint32_t len, uint32_t count,
			       struct keysrc_key *keys, uint8_t *bytes,
			       char *err, size_t errlen)
{
	return s->ops->alloc(s, len, count, keys, bytes, err, errlen);
}

static inline int keysrc_get(struct keysrc *s, uint64_t key_id, uint32_t len,
			     uint8_t *out, uint64_t *gen_time_ns,
			     char *err, size_t errlen)
{
	return s->ops->get(s, key_id, len, out, gen_time_ns, err, errlen);
}

static inline int keysrc_discard(struct keysrc *s, uint64_t key_id,
				 uint32_t len)
{
	return s->ops->discard(s, key_id, len);
}

static inline uint64_t keysrc_avail(struct keysrc *s)
{
	return s->ops->avail(s);
}

static inline bool keysrc_is_up(struct keysrc *s)
{
	return s->ops->is_up(s);
}

static inline int keysrc_set_generation(struct keysrc *s, bool run,
					char *err, size_t errlen)
{
	if (!s->ops->set_generation) {
		snprintf(err, errlen, "a %s source has no key generation control",
			 s->kind);
		return -EOPNOTSUPP;
	}
	return s->ops->set_generation(s, run, err, errlen);
}

static inline void keysrc_generation(struct keysrc *s, struct keysrc_gen *out)
{
	memset(out, 0, sizeof(*out));
	if (s->ops->generation)
		s->ops->generation(s, out);
}

static inline void keysrc_free(struct keysrc *s)
{
	if (s)
		s->ops->free(s);
}

static inline uint64_t keysrc_block_of(uint64_t key_id)
{
	return key_id >> QKD_KEY_ID_OFFSET_BITS;
}

static inline uint32_t keysrc_offset_of(uint64_t key_id)
{
	return key_id & (QKD_BLOCK_SIZE_MAX - 1);
}

/* True if block @block_id is in the share of the end with @role. */
static inline bool keysrc_block_is_own(enum qkd_role role, uint64_t block_id)
{
	return (block_id & 1) == (role == QKD_ROLE_RX ? 1 : 0);
}

/* ---- Userspace simulated link (keysrc_sim.c) ---- */

struct keysrc_sim_cfg {
	const char *link_name;		/* names the high-water mark file */
	const char *state_dir;		/* existing directory */
	enum qkd_role role;
	const uint8_t *seed;		/* 32 bytes, copied into secure heap */
	uint64_t rate;			/* bit/s */
	uint32_t block_size;		/* bytes, 16..QKD_BLOCK_SIZE_MAX */
	/* Clock, CLOCK_REALTIME ns; NULL for the real one (tests inject). */
	uint64_t (*now_ns)(void *arg);
	void *now_arg;
};

/*
 * Block n = AES-256-CTR(seed, IV = n big-endian in the IV's first 8 bytes,
 * counter in the last 8) over block_size zero bytes; it exists once
 * now * rate / (8 * block_size) has passed n.
 */
struct keysrc *keysrc_sim_new(const struct keysrc_sim_cfg *cfg,
			      char *err, size_t errlen);

/* Block the sim clock has reached (first block not yet generated). */
uint64_t keysrc_sim_current_block(struct keysrc *src);
/* First block this instance may touch (after the persisted mark). */
uint64_t keysrc_sim_start_block(struct keysrc *src);
/*
 * Stopping a sim end freezes its generator: no block completed after the
 * stop exists at this end (alloc and get see none), and the ones before it
 * leave the window as usual.  Starting again begins with the block the
 * clock has reached; the blocks of the gap, and any left from before the
 * stop, are never used.  Keys of the peer's share from those blocks fail
 * with -ENOENT here, as with a card that was stopped.
 */

/* ---- qkd.ko over generic netlink (keysrc_kernel.c) ---- */

/*
 * Find the local end of link @link_id (LINK_GET dump), subscribe to the
 * "link" and "pool" multicast groups and watch them on @loop.
 */
struct keysrc *keysrc_kernel_new(struct loop *loop, uint32_t link_id,
				 char *err, size_t errlen);
/*
 * The same for the end with @role (enum qkd_role, or -1 for the first end
 * found): for tests that see both ends of a link in one namespace.
 */
struct keysrc *keysrc_kernel_new_end(struct loop *loop, uint32_t link_id,
				     int role, char *err, size_t errlen);

/*
 * keysrc_kernel.c's message building and parsing, exposed so host unit
 * tests can check them without qkd.ko.  Builders return the message length
 * (0 if @len is too small).  Parsers return 0, or -EINVAL for a reply that
 * does not have the shape uapi/linux/qkd.h documents.
 */
struct nlmsghdr;

size_t keysrc_kernel_build_getfamily(void *buf, size_t len, uint32_t seq);
size_t keysrc_kernel_build_link_dump(void *buf, size_t len, uint16_t family,
				     uint32_t seq);
/* LINK_GET (do) of end @index; LINK_SET of its QKD_A_LINK_STATE. */
size_t keysrc_kernel_build_link_get(void *buf, size_t len, uint16_t family,
				    uint32_t seq, uint32_t index);
size_t keysrc_kernel_build_link_set_state(void *buf, size_t len,
					  uint16_t family, uint32_t seq,
					  uint32_t index, uint8_t state);
size_t keysrc_kernel_build_key_alloc(void *buf, size_t len, uint16_t family,
				     uint32_t seq, uint32_t index,
				     uint32_t key_len, uint32_t count);
/* @cmd: QKD_CMD_KEY_GET or QKD_CMD_KEY_DISCARD */
size_t keysrc_kernel_build_key_op(void *buf, size_t len, uint16_t family,
				  uint32_t seq, uint8_t cmd, uint32_t index,
				  uint64_t key_id, uint32_t key_len);

struct keysrc_kernel_family {
	uint16_t id;
	uint32_t grp_link, grp_pool;	/* 0 if absent */
};
int keysrc_kernel_parse_family(const struct nlmsghdr *nlh,
			       struct keysrc_kernel_family *out);

struct keysrc_kernel_link {
	uint32_t index, id;
	uint8_t role, state, level;
	uint8_t type;			/* enum qkd_link_type */
	uint32_t block_size;
	uint64_t avail;
	uint32_t qber_ppm;
	uint64_t skr_bps;
	bool has_avail, has_state, has_level, has_qber, has_skr;
};
/* A LINK_GET reply or a LINK_NTF / POOL_NTF / KEYS_AVAIL_NTF event. */
int keysrc_kernel_parse_link(const struct nlmsghdr *nlh,
			     struct keysrc_kernel_link *out);

/* Where a KEY_ALLOC / KEY_GET reply's keys go. */
struct keysrc_kernel_keys {
	struct keysrc_key *keys;	/* room for @max */
	uint8_t *bytes;			/* room for @max * @len */
	uint32_t max, len;
	uint32_t n;			/* keys parsed so far */
};
int keysrc_kernel_parse_keys(const struct nlmsghdr *nlh,
			     struct keysrc_kernel_keys *out);

#endif /* QKD_KEYSRC_H */
