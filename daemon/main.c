// SPDX-License-Identifier: GPL-2.0
/*
 * qkdkmd: the QKD network key manager daemon (Y.3802 KM layer), one per node.
 *
 * main() reads the config, hardens the process (secure heap for keys, no
 * core dumps), builds the parts in dependency order (TLS contexts, key
 * store, key supply, peer channel, ETSI 014 server, control socket), drops
 * the capabilities it no longer needs and runs the event loop until SIGTERM
 * or SIGINT.  Teardown is the reverse order.  Signals arrive through a
 * signalfd on the loop, so every handler runs as an ordinary callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "core/config.h"
#include "mgmt/ctl.h"
#include "kx/https_server.h"
#include "mgmt/mgmt_http.h"
#include "mgmt/mx_notify.h"
#include "mgmt/provision.h"
#include "ksa/etsi014.h"
#include "apps/ipsec/ipsec.h"
#include "kma/kma.h"
#include "kma/keysrc_etsi014.h"
#include "kma/take.h"
#include "ksa/ksa.h"
#include "kx/peer.h"
#include "core/log.h"
#include "core/loop.h"
#include "routing/lsa.h"
#include "apps/macsec/macsec.h"
#include "apps/wireguard/wireguard.h"
#include "apps/strongswan/strongswan.h"
#include "kx/peer.h"
#include "relay/relay.h"
#include "kx/tls.h"
#include "kx/crl_watch.h"
#include "mgmt/account.h"

#define ERR_MAX	512

struct daemon {
	const char *config_path;
	struct qkd_config cfg;
	struct loop *loop;
	int sig_fd;
	struct loop_watch *sig_watch;
	SSL_CTX *server_ctx, *client_ctx;
	struct kma *kma;
	struct ksa *ksa;
	struct peers *peers;
	struct lsa *lsa;		/* topology (key relay routing) */
	struct relay *relay;		/* key relay sessions */
	struct macsec *macsec;		/* [macsec] SAK rotation */
	struct wireguard *wireguard;	/* [wireguard] PSK rotation */
	struct strongswan *strongswan;	/* [strongswan] PPK rotation */
	struct ipsec *ipsec;		/* QKD-keyed IPsec SA pairs */
	struct account *account;	/* [accounting], may be NULL */
	struct etsi014_server *etsi;
	struct etsi014_server *skip;	/* [skip], on the same server code */
	struct ctl *ctl;
	struct ctl_sources ctl_src;
	struct mgmt_http *mgmt;		/* [metrics]: the Mk listener, or NULL */
	struct mx_notify *notify;	/* [manager] notify: Mx alarm events */
	struct provision *prov;		/* SAEs, link thresholds, peers over Mk */
	struct crl_watch *crl;		/* expiry of [tls] kx_crl, sae_crl */
	bool verbose;		/* -v: debug logging survives SIGHUP */
	bool memory_locked;	/* [node] lock_all_memory: mlockall done */
	int lock_fd;		/* state_dir/qkdkmd.lock, held while we run */
};

static void usage(FILE *out)
{
	fputs(
"Usage: qkdkmd -c FILE [-f] [-v] [--check]\n"
"       qkdkmd --help | --version\n"
"\n"
"qkdkmd is the key manager daemon of a QKD network node (ITU-T Y.3802 KM\n"
"layer).  It takes keys from the node's QKD links (the qkd kernel module or\n"
"a simulated link), keeps them in locked memory, serves them to applications\n"
"over ETSI GS QKD 014 (HTTPS with mutual TLS) and keeps the key IDs in step\n"
"with the daemons at the other ends of its links (Kx, mutual TLS).  With\n"
"[ipsec] sections it also keys IPsec: it hears the kernel's ACQUIREs for\n"
"the operator's `ip xfrm policy` lines and has qkd.ko install QKD-keyed\n"
"ESP SA pairs, rekeyed at their soft lifetime (Documentation/qkd/ipsec.rst).\n"
"\n"
"Options:\n"
"  -c, --config FILE  the configuration file (required); relative paths in\n"
"                     it are relative to its directory.  See\n"
"                     Documentation/qkd/config.rst.\n"
"  -f, --foreground   stay in the foreground.  This is the only mode (under\n"
"                     systemd, Type=notify); accepted for familiarity.\n"
"  -v, --verbose      log at debug level, whatever the file says.\n"
"      --check        check the configuration and the TLS files (the node\n"
"                     certificate: key, dates, CA, CN, EKU; the CRLs'\n"
"                     nextUpdate), print\n"
"                     \"FILE: ok\" and exit; nothing is started.\n"
"  -h, --help         this text.\n"
"  -V, --version      the version.\n"
"\n"
"Signals:\n"
"  SIGTERM, SIGINT    stop gracefully: close connections, zeroise every key\n"
"                     held in memory, remove the control socket, exit 0.\n"
"  SIGHUP             re-read the configuration file.  It is checked\n"
"                     completely first; if it is bad, the error is logged\n"
"                     and nothing changes.  Applied at once: [node] log_level\n"
"                     and the files of [tls] (certificate, key, CAs, CRLs):\n"
"                     connections whose peer certificate they now refuse\n"
"                     are closed, the others stay.  Every other change is\n"
"                     logged as needing a restart (links, peers, SAEs and\n"
"                     listeners are owned by live connections and key stores).\n""                     SAEs, peers and link thresholds can be changed over\n"
"                     the management listener instead (manager.rst).\n"
"\n"
"Logging goes to stderr; under systemd each line carries a <N> priority\n"
"prefix for journald.  Key bytes are never logged.\n"
"\n"
"Privileges: no root needed for simulated links.  After its sockets are\n"
"open the daemon drops every capability, except CAP_NET_ADMIN when a link\n"
"uses the kernel source or kernel_push, or a [macsec] or [wireguard]\n"
"section is configured\n"
"(the qkd, macsec and wireguard genetlink commands require it), and sets\n"
"no_new_privs.  Core\n"
"dumps are disabled (the process is not dumpable) and key material lives\n"
"in OpenSSL's secure heap (mlock'd, not dumped); if it cannot be locked\n"
"the daemon does not start.  [node] lock_all_memory = yes locks all of\n"
"its memory (mlockall; CAP_IPC_LOCK, if held, is then kept), and the\n"
"daemon does not start if it cannot.  A config holding seeds must not be\n"
"readable by other users.\n"
"\n"
"Exit status: 0 after a clean stop or a good --check, 1 on a bad\n"
"configuration or a start-up failure, 2 on bad usage.\n"
"\n"
"See also: qkdctl(8), Documentation/qkd/daemon.rst\n", out);
}

/* ---- process hardening ------------------------------------------------- */

/* Bytes locked by the process (VmLck), or 0 if /proc says nothing. */
static unsigned long long locked_bytes(void)
{
	unsigned long long kib = 0;
	char line[128];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib << 10;
}

static bool have_cap(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

/*
 * [node] lock_all_memory: the secure heap holds the daemon's own copies of
 * keys, but keys also pass through memory it does not allocate (libcurl's
 * receive buffer, jansson's strings, OpenSSL's record buffers, stack
 * frames).  mlockall() keeps every page, present and future, out of swap.
 * Under MCL_FUTURE each new mapping is locked and faulted in whole, so a
 * thread's 8 MiB default stack would cost 8 MiB of RAM, and each extra
 * malloc arena reserves 64 MiB that all count against RLIMIT_MEMLOCK:
 * small stacks (the sim links' mark writers, libcurl's resolver threads)
 * and one arena keep the locked total near the resident one.
 */
#define LOCKED_THREAD_STACK	(512 << 10)

/*
 * mlockall(@flags) for [node] lock_all_memory, failing closed with the
 * cause and the fix; @lim gets the limit that applies, for the log.
 */
static int lock_memory(int flags, char *lim, size_t limlen)
{
	struct rlimit ml = { 0, 0 };
	bool cap = have_cap(CAP_IPC_LOCK);

#if defined(__SANITIZE_ADDRESS__)
	/* Its shadow maps terabytes: mlockall would fault them all in. */
	log_err("[node] lock_all_memory = yes: this qkdkmd is built with AddressSanitizer, whose shadow memory cannot be locked; use a build without it or set lock_all_memory = no");
	return -1;
#endif
	/* The soft limit up to the hard one, as for descriptors. */
	if (getrlimit(RLIMIT_MEMLOCK, &ml) == 0 && ml.rlim_cur < ml.rlim_max) {
		ml.rlim_cur = ml.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &ml);
		getrlimit(RLIMIT_MEMLOCK, &ml);
	}
	if (cap)
		snprintf(lim, limlen, "none (CAP_IPC_LOCK)");
	else if (ml.rlim_cur == RLIM_INFINITY)
		snprintf(lim, limlen, "RLIMIT_MEMLOCK unlimited");
	else
		snprintf(lim, limlen, "RLIMIT_MEMLOCK %llu KiB",
			 (unsigned long long)ml.rlim_cur >> 10);
	if (mlockall(flags) == 0)
		return 0;
	if (cap)
		log_err("[node] lock_all_memory = yes: mlockall: %s, although the daemon has CAP_IPC_LOCK: the machine has too little memory to lock all of the daemon's; set lock_all_memory = no",
			strerror(errno));
	else
		log_err("[node] lock_all_memory = yes: mlockall: %s: %s is too small to lock all of the daemon's memory and it lacks CAP_IPC_LOCK; raise the limit (LimitMEMLOCK= in the unit, ulimit -l, prlimit --memlock; at least 64 MiB, see daemon.rst, Locked memory), grant CAP_IPC_LOCK, or set lock_all_memory = no",
			strerror(errno), lim);
	return -1;
}

static int lock_all_memory(void)
{
	pthread_attr_t attr;
	char lim[64];

	mallopt(M_ARENA_MAX, 1);
	if (pthread_attr_init(&attr) == 0) {
		if (pthread_attr_setstacksize(&attr, LOCKED_THREAD_STACK) == 0)
			pthread_setattr_default_np(&attr);
		pthread_attr_destroy(&attr);
	}
	if (lock_memory(MCL_CURRENT | MCL_FUTURE, lim, sizeof(lim)) < 0)
		return -1;
	log_notice("memory: all of it locked (mlockall), %llu KiB so far; limit: %s",
		   locked_bytes() >> 10, lim);
	return 0;
}

static int harden_process(struct daemon *d)
{
	const struct qkd_config *cfg = &d->cfg;
	struct rlimit no_core = { 0, 0 };
	int ret;

	if (setrlimit(RLIMIT_CORE, &no_core) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		log_err("cannot disable core dumps: %s", strerror(errno));
		return -1;
	}
	/* Before the secure heap and every key: its failure is the clear one. */
	if (cfg->lock_all_memory) {
		if (lock_all_memory() < 0)
			return -1;
		d->memory_locked = true;
	}
	/*
	 * Every connection costs a descriptor: take what the hard limit
	 * allows (systemd's default soft limit is 1024); the listeners keep
	 * a reserve of it free for the rest (kx/tls.h).
	 */
	log_info("descriptors: RLIMIT_NOFILE %lu", tls_fd_budget_init());
	/* Keys are allocated from here: mlock'd and MADV_DONTDUMP. */
	ret = CRYPTO_secure_malloc_init((size_t)cfg->secure_heap, 32);
	if (ret == 0) {
		log_err("cannot set up the secure heap (%llu bytes); check RLIMIT_MEMLOCK (ulimit -l) or lower [node] secure_heap",
			(unsigned long long)cfg->secure_heap);
		return -1;
	}
	/*
	 * 2: the heap exists but mlock (or madvise) failed, so keys could
	 * reach swap.  Fail closed; the test-only escape is explicit.
	 */
	if (ret == 2 && !cfg->allow_unlocked_memory) {
		struct rlimit ml = { 0, 0 };

		getrlimit(RLIMIT_MEMLOCK, &ml);
		log_err("cannot lock the secure heap in memory (%llu bytes; RLIMIT_MEMLOCK %llu): keys could be swapped out; raise the limit (LimitMEMLOCK= in the unit, ulimit -l) or lower [node] secure_heap",
			(unsigned long long)cfg->secure_heap,
			(unsigned long long)ml.rlim_cur);
		return -1;
	}
	if (ret == 2)
		log_warn("secure heap NOT locked in memory: keys may be swapped ([node] allow_unlocked_memory = yes, for tests only)");
	return 0;
}

static bool uses_kernel_source(const struct qkd_config *cfg)
{
	for (size_t i = 0; i < cfg->n_links; i++)
		if (cfg->links[i].source == KM_SOURCE_KERNEL ||
		    cfg->links[i].kernel_push)
			return true;
	return false;
}

/*
 * Keep CAP_NET_ADMIN only if a kernel link needs it, and CAP_IPC_LOCK (if
 * held) when all memory is locked: without it every later mapping counts
 * against RLIMIT_MEMLOCK, which a daemon started as root may not have
 * raised.  Drop everything else from the bounding, ambient, effective,
 * permitted and inheritable sets.  Without CAP_SETPCAP (an unprivileged
 * run) the bounding set cannot be changed, but then there is nothing in it
 * we could use anyway.
 */
static int drop_privileges(bool keep_net_admin, bool keep_ipc_lock)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];
	uint32_t keep = (keep_net_admin ? 1u << CAP_NET_ADMIN : 0) |
			(keep_ipc_lock ? 1u << CAP_IPC_LOCK : 0);
	int cap;

	for (cap = 0; cap <= 63; cap++) {
		if (cap < 32 && (keep & (1u << cap)))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
			break;	/* past the kernel's last capability */
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	if (keep_net_admin && !(data[0].permitted & (1u << CAP_NET_ADMIN)))
		log_warn("a link uses the kernel (source = kernel or kernel_push) but CAP_NET_ADMIN is missing: key commands will fail");
	data[0].effective &= keep;
	data[0].permitted &= keep;
	data[0].inheritable = 0;
	data[1].effective = data[1].permitted = data[1].inheritable = 0;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -1;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* Tell systemd (Type=notify) we are up; harmless without systemd. */
static void notify_systemd(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, path);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		   (struct sockaddr *)&sa, len) < 0)
		log_debug("sd_notify: %s", strerror(errno));
	close(fd);
}

/* mkdir for a directory the daemon owns (state, control socket's). */
static int ensure_dir(const char *path, mode_t mode, const char *what)
{
	struct stat st;

	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		log_err("%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_err("%s %s: not a directory", what, path);
		return -1;
	}
	return 0;
}

static int ensure_parent_dir(const char *file, const char *what)
{
	char dir[KM_PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return ensure_dir(dir, 0750, what);
}

/*
 * One daemon per state_dir: two daemons on the same high-water marks could
 * hand out the same blocks.  The lock dies with the process (kill -9 too).
 */
static int lock_state_dir(struct daemon *d)
{
	char path[KM_PATH_MAX + 16], pid[24];
	int fd;

	snprintf(path, sizeof(path), "%s/qkdkmd.lock", d->cfg.node.state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_err("%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);

		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_err("state_dir %s is in use by another qkdkmd (pid %s)",
			d->cfg.node.state_dir, pid[0] ? pid : "?");
		close(fd);
		return -1;
	}
	if (ftruncate(fd, 0) == 0)
		dprintf(fd, "%d\n", (int)getpid());
	d->lock_fd = fd;
	return 0;
}

/* ---- building the parts ------------------------------------------------ */

/* Kx: peers are checked against the KM CA (and its CRL). */
static int make_kx_tls(const struct qkd_config *c, SSL_CTX **server,
		       SSL_CTX **client, char *err, size_t errlen)
{
	struct tls_files files = {
		.ca = c->tls_kx_ca, .cert = c->tls_kx_cert,
		.key = c->tls_kx_key, .crl = c->tls_kx_crl,
	};

	*client = NULL;
	*server = tls_ctx_new(&files, 1, err, errlen);
	if (!*server)
		return -1;
	*client = tls_ctx_new(&files, 0, err, errlen);
	if (*client)
		return 0;
	SSL_CTX_free(*server);
	*server = NULL;
	return -1;
}

static int make_tls(struct daemon *d, char *err, size_t errlen)
{
	return make_kx_tls(&d->cfg, &d->server_ctx, &d->client_ctx, err,
			   errlen);
}

/* Start, and after each reload: the CRLs whose expiry to watch. */
static int watch_crls(struct daemon *d, char *err, size_t errlen)
{
	const struct crl_watch_file files[] = {
		{ "kx", d->cfg.tls_kx_crl }, { "sae", d->cfg.tls_sae_crl },
	};

	if (!d->crl)
		d->crl = crl_watch_new(d->loop);
	if (!d->crl) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	crl_watch_set(d->crl, files, sizeof(files) / sizeof(files[0]));
	return 0;
}

/* ETSI 014: SAEs are checked against the SAE CA (and its CRL). */
static struct etsi014_config etsi_config(const struct qkd_config *c)
{
	return (struct etsi014_config){
		.listen = c->etsi_listen,
		.tls = { .ca = c->tls_sae_ca, .cert = c->tls_sae_cert,
			 .key = c->tls_sae_key, .crl = c->tls_sae_crl },
		.max_body = c->max_body,
		.idle_timeout_ms = c->idle_timeout_ms,
		.max_conns = c->max_conns,
		.tls12 = c->etsi_min_tls == 12,
	};
}

static int start_etsi014(struct daemon *d, char *err, size_t errlen)
{
	struct etsi014_config ec = etsi_config(&d->cfg);

	/* Callers are looked up in the KSA's SAE table by certificate CN. */
	d->etsi = etsi014_start(d->loop, &ec, d->ksa, err, errlen);
	return d->etsi ? 0 : -1;
}

/*
 * [skip] psk_file: the PSK as hex digits (blanks and newlines ignored),
 * readable by the daemon only.  Errors never quote the file's content.
 */
static int read_psk(const char *path, uint8_t *key, size_t *len, char *err,
		    size_t errlen)
{
	char text[4 * TLS_PSK_MAX + 2];
	bool bad = false;
	struct stat st;
	size_t n = 0, digits = 0;
	ssize_t got;
	int fd, hi = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		snprintf(err, errlen, "[skip] psk_file %.300s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		close(fd);
		snprintf(err, errlen, "[skip] psk_file %.300s: readable by group or others (chmod 600)",
			 path);
		return -1;
	}
	got = read(fd, text, sizeof(text) - 1);
	close(fd);
	bad = got < 0 || (size_t)got >= sizeof(text) - 1;
	for (ssize_t i = 0; !bad && i < got; i++) {
		char ch = text[i];
		int v = ch >= '0' && ch <= '9' ? ch - '0' :
			ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
			ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;

		if (strchr(" \t\r\n", ch))
			continue;
		if (v < 0 || n == TLS_PSK_MAX) {
			bad = true;
		} else if (digits++ % 2) {
			key[n++] = (uint8_t)(hi << 4 | v);
		} else {
			hi = v;
		}
	}
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(&hi, sizeof(hi));
	if (bad || digits % 2 || n < TLS_PSK_MIN) {
		OPENSSL_cleanse(key, TLS_PSK_MAX);
		snprintf(err, errlen, "[skip] psk_file %.300s: expected %d to %d bytes as hex digits",
			 path, TLS_PSK_MIN, TLS_PSK_MAX);
		return -1;
	}
	*len = n;
	return 0;
}

/* [skip]'s TLS files and limits (SKIP clients are applications: the SAE
 * plane's anchors unless [skip] names its own). */
static struct etsi014_config skip_tls_config(const struct qkd_config *c)
{
	const struct skip_cfg *sk = &c->skip;

	return (struct etsi014_config){
		.listen = sk->listen,
		.tls = { .ca = sk->ca[0] ? sk->ca : c->tls_sae_ca,
			 .cert = sk->cert[0] ? sk->cert : c->tls_sae_cert,
			 .key = sk->key[0] ? sk->key : c->tls_sae_key,
			 .crl = sk->ca[0] ? NULL : c->tls_sae_crl },
		.max_body = c->max_body,
		.idle_timeout_ms = c->idle_timeout_ms,
		.max_conns = c->max_conns,
	};
}

/* [skip] psk_file into @ec (secure memory in *@psk, for the caller to
 * free with OPENSSL_secure_clear_free(*psk, TLS_PSK_MAX)). */
static int skip_psk(const struct skip_cfg *sk, struct etsi014_config *ec,
		    uint8_t **psk, char *err, size_t errlen)
{
	size_t psk_len = 0;

	*psk = NULL;
	if (!sk->psk_file[0])
		return 0;
	*psk = OPENSSL_secure_malloc(TLS_PSK_MAX);
	if (!*psk) {
		snprintf(err, errlen, "[skip] psk_file: out of secure memory");
		return -1;
	}
	if (read_psk(sk->psk_file, *psk, &psk_len, err, errlen)) {
		OPENSSL_secure_free(*psk);
		*psk = NULL;
		return -1;
	}
	ec->psk_identity = sk->psk_identity;
	ec->psk = *psk;
	ec->psk_len = psk_len;
	ec->psk_sha384 = sk->psk_sha384;
	return 0;
}

/* The SKIP listener's context, for a certificate reload. */
static SSL_CTX *skip_ctx_new(const struct qkd_config *c, char *err,
			     size_t errlen)
{
	struct skip_config scfg = { 0 };
	struct etsi014_config ec = skip_tls_config(c);
	SSL_CTX *ctx;
	uint8_t *psk;

	ec.skip = &scfg;
	if (skip_psk(&c->skip, &ec, &psk, err, errlen))
		return NULL;
	ctx = etsi014_ctx_new(&ec, err, errlen);
	if (psk)
		OPENSSL_secure_clear_free(psk, TLS_PSK_MAX);
	return ctx;
}

/* [skip]: the SKIP key provider, the KSA's other front end. */
static int start_skip(struct daemon *d, char *err, size_t errlen)
{
	const struct qkd_config *c = &d->cfg;
	const struct skip_cfg *sk = &c->skip;
	struct skip_remote remotes[CONFIG_SKIP_REMOTES_MAX];
	struct skip_config scfg = {
		.local_id = sk->local_id, .local_sae = sk->sae,
		.client_cn = sk->client_cn, .remotes = remotes,
		.n_remotes = sk->n_remotes,
		.default_size = c->limits.key_size,
		.min_size = c->limits.min_key_size,
		.max_size = c->limits.max_key_size,
	};
	struct etsi014_config ec = skip_tls_config(c);
	uint8_t *psk;

	if (!sk->listen[0])
		return 0;
	ec.skip = &scfg;
	for (size_t i = 0; i < sk->n_remotes; i++)
		remotes[i] = (struct skip_remote){ sk->remotes[i].id,
						   sk->remotes[i].sae };
	if (skip_psk(sk, &ec, &psk, err, errlen))
		return -1;
	d->skip = etsi014_start(d->loop, &ec, d->ksa, err, errlen);
	if (psk)
		OPENSSL_secure_clear_free(psk, TLS_PSK_MAX);
	return d->skip ? 0 : -1;
}

static void relay_rx(void *arg, const char *from, const struct kxmsg *m)
{
	relay_receive(arg, from, m);
}

static void lsa_rx(void *arg, const char *from, const struct kxmsg *m)
{
	lsa_receive(arg, from, m);
}

static const struct lsa_transport lsa_kx = {
	.send = peers_send, .is_up = peers_is_up,
};

static const struct relay_transport relay_kx = {
	.send = peers_send, .is_up = peers_is_up,
	.suspect = peers_link_suspect,
};

/* Topology flooding and key relay over the Kx channel. */
static int start_relay(struct daemon *d, char *err, size_t errlen)
{
	d->lsa = lsa_new(d->loop, d->kma, d->cfg.node.name, &lsa_kx,
			 d->peers);
	if (d->lsa && d->cfg.controller[0])
		lsa_set_controller(d->lsa, d->cfg.controller);
	if (d->lsa) {		/* configurations 3 and 4 */
		lsa_set_role(d->lsa, d->cfg.role);
		lsa_set_central_relay(d->lsa, d->cfg.central_relay);
		if (d->cfg.central_relay)
			peers_set_hub(d->peers, d->cfg.controller);
	}
	if (d->lsa)
		d->relay = relay_new(d->kma, d->lsa, d->cfg.node.name,
				     &relay_kx, d->peers);
	if (!d->lsa || !d->relay) {
		snprintf(err, errlen, "relay: out of memory");
		return -1;
	}
	ksa_set_relay(d->ksa, d->relay);
	/* Session control: slots and per-SAE priorities. */
	if (d->cfg.relay_sessions)
		relay_set_max_sessions(d->relay, d->cfg.relay_sessions);
	for (size_t i = 0; i < d->cfg.n_saes; i++)
		if (d->cfg.sae_priority[i] != RELAY_PRIO_NORMAL &&
		    relay_set_priority(d->relay, d->cfg.saes[i].name,
				       d->cfg.sae_priority[i])) {
			snprintf(err, errlen, "relay: out of memory");
			return -1;
		}
	peers_on_message(d->peers, KXMSG_RELAY_START, relay_rx, d->relay);
	peers_on_message(d->peers, KXMSG_RELAY_KEY, relay_rx, d->relay);
	peers_on_message(d->peers, KXMSG_RELAY_ACK, relay_rx, d->relay);
	peers_on_message(d->peers, KXMSG_LSA, lsa_rx, d->lsa);
	peers_on_message(d->peers, KXMSG_ROUTES, lsa_rx, d->lsa);
	return 0;
}

/* ---- MACsec ports ([macsec NAME]: macsec.h) ---- */

static void macsec_rx(void *arg, const char *from, const struct kxmsg *m)
{
	macsec_receive(arg, from, m);
}

static const struct macsec_transport macsec_kx = {
	.send = peers_send, .is_up = peers_is_up,
};

static int start_macsec(struct daemon *d, char *err, size_t errlen)
{
	if (!d->cfg.n_macsec)
		return 0;
	d->macsec = macsec_new(d->loop, d->kma, d->cfg.node.name,
			       d->cfg.macsec, d->cfg.n_macsec, &macsec_kx,
			       d->peers, err, errlen);
	if (!d->macsec)
		return -1;
	for (int t = KXMSG_MACSEC_HELLO; t <= KXMSG_MACSEC_REKEY; t++)
		peers_on_message(d->peers, t, macsec_rx, d->macsec);
	return 0;
}

/* ---- etsi014 links: their Kx messages ---- */

static void etsi014_src_rx(void *arg, const char *from, const struct kxmsg *m)
{
	kma_etsi014_receive(arg, from, m);
}

static const struct keysrc_etsi014_kx etsi014_src_kx = {
	.send = peers_send, .is_up = peers_is_up,
};

/* ---- WireGuard PSK rotation ([wireguard NAME]: wireguard.h) ---- */

static void wireguard_rx(void *arg, const char *from, const struct kxmsg *m)
{
	wireguard_receive(arg, from, m);
}

static const struct wireguard_transport wireguard_kx = {
	.send = peers_send, .is_up = peers_is_up,
};

static int start_wireguard(struct daemon *d, char *err, size_t errlen)
{
	if (!d->cfg.n_wireguard)
		return 0;
	d->wireguard = wireguard_new(d->loop, d->kma, d->cfg.node.name,
				     d->cfg.wireguard, d->cfg.n_wireguard,
				     &wireguard_kx, d->peers, err, errlen);
	if (!d->wireguard)
		return -1;
	peers_on_message(d->peers, KXMSG_WG_PSK, wireguard_rx, d->wireguard);
	peers_on_message(d->peers, KXMSG_WG_ACK, wireguard_rx, d->wireguard);
	return 0;
}

/* ---- strongSwan PPK rotation ([strongswan NAME]: strongswan.h) ---- */

static void strongswan_rx(void *arg, const char *from, const struct kxmsg *m)
{
	strongswan_receive(arg, from, m);
}

static const struct strongswan_transport strongswan_kx = {
	.send = peers_send, .is_up = peers_is_up,
};

static int start_strongswan(struct daemon *d, char *err, size_t errlen)
{
	if (!d->cfg.n_strongswan)
		return 0;
	d->strongswan = strongswan_new(d->loop, d->kma, d->cfg.node.name,
				       d->cfg.strongswan, d->cfg.n_strongswan,
				       &strongswan_kx, d->peers, err, errlen);
	if (!d->strongswan)
		return -1;
	peers_on_message(d->peers, KXMSG_SWAN_PPK, strongswan_rx,
			 d->strongswan);
	peers_on_message(d->peers, KXMSG_SWAN_ACK, strongswan_rx,
			 d->strongswan);
	return 0;
}

static int start_key_manager(struct daemon *d, char *err, size_t errlen)
{
	const struct qkd_config *c = &d->cfg;

	d->kma = kma_new(d->loop, &c->node, c->links, c->n_links, err, errlen);
	if (!d->kma)
		return -1;
	d->ksa = ksa_new(d->kma, &c->node, c->saes, c->n_saes, &c->limits,
			 err, errlen);
	if (!d->ksa)
		return -1;
	if (!c->n_peers)
		return 0;
	d->peers = peers_start(d->loop, d->server_ctx, d->client_ctx, &c->node,
			       c->peers, c->n_peers, c->kx_listen, err, errlen);
	if (!d->peers)
		return -1;
	if (peers_set_liveness(d->peers, c->kx_heartbeat_ms, c->kx_dead_after)) {
		snprintf(err, errlen, "kx heartbeat timer: %s", strerror(errno));
		return -1;
	}
	ksa_use_peers(d->ksa, d->peers);
	kma_use_peers(d->kma, d->peers);
	kma_etsi014_use_kx(d->kma, &etsi014_src_kx, d->peers);
	peers_on_message(d->peers, KXMSG_SRC_KEYS, etsi014_src_rx, d->kma);
	peers_on_message(d->peers, KXMSG_SRC_ACK, etsi014_src_rx, d->kma);
	return start_relay(d, err, errlen);
}

/* [metrics]: the management listener (Mk), the same TLS files as the
 * other planes; scrapers and managers hold certificates of the SAE CA. */
static struct mgmt_http_config mgmt_config(const struct qkd_config *c)
{
	return (struct mgmt_http_config){
		.listen = c->metrics_listen,
		/* scrapers and managers hold certificates of the SAE CA */
		.tls = { .ca = c->tls_sae_ca, .cert = c->tls_sae_cert,
			 .key = c->tls_sae_key, .crl = c->tls_sae_crl },
		.clients = c->metrics_clients,
		.n_clients = c->n_metrics_clients,
		.admins = c->metrics_admins,
		.n_admins = c->n_metrics_admins,
		.routes = mgmt_routes,
		.n_routes = mgmt_n_routes,
		.managers = c->managers,
		.n_managers = c->n_managers,
	};
}

static SSL_CTX *mgmt_ctx_new(const struct qkd_config *c, char *err,
			     size_t errlen)
{
	struct mgmt_http_config mc = mgmt_config(c);

	return mgmt_http_ctx_new(&mc, err, errlen);
}

static SSL_CTX *etsi_ctx_new(const struct qkd_config *c, char *err,
			     size_t errlen)
{
	struct etsi014_config ec = etsi_config(c);

	return etsi014_ctx_new(&ec, err, errlen);
}

static int start_mgmt(struct daemon *d, char *err, size_t errlen)
{
	struct mgmt_http_config mc = mgmt_config(&d->cfg);

	/* SAEs provisioned before stay, even without the listener now. */
	d->prov = provision_open(d->ksa, d->kma, d->peers, &d->cfg, err,
				 errlen);
	if (!d->prov)
		return -1;
	if (!d->cfg.metrics_listen[0])
		return 0;
	/* Alarms raised before this are in the first poll (mx_notify.h). */
	d->notify = mx_notify_start(d->loop, &d->cfg, err, errlen);
	if (!d->notify)
		return -1;
	d->ctl_src.notify = d->notify;
	d->mgmt = mgmt_http_start(d->loop, &mc, &d->ctl_src, d->prov, err,
				  errlen);
	return d->mgmt ? 0 : -1;
}

/*
 * Every HTTPS listener, with how its server context is made from the
 * configuration: SIGHUP reloads each one's certificate, key, CAs and
 * CRLs (reload_tls()).  A listener added to the daemon goes here.
 */
struct https_listener {
	const char *name;
	struct https_server *srv;	/* NULL: not running */
	SSL_CTX *(*ctx_new)(const struct qkd_config *c, char *err,
			    size_t errlen);
};

#define HTTPS_LISTENERS	3

static void https_listeners(struct daemon *d,
			    struct https_listener out[HTTPS_LISTENERS])
{
	out[0] = (struct https_listener){
		"[etsi014]", d->etsi ? etsi014_https(d->etsi) : NULL,
		etsi_ctx_new };
	out[1] = (struct https_listener){
		"[skip]", d->skip ? etsi014_https(d->skip) : NULL,
		skip_ctx_new };
	out[2] = (struct https_listener){
		"[metrics]", d->mgmt ? mgmt_http_server(d->mgmt) : NULL,
		mgmt_ctx_new };
}

/* The KSA reports each answer to management through its hook. */
static int start_accounting(struct daemon *d, char *err, size_t errlen)
{
	struct account_cfg ac = {
		.state_dir = d->cfg.node.state_dir,
		.interval_s = d->cfg.acct_interval_s,
	};

	if (!d->cfg.acct_enabled)
		return 0;
	d->account = account_open(d->loop, &ac, err, errlen);
	if (!d->account)
		return -1;
	ksa_set_accounting(d->ksa, account_ksa_event, d->account);
	/* The node's own consumers: their keys, and the push ends'. */
	kma_take_set_hook(account_take_event, d->account);
	return 0;
}

static int start_all(struct daemon *d)
{
	char err[ERR_MAX] = "";

	if (ensure_dir(d->cfg.node.state_dir, 0700, "state_dir") < 0 ||
	    lock_state_dir(d) < 0 ||
	    ensure_parent_dir(d->cfg.control, "control socket directory") < 0)
		return -1;
	if (make_tls(d, err, sizeof(err)) < 0 ||
	    watch_crls(d, err, sizeof(err)) < 0 ||
	    start_key_manager(d, err, sizeof(err)) < 0 ||
	    start_accounting(d, err, sizeof(err)) < 0 ||
	    start_macsec(d, err, sizeof(err)) < 0 ||
	    start_wireguard(d, err, sizeof(err)) < 0 ||
	    start_strongswan(d, err, sizeof(err)) < 0 ||
	    start_etsi014(d, err, sizeof(err)) < 0 ||
	    start_skip(d, err, sizeof(err)) < 0)
		goto fail;
	/* IPsec gateways: [ipsec NAME] needs a [peer], so d->peers is set. */
	if (d->cfg.ipsec.n_gws && d->peers &&
	    !(d->ipsec = ipsec_start(d->loop, &d->cfg.ipsec, d->cfg.node.name,
				     d->peers, err, sizeof(err))))
		goto fail;
	d->ctl_src = (struct ctl_sources){
		.cfg = &d->cfg, .kma = d->kma, .ksa = d->ksa,
		.peers = d->peers, .lsa = d->lsa, .relay = d->relay,
		.macsec = d->macsec,
		.wireguard = d->wireguard,
		.strongswan = d->strongswan,
		.ipsec = d->ipsec, .etsi = d->etsi,
		.account = d->account,
		.memory_locked = d->memory_locked,
	};
	d->ctl = ctl_start(d->loop, d->cfg.control, &d->ctl_src, err,
			   sizeof(err));
	if (!d->ctl || start_mgmt(d, err, sizeof(err)) < 0)
		goto fail;
	return 0;
fail:
	log_err("%s", err[0] ? err : "start-up failed");
	return -1;
}

static void stop_all(struct daemon *d)
{
	mgmt_http_stop(d->mgmt);
	d->mgmt = NULL;
	d->ctl_src.notify = NULL;
	mx_notify_stop(d->notify);
	d->notify = NULL;
	provision_close(d->prov);
	d->prov = NULL;
	ctl_stop(d->ctl);
	d->ctl = NULL;
	if (d->etsi)
		etsi014_stop(d->etsi);
	d->etsi = NULL;
	etsi014_stop(d->skip);
	d->skip = NULL;
	/* After the front end: no answer is left to count. */
	if (d->ksa)
		ksa_set_accounting(d->ksa, NULL, NULL);
	kma_take_set_hook(NULL, NULL);
	account_close(d->account);
	d->account = NULL;
	ipsec_stop(d->ipsec);
	d->ipsec = NULL;
	for (int t = KXMSG_HELLO; d->peers && t < KXMSG_TYPE_END; t++)
		peers_on_message(d->peers, t, NULL, NULL);
	macsec_free(d->macsec);
	d->macsec = NULL;
	wireguard_free(d->wireguard);
	d->wireguard = NULL;
	strongswan_free(d->strongswan);
	d->strongswan = NULL;
	if (d->ksa)
		ksa_set_relay(d->ksa, NULL);
	relay_free(d->relay);
	d->relay = NULL;
	lsa_free(d->lsa);
	d->lsa = NULL;
	if (d->ksa)
		ksa_use_peers(d->ksa, NULL);
	if (d->kma)
		kma_use_peers(d->kma, NULL);
	if (d->peers)
		peers_stop(d->peers);
	d->peers = NULL;
	if (d->ksa)
		ksa_free(d->ksa);	/* zeroises every stored key */
	d->ksa = NULL;
	if (d->kma)
		kma_free(d->kma);
	d->kma = NULL;
	SSL_CTX_free(d->server_ctx);
	SSL_CTX_free(d->client_ctx);
	d->server_ctx = d->client_ctx = NULL;
	crl_watch_free(d->crl);
	d->crl = NULL;
}

/* ---- signals ----------------------------------------------------------- */

/* Compare what SIGHUP cannot apply live, and say so. */
/* The notifier takes its receivers and their CAs at start. */
static bool notify_changed(const struct qkd_config *old,
			   const struct qkd_config *new)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < old->n_managers; i++)
		n += old->managers[i].notify_addr[0] != '\0';
	for (size_t i = 0; i < new->n_managers; i++)
		k += new->managers[i].notify_addr[0] != '\0';
	if (n != k)
		return true;
	for (size_t i = 0; i < new->n_managers; i++) {
		const struct manager_cfg *m = &new->managers[i], *o = NULL;

		if (!m->notify_addr[0])
			continue;
		for (size_t j = 0; j < old->n_managers; j++)
			if (!strcmp(old->managers[j].name, m->name))
				o = &old->managers[j];
		if (!o || strcmp(o->notify_addr, m->notify_addr) ||
		    strcmp(o->notify_path, m->notify_path) ||
		    strcmp(o->cert_cn, m->cert_cn) || strcmp(o->ca, m->ca))
			return true;
	}
	return false;
}

static void report_unapplied(const struct qkd_config *old,
			     const struct qkd_config *new)
{
	bool same_lists =
		old->n_links == new->n_links && old->n_peers == new->n_peers &&
		old->n_saes == new->n_saes &&
		!memcmp(old->links, new->links, old->n_links * sizeof(*old->links)) &&
		!memcmp(old->peers, new->peers, old->n_peers * sizeof(*old->peers)) &&
		!memcmp(old->saes, new->saes, old->n_saes * sizeof(*old->saes));

	if (memcmp(&old->node, &new->node, sizeof(old->node)) ||
	    strcmp(old->control, new->control) ||
	    old->secure_heap != new->secure_heap ||
	    old->lock_all_memory != new->lock_all_memory)
		log_warn("reload: [node] changes other than log_level need a restart");
	if (strcmp(old->etsi_listen, new->etsi_listen) ||
	    memcmp(&old->limits, &new->limits, sizeof(old->limits)) ||
	    old->max_body != new->max_body ||
	    old->idle_timeout_ms != new->idle_timeout_ms ||
	    old->max_conns != new->max_conns ||
	    old->etsi_min_tls != new->etsi_min_tls)
		log_warn("reload: [etsi014] changes need a restart");
	if (memcmp(&old->skip, &new->skip, sizeof(old->skip)))
		log_warn("reload: [skip] changes need a restart");
	if (strcmp(old->kx_listen, new->kx_listen) ||
	    old->kx_heartbeat_ms != new->kx_heartbeat_ms ||
	    old->kx_dead_after != new->kx_dead_after)
		log_warn("reload: [kx] changes need a restart");
	if (strcmp(old->metrics_listen, new->metrics_listen) ||
	    old->n_metrics_clients != new->n_metrics_clients ||
	    memcmp(old->metrics_clients, new->metrics_clients,
		   sizeof(old->metrics_clients)) ||
	    old->n_metrics_admins != new->n_metrics_admins ||
	    memcmp(old->metrics_admins, new->metrics_admins,
		   sizeof(old->metrics_admins)))
		log_warn("reload: [metrics] changes need a restart");
	if (notify_changed(old, new))
		log_warn("reload: [manager] notify, and ca for notify, need a restart; the policies and the listener's CAs are applied");
	if (!same_lists)
		log_warn("reload: [peer], [link] and [sae] changes need a restart");
	if (old->n_macsec != new->n_macsec ||
	    (old->n_macsec && memcmp(old->macsec, new->macsec,
				     old->n_macsec * sizeof(*old->macsec))))
		log_warn("reload: [macsec] changes need a restart");
	if (old->n_wireguard != new->n_wireguard ||
	    (old->n_wireguard &&
	     memcmp(old->wireguard, new->wireguard,
		    old->n_wireguard * sizeof(*old->wireguard))))
		log_warn("reload: [wireguard] changes need a restart");
	if (old->n_strongswan != new->n_strongswan ||
	    (old->n_strongswan &&
	     memcmp(old->strongswan, new->strongswan,
		    old->n_strongswan * sizeof(*old->strongswan))))
		log_warn("reload: [strongswan] changes need a restart");
	if (old->ipsec.reqid_min != new->ipsec.reqid_min ||
	    old->ipsec.reqid_max != new->ipsec.reqid_max ||
	    old->ipsec.n_gws != new->ipsec.n_gws ||
	    (old->ipsec.n_gws && memcmp(old->ipsec.gws, new->ipsec.gws,
					old->ipsec.n_gws * sizeof(*old->ipsec.gws))))
		log_warn("reload: [ipsec] changes need a restart");
	if (old->acct_enabled != new->acct_enabled ||
	    old->acct_interval_s != new->acct_interval_s)
		log_warn("reload: [accounting] changes need a restart");
}

/*
 * [tls]: certificate, key, CAs and CRLs are read again (the files may
 * have changed under the same names).  Every context, Kx and each HTTPS
 * listener's (https_listeners()), is built before any is used, so a bad
 * file changes nothing.  Then new handshakes use them, and open
 * connections whose peer certificate the new trust store refuses
 * (revoked, expired, another CA) are closed; the rest, and every key,
 * stay.
 */
static void reload_tls(struct daemon *d, const struct qkd_config *next)
{
	struct qkd_config tmp = d->cfg;
	char err[ERR_MAX] = "";
	SSL_CTX *srv = NULL, *cli = NULL, *ctx[HTTPS_LISTENERS] = { 0 }, *old;
	struct https_listener hl[HTTPS_LISTENERS];
	unsigned int closed = 0;
	int i;

	/* Only [tls] is applied; the rest stays as running. */
	memcpy(tmp.tls_cert, next->tls_cert, sizeof(tmp.tls_cert));
	memcpy(tmp.tls_key, next->tls_key, sizeof(tmp.tls_key));
	memcpy(tmp.tls_ca, next->tls_ca, sizeof(tmp.tls_ca));
	memcpy(tmp.tls_kx_ca, next->tls_kx_ca, sizeof(tmp.tls_kx_ca));
	memcpy(tmp.tls_sae_ca, next->tls_sae_ca, sizeof(tmp.tls_sae_ca));
	memcpy(tmp.tls_kx_crl, next->tls_kx_crl, sizeof(tmp.tls_kx_crl));
	memcpy(tmp.tls_sae_crl, next->tls_sae_crl, sizeof(tmp.tls_sae_crl));
	memcpy(tmp.tls_kx_cert, next->tls_kx_cert, sizeof(tmp.tls_kx_cert));
	memcpy(tmp.tls_kx_key, next->tls_kx_key, sizeof(tmp.tls_kx_key));
	memcpy(tmp.tls_sae_cert, next->tls_sae_cert, sizeof(tmp.tls_sae_cert));
	memcpy(tmp.tls_sae_key, next->tls_sae_key, sizeof(tmp.tls_sae_key));
	/* The management listener trusts the next [manager] CAs. */
	memcpy(tmp.managers, next->managers, sizeof(tmp.managers));
	tmp.n_managers = next->n_managers;
	https_listeners(d, hl);
	if (make_kx_tls(&tmp, &srv, &cli, err, sizeof(err)) < 0)
		goto fail;
	for (i = 0; i < HTTPS_LISTENERS; i++) {
		char why[ERR_MAX];

		if (hl[i].srv && !(ctx[i] = hl[i].ctx_new(&tmp, why, sizeof(why)))) {
			snprintf(err, sizeof(err), "%s: %.400s", hl[i].name, why);
			goto fail;
		}
	}
	if (d->peers)
		peers_set_ctx(d->peers, srv, cli);
	closed += tls_conns_recheck(d->server_ctx, srv);
	closed += tls_conns_recheck(d->client_ctx, cli);
	/* Connections hold a reference to their context: freeing is safe. */
	SSL_CTX_free(d->server_ctx);
	SSL_CTX_free(d->client_ctx);
	d->server_ctx = srv;
	d->client_ctx = cli;
	for (i = 0; i < HTTPS_LISTENERS; i++) {
		if (!hl[i].srv)
			continue;
		old = https_server_set_ctx(hl[i].srv, ctx[i]);
		closed += tls_conns_recheck(old, ctx[i]);
		SSL_CTX_free(old);
	}
	memcpy(d->cfg.tls_cert, tmp.tls_cert, sizeof(tmp.tls_cert));
	memcpy(d->cfg.tls_key, tmp.tls_key, sizeof(tmp.tls_key));
	memcpy(d->cfg.tls_ca, tmp.tls_ca, sizeof(tmp.tls_ca));
	memcpy(d->cfg.tls_kx_ca, tmp.tls_kx_ca, sizeof(tmp.tls_kx_ca));
	memcpy(d->cfg.tls_sae_ca, tmp.tls_sae_ca, sizeof(tmp.tls_sae_ca));
	memcpy(d->cfg.tls_kx_crl, tmp.tls_kx_crl, sizeof(tmp.tls_kx_crl));
	memcpy(d->cfg.tls_sae_crl, tmp.tls_sae_crl, sizeof(tmp.tls_sae_crl));
	memcpy(d->cfg.tls_kx_cert, tmp.tls_kx_cert, sizeof(tmp.tls_kx_cert));
	memcpy(d->cfg.tls_kx_key, tmp.tls_kx_key, sizeof(tmp.tls_kx_key));
	memcpy(d->cfg.tls_sae_cert, tmp.tls_sae_cert, sizeof(tmp.tls_sae_cert));
	memcpy(d->cfg.tls_sae_key, tmp.tls_sae_key, sizeof(tmp.tls_sae_key));
	log_notice("reload: certificate, CAs and CRLs reloaded; %u connection(s) closed",
		   closed);
	if (watch_crls(d, err, sizeof(err)) < 0)
		log_err("reload: CRL expiry: %s", err);
	return;
fail:
	log_err("reload: %s; keeping the running certificates", err);
	SSL_CTX_free(srv);
	SSL_CTX_free(cli);
	for (i = 0; i < HTTPS_LISTENERS; i++)
		SSL_CTX_free(ctx[i]);
}

static void reload(struct daemon *d)
{
	char err[CONFIG_ERR_MAX];
	struct qkd_config next;

	if (config_load(d->config_path, &next, err, sizeof(err)) < 0) {
		log_err("reload: %s; keeping the running configuration", err);
		return;
	}
	if (config_check_secrets_mode(d->config_path, &next, err,
				      sizeof(err)) < 0) {
		log_err("reload: %s; keeping the running configuration", err);
		config_free(&next);
		return;
	}
	report_unapplied(&d->cfg, &next);
	reload_tls(d, &next);
	/* [manager] policies are read at each request (mx.h): a manager
	 * added, narrowed or removed is served so from its next request. */
	memcpy(d->cfg.managers, next.managers, sizeof(next.managers));
	d->cfg.n_managers = next.n_managers;
	if (!d->verbose && next.log_level != d->cfg.log_level) {
		d->cfg.log_level = next.log_level;
		log_set_level(next.log_level);
	}
	log_notice("reload: %s read; log_level is %s", d->config_path,
		   config_log_level_name(log_get_level()));
	config_free(&next);
}

static void on_signal(void *arg, uint32_t revents)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	while (read(d->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_notice("%s: stopping", strsignal((int)si.ssi_signo));
			loop_stop(d->loop);
			break;
		case SIGHUP:
			reload(d);
			break;
		}
	}
}

static int setup_signals(struct daemon *d)
{
	sigset_t set;

	/* Writes to a closed connection return EPIPE instead of killing us. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	d->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sig_fd < 0)
		return -1;
	d->sig_watch = loop_watch_add(d->loop, d->sig_fd, POLLIN, on_signal, d);
	return d->sig_watch ? 0 : -1;
}

/* ---- main -------------------------------------------------------------- */

/*
 * --check: a CRL past its nextUpdate makes every new handshake of its plane
 * fail (crl_watch.h), so the node would start and serve no one there.
 */
static int check_crl(const struct daemon *d, const char *key,
		     const char *path, int line, const char *plane)
{
	time_t next;
	char when[32];
	struct tm tm;

	if (!path[0] || tls_crl_next_update(path, &next) < 0 || !next ||
	    next > time(NULL))
		return 0;
	gmtime_r(&next, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s:%d: [tls] %s: CRL %s expired at %s (nextUpdate): every new %s connection would be refused; fetch a fresh one from its CA\n",
		d->config_path, line, key, path, when, plane);
	return 1;
}

/* --check: the config and the TLS files, nothing started. */
static int check_only(struct daemon *d)
{
	char err[ERR_MAX] = "";
	const struct qkd_config *c = &d->cfg;
	int bad;

	/*
	 * The node certificate (the one Kx presents: kx_cert, else cert)
	 * first, with the line that names the file.
	 */
	bool own = c->tls_line.kx_cert;

	bad = tls_check_node_cert(c->tls_kx_cert, c->tls_kx_key, c->tls_kx_ca,
				  c->node.name, err, sizeof(err));
	if (bad) {
		fprintf(stderr, "%s:%d: [tls] %s: %s\n", d->config_path,
			bad == TLS_CHECK_KEY ?
				(own ? c->tls_line.kx_key : c->tls_line.key) :
			bad == TLS_CHECK_CA ? c->tls_line.kx_ca :
				(own ? c->tls_line.kx_cert : c->tls_line.cert),
			bad == TLS_CHECK_KEY ? (own ? "kx_key" : "key") :
			bad == TLS_CHECK_CA ? "kx_ca (or ca)" :
				(own ? "kx_cert" : "cert"), err);
		return 1;
	}

	struct etsi014_config ec = etsi_config(&d->cfg);
	SSL_CTX *etsi = NULL;

	if (make_tls(d, err, sizeof(err)) < 0 ||
	    !(etsi = etsi014_ctx_new(&ec, err, sizeof(err)))) {
		fprintf(stderr, "%s: %s\n", d->config_path, err);
		SSL_CTX_free(d->server_ctx);
		SSL_CTX_free(d->client_ctx);
		return 1;
	}
	SSL_CTX_free(etsi);
	SSL_CTX_free(d->server_ctx);
	SSL_CTX_free(d->client_ctx);
	if (check_crl(d, "kx_crl", c->tls_kx_crl, c->tls_line.kx_crl, "Kx") ||
	    check_crl(d, "sae_crl", c->tls_sae_crl, c->tls_line.sae_crl,
		      "ETSI 014 and SKIP"))
		return 1;
	/*
	 * Under the unit, --check runs with the daemon's limits: lock what
	 * this process has mapped by now (config, libraries, TLS contexts),
	 * about two thirds of what the daemon locks at start.
	 */
	if (c->lock_all_memory) {
		char lim[64];

		if (lock_memory(MCL_CURRENT, lim, sizeof(lim)) < 0)
			return 1;
		printf("%s: lock_all_memory = yes: %llu KiB locked for the check; limit: %s\n",
		       d->config_path, locked_bytes() >> 10, lim);
		munlockall();
	}
	printf("%s: ok\n", d->config_path);
	return 0;
}

static int run(struct daemon *d)
{
	int ret;

	if (harden_process(d) < 0)
		return 1;
	d->loop = loop_new();
	if (!d->loop) {
		log_err("io_uring: %s", strerror(errno));
		return 1;
	}
	if (setup_signals(d) < 0) {
		log_err("signals: %s", strerror(errno));
		ret = 1;
		goto out;
	}
	if (start_all(d) < 0) {
		ret = 1;
		goto out;
	}
	/* MACsec SAs and WireGuard PSKs are set over genetlink:
	 * CAP_NET_ADMIN too. */
	if (drop_privileges(uses_kernel_source(&d->cfg) ||
			    d->cfg.n_macsec || d->cfg.n_wireguard,
			    d->memory_locked) < 0) {
		log_err("dropping privileges: %s", strerror(errno));
		ret = 1;
		goto out;
	}
	log_notice("node %s up: etsi014 %s, kx %s, metrics %s, control %s, %zu link(s), %zu peer(s), %zu SAE(s)",
		   d->cfg.node.name, d->cfg.etsi_listen,
		   d->cfg.kx_listen[0] ? d->cfg.kx_listen : "-",
		   d->cfg.metrics_listen[0] ? d->cfg.metrics_listen : "-",
		   d->cfg.control,
		   d->cfg.n_links, d->cfg.n_peers, d->cfg.n_saes);
	notify_systemd("READY=1");
	ret = loop_run(d->loop);
	if (ret < 0)
		log_err("event loop: %s", strerror(-ret));
	notify_systemd("STOPPING=1");
	ret = ret < 0 ? 1 : 0;
out:
	stop_all(d);
	loop_watch_del(d->sig_watch);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	loop_free(d->loop);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	if (!ret)
		log_notice("stopped");
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .sig_fd = -1, .lock_fd = -1 };
	char err[CONFIG_ERR_MAX];
	bool check = false;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "c:fvhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': d.config_path = optarg; break;
		case 'f': break;
		case 'v': d.verbose = true; break;
		case 'C': check = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("qkdkmd 0.1"); return 0;
		default:
			fputs("Try 'qkdkmd --help'.\n", stderr);
			return 2;
		}
	}
	if (!d.config_path || optind != argc) {
		fprintf(stderr, "qkdkmd: %s\nTry 'qkdkmd --help'.\n",
			d.config_path ? "unexpected argument" :
			"a configuration file is required (-c FILE)");
		return 2;
	}
	log_init("qkdkmd", LOG_LVL_INFO);
	if (config_load(d.config_path, &d.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (config_check_secrets_mode(d.config_path, &d.cfg, err,
				      sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		config_free(&d.cfg);
		return 1;
	}
	log_set_level(d.verbose ? LOG_LVL_DEBUG : d.cfg.log_level);
	ret = check ? check_only(&d) : run(&d);
	config_free(&d.cfg);
	return ret;
}
