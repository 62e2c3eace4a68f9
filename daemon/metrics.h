/*
 * metrics.h: the daemon's numbers in the Prometheus text format
 * (docs/metrics.md). Most counts live in the module that makes them
 * (accept, dispatch, escalate, spool, reload) and are read at a scrape;
 * this module keeps only what nobody else does: the delivery outcomes and
 * times per channel name (by name, so that a reload that replaces a
 * channel does not reset them) and the response times of acks.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdint.h>

#include "adapter.h"

struct evbuffer;
struct spool;

/* Start keeping delivery and response times; before it hooks are no-ops. */
void	metrics_init(void);
void	metrics_shutdown(void);
/* One delivery attempt ended after ms (adapter.c's channel_done). */
void	metrics_observe_delivery(const struct channel *,
	    enum delivery_outcome, int64_t ms);
/* An ack came ms after its notice was received (escalate_ack). */
void	metrics_observe_response(int64_t ms);
/* Every metric, as a scrape of GET /metrics gets it. 0, or -1. */
int	metrics_write(struct evbuffer *, const struct spool *);

#endif /* METRICS_H */
