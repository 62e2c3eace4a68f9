/*
 * spool.h: durable storage of accepted notices and the lifecycle of their
 * deliveries (SPEC §7). The daemon sees only this interface; a backend is
 * one const struct spool_ops (spool_sqlite.c is the embedded default), so
 * that a second backend is one new file.
 *
 * Writes are grouped: every write opens the pass's transaction if none is
 * open, and spool_commit() ends it. The daemon commits once per pass of the
 * event loop, before the replies of the notices accepted in that pass go out
 * (group commit). A failed write rolls back all written since the last
 * commit; if that was anything, later writes and the next spool_commit()
 * fail too (txn_failed), so that no reply says "ok" for a notice not kept.
 */
#ifndef SPOOL_H
#define SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct notice;

enum spool_sync {
	SPOOL_SYNC_OFF = 0,	/* no fsync: fast, loses the tail on a crash */
	SPOOL_SYNC_NORMAL,	/* durable when spool_commit returns */
	SPOOL_SYNC_ASYNC	/* durable when a later spool_sync returns */
};

/* States of a delivery, as stored. */
enum spool_dstate {
	DSTATE_PENDING = 0,	/* queued, in flight or waiting to retry */
	DSTATE_DELIVERED,
	DSTATE_FAILED,		/* failed on this channel; fallback took over */
	DSTATE_EXPIRED,
	DSTATE_DEAD		/* no channel could take it */
};

/* A delivery as written at acceptance or read back at restart. */
struct spool_delivery {
	const char	*id;		/* stable delivery id */
	const char	*channel;	/* channel name */
	const char	*route;		/* route name, or NULL */
	int		 attempts;
	int		 pilot;
	const char	*fallback_of;	/* channel name, or NULL */
	int64_t		 next_ms;	/* wall clock of the next attempt;
					   0 or past: at once */
	int		 level;		/* escalation level; 0: not one */
	const char	*digest;	/* batch digest id, or NULL */
};

/* A notice read back at restart, with its pending deliveries. */
struct spool_pending {
	const char		*notice_json;	/* as notice->json */
	size_t			 notice_len;
	const struct spool_delivery *deliveries;
	size_t			 ndeliveries;
};

/* What a duplicate id was answered the first time. */
struct spool_seen {
	char	class_name[16];
	char	channels[1024];		/* names, comma separated */
};

/* An interactive notice waiting for its ack, as stored. */
struct spool_waiting {
	const char	*notice_json;
	size_t		 notice_len;
	const char	*route;		/* route name, or NULL */
	int64_t		 respond_by_ms;	/* wall clock */
	int		 level;		/* escalation level fired last; 0 */
	int		 round;		/* chain round of that level */
	int64_t		 next_ms;	/* wall clock of the next step */
};

/* What the spool knows of one notice (for acks and the status socket). */
struct spool_notice_info {
	char		 class_name[16];
	int64_t		 received_ms;
	int64_t		 respond_by_ms;	/* 0: not waiting for an ack */
	int64_t		 acked_ms;	/* 0: not acked */
	int64_t		 expired_ms;	/* 0: not expired */
};

/* One row of the pending listing, oldest first. */
struct spool_pending_row {
	int64_t		 seq;		/* for the next page: after_seq */
	const char	*id;
	const char	*class_name;
	int64_t		 received_ms;
	int		 npending;	/* pending deliveries */
	const char	*channels;	/* of those, comma separated */
};

/*
 * A backend's write returns this when it refused the one write for what it
 * found (nothing to change, the row exists already) and the pass's
 * transaction is intact; any other failure loses the transaction.
 */
#define SPOOL_REFUSED	(-2)

struct spool;

struct spool_ops {
	const char	*name;
	int	(*open)(struct spool *, const char *path, enum spool_sync,
		    char *err, size_t errlen);
	void	(*close)(struct spool *);
	int	(*add_notice)(struct spool *, const struct notice *,
		    const struct spool_delivery *, size_t);
	int	(*add_delivery)(struct spool *, const char *notice_id,
		    const struct spool_delivery *);
	/* next_ms: the next attempt's wall clock; 0 leaves it as it is. */
	int	(*update_delivery)(struct spool *, const char *delivery_id,
		    enum spool_dstate, int attempts, const char *error,
		    int64_t now_ms, int64_t next_ms);
	int	(*commit)(struct spool *);
	/*
	 * Make every committed transaction durable. Called from another
	 * thread while the loop goes on: it must not touch what the loop
	 * uses (the SQLite backend fdatasyncs its WAL file).
	 */
	int	(*sync)(struct spool *, char *err, size_t errlen);
	void	(*rollback)(struct spool *);
	/*
	 * 1 and fills seen when id was accepted at or after since_ms, or
	 * earlier and a delivery of it is still pending.
	 */
	int	(*seen)(struct spool *, const char *id, int64_t since_ms,
		    struct spool_seen *);
	/* Calls fn for each notice with a pending delivery. */
	int	(*load_pending)(struct spool *,
		    int (*fn)(const struct spool_pending *, void *), void *);
	/* Removes at most max finished notices older than before_ms. */
	int	(*prune)(struct spool *, int64_t before_ms, int max);

	/* Interactive notices: the response deadline and what follows. */
	int	(*track)(struct spool *, const char *notice_id,
		    const char *route, int64_t respond_by_ms);
	int	(*escalated)(struct spool *, const char *notice_id, int level,
		    int round, int64_t next_ms);
	int	(*acked)(struct spool *, const char *notice_id, const char *by,
		    const char *note, int score, int64_t now_ms);
	int	(*expired)(struct spool *, const char *notice_id,
		    int64_t now_ms);
	/* 1 and fills info when the notice is known, 0 when not, -1. */
	int	(*notice_info)(struct spool *, const char *notice_id,
		    struct spool_notice_info *);
	/* Calls fn for each tracked notice neither acked nor expired. */
	int	(*load_waiting)(struct spool *,
		    int (*fn)(const struct spool_waiting *, void *), void *);
	/* Batch: these pending deliveries form one digest, for good. */
	int	(*digest_assign)(struct spool *, const char *digest_id,
		    const char *const *delivery_ids, size_t n);
	/*
	 * The status socket: one notice with its deliveries and ack as a
	 * JSON object (malloc'd into *json), 1; 0 when unknown; -1.
	 */
	int	(*describe)(struct spool *, const char *notice_id,
		    char **json);
	/* The stored json of a notice (malloc'd), 1; 0 unknown; -1. */
	int	(*notice_json)(struct spool *, const char *notice_id,
		    char **json, size_t *len);
	/* Up to max notices with pending deliveries, seq > after_seq. */
	int	(*list_pending)(struct spool *, int64_t after_seq, size_t max,
		    int (*fn)(const struct spool_pending_row *, void *),
		    void *);

	/* For reports (since schema 4): breaker spells, capped notices. */
	int	(*breaker_opened)(struct spool *, const char *channel,
		    int64_t opened_ms, const char *reason);
	/* channel NULL: every spell still open (at start). */
	int	(*breaker_closed)(struct spool *, const char *channel,
		    int64_t opened_ms, int64_t closed_ms);
	int	(*demoted)(struct spool *, const char *notice_id,
		    const char *limit);
};

struct spool {
	const struct spool_ops	*ops;
	void			*backend;	/* the backend's own state */
	int			 in_txn;	/* the pass has written */
	int			 txn_failed;	/* a write of it failed */
	int			 refused;	/* the last write was refused
						   (SPOOL_REFUSED): error says
						   why; nothing failed */
	char			 error[256];	/* last failure, for people */
	uint64_t		 commits;
	uint64_t		 failures;
	uint64_t		 checkpoints;	/* of the WAL, off the loop (as
						   of the last commit) */
};

extern const struct spool_ops spool_sqlite_ops;

/* Open by backend name ("sqlite"); NULL with err filled on failure. */
struct spool	*spool_open(const char *backend, const char *path,
		    enum spool_sync, char *err, size_t errlen);
void		 spool_close(struct spool *);
int		 spool_add_notice(struct spool *, const struct notice *,
		    const struct spool_delivery *, size_t);
int		 spool_add_delivery(struct spool *, const char *notice_id,
		    const struct spool_delivery *);
int		 spool_update_delivery(struct spool *, const char *delivery_id,
		    enum spool_dstate, int attempts, const char *error,
		    int64_t now_ms);
int		 spool_retry_delivery(struct spool *, const char *delivery_id,
		    int attempts, const char *error, int64_t now_ms,
		    int64_t next_ms);
int		 spool_commit(struct spool *);
int		 spool_sync(struct spool *, char *err, size_t errlen);
void		 spool_rollback(struct spool *);
int		 spool_seen(struct spool *, const char *id, int64_t since_ms,
		    struct spool_seen *);
int		 spool_load_pending(struct spool *,
		    int (*fn)(const struct spool_pending *, void *), void *);
int		 spool_prune(struct spool *, int64_t before_ms, int max);
const char	*spool_dstate_name(enum spool_dstate);
int		 spool_track(struct spool *, const char *notice_id,
		    const char *route, int64_t respond_by_ms);
int		 spool_escalated(struct spool *, const char *notice_id,
		    int level, int round, int64_t next_ms);
int		 spool_acked(struct spool *, const char *notice_id,
		    const char *by, const char *note, int score,
		    int64_t now_ms);
int		 spool_expired(struct spool *, const char *notice_id,
		    int64_t now_ms);
int		 spool_notice_info(struct spool *, const char *notice_id,
		    struct spool_notice_info *);
int		 spool_load_waiting(struct spool *,
		    int (*fn)(const struct spool_waiting *, void *), void *);
int		 spool_digest_assign(struct spool *, const char *digest_id,
		    const char *const *delivery_ids, size_t n);
int		 spool_describe(struct spool *, const char *notice_id,
		    char **json);
int		 spool_notice_json(struct spool *, const char *notice_id,
		    char **json, size_t *len);
int		 spool_list_pending(struct spool *, int64_t after_seq,
		    size_t max, int (*fn)(const struct spool_pending_row *,
		    void *), void *);
int		 spool_breaker_opened(struct spool *, const char *channel,
		    int64_t opened_ms, const char *reason);
int		 spool_breaker_closed(struct spool *, const char *channel,
		    int64_t opened_ms, int64_t closed_ms);
int		 spool_demoted(struct spool *, const char *notice_id,
		    const char *limit);

#endif /* SPOOL_H */
