"""conftest: fixtures that start switchboardd for a test and always stop it.

sb (per test) and sb_module (per module) are sbtest.DaemonPool objects:
    d = sb.start(channels_text, routes_text, **make_config_options)
At teardown every daemon gets SIGTERM and must exit 0 within 30 s with no
sanitizer report on its stderr; a failing test shows each daemon's log.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sbtest  # noqa: E402


@pytest.fixture
def sb():
    pool = sbtest.DaemonPool()
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def sb_module():
    pool = sbtest.DaemonPool()
    yield pool
    pool.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for value in getattr(item, "funcargs", {}).values():
        if not isinstance(value, sbtest.DaemonPool):
            continue
        for d in value.daemons:
            rep.sections.append(("switchboardd log (%s)" % d.dir,
                                 d.log_tail(8000)))


@pytest.fixture(autouse=True, scope="module")
def close_stray_sockets():
    """After each test file, close the ZeroMQ sockets it left open on the
    shared context: each would otherwise go on reconnecting to a daemon
    long gone. (What once made later daemons seem not to answer was not
    these but a monitor blocking libzmq's threads: see sbtest.Socket.)"""
    yield
    for s in list(sbtest.CTX._sockets):
        if not s.closed:
            s.close(linger=0)
