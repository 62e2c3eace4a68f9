"""Classification (SPEC §3) and routing (SPEC §4): the default classes, classify
rules and trust_hint; routes in order with continue; every match key; the
channels' audience gate; pilot and disabled modes."""

import random

import pytest

from sbtest import (check_error, check_ok, cstr, ids_in, notice, read_jsonl,
                    send_all, wait_until)


def file_channel(name, extra=""):
    return '%s = { type = "file"; path = %s; queue_max = 20000; %s };' % (
        name, cstr(name + ".jsonl"), extra)


def all_to(*channels):
    return '{ name = "all"; match = { source = "*"; }; channels = [ %s ]; }' \
        % ", ".join(cstr(c) for c in channels)


def delivered(d, channel, nid):
    wait_until(lambda: nid in ids_in(d.path(channel + ".jsonl")),
               what="%s on %s" % (nid, channel), daemon=d)


# --- classes ---------------------------------------------------------------

DEFAULT_CLASSES = [
    ({}, "batch"),
    ({"priority": "low"}, "batch"),
    ({"priority": "normal"}, "batch"),
    ({"priority": "high"}, "realtime"),
    ({"priority": "urgent"}, "realtime"),
    ({"goal": "inform"}, "batch"),
    ({"goal": "relate"}, "batch"),
    ({"goal": "collect"}, "interactive"),
    ({"goal": "resolve"}, "interactive"),
    ({"respond_within": "1h"}, "interactive"),
    ({"respond_within": "90s", "priority": "low"}, "interactive"),
    ({"goal": "resolve", "priority": "urgent"}, "interactive"),
    ({"respond_within": "2d", "priority": "high"}, "interactive"),
    # A hint is ignored unless classify.trust_hint is set.
    ({"class": "realtime"}, "batch"),
    ({"class": "interactive", "priority": "high"}, "realtime"),
    ({"class": "batch", "goal": "collect"}, "interactive"),
]


@pytest.fixture(scope="module")
def plain(sb_module):
    return sb_module.start(file_channel("feed"), all_to("feed"))


@pytest.mark.parametrize("overrides,expected", DEFAULT_CLASSES,
                         ids=lambda v: repr(v) if isinstance(v, dict) else v)
def test_default_class(plain, overrides, expected):
    c = plain.client()
    nid = "dc-%d" % [o for o, _ in DEFAULT_CLASSES].index(overrides)
    reply = check_ok(c.request(notice(id=nid, **overrides)))
    assert reply.get("class") == expected, reply
    delivered(plain, "feed", nid)
    line = [x for x in read_jsonl(plain.path("feed.jsonl"))
            if x["id"] == nid][0]
    assert line["class"] == expected, line


RULES = """
    { match = { source = "pager*"; }; class = "realtime"; },
    { match = { source = "pager-quiet"; }; class = "batch"; },
    { match = { tags = { kind = "survey*"; }; }; class = "interactive"; },
    { match = { audience = [ "mgmt:*" ]; priority = "high"; };
      class = "batch"; }
"""

RULE_CASES = [
    # Rules come before the defaults.
    ({"source": "pager1", "goal": "resolve"}, "realtime"),
    # First match wins: the second rule never sees pager-quiet.
    ({"source": "pager-quiet"}, "realtime"),
    ({"tags": {"kind": "survey-2024"}}, "interactive"),
    ({"tags": {"kind": "census"}}, "batch"),
    # priority in a match is a minimum.
    ({"audience": ["mgmt:board"], "priority": "urgent"}, "batch"),
    ({"audience": ["mgmt:board"], "priority": "high"}, "batch"),
    ({"audience": ["mgmt:board"], "priority": "normal",
      "respond_within": "1h"}, "interactive"),
    ({"audience": ["dept:x", "mgmt:board"], "priority": "high"}, "batch"),
    # No rule: defaults; the hint is not trusted.
    ({"source": "app1", "priority": "high"}, "realtime"),
    ({"source": "app1", "class": "interactive"}, "batch"),
]


@pytest.mark.parametrize("trust", [False, True], ids=["untrusted",
                                                       "trusted"])
def test_classify_rules_first_match_wins(sb, trust):
    d = sb.start(file_channel("feed"), all_to("feed"),
                 classify_rules=RULES, trust_hint=trust)
    c = d.client()
    for i, (overrides, expected) in enumerate(RULE_CASES):
        if trust and "class" in overrides:
            continue
        reply = check_ok(c.request(notice(id="rule-%d" % i, **overrides)))
        assert reply.get("class") == expected, (overrides, reply)
    # Rules win over a trusted hint too.
    reply = check_ok(c.request(notice(source="pager2", **{"class": "batch"})))
    assert reply.get("class") == "realtime", reply


TRUSTED_CASES = [
    ({"class": "realtime", "priority": "low"}, "realtime"),
    ({"class": "batch", "goal": "resolve"}, "batch"),
    ({"class": "batch", "respond_within": "1h"}, "batch"),
    ({"class": "interactive"}, "interactive"),
    ({"priority": "high"}, "realtime"),
    ({"goal": "collect"}, "interactive"),
    ({}, "batch"),
]


def test_trust_hint(sb):
    d = sb.start(file_channel("feed"), all_to("feed"), trust_hint=True)
    c = d.client()
    for i, (overrides, expected) in enumerate(TRUSTED_CASES):
        reply = check_ok(c.request(notice(id="th-%d" % i, **overrides)))
        assert reply.get("class") == expected, (overrides, reply)
    delivered(d, "feed", "th-0")
    line = [x for x in read_jsonl(d.path("feed.jsonl"))
            if x["id"] == "th-0"][0]
    assert line["class"] == "realtime"


# --- routes ----------------------------------------------------------------

def test_continue_adds_channels_and_first_match_wins(sb):
    channels = "\n".join(file_channel(n) for n in ("a", "b", "c"))
    routes = """
        { name = "r1"; match = { source = "app*"; }; channels = [ "a" ];
          continue = true; },
        { name = "r2"; match = { audience = [ "dept:*" ]; };
          channels = [ "a", "b" ]; },
        { name = "r3"; match = { source = "*"; }; channels = [ "c" ]; }
    """
    d = sb.start(channels, routes)
    c = d.client()
    cases = [
        ("k1", {"source": "app1", "audience": ["dept:x"]}, {"a", "b"}),
        ("k2", {"source": "app1", "audience": ["staff:x"]}, {"a", "c"}),
        ("k3", {"source": "svc", "audience": ["dept:x"]}, {"a", "b"}),
        ("k4", {"source": "svc", "audience": ["staff:x"]}, {"c"}),
    ]
    for nid, overrides, want in cases:
        reply = check_ok(c.request(notice(id=nid, **overrides)))
        chans = reply.get("channels")
        assert sorted(chans) == sorted(want), (nid, reply)
        assert len(chans) == len(set(chans)), \
            "a channel named by two routes is listed twice: %r" % reply
    for nid, _, want in cases:
        for ch in want:
            delivered(d, ch, nid)
    d.stop()
    for ch in ("a", "b", "c"):
        got = ids_in(d.path(ch + ".jsonl"))
        want = sorted(nid for nid, _, w in cases if ch in w)
        assert sorted(got) == want, \
            "channel %s got %r, expected each of %r once" % (ch, got, want)


MATCH_ROUTES = """
    { name = "src"; match = { source = "app*"; }; channels = [ "src" ];
      continue = true; },
    { name = "aud"; match = { audience = [ "customer:*", "partner:*" ]; };
      channels = [ "aud" ]; continue = true; },
    { name = "cls"; match = { class = "realtime"; }; channels = [ "cls" ];
      continue = true; },
    { name = "pri"; match = { priority = "high"; }; channels = [ "pri" ];
      continue = true; },
    { name = "goal"; match = { goal = [ "resolve", "collect" ]; };
      channels = [ "goal" ]; continue = true; },
    { name = "tags"; match = { tags = { env = "prod*"; }; };
      channels = [ "tags" ]; continue = true; },
    { name = "combo"; match = { source = "app*"; audience = [ "dept:*" ];
      class = [ "interactive" ]; priority = "high"; goal = [ "resolve" ];
      tags = { env = "prod*"; team = "core"; }; };
      channels = [ "combo" ]; continue = true; },
    { name = "rest"; match = { source = "*"; }; channels = [ "rest" ]; }
"""

COMBO = {"source": "app1", "audience": ["dept:eng"], "priority": "high",
         "goal": "resolve", "tags": {"env": "prod-eu", "team": "core"}}

MATCH_CASES = [
    ({}, set()),
    ({"source": "app1"}, {"src"}),
    ({"source": "xapp"}, set()),
    ({"audience": ["staff:x", "customer:acme"]}, {"aud"}),
    ({"audience": ["partner:p1"]}, {"aud"}),
    ({"priority": "high"}, {"cls", "pri"}),
    ({"priority": "urgent"}, {"cls", "pri"}),
    ({"priority": "low"}, set()),
    ({"goal": "resolve"}, {"goal"}),
    ({"goal": "collect"}, {"goal"}),
    ({"goal": "relate"}, set()),
    ({"tags": {"env": "production"}}, {"tags"}),
    ({"tags": {"env": "staging"}}, set()),
    ({"tags": {"other": "prod"}}, set()),
    (COMBO, {"src", "pri", "goal", "tags", "combo"}),
    (dict(COMBO, tags={"env": "prod-eu"}), {"src", "pri", "goal", "tags"}),
    (dict(COMBO, priority="normal"), {"src", "goal", "tags"}),
    (dict(COMBO, audience=["staff:x"]), {"src", "pri", "goal", "tags"}),
]


def test_every_match_key(sb):
    names = ("src", "aud", "cls", "pri", "goal", "tags", "combo", "rest")
    channels = "\n".join('%s = { type = "discard"; };' % n for n in names)
    d = sb.start(channels, MATCH_ROUTES)
    c = d.client()
    for overrides, want in MATCH_CASES:
        n = notice(source="svc", audience=["staff:x"])
        n.update(overrides)
        reply = check_ok(c.request(n))
        assert sorted(reply.get("channels")) == sorted(want | {"rest"}), \
            (overrides, reply)


# --- the audience gate -----------------------------------------------------

def test_audience_gate(sb):
    channels = file_channel("staff", 'audiences = [ "staff:*", "dept:*" ];') \
        + "\n" + file_channel("public")
    routes = """
        { name = "hr"; match = { source = "hr*"; }; channels = [ "staff" ]; },
        { name = "all"; match = { source = "*"; };
          channels = [ "staff", "public" ]; }
    """
    d = sb.start(channels, routes)
    c = d.client()
    reply = check_ok(c.request(notice(id="g1", audience=["customer:acme"])))
    assert reply.get("channels") == ["public"], reply
    reply = check_ok(c.request(notice(id="g2", audience=["staff:all"])))
    assert sorted(reply.get("channels")) == ["public", "staff"], reply
    reply = check_ok(c.request(notice(id="g3", audience=["public"])))
    assert reply.get("channels") == ["public"], reply
    reply = c.request(notice(id="g4", source="hr1",
                             audience=["customer:acme"]))
    check_error(reply, "no_route")
    reply = check_ok(c.request(notice(id="g5", source="hr1",
                                      audience=["dept:ops"])))
    assert reply.get("channels") == ["staff"], reply
    for ch, nid in (("public", "g1"), ("staff", "g2"), ("public", "g2"),
                    ("public", "g3"), ("staff", "g5")):
        delivered(d, ch, nid)
    d.stop()
    assert sorted(ids_in(d.path("staff.jsonl"))) == ["g2", "g5"]
    assert sorted(ids_in(d.path("public.jsonl"))) == ["g1", "g2", "g3"]
    for line in read_jsonl(d.path("staff.jsonl")):
        assert not any(a.startswith("customer:") or a == "public"
                       for a in line["audience"]), line


# --- pilot and disabled ----------------------------------------------------

PILOT_N = 2000


def run_pilot(sb, order):
    channels = file_channel("main") + "\n" + file_channel(
        "trial", 'mode = "pilot"; pilot_percent = 20;')
    d = sb.start(channels, all_to("main", "trial"))
    c = d.client()
    # Realtime: a pilot copy is a delivery of its own, not a digest item.
    notices = [notice(id="pilot-%04d" % i, priority="high") for i in order]
    replies = send_all(c, notices, window=200)
    for r in replies.values():
        check_ok(r)
        assert "main" in r.get("channels"), r
    # Both channels done before the stop: its drain is bounded by
    # shutdown_timeout, and a copy left in the spool would change the set.
    sampled = {r["id"] for r in replies.values() if "trial" in r["channels"]}
    wait_until(lambda: len(ids_in(d.path("main.jsonl"))) >= PILOT_N and
               sampled <= set(ids_in(d.path("trial.jsonl"))),
               what="%d notices on main, their pilot copies on trial" %
               PILOT_N, daemon=d)
    d.stop()
    main = ids_in(d.path("main.jsonl"))
    assert sorted(main) == sorted(n["id"] for n in notices), \
        "main must get every notice exactly once"
    lines = read_jsonl(d.path("trial.jsonl"))
    trial = [x["id"] for x in lines]
    assert len(trial) == len(set(trial)), "pilot copies repeat"
    assert set(trial) <= set(main)
    assert all(x["channel"] == "trial" for x in lines)
    return set(trial)


def test_pilot_share_is_stable(sb):
    order = list(range(PILOT_N))
    first = run_pilot(sb, order)
    share = len(first) / PILOT_N
    assert 0.15 <= share <= 0.25, \
        "pilot_percent 20 took %.1f%% of %d notices" % (share * 100, PILOT_N)
    # The sample depends on the id alone, not on arrival order.
    random.Random(7).shuffle(order)
    second = run_pilot(sb, order)
    assert first == second, \
        "the same ids must give the same pilot set (%d differ)" % \
        len(first ^ second)


def test_disabled_channel_takes_nothing(sb):
    channels = file_channel("main") + "\n" + file_channel(
        "off", 'mode = "disabled";')
    routes = """
        { name = "apps"; match = { source = "app*"; };
          channels = [ "main", "off" ]; },
        { name = "offonly"; match = { source = "only-off*"; };
          channels = [ "off" ]; }
    """
    d = sb.start(channels, routes)
    c = d.client()
    reply = check_ok(c.request(notice(id="dis-1", source="app1")))
    assert reply.get("channels") == ["main"], reply
    check_error(c.request(notice(id="dis-2", source="only-off1")),
                "no_route")
    delivered(d, "main", "dis-1")
    d.stop()
    assert ids_in(d.path("main.jsonl")) == ["dis-1"]
    assert ids_in(d.path("off.jsonl")) == []
