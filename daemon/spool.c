/*
 * spool.c: the spool interface. Finds a backend by name and wraps its ops,
 * keeping what every backend would otherwise have to keep the same way:
 * whether the pass's transaction is open, whether a write of it failed, and
 * the counters.
 *
 * The rule a caller relies on: a failed write rolls back everything written
 * since the last commit. If that was anything, every later write fails too
 * and so does the next spool_commit(), which starts the next pass clean. So
 * a notice whose spool_add_notice() returned 0 is durable exactly when the
 * following spool_commit() returns 0: no write can vanish behind a
 * successful commit. A failed first write loses nothing and poisons nothing,
 * so a caller that skips the commit when it kept nothing is not stuck.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

static const struct spool_ops	*spool_find(const char *);
static int			 spool_write_begin(struct spool *);
static int			 spool_write_end(struct spool *, int);

/* The backends, by name; a second backend is one more line here. */
static const struct spool_ops *const spool_backends[] = {
	&spool_sqlite_ops,
};
#define SPOOL_NBACKENDS	(sizeof(spool_backends) / sizeof(spool_backends[0]))

static const char *const spool_dstate_names[] = {
	"pending", "delivered", "failed", "expired", "dead"
};

static const struct spool_ops *
spool_find(const char *name)
{
	size_t i;

	for (i = 0; i < SPOOL_NBACKENDS; i++)
		if (strcmp(spool_backends[i]->name, name) == 0)
			return (spool_backends[i]);
	return (NULL);
}

struct spool *
spool_open(const char *backend, const char *path, enum spool_sync sync,
    char *err, size_t errlen)
{
	const struct spool_ops *ops;
	struct spool *sp;

	if ((ops = spool_find(backend)) == NULL) {
		snprintf(err, errlen, "unknown spool backend '%s' (expected "
		    "sqlite)", backend);
		return (NULL);
	}
	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		snprintf(err, errlen, "spool %s: out of memory", path);
		return (NULL);
	}
	sp->ops = ops;
	if (ops->open(sp, path, sync, err, errlen) == -1) {
		free(sp);
		return (NULL);
	}
	return (sp);
}

/* Closes the spool; writes not yet committed are rolled back. */
void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	spool_rollback(sp);
	sp->ops->close(sp);
	free(sp);
}

/* Before a write: refuse it when an earlier write of the pass failed. */
static int
spool_write_begin(struct spool *sp)
{
	return (sp->txn_failed ? -1 : 0);
}

/*
 * After a write: on failure, roll the transaction back now (the backend
 * may already have lost it). When earlier writes went with it, remember,
 * so that the commit that would have kept them fails; in_txn stays set
 * until that spool_commit() or spool_rollback().
 */
static int
spool_write_end(struct spool *sp, int rv)
{
	sp->refused = (rv == SPOOL_REFUSED);
	if (rv == 0) {
		sp->in_txn = 1;
		return (0);
	}
	/* Only this write was refused: the rest of the pass stands. */
	if (rv == SPOOL_REFUSED) {
		sp->in_txn = 1;
		return (-1);
	}
	sp->ops->rollback(sp);
	sp->failures++;
	if (sp->in_txn)
		sp->txn_failed = 1;
	return (-1);
}

int
spool_add_notice(struct spool *sp, const struct notice *n,
    const struct spool_delivery *d, size_t nd)
{
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->add_notice(sp, n, d, nd)));
}

int
spool_add_delivery(struct spool *sp, const char *notice_id,
    const struct spool_delivery *d)
{
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->add_delivery(sp, notice_id, d)));
}

int
spool_update_delivery(struct spool *sp, const char *delivery_id,
    enum spool_dstate state, int attempts, const char *error, int64_t now_ms)
{
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->update_delivery(sp, delivery_id,
	    state, attempts, error, now_ms, 0)));
}

/*
 * An attempt failed and the delivery stays pending: its next attempt is
 * due at next_ms (wall clock), where a restart resumes it. The same one
 * UPDATE as any outcome.
 */
int
spool_retry_delivery(struct spool *sp, const char *delivery_id, int attempts,
    const char *error, int64_t now_ms, int64_t next_ms)
{
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->update_delivery(sp, delivery_id,
	    DSTATE_PENDING, attempts, error, now_ms, next_ms)));
}

/*
 * Ends the pass: 0 when everything written since the last commit is
 * durable (or nothing was written), -1 with sp->error otherwise, and then
 * nothing of the pass was kept.
 */
int
spool_commit(struct spool *sp)
{
	int failed = sp->txn_failed;

	if (!sp->in_txn)
		return (0);
	sp->in_txn = 0;
	sp->txn_failed = 0;
	if (failed)
		return (-1);	/* counted when the write failed; error kept */
	if (sp->ops->commit(sp) == -1) {
		sp->failures++;
		return (-1);
	}
	sp->commits++;
	return (0);
}

/* Discards the pass's writes, or forgets its failure. */
void
spool_rollback(struct spool *sp)
{
	if (sp->in_txn && !sp->txn_failed)
		sp->ops->rollback(sp);
	sp->in_txn = 0;
	sp->txn_failed = 0;
}

int
spool_seen(struct spool *sp, const char *id, int64_t since_ms,
    struct spool_seen *seen)
{
	return (sp->ops->seen(sp, id, since_ms, seen));
}

/* 0 when fn was called for every pending notice, else -1. */
int
spool_load_pending(struct spool *sp,
    int (*fn)(const struct spool_pending *, void *), void *arg)
{
	return (sp->ops->load_pending(sp, fn, arg));
}

/* A write: it joins the pass's transaction. Returns how many, or -1. */
int
spool_prune(struct spool *sp, int64_t before_ms, int max)
{
	int n;

	if (max <= 0)
		return (0);
	if (spool_write_begin(sp) == -1)
		return (-1);
	n = sp->ops->prune(sp, before_ms, max);
	if (spool_write_end(sp, n < 0 ? -1 : 0) == -1)
		return (-1);
	return (n);
}

/*
 * An accepted notice now waits for its ack until respond_by_ms (wall
 * clock): written in the pass, like the notice itself.
 */
int
spool_track(struct spool *sp, const char *notice_id, const char *route,
    int64_t respond_by_ms)
{
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->track(sp, notice_id, route,
	    respond_by_ms)));
}

/* A level fired (or the next step moved): what a restart resumes from. */
int
spool_escalated(struct spool *sp, const char *notice_id, int level,
    int round, int64_t next_ms)
{
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->escalated(sp, notice_id, level,
	    round, next_ms)));
}

/* score 0: none. Fails (a write failure) when not tracked or acked. */
int
spool_acked(struct spool *sp, const char *notice_id, const char *by,
    const char *note, int score, int64_t now_ms)
{
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->acked(sp, notice_id, by, note,
	    score, now_ms)));
}

int
spool_expired(struct spool *sp, const char *notice_id, int64_t now_ms)
{
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->expired(sp, notice_id,
	    now_ms)));
}

/* Sees the pass's own writes; the newest notice when an id was reused. */
int
spool_notice_info(struct spool *sp, const char *notice_id,
    struct spool_notice_info *info)
{
	return (sp->ops->notice_info(sp, notice_id, info));
}

/* 0 when fn was called for every waiting notice, else -1. */
int
spool_load_waiting(struct spool *sp,
    int (*fn)(const struct spool_waiting *, void *), void *arg)
{
	return (sp->ops->load_waiting(sp, fn, arg));
}

/* A write. Every id must name a pending delivery in no other digest. */
int
spool_digest_assign(struct spool *sp, const char *digest_id,
    const char *const *delivery_ids, size_t n)
{
	if (n == 0)
		return (0);
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->digest_assign(sp, digest_id,
	    delivery_ids, n)));
}

/* The caller frees *json (NUL-terminated) when this returns 1. */
int
spool_describe(struct spool *sp, const char *notice_id, char **json)
{
	*json = NULL;
	return (sp->ops->describe(sp, notice_id, json));
}

/* The caller frees *json (NUL-terminated, *len bytes) when this returns 1. */
int
spool_notice_json(struct spool *sp, const char *notice_id, char **json,
    size_t *len)
{
	*json = NULL;
	*len = 0;
	return (sp->ops->notice_json(sp, notice_id, json, len));
}

/*
 * One page: how many rows fn was given (fewer than max: the last page),
 * or -1. fn may not write the spool; the next page is after the last
 * row's seq.
 */
int
spool_list_pending(struct spool *sp, int64_t after_seq, size_t max,
    int (*fn)(const struct spool_pending_row *, void *), void *arg)
{
	if (max == 0)
		return (0);
	return (sp->ops->list_pending(sp, after_seq, max, fn, arg));
}

/*
 * A channel's circuit breaker opened at opened_ms (wall clock) for reason:
 * a write of the pass, for reports (docs/report.md, "breaker open").
 */
int
spool_breaker_opened(struct spool *sp, const char *channel,
    int64_t opened_ms, const char *reason)
{
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->breaker_opened(sp, channel,
	    opened_ms, reason)));
}

/*
 * The spell of channel's breaker that opened at opened_ms ended at
 * closed_ms; a channel NULL ends every spell still open (a start: the
 * breakers start closed). A spell the spool does not have is no error.
 */
int
spool_breaker_closed(struct spool *sp, const char *channel,
    int64_t opened_ms, int64_t closed_ms)
{
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->breaker_closed(sp, channel,
	    opened_ms, closed_ms)));
}

/*
 * The newest notice of that id (the one just added, in practice) was
 * demoted to batch by the frequency limit of that name.
 */
int
spool_demoted(struct spool *sp, const char *notice_id, const char *limit)
{
	if (spool_write_begin(sp) == -1)
		return (-1);
	return (spool_write_end(sp, sp->ops->demoted(sp, notice_id, limit)));
}

const char *
spool_dstate_name(enum spool_dstate state)
{
	if ((unsigned)state >= sizeof(spool_dstate_names) /
	    sizeof(spool_dstate_names[0]))
		return ("unknown");
	return (spool_dstate_names[state]);
}

/* Thread-safe: the durable thread's call (see spool.h). */
int
spool_sync(struct spool *sp, char *err, size_t errlen)
{
	if (sp->ops->sync == NULL)
		return (0);
	return (sp->ops->sync(sp, err, errlen));
}
