// SPDX-License-Identifier: GPL-2.0
/*
 * The web view of the network (Y.3802 7.4, "visualizing the QKDN
 * performance information"), served on the management listener to the
 * managers of role view (webview.h).  The node knows the whole topology
 * from link-state advertisements (routing/lsa.h), so any node can draw
 * it.  The page, its script and its style are compiled in: nothing
 * external is loaded (it works offline), and the Content-Security-Policy
 * allows nothing but this origin.
 *
 *	GET /view			the page
 *	GET /view/app.js, /view/app.css
 *	GET /view/v1/network		{node, time, nodes: [{node, role,
 *					 known}], links: [{a, b, state,
 *					 level, avail_bits}], alarms:
 *					 [{severity, source, text, since}],
 *					 local: [{link, peer, up, rate_bps,
 *					 avail_bits}]}
 *
 * A link is "up" only if both ends advertise it up (a link cut or taken
 * down at one end is down); its level is the lower of the two ends'.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "core/alarm.h"
#include "core/config.h"
#include "kma/kma.h"
#include "kx/kxmsg.h"
#include "routing/lsa.h"
#include "mgmt/ctl.h"
#include "mgmt/mx.h"
#include "mgmt/webview.h"

#define CSP "Content-Security-Policy: default-src 'none'; script-src 'self'; " \
	"style-src 'self'; connect-src 'self'; img-src 'self'; " \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n" \
	"X-Content-Type-Options: nosniff\r\n" \
	"Cache-Control: no-store\r\n"

static const char page_html[] =
"<!DOCTYPE html>\n"
"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<title>QKDN</title>\n"
"<link rel=\"stylesheet\" href=\"/view/app.css\">\n"
"<script src=\"/view/app.js\" defer></script>\n"
"</head><body>\n"
"<header><h1 id=\"title\">QKDN</h1><span id=\"status\">loading</span></header>\n"
"<main><svg id=\"net\" viewBox=\"0 0 800 600\" role=\"img\" aria-label=\"network\"></svg>\n"
"<section><h2>Links</h2><p class=\"legend\"><span class=\"k ready\">ready</span> "
"<span class=\"k low\">low</span> <span class=\"k empty\">empty</span> "
"<span class=\"k down\">down</span></p>\n"
"<h2>Key at this node's links (bits available, last 60 s)</h2>\n"
"<svg id=\"chart\" viewBox=\"0 0 360 120\" role=\"img\" aria-label=\"key available\"></svg>\n"
"<ul id=\"rates\"></ul>\n"
"<h2>Active alarms at this node</h2><ul id=\"alarms\"></ul></section></main>\n"
"</body></html>\n";

static const char app_css[] =
"body{font:14px sans-serif;margin:0;background:#fafafa;color:#222}\n"
"header{display:flex;gap:1em;align-items:baseline;padding:.5em 1em;background:#234;color:#fff}\n"
"h1{font-size:1.2em;margin:0}h2{font-size:1em}\n"
"main{display:flex;gap:1em;padding:1em}\n"
"#net{width:800px;height:600px;background:#fff;border:1px solid #ccc}\n"
"#chart{width:360px;height:120px;background:#fff;border:1px solid #ccc}\n"
"polyline{fill:none;stroke-width:2}\n"
"line{stroke-width:4}line.down{stroke-dasharray:8 6}\n"
"circle{fill:#234;stroke:#fff;stroke-width:2}circle.unknown{fill:#999}\n"
"text{fill:#fff;font-weight:bold;text-anchor:middle;dominant-baseline:central}\n"
".k{padding:0 .4em;color:#fff}.ready{background:#2ca02c}.low{background:#ff7f0e}\n"
".empty{background:#8c564b}.down{background:#d62728}\n"
"li.critical,li.major{color:#b00}\n";

/* Colours here and in the CSS legend; the test reads them back. */
static const char app_js[] =
"'use strict';\n"
"const NS = 'http://www.w3.org/2000/svg';\n"
"const COLOUR = { ready: '#2ca02c', low: '#ff7f0e', warning: '#ff7f0e',\n"
"\t\tempty: '#8c564b', down: '#d62728' };\n"
"const PALETTE = ['#1f77b4', '#9467bd', '#17becf', '#e377c2', '#bcbd22',\n"
"\t\t '#7f7f7f'];\n"
"const history = {};\n"
"let polls = 0;\n"
"function el(name, attrs) {\n"
"\tconst e = document.createElementNS(NS, name);\n"
"\tfor (const k in attrs) e.setAttribute(k, attrs[k]);\n"
"\treturn e;\n"
"}\n"
"function place(nodes) {\n"
"\tconst pos = {}, n = nodes.length;\n"
"\tnodes.forEach((nd, i) => {\n"
"\t\tconst a = 2 * Math.PI * i / Math.max(n, 1) - Math.PI / 2;\n"
"\t\tpos[nd.node] = [400 + 250 * Math.cos(a), 300 + 250 * Math.sin(a)];\n"
"\t});\n"
"\treturn pos;\n"
"}\n"
"function draw(net) {\n"
"\tnet.nodes.sort((x, y) => x.node < y.node ? -1 : x.node > y.node);\n"
"\tconst svg = document.getElementById('net'), pos = place(net.nodes);\n"
"\tdocument.getElementById('title').textContent = 'QKDN seen from ' + net.node;\n"
"\tsvg.replaceChildren();\n"
"\tfor (const l of net.links) {\n"
"\t\tconst p = pos[l.a], q = pos[l.b];\n"
"\t\tif (!p || !q) continue;\n"
"\t\tconst key = l.state === 'up' ? l.level : 'down';\n"
"\t\tconst line = el('line', { id: 'link-' + l.a + '-' + l.b,\n"
"\t\t\tclass: 'link ' + l.state, x1: p[0], y1: p[1], x2: q[0], y2: q[1],\n"
"\t\t\tstroke: COLOUR[key] || '#7f7f7f', 'data-state': l.state,\n"
"\t\t\t'data-level': l.level });\n"
"\t\tconst t = el('title', {});\n"
"\t\tt.textContent = l.a + ' - ' + l.b + ': ' + l.state + ', ' + l.level +\n"
"\t\t\t', ' + l.avail_bits + ' bits';\n"
"\t\tline.appendChild(t);\n"
"\t\tsvg.appendChild(line);\n"
"\t}\n"
"\tfor (const nd of net.nodes) {\n"
"\t\tconst p = pos[nd.node], g = el('g', { id: 'node-' + nd.node,\n"
"\t\t\tclass: 'node', 'data-role': nd.role });\n"
"\t\tg.appendChild(el('circle', { cx: p[0], cy: p[1], r: 20,\n"
"\t\t\tclass: nd.known ? 'known' : 'unknown' }));\n"
"\t\tconst t = el('text', { x: p[0], y: p[1] });\n"
"\t\tt.textContent = nd.node;\n"
"\t\tg.appendChild(t);\n"
"\t\tsvg.appendChild(g);\n"
"\t}\n"
"\tconst ul = document.getElementById('alarms');\n"
"\tul.replaceChildren();\n"
"\tfor (const a of net.alarms) {\n"
"\t\tconst li = document.createElement('li');\n"
"\t\tli.className = a.severity;\n"
"\t\tli.textContent = a.severity + ' ' + a.source + ': ' + a.text;\n"
"\t\tul.appendChild(li);\n"
"\t}\n"
"}\n"
"function chart(local) {\n"
"\tconst svg = document.getElementById('chart'), ul = document.getElementById('rates');\n"
"\tsvg.replaceChildren();\n"
"\tul.replaceChildren();\n"
"\tlet max = 1;\n"
"\tfor (const l of local) {\n"
"\t\tconst h = history[l.link] = (history[l.link] || []).concat([l.avail_bits]).slice(-60);\n"
"\t\tmax = Math.max(max, ...h);\n"
"\t}\n"
"\tlocal.forEach((l, i) => {\n"
"\t\tconst colour = PALETTE[i % PALETTE.length], h = history[l.link];\n"
"\t\tconst pts = h.map((v, k) => (k * 6) + ',' + (115 - 110 * v / max).toFixed(1));\n"
"\t\tsvg.appendChild(el('polyline', { id: 'rate-' + l.link, stroke: colour,\n"
"\t\t\tpoints: pts.join(' ') }));\n"
"\t\tconst li = document.createElement('li');\n"
"\t\tli.style.color = colour;\n"
"\t\tli.textContent = l.link + ' to ' + l.peer + ': ' + (l.up ? 'up' : 'down') +\n"
"\t\t\t', ' + l.avail_bits + ' bits, ' + l.rate_bps + ' bit/s';\n"
"\t\tul.appendChild(li);\n"
"\t});\n"
"}\n"
"async function poll() {\n"
"\tconst st = document.getElementById('status');\n"
"\ttry {\n"
"\t\tconst r = await fetch('/view/v1/network', { cache: 'no-store' });\n"
"\t\tif (!r.ok) throw new Error('HTTP ' + r.status);\n"
"\t\tconst net = await r.json();\n"
"\t\tdraw(net);\n"
"\t\tchart(net.local);\n"
"\t\tpolls++;\n"
"\t\tst.textContent = 'live';\n"
"\t\tst.dataset.polls = polls;\n"
"\t} catch (e) {\n"
"\t\tst.textContent = 'no answer: ' + e.message;\n"
"\t}\n"
"\tsetTimeout(poll, 1000);\n"
"}\n"
"poll();\n";

bool webview_owns(const char *path)
{
	return !strcmp(path, "/view") || !strncmp(path, "/view/", 6);
}

static const char *level_name(uint8_t level)
{
	static const char *const names[] = { "empty", "warning", "low",
					     "ready" };

	return level < 4 ? names[level] : "empty";
}

static const char *role_name(uint8_t role)
{
	static const char *const names[] = { "node", "user", "access",
					     "relay" };

	return role <= NODE_ROLE_RELAY ? names[role] : "?";
}

struct end {
	char a[KM_NAME_MAX], b[KM_NAME_MAX];	/* a < b */
	bool seen_a, seen_b;			/* advertised by a, by b */
	bool up;				/* by every end that did */
	uint8_t level;
	uint64_t avail_bits;
};

static struct end *end_get(struct end *e, size_t *n, const char *x,
			   const char *y)
{
	const char *a = strcmp(x, y) < 0 ? x : y, *b = a == x ? y : x;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp(e[i].a, a) && !strcmp(e[i].b, b))
			return &e[i];
	memset(&e[*n], 0, sizeof(e[*n]));
	snprintf(e[*n].a, KM_NAME_MAX, "%s", a);
	snprintf(e[*n].b, KM_NAME_MAX, "%s", b);
	e[*n].up = true;
	e[*n].level = 3;
	e[*n].avail_bits = UINT64_MAX;
	return &e[(*n)++];
}

static bool node_listed(json_t *nodes, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(nodes, i, v)
		if (!strcmp(json_string_value(json_object_get(v, "node")), name))
			return true;
	return false;
}

/* This node's own links, for the chart: the key its pools hold. */
static json_t *local_json(const struct kma *kma)
{
	size_t n = kma ? kma_link_count(kma) : 0;
	struct kma_link_info *li = malloc(sizeof(*li));
	json_t *arr = json_array();

	for (size_t i = 0; li && arr && i < n; i++)
		if (!kma_link_info(kma, i, li))
			json_array_append_new(arr, json_pack(
				"{s:s, s:s, s:b, s:I, s:I}", "link", li->name,
				"peer", li->peer, "up", li->up, "rate_bps",
				(json_int_t)li->rate_bps, "avail_bits",
				(json_int_t)(li->avail * 8)));
	free(li);
	return arr;
}

static json_t *network_json(const struct ctl_sources *src)
{
	struct lsa_node_info *n = malloc(sizeof(*n));
	json_t *nodes = json_array(), *links = json_array();
	json_t *alarms = json_array();
	struct end *ends = NULL;
	size_t n_ends = 0, cap = 0;
	struct alarm_info a;

	for (size_t i = 0; n && src->lsa && !lsa_node_info(src->lsa, i, n); i++) {
		struct end *grown = realloc(ends, (cap + n->n_links) *
					    sizeof(*ends));

		if (!grown)
			break;
		ends = grown;
		cap += n->n_links;
		json_array_append_new(nodes, json_pack("{s:s, s:s, s:b}",
			"node", n->node, "role", role_name(n->role),
			"known", 1));
		for (uint32_t j = 0; j < n->n_links; j++) {
			const struct kxmsg_lsa_link *l = &n->links[j];
			struct end *e = end_get(ends, &n_ends, n->node, l->peer);

			*(strcmp(e->a, n->node) ? &e->seen_b : &e->seen_a) = true;
			e->up = e->up && l->up;
			if (l->level < e->level)
				e->level = l->level;
			if (l->avail_bits < e->avail_bits)
				e->avail_bits = l->avail_bits;
		}
	}
	free(n);
	for (size_t i = 0; i < n_ends; i++) {
		struct end *e = &ends[i];

		/* A peer known only from its neighbours' LSAs: dead or gone. */
		if (!node_listed(nodes, e->seen_a ? e->b : e->a))
			json_array_append_new(nodes, json_pack(
				"{s:s, s:s, s:b}", "node",
				e->seen_a ? e->b : e->a, "role", "?",
				"known", 0));
		json_array_append_new(links, json_pack(
			"{s:s, s:s, s:s, s:s, s:I}", "a", e->a, "b", e->b,
			"state", e->up && e->seen_a && e->seen_b ? "up" : "down",
			"level", level_name(e->level), "avail_bits",
			(json_int_t)(e->avail_bits == UINT64_MAX ? 0 :
				     e->avail_bits)));
	}
	free(ends);
	for (size_t i = 0; alarms && i < alarm_count(); i++)
		if (!alarm_info(i, &a))
			json_array_append_new(alarms, json_pack(
				"{s:s, s:s, s:s, s:I}", "severity",
				alarm_severity_name(a.severity), "source",
				a.source, "text", a.text, "since",
				(json_int_t)a.since));
	return json_pack("{s:s, s:I, s:o*, s:o*, s:o*, s:o*}", "node",
			 src->cfg->node.name, "time", (json_int_t)time(NULL),
			 "nodes", nodes, "links", links, "alarms", alarms,
			 "local", local_json(src->kma));
}

static void reply_static(struct mgmt_reply *r, const char *type,
			 const char *text, size_t len)
{
	r->body = malloc(len);
	if (!r->body) {
		mx_error(r, 503, "out of memory");
		return;
	}
	memcpy(r->body, text, len);
	r->len = len;
	r->status = 200;
	r->type = type;
	r->extra = CSP;
}

void webview_handle(const struct ctl_sources *src, const char *cn,
		    const char *method, const char *path, const uint8_t *body,
		    size_t body_len, struct mgmt_reply *r)
{
	const struct manager_cfg *m = mx_manager(src->cfg, cn);
	json_t *j;

	memset(r, 0, sizeof(*r));
	if (!m || m->role != MANAGER_VIEW) {
		mx_error(r, 403, "client certificate CN \"%s\" is not the cert_cn of a [manager] of role view",
			 cn);
		return;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		mx_error(r, 405, "the view is read-only: GET and HEAD only");
		r->extra = "Allow: GET, HEAD\r\n";
		return;
	}
	if (body_len) {
		mx_error(r, 400, "a %s has no body", method);
		return;
	}
	if (!strcmp(path, "/view") || !strcmp(path, "/view/")) {
		reply_static(r, "text/html; charset=utf-8", page_html,
			     sizeof(page_html) - 1);
	} else if (!strcmp(path, "/view/app.js")) {
		reply_static(r, "text/javascript; charset=utf-8", app_js,
			     sizeof(app_js) - 1);
	} else if (!strcmp(path, "/view/app.css")) {
		reply_static(r, "text/css; charset=utf-8", app_css,
			     sizeof(app_css) - 1);
	} else if (!strcmp(path, "/view/v1/network")) {
		j = network_json(src);
		r->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (!r->body) {
			mx_error(r, 503, "out of memory");
			return;
		}
		r->len = strlen(r->body);
		r->status = 200;
		r->type = "application/json";
		r->extra = CSP;
	} else {
		mx_error(r, 404, "no such resource (/view, /view/v1/network)");
	}
}
