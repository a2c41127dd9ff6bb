// SPDX-License-Identifier: GPL-2.0
/*
 * qkdkmd's INI configuration: parsing (libinih) and checking.
 *
 * libinih as Debian builds it does not pass line numbers to the handler,
 * so the file is fed to ini_parse_stream() through our own line reader,
 * which counts lines, notes section headers (so that even an empty section
 * exists and has a line), strips leading blanks (which inih would take for
 * a multi-line continuation) and rejects lines too long for inih's buffer.
 *
 * Parsing fills a struct qkd_config with defaults, then every key
 * overrides one field after its own range check; the cross-section checks
 * (required keys, references, sizes) run once the whole file is read.
 * Only the first error is reported.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <ini.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/alarm.h"
#include "core/config.h"

#define CFG_MAX_ITEMS	1024	/* peers, links or SAEs per file */
_Static_assert(CFG_MAX_ITEMS <= CONFIG_MAX_SAES, "sae_priority too small");
#define CFG_LINE_MAX	200	/* libinih's INI_MAX_LINE, incl. NUL */

enum section_kind {
	SEC_NONE, SEC_NODE, SEC_TLS, SEC_ETSI014, SEC_SKIP, SEC_KX, SEC_METRICS,
	SEC_PEER, SEC_LINK, SEC_SAE, SEC_MACSEC, SEC_WIREGUARD, SEC_IPSEC,
	SEC_IPSEC_GW, SEC_ACCOUNTING, SEC_MANAGER, SEC_STRONGSWAN,
	SEC_BAD,
};

/* Which keys of a singleton section or of one item were given. */
#define SEEN_MAX	32

struct seen {
	const char *keys[SEEN_MAX];
	int n;
};

/* Per named item ([peer X], [link X], [sae X]): bookkeeping for checks. */
struct item_meta {
	int line;		/* of its header */
	struct seen seen;
};

struct parser {
	struct qkd_config *cfg;
	const char *name;	/* file name for messages */
	const char *base_dir;	/* for relative paths */
	char *err;
	size_t errlen;
	bool failed;
	int err_line;		/* line of the error reported, 0: none */
	int line;		/* current line number */

	/* the reader's input */
	FILE *fp;
	const char *text;

	/* the section being read */
	enum section_kind kind;
	char section[CFG_LINE_MAX];
	struct seen *cur_seen;

	/* singleton sections: header line, 0 if absent */
	int node_line, tls_line, etsi_line, kx_line, skip_line, metrics_line;
	struct seen node_seen, tls_seen, etsi_seen, kx_seen, skip_seen;
	struct seen metrics_seen;
	struct item_meta *peer_meta, *link_meta, *sae_meta, *macsec_meta;
	struct item_meta *wg_meta, *swan_meta;
	/* [ipsec] and [ipsec NAME] */
	int ipsec_line;
	struct seen ipsec_seen;
	int acct_line;		/* [accounting] */
	struct seen acct_seen;
	struct item_meta *gw_meta;
	struct item_meta mgr_meta[CONFIG_MANAGERS_MAX];	/* [manager NAME] */
	uint16_t gw_local_family, gw_remote_family;	/* of the last gw */
};

static void fail_at(struct parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_at(struct parser *p, int line, const char *fmt, ...)
{
	char reason[CONFIG_ERR_MAX];
	va_list ap;

	if (p->failed)
		return;		/* the first error is the one that counts */
	p->failed = true;
	p->err_line = line;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->name, line, reason);
	else if (*p->name)
		snprintf(p->err, p->errlen, "%s: %s", p->name, reason);
	else		/* not from a file: config_link_check() */
		snprintf(p->err, p->errlen, "%s", reason);
}

#define fail(p, ...)	fail_at(p, (p)->line, __VA_ARGS__)

/* ---- value parsers ----------------------------------------------------- */

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;	/* no sign, no blanks, no empty value */
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool set_u32(struct parser *p, const char *key, const char *val,
		    uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (!parse_u64(val, min, max, &v)) {
		fail(p, "%s: bad number '%s' (expected %u..%u)", key, val,
		     min, max);
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

static bool set_u64(struct parser *p, const char *key, const char *val,
		    uint64_t min, uint64_t max, uint64_t *out)
{
	if (!parse_u64(val, min, max, out)) {
		fail(p, "%s: bad number '%s' (expected %llu..%llu)", key, val,
		     (unsigned long long)min, (unsigned long long)max);
		return false;
	}
	return true;
}

static bool set_str(struct parser *p, const char *key, const char *val,
		    char *out, size_t size)
{
	if (!*val) {
		fail(p, "%s: empty value", key);
		return false;
	}
	if (strlen(val) >= size) {
		fail(p, "%s: value too long (at most %zu characters)", key,
		     size - 1);
		return false;
	}
	strcpy(out, val);
	return true;
}

/* Node, peer, link and SAE names: they end up in URLs, JSON and file names. */
static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

static bool set_name(struct parser *p, const char *key, const char *val,
		     char *out, size_t size)
{
	if (!valid_name(val, size)) {
		fail(p, "%s: bad name '%s' (1..%zu of A-Z a-z 0-9 . _ -)",
		     key, val, size - 1);
		return false;
	}
	strcpy(out, val);
	return true;
}

static bool set_path(struct parser *p, const char *key, const char *val,
		     char *out, size_t size)
{
	int n;

	if (!*val) {
		fail(p, "%s: empty path", key);
		return false;
	}
	if (val[0] == '/')
		n = snprintf(out, size, "%s", val);
	else
		n = snprintf(out, size, "%s/%s", p->base_dir, val);
	if (n < 0 || (size_t)n >= size) {
		fail(p, "%s: path too long", key);
		return false;
	}
	return true;
}

bool config_check_name(const char *s, size_t size)
{
	return valid_name(s, size);
}

const char *config_check_pool(uint64_t pool_warn, uint64_t pool_ready)
{
	if (pool_warn && pool_ready && pool_warn > pool_ready)
		return "pool_warn above pool_ready";
	return NULL;
}

int config_check_address(const char *addr)
{
	char host[KM_ADDR_MAX];
	const char *colon;
	unsigned char buf[sizeof(struct in6_addr)];
	uint64_t port;
	size_t hlen;

	colon = strrchr(addr, ':');
	if (!colon || !parse_u64(colon + 1, 1, 65535, &port))
		return -1;
	hlen = (size_t)(colon - addr);
	if (hlen >= sizeof(host) || hlen == 0)
		return -1;
	if (addr[0] == '[') {
		if (hlen < 3 || addr[hlen - 1] != ']')
			return -1;
		memcpy(host, addr + 1, hlen - 2);
		host[hlen - 2] = '\0';
		return inet_pton(AF_INET6, host, buf) == 1 ? 0 : -1;
	}
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	return inet_pton(AF_INET, host, buf) == 1 ? 0 : -1;
}

static bool set_addr(struct parser *p, const char *key, const char *val,
		     char *out, size_t size)
{
	if (config_check_address(val) < 0) {
		fail(p, "%s: bad address '%s' (expected IPv4:port or [IPv6]:port)",
		     key, val);
		return false;
	}
	return set_str(p, key, val, out, size);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The seed is a secret: the error never quotes it. */
static bool set_seed(struct parser *p, const char *val, uint8_t *out)
{
	size_t i;
	int hi, lo;

	if (strlen(val) != 2 * KM_SEED_LEN) {
		fail(p, "seed: expected %d hex digits", 2 * KM_SEED_LEN);
		return false;
	}
	for (i = 0; i < KM_SEED_LEN; i++) {
		hi = hex_digit(val[2 * i]);
		lo = hex_digit(val[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(out, KM_SEED_LEN);
			fail(p, "seed: not a hex digit at position %zu",
			     2 * i + (hi < 0 ? 1 : 2));
			return false;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static const char *const level_names[] = {
	[LOG_LVL_ERR] = "error", [LOG_LVL_WARN] = "warning",
	[LOG_LVL_NOTICE] = "notice", [LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

const char *config_log_level_name(enum log_level level)
{
	if (level < LOG_LVL_ERR || level > LOG_LVL_DEBUG)
		return "?";
	return level_names[level];
}

static bool set_log_level(struct parser *p, const char *val,
			  enum log_level *out)
{
	int l;

	for (l = LOG_LVL_ERR; l <= LOG_LVL_DEBUG; l++) {
		if (!strcmp(val, level_names[l])) {
			*out = (enum log_level)l;
			return true;
		}
	}
	fail(p, "log_level: '%s' is not error, warning, notice, info or debug",
	     val);
	return false;
}

/* ---- sections ---------------------------------------------------------- */

/* Record that @key was given in the current section; false if it was. */
static bool mark_seen(struct parser *p, const char *key,
		      const char *const *known)
{
	struct seen *s = p->cur_seen;
	int i;

	for (i = 0; known[i]; i++)
		if (!strcmp(known[i], key))
			break;
	if (!known[i]) {
		fail(p, "unknown key '%s' in [%s]", key, p->section);
		return false;
	}
	for (int j = 0; j < s->n; j++) {
		if (s->keys[j] == known[i]) {
			fail(p, "duplicate key '%s' in [%s]", key, p->section);
			return false;
		}
	}
	if (s->n < SEEN_MAX)
		s->keys[s->n++] = known[i];
	return true;
}

static bool was_seen(const struct seen *s, const char *key)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->keys[i], key))
			return true;
	return false;
}

static const char *const node_keys[] = {
	"name", "state_dir", "control", "log_level", "secure_heap",
	"controller", "role", "key_relay", "relay_sessions",
	"control_admin_group", "allow_unlocked_memory", "lock_all_memory",
	NULL
};
static const char *const tls_keys[] = {
	"ca", "cert", "key", "kx_ca", "sae_ca", "crl", "kx_crl", "sae_crl",
	"kx_cert", "kx_key", "sae_cert", "sae_key",
	NULL
};
static const char *const etsi_keys[] = {
	"listen", "key_size", "min_key_size", "max_key_size",
	"max_key_per_request", "max_key_count", "max_sae_id_count",
	"max_body", "idle_timeout_ms", "max_connections", "min_tls", NULL
};
static const char *const skip_keys[] = {
	"listen", "local_system_id", "sae", "client_cn", "remote_systems",
	"ca", "cert", "key", "psk_identity", "psk_file", "psk_hash", NULL
};
static const char *const kx_keys[] = { "listen", "heartbeat_ms",
				       "dead_after", NULL };
static const char *const metrics_keys[] = { "listen", "clients",
					     "admin_clients", NULL };
static const char *const peer_keys[] = { "address", "cert_cn", NULL };
static const char *const link_keys[] = {
	"peer", "source", "role", "seed", "rate", "block_size", "link_id",
	"pool_warn", "pool_ready", "kme_url", "kme_ca", "kme_cert", "kme_key",
	"sae_id", "peer_sae_id", "store_min", "store_max", "kme_timeout_ms",
	"kernel_push", "key_dir", "key_wait_ms", NULL
};
static const char *const sae_keys[] = { "cert_cn", "node", "priority",
					 NULL };
static const char *const macsec_keys[] = {
	"interface", "peer", "link", "rotate_interval", "cipher",
	"pn_threshold", NULL
};
static const char *const wireguard_keys[] = {
	"interface", "public_key", "peer", "link", "rotate_interval", NULL
};
static const char *const strongswan_keys[] = {
	"connection", "child", "ppk_id", "socket", "peer", "link",
	"rotate_interval", NULL
};
static const char *const ipsec_keys[] = {
	"reqid_min", "reqid_max", "replay_window", NULL
};
static const char *const acct_keys[] = { "enabled", "interval", NULL };
static const char *const manager_keys[] = { "cert_cn", "role", "show",
					     "min_severity", "saes", "ca",
					     "notify", "notify_queue", NULL };
static const char *const ipsec_gw_keys[] = {
	"peer", "link", "local", "remote", "cipher", "lifetime", "grace",
	"soft_bytes", "hard_bytes", NULL
};

/* OpenSSL's secure heap wants a power of two; it must fit RLIMIT_MEMLOCK. */
static void set_secure_heap(struct parser *p, const char *val, uint64_t *out)
{
	if (set_u64(p, "secure_heap", val, 1 << 16, 1ULL << 32, out) &&
	    (*out & (*out - 1)))
		fail(p, "secure_heap: %s is not a power of two", val);
}

/* Configuration 3 node roles (Y.3802 9.3). */
static void set_role(struct parser *p, const char *val, uint8_t *out)
{
	if (!strcmp(val, "user"))
		*out = NODE_ROLE_USER;
	else if (!strcmp(val, "access"))
		*out = NODE_ROLE_ACCESS;
	else if (!strcmp(val, "relay"))
		*out = NODE_ROLE_RELAY;
	else
		fail(p, "role: '%s' is not user, access or relay", val);
}

/* Relay session control: an SAE's share of sessions and scarce key. */
static void set_priority(struct parser *p, const char *val, uint8_t *out)
{
	if (!strcmp(val, "low"))
		*out = RELAY_PRIO_LOW;
	else if (!strcmp(val, "normal"))
		*out = RELAY_PRIO_NORMAL;
	else if (!strcmp(val, "high"))
		*out = RELAY_PRIO_HIGH;
	else
		fail(p, "priority: '%s' is not low, normal or high", val);
}

/*
 * [metrics] clients (the monitor role: read) and admin_clients (the admin
 * role: read and change, mgmt_http.h): certificate CNs separated by
 * commas or blanks.
 */
static void set_metrics_clients(struct parser *p, const char *key,
				const char *val,
				char (*out)[KM_NAME_MAX], size_t *count)
{
	char cn[KM_NAME_MAX];
	size_t n;

	while (*val) {
		n = strcspn(val, ", \t");
		if (!n) {
			val++;
			continue;
		}
		if (n >= sizeof(cn)) {
			fail(p, "%s: name '%.*s' too long (at most %d)",
			     key, (int)n, val, KM_NAME_MAX - 1);
			return;
		}
		memcpy(cn, val, n);
		cn[n] = '\0';
		val += n;
		if (*count == CONFIG_METRICS_CLIENTS_MAX) {
			fail(p, "%s: more than %d names", key,
			     CONFIG_METRICS_CLIENTS_MAX);
			return;
		}
		if (!set_name(p, key, cn, out[*count], KM_NAME_MAX))
			return;
		(*count)++;
	}
	if (!*count)
		fail(p, "%s: no certificate CN given", key);
}

/* ---- [manager NAME] (Mx, Mu, web view) ---- */

/* Calls @fn for each word of @val (separated by commas or blanks). */
static void each_word(struct parser *p, const char *key, const char *val,
		      void (*fn)(struct parser *p, const char *word))
{
	char w[CFG_LINE_MAX];
	size_t n;

	while (*val && !p->failed) {
		n = strcspn(val, ", \t");
		if (!n) {
			val++;
			continue;
		}
		if (n >= sizeof(w)) {
			fail(p, "%s: word too long", key);
			return;
		}
		memcpy(w, val, n);
		w[n] = '\0';
		val += n;
		fn(p, w);
	}
}

static struct manager_cfg *cur_manager(struct parser *p)
{
	return &p->cfg->managers[p->cfg->n_managers - 1];
}

static void manager_show(struct parser *p, const char *w)
{
	static const char *const names[] = { "alarms", "summary", "sae_names" };

	for (unsigned int i = 0; i < 3; i++)
		if (!strcmp(w, names[i])) {
			cur_manager(p)->show |= 1u << i;
			return;
		}
	fail(p, "show: '%s' is not alarms, summary or sae_names", w);
}

static void manager_sae(struct parser *p, const char *w)
{
	struct manager_cfg *m = cur_manager(p);

	if (m->n_saes == CONFIG_MANAGER_SAES_MAX) {
		fail(p, "saes: more than %d SAEs", CONFIG_MANAGER_SAES_MAX);
		return;
	}
	if (set_name(p, "saes", w, m->saes[m->n_saes], KSA_SAE_ID_MAX))
		m->n_saes++;
}

/*
 * notify = https://HOST:PORT/PATH, HOST a numeric IPv4 or [IPv6] address
 * (no name lookup on the event loop); PATH printable, no blanks.
 */
static void manager_notify(struct parser *p, struct manager_cfg *m,
			   const char *val)
{
	static const char scheme[] = "https://";
	const char *hp = val + sizeof(scheme) - 1, *slash;
	size_t n;

	if (strncmp(val, scheme, sizeof(scheme) - 1)) {
		fail(p, "notify: '%s' does not start with https://", val);
		return;
	}
	slash = strchr(hp, '/');
	n = slash ? (size_t)(slash - hp) : strlen(hp);
	if (!n || n >= sizeof(m->notify_addr)) {
		fail(p, "notify: no host:port in '%s'", val);
		return;
	}
	memcpy(m->notify_addr, hp, n);
	m->notify_addr[n] = '\0';
	if (config_check_address(m->notify_addr)) {
		fail(p, "notify: '%s' is not a numeric IPv4 or [IPv6] address with a port",
		     m->notify_addr);
		return;
	}
	if (!slash)
		slash = "/";
	if (strlen(slash) >= sizeof(m->notify_path)) {
		fail(p, "notify: path longer than %d bytes",
		     CONFIG_MANAGER_PATH_MAX - 1);
		return;
	}
	for (const char *c = slash; *c; c++)
		if (*c <= ' ' || *c >= 0x7f) {
			fail(p, "notify: the path has a blank or a control or non-ASCII byte");
			return;
		}
	strcpy(m->notify_path, slash);
}

static void manager_key(struct parser *p, const char *key, const char *val)
{
	static const char *const sev[] = { "warning", "minor", "major",
					   "critical" };
	struct manager_cfg *m = cur_manager(p);

	if (!strcmp(key, "cert_cn")) {
		set_name(p, key, val, m->cert_cn, KM_NAME_MAX);
	} else if (!strcmp(key, "role")) {
		if (!strcmp(val, "mx"))
			m->role = MANAGER_MX;
		else if (!strcmp(val, "mu"))
			m->role = MANAGER_MU;
		else if (!strcmp(val, "view"))
			m->role = MANAGER_VIEW;
		else
			fail(p, "role: '%s' is not mx, mu or view", val);
	} else if (!strcmp(key, "show")) {
		m->show = 0;
		each_word(p, key, val, manager_show);
	} else if (!strcmp(key, "ca")) {
		set_path(p, key, val, m->ca, sizeof(m->ca));
	} else if (!strcmp(key, "notify")) {
		manager_notify(p, m, val);
	} else if (!strcmp(key, "notify_queue")) {
		set_u32(p, key, val, 1, CONFIG_NOTIFY_QUEUE_MAX,
			&m->notify_queue);
	} else if (!strcmp(key, "min_severity")) {
		for (unsigned int i = 0; i < 4; i++)
			if (!strcmp(val, sev[i])) {
				m->min_severity = ALARM_WARNING + i;
				return;
			}
		fail(p, "min_severity: '%s' is not warning, minor, major or critical",
		     val);
	} else {
		each_word(p, key, val, manager_sae);
		if (!m->n_saes && !p->failed)
			fail(p, "saes: no SAE given");
	}
}

/* Each key fits its role; a CN is one manager's; Mu SAEs are [sae]s. */
static void check_manager(struct parser *p, size_t i)
{
	struct qkd_config *c = p->cfg;
	struct manager_cfg *m = &c->managers[i];
	const struct seen *s = &p->mgr_meta[i].seen;
	int line = p->mgr_meta[i].line;

	if (!was_seen(s, "cert_cn") || !was_seen(s, "role")) {
		fail_at(p, line, "[manager %s]: missing required key '%s'",
			m->name, was_seen(s, "role") ? "cert_cn" : "role");
		return;
	}
	if (!c->metrics_listen[0])
		fail_at(p, line,
			"[manager %s]: needs a [metrics] section: managers are served on its listener",
			m->name);
	if (m->role == MANAGER_MU && !m->n_saes)
		fail_at(p, line,
			"[manager %s]: role mu needs 'saes', the SAEs of its user network",
			m->name);
	if (m->role != MANAGER_MU && m->n_saes)
		fail_at(p, line, "[manager %s]: 'saes' is for role mu only",
			m->name);
	if (m->role != MANAGER_MX &&
	    (was_seen(s, "show") || was_seen(s, "min_severity") ||
	     was_seen(s, "notify")))
		fail_at(p, line,
			"[manager %s]: 'show', 'min_severity' and 'notify' are for role mx only",
			m->name);
	if (was_seen(s, "notify_queue") && !m->notify_addr[0])
		fail_at(p, line, "[manager %s]: 'notify_queue' without 'notify'",
			m->name);
	if (m->notify_addr[0] && !(m->show & MANAGER_SHOW_ALARMS))
		fail_at(p, line,
			"[manager %s]: 'notify' sends alarms: its 'show' needs alarms",
			m->name);
	for (size_t j = 0; j < m->n_saes; j++) {
		size_t k;

		for (k = 0; k < c->n_saes; k++)
			if (!strcmp(c->saes[k].name, m->saes[j]))
				break;
		if (k == c->n_saes)
			fail_at(p, line,
				"[manager %s]: saes: '%s' is not an [sae] section",
				m->name, m->saes[j]);
	}
	for (size_t j = 0; j < i; j++)
		if (!strcmp(c->managers[j].cert_cn, m->cert_cn))
			fail_at(p, line,
				"[manager %s]: cert_cn %s is also [manager %s]'s; one role per certificate",
				m->name, m->cert_cn, c->managers[j].name);
}

/* Configuration 4: "central" relays through the controller (Kx'). */
static void set_key_relay(struct parser *p, const char *val, bool *out)
{
	if (!strcmp(val, "central") || !strcmp(val, "direct"))
		*out = !strcmp(val, "central");
	else
		fail(p, "key_relay: '%s' is not direct or central", val);
}

static void set_yes_no(struct parser *p, const char *key, const char *val,
		       bool *out)
{
	if (!strcmp(val, "yes") || !strcmp(val, "no"))
		*out = !strcmp(val, "yes");
	else
		fail(p, "%s: '%s' is not yes or no", key, val);
}

static void node_key(struct parser *p, const char *key, const char *val)
{
	struct qkd_config *c = p->cfg;

	if (!strcmp(key, "name"))
		set_name(p, key, val, c->node.name, sizeof(c->node.name));
	else if (!strcmp(key, "state_dir"))
		set_path(p, key, val, c->node.state_dir,
			 sizeof(c->node.state_dir));
	else if (!strcmp(key, "control"))
		set_path(p, key, val, c->control, sizeof(c->control));
	else if (!strcmp(key, "control_admin_group"))
		set_str(p, key, val, c->control_admin_group,
			sizeof(c->control_admin_group));
	else if (!strcmp(key, "secure_heap"))
		set_secure_heap(p, val, &c->secure_heap);
	else if (!strcmp(key, "allow_unlocked_memory"))
		set_yes_no(p, key, val, &c->allow_unlocked_memory);
	else if (!strcmp(key, "lock_all_memory"))
		set_yes_no(p, key, val, &c->lock_all_memory);
	else if (!strcmp(key, "controller"))
		set_name(p, key, val, c->controller, sizeof(c->controller));
	else if (!strcmp(key, "role"))
		set_role(p, val, &c->role);
	else if (!strcmp(key, "key_relay"))
		set_key_relay(p, val, &c->central_relay);
	else if (!strcmp(key, "relay_sessions"))
		set_u32(p, key, val, 1, CONFIG_RELAY_SESSIONS_MAX,
			&c->relay_sessions);
	else
		set_log_level(p, val, &c->log_level);
}

static void tls_key(struct parser *p, const char *key, const char *val)
{
	struct qkd_config *c = p->cfg;

	/* Where each file was named, for --check's certificate checks. */
	if (!strcmp(key, "ca"))
		c->tls_line.ca = p->line;
	else if (!strcmp(key, "cert"))
		c->tls_line.cert = p->line;
	else if (!strcmp(key, "key"))
		c->tls_line.key = p->line;
	else if (!strcmp(key, "kx_ca"))
		c->tls_line.kx_ca = p->line;
	else if (!strcmp(key, "kx_cert"))
		c->tls_line.kx_cert = p->line;
	else if (!strcmp(key, "kx_key"))
		c->tls_line.kx_key = p->line;
	else if (!strcmp(key, "kx_crl"))
		c->tls_line.kx_crl = p->line;
	else if (!strcmp(key, "sae_crl"))
		c->tls_line.sae_crl = p->line;
	else if (!strcmp(key, "crl")) {
		if (!was_seen(&p->tls_seen, "kx_crl"))
			c->tls_line.kx_crl = p->line;
		if (!was_seen(&p->tls_seen, "sae_crl"))
			c->tls_line.sae_crl = p->line;
	}

	if (!strcmp(key, "ca"))
		set_path(p, key, val, c->tls_ca, sizeof(c->tls_ca));
	else if (!strcmp(key, "cert"))
		set_path(p, key, val, c->tls_cert, sizeof(c->tls_cert));
	else if (!strcmp(key, "kx_ca"))
		set_path(p, key, val, c->tls_kx_ca, sizeof(c->tls_kx_ca));
	else if (!strcmp(key, "sae_ca"))
		set_path(p, key, val, c->tls_sae_ca, sizeof(c->tls_sae_ca));
	else if (!strcmp(key, "crl")) {
		/* Both planes, unless kx_crl / sae_crl says otherwise. */
		if (!was_seen(&p->tls_seen, "kx_crl"))
			set_path(p, key, val, c->tls_kx_crl,
				 sizeof(c->tls_kx_crl));
		if (!was_seen(&p->tls_seen, "sae_crl"))
			set_path(p, key, val, c->tls_sae_crl,
				 sizeof(c->tls_sae_crl));
	} else if (!strcmp(key, "kx_crl"))
		set_path(p, key, val, c->tls_kx_crl, sizeof(c->tls_kx_crl));
	else if (!strcmp(key, "sae_crl"))
		set_path(p, key, val, c->tls_sae_crl, sizeof(c->tls_sae_crl));
	else if (!strcmp(key, "kx_cert"))
		set_path(p, key, val, c->tls_kx_cert, sizeof(c->tls_kx_cert));
	else if (!strcmp(key, "kx_key"))
		set_path(p, key, val, c->tls_kx_key, sizeof(c->tls_kx_key));
	else if (!strcmp(key, "sae_cert"))
		set_path(p, key, val, c->tls_sae_cert, sizeof(c->tls_sae_cert));
	else if (!strcmp(key, "sae_key"))
		set_path(p, key, val, c->tls_sae_key, sizeof(c->tls_sae_key));
	else
		set_path(p, key, val, c->tls_key, sizeof(c->tls_key));
}

static void etsi_key(struct parser *p, const char *key, const char *val)
{
	struct qkd_config *c = p->cfg;
	struct ksa_limits *l = &c->limits;

	if (!strcmp(key, "listen"))
		set_addr(p, key, val, c->etsi_listen, sizeof(c->etsi_listen));
	else if (!strcmp(key, "key_size"))
		set_u32(p, key, val, 8, 8 * QKD_BLOCK_SIZE_MAX, &l->key_size);
	else if (!strcmp(key, "min_key_size"))
		set_u32(p, key, val, 8, 8 * QKD_BLOCK_SIZE_MAX,
			&l->min_key_size);
	else if (!strcmp(key, "max_key_size"))
		set_u32(p, key, val, 8, 8 * QKD_BLOCK_SIZE_MAX,
			&l->max_key_size);
	else if (!strcmp(key, "max_key_per_request"))
		set_u32(p, key, val, 1, QKD_KEY_COUNT_MAX,
			&l->max_key_per_request);
	else if (!strcmp(key, "max_key_count"))
		set_u32(p, key, val, 1, 10000000, &l->max_key_count);
	else if (!strcmp(key, "max_sae_id_count"))
		set_u32(p, key, val, 0, KM_MAX_SLAVES - 1,
			&l->max_sae_id_count);
	else if (!strcmp(key, "max_body"))
		set_u32(p, key, val, 1024, 16 << 20, &c->max_body);
	else if (!strcmp(key, "idle_timeout_ms"))
		set_u32(p, key, val, 100, 3600000, &c->idle_timeout_ms);
	else if (!strcmp(key, "min_tls")) {
		if (!strcmp(val, "1.2"))
			c->etsi_min_tls = 12;
		else if (!strcmp(val, "1.3"))
			c->etsi_min_tls = 13;
		else
			fail(p, "%s: expected 1.2 or 1.3, not '%s'", key, val);
	} else
		set_u32(p, key, val, 1, 65536, &c->max_conns);
}

/* "ID:SAE, ID:SAE...": remoteSystemIDs and the [sae] each stands for. */
static void set_skip_remotes(struct parser *p, const char *val,
			     struct skip_cfg *sk)
{
	char buf[CFG_LINE_MAX], *rest = buf, *item;

	snprintf(buf, sizeof(buf), "%s", val);
	while ((item = strsep(&rest, ","))) {
		char *colon, *id, *sae;
		struct skip_remote_cfg *r;

		while (*item == ' ' || *item == '\t')
			item++;
		item[strcspn(item, " \t")] = '\0';
		colon = strchr(item, ':');
		if (!colon) {
			fail(p, "remote_systems: '%s' is not ID:SAE", item);
			return;
		}
		*colon = '\0';
		id = item, sae = colon + 1;
		if (!valid_name(id, KSA_SAE_ID_MAX) ||
		    !valid_name(sae, KSA_SAE_ID_MAX)) {
			fail(p, "remote_systems: bad name in '%s:%s' (A-Z a-z 0-9 . _ -)",
			     id, sae);
			return;
		}
		for (size_t i = 0; i < sk->n_remotes; i++)
			if (!strcmp(sk->remotes[i].id, id)) {
				fail(p, "remote_systems: '%s' given twice", id);
				return;
			}
		if (sk->n_remotes == CONFIG_SKIP_REMOTES_MAX) {
			fail(p, "remote_systems: more than %d", CONFIG_SKIP_REMOTES_MAX);
			return;
		}
		r = &sk->remotes[sk->n_remotes++];
		strcpy(r->id, id);
		strcpy(r->sae, sae);
	}
}

static void skip_key(struct parser *p, const char *key, const char *val)
{
	struct skip_cfg *sk = &p->cfg->skip;

	if (!strcmp(key, "listen"))
		set_addr(p, key, val, sk->listen, sizeof(sk->listen));
	else if (!strcmp(key, "local_system_id"))
		set_name(p, key, val, sk->local_id, sizeof(sk->local_id));
	else if (!strcmp(key, "sae"))
		set_name(p, key, val, sk->sae, sizeof(sk->sae));
	else if (!strcmp(key, "client_cn"))
		set_str(p, key, val, sk->client_cn, sizeof(sk->client_cn));
	else if (!strcmp(key, "remote_systems"))
		set_skip_remotes(p, val, sk);
	else if (!strcmp(key, "ca"))
		set_path(p, key, val, sk->ca, sizeof(sk->ca));
	else if (!strcmp(key, "cert"))
		set_path(p, key, val, sk->cert, sizeof(sk->cert));
	else if (!strcmp(key, "psk_identity"))
		set_str(p, key, val, sk->psk_identity, sizeof(sk->psk_identity));
	else if (!strcmp(key, "psk_file"))
		set_path(p, key, val, sk->psk_file, sizeof(sk->psk_file));
	else if (!strcmp(key, "psk_hash")) {
		if (!strcmp(val, "sha256") || !strcmp(val, "sha384"))
			sk->psk_sha384 = !strcmp(val, "sha384");
		else
			fail(p, "psk_hash: '%s' is not sha256 or sha384", val);
	}
	else
		set_path(p, key, val, sk->key, sizeof(sk->key));
}

/*
 * A module's KME: "https://" HOST [":" PORT] with nothing after but an
 * optional "/" (requests go to /api/v1/keys/... under it).  HOST is a name
 * or an address ("[v6]" for IPv6).
 */
static void set_kme_url(struct parser *p, const char *val, char *out)
{
	const char *host = val + 8, *end, *colon;
	uint64_t port;

	if (strncmp(val, "https://", 8)) {
		fail(p, "kme_url: '%s' does not start with https:// (the module must be reached over TLS)",
		     val);
		return;
	}
	if (strlen(val) >= KM_URL_MAX) {
		fail(p, "kme_url: longer than %d characters", KM_URL_MAX - 1);
		return;
	}
	end = host + strcspn(host, "/");
	if (*end && strcmp(end, "/")) {
		fail(p, "kme_url: '%s': give the KME's base URL only, without a path",
		     val);
		return;
	}
	colon = *host == '[' ? strchr(host, ']') : host;
	colon = colon ? memchr(colon, ':', (size_t)(end - colon)) : NULL;
	for (const char *c = host; c < (colon ? colon : end); c++) {
		if (!isalnum((unsigned char)*c) && !strchr(".-[]:", *c)) {
			fail(p, "kme_url: '%s': bad host name", val);
			return;
		}
	}
	if (host == (colon ? colon : end)) {
		fail(p, "kme_url: '%s': no host", val);
		return;
	}
	if (colon) {
		char num[8] = "";
		size_t n = (size_t)(end - colon - 1);

		if (n < sizeof(num))
			memcpy(num, colon + 1, n), num[n] = '\0';
		if (!parse_u64(num, 1, 65535, &port)) {
			fail(p, "kme_url: '%s': bad port", val);
			return;
		}
	}
	snprintf(out, KM_URL_MAX, "%.*s", (int)(end - val), val);
}

/* A file the daemon reads at start: it must be there now. */
static void set_readable(struct parser *p, const char *key, const char *val,
			 char *out)
{
	if (set_path(p, key, val, out, KM_PATH_MAX) && access(out, R_OK))
		fail(p, "%s: cannot read '%s': %s", key, out, strerror(errno));
}

/*
 * A key file source's directory: there now, a directory, and closed to
 * group and others, since the files in it are key.
 */
static void set_key_dir(struct parser *p, const char *val, char *out)
{
	struct stat st;

	if (!set_path(p, "key_dir", val, out, KM_PATH_MAX))
		return;
	if (stat(out, &st) < 0)
		fail(p, "key_dir: '%s': %s", out, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		fail(p, "key_dir: '%s' is not a directory", out);
	else if (st.st_mode & 077)
		fail(p, "key_dir: '%s' is open to group or others (mode %04o): chmod 700 it",
		     out, (unsigned int)(st.st_mode & 07777));
	else if (access(out, R_OK | W_OK | X_OK))
		fail(p, "key_dir: '%s': the daemon cannot remove files there: %s",
		     out, strerror(errno));
}

static void link_key(struct parser *p, struct kma_link_cfg *l,
		     const char *key, const char *val)
{
	uint64_t v;

	if (!strcmp(key, "peer")) {
		set_name(p, key, val, l->peer, sizeof(l->peer));
	} else if (!strcmp(key, "source")) {
		if (!strcmp(val, "sim"))
			l->source = KM_SOURCE_SIM;
		else if (!strcmp(val, "kernel"))
			l->source = KM_SOURCE_KERNEL;
		else if (!strcmp(val, "etsi014"))
			l->source = KM_SOURCE_ETSI014;
		else if (!strcmp(val, "file"))
			l->source = KM_SOURCE_FILE;
		else
			fail(p, "source: '%s' is not sim, kernel, etsi014 or file",
			     val);
	} else if (!strcmp(key, "role")) {
		if (!strcmp(val, "tx"))
			l->role = QKD_ROLE_TX;
		else if (!strcmp(val, "rx"))
			l->role = QKD_ROLE_RX;
		else
			fail(p, "role: '%s' is not tx or rx", val);
	} else if (!strcmp(key, "seed")) {
		set_seed(p, val, l->seed);
	} else if (!strcmp(key, "rate")) {
		set_u64(p, key, val, 1, 100000000000ULL, &l->rate);
	} else if (!strcmp(key, "block_size")) {
		set_u32(p, key, val, KM_BLOCK_SIZE_MIN, QKD_BLOCK_SIZE_MAX,
			&l->block_size);
	} else if (!strcmp(key, "link_id")) {
		if (set_u64(p, key, val, 1, UINT32_MAX, &v))
			l->link_id = (uint32_t)v;
	} else if (!strcmp(key, "pool_warn")) {
		set_u64(p, key, val, 0, UINT64_MAX, &l->pool_warn);
	} else if (!strcmp(key, "kme_url")) {
		set_kme_url(p, val, l->kme_url);
	} else if (!strcmp(key, "kme_ca")) {
		set_readable(p, key, val, l->kme_ca);
	} else if (!strcmp(key, "kme_cert")) {
		set_readable(p, key, val, l->kme_cert);
	} else if (!strcmp(key, "kme_key")) {
		set_readable(p, key, val, l->kme_key);
	} else if (!strcmp(key, "sae_id")) {
		set_name(p, key, val, l->sae_id, sizeof(l->sae_id));
	} else if (!strcmp(key, "peer_sae_id")) {
		set_name(p, key, val, l->peer_sae_id, sizeof(l->peer_sae_id));
	} else if (!strcmp(key, "store_min")) {
		set_u32(p, key, val, 1, 1u << 20, &l->store_min);
	} else if (!strcmp(key, "store_max")) {
		set_u32(p, key, val, 2, 1u << 20, &l->store_max);
	} else if (!strcmp(key, "kme_timeout_ms")) {
		set_u32(p, key, val, 100, 600000, &l->kme_timeout_ms);
	} else if (!strcmp(key, "kernel_push")) {
		set_yes_no(p, key, val, &l->kernel_push);
	} else if (!strcmp(key, "key_dir")) {
		set_key_dir(p, val, l->key_dir);
	} else if (!strcmp(key, "key_wait_ms")) {
		set_u32(p, key, val, 100, 600000, &l->key_wait_ms);
	} else {
		set_u64(p, key, val, 0, UINT64_MAX, &l->pool_ready);
	}
}

/* Linux interface names: 1..IFNAMSIZ-1 bytes, no '/', ':' or blanks. */
static void set_ifname(struct parser *p, const char *val, char *out)
{
	size_t n = strlen(val);

	if (n == 0 || n >= IFNAMSIZ || !strcmp(val, ".") ||
	    !strcmp(val, "..") || strpbrk(val, "/: \t")) {
		fail(p, "interface: '%s' is not an interface name", val);
		return;
	}
	memcpy(out, val, n + 1);
}

static void macsec_key(struct parser *p, struct macsec_port_cfg *m,
		       const char *key, const char *val)
{
	if (!strcmp(key, "interface")) {
		set_ifname(p, val, m->ifname);
	} else if (!strcmp(key, "peer")) {
		set_name(p, key, val, m->peer, sizeof(m->peer));
	} else if (!strcmp(key, "link")) {
		set_name(p, key, val, m->link, sizeof(m->link));
	} else if (!strcmp(key, "rotate_interval")) {
		set_u32(p, key, val, MACSEC_ROTATE_MIN_S, MACSEC_ROTATE_MAX_S,
			&m->rotate_s);
	} else if (!strcmp(key, "cipher")) {
		if (!strcmp(val, "gcm-aes-128"))
			m->key_len = 16;
		else if (!strcmp(val, "gcm-aes-256"))
			m->key_len = 32;
		else
			fail(p, "cipher: '%s' is not gcm-aes-128 or gcm-aes-256",
			     val);
	} else {
		set_u64(p, key, val, 1, UINT32_MAX, &m->pn_threshold);
	}
}

/* A WireGuard key as wg(8) prints it: 32 bytes in base64 (44 characters). */
static void set_wg_key(struct parser *p, const char *key, const char *val,
		       uint8_t out[WIREGUARD_KEY_LEN])
{
	unsigned char buf[WIREGUARD_KEY_LEN + 3];

	if (strlen(val) != 44 || val[43] != '=' ||
	    EVP_DecodeBlock(buf, (const unsigned char *)val, 44) != 33) {
		fail(p, "%s: not a WireGuard key (44 characters of base64, as wg pubkey prints)",
		     key);
		return;
	}
	memcpy(out, buf, WIREGUARD_KEY_LEN);
}

static void wireguard_key(struct parser *p, struct wireguard_peer_cfg *w,
			  const char *key, const char *val)
{
	if (!strcmp(key, "interface"))
		set_ifname(p, val, w->ifname);
	else if (!strcmp(key, "public_key"))
		set_wg_key(p, key, val, w->public_key);
	else if (!strcmp(key, "peer"))
		set_name(p, key, val, w->peer, sizeof(w->peer));
	else if (!strcmp(key, "link"))
		set_name(p, key, val, w->link, sizeof(w->link));
	else
		set_u32(p, key, val, WIREGUARD_ROTATE_MIN_S,
			WIREGUARD_ROTATE_MAX_S, &w->rotate_s);
}

/*
 * An IKE identity as swanctl.conf writes it: printable ASCII without
 * blanks or quotes, which the operator copies into ppk_id there.
 */
static void set_ike_id(struct parser *p, const char *key, const char *val,
		       char *out, size_t size)
{
	for (const char *c = val; *c; c++)
		if (*c <= ' ' || *c > '~' || *c == '"' || *c == '\\') {
			fail(p, "%s: '%s' has a blank, quote or non-ASCII character",
			     key, val);
			return;
		}
	set_str(p, key, val, out, size);
}

static void strongswan_key(struct parser *p, struct strongswan_conn_cfg *w,
			   const char *key, const char *val)
{
	if (!strcmp(key, "connection"))
		set_ike_id(p, key, val, w->connection, sizeof(w->connection));
	else if (!strcmp(key, "child"))
		set_ike_id(p, key, val, w->child, sizeof(w->child));
	else if (!strcmp(key, "ppk_id"))
		set_ike_id(p, key, val, w->ppk_id, sizeof(w->ppk_id));
	else if (!strcmp(key, "socket"))
		set_path(p, key, val, w->socket, sizeof(w->socket));
	else if (!strcmp(key, "peer"))
		set_name(p, key, val, w->peer, sizeof(w->peer));
	else if (!strcmp(key, "link"))
		set_name(p, key, val, w->link, sizeof(w->link));
	else
		set_u32(p, key, val, STRONGSWAN_ROTATE_MIN_S,
			STRONGSWAN_ROTATE_MAX_S, &w->rotate_s);
}

/* An IPv4 or IPv6 address without port; its family into @family. */
static void set_ip(struct parser *p, const char *key, const char *val,
		   uint8_t *out, uint16_t *family)
{
	if (inet_pton(AF_INET, val, out) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, val, out) == 1)
		*family = AF_INET6;
	else
		fail(p, "%s: '%s' is not an IPv4 or IPv6 address", key, val);
}

static void ipsec_gw_key(struct parser *p, struct ipsec_gw_cfg *g,
			 const char *key, const char *val)
{
	if (!strcmp(key, "peer")) {
		set_name(p, key, val, g->peer, sizeof(g->peer));
	} else if (!strcmp(key, "link")) {
		set_name(p, key, val, g->link, sizeof(g->link));
	} else if (!strcmp(key, "local")) {
		set_ip(p, key, val, g->local, &p->gw_local_family);
	} else if (!strcmp(key, "remote")) {
		set_ip(p, key, val, g->remote, &p->gw_remote_family);
	} else if (!strcmp(key, "cipher")) {
		if (!strcmp(val, "aes256-gcm"))
			g->key_len = QKD_SA_KEY_LEN_AES256;
		else if (!strcmp(val, "aes128-gcm"))
			g->key_len = QKD_SA_KEY_LEN_AES128;
		else
			fail(p, "cipher: '%s' is not aes256-gcm or aes128-gcm",
			     val);
	} else if (!strcmp(key, "lifetime")) {
		set_u32(p, key, val, 1, 86400, &g->lifetime_s);
	} else if (!strcmp(key, "grace")) {
		set_u32(p, key, val, 2, 3600, &g->grace_s);
	} else if (!strcmp(key, "soft_bytes")) {
		set_u64(p, key, val, 1, UINT64_MAX - 1, &g->soft_bytes);
	} else {
		set_u64(p, key, val, 1, UINT64_MAX - 1, &g->hard_bytes);
	}
	/* Both addresses seen: one family. */
	if (p->gw_local_family && p->gw_remote_family &&
	    p->gw_local_family != p->gw_remote_family && !p->failed)
		fail(p, "local and remote are not of one address family");
	g->family = p->gw_local_family ? p->gw_local_family :
		    p->gw_remote_family;
}

/* ---- the named-item arrays --------------------------------------------- */

/*
 * Grow @*arr (of @size-byte elements) by one zeroed element, with its
 * metadata array alongside.  Returns the new index or -1.
 */
static int grow(struct parser *p, void **arr, struct item_meta **meta,
		size_t *n, size_t size)
{
	void *a;
	struct item_meta *m;

	if (*n >= CFG_MAX_ITEMS) {
		fail(p, "too many sections of this kind (at most %d)",
		     CFG_MAX_ITEMS);
		return -1;
	}
	a = realloc(*arr, (*n + 1) * size);
	if (!a) {
		fail(p, "out of memory");
		return -1;
	}
	*arr = a;
	memset((char *)a + *n * size, 0, size);
	m = realloc(*meta, (*n + 1) * sizeof(*m));
	if (!m) {
		fail(p, "out of memory");
		return -1;
	}
	*meta = m;
	memset(&m[*n], 0, sizeof(*m));
	m[*n].line = p->line;
	return (int)(*n)++;
}

/* Begin a section from its header text (between the brackets). */
static void link_defaults(struct kma_link_cfg *l, const char *name)
{
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->rate = 10000000;
	l->block_size = 1024;
	l->store_min = 64;
	l->store_max = 256;
	l->kme_timeout_ms = 5000;
	l->key_wait_ms = 10000;
}

static void begin_section(struct parser *p, const char *hdr)
{
	struct qkd_config *c = p->cfg;
	char type[16], name[CFG_LINE_MAX];
	int idx, *line = NULL;
	size_t i;

	snprintf(p->section, sizeof(p->section), "%s", hdr);
	p->kind = SEC_BAD;
	p->cur_seen = NULL;
	if (!strcmp(hdr, "node")) {
		p->kind = SEC_NODE, line = &p->node_line;
		p->cur_seen = &p->node_seen;
	} else if (!strcmp(hdr, "tls")) {
		p->kind = SEC_TLS, line = &p->tls_line;
		p->cur_seen = &p->tls_seen;
	} else if (!strcmp(hdr, "etsi014")) {
		p->kind = SEC_ETSI014, line = &p->etsi_line;
		p->cur_seen = &p->etsi_seen;
	} else if (!strcmp(hdr, "skip")) {
		p->kind = SEC_SKIP, line = &p->skip_line;
		p->cur_seen = &p->skip_seen;
	} else if (!strcmp(hdr, "kx")) {
		p->kind = SEC_KX, line = &p->kx_line;
		p->cur_seen = &p->kx_seen;
	} else if (!strcmp(hdr, "metrics")) {
		p->kind = SEC_METRICS, line = &p->metrics_line;
		p->cur_seen = &p->metrics_seen;
	} else if (!strcmp(hdr, "ipsec")) {
		p->kind = SEC_IPSEC, line = &p->ipsec_line;
		p->cur_seen = &p->ipsec_seen;
	} else if (!strcmp(hdr, "accounting")) {
		p->kind = SEC_ACCOUNTING, line = &p->acct_line;
		p->cur_seen = &p->acct_seen;
	}
	if (line) {
		if (*line)
			fail(p, "duplicate section [%s] (first at line %d)",
			     hdr, *line);
		*line = p->line;
		return;
	}

	/* "[type NAME]" with exactly one blank between. */
	if (sscanf(hdr, "%15[a-z] %199s", type, name) != 2 ||
	    strlen(type) + 1 + strlen(name) != strlen(hdr)) {
		fail(p, "unknown section [%s]", hdr);
		return;
	}
	if (!strcmp(type, "peer")) {
		for (i = 0; i < c->n_peers; i++)
			if (!strcmp(c->peers[i].name, name))
				goto dup;
		if (!valid_name(name, KM_NAME_MAX))
			goto bad_name;
		idx = grow(p, (void **)&c->peers, &p->peer_meta, &c->n_peers,
			   sizeof(*c->peers));
		if (idx < 0)
			return;
		strcpy(c->peers[idx].name, name);
		p->kind = SEC_PEER;
		p->cur_seen = &p->peer_meta[idx].seen;
	} else if (!strcmp(type, "link")) {
		for (i = 0; i < c->n_links; i++)
			if (!strcmp(c->links[i].name, name))
				goto dup;
		if (!valid_name(name, KM_NAME_MAX))
			goto bad_name;
		idx = grow(p, (void **)&c->links, &p->link_meta, &c->n_links,
			   sizeof(*c->links));
		if (idx < 0)
			return;
		link_defaults(&c->links[idx], name);
		snprintf(c->links[idx].where, sizeof(c->links[idx].where),
			 "%s:%d", p->name, p->line);
		p->kind = SEC_LINK;
		p->cur_seen = &p->link_meta[idx].seen;
	} else if (!strcmp(type, "sae")) {
		for (i = 0; i < c->n_saes; i++)
			if (!strcmp(c->saes[i].name, name))
				goto dup;
		if (!valid_name(name, KSA_SAE_ID_MAX))
			goto bad_name;
		idx = grow(p, (void **)&c->saes, &p->sae_meta, &c->n_saes,
			   sizeof(*c->saes));
		if (idx < 0)
			return;
		strcpy(c->saes[idx].name, name);
		p->kind = SEC_SAE;
		p->cur_seen = &p->sae_meta[idx].seen;
	} else if (!strcmp(type, "macsec")) {
		for (i = 0; i < c->n_macsec; i++)
			if (!strcmp(c->macsec[i].name, name))
				goto dup;
		if (!valid_name(name, KM_NAME_MAX))
			goto bad_name;
		idx = grow(p, (void **)&c->macsec, &p->macsec_meta,
			   &c->n_macsec, sizeof(*c->macsec));
		if (idx < 0)
			return;
		strcpy(c->macsec[idx].name, name);
		c->macsec[idx].rotate_s = 60;
		c->macsec[idx].pn_threshold = MACSEC_PN_THRESHOLD_DEFAULT;
		p->kind = SEC_MACSEC;
		p->cur_seen = &p->macsec_meta[idx].seen;
	} else if (!strcmp(type, "wireguard")) {
		for (i = 0; i < c->n_wireguard; i++)
			if (!strcmp(c->wireguard[i].name, name))
				goto dup;
		if (!valid_name(name, KM_NAME_MAX))
			goto bad_name;
		idx = grow(p, (void **)&c->wireguard, &p->wg_meta,
			   &c->n_wireguard, sizeof(*c->wireguard));
		if (idx < 0)
			return;
		strcpy(c->wireguard[idx].name, name);
		c->wireguard[idx].rotate_s = 120;
		p->kind = SEC_WIREGUARD;
		p->cur_seen = &p->wg_meta[idx].seen;
	} else if (!strcmp(type, "manager")) {
		struct manager_cfg *m;

		for (i = 0; i < c->n_managers; i++)
			if (!strcmp(c->managers[i].name, name))
				goto dup;
		if (!valid_name(name, KM_NAME_MAX))
			goto bad_name;
		if (c->n_managers == CONFIG_MANAGERS_MAX) {
			fail(p, "more than %d [manager] sections",
			     CONFIG_MANAGERS_MAX);
			return;
		}
		m = &c->managers[c->n_managers];
		memset(m, 0, sizeof(*m));
		strcpy(m->name, name);
		m->show = MANAGER_SHOW_ALARMS | MANAGER_SHOW_SUMMARY;
		m->notify_queue = CONFIG_NOTIFY_QUEUE;
		m->min_severity = ALARM_MAJOR;
		p->mgr_meta[c->n_managers] = (struct item_meta){ .line = p->line };
		p->cur_seen = &p->mgr_meta[c->n_managers++].seen;
		p->kind = SEC_MANAGER;
	} else if (!strcmp(type, "strongswan")) {
		struct strongswan_conn_cfg *w;

		for (i = 0; i < c->n_strongswan; i++)
			if (!strcmp(c->strongswan[i].name, name))
				goto dup;
		if (!valid_name(name, KM_NAME_MAX))
			goto bad_name;
		idx = grow(p, (void **)&c->strongswan, &p->swan_meta,
			   &c->n_strongswan, sizeof(*c->strongswan));
		if (idx < 0)
			return;
		w = &c->strongswan[idx];
		strcpy(w->name, name);
		/* Names fit: KM_NAME_MAX + 4 <= STRONGSWAN_ID_MAX. */
		snprintf(w->connection, sizeof(w->connection), "%s", name);
		snprintf(w->ppk_id, sizeof(w->ppk_id), "qkd-%s", name);
		snprintf(w->socket, sizeof(w->socket), "%s",
			 STRONGSWAN_SOCKET_DEFAULT);
		w->rotate_s = 3600;
		p->kind = SEC_STRONGSWAN;
		p->cur_seen = &p->swan_meta[idx].seen;
	} else if (!strcmp(type, "ipsec")) {
		struct ipsec_cfg *ic = &c->ipsec;

		for (i = 0; i < ic->n_gws; i++)
			if (!strcmp(ic->gws[i].name, name))
				goto dup;
		if (!valid_name(name, KM_NAME_MAX))
			goto bad_name;
		idx = grow(p, (void **)&ic->gws, &p->gw_meta, &ic->n_gws,
			   sizeof(*ic->gws));
		if (idx < 0)
			return;
		strcpy(ic->gws[idx].name, name);
		ic->gws[idx].key_len = QKD_SA_KEY_LEN_AES256;
		ic->gws[idx].lifetime_s = 3600;
		ic->gws[idx].grace_s = 30;
		p->gw_local_family = p->gw_remote_family = 0;
		p->kind = SEC_IPSEC_GW;
		p->cur_seen = &p->gw_meta[idx].seen;
	} else {
		fail(p, "unknown section [%s]", hdr);
	}
	return;
dup:
	fail(p, "duplicate section [%s]", hdr);
	return;
bad_name:
	fail(p, "bad name in [%s] (A-Z a-z 0-9 . _ -, shorter than %d)",
	     hdr, KM_NAME_MAX);
}

static int on_key(void *user, const char *section, const char *key,
		  const char *val)
{
	struct parser *p = user;
	struct qkd_config *c = p->cfg;

	if (p->failed)
		return 1;	/* keep going quietly; the first error stands */
	switch (p->kind) {
	case SEC_NONE:
		fail(p, "key '%s' outside any section", key);
		return 0;
	case SEC_BAD:
		return 1;	/* the header was already reported */
	case SEC_NODE:
		if (mark_seen(p, key, node_keys))
			node_key(p, key, val);
		break;
	case SEC_TLS:
		if (mark_seen(p, key, tls_keys))
			tls_key(p, key, val);
		break;
	case SEC_ETSI014:
		if (mark_seen(p, key, etsi_keys))
			etsi_key(p, key, val);
		break;
	case SEC_SKIP:
		if (mark_seen(p, key, skip_keys))
			skip_key(p, key, val);
		break;
	case SEC_KX:
		if (!mark_seen(p, key, kx_keys))
			break;
		if (!strcmp(key, "heartbeat_ms"))
			set_u32(p, key, val, 10, 60000, &c->kx_heartbeat_ms);
		else if (!strcmp(key, "dead_after"))
			set_u32(p, key, val, 2, 100, &c->kx_dead_after);
		else
			set_addr(p, key, val, c->kx_listen,
				 sizeof(c->kx_listen));
		break;
	case SEC_METRICS:
		if (!mark_seen(p, key, metrics_keys))
			break;
		if (!strcmp(key, "listen"))
			set_addr(p, key, val, c->metrics_listen,
				 sizeof(c->metrics_listen));
		else if (!strcmp(key, "clients"))
			set_metrics_clients(p, key, val, c->metrics_clients,
					    &c->n_metrics_clients);
		else
			set_metrics_clients(p, key, val, c->metrics_admins,
					    &c->n_metrics_admins);
		break;
	case SEC_PEER:
		if (!mark_seen(p, key, peer_keys))
			break;
		if (!strcmp(key, "address"))
			set_addr(p, key, val, c->peers[c->n_peers - 1].address,
				 KM_ADDR_MAX);
		else
			set_name(p, key, val, c->peers[c->n_peers - 1].cert_cn,
				 KM_NAME_MAX);
		break;
	case SEC_LINK:
		if (mark_seen(p, key, link_keys))
			link_key(p, &c->links[c->n_links - 1], key, val);
		break;
	case SEC_IPSEC:
		if (!mark_seen(p, key, ipsec_keys))
			break;
		if (!strcmp(key, "replay_window"))
			set_u32(p, key, val, 0, QKD_SA_REPLAY_WINDOW_MAX,
				&c->ipsec.replay_window);
		else
			set_u32(p, key, val, 1, UINT32_MAX,
				!strcmp(key, "reqid_min") ?
				&c->ipsec.reqid_min : &c->ipsec.reqid_max);
		break;
	case SEC_ACCOUNTING:
		if (!mark_seen(p, key, acct_keys))
			break;
		if (!strcmp(key, "interval"))
			set_u32(p, key, val, 1, 86400, &c->acct_interval_s);
		else if (!strcmp(val, "yes") || !strcmp(val, "no"))
			c->acct_enabled = !strcmp(val, "yes");
		else
			fail(p, "enabled: '%s' is not yes or no", val);
		break;
	case SEC_MANAGER:
		if (mark_seen(p, key, manager_keys))
			manager_key(p, key, val);
		break;
	case SEC_IPSEC_GW:
		if (mark_seen(p, key, ipsec_gw_keys))
			ipsec_gw_key(p, &c->ipsec.gws[c->ipsec.n_gws - 1], key,
				     val);
		break;
	case SEC_SAE:
		if (!mark_seen(p, key, sae_keys))
			break;
		if (!strcmp(key, "cert_cn"))
			set_str(p, key, val, c->saes[c->n_saes - 1].cert_cn,
				KSA_SAE_ID_MAX);
		else if (!strcmp(key, "priority"))
			set_priority(p, val, &c->sae_priority[c->n_saes - 1]);
		else
			set_name(p, key, val, c->saes[c->n_saes - 1].node,
				 KM_NAME_MAX);
		break;
	case SEC_MACSEC:
		if (mark_seen(p, key, macsec_keys))
			macsec_key(p, &c->macsec[c->n_macsec - 1], key, val);
		break;
	case SEC_WIREGUARD:
		if (mark_seen(p, key, wireguard_keys))
			wireguard_key(p, &c->wireguard[c->n_wireguard - 1],
				      key, val);
		break;
	case SEC_STRONGSWAN:
		if (mark_seen(p, key, strongswan_keys))
			strongswan_key(p, &c->strongswan[c->n_strongswan - 1],
				       key, val);
		break;
	}
	return p->failed ? 0 : 1;
}

/* ---- the line reader --------------------------------------------------- */

/* Next raw line of the input into @buf (with its '\n'), or NULL at the end. */
static char *next_raw_line(struct parser *p, char *buf, int size)
{
	const char *nl;
	size_t n;

	if (p->fp)
		return fgets(buf, size, p->fp);
	if (!*p->text)
		return NULL;
	nl = strchr(p->text, '\n');
	n = nl ? (size_t)(nl - p->text) + 1 : strlen(p->text);
	if (n > (size_t)size - 1)
		n = (size_t)size - 1;
	memcpy(buf, p->text, n);
	buf[n] = '\0';
	p->text += n;
	return buf;
}

/* Skip the rest of an over-long line. */
static void skip_rest(struct parser *p, char *buf, int size)
{
	while (next_raw_line(p, buf, size) && !strchr(buf, '\n'))
		;
}

/* If @s is a section header "[...]" (comment allowed after), begin it. */
static void note_header(struct parser *p, const char *s)
{
	char hdr[CFG_LINE_MAX];
	const char *end;
	size_t n;

	if (*s != '[')
		return;
	end = strchr(s, ']');
	if (!end)
		return;		/* inih reports "no ']'" itself */
	n = (size_t)(end - s - 1);
	memcpy(hdr, s + 1, n);
	hdr[n] = '\0';
	begin_section(p, hdr);
}

static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	char *s;
	size_t len;

	if (!next_raw_line(p, str, num))
		return NULL;
	p->line++;
	len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n' &&
	    (p->fp ? !feof(p->fp) : *p->text != '\0')) {
		fail(p, "line too long (at most %d characters)", num - 2);
		skip_rest(p, str, num);
		str[0] = '\0';
		return str;
	}
	/* Leading blanks would make inih join this line to the last value. */
	for (s = str; *s == ' ' || *s == '\t'; s++)
		;
	memmove(str, s, strlen(s) + 1);
	if (!p->failed)
		note_header(p, str);
	return str;
}

/* ---- whole-file checks ------------------------------------------------- */

static const char *missing_key(const struct seen *s, const char *const *req)
{
	for (; *req; req++)
		if (!was_seen(s, *req))
			return *req;
	return NULL;
}

static const char *missing_key(const struct seen *s, const char *const *req);

static void check_ipsec_required(struct parser *p)
{
	static const char *const ipsec_req[] = {
		"reqid_min", "reqid_max", NULL
	};
	static const char *const gw_req[] = {
		"peer", "link", "local", "remote", NULL
	};
	const struct ipsec_cfg *ic = &p->cfg->ipsec;
	const char *k;

	if (p->ipsec_line && (k = missing_key(&p->ipsec_seen, ipsec_req)))
		fail_at(p, p->ipsec_line, "[ipsec]: missing required key '%s'",
			k);
	if (ic->n_gws && !p->ipsec_line)
		fail_at(p, p->gw_meta[0].line,
			"[ipsec %s]: needs an [ipsec] section with reqid_min and reqid_max",
			ic->gws[0].name);
	for (size_t i = 0; i < ic->n_gws; i++)
		if ((k = missing_key(&p->gw_meta[i].seen, gw_req)))
			fail_at(p, p->gw_meta[i].line,
				"[ipsec %s]: missing required key '%s'",
				ic->gws[i].name, k);
}

/*
 * Each plane's certificate and key: its own pair (kx_cert and kx_key,
 * sae_cert and sae_key: both or neither, a certificate goes with its
 * key), else cert and key.  What is missing, or NULL.
 */
static const char *tls_missing_identity(const struct seen *s)
{
	static const char *const plane[2] = { "kx", "sae" };
	static char why[96];
	bool own[2];

	for (int i = 0; i < 2; i++) {
		char cert[16], key[16];

		snprintf(cert, sizeof(cert), "%s_cert", plane[i]);
		snprintf(key, sizeof(key), "%s_key", plane[i]);
		if (was_seen(s, cert) != was_seen(s, key)) {
			snprintf(why, sizeof(why), "'%s' and '%s' go together; one is missing",
				 cert, key);
			return why;
		}
		own[i] = was_seen(s, cert);
	}
	if (own[0] && own[1])
		return NULL;
	if (!was_seen(s, "cert"))
		return "missing required key 'cert' (or both 'kx_cert' and 'sae_cert')";
	if (!was_seen(s, "key"))
		return "missing required key 'key' (or both 'kx_key' and 'sae_key')";
	return NULL;
}

static bool check_required(struct parser *p)
{
	static const char *const node_req[] = { "name", "state_dir", NULL };
	static const char *const etsi_req[] = { "listen", NULL };
	static const char *const metrics_req[] = { "listen", "clients", NULL };
	static const char *const skip_req[] = {
		"listen", "local_system_id", "sae", "client_cn",
		"remote_systems", NULL
	};
	static const char *const peer_req[] = { "address", "cert_cn", NULL };
	static const char *const link_req[] = { "peer", "source", NULL };
	static const char *const sae_req[] = { "cert_cn", "node", NULL };
	static const char *const macsec_req[] = {
		"interface", "peer", "link", NULL
	};
	static const char *const wireguard_req[] = {
		"interface", "public_key", "peer", "link", NULL
	};
	static const char *const strongswan_req[] = { "peer", "link", NULL };
	struct qkd_config *c = p->cfg;
	const char *k;
	size_t i;

	if (!p->node_line)
		fail_at(p, 0, "missing section [node]");
	else if ((k = missing_key(&p->node_seen, node_req)))
		fail_at(p, p->node_line, "[node]: missing required key '%s'", k);
	if (!p->tls_line)
		fail_at(p, 0, "missing section [tls]");
	else if ((k = tls_missing_identity(&p->tls_seen)))
		fail_at(p, p->tls_line, "[tls]: %s", k);
	else if (!was_seen(&p->tls_seen, "ca") &&
		 (!was_seen(&p->tls_seen, "kx_ca") ||
		  !was_seen(&p->tls_seen, "sae_ca")))
		fail_at(p, p->tls_line,
			"[tls]: missing required key 'ca' (or both 'kx_ca' and 'sae_ca')");
	if (!p->etsi_line)
		fail_at(p, 0, "missing section [etsi014]");
	else if ((k = missing_key(&p->etsi_seen, etsi_req)))
		fail_at(p, p->etsi_line, "[etsi014]: missing required key '%s'",
			k);
	if (p->skip_line && (k = missing_key(&p->skip_seen, skip_req)))
		fail_at(p, p->skip_line, "[skip]: missing required key '%s'",
			k);
	if (p->kx_line && !was_seen(&p->kx_seen, "listen"))
		fail_at(p, p->kx_line, "[kx]: missing required key 'listen'");
	if (p->metrics_line && (k = missing_key(&p->metrics_seen, metrics_req)))
		fail_at(p, p->metrics_line,
			"[metrics]: missing required key '%s'", k);
	for (i = 0; i < c->n_peers; i++)
		if ((k = missing_key(&p->peer_meta[i].seen, peer_req)))
			fail_at(p, p->peer_meta[i].line,
				"[peer %s]: missing required key '%s'",
				c->peers[i].name, k);
	for (i = 0; i < c->n_links; i++)
		if ((k = missing_key(&p->link_meta[i].seen, link_req)))
			fail_at(p, p->link_meta[i].line,
				"[link %s]: missing required key '%s'",
				c->links[i].name, k);
	for (i = 0; i < c->n_saes; i++)
		if ((k = missing_key(&p->sae_meta[i].seen, sae_req)))
			fail_at(p, p->sae_meta[i].line,
				"[sae %s]: missing required key '%s'",
				c->saes[i].name, k);
	for (i = 0; i < c->n_macsec; i++)
		if ((k = missing_key(&p->macsec_meta[i].seen, macsec_req)))
			fail_at(p, p->macsec_meta[i].line,
				"[macsec %s]: missing required key '%s'",
				c->macsec[i].name, k);
	for (i = 0; i < c->n_wireguard; i++)
		if ((k = missing_key(&p->wg_meta[i].seen, wireguard_req)))
			fail_at(p, p->wg_meta[i].line,
				"[wireguard %s]: missing required key '%s'",
				c->wireguard[i].name, k);
	for (i = 0; i < c->n_strongswan; i++)
		if ((k = missing_key(&p->swan_meta[i].seen, strongswan_req)))
			fail_at(p, p->swan_meta[i].line,
				"[strongswan %s]: missing required key '%s'",
				c->strongswan[i].name, k);
	check_ipsec_required(p);
	return !p->failed;
}

static const struct peer_cfg *find_peer(const struct qkd_config *c,
					const char *name)
{
	for (size_t i = 0; i < c->n_peers; i++)
		if (!strcmp(c->peers[i].name, name))
			return &c->peers[i];
	return NULL;
}

/* The keys given that belong to none of @allowed (a NULL-ended list). */
static void only_keys(struct parser *p, const struct kma_link_cfg *l,
		      const struct item_meta *m, const char *const *keys,
		      const char *const *allowed, const char *source)
{
	for (const char *const *k = keys; *k; k++) {
		const char *const *a;

		for (a = allowed; *a && strcmp(*a, *k); a++)
			;
		if (!*a && was_seen(&m->seen, *k))
			fail_at(p, m->line, "[link %s]: '%s' is not for source = %s",
				l->name, *k, source);
	}
}

/* A link's keys must fit its source: sim, kernel, etsi014 or file. */
static void check_link(struct parser *p, size_t i)
{
	static const char *const specific[] = {
		"role", "seed", "rate", "block_size", "link_id", "kme_url",
		"kme_ca", "kme_cert", "kme_key", "sae_id", "peer_sae_id",
		"store_min", "store_max", "kme_timeout_ms", "kernel_push",
		"key_dir", "key_wait_ms", NULL
	};
	static const char *const file_keys[] = {
		"role", "block_size", "key_dir", "key_wait_ms", NULL
	};
	static const char *const sim_keys[] = {
		"role", "seed", "rate", "block_size", "link_id", "kernel_push",
		NULL
	};
	static const char *const kernel_keys[] = { "link_id", NULL };
	static const char *const e14_link_keys[] = {
		"role", "block_size", "kme_url", "kme_ca", "kme_cert",
		"kme_key", "sae_id", "peer_sae_id", "store_min", "store_max",
		"kme_timeout_ms", "link_id", "kernel_push", NULL
	};
	static const char *const file_req[] = { "role", "key_dir", NULL };
	static const char *const etsi_req[] = {
		"role", "kme_url", "kme_ca", "kme_cert", "kme_key", "sae_id",
		"peer_sae_id", NULL
	};
	const struct kma_link_cfg *l = &p->cfg->links[i];
	const struct item_meta *m = &p->link_meta[i];
	int line = m->line;
	const char *k, *why;

	/* With central key relay the link's peer is reached through the
	 * controller, not over a Kx channel of its own. */
	if (!p->cfg->central_relay && !find_peer(p->cfg, l->peer)) {
		fail_at(p, line, "[link %s]: peer '%s' is not a [peer] section",
			l->name, l->peer);
		return;
	}
	if (l->source == KM_SOURCE_SIM) {
		if (!was_seen(&m->seen, "role"))
			fail_at(p, line, "[link %s]: source = sim needs 'role'",
				l->name);
		if (!was_seen(&m->seen, "seed"))
			fail_at(p, line, "[link %s]: source = sim needs 'seed'",
				l->name);
		only_keys(p, l, m, specific, sim_keys, "sim");
	} else if (l->source == KM_SOURCE_KERNEL) {
		if (!was_seen(&m->seen, "link_id"))
			fail_at(p, line,
				"[link %s]: source = kernel needs 'link_id'",
				l->name);
		only_keys(p, l, m, specific, kernel_keys, "kernel");
	} else if (l->source == KM_SOURCE_FILE) {
		if ((k = missing_key(&m->seen, file_req)))
			fail_at(p, line,
				"[link %s]: source = file needs '%s'",
				l->name, k);
		for (size_t j = 0; j < i; j++)
			if (p->cfg->links[j].source == KM_SOURCE_FILE &&
			    !strcmp(p->cfg->links[j].key_dir, l->key_dir))
				fail_at(p, line,
					"[link %s]: key_dir '%s' is [link %s]'s too (one directory per link)",
					l->name, l->key_dir,
					p->cfg->links[j].name);
		only_keys(p, l, m, specific, file_keys, "file");
	} else {
		if ((k = missing_key(&m->seen, etsi_req)))
			fail_at(p, line,
				"[link %s]: source = etsi014 needs '%s'",
				l->name, k);
		if (l->store_min >= l->store_max)
			fail_at(p, line,
				"[link %s]: store_min must be below store_max",
				l->name);
		if (!strcmp(l->sae_id, l->peer_sae_id))
			fail_at(p, line,
				"[link %s]: sae_id and peer_sae_id are the same",
				l->name);
		only_keys(p, l, m, specific, e14_link_keys, "etsi014");
	}
	/* A push end's link ID names the link in the kernel at both ends. */
	if (l->kernel_push && !was_seen(&m->seen, "link_id"))
		fail_at(p, line, "[link %s]: kernel_push = yes needs 'link_id'",
			l->name);
	if (l->source != KM_SOURCE_KERNEL && !l->kernel_push &&
	    was_seen(&m->seen, "link_id"))
		fail_at(p, line,
			"[link %s]: 'link_id' is for source = kernel or kernel_push = yes",
			l->name);
	why = config_check_pool(l->pool_warn, l->pool_ready);
	if (why)
		fail_at(p, line, "[link %s]: %s", l->name, why);
	for (size_t j = 0; j < i; j++)
		if (!strcmp(p->cfg->links[j].peer, l->peer))
			fail_at(p, line,
				"[link %s]: peer '%s' already has [link %s] (one link per peer pair)",
				l->name, l->peer, p->cfg->links[j].name);
}

int config_link_check(const char *name, const char *const *keys,
		      const char *const *vals, size_t n,
		      const struct qkd_config *cfg,
		      const struct kma_link_cfg *links, size_t n_links,
		      const struct peer_cfg *peers, size_t n_peers,
		      struct kma_link_cfg *out, char *err, size_t errlen)
{
	static const char *const link_req[] = { "peer", "source", NULL };
	struct qkd_config *tmp = calloc(1, sizeof(*tmp));
	struct parser p = {
		.cfg = tmp, .name = "", .base_dir = cfg->node.state_dir,
		.err = err, .errlen = errlen, .kind = SEC_LINK,
	};
	struct kma_link_cfg *l;
	const char *k;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (tmp) {
		tmp->links = calloc(n_links + 1, sizeof(*tmp->links));
		tmp->peers = calloc(n_peers + 1, sizeof(*tmp->peers));
		p.link_meta = calloc(n_links + 1, sizeof(*p.link_meta));
	}
	if (!tmp || !tmp->links || !tmp->peers || !p.link_meta) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!valid_name(name, KM_NAME_MAX)) {
		snprintf(err, errlen, "link name '%.64s': 1..%d of A-Z a-z 0-9 . _ -",
			 name, KM_NAME_MAX - 1);
		goto out;
	}
	/* The links and peers of the node now, then the one to check. */
	memcpy(tmp->links, links, n_links * sizeof(*links));
	memcpy(tmp->peers, peers, n_peers * sizeof(*peers));
	tmp->n_links = n_links + 1;
	tmp->n_peers = n_peers;
	tmp->central_relay = cfg->central_relay;
	l = &tmp->links[n_links];
	link_defaults(l, name);
	snprintf(p.section, sizeof(p.section), "link %s", name);
	p.cur_seen = &p.link_meta[n_links].seen;
	for (size_t i = 0; i < n && !p.failed; i++)
		if (mark_seen(&p, keys[i], link_keys))
			link_key(&p, l, keys[i], vals[i]);
	if (!p.failed && (k = missing_key(p.cur_seen, link_req)))
		fail(&p, "[link %s]: missing required key '%s'", name, k);
	for (size_t j = 0; !p.failed && j < n_links; j++)
		if (!strcmp(links[j].name, name))
			fail(&p, "[link %s]: there is a link of that name", name);
	if (!p.failed)
		check_link(&p, n_links);
	if (!p.failed) {
		*out = *l;
		ret = 0;
	}
out:
	if (tmp && tmp->links)
		OPENSSL_cleanse(tmp->links, (n_links + 1) * sizeof(*tmp->links));
	if (tmp) {
		free(tmp->links);
		free(tmp->peers);
	}
	free(tmp);
	free(p.link_meta);
	return ret;
}

/* A gateway needs a kernel link to its peer, and unique addresses. */
static void check_ipsec_gw(struct parser *p, size_t i)
{
	struct ipsec_cfg *ic = &p->cfg->ipsec;
	struct ipsec_gw_cfg *g = &ic->gws[i];
	int line = p->gw_meta[i].line;
	const struct kma_link_cfg *l = NULL;

	if (!find_peer(p->cfg, g->peer))
		fail_at(p, line, "[ipsec %s]: peer '%s' is not a [peer] section",
			g->name, g->peer);
	for (size_t j = 0; j < p->cfg->n_links; j++)
		if (!strcmp(p->cfg->links[j].name, g->link))
			l = &p->cfg->links[j];
	if (!l)
		fail_at(p, line, "[ipsec %s]: link '%s' is not a [link] section",
			g->name, g->link);
	else if (l->source != KM_SOURCE_KERNEL && !l->kernel_push)
		fail_at(p, line,
			"[ipsec %s]: link '%s' must have source = kernel or kernel_push = yes (SAs are keyed in the kernel)",
			g->name, g->link);
	else if (strcmp(l->peer, g->peer))
		fail_at(p, line, "[ipsec %s]: link '%s' goes to '%s', not to '%s'",
			g->name, g->link, l->peer, g->peer);
	else
		g->link_id = l->link_id;
	if (g->soft_bytes && g->hard_bytes && g->soft_bytes >= g->hard_bytes)
		fail_at(p, line, "[ipsec %s]: soft_bytes must be below hard_bytes",
			g->name);
	for (size_t j = 0; j < i; j++)
		if (ic->gws[j].family == g->family &&
		    !memcmp(ic->gws[j].remote, g->remote, 16))
			fail_at(p, line,
				"[ipsec %s]: remote address already used by [ipsec %s]",
				g->name, ic->gws[j].name);
}

static void check_sae(struct parser *p, size_t i)
{
	const struct qkd_config *c = p->cfg;
	const struct ksa_sae_cfg *s = &c->saes[i];
	int line = p->sae_meta[i].line;

	/* An SAE may be at any node of the network: nodes that are not
	 * link neighbours are reached by key relay (relay.h); a node name
	 * no LSA announces is refused per request ("not in the topology"). */
	if ((c->role == NODE_ROLE_ACCESS || c->role == NODE_ROLE_RELAY) &&
	    !strcmp(s->node, c->node.name))
		fail_at(p, line,
			"[sae %s]: this node has role %s and serves no SAE (only user nodes do)",
			s->name, c->role == NODE_ROLE_ACCESS ? "access" : "relay");
	for (size_t j = 0; j < i; j++)
		if (!strcmp(c->saes[j].cert_cn, s->cert_cn))
			fail_at(p, line,
				"[sae %s]: cert_cn '%s' already used by [sae %s]",
				s->name, s->cert_cn, c->saes[j].name);
	/*
	 * Identity is the CN: a name that is both an SAE's and a KM's would
	 * let a certificate issued for one act as the other (an SAE's speak
	 * Kx when the planes share a CA).  Node certificates carry the node
	 * name (qkdkmd.conf(5)), so that is refused too.
	 */
	if (!strcmp(s->cert_cn, c->node.name))
		fail_at(p, line,
			"[sae %s]: cert_cn '%s' is this node's name (a KM's certificate CN)",
			s->name, s->cert_cn);
	for (size_t j = 0; j < c->n_peers; j++)
		if (!strcmp(s->cert_cn, c->peers[j].cert_cn) ||
		    !strcmp(s->cert_cn, c->peers[j].name))
			fail_at(p, line,
				"[sae %s]: cert_cn '%s' is also [peer %s]'s; an SAE and a KM must not share a certificate CN",
				s->name, s->cert_cn, c->peers[j].name);
}

static const struct ksa_sae_cfg *find_sae(const struct qkd_config *c,
					   const char *name)
{
	for (size_t i = 0; i < c->n_saes; i++)
		if (!strcmp(c->saes[i].name, name))
			return &c->saes[i];
	return NULL;
}

/* [skip]: its SAE is one of this node's; each remote system's is not. */
static void check_skip(struct parser *p)
{
	const struct qkd_config *c = p->cfg;
	const struct skip_cfg *sk = &c->skip;
	const struct ksa_sae_cfg *s;
	int line = p->skip_line;

	if (!line)
		return;
	s = find_sae(c, sk->sae);
	if (!s)
		fail_at(p, line, "[skip]: sae '%s' is not a [sae] section",
			sk->sae);
	else if (strcmp(s->node, c->node.name))
		fail_at(p, line, "[skip]: sae '%s' is served by node '%s', not this node",
			sk->sae, s->node);
	if (!sk->psk_identity[0] != !sk->psk_file[0])
		fail_at(p, line, "[skip]: psk_identity and psk_file go together");
	if (!strcmp(sk->listen, c->etsi_listen))
		fail_at(p, line, "[skip]: listen is [etsi014]'s address too");
	for (size_t i = 0; i < sk->n_remotes; i++) {
		s = find_sae(c, sk->remotes[i].sae);
		if (!s)
			fail_at(p, line,
				"[skip]: remote system '%s': sae '%s' is not a [sae] section",
				sk->remotes[i].id, sk->remotes[i].sae);
		else if (!strcmp(s->name, sk->sae))
			fail_at(p, line,
				"[skip]: remote system '%s' stands for this node's own sae '%s'",
				sk->remotes[i].id, s->name);
	}
}

/*
 * A rotating consumer's [KIND NAME]: its peer and link must be configured
 * and belong together.  False if the peer is unknown (nothing more to say).
 */
static bool check_peer_link(struct parser *p, int line, const char *kind,
			    const char *name, const char *peer,
			    const char *link)
{
	const struct kma_link_cfg *l = NULL;

	if (!find_peer(p->cfg, peer)) {
		fail_at(p, line, "[%s %s]: peer '%s' is not a [peer] section",
			kind, name, peer);
		return false;
	}
	for (size_t j = 0; j < p->cfg->n_links; j++)
		if (!strcmp(p->cfg->links[j].name, link))
			l = &p->cfg->links[j];
	if (!l)
		fail_at(p, line, "[%s %s]: link '%s' is not a [link] section",
			kind, name, link);
	else if (strcmp(l->peer, peer))
		fail_at(p, line, "[%s %s]: [link %s] goes to '%s', not to peer '%s'",
			kind, name, link, l->peer, peer);
	return true;
}

/* A port's peer and link must be configured and belong together. */
static void check_macsec(struct parser *p, size_t i)
{
	const struct qkd_config *c = p->cfg;
	const struct macsec_port_cfg *m = &c->macsec[i];
	int line = p->macsec_meta[i].line;

	if (!check_peer_link(p, line, "macsec", m->name, m->peer, m->link))
		return;
	for (size_t j = 0; j < i; j++)
		if (!strcmp(c->macsec[j].ifname, m->ifname))
			fail_at(p, line,
				"[macsec %s]: interface '%s' already used by [macsec %s]",
				m->name, m->ifname, c->macsec[j].name);
}

/* As for [macsec]: peer and link belong together; one section per peer. */
static void check_wireguard(struct parser *p, size_t i)
{
	const struct qkd_config *c = p->cfg;
	const struct wireguard_peer_cfg *w = &c->wireguard[i];
	int line = p->wg_meta[i].line;

	if (!check_peer_link(p, line, "wireguard", w->name, w->peer, w->link))
		return;
	for (size_t j = 0; j < i; j++)
		if (!strcmp(c->wireguard[j].ifname, w->ifname) &&
		    !memcmp(c->wireguard[j].public_key, w->public_key,
			    WIREGUARD_KEY_LEN))
			fail_at(p, line,
				"[wireguard %s]: interface '%s' and public_key already used by [wireguard %s]",
				w->name, w->ifname, c->wireguard[j].name);
}

/* As for [wireguard]; and one section per charon connection. */
static void check_strongswan(struct parser *p, size_t i)
{
	const struct qkd_config *c = p->cfg;
	const struct strongswan_conn_cfg *w = &c->strongswan[i];
	int line = p->swan_meta[i].line;

	if (!check_peer_link(p, line, "strongswan", w->name, w->peer, w->link))
		return;
	for (size_t j = 0; j < i; j++)
		if (!strcmp(c->strongswan[j].socket, w->socket) &&
		    !strcmp(c->strongswan[j].connection, w->connection))
			fail_at(p, line,
				"[strongswan %s]: connection '%s' of %s already used by [strongswan %s]",
				w->name, w->connection, w->socket,
				c->strongswan[j].name);
}

static void check_limits(struct parser *p)
{
	const struct ksa_limits *l = &p->cfg->limits;
	int line = p->etsi_line;

	if (l->min_key_size % 8 || l->max_key_size % 8 || l->key_size % 8)
		fail_at(p, line, "[etsi014]: key sizes must be multiples of 8");
	else if (l->min_key_size > l->max_key_size)
		fail_at(p, line, "[etsi014]: min_key_size above max_key_size");
	else if (l->key_size < l->min_key_size ||
		 l->key_size > l->max_key_size)
		fail_at(p, line,
			"[etsi014]: key_size outside min_key_size..max_key_size");
	for (size_t i = 0; i < p->cfg->n_links; i++) {
		const struct kma_link_cfg *k = &p->cfg->links[i];

		/* A key never spans blocks, nor touches their last
		 * KM_CONFIRM_KEY_BYTES (key confirmation's). */
		if (k->source != KM_SOURCE_KERNEL &&
		    l->max_key_size > 8 * (k->block_size - KM_CONFIRM_KEY_BYTES))
			fail_at(p, line,
				"[etsi014]: max_key_size %u bits exceeds [link %s] block_size %u bytes less %u for key confirmation",
				l->max_key_size, k->name, k->block_size,
				KM_CONFIRM_KEY_BYTES);
	}
}

/* Configuration 4: every node talks to the controller, and only to it. */
static void check_central_relay(struct parser *p)
{
	const struct qkd_config *c = p->cfg;
	bool central = c->central_relay;

	if (!central)
		return;
	if (!c->controller[0])
		fail_at(p, p->node_line,
			"[node]: key_relay = central needs 'controller' (the central KM)");
	else if (strcmp(c->controller, c->node.name) &&
		 (c->n_peers != 1 || strcmp(c->peers[0].name, c->controller)))
		fail_at(p, p->node_line,
			"[node]: with key_relay = central the only [peer] is the controller '%s'",
			c->controller);
	else if (!strcmp(c->controller, c->node.name) && c->n_links)
		fail_at(p, p->node_line,
			"[node]: the central KM has no QKD links of its own");
}

static bool check_all(struct parser *p)
{
	struct qkd_config *c = p->cfg;
	size_t i;

	if (!check_required(p))
		return false;
	for (i = 0; i < c->n_peers; i++) {
		if (!strcmp(c->peers[i].name, c->node.name))
			fail_at(p, p->peer_meta[i].line,
				"[peer %s]: that is this node's own name",
				c->peers[i].name);
	}
	if (!c->tls_kx_ca[0]) {
		memcpy(c->tls_kx_ca, c->tls_ca, sizeof(c->tls_kx_ca));
		c->tls_line.kx_ca = c->tls_line.ca;
	}
	if (!c->tls_sae_ca[0])
		memcpy(c->tls_sae_ca, c->tls_ca, sizeof(c->tls_sae_ca));
	if (!c->tls_kx_cert[0]) {
		memcpy(c->tls_kx_cert, c->tls_cert, sizeof(c->tls_kx_cert));
		memcpy(c->tls_kx_key, c->tls_key, sizeof(c->tls_kx_key));
	}
	if (!c->tls_sae_cert[0]) {
		memcpy(c->tls_sae_cert, c->tls_cert, sizeof(c->tls_sae_cert));
		memcpy(c->tls_sae_key, c->tls_key, sizeof(c->tls_sae_key));
	}
	if (c->n_peers && !p->kx_line)
		fail_at(p, 0, "missing section [kx] (needed with [peer] sections)");
	if (c->metrics_listen[0] &&
	    (!strcmp(c->metrics_listen, c->etsi_listen) ||
	     !strcmp(c->metrics_listen, c->kx_listen)))
		fail_at(p, p->metrics_line,
			"[metrics]: listen %s is also the %s listener; give it a port of its own",
			c->metrics_listen,
			strcmp(c->metrics_listen, c->etsi_listen) ? "[kx]" :
			"[etsi014]");
	check_central_relay(p);
	for (i = 0; i < c->n_links; i++)
		check_link(p, i);
	for (i = 0; i < c->n_saes; i++)
		check_sae(p, i);
	for (i = 0; i < c->n_macsec; i++)
		check_macsec(p, i);
	for (i = 0; i < c->n_wireguard; i++)
		check_wireguard(p, i);
	for (i = 0; i < c->n_strongswan; i++)
		check_strongswan(p, i);
	for (i = 0; i < c->ipsec.n_gws; i++)
		check_ipsec_gw(p, i);
	for (i = 0; i < c->n_managers; i++)
		check_manager(p, i);
	if (p->ipsec_line && c->ipsec.reqid_min > c->ipsec.reqid_max)
		fail_at(p, p->ipsec_line, "[ipsec]: reqid_min above reqid_max");
	check_limits(p);
	check_skip(p);
	if (!p->failed && !c->control[0] &&
	    snprintf(c->control, sizeof(c->control), "/run/qkdkmd/%s.sock",
		     c->node.name) >= (int)sizeof(c->control))
		fail_at(p, 0, "control: path too long");
	return !p->failed;
}

/* ---- entry points ------------------------------------------------------ */

static void set_defaults(struct qkd_config *c)
{
	c->log_level = LOG_LVL_INFO;
	c->secure_heap = 4 << 20;
	c->limits = (struct ksa_limits){
		.key_size = 256,
		.min_key_size = 64,
		.max_key_size = 4096,
		.max_key_per_request = 128,
		.max_key_count = 100000,
		.max_sae_id_count = 4,
	};
	c->max_body = 65536;
	c->idle_timeout_ms = 10000;
	c->max_conns = 1024;
	c->ipsec.replay_window = QKD_SA_REPLAY_WINDOW_DEFAULT;
	c->etsi_min_tls = 12;
	c->skip.psk_sha384 = true;
	c->acct_enabled = true;
	c->acct_interval_s = 60;
}

static int parse(struct parser *p)
{
	int ret;

	set_defaults(p->cfg);
	ret = ini_parse_stream(reader, p, on_key, p);
	/* inih returns the first bad line; it may precede our first error. */
	if (ret > 0 && (!p->failed || p->err_line > ret)) {
		p->failed = false;
		fail_at(p, ret, "syntax error (expected [section] or key = value)");
	}
	else if (ret < 0 && !p->failed)
		fail_at(p, 0, "cannot read the file");
	if (!p->failed)
		check_all(p);
	free(p->peer_meta);
	free(p->link_meta);
	free(p->sae_meta);
	free(p->macsec_meta);
	free(p->wg_meta);
	free(p->swan_meta);
	free(p->gw_meta);
	if (p->failed) {
		config_free(p->cfg);
		return -1;
	}
	return 0;
}

int config_parse_string(const char *text, const char *name,
			const char *base_dir, struct qkd_config *cfg,
			char *err, size_t errlen)
{
	struct parser p = {
		.cfg = cfg, .name = name, .base_dir = base_dir,
		.err = err, .errlen = errlen, .text = text,
	};

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->file, sizeof(cfg->file), "%s", name);
	return parse(&p);
}

int config_load(const char *path, struct qkd_config *cfg, char *err,
		size_t errlen)
{
	char dir[PATH_MAX], *slash, *real;
	struct stat st;
	struct parser p = {
		.cfg = cfg, .name = path, .err = err, .errlen = errlen,
	};
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->file, sizeof(cfg->file), "%s", path);
	p.fp = fopen(path, "re");
	if (!p.fp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(p.fp), &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		fclose(p.fp);
		return -1;
	}
	/* Relative paths in the file are relative to its directory. */
	real = realpath(path, NULL);
	if (!real) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		fclose(p.fp);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", real);
	free(real);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	p.base_dir = dir;
	ret = parse(&p);
	fclose(p.fp);
	return ret;
}

int config_check_secrets_mode(const char *path, const struct qkd_config *cfg,
			      char *err, size_t errlen)
{
	bool secrets = false;
	struct stat st;
	unsigned int mode;

	for (size_t i = 0; i < cfg->n_links; i++)
		if (cfg->links[i].source == KM_SOURCE_SIM)
			secrets = true;
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	mode = st.st_mode & 07777;
	/* Whoever can write it chooses our peers, CAs and seeds. */
	if (mode & S_IWOTH) {
		snprintf(err, errlen,
			 "%s: mode %04o lets every user change it; run: chmod o-w %s",
			 path, mode, path);
		return -1;
	}
	if (!secrets)
		return 0;
	if (mode & S_IROTH) {
		snprintf(err, errlen,
			 "%s: mode %04o lets every user read the simulated links' seeds in it; run: chmod 600 %s",
			 path, mode, path);
		return -1;
	}
	if ((mode & S_IRGRP) && st.st_gid != 0)
		log_warn("%s: mode %04o lets group %u read the simulated links' seeds in it (chmod g-r %s, unless that group is trusted)",
			 path, mode, (unsigned int)st.st_gid, path);
	return 0;
}

void config_free(struct qkd_config *cfg)
{
	if (cfg->links)
		OPENSSL_cleanse(cfg->links, cfg->n_links * sizeof(*cfg->links));
	free(cfg->links);
	free(cfg->peers);
	free(cfg->saes);
	free(cfg->macsec);
	cfg->macsec = NULL;
	cfg->n_macsec = 0;
	free(cfg->wireguard);
	cfg->wireguard = NULL;
	cfg->n_wireguard = 0;
	free(cfg->strongswan);
	cfg->strongswan = NULL;
	cfg->n_strongswan = 0;
	free(cfg->ipsec.gws);
	cfg->ipsec.gws = NULL;
	cfg->ipsec.n_gws = 0;
	cfg->links = NULL;
	cfg->peers = NULL;
	cfg->saes = NULL;
	cfg->n_links = cfg->n_peers = cfg->n_saes = 0;
}
