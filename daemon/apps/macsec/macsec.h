/* SPDX-License-Identifier: GPL-2.0 */
/*
 * MACsec ports: SAK rotation from QKD keys (Documentation/qkd/macsec.rst).
 *
 * The operator creates the MACsec interface (ip link add ... type macsec);
 * for each [macsec NAME] section the daemon learns the peer's SCI over Kx
 * (MACSEC_HELLO), adds the RX SC and rotates the SAK: the port's owner (the
 * node that dials the Kx connection, peer_dials()) allocates a key from the
 * link, the other end fetches the same key by ID; both install it as RX SA,
 * then TX SA of the next AN, and only then switch their encoding SA.  The
 * old SAs are deleted after a grace period, long before their AN comes
 * round again.  Kx carries key IDs only (kxmsg.h, MACSEC_*).
 *
 * Unlike the IPsec path, where qkd.ko installs SAs from its pool by key ID,
 * 6.1 has no in-kernel MACsec keying API: the SAK crosses into the daemon
 * (secure heap, cleansed right after the netlink request is built and sent).
 */
#ifndef QKD_MACSEC_H
#define QKD_MACSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

#include "core/config.h"

#define MACSEC_ERROR_MAX	256	/* a port's last error, with its NUL */

struct loop;
struct kma;
struct kxmsg;
struct macsec;

struct macsec_transport {
	int (*send)(void *arg, const char *node, const struct kxmsg *m);
	bool (*is_up)(void *arg, const char *node);
};

/*
 * Check every port's interface (exists, is MACsec, non-XPN cipher matching
 * the configured key length) and link, and start rotating.  NULL with a
 * one-line reason in @err.
 */
struct macsec *macsec_new(struct loop *loop, struct kma *kma,
			  const char *node, const struct macsec_port_cfg *ports,
			  size_t n_ports, const struct macsec_transport *kx,
			  void *kx_arg, char *err, size_t errlen);
/* Stops rotating; the installed SAs stay (traffic keeps flowing). */
void macsec_free(struct macsec *ms);

/* A MACSEC_* Kx message from peer node @from. */
void macsec_receive(struct macsec *ms, const char *from,
		    const struct kxmsg *m);

/* ---- state for "macsec show" (mgmt/view_apps.c): key IDs, never SAKs */

enum macsec_port_state {
	MACSEC_PORT_KX_DOWN,		/* no Kx channel to the peer */
	MACSEC_PORT_WAITING_PEER,	/* the peer's SCI not known yet */
	MACSEC_PORT_KEYING,		/* no SAK yet */
	MACSEC_PORT_UP,			/* a SAK in use, no alarm */
	MACSEC_PORT_ROTATING,		/* owner: new SAK sent, awaiting ACK */
	MACSEC_PORT_DEGRADED,		/* alarm, the old SAK still in use */
	MACSEC_PORT_FAILED,		/* alarm, no SAK */
};

const char *macsec_port_state_name(enum macsec_port_state s);

struct macsec_port_info {
	char name[KM_NAME_MAX];
	char ifname[IFNAMSIZ];
	char peer[KM_NAME_MAX];
	char link[KM_NAME_MAX];
	bool owner;
	uint64_t sci, peer_sci;		/* 0: not known */
	enum macsec_port_state state;
	/* Only if @have_sak: the SAK in use. */
	bool have_sak;
	uint8_t an;			/* its encoding SA */
	uint64_t key_id;		/* its QKD key ID */
	uint64_t last_rotation_age_ms;
	uint64_t rotations, failures;
	uint64_t tx_pn;			/* last polled */
	uint32_t rotate_s;
	uint32_t key_len;		/* bytes */
	char last_error[MACSEC_ERROR_MAX];	/* operator prose; "" if none */
};

size_t macsec_port_count(const struct macsec *ms);
/* 0, or -1 if @i is out of range. */
int macsec_port_info(const struct macsec *ms, size_t i,
		     struct macsec_port_info *out);

/*
 * The kernel side of the ports: macsec_nl.c by default (@k is then the
 * struct macsec_nl), a fake in the unit tests.  Errors are -errno with a
 * reason in @err.
 */
struct macsec_nl_secy;
struct macsec_nl_sa_cfg;

struct macsec_kernel_ops {
	uint32_t (*ifindex)(void *k, const char *ifname);	/* 0: none */
	int (*get)(void *k, uint32_t ifindex, struct macsec_nl_secy *out,
		   char *err, size_t errlen);
	int (*add_rxsc)(void *k, uint32_t ifindex, uint64_t sci, char *err,
			size_t errlen);
	/* With its RX SAs; an absent RX SC is fine. */
	void (*del_rxsc)(void *k, uint32_t ifindex, uint64_t sci);
	/* An RX SA of the RX SC @rx_sci, or the TX SA if @rx_sci is NULL. */
	int (*add_sa)(void *k, uint32_t ifindex, const uint64_t *rx_sci,
		      const struct macsec_nl_sa_cfg *sa, char *err,
		      size_t errlen);
	/* Deactivate and delete; an absent SA is fine. */
	void (*del_sa)(void *k, uint32_t ifindex, const uint64_t *rx_sci,
		       uint8_t an);
	int (*set_encoding_sa)(void *k, uint32_t ifindex, uint8_t an,
			       char *err, size_t errlen);
	/* Monotonic milliseconds; NULL: the loop's clock. */
	uint64_t (*now_ms)(void *k);
};

/*
 * macsec_new() over other kernel ops, without a timer when @loop is NULL:
 * the caller then calls macsec_tick() (unit tests).
 */
struct macsec *macsec_new_with_ops(struct loop *loop, struct kma *kma,
				   const char *node,
				   const struct macsec_port_cfg *ports,
				   size_t n_ports,
				   const struct macsec_transport *kx,
				   void *kx_arg,
				   const struct macsec_kernel_ops *kops,
				   void *k, char *err, size_t errlen);
void macsec_tick(struct macsec *ms);

/* The 16-byte MACsec KEYID for QKD key @key_id (metadata only). */
void macsec_keyid(uint64_t key_id, uint32_t key_len, uint8_t out[16]);

#endif /* QKD_MACSEC_H */
