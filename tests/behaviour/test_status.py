"""The status socket (SPEC section 6, docs/operations.md) against a real
switchboardd: every command and its errors, the admin check by SO_PEERCRED
(an unprivileged peer run with setpriv), input that is cut off, many
clients, a second daemon on the same socket, a stale socket, a listing of
100,000 pending notices written without stalling the loop, and sbctl's
status commands with their exit codes.
"""

import json
import os
import socket
import subprocess
import time

from sbstatus import (NOBODY, OK, REFUSED, USAGE, StatusConn, ask,
                      check_fail, nobody_argv, open_to_group, sbctl)
from sbtest import (ASAN, DAEMON, check_ok, ids_in, make_config, make_dir,
                    notice, wait_until)

FEEDS = """
feed = { type = "file"; path = "feed.jsonl"; owner = "ops"; };
other = { type = "file"; path = "other.jsonl"; };
"""
ROUTES = """
{ name = "asks"; match = { class = "interactive"; }; channels = "feed"; },
{ name = "rest"; channels = [ "feed" ]; fallback = "other"; }
"""
COMMANDS = ["status", "channels", "routes", "pending", "message", "ack",
            "pause", "resume", "reload", "help"]
CHANGING = {"ack", "pause", "resume", "reload"}


def start(sb, **kw):
    d = sb.start(FEEDS, ROUTES, **kw)
    d.sock = d.path("status.sock")
    return d


def publish(d, **fields):
    c = d.client()
    return check_ok(c.request(notice(**fields)))


def test_socket_is_0660_and_read_commands_answer(sb):
    d = start(sb)
    assert os.stat(d.sock).st_mode & 0o777 == 0o660
    st = ask(d.sock, "status")
    assert st["ok"] is True and st["version"] and st["pid"] == d.proc.pid
    assert st["config"]["path"] == d.config
    assert len(st["config"]["hash"]) == 16
    assert st["reload"]["at"] is None and st["reload"]["count"] == 0
    assert [c["name"] for c in st["channels"]] == ["feed", "other"]
    assert {c["state"] for c in st["channels"]} == {"up"}
    ch = ask(d.sock, "channels")["channels"]
    assert ch[0]["name"] == "feed" and ch[0]["type"] == "file"
    assert ch[0]["owner"] == "ops" and ch[0]["queue_max"] == 10000
    routes = ask(d.sock, "routes")["routes"]
    assert [r["name"] for r in routes] == ["asks", "rest"]
    assert routes[0]["match"] == {"class": ["interactive"]}
    assert routes[1]["channels"] == ["feed"]
    assert routes[1]["fallback"] == ["other"]
    helped = ask(d.sock, "help")["commands"]
    assert [c["name"] for c in helped] == COMMANDS
    assert {c["name"] for c in helped if c["admin"]} == CHANGING
    assert ask(d.sock, "pending") == {"ok": True, "notices": [],
                                      "count": 0, "more": False}


def test_counts_message_and_escalations(sb):
    d = start(sb)
    publish(d, id="rt-1", priority="urgent")
    publish(d, id="b-1")
    publish(d, id="b-2")
    publish(d, id="ask-1", respond_within="2h")
    st = ask(d.sock, "status")
    assert st["notices"]["realtime"] == 1
    assert st["notices"]["batch"] == 2
    assert st["notices"]["interactive"] == 1
    assert st["acks"]["waiting"] == 1
    esc = st["escalations"]
    assert [e["id"] for e in esc] == ["ask-1"], esc
    assert esc[0]["next"] == "expire" and esc[0]["at"].endswith("Z")
    m = ask(d.sock, "message ask-1")
    assert m["ok"] is True
    msg = m["message"]
    assert msg["id"] == "ask-1" and msg["class"] == "interactive"
    assert msg["notice"]["subject"] == "hello"
    assert [x["channel"] for x in msg["deliveries"]] == ["feed"]
    assert "respond_by" in msg
    check_fail(ask(d.sock, "message nope-1"), "unknown_ref", ["nope-1"])
    check_fail(ask(d.sock, "message bad/id"), "bad_argument", ["bad/id"])
    check_fail(ask(d.sock, "message"), "bad_argument", ["usage"])


def test_ack_command(sb):
    d = start(sb)
    publish(d, id="ask-1", respond_within="2h")
    publish(d, id="plain-1")
    a = ask(d.sock, "ack ask-1 Alice Q. Smith")
    assert a["ok"] is True and a["ref"] == "ask-1", a
    assert isinstance(a["response_ms"], int) and a["response_ms"] >= 0
    assert set(a) == {"ok", "ref", "response_ms"}, a
    msg = ask(d.sock, "message ask-1")["message"]
    assert msg["ack_by"] == "Alice Q. Smith", msg
    check_fail(ask(d.sock, "ack ask-1 bob"), "already_acked", ["ask-1"])
    check_fail(ask(d.sock, "ack plain-1 bob"), "unknown_ref",
               ["plain-1", "interactive"])
    check_fail(ask(d.sock, "ack nope-1 bob"), "unknown_ref", ["nope-1"])
    check_fail(ask(d.sock, "ack ask-1"), "bad_argument", ["usage"])
    err = check_fail(ask(d.sock, "ack ask-1 " + "x" * 65), "invalid_field",
                     ["by"])
    assert err.get("field") == "by", err
    assert ask(d.sock, "status")["acks"]["waiting"] == 0


def test_pause_holds_deliveries_resume_releases_them(sb):
    d = start(sb)
    p = ask(d.sock, "pause feed")
    assert p == {"ok": True, "channel": "feed", "was": "up",
                 "state": "paused", "queued": 0, "inflight": 0}, p
    publish(d, id="held-1", priority="high")
    assert ask(d.sock, "status")["channels"][0]["state"] == "paused"
    wait_until(lambda: ask(d.sock, "channels")["channels"][0]["queued"]
               == 1, daemon=d, what="held-1 queued on the paused channel")
    time.sleep(0.3)
    assert "held-1" not in ids_in(d.path("feed.jsonl"))
    pend = ask(d.sock, "pending")
    assert [n["id"] for n in pend["notices"]] == ["held-1"], pend
    assert pend["notices"][0]["channels"] == ["feed"]
    assert pend["notices"][0]["pending"] == 1
    # Pausing twice is no error: it says what it was.
    assert ask(d.sock, "pause feed")["was"] == "paused"
    r = ask(d.sock, "resume feed")
    assert (r["was"], r["state"]) == ("paused", "up"), r
    wait_until(lambda: "held-1" in ids_in(d.path("feed.jsonl")), daemon=d,
               what="held-1 delivered after resume")
    check_fail(ask(d.sock, "pause nope"), "unknown_channel",
               ["nope", "feed", "other"])
    check_fail(ask(d.sock, "resume"), "bad_argument", ["usage"])
    check_fail(ask(d.sock, "pause feed other"), "bad_argument",
               ["too many"])


def test_reload_command(sb):
    d = start(sb)
    before = ask(d.sock, "status")["config"]["hash"]
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace('{ name = "asks";', '{ name = "questions";'))
    r = ask(d.sock, "reload")
    assert r["ok"] is True and r["hash"] != before, r
    assert d.config in r["message"]
    assert [x["name"] for x in ask(d.sock, "routes")["routes"]] == \
        ["questions", "rest"]
    with open(d.config, "a") as f:
        f.write('\nbogus_key = 1;\n')
    err = check_fail(ask(d.sock, "reload"), "invalid_config",
                     ["not reloaded", "running config stays"])
    assert err["errors"] and "bogus_key" in err["errors"][0], err
    assert err["errors"][0].startswith(d.config + ":"), err
    st = ask(d.sock, "status")
    assert st["reload"]["ok"] is False and st["reload"]["count"] == 1
    assert st["reload"]["failures"] == 1
    assert any("bogus_key" in e for e in st["reload"]["errors"])
    assert st["config"]["hash"] == r["hash"]
    assert [x["name"] for x in ask(d.sock, "routes")["routes"]] == \
        ["questions", "rest"]


def test_command_errors_and_line_handling(sb):
    d = start(sb)
    c = StatusConn(d.sock)
    check_fail(c.ask("bogus"), "unknown_command", ["bogus", "status"])
    check_fail(c.ask("status now"), "bad_argument", ["too many"])
    for bad in ("abc", "0", "-1", "+5", "1x", "99999999999999999999"):
        check_fail(c.ask("pending " + bad), "bad_argument", [bad])
    # Blank lines ask nothing; CRLF and blanks around words are fine;
    # commands sent at once are answered in order on the same client.
    c.send("\n  \n\t\r\n  status \r\nhelp\nchannels\n")
    assert "version" in c.answer()
    assert "commands" in c.answer()
    assert "channels" in c.answer()
    # A long but allowed line is an ordinary error.
    check_fail(c.ask("message " + "a" * 4000), "bad_argument")
    assert c.ask("status")["ok"] is True
    c.close()
    # A last line without its newline is answered before the close.
    c = StatusConn(d.sock)
    c.send("help")
    c.sock.shutdown(socket.SHUT_WR)
    data, how = c.rest()
    assert how == "eof" and json.loads(data)["ok"] is True, data
    c.close()


def test_garbage_and_huge_lines_are_answered_and_cut_off(sb):
    d = start(sb)
    cases = [
        (b"x" * (10 << 20), "too_large"),
        (b"status\x00\n", "bad_request"),
        (b"\x1b[A\n", "bad_request"),
        (b"stat\xffus\n", "bad_request"),
        (b"message \xc3\x28\n", "bad_request"),
    ]
    for data, code in cases:
        c = StatusConn(d.sock)
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass    # cut off while still sending: the answer is there
        got, how = c.rest()
        c.close()
        lines = got.split(b"\n")
        assert len(lines) == 2 and lines[1] == b"", \
            "one answer, then the close: %r" % got[:300]
        check_fail(json.loads(lines[0]), code)
        assert d.alive()
    # Whatever was sent, the daemon goes on serving.
    assert ask(d.sock, "status")["ok"] is True
    assert check_ok(d.client().request(notice(id="after")))


def test_many_clients_at_once(sb):
    d = start(sb)
    conns = [StatusConn(d.sock) for _ in range(64)]
    for c in conns:
        c.send("status\n")
    for c in conns:
        assert c.answer()["ok"] is True
    extra = StatusConn(d.sock)
    check_fail(extra.answer(), "unavailable", ["too many", "64"])
    assert extra.rest()[1] in ("eof", "reset")
    extra.close()
    # Every open client is still served, and a slot frees on close.
    assert conns[5].ask("help")["ok"] is True
    conns.pop().close()
    wait_until(lambda: _answers(d.sock), daemon=d,
               what="a free client slot")
    for c in conns:
        c.close()


def _answers(path):
    try:
        return ask(path, "help").get("ok") is True
    except (AssertionError, OSError):
        return False


def test_unprivileged_peer_reads_but_may_not_change(sb):
    d = start(sb)
    publish(d, id="ask-1", respond_within="2h")
    open_to_group(d)

    def nobody(*cmd):
        r = subprocess.run(nobody_argv(["socat", "-t", "20", "-",
                                        "UNIX-CONNECT:" + d.sock]),
                           input="\n".join(cmd) + "\n", capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return [json.loads(x) for x in r.stdout.splitlines()]

    read = nobody("status", "channels", "routes", "pending", "message ask-1",
                  "help")
    assert [a["ok"] for a in read] == [True] * 6, read
    changing = nobody("ack ask-1 mallory", "pause feed", "resume feed",
                      "reload")
    for a in changing:
        check_fail(a, "unauthorized", ["uid %d" % NOBODY,
                                       "status.admin_uids"])
    assert ask(d.sock, "status")["channels"][0]["state"] == "up"
    assert ask(d.sock, "status")["acks"]["waiting"] == 1
    assert "status refused command=pause uid=%d" % NOBODY in d.log()
    # status.admin_uids lets it in (and reload, as root, takes that).
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace('status = { socket = "status.sock"; };',
                             'status = { socket = "status.sock"; '
                             'admin_uids = [ %d ]; };' % NOBODY))
    assert ask(d.sock, "reload")["ok"] is True
    a = nobody("pause feed", "ack ask-1 nobody")
    assert a[0]["ok"] is True and a[0]["state"] == "paused", a
    assert a[1]["ok"] is True and a[1]["ref"] == "ask-1", a
    # And sbctl tells a refusal apart: exit 1 with the reason.
    with open(d.config, "w") as f:
        f.write(text)
    assert ask(d.sock, "reload")["ok"] is True
    r = sbctl("resume", "-s", d.sock, as_nobody=True)
    assert r.returncode == USAGE, r     # no CHANNEL: a usage error
    r = sbctl("resume", "-s", d.sock, "feed", as_nobody=True)
    assert r.returncode == REFUSED, (r.stdout, r.stderr)
    assert "unauthorized" in r.stderr and r.stdout == ""
    r = sbctl("channels", "-s", d.sock, as_nobody=True)
    assert r.returncode == OK, r.stderr


def test_second_daemon_refused_stale_socket_removed(sb):
    d = start(sb)
    # Another daemon with its own spool and ingress, but the same socket.
    tmp2 = make_dir()
    sb.dirs.append(tmp2)
    conf2 = make_config(tmp2, FEEDS, ROUTES)
    with open(conf2) as f:
        text = f.read()
    with open(conf2, "w") as f:
        f.write(text.replace('socket = "status.sock"',
                             'socket = "%s"' % d.sock))
    p = subprocess.run([DAEMON, "-f", "-c", conf2], cwd=tmp2,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0, p.stderr
    assert d.sock in p.stderr and "answers there" in p.stderr, p.stderr
    assert ask(d.sock, "status")["pid"] == d.proc.pid
    # A daemon that died leaves its socket; the next start takes it over.
    d.proc.kill()
    d.proc.wait()
    d._log.close()
    assert os.path.exists(d.sock)
    d.start()
    assert "removed a stale socket" in d.log()
    assert ask(d.sock, "status")["pid"] == d.proc.pid
    d.stop()
    assert not os.path.exists(d.sock), "the socket outlived the daemon"
    # Something else at the path is never removed.
    with open(d.sock, "w") as f:
        f.write("precious")
    p = subprocess.run([DAEMON, "-f", "-c", d.config], cwd=d.dir,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "not a socket" in p.stderr, p.stderr
    with open(d.sock) as f:
        assert f.read() == "precious"


BATCH_HELD = """
feed = { type = "file"; path = "feed.jsonl"; queue_max = 200000;
         queue_max_bytes = 536870912; };
"""
BATCH_ROUTES = '{ name = "all"; channels = "feed"; }'
BATCH_POLICY = 'policies = { batch = { window = "1h"; max_items = 100000; }; };'
HUGE = 100000


def test_pending_listing_of_100k_does_not_stall_the_loop(sb):
    d = sb.prepare(BATCH_HELD, BATCH_ROUTES, extra=BATCH_POLICY)
    # What stays paused at the end is left in the spool: no drain wait.
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace('shutdown_timeout = "5s";',
                             'shutdown_timeout = "100ms";'))
    d.start()
    sock = d.path("status.sock")
    # Paused, the channel keeps even the digest that max_items flushes.
    assert ask(sock, "pause feed")["state"] == "paused"
    c = d.client()
    window, sent, got = 2000, 0, 0
    while got < HUGE:
        while sent < HUGE and sent - got < window:
            c.send({"id": "n-%06d" % sent, "source": "app",
                    "audience": ["dept:eng"], "subject": "s"})
            sent += 1
        r = c.recv()
        assert r.get("ok") is True, r
        got += 1
    # A reader that asks and then reads nothing for a while: what the
    # daemon holds for it stays small (the whole answer is 10 MB).
    time.sleep(0.5)
    rss = d.rss_kb()
    slow = StatusConn(sock)
    slow.send("pending\n")
    time.sleep(1)
    grown = d.rss_kb() - rss
    assert grown < 5000, "RSS grew by %d KiB for one slow reader" % grown
    # Meanwhile everyone else is served at once.
    for _ in range(5):
        t0 = time.monotonic()
        assert ask(sock, "status")["notices"]["batch"] == HUGE
        assert c.request({"type": "ping"}) == {"ok": True, "pong": True}
        assert time.monotonic() - t0 < 5, "the loop stalled"
    line = slow.line()
    slow.close()
    a = json.loads(line)
    assert a["ok"] is True and a["count"] == HUGE and a["more"] is False
    ids = [n["id"] for n in a["notices"]]
    assert ids == ["n-%06d" % i for i in range(HUGE)], "order or loss"
    few = ask(sock, "pending 10")
    assert few["count"] == 10 and few["more"] is True
    assert [n["id"] for n in few["notices"]] == ids[:10]
    exact = ask(sock, "pending %d" % HUGE)
    assert exact["count"] == HUGE and exact["more"] is False
    # sbctl reads the whole listing too (under ASan yajl's tree grows its
    # arrays one element at a time, which takes minutes: a part there).
    n = HUGE if not ASAN else 2000
    r = sbctl("pending", "-s", sock, str(n))
    assert r.returncode == OK, r.stderr
    assert r.stdout.count("\n") == n + 2   # the head, the rows, the count
    assert r.stdout.splitlines()[-1].startswith("%d notices" % n)


def test_sbctl_status_commands(sb):
    d = start(sb)
    publish(d, id="ask-1", respond_within="2h")
    r = sbctl("status", "-s", d.sock)
    assert r.returncode == OK, r.stderr
    out = r.stdout
    for want in ("switchboardd ", "up ", d.config, "hash ",
                 "last reload  none", "interactive 1", "CHANNEL", "STATE",
                 "feed", "ask-1", "expire"):
        assert want in out, "status output lacks %r:\n%s" % (want, out)
    # --json is the daemon's answer as it came.
    j = json.loads(sbctl("status", "-s", d.sock, "--json").stdout)
    assert j["config"]["hash"] in out
    # -c FILE finds the socket through its status.socket (a relative one
    # is relative to sbctl's directory: this one is absolute).
    with open(d.config) as f:
        text = f.read()
    absconf = os.path.join(d.dir, "abs.conf")
    with open(absconf, "w") as f:
        f.write(text.replace('socket = "status.sock"',
                             'socket = "%s"' % d.sock))
    assert sbctl("channels", "-c", absconf).returncode == OK
    assert sbctl("routes", env={"SB_STATUS": d.sock}).returncode == OK
    r = sbctl("message", "-s", d.sock, "ask-1")
    assert r.returncode == OK and "ask-1 (interactive)" in r.stdout
    r = sbctl("ack", "-s", d.sock, "ask-1", "Alice", "Smith")
    assert r.returncode == OK and "acked ask-1" in r.stdout, r
    assert ask(d.sock, "message ask-1")["message"]["ack_by"] == "Alice Smith"
    r = sbctl("ack", "-s", d.sock, "ask-1", "Alice")
    assert r.returncode == REFUSED and "already_acked" in r.stderr
    r = sbctl("pause", "-s", d.sock, "feed")
    assert r.returncode == OK and "feed: up -> paused" in r.stdout
    r = sbctl("pause", "-s", d.sock, "nope")
    assert r.returncode == REFUSED and "unknown_channel" in r.stderr
    r = sbctl("reload", "-s", d.sock, "--json")
    assert r.returncode == OK and json.loads(r.stdout)["ok"] is True
    # Usage errors and no daemon: exit 2.
    assert sbctl("message", "-s", d.sock).returncode == USAGE
    assert sbctl("pending", "-s", d.sock, "1", "2").returncode == USAGE
    assert sbctl("message", "-s", d.sock, "a\nstatus").returncode == USAGE
    r = sbctl("status", "-s", d.path("nothing.sock"))
    assert r.returncode == USAGE and "is switchboardd running" in r.stderr
    r = sbctl("status", "-c", d.path("missing.conf"))
    assert r.returncode == USAGE and "missing.conf" in r.stderr
    r = sbctl("pending", "-s", d.sock, "zero")
    assert r.returncode == REFUSED and "bad_argument" in r.stderr
