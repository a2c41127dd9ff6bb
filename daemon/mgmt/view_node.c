// SPDX-License-Identifier: GPL-2.0
/*
 * The node's views (view.h): "status" and the Kx peers ("peer show").
 */
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "kma/kma.h"
#include "kx/peer.h"
#include "mgmt/view.h"

json_t *view_status(const struct qkd_config *cfg, const struct kma *kma,
		    const struct peers *peers, uint64_t uptime_s,
		    time_t started, bool memory_locked)
{
	size_t n_links = kma ? kma_link_count(kma) : 0;
	size_t i, up = 0, peers_up = 0, n_peers;
	struct kma_link_info li;
	struct peer_info pi;

	for (i = 0; i < n_links; i++)
		if (!kma_link_info(kma, i, &li) && li.up)
			up++;
	n_peers = peers ? peers_count(peers) : 0;
	for (i = 0; i < n_peers; i++)
		if (!peers_info(peers, i, &pi) && pi.state == PEER_UP)
			peers_up++;
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:b}",
			 "node", cfg->node.name,
			 "pid", (json_int_t)getpid(),
			 "uptime_s", (json_int_t)uptime_s,
			 "started", (json_int_t)started,
			 "links", (json_int_t)n_links,
			 "links_up", (json_int_t)up,
			 "peers", (json_int_t)n_peers,
			 "peers_up", (json_int_t)peers_up,
			 "saes", (json_int_t)cfg->n_saes,
			 "etsi014", cfg->etsi_listen,
			 "kx", cfg->kx_listen,
			 "log_level", config_log_level_name(log_get_level()),
			 "memory_locked", memory_locked);
}

json_t *view_peer_json(const struct peer_info *p)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:i, s:s, s:I, s:I}",
			 "peer", p->name, "address", p->address,
			 "cert_cn", p->cert_cn,
			 "state", peer_state_name(p->state),
			 "epoch", (json_int_t)p->epoch,
			 "connects", (json_int_t)p->connects,
			 "sent", (json_int_t)p->msgs_sent,
			 "received", (json_int_t)p->msgs_received,
			 "queued", (int)p->queued,
			 "last_error", p->last_error,
			 "deaths", (json_int_t)p->deaths,
			 "probes", (json_int_t)p->probes);
}

json_t *view_peers(const struct peers *peers)
{
	size_t n = peers ? peers_count(peers) : 0;
	json_t *arr = json_array();
	struct peer_info pi;

	for (size_t i = 0; arr && i < n; i++)
		if (!peers_info(peers, i, &pi))
			json_array_append_new(arr, view_peer_json(&pi));
	return arr;
}
