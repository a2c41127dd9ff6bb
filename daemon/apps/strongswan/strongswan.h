/* SPDX-License-Identifier: GPL-2.0 */
/*
 * strongSwan RFC 8784 post-quantum preshared keys (PPKs) from QKD keys
 * (Documentation/qkd/strongswan.rst).
 *
 * The operator runs charon with a swanctl.conf connection that has
 * ppk_id and ppk_required = yes; for each [strongswan NAME] section the
 * daemon loads a fresh QKD key into charon every rotate_interval seconds
 * as the PPK of that ppk_id, the same key at both ends, over VICI
 * (load-shared, type PPK, unique id "qkd-NAME-<key ID>"), unloads the
 * previous one, and has the owner's charon reauthenticate the IKE SA so
 * that the new PPK is mixed into fresh IKE and CHILD SA keys.  The two
 * ends agree over Kx (SWAN_PPK, SWAN_ACK: key IDs only) through the
 * rotating consumer core (apps/rotate.h).
 */
#ifndef QKD_STRONGSWAN_H
#define QKD_STRONGSWAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apps/rotate.h"
#include "core/config.h"

#define STRONGSWAN_ERROR_MAX	256
#define STRONGSWAN_SECRET_ID_MAX	(KM_NAME_MAX + 24)	/* incl. NUL */
#define STRONGSWAN_VICI_TIMEOUT_MS	2000

struct loop;
struct kma;
struct kxmsg;
struct strongswan;

struct strongswan_transport {
	int (*send)(void *arg, const char *node, const struct kxmsg *m);
	bool (*is_up)(void *arg, const char *node);
};

/*
 * charon: vici_call_events() by default, a fake in the unit tests.  One
 * command: @req is a whole VICI segment; with @event, the EVENTs of that
 * name go to @fn; the response message goes into @resp; its length, or
 * -1 with a reason in @err.
 */
struct strongswan_charon_ops {
	long (*call)(void *c, const char *socket, const char *event,
		     const uint8_t *req, size_t req_len,
		     void (*fn)(void *arg, const uint8_t *msg, size_t len),
		     void *arg, uint8_t *resp, size_t cap, char *err,
		     size_t errlen);
	/* Monotonic microseconds; NULL: CLOCK_MONOTONIC. */
	uint64_t (*now_us)(void *c);
};

/* Start rotating; NULL with a reason in @err. charon need not be up yet. */
struct strongswan *strongswan_new(struct loop *loop, struct kma *kma,
				  const char *node,
				  const struct strongswan_conn_cfg *conns,
				  size_t n_conns,
				  const struct strongswan_transport *kx,
				  void *kx_arg, char *err, size_t errlen);
/* Without a timer when @loop is NULL: call strongswan_tick() (unit tests). */
struct strongswan *strongswan_new_with_ops(
	struct loop *loop, struct kma *kma, const char *node,
	const struct strongswan_conn_cfg *conns, size_t n_conns,
	const struct strongswan_transport *kx, void *kx_arg,
	const struct strongswan_charon_ops *ops, void *c, char *err,
	size_t errlen);
/* Stops rotating; the PPK in charon stays (the SAs keep working). */
void strongswan_free(struct strongswan *s);
void strongswan_tick(struct strongswan *s);

/* A SWAN_* Kx message from peer node @from. */
void strongswan_receive(struct strongswan *s, const char *from,
			const struct kxmsg *m);

/* ---- state for "strongswan show" (mgmt/view_apps.c): key IDs, never keys */

struct strongswan_info {
	char name[KM_NAME_MAX];
	char connection[STRONGSWAN_ID_MAX];
	char ppk_id[STRONGSWAN_ID_MAX];
	/* VICI id of the PPK loaded, if rot.have_key */
	char secret_id[STRONGSWAN_SECRET_ID_MAX];
	char peer[KM_NAME_MAX];
	char link[KM_NAME_MAX];
	struct rotate_view rot;		/* the PPK (gaps: key ID sent .. loaded) */
	uint64_t reauths;		/* owner: IKE SA reauthentications */
	uint64_t initiations;		/* owner: no IKE SA, child initiated */
};

size_t strongswan_count(const struct strongswan *s);
/* 0, or -1 if @i is out of range. */
int strongswan_info(const struct strongswan *s, size_t i,
		    struct strongswan_info *out);

/* The VICI id of the PPK of key @key_id for section @name. */
void strongswan_secret_id(const char *name, uint64_t key_id,
			  char out[STRONGSWAN_SECRET_ID_MAX]);

#endif /* QKD_STRONGSWAN_H */
