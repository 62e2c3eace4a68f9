"""sbtest: helpers for the behaviour tests of switchboardd.

A test writes its own config into a private directory, starts the real
daemon there ($SB_BUILD/switchboardd -f -c CONFIG, cwd = that directory),
talks to it as an application would (ZeroMQ DEALER, REQ or PUSH, one JSON
frame) and checks what the channels received and what the replies said.

Nothing here measures wall-clock speed: every wait is a hang guard with a
generous limit, so that the same tests pass under ASan on a small machine.
"""

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import zmq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.environ.get("SB_BUILD", "build")
BUILD_DIR = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
DAEMON = os.path.join(BUILD_DIR, "switchboardd")
SBCTL = os.path.join(BUILD_DIR, "sbctl")
# Under ASan/UBSan memory use is noisy; only RSS assertions look at this.
ASAN = BUILD.rstrip("/").endswith("asan")

START_TIMEOUT = 30.0  # until the first ping answers
STOP_TIMEOUT = 30.0  # from SIGTERM to exit
REPLY_TIMEOUT = 30.0  # one reply to one request
WAIT_TIMEOUT = 60.0  # a delivery to show up

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "LeakSanitizer")

# SB_VALGRIND=1 (make valgrind): every daemon runs under memcheck, which
# makes it exit 99 on an invalid access or a leak; stop() then fails the
# test with the report (it is in the daemon's log, valgrind's stderr).
VALGRIND = os.environ.get("SB_VALGRIND") == "1"
VALGRIND_CMD = ["valgrind", "--quiet", "--error-exitcode=99",
                "--leak-check=full", "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect",
                "--num-callers=30"]
if VALGRIND:
    # Memcheck runs the daemon some 20 times slower: the hang guards
    # grow with it.
    START_TIMEOUT *= 4
    STOP_TIMEOUT *= 4
    REPLY_TIMEOUT *= 4
    WAIT_TIMEOUT *= 4


class Socket(zmq.Socket):
    """A socket whose monitor cannot wedge the test process.

    libzmq sends monitor events with a blocking send from whichever
    thread notices the event, often its I/O or reaper thread. If the
    reader (the PAIR from get_monitor_socket) is closed while the
    monitored socket lives on, or its pipe fills because nobody reads
    it, that thread blocks for ever: no socket of the context connects,
    sends or is reaped again, and every later daemon seems not to
    answer. So the reader's pipe is unbounded, and the monitor is
    stopped, while its reader is still open, before either end closes.
    """

    _watched = None  # on a monitor's reader: the socket it reports on

    def get_monitor_socket(self, events=None, addr=None):
        if self._monitor_socket is not None and \
                not self._monitor_socket.closed:
            return self._monitor_socket
        if addr is None:
            addr = "inproc://sbtest-monitor-%d" % next(_MONITOR_IDS)
        self.monitor(addr, zmq.EVENT_ALL if events is None else events)
        mon = self.context.socket(zmq.PAIR)
        mon.setsockopt(zmq.LINGER, 0)
        mon.setsockopt(zmq.RCVHWM, 0)  # set before connect to count
        mon.connect(addr)
        mon._watched = self
        self._monitor_socket = mon
        return mon

    def close(self, linger=None):
        if not self.closed:
            watched = self._watched
            if watched is not None and not watched.closed and \
                    watched._monitor_socket is self:
                watched.disable_monitor()
            mon = self._monitor_socket
            if mon is not None and not mon.closed:
                self.disable_monitor()
        super().close(linger=linger)


class Context(zmq.Context):
    _socket_class = Socket


_MONITOR_IDS = itertools.count()
CTX = Context()


def links_mimalloc(binary):
    out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=False).stdout
    return b"libmimalloc" in out


def free_tcp_port():
    """A loopback tcp port that nothing listens on (bind port 0)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cstr(s):
    """A Python string as a libconfig string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def clist(items):
    """A Python list of strings as a libconfig array."""
    return "[ " + ", ".join(cstr(i) for i in items) + " ]"


def make_dir():
    """A short private directory: ipc:// paths must fit in sun_path."""
    return tempfile.mkdtemp(prefix="sb-%d-" % os.getpid(), dir="/tmp")


def make_config(tmpdir, channels, routes, classify_rules="",
                trust_hint=False, pull=False, tcp_port=None,
                log_level="info", max_message_size=65536, extra="",
                batch_window="1s", ingress_extra=""):
    """Write tmpdir/switchboard.conf and return its path.

    channels and routes are the libconfig text inside "channels = { }"
    and "routes = ( )"; classify_rules the text inside "rules = ( )".
    Relative paths in them resolve in tmpdir, the daemon's cwd.
    Batch notices leave as digests; batch_window keeps them short (None:
    the daemon's default, or whatever extra sets). ingress_extra is more
    libconfig text inside "ingress = { }"."""
    router = ["ipc://in.ipc"]
    if tcp_port is not None:
        router.append("tcp://127.0.0.1:%d" % tcp_port)
    text = """\
log_level = %(log_level)s;
shutdown_timeout = "5s";
ingress = {
    router = %(router)s;
    %(pull)s
    max_message_size = %(max)d;
    rcvhwm = 10000;
    sndhwm = 10000;
    reply_queue_max = 10000;
    %(ingress_extra)s
};
spool = { path = "spool.db"; sync = "off"; };
status = { socket = "status.sock"; };
classify = {
    trust_hint = %(trust)s;
    rules = ( %(rules)s );
};
channels = {
%(channels)s
};
routes = (
%(routes)s
);
%(policies)s
%(extra)s
""" % {
        "policies": ("policies = { batch = { window = %s; }; };" %
                     cstr(batch_window)) if batch_window and
                     "policies" not in extra else "",
        "log_level": cstr(log_level),
        "router": clist(router),
        "pull": "pull = %s;" % clist(["ipc://pull.ipc"]) if pull else "",
        "max": max_message_size,
        "trust": "true" if trust_hint else "false",
        "rules": classify_rules,
        "channels": channels,
        "routes": routes,
        "extra": extra,
        "ingress_extra": ingress_extra,
    }
    path = os.path.join(tmpdir, "switchboard.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def notice(**fields):
    """A valid notice with the given fields changed; a value of None
    removes the field."""
    n = {"source": "app1", "audience": ["dept:eng"], "subject": "hello"}
    for k, v in fields.items():
        if v is None:
            n.pop(k, None)
        else:
            n[k] = v
    return n


def encode(req):
    """A request as the frames to send: dict → one JSON frame, bytes or
    str → that one frame, list → those frames."""
    if isinstance(req, dict):
        return [json.dumps(req).encode()]
    if isinstance(req, str):
        return [req.encode()]
    if isinstance(req, bytes):
        return [req]
    return list(req)


class Client:
    """An application talking to the ROUTER ingress (DEALER or REQ)."""

    def __init__(self, endpoint, kind=zmq.DEALER):
        self.kind = kind
        self.sock = CTX.socket(kind)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.setsockopt(zmq.SNDHWM, 0)
        self.sock.connect(endpoint)
        self.last_frames = None

    def close(self):
        self.sock.close(0)

    def send(self, req):
        frames = encode(req)
        self.sock.send_multipart(frames)

    def recv_frames(self, timeout=REPLY_TIMEOUT):
        if not self.sock.poll(int(timeout * 1000), zmq.POLLIN):
            raise AssertionError("no reply within %.0fs" % timeout)
        frames = self.sock.recv_multipart()
        self.last_frames = frames
        return frames

    def recv(self, timeout=REPLY_TIMEOUT):
        """The next reply, parsed (its last frame must be JSON)."""
        frames = self.recv_frames(timeout)
        try:
            reply = json.loads(frames[-1].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise AssertionError("reply is not JSON (%s): %r" %
                (e, frames)) from None
        assert isinstance(reply, dict), "reply not an object: %r" % \
            (reply,)
        return reply

    def request(self, req, timeout=REPLY_TIMEOUT):
        self.send(req)
        return self.recv(timeout)

    def pending(self, wait_ms=0):
        """Whether a reply is waiting."""
        return bool(self.sock.poll(wait_ms, zmq.POLLIN))


def check_error(reply, code, field=None, words=()):
    """Assert reply is a failure with code (and field, and every word
    of words appearing in its message, case-insensitively)."""
    assert reply.get("ok") is False, "expected %s, got %r" % (code, reply)
    err = reply.get("error")
    assert isinstance(err, dict), "no error object: %r" % (reply,)
    assert err.get("code") == code, "expected %s, got %r" % (code, reply)
    msg = err.get("message")
    assert isinstance(msg, str) and len(msg) >= 8, \
        "error message missing or vague: %r" % (reply,)
    if field is not None:
        assert err.get("field") == field, \
            "expected field %r: %r" % (field, reply)
    for w in words:
        assert w.lower() in msg.lower(), \
            "message should mention %r: %r" % (w, msg)
    return err


def check_ok(reply):
    assert reply.get("ok") is True, "expected ok: %r" % (reply,)
    assert isinstance(reply.get("id"), str) and reply["id"], reply
    return reply


def wait_until(pred, timeout=WAIT_TIMEOUT, what="condition", daemon=None):
    """Poll pred() until it is true; a hang guard, not a timing test."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if daemon is not None and daemon.proc.poll() is not None:
            raise AssertionError("daemon exited (%s) while waiting "
                "for %s" % (daemon.proc.returncode, what))
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting for %s after "
                "%.0fs" % (what, timeout))
        time.sleep(0.05)


def read_jsonl(path, digests=False):
    """The complete lines of a JSON-lines file, parsed; [] when absent.
    A trailing partial line (still being written) is left out. A batch
    digest line stands for its items: each is returned as a line of its
    own, with the item's own delivery id and "digest_id" (digests=True
    returns digest lines as they are)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    out = []
    for raw in data.split(b"\n")[:-1]:
        if not raw.strip():
            continue
        try:
            line = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise AssertionError("%s: line is not JSON (%s): %r" %
                (path, e, raw[:200])) from None
        if digests or not line.get("digest"):
            out.append(line)
            continue
        for item in line["items"]:
            flat = dict(item)
            flat["channel"] = line["channel"]
            flat["delivery_id"] = "%s/%s" % (item["id"], line["channel"])
            flat["digest_id"] = line["delivery_id"]
            flat["attempt"] = line["attempt"]
            out.append(flat)
    return out


def ids_in(path):
    return [line.get("id") for line in read_jsonl(path)]


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


_OUTCOME_RE = re.compile(r'(?:^|\s)outcome="?(\w+)"?')


def _kv(line, key):
    m = re.search(r'(?:^|\s)%s=("([^"]*)"|(\S+))' % re.escape(key), line)
    if m is None:
        return None
    return m.group(2) if m.group(2) is not None else m.group(3)


def outcomes(log_text, channel, notice_id=None):
    """The outcome= values of the log lines about one channel (and one
    notice id, when given), in order."""
    out = []
    for line in log_text.splitlines():
        if _kv(line, "channel") != channel:
            continue
        o = _kv(line, "outcome")
        if o is None:
            continue
        # id= may be the notice's or its delivery's ("NOTICE/CHANNEL").
        if notice_id is not None and \
                (_kv(line, "id") or "").split("/")[0] != notice_id:
            continue
        out.append(o)
    return out


class Daemon:
    """One switchboardd in its own directory."""

    def __init__(self, tmpdir, config, args=()):
        self.dir = tmpdir
        self.config = config
        self.log_path = os.path.join(tmpdir, "stderr.log")
        self.endpoint = "ipc://" + os.path.join(tmpdir, "in.ipc")
        self.args = list(args)
        self.proc = None
        self.stopped = False
        self.returncode = None
        self._clients = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def start(self):
        assert os.access(DAEMON, os.X_OK), \
            "%s not built (SB_BUILD=%s)" % (DAEMON, BUILD)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        env.setdefault("UBSAN_OPTIONS",
            "print_stacktrace=1:halt_on_error=1")
        self._log = open(self.log_path, "wb")
        cmd = [DAEMON, "-f", "-c", self.config] + self.args
        if VALGRIND:
            assert not links_mimalloc(DAEMON), \
                "%s is linked with mimalloc, which memcheck cannot " \
                "follow: make valgrind builds one without" % DAEMON
            cmd = VALGRIND_CMD + cmd
        self.proc = subprocess.Popen(
            cmd, cwd=self.dir, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self._wait_ping()
        return self

    def _wait_ping(self):
        c = Client(self.endpoint)
        try:
            c.send({"type": "ping"})
            deadline = time.monotonic() + START_TIMEOUT
            while not c.pending(100):
                if self.proc.poll() is not None:
                    raise AssertionError(
                        "switchboardd exited %d at start:\n%s"
                        % (self.proc.returncode, self.log()))
                if time.monotonic() > deadline:
                    raise AssertionError(
                        "no pong within %.0fs:\n%s" %
                        (START_TIMEOUT, self.log()))
            reply = c.recv()
            assert reply == {"ok": True, "pong": True}, reply
        finally:
            c.close()

    def client(self, kind=zmq.DEALER, endpoint=None):
        c = Client(endpoint or self.endpoint, kind)
        self._clients.append(c)
        return c

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kb(self):
        return vm_rss_kb(self.proc.pid)

    def stop(self):
        """SIGTERM; assert exit 0 within STOP_TIMEOUT and a clean
        sanitizer report. Idempotent."""
        if self.stopped:
            return self.returncode
        self.stopped = True
        for c in self._clients:
            c.close()
        self._clients = []
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._log.close()
                raise AssertionError("switchboardd did not exit "
                    "within %.0fs of SIGTERM:\n%s" %
                    (STOP_TIMEOUT, self.log_tail()))
        self._log.close()
        self.returncode = self.proc.returncode
        text = self.log()
        bad = [m for m in SANITIZER_MARKS if m in text]
        assert not bad, "sanitizer report (%s):\n%s" % \
            (", ".join(bad), text[-20000:])
        assert self.returncode == 0, \
            "switchboardd exited %s after SIGTERM:\n%s" % \
            (self.returncode, self.log_tail())
        return self.returncode

    def log_tail(self, n=20000):
        return self.log()[-n:]

    def kill(self):
        """For teardown after a failure elsewhere: never leave one
        running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class DaemonPool:
    """Starts daemons for a test (or a module) and stops them all."""

    def __init__(self):
        self.daemons = []
        self.dirs = []

    def start(self, channels, routes, args=(), **kw):
        d = self.prepare(channels, routes, **kw)
        return d.start()

    def prepare(self, channels, routes, args=(), **kw):
        tmp = make_dir()
        self.dirs.append(tmp)
        config = make_config(tmp, channels, routes, **kw)
        d = Daemon(tmp, config, args)
        self.daemons.append(d)
        return d

    def close(self):
        """Stop every daemon; raise the first failure after all are
        stopped."""
        first = None
        for d in self.daemons:
            try:
                d.stop()
            except AssertionError as e:
                first = first or e
            finally:
                d.kill()
        if first is None and not os.environ.get("SB_KEEP"):
            for t in self.dirs:
                shutil.rmtree(t, ignore_errors=True)
        if first is not None:
            raise first


def send_all(client, notices, window=500, timeout=REPLY_TIMEOUT):
    """Publish every notice (each with an id) keeping at most window
    requests in flight; return {id: reply}. Asserts that every request
    gets exactly one reply and that no reply names an unknown id."""
    replies = {}
    outstanding = set()
    queue = list(notices)
    queue.reverse()
    while queue or outstanding:
        while queue and len(outstanding) < window:
            n = queue.pop()
            assert n["id"] not in outstanding and n["id"] not in replies, \
                "test bug: id %s sent twice" % n["id"]
            client.send(n)
            outstanding.add(n["id"])
        reply = client.recv(timeout)
        rid = reply.get("id")
        assert rid in outstanding, \
            "reply for an id not in flight (%r): %r" % (rid, reply)
        outstanding.discard(rid)
        replies[rid] = reply
    assert not client.pending(0), "a reply too many: %r" % \
        (client.recv(),)
    return replies
