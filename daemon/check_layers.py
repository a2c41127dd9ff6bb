#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check that qkdkmd's dependencies point one way (layers.txt).

    check_layers.py [DAEMON_DIR]     TAP on stdout; exit 1 on a violation
    check_layers.py --selftest       plants an upward include and an upward
                                     call in a scratch tree; they must fail

A module is a .c file with its .h (kma/kma.c + kma/kma.h), or a lone
header.  It depends on another module when it includes its header (read
from the sources) or calls or uses one of its symbols (read with nm from
the objects under build/, which "make" leaves there).  Each dependency must
point to the module's own folder or to a folder on a line above it in
layers.txt, and the modules must not depend on each other in a cycle.
"""
import os
import re
import subprocess
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_layers(top):
    """Folder (or "main.c") -> rank, from layers.txt; lower ranks first."""
    rank = {}
    with open(os.path.join(top, "layers.txt")) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            for w in words:
                rank[w] = len(set(rank.values()))
    return rank


def folder_of(module, rank):
    """The layers.txt entry a module belongs to, or None."""
    if module == "main":
        return "main.c"
    best = None
    for d in rank:
        if module.startswith(d + "/") and (best is None or len(d) > len(best)):
            best = d
    return best


def sources(top, rank):
    """Every daemon source outside tests/, as paths relative to @top."""
    out = []
    for d in rank:
        if d == "main.c":
            out.append("main.c")
            continue
        path = os.path.join(top, d)
        for name in sorted(os.listdir(path)) if os.path.isdir(path) else []:
            if name.endswith((".c", ".h")):
                out.append(d + "/" + name)
    return out


def include_edges(top, files):
    """(from module, to module, why) for every include of a daemon header."""
    known = set(files)
    edges = []
    for f in files:
        with open(os.path.join(top, f)) as fh:
            for inc in INCLUDE.findall(fh.read()):
                # "kma/kma.h" from the daemon's top, or "../kma/kma.h"
                # relative to the including file: the same header.
                rel = os.path.normpath(os.path.join(os.path.dirname(f), inc))
                for path in (inc, rel):
                    if path in known:
                        edges.append((f[:-2], path[:-2], "includes " + inc))
                        break
    return edges


def nm(obj, *flags):
    res = subprocess.run(["nm", *flags, obj], capture_output=True,
                         text=True, check=True)
    return [line.split()[-1] for line in res.stdout.splitlines()
            if line.strip()]


def call_edges(top, files):
    """(from, to, why) for every symbol a module's object takes from another."""
    objs = {f[:-2]: os.path.join(top, "build", f[:-2] + ".o")
            for f in files if f.endswith(".c")}
    missing = [o for o in objs.values() if not os.path.exists(o)]
    if missing:
        raise FileNotFoundError("not built: " + ", ".join(missing))
    owner = {}
    for mod, obj in objs.items():
        for sym in nm(obj, "--defined-only", "--extern-only"):
            owner[sym] = mod
    edges = []
    for mod, obj in objs.items():
        for sym in nm(obj, "--undefined-only"):
            if sym in owner and owner[sym] != mod:
                edges.append((mod, owner[sym], "uses " + sym + "()"))
    return edges


def upward(edges, rank):
    """Edges that leave the module's folder for one not below it."""
    bad = []
    for a, b, why in edges:
        fa, fb = folder_of(a, rank), folder_of(b, rank)
        if fa != fb and rank[fb] >= rank[fa]:
            bad.append("%s %s (%s is not below %s)" % (a, why, fb, fa))
    return bad


def cycles(edges):
    """Strongly connected sets of more than one module (Tarjan)."""
    graph = {}
    for a, b, _ in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                found.append(" <-> ".join(sorted(scc)))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def check(top):
    """[(description, [problems])] for the tree at @top."""
    rank = read_layers(top)
    files = sources(top, rank)
    inc = include_edges(top, files)
    calls = call_edges(top, files)
    return [
        ("every include points to its own folder or below", upward(inc, rank)),
        ("every call points to its own folder or below", upward(calls, rank)),
        ("no include or call cycle among the modules", cycles(inc + calls)),
    ]


def tap(results, first=1):
    failed = 0
    for n, (desc, problems) in enumerate(results, first):
        print("%sok %d - layers: %s" % ("not " if problems else "", n, desc))
        for p in problems:
            print("#   " + p)
        failed += bool(problems)
    return failed


def planted_tree(tmp, upward_include, upward_call):
    """A two-folder tree: core/low calls ksa/high, as the flags say."""
    os.makedirs(os.path.join(tmp, "core"))
    os.makedirs(os.path.join(tmp, "ksa"))
    with open(os.path.join(tmp, "layers.txt"), "w") as f:
        f.write("core\nksa\nmain.c\n")
    src = {
        "core/low.h": "int low(void);\n",
        "core/low.c": '#include "core/low.h"\n' +
                      ('#include "ksa/high.h"\n' if upward_include else "") +
                      ("int high(void);\nint low(void) { return high(); }\n"
                       if upward_call else "int low(void) { return 1; }\n"),
        "ksa/high.h": "int high(void);\n",
        "ksa/high.c": '#include "core/low.h"\n#include "ksa/high.h"\n'
                      "int high(void) { return low() + 1; }\n",
        "main.c": '#include "ksa/high.h"\nint main(void) { return high(); }\n',
    }
    for path, text in src.items():
        with open(os.path.join(tmp, path), "w") as f:
            f.write(text)
    for path in [p for p in src if p.endswith(".c")]:
        obj = os.path.join(tmp, "build", path[:-2] + ".o")
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        subprocess.run(["cc", "-c", "-I", tmp, "-o", obj,
                        os.path.join(tmp, path)], check=True)


def selftest():
    """The checker must pass a clean tree and catch each planted edge."""
    cases = [
        ("a clean two-folder tree passes", False, False, None),
        ("a planted upward include fails", True, False, 0),
        ("a planted upward call fails", False, True, 1),
    ]
    failed = 0
    for n, (desc, inc, call, must_fail) in enumerate(cases, 1):
        with tempfile.TemporaryDirectory() as tmp:
            planted_tree(tmp, inc, call)
            results = check(tmp)
        failing = [i for i, (_, problems) in enumerate(results) if problems]
        # A planted edge also closes a cycle (2): both must show.
        ok = failing == ([] if must_fail is None else [must_fail, 2])
        print("%sok %d - layers selftest: %s" % ("" if ok else "not ", n, desc))
        failed += not ok
    return failed


def main():
    if sys.argv[1:] == ["--selftest"]:
        print("1..3")
        return 1 if selftest() else 0
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    print("1..3")
    try:
        results = check(top)
    except (OSError, subprocess.CalledProcessError) as e:
        print("not ok 1 - layers: %s" % e)
        return 1
    return 1 if tap(results) else 0


if __name__ == "__main__":
    sys.exit(main())
