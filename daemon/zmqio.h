/*
 * zmqio.h: one frame in or out of a ZeroMQ socket without blocking, and
 * without being cut short by a signal.
 *
 * libzmq may answer any frame of a multi-part message with EINTR (it polls
 * its command pipe every so often, and a signal — SIGCHLD from an exec
 * channel, SIGHUP — interrupts that poll) before it has taken or given
 * anything. A caller that gave up there would leave half a message: the
 * rest read as the next message, or the next message sent as the rest of
 * this one; or, for ZMQ_EVENTS, an edge-triggered ZMQ_FD re-armed with
 * the input behind it never read. These retry instead; any other error is
 * the caller's.
 */
#ifndef ZMQIO_H
#define ZMQIO_H

#include <stddef.h>

#include <zmq.h>

/* ZMQ_EVENTS (ZMQ_POLLIN, ZMQ_POLLOUT), 0 on error: re-arms ZMQ_FD. */
int	zmqio_events(void *sock);
/* The next frame into msg (initialised by the caller); 0, or -1 and errno. */
int	zmqio_recv(void *sock, zmq_msg_t *msg);
/* Send msg (the socket takes it on success); more: not the last frame. */
int	zmqio_msg_send(void *sock, zmq_msg_t *msg, int more);
/* Send a copy of buf. */
int	zmqio_send(void *sock, const void *buf, size_t len, int more);
/* Bind or unbind an endpoint (they too poll the command pipe first). */
int	zmqio_bind(void *sock, const char *endpoint);
int	zmqio_unbind(void *sock, const char *endpoint);

#endif
