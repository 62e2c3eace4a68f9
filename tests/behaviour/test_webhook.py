"""webhook channels against a real HTTP server on 127.0.0.1 (fakes.HookServer):
each format's payload, headers and secrets, templates and ack links, retry
then success (500, 429 with Retry-After, a hang past the timeout, a dropped
connection), a 400 that is permanent and goes to the fallback, 1,000
deliveries through one channel with at most concurrency connections open,
and secret files rotated under a running daemon and taken by a reload."""

import os
import time

import pytest

from fakes import HookServer
from sbstatus import OK, REFUSED, ack_token, http_request, sbctl
from sbtest import check_ok, cstr, free_tcp_port, ids_in, notice, \
    outcomes, send_all, wait_until

SECRET = b"ack-secret-for-tests-0123456789"
TOKEN = "tok-3f9a-never-in-a-log"


@pytest.fixture
def hook():
    h = HookServer()
    yield h
    h.close()


def write(d, name, text, mode=0o600):
    path = d.path(name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


HTTP_EXTRA = ('http = { public_url = "https://sb.example.org/"; '
              'ack_secret_file = "ack.secret"; };')


def start(sb, channels, routes='{ channels = [ "hook" ]; }', extra="",
          files=()):
    d = sb.prepare(channels, routes, extra=extra)
    for name, text in files:
        write(d, name, text)
    return d.start()


RETRY = '{ max = 2; backoff = "100ms"; backoff_max = "200ms"; }'


# The attempt timeout is generous where a test does not time one out:
# an attempt slowed past it (a sanitizer, a busy machine) would be tried
# again, and a POST counted twice.
def hook_channel(url, name="hook", extra="", timeout="10s", retry=RETRY):
    return ('%s = { type = "webhook"; url = %s; timeout = "%s"; '
            'retry = %s; %s };' % (name, cstr(url), timeout, retry, extra))


# --- payloads -------------------------------------------------------------

def test_formats(sb, hook):
    channels = "\n".join([
        hook_channel(hook.url("/json"), "json",
                     'headers = { X-Team = "sre"; }; '
                     'header_files = { Authorization = "auth.secret"; };'),
        hook_channel(hook.url("/slack"), "slack", 'format = "slack";'),
        hook_channel(hook.url("/mm"), "mm", 'format = "mattermost";'),
        hook_channel("", "teams", 'format = "teams";')
        .replace('url = "";', 'url_file = "teams.url";'),
    ])
    d = start(sb, channels, '{ channels = [ "json", "slack", "mm", '
              '"teams" ]; }', extra=HTTP_EXTRA,
              files=[("auth.secret", "Bearer %s\n" % TOKEN),
                     ("teams.url", hook.url("/teams-s3cr3t") + "\n"),
                     ("ack.secret", SECRET.decode() + "\n")])
    c = d.client()
    check_ok(c.request(notice(id="f-1", subject="Disk <full> & hot",
                              body="/var at 97%\nact now", priority="high",
                              source="billing", audience=["dept:ops"],
                              respond_within="15m")))
    wait_until(lambda: len(hook.posts()) >= 4, what="4 posts", daemon=d)
    by = {r.path: r for r in hook.posts()}
    link = "https://sb.example.org/v1/ack/f-1?t=" + ack_token("f-1", SECRET)

    j = by["/json"]
    assert j.headers["Content-Type"].startswith("application/json")
    assert j.headers["X-Team"] == "sre"
    assert j.headers["Authorization"] == "Bearer " + TOKEN
    assert j.headers["X-Switchboard-Delivery"] == "f-1/json"
    p = j.json()
    assert p["delivery_id"] == "f-1/json" and p["id"] == "f-1"
    assert p["class"] == "interactive" and p["level"] == 0
    assert p["subject"] == "Disk <full> & hot" and p["source"] == "billing"
    assert p["ack_url"] == link

    s = by["/slack"].json()
    assert s["text"] == "Disk &lt;full&gt; &amp; hot"
    section, context = s["blocks"]
    assert section["type"] == "section"
    assert section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].startswith(
        "*Disk &lt;full&gt; &amp; hot*\n/var at 97%\nact now")
    assert "<%s|Acknowledge>" % link in section["text"]["text"]
    assert context["type"] == "context"
    assert "interactive" in context["elements"][0]["text"]

    m = by["/mm"].json()
    assert m["text"].startswith("#### Disk <full> & hot\n/var at 97%")
    assert "[Acknowledge](%s)" % link in m["text"]
    assert m["props"]["switchboard_id"] == "f-1"
    assert m["props"]["delivery_id"] == "f-1/mm"

    t = by["/teams-s3cr3t"].json()
    assert t["type"] == "message"
    att = t["attachments"][0]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = att["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == "Disk <full> & hot"
    assert card["body"][1]["text"].startswith("/var at 97%")
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["priority"] == "high" and facts["id"] == "f-1"
    assert card["actions"] == [{"type": "Action.OpenUrl",
                                "title": "Acknowledge", "url": link}]
    d.stop()
    log = d.log()
    assert TOKEN not in log and "s3cr3t" not in log, \
        "a secret reached the log"
    assert SECRET.decode() not in log


def test_template_and_anonymous(sb, hook):
    tpl = ('format = "mattermost"; template = { subject = "[{{priority}}] '
           '{{subject}}"; body = "from {{source}} to {{audience}}: {{body}} '
           '({{class}}/{{level}}/{{id}}/{{delivery_id}})"; };')
    d = start(sb, hook_channel(hook.url("/t"), extra=tpl))
    c = d.client()
    check_ok(c.request(notice(id="t-1", source="secret-app", anonymous=True,
                              priority="urgent", body="B",
                              audience=["dept:a", "staff:bob"])))
    wait_until(lambda: hook.posts(), what="a post", daemon=d)
    text = hook.posts()[0].json()["text"]
    assert text.startswith("#### [urgent] hello\nfrom anonymous to dept:a, "
                           "staff:bob: B (realtime/0/t-1/t-1/hook)"), text
    assert "secret-app" not in hook.posts()[0].body.decode()


def test_reload_takes_rotated_secrets(sb, hook):
    """A reload re-reads a kept channel's secret files: a rotated token or
    URL is used from the next delivery on (the channel starts anew, so
    the log says which file changed); unchanged files keep the channel
    as it is; a file the daemon cannot read now keeps the secret it has."""
    d = start(sb, hook_channel("", extra='header_files = { Authorization = '
                               '"auth.secret"; };')
              .replace('url = "";', 'url_file = "hook.url";'),
              files=[("auth.secret", "Bearer old-%s\n" % TOKEN),
                     ("hook.url", hook.url("/old-s3cr3t") + "\n")])
    sock = d.path("status.sock")
    c = d.client()

    def post_of(nid):
        check_ok(c.request(notice(id=nid, priority="high")))
        wait_until(lambda: any(p.headers["X-Switchboard-Delivery"] ==
                               nid + "/hook" for p in hook.posts()),
                   what="%s posted" % nid, daemon=d)
        return [p for p in hook.posts()
                if p.headers["X-Switchboard-Delivery"] == nid + "/hook"][0]

    p = post_of("s-1")
    assert p.path == "/old-s3cr3t"
    assert p.headers["Authorization"] == "Bearer old-" + TOKEN
    # Nothing changed: the channel is kept.
    assert sbctl("reload", "-s", sock).returncode == OK
    assert "starts anew" not in d.log()
    # Rotated: both files.
    write(d, "auth.secret", "Bearer new-%s\n" % TOKEN)
    write(d, "hook.url", hook.url("/new-s3cr3t") + "\n")
    r = sbctl("reload", "-s", sock)
    assert r.returncode == OK, r.stderr
    p = post_of("s-2")
    assert p.path == "/new-s3cr3t"
    assert p.headers["Authorization"] == "Bearer new-" + TOKEN
    # The first file read that changed is named.
    assert "channel hook starts anew: its secret file hook.url changed" \
        in d.log(), d.log_tail(2000)
    # Rotated to something unusable: the reload is refused, saying why,
    # and the channel goes on with what it has.
    write(d, "hook.url", "ftp://nowhere\n")
    r = sbctl("reload", "-s", sock)
    assert r.returncode == REFUSED, r
    assert "url_file hook.url does not hold an http:// or https:// URL" \
        in r.stderr, r.stderr
    p = post_of("s-2b")
    assert p.path == "/new-s3cr3t"
    assert p.headers["Authorization"] == "Bearer new-" + TOKEN
    write(d, "hook.url", hook.url("/new-s3cr3t") + "\n")
    # Unreadable now (a directory in its place): the channel keeps what
    # it has, and says so.
    os.rename(d.path("auth.secret"), d.path("auth.secret.bak"))
    os.mkdir(d.path("auth.secret"))
    assert sbctl("reload", "-s", sock).returncode == OK
    wait_until(lambda: "channel hook keeps the secret it read at its "
               "start: secret file auth.secret: not a regular file"
               in d.log(), what="the warning", daemon=d)
    p = post_of("s-3")
    assert p.headers["Authorization"] == "Bearer new-" + TOKEN
    d.stop()
    log = d.log()
    assert TOKEN not in log and "s3cr3t" not in log, \
        "a secret reached the log"


def test_reload_rotates_the_ack_secret(sb, hook):
    """The ack secret rotated under a running daemon, as docs/operations.md
    says: the new one in ack_secret_file, the old one in
    ack_secret_previous_file. New links carry the new token at once (the
    channel is not restarted), links of both work, across a restart too;
    dropping the previous one revokes its links at once; a file that
    cannot be read fails the reload, saying so, and changes nothing; a
    new public_url reaches new links."""
    port = free_tcp_port()

    def config(previous=None, url="http://127.0.0.1:%d" % port):
        with open(d.config) as f:
            text = f.read()
        head = text[:text.index("http = {")]
        text = head + ('http = { listen = "127.0.0.1:%d"; ack_secret_file = '
                       '"ack.secret"; public_url = "%s"; %s };\n'
                       % (port, url, 'ack_secret_previous_file = "%s";'
                          % previous if previous else ""))
        tmp = d.config + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, d.config)

    d = sb.prepare(hook_channel(hook.url("/ack")),
                   '{ channels = [ "hook" ]; }',
                   extra='http = { listen = "127.0.0.1:%d"; };' % port)
    config()
    write(d, "ack.secret", "first-secret\n")
    d.start()
    sock = d.path("status.sock")

    def link_of(nid):
        check_ok(d.client().request(notice(id=nid, respond_within="2h")))
        wait_until(lambda: any(p.json()["id"] == nid for p in hook.posts()),
                   what="%s posted" % nid, daemon=d)
        return [p.json()["ack_url"] for p in hook.posts()
                if p.json()["id"] == nid][0]

    def reload():
        r = sbctl("reload", "-s", sock)
        assert r.returncode == OK, r.stderr

    def follow(link):
        assert link.startswith("http://127.0.0.1:%d/" % port), link
        return http_request(port, "GET", link[len("http://127.0.0.1:%d"
                                                  % port):])[0]

    def no_secret_in_log():
        for word in ("first-secret", "second-secret"):
            assert word not in d.log(), "a secret reached the log"

    first = [link_of("a-%d" % i) for i in range(5)]
    assert first[0].endswith("?t=" + ack_token("a-0", b"first-secret"))
    # Rotate: the old secret kept as the previous one.
    os.rename(d.path("ack.secret"), d.path("ack.secret.old"))
    write(d, "ack.secret", "second-secret\n")
    config(previous="ack.secret.old")
    reload()
    log = d.log()
    assert "ack secret rotated: new links are made with ack.secret; links " \
        "made with http.ack_secret_previous_file still work" in log, log
    assert "channel replaced" not in log and "starts anew" not in log, log
    second = [link_of("b-%d" % i) for i in range(5)]
    assert second[0].endswith("?t=" + ack_token("b-0", b"second-secret"))
    assert follow(first[0]) == 200
    assert follow(second[0]) == 200
    # A reload that changes nothing keeps both.
    reload()
    assert d.log().count("ack secret rotated") == 1
    assert follow(first[1]) == 200 and follow(second[1]) == 200
    # Nothing is remembered but the files: so a restart keeps both too.
    d.stop()
    no_secret_in_log()
    d.stopped = False
    d.start()
    assert follow(first[2]) == 200 and follow(second[2]) == 200
    # A file that cannot be read fails the reload, naming it; the one
    # that would have dropped the previous secret too: nothing changes.
    os.rename(d.path("ack.secret"), d.path("ack.secret.bak"))
    os.mkdir(d.path("ack.secret"))
    config(url="https://sb.example.org/")
    r = sbctl("reload", "-s", sock)
    assert r.returncode == REFUSED, r
    assert "http.ack_secret_file: secret file ack.secret: not a regular " \
        "file" in r.stderr, r.stderr
    assert link_of("c-0") == "http://127.0.0.1:%d/v1/ack/c-0?t=%s" % (
        port, ack_token("c-0", b"second-secret"))
    assert follow(first[3]) == 200 and follow(second[3]) == 200
    os.rmdir(d.path("ack.secret"))
    os.rename(d.path("ack.secret.bak"), d.path("ack.secret"))
    # The previous one dropped: its links stop at once, the current's
    # still work, and a new public_url reaches the next link.
    reload()
    assert "ack secret previous=none" in d.log()
    assert follow(first[4]) == 403
    assert follow(second[4]) == 200
    assert link_of("d-0") == "https://sb.example.org/v1/ack/d-0?t=" + \
        ack_token("d-0", b"second-secret")
    assert "channel replaced" not in d.log()
    d.stop()
    assert d.proc.returncode == 0, d.log_tail()
    no_secret_in_log()


# --- outcomes -------------------------------------------------------------

def scripted(*actions):
    """Answer the n-th POST with actions[n] (the last one repeats)."""
    seen = []

    def behave(req):
        if req.method != "POST":
            return ("status", 200, {}, b"")
        seen.append(req)
        return actions[min(len(seen), len(actions)) - 1]
    return behave


@pytest.mark.parametrize("first,words", [
    (("status", 500, {}, b"backend down"), ["HTTP 500", "backend down"]),
    (("status", 503, {}, b""), ["HTTP 503"]),
    (("status", 408, {}, b""), ["HTTP 408"]),
    (("hang", 4), ["Timeout"]),
    (("drop",), ["Empty reply"]),
], ids=["500", "503", "408", "hang", "drop"])
def test_retry_then_success(sb, hook, first, words):
    hook.behave = scripted(first, ("status", 204, {}, b""))
    d = start(sb, hook_channel(hook.url("/r"), timeout="1s"))
    c = d.client()
    check_ok(c.request(notice(id="r-1", priority="high")))
    wait_until(lambda: "delivered" in outcomes(d.log(), "hook", "r-1"),
               what="delivered after a retry", daemon=d)
    posts = hook.posts()
    assert [p.headers["X-Switchboard-Attempt"] for p in posts] == ["1", "2"]
    assert {p.headers["X-Switchboard-Delivery"] for p in posts} == \
        {"r-1/hook"}
    d.stop()
    assert outcomes(d.log(), "hook", "r-1") == ["retryable", "delivered"]
    line = [x for x in d.log().splitlines() if "outcome=retryable" in x][0]
    for w in words:
        assert w in line, line


def test_retry_after_honoured(sb, hook):
    hook.behave = scripted(("status", 429, {"Retry-After": "2"}, b"slow"),
                           ("status", 200, {}, b""))
    d = start(sb, hook_channel(hook.url("/ra")))
    check_ok(d.client().request(notice(id="ra-1", priority="high")))
    wait_until(lambda: len(hook.posts()) == 2, what="the retry", daemon=d)
    first, second = hook.posts()
    # backoff is 100ms; only Retry-After explains a pause of 2s.
    assert second.at - first.at >= 1.9, second.at - first.at
    wait_until(lambda: "delivered" in outcomes(d.log(), "hook", "ra-1"),
               what="delivered", daemon=d)
    assert "HTTP 429 (Retry-After 2s): slow" in d.log()


def test_permanent_goes_to_fallback(sb, hook):
    hook.behave = scripted(("status", 400, {},
                            b"invalid_payload: no text" + b"x" * 1000))
    d = start(sb, hook_channel(hook.url("/p"), extra='fallback = "feed";') +
              '\nfeed = { type = "file"; path = "feed.jsonl"; };')
    check_ok(d.client().request(notice(id="p-1", priority="high")))
    wait_until(lambda: "p-1" in ids_in(d.path("feed.jsonl")),
               what="p-1 on the fallback", daemon=d)
    assert len(hook.posts()) == 1, "a 400 must not be retried"
    d.stop()
    assert outcomes(d.log(), "hook", "p-1") == ["permanent"]
    line = [x for x in d.log().splitlines() if "outcome=permanent" in x][0]
    assert 'error="HTTP 400: invalid_payload: no text' in line
    assert "x" * 300 not in line, "the whole answer body was logged"


def test_connection_refused_is_retryable(sb, hook):
    port = hook.port
    hook.close()
    d = start(sb, hook_channel("http://127.0.0.1:%d/x" % port,
                               retry='{ max = 1; backoff = "50ms"; '
                               'backoff_max = "50ms"; }',
                               extra='fallback = "feed";') +
              '\nfeed = { type = "file"; path = "feed.jsonl"; };')
    check_ok(d.client().request(notice(id="cr-1", priority="high")))
    wait_until(lambda: "cr-1" in ids_in(d.path("feed.jsonl")),
               what="cr-1 on the fallback after retries", daemon=d)
    d.stop()
    assert outcomes(d.log(), "hook", "cr-1") == ["retryable", "retryable"]
    assert "Couldn't connect to server" in d.log()


def test_tls_verify_false_is_warned(sb, hook):
    d = start(sb, hook_channel(hook.url("/w"), extra="tls_verify = false;"))
    assert "channel hook: tls_verify = false" in d.log()
    d2 = start(sb, hook_channel(hook.url("/w")))
    assert "tls_verify" not in d2.log()


# --- load -----------------------------------------------------------------

def test_thousand_deliveries_bounded_connections(sb, hook):
    d = start(sb, hook_channel(hook.url("/load"), extra="concurrency = 4; "
                               "queue_max = 2000;"))
    c = d.client()
    ns = [notice(id="l-%04d" % i, priority="high") for i in range(1000)]
    replies = send_all(c, ns)
    assert all(r["ok"] for r in replies.values())
    wait_until(lambda: len(hook.posts()) >= 1000, timeout=120,
               what="1000 posts", daemon=d)
    time.sleep(0.2)
    posts = hook.posts()
    assert len(posts) == 1000
    assert len({p.headers["X-Switchboard-Delivery"] for p in posts}) == 1000
    assert hook.max_conns <= 4, "%d connections open at once" % \
        hook.max_conns
    # Connections are reused, not one per request.
    assert hook.conns_total <= 8, "%d connections opened" % hook.conns_total
