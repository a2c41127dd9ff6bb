#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Drive headless Chromium over the DevTools protocol for webview.sh.

The protocol runs over a pipe (--remote-debugging-pipe: Chromium reads
commands on fd 3 and writes answers and events on fd 4, each a JSON text
ended by a NUL byte), so the standard library is enough.

    webview_cdp.py CHROMIUM URL OUTDIR LINK_ID CUT_COMMAND [chromium args]

Loads URL, waits until the page has drawn (its status counts the answers
of /view/v1/network), writes OUTDIR/before.json (every node and link the
DOM shows) and OUTDIR/before.png, runs CUT_COMMAND (a shell command),
then reads the DOM every 100 ms until LINK_ID's data-state is "down" (at
most 20 s) and writes OUTDIR/after.json, with "seconds" taken, and
OUTDIR/after.png.  Exits non-zero if the page never drew.
"""
import base64
import fcntl
import json
import os
import subprocess
import sys
import time

DOM = """(() => {
    const st = document.getElementById('status');
    const links = {};
    for (const l of document.querySelectorAll('#net line.link'))
        links[l.id] = { state: l.dataset.state, level: l.dataset.level,
                        stroke: l.getAttribute('stroke') };
    return { polls: Number(st.dataset.polls || 0), status: st.textContent,
             title: document.getElementById('title').textContent,
             nodes: [...document.querySelectorAll('#net g.node')].map(g => g.id),
             labels: [...document.querySelectorAll('#net g.node text')].map(t => t.textContent),
             links: links,
             alarms: [...document.querySelectorAll('#alarms li')].map(l => l.textContent),
             rates: [...document.querySelectorAll('#chart polyline')].map(p => p.id) };
})()"""


class Browser:
    def __init__(self, argv):
        cmd_r, self.cmd_w = os.pipe()
        self.ans_r, ans_w = os.pipe()

        def fds():
            # Above 10 first: os.dup2() of an fd onto itself would leave
            # it close-on-exec.
            r, w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
                    for fd in (cmd_r, ans_w))
            os.dup2(r, 3)
            os.dup2(w, 4)
        self.proc = subprocess.Popen(argv + ["--remote-debugging-pipe"],
                                     preexec_fn=fds, close_fds=False,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.environ.get("CDP_LOG", os.devnull), "ab"))
        os.close(cmd_r)
        os.close(ans_w)
        self.buf = b""
        self.next_id = 0
        self.session = None

    def call(self, method, params=None, session=True, timeout=20):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        end = time.time() + timeout
        while time.time() < end:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                ans = json.loads(raw)
                if ans.get("id") == self.next_id:
                    if "error" in ans:
                        raise RuntimeError(f"{method}: {ans['error']}")
                    return ans.get("result", {})
            chunk = os.read(self.ans_r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        raise RuntimeError(f"{method}: no answer")

    def dom(self):
        r = self.call("Runtime.evaluate", {"expression": DOM,
                                           "returnByValue": True})
        return r["result"].get("value")

    def shot(self, path):
        r = self.call("Page.captureScreenshot", {"format": "png"})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=5)
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main():
    chromium, url, out, link, cut = sys.argv[1:6]
    b = Browser([chromium] + sys.argv[6:] + ["about:blank"])
    try:
        target = b.call("Target.createTarget", {"url": "about:blank"},
                        session=False)["targetId"]
        b.session = b.call("Target.attachToTarget",
                           {"targetId": target, "flatten": True},
                           session=False)["sessionId"]
        b.call("Page.enable")
        b.call("Emulation.setDeviceMetricsOverride",
               {"width": 1200, "height": 700, "deviceScaleFactor": 1,
                "mobile": False})
        b.call("Page.navigate", {"url": url})
        d = None
        for _ in range(150):	# 15 s
            d = b.dom()
            if d and d["polls"] >= 2:
                break
            time.sleep(0.1)
        with open(os.path.join(out, "before.json"), "w") as f:
            json.dump(d, f)
        if not d or d["polls"] < 2:
            print(f"the page never drew: {d}", file=sys.stderr)
            return 1
        b.shot(os.path.join(out, "before.png"))
        subprocess.run(cut, shell=True, check=True,
                       stdout=subprocess.DEVNULL)
        t0 = time.time()
        while time.time() - t0 < 20:
            d = b.dom()
            if d["links"].get(link, {}).get("state") == "down":
                break
            time.sleep(0.1)
        d["seconds"] = round(time.time() - t0, 2)
        b.shot(os.path.join(out, "after.png"))
        with open(os.path.join(out, "after.json"), "w") as f:
            json.dump(d, f)
        return 0
    finally:
        b.close()


if __name__ == "__main__":
    sys.exit(main())
