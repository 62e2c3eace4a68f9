"""fakes: real servers on 127.0.0.1 for the webhook and smtp channels.

HookServer is an HTTP/1.1 server (keep-alive, one thread a connection) that
records every request and answers as the test says: a function of the
request returns ("status", code, headers, body), ("hang", seconds) or
("drop",). It counts the connections open at once.

MailSink is an SMTP relay (aiosmtpd, from Debian's python3-aiosmtpd) that
stores every message it receives, parsed back with Python's email package;
it refuses recipients on cue (4xx or 5xx) and may require STARTTLS and AUTH.
"""

import email
import email.policy
import http.server
import socket
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Request:
    def __init__(self, method, path, headers, body, conn):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.conn = conn  # the connection's number, to see reuse
        self.at = time.monotonic()

    def json(self):
        import json
        return json.loads(self.body.decode("utf-8"))


def _ok(req):
    return ("status", 200, {}, b"ok")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        srv = self.server.hook
        with srv.lock:
            srv.conns += 1
            srv.conns_total += 1
            self.conn_no = srv.conns_total
            srv.max_conns = max(srv.max_conns, srv.conns)

    def finish(self):
        try:
            super().finish()
        finally:
            srv = self.server.hook
            with srv.lock:
                srv.conns -= 1

    def _serve(self):
        srv = self.server.hook
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        req = Request(self.command, self.path, dict(self.headers), body,
                      self.conn_no)
        with srv.lock:
            srv.requests.append(req)
        action = srv.behave(req)
        if action[0] == "hang":
            time.sleep(action[1])
            self.close_connection = True
            return
        if action[0] == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        _, code, headers, payload = action
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_POST = _serve
    do_GET = _serve
    do_HEAD = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class HookServer:
    def __init__(self, behave=_ok):
        self.behave = behave
        self.lock = threading.Lock()
        self.requests = []
        self.conns = 0
        self.conns_total = 0
        self.max_conns = 0
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.hook = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def posts(self, path=None):
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and
                    (path is None or r.path == path)]

    def probes(self):
        with self.lock:
            return [r for r in self.requests if r.method in ("HEAD", "GET")]

    def close(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


class _MailHandler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        local = address.split("@")[0]
        if local.startswith("busy"):
            return "451 4.3.2 mailbox busy, try later"
        if local.startswith("nobody"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content,
                                       policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append({
                "from": envelope.mail_from,
                "rcpt": list(envelope.rcpt_tos),
                "raw": envelope.original_content,
                "msg": msg,
                "tls": session.ssl is not None,
                "auth": session.auth_data,
            })
        return "250 2.0.0 queued"


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_cert(tmpdir):
    """A self-signed certificate for 127.0.0.1: (cert path, key path)."""
    cert = tmpdir + "/cert.pem"
    key = tmpdir + "/key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


class MailSink:
    def __init__(self, tls=None, auth=None):
        """tls: (cert, key) to offer and require STARTTLS; auth: (user,
        password) to require AUTH."""
        self.lock = threading.Lock()
        self.messages = []
        kw = {}
        if tls is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*tls)
            kw.update(tls_context=ctx, require_starttls=True)
        if auth is not None:
            def check(server, session, envelope, mechanism, data):
                ok = (data.login.decode(), data.password.decode()) == auth
                return AuthResult(success=ok, auth_data=data.login.decode())
            kw.update(authenticator=check, auth_required=True,
                      auth_require_tls=tls is not None)
        self.port = _free_port()
        # ready_timeout: its 5 s default is short on a loaded machine.
        self.controller = Controller(_MailHandler(self), hostname="127.0.0.1",
                                     port=self.port, ready_timeout=30, **kw)
        self.controller.start()

    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def received(self):
        with self.lock:
            return list(self.messages)

    def close(self):
        self.controller.stop()
