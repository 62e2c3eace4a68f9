/*
 * ingress.c: ZeroMQ sockets in the libevent loop.
 *
 * ZMQ_FD is edge-triggered: it signals that ZMQ_EVENTS may have changed,
 * not that a message is there. So the callback reads ZMQ_EVENTS and
 * receives with ZMQ_DONTWAIT while ZMQ_POLLIN holds, up to a batch; when
 * input is left it activates itself again instead of waiting for an edge
 * that will not come, and every send (which can consume the edge) is
 * followed by a fresh look at ZMQ_EVENTS.
 *
 * Replies: the ROUTER sockets are ZMQ_ROUTER_MANDATORY, so a reply that a
 * full pipe cannot take fails with EAGAIN instead of being dropped in
 * silence. It then waits in a bounded queue; while the queue is full the
 * sockets are not read (back-pressure instead of loss). A reply whose peer
 * has disconnected (EHOSTUNREACH) cannot be delivered by anyone: it is
 * counted and logged.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <zmq.h>

#include "auth.h"
#include "config.h"
#include "ingress.h"
#include "log.h"
#include "zmqio.h"

/* How often a waiting reply is tried again when no edge says so. */
#define INGRESS_RETRY_MS	5

static const struct timeval ingress_retry_tv = { 0, INGRESS_RETRY_MS * 1000 };

/* A reply waiting for its peer, or deferred by the acceptor. */
struct ingress_reply {
	zmq_msg_t		 route[INGRESS_ROUTE_FRAMES];
	int			 nroute;
	char			*body;
	size_t			 len;
	struct ingress_sock	*sock;
	TAILQ_ENTRY(ingress_reply) entry;
};
TAILQ_HEAD(reply_queue, ingress_reply);

struct ingress_sock {
	struct ingress		*in;
	void			*zsock;
	int			 is_router;
	struct event		*ev;
	TAILQ_ENTRY(ingress_sock) entry;
};
TAILQ_HEAD(ingress_socks, ingress_sock);

struct ingress {
	struct event_base	*base;
	void			*zctx;
	struct ingress_socks	 socks;
	struct reply_queue	 backlog;
	size_t			 nbacklog;
	size_t			 ndeferred;	/* held by the acceptor */
	size_t			 backlog_max;
	size_t			 backlog_bytes;	/* the replies' memory */
	size_t			 backlog_max_bytes;
	int			 paused;
	struct event		*retry;
	ingress_batch_fn	 batch_fn;
	void			*batch_arg;
	struct ingress_stats	 stats;
	struct ingress_msg	 msgs[INGRESS_BATCH];
	struct ingress_msg	*msgp[INGRESS_BATCH];
};

static int	ingress_open(struct ingress *, int type, char *const *,
		    size_t, const struct config *, char *, size_t);
static void	ingress_read_cb(evutil_socket_t, short, void *);
static size_t	ingress_drain(struct ingress_sock *, int *more);
static int	ingress_recv(struct ingress_sock *, struct ingress_msg *);
static void	ingress_msg_close(struct ingress_msg *);
static void	ingress_reply(struct ingress_sock *, struct ingress_msg *);
static int	ingress_send(struct ingress_sock *, zmq_msg_t *, int,
		    const char *, size_t);
static void	ingress_flush(struct ingress *);
static void	ingress_retry_cb(evutil_socket_t, short, void *);
static void	ingress_check_pause(struct ingress *);
static void	ingress_recheck(struct ingress *);
static size_t	ingress_reply_size(const struct ingress_reply *);

struct ingress *
ingress_new(struct event_base *base, void *zctx, const struct config *conf,
    ingress_batch_fn fn, void *arg, char *err, size_t errlen)
{
	struct ingress *in;

	if ((in = calloc(1, sizeof(*in))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	in->base = base;
	in->zctx = zctx;
	in->batch_fn = fn;
	in->batch_arg = arg;
	in->backlog_max = (size_t)conf->reply_queue_max;
	in->backlog_max_bytes = (size_t)conf->reply_queue_max_bytes;
	TAILQ_INIT(&in->socks);
	TAILQ_INIT(&in->backlog);
	in->retry = evtimer_new(base, ingress_retry_cb, in);
	if (in->retry == NULL ||
	    ingress_open(in, ZMQ_ROUTER, conf->router, conf->nrouter, conf,
	    err, errlen) == -1 ||
	    ingress_open(in, ZMQ_PULL, conf->pull, conf->npull, conf, err,
	    errlen) == -1) {
		ingress_free(in);
		return (NULL);
	}
	return (in);
}

/* One socket per kind, bound to all of that kind's endpoints. */
static int
ingress_open(struct ingress *in, int type, char *const *endpoints, size_t n,
    const struct config *conf, char *err, size_t errlen)
{
	struct ingress_sock *s;
	int64_t maxmsg;
	int one = 1, linger = 0, fd;
	size_t i, fdlen = sizeof(fd);

	if (n == 0)
		return (0);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (-1);
	s->in = in;
	s->is_router = (type == ZMQ_ROUTER);
	TAILQ_INSERT_TAIL(&in->socks, s, entry);
	if ((s->zsock = zmq_socket(in->zctx, type)) == NULL) {
		snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
		return (-1);
	}
	/*
	 * libzmq cuts off a peer that sends more than ZMQ_MAXMSGSIZE, so
	 * the hard limit sits well above max_message_size: a message over
	 * the configured size still gets its too_large reply.
	 */
	maxmsg = (int64_t)conf->max_message_size * 4 + 4096;
	zmq_setsockopt(s->zsock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	zmq_setsockopt(s->zsock, ZMQ_RCVHWM, &conf->rcvhwm,
	    sizeof(conf->rcvhwm));
	zmq_setsockopt(s->zsock, ZMQ_SNDHWM, &conf->sndhwm,
	    sizeof(conf->sndhwm));
	zmq_setsockopt(s->zsock, ZMQ_LINGER, &linger, sizeof(linger));
	if (s->is_router)
		zmq_setsockopt(s->zsock, ZMQ_ROUTER_MANDATORY, &one,
		    sizeof(one));
	for (i = 0; i < n; i++) {
		if (auth_socket_prepare(s->zsock, conf, s->is_router ?
		    "router" : "pull", endpoints[i], err, errlen) == -1)
			return (-1);
		if (zmqio_bind(s->zsock, endpoints[i]) == -1) {
			snprintf(err, errlen, "ingress.%s: cannot bind %s: %s",
			    s->is_router ? "router" : "pull", endpoints[i],
			    zmq_strerror(errno));
			return (-1);
		}
		log_info("listening kind=%s endpoint=%s",
		    s->is_router ? "router" : "pull", endpoints[i]);
	}
	if (zmq_getsockopt(s->zsock, ZMQ_FD, &fd, &fdlen) == -1) {
		snprintf(err, errlen, "ZMQ_FD: %s", zmq_strerror(errno));
		return (-1);
	}
	s->ev = event_new(in->base, fd, EV_READ | EV_PERSIST,
	    ingress_read_cb, s);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1)
		return (-1);
	/* A bind may already have consumed the edge: look now. */
	event_active(s->ev, EV_READ, 0);
	return (0);
}

void
ingress_free(struct ingress *in)
{
	struct ingress_sock *s;
	struct ingress_reply *r;
	int i, linger = 1000;

	if (in == NULL)
		return;
	ingress_flush(in);
	while ((r = TAILQ_FIRST(&in->backlog)) != NULL) {
		TAILQ_REMOVE(&in->backlog, r, entry);
		in->stats.replies_unroutable++;
		for (i = 0; i < r->nroute; i++)
			zmq_msg_close(&r->route[i]);
		free(r->body);
		free(r);
	}
	if (in->stats.replies_unroutable > 0)
		log_info("ingress closed replies_unroutable=%llu",
		    (unsigned long long)in->stats.replies_unroutable);
	while ((s = TAILQ_FIRST(&in->socks)) != NULL) {
		TAILQ_REMOVE(&in->socks, s, entry);
		if (s->ev != NULL)
			event_free(s->ev);
		if (s->zsock != NULL) {
			/* Give replies already handed to libzmq a moment. */
			zmq_setsockopt(s->zsock, ZMQ_LINGER, &linger,
			    sizeof(linger));
			zmq_close(s->zsock);
		}
		free(s);
	}
	if (in->retry != NULL)
		event_free(in->retry);
	free(in);
}

size_t
ingress_reply_backlog(const struct ingress *in)
{
	return (in->nbacklog);
}

const struct ingress_stats *
ingress_stats(const struct ingress *in)
{
	return (&in->stats);
}

static void
ingress_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ingress_sock *s = arg;
	struct ingress *in = s->in;
	size_t i, n;
	int more = 0;

	(void)fd;
	(void)what;
	if (!TAILQ_EMPTY(&in->backlog))
		ingress_flush(in);
	if (in->paused)
		return;
	n = ingress_drain(s, &more);
	if (n == 0)
		return;
	in->stats.received += n;
	in->batch_fn(in->msgp, n, in->batch_arg);
	for (i = 0; i < n; i++) {
		if (!in->msgs[i].fire_and_forget)
			ingress_reply(s, &in->msgs[i]);
		ingress_msg_close(&in->msgs[i]);
	}
	ingress_check_pause(in);
	/*
	 * The sends above may have consumed the edge of new input: input
	 * left over, or arrived since, is read on the next pass.
	 */
	if (more || (!in->paused && (zmqio_events(s->zsock) & ZMQ_POLLIN)))
		event_active(s->ev, EV_READ, 0);
}

/*
 * Receive up to a batch of whole messages; *more when input is left.
 * ZMQ_EVENTS is asked before each message: it is what resets the
 * edge-triggered ZMQ_FD, so input is never left without a wake-up.
 */
static size_t
ingress_drain(struct ingress_sock *s, int *more)
{
	struct ingress *in = s->in;
	size_t n = 0;

	*more = 0;
	while (n < INGRESS_BATCH) {
		if (!(zmqio_events(s->zsock) & ZMQ_POLLIN))
			return (n);
		if (ingress_recv(s, &in->msgs[n]) == -1)
			return (n);
		in->msgs[n].sock = s;
		in->msgp[n] = &in->msgs[n];
		n++;
	}
	*more = 1;
	return (n);
}

/*
 * Receive one whole message: routing frames first, the JSON last. Frames
 * beyond INGRESS_ROUTE_FRAMES are counted and dropped, not kept.
 */
static int
ingress_recv(struct ingress_sock *s, struct ingress_msg *m)
{
	zmq_msg_t frame;
	int have = 0;

	memset(m, 0, sizeof(*m));
	m->fire_and_forget = !s->is_router;
	zmq_msg_init(&m->payload);
	for (;;) {
		zmq_msg_init(&frame);
		if (zmqio_recv(s->zsock, &frame) == -1) {
			zmq_msg_close(&frame);
			if (!have) {
				zmq_msg_close(&m->payload);
				return (-1);
			}
			break;	/* cannot happen: parts come whole */
		}
		if (have) {
			/* The previous "last" frame was a routing frame. */
			if (m->nroute < INGRESS_ROUTE_FRAMES && s->is_router) {
				zmq_msg_init(&m->route[m->nroute]);
				zmq_msg_move(&m->route[m->nroute++],
				    &m->payload);
			} else
				m->extra_frames++;
		}
		zmq_msg_close(&m->payload);
		zmq_msg_init(&m->payload);
		zmq_msg_move(&m->payload, &frame);
		zmq_msg_close(&frame);
		have = 1;
		if (!zmq_msg_more(&m->payload))
			break;
	}
	if (s->is_router && m->nroute == 0) {
		/* A ROUTER message always has its identity first. */
		m->nroute = 1;
		zmq_msg_init(&m->route[0]);
		zmq_msg_copy(&m->route[0], &m->payload);
		zmq_msg_close(&m->payload);
		zmq_msg_init(&m->payload);
	}
	return (0);
}

static void
ingress_msg_close(struct ingress_msg *m)
{
	int i;

	for (i = 0; i < m->nroute; i++)
		zmq_msg_close(&m->route[i]);
	zmq_msg_close(&m->payload);
	free(m->reply);
	m->reply = NULL;
}

struct ingress_reply *
ingress_defer(struct ingress_msg *m)
{
	struct ingress_sock *s = m->sock;
	struct ingress_reply *r;
	int i;

	if (m->fire_and_forget || m->nroute == 0)
		return (NULL);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("ingress_defer");
	for (i = 0; i < m->nroute; i++) {
		zmq_msg_init(&r->route[i]);
		zmq_msg_move(&r->route[i], &m->route[i]);
	}
	r->nroute = m->nroute;
	r->sock = s;
	s->in->ndeferred++;
	return (r);
}

void
ingress_answer(struct ingress_reply *r, char *body, size_t len)
{
	struct ingress *in = r->sock->in;
	int i;

	in->ndeferred--;
	r->body = body;
	r->len = len;
	if (TAILQ_EMPTY(&in->backlog) && ingress_send(r->sock, r->route,
	    r->nroute, body, len) == 0) {
		for (i = 0; i < r->nroute; i++)
			zmq_msg_close(&r->route[i]);
		free(r->body);
		free(r);
		ingress_check_pause(in);
		ingress_recheck(in);
		return;
	}
	TAILQ_INSERT_TAIL(&in->backlog, r, entry);
	in->nbacklog++;
	in->backlog_bytes += ingress_reply_size(r);
	in->stats.replies_queued++;
	if (!evtimer_pending(in->retry, NULL))
		evtimer_add(in->retry, &ingress_retry_tv);
	ingress_check_pause(in);
}

/* Send a reply now, or queue it (the queue takes the routing frames). */
static void
ingress_reply(struct ingress_sock *s, struct ingress_msg *m)
{
	struct ingress *in = s->in;
	struct ingress_reply *r;
	int i, rc = 1;

	if (m->reply == NULL)
		return;
	if (TAILQ_EMPTY(&in->backlog))
		rc = ingress_send(s, m->route, m->nroute, m->reply,
		    m->reply_len);
	if (rc <= 0)
		return;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("ingress_reply");
	for (i = 0; i < m->nroute; i++) {
		zmq_msg_init(&r->route[i]);
		zmq_msg_move(&r->route[i], &m->route[i]);
	}
	r->nroute = m->nroute;
	r->body = m->reply;
	r->len = m->reply_len;
	r->sock = s;
	m->reply = NULL;
	TAILQ_INSERT_TAIL(&in->backlog, r, entry);
	in->nbacklog++;
	in->backlog_bytes += ingress_reply_size(r);
	in->stats.replies_queued++;
	if (!evtimer_pending(in->retry, NULL))
		evtimer_add(in->retry, &ingress_retry_tv);
}

/*
 * Send routing frames and body. Returns 0 when sent or dropped (peer gone,
 * counted), 1 when the peer's pipe is full and the reply must wait.
 */
static int
ingress_send(struct ingress_sock *s, zmq_msg_t *route, int nroute,
    const char *body, size_t len)
{
	zmq_msg_t part;
	int i;

	for (i = 0; i < nroute; i++) {
		zmq_msg_init(&part);
		zmq_msg_copy(&part, &route[i]);
		if (zmqio_msg_send(s->zsock, &part, 1) == -1) {
			zmq_msg_close(&part);
			if (errno == EAGAIN)
				return (1);
			/* Only the first frame can fail: peer unknown. */
			s->in->stats.replies_unroutable++;
			log_debug("reply dropped: peer gone (%s)",
			    zmq_strerror(errno));
			return (0);
		}
	}
	if (zmqio_send(s->zsock, body, len, 0) == -1) {
		s->in->stats.replies_unroutable++;
		log_warnx("reply lost after its routing frames: %s",
		    zmq_strerror(errno));
		return (0);
	}
	s->in->stats.replies_sent++;
	return (0);
}

/* Send what the peers now take, oldest first. */
static void
ingress_flush(struct ingress *in)
{
	struct ingress_reply *r, *next;
	int i;

	for (r = TAILQ_FIRST(&in->backlog); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (ingress_send(r->sock, r->route, r->nroute, r->body,
		    r->len) == 1)
			continue;
		TAILQ_REMOVE(&in->backlog, r, entry);
		in->nbacklog--;
		in->backlog_bytes -= ingress_reply_size(r);
		for (i = 0; i < r->nroute; i++)
			zmq_msg_close(&r->route[i]);
		free(r->body);
		free(r);
	}
	ingress_check_pause(in);
	ingress_recheck(in);
}

/*
 * A send can consume the edge that announces new input on the same
 * socket: after sending from outside a socket's own read callback, look
 * at ZMQ_EVENTS and read on if input waits.
 */
static void
ingress_recheck(struct ingress *in)
{
	struct ingress_sock *s;

	if (in->paused)
		return;
	TAILQ_FOREACH(s, &in->socks, entry) {
		if (s->ev != NULL && (zmqio_events(s->zsock) & ZMQ_POLLIN))
			event_active(s->ev, EV_READ, 0);
	}
}

/* The memory a waiting reply holds, as the reply byte cap counts it. */
static size_t
ingress_reply_size(const struct ingress_reply *r)
{
	size_t n = sizeof(*r) + r->len;
	int i;

	for (i = 0; i < r->nroute; i++)
		n += zmq_msg_size(&r->route[i]);
	return (n);
}

/* Pause reading while the backlog is full; resume at half. */
static void
ingress_check_pause(struct ingress *in)
{
	struct ingress_sock *s;

	/* Deferred replies count too: they wait for the disk. */
	size_t waiting = in->nbacklog + in->ndeferred;

	if (!in->paused && (waiting >= in->backlog_max ||
	    in->backlog_bytes >= in->backlog_max_bytes)) {
		in->paused = 1;
		in->stats.pauses++;
		log_warnx("ingress paused: %zu replies (%zu bytes) wait for "
		    "slow clients or the disk", waiting, in->backlog_bytes);
	} else if (in->paused && waiting <= in->backlog_max / 2 &&
	    in->backlog_bytes <= in->backlog_max_bytes / 2) {
		in->paused = 0;
		log_info("ingress resumed backlog=%zu", in->nbacklog);
		TAILQ_FOREACH(s, &in->socks, entry)
			event_active(s->ev, EV_READ, 0);
	}
}

static void
ingress_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ingress *in = arg;

	(void)fd;
	(void)what;
	ingress_flush(in);
	if (!TAILQ_EMPTY(&in->backlog))
		evtimer_add(in->retry, &ingress_retry_tv);
}
