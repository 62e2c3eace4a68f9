/*
 * report_json.c: sbctl report --format json, for scripts and other tools:
 * every figure, times in ms, shares as fractions 0..1 beside the counts
 * they come from; null where the spool cannot tell (docs/report.md).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include "notice.h"
#include "report.h"

static void	json_key(yajl_gen, const char *);
static void	json_str(yajl_gen, const char *, const char *);
static void	json_int(yajl_gen, const char *, long long);
static void	json_num(yajl_gen, const char *, double, const char *);
static void	json_null(yajl_gen, const char *);
static void	json_strings(yajl_gen, const char *, const char *const *,
		    size_t);
static void	json_time(yajl_gen, const char *, int64_t);
static void	json_share(yajl_gen, const char *, uint64_t, uint64_t);
static void	json_dist(yajl_gen, const char *, const struct report_dist *);
static void	json_tally(yajl_gen, const struct report_tally *);
static void	json_channels(yajl_gen, const struct report *);
static void	json_pilots(yajl_gen, const struct report *);
static void	json_goals(yajl_gen, const struct report *);
static void	json_scores(yajl_gen, const char *, const struct report_score *,
		    size_t);
static void	json_volumes(yajl_gen, const char *,
		    const struct report_volume *, size_t);
static void	json_days(yajl_gen, const struct report *);

int
report_write_json(FILE *f, const struct report *r)
{
	const unsigned char *buf;
	const char *notes[8];
	yajl_gen g;
	size_t len;
	int c, rc = -1;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return (-1);
	yajl_gen_config(g, yajl_gen_beautify, 1);
	yajl_gen_config(g, yajl_gen_indent_string, "  ");
	yajl_gen_map_open(g);
	json_key(g, "period");
	yajl_gen_map_open(g);
	json_time(g, "since", r->since_ms);
	json_time(g, "until", r->until_ms);
	json_int(g, "since_ms", r->since_ms);
	json_int(g, "until_ms", r->until_ms);
	json_str(g, "timezone", r->timezone);
	yajl_gen_map_close(g);
	json_str(g, "spool", r->spool_path);
	json_int(g, "schema", r->schema);
	json_str(g, "config", r->config_path);
	json_time(g, "made_at", r->made_ms);
	json_key(g, "notices");
	yajl_gen_map_open(g);
	json_int(g, "total", (long long)r->notices);
	for (c = 0; c < CLASS_COUNT; c++)
		json_int(g, notice_class_name(c), (long long)r->by_class[c]);
	yajl_gen_map_close(g);
	json_channels(g, r);
	json_pilots(g, r);
	json_goals(g, r);
	json_dist(g, "response_ms", &r->response);
	json_key(g, "satisfaction");
	yajl_gen_map_open(g);
	json_scores(g, "channels", r->score_channels, r->nscore_channels);
	json_scores(g, "audiences", r->score_audiences, r->nscore_audiences);
	yajl_gen_map_close(g);
	json_volumes(g, "sources", r->sources, r->nsources);
	json_volumes(g, "audiences", r->audiences, r->naudiences);
	json_days(g, r);
	json_strings(g, "notes", notes, report_notes(r, notes,
	    8));
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok &&
	    fwrite(buf, 1, len, f) == len && !ferror(f))
		rc = 0;
	yajl_gen_free(g);
	return (rc);
}

static void
json_key(yajl_gen g, const char *key)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
}

static void
json_str(yajl_gen g, const char *key, const char *value)
{
	json_key(g, key);
	yajl_gen_string(g, (const unsigned char *)value, strlen(value));
}

static void
json_int(yajl_gen g, const char *key, long long n)
{
	json_key(g, key);
	yajl_gen_integer(g, n);
}

/* A number as fmt writes it: yajl's %.20g would print 0.1 in 17 digits. */
static void
json_num(yajl_gen g, const char *key, double v, const char *fmt)
{
	char buf[64];
	int n;

	json_key(g, key);
	n = snprintf(buf, sizeof(buf), fmt, v);
	yajl_gen_number(g, buf, (size_t)n);
}

static void
json_null(yajl_gen g, const char *key)
{
	json_key(g, key);
	yajl_gen_null(g);
}

static void
json_strings(yajl_gen g, const char *key, const char *const *v, size_t n)
{
	size_t i;

	json_key(g, key);
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++)
		yajl_gen_string(g, (const unsigned char *)v[i], strlen(v[i]));
	yajl_gen_array_close(g);
}

/* RFC 3339 in UTC, as the status socket writes times. */
static void
json_time(yajl_gen g, const char *key, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[96];

	gmtime_r(&t, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	json_str(g, key, buf);
}

static void
json_share(yajl_gen g, const char *key, uint64_t part, uint64_t whole)
{
	if (whole == 0)
		json_null(g, key);
	else
		json_num(g, key, (double)part / (double)whole, "%.4f");
}

/* {"count":N,"p50":..,"p95":..,"p99":..,"histogram":[..]}. */
static void
json_dist(yajl_gen g, const char *key, const struct report_dist *d)
{
	static const char *const names[REPORT_NPCT] = { "p50", "p95", "p99" };
	size_t i;

	json_key(g, key);
	yajl_gen_map_open(g);
	json_int(g, "count", (long long)d->n);
	for (i = 0; i < REPORT_NPCT; i++) {
		if (d->n > 0)
			json_int(g, names[i], d->pct[i]);
		else
			json_null(g, names[i]);
	}
	json_key(g, "histogram");
	yajl_gen_array_open(g);
	for (i = 0; d->scale != NULL && i <= d->scale->nbounds; i++) {
		yajl_gen_map_open(g);
		json_str(g, "bucket", d->scale->labels[i]);
		if (i < d->scale->nbounds)
			json_int(g, "below_ms", d->scale->bounds[i]);
		else
			json_null(g, "below_ms");
		json_int(g, "count", (long long)d->buckets[i]);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

/* The members of a tally, inside an open map. */
static void
json_tally(yajl_gen g, const struct report_tally *t)
{
	json_int(g, "deliveries", (long long)t->deliveries);
	json_int(g, "delivered", (long long)t->delivered);
	json_int(g, "failed", (long long)t->failed);
	json_int(g, "retried", (long long)t->retried);
	json_int(g, "dead", (long long)t->dead);
	json_int(g, "expired", (long long)t->expired);
	json_int(g, "pending", (long long)t->pending);
	json_int(g, "attempts", (long long)t->attempts);
	json_int(g, "finished", (long long)t->finished);
	json_int(g, "timed", (long long)t->timed);
	json_int(g, "within_deadline", (long long)t->on_time);
	json_share(g, "within_deadline_share", t->on_time, t->timed);
	json_int(g, "in_time", (long long)t->in_time);
	json_share(g, "in_time_share", t->in_time, t->finished);
	json_dist(g, "delivery_ms", &t->time);
}

static void
json_channels(yajl_gen g, const struct report *r)
{
	const struct report_channel *c;
	size_t i;

	json_key(g, "channels");
	yajl_gen_array_open(g);
	for (i = 0; i < r->nchannels; i++) {
		c = &r->channels[i];
		yajl_gen_map_open(g);
		json_str(g, "name", c->name);
		json_str(g, "mode", c->mode);
		if (c->type != NULL)
			json_str(g, "type", c->type);
		else
			json_null(g, "type");
		json_tally(g, &c->t);
		if (c->breaker_open_ms < 0) {
			json_null(g, "breaker_open_ms");
			json_null(g, "breaker_openings");
		} else {
			json_int(g, "breaker_open_ms", c->breaker_open_ms);
			json_int(g, "breaker_openings", c->breaker_openings);
		}
		if (c->has_cost) {
			json_num(g, "cost_each", c->cost_each, "%.6g");
			json_num(g, "cost", c->cost, "%.4f");
		} else {
			json_null(g, "cost_each");
			json_null(g, "cost");
		}
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void
json_pilots(yajl_gen g, const struct report *r)
{
	const struct report_pilot *p;
	size_t i;

	json_key(g, "pilots");
	yajl_gen_array_open(g);
	for (i = 0; i < r->npilots; i++) {
		p = &r->pilots[i];
		yajl_gen_map_open(g);
		json_str(g, "channel", p->channel);
		json_int(g, "pilot_percent", p->percent);
		json_strings(g, "routes", (const char *const *)p->routes,
		    p->nroutes);
		json_strings(g, "active", (const char *const *)p->active,
		    p->nactive);
		json_key(g, "pilot");
		yajl_gen_map_open(g);
		json_tally(g, &p->pilot);
		yajl_gen_map_close(g);
		json_key(g, "others");
		yajl_gen_map_open(g);
		json_tally(g, &p->others);
		yajl_gen_map_close(g);
		json_str(g, "verdict", report_verdict_name(p->verdict));
		if (p->has_z)
			json_num(g, "z", p->z, "%.2f");
		else
			json_null(g, "z");
		json_str(g, "line", p->line);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void
json_goals(yajl_gen g, const struct report *r)
{
	const struct report_goal *o;
	size_t i, l;

	json_key(g, "responses");
	yajl_gen_array_open(g);
	for (i = 0; i < r->ngoals; i++) {
		o = &r->goals[i];
		yajl_gen_map_open(g);
		json_str(g, "class", o->class);
		json_str(g, "goal", o->goal);
		json_int(g, "notices", (long long)o->notices);
		json_int(g, "tracked", (long long)o->tracked);
		json_int(g, "acked", (long long)o->acked);
		json_share(g, "ack_rate", o->acked, o->tracked);
		json_int(g, "in_time", (long long)o->in_time);
		json_int(g, "expired", (long long)o->expired);
		json_int(g, "waiting", (long long)o->waiting);
		json_dist(g, "response_ms", &o->response);
		json_int(g, "escalated", (long long)o->escalated);
		json_key(g, "escalations");
		yajl_gen_array_open(g);
		for (l = 0; l < o->nlevels; l++) {
			yajl_gen_map_open(g);
			json_int(g, "level", (long long)l + 1);
			json_int(g, "fired", (long long)o->levels[l]);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void
json_scores(yajl_gen g, const char *key, const struct report_score *s,
    size_t n)
{
	size_t i, k;

	json_key(g, key);
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		json_str(g, "name", s[i].name);
		json_int(g, "notices", (long long)s[i].notices);
		json_int(g, "scored", (long long)s[i].scored);
		if (s[i].scored > 0)
			json_num(g, "mean", s[i].mean, "%.2f");
		else
			json_null(g, "mean");
		json_key(g, "scores");
		yajl_gen_array_open(g);
		for (k = 0; k < 5; k++)
			yajl_gen_integer(g, (long long)s[i].counts[k]);
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void
json_volumes(yajl_gen g, const char *key, const struct report_volume *v,
    size_t n)
{
	size_t i;
	int c;

	json_key(g, key);
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		json_str(g, "name", v[i].name);
		json_int(g, "notices", (long long)v[i].notices);
		for (c = 0; c < CLASS_COUNT; c++)
			json_int(g, notice_class_name(c),
			    (long long)v[i].by_class[c]);
		if (v[i].capped < 0)
			json_null(g, "capped");
		else
			json_int(g, "capped", v[i].capped);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void
json_days(yajl_gen g, const struct report *r)
{
	size_t i;
	int c;

	json_key(g, "days");
	yajl_gen_array_open(g);
	for (i = 0; i < r->ndays; i++) {
		yajl_gen_map_open(g);
		json_str(g, "date", r->days[i].date);
		for (c = 0; c < CLASS_COUNT; c++)
			json_int(g, notice_class_name(c),
			    (long long)r->days[i].by_class[c]);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}
