/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ETSI GS QKD 014 v1.1.1 REST server (reference point Ak), HTTPS with
 * mutual TLS.  The SAE calling is identified by its client certificate:
 * the certificate's subject CN is looked up in the configured SAE table.
 * Requests are answered through ksa.h.
 */
#ifndef QKD_ETSI014_H
#define QKD_ETSI014_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ksa/ksa.h"
#include "ksa/skip.h"
#include "kx/tls.h"

struct loop;
struct ksa;
struct etsi014_server;

struct etsi014_config {
	const char *listen;		/* "host:port", IPv4 or [IPv6] */
	struct tls_files tls;
	uint32_t max_body;		/* request body limit, bytes */
	uint32_t idle_timeout_ms;	/* slow or idle client cut-off */
	uint32_t max_conns;
	bool tls12;			/* also TLS 1.2 (tls_ctx_allow_tls12()) */
	/*
	 * Non-NULL: speak SKIP (skip.h) instead of ETSI 014 on this listener,
	 * with the same connection handling and the same KSA calls; the
	 * client is then the one whose certificate CN is skip->client_cn,
	 * not an SAE looked up by its CN (ksa_sae_by_cn()).
	 */
	const struct skip_config *skip;
	/* SKIP: a client may also prove this TLS 1.3 external PSK (tls.h). */
	const char *psk_identity;	/* NULL: certificates only */
	const uint8_t *psk;
	size_t psk_len;
	bool psk_sha384;		/* its hash; else SHA-256 */
};

/* Listen and serve on @loop.  NULL on failure, reason in @err. */
struct etsi014_server *etsi014_start(struct loop *loop,
				     const struct etsi014_config *cfg,
				     struct ksa *ksa, char *err, size_t errlen);
void etsi014_stop(struct etsi014_server *srv);

/*
 * Requests answered, for the metrics (mgmt/metrics.c): counted where the
 * answer is sent, by endpoint (from the URL; "other" for anything else and
 * for requests cut off before their headers were read), method and HTTP
 * status, with the time from the request's first byte to its answer.
 */
enum etsi014_stat_endpoint {
	ETSI014_EP_STATUS, ETSI014_EP_ENC_KEYS, ETSI014_EP_DEC_KEYS,
	ETSI014_EP_OTHER, ETSI014_EP_COUNT
};
enum etsi014_stat_method {
	ETSI014_M_GET, ETSI014_M_POST, ETSI014_M_HEAD, ETSI014_M_OTHER,
	ETSI014_M_COUNT
};
/* The statuses the server answers with; the last slot counts any other. */
#define ETSI014_STAT_CODES	12
extern const int etsi014_stat_codes[ETSI014_STAT_CODES];	/* 0: other */
/* Latency histogram upper bounds, microseconds (+Inf is implied). */
#define ETSI014_LAT_BUCKETS	12
extern const uint32_t etsi014_lat_bounds_us[ETSI014_LAT_BUCKETS];

struct etsi014_stats {
	uint64_t requests[ETSI014_EP_COUNT][ETSI014_M_COUNT][ETSI014_STAT_CODES];
	/* Per bucket, not cumulative; [ETSI014_LAT_BUCKETS]: above the last. */
	uint64_t lat_bucket[ETSI014_EP_COUNT][ETSI014_LAT_BUCKETS + 1];
	uint64_t lat_sum_us[ETSI014_EP_COUNT];
	uint32_t connections;		/* authenticated, open now */
};

const char *etsi014_stat_endpoint_name(enum etsi014_stat_endpoint ep);
const char *etsi014_stat_method_name(enum etsi014_stat_method m);
/* The server's counters since start; never NULL for a running server. */
const struct etsi014_stats *etsi014_get_stats(struct etsi014_server *srv);
/* Count one answer (the server calls it; exposed for the unit tests). */
void etsi014_stats_count(struct etsi014_stats *st, const char *path,
			 int method, int status, uint64_t latency_us);

/*
 * The server context etsi014_start() makes from @cfg (tls, tls12), for a
 * certificate reload.  NULL on failure, reason in @err.
 */
SSL_CTX *etsi014_ctx_new(const struct etsi014_config *cfg, char *err,
			 size_t errlen);
/* Its connection handling, for a certificate reload (https_server_set_ctx()). */
struct https_server;
struct https_server *etsi014_https(struct etsi014_server *srv);

/*
 * Request parsing and answer building, the pure part of the server,
 * exposed for unit tests and the fuzz target.  Added by D2.
 */
struct http_request;

#define ETSI014_MAX_KEY_IDS	1024	/* per dec_keys request; number too */
#define ETSI014_MAX_EXTRA_SLAVES 16	/* additional_slave_SAE_IDs */

enum etsi014_endpoint {
	ETSI014_STATUS,		/* GET .../{slave}/status */
	ETSI014_ENC_KEYS,	/* GET|POST .../{slave}/enc_keys */
	ETSI014_DEC_KEYS,	/* GET|POST .../{master}/dec_keys */
};

struct etsi014_request {
	enum etsi014_endpoint endpoint;
	char sae_id[KSA_SAE_ID_MAX];	/* URL's SAE: slave, or master for dec_keys */
	uint32_t number;		/* keys asked for; 0 = not given (1) */
	uint32_t size;			/* bits; 0 = not given (key_size) */
	char extra[ETSI014_MAX_EXTRA_SLAVES][KSA_SAE_ID_MAX];
	size_t n_extra;
	char key_ids[ETSI014_MAX_KEY_IDS][KSA_KEY_ID_LEN];
	size_t n_key_ids;
};

/* An error answer: HTTP status, ETSI message, optional details array. */
struct etsi014_error {
	int status;
	char message[160];
	const char *allow;	/* 405: the methods allowed, else NULL */
	struct json_t *details;	/* JSON array or NULL; etsi014_error_clear() */
};

/* 0, or -1 with @err filled (status 400, 404 or 405 and its message). */
int etsi014_parse(const struct http_request *req, struct etsi014_request *out,
		  struct etsi014_error *err);
/* The HTTP status and ETSI message for a ksa.h answer other than KSA_OK. */
void etsi014_map_result(enum ksa_result res, const struct ksa_err *kerr,
			struct etsi014_error *err);
void etsi014_error_clear(struct etsi014_error *err);

/*
 * JSON bodies, NUL-terminated, malloc'd; the key container, which holds
 * key bytes, is in the secure heap.  Free any of them with
 * etsi014_body_free(), which wipes it.
 */
char *etsi014_error_json(const struct etsi014_error *err, size_t *len);
char *etsi014_status_json(const struct ksa_status *st, size_t *len);
char *etsi014_keys_json(const struct ksa_key *keys, size_t n, size_t *len);
void etsi014_body_free(char *body, size_t len);

#endif /* QKD_ETSI014_H */
