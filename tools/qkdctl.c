// SPDX-License-Identifier: GPL-2.0
/*
 * qkdctl: the operator's view of a running qkdkmd, over its control socket
 * (one JSON request and one JSON response per line; see daemon/mgmt/ctl.h).
 * iproute2/wg style: "qkdctl link show", "-j" for JSON.  Everything it can
 * show is metadata; the daemon has no request that returns key bytes.
 * "qkdctl kernel ..." talks to qkd.ko instead (qkdctl_kernel.c).
 */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
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
#include "qkdctl_kernel.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))
#define REPLY_MAX	(256u << 20)	/* a key listing can be large */

static const char *prog = "qkdctl";

static void usage(FILE *out)
{
	fputs(
"Usage: qkdctl [-s SOCKET] [-j] [-p] OBJECT show [OPTIONS]\n"
"       qkdctl [-s SOCKET] [-j] status\n"
"       qkdctl [-j] [-p] kernel [-s] link|monitor ... (see below)\n"
"\n"
"Shows the state of a running qkdkmd through its control socket.  Only\n"
"metadata is shown (names, key IDs, sizes, states, counters, times): the\n"
"daemon has no command that returns key bytes.\n"
"\n"
"Commands:\n"
"  status               node name, uptime, listeners, link and peer counts\n"
"  link show            QKD links: peer, source (sim/kernel), role, state\n"
"  pool show            key pools per link: bytes available, level, counters\n"
"  sae show             the SAE table and the master/slave pairs served\n"
"  peer show            Kx channels to peer daemons: state, messages, errors\n"
"  alarm show           active alarms (fault management): source, since when,\n"
"                       how often raised, and what is wrong\n"
"  key show [--sae ID] [--limit N]\n"
"                       application key records (newest N, default 1000),\n"
"                       optionally only those of SAE ID: key_ID, link\n"
"                       position, size, master, slaves, state, times\n"
"  topology show        the QKD network as this node knows it from link-state\n"
"                       advertisements: nodes, links, pool levels, ages\n"
"  route show           the relay route to every known node, with its cost\n"
"  path [FROM] TO       which path a key from FROM (default: this node) to TO\n"
"                       would take now\n"
"  relay show           relay sessions this node took part in, and counters\n"
"  relay audit          pad accounting per link and direction: pad bits taken\n"
"                       = relayed bits + MAC key bits + discarded bits\n"
"  link down|up PEER    take the link to PEER out of (or back into) routing,\n"
"                       e.g. before maintenance; keys already relayed stay\n"
"  macsec show          MACsec ports keyed from QKD links: interface, peer,\n"
"                       SCIs, state, current AN and QKD key ID, rotations,\n"
"                       failures, age of the last rotation, TX PN\n"
"  sa show              QKD-keyed IPsec SA pairs per remote gateway and reqid:\n"
"                       peer, mode, role (owner rekeys), state, SPIs and QKD\n"
"                       key IDs in/out, age, next rekey, lifetime in force,\n"
"                       rekey count, and whether its budget alarm is active\n"
"\n"
"Options:\n"
"  -s, --socket PATH    the daemon's control socket (the [node] control key\n"
"                       of its config).  Default: $QKDCTL_SOCKET, else the\n"
"                       only *.sock in " CTL_SOCKET_DIR ".\n"
"  -j, --json           print the daemon's answer as JSON\n"
"  -p, --pretty         with -j: indented JSON\n"
"  -h, --help           this text\n"
"\n"
"Exit status: 0 on success, 1 if the daemon could not be reached or\n"
"refused the request, 2 on bad usage.  Errors are one line on stderr.\n"
"\n"
"Examples:\n"
"  qkdctl -s /run/qkdkmd/A.sock link show\n"
"  qkdctl -j key show --sae app1 --limit 10\n"
"  qkdctl path A F\n", out);
	qkdctl_kernel_usage(out);
}

static void die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

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

/* ---- talking to the daemon --------------------------------------------- */

static const char *default_socket(void)
{
	static char path[4096];
	const char *env = getenv("QKDCTL_SOCKET");
	glob_t g;

	if (env && *env)
		return env;
	if (glob(CTL_SOCKET_DIR "/*.sock", 0, NULL, &g) != 0)
		die(1, "no daemon socket in %s (is qkdkmd running? use -s)",
		    CTL_SOCKET_DIR);
	if (g.gl_pathc != 1) {
		globfree(&g);
		die(1, "several daemon sockets in %s: choose one with -s",
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
		die(1, "%s: socket path too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(1, "%s: %s (is qkdkmd running?)", path, strerror(errno));
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
			die(1, "sending the request: %s", strerror(errno));
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
		die(1, "out of memory");
	while (!nl) {
		if (len + 1 >= cap) {
			if (cap >= REPLY_MAX)
				die(1, "answer too long");
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				die(1, "out of memory");
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(1, "the daemon closed the connection without answering");
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
	}
	*nl = '\0';
	reply = json_loads(buf, 0, &jerr);
	free(buf);
	if (!reply)
		die(1, "bad answer from the daemon: %s", jerr.text);
	return reply;
}

static json_t *request(const char *sock, json_t *req)
{
	char *line = json_dumps(req, JSON_COMPACT);
	json_t *reply, *data;
	int fd, ok = 0;
	const char *error = "no reason given";

	if (!line)
		die(1, "out of memory");
	fd = connect_daemon(sock);
	send_all(fd, line, strlen(line));
	send_all(fd, "\n", 1);
	free(line);
	reply = read_reply(fd);
	close(fd);
	if (json_unpack(reply, "{s:b, s?s}", "ok", &ok, "error", &error) < 0)
		die(1, "bad answer from the daemon");
	if (!ok)
		die(1, "%s", error);
	data = json_incref(json_object_get(reply, "data"));
	json_decref(reply);
	if (!data)
		die(1, "bad answer from the daemon: no data");
	return data;
}

/* ---- human-readable output --------------------------------------------- */

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

static long long num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

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
	printf("node %s  pid %lld  up ", str(d, "node"), num(d, "pid"));
	print_duration(num(d, "uptime_s"));
	printf("\n  etsi014 %s  kx %s  log %s\n", str(d, "etsi014"),
	       *str(d, "kx") ? str(d, "kx") : "-", str(d, "log_level"));
	printf("  links %lld (%lld up)  peers %lld (%lld up)  SAEs %lld\n",
	       num(d, "links"), num(d, "links_up"), num(d, "peers"),
	       num(d, "peers_up"), num(d, "saes"));
}

static void show_links(json_t *d)
{
	size_t i;
	json_t *l;

	json_array_foreach(d, i, l)
		printf("%s: peer %s source %s role %s state %s block_size %lld level %s\n",
		       str(l, "link"), str(l, "peer"), str(l, "source"),
		       str(l, "role"), str(l, "state"), num(l, "block_size"),
		       str(l, "level"));
}

static void show_pools(json_t *d)
{
	size_t i;
	json_t *l;

	json_array_foreach(d, i, l) {
		printf("%s: avail %lld bytes level %s block_size %lld keys_held %lld\n",
		       str(l, "link"), num(l, "avail"), str(l, "level"),
		       num(l, "block_size"), num(l, "keys_held"));
		printf("    allocated %lld fetched %lld discarded %lld fetch_failures %lld\n",
		       num(l, "allocated"), num(l, "fetched"),
		       num(l, "discarded"), num(l, "fetch_failures"));
	}
}

static void show_saes(json_t *d)
{
	json_t *s, *saes = json_object_get(d, "saes"), *pairs = json_object_get(d, "pairs");
	size_t i;

	json_array_foreach(saes, i, s)
		printf("%s: cert_cn %s node %s%s\n", str(s, "sae"),
		       str(s, "cert_cn"), str(s, "node"),
		       json_is_true(json_object_get(s, "local")) ? " (local)" : "");
	json_array_foreach(pairs, i, s)
		printf("pair %s -> %s: link %s (%s -> %s) stored %lld supplied %lld pending %lld\n",
		       str(s, "master"), str(s, "slave"), str(s, "link"),
		       str(s, "master_node"), str(s, "slave_node"),
		       num(s, "stored"), num(s, "supplied"), num(s, "pending"));
}

static void show_peers(json_t *d)
{
	size_t i;
	json_t *p;

	json_array_foreach(d, i, p) {
		printf("%s: address %s cert_cn %s state %s connects %lld sent %lld received %lld queued %lld\n",
		       str(p, "peer"), str(p, "address"), str(p, "cert_cn"),
		       str(p, "state"), num(p, "connects"), num(p, "sent"),
		       num(p, "received"), num(p, "queued"));
		if (*str(p, "last_error"))
			printf("    last error: %s\n", str(p, "last_error"));
	}
}

static void show_sas(json_t *d)
{
	json_t *pairs = json_object_get(d, "pairs"), *p;
	size_t i;

	printf("reqids %lld..%lld: %lld acquires, %lld toward unknown gateways, %lld left to IKE\n",
	       num(d, "reqid_min"), num(d, "reqid_max"), num(d, "acquires"),
	       num(d, "unknown_acquires"), num(d, "foreign_acquires"));
	json_array_foreach(pairs, i, p) {
		printf("%s reqid %lld: peer %s %s %s state %s generation %lld rekeys %lld lifetime %llds%s\n",
		       str(p, "gateway"), num(p, "reqid"), str(p, "peer"),
		       str(p, "mode"), str(p, "role"), str(p, "state"),
		       num(p, "generation"), num(p, "rekeys"),
		       num(p, "lifetime_s"),
		       json_is_true(json_object_get(p, "alarm")) ? " ALARM" : "");
		if (!json_object_get(p, "spi_in"))
			continue;
		printf("    in spi %s key %s, out spi %s key %s, age %.1fs",
		       str(p, "spi_in"), str(p, "key_id_in"),
		       str(p, "spi_out"), str(p, "key_id_out"),
		       num(p, "age_ms") / 1000.0);
		if (json_object_get(p, "next_rekey_ms"))
			printf(", next rekey in %.1fs",
			       num(p, "next_rekey_ms") / 1000.0);
		printf("\n");
	}
}

static void show_alarms(json_t *d)
{
	json_t *active = json_object_get(d, "active"), *a;
	size_t i;

	json_array_foreach(active, i, a) {
		time_t since = (time_t)num(a, "since");
		struct tm tm;
		char when[32];

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
			 gmtime_r(&since, &tm));
		printf("%s: since %s, raised %lld times: %s\n", str(a, "source"),
		       when, num(a, "count"), str(a, "text"));
	}
	printf("%zu active, %lld raised since start\n", json_array_size(active),
	       num(d, "raised"));
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
		       str(p, "port"), str(p, "interface"), str(p, "peer"),
		       str(p, "link"), json_is_true(json_object_get(p, "owner")) ?
		       "owner" : "follower", str(p, "state"));
		printf("    sci %s peer_sci %s an %lld key_id %s key_len %lld\n",
		       str(p, "sci"), str_or_dash(p, "peer_sci"), num(p, "an"),
		       str_or_dash(p, "key_id"), num(p, "key_len"));
		printf("    rotations %lld failures %lld every %lld s, last %lld ms ago, tx_pn %lld\n",
		       num(p, "rotations"), num(p, "failures"), num(p, "rotate_s"),
		       num(p, "last_rotation_age_ms"), num(p, "tx_pn"));
		if (*str(p, "last_error"))
			printf("    last error: %s\n", str(p, "last_error"));
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
		       str(k, "key_id"), str(k, "link"), num(k, "block"),
		       num(k, "offset"), num(k, "size"), str(k, "master"));
		json_array_foreach(json_object_get(k, "slaves"), j, s)
			printf("%s%s%s", j ? "," : " ", str(s, "sae"),
			       json_is_true(json_object_get(s, "delivered")) ?
			       "(delivered)" : "");
		printf(" state %s created ", str(k, "state"));
		print_time_ns(num(k, "created_ns"));
		putchar('\n');
	}
	if ((long long)json_array_size(keys) < num(d, "total"))
		printf("(%zu newest of %lld shown; --limit N for more)\n",
		       json_array_size(keys), num(d, "total"));
}

static void show_topology(json_t *d)
{
	json_t *n, *l;
	size_t i, j;

	printf("node %s  routing %s%s%s  key relay %s  lsa received %lld sent %lld aged out %lld\n",
	       str(d, "node"), str(d, "mode"),
	       *str(d, "controller") ? "  controller " : "",
	       str(d, "controller"), str(d, "key_relay"),
	       num(d, "lsa_received"), num(d, "lsa_sent"),
	       num(d, "aged_out"));
	json_array_foreach(json_object_get(d, "nodes"), i, n) {
		printf("%s (%s): seq %lld age %lld ms\n", str(n, "node"),
		       str(n, "role"), num(n, "seq"), num(n, "age_ms"));
		json_array_foreach(json_object_get(n, "links"), j, l)
			printf("    -> %s %s level %s avail %lld bits\n",
			       str(l, "peer"),
			       json_is_true(json_object_get(l, "up")) ?
			       "up" : "down", str(l, "level"),
			       num(l, "avail_bits"));
	}
}

static void print_path(json_t *p)
{
	json_t *hop;
	size_t i;

	printf("%s -> %s: ", str(p, "from"), str(p, "to"));
	if (json_object_get(p, "error")) {
		printf("%s\n", str(p, "error"));
		return;
	}
	json_array_foreach(json_object_get(p, "path"), i, hop)
		printf("%s%s", i ? " - " : "", json_string_value(hop));
	printf("  (%lld hops", num(p, "hops"));
	if (json_object_get(p, "cost"))
		printf(", cost %lld", num(p, "cost"));
	if (json_object_get(p, "source"))
		printf(", from the %s", str(p, "source"));
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
	printf("sessions open %lld of %lld\n", num(a, "open"),
	       num(a, "max_sessions"));
	for (size_t i = 0; i < 3; i++) {
		json_t *p = json_object_get(a, prios[i]);

		printf("    %-6s admitted %lld refused: busy %lld, pools low %lld\n",
		       prios[i], num(p, "admitted"), num(p, "refused_busy"),
		       num(p, "refused_pool"));
	}
}

static void show_relay(json_t *d)
{
	json_t *s;
	size_t i;

	printf("started %lld forwarded %lld delivered %lld acked %lld refused %lld auth_alarms %lld\n",
	       num(d, "started"), num(d, "forwarded"), num(d, "delivered"),
	       num(d, "acked"), num(d, "refused"), num(d, "auth_alarms"));
	show_admission(json_object_get(d, "admission"));
	if (json_object_get(d, "central_forwarded"))
		printf("central KM: forwarded %lld refused %lld\n",
		       num(d, "central_forwarded"), num(d, "central_refused"));
	json_array_foreach(json_object_get(d, "sessions"), i, s)
		printf("%s: %s route %s state %s age %lld ms\n",
		       str(s, "key_ID"), str(s, "role"), str(s, "route"),
		       str(s, "state"), num(s, "age_ms"));
}

static void print_acct(const char *dir, json_t *a)
{
	printf("    %s: pad taken %lld consumed %lld = relayed %lld + mac key %lld + discarded %lld bits  %s\n",
	       dir, num(a, "pad_bits_taken"), num(a, "pad_bits_consumed"),
	       num(a, "relayed_bits"), num(a, "mac_key_bits"),
	       num(a, "discarded_bits"),
	       json_is_true(json_object_get(a, "balanced")) ?
	       "balanced" : "NOT BALANCED");
	printf("        messages %lld rejected %lld auth_failures %lld\n",
	       num(a, "messages"), num(a, "rejected"),
	       num(a, "auth_failures"));
}

static void show_audit(json_t *d)
{
	json_t *l;
	size_t i;

	json_array_foreach(d, i, l) {
		printf("%s (peer %s):\n", str(l, "link"), str(l, "peer"));
		print_acct("tx", json_object_get(l, "tx"));
		print_acct("rx", json_object_get(l, "rx"));
	}
}

static void show_routing_admin(json_t *d)
{
	printf("link to %s: routing %s\n", str(d, "peer"), str(d, "routing"));
}

/* ---- command line ------------------------------------------------------ */

/* "path [FROM] TO" */
static void path_args(int argc, char **argv, json_t *req)
{
	if (argc < 1 || argc > 2)
		die(2, "path: expected [FROM] TO");
	json_object_set_new(req, "to", json_string(argv[argc - 1]));
	if (argc == 2)
		json_object_set_new(req, "from", json_string(argv[0]));
}

/* "link down|up PEER" */
static void peer_arg(int argc, char **argv, json_t *req)
{
	if (argc != 1)
		die(2, "link down|up: expected PEER");
	json_object_set_new(req, "peer", json_string(argv[0]));
}

static void key_options(int argc, char **argv, json_t *req);

struct command {
	const char *object;	/* "status", "link", ... */
	const char *verb;	/* NULL: none; "show" may also be left out */
	const char *cmd;	/* as the daemon names it */
	void (*show)(json_t *data);
	void (*args)(int argc, char **argv, json_t *req); /* NULL: none */
};

static const struct command commands[] = {
	{ "status", NULL, "status", show_status, NULL },
	{ "link", "show", "link show", show_links, NULL },
	{ "link", "down", "link down", show_routing_admin, peer_arg },
	{ "link", "up", "link up", show_routing_admin, peer_arg },
	{ "pool", "show", "pool show", show_pools, NULL },
	{ "sae", "show", "sae show", show_saes, NULL },
	{ "peer", "show", "peer show", show_peers, NULL },
	{ "alarm", "show", "alarm show", show_alarms, NULL },
	{ "key", "show", "key show", show_keys, key_options },
	{ "topology", "show", "topology show", show_topology, NULL },
	{ "route", "show", "route show", show_routes, NULL },
	{ "path", NULL, "path", print_path, path_args },
	{ "relay", "show", "relay show", show_relay, NULL },
	{ "relay", "audit", "relay audit", show_audit, NULL },
	{ "macsec", "show", "macsec show", show_macsec, NULL },
	{ "sa", "show", "sa show", show_sas, NULL },
};

/*
 * The command for "OBJECT [VERB]": an exact verb match, else the object's
 * "show" when no verb follows ("link" alone means "link show", as in ip(8)).
 * Sets *used to the words taken.
 */
static const struct command *find_command(int argc, char **argv, int *used)
{
	const char *verb = argc > 1 ? argv[1] : NULL;
	const struct command *c, *fallback = NULL;
	bool known = false;

	for (c = commands; c < commands + ARRAY_LEN(commands); c++) {
		if (strcmp(argv[0], c->object))
			continue;
		known = true;
		if (!c->verb) {
			*used = 1;
			return c;
		}
		if (verb && !strcmp(verb, c->verb)) {
			*used = 2;
			return c;
		}
		if (!strcmp(c->verb, "show"))
			fallback = c;
	}
	if (!known)
		die(2, "unknown command '%s' (see --help)", argv[0]);
	if (fallback && (!verb || verb[0] == '-')) {
		*used = 1;
		return fallback;
	}
	die(2, "%s: unknown verb '%s' (see --help)", argv[0],
	    verb ? verb : "");
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
				die(2, "--limit: '%s' is not a positive number",
				    argv[i]);
			json_object_set_new(req, "limit", json_integer(n));
		} else {
			die(2, "key show: unknown option '%s' (--sae ID, --limit N)",
			    argv[i]);
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct command *c;
	const char *sock = NULL;
	bool json = false, pretty = false;
	json_t *req, *data;
	int opt, rest, used;

	/* '+': options end at the command, so "key show --sae X" works. */
	while ((opt = getopt_long(argc, argv, "+s:jph", opts, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'j': json = true; break;
		case 'p': pretty = true; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return 2;
		}
	}
	if (optind >= argc)
		die(2, "no command (status, link, pool, sae, peer, key, topology, route, path, relay, macsec, kernel; see --help)");
	if (!strcmp(argv[optind], "kernel"))
		return qkdctl_kernel_main(argc - optind - 1, argv + optind + 1,
					  json, pretty);
	c = find_command(argc - optind, argv + optind, &used);
	rest = optind + used;
	req = json_pack("{s:s}", "cmd", c->cmd);
	if (!req)
		die(1, "out of memory");
	if (c->args)
		c->args(argc - rest, argv + rest, req);
	else if (rest < argc)
		die(2, "%s: unexpected argument '%s'", c->cmd, argv[rest]);

	data = request(sock ? sock : default_socket(), req);
	json_decref(req);
	if (json) {
		json_dumpf(data, stdout, pretty ? JSON_INDENT(2) : JSON_COMPACT);
		putchar('\n');
	} else {
		c->show(data);
	}
	json_decref(data);
	return fflush(stdout) ? 1 : 0;
}
