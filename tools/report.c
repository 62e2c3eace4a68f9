/*
 * report.c: the figures of sbctl report, read straight from the spool
 * (docs/spool.md's tables) over a period of acceptance times. The spool is
 * opened read-only and read in one transaction, so every figure comes from
 * the same snapshot while the daemon goes on writing (WAL). Counts are
 * made in SQL; percentiles, deadlines (which need the config's policies)
 * and the pilot verdicts in C.
 */
#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "adapter.h"
#include "config.h"
#include "duration.h"
#include "report.h"
#include "tod.h"

/* The spool's PRAGMA application_id ("SWBD") and the oldest usable schema. */
#define REPORT_APP_ID		0x53574244
#define REPORT_SCHEMA_MIN	2
/* A checkpoint by the daemon may hold a reader back for a moment. */
#define REPORT_BUSY_MS		2000

/* Every query reads notices received in [?1, ?2). */
#define RANGE	"n.received_ms >= ?1 AND n.received_ms < ?2"
#define GOAL	"coalesce(json_extract(CAST(n.json AS TEXT), '$.goal'), " \
		"'inform')"

struct report_ctx {
	sqlite3			*db;
	const struct config	*cf;
	struct report		*r;
	char			*err;
	size_t			 errlen;
};

static int	report_open(struct report_ctx *, const char *);
static int	report_check_spool(struct report_ctx *, const char *);
static int	report_has(struct report_ctx *, const char *, int *);
static sqlite3_stmt *report_query(struct report_ctx *, const char *);
static int	report_step(struct report_ctx *, sqlite3_stmt *);
static int	report_fail(struct report_ctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	report_oom(struct report_ctx *);
static char	*report_col(sqlite3_stmt *, int);
static int	report_days(struct report_ctx *);
static int	report_notices(struct report_ctx *);
static int	report_channels_init(struct report_ctx *);
static struct report_channel *report_channel_get(struct report_ctx *,
		    const char *);
static int	report_deliveries(struct report_ctx *);
static int64_t	report_deadline(const struct config *, const char *,
		    const char *);
static int	report_tally_row(struct report_ctx *, struct report_tally *,
		    sqlite3_stmt *, int);
static int	report_breakers(struct report_ctx *);
static int	report_pilots(struct report_ctx *);
static int	report_pilot(struct report_ctx *, struct report_pilot *);
static int	report_pilot_routes(struct report_ctx *,
		    struct report_pilot *);
static void	report_verdict(struct report_pilot *);
static int	report_goals(struct report_ctx *);
static struct report_goal *report_goal_find(struct report *, const char *,
		    const char *);
static int	report_goal_times(struct report_ctx *);
static int	report_goal_levels(struct report_ctx *);
static int	report_scores(struct report_ctx *, const char *,
		    struct report_score **, size_t *);
static int	report_volumes(struct report_ctx *, const char *,
		    struct report_volume **, size_t *);
static int	report_strings_add(char ***, size_t *, const char *);
static void	report_strings_free(char **, size_t);
static int	dist_add(struct report_dist *, int64_t);
static void	dist_end(struct report_dist *);
static void	dist_free(struct report_dist *);
static int	int64_cmp(const void *, const void *);
static int	goal_cmp(const void *, const void *);
static int	volume_cmp(const void *, const void *);
static int	goal_rank(const char *);

/* Collect notices and their scores, by channel and by audience entry. */
static const char report_sql_score_channels[] =
	"WITH s AS (SELECT DISTINCT d.channel AS name, n.seq AS seq, "
	"r.score AS score FROM deliveries d JOIN notices n ON n.seq = "
	"d.notice_seq LEFT JOIN responses r ON r.notice_seq = n.seq WHERE "
	RANGE " AND d.level = 0 AND d.state = 'delivered' AND " GOAL
	" = 'collect')";
static const char report_sql_score_audiences[] =
	"WITH s AS (SELECT DISTINCT j.value AS name, n.seq AS seq, "
	"r.score AS score FROM notices n JOIN json_each(CAST(n.json AS TEXT), "
	"'$.audience') j LEFT JOIN responses r ON r.notice_seq = n.seq WHERE "
	RANGE " AND " GOAL " = 'collect')";
/* Volumes: %s is the capped count (report_volumes). */
static const char report_sql_sources[] =
	"SELECT coalesce(json_extract(CAST(n.json AS TEXT), '$.source'), "
	"'(anonymous)') AS name, n.class, count(*), %s FROM notices n WHERE "
	RANGE " GROUP BY 1, 2 ORDER BY 1";
static const char report_sql_audiences[] =
	"SELECT j.value AS name, n.class, count(*), %s FROM notices n JOIN "
	"json_each(CAST(n.json AS TEXT), '$.audience') j WHERE " RANGE
	" GROUP BY 1, 2 ORDER BY 1";

static const int64_t delivery_bounds[] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
	900000, 3600000
};
static const char *const delivery_labels[] = {
	"<100ms", "<250ms", "<500ms", "<1s", "<2.5s", "<5s", "<10s", "<30s",
	"<1m", "<5m", "<15m", "<1h", "\xe2\x89\xa5" "1h"
};
const struct report_scale report_delivery_scale = {
	delivery_bounds, delivery_labels,
	sizeof(delivery_bounds) / sizeof(delivery_bounds[0])
};

static const int64_t response_bounds[] = {
	60000, 300000, 900000, 1800000, 3600000, 7200000, 14400000,
	28800000, 86400000
};
static const char *const response_labels[] = {
	"<1m", "<5m", "<15m", "<30m", "<1h", "<2h", "<4h", "<8h", "<1d",
	"\xe2\x89\xa5" "1d"
};
const struct report_scale report_response_scale = {
	response_bounds, response_labels,
	sizeof(response_bounds) / sizeof(response_bounds[0])
};

int
report_build(struct report *r, const struct config *cf, const char *path,
    int64_t since_ms, int64_t until_ms, char *err, size_t errlen)
{
	struct report_ctx ctx = { NULL, cf, r, err, errlen };
	struct timespec now;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_REALTIME, &now);
	r->made_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	r->spool_path = path;
	r->config_path = cf->path;
	r->timezone = cf->timezone != NULL ? cf->timezone : "UTC";
	r->since_ms = since_ms;
	r->until_ms = until_ms;
	r->response.scale = &report_response_scale;
	/* Days are the config's days, as quiet hours and batch.at are. */
	if (tod_set_zone(r->timezone) == -1) {
		snprintf(err, errlen, "timezone '%s' of %s cannot be used",
		    r->timezone, cf->path);
		return (-1);
	}
	if (report_open(&ctx, path) == -1)
		goto out;
	if (report_days(&ctx) == -1 || report_notices(&ctx) == -1 ||
	    report_channels_init(&ctx) == -1 ||
	    report_deliveries(&ctx) == -1 || report_breakers(&ctx) == -1 ||
	    report_pilots(&ctx) == -1 || report_goals(&ctx) == -1 ||
	    report_goal_times(&ctx) == -1 || report_goal_levels(&ctx) == -1)
		goto out;
	if (report_scores(&ctx, report_sql_score_channels, &r->score_channels,
	    &r->nscore_channels) == -1 || report_scores(&ctx,
	    report_sql_score_audiences, &r->score_audiences,
	    &r->nscore_audiences) == -1 || report_volumes(&ctx,
	    report_sql_sources, &r->sources, &r->nsources) == -1 ||
	    report_volumes(&ctx, report_sql_audiences, &r->audiences,
	    &r->naudiences) == -1)
		goto out;
	rc = 0;
out:
	if (ctx.db != NULL) {
		/* Only read: the end of the snapshot. */
		sqlite3_exec(ctx.db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(ctx.db);
	}
	return (rc);
}

static int
report_fail(struct report_ctx *ctx, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (ctx->db != NULL)
		snprintf(ctx->err, ctx->errlen, "cannot read spool %s: %s: %s",
		    ctx->r->spool_path, what, sqlite3_errmsg(ctx->db));
	else
		snprintf(ctx->err, ctx->errlen, "cannot read spool %s: %s",
		    ctx->r->spool_path, what);
	return (-1);
}

static int
report_oom(struct report_ctx *ctx)
{
	snprintf(ctx->err, ctx->errlen, "cannot read spool %s: out of memory",
	    ctx->r->spool_path);
	return (-1);
}

/*
 * Read-only, never created: a report must not make an empty spool where
 * a path was mistyped. BEGIN makes the queries one snapshot.
 */
static int
report_open(struct report_ctx *ctx, const char *path)
{
	if (access(path, R_OK) == -1) {
		snprintf(ctx->err, ctx->errlen, "cannot read spool %s: %s%s",
		    path, strerror(errno), errno == ENOENT ? " (is spool.path "
		    "of the config, or --spool, the daemon's spool?)" : "");
		return (-1);
	}
	if (sqlite3_open_v2(path, &ctx->db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		return (report_fail(ctx, "cannot open it"));
	sqlite3_busy_timeout(ctx->db, REPORT_BUSY_MS);
	if (report_check_spool(ctx, path) == -1)
		return (-1);
	if (sqlite3_exec(ctx->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return (report_fail(ctx, "cannot begin a read"));
	if (report_has(ctx, "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'table' AND name = 'breaker_openings'",
	    &ctx->r->has_breakers) == -1 ||
	    report_has(ctx, "SELECT count(*) FROM pragma_table_info("
	    "'notices') WHERE name = 'demoted_by'", &ctx->r->has_capped) == -1)
		return (-1);
	return (0);
}

/* A switchboard spool of schema version 2 or later. */
static int
report_check_spool(struct report_ctx *ctx, const char *path)
{
	int app = 0;

	if (report_has(ctx, "PRAGMA application_id", &app) == -1 ||
	    report_has(ctx, "PRAGMA user_version", &ctx->r->schema) == -1) {
		snprintf(ctx->err, ctx->errlen, "%s is not a switchboard spool "
		    "or is corrupt: %s", path, sqlite3_errmsg(ctx->db));
		return (-1);
	}
	if (app != REPORT_APP_ID) {
		snprintf(ctx->err, ctx->errlen, "%s is not a switchboard spool "
		    "(its application_id is %d, not 0x%x)", path, app,
		    REPORT_APP_ID);
		return (-1);
	}
	if (ctx->r->schema < REPORT_SCHEMA_MIN) {
		snprintf(ctx->err, ctx->errlen, "spool %s has schema version "
		    "%d, which keeps no responses or escalations; start this "
		    "switchboardd on it once to bring it to version %d",
		    path, ctx->r->schema, REPORT_SCHEMA_MIN);
		return (-1);
	}
	return (0);
}

/* The integer the one-row query sql answers. */
static int
report_has(struct report_ctx *ctx, const char *sql, int *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(ctx->db, sql, -1, &st, NULL) != SQLITE_OK)
		return (report_fail(ctx, "cannot run %s", sql));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return (report_fail(ctx, "cannot run %s", sql));
	return (0);
}

/* A statement with the period bound to ?1 and ?2. */
static sqlite3_stmt *
report_query(struct report_ctx *ctx, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(ctx->db, sql, -1, &st, NULL) != SQLITE_OK) {
		report_fail(ctx, "a query failed to prepare");
		return (NULL);
	}
	sqlite3_bind_int64(st, 1, ctx->r->since_ms);
	sqlite3_bind_int64(st, 2, ctx->r->until_ms);
	return (st);
}

/* 1 for a row, 0 at the end, -1 (err set) on failure. */
static int
report_step(struct report_ctx *ctx, sqlite3_stmt *st)
{
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		return (1);
	case SQLITE_DONE:
		return (0);
	default:
		return (report_fail(ctx, "a query failed"));
	}
}

static char *
report_col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return ((char *)(s != NULL ? s : (const unsigned char *)""));
}

/* The days of the period, local midnight to local midnight. */
static int
report_days(struct report_ctx *ctx)
{
	struct report *r = ctx->r;
	struct report_day *grown;
	struct tm tm;
	time_t t = (time_t)(r->since_ms / 1000);
	int64_t start;

	localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	while ((start = (int64_t)mktime(&tm) * 1000) < r->until_ms) {
		if ((grown = reallocarray(r->days, r->ndays + 1,
		    sizeof(*grown))) == NULL)
			return (report_oom(ctx));
		r->days = grown;
		memset(&r->days[r->ndays], 0, sizeof(*r->days));
		r->days[r->ndays].start_ms = start;
		strftime(r->days[r->ndays].date, sizeof(r->days->date),
		    "%Y-%m-%d", &tm);
		r->ndays++;
		tm.tm_mday++;
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		tm.tm_isdst = -1;
	}
	return (0);
}

/* Notices by class, and by day: one pass in acceptance order. */
static int
report_notices(struct report_ctx *ctx)
{
	struct report *r = ctx->r;
	sqlite3_stmt *st;
	size_t day = 0;
	int64_t ms;
	int c, rc;

	if ((st = report_query(ctx, "SELECT n.received_ms, n.class FROM "
	    "notices n WHERE " RANGE " ORDER BY n.received_ms")) == NULL)
		return (-1);
	while ((rc = report_step(ctx, st)) == 1) {
		ms = sqlite3_column_int64(st, 0);
		if ((c = notice_class_parse(report_col(st, 1))) < 0)
			continue;	/* no other class is ever written */
		r->notices++;
		r->by_class[c]++;
		while (day + 1 < r->ndays && r->days[day + 1].start_ms <= ms)
			day++;
		if (r->ndays > 0)
			r->days[day].by_class[c]++;
	}
	sqlite3_finalize(st);
	return (rc);
}

/* Every configured channel, in the config's order, even when idle. */
static int
report_channels_init(struct report_ctx *ctx)
{
	static const char *const modes[] = { "active", "pilot", "disabled" };
	const struct channel_conf *cc;
	const config_setting_t *cost;
	struct report_channel *rc;
	size_t i;

	for (i = 0; i < ctx->cf->nchannels; i++) {
		cc = &ctx->cf->channels[i];
		if ((rc = report_channel_get(ctx, cc->name)) == NULL)
			return (-1);
		rc->mode = (unsigned)cc->mode < 3 ? modes[cc->mode] : "active";
		rc->type = cc->ops->name;
		rc->pilot_percent = cc->pilot_percent;
		/* cost: a number per delivered notice, when configured. */
		cost = cc->setting != NULL ? config_setting_get_member(
		    cc->setting, "cost") : NULL;
		if (cost != NULL && (config_setting_type(cost) ==
		    CONFIG_TYPE_FLOAT || config_setting_type(cost) ==
		    CONFIG_TYPE_INT || config_setting_type(cost) ==
		    CONFIG_TYPE_INT64)) {
			rc->has_cost = 1;
			rc->cost_each = config_setting_type(cost) ==
			    CONFIG_TYPE_FLOAT ? config_setting_get_float(cost) :
			    (double)config_setting_get_int64(cost);
			ctx->r->has_cost = 1;
		}
	}
	return (0);
}

/* The channel of that name; one the config no longer has is added. */
static struct report_channel *
report_channel_get(struct report_ctx *ctx, const char *name)
{
	struct report *r = ctx->r;
	struct report_channel *grown, *rc;
	size_t i;

	for (i = 0; i < r->nchannels; i++)
		if (strcmp(r->channels[i].name, name) == 0)
			return (&r->channels[i]);
	if ((grown = reallocarray(r->channels, r->nchannels + 1,
	    sizeof(*grown))) == NULL) {
		report_oom(ctx);
		return (NULL);
	}
	r->channels = grown;
	rc = &r->channels[r->nchannels];
	memset(rc, 0, sizeof(*rc));
	if ((rc->name = strdup(name)) == NULL) {
		report_oom(ctx);
		return (NULL);
	}
	r->nchannels++;
	rc->mode = "removed";
	rc->t.time.scale = &report_delivery_scale;
	rc->breaker_open_ms = rc->breaker_openings = -1;
	return (rc);
}

/*
 * The deliver_within of a delivery: its route's policy for its notice's
 * class, as dispatch.c arms it. 0 when there is none to measure.
 */
static int64_t
report_deadline(const struct config *cf, const char *route,
    const char *class)
{
	const struct route *rt = NULL;
	struct policy pol;
	size_t i;
	int c;

	if ((c = notice_class_parse(class)) < 0)
		return (0);
	for (i = 0; i < cf->nroutes && *route != '\0'; i++)
		if (strcmp(cf->routes[i].name, route) == 0) {
			rt = &cf->routes[i];
			break;
		}
	config_policy(cf, rt, c, &pol);
	return (pol.deliver_within_ms);
}

/*
 * One delivery row into a tally: columns from col on are state, attempts,
 * created_ms, delivered_ms, route, class, in a digest. A digest's
 * deliver_within counts from its flush, which the spool does not keep, so
 * a digest item is left out of the on-time share.
 */
static int
report_tally_row(struct report_ctx *ctx, struct report_tally *t,
    sqlite3_stmt *st, int col)
{
	const char *state = report_col(st, col);
	int64_t attempts = sqlite3_column_int64(st, col + 1);
	int64_t ms = sqlite3_column_int64(st, col + 3) -
	    sqlite3_column_int64(st, col + 2), within = 0;
	int delivered = strcmp(state, "delivered") == 0;

	t->deliveries++;
	t->attempts += (uint64_t)(attempts > 0 ? attempts : 0);
	if (attempts > 1)
		t->retried++;
	if (strcmp(state, "pending") == 0) {
		t->pending++;
		return (0);
	}
	t->finished++;
	if (delivered) {
		t->delivered++;
		if (dist_add(&t->time, ms < 0 ? 0 : ms) == -1)
			return (report_oom(ctx));
	} else if (strcmp(state, "failed") == 0)
		t->failed++;
	else if (strcmp(state, "dead") == 0)
		t->dead++;
	else if (strcmp(state, "expired") == 0)
		t->expired++;
	if (sqlite3_column_int(st, col + 6) == 0)
		within = report_deadline(ctx->cf, report_col(st, col + 4),
		    report_col(st, col + 5));
	if (within > 0) {
		t->timed++;
		if (delivered && ms <= within)
			t->on_time++;
	}
	if (delivered && (within == 0 || ms <= within))
		t->in_time++;
	return (0);
}

#define DELIVERY_COLS	"d.state, d.attempts, d.created_ms, " \
			"coalesce(d.delivered_ms, 0), coalesce(d.route, ''), " \
			"n.class, d.digest IS NOT NULL"

static int
report_deliveries(struct report_ctx *ctx)
{
	struct report_channel *rc = NULL;
	sqlite3_stmt *st;
	const char *name;
	size_t i;
	int rc_step;

	if ((st = report_query(ctx, "SELECT d.channel, " DELIVERY_COLS
	    " FROM deliveries d JOIN notices n ON n.seq = d.notice_seq WHERE "
	    RANGE " ORDER BY d.channel")) == NULL)
		return (-1);
	while ((rc_step = report_step(ctx, st)) == 1) {
		name = report_col(st, 0);
		if ((rc == NULL || strcmp(rc->name, name) != 0) &&
		    (rc = report_channel_get(ctx, name)) == NULL) {
			rc_step = -1;
			break;
		}
		if ((rc_step = report_tally_row(ctx, &rc->t, st, 1)) == -1)
			break;
	}
	sqlite3_finalize(st);
	for (i = 0; i < ctx->r->nchannels; i++) {
		rc = &ctx->r->channels[i];
		dist_end(&rc->t.time);
		rc->cost = rc->cost_each * (double)rc->t.delivered;
	}
	return (rc_step);
}

/*
 * Time each channel's breaker was open within the period, from the
 * breaker_openings table when the spool has one (docs/report.md): one row
 * a spell, closed_ms null while it is still open.
 */
static int
report_breakers(struct report_ctx *ctx)
{
	struct report_channel *rc;
	sqlite3_stmt *st;
	size_t i;
	int rc_step;

	if (!ctx->r->has_breakers)
		return (0);
	for (i = 0; i < ctx->r->nchannels; i++)
		ctx->r->channels[i].breaker_open_ms =
		    ctx->r->channels[i].breaker_openings = 0;
	if ((st = report_query(ctx, "SELECT channel, sum(max(0, "
	    "min(coalesce(closed_ms, ?3), ?2) - max(opened_ms, ?1))), "
	    "count(*) FILTER (WHERE opened_ms >= ?1) FROM breaker_openings "
	    "WHERE opened_ms < ?2 AND coalesce(closed_ms, ?3) > ?1 "
	    "GROUP BY channel")) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 3, ctx->r->made_ms);
	while ((rc_step = report_step(ctx, st)) == 1) {
		if ((rc = report_channel_get(ctx, report_col(st, 0))) ==
		    NULL) {
			rc_step = -1;
			break;
		}
		rc->breaker_open_ms = sqlite3_column_int64(st, 1);
		rc->breaker_openings = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return (rc_step);
}

/* Every channel the config has in mode pilot. */
static int
report_pilots(struct report_ctx *ctx)
{
	struct report *r = ctx->r;
	struct report_pilot *p;
	size_t i;

	for (i = 0; i < ctx->cf->nchannels; i++) {
		if (ctx->cf->channels[i].mode != MODE_PILOT)
			continue;
		if ((p = reallocarray(r->pilots, r->npilots + 1,
		    sizeof(*p))) == NULL)
			return (report_oom(ctx));
		r->pilots = p;
		p = &r->pilots[r->npilots++];
		memset(p, 0, sizeof(*p));
		p->pilot.time.scale = p->others.time.scale =
		    &report_delivery_scale;
		p->percent = ctx->cf->channels[i].pilot_percent;
		if ((p->channel = strdup(ctx->cf->channels[i].name)) == NULL)
			return (report_oom(ctx));
		if (report_pilot(ctx, p) == -1)
			return (-1);
		report_verdict(p);
	}
	return (0);
}

/*
 * The pilot's shadow copies beside the deliveries of the notice itself
 * (not fallbacks, not escalations) by the other channels of the routes
 * the pilot served in the period.
 */
static int
report_pilot(struct report_ctx *ctx, struct report_pilot *p)
{
	sqlite3_stmt *st;
	const struct route *rt;
	const char *name;
	size_t i, j;
	int rc, pilot;

	if (report_pilot_routes(ctx, p) == -1)
		return (-1);
	if ((st = report_query(ctx, "SELECT d.channel, d.pilot, "
	    DELIVERY_COLS " FROM deliveries d JOIN notices n ON n.seq = "
	    "d.notice_seq WHERE " RANGE " AND d.level = 0 AND d.fallback_of "
	    "IS NULL AND d.route IN (SELECT DISTINCT d2.route FROM deliveries "
	    "d2 JOIN notices n ON n.seq = d2.notice_seq WHERE " RANGE " AND "
	    "d2.channel = ?3 AND d2.pilot = 1) AND ((d.channel = ?3 AND "
	    "d.pilot = 1) OR (d.channel <> ?3 AND d.pilot = 0)) "
	    "ORDER BY d.channel")) == NULL)
		return (-1);
	sqlite3_bind_text(st, 3, p->channel, -1, SQLITE_STATIC);
	while ((rc = report_step(ctx, st)) == 1) {
		name = report_col(st, 0);
		pilot = sqlite3_column_int(st, 1);
		if (!pilot && (p->nactive == 0 || strcmp(p->active[p->nactive -
		    1], name) != 0) && report_strings_add(&p->active,
		    &p->nactive, name) == -1) {
			rc = report_oom(ctx);
			break;
		}
		if ((rc = report_tally_row(ctx, pilot ? &p->pilot : &p->others,
		    st, 2)) == -1)
			break;
	}
	sqlite3_finalize(st);
	dist_end(&p->pilot.time);
	dist_end(&p->others.time);
	if (rc == -1 || p->nroutes > 0)
		return (rc);
	/* Without deliveries in the period, the routes that name it. */
	for (i = 0; i < ctx->cf->nroutes; i++) {
		rt = &ctx->cf->routes[i];
		for (j = 0; j < rt->nchannels; j++)
			if (strcmp(ctx->cf->channels[rt->channels[j]].name,
			    p->channel) == 0 && report_strings_add(&p->routes,
			    &p->nroutes, rt->name) == -1)
				return (report_oom(ctx));
	}
	return (0);
}

static int
report_pilot_routes(struct report_ctx *ctx, struct report_pilot *p)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = report_query(ctx, "SELECT DISTINCT d.route FROM deliveries "
	    "d JOIN notices n ON n.seq = d.notice_seq WHERE " RANGE " AND "
	    "d.channel = ?3 AND d.pilot = 1 AND d.route IS NOT NULL "
	    "ORDER BY 1")) == NULL)
		return (-1);
	sqlite3_bind_text(st, 3, p->channel, -1, SQLITE_STATIC);
	while ((rc = report_step(ctx, st)) == 1)
		if (report_strings_add(&p->routes, &p->nroutes,
		    report_col(st, 0)) == -1) {
			rc = report_oom(ctx);
			break;
		}
	sqlite3_finalize(st);
	return (rc);
}

/*
 * Better or worse: the share delivered in time, pilot against the others,
 * by a two-proportion z-test at 95%. Too few finished deliveries on
 * either side, or a difference within chance, is not enough data.
 */
static void
report_verdict(struct report_pilot *p)
{
	const struct report_tally *a = &p->pilot, *b = &p->others;
	double pa, pb, pool, se;
	char sa[32], sb[32], ta[32], tb[32];
	const char *why;

	report_format_share(a->in_time, a->finished, sa, sizeof(sa));
	report_format_share(b->in_time, b->finished, sb, sizeof(sb));
	if (a->finished < REPORT_MIN_SAMPLE || b->finished <
	    REPORT_MIN_SAMPLE) {
		p->verdict = REPORT_NOT_ENOUGH;
		snprintf(p->line, sizeof(p->line), "not enough data: %llu "
		    "finished deliveries by the pilot and %llu by the active "
		    "channels; at least %d each are needed",
		    (unsigned long long)a->finished,
		    (unsigned long long)b->finished, REPORT_MIN_SAMPLE);
		return;
	}
	pa = (double)a->in_time / (double)a->finished;
	pb = (double)b->in_time / (double)b->finished;
	pool = (double)(a->in_time + b->in_time) /
	    (double)(a->finished + b->finished);
	se = sqrt(pool * (1 - pool) * (1.0 / (double)a->finished +
	    1.0 / (double)b->finished));
	p->z = se > 0 ? (pa - pb) / se : 0;
	p->has_z = se > 0;
	if (p->z >= REPORT_Z) {
		p->verdict = REPORT_BETTER;
		why = "a difference beyond chance";
	} else if (p->z <= -REPORT_Z) {
		p->verdict = REPORT_WORSE;
		why = "a difference beyond chance";
	} else {
		p->verdict = REPORT_NOT_ENOUGH;
		why = se > 0 ? "a difference within chance at these counts" :
		    "the same share";
	}
	if (a->time.n > 0)
		report_format_ms(a->time.pct[REPORT_P95], ta, sizeof(ta));
	else
		snprintf(ta, sizeof(ta), "n/a");
	if (b->time.n > 0)
		report_format_ms(b->time.pct[REPORT_P95], tb, sizeof(tb));
	else
		snprintf(tb, sizeof(tb), "n/a");
	snprintf(p->line, sizeof(p->line), "%s: %llu of %llu delivered in "
	    "time (%s) against %llu of %llu (%s), %s (z = %.2f); p95 delivery "
	    "time %s against %s", report_verdict_name(p->verdict),
	    (unsigned long long)a->in_time, (unsigned long long)a->finished,
	    sa, (unsigned long long)b->in_time,
	    (unsigned long long)b->finished, sb, why, p->z, ta, tb);
}

/* Per class and goal: tracked notices and what became of them. */
static int
report_goals(struct report_ctx *ctx)
{
	struct report *r = ctx->r;
	struct report_goal *g;
	sqlite3_stmt *st;
	int rc;

	if ((st = report_query(ctx, "SELECT n.class, " GOAL ", count(*), "
	    "count(r.notice_seq), count(r.acked_ms), count(*) FILTER (WHERE "
	    "r.acked_ms <= r.respond_by_ms), count(r.expired_ms), count(*) "
	    "FILTER (WHERE r.notice_seq IS NOT NULL AND r.acked_ms IS NULL "
	    "AND r.expired_ms IS NULL) FROM notices n LEFT JOIN responses r "
	    "ON r.notice_seq = n.seq WHERE " RANGE " GROUP BY 1, 2")) == NULL)
		return (-1);
	while ((rc = report_step(ctx, st)) == 1) {
		if ((g = reallocarray(r->goals, r->ngoals + 1,
		    sizeof(*g))) == NULL) {
			rc = report_oom(ctx);
			break;
		}
		r->goals = g;
		g = &r->goals[r->ngoals++];
		memset(g, 0, sizeof(*g));
		g->response.scale = &report_response_scale;
		g->class = strdup(report_col(st, 0));
		g->goal = strdup(report_col(st, 1));
		if (g->class == NULL || g->goal == NULL) {
			rc = report_oom(ctx);
			break;
		}
		g->notices = (uint64_t)sqlite3_column_int64(st, 2);
		g->tracked = (uint64_t)sqlite3_column_int64(st, 3);
		g->acked = (uint64_t)sqlite3_column_int64(st, 4);
		g->in_time = (uint64_t)sqlite3_column_int64(st, 5);
		g->expired = (uint64_t)sqlite3_column_int64(st, 6);
		g->waiting = (uint64_t)sqlite3_column_int64(st, 7);
	}
	sqlite3_finalize(st);
	if (r->ngoals > 1)
		qsort(r->goals, r->ngoals, sizeof(*r->goals), goal_cmp);
	return (rc);
}

static struct report_goal *
report_goal_find(struct report *r, const char *class, const char *goal)
{
	size_t i;

	for (i = 0; i < r->ngoals; i++)
		if (strcmp(r->goals[i].class, class) == 0 &&
		    strcmp(r->goals[i].goal, goal) == 0)
			return (&r->goals[i]);
	return (NULL);
}

/* Response time: from acceptance to the ack, late acks included. */
static int
report_goal_times(struct report_ctx *ctx)
{
	struct report_goal *g;
	sqlite3_stmt *st;
	size_t i;
	int64_t ms;
	int rc;

	if ((st = report_query(ctx, "SELECT n.class, " GOAL ", r.acked_ms - "
	    "n.received_ms FROM notices n JOIN responses r ON r.notice_seq = "
	    "n.seq WHERE " RANGE " AND r.acked_ms IS NOT NULL")) == NULL)
		return (-1);
	while ((rc = report_step(ctx, st)) == 1) {
		ms = sqlite3_column_int64(st, 2);
		if (ms < 0)
			ms = 0;
		if ((g = report_goal_find(ctx->r, report_col(st, 0),
		    report_col(st, 1))) == NULL)
			continue;	/* acked since the first query: no */
		if (dist_add(&g->response, ms) == -1 ||
		    dist_add(&ctx->r->response, ms) == -1) {
			rc = report_oom(ctx);
			break;
		}
	}
	sqlite3_finalize(st);
	for (i = 0; i < ctx->r->ngoals; i++)
		dist_end(&ctx->r->goals[i].response);
	dist_end(&ctx->r->response);
	return (rc);
}

/* Escalations fired, by level, and the notices that escalated. */
static int
report_goal_levels(struct report_ctx *ctx)
{
	struct report_goal *g;
	sqlite3_stmt *st;
	uint64_t *grown;
	int64_t level;
	int rc;

	if ((st = report_query(ctx, "SELECT n.class, " GOAL ", e.level, "
	    "count(*), count(DISTINCT e.notice_seq) FROM escalations e JOIN "
	    "notices n ON n.seq = e.notice_seq WHERE " RANGE " AND e.level "
	    ">= 1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")) == NULL)
		return (-1);
	while ((rc = report_step(ctx, st)) == 1) {
		level = sqlite3_column_int64(st, 2);
		if ((g = report_goal_find(ctx->r, report_col(st, 0),
		    report_col(st, 1))) == NULL || level > 1000)
			continue;
		if ((size_t)level > g->nlevels) {
			if ((grown = reallocarray(g->levels, (size_t)level,
			    sizeof(*grown))) == NULL) {
				rc = report_oom(ctx);
				break;
			}
			memset(grown + g->nlevels, 0, ((size_t)level -
			    g->nlevels) * sizeof(*grown));
			g->levels = grown;
			g->nlevels = (size_t)level;
		}
		g->levels[level - 1] = (uint64_t)sqlite3_column_int64(st, 3);
		/* Every escalated notice fired level 1 first. */
		if (level == 1)
			g->escalated = (uint64_t)sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	return (rc);
}

/*
 * Scores from a WITH s(name, seq, score) clause: per name, the collect
 * notices, those scored, the mean and the count of each score.
 */
static int
report_scores(struct report_ctx *ctx, const char *with,
    struct report_score **out, size_t *nout)
{
	struct report_score *s;
	sqlite3_stmt *st;
	char sql[2048];
	int i, rc;

	snprintf(sql, sizeof(sql), "%s SELECT name, count(*), count(score), "
	    "coalesce(avg(score), 0), count(*) FILTER (WHERE score = 1), "
	    "count(*) FILTER (WHERE score = 2), count(*) FILTER (WHERE "
	    "score = 3), count(*) FILTER (WHERE score = 4), count(*) FILTER "
	    "(WHERE score = 5) FROM s GROUP BY name ORDER BY name", with);
	if ((st = report_query(ctx, sql)) == NULL)
		return (-1);
	while ((rc = report_step(ctx, st)) == 1) {
		if ((s = reallocarray(*out, *nout + 1, sizeof(*s))) == NULL) {
			rc = report_oom(ctx);
			break;
		}
		*out = s;
		s = &(*out)[(*nout)++];
		memset(s, 0, sizeof(*s));
		if ((s->name = strdup(report_col(st, 0))) == NULL) {
			rc = report_oom(ctx);
			break;
		}
		s->notices = (uint64_t)sqlite3_column_int64(st, 1);
		s->scored = (uint64_t)sqlite3_column_int64(st, 2);
		s->mean = sqlite3_column_double(st, 3);
		for (i = 0; i < 5; i++)
			s->counts[i] = (uint64_t)sqlite3_column_int64(st,
			    4 + i);
	}
	sqlite3_finalize(st);
	return (rc);
}

/*
 * Volumes from a query of (name, class, capped) ordered by name, whose %s
 * is the capped count: notices.demoted_by when the spool records it.
 */
static int
report_volumes(struct report_ctx *ctx, const char *fmt,
    struct report_volume **out, size_t *nout)
{
	struct report_volume *v = NULL;
	sqlite3_stmt *st;
	char sql[1024];
	const char *name;
	int c, rc;

	snprintf(sql, sizeof(sql), fmt, ctx->r->has_capped ?
	    "count(n.demoted_by)" : "-1");
	if ((st = report_query(ctx, sql)) == NULL)
		return (-1);
	while ((rc = report_step(ctx, st)) == 1) {
		name = report_col(st, 0);
		if (v == NULL || strcmp(v->name, name) != 0) {
			if ((v = reallocarray(*out, *nout + 1,
			    sizeof(*v))) == NULL) {
				rc = report_oom(ctx);
				break;
			}
			*out = v;
			v = &(*out)[(*nout)++];
			memset(v, 0, sizeof(*v));
			v->capped = ctx->r->has_capped ? 0 : -1;
			if ((v->name = strdup(name)) == NULL) {
				rc = report_oom(ctx);
				break;
			}
		}
		c = notice_class_parse(report_col(st, 1));
		v->notices += (uint64_t)sqlite3_column_int64(st, 2);
		if (c >= 0)
			v->by_class[c] += (uint64_t)sqlite3_column_int64(st,
			    2);
		if (ctx->r->has_capped)
			v->capped += sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (rc == 0 && *nout > 1)
		qsort(*out, *nout, sizeof(**out), volume_cmp);
	return (rc);
}

/* Most notices first; the same count by name. */
static int
volume_cmp(const void *a, const void *b)
{
	const struct report_volume *va = a, *vb = b;

	if (va->notices != vb->notices)
		return (va->notices > vb->notices ? -1 : 1);
	return (strcmp(va->name, vb->name));
}

/* Classes in their own order, then goals in theirs (SPEC §1). */
static int
goal_cmp(const void *a, const void *b)
{
	const struct report_goal *ga = a, *gb = b;
	int ca = notice_class_parse(ga->class), cb = notice_class_parse(
	    gb->class);

	if (ca != cb)
		return (ca < cb ? -1 : 1);
	return (goal_rank(ga->goal) - goal_rank(gb->goal));
}

static int
goal_rank(const char *goal)
{
	int g = notice_goal_parse(goal);

	return (g < 0 ? GOAL_COUNT : g);
}

static int
report_strings_add(char ***list, size_t *n, const char *s)
{
	char **grown;

	if ((grown = reallocarray(*list, *n + 1, sizeof(*grown))) == NULL)
		return (-1);
	*list = grown;
	if ((grown[*n] = strdup(s)) == NULL)
		return (-1);
	(*n)++;
	return (0);
}

static void
report_strings_free(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static int
dist_add(struct report_dist *d, int64_t ms)
{
	int64_t *grown;
	size_t size;

	if (d->n == d->size) {
		size = d->size == 0 ? 64 : d->size * 2;
		if ((grown = reallocarray(d->ms, size, sizeof(*grown))) ==
		    NULL)
			return (-1);
		d->ms = grown;
		d->size = size;
	}
	d->ms[d->n++] = ms;
	return (0);
}

/*
 * Sort, then the nearest-rank percentiles: the smallest value with at
 * least p% of the values at or below it, rank ceil(p * n / 100).
 */
static void
dist_end(struct report_dist *d)
{
	static const int p[REPORT_NPCT] = { 50, 95, 99 };
	size_t i, b, rank;

	if (d->n == 0)
		return;
	qsort(d->ms, d->n, sizeof(*d->ms), int64_cmp);
	for (i = 0; i < REPORT_NPCT; i++) {
		rank = ((size_t)p[i] * d->n + 99) / 100;
		d->pct[i] = d->ms[rank - 1];
	}
	for (i = 0; i < d->n && d->scale != NULL; i++) {
		for (b = 0; b < d->scale->nbounds; b++)
			if (d->ms[i] < d->scale->bounds[b])
				break;
		d->buckets[b]++;
	}
}

static void
dist_free(struct report_dist *d)
{
	free(d->ms);
	d->ms = NULL;
	d->n = d->size = 0;
}

static int
int64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x < y ? -1 : x > y);
}

int
report_when(const struct config *cf, const char *s, int64_t now_ms,
    int64_t *out, char *err, size_t errlen)
{
	static const char *const formats[] = { "%Y-%m-%d", "%Y-%m-%dT%H:%M",
	    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S" };
	const char *zone = cf->timezone != NULL ? cf->timezone : "UTC";
	const char *end;
	struct tm tm;
	int64_t ago;
	size_t i;
	time_t t;

	if (strcmp(s, "now") == 0) {
		*out = now_ms;
		return (0);
	}
	if (duration_parse(s, &ago) == 0) {
		*out = now_ms - ago;
		return (0);
	}
	if (tod_set_zone(zone) == -1) {
		snprintf(err, errlen, "timezone '%s' cannot be used", zone);
		return (-1);
	}
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, formats[i], &tm)) == NULL ||
		    (*end != '\0' && strcmp(end, "Z") != 0))
			continue;
		tm.tm_isdst = -1;
		if ((t = *end == 'Z' ? timegm(&tm) : mktime(&tm)) == -1)
			break;
		*out = (int64_t)t * 1000;
		return (0);
	}
	snprintf(err, errlen, "'%s' is not a time: give \"now\", a duration "
	    "back from now (such as 7d or 12h) or a date such as 2024-05-01 "
	    "or 2024-05-01T09:30 (in %s; Z after it for UTC)", s, zone);
	return (-1);
}

void
report_free(struct report *r)
{
	size_t i;

	for (i = 0; i < r->nchannels; i++) {
		free(r->channels[i].name);
		dist_free(&r->channels[i].t.time);
	}
	free(r->channels);
	for (i = 0; i < r->npilots; i++) {
		free(r->pilots[i].channel);
		report_strings_free(r->pilots[i].routes, r->pilots[i].nroutes);
		report_strings_free(r->pilots[i].active, r->pilots[i].nactive);
		dist_free(&r->pilots[i].pilot.time);
		dist_free(&r->pilots[i].others.time);
	}
	free(r->pilots);
	for (i = 0; i < r->ngoals; i++) {
		free(r->goals[i].class);
		free(r->goals[i].goal);
		free(r->goals[i].levels);
		dist_free(&r->goals[i].response);
	}
	free(r->goals);
	dist_free(&r->response);
	for (i = 0; i < r->nscore_channels; i++)
		free(r->score_channels[i].name);
	free(r->score_channels);
	for (i = 0; i < r->nscore_audiences; i++)
		free(r->score_audiences[i].name);
	free(r->score_audiences);
	for (i = 0; i < r->nsources; i++)
		free(r->sources[i].name);
	free(r->sources);
	for (i = 0; i < r->naudiences; i++)
		free(r->audiences[i].name);
	free(r->audiences);
	free(r->days);
	memset(r, 0, sizeof(*r));
}

/* "850ms", "4.2s", "3m05s", "2h10m", "3d04h": short, for tables. */
void
report_format_ms(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, len, "%lldms", (long long)ms);
	else if (ms < 60000)	/* truncated, as the longer forms are */
		snprintf(buf, len, "%lld.%llds", (long long)s,
		    (long long)(ms % 1000 / 100));
	else if (ms < 3600000)
		snprintf(buf, len, "%lldm%02llds", (long long)(s / 60),
		    (long long)(s % 60));
	else if (ms < 86400000)
		snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%lldd%02lldh", (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
}

/* A wall-clock time in the report's zone: "2024-05-01 12:34". */
void
report_format_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

/* "94.9%", or "n/a" of nothing. */
void
report_format_share(uint64_t part, uint64_t whole, char *buf, size_t len)
{
	if (whole == 0)
		snprintf(buf, len, "n/a");
	else
		snprintf(buf, len, "%.1f%%", 100.0 * (double)part /
		    (double)whole);
}

const char *
report_verdict_name(enum report_verdict v)
{
	switch (v) {
	case REPORT_BETTER:
		return ("better");
	case REPORT_WORSE:
		return ("worse");
	default:
		return ("not enough data");
	}
}

size_t
report_notes(const struct report *r, const char **out, size_t max)
{
	size_t n = 0;

	if (n < max)
		out[n++] = "Percentiles are nearest-rank. \"Within deadline\" "
		    "is of finished deliveries that have a deliver_within, "
		    "digest items left out: their deadline counts from the "
		    "flush, which the spool does not keep.";
	if (!r->has_breakers && n < max)
		out[n++] = "Breaker: n/a, this spool is older than schema "
		    "version 4 and keeps no history of breakers (the table "
		    "breaker_openings); switchboardd adds it at its next "
		    "start.";
	if (!r->has_cost && n < max)
		out[n++] = "Cost: n/a, no channel of the config has a cost.";
	if (!r->has_capped && n < max)
		out[n++] = "Capped: n/a, this spool is older than schema "
		    "version 4 and does not record which notices a limit "
		    "demoted to batch (the column notices.demoted_by); "
		    "switchboardd adds it at its next start.";
	if (r->has_capped && n < max)
		out[n++] = "Capped: notices a limit demoted to batch; those a "
		    "limit rejected were never accepted and are not in the "
		    "spool (rate_limited in sbctl status and /metrics).";
	return (n);
}

uint64_t
report_class_level(const struct report *r, int class, size_t level)
{
	const char *name = notice_class_name(class);
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < r->ngoals; i++)
		if (strcmp(r->goals[i].class, name) == 0 &&
		    level >= 1 && level <= r->goals[i].nlevels)
			n += r->goals[i].levels[level - 1];
	return (n);
}

size_t
report_max_level(const struct report *r)
{
	size_t i, max = 0;

	for (i = 0; i < r->ngoals; i++)
		if (r->goals[i].nlevels > max)
			max = r->goals[i].nlevels;
	return (max);
}
