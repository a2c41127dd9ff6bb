// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace simulated QKD link end (Kq-1 without hardware).
 *
 * Both ends derive the same block n from the shared seed (AES-256-CTR) and
 * agree on which blocks exist from the wall clock and the configured rate,
 * so two daemons form a link without talking to each other.  Like qkd.ko,
 * the source keeps a bounded store of recent blocks with a bitmap per block
 * of the bytes already handed out.  It keeps no block bytes: a range is
 * derived from the seed (AES-CTR starts at any 16-byte boundary) at the
 * moment it is handed out, into the caller's buffer.
 *
 * A restarted daemon forgets its bitmaps.  So that it can never hand out or
 * fetch a byte twice, every block this end touches must lie at or below a
 * high-water mark persisted (fsync'd) in state_dir *before* the block is
 * used, and a new instance starts above the persisted mark.  The mark is
 * written by a helper thread, asked well before the cursor gets there, so
 * the two fsyncs do not stall the event loop; should the cursor overtake
 * the thread, the loop waits for the write.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kma/keysrc.h"

/* Window of blocks kept, in seconds of key at the configured rate. */
#define SIM_WINDOW_SEC		4
#define SIM_WINDOW_MIN		16
#define SIM_WINDOW_MAX		65536
/* A peer's clock may run a little ahead: blocks up to this far ahead exist
 * for get(). */
#define SIM_SKEW_MS		250
/* The mark is advanced this many seconds of blocks ahead of use. */
#define SIM_MARK_AHEAD_SEC	2
#define SIM_MARK_AHEAD_MIN	64

struct sim_block {
	uint64_t id;		/* valid if used is set */
	uint8_t *used;		/* bitmap, one bit per byte handed out */
	uint32_t n_used;
};

/*
 * The high-water mark writer thread.  The loop asks for a mark (want); the
 * thread writes the newest one asked and reports it durable.  Nothing is
 * used above @durable.
 */
struct mark_writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* a new request, or a write finished */
	const char *path;
	uint64_t want;			/* newest mark asked for */
	uint64_t durable;		/* newest mark on disk */
	bool failed;			/* last write failed; want dropped */
	bool stop;
	bool running;
};

struct keysrc_sim {
	struct keysrc src;
	uint8_t *seed;			/* 32 bytes, secure heap */
	EVP_CIPHER_CTX *cipher;
	uint64_t rate;
	uint64_t (*now_ns)(void *arg);
	void *now_arg;
	char *mark_path;
	uint64_t mark;			/* persisted: blocks <= mark may be used */
	uint64_t mark_asked;		/* newest mark asked of the writer */
	struct mark_writer writer;
	uint64_t start;			/* first block usable by this instance */
	uint64_t floor;			/* blocks below are gone (evicted) */
	uint64_t window;		/* blocks kept */
	uint64_t skew;			/* blocks a get may run ahead */
	uint64_t mark_ahead;
	uint64_t cur_block;		/* next own byte: block ... */
	uint32_t cur_off;		/* ... and offset in it */
	bool stopped;			/* generation stopped by the operator */
	uint64_t stop_block;		/* first block not made since the stop */
	struct sim_block *store;	/* ring of @window slots, by id % window */
};

static struct keysrc_sim *to_sim(struct keysrc *src)
{
	return (struct keysrc_sim *)src;
}

static uint64_t real_now_ns(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t blocks_per_ms(const struct keysrc_sim *s, uint64_t ms)
{
	unsigned __int128 b = (unsigned __int128)s->rate * ms;

	return (uint64_t)(b / (8000ull * s->src.block_size));
}

uint64_t keysrc_sim_current_block(struct keysrc *src)
{
	struct keysrc_sim *s = to_sim(src);
	unsigned __int128 bits = (unsigned __int128)s->now_ns(s->now_arg) *
				 s->rate;

	return (uint64_t)(bits / (8000000000ull * s->src.block_size));
}

/*
 * First block not generated at this end: the clock's, or while stopped
 * the one reached at the stop.  Eviction still follows the clock.
 */
static uint64_t generated_block(struct keysrc_sim *s)
{
	uint64_t cur = keysrc_sim_current_block(&s->src);

	return s->stopped && s->stop_block < cur ? s->stop_block : cur;
}

uint64_t keysrc_sim_start_block(struct keysrc *src)
{
	return to_sim(src)->start;
}

static uint64_t block_gen_time_ns(const struct keysrc_sim *s, uint64_t id)
{
	/* The instant block id was completed: (id + 1) blocks of bits. */
	unsigned __int128 ns = (unsigned __int128)(id + 1) * 8 *
			       s->src.block_size * 1000000000ull;

	return (uint64_t)(ns / s->rate);
}

/* Lowest block still present (older ones are evicted or predate us). */
static uint64_t lowest_block(struct keysrc_sim *s)
{
	uint64_t cur = keysrc_sim_current_block(&s->src);
	uint64_t low = s->floor;

	if (cur > s->window && cur - s->window > low)
		low = cur - s->window;
	return low;
}

/*
 * Lowest block this end allocates from: only the newer half of the window,
 * so that the peer, whose window slides on by the time the reservation
 * reaches it, still holds the block.
 */
static uint64_t lowest_own_block(struct keysrc_sim *s)
{
	uint64_t cur = keysrc_sim_current_block(&s->src);
	uint64_t low = lowest_block(s);
	uint64_t half = s->window / 2;

	if (cur > half && cur - half > low)
		low = cur - half;
	return low;
}

/* ---- high-water mark ---- */

/* 1 and the mark if the file exists, 0 if not, -1 on error. */
static int mark_read(const char *path, uint64_t *mark, char *err, size_t len)
{
	FILE *f = fopen(path, "re");
	unsigned int version;
	uint64_t m;
	int n;

	*mark = 0;
	if (!f) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = fscanf(f, "qkdkmd-hwm %u %" SCNu64, &version, &m);
	fclose(f);
	if (n != 2 || version != 1) {
		snprintf(err, len, "%s: not a qkdkmd high-water mark file",
			 path);
		return -1;
	}
	*mark = m;
	return 1;
}

static int fsync_dir_of(const char *path)
{
	char *dir = strdup(path);
	char *slash;
	int fd, rc;

	if (!dir)
		return -1;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Write @mark to a temporary file, fsync, rename over the old one. */
static int mark_write(const char *path, uint64_t mark)
{
	char tmp[4096 + 8];
	char line[64];
	int fd, n, rc = -1;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	n = snprintf(line, sizeof(line), "qkdkmd-hwm 1 %" PRIu64 "\n", mark);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, line, (size_t)n) == n && fsync(fd) == 0)
		rc = 0;
	if (close(fd) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc == 0)
		rc = fsync_dir_of(path);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

static void *mark_writer_main(void *arg)
{
	struct mark_writer *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		uint64_t m = w->want;
		int rc;

		if (m <= w->durable) {
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		pthread_mutex_unlock(&w->lock);
		rc = mark_write(w->path, m);
		pthread_mutex_lock(&w->lock);
		if (rc == 0) {
			w->durable = m;
		} else {
			w->failed = true;
			w->want = w->durable;	/* retried when asked again */
		}
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int mark_writer_start(struct mark_writer *w, const char *path,
			     uint64_t durable)
{
	w->path = path;
	w->want = w->durable = durable;
	if (pthread_mutex_init(&w->lock, NULL))
		return -1;
	if (pthread_cond_init(&w->cond, NULL)) {
		pthread_mutex_destroy(&w->lock);
		return -1;
	}
	if (pthread_create(&w->thread, NULL, mark_writer_main, w)) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		return -1;
	}
	w->running = true;
	return 0;
}

static void mark_writer_stop(struct mark_writer *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	w->running = false;
}

/* Ask for @mark (no wait); returns the mark durable so far. */
static uint64_t mark_ask(struct mark_writer *w, uint64_t mark)
{
	uint64_t durable;

	pthread_mutex_lock(&w->lock);
	if (mark > w->want) {
		w->want = mark;
		w->failed = false;
		pthread_cond_signal(&w->cond);
	}
	durable = w->durable;
	pthread_mutex_unlock(&w->lock);
	return durable;
}

/* Wait until @id is durable: 0, or -EIO if the write failed. */
static int mark_wait(struct mark_writer *w, uint64_t id, uint64_t *durable)
{
	pthread_mutex_lock(&w->lock);
	while (w->durable < id && !w->failed)
		pthread_cond_wait(&w->cond, &w->lock);
	*durable = w->durable;
	pthread_mutex_unlock(&w->lock);
	return *durable >= id ? 0 : -EIO;
}

/*
 * Make sure block @id is covered by the persisted mark before it is used.
 * The next mark is asked for once the cursor is half way to the current
 * one, so that it is normally on disk before it is needed.
 */
static int mark_cover(struct keysrc_sim *s, uint64_t id)
{
	if (id + s->mark_ahead / 2 > s->mark_asked) {
		s->mark_asked = id + s->mark_ahead;
		s->mark = mark_ask(&s->writer, s->mark_asked);
	}
	if (id <= s->mark)
		return 0;
	if (mark_wait(&s->writer, id, &s->mark)) {
		s->mark_asked = s->mark;	/* ask again next time */
		return -EIO;
	}
	return 0;
}

/* ---- block store ---- */

/*
 * The store keeps only which bytes of each recent block were handed out:
 * the bytes themselves are derived from the seed when they are handed out
 * (AES-CTR can start at any 16-byte boundary), so no block material sits
 * in memory between requests.
 */
static void block_drop(struct sim_block *b)
{
	free(b->used);
	memset(b, 0, sizeof(*b));
}

/* Bytes [off, off + len) of block @id into @out. */
static int derive_range(struct keysrc_sim *s, uint64_t id, uint32_t off,
			uint32_t len, uint8_t *out)
{
	uint8_t iv[16], skip[16] = { 0 };
	uint32_t lead = off % 16;
	int outl, i, ok;

	for (i = 0; i < 8; i++) {
		iv[i] = (uint8_t)(id >> (56 - 8 * i));
		iv[8 + i] = (uint8_t)((uint64_t)(off / 16) >> (56 - 8 * i));
	}
	memset(out, 0, len);
	ok = EVP_EncryptInit_ex(s->cipher, NULL, NULL, NULL, iv) == 1 &&
	     (!lead || EVP_EncryptUpdate(s->cipher, skip, &outl, skip,
					 (int)lead) == 1) &&
	     EVP_EncryptUpdate(s->cipher, out, &outl, out, (int)len) == 1;
	OPENSSL_cleanse(skip, sizeof(skip));
	if (!ok) {
		OPENSSL_cleanse(out, len);
		return -EIO;
	}
	return 0;
}

/*
 * The store slot for block @id, started if it is not there yet.  A slot
 * holding an older block is evicted, and everything up to it is gone.
 */
static int block_load(struct keysrc_sim *s, uint64_t id, struct sim_block **out)
{
	struct sim_block *b = &s->store[id % s->window];
	int rc;

	if (b->used && b->id == id) {
		*out = b;
		return 0;
	}
	rc = mark_cover(s, id);
	if (rc)
		return rc;
	if (b->used) {
		if (b->id + 1 > s->floor)
			s->floor = b->id + 1;
		block_drop(b);
	}
	b->used = calloc((s->src.block_size + 7) / 8, 1);
	if (!b->used)
		return -ENOMEM;
	b->id = id;
	*out = b;
	return 0;
}

static bool range_free(const struct sim_block *b, uint32_t off, uint32_t len)
{
	for (uint32_t i = off; i < off + len; i++)
		if (b->used[i / 8] & (1u << (i % 8)))
			return false;
	return true;
}

/* Hand out (or just burn, @out NULL) a free range of block @b. */
static int range_take(struct keysrc_sim *s, struct sim_block *b,
		      uint32_t off, uint32_t len, uint8_t *out)
{
	/* Marked first: a failure below wastes the range, never reuses it. */
	for (uint32_t i = off; i < off + len; i++) {
		if (!(b->used[i / 8] & (1u << (i % 8)))) {
			b->used[i / 8] |= (uint8_t)(1u << (i % 8));
			b->n_used++;
		}
	}
	return out ? derive_range(s, b->id, off, len, out) : 0;
}

/* ---- own share ---- */

static uint64_t next_own_block(const struct keysrc_sim *s, uint64_t id)
{
	if (!keysrc_block_is_own(s->src.role, id))
		id++;
	return id;
}

/* Move the cursor past evicted blocks and onto this end's share. */
static void cursor_settle(struct keysrc_sim *s)
{
	uint64_t low = lowest_own_block(s);

	if (s->cur_block < low) {
		s->cur_block = low;
		s->cur_off = 0;
	}
	if (!keysrc_block_is_own(s->src.role, s->cur_block)) {
		s->cur_block++;
		s->cur_off = 0;
	}
}

static uint64_t sim_avail(struct keysrc *src)
{
	struct keysrc_sim *s = to_sim(src);
	uint64_t cur = generated_block(s);
	uint64_t blk, n;

	cursor_settle(s);
	blk = s->cur_block;
	if (blk >= cur)
		return 0;
	n = (cur - blk + 1) / 2;	/* own blocks in [blk, cur) */
	return n * src->block_size - s->cur_off;
}

/*
 * Where the next @count keys of @len bytes would go, as in qkd.ko: a key
 * never spans blocks; a tail too short for one is wasted.
 */
static bool plan_fits(struct keysrc_sim *s, uint32_t len, uint32_t count)
{
	uint64_t cur = generated_block(s);
	uint64_t blk = s->cur_block;
	uint32_t off = s->cur_off;
	uint32_t bs = s->src.block_size;

	while (count) {
		if (blk >= cur)
			return false;
		uint32_t fit = (bs - off) / len;

		if (fit >= count)
			return true;
		count -= fit;
		blk += 2;
		off = 0;
	}
	return true;
}

static int sim_alloc(struct keysrc *src, uint32_t len, uint32_t count,
		     struct keysrc_key *keys, uint8_t *bytes,
		     char *err, size_t errlen)
{
	struct keysrc_sim *s = to_sim(src);
	struct sim_block *b;
	int rc;

	if (len == 0 || len > src->block_size || count == 0 ||
	    count > QKD_KEY_COUNT_MAX) {
		snprintf(err, errlen, "bad key length or count");
		return -EINVAL;
	}
	cursor_settle(s);
	if (!plan_fits(s, len, count)) {
		snprintf(err, errlen, "not enough key in pool");
		return -ENOSPC;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t blk = s->cur_block;
		uint32_t off = s->cur_off;

		if (off + len > src->block_size) {
			blk += 2;
			off = 0;
		}
		rc = block_load(s, blk, &b);
		if (rc) {
			snprintf(err, errlen, "key store: %s", strerror(-rc));
			/* Keys already cut stay consumed: wasted, never reused. */
			return rc;
		}
		rc = range_take(s, b, off, len, bytes + (size_t)i * len);
		if (rc) {
			snprintf(err, errlen, "key derivation failed");
			return rc;
		}
		keys[i].id = blk << QKD_KEY_ID_OFFSET_BITS | off;
		keys[i].len = len;
		keys[i].gen_time_ns = block_gen_time_ns(s, blk);
		s->cur_block = blk;
		s->cur_off = off + len;
		src->allocated += len;
	}
	return 0;
}

/* ---- peer share ---- */

static int check_peer_range(struct keysrc_sim *s, uint64_t key_id,
			    uint32_t len, char *err, size_t errlen)
{
	uint64_t blk = keysrc_block_of(key_id);
	uint32_t off = keysrc_offset_of(key_id);
	uint64_t cur = generated_block(s);
	/* A stopped end makes nothing more: no allowance for skew. */
	uint64_t ahead = s->stopped ? 0 : s->skew;

	if (len == 0 || off >= s->src.block_size ||
	    len > s->src.block_size - off) {
		snprintf(err, errlen, "range outside the block");
		return -EINVAL;
	}
	if (keysrc_block_is_own(s->src.role, blk)) {
		snprintf(err, errlen, "key of this end's share");
		return -EINVAL;
	}
	if (blk < lowest_block(s) || blk >= cur + ahead) {
		snprintf(err, errlen, "block not in the pool");
		return -ENOENT;
	}
	return 0;
}

static int sim_get(struct keysrc *src, uint64_t key_id, uint32_t len,
		   uint8_t *out, uint64_t *gen_time_ns, char *err, size_t errlen)
{
	struct keysrc_sim *s = to_sim(src);
	uint64_t blk = keysrc_block_of(key_id);
	uint32_t off = keysrc_offset_of(key_id);
	struct sim_block *b;
	int rc;

	rc = check_peer_range(s, key_id, len, err, errlen);
	if (!rc) {
		rc = block_load(s, blk, &b);
		if (rc)
			snprintf(err, errlen, "key store: %s", strerror(-rc));
	}
	if (!rc && !range_free(b, off, len)) {
		snprintf(err, errlen, "key already handed out");
		rc = -EALREADY;
	}
	if (rc) {
		src->fetch_failures++;
		return rc;
	}
	rc = range_take(s, b, off, len, out);
	if (rc) {
		snprintf(err, errlen, "key derivation failed");
		src->fetch_failures++;
		return rc;
	}
	if (gen_time_ns)
		*gen_time_ns = block_gen_time_ns(s, blk);
	src->fetched += len;
	return 0;
}

static int sim_discard(struct keysrc *src, uint64_t key_id, uint32_t len)
{
	struct keysrc_sim *s = to_sim(src);
	uint64_t blk = keysrc_block_of(key_id);
	uint32_t off = keysrc_offset_of(key_id);
	struct sim_block *b = &s->store[blk % s->window];

	if (len == 0 || off >= src->block_size || len > src->block_size - off)
		return -EINVAL;
	/* A block not in the store has nothing left to zeroise. */
	if (!b->used || b->id != blk)
		return 0;
	range_take(s, b, off, len, NULL);
	src->discarded += len;
	return 0;
}

static bool sim_is_up(struct keysrc *src)
{
	return !to_sim(src)->stopped;
}

static int sim_set_generation(struct keysrc *src, bool run, char *err,
			      size_t errlen)
{
	struct keysrc_sim *s = to_sim(src);
	uint64_t cur = keysrc_sim_current_block(src);

	if (run == !s->stopped)
		return 0;
	if (!run) {
		s->stop_block = cur;
	} else if (cur > s->floor) {
		/*
		 * The blocks of the gap were never made here; dropping
		 * everything below the clock's block keeps that one rule
		 * (floor) instead of a list of gaps.
		 */
		s->floor = cur;
	}
	s->stopped = !run;
	return 0;
}

static void sim_generation(struct keysrc *src, struct keysrc_gen *out)
{
	struct keysrc_sim *s = to_sim(src);

	out->control = true;
	out->running = !s->stopped;
	/* Every simulated bit is secret key: no sifting, no errors. */
	out->has_skr = true;
	out->skr_bps = s->stopped ? 0 : s->rate;
}

static void sim_free(struct keysrc *src)
{
	struct keysrc_sim *s = to_sim(src);

	if (s->store)
		for (uint64_t i = 0; i < s->window; i++)
			block_drop(&s->store[i]);
	mark_writer_stop(&s->writer);
	free(s->store);
	EVP_CIPHER_CTX_free(s->cipher);
	if (s->seed)
		OPENSSL_secure_clear_free(s->seed, 32);
	free(s->mark_path);
	free(s);
}

static const struct keysrc_ops sim_ops = {
	.alloc = sim_alloc,
	.get = sim_get,
	.discard = sim_discard,
	.avail = sim_avail,
	.is_up = sim_is_up,
	.free = sim_free,
	.set_generation = sim_set_generation,
	.generation = sim_generation,
};

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static int sim_setup(struct keysrc_sim *s, const struct keysrc_sim_cfg *cfg,
		     char *err, size_t errlen)
{
	int have_mark;

	s->seed = OPENSSL_secure_malloc(32);
	s->cipher = EVP_CIPHER_CTX_new();
	if (asprintf(&s->mark_path, "%s/%s.hwm", cfg->state_dir,
		     cfg->link_name) < 0)
		s->mark_path = NULL;
	s->window = clamp_u64(blocks_per_ms(s, SIM_WINDOW_SEC * 1000),
			      SIM_WINDOW_MIN, SIM_WINDOW_MAX);
	s->store = calloc(s->window, sizeof(*s->store));
	if (!s->seed || !s->cipher || !s->mark_path || !s->store) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(s->seed, cfg->seed, 32);
	if (EVP_EncryptInit_ex(s->cipher, EVP_aes_256_ctr(), NULL, s->seed,
			       NULL) != 1) {
		snprintf(err, errlen, "AES-256-CTR unavailable");
		return -1;
	}
	s->skew = clamp_u64(blocks_per_ms(s, SIM_SKEW_MS), 2, s->window / 4);
	s->mark_ahead = clamp_u64(blocks_per_ms(s, SIM_MARK_AHEAD_SEC * 1000),
				  SIM_MARK_AHEAD_MIN, UINT32_MAX);
	have_mark = mark_read(s->mark_path, &s->mark, err, errlen);
	if (have_mark < 0)
		return -1;
	/*
	 * As with a card, blocks arrive whether or not a daemon runs: the
	 * first start sees the whole window (the two ends' daemons need not
	 * start together).  A restart begins just above the mark: everything
	 * at or below it may have been used by a predecessor, nothing above
	 * it was.
	 */
	s->start = have_mark ? s->mark + 1 : 0;
	s->floor = s->start;
	s->cur_block = next_own_block(s, s->start);
	if (mark_write(s->mark_path, s->mark) != 0) {
		snprintf(err, errlen, "%s: cannot write: %s", s->mark_path,
			 strerror(errno));
		return -1;
	}
	s->mark_asked = s->mark;
	if (mark_writer_start(&s->writer, s->mark_path, s->mark)) {
		snprintf(err, errlen, "cannot start the mark writer");
		return -1;
	}
	return 0;
}

struct keysrc *keysrc_sim_new(const struct keysrc_sim_cfg *cfg,
			      char *err, size_t errlen)
{
	struct keysrc_sim *s;

	if (!cfg->seed || !cfg->link_name || !cfg->state_dir ||
	    cfg->rate == 0 || cfg->block_size < 16 ||
	    cfg->block_size > QKD_BLOCK_SIZE_MAX ||
	    (cfg->role != QKD_ROLE_TX && cfg->role != QKD_ROLE_RX)) {
		snprintf(err, errlen, "sim link: bad parameters");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->src.ops = &sim_ops;
	s->src.kind = "sim";
	s->src.role = cfg->role;
	s->src.block_size = cfg->block_size;
	s->rate = cfg->rate;
	s->now_ns = cfg->now_ns ? cfg->now_ns : real_now_ns;
	s->now_arg = cfg->now_arg;
	if (sim_setup(s, cfg, err, errlen)) {
		sim_free(&s->src);
		return NULL;
	}
	return &s->src;
}
