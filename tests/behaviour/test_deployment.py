"""test_deployment: what an admin installs and reads, each checked against
the real thing: the systemd unit and its sandbox (systemd-analyze), `make
install` into a DESTDIR, the manual pages (mandoc, and each page against
the code it describes), the example configs (switchboardd -t and dry runs)
and the client examples of docs/clients/ (run against a real daemon).

The tests that build or install run `make` on the default build directory
(build/), whatever SB_BUILD says: an install is of the normal build. The
others run the binaries of SB_BUILD, as every behaviour test does.
SB_BOOT_TEST=1 adds a boot of the installed unit under systemd in a
container (systemd-nspawn, root only; see test_unit_boots).
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time

import pytest
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sbtest  # noqa: E402

ROOT = sbtest.ROOT
BUILD = os.path.join(ROOT, "build")
UNIT = os.path.join(ROOT, "systemd", "switchboard.service")
MAN = os.path.join(ROOT, "man")
PAGES = ["sbctl.1", "switchboard.conf.5", "switchboard-protocol.7",
         "switchboardd.8"]
CLIENTS = os.path.join(ROOT, "docs", "clients")
EXAMPLES = os.path.join(ROOT, "conf", "examples")
MAX_EXPOSURE = 1.5

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed "
    "(tools/install-deps installs the systemd package)")


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(cmd, **kw)


def make(*args):
    """make in the source tree, on build/. The parent make's jobserver
    descriptors are not passed down, so its flags are not either."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = run(["make", "-s", "-C", ROOT, "BUILD=build"] + list(args),
            env=env)
    assert r.returncode == 0, "make %s failed:\n%s%s" % (
        " ".join(args), r.stdout, r.stderr)
    return r


def files_under(top):
    """Every file (not directory) under top, as paths relative to it."""
    out = set()
    for d, _, names in os.walk(top):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), top))
    return out


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def unit_settings(path):
    """The unit's [Service] settings: key -> every value, in order (a
    key such as ExecReload= may be given several times)."""
    section, out = None, {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]":
                k, _, v = line.partition("=")
                out.setdefault(k, []).append(v)
    return out


# --- The unit ---------------------------------------------------------


def exposure(path):
    r = run([ANALYZE, "security", "--offline=true", "--no-pager", path])
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert m, "no exposure level in systemd-analyze's output (%d):\n%s%s" \
        % (r.returncode, r.stdout, r.stderr)
    return float(m.group(1)), r.stdout


@needs_analyze
def test_unit_sandbox_exposure():
    level, text = exposure(UNIT)
    worst = [ln for ln in text.splitlines() if ln.startswith("\u2717")]
    assert level <= MAX_EXPOSURE, \
        "exposure %.1f is over %.1f; the settings that cost:\n%s" % (
            level, MAX_EXPOSURE, "\n".join(worst))


def test_unit_contract():
    """What the issue and SPEC section 6 promise of the unit."""
    s = unit_settings(UNIT)
    assert s["Type"] == ["notify"]
    assert s.get("WatchdogSec"), "no WatchdogSec="
    assert s["User"] == ["switchboard"] and s["Group"] == ["switchboard"]
    assert s["StateDirectory"] == ["switchboard"]
    assert s["RuntimeDirectory"] == ["switchboard"]
    assert s["ConfigurationDirectory"] == ["switchboard"]
    conf = "/etc/switchboard/switchboard.conf"
    assert s["ExecStart"] == ["/usr/local/sbin/switchboardd -f -c " + conf]
    check = "/usr/local/sbin/switchboardd -t -c " + conf
    assert s["ExecStartPre"] == [check]
    # Reload checks the file first, so a bad one fails the reload.
    assert s["ExecReload"] == [check, "/bin/kill -HUP $MAINPID"]


@needs_analyze
def test_unit_verifies(tmp_path):
    """The unit as installed (its paths then exist) passes verify."""
    prefix = tmp_path / "usr"
    make("install", "PREFIX=%s" % prefix,
         "SYSCONFDIR=%s" % (tmp_path / "etc"))
    unit = prefix / "lib" / "systemd" / "system" / "switchboard.service"
    s = unit_settings(unit)
    assert s["ExecStart"] == ["%s/sbin/switchboardd -f -c %s" % (
        prefix, tmp_path / "etc" / "switchboard" / "switchboard.conf")]
    # verify also runs man(1) on the unit's Documentation= pages: they
    # must be found where install put them.
    r = run([ANALYZE, "verify", "--no-pager", str(unit)],
            env=dict(os.environ, MANPATH=str(prefix / "share" / "man")))
    ours = [ln for ln in (r.stdout + r.stderr).splitlines()
            if "switchboard" in ln]
    assert r.returncode == 0 and not ours, \
        "systemd-analyze verify (%d):\n%s%s" % (r.returncode, r.stdout,
                                               r.stderr)
    level, _ = exposure(str(unit))
    assert level <= MAX_EXPOSURE


# --- make install -----------------------------------------------------


def installed_files(built_sbbench):
    files = {
        "usr/local/sbin/switchboardd",
        "usr/local/bin/sbctl",
        "usr/local/libexec/switchboard/deliver-example.sh",
        "usr/local/share/man/man1/sbctl.1",
        "usr/local/share/man/man5/switchboard.conf.5",
        "usr/local/share/man/man7/switchboard-protocol.7",
        "usr/local/share/man/man8/switchboardd.8",
        "usr/local/lib/systemd/system/switchboard.service",
        "usr/local/lib/sysusers.d/switchboard.conf",
        "usr/local/lib/tmpfiles.d/switchboard.conf",
        "usr/local/share/doc/switchboard/clients.md",
        "etc/switchboard/switchboard.conf",
    }
    files |= {"usr/local/share/doc/switchboard/clients/" + c for c in
              ("publisher.c", "publisher.py", "publisher.sh",
               "publisher.js")}
    files |= {"usr/local/share/doc/switchboard/examples/" + e for e in
              os.listdir(EXAMPLES) if e.endswith(".conf")}
    if built_sbbench:
        files.add("usr/local/bin/sbbench")
    return files


def test_install_tree(tmp_path):
    dest = tmp_path / "dest"
    make("install", "DESTDIR=%s" % dest)
    sbbench = os.path.exists(os.path.join(ROOT, "tools", "sbbench.c"))
    want = installed_files(sbbench)
    assert files_under(dest) == want, \
        "missing: %s; unexpected: %s" % (
            sorted(want - files_under(dest)),
            sorted(files_under(dest) - want))
    for f in want:
        p = dest / f
        if "/bin/" in f or "/sbin/" in f or f.endswith(".sh") and \
                "libexec" in f:
            assert mode(p) == 0o755, f
        elif f == "etc/switchboard/switchboard.conf":
            assert mode(p) == 0o640, f
        else:
            assert mode(p) == 0o644, f
    # The installed man pages and unit are the tree's.
    for page in PAGES:
        sec = page.rsplit(".", 1)[1]
        with open(os.path.join(MAN, page)) as a, \
                open(dest / ("usr/local/share/man/man%s/%s" %
                             (sec, page))) as b:
            assert a.read() == b.read(), page
    with open(UNIT) as a, open(dest / "usr/local/lib/systemd/system/"
                               "switchboard.service") as b:
        assert a.read() == b.read(), "the default prefix changes nothing"


def test_install_default_config(tmp_path):
    """The installed default config runs under the unit: no path left
    relative to the source tree, and it is valid."""
    dest = tmp_path / "dest"
    make("install", "DESTDIR=%s" % dest)
    conf = dest / "etc" / "switchboard" / "switchboard.conf"
    text = conf.read_text()
    rel = re.findall(r'"(?:ipc://)?(?:var|conf)/[^"]*"', text)
    assert not rel, "paths relative to the source tree: %s" % rel
    assert '"/var/lib/switchboard/spool.db"' in text
    assert '"/run/switchboard/switchboard.sock"' in text
    assert '"/usr/local/libexec/switchboard/deliver-example.sh"' in text
    r = run([str(dest / "usr/local/sbin/switchboardd"), "-t", "-c",
             str(conf)])
    assert r.returncode == 0, r.stderr


def test_install_keeps_config_and_uninstalls(tmp_path):
    dest = tmp_path / "dest"
    make("install", "DESTDIR=%s" % dest)
    conf = dest / "etc" / "switchboard" / "switchboard.conf"
    conf.write_text("# edited by the admin\n" + conf.read_text())
    r = make("install", "DESTDIR=%s" % dest)
    assert "kept the existing" in r.stdout
    assert conf.read_text().startswith("# edited by the admin\n")
    make("uninstall", "DESTDIR=%s" % dest)
    assert files_under(dest) == {"etc/switchboard/switchboard.conf"}
    assert not (dest / "usr/local/share/doc/switchboard").exists()
    assert not (dest / "usr/local/libexec/switchboard").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
@pytest.mark.skipif(shutil.which("systemd-sysusers") is None or
                    shutil.which("systemd-tmpfiles") is None,
                    reason="systemd-sysusers or systemd-tmpfiles missing")
def test_install_sysusers_tmpfiles(tmp_path):
    """sysusers makes the user, tmpfiles the state directory and the
    config's group, in the DESTDIR as on a real root."""
    dest = tmp_path / "dest"
    make("install", "DESTDIR=%s" % dest)
    (dest / "etc" / "switchboard" / "relay.secret").write_text("u:p\n")
    (dest / "etc" / "switchboard" / "ingress.key").write_text("k\n")
    r = run(["systemd-sysusers", "--root=%s" % dest,
             str(dest / "usr/local/lib/sysusers.d/switchboard.conf")])
    assert r.returncode == 0, r.stderr
    passwd = [ln.split(":") for ln in
              (dest / "etc" / "passwd").read_text().splitlines()]
    user = [p for p in passwd if p[0] == "switchboard"]
    assert user, "no user switchboard in %s" % passwd
    uid, gid = int(user[0][2]), int(user[0][3])
    assert user[0][5] == "/var/lib/switchboard"
    r = run(["systemd-tmpfiles", "--root=%s" % dest, "--create",
             str(dest / "usr/local/lib/tmpfiles.d/switchboard.conf")])
    assert r.returncode == 0, r.stderr
    st = os.stat(dest / "var" / "lib" / "switchboard")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == \
        (uid, gid, 0o750)
    for name in ("switchboard.conf", "relay.secret", "ingress.key"):
        st = os.stat(dest / "etc" / "switchboard" / name)
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == \
            (0, gid, 0o640), name


# --- Manual pages -----------------------------------------------------


def test_conf_man_in_sync(tmp_path):
    """switchboard.conf(5) holds the option table as the code has it."""
    make("build/sbconfdoc")
    r = run([os.path.join(BUILD, "sbconfdoc"),
             os.path.join(MAN, "switchboard.conf.5.in")])
    assert r.returncode == 0, r.stderr
    with open(os.path.join(MAN, "switchboard.conf.5")) as f:
        assert f.read() == r.stdout, \
            "man/switchboard.conf.5 is out of date: run `make man`"


def test_man_lint():
    """mandoc -T lint, all levels, says nothing about our pages. Run in
    man/ so that the pages' references to each other resolve; messages
    about other projects' pages (installed or not here) are not ours."""
    assert shutil.which("mandoc"), "mandoc missing: run tools/install-deps"
    ours = {p.rsplit(".", 1)[0] for p in PAGES}
    r = run(["mandoc", "-T", "lint"] + PAGES, cwd=MAN)
    bad = []
    for ln in (r.stdout + r.stderr).splitlines():
        if "outdated mandoc.db" in ln:
            continue
        m = re.search(r"referenced manual not found: Xr (\S+) ", ln)
        if m and m.group(1) not in ours:
            continue
        bad.append(ln)
    assert not bad, "\n".join(bad)
    for page in PAGES:
        r = run(["mandoc", "-T", "utf8", page], cwd=MAN)
        assert r.returncode == 0 and len(r.stdout) > 1000, page


def man_source(page):
    with open(os.path.join(MAN, page)) as f:
        return f.read()


def man_section(text, name):
    """The source lines of one .Sh section."""
    m = re.search(r"^\.Sh %s\n(.*?)(?=^\.Sh |\Z)" % re.escape(name), text,
                  re.M | re.S)
    assert m, "no section %s" % name
    return m.group(1)


def daemon_check(tmp_path, text):
    conf = tmp_path / "probe.conf"
    conf.write_text(text)
    r = run([sbtest.DAEMON, "-t", "-c", str(conf)])
    return r.stderr


def channel_probe(tmp_path, ctype, key):
    """switchboardd -t on a channel of ctype with key set: its errors."""
    return daemon_check(tmp_path, """
ingress = { router = "ipc://probe.ipc"; };
channels = { c = { type = "%s"; %s = "x"; }; };
routes = ( { channels = "c"; } );
""" % (ctype, key))


def test_conf_man_channel_types(tmp_path):
    """Every channel type has a section in switchboard.conf(5) listing
    exactly the options that type takes beside the common ones."""
    err = daemon_check(tmp_path, """
ingress = { router = "ipc://probe.ipc"; };
channels = { c = { type = "no-such-type"; }; };
routes = ( { channels = "c"; } );
""")
    m = re.search(r"unknown channel type 'no-such-type' \(expected one "
                  r"of: ([^)]*)\)", err)
    assert m, err
    types = [t.strip() for t in m.group(1).split(",")]
    text = man_source("switchboard.conf.5")
    common = set(re.findall(r"^\.It Cm channels\.<name>\.(\w+)", text,
                            re.M))
    assert {"type", "owner", "audiences"} <= common
    section = man_section(text, "CHANNEL TYPES")
    documented = {}
    for part in re.split(r"^\.Ss ", section, flags=re.M)[1:]:
        name, _, body = part.partition("\n")
        opts = set()
        for item in re.findall(r"^\.It (.*)$", body, re.M):
            opts |= set(re.findall(r"Cm (\w+)", item))
        documented[name.strip()] = opts
    assert set(documented) == set(types), \
        "types: the daemon has %s, the page %s" % (types,
                                                   sorted(documented))
    for t in types:
        for opt in documented[t]:
            out = channel_probe(tmp_path, t, opt)
            assert "unknown option '%s'" % opt not in out, \
                "the page gives %s an option %s it does not take" % (t,
                                                                     opt)
        # The daemon names its options when it refuses one; every word
        # of that message that the daemon then takes as an option must
        # be on the page.
        out = channel_probe(tmp_path, t, "no_such_option")
        m = re.search(r"unknown option 'no_such_option'[^(]*\(([^)]*)\)",
                      out)
        assert m, out
        for word in set(re.findall(r"[a-z][a-z0-9_]*", m.group(1))):
            if word in documented[t] or word in common or word == t:
                continue
            probe = channel_probe(tmp_path, t, word)
            assert "unknown option '%s'" % word in probe, \
                "type %s takes '%s', which the page does not list" % (
                    t, word)


def test_sbctl_man_commands():
    r = run([sbtest.SBCTL, "help"])
    assert r.returncode == 0
    listed = re.findall(r"^  (\w+) ", r.stdout, re.M)
    assert "publish" in listed
    sections = set(re.findall(r"^\.Ss (\w+)$", man_source("sbctl.1"),
                              re.M))
    missing = [c for c in listed if c not in sections]
    assert not missing, "sbctl.1 lacks the commands %s" % missing


def test_switchboardd_man_flags():
    r = run([sbtest.DAEMON, "-h"])
    m = re.search(r"usage: switchboardd \[-(\w+)\] \[-c file\]", r.stderr)
    assert m, r.stderr
    flags = set(m.group(1)) | {"c"}
    documented = set(re.findall(r"^\.It Fl (\w)\b", man_source(
        "switchboardd.8"), re.M))
    assert flags == documented, \
        "usage has %s, the page %s" % (sorted(flags), sorted(documented))


def test_protocol_man_error_codes():
    with open(os.path.join(ROOT, "include", "sb_protocol.h")) as f:
        header = f.read()
    m = re.search(r"names\[SB_ERR_COUNT\] = \{(.*?)\};", header, re.S)
    assert m
    codes = re.findall(r'"(\w+)"', m.group(1))
    codes.remove("ok")
    text = man_section(man_source("switchboard-protocol.7"), "DESCRIPTION")
    documented = re.findall(r"^\.It Cm (\w+)$",
                            text.split(".Ss Error codes", 1)[1], re.M)
    assert documented == codes


# --- Example configs --------------------------------------------------


def examples():
    return sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".conf"))


@pytest.mark.parametrize("name", examples())
def test_example_checks(name):
    path = os.path.join(EXAMPLES, name)
    r = run([sbtest.DAEMON, "-t", "-c", path])
    assert r.returncode == 0 and r.stderr.strip() == path + ": ok", \
        r.stderr


# (file, notice, class, channels) — None as class: refused, no_route.
ROUTES = [
    ("office.conf", {"source": "hr", "audience": ["staff:*"],
                     "subject": "Fire drill", "priority": "high"},
     "realtime", ["office-chat"]),
    ("office.conf", {"source": "hr", "audience": ["staff:*"],
                     "subject": "Menu"}, "batch", ["staff-mail"]),
    ("office.conf", {"source": "web", "audience": ["customer:*"],
                     "subject": "Closed Friday"}, "batch",
     ["customer-news"]),
    ("office.conf", {"source": "it", "audience": ["staff:anna",
                                                  "customer:acme"],
                     "subject": "Mixed"}, None, None),
    ("enterprise.conf", {"source": "monitoring", "audience": ["dept:ops"],
                         "subject": "Disk", "priority": "high"},
     "realtime", ["staff-chat", "noc-fanout", "intranet"]),
    ("enterprise.conf", {"source": "it", "audience": ["dept:ops"],
                         "subject": "Printer?", "goal": "resolve"},
     "interactive", ["tickets", "staff-chat", "noc-fanout", "intranet"]),
    ("enterprise.conf", {"source": "survey", "audience": ["customer:acme"],
                         "subject": "How did we do?", "goal": "collect"},
     "interactive", ["customer-portal", "customer-mail"]),
    ("enterprise.conf", {"source": "pm", "audience": ["partner:globex"],
                         "subject": "API change"}, "batch",
     ["partner-portal"]),
    ("enterprise.conf", {"source": "ceo", "audience": ["mgmt:board"],
                         "subject": "Decide", "respond_within": "1h"},
     "interactive", ["mgmt-chat", "intranet"]),
    ("enterprise.conf", {"source": "x", "audience": ["dept:ops",
                                                     "customer:acme"],
                         "subject": "Leak?"}, None, None),
    ("oncall.conf", {"source": "alertmanager",
                     "audience": ["role:oncall-sre"],
                     "subject": "db1 down", "priority": "high"},
     "interactive", ["page-primary", "team-chat", "wall", "page-log"]),
    ("oncall.conf", {"source": "heartbeat", "audience": ["role:oncall-sre"],
                     "subject": "tick"}, "batch", ["heartbeats"]),
]


@pytest.mark.parametrize("name,notice,cls,channels", ROUTES)
def test_example_routes(name, notice, cls, channels):
    """A dry run shows each example does what its comments say; in
    particular internal and external audiences never share a channel."""
    notice = dict(notice, id="dry-run-1")
    r = run([sbtest.SBCTL, "route", "--json", "-c",
             os.path.join(EXAMPLES, name)], input=json.dumps(notice))
    out = json.loads(r.stdout)
    if cls is None:
        assert r.returncode == 1 and out["error"]["code"] == "no_route", \
            r.stdout
        return
    assert r.returncode == 0, r.stdout + r.stderr
    assert out["class"] == cls
    assert out["channels"] == channels


# --- Client examples --------------------------------------------------


FEED_CHANNELS = 'feed = { type = "file"; path = "feed.jsonl"; };'
FEED_ROUTES = '{ match = { audience = "dept:*"; }; channels = "feed"; }'
SUBJECT = 'Failover "db1" \u2192 db2'
BODY = "line one\nline two, with a \\ and a \"quote\""


@pytest.fixture(scope="module")
def c_publisher(tmp_path_factory):
    """docs/clients/publisher.c, built with the command docs/clients.md
    gives."""
    out = tmp_path_factory.mktemp("client") / "publisher"
    r = run(["sh", "-c", 'cc -o "$1" "$2" $(pkg-config --cflags --libs '
             'libzmq yajl)', "sh", str(out),
             os.path.join(CLIENTS, "publisher.c")])
    assert r.returncode == 0, r.stderr
    return str(out)


def client_cmd(kind, c_publisher, endpoint, timeout_ms, tries, source,
               audience, subject, body=None):
    if kind == "c":
        cmd = [c_publisher, "-e", endpoint, "-t", str(timeout_ms), "-r",
               str(tries), source, audience, subject]
        return cmd + ([body] if body is not None else []), None
    if kind == "python":
        cmd = ["/usr/bin/python3", os.path.join(CLIENTS, "publisher.py"),
               "-e", endpoint, "--timeout", str(timeout_ms / 1000.0),
               "--tries", str(tries), source, audience, subject]
        return cmd + ([body] if body is not None else []), None
    env = dict(os.environ, SB_ENDPOINT=endpoint,
               SBCTL=sbtest.SBCTL,
               TIMEOUT="%dms" % timeout_ms, TRIES=str(tries))
    cmd = ["sh", os.path.join(CLIENTS, "publisher.sh"), source, audience,
           subject]
    return cmd + ([body] if body is not None else []), env


@pytest.mark.parametrize("kind", ["c", "python", "shell"])
def test_client_publishes(sb, c_publisher, kind):
    d = sb.start(FEED_CHANNELS, FEED_ROUTES)
    cmd, env = client_cmd(kind, c_publisher, d.endpoint, 10000, 3,
                          "client-" + kind, "dept:ops,role:oncall",
                          SUBJECT, BODY)
    r = run(cmd, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    reply = json.loads(r.stdout.strip().splitlines()[-1])
    assert reply["ok"] is True and reply["duplicate"] is False
    lines = sbtest.wait_until(lambda: sbtest.read_jsonl(d.path(
        "feed.jsonl")), what="the delivery", daemon=d)
    assert len(lines) == 1
    got = lines[0]
    assert got["id"] == reply["id"] and got["id"].startswith(
        "client-" + kind + "-")
    assert got["source"] == "client-" + kind
    assert got["audience"] == ["dept:ops", "role:oncall"]
    assert got["subject"] == SUBJECT
    assert got["body"] == BODY

    # Refused: exit 1 and the daemon's reason on stderr.
    cmd, env = client_cmd(kind, c_publisher, d.endpoint, 10000, 3,
                          "client-" + kind, "customer:acme", "Hello")
    r = run(cmd, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "no_route" in r.stderr


class SwallowFirst(threading.Thread):
    """A ROUTER that never answers the first request and answers the
    second as the daemon would: the reply a client loses."""

    def __init__(self, endpoint):
        super().__init__(daemon=True)
        self.sock = sbtest.CTX.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(endpoint)
        self.requests = []

    def run(self):
        deadline = time.monotonic() + 60
        while len(self.requests) < 2 and time.monotonic() < deadline:
            if not self.sock.poll(100):
                continue
            frames = self.sock.recv_multipart()
            self.requests.append(json.loads(frames[-1]))
            if len(self.requests) == 2:
                reply = {"ok": True, "id": self.requests[-1]["id"],
                         "class": "batch", "channels": ["feed"],
                         "duplicate": True}
                self.sock.send_multipart([frames[0],
                                          json.dumps(reply).encode()])
        time.sleep(0.2)
        self.sock.close(0)


@pytest.mark.parametrize("kind", ["c", "python", "shell"])
def test_client_resends_same_id(tmp_path, c_publisher, kind):
    """A lost reply: the client tries again on a new socket with the
    same id, so the daemon can answer it as a duplicate."""
    endpoint = "ipc://%s" % (tmp_path / "r.ipc")
    server = SwallowFirst(endpoint)
    server.start()
    cmd, env = client_cmd(kind, c_publisher, endpoint, 700, 3, "resend",
                          "dept:ops", "Once only")
    r = run(cmd, env=env)
    server.join(30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(server.requests) == 2
    first, second = server.requests
    assert first == second and first["id"].startswith("resend-")


@pytest.mark.parametrize("kind", ["c", "python", "shell"])
def test_client_no_answer(tmp_path, c_publisher, kind):
    endpoint = "ipc://%s" % (tmp_path / "nobody.ipc")
    cmd, env = client_cmd(kind, c_publisher, endpoint, 200, 2, "lonely",
                          "dept:ops", "Anyone?")
    r = run(cmd, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""


# --- The unit under systemd (SB_BOOT_TEST=1) --------------------------


class Container:
    """The host's root, read-only below a tmpfs overlay, with `make
    install` in it, booted by systemd-nspawn without network: systemd
    runs the unit exactly as it would on the host."""

    def __init__(self, top):
        self.top = top
        self.root = os.path.join(top, "root")
        self.proc = None
        self.leader = None
        self.mounted = []

    def mount(self):
        os.makedirs(self.top, exist_ok=True)
        self._run(["mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs",
                   self.top])
        self.mounted.append(self.top)
        for d in ("upper", "work", "root"):
            os.mkdir(os.path.join(self.top, d))
        self._run(["mount", "-t", "overlay", "overlay", "-o",
                   "lowerdir=/,upperdir=%s/upper,workdir=%s/work" % (
                       self.top, self.top), self.root])
        self.mounted.append(self.root)

    def boot(self, target):
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", self.root, "-b", "--private-network",
             "--register=no", "--keep-unit", "--link-journal=no",
             "-M", "sbboot", "--console=pipe", "--",
             "systemd.unit=" + target],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

        def leader():
            try:
                with open("/proc/%d/task/%d/children" % (
                        self.proc.pid, self.proc.pid)) as f:
                    kids = f.read().split()
            except FileNotFoundError:
                return None
            return int(kids[0]) if kids else None

        self.leader = sbtest.wait_until(leader, 60, "the container")
        sbtest.wait_until(lambda: self.sh("systemctl is-system-running")
                          .stdout.strip() in ("running", "degraded"), 120,
                          "the container's boot")

    def sh(self, cmd, check=False):
        r = run(["nsenter", "-t", str(self.leader), "-a", "sh", "-c", cmd],
                timeout=120)
        assert not check or r.returncode == 0, "%s: %s%s" % (
            cmd, r.stdout, r.stderr)
        return r

    def prop(self, name):
        return self.sh("systemctl show -P %s switchboard" % name,
                       True).stdout.strip()

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()	# nspawn powers the container off
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for m in reversed(self.mounted):
            run(["umount", m])

    @staticmethod
    def _run(cmd):
        r = run(cmd)
        assert r.returncode == 0, "%s: %s" % (cmd, r.stderr)


@pytest.mark.skipif(os.environ.get("SB_BOOT_TEST") != "1",
                    reason="SB_BOOT_TEST=1 boots the unit in a container")
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
@pytest.mark.skipif(shutil.which("systemd-nspawn") is None,
                    reason="needs systemd-nspawn (package systemd-container)")
def test_unit_boots(tmp_path):
    """The installed unit under a real systemd: the sandbox lets every
    channel type of the default config work, ipc endpoints are reachable,
    a bad reload fails without touching the daemon, the watchdog is fed,
    and stop is clean."""
    c = Container(str(tmp_path / "ct"))
    try:
        c.mount()
        make("install", "DESTDIR=%s" % c.root)
        with open(os.path.join(c.root, "etc/systemd/system/sbtest.target"),
                  "w") as f:
            f.write("[Unit]\nRequires=sysinit.target switchboard.service\n"
                    "After=sysinit.target\n")
        c.boot("sbtest.target")
        sbtest.wait_until(lambda: c.prop("ActiveState") == "active", 60,
                          "switchboard.service to start")
        pid = c.prop("MainPID")
        # Every channel type of the default config, over ipc as a
        # member of the group would, and over tcp.
        r = c.sh("sbctl publish -e ipc:///run/switchboard/switchboard.ipc "
                 "--source boot --audience role:oncall --subject s "
                 "--priority high", True)
        assert json.loads(r.stdout)["channels"] == [
            "incident-hook", "ops-fanout", "staff-bulletin"]
        c.sh("echo '{\"source\":\"b\",\"audience\":[\"customer:*\"],"
             "\"subject\":\"t\"}' | sbctl publish", True)
        state = os.path.join(c.root, "var/lib/switchboard")
        sbtest.wait_until(lambda: sbtest.read_jsonl(os.path.join(
            state, "var/exec-deliveries.jsonl")), 60, "the exec channel")
        assert sbtest.read_jsonl(os.path.join(state,
                                              "staff-bulletin.jsonl"))
        # The group may connect (UMask=0007); nobody else.
        r = c.sh("stat -c '%a %U %G' /run/switchboard "
                 "/run/switchboard/switchboard.ipc", True)
        assert r.stdout.split("\n")[:2] == [
            "750 switchboard switchboard", "770 switchboard switchboard"]
        # The status socket, for root and the group.
        r = c.sh("stat -c '%a %G' /run/switchboard/switchboard.sock && "
                 "echo status | socat -t 5 - "
                 "UNIX-CONNECT:/run/switchboard/switchboard.sock", True)
        mode_group, reply = r.stdout.split("\n", 1)
        assert mode_group == "660 switchboard"
        assert json.loads(reply.splitlines()[0])["ok"] is True
        # A bad file: the reload fails and the daemon is not touched.
        conf = os.path.join(c.root, "etc/switchboard/switchboard.conf")
        with open(conf) as f:
            good = f.read()
        with open(conf, "a") as f:
            f.write("no_such_option = 1;\n")
        assert c.sh("systemctl reload switchboard").returncode != 0
        with open(conf, "w") as f:
            f.write(good)
        c.sh("systemctl reload switchboard", True)
        # Past WatchdogSec (30s) the same process still runs.
        time.sleep(35)
        assert c.prop("MainPID") == pid and c.prop("NRestarts") == "0"
        c.sh("systemctl stop switchboard", True)
        assert c.prop("Result") == "success"
        log = c.sh("journalctl -u switchboard --no-pager").stdout
        assert "stopped" in log and "Watchdog" not in log, log
    finally:
        c.close()
