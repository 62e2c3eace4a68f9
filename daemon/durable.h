/*
 * durable.h: making committed spool writes durable off the event loop.
 *
 * With spool.sync = normal the spool commits without waiting for the disk
 * and a thread then flushes what was committed (spool_sync) while the loop
 * goes on accepting. Each request gets a generation; one flush covers every
 * generation requested before it began, so a single fdatasync serves all
 * the passes that committed meanwhile: group commit across passes, and no
 * fsync on the loop.
 */
#ifndef DURABLE_H
#define DURABLE_H

#include <stdint.h>

struct durable;
struct event_base;
struct spool;

/* Told, on the loop, that every generation up to gen is (or is not) safe. */
typedef void	(*durable_fn)(uint64_t gen, int ok, const char *error,
		    void *arg);

struct durable	*durable_new(struct event_base *, struct spool *, durable_fn,
		    void *arg, char *err, size_t errlen);
/* Ask for a flush of everything committed so far; returns its generation. */
uint64_t	 durable_request(struct durable *);
/* Flush now and wait (shutdown): the callback runs before this returns. */
void		 durable_wait(struct durable *);
void		 durable_free(struct durable *);

#endif /* DURABLE_H */
