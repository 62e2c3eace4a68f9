/*
 * breaker.h: a channel's health probes and circuit breaker. A channel with
 * health_check { interval; max_failures; } is probed every interval; after
 * max_failures consecutive failures (of deliveries or probes) its breaker
 * opens: deliveries that have a fallback go there at once, the others wait
 * in the queue. After an interval open, a probe is made (half-open); its
 * success closes the breaker and the queue starts again, its failure keeps
 * the breaker open for another interval. The owner channel is told once
 * when it opens and once when it closes.
 */
#ifndef BREAKER_H
#define BREAKER_H

#include <stdint.h>

#include "adapter.h"

struct evbuffer;
struct spool;

enum breaker_state {
	BREAKER_CLOSED = 0,
	BREAKER_OPEN,
	BREAKER_HALF_OPEN,
	BREAKER_STATE_COUNT
};

/* What may become of the delivery at the head of the queue. */
enum breaker_verdict {
	BREAKER_PASS = 0,	/* start it */
	BREAKER_HOLD,		/* leave it queued until it closes */
	BREAKER_SHED		/* fail it now: its fallback takes it */
};

struct breaker_stats {
	uint64_t	probes_ok;
	uint64_t	probes_failed;
	uint64_t	opened;		/* times it opened */
	uint64_t	shed;		/* deliveries sent on while open */
};

struct breaker;

/* Told of every change of state: (channel, event, text for people). */
typedef void	(*breaker_notify_fn)(const char *channel, const char *event,
		    const char *text);

/*
 * Where every breaker records its spells (docs/report.md), before the
 * first breaker: ends the spells a daemon that stopped without closing
 * them left open, at now (breakers start closed). NULL: none (tests).
 */
void		 breaker_init(struct spool *);
/* For a channel whose conf has health_check; NULL with err. */
struct breaker	*breaker_new(struct channel *, char *err, size_t errlen);
void		 breaker_free(struct breaker *);
enum breaker_verdict breaker_admit(struct breaker *, const struct delivery *);
/* The outcome of a delivery the breaker let through. */
void		 breaker_outcome(struct breaker *, enum delivery_outcome,
		    const char *error);
enum breaker_state breaker_state(const struct breaker *);
const char	*breaker_state_name(enum breaker_state);
int		 breaker_failures(const struct breaker *);
/* Wall clock ms of the last change of state (0: never changed). */
int64_t		 breaker_since_ms(const struct breaker *);
const struct breaker_stats *breaker_stats(const struct breaker *);
/* Why it last opened or failed a probe, for the status socket. */
const char	*breaker_reason(const struct breaker *);

/*
 * Called by an adapter's probe (ops->probe) when it ends, exactly once
 * per probe started, never from inside ops->probe itself. Ignored when the
 * channel has no breaker (any more).
 */
void		 breaker_probe_done(struct channel *, int ok,
		    const char *error);

/*
 * The breakers of the running channels in the Prometheus text format, for
 * GET /metrics: switchboard_channel_breaker_state (0 closed, 1 open,
 * 2 half-open), ..._breaker_opened_total and ..._probes_total by result.
 */
void		 breaker_write_metrics(struct evbuffer *);

/* Where state changes are told (tests); default dispatch_tell_owner. */
void		 breaker_set_notify(breaker_notify_fn);

#endif /* BREAKER_H */
