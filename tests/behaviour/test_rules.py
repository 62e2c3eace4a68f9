"""Response-time rules (SPEC §5, §2.2): deliver_within and its fallback,
batch digests (window, max_items, `at` times of day), escalation chains,
acks and scores, expiry with the owner notice, frequency caps, quiet
hours, and what a restart or a reload does to all of it.

Durations are a second or so (most keys have a 1 s minimum). Every wait is
a hang guard; no assertion bounds a delay from above. Where a test must
show that something has NOT happened yet, it checks a lower bound only
(a 1 h window has not flushed), or it waits for a sentinel scheduled no
earlier than the thing that must not happen.

Two tests wait for a wall-clock minute (an `at` time of day, the end of a
quiet-hours window): their daemons are started by module fixtures at the
top of the file and checked by the LAST two tests, so that the wait (up
to ~70 s) overlaps the other tests instead of adding to them.
"""

import datetime
import os
import signal
import sqlite3
import tempfile
import time
import zoneinfo

import pytest

from sbtest import (Daemon, check_error, check_ok, clist, cstr, ids_in,
                    make_config, notice, outcomes, read_jsonl, send_all,
                    wait_until)


# --- helpers ----------------------------------------------------------------

def file_channel(name, extra=""):
    return '%s = { type = "file"; path = %s; queue_max = 100000; %s };' % (
        name, cstr(name + ".jsonl"), extra)


def all_to(*channels):
    return ('{ name = "all"; match = { source = "*"; }; channels = %s; }' %
            clist(channels))


def lines(d, channel):
    """A channel's deliveries, digests flattened into their items."""
    return read_jsonl(d.path(channel + ".jsonl"))


def digests(d, channel):
    """A channel's digest lines as written."""
    return [x for x in read_jsonl(d.path(channel + ".jsonl"), digests=True)
            if x.get("digest")]


def steps(d, channel, nid):
    """(level, round) of the escalation deliveries of nid on a channel."""
    return [(x["escalation"]["level"], x["escalation"]["round"])
            for x in lines(d, channel)
            if x.get("id") == nid and "escalation" in x]


def spool(d, sql, args=()):
    """Rows of a read-only query of the daemon's spool (docs/spool.md)."""
    uri = "file:%s?mode=ro" % d.path("spool.db")
    db = sqlite3.connect(uri, uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def response_row(d, nid):
    rows = spool(d, "SELECT r.acked_ms, r.ack_by, r.score, r.expired_ms, "
                 "n.received_ms FROM responses r JOIN notices n "
                 "ON n.seq = r.notice_seq WHERE n.id = ?", (nid,))
    assert len(rows) == 1, "%s: %d responses rows" % (nid, len(rows))
    return dict(zip(("acked_ms", "ack_by", "score", "expired_ms",
                     "received_ms"), rows[0]))


def escalation_rows(d, nid):
    return spool(d, "SELECT e.level, e.round, e.at_ms FROM escalations e "
                 "JOIN notices n ON n.seq = e.notice_seq WHERE n.id = ? "
                 "ORDER BY e.seq", (nid,))


def owner_notices(d, channel="owners"):
    return [x for x in lines(d, channel)
            if x.get("source") == "switchboard"]


def expired_notice(d, ref, channel="owners"):
    return [x for x in owner_notices(d, channel)
            if x.get("tags", {}).get("event") == "expired" and
            x["tags"].get("ref") == ref]


def ack(client, ref, by="alice", **fields):
    req = {"type": "ack", "ref": ref, "by": by}
    req.update(fields)
    return client.request(req)


class LogTail:
    """Reads a daemon's log from where it last stopped."""

    def __init__(self, d):
        self.path = d.log_path
        self.pos = 0
        self.text = ""

    def read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return self.text
        cut = data.rfind(b"\n") + 1
        self.pos += cut
        self.text += data[:cut].decode("utf-8", "replace")
        return self.text

    def count(self, word):
        return self.read().count(word)


def restart(sb, d, tag):
    """The same directory and config, a new process (own log file)."""
    d2 = Daemon(d.dir, d.config)
    d2.log_path = d.path("stderr-%s.log" % tag)
    sb.daemons.append(d2)
    return d2.start()


def rewrite_config(d, channels, routes, **kw):
    """Replace d's config file atomically (a reload must never read half
    a file) and return the new text."""
    tmp = tempfile.mkdtemp(prefix="sbconf-", dir=d.dir)
    path = make_config(tmp, channels, routes, **kw)
    with open(path) as f:
        text = f.read()
    os.replace(path, d.config)
    os.rmdir(tmp)
    return text


def reload(d, tail, before):
    """SIGHUP, and wait until the daemon says how it went."""
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: tail.count("reloaded config=") +
               tail.count("reload failed") > before,
               what="the reload to finish", daemon=d)


def next_boundary(margin_s):
    """The first whole UTC minute at least margin_s seconds from now, as
    an aware datetime. Every zone's offset is whole minutes, so this is
    also a whole minute of local time in any zone."""
    t = datetime.datetime.now(datetime.timezone.utc)
    t = (t + datetime.timedelta(seconds=margin_s)).replace(second=0,
                                                           microsecond=0)
    return t + datetime.timedelta(minutes=1)


def hhmm(t, zone="UTC"):
    return t.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%H:%M")


def wall_ms():
    return int(time.time() * 1000)


def before(t, margin_s=1.0):
    """Whether the wall clock is still margin_s before the aware t."""
    return time.time() < t.timestamp() - margin_s


# --- module fixtures whose waits overlap the rest of the file ----------------

AT_ZONE = "Asia/Kolkata"        # +05:30: an `at` read as UTC would miss
AT_IDS = ["at-%d" % i for i in range(3)]


@pytest.fixture(scope="module")
def at_run(sb_module):
    """Batch notices whose digest leaves only at an `at` time of day: the
    next whole minute at least 12 s away, written in a zone 5:30 h off
    UTC, with a window of an hour."""
    boundary = next_boundary(12)
    extra = ('timezone = %s;\n'
             'policies = { batch = { window = "1h"; max_items = 100; '
             'at = %s; }; };' % (cstr(AT_ZONE),
                                 clist([hhmm(boundary, AT_ZONE)])))
    d = sb_module.start(file_channel("news"), all_to("news"), extra=extra)
    replies = send_all(d.client(), [notice(id=i) for i in AT_IDS])
    assert before(boundary, 2), "setup too slow: the at time %s passed " \
        "before the notices were accepted" % boundary
    return d, boundary, replies


@pytest.fixture(scope="module")
def quiet_run(sb_module):
    """A channel in quiet hours (UTC) that end at the next whole minute
    at least 12 s away; one non-urgent and one urgent notice sent."""
    end = next_boundary(12)
    window = "%s-%s" % (hhmm(end - datetime.timedelta(minutes=10)),
                        hhmm(end))
    d = sb_module.start(file_channel("desk", "quiet_hours = %s;" %
                                     cstr(window)), all_to("desk"))
    c = d.client()
    check_ok(c.request(notice(id="q-held", priority="high")))
    check_ok(c.request(notice(id="q-urgent", priority="urgent")))
    return d, end, c


def test_batch_at_time_is_accepted_and_held(at_run):
    """(Its digest is checked by the last test but one.)"""
    d, boundary, replies = at_run
    for nid in AT_IDS:
        r = check_ok(replies[nid])
        assert r["class"] == "batch" and r["channels"] == ["news"], r
    # Read first, then look at the clock: what was read before the at
    # time cannot hold its digest, however long the test was paused.
    early = lines(d, "news")
    if before(boundary):
        assert early == [], "a digest left before its at time"


def test_quiet_hours_hold_then_reload(quiet_run):
    """Urgent goes at once, the rest waits; a reload that removes the
    quiet hours lets new notices through but keeps the held one until
    its window ends (checked by the last test)."""
    d, end, c = quiet_run
    wait_until(lambda: "q-urgent" in ids_in(d.path("desk.jsonl")),
               what="the urgent notice in quiet hours", daemon=d)
    time.sleep(2)
    early = ids_in(d.path("desk.jsonl"))  # read, then look at the clock
    if before(end):
        assert "q-held" not in early, \
            "a non-urgent notice went out in quiet hours"
    assert "held id=q-held/desk channel=desk" in d.log()
    assert "held id=q-urgent" not in d.log()
    tail = LogTail(d)
    rewrite_config(d, file_channel("desk"), all_to("desk"))
    reload(d, tail, 0)
    assert "reload failed" not in tail.read(), tail.text[-3000:]
    check_ok(c.request(notice(id="q-after", priority="high")))
    wait_until(lambda: "q-after" in ids_in(d.path("desk.jsonl")),
               what="a notice after quiet hours were removed", daemon=d)
    early = ids_in(d.path("desk.jsonl"))
    if before(end):
        assert "q-held" not in early, \
            "the reload released a held notice before its window ended"


# --- realtime: deliver_within ------------------------------------------------

SLOW_EXEC = clist(["/bin/sh", "-c", "cat > /dev/null; sleep 2"])


def test_deliver_within_miss_goes_to_fallback(sb):
    channels = "\n".join([
        'slow = { type = "exec"; command = %s; timeout = "30s"; };' %
        SLOW_EXEC, file_channel("fb"), file_channel("main")])
    routes = """
        { name = "slow"; match = { source = "slowapp"; };
          channels = "slow"; fallback = "fb";
          policy = { deliver_within = "500ms"; }; },
        { name = "fast"; match = { source = "*"; };
          channels = "main"; fallback = "fb"; }
    """
    d = sb.start(channels, routes)
    c = d.client()
    r = check_ok(c.request(notice(id="dw-slow", source="slowapp",
                                  priority="high")))
    assert r["class"] == "realtime" and r["channels"] == ["slow"], r
    check_ok(c.request(notice(id="dw-fast", priority="high")))
    # The exec takes 2 s, past deliver_within: the fallback gets it.
    wait_until(lambda: "dw-slow" in ids_in(d.path("fb.jsonl")),
               what="dw-slow on the fallback", daemon=d)
    fb = [x for x in lines(d, "fb") if x["id"] == "dw-slow"]
    assert len(fb) == 1, fb
    assert fb[0]["fallback_of"] == "slow", fb
    assert fb[0]["delivery_id"] == "dw-slow/slow/fb", fb
    assert "missed deliver_within id=dw-slow/slow channel=slow" in d.log()
    # The late delivery goes on and succeeds all the same.
    wait_until(lambda: "delivered" in outcomes(d.log(), "slow", "dw-slow"),
               what="the slow delivery to finish", daemon=d)
    d.stop()
    assert outcomes(d.log(), "slow", "dw-slow") == ["delivered"]
    # One in time never reaches the fallback.
    assert ids_in(d.path("main.jsonl")) == ["dw-fast"]
    assert ids_in(d.path("fb.jsonl")) == ["dw-slow"]
    assert d.log().count("missed deliver_within") == 1
    rows = spool(d, "SELECT d.id, d.state, d.fallback_of FROM deliveries d "
                 "JOIN notices n ON n.seq = d.notice_seq WHERE n.id = ? "
                 "ORDER BY d.seq", ("dw-slow",))
    assert rows == [("dw-slow/slow", "delivered", None),
                    ("dw-slow/slow/fb", "delivered", "slow")], rows


# --- batch: digests ----------------------------------------------------------

def digest_rows(d, prefix):
    return spool(d, "SELECT n.id, d.channel, d.digest, d.state, "
                 "d.delivered_ms, n.received_ms FROM deliveries d "
                 "JOIN notices n ON n.seq = d.notice_seq WHERE n.id LIKE ? "
                 "ORDER BY n.seq, d.channel", (prefix + "%",))


def check_digest_line(dg, channel, ids):
    assert dg["channel"] == channel, dg
    assert dg["delivery_id"] == "%s/%s/digest" % (ids[0], channel), dg
    assert dg["digest"] is True and dg["attempt"] == 1, dg
    assert dg["count"] == len(ids) == len(dg["items"]), dg
    assert [x["id"] for x in dg["items"]] == ids, dg
    assert all(x["class"] == "batch" for x in dg["items"]), dg


def test_batch_window_one_digest_per_channel(sb):
    """The route's window (2 s) overrides the class's (1 h); each channel
    gets one digest line with every item, each notice in exactly one."""
    routes = ('{ name = "news"; match = { source = "*"; }; '
              'channels = [ "a", "b" ]; policy = { window = "2s"; }; }')
    d = sb.start(file_channel("a") + "\n" + file_channel("b"), routes,
                 extra='policies = { batch = { window = "1h"; }; };')
    ids = ["win-%d" % i for i in range(5)]
    sent_ms = wall_ms()
    replies = send_all(d.client(), [notice(id=i) for i in ids])
    for nid in ids:
        r = check_ok(replies[nid])
        assert r["class"] == "batch" and r["channels"] == ["a", "b"], r
    # Read first, then look at the clock: a read done before the window
    # could end cannot show its digest, however long the test was paused.
    early = (lines(d, "a"), lines(d, "b"))
    if wall_ms() < sent_ms + 1500:
        assert early == ([], []), "a digest left before its window"
    for ch in ("a", "b"):
        wait_until(lambda: len(lines(d, ch)) >= len(ids),
                   what="the digest on %s" % ch, daemon=d)
    d.stop()
    for ch in ("a", "b"):
        dg = digests(d, ch)
        assert len(dg) == 1, "%s: %d digests" % (ch, len(dg))
        check_digest_line(dg[0], ch, ids)
        assert ids_in(d.path(ch + ".jsonl")) == ids
    rows = digest_rows(d, "win-")
    first_ms = min(r[5] for r in rows)
    for nid, ch, digest, state, delivered_ms, _ in rows:
        assert digest == "win-0/%s/digest" % ch, (nid, ch, digest)
        assert state == "delivered", (nid, ch, state)
        # The window counts from acceptance: not a moment sooner.
        assert delivered_ms >= first_ms + 2000, (nid, ch)


def test_batch_max_items_flushes_early(sb):
    d = sb.start(file_channel("feed"), all_to("feed"),
                 extra='policies = { batch = { window = "1h"; '
                       'max_items = 3; }; };')
    ids = ["max-%d" % i for i in range(7)]
    replies = send_all(d.client(), [notice(id=i) for i in ids])
    assert all(check_ok(r)["class"] == "batch" for r in replies.values())
    wait_until(lambda: len(lines(d, "feed")) >= 6,
               what="two full digests", daemon=d)
    d.stop()
    dg = digests(d, "feed")
    assert len(dg) == 2, dg
    check_digest_line(dg[0], "feed", ids[0:3])
    check_digest_line(dg[1], "feed", ids[3:6])
    # The seventh waits for the next flush (its window is an hour).
    assert ids_in(d.path("feed.jsonl")) == ids[:6]
    rows = {r[0]: r for r in digest_rows(d, "max-")}
    assert rows["max-6"][2:4] == (None, "pending"), rows["max-6"]
    for i in range(6):
        assert rows[ids[i]][2] == "%s/feed/digest" % ids[i // 3 * 3]


# --- interactive: escalation, acks, expiry -----------------------------------

ESC_CHANNELS = "\n".join([
    file_channel("desk", 'owner = "desk-team";'),
    file_channel("ops", 'owner = "sre";'),
    file_channel("lead"), file_channel("boss"), file_channel("owners")])
ESC_ROUTES = ('{ name = "desk"; match = { source = "*"; }; '
              'channels = [ "desk", "ops" ]; '
              'policy = { respond_within = "1s"; }; }')
ESC_EXTRA = """
notify = { owner_channel = "owners"; };
policies = { interactive = { escalation = "ops"; }; };
escalations = {
    ops = {
        levels = ( { after = "1s"; channels = "lead"; },
                   { after = "1s"; channels = "boss"; } );
        repeat = 1;
        expire_after = "3s";
    };
};
"""
# Each step counts from the one before: respond_within 1 s, then 1 s a
# level, a second round, and expiry 3 s after its last level (the last
# stage is acked between the two: a test slowed by a sanitizer or a busy
# machine gets more than a second to see its step and ack it).
CHAIN = [  # (level, round, waited_ms, channel)
    (1, 0, 2000, "lead"), (2, 0, 3000, "boss"),
    (1, 1, 4000, "lead"), (2, 1, 5000, "boss")]
EXPIRES_MS = 8000


def test_escalation_chain_acks_and_expiry(sb):
    """stage-K is acked after K steps of the chain fired (stage-0 before
    its deadline); "never" is not acked and expires. Once it has, every
    step of the others would have fired too, had the ack not stopped
    it."""
    d = sb.start(ESC_CHANNELS, ESC_ROUTES, extra=ESC_EXTRA)
    c = d.client()
    stages = ["stage-%d" % k for k in range(len(CHAIN) + 1)]
    ids = stages + ["never"]
    replies = send_all(c, [notice(id=i, goal="resolve") for i in ids])
    for nid in ids:
        r = check_ok(replies[nid])
        assert r["class"] == "interactive", r
        assert r["channels"] == ["desk", "ops"], r
    # Delivered at once, without waiting for anything.
    for ch in ("desk", "ops"):
        wait_until(lambda: set(ids) <= set(ids_in(d.path(ch + ".jsonl"))),
                   what="every notice on %s" % ch, daemon=d)
    acks = {"stage-0": ack(c, "stage-0", score=1, note="seen it")}
    for k, (level, rnd, _, ch) in enumerate(CHAIN, start=1):
        nid = stages[k]
        wait_until(lambda: (level, rnd) in steps(d, ch, nid),
                   what="level %d round %d of %s" % (level, rnd, nid),
                   daemon=d)
        acks[nid] = ack(c, nid, score=k + 1)
    wait_until(lambda: expired_notice(d, "never"),
               what="the owner notice of the expiry", daemon=d)

    for k, nid in enumerate(stages):
        r = acks[nid]
        assert set(r) == {"ok", "ref", "response_ms"}, r
        assert r["ok"] is True and r["ref"] == nid, r
        assert r["response_ms"] >= (CHAIN[k - 1][2] if k else 0), r
        row = response_row(d, nid)
        assert row["acked_ms"] is not None and row["expired_ms"] is None
        assert (row["ack_by"], row["score"]) == ("alice", k + 1), row
        fired = escalation_rows(d, nid)
        want = [(lv, rd) for lv, rd, _, _ in CHAIN[:k]]
        # What was seen before the ack fired; nothing fired after it.
        assert [(lv, rd) for lv, rd, _ in fired][:k] == want, fired
        assert all(at <= row["acked_ms"] for _, _, at in fired), \
            "%s: a step fired after its ack: %r" % (nid, fired)
        recorded = sorted((lv, rd) for lv, rd, _ in fired)
        wait_until(lambda: sorted(steps(d, "lead", nid) +
                                  steps(d, "boss", nid)) == recorded,
                   what="the deliveries of %s's steps" % nid, daemon=d)
        assert not expired_notice(d, nid), "%s expired after its ack" % nid

    # The unacked one ran the whole chain, each step once and on time.
    fired = escalation_rows(d, "never")
    assert [(lv, rd) for lv, rd, _ in fired] == \
        [(lv, rd) for lv, rd, _, _ in CHAIN], fired
    received = response_row(d, "never")["received_ms"]
    for (lv, rd, waited, ch), (_, _, at) in zip(CHAIN, fired):
        assert at >= received + waited, (lv, rd, at - received)
        line = [x for x in lines(d, ch) if x["id"] == "never" and
                x.get("escalation", {}).get("level") == lv and
                x["escalation"]["round"] == rd]
        assert len(line) == 1, line
        assert line[0]["escalation"] == {"level": lv, "round": rd,
                                         "waited_ms": waited}, line
        assert line[0]["delivery_id"] == "never/esc%d.%d/%s" % (rd, lv,
                                                                ch), line
        assert line[0]["subject"] == "hello", line
    exp = expired_notice(d, "never")
    assert len(exp) == 1, exp
    assert exp[0]["tags"] == {"event": "expired", "ref": "never",
                              "owners": "desk-team,sre"}, exp
    assert exp[0]["class"] == "realtime", exp
    row = response_row(d, "never")
    assert row["expired_ms"] >= received + EXPIRES_MS, row
    assert row["acked_ms"] is None, row

    # Answered at last: a late ack counts, once.
    r = check_ok_ack(ack(c, "never", by="carol"), "never")
    assert r["response_ms"] >= EXPIRES_MS, r
    row = response_row(d, "never")
    assert row["acked_ms"] is not None and row["expired_ms"] is not None
    assert (row["ack_by"], row["score"]) == ("carol", None), row
    check_error(ack(c, "never", by="dave"), "already_acked", field="ref",
                words=["never"])
    d.stop()
    assert len(owner_notices(d)) == 1, owner_notices(d)
    assert "late=true" in d.log()


def check_ok_ack(reply, ref):
    assert reply.get("ok") is True, "expected ok: %r" % (reply,)
    assert reply.get("ref") == ref, reply
    assert isinstance(reply.get("response_ms"), int), reply
    return reply


def test_ack_errors_and_scores(sb):
    d = sb.start(file_channel("desk"), all_to("desk"))
    c = d.client()
    for nid in ("ask-1", "ask-2"):
        r = check_ok(c.request(notice(id=nid, goal="collect",
                                      respond_within="1h")))
        assert r["class"] == "interactive", r
    check_ok(c.request(notice(id="rt-1", priority="high")))
    check_error(ack(c, "nobody-sent-this"), "unknown_ref", field="ref",
                words=["nobody-sent-this"])
    check_error(ack(c, "rt-1"), "unknown_ref", field="ref",
                words=["rt-1", "realtime"])
    for bad in (6, 0, -1, 4.5, "4", True):
        check_error(ack(c, "ask-1", score=bad), "invalid_field",
                    field="score")
    assert response_row(d, "ask-1")["acked_ms"] is None, \
        "a refused ack was recorded"
    check_ok_ack(ack(c, "ask-1", score=5, note="very good"), "ask-1")
    check_ok_ack(ack(c, "ask-2", by="bob"), "ask-2")
    check_error(ack(c, "ask-1", by="bob"), "already_acked", field="ref",
                words=["ask-1"])
    rows = spool(d, "SELECT n.id, r.ack_by, r.ack_note, r.score "
                 "FROM responses r JOIN notices n ON n.seq = r.notice_seq "
                 "ORDER BY n.seq")
    assert rows == [("ask-1", "alice", "very good", 5),
                    ("ask-2", "bob", None, None)], rows


# --- frequency caps ----------------------------------------------------------

CAPS = """
limits = (
    { name = "all-staff"; match = { audience = "group:all-staff"; };
      max = 2; per = "1h"; action = "demote"; },
    { name = "press"; match = { source = "press*"; };
      max = 1; per = "1h"; action = "reject"; urgent_bypass = true; }
);
"""


def test_caps_demote_reject_and_urgent_bypass(sb):
    d = sb.start(file_channel("feed"), all_to("feed"), extra=CAPS)
    c = d.client()

    def send(nid, **kw):
        return c.request(notice(id=nid, **kw))

    staff = {"audience": ["group:all-staff"], "priority": "high"}
    assert check_ok(send("cap-1", **staff))["class"] == "realtime"
    assert check_ok(send("cap-2", **staff))["class"] == "realtime"
    # Over the cap: demoted to batch, not refused.
    assert check_ok(send("cap-3", **staff))["class"] == "batch"
    # This limit has no urgent_bypass: urgent is demoted too.
    assert check_ok(send("cap-4", audience=["group:all-staff"],
                         priority="urgent"))["class"] == "batch"
    # Other audiences are not counted.
    assert check_ok(send("cap-5", priority="high"))["class"] == "realtime"

    assert check_ok(send("press-1", source="press-office"))["class"] == \
        "batch"
    check_error(send("press-2", source="press-office", priority="high"),
                "rate_limited", words=["limit 'press'", "at most 1 notice"])
    assert send("press-3", source="press-office")["error"]["code"] == \
        "rate_limited"
    # urgent_bypass: urgent passes a full cap, and keeps its class.
    r = check_ok(send("press-4", source="press-office", priority="urgent"))
    assert r["class"] == "realtime", r

    want = {"cap-%d" % i for i in range(1, 6)} | {"press-1", "press-4"}
    wait_until(lambda: want <= set(ids_in(d.path("feed.jsonl"))),
               what="every accepted notice on feed", daemon=d)
    d.stop()
    got = lines(d, "feed")
    assert sorted(x["id"] for x in got) == sorted(want), \
        "a rejected notice was delivered, or one twice"
    in_digest = {x["id"] for x in got if "digest_id" in x}
    assert in_digest == {"cap-3", "cap-4", "press-1"}, in_digest
    assert "demoted id=cap-3 from=realtime to=batch" in d.log()
    kept = {nid for (nid,) in spool(d, "SELECT id FROM notices")}
    assert kept == want, "a refused notice was kept: %r" % (kept - want)


def test_caps_count_only_accepted_notices(sb):
    """A notice refused after the caps were checked (here no_route) takes
    no slot: the publisher's next notice still passes."""
    d = sb.start(file_channel("feed"), '{ match = { source = '
                 '"press-office"; }; channels = [ "feed" ]; }', extra=CAPS)
    c = d.client()
    for i in range(3):
        check_error(c.request(notice(id="desk-%d" % i, source="press-desk")),
                    "no_route")
    check_ok(c.request(notice(id="office-1", source="press-office")))
    check_error(c.request(notice(id="office-2", source="press-office")),
                "rate_limited", words=["limit 'press'"])


# --- restarts ----------------------------------------------------------------

RESTART_EXTRA = """
notify = { owner_channel = "owners"; };
policies = { interactive = { escalation = "late"; }; };
escalations = {
    late = {
        levels = ( { after = "1s"; channels = "lead"; },
                   { after = "4s"; channels = "boss"; } );
        expire_after = "1s";
    };
};
"""


def received_ms(d, nid):
    return spool(d, "SELECT received_ms FROM notices WHERE id = ?",
                 (nid,))[0][0]


def test_restart_mid_escalation_keeps_absolute_times(sb):
    """Level 1 comes 1 s after the deadline, level 2 4 s later, expiry
    1 s after that. A (respond_within 1 s): level 1 at 2 s, level 2 at
    6 s. B (3 s): its deadline and its level 1 (4 s) pass while the
    daemon is down."""
    d = sb.start(ESC_CHANNELS, all_to("desk"), extra=RESTART_EXTRA)
    c = d.client()
    check_ok(c.request(notice(id="esc-a", respond_within="1s")))
    check_ok(c.request(notice(id="esc-b", respond_within="3s")))
    wait_until(lambda: steps(d, "lead", "esc-a") == [(1, 0)],
               what="level 1 of esc-a", daemon=d)
    d.stop()
    b_due = received_ms(d, "esc-b") + 4000
    if wall_ms() < b_due:
        assert escalation_rows(d, "esc-b") == [], \
            "esc-b escalated before its deadline"
    while wall_ms() < b_due + 500:
        time.sleep(0.05)
    restart_ms = wall_ms()
    d2 = restart(sb, d, "2")
    wait_until(lambda: expired_notice(d2, "esc-a") and
               expired_notice(d2, "esc-b"),
               what="both to expire after the restart", daemon=d2)
    d2.stop()
    a_recv, b_recv = received_ms(d, "esc-a"), received_ms(d, "esc-b")
    a = escalation_rows(d, "esc-a")
    b = escalation_rows(d, "esc-b")
    assert [(lv, rd) for lv, rd, _ in a] == [(1, 0), (2, 0)], a
    assert [(lv, rd) for lv, rd, _ in b] == [(1, 0), (2, 0)], b
    # esc-a's level 2 kept its absolute time across the restart.
    assert a[1][2] >= a_recv + 6000, a
    # esc-b's deadline passed while down: its level 1 fired after the
    # restart, and before esc-a's level 2, which was due later.
    assert b[0][2] >= restart_ms, (b, restart_ms)
    order = [(nid, lv) for nid, lv in spool(
        d, "SELECT n.id, e.level FROM escalations e JOIN notices n "
        "ON n.seq = e.notice_seq ORDER BY e.seq")]
    assert order.index(("esc-b", 1)) < order.index(("esc-a", 2)), order
    assert b[1][2] >= b_recv + 8000, b
    # Each step reached its channel once, with its scheduled wait.
    want = {("esc-a", "lead"): [(1, 0, 2000)],
            ("esc-a", "boss"): [(2, 0, 6000)],
            ("esc-b", "lead"): [(1, 0, 4000)],
            ("esc-b", "boss"): [(2, 0, 8000)]}
    for (nid, ch), w in want.items():
        got = [(x["escalation"]["level"], x["escalation"]["round"],
                x["escalation"]["waited_ms"]) for x in lines(d, ch)
               if x["id"] == nid and "escalation" in x]
        assert got == w, (nid, ch, got)
    for nid in ("esc-a", "esc-b"):
        assert len(expired_notice(d, nid)) == 1, nid
        assert ids_in(d.path("desk.jsonl")).count(nid) == 1, nid


HOOK = r"""
cat > in.json || exit 75
if [ -e first ]; then cat in.json >> got.jsonl; exit 0; fi
touch first
exit 75
"""


def test_restart_mid_batch_window(sb):
    """x: flushed before the restart; the exec channel's attempt fails
    and waits 5-10s to retry, so its digest is pending across the
    restart, waits out the rest of that backoff after it (its items'
    next_ms), and is sent again as the same digest. y: still in the open
    window at the restart, sent in one digest after it. Each notice once
    per channel."""
    channels = "\n".join([
        file_channel("feed"),
        'hook = { type = "exec"; command = %s; timeout = "30s"; '
        'retry = { max = 3; backoff = "10s"; backoff_max = "10s"; }; };' %
        clist(["/bin/sh", "-c", HOOK])])
    d = sb.start(channels, all_to("feed", "hook"),
                 extra='policies = { batch = { window = "3s"; }; };')
    c = d.client()
    xs = ["x-%d" % i for i in range(3)]
    ys = ["y-%d" % i for i in range(3)]
    send_all(c, [notice(id=i) for i in xs])
    # "first" only shows the command ran: the daemon records the retry
    # (next_ms) when it takes the exit status, which it logs.
    wait_until(lambda: os.path.exists(d.path("first")) and
               "retryable" in outcomes(d.log(), "hook", "x-0") and
               len(lines(d, "feed")) == 3,
               what="the x digest failed on hook and written to feed",
               daemon=d)
    replies = send_all(c, [notice(id=i) for i in ys])
    assert all(check_ok(r)["class"] == "batch" for r in replies.values())
    d.stop()
    y_due = received_ms(d, "y-0") + 3000
    if wall_ms() < y_due:
        assert ids_in(d.path("feed.jsonl")) == xs
    [(x_next,)] = spool(d, "SELECT min(next_ms) FROM deliveries WHERE "
                        "digest = 'x-0/hook/digest'")
    assert x_next is not None, "the x digest's retry is not on record"
    restart_ms = wall_ms()
    d2 = restart(sb, d, "2")
    def got():
        return read_jsonl(d.path("got.jsonl"), digests=True)

    wait_until(lambda: len(got()) == 2 and
               len(lines(d2, "feed")) == 6,
               what="both digests on hook and y on feed", daemon=d2)
    d2.stop()
    # y may leave first now: x waits out its backoff.
    hook = sorted(got(), key=lambda x: x["delivery_id"])
    assert [x["delivery_id"] for x in hook] == ["x-0/hook/digest",
                                                "y-0/hook/digest"], hook
    assert [[i["id"] for i in x["items"]] for x in hook] == [xs, ys], hook
    feed = digests(d, "feed")
    assert len(feed) == 2, feed
    check_digest_line(feed[0], "feed", xs)
    check_digest_line(feed[1], "feed", ys)
    for nid, ch, digest, state, delivered_ms, recv in digest_rows(d, "y-"):
        assert state == "delivered" and digest == "y-0/%s/digest" % ch
        assert delivered_ms >= restart_ms, (nid, ch)
        assert delivered_ms >= received_ms(d, "y-0") + 3000, (nid, ch)
    log2 = open(d2.log_path).read()
    assert "digest restored channel=hook id=x-0/hook/digest items=3" in log2
    # Not before its backoff ended, though the daemon was down meanwhile.
    for nid, ch, digest, state, delivered_ms, recv in digest_rows(d, "x-"):
        if ch == "hook":
            assert delivered_ms >= x_next, (nid, delivered_ms - x_next)
    if restart_ms < x_next - 1000:
        assert "resumed id=x-0/hook/digest channel=hook attempts=1" in \
            log2, log2[-3000:]


# --- reload ------------------------------------------------------------------

LOAD_N = 20000
RELOADS = 20
SOURCES = ("sa", "sb", "sc", "sd")


def load_config(k):
    """Version k: keep is the same throughout; chg changes every time
    (its health check, which the running instance holds, so it is
    replaced; and its concurrency, which a kept one would just take),
    tmpK exists only in version k, odd in odd versions; the routes of sb
    and sc change with them."""
    chans = [file_channel("keep"),
             file_channel("chg", "concurrency = %d; health_check = { "
                          "interval = \"%dh\"; max_failures = 1000; };"
                          % (1 + k % 3, 1 + k)),
             file_channel("tmp%d" % k)]
    if k % 2:
        chans.append(file_channel("odd"))
    routes = [
        '{ name = "r-a"; match = { source = "sa"; }; '
        'channels = [ "keep", "tmp%d" ]; }' % k,
        '{ name = "r-b"; match = { source = "sb"; }; channels = %s; }' %
        clist(["chg", "odd"] if k % 2 else ["chg"]),
        ('{ name = "r-c"; match = { source = "sc"; }; '
         'channels = [ "keep", "chg" ]; }') if k % 2 == 0 else
        ('{ name = "r-c2"; match = { source = "sc"; }; '
         'channels = [ "tmp%d" ]; }' % k),
        '{ name = "rest"; match = { source = "*"; }; channels = "keep"; }']
    return "\n".join(chans), ",\n".join(routes)


def test_reload_under_load_exactly_once(sb):
    """20 reloads, each while hundreds of notices are in flight; every
    notice reaches exactly the channels its reply named."""
    d = sb.start(*load_config(0))
    tail = LogTail(d)
    c = d.client()
    notices = [notice(id="ld-%05d" % i, source=SOURCES[i % 4],
                      priority="high") for i in range(LOAD_N)]
    replies = {}
    outstanding = set()

    def take_reply():
        r = c.recv()
        outstanding.discard(r.get("id"))
        replies[r.get("id")] = r
        return r

    # RELOADS + 1 chunks: reload k+1 is signalled halfway through chunk
    # k, with its first half in flight, and is done before chunk k+1
    # starts. Before signalling, one reply of the chunk must name tmpK:
    # sent is not read, and a daemon still starting (or slowed by a
    # sanitizer) could otherwise take the signal before any of version
    # k's notices.
    for k in range(RELOADS + 1):
        chunk = notices[k * LOAD_N // (RELOADS + 1):
                        (k + 1) * LOAD_N // (RELOADS + 1)]
        ids = {n["id"] for n in chunk}
        for i, n in enumerate(chunk):
            if i == len(chunk) // 2 and k < RELOADS:
                while not any("tmp%d" % k in replies[x].get("channels", ())
                              for x in ids & replies.keys()):
                    take_reply()
                rewrite_config(d, *load_config(k + 1))
                d.proc.send_signal(signal.SIGHUP)
            while len(outstanding) >= 500:
                take_reply()
            c.send(n)
            outstanding.add(n["id"])
        wait_until(lambda: tail.count("reloaded config=") +
                   tail.count("reload failed") >= min(k + 1, RELOADS),
                   what="reload %d" % (k + 1), daemon=d)
    while outstanding:
        take_reply()
    assert not c.pending(0)
    assert len(replies) == LOAD_N
    want = set()
    for n in notices:
        r = check_ok(replies[n["id"]])
        assert r["class"] == "realtime", r
        want |= {(n["id"], ch) for ch in r["channels"]}
    files = ["keep", "chg", "odd"] + ["tmp%d" % k
                                      for k in range(RELOADS + 1)]

    def delivered():
        return [(x["id"], x["channel"], f) for f in files
                for x in lines(d, f)]

    wait_until(lambda: len(delivered()) >= len(want), timeout=120,
               what="%d deliveries" % len(want), daemon=d)
    d.stop()
    got = delivered()
    assert all(ch == f for _, ch, f in got), "a line in another's file"
    pairs = [(nid, ch) for nid, ch, _ in got]
    assert len(pairs) == len(set(pairs)), "a notice delivered twice"
    assert set(pairs) == want, \
        "missing %d, unexpected %d" % (len(want - set(pairs)),
                                       len(set(pairs) - want))
    log = d.log()
    assert log.count("reloaded config=") == RELOADS, "reloads coalesced"
    assert "reload failed" not in log
    assert "channel replaced name=chg" in log
    assert "channel removed name=tmp" in log
    # Every version's channels were used: the reloads really overlapped.
    unused = {"tmp%d" % k for k in range(RELOADS + 1)} - \
        {ch for _, ch in pairs}
    assert not unused, "no notice went to %s" % sorted(unused)


def test_broken_reload_keeps_the_running_config(sb):
    d = sb.start(file_channel("feed"), all_to("feed"))
    tail = LogTail(d)
    c = d.client()
    with open(d.config) as f:
        good = f.read()
    bad = good + "\nextra_group = {\n    oops = ;\n};\n"
    line = bad.splitlines().index("    oops = ;") + 1
    with open(d.config, "w") as f:
        f.write(bad)
    reload(d, tail, 0)
    text = tail.read()
    assert "reload failed" in text, text[-2000:]
    assert "%s:%d:" % (d.config, line) in text, text[-2000:]
    check_ok(c.request(notice(id="after-syntax", priority="high")))
    wait_until(lambda: "after-syntax" in ids_in(d.path("feed.jsonl")),
               what="delivery on the old config", daemon=d)
    # A file that parses but names a channel that does not exist.
    bad = good.replace('channels = [ "feed" ]', 'channels = [ "nosuch" ]')
    assert bad != good
    line = [i for i, x in enumerate(bad.splitlines(), 1) if "nosuch" in x]
    with open(d.config, "w") as f:
        f.write(bad)
    reload(d, tail, 1)
    text = tail.read()
    assert text.count("reload failed") == 2, text[-2000:]
    assert "%s:%d:" % (d.config, line[0]) in text, text[-2000:]
    assert "nosuch" in text
    check_ok(c.request(notice(id="after-route", priority="high")))
    wait_until(lambda: "after-route" in ids_in(d.path("feed.jsonl")),
               what="delivery on the old config", daemon=d)
    # Fixed: the next reload takes.
    with open(d.config, "w") as f:
        f.write(good)
    reload(d, tail, 2)
    assert tail.count("reloaded config=") == 1
    d.stop()
    assert ids_in(d.path("feed.jsonl")) == ["after-syntax", "after-route"]


# --- the waits for a wall-clock minute (fixtures at the top) -----------------
#
# SLOW: each of these two may wait up to ~72 s after its fixture started
# its daemon (at the first two tests of the file); in a run of the whole
# file the tests in between take most of that time.

def test_batch_at_time_of_day_flushes_one_digest(at_run):
    d, boundary, _ = at_run
    wait_until(lambda: len(lines(d, "news")) >= len(AT_IDS), timeout=150,
               what="the digest at %s %s" % (hhmm(boundary, AT_ZONE),
                                             AT_ZONE), daemon=d)
    dg = digests(d, "news")
    assert len(dg) == 1, dg
    check_digest_line(dg[0], "news", AT_IDS)
    for nid, _, digest, state, delivered_ms, _ in digest_rows(d, "at-"):
        assert (digest, state) == ("at-0/news/digest", "delivered"), nid
        assert delivered_ms >= boundary.timestamp() * 1000, \
            "%s left before its at time" % nid


def test_quiet_hours_release_at_window_end(quiet_run):
    d, end, _ = quiet_run
    wait_until(lambda: "q-held" in ids_in(d.path("desk.jsonl")),
               timeout=150, what="the held notice at %s UTC" % hhmm(end),
               daemon=d)
    d.stop()
    assert ids_in(d.path("desk.jsonl")).count("q-held") == 1
    rows = spool(d, "SELECT d.delivered_ms FROM deliveries d JOIN notices "
                 "n ON n.seq = d.notice_seq WHERE n.id = 'q-held'")
    # The hold is timed on the monotonic clock from a wall-clock end, so
    # it may end a millisecond or two early by rounding; not more.
    assert rows[0][0] >= end.timestamp() * 1000 - 10, rows
