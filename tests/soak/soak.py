#!/usr/bin/python3
"""soak: switchboardd for a bounded time at half its measured capacity,
with faults injected, reporting memory, descriptors and lost notices.

    tests/soak/soak.py [--duration 600] [--rate N] [--build build]
                       [--json FILE] [--keep]

First the capacity is measured: notices published as fast as the daemon
answers them for --measure seconds. Then, for --duration seconds, notices
go out at half that rate (a mix of realtime, batch and interactive ones,
the interactive ones acked by the publisher) while faults come on a fixed
schedule:

  - the webhook channel's server answers 503 for a while, then recovers
    (its deliveries wait in retries, bounded by queue_max_bytes);
  - the config is reloaded (SIGHUP), alternating two files in which the
    webhook channel differs, so that it is replaced under load;
  - the daemon is killed with SIGKILL and started again on the same spool;
    the publisher resends what had no answer, with the same ids.

Every 10 s a line reports the daemon's RSS and open descriptors, what was
sent and accepted, and what the channels have received. At the end the
publisher stops, the daemon drains and is stopped with SIGTERM (it must
exit 0), and every notice that was answered ok is looked for on both
channels: a lost notice is one answered ok that a channel never got.
Duplicates (at-least-once after a kill) are counted, not lost.

Its directories (config, spool, the daemon's log, the file channel's
output: some 400 MB for ten minutes) are removed after a pass, kept after
a failure or with --keep.

Not part of make check (docs/RELIABILITY.md has a run's result).
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "behaviour"))

import zmq  # noqa: E402

import sbtest  # noqa: E402
from fakes import HookServer  # noqa: E402

SAMPLE_S = 10
DRAIN_TIMEOUT = 300


def channels(hook, timeout):
    return (
        'feed = { type = "file"; path = "feed.jsonl"; };\n'
        'hook = { type = "webhook"; url = %s; timeout = "%s"; '
        'concurrency = 16; queue_max = 100000; '
        'retry = { max = 100; backoff = "200ms"; backoff_max = "2s"; }; };'
        % (sbtest.cstr(hook.url("/soak")), timeout))


ROUTES = '{ channels = [ "feed", "hook" ]; }'
EXTRA = ('policies = { batch = { window = "2s"; max_items = 200; }; '
         'interactive = { respond_within = "1h"; }; };')


def write_config(d, hook, timeout):
    sbtest.make_config(d, channels(hook, timeout), ROUTES, extra=EXTRA,
                       batch_window=None, log_level="warn")


class Hook:
    """The webhook's server: records each notice id it was sent, and
    answers 503 while down."""

    def __init__(self):
        self.down = False
        self.ids = {}
        self.server = HookServer(self.behave)
        # A kill -9 resets the daemon's connections: not worth a trace.
        self.server.httpd.handle_error = lambda request, address: None

    def behave(self, req):
        if self.down:
            return ("status", 503, {}, b"soak outage")
        try:
            body = req.json()
        except ValueError:
            return ("status", 400, {}, b"not json")
        items = body.get("items") or [body]
        for it in items:
            self.ids[it["id"]] = self.ids.get(it["id"], 0) + 1
        return ("status", 200, {}, b"ok")

    def url(self, path):
        return self.server.url(path)

    def close(self):
        self.server.close()


class Daemon:
    """switchboardd in its directory, started and killed at will."""

    def __init__(self, d):
        self.dir = d
        self.proc = None
        self.log = open(os.path.join(d, "stderr.log"), "ab")

    def start(self):
        self.proc = subprocess.Popen(
            [sbtest.DAEMON, "-f", "-c", "switchboard.conf"], cwd=self.dir,
            stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)
        c = sbtest.Client("ipc://" + os.path.join(self.dir, "in.ipc"))
        try:
            c.send({"type": "ping"})
            if not c.pending(int(sbtest.START_TIMEOUT * 1000)):
                with open(os.path.join(self.dir, "stderr.log")) as f:
                    tail = f.read()[-3000:]
                raise SystemExit("soak: the daemon in %s did not answer a "
                                 "ping:\n%s" % (self.dir, tail))
            c.recv()
        finally:
            c.close()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(sbtest.STOP_TIMEOUT)

    def sample(self):
        pid = self.proc.pid
        fds = len(os.listdir("/proc/%d/fd" % pid))
        return sbtest.vm_rss_kb(pid), fds


class Publisher:
    """One DEALER publishing notices at a rate with a bounded window of
    requests in flight; remembers which ids were answered ok."""

    def __init__(self, endpoint, window=500):
        self.endpoint = endpoint
        self.window = window
        self.seq = 0
        self.ok = set()
        self.refused = {}
        self.inflight = {}  # id -> request
        self.retry = []     # refused as unavailable: sent again
        self.pause_until = 0.0
        self.sent = 0
        self.connect()

    def connect(self):
        self.sock = sbtest.CTX.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.endpoint)

    def reconnect(self):
        """After a kill: a fresh socket, and every request that had no
        answer sent again with its id."""
        self.sock.close(0)
        self.connect()
        for req in self.inflight.values():
            self.sock.send_json(req)
            self.sent += 1

    def make(self):
        self.seq += 1
        nid = "soak-%d" % self.seq
        r = random.random()
        n = sbtest.notice(id=nid, subject="soak %d" % self.seq,
                          body="b" * random.randint(50, 1500))
        if r < 0.7:
            n["priority"] = "high"
        elif r < 0.9:
            n["priority"] = "low"
        else:
            n["respond_within"] = "1h"
        return n

    def publish(self):
        req = self.retry.pop(0) if self.retry else self.make()
        self.inflight[req["id"]] = req
        self.sock.send_json(req)
        self.sent += 1

    def drain_replies(self, wait_ms=0):
        while self.sock.poll(wait_ms):
            wait_ms = 0
            r = self.sock.recv_json()
            if "ref" in r:
                continue  # an ack's answer
            nid = r.get("id")
            req = self.inflight.pop(nid, None)
            if r.get("ok"):
                self.ok.add(nid)
                if req is not None and "respond_within" in req:
                    self.sock.send_json({"type": "ack", "ref": nid,
                                         "by": "soak"})
            else:
                code = r.get("error", {}).get("code")
                self.refused[code] = self.refused.get(code, 0) + 1
                if code == "unavailable" and req is not None:
                    # A full channel: wait a little, then send it again.
                    self.retry.append(req)
                    self.pause_until = time.monotonic() + 0.2


def measure(seconds):
    """Notices a second the whole path sustains: published flat out for
    a while, then counted until both channels have every one of them."""
    d = sbtest.make_dir()
    hook = Hook()
    write_config(d, hook, "5s")
    daemon = Daemon(d)
    daemon.start()
    pub = Publisher("ipc://" + os.path.join(d, "in.ipc"))
    feed = Feed(os.path.join(d, "feed.jsonl"))
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        while len(pub.inflight) < pub.window and not pub.retry:
            pub.publish()
        pub.drain_replies(100)
        if pub.retry:
            break   # a channel is full: that is as fast as it goes
    while pub.inflight:
        pub.drain_replies(100)
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while not (pub.ok <= set(feed.read()) and pub.ok <= set(hook.ids)):
        if time.monotonic() > deadline:
            raise SystemExit("soak: the measurement's notices were not "
                             "all delivered")
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    pub.sock.close(0)
    daemon.stop()
    hook.close()
    return len(pub.ok) / elapsed, d


class Feed:
    """The file channel's output, read as it grows: notice id -> times
    delivered (a digest counts for each of its items)."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.ids = {}

    def read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.ids
        end = data.rfind(b"\n") + 1
        self.offset += end
        for raw in data[:end].split(b"\n"):
            if not raw.strip():
                continue
            line = json.loads(raw)
            for it in line.get("items") or [line]:
                self.ids[it["id"]] = self.ids.get(it["id"], 0) + 1
        return self.ids


def show(s):
    """One line of the table soak prints as it goes."""
    print("%6.0f %7d %9d %5d %9d %9d %9d %9d  %s" % (
        s["t"], s["pid"], s["rss_kb"], s["fds"], s["sent"], s["ok"],
        s["feed"], s["hook"], s["event"] or ""), flush=True)


def soak(args, rate):
    d = sbtest.make_dir()
    hook = Hook()
    timeouts = ["5s", "6s"]
    write_config(d, hook, timeouts[0])
    daemon = Daemon(d)
    daemon.start()
    pub = Publisher("ipc://" + os.path.join(d, "in.ipc"))
    feed = Feed(os.path.join(d, "feed.jsonl"))
    samples, events = [], []
    t0 = time.monotonic()
    next_sample = t0
    reloads = kills = outages = 0
    print("soak: %s, %ds at %.0f notices/s" % (d, args.duration, rate))
    print("%6s %7s %9s %5s %9s %9s %9s %9s  %s" % (
        "t_s", "pid", "rss_kb", "fds", "sent", "ok", "feed", "hook",
        "event"))
    while True:
        now = time.monotonic()
        t = now - t0
        if t >= args.duration:
            break
        # Keep to the rate, within the window.
        due = int(t * rate) - pub.seq + len(pub.retry)
        while due > 0 and len(pub.inflight) < pub.window and \
                now >= pub.pause_until:
            pub.publish()
            due -= 1
        pub.drain_replies(5)
        # Faults falling due together are all named.
        happened = []
        phase = t % args.outage_every
        if not hook.down and args.outage_every - args.outage_for <= phase:
            hook.down = True
            happened.append("webhook down")
            outages += 1
        elif hook.down and phase < args.outage_every - args.outage_for:
            hook.down = False
            happened.append("webhook up")
        if int(t) // args.reload_every > reloads:
            reloads += 1
            write_config(d, hook, timeouts[reloads % 2])
            daemon.proc.send_signal(signal.SIGHUP)
            happened.append("reload")
        if int(t) // args.kill_every > kills:
            kills += 1
            daemon.kill9()
            daemon.start()
            pub.reconnect()
            happened.append("kill -9, restart")
        event = ", ".join(happened) or None
        if event:
            events.append((round(t, 1), event))
        if now >= next_sample or event:
            rss, fds = daemon.sample()
            got = len(feed.read())
            samples.append({"t": round(t, 1), "pid": daemon.proc.pid,
                            "rss_kb": rss, "fds": fds, "sent": pub.sent,
                            "ok": len(pub.ok), "feed": got,
                            "hook": len(hook.ids), "event": event})
            show(samples[-1])
            if now >= next_sample:
                next_sample += SAMPLE_S
    # The end: everything answered, every delivery done, a clean stop.
    hook.down = False
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while (pub.inflight or pub.retry) and time.monotonic() < deadline:
        if pub.retry:
            pub.publish()
        pub.drain_replies(100)
    while time.monotonic() < deadline:
        if pub.ok <= set(feed.read()) and pub.ok <= set(hook.ids):
            break
        time.sleep(1)
    rss, fds = daemon.sample()
    samples.append({"t": round(time.monotonic() - t0, 1),
                    "pid": daemon.proc.pid, "rss_kb": rss, "fds": fds,
                    "sent": pub.sent, "ok": len(pub.ok),
                    "feed": len(feed.read()), "hook": len(hook.ids),
                    "event": "drained"})
    show(samples[-1])
    pub.sock.close(0)
    rc = daemon.stop()
    fed = feed.read()
    hook.close()
    lost_feed = sorted(pub.ok - set(fed))
    lost_hook = sorted(pub.ok - set(hook.ids))
    result = {
        "duration_s": args.duration, "rate": round(rate, 1),
        "sent": pub.sent, "ok": len(pub.ok), "refused": pub.refused,
        "unanswered": len(pub.inflight), "reloads": reloads,
        "kills": kills, "outages": outages, "exit_code": rc,
        "lost_feed": len(lost_feed), "lost_hook": len(lost_hook),
        "lost_examples": (lost_feed + lost_hook)[:10],
        "duplicates_feed": sum(1 for n in fed.values() if n > 1),
        "duplicates_hook": sum(1 for n in hook.ids.values() if n > 1),
        "samples": samples, "events": events, "dir": d,
    }
    return result


def summary(r):
    runs = {}
    for s in r["samples"]:
        runs.setdefault(s["pid"], []).append(s)
    print("\nper daemon run (pid: rss first/max/last kB, fds first/max/"
          "last):")
    for pid, ss in runs.items():
        print("  %d: rss %d/%d/%d, fds %d/%d/%d over %.0fs" % (
            pid, ss[0]["rss_kb"], max(s["rss_kb"] for s in ss),
            ss[-1]["rss_kb"], ss[0]["fds"], max(s["fds"] for s in ss),
            ss[-1]["fds"], ss[-1]["t"] - ss[0]["t"]))
    print("sent %d, ok %d, refused %s, unanswered %d; %d outages, %d "
          "reloads, %d kills; exit %s" % (
              r["sent"], r["ok"], r["refused"] or "none", r["unanswered"],
              r["outages"], r["reloads"], r["kills"], r["exit_code"]))
    print("lost: feed %d, hook %d; duplicates: feed %d, hook %d" % (
        r["lost_feed"], r["lost_hook"], r["duplicates_feed"],
        r["duplicates_hook"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=600)
    ap.add_argument("--measure", type=int, default=15,
                    help="seconds of the capacity measurement")
    ap.add_argument("--rate", type=float,
                    help="notices a second (default: half the capacity)")
    ap.add_argument("--build", default=os.environ.get("SB_BUILD", "build"))
    # The fault schedule, in seconds from the start of the soak.
    ap.add_argument("--outage-every", type=int, default=90)
    ap.add_argument("--outage-for", type=int, default=30)
    ap.add_argument("--reload-every", type=int, default=45)
    ap.add_argument("--kill-every", type=int, default=150)
    ap.add_argument("--json", help="write the result here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the directories even after a pass")
    args = ap.parse_args()
    build = args.build if os.path.isabs(args.build) else \
        os.path.join(sbtest.ROOT, args.build)
    sbtest.DAEMON = os.path.join(build, "switchboardd")
    random.seed(8)
    rate = args.rate
    dirs = []
    if rate is None:
        cap, d = measure(args.measure)
        dirs.append(d)
        print("soak: capacity %.0f notices/s; soaking at half" % cap)
        rate = cap / 2
    r = soak(args, rate)
    dirs.append(r["dir"])
    summary(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    ok = r["exit_code"] == 0 and r["lost_feed"] == 0 and \
        r["lost_hook"] == 0 and r["unanswered"] == 0
    if ok and not args.keep:
        for d in dirs:
            shutil.rmtree(d)
    else:
        print("soak: kept %s" % " ".join(dirs))
    print("soak: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
