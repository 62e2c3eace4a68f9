"""Malformed input (SPEC §2): a thousand hostile requests each get exactly one
error reply, the daemon keeps working, and its memory does not grow."""

import json
import random

from sbtest import (ASAN, check_ok, ids_in, notice, send_all, wait_until)

ERROR_CODES = {"bad_json", "too_large", "missing_field", "invalid_field",
               "unknown_type"}
MALFORMED_N = 1000

CHANNELS = """
feed = { type = "file"; path = "feed.jsonl"; };
null = { type = "discard"; queue_max = 20000; };
"""
ROUTES = """
{ name = "good"; match = { source = "good*"; }; channels = [ "feed" ]; },
{ name = "rest"; match = { source = "*"; }; channels = [ "null" ]; }
"""


def good_json(**kw):
    return json.dumps(notice(**kw)).encode()


def with_subject(raw):
    """A notice whose subject is the given raw bytes, spliced in unescaped."""
    return (b'{"source": "app1", "audience": ["dept:x"], "subject": "' + raw
            + b'"}')


def deep(n, open_, close, inner=b"1"):
    return open_ * n + inner + close * n


FIXED = [
    # Nesting 10,000 deep, closed and unclosed, bare and inside a notice.
    deep(10000, b"[", b"]"),
    deep(10000, b'{"a":', b"}"),
    b"[" * 65000,
    b'{"a":' * 13000,
    b'{"source": "app1", "audience": ["dept:x"], "subject": "s", '
    b'"tags": {"k": ' + deep(10000, b"[", b"]") + b"}}",
    b'{"source": "app1", "audience": ["dept:x"], "subject": "s", '
    b'"extra": ' + deep(10000, b'{"a":', b"}") + b"}",
    # Huge numbers.
    b'{"v": 1e999999, "source": "app1", "audience": ["dept:x"], '
    b'"subject": "s"}',
    b'{"v": 123456789012345678901234567890, "source": "app1", '
    b'"audience": ["dept:x"], "subject": "s"}',
    b'{"v": -1e400, "source": "app1", "audience": ["dept:x"], '
    b'"subject": "s"}',
    b'{"v": 1' + b"0" * 5000 + b', "source": "app1", '
    b'"audience": ["dept:x"], "subject": "s"}',
    b'{"v": 0.' + b"0" * 5000 + b'1}',
    b'{"v": 1E+99999999999999999999}',
    b"-" + b"9" * 30000,
    # Invalid UTF-8: stray, truncated, overlong, surrogate, beyond U+10FFFF.
    with_subject(b"\xff"),
    with_subject(b"caf\xc3"),
    with_subject(b"\xc0\xaf"),
    with_subject(b"\xe0\x80\xaf"),
    with_subject(b"\xed\xa0\x80"),
    with_subject(b"\xf4\x90\x80\x80"),
    with_subject(b"\xf8\x88\x80\x80\x80"),
    b'{"sour\xfece": "app1", "audience": ["dept:x"], "subject": "s"}',
    b'{"source": "app1", "audience": ["dept:\x80"], "subject": "s"}',
    # Embedded NUL, raw and escaped.
    with_subject(b"a\x00b"),
    good_json() + b"\x00",
    b"\x00",
    b"\x00" + good_json(),
    good_json(subject="a\u0000b"),
    good_json(body="before\u0000after"),
    good_json(source="app\u0000x"),
    good_json(tags={"k\u0000": "v"}),
    good_json(tags={"k": "v\u0000w"}),
    good_json(audience=["dept:x\u0000y"]),
    # Not one object.
    b"", b" ", b"\n", b"[]", b"null", b"true", b'"notice"', b"42",
    b"{}", b'{"type": "notice"}',
    good_json() + good_json(),
    good_json() + b" trailing",
    b"{" + b'"a": 1, ' * 2000 + b"}",
]

# Multi-frame messages whose last frame, the request, is malformed.
MULTI = [
    [b"junk", b"{bad"],
    [b"a", b"b", b"c"],
    [b"", b""],
    [b"", b"{bad"],
    [b"", b"", b""],
    [good_json(), b"garbage"],
    [good_json(), b""],
    [b"\x00" * 300, b"\xff"],
]
# Frames before the last are a routing envelope (REQ's delimiter, a proxy's
# identities): the daemon may take these, but must answer each once.
ENVELOPED = [
    [b"junk", good_json()],
    [good_json(), good_json()],
    [b"a", b"", good_json()],
]


def malformed_requests(n, seed):
    """n hostile requests (each a list of frames), the fixed ones first,
    the rest random bytes, truncated notices and oversize frames."""
    rng = random.Random(seed)
    reqs = [[f] for f in FIXED] + [list(m) for m in MULTI]
    full = good_json(id="whole-1", body="b" * 200, tags={"a": "b"},
                     priority="high")
    while len(reqs) < n:
        kind = len(reqs) % 4
        if kind == 0:
            size = rng.randint(1, 2000)
            reqs.append([bytes(rng.getrandbits(8) for _ in range(size))])
        elif kind == 1:
            reqs.append([full[:rng.randint(1, len(full) - 1)]])
        elif kind == 2:
            cut = good_json()[:rng.randint(1, 40)]
            reqs.append([cut + bytes(rng.getrandbits(8)
                                     for _ in range(rng.randint(1, 64)))])
        else:
            size = rng.randint(65537, 66000)
            reqs.append([b'{"body": "' + b"x" * (size - 12) + b'"}'])
    return reqs[:n]


def test_malformed_input_gets_one_error_reply_each(sb):
    d = sb.start(CHANNELS, ROUTES)
    c = d.client()
    # Warm-up, so that allocator growth has settled before measuring.
    warm = [notice(id="warm-%04d" % i, source="warm",
                   body="w" * (60000 if i % 50 == 0 else 500))
            for i in range(1000)]
    for r in send_all(c, warm, window=200).values():
        check_ok(r)
    rss_before = d.rss_kb()

    reqs = malformed_requests(MALFORMED_N, 1)
    for i, frames in enumerate(reqs):
        c.send(frames)
        try:
            reply = c.recv()
        except AssertionError:
            raise AssertionError("request %d got no reply: %r" %
                                 (i, [f[:80] for f in frames])) from None
        assert reply.get("ok") is False, \
            "request %d accepted: %r -> %r" % (i, [f[:80] for f in frames],
                                                reply)
        code = reply.get("error", {}).get("code")
        assert code in ERROR_CODES, (i, frames[:1], reply)
        assert reply["error"].get("message"), reply
        if len(frames) == 1 and len(frames[0]) > 65536:
            assert code == "too_large", (i, reply)
        assert d.alive(), "daemon died on request %d: %r" % (
            i, [f[:80] for f in frames])
    for frames in ENVELOPED:
        c.send(frames)
        c.recv()
    # Exactly one reply each: the next reply is the answer to this ping.
    assert c.request({"type": "ping"}) == {"ok": True, "pong": True}

    reply = check_ok(c.request(notice(id="good-after", source="good1")))
    assert reply["channels"] == ["feed"]
    wait_until(lambda: "good-after" in ids_in(d.path("feed.jsonl")),
               what="good-after on feed", daemon=d)
    rss_after = d.rss_kb()
    d.stop()
    assert ids_in(d.path("feed.jsonl")) == ["good-after"], \
        "a malformed request reached a channel"
    if not ASAN:
        assert rss_after <= rss_before * 1.10, \
            "RSS grew from %d kB to %d kB over %d malformed requests" % (
                rss_before, rss_after, MALFORMED_N)
