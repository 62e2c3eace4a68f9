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
	SPOOL_SYNC_NORMAL	/* durable when spool_commit returns */
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
	int64_t		 next_ms;	/* wall clock of the next attempt */
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
	int	(*update_delivery)(struct spool *, const char *delivery_id,
		    enum spool_dstate, int attempts, const char *error,
		    int64_t now_ms);
	int	(*commit)(struct spool *);
	void	(*rollback)(struct spool *);
	/* 1 and fills seen when id was accepted at or after since_ms. */
	int	(*seen)(struct spool *, const char *id, int64_t since_ms,
		    struct spool_seen *);
	/* Calls fn for each notice with a pending delivery. */
	int	(*load_pending)(struct spool *,
		    int (*fn)(const struct spool_pending *, void *), void *);
	/* Removes at most max finished notices older than before_ms. */
	int	(*prune)(struct spool *, int64_t before_ms, int max);
};

struct spool {
	const struct spool_ops	*ops;
	void			*backend;	/* the backend's own state */
	int			 in_txn;	/* the pass has written */
	int			 txn_failed;	/* a write of it failed */
	char			 error[256];	/* last failure, for people */
	uint64_t		 commits;
	uint64_t		 failures;
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
int		 spool_commit(struct spool *);
void		 spool_rollback(struct spool *);
int		 spool_seen(struct spool *, const char *id, int64_t since_ms,
		    struct spool_seen *);
int		 spool_load_pending(struct spool *,
		    int (*fn)(const struct spool_pending *, void *), void *);
int		 spool_prune(struct spool *, int64_t before_ms, int max);
const char	*spool_dstate_name(enum spool_dstate);

#endif /* SPOOL_H */
