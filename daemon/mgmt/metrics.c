// SPDX-License-Identifier: GPL-2.0
/*
 * The /metrics text (metrics.h), from the elements' plain state.
 *
 * The exposition format wants each family's samples together after its
 * HELP and TYPE lines, so each element's infos are gathered into an array
 * first and every family is a pass over it.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/rotate.h"
#include "core/alarm.h"
#include "core/config.h"
#include "kma/kma.h"
#include "kx/peer.h"
#include "routing/lsa.h"
#include "relay/relay.h"
#include "ksa/ksa.h"
#include "ksa/etsi014.h"
#include "mgmt/ctl.h"
#include "mgmt/metrics.h"
#include "mgmt/mx_notify.h"

/* Longest label value written: an SAE ID or alarm source, all escaped. */
#define LABEL_MAX	(2 * KSA_SAE_ID_MAX)

void metrics_escape(char *out, size_t outlen, const char *v)
{
	size_t o = 0;

	for (; *v && o + 3 < outlen; v++) {
		if (*v == '\\' || *v == '"') {
			out[o++] = '\\';
			out[o++] = *v;
		} else if (*v == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *v;
		}
	}
	out[o] = '\0';
}

/* A label value, escaped, in one of a few rotating buffers (one line's). */
static const char *esc(const char *v)
{
	static char bufs[4][LABEL_MAX];
	static unsigned int next;
	char *b = bufs[next++ % 4];

	metrics_escape(b, LABEL_MAX, v);
	return b;
}

static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- node --------------------------------------------------------------- */

static void node_metrics(FILE *f, const struct ctl_sources *src)
{
	family(f, "qkd_node_info", "gauge",
	       "This node; the value is always 1.");
	fprintf(f, "qkd_node_info{node=\"%s\"} 1\n",
		esc(src->cfg->node.name));
	family(f, "qkd_node_memory_locked", "gauge",
	       "1 if all of the daemon's memory is locked ([node] lock_all_memory), 0 if only the secure heap is.");
	fprintf(f, "qkd_node_memory_locked %d\n", src->memory_locked);
}

/* ---- links and pools ---------------------------------------------------- */

static const char *const level_names[] = {
	[QKD_POOL_EMPTY] = "empty", [QKD_POOL_WARNING] = "warning",
	[QKD_POOL_LOW] = "low", [QKD_POOL_READY] = "ready",
};

struct link_row {
	struct kma_link_info li;
	char link[LABEL_MAX], peer[LABEL_MAX];
	bool admin_down;
};

#define LBL(r)	"link=\"%s\",peer=\"%s\"", (r)->link, (r)->peer

static void link_metrics(FILE *f, const struct ctl_sources *src)
{
	size_t n = src->kma ? kma_link_count(src->kma) : 0, k = 0, i;
	struct link_row *rows = calloc(n ? n : 1, sizeof(*rows));

	if (!rows)
		return;
	for (i = 0; i < n; i++) {
		struct link_row *r = &rows[k];

		if (kma_link_info(src->kma, i, &r->li))
			continue;
		metrics_escape(r->link, sizeof(r->link), r->li.name);
		metrics_escape(r->peer, sizeof(r->peer), r->li.peer);
		r->admin_down = src->lsa && lsa_admin_down(src->lsa, r->li.peer);
		k++;
	}
	family(f, "qkd_link_up", "gauge",
	       "1 while the link's key source delivers key, else 0.");
	for (i = 0; i < k; i++) {
		fprintf(f, "qkd_link_up{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, "} %d\n", rows[i].li.up);
	}
	family(f, "qkd_link_admin_up", "gauge",
	       "0 while the link is taken out of routing (qkdctl link down), else 1.");
	for (i = 0; i < k; i++) {
		fprintf(f, "qkd_link_admin_up{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, "} %d\n", !rows[i].admin_down);
	}
	family(f, "qkd_link_key_bytes_total", "counter",
	       "Key bytes taken from the link: out = this end's allocations, in = the peer's allocations fetched.");
	for (i = 0; i < k; i++) {
		fprintf(f, "qkd_link_key_bytes_total{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, ",direction=\"out\"} %" PRIu64 "\n",
			rows[i].li.bytes_allocated);
		fprintf(f, "qkd_link_key_bytes_total{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, ",direction=\"in\"} %" PRIu64 "\n",
			rows[i].li.bytes_fetched);
	}
	family(f, "qkd_link_key_discarded_bytes_total", "counter",
	       "Key bytes of the link discarded unused.");
	for (i = 0; i < k; i++) {
		fprintf(f, "qkd_link_key_discarded_bytes_total{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, "} %" PRIu64 "\n", rows[i].li.bytes_discarded);
	}
	family(f, "qkd_link_fetch_failures_total", "counter",
	       "Fetches of the peer's key share from the source that failed.");
	for (i = 0; i < k; i++) {
		fprintf(f, "qkd_link_fetch_failures_total{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, "} %" PRIu64 "\n", rows[i].li.fetch_failures);
	}
	/*
	 * In bytes, the base unit Prometheus names want (promtool lints it).
	 * The source's own figure (a card's estimate, a sim's rate, 0 while
	 * stopped), else the configured rate.
	 */
	family(f, "qkd_link_key_rate_bytes_per_second", "gauge",
	       "Secret key rate of the link's source, where the source reports one.");
	for (i = 0; i < k; i++) {
		const struct kma_link_info *li = &rows[i].li;

		if (!li->gen.has_skr && !li->rate_bps)
			continue;
		fprintf(f, "qkd_link_key_rate_bytes_per_second{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, "} %.17g\n", (li->gen.has_skr ? li->gen.skr_bps :
					 li->rate_bps) / 8.0);
	}
	family(f, "qkd_link_qber_ratio", "gauge",
	       "Quantum bit error rate the link's source reports (a card's QKD_A_LINK_QBER), as a ratio.");
	for (i = 0; i < k; i++) {
		if (!rows[i].li.gen.has_qber)
			continue;
		fprintf(f, "qkd_link_qber_ratio{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, "} %.17g\n", rows[i].li.gen.qber_ppm / 1e6);
	}
	family(f, "qkd_link_generation_running", "gauge",
	       "1 while key generation at this end runs (or is asked to), 0 once stopped by the operator; links whose source has generation control.");
	for (i = 0; i < k; i++) {
		if (!rows[i].li.gen.control)
			continue;
		fprintf(f, "qkd_link_generation_running{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, "} %d\n", rows[i].li.gen.running);
	}
	family(f, "qkd_pool_available_bytes", "gauge",
	       "Key bytes this end of the link may still allocate.");
	for (i = 0; i < k; i++) {
		fprintf(f, "qkd_pool_available_bytes{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, "} %" PRIu64 "\n", rows[i].li.avail);
	}
	family(f, "qkd_pool_warning_threshold_bytes", "gauge",
	       "Below this many available bytes the pool is at level warning.");
	for (i = 0; i < k; i++) {
		fprintf(f, "qkd_pool_warning_threshold_bytes{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, "} %" PRIu64 "\n", rows[i].li.pool_warn);
	}
	family(f, "qkd_pool_ready_threshold_bytes", "gauge",
	       "From this many available bytes on the pool is at level ready.");
	for (i = 0; i < k; i++) {
		fprintf(f, "qkd_pool_ready_threshold_bytes{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, "} %" PRIu64 "\n", rows[i].li.pool_ready);
	}
	family(f, "qkd_pool_level", "gauge",
	       "The pool's level: 1 for the level it is at, 0 for the others.");
	for (i = 0; i < k; i++)
		for (size_t l = 0; l < sizeof(level_names) / sizeof(*level_names);
		     l++) {
			fprintf(f, "qkd_pool_level{");
			fprintf(f, LBL(&rows[i]));
			fprintf(f, ",level=\"%s\"} %d\n", level_names[l],
				(size_t)rows[i].li.level == l);
		}
	family(f, "qkd_pool_key_records", "gauge",
	       "Application key records of the link held in the key store.");
	for (i = 0; i < k; i++) {
		fprintf(f, "qkd_pool_key_records{");
		fprintf(f, LBL(&rows[i]));
		fprintf(f, "} %" PRIu32 "\n", rows[i].li.keys_held);
	}
	free(rows);
}

/* ---- peers -------------------------------------------------------------- */

static void peer_metrics(FILE *f, const struct ctl_sources *src)
{
	static const enum peer_state states[] = {
		PEER_DOWN, PEER_CONNECTING, PEER_UP, PEER_HELD,
	};
	size_t n = src->peers ? peers_count(src->peers) : 0, k = 0, i;
	struct peer_info *rows = calloc(n ? n : 1, sizeof(*rows));

	if (!rows)
		return;
	for (i = 0; i < n; i++)
		if (!peers_info(src->peers, i, &rows[k]))
			k++;
	family(f, "qkd_peer_up", "gauge",
	       "1 while the Kx channel to the peer node is up, else 0.");
	for (i = 0; i < k; i++)
		fprintf(f, "qkd_peer_up{peer=\"%s\"} %d\n", esc(rows[i].name),
			rows[i].state == PEER_UP);
	family(f, "qkd_peer_state", "gauge",
	       "The Kx channel's state: 1 for the state it is in, 0 for the others.");
	for (i = 0; i < k; i++)
		for (size_t s = 0; s < sizeof(states) / sizeof(*states); s++)
			fprintf(f, "qkd_peer_state{peer=\"%s\",state=\"%s\"} %d\n",
				esc(rows[i].name), peer_state_name(states[s]),
				rows[i].state == states[s]);
	family(f, "qkd_peer_connects_total", "counter",
	       "Kx channels to the peer established (hello exchanged).");
	for (i = 0; i < k; i++)
		fprintf(f, "qkd_peer_connects_total{peer=\"%s\"} %" PRIu64 "\n",
			esc(rows[i].name), rows[i].connects);
	family(f, "qkd_peer_deaths_total", "counter",
	       "Kx channels to the peer declared dead by liveness.");
	for (i = 0; i < k; i++)
		fprintf(f, "qkd_peer_deaths_total{peer=\"%s\"} %" PRIu64 "\n",
			esc(rows[i].name), rows[i].deaths);
	family(f, "qkd_peer_messages_total", "counter",
	       "Kx messages exchanged with the peer, by direction.");
	for (i = 0; i < k; i++) {
		fprintf(f, "qkd_peer_messages_total{peer=\"%s\",direction=\"out\"} %" PRIu64 "\n",
			esc(rows[i].name), rows[i].msgs_sent);
		fprintf(f, "qkd_peer_messages_total{peer=\"%s\",direction=\"in\"} %" PRIu64 "\n",
			esc(rows[i].name), rows[i].msgs_received);
	}
	free(rows);
}

/* ---- SAE pairs ---------------------------------------------------------- */

static void pair_metrics(FILE *f, const struct ctl_sources *src)
{
	size_t n = src->ksa ? ksa_pair_count(src->ksa) : 0, k = 0, i;
	struct ksa_pair_info *rows = calloc(n ? n : 1, sizeof(*rows));

	if (!rows)
		return;
	for (i = 0; i < n; i++)
		if (!ksa_pair_info(src->ksa, i, &rows[k]))
			k++;
	family(f, "qkd_sae_pair_keys_stored", "gauge",
	       "Keys held here for the pair, waiting for this node's SAE.");
	for (i = 0; i < k; i++)
		fprintf(f, "qkd_sae_pair_keys_stored{master=\"%s\",slave=\"%s\"} %" PRIu32 "\n",
			esc(rows[i].master), esc(rows[i].slave),
			rows[i].keys_stored);
	family(f, "qkd_sae_pair_keys_supplied_total", "counter",
	       "Keys of the pair handed to SAEs at this node.");
	for (i = 0; i < k; i++)
		fprintf(f, "qkd_sae_pair_keys_supplied_total{master=\"%s\",slave=\"%s\"} %" PRIu64 "\n",
			esc(rows[i].master), esc(rows[i].slave),
			rows[i].keys_supplied);
	free(rows);
}

/* ---- ETSI GS QKD 014 ---------------------------------------------------- */

static void etsi014_metrics(FILE *f, const struct ctl_sources *src)
{
	const struct etsi014_stats *st;
	uint64_t cum, count;
	int ep, m, c, b;

	if (!src->etsi)
		return;
	st = etsi014_get_stats(src->etsi);
	family(f, "qkd_etsi014_connections", "gauge",
	       "Authenticated ETSI GS QKD 014 client connections open.");
	fprintf(f, "qkd_etsi014_connections %" PRIu32 "\n", st->connections);
	family(f, "qkd_etsi014_requests_total", "counter",
	       "ETSI GS QKD 014 requests answered, by endpoint, method and HTTP status.");
	for (ep = 0; ep < ETSI014_EP_COUNT; ep++)
		for (m = 0; m < ETSI014_M_COUNT; m++)
			for (c = 0; c < ETSI014_STAT_CODES; c++) {
				char code[12] = "other";

				if (!st->requests[ep][m][c])
					continue;
				if (etsi014_stat_codes[c])
					snprintf(code, sizeof(code), "%d",
						 etsi014_stat_codes[c]);
				fprintf(f, "qkd_etsi014_requests_total{endpoint=\"%s\",method=\"%s\",code=\"%s\"} %" PRIu64 "\n",
					etsi014_stat_endpoint_name(ep),
					etsi014_stat_method_name(m), code,
					st->requests[ep][m][c]);
			}
	family(f, "qkd_etsi014_request_duration_seconds", "histogram",
	       "Time from a request's first byte to its answer, by endpoint.");
	for (ep = 0; ep < ETSI014_EP_COUNT; ep++) {
		const char *name = etsi014_stat_endpoint_name(ep);

		count = 0;
		for (b = 0; b <= ETSI014_LAT_BUCKETS; b++)
			count += st->lat_bucket[ep][b];
		cum = 0;
		for (b = 0; b < ETSI014_LAT_BUCKETS; b++) {
			cum += st->lat_bucket[ep][b];
			fprintf(f, "qkd_etsi014_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %" PRIu64 "\n",
				name, etsi014_lat_bounds_us[b] / 1e6, cum);
		}
		fprintf(f, "qkd_etsi014_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
			name, count);
		fprintf(f, "qkd_etsi014_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n",
			name, st->lat_sum_us[ep] / 1e6);
		fprintf(f, "qkd_etsi014_request_duration_seconds_count{endpoint=\"%s\"} %" PRIu64 "\n",
			name, count);
	}
}

/* ---- key relay ---------------------------------------------------------- */

static void relay_metrics(FILE *f, const struct ctl_sources *src)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
#define C(n, field, h) { "qkd_relay_" n "_total", h, \
			 offsetof(struct relay_info, field) }
		C("sessions_started", started,
		  "Relay sessions started at this node (as source)."),
		C("sessions_timed_out", timed_out,
		  "Source relay sessions closed unanswered."),
		C("keys_forwarded", forwarded,
		  "Relayed keys forwarded by this node in transit."),
		C("keys_delivered", delivered,
		  "Relayed keys delivered at this node (as destination)."),
		C("keys_acked", acked,
		  "Relayed keys acknowledged back to this node (as source)."),
		C("refused", refused,
		  "Relay messages refused at this node."),
		C("auth_failures", auth_alarms,
		  "Relayed keys failing their ITS MAC at this node."),
#undef C
	};
	static const char *const results[] = {
		"admitted", "refused_busy", "refused_pool",
	};
	struct relay_info ri;
	size_t i;

	if (!src->relay)
		return;
	relay_info(src->relay, &ri);
	family(f, "qkd_relay_sessions_open", "gauge",
	       "Relay sessions from this node awaiting their answer.");
	fprintf(f, "qkd_relay_sessions_open %" PRIu32 "\n", ri.open);
	family(f, "qkd_relay_session_slots", "gauge",
	       "Relay sessions this node may have open at once.");
	fprintf(f, "qkd_relay_session_slots %" PRIu32 "\n", ri.max_sessions);
	for (i = 0; i < sizeof(counters) / sizeof(*counters); i++) {
		family(f, counters[i].name, "counter", counters[i].help);
		fprintf(f, "%s %" PRIu64 "\n", counters[i].name,
			*(const uint64_t *)((const char *)&ri + counters[i].off));
	}
	family(f, "qkd_relay_admissions_total", "counter",
	       "Relay session admission decisions, by SAE priority and result.");
	for (i = 0; i < RELAY_PRIO_COUNT; i++) {
		const struct relay_admission *a = &ri.adm[i];
		const uint64_t v[] = { a->admitted, a->refused_busy,
				       a->refused_pool };

		for (size_t r = 0; r < 3; r++)
			fprintf(f, "qkd_relay_admissions_total{priority=\"%s\",result=\"%s\"} %" PRIu64 "\n",
				relay_priority_name(i), results[r], v[r]);
	}
}

/* ---- rotating consumers (apps/rotate.h) --------------------------------- */

static void consumer_metrics(FILE *f)
{
	struct rotate_counter c;
	size_t i;

	family(f, "qkd_consumer_rotations_total", "counter",
	       "Key rotations completed at this end, by consumer kind (macsec, wireguard) and section name.");
	for (i = 0; !rotate_counter(i, &c); i++)
		fprintf(f, "qkd_consumer_rotations_total{kind=\"%s\",name=\"%s\"} %" PRIu64 "\n",
			esc(c.kind), esc(c.name), c.rotations);
	family(f, "qkd_consumer_rotation_failures_total", "counter",
	       "Key rotations that failed at this end (each raised the consumer's alarm), by consumer kind and section name.");
	for (i = 0; !rotate_counter(i, &c); i++)
		fprintf(f, "qkd_consumer_rotation_failures_total{kind=\"%s\",name=\"%s\"} %" PRIu64 "\n",
			esc(c.kind), esc(c.name), c.failures);
}

/* ---- alarms ------------------------------------------------------------- */

static void alarm_metrics(FILE *f)
{
	size_t per_severity[ALARM_CRITICAL + 1] = { 0 };
	size_t n = alarm_count(), i;
	struct alarm_info a;
	int s;

	for (i = 0; i < n; i++)
		if (!alarm_info(i, &a) && a.severity <= ALARM_CRITICAL)
			per_severity[a.severity]++;
	family(f, "qkd_alarms_active", "gauge",
	       "Alarms active now, by perceived severity (X.733).");
	for (s = ALARM_INDETERMINATE; s <= ALARM_CRITICAL; s++)
		fprintf(f, "qkd_alarms_active{severity=\"%s\"} %zu\n",
			alarm_severity_name(s), per_severity[s]);
	family(f, "qkd_alarm_active", "gauge",
	       "1 for each active alarm, by its source (qkdctl alarm show) and severity.");
	for (i = 0; i < n; i++)
		if (!alarm_info(i, &a))
			fprintf(f, "qkd_alarm_active{source=\"%s\",severity=\"%s\"} 1\n",
				esc(a.source), alarm_severity_name(a.severity));
	family(f, "qkd_alarms_raised_total", "counter",
	       "Alarm raises since start, repeats of an active alarm included.");
	fprintf(f, "qkd_alarms_raised_total %" PRIu64 "\n",
		alarm_raised_total());
	family(f, "qkd_alarms_dropped_total", "counter",
	       "New alarms not recorded because the alarm table was full.");
	fprintf(f, "qkd_alarms_dropped_total %" PRIu64 "\n",
		alarm_dropped_total());
}

/* ---- Mx notifications (mx_notify.h) ------------------------------------ */

static void notify_metrics(FILE *f, const struct ctl_sources *src)
{
	static const struct { const char *name, *type, *help; } fam[] = {
		{ "qkd_mx_notify_events_total", "counter",
		  "Alarm events made for a [manager] with notify (its last seq)." },
		{ "qkd_mx_notify_delivered_total", "counter",
		  "Alarm events its receiver took (HTTP 2xx)." },
		{ "qkd_mx_notify_dropped_total", "counter",
		  "Alarm events dropped, oldest first, from a full queue while its receiver was away." },
		{ "qkd_mx_notify_queued", "gauge",
		  "Alarm events waiting for its receiver." },
		{ "qkd_mx_notify_failures", "gauge",
		  "Failed delivery attempts in a row (3 raise the alarm manager:NAME)." },
	};
	size_t n = mx_notify_count(src->notify);
	struct mx_notify_info ni;

	for (size_t k = 0; n && k < sizeof(fam) / sizeof(fam[0]); k++) {
		family(f, fam[k].name, fam[k].type, fam[k].help);
		for (size_t i = 0; i < n; i++) {
			uint64_t v;

			if (mx_notify_info(src->notify, i, &ni))
				continue;
			v = k == 0 ? ni.events : k == 1 ? ni.delivered :
			    k == 2 ? ni.dropped : k == 3 ? ni.queued :
			    ni.failures;
			fprintf(f, "%s{manager=\"%s\"} %" PRIu64 "\n",
				fam[k].name, esc(ni.manager), v);
		}
	}
}

char *metrics_render(const struct ctl_sources *src, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return NULL;
	node_metrics(f, src);
	link_metrics(f, src);
	peer_metrics(f, src);
	pair_metrics(f, src);
	etsi014_metrics(f, src);
	relay_metrics(f, src);
	consumer_metrics(f);
	alarm_metrics(f);
	notify_metrics(f, src);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*len = size;
	return buf;
}
