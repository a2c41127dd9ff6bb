// SPDX-License-Identifier: GPL-2.0
/*
 * The management listener's routes (mgmt_http.h): one line each.  Apart
 * from the router so that handlers may use its reply helpers without a
 * cycle between the two.
 */
#include <stdlib.h>

#include "mgmt/metrics.h"
#include "mgmt/mgmt_http.h"

#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/* GET /metrics: the exposition text (metrics.h). */
void metrics_get(struct mgmt_req *r)
{
	size_t len = 0;
	char *text = metrics_render(r->src, &len);

	if (!text) {
		mgmt_error(r, 503, "out of memory");
		return;
	}
	mgmt_reply(r, 200, METRICS_CONTENT_TYPE, text, len);
	free(text);
}

const struct mgmt_route mgmt_routes[] = {
	{ "GET",    "/metrics",		 MGMT_ROLE_MONITOR, metrics_get },
	{ "GET",    "/api/v1/saes",	 MGMT_ROLE_MONITOR, provision_sae_list },
	{ "GET",    "/api/v1/saes/{id}", MGMT_ROLE_MONITOR, provision_sae_get },
	{ "POST",   "/api/v1/saes",	 MGMT_ROLE_ADMIN,   provision_sae_add },
	{ "DELETE", "/api/v1/saes/{id}", MGMT_ROLE_ADMIN,   provision_sae_remove },
	{ "GET",    "/api/v1/links",	 MGMT_ROLE_MONITOR, provision_link_list },
	{ "GET",    "/api/v1/links/{name}", MGMT_ROLE_MONITOR, provision_link_get },
	{ "PATCH",  "/api/v1/links/{name}", MGMT_ROLE_ADMIN, provision_link_patch },
	{ "POST",   "/api/v1/links",	 MGMT_ROLE_ADMIN,   provision_link_add },
	{ "DELETE", "/api/v1/links/{name}", MGMT_ROLE_ADMIN, provision_link_remove },
	{ "GET",    "/api/v1/peers",	 MGMT_ROLE_MONITOR, provision_peer_list },
	{ "POST",   "/api/v1/peers",	 MGMT_ROLE_ADMIN,   provision_peer_add },
	{ "DELETE", "/api/v1/peers/{name}", MGMT_ROLE_ADMIN, provision_peer_remove },
	{ "PUT",    "/api/v1/links/{name}/generation", MGMT_ROLE_ADMIN,
	  provision_link_generation },
};

const size_t mgmt_n_routes = sizeof(mgmt_routes) / sizeof(mgmt_routes[0]);
