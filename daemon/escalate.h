/*
 * escalate.h: interactive notices waiting for their ack (SPEC §5, §2.2).
 * Each waits on a response deadline; when it passes unacked, the levels of
 * its escalation chain fire in turn, the chain may repeat, and after the
 * last the notice expires and the owners of its route's channels are told.
 * One ack stops every pending step at once.
 *
 * Deadlines are data: one heap on the wall clock (absolute times survive
 * a restart; a deadline that passed while the daemon was down fires at
 * once), a small record per waiting notice, and no copy of the notice in
 * memory: an escalation reads the notice back from the spool.
 */
#ifndef ESCALATE_H
#define ESCALATE_H

#include <stddef.h>
#include <stdint.h>

#include "sb_protocol.h"

struct ack;
struct config;
struct event_base;
struct notice;
struct route;
struct spool;
struct spool_waiting;

/* The nearest steps, for the status socket. */
struct escalate_view {
	char		id[SB_ID_MAX + 1];
	int64_t		next_ms;	/* wall clock */
	int		level;		/* fired last */
	int		round;
	const char	*chain;		/* NULL: expires at next_ms */
};

struct escalate_stats {
	uint64_t	tracked;
	uint64_t	acked;
	uint64_t	late_acks;	/* acked after expiry */
	uint64_t	expired;
	uint64_t	fired[8];	/* escalations by level (8+ last) */
};

int	escalate_init(struct event_base *, struct spool *,
	    const struct config *, int64_t (*clock)(void));
void	escalate_set_config(const struct config *);
void	escalate_shutdown(void);
/* An accepted interactive notice starts waiting; written in the pass. */
int	escalate_track(const struct notice *, const struct route *);
/* Undo escalate_track: the pass that wrote it was not committed. */
void	escalate_forget(const char *id);
/* A waiting notice read back from the spool at start. */
int	escalate_restore(const struct notice *, const struct spool_waiting *);
/*
 * An ack. Returns SB_OK with *response_ms, or an error code with a message
 * for the publisher in why.
 */
enum sb_error	escalate_ack(const struct ack *, int64_t *response_ms,
		    char *why, size_t len);
/*
 * The pass that wrote an SB_OK ack committed (or not): the waiter goes,
 * or its next step is armed again as if the ack had never come.
 */
void		escalate_ack_done(const char *ref, int committed);
size_t		escalate_waiting(void);
/*
 * Fire every step due by now_ms; returns how many fired. For a heap made
 * without an event base (tests), which has no timer of its own.
 */
size_t		escalate_tick(int64_t now_ms);
size_t		escalate_nearest(struct escalate_view *, size_t max);
const struct escalate_stats *escalate_stats(void);

#endif /* ESCALATE_H */
