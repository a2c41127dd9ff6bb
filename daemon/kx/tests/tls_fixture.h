/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Throwaway PKI for TLS unit tests, made with the OpenSSL API in a fresh
 * temporary directory: a CA, certificates it signs (P-256, one CN each),
 * and a second "rogue" CA nobody trusts.  Header-only so each test binary
 * that needs certificates can include it.
 */
#ifndef QKD_TESTS_TLS_FIXTURE_H
#define QKD_TESTS_TLS_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct fixture_ca {
	EVP_PKEY *key;
	X509 *cert;
};

static inline EVP_PKEY *fixture_keygen(void)
{
	return EVP_EC_gen("P-256");
}

static inline int fixture_write(const char *dir, const char *name,
				const char *ext, EVP_PKEY *key, X509 *cert)
{
	char path[512];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
		 : PEM_write_X509(f, cert);
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Certificate for @cn signed by @ca (self-signed when @ca is NULL). */
static inline X509 *fixture_cert(const char *cn, EVP_PKEY *key,
				 const struct fixture_ca *ca, int is_ca)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca->cert) : name);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, ca ? ca->cert : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  is_ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (is_ca) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
					  "critical,keyCertSign,cRLSign");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, ca ? ca->key : key, EVP_sha256());
	X509_NAME_free(name);
	return x;
}

/* CA named @name: writes DIR/NAME.pem (cert) and keeps the key in @ca. */
static inline int fixture_ca_new(struct fixture_ca *ca, const char *dir,
				 const char *name)
{
	ca->key = fixture_keygen();
	if (!ca->key)
		return -1;
	ca->cert = fixture_cert(name, ca->key, NULL, 1);
	return fixture_write(dir, name, "pem", NULL, ca->cert);
}

static inline void fixture_ca_free(struct fixture_ca *ca)
{
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
}

/* Leaf for @cn signed by @ca: DIR/NAME.pem and DIR/NAME.key. */
static inline int fixture_leaf(const struct fixture_ca *ca, const char *dir,
			       const char *name, const char *cn)
{
	EVP_PKEY *key = fixture_keygen();
	X509 *x;
	int ret;

	if (!key)
		return -1;
	x = fixture_cert(cn, key, ca, 0);
	ret = fixture_write(dir, name, "pem", NULL, x) |
	      fixture_write(dir, name, "key", key, NULL);
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

/* Fresh directory under $TMPDIR; caller frees with fixture_rmdir(). */
static inline char *fixture_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (asprintf(&dir, "%s/qkdtls.XXXXXX", tmp ? tmp : "/tmp") < 0)
		return NULL;
	if (!mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

static inline void fixture_rmdir(char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
	free(dir);
}

static inline char *fixture_path(const char *dir, const char *file)
{
	static char buf[4][512];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", dir, file);
	return p;
}

#endif /* QKD_TESTS_TLS_FIXTURE_H */
