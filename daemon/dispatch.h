/*
 * dispatch.h: from an accepted notice to deliveries on channels, and what
 * happens after each outcome: retry with backoff, fallback, dead. It owns
 * the running channels and every delivery until it ends.
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
struct spool;

struct dispatch_stats {
	uint64_t	delivered;
	uint64_t	retried;
	uint64_t	failed;		/* handed to fallback */
	uint64_t	dead;		/* no channel could take it */
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
	    struct spool_delivery *out, char (*ids)[200], size_t max);
/* Queue the deliveries of an accepted (and spooled) notice. */
void	dispatch_notice(struct notice *, const struct route_result *);
/* Re-queue one pending delivery read back from the spool at start. */
int	dispatch_restore(struct notice *, const struct spool_delivery *);
/* Deliveries queued or in flight or waiting to retry. */
size_t	dispatch_pending(void);
void	dispatch_reopen(void);
struct channel	*dispatch_channel(const char *name);
const struct dispatch_stats *dispatch_stats(void);

#endif /* DISPATCH_H */
