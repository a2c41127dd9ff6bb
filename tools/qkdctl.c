// SPDX-License-Identifier: GPL-2.0
/*
 * qkdctl: the operator's view of a running qkdkmd, over its control socket
 * (one JSON request and one JSON response per line; see daemon/mgmt/ctl.h).
 * iproute2/wg style: "qkdctl link show", "-j" for JSON, "-s" for
 * statistics, "-n NETNS", and any unambiguous prefix of a word.
 * Everything it can show is metadata; the daemon has no request that
 * returns key bytes.  "qkdctl kernel ..." talks to qkd.ko instead
 * (qkdctl_kernel.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <jansson.h>

#include "ctl.h"
#include "qkdctl.h"

#define REPLY_MAX	(256u << 20)	/* a key listing can be large */
#define HELP_COLUMN	23		/* where --help's descriptions start */

void die(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("qkdctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

long long jnum(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

int match_word(const char *what, const char *word, const char *const *words,
	       size_t n)
{
	size_t len = strlen(word), i, j, found = 0, count = 0, used = 0;
	char list[256] = "";

	for (i = 0; i < n; i++)
		if (!strcmp(word, words[i]))
			return (int)i;
	for (i = 0; i < n; i++) {
		if (strncmp(word, words[i], len))
			continue;
		for (j = 0; j < i && strcmp(words[j], words[i]); j++)
			;
		if (j < i)
			continue;	/* counted already */
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used,
						 sizeof(list) - used, "%s%s",
						 count ? ", " : "", words[i]);
		found = i;
		count++;
	}
	if (count > 1)
		die(EXIT_USAGE, "ambiguous %s '%s': %s", what, word, list);
	return count ? (int)found : -1;
}

int open_netns(const char *what, const char *netns)
{
	char path[PATH_MAX];
	int fd;

	if (strchr(netns, '/'))
		snprintf(path, sizeof(path), "%s", netns);
	else if (snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", netns) >=
		 (int)sizeof(path))
		die(EXIT_USAGE, "%s: netns: name too long", what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(EXIT_REFUSED, "%s: netns %s: %s: %s", what, netns, path,
		    strerror(errno));
	return fd;
}

/* "-n NETNS": like "ip -n", everything from here on runs in NETNS. */
static void enter_netns(const char *netns)
{
	int fd = open_netns("-n", netns);

	if (setns(fd, CLONE_NEWNET) < 0)
		die(EXIT_REFUSED, "-n: netns %s: %s%s", netns, strerror(errno),
		    errno == EPERM ? " (needs CAP_SYS_ADMIN)" : "");
	close(fd);
}

/* ---- talking to the daemon --------------------------------------------- */

static const char *default_socket(void)
{
	static char path[4096];
	const char *env = getenv("QKDCTL_SOCKET");
	glob_t g;

	if (env && *env)
		return env;
	if (glob(CTL_SOCKET_DIR "/*.sock", 0, NULL, &g) != 0)
		die(EXIT_REFUSED, "no daemon socket in %s (is qkdkmd running? use --socket)",
		    CTL_SOCKET_DIR);
	if (g.gl_pathc != 1) {
		globfree(&g);
		die(EXIT_REFUSED, "several daemon sockets in %s: choose one with --socket",
		    CTL_SOCKET_DIR);
	}
	snprintf(path, sizeof(path), "%s", g.gl_pathv[0]);
	globfree(&g);
	return path;
}

static int connect_daemon(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		die(EXIT_REFUSED, "%s: socket path too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(EXIT_REFUSED, "%s: %s (is qkdkmd running?)", path, strerror(errno));
	return fd;
}

static void send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(EXIT_REFUSED, "sending the request: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

/* One line back from the daemon, parsed. */
static json_t *read_reply(int fd)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap), *nl = NULL;
	json_error_t jerr;
	json_t *reply;
	ssize_t n;

	if (!buf)
		die(EXIT_REFUSED, "out of memory");
	while (!nl) {
		if (len + 1 >= cap) {
			if (cap >= REPLY_MAX)
				die(EXIT_REFUSED, "answer too long");
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				die(EXIT_REFUSED, "out of memory");
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(EXIT_REFUSED, "the daemon closed the connection without answering");
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
	}
	*nl = '\0';
	reply = json_loads(buf, 0, &jerr);
	free(buf);
	if (!reply)
		die(EXIT_REFUSED, "bad answer from the daemon: %s", jerr.text);
	return reply;
}

static json_t *request(const char *sock, json_t *req)
{
	char *line = json_dumps(req, JSON_COMPACT);
	json_t *reply, *data;
	int fd, ok = 0;
	const char *error = "no reason given";

	if (!line)
		die(EXIT_REFUSED, "out of memory");
	fd = connect_daemon(sock);
	send_all(fd, line, strlen(line));
	send_all(fd, "\n", 1);
	free(line);
	reply = read_reply(fd);
	close(fd);
	if (json_unpack(reply, "{s:b, s?s}", "ok", &ok, "error", &error) < 0)
		die(EXIT_REFUSED, "bad answer from the daemon");
	if (!ok)
		die(EXIT_REFUSED, "%s", error);
	data = json_incref(json_object_get(reply, "data"));
	json_decref(reply);
	if (!data)
		die(EXIT_REFUSED, "bad answer from the daemon: no data");
	return data;
}

/* ---- human-readable output --------------------------------------------- */

static void print_duration(long long s)
{
	if (s >= 86400)
		printf("%lldd%02lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		printf("%lldh%02lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		printf("%lldm%02llds", s / 60, s % 60);
	else
		printf("%llds", s);
}

static void show_status(json_t *d)
{
	printf("node %s  pid %lld  up ", jstr(d, "node"), jnum(d, "pid"));
	print_duration(jnum(d, "uptime_s"));
	printf("\n  etsi014 %s  kx %s  log %s\n", jstr(d, "etsi014"),
	       *jstr(d, "kx") ? jstr(d, "kx") : "-", jstr(d, "log_level"));
	printf("  links %lld (%lld up)  peers %lld (%lld up)  SAEs %lld\n",
	       jnum(d, "links"), jnum(d, "links_up"), jnum(d, "peers"),
	       jnum(d, "peers_up"), jnum(d, "saes"));
	printf("  memory %s\n", json_is_true(json_object_get(d, "memory_locked")) ?
	       "all locked (lock_all_memory)" : "keys locked (secure heap)");
}

static void show_links(json_t *d)
{
	size_t i;
	json_t *l;

	json_array_foreach(d, i, l) {
		printf("%s: peer %s source %s role %s state %s admin %s block_size %lld level %s\n",
		       jstr(l, "link"), jstr(l, "peer"), jstr(l, "source"),
		       jstr(l, "role"), jstr(l, "state"), jstr(l, "admin"),
		       jnum(l, "block_size"), jstr(l, "level"));
		if (json_object_get(l, "generation") ||
		    json_object_get(l, "card_state")) {
			printf("    generation %s",
			       *jstr(l, "generation") ? jstr(l, "generation") : "-");
			if (json_object_get(l, "card_state"))
				printf(" card %s", jstr(l, "card_state"));
			if (json_object_get(l, "qber_ppm"))
				printf(" qber_ppm %lld", jnum(l, "qber_ppm"));
			if (json_object_get(l, "skr_bps"))
				printf(" skr_bps %lld", jnum(l, "skr_bps"));
			putchar('\n');
		}
		if (json_object_get(l, "kernel_push")) {
			json_t *kp = json_object_get(l, "kernel_push");

			printf("    kernel push: link_id %lld pushed %lld skipped %lld failed %lld\n",
			       jnum(kp, "link_id"), jnum(kp, "pushed"),
			       jnum(kp, "skipped"), jnum(kp, "failed"));
		}
		if (!json_object_get(l, "agreement"))
			continue;
		printf("    agreement %s confirmed %lld mismatched %lld\n",
		       jstr(l, "agreement"), jnum(l, "confirmed"),
		       jnum(l, "mismatched"));
		if (json_object_get(l, "refused"))
			printf("    refused: %s\n", jstr(l, "refused"));
	}
}

/* "link generation": the daemon answers with the one link. */
static void show_links_one(json_t *d)
{
	json_t *arr = json_array();

	json_array_append(arr, d);
	show_links(arr);
	json_decref(arr);
}

static void show_pools(json_t *d)
{
	size_t i;
	json_t *l;

	json_array_foreach(d, i, l) {
		printf("%s: avail %lld bytes level %s block_size %lld keys_held %lld\n",
		       jstr(l, "link"), jnum(l, "avail"), jstr(l, "level"),
		       jnum(l, "block_size"), jnum(l, "keys_held"));
		printf("    allocated %lld fetched %lld discarded %lld fetch_failures %lld\n",
		       jnum(l, "allocated"), jnum(l, "fetched"),
		       jnum(l, "discarded"), jnum(l, "fetch_failures"));
		if (json_object_get(l, "confirmed"))
			printf("    confirmed %lld mismatched %lld unconfirmed %lld confirm_key_bytes %lld\n",
			       jnum(l, "confirmed"), jnum(l, "mismatched"),
			       jnum(l, "unconfirmed"),
			       jnum(l, "confirm_key_bytes"));
	}
}

/*
 * "link AB", or for a pair whose nodes share no link (the daemon sends no
 * link name), "relayed via A - B - C" along the path a key would take now.
 */
static void print_pair_source(json_t *pair)
{
	json_t *route = json_object_get(pair, "route"), *hop;
	size_t i;

	if (json_string_value(json_object_get(pair, "link"))) {
		printf("link %s", jstr(pair, "link"));
		return;
	}
	if (!json_array_size(route)) {
		printf("relayed, no route now");
		return;
	}
	printf("relayed via");
	json_array_foreach(route, i, hop)
		printf("%s%s", i ? " - " : " ", json_string_value(hop));
}

static void show_saes(json_t *d)
{
	json_t *s, *saes = json_object_get(d, "saes"), *pairs = json_object_get(d, "pairs");
	size_t i;

	json_array_foreach(saes, i, s)
		printf("%s: cert_cn %s node %s%s\n", jstr(s, "sae"),
		       jstr(s, "cert_cn"), jstr(s, "node"),
		       json_is_true(json_object_get(s, "local")) ? " (local)" : "");
	json_array_foreach(pairs, i, s) {
		printf("pair %s -> %s: ", jstr(s, "master"), jstr(s, "slave"));
		print_pair_source(s);
		printf(" (%s -> %s) stored %lld supplied %lld pending %lld\n",
		       jstr(s, "master_node"), jstr(s, "slave_node"),
		       jnum(s, "stored"), jnum(s, "supplied"),
		       jnum(s, "pending"));
	}
}

static void show_peers(json_t *d)
{
	size_t i;
	json_t *p;

	json_array_foreach(d, i, p) {
		printf("%s: address %s cert_cn %s state %s connects %lld sent %lld received %lld queued %lld\n",
		       jstr(p, "peer"), jstr(p, "address"), jstr(p, "cert_cn"),
		       jstr(p, "state"), jnum(p, "connects"), jnum(p, "sent"),
		       jnum(p, "received"), jnum(p, "queued"));
		if (*jstr(p, "last_error"))
			printf("    last error: %s\n", jstr(p, "last_error"));
	}
}

static void show_sas(json_t *d)
{
	json_t *pairs = json_object_get(d, "pairs"), *p;
	size_t i;

	/* No [ipsec] gateways: no reqid range either, and nothing to say. */
	if (!json_object_get(d, "reqid_min"))
		return;
	printf("reqids %lld..%lld: %lld acquires, %lld toward unknown gateways, %lld left to IKE\n",
	       jnum(d, "reqid_min"), jnum(d, "reqid_max"), jnum(d, "acquires"),
	       jnum(d, "unknown_acquires"), jnum(d, "foreign_acquires"));
	json_array_foreach(pairs, i, p) {
		printf("%s reqid %lld: peer %s %s %s state %s generation %lld rekeys %lld lifetime %llds%s\n",
		       jstr(p, "gateway"), jnum(p, "reqid"), jstr(p, "peer"),
		       jstr(p, "mode"), jstr(p, "role"), jstr(p, "state"),
		       jnum(p, "generation"), jnum(p, "rekeys"),
		       jnum(p, "lifetime_s"),
		       json_is_true(json_object_get(p, "alarm")) ? " ALARM" : "");
		if (!json_object_get(p, "spi_in"))
			continue;
		printf("    in spi %s key %s, out spi %s key %s, age %.1fs",
		       jstr(p, "spi_in"), jstr(p, "key_id_in"),
		       jstr(p, "spi_out"), jstr(p, "key_id_out"),
		       jnum(p, "age_ms") / 1000.0);
		if (json_object_get(p, "next_rekey_ms"))
			printf(", next rekey in %.1fs",
			       jnum(p, "next_rekey_ms") / 1000.0);
		printf("\n");
	}
}

static void utc(json_t *o, const char *key, char *buf, size_t len)
{
	time_t t = (time_t)jnum(o, key);
	struct tm tm;

	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

/* The X.733 fields of one alarm, on a line of their own. */
static void print_alarm_fields(json_t *a)
{
	char when[32];

	printf("    id %lld, object %s, %s, %s, %s", jnum(a, "id"),
	       jstr(a, "object"), jstr(a, "event_type"),
	       jstr(a, "probable_cause"), jstr(a, "severity"));
	if (json_object_get(a, "root_id"))
		printf(", caused by alarm %lld (%s)", jnum(a, "root_id"),
		       jstr(a, "root"));
	if (json_is_true(json_object_get(a, "acked"))) {
		utc(a, "acked_at", when, sizeof(when));
		printf(", acked by %s at %s", jstr(a, "acked_by"), when);
	}
	printf("\n");
}

static void show_alarms(json_t *d)
{
	json_t *active = json_object_get(d, "active"), *a;
	char when[32];
	size_t i;

	json_array_foreach(active, i, a) {
		utc(a, "since", when, sizeof(when));
		printf("%s: since %s, raised %lld times: %s\n",
		       jstr(a, "source"), when, jnum(a, "count"),
		       jstr(a, "text"));
		print_alarm_fields(a);
	}
	printf("%zu active, %lld raised since start\n", json_array_size(active),
	       jnum(d, "raised"));
}

static void show_alarm_history(json_t *d)
{
	json_t *hist = json_object_get(d, "history"), *a;
	char since[32], cleared[32];
	size_t i;

	json_array_foreach(hist, i, a) {
		utc(a, "since", since, sizeof(since));
		utc(a, "cleared", cleared, sizeof(cleared));
		printf("%s: raised %s, cleared %s: %s\n", jstr(a, "source"),
		       since, cleared, jstr(a, "text"));
		print_alarm_fields(a);
	}
	printf("%zu cleared alarms (the last %lld are kept)\n",
	       json_array_size(hist), jnum(d, "kept"));
}

static void show_alarm_ack(json_t *d)
{
	printf("alarm %lld acknowledged\n", jnum(d, "id"));
}

/* A string field, or "-" where the daemon has none (null or ""). */
static const char *str_or_dash(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : "-";
}

static void show_macsec(json_t *d)
{
	size_t i;
	json_t *p;

	json_array_foreach(d, i, p) {
		printf("%s: interface %s peer %s link %s %s state %s\n",
		       jstr(p, "port"), jstr(p, "interface"), jstr(p, "peer"),
		       jstr(p, "link"),
		       json_is_true(json_object_get(p, "owner")) ?
		       "owner" : "follower", jstr(p, "state"));
		printf("    sci %s peer_sci %s an %lld key_id %s key_len %lld\n",
		       jstr(p, "sci"), str_or_dash(p, "peer_sci"), jnum(p, "an"),
		       str_or_dash(p, "key_id"), jnum(p, "key_len"));
		printf("    rotations %lld failures %lld every %lld s, last %lld ms ago, tx_pn %lld\n",
		       jnum(p, "rotations"), jnum(p, "failures"),
		       jnum(p, "rotate_s"), jnum(p, "last_rotation_age_ms"),
		       jnum(p, "tx_pn"));
		if (*jstr(p, "last_error"))
			printf("    last error: %s\n", jstr(p, "last_error"));
	}
}

static void show_wireguard(json_t *d)
{
	size_t i;
	json_t *p;

	json_array_foreach(d, i, p) {
		printf("%s: interface %s peer %s (node %s) link %s %s state %s\n",
		       jstr(p, "name"), jstr(p, "interface"),
		       jstr(p, "public_key"), jstr(p, "peer"), jstr(p, "link"),
		       json_is_true(json_object_get(p, "owner")) ?
		       "owner" : "follower", jstr(p, "state"));
		printf("    psk key_id %s age %lld ms, next rotation in %lld ms (every %lld s)\n",
		       str_or_dash(p, "key_id"), jnum(p, "age_ms"),
		       jnum(p, "next_rotation_ms"), jnum(p, "rotate_s"));
		printf("    rotations %lld failures %lld switch gap %lld us (max %lld us)\n",
		       jnum(p, "rotations"), jnum(p, "failures"),
		       jnum(p, "last_gap_us"), jnum(p, "max_gap_us"));
		if (*jstr(p, "last_error"))
			printf("    last error: %s\n", jstr(p, "last_error"));
	}
}

static void show_strongswan(json_t *d)
{
	size_t i;
	json_t *p;

	json_array_foreach(d, i, p) {
		printf("%s: connection %s ppk_id %s peer %s link %s %s state %s\n",
		       jstr(p, "name"), jstr(p, "connection"),
		       jstr(p, "ppk_id"), jstr(p, "peer"), jstr(p, "link"),
		       json_is_true(json_object_get(p, "owner")) ?
		       "owner" : "follower", jstr(p, "state"));
		printf("    ppk key_id %s age %lld ms, next rotation in %lld ms (every %lld s)\n",
		       str_or_dash(p, "key_id"), jnum(p, "age_ms"),
		       jnum(p, "next_rotation_ms"), jnum(p, "rotate_s"));
		printf("    rotations %lld failures %lld reauths %lld initiations %lld gap %lld us (max %lld us)\n",
		       jnum(p, "rotations"), jnum(p, "failures"),
		       jnum(p, "reauths"), jnum(p, "initiations"),
		       jnum(p, "last_gap_us"), jnum(p, "max_gap_us"));
		if (*jstr(p, "last_error"))
			printf("    last error: %s\n", jstr(p, "last_error"));
	}
}

static void print_time_ns(long long ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	printf("%s.%03lldZ", buf, ns / 1000000 % 1000);
}

static void show_keys(json_t *d)
{
	json_t *keys = json_object_get(d, "keys"), *k, *s;
	size_t i, j;

	json_array_foreach(keys, i, k) {
		printf("%s: link %s block %lld offset %lld size %lld master %s slaves",
		       jstr(k, "key_id"), jstr(k, "link"), jnum(k, "block"),
		       jnum(k, "offset"), jnum(k, "size"), jstr(k, "master"));
		json_array_foreach(json_object_get(k, "slaves"), j, s)
			printf("%s%s%s", j ? "," : " ", jstr(s, "sae"),
			       json_is_true(json_object_get(s, "delivered")) ?
			       "(delivered)" : "");
		printf(" state %s created ", jstr(k, "state"));
		print_time_ns(jnum(k, "created_ns"));
		putchar('\n');
	}
	if ((long long)json_array_size(keys) < jnum(d, "total"))
		printf("(%zu newest of %lld shown; --limit N for more)\n",
		       json_array_size(keys), jnum(d, "total"));
}

static void show_topology(json_t *d)
{
	json_t *n, *l;
	size_t i, j;

	printf("node %s  routing %s%s%s  key relay %s  lsa received %lld sent %lld aged out %lld\n",
	       jstr(d, "node"), jstr(d, "mode"),
	       *jstr(d, "controller") ? "  controller " : "",
	       jstr(d, "controller"), jstr(d, "key_relay"),
	       jnum(d, "lsa_received"), jnum(d, "lsa_sent"),
	       jnum(d, "aged_out"));
	json_array_foreach(json_object_get(d, "nodes"), i, n) {
		printf("%s (%s): seq %lld age %lld ms\n", jstr(n, "node"),
		       jstr(n, "role"), jnum(n, "seq"), jnum(n, "age_ms"));
		json_array_foreach(json_object_get(n, "links"), j, l)
			printf("    -> %s %s level %s avail %lld bits\n",
			       jstr(l, "peer"),
			       json_is_true(json_object_get(l, "up")) ?
			       "up" : "down", jstr(l, "level"),
			       jnum(l, "avail_bits"));
	}
}

static void print_path(json_t *p)
{
	json_t *hop;
	size_t i;

	printf("%s -> %s: ", jstr(p, "from"), jstr(p, "to"));
	if (json_object_get(p, "error")) {
		printf("%s\n", jstr(p, "error"));
		return;
	}
	json_array_foreach(json_object_get(p, "path"), i, hop)
		printf("%s%s", i ? " - " : "", json_string_value(hop));
	printf("  (%lld hops", jnum(p, "hops"));
	if (json_object_get(p, "cost"))
		printf(", cost %lld", jnum(p, "cost"));
	if (json_object_get(p, "source"))
		printf(", from the %s", jstr(p, "source"));
	printf(")\n");
}

static void show_routes(json_t *d)
{
	json_t *p;
	size_t i;

	json_array_foreach(d, i, p)
		print_path(p);
}

/* Session control: open sessions and admission per SAE priority. */
static void show_admission(json_t *a)
{
	static const char *const prios[] = { "high", "normal", "low" };

	if (!a)
		return;
	printf("sessions open %lld of %lld\n", jnum(a, "open"),
	       jnum(a, "max_sessions"));
	for (size_t i = 0; i < 3; i++) {
		json_t *p = json_object_get(a, prios[i]);

		printf("    %-6s admitted %lld refused: busy %lld, pools low %lld\n",
		       prios[i], jnum(p, "admitted"), jnum(p, "refused_busy"),
		       jnum(p, "refused_pool"));
	}
}

static void show_relay(json_t *d)
{
	json_t *s;
	size_t i;

	printf("started %lld forwarded %lld delivered %lld acked %lld refused %lld auth_alarms %lld\n",
	       jnum(d, "started"), jnum(d, "forwarded"), jnum(d, "delivered"),
	       jnum(d, "acked"), jnum(d, "refused"), jnum(d, "auth_alarms"));
	show_admission(json_object_get(d, "admission"));
	if (json_object_get(d, "central_forwarded"))
		printf("central KM: forwarded %lld refused %lld\n",
		       jnum(d, "central_forwarded"), jnum(d, "central_refused"));
	json_array_foreach(json_object_get(d, "sessions"), i, s)
		printf("%s: %s route %s state %s age %lld ms\n",
		       jstr(s, "key_ID"), jstr(s, "role"), jstr(s, "route"),
		       jstr(s, "state"), jnum(s, "age_ms"));
}

static void print_acct(const char *dir, json_t *a)
{
	printf("    %s: pad taken %lld consumed %lld = relayed %lld + mac key %lld + discarded %lld bits  %s\n",
	       dir, jnum(a, "pad_bits_taken"), jnum(a, "pad_bits_consumed"),
	       jnum(a, "relayed_bits"), jnum(a, "mac_key_bits"),
	       jnum(a, "discarded_bits"),
	       json_is_true(json_object_get(a, "balanced")) ?
	       "balanced" : "NOT BALANCED");
	printf("        messages %lld rejected %lld auth_failures %lld\n",
	       jnum(a, "messages"), jnum(a, "rejected"),
	       jnum(a, "auth_failures"));
}

static void show_audit(json_t *d)
{
	json_t *l;
	size_t i;

	json_array_foreach(d, i, l) {
		printf("%s (peer %s):\n", jstr(l, "link"), jstr(l, "peer"));
		print_acct("tx", json_object_get(l, "tx"));
		print_acct("rx", json_object_get(l, "rx"));
	}
}

static void show_routing_admin(json_t *d)
{
	printf("link to %s: routing %s\n", jstr(d, "peer"), jstr(d, "routing"));
}

/* ---- command line ------------------------------------------------------ */

/* "path [FROM] TO" */
static void path_args(int argc, char **argv, json_t *req)
{
	if (argc < 1 || argc > 2)
		die(EXIT_USAGE, "path: expected [FROM] TO");
	json_object_set_new(req, "to", json_string(argv[argc - 1]));
	if (argc == 2)
		json_object_set_new(req, "from", json_string(argv[0]));
}

/* "link down|up PEER" */
static void peer_arg(int argc, char **argv, json_t *req)
{
	if (argc != 1)
		die(EXIT_USAGE, "link down|up: expected PEER");
	json_object_set_new(req, "peer", json_string(argv[0]));
}

/* "link generation NAME start|stop" */
static void generation_args(int argc, char **argv, json_t *req)
{
	if (argc != 2 || (strcmp(argv[1], "start") && strcmp(argv[1], "stop")))
		die(EXIT_USAGE, "link generation: expected NAME start|stop");
	json_object_set_new(req, "link", json_string(argv[0]));
	json_object_set_new(req, "state", json_string(argv[1]));
}

/* "alarm ack ID" */
static void alarm_id_arg(int argc, char **argv, json_t *req)
{
	char *end;
	long long n;

	if (argc != 1)
		die(EXIT_USAGE, "alarm ack: expected ID (see alarm show)");
	errno = 0;
	n = strtoll(argv[0], &end, 10);
	if (errno || *end || n <= 0)
		die(EXIT_USAGE, "alarm ack: '%s' is not an alarm ID (see alarm show)",
		    argv[0]);
	json_object_set_new(req, "id", json_integer(n));
}

/* "key show --sae ID --limit N": options after the verb. */
static void key_options(int argc, char **argv, json_t *req)
{
	char *end;
	long long n;

	for (int i = 0; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--sae")) {
			json_object_set_new(req, "sae", json_string(argv[++i]));
		} else if (i + 1 < argc && !strcmp(argv[i], "--limit")) {
			errno = 0;
			n = strtoll(argv[++i], &end, 10);
			if (errno || *end || n <= 0)
				die(EXIT_USAGE, "--limit: '%s' is not a positive number",
				    argv[i]);
			json_object_set_new(req, "limit", json_integer(n));
		} else {
			die(EXIT_USAGE, "key show: unknown option '%s' (--sae ID, --limit N)",
			    argv[i]);
		}
	}
}

/* "account show [--csv|--json] [--limit N]": the format chosen. */
static enum { ACCOUNT_TEXT, ACCOUNT_CSV, ACCOUNT_JSON } account_format;

static void account_options(int argc, char **argv, json_t *req)
{
	char *end;
	long long n;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--csv")) {
			account_format = ACCOUNT_CSV;
		} else if (!strcmp(argv[i], "--json")) {
			account_format = ACCOUNT_JSON;
		} else if (i + 1 < argc && !strcmp(argv[i], "--limit")) {
			errno = 0;
			n = strtoll(argv[++i], &end, 10);
			if (errno || *end || n <= 0)
				die(EXIT_USAGE, "--limit: '%s' is not a positive number",
				    argv[i]);
			json_object_set_new(req, "limit", json_integer(n));
		} else {
			die(EXIT_USAGE, "account show: unknown option '%s' (--csv, --json, --limit N)",
			    argv[i]);
		}
	}
}

/* A CSV field (RFC 4180): quoted if it holds a comma, quote or newline. */
static void csv_field(const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static const char *const account_counters[] = {
	"enc_keys", "enc_bits", "dec_keys", "dec_bits", "relayed_keys",
	"relayed_bits", "requests", "enc_refused", "dec_refused",
};

/*
 * One row: KIND,SEQ,START,END,MASTER,SLAVE,counters...,refused...  A
 * consumer's row (kind "consumer_...") has the consumer as MASTER and its
 * peer node as SLAVE: the columns stay those a charging system reads
 * (its link, fixed by its section, is in the JSON export).
 */
static void csv_row(const char *kind, long long seq, long long start,
		    long long end, json_t *pair, json_t *counts,
		    json_t *reasons)
{
	json_t *refused = json_object_get(counts, "refused"), *r;
	bool consumer = json_object_get(pair, "consumer") != NULL;
	size_t i;

	printf("%s%s,%lld,%lld,", consumer ? "consumer_" : "", kind, seq,
	       start);
	if (end >= 0)
		printf("%lld", end);
	putchar(',');
	csv_field(jstr(pair, consumer ? "consumer" : "master"));
	putchar(',');
	csv_field(jstr(pair, consumer ? "peer" : "slave"));
	for (i = 0; i < ARRAY_SIZE(account_counters); i++)
		printf(",%lld", jnum(counts, account_counters[i]));
	json_array_foreach(reasons, i, r)
		printf(",%lld", jnum(refused, json_string_value(r)));
	putchar('\n');
}

/* A pair's or a consumer's open-interval row, if it had anything. */
static void csv_open_rows(json_t *list, json_t *open, json_t *reasons)
{
	json_t *o, *c;
	size_t i;

	json_array_foreach(list, i, o) {
		c = json_object_get(o, "open");
		if (jnum(c, "requests") || jnum(c, "enc_refused") ||
		    jnum(c, "dec_refused"))
			csv_row("open", jnum(open, "seq"), jnum(open, "start"),
				-1, o, c, reasons);
	}
}

/*
 * For a charging system: the closed intervals (kind "interval"), then per
 * pair the open interval ("open", no end yet) and the total ("total",
 * open included, start and end empty of meaning: 0).
 */
static void show_account_csv(json_t *d)
{
	json_t *reasons = json_object_get(d, "reasons"), *o, *r;
	json_t *open = json_object_get(d, "open");
	static const char *const ivs[] = { "intervals", "consumer_intervals" };
	static const char *const lists[] = { "pairs", "consumers" };
	size_t i;

	fputs("kind,seq,start,end,master,slave", stdout);
	for (i = 0; i < ARRAY_SIZE(account_counters); i++)
		printf(",%s", account_counters[i]);
	json_array_foreach(reasons, i, r)
		printf(",refused_%s", json_string_value(r));
	putchar('\n');
	/* The SAE pairs' rows, then the consumers' in the same order. */
	for (int k = 0; k < 2; k++) {
		json_array_foreach(json_object_get(d, ivs[k]), i, o)
			csv_row("interval", jnum(o, "seq"), jnum(o, "start"),
				jnum(o, "end"), o, o, reasons);
		csv_open_rows(json_object_get(d, lists[k]), open, reasons);
		json_array_foreach(json_object_get(d, lists[k]), i, o)
			csv_row("total", 0, 0, -1, o,
				json_object_get(o, "total"), reasons);
	}
}

static void show_account(json_t *d)
{
	json_t *o, *t, *open = json_object_get(d, "open"), *ref, *v;
	const char *reason;
	size_t i;

	if (account_format == ACCOUNT_JSON) {
		json_dumpf(d, stdout, JSON_COMPACT);
		putchar('\n');
		return;
	}
	if (account_format == ACCOUNT_CSV) {
		show_account_csv(d);
		return;
	}
	if (!json_is_true(json_object_get(d, "enabled"))) {
		printf("accounting is off ([accounting] enabled = no)\n");
		return;
	}
	printf("interval %llds, open interval %lld since %lld, %zu closed shown\n",
	       jnum(d, "interval_s"), jnum(open, "seq"), jnum(open, "start"),
	       json_array_size(json_object_get(d, "intervals")));
	json_array_foreach(json_object_get(d, "pairs"), i, o) {
		t = json_object_get(o, "total");
		printf("%s -> %s: enc_keys %lld (%lld bits), dec_keys %lld (%lld bits), relayed %lld, refused %lld",
		       jstr(o, "master"), jstr(o, "slave"), jnum(t, "enc_keys"),
		       jnum(t, "enc_bits"), jnum(t, "dec_keys"),
		       jnum(t, "dec_bits"), jnum(t, "relayed_keys"),
		       jnum(t, "enc_refused") + jnum(t, "dec_refused"));
		ref = json_object_get(t, "refused");
		json_object_foreach(ref, reason, v)
			if (json_integer_value(v))
				printf(" %s=%lld", reason,
				       (long long)json_integer_value(v));
		putchar('\n');
	}
	json_array_foreach(json_object_get(d, "saes"), i, o)
		printf("SAE %s: supplied %lld keys (%lld bits), relayed %lld, refused %lld\n",
		       jstr(o, "sae"), jnum(o, "supplied_keys"),
		       jnum(o, "supplied_bits"), jnum(o, "relayed_keys"),
		       jnum(o, "refused_keys"));
	json_array_foreach(json_object_get(d, "consumers"), i, o) {
		printf("consumer %s (peer %s, link %s): took %lld keys (%lld bits), refused %lld",
		       jstr(o, "consumer"), jstr(o, "peer"), jstr(o, "link"),
		       jnum(o, "taken_keys"), jnum(o, "taken_bits"),
		       jnum(o, "refused_keys"));
		ref = json_object_get(json_object_get(o, "total"), "refused");
		json_object_foreach(ref, reason, v)
			if (json_integer_value(v))
				printf(" %s=%lld", reason,
				       (long long)json_integer_value(v));
		putchar('\n');
	}
}

struct command {
	const char *object;	/* "status", "link", ... */
	const char *verb;	/* NULL: none; "show" may also be left out */
	const char *synopsis;	/* its arguments for --help, or "" */
	const char *help;	/* what it does: lines for --help */
	const char *cmd;	/* as the daemon names it */
	void (*show)(json_t *data);
	void (*args)(int argc, char **argv, json_t *req); /* NULL: none */
};

/* In --help's order; also the words that prefixes are matched against. */
static const struct command commands[] = {
	{ "status", NULL, "",
	  "node name, uptime, listeners, link and peer counts",
	  "status", show_status, NULL },
	{ "link", "show", "",
	  "QKD links: peer, source (sim/kernel), role, state of the\n"
	  "key source (up/down), admin state (up, or down after\n"
	  "'link down'), block size, level; key generation\n"
	  "(running/stopped), a card's state, QBER and SKR",
	  "link show", show_links, NULL },
	{ "link", "down", "PEER",
	  "take the link to PEER out of routing, e.g. before\n"
	  "maintenance; keys already relayed stay, and the key\n"
	  "source keeps running (link show: state up, admin down)",
	  "link down", show_routing_admin, peer_arg },
	{ "link", "up", "PEER",
	  "put the link to PEER back into routing",
	  "link up", show_routing_admin, peer_arg },
	{ "link", "generation", "NAME start|stop",
	  "start or stop key generation at this end of link NAME\n"
	  "(sim and kernel sources; needs the admin group); shows\n"
	  "the link as link show does, the card's state read back",
	  "link generation", show_links_one, generation_args },
	{ "pool", "show", "",
	  "key pools per link: bytes available, level, counters",
	  "pool show", show_pools, NULL },
	{ "sae", "show", "",
	  "the SAE table and the master/slave pairs served: the\n"
	  "link their keys come from, or for SAEs on nodes without\n"
	  "a link of their own, the relay path a key would take now",
	  "sae show", show_saes, NULL },
	{ "peer", "show", "",
	  "Kx channels to peer daemons: state, messages, errors",
	  "peer show", show_peers, NULL },
	{ "alarm", "show", "",
	  "active alarms (fault management): source, since when,\n"
	  "how often raised, what is wrong and what to do; then\n"
	  "the X.733 fields: ID, managed object, event type,\n"
	  "probable cause, severity, the root alarm that explains\n"
	  "it, and who acknowledged it",
	  "alarm show", show_alarms, NULL },
	{ "alarm", "ack", "ID",
	  "acknowledge active alarm ID: the operator has seen it;\n"
	  "it stays active until its cause is gone (needs the\n"
	  "admin group)",
	  "alarm ack", show_alarm_ack, alarm_id_arg },
	{ "alarm", "history", "",
	  "the last cleared alarms, newest first, with raised and\n"
	  "cleared times",
	  "alarm history", show_alarm_history, NULL },
	{ "key", "show", "[--sae ID] [--limit N]",
	  "application key records (newest N, default 1000),\n"
	  "optionally only those of SAE ID (one the daemon knows:\n"
	  "see sae show): key_ID, link position, size, master,\n"
	  "slaves, state, times",
	  "key show", show_keys, key_options },
	{ "topology", "show", "",
	  "the QKD network as this node knows it from link-state\n"
	  "advertisements: nodes, links, pool levels, ages",
	  "topology show", show_topology, NULL },
	{ "route", "show", "",
	  "the relay route to every known node, with its cost",
	  "route show", show_routes, NULL },
	{ "path", NULL, "[FROM] TO",
	  "which path a key from FROM (default: this node) to TO\n"
	  "would take now",
	  "path", print_path, path_args },
	{ "relay", "show", "",
	  "relay sessions this node took part in, and counters",
	  "relay show", show_relay, NULL },
	{ "relay", "audit", "",
	  "pad accounting per link and direction: pad bits taken\n"
	  "= relayed bits + MAC key bits + discarded bits",
	  "relay audit", show_audit, NULL },
	{ "macsec", "show", "",
	  "MACsec ports keyed from QKD links: interface, peer,\n"
	  "SCIs, state, current AN and QKD key ID, rotations,\n"
	  "failures, age of the last rotation, TX PN",
	  "macsec show", show_macsec, NULL },
	{ "wireguard", "show", "",
	  "WireGuard peers whose preshared key rotates from QKD\n"
	  "keys: interface, public key, state, QKD key ID in use\n"
	  "and its age, next rotation, rotations, failures, the\n"
	  "switch gap",
	  "wireguard show", show_wireguard, NULL },
	{ "strongswan", "show", "",
	  "strongSwan connections whose RFC 8784 PPK rotates from\n"
	  "QKD keys: connection, ppk_id, state, QKD key ID of the\n"
	  "PPK loaded and its age, next rotation, rotations,\n"
	  "failures, IKE SA reauthentications",
	  "strongswan show", show_strongswan, NULL },
	{ "sa", "show", "",
	  "QKD-keyed IPsec SA pairs per remote gateway and reqid:\n"
	  "peer, mode, role (owner rekeys), state, SPIs and QKD\n"
	  "key IDs in/out, age, next rekey, lifetime in force,\n"
	  "rekey count, and whether its budget alarm is active",
	  "sa show", show_sas, NULL },
	{ "account", "show", "[--csv|--json] [--limit N]",
	  "accounting (charging): keys and bits supplied, relayed\n"
	  "and refused (by reason) per SAE pair and per SAE, and\n"
	  "the keys the node's own consumers took (wireguard:w0),\n"
	  "since the accounting log began; --csv and --json\n"
	  "export the newest N closed intervals (default 1000),\n"
	  "the open one and the totals\n"
	  "(Documentation/qkd/accounting.rst)",
	  "account show", show_account, account_options },
};

/* "  link down PEER       take the link ...", continuation lines indented. */
static void print_command_help(FILE *out, const struct command *c)
{
	const char *line = c->help, *nl;
	int n;

	n = fprintf(out, "  %s%s%s%s%s", c->object, c->verb ? " " : "",
		    c->verb ? c->verb : "", *c->synopsis ? " " : "",
		    c->synopsis);
	if (n > HELP_COLUMN - 2) {
		fputc('\n', out);	/* too long: the text starts below */
		n = 0;
	}
	for (; (nl = strchr(line, '\n')); line = nl + 1) {
		fprintf(out, "%*s%.*s\n", HELP_COLUMN - n, "", (int)(nl - line),
			line);
		n = 0;
	}
	fprintf(out, "%*s%s\n", HELP_COLUMN - n, "", line);
}

static void usage(FILE *out)
{
	fputs(
"Usage: qkdctl [OPTIONS] OBJECT [COMMAND [ARGUMENTS]]\n"
"       qkdctl [OPTIONS] kernel OBJECT [COMMAND [ARGUMENTS]]\n"
"       qkdctl OBJECT help\n"
"\n"
"Shows and steers a running qkdkmd through its control socket, or reads\n"
"and sets qkd.ko's link ends (\"kernel\", see below).  Only metadata is\n"
"shown (names, key IDs, sizes, states, counters, times): neither has a\n"
"command that returns key bytes.\n"
"\n"
"Every OBJECT and COMMAND may be shortened to a prefix that names only\n"
"one of them: \"qkdctl l sh\" is \"qkdctl link show\"; an ambiguous prefix\n"
"is an error that lists the candidates.  An OBJECT alone means\n"
"\"OBJECT show\", as in ip(8).\n"
"\n"
"Objects and commands:\n", out);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		print_command_help(out, &commands[i]);
	fputs(
"  OBJECT help          the commands of OBJECT only\n"
"\n"
"Options (before OBJECT):\n"
"      --socket PATH    the daemon's control socket (the [node] control key\n"
"                       of its config).  Default: $QKDCTL_SOCKET, else the\n"
"                       only *.sock in " CTL_SOCKET_DIR ".  The old spelling\n"
"                       -s PATH fails with a hint: -s is --stats now.\n"
"  -s, --stats          statistics: kernel link show adds the link end's\n"
"                       QKD_STAT counters; the daemon's views carry their\n"
"                       counters anyway\n"
"  -n, --netns NETNS    run in network namespace NETNS, like ip -n: the\n"
"                       name of an \"ip netns add\" namespace (" NETNS_RUN_DIR "/\n"
"                       NETNS), or a path to any nsfs file such as\n"
"                       /proc/PID/ns/net.  Kernel commands then see that\n"
"                       namespace's link ends.  Needs CAP_SYS_ADMIN.\n"
"  -j, --json           print the answer as JSON\n"
"  -p, --pretty         with -j: indented JSON\n"
"  -h, --help           this text\n"
"\n"
"Exit status:\n"
"  0  success, also for a view with nothing to show: sa show without\n"
"     [ipsec] gateways, macsec show without [macsec] ports,\n"
"     wireguard show without [wireguard] sections and strongswan\n"
"     show without [strongswan] sections print\n"
"     nothing (with -j, no entries)\n"
"  1  the daemon could not be reached or refused the request, e.g.\n"
"     key show --sae with an SAE it does not know, or link down with\n"
"     a PEER it has no link to\n"
"  2  bad usage (unknown or ambiguous word, bad option); nothing was sent\n"
"Errors are one line on stderr.\n"
"\n"
"Examples:\n"
"  qkdctl --socket /run/qkdkmd/A.sock link show\n"
"  qkdctl -j key show --sae app1 --limit 10\n"
"  qkdctl path A F\n"
"  qkdctl -n alice -s kernel l sh\n", out);
	qkdctl_kernel_usage(out);
}

/* "qkdctl OBJECT help": the lines of --help about @object. */
static void object_usage(const char *object)
{
	const char *lead = "Usage:";

	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const struct command *c = &commands[i];

		if (strcmp(c->object, object))
			continue;
		printf("%-6s qkdctl [OPTIONS] %s%s%s%s%s\n", lead, object,
		       c->verb ? " " : "", c->verb ? c->verb : "",
		       *c->synopsis ? " " : "", c->synopsis);
		lead = "";
	}
	printf("       qkdctl %s help\n\n", object);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].object, object))
			print_command_help(stdout, &commands[i]);
	printf("\nOptions and exit status: qkdctl --help.\n");
}

/* The object @word names (a prefix will do), or exit 2. */
static const char *find_object(const char *word)
{
	const char *words[ARRAY_SIZE(commands) + 2];
	size_t n = 0;
	int i;

	for (size_t k = 0; k < ARRAY_SIZE(commands); k++)
		words[n++] = commands[k].object;
	words[n++] = "kernel";
	words[n++] = "help";
	i = match_word("command", word, words, n);
	if (i < 0)
		die(EXIT_USAGE, "unknown command '%s' (see --help)", word);
	return words[i];
}

/*
 * The command for "@object [VERB]", VERB at @argv[1]: one of the object's
 * verbs or "help" (a prefix will do), else the object's "show" when no
 * verb follows ("link" alone means "link show", as in ip(8)).  NULL for
 * "help".  Sets *used to the words taken.
 */
static const struct command *find_command(const char *object, int argc,
					  char **argv, int *used)
{
	const struct command *cmds[ARRAY_SIZE(commands)];
	const char *verbs[ARRAY_SIZE(commands) + 1];
	const char *verb = argc > 1 ? argv[1] : NULL;
	char what[64];
	size_t n = 0;
	int i;

	for (size_t k = 0; k < ARRAY_SIZE(commands); k++) {
		if (strcmp(commands[k].object, object))
			continue;
		cmds[n] = &commands[k];
		verbs[n++] = commands[k].verb;
	}
	*used = 1;
	if (!cmds[0]->verb) {
		/* status, path: arguments follow at once; "help" alone. */
		if (argc == 2 && !strcmp(verb, "help")) {
			*used = 2;
			return NULL;
		}
		return cmds[0];
	}
	if (!verb || verb[0] == '-') {
		for (size_t k = 0; k < n; k++)
			if (!strcmp(cmds[k]->verb, "show"))
				return cmds[k];
	}
	if (!verb)
		die(EXIT_USAGE, "%s: which command? (see qkdctl %s help)",
		    object, object);
	verbs[n] = "help";
	snprintf(what, sizeof(what), "%s command", object);
	i = match_word(what, verb, verbs, n + 1);
	if (i < 0)
		die(EXIT_USAGE, "%s: unknown command '%s' (see qkdctl %s help)",
		    object, verb, object);
	*used = 2;
	return (size_t)i == n ? NULL : cmds[i];
}

/*
 * Until -s came to mean --stats as in ip(8), "-s PATH" named the control
 * socket.  Scripts with the old spelling get told, not "unknown command".
 */
static void old_socket_option(void)
{
	die(EXIT_USAGE, "-s means --stats now: name the control socket with --socket PATH");
}

static bool looks_like_path(const char *s)
{
	size_t len = strlen(s);

	return strchr(s, '/') || (len > 5 && !strcmp(s + len - 5, ".sock"));
}

int main(int argc, char **argv)
{
	enum { OPT_SOCKET = 256 };	/* long only: -s is --stats */
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "stats", no_argument, NULL, 's' },
		{ "netns", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct qkdctl_opts o = { 0 };
	const char *sock = NULL, *netns = NULL, *object;
	const struct command *c;
	json_t *req, *data;
	int opt, rest, used;

	/*
	 * '+': options end at the object, so "key show --sae X" works;
	 * ':' and opterr 0: our own one-line messages.
	 */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:sn:jph", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_SOCKET: sock = optarg; break;
		case 's': o.stats = true; break;
		case 'n': netns = optarg; break;
		case 'j': o.json = true; break;
		case 'p': o.pretty = true; break;
		case 'h': usage(stdout); return 0;
		case ':':
			die(EXIT_USAGE, "option '%s' needs a value (see --help)",
			    argv[optind - 1]);
		default:
			if (optopt == '/')	/* "-s/run/qkdkmd/A.sock" */
				old_socket_option();
			if (optopt)
				die(EXIT_USAGE, "unknown option '-%c' (see --help)",
				    optopt);
			die(EXIT_USAGE, "unknown option '%s' (see --help)",
			    argv[optind - 1]);
		}
	}
	if (optind >= argc)
		die(EXIT_USAGE, "no command (status, link, pool, sae, peer, alarm, key, topology, route, path, relay, macsec, wireguard, strongswan, sa, account, kernel; see --help)");
	if (o.stats && looks_like_path(argv[optind]))
		old_socket_option();
	object = find_object(argv[optind]);
	if (!strcmp(object, "help")) {
		usage(stdout);
		return 0;
	}
	if (netns)
		enter_netns(netns);
	if (!strcmp(object, "kernel"))
		return qkdctl_kernel_main(argc - optind - 1, argv + optind + 1,
					  &o);
	c = find_command(object, argc - optind, argv + optind, &used);
	if (!c) {
		object_usage(object);
		return fflush(stdout) ? EXIT_REFUSED : 0;
	}
	rest = optind + used;
	req = json_pack("{s:s}", "cmd", c->cmd);
	if (!req)
		die(EXIT_REFUSED, "out of memory");
	if (c->args)
		c->args(argc - rest, argv + rest, req);
	else if (rest < argc)
		die(EXIT_USAGE, "%s: unexpected argument '%s'", c->cmd,
		    argv[rest]);

	data = request(sock ? sock : default_socket(), req);
	json_decref(req);
	if (o.json) {
		json_dumpf(data, stdout,
			   o.pretty ? JSON_INDENT(2) : JSON_COMPACT);
		putchar('\n');
	} else {
		c->show(data);
	}
	json_decref(data);
	return fflush(stdout) ? EXIT_REFUSED : 0;
}
