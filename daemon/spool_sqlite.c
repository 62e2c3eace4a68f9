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

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "notice.h"
#include "spool.h"

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
	STMT_SEEN_NOTICE,
	STMT_SEEN_CHANNELS,
	STMT_PENDING_NOTICES,
	STMT_PENDING_JSON,
	STMT_PENDING_DELIVERIES,
	STMT_PRUNE,
	STMT_COUNT
};

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
	    " next_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9,"
	    " ?9, ?10)",
	/* A delivery added after acceptance joins the newest such notice. */
	[STMT_ADD_LATER_DELIVERY] =
	    "INSERT INTO deliveries (id, notice_seq, position, channel, route,"
	    " pilot, fallback_of, state, attempts, created_ms, updated_ms,"
	    " next_ms) SELECT ?1, seq, NULL, ?4, ?5, ?6, ?7, 'pending', ?8,"
	    " ?9, ?9, ?10 FROM notices WHERE id = ?2"
	    " ORDER BY received_ms DESC, seq DESC LIMIT 1",
	/* The pending delivery of that id, else the last one ended. */
	[STMT_UPDATE_DELIVERY] =
	    "UPDATE deliveries SET state = ?2, attempts = ?3,"
	    " last_error = coalesce(?4, last_error), updated_ms = ?5,"
	    " delivered_ms = CASE WHEN ?2 = 'delivered' THEN ?5"
	    " ELSE delivered_ms END"
	    " WHERE seq = coalesce("
	    "(SELECT seq FROM deliveries WHERE id = ?1 AND state = 'pending'),"
	    "(SELECT max(seq) FROM deliveries WHERE id = ?1))",
	[STMT_SEEN_NOTICE] =
	    "SELECT seq, class FROM notices WHERE id = ?1"
	    " AND received_ms >= ?2 ORDER BY received_ms DESC, seq DESC"
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
	    "SELECT id, channel, route, attempts, pilot, fallback_of, next_ms"
	    " FROM deliveries WHERE notice_seq = ?1 AND state = 'pending'"
	    " ORDER BY seq",
	/* Deliveries go with their notice (ON DELETE CASCADE). */
	[STMT_PRUNE] =
	    "DELETE FROM notices WHERE seq IN (SELECT seq FROM notices AS n"
	    " WHERE received_ms < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries"
	    " WHERE notice_seq = n.seq AND state = 'pending')"
	    " ORDER BY received_ms LIMIT ?2)",
};

struct spool_sqlite {
	sqlite3		*db;
	char		*path;
	int		 lockfd;	/* flock'd: one daemon a spool */
	sqlite3_stmt	*stmt[STMT_COUNT];
};

/* The pending deliveries of one notice, copied out for load_pending. */
struct spool_sqlite_pending {
	struct spool_delivery	*d;
	char			**strings;	/* what d points into */
	size_t			 n;
	size_t			 nstrings;
	size_t			 size;
};

static int	spool_sqlite_open(struct spool *, const char *,
		    enum spool_sync, char *, size_t);
static void	spool_sqlite_close(struct spool *);
static int	spool_sqlite_add_notice(struct spool *, const struct notice *,
		    const struct spool_delivery *, size_t);
static int	spool_sqlite_add_delivery(struct spool *, const char *,
		    const struct spool_delivery *);
static int	spool_sqlite_update_delivery(struct spool *, const char *,
		    enum spool_dstate, int, const char *, int64_t);
static int	spool_sqlite_commit(struct spool *);
static void	spool_sqlite_rollback(struct spool *);
static int	spool_sqlite_seen(struct spool *, const char *, int64_t,
		    struct spool_seen *);
static int	spool_sqlite_load_pending(struct spool *,
		    int (*)(const struct spool_pending *, void *), void *);
static int	spool_sqlite_prune(struct spool *, int64_t, int);

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
static int	spool_sqlite_pending_seqs(struct spool *, int64_t **,
		    size_t *);
static int	spool_sqlite_pending_one(struct spool *, int64_t,
		    int (*)(const struct spool_pending *, void *), void *);
static int	spool_sqlite_pending_add(struct spool_sqlite_pending *,
		    sqlite3_stmt *);
static char	*spool_sqlite_keep(struct spool_sqlite_pending *,
		    sqlite3_stmt *, int);
static void	spool_sqlite_pending_free(struct spool_sqlite_pending *);

const struct spool_ops spool_sqlite_ops = {
	.name = "sqlite",
	.open = spool_sqlite_open,
	.close = spool_sqlite_close,
	.add_notice = spool_sqlite_add_notice,
	.add_delivery = spool_sqlite_add_delivery,
	.update_delivery = spool_sqlite_update_delivery,
	.commit = spool_sqlite_commit,
	.rollback = spool_sqlite_rollback,
	.seen = spool_sqlite_seen,
	.load_pending = spool_sqlite_load_pending,
	.prune = spool_sqlite_prune,
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
	ss->lockfd = -1;
	sp->backend = ss;
	if (spool_sqlite_lock(ss, err, errlen) == -1 ||
	    spool_sqlite_connect(ss, err, errlen) == -1 ||
	    spool_sqlite_inspect(ss, &version, err, errlen) == -1 ||
	    spool_sqlite_configure(ss, sync, err, errlen) == -1 ||
	    spool_sqlite_migrate(ss, version, err, errlen) == -1 ||
	    spool_sqlite_prepare(ss, err, errlen) == -1) {
		spool_sqlite_close(sp);
		return (-1);
	}
	sqlite3_busy_timeout(ss->db, SPOOL_SQLITE_BUSY_MS);
	log_debug("spool path=%s schema=%d sync=%s", path,
	    SPOOL_SQLITE_VERSION, sync == SPOOL_SYNC_OFF ? "off" : "normal");
	return (0);
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
 * COMMIT returns. SPOOL_SYNC_OFF never fsyncs and may lose the last passes
 * (or worse) when the machine stops.
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
	    sync == SPOOL_SYNC_OFF ? "OFF" : "FULL", SPOOL_SQLITE_WAL_LIMIT);
	if (sqlite3_exec(ss->db, pragmas, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return (0);
fail:
	spool_sqlite_unreadable(ss, err, errlen, NULL);
	return (-1);
}

/* Bring the schema from version to SPOOL_SQLITE_VERSION in one transaction. */
static int
spool_sqlite_migrate(struct spool_sqlite *ss, int version, char *err,
    size_t errlen)
{
	char why[256], sql[128];
	int i;

	if (version == SPOOL_SQLITE_VERSION)
		return (0);
	if (sqlite3_exec(ss->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
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
	for (i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(ss->stmt[i]);
	/* The last connection to close checkpoints and removes the WAL. */
	if (ss->db != NULL && sqlite3_close(ss->db) != SQLITE_OK)
		log_warnx("spool close path=%s failed: %s", ss->path,
		    sqlite3_errmsg(ss->db));
	if (ss->lockfd != -1)
		close(ss->lockfd);
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

/* Binds ?1, ?4..?10 of STMT_ADD_DELIVERY and STMT_ADD_LATER_DELIVERY. */
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
	    sqlite3_bind_int64(st, 10, d->next_ms) != SQLITE_OK)
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
		snprintf(sp->error, sizeof(sp->error), "cannot store delivery "
		    "%s: no notice %s in the spool", d->id, notice_id);
		return (-1);
	}
	return (0);
}

static int
spool_sqlite_update_delivery(struct spool *sp, const char *delivery_id,
    enum spool_dstate state, int attempts, const char *error, int64_t now_ms)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_UPDATE_DELIVERY];

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	if (sqlite3_bind_text(st, 1, delivery_id, -1, SQLITE_STATIC) !=
	    SQLITE_OK ||
	    sqlite3_bind_text(st, 2, spool_dstate_name(state), -1,
	    SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, attempts) != SQLITE_OK ||
	    sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, now_ms) != SQLITE_OK) {
		spool_sqlite_fail(sp, "cannot update delivery %s",
		    delivery_id);
		sqlite3_reset(st);
		return (-1);
	}
	if (spool_sqlite_step_done(sp, st, "cannot update delivery %s",
	    delivery_id) == -1)
		return (-1);
	if (sqlite3_changes(ss->db) == 0) {
		snprintf(sp->error, sizeof(sp->error), "cannot update delivery "
		    "%s: no such delivery in the spool", delivery_id);
		return (-1);
	}
	return (0);
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

	if (sqlite3_get_autocommit(ss->db))
		return (0);
	if (spool_sqlite_step_done(sp, ss->stmt[STMT_COMMIT],
	    "commit failed") == 0)
		return (0);
	if (!sqlite3_get_autocommit(ss->db)) {
		sqlite3_step(ss->stmt[STMT_ROLLBACK]);
		sqlite3_reset(ss->stmt[STMT_ROLLBACK]);
	}
	return (-1);
}

static void
spool_sqlite_rollback(struct spool *sp)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_ROLLBACK];

	if (sqlite3_get_autocommit(ss->db))
		return;
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warnx("spool rollback path=%s failed: %s", ss->path,
		    sqlite3_errmsg(ss->db));
	sqlite3_reset(st);
}

/* Dedup: the newest notice of that id received at or after since_ms. */
static int
spool_sqlite_seen(struct spool *sp, const char *id, int64_t since_ms,
    struct spool_seen *seen)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_SEEN_NOTICE];
	const char *name;
	size_t len = 0, nlen;
	int64_t seq;
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since_ms);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			spool_sqlite_fail(sp, "cannot look up notice %s", id);
		sqlite3_reset(st);
		return (rc == SQLITE_DONE ? 0 : -1);
	}
	seq = sqlite3_column_int64(st, 0);
	name = (const char *)sqlite3_column_text(st, 1);
	snprintf(seen->class_name, sizeof(seen->class_name), "%s",
	    name != NULL ? name : "");
	sqlite3_reset(st);

	seen->channels[0] = '\0';
	st = ss->stmt[STMT_SEEN_CHANNELS];
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
	int64_t *seqs;
	size_t i, n;
	int rv = 0;

	if (spool_sqlite_pending_seqs(sp, &seqs, &n) == -1)
		return (-1);
	for (i = 0; i < n && rv == 0; i++)
		rv = spool_sqlite_pending_one(sp, seqs[i], fn, arg);
	free(seqs);
	return (rv);
}

/* The notices with a pending delivery, oldest first. */
static int
spool_sqlite_pending_seqs(struct spool *sp, int64_t **seqsp, size_t *np)
{
	struct spool_sqlite *ss = sp->backend;
	sqlite3_stmt *st = ss->stmt[STMT_PENDING_NOTICES];
	int64_t *seqs = NULL, *grown;
	size_t n = 0, size = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == size) {
			size = size == 0 ? 256 : size * 2;
			grown = reallocarray(seqs, size, sizeof(*seqs));
			if (grown == NULL) {
				snprintf(sp->error, sizeof(sp->error),
				    "listing pending notices: out of memory");
				goto fail;
			}
			seqs = grown;
		}
		seqs[n++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE) {
		spool_sqlite_fail(sp, "cannot list pending notices");
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
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (spool_sqlite_pending_add(&pd, st) == -1)
			goto nomem;
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
		if ((sgrown = reallocarray(pd->strings, pd->size * 4,
		    sizeof(*pd->strings))) == NULL)
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

	if (spool_sqlite_begin(sp) == -1)
		return (-1);
	sqlite3_bind_int64(st, 1, before_ms);
	sqlite3_bind_int(st, 2, max);
	if (spool_sqlite_step_done(sp, st, "cannot prune the spool") == -1)
		return (-1);
	return (sqlite3_changes(ss->db));
}

static int64_t
spool_sqlite_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
