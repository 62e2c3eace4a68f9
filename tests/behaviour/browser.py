"""browser: a page opened in headless Chromium (Debian's chromium, from
tools/install-deps), as a person would see it.

load() takes a screenshot and returns the DOM after the page's scripts
ran (--virtual-time-budget lets timers such as a dashboard's polling
fire). Each run gets a fresh profile, and every host name but localhost
resolves to nothing, so a page that tried to fetch from elsewhere would
show it (only 127.0.0.1 and localhost are reached). cells() and friends read figures out of the DOM by the names the
pages give them (data-name on rows, data-k on cells, ids)."""

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--mute-audio",
         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , "
         "EXCLUDE 127.0.0.1"]
TIMEOUT = 120


def _run(url, extra, workdir):
    assert CHROMIUM, ("chromium is not installed: run tools/install-deps "
                      "(Debian's chromium package)")
    profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)
    try:
        r = subprocess.run([CHROMIUM] + FLAGS +
                           ["--user-data-dir=" + profile] + extra + [url],
                           capture_output=True, text=True, timeout=TIMEOUT,
                           cwd=workdir)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert r.returncode == 0, "chromium exited %d:\n%s" % (r.returncode,
                                                           r.stderr[-4000:])
    # Chromium exits 0 even when the page did not load.
    assert "Page load failed" not in r.stderr, r.stderr[-4000:]
    return r


def load(url, screenshot, workdir, size=(1280, 900), budget_ms=5000):
    """Screenshot url into the PNG file screenshot; return the DOM as
    Chromium has it once budget_ms of (virtual) time has passed."""
    window = "--window-size=%d,%d" % size
    budget = "--virtual-time-budget=%d" % budget_ms
    _run(url, [window, budget, "--screenshot=" + screenshot,
               "--hide-scrollbars"], workdir)
    assert os.path.getsize(screenshot) > 0, "empty screenshot"
    return _run(url, [window, budget, "--dump-dom"], workdir).stdout


class _Cells(HTMLParser):
    """(table id, row data-name, cell data-k) -> the cell's text; also
    the text under each id, and the <text> of each <svg> under an id."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells = {}
        self.texts = {}
        self.svg = {}
        self.stack = []     # (tag, attrs)
        self.cell = None
        self.buf = []

    def _nearest(self, key, tag=None):
        for t, a in reversed(self.stack):
            if key in a and (tag is None or t == tag):
                return a[key]
        return None

    VOID = ("area", "base", "br", "col", "embed", "hr", "img", "input",
            "link", "meta", "source", "track", "wbr")

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        a = dict(attrs)
        self.stack.append((tag, a))
        if "data-k" in a:
            self.cell = (self._nearest("id", "table") or
                         self._nearest("id"),
                         self._nearest("data-name"), a["data-k"])
            self.buf = []

    def handle_startendtag(self, tag, attrs):
        pass    # <line/>, <rect/>: no text, nothing to close

    def handle_endtag(self, tag):
        if not any(t == tag for t, _ in self.stack):
            return
        while self.stack:
            t, a = self.stack.pop()
            if self.cell is not None and "data-k" in a:
                self.cells[self.cell] = "".join(self.buf).strip()
                self.cell = None
            if t == tag:
                break

    def handle_data(self, data):
        if self.cell is not None:
            self.buf.append(data)
        for t, a in self.stack:
            if "id" in a:
                self.texts[a["id"]] = self.texts.get(a["id"], "") + data
        if self.stack and self.stack[-1][0] == "text":
            for t, a in self.stack:
                if "id" in a:
                    self.svg.setdefault(a["id"], []).append(data.strip())


def _parse(dom):
    p = _Cells()
    p.feed(dom)
    p.close()
    return p


def cells(dom):
    return _parse(dom).cells


def text_of(dom, element_id):
    """The text content of the element with that id ('' when absent)."""
    return " ".join(_parse(dom).texts.get(element_id, "").split())


def svg_texts(dom, element_id):
    """The <text> labels of the chart(s) under the element with that id."""
    return _parse(dom).svg.get(element_id, [])
