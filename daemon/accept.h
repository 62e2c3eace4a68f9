/*
 * accept.h: the path of one request through the broker: envelope →
 * classify → route → spool, then, once the pass's group commit is durable,
 * the reply and the hand-over to dispatch.
 */
#ifndef ACCEPT_H
#define ACCEPT_H

#include <stddef.h>
#include <stdint.h>

#include "notice.h"
#include "sb_protocol.h"

struct config;
struct event_base;
struct ingress_msg;
struct spool;

struct accept_stats {
	uint64_t	accepted[CLASS_COUNT];
	uint64_t	rejected[SB_ERR_COUNT];
	uint64_t	duplicates;
	uint64_t	spool_failures;
	int		spool_failing;	/* the last commit failed */
};

void	accept_init(const struct config *, struct spool *);
void	accept_set_config(const struct config *);
void	accept_shutdown(void);
/* Let a flusher thread make ok replies true (spool.sync = normal). */
int	accept_durable(struct event_base *, char *err, size_t errlen);
/* Answer every reply still waiting for a flush. */
void	accept_flush(void);
/* Refuse new notices with "unavailable" (shutting down). */
void	accept_close(const char *reason);
/* The ingress_batch_fn. */
void	accept_batch(struct ingress_msg **, size_t, void *);
const struct accept_stats *accept_stats(void);

#endif /* ACCEPT_H */
