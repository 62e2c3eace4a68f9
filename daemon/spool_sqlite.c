/*
 * spool_sqlite.c: the embedded spool backend, one SQLite database in WAL
 * mode (docs/spool.md describes the schema a report reads). Nothing of
 * SQLite is seen outside this file.
 *
 * Every statement the daemon runs is prepared once at open; a write opens
 * the pass's transaction with BEGIN IMMEDIATE, which takes the write lock at
 * once, so that a spool locked by another writer fails at the pass's first
 * write within the short busy timeout, never in the middle of a pass and
 * never by a deferred read lock that cannot be upgraded.
 */
#include <sys/file.h>
#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <yajl/yajl_gen.h>

#include "jsonbuf.h"
#include "log.h"
#include "notice.h"
#include "spool.h"

/* libbsd's tree.h wants __unused, which its cdefs.h leaves undefined. */
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

/* "SWBD": PRAGMA application_id of a switchboard spool. */
#define SPOOL_SQLITE_APP_ID	0x53574244
/* How long a write waits for another writer's lock: the loop must not stall. */
#define SPOOL_SQLITE_BUSY_MS	20
/* At open the loop is not running yet: wait out a checkpoint by a reader. */
#define SPOOL_SQLITE_OPEN_BUSY_MS 2000
/* A new spool holds notices: the daemon's group may read it for reports. */
#define SPOOL_SQLITE_MODE	0640
/* The WAL is truncated back to this size after a checkpoint. */
#define SPOOL_SQLITE_WAL_LIMIT	(64 * 1024 * 1024)
/* The checkpointer copies the WAL into the database from this many pages. */
#define SPOOL_SQLITE_CKPT_PAGES	1000
/* Fewer pages than this left to copy: straight to the RESTART. */
#define SPOOL_SQLITE_CKPT_TAIL	128
/* RESTARTs that found the loop writing before it is asked for a gap. */
#define SPOOL_SQLITE_CKPT_TRIES	2
/* A gap declined (or a reader in the way): ask again this many pages on. */
#define SPOOL_SQLITE_CKPT_AGAIN	4000
/* How long the loop waits for that RESTART, at most. */
#define SPOOL_SQLITE_YIELD_MS	100
/* Strings of a loaded delivery: id, channel, route, fallback_of, digest. */
#define SPOOL_SQLITE_DSTRINGS	5

/*
 * The schema, as ordered steps: step i takes a spool from user_version i to
 * i + 1. A step is never edited once released; a change is a new step.
 */
static const char *const spool_sqlite_migrations[] = {
	/* 1: notices and the lifecycle of their deliveries. */
	"CREATE TABLE notices ("
	"  seq INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL,"
	"  received_ms INTEGER NOT NULL,"
	"  class TEXT NOT NULL,"
	"  json BLOB NOT NULL);"
	"CREATE INDEX notices_by_id ON notices (id, received_ms);"
	"CREATE INDEX notices_by_received ON notices (received_ms);"
	"CREATE TABLE deliveries ("
	"  seq INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL,"
	"  notice_seq INTEGER NOT NULL"
	"    REFERENCES notices (seq) ON DELETE CASCADE,"
	"  position INTEGER,"
	"  channel TEXT NOT NULL,"
	"  route TEXT,"
	"  pilot INTEGER NOT NULL DEFAULT 0,"
	"  fallback_of TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered',"
	"    'failed', 'expired', 'dead')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT,"
	"  created_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL,"
	"  delivered_ms INTEGER,"
	"  next_ms INTEGER);"
	"CREATE INDEX deliveries_by_notice ON deliveries (notice_seq);"
	"CREATE INDEX deliveries_by_id ON deliveries (id);"
	"CREATE INDEX deliveries_pending ON deliveries (notice_seq)"
	"  WHERE state = 'pending';"
	"CREATE UNIQUE INDEX deliveries_pending_id ON deliveries (id)"
	"  WHERE state = 'pending';",
	/*
	 * 2: escalation and digest deliveries; interactive notices waiting
	 * for their ack, and the history of their escalations.
	 */
	"ALTER TABLE deliveries ADD COLUMN level INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE deliveries ADD COLUMN digest TEXT;"
	"CREATE TABLE responses ("
	"  notice_seq INTEGER PRIMARY KEY"
	"    REFERENCES notices (seq) ON DELETE CASCADE,"
	"  route TEXT,"
	"  respond_by_ms INTEGER NOT NULL,"
	"  level INTEGER NOT NULL DEFAULT 0,"
	"  round INTEGER NOT NULL DEFAULT 0,"
	"  next_ms INTEGER NOT NULL,"
	"  acked_ms INTEGER,"
	"  ack_by TEXT,"
	"  ack_note TEXT,"
	"  score INTEGER,"
	"  expired_ms INTEGER);"
	"CREATE INDEX responses_waiting ON responses (notice_seq)"
	"  WHERE acked_ms IS NULL AND expired_ms IS NULL;"
	"CREATE TABLE escalations ("
	"  seq INTEGER PRIMARY KEY,"
	"  notice_seq INTEGER NOT NULL"
	"    REFERENCES notices (seq) ON DELETE CASCADE,"
	"  level INTEGER NOT NULL,"
	"  round INTEGER NOT NULL,"
	"  at_ms INTEGER NOT NULL);"
	"CREATE INDEX escalations_by_notice ON escalations (notice_seq);",
	/*
	 * 3: deliveries without the IN list in its CHECK, which SQLite 3.40
	 * compiles into a throwaway b-tree built for every row written (a
	 * quarter of the daemon's instructions); the same rule as ORs costs
	 * nothing. A CHECK cannot be altered, so the table is copied, rows
	 * and seqs as they are. Its indexes are made again: only those a
	 * query needs.
	 */
	"CREATE TABLE deliveries_v3 ("
	"  seq INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL,"
	"  notice_seq INTEGER NOT NULL"
	"    REFERENCES notices (seq) ON DELETE CASCADE,"
	"  position INTEGER,"
	"  channel TEXT NOT NULL,"
	"  route TEXT,"
	"  pilot INTEGER NOT NULL DEFAULT 0,"
	"  fallback_of TEXT,"
	"  state TEXT NOT NULL CHECK (state = 'pending' OR"
	"    state = 'delivered' OR state = 'failed' OR state = 'expired' OR"
	"    state = 'dead'),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT,"
	"  created_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL,"
	"  delivered_ms INTEGER,"
	"  next_ms INTEGER,"
	"  level INTEGER NOT NULL DEFAULT 0,"
	"  digest TEXT);"
	"INSERT INTO deliveries_v3 (seq, id, notice_seq, position, channel,"
	"  route, pilot, fallback_of, state, attempts, last_error, created_ms,"
	"  updated_ms, delivered_ms, next_ms, level, digest)"
	"  SELECT seq, id, notice_seq, position, channel, route, pilot,"
	"  fallback_of, state, attempts, last_error, created_ms, updated_ms,"
	"  delivered_ms, next_ms, level, digest FROM deliveries;"
	"DROP TABLE deliveries;"
	"ALTER TABLE deliveries_v3 RENAME TO deliveries;"
	"CREATE INDEX deliveries_by_notice ON deliveries (notice_seq);"
	"CREATE INDEX deliveries_pending ON deliveries (notice_seq)"
	"  WHERE state = 'pending';"
	"CREATE UNIQUE INDEX deliveries_pending_id ON deliveries (id)"
	"  WHERE state = 'pending';",
	/*
	 * 4: for reports (docs/report.md): each spell of a channel's open
	 * circuit breaker, and the limit that demoted a notice to batch.
	 * Both only add: no row is copied.
	 */
	"CREATE TABLE breaker_openings ("
	"  seq INTEGER PRIMARY KEY,"
	"  channel TEXT NOT NULL,"
	"  opened_ms INTEGER NOT NULL,"
	"  closed_ms INTEGER,"
	"  reason TEXT);"
	"CREATE INDEX breaker_openings_by_time ON breaker_openings"
	"  (opened_ms);"
	"ALTER TABLE notices ADD COLUMN demoted_by TEXT;",
	/*
	 * 5: no index on the id of every pending delivery: an insert and a
	 * delete in a b-tree for each delivery, 7 % of the daemon's
	 * instructions (docs/PERFORMANCE.md). The daemon keeps the rows of
	 * pending deliveries in memory; the few statements that look one up
	 * by id go through its notice instead (SPOOL_SQLITE_OF_NOTICE).
	 */
	"DROP INDEX deliveries_pending_id;",
};
#define SPOOL_SQLITE_VERSION	((int)(sizeof(spool_sqlite_migrations) / \
	sizeof(spool_sqlite_migrations[0])))

enum spool_sqlite_stmt {
	STMT_BEGIN = 0,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_ADD_NOTICE,
	STMT_ADD_DELIVERY,
	STMT_ADD_LATER_DELIVERY,
	STMT_UPDATE_DELIVERY,
	STMT_UPDATE_BY_SEQ,
	STMT_PENDING_ID,
	STMT_SEEN_NOTICE,
	STMT_SEEN_PENDING,
	STMT_SEEN_PENDING_SCAN,
	STMT_SEEN_CHANNELS,
	STMT_PENDING_NOTICES,
	STMT_PENDING_JSON,
	STMT_PENDING_DELIVERIES,
	STMT_PRUNE,
	STMT_TRACK,
	STMT_TRACK_BY_SEQ,
	STMT_ESCALATION,
	STMT_ESCALATED,
	STMT_ACKED,
	STMT_EXPIRED,
	STMT_NOTICE,
	STMT_WAITING_NOTICES,
	STMT_WAITING_ONE,
	STMT_DIGEST_ASSIGN,
	STMT_DIGEST_ASSIGN_BY_SEQ,
	STMT_DIGEST_OF,
	STMT_DESCRIBE_DELIVERIES,
	STMT_DESCRIBE_ESCALATIONS,
	STMT_LIST_PENDING,
	STMT_BREAKER_OPENED,
	STMT_BREAKER_CLOSED,
	STMT_BREAKER_CLOSE_ALL,
	STMT_PRUNE_BREAKERS,
	STMT_DEMOTED,
	STMT_COUNT
};

/*
 * What an outcome sets, from ?2 (state) .. ?5 (now), and ?7: the wall clock
 * of a retry's next attempt (null: the one planned stays).
 */
#define SPOOL_SQLITE_OUTCOME	"state = ?2, attempts = ?3," \
	" last_error = coalesce(?4, last_error), updated_ms = ?5," \
	" delivered_ms = CASE WHEN ?2 = 'delivered' THEN ?5" \
	" ELSE delivered_ms END, next_ms = coalesce(?7, next_ms)"
/*
 * The deliveries of id ?1 among those of the notices of id ?6: how one that
 * ended is found without an index on every delivery's id. A delivery id
 * is its notice's id, a '/' and more (a notice id has no '/').
 */
#define SPOOL_SQLITE_OF_NOTICE	"notices AS n JOIN deliveries AS d" \
	" ON d.notice_seq = n.seq WHERE n.id = ?6 AND d.id = ?1"
/* The notice an id names: the newest, when it was resent after the window. */
#define SPOOL_SQLITE_NEWEST	"(SELECT seq FROM notices WHERE id = ?1" \
	" ORDER BY received_ms DESC, seq DESC LIMIT 1)"
/* A tracked notice still waiting for its ack (as responses_waiting says). */
#define SPOOL_SQLITE_WAITING	"acked_ms IS NULL AND expired_ms IS NULL"

/* The 'pending' in these is spool_dstate_name(DSTATE_PENDING). */
static const char *const spool_sqlite_sql[STMT_COUNT] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_ADD_NOTICE] =
	    "INSERT INTO notices (id, received_ms, class, json)"
	    " VALUES (?1, ?2, ?3, ?4)",
	[STMT_ADD_DELIVERY] =
	    "INSERT INTO deliveries (id, notice_seq, position, channel, route,"
	    " pilot, fallback_of, state, attempts, created_ms, updated_ms,"
	    " next_ms, level, digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
	    " 'pending', ?8, ?9, ?9, ?10, ?11, ?12)",
	/* A delivery added after acceptance joins the newest such notice. */
	[STMT_ADD_LATER_DELIVERY] =
	    "INSERT INTO deliveries (id, notice_seq, position, channel, route,"
	    " pilot, fallback_of, state, attempts, created_ms, updated_ms,"
	    " next_ms, level, digest) SELECT ?1, n.seq, NULL, ?4, ?5, ?6, ?7,"
	    " 'pending', ?8, ?9, ?9, ?10, ?11, ?12 FROM (SELECT seq FROM"
	    " notices WHERE id = ?2 ORDER BY received_ms DESC, seq DESC"
	    " LIMIT 1) n WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE"
	    " d.notice_seq = n.seq AND d.id = ?1)",
	/*
	 * The pending delivery of that id, else the last one ended, found
	 * through its notice (?6: the id's part before the first '/').
	 */
	[STMT_UPDATE_DELIVERY] =
	    "UPDATE deliveries SET " SPOOL_SQLITE_OUTCOME
	    " WHERE seq = coalesce("
	    "(SELECT max(d.seq) FROM " SPOOL_SQLITE_OF_NOTICE
	    " AND d.state = 'pending'),"
	    "(SELECT max(d.seq) FROM " SPOOL_SQLITE_OF_NOTICE "))",
	/* The row the map says, if it still is that pending delivery. */
	[STMT_UPDATE_BY_SEQ] =
	    "UPDATE deliveries SET " SPOOL_SQLITE_OUTCOME
	    " WHERE seq = ?6 AND id = ?1 AND state = 'pending'",
	/* A pending delivery of id ?1 (of a notice of id ?6). */
	[STMT_PENDING_ID] =
	    "SELECT 1 FROM " SPOOL_SQLITE_OF_NOTICE " AND d.state = 'pending'",
	[STMT_SEEN_NOTICE] =
	    "SELECT seq, class FROM notices WHERE id = ?1"
	    " AND received_ms >= ?2 ORDER BY received_ms DESC, seq DESC"
	    " LIMIT 1",
	/* The notice of a pending delivery the map of pending rows found. */
	[STMT_SEEN_PENDING] =
	    "SELECT n.seq, n.class FROM notices AS n JOIN deliveries AS d"
	    " ON d.notice_seq = n.seq WHERE d.seq = ?1 AND n.id = ?2"
	    " AND d.state = 'pending'",
	/* The same when the map cannot tell: every notice of the id. */
	[STMT_SEEN_PENDING_SCAN] =
	    "SELECT seq, class FROM notices WHERE id = ?1 AND EXISTS (SELECT 1"
	    " FROM deliveries WHERE notice_seq = notices.seq"
	    " AND state = 'pending') ORDER BY received_ms DESC, seq DESC"
	    " LIMIT 1",
	[STMT_SEEN_CHANNELS] =
	    "SELECT channel FROM deliveries WHERE notice_seq = ?1"
	    " AND position IS NOT NULL AND fallback_of IS NULL"
	    " ORDER BY position",
	[STMT_PENDING_NOTICES] =
	    "SELECT seq FROM notices WHERE seq IN (SELECT notice_seq FROM"
	    " deliveries WHERE state = 'pending')"
	    " ORDER BY received_ms, seq",
	[STMT_PENDING_JSON] = "SELECT json FROM notices WHERE seq = ?1",
	[STMT_PENDING_DELIVERIES] =
	    "SELECT id, channel, route, attempts, pilot, fallback_of, next_ms,"
	    " level, digest, seq FROM deliveries"
	    " WHERE notice_seq = ?1 AND state = 'pending' ORDER BY seq",
	/*
	 * Deliveries, the response and the escalation history go with their
	 * notice (ON DELETE CASCADE); a notice waiting for its ack stays.
	 */
	[STMT_PRUNE] =
	    "DELETE FROM notices WHERE seq IN (SELECT seq FROM notices AS n"
	    " WHERE received_ms < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries"
	    " WHERE notice_seq = n.seq AND state = 'pending')"
	    " AND NOT EXISTS (SELECT 1 FROM responses WHERE notice_seq = n.seq"
	    " AND " SPOOL_SQLITE_WAITING ")"
	    " ORDER BY received_ms LIMIT ?2)",
	/*
	 * Only once: a second track would restart a running escalation. A
	 * conflict, not a NOT EXISTS on responses: reading the table it
	 * writes makes SQLite stage the rows in a throwaway b-tree.
	 */
	[STMT_TRACK] =
	    "INSERT INTO responses (notice_seq, route, respond_by_ms, next_ms)"
	    " SELECT seq, ?2, ?3, ?3 FROM notices WHERE seq = "
	    SPOOL_SQLITE_NEWEST " ON CONFLICT (notice_seq) DO NOTHING",
	/* The same, for the notice just added (?4: its seq). */
	[STMT_TRACK_BY_SEQ] =
	    "INSERT INTO responses (notice_seq, route, respond_by_ms, next_ms)"
	    " SELECT seq, ?2, ?3, ?3 FROM notices WHERE seq = ?4 AND id = ?1"
	    " ON CONFLICT (notice_seq) DO NOTHING",
	/* History: a level that fires, once a round; not a reschedule. */
	[STMT_ESCALATION] =
	    "INSERT INTO escalations (notice_seq, level, round, at_ms)"
	    " SELECT notice_seq, ?2, ?3, ?4 FROM responses"
	    " WHERE notice_seq = " SPOOL_SQLITE_NEWEST " AND "
	    SPOOL_SQLITE_WAITING " AND ?2 > 0 AND (level != ?2 OR round != ?3)",
	[STMT_ESCALATED] =
	    "UPDATE responses SET level = ?2, round = ?3, next_ms = ?4"
	    " WHERE notice_seq = " SPOOL_SQLITE_NEWEST " AND "
	    SPOOL_SQLITE_WAITING,
	/* An ack after expiry is kept too: it is a (late) response. */
	[STMT_ACKED] =
	    "UPDATE responses SET acked_ms = ?2, ack_by = ?3, ack_note = ?4,"
	    " score = nullif(?5, 0) WHERE notice_seq = " SPOOL_SQLITE_NEWEST
	    " AND acked_ms IS NULL",
	[STMT_EXPIRED] =
	    "UPDATE responses SET expired_ms = ?2"
	    " WHERE notice_seq = " SPOOL_SQLITE_NEWEST " AND "
	    SPOOL_SQLITE_WAITING,
	[STMT_NOTICE] =
	    "SELECT n.seq, n.id, n.class, n.received_ms, n.json,"
	    " r.respond_by_ms, r.acked_ms, r.ack_by, r.ack_note, r.score,"
	    " r.expired_ms FROM notices AS n"
	    " LEFT JOIN responses AS r ON r.notice_seq = n.seq"
	    " WHERE n.seq = " SPOOL_SQLITE_NEWEST,
	[STMT_WAITING_NOTICES] =
	    "SELECT notice_seq FROM responses WHERE " SPOOL_SQLITE_WAITING
	    " ORDER BY notice_seq",
	[STMT_WAITING_ONE] =
	    "SELECT n.json, r.route, r.respond_by_ms, r.level, r.round,"
	    " r.next_ms FROM responses AS r"
	    " JOIN notices AS n ON n.seq = r.notice_seq"
	    " WHERE r.notice_seq = ?1 AND r.acked_ms IS NULL"
	    " AND r.expired_ms IS NULL",
	/* A delivery is in one digest for good: never moved to another. */
	[STMT_DIGEST_ASSIGN] =
	    "UPDATE deliveries SET digest = ?1 WHERE seq = (SELECT max(d.seq)"
	    " FROM notices AS n JOIN deliveries AS d ON d.notice_seq = n.seq"
	    " WHERE n.id = ?4 AND d.id = ?2 AND d.state = 'pending')"
	    " AND (digest IS NULL OR digest = ?1)",
	[STMT_DIGEST_ASSIGN_BY_SEQ] =
	    "UPDATE deliveries SET digest = ?1 WHERE seq = ?3 AND id = ?2"
	    " AND state = 'pending' AND (digest IS NULL OR digest = ?1)",
	/* Why an assignment changed nothing: the delivery that id names. */
	[STMT_DIGEST_OF] =
	    "SELECT d.state, d.digest FROM " SPOOL_SQLITE_OF_NOTICE
	    " ORDER BY d.state = 'pending' DESC, d.seq DESC LIMIT 1",
	[STMT_DESCRIBE_DELIVERIES] =
	    "SELECT id, channel, route, state, attempts, last_error, level,"
	    " digest, pilot, fallback_of, created_ms, updated_ms, delivered_ms"
	    " FROM deliveries WHERE notice_seq = ?1 ORDER BY seq",
	[STMT_DESCRIBE_ESCALATIONS] =
	    "SELECT level, round, at_ms FROM escalations WHERE notice_seq = ?1"
	    " ORDER BY seq",
	/*
	 * One page: a range of the partial index of pending deliveries,
	 * already in notice order, so the page costs its own rows only.
	 * CROSS JOIN keeps deliveries the outer loop whatever statistics an
	 * ANALYZE left: walking notices would also walk every finished one.
	 */
	[STMT_LIST_PENDING] =
	    "SELECT d.notice_seq, n.id, n.class, n.received_ms, count(*),"
	    " group_concat(DISTINCT d.channel) FROM deliveries AS d"
	    " CROSS JOIN notices AS n ON n.seq = d.notice_seq"
	    " WHERE d.state = 'pending' AND d.notice_seq > ?1"
	    " GROUP BY d.notice_seq ORDER BY d.notice_seq LIMIT ?2",
	[STMT_BREAKER_OPENED] =
	    "INSERT INTO breaker_openings (channel, opened_ms, reason)"
	    " VALUES (?1, ?2, ?3)",
	/* Never before it opened: the wall clock may have stepped back. */
	[STMT_BREAKER_CLOSED] =
	    "UPDATE breaker_openings SET closed_ms = max(?3, opened_ms)"
	    " WHERE opened_ms = ?2 AND channel = ?1 AND closed_ms IS NULL",
	[STMT_BREAKER_CLOSE_ALL] =
	    "UPDATE breaker_openings SET closed_ms = max(?1, opened_ms)"
	    " WHERE closed_ms IS NULL",
	/* Spells over before the retention cut, as the notices go. */
	[STMT_PRUNE_BREAKERS] =
	    "DELETE FROM breaker_openings WHERE opened_ms < ?1"
	    " AND closed_ms < ?1",
	/*
	 * The notice just added (?3: its seq), else the newest of the id.
	 * The subquery is a constant, run at most once: no staging.
	 */
	[STMT_DEMOTED] =
	    "UPDATE notices SET demoted_by = ?2 WHERE seq = coalesce(?3, "
	    SPOOL_SQLITE_NEWEST ")",
};

/*
 * A pending delivery's row, by its id: an outcome then updates the row by
 * its seq instead of looking the text id up in two indexes. The map is a
 * cache, not the truth: a delivery not in it is looked up by id, and a
 * statement by seq also checks the id and that the row is still pending.
 */
struct spool_sqlite_dseq {
	RB_ENTRY(spool_sqlite_dseq)	 entry;
	int64_t				 seq;
	const char			*id;	/* stored after it */
};
RB_HEAD(spool_sqlite_dseqs, spool_sqlite_dseq);

/* A change to the map in the open transaction, undone by its rollback. */
struct spool_sqlite_undo {
	struct spool_sqlite_dseq	*ds;
	int				 added;	/* else removed (kept until
						   the commit) */
};

/*
 * The checkpointer: a thread with a connection of its own that copies the
 * WAL into the database once the loop's commits have made it long, so that
 * the loop does not (SQLite would, inside the commit that crossed the
 * line: milliseconds to tens of them, an fsync included).
 */
struct spool_sqlite_ckpt {
	sqlite3		*db;		/* the thread's; opened and closed
					   while it does not run */
	const char	*path;
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 wake;		/* the thread: due, yielding, stop */
	pthread_cond_t	 restarted;	/* the loop: a RESTART is over */
	int		 running;
	int		 due;		/* under lock: the loop committed */
	int		 stop;		/* under lock */
	int		 restarting;	/* under lock: in a RESTART, which
					   may hold the write lock */
	int		 yielding;	/* under lock: the loop waits for
					   one before its transaction */
	int		 declined;	/* under lock: it waited in vain */
	struct timespec	 busy_until;	/* the loop's: the end of its wait
					   for a RESTART, in one busy spell */
	atomic_int	 yield;		/* the thread asks the loop to */
	atomic_int	 pages;		/* the WAL's length at the last
					   commit */
	atomic_uint	 reused;	/* times the loop started the WAL
					   again from its beginning */
	atomic_uint_least64_t done;	/* checkpoints made */
	int		 copied;	/* the thread's: frames copied */
	unsigned	 copied_of;	/* the thread's: of this reuse */
	int		 tries;		/* the thread's: RESTARTs refused */
	int		 ask_at;	/* the thread's: no gap asked for
					   below this length */
	int		 failing;	/* the thread's: the last failed */
};

struct spool_sqlite {
	sqlite3				*db;
	char				*path;
	int				 lockfd;	/* flock'd: one daemon
							   a spool */
	int				 walfd;		/* the WAL, for
							   spool_sync */
	sqlite3_stmt			*stmt[STMT_COUNT];
	struct spool_sqlite_dseqs	 dseqs;
	int				 dseqs_partial;	/* not every pending
							   delivery is in: not
							   loaded yet, or lost */
	int				 dseqs_lost;	/* memory ran out */
	struct spool_sqlite_undo	*undo;
	size_t				 nundo;
	size_t				 undosize;
	/* The notice added last, for the spool_track that follows it. */
	int64_t				 last_seq;	/* 0: none */
	char				 last_id[SB_ID_MAX + 1];
	struct spool_sqlite_ckpt	 ckpt;
};

/* The pending deliveries of one notice, copied out for load_pending. */
struct spool_sqlite_pending {
	struct spool_delivery	*d;
	char			**strings;	/* what d points into, at most
						   SPOOL_SQLITE_DSTRINGS each */
	size_t			 n;
	size_t			 nstrings;
	size_t			 size;
};

/* describe's output as yajl writes it, and what to splice in. */
struct spool_sqlite_json {
	struct jsonbuf	 out;
	const char	*raw;		/* for the next null: stored JSON */
	size_t		 rawlen;
};

static int	spool_sqlite_open(struct spool *, const char *,
		    enum spool_sync, char *, size_t);
static void	spool_sqlite_close(struct spool *);
static int	spool_sqlite_add_notice(struct spool *, const struct notice *,
		    const struct spool_delivery *, size_t);
static int	spool_sqlite_add_delivery(struct spool *, const char *,
		    const struct spool_delivery *);
static int	spool_sqlite_update_delivery(struct spool *, const char *,
		    enum spool_dstate, int, const char *, int64_t, int64_t);
static int	spool_sqlite_commit(struct spool *);
static int	spool_sqlite_sync(struct spool *, char *, size_t);
static void	spool_sqlite_rollback(struct spool *);
static int	spool_sqlite_seen(struct spool *, const char *, int64_t,
		    struct spool_seen *);
static int	spool_sqlite_seen_step(struct spool *, sqlite3_stmt *,
		    const char *, int64_t *, struct spool_seen *);
static int	spool_sqlite_seen_channels(struct spool *, const char *,
		    int64_t, struct spool_seen *);
static int	spool_sqlite_load_pending(struct spool *,
		    int (*)(const struct spool_pending *, void *), void *);
static int	spool_sqlite_prune(struct spool *, int64_t, int);
static int	spool_sqlite_track(struct spool *, const char *, const char *,
		    int64_t);
static int	spool_sqlite_escalated(struct spool *, const char *, int, int,
		    int64_t);
static int	spool_sqlite_acked(struct spool *, const char *, const char *,
		    const char *, int, int64_t);
static int	spool_sqlite_expired(struct spool *, const char *, int64_t);
static int	spool_sqlite_notice_info(struct spool *, const char *,
		    struct spool_notice_info *);
static int	spool_sqlite_load_waiting(struct spool *,
		    int (*)(const struct spool_waiting *, void *), void *);
static int	spool_sqlite_digest_assign(struct spool *, const char *,
		    const char *const *, size_t);
static int	spool_sqlite_describe(struct spool *, const char *, char **);
static int	spool_sqlite_notice_json(struct spool *, const char *, char **,
		    size_t *);
static int	spool_sqlite_list_pending(struct spool *, int64_t, size_t,
		    int (*)(const struct spool_pending_row *, void *), void *);
static int	spool_sqlite_breaker_opened(struct spool *, const char *,
		    int64_t, const char *);
static int	spool_sqlite_breaker_closed(struct spool *, const char *,
		    int64_t, int64_t);
static int	spool_sqlite_demoted(struct spool *, const char *,
		    const char *);

static int	spool_sqlite_lock(struct spool_sqlite *, char *, size_t);
static int	spool_sqlite_connect(struct spool_sqlite *, char *, size_t);
static int	spool_sqlite_inspect(struct spool_sqlite *, int *, char *,
		    size_t);
static int	spool_sqlite_pragma_int(struct spool_sqlite *, const char *,
		    int *);
static int	spool_sqlite_quick_check(struct spool_sqlite *, char *,
		    size_t);
static int	spool_sqlite_configure(struct spool_sqlite *, enum spool_sync,
		    char *, size_t);
static int	spool_sqlite_migrate(struct spool_sqlite *, int, char *,
		    size_t);
static int	spool_sqlite_prepare(struct spool_sqlite *, char *, size_t);
static int	spool_sqlite_open_wal(struct spool_sqlite *, char *, size_t);
static const char *spool_sqlite_synchronous(enum spool_sync);
static int	spool_sqlite_ckpt_start(struct spool_sqlite *, enum spool_sync,
		    char *, size_t);
static int	spool_sqlite_ckpt_connect(struct spool_sqlite *,
		    enum spool_sync);
static void	spool_sqlite_ckpt_stop(struct spool_sqlite *);
static void	*spool_sqlite_ckpt_loop(void *);
static void	spool_sqlite_ckpt_run(struct spool_sqlite_ckpt *);
static int	spool_sqlite_ckpt_restart(struct spool_sqlite_ckpt *, int *);
static void	spool_sqlite_ckpt_ask(struct spool_sqlite_ckpt *, int, int,
		    int);
static void	spool_sqlite_ckpt_report(struct spool_sqlite_ckpt *, int, int,
		    int);
static void	spool_sqlite_ckpt_yield(struct spool_sqlite_ckpt *);
static int	spool_sqlite_wal_cb(void *, sqlite3 *, const char *, int);
static int	spool_sqlite_busy_cb(void *, int);
static void	spool_sqlite_until(struct timespec *, long);
static void	spool_sqlite_unreadable(struct spool_sqlite *, char *, size_t,
		    const char *);
static void	spool_sqlite_reason(sqlite3 *, char *, size_t);
static void	spool_sqlite_fail(struct spool *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	spool_sqlite_vfail(struct spool *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static int	spool_sqlite_begin(struct spool *);
static int	spool_sqlite_step_done(struct spool *, sqlite3_stmt *,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
static int	spool_sqlite_bind_delivery(sqlite3_stmt *,
		    const struct spool_delivery *, int64_t);
static int64_t	spool_sqlite_now_ms(void);
static int	spool_sqlite_outcome(struct spool *, enum spool_sqlite_stmt,
		    int64_t, const char *, enum spool_dstate, int,
		    const char *, int64_t, int64_t);
static int	spool_sqlite_assign(struct spool *, enum spool_sqlite_stmt,
		    int64_t, const char *, const char *);
static int	spool_sqlite_pending_id(struct spool *, const char *,
		    const char *);
static int	spool_sqlite_bind_notice_part(sqlite3_stmt *, int,
		    const char *);
static int	spool_sqlite_dseq_cmp(const struct spool_sqlite_dseq *,
		    const struct spool_sqlite_dseq *);
static struct spool_sqlite_dseq *spool_sqlite_dseq_of_notice(
		    struct spool_sqlite *, const char *);
static struct spool_sqlite_dseq *spool_sqlite_dseq_find(struct spool_sqlite *,
		    const char *);
static void	spool_sqlite_dseqs_lost(struct spool_sqlite *);
static void	spool_sqlite_dseq_add(struct spool_sqlite *, const char *,
		    int64_t);
static void	spool_sqlite_dseq_remove(struct spool_sqlite *,
		    struct spool_sqlite_dseq *);
static void	spool_sqlite_dseq_free(struct spool_sqlite *);
static int	spool_sqlite_undo_push(struct spool_sqlite *,
		    struct spool_sqlite_dseq *, int);
static void	spool_sqlite_undo_commit(struct spool_sqlite *);
static void	spool_sqlite_undo_rollback(struct spool_sqlite *);
static int	spool_sqlite_seqs(struct spool *, sqlite3_stmt *,
		    const char *, int64_t **, size_t *);
static int	spool_sqlite_pending_one(struct spool *, int64_t,
		    int (*)(const struct spool_pending *, void *), void *);
static int	spool_sqlite_pending_add(struct spool_sqlite_pending *,
		    sqlite3_stmt *);
static char	*spool_sqlite_keep(struct spool_sqlite_pending *,
		    sqlite3_stmt *, int);
static void	spool_sqlite_pending_free(struct spool_sqlite_pending *);
static int	spool_sqlite_bind_failed(struct spool *, sqlite3_stmt *,
		    const char *, const char *);
static int	spool_sqlite_respond(struct spool *, sqlite3_stmt *,
		    const char *, const char *);
static void	spool_sqlite_why_not(struct spool *, const char *,
		    const char *);
static int	spool_sqlite_waiting_one(struct spool *, int64_t,
		    int (*)(const struct spool_waiting *, void *), void *);
static void	spool_sqlite_why_not_digest(struct spool *, const char *,
		    const char *);
static void	spool_sqlite_gen_notice(yajl_gen, struct spool_sqlite_json *,
		    sqlite3_stmt *);
static int	spool_sqlite_gen_deliveries(struct spool *, yajl_gen,
		    int64_t);
static int	spool_sqlite_gen_response(struct spool *, yajl_gen,
		    sqlite3_stmt *, int64_t);
static void	spool_sqlite_gen_string(yajl_gen, const char *);
static void	spool_sqlite_gen_text(yajl_gen, const char *, sqlite3_stmt *,
		    int);
static void	spool_sqlite_gen_int(yajl_gen, const char *, sqlite3_stmt *,
		    int);
static void	spool_sqlite_gen_time(yajl_gen, const char *, sqlite3_stmt *,
		    int);
static void	spool_sqlite_json_cb(void *, const char *, size_t);

RB_PROTOTYPE_STATIC(spool_sqlite_dseqs, spool_sqlite_dseq, entry,
    spool_sqlite_dseq_cmp)
RB_GENERATE_STATIC(spool_sqlite_dseqs, spool_sqlite_dseq, entry,
    spool_sqlite_dseq_cmp)

const struct spool_ops spool_sqlite_ops = {
	.name = "sqlite",
	.open = spool_sqlite_open,
	.close = spool_sqlite_close,
	.add_notice = spool_sqlite_add_notice,
	.add_delivery = spool_sqlite_add_delivery,
	.update_delivery = spool_sqlite_update_delivery,
	.commit = spool_sqlite_commit,
	.sync = spool_sqlite_sync,
	.rollback = spool_sqlite_rollback,
	.seen = spool_sqlite_seen,
	.load_pending = spool_sqlite_load_pending,
	.prune = spool_sqlite_prune,
	.track = spool_sqlite_track,
	.escalated = spool_sqlite_escalated,
	.acked = spool_sqlite_acked,
	.expired = spool_sqlite_expired,
	.notice_info = spool_sqlite_notice_info,
	.load_waiting = spool_sqlite_load_waiting,
	.digest_assign = spool_sqlite_digest_assign,
	.describe = spool_sqlite_describe,
	.notice_json = spool_sqlite_notice_json,
	.list_pending = spool_sqlite_list_pending,
	.breaker_opened = spool_sqlite_breaker_opened,
	.breaker_closed = spool_sqlite_breaker_closed,
	.demoted = spool_sqlite_demoted,
};

/*
 * Open or create the spool at path. An existing file is never replaced: if
 * it cannot be read as a switchboard spool, open fails and says so.
 */
static int
spool_sqlite_open(struct spool *sp, const char *path, enum spool_sync sync,
    char *err, size_t errlen)
{
	struct spool_sqlite *ss;
	int version;

	if ((ss = calloc(1, sizeof(*ss))) == NULL ||
	    (ss->path = strdup(path)) == NULL) {
		free(ss);
		snprintf(err, errlen, "spool %s: out of memory", path);
		return (-1);
	}
	/*
	 * SQLite's memory statistics take a global mutex around every malloc
	 * and free, and Debian's build has no lookaside: each run of a
	 * statement mallocs its cursors. ~5 % of the daemon's instructions,
	 * for figures nothing reads. Possible only before SQLite's first use
	 * in the process; later it is refused, harmlessly.
	 */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	ss->lockfd = -1;
	ss->walfd = -1;
	RB_INIT(&ss->dseqs);
	/* Until spool_sqlite_load_pending() has read every pending row. */
	ss->dseqs_partial = 1;
	sp->backend = ss;
	if (spool_sqlite_lock(ss, err, errlen) == -1 ||
	    spool_sqlite_connect(ss, err, errlen) == -1 ||
	    spool_sqlite_inspect(ss, &version, err, errlen) == -1 ||
	    spool_sqlite_configure(ss, sync, err, errlen) == -1 ||
	    spool_sqlite_migrate(ss, version, err, errlen) == -1 ||
	    spool_sqlite_prepare(ss, err, errlen) == -1 ||
	    spool_sqlite_ckpt_start(ss, sync, err, errlen) == -1 ||
	    (sync == SPOOL_SYNC_ASYNC &&
	    spool_sqlite_open_wal(ss, err, errlen) == -1)) {
		spool_sqlite_close(sp);
		return (-1);
	}
	sqlite3_busy_handler(ss->db, spool_sqlite_busy_cb, &ss->ckpt);
	log_debug("spool path=%s schema=%d synchronous=%s", path,
	    SPOOL_SQLITE_VERSION, spool_sqlite_synchronous(sync));
	return (0);
}

/*
 * SPOOL_SYNC_ASYNC: spool_sync fdatasyncs the WAL through a descriptor of
 * the spool's own, from another thread, without SQLite. The file is the
 * one SQLite writes for as long as the spool is open: it is only removed
 * when the last connection closes, and a checkpoint reuses it in place.
 */
static int
spool_sqlite_open_wal(struct spool_sqlite *ss, char *err, size_t errlen)
{
	char wal[PATH_MAX];

	if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", ss->path) >=
	    sizeof(wal)) {
		snprintf(err, errlen, "spool %s: path too long", ss->path);
		return (-1);
	}
	if ((ss->walfd = open(wal, O_RDWR | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot open %s, the spool's WAL: %s",
		    wal, strerror(errno));
		return (-1);
	}
	return (0);
}

/* PRAGMA synchronous of the loop's connection for each spool_sync. */
static const char *
spool_sqlite_synchronous(enum spool_sync sync)
{
	switch (sync) {
	case SPOOL_SYNC_OFF:
		return ("OFF");
	case SPOOL_SYNC_ASYNC:
		return ("NORMAL");
	default:
		return ("FULL");
	}
}

/*
 * Two daemons on one spool would both restore and deliver its pending
 * notices. SQLite's own locks cover transactions, not ownership, so the
 * daemon holds an flock(2) on the file for as long as the spool is open;
 * readers (reports) never take it. The descriptor is closed only after
 * SQLite is: closing any descriptor of the file drops the process's POSIX
 * locks, which are SQLite's.
 */
static int
spool_sqlite_lock(struct spool_sqlite *ss, char *err, size_t errlen)
{
	ss->lockfd = open(ss->path, O_RDWR | O_CREAT | O_CLOEXEC,
	    SPOOL_SQLITE_MODE);
	if (ss->lockfd == -1) {
		snprintf(err, errlen, "cannot open spool %s: %s; check that "
		    "its directory exists and that the daemon's user may "
		    "write there", ss->path, strerror(errno));
		return (-1);
	}
	if (flock(ss->lockfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen, "spool %s is in use by another "
			    "process (another switchboardd with the same "
			    "spool.path?)", ss->path);
		else
			snprintf(err, errlen, "cannot lock spool %s: %s",
			    ss->path, strerror(errno));
		return (-1);
	}
	return (0);
}

static int
spool_sqlite_connect(struct spool_sqlite *ss, char *err, size_t errlen)
{
	char why[256];
	int flags;

	flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(ss->path, &ss->db, flags, NULL) != SQLITE_OK) {
		spool_sqlite_reason(ss->db, why, sizeof(why));
		snprintf(err, errlen, "cannot open spool %s: %s; check that "
		    "its directory exists and that the daemon's user may "
		    "write there", ss->path, why);
		return (-1);
	}
	sqlite3_extended_result_codes(ss->db, 1);
	/* SQLite falls back to read-only on a write-protected file. */
	if (sqlite3_db_readonly(ss->db, "main") == 1) {
		snprintf(err, errlen, "spool %s is read-only; the daemon's "
		    "user must be able to write it and its directory (for "
		    "the -wal and -shm files)", ss->path);
		return (-1);
	}
	sqlite3_busy_timeout(ss->db, SPOOL_SQLITE_OPEN_BUSY_MS);
	return (0);
}

/*
 * Decide whether the file is an empty database, one of our spools (and of
 * which version), or something to refuse. Fills *version.
 */
static int
spool_sqlite_inspect(struct spool_sqlite *ss, int *version, char *err,
    size_t errlen)
{
	int app_id, ntables;

	if (spool_sqlite_pragma_int(ss, "PRAGMA application_id",
	    &app_id) == -1 ||
	    spool_sqlite_pragma_int(ss, "PRAGMA user_version",
	    version) == -1 ||
	    spool_sqlite_pragma_int(ss, "SELECT count(*) FROM sqlite_master",
	    &ntables) == -1) {
		spool_sqlite_unreadable(ss, err, errlen, NULL);
		return (-1);
	}
	if (app_id != SPOOL_SQLITE_APP_ID &&
	    (app_id != 0 || *version != 0 || ntables != 0)) {
		snprintf(err, errlen, "%s is not a switchboard spool: it is "
		    "an SQLite database of another program (application_id "
		    "0x%08x, tables and indexes: %d); set spool.path to "
		    "another file, or move it aside to start empty", ss->path,
		    (unsigned)app_id, ntables);
		return (-1);
	}
	if (*version > SPOOL_SQLITE_VERSION) {
		snprintf(err, errlen, "spool %s has schema version %d, newer "
		    "than the %d this switchboardd knows: it was written by a "
		    "newer switchboardd; run that version, or move the file "
		    "aside to start empty", ss->path, *version,
		    SPOOL_SQLITE_VERSION);
		return (-1);
	}
	return (spool_sqlite_quick_check(ss, err, errlen));
}

/* Run a statement that returns one integer. */
static int
spool_sqlite_pragma_int(struct spool_sqlite *ss, const char *sql, int *val)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL) != SQLITE_OK)
		return (-1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*val = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return (rc == SQLITE_ROW ? 0 : -1);
}

/* PRAGMA quick_check: O(size) but cheap; run once at every start. */
static int
spool_sqlite_quick_check(struct spool_sqlite *ss, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	const char *result;
	char first[200], *p;
	int rc;

	if (sqlite3_prepare_v2(ss->db, "PRAGMA quick_check(1)", -1, &st,
	    NULL) != SQLITE_OK) {
		spool_sqlite_unreadable(ss, err, errlen, NULL);
		return (-1);
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		spool_sqlite_unreadable(ss, err, errlen, NULL);
		sqlite3_finalize(st);
		return (-1);
	}
	result = (const char *)sqlite3_column_text(st, 0);
	snprintf(first, sizeof(first), "%s", result != NULL ? result : "");
	sqlite3_finalize(st);
	/* One line: the message goes into a log line. */
	for (p = first; (p = strchr(p, '\n')) != NULL; p++)
		*p = ' ';
	if (strcmp(first, "ok") != 0) {
		spool_sqlite_unreadable(ss, err, errlen, first);
		return (-1);
	}
	return (0);
}

/*
 * Journal and durability. In WAL mode SQLite's own synchronous=NORMAL
 * fsyncs only at checkpoints: a commit survives the daemon crashing but not
 * the machine losing power. The SPEC promises that an "ok" survives a
 * crash, so SPOOL_SYNC_NORMAL is synchronous=FULL: the WAL is fsync'd before
 * COMMIT returns. SPOOL_SYNC_ASYNC is NORMAL, which keeps the file
 * consistent through a power loss, and a commit is durable once a later
 * spool_sync has fdatasync'd the WAL. SPOOL_SYNC_OFF never fsyncs and may
 * lose the last passes (or worse) when the machine stops.
 */
static int
spool_sqlite_configure(struct spool_sqlite *ss, enum spool_sync sync,
    char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char pragmas[256], mode[16] = "";
	int rc;

	if (sqlite3_prepare_v2(ss->db, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL) != SQLITE_OK)
		goto fail;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		snprintf(mode, sizeof(mode), "%s",
		    (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		goto fail;
	if (strcmp(mode, "wal") != 0) {
		snprintf(err, errlen, "spool %s cannot use WAL mode (SQLite "
		    "kept journal mode '%s'); put it on a local file system",
		    ss->path, mode);
		return (-1);
	}
	snprintf(pragmas, sizeof(pragmas), "PRAGMA synchronous = %s;"
	    "PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = %d;",
	    spool_sqlite_synchronous(sync), SPOOL_SQLITE_WAL_LIMIT);
	if (sqlite3_exec(ss->db, pragmas, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return (0);
fail:
	spool_sqlite_unreadable(ss, err, errlen, NULL);
	return (-1);
}

/*
 * Bring the schema from version to SPOOL_SQLITE_VERSION in one transaction.
 * Foreign keys are off meanwhile (the pragma cannot change inside one): a
 * step that rebuilds a table copies its rows with their references as they
 * are, which need not be looked up again.
 */
static int
spool_sqlite_migrate(struct spool_sqlite *ss, int version, char *err,
    size_t errlen)
{
	char why[256], sql[128];
	int i;

	if (version == SPOOL_SQLITE_VERSION)
		return (0);
	if (sqlite3_exec(ss->db, "PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE",
	    NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	for (i = version; i < SPOOL_SQLITE_VERSION; i++)
		if (sqlite3_exec(ss->db, spool_sqlite_migrations[i], NULL,
		    NULL, NULL) != SQLITE_OK)
			goto fail;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d;"
	    "PRAGMA application_id = %d;", SPOOL_SQLITE_VERSION,
	    SPOOL_SQLITE_APP_ID);
	if (sqlite3_exec(ss->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(ss->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_exec(ss->db, "PRAGMA foreign_keys = ON", NULL, NULL,
	    NULL) != SQLITE_OK) {
		spool_sqlite_unreadable(ss, err, errlen, NULL);
		return (-1);
	}
	if (version == 0)
		log_info("spool path=%s created schema=%d", ss->path,
		    SPOOL_SQLITE_VERSION);
	else
		log_info("spool path=%s migrated from=%d to=%d", ss->path,
		    version, SPOOL_SQLITE_VERSION);
	return (0);
fail:
	spool_sqlite_reason(ss->db, why, sizeof(why));
	if (!sqlite3_get_autocommit(ss->db))
		sqlite3_exec(ss->db, "ROLLBACK", NULL, NULL, NULL);
	snprintf(err, errlen, "cannot bring spool %s from schema version %d "
	    "to %d: %s; the file is unchanged", ss->path, version,
	    SPOOL_SQLITE_VERSION, why);
	return (-1);
}

/*
 * Prepare every statement once. One that does not compile against a file
 * that says it is at our version means the schema was damaged or edited.
 */
static int
spool_sqlite_prepare(struct spool_sqlite *ss, char *err, size_t errlen)
{
	char why[256];
	int i;

	for (i = 0; i < STMT_COUNT; i++) {
		if (sqlite3_prepare_v3(ss->db, spool_sqlite_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &ss->stmt[i], NULL) ==
		    SQLITE_OK)
			continue;
		snprintf(why, sizeof(why), "its tables are not those of "
		    "schema version %d (%s)", SPOOL_SQLITE_VERSION,
		    sqlite3_errmsg(ss->db));
		spool_sqlite_unreadable(ss, err, errlen, why);
		return (-1);
	}
	return (0);
}

/*
 * Checkpoints off the loop. The loop's connection makes none of its own
 * (the WAL hook replaces SQLite's automatic checkpoint); after a commit
 * that leaves SPOOL_SQLITE_CKPT_PAGES or more in the WAL it wakes the
 * checkpointer. The thread's signals are blocked: the loop handles them.
 */
static int
spool_sqlite_ckpt_start(struct spool_sqlite *ss, enum spool_sync sync,
    char *err, size_t errlen)
{
	struct spool_sqlite_ckpt *ck = &ss->ckpt;
	pthread_condattr_t attr;
	sigset_t all, old;
	char why[256];
	int rc;

	ck->path = ss->path;
	atomic_init(&ck->done, 0);
	atomic_init(&ck->pages, 0);
	atomic_init(&ck->yield, 0);
	atomic_init(&ck->reused, 0);
	if (spool_sqlite_ckpt_connect(ss, sync) == -1) {
		spool_sqlite_reason(ck->db, why, sizeof(why));
		snprintf(err, errlen, "cannot open spool %s for its "
		    "checkpoints: %s", ss->path, why);
		return (-1);
	}
	if ((rc = pthread_mutex_init(&ck->lock, NULL)) != 0)
		goto fail;
	if ((rc = pthread_cond_init(&ck->wake, NULL)) != 0) {
		pthread_mutex_destroy(&ck->lock);
		goto fail;
	}
	/* The loop's waits on it are timed on the monotonic clock. */
	if ((rc = pthread_condattr_init(&attr)) == 0) {
		if ((rc = pthread_condattr_setclock(&attr,
		    CLOCK_MONOTONIC)) == 0)
			rc = pthread_cond_init(&ck->restarted, &attr);
		pthread_condattr_destroy(&attr);
	}
	if (rc != 0) {
		pthread_cond_destroy(&ck->wake);
		pthread_mutex_destroy(&ck->lock);
		goto fail;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&ck->thread, NULL, spool_sqlite_ckpt_loop, ck);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&ck->restarted);
		pthread_cond_destroy(&ck->wake);
		pthread_mutex_destroy(&ck->lock);
		goto fail;
	}
	ck->running = 1;
	sqlite3_wal_hook(ss->db, spool_sqlite_wal_cb, ck);
	return (0);
fail:
	snprintf(err, errlen, "cannot start the checkpointer of spool %s: %s",
	    ss->path, strerror(rc));
	return (-1);
}

/*
 * The checkpointer's connection. Unless the spool is SPOOL_SYNC_OFF, a
 * checkpoint fsyncs the WAL before it copies it (under SPOOL_SYNC_ASYNC
 * the commits have not) and the database before the WAL may be reused.
 * One read opens the WAL, which a checkpoint needs open.
 */
static int
spool_sqlite_ckpt_connect(struct spool_sqlite *ss, enum spool_sync sync)
{
	struct spool_sqlite_ckpt *ck = &ss->ckpt;
	char sql[192];

	if (sqlite3_open_v2(ss->path, &ck->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return (-1);
	sqlite3_extended_result_codes(ck->db, 1);
	snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s;"
	    "PRAGMA journal_size_limit = %d;"
	    "SELECT count(*) FROM sqlite_master;", sync == SPOOL_SYNC_OFF ?
	    "OFF" : "FULL", SPOOL_SQLITE_WAL_LIMIT);
	return (sqlite3_exec(ck->db, sql, NULL, NULL, NULL) == SQLITE_OK ?
	    0 : -1);
}

/* Before the loop's connection closes (the last one folds the WAL in). */
static void
spool_sqlite_ckpt_stop(struct spool_sqlite *ss)
{
	struct spool_sqlite_ckpt *ck = &ss->ckpt;

	if (ck->running) {
		sqlite3_wal_hook(ss->db, NULL, NULL);
		pthread_mutex_lock(&ck->lock);
		ck->stop = 1;
		pthread_cond_signal(&ck->wake);
		pthread_mutex_unlock(&ck->lock);
		pthread_join(ck->thread, NULL);
		pthread_cond_destroy(&ck->restarted);
		pthread_cond_destroy(&ck->wake);
		pthread_mutex_destroy(&ck->lock);
		ck->running = 0;
	}
	if (ck->db != NULL && sqlite3_close(ck->db) != SQLITE_OK)
		log_warnx("spool close path=%s failed: %s (the "
		    "checkpointer's connection)", ss->path,
		    sqlite3_errmsg(ck->db));
	ck->db = NULL;
}

/*
 * The thread: a checkpoint each time the loop asks (it committed past the
 * line, or it waits for a gap it was asked to leave), until told to stop.
 */
static void *
spool_sqlite_ckpt_loop(void *arg)
{
	struct spool_sqlite_ckpt *ck = arg;

	pthread_mutex_lock(&ck->lock);
	for (;;) {
		while (!ck->due && !ck->stop && !(ck->yielding &&
		    atomic_load_explicit(&ck->yield, memory_order_relaxed)))
			pthread_cond_wait(&ck->wake, &ck->lock);
		if (ck->stop)
			break;
		ck->due = 0;
		pthread_mutex_unlock(&ck->lock);
		spool_sqlite_ckpt_run(ck);
		pthread_mutex_lock(&ck->lock);
	}
	pthread_mutex_unlock(&ck->lock);
	return (NULL);
}

/*
 * First PASSIVE: it takes no lock the loop's writer waits for and waits for
 * none itself, so it copies the bulk of the WAL while the loop goes on
 * committing; a reader holding an old snapshot only makes it stop short.
 * Then RESTART, for what the loop committed meanwhile: the WAL must be
 * copied to its end at some moment between two of the loop's transactions
 * for the loop to start it again from its beginning, or it grows for as
 * long as the loop keeps writing. A RESTART that found the loop writing
 * is tried again after its next commit, without another PASSIVE while
 * what is left is short; if the loop never leaves a gap (a steady load),
 * it is asked for one (spool_sqlite_ckpt_ask).
 */
static void
spool_sqlite_ckpt_run(struct spool_sqlite_ckpt *ck)
{
	int rc = SQLITE_OK, nlog, ndone = 0, pages, yielding;
	unsigned reused;

	reused = atomic_load_explicit(&ck->reused, memory_order_relaxed);
	pages = atomic_load_explicit(&ck->pages, memory_order_relaxed);
	if (reused != ck->copied_of)
		ck->copied = 0;		/* that was another WAL's */
	ck->copied_of = reused;
	if (pages - ck->copied >= SPOOL_SQLITE_CKPT_TAIL) {
		rc = sqlite3_wal_checkpoint_v2(ck->db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, &nlog, &ndone);
		ck->copied = ndone;
	}
	pthread_mutex_lock(&ck->lock);
	yielding = ck->yielding;
	pthread_mutex_unlock(&ck->lock);
	if (rc == SQLITE_OK) {
		rc = spool_sqlite_ckpt_restart(ck, &ndone);
		spool_sqlite_ckpt_ask(ck, rc, pages, yielding);
	}
	spool_sqlite_ckpt_report(ck, rc, pages, ndone);
}

/*
 * RESTART takes the write lock if it is free (never waiting: the thread's
 * connection has no busy handler), copies the frames the PASSIVE left,
 * fsyncs, and sees that no reader still uses the WAL. A pass of the loop
 * that begins meanwhile waits for it (spool_sqlite_busy_cb): the copy of a
 * few pages and an fsync or two, where SQLite's own checkpoint made the
 * loop copy the whole WAL.
 */
static int
spool_sqlite_ckpt_restart(struct spool_sqlite_ckpt *ck, int *ndone)
{
	int rc, nlog;

	pthread_mutex_lock(&ck->lock);
	ck->restarting = 1;
	pthread_mutex_unlock(&ck->lock);
	rc = sqlite3_wal_checkpoint_v2(ck->db, NULL,
	    SQLITE_CHECKPOINT_RESTART, &nlog, ndone);
	pthread_mutex_lock(&ck->lock);
	ck->restarting = 0;
	pthread_cond_broadcast(&ck->restarted);
	pthread_mutex_unlock(&ck->lock);
	return (rc);
}

/*
 * After a RESTART (rc): done, the loop need leave no gap. Refused (BUSY)
 * while the loop waited for it, it was a reader: the loop goes on and the
 * WAL grows until the reader ends. Refused SPOOL_SQLITE_CKPT_TRIES times
 * because the loop was writing (a steady load leaves no gap between its
 * transactions): ask it to wait, before its next one, for a RESTART.
 */
static void
spool_sqlite_ckpt_ask(struct spool_sqlite_ckpt *ck, int rc, int pages,
    int yielding)
{
	int yield = atomic_load_explicit(&ck->yield, memory_order_relaxed);

	pthread_mutex_lock(&ck->lock);
	if (ck->declined)
		ck->ask_at = pages + SPOOL_SQLITE_CKPT_AGAIN;
	ck->declined = 0;
	if (rc == SQLITE_OK) {
		ck->copied = ck->tries = ck->ask_at = 0;
		yield = 0;
	} else if (rc == SQLITE_BUSY && yielding) {
		ck->ask_at = pages + SPOOL_SQLITE_CKPT_AGAIN;
		yield = 0;
	} else if (rc == SQLITE_BUSY && ++ck->tries >=
	    SPOOL_SQLITE_CKPT_TRIES && pages >= ck->ask_at)
		yield = 1;
	atomic_store_explicit(&ck->yield, yield, memory_order_relaxed);
	pthread_cond_broadcast(&ck->restarted);
	pthread_mutex_unlock(&ck->lock);
}

/* Count it and say how it went; a failure once, until one works. */
static void
spool_sqlite_ckpt_report(struct spool_sqlite_ckpt *ck, int rc, int pages,
    int ndone)
{
	char why[256];

	/* BUSY: the loop was writing, or a reader; the next wake retries. */
	if (rc == SQLITE_OK || rc == SQLITE_BUSY) {
		log_debug("spool checkpoint path=%s wal_pages=%d copied=%d "
		    "restarted=%s", ck->path, pages, ndone,
		    rc == SQLITE_OK ? "yes" : "no");
		atomic_fetch_add_explicit(&ck->done, 1, memory_order_relaxed);
		if (ck->failing)
			log_info("spool checkpoint path=%s works again",
			    ck->path);
		ck->failing = 0;
		return;
	}
	if (!ck->failing) {
		spool_sqlite_reason(ck->db, why, sizeof(why));
		log_warnx("spool checkpoint path=%s failed: %s; the WAL grows "
		    "until one succeeds", ck->path, why);
	}
	ck->failing = 1;
}

/*
 * Before a transaction of the loop: when the checkpointer asks (the loop
 * has left it no gap for its RESTART), wait for that RESTART: the copy of
 * what its PASSIVE left, and an fsync or two. SPOOL_SQLITE_YIELD_MS at
 * most; then decline, and write.
 */
static void
spool_sqlite_ckpt_yield(struct spool_sqlite_ckpt *ck)
{
	struct timespec until, t0, t1;
	int rc = 0;

	if (!ck->running ||
	    !atomic_load_explicit(&ck->yield, memory_order_relaxed))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	spool_sqlite_until(&until, SPOOL_SQLITE_YIELD_MS);
	pthread_mutex_lock(&ck->lock);
	ck->yielding = 1;
	pthread_cond_signal(&ck->wake);
	while (atomic_load_explicit(&ck->yield, memory_order_relaxed) &&
	    rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&ck->restarted, &ck->lock, &until);
	if (rc == ETIMEDOUT) {
		atomic_store_explicit(&ck->yield, 0, memory_order_relaxed);
		ck->declined = 1;
	}
	ck->yielding = 0;
	pthread_mutex_unlock(&ck->lock);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_debug("spool checkpoint path=%s loop_waited_us=%lld%s", ck->path,
	    (long long)((t1.tv_sec - t0.tv_sec) * 1000000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000), rc == ETIMEDOUT ?
	    " declined=yes" : "");
}

/* *until: ms from now on the monotonic clock, for the waits on restarted. */
static void
spool_sqlite_until(struct timespec *until, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, until);
	until->tv_nsec += ms * 1000000L;
	until->tv_sec += until->tv_nsec / 1000000000L;
	until->tv_nsec %= 1000000000L;
}

/*
 * The loop's busy handler. While the checkpointer may hold the write lock
 * for its RESTART, wait for it: that is short, and failing the pass would
 * refuse its notices. Another writer (someone's sqlite3 shell) is given
 * SPOOL_SQLITE_BUSY_MS, then the write fails: the loop must not stall.
 */
static int
spool_sqlite_busy_cb(void *arg, int tries)
{
	struct spool_sqlite_ckpt *ck = arg;
	int waited = 0;

	/*
	 * Bounded, for the whole busy spell (from its first try): the
	 * RESTART may itself wait for a reader this loop holds; past the
	 * bound the write fails like any locked write instead of the two
	 * waiting on each other for ever.
	 */
	if (ck->running) {
		if (tries == 0)
			spool_sqlite_until(&ck->busy_until,
			    SPOOL_SQLITE_YIELD_MS);
		pthread_mutex_lock(&ck->lock);
		while (ck->restarting && pthread_cond_timedwait(&ck->restarted,
		    &ck->lock, &ck->busy_until) == 0)
			waited = 1;
		pthread_mutex_unlock(&ck->lock);
	}
	if (waited || tries == 0)
		return (1);	/* the lock may be free now */
	if (tries > SPOOL_SQLITE_BUSY_MS)
		return (0);
	sqlite3_sleep(1);
	return (1);
}

/* After each commit of the loop's connection: pages, the WAL's length. */
static int
spool_sqlite_wal_cb(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct spool_sqlite_ckpt *ck = arg;

	(void)db;
	(void)name;
	if (atomic_exchange_explicit(&ck->pages, pages, memory_order_relaxed) >
	    pages)
		atomic_fetch_add_explicit(&ck->reused, 1,
		    memory_order_relaxed);
	if (pages < SPOOL_SQLITE_CKPT_PAGES)
		return (SQLITE_OK);
	pthread_mutex_lock(&ck->lock);
	if (!ck->due) {
		ck->due = 1;
		pthread_cond_signal(&ck->wake);
	}
	pthread_mutex_unlock(&ck->lock);
	return (SQLITE_OK);
}

/*
 * Explain why a file could not be read: corruption (or not a database at
 * all) gets the advice to move it aside; anything else says what failed.
 */
static void
spool_sqlite_unreadable(struct spool_sqlite *ss, char *err, size_t errlen,
    const char *check)
{
	char why[256];
	int code = sqlite3_extended_errcode(ss->db) & 0xff;

	if (check != NULL || code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
		snprintf(err, errlen, "%s is not a switchboard spool or is "
		    "corrupt: %s; move it aside to start empty, or restore it "
		    "from a backup", ss->path, check != NULL ? check :
		    sqlite3_errmsg(ss->db));
		return;
	}
	spool_sqlite_reason(ss->db, why, sizeof(why));
	snprintf(err, errlen, "cannot use spool %s: %s", ss->path, why);
}

/*
 * SQLite's message, with what the system said and a hint where they help.
 * The system's errno is not always kept (a failed COMMIT's own rollback
 * clears it), so the kind of I/O that failed is named too.
 */
static void
spool_sqlite_reason(sqlite3 *db, char *buf, size_t len)
{
	const char *op = NULL;
	int ext, serr;

	if (db == NULL) {
		snprintf(buf, len, "out of memory");
		return;
	}
	ext = sqlite3_extended_errcode(db);
	serr = sqlite3_system_errno(db);
	switch (ext) {
	case SQLITE_IOERR_WRITE:
		op = "write";
		break;
	case SQLITE_IOERR_FSYNC:
	case SQLITE_IOERR_DIR_FSYNC:
		op = "fsync";
		break;
	case SQLITE_IOERR_READ:
	case SQLITE_IOERR_SHORT_READ:
		op = "read";
		break;
	case SQLITE_IOERR_TRUNCATE:
		op = "truncate";
		break;
	}
	switch (ext & 0xff) {
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
		if (op != NULL || serr != 0) {
			snprintf(buf, len, "%s (%s%s%s)", sqlite3_errmsg(db),
			    op != NULL ? op : "", op != NULL && serr != 0 ?
			    ": " : "", serr != 0 ? strerror(serr) : "");
			return;
		}
		break;
	case SQLITE_BUSY:
		snprintf(buf, len, "%s (another process is writing the "
		    "spool)", sqlite3_errmsg(db));
		return;
	}
	snprintf(buf, len, "%s", sqlite3_errmsg(db));
}

/* Fill sp->error: what failed, then why. */
static void
spool_sqlite_fail(struct spool *sp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	spool_sqlite_vfail(sp, fmt, ap);
	va_end(ap);
}

static void
spool_sqlite_vfail(struct spool *sp, const char *fmt, va_list ap)
{
	struct spool_sqlite *ss = sp->backend;
	char why[256];

	spool_sqlite_reason(ss->db, why, sizeof(why));
	vsnprintf(sp->error, sizeof(sp->error), fmt, ap);
	strlcat(sp->error, ": ", sizeof(sp->error));
	strlcat(sp->error, why, sizeof(sp->error));
}

static void
spool_sqlite_close(struct spool *sp)
{
	struct spool_sqlite *ss = sp->backend;
	int i;

	if (ss == NULL)
		return;
	spool_sqlite_ckpt_stop(ss);
	for (i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(ss->stmt[i]);
	/* The last connection to close checkpoints and removes the WAL. */
	if (ss->db != NULL && sqlite3_close(ss->db) != SQLITE_OK)
		log_warnx("spool close path=%s failed: %s", ss->path,
		    sqlite3_errmsg(ss->db));
	if (ss->walfd != -1)
		close(ss->walfd);
	if (ss->lockfd != -1)
		close(ss->lockfd);
	spool_sqlite_dseq_free(ss);
	free(ss->path);
	free(ss);
	sp->backend = NULL;
}

/* Open the pass's transaction unless it is open. */
static int
spool_sqlite_begin(struct spool *sp)
{
	struct spool_sqlite *ss = sp->backend;

	if (!sqlite3_get_autocommit(ss->db))
		return (0);
	spool_sqlite_ckpt_yield(&ss->ckpt);
	return (spool_sqlite_step_done(sp, ss->stmt[STMT_BEGIN],
	    "cannot start a transaction"));
}

/*
 * Run a statement that returns no rows; on failure fill sp->error with
 * what was being done (formatted only then: this is the hot path).
 */
static int
spool_sqlite_step_done(struct spool *sp, sqlite3_stmt *st, const char *fmt,
    ...)
{
	va_list ap;
	int rc;

	if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
		va_start(ap, fmt);
		spool_sqlite_vfail(sp, fmt, ap);
		va_end(ap);
	}
	sqlite3_reset(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* Binds ?1, ?4..?12 of STMT_ADD_DELIVERY and STMT_ADD_LATER_DELIVERY. */
static int
spool_sqlite_bind_delivery(sqlite3_stmt *st, const struct spool_delivery *d,
    int64_t created_ms)
{
	if (sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 4, d->channel, -1, SQLITE_STATIC) !=
	    SQLITE_OK ||
	    sqlite3_bind_text(st, 5, d->route, -1, SQLITE_STATIC) !=
	    SQLITE_OK ||
	    sqlite3_bind_int(st, 6, d->pilot != 0) != SQLITE_OK ||
	    sqlite3_bind_text(st, 7, d->fallback_of, -1, SQLITE_STATIC) !=
	    SQLITE_OK ||
	    sqlite3_bind_int(st, 8, d->attempts) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 9, created_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 10, d->next_ms) != SQLITE_OK ||
	    sqlite3_bind_int(st, 11, d->level) != SQLITE_OK ||
	    sqlite3_bind_text(st, 12, d->digest, -1, SQLITE_STATIC) !=
	    SQLITE_OK)
		return (-1);
	return (0);
}

/* The hot path: one notice and its deliveries, in the pass's transaction. */
static int
spool_sqlite_add_notice(struct spool *sp, const struct notice *n,
    const struct spool_delivery *d, size_t nd)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_ADD_NOTICE];
	const char *class = notice_class_name(n->class);
	int64_t seq;
	size_t i;

	if (n->json == NULL) {
		snprintf(sp->error, sizeof(sp->error), "notice %s has no JSON "
		    "form to spool", n->id);
		return (-1);
	}
	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	for (i = 0; i < nd; i++)
		switch (spool_sqlite_pending_id(sp, d[i].id, n->id)) {
		case -1:
			return (-1);
		case 1:
			return (SPOOL_REFUSED);
		}
	if (sqlite3_bind_text(st, 1, n->id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, n->received_ms) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, class, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob64(st, 4, n->json, n->json_len, SQLITE_STATIC) !=
	    SQLITE_OK) {
		spool_sqlite_fail(sp, "cannot store notice %s", n->id);
		sqlite3_reset(st);
		return (-1);
	}
	if (spool_sqlite_step_done(sp, st, "cannot store notice %s",
	    n->id) == -1)
		return (-1);
	seq = sqlite3_last_insert_rowid(ss->db);
	ss->last_seq = seq;
	strlcpy(ss->last_id, n->id, sizeof(ss->last_id));

	st = ss->stmt[STMT_ADD_DELIVERY];
	for (i = 0; i < nd; i++) {
		if (spool_sqlite_bind_delivery(st, &d[i], n->received_ms) ==
		    -1 || sqlite3_bind_int64(st, 2, seq) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 3, (int64_t)i) != SQLITE_OK) {
			spool_sqlite_fail(sp, "cannot store delivery %s",
			    d[i].id);
			sqlite3_reset(st);
			return (-1);
		}
		if (spool_sqlite_step_done(sp, st, "cannot store delivery %s",
		    d[i].id) == -1)
			return (-1);
		spool_sqlite_dseq_add(ss, d[i].id,
		    sqlite3_last_insert_rowid(ss->db));
	}
	return (0);
}

/* A delivery decided after acceptance: a fallback, an escalation. */
static int
spool_sqlite_add_delivery(struct spool *sp, const char *notice_id,
    const struct spool_delivery *d)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_ADD_LATER_DELIVERY];

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	switch (spool_sqlite_pending_id(sp, d->id, notice_id)) {
	case -1:
		return (-1);
	case 1:
		/* A fallback made again after a restart, say: once is all. */
		snprintf(sp->error, sizeof(sp->error), "delivery %s not "
		    "stored: it is pending already", d->id);
		return (SPOOL_REFUSED);
	}
	if (spool_sqlite_bind_delivery(st, d, spool_sqlite_now_ms()) == -1 ||
	    sqlite3_bind_text(st, 2, notice_id, -1, SQLITE_STATIC) !=
	    SQLITE_OK) {
		spool_sqlite_fail(sp, "cannot store delivery %s", d->id);
		sqlite3_reset(st);
		return (-1);
	}
	if (spool_sqlite_step_done(sp, st, "cannot store delivery %s",
	    d->id) == -1)
		return (-1);
	if (sqlite3_changes(ss->db) == 0) {
		/* A fallback made again after a restart, say: once is all. */
		snprintf(sp->error, sizeof(sp->error), "delivery %s not "
		    "stored: it exists already, or notice %s does not", d->id,
		    notice_id);
		return (SPOOL_REFUSED);
	}
	spool_sqlite_dseq_add(ss, d->id, sqlite3_last_insert_rowid(ss->db));
	return (0);
}

/*
 * An outcome. The row is found by the seq the map keeps for a pending
 * delivery; by its id otherwise (a delivery the map does not know, or an
 * outcome for one that ended already).
 */
static int
spool_sqlite_update_delivery(struct spool *sp, const char *delivery_id,
    enum spool_dstate state, int attempts, const char *error, int64_t now_ms,
    int64_t next_ms)
{
	struct spool_sqlite *ss = sp->backend;
	struct spool_sqlite_dseq *ds;
	int rv;

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	if ((ds = spool_sqlite_dseq_find(ss, delivery_id)) != NULL) {
		rv = spool_sqlite_outcome(sp, STMT_UPDATE_BY_SEQ, ds->seq,
		    delivery_id, state, attempts, error, now_ms, next_ms);
		if (rv == -1)
			return (-1);
		/* Ended now, or the row is not that pending delivery. */
		if (rv == 0 || state != DSTATE_PENDING)
			spool_sqlite_dseq_remove(ss, ds);
		if (rv == 1)
			return (0);
	}
	rv = spool_sqlite_outcome(sp, STMT_UPDATE_DELIVERY, 0, delivery_id,
	    state, attempts, error, now_ms, next_ms);
	if (rv == 0) {
		snprintf(sp->error, sizeof(sp->error), "cannot update delivery "
		    "%s: no such delivery in the spool", delivery_id);
		return (SPOOL_REFUSED);
	}
	return (rv == 1 ? 0 : -1);
}

/*
 * Run an outcome statement, 1 if it changed a row. ?6 is the seq (by
 * seq), or the notice's part of the id; next_ms 0 binds ?7 null.
 */
static int
spool_sqlite_outcome(struct spool *sp, enum spool_sqlite_stmt which,
    int64_t seq, const char *id, enum spool_dstate state, int attempts,
    const char *error, int64_t now_ms, int64_t next_ms)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[which];
	int rc;

	if (which == STMT_UPDATE_BY_SEQ)
		rc = sqlite3_bind_int64(st, 6, seq);
	else
		rc = spool_sqlite_bind_notice_part(st, 6, id);
	if (rc != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, spool_dstate_name(state), -1,
	    SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, attempts) != SQLITE_OK ||
	    sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, now_ms) != SQLITE_OK ||
	    (next_ms != 0 ? sqlite3_bind_int64(st, 7, next_ms) :
	    sqlite3_bind_null(st, 7)) != SQLITE_OK) {
		spool_sqlite_fail(sp, "cannot update delivery %s", id);
		sqlite3_reset(st);
		return (-1);
	}
	if (spool_sqlite_step_done(sp, st, "cannot update delivery %s",
	    id) == -1)
		return (-1);
	return (sqlite3_changes(ss->db) > 0);
}

/*
 * Whether a delivery of this id is still pending (1, with sp->error; -1:
 * could not tell): two live deliveries may not share an id, or the
 * outcomes of one would land on the other. Such an id comes back when a
 * notice id is accepted again after the dedup window while a delivery of
 * the first is still waiting. The map of pending rows answers; SQLite
 * only when memory ran out to keep the map whole.
 */
static int
spool_sqlite_pending_id(struct spool *sp, const char *id,
    const char *notice_id)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_PENDING_ID];
	int rc;

	if (spool_sqlite_dseq_find(ss, id) == NULL) {
		if (!ss->dseqs_partial)
			return (0);
		if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) !=
		    SQLITE_OK || sqlite3_bind_text(st, 6, notice_id, -1,
		    SQLITE_STATIC) != SQLITE_OK)
			rc = SQLITE_ERROR;
		else
			rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return (0);
		if (rc != SQLITE_ROW) {
			spool_sqlite_fail(sp, "cannot store delivery %s", id);
			return (-1);
		}
	}
	snprintf(sp->error, sizeof(sp->error), "cannot store notice %s: its "
	    "delivery %s is still pending from when that id was accepted "
	    "before", notice_id, id);
	return (1);
}

/* Bind, as parameter i, the part of delivery id before its first '/'. */
static int
spool_sqlite_bind_notice_part(sqlite3_stmt *st, int i, const char *id)
{
	return (sqlite3_bind_text(st, i, id, (int)strcspn(id, "/"),
	    SQLITE_STATIC));
}

/*
 * Commit the pass. On failure SQLite may or may not have rolled back
 * already; either way nothing of the pass is kept and the connection is
 * ready for the next one.
 */
static int
spool_sqlite_commit(struct spool *sp)
{
	struct spool_sqlite *ss = sp->backend;

	if (sqlite3_get_autocommit(ss->db)) {
		/* Nothing open: nothing the map learnt is in the file. */
		spool_sqlite_undo_rollback(ss);
		return (0);
	}
	if (spool_sqlite_step_done(sp, ss->stmt[STMT_COMMIT],
	    "commit failed") == 0) {
		spool_sqlite_undo_commit(ss);
		sp->checkpoints = atomic_load_explicit(&ss->ckpt.done,
		    memory_order_relaxed);
		return (0);
	}
	spool_sqlite_undo_rollback(ss);
	if (!sqlite3_get_autocommit(ss->db)) {
		sqlite3_step(ss->stmt[STMT_ROLLBACK]);
		sqlite3_reset(ss->stmt[STMT_ROLLBACK]);
	}
	return (-1);
}

/*
 * Make every committed transaction durable (SPOOL_SYNC_ASYNC; the other
 * modes have nothing to do). The durable thread's call: it touches only
 * the WAL's descriptor, which the loop never uses, while commits go on.
 */
static int
spool_sqlite_sync(struct spool *sp, char *err, size_t errlen)
{
	struct spool_sqlite *ss = sp->backend;
	char buf[128];

	if (ss->walfd == -1 || fdatasync(ss->walfd) == 0)
		return (0);
	snprintf(err, errlen, "cannot flush spool %s-wal to disk: %s",
	    ss->path, strerror_r(errno, buf, sizeof(buf)));
	return (-1);
}

static void
spool_sqlite_rollback(struct spool *sp)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_ROLLBACK];

	/* SQLite may have rolled back already (a failed write). */
	spool_sqlite_undo_rollback(ss);
	if (sqlite3_get_autocommit(ss->db))
		return;
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warnx("spool rollback path=%s failed: %s", ss->path,
		    sqlite3_errmsg(ss->db));
	sqlite3_reset(st);
}

/*
 * Dedup: the newest notice of that id received at or after since_ms, or
 * older but still being delivered (the same notice, sent again). The
 * window is a range of notices_by_id; past it, the map of pending rows
 * says whether a delivery of the id waits, so an id resent often over a
 * long retain costs no walk over its old rows.
 */
static int
spool_sqlite_seen(struct spool *sp, const char *id, int64_t since_ms,
    struct spool_seen *seen)
{
	struct spool_sqlite *ss = sp->backend;
	struct spool_sqlite_dseq *ds;
	sqlite3_stmt *st = ss->stmt[STMT_SEEN_NOTICE];
	int64_t seq;
	int rc, scan = 0;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since_ms);
	rc = spool_sqlite_seen_step(sp, st, id, &seq, seen);
	if (rc == 0 && (ds = spool_sqlite_dseq_of_notice(ss, id)) != NULL) {
		st = ss->stmt[STMT_SEEN_PENDING];
		sqlite3_bind_int64(st, 1, ds->seq);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		rc = spool_sqlite_seen_step(sp, st, id, &seq, seen);
		/* A row the map still had, ended since: SQLite tells. */
		scan = (rc == 0);
	} else if (rc == 0)
		scan = ss->dseqs_partial;
	if (scan) {
		st = ss->stmt[STMT_SEEN_PENDING_SCAN];
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		rc = spool_sqlite_seen_step(sp, st, id, &seq, seen);
	}
	if (rc != 1)
		return (rc);
	return (spool_sqlite_seen_channels(sp, id, seq, seen));
}

/* One row of (seq, class): 1 and filled, 0 none, -1. */
static int
spool_sqlite_seen_step(struct spool *sp, sqlite3_stmt *st, const char *id,
    int64_t *seq, struct spool_seen *seen)
{
	const char *name;
	int rc;

	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			spool_sqlite_fail(sp, "cannot look up notice %s", id);
		sqlite3_reset(st);
		return (rc == SQLITE_DONE ? 0 : -1);
	}
	*seq = sqlite3_column_int64(st, 0);
	name = (const char *)sqlite3_column_text(st, 1);
	snprintf(seen->class_name, sizeof(seen->class_name), "%s",
	    name != NULL ? name : "");
	sqlite3_reset(st);
	return (1);
}

/* The channels of a notice's first reply, in their order. */
static int
spool_sqlite_seen_channels(struct spool *sp, const char *id, int64_t seq,
    struct spool_seen *seen)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_SEEN_CHANNELS];
	const char *name;
	size_t len = 0, nlen;
	int rc;

	seen->channels[0] = '\0';
	sqlite3_bind_int64(st, 1, seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(st, 0);
		nlen = strlen(name);
		if (len + (len > 0) + nlen >= sizeof(seen->channels)) {
			log_warnx("spool seen id=%s: channel names longer "
			    "than %zu bytes were cut", id,
			    sizeof(seen->channels));
			break;
		}
		len += snprintf(seen->channels + len,
		    sizeof(seen->channels) - len, "%s%s", len > 0 ? "," : "",
		    name);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		spool_sqlite_fail(sp, "cannot look up channels of notice %s",
		    id);
		sqlite3_reset(st);
		return (-1);
	}
	sqlite3_reset(st);
	return (1);
}

/*
 * Restart: the pending notices are listed first, then each is read and
 * handed to fn with no statement running, so that fn may write (mark a
 * delivery dead, say) without disturbing the listing.
 */
static int
spool_sqlite_load_pending(struct spool *sp,
    int (*fn)(const struct spool_pending *, void *), void *arg)
{
	struct spool_sqlite *ss = sp->backend;
	int64_t *seqs;
	size_t i, n;
	int rv = 0;

	if (spool_sqlite_seqs(sp, ss->stmt[STMT_PENDING_NOTICES],
	    "pending notices", &seqs, &n) == -1)
		return (-1);
	for (i = 0; i < n && rv == 0; i++)
		rv = spool_sqlite_pending_one(sp, seqs[i], fn, arg);
	free(seqs);
	if (rv == 0 && !ss->dseqs_lost)
		ss->dseqs_partial = 0;	/* the map has them all */
	return (rv);
}

/* The seqs a listing statement returns (what it lists is for errors). */
static int
spool_sqlite_seqs(struct spool *sp, sqlite3_stmt *st, const char *what,
    int64_t **seqsp, size_t *np)
{
	int64_t *seqs = NULL, *grown;
	size_t n = 0, size = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == size) {
			size = size == 0 ? 256 : size * 2;
			grown = reallocarray(seqs, size, sizeof(*seqs));
			if (grown == NULL) {
				snprintf(sp->error, sizeof(sp->error),
				    "listing %s: out of memory", what);
				goto fail;
			}
			seqs = grown;
		}
		seqs[n++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE) {
		spool_sqlite_fail(sp, "cannot list %s", what);
		goto fail;
	}
	sqlite3_reset(st);
	*seqsp = seqs;
	*np = n;
	return (0);
fail:
	sqlite3_reset(st);
	free(seqs);
	return (-1);
}

/*
 * Read one notice and its pending deliveries, and hand them to fn. A notice
 * that fn removed meanwhile (through prune) is skipped.
 */
static int
spool_sqlite_pending_one(struct spool *sp, int64_t seq,
    int (*fn)(const struct spool_pending *, void *), void *arg)
{
	struct spool_sqlite *ss = sp->backend;
	struct spool_sqlite_pending pd = { 0 };
	struct spool_pending p = { 0 };
	sqlite3_stmt *st;
	char *json = NULL;
	int rc, rv = -1;

	st = ss->stmt[STMT_PENDING_JSON];
	sqlite3_bind_int64(st, 1, seq);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		p.notice_len = (size_t)sqlite3_column_bytes(st, 0);
		if ((json = malloc(p.notice_len + 1)) == NULL)
			goto nomem;
		memcpy(json, sqlite3_column_blob(st, 0), p.notice_len);
		json[p.notice_len] = '\0';
	} else if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return (0);
	} else
		goto fail;
	sqlite3_reset(st);

	st = ss->stmt[STMT_PENDING_DELIVERIES];
	sqlite3_bind_int64(st, 1, seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (spool_sqlite_pending_add(&pd, st) == -1)
			goto nomem;
		/* The restarted daemon will report their outcomes. */
		spool_sqlite_dseq_add(ss, pd.d[pd.n - 1].id,
		    sqlite3_column_int64(st, 9));
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);

	p.notice_json = json;
	p.deliveries = pd.d;
	p.ndeliveries = pd.n;
	if ((rv = fn(&p, arg)) != 0) {
		snprintf(sp->error, sizeof(sp->error), "loading pending "
		    "notices stopped at notice seq %lld", (long long)seq);
		rv = -1;
	}
	goto done;
nomem:
	snprintf(sp->error, sizeof(sp->error), "reading pending notice seq "
	    "%lld: out of memory", (long long)seq);
	sqlite3_reset(st);
	goto done;
fail:
	spool_sqlite_fail(sp, "cannot read pending notice seq %lld",
	    (long long)seq);
	sqlite3_reset(st);
done:
	spool_sqlite_pending_free(&pd);
	free(json);
	return (rv);
}

/* Copy the current row of STMT_PENDING_DELIVERIES. */
static int
spool_sqlite_pending_add(struct spool_sqlite_pending *pd, sqlite3_stmt *st)
{
	struct spool_delivery *d, *grown;
	char **sgrown;

	if (pd->n == pd->size) {
		pd->size = pd->size == 0 ? 4 : pd->size * 2;
		if ((grown = reallocarray(pd->d, pd->size,
		    sizeof(*pd->d))) == NULL)
			return (-1);
		pd->d = grown;
		if ((sgrown = reallocarray(pd->strings, pd->size *
		    SPOOL_SQLITE_DSTRINGS, sizeof(*pd->strings))) == NULL)
			return (-1);
		pd->strings = sgrown;
	}
	d = &pd->d[pd->n];
	memset(d, 0, sizeof(*d));
	if ((d->id = spool_sqlite_keep(pd, st, 0)) == NULL ||
	    (d->channel = spool_sqlite_keep(pd, st, 1)) == NULL)
		return (-1);
	if (sqlite3_column_type(st, 2) != SQLITE_NULL &&
	    (d->route = spool_sqlite_keep(pd, st, 2)) == NULL)
		return (-1);
	d->attempts = sqlite3_column_int(st, 3);
	d->pilot = sqlite3_column_int(st, 4);
	if (sqlite3_column_type(st, 5) != SQLITE_NULL &&
	    (d->fallback_of = spool_sqlite_keep(pd, st, 5)) == NULL)
		return (-1);
	d->next_ms = sqlite3_column_int64(st, 6);
	d->level = sqlite3_column_int(st, 7);
	if (sqlite3_column_type(st, 8) != SQLITE_NULL &&
	    (d->digest = spool_sqlite_keep(pd, st, 8)) == NULL)
		return (-1);
	pd->n++;
	return (0);
}

/* A copy of a text column, owned by pd. */
static char *
spool_sqlite_keep(struct spool_sqlite_pending *pd, sqlite3_stmt *st, int col)
{
	const unsigned char *text = sqlite3_column_text(st, col);
	char *s;

	if (text == NULL || (s = strdup((const char *)text)) == NULL)
		return (NULL);
	pd->strings[pd->nstrings++] = s;
	return (s);
}

static void
spool_sqlite_pending_free(struct spool_sqlite_pending *pd)
{
	size_t i;

	for (i = 0; i < pd->nstrings; i++)
		free(pd->strings[i]);
	free(pd->strings);
	free(pd->d);
}

/* Remove up to max old notices with nothing pending, and their deliveries. */
static int
spool_sqlite_prune(struct spool *sp, int64_t before_ms, int max)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_PRUNE];
	int n;

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	sqlite3_bind_int64(st, 1, before_ms);
	sqlite3_bind_int(st, 2, max);
	if (spool_sqlite_step_done(sp, st, "cannot prune the spool") == -1)
		return (-1);
	n = sqlite3_changes(ss->db);
	/* Few rows, by their index: not counted against max. */
	st = ss->stmt[STMT_PRUNE_BREAKERS];
	sqlite3_bind_int64(st, 1, before_ms);
	if (spool_sqlite_step_done(sp, st, "cannot prune the spool's "
	    "breaker history") == -1)
		return (-1);
	return (n);
}

/*
 * Interactive notices. The spool keeps one row of responses for each
 * tracked notice: its deadline, how far its escalation got, and its ack or
 * expiry; escalations keeps the history of the levels that fired.
 */
static int
spool_sqlite_track(struct spool *sp, const char *id, const char *route,
    int64_t respond_by_ms)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_TRACK_BY_SEQ];

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	/* The daemon tracks the notice it has just added: no lookup. */
	if (ss->last_seq != 0 && strcmp(ss->last_id, id) == 0) {
		if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) !=
		    SQLITE_OK || sqlite3_bind_text(st, 2, route, -1,
		    SQLITE_STATIC) != SQLITE_OK || sqlite3_bind_int64(st, 3,
		    respond_by_ms) != SQLITE_OK || sqlite3_bind_int64(st, 4,
		    ss->last_seq) != SQLITE_OK)
			return (spool_sqlite_bind_failed(sp, st, "track", id));
		if (spool_sqlite_step_done(sp, st, "cannot track notice %s",
		    id) == -1)
			return (-1);
		if (sqlite3_changes(ss->db) > 0)
			return (0);
	}
	st = ss->stmt[STMT_TRACK];
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, route, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, respond_by_ms) != SQLITE_OK)
		return (spool_sqlite_bind_failed(sp, st, "track", id));
	return (spool_sqlite_respond(sp, st, "track", id));
}

/*
 * A step of the escalation: the level (and chain round) that fired, and
 * when the next step is due. The history gets a row when the level or
 * round is new; the same again only moves next_ms (a reschedule).
 */
static int
spool_sqlite_escalated(struct spool *sp, const char *id, int level,
    int round, int64_t next_ms)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_ESCALATION];

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, level) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, round) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, spool_sqlite_now_ms()) != SQLITE_OK)
		return (spool_sqlite_bind_failed(sp, st, "escalate", id));
	if (spool_sqlite_step_done(sp, st, "cannot escalate notice %s",
	    id) == -1)
		return (-1);

	st = ss->stmt[STMT_ESCALATED];
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, level) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, round) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, next_ms) != SQLITE_OK)
		return (spool_sqlite_bind_failed(sp, st, "escalate", id));
	return (spool_sqlite_respond(sp, st, "escalate", id));
}

/* The response: kept even when it came after expiry (a late ack). */
static int
spool_sqlite_acked(struct spool *sp, const char *id, const char *by,
    const char *note, int score, int64_t now_ms)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_ACKED];

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, now_ms) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, by, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 4, note, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 5, score) != SQLITE_OK)
		return (spool_sqlite_bind_failed(sp, st, "record the ack of",
		    id));
	return (spool_sqlite_respond(sp, st, "record the ack of", id));
}

static int
spool_sqlite_expired(struct spool *sp, const char *id, int64_t now_ms)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_EXPIRED];

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, now_ms) != SQLITE_OK)
		return (spool_sqlite_bind_failed(sp, st, "expire", id));
	return (spool_sqlite_respond(sp, st, "expire", id));
}

/*
 * Reports: the breaker history (one row a spell of an open breaker) and
 * the limit that demoted a notice. Rare writes, each one statement.
 */
static int
spool_sqlite_breaker_opened(struct spool *sp, const char *channel,
    int64_t opened_ms, const char *reason)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_BREAKER_OPENED];

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	if (sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC) !=
	    SQLITE_OK || sqlite3_bind_int64(st, 2, opened_ms) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC) !=
	    SQLITE_OK) {
		spool_sqlite_fail(sp, "cannot record the breaker of channel "
		    "%s opening", channel);
		sqlite3_reset(st);
		return (-1);
	}
	return (spool_sqlite_step_done(sp, st, "cannot record the breaker of "
	    "channel %s opening", channel));
}

/* A spell not found (its opening was rolled back) is nothing to close. */
static int
spool_sqlite_breaker_closed(struct spool *sp, const char *channel,
    int64_t opened_ms, int64_t closed_ms)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st;
	int rc;

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	if (channel == NULL) {
		st = ss->stmt[STMT_BREAKER_CLOSE_ALL];
		rc = sqlite3_bind_int64(st, 1, closed_ms);
	} else {
		st = ss->stmt[STMT_BREAKER_CLOSED];
		rc = sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 2, opened_ms);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 3, closed_ms);
	}
	if (rc != SQLITE_OK) {
		spool_sqlite_fail(sp, "cannot record the breaker of channel "
		    "%s closing", channel != NULL ? channel : "(every)");
		sqlite3_reset(st);
		return (-1);
	}
	return (spool_sqlite_step_done(sp, st, "cannot record the breaker of "
	    "channel %s closing", channel != NULL ? channel : "(every)"));
}

/* The daemon demotes the notice it has just added: no lookup then. */
static int
spool_sqlite_demoted(struct spool *sp, const char *id, const char *limit)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_DEMOTED];
	int rc;

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	if (ss->last_seq != 0 && strcmp(ss->last_id, id) == 0)
		rc = sqlite3_bind_int64(st, 3, ss->last_seq);
	else
		rc = sqlite3_bind_null(st, 3);
	if (rc != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, limit, -1, SQLITE_STATIC) != SQLITE_OK)
		return (spool_sqlite_bind_failed(sp, st, "record the demotion "
		    "of", id));
	if (spool_sqlite_step_done(sp, st, "cannot record the demotion of "
	    "notice %s", id) == -1)
		return (-1);
	if (sqlite3_changes(ss->db) == 0) {
		snprintf(sp->error, sizeof(sp->error), "cannot record the "
		    "demotion of notice %s: no such notice in the spool", id);
		return (SPOOL_REFUSED);
	}
	return (0);
}

/* A bind failed (out of memory, say): nothing was run. */
static int
spool_sqlite_bind_failed(struct spool *sp, sqlite3_stmt *st,
    const char *what, const char *id)
{
	spool_sqlite_fail(sp, "cannot %s notice %s", what, id);
	sqlite3_reset(st);
	return (-1);
}

/* Run a bound write on the response of notice id; it must change a row. */
static int
spool_sqlite_respond(struct spool *sp, sqlite3_stmt *st, const char *what,
    const char *id)
{
	struct spool_sqlite *ss = sp->backend;

	if (spool_sqlite_step_done(sp, st, "cannot %s notice %s", what,
	    id) == -1)
		return (-1);
	if (sqlite3_changes(ss->db) == 0) {
		spool_sqlite_why_not(sp, what, id);
		return (SPOOL_REFUSED);
	}
	return (0);
}

/*
 * A write on the response of notice id changed nothing: say why, from
 * what the spool knows of the notice (the caller should have asked).
 */
static void
spool_sqlite_why_not(struct spool *sp, const char *what, const char *id)
{
	struct spool_notice_info info;
	char when[32], why[128];
	int rv;

	if ((rv = spool_sqlite_notice_info(sp, id, &info)) == -1)
		return;
	if (rv == 0)
		snprintf(why, sizeof(why), "no notice %s in the spool", id);
	else if (info.respond_by_ms == 0)
		snprintf(why, sizeof(why), "it is %s and does not wait for an "
		    "ack (it was never tracked)", info.class_name);
	else if (info.acked_ms != 0) {
		notice_time_format(info.acked_ms, when, sizeof(when));
		snprintf(why, sizeof(why), "it was acked at %s", when);
	} else if (info.expired_ms != 0) {
		notice_time_format(info.expired_ms, when, sizeof(when));
		snprintf(why, sizeof(why), "it expired at %s", when);
	} else {
		notice_time_format(info.respond_by_ms, when, sizeof(when));
		snprintf(why, sizeof(why), "it is tracked already (respond "
		    "by %s)", when);
	}
	snprintf(sp->error, sizeof(sp->error), "cannot %s notice %s: %s",
	    what, id, why);
}

/* What the spool knows of the newest notice of that id. */
static int
spool_sqlite_notice_info(struct spool *sp, const char *id,
    struct spool_notice_info *info)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_NOTICE];
	const unsigned char *class;
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			spool_sqlite_fail(sp, "cannot look up notice %s", id);
		sqlite3_reset(st);
		return (rc == SQLITE_DONE ? 0 : -1);
	}
	memset(info, 0, sizeof(*info));
	class = sqlite3_column_text(st, 2);
	snprintf(info->class_name, sizeof(info->class_name), "%s",
	    class != NULL ? (const char *)class : "");
	info->received_ms = sqlite3_column_int64(st, 3);
	info->respond_by_ms = sqlite3_column_int64(st, 5);
	info->acked_ms = sqlite3_column_int64(st, 6);
	info->expired_ms = sqlite3_column_int64(st, 10);
	sqlite3_reset(st);
	return (1);
}

/*
 * Restart: as load_pending, the waiting notices are listed first and each
 * read and handed to fn with no statement running, so that fn may write
 * (expire or escalate a notice whose time passed while the daemon was
 * down).
 */
static int
spool_sqlite_load_waiting(struct spool *sp,
    int (*fn)(const struct spool_waiting *, void *), void *arg)
{
	struct spool_sqlite *ss = sp->backend;
	int64_t *seqs;
	size_t i, n;
	int rv = 0;

	if (spool_sqlite_seqs(sp, ss->stmt[STMT_WAITING_NOTICES],
	    "notices waiting for an ack", &seqs, &n) == -1)
		return (-1);
	for (i = 0; i < n && rv == 0; i++)
		rv = spool_sqlite_waiting_one(sp, seqs[i], fn, arg);
	free(seqs);
	return (rv);
}

/* Read one waiting notice and hand it to fn; skip it if it stopped. */
static int
spool_sqlite_waiting_one(struct spool *sp, int64_t seq,
    int (*fn)(const struct spool_waiting *, void *), void *arg)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_WAITING_ONE];
	struct spool_waiting w = { 0 };
	char *json = NULL, *route = NULL;
	int rc, rv = -1;

	sqlite3_bind_int64(st, 1, seq);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			spool_sqlite_fail(sp, "cannot read waiting notice "
			    "seq %lld", (long long)seq);
		sqlite3_reset(st);
		return (rc == SQLITE_DONE ? 0 : -1);
	}
	w.notice_len = (size_t)sqlite3_column_bytes(st, 0);
	if ((json = malloc(w.notice_len + 1)) == NULL ||
	    (sqlite3_column_type(st, 1) != SQLITE_NULL && (route =
	    strdup((const char *)sqlite3_column_text(st, 1))) == NULL)) {
		snprintf(sp->error, sizeof(sp->error), "reading waiting "
		    "notice seq %lld: out of memory", (long long)seq);
		sqlite3_reset(st);
		goto done;
	}
	memcpy(json, sqlite3_column_blob(st, 0), w.notice_len);
	json[w.notice_len] = '\0';
	w.notice_json = json;
	w.route = route;
	w.respond_by_ms = sqlite3_column_int64(st, 2);
	w.level = sqlite3_column_int(st, 3);
	w.round = sqlite3_column_int(st, 4);
	w.next_ms = sqlite3_column_int64(st, 5);
	sqlite3_reset(st);
	if ((rv = fn(&w, arg)) != 0) {
		snprintf(sp->error, sizeof(sp->error), "loading waiting "
		    "notices stopped at notice seq %lld", (long long)seq);
		rv = -1;
	}
done:
	free(json);
	free(route);
	return (rv);
}

/*
 * Batch: the items of a digest, so that a restart forms the same digest.
 * A delivery already in another digest stays there.
 */
static int
spool_sqlite_digest_assign(struct spool *sp, const char *digest,
    const char *const *ids, size_t n)
{
	struct spool_sqlite *ss = sp->backend;
	struct spool_sqlite_dseq *ds;
	size_t i;
	int rv;

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		rv = 0;
		if ((ds = spool_sqlite_dseq_find(ss, ids[i])) != NULL &&
		    (rv = spool_sqlite_assign(sp, STMT_DIGEST_ASSIGN_BY_SEQ,
		    ds->seq, digest, ids[i])) == -1)
			return (-1);
		if (rv == 0 && (rv = spool_sqlite_assign(sp,
		    STMT_DIGEST_ASSIGN, 0, digest, ids[i])) == -1)
			return (-1);
		if (rv == 0) {
			/* All or nothing: the pass goes, with the half done. */
			spool_sqlite_why_not_digest(sp, digest, ids[i]);
			return (-1);
		}
	}
	return (0);
}

/*
 * Run a digest assignment (by seq, ?3, if not 0; else by id through its
 * notice, ?4): 1 if it changed a row.
 */
static int
spool_sqlite_assign(struct spool *sp, enum spool_sqlite_stmt which,
    int64_t seq, const char *digest, const char *id)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[which];

	if (sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    (seq != 0 && sqlite3_bind_int64(st, 3, seq) != SQLITE_OK) ||
	    (seq == 0 && spool_sqlite_bind_notice_part(st, 4, id) !=
	    SQLITE_OK)) {
		spool_sqlite_fail(sp, "cannot add delivery %s to digest %s",
		    id, digest);
		sqlite3_reset(st);
		return (-1);
	}
	if (spool_sqlite_step_done(sp, st, "cannot add delivery %s to "
	    "digest %s", id, digest) == -1)
		return (-1);
	return (sqlite3_changes(ss->db) > 0);
}

/* A digest assignment changed nothing: say why. */
static void
spool_sqlite_why_not_digest(struct spool *sp, const char *digest,
    const char *id)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_DIGEST_OF];
	const unsigned char *state, *other;
	char why[128];
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	spool_sqlite_bind_notice_part(st, 6, id);
	if ((rc = sqlite3_step(st)) == SQLITE_DONE)
		snprintf(why, sizeof(why), "no such delivery in the spool");
	else if (rc == SQLITE_ROW) {
		state = sqlite3_column_text(st, 0);
		other = sqlite3_column_text(st, 1);
		if (strcmp((const char *)state,
		    spool_dstate_name(DSTATE_PENDING)) != 0)
			snprintf(why, sizeof(why), "it is %s, no longer "
			    "pending", (const char *)state);
		else
			snprintf(why, sizeof(why), "it is in digest %s "
			    "already", other != NULL ? (const char *)other :
			    "?");
	} else {
		spool_sqlite_fail(sp, "cannot add delivery %s to digest %s",
		    id, digest);
		sqlite3_reset(st);
		return;
	}
	sqlite3_reset(st);
	snprintf(sp->error, sizeof(sp->error), "cannot add delivery %s to "
	    "digest %s: %s", id, digest, why);
}

/*
 * The status socket's "message ID": the notice, its deliveries and, when
 * tracked, its response and escalations, as one JSON object. The stored
 * notice is valid JSON already; it is spliced in where yajl writes a null
 * (spool_sqlite_json_cb), so that it is neither parsed nor quoted.
 */
static int
spool_sqlite_describe(struct spool *sp, const char *id, char **json)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_NOTICE];
	struct spool_sqlite_json js = { .raw = NULL };
	int64_t seq;
	yajl_gen g;
	int rc, rv = -1;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			spool_sqlite_fail(sp, "cannot look up notice %s", id);
		sqlite3_reset(st);
		return (rc == SQLITE_DONE ? 0 : -1);
	}
	if (jsonbuf_init(&js.out, 1024) == -1 ||
	    (g = yajl_gen_alloc(NULL)) == NULL) {
		sqlite3_reset(st);
		goto nomem;
	}
	yajl_gen_config(g, yajl_gen_print_callback, spool_sqlite_json_cb, &js);
	seq = sqlite3_column_int64(st, 0);
	yajl_gen_map_open(g);
	spool_sqlite_gen_notice(g, &js, st);
	if (spool_sqlite_gen_deliveries(sp, g, seq) == 0 &&
	    (sqlite3_column_type(st, 5) == SQLITE_NULL ||
	    spool_sqlite_gen_response(sp, g, st, seq) == 0))
		rv = 0;
	yajl_gen_map_close(g);
	yajl_gen_free(g);
	sqlite3_reset(st);
	if (rv == -1) {
		free(jsonbuf_finish(&js.out, NULL));
		return (-1);
	}
	if (js.raw != NULL) {
		free(jsonbuf_finish(&js.out, NULL));
		snprintf(sp->error, sizeof(sp->error), "describing notice %s: "
		    "yajl wrote no placeholder for the stored notice", id);
		return (-1);
	}
	if ((*json = jsonbuf_finish(&js.out, NULL)) != NULL)
		return (1);
nomem:
	free(jsonbuf_finish(&js.out, NULL));
	snprintf(sp->error, sizeof(sp->error), "describing notice %s: out of "
	    "memory", id);
	return (-1);
}

/*
 * The stored notice of that id (the newest), as add_notice had it: an
 * escalation reads its notice back rather than keep it in memory.
 */
static int
spool_sqlite_notice_json(struct spool *sp, const char *id, char **json,
    size_t *len)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_NOTICE];
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			spool_sqlite_fail(sp, "cannot read notice %s", id);
		sqlite3_reset(st);
		return (rc == SQLITE_DONE ? 0 : -1);
	}
	*len = (size_t)sqlite3_column_bytes(st, 4);
	if ((*json = malloc(*len + 1)) == NULL) {
		sqlite3_reset(st);
		snprintf(sp->error, sizeof(sp->error), "reading notice %s: out "
		    "of memory", id);
		return (-1);
	}
	if (*len > 0)
		memcpy(*json, sqlite3_column_blob(st, 4), *len);
	(*json)[*len] = '\0';
	sqlite3_reset(st);
	return (1);
}

/* id, class, received_at and the stored notice, from STMT_NOTICE's row. */
static void
spool_sqlite_gen_notice(yajl_gen g, struct spool_sqlite_json *js,
    sqlite3_stmt *st)
{
	spool_sqlite_gen_text(g, "id", st, 1);
	spool_sqlite_gen_text(g, "class", st, 2);
	spool_sqlite_gen_time(g, "received_at", st, 3);
	spool_sqlite_gen_string(g, "notice");
	/* Empty only if edited by hand: null then, and still valid JSON. */
	if ((js->rawlen = (size_t)sqlite3_column_bytes(st, 4)) > 0)
		js->raw = sqlite3_column_blob(st, 4);
	yajl_gen_null(g);
}

/* Every delivery of the notice, whatever its state, in order. */
static int
spool_sqlite_gen_deliveries(struct spool *sp, yajl_gen g, int64_t seq)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_DESCRIBE_DELIVERIES];
	int rc;

	spool_sqlite_gen_string(g, "deliveries");
	yajl_gen_array_open(g);
	sqlite3_bind_int64(st, 1, seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		yajl_gen_map_open(g);
		spool_sqlite_gen_text(g, "id", st, 0);
		spool_sqlite_gen_text(g, "channel", st, 1);
		spool_sqlite_gen_text(g, "route", st, 2);
		spool_sqlite_gen_text(g, "state", st, 3);
		spool_sqlite_gen_int(g, "attempts", st, 4);
		spool_sqlite_gen_text(g, "last_error", st, 5);
		spool_sqlite_gen_int(g, "level", st, 6);
		spool_sqlite_gen_text(g, "digest", st, 7);
		spool_sqlite_gen_string(g, "pilot");
		yajl_gen_bool(g, sqlite3_column_int(st, 8) != 0);
		spool_sqlite_gen_text(g, "fallback_of", st, 9);
		spool_sqlite_gen_time(g, "created_at", st, 10);
		spool_sqlite_gen_time(g, "updated_at", st, 11);
		spool_sqlite_gen_time(g, "delivered_at", st, 12);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	if (rc != SQLITE_DONE)
		spool_sqlite_fail(sp, "cannot read the deliveries of notice "
		    "seq %lld", (long long)seq);
	sqlite3_reset(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* The response of a tracked notice (STMT_NOTICE's row) and its history. */
static int
spool_sqlite_gen_response(struct spool *sp, yajl_gen g, sqlite3_stmt *nst,
    int64_t seq)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_DESCRIBE_ESCALATIONS];
	int rc;

	spool_sqlite_gen_time(g, "respond_by", nst, 5);
	spool_sqlite_gen_time(g, "acked_at", nst, 6);
	spool_sqlite_gen_text(g, "ack_by", nst, 7);
	spool_sqlite_gen_text(g, "ack_note", nst, 8);
	spool_sqlite_gen_int(g, "score", nst, 9);
	spool_sqlite_gen_time(g, "expired_at", nst, 10);
	spool_sqlite_gen_string(g, "escalations");
	yajl_gen_array_open(g);
	sqlite3_bind_int64(st, 1, seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		yajl_gen_map_open(g);
		spool_sqlite_gen_int(g, "level", st, 0);
		spool_sqlite_gen_int(g, "round", st, 1);
		spool_sqlite_gen_time(g, "at", st, 2);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	if (rc != SQLITE_DONE)
		spool_sqlite_fail(sp, "cannot read the escalations of notice "
		    "seq %lld", (long long)seq);
	sqlite3_reset(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

static void
spool_sqlite_gen_string(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* "key": the text of column col; nothing when it is null. */
static void
spool_sqlite_gen_text(yajl_gen g, const char *key, sqlite3_stmt *st,
    int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return;
	spool_sqlite_gen_string(g, key);
	yajl_gen_string(g, sqlite3_column_text(st, col),
	    (size_t)sqlite3_column_bytes(st, col));
}

static void
spool_sqlite_gen_int(yajl_gen g, const char *key, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return;
	spool_sqlite_gen_string(g, key);
	yajl_gen_integer(g, sqlite3_column_int64(st, col));
}

/* "key": column col (ms since the epoch) in RFC 3339; nothing if null. */
static void
spool_sqlite_gen_time(yajl_gen g, const char *key, sqlite3_stmt *st,
    int col)
{
	char when[32];

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return;
	notice_time_format(sqlite3_column_int64(st, col), when, sizeof(when));
	spool_sqlite_gen_string(g, key);
	spool_sqlite_gen_string(g, when);
}

/*
 * yajl's output, into js->buf. When js->raw is set, the null yajl writes
 * next (after its separator, which comes in a call of its own) is replaced
 * by those bytes.
 */
static void
spool_sqlite_json_cb(void *arg, const char *s, size_t len)
{
	struct spool_sqlite_json *js = arg;

	if (js->raw != NULL && len == 4 && memcmp(s, "null", 4) == 0) {
		s = js->raw;
		len = js->rawlen;
		js->raw = NULL;
	}
	jsonbuf_putn(&js->out, s, len);
}

/*
 * The status socket's "pending": one page of notices with a pending
 * delivery, seq > after_seq, in seq order. fn is called while the page's
 * query runs: it may read what it is given, not write the spool. Returns
 * how many fn was given.
 */
static int
spool_sqlite_list_pending(struct spool *sp, int64_t after_seq, size_t max,
    int (*fn)(const struct spool_pending_row *, void *), void *arg)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_LIST_PENDING];
	struct spool_pending_row row;
	int rc, n = 0;

	sqlite3_bind_int64(st, 1, after_seq);
	sqlite3_bind_int64(st, 2, max > INT_MAX ? INT_MAX : (int64_t)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row.seq = sqlite3_column_int64(st, 0);
		row.id = (const char *)sqlite3_column_text(st, 1);
		row.class_name = (const char *)sqlite3_column_text(st, 2);
		row.received_ms = sqlite3_column_int64(st, 3);
		row.npending = sqlite3_column_int(st, 4);
		row.channels = (const char *)sqlite3_column_text(st, 5);
		if (fn(&row, arg) != 0) {
			snprintf(sp->error, sizeof(sp->error), "listing "
			    "pending notices stopped at notice seq %lld",
			    (long long)row.seq);
			sqlite3_reset(st);
			return (-1);
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		spool_sqlite_fail(sp, "cannot list pending notices after seq "
		    "%lld", (long long)after_seq);
		sqlite3_reset(st);
		return (-1);
	}
	sqlite3_reset(st);
	return (n);
}

static int
spool_sqlite_dseq_cmp(const struct spool_sqlite_dseq *a,
    const struct spool_sqlite_dseq *b)
{
	return (strcmp(a->id, b->id));
}

static struct spool_sqlite_dseq *
spool_sqlite_dseq_find(struct spool_sqlite *ss, const char *id)
{
	struct spool_sqlite_dseq key;

	key.id = id;
	return (RB_FIND(spool_sqlite_dseqs, &ss->dseqs, &key));
}

/*
 * A pending delivery of notice id, or NULL: a delivery id is the notice's,
 * a '/' and more, and a notice id has no '/', so they sort together.
 */
static struct spool_sqlite_dseq *
spool_sqlite_dseq_of_notice(struct spool_sqlite *ss, const char *id)
{
	struct spool_sqlite_dseq key, *ds;
	char prefix[SB_ID_MAX + 2];
	size_t len = strlen(id);

	if (len > SB_ID_MAX)
		return (NULL);
	memcpy(prefix, id, len);
	prefix[len] = '/';
	prefix[len + 1] = '\0';
	key.id = prefix;
	ds = RB_NFIND(spool_sqlite_dseqs, &ss->dseqs, &key);
	if (ds == NULL || strncmp(ds->id, prefix, len + 1) != 0)
		return (NULL);
	return (ds);
}

/*
 * Memory ran out for the map of pending rows: from now on a pending id is
 * looked up in SQLite too (spool_sqlite_pending_id), a statement a
 * delivery. Said once.
 */
static void
spool_sqlite_dseqs_lost(struct spool_sqlite *ss)
{
	if (!ss->dseqs_lost)
		log_warnx("spool: out of memory for the map of pending "
		    "deliveries; pending ids are looked up in the spool from "
		    "now on");
	ss->dseqs_lost = ss->dseqs_partial = 1;
}

/* Remember the row of a pending delivery; out of memory, do without. */
static void
spool_sqlite_dseq_add(struct spool_sqlite *ss, const char *id, int64_t seq)
{
	struct spool_sqlite_dseq *ds, *old;
	size_t len = strlen(id) + 1;

	if ((ds = malloc(sizeof(*ds) + len)) == NULL) {
		spool_sqlite_dseqs_lost(ss);
		return;
	}
	ds->id = memcpy(ds + 1, id, len);
	ds->seq = seq;
	if ((old = RB_FIND(spool_sqlite_dseqs, &ss->dseqs, ds)) != NULL)
		spool_sqlite_dseq_remove(ss, old);
	if (spool_sqlite_undo_push(ss, ds, 1) == -1) {
		spool_sqlite_dseqs_lost(ss);
		free(ds);
		return;
	}
	RB_INSERT(spool_sqlite_dseqs, &ss->dseqs, ds);
}

/* Forget a delivery that ended; a rollback brings it back. */
static void
spool_sqlite_dseq_remove(struct spool_sqlite *ss, struct spool_sqlite_dseq *ds)
{
	RB_REMOVE(spool_sqlite_dseqs, &ss->dseqs, ds);
	switch (spool_sqlite_undo_push(ss, ds, 0)) {
	case -1:
		/* A rollback cannot bring it back now. */
		spool_sqlite_dseqs_lost(ss);
		/* FALLTHROUGH */
	case 0:
		free(ds);
		break;
	}
}

/* At close: the map and what the journal keeps out of it. */
static void
spool_sqlite_dseq_free(struct spool_sqlite *ss)
{
	struct spool_sqlite_dseq *ds, *next;

	spool_sqlite_undo_commit(ss);
	RB_FOREACH_SAFE(ds, spool_sqlite_dseqs, &ss->dseqs, next) {
		RB_REMOVE(spool_sqlite_dseqs, &ss->dseqs, ds);
		free(ds);
	}
	free(ss->undo);
	ss->undo = NULL;
	ss->undosize = 0;
}

/*
 * Journal a change to the map made in the open transaction: 1 when it
 * was, 0 when no transaction is open (the row is committed), -1 when out
 * of memory.
 */
static int
spool_sqlite_undo_push(struct spool_sqlite *ss, struct spool_sqlite_dseq *ds,
    int added)
{
	struct spool_sqlite_undo *grown;
	size_t size;

	if (sqlite3_get_autocommit(ss->db))
		return (0);
	if (ss->nundo == ss->undosize) {
		size = ss->undosize == 0 ? 256 : ss->undosize * 2;
		if ((grown = reallocarray(ss->undo, size,
		    sizeof(*ss->undo))) == NULL)
			return (-1);
		ss->undo = grown;
		ss->undosize = size;
	}
	ss->undo[ss->nundo].ds = ds;
	ss->undo[ss->nundo].added = added;
	ss->nundo++;
	return (1);
}

/* The transaction is kept: what it removed from the map goes for good. */
static void
spool_sqlite_undo_commit(struct spool_sqlite *ss)
{
	size_t i;

	for (i = 0; i < ss->nundo; i++)
		if (!ss->undo[i].added)
			free(ss->undo[i].ds);
	ss->nundo = 0;
}

/* The transaction is gone: so is what it did to the map, newest first. */
static void
spool_sqlite_undo_rollback(struct spool_sqlite *ss)
{
	struct spool_sqlite_dseq *ds;
	size_t i;

	for (i = ss->nundo; i-- > 0;) {
		ds = ss->undo[i].ds;
		if (ss->undo[i].added) {
			RB_REMOVE(spool_sqlite_dseqs, &ss->dseqs, ds);
			free(ds);
		} else if (RB_INSERT(spool_sqlite_dseqs, &ss->dseqs,
		    ds) != NULL)
			free(ds);
	}
	ss->nundo = 0;
	ss->last_seq = 0;
}

static int64_t
spool_sqlite_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
