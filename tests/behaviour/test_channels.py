"""Channels (SPEC §4): every adapter type delivering what a notice said, the
exec adapter's exit codes (delivered, retryable, permanent), retries and
fallback, and a zmq_pub channel changed by a reload."""

import json
import os
import signal
import socket

import pytest
import zmq

from sbtest import (CTX, check_ok, clist, free_tcp_port, ids_in, notice,
                    outcomes, read_jsonl, wait_until)
from test_rules import rewrite_config

FULL = {
    "id": "full-1",
    "source": "billing-app",
    "audience": ["dept:finance", "role:controller"],
    "subject": "Invoice run \u2013 caf\u00e9 \U0001F4B6",
    "body": "Line one\nLine two \"quoted\" \\ done",
    "priority": "high",
    "goal": "inform",
    "tags": {"env": "prod", "run": "2024-05"},
}
LINE_KEYS = {"delivery_id", "channel", "id", "class", "source", "audience",
             "subject", "body", "priority", "goal", "tags", "received_at"}


def one_line(path, nid):
    lines = [x for x in read_jsonl(path) if x.get("id") == nid]
    assert len(lines) == 1, "%s: %d lines for %s" % (path, len(lines), nid)
    return lines[0]


def check_carried(line, sent, channel, klass):
    for k in ("id", "source", "audience", "subject", "body", "priority",
              "goal", "tags"):
        assert line.get(k) == sent[k], (k, line)
    assert line["channel"] == channel
    assert line["class"] == klass
    assert isinstance(line["delivery_id"], str) and line["delivery_id"]
    assert line.get("received_at") not in (None, "", 0)


# --- file ------------------------------------------------------------------

def test_file_line_contents(sb):
    d = sb.start('feed = { type = "file"; path = "feed.jsonl"; };',
                 '{ name = "all"; match = { source = "*"; }; '
                 'channels = [ "feed" ]; }')
    c = d.client()
    reply = check_ok(c.request(FULL))
    assert reply["class"] == "realtime" and reply["channels"] == ["feed"]
    anon = notice(id="anon-1", source="secret-app", anonymous=True)
    check_ok(c.request(anon))
    wait_until(lambda: {"full-1", "anon-1"} <= set(ids_in(
        d.path("feed.jsonl"))), what="two lines in feed.jsonl", daemon=d)
    d.stop()
    with open(d.path("feed.jsonl"), "rb") as f:
        raw = f.read()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 2, raw
    line = one_line(d.path("feed.jsonl"), "full-1")
    assert LINE_KEYS <= set(line), "missing: %r" % (LINE_KEYS - set(line))
    check_carried(line, FULL, "feed", "realtime")
    a = one_line(d.path("feed.jsonl"), "anon-1")
    assert "source" not in a, "anonymous notice carried its source: %r" % a
    assert "secret-app" not in raw.decode()
    assert "secret-app" not in d.log(), \
        "anonymous notice's source reached the log"


# --- exec ------------------------------------------------------------------

# Reads the notice, counts attempts, then behaves as its subject says.
HOOK_SCRIPT = r"""
cat > "in/$SB_ID.json.tmp" || exit 9
n=$(cat "att/$SB_ID" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > "att/$SB_ID"
printf 'SB_ID=%s\nSB_CHANNEL=%s\nSB_CLASS=%s\nSB_SUBJECT=%s\n' \
    "$SB_ID" "$SB_CHANNEL" "$SB_CLASS" "$SB_SUBJECT" > "in/$SB_ID.env"
mv "in/$SB_ID.json.tmp" "in/$SB_ID.json"
case "$SB_SUBJECT" in
fail*) exit 3 ;;
busy*) exit 75 ;;
flaky*) [ "$n" -ge 2 ] || exit 75 ;;
esac
echo "$SB_ID" >> done.txt
exit 0
"""


def hook_channel(name="hook", extra=""):
    return ('%s = { type = "exec"; command = %s; timeout = "10s"; '
            'retry = { max = 2; backoff = "100ms"; backoff_max = "1s"; }; '
            '%s };' % (name, clist(["/bin/sh", "-c", HOOK_SCRIPT]), extra))


def start_hook(sb, channels, routes):
    d = sb.prepare(channels, routes)
    os.mkdir(d.path("in"))
    os.mkdir(d.path("att"))
    return d.start()


def attempts(d, nid):
    try:
        with open(d.path("att/" + nid)) as f:
            return int(f.read())
    except FileNotFoundError:
        return 0


def done_ids(d):
    try:
        with open(d.path("done.txt")) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def test_exec_stdin_and_env(sb):
    d = start_hook(sb, hook_channel() + '\nfeed = { type = "file"; '
                   'path = "feed.jsonl"; };',
                   '{ name = "all"; match = { source = "*"; }; '
                   'channels = [ "hook", "feed" ]; }')
    c = d.client()
    check_ok(c.request(FULL))
    wait_until(lambda: "full-1" in done_ids(d), what="hook ran for full-1",
               daemon=d)
    wait_until(lambda: "full-1" in ids_in(d.path("feed.jsonl")),
               what="full-1 on feed", daemon=d)
    wait_until(lambda: "delivered" in outcomes(d.log(), "hook", "full-1"),
               what="hook outcome=delivered logged", daemon=d)
    with open(d.path("in/full-1.json"), "rb") as f:
        stdin = json.loads(f.read().decode("utf-8"))
    check_carried(stdin, FULL, "hook", "realtime")
    feed = one_line(d.path("feed.jsonl"), "full-1")
    for k in LINE_KEYS - {"delivery_id", "channel"}:
        assert stdin.get(k) == feed.get(k), \
            "exec stdin and file line differ on %s" % k
    with open(d.path("in/full-1.env"), encoding="utf-8") as f:
        env = dict(line.rstrip("\n").split("=", 1) for line in f)
    assert env == {"SB_ID": "full-1", "SB_CHANNEL": "hook",
                   "SB_CLASS": "realtime", "SB_SUBJECT": FULL["subject"]}
    assert attempts(d, "full-1") == 1
    d.stop()
    assert outcomes(d.log(), "hook", "full-1") == ["delivered"]


def test_exec_retryable_then_delivered(sb):
    d = start_hook(sb, hook_channel(),
                   '{ name = "all"; match = { source = "*"; }; '
                   'channels = [ "hook" ]; }')
    c = d.client()
    check_ok(c.request(notice(id="flaky-1", subject="flaky once",
                              priority="high")))
    wait_until(lambda: "flaky-1" in done_ids(d), what="flaky-1 delivered",
               daemon=d)
    wait_until(lambda: "delivered" in outcomes(d.log(), "hook", "flaky-1"),
               what="hook outcome=delivered logged", daemon=d)
    d.stop()
    assert attempts(d, "flaky-1") == 2
    assert outcomes(d.log(), "hook", "flaky-1") == ["retryable", "delivered"]
    assert done_ids(d) == ["flaky-1"]


FALLBACK_LAYOUTS = {
    # The route names the fallback.
    "route": (hook_channel(),
              '{ name = "all"; match = { source = "*"; }; '
              'channels = [ "hook" ]; fallback = [ "fb" ]; }'),
    # The channel names its own fallback.
    "channel": (hook_channel(extra='fallback = [ "fb" ];'),
                '{ name = "all"; match = { source = "*"; }; '
                'channels = [ "hook" ]; }'),
}


@pytest.mark.parametrize("layout", sorted(FALLBACK_LAYOUTS))
def test_exec_permanent_goes_to_fallback(sb, layout):
    hook, routes = FALLBACK_LAYOUTS[layout]
    d = start_hook(sb, hook + '\nfb = { type = "file"; path = "fb.jsonl"; };',
                   routes)
    c = d.client()
    # Realtime: each notice is its own delivery (a batch one would
    # leave in a digest, whose outcome is the digest's).
    for nid, subject in (("good-1", "all fine"), ("fail-1", "fail hard"),
                         ("busy-1", "busy forever")):
        check_ok(c.request(notice(id=nid, subject=subject,
                                  priority="high")))
    wait_until(lambda: {"fail-1", "busy-1"} <= set(ids_in(
        d.path("fb.jsonl"))), what="fail-1 and busy-1 on fb", daemon=d)
    wait_until(lambda: "good-1" in done_ids(d), what="good-1 delivered",
               daemon=d)
    d.stop()
    log = d.log()
    # Exit 3 is permanent: one attempt, no retry.
    assert attempts(d, "fail-1") == 1
    assert outcomes(log, "hook", "fail-1") == ["permanent"]
    # Exit 75 is retried retry.max (2) times, then the fallback takes it.
    assert attempts(d, "busy-1") == 3
    assert outcomes(log, "hook", "busy-1")[:2] == ["retryable", "retryable"]
    assert outcomes(log, "fb", "fail-1") == ["delivered"]
    assert outcomes(log, "fb", "busy-1") == ["delivered"]
    # A delivered notice never reaches the fallback.
    assert sorted(ids_in(d.path("fb.jsonl"))) == ["busy-1", "fail-1"]
    assert done_ids(d) == ["good-1"]
    fb = one_line(d.path("fb.jsonl"), "fail-1")
    assert fb["channel"] == "fb" and fb["subject"] == "fail hard"


# --- zmq_pub ---------------------------------------------------------------

def subscribed(d, c, endpoint, prefix="probe", reconnect=True):
    """A SUB on endpoint that the daemon's "fan" channel reaches: PUB drops
    what it sends before the subscription arrives, so probes are published
    until one comes through; what they left is drained. reconnect=False:
    a SUB whose connection, once lost, stays lost."""
    sub = CTX.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    if not reconnect:
        sub.setsockopt(zmq.RECONNECT_IVL, -1)
    sub.setsockopt(zmq.SUBSCRIBE, b"fan")
    sub.connect(endpoint)
    for i in range(300):
        check_ok(c.request(notice(id="%s-%d" % (prefix, i),
                                  priority="high")))
        if sub.poll(100, zmq.POLLIN):
            break
    else:
        sub.close(0)
        raise AssertionError("nothing published on %s" % endpoint)
    while sub.poll(500, zmq.POLLIN):
        assert sub.recv_multipart()[0] == b"fan"
    return sub


def sighup(d, channels, routes):
    """Rewrite the config, SIGHUP, and wait until the reload is done; it
    must succeed."""
    before = d.log().count("reloaded config=")
    rewrite_config(d, channels, routes)
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: d.log().count("reloaded config=") > before or
               "reload failed" in d.log(), what="the reload", daemon=d)
    assert "reload failed" not in d.log(), d.log_tail(2000)


def test_zmq_pub_sends_name_and_json(sb):
    d = sb.start('fan = { type = "zmq_pub"; endpoint = "ipc://pub.ipc"; };',
                 '{ name = "all"; match = { source = "*"; }; '
                 'channels = [ "fan" ]; }')
    sub = subscribed(d, d.client(), "ipc://" + d.path("pub.ipc"))
    try:
        check_ok(d.client().request(FULL))
        # A probe's reply comes before its publication: one published
        # late may still come first.
        while True:
            assert sub.poll(30000, zmq.POLLIN), "full-1 not published"
            frames = sub.recv_multipart()
            if len(frames) != 2 or not json.loads(
                    frames[1].decode("utf-8")).get("id", "").startswith(
                        "probe-"):
                break
    finally:
        sub.close(0)
    assert len(frames) == 2, frames
    assert frames[0] == b"fan"
    msg = json.loads(frames[1].decode("utf-8"))
    check_carried(msg, FULL, "fan", "realtime")


def test_zmq_pub_reload_keeps_its_socket(sb):
    """A reload that changes a zmq_pub channel (sndhwm, a second endpoint)
    hands its bound socket to the new channel: the tcp port is not bound
    twice (which failed the reload), and a subscriber stays connected
    through it; an endpoint dropped from the config is unbound."""
    port = free_tcp_port()
    tcp = "tcp://127.0.0.1:%d" % port
    ipc = "ipc://fan2.ipc"
    routes = '{ channels = [ "fan" ]; }'

    def fan(endpoints, hwm):
        return ('fan = { type = "zmq_pub"; endpoint = %s; sndhwm = %d; };'
                % (clist(endpoints), hwm))
    d = sb.start(fan([tcp], 1000), routes)
    c = d.client()
    # It never reconnects: a socket closed and bound anew would lose it.
    sub = subscribed(d, c, tcp, reconnect=False)
    try:
        sighup(d, fan([tcp, ipc], 2000), routes)
        # The same socket: the subscriber gets the next notice, with no
        # probe to reconnect first.
        check_ok(c.request(notice(id="after-reload", priority="high")))
        got = []
        while "after-reload" not in got:
            assert sub.poll(10000, zmq.POLLIN), \
                "the subscriber was dropped (got %r)" % got
            got.append(json.loads(sub.recv_multipart()[1]).get("id"))
        assert "bound=%s" % ipc in d.log()
        # Only the ipc endpoint now: tcp is unbound, ipc still serves.
        sighup(d, fan([ipc], 2000), routes)
        wait_until(lambda: not port_open(port), what="tcp unbound",
                   daemon=d)
        subscribed(d, c, "ipc://" + d.path("fan2.ipc"), prefix="ipc").close(0)
    finally:
        sub.close(0)


def test_zmq_pub_endpoint_busy_at_reload_is_bound_later(sb):
    """An endpoint a reload adds while its port is taken cannot fail the
    reload any more: it is logged, and bound as soon as the port is free;
    a subscriber there then gets the channel's notices."""
    ipc = "ipc://pub.ipc"
    routes = '{ channels = [ "fan" ]; }'
    d = sb.start('fan = { type = "zmq_pub"; endpoint = "%s"; };' % ipc,
                 routes)
    port = free_tcp_port()
    tcp = "tcp://127.0.0.1:%d" % port
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen(1)
    try:
        sighup(d, 'fan = { type = "zmq_pub"; endpoint = %s; };'
               % clist([ipc, tcp]), routes)
        wait_until(lambda: "channel fan: bind %s: Address already in use; "
                   "trying again every 1000 ms" % tcp in d.log(),
                   what="the failed bind logged", daemon=d)
    finally:
        holder.close()
    wait_until(lambda: "bound=%s" % tcp in d.log(), what="bound later",
               daemon=d)
    subscribed(d, d.client(), tcp, prefix="late").close(0)


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# --- discard ---------------------------------------------------------------

def test_discard_is_counted_in_the_log(sb):
    d = sb.start('null = { type = "discard"; };',
                 '{ name = "all"; match = { source = "*"; }; '
                 'channels = [ "null" ]; }')
    c = d.client()
    for i in range(5):
        reply = check_ok(c.request(notice(id="drop-%d" % i,
                                          priority="high")))
        assert reply["channels"] == ["null"]
    wait_until(lambda: len(outcomes(d.log(), "null")) >= 5,
               what="five discard outcomes logged", daemon=d)
    d.stop()
    log = d.log()
    assert outcomes(log, "null") == ["delivered"] * 5
    for i in range(5):
        assert outcomes(log, "null", "drop-%d" % i) == ["delivered"]
