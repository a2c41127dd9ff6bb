/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key manager: how main.c builds the key management objects from its parsed
 * config, and the read-only views qkdctl's control socket shows.
 *
 * Three objects, built in this order and freed in reverse:
 *
 *   struct kma    key store (KMA, Y.3802 7.2): one key source per [link]
 *                 (keysrc.h) and the application keys cut from it.
 *   struct ksa    key supply (KSA): SAE table, master/slave pairs, limits;
 *                 implements ksa.h for the ETSI 014 front end.
 *   struct peers  the Kx channel: TLS to every [peer], carrying Kx-2
 *                 reservations (kxmsg.h) between KSAs.
 *
 *	kma = kma_new(loop, &node, links, n_links, err, sizeof(err));
 *	ksa = ksa_new(kma, &node, saes, n_saes, &limits, err, sizeof(err));
 *	peers = peers_start(loop, srv_ctx, cli_ctx, &node, peer_cfgs, n_peers,
 *			    kx_listen, ksa, err, sizeof(err));
 *	...
 *	peers_stop(peers); ksa_free(ksa); kma_free(kma);
 *
 * The config structs are plain data that main.c fills and keeps or drops
 * after the constructor returns (everything is copied).  Names are the
 * section names of the config file (node, peer, link and SAE IDs).
 * Constructors return NULL with a one-line reason in @err.
 */
#ifndef QKD_KEYMGR_H
#define QKD_KEYMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include <linux/qkd.h>

#include "ksa/ksa.h"

struct loop;
struct kma;
struct peers;

#define KM_NAME_MAX	64	/* node, link, peer names incl. NUL */
#define KM_ADDR_MAX	128	/* "host:port" / "[v6]:port" incl. NUL */
#define KM_PATH_MAX	4096
#define KM_SEED_LEN	32	/* sim link seed: 64 hex digits in the file */
#define KM_MAX_SLAVES	16	/* slave + additional slaves per key */

/* [node] */
struct km_node_cfg {
	char name[KM_NAME_MAX];		/* this node's ID (= KME ID) */
	char state_dir[KM_PATH_MAX];	/* absolute; must exist, writable */
};

enum km_source {
	KM_SOURCE_SIM,		/* userspace simulated link (keysrc_sim.c) */
	KM_SOURCE_KERNEL,	/* qkd.ko over genetlink (keysrc_kernel.c) */
};

/* [link NAME] */
struct kma_link_cfg {
	char name[KM_NAME_MAX];
	char peer[KM_NAME_MAX];		/* node at the other end ([peer] name) */
	enum km_source source;
	/* sim only */
	enum qkd_role role;		/* tx: even blocks, rx: odd */
	uint8_t seed[KM_SEED_LEN];	/* secret: main.c cleanses its copy */
	uint64_t rate;			/* bit/s, 1..10^11 */
	uint32_t block_size;		/* bytes, 16..QKD_BLOCK_SIZE_MAX */
	/* kernel only */
	uint32_t link_id;		/* qkd.ko QKD_A_LINK_ID of the link */
	/*
	 * Pool level thresholds in bytes of this end's share; 0: defaults
	 * (sim: a sim end holds up to about rate/8 bytes, i.e. one second of
	 * key; WARNING below 10% of that, READY from 50%.  kernel: 10% and
	 * 50% of 256 blocks).
	 */
	uint64_t pool_warn;
	uint64_t pool_ready;
};

/* [peer NAME] */
struct peer_cfg {
	char name[KM_NAME_MAX];		/* node ID */
	char address[KM_ADDR_MAX];	/* "host:port", IPv4 or [IPv6] */
	char cert_cn[KM_NAME_MAX];	/* its certificate must carry this CN */
};

/* [sae NAME]: every SAE of the network, on every node. */
struct ksa_sae_cfg {
	char name[KSA_SAE_ID_MAX];	/* SAE ID */
	char cert_cn[KSA_SAE_ID_MAX];
	char node[KM_NAME_MAX];		/* node whose KSA serves it */
};

/* [etsi014] limits. */
struct ksa_limits {
	uint32_t key_size;		/* default, bits */
	uint32_t min_key_size;		/* bits, multiple of 8, >= 8 */
	uint32_t max_key_size;		/* bits, <= 8 * block size */
	uint32_t max_key_per_request;
	uint32_t max_key_count;		/* keys a pair may hold in store */
	uint32_t max_sae_id_count;	/* additional slaves, <= KM_MAX_SLAVES-1 */
};

/*
 * Open every link's key source.  Sim sources keep their high-water marks
 * in @node->state_dir/<link>.hwm.  Kernel sources need the qkd module.
 */
struct kma *kma_new(struct loop *loop, const struct km_node_cfg *node,
		    const struct kma_link_cfg *links, size_t n_links,
		    char *err, size_t errlen);
void kma_free(struct kma *kma);

/*
 * Build the KSA over @kma.  Checks the SAE table: unique names and cert
 * CNs, every SAE's node known (this node or a link peer); @limits sane.
 */
struct ksa *ksa_new(struct kma *kma, const struct km_node_cfg *node,
		    const struct ksa_sae_cfg *saes, size_t n_saes,
		    const struct ksa_limits *limits, char *err, size_t errlen);
void ksa_free(struct ksa *ksa);

/*
 * Listen on @kx_listen ("host:port") and connect to every peer, mutual TLS
 * with @server_ctx / @client_ctx (tls_ctx_new()), reconnecting with
 * backoff.  A connection is accepted only if the peer certificate's CN is a
 * configured peer's cert_cn.  Wires itself to @ksa as its Kx-2 transport.
 * The SSL_CTXs stay owned by the caller and must outlive the peers.
 */
struct peers *peers_start(struct loop *loop, SSL_CTX *server_ctx,
			  SSL_CTX *client_ctx, const struct km_node_cfg *node,
			  const struct peer_cfg *peers, size_t n_peers,
			  const char *kx_listen, struct ksa *ksa,
			  char *err, size_t errlen);
void peers_stop(struct peers *peers);

/*
 * ---- Kx-2 wiring between the KSA and the Kx channel ----
 * peers_start() installs itself; unit tests wire two KSAs back to back.
 */
struct kxmsg;

struct ksa_kx_ops {
	/* Queue @m for peer node @node: 0, or -1 if it is not reachable. */
	int (*send)(void *arg, const char *node, const struct kxmsg *m);
	/* True once a hello was exchanged with @node on a live channel. */
	bool (*is_up)(void *arg, const char *node);
};

void ksa_set_kx(struct ksa *ksa, const struct ksa_kx_ops *ops, void *arg);
/*
 * A RESERVE or ACK from authenticated peer node @from (peer.c checked the
 * certificate).  Answers (ACK) go out through ops->send.
 */
void ksa_kx_receive(struct ksa *ksa, const char *from, const struct kxmsg *m);

/* ---- Read-only views for the control socket (metadata, never key bytes) */

struct kma_link_info {
	char name[KM_NAME_MAX];
	char peer[KM_NAME_MAX];
	enum km_source source;
	enum qkd_role role;
	bool up;			/* source delivering key */
	uint32_t block_size;		/* bytes */
	uint64_t avail;			/* bytes this end may still allocate */
	enum qkd_pool_level level;
	uint32_t keys_held;		/* application key records in store */
	uint64_t bytes_allocated;	/* own share handed out */
	uint64_t bytes_fetched;		/* peer share fetched */
	uint64_t bytes_discarded;
	uint64_t fetch_failures;
	uint64_t rate_bps;		/* key generation rate; 0: unknown */
};

size_t kma_link_count(const struct kma *kma);
/* 0, or -1 if @i is out of range. */
int kma_link_info(const struct kma *kma, size_t i, struct kma_link_info *out);

enum kma_key_state {
	KMA_KEY_STORED,		/* bytes held here, waiting for an SAE */
	KMA_KEY_RESERVED,	/* master side: sent to the peer, not acked */
	KMA_KEY_SUPPLIED,	/* handed to an SAE (some slaves may wait) */
	KMA_KEY_CONSUMED,	/* handed to every SAE; bytes zeroised */
	KMA_KEY_DESTROYED,	/* discarded unused (expired, lost, evicted) */
};

const char *kma_key_state_name(enum kma_key_state s);

struct kma_key_info {
	char key_id[KSA_KEY_ID_LEN];	/* UUID */
	char link[KM_NAME_MAX];
	uint64_t src_key_id;		/* block_id << 16 | offset */
	uint32_t len;			/* bytes */
	char master[KSA_SAE_ID_MAX];
	char slaves[KM_MAX_SLAVES][KSA_SAE_ID_MAX];
	uint32_t n_slaves;
	uint32_t delivered_mask;	/* bit i: slaves[i] has it */
	enum kma_key_state state;
	uint64_t gen_time_ns;		/* block generation, CLOCK_REALTIME */
	uint64_t created_ns;		/* record created here, CLOCK_REALTIME */
	uint64_t changed_ns;		/* last state change, CLOCK_REALTIME */
};

/* Calls @fn for every key record (newest last); stops if @fn returns != 0. */
void kma_foreach_key(const struct kma *kma,
		     int (*fn)(void *arg, const struct kma_key_info *k),
		     void *arg);

struct ksa_pair_info {
	char master[KSA_SAE_ID_MAX];
	char slave[KSA_SAE_ID_MAX];
	char master_node[KM_NAME_MAX];
	char slave_node[KM_NAME_MAX];
	char link[KM_NAME_MAX];
	uint32_t keys_stored;		/* here, waiting for this node's SAE */
	uint64_t keys_supplied;		/* handed out here, since start */
	uint64_t keys_pending;		/* master side: reservation not acked */
};

size_t ksa_pair_count(const struct ksa *ksa);
int ksa_pair_info(const struct ksa *ksa, size_t i, struct ksa_pair_info *out);

enum peer_state {
	PEER_DOWN,		/* not connected; waiting for a retry */
	PEER_CONNECTING,	/* TCP/TLS handshake or hello in progress */
	PEER_UP,		/* hello exchanged, Kx-2 flowing */
};

const char *peer_state_name(enum peer_state s);

struct peer_info {
	char name[KM_NAME_MAX];
	char address[KM_ADDR_MAX];
	char cert_cn[KM_NAME_MAX];
	enum peer_state state;
	uint64_t epoch;			/* peer's start epoch from its hello */
	uint64_t connects;		/* successful hellos since start */
	uint64_t msgs_sent, msgs_received;
	uint32_t queued;		/* bytes waiting to be sent */
	char last_error[128];		/* never key bytes */
};

size_t peers_count(const struct peers *peers);
int peers_info(const struct peers *peers, size_t i, struct peer_info *out);

#endif /* QKD_KEYMGR_H */
