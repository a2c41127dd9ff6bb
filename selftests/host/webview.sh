#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Issue 19, the web view (Documentation/qkd/mx-mu.rst): node D of the
# examples/mesh12 topology serves the page; Debian's headless Chromium
# opens it with a client certificate (mutual TLS: an NSS database in a
# throwaway HOME, and the AutoSelectCertificateForUrls policy, which
# Chromium reads only from /etc/chromium/policies/managed: the test adds
# a file there for its own port and removes it at exit), driven over the
# DevTools protocol (webview_cdp.py).  The DOM must show every node and
# link; a link cut at A ("qkdctl link down B") must turn A-B red in D's
# page, which learns it from A's link-state advertisement, within a few
# seconds.  The chart of D's own links is drawn.  Screenshots before and
# after are checked as PNG.
#
#	A - B - C - D
#	| \ |   |   |
#	E - F - G - H
#	|   |   | \ |
#	I - J - K - L
set -u
. "$(dirname "$0")/relay_lib.sh"
QKD_TIMEOUT=${QKD_TIMEOUT:-150}
qkd_setup webview || exit 1
for cmd in chromium certutil pk12util; do
	command -v $cmd >/dev/null && continue
	ok 1 "$cmd is installed (chromium, libnss3-tools: .ci/deps)"
	tap_done
	exit 1
done
EDGES=(A-B B-C C-D E-F F-G G-H I-J J-K K-L A-E B-F C-G D-H E-I F-J G-K H-L A-F G-L)
relay_topo "${EDGES[@]}" || { echo "not ok 1 - configs"; exit 1; }
declare -A MPORT
for i in "${!QKD_NODES[@]}"; do
	n=${QKD_NODES[$i]}
	MPORT[$n]=$((QKD_PORT_BASE + 50 + i))
	printf '[metrics]\nlisten = 127.0.0.1:%s\nclients = prometheus\n\n[manager noc]\ncert_cn = noc-screen\nrole = view\n\n' \
		"${MPORT[$n]}" >> "$QKD_DIR/$n.conf"
done
qkd_cert noc-screen && qkd_cert prometheus || { echo "not ok 1 - certificates"; exit 1; }
URL=https://127.0.0.1:${MPORT[D]}/view

# Chromium's client certificate: an NSS database that also trusts the CA.
export HOME=$QKD_DIR/home
NSSDB=sql:$HOME/.pki/nssdb
mkdir -p "$HOME/.pki/nssdb"
certutil -N -d "$NSSDB" --empty-password &&
certutil -A -d "$NSSDB" -n qkdn-test-ca -t C,, -i "$QKD_DIR/ca.pem" &&
openssl pkcs12 -export -in "$QKD_DIR/noc-screen.pem" -inkey "$QKD_DIR/noc-screen.key" \
	-name noc-screen -passout pass: -out "$QKD_DIR/noc-screen.p12" &&
pk12util -i "$QKD_DIR/noc-screen.p12" -d "$NSSDB" -W '' >/dev/null
ok $? "NSS database with the CA and the client certificate noc-screen"
POLICY_DIR=/etc/chromium/policies/managed
POLICY=$POLICY_DIR/qkdn-webview-test-${MPORT[D]}.json
mkdir -p "$POLICY_DIR" &&
printf '{"AutoSelectCertificateForUrls": ["{\\"pattern\\": \\"https://127.0.0.1:%s\\", \\"filter\\": {\\"ISSUER\\": {\\"CN\\": \\"qkdn test ca\\"}}}"]}\n' \
	"${MPORT[D]}" > "$POLICY"
ok $? "Chromium policy: pick the client certificate for D's port"
trap 'rm -f "$POLICY"; qkd_cleanup' EXIT

t0=$(date +%s)
relay_start_all; ok $? "12 daemons start, every Kx channel up"
diag "start-up took $(($(date +%s) - t0)) s"
relay_wait_route D A; ok $? "D has a route to A (it has A's advertisement)"

# Without a certificate of role view: refused (curl, not Chromium).
r=$(curl -sS --max-time 10 --cacert "$QKD_DIR/ca.pem" --cert "$QKD_DIR/prometheus.pem" \
	--key "$QKD_DIR/prometheus.key" -o /dev/null -w '%{http_code}' "$URL" 2>/dev/null)
[ "$r" = 403 ]; ok $? "a [metrics] client (no role view) gets 403 for the page"
hdr=$(curl -sS --max-time 10 --cacert "$QKD_DIR/ca.pem" --cert "$QKD_DIR/noc-screen.pem" \
	--key "$QKD_DIR/noc-screen.key" -D - -o "$QKD_DIR/page.html" "$URL" 2>/dev/null)
echo "$hdr" | grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" &&
! grep -qiE '(src|href)="(https?:)?//' "$QKD_DIR/page.html"
ok $? "the page has a CSP allowing only its origin, and no external resource"

mkdir -p "$QKD_DIR/shots"
CDP_LOG=$QKD_DIR/chromium.log "$QKD_PY" "$(dirname "$0")/webview_cdp.py" chromium "$URL" \
	"$QKD_DIR/shots" link-A-B "$QKDCTL --socket $QKD_DIR/A.sock link down B" \
	--headless --no-sandbox --disable-gpu --user-data-dir="$QKD_DIR/chromium" \
	--no-first-run --disable-extensions --disable-background-networking
ok $? "Chromium loads D's web view with its client certificate"
[ -s "$QKD_DIR/shots/before.json" ] || { diag "$(tail -n 5 "$QKD_DIR/chromium.log")"; tap_done; exit 1; }

# check FILE EXPR: a Python expression over the DOM snapshot d.
check() {
	"$QKD_PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
edges = sys.argv[3].split()
want_links = {"link-" + "-".join(sorted(e.split("-"))) for e in edges}
want_nodes = {"node-" + n for e in edges for n in e.split("-")}
r = eval(sys.argv[2])
if r is not True:
    print(r)
    sys.exit(1)' "$1" "$2" "${EDGES[*]}"
}
B=$QKD_DIR/shots/before.json A=$QKD_DIR/shots/after.json
check "$B" 'set(d["nodes"]) == want_nodes and len(d["nodes"]) == 12 or sorted(d["nodes"])'
ok $? "the DOM shows all 12 nodes"
check "$B" 'set(d["links"]) == want_links and len(want_links) == 19 or sorted(d["links"])'
ok $? "the DOM shows all 19 links"
check "$B" 'all(l["state"] == "up" for l in d["links"].values()) or d["links"]'
ok $? "every link is up at first"
check "$B" 'sorted(d["rates"]) == ["rate-CD", "rate-DH"] or d["rates"]'
ok $? "the key chart draws D's own links CD and DH"
check "$B" 'd["links"]["link-A-B"]["stroke"] not in ("#d62728", None) or d["links"]["link-A-B"]'
ok $? "A-B is drawn in an up colour ($("$QKD_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["links"]["link-A-B"])' "$B"))"
check "$A" 'd["links"]["link-A-B"]["state"] == "down" and d["links"]["link-A-B"]["stroke"] == "#d62728" or d["links"]["link-A-B"]'
ok $? "after link down at A, D's page draws A-B down in red"
secs=$("$QKD_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$A")
"$QKD_PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 5 else 1)' "$secs"
ok $? "the colour changed within 5 s ($secs s)"
check "$A" 'all(v["state"] == "up" for k, v in d["links"].items() if k != "link-A-B") or d["links"]'
ok $? "every other link stays up"
for f in before after; do
	png=$QKD_DIR/shots/$f.png
	"$QKD_PY" - "$png" <<'PY'
import struct, sys, zlib
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
pos, chunks = 8, []
while pos < len(b):
    n, kind = struct.unpack(">I4s", b[pos:pos + 8])
    data, crc = b[pos + 8:pos + 8 + n], struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])[0]
    assert zlib.crc32(kind + data) == crc, f"bad CRC in {kind}"
    chunks.append(kind)
    pos += 12 + n
w, h = struct.unpack(">II", b[16:24])
assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and b"IDAT" in chunks
assert w >= 800 and h >= 600, (w, h)
PY
	ok $? "screenshot $f.png is a valid PNG (signature, chunk CRCs, size)"
done
cmp -s "$QKD_DIR/shots/before.png" "$QKD_DIR/shots/after.png"
[ $? = 1 ]; ok $? "the screenshots differ"
tap_done
