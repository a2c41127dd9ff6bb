/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Mutually authenticated TLS 1.3 connections on the event loop (OpenSSL);
 * TLS 1.2 on request for the application plane (tls_ctx_allow_tls12()).
 *
 * One piece of code for every TLS link the daemon has: ETSI 014 clients (Ak)
 * and peer daemons (Kx).  Both ends always present certificates chained to
 * the configured CA; a connection whose peer did not is closed before any
 * application byte is read.  Buffers that held application data are
 * cleansed (OPENSSL_cleanse) when consumed or freed, since they may carry
 * key material; the output queue is in the secure heap (locked), held only
 * while it holds plaintext: a write that does not fit there fails.  The socket's bytes move through io_uring (loop_io), and
 * sends never raise SIGPIPE.
 */
#ifndef QKD_TLS_H
#define QKD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/ssl.h>

struct loop;
struct tls_conn;

struct tls_files {
	const char *ca;		/* PEM CA bundle the peer is checked against */
	const char *cert;	/* this side's certificate chain, PEM */
	const char *key;	/* its private key, PEM */
	/*
	 * PEM CRLs, NULL or "" for none.  With CRLs each certificate of the
	 * peer's chain but the trust anchor (the peer's own and every
	 * intermediate CA's) is refused unless a current CRL of its issuer
	 * is in the file and does not list it (X509_V_FLAG_CRL_CHECK_ALL):
	 * fail closed.
	 */
	const char *crl;
};

/*
 * TLS 1.3 only, peer certificate required and verified.  On failure returns
 * NULL and writes a one-line reason (file, OpenSSL error) into @err.
 */
SSL_CTX *tls_ctx_new(const struct tls_files *files, int is_server,
		     char *err, size_t errlen);

/*
 * A server context that also accepts TLS 1.2 (the application plane:
 * ETSI GS QKD 014 asks for TLS 1.2 or later), with ECDHE key exchange and
 * AEAD ciphers only, renegotiation off.  0, or -1 with the reason in @err.
 */
int tls_ctx_allow_tls12(SSL_CTX *ctx, char *err, size_t errlen);

/*
 * The mistakes that make a node certificate useless, checked offline
 * (qkdkmd --check): @key not the key of @cert, @cert out of date, not
 * issued by @ca (with the chain in @cert), its subject CN not @cn, an
 * extendedKeyUsage without serverAuth or clientAuth (Kx both listens and
 * dials).  0, or which file is at fault (TLS_CHECK_CERT, _KEY, _CA) with
 * what to change in @why.
 */
enum { TLS_CHECK_OK, TLS_CHECK_CERT, TLS_CHECK_KEY, TLS_CHECK_CA };
int tls_check_node_cert(const char *cert, const char *key, const char *ca,
			const char *cn, char *why, size_t whylen);

/*
 * A server context that also accepts a TLS 1.3 external PSK (RFC 8446,
 * with (EC)DHE) from one client, by its identity, in place of a client
 * certificate (SKIP routers).  The PSK's hash is SHA-384 if @sha384, else
 * SHA-256; the server then prefers the suites of that hash.  @key is
 * copied to the secure heap and wiped with @ctx.  0, or -1 with the
 * reason in @err (never the key).
 */
#define TLS_PSK_IDENTITY_MAX	128	/* bytes incl. NUL */
#define TLS_PSK_MIN		16
#define TLS_PSK_MAX		64
int tls_ctx_set_psk(SSL_CTX *ctx, const char *identity, const uint8_t *key,
		    size_t len, bool sha384, char *err, size_t errlen);

/*
 * Certificate reload: the owner has replaced @old by @new_ctx for new
 * connections.  Every open connection made with @old, or with a context
 * @old replaced in an earlier reload, has its peer's
 * certificate chain verified again against @new_ctx's trust store (CAs,
 * CRLs, validity dates); one that fails is aborted, as is every
 * handshake still under way with @old (its client retries against the
 * new context).  The others are untouched.  Returns how many were closed.
 */
unsigned int tls_conns_recheck(SSL_CTX *old, SSL_CTX *new_ctx);

/*
 * Trust the CAs of the PEM file @ca too, on a server context made by
 * tls_ctx_new(): a handshake then also passes with a chain to one of
 * them, so the owner must decide on_open which anchor each client may
 * use (tls_conn_verify() against a store of its own).  0, or -1 with
 * the reason in @err.
 */
int tls_ctx_add_ca(SSL_CTX *ctx, const char *ca, char *err, size_t errlen);

/*
 * A trust store of the CAs in @ca, with the CRLs of @crl (NULL or "" for
 * none) checked as tls_ctx_new() does.  NULL with the reason in @err.
 */
X509_STORE *tls_store_new(const char *ca, const char *crl, char *err,
			  size_t errlen);

/*
 * @c's peer certificate chain (as it sent it) verified again against
 * @store as it is now: NULL if it passes, else why (OpenSSL's words).
 */
const char *tls_conn_verify(const struct tls_conn *c, X509_STORE *store);

/*
 * Verify every open certificate-authenticated connection again against
 * its own context's trust store as it is now (a CRL past its nextUpdate,
 * a certificate past its notAfter); abort those that fail.  Returns how
 * many were closed.
 */
unsigned int tls_conns_recheck_all(void);

/*
 * The earliest nextUpdate of the CRLs in the PEM file @path, into @when
 * (0 if none has one).  0, or -1 if the file holds no CRL it can read.
 */
int tls_crl_next_update(const char *path, time_t *when);

struct tls_conn_ops {
	/* Handshake done and peer verified; tls_conn_peer_name() is valid. */
	void (*on_open)(struct tls_conn *c, void *arg);
	/*
	 * New input: read it with tls_conn_input(), drop what was used with
	 * tls_conn_consume().  Return 0 to go on, -1 to close the connection.
	 */
	int (*on_data)(struct tls_conn *c, void *arg);
	/* Closed (by either side or an error); @c is freed after this returns. */
	void (*on_close)(struct tls_conn *c, void *arg);
};

/*
 * @max_input bounds buffered unconsumed input; beyond it the conn closes.
 * The connection owns @fd from a successful return on (it closes it when
 * freed); on NULL the caller still owns @fd.  Callbacks never run from
 * inside a tls_conn_*() call: on_close after tls_conn_close() or a failed
 * tls_conn_write() follows from the loop.  The first step runs from the
 * loop too, so the caller may finish setting up after a successful return.
 */
struct tls_conn *tls_conn_accept(struct loop *loop, SSL_CTX *ctx, int fd,
				 size_t max_input,
				 const struct tls_conn_ops *ops, void *arg);
/*
 * @fd: a non-blocking socket with connect() issued.  @peer_name: the name
 * the server certificate must carry: in a DNS SAN, or in the subject CN
 * when the certificate has no DNS SAN (OpenSSL's host check).
 */
struct tls_conn *tls_conn_connect(struct loop *loop, SSL_CTX *ctx, int fd,
				  const char *peer_name, size_t max_input,
				  const struct tls_conn_ops *ops, void *arg);

const uint8_t *tls_conn_input(struct tls_conn *c, size_t *len);
void tls_conn_consume(struct tls_conn *c, size_t n);
/* Queue and start sending; returns 0 or -1 (connection failed). */
int tls_conn_write(struct tls_conn *c, const void *buf, size_t len);
/*
 * Coalesce output written outside the connection's own callbacks, as
 * Nagle's algorithm does but with a bound: it leaves at once when nothing
 * was sent in the last @ms milliseconds, else @ms after the previous send
 * (or once a full record is queued).  A busy stream of small messages so
 * costs one record and one send per @ms instead of one per loop batch,
 * while a lone message is not delayed.  0, the default: send after every
 * batch.  Answers written from on_open or on_data leave at the end of it
 * regardless, and take what was held along; held output does not leave
 * early just because the peer's data or a finished send ran the
 * connection (else a peer answering every record would set the pace).
 */
void tls_conn_set_coalesce(struct tls_conn *c, unsigned int ms);
/* Bytes queued but not yet sent (for back-pressure). */
size_t tls_conn_pending(const struct tls_conn *c);
/*
 * Verified peer's certificate subject CN: "" before on_open, and "" if the
 * subject has no CN, several, or one with a NUL in it.
 */
const char *tls_conn_peer_name(const struct tls_conn *c);
/* The verified peer certificate's serial number in hex; "" if none. */
void tls_conn_peer_serial(const struct tls_conn *c, char *out, size_t len);
/*
 * Flush what is queued, send close_notify, then close; on_close follows
 * once the peer has closed too, or at the latest 1 s later (until then its
 * input is read and dropped, so that our last bytes are not reset).
 */
void tls_conn_close(struct tls_conn *c);
/* Close now, dropping queued output (slow or hostile peer); on_close follows. */
void tls_conn_abort(struct tls_conn *c);
/*
 * Close and free now, on_close included, for an owner going away while
 * the loop will not run again (daemon exit).  Never from @c's callbacks.
 */
void tls_conn_free(struct tls_conn *c);
/* The peer proved the external PSK (tls_ctx_set_psk()), not a certificate;
 * tls_conn_peer_name() is then the PSK identity. */
bool tls_conn_psk(const struct tls_conn *c);

/*
 * Why a handshake was refused, for an operator: the first error found in
 * the peer's certificate chain by us (X509_V_ERR_*, 0 if none), with the
 * peer's leaf certificate's CN, issuer and end of validity; and the fatal
 * TLS alerts each way (0 if none), the peer's telling us it refused ours.
 */
#define TLS_PEER_NAME_MAX	256

struct tls_refusal {
	int verify_error;
	int depth;
	char cn[TLS_PEER_NAME_MAX];
	char issuer[128];
	char not_after[40];
	int alert_sent, alert_received;
};
const struct tls_refusal *tls_conn_refusal(const struct tls_conn *c);
/* "unknown CA", "certificate expired"... (OpenSSL's words). */
const char *tls_alert_name(int alert);

/* Why the connection failed ("" if it did not, or not yet); for logs. */
const char *tls_conn_error(const struct tls_conn *c);

/*
 * Listening sockets, with admission before authentication (tls.c).
 *
 * Until its owner vouches for it with tls_conn_admit() (ETSI 014: the
 * handshake verified the client; Kx: the peer's HELLO came), an accepted
 * connection is "pending": it costs a descriptor and memory and has proved
 * nothing.  The listener bounds pending connections three ways, so that
 * connections that never speak, or stall their handshake, cannot use up
 * the descriptors or the slots every other listener and socket needs:
 *
 * - a deadline: a connection still pending @handshake_ms after accept is
 *   aborted;
 * - per source (an IPv4 address, an IPv6 /64): a new connection from a
 *   source that already has @max_per_source pending is closed at once;
 * - in total: when @max_pending are pending, the oldest pending connection
 *   of a source with more than one pending (else the oldest of all) is
 *   dropped for the new one, so that a flood does not lock out a client
 *   that comes alone.
 *
 * And the descriptor budget: a connection that would leave fewer than
 * the reserve of RLIMIT_NOFILE (tls_fd_budget_init()) free is closed at
 * once.  Admitted connections are the owner's to bound.  Refusals are
 * counted and logged at most every 10 s.
 */
#define TLS_HANDSHAKE_MS	2000
#define TLS_MAX_PENDING		256
#define TLS_MAX_PER_SOURCE	16

struct tls_listen_limits {
	unsigned int handshake_ms;	/* 0: TLS_HANDSHAKE_MS */
	unsigned int max_pending;	/* 0: TLS_MAX_PENDING */
	unsigned int max_per_source;	/* 0: TLS_MAX_PER_SOURCE */
};

/*
 * A non-blocking listening TCP socket bound to "host:port" (numeric IPv4,
 * or [IPv6]), SO_REUSEADDR, for tls_listener_new().  The descriptor, or
 * -1 with "listen ADDR: reason" in @err.
 */
int tls_listen_socket(const char *addr, char *err, size_t errlen);

struct tls_listener;
/*
 * Set up the owner's side of an accepted connection @fd: return
 * tls_conn_accept()'s connection, or NULL (the listener closes @fd).
 */
typedef struct tls_conn *(*tls_accept_fn)(void *arg, int fd);

/*
 * Serve the listening socket @fd (non-blocking), which the listener owns
 * from a successful return on.  @name prefixes the log lines ("Kx",
 * "etsi014").  NULL with errno on failure (the caller keeps @fd).
 */
struct tls_listener *tls_listener_new(struct loop *loop, int fd,
				      const char *name,
				      const struct tls_listen_limits *lim,
				      tls_accept_fn fn, void *arg);
/* Stop accepting and close the socket; live connections are untouched. */
void tls_listener_free(struct tls_listener *l);
/* The owner has authenticated @c: it leaves the pending count. */
void tls_conn_admit(struct tls_conn *c);

struct tls_listener_stats {
	unsigned int pending;		/* now */
	uint64_t accepted, refused_source, refused_fds, dropped, timed_out;
};
void tls_listener_stats(const struct tls_listener *l,
			struct tls_listener_stats *st);

/*
 * Raise RLIMIT_NOFILE's soft limit to the hard one and fix the reserve
 * of descriptors that accepts must leave free (1/8 of it, 32 to 1024).
 * Returns the limit now in force.  Without a call, the limit found at the
 * first accept is used.
 */
unsigned long tls_fd_budget_init(void);

#endif /* QKD_TLS_H */
