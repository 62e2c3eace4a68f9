/*
 * limit.c: frequency caps. Each limit remembers when it last let notices
 * through, as a ring of its last max acceptance times; a notice is over
 * the cap when the ring is full and its oldest entry is still inside the
 * sliding window of per_ms. Memory is max * 8 bytes a limit, all of it
 * allocated by limits_new(), none while checking; the journal below grows
 * to the slots one pass takes and is reused.
 *
 * A notice is counted only once it is accepted: a refused notice reaches
 * nobody, so it uses up no limit's slot, not even one of a limit it passed
 * before the refusing one was checked. The slots a pass took are kept in a
 * journal until its commit, so that a commit that fails gives them back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "limit.h"
#include "match.h"
#include "notice.h"

struct limit_ring {
	int64_t		*times;		/* conf->max slots */
	int		 next;		/* where the next time goes */
	int		 used;		/* slots filled, up to conf->max */
};

/* A slot taken in the pass, and what it held before. */
struct limit_undo {
	size_t		 limit;
	int64_t		 overwritten;
	int		 used;
};

struct limits {
	const struct limit_conf	*conf;		/* the config's, not owned */
	struct limit_ring	*rings;
	struct limit_undo	*journal;	/* this pass's slots, in order */
	size_t			 njournal;
	size_t			 journal_size;
	int			 journal_lost;	/* out of memory: cannot undo */
	unsigned char		*counts;	/* per limit, for one check */
	size_t			 n;
	const char		*verdict_by;	/* of the last check */
};

enum limit_step {
	LIMIT_STEP_SKIP,	/* the notice does not match the limit */
	LIMIT_STEP_COUNT,	/* it passes and is counted */
	LIMIT_STEP_OVER		/* it is over the cap */
};

static enum limit_step	limit_judge(const struct limit_conf *,
			    const struct limit_ring *, const struct notice *,
			    int64_t);
static void		limit_record(const struct limit_conf *,
			    struct limit_ring *, int64_t);
static void		limit_journal(struct limits *, size_t);
static int64_t		limit_oldest(const struct limit_ring *);
static void		limit_why(const struct limit_conf *,
			    const struct limit_ring *, int64_t, char *, size_t);
static const char	*limit_whom(const struct match *);
static void		limit_wait_format(int64_t, char *, size_t);

/*
 * Counters for the n limits of conf, which must outlive them; NULL when
 * out of memory.
 */
struct limits *
limits_new(const struct limit_conf *conf, size_t n)
{
	struct limits *l;
	size_t i;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (NULL);
	l->conf = conf;
	l->n = n;
	if (n == 0)
		return (l);
	if ((l->rings = calloc(n, sizeof(*l->rings))) == NULL ||
	    (l->counts = calloc(n, sizeof(*l->counts))) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		/* config.c keeps max in 1 .. 1,000,000; a 0 would be a bug. */
		if (conf[i].max < 1)
			goto fail;
		l->rings[i].times = calloc(conf[i].max, sizeof(int64_t));
		if (l->rings[i].times == NULL)
			goto fail;
	}
	return (l);
fail:
	limits_free(l);
	return (NULL);
}

/* Free the counters; the conf they were made for is the caller's. */
void
limits_free(struct limits *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; l->rings != NULL && i < l->n; i++)
		free(l->rings[i].times);
	free(l->rings);
	free(l->counts);
	free(l->journal);
	free(l);
}

/* The oldest time in a full ring. */
static int64_t
limit_oldest(const struct limit_ring *r)
{
	/* The slot written next is the one written longest ago. */
	return (r->times[r->next]);
}

/* What one limit makes of a notice, without counting it. */
static enum limit_step
limit_judge(const struct limit_conf *c, const struct limit_ring *r,
    const struct notice *n, int64_t now_ms)
{
	if (!match_notice(&c->match, n))
		return (LIMIT_STEP_SKIP);
	if (n->priority == PRIORITY_URGENT && c->urgent_bypass)
		return (LIMIT_STEP_COUNT);
	if (r->used == c->max && limit_oldest(r) > now_ms - c->per_ms)
		return (LIMIT_STEP_OVER);
	return (LIMIT_STEP_COUNT);
}

/* Count a notice that passed a limit, overwriting the oldest time. */
static void
limit_record(const struct limit_conf *c, struct limit_ring *r,
    int64_t now_ms)
{
	r->times[r->next] = now_ms;
	r->next = (r->next + 1) % c->max;
	if (r->used < c->max)
		r->used++;
}

/* Whom a limit's notices go to or come from, as the reason says it. */
static const char *
limit_whom(const struct match *m)
{
	if (m->audiences.n != 0 && m->sources.n != 0)
		return (" from this source to this audience");
	if (m->audiences.n != 0)
		return (" to this audience");
	if (m->sources.n != 0)
		return (" from this source");
	return ("");
}

/*
 * A wait as a person reads it: its two largest units ("4h12m", "2d3h",
 * "45s"), each written by duration_format(), rounded up so that the slot
 * is never promised early.
 */
static void
limit_wait_format(int64_t ms, char *buf, size_t len)
{
	static const int64_t steps[] = { 86400000, 3600000, 60000, 1000 };
	char big[32], small[32];
	int64_t unit, grain, rest;
	size_t i;

	if (ms < 1000) {
		duration_format(ms, buf, len);
		return;
	}
	/* The largest unit the wait exceeds, and the next one down. */
	for (i = 0; i < 3 && ms <= steps[i]; i++)
		;
	unit = steps[i];
	grain = i < 3 ? steps[i + 1] : 1000;
	ms = (ms + grain - 1) / grain * grain;
	/* ms is now at least unit. */
	if ((rest = ms % unit) != 0) {
		duration_format(ms - rest, big, sizeof(big));
		duration_format(rest, small, sizeof(small));
		snprintf(buf, len, "%s%s", big, small);
	} else
		duration_format(ms, buf, len);
}

/* Why a notice is over a limit's cap, and when it would not be. */
static void
limit_why(const struct limit_conf *c, const struct limit_ring *r,
    int64_t now_ms, char *why, size_t len)
{
	char per[32], wait[64];

	if (why == NULL || len == 0)
		return;
	duration_format(c->per_ms, per, sizeof(per));
	limit_wait_format(limit_oldest(r) + c->per_ms - now_ms, wait,
	    sizeof(wait));
	snprintf(why, len, "limit '%s': at most %d notice%s per %s%s; "
	    "the next slot opens in %s", c->name, c->max,
	    c->max == 1 ? "" : "s", per, limit_whom(&c->match), wait);
}

/* The verdict on a notice; a NULL set is one without limits. */
enum limit_verdict
limits_check(struct limits *l, const struct notice *n, int64_t now_ms,
    char *why, size_t len)
{
	enum limit_verdict verdict = LIMIT_PASS;
	enum limit_step step;
	size_t i;

	if (why != NULL && len > 0)
		why[0] = '\0';
	if (l == NULL)
		return (LIMIT_PASS);	/* no limits configured */
	l->verdict_by = NULL;
	for (i = 0; i < l->n; i++) {
		step = limit_judge(&l->conf[i], &l->rings[i], n, now_ms);
		l->counts[i] = (step == LIMIT_STEP_COUNT);
		if (step != LIMIT_STEP_OVER)
			continue;
		if (l->conf[i].action == LIMIT_REJECT) {
			limit_why(&l->conf[i], &l->rings[i], now_ms, why, len);
			l->verdict_by = l->conf[i].name;
			/* Refused: it takes no slot anywhere. */
			for (i = 0; i < l->n; i++)
				l->counts[i] = 0;
			return (LIMIT_REJECTED);
		}
		/* The first demoting limit explains; a later reject wins. */
		if (verdict == LIMIT_PASS) {
			limit_why(&l->conf[i], &l->rings[i], now_ms, why, len);
			l->verdict_by = l->conf[i].name;
		}
		verdict = LIMIT_DEMOTED;
	}
	return (verdict);
}

void
limits_count(struct limits *l, int64_t now_ms)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		if (l->counts[i]) {
			limit_journal(l, i);
			limit_record(&l->conf[i], &l->rings[i], now_ms);
			l->counts[i] = 0;
		}
}

void
limits_pass_undo(struct limits *l)
{
	struct limit_undo *u;
	struct limit_ring *r;

	if (l == NULL)
		return;
	while (!l->journal_lost && l->njournal > 0) {
		u = &l->journal[--l->njournal];
		r = &l->rings[u->limit];
		r->next = (r->next + l->conf[u->limit].max - 1) %
		    l->conf[u->limit].max;
		r->times[r->next] = u->overwritten;
		r->used = u->used;
	}
	limits_pass_keep(l);
}

void
limits_pass_keep(struct limits *l)
{
	if (l == NULL)
		return;
	l->njournal = 0;
	l->journal_lost = 0;
}

/* Remember what limit i's next slot holds, for limits_pass_undo(). */
static void
limit_journal(struct limits *l, size_t i)
{
	struct limit_undo *grown;
	size_t size;

	if (l->journal_lost)
		return;
	if (l->njournal == l->journal_size) {
		size = l->journal_size ? l->journal_size * 2 : 64;
		if ((grown = reallocarray(l->journal, size,
		    sizeof(*grown))) == NULL) {
			l->journal_lost = 1;	/* the slots stay taken */
			return;
		}
		l->journal = grown;
		l->journal_size = size;
	}
	l->journal[l->njournal].limit = i;
	l->journal[l->njournal].overwritten =
	    l->rings[i].times[l->rings[i].next];
	l->journal[l->njournal++].used = l->rings[i].used;
}

const char *
limits_verdict_by(const struct limits *l)
{
	return (l != NULL ? l->verdict_by : NULL);
}

/* Copy the most recent times of each same-named limit, up to its new max. */
void
limits_carry(struct limits *to, const struct limits *from)
{
	const struct limit_ring *old;
	struct limit_ring *new;
	size_t i, j;
	int k, keep, max, oldmax;

	if (to == NULL || from == NULL)
		return;
	for (i = 0; i < to->n; i++) {
		for (j = 0; j < from->n; j++)
			if (strcmp(to->conf[i].name, from->conf[j].name) == 0)
				break;
		if (j == from->n)
			continue;
		old = &from->rings[j];
		new = &to->rings[i];
		max = to->conf[i].max;
		oldmax = from->conf[j].max;
		/* The most recent keep entries, oldest first. */
		keep = old->used < max ? old->used : max;
		for (k = 0; k < keep; k++)
			new->times[k] = old->times[(old->next - keep + k +
			    oldmax) % oldmax];
		new->used = keep;
		new->next = keep % max;
	}
}
