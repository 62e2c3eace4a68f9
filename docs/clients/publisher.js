#!/usr/bin/env node
// publisher.js: publish one notice to switchboardd from Node.js with the
// zeromq package (v6, `npm install zeromq`). The reliable way: a DEALER
// socket, a reply awaited for a bounded time, and on silence the same
// notice sent again on a new socket. The notice carries an id made once,
// before the first try, so a resend after a lost reply is answered
// "duplicate" and never delivered twice.
//
//     node publisher.js monitoring dept:ops "Database failover" "" high
//
// The endpoint is $SB_ENDPOINT, else tcp://127.0.0.1:7450. Exit 0 when the
// daemon accepted the notice, 1 when it refused it, 2 on a usage error or
// when nobody answered.
"use strict";

const zmq = require("zeromq");

const TIMEOUT_MS = 5000;
const TRIES = 3;

// One try: the reply, or null on silence.
async function exchange(endpoint, frame) {
  const sock = new zmq.Dealer({ linger: 0, receiveTimeout: TIMEOUT_MS });
  try {
    sock.connect(endpoint);
    await sock.send(frame);
    const [reply] = await sock.receive();
    return JSON.parse(reply.toString("utf8"));
  } catch (err) {
    if (err.code === "EAGAIN") return null; // receiveTimeout passed
    throw err;
  } finally {
    // Closing drops whatever this socket still queued.
    sock.close();
  }
}

async function main(argv) {
  if (argv.length < 3 || argv.length > 5) {
    console.error("usage: publisher.js source audience[,audience...] " +
      "subject [body [priority]]");
    return 2;
  }
  const [source, audience, subject, body, priority] = argv;
  const endpoint = process.env.SB_ENDPOINT || "tcp://127.0.0.1:7450";
  const notice = {
    v: 1,
    // Made once: every try sends the same id.
    id: `${source.slice(0, 40)}-${Date.now()}-${process.pid}`,
    source,
    audience: audience.split(","),
    subject,
  };
  if (body) notice.body = body;
  if (priority) notice.priority = priority;
  const frame = JSON.stringify(notice);

  for (let attempt = 1; attempt <= TRIES; attempt++) {
    const reply = await exchange(endpoint, frame);
    if (reply !== null) {
      console.log(JSON.stringify(reply));
      if (reply.ok === true) return 0;
      console.error(`publisher: refused: ${reply.error.code}: ` +
        reply.error.message);
      return 1;
    }
    console.error(`publisher: no reply from ${endpoint} within ` +
      `${TIMEOUT_MS} ms (try ${attempt} of ${TRIES})`);
  }
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    console.error(`publisher: ${err.message}`);
    process.exitCode = 2;
  });
