"""sbctl report: figures read straight from a spool against known answers.

The spool is made by switchboardd (the current schema, the daemon's own
tables), the daemon is stopped, and rows are written into it with
Python's sqlite3 as the daemon would have: notices over three days in
UTC, deliveries with chosen outcomes and times, acks with scores,
escalations, spells of open breakers, notices a limit demoted. Every
figure below follows from that data by hand (the comments say how);
nothing here recomputes the report's way.

A copy taken back to schema version 3 (no breaker_openings, no
notices.demoted_by) shows those figures as n/a; the HTML report is
opened in headless Chromium. test_from_a_daemon has a real daemon open a
breaker and demote notices, and reads the figures back."""

import datetime
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time

import pytest

from fakes import HookServer
from sbtest import ROOT, SBCTL, SANITIZER_MARKS, check_ok, cstr, notice, \
    wait_until
import browser

CHANNELS = """
    chat = { type = "file"; path = "chat.jsonl"; };
    chat-pilot = { type = "file"; path = "pilot.jsonl"; mode = "pilot";
                   pilot_percent = 50; };
    mail = { type = "file"; path = "mail.jsonl"; };
    survey = { type = "file"; path = "survey.jsonl"; };
    boss = { type = "file"; path = "boss.jsonl"; };
"""
ROUTES = """
    { name = "ops"; match = { source = "monitor"; };
      channels = [ "chat", "chat-pilot" ]; fallback = [ "mail" ]; },
    { name = "news"; match = { source = "newsroom"; };
      channels = [ "mail" ]; policy = { deliver_within = "1m"; }; },
    { name = "surveys"; match = { class = "interactive"; };
      channels = [ "survey" ]; }
"""
EXTRA = """
timezone = "UTC";
policies = {
    realtime = { deliver_within = "5s"; };
    interactive = { respond_within = "4h"; deliver_within = "5s";
                    escalation = "up"; };
};
escalations = {
    up = { levels = ( { after = "10m"; channels = "boss"; },
                      { after = "10m"; channels = "boss"; } ); };
};
"""

SINCE, UNTIL = "2024-05-01", "2024-05-04"
H = 3600 * 1000
M = 60 * 1000


def at(day, hour=10, minute=0):
    """ms of 2024-05-DAY HOUR:MINUTE UTC."""
    d = datetime.datetime(2024, 5, day, hour, minute,
                          tzinfo=datetime.timezone.utc)
    return int(d.timestamp() * 1000)


class Spool:
    """Rows written as the daemon writes them (docs/spool.md)."""

    def __init__(self, path):
        self.db = sqlite3.connect(path)
        self.n = 0

    def notice(self, cls, source, audience, when, goal=None,
               anonymous=False):
        self.n += 1
        nid = "n-%d" % self.n
        stored = {"id": nid, "class": cls}
        if not anonymous:
            stored["source"] = source
        stored["audience"] = audience
        stored["subject"] = "subject %d" % self.n
        if goal:
            stored["goal"] = goal
        if anonymous:
            stored["anonymous"] = True
        stored["received_at"] = "x"
        cur = self.db.execute(
            "INSERT INTO notices (id, received_ms, class, json) "
            "VALUES (?, ?, ?, ?)",
            (nid, when, cls, json.dumps(stored).encode()))
        return cur.lastrowid, when

    def delivery(self, notice, channel, route, state, ms=None, attempts=1,
                 pilot=0, fallback_of=None, level=0, digest=None,
                 created=None):
        seq, received = notice
        created = received if created is None else created
        delivered = created + ms if state == "delivered" else None
        self.db.execute(
            "INSERT INTO deliveries (id, notice_seq, position, channel, "
            "route, pilot, fallback_of, state, attempts, created_ms, "
            "updated_ms, delivered_ms, level, digest) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("%d/%s/%d" % (seq, channel, level), seq,
             None if fallback_of or level else 0, channel, route, pilot,
             fallback_of, state, attempts, created,
             delivered or created, delivered, level, digest))

    def response(self, notice, route="surveys", acked_after=None,
                 score=None, expired=False, within=4 * H):
        seq, received = notice
        self.db.execute(
            "INSERT INTO responses (notice_seq, route, respond_by_ms, "
            "next_ms, acked_ms, ack_by, score, expired_ms) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, route, received + within, received + within,
             None if acked_after is None else received + acked_after,
             None if acked_after is None else "alice", score,
             received + within + 20 * M if expired else None))

    def escalation(self, notice, level, round_=0):
        seq, received = notice
        when = received + 4 * H + level * 10 * M
        self.db.execute("INSERT INTO escalations (notice_seq, level, "
                        "round, at_ms) VALUES (?, ?, ?, ?)",
                        (seq, level, round_, when))
        self.delivery(notice, "boss", "surveys", "delivered", ms=1000,
                      level=level, created=when)

    def breaker(self, channel, opened, closed, reason="HTTP 503"):
        self.db.execute("INSERT INTO breaker_openings (channel, opened_ms, "
                        "closed_ms, reason) VALUES (?, ?, ?, ?)",
                        (channel, opened, closed, reason))

    def close(self):
        self.db.commit()
        self.db.close()


def build(path, pilot_good=True):
    """The known spool. Totals: 42 notices in the period (realtime 29,
    batch 3, interactive 10) and 2 outside it."""
    s = Spool(path)
    # ops: 25 realtime notices from monitor to role:oncall, k % 3 picks
    # the day (9 on the 1st, 8 on the 2nd, 8 on the 3rd); the last is
    # anonymous. chat has 24 of them: 20 delivered, 2 failed (each with
    # a fallback on mail), 1 dead, 1 pending.
    chat_ms = [100 * i for i in range(1, 13)] + \
        [6000 + 1000 * i for i in range(8)]
    for k in range(25):
        n = s.notice("realtime", "monitor", ["role:oncall"],
                     at(1 + k % 3, 10, k), anonymous=(k == 24))
        if k < 20:
            # 3 of the delivered took a retry.
            s.delivery(n, "chat", "ops", "delivered", ms=chat_ms[k],
                       attempts=2 if k >= 17 else 1)
        elif k < 22:
            s.delivery(n, "chat", "ops", "failed", attempts=4)
            s.delivery(n, "mail", "ops", "delivered",
                       ms=2000 if k == 20 else 3000,
                       fallback_of="chat", created=n[1] + 30000)
        elif k == 22:
            s.delivery(n, "chat", "ops", "dead")
        elif k == 23:
            s.delivery(n, "chat", "ops", "pending")
        # The pilot: a shadow copy of all 25; one failed.
        if k == 0:
            s.delivery(n, "chat-pilot", "ops", "failed", pilot=1,
                       attempts=2)
        else:
            s.delivery(n, "chat-pilot", "ops", "delivered", pilot=1,
                       ms=300 if pilot_good else 6000)
    # news: 4 realtime notices, route deadline 1m: 2 in it, 2 not.
    for i, ms in enumerate([30000, 45000, 90000, 120000]):
        n = s.notice("realtime", "newsroom", ["staff:*"], at(2, 9, i))
        s.delivery(n, "mail", "news", "delivered", ms=ms)
    # 3 batch notices in one digest, 10 minutes after acceptance; a
    # limit demoted the first 2 to batch.
    for i in range(3):
        n = s.notice("batch", "newsroom", ["staff:*"], at(2, 11, i))
        s.delivery(n, "mail", "news", "delivered", ms=10 * M,
                   digest="n-x/mail/digest")
        if i < 2:
            s.db.execute("UPDATE notices SET demoted_by = 'staff-cap' "
                         "WHERE seq = ?", (n[0],))
    # collect: 6 surveys from hr on the 3rd; scores 5, 4, 4, none, 2 and
    # one expired after escalating once.
    acks = [(1 * M, 5), (2 * M, 4), (5 * M, 4), (10 * M, None),
            (60 * M, 2)]
    for i in range(6):
        aud = ["staff:*"] if i < 4 else ["customer:acme", "staff:*"]
        n = s.notice("interactive", "hr", aud, at(3, 8, i), goal="collect")
        s.delivery(n, "survey", "surveys", "delivered", ms=500)
        if i < 5:
            s.response(n, acked_after=acks[i][0], score=acks[i][1])
        else:
            s.response(n, expired=True)
            s.escalation(n, 1)
    # resolve: 4 questions from helpdesk on the 1st: acked at 10m;
    # acked late at 5h after level 1; expired after levels 1 and 2;
    # still waiting.
    for i in range(4):
        n = s.notice("interactive", "helpdesk", ["dept:it"], at(1, 7, i),
                     goal="resolve")
        s.delivery(n, "survey", "surveys", "delivered", ms=500)
        if i == 0:
            s.response(n, acked_after=10 * M)
        elif i == 1:
            s.response(n, acked_after=5 * H)
            s.escalation(n, 1)
        elif i == 2:
            s.response(n, expired=True)
            s.escalation(n, 1)
            s.escalation(n, 2)
        else:
            s.response(n)
    # Outside the period: the day before, and the first ms after it.
    for when in (at(1, 0, 0) - 1, at(4, 0, 0)):
        n = s.notice("realtime", "monitor", ["role:oncall"], when)
        s.delivery(n, "chat", "ops", "failed")
    # Breakers. chat: open from 23:00 the day before to 01:00 (1h of it
    # in the period, not an opening of it), and 30 minutes on the 2nd;
    # mail: open since 23:00 on the 3rd, never closed (1h to the end of
    # the period); survey: a spell wholly before the period.
    s.breaker("chat", at(1, 0) - H, at(1, 1))
    s.breaker("chat", at(2, 10), at(2, 10, 30))
    s.breaker("mail", at(3, 23), None, "timeout")
    s.breaker("survey", at(1, 0) - 2 * H, at(1, 0) - H)
    s.close()


def run(*args, cwd=ROOT):
    assert os.access(SBCTL, os.X_OK), "%s not built" % SBCTL
    r = subprocess.run([SBCTL] + list(args), cwd=cwd, capture_output=True,
                       text=True, timeout=120)
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr, "sbctl: sanitizer report:\n" + r.stderr
    return r


def report(d, *args, spool="spool.db"):
    return run("report", "-c", d.config, "--spool", d.path(spool),
               "--since", SINCE, "--until", UNTIL,
               *args)


def report_json(d, *args, spool="spool.db"):
    r = report(d, "--format", "json", *args, spool=spool)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def spooled(sb_module):
    """A stopped daemon's directory with the known spool in it, and a
    copy with the good pilot made bad (spool-worse.db)."""
    d = sb_module.start(CHANNELS, ROUTES, extra=EXTRA)
    d.stop()
    shutil.copy(d.path("spool.db"), d.path("spool-worse.db"))
    build(d.path("spool.db"))
    build(d.path("spool-worse.db"), pilot_good=False)
    return d


def by_name(rows, name, key="name"):
    found = [r for r in rows if r[key] == name]
    assert len(found) == 1, "%s: %r" % (name, rows)
    return found[0]


# --- channels -----------------------------------------------------------------

def test_period_and_notices(spooled):
    rep = report_json(spooled)
    assert rep["schema"] >= 3
    assert rep["period"]["since"] == "2024-05-01T00:00:00.000Z"
    assert rep["period"]["until"] == "2024-05-04T00:00:00.000Z"
    assert rep["period"]["timezone"] == "UTC"
    # The two notices outside the period are not counted.
    assert rep["notices"] == {"total": 42, "realtime": 29, "batch": 3,
                              "interactive": 10}
    assert rep["days"] == [
        {"date": "2024-05-01", "realtime": 9, "batch": 0, "interactive": 4},
        {"date": "2024-05-02", "realtime": 12, "batch": 3,
         "interactive": 0},
        {"date": "2024-05-03", "realtime": 8, "batch": 0,
         "interactive": 6}]


def test_channel_figures(spooled):
    rep = report_json(spooled)
    assert [c["name"] for c in rep["channels"]] == \
        ["chat", "chat-pilot", "mail", "survey", "boss"]
    chat = by_name(rep["channels"], "chat")
    # 24 deliveries: 20 delivered, 2 failed, 1 dead, 1 pending; retried:
    # 3 delivered on their 2nd attempt and the 2 failed after 4.
    assert {k: chat[k] for k in ("mode", "type", "deliveries", "delivered",
            "failed", "retried", "dead", "expired", "pending",
            "finished")} == {
        "mode": "active", "type": "file", "deliveries": 24,
        "delivered": 20, "failed": 2, "retried": 5, "dead": 1,
        "expired": 0, "pending": 1, "finished": 23}
    # Times 100..1200 ms and 6..13 s: rank 10 is 1000, 19 is 12 s, 20 is
    # 13 s. Within 5 s: 12 of the 23 finished.
    assert chat["delivery_ms"]["count"] == 20
    assert (chat["delivery_ms"]["p50"], chat["delivery_ms"]["p95"],
            chat["delivery_ms"]["p99"]) == (1000, 12000, 13000)
    assert (chat["timed"], chat["within_deadline"],
            chat["within_deadline_share"]) == (23, 12, 0.5217)
    hist = {b["bucket"]: b["count"] for b in
            chat["delivery_ms"]["histogram"]}
    assert hist["<100ms"] == 0 and hist["<250ms"] == 2
    assert hist["<1s"] == 5 and hist["<2.5s"] == 3
    assert hist["<10s"] == 4 and hist["<30s"] == 4
    assert sum(hist.values()) == 20
    # Breaker: 1h before 01:00 on the 1st and 30m on the 2nd; one of
    # the two spells began in the period. No cost option: null, not 0.
    assert (chat["breaker_open_ms"], chat["breaker_openings"]) == \
        (90 * M, 1)
    assert chat["cost"] is None

    pilot = by_name(rep["channels"], "chat-pilot")
    assert (pilot["mode"], pilot["deliveries"], pilot["delivered"],
            pilot["failed"], pilot["retried"]) == ("pilot", 25, 24, 1, 1)
    assert pilot["delivery_ms"]["p50"] == 300

    # mail: 2 fallbacks (2 s, 3 s; 5 s deadline), 4 news (30 s, 45 s,
    # 90 s, 120 s; the route's 1m), 3 digest items (10 m, left out of
    # the deadline share): 4 of 6 within.
    mail = by_name(rep["channels"], "mail")
    assert (mail["deliveries"], mail["delivered"], mail["timed"],
            mail["within_deadline"]) == (9, 9, 6, 4)
    assert (mail["delivery_ms"]["p50"], mail["delivery_ms"]["p95"],
            mail["delivery_ms"]["p99"]) == (90000, 600000, 600000)
    # Still open: it counts to the end of the period.
    assert (mail["breaker_open_ms"], mail["breaker_openings"]) == (H, 1)

    boss = by_name(rep["channels"], "boss")
    assert (boss["deliveries"], boss["delivered"], boss["timed"],
            boss["within_deadline"]) == (4, 4, 4, 4)
    survey = by_name(rep["channels"], "survey")
    assert (survey["deliveries"], survey["within_deadline_share"]) == \
        (10, 1.0)
    # Its spell ended before the period; boss never opened.
    assert (survey["breaker_open_ms"], survey["breaker_openings"]) == \
        (0, 0)
    assert (boss["breaker_open_ms"], boss["breaker_openings"]) == (0, 0)
    assert not any("n/a" in n and ("breaker" in n.lower() or "capped" in
                   n.lower()) for n in rep["notes"])


def test_text_matches(spooled):
    r = report(spooled)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "2024-05-01 00:00 to 2024-05-04 00:00 (UTC), 3 days" in out
    assert "notices  42: realtime 29, batch 3, interactive 10" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.startswith("  chat ") or line.startswith("  mail ")}
    assert rows["chat"] == ["chat", "active", "24", "20", "2", "5", "1",
                            "0", "1", "1.0s", "12.0s", "13.0s", "12/23",
                            "52.2%", "1h30m", "n/a"]
    assert rows["mail"][:16] == ["mail", "active", "9", "9", "0", "0",
                                 "0", "0", "0", "1m30s", "10m00s",
                                 "10m00s", "4/6", "66.7%", "1h00m", "n/a"]
    news = [l.split() for l in out.splitlines()
            if l.startswith("  newsroom ")]
    assert news and news[0][-1] == "2", out
    assert "breaker: n/a" not in out.lower()
    assert "capped: n/a" not in out.lower()


# --- pilots -------------------------------------------------------------------

def test_pilot_better(spooled):
    rep = report_json(spooled)
    (p,) = rep["pilots"]
    assert p["channel"] == "chat-pilot" and p["pilot_percent"] == 50
    assert p["routes"] == ["ops"] and p["active"] == ["chat"]
    # Pilot: 24 of 25 in time. Active (chat only: mail's fallbacks do
    # not count): 12 of 23. Pooled 36/48; z = (0.96 - 12/23) /
    # sqrt(0.75 * 0.25 * (1/25 + 1/23)) = 3.50.
    assert (p["pilot"]["finished"], p["pilot"]["in_time"]) == (25, 24)
    assert (p["others"]["finished"], p["others"]["in_time"]) == (23, 12)
    assert p["verdict"] == "better"
    assert p["z"] == 3.50
    assert p["line"].startswith("better: 24 of 25 delivered in time "
                                "(96.0%) against 12 of 23 (52.2%)")
    assert "p95 delivery time 300ms against 12.0s" in p["line"]
    r = report(spooled)
    assert "verdict: better: 24 of 25" in r.stdout


def test_pilot_worse(spooled):
    rep = report_json(spooled, spool="spool-worse.db")
    (p,) = rep["pilots"]
    # Every pilot copy took 6 s: 0 of 25 in time against 12 of 23.
    assert (p["pilot"]["in_time"], p["others"]["in_time"]) == (0, 12)
    assert p["verdict"] == "worse" and p["z"] == -4.17
    assert p["line"].startswith("worse: 0 of 25")


def test_pilot_not_enough_data(spooled):
    # The 1st alone: 9 pilot copies and 8 chat deliveries.
    r = run("report", "-c", spooled.config, "--spool",
            spooled.path("spool.db"), "--since", "2024-05-01",
            "--until", "2024-05-02", "--format", "json")
    assert r.returncode == 0, r.stderr
    (p,) = json.loads(r.stdout)["pilots"]
    assert (p["pilot"]["finished"], p["others"]["finished"]) == (9, 8)
    assert p["verdict"] == "not enough data" and p["z"] is None
    assert "9 finished deliveries by the pilot and 8 by the active" in \
        p["line"]


# --- responses, satisfaction, volume -------------------------------------------

def test_responses_by_class_and_goal(spooled):
    rep = report_json(spooled)
    goals = {(g["class"], g["goal"]): g for g in rep["responses"]}
    assert list(goals) == [("realtime", "inform"), ("batch", "inform"),
                           ("interactive", "collect"),
                           ("interactive", "resolve")]
    rt = goals[("realtime", "inform")]
    assert (rt["notices"], rt["tracked"], rt["ack_rate"]) == (29, 0, None)
    c = goals[("interactive", "collect")]
    assert {k: c[k] for k in ("notices", "tracked", "acked", "ack_rate",
            "in_time", "expired", "waiting", "escalated")} == {
        "notices": 6, "tracked": 6, "acked": 5, "ack_rate": 0.8333,
        "in_time": 5, "expired": 1, "waiting": 0, "escalated": 1}
    # 1m, 2m, 5m, 10m, 60m: rank 3 and rank 5.
    assert (c["response_ms"]["p50"], c["response_ms"]["p95"]) == \
        (5 * M, 60 * M)
    assert c["escalations"] == [{"level": 1, "fired": 1}]
    q = goals[("interactive", "resolve")]
    assert {k: q[k] for k in ("notices", "tracked", "acked", "ack_rate",
            "in_time", "expired", "waiting", "escalated")} == {
        "notices": 4, "tracked": 4, "acked": 2, "ack_rate": 0.5,
        "in_time": 1, "expired": 1, "waiting": 1, "escalated": 2}
    assert (q["response_ms"]["p50"], q["response_ms"]["p95"]) == \
        (10 * M, 5 * H)
    assert q["escalations"] == [{"level": 1, "fired": 2},
                                {"level": 2, "fired": 1}]
    # Every ack: 1m 2m 5m 10m 10m 60m 5h.
    assert rep["response_ms"]["count"] == 7
    assert rep["response_ms"]["p50"] == 10 * M
    hist = {b["bucket"]: b["count"] for b in
            rep["response_ms"]["histogram"]}
    assert (hist["<1m"], hist["<5m"], hist["<15m"], hist["<1h"],
            hist["<2h"], hist["<8h"]) == (0, 2, 3, 0, 1, 1)
    r = report(spooled)
    line = [l for l in r.stdout.splitlines() if "resolve" in l][0].split()
    assert line == ["interactive", "resolve", "4", "4", "2", "50.0%", "1",
                    "1", "1", "10m00s", "5h00m", "2", "1:", "2,", "2:",
                    "1"]


def test_satisfaction(spooled):
    rep = report_json(spooled)
    sat = rep["satisfaction"]
    # Only survey carried the collect notices; scored 5, 4, 4, 2.
    assert sat["channels"] == [{"name": "survey", "notices": 6,
                                "scored": 4, "mean": 3.75,
                                "scores": [0, 1, 0, 2, 1]}]
    assert by_name(sat["audiences"], "staff:*") == {
        "name": "staff:*", "notices": 6, "scored": 4, "mean": 3.75,
        "scores": [0, 1, 0, 2, 1]}
    assert by_name(sat["audiences"], "customer:acme") == {
        "name": "customer:acme", "notices": 2, "scored": 1, "mean": 2.0,
        "scores": [0, 1, 0, 0, 0]}


def test_volume(spooled):
    rep = report_json(spooled)
    # Most first; the anonymous notice under its own name.
    assert [(v["name"], v["notices"]) for v in rep["sources"]] == [
        ("monitor", 24), ("newsroom", 7), ("hr", 6), ("helpdesk", 4),
        ("(anonymous)", 1)]
    news = by_name(rep["sources"], "newsroom")
    # Capped: the 2 batch notices a limit demoted.
    assert (news["realtime"], news["batch"], news["capped"]) == (4, 3, 2)
    assert by_name(rep["sources"], "monitor")["capped"] == 0
    assert [(v["name"], v["notices"]) for v in rep["audiences"]] == [
        ("role:oncall", 25), ("staff:*", 13), ("dept:it", 4),
        ("customer:acme", 2)]
    assert by_name(rep["audiences"], "staff:*")["capped"] == 2
    assert by_name(rep["audiences"], "dept:it")["capped"] == 0


# --- an older spool ------------------------------------------------------------

def test_schema_3_says_na(spooled):
    """A spool of schema version 3 keeps no breakers and no demotions:
    null in JSON, n/a in text, with the notes that say why."""
    path = spooled.path("spool-v3.db")
    shutil.copy(spooled.path("spool.db"), path)
    db = sqlite3.connect(path)
    db.executescript("""
        DROP TABLE breaker_openings;
        ALTER TABLE notices DROP COLUMN demoted_by;
        PRAGMA user_version = 3;
    """)
    db.close()
    rep = report_json(spooled, spool="spool-v3.db")
    assert rep["schema"] == 3
    chat = by_name(rep["channels"], "chat")
    assert (chat["breaker_open_ms"], chat["breaker_openings"]) == \
        (None, None)
    assert by_name(rep["sources"], "newsroom")["capped"] is None
    assert by_name(rep["audiences"], "staff:*")["capped"] is None
    # Everything else as in the current schema.
    assert rep["notices"]["total"] == 42 and chat["delivered"] == 20
    r = report(spooled, spool="spool-v3.db")
    assert r.returncode == 0, r.stderr
    assert "breaker: n/a" in r.stdout.lower()
    assert "capped: n/a" in r.stdout.lower()


# --- from a real daemon ----------------------------------------------------------

class Flaky:
    """A webhook that answers 503 to everything while down, 200 when up."""

    def __init__(self):
        self.down = False

    def __call__(self, req):
        if self.down:
            return ("status", 503, {}, b"maintenance")
        return ("status", 200, {}, b"ok")


# The hook answers at once, up or down: its timeout is only a hang guard,
# long enough that a slow answer is never a timeout (the first spell's
# reason must be the 503).
LIVE_CHANNELS = """
hook = { type = "webhook"; url = %s; timeout = "10s";
         retry = { max = 0; }; fallback = "feed";
         health_check = { interval = "200ms"; max_failures = 2; }; };
feed = { type = "file"; path = "feed.jsonl"; };
"""
LIVE_ROUTES = '{ name = "app"; match = { source = "app*"; }; ' \
    'channels = [ "hook" ]; }'
LIVE_LIMITS = """
limits = ( { name = "app-hourly"; match = { source = "app*"; };
             max = 2; per = "1h"; action = "demote"; } );
"""


def spool_rows(d, sql):
    db = sqlite3.connect(d.path("spool.db"))
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def spells(d):
    return spool_rows(d, "SELECT channel, opened_ms, closed_ms, reason "
                      "FROM breaker_openings ORDER BY seq")


def open_spell(d, n):
    """The breaker's n-th spell is recorded and still open."""
    s = spells(d)
    return len(s) == n and s[-1][2] is None


def closed_spell(d, n):
    s = spells(d)
    return len(s) == n and s[-1][2] is not None


def test_from_a_daemon(sb):
    """A real daemon: a cap demotes two notices; the webhook's breaker
    opens and a probe closes it; opens again and the daemon is killed
    (the next start ends the spell); opens again and the daemon stops
    (the stop ends it). sbctl report then has every spell's time and
    the capped notices."""
    hook = HookServer()
    flaky = Flaky()
    hook.behave = flaky
    try:
        d = sb.start(LIVE_CHANNELS % cstr(hook.url("/r")), LIVE_ROUTES,
                     extra=LIVE_LIMITS)
        c = d.client()
        flaky.down = True
        classes = [check_ok(c.request(notice(id="l-%d" % i,
                                             priority="high")))["class"]
                   for i in range(1, 5)]
        assert classes == ["realtime", "realtime", "batch", "batch"]
        # 1: open, then a probe closes it.
        wait_until(lambda: open_spell(d, 1), what="the opening recorded",
                   daemon=d)
        time.sleep(0.5)
        flaky.down = False
        wait_until(lambda: closed_spell(d, 1), what="the closing recorded",
                   daemon=d)
        # 2: open when the daemon dies; the next start ends the spell.
        flaky.down = True
        wait_until(lambda: open_spell(d, 2), what="the 2nd opening",
                   daemon=d)
        d.proc.kill()
        d.proc.wait()
        d._log.close()
        killed = int(time.time() * 1000)
        assert open_spell(d, 2)
        flaky.down = False
        d.start()
        s = spells(d)
        assert len(s) == 2 and s[1][2] >= killed, s
        # 3: open when the daemon stops: the stop ends it.
        flaky.down = True
        wait_until(lambda: open_spell(d, 3), what="the 3rd opening",
                   daemon=d)
        d.stop()
    finally:
        hook.close()
    s = spells(d)
    assert len(s) == 3 and all(x[2] is not None and x[2] >= x[1] and
                               x[0] == "hook" for x in s), s
    assert "503" in s[0][3], s
    assert spool_rows(d, "SELECT id, demoted_by FROM notices WHERE id "
                      "LIKE 'l-%' ORDER BY id") == [
        ("l-1", None), ("l-2", None), ("l-3", "app-hourly"),
        ("l-4", "app-hourly")]

    r = run("report", "-c", d.config, "--spool", d.path("spool.db"),
            "--since", "1h", "--format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    hook_row = by_name(rep["channels"], "hook")
    assert hook_row["breaker_openings"] == 3
    assert hook_row["breaker_open_ms"] == sum(x[2] - x[1] for x in s)
    assert hook_row["breaker_open_ms"] >= 500
    assert by_name(rep["channels"], "feed")["breaker_open_ms"] == 0
    assert by_name(rep["sources"], "app1")["capped"] == 2
    assert by_name(rep["audiences"], "dept:eng")["capped"] == 2
    r = run("report", "-c", d.config, "--spool", d.path("spool.db"),
            "--since", "1h")
    assert r.returncode == 0, r.stderr
    row = [l.split() for l in r.stdout.splitlines()
           if l.startswith("  hook ")][0]
    assert row[14] not in ("n/a", "0ms"), r.stdout
    app = [l.split() for l in r.stdout.splitlines()
           if l.startswith("  app1 ")][0]
    assert app[-1] == "2", r.stdout


# --- usage and failures -----------------------------------------------------------

def test_read_only_and_errors(spooled):
    before = os.stat(spooled.path("spool.db")).st_mtime_ns
    assert report(spooled).returncode == 0
    assert os.stat(spooled.path("spool.db")).st_mtime_ns == before
    r = report(spooled, spool="nonexistent.db")
    assert r.returncode == 1
    assert "nonexistent.db" in r.stderr and "No such file" in r.stderr
    assert not os.path.exists(spooled.path("nonexistent.db"))
    other = spooled.path("other.db")
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    r = report(spooled, spool="other.db")
    assert r.returncode == 1 and "not a switchboard spool" in r.stderr
    r = run("report", "-c", spooled.config, "--since", "yesterday")
    assert r.returncode == 2
    assert "'yesterday' is not a time" in r.stderr
    r = run("report", "-c", spooled.config, "--since", "2024-05-03",
            "--until", "2024-05-02")
    assert r.returncode == 2 and "is not before" in r.stderr
    r = run("report", "-c", spooled.config, "--format", "pdf")
    assert r.returncode == 2 and "'pdf' is not text, json or html" in \
        r.stderr


def test_default_spool_is_the_configs(spooled):
    # No --spool: spool.path of the config, relative to the cwd as the
    # daemon's is.
    r = run("report", "-c", spooled.config, "--since", SINCE, "--until",
            UNTIL, "--format", "json", cwd=spooled.dir)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["notices"]["total"] == 42


def test_output_file(spooled):
    out = spooled.path("report.json")
    r = report(spooled, "--format", "json", "-o", out)
    assert r.returncode == 0 and r.stdout == ""
    with open(out) as f:
        assert json.load(f)["notices"]["total"] == 42


# --- HTML, in a browser ---------------------------------------------------------

def test_html_in_chromium(spooled):
    out = spooled.path("report.html")
    r = report(spooled, "--format", "html", "-o", out)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        page = f.read()
    # Self-contained: nothing to fetch, no script.
    assert not re.search(r'(src|href)\s*=|url\(|<script|@import', page)
    shot = spooled.path("report.png")
    dom = browser.load("file://" + out, shot, spooled.dir)
    cells = browser.cells(dom)
    assert cells[("channel-table", "chat", "delivered")] == "20"
    assert cells[("channel-table", "chat", "p95")] == "12.0s"
    assert cells[("channel-table", "chat", "within_deadline")] == \
        "12/23 52.2%"
    assert cells[("channel-table", "mail", "breaker_open")] == "1h00m"
    assert cells[("sources", "newsroom", "capped")] == "2"
    assert cells[("goal-table", "interactive/resolve", "ack_rate")] == \
        "50.0%"
    assert cells[("score-channels", "survey", "mean")] == "3.75"
    assert cells[("sources", "monitor", "notices")] == "24"
    assert browser.text_of(dom, "card-notices").startswith("42")
    assert "better: 24 of 25 delivered in time" in dom
    # The charts are there with their figures: daily totals 13, 15, 14.
    days = browser.svg_texts(dom, "chart-days")
    for total in ("13", "15", "14"):
        assert total in days
    assert "05-02" in days
    for chart in ("chart-response", "chart-escalations"):
        assert browser.svg_texts(dom, chart), chart
    esc = browser.svg_texts(dom, "chart-escalations")
    assert "level 1" in esc and "level 2" in esc and "3" in esc
    assert os.path.getsize(shot) > 10000
