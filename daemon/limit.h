/*
 * limit.h: frequency caps (SPEC §5 "limits"): at most max notices per
 * period matching a limit's audience or source; over the cap a notice is
 * demoted to batch or rejected, per limit; urgent notices pass only where
 * the limit says so.
 */
#ifndef LIMIT_H
#define LIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "match.h"
#include "notice.h"

enum limit_action {
	LIMIT_DEMOTE = 0,
	LIMIT_REJECT
};

/* One configured limit (parsed by config.c, immutable). */
struct limit_conf {
	char			*name;
	int			 line;
	struct match		 match;		/* source / audience / ... */
	int			 max;		/* 1 .. 1,000,000 */
	int64_t			 per_ms;
	enum limit_action	 action;
	int			 urgent_bypass;
};

/*
 * Run-time counters of all limits: a sliding window per limit, kept as a
 * ring of the last max acceptance times (8 bytes a slot).
 */
struct limits;

enum limit_verdict {
	LIMIT_PASS = 0,
	LIMIT_DEMOTED,
	LIMIT_REJECTED
};

struct limits	*limits_new(const struct limit_conf *, size_t n);
void		 limits_free(struct limits *);
/*
 * Check a notice against every limit, in order. On DEMOTED/REJECTED, why
 * names the limit, the cap and when the next slot opens. Nothing is
 * counted until limits_count().
 */
enum limit_verdict limits_check(struct limits *, const struct notice *,
		    int64_t now_ms, char *why, size_t len);
/*
 * The notice of the last check (not rejected) is accepted: it takes a slot
 * in every limit it passed. A notice refused later (no route, a full
 * channel) never calls this, and takes none.
 */
void		 limits_count(struct limits *, int64_t now_ms);
/*
 * The pass's commit failed: give back every slot counted since the last
 * limits_pass_keep() (its notices were not accepted after all).
 */
void		 limits_pass_undo(struct limits *);
/* The pass's commit stands: its slots are taken for good. */
void		 limits_pass_keep(struct limits *);
/*
 * The name of the limit behind the last check's verdict (the one its why
 * names), NULL after a pass; valid until the limits are freed.
 */
const char	*limits_verdict_by(const struct limits *);
/* Carry the counters of limits with the same name into a new set. */
void		 limits_carry(struct limits *to, const struct limits *from);

#endif /* LIMIT_H */
