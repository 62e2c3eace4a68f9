"""Anonymous notices (SPEC 2.1, docs/security.md): the source of a notice
sent with "anonymous": true appears in no channel output, log line, spool
row or report. One daemon runs every channel type (file, exec, zmq_pub,
webhook and smtp with {{source}} in their templates, a failing exec with a
fallback), a batch digest, an escalation that runs to expiry and tells
the owners, a limit, a duplicate and a refused notice, all anonymous;
then every place the source could have gone is searched for it: each
file the daemon wrote, its spool (database and WAL), its log, what the
network peers received, the status socket, the HTTP side and sbctl
report. A named notice sent alongside is found in the same places, which
shows that the search can see."""

import http.client
import os
import socket
import subprocess

import pytest
import zmq

from fakes import HookServer, MailSink
from sbtest import (CTX, SBCTL, check_error, check_ok, clist, cstr,
                    free_tcp_port, ids_in, notice, wait_until)

SECRET = "anon-src-7f3a"
NAMED = "named-src-5b2c"

DUMP = ('cat > "dump-$SB_ID.json"; env | grep ^SB_ > "dump-$SB_ID.env"; '
        'exit 0')
FAIL = 'cat > /dev/null; echo "refusing $SB_ID" >&2; exit 3'


def channels(hook, mail):
    tpl = ('template = { subject = "{{subject}} from {{source}}"; '
           'body = "{{source}} says {{body}} to {{audience}}"; };')
    return "\n".join([
        'feed = { type = "file"; path = "feed.jsonl"; owner = "ops"; };',
        'owners = { type = "file"; path = "owners.jsonl"; };',
        'dump = { type = "exec"; command = %s; timeout = "10s"; };'
        % clist(["/bin/sh", "-c", DUMP]),
        'broken = { type = "exec"; command = %s; timeout = "10s"; '
        'fallback = "fb"; owner = "ops"; };'
        % clist(["/bin/sh", "-c", FAIL]),
        'fb = { type = "file"; path = "fb.jsonl"; };',
        'fan = { type = "zmq_pub"; endpoint = "ipc://pub.ipc"; };',
        'hook = { type = "webhook"; url = %s; format = "slack"; %s };'
        % (cstr(hook.url("/h")), tpl),
        'mail = { type = "smtp"; url = %s; from = "sb@example.org"; '
        'recipients = ( { audience = "*"; to = "ops@example.org"; } ); '
        '%s };' % (cstr(mail.url()), tpl),
    ])


ROUTES = ('{ name = "capped"; match = { audience = "group:capped"; }; '
          'channels = [ "feed" ]; },\n'
          '{ name = "all"; match = { audience = [ "dept:*", "staff:*" ]; }; '
          'channels = [ "feed", "dump", "broken", "fan", "hook", "mail" ]; '
          '}')

EXTRA = """
notify = { owner_channel = "owners"; };
escalations = { page = { levels = ( { after = "1s"; channels = "feed"; } );
                         expire_after = "1s"; }; };
policies = { batch = { window = "1s"; };
             interactive = { escalation = "page"; }; };
limits = ( { name = "once"; match = { audience = "group:capped"; };
             max = 1; per = "1h"; action = "reject"; } );
http = { listen = "127.0.0.1:%d"; };
"""


@pytest.fixture
def peers():
    hook, mail = HookServer(), MailSink()
    yield hook, mail
    hook.close()
    mail.close()


def status(path, line):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    s.sendall(line.encode() + b"\n")
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def http_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return body


def everything_in(d):
    """Every file under the daemon's directory, as bytes by name."""
    out = {}
    for root, _, files in os.walk(d.dir):
        for name in files:
            path = os.path.join(root, name)
            if name.endswith(".ipc") or name.endswith(".sock"):
                continue
            with open(path, "rb") as f:
                out[os.path.relpath(path, d.dir)] = f.read()
    return out


def test_anonymous_source_is_nowhere(sb, peers):
    hook, mail = peers
    port = free_tcp_port()
    d = sb.start(channels(hook, mail), ROUTES, extra=EXTRA % port,
                 batch_window=None)
    sub = CTX.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect("ipc://" + d.path("pub.ipc"))
    got = []
    c = d.client()
    # PUB drops what it sends before the subscription arrives.
    for i in range(300):
        check_ok(c.request(notice(id="probe-%d" % i,
                                  audience=["staff:probe"])))
        if sub.poll(100):
            break
    else:
        raise AssertionError("SUB never received a probe")

    def anon(**kw):
        return notice(source=SECRET, anonymous=True, **kw)
    ids = ["a-rt", "a-batch", "a-int", "a-cap"]
    check_ok(c.request(anon(id="a-rt", priority="high",
                            audience=["dept:eng", "staff:ann"])))
    check_ok(c.request(anon(id="a-batch", priority="low")))
    check_ok(c.request(anon(id="a-int", respond_within="1s",
                            audience=["staff:bob"])))
    check_ok(c.request(anon(id="a-cap", audience=["group:capped"])))
    check_error(c.request(anon(id="a-cap2", audience=["group:capped"])),
                "rate_limited")
    dup = c.request(anon(id="a-rt", priority="high",
                         audience=["dept:eng", "staff:ann"]))
    assert dup.get("duplicate") is True, dup
    check_error(c.request(anon(id="a-none", audience=["customer:x"])),
                "no_route")
    check_ok(c.request(notice(id="n-named", source=NAMED, priority="high",
                              audience=["dept:eng"])))

    # Every medium has had its deliveries; the escalation ran to expiry.
    feed = d.path("feed.jsonl")
    wait_until(lambda: {"a-rt", "a-batch", "a-cap", "n-named"} <=
               set(ids_in(feed)), what="feed deliveries", daemon=d)
    wait_until(lambda: sum(1 for ln in open(feed)
                           if '"escalation"' in ln) >= 1,
               what="the escalation of a-int", daemon=d)
    wait_until(lambda: os.path.exists(d.path("owners.jsonl")) and
               "a-int" in open(d.path("owners.jsonl")).read(),
               what="owners told that a-int expired", daemon=d)
    wait_until(lambda: {"a-rt", "a-batch", "n-named"} <=
               set(ids_in(d.path("fb.jsonl"))),
               what="fallback of the broken exec", daemon=d)
    wait_until(lambda: all(os.path.exists(d.path("dump-%s.json" % i))
                           for i in ("a-rt", "a-int", "n-named")),
               what="exec dumps", daemon=d)
    # A count can be reached by probes and digests before the named
    # notice arrives: wait for it too, on each medium.
    named = NAMED.encode()
    wait_until(lambda: len(hook.posts("/h")) >= 4 and
               any(named in r.body for r in hook.posts("/h")),
               what="webhook posts", daemon=d)
    wait_until(lambda: len(mail.received()) >= 4 and
               any(named in m["raw"] for m in mail.received()),
               what="mails", daemon=d)

    def named_published():
        while sub.poll(0):
            got.append(b"|".join(sub.recv_multipart()))
        return any(named in m for m in got)
    wait_until(named_published, what="the named notice on zmq_pub",
               daemon=d)
    while sub.poll(1000):
        got.append(b"|".join(sub.recv_multipart()))
    sub.close(0)

    # What the outside sees while it runs.
    seen = {}
    for nid in ids + ["n-named"]:
        seen["status message " + nid] = status(d.path("status.sock"),
                                               "message " + nid)
    for cmd in ("status", "pending", "channels", "routes"):
        seen["status " + cmd] = status(d.path("status.sock"), cmd)
    seen["http /v1/status"] = http_get(port, "/v1/status")
    seen["http /metrics"] = http_get(port, "/metrics")
    seen["zmq_pub"] = b"\n".join(got)
    seen["webhook"] = b"\n".join(r.path.encode() + repr(r.headers).encode()
                                 + r.body for r in hook.posts())
    seen["smtp"] = b"\n".join(m["raw"] for m in mail.received())
    d.stop()
    seen["log"] = d.log().encode()
    for name, data in everything_in(d).items():
        seen["file " + name] = data
    r = subprocess.run([SBCTL, "help", "report"], capture_output=True)
    if r.returncode == 0:
        for fmt in ("text", "json", "html"):
            r = subprocess.run([SBCTL, "report", "-c", d.config, "--spool",
                                d.path("spool.db"), "--format", fmt],
                               capture_output=True, timeout=60, cwd=d.dir)
            assert r.returncode == 0, r.stderr
            seen["report " + fmt] = r.stdout + r.stderr

    leaks = [name for name, data in seen.items() if SECRET.encode() in data]
    assert not leaks, "the anonymous source reached: %s" % ", ".join(leaks)
    # The search sees: the named notice's source is where it went.
    for name in ("file feed.jsonl", "file fb.jsonl",
                 "file dump-n-named.json", "zmq_pub", "webhook", "smtp",
                 "status message n-named"):
        assert NAMED.encode() in seen[name], \
            "the named source is not in %s: the search proves nothing" % \
            name
    assert any(NAMED.encode() in data for name, data in seen.items()
               if name.startswith("file spool.db")), \
        "the named source is not in the spool: the search proves nothing"
    # And the anonymous notices went everywhere the named one did.
    assert b"from anonymous" in seen["smtp"]
    assert b"anonymous says" in seen["webhook"]
