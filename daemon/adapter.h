/*
 * adapter.h: the channel adapter interface. A channel type is one const
 * struct adapter_ops; a configured channel is a struct channel instance with
 * its own bounded queue, so that one slow or dead channel never stalls
 * another.
 */
#ifndef ADAPTER_H
#define ADAPTER_H

#include <libconfig.h>
#include <stdint.h>
#include <sys/queue.h>

#include "deadline.h"
#include "sb_protocol.h"

struct channel;
struct channel_conf;
struct config_errors;
struct delivery;
struct event_base;

enum delivery_outcome {
	OUTCOME_DELIVERED = 0,
	OUTCOME_RETRYABLE,	/* try again later */
	OUTCOME_PERMANENT,	/* this channel will never take it */
	OUTCOME_COUNT
};

struct adapter_ops {
	const char	*name;
	/*
	 * Validate the channel's own options (the whole channel group is
	 * given; common options are already checked and must be skipped).
	 * On success *args holds the parsed options. Touches nothing else.
	 */
	int		(*check)(const config_setting_t *, void **args,
			    struct config_errors *);
	void		(*args_free)(void *);
	/* Open what the channel needs; ch->state is the adapter's. */
	int		(*start)(struct channel *, char *err, size_t errlen);
	/*
	 * Start one delivery. Never blocks. The outcome is reported, now or
	 * later, exactly once through channel_done().
	 */
	void		(*deliver)(struct channel *, struct delivery *);
	/* 0 when the channel looks able to deliver; optional. */
	int		(*health)(struct channel *);
	/*
	 * Start an asynchronous health probe (an HTTP HEAD, an SMTP NOOP)
	 * that ends in breaker_probe_done(); optional. -1 with err when it
	 * cannot start (a failed probe). stop cancels a running one.
	 */
	int		(*probe)(struct channel *, char *err, size_t errlen);
	/* SIGHUP: reopen files; optional. */
	void		(*reopen)(struct channel *);
	/*
	 * A reload replaces prev, of the same type, by ch: take over what
	 * prev holds that ch needs (a bound socket). Called once the reload
	 * can no longer fail, before ch is given any work; start() saw
	 * ch->predecessor and left that to here. Optional.
	 */
	void		(*takeover)(struct channel *, struct channel *prev);
	/* Cancel what is in flight (reporting RETRYABLE) and free state. */
	void		(*stop)(struct channel *);
};

/* The ZeroMQ context that zmq-based adapters share (set by main). */
void				 adapter_init(void *zmq_ctx);
void				*adapter_zmq_ctx(void);
const struct adapter_ops	*adapter_find(const char *);
const char			*adapter_names(void);	/* "a, b, c" */

/* One delivery of a notice to one channel. */
/* Channel and route names are at most this long (config.c checks). */
#define CONFIG_NAME_MAX		48
/* "<notice id>/esc<round>.<level>/<channel>" and the like, with room. */
#define DELIVERY_ID_MAX		(SB_ID_MAX + 2 * CONFIG_NAME_MAX + 40)

struct delivery {
	struct notice		*notice;	/* holds a reference */
	struct channel		*channel;
	char			 id[DELIVERY_ID_MAX + 1]; /* stable, see dispatch.c */
	int			 attempts;
	int64_t			 created_ms;	/* monotonic */
	int64_t			 started_ms;
	int			 fallback;	/* it stands in for ... */
	char			 fallback_of_name[CONFIG_NAME_MAX + 1];
	int			 pilot;		/* a shadow copy */
	struct deadline		 retry;		/* armed while waiting */
	int64_t			 retry_after_ms; /* adapter: wait at least */
	struct deadline		 due;		/* deliver_within */
	int			 failed_over;	/* missed it: fallback has it */
	int			 level;		/* escalation level; 0: none */
	int			 round;		/* escalation round */
	int64_t			 waited_ms;	/* escalation: since received */
	struct delivery		**items;	/* a batch digest's deliveries */
	size_t			 nitems;
	const struct route	*route;
	void			*adapter_data;	/* the adapter's, in flight */
	size_t			 held_bytes;	/* counted on its channel */
	TAILQ_ENTRY(delivery)	 entry;		/* a channel's queue */
	TAILQ_ENTRY(delivery)	 all;		/* every live delivery */
};
TAILQ_HEAD(delivery_queue, delivery);

enum channel_state {
	CHANNEL_UP = 0,
	CHANNEL_DOWN,
	CHANNEL_PAUSED
};

struct channel_stats {
	uint64_t	outcomes[OUTCOME_COUNT];
	uint64_t	queued_total;
	uint64_t	missed;		/* deliver_within passed */
	uint64_t	digests;
	uint64_t	held;		/* waited for quiet hours to end */
};

struct batch;
struct breaker;
struct channel_secrets;

/* Told of every outcome after the channel has counted it. */
typedef void	(*channel_done_fn)(struct channel *, struct delivery *,
		    enum delivery_outcome, const char *error, void *arg);

struct channel {
	char			*name;
	int			 index;		/* in the running config */
	const struct channel_conf *conf;
	struct event_base	*base;
	void			*state;		/* adapter's */
	enum channel_state	 cstate;
	struct delivery_queue	 queue;		/* waiting to start */
	int			 queued;
	int			 inflight;
	char			 last_error[256];
	struct channel_stats	 stats;
	channel_done_fn		 done_cb;	/* the dispatcher */
	void			*done_arg;
	struct event		*kick;		/* starts queued work */
	struct batch		*batch;		/* digest being collected */
	struct breaker		*breaker;	/* with health_check */
	struct channel_secrets	*secrets;	/* files read at start */
	struct channel		*predecessor;	/* replaced by this one in a
						   reload, until takeover */
	int			 deliveries;	/* live ones pointing here */
	int			 reserved;	/* accepted, not yet committed */
	size_t			 reserved_bytes;
	size_t			 held_bytes;	/* the memory they hold */
	int			 retired;	/* left out by a reload */
	struct channel		*successor;	/* its changed replacement */
	TAILQ_ENTRY(channel)	 retired_entry;
};

/* prev: the channel of that name this one replaces in a reload, or NULL. */
struct channel	*channel_new(struct event_base *, const struct channel_conf *,
		    int index, struct channel *prev, channel_done_fn,
		    void *done_arg, char *err, size_t errlen);
/* The reload that replaces prev stands: ch takes over from it. */
void		 channel_takeover(struct channel *);
void		 channel_free(struct channel *);
int		 channel_has_room(const struct channel *);
/*
 * The memory a delivery holds, as queue_max_bytes counts it: itself and
 * its notice in full (a notice shared by several deliveries counts in
 * each, so that a channel's count never depends on another's).
 */
size_t		 delivery_held_bytes(const struct delivery *);
/* Queue a delivery (ownership moves to the channel) and start what fits. */
void		 channel_enqueue(struct channel *, struct delivery *);
/*
 * Called by adapters: the outcome of a delivery they were given. It may be
 * called from inside ops->deliver; the delivery then belongs to done_cb.
 */
void		 channel_done(struct channel *, struct delivery *,
		    enum delivery_outcome, const char *error);
void		 channel_reopen(struct channel *);
enum channel_state channel_state(const struct channel *);
void		 channel_pause(struct channel *);
void		 channel_resume(struct channel *);

/*
 * The payload most channels carry: one JSON object with the delivery's
 * fields first, then the notice's. Returns a malloc'd string.
 */
char		*delivery_json(const struct delivery *, size_t *len);

/* Monotonic and wall clocks in ms. */
int64_t		 adapter_now_ms(void);

extern const struct adapter_ops adapter_file_ops;
extern const struct adapter_ops adapter_exec_ops;
extern const struct adapter_ops adapter_zmq_pub_ops;
extern const struct adapter_ops adapter_discard_ops;
extern const struct adapter_ops adapter_webhook_ops;
extern const struct adapter_ops adapter_smtp_ops;

#endif /* ADAPTER_H */
