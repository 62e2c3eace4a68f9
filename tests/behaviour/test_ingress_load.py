"""Ingress (SPEC §2): the ROUTER path answers DEALER and REQ clients exactly
once each, under a burst far larger than one event-loop batch, over tcp and
ipc, and while signals rain on the daemon; the PULL path delivers without
replying and logs what it rejects."""

import os
import signal
import threading
import time

import pytest
import zmq

from sbtest import (CTX, check_error, check_ok, free_tcp_port, ids_in,
                    notice, read_jsonl, send_all, wait_until)

FEED = 'feed = { type = "file"; path = "feed.jsonl"; queue_max = 20000; };'
ALL_TO_FEED = '{ name = "all"; match = { source = "*"; }; ' \
    'channels = [ "feed" ]; }'
LOAD_N = 10000
SIG_N = 40000


def test_req_client_gets_its_reply(sb):
    d = sb.start(FEED, ALL_TO_FEED)
    req = d.client(zmq.REQ)
    assert req.request({"type": "ping"}) == {"ok": True, "pong": True}
    reply = check_ok(req.request(notice(id="req-1")))
    assert reply["id"] == "req-1" and reply["channels"] == ["feed"]
    check_error(req.request(b"{broken"), "bad_json")
    reply = check_ok(req.request(notice(id="req-2", priority="urgent")))
    assert reply["class"] == "realtime"
    wait_until(lambda: {"req-1", "req-2"} <= set(ids_in(
        d.path("feed.jsonl"))), what="req-1 and req-2 on feed", daemon=d)


def test_pull_delivers_and_logs_rejects(sb):
    d = sb.start(FEED, ALL_TO_FEED, pull=True)
    push = CTX.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect("ipc://" + d.path("pull.ipc"))
    try:
        push.send(b'{"source": "app1", "audience": [')
        push.send_json(notice(id="pull-bad", source=None))
        push.send_json(notice(id="pull-1"))
        wait_until(lambda: "pull-1" in ids_in(d.path("feed.jsonl")),
                   what="pull-1 on feed", daemon=d)
        wait_until(lambda: "bad_json" in d.log() and
                   "missing_field" in d.log(),
                   what="the two rejects logged", daemon=d)
        # The ROUTER path still answers; and a PUSH gets no reply, so
        # the daemon must not have queued one anywhere that blocks it.
        for i in range(200):
            push.send_json(notice(id="pull-burst-%d" % i))
        c = d.client()
        check_ok(c.request(notice(id="router-1")))
        want = {"router-1"} | {"pull-burst-%d" % i for i in range(200)}
        wait_until(lambda: want <= set(ids_in(d.path("feed.jsonl"))),
                   what="200 pushed notices on feed", daemon=d)
    finally:
        push.close(0)
    d.stop()
    got = ids_in(d.path("feed.jsonl"))
    assert "pull-bad" not in got
    assert len(got) == len(set(got)) == 202, len(got)
    rejects = [line for line in d.log().splitlines()
               if "bad_json" in line or "missing_field" in line]
    assert any("pull-bad" in line for line in rejects), \
        "a rejected notice's log line should name its id: %r" % rejects


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_burst_each_replied_and_delivered_once(sb, transport):
    port = free_tcp_port()
    d = sb.start(FEED, ALL_TO_FEED, tcp_port=port)
    endpoint = "tcp://127.0.0.1:%d" % port if transport == "tcp" else None
    c = d.client(endpoint=endpoint)
    notices = [notice(id="%s-%05d" % (transport, i),
                      subject="burst %d" % i,
                      priority=("low", "normal", "high", "urgent")[i % 4])
               for i in range(LOAD_N)]
    replies = send_all(c, notices, window=500)
    assert len(replies) == LOAD_N
    # High and urgent are realtime, each its own delivery; low and normal
    # are batch and leave in digests: both paths must be exactly once.
    for n in notices:
        r = check_ok(replies[n["id"]])
        assert r["channels"] == ["feed"] and r["duplicate"] is False, r
        want = "realtime" if n["priority"] in ("high", "urgent") else "batch"
        assert r["class"] == want, r
    wait_until(lambda: len(ids_in(d.path("feed.jsonl"))) >= LOAD_N,
               what="%d lines on feed" % LOAD_N, daemon=d, timeout=120)
    d.stop()
    got = ids_in(d.path("feed.jsonl"))
    assert len(got) == LOAD_N, "%d lines for %d notices" % (len(got), LOAD_N)
    assert set(got) == {n["id"] for n in notices}, \
        "some notice delivered twice or not at all"
    lines = read_jsonl(d.path("feed.jsonl"), digests=True)
    single = {x["id"] for x in lines if not x.get("digest")}
    assert single == {n["id"] for n in notices
                      if n["priority"] in ("high", "urgent")}, \
        "only realtime notices go one a line"
    for x in lines:
        if x.get("digest"):
            assert x["count"] == len(x["items"]) <= 100, x["delivery_id"]


def test_signals_during_a_burst_cut_no_message_short(sb):
    """A signal (an exec channel's SIGCHLD, a reload's SIGHUP) can interrupt
    libzmq between two frames of one message: every notice must still be
    read whole and answered once. SIGPIPE stands in for them: the daemon
    catches and ignores it, so it interrupts as they do and costs nothing."""
    d = sb.start('sink = { type = "discard"; queue_max = 100000; };',
                 '{ channels = [ "sink" ]; }')
    c = d.client()
    stop = threading.Event()

    def pester():
        while not stop.is_set():
            os.kill(d.proc.pid, signal.SIGPIPE)
            time.sleep(0.0001)

    t = threading.Thread(target=pester)
    t.start()
    try:
        replies = send_all(c, [notice(id="sig-%d" % i) for i in range(SIG_N)])
    finally:
        stop.set()
        t.join()
    bad = [r for r in replies.values() if not r.get("ok")]
    assert not bad, "%d of %d refused, first %r" % (len(bad), SIG_N, bad[0])
    assert d.alive()
