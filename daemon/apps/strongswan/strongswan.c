// SPDX-License-Identifier: GPL-2.0
/*
 * strongSwan PPK rotation: one port of the rotating consumer core
 * (apps/rotate.h) per [strongswan NAME] section (strongswan.h), with no
 * prepare and no switch step.  A rotation, started by the owner every
 * rotate_s seconds:
 *
 *   owner                                    other end
 *   alloc 32 bytes from the link (key K)
 *   SWAN_PPK (K, 32, seq)        -------->   get K from the link
 *                                            load-shared K (PPK, ppk_id)
 *                                            unload the previous PPK
 *                                <--------   SWAN_ACK (seq, ok)
 *   load-shared K, unload the previous
 *   rekey the IKE SA with reauth = yes
 *
 * RFC 8784 mixes the PPK into SK_d, SK_pi and SK_pr at IKE_AUTH only: an
 * IKE SA rekeyed with CREATE_CHILD_SA, and its CHILD SAs, keep deriving
 * from the first PPK.  A new PPK takes effect only with a new IKE_AUTH,
 * which strongSwan 5.9 runs on reauthentication (a new IKE SA, its CHILD
 * SAs recreated; without loss if charon has make_before_break = yes).
 * The owner asks for it once both ends hold K; the other end's charon
 * answers as responder and finds K under the PPK_ID the initiator sends,
 * since each end keeps exactly one PPK of the section loaded.  With no
 * IKE SA up, the owner initiates the configured child, if any.
 *
 * One reauthentication at a time: charon's rekey by name would also
 * reauthenticate an IKE SA still being set up by the previous one, and
 * a new PPK loaded during an IKE_AUTH would fail it.  So the owner asks
 * for the reauthentication of the connection's one established IKE SA by
 * its unique id (list-sas), and holds its next rotation (the core's tick
 * op) until charon shows exactly one IKE SA again, a new one, or
 * REAUTH_MAX_MS have passed (a failure: alarm, retry).
 *
 * The VICI id of K is "qkd-NAME-<key ID, 16 hex digits>": both ends name
 * it alike, and after a load every other id of that form is unloaded (so
 * also what a previous run left).  The PPK_ID on the wire is the
 * connection's ppk_id, which charon takes from swanctl.conf and cannot
 * change per key.  K crosses into charon in the load-shared request,
 * built in the secure heap and cleansed once sent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

#include "apps/rotate.h"
#include "apps/strongswan/strongswan.h"
#include "apps/strongswan/vici.h"
#include "core/alarm.h"
#include "core/log.h"
#include "kx/kxmsg.h"

#define PPK_LEN		STRONGSWAN_PPK_LEN
#define REQ_MAX		1024		/* a request, PPK included */
#define RESP_MAX	(64 * 1024)	/* get-shared lists every secret id */
#define STALE_MAX	32		/* ids unloaded after one load */
#define POLL_US		250000		/* list-sas while a reauth is due */
#define REAUTH_MAX_MS	20000		/* from the new PPK to its IKE SA */

struct port {
	struct strongswan *s;
	struct strongswan_conn_cfg cfg;
	struct rotate_port *rp;
	char prefix[KM_NAME_MAX + 8];	/* "qkd-NAME-" */
	uint64_t reauths, initiations;
	bool no_sa_said;		/* "no IKE SA" logged once */
	/* Owner: the IKE SA under the new PPK, asked for and awaited. */
	bool want_reauth;		/* not asked yet: another under way */
	bool inflight;			/* asked: wait for the new IKE SA */
	uint64_t old_ike_id;		/* the one reauthenticated */
	uint64_t since_us, next_poll_us;
};

struct strongswan {
	const struct strongswan_charon_ops *ops;
	void *c;
	struct rotate *rot;
	struct port *ports;
	size_t n_ports;
	uint8_t *req;			/* secure heap, REQ_MAX */
	uint8_t *resp;			/* RESP_MAX */
};

static uint64_t now_us(void *arg)
{
	struct strongswan *s = arg;
	struct timespec ts;

	if (s->ops->now_us)
		return s->ops->now_us(s->c);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void strongswan_secret_id(const char *name, uint64_t key_id,
			  char out[STRONGSWAN_SECRET_ID_MAX])
{
	snprintf(out, STRONGSWAN_SECRET_ID_MAX, "qkd-%s-%016" PRIx64, name,
		 key_id);
}

/* ---- VICI commands ------------------------------------------------------ */

/*
 * Sends the request in s->req (its writer finished or failed) and checks
 * the answer's success; the request is cleansed, it may hold a key.
 * The response message is left in s->resp: its length, or -1.
 */
static long command_events(struct port *p, struct vici_writer *w,
			   bool check, const char *event,
			   void (*fn)(void *arg, const uint8_t *msg,
				      size_t len),
			   void *arg, char *err, size_t errlen)
{
	struct strongswan *s = p->s;
	long n = vici_finish(w), r;

	if (n < 0) {
		OPENSSL_cleanse(s->req, REQ_MAX);
		snprintf(err, errlen, "VICI request too long");
		return -1;
	}
	r = s->ops->call(s->c, p->cfg.socket, event, s->req, (size_t)n, fn,
			 arg, s->resp, RESP_MAX, err, errlen);
	OPENSSL_cleanse(s->req, (size_t)n);
	if (r < 0)
		return -1;
	if (check && vici_check_success(s->resp, (size_t)r, err, errlen) < 0)
		return -1;
	return r;
}

static long command(struct port *p, struct vici_writer *w, bool check,
		    char *err, size_t errlen)
{
	return command_events(p, w, check, NULL, NULL, NULL, err, errlen);
}

static int load_ppk(struct port *p, const struct rotate_key *k,
		    const char *id, char *err, size_t errlen)
{
	struct vici_writer w;
	char why[STRONGSWAN_ERROR_MAX];

	vici_begin(&w, p->s->req, REQ_MAX, VICI_CMD_REQUEST, "load-shared");
	vici_kv_str(&w, "id", id);
	vici_kv_str(&w, "type", "PPK");
	vici_kv(&w, "data", k->bytes, k->len);
	vici_list_start(&w, "owners");
	vici_list_item(&w, p->cfg.ppk_id, strlen(p->cfg.ppk_id));
	vici_list_end(&w);
	if (command(p, &w, true, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "charon did not load PPK %s: %s", id,
			 why);
		return -EIO;
	}
	return 0;
}

/* "qkd-NAME-" and 16 hex digits: a PPK of this section. */
static bool ours(const struct port *p, const uint8_t *v, size_t n)
{
	size_t plen = strlen(p->prefix);

	if (n != plen + 16 || memcmp(v, p->prefix, plen))
		return false;
	for (size_t i = plen; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') ||
		      (v[i] >= 'a' && v[i] <= 'f')))
			return false;
	return true;
}

/* Every PPK of this section but @keep; 0, or -EIO. */
static int unload_others(struct port *p, const char *keep, char *err,
			 size_t errlen)
{
	char stale[STALE_MAX][STRONGSWAN_SECRET_ID_MAX];
	char why[STRONGSWAN_ERROR_MAX];
	struct vici_writer w;
	struct vici_iter it;
	struct vici_elem e;
	size_t n_stale = 0;
	long n;
	int ret = 0;

	vici_begin(&w, p->s->req, REQ_MAX, VICI_CMD_REQUEST, "get-shared");
	n = command(p, &w, false, why, sizeof(why));
	if (n < 0) {
		snprintf(err, errlen, "listing charon's shared keys: %s", why);
		return -EIO;
	}
	vici_iter_init(&it, p->s->resp, (size_t)n);
	while (vici_next(&it, &e, NULL, 0) > 0 && n_stale < STALE_MAX)
		if (e.type == VICI_LIST_ITEM && !e.depth &&
		    !strcmp(e.list, "keys") && ours(p, e.value, e.value_len) &&
		    (e.value_len != strlen(keep) ||
		     memcmp(e.value, keep, e.value_len))) {
			memcpy(stale[n_stale], e.value, e.value_len);
			stale[n_stale++][e.value_len] = '\0';
		}
	for (size_t i = 0; i < n_stale; i++) {
		vici_begin(&w, p->s->req, REQ_MAX, VICI_CMD_REQUEST,
			   "unload-shared");
		vici_kv_str(&w, "id", stale[i]);
		if (command(p, &w, true, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "charon did not unload PPK %s: %s",
				 stale[i], why);
			ret = -EIO;
			continue;
		}
		log_debug("strongswan %s: PPK %s unloaded", p->cfg.name,
			  stale[i]);
	}
	return ret;
}

/* The connection's IKE SAs, from list-sas' list-sa events. */
struct sa_scan {
	const char *conn;
	int n, established;
	uint64_t id;			/* the (last) established one's */
};

static void on_list_sa(void *arg, const uint8_t *msg, size_t len)
{
	struct sa_scan *sc = arg;
	struct vici_iter it;
	struct vici_elem e;
	char v[32];
	bool in = false, est = false;
	uint64_t id = 0;

	vici_iter_init(&it, msg, len);
	while (vici_next(&it, &e, NULL, 0) > 0) {
		if (e.type == VICI_SECTION_START && e.depth == 0) {
			in = !strcmp(e.name, sc->conn);
			est = false;
			id = 0;
		} else if (e.type == VICI_SECTION_END && e.depth == 0 && in) {
			sc->n++;
			if (est) {
				sc->established++;
				sc->id = id;
			}
			in = false;
		} else if (in && e.type == VICI_KEY_VALUE && e.depth == 1 &&
			   e.value_len < sizeof(v)) {
			memcpy(v, e.value, e.value_len);
			v[e.value_len] = '\0';
			if (!strcmp(e.name, "uniqueid"))
				id = strtoull(v, NULL, 10);
			else if (!strcmp(e.name, "state"))
				est = !strcmp(v, "ESTABLISHED");
		}
	}
}

static int list_sas(struct port *p, struct sa_scan *sc, char *err,
		    size_t errlen)
{
	struct vici_writer w;

	memset(sc, 0, sizeof(*sc));
	sc->conn = p->cfg.connection;
	vici_begin(&w, p->s->req, REQ_MAX, VICI_CMD_REQUEST, "list-sas");
	vici_kv_str(&w, "ike", p->cfg.connection);
	vici_kv_str(&w, "noblock", "yes");
	return command_events(p, &w, false, "list-sa", on_list_sa, sc, err,
			      errlen) < 0 ? -EIO : 0;
}

/*
 * A new IKE_AUTH under the new PPK: reauthenticate the connection's one
 * IKE SA, or, with none up, initiate the configured child (without
 * waiting).  1 done (asked, or nothing to ask), 0 not now (another
 * reauthentication under way), -EIO.
 */
static int reauth(struct port *p, char *err, size_t errlen)
{
	char why[STRONGSWAN_ERROR_MAX], id[24];
	struct vici_writer w;
	struct sa_scan sc;

	if (list_sas(p, &sc, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "listing the IKE SAs of %s: %s",
			 p->cfg.connection, why);
		return -EIO;
	}
	if (sc.n == 0)
		goto none;
	if (sc.n > 1 || sc.established != 1)
		return 0;
	snprintf(id, sizeof(id), "%" PRIu64, sc.id);
	vici_begin(&w, p->s->req, REQ_MAX, VICI_CMD_REQUEST, "rekey");
	vici_kv_str(&w, "ike-id", id);
	vici_kv_str(&w, "reauth", "yes");
	if (command(p, &w, true, why, sizeof(why)) < 0) {
		if (strstr(why, "no matching SA"))
			goto none;	/* gone since the list */
		snprintf(err, errlen, "charon did not reauthenticate %s: %s",
			 p->cfg.connection, why);
		return -EIO;
	}
	p->reauths++;
	p->no_sa_said = false;
	p->inflight = true;
	p->old_ike_id = sc.id;
	return 1;
none:
	if (!p->cfg.child[0]) {
		if (!p->no_sa_said)
			log_info("strongswan %s: no IKE SA of connection %s up; the PPK waits for it (set child to have it initiated)",
				 p->cfg.name, p->cfg.connection);
		p->no_sa_said = true;
		return 1;
	}
	vici_begin(&w, p->s->req, REQ_MAX, VICI_CMD_REQUEST, "initiate");
	vici_kv_str(&w, "child", p->cfg.child);
	vici_kv_str(&w, "ike", p->cfg.connection);
	vici_kv_str(&w, "timeout", "-1");
	if (command(p, &w, true, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "charon did not initiate %s: %s",
			 p->cfg.child, why);
		return -EIO;
	}
	p->initiations++;
	p->inflight = true;
	p->old_ike_id = 0;
	log_info("strongswan %s: no IKE SA of %s up, child %s initiated",
		 p->cfg.name, p->cfg.connection, p->cfg.child);
	return 1;
}

/* Owner: ask for the reauthentication now, or at a later tick. */
static int start_reauth(struct port *p, uint64_t now, char *err,
			size_t errlen)
{
	int ret;

	p->want_reauth = true;
	p->inflight = false;
	p->since_us = now;
	ret = reauth(p, err, errlen);
	if (ret != 0)
		p->want_reauth = false;
	p->next_poll_us = now + POLL_US;
	return ret < 0 ? ret : 0;
}

/*
 * The core's tick op: while the new PPK's IKE SA is not yet asked for or
 * not yet there, hold the owner's next rotation.
 */
static bool tick(void *arg, uint64_t now, bool kx_new)
{
	struct port *p = arg;
	char err[STRONGSWAN_ERROR_MAX] = "";
	struct sa_scan sc;
	int ret;

	if (!p->want_reauth && !p->inflight)
		return true;
	if (now < p->next_poll_us)
		return false;
	p->next_poll_us = now + POLL_US;
	if (p->want_reauth) {
		ret = reauth(p, err, sizeof(err));
		if (ret != 0)
			p->want_reauth = false;
		if (ret < 0) {
			rotate_port_fail(p->rp, "%s", err);
			return true;
		}
	} else if (list_sas(p, &sc, err, sizeof(err)) == 0 && sc.n == 1 &&
		   sc.established == 1 && sc.id != p->old_ike_id) {
		p->inflight = false;	/* the new IKE SA, alone */
		log_debug("strongswan %s: IKE SA %" PRIu64 " up under the new PPK",
			  p->cfg.name, sc.id);
		return true;
	}
	if (now - p->since_us >= REAUTH_MAX_MS * 1000ull) {
		p->want_reauth = p->inflight = false;
		rotate_port_fail(p->rp, "no IKE SA of %s under the new PPK within %u ms",
				 p->cfg.connection, REAUTH_MAX_MS);
		return true;
	}
	return false;
}

/* ---- the rotation ops (rotate.h) ---------------------------------------- */

static const char *check_offer(void *arg, uint32_t key_len)
{
	return key_len == PPK_LEN ? NULL : "a QKD PPK is 32 bytes";
}

/* Both ends: K becomes the one PPK of this section in charon. */
static int swap_ppk(struct port *p, const struct rotate_key *k, char *err,
		    size_t errlen)
{
	char id[STRONGSWAN_SECRET_ID_MAX];
	int ret;

	strongswan_secret_id(p->cfg.name, k->id, id);
	ret = load_ppk(p, k, id, err, errlen);
	if (ret < 0)
		return ret;
	log_debug("strongswan %s: PPK key %" PRIx64 " loaded as %s",
		  p->cfg.name, k->id, id);
	return unload_others(p, id, err, errlen);
}

static int install(void *arg, const struct rotate_key *k, char *err,
		   size_t errlen)
{
	return swap_ppk(arg, k, err, errlen);
}

static int activate(void *arg, const struct rotate_key *k, char *err,
		    size_t errlen)
{
	struct port *p = arg;
	int ret = swap_ppk(p, k, err, errlen);

	return ret < 0 ? ret : start_reauth(p, now_us(p->s), err, errlen);
}

static const struct rotate_ops swan_rotate_ops = {
	.kind = "strongswan",
	.key_noun = "PPK",
	.install_verb = "load",
	.both_own = "both ends own the connection",
	.offer = KXMSG_SWAN_PPK,
	.ack = KXMSG_SWAN_ACK,
	.install_failed = KXC_SWAN_FAILED,
	.alarm_type = ALARM_PROCESSING,
	.alarm_cause = "applicationSubsystemFailure",
	.alarm_severity = ALARM_MAJOR,
	.check_offer = check_offer,
	.tick = tick,
	.install = install,
	.activate = activate,
	.now_us = now_us,
};

void strongswan_receive(struct strongswan *s, const char *from,
			const struct kxmsg *m)
{
	struct rotate_port *rp = rotate_lookup(s->rot, from, m);

	if (rp)
		rotate_port_receive(rp, m);
}

void strongswan_tick(struct strongswan *s)
{
	rotate_tick(s->rot);
}

/* ---- set-up ------------------------------------------------------------- */

static int port_init(struct strongswan *s, struct port *p,
		     const struct strongswan_conn_cfg *cfg, char *err,
		     size_t errlen)
{
	char src[ALARM_SOURCE_MAX], obj[ALARM_OBJECT_MAX];
	struct rotate_port_cfg rc = {
		.name = cfg->name, .peer = cfg->peer, .link = cfg->link,
		.rotate_s = cfg->rotate_s, .key_len = PPK_LEN,
		.alarm_source = src, .alarm_object = obj, .ctx = p,
	};

	p->s = s;
	p->cfg = *cfg;
	snprintf(p->prefix, sizeof(p->prefix), "qkd-%s-", cfg->name);
	/* Alarm "strongswan:NAME"; a name too long for a source is cut. */
	snprintf(src, sizeof(src), "strongswan:%.*s", ALARM_SOURCE_MAX - 12,
		 cfg->name);
	snprintf(obj, sizeof(obj), "strongswan=%.*s", ALARM_OBJECT_MAX - 12,
		 cfg->name);
	p->rp = rotate_port_add(s->rot, &rc, err, errlen);
	if (!p->rp)
		return -1;
	log_info("strongswan %s: connection %s (ppk_id %s) via %s, PPK from link %s every %u s, %s",
		 cfg->name, cfg->connection, cfg->ppk_id, cfg->socket,
		 cfg->link, cfg->rotate_s,
		 rotate_port_status(p->rp)->owner ? "owner" :
		 "following the peer");
	return 0;
}

static long vici_ops_call(void *c, const char *socket, const char *event,
			  const uint8_t *req, size_t req_len,
			  void (*fn)(void *arg, const uint8_t *msg, size_t len),
			  void *arg, uint8_t *resp, size_t cap, char *err,
			  size_t errlen)
{
	return vici_call_events(socket, event, req, req_len, fn, arg, resp,
				cap, STRONGSWAN_VICI_TIMEOUT_MS, err, errlen);
}

static const struct strongswan_charon_ops vici_ops = {
	.call = vici_ops_call,
};

struct strongswan *strongswan_new_with_ops(
	struct loop *loop, struct kma *kma, const char *node,
	const struct strongswan_conn_cfg *conns, size_t n_conns,
	const struct strongswan_transport *kx, void *kx_arg,
	const struct strongswan_charon_ops *ops, void *c, char *err,
	size_t errlen)
{
	struct strongswan *s = calloc(1, sizeof(*s));
	struct rotate_cfg rc = {
		.ops = &swan_rotate_ops, .ctx = s, .node = node,
		.send = kx->send, .is_up = kx->is_up, .kx_arg = kx_arg,
		.max_ports = n_conns,
	};

	if (!s) {
		snprintf(err, errlen, "strongswan: out of memory");
		return NULL;
	}
	s->ops = ops;
	s->c = c;
	s->ports = calloc(n_conns ? n_conns : 1, sizeof(*s->ports));
	s->req = OPENSSL_secure_zalloc(REQ_MAX);
	s->resp = malloc(RESP_MAX);
	if (!s->ports || !s->req || !s->resp) {
		snprintf(err, errlen, "strongswan: out of memory");
		goto fail;
	}
	s->rot = rotate_new(loop, kma, &rc, err, errlen);
	if (!s->rot)
		goto fail;
	for (s->n_ports = 0; s->n_ports < n_conns; s->n_ports++)
		if (port_init(s, &s->ports[s->n_ports], &conns[s->n_ports],
			      err, errlen) < 0)
			goto fail;
	return s;
fail:
	strongswan_free(s);
	return NULL;
}

struct strongswan *strongswan_new(struct loop *loop, struct kma *kma,
				  const char *node,
				  const struct strongswan_conn_cfg *conns,
				  size_t n_conns,
				  const struct strongswan_transport *kx,
				  void *kx_arg, char *err, size_t errlen)
{
	return strongswan_new_with_ops(loop, kma, node, conns, n_conns, kx,
				       kx_arg, &vici_ops, NULL, err, errlen);
}

void strongswan_free(struct strongswan *s)
{
	if (!s)
		return;
	rotate_free(s->rot);
	OPENSSL_secure_clear_free(s->req, REQ_MAX);
	free(s->resp);
	free(s->ports);
	free(s);
}

/* ---- state for the views ----------------------------------------------- */

size_t strongswan_count(const struct strongswan *s)
{
	return s ? s->n_ports : 0;
}

int strongswan_info(const struct strongswan *s, size_t i,
		    struct strongswan_info *out)
{
	const struct port *p;

	if (!s || i >= s->n_ports)
		return -1;
	p = &s->ports[i];
	memset(out, 0, sizeof(*out));
	memcpy(out->name, p->cfg.name, sizeof(out->name));
	memcpy(out->connection, p->cfg.connection, sizeof(out->connection));
	memcpy(out->ppk_id, p->cfg.ppk_id, sizeof(out->ppk_id));
	memcpy(out->peer, p->cfg.peer, sizeof(out->peer));
	memcpy(out->link, p->cfg.link, sizeof(out->link));
	rotate_port_view(p->rp, &out->rot);
	if (out->rot.have_key)
		strongswan_secret_id(p->cfg.name, out->rot.key_id,
				     out->secret_id);
	out->reauths = p->reauths;
	out->initiations = p->initiations;
	return 0;
}
