// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket: accepts qkdctl connections on the event loop, reads
 * one JSON request per line, answers one JSON line.  See ctl.h for the
 * protocol.  The answers' data are the operator views of view.h, built
 * from the elements' plain state (their *_info() / foreach functions,
 * whose structs hold no key bytes); this file only dispatches.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <jansson.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "kma/kma.h"
#include "ksa/ksa.h"
#include "mgmt/ctl.h"
#include "mgmt/view.h"
#include "routing/lsa.h"
#include "relay/relay.h"

#define CTL_MAX_CONNS	16
#define CTL_MAX_GROUPS	256	/* a client's groups looked at */

struct ctl_conn {
	struct ctl *ctl;
	int fd;
	struct loop_watch *watch;
	char in[CTL_LINE_MAX];
	size_t in_len;
	char *out;		/* response being sent */
	size_t out_len, out_off;
	bool admin;		/* may change state (ctl.h) */
	uid_t uid;		/* who, for the alarm acknowledgement */
	bool refused;		/* neither: its request gets "permission denied" */
	uint64_t last_active_ms;
	struct ctl_conn *next;
};

struct ctl {
	struct loop *loop;
	const struct ctl_sources *src;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	struct loop_watch *watch;
	struct ctl_conn *conns;
	unsigned int n_conns;
	struct loop_timer *sweep;	/* idle connections */
	gid_t sock_gid;			/* the socket's group: read-only */
	gid_t admin_gid;		/* [node] control_admin_group */
	bool has_admin_gid;
	uint64_t started_ms;
	time_t started;
	char why[192];		/* a refusal that names what was asked */
};

/* ---- requests ---------------------------------------------------------- */

/* Configured, or provisioned at run time (mgmt/provision.h). */
static bool sae_known(const struct qkd_config *cfg, const struct ksa *ksa,
		      const char *sae)
{
	struct ksa_sae_cfg s;

	for (size_t i = 0; i < cfg->n_saes; i++)
		if (!strcmp(cfg->saes[i].name, sae))
			return true;
	for (size_t i = 0; ksa && !ksa_sae_get(ksa, i, &s); i++)
		if (!strcmp(s.name, sae))
			return true;
	return false;
}

static json_t *error_reply(const char *fmt, const char *arg)
{
	char msg[256];

	snprintf(msg, sizeof(msg), fmt, arg);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* The view for @cmd, or NULL with @why set. */
struct ctl_args {
	const char *to, *from, *peer;
	const char *link, *state;	/* link generation */
	json_int_t id;		/* alarm ack */
	bool admin;		/* the client may change state */
	uid_t uid;
};

/* "alarm ack": the operator has seen alarm @a->id (X.733 acknowledgement). */
static json_t *alarm_ack_command(struct ctl *ctl, const struct ctl_args *a,
				 const char **why)
{
	char who[32];

	if (!a->admin) {
		*why = "alarm ack: permission denied (read-only client; see [node] control_admin_group)";
		return NULL;
	}
	if (a->id <= 0) {
		*why = "alarm ack: \"id\" is required (see alarm show)";
		return NULL;
	}
	snprintf(who, sizeof(who), "uid %u", (unsigned int)a->uid);
	if (alarm_ack((uint64_t)a->id, who)) {
		snprintf(ctl->why, sizeof(ctl->why),
			 "alarm ack: no active alarm %lld (see alarm show)",
			 (long long)a->id);
		*why = ctl->why;
		return NULL;
	}
	return json_pack("{s:I, s:b}", "id", a->id, "acked", 1);
}

/* "link generation": start or stop key generation on a link (kma.h). */
static json_t *generation_command(struct ctl *ctl, const struct ctl_args *a,
				  const char **why)
{
	struct kma_link_info li;
	bool run;

	if (!a->admin) {
		*why = "link generation: permission denied (read-only client; see [node] control_admin_group)";
		return NULL;
	}
	if (!a->link || !a->state ||
	    (strcmp(a->state, "start") && strcmp(a->state, "stop"))) {
		*why = "link generation: \"link\" and \"state\" (start or stop) are required";
		return NULL;
	}
	if (!ctl->src->kma) {
		*why = "link generation: no links";
		return NULL;
	}
	run = !strcmp(a->state, "start");
	if (kma_link_set_generation(ctl->src->kma, a->link, run, ctl->why,
				    sizeof(ctl->why))) {
		*why = ctl->why;
		return NULL;
	}
	for (size_t i = 0; !kma_link_info(ctl->src->kma, i, &li); i++)
		if (!strcmp(li.name, a->link))
			return view_link_json(&li, ctl->src->lsa &&
					      lsa_admin_down(ctl->src->lsa,
							     li.peer), false);
	*why = "link generation: the link went away";
	return NULL;
}

/* Key relay and routing views (lsa.c, relay.c). */
static json_t *relay_command(struct ctl *ctl, const char *cmd,
			     const struct ctl_args *a, const char **why)
{
	struct lsa *lsa = ctl->src->lsa;
	struct relay *relay = ctl->src->relay;

	if (!lsa || !relay) {
		*why = "key relay is not running (no peers)";
		return NULL;
	}
	if (!strcmp(cmd, "topology show"))
		return view_routing_topology(lsa);
	if (!strcmp(cmd, "route show"))
		return view_routing_routes(lsa);
	if (!strcmp(cmd, "relay show"))
		return view_relay_sessions(relay, ctl->src->peers);
	if (!strcmp(cmd, "relay audit"))
		return view_relay_audit(relay);
	if (!strcmp(cmd, "path")) {
		if (a->to)
			return view_routing_path(lsa, a->from, a->to);
		*why = "path: \"to\" is required";
		return NULL;
	}
	if (!strcmp(cmd, "link down") || !strcmp(cmd, "link up")) {
		if (!a->admin) {
			*why = "link down/up: permission denied (read-only client; see [node] control_admin_group)";
			return NULL;
		}
		if (!a->peer) {
			*why = "link down/up: \"peer\" is required";
			return NULL;
		}
		if (lsa_set_admin_down(lsa, a->peer, cmd[5] == 'd')) {
			*why = "no link to that peer";
			return NULL;
		}
		return json_pack("{s:s, s:s}", "peer", a->peer, "routing",
				 cmd[5] == 'd' ? "down" : "up");
	}
#ifdef QKD_TEST_HOOKS
	if (!strcmp(cmd, "test tamper")) {
		relay_test_tamper_next(relay);
		return json_pack("{s:b}", "armed", 1);
	}
#endif
	*why = "unknown command";
	return NULL;
}

static json_t *run_command(struct ctl *ctl, const char *cmd, const char *sae,
			   json_int_t limit, const struct ctl_args *args,
			   const char **why)
{
	const struct ctl_sources *s = ctl->src;

	*why = "out of memory";
	if (!strcmp(cmd, "status"))
		return view_status(s->cfg, s->kma, s->peers,
				   (loop_now_ms() - ctl->started_ms) / 1000,
				   ctl->started, s->memory_locked);
	if (!strcmp(cmd, "link show"))
		return view_links(s->kma, s->lsa, false);
	if (!strcmp(cmd, "link generation"))
		return generation_command(ctl, args, why);
	if (!strcmp(cmd, "pool show"))
		return view_links(s->kma, s->lsa, true);
	if (!strcmp(cmd, "sae show"))
		return view_saes(s->cfg, s->ksa, s->lsa);
	if (!strcmp(cmd, "peer show"))
		return view_peers(s->peers);
	if (!strcmp(cmd, "alarm show"))
		return view_alarms();
	if (!strcmp(cmd, "alarm history"))
		return view_alarm_history();
	if (!strcmp(cmd, "alarm ack"))
		return alarm_ack_command(ctl, args, why);
	if (!strcmp(cmd, "macsec show"))
		return view_macsec(s->macsec);
	if (!strcmp(cmd, "wireguard show"))
		return view_wireguard(s->wireguard);
	if (!strcmp(cmd, "strongswan show"))
		return view_strongswan(s->strongswan);
	if (!strcmp(cmd, "sa show"))
		return view_ipsec(s->ipsec);
	if (!strcmp(cmd, "account show")) {
		if (limit <= 0) {
			*why = "account show: limit must be positive";
			return NULL;
		}
		return view_account(s->account, (size_t)limit);
	}
	if (!strcmp(cmd, "key show")) {
		if (limit <= 0) {
			*why = "key show: limit must be positive";
			return NULL;
		}
		if (sae && !sae_known(s->cfg, s->ksa, sae)) {
			snprintf(ctl->why, sizeof(ctl->why),
				 "key show: no SAE '%.*s' (see sae show)",
				 KSA_SAE_ID_MAX, sae);
			*why = ctl->why;
			return NULL;
		}
		return view_keys(s->ksa, sae, (size_t)limit);
	}
	return relay_command(ctl, cmd, args, why);
}

static json_t *handle(struct ctl *ctl, const char *line, bool admin,
		      uid_t uid)
{
	json_error_t jerr;
	json_t *req, *data, *reply;
	const char *cmd = NULL, *sae = NULL, *why;
	struct ctl_args args = { .admin = admin, .uid = uid };
	json_int_t limit = CTL_KEY_LIMIT_DEFAULT;

	req = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	if (!req)
		return error_reply("malformed request: %s", jerr.text);
	if (json_unpack_ex(req, &jerr, JSON_STRICT,
			   "{s:s, s?s, s?I, s?s, s?s, s?s, s?I, s?s, s?s}",
			   "cmd", &cmd,
			   "sae", &sae, "limit", &limit, "to", &args.to,
			   "from", &args.from, "peer", &args.peer,
			   "id", &args.id, "link", &args.link,
			   "state", &args.state)) {
		reply = error_reply("bad request: %s", jerr.text);
		json_decref(req);
		return reply;
	}
	data = run_command(ctl, cmd, sae, limit, &args, &why);
	if (data)
		reply = json_pack("{s:b, s:o}", "ok", 1, "data", data);
	else
		reply = error_reply("%s", why);
	json_decref(req);
	return reply;
}

/* ---- connections ------------------------------------------------------- */

static void conn_close(struct ctl_conn *c)
{
	struct ctl_conn **pp;

	for (pp = &c->ctl->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->ctl->n_conns--;
	loop_watch_del(c->watch);
	close(c->fd);
	free(c->out);
	free(c);
}

/* Send what we can; 0 when done or waiting for POLLOUT, -1 on error. */
static int conn_flush(struct ctl_conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return loop_watch_set(c->watch, POLLOUT) ? -1 : 0;
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	return loop_watch_set(c->watch, POLLIN) ? -1 : 0;
}

static int conn_reply(struct ctl_conn *c, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	size_t len;

	json_decref(reply);
	if (!text)
		return -1;
	len = strlen(text);
	/* One line: jansson escapes newlines inside strings. */
	c->out = malloc(len + 2);
	if (!c->out) {
		free(text);
		return -1;
	}
	memcpy(c->out, text, len);
	free(text);
	c->out[len] = '\n';
	c->out[len + 1] = '\0';
	c->out_len = len + 1;
	c->out_off = 0;
	return conn_flush(c);
}

/* Answer the first complete line in the input; 1 if one was answered. */
static int conn_process(struct ctl_conn *c)
{
	char *nl = memchr(c->in, '\n', c->in_len);
	size_t used;

	if (!nl)
		return 0;
	*nl = '\0';
	used = (size_t)(nl - c->in) + 1;
	c->last_active_ms = loop_now_ms();
	if (c->refused) {	/* the answer is short: it leaves at once */
		conn_reply(c, error_reply("%s", "permission denied"));
		return -1;
	}
	if (conn_reply(c, handle(c->ctl, c->in, c->admin, c->uid)) < 0)
		return -1;
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	return 1;
}

static void on_conn(void *arg, uint32_t revents)
{
	struct ctl_conn *c = arg;
	ssize_t n;

	if (revents & POLLNVAL)
		goto close;
	if (c->out) {
		/* Finish the answer before reading the next request. */
		if (conn_flush(c) < 0)
			goto close;
		if (c->out)
			return;
	}
	for (;;) {
		int r;

		while ((r = conn_process(c)) == 1)
			if (c->out)
				return;	/* wait for POLLOUT, then go on */
		if (r < 0)
			goto close;
		if (c->in_len == sizeof(c->in)) {
			conn_reply(c, error_reply("%s", "request line too long"));
			goto close;
		}
		n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			goto close;
		c->in_len += (size_t)n;
		c->last_active_ms = loop_now_ms();
	}
close:
	conn_close(c);
}

/*
 * Who the client is (SO_PEERCRED, SO_PEERGROUPS): 1 admin, 0 read-only,
 * -1 refused.  Admins: root, the daemon's own user, members of [node]
 * control_admin_group.  Read-only: other members of the socket's group.
 */
static int client_rights(const struct ctl *ctl, int fd, struct ucred *cr)
{
	gid_t groups[CTL_MAX_GROUPS];
	socklen_t len = sizeof(*cr);
	bool in_sock = false, in_admin = false;
	int n = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len) < 0)
		return -1;
	if (cr->uid == 0 || cr->uid == geteuid())
		return 1;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		n = (int)(len / sizeof(groups[0]));
	for (int i = -1; i < n; i++) {
		gid_t g = i < 0 ? cr->gid : groups[i];

		in_sock |= g == ctl->sock_gid;
		in_admin |= ctl->has_admin_gid && g == ctl->admin_gid;
	}
	return in_admin ? 1 : in_sock ? 0 : -1;
}

static void on_accept(void *arg, uint32_t revents)
{
	struct ctl *ctl = arg;
	struct ctl_conn *c;
	struct ucred cr = { 0 };
	int fd, rights;

	while ((fd = accept4(ctl->fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (ctl->n_conns >= CTL_MAX_CONNS) {
			log_warn("control: too many connections, refusing one");
			close(fd);
			continue;
		}
		rights = client_rights(ctl, fd, &cr);
		if (rights < 0)
			log_notice("control: refused uid %u gid %u: not in the control socket's group",
				   (unsigned int)cr.uid, (unsigned int)cr.gid);
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->ctl = ctl;
		c->fd = fd;
		c->admin = rights == 1;
		c->uid = cr.uid;
		c->refused = rights < 0;	/* told so when it asks */
		c->last_active_ms = loop_now_ms();
		c->watch = loop_watch_add(ctl->loop, fd, POLLIN, on_conn, c);
		if (!c->watch) {
			close(fd);
			free(c);
			continue;
		}
		c->next = ctl->conns;
		ctl->conns = c;
		ctl->n_conns++;
	}
}

/* ---- the listening socket ---------------------------------------------- */

/* A daemon answering on @path already?  Then we must not steal it. */
static bool socket_in_use(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool used;

	if (fd < 0)
		return false;
	used = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return used;
}

static int listen_unix(struct ctl *ctl, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old_umask;
	int fd;

	memcpy(sa.sun_path, ctl->path, sizeof(sa.sun_path));
	if (socket_in_use(&sa)) {
		snprintf(err, errlen, "control socket %s: another daemon is listening",
			 ctl->path);
		return -1;
	}
	unlink(ctl->path);	/* stale, from a daemon that died */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	old_umask = umask(0117);	/* socket file mode 0660 */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old_umask);
		goto fail;
	}
	umask(old_umask);
	if (listen(fd, 16) < 0)
		goto fail;
	ctl->fd = fd;
	return 0;
fail:
	snprintf(err, errlen, "control socket %s: %s", ctl->path,
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Close connections idle for CTL_IDLE_MS (a client that went away). */
static void on_sweep(void *arg)
{
	struct ctl *ctl = arg;
	uint64_t now = loop_now_ms();
	struct ctl_conn *c, *next;

	for (c = ctl->conns; c; c = next) {
		next = c->next;
		if (now - c->last_active_ms >= CTL_IDLE_MS)
			conn_close(c);
	}
}

/* [node] control_admin_group: a group name, or a number. */
static int admin_group(struct ctl *ctl, const char *name, char *err,
		       size_t errlen)
{
	struct group *gr;
	char *end;
	unsigned long v;

	if (!name || !*name)
		return 0;
	gr = getgrnam(name);
	if (gr) {
		ctl->admin_gid = gr->gr_gid;
	} else {
		errno = 0;
		v = strtoul(name, &end, 10);
		if (errno || *end || end == name) {
			snprintf(err, errlen, "[node] control_admin_group %s: no such group",
				 name);
			return -1;
		}
		ctl->admin_gid = (gid_t)v;
	}
	ctl->has_admin_gid = true;
	return 0;
}

struct ctl *ctl_start(struct loop *loop, const char *path,
		      const struct ctl_sources *src, char *err, size_t errlen)
{
	struct ctl *ctl;

	if (strlen(path) >= sizeof(ctl->path)) {
		snprintf(err, errlen, "control socket %s: path too long", path);
		return NULL;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		snprintf(err, errlen, "control socket: out of memory");
		return NULL;
	}
	ctl->loop = loop;
	ctl->src = src;
	ctl->fd = -1;
	ctl->started_ms = loop_now_ms();
	ctl->started = time(NULL);
	strcpy(ctl->path, path);
	ctl->sock_gid = getegid();	/* bind() gives the file our group */
	if (admin_group(ctl, src->cfg ? src->cfg->control_admin_group : NULL,
			err, errlen) < 0 ||
	    listen_unix(ctl, err, errlen) < 0) {
		free(ctl);
		return NULL;
	}
	ctl->watch = loop_watch_add(loop, ctl->fd, POLLIN, on_accept, ctl);
	ctl->sweep = loop_timer_add(loop, CTL_IDLE_MS / 4, true, on_sweep, ctl);
	if (!ctl->watch || !ctl->sweep) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		if (ctl->watch)
			loop_watch_del(ctl->watch);
		loop_timer_del(ctl->sweep);
		close(ctl->fd);
		unlink(ctl->path);
		free(ctl);
		return NULL;
	}
	return ctl;
}

void ctl_stop(struct ctl *ctl)
{
	if (!ctl)
		return;
	while (ctl->conns)
		conn_close(ctl->conns);
	loop_timer_del(ctl->sweep);
	loop_watch_del(ctl->watch);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl);
}
