#!/usr/bin/env python3
"""publisher.py: publish one notice to switchboardd from Python with pyzmq.

The reliable way: a DEALER socket, a reply awaited for a bounded time, and
on silence the same notice sent again on a new socket. The notice carries
an id made once, before the first try, so a resend after a lost reply is
answered "duplicate" and never delivered twice.

    python3 publisher.py -e tcp://127.0.0.1:7450 --priority high \\
        monitoring dept:ops "Database failover in progress"

Exit 0 when the daemon accepted the notice, 1 when it refused it (the
reply's message says why), 2 on a usage error or when nobody answered.
Needs pyzmq (Debian: python3-zmq; elsewhere: pip install pyzmq).
"""

import argparse
import json
import os
import sys
import time

import zmq


def publish(ctx, endpoint, notice, timeout_s, tries):
    """Send notice until a reply comes; the reply, or None."""
    frame = json.dumps(notice).encode("utf-8")
    for attempt in range(1, tries + 1):
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(endpoint)
            sock.send(frame)
            if sock.poll(int(timeout_s * 1000), zmq.POLLIN):
                return json.loads(sock.recv().decode("utf-8"))
        finally:
            # Closing drops whatever this socket still queued, so a
            # notice that never left is not sent later behind our back.
            sock.close(0)
        print("publisher: no reply from %s within %gs (try %d of %d)" %
              (endpoint, timeout_s, attempt, tries), file=sys.stderr)
    return None


def main():
    p = argparse.ArgumentParser(description="Publish one notice.")
    p.add_argument("-e", "--endpoint", default=os.environ.get(
        "SB_ENDPOINT") or "tcp://127.0.0.1:7450")
    p.add_argument("--priority", choices=["low", "normal", "high",
                                          "urgent"])
    p.add_argument("--respond-within", help="e.g. 30m: expects an ack")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for each reply")
    p.add_argument("--tries", type=int, default=3)
    p.add_argument("source")
    p.add_argument("audience", help="kind:name[,kind:name...]")
    p.add_argument("subject")
    p.add_argument("body", nargs="?")
    args = p.parse_args()

    notice = {
        "v": 1,
        # Made once: every try sends the same id.
        "id": "%s-%d-%d" % (args.source[:40], time.time_ns(), os.getpid()),
        "source": args.source,
        "audience": args.audience.split(","),
        "subject": args.subject,
    }
    if args.body is not None:
        notice["body"] = args.body
    if args.priority is not None:
        notice["priority"] = args.priority
    if args.respond_within is not None:
        notice["respond_within"] = args.respond_within

    ctx = zmq.Context()
    try:
        reply = publish(ctx, args.endpoint, notice, args.timeout,
                        args.tries)
    finally:
        ctx.term()
    if reply is None:
        return 2
    print(json.dumps(reply, separators=(",", ":")))
    if reply.get("ok") is True:
        return 0
    err = reply.get("error", {})
    print("publisher: refused: %s: %s" % (err.get("code"),
                                          err.get("message")),
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
