/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SKIP, the Secure Key Integration Protocol (IETF draft-cisco-skip /
 * draft-singh-skip): a key provider endpoint for routers and firewalls
 * that pull IKEv2 post-quantum preshared keys (RFC 8784).
 *
 * The client (an encryptor) is one configured SAE of this node.  A new key
 * for a remote system is an ETSI 014 enc_keys for the SAE pair (this
 * node's SAE master, the remote system's SAE slave); the key by ID at the
 * other end is a dec_keys.  So both ends serve the same key for the same
 * ID through the KSA's Kx-2 reservation, exactly as ETSI 014 does.
 *
 * keyId is the KSA's key UUID written as 32 lower-case hex digits (128
 * bits, the draft's size); key is hex.  This file is the pure part:
 * request parsing and answer building, fuzzed on its own (fuzz_skip.c).
 * The HTTPS serving is etsi014.c's, with these hooks.
 */
#ifndef QKD_SKIP_H
#define QKD_SKIP_H

#include <stddef.h>
#include <stdint.h>

#include "ksa/ksa.h"

struct http_request;

#define SKIP_KEY_ID_HEX		32	/* hex digits of a keyId */
#define SKIP_MAX_REMOTES	32

struct skip_remote {
	const char *system_id;	/* remoteSystemID */
	const char *sae;	/* the [sae] that stands for it */
};

struct skip_config {
	const char *local_id;		/* localSystemID */
	const char *local_sae;		/* the client acts as this SAE */
	const char *client_cn;		/* its certificate's subject CN */
	const struct skip_remote *remotes;
	size_t n_remotes;
	uint32_t default_size;		/* bits */
	uint32_t min_size, max_size;	/* bits, multiples of 8 */
};

enum skip_endpoint {
	SKIP_CAPABILITIES,	/* GET /capabilities */
	SKIP_NEW_KEY,		/* GET /key?remoteSystemID=&size= */
	SKIP_KEY_BY_ID,		/* GET /key/{keyId}?remoteSystemID= */
};

struct skip_request {
	enum skip_endpoint endpoint;
	const char *remote_sae;		/* from the config; NULL for capabilities */
	uint32_t size;			/* bits (new key) */
	char key_id[KSA_KEY_ID_LEN];	/* the KSA's UUID (key by ID) */
};

struct skip_error {
	int status;
	char message[160];	/* never holds key bytes */
	const char *allow;	/* 405: the methods allowed */
};

/* A copy the server owns (the daemon's config may be reloaded); NULL if out of memory. */
struct skip_config *skip_config_dup(const struct skip_config *cfg);
void skip_config_free(struct skip_config *cfg);

/* 0, or -1 with @err filled (400, 404 or 405). */
int skip_parse(const struct http_request *req, const struct skip_config *cfg,
	       struct skip_request *out, struct skip_error *err);
/* The status and message for a ksa.h answer other than KSA_OK. */
void skip_map_result(enum ksa_result res, const struct ksa_err *kerr,
		     struct skip_error *err);

/* 32 hex digits <-> the KSA's UUID; -1 if @hex is not one. */
int skip_key_id_to_uuid(const char *hex, char uuid[KSA_KEY_ID_LEN]);

/*
 * JSON bodies, NUL-terminated, malloc'd; skip_key_json's holds key bytes
 * and is in the secure heap.  Free any of them with skip_body_free(),
 * which wipes it.
 */
char *skip_capabilities_json(const struct skip_config *cfg, size_t *len);
char *skip_key_json(const struct ksa_key *key, size_t *len);
char *skip_error_json(const struct skip_error *err, size_t *len);
void skip_body_free(char *body, size_t len);

#endif /* QKD_SKIP_H */
