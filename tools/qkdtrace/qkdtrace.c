// SPDX-License-Identifier: GPL-2.0
/*
 * qkdtrace: key flow, block age histograms and link events of qkd.ko, from
 * its tracepoints through BPF (ITU-T Y.3802 7.4, performance management).
 *
 * Only metadata is ever shown: link indices, block and key counts, byte
 * counts, ages, states, QBER.  The tracepoints carry no key bytes.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include <linux/qkd.h>

#include "qkdtrace.h"
#include "qkdtrace.skel.h"

_Static_assert(QKDTRACE_KEY_ID_OFFSET_BITS == QKD_KEY_ID_OFFSET_BITS,
	       "key ID layout differs from uapi/linux/qkd.h");

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum mode { MODE_FLOW, MODE_LATENCY, MODE_EVENTS };

struct options {
	enum mode mode;
	double interval_s;	/* 0: latency prints only at the end */
	double duration_s;	/* 0: until SIGINT/SIGTERM */
	bool json;
	bool verbose;
};

static const char *prog = "qkdtrace";
static volatile sig_atomic_t stop;

static void usage(FILE *out)
{
	fprintf(out,
"Usage: qkdtrace [-i SECONDS] [-d DURATION] [-j] [-v] [flow|latency|events]\n"
"\n"
"Traces qkd.ko, the QKD device core, through its tracepoints (the events\n"
"under /sys/kernel/tracing/events/qkd/) with BPF programs, and reports key\n"
"flow, key block ages and link events per link end.  Link ends are named by\n"
"their QKD_A_LINK_INDEX, the N of /sys/class/qkd/qkdN.  Only metadata is\n"
"shown: the tracepoints carry no key bytes.\n"
"\n"
"Commands:\n"
"  flow      (default) every interval, per link end: blocks and bytes\n"
"            ingested into the pool; keys and bytes allocated (KEY_ALLOC),\n"
"            fetched (KEY_GET or in-kernel consumers) and discarded; blocks\n"
"            evicted from a full pool; blocks and bytes dropped at ingest,\n"
"            with the kernel's reason (bad, qber, order, ...).  Counts\n"
"            are for the interval, not since the start.\n"
"  latency   log2 histograms of block age, in microseconds, when a key is\n"
"            allocated or fetched: the time since this end ingested the\n"
"            block the key was cut from.  Blocks ingested before qkdtrace\n"
"            started are not counted.  Printed at the end, or every\n"
"            interval with -i.\n"
"  events    streams link state changes, QBER alarms and DMA errors as\n"
"            they happen.\n"
"\n"
"Options:\n"
"  -i, --interval SECONDS  report period (flow: default 1; latency: print\n"
"                          and reset the histograms every SECONDS)\n"
"  -d, --duration SECONDS  stop after SECONDS (default: run until Ctrl-C)\n"
"  -j, --json              JSON output, one object per line\n"
"  -v, --verbose           show libbpf's messages\n"
"  -h, --help              this text\n"
"\n"
"JSON objects:\n"
"  flow     {\"time\":T,\"interval_s\":S,\"links\":[{\"link\":N,\n"
"           \"ingested\":{\"blocks\":B,\"bytes\":Y},\"allocated\":{\"keys\":K,\n"
"           \"bytes\":Y},\"fetched\":{...},\"discarded\":{...},\n"
"           \"evicted\":{\"blocks\":B},\"dropped\":{\"blocks\":B,\"bytes\":Y,\n"
"           \"reasons\":{\"qber\":{\"blocks\":B,\"bytes\":Y},...}}},...]}\n"
"  latency  {\"time\":T,\"link\":N,\"op\":\"alloc\"|\"fetch\",\"unit\":\"usecs\",\n"
"           \"buckets\":[{\"low\":L,\"high\":H,\"count\":C},...]}\n"
"  events   {\"time\":T,\"link\":N,\"event\":\"link_state\",\"old\":S,\"new\":S}\n"
"           {\"time\":T,\"link\":N,\"event\":\"qber_alarm\",\"qber_ppm\":Q,\n"
"           \"qber_max_ppm\":M}   {\"time\":T,\"link\":N,\"event\":\"dma_error\"}\n"
"  T is CLOCK_REALTIME in seconds; states are down, up, no_carrier, alarm,\n"
"  error.\n"
"\n"
"Needs root (CAP_BPF and CAP_PERFMON) and qkd.ko loaded.  At start the\n"
"layout of every qkd event format is checked against what the BPF programs\n"
"expect; a mismatch (a qkd.ko of another version) is an error.\n"
"\n"
"Exit status: 0 on success, 1 on a runtime error, 2 on bad usage.\n");
}

static void die(int code, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static double parse_seconds(const char *arg, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || v < 0 || v > 1e7)
		die(2, "%s: '%s' is not a number of seconds (0 .. 10000000)",
		    what, arg);
	return v;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool interval_given = false;
	int c;

	*o = (struct options){ .mode = MODE_FLOW };
	while ((c = getopt_long(argc, argv, "i:d:jvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->interval_s = parse_seconds(optarg, "-i");
			if (o->interval_s < 0.01)
				die(2, "-i: the interval must be at least 0.01 s");
			interval_given = true;
			break;
		case 'd':
			o->duration_s = parse_seconds(optarg, "-d");
			break;
		case 'j':
			o->json = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try '%s --help'.\n", prog);
			exit(2);
		}
	}
	if (optind < argc) {
		const char *m = argv[optind++];

		if (!strcmp(m, "flow"))
			o->mode = MODE_FLOW;
		else if (!strcmp(m, "latency"))
			o->mode = MODE_LATENCY;
		else if (!strcmp(m, "events"))
			o->mode = MODE_EVENTS;
		else
			die(2, "unknown command '%s' (flow, latency or events)", m);
	}
	if (optind < argc)
		die(2, "unexpected argument '%s'", argv[optind]);
	if (o->mode == MODE_FLOW && !interval_given)
		o->interval_s = 1;
}

/* ---- time --------------------------------------------------------------- */

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double real_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wall-clock seconds of a bpf_ktime_get_ns() (CLOCK_MONOTONIC) stamp. */
static double mono_ns_to_real(__u64 ns)
{
	return real_now() - mono_now() + ns / 1e9;
}

static void print_clock(double real, bool millis)
{
	time_t t = (time_t)real;
	struct tm tm;
	char buf[16];

	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
	if (millis)
		printf("%s.%03d", buf, (int)((real - t) * 1000));
	else
		printf("%s", buf);
}

static void print_json(json_t *obj)
{
	if (!obj)
		die(1, "out of memory building JSON");
	json_dumpf(obj, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(obj);
}

/* ---- the kernel's event layout ------------------------------------------ */

/* Where qkdtrace.bpf.c expects each field; keep in sync with its structs. */
struct field_layout {
	const char *event, *field;
	unsigned int offset, size;
};

static const struct field_layout expected_layout[] = {
	{ "qkd_ingest", "link", 8, 4 },
	{ "qkd_ingest", "block_id", 16, 8 },
	{ "qkd_ingest", "len", 24, 4 },
	{ "qkd_block_evict", "link", 8, 4 },
	{ "qkd_block_evict", "block_id", 16, 8 },
	{ "qkd_block_evict", "count", 24, 4 },
	{ "qkd_block_drop", "link", 8, 4 },
	{ "qkd_block_drop", "block_id", 16, 8 },
	{ "qkd_block_drop", "len", 24, 4 },
	{ "qkd_block_drop", "reason", 28, 4 },
	{ "qkd_key_alloc", "link", 8, 4 },
	{ "qkd_key_alloc", "key_id", 16, 8 },
	{ "qkd_key_alloc", "len", 24, 4 },
	{ "qkd_key_fetch", "link", 8, 4 },
	{ "qkd_key_fetch", "key_id", 16, 8 },
	{ "qkd_key_fetch", "len", 24, 4 },
	{ "qkd_key_discard", "link", 8, 4 },
	{ "qkd_key_discard", "key_id", 16, 8 },
	{ "qkd_key_discard", "len", 24, 4 },
	{ "qkd_link_state", "link", 8, 4 },
	{ "qkd_link_state", "old_state", 12, 1 },
	{ "qkd_link_state", "new_state", 13, 1 },
	{ "qkd_qber_alarm", "link", 8, 4 },
	{ "qkd_qber_alarm", "qber_ppm", 12, 4 },
	{ "qkd_qber_alarm", "qber_max_ppm", 16, 4 },
	{ "qkd_dma_error", "link", 8, 4 },
};

static const char *tracefs_dir(void)
{
	static const char *const dirs[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/events", dirs[i]);
		if (access(path, F_OK) == 0)
			return dirs[i];
	}
	return NULL;
}

/*
 * Finds "field:<type> <name>;\toffset:N;\tsize:M;" for @name in a format
 * file.  Returns 0 and fills @offset/@size, or -ENOENT.
 */
static int find_field(FILE *f, const char *name, unsigned int *offset,
		      unsigned int *size)
{
	char line[512], *decl, *semi, *last;

	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		decl = strstr(line, "field:");
		if (!decl)
			continue;
		semi = strchr(decl, ';');
		if (!semi)
			continue;
		*semi = '\0';
		last = strrchr(decl, ' ');
		last = last ? last + 1 : decl + strlen("field:");
		last[strcspn(last, "[")] = '\0';
		if (strcmp(last, name))
			continue;
		if (sscanf(semi + 1, " offset:%u; size:%u;", offset, size) != 2)
			return -EINVAL;
		return 0;
	}
	return -ENOENT;
}

/* Checks every field the BPF programs read against the running module. */
static void check_event_layout(void)
{
	const char *dir = tracefs_dir();
	char path[PATH_MAX];
	unsigned int off, size;
	size_t i;
	FILE *f;
	int err;

	if (!dir)
		die(1, "tracefs not found (mount -t tracefs nodev /sys/kernel/tracing)");
	for (i = 0; i < ARRAY_SIZE(expected_layout); i++) {
		const struct field_layout *e = &expected_layout[i];

		snprintf(path, sizeof(path), "%s/events/qkd/%s/format", dir,
			 e->event);
		f = fopen(path, "r");
		if (!f)
			die(1, "%s: %s (is qkd.ko loaded?)", path, strerror(errno));
		err = find_field(f, e->field, &off, &size);
		fclose(f);
		if (err)
			die(1, "%s: no field '%s': qkd.ko's tracepoints changed, rebuild qkdtrace",
			    path, e->field);
		if (off != e->offset || size != e->size)
			die(1, "%s: field '%s' is at offset %u size %u, qkdtrace expects %u/%u: rebuild qkdtrace",
			    path, e->field, off, size, e->offset, e->size);
	}
}

/* ---- flow --------------------------------------------------------------- */

/* Totals last read from the maps, and the change since the read before. */
struct flow_seen {
	__u32 link;
	struct qkdtrace_link_flow total, delta;
};

struct drop_seen {
	struct qkdtrace_drop_key key;
	struct qkdtrace_count total, delta;
};

struct flow_state {
	struct flow_seen *links;
	size_t n_links;
	struct drop_seen *drops;
	size_t n_drops;
};

static void *grow(void *array, size_t n, size_t size)
{
	void *p = realloc(array, (n + 1) * size);

	if (!p)
		die(1, "out of memory");
	return p;
}

static void count_delta(struct qkdtrace_count *total,
			struct qkdtrace_count *delta,
			const struct qkdtrace_count *now)
{
	delta->events = now->events - total->events;
	delta->bytes = now->bytes - total->bytes;
	*total = *now;
}

static struct flow_seen *link_seen(struct flow_state *st, __u32 link)
{
	size_t i;

	for (i = 0; i < st->n_links; i++)
		if (st->links[i].link == link)
			return &st->links[i];
	st->links = grow(st->links, st->n_links, sizeof(*st->links));
	st->links[i] = (struct flow_seen){ .link = link };
	st->n_links++;
	return &st->links[i];
}

static struct drop_seen *drop_seen(struct flow_state *st,
				   const struct qkdtrace_drop_key *key)
{
	size_t i;

	for (i = 0; i < st->n_drops; i++)
		if (!memcmp(&st->drops[i].key, key, sizeof(*key)))
			return &st->drops[i];
	st->drops = grow(st->drops, st->n_drops, sizeof(*st->drops));
	st->drops[i] = (struct drop_seen){ .key = *key };
	st->n_drops++;
	return &st->drops[i];
}

/*
 * The BPF maps hold totals since qkdtrace started (never deleted from, so
 * no update is lost to a race); the interval's figures are differences.
 */
static void flow_collect(struct qkdtrace_bpf *skel, struct flow_state *st)
{
	int flows_fd = bpf_map__fd(skel->maps.flows);
	int drops_fd = bpf_map__fd(skel->maps.drops);
	struct qkdtrace_drop_key dkey, dnext, *dprev = NULL;
	struct qkdtrace_link_flow now;
	struct qkdtrace_count dnow;
	__u32 link, next, *prev = NULL;
	struct flow_seen *ls;
	struct drop_seen *ds;
	size_t i;
	int f;

	for (i = 0; i < st->n_links; i++)
		memset(&st->links[i].delta, 0, sizeof(st->links[i].delta));
	for (i = 0; i < st->n_drops; i++)
		memset(&st->drops[i].delta, 0, sizeof(st->drops[i].delta));

	while (bpf_map_get_next_key(flows_fd, prev, &next) == 0) {
		link = next;
		prev = &link;
		if (bpf_map_lookup_elem(flows_fd, &link, &now))
			continue;
		ls = link_seen(st, link);
		for (f = 0; f < QKDTRACE_FLOW_MAX; f++)
			count_delta(&ls->total.flow[f], &ls->delta.flow[f],
				    &now.flow[f]);
	}
	while (bpf_map_get_next_key(drops_fd, dprev, &dnext) == 0) {
		dkey = dnext;
		dprev = &dkey;
		if (bpf_map_lookup_elem(drops_fd, &dkey, &dnow))
			continue;
		ds = drop_seen(st, &dkey);
		count_delta(&ds->total, &ds->delta, &dnow);
	}
}

static const char *const flow_names[QKDTRACE_FLOW_MAX] = {
	[QKDTRACE_INGESTED] = "ingested",
	[QKDTRACE_ALLOCATED] = "allocated",
	[QKDTRACE_FETCHED] = "fetched",
	[QKDTRACE_DISCARDED] = "discarded",
	[QKDTRACE_EVICTED] = "evicted",
	[QKDTRACE_DROPPED] = "dropped",
};

/* Key flows count keys; block flows count blocks. */
static bool flow_counts_keys(int f)
{
	return f == QKDTRACE_ALLOCATED || f == QKDTRACE_FETCHED ||
	       f == QKDTRACE_DISCARDED;
}

static json_t *flow_link_json(const struct flow_state *st,
			      const struct flow_seen *ls)
{
	json_t *link = json_pack("{s:I}", "link", (json_int_t)ls->link);
	json_t *reasons = json_object();
	const struct qkdtrace_count *c;
	size_t i;
	int f;

	for (f = 0; f < QKDTRACE_FLOW_MAX; f++) {
		c = &ls->delta.flow[f];
		if (f == QKDTRACE_EVICTED)
			json_object_set_new(link, flow_names[f],
				json_pack("{s:I}", "blocks", (json_int_t)c->events));
		else
			json_object_set_new(link, flow_names[f],
				json_pack("{s:I,s:I}",
					  flow_counts_keys(f) ? "keys" : "blocks",
					  (json_int_t)c->events,
					  "bytes", (json_int_t)c->bytes));
	}
	for (i = 0; i < st->n_drops; i++) {
		const struct drop_seen *ds = &st->drops[i];

		if (ds->key.link != ls->link || !ds->delta.events)
			continue;
		json_object_set_new(reasons, ds->key.reason,
			json_pack("{s:I,s:I}", "blocks", (json_int_t)ds->delta.events,
				  "bytes", (json_int_t)ds->delta.bytes));
	}
	json_object_set_new(json_object_get(link, "dropped"), "reasons", reasons);
	return link;
}

static void flow_report_json(const struct flow_state *st, double interval_s)
{
	json_t *links = json_array();
	size_t i;

	for (i = 0; i < st->n_links; i++)
		json_array_append_new(links, flow_link_json(st, &st->links[i]));
	print_json(json_pack("{s:f,s:f,s:o}", "time", real_now(),
			     "interval_s", interval_s, "links", links));
}

static void flow_report_text(const struct flow_state *st, bool header)
{
	const struct qkdtrace_count *d;
	size_t i, j;

	if (header)
		printf("%-8s %5s %19s %19s %19s %19s %7s %19s  %s\n", "TIME",
		       "LINK", "INGESTED blk/bytes", "ALLOCATED keys/bytes",
		       "FETCHED keys/bytes", "DISCARDED keys/bytes", "EVICTED",
		       "DROPPED blk/bytes", "DROP REASONS");
	for (i = 0; i < st->n_links; i++) {
		const struct flow_seen *ls = &st->links[i];
		char cell[QKDTRACE_FLOW_MAX][32];
		int reasons = 0;

		for (j = 0; j < QKDTRACE_FLOW_MAX; j++) {
			d = &ls->delta.flow[j];
			snprintf(cell[j], sizeof(cell[j]), "%llu/%llu",
				 (unsigned long long)d->events,
				 (unsigned long long)d->bytes);
		}
		print_clock(real_now(), false);
		printf(" %5u %19s %19s %19s %19s %7llu %19s", ls->link,
		       cell[QKDTRACE_INGESTED], cell[QKDTRACE_ALLOCATED],
		       cell[QKDTRACE_FETCHED], cell[QKDTRACE_DISCARDED],
		       (unsigned long long)ls->delta.flow[QKDTRACE_EVICTED].events,
		       cell[QKDTRACE_DROPPED]);
		for (j = 0; j < st->n_drops; j++) {
			const struct drop_seen *ds = &st->drops[j];

			if (ds->key.link == ls->link && ds->delta.events)
				printf("%s%s:%llu", reasons++ ? " " : "  ",
				       ds->key.reason,
				       (unsigned long long)ds->delta.events);
		}
		putchar('\n');
	}
	if (!st->n_links && header)
		printf("(no qkd activity yet)\n");
}

/* ---- latency ------------------------------------------------------------ */

static const char *const latency_ops[] = {
	[QKDTRACE_LAT_ALLOC] = "alloc",
	[QKDTRACE_LAT_FETCH] = "fetch",
};

/* One histogram as read from the map. */
struct histogram {
	__u32 link, op;
	__u64 slots[QKDTRACE_HIST_SLOTS];
};

/* Slot 0 holds ages of 0 us; slot s >= 1 holds 2^(s-1) .. 2^s - 1 us. */
static unsigned long long slot_low(int s)
{
	return s ? 1ULL << (s - 1) : 0;
}

static unsigned long long slot_high(int s)
{
	return s ? (1ULL << s) - 1 : 0;
}

/* Reads (and, if @reset, clears) the histogram map, one per link and op. */
static size_t latency_collect(struct qkdtrace_bpf *skel,
			      struct histogram **out, bool reset)
{
	int fd = bpf_map__fd(skel->maps.latency_hist);
	struct qkdtrace_hist_key key, next, *prev = NULL;
	struct histogram *h = NULL;
	size_t n = 0, i;
	__u64 v;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v) ||
		    key.slot >= QKDTRACE_HIST_SLOTS)
			continue;
		for (i = 0; i < n && (h[i].link != key.link || h[i].op != key.op); i++)
			;
		if (i == n) {
			h = grow(h, n, sizeof(*h));
			h[n++] = (struct histogram){ .link = key.link, .op = key.op };
		}
		h[i].slots[key.slot] += v;
	}
	if (reset) {
		while (bpf_map_get_next_key(fd, NULL, &next) == 0)
			bpf_map_delete_elem(fd, &next);
	}
	*out = h;
	return n;
}

static void print_stars(__u64 v, __u64 max, int width)
{
	int n = max ? (int)(v * width / max) : 0, i;

	for (i = 0; i < width; i++)
		putchar(i < n ? '*' : ' ');
}

static void histogram_text(const struct histogram *h)
{
	int first = QKDTRACE_HIST_SLOTS, last = -1, s;
	__u64 max = 0;

	for (s = 0; s < QKDTRACE_HIST_SLOTS; s++) {
		if (!h->slots[s])
			continue;
		first = first < s ? first : s;
		last = s;
		max = h->slots[s] > max ? h->slots[s] : max;
	}
	printf("\nlink %u, key %s: block age\n", h->link,
	       h->op < 2 ? latency_ops[h->op] : "?");
	printf("%24s : %-8s %s\n", "usecs", "count", "distribution");
	for (s = first; s <= last; s++) {
		printf("%10llu -> %-10llu : %-8llu |", slot_low(s), slot_high(s),
		       (unsigned long long)h->slots[s]);
		print_stars(h->slots[s], max, 40);
		printf("|\n");
	}
}

static json_t *histogram_json(const struct histogram *h)
{
	json_t *buckets = json_array();
	int s;

	for (s = 0; s < QKDTRACE_HIST_SLOTS; s++)
		if (h->slots[s])
			json_array_append_new(buckets,
				json_pack("{s:I,s:I,s:I}",
					  "low", (json_int_t)slot_low(s),
					  "high", (json_int_t)slot_high(s),
					  "count", (json_int_t)h->slots[s]));
	return json_pack("{s:f,s:I,s:s,s:s,s:o}", "time", real_now(),
			 "link", (json_int_t)h->link,
			 "op", h->op < 2 ? latency_ops[h->op] : "?",
			 "unit", "usecs", "buckets", buckets);
}

static void latency_report(struct qkdtrace_bpf *skel, const struct options *o)
{
	struct histogram *h;
	size_t n, i;

	n = latency_collect(skel, &h, o->interval_s > 0);
	if (!o->json) {
		print_clock(real_now(), false);
		printf(n ? "\n" : " no keys allocated or fetched from blocks ingested while tracing\n");
	}
	for (i = 0; i < n; i++) {
		if (o->json)
			print_json(histogram_json(&h[i]));
		else
			histogram_text(&h[i]);
	}
	free(h);
}

/* ---- events ------------------------------------------------------------- */

static const char *state_name(__u32 state)
{
	static const char *const names[] = {
		[QKD_LINK_DOWN] = "down",
		[QKD_LINK_UP] = "up",
		[QKD_LINK_NO_CARRIER] = "no_carrier",
		[QKD_LINK_ALARM] = "alarm",
		[QKD_LINK_ERROR] = "error",
	};

	return state < ARRAY_SIZE(names) && names[state] ?
	       names[state] : "unknown";
}

static int event_json(const struct qkdtrace_event *e)
{
	double t = mono_ns_to_real(e->time_ns);
	json_t *obj;

	switch (e->type) {
	case QKDTRACE_EV_LINK_STATE:
		obj = json_pack("{s:f,s:I,s:s,s:s,s:s}", "time", t,
				"link", (json_int_t)e->link, "event", "link_state",
				"old", state_name(e->a), "new", state_name(e->b));
		break;
	case QKDTRACE_EV_QBER_ALARM:
		obj = json_pack("{s:f,s:I,s:s,s:I,s:I}", "time", t,
				"link", (json_int_t)e->link, "event", "qber_alarm",
				"qber_ppm", (json_int_t)e->a,
				"qber_max_ppm", (json_int_t)e->b);
		break;
	case QKDTRACE_EV_DMA_ERROR:
		obj = json_pack("{s:f,s:I,s:s}", "time", t,
				"link", (json_int_t)e->link, "event", "dma_error");
		break;
	default:
		return 0;
	}
	print_json(obj);
	return 0;
}

static int event_text(const struct qkdtrace_event *e)
{
	print_clock(mono_ns_to_real(e->time_ns), true);
	printf(" link %-4u ", e->link);
	switch (e->type) {
	case QKDTRACE_EV_LINK_STATE:
		printf("state %s -> %s\n", state_name(e->a), state_name(e->b));
		break;
	case QKDTRACE_EV_QBER_ALARM:
		printf("QBER alarm: %u ppm, threshold %u ppm\n", e->a, e->b);
		break;
	case QKDTRACE_EV_DMA_ERROR:
		printf("DMA error: ring reset\n");
		break;
	default:
		printf("unknown event %u\n", e->type);
	}
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct options *o = ctx;

	if (size < sizeof(struct qkdtrace_event))
		return 0;
	if (o->json)
		event_json(data);
	else
		event_text(data);
	fflush(stdout);
	return 0;
}

/* ---- setup and main loop ------------------------------------------------ */

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Without -v, our own one-line errors say enough. */
static int libbpf_print_quiet(enum libbpf_print_level level, const char *fmt,
			      va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

/* Loads only the programs the mode needs: each costs a tracepoint hit. */
static struct qkdtrace_bpf *load_programs(const struct options *o)
{
	bool flow = o->mode == MODE_FLOW, latency = o->mode == MODE_LATENCY;
	bool events = o->mode == MODE_EVENTS;
	struct qkdtrace_bpf *skel;
	int err;

	skel = qkdtrace_bpf__open();
	if (!skel)
		die(1, "cannot open the BPF object: %s", strerror(errno));
	skel->rodata->count_flow = flow;
	skel->rodata->track_latency = latency;
	bpf_program__set_autoload(skel->progs.on_ingest, flow || latency);
	bpf_program__set_autoload(skel->progs.on_evict, flow);
	bpf_program__set_autoload(skel->progs.on_drop, flow);
	bpf_program__set_autoload(skel->progs.on_key_alloc, flow || latency);
	bpf_program__set_autoload(skel->progs.on_key_fetch, flow || latency);
	bpf_program__set_autoload(skel->progs.on_key_discard, flow);
	bpf_program__set_autoload(skel->progs.on_link_state, events);
	bpf_program__set_autoload(skel->progs.on_qber_alarm, events);
	bpf_program__set_autoload(skel->progs.on_dma_error, events);

	err = qkdtrace_bpf__load(skel);
	if (err)
		die(1, "cannot load the BPF programs: %s%s", strerror(-err),
		    err == -EPERM ? " (run as root)" : " (try -v)");
	err = qkdtrace_bpf__attach(skel);
	if (err)
		die(1, "cannot attach to the qkd tracepoints: %s (is qkd.ko loaded?)",
		    strerror(-err));
	return skel;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Sleeps until @deadline (monotonic seconds) or a signal; false on signal. */
static bool sleep_until(double deadline)
{
	double left;
	struct timespec ts;

	while (!stop && (left = deadline - mono_now()) > 0) {
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
	return !stop;
}

static void run_flow(struct qkdtrace_bpf *skel, const struct options *o,
		     double end)
{
	struct flow_state st = {};
	double last = mono_now(), next, now;
	bool header = true;

	while (!stop) {
		next = last + o->interval_s;
		if (end && next > end)
			next = end;
		sleep_until(next);
		now = mono_now();
		flow_collect(skel, &st);
		if (o->json) {
			flow_report_json(&st, now - last);
		} else {
			flow_report_text(&st, header);
			header = false;
		}
		fflush(stdout);
		last = now;
		if (end && now >= end)
			break;
	}
	free(st.links);
	free(st.drops);
}

static void run_latency(struct qkdtrace_bpf *skel, const struct options *o,
			double end)
{
	double next;

	while (!stop) {
		next = o->interval_s ? mono_now() + o->interval_s : end;
		if (!next || (end && next > end))
			next = end;
		if (next)
			sleep_until(next);
		else
			pause();
		latency_report(skel, o);
		fflush(stdout);
		if (end && mono_now() >= end)
			break;
	}
}

static void run_events(struct qkdtrace_bpf *skel, const struct options *o,
		       double end)
{
	struct ring_buffer *rb;
	int err = 0, timeout;

	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event,
			      (void *)o, NULL);
	if (!rb)
		die(1, "cannot open the event ring buffer: %s", strerror(errno));
	if (!o->json)
		printf("%-12s %-9s %s\n", "TIME", "LINK", "EVENT");
	while (!stop) {
		timeout = 100;
		if (end) {
			double left = end - mono_now();

			if (left <= 0)
				break;
			timeout = left < 0.1 ? (int)(left * 1000) + 1 : 100;
		}
		err = ring_buffer__poll(rb, timeout);
		if (err < 0 && err != -EINTR)
			break;
	}
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
	if (err < 0 && err != -EINTR)
		die(1, "reading events: %s", strerror(-err));
}

int main(int argc, char **argv)
{
	static const char *const mode_names[] = { "flow", "latency", "events" };
	struct sigaction sa = { .sa_handler = on_signal };
	struct qkdtrace_bpf *skel;
	struct options o;
	double end;

	parse_args(argc, argv, &o);
	libbpf_set_print(o.verbose ? libbpf_print : libbpf_print_quiet);
	check_event_layout();
	skel = load_programs(&o);

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Tests wait for this line: from here on every event is seen. */
	fprintf(stderr, "%s: tracing qkd %s%s\n", prog, mode_names[o.mode],
		o.duration_s ? "" : ", Ctrl-C to end");
	end = o.duration_s ? mono_now() + o.duration_s : 0;

	switch (o.mode) {
	case MODE_FLOW:
		run_flow(skel, &o, end);
		break;
	case MODE_LATENCY:
		run_latency(skel, &o, end);
		break;
	case MODE_EVENTS:
		run_events(skel, &o, end);
		break;
	}
	qkdtrace_bpf__destroy(skel);
	return 0;
}
