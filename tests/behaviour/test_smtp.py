"""smtp channels against a real relay on 127.0.0.1 (fakes.MailSink, from
python3-aiosmtpd), the mail parsed back with Python's email package: From,
To and Bcc from the recipients mapping, an RFC 2047 subject, Date,
Message-ID, the X-Switchboard ids, a UTF-8 body and the ack link of an
interactive notice; 4xx retryable, 5xx permanent to the fallback; STARTTLS
with AUTH and certificate verification."""

import email.utils
import os
import re

import pytest

from fakes import MailSink, make_cert
from sbstatus import ack_token
from sbtest import check_ok, cstr, ids_in, make_dir, notice, outcomes, \
    wait_until

SECRET = b"mail-ack-secret-0123456789abcdef"
PASSWORD = "pw-9c1e-never-in-a-log"


@pytest.fixture
def sink():
    s = MailSink()
    yield s
    s.close()


def mail_channel(url, name="mail", extra="", rules=None):
    """The relay never stalls: the timeout is only a hang guard, long
    enough that a slow machine never turns an answer into a retryable
    timeout (the tests count outcomes and mails)."""
    rules = rules or ('( { audience = [ "dept:*", "staff:*" ]; '
                      'to = [ "ops@example.org", "team@example.org" ]; '
                      'bcc = "audit@example.org"; }, '
                      '{ audience = "mgmt:*"; to = "board@example.org"; } )')
    return ('%s = { type = "smtp"; url = %s; from = "sb@example.org"; '
            'from_name = "Switchboard Störungsdienst"; recipients = %s; '
            'timeout = "30s"; retry = { max = 1; backoff = "100ms"; '
            'backoff_max = "100ms"; }; %s };' % (name, cstr(url), rules,
                                                 extra))


def start(sb, channels, routes='{ channels = [ "mail" ]; }', extra="",
          files=()):
    d = sb.prepare(channels, routes, extra=extra)
    for name, text in files:
        path = d.path(name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
    return d.start()


def body_of(m):
    return m["msg"].get_content().replace("\r\n", "\n")


def test_mail_headers_and_body(sb, sink):
    extra = ('http = { public_url = "https://sb.example.org"; '
             'ack_secret_file = "ack.secret"; };')
    d = start(sb, mail_channel(sink.url()), extra=extra,
              files=[("ack.secret", SECRET.decode())])
    c = d.client()
    subject = "Stromausfall in Halle 3 – bitte prüfen ✓ " + "x" * 60
    body = "Grüße aus dem Lager.\nZeile zwei: 100 % sicher.\n"
    check_ok(c.request(notice(id="m-1", subject=subject, body=body,
                              priority="high", audience=["dept:ops",
                                                         "mgmt:cfo"],
                              respond_within="1h")))
    wait_until(lambda: sink.received(), what="a mail", daemon=d)
    m = sink.received()[0]
    msg = m["msg"]
    assert m["from"] == "sb@example.org"
    assert sorted(m["rcpt"]) == sorted(["ops@example.org",
                                        "team@example.org",
                                        "audit@example.org",
                                        "board@example.org"])
    assert msg["From"].addresses[0].display_name == \
        "Switchboard Störungsdienst"
    assert msg["From"].addresses[0].addr_spec == "sb@example.org"
    to = sorted(a.addr_spec for a in msg["To"].addresses)
    assert to == ["board@example.org", "ops@example.org",
                  "team@example.org"]
    assert msg["Bcc"] is None and b"audit@" not in m["raw"]
    assert msg["Subject"] == subject
    raw_headers = m["raw"].split(b"\r\n\r\n")[0]
    assert b"=?UTF-8?B?" in raw_headers, "subject not RFC 2047 encoded"
    assert all(len(line) <= 78 for line in raw_headers.split(b"\r\n")), \
        raw_headers
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    assert re.fullmatch(r"<[0-9a-f]{32}\.switchboard@example\.org>",
                        msg["Message-ID"]), msg["Message-ID"]
    assert msg["X-Switchboard-Id"] == "m-1"
    assert msg["X-Switchboard-Delivery"] == "m-1/mail"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    text = body_of(m)
    assert text.startswith(body)
    token = ack_token("m-1", SECRET)
    assert "Acknowledge: https://sb.example.org/v1/ack/m-1?t=%s" % token \
        in text
    assert b"\n" not in m["raw"].replace(b"\r\n", b""), "a bare LF"


def test_template_subject_is_one_header(sb, sink):
    tpl = ('template = { subject = "[{{priority}}] {{subject}} from '
           '{{source}}"; body = "{{body}}\\n-- {{audience}} {{id}}"; };')
    d = start(sb, mail_channel(sink.url(), extra=tpl))
    c = d.client()
    check_ok(c.request(notice(id="m-2", subject="Plain ASCII",
                              source="hidden-app", anonymous=True,
                              body="b", priority="urgent")))
    wait_until(lambda: sink.received(), what="a mail", daemon=d)
    msg = sink.received()[0]["msg"]
    assert msg["Subject"] == "[urgent] Plain ASCII from anonymous"
    assert body_of(sink.received()[0]) == "b\n-- dept:eng m-2\n"
    assert b"hidden-app" not in sink.received()[0]["raw"]
    assert "Acknowledge" not in body_of(sink.received()[0]), \
        "a realtime notice got an ack link"


def test_4xx_retryable_5xx_permanent(sb, sink):
    rules = ('( { audience = "staff:busy"; to = "busy@example.org"; }, '
             '{ audience = "staff:gone"; to = "nobody@example.org"; }, '
             '{ audience = "staff:ok"; to = "ok@example.org"; } )')
    d = start(sb, mail_channel(sink.url(), rules=rules,
                               extra='fallback = "feed";') +
              '\nfeed = { type = "file"; path = "feed.jsonl"; };')
    c = d.client()
    check_ok(c.request(notice(id="busy-1", audience=["staff:busy"],
                              priority="high")))
    check_ok(c.request(notice(id="gone-1", audience=["staff:gone"],
                              priority="high")))
    check_ok(c.request(notice(id="none-1", audience=["dept:x"],
                              priority="high")))
    wait_until(lambda: {"busy-1", "gone-1", "none-1"} <=
               set(ids_in(d.path("feed.jsonl"))),
               what="three notices on the fallback", daemon=d)
    log = d.log()
    assert outcomes(log, "mail", "busy-1") == ["retryable", "retryable"]
    assert outcomes(log, "mail", "gone-1") == ["permanent"]
    assert outcomes(log, "mail", "none-1") == ["permanent"]
    assert "SMTP 451: 451 4.3.2 mailbox busy" in log
    assert "SMTP 550: 550 5.1.1 no such user here" in log
    assert "no recipient: no rule of recipients matches the audience " \
        "dept:x" in log
    assert sink.received() == []


def test_starttls_auth_and_verification(sb):
    tmp = make_dir()
    cert, key = make_cert(tmp)
    s = MailSink(tls=(cert, key), auth=("sbuser", PASSWORD))
    try:
        tls = ('starttls = "required"; auth_file = "auth"; '
               'ca_file = %s;' % cstr(cert))
        unverified = 'starttls = "required"; auth_file = "auth";'
        d = start(sb, mail_channel(s.url(), extra=tls) + "\n" +
                  mail_channel(s.url(), "strict", unverified),
                  '{ channels = [ "mail", "strict" ]; }',
                  files=[("auth", "sbuser:%s\n" % PASSWORD)])
        c = d.client()
        check_ok(c.request(notice(id="tls-1", priority="high")))
        wait_until(lambda: s.received(), what="a mail over TLS", daemon=d)
        m = s.received()[0]
        assert m["tls"] and m["auth"] == "sbuser"
        wait_until(lambda: len(outcomes(d.log(), "strict", "tls-1")) == 2,
                   what="the unverified channel's two attempts", daemon=d)
        d.stop()
        log = d.log()
        assert outcomes(log, "strict", "tls-1") == ["retryable"] * 2
        assert "certificate" in log.split("channel=strict")[1]
        assert PASSWORD not in log
        assert len(s.received()) == 1
    finally:
        s.close()


def test_digest_is_one_mail(sb, sink):
    d = start(sb, mail_channel(sink.url()),
              extra='policies = { batch = { window = "1h"; '
              'max_items = 3; }; };')
    c = d.client()
    subjects = ["Kantine: Menü der Woche", "Parking closed Friday",
                "New starters: welcome Ana"]
    for i, s in enumerate(subjects):
        check_ok(c.request(notice(id="dg-%d" % i, subject=s,
                                  source="hr-portal",
                                  audience=["staff:*"] if i else
                                  ["dept:all"])))
    wait_until(lambda: sink.received(), what="the digest mail", daemon=d)
    d.stop()
    mails = sink.received()
    assert len(mails) == 1, "%d mails for one digest" % len(mails)
    msg = mails[0]["msg"]
    assert msg["Subject"] == "Digest of 3 notices"
    lines = body_of(mails[0]).strip("\n").split("\n")
    assert lines == ["- [normal] %s (hr-portal)" % s for s in subjects]
    assert msg["X-Switchboard-Class"] == "batch"
