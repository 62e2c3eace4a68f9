"""Health probes and the circuit breaker, on a webhook channel whose HTTP
server (fakes.HookServer) goes down and comes back: the breaker opens after
max_failures failures, deliveries with a fallback go there without being
tried, the others wait; a half-open probe that succeeds closes it; the
channel's owner is told once on opening and once on closing, through
notify.owner_channel."""

import pytest

from fakes import HookServer
from sbtest import check_ok, cstr, ids_in, notice, outcomes, read_jsonl, \
    wait_until


class Flaky:
    """Answers 500 to everything while down, 200 when up."""

    def __init__(self):
        self.down = False

    def __call__(self, req):
        if self.down:
            return ("status", 503 if req.method == "HEAD" else 500, {},
                    b"maintenance")
        return ("status", 200, {}, b"ok")


@pytest.fixture
def hook():
    h = HookServer()
    yield h
    h.close()


# Flaky answers at once, up or down: the timeout only guards against an
# attempt slowed past it (a sanitizer, a busy machine), which would count
# as a failure.
def channels(url, fallback=True, retry_max=0):
    return """
hook = { type = "webhook"; url = %s; timeout = "10s";
         owner = "sre@example.org";
         retry = { max = %d; backoff = "100ms"; backoff_max = "100ms"; };
         health_check = { interval = "300ms"; max_failures = 2; };
         %s };
feed = { type = "file"; path = "feed.jsonl"; };
owners = { type = "file"; path = "owners.jsonl"; };
""" % (cstr(url), retry_max, 'fallback = "feed";' if fallback else "")


ROUTES = '{ match = { source = "app*"; }; channels = [ "hook" ]; }'
NOTIFY = 'notify = { owner_channel = "owners"; };'


def owner_events(d):
    return [(x["tags"]["event"], x["tags"]["ref"])
            for x in read_jsonl(d.path("owners.jsonl"))]


def posted_ids(hook):
    return [p.json()["id"] for p in hook.posts()]


def test_open_fallback_probe_close(sb, hook):
    flaky = Flaky()
    hook.behave = flaky
    d = sb.start(channels(hook.url("/b")), ROUTES, extra=NOTIFY)
    c = d.client()
    flaky.down = True
    for nid in ("b-1", "b-2"):
        check_ok(c.request(notice(id=nid, priority="high")))
    wait_until(lambda: owner_events(d) == [("breaker_open", "hook")],
               what="the owner told of the opening", daemon=d)
    wait_until(lambda: {"b-1", "b-2"} <= set(ids_in(d.path("feed.jsonl"))),
               what="failed deliveries on the fallback", daemon=d)
    owner = read_jsonl(d.path("owners.jsonl"))[0]
    assert owner["tags"]["owners"] == "sre@example.org"
    assert "circuit breaker opened" in owner["subject"]

    # Open: a new notice goes to the fallback without being tried.
    before = len(hook.posts())
    check_ok(c.request(notice(id="b-3", priority="high")))
    wait_until(lambda: "b-3" in ids_in(d.path("feed.jsonl")),
               what="b-3 on the fallback", daemon=d)
    assert "b-3" not in posted_ids(hook)
    assert len(hook.posts()) == before
    assert "circuit breaker open" in d.log().split("id=b-3/hook")[1]

    # Back up: a half-open probe closes it and deliveries resume.
    flaky.down = False
    wait_until(lambda: [e for e, _ in owner_events(d)] ==
               ["breaker_open", "breaker_closed"],
               what="the owner told of the closing", daemon=d)
    assert any(p.method == "HEAD" for p in hook.requests)
    check_ok(c.request(notice(id="b-4", priority="high")))
    wait_until(lambda: "b-4" in posted_ids(hook), what="b-4 posted",
               daemon=d)
    wait_until(lambda: "delivered" in outcomes(d.log(), "hook", "b-4"),
               what="b-4 delivered", daemon=d)
    d.stop()
    assert "b-4" not in ids_in(d.path("feed.jsonl"))
    assert len(owner_events(d)) == 2, "the owner was told more than twice"
    log = d.log()
    assert "breaker channel=hook state=open failures=2" in log
    assert "breaker channel=hook state=closed" in log


def test_open_holds_what_has_no_fallback(sb, hook):
    flaky = Flaky()
    hook.behave = flaky
    d = sb.start(channels(hook.url("/h"), fallback=False, retry_max=20),
                 ROUTES, extra=NOTIFY)
    c = d.client()
    flaky.down = True
    check_ok(c.request(notice(id="h-1", priority="high")))
    wait_until(lambda: ("breaker_open", "hook") in owner_events(d),
               what="the breaker open", daemon=d)
    tried = posted_ids(hook).count("h-1")
    assert 1 <= tried <= 2
    flaky.down = False
    wait_until(lambda: "delivered" in outcomes(d.log(), "hook", "h-1"),
               what="h-1 delivered after the breaker closed", daemon=d)
    d.stop()
    log = d.log()
    assert "dead delivery" not in log
    assert outcomes(log, "hook", "h-1") == ["retryable"] * tried + \
        ["delivered"]
    assert [e for e, _ in owner_events(d)] == ["breaker_open",
                                               "breaker_closed"]


def test_probes_alone_open_the_breaker(sb, hook):
    flaky = Flaky()
    flaky.down = True
    hook.behave = flaky
    d = sb.start(channels(hook.url("/p")), ROUTES, extra=NOTIFY)
    wait_until(lambda: owner_events(d) == [("breaker_open", "hook")],
               what="probes to open the breaker", daemon=d)
    assert hook.posts() == []
    assert "probe: HTTP 503" in read_jsonl(d.path("owners.jsonl"))[0][
        "subject"]
