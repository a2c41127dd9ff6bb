/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One HTTPS server loop for every listener that answers HTTP requests over
 * mutual TLS: ETSI 014 and SKIP (ksa/etsi014.c) and the management
 * listener (mgmt/mgmt_http.c).  It owns the connection handling they share:
 * the listener gate (tls.h) that bounds connections until they
 * authenticate, a cap on authenticated connections, the HTTP reader
 * (http.h) with keep-alive and pipelining, 100-continue, and the sweep
 * that cuts off stalled handshakes, requests that do not complete (408),
 * idle keep-alive connections and output nobody reads.
 *
 * The owner decides who may stay (on_open) and answers each request
 * (on_request) with https_send(), now or later (https_hold()).
 */
#ifndef QKD_HTTPS_SERVER_H
#define QKD_HTTPS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "kx/http.h"

struct loop;
struct https_server;
struct https_conn;

struct https_server_ops {
	/*
	 * @c authenticated (https_conn_peer(), https_conn_psk()): 0 to serve
	 * it, or -1 to close it (the owner logs why).
	 */
	int (*on_open)(void *arg, struct https_conn *c);
	/* A complete request; valid until it is answered. */
	void (*on_request)(void *arg, struct https_conn *c,
			   const struct http_request *req);
	/*
	 * An error the server answers itself (a reader error: 400, 413,
	 * 414, 431; 408 for a request that stalls): send it with
	 * https_send() and keep_alive false.  NULL: plain text @why.
	 */
	void (*on_error)(void *arg, struct https_conn *c, int status,
			 const char *why);
	/* @c is going away (also at https_server_stop()); may be NULL. */
	void (*on_close)(void *arg, struct https_conn *c);
};

struct https_server_config {
	const char *name;	/* log prefix, listener name: "etsi014" */
	const char *listen;	/* "host:port", IPv4 or [IPv6] */
	struct http_limits limits;
	uint32_t idle_ms;	/* stalled or idle connections are cut after */
	uint32_t max_conns;	/* authenticated connections at once */
};

/* Listen and serve with @ctx (taken over, also on failure).  NULL with
 * the reason in @err. */
struct https_server *https_server_start(struct loop *loop,
					const struct https_server_config *cfg,
					SSL_CTX *ctx,
					const struct https_server_ops *ops,
					void *arg, char *err, size_t errlen);
/* Closes and frees every connection now (on_close for each). */
void https_server_stop(struct https_server *srv);
/*
 * New handshakes use @ctx (taken over); returns the old context, which
 * the caller rechecks open connections against (tls_conns_recheck()) and
 * frees.
 */
SSL_CTX *https_server_set_ctx(struct https_server *srv, SSL_CTX *ctx);
/* Authenticated connections open now. */
uint32_t https_server_conns(const struct https_server *srv);

const char *https_conn_peer(const struct https_conn *c);  /* cert CN */
bool https_conn_psk(const struct https_conn *c);	/* TLS PSK client */
/* The serial number of the client certificate, hex; "" if none. */
void https_conn_peer_serial(const struct https_conn *c, char *out,
			    size_t len);
/* tls_conn_verify() of the client's chain against @store. */
const char *https_conn_verify(const struct https_conn *c,
			      X509_STORE *store);
void *https_conn_data(const struct https_conn *c);
void https_conn_set_data(struct https_conn *c, void *data);
/* The request being answered once its headers are in, else NULL. */
const struct http_request *https_conn_request(const struct https_conn *c);
/* When the current request's first byte came, CLOCK_MONOTONIC us/ms. */
uint64_t https_conn_request_start_us(const struct https_conn *c);
uint64_t https_conn_request_start_ms(const struct https_conn *c);

/*
 * Answer the current request (an answer to HEAD goes without its body).
 * Without @keep_alive the connection closes after it.  True if TLS took
 * it.  The response buffer is wiped; the caller wipes @body.
 */
bool https_send(struct https_conn *c, int status, const char *content_type,
		const char *extra_headers, const void *body, size_t body_len,
		bool keep_alive);
void https_close(struct https_conn *c);
/*
 * From on_request: the answer comes later.  No further request is read
 * and the sweep leaves @c alone until https_resume(), which the owner
 * calls after answering (its own timer bounds the wait).
 */
void https_hold(struct https_conn *c);
void https_resume(struct https_conn *c);

#endif /* QKD_HTTPS_SERVER_H */
