/*
 * ingress.h: the ZeroMQ side (SPEC §2): ROUTER sockets (every request gets
 * exactly one reply) and PULL sockets (fire and forget), any number of
 * tcp:// and ipc:// endpoints each, read in bounded batches from the
 * libevent loop. A batch is handed to the acceptor as a whole so that its
 * notices are committed together before any of their replies goes out.
 */
#ifndef INGRESS_H
#define INGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

struct config;
struct event_base;
struct ingress;

/* Messages read per socket per callback before yielding to the loop. */
#define INGRESS_BATCH		256
/* Routing frames kept to echo back (identity, REQ delimiter, ...). */
#define INGRESS_ROUTE_FRAMES	4

struct ingress_msg {
	zmq_msg_t	 route[INGRESS_ROUTE_FRAMES];
	int		 nroute;	/* 0 for PULL */
	int		 extra_frames;	/* frames beyond those kept */
	zmq_msg_t	 payload;	/* the last frame */
	int		 fire_and_forget;
	char		*reply;		/* set by the acceptor; malloc'd */
	size_t		 reply_len;
	void		*sock;		/* the ingress socket it came on */
};

/*
 * A reply answered after the batch: the acceptor holds it until the
 * notice is durable. ingress_defer takes the message's routing frames
 * (NULL for fire-and-forget); ingress_answer sends it, or queues it for a
 * slow peer, and takes body. Every deferred reply must be answered before
 * ingress_free.
 */
struct ingress_reply;
struct ingress_reply	*ingress_defer(struct ingress_msg *);
void			 ingress_answer(struct ingress_reply *, char *body,
			    size_t len);

/* Handles a whole batch: sets msgs[i]->reply for every ROUTER message. */
typedef void	(*ingress_batch_fn)(struct ingress_msg **, size_t, void *);

struct ingress_stats {
	uint64_t	received;
	uint64_t	replies_sent;
	uint64_t	replies_queued;		/* had to wait for the peer */
	uint64_t	replies_unroutable;	/* peer gone: counted, dropped */
	uint64_t	pauses;			/* reply queue full */
};

struct ingress	*ingress_new(struct event_base *, void *zmq_ctx,
		    const struct config *, ingress_batch_fn, void *arg,
		    char *err, size_t errlen);
/* Stop reading; flush queued replies as far as possible; close. */
void		 ingress_free(struct ingress *);
size_t		 ingress_reply_backlog(const struct ingress *);
const struct ingress_stats *ingress_stats(const struct ingress *);

#endif /* INGRESS_H */
