"""Bounded memory (docs/security.md): no input makes the daemon grow
without bound. A channel that cannot deliver holds at most queue_max_bytes
of notices (counting those waiting to retry), then new notices routed to
it are refused with unavailable naming it, while other channels go on; it
takes notices again once it recovers. Replies that slow clients do not
read hold at most ingress.reply_queue_max_bytes before ingress stops
reading, and none is lost. A message past the hard size limit costs the
sender its connection, nothing more. A status client that sends commands
and never reads the answers cannot make the daemon buffer answers without
bound."""

import os
import socket
import time

import zmq

from sbtest import (ASAN, CTX, VALGRIND, check_error, check_ok, clist,
                    ids_in, notice, wait_until)

# Fails (75: try again) until the file "up" exists; then delivers. The
# notices sent to it are realtime, so that each is a delivery of its own.
STUCK = ('stuck = { type = "exec"; command = %s; timeout = "10s"; '
         'retry = { max = 100; backoff = "500ms"; backoff_max = "1s"; }; '
         'queue_max_bytes = 65536; };' % clist(
             ["/bin/sh", "-c", 'cat > /dev/null; [ -e up ] || exit 75; '
              'echo "$SB_ID" >> done.txt']))
FREE = 'free = { type = "file"; path = "free.jsonl"; };'
ROUTES = ('{ match = { source = "to-stuck"; }; channels = [ "stuck" ]; },\n'
          '{ channels = [ "free" ]; }')
BODY = "x" * 4000


def done(d):
    try:
        with open(d.path("done.txt")) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def test_channel_over_its_byte_cap_refuses_then_recovers(sb):
    d = sb.start(STUCK + "\n" + FREE, ROUTES)
    c = d.client()
    accepted, refused = [], None
    for i in range(200):
        r = c.request(notice(id="s-%d" % i, source="to-stuck", body=BODY,
                             priority="high"))
        if r.get("ok"):
            accepted.append(r["id"])
            continue
        refused = r
        break
    assert refused is not None, "200 notices of 4 kB taken by a channel " \
        "capped at 64 kB"
    check_error(refused, "unavailable", words=("'stuck'", "full",
                                               "queue_max_bytes 65536"))
    # Each notice counts about twice its JSON: 8 kB or so apiece.
    assert 3 <= len(accepted) <= 16, len(accepted)
    # The cap is in bytes: the delivery count is far below queue_max, and
    # the deliveries it counts wait to retry, not in the queue.
    assert "queue_max 10000" in refused["error"]["message"]
    # Other channels go on.
    check_ok(c.request(notice(id="f-1", source="other", body=BODY)))
    wait_until(lambda: "f-1" in ids_in(d.path("free.jsonl")),
               what="f-1 on the free channel", daemon=d)
    # Once the channel delivers again, its memory is given back.
    open(d.path("up"), "w").close()
    wait_until(lambda: set(accepted) <= set(done(d)),
               what="the stuck channel's backlog delivered", daemon=d)
    check_ok(c.request(notice(id="s-after", source="to-stuck", body=BODY,
                              priority="high")))
    wait_until(lambda: "s-after" in done(d), what="s-after delivered",
               daemon=d)


def test_flood_at_a_stuck_channel_keeps_memory_bounded(sb):
    """4000 notices of 16 kB (64 MB) at a channel capped at 1 MB: almost
    all are refused and the daemon's memory barely moves."""
    # Retries far apart: none runs out while the test runs, however slow.
    stuck = STUCK.replace("queue_max_bytes = 65536",
                          "queue_max_bytes = 1048576").replace(
                              'backoff_max = "1s"', 'backoff_max = "10m"')
    d = sb.start(stuck + "\n" + FREE, ROUTES)
    c = d.client()
    body = "y" * 16000
    check_ok(c.request(notice(id="warm", source="other", body=body)))
    before = d.rss_kb()
    ok = 0
    for start in range(0, 4000, 200):
        for i in range(start, start + 200):
            c.send(notice(id="fl-%d" % i, source="to-stuck", body=body,
                          priority="high"))
        for i in range(200):
            r = c.recv()
            if r.get("ok"):
                ok += 1
            else:
                check_error(r, "unavailable", words=("'stuck'",))
    assert 20 <= ok <= 80, ok
    grown = d.rss_kb() - before
    if not (ASAN or VALGRIND):
        assert grown < 32 * 1024, "RSS grew by %d kB" % grown


def _config_text(d):
    with open(d.config) as f:
        return f.read()


def test_unread_replies_are_capped_in_bytes_and_none_is_lost(sb):
    d = sb.prepare(FREE, '{ channels = [ "free" ]; }',
                   ingress_extra="reply_queue_max_bytes = 65536;")
    # Small pipes, so that unread replies come back to the daemon at once.
    text = _config_text(d).replace("sndhwm = 10000;", "sndhwm = 10;")
    with open(d.config, "w") as f:
        f.write(text)
    d.start()
    s = CTX.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVHWM, 10)
    s.setsockopt(zmq.RCVBUF, 4096)
    s.connect(d.endpoint)
    try:
        n = 6000
        for i in range(n):
            s.send_json({"type": "ping"} if i % 2 else
                        notice(id="u-%d" % i, subject="s" * 200))
        wait_until(lambda: "ingress paused" in d.log(),
                   what="ingress to pause on unread replies", daemon=d)
        paused = [ln for ln in d.log().splitlines()
                  if "ingress paused" in ln][0]
        # The byte cap stopped it, long before the 10000 replies of
        # reply_queue_max.
        waiting = int(paused.split("ingress paused: ")[1].split()[0])
        assert waiting < 10000, paused
        got = 0
        while got < n:
            assert s.poll(30000), "only %d of %d replies" % (got, n)
            s.recv()
            got += 1
        assert not s.poll(500), "a reply too many"
        wait_until(lambda: "ingress resumed" in d.log(),
                   what="ingress to resume", daemon=d)
    finally:
        s.close(0)


def test_oversized_message_costs_the_sender_its_connection(sb):
    d = sb.start(FREE, '{ channels = [ "free" ]; }', max_message_size=1024)
    big = d.client()
    # Past max_message_size: answered too_large.
    check_error(big.request(notice(id="big-1", body="z" * 2000)),
                "too_large", words=("1024",))
    # Past the hard limit libzmq enforces: cut off, no reply.
    big.send(b"{" + b" " * (1 << 20) + b"}")
    assert not big.pending(1500), "a reply to a 1 MB message"
    # Everyone else is served as before.
    check_ok(d.client().request(notice(id="after-big")))
    assert d.alive()


def test_status_client_that_never_reads_cannot_pile_up_answers(sb):
    """Commands keep coming, answers are never read: the daemon must stop
    reading once its answers wait, so that the sender's writes block."""
    d = sb.start(FREE, '{ channels = [ "free" ]; }')
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(d.path("status.sock"))
    s.setblocking(False)
    cmd = b"channels\nroutes\nstatus\n" * 100
    sent, stalled_since = 0, None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                sent += s.send(cmd)
                stalled_since = None
            except BlockingIOError:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 2:
                    break
                time.sleep(0.01)
            assert sent < 16 << 20, "the daemon took %d bytes of " \
                "commands whose answers nobody reads" % sent
        assert stalled_since is not None, "writes never blocked"
        assert d.alive()
    finally:
        s.close()
    # It goes on serving others.
    check_ok(d.client().request(notice(id="after-status")))
