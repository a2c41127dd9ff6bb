/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdkmd's configuration file: INI, parsed with libinih, checked completely
 * before anything is started.  Documentation/qkd/config.rst describes every
 * key.  Errors are one line, "FILE:LINE: reason".
 *
 * The parsed config is plain data, defined here, that each part's
 * constructor takes as it is: the parser depends on no part of the daemon.  It holds the sim
 * links' secret seeds: free it with config_free(), which cleanses them.
 */
#ifndef QKD_CONFIG_H
#define QKD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <net/if.h>
#include <linux/qkd.h>

#include "core/log.h"
#include "core/names.h"

#define CONFIG_ERR_MAX	512
#define CONFIG_MAX_SAES	1024	/* [sae] sections per file */

/* [node] */
struct km_node_cfg {
	char name[KM_NAME_MAX];		/* this node's ID (= KME ID) */
	char state_dir[KM_PATH_MAX];	/* absolute; must exist, writable */
};

enum km_source {
	KM_SOURCE_SIM,		/* userspace simulated link (keysrc_sim.c) */
	KM_SOURCE_KERNEL,	/* qkd.ko over genetlink (keysrc_kernel.c) */
	KM_SOURCE_ETSI014,	/* a QKD module's ETSI 014 KME
				 * (keysrc_etsi014.c) */
	KM_SOURCE_FILE,		/* key files a QKD system's post-processing
				 * drops in a directory (keysrc_file.c) */
};

#define KM_URL_MAX	256	/* kme_url incl. NUL */

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
	/* kernel, or a sim/etsi014 link with kernel_push */
	uint32_t link_id;		/* qkd.ko QKD_A_LINK_ID of the link */
	/* sim/etsi014: confirmed blocks go to a qkd.ko push end (kpush.h) */
	bool kernel_push;
	/*
	 * etsi014 only (role and block_size too): the module's KME base URL
	 * ("https://host[:port]"), the CA that signed its certificate, our
	 * client certificate and key, our SAE ID at the module and the far
	 * node's; how many blocks to keep at hand; the request timeout.
	 */
	char kme_url[KM_URL_MAX];
	char kme_ca[KM_PATH_MAX];
	char kme_cert[KM_PATH_MAX];
	char kme_key[KM_PATH_MAX];
	char sae_id[KSA_SAE_ID_MAX];
	char peer_sae_id[KSA_SAE_ID_MAX];
	uint32_t store_min, store_max;	/* blocks held (both shares) */
	uint32_t kme_timeout_ms;
	/* file only (role and block_size too): the directory the key files
	 * arrive in, this node's alone (mode 0700 or stricter) */
	char key_dir[KM_PATH_MAX];
	uint32_t key_wait_ms;		/* a file waits this for its twin */
	/* "FILE:LINE" of the [link] header, for alarms about it */
	char where[KM_PATH_MAX + 16];
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

/* [skip] remote_systems: one remoteSystemID and the [sae] it stands for. */
#define CONFIG_SKIP_REMOTES_MAX	16
struct skip_remote_cfg {
	char id[KSA_SAE_ID_MAX];
	char sae[KSA_SAE_ID_MAX];
};

/* [skip]: the SKIP key provider endpoint (Documentation/qkd/skip.rst). */
struct skip_cfg {
	char listen[KM_ADDR_MAX];	/* "" without a [skip] section */
	char local_id[KSA_SAE_ID_MAX];	/* localSystemID */
	char sae[KSA_SAE_ID_MAX];	/* [sae] of this node the client is */
	char client_cn[KSA_SAE_ID_MAX];	/* the client certificate's CN */
	char ca[KM_PATH_MAX];		/* absolute; "" = [tls] ca */
	char cert[KM_PATH_MAX];		/* "" = [tls] cert */
	char key[KM_PATH_MAX];		/* "" = [tls] key */
	char psk_identity[KSA_SAE_ID_MAX];	/* "": no TLS PSK */
	char psk_file[KM_PATH_MAX];	/* absolute; the key, hex */
	bool psk_sha384;		/* psk_hash = sha384 (default) */
	struct skip_remote_cfg remotes[CONFIG_SKIP_REMOTES_MAX];
	size_t n_remotes;
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

#define MACSEC_ROTATE_MIN_S	1
#define MACSEC_ROTATE_MAX_S	86400
#define MACSEC_PN_THRESHOLD_DEFAULT	0xc0000000ULL	/* 3/4 of 2^32 */

/* [macsec NAME] */
struct macsec_port_cfg {
	char name[KM_NAME_MAX];		/* same name at both ends */
	char ifname[IFNAMSIZ];		/* the MACsec interface */
	char peer[KM_NAME_MAX];		/* node at the other end */
	char link[KM_NAME_MAX];		/* [link] to that peer: the SAKs */
	uint32_t rotate_s;		/* SAK lifetime, seconds */
	uint32_t key_len;		/* 16, 32, or 0: the interface's */
	uint64_t pn_threshold;		/* rekey once the TX PN passes it */
};

#define WIREGUARD_ROTATE_MIN_S	1
#define WIREGUARD_ROTATE_MAX_S	86400
#define WIREGUARD_KEY_LEN	32	/* public and preshared keys, bytes */

/* [wireguard NAME]: one WireGuard peer whose preshared key rotates. */
struct wireguard_peer_cfg {
	char name[KM_NAME_MAX];		/* same name at both ends */
	char ifname[IFNAMSIZ];		/* the local wg interface */
	uint8_t public_key[WIREGUARD_KEY_LEN];	/* the WireGuard peer's */
	char peer[KM_NAME_MAX];		/* node at the other end */
	char link[KM_NAME_MAX];		/* [link] to that peer: the PSKs */
	uint32_t rotate_s;		/* PSK lifetime, seconds */
};

#define STRONGSWAN_ROTATE_MIN_S	1
#define STRONGSWAN_ROTATE_MAX_S	86400
#define STRONGSWAN_PPK_LEN	32	/* bytes of QKD key per PPK */
#define STRONGSWAN_ID_MAX	128	/* connection, child, ppk_id incl. NUL */
#define STRONGSWAN_SOCKET_DEFAULT "/var/run/charon.vici"

/* [strongswan NAME]: one swanctl connection whose RFC 8784 PPK rotates. */
struct strongswan_conn_cfg {
	char name[KM_NAME_MAX];		/* same name at both ends */
	char connection[STRONGSWAN_ID_MAX];	/* swanctl.conf's; default NAME */
	char child[STRONGSWAN_ID_MAX];	/* initiated if no IKE SA; "" none */
	char ppk_id[STRONGSWAN_ID_MAX];	/* swanctl.conf's ppk_id; "qkd-NAME" */
	char socket[KM_PATH_MAX];	/* charon's VICI socket */
	char peer[KM_NAME_MAX];		/* node at the other end */
	char link[KM_NAME_MAX];		/* [link] to that peer: the PPKs */
	uint32_t rotate_s;		/* PPK lifetime, seconds */
};

/* [node] role, configuration 3 (the values travel in LSAs: kxmsg.h). */
enum node_role {
	NODE_ROLE_NONE = 0,	/* a general node */
	NODE_ROLE_USER,		/* serves SAEs, never relays for others */
	NODE_ROLE_ACCESS,	/* aggregates user nodes, relays (QAN) */
	NODE_ROLE_RELAY,	/* backbone relay (QBN), serves no SAE */
};

/* [sae] priority: the relay's session control (relay.h) reads it. */
enum relay_priority {
	RELAY_PRIO_NORMAL = 0,		/* the default */
	RELAY_PRIO_LOW,
	RELAY_PRIO_HIGH,
	RELAY_PRIO_COUNT
};

/* [node] relay_sessions: at most this many (relay.h keeps that many). */
#define CONFIG_RELAY_SESSIONS_MAX	1024

/* [metrics] clients: certificate CNs allowed to scrape /metrics. */
#define CONFIG_METRICS_CLIENTS_MAX	16

/*
 * [manager NAME]: a manager outside this node that reads it over the
 * management listener ([metrics] listen), Documentation/qkd/mx-mu.rst.
 * Mx: the manager of another QKDN domain, shown what this policy allows;
 * Mu: a user network manager, shown its own SAEs only; view: the web view.
 */
#define CONFIG_MANAGERS_MAX		16
#define CONFIG_MANAGER_SAES_MAX		16
#define CONFIG_MANAGER_PATH_MAX		256
#define CONFIG_NOTIFY_QUEUE		64	/* notify_queue default */
#define CONFIG_NOTIFY_QUEUE_MAX		1024

enum manager_role { MANAGER_MX = 1, MANAGER_MU, MANAGER_VIEW };

/* Mx "show": what the peer domain's manager may read. */
#define MANAGER_SHOW_ALARMS	0x1	/* active alarms, from min_severity */
#define MANAGER_SHOW_SUMMARY	0x2	/* links up/down, key rates, counts */
#define MANAGER_SHOW_SAE_NAMES	0x4	/* SAE names in both */

struct manager_cfg {
	char name[KM_NAME_MAX];
	char cert_cn[KM_NAME_MAX];	/* its client certificate's CN */
	uint8_t role;			/* enum manager_role */
	uint8_t show;			/* mx: MANAGER_SHOW_* */
	uint8_t min_severity;		/* mx: enum alarm_severity, 2..5 */
	char saes[CONFIG_MANAGER_SAES_MAX][KSA_SAE_ID_MAX];	/* mu */
	size_t n_saes;
	/*
	 * "ca": its own domain's CA (absolute), which alone authenticates
	 * its certificate, here and as a notify receiver; "" = [tls] sae_ca.
	 */
	char ca[KM_PATH_MAX];
	/* mx "notify = https://ADDR/PATH": alarm events are POSTed there. */
	char notify_addr[KM_ADDR_MAX];	/* "host:port", numeric; "" = none */
	char notify_path[CONFIG_MANAGER_PATH_MAX];	/* "/..." */
	uint32_t notify_queue;		/* events waiting at most, 1..1024 */
};

/* [ipsec NAME]: one remote IPsec gateway (Documentation/qkd/config.rst) */
struct ipsec_gw_cfg {
	char name[KM_NAME_MAX];
	char peer[KM_NAME_MAX];		/* its node ([peer] name) */
	char link[KM_NAME_MAX];		/* [link] with source = kernel */
	uint32_t link_id;		/* that link's link_id */
	uint16_t family;		/* AF_INET or AF_INET6 */
	uint8_t local[16], remote[16];	/* gateway addresses, network order */
	uint32_t key_len;		/* 20 (aes128-gcm) or 36 (aes256-gcm) */
	uint32_t lifetime_s;		/* soft lifetime, 1..86400 */
	uint32_t grace_s;		/* hard = soft + grace, 2..3600 */
	uint64_t soft_bytes, hard_bytes;	/* 0: no byte limit */
};

/* [ipsec]: the reqids reserved for QKD SAs, and the gateways. */
struct ipsec_cfg {
	uint32_t reqid_min, reqid_max;
	uint32_t replay_window;		/* packets, 0..4096, default 1024 */
	struct ipsec_gw_cfg *gws;
	size_t n_gws;
};

struct qkd_config {
	char file[KM_PATH_MAX];		/* the file, as given */

	/* [node] */
	struct km_node_cfg node;	/* name, state_dir (absolute) */
	char control[KM_PATH_MAX];	/* control socket path, absolute */
	/* Group (name or number) whose members may change state over it. */
	char control_admin_group[64];
	enum log_level log_level;
	uint64_t secure_heap;		/* bytes of mlock'd heap for keys */
	/* Test-only: start even if the secure heap cannot be locked. */
	bool allow_unlocked_memory;
	/* mlockall(): no page of the process can reach swap (daemon.rst). */
	bool lock_all_memory;
	/* Key relay routing: "" distributed (configuration 1), else the
	 * node that computes and pushes routes (configuration 2). */
	char controller[KM_NAME_MAX];
	/* Configuration 3: enum node_role. */
	uint8_t role;
	/* Configuration 4: key relay through the controller (Kx'). */
	bool central_relay;
	/* Relay sessions in flight from this node; 0: RELAY_SESSIONS_DEFAULT. */
	uint32_t relay_sessions;

	/* [tls]: absolute paths */
	char tls_ca[KM_PATH_MAX];	/* "ca": both planes' default */
	char tls_cert[KM_PATH_MAX];
	char tls_key[KM_PATH_MAX];
	/*
	 * The trust anchors and revocation lists each plane checks its peers
	 * against: Kx (peer KMs) and ETSI 014 (SAEs).  After parsing, the CAs
	 * are always set ("kx_ca"/"sae_ca", else "ca"); a CRL is "" if none.
	 */
	char tls_kx_ca[KM_PATH_MAX];
	char tls_sae_ca[KM_PATH_MAX];
	/*
	 * The certificate and key each plane presents: Kx (to peer KMs) and
	 * the SAE-facing listeners (ETSI 014, SKIP, metrics).  After
	 * parsing, always set ("kx_cert"/"sae_cert", else "cert").
	 */
	char tls_kx_cert[KM_PATH_MAX];
	char tls_kx_key[KM_PATH_MAX];
	char tls_sae_cert[KM_PATH_MAX];
	char tls_sae_key[KM_PATH_MAX];
	char tls_kx_crl[KM_PATH_MAX];
	char tls_sae_crl[KM_PATH_MAX];
	/* The lines that named them (kx_ca: "ca"'s if it is that one). */
	struct { int ca, cert, key, kx_ca, kx_cert, kx_key, kx_crl, sae_crl; } tls_line;

	/* [etsi014] */
	char etsi_listen[KM_ADDR_MAX];
	struct ksa_limits limits;
	uint32_t max_body;		/* request body limit, bytes */
	uint32_t idle_timeout_ms;	/* slow or idle client cut-off */
	uint32_t max_conns;
	uint8_t etsi_min_tls;		/* 12 (TLS 1.2, default) or 13 */

	struct skip_cfg skip;		/* [skip] */

	/* [kx] */
	char kx_listen[KM_ADDR_MAX];	/* "" if there are no peers */
	uint32_t kx_heartbeat_ms;	/* 0: the default (100) */
	uint32_t kx_dead_after;		/* missed heartbeats; 0: default (3) */

	/* [metrics]: "" listen if there is no such section */
	char metrics_listen[KM_ADDR_MAX];
	char metrics_clients[CONFIG_METRICS_CLIENTS_MAX][KM_NAME_MAX];
	size_t n_metrics_clients;
	struct manager_cfg managers[CONFIG_MANAGERS_MAX];	/* [manager] */
	size_t n_managers;
	/* admin_clients: CNs that may also change the node (provisioning) */
	char metrics_admins[CONFIG_METRICS_CLIENTS_MAX][KM_NAME_MAX];
	size_t n_metrics_admins;

	struct peer_cfg *peers;
	size_t n_peers;
	struct kma_link_cfg *links;
	size_t n_links;
	struct ksa_sae_cfg *saes;
	size_t n_saes;
	struct macsec_port_cfg *macsec;	/* [macsec NAME] */
	size_t n_macsec;
	struct wireguard_peer_cfg *wireguard;	/* [wireguard NAME] */
	size_t n_wireguard;
	struct strongswan_conn_cfg *strongswan;	/* [strongswan NAME] */
	size_t n_strongswan;
	/* [sae] priority, enum relay_priority, per saes[] entry. */
	uint8_t sae_priority[CONFIG_MAX_SAES];

	struct ipsec_cfg ipsec;		/* [ipsec], [ipsec NAME] */

	/* [accounting] */
	bool acct_enabled;		/* default yes */
	uint32_t acct_interval_s;	/* 1..86400, default 60 */
};

/*
 * Parse and check @path.  Relative paths in the file are resolved against
 * the file's directory.  Returns 0, or -1 with "FILE:LINE: reason" (or
 * "FILE: reason") in @err.  On failure @cfg holds nothing to free.
 */
int config_load(const char *path, struct qkd_config *cfg,
		char *err, size_t errlen);

/*
 * Whether @path may hold what @cfg holds.  A file with secrets (a sim
 * link's seed) that other users can read, or any config that other
 * users can write, is refused: -1 with the path, its mode and the chmod
 * to run in @err.  A group-readable file with secrets whose group is not
 * root gets a warning (logged), 0.
 */
int config_check_secrets_mode(const char *path, const struct qkd_config *cfg,
			      char *err, size_t errlen);

/*
 * The same from memory: @name is used in error messages, @base_dir to
 * resolve relative paths.  For tests and the fuzzer.
 */
int config_parse_string(const char *text, const char *name,
			const char *base_dir, struct qkd_config *cfg,
			char *err, size_t errlen);

/* Cleanses the seeds and frees the arrays; @cfg may be zeroed or freed. */
void config_free(struct qkd_config *cfg);

/* A section name or a name-valued key: 1..@size-1 of A-Z a-z 0-9 . _ - */
bool config_check_name(const char *s, size_t size);

/*
 * A [link]'s pool_warn and pool_ready as set (0: the default): NULL if
 * they go together, else why not.  Also for runtime provisioning.
 */
const char *config_check_pool(uint64_t pool_warn, uint64_t pool_ready);

/*
 * A [link NAME] given as @n key = value pairs from outside the file
 * (runtime provisioning, mgmt/provision.h): each pair is checked as the
 * file's lines are, then the section as a whole as the file's [link]
 * sections are, against the node's links now (@links, whose seeds may be
 * clear) and peers now (@peers); relative paths are under @cfg's
 * state_dir.  0 and the link in @out (its seed: cleanse it after use), or
 * -1 with the reason in @err (never quoting a seed).
 */
int config_link_check(const char *name, const char *const *keys,
		      const char *const *vals, size_t n,
		      const struct qkd_config *cfg,
		      const struct kma_link_cfg *links, size_t n_links,
		      const struct peer_cfg *peers, size_t n_peers,
		      struct kma_link_cfg *out, char *err, size_t errlen);

/* "host:port" with a numeric IPv4 address, or "[IPv6]:port".  0 or -1. */
int config_check_address(const char *addr);

const char *config_log_level_name(enum log_level level);

#endif /* QKD_CONFIG_H */
