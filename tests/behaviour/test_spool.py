"""The durable spool (SPEC §2.3, §7; docs/spool.md): an "ok" survives
kill -9, an id is accepted once, failed deliveries are retried with
backoff, handed to fallbacks or recorded dead, a spool that cannot be
written refuses notices instead of losing them, a corrupt one stops the
start, and a restart puts pending deliveries back on their channels.

Every daemon here runs for real in its own directory; the spool is read
back with Python's sqlite3 module, read-only, as a report would.
"""

import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

import sbtest
from sbstatus import ask
from sbtest import (START_TIMEOUT, check_error, check_ok, clist, ids_in,
                    notice, read_jsonl, wait_until)

ALL = '{ name = "all"; match = { source = "*"; }; channels = [ "feed" ]; }'


# --- helpers -----------------------------------------------------------------

class _LogPump:
    """Copies the daemon's stderr from a pipe into its log file.

    Used when the daemon's file-size limit is lowered: a log *file* would
    hit the limit too, and the log is what the test reads."""

    def __init__(self, pipe, path):
        self.pipe = pipe
        self.out = open(path, "ab")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            data = self.pipe.read1(65536)
            if not data:
                break
            self.out.write(data)
            self.out.flush()

    def close(self):
        self.thread.join(10)
        self.pipe.close()
        self.out.close()


class SpoolDaemon(sbtest.Daemon):
    """A Daemon that can be killed and started again on the same config
    and spool; the log of every run is appended to the same file."""

    def __init__(self, tmpdir, config, log_pipe=False):
        super().__init__(tmpdir, config)
        self.log_pipe = log_pipe

    def _spawn(self):
        assert os.access(sbtest.DAEMON, os.X_OK), \
            "%s not built (SB_BUILD=%s)" % (sbtest.DAEMON, sbtest.BUILD)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        env.setdefault("UBSAN_OPTIONS",
                       "print_stacktrace=1:halt_on_error=1")
        self.stopped = False
        self.returncode = None
        argv = [sbtest.DAEMON, "-f", "-c", self.config] + self.args
        if sbtest.VALGRIND:
            argv = sbtest.VALGRIND_CMD + argv
        if self.log_pipe:
            self.proc = subprocess.Popen(
                argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
            self._log = _LogPump(self.proc.stdout, self.log_path)
        else:
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def start(self):
        self._spawn()
        self._wait_ping()
        return self

    def start_expect_exit(self, timeout=START_TIMEOUT):
        """Start it when it should refuse to: returns its exit status."""
        self._spawn()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("switchboardd still running %.0fs after "
                                 "start; expected it to refuse:\n%s" %
                                 (timeout, self.log_tail())) from None
        self._log.close()
        self.stopped = True
        self.returncode = rc
        return rc

    def sigkill(self):
        """kill -9: no shutdown, no final commit. Clients stay open, to
        read the replies already on their way."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._log.close()
        self.stopped = True
        self.returncode = self.proc.returncode

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except FileNotFoundError:
            return 0

    def log_since(self, offset):
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")


def prepare(sb, channels, routes, log_pipe=False, sync=None,
            dedup_window=None, **kw):
    """sb.prepare() for a SpoolDaemon; sync replaces make_config's
    spool.sync (it writes "off"), dedup_window sets spool.dedup_window."""
    tmp = sbtest.make_dir()
    sb.dirs.append(tmp)
    config = sbtest.make_config(tmp, channels, routes, **kw)
    if sync is not None or dedup_window is not None:
        with open(config) as f:
            text = f.read()
        old = 'sync = "off";'
        assert old in text, "make_config no longer writes %s" % old
        new = 'sync = "%s";' % (sync or "off")
        if dedup_window is not None:
            new += ' dedup_window = "%s";' % dedup_window
        with open(config, "w") as f:
            f.write(text.replace(old, new))
    d = SpoolDaemon(tmp, config, log_pipe=log_pipe)
    sb.daemons.append(d)
    return d


def spool_rows(d, sql, args=()):
    """Rows of a query on d's spool, opened read-only (as a report)."""
    uri = "file:%s?mode=ro" % d.path("spool.db")
    con = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


DELIVERY_COLUMNS = ("state", "attempts", "last_error", "fallback_of",
                    "channel", "digest")


def delivery_row(d, delivery_id):
    rows = spool_rows(d, "SELECT %s FROM deliveries WHERE id = ? ORDER BY "
                      "seq" % ", ".join(DELIVERY_COLUMNS), (delivery_id,))
    assert len(rows) == 1, "spool: %d rows for delivery %s: %r" % \
        (len(rows), delivery_id, rows)
    return dict(zip(DELIVERY_COLUMNS, rows[0]))


def check_spool_healthy(d):
    """No write to the spool failed: in a run where nothing is wrong with
    the disk, a failed write is a lost outcome (and fails its pass)."""
    bad = [x for x in warn_lines(d.log()) if "spool" in x]
    assert not bad, "spool writes failed:\n" + "\n".join(bad[:10])


# Notices of each class reach a channel differently: a realtime one as a
# delivery of its own ("ID/CHANNEL"), a batch one inside its channel's
# digest (make_config's batch window is 1s).
CLASSES = {"realtime": "high", "batch": "normal"}


def expected_sb_delivery_id(d, klass, nid, channel):
    """The SB_DELIVERY_ID an exec command sees: the delivery's own id, or
    for a batch notice the id of the digest it went out in."""
    if klass == "realtime":
        return "%s/%s" % (nid, channel)
    digest = delivery_row(d, "%s/%s" % (nid, channel))["digest"]
    assert digest, "batch delivery %s/%s has no digest in the spool" % \
        (nid, channel)
    return digest


# An exec command whose behaviour the channel's env sets: it counts its
# attempts in count.CHANNEL, writes "time attempt delivery_id" per attempt
# to attempts.CHANNEL, and exits FAIL_STATUS unless fixed.CHANNEL exists or
# it has already failed OK_AFTER times.
EXEC_SCRIPT = r"""
n=$(cat "count.$SB_CHANNEL" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > "count.$SB_CHANNEL"
printf '%s %s %s\n' "$(date +%s.%N)" "$SB_ATTEMPT" "$SB_DELIVERY_ID" \
    >> "attempts.$SB_CHANNEL"
[ -f "fixed.$SB_CHANNEL" ] && exit 0
[ -n "$OK_AFTER" ] && [ "$n" -gt "$OK_AFTER" ] && exit 0
echo "simulated failure on attempt $n" >&2
exit "$FAIL_STATUS"
"""


def exec_channel(name, fail_status, retry, ok_after=None, extra=""):
    env = 'FAIL_STATUS = "%d";' % fail_status
    if ok_after is not None:
        env += ' OK_AFTER = "%d";' % ok_after
    return ('%s = { type = "exec"; command = %s; timeout = "10s"; '
            'env = { %s }; retry = %s; %s };' %
            (name, clist(["/bin/sh", "-c", EXEC_SCRIPT]), env, retry, extra))


def warn_lines(text):
    return [x for x in text.splitlines()
            if "level=warn" in x or "level=error" in x]


def exec_attempts(d, channel):
    """[(time, SB_ATTEMPT, SB_DELIVERY_ID)] of the command's runs."""
    try:
        with open(d.path("attempts." + channel)) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        t, attempt, did = line.split(" ", 2)
        out.append((float(t), int(attempt), did))
    return out




# --- 1. kill -9 during a burst ---------------------------------------------

class Feed:
    """Reads a file channel's lines as they come, from where it left off."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.copies = collections.Counter()  # delivery_id -> lines
        self.ids = set()
        self.torn = []
        self.digests = 0

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self
        end = data.rfind(b"\n")
        if end < 0:
            return self
        self.offset += end + 1
        for raw in data[:end].split(b"\n"):
            self._line(raw)
        return self

    def _line(self, raw):
        try:
            line = json.loads(raw)
        except ValueError:
            # A write cut short by SIGKILL, with the next run's line
            # appended to it: keep the whole line that follows, if any.
            self.torn.append(raw[:120])
            at = raw.rfind(b'{"delivery_id"')
            if at <= 0:
                return
            line = json.loads(raw[at:])
        if not line.get("digest"):
            self.copies[line["delivery_id"]] += 1
            self.ids.add(line["id"])
            return
        # A digest: each item is its notice's delivery to the channel.
        self.digests += 1
        for item in line["items"]:
            self.copies["%s/%s" % (item["id"], line["channel"])] += 1
            self.ids.add(item["id"])

    def duplicates(self):
        return sorted(k for k, v in self.copies.items() if v > 1)


class Publisher:
    """A DEALER application that keeps `window` notices in flight and
    resends what got no reply, as a careful publisher would."""

    def __init__(self, window=500):
        self.window = window
        self.queue = collections.deque()
        self.by_id = {}
        self.replies = {}           # id -> its first ok reply
        self.resent = set()         # ids sent again after a kill
        self.resend_replies = {}    # id -> the ok reply to its resend
        self.unavailable = 0

    def add(self, notices):
        self.by_id.update((n["id"], n) for n in notices)
        self.queue.extend(notices)

    def run(self, d, kill_at=None):
        """Send the queue. With kill_at (a time.monotonic()), kill -9 the
        daemon then, read the replies already on their way, and put what
        got none back at the head of the queue; return those ids."""
        c = d.client()
        inflight = set()
        last_reply = time.monotonic()
        while self.queue or inflight or kill_at is not None:
            now = time.monotonic()
            if kill_at is not None and now >= kill_at:
                break
            while self.queue and len(inflight) < self.window:
                n = self.queue.popleft()
                c.send(n)
                inflight.add(n["id"])
            wait = 10
            if kill_at is not None:
                wait = max(0, min(wait, int((kill_at - now) * 1000)))
            if c.pending(wait):
                while c.pending(0):
                    self._take(c, inflight)
                last_reply = time.monotonic()
                continue
            assert d.alive(), "daemon died:\n%s" % d.log_tail()
            assert not inflight or time.monotonic() - last_reply < \
                sbtest.REPLY_TIMEOUT, "no reply in %.0fs" % \
                sbtest.REPLY_TIMEOUT
        if kill_at is None:
            return set()
        d.sigkill()
        # Replies already sent are still read (ZeroMQ's queue, the
        # socket buffer); the rest will never come.
        while c.pending(300):
            self._take(c, inflight)
        c.close()
        self.resent |= inflight
        self.queue.extendleft(reversed([self.by_id[i]
                                        for i in sorted(inflight)]))
        return inflight

    def _take(self, c, inflight):
        reply = json.loads(c.sock.recv_multipart()[-1])
        rid = reply.get("id")
        assert rid in inflight, "reply for an id not in flight: %r" % reply
        inflight.discard(rid)
        if reply.get("ok") is True:
            assert reply.get("channels") == ["feed"], reply
            if rid in self.replies:
                assert rid in self.resent, \
                    "a second ok for %s: %r" % (rid, reply)
            if rid in self.resent:
                self.resend_replies[rid] = reply
            self.replies.setdefault(rid, reply)
            return
        # Refused (a queue full, say): the publisher tries again later.
        check_error(reply, "unavailable")
        self.unavailable += 1
        self.queue.append(self.by_id[rid])


def _kill9_round(d, pub, feed, notices, expect_s, log):
    """One burst with a kill -9 at a random moment of it, then a restart
    on the same config and spool, and the rest of the burst."""
    pub.add(notices)
    ok_before = len(pub.replies)
    delay = random.uniform(0, expect_s)
    lost = pub.run(d, kill_at=time.monotonic() + delay)
    # The daemon is dead: what the feed holds now was delivered before
    # the kill, so those notices had been accepted.
    delivered_at_kill = set(feed.poll().ids)
    d.start()
    pub.run(d)
    dup = [i for i in lost
           if pub.resend_replies.get(i, {}).get("duplicate") is True]
    log("kill -9 at %.3fs of ~%.2fs; %d in flight got no reply and were "
        "resent: %d had been accepted (duplicate), %d were new; %d ok "
        "this round" % (delay, expect_s, len(lost), len(dup),
                        len(lost) - len(dup), len(pub.replies) - ok_before))
    for i in lost:
        r = pub.resend_replies.get(i)
        assert r is not None, "resent %s got no ok" % i
        assert r.get("duplicate") in (True, False), r
        if i in delivered_at_kill:
            assert r["duplicate"] is True, \
                "%s was delivered before the kill, so it had been " \
                "accepted; its resend was accepted again: %r" % (i, r)


def test_kill9_during_burst_loses_no_ok(sb):
    per_round = 20000
    rounds = 5
    d = prepare(sb, 'feed = { type = "file"; path = "feed.jsonl"; '
                'queue_max = 200000; };', ALL, sync="normal")
    d.start()
    feed = Feed(d.path("feed.jsonl"))
    pub = Publisher(window=500)

    def log(msg):
        print("kill9: " + msg)

    # How long a burst takes here (ASan, a busy machine): the kill moment
    # is drawn over it.
    warm = [notice(id="warm-%05d" % i, subject="warm-up %d" % i)
            for i in range(2000)]
    pub.add(warm)
    t = time.monotonic()
    pub.run(d)
    expect_s = (time.monotonic() - t) * per_round / len(warm)
    everyone = [n["id"] for n in warm]
    for r in range(rounds):
        burst = [notice(id="r%d-%05d" % (r, i), subject="burst %d.%d" % (r, i),
                        priority=("low", "normal", "high", "urgent")[i % 4])
                 for i in range(per_round)]
        everyone += [n["id"] for n in burst]
        _kill9_round(d, pub, feed, burst, expect_s, log)
    missing = [i for i in everyone if i not in pub.replies]
    assert not missing, "%d notices never got ok: %r" % \
        (len(missing), missing[:10])

    def arrived():
        return feed.poll().ids >= set(everyone)
    try:
        wait_until(arrived, timeout=120, daemon=d,
                   what="every notice answered ok on the feed")
        d.stop()
    finally:
        # The tally, printed before any verdict so that a failure shows it.
        feed.poll()
        dups = feed.duplicates()
        log("%d notices, %d ok replies, %d unavailable, %d digests; %d "
            "delivery ids arrived more than once%s; %d torn lines%s" %
            (len(everyone), len(pub.replies), pub.unavailable,
             feed.digests, len(dups),
             (": " + ", ".join("%s x%d" % (k, feed.copies[k])
                               for k in dups[:20])) if dups else "",
             len(feed.torn), (": %r" % feed.torn[:3]) if feed.torn else ""))
    lost = set(everyone) - feed.ids
    assert not lost, "%d notices answered ok never arrived: %r" % \
        (len(lost), sorted(lost)[:10])
    strange = feed.ids - set(everyone)
    assert not strange, "lines for ids never sent: %r" % sorted(strange)[:10]
    twice = spool_rows(d, "SELECT id, count(*) FROM notices GROUP BY id "
                       "HAVING count(*) > 1 LIMIT 10")
    assert not twice, "accepted twice (two spool rows): %r" % twice
    states = dict(spool_rows(d, "SELECT state, count(*) FROM deliveries "
                             "GROUP BY state"))
    assert states == {"delivered": len(everyone)}, states
    check_spool_healthy(d)


# --- 2. duplicates -----------------------------------------------------------

def test_duplicate_id_answered_again_not_routed(sb):
    d = prepare(sb, 'feed = { type = "file"; path = "feed.jsonl"; };\n'
                'feed2 = { type = "file"; path = "feed2.jsonl"; };',
                '{ name = "all"; match = { source = "*"; }; '
                'channels = [ "feed2", "feed" ]; }')
    d.start()
    c = d.client()
    first = check_ok(c.request(notice(id="dup-1", priority="urgent")))
    assert first["duplicate"] is False, first
    assert first["class"] == "realtime", first
    assert first["channels"] == ["feed2", "feed"], first

    def same_as_first(reply):
        check_ok(reply)
        assert reply["duplicate"] is True, reply
        for k in ("id", "class", "channels"):
            assert reply[k] == first[k], (k, reply, first)

    # The id is the key: a different body under it is still the same notice.
    same_as_first(c.request(notice(id="dup-1", priority="urgent")))
    same_as_first(c.request(notice(id="dup-1", priority="low",
                                   subject="changed")))
    # Each channel is FIFO: once a later notice is there, a second copy of
    # dup-1 would have been too.
    check_ok(c.request(notice(id="dup-sentinel")))
    for f in ("feed.jsonl", "feed2.jsonl"):
        wait_until(lambda: "dup-sentinel" in ids_in(d.path(f)), daemon=d,
                   what="dup-sentinel on " + f)
        assert ids_in(d.path(f)).count("dup-1") == 1, read_jsonl(d.path(f))
    d.stop()
    d.start()
    c = d.client()
    same_as_first(c.request(notice(id="dup-1")))
    check_ok(c.request(notice(id="dup-sentinel-2")))
    for f in ("feed.jsonl", "feed2.jsonl"):
        wait_until(lambda: "dup-sentinel-2" in ids_in(d.path(f)), daemon=d,
                   what="dup-sentinel-2 on " + f)
        assert ids_in(d.path(f)).count("dup-1") == 1, read_jsonl(d.path(f))
    assert spool_rows(d, "SELECT count(*) FROM notices WHERE id = 'dup-1'") \
        == [(1,)]
    d.stop()


def test_duplicate_id_while_still_pending_after_the_window(sb):
    """Past spool.dedup_window, an id whose first notice is still being
    delivered (its channel paused) is that notice sent again: answered
    duplicate, routed nowhere. Once every delivery of it has ended, the
    id is free: a new notice."""
    d = prepare(sb, 'feed = { type = "file"; path = "feed.jsonl"; };\n'
                'slow = { type = "file"; path = "slow.jsonl"; };',
                '{ name = "all"; match = { source = "*"; }; '
                'channels = [ "feed", "slow" ]; }', dedup_window="1s")
    d.start()
    sock = d.path("status.sock")
    assert ask(sock, "pause slow")["ok"] is True
    c = d.client()
    first = check_ok(c.request(notice(id="dup-p", priority="high")))
    assert first["duplicate"] is False and \
        first["channels"] == ["feed", "slow"], first
    wait_until(lambda: "dup-p" in ids_in(d.path("feed.jsonl")), daemon=d,
               what="dup-p on feed")
    time.sleep(1.5)     # past the window; dup-p/slow still pending
    again = check_ok(c.request(notice(id="dup-p", priority="high")))
    assert again["duplicate"] is True, again
    for k in ("id", "class", "channels"):
        assert again[k] == first[k], (k, again, first)
    assert ask(sock, "resume slow")["ok"] is True
    wait_until(lambda: "dup-p" in ids_in(d.path("slow.jsonl")), daemon=d,
               what="dup-p on slow")
    check_ok(c.request(notice(id="dup-p-sentinel", priority="high")))
    wait_until(lambda: "dup-p-sentinel" in ids_in(d.path("slow.jsonl")),
               daemon=d, what="dup-p-sentinel on slow")
    # FIFO channels: the resend was not delivered anywhere.
    for f in ("feed.jsonl", "slow.jsonl"):
        assert ids_in(d.path(f)).count("dup-p") == 1, read_jsonl(d.path(f))
    # All ended, the window long past: the id makes a new notice.
    wait_until(lambda: spool_rows(
        d, "SELECT count(*) FROM deliveries WHERE state = 'pending'")
        == [(0,)], daemon=d, what="no delivery pending")
    third = check_ok(c.request(notice(id="dup-p", priority="high")))
    assert third["duplicate"] is False, third
    wait_until(lambda: ids_in(d.path("slow.jsonl")).count("dup-p") == 2,
               daemon=d, what="the new dup-p on slow")
    assert spool_rows(d, "SELECT count(*) FROM notices WHERE id = 'dup-p'") \
        == [(2,)]
    d.stop()


# --- 3. retries with backoff -------------------------------------------------

@pytest.mark.parametrize("klass", sorted(CLASSES))
def test_retry_backoff_is_exponential_with_equal_jitter(sb, klass):
    d = prepare(sb, exec_channel("hook", 75, ok_after=2, retry='{ max = 5; '
                                 'backoff = "200ms"; backoff_max = "1s"; }'),
                '{ name = "all"; match = { source = "*"; }; '
                'channels = [ "hook" ]; }')
    d.start()
    c = d.client()
    r = check_ok(c.request(notice(id="bo-1", priority=CLASSES[klass])))
    assert r["class"] == klass, r
    wait_until(lambda: len(exec_attempts(d, "hook")) >= 3, daemon=d,
               what="three attempts of hook")
    wait_until(lambda: delivery_row(d, "bo-1/hook")["state"] ==
               "delivered", daemon=d, what="bo-1/hook delivered in the spool")
    check_spool_healthy(d)
    att = exec_attempts(d, "hook")
    assert [a[1] for a in att] == [1, 2, 3], att
    assert {a[2] for a in att} == \
        {expected_sb_delivery_id(d, klass, "bo-1", "hook")}, att
    gaps = [b[0] - a[0] for a, b in zip(att, att[1:])]
    print("%s backoff gaps: %s" % (klass, ", ".join("%.3fs" % g
                                                    for g in gaps)))
    # Delay before retry k is d in [D/2, D], D = 200ms * 2^(k-1): at
    # least 100ms, then at least 200ms (2ms for the timer's ms rounding).
    for k, g in enumerate(gaps):
        low = 0.2 * 2 ** k / 2 - 0.002
        assert g >= low, "retry %d came %.3fs after attempt %d; the " \
            "backoff allows no less than %.3fs (gaps %r)" % \
            (k + 1, g, k + 1, low, gaps)
    assert att[-1][0] - att[0][0] < 20, "retries took %r" % gaps
    d.stop()
    row = delivery_row(d, "bo-1/hook")
    assert row["state"] == "delivered" and row["attempts"] == 3, row
    assert "75" in (row["last_error"] or ""), row
    check_spool_healthy(d)


# --- 4. permanent and retryable failures, fallback ---------------------------

@pytest.mark.parametrize("klass", sorted(CLASSES))
def test_permanent_fails_over_at_once_retryable_after_max(sb, klass):
    channels = "\n".join([
        exec_channel("perm", 3, retry='{ max = 5; backoff = "50ms"; '
                     'backoff_max = "100ms"; }', extra='fallback = "fb";'),
        exec_channel("busy", 75, retry='{ max = 2; backoff = "50ms"; '
                     'backoff_max = "100ms"; }', extra='fallback = "fb";'),
        'fb = { type = "file"; path = "fb.jsonl"; };'])
    routes = ('{ name = "p"; match = { source = "perm-app"; }; '
              'channels = [ "perm" ]; },\n'
              '{ name = "b"; match = { source = "busy-app"; }; '
              'channels = [ "busy" ]; }')
    d = prepare(sb, channels, routes)
    d.start()
    c = d.client()
    pri = CLASSES[klass]
    check_ok(c.request(notice(id="p-1", source="perm-app", priority=pri)))
    check_ok(c.request(notice(id="b-1", source="busy-app", priority=pri)))
    wait_until(lambda: {"p-1", "b-1"} <= set(ids_in(d.path("fb.jsonl"))),
               daemon=d, what="p-1 and b-1 on the fallback channel")
    # A retry would have come within 100ms; give it several times that.
    time.sleep(0.5)
    perm, busy = exec_attempts(d, "perm"), exec_attempts(d, "busy")
    assert [a[1] for a in perm] == [1], \
        "exit 3 is permanent: one attempt, got %r" % perm
    assert [a[1] for a in busy] == [1, 2, 3], \
        "exit 75 with retry.max = 2: three attempts, got %r" % busy
    lines = {x["id"]: x for x in read_jsonl(d.path("fb.jsonl"))}
    assert len(read_jsonl(d.path("fb.jsonl"))) == 2, \
        read_jsonl(d.path("fb.jsonl"))
    assert lines["p-1"]["delivery_id"] == "p-1/perm/fb", lines["p-1"]
    assert lines["p-1"].get("fallback_of") == "perm", lines["p-1"]
    assert lines["b-1"]["delivery_id"] == "b-1/busy/fb", lines["b-1"]
    assert lines["b-1"].get("fallback_of") == "busy", lines["b-1"]
    d.stop()
    row = delivery_row(d, "p-1/perm")
    assert (row["state"], row["attempts"]) == ("failed", 1), row
    assert "status 3" in (row["last_error"] or ""), row
    row = delivery_row(d, "b-1/busy")
    assert (row["state"], row["attempts"]) == ("failed", 3), row
    assert "75" in (row["last_error"] or ""), row
    for did, of in (("p-1/perm/fb", "perm"), ("b-1/busy/fb", "busy")):
        row = delivery_row(d, did)
        assert (row["state"], row["fallback_of"]) == ("delivered", of), row
    check_spool_healthy(d)


# --- 5. dead deliveries ------------------------------------------------------

@pytest.mark.parametrize("klass", sorted(CLASSES))
def test_no_fallback_left_is_a_dead_delivery(sb, klass):
    channels = "\n".join([
        exec_channel("doomed", 3, retry='{ max = 3; backoff = "50ms"; '
                     'backoff_max = "100ms"; }'),
        exec_channel("tired", 75, retry='{ max = 1; backoff = "50ms"; '
                     'backoff_max = "100ms"; }')])
    routes = ('{ name = "x"; match = { source = "x-app"; }; '
              'channels = [ "doomed" ]; },\n'
              '{ name = "y"; match = { source = "y-app"; }; '
              'channels = [ "tired" ]; }')
    d = prepare(sb, channels, routes)
    d.start()
    c = d.client()
    pri = CLASSES[klass]
    check_ok(c.request(notice(id="dead-1", source="x-app", priority=pri)))
    check_ok(c.request(notice(id="dead-2", source="y-app", priority=pri)))

    def dead_lines():
        return [x for x in d.log().splitlines() if "dead delivery" in x]
    wait_until(lambda: len(dead_lines()) >= 2, daemon=d,
               what="two 'dead delivery' log lines")
    lines = dead_lines()
    assert any("dead-1/doomed" in x for x in lines), lines
    assert any("dead-2/tired" in x for x in lines), lines
    assert all("warn" in x or "error" in x for x in lines), lines
    d.stop()
    row = delivery_row(d, "dead-1/doomed")
    assert (row["state"], row["attempts"]) == ("dead", 1), row
    assert "status 3" in (row["last_error"] or ""), row
    row = delivery_row(d, "dead-2/tired")
    assert (row["state"], row["attempts"]) == ("dead", 2), row
    # Kept, not dropped: the notice is there for a report, it is still
    # known as a duplicate, and a restart does not run it again.
    assert spool_rows(d, "SELECT count(*) FROM notices WHERE id IN "
                      "('dead-1', 'dead-2')") == [(2,)]
    d.start()
    c = d.client()
    r = check_ok(c.request(notice(id="dead-1", source="x-app")))
    assert r["duplicate"] is True and r["channels"] == ["doomed"], r
    time.sleep(0.5)
    assert len(exec_attempts(d, "doomed")) == 1, exec_attempts(d, "doomed")
    assert len(exec_attempts(d, "tired")) == 2, exec_attempts(d, "tired")
    d.stop()
    check_spool_healthy(d)


# --- 6. the spool cannot be written ------------------------------------------

def prlimit_fsize(pid, value):
    """Set the soft RLIMIT_FSIZE of pid ("N:" leaves the hard limit alone,
    so that raising it back needs no CAP_SYS_RESOURCE)."""
    subprocess.run(["prlimit", "--pid", str(pid), "--fsize=%s:" % value],
                   check=True, timeout=10)


def test_failed_commit_gives_cap_slots_back(sb):
    """A notice refused because its pass's commit failed was not accepted:
    the frequency-cap slot it took is given back (docs/rules.md)."""
    caps = ('limits = ( { name = "press"; match = { source = "press*"; }; '
            'max = 1; per = "1h"; action = "reject"; } );')
    d = prepare(sb, 'feed = { type = "file"; path = "feed.jsonl"; };', ALL,
                log_pipe=True, extra=caps)
    d.start()
    c = d.client()
    check_ok(c.request(notice(id="warm", source="other")))
    wait_until(lambda: spool_rows(d, "SELECT count(*) FROM deliveries "
                                  "WHERE state = 'delivered'") == [(1,)],
               daemon=d, what="the warm-up delivered")
    # As below: the next commit's WAL append fails with EFBIG.
    prlimit_fsize(d.proc.pid, os.path.getsize(d.path("spool.db-wal")))
    check_error(c.request(notice(id="p-1", source="press-office")),
                "unavailable", words=("spool",))
    # The commit failed (not the insert before it): that is what gives
    # the slot back.
    wait_until(lambda: "spool write failed, refusing notices" in d.log(),
               daemon=d, what="the failed commit in the log")
    prlimit_fsize(d.proc.pid, "unlimited")
    check_ok(c.request(notice(id="p-2", source="press-office")))
    check_error(c.request(notice(id="p-3", source="press-office")),
                "rate_limited", words=("limit 'press'",))


def test_unwritable_spool_refuses_then_recovers(sb):
    # The log goes through a pipe: the file-size limit below applies to
    # every file the daemon writes, its log file too, and a pipe has no
    # size. The feed is written only before and after the limit.
    d = prepare(sb, 'feed = { type = "file"; path = "feed.jsonl"; };', ALL,
                log_pipe=True)
    d.start()
    c = d.client()
    before = ["ok-%d" % i for i in range(20)]
    for i in before:
        assert check_ok(c.request(notice(id=i)))["duplicate"] is False
    wait_until(lambda: set(before) <= set(ids_in(d.path("feed.jsonl"))),
               daemon=d, what="the first 20 on the feed")
    # Their outcomes are committed too, so the spool is idle now.
    wait_until(lambda: spool_rows(d, "SELECT count(*) FROM deliveries "
                                  "WHERE state = 'delivered'") == [(20,)],
               daemon=d, what="20 delivered rows in the spool")
    # SQLite appends every commit to spool.db-wal (no checkpoint before
    # ~1000 pages, far away): a limit at its current size makes the next
    # commit's write fail with EFBIG, as a full disk would (the daemon
    # ignores SIGXFSZ). The main file is written only by checkpoints.
    wal = os.path.getsize(d.path("spool.db-wal"))
    assert wal > 0, "no WAL: is the spool in WAL mode?"
    mark = d.log_size()
    prlimit_fsize(d.proc.pid, wal)
    # One request at a time: each is a pass, and a commit, of its own.
    refused = ["no-%d" % i for i in range(10)]
    for i in refused:
        r = c.request(notice(id=i))
        err = check_error(r, "unavailable", words=("spool",))
        assert r.get("id") == i, r
        assert any(w in err["message"].lower() for w in
                   ("too large", "i/o", "full")), \
            "the reply should say why the spool failed: %r" % r
    assert c.request({"type": "ping"}) == {"ok": True, "pong": True}
    assert d.alive()
    # The log comes through the pump thread: wait for the last refusal.
    wait_until(lambda: refused[-1] in d.log_since(mark), daemon=d,
               what="the refusal of %s logged" % refused[-1])
    during = d.log_since(mark)
    warns = warn_lines(during)
    assert len(warns) == 1, \
        "the failing spool should be logged once, not per notice " \
        "(%d notices refused):\n%s" % (len(refused), "\n".join(warns))
    assert "spool" in warns[0], warns
    mark = d.log_size()
    prlimit_fsize(d.proc.pid, "unlimited")
    after = ["again-%d" % i for i in range(10)]
    for i in after:
        assert check_ok(c.request(notice(id=i)))["duplicate"] is False
    # Nothing of a refused notice was kept: sent again, it is new.
    for i in refused[:3]:
        assert check_ok(c.request(notice(id=i)))["duplicate"] is False
    want = set(before) | set(after) | set(refused[:3])
    wait_until(lambda: want <= set(ids_in(d.path("feed.jsonl"))),
               daemon=d, what="every ok notice on the feed")

    def recovered():
        return [x for x in d.log_since(mark).splitlines()
                if "spool" in x and "reject" not in x]
    wait_until(recovered, daemon=d,
               what="a log line saying the spool works again")
    d.stop()
    got = ids_in(d.path("feed.jsonl"))
    assert sorted(got) == sorted(want), \
        "feed: %d lines, %d expected" % (len(got), len(want))
    kept = {r[0] for r in spool_rows(d, "SELECT id FROM notices")}
    assert kept == want, "spool notices: unexpected %r, missing %r" % \
        (sorted(kept - want), sorted(want - kept))


# --- 7. a corrupt spool at start ---------------------------------------------

def _check_refused(d, before, kind):
    rc = d.start_expect_exit()
    log = d.log()
    assert rc != 0, "started over a %s spool:\n%s" % (kind, log)
    assert "spool.db" in log, "the message should name the file:\n" + log
    low = log.lower()
    assert "corrupt" in low or "not a switchboard spool" in low, log
    assert "move it aside" in low or "restore" in low or "backup" in low, \
        "the message should say what to do:\n" + log
    with open(d.path("spool.db"), "rb") as f:
        assert f.read() == before, "the refused spool file was changed"
    assert not [m for m in sbtest.SANITIZER_MARKS if m in log], log


def test_garbage_spool_refused_untouched(sb):
    d = prepare(sb, 'feed = { type = "file"; path = "feed.jsonl"; };', ALL)
    garbage = b"not a database at all\x00\xff" * 400
    with open(d.path("spool.db"), "wb") as f:
        f.write(garbage)
    _check_refused(d, garbage, "garbage")


def test_damaged_spool_refused_untouched(sb):
    d = prepare(sb, 'feed = { type = "file"; path = "feed.jsonl"; };', ALL)
    d.start()
    c = d.client()
    for i in range(300):
        c.send(notice(id="n-%d" % i, body="x" * 200))
    for i in range(300):
        check_ok(c.recv())
    d.stop()
    page = spool_rows(d, "PRAGMA page_size")[0][0]
    root = spool_rows(d, "SELECT rootpage FROM sqlite_master "
                      "WHERE name = 'notices'")[0][0]
    with open(d.path("spool.db"), "rb") as f:
        data = bytearray(f.read())
    assert len(data) >= root * page > page, (len(data), root, page)
    rnd = random.Random(7)
    data[(root - 1) * page:root * page] = bytes(rnd.getrandbits(8)
                                                for _ in range(page))
    before = bytes(data)
    with open(d.path("spool.db"), "wb") as f:
        f.write(before)
    for leftover in ("spool.db-wal", "spool.db-shm"):
        try:
            os.unlink(d.path(leftover))
        except FileNotFoundError:
            pass
    _check_refused(d, before, "damaged")


# --- 8. restart re-queues ----------------------------------------------------

# deliver_within (realtime) would only add a "missed" warning here.
RESTART_POLICIES = ('policies = { batch = { window = "1s"; }; '
                    'realtime = { deliver_within = "1h"; }; };')


def _fail_once_then_stop(d, klass, nid):
    """Publish nid to the failing channel hook, wait for its first
    attempt to fail and be on record, stop the daemon (SIGTERM), mend the
    channel; return (the delivery id the command saw, the wall-clock time
    of the attempt and of the retry the spool planned, in seconds)."""
    d.start()
    c = d.client()
    check_ok(c.request(notice(id=nid, priority=CLASSES[klass])))
    wait_until(lambda: exec_attempts(d, "hook"), daemon=d,
               what="first attempt of %s" % nid)

    def recorded():
        check_spool_healthy(d)
        return delivery_row(d, "%s/hook" % nid)["attempts"] == 1
    # The failed attempt is on record before the stop.
    wait_until(recorded, daemon=d, what="attempts = 1 for %s/hook in "
               "the spool" % nid)
    d.stop()    # SIGTERM: exit 0 with the delivery pending
    first = exec_attempts(d, "hook")
    did = expected_sb_delivery_id(d, klass, nid, "hook")
    assert [a[1:] for a in first] == [(1, did)], \
        "one attempt before the stop (a slower stop than the retry's " \
        "backoff would show two): %r" % first
    row = delivery_row(d, "%s/hook" % nid)
    assert (row["state"], row["attempts"]) == ("pending", 1), row
    assert "75" in (row["last_error"] or ""), row
    [(next_ms,)] = spool_rows(d, "SELECT next_ms FROM deliveries WHERE "
                              "id = ?", ("%s/hook" % nid,))
    with open(d.path("fixed.hook"), "w"):
        pass
    return did, first[0][0], next_ms / 1000.0


def _delivered_second_time(d, nid, did):
    wait_until(lambda: delivery_row(d, "%s/hook" % nid)["state"] ==
               "delivered", daemon=d, what="%s/hook delivered" % nid)
    att = exec_attempts(d, "hook")
    assert [a[1:] for a in att] == [(1, did), (2, did)], \
        "the same delivery, its second attempt: %r" % att
    d.stop()
    row = delivery_row(d, "%s/hook" % nid)
    assert (row["state"], row["attempts"]) == ("delivered", 2), row
    check_spool_healthy(d)
    return att


@pytest.mark.parametrize("klass", sorted(CLASSES))
def test_restart_requeues_pending_delivery(sb, klass):
    # A retry 2s..4s after the first attempt: the stop comes before it,
    # the start after it, so the restart tries again at once.
    d = prepare(sb, exec_channel("hook", 75, retry='{ max = 10; '
                                 'backoff = "4s"; backoff_max = "4s"; }'),
                '{ name = "all"; match = { source = "*"; }; '
                'channels = [ "hook" ]; }', extra=RESTART_POLICIES)
    did, _, next_s = _fail_once_then_stop(d, klass, "rq-1")
    while time.time() < next_s + 0.2:
        time.sleep(0.05)
    d.start()
    started = time.time()
    wait_until(lambda: len(exec_attempts(d, "hook")) >= 2, daemon=d,
               what="rq-1 tried again after the restart")
    att = _delivered_second_time(d, "rq-1", did)
    # At once, not after another backoff (2s at least).
    assert att[1][0] - started < 1.5, \
        "retried %.3fs after the restart; its backoff had ended while " \
        "the daemon was down" % (att[1][0] - started)


def test_restart_waits_out_retry_backoff(sb):
    """A delivery waiting out a retry's backoff when the daemon stops
    waits out the rest after the restart (deliveries.next_ms), instead of
    being tried again at once: a failing channel gets no burst of retries
    at every restart. (A flushed digest does the same:
    test_rules.py, test_restart_mid_batch_window.)"""
    klass = "realtime"
    d = prepare(sb, exec_channel("hook", 75, retry='{ max = 10; '
                                 'backoff = "8s"; backoff_max = "8s"; }'),
                '{ name = "all"; match = { source = "*"; }; '
                'channels = [ "hook" ]; }', extra=RESTART_POLICIES)
    did, first_s, next_s = _fail_once_then_stop(d, klass, "bw-1")
    # The spool planned the retry 4s..8s (equal jitter) after the attempt;
    # the outcome is written a moment after the command exits.
    assert first_s + 4 - 0.05 <= next_s <= first_s + 8 + 2, \
        "next_ms %.3f is not 4s..8s after the attempt at %.3f" % \
        (next_s, first_s)
    offset = d.log_size()
    d.start()
    up = time.time()
    assert up < next_s - 1, "the restart took until %.3fs before the " \
        "retry was due; too slow to tell a wait from none" % (next_s - up)
    log = d.log_since(offset)
    assert "resumed id=%s channel=hook attempts=1 retry_at_ms=" % did in \
        log, "no resumed line for %s:\n%s" % (did, log[-3000:])
    # Nothing until the retry is due (0.5s short of it, for the timer).
    # Read, then look at the clock: a read that began before then cannot
    # see the retry, however long the test was paused in between.
    while True:
        att = exec_attempts(d, "hook")
        if time.time() >= next_s - 0.5:
            break
        assert len(att) == 1, \
            "tried again %.3fs after the restart, %.3fs before its " \
            "backoff ended: %r" % (time.time() - up, next_s - time.time(),
                                   att)
        assert d.alive(), d.log_tail()
        time.sleep(0.1)
    wait_until(lambda: len(exec_attempts(d, "hook")) >= 2, daemon=d,
               timeout=next_s - time.time() + 20,
               what="%s tried again when its backoff ended" % did)
    att = _delivered_second_time(d, "bw-1", did)
    late = att[1][0] - next_s
    print("%s: retried %.3fs after the restart, %.3fs after next_ms" %
          (klass, att[1][0] - up, late))
    assert late >= -0.02, "retried %.3fs before next_ms" % -late
    assert late < 10, "retried %.3fs after next_ms" % late
