"""The dashboard at GET / on http.listen: the page and its headers, then
the page live in headless Chromium against a running daemon, with known
counts per class, a channel whose queue is held up by a slow command, a
paused channel and a notice waiting for its ack. The DOM is read after
the page's script has polled /v1/status (the figures are put there by the
script only: the served page holds none of them)."""

import os
import re
import time

import pytest

import browser
from sbstatus import ask, http_config, http_request
from sbtest import free_tcp_port, notice, read_jsonl, wait_until

# slow's first command must outlast every test of the module (two
# Chromium runs each, slow on a loaded machine): the stop kills it.
CHANNELS = """
    feed = { type = "file"; path = "feed.jsonl"; };
    slow = { type = "exec"; command = [ "/bin/sh", "-c", "sleep 3000" ];
             timeout = "1h"; concurrency = 1; };
"""
ROUTES = """
    { name = "slow"; match = { source = "slow"; }; channels = [ "slow" ]; },
    { name = "rest"; match = { }; channels = [ "feed" ]; }
"""


@pytest.fixture(scope="module")
def live(sb_module):
    port = free_tcp_port()
    d = sb_module.start(CHANNELS, ROUTES, extra=http_config(port))
    d.port = port
    c = d.client()
    sent = [notice(id="rt-1", priority="high"),
            notice(id="rt-2", priority="urgent"),
            notice(id="b-1"),
            notice(id="ask-1", respond_within="1h", goal="resolve")]
    sent += [notice(id="slow-%d" % i, source="slow", priority="high")
             for i in range(3)]
    for n in sent:
        assert c.request(n)["ok"] is True
    # feed has all four (b-1 in a digest after the 1 s window); then it
    # is paused.
    wait_until(lambda: len(read_jsonl(d.path("feed.jsonl"))) >= 4,
               what="feed deliveries", daemon=d)

    def slow_held():
        st = ask(d.path("status.sock"), "status")
        (slow,) = [ch for ch in st["channels"] if ch["name"] == "slow"]
        return slow["inflight"] == 1 and slow["queued"] == 2
    wait_until(slow_held, what="slow: 1 in flight, 2 queued", daemon=d)
    assert ask(d.path("status.sock"), "pause feed")["ok"] is True
    return d


def test_page_and_headers(live):
    status, headers, body = http_request(live.port, "GET", "/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-store"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]{44}'", csp), csp
    # Self-contained: no file to fetch; /v1/status is the only request.
    assert not re.search(r'(src|href)\s*=|url\(|@import', body)
    assert "fetch('/v1/status'" in body
    status, headers, body = http_request(live.port, "HEAD", "/")
    assert status == 200 and body == ""
    status, _, body = http_request(live.port, "POST", "/")
    assert status == 405
    status, _, body = http_request(live.port, "GET", "/nothing")
    assert status == 404 and "/ (the dashboard)" in body


def test_live_in_chromium(live):
    shot = live.path("dashboard.png")
    dom = browser.load("http://127.0.0.1:%d/" % live.port, shot, live.dir)
    cells = browser.cells(dom)
    # Counts per class, as accepted.
    assert browser.text_of(dom, "realtime") == "5"
    assert browser.text_of(dom, "batch") == "1"
    assert browser.text_of(dom, "interactive") == "1"
    assert browser.text_of(dom, "waiting") == "1"
    # Polled at least twice in the virtual 5 s: rates are there.
    assert re.match(r"^\d+(\.\d)?/s$", browser.text_of(dom, "accept-rate"))
    assert re.match(r"^\d+(\.\d)?/s$",
                    browser.text_of(dom, "deliver-rate"))
    # Channels: state and queue depth.
    assert cells[("channels", "slow", "state")] == "up"
    assert cells[("channels", "slow", "queued")] == "2"
    assert cells[("channels", "slow", "inflight")] == "1"
    assert cells[("channels", "feed", "state")] == "paused"
    assert cells[("channels", "feed", "queued")] == "0"
    # The nearest deadline: ask-1's, an hour from its acceptance.
    assert cells[("escalations", "ask-1", "next")] == "expire"
    assert cells[("escalations", "ask-1", "level")] == "0"
    assert re.match(r"^(5\dm\d\ds|1h00m)$",
                    cells[("escalations", "ask-1", "in")]), cells
    assert browser.text_of(dom, "conn").startswith("live, updated")
    assert os.path.getsize(shot) > 10000


def test_unreachable_daemon_is_said(live, tmp_path):
    # The same page away from its daemon (a file): it says so, and
    # keeps the placeholders rather than stale or made-up figures.
    _, _, body = http_request(live.port, "GET", "/")
    page = tmp_path / "dashboard.html"
    page.write_text(body)
    shot = str(tmp_path / "away.png")
    dom = browser.load("file://%s" % page, shot, str(tmp_path),
                       budget_ms=3000)
    assert browser.text_of(dom, "conn").startswith(
        "cannot reach switchboardd")
    assert browser.text_of(dom, "realtime") == "\u2013"
