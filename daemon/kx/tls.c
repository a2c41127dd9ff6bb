// SPDX-License-Identifier: GPL-2.0
/*
 * Mutually authenticated TLS 1.3 connections driven by the event loop.
 *
 * OpenSSL never touches the socket: it reads ciphertext from one memory
 * BIO (net_in) and writes it to another (net_out), and the loop moves the
 * bytes with io_uring recv and send requests (loop_io), one of each in
 * flight per connection.  Those requests go to the kernel with the loop's
 * single io_uring_enter() per batch, so a request/answer exchange costs
 * no read() or write() system call of its own.
 *
 * Each connection is a small state machine (handshake, open, closing,
 * lingering) that conn_step() runs whenever bytes came, a send finished
 * or the owner wrote.  Plaintext input is buffered up to the caller's
 * bound, plaintext output is queued until the step; both may hold key
 * material, so every byte that leaves them is cleansed.  The output queue
 * (ETSI 014 and SKIP answers carry key bytes) lives in the secure heap,
 * locked and kept out of core dumps, and is given back as soon as it is
 * encrypted.  net_in, net_out and the io buffers only ever hold
 * ciphertext.  (OpenSSL copies a record's plaintext into its own write
 * buffer and encrypts it there in place, within SSL_write_ex(): that
 * buffer is not ours to lock.)
 *
 * Callbacks run only from conn_step(), itself run from an io completion
 * or a loop task, never from inside a tls_conn_*() call, so a caller may
 * close or write from anywhere without its own state being freed under
 * its feet.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/log.h"
#include "core/loop.h"
#include "kx/tls.h"

#define TLS_RECORD_MAX	 16384		/* plaintext bytes in one record */
#define TLS_IN_CHUNK	 TLS_RECORD_MAX	/* input buffer grows by this much */
#define TLS_NET_CHUNK	 (TLS_RECORD_MAX + 512)	/* with its overhead */
#define TLS_OUT_MAX	 (16u << 20)	/* queued output beyond this fails */
#define TLS_LINGER_MS	 1000		/* at most, after our close_notify */

enum tls_state {
	TLS_HANDSHAKE,
	TLS_OPEN,
	TLS_CLOSING,	/* sending the rest and close_notify, then shut down */
	TLS_LINGER,	/* our side shut: drain the peer's last bytes briefly */
	TLS_DEAD,	/* waiting to be freed once off the stack */
};

struct tls_buf {
	uint8_t *data;
	size_t head;	/* first unconsumed byte */
	size_t len;	/* bytes from head */
	size_t cap;
	bool secure;	/* data from the secure heap (locked, not dumped) */
};

struct tls_conn {
	struct loop *loop;
	SSL *ssl;
	BIO *net_in;			/* ciphertext received, for OpenSSL */
	BIO *net_out;			/* ciphertext from OpenSSL, to send */
	int fd;
	struct loop_io *rx, *tx;	/* the recv and the send in flight */
	size_t tx_len;			/* bytes in the send in flight */
	struct loop_timer *reaper;	/* free after lingering */
	struct loop_task reap;		/* free once off the stack */
	struct loop_task kick;		/* a step for output or a close */
	struct loop_timer *coalescer;	/* a step once coalescing is over */
	unsigned int coalesce_ms;	/* see tls_conn_set_coalesce() */
	uint64_t last_send_ms;		/* when coalescing: the last send */
	enum tls_state state;
	bool in_step;			/* conn_step() is on the stack */
	bool connected;			/* the socket is connected: recv */
	bool opened;			/* on_open was called */
	bool notified;			/* our close_notify is in net_out */
	bool alerting;			/* handshake refused: sending the alert */
	bool net_eof;			/* the socket's stream ended */
	bool read_eof;			/* peer gone; deliver what came, then close */
	size_t max_input;
	struct tls_buf in, out;
	const struct tls_conn_ops *ops;
	void *arg;
	char peer_name[TLS_PEER_NAME_MAX];
	bool psk;			/* authenticated by the external PSK */
	char error[160];
	struct tls_refusal refusal;	/* why a handshake failed */
	/* Accepted and not yet admitted: on its listener's pending list. */
	struct tls_listener *gate;
	struct tls_src *src;
	TAILQ_ENTRY(tls_conn) gate_link;
	uint64_t accepted_ms;
	TAILQ_ENTRY(tls_conn) all_link;	/* on all_conns */
};

/* Live connections of the process, for the descriptor budget. */
static unsigned long tls_live_conns;
/* And the same connections, for tls_conns_recheck(). */
static TAILQ_HEAD(, tls_conn) all_conns = TAILQ_HEAD_INITIALIZER(all_conns);
static void gate_release(struct tls_conn *c);

/* ---- SSL_CTX ----------------------------------------------------------- */

/*
 * SSL_get_error() explains a call only if the error queue was empty before
 * it.  OpenSSL 3's ERR_clear_error() resets every slot of the queue even
 * when none is used: called before each read and write it took 3 % of a
 * loaded server.  The queue is nearly always empty, and peeking is cheap.
 */
static void clear_ssl_errors(void)
{
	if (ERR_peek_error())
		ERR_clear_error();
}

static void openssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

/*
 * OpenSSL reports a file it cannot open as "system lib" without the
 * reason; an operator needs to read "Permission denied" (the daemon runs
 * as its own user) or "No such file or directory".
 */
static bool file_readable(const char *path, char *why, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

/* Contexts made so far: each starts a lineage (tls_conns_recheck()). */
static unsigned long ctx_lineages;

static int conn_ex_index = -1;

static struct tls_conn *ssl_conn(const SSL *ssl)
{
	return conn_ex_index < 0 ? NULL : SSL_get_ex_data(ssl, conn_ex_index);
}

/* A one-line copy of @name (RFC 2253 style), or "". */
static void name_line(const X509_NAME *name, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	buf[0] = '\0';
	if (!b)
		return;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_read(b, buf, (int)len - 1);
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

/*
 * Records, never decides: the first verification error of the peer's
 * chain, with what an operator needs to fix it (the leaf's CN, issuer
 * and end of validity).  OpenSSL frees the chain before it tells the
 * caller why the handshake failed, so this is the moment to look.
 */
static int verify_note(int ok, X509_STORE_CTX *st)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(st,
			SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl ? ssl_conn(ssl) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(st);
	struct tls_refusal *r;
	X509_NAME *subj;
	BIO *b;
	int i, n;

	if (ok || !c || c->refusal.verify_error)
		return ok;
	r = &c->refusal;
	r->verify_error = X509_STORE_CTX_get_error(st);
	r->depth = X509_STORE_CTX_get_error_depth(st);
	if (!leaf)
		return ok;
	subj = X509_get_subject_name(leaf);
	i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (i >= 0) {
		const ASN1_STRING *s =
			X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));

		n = ASN1_STRING_length(s);
		if (n > 0 && n < (int)sizeof(r->cn)) {
			memcpy(r->cn, ASN1_STRING_get0_data(s), (size_t)n);
			r->cn[n] = '\0';
		}
	}
	name_line(X509_get_issuer_name(leaf), r->issuer, sizeof(r->issuer));
	b = BIO_new(BIO_s_mem());
	if (b && ASN1_TIME_print(b, X509_get0_notAfter(leaf))) {
		n = BIO_read(b, r->not_after, sizeof(r->not_after) - 1);
		r->not_after[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	for (size_t k = 0; k < sizeof(r->cn) && r->cn[k]; k++)
		if ((unsigned char)r->cn[k] < 0x20 || r->cn[k] == 0x7f)
			r->cn[k] = '?';
	return ok;
}

/* TLS alerts each way, to tell "we refused" from "they refused us". */
static void info_note(const SSL *ssl, int where, int ret)
{
	struct tls_conn *c;

	if (!(where & SSL_CB_ALERT) || ((ret >> 8) & 0xff) != SSL3_AL_FATAL)
		return;
	c = ssl_conn(ssl);
	if (!c)
		return;
	if (where & SSL_CB_READ)
		c->refusal.alert_received = ret & 0xff;
	else
		c->refusal.alert_sent = ret & 0xff;
}

SSL_CTX *tls_ctx_new(const struct tls_files *files, int is_server,
		     char *err, size_t errlen)
{
	bool has_crl = files->crl && files->crl[0];
	const char *paths[] = { files->ca, files->cert, files->key,
				has_crl ? files->crl : NULL };
	char why[128];
	const char *what;
	SSL_CTX *ctx;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (paths[i] && !file_readable(paths[i], why, sizeof(why))) {
			snprintf(err, errlen, "%s: %s", paths[i], why);
			return NULL;
		}
	}
	ERR_clear_error();
	ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		what = "SSL_CTX_new";
		goto fail;
	}
	what = "TLS 1.3";
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION))
		goto fail;
	what = files->ca;
	if (!SSL_CTX_load_verify_file(ctx, files->ca))
		goto fail;
	if (has_crl) {
		X509_STORE *store = SSL_CTX_get_cert_store(ctx);
		X509_LOOKUP *lu = X509_STORE_add_lookup(store,
							X509_LOOKUP_file());

		what = files->crl;
		/*
		 * Every CRL of the file, each checked when it is used; for
		 * every certificate of the chain but the trust anchor
		 * (CRL_CHECK_ALL), so that a revoked intermediate CA cuts
		 * what it issued.  A chain with a CA whose CRL is missing is
		 * refused: fail closed.
		 */
		if (!lu || X509_load_crl_file(lu, files->crl,
					      X509_FILETYPE_PEM) <= 0 ||
		    !X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK |
						 X509_V_FLAG_CRL_CHECK_ALL))
			goto fail;
	}
	what = files->cert;
	if (SSL_CTX_use_certificate_chain_file(ctx, files->cert) != 1)
		goto fail;
	what = files->key;
	if (SSL_CTX_use_PrivateKey_file(ctx, files->key, SSL_FILETYPE_PEM) != 1)
		goto fail;
	what = "private key does not match certificate";
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	if (is_server) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(files->ca);

		what = files->ca;
		if (!names)
			goto fail;
		SSL_CTX_set_client_CA_list(ctx, names);
		/* No resumption: every connection proves its certificate. */
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   verify_note);
	SSL_CTX_set_info_callback(ctx, info_note);
	if (conn_ex_index < 0)
		conn_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	/* A lineage of its own, for tls_conns_recheck(); never a pointer. */
	SSL_CTX_set_app_data(ctx, (void *)(uintptr_t)++ctx_lineages);
	return ctx;

fail:
	openssl_reason(why, sizeof(why));
	snprintf(err, errlen, "%s: %s", what ? what : "(null)", why);
	SSL_CTX_free(ctx);
	return NULL;
}

static X509 *read_cert(const char *path, STACK_OF(X509) *chain)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *leaf = NULL, *x;

	if (!bio)
		return NULL;
	leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	while (leaf && chain && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(chain, x))
			X509_free(x);
	ERR_clear_error();
	BIO_free(bio);
	return leaf;
}

static int check_dates(X509 *leaf, const char *cert, char *why, size_t whylen)
{
	const ASN1_TIME *na = X509_get0_notAfter(leaf);
	const ASN1_TIME *nb = X509_get0_notBefore(leaf);
	char when[64] = "";
	BIO *mem = BIO_new(BIO_s_mem());
	int late = X509_cmp_current_time(na) <= 0;
	int early = X509_cmp_current_time(nb) >= 0;
	int n;

	if (!late && !early) {
		BIO_free(mem);
		return 0;
	}
	if (mem && ASN1_TIME_print(mem, late ? na : nb) &&
	    (n = BIO_read(mem, when, sizeof(when) - 1)) > 0)
		when[n] = '\0';
	BIO_free(mem);
	if (late)
		snprintf(why, whylen, "certificate %.200s expired (notAfter %s); renew it",
			 cert, when);
	else
		snprintf(why, whylen, "certificate %.200s is not valid before %s; check the clock or reissue it",
			 cert, when);
	return TLS_CHECK_CERT;
}

int tls_check_node_cert(const char *cert, const char *key, const char *ca,
			const char *cn, char *why, size_t whylen)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *vctx = X509_STORE_CTX_new();
	X509 *leaf = chain ? read_cert(cert, chain) : NULL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char got[256] = "";
	uint32_t xku;
	int ret = TLS_CHECK_CERT, verr;

	char err[128];

	if (!file_readable(cert, err, sizeof(err)) ||
	    (ret = TLS_CHECK_KEY, !file_readable(key, err, sizeof(err))) ||
	    (ret = TLS_CHECK_CA, !file_readable(ca, err, sizeof(err)))) {
		snprintf(why, whylen, "%.200s: %s",
			 ret == TLS_CHECK_KEY ? key : ret == TLS_CHECK_CA ? ca : cert,
			 err);
		goto out;
	}
	ret = TLS_CHECK_CERT;
	if (!leaf || !store || !vctx) {
		snprintf(why, whylen, "%.200s: no PEM certificate in it", cert);
		goto out;
	}
	bio = BIO_new_file(key, "r");
	pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	if (!pkey || X509_check_private_key(leaf, pkey) != 1) {
		ret = TLS_CHECK_KEY;
		snprintf(why, whylen, pkey ?
			 "key %.200s does not match certificate %.200s; give the key the certificate was issued for" :
			 "key %.200s: no PEM private key in it (%.200s)",
			 key, pkey ? cert : "unreadable or encrypted");
		goto out;
	}
	if (check_dates(leaf, cert, why, whylen))
		goto out;
	if (X509_STORE_load_file(store, ca) != 1 ||
	    X509_STORE_CTX_init(vctx, store, leaf, chain) != 1) {
		ret = TLS_CHECK_CA;
		snprintf(why, whylen, "%.200s: no PEM certificate in it", ca);
		goto out;
	}
	if (X509_verify_cert(vctx) != 1) {
		verr = X509_STORE_CTX_get_error(vctx);
		snprintf(why, whylen, "certificate %.200s is not issued by the configured CA %.200s (%s); use a certificate that CA signed, or name its CA",
			 cert, ca, X509_verify_cert_error_string(verr));
		goto out;
	}
	X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName,
				  got, sizeof(got));
	if (strcmp(got, cn)) {
		snprintf(why, whylen, "certificate %.200s has subject CN \"%.64s\", not this node's name \"%.64s\"; issue it with CN=%.64s (peers check it)",
			 cert, got, cn, cn);
		goto out;
	}
	xku = X509_get_extended_key_usage(leaf);
	if ((X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) &&
	    (!(xku & XKU_SSL_SERVER) || !(xku & XKU_SSL_CLIENT))) {
		snprintf(why, whylen, "certificate %.200s: extendedKeyUsage lacks %s (a node both accepts and dials TLS); reissue it with extendedKeyUsage=serverAuth,clientAuth",
			 cert, !(xku & XKU_SSL_SERVER) ? "serverAuth" : "clientAuth");
		goto out;
	}
	ret = TLS_CHECK_OK;
out:
	ERR_clear_error();
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	return ret;
}

/* ---- TLS 1.3 external PSK ---------------------------------------------- */

struct tls_psk {
	char identity[TLS_PSK_IDENTITY_MAX];
	uint8_t *key;		/* secure heap */
	size_t len;
	bool sha384;		/* the PSK's hash; else SHA-256 */
};

static int psk_index = -1;

static void psk_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		     long argl, void *argp)
{
	struct tls_psk *p = ptr;

	if (!p)
		return;
	OPENSSL_secure_clear_free(p->key, p->len);
	free(p);
}

static const struct tls_psk *ctx_psk(SSL_CTX *ctx)
{
	return psk_index < 0 ? NULL : SSL_CTX_get_ex_data(ctx, psk_index);
}

/*
 * ClientHello offers a PSK identity: ours gets a session holding the key
 * and a suite of the PSK's hash (RFC 8446 4.2.11: the binder is computed
 * with it); any other identity is ignored, and the handshake goes on to
 * ask for a certificate.  A wrong key fails the binder check.  The server
 * prefers the suites of the PSK's hash (tls_ctx_set_psk()), else OpenSSL
 * skips the PSK for a suite of the other hash.
 */
static int psk_find(SSL *ssl, const unsigned char *id, size_t id_len,
		    SSL_SESSION **sess)
{
	static const unsigned char aes128gcm_sha256[] = { 0x13, 0x01 };
	static const unsigned char aes256gcm_sha384[] = { 0x13, 0x02 };
	const struct tls_psk *p = ctx_psk(SSL_get_SSL_CTX(ssl));
	const SSL_CIPHER *cipher;
	SSL_SESSION *s;

	*sess = NULL;
	if (!p || id_len != strlen(p->identity) ||
	    CRYPTO_memcmp(id, p->identity, id_len))
		return 1;
	cipher = SSL_CIPHER_find(ssl, p->sha384 ? aes256gcm_sha384 :
						  aes128gcm_sha256);
	s = SSL_SESSION_new();
	if (!s || !cipher || !SSL_SESSION_set1_master_key(s, p->key, p->len) ||
	    !SSL_SESSION_set_cipher(s, cipher) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return 0;
	}
	*sess = s;
	return 1;
}

int tls_ctx_set_psk(SSL_CTX *ctx, const char *identity, const uint8_t *key,
		    size_t len, bool sha384, char *err, size_t errlen)
{
	struct tls_psk *p;
	char why[128];

	if (psk_index < 0)
		psk_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
						     psk_free);
	if (!*identity || strlen(identity) >= TLS_PSK_IDENTITY_MAX ||
	    len < TLS_PSK_MIN || len > TLS_PSK_MAX) {
		snprintf(err, errlen, "PSK: identity 1..%d characters, key %d..%d bytes",
			 TLS_PSK_IDENTITY_MAX - 1, TLS_PSK_MIN, TLS_PSK_MAX);
		return -1;
	}
	p = calloc(1, sizeof(*p));
	if (p)
		p->key = OPENSSL_secure_malloc(len);
	if (psk_index < 0 || !p || !p->key ||
	    !SSL_CTX_set_ex_data(ctx, psk_index, p)) {
		if (p)
			OPENSSL_secure_free(p->key);
		free(p);
		snprintf(err, errlen, "PSK: out of memory");
		return -1;
	}
	snprintf(p->identity, sizeof(p->identity), "%s", identity);
	memcpy(p->key, key, len);
	p->len = len;
	p->sha384 = sha384;
	SSL_CTX_set_psk_find_session_callback(ctx, psk_find);
	/* OpenSSL refuses a PSK session under SSL_VERIFY_PEER without one. */
	if (!SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"psk", 3) ||
	    !SSL_CTX_set_ciphersuites(ctx, sha384 ?
			"TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256" :
			"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384")) {
		openssl_reason(why, sizeof(why));
		snprintf(err, errlen, "PSK: cipher suites: %s", why);
		return -1;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	return 0;
}

/* ECDHE for forward secrecy, AEAD only; OpenSSL's TLS 1.2 names. */
#define TLS12_CIPHERS	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
			"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
			"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

int tls_ctx_allow_tls12(SSL_CTX *ctx, char *err, size_t errlen)
{
	char why[128];

	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) &&
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS)) {
		/* The server's order: AES-256-GCM first, then ChaCha20. */
		SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
		return 0;
	}
	openssl_reason(why, sizeof(why));
	snprintf(err, errlen, "TLS 1.2: %s", why);
	return -1;
}

/* ---- buffers ----------------------------------------------------------- */

static void buf_release(struct tls_buf *b, uint8_t *data, size_t cap)
{
	if (!data)
		return;
	if (b->secure) {
		OPENSSL_secure_clear_free(data, cap);
	} else {
		OPENSSL_cleanse(data, cap);
		free(data);
	}
}

static void buf_free(struct tls_buf *b)
{
	bool secure = b->secure;

	buf_release(b, b->data, b->cap);
	memset(b, 0, sizeof(*b));
	b->secure = secure;
}

/* Drop @n bytes from the front, wiping them. */
static void buf_consume(struct tls_buf *b, size_t n)
{
	if (n > b->len)
		n = b->len;
	OPENSSL_cleanse(b->data + b->head, n);
	b->head += n;
	b->len -= n;
	if (!b->len)
		b->head = 0;
}

/*
 * Make room for @want more bytes at the tail without exceeding @limit in
 * total; returns the room obtained (0 if none).  Moves the live bytes to the
 * front and wipes what they leave behind.
 */
static size_t buf_room(struct tls_buf *b, size_t want, size_t limit)
{
	size_t need = b->len + want;

	if (need > limit)
		need = limit;
	if (b->head && b->head + b->len + want > b->cap) {
		memmove(b->data, b->data + b->head, b->len);
		OPENSSL_cleanse(b->data + b->len,
				b->head < b->cap - b->len ? b->head :
				b->cap - b->len);
		b->head = 0;
	}
	if (need > b->cap) {
		/* Locked memory is scarce: the output starts small. */
		size_t cap = b->cap ? b->cap : b->secure ? 1024 : TLS_IN_CHUNK;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		if (cap > limit)
			cap = limit;
		p = b->secure ? OPENSSL_secure_malloc(cap) : malloc(cap);
		if (!p)
			return b->cap - b->head - b->len;
		if (b->data) {
			memcpy(p, b->data + b->head, b->len);
			buf_release(b, b->data, b->cap);
		}
		b->data = p;
		b->head = 0;
		b->cap = cap;
	}
	return b->cap - b->head - b->len;
}

/* ---- connection lifecycle ------------------------------------------- */

static void conn_free(struct tls_conn *c)
{
	gate_release(c);
	tls_live_conns--;
	TAILQ_REMOVE(&all_conns, c, all_link);
	if (c->reaper)
		loop_timer_del(c->reaper);
	loop_task_cancel(c->loop, &c->reap);
	loop_task_cancel(c->loop, &c->kick);
	loop_timer_del(c->coalescer);
	/* The loop frees the ios once the kernel has let go of them. */
	loop_io_del(c->rx);
	loop_io_del(c->tx);
	if (c->ops->on_close)
		c->ops->on_close(c, c->arg);
	SSL_free(c->ssl);	/* and the two memory BIOs */
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

static void conn_reap(void *arg)
{
	struct tls_conn *c = arg;

	conn_free(c);		/* deletes the spent linger timer too */
}

/*
 * Mark @c dead: stop its socket I/O and free it once nobody is on the
 * stack -- at the end of the step, or from a loop task.
 */
static void conn_kill(struct tls_conn *c, const char *why)
{
	if (c->state == TLS_DEAD)
		return;
	c->state = TLS_DEAD;
	gate_release(c);
	if (why && !c->error[0])
		snprintf(c->error, sizeof(c->error), "%s", why);
	loop_io_del(c->rx);
	loop_io_del(c->tx);
	c->rx = c->tx = NULL;
	if (!c->in_step)
		loop_task_queue(c->loop, &c->reap);
}

/*
 * Why an SSL_* call returning @ret failed, into @why ("" for the peer's
 * orderly close_notify).
 */
static void conn_ssl_reason(struct tls_conn *c, const char *stage, int ret,
			    char *why, size_t len)
{
	int e = SSL_get_error(c->ssl, ret);

	why[0] = '\0';
	if (e == SSL_ERROR_ZERO_RETURN)
		return;
	if (e == SSL_ERROR_SYSCALL && !ERR_peek_error()) {
		snprintf(why, len, "%s: peer closed", stage);
	} else {
		long v = SSL_get_verify_result(c->ssl);
		char ossl[96];

		openssl_reason(ossl, sizeof(ossl));
		if (v != X509_V_OK)
			snprintf(why, len, "%s: certificate: %s", stage,
				 X509_verify_cert_error_string(v));
		else
			snprintf(why, len, "%s: %s", stage, ossl);
	}
}

static void conn_fail_ssl(struct tls_conn *c, const char *stage, int ret)
{
	char why[120];

	conn_ssl_reason(c, stage, ret, why, sizeof(why));
	conn_kill(c, why[0] ? why : NULL);
}

/*
 * A refused handshake: OpenSSL has written its alert (certificate
 * required, unknown CA, protocol version...) into net_out.  Send it
 * before closing, so that the peer learns why instead of seeing the
 * connection drop: closing state, with nothing opened, ends once net_out
 * is sent, then lingers as after a close_notify (conn_finish_close()),
 * so that a reset does not destroy the alert before the peer reads it.
 */
static void conn_fail_handshake(struct tls_conn *c, int ret)
{
	char why[120];

	conn_ssl_reason(c, "handshake", ret, why, sizeof(why));
	if (!BIO_ctrl_pending(c->net_out) || c->net_eof) {
		conn_kill(c, why[0] ? why : NULL);
		return;
	}
	if (why[0] && !c->error[0])
		snprintf(c->error, sizeof(c->error), "%s", why);
	buf_consume(&c->out, c->out.len);	/* never to be sent */
	c->alerting = true;
	c->state = TLS_CLOSING;
}

/* A socket error: "stage: strerror". */
static void conn_fail_errno(struct tls_conn *c, const char *stage, int err)
{
	char why[120];

	snprintf(why, sizeof(why), "%s: %s", stage, strerror(err));
	conn_kill(c, why);
}

/* Subject CN, only if there is exactly one and it is a clean string. */
static void peer_cn(struct tls_conn *c)
{
	X509 *cert = SSL_get0_peer_certificate(c->ssl);
	X509_NAME *subj = cert ? X509_get_subject_name(cert) : NULL;
	const ASN1_STRING *s;
	int i, len;

	c->peer_name[0] = '\0';
	if (!subj)
		return;
	i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(subj, NID_commonName, i) >= 0)
		return;
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
	len = ASN1_STRING_length(s);
	if (len <= 0 || len >= (int)sizeof(c->peer_name) ||
	    memchr(ASN1_STRING_get0_data(s), '\0', len))
		return;
	memcpy(c->peer_name, ASN1_STRING_get0_data(s), len);
	c->peer_name[len] = '\0';
}

/* Go on with the handshake on what has come; on_open once it is done. */
static void conn_handshake(struct tls_conn *c)
{
	const struct tls_psk *psk;
	int ret;

	clear_ssl_errors();
	ret = SSL_do_handshake(c->ssl);
	if (ret != 1) {
		if (SSL_get_error(c->ssl, ret) != SSL_ERROR_WANT_READ)
			conn_fail_handshake(c, ret);
		return;
	}
	psk = ctx_psk(SSL_get_SSL_CTX(c->ssl));
	if (psk && SSL_session_reused(c->ssl) && !SSL_get0_peer_certificate(c->ssl)) {
		/* No resumption here (no tickets, no cache): the external PSK. */
		c->psk = true;
		snprintf(c->peer_name, sizeof(c->peer_name), "%s", psk->identity);
	} else if (!SSL_get0_peer_certificate(c->ssl) ||
		   SSL_get_verify_result(c->ssl) != X509_V_OK) {
		/* SSL_VERIFY_FAIL_IF_NO_PEER_CERT makes these hold; belt and braces. */
		conn_kill(c, "handshake: peer certificate not verified");
		return;
	} else {
		peer_cn(c);
	}
	c->state = TLS_OPEN;
	c->opened = true;
	if (c->ops->on_open)
		c->ops->on_open(c, c->arg);
}

/*
 * Encrypt the queued output into net_out, as one record where it fits.
 * A memory BIO takes everything, so this never waits on the socket.
 */
static void conn_encrypt(struct tls_conn *c)
{
	while (c->out.len) {
		size_t n = 0;

		clear_ssl_errors();
		if (SSL_write_ex(c->ssl, c->out.data + c->out.head,
				 c->out.len, &n) <= 0) {
			conn_fail_ssl(c, "write", 0);
			return;
		}
		buf_consume(&c->out, n);
	}
	/*
	 * Drained: give the locked memory back, so that only connections
	 * with plaintext waiting hold any (an idle client holds none).
	 */
	buf_free(&c->out);
}

/*
 * Decrypt what fits into the input buffer: 1 if bytes came, 0 if none, -1
 * if the connection failed.  When the stream ended (or the socket failed)
 * after some bytes came, those are handed over first: read_eof is set and
 * the caller closes after on_data.
 */
static int conn_decrypt(struct tls_conn *c)
{
	int got = 0;

	for (;;) {
		size_t room = buf_room(&c->in, TLS_IN_CHUNK, c->max_input);
		size_t n = 0;
		int ret;

		if (!room)
			return got;	/* full: the owner must drain first */
		clear_ssl_errors();
		ret = SSL_read_ex(c->ssl, c->in.data + c->in.head + c->in.len,
				  room, &n);
		if (ret > 0) {
			c->in.len += n;
			got = 1;
			continue;
		}
		if (SSL_get_error(c->ssl, ret) == SSL_ERROR_WANT_READ)
			return got;
		if (!got) {
			conn_fail_ssl(c, "read", ret);
			return -1;
		}
		conn_ssl_reason(c, "read", ret, c->error, sizeof(c->error));
		c->read_eof = true;
		return 1;
	}
}

/*
 * Hand input to the owner until there is no more or the owner stops
 * consuming.  A full buffer the owner does not drain is a peer sending
 * more than it may: close.
 */
static void conn_pump_input(struct tls_conn *c)
{
	for (;;) {
		int got = conn_decrypt(c);
		size_t before;

		if (got < 0 || c->state != TLS_OPEN)
			return;
		if (!got && !c->in.len)
			return;
		before = c->in.len;
		if (c->ops->on_data(c, c->arg) < 0) {
			conn_kill(c, NULL);
			return;
		}
		if (c->state != TLS_OPEN)
			return;
		if (c->read_eof) {
			conn_kill(c, NULL);	/* reason already in c->error */
			return;
		}
		if (c->in.len >= c->max_input) {
			conn_kill(c, "input limit exceeded");
			return;
		}
		if (!got || c->in.len == before)
			return;		/* nothing new, or owner is waiting */
	}
}

/* Hand net_out's next bytes to the kernel, unless a send is in flight. */
static void conn_send(struct tls_conn *c)
{
	size_t cap;
	uint8_t *buf;
	int n;

	if (c->state == TLS_DEAD || loop_io_busy(c->tx) ||
	    !BIO_ctrl_pending(c->net_out))
		return;
	buf = loop_io_buf(c->tx, &cap);
	n = BIO_read(c->net_out, buf, (int)cap);
	if (n <= 0)
		return;
	if (loop_io_send(c->tx, (size_t)n) < 0) {
		conn_kill(c, "write: io_uring failed");
		return;
	}
	c->tx_len = (size_t)n;
	if (c->coalesce_ms)
		c->last_send_ms = loop_now_ms();
}

/*
 * Closing, with the queue encrypted: add close_notify, and once all of it
 * is sent, shut our direction.  Closing the socket outright while the
 * peer's bytes are still unread (say the rest of a body we refused with
 * 413) would make the kernel send a reset, which can destroy our last
 * answer before the peer reads it; so read and drop what still comes,
 * for a bounded time.
 */
static void conn_finish_close(struct tls_conn *c)
{
	if (c->out.len)
		return;
	if (!c->opened && !c->alerting) {
		conn_kill(c, NULL);
		return;
	}
	if (c->opened && !c->notified) {
		clear_ssl_errors();
		SSL_shutdown(c->ssl);
		c->notified = true;
		conn_send(c);
	}
	if (c->state != TLS_CLOSING || loop_io_busy(c->tx) ||
	    BIO_ctrl_pending(c->net_out))
		return;
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_kill(c, NULL);
		return;
	}
	c->reaper = loop_timer_add(c->loop, TLS_LINGER_MS, false, conn_reap, c);
	if (!c->reaper) {
		conn_kill(c, NULL);
		return;
	}
	c->state = TLS_LINGER;
}

/* Keep one recv in flight while input is wanted. */
static void conn_recv(struct tls_conn *c)
{
	if ((c->state != TLS_HANDSHAKE && c->state != TLS_OPEN &&
	     c->state != TLS_LINGER) ||
	    !c->connected || c->net_eof || loop_io_busy(c->rx))
		return;
	if (loop_io_recv(c->rx) < 0)
		conn_kill(c, "read: io_uring failed");
}

static void conn_coalesced(void *arg);

/*
 * Coalescing: true if the output queued should wait (the coalescer is
 * armed for when it may leave), false if it may leave now.
 */
static bool conn_hold_output(struct tls_conn *c)
{
	uint64_t now, due = c->last_send_ms + c->coalesce_ms;

	if (!c->coalesce_ms || !c->out.len || c->out.len >= TLS_RECORD_MAX)
		return false;
	now = loop_now_ms();
	if (now >= due)
		return false;
	if (!c->coalescer)
		c->coalescer = loop_timer_add(c->loop, due - now, false,
					      conn_coalesced, c);
	/* Without a timer, rather send now than never. */
	return c->coalescer != NULL;
}

/* Output was written outside a step: a step now, or once coalescing ends. */
static void conn_schedule_send(struct tls_conn *c)
{
	if (!conn_hold_output(c))
		loop_task_queue(c->loop, &c->kick);
}

/*
 * Run the state machine on what has come and what was written: handshake,
 * encrypt, decrypt and deliver, close; then start the sends and the recv
 * that are due.  Every callback runs from here.
 */
static void conn_step(struct tls_conn *c)
{
	size_t held = c->out.len;	/* written outside our callbacks */

	c->in_step = true;
	if (c->state == TLS_HANDSHAKE)
		conn_handshake(c);
	if (c->state == TLS_OPEN)
		conn_pump_input(c);
	/*
	 * What on_open / on_data wrote leaves in this same batch, and takes
	 * along what was held.  Held output alone waits for the coalescer,
	 * whatever else woke the step (the peer's data, a finished send):
	 * else a peer that answers every batch would set the pace.
	 */
	if (c->state == TLS_CLOSING ||
	    (c->state == TLS_OPEN &&
	     (c->out.len > held || !conn_hold_output(c))))
		conn_encrypt(c);
	conn_send(c);
	if (c->state == TLS_CLOSING)
		conn_finish_close(c);
	if (c->state == TLS_LINGER && c->net_eof)
		conn_kill(c, NULL);	/* the peer has closed already */
	conn_recv(c);
	c->in_step = false;
	if (c->state == TLS_DEAD)
		conn_free(c);
}

static void conn_kicked(void *arg)
{
	conn_step(arg);
}

static void conn_coalesced(void *arg)
{
	struct tls_conn *c = arg;

	loop_timer_del(c->coalescer);
	c->coalescer = NULL;
	conn_step(c);
}

static void conn_on_recv(void *arg, int res)
{
	struct tls_conn *c = arg;
	size_t cap;
	const uint8_t *buf = loop_io_buf(c->rx, &cap);

	if (c->state == TLS_LINGER) {
		if (res <= 0)
			conn_kill(c, NULL);	/* the peer closed too: done */
	} else if (res > 0) {
		if (BIO_write(c->net_in, buf, res) != res)
			conn_kill(c, "read: out of memory");
	} else {
		/*
		 * End of stream, or a failed socket: OpenSSL still gets the
		 * complete records that came before, then sees the end.
		 */
		if (res < 0 && !c->error[0])
			snprintf(c->error, sizeof(c->error), "read: %s",
				 strerror(-res));
		c->net_eof = true;
		BIO_set_mem_eof_return(c->net_in, 0);
	}
	conn_step(c);
}

static void conn_on_sent(void *arg, int res)
{
	struct tls_conn *c = arg;

	c->tx_len = 0;
	if (res < 0)
		conn_fail_errno(c, c->opened ? "write" : "handshake", -res);
	else
		c->connected = true;	/* a client's connect() completed */
	conn_step(c);
}

/* Undo conn_new() (or what of it succeeded); the caller keeps its fd. */
static void conn_discard(struct tls_conn *c)
{
	loop_io_del(c->rx);
	loop_io_del(c->tx);
	SSL_free(c->ssl);
	free(c);
}

static struct tls_conn *conn_new(struct loop *loop, SSL_CTX *ctx, int fd,
				 size_t max_input,
				 const struct tls_conn_ops *ops, void *arg)
{
	struct tls_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ssl = SSL_new(ctx);
	c->net_in = BIO_new(BIO_s_mem());
	c->net_out = BIO_new(BIO_s_mem());
	if (c->ssl && c->net_in && c->net_out) {
		SSL_set_bio(c->ssl, c->net_in, c->net_out);	/* SSL owns them */
	} else {
		BIO_free(c->net_in);
		BIO_free(c->net_out);
		c->net_in = NULL;
	}
	if (c->ssl && conn_ex_index >= 0)
		SSL_set_ex_data(c->ssl, conn_ex_index, c);
	c->rx = loop_io_new(loop, fd, TLS_NET_CHUNK, conn_on_recv, c);
	c->tx = loop_io_new(loop, fd, TLS_NET_CHUNK, conn_on_sent, c);
	if (!c->net_in || !c->rx || !c->tx) {
		conn_discard(c);
		return NULL;
	}
	c->loop = loop;
	c->fd = fd;
	c->max_input = max_input ? max_input : TLS_IN_CHUNK;
	/* Answers carry key bytes (ETSI 014, SKIP): locked memory. */
	c->out.secure = true;
	c->ops = ops;
	c->arg = arg;
	c->state = TLS_HANDSHAKE;
	loop_task_init(&c->reap, conn_reap, c);
	loop_task_init(&c->kick, conn_kicked, c);
	tls_live_conns++;
	TAILQ_INSERT_TAIL(&all_conns, c, all_link);
	return c;
}

struct tls_conn *tls_conn_accept(struct loop *loop, SSL_CTX *ctx, int fd,
				 size_t max_input,
				 const struct tls_conn_ops *ops, void *arg)
{
	struct tls_conn *c = conn_new(loop, ctx, fd, max_input, ops, arg);

	if (!c)
		return NULL;
	SSL_set_accept_state(c->ssl);
	c->connected = true;
	/* The client speaks first: the first step only posts the recv. */
	loop_task_queue(loop, &c->kick);
	return c;
}

struct tls_conn *tls_conn_connect(struct loop *loop, SSL_CTX *ctx, int fd,
				  const char *peer_name, size_t max_input,
				  const struct tls_conn_ops *ops, void *arg)
{
	struct tls_conn *c = conn_new(loop, ctx, fd, max_input, ops, arg);

	if (!c)
		return NULL;
	SSL_set_connect_state(c->ssl);
	/* Checks DNS SANs, or the subject CN when there are none. */
	if (!peer_name || !*peer_name || !SSL_set1_host(c->ssl, peer_name) ||
	    !SSL_set_tlsext_host_name(c->ssl, peer_name)) {
		conn_discard(c);
		return NULL;
	}
	/*
	 * The first step says hello.  The send waits in the kernel until
	 * connect() completes (or fails with its error); reading starts once
	 * it went out.
	 */
	loop_task_queue(loop, &c->kick);
	return c;
}

/* ---- data --------------------------------------------------------------- */

const uint8_t *tls_conn_input(struct tls_conn *c, size_t *len)
{
	*len = c->in.len;
	return c->in.len ? c->in.data + c->in.head : NULL;
}

void tls_conn_consume(struct tls_conn *c, size_t n)
{
	buf_consume(&c->in, n);
}

/*
 * Writes are only queued here and sent in one go later: at the end of this
 * connection's own step, or else from a loop task, i.e. once the loop has
 * run every callback of its current batch.  Several messages written
 * meanwhile (pipelined answers, a burst of Kx-2 reservations) so leave as
 * one TLS record and one send instead of one each.
 */
int tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
	if (c->state != TLS_HANDSHAKE && c->state != TLS_OPEN)
		return -1;
	if (tls_conn_pending(c) + len > TLS_OUT_MAX) {
		conn_kill(c, "output queue full");
		return -1;
	}
	if (buf_room(&c->out, len, TLS_OUT_MAX) < len) {
		/* Never an unlocked copy instead: fail closed. */
		conn_kill(c, "output: secure heap exhausted ([node] secure_heap)");
		return -1;
	}
	memcpy(c->out.data + c->out.head + c->out.len, buf, len);
	c->out.len += len;
	if (!c->in_step && c->state == TLS_OPEN)
		conn_schedule_send(c);
	return 0;
}

void tls_conn_set_coalesce(struct tls_conn *c, unsigned int ms)
{
	c->coalesce_ms = ms;
}

size_t tls_conn_pending(const struct tls_conn *c)
{
	return c->out.len + BIO_ctrl_pending(c->net_out) + c->tx_len;
}

const struct tls_refusal *tls_conn_refusal(const struct tls_conn *c)
{
	return &c->refusal;
}

const char *tls_alert_name(int alert)
{
	return SSL_alert_desc_string_long(SSL3_AL_FATAL << 8 | alert);
}

const char *tls_conn_peer_name(const struct tls_conn *c)
{
	return c->peer_name;
}

void tls_conn_peer_serial(const struct tls_conn *c, char *out, size_t len)
{
	X509 *cert = c->ssl ? SSL_get0_peer_certificate(c->ssl) : NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;

	if (!len)
		return;
	out[0] = '\0';
	if (!cert ||
	    !(bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)) ||
	    !(hex = BN_bn2hex(bn))) {
		BN_free(bn);
		return;
	}
	snprintf(out, len, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
}

bool tls_conn_psk(const struct tls_conn *c)
{
	return c->psk;
}

const char *tls_conn_error(const struct tls_conn *c)
{
	return c->error;
}

void tls_conn_close(struct tls_conn *c)
{
	if (c->state != TLS_HANDSHAKE && c->state != TLS_OPEN)
		return;
	if (c->state == TLS_HANDSHAKE) {
		conn_kill(c, NULL);
		return;
	}
	c->state = TLS_CLOSING;
	if (!c->in_step)
		loop_task_queue(c->loop, &c->kick);
}

void tls_conn_abort(struct tls_conn *c)
{
	conn_kill(c, NULL);
}

/* ---- listeners: admission before authentication -------------------- */

#define TLS_SRC_BUCKETS		256
#define TLS_ACCEPT_BATCH	64	/* per loop pass, then a task goes on */
#define TLS_EMFILE_PAUSE_MS	100
#define TLS_GATE_TICK_MS	100
#define TLS_GATE_LOG_MS		10000

/* The pending connections of one source address (IPv6: its /64). */
struct tls_src {
	struct tls_src *next;
	uint8_t addr[16];
	unsigned int n;
};

struct tls_listener {
	struct loop *loop;
	int fd;
	char name[16];
	struct tls_listen_limits lim;
	tls_accept_fn fn;
	void *arg;
	struct loop_watch *watch;
	struct loop_task more;		/* the backlog beyond one batch */
	struct loop_timer *tick;	/* deadlines, log, EMFILE pause */
	bool paused;			/* out of descriptors: wait a tick */
	uint64_t paused_ms;
	TAILQ_HEAD(, tls_conn) pending;	/* oldest first */
	struct tls_src *src[TLS_SRC_BUCKETS];
	struct tls_listener_stats st, logged;
	uint64_t logged_ms;
};

static unsigned long fd_limit, fd_reserve;

unsigned long tls_fd_budget_init(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				getrlimit(RLIMIT_NOFILE, &rl);
		}
		fd_limit = rl.rlim_cur == RLIM_INFINITY ? 1u << 20 :
			   (unsigned long)rl.rlim_cur;
	} else {
		fd_limit = 1024;
	}
	fd_reserve = fd_limit / 8;
	if (fd_reserve < 32)
		fd_reserve = 32;
	if (fd_reserve > 1024)
		fd_reserve = 1024;
	return fd_limit;
}

/*
 * Would @fd, just accepted, leave less than the reserve free?  The new
 * descriptor is the lowest free one, so all below it are in use; and the
 * process holds at least one per live connection.
 */
static bool fd_over_budget(int fd)
{
	unsigned long line;

	if (!fd_limit) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return false;
		fd_limit = rl.rlim_cur == RLIM_INFINITY ? 1u << 20 :
			   (unsigned long)rl.rlim_cur;
		fd_reserve = fd_limit / 8 < 32 ? 32 : fd_limit / 8;
		if (fd_reserve > 1024)
			fd_reserve = 1024;
	}
	line = fd_limit > fd_reserve ? fd_limit - fd_reserve : 0;
	return (unsigned long)fd >= line || tls_live_conns >= line;
}

/* An IPv4 address (also v4-mapped) as ::ffff:a.b.c.d; IPv6 cut to /64. */
static void src_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const uint8_t *a =
			((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a))
			memcpy(key, a, 16);
		else
			memcpy(key, a, 8);
	}
}

static struct tls_src **src_slot(struct tls_listener *l, const uint8_t key[16])
{
	uint32_t h = 2166136261u;
	struct tls_src **pp;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	for (pp = &l->src[h % TLS_SRC_BUCKETS]; *pp; pp = &(*pp)->next)
		if (!memcmp((*pp)->addr, key, 16))
			break;
	return pp;
}

/* @c leaves its listener's pending list: admitted, dead or detached. */
static void gate_release(struct tls_conn *c)
{
	struct tls_listener *l = c->gate;
	struct tls_src *s = c->src;

	if (!l)
		return;
	TAILQ_REMOVE(&l->pending, c, gate_link);
	l->st.pending--;
	c->gate = NULL;
	c->src = NULL;
	if (s && --s->n == 0) {
		struct tls_src **pp = src_slot(l, s->addr);

		*pp = s->next;
		free(s);
	}
}

void tls_conn_admit(struct tls_conn *c)
{
	gate_release(c);
}

/* The connection to drop for a new one: see tls.h. */
static struct tls_conn *gate_victim(struct tls_listener *l)
{
	struct tls_conn *c;

	TAILQ_FOREACH(c, &l->pending, gate_link)
		if (c->src && c->src->n > 1)
			return c;
	return TAILQ_FIRST(&l->pending);
}

static void gate_log(struct tls_listener *l, uint64_t now)
{
	struct tls_listener_stats *s = &l->st, *o = &l->logged;

	if (now - l->logged_ms < TLS_GATE_LOG_MS)
		return;
	if (s->refused_source != o->refused_source ||
	    s->refused_fds != o->refused_fds || s->dropped != o->dropped ||
	    s->timed_out != o->timed_out)
		log_notice("%s: unauthenticated connections: %llu refused (source over %u pending), %llu refused (descriptors), %llu dropped (over %u pending), %llu timed out (%u ms)",
			   l->name,
			   (unsigned long long)(s->refused_source - o->refused_source),
			   l->lim.max_per_source,
			   (unsigned long long)(s->refused_fds - o->refused_fds),
			   (unsigned long long)(s->dropped - o->dropped),
			   l->lim.max_pending,
			   (unsigned long long)(s->timed_out - o->timed_out),
			   l->lim.handshake_ms);
	*o = *s;
	l->logged_ms = now;
}

/* Take @fd into the pending list, or refuse it: 0, or -1 (closed). */
static int gate_take(struct tls_listener *l, int fd,
		     const struct sockaddr_storage *ss)
{
	uint8_t key[16];
	struct tls_src **pp, *s;
	struct tls_conn *c;

	if (fd_over_budget(fd)) {
		l->st.refused_fds++;
		close(fd);
		return -1;
	}
	src_key(ss, key);
	s = *src_slot(l, key);
	if (s && s->n >= l->lim.max_per_source) {
		l->st.refused_source++;
		close(fd);
		return -1;
	}
	while (l->st.pending >= l->lim.max_pending) {
		l->st.dropped++;
		conn_kill(gate_victim(l), "handshake: dropped for a newer connection");
	}
	pp = src_slot(l, key);	/* a drop may have freed the source */
	s = *pp;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			close(fd);
			return -1;
		}
		memcpy(s->addr, key, 16);
		s->next = NULL;
		*pp = s;
	}
	s->n++;		/* before fn(): a failure releases it below */
	c = l->fn(l->arg, fd);
	if (!c) {
		if (--s->n == 0) {
			*src_slot(l, key) = s->next;
			free(s);
		}
		close(fd);
		return -1;
	}
	c->gate = l;
	c->src = s;
	c->accepted_ms = loop_now_ms();
	TAILQ_INSERT_TAIL(&l->pending, c, gate_link);
	l->st.pending++;
	l->st.accepted++;
	return 0;
}

static void listener_accept(struct tls_listener *l)
{
	for (int i = 0; i < TLS_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t slen = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &slen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* The backlog waits; the tick resumes. */
				if (!l->paused)
					log_warn("%s: accept: %s", l->name,
						 strerror(errno));
				l->paused = true;
				l->paused_ms = loop_now_ms();
				l->st.refused_fds++;
			} else if (errno != EAGAIN && errno != EINTR &&
				   errno != ECONNABORTED) {
				log_warn("%s: accept: %s", l->name,
					 strerror(errno));
			}
			return;
		}
		gate_take(l, fd, &ss);
	}
	/* Readiness is reported once: go on after this pass. */
	loop_task_queue(l->loop, &l->more);
}

static void listener_more(void *arg)
{
	struct tls_listener *l = arg;

	if (!l->paused)
		listener_accept(l);
}

static void listener_ready(void *arg, uint32_t revents)
{
	listener_more(arg);
}

static void listener_tick(void *arg)
{
	struct tls_listener *l = arg;
	uint64_t now = loop_now_ms();
	struct tls_conn *c;

	while ((c = TAILQ_FIRST(&l->pending)) &&
	       now - c->accepted_ms >= l->lim.handshake_ms) {
		l->st.timed_out++;
		conn_kill(c, "handshake: timed out");
	}
	if (l->paused && now - l->paused_ms >= TLS_EMFILE_PAUSE_MS) {
		l->paused = false;
		listener_accept(l);
	}
	gate_log(l, now);
}

struct tls_listener *tls_listener_new(struct loop *loop, int fd,
				      const char *name,
				      const struct tls_listen_limits *lim,
				      tls_accept_fn fn, void *arg)
{
	struct tls_listener *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->loop = loop;
	l->fd = fd;
	snprintf(l->name, sizeof(l->name), "%s", name);
	if (lim)
		l->lim = *lim;
	if (!l->lim.handshake_ms)
		l->lim.handshake_ms = TLS_HANDSHAKE_MS;
	if (!l->lim.max_pending)
		l->lim.max_pending = TLS_MAX_PENDING;
	if (!l->lim.max_per_source)
		l->lim.max_per_source = TLS_MAX_PER_SOURCE;
	l->fn = fn;
	l->arg = arg;
	TAILQ_INIT(&l->pending);
	loop_task_init(&l->more, listener_more, l);
	l->logged_ms = loop_now_ms();
	l->tick = loop_timer_add(loop, TLS_GATE_TICK_MS, true, listener_tick, l);
	l->watch = loop_watch_add(loop, fd, POLLIN, listener_ready, l);
	if (!l->tick || !l->watch) {
		int e = errno;

		loop_timer_del(l->tick);
		if (l->watch)
			loop_watch_del(l->watch);
		free(l);
		errno = e;
		return NULL;
	}
	return l;
}

void tls_listener_free(struct tls_listener *l)
{
	struct tls_conn *c;

	if (!l)
		return;
	while ((c = TAILQ_FIRST(&l->pending)))
		gate_release(c);
	loop_watch_del(l->watch);
	loop_timer_del(l->tick);
	loop_task_cancel(l->loop, &l->more);
	close(l->fd);
	free(l);
}

void tls_listener_stats(const struct tls_listener *l,
			struct tls_listener_stats *st)
{
	*st = l->st;
}

const char *tls_conn_verify(const struct tls_conn *c, X509_STORE *store)
{
	X509 *leaf = SSL_get0_peer_certificate(c->ssl);
	X509_STORE_CTX *xs;
	const char *why = NULL;

	if (!leaf)
		return "no peer certificate";
	xs = X509_STORE_CTX_new();
	if (!xs)
		return "out of memory";
	/* The chain the peer sent, as untrusted intermediates. */
	if (!X509_STORE_CTX_init(xs, store, leaf,
				 SSL_get_peer_cert_chain(c->ssl)))
		why = "out of memory";
	else if (X509_verify_cert(xs) != 1)
		why = X509_verify_cert_error_string(
			X509_STORE_CTX_get_error(xs));
	X509_STORE_CTX_free(xs);
	ERR_clear_error();
	return why;
}

int tls_ctx_add_ca(SSL_CTX *ctx, const char *ca, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *names = SSL_CTX_get_client_CA_list(ctx);
	char why[256];
	int ok;

	if (!file_readable(ca, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", ca, why);
		return -1;
	}
	ERR_clear_error();
	/* Trusted, and named in the CertificateRequest as a hint. */
	ok = SSL_CTX_load_verify_file(ctx, ca) && names &&
	     SSL_add_file_cert_subjects_to_stack(names, ca);
	if (!ok) {
		openssl_reason(why, sizeof(why));
		snprintf(err, errlen, "%s: %s", ca, why);
		return -1;
	}
	return 0;
}

X509_STORE *tls_store_new(const char *ca, const char *crl, char *err,
			  size_t errlen)
{
	X509_STORE *store = X509_STORE_new();
	X509_LOOKUP *lu;
	const char *what = ca;
	char why[256];

	if (!file_readable(ca, why, sizeof(why)) ||
	    (crl && *crl && !file_readable(crl, why, sizeof(why)))) {
		snprintf(err, errlen, "%s", why);
		X509_STORE_free(store);
		return NULL;
	}
	ERR_clear_error();
	if (!store || X509_STORE_load_file(store, ca) != 1)
		goto fail;
	/* As tls_ctx_new(): every CA of the chain needs a current CRL. */
	what = crl;
	if (crl && *crl &&
	    (!(lu = X509_STORE_add_lookup(store, X509_LOOKUP_file())) ||
	     X509_load_crl_file(lu, crl, X509_FILETYPE_PEM) <= 0 ||
	     !X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK |
					  X509_V_FLAG_CRL_CHECK_ALL)))
		goto fail;
	return store;
fail:
	openssl_reason(why, sizeof(why));
	snprintf(err, errlen, "%s: %s", what, why);
	X509_STORE_free(store);
	return NULL;
}

/* @c's chain against its own context's store, as it is now: closed? */
static bool conn_recheck_own(struct tls_conn *c)
{
	const char *why = tls_conn_verify(c,
			SSL_CTX_get_cert_store(SSL_get_SSL_CTX(c->ssl)));

	if (!why)
		return false;
	log_notice("TLS: closing the connection of \"%s\": its certificate no longer verifies (%s)",
		   c->peer_name, why);
	if (!c->error[0])
		snprintf(c->error, sizeof(c->error),
			 "certificate no longer valid: %s", why);
	tls_conn_abort(c);
	return true;
}

unsigned int tls_conns_recheck_all(void)
{
	unsigned int closed = 0;
	struct tls_conn *c;

	TAILQ_FOREACH(c, &all_conns, all_link)
		if (c->state != TLS_DEAD && c->opened && !c->psk &&
		    conn_recheck_own(c))
			closed++;
	return closed;
}

/* ASN1_TIME to time_t (UTC); 0 if it cannot be read. */
static time_t asn1_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

int tls_crl_next_update(const char *path, time_t *when)
{
	BIO *b = BIO_new_file(path, "r");
	X509_CRL *crl;
	int n = 0;

	*when = 0;
	if (!b)
		return -1;
	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL))) {
		time_t t = asn1_time_t(X509_CRL_get0_nextUpdate(crl));

		if (t && (!*when || t < *when))
			*when = t;
		X509_CRL_free(crl);
		n++;
	}
	BIO_free(b);
	ERR_clear_error();	/* the end of the file reads as an error */
	return n ? 0 : -1;
}

unsigned int tls_conns_recheck(SSL_CTX *old, SSL_CTX *new_ctx)
{
	X509_STORE *store = SSL_CTX_get_cert_store(new_ctx);
	void *lineage = SSL_CTX_get_app_data(old);
	unsigned int closed = 0;
	struct tls_conn *c;
	const char *why;

	/*
	 * Connections keep the context they were made with, which may be
	 * older than @old: match them by lineage, which @new_ctx inherits.
	 */
	SSL_CTX_set_app_data(new_ctx, lineage);
	/* tls_conn_abort() frees nothing here: on_close comes from the loop. */
	TAILQ_FOREACH(c, &all_conns, all_link) {
		if (c->state == TLS_DEAD ||
		    SSL_CTX_get_app_data(SSL_get_SSL_CTX(c->ssl)) != lineage)
			continue;
		if (!c->opened) {
			/* Its verification would use the old store. */
			conn_kill(c, "handshake cut by a certificate reload");
			closed++;
			continue;
		}
		why = tls_conn_verify(c, store);
		if (!why)
			continue;
		log_notice("TLS: closing the connection of \"%s\": its certificate fails the reloaded trust store (%s)",
			   c->peer_name, why);
		if (!c->error[0])
			snprintf(c->error, sizeof(c->error),
				 "certificate no longer valid: %s", why);
		tls_conn_abort(c);
		closed++;
	}
	return closed;
}

void tls_conn_free(struct tls_conn *c)
{
	conn_free(c);
}

/* ---- listening sockets -------------------------------------------------- */

int tls_listen_socket(const char *addr, char *err, size_t errlen)
{
	char host[256], *port;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
					      AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	int fd, one = 1, rc;

	snprintf(host, sizeof(host), "%s", addr);
	port = strrchr(host, ':');
	if (!port) {
		snprintf(err, errlen, "listen %s: expected host:port", addr);
		return -1;
	}
	*port++ = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "listen %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN)) {
		snprintf(err, errlen, "listen %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}
