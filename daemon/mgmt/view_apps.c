// SPDX-License-Identifier: GPL-2.0
/*
 * The consumers' views (view.h), from apps/ipsec/ipsec.h and
 * apps/macsec/macsec.h.  Key IDs, SPIs, SCIs and counters: never keys.
 *
 *	"sa show":     {reqid_min, reqid_max, "pairs": [{gateway, peer, reqid,
 *			mode, role, state, generation, rekeys, lifetime_s,
 *			(spi_in, spi_out, key_id_in, key_id_out, age_ms),
 *			(next_rekey_ms), alarm}], acquires, unknown_acquires,
 *			foreign_acquires}
 *	"macsec show": [{port, interface, peer, link, owner, sci, peer_sci,
 *			state, an, (key_id), rotations, failures,
 *			last_rotation_age_ms, tx_pn, rotate_s, key_len,
 *			last_error}]
 *	"wireguard show": [{name, interface, public_key, peer, link, owner,
 *			state, (key_id), age_ms, next_rotation_ms, rotations,
 *			failures, last_gap_us, max_gap_us, rotate_s,
 *			last_error}]
 *	"strongswan show": [{name, connection, ppk_id, peer, link, owner,
 *			state, (key_id, secret_id), age_ms, next_rotation_ms,
 *			rotations, failures, reauths, initiations,
 *			last_gap_us, max_gap_us, rotate_s, last_error}]
 */
#include <inttypes.h>
#include <stdio.h>

#include "apps/ipsec/ipsec.h"
#include "apps/macsec/macsec.h"
#include "apps/wireguard/wireguard.h"
#include "apps/strongswan/strongswan.h"
#include "mgmt/view.h"

/* ---- IPsec SA pairs ----------------------------------------------------- */

json_t *view_ipsec_pair_json(const struct ipsec_pair_info *p)
{
	char spi_in[16], spi_out[16], k_in[24], k_out[24];
	json_t *o;

	o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:I}",
		      "gateway", p->gateway, "peer", p->peer,
		      "reqid", (json_int_t)p->reqid,
		      "mode", p->tunnel ? "tunnel" : "transport",
		      "role", p->owner ? "owner" : "follower",
		      "state", ipsec_pair_state_name(p->state),
		      "generation", (json_int_t)(p->installed ? p->generation : 0),
		      "rekeys", (json_int_t)p->rekeys,
		      "lifetime_s", (json_int_t)p->lifetime_s);
	if (!o)
		return NULL;
	if (p->installed) {
		snprintf(spi_in, sizeof(spi_in), "0x%08x", p->spi_in);
		snprintf(spi_out, sizeof(spi_out), "0x%08x", p->spi_out);
		snprintf(k_in, sizeof(k_in), "0x%" PRIx64, p->key_id_in);
		snprintf(k_out, sizeof(k_out), "0x%" PRIx64, p->key_id_out);
		json_object_set_new(o, "spi_in", json_string(spi_in));
		json_object_set_new(o, "spi_out", json_string(spi_out));
		json_object_set_new(o, "key_id_in", json_string(k_in));
		json_object_set_new(o, "key_id_out", json_string(k_out));
		json_object_set_new(o, "age_ms",
				    json_integer((json_int_t)p->age_ms));
	}
	if (p->owner && p->state == IPSEC_PAIR_UP)
		json_object_set_new(o, "next_rekey_ms",
				    json_integer((json_int_t)p->next_rekey_ms));
	json_object_set_new(o, "alarm", json_boolean(p->alarm));
	return o;
}

json_t *view_ipsec_json(const struct ipsec_info *i, json_t *pairs)
{
	return json_pack("{s:I, s:I, s:o, s:I, s:I, s:I}",
			 "reqid_min", (json_int_t)i->reqid_min,
			 "reqid_max", (json_int_t)i->reqid_max,
			 "pairs", pairs,
			 "acquires", (json_int_t)i->acquires,
			 "unknown_acquires", (json_int_t)i->unknown_acquires,
			 "foreign_acquires", (json_int_t)i->foreign_acquires);
}

static int pair_one(void *arg, const struct ipsec_pair_info *p)
{
	json_array_append_new(arg, view_ipsec_pair_json(p));
	return 0;
}

json_t *view_ipsec(const struct ipsec *ips)
{
	struct ipsec_info info = { 0 };
	json_t *pairs = json_array();

	if (!pairs)
		return NULL;
	/* No [ipsec] gateways: an empty view, as "macsec show" has. */
	if (!ips)
		return json_pack("{s:o}", "pairs", pairs);
	ipsec_info(ips, &info);
	ipsec_foreach_pair(ips, pair_one, pairs);
	return view_ipsec_json(&info, pairs);
}

/* ---- MACsec ports ------------------------------------------------------- */

json_t *view_macsec_port_json(const struct macsec_port_info *p)
{
	char sci[20], peer_sci[20], key_id[20];

	snprintf(sci, sizeof(sci), "%016" PRIx64, p->sci);
	snprintf(peer_sci, sizeof(peer_sci), "%016" PRIx64, p->peer_sci);
	snprintf(key_id, sizeof(key_id), "%" PRIx64, p->key_id);
	/* No SAK yet: an -1, no key_id, last_rotation_age_ms -1. */
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:i, s:s*, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			 "port", p->name, "interface", p->ifname,
			 "peer", p->peer, "link", p->link,
			 "owner", p->owner, "sci", sci,
			 "peer_sci", p->peer_sci ? peer_sci : "",
			 "state", macsec_port_state_name(p->state),
			 "an", p->have_sak ? (int)p->an : -1,
			 "key_id", p->have_sak ? key_id : NULL,
			 "rotations", (json_int_t)p->rotations,
			 "failures", (json_int_t)p->failures,
			 "last_rotation_age_ms", p->have_sak ?
			 (json_int_t)p->last_rotation_age_ms : -1,
			 "tx_pn", (json_int_t)p->tx_pn,
			 "rotate_s", (json_int_t)p->rotate_s,
			 "key_len", (json_int_t)p->key_len,
			 "last_error", p->last_error);
}

json_t *view_macsec(const struct macsec *ms)
{
	size_t n = macsec_port_count(ms);
	json_t *arr = json_array();
	struct macsec_port_info p;

	for (size_t i = 0; arr && i < n; i++)
		if (!macsec_port_info(ms, i, &p))
			json_array_append_new(arr, view_macsec_port_json(&p));
	return arr;
}

/* ---- WireGuard peers ---------------------------------------------------- */

json_t *view_wireguard_json(const struct wireguard_info *w)
{
	char key_id[20];

	snprintf(key_id, sizeof(key_id), "%" PRIx64, w->rot.key_id);
	/* No QKD PSK yet: no key_id, age_ms -1. */
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s*, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			 "name", w->name, "interface", w->ifname,
			 "public_key", w->public_key, "peer", w->peer,
			 "link", w->link, "owner", w->rot.owner,
			 "state", rotate_state_name(w->rot.state),
			 "key_id", w->rot.have_key ? key_id : NULL,
			 "age_ms", w->rot.have_key ? (json_int_t)w->rot.age_ms : -1,
			 "next_rotation_ms", (json_int_t)w->rot.next_rotation_ms,
			 "rotations", (json_int_t)w->rot.rotations,
			 "failures", (json_int_t)w->rot.failures,
			 "last_gap_us", (json_int_t)w->rot.last_gap_us,
			 "max_gap_us", (json_int_t)w->rot.max_gap_us,
			 "rotate_s", (json_int_t)w->rot.rotate_s,
			 "last_error", w->rot.last_error);
}

json_t *view_wireguard(const struct wireguard *wg)
{
	size_t n = wireguard_count(wg);
	json_t *arr = json_array();
	struct wireguard_info w;

	for (size_t i = 0; arr && i < n; i++)
		if (!wireguard_info(wg, i, &w))
			json_array_append_new(arr, view_wireguard_json(&w));
	return arr;
}

/* ---- strongSwan connections --------------------------------------------- */

json_t *view_strongswan_json(const struct strongswan_info *w)
{
	char key_id[20];

	snprintf(key_id, sizeof(key_id), "%" PRIx64, w->rot.key_id);
	/* No QKD PPK yet: no key_id nor secret_id, age_ms -1. */
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s*, s:s*, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			 "name", w->name, "connection", w->connection,
			 "ppk_id", w->ppk_id, "peer", w->peer,
			 "link", w->link, "owner", w->rot.owner,
			 "state", rotate_state_name(w->rot.state),
			 "key_id", w->rot.have_key ? key_id : NULL,
			 "secret_id", w->rot.have_key ? w->secret_id : NULL,
			 "age_ms", w->rot.have_key ? (json_int_t)w->rot.age_ms : -1,
			 "next_rotation_ms", (json_int_t)w->rot.next_rotation_ms,
			 "rotations", (json_int_t)w->rot.rotations,
			 "failures", (json_int_t)w->rot.failures,
			 "reauths", (json_int_t)w->reauths,
			 "initiations", (json_int_t)w->initiations,
			 "last_gap_us", (json_int_t)w->rot.last_gap_us,
			 "max_gap_us", (json_int_t)w->rot.max_gap_us,
			 "rotate_s", (json_int_t)w->rot.rotate_s,
			 "last_error", w->rot.last_error);
}

json_t *view_strongswan(const struct strongswan *s)
{
	size_t n = strongswan_count(s);
	json_t *arr = json_array();
	struct strongswan_info w;

	for (size_t i = 0; arr && i < n; i++)
		if (!strongswan_info(s, i, &w))
			json_array_append_new(arr, view_strongswan_json(&w));
	return arr;
}
