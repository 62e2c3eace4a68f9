"""GET /metrics (docs/metrics.md) against a real switchboardd: the text
passes `promtool check metrics` (Debian's prometheus package, installed by
tools/install-deps), and the numbers follow what the daemon did: notices
accepted and rejected, deliveries and their times, acks and response
times, escalations by level, expiries, pending deliveries, channel states,
reloads.
"""

import shutil
import subprocess

from sbstatus import ask, http_config, http_request, metric, metrics
from sbtest import check_ok, free_tcp_port, notice, wait_until

CHANNELS = """
feed = { type = "file"; path = "feed.jsonl"; };
pager = { type = "file"; path = "pager.jsonl"; };
"""
ROUTES = '{ name = "all"; channels = "feed"; }'
ESCALATION = """
escalations = { ops = { levels = ( { after = "1s"; channels = "pager"; } ); }; };
policies = { interactive = { escalation = "ops"; }; };
"""


def start(sb, extra="", **kw):
    port = free_tcp_port()
    d = sb.start(CHANNELS, ROUTES, extra=http_config(port) + extra, **kw)
    d.port = port
    d.sock = d.path("status.sock")
    return d


def promtool_check(port):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: run tools/install-deps " \
        "(Debian's prometheus package)"
    status, _, text = http_request(port, "GET", "/metrics")
    assert status == 200
    r = subprocess.run([promtool, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "promtool:\n%s%s" % (r.stdout, r.stderr)
    return text


def test_metrics_pass_promtool_idle_and_busy(sb):
    d = start(sb, ESCALATION)
    text = promtool_check(d.port)
    assert "# TYPE switchboard_delivery_duration_seconds histogram" in text
    c = d.client()
    for i in range(3):
        check_ok(c.request(notice(id="n-%d" % i, priority="high")))
    check_ok(c.request(notice(id="ask-1", respond_within="1h")))
    assert ask(d.sock, "ack ask-1 alice")["ok"] is True
    c.request(b"{not json")
    wait_until(lambda: metric(metrics(d.port), "deliveries_total",
               channel="feed", outcome="delivered") == 4, daemon=d,
               what="4 deliveries counted")
    promtool_check(d.port)


def test_metric_values_follow_the_daemon(sb):
    # b-1 must still wait in its digest when the figures are read: a 1 s
    # window can pass first on a slow machine (and count a 5th delivery).
    d = start(sb, batch_window="1h")
    c = d.client()
    for i in range(3):
        check_ok(c.request(notice(id="rt-%d" % i, priority="urgent")))
    check_ok(c.request(notice(id="b-1")))
    check_ok(c.request(notice(id="ask-1", respond_within="1h")))
    check_ok(c.request(notice(id="rt-0", priority="urgent")))   # duplicate
    assert c.request(b"{not json")["ok"] is False
    assert c.request({"source": "app"})["ok"] is False         # missing
    wait_until(lambda: metric(metrics(d.port), "deliveries_total",
               channel="feed", outcome="delivered") == 4, daemon=d,
               what="4 deliveries on feed")    # b-1 waits in its digest
    m = metrics(d.port)
    assert metric(m, "notices_accepted_total", **{"class": "realtime"}) == 3
    assert metric(m, "notices_accepted_total", **{"class": "batch"}) == 1
    assert metric(m, "notices_accepted_total",
                  **{"class": "interactive"}) == 1
    assert metric(m, "notices_duplicate_total") == 1
    assert metric(m, "requests_rejected_total", code="bad_json") == 1
    assert metric(m, "requests_rejected_total", code="missing_field") == 1
    assert metric(m, "requests_rejected_total", code="no_route") == 0
    assert metric(m, "delivery_duration_seconds_count", channel="feed") == 4
    assert metric(m, "delivery_duration_seconds_bucket", channel="feed",
                  le="+Inf") == 4
    assert metric(m, "deliveries_total", channel="pager",
                  outcome="delivered") == 0
    assert metric(m, "pending_deliveries", state="batched") == 1
    assert metric(m, "awaiting_ack") == 1
    assert metric(m, "channel_up", channel="feed") == 1
    assert metric(m, "response_duration_seconds_count") == 0
    assert metric(m, "reloads_total", result="ok") == 0
    assert metric(m, "last_reload_success") == 1
    assert metric(m, "build_info", version=ask(d.sock, "status")[
        "version"]) == 1
    # An ack, a pause with a notice held, a good and a bad reload.
    assert ask(d.sock, "ack ask-1 alice")["ok"] is True
    assert ask(d.sock, "pause feed")["ok"] is True
    check_ok(c.request(notice(id="rt-held", priority="urgent")))
    assert ask(d.sock, "reload")["ok"] is True
    with open(d.config, "a") as f:
        f.write("\nbroken = ;\n")
    assert ask(d.sock, "reload")["ok"] is False
    m = metrics(d.port)
    assert metric(m, "response_duration_seconds_count") == 1
    assert metric(m, "response_duration_seconds_bucket", le="+Inf") == 1
    assert metric(m, "acks_total", late="false") == 1
    assert metric(m, "awaiting_ack") == 0
    assert metric(m, "channel_up", channel="feed") == 0
    assert metric(m, "channel_paused", channel="feed") == 1
    assert metric(m, "channel_up", channel="pager") == 1
    assert metric(m, "pending_deliveries", state="queued") == 1
    assert metric(m, "channel_queue_depth", channel="feed") == 1
    assert metric(m, "reloads_total", result="ok") == 1
    assert metric(m, "reloads_total", result="failed") == 1
    assert metric(m, "last_reload_success") == 0
    assert metric(m, "last_reload_timestamp_seconds") > 1e9
    assert metric(m, "spool_commits_total") > 0
    assert metric(m, "spool_failures_total") == 0
    assert ask(d.sock, "resume feed")["ok"] is True   # no drain wait


def test_escalations_and_expiry_counted(sb):
    d = start(sb, ESCALATION)
    c = d.client()
    check_ok(c.request(notice(id="ask-late", respond_within="1s")))
    wait_until(lambda: metric(metrics(d.port), "escalations_total",
                              level="1") == 1, daemon=d,
               what="the level 1 escalation counted")
    wait_until(lambda: metric(metrics(d.port), "notices_expired_total")
               == 1, daemon=d, what="the expiry counted")
    # Counted when it fires; the pager's delivery of it comes after.
    wait_until(lambda: metric(metrics(d.port), "deliveries_total",
                              channel="pager", outcome="delivered") >= 1,
               daemon=d, what="the escalation delivered to the pager")
    m = metrics(d.port)
    assert metric(m, "escalations_total", level="2") == 0
    assert metric(m, "deliveries_total", channel="pager",
                  outcome="delivered") == 1
    assert metric(m, "awaiting_ack") == 0
    # Acked after it expired: a late ack, its response time still kept.
    assert ask(d.sock, "ack ask-late bob")["ok"] is True
    m = metrics(d.port)
    assert metric(m, "acks_total", late="true") == 1
    assert metric(m, "response_duration_seconds_count") == 1
    assert metric(m, "response_duration_seconds_bucket", le="1") == 0
