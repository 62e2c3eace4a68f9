"""sbctl: publish and ping against a real switchboardd (from flags and from
stdin, ok and error replies, no daemon at all), usage errors, and the
daemon-less commands: route (a dry run of classify + route) and check.

Exit codes under test (docs/sbctl.md): 0 ok, 1 refused (error reply,
invalid notice, no_route, bad config), 2 usage error or no answer."""

import json
import os
import re
import subprocess
import time

import pytest

from sbtest import (ROOT, SBCTL, SANITIZER_MARKS, free_tcp_port, make_config,
                    make_dir, read_jsonl, wait_until)

FEED = 'feed = { type = "file"; path = "feed.jsonl"; };'
ALL_TO_FEED = '{ name = "all"; match = { }; channels = [ "feed" ]; }'

# Exit codes.
OK, REFUSED, USAGE = 0, 1, 2


def sbctl(*args, stdin=None, env=None, timeout=60):
    """Run build/sbctl from the repo root; $SB_ENDPOINT is unset unless
    env sets it, so that the caller's environment cannot leak in."""
    full_env = dict(os.environ)
    full_env.pop("SB_ENDPOINT", None)
    full_env.update(env or {})
    assert os.access(SBCTL, os.X_OK), "%s not built" % SBCTL
    r = subprocess.run([SBCTL] + list(args), input=stdin, cwd=ROOT,
                       env=full_env, capture_output=True, text=True,
                       timeout=timeout)
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr, "sbctl: sanitizer report:\n" + r.stderr
    return r


def reply_of(r):
    """The reply sbctl printed: exactly one JSON object on one line."""
    lines = r.stdout.splitlines()
    assert len(lines) == 1, "one reply line expected: %r" % r.stdout
    reply = json.loads(lines[0])
    assert isinstance(reply, dict), reply
    return reply


def feed_line(daemon, notice_id):
    """Wait for the line the feed channel wrote for one notice."""
    path = daemon.path("feed.jsonl")

    def find():
        for line in read_jsonl(path):
            if line.get("id") == notice_id:
                return line
        return None
    return wait_until(find, what="%s in feed.jsonl" % notice_id,
                      daemon=daemon)


@pytest.fixture(scope="module")
def daemon(sb_module):
    return sb_module.start(FEED, ALL_TO_FEED)


def publish(daemon, *args, **kw):
    return sbctl("publish", "-e", daemon.endpoint, "--timeout", "30s",
                 *args, **kw)


# --- publish and ping against a daemon ---------------------------------------

def test_ping(daemon):
    r = sbctl("ping", "-e", daemon.endpoint, "--timeout", "30s")
    assert r.returncode == OK, r.stderr
    assert reply_of(r) == {"ok": True, "pong": True}
    assert r.stderr == ""


def test_ping_waits_for_a_daemon_still_starting(sb):
    """The request is queued until the daemon binds: ping --timeout is
    the wait of a start-up script."""
    d = sb.prepare(FEED, ALL_TO_FEED)
    d._wait_ping = lambda: None     # sbctl ping is the wait here
    d.start()
    r = sbctl("ping", "-e", d.endpoint, "--timeout", "30s")
    assert r.returncode == OK, r.stderr + d.log_tail()
    assert reply_of(r) == {"ok": True, "pong": True}
    assert d.stop() == 0


def test_publish_from_flags_arrives_on_the_channel(daemon):
    r = publish(daemon, "--id", "flags-1", "--source", "payroll",
                "--audience", "dept:finance", "--audience", "mgmt:cfo",
                "--subject", "Payslips are out", "--body", "See the portal.",
                "--goal", "inform", "--tag", "env=prod", "--tag", "run=42")
    assert r.returncode == OK, r.stderr
    reply = reply_of(r)
    assert reply["ok"] is True and reply["id"] == "flags-1", reply
    assert reply["class"] == "batch", reply
    assert reply["channels"] == ["feed"], reply
    assert r.stderr == ""
    line = feed_line(daemon, "flags-1")
    assert line["channel"] == "feed"
    assert line["source"] == "payroll"
    assert line["audience"] == ["dept:finance", "mgmt:cfo"]
    assert line["subject"] == "Payslips are out"
    assert line["body"] == "See the portal."
    assert line["tags"] == {"env": "prod", "run": "42"}
    assert line["class"] == "batch"


@pytest.mark.parametrize("nid,flags,cls", [
    ("class-high", ["--priority", "high"], "realtime"),
    ("class-urgent", ["--priority", "urgent"], "realtime"),
    ("class-plain", [], "batch"),
    ("class-respond", ["--respond-within", "15m"], "interactive"),
    ("class-resolve", ["--goal", "resolve"], "interactive"),
])
def test_publish_each_class(daemon, nid, flags, cls):
    r = publish(daemon, "--id", nid, "--source", "app1", "--audience",
                "staff:*", "--subject", "s", *flags)
    assert r.returncode == OK, r.stderr
    assert reply_of(r)["class"] == cls
    assert feed_line(daemon, nid)["class"] == cls


def test_publish_broker_assigns_the_id(daemon):
    r = publish(daemon, "--source", "app1", "--audience", "public",
                "--subject", "no id given")
    assert r.returncode == OK, r.stderr
    nid = reply_of(r)["id"]
    assert nid
    assert feed_line(daemon, nid)["subject"] == "no id given"


def test_publish_anonymous_withholds_the_source(daemon):
    r = publish(daemon, "--id", "anon-1", "--source", "whistle",
                "--audience", "mgmt:*", "--subject", "s", "--anonymous")
    assert r.returncode == OK, r.stderr
    line = feed_line(daemon, "anon-1")
    assert "source" not in line, line
    assert "whistle" not in json.dumps(line)


@pytest.mark.parametrize("dash", [False, True])
def test_publish_from_stdin(daemon, dash):
    nid = "stdin-%d" % dash
    n = {"id": nid, "source": "app1", "audience": ["dept:eng"],
         "subject": "from stdin", "priority": "high"}
    args = ["-"] if dash else []
    r = publish(daemon, *args, stdin=json.dumps(n) + "\n")
    assert r.returncode == OK, r.stderr
    reply = reply_of(r)
    assert reply["id"] == nid and reply["class"] == "realtime", reply
    assert feed_line(daemon, nid)["subject"] == "from stdin"


def test_publish_duplicate_id_is_ok_and_says_so(daemon):
    args = ["--id", "dup-1", "--source", "app1", "--audience", "public",
            "--subject", "twice"]
    first = publish(daemon, *args)
    second = publish(daemon, *args)
    assert first.returncode == OK and second.returncode == OK
    assert reply_of(first)["duplicate"] is False
    assert reply_of(second)["duplicate"] is True


def test_publish_uses_sb_endpoint(daemon):
    r = sbctl("publish", "--timeout", "30s", "--id", "env-1", "--source",
              "app1", "--audience", "public", "--subject", "via env",
              env={"SB_ENDPOINT": daemon.endpoint})
    assert r.returncode == OK, r.stderr
    feed_line(daemon, "env-1")


def test_publish_over_tcp(sb):
    port = free_tcp_port()
    d = sb.start(FEED, ALL_TO_FEED, tcp_port=port)
    r = sbctl("publish", "-e", "tcp://127.0.0.1:%d" % port, "--timeout",
              "30s", "--id", "tcp-1", "--source", "app1", "--audience",
              "public", "--subject", "over tcp")
    assert r.returncode == OK, r.stderr
    feed_line(d, "tcp-1")
    assert d.stop() == 0


# --- error replies: exit 1, the daemon's words --------------------------------

def test_error_reply_exits_1_with_the_daemons_error(daemon):
    r = publish(daemon, "--id", "typo-1", "--source", "app1", "--audience",
                "dpt:ops", "--subject", "typo")
    assert r.returncode == REFUSED, r.stdout + r.stderr
    reply = reply_of(r)
    assert reply["ok"] is False
    err = reply["error"]
    assert err["code"] == "invalid_field" and err["field"] == "audience"
    assert "dpt" in err["message"]
    # One line for the person, with the daemon's own message.
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("sbctl: refused: invalid_field"), lines
    assert "audience" in lines[0] and err["message"] in lines[0]
    time.sleep(0.2)
    assert "typo-1" not in [x.get("id") for x in
                            read_jsonl(daemon.path("feed.jsonl"))]


def test_flags_do_not_validate_the_daemon_does(daemon):
    """No --subject: sbctl sends it anyway and shows the daemon's
    missing_field; a bad --respond-within is the daemon's to name."""
    r = publish(daemon, "--source", "app1", "--audience", "public")
    assert r.returncode == REFUSED
    err = reply_of(r)["error"]
    assert err["code"] == "missing_field" and err["field"] == "subject"
    r = publish(daemon, "--source", "app1", "--audience", "public",
                "--subject", "s", "--respond-within", "soon")
    assert r.returncode == REFUSED
    err = reply_of(r)["error"]
    assert err["code"] == "invalid_field"
    assert err["field"] == "respond_within" and "soon" in err["message"]


@pytest.mark.parametrize("raw,code", [
    ("{not json", "bad_json"),
    ("", "bad_json"),
    ('{"source":"a","audience":["public"],"subject":"s","subjekt":"x"}',
     "invalid_field"),
    ('{"type":"bogus"}', "unknown_type"),
])
def test_stdin_error_replies(daemon, raw, code):
    r = publish(daemon, stdin=raw)
    assert r.returncode == REFUSED, r.stdout + r.stderr
    assert reply_of(r)["error"]["code"] == code


# --- no daemon: exit 2 within the timeout ------------------------------------

@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_no_daemon_exits_2_within_the_timeout(transport):
    if transport == "ipc":
        endpoint = "ipc://" + os.path.join(make_dir(), "nobody.ipc")
    else:
        endpoint = "tcp://127.0.0.1:%d" % free_tcp_port()
    for cmd in (["ping"], ["publish", "--source", "a", "--audience",
                           "public", "--subject", "s"]):
        t0 = time.monotonic()
        r = sbctl(cmd[0], "-e", endpoint, "--timeout", "500ms", *cmd[1:])
        elapsed = time.monotonic() - t0
        assert r.returncode == USAGE, r.stdout + r.stderr
        assert r.stdout == ""
        assert r.stderr == ("sbctl: no answer from %s within 500ms \u2014 "
                            "is switchboardd running?\n" % endpoint)
        assert elapsed >= 0.5
        assert elapsed < 10, "a hang guard, not a speed test"


def test_no_daemon_default_endpoint_message():
    """Without -e or $SB_ENDPOINT the default endpoint is named."""
    r = sbctl("ping", "--timeout", "200ms")
    if r.returncode == OK:
        pytest.skip("a switchboardd answers on the default endpoint")
    assert r.returncode == USAGE
    assert "no answer from tcp://127.0.0.1:7450 within 200ms" in r.stderr


def test_bad_endpoint_is_named():
    r = sbctl("ping", "-e", "nonsense")
    assert r.returncode == USAGE
    assert "nonsense" in r.stderr


# --- usage ---------------------------------------------------------------------

@pytest.mark.parametrize("args,words", [
    ([], ["no command"]),
    (["frobnicate"], ["frobnicate"]),
    (["--bogus"], ["--bogus"]),
    (["publish", "--bogus"], ["--bogus"]),
    (["publish", "-x"], ["-x"]),
    (["publish", "--timeout", "5x"], ["5x"]),
    (["publish", "--timeout"], ["--timeout", "value"]),
    (["publish", "-e"], ["-e", "value"]),
    (["publish", "--tag", "novalue", "--source", "a"], ["novalue"]),
    (["publish", "--subject", "s", "-"], ["stdin", "notice flags"]),
    (["publish", "extra"], ["extra"]),
    (["publish", "--anonymous=yes"], ["--anonymous=yes"]),
    (["ping", "extra"], ["extra"]),
    (["route", "--bogus"], ["--bogus"]),
    (["route", "-c"], ["-c"]),
    (["check", "file.conf"], ["file.conf", "-c"]),
    (["help", "frobnicate"], ["frobnicate"]),
])
def test_usage_error_exits_2_with_one_line(args, words):
    r = sbctl(*args, stdin="")
    assert r.returncode == USAGE, (args, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("sbctl") and "sbctl help" in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert r.stdout == ""


@pytest.mark.parametrize("args", [["help"], ["-h"], ["--help"]])
def test_help_lists_every_command(args):
    r = sbctl(*args)
    assert r.returncode == OK and r.stderr == ""
    for cmd in ("publish", "ping", "route", "check", "help"):
        assert re.search(r"^\s+%s\s" % cmd, r.stdout, re.M), r.stdout


@pytest.mark.parametrize("args", [["help", "publish"], ["publish", "-h"],
                                  ["publish", "--help"]])
def test_command_help(args):
    r = sbctl(*args)
    assert r.returncode == OK
    assert r.stdout.startswith("usage: sbctl publish")
    for flag in ("--timeout", "--audience", "--respond-within", "--tag",
                 "--anonymous"):
        assert flag in r.stdout


def test_version():
    r = sbctl("-V")
    assert r.returncode == OK
    assert re.match(r"^sbctl \S+ \(protocol v1\)\n$", r.stdout)


# --- route: a dry run without a daemon ------------------------------------------

ROUTE_CHANNELS = """
    rt = { type = "discard"; };
    digest = { type = "discard"; };
    ops = { type = "discard"; };
    shadow = { type = "discard"; mode = "pilot"; pilot_percent = 100; };
"""
ROUTE_ROUTES = """
    { name = "rt"; match = { source = "app*"; class = "realtime"; };
      channels = [ "rt" ]; },
    { name = "batch"; match = { source = "app*"; class = "batch"; };
      channels = [ "digest" ]; },
    { name = "interactive";
      match = { source = "app*"; class = "interactive"; };
      channels = [ "ops", "shadow" ]; }
"""


@pytest.fixture(scope="module")
def route_conf():
    return make_config(make_dir(), ROUTE_CHANNELS, ROUTE_ROUTES)


def notice_json(**fields):
    n = {"source": "app1", "audience": ["dept:eng"], "subject": "s"}
    n.update(fields)
    return json.dumps(n)


@pytest.mark.parametrize("fields,cls,channels", [
    ({"priority": "high"}, "realtime", "rt"),
    ({}, "batch", "digest"),
    ({"respond_within": "2h"}, "interactive", "ops, shadow (pilot)"),
    ({"goal": "collect"}, "interactive", "ops, shadow (pilot)"),
])
def test_route_each_class(route_conf, fields, cls, channels):
    r = sbctl("route", "-c", route_conf, stdin=notice_json(**fields))
    assert r.returncode == OK, r.stderr
    assert r.stdout == "class: %s\nchannels: %s\n" % (cls, channels)
    assert r.stderr == ""


def test_route_json(route_conf):
    r = sbctl("route", "-c", route_conf, "--json",
              stdin=notice_json(respond_within="2h"))
    assert r.returncode == OK, r.stderr
    assert json.loads(r.stdout) == {"class": "interactive",
                                    "channels": ["ops", "shadow"],
                                    "pilot": ["shadow"]}
    r = sbctl("route", "-c", route_conf, "--json", stdin=notice_json())
    assert json.loads(r.stdout) == {"class": "batch",
                                    "channels": ["digest"], "pilot": []}


def test_route_no_route(route_conf):
    r = sbctl("route", "-c", route_conf,
              stdin=notice_json(source="billing", id="lost-1"))
    assert r.returncode == REFUSED
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sbctl: refused: "
                                                   "no_route"), r.stderr
    r = sbctl("route", "-c", route_conf, "--json",
              stdin=notice_json(source="billing", id="lost-1"))
    assert r.returncode == REFUSED
    reply = json.loads(r.stdout)
    assert reply["ok"] is False and reply["id"] == "lost-1"
    assert reply["error"]["code"] == "no_route"


@pytest.mark.parametrize("raw,code,field", [
    (notice_json(audience=["dpt:ops"]), "invalid_field", "audience"),
    (notice_json(subjekt="x"), "invalid_field", "subjekt"),
    ('{"source":"app1","audience":["public"]}', "missing_field",
     "subject"),
    ("{oops", "bad_json", None),
])
def test_route_invalid_notice(route_conf, raw, code, field):
    r = sbctl("route", "-c", route_conf, "--json", stdin=raw)
    assert r.returncode == REFUSED
    reply = json.loads(r.stdout)
    assert reply["ok"] is False and reply["error"]["code"] == code
    if field is not None:
        assert reply["error"]["field"] == field
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("sbctl: refused: %s" % code)
    assert reply["error"]["message"] in lines[0]


def test_route_too_large_as_the_daemon(route_conf):
    big = notice_json(body="x" * 70000)
    r = sbctl("route", "-c", route_conf, stdin=big)
    assert r.returncode == REFUSED
    assert "too_large" in r.stderr and "65536" in r.stderr


def test_route_refuses_a_ping(route_conf):
    r = sbctl("route", "-c", route_conf, stdin='{"type":"ping"}')
    assert r.returncode == REFUSED
    assert "not a notice" in r.stderr


def test_route_agrees_with_the_daemon(sb):
    """The dry run and the daemon give one answer for one config."""
    d = sb.start(ROUTE_CHANNELS, ROUTE_ROUTES)
    for i, fields in enumerate([{"priority": "urgent"}, {},
                                {"respond_within": "1h"}]):
        n = notice_json(id="agree-%d" % i, **fields)
        dry = sbctl("route", "-c", d.config, "--json", stdin=n)
        live = sbctl("publish", "-e", d.endpoint, "--timeout", "30s",
                     stdin=n)
        assert dry.returncode == OK and live.returncode == OK, \
            dry.stderr + live.stderr
        dry, live = json.loads(dry.stdout), reply_of(live)
        assert dry["class"] == live["class"]
        assert sorted(dry["channels"]) == sorted(live["channels"])
    assert d.stop() == 0


def test_route_bad_config_prints_each_error(tmp_path):
    conf = bad_config(str(tmp_path))
    r = sbctl("route", "-c", conf, stdin=notice_json())
    assert r.returncode == REFUSED
    assert r.stdout == ""
    check_config_errors(conf, r.stderr)


# --- check --------------------------------------------------------------------------

def bad_config(tmpdir):
    """A config with two errors, each on a known line."""
    routes = ROUTE_ROUTES.replace('channels = [ "rt" ]',
                                  'channels = [ "nowhere" ]')
    channels = ROUTE_CHANNELS.replace('type = "discard"; };',
                                      'type = "carrier-pigeon"; };', 1)
    return make_config(tmpdir, channels, routes)


def check_config_errors(conf, stderr):
    lines = open(conf).read().splitlines()
    want = {"nowhere": None, "carrier-pigeon": None}
    for word in want:
        want[word] = next(i + 1 for i, line in enumerate(lines)
                          if word in line)
    for word, lineno in want.items():
        pat = r"^%s:%d: .*%s" % (re.escape(conf), lineno, re.escape(word))
        assert re.search(pat, stderr, re.M), \
            "expected %s:%d: ...%s... in:\n%s" % (conf, lineno, word,
                                                   stderr)


def test_check_good(route_conf):
    r = sbctl("check", "-c", route_conf)
    assert r.returncode == OK, r.stderr
    assert r.stdout == "%s: ok\n" % route_conf
    assert r.stderr == ""


def test_check_bad_names_file_and_line(tmp_path):
    conf = bad_config(str(tmp_path))
    r = sbctl("check", "-c", conf)
    assert r.returncode == REFUSED
    assert r.stdout == ""
    check_config_errors(conf, r.stderr)


def test_check_syntax_error(tmp_path):
    conf = str(tmp_path / "broken.conf")
    with open(conf, "w") as f:
        f.write('ingress = {\n  router = [ "ipc://x.ipc"\n};\n')
    r = sbctl("check", "-c", conf)
    assert r.returncode == REFUSED
    assert re.search(r"^%s:\d+: " % re.escape(conf), r.stderr, re.M), \
        r.stderr


def test_check_missing_file(tmp_path):
    conf = str(tmp_path / "absent.conf")
    r = sbctl("check", "-c", conf)
    assert r.returncode == REFUSED
    assert conf in r.stderr


def test_check_default_config_shipped():
    """conf/switchboard.conf, the newcomer's config, checks clean (and is
    sbctl's default)."""
    r = sbctl("check")
    assert r.returncode == OK, r.stderr
    assert r.stdout == "conf/switchboard.conf: ok\n"


@pytest.mark.parametrize("n,out", [
    ({"source": "it", "audience": ["dept:ops"], "subject": "Disk full?",
      "respond_within": "30m"},
     "class: interactive\nchannels: incident-hook, staff-bulletin\n"),
    ({"source": "billing", "audience": ["customer:*"],
      "subject": "Invoices for May are out"},
     "class: batch\nchannels: customer-feed\n"),
])
def test_route_readme_tour(n, out):
    """The dry runs the README shows, on the default config."""
    r = sbctl("route", "-c", "conf/switchboard.conf", stdin=json.dumps(n))
    assert r.returncode == OK, r.stderr
    assert r.stdout == out


def test_route_readme_tour_no_route():
    n = {"source": "it", "audience": ["dept:ops", "customer:acme"],
         "subject": "Outage", "priority": "urgent"}
    r = sbctl("route", "-c", "conf/switchboard.conf", stdin=json.dumps(n))
    assert r.returncode == REFUSED
    assert r.stderr.startswith("sbctl: refused: no_route: ")
    assert "customer:acme not allowed" in r.stderr
