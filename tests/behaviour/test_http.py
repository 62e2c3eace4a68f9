"""The HTTP side (SPEC section 6, docs/operations.md) against a real
switchboardd: the routes and their methods, /healthz while channels are
paused and while the spool cannot be written, /v1/status, and ack links
(GET|POST /v1/ack/ID?t=TOKEN): a good token, a bad one, one replayed, one
for another notice, none, and tokens never written to the log.
"""

import json
import os
import socket
import subprocess

from sbstatus import (ack_token, ask, http_config, http_request,
                      write_secret)
from sbtest import (DAEMON, check_ok, free_tcp_port, make_config, make_dir,
                    wait_until)
from sbtest import notice as make_notice
from test_spool import prepare as spool_prepare
from test_spool import prlimit_fsize, spool_rows

FEED = 'feed = { type = "file"; path = "feed.jsonl"; };'
ALL = '{ name = "all"; channels = "feed"; }'


def start(sb, secret=True):
    port = free_tcp_port()
    d = sb.prepare(FEED, ALL, extra=http_config(
        port, "ack.secret" if secret else None))
    if secret:
        write_secret(d.dir)
    d.start()
    d.port = port
    d.sock = d.path("status.sock")
    return d


def get(d, path, method="GET", body=None):
    return http_request(d.port, method, path, body)


def test_routes_methods_and_status(sb):
    d = start(sb)
    status, headers, body = get(d, "/healthz")
    assert (status, body) == (200, "ok\n")
    assert headers["cache-control"] == "no-store"
    status, headers, body = get(d, "/metrics", "HEAD")
    assert status == 200 and body == ""
    status, headers, body = get(d, "/v1/status")
    assert status == 200 and headers["content-type"] == "application/json"
    web = json.loads(body)
    sock = ask(d.sock, "status")
    for k in ("ok", "version", "pid", "config", "channels", "notices"):
        assert web[k] == sock[k], k
    status, _, body = get(d, "/nothing/here")
    assert status == 404 and "/v1/status" in body and "/metrics" in body
    assert get(d, "/metrics/x")[0] == 404
    status, headers, _ = get(d, "/metrics", "POST", body="x")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    status, headers, _ = get(d, "/v1/status", "POST", body="")
    assert status == 405
    assert get(d, "/healthz", "DELETE")[0] in (405, 501)
    # A request larger than the limits is refused, the daemon goes on.
    big = http_request(d.port, "POST", "/v1/ack/x?t=y", body="z" * 200000)
    assert big[0] in (400, 413), big[:2]
    assert get(d, "/healthz")[0] == 200


def test_healthz_when_no_channel_is_up(sb):
    d = start(sb, secret=False)
    assert ask(d.sock, "pause feed")["ok"] is True
    status, _, body = get(d, "/healthz")
    assert status == 503, body
    assert "no channel is up" in body and "feed paused" in body, body
    assert ask(d.sock, "resume feed")["ok"] is True
    assert get(d, "/healthz")[:3:2] == (200, "ok\n")


def test_healthz_when_the_spool_cannot_be_written(sb):
    port = free_tcp_port()
    d = spool_prepare(sb, FEED, ALL, log_pipe=True,
                      extra=http_config(port))
    d.start()
    d.port = port
    c = d.client()
    for i in range(5):
        check_ok(c.request(make_notice(id="ok-%d" % i)))
    # The deliveries' outcomes are committed too (they leave in a digest
    # after the batch window), so the spool is idle now.
    wait_until(lambda: spool_rows(d, "SELECT count(*) FROM deliveries "
                                  "WHERE state = 'delivered'") == [(5,)],
               daemon=d, what="5 delivered rows in the spool")
    assert get(d, "/healthz")[0] == 200
    wal = d.path("spool.db-wal")
    prlimit_fsize(d.proc.pid, os.path.getsize(wal))
    r = c.request(make_notice(id="refused-1"))
    assert r["ok"] is False and r["error"]["code"] == "unavailable", r
    status, _, body = get(d, "/healthz")
    assert status == 503 and "spool" in body, body
    st = json.loads(get(d, "/v1/status")[2])
    assert st["spool"]["failing"] is True and st["spool"]["last_error"]
    prlimit_fsize(d.proc.pid, "unlimited")
    check_ok(c.request(make_notice(id="again-1")))
    assert get(d, "/healthz")[:3:2] == (200, "ok\n")


def interactive(d, nid):
    c = d.client()
    check_ok(c.request(make_notice(id=nid, respond_within="2h")))


def test_ack_links(sb):
    d = start(sb)
    for nid in ("ask-1", "ask-2", "ask-3"):
        interactive(d, nid)
    check_ok(d.client().request(make_notice(id="plain-1")))
    good = ack_token("ask-1")
    status, headers, body = get(d, "/v1/ack/ask-1?t=" + good)
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    a = json.loads(body)
    assert a["ok"] is True and a["ref"] == "ask-1", a
    assert isinstance(a["response_ms"], int)
    msg = ask(d.sock, "message ask-1")["message"]
    assert msg["ack_by"] == "ack-link" and msg["acked_at"], msg
    # The same link again: the notice is acked already.
    status, _, body = get(d, "/v1/ack/ask-1?t=" + good)
    assert status == 409, body
    assert json.loads(body)["error"]["code"] == "already_acked"
    # A token changed by one digit, one of another notice, none at all.
    bad = ack_token("ask-2")
    bad = bad[:-1] + ("0" if bad[-1] != "0" else "1")
    for path in ("/v1/ack/ask-2?t=" + bad, "/v1/ack/ask-2?t=" + good,
                 "/v1/ack/ask-2", "/v1/ack/ask-2?t=", "/v1/ack/ask-2?t=" +
                 ack_token("ask-2").upper()):
        status, _, body = get(d, path)
        assert status == 403, (path, status, body)
        assert json.loads(body)["error"]["code"] == "unauthorized", body
    assert "acked_at" not in ask(d.sock, "message ask-2")["message"]
    # POST takes the same link; by= names who answered.
    status, _, body = get(d, "/v1/ack/ask-2?t=%s&by=carol" %
                          ack_token("ask-2"), "POST", body="")
    assert status == 200, body
    assert ask(d.sock, "message ask-2")["message"]["ack_by"] == "carol"
    # A valid token for a notice that is not known, or not interactive.
    status, _, body = get(d, "/v1/ack/nope-1?t=" + ack_token("nope-1"))
    assert status == 404 and "nope-1" in body, body
    status, _, body = get(d, "/v1/ack/plain-1?t=" + ack_token("plain-1"))
    assert status == 404 and "interactive" in body, body
    status, _, body = get(d, "/v1/ack/a%2Fb?t=" + ack_token("a/b"))
    assert status == 400, body
    assert ask(d.sock, "status")["acks"]["waiting"] == 1    # ask-3
    # No token reaches the log, good or bad.
    log = d.log()
    for t in (good, bad, ack_token("ask-2"), ack_token("nope-1")):
        assert t not in log, "a token was logged"
    assert "http ack refused id=ask-2" in log


def test_ack_links_off_without_a_secret(sb):
    d = start(sb, secret=False)
    interactive(d, "ask-1")
    status, _, body = get(d, "/v1/ack/ask-1?t=" + ack_token("ask-1"))
    assert status == 404 and "ack_secret_file" in body, body
    assert ask(d.sock, "status")["acks"]["waiting"] == 1


def test_bad_listen_and_busy_port_refused(sb):
    tmp = make_dir()
    sb.dirs.append(tmp)
    conf = make_config(tmp, FEED, ALL, extra='http = { listen = "8080"; };')
    r = subprocess.run([DAEMON, "-t", "-c", conf], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "http.listen" in r.stderr and "HOST:PORT" in r.stderr, r.stderr
    # A port another process holds: the start fails and says where.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    conf = make_config(tmp, FEED, ALL, extra=http_config(port))
    try:
        r = subprocess.run([DAEMON, "-f", "-c", conf], cwd=tmp,
                           capture_output=True, text=True, timeout=60)
    finally:
        s.close()
    assert r.returncode != 0, r.stderr
    assert "http.listen 127.0.0.1:%d" % port in r.stderr, r.stderr
    # Missing secret file: refused at the start, named.
    conf = make_config(tmp, FEED, ALL, extra=http_config(
        free_tcp_port(), "no-such.secret"))
    r = subprocess.run([DAEMON, "-f", "-c", conf], cwd=tmp,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "no-such.secret" in r.stderr, r.stderr
