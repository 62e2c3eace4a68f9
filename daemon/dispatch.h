/*
 * dispatch.h: from an accepted notice to deliveries on channels, and what
 * happens after each outcome: retry with backoff, fallback, dead. It owns
 * the running channels and every delivery until it ends, and applies the
 * delivery half of the response-time rules: deliver_within, batch digests
 * (through batch.c) and quiet hours.
 */
#ifndef DISPATCH_H
#define DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "spool.h"

struct config;
struct event_base;
struct notice;
struct route_result;

struct dispatch_stats {
	uint64_t	delivered;
	uint64_t	retried;
	uint64_t	failed;		/* handed to fallback */
	uint64_t	dead;		/* no channel could take it */
	uint64_t	missed;		/* deliver_within passed */
	uint64_t	owner_notices;
};

int	dispatch_init(struct event_base *, struct spool *);
/* Start the channels of a config; -1 with err on a channel start failure. */
int	dispatch_start(const struct config *, char *err, size_t errlen);
void	dispatch_shutdown(void);
/* 0 when every target channel has room, else -1 naming the full one. */
int	dispatch_has_room(const struct route_result *, char *why, size_t len);
/*
 * Build the spool rows of a notice's deliveries (ids are stable: the same
 * notice and channel always give the same delivery id).
 */
size_t	dispatch_plan(const struct notice *, const struct route_result *,
	    struct spool_delivery *out, char (*ids)[DELIVERY_ID_MAX + 1], size_t max);
void	dispatch_reserve(const struct notice *, const struct route_result *,
	    int sign);
/* Queue the deliveries of an accepted (and spooled) notice. */
void	dispatch_notice(struct notice *, const struct route_result *);
/* Re-queue one pending delivery read back from the spool at start. */
int	dispatch_restore(struct notice *, const struct spool_delivery *);
/* Deliver an escalation level of a notice to the level's channels. */
void	dispatch_escalation(struct notice *, const int *channels, size_t n,
	    int level, int round, int64_t waited_ms);
/*
 * A batch digest leaves (called by batch.c; takes the items array). A
 * digest re-formed at start waits until next_ms (wall clock; 0: now).
 */
void	dispatch_digest(struct channel *, const char *id,
	    struct delivery **items, size_t n, int64_t next_ms);
/* Take a reloaded config (see dispatch.c); old is kept while needed. */
int	dispatch_reconfigure(struct config *, struct config *old, char *err,
	    size_t errlen);
/* Point a delivery at another channel (a reload replaced its own). */
void	dispatch_move(struct delivery *, struct channel *);
/* Drop a delivery from memory only: the spool keeps it pending. */
void	dispatch_release(struct delivery *);
/*
 * Tell the owners (through notify.owner_channel) of an event: a notice of
 * its own, spooled and delivered like any other. Logged when no owner
 * channel is configured.
 */
void	dispatch_owner_notice(const char *event, const char *ref,
	    const char *owners, const char *subject, const char *body);
void	dispatch_tell_owner(const char *channel, const char *event,
	    const char *text);
/* Commit the spool writes of this pass at the end of the pass. */
void	dispatch_commit_soon(void);
/* Deliveries in memory: queued, in flight, waiting, held or batched. */
size_t	dispatch_pending(void);
/* Deliveries queued or in flight on some channel. */
size_t	dispatch_busy(void);
void	dispatch_reopen(void);
struct channel	*dispatch_channel(const char *name);
struct channel	*dispatch_channel_at(size_t);
size_t		 dispatch_nchannels(void);
const struct dispatch_stats *dispatch_stats(void);

#endif /* DISPATCH_H */
