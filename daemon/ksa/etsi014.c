// SPDX-License-Identifier: GPL-2.0
/*
 * ETSI GS QKD 014 v1.1.1 server: HTTPS with mutual TLS on the event loop.
 *
 * Layers, bottom up: tls.c gives a verified connection and the client
 * certificate's CN, which the SAE table turns into the caller's SAE ID;
 * http.c cuts the byte stream into requests; etsi014_parse() turns a
 * request into (endpoint, SAE ID, parameters) or a spec error; ksa.h
 * answers; the answer goes back as the spec's JSON.  Requests on one
 * connection are answered strictly in order (HTTP/1.1 pipelining): while a
 * dec_keys waits for a Kx-2 reservation (KSA_RETRY) the connection's later
 * requests wait in its input buffer.
 *
 * Key bytes exist here only in the key container body and the response
 * buffer around it; both are in the secure heap (locked, not dumped), as
 * is TLS's output queue, and are wiped as soon as they are handed to TLS.
 *
 * The same server speaks SKIP (skip.h) on a listener of its own when
 * configured so: skip.c parses and builds, and a SKIP key by ID goes
 * through the very dec_keys path here, Kx-2 wait included.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ksa/etsi014.h"
#include "kx/http.h"
#include "kx/https_server.h"
#include "core/log.h"
#include "core/loop.h"

#define API_PREFIX		"/api/v1/keys/"
#define MAX_URL			2048
#define MAX_HEADER_BYTES	8192
#define DEFAULT_MAX_BODY	(64 * 1024)
#define DEFAULT_IDLE_MS		10000
#define DEFAULT_MAX_CONNS	1024

#define MSG_NOT_FOUND_KEYS	"one or more keys specified are not found on KME"
#define MSG_SIZE_MULTIPLE	"size shall be a multiple of 8"
#define MSG_EXT_MANDATORY	"not all extension_mandatory parameters are supported"

/* ---- errors ----------------------------------------------------------- */

static int fail(struct etsi014_error *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct etsi014_error *err, int status, const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

void etsi014_error_clear(struct etsi014_error *err)
{
	json_decref(err->details);
	memset(err, 0, sizeof(*err));
}

void etsi014_map_result(enum ksa_result res, const struct ksa_err *kerr,
			struct etsi014_error *err)
{
	const char *msg = kerr && kerr->message[0] ? kerr->message : NULL;

	switch (res) {
	case KSA_BAD_REQUEST:
		fail(err, 400, "%s", msg ? msg : "bad request");
		break;
	case KSA_UNAUTHORIZED:
		fail(err, 401, "%s", msg ? msg : "unauthorized");
		break;
	case KSA_NOT_FOUND:
	case KSA_RETRY:		/* the wait is over: not found after all */
		fail(err, 400, MSG_NOT_FOUND_KEYS);
		break;
	case KSA_UNAVAILABLE:
		fail(err, 503, "%s", msg ? msg : "key data access error");
		break;
	default:
		fail(err, 500, "internal error");
		break;
	}
}

/* ---- parsing ---------------------------------------------------------- */

/* Strict decimal: digits only, no sign, no leading junk, fits in 32 bits. */
static int parse_u32(const char *s, uint32_t *out)
{
	unsigned long long v = 0;
	const char *p;

	if (!*s || strlen(s) > 10)
		return -1;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int check_number(uint32_t number, struct etsi014_error *err)
{
	if (!number)
		return fail(err, 400, "number shall be a positive integer");
	if (number > ETSI014_MAX_KEY_IDS)
		return fail(err, 400, "number exceeds max_key_per_request");
	return 0;
}

static int check_size(uint32_t size, struct etsi014_error *err)
{
	if (size % 8)
		return fail(err, 400, MSG_SIZE_MULTIPLE);
	if (!size)
		return fail(err, 400, "size shall be a positive integer");
	return 0;
}

static int copy_key_id(struct etsi014_request *out, const char *id,
		       struct etsi014_error *err)
{
	size_t len = strlen(id);

	if (out->n_key_ids == ETSI014_MAX_KEY_IDS)
		return fail(err, 400, "too many key_IDs (at most %d)",
			    ETSI014_MAX_KEY_IDS);
	/* Not a key ID this KME could have issued. */
	if (!len || len >= KSA_KEY_ID_LEN)
		return fail(err, 400, MSG_NOT_FOUND_KEYS);
	memcpy(out->key_ids[out->n_key_ids++], id, len + 1);
	return 0;
}

/* GET key_ID: one ID, or several separated by commas (a common extension). */
static int copy_key_id_list(struct etsi014_request *out, char *list,
			    struct etsi014_error *err)
{
	char *id;

	/* strsep yields empty fields too, which copy_key_id refuses. */
	while ((id = strsep(&list, ",")))
		if (copy_key_id(out, id, err))
			return -1;
	return 0;
}

/* "/api/v1/keys/{SAE_ID}/{method}" -> endpoint and decoded SAE ID. */
static int parse_path(const char *path, struct etsi014_request *out,
		      struct etsi014_error *err)
{
	const char *sae, *slash, *method;

	if (strncmp(path, API_PREFIX, strlen(API_PREFIX)))
		return fail(err, 404, "not found");
	sae = path + strlen(API_PREFIX);
	slash = strchr(sae, '/');
	if (!slash || slash == sae)
		return fail(err, 404, "not found");
	method = slash + 1;
	if (!strcmp(method, "status"))
		out->endpoint = ETSI014_STATUS;
	else if (!strcmp(method, "enc_keys"))
		out->endpoint = ETSI014_ENC_KEYS;
	else if (!strcmp(method, "dec_keys"))
		out->endpoint = ETSI014_DEC_KEYS;
	else
		return fail(err, 404, "not found");
	if (http_url_decode(sae, (size_t)(slash - sae), out->sae_id,
			    sizeof(out->sae_id)) ||
	    strchr(out->sae_id, '/') || !strcmp(out->sae_id, ".") ||
	    !strcmp(out->sae_id, ".."))
		return fail(err, 400, "invalid SAE_ID in URL");
	return 0;
}

static int parse_query(const char *query, struct etsi014_request *out,
		       struct etsi014_error *err)
{
	char name[32], value[256];
	int ret;

	while ((ret = http_query_next(&query, name, sizeof(name), value,
				      sizeof(value))) > 0) {
		if (out->endpoint == ETSI014_ENC_KEYS && !strcmp(name, "number")) {
			if (parse_u32(value, &out->number) ||
			    check_number(out->number, err))
				return err->status ? -1 :
				       fail(err, 400, "number shall be a positive integer");
		} else if (out->endpoint == ETSI014_ENC_KEYS && !strcmp(name, "size")) {
			if (parse_u32(value, &out->size))
				return fail(err, 400, "size shall be a positive integer");
			if (check_size(out->size, err))
				return -1;
		} else if (out->endpoint == ETSI014_DEC_KEYS && !strcmp(name, "key_ID")) {
			if (copy_key_id_list(out, value, err))
				return -1;
		} else {
			return fail(err, 400, "unsupported query parameter");
		}
	}
	if (ret < 0)
		return fail(err, 400, "malformed query string");
	if (out->endpoint == ETSI014_DEC_KEYS && !out->n_key_ids)
		return fail(err, 400, "key_ID is required");
	return 0;
}

static int json_u32(json_t *v, const char *name, uint32_t *out,
		    struct etsi014_error *err)
{
	json_int_t i;

	if (!json_is_integer(v))
		return fail(err, 400, "%s shall be a positive integer", name);
	i = json_integer_value(v);
	if (i <= 0 || i > (json_int_t)UINT32_MAX) {
		if (!strcmp(name, "size") && i > 0 && i % 8)
			return fail(err, 400, MSG_SIZE_MULTIPLE);
		return fail(err, 400, "%s shall be a positive integer", name);
	}
	*out = (uint32_t)i;
	return 0;
}

/* Every mandatory extension is unsupported: list their names. */
static int check_mandatory_extensions(json_t *ext, struct etsi014_error *err)
{
	json_t *item, *details;
	size_t i;

	if (!ext)
		return 0;
	if (!json_is_array(ext))
		return fail(err, 400, "extension_mandatory shall be an array");
	if (!json_array_size(ext))
		return 0;
	details = json_array();
	json_array_foreach(ext, i, item) {
		const char *key;
		json_t *val;

		if (!json_is_object(item)) {
			json_decref(details);
			return fail(err, 400, "extension_mandatory shall hold objects");
		}
		json_object_foreach(item, key, val)
			json_array_append_new(details,
				json_pack("{s:s}", "extension_mandatory_unsupported", key));
	}
	err->details = details;
	return fail(err, 400, MSG_EXT_MANDATORY);
}

static int parse_enc_body(json_t *root, struct etsi014_request *out,
			  struct etsi014_error *err)
{
	json_t *v, *item;
	size_t i;

	v = json_object_get(root, "number");
	if (v && (json_u32(v, "number", &out->number, err) ||
		  check_number(out->number, err)))
		return -1;
	v = json_object_get(root, "size");
	if (v && (json_u32(v, "size", &out->size, err) ||
		  check_size(out->size, err)))
		return -1;
	v = json_object_get(root, "additional_slave_SAE_IDs");
	if (v) {
		if (!json_is_array(v))
			return fail(err, 400, "additional_slave_SAE_IDs shall be an array");
		if (json_array_size(v) > ETSI014_MAX_EXTRA_SLAVES)
			return fail(err, 400, "too many additional_slave_SAE_IDs");
		json_array_foreach(v, i, item) {
			const char *s = json_string_value(item);

			if (!s || !*s || json_string_length(item) >= KSA_SAE_ID_MAX ||
			    strlen(s) != json_string_length(item))
				return fail(err, 400, "invalid additional_slave_SAE_IDs entry");
			memcpy(out->extra[out->n_extra++], s, strlen(s) + 1);
		}
	}
	v = json_object_get(root, "extension_optional");
	if (v && !json_is_array(v))
		return fail(err, 400, "extension_optional shall be an array");
	/* Optional extensions we do not know are ignored, as the spec allows. */
	return check_mandatory_extensions(json_object_get(root, "extension_mandatory"),
					  err);
}

static int parse_dec_body(json_t *root, struct etsi014_request *out,
			  struct etsi014_error *err)
{
	json_t *ids = json_object_get(root, "key_IDs"), *item;
	size_t i;

	if (!json_is_array(ids) || !json_array_size(ids))
		return fail(err, 400, "key_IDs shall be a non-empty array");
	json_array_foreach(ids, i, item) {
		json_t *id = json_object_get(item, "key_ID");

		if (!json_is_string(id) ||
		    strlen(json_string_value(id)) != json_string_length(id))
			return fail(err, 400, "each key_IDs entry needs a key_ID string");
		if (copy_key_id(out, json_string_value(id), err))
			return -1;
	}
	return 0;
}

static int parse_body(const struct http_request *req,
		      struct etsi014_request *out, struct etsi014_error *err)
{
	json_error_t jerr;
	json_t *root;
	int ret;

	root = json_loadb((const char *)req->body, req->body_len,
			  JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		/* jerr.text may quote the body: report the position only. */
		return fail(err, 400, "malformed JSON at line %d column %d",
			    jerr.line, jerr.column);
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(err, 400, "request body shall be a JSON object");
	}
	ret = out->endpoint == ETSI014_ENC_KEYS ? parse_enc_body(root, out, err)
						: parse_dec_body(root, out, err);
	json_decref(root);
	return ret;
}

int etsi014_parse(const struct http_request *req, struct etsi014_request *out,
		  struct etsi014_error *err)
{
	bool post = req->method == HTTP_POST;

	out->number = out->size = 0;
	out->n_extra = out->n_key_ids = 0;
	out->sae_id[0] = '\0';
	if (parse_path(req->path, out, err))
		return -1;
	if (out->endpoint == ETSI014_STATUS && req->method != HTTP_GET) {
		err->allow = "GET";
		return fail(err, 405, "method not allowed");
	}
	if (req->method != HTTP_GET && !post) {
		err->allow = "GET, POST";
		return fail(err, 405, "method not allowed");
	}
	if (post)
		return parse_body(req, out, err);
	if (out->endpoint == ETSI014_STATUS)
		return *req->query ? fail(err, 400, "unsupported query parameter") : 0;
	return parse_query(req->query, out, err);
}

/* ---- answers ---------------------------------------------------------- */

static char *dump(json_t *obj, size_t *len)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (s)
		*len = strlen(s);
	return s;
}

char *etsi014_error_json(const struct etsi014_error *err, size_t *len)
{
	json_t *obj = json_pack("{s:s}", "message", err->message);

	if (obj && err->details)
		json_object_set(obj, "details", err->details);
	return dump(obj, len);
}

char *etsi014_status_json(const struct ksa_status *st, size_t *len)
{
	return dump(json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      "source_KME_ID", st->source_kme_id,
			      "target_KME_ID", st->target_kme_id,
			      "master_SAE_ID", st->master_sae_id,
			      "slave_SAE_ID", st->slave_sae_id,
			      "key_size", (json_int_t)st->key_size,
			      "stored_key_count", (json_int_t)st->stored_key_count,
			      "max_key_count", (json_int_t)st->max_key_count,
			      "max_key_per_request", (json_int_t)st->max_key_per_request,
			      "max_key_size", (json_int_t)st->max_key_size,
			      "min_key_size", (json_int_t)st->min_key_size,
			      "max_SAE_ID_count", (json_int_t)st->max_sae_id_count),
		    len);
}

/* A key ID goes into JSON unescaped: allow only UUID characters. */
static bool key_id_is_plain(const char *id)
{
	for (; *id; id++)
		if (!((*id >= '0' && *id <= '9') || (*id >= 'a' && *id <= 'f') ||
		      (*id >= 'A' && *id <= 'F') || *id == '-'))
			return false;
	return true;
}

/*
 * Written by hand rather than with jansson: jansson would copy the base64
 * key into its own allocations and free them without wiping.
 */
char *etsi014_keys_json(const struct ksa_key *keys, size_t n, size_t *len)
{
	static const char head[] = "{\"keys\":[", tail[] = "]}";
	size_t cap = sizeof(head) + sizeof(tail), i, off = 0;
	char *out;

	for (i = 0; i < n; i++)
		cap += 32 + KSA_KEY_ID_LEN + 4 * ((keys[i].size / 8 + 2) / 3) + 1;
	out = OPENSSL_secure_malloc(cap);
	if (!out)
		return NULL;
	memcpy(out, head, sizeof(head) - 1);
	off = sizeof(head) - 1;
	for (i = 0; i < n; i++) {
		if (!key_id_is_plain(keys[i].key_id)) {
			etsi014_body_free(out, cap);
			return NULL;
		}
		off += (size_t)sprintf(out + off, "%s{\"key_ID\":\"%s\",\"key\":\"",
				       i ? "," : "", keys[i].key_id);
		off += (size_t)EVP_EncodeBlock((unsigned char *)out + off,
					       keys[i].key, (int)(keys[i].size / 8));
		out[off++] = '"';
		out[off++] = '}';
	}
	memcpy(out + off, tail, sizeof(tail));
	*len = off + sizeof(tail) - 1;
	/* Wipe the slack too, so the whole buffer can be cleansed by length. */
	OPENSSL_cleanse(out + *len, cap - *len);
	return out;
}

/* Key containers are in the secure heap, other bodies (jansson's) not. */
void etsi014_body_free(char *body, size_t len)
{
	OPENSSL_secure_clear_free(body, len);
}

/* ---- counters for the metrics ------------------------------------------ */

const int etsi014_stat_codes[ETSI014_STAT_CODES] = {
	200, 400, 401, 404, 405, 408, 413, 414, 431, 500, 503, 0
};

/* From 1 ms (a status request on loopback) to 5 s (a dec_keys waiting
 * out its Kx-2 reservation, KSA_RETRY_WAIT_MS). */
const uint32_t etsi014_lat_bounds_us[ETSI014_LAT_BUCKETS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 5000000
};

const char *etsi014_stat_endpoint_name(enum etsi014_stat_endpoint ep)
{
	switch (ep) {
	case ETSI014_EP_STATUS:		return "status";
	case ETSI014_EP_ENC_KEYS:	return "enc_keys";
	case ETSI014_EP_DEC_KEYS:	return "dec_keys";
	default:			return "other";
	}
}

const char *etsi014_stat_method_name(enum etsi014_stat_method m)
{
	switch (m) {
	case ETSI014_M_GET:	return "GET";
	case ETSI014_M_POST:	return "POST";
	case ETSI014_M_HEAD:	return "HEAD";
	default:		return "other";
	}
}

/* The endpoint a request's path names, whether or not it parses. */
static enum etsi014_stat_endpoint stat_endpoint(const char *path)
{
	const char *last;

	if (!path || strncmp(path, API_PREFIX, strlen(API_PREFIX)))
		return ETSI014_EP_OTHER;
	last = strrchr(path, '/');
	if (!strcmp(last, "/status"))
		return ETSI014_EP_STATUS;
	if (!strcmp(last, "/enc_keys"))
		return ETSI014_EP_ENC_KEYS;
	if (!strcmp(last, "/dec_keys"))
		return ETSI014_EP_DEC_KEYS;
	return ETSI014_EP_OTHER;
}

void etsi014_stats_count(struct etsi014_stats *st, const char *path,
			 int method, int status, uint64_t latency_us)
{
	enum etsi014_stat_endpoint ep = stat_endpoint(path);
	enum etsi014_stat_method m;
	size_t code, b;

	switch (method) {
	case HTTP_GET:	m = ETSI014_M_GET; break;
	case HTTP_POST:	m = ETSI014_M_POST; break;
	case HTTP_HEAD:	m = ETSI014_M_HEAD; break;
	default:	m = ETSI014_M_OTHER; break;
	}
	for (code = 0; code < ETSI014_STAT_CODES - 1; code++)
		if (etsi014_stat_codes[code] == status)
			break;
	st->requests[ep][m][code]++;
	for (b = 0; b < ETSI014_LAT_BUCKETS; b++)
		if (latency_us <= etsi014_lat_bounds_us[b])
			break;
	st->lat_bucket[ep][b]++;
	st->lat_sum_us[ep] += latency_us;
}

/* ---- server ------------------------------------------------------------ */

/* Connection handling is kx/https_server.c's; this is the protocol. */
struct etsi014_server {
	struct loop *loop;
	struct ksa *ksa;
	struct https_server *https;
	struct etsi014_request scratch;	/* one request parsed at a time */
	struct etsi014_stats stats;
	struct skip_config *skip;	/* own copy; NULL: ETSI 014 */
};

/* One per authenticated connection (https_conn_data()). */
struct client {
	struct etsi014_server *srv;
	struct https_conn *conn;
	bool known;			/* sae_id is the caller */
	char sae_id[KSA_SAE_ID_MAX];
	/* dec_keys waiting for its Kx-2 reservation (KSA_RETRY) */
	struct etsi014_request *waiting;
	bool waiting_keep_alive;
	struct loop_timer *retry;
	uint64_t retry_deadline_ms;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * Every answer passes here once.  Before the headers are in (a reader
 * error, a timeout) neither path nor method is known: "other".
 */
static void count_answer(struct etsi014_server *srv, struct https_conn *conn,
			 int status)
{
	const struct http_request *req = https_conn_request(conn);
	uint64_t start = https_conn_request_start_us(conn), now = now_us();

	etsi014_stats_count(&srv->stats, req ? req->path : NULL,
			    req ? (int)req->method : -1, status,
			    start && now > start ? now - start : 0);
}

/*
 * Send one response; @body is wiped right after TLS took it.  True if TLS
 * took it: the answer is committed to the client.
 */
static bool conn_send(struct etsi014_server *srv, struct https_conn *conn,
		      int status, const char *allow, char *body,
		      size_t body_len, bool keep_alive)
{
	char allow_hdr[64] = "";
	bool sent;

	if (allow)
		snprintf(allow_hdr, sizeof(allow_hdr), "Allow: %s\r\n", allow);
	sent = https_send(conn, status, "application/json",
			  allow ? allow_hdr : NULL, body, body_len, keep_alive);
	etsi014_body_free(body, body_len);
	count_answer(srv, conn, status);
	return sent;
}

static bool conn_send_error(struct etsi014_server *srv, struct https_conn *conn,
			    const char *who, struct etsi014_error *err,
			    bool keep_alive)
{
	size_t len = 0;
	char *body;
	bool sent;

	if (srv->skip) {
		struct skip_error serr = { .status = err->status };

		snprintf(serr.message, sizeof(serr.message), "%s", err->message);
		body = skip_error_json(&serr, &len);
	} else {
		body = etsi014_error_json(err, &len);
	}
	log_debug("%s: %s: %d %s", srv->skip ? "skip" : "etsi014",
		  who ? who : "?", err->status, err->message);
	sent = conn_send(srv, conn, err->status, err->allow, body, len,
			 keep_alive);
	etsi014_error_clear(err);
	return sent;
}

static bool client_send(struct client *c, int status, const char *allow,
			char *body, size_t body_len, bool keep_alive)
{
	return conn_send(c->srv, c->conn, status, allow, body, body_len,
			 keep_alive);
}

static bool client_send_error(struct client *c, struct etsi014_error *err,
			      bool keep_alive)
{
	return conn_send_error(c->srv, c->conn, c->known ? c->sae_id : NULL,
			       err, keep_alive);
}

static void reply_status(struct client *c, const struct etsi014_request *rq,
			 struct etsi014_error *err, bool keep_alive)
{
	struct ksa_status st;
	struct ksa_err kerr = { "", KSA_WHY_ANY };
	enum ksa_result res;
	size_t len = 0;
	char *body;

	memset(&st, 0, sizeof(st));
	res = ksa_status(c->srv->ksa, c->sae_id, rq->sae_id, &st, &kerr);
	if (res != KSA_OK) {
		etsi014_map_result(res, &kerr, err);
		client_send_error(c, err, keep_alive);
		return;
	}
	body = etsi014_status_json(&st, &len);
	client_send(c, body ? 200 : 503, NULL, body, len, keep_alive && body);
}

/* A ksa.h answer's error, in the protocol this server speaks. */
static void map_result(struct client *c, enum ksa_result res,
		       const struct ksa_err *kerr, struct etsi014_error *err)
{
	struct skip_error serr = { 0 };

	if (!c->srv->skip) {
		etsi014_map_result(res, kerr, err);
		return;
	}
	skip_map_result(res, kerr, &serr);
	fail(err, serr.status, "%s", serr.message);
}

/*
 * Send keys (or the error), then release them, and report the answer to
 * accounting (ksa.h) once TLS took it: @ev names the pair and the keys
 * asked for.  Counting after the write, not at reservation, makes the
 * totals what the client was given (Documentation/qkd/accounting.rst).
 */
static void reply_keys(struct client *c, enum ksa_result res,
		       const struct ksa_err *kerr, struct ksa_key *keys,
		       size_t n, struct etsi014_error *err, bool keep_alive,
		       struct ksa_acct_event *ev)
{
	size_t len = 0, i;
	char *body;
	bool sent;

	ev->result = res;
	if (res != KSA_OK) {
		map_result(c, res, kerr, err);
		client_send_error(c, err, keep_alive);
		ev->why = kerr ? kerr->why : KSA_WHY_ANY;
		ksa_account(c->srv->ksa, ev);
		return;
	}
	ev->keys = (uint32_t)n;
	for (i = 0; i < n; i++) {
		ev->bits += keys[i].size;
		if (keys[i].relayed) {
			ev->relayed++;
			ev->relayed_bits += keys[i].size;
		}
	}
	if (c->srv->skip)	/* one key, never more */
		body = n == 1 ? skip_key_json(&keys[0], &len) : NULL;
	else
		body = etsi014_keys_json(keys, n, &len);
	ksa_keys_free(keys, n);
	if (!body) {
		fail(err, 503, "key data access error");
		client_send_error(c, err, false);
		sent = false;
	} else {
		sent = client_send(c, 200, NULL, body, len, keep_alive);
	}
	ev->undelivered = !sent;
	ksa_account(c->srv->ksa, ev);
}

static void reply_enc_keys(struct client *c, const struct etsi014_request *rq,
			   struct etsi014_error *err, bool keep_alive)
{
	const char *extra[ETSI014_MAX_EXTRA_SLAVES];
	uint32_t number = rq->number ? rq->number : 1;
	struct ksa_err kerr = { "", KSA_WHY_ANY };
	struct ksa_acct_event ev = {
		.op = KSA_ACCT_ENC, .master = c->sae_id, .slave = rq->sae_id,
		.keys = number,
	};
	struct ksa_key *keys;
	enum ksa_result res;
	size_t i;

	for (i = 0; i < rq->n_extra; i++)
		extra[i] = rq->extra[i];
	keys = calloc(number, sizeof(*keys));
	if (!keys) {
		reply_keys(c, KSA_UNAVAILABLE, NULL, NULL, 0, err, false, &ev);
		return;
	}
	res = ksa_enc_keys(c->srv->ksa, c->sae_id, rq->sae_id, extra,
			   rq->n_extra, number, rq->size, keys, &kerr);
	reply_keys(c, res, &kerr, keys, res == KSA_OK ? number : 0, err,
		   keep_alive, &ev);
	free(keys);
}

/* KSA_RETRY is not an answer; anything else is. */
static enum ksa_result try_dec_keys(struct client *c,
				    const struct etsi014_request *rq,
				    struct ksa_key *keys, struct ksa_err *kerr)
{
	const char *ids[ETSI014_MAX_KEY_IDS];
	size_t i;

	for (i = 0; i < rq->n_key_ids; i++)
		ids[i] = rq->key_ids[i];
	return ksa_dec_keys(c->srv->ksa, c->sae_id, rq->sae_id, ids,
			    rq->n_key_ids, keys, kerr);
}

/* "Not found" is final (ksa.h): a key that arrives later is refused. */
static void final_not_found(struct client *c, const struct etsi014_request *rq)
{
	const char *ids[ETSI014_MAX_KEY_IDS];

	for (size_t i = 0; i < rq->n_key_ids; i++)
		ids[i] = rq->key_ids[i];
	ksa_dec_final(c->srv->ksa, c->sae_id, rq->sae_id, ids, rq->n_key_ids);
}

/*
 * Ask the KSA once and answer, unless it says "not known yet" and
 * @may_wait: then answer nothing and return true.
 */
static bool dec_keys_attempt(struct client *c, const struct etsi014_request *rq,
			     bool keep_alive, bool may_wait)
{
	struct etsi014_error err = { 0 };
	struct ksa_err kerr = { "", KSA_WHY_ANY };
	struct ksa_key *keys = calloc(rq->n_key_ids, sizeof(*keys));
	enum ksa_result res = KSA_UNAVAILABLE;
	struct ksa_acct_event ev = {
		.op = KSA_ACCT_DEC, .master = rq->sae_id, .slave = c->sae_id,
		.keys = (uint32_t)rq->n_key_ids,
	};

	if (keys)
		res = try_dec_keys(c, rq, keys, &kerr);
	else
		keep_alive = false;
	if (res == KSA_RETRY && may_wait) {
		free(keys);
		return true;
	}
	if (res == KSA_RETRY || res == KSA_NOT_FOUND)
		final_not_found(c, rq);
	reply_keys(c, res, &kerr, keys, res == KSA_OK ? rq->n_key_ids : 0,
		   &err, keep_alive, &ev);
	free(keys);
	return false;
}

static void stop_waiting(struct client *c)
{
	loop_timer_del(c->retry);
	c->retry = NULL;
	OPENSSL_cleanse(c->waiting, sizeof(*c->waiting));
	free(c->waiting);
	c->waiting = NULL;
}

static void on_retry(void *arg)
{
	struct client *c = arg;
	bool may_wait = loop_now_ms() < c->retry_deadline_ms;

	if (dec_keys_attempt(c, c->waiting, c->waiting_keep_alive, may_wait))
		return;		/* still not known; the timer repeats */
	stop_waiting(c);
	https_resume(c->conn);	/* then the requests held back meanwhile */
}

/* Park the request and ask the KSA again from a timer (KSA_RETRY). */
static int wait_for_reservation(struct client *c, const struct etsi014_request *rq,
				bool keep_alive)
{
	c->waiting = malloc(sizeof(*c->waiting));
	if (!c->waiting)
		return -1;
	memcpy(c->waiting, rq, sizeof(*rq));
	c->waiting_keep_alive = keep_alive;
	c->retry_deadline_ms = https_conn_request_start_ms(c->conn) +
			       KSA_RETRY_WAIT_MS;
	c->retry = loop_timer_add(c->srv->loop, KSA_RETRY_INTERVAL_MS, true,
				  on_retry, c);
	if (!c->retry) {
		free(c->waiting);
		c->waiting = NULL;
		return -1;
	}
	https_hold(c->conn);
	return 0;
}

static void reply_dec_keys(struct client *c, const struct etsi014_request *rq,
			   bool keep_alive)
{
	if (dec_keys_attempt(c, rq, keep_alive, true) &&
	    wait_for_reservation(c, rq, keep_alive))
		/* Cannot wait (out of memory): answer "not found" now. */
		dec_keys_attempt(c, rq, keep_alive, false);
}

/* A SKIP request: answered here, or handed to the ETSI 014 key paths. */
static void handle_skip(struct client *c, const struct http_request *req,
			bool keep_alive)
{
	struct etsi014_request *rq = &c->srv->scratch;
	struct etsi014_error err = { 0 };
	struct skip_error serr = { 0 };
	struct skip_request sr;
	size_t len = 0;
	char *body;

	if (skip_parse(req, c->srv->skip, &sr, &serr)) {
		fail(&err, serr.status, "%s", serr.message);
		err.allow = serr.allow;
		client_send_error(c, &err, keep_alive);
		return;
	}
	switch (sr.endpoint) {
	case SKIP_CAPABILITIES:
		body = skip_capabilities_json(c->srv->skip, &len);
		client_send(c, body ? 200 : 503, NULL, body, len,
			    keep_alive && body);
		break;
	case SKIP_NEW_KEY:
		/* enc_keys for the pair: this node's SAE is the master. */
		memset(rq, 0, offsetof(struct etsi014_request, extra));
		rq->endpoint = ETSI014_ENC_KEYS;
		rq->number = 1;
		rq->size = sr.size;
		snprintf(rq->sae_id, sizeof(rq->sae_id), "%s", sr.remote_sae);
		rq->n_extra = rq->n_key_ids = 0;
		reply_enc_keys(c, rq, &err, keep_alive);
		break;
	case SKIP_KEY_BY_ID:
		/* dec_keys: the remote system's SAE was the master. */
		memset(rq, 0, offsetof(struct etsi014_request, extra));
		rq->endpoint = ETSI014_DEC_KEYS;
		snprintf(rq->sae_id, sizeof(rq->sae_id), "%s", sr.remote_sae);
		rq->n_extra = 0;
		memcpy(rq->key_ids[0], sr.key_id, sizeof(sr.key_id));
		rq->n_key_ids = 1;
		reply_dec_keys(c, rq, keep_alive);
		OPENSSL_cleanse(rq->key_ids[0], sizeof(rq->key_ids[0]));
		break;
	}
	OPENSSL_cleanse(&sr, sizeof(sr));
}

static void on_request(void *arg, struct https_conn *conn,
		       const struct http_request *req)
{
	struct client *c = https_conn_data(conn);
	struct etsi014_request *rq = &c->srv->scratch;
	struct etsi014_error err = { 0 };
	bool keep_alive = req->keep_alive;

	if (c->srv->skip && c->known) {
		handle_skip(c, req, keep_alive);
		return;
	}

	if (!c->known) {
		fail(&err, 401, "unauthorized");
		err.details = json_pack("[{s:s}]", "reason",
					"client certificate is not registered as an SAE");
		client_send_error(c, &err, keep_alive);
		return;
	}
	if (etsi014_parse(req, rq, &err)) {
		client_send_error(c, &err, keep_alive);
		return;
	}
	switch (rq->endpoint) {
	case ETSI014_STATUS:
		reply_status(c, rq, &err, keep_alive);
		break;
	case ETSI014_ENC_KEYS:
		reply_enc_keys(c, rq, &err, keep_alive);
		break;
	case ETSI014_DEC_KEYS:
		reply_dec_keys(c, rq, keep_alive);
		break;
	}
	OPENSSL_cleanse(rq->key_ids, rq->n_key_ids * sizeof(rq->key_ids[0]));
}

static void on_error(void *arg, struct https_conn *conn, int status,
		     const char *why)
{
	struct etsi014_server *srv = arg;
	struct client *c = https_conn_data(conn);
	struct etsi014_error err = { 0 };

	fail(&err, status, "%s", why);
	conn_send_error(srv, conn, c && c->known ? c->sae_id : NULL, &err,
			false);
}

static int on_open(void *arg, struct https_conn *conn)
{
	struct etsi014_server *srv = arg;
	struct client *c = calloc(1, sizeof(*c));
	const char *cn = https_conn_peer(conn);

	if (!c)
		return -1;
	c->srv = srv;
	c->conn = conn;
	https_conn_set_data(conn, c);
	if (srv->skip) {
		/* One client: the encryptor this node's SKIP SAE stands for,
		 * by its certificate or by the PSK (only one is accepted). */
		if (!https_conn_psk(conn) && strcmp(cn, srv->skip->client_cn)) {
			log_notice("skip: client certificate CN \"%s\" is not the SKIP client, closed",
				   cn);
			return -1;
		}
		snprintf(c->sae_id, sizeof(c->sae_id), "%s",
			 srv->skip->local_sae);
		c->known = true;
		return 0;
	}
	/* The SAE table is the KSA's: SAEs come and go at run time. */
	c->known = !ksa_sae_by_cn(srv->ksa, cn, c->sae_id, sizeof(c->sae_id));
	if (!c->known)
		log_notice("etsi014: client certificate CN \"%s\" is not a configured SAE",
			   cn);
	return 0;
}

static void on_close(void *arg, struct https_conn *conn)
{
	struct client *c = https_conn_data(conn);

	if (!c)
		return;
	if (c->retry)
		loop_timer_del(c->retry);
	if (c->waiting) {
		OPENSSL_cleanse(c->waiting, sizeof(*c->waiting));
		free(c->waiting);
	}
	https_conn_set_data(conn, NULL);
	free(c);
}

static const struct https_server_ops etsi014_ops = {
	.on_open = on_open, .on_request = on_request,
	.on_error = on_error, .on_close = on_close,
};

struct etsi014_server *etsi014_start(struct loop *loop,
				     const struct etsi014_config *cfg,
				     struct ksa *ksa, char *err, size_t errlen)
{
	struct etsi014_server *srv = calloc(1, sizeof(*srv));
	struct https_server_config hc = {
		.name = cfg->skip ? "skip" : "etsi014",
		.listen = cfg->listen,
		.limits = {
			.max_url = MAX_URL,
			.max_header_bytes = MAX_HEADER_BYTES,
			.max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY,
		},
		.idle_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms :
			   DEFAULT_IDLE_MS,
		.max_conns = cfg->max_conns ? cfg->max_conns : DEFAULT_MAX_CONNS,
	};
	SSL_CTX *ctx;

	if (!srv || (cfg->skip && !(srv->skip = skip_config_dup(cfg->skip)))) {
		snprintf(err, errlen, "etsi014: out of memory");
		goto fail;
	}
	srv->loop = loop;
	srv->ksa = ksa;
	ctx = etsi014_ctx_new(cfg, err, errlen);
	if (!ctx)
		goto fail;
	srv->https = https_server_start(loop, &hc, ctx, &etsi014_ops, srv,
					err, errlen);
	if (!srv->https)
		goto fail;
	return srv;
fail:
	etsi014_stop(srv);
	return NULL;
}

const struct etsi014_stats *etsi014_get_stats(struct etsi014_server *srv)
{
	srv->stats.connections = https_server_conns(srv->https);
	return &srv->stats;
}

SSL_CTX *etsi014_ctx_new(const struct etsi014_config *cfg, char *err,
			 size_t errlen)
{
	SSL_CTX *ctx = tls_ctx_new(&cfg->tls, 1, err, errlen);

	if (!ctx)
		return NULL;
	if ((cfg->tls12 && tls_ctx_allow_tls12(ctx, err, errlen)) ||
	    (cfg->skip && cfg->psk_identity &&
	     tls_ctx_set_psk(ctx, cfg->psk_identity, cfg->psk, cfg->psk_len,
			     cfg->psk_sha384, err, errlen))) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

struct https_server *etsi014_https(struct etsi014_server *srv)
{
	return srv->https;
}

void etsi014_stop(struct etsi014_server *srv)
{
	if (!srv)
		return;
	https_server_stop(srv->https);
	skip_config_free(srv->skip);
	OPENSSL_cleanse(&srv->scratch, sizeof(srv->scratch));
	free(srv);
}
