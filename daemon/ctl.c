// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket: accepts qkdctl connections on the event loop, reads
 * one JSON request per line, answers one JSON line built from the key
 * manager's read-only views (keymgr.h).  See ctl.h for the protocol.
 *
 * Only metadata goes out: this file calls the *_info() / foreach functions
 * of keymgr.h, whose structs hold no key bytes.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "config.h"
#include "alarm.h"
#include "macsec.h"
#include "ipsec.h"
#include "ctl.h"
#include "keymgr.h"
#include "log.h"
#include "loop.h"
#include "lsa.h"
#include "peer.h"
#include "relay.h"

#define CTL_MAX_CONNS	16

struct ctl_conn {
	struct ctl *ctl;
	int fd;
	struct loop_watch *watch;
	char in[CTL_LINE_MAX];
	size_t in_len;
	char *out;		/* response being sent */
	size_t out_len, out_off;
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
	uint64_t started_ms;
	time_t started;
	char why[192];		/* a refusal that names what was asked */
};

/* ---- views ------------------------------------------------------------- */

static const char *level_name(enum qkd_pool_level l)
{
	switch (l) {
	case QKD_POOL_EMPTY:	return "empty";
	case QKD_POOL_WARNING:	return "warning";
	case QKD_POOL_LOW:	return "low";
	case QKD_POOL_READY:	return "ready";
	}
	return "?";
}

static const char *source_name(enum km_source s)
{
	return s == KM_SOURCE_KERNEL ? "kernel" : "sim";
}

static json_t *view_status(struct ctl *ctl)
{
	const struct ctl_sources *s = ctl->src;
	size_t n_links = s->kma ? kma_link_count(s->kma) : 0;
	size_t i, up = 0, peers_up = 0, n_peers;
	struct kma_link_info li;
	struct peer_info pi;

	for (i = 0; i < n_links; i++)
		if (!kma_link_info(s->kma, i, &li) && li.up)
			up++;
	n_peers = s->peers ? peers_count(s->peers) : 0;
	for (i = 0; i < n_peers; i++)
		if (!peers_info(s->peers, i, &pi) && pi.state == PEER_UP)
			peers_up++;
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s}",
			 "node", s->cfg->node.name,
			 "pid", (json_int_t)getpid(),
			 "uptime_s", (json_int_t)((loop_now_ms() - ctl->started_ms) / 1000),
			 "started", (json_int_t)ctl->started,
			 "links", (json_int_t)n_links,
			 "links_up", (json_int_t)up,
			 "peers", (json_int_t)n_peers,
			 "peers_up", (json_int_t)peers_up,
			 "saes", (json_int_t)s->cfg->n_saes,
			 "etsi014", s->cfg->etsi_listen,
			 "kx", s->cfg->kx_listen,
			 "log_level", config_log_level_name(log_get_level()));
}

static json_t *view_links(struct ctl *ctl, bool pools)
{
	const struct kma *kma = ctl->src->kma;
	const struct lsa *lsa = ctl->src->lsa;
	size_t n = kma ? kma_link_count(kma) : 0;
	json_t *arr = json_array(), *o;
	struct kma_link_info li;

	for (size_t i = 0; arr && i < n; i++) {
		if (kma_link_info(kma, i, &li))
			continue;
		if (pools)
			o = json_pack("{s:s, s:I, s:s, s:I, s:i, s:I, s:I, s:I, s:I}",
				      "link", li.name,
				      "avail", (json_int_t)li.avail,
				      "level", level_name(li.level),
				      "block_size", (json_int_t)li.block_size,
				      "keys_held", (int)li.keys_held,
				      "allocated", (json_int_t)li.bytes_allocated,
				      "fetched", (json_int_t)li.bytes_fetched,
				      "discarded", (json_int_t)li.bytes_discarded,
				      "fetch_failures", (json_int_t)li.fetch_failures);
		else
			/*
			 * "state" is the key source's; "link down PEER" only
			 * takes the link out of routing, shown as "admin".
			 */
			o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}",
				      "link", li.name, "peer", li.peer,
				      "source", source_name(li.source),
				      "role", li.role == QKD_ROLE_TX ? "tx" : "rx",
				      "state", li.up ? "up" : "down",
				      "admin",
				      lsa && lsa_admin_down(lsa, li.peer) ?
				      "down" : "up",
				      "block_size", (json_int_t)li.block_size,
				      "level", level_name(li.level));
		json_array_append_new(arr, o);
	}
	return arr;
}

/*
 * A pair whose SAEs' nodes share no link gets its keys by relay: the
 * nodes a key would pass now, or NULL without a route (or key relay).
 */
static json_t *pair_route(struct ctl *ctl, const char *from, const char *to)
{
	json_t *p, *path;

	if (!ctl->src->lsa)
		return NULL;
	p = lsa_view_path(ctl->src->lsa, from, to);
	path = json_incref(json_object_get(p, "path"));
	json_decref(p);
	return path;
}

static json_t *view_saes(struct ctl *ctl)
{
	const struct ctl_sources *s = ctl->src;
	json_t *root = json_object(), *saes = json_array(), *pairs = json_array();
	struct ksa_pair_info pi;
	size_t i, n;

	if (!root || !saes || !pairs) {
		json_decref(root);
		json_decref(saes);
		json_decref(pairs);
		return NULL;
	}
	for (i = 0; i < s->cfg->n_saes; i++) {
		const struct ksa_sae_cfg *c = &s->cfg->saes[i];

		json_array_append_new(saes, json_pack("{s:s, s:s, s:s, s:b}",
				"sae", c->name, "cert_cn", c->cert_cn,
				"node", c->node,
				"local", !strcmp(c->node, s->cfg->node.name)));
	}
	n = s->ksa ? ksa_pair_count(s->ksa) : 0;
	for (i = 0; i < n; i++) {
		if (ksa_pair_info(s->ksa, i, &pi))
			continue;
		json_array_append_new(pairs, json_pack(
				"{s:s, s:s, s:s, s:s, s:s?, s:o*, s:I, s:I, s:I}",
				"master", pi.master, "slave", pi.slave,
				"master_node", pi.master_node,
				"slave_node", pi.slave_node,
				"link", *pi.link ? pi.link : NULL,
				"route", *pi.link ? NULL :
				pair_route(ctl, pi.master_node, pi.slave_node),
				"stored", (json_int_t)pi.keys_stored,
				"supplied", (json_int_t)pi.keys_supplied,
				"pending", (json_int_t)pi.keys_pending));
	}
	json_object_set_new(root, "saes", saes);
	json_object_set_new(root, "pairs", pairs);
	return root;
}

static json_t *view_peers(struct ctl *ctl)
{
	const struct peers *peers = ctl->src->peers;
	size_t n = peers ? peers_count(peers) : 0;
	json_t *arr = json_array();
	struct peer_info pi;

	for (size_t i = 0; arr && i < n; i++) {
		if (peers_info(peers, i, &pi))
			continue;
		json_array_append_new(arr, json_pack(
				"{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:i, s:s}",
				"peer", pi.name, "address", pi.address,
				"cert_cn", pi.cert_cn,
				"state", peer_state_name(pi.state),
				"epoch", (json_int_t)pi.epoch,
				"connects", (json_int_t)pi.connects,
				"sent", (json_int_t)pi.msgs_sent,
				"received", (json_int_t)pi.msgs_received,
				"queued", (int)pi.queued,
				"last_error", pi.last_error));
	}
	return arr;
}

struct key_collect {
	const char *sae;	/* NULL: all */
	size_t skip;		/* matching records to pass over (older) */
	size_t seen;		/* matching records so far */
	json_t *arr;		/* NULL on the counting pass */
};

static bool key_involves(const struct kma_key_info *k, const char *sae)
{
	if (!strcmp(k->master, sae))
		return true;
	for (uint32_t i = 0; i < k->n_slaves && i < KM_MAX_SLAVES; i++)
		if (!strcmp(k->slaves[i], sae))
			return true;
	return false;
}

static json_t *key_json(const struct kma_key_info *k)
{
	json_t *slaves = json_array();

	for (uint32_t i = 0; slaves && i < k->n_slaves && i < KM_MAX_SLAVES; i++)
		json_array_append_new(slaves, json_pack("{s:s, s:b}",
				"sae", k->slaves[i],
				"delivered", !!(k->delivered_mask & (1u << i))));
	/* Key ID, place and size, state, times: never the bytes. */
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:o, s:s, s:I, s:I, s:I}",
			 "key_id", k->key_id, "link", k->link,
			 "block", (json_int_t)(k->src_key_id >> QKD_KEY_ID_OFFSET_BITS),
			 "offset", (json_int_t)(k->src_key_id &
					((1u << QKD_KEY_ID_OFFSET_BITS) - 1)),
			 "size", (json_int_t)k->len * 8,
			 "master", k->master, "slaves", slaves,
			 "state", kma_key_state_name(k->state),
			 "gen_time_ns", (json_int_t)k->gen_time_ns,
			 "created_ns", (json_int_t)k->created_ns,
			 "changed_ns", (json_int_t)k->changed_ns);
}

static int key_one(void *arg, const struct kma_key_info *k)
{
	struct key_collect *kc = arg;

	if (kc->sae && !key_involves(k, kc->sae))
		return 0;
	if (kc->arr && kc->seen >= kc->skip)
		json_array_append_new(kc->arr, key_json(k));
	kc->seen++;
	return 0;
}

/* The newest @limit matching records: count them, then collect. */
static json_t *view_keys(struct ctl *ctl, const char *sae, size_t limit)
{
	struct key_collect kc = { .sae = sae };
	size_t total;

	if (ctl->src->kma)
		kma_foreach_key(ctl->src->kma, key_one, &kc);
	total = kc.seen;
	kc.skip = total > limit ? total - limit : 0;
	kc.seen = 0;
	kc.arr = json_array();
	if (!kc.arr)
		return NULL;
	if (ctl->src->kma)
		kma_foreach_key(ctl->src->kma, key_one, &kc);
	return json_pack("{s:I, s:o}", "total", (json_int_t)total,
			 "keys", kc.arr);
}

/* ---- requests ---------------------------------------------------------- */

static bool sae_known(const struct qkd_config *cfg, const char *sae)
{
	for (size_t i = 0; i < cfg->n_saes; i++)
		if (!strcmp(cfg->saes[i].name, sae))
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
};

/* Relay sessions, plus what a central KM forwarded (configuration 4). */
static json_t *relay_show(struct ctl *ctl, struct relay *relay)
{
	json_t *j = relay_view_sessions(relay);
	uint64_t fwd, refused;

	if (j && ctl->src->peers) {
		peers_hub_stats(ctl->src->peers, &fwd, &refused);
		json_object_set_new(j, "central_forwarded", json_integer(
			(json_int_t)fwd));
		json_object_set_new(j, "central_refused", json_integer(
			(json_int_t)refused));
	}
	return j;
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
		return lsa_view_topology(lsa);
	if (!strcmp(cmd, "route show"))
		return lsa_view_routes(lsa);
	if (!strcmp(cmd, "relay show"))
		return relay_show(ctl, relay);
	if (!strcmp(cmd, "relay audit"))
		return relay_view_audit(relay);
	if (!strcmp(cmd, "path")) {
		if (a->to)
			return lsa_view_path(lsa, a->from, a->to);
		*why = "path: \"to\" is required";
		return NULL;
	}
	if (!strcmp(cmd, "link down") || !strcmp(cmd, "link up")) {
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
	*why = "out of memory";
	if (!strcmp(cmd, "status"))
		return view_status(ctl);
	if (!strcmp(cmd, "link show"))
		return view_links(ctl, false);
	if (!strcmp(cmd, "pool show"))
		return view_links(ctl, true);
	if (!strcmp(cmd, "sae show"))
		return view_saes(ctl);
	if (!strcmp(cmd, "peer show"))
		return view_peers(ctl);
	if (!strcmp(cmd, "alarm show"))
		return alarm_view();
	if (!strcmp(cmd, "macsec show"))
		return macsec_view(ctl->src->macsec);
	/* Nothing configured is an empty view, as for "macsec show". */
	if (!strcmp(cmd, "sa show"))
		return ctl->src->ipsec ? ipsec_view(ctl->src->ipsec) :
		       json_pack("{s:[]}", "pairs");
	if (!strcmp(cmd, "key show")) {
		if (limit <= 0) {
			*why = "key show: limit must be positive";
			return NULL;
		}
		if (sae && !sae_known(ctl->src->cfg, sae)) {
			snprintf(ctl->why, sizeof(ctl->why),
				 "key show: no SAE '%.*s' (see sae show)",
				 KSA_SAE_ID_MAX, sae);
			*why = ctl->why;
			return NULL;
		}
		return view_keys(ctl, sae, (size_t)limit);
	}
	return relay_command(ctl, cmd, args, why);
}

static json_t *handle(struct ctl *ctl, const char *line)
{
	json_error_t jerr;
	json_t *req, *data, *reply;
	const char *cmd = NULL, *sae = NULL, *why;
	struct ctl_args args = { 0 };
	json_int_t limit = CTL_KEY_LIMIT_DEFAULT;

	req = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	if (!req)
		return error_reply("malformed request: %s", jerr.text);
	if (json_unpack_ex(req, &jerr, JSON_STRICT,
			   "{s:s, s?s, s?I, s?s, s?s, s?s}", "cmd", &cmd,
			   "sae", &sae, "limit", &limit, "to", &args.to,
			   "from", &args.from, "peer", &args.peer)) {
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
	if (conn_reply(c, handle(c->ctl, c->in)) < 0)
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
	}
close:
	conn_close(c);
}

static void on_accept(void *arg, uint32_t revents)
{
	struct ctl *ctl = arg;
	struct ctl_conn *c;
	int fd;

	while ((fd = accept4(ctl->fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (ctl->n_conns >= CTL_MAX_CONNS) {
			log_warn("control: too many connections, refusing one");
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->ctl = ctl;
		c->fd = fd;
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
	if (listen_unix(ctl, err, errlen) < 0) {
		free(ctl);
		return NULL;
	}
	ctl->watch = loop_watch_add(loop, ctl->fd, POLLIN, on_accept, ctl);
	if (!ctl->watch) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
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
	loop_watch_del(ctl->watch);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl);
}
