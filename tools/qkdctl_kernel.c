// SPDX-License-Identifier: GPL-2.0
/*
 * qkdctl kernel: the link ends of qkd.ko, straight from the kernel over the
 * "qkd" generic netlink family (uapi/linux/qkd.h), for gateway hosts where
 * qkdkmd is not running or is the thing being debugged.
 *
 *   qkdctl [-s] kernel link show [INDEX]      QKD_CMD_LINK_GET dump or do
 *   qkdctl kernel link set INDEX ...          QKD_CMD_LINK_SET
 *   qkdctl kernel monitor [link] [pool]       the multicast groups
 *
 * The netlink plumbing (socket, family, requests, extack) is the client
 * the kernel selftests use too, tools/lib/qkd_genl.c.
 *
 * Every reply is decoded once into a JSON object (field names as in
 * /sys/class/qkd/qkdN/); "-j" prints that object, the text printers read it.
 * Only LINK_GET, LINK_SET and the notifications are used: none of them
 * carries key bytes, and this file never sends a QKD_CMD_KEY_* request.
 *
 * Bad input is found before the netlink socket is even opened, so nothing is
 * sent: exit 2 with one line on stderr.  Kernel refusals exit 1 with the
 * kernel's extack message and the errno name.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/qkd.h>
#include <libmnl/libmnl.h>
#include <jansson.h>

#include "qkd_genl.h"
#include "qkdctl.h"


void qkdctl_kernel_usage(FILE *out)
{
	fputs(
"\n"
"Kernel commands (qkd.ko over generic netlink; no daemon needed):\n"
"  qkdctl [-s] [-j [-p]] [-n NETNS] kernel link show [INDEX]\n"
"  qkdctl [-n NETNS] kernel link set INDEX [up|down] [qber-max PPM]\n"
"                         [pool-warn BYTES] [pool-ready BYTES]\n"
"                         [netns NAME|PATH]\n"
"  qkdctl [-j] [-n NETNS] kernel monitor [link] [pool]\n"
"  qkdctl kernel help\n"
"\n"
"  link show [INDEX]    every link end in this network namespace (or the\n"
"                       one whose QKD_A_LINK_INDEX is INDEX, the N of\n"
"                       /sys/class/qkd/qkdN): link ID, card name, role\n"
"                       (tx/rx), peer, state (down, up, no-carrier, alarm,\n"
"                       error), QBER and its alarm threshold, secret key\n"
"                       rate, block size, and the key pool: capacity and\n"
"                       blocks held, bytes this end may allocate, level\n"
"                       (empty, warning, low, ready) and its thresholds.\n"
"                       -s adds the QKD_STAT counters (also accepted after\n"
"                       'kernel' or 'show', as before).\n"
"                       -j: an array of objects whose keys are the file\n"
"                       names of /sys/class/qkd/qkdN/ (index, link_id,\n"
"                       state, pool_avail_bytes, ..., stats.<counter>).\n"
"                       Open to every user: it is metadata only.\n"
"  link set INDEX ...   changes one link end; needs CAP_NET_ADMIN.  All\n"
"                       changes are applied together or not at all:\n"
"      up | down        start or stop key generation at this end\n"
"      qber-max PPM     QBER alarm threshold, 1..1000000 parts per million\n"
"                       (blocks above it are dropped)\n"
"      pool-warn BYTES  below this the pool level is 'warning'\n"
"      pool-ready BYTES at or above this the level is 'ready'; warn <= ready\n"
"      netns NAME|PATH  move this end into a network namespace: NAME is\n"
"                       " NETNS_RUN_DIR "/NAME (ip netns add NAME), a PATH\n"
"                       (with a '/') any nsfs file, e.g. /proc/PID/ns/net.\n"
"                       The end leaves this namespace's view at once.\n"
"  monitor [link] [pool]\n"
"                       print events as they come, one line each (JSON\n"
"                       lines with -j), until SIGINT: link state changes,\n"
"                       appearing and leaving ends, QBER alarms (group\n"
"                       'link'); pool level changes and new key (group\n"
"                       'pool', needs CAP_NET_ADMIN).  Default: both groups;\n"
"                       without the capability, only 'link'.  Lines are\n"
"                       \"EVENT INDEX (link ID): ...\", EVENT one of link\n"
"                       (state S, or 'gone': removed or moved away),\n"
"                       qber_alarm, pool (level change), keys_avail (new\n"
"                       blocks, at most every 100 ms); with -j, objects\n"
"                       with \"event\" and the fields of link show.\n"
"\n"
"  Kernel exit status: 0 done, 1 qkd.ko is not loaded or refused the request\n"
"  (its reason is printed, e.g. \"qkdctl: link set: pool WARN threshold\n"
"  above READY (EINVAL)\"), 2 bad usage (nothing was sent to the kernel).\n"
"\n"
"  Examples:\n"
"    qkdctl kernel link set 1 up netns alice\n"
"    qkdctl -n alice -s -j kernel link show 1\n"
"    qkdctl kernel link set 2 qber-max 50000 pool-warn 4096 pool-ready 65536\n"
"    qkdctl -j kernel monitor link\n", out);
}

static void *must(void *p)
{
	if (!p)
		die(EXIT_REFUSED, "out of memory");
	return p;
}

/* ---- command-line values -------------------------------------------- */

/* Plain decimal, no sign, no blanks, at most @max; false otherwise. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static uint32_t parse_index(const char *what, const char *s)
{
	uint64_t v;

	if (!parse_u64(s, UINT32_MAX, &v))
		die(EXIT_USAGE, "%s: '%s' is not a link index (see /sys/class/qkd/)",
		    what, s);
	return (uint32_t)v;
}

/* The value after keyword @key, at @argv[*i + 1]. */
static const char *value_of(int argc, char **argv, int *i, const char *key)
{
	if (*i + 1 >= argc)
		die(EXIT_USAGE, "link set: '%s' needs a value", key);
	return argv[++*i];
}

/* ---- generic netlink ------------------------------------------------ */

/* "CONTEXT: the kernel's reason (ENAME)", exit 1. */
static void die_kernel(const struct qkd_sock *s, const char *context, int err)
{
	const char *name = strerrorname_np(-err);
	const char *hint = "";

	if (err == -EPERM)
		hint = "; this needs CAP_NET_ADMIN";
	die(EXIT_REFUSED, "%s: %s (%s)%s", context,
	    s->ext_msg[0] ? s->ext_msg : strerror(-err),
	    name ? name : "?", hint);
}

/* A socket with the "qkd" family resolved, or exit 1 saying why not. */
static void open_qkd(struct qkd_sock *s)
{
	int err = qkd_open(s, NULL);

	if (err == -ENOENT)
		die(EXIT_REFUSED, "no \"%s\" generic netlink family: is qkd.ko loaded?",
		    QKD_GENL_NAME);
	if (err)
		die_kernel(s, "resolving the qkd family", err);
}

/* ---- decoding: attributes -> JSON ----------------------------------- */

static const char *const role_names[] = { QKD_ROLE_NAMES };
static const char *const state_names[] = { QKD_LINK_STATE_NAMES };
static const char *const level_names[] = { QKD_POOL_LEVEL_NAMES };
static const char *const type_names[] = { QKD_LINK_TYPE_NAMES };

#define NAME_OF(names, v) name_of(names, ARRAY_SIZE(names), v)

/* A name for enum value @v; a newer kernel's value shows as its number. */
static json_t *name_of(const char *const *names, size_t n, unsigned int v)
{
	char num[16];

	if (v < n && names[v])
		return json_string(names[v]);
	snprintf(num, sizeof(num), "%u", v);
	return json_string(num);
}

/* The attributes LINK_GET and the notifications carry, and their types. */
static const enum mnl_attr_data_type link_attr_types[QKD_A_MAX + 1] = {
	[QKD_A_LINK_INDEX] = MNL_TYPE_U32,
	[QKD_A_LINK_ID] = MNL_TYPE_U32,
	[QKD_A_LINK_NAME] = MNL_TYPE_NUL_STRING,
	[QKD_A_LINK_ROLE] = MNL_TYPE_U8,
	[QKD_A_LINK_PEER] = MNL_TYPE_NUL_STRING,
	[QKD_A_LINK_STATE] = MNL_TYPE_U8,
	[QKD_A_LINK_QBER] = MNL_TYPE_U32,
	[QKD_A_LINK_QBER_MAX] = MNL_TYPE_U32,
	[QKD_A_LINK_SKR] = MNL_TYPE_U64,
	[QKD_A_LINK_BLOCK_SIZE] = MNL_TYPE_U32,
	[QKD_A_POOL_CAPACITY] = MNL_TYPE_U32,
	[QKD_A_POOL_BLOCKS] = MNL_TYPE_U32,
	[QKD_A_POOL_AVAIL] = MNL_TYPE_U64,
	[QKD_A_POOL_LEVEL] = MNL_TYPE_U8,
	[QKD_A_POOL_WARN] = MNL_TYPE_U64,
	[QKD_A_POOL_READY] = MNL_TYPE_U64,
	[QKD_A_STATS] = MNL_TYPE_NESTED,
	[QKD_A_LINK_TYPE] = MNL_TYPE_U8,
};

/* Keeps the attributes we know, of the right type; ignores the rest. */
static int link_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type <= QKD_A_MAX && link_attr_types[type] != MNL_TYPE_UNSPEC &&
	    mnl_attr_validate(attr, link_attr_types[type]) == 0)
		tb[type] = attr;
	return MNL_CB_OK;
}

/* jansson integers are signed 64-bit: larger counts are clamped. */
static json_t *json_u64(uint64_t v)
{
	return json_integer(v > LLONG_MAX ? LLONG_MAX : (json_int_t)v);
}

static json_t *stats_to_json(const struct nlattr *nest)
{
	json_t *o = must(json_object());
	const struct nlattr *a;
	const char *name;
	uint16_t type;

	mnl_attr_for_each_nested(a, nest) {
		type = mnl_attr_get_type(a);
		name = qkd_stat_name(type);
		if (name && mnl_attr_validate(a, MNL_TYPE_U64) == 0)
			json_object_set_new(o, name,
					    json_u64(mnl_attr_get_u64(a)));
	}
	return o;
}

static void put_u32(json_t *o, const char *key, const struct nlattr *a)
{
	if (a)
		json_object_set_new(o, key, json_integer(mnl_attr_get_u32(a)));
}

static void put_u64(json_t *o, const char *key, const struct nlattr *a)
{
	if (a)
		json_object_set_new(o, key, json_u64(mnl_attr_get_u64(a)));
}

static void put_str(json_t *o, const char *key, const struct nlattr *a)
{
	if (a)
		json_object_set_new(o, key, json_string(mnl_attr_get_str(a)));
}

/* Whatever link attributes @nlh carries, under their sysfs names. */
static json_t *link_to_json(const struct nlmsghdr *nlh, bool stats)
{
	const struct nlattr *tb[QKD_A_MAX + 1] = { NULL };
	json_t *o = must(json_object());

	mnl_attr_parse(nlh, sizeof(struct genlmsghdr), link_attr_cb, tb);
	put_u32(o, "index", tb[QKD_A_LINK_INDEX]);
	put_u32(o, "link_id", tb[QKD_A_LINK_ID]);
	put_str(o, "name", tb[QKD_A_LINK_NAME]);
	if (tb[QKD_A_LINK_TYPE])
		json_object_set_new(o, "type", NAME_OF(type_names,
				    mnl_attr_get_u8(tb[QKD_A_LINK_TYPE])));
	if (tb[QKD_A_LINK_ROLE])
		json_object_set_new(o, "role", NAME_OF(role_names,
				    mnl_attr_get_u8(tb[QKD_A_LINK_ROLE])));
	put_str(o, "peer", tb[QKD_A_LINK_PEER]);
	if (tb[QKD_A_LINK_STATE])
		json_object_set_new(o, "state", NAME_OF(state_names,
				    mnl_attr_get_u8(tb[QKD_A_LINK_STATE])));
	put_u32(o, "qber_ppm", tb[QKD_A_LINK_QBER]);
	put_u32(o, "qber_max_ppm", tb[QKD_A_LINK_QBER_MAX]);
	put_u64(o, "skr_bps", tb[QKD_A_LINK_SKR]);
	put_u32(o, "block_size", tb[QKD_A_LINK_BLOCK_SIZE]);
	put_u32(o, "pool_capacity", tb[QKD_A_POOL_CAPACITY]);
	put_u32(o, "pool_blocks", tb[QKD_A_POOL_BLOCKS]);
	put_u64(o, "pool_avail_bytes", tb[QKD_A_POOL_AVAIL]);
	if (tb[QKD_A_POOL_LEVEL])
		json_object_set_new(o, "pool_level", NAME_OF(level_names,
				    mnl_attr_get_u8(tb[QKD_A_POOL_LEVEL])));
	put_u64(o, "pool_warn_bytes", tb[QKD_A_POOL_WARN]);
	put_u64(o, "pool_ready_bytes", tb[QKD_A_POOL_READY]);
	if (stats && tb[QKD_A_STATS])
		json_object_set_new(o, "stats", stats_to_json(tb[QKD_A_STATS]));
	return o;
}

/* ---- text output ---------------------------------------------------- */

/* Parts per million as a percentage: 10030 -> "1.003%". */
static const char *ppm_percent(long long ppm, char *buf, size_t size)
{
	snprintf(buf, size, "%lld.%03lld%%", ppm / 10000, ppm / 10 % 1000);
	return buf;
}

static void print_stats(json_t *stats)
{
	const char *key;
	json_t *v;
	int n = 0;

	json_object_foreach(stats, key, v)
		printf("%s%s %lld", n++ % 4 ? "  " : "\n    ", key,
		       json_integer_value(v));
	putchar('\n');
}

static void print_link(json_t *l)
{
	char q[24], qmax[24];

	printf("%lld: %s  link %lld  role %s  peer %s  state %s\n",
	       jnum(l, "index"), jstr(l, "name"), jnum(l, "link_id"),
	       jstr(l, "role"), jstr(l, "peer"), jstr(l, "state"));
	printf("    type %s  qber %s  qber-max %s  skr %lld bit/s  block %lld B\n",
	       jstr(l, "type"), ppm_percent(jnum(l, "qber_ppm"), q, sizeof(q)),
	       ppm_percent(jnum(l, "qber_max_ppm"), qmax, sizeof(qmax)),
	       jnum(l, "skr_bps"), jnum(l, "block_size"));
	printf("    pool %lld/%lld blocks  avail %lld B  level %s  warn %lld B  ready %lld B\n",
	       jnum(l, "pool_blocks"), jnum(l, "pool_capacity"),
	       jnum(l, "pool_avail_bytes"), jstr(l, "pool_level"),
	       jnum(l, "pool_warn_bytes"), jnum(l, "pool_ready_bytes"));
	if (json_object_get(l, "stats")) {
		printf("    statistics:");
		print_stats(json_object_get(l, "stats"));
	}
}

static void print_json(json_t *v, const struct qkdctl_opts *o)
{
	json_dumpf(v, stdout, o->pretty ? JSON_INDENT(2) : JSON_COMPACT);
	putchar('\n');
}

/* ---- link show ------------------------------------------------------ */

struct link_list {
	json_t *links;
	bool stats;
};

static int link_get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_list *list = data;

	json_array_append_new(list->links, link_to_json(nlh, list->stats));
	return MNL_CB_OK;
}

static int link_show(int argc, char **argv, struct qkdctl_opts *o)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct link_list list = { .stats = false };
	bool have_index = false;
	uint32_t index = 0;
	struct nlmsghdr *nlh;
	struct qkd_sock g;
	size_t i;
	json_t *l;
	int err;

	for (int a = 0; a < argc; a++) {
		if (!strcmp(argv[a], "-s") || !strcmp(argv[a], "--stats")) {
			o->stats = true;
		} else if (!have_index) {
			index = parse_index("link show", argv[a]);
			have_index = true;
		} else {
			die(EXIT_USAGE, "link show: unexpected argument '%s' (link show [INDEX])",
			    argv[a]);
		}
	}
	list.stats = o->stats;
	list.links = must(json_array());
	open_qkd(&g);
	nlh = qkd_msg(&g, buf, QKD_CMD_LINK_GET, have_index ? 0 : NLM_F_DUMP);
	if (have_index)
		mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, index);
	err = qkd_request(&g, nlh, link_get_cb, &list);
	qkd_close(&g);
	if (err)
		die_kernel(&g, "link show", err);
	if (o->json)
		print_json(list.links, o);
	else
		json_array_foreach(list.links, i, l)
			print_link(l);
	json_decref(list.links);
	return fflush(stdout) ? EXIT_REFUSED : 0;
}

/* ---- link set ------------------------------------------------------- */

struct link_change {
	uint32_t index;
	int state;		/* QKD_LINK_UP/DOWN, or -1: unchanged */
	bool set_qber_max, set_warn, set_ready;
	uint32_t qber_max;
	uint64_t warn, ready;
	const char *netns;	/* NAME or PATH, or NULL */
};

static void once(bool already, const char *key)
{
	if (already)
		die(EXIT_USAGE, "link set: '%s' given twice", key);
}

static uint64_t number_arg(const char *key, const char *s, uint64_t min,
			   uint64_t max)
{
	uint64_t v;

	if (!parse_u64(s, max, &v) || v < min)
		die(EXIT_USAGE, "link set: %s: '%s' is not a number in %llu..%llu",
		    key, s, (unsigned long long)min, (unsigned long long)max);
	return v;
}

/* Everything checked here: a bad word exits before anything is sent. */
static void parse_link_set(int argc, char **argv, struct link_change *c)
{
	const char *k;

	if (argc < 1)
		die(EXIT_USAGE, "link set: which link? (link set INDEX ...)");
	c->index = parse_index("link set", argv[0]);
	c->state = -1;
	for (int i = 1; i < argc; i++) {
		k = argv[i];
		if (!strcmp(k, "up") || !strcmp(k, "down")) {
			if (c->state >= 0)
				die(EXIT_USAGE, "link set: 'up' or 'down', once");
			c->state = !strcmp(k, "up") ? QKD_LINK_UP : QKD_LINK_DOWN;
		} else if (!strcmp(k, "qber-max")) {
			once(c->set_qber_max, k);
			c->set_qber_max = true;
			c->qber_max = (uint32_t)number_arg(k,
				value_of(argc, argv, &i, k), 1, QKD_QBER_PPM_MAX);
		} else if (!strcmp(k, "pool-warn")) {
			once(c->set_warn, k);
			c->set_warn = true;
			c->warn = number_arg(k, value_of(argc, argv, &i, k), 0,
					     UINT64_MAX);
		} else if (!strcmp(k, "pool-ready")) {
			once(c->set_ready, k);
			c->set_ready = true;
			c->ready = number_arg(k, value_of(argc, argv, &i, k), 0,
					      UINT64_MAX);
		} else if (!strcmp(k, "netns")) {
			once(c->netns, k);
			c->netns = value_of(argc, argv, &i, k);
			if (!*c->netns)
				die(EXIT_USAGE, "link set: netns: empty name");
		} else {
			die(EXIT_USAGE, "link set: unknown word '%s' (up, down, qber-max, pool-warn, pool-ready, netns)",
			    k);
		}
	}
	if (c->state < 0 && !c->set_qber_max && !c->set_warn &&
	    !c->set_ready && !c->netns)
		die(EXIT_USAGE, "link set: nothing to change");
}

static int link_set(int argc, char **argv)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct link_change c = { 0 };
	struct nlmsghdr *nlh;
	struct qkd_sock g;
	int err, ns_fd = -1;

	parse_link_set(argc, argv, &c);
	if (c.netns)
		ns_fd = open_netns("link set", c.netns);
	open_qkd(&g);
	nlh = qkd_msg(&g, buf, QKD_CMD_LINK_SET, 0);
	mnl_attr_put_u32(nlh, QKD_A_LINK_INDEX, c.index);
	if (c.state >= 0)
		mnl_attr_put_u8(nlh, QKD_A_LINK_STATE, (uint8_t)c.state);
	if (c.set_qber_max)
		mnl_attr_put_u32(nlh, QKD_A_LINK_QBER_MAX, c.qber_max);
	if (c.set_warn)
		mnl_attr_put_u64(nlh, QKD_A_POOL_WARN, c.warn);
	if (c.set_ready)
		mnl_attr_put_u64(nlh, QKD_A_POOL_READY, c.ready);
	if (ns_fd >= 0)
		mnl_attr_put_u32(nlh, QKD_A_NETNS_FD, (uint32_t)ns_fd);
	err = qkd_request(&g, nlh, NULL, NULL);
	qkd_close(&g);
	if (ns_fd >= 0)
		close(ns_fd);
	if (err)
		die_kernel(&g, "link set", err);
	return 0;
}

/* ---- monitor -------------------------------------------------------- */

static volatile sig_atomic_t monitor_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	monitor_stop = 1;
}

static const char *const event_names[QKD_CMD_MAX + 1] = {
	[QKD_CMD_LINK_NTF] = "link",
	[QKD_CMD_QBER_ALARM_NTF] = "qber_alarm",
	[QKD_CMD_POOL_NTF] = "pool",
	[QKD_CMD_KEYS_AVAIL_NTF] = "keys_avail",
};

static void print_event(json_t *e)
{
	const char *event = jstr(e, "event");
	char q[24], qmax[24];

	printf("%s %lld (link %lld):", event, jnum(e, "index"),
	       jnum(e, "link_id"));
	if (!strcmp(event, "link") && json_object_get(e, "state"))
		printf(" state %s", jstr(e, "state"));
	else if (!strcmp(event, "link"))
		printf(" gone");	/* left this namespace or was removed */
	else if (!strcmp(event, "qber_alarm"))
		printf(" qber %s above qber-max %s",
		       ppm_percent(jnum(e, "qber_ppm"), q, sizeof(q)),
		       ppm_percent(jnum(e, "qber_max_ppm"), qmax, sizeof(qmax)));
	else if (!strcmp(event, "pool"))
		printf(" level %s avail %lld B", jstr(e, "pool_level"),
		       jnum(e, "pool_avail_bytes"));
	else if (!strcmp(event, "keys_avail"))
		printf(" avail %lld B", jnum(e, "pool_avail_bytes"));
	putchar('\n');
}

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct qkdctl_opts *o = data;
	const struct genlmsghdr *gh = mnl_nlmsg_get_payload(nlh);
	json_t *e;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*gh) ||
	    gh->cmd > QKD_CMD_MAX || !event_names[gh->cmd])
		return MNL_CB_OK;	/* not an event we know: skip it */
	e = link_to_json(nlh, false);
	json_object_set_new(e, "event", json_string(event_names[gh->cmd]));
	if (o->json)
		print_json(e, o);
	else
		print_event(e);
	json_decref(e);
	fflush(stdout);		/* one line per event, even into a pipe */
	return MNL_CB_OK;
}

/*
 * Without CAP_NET_ADMIN the "pool" group is closed: if it was not asked for
 * by name, go on with "link" alone.
 */
static void join_groups(struct qkd_sock *g, bool link, bool pool, bool asked)
{
	int err;

	if (link) {
		err = qkd_join(g, g->grp_link);
		if (err)
			die(EXIT_REFUSED, "monitor: cannot join the \"%s\" group: %s",
			    QKD_MCGRP_LINK, err == -ENOENT ? "not offered" :
			    strerror(-err));
	}
	if (!pool)
		return;
	err = qkd_join(g, g->grp_pool);
	if (!err)
		return;
	if (asked || !link)
		die(EXIT_REFUSED, "monitor: cannot join the \"%s\" group: %s%s",
		    QKD_MCGRP_POOL, err == -ENOENT ? "not offered" :
		    strerror(-err), err == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
	fprintf(stderr, "qkdctl: monitor: pool events need CAP_NET_ADMIN; showing link events only\n");
}

static int monitor(int argc, char **argv, const struct qkdctl_opts *o)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	bool link = false, pool = false, asked;
	struct qkd_sock g;
	ssize_t n;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "link"))
			link = true;
		else if (!strcmp(argv[i], "pool"))
			pool = true;
		else
			die(EXIT_USAGE, "monitor: unknown group '%s' (link, pool)",
			    argv[i]);
	}
	asked = pool;
	if (!link && !pool)
		link = pool = true;
	open_qkd(&g);
	join_groups(&g, link, pool, asked);
	/* No SA_RESTART: SIGINT must end the blocking recv. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!monitor_stop) {
		n = mnl_socket_recvfrom(g.nl, g.buf, g.buf_size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			fprintf(stderr, "qkdctl: monitor: events lost (receive buffer overrun)\n");
			continue;
		}
		if (n < 0)
			die(EXIT_REFUSED, "monitor: %s", strerror(errno));
		/* Notifications have sequence number 0 and port ID 0. */
		if (mnl_cb_run(g.buf, (size_t)n, 0, 0, event_cb,
			       (void *)o) < 0 && errno != ENOENT)
			fprintf(stderr, "qkdctl: monitor: bad message: %s\n",
				strerror(errno));
	}
	qkd_close(&g);
	return 0;
}

/* ---- dispatch ------------------------------------------------------- */

/* Options between "kernel" and the object; returns the words consumed. */
static int kernel_options(int argc, char **argv, struct qkdctl_opts *o)
{
	int i;

	for (i = 0; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--stats")) {
			o->stats = true;
		} else if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			o->json = true;
		} else if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--pretty")) {
			o->pretty = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			qkdctl_kernel_usage(stdout);
			exit(0);
		} else {
			die(EXIT_USAGE, "kernel: unknown option '%s' (-s, -j, -p, -h)",
			    argv[i]);
		}
	}
	return i;
}

int qkdctl_kernel_main(int argc, char **argv, struct qkdctl_opts *o)
{
	static const char *const objects[] = { "link", "monitor", "help" };
	static const char *const verbs[] = { "show", "set", "help" };
	int i = kernel_options(argc, argv, o), w;

	if (i >= argc)
		die(EXIT_USAGE, "kernel: no command (link show, link set, monitor; see --help)");
	w = match_word("kernel object", argv[i], objects, ARRAY_SIZE(objects));
	if (w < 0)
		die(EXIT_USAGE, "kernel: unknown command '%s' (link, monitor, help)",
		    argv[i]);
	i++;
	if (!strcmp(objects[w], "help") ||
	    (!strcmp(objects[w], "monitor") && i < argc &&
	     !strcmp(argv[i], "help"))) {
		qkdctl_kernel_usage(stdout);
		return 0;
	}
	if (!strcmp(objects[w], "monitor"))
		return monitor(argc - i, argv + i, o);
	/* "link" alone, or before an option, means "link show", as in ip(8). */
	if (i >= argc || argv[i][0] == '-')
		return link_show(argc - i, argv + i, o);
	w = match_word("kernel link command", argv[i], verbs, ARRAY_SIZE(verbs));
	if (w < 0)
		die(EXIT_USAGE, "kernel link: unknown verb '%s' (show, set, help)",
		    argv[i]);
	i++;
	if (!strcmp(verbs[w], "set"))
		return link_set(argc - i, argv + i);
	if (!strcmp(verbs[w], "help")) {
		qkdctl_kernel_usage(stdout);
		return 0;
	}
	return link_show(argc - i, argv + i, o);
}
