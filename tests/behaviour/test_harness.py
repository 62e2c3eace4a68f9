"""test_harness: the test process's own ZeroMQ stays usable.

Every test shares sbtest.CTX. libzmq sends a socket's monitor events with
a blocking send from its I/O or reaper thread; if the monitor's reader
is closed while the monitored socket still lives, or its pipe fills
because nobody reads it, that thread blocks for ever and every later
test in the same pytest process sees its daemon "never answer" although
the daemon is fine. sbtest's sockets stop their monitor before either
end closes and give the reader an unbounded pipe; these tests fail (no
pong) without that.
"""

import time

import zmq

from sbtest import CTX, REPLY_TIMEOUT, free_tcp_port

CHANNELS = 'feed = { type = "file"; path = "feed.jsonl"; };'
ROUTES = '{ name = "all"; match = { }; channels = [ "feed" ]; }'
# Each refused connection retries at this interval, and each try is a
# few monitor events.
RECONNECT_MS = 1


def reconnecting_monitored_socket():
    """A DEALER retrying a port nobody listens on, with its monitor."""
    sock = CTX.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
    mon = sock.get_monitor_socket()
    sock.connect("tcp://127.0.0.1:%d" % free_tcp_port())
    return sock, mon


def pong(d):
    """A fresh client's ping answered within the usual hang guard (a
    stuck I/O thread never answers; a slow ASan daemon answers late)."""
    c = d.client()
    try:
        c.send({"type": "ping"})
        return c.pending(int(REPLY_TIMEOUT * 1000))
    finally:
        c.close()


def test_monitor_reader_closed_first(sb):
    d = sb.start(CHANNELS, ROUTES)
    sock, mon = reconnecting_monitored_socket()
    assert mon.poll(5000), "no monitor event within 5s"
    mon.recv_multipart()
    mon.close(0)
    time.sleep(0.3)  # reconnect attempts: events with no reader
    try:
        assert pong(d), "the test process's zmq I/O thread is stuck"
    finally:
        sock.close(0)


def test_monitor_never_read(sb):
    d = sb.start(CHANNELS, ROUTES)
    sock, mon = reconnecting_monitored_socket()
    # Some 2500 events a second: past the pipe's high-water mark (2000)
    # in about a second.
    time.sleep(2)
    sock.close(0)
    mon.close(0)
    assert pong(d), "the test process's zmq threads are stuck"
