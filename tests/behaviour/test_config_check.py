"""test_config_check: `switchboardd -t -c FILE` on every config fixture.

tests/conf/good-*.conf and conf/switchboard.conf must pass (exit 0); each
tests/conf/bad-*.conf must fail (exit 1) with every message its leading
"# expect: " lines name, each error on its own "file:line: message" line.
Last, the default config must really run: `make run` starts the daemon on
it, so every channel it names has to start without an outside service.
"""

import glob
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sbtest  # noqa: E402

CONF_DIR = os.path.join(sbtest.ROOT, "tests", "conf")
DEFAULT_CONF = os.path.join("conf", "switchboard.conf")
GOOD = sorted(glob.glob(os.path.join(CONF_DIR, "good-*.conf")))
BAD = sorted(glob.glob(os.path.join(CONF_DIR, "bad-*.conf")))


def expectations(path):
    """The messages a bad fixture's leading "# expect: " lines name."""
    out = []
    with open(path) as f:
        for line in f:
            if not line.startswith("# expect: "):
                break
            out.append(line[len("# expect: "):].rstrip("\n"))
    return out


def check(path, cwd=None):
    """Run switchboardd -t on path; returns (exit code, stderr lines)."""
    assert os.access(sbtest.DAEMON, os.X_OK), \
        "%s not built (SB_BUILD=%s)" % (sbtest.DAEMON, sbtest.BUILD)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    proc = subprocess.run([sbtest.DAEMON, "-t", "-c", path],
                          cwd=cwd or sbtest.ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=60)
    err = proc.stderr.decode("utf-8", "replace")
    bad = [m for m in sbtest.SANITIZER_MARKS if m in err]
    assert not bad, "sanitizer report (%s):\n%s" % (", ".join(bad), err)
    return proc.returncode, [line for line in err.splitlines() if line]


def test_fixtures_present():
    assert len(GOOD) >= 2, GOOD
    assert len(BAD) >= 12, BAD
    for path in BAD:
        assert expectations(path), \
            "%s: first line must be '# expect: <message>'" % path


@pytest.mark.parametrize("path", GOOD + [DEFAULT_CONF],
                         ids=lambda p: os.path.basename(p))
def test_good_config(path):
    rc, lines = check(path)
    assert rc == 0, "%s rejected:\n%s" % (path, "\n".join(lines))


@pytest.mark.parametrize("path", BAD, ids=lambda p: os.path.basename(p))
def test_bad_config(path):
    rc, lines = check(path)
    assert rc == 1, "%s: exit %d, want 1:\n%s" % (path, rc,
                                                  "\n".join(lines))
    assert lines, "%s: no message on stderr" % path
    for want in expectations(path):
        assert any(want in line for line in lines), \
            "%s: no line contains %r:\n%s" % (path, want, "\n".join(lines))
    # One error a line, each naming the file (and a line, where the
    # mistake has one: only something missing altogether has none).
    for line in lines:
        assert line.startswith(path + ":"), \
            "%s: line does not start with the file: %r" % (path, line)


def test_rules_doc_example():
    """The complete example of docs/rules.md is a valid config."""
    with open(os.path.join(sbtest.ROOT, "docs", "rules.md")) as f:
        blocks = f.read().split("\n```\n")
    example = [b for b in blocks if b.startswith("# rules-example.conf")]
    assert len(example) == 1, "docs/rules.md: no example block"
    tmp = sbtest.make_dir()
    try:
        path = os.path.join(tmp, "rules-example.conf")
        with open(path, "w") as f:
            f.write(example[0])
        rc, lines = check(path, cwd=tmp)
        assert rc == 0, "docs/rules.md example rejected:\n%s" % \
            "\n".join(lines)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_relative_path_names_the_file_as_given():
    """The messages name the file as the admin typed it."""
    rc, lines = check(os.path.join("tests", "conf", "bad-range.conf"))
    assert rc == 1
    assert lines == ["tests/conf/bad-range.conf:4: ingress.max_message_size:"
                     " 100 is out of range (256 .. 16777216)"], lines


def test_missing_file():
    rc, lines = check("/nonexistent/switchboard.conf")
    assert rc == 1
    assert any("/nonexistent/switchboard.conf: cannot open: No such file"
               in line for line in lines), lines


def _default_copy():
    """conf/ and an empty var/ in a private directory, with the default
    config's tcp ports moved to free ones (a developer's `make run` may
    hold the real ones)."""
    tmp = sbtest.make_dir()
    os.mkdir(os.path.join(tmp, "conf"))
    os.mkdir(os.path.join(tmp, "var"))
    shutil.copy(os.path.join(sbtest.ROOT, "conf", "deliver-example.sh"),
                os.path.join(tmp, "conf"))
    with open(os.path.join(sbtest.ROOT, DEFAULT_CONF)) as f:
        text = f.read()
    assert "tcp://127.0.0.1:7450" in text and "tcp://127.0.0.1:7451" in text
    text = text.replace("tcp://127.0.0.1:7450",
                        "tcp://127.0.0.1:%d" % sbtest.free_tcp_port())
    text = text.replace("tcp://127.0.0.1:7451",
                        "tcp://127.0.0.1:%d" % sbtest.free_tcp_port())
    with open(os.path.join(tmp, DEFAULT_CONF), "w") as f:
        f.write(text)
    return tmp


def _lines_with(path, subject):
    return [n for n in sbtest.read_jsonl(path) if n.get("subject") == subject]


def test_default_config_runs():
    """The default config as `make run` uses it: each kind of audience
    lands on its own channel, and nothing internal reaches a customer."""
    tmp = _default_copy()
    d = sbtest.Daemon(tmp, DEFAULT_CONF)
    d.endpoint = "ipc://" + os.path.join(tmp, "var", "switchboard.ipc")
    try:
        d.start()
        c = d.client()
        cases = [
            # audience, extra fields, the file that must get it
            (["dept:eng"], {"priority": "high"}, "staff-bulletin.jsonl"),
            (["staff:alice"], {"goal": "resolve"}, "exec-deliveries.jsonl"),
            (["customer:acme"], {"priority": "urgent"}, "customer-feed.jsonl"),
            (["partner:globex"], {"priority": "high"}, "partner-feed.jsonl"),
            (["public"], {"priority": "high"}, "public-feed.jsonl"),
        ]
        for i, (audience, extra, feed) in enumerate(cases):
            subject = "default-config case %d" % i
            sbtest.check_ok(c.request(sbtest.notice(
                source="web", audience=audience, subject=subject, **extra)))
            path = os.path.join(tmp, "var", feed)
            sbtest.wait_until(lambda: _lines_with(path, subject), daemon=d,
                              what="%s in %s" % (subject, feed))
        # Batch notices are accepted and held for the digest: the default
        # window is 15 minutes, so while a realtime notice to the same
        # audience goes through, the batch one stays in the digest.
        r = sbtest.check_ok(c.request(sbtest.notice(
            source="web", audience=["mgmt:board"], subject="digest me")))
        assert r.get("class") == "batch", r
        assert r.get("channels") == ["mgmt-digest"], r
        r = sbtest.check_ok(c.request(sbtest.notice(
            source="web", audience=["mgmt:board"], subject="mgmt now",
            priority="high")))
        assert r.get("class") == "realtime", r
        fan = os.path.join(tmp, "var", "exec-deliveries.jsonl")
        sbtest.wait_until(lambda: _lines_with(fan, "mgmt now"), daemon=d,
                          what="mgmt now in exec-deliveries.jsonl")
        digest = os.path.join(tmp, "var", "mgmt-digest.jsonl")
        assert not _lines_with(digest, "digest me"), \
            "a batch notice left before its 15m window"
        # Internal and external in one notice: every channel refuses it.
        sbtest.check_error(c.request(sbtest.notice(
            source="web", audience=["staff:alice", "customer:acme"],
            priority="urgent")), "no_route",
            words=["customer:acme", "not allowed"])
        # Load generators are swallowed by the discard channel.
        r = sbtest.check_ok(c.request(sbtest.notice(
            source="sbbench", audience=["staff:alice"])))
        assert r.get("channels") == ["sink"], r
        # The customer feed never carried anything internal.
        for n in sbtest.read_jsonl(os.path.join(tmp, "var",
                                                "customer-feed.jsonl")):
            assert all(a.startswith("customer:") for a in n["audience"]), n
    finally:
        try:
            d.stop()
        finally:
            d.kill()
    shutil.rmtree(tmp, ignore_errors=True)
