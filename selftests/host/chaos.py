#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Chaos test driver for qkdkmd (issue 21), run by chaos.sh.

    chaos.py topo SEED N         the random mesh: "X-Y" edges, one a line
    chaos.py run DIR SEED SECONDS TAP_START EDGE...

"run" starts one qkdkmd per node on DIR/NODE.conf (made by chaos.sh with
relay_lib.sh's relay_topo and relay_kx_ips), puts continuous ETSI 014 load
on them (enc_keys at a random node, dec_keys of the key at another, mostly
not a link neighbour so that keys are relayed), and injects faults at
seeded random times: link down (control socket), Kx reset (ss -K), a silent
Kx black hole (ip rule, chaos.sh runs in a network namespace of its own),
SIGKILL + restart and SIGSTOP + SIGCONT of relay and end nodes, a rolling
restart.  Per fault it prints how long until both ends marked the peer
down, until the route moved, and until the first good key pair after it.
At the end it checks: no key_ID or key bytes handed out twice, no
disagreement, every failure a clean ETSI error, no key_ID answered "not
found" delivered later, no crash, no key bytes in the logs; and prints
keys/s, the success ratio and the share of keys lost.  TAP on stdout,
numbered from TAP_START; exit status 0 if every check passed.
"""
import base64, json, os, random, re, signal, subprocess, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qkd_host import Client, ctl, ctx

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
QKDKMD = os.environ.get("QKDKMD", os.path.join(TOP, "daemon/build/qkdkmd"))
WORKERS = int(os.environ.get("CHAOS_WORKERS", "6"))
KINDS = ["blackhole", "sigstop", "kxreset", "linkdown", "sigkill", "rolling"]


def now_ms():
    return int(time.time() * 1000)


def topo(seed, n):
    rnd = random.Random(seed)
    names = [chr(ord("A") + i) for i in range(n)]
    edges = {(i, (i + 1) % n) for i in range(n)}
    want = len(edges) + n // 2
    while len(edges) < want:
        a, b = rnd.sample(range(n), 2)
        if (a, b) in edges or (b, a) in edges:
            continue
        edges.add((a, b))
    return ["%s-%s" % (names[a], names[b]) for a, b in sorted(edges)]


class Mesh:
    def __init__(self, d, edges):
        self.d, self.edges = d, [tuple(e.split("-")) for e in edges]
        self.nodes = []
        for a, b in self.edges:
            for n in (a, b):
                if n not in self.nodes:
                    self.nodes.append(n)
        self.sae = {n: "app%d" % (i + 1) for i, n in enumerate(self.nodes)}
        self.nbr = {n: set() for n in self.nodes}
        for a, b in self.edges:
            self.nbr[a].add(b)
            self.nbr[b].add(a)
        self.etsi, self.kx = {}, {}
        for n in self.nodes:
            sect = None
            for line in open(os.path.join(d, n + ".conf")):
                line = line.strip()
                if line.startswith("["):
                    sect = line
                elif line.startswith("listen = "):
                    (self.etsi if sect == "[etsi014]" else self.kx)[n] = line[9:]
        self.procs, self.exits = {}, []
        self.down = {}		# node -> (from_ms, to_ms or None): excused
        self.lock = threading.Lock()
        self.ctx = {}

    def context(self, sae):
        if sae not in self.ctx:
            self.ctx[sae] = ctx(self.d, sae)
        return self.ctx[sae]

    # ---- daemons ----
    def start(self, n):
        log = open(os.path.join(self.d, n + ".log"), "a")
        self.procs[n] = subprocess.Popen(
            [QKDKMD, "-c", os.path.join(self.d, n + ".conf")],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_ready(self, n, limit=10):
        t0 = time.time()
        while time.time() - t0 < limit:
            try:
                self.ctl(n, {"cmd": "status"})
                return True
            except (OSError, ValueError):
                time.sleep(0.01)
        return False

    def stop(self, n, sig=signal.SIGTERM):
        p = self.procs.get(n)
        if not p:
            return 0
        try:
            p.send_signal(sig)
            if sig == signal.SIGSTOP:
                p.send_signal(signal.SIGCONT)
        except ProcessLookupError:
            pass
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        if sig == signal.SIGTERM:
            self.exits.append((n, rc))
        return rc

    def ctl(self, n, req):
        return ctl(os.path.join(self.d, n + ".sock"), req, 3)

    def path(self, a, b):
        try:
            return self.ctl(a, {"cmd": "path", "to": b}).get("data", {}).get("path", [])
        except (OSError, ValueError):
            return []

    def peer_state(self, a, b):
        try:
            for p in self.ctl(a, {"cmd": "peer show"}).get("data", []):
                if p["peer"] == b:
                    return p["state"]
        except (OSError, ValueError):
            pass
        return "?"

    def excuse(self, n, start):
        with self.lock:
            self.down.setdefault(n, []).append([start, None])

    def unexcuse(self, n):
        with self.lock:
            self.down[n][-1][1] = now_ms() + 2000	# reconnects settle

    def excused(self, n, t):
        """A request to @n that started while it was down, or in the 1.5 s
        before (a dec_keys waits up to 1 s for its key; a daemon stopped
        meanwhile closes the connection without an answer)."""
        with self.lock:
            return any(a - 1500 <= t and (b is None or t <= b)
                       for a, b in self.down.get(n, []))


class Load:
    """Workers: enc_keys at a random node, dec_keys at another."""

    def __init__(self, mesh, seed):
        self.m, self.stop = mesh, threading.Event()
        self.rnd = random.Random(seed + 1)
        self.lock = threading.Lock()
        self.enc = []		# (t, src, dst, key_ID, key)
        self.dec = {}		# key_ID -> (t, status, key or message)
        self.fails = []		# (t, where, node, status, message, excused)
        self.good = []		# (t_done, src, dst)
        self.threads = []

    def pair(self, rnd):
        m = self.m
        src = rnd.choice(m.nodes)
        far = [n for n in m.nodes if n != src and n not in m.nbr[src]]
        if far and rnd.random() < 0.85:
            return src, rnd.choice(far)
        return src, rnd.choice(sorted(m.nbr[src]))

    def fail(self, t, where, node, st, body):
        try:
            msg = json.loads(body).get("message", "")
        except ValueError:
            msg = ""
        clean = st in (400, 401, 503) and msg != ""
        excused = not clean and self.m.excused(node, t)
        with self.lock:
            self.fails.append((t, where, node, st, msg, clean or excused))

    def one(self, rnd, clients, src=None, dst=None):
        m = self.m
        if src is None:
            src, dst = self.pair(rnd)
        ms, ss = m.sae[src], m.sae[dst]
        ce = clients.setdefault((src, ms), Client(m.etsi[src], m.context(ms)))
        cd = clients.setdefault((dst, ss), Client(m.etsi[dst], m.context(ss)))
        t = now_ms()
        st, body = ce.request("GET", "/api/v1/keys/%s/enc_keys?number=1&size=256" % ss)
        if st != 200:
            self.fail(t, "enc", src, st, body)
            return False
        k = json.loads(body)["keys"][0]
        with self.lock:
            self.enc.append((t, src, dst, k["key_ID"], k["key"]))
        req = json.dumps({"key_IDs": [{"key_ID": k["key_ID"]}]})
        t2 = now_ms()
        st, body = cd.request("POST", "/api/v1/keys/%s/dec_keys" % ms, req)
        if st == 200:
            got = json.loads(body)["keys"][0]
            with self.lock:
                self.dec[k["key_ID"]] = (t2, 200, got["key"], got["key_ID"])
                if got["key"] == k["key"]:
                    self.good.append((now_ms(), src, dst))
            return got["key"] == k["key"]
        with self.lock:
            self.dec[k["key_ID"]] = (t2, st, "", "")
        self.fail(t2, "dec", dst, st, body)
        return False

    def worker(self, i):
        rnd = random.Random(self.rnd.random() + i)
        clients = {}
        while not self.stop.is_set():
            self.one(rnd, clients)
            time.sleep(0.01)

    def start(self):
        for i in range(WORKERS):
            t = threading.Thread(target=self.worker, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)


class Faults:
    def __init__(self, mesh, load, seed, seconds):
        self.m, self.load = mesh, load
        self.rnd = random.Random(seed + 2)
        self.seconds = seconds
        self.report = []

    def relayed_path(self):
        """A path of 3+ nodes some pair uses now (src, dst, path)."""
        m = self.m
        for _ in range(50):
            src = self.rnd.choice(m.nodes)
            far = [n for n in m.nodes if n not in m.nbr[src] and n != src]
            if not far:
                continue
            dst = self.rnd.choice(far)
            p = m.path(src, dst)
            if len(p) >= 3 and all(n in m.procs for n in p):
                return src, dst, p
        return None, None, []

    def probe(self, src, dst, t0, limit_ms=15000):
        """ms from t0 to the first good key pair src -> dst."""
        clients, rnd = {}, random.Random(1)
        while now_ms() - t0 < limit_ms:
            if self.load.one(rnd, clients, src, dst):
                return now_ms() - t0
            time.sleep(0.02)
        return None

    def watch_route(self, src, dst, bad, t0, out, limit_ms=5000):
        """ms until src's path to dst no longer uses @bad (a set of links
        as frozensets, or of nodes)."""
        while now_ms() - t0 < limit_ms:
            p = self.m.path(src, dst)
            links = {frozenset(x) for x in zip(p, p[1:])}
            if p and not (links & bad) and not (set(p) & bad):
                out["route_ms"] = now_ms() - t0
                return
            time.sleep(0.01)

    def watch_down(self, a, b, t0, out, key, limit_ms=5000):
        while now_ms() - t0 < limit_ms:
            if self.m.peer_state(a, b) not in ("up", "?"):
                out[key] = now_ms() - t0
                return
            time.sleep(0.01)

    def run_one(self, kind):
        m, rnd = self.m, self.rnd
        src, dst, p = self.relayed_path()
        if not p:
            return {"kind": kind, "skipped": "no relayed path"}
        hold = rnd.uniform(1.0, 3.0)
        r = {"kind": kind, "path": "-".join(p), "hold_s": round(hold, 1)}
        th = []
        if kind in ("blackhole", "kxreset", "linkdown"):
            x, y = p[0], p[1]
            r["target"] = "%s-%s" % (x, y)
            bad = {frozenset((x, y))}
            t0 = now_ms()
            if kind in ("blackhole", "kxreset"):
                for a, b, key in ((x, y, "down_ms_%s" % x), (y, x, "down_ms_%s" % y)):
                    th.append(threading.Thread(target=self.watch_down,
                                               args=(a, b, t0, r, key)))
            th.append(threading.Thread(target=self.watch_route,
                                       args=(src, dst, bad, t0, r)))
            for t in th:
                t.start()
            ka, kb = m.kx[x].rsplit(":", 1)[0], m.kx[y].rsplit(":", 1)[0]
            if kind == "blackhole":
                rule(ka, kb, "add")
            elif kind == "kxreset":
                subprocess.run(["ss", "-K", "(", "src", ka, "and", "dst", kb,
                                ")", "or", "(", "src", kb, "and", "dst", ka, ")"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            else:
                m.ctl(x, {"cmd": "link down", "peer": y})
            r["first_good_ms"] = self.probe(src, dst, t0)
            time.sleep(max(0, hold - (now_ms() - t0) / 1000))
            if kind == "blackhole":
                rule(ka, kb, "del")
            elif kind == "linkdown":
                m.ctl(x, {"cmd": "link up", "peer": y})
        elif kind in ("sigstop", "sigkill"):
            end = rnd.random() < 0.4
            n = p[-1] if end else p[1]
            r["target"] = n + (" (end node)" if end else " (relay node)")
            t0 = now_ms()
            m.excuse(n, t0)
            if not end:
                nb = [q for q in (p[0], p[2])]
                for q in nb:
                    th.append(threading.Thread(target=self.watch_down,
                                               args=(q, n, t0, r, "down_ms_%s" % q)))
                th.append(threading.Thread(target=self.watch_route,
                                           args=(src, dst, {n}, t0, r)))
                for t in th:
                    t.start()
            if kind == "sigstop":
                m.procs[n].send_signal(signal.SIGSTOP)
            else:
                m.procs[n].send_signal(signal.SIGKILL)
                m.procs[n].wait()
            if not end:
                r["first_good_ms"] = self.probe(src, dst, t0)
            time.sleep(max(0, hold - (now_ms() - t0) / 1000))
            t1 = now_ms()
            if kind == "sigstop":
                m.procs[n].send_signal(signal.SIGCONT)
            else:
                m.start(n)
                m.wait_ready(n)
            m.unexcuse(n)
            if end:
                r["first_good_after_end_ms"] = self.probe(src, n, t1)
        else:		# rolling restart of three nodes, one after the other
            ns = rnd.sample(m.nodes, 3)
            r["target"] = ",".join(ns)
            t0 = now_ms()
            for n in ns:
                m.excuse(n, now_ms())
                m.stop(n)
                m.start(n)
                m.wait_ready(n)
                m.unexcuse(n)
                time.sleep(1)
            r["first_good_ms"] = self.probe(src, dst, t0)
        for t in th:
            t.join()
        return r

    def run(self, t_end):
        kinds = []
        while time.time() < t_end - 8:
            if not kinds:
                kinds = KINDS[:]
                self.rnd.shuffle(kinds)
            time.sleep(self.rnd.uniform(2.0, 5.0))
            if time.time() >= t_end - 8:
                break
            kind = kinds.pop()
            r = self.run_one(kind)
            r["t_s"] = round(time.time() - self.t_start, 1)
            self.report.append(r)
            print("# fault %s" % json.dumps(r, sort_keys=True), flush=True)


def rule(a, b, op):
    if op == "add" and "lookup local" not in subprocess.run(
            ["ip", "rule", "show", "pref", "100"], capture_output=True,
            text=True).stdout:
        subprocess.run(["ip", "rule", "add", "pref", "100", "lookup", "local"])
        subprocess.run(["ip", "rule", "del", "pref", "0"])
    for s, d in ((a, b), (b, a)):
        subprocess.run(["ip", "rule", op, "pref", "10", "from", s, "to", d,
                        "blackhole"])


class Tap:
    def __init__(self, n):
        self.n, self.failed = n, 0

    def ok(self, cond, name):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name), flush=True)
        if not cond:
            self.failed += 1


def key_tokens(path):
    toks = set()
    with open(path, errors="replace") as f:
        for line in f:
            toks.update(re.findall(r"[A-Za-z0-9+/]{43}=", line))
            toks.update(re.findall(r"[0-9a-fA-F]{64}", line))
    return toks


def reask(m, ids, threads=16):
    """dec_keys once more for each (src, dst, key_ID): how many answer 200.
    One at a time per connection (all or nothing would hide one), an
    unknown ID waits dec_keys' 1 s: so in parallel."""
    late, lock, todo = [0], threading.Lock(), list(ids)

    def work():
        clients = {}
        while True:
            with lock:
                if not todo:
                    return
                s, dd, i = todo.pop()
            ms, ss = m.sae[s], m.sae[dd]
            c = clients.setdefault((dd, ss), Client(m.etsi[dd], m.context(ss)))
            st, _ = c.request("POST", "/api/v1/keys/%s/dec_keys" % ms,
                              json.dumps({"key_IDs": [{"key_ID": i}]}))
            if st == 200:
                with lock:
                    late[0] += 1
    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return late[0]


def run(d, seed, seconds, tap_start, edges):
    m = Mesh(d, edges)
    tap = Tap(tap_start)
    for n in m.nodes:
        m.start(n)
    ok = all(m.wait_ready(n) for n in m.nodes)
    t0 = time.time()
    while ok and time.time() - t0 < 30:
        st = [m.ctl(n, {"cmd": "status"}) for n in m.nodes]
        if all(s.get("peers") == s.get("peers_up") for s in st):
            break
        time.sleep(0.2)
    tap.ok(ok, "%d daemons up (seed %d, %d links)" % (len(m.nodes), seed, len(edges)))
    time.sleep(3)		# links make key; routes settle
    load = Load(m, seed)
    faults = Faults(m, load, seed, seconds)
    try:
        load.start()
        faults.t_start = time.time()
        t_end = time.time() + seconds
        faults.run(t_end)
        time.sleep(max(0, t_end - time.time()))
        load.finish()
        elapsed = time.time() - faults.t_start
        time.sleep(4)		# late relays land, refusals travel back
        # "Not found" is final: ask again for every key_ID that got it.
        lost_ids = [(s, dd, i) for (t, s, dd, i, k) in load.enc
                    if load.dec.get(i, (0, 0))[1] != 200]
        late = reask(m, lost_ids)
        dead = [n for n in m.nodes if m.procs[n].poll() is not None]
    finally:
        load.stop.set()
        for n in m.nodes:
            if m.procs[n].poll() is None:
                m.stop(n)
        subprocess.run(["ip", "rule", "del", "pref", "10"],
                       stderr=subprocess.DEVNULL)
    # ---- checks ----
    ids = [e[3] for e in load.enc]
    keys = [e[4] for e in load.enc]
    handed = len(load.enc)
    good = len(load.good)
    disagree = sum(1 for (t, s, dd, i, k) in load.enc
                   if load.dec.get(i, (0, 0))[1] == 200 and
                   (load.dec[i][2] != k or load.dec[i][3] != i))
    unclean = [f for f in load.fails if not f[5]]
    lost = len(lost_ids)
    tries = handed + sum(1 for f in load.fails if f[1] == "enc")
    print("# %d key pairs good in %.0f s: %.1f keys/s; %d enc_keys answered, "
          "%d requests failed (%d enc, %d dec)" %
          (good, elapsed, good / elapsed, handed, len(load.fails),
           sum(1 for f in load.fails if f[1] == "enc"),
           sum(1 for f in load.fails if f[1] == "dec")))
    print("# success ratio %.4f (good pairs / enc_keys asked); lost %d of %d "
          "handed out = %.3f %%" % (good / max(tries, 1), lost, handed,
                                    100.0 * lost / max(handed, 1)))
    for f in unclean[:10]:
        print("# unclean failure: %s" % (f,))
    kinds = sorted({r["kind"] for r in faults.report if "skipped" not in r})
    tap.ok(good > 0, "keys flow under faults (%d good pairs)" % good)
    tap.ok(len(set(ids)) == len(ids), "no key_ID handed out twice (%d)" % len(ids))
    tap.ok(len(set(keys)) == len(keys), "no key bytes handed out twice")
    tap.ok(disagree == 0, "no disagreement between enc and dec (%d)" % disagree)
    tap.ok(not unclean, "every failure a clean ETSI error (%d unclean of %d)" %
           (len(unclean), len(load.fails)))
    tap.ok(late == 0, "no key_ID answered \"not found\" delivered later "
           "(%d of %d asked again)" % (late, len(lost_ids)))
    tap.ok(not dead, "no crash: every daemon alive at the end (dead: %s)" %
           (",".join(dead) or "none"))
    bad_exit = [(n, rc) for n, rc in m.exits if rc != 0]
    tap.ok(not bad_exit, "every SIGTERM exit clean (%s)" % (bad_exit or "all 0"))
    secrets = set(keys)
    for k in keys:
        secrets.add(base64.b64decode(k).hex())
    leaked = []
    for n in m.nodes:
        p = os.path.join(d, n + ".log")
        if key_tokens(p) & secrets:
            leaked.append(n)
    tap.ok(not leaked, "no key bytes in any log (%s)" % (",".join(leaked) or "none"))
    sanit = [n for n in m.nodes
             if re.search(r"Sanitizer|runtime error|segfault",
                          open(os.path.join(d, n + ".log"), errors="replace").read())]
    tap.ok(not sanit, "no sanitizer report (%s)" % (",".join(sanit) or "none"))
    tap.ok(set(kinds) == set(KINDS) or seconds < 60,
           "every fault kind injected (%s)" % ",".join(kinds))
    for r in faults.report:
        if r.get("kind") == "blackhole" and "skipped" not in r:
            x, y = r["target"].split("-")
            dx, dy = r.get("down_ms_" + x), r.get("down_ms_" + y)
            rm = r.get("route_ms")
            tap.ok(dx is not None and dy is not None and rm is not None and
                   max(dx, dy, rm) <= 1000,
                   "black hole %s: both ends down (%s, %s ms), route moved "
                   "(%s ms) within 1 s; first good pair %s ms" %
                   (r["target"], dx, dy, rm, r.get("first_good_ms")))
    long_form = seconds >= 300
    if long_form:
        tap.ok(100.0 * lost / max(handed, 1) <= 0.5,
               "lost keys <= 0.5 %% of those handed out (%.3f %%)" %
               (100.0 * lost / max(handed, 1)))
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


def main():
    if sys.argv[1] == "topo":
        print("\n".join(topo(int(sys.argv[2]), int(sys.argv[3]))))
        return 0
    d, seed, seconds, tap_start = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    return run(d, seed, seconds, tap_start, sys.argv[6:])


sys.exit(main())
