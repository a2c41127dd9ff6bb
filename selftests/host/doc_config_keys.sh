#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Every configuration key the documentation names is one the daemon's
# config parser accepts, and every key the parser accepts is documented in
# Documentation/qkd/config.rst and in qkdkmd.conf(5) (a ".TP" term, ".B key",
# under a ".SH [section]" heading).
#
# The parser's table is read from its source (daemon/config.c, or
# daemon/*/config.c): the NULL-terminated "static const char *const
# X_keys[]" arrays, tied to section names through on_key()'s
# "case SEC_...: mark_seen(p, key, X_keys)" and begin_section()'s
# header comparisons.  If that shape changes, the first test fails and
# says so rather than passing on an empty table.
#
# In the documentation a key is named by:
#   - a definition-list term of config.rst (a line starting with ``key``)
#     under a "[section]" heading, or after a term that starts with
#     ``[section ...]``;
#   - an inline ``[section] key`` or ``[section]`` ``key`` in any .rst,
#     and the keys listed right after it (``a`` (...), ``b`` and ``c``);
#   - an inline ``key = value`` (a key of some section);
#   - a "key = value" line after a "[section]" line in a literal block of
#     any .rst, and in every examples/*/*.conf.
# Sections: [node] [tls] [etsi014] [kx] [ipsec] singletons; [peer NAME]
# [link NAME] [sae NAME] [macsec NAME] [wireguard NAME] [ipsec NAME] named.
set -u
. "$(dirname "$0")/lib.sh"

report=$("$QKD_PY" - "$QKD_TOP" <<'EOF'
import glob, os, re, sys

top = sys.argv[1]
out = []

def emit(ok, name, why=()):
    out.append(("ok" if ok else "not ok", name, list(why)))

# ---- the parser's table ----------------------------------------------------

def parser_table():
    paths = sorted(glob.glob(os.path.join(top, "daemon/*/config.c")) +
                   glob.glob(os.path.join(top, "daemon/config.c")))
    if len(paths) != 1:
        return None, "expected one daemon/config.c or daemon/*/config.c, found %d" % len(paths)
    path = paths[0]
    src = open(path, encoding="utf-8").read()
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    src = re.sub(r"//[^\n]*", " ", src)
    arrays = {}
    for m in re.finditer(r"static\s+const\s+char\s*\*\s*const\s+(\w+_keys)\s*\[\s*\]\s*=\s*\{(.*?)\}\s*;",
                         src, re.S):
        body = m.group(2)
        if not re.search(r"\bNULL\s*,?\s*$", body.strip()):
            return None, "%s: %s is not NULL-terminated" % (path, m.group(1))
        arrays[m.group(1)] = re.findall(r'"([^"]+)"', body)
    m = re.search(r"\bon_key\s*\([^)]*\)\s*\{(.*?)\n\}", src, re.S)
    if not m:
        return None, "%s: no on_key()" % path
    kind_array = {}
    for case in re.split(r"\bcase\s+", m.group(1))[1:]:
        k = re.match(r"(SEC_\w+)\s*:", case)
        a = re.search(r"mark_seen\s*\(\s*p\s*,\s*key\s*,\s*(\w+)\s*\)", case)
        if k and a:
            kind_array[k.group(1)] = a.group(1)
    m = re.search(r"\bbegin_section\s*\([^)]*\)\s*\{(.*?)\n\}", src, re.S)
    if not m:
        return None, "%s: no begin_section()" % path
    body = m.group(1)
    sections = {}	# "node", "peer NAME", ... -> set of keys
    for hdr, kind in re.findall(r'strcmp\s*\(\s*hdr\s*,\s*"([a-z0-9]+)"\s*\)\s*\)\s*\{\s*p->kind\s*=\s*(SEC_\w+)', body):
        sections[hdr] = kind
    for typ, kind in re.findall(r'strcmp\s*\(\s*type\s*,\s*"([a-z0-9]+)"\s*\)\s*\)\s*\{.*?p->kind\s*=\s*(SEC_\w+)', body, re.S):
        sections[typ + " NAME"] = kind
    table = {}
    for sec, kind in sections.items():
        arr = kind_array.get(kind)
        if not arr or arr not in arrays or not arrays[arr]:
            return None, "%s: no key table for [%s] (%s)" % (path, sec, kind)
        table[sec] = set(arrays[arr])
    if len(table) < 5:
        return None, "%s: only %d sections found" % (path, len(table))
    return table, os.path.relpath(path, top)

table, where = parser_table()
if table is None:
    emit(False, "the parser's table of sections and keys: " + where)
    table = {}
else:
    emit(True, "the parser's table, from %s: %d sections, %d keys" %
         (where, len(table), sum(len(v) for v in table.values())))

singletons = {s for s in table if " " not in s}
named = {s.split()[0] for s in table if s.endswith(" NAME")}

def section_of(typ, name):
    """Canonical section for [typ] or [typ name]; None if unknown."""
    if typ == "*":	# ``key = value`` without a section: any one
        return "*"
    if name and typ in named:
        return typ + " NAME"
    if not name and typ in singletons:
        return typ
    if typ in named and not name and typ not in singletons:
        return typ + " NAME"	# "[sae] priority": some [sae NAME]
    return None

# ---- the documentation -------------------------------------------------------

KEY = r"[a-z][a-z0-9_]*"
SEC = r"\[([a-z][a-z0-9]*)(?: ([^\]`\n]+))?\]"

def literal_blocks(path, lines, found):
    """key = value lines after a [section] line, in indented blocks."""
    sec = None
    for i, line in enumerate(lines, 1):
        if line.strip() and not line[0].isspace():
            sec = None
            continue
        m = re.match(r"\s+" + SEC + r"\s*(?:[;#].*)?$", line)
        if m:
            sec = (m.group(1), m.group(2), i)
            continue
        m = re.match(r"\s+(" + KEY + r")\s*=(\s|$)", line)
        if m and sec:
            found.append((path, i, sec[0], sec[1], m.group(1)))

def inline(path, text, found):
    """``[sec] key``, ``[sec]`` ``key``, and lists following either."""
    def line_of(off):
        return text.count("\n", 0, off) + 1
    pat = re.compile(r"``" + SEC + r"(?:``\s+``|\s+)(" + KEY + r")\b[^`]*``")
    cont = re.compile(r"(?:\s*\((?:[^()]|\([^()]*\))*\))?(?:,\s+and\s+|,\s+or\s+|,\s+|\s+and\s+|\s+or\s+)``(" + KEY + r")``")
    for m in pat.finditer(text):
        typ, name = m.group(1), m.group(2)
        found.append((path, line_of(m.start()), typ, name, m.group(3)))
        end = m.end()
        while True:
            c = cont.match(text, end)
            if not c:
                break
            found.append((path, line_of(c.start(1)), typ, name, c.group(1)))
            end = c.end()
    # ``key = value``: a key of some section (not a formula: no operators)
    for m in re.finditer(r"``(" + KEY + r") = [\w.:/|\[\] -]+``", text):
        found.append((path, line_of(m.start()), "*", None, m.group(1)))

def config_terms(path, lines, found, documented):
    """Definition-list terms under [section] headings of config.rst."""
    sec = None
    for i, line in enumerate(lines, 1):
        nxt = lines[i] if i < len(lines) else ""
        if line.strip() and re.match(r"^(=+|-+)\s*$", nxt) and len(nxt.strip()) >= len(line.strip()):
            m = re.match(r"^" + SEC, line)
            sec = (m.group(1), m.group(2)) if m else None
            continue
        if not line.startswith("``") or sec is None:
            continue
        m = re.match(r"^``" + SEC + r"``", line)
        if m:
            sec = (m.group(1), m.group(2))
            line = line[m.end():]
        head = line.split(" (", 1)[0]
        for k in re.findall(r"``(" + KEY + r")``", head):
            found.append((path, i, sec[0], sec[1], k))
            s = section_of(sec[0], sec[1])
            if s:
                documented.add((s, k))

found_by_file = {}
documented = set()
docs = sorted(glob.glob(os.path.join(top, "Documentation/**/*.rst"), recursive=True))
for path in docs:
    text = open(path, encoding="utf-8").read()
    lines = text.split("\n")
    rel = os.path.relpath(path, top)
    found = []
    literal_blocks(rel, lines, found)
    inline(rel, text, found)
    if rel.endswith("qkd/config.rst"):
        config_terms(rel, lines, found, documented)
    found_by_file[rel] = found
for path in sorted(glob.glob(os.path.join(top, "examples/*/*.conf"))):
    rel = os.path.relpath(path, top)
    found = []
    sec = None
    for i, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        m = re.match(r"\s*" + SEC + r"\s*(?:[;#].*)?$", line)
        if m:
            sec = (m.group(1), m.group(2), i)
            continue
        m = re.match(r"\s*(" + KEY + r")\s*=", line)
        if m:
            if sec is None:
                found.append((rel, i, "(none)", None, m.group(1)))
            else:
                found.append((rel, i, sec[0], sec[1], m.group(1)))
    found_by_file[rel] = found

if not any(f.endswith("qkd/config.rst") for f in found_by_file):
    emit(False, "Documentation/qkd/config.rst exists")

for rel, found in found_by_file.items():
    bad = []
    for path, line, typ, name, key in found:
        s = section_of(typ, name)
        label = "[%s%s]" % (typ, " " + name if name else "")
        if s is None:
            bad.append("%s:%d: %s %s: no such section" % (path, line, label, key))
        elif s == "*":
            if not any(key in keys for keys in table.values()):
                bad.append("%s:%d: %s: the parser has no such key in any section" % (path, line, key))
        elif key not in table.get(s, ()):
            bad.append("%s:%d: %s %s: the parser has no such key" % (path, line, label, key))
    n = len({(section_of(t, nm), k) for _, _, t, nm, k in found})
    emit(not bad and table != {}, "%s: the %d config key(s) it names exist" % (rel, n), bad)

missing = sorted("[%s] %s" % (s, k) for s in table for k in table[s] if (s, k) not in documented)
emit(not missing and table != {},
     "Documentation/qkd/config.rst documents every key the parser accepts",
     ["not documented: " + m for m in missing])

# ---- the man page: ".SH [section]" headings, ".TP" then ".B key" ----------

def man_terms(path):
    sec, keys, after_tp = None, [], False
    for i, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        m = re.match(r"^\.SH\s+\"?\[(\w+)(?:\s+(\w+))?\]", line)
        if m:
            sec, after_tp = (m.group(1), m.group(2)), False
            continue
        if line.startswith(".SH"):
            sec = None
        if line.startswith(".TP"):
            after_tp = True
            continue
        if after_tp and sec:
            m = re.match(r"^\.B[IR]?\s+(.*)$", line)
            # the unquoted words of ".BR a ", " b " (required)"
            for word in re.sub(r'"[^"]*"', " ", m.group(1) if m else "").split():
                if re.fullmatch(KEY, word):
                    keys.append((i, sec, word))
        after_tp = False
    return keys

man = os.path.join(top, "Documentation/man/qkdkmd.conf.5")
man_keys = man_terms(man) if os.path.exists(man) else []
bad, man_documented = [], set()
for line, (typ, name), key in man_keys:
    s = section_of(typ, name)
    if s is None or s == "*" or key not in table.get(s, ()):
        bad.append("Documentation/man/qkdkmd.conf.5:%d: [%s] %s: the parser has no such key" % (line, typ, key))
    else:
        man_documented.add((s, key))
emit(not bad and man_keys != [], "qkdkmd.conf(5): the %d config key(s) it names exist" % len(man_keys), bad)
missing = sorted("[%s] %s" % (s, k) for s in table for k in table[s] if (s, k) not in man_documented)
emit(not missing and table != {},
     "qkdkmd.conf(5) documents every key the parser accepts",
     ["not documented: " + m for m in missing])

for status, name, why in out:
    print("%s\t%s" % (status, name))
    for w in why:
        print("#\t" + w)
EOF
)
[ -n "$report" ] || { echo "not ok 1 - the checker ran"; echo "1..1"; exit 1; }

while IFS=$'\t' read -r status rest; do
	case $status in
	ok) ok 0 "$rest" ;;
	"not ok") ok 1 "$rest" ;;
	"#") diag "  $rest" ;;
	esac
done <<<"$report"
tap_done
