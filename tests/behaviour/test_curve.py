"""CURVE on ingress (docs/security.md): keys made by `sbctl keygen`; only
a key listed in ingress.authorized_keys finishes the handshake; a known
key publishes only as the sources and to the audiences its entry names,
and is told what it may do when it strays; a reload applies to open
connections; ipc (and, when asked, loopback tcp) stays plain; plain tcp
on an address that is not loopback is warned about."""

import os
import signal
import stat
import itertools
import subprocess
import time

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from sbtest import (CTX, SBCTL, check_error, check_ok, cstr,
                    free_tcp_port, ids_in, make_config, notice, wait_until)

MONITORS = itertools.count()
CHANNELS = 'feed = { type = "file"; path = "feed.jsonl"; };'
ROUTES = '{ channels = [ "feed" ]; }'


def keygen(d, base):
    """sbctl keygen in the daemon's directory; (public, secret) keys."""
    r = subprocess.run([SBCTL, "keygen", base], cwd=d, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    pub, sec = read_key(os.path.join(d, base + ".pub")), \
        read_key(os.path.join(d, base + ".key"))
    assert r.stdout.strip() == pub, r.stdout
    return pub, sec


def read_key(path):
    """The key line of a key file ("# " lines are comments)."""
    with open(path) as f:
        lines = [ln.strip() for ln in f
                 if ln.strip() and not ln.startswith("# ")]
    assert len(lines) == 1 and len(lines[0]) == 40, lines
    return lines[0]


def keys_text(entries):
    """ingress.authorized_keys as libconfig text."""
    out = []
    for e in entries:
        fields = ["key = %s;" % cstr(e["key"])]
        if "name" in e:
            fields.append("name = %s;" % cstr(e["name"]))
        fields.append("sources = [ %s ];" %
                      ", ".join(cstr(s) for s in e["sources"]))
        fields.append("audiences = [ %s ];" %
                      ", ".join(cstr(a) for a in e["audiences"]))
        out.append("{ " + " ".join(fields) + " }")
    return "authorized_keys = ( %s );" % ", ".join(out)


class Curve:
    """A daemon with CURVE on its tcp endpoint and three key pairs made
    in its directory: server, alice (authorized) and mallory (not)."""

    def __init__(self, sb, entries=None, plain_loopback=False):
        self.port = free_tcp_port()
        self.daemon = sb.prepare(CHANNELS, ROUTES, tcp_port=self.port)
        d = self.daemon.dir
        self.server_pub, _ = keygen(d, "server")
        self.alice = keygen(d, "alice")
        self.mallory = keygen(d, "mallory")
        if entries is None:
            entries = [{"key": self.alice[0], "name": "alice",
                        "sources": ["billing", "billing-*"],
                        "audiences": ["customer:*", "partner:acme"]}]
        self.entries = entries
        self.plain_loopback = plain_loopback
        self.write()

    def write(self):
        make_config(self.daemon.dir, CHANNELS, ROUTES, tcp_port=self.port,
                    ingress_extra='curve_secret_key_file = "server.key"; '
                    'plain_loopback = %s; %s' %
                    ("true" if self.plain_loopback else "false",
                     keys_text(self.entries)))

    @property
    def tcp(self):
        return "tcp://127.0.0.1:%d" % self.port

    def client(self, keys=None, server_pub=None):
        """A DEALER over tcp with CURVE (keys None: plain), and a monitor
        of its handshakes."""
        sock = CTX.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if keys is not None:
            sock.curve_serverkey = (server_pub or self.server_pub).encode()
            sock.curve_publickey = keys[0].encode()
            sock.curve_secretkey = keys[1].encode()
        # A name of our own: pyzmq's default reuses a closed socket's.
        mon = sock.get_monitor_socket(addr="inproc://curve-monitor-%d" %
                                      next(MONITORS))
        mon.setsockopt(zmq.LINGER, 0)
        sock.connect(self.tcp)
        self._socks = getattr(self, "_socks", []) + [mon, sock]
        return sock, mon

    def close(self):
        for s in getattr(self, "_socks", []):
            s.close(0)


def handshake(mon, timeout=15.0):
    """The first handshake outcome the monitor reports."""
    want = (zmq.EVENT_HANDSHAKE_SUCCEEDED, zmq.EVENT_HANDSHAKE_FAILED_AUTH,
            zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
            zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    while mon.poll(int(timeout * 1000)):
        ev = recv_monitor_message(mon)
        if ev["event"] in want:
            return ev
    raise AssertionError("no handshake outcome within %.0fs" % timeout)


def answered(sock, req, wait_ms=1000):
    """Whether a request on a socket whose handshake failed gets any
    answer. A DEALER with no connection would block on send: a send
    refused for that (EAGAIN) is no answer either."""
    try:
        sock.send_json(req, zmq.NOBLOCK)
    except zmq.Again:
        return False
    return bool(sock.poll(wait_ms))


def request(sock, req, timeout=15.0):
    sock.send_json(req)
    assert sock.poll(int(timeout * 1000)), "no reply within %.0fs" % timeout
    return sock.recv_json()


@pytest.fixture
def curve(sb):
    c = Curve(sb)
    c.daemon.start()
    yield c
    c.close()


def test_keygen_files_and_modes(tmp_path):
    pub, sec = keygen(str(tmp_path), "k")
    assert pub != sec
    assert stat.S_IMODE(os.stat(tmp_path / "k.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "k.pub").st_mode) == 0o644
    # The secret file names its public key, for the admin's convenience.
    assert pub in (tmp_path / "k.key").read_text()
    assert sec not in (tmp_path / "k.pub").read_text()
    # The pair is a real CURVE pair.
    assert zmq.curve_public(sec.encode()).decode() == pub
    # Nothing is overwritten without -f; -f replaces and mends the mode.
    r = subprocess.run([SBCTL, "keygen", "k"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "-f" in r.stderr, r
    assert read_key(tmp_path / "k.key") == sec
    os.chmod(tmp_path / "k.key", 0o644)
    r = subprocess.run([SBCTL, "keygen", "-f", "k"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert read_key(tmp_path / "k.key") != sec
    assert stat.S_IMODE(os.stat(tmp_path / "k.key").st_mode) == 0o600


def test_authorized_key_publishes_within_its_rights(curve):
    sock, mon = curve.client(curve.alice)
    assert handshake(mon)["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED
    ok = check_ok(request(sock, notice(id="c-ok", source="billing-eu",
                  audience=["customer:acme", "partner:acme"])))
    assert ok["channels"] == ["feed"]
    wait_until(lambda: "c-ok" in ids_in(curve.daemon.path("feed.jsonl")),
               what="c-ok delivered", daemon=curve.daemon)
    assert "curve client allowed key=%s name=alice" % curve.alice[0] in \
        curve.daemon.log()


def test_key_outside_its_rights_is_told_what_it_may_do(curve):
    sock, _ = curve.client(curve.alice)
    err = check_error(request(sock, notice(id="c-src", source="payroll",
                      audience=["customer:acme"])), "unauthorized",
                      field="source", words=("alice", "billing, billing-*",
                                             "'payroll'"))
    assert err
    check_error(request(sock, notice(id="c-aud", source="billing",
                audience=["customer:acme", "staff:bob"])), "unauthorized",
                field="audience", words=("alice",
                                         "customer:*, partner:acme",
                                         "audience[1]", "staff:bob"))
    # An anonymous notice's source is not quoted, in the reply or the log.
    reply = request(sock, notice(id="c-anon", source="secret-src",
                    anonymous=True, audience=["customer:acme"]))
    check_error(reply, "unauthorized", field="source",
                words=("alice", "billing, billing-*"))
    assert "secret-src" not in str(reply)
    # Acks and pings are not limited by a key's sources.
    assert request(sock, {"type": "ping"}) == {"ok": True, "pong": True}
    sock2, _ = curve.client(curve.alice)
    check_ok(request(sock2, notice(id="c-after", source="billing",
                                   audience=["customer:acme"])))
    d = curve.daemon
    wait_until(lambda: "c-after" in ids_in(d.path("feed.jsonl")),
               what="c-after delivered", daemon=d)
    d.stop()
    assert not {"c-src", "c-aud", "c-anon"} & set(ids_in(
        d.path("feed.jsonl")))
    assert "secret-src" not in d.log()
    assert d.log().count("reject code=unauthorized") == 3


def test_unknown_key_cannot_connect(curve):
    sock, mon = curve.client(curve.mallory)
    ev = handshake(mon)
    assert ev["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH, ev
    assert ev["value"] == 400, ev
    assert not answered(sock, {"type": "ping"}), \
        "a refused key got an answer"
    wait_until(lambda: "curve client refused key=%s" % curve.mallory[0]
               in curve.daemon.log(), what="refusal logged",
               daemon=curve.daemon)
    # Without CURVE at all the handshake fails too.
    plain, pmon = curve.client(None)
    assert handshake(pmon)["event"] != zmq.EVENT_HANDSHAKE_SUCCEEDED
    assert not answered(plain, {"type": "ping"}), \
        "a plain client got an answer over tcp"
    # A client that has the wrong server key never gets through either.
    wrong, wmon = curve.client(curve.alice, server_pub=curve.mallory[0])
    assert handshake(wmon)["event"] != zmq.EVENT_HANDSHAKE_SUCCEEDED
    assert not answered(wrong, {"type": "ping"}), \
        "a client with the wrong server key got an answer"
    # ipc stays plain: anything may publish there.
    c = curve.daemon.client()
    check_ok(c.request(notice(id="c-ipc", source="payroll",
                              audience=["staff:all"])))


def test_refusals_are_logged_within_bounds(curve):
    """A stranger retrying for ever must not flood the log: at most a
    few refusals a window are written, the rest counted."""
    t0 = time.monotonic()
    socks = [curve.client(curve.mallory) for _ in range(30)]
    for _, mon in socks:
        assert handshake(mon)["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH
    # Each refused client retries every 100 ms: let them go on a while.
    time.sleep(2)
    windows = int((time.monotonic() - t0) / 10) + 2
    log = curve.daemon.log()
    assert 1 <= log.count("curve client refused key=") <= 10 * windows, log


def test_reload_applies_to_open_connections(curve):
    sock, _ = curve.client(curve.alice)
    check_ok(request(sock, notice(id="r-1", source="billing",
                                  audience=["customer:acme"])))
    curve.entries[0]["sources"] = ["shipping"]
    curve.write()
    curve.daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reloaded config" in curve.daemon.log(),
               what="reload", daemon=curve.daemon)
    check_error(request(sock, notice(id="r-2", source="billing",
                audience=["customer:acme"])), "unauthorized",
                field="source", words=("shipping", "'billing'"))
    check_ok(request(sock, notice(id="r-3", source="shipping",
                                  audience=["customer:acme"])))
    # Taken out of the list, the key may publish nothing; new
    # connections with it are refused.
    curve.entries[0]["key"] = curve.mallory[0]
    curve.write()
    curve.daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: curve.daemon.log().count("reloaded config") == 2,
               what="second reload", daemon=curve.daemon)
    check_error(request(sock, notice(id="r-4", source="shipping",
                audience=["customer:acme"])), "unauthorized",
                words=("no longer in ingress.authorized_keys",))
    _, mon = curve.client(curve.alice)
    assert handshake(mon)["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH


def test_plain_loopback(sb):
    c = Curve(sb, plain_loopback=True)
    c.daemon.start()
    try:
        sock, mon = c.client(None)
        assert handshake(mon)["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED
        check_ok(request(sock, notice(id="lo-1", source="anything")))
        log = c.daemon.log()
        assert "security=curve" not in log
        assert "not loopback" not in log
    finally:
        c.close()


def test_plain_tcp_beyond_loopback_is_warned(sb):
    port = free_tcp_port()
    d = sb.prepare(CHANNELS, ROUTES)
    make_config(d.dir, CHANNELS, ROUTES, ingress_extra="")
    # Replace the loopback router with one on every address.
    path = os.path.join(d.dir, "switchboard.conf")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace('router = [ "ipc://in.ipc" ];',
                             'router = [ "ipc://in.ipc", "tcp://0.0.0.0:%d" '
                             '];' % port))
    d.start()
    assert "tcp://0.0.0.0:%d: plain tcp on an address that is not " \
        "loopback" % port in d.log(), d.log()


def test_loose_secret_key_is_refused(sb):
    c = Curve(sb)
    os.chmod(c.daemon.path("server.key"), 0o644)
    with pytest.raises(AssertionError) as e:
        c.daemon.start()
    assert "server.key: a secret key open to every user (mode 0644)" in \
        str(e.value), str(e.value)
    assert c.daemon.proc.returncode not in (None, 0)
    c.daemon.stopped = True
