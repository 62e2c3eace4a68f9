"""Dropping root (docs/security.md): started as root with `user` and
`group`, switchboardd binds, opens its spool and channels, then becomes
that user and group for good, in every thread; what it runs (exec
channels) runs as that user too. Needs root: skipped otherwise."""

import grp
import os
import pwd

import pytest

from sbtest import (check_ok, clist, ids_in, make_config, notice,
                    wait_until)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="dropping privileges needs root")

USER = "nobody"
GROUP = "nogroup"

# The exec channel writes who it runs as.
WHOAMI = 'id -u > whoami.txt; id -G >> whoami.txt; cat > /dev/null'

CHANNELS = ('feed = { type = "file"; path = "feed.jsonl"; };\n'
            'who = { type = "exec"; command = %s; timeout = "10s"; };'
            % clist(["/bin/sh", "-c", WHOAMI]))
ROUTES = '{ channels = [ "feed", "who" ]; }'


def ids():
    return pwd.getpwnam(USER).pw_uid, grp.getgrnam(GROUP).gr_gid


def proc_ids(pid):
    """{tid: (uids, gids, groups, CapEff)} of every thread of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        fields = {}
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                k, _, v = line.partition(":")
                fields[k] = v.split()
        out[tid] = (fields["Uid"], fields["Gid"], fields["Groups"],
                    fields["CapEff"])
    return out


def start(sb, extra):
    d = sb.prepare(CHANNELS, ROUTES)
    make_config(d.dir, CHANNELS, ROUTES, extra=extra)
    uid, gid = ids()
    # The daemon's own directory is the user's, as StateDirectory= is.
    os.chown(d.dir, uid, gid)
    return d.start()


def test_drops_root_for_good_in_every_thread(sb):
    uid, gid = ids()
    d = start(sb, 'user = "%s"; group = "%s";' % (USER, GROUP))
    assert "privileges dropped user=%s uid=%d group=%s gid=%d" % (
        USER, uid, GROUP, gid) in d.log()
    threads = proc_ids(d.proc.pid)
    # libzmq's I/O threads and the main one alike.
    assert len(threads) >= 2, threads
    for tid, (uids, gids, groups, cap) in threads.items():
        assert uids == [str(uid)] * 4, (tid, uids)
        assert gids == [str(gid)] * 4, (tid, gids)
        assert groups == [str(gid)], (tid, groups)
        assert int(cap[0], 16) == 0, (tid, cap)
    # It still works: the spool takes notices, the channels deliver, and
    # a command it runs runs as the user.
    c = d.client()
    check_ok(c.request(notice(id="pd-1")))
    wait_until(lambda: "pd-1" in ids_in(d.path("feed.jsonl")),
               what="pd-1 delivered", daemon=d)
    wait_until(lambda: os.path.exists(d.path("whoami.txt")) and
               open(d.path("whoami.txt")).read().count("\n") == 2,
               what="exec channel ran", daemon=d)
    with open(d.path("whoami.txt")) as f:
        assert f.read().split() == [str(uid), str(gid)]
    d.stop()
    # And it starts again (as root, dropping again) on what it left.
    d.stopped = False
    d.start()
    check_ok(d.client().request(notice(id="pd-2")))
    wait_until(lambda: "pd-2" in ids_in(d.path("feed.jsonl")),
               what="pd-2 delivered after a restart", daemon=d)


def test_login_group_by_default(sb):
    uid, gid = ids()
    d = start(sb, 'user = "%s";' % USER)
    pw_gid = pwd.getpwnam(USER).pw_gid
    for uids, gids, groups, _ in proc_ids(d.proc.pid).values():
        assert uids == [str(uid)] * 4
        assert gids == [str(pw_gid)] * 4
        assert groups == [str(pw_gid)]


def test_root_without_user_is_warned(sb):
    d = sb.start(CHANNELS, ROUTES)
    assert "running as root: set user (and group)" in d.log()
    uids = proc_ids(d.proc.pid)
    assert all(u[0][1] == "0" for u in uids.values())
