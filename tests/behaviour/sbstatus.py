"""sbstatus: helpers for the tests of the status socket, sbctl's status
commands and the HTTP side (test_status.py, test_http.py, test_metrics.py).

The status socket speaks one command a line and answers one JSON object a
line (include/sb_status.h); HTTP is plain http.client against http.listen.
"""

import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import subprocess

from sbtest import REPLY_TIMEOUT, ROOT, SANITIZER_MARKS, SBCTL

# sbctl's exit codes (docs/sbctl.md).
OK, REFUSED, USAGE = 0, 1, 2

# A uid and gid for the unprivileged peer: nobody, in group root so that
# the 0660 root-owned socket lets it connect at all.
NOBODY = 65534

ACK_SECRET = b"a test secret, not a real one\n"


class StatusConn:
    """One connection to the status socket."""

    def __init__(self, path, timeout=REPLY_TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        """The next answer line, raw."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise AssertionError("status socket closed before a "
                                     "whole answer line: %r" %
                                     self.buf[:300])
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        return raw

    def answer(self):
        raw = self.line()
        try:
            a = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise AssertionError("answer is not JSON (%s): %r" %
                                 (e, raw[:300])) from None
        assert isinstance(a, dict), a
        return a

    def ask(self, command):
        self.send(command + "\n")
        return self.answer()

    def rest(self):
        """Everything until the daemon closes the connection."""
        data = self.buf
        self.buf = b""
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except ConnectionResetError:
                return data, "reset"
            if not chunk:
                return data, "eof"
            data += chunk


def ask(path, command):
    """One command on a connection of its own."""
    c = StatusConn(path)
    try:
        return c.ask(command)
    finally:
        c.close()


def check_fail(answer, code, words=()):
    """An error answer with code, a message a person can act on, and
    every word of words in it."""
    assert answer.get("ok") is False, "expected %s: %r" % (code, answer)
    err = answer.get("error")
    assert isinstance(err, dict), answer
    assert err.get("code") == code, "expected %s: %r" % (code, answer)
    msg = err.get("message", "")
    assert isinstance(msg, str) and len(msg) >= 10, answer
    for w in words:
        assert w.lower() in msg.lower(), "message should say %r: %r" % \
            (w, msg)
    return err


def sbctl(*args, env=None, as_nobody=False, timeout=120):
    """Run build/sbctl (from the repo root), optionally as uid nobody;
    $SB_STATUS is unset unless env sets it."""
    full_env = dict(os.environ)
    full_env.pop("SB_STATUS", None)
    full_env.pop("SB_ENDPOINT", None)
    full_env.update(env or {})
    assert os.access(SBCTL, os.X_OK), "%s not built" % SBCTL
    argv = [SBCTL] + list(args)
    if as_nobody:
        argv = nobody_argv(argv)
    r = subprocess.run(argv, cwd=ROOT, env=full_env, capture_output=True,
                       text=True, timeout=timeout)
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr, "sbctl: sanitizer report:\n" + r.stderr
    return r


def nobody_argv(argv):
    """argv run as uid nobody in group root, with no other group."""
    return ["setpriv", "--reuid=%d" % NOBODY, "--regid=0",
            "--clear-groups"] + argv


def open_to_group(daemon):
    """Let a process of group root reach the daemon's status socket: its
    private directory is 0700 as made."""
    os.chmod(daemon.dir, 0o750)


def write_secret(daemon_dir):
    path = os.path.join(daemon_dir, "ack.secret")
    with open(path, "wb") as f:
        f.write(ACK_SECRET)
    os.chmod(path, 0o600)
    return "ack.secret"


def ack_token(notice_id, secret=ACK_SECRET):
    """The token of an ack link: HMAC-SHA256 of the id, hex (the secret
    file's last newline is not part of the key)."""
    key = secret[:-1] if secret.endswith(b"\n") else secret
    return hmac.new(key, notice_id.encode(), hashlib.sha256).hexdigest()


def http_config(port, secret_file=None):
    """The http group of a config, for make_config(extra=...)."""
    text = 'listen = "127.0.0.1:%d";' % port
    if secret_file is not None:
        text += ' ack_secret_file = "%s"; public_url = ' \
            '"http://127.0.0.1:%d";' % (secret_file, port)
    return "http = { %s };" % text


def http_request(port, method, path, body=None):
    """(status, headers as a dict with lower-case names, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=REPLY_TIMEOUT)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        data = r.read().decode("utf-8")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metrics(port):
    """{(name, frozenset(labels.items())): value} of GET /metrics."""
    status, headers, text = http_request(port, "GET", "/metrics")
    assert status == 200, (status, text)
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), \
        headers
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(_LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(samples, name, **labels):
    """The value of switchboard_NAME{labels}; it must be there."""
    name = "switchboard_" + name
    key = (name, frozenset(labels.items()))
    assert key in samples, "no sample %s%r; have: %r" % (
        name, labels, sorted(k[0] for k in samples if k[0] == name))
    return samples[key]
