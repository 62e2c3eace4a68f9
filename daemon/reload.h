/*
 * reload.h: a live reload of the routing file (SIGHUP or the status
 * socket's "reload"). The whole new file is parsed and validated first;
 * only a valid config replaces the running one, between two loop passes.
 * Channels whose settings did not change keep their queues and
 * connections, changed ones take over their queue, removed ones drain
 * first; batches and escalations carry over by name.
 */
#ifndef RELOAD_H
#define RELOAD_H

#include <stdint.h>

struct config;

struct reload_status {
	int64_t		at_ms;		/* wall clock of the last attempt */
	int		ok;		/* its result */
	char		errors[4096];	/* "file:line: ..." lines, if not */
	uint64_t	count;		/* successful reloads */
	uint64_t	failures;
};

/* The running config; replaced by a successful reload. */
extern struct config	*reload_current;

void	reload_init(struct config *, const char *path);
/* Returns 0 (swapped) or -1 (msg holds every error, one a line). */
int	reload_run(char *msg, size_t len);
const struct reload_status *reload_last(void);
/* Refuse every later reload (shutting down), saying why. */
void	reload_block(const char *why);
void	reload_shutdown(void);

#endif /* RELOAD_H */
