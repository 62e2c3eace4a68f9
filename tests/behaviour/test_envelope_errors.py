"""Envelope: every reply code reachable through the wire protocol (SPEC §2.3)
and every field rule of SPEC §2.1, checked on the reply and on the channel."""

import json

import pytest

from sbtest import (check_error, check_ok, ids_in, notice, read_jsonl,
                    wait_until)

FEED = 'feed = { type = "file"; path = "feed.jsonl"; queue_max = 20000; };'
ALL_TO_FEED = '{ name = "all"; match = { source = "*"; }; ' \
    'channels = [ "feed" ]; }'
ID_RE_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789._:-")


@pytest.fixture(scope="module")
def daemon(sb_module):
    return sb_module.start(FEED, ALL_TO_FEED)


@pytest.fixture
def client(daemon):
    c = daemon.client()
    yield c
    c.close()


def feed_line(daemon, notice_id):
    """Wait for the feed line of one notice and return it."""
    path = daemon.path("feed.jsonl")

    def find():
        for line in read_jsonl(path):
            if line.get("id") == notice_id:
                return line
        return None
    return wait_until(find, what="%s in feed.jsonl" % notice_id,
                      daemon=daemon)


def sized_notice(size, nid):
    """The JSON of a valid notice exactly size bytes long."""
    n = notice(id=nid, body="")
    base = len(json.dumps(n).encode())
    n["body"] = "x" * (size - base)
    raw = json.dumps(n).encode()
    assert len(raw) == size
    return raw


# --- each error code -------------------------------------------------------

def test_ping_answers_pong_in_one_frame(client):
    client.send({"type": "ping"})
    frames = client.recv_frames()
    assert len(frames) == 1, "a DEALER request gets one frame: %r" % frames
    assert json.loads(frames[0]) == {"ok": True, "pong": True}


@pytest.mark.parametrize("raw", [
    b'{"source": "app1", "audience": [',
    b"not json at all",
    b'{"source": "app1", "subject": "a",}',
    b"{'source': 'app1'}",
])
def test_bad_json(client, raw):
    check_error(client.request(raw), "bad_json")


def test_too_large_names_the_limit(daemon, client):
    check_ok(client.request(sized_notice(65536, "size-at-limit")))
    reply = client.request(sized_notice(65537, "size-over-limit"))
    check_error(reply, "too_large", words=["65536"])
    reply = client.request(sized_notice(65536 + 4000, "size-far-over"))
    check_error(reply, "too_large", words=["65536"])
    feed_line(daemon, "size-at-limit")
    check_ok(client.request(notice(id="size-sentinel")))
    feed_line(daemon, "size-sentinel")
    got = ids_in(daemon.path("feed.jsonl"))
    assert "size-over-limit" not in got and "size-far-over" not in got


@pytest.mark.parametrize("field", ["source", "audience", "subject"])
def test_missing_field(client, field):
    reply = client.request(notice(**{field: None}))
    check_error(reply, "missing_field", field=field, words=[field])


@pytest.mark.parametrize("overrides,field,words", [
    ({"audience": ["dept:eng", "staff:all", "dpt:x"]}, "audience",
     ["dpt", "staff", "customer", "public"]),
    ({"audience": ["dept:%d" % i for i in range(65)]}, "audience", ["64"]),
    ({"priority": "critical"}, "priority", ["critical", "urgent"]),
    ({"goal": "sell"}, "goal", ["sell", "resolve"]),
    ({"class": "urgent"}, "class", ["urgent", "interactive"]),
    ({"subject": "s" * 257}, "subject", ["256"]),
    ({"subject": "line\nbreak"}, "subject", ["control"]),
    ({"id": "i" * 129}, "id", ["128"]),
    ({"source": "a" * 65}, "source", ["64"]),
    ({"tags": {"k%d" % i: "v" for i in range(33)}}, "tags", ["32"]),
    ({"respond_within": "4x"}, "respond_within", ["4x"]),
    ({"subjekt": "typo"}, "subjekt", ["subjekt"]),
    ({"v": 2}, "v", []),
    ({"anonymous": "yes"}, "anonymous", []),
], ids=lambda v: None if not isinstance(v, dict) else
    "-".join(sorted(v)))
def test_invalid_field_says_what_was_expected(client, overrides, field,
                                              words):
    reply = client.request(notice(**overrides))
    check_error(reply, "invalid_field", field=field, words=words)


@pytest.mark.parametrize("req", [
    {"type": "bogus"},
    dict(notice(), type="bogus"),
])
def test_unknown_type(client, req):
    reply = client.request(req)
    check_error(reply, "unknown_type", field="type",
                words=["bogus", "notice", "ack", "ping"])


def test_no_route_names_the_notice(sb):
    d = sb.start(FEED, '{ name = "apps"; match = { source = "app*"; }; '
                 'channels = [ "feed" ]; }')
    c = d.client()
    reply = c.request(notice(id="lost-1", source="billing"))
    check_error(reply, "no_route")
    assert reply.get("id") == "lost-1", \
        "a failure reply carries the id when known: %r" % reply
    check_ok(c.request(notice(id="routed-1", source="app9")))
    wait_until(lambda: "routed-1" in ids_in(d.path("feed.jsonl")),
               what="routed-1 delivered", daemon=d)
    d.stop()
    assert ids_in(d.path("feed.jsonl")) == ["routed-1"]


# --- the field table of SPEC §2.1 ------------------------------------------

OK = "ok"
KINDS = ["staff", "dept", "role", "group", "mgmt", "customer", "partner"]


def bad(field, code="invalid_field"):
    return (code, field)


FIELD_CASES = [
    # v
    ("v", 1, OK), ("v", 2, bad("v")), ("v", 0, bad("v")),
    ("v", "1", bad("v")), ("v", 1.5, bad("v")), ("v", True, bad("v")),
    # type
    ("type", "notice", OK), ("type", 7, bad("type")),
    ("type", "bogus", bad("type", "unknown_type")),
    ("type", "Notice", bad("type", "unknown_type")),
    # id
    ("id", "a", OK), ("id", "A-z.0_9:x", OK), ("id", "i" * 128, OK),
    ("id", "", bad("id")), ("id", "i" * 129, bad("id")),
    ("id", "a b", bad("id")), ("id", "a/b", bad("id")),
    ("id", "caf\u00e9", bad("id")), ("id", "a\n", bad("id")),
    ("id", 12, bad("id")), ("id", ["a"], bad("id")),
    # source
    ("source", "a", OK), ("source", "s" * 64, OK),
    ("source", "App-1.x_2", OK),
    ("source", None, bad("source", "missing_field")),
    ("source", "", bad("source")), ("source", "s" * 65, bad("source")),
    ("source", "a b", bad("source")), ("source", "a:b", bad("source")),
    ("source", "a/b", bad("source")), ("source", "\u00e9", bad("source")),
    ("source", 5, bad("source")),
    # audience
    ("audience", ["public"], OK), ("audience", ["staff:*"], OK),
    ("audience", [k + ":x" for k in KINDS] + ["public"], OK),
    ("audience", ["dept:d%d" % i for i in range(64)], OK),
    ("audience", None, bad("audience", "missing_field")),
    ("audience", [], bad("audience")),
    ("audience", ["dept:d%d" % i for i in range(65)], bad("audience")),
    ("audience", ["dpt:x"], bad("audience")),
    ("audience", ["dept"], bad("audience")),
    ("audience", ["dept:"], bad("audience")),
    ("audience", [":x"], bad("audience")),
    ("audience", [1], bad("audience")),
    ("audience", "dept:eng", bad("audience")),
    # subject: characters, not bytes; no control characters
    ("subject", "x", OK), ("subject", "s" * 256, OK),
    ("subject", "\u00e9" * 256, OK), ("subject", "\U0001F600" * 256, OK),
    ("subject", "Caf\u00e9 \u2013 \u65e5\u672c", OK),
    ("subject", None, bad("subject", "missing_field")),
    ("subject", "", bad("subject")), ("subject", "s" * 257, bad("subject")),
    ("subject", "\u00e9" * 257, bad("subject")),
    ("subject", "\U0001F600" * 257, bad("subject")),
    ("subject", "a\nb", bad("subject")), ("subject", "a\tb", bad("subject")),
    ("subject", "a\u0000b", bad("subject")),
    ("subject", "a\u001bb", bad("subject")),
    ("subject", "a\u007fb", bad("subject")),
    ("subject", "a\u0085b", bad("subject")),
    ("subject", 5, bad("subject")),
    # body
    ("body", "", OK), ("body", "two\nlines\tand a tab", OK),
    ("body", "\u00e9" * 1000, OK), ("body", "b" * 60000, OK),
    ("body", 5, bad("body")), ("body", ["b"], bad("body")),
    # priority
    ("priority", "low", OK), ("priority", "normal", OK),
    ("priority", "high", OK), ("priority", "urgent", OK),
    ("priority", "critical", bad("priority")),
    ("priority", "HIGH", bad("priority")), ("priority", "", bad("priority")),
    ("priority", 1, bad("priority")),
    # goal
    ("goal", "inform", OK), ("goal", "collect", OK), ("goal", "resolve", OK),
    ("goal", "relate", OK), ("goal", "sell", bad("goal")),
    ("goal", "", bad("goal")), ("goal", 2, bad("goal")),
    # class (a hint)
    ("class", "realtime", OK), ("class", "batch", OK),
    ("class", "interactive", OK), ("class", "urgent", bad("class")),
    ("class", "", bad("class")), ("class", 1, bad("class")),
    # respond_within
    ("respond_within", "90s", OK), ("respond_within", "15m", OK),
    ("respond_within", "4h", OK), ("respond_within", "2d", OK),
    ("respond_within", "4x", bad("respond_within")),
    ("respond_within", "", bad("respond_within")),
    ("respond_within", "-5s", bad("respond_within")),
    ("respond_within", "4", bad("respond_within")),
    ("respond_within", "h", bad("respond_within")),
    ("respond_within", 90, bad("respond_within")),
    # tags
    ("tags", {}, OK), ("tags", {"env": "prod"}, OK),
    ("tags", {"k%02d" % i: "v%d" % i for i in range(32)}, OK),
    ("tags", {"k%02d" % i: "v" for i in range(33)}, bad("tags")),
    ("tags", {"k": 1}, bad("tags")), ("tags", {"k": None}, bad("tags")),
    ("tags", {"k": {"a": "b"}}, bad("tags")), ("tags", ["a"], bad("tags")),
    ("tags", "env=prod", bad("tags")),
    # anonymous
    ("anonymous", True, OK), ("anonymous", False, OK),
    ("anonymous", "yes", bad("anonymous")),
    ("anonymous", 1, bad("anonymous")),
    # unknown fields are rejected so that typos surface
    ("subjekt", "typo", bad("subjekt")),
    ("Source", "app1", bad("Source")),
]


CASES = list(enumerate(FIELD_CASES))


def case_id(numbered):
    field, value, expect = numbered[1]
    text = json.dumps(value, ensure_ascii=True)
    if len(text) > 24:
        text = "%s..%d" % (text[:12], len(text))
    return "%s=%s->%s" % (field, text, "ok" if expect == OK else expect[0])


def carried(field, value, sent, line):
    """Check that an accepted field reached the channel as sent."""
    if field in ("source", "audience", "subject", "priority", "goal"):
        assert line.get(field) == value, (field, line)
    elif field == "body":
        assert line.get("body", "") == value, line
    elif field == "tags":
        assert line.get("tags", {}) == value, line
    elif field == "anonymous":
        if value is True:
            assert "source" not in line, \
                "anonymous notice leaked its source: %r" % line
        else:
            assert line.get("source") == sent["source"], line
    elif field == "id":
        assert line["id"] == value


@pytest.mark.parametrize("numbered", CASES, ids=case_id)
def test_field_rule(daemon, client, numbered):
    i, (field, value, expect) = numbered
    n = notice(id="fr-%d" % i)
    if value is None:
        n.pop(field, None)
    else:
        n[field] = value
    reply = client.request(n)
    if expect == OK:
        check_ok(reply)
        assert reply["id"] == n["id"], reply
        assert reply.get("duplicate") is False, reply
        assert reply.get("channels") == ["feed"], reply
        carried(field, value, n, feed_line(daemon, n["id"]))
    else:
        check_error(reply, expect[0], field=expect[1])


def test_rejected_notices_are_not_delivered(daemon, client):
    rejected = []
    for i, (field, value, expect) in enumerate(FIELD_CASES):
        if expect == OK or field == "id":
            continue
        n = notice(id="rej-%d" % i)
        if value is None:
            n.pop(field, None)
        else:
            n[field] = value
        check_error(client.request(n), expect[0])
        rejected.append(n["id"])
    check_ok(client.request(notice(id="rej-sentinel")))
    feed_line(daemon, "rej-sentinel")
    leaked = set(rejected) & set(ids_in(daemon.path("feed.jsonl")))
    assert not leaked, "rejected notices were delivered: %r" % sorted(leaked)


def test_duplicate_id_is_answered_but_not_routed_again(sb):
    d = sb.start(FEED, ALL_TO_FEED)
    c = d.client()
    first = check_ok(c.request(notice(id="dup-1", priority="high")))
    assert first.get("duplicate") is False, first
    again = check_ok(c.request(notice(id="dup-1", priority="high")))
    assert again.get("duplicate") is True, again
    assert again["id"] == "dup-1"
    assert again.get("class") == first.get("class") == "realtime"
    assert again.get("channels") == first.get("channels") == ["feed"]
    # The id is the idempotency key: other content does not matter.
    third = check_ok(c.request(notice(id="dup-1", subject="changed")))
    assert third.get("duplicate") is True, third
    check_ok(c.request(notice(id="dup-sentinel")))
    wait_until(lambda: "dup-sentinel" in ids_in(d.path("feed.jsonl")),
               what="dup-sentinel delivered", daemon=d)
    d.stop()
    got = ids_in(d.path("feed.jsonl"))
    assert got.count("dup-1") == 1, got
    lines = [x for x in read_jsonl(d.path("feed.jsonl"))
             if x["id"] == "dup-1"]
    assert lines[0]["subject"] == "hello"


def test_broker_assigns_time_ordered_ids(sb):
    d = sb.start(FEED, ALL_TO_FEED)
    c = d.client()
    ids = []
    for i in range(50):
        reply = check_ok(c.request(notice(subject="auto %d" % i)))
        assert reply.get("duplicate") is False, reply
        ids.append(reply["id"])
    for nid in ids:
        assert nid.startswith("n-"), nid
        assert 3 <= len(nid) <= 128 and set(nid) <= ID_RE_CHARS, nid
    assert len(set(ids)) == len(ids), "broker ids repeat: %r" % ids
    assert ids == sorted(ids), "broker ids are not time-ordered: %r" % ids
    wait_until(lambda: len(ids_in(d.path("feed.jsonl"))) >= 50,
               what="50 lines in feed.jsonl", daemon=d)
    by_id = {x["id"]: x for x in read_jsonl(d.path("feed.jsonl"))}
    for i, nid in enumerate(ids):
        assert by_id[nid]["subject"] == "auto %d" % i


def test_ids_survive_in_the_reply_of_a_routed_notice(client, daemon):
    reply = check_ok(client.request(notice(id="echo-1", goal="resolve")))
    assert reply["id"] == "echo-1"
    assert reply.get("class") == "interactive"
    assert reply.get("channels") == ["feed"]
    assert reply.get("duplicate") is False
    line = feed_line(daemon, "echo-1")
    assert line["class"] == "interactive"
