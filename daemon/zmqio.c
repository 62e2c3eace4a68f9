/*
 * zmqio.c: ZeroMQ frames in and out, retried when a signal cut them short.
 * EINTR comes from libzmq's poll of its command pipe, which it does before
 * touching the message: the same call again is always right.
 */
#include <errno.h>

#include "zmqio.h"

int
zmqio_events(void *sock)
{
	size_t len;
	int events, rc;

	do {
		len = sizeof(events);
		rc = zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len);
	} while (rc == -1 && errno == EINTR);
	return (rc == -1 ? 0 : events);
}

int
zmqio_recv(void *sock, zmq_msg_t *msg)
{
	int rc;

	while ((rc = zmq_msg_recv(msg, sock, ZMQ_DONTWAIT)) == -1 &&
	    errno == EINTR)
		;
	return (rc == -1 ? -1 : 0);
}

int
zmqio_msg_send(void *sock, zmq_msg_t *msg, int more)
{
	int rc, flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0);

	while ((rc = zmq_msg_send(msg, sock, flags)) == -1 && errno == EINTR)
		;
	return (rc == -1 ? -1 : 0);
}

int
zmqio_send(void *sock, const void *buf, size_t len, int more)
{
	int rc, flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0);

	while ((rc = zmq_send(sock, buf, len, flags)) == -1 && errno == EINTR)
		;
	return (rc == -1 ? -1 : 0);
}

int
zmqio_bind(void *sock, const char *endpoint)
{
	int rc;

	while ((rc = zmq_bind(sock, endpoint)) == -1 && errno == EINTR)
		;
	return (rc);
}

int
zmqio_unbind(void *sock, const char *endpoint)
{
	int rc;

	while ((rc = zmq_unbind(sock, endpoint)) == -1 && errno == EINTR)
		;
	return (rc);
}
