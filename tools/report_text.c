/*
 * report_text.c: sbctl report as plain text, tables for a terminal or a
 * mail; every figure of the JSON form, formatted for people.
 */
#include <stdio.h>
#include <string.h>

#include "notice.h"
#include "report.h"

static void	text_header(FILE *, const struct report *);
static void	text_channels(FILE *, const struct report *);
static void	text_pilots(FILE *, const struct report *);
static void	text_side(FILE *, const char *, const struct report_tally *);
static void	text_goals(FILE *, const struct report *);
static void	text_scores(FILE *, const char *, const struct report_score *,
		    size_t);
static void	text_volumes(FILE *, const char *,
		    const struct report_volume *, size_t);
static void	text_notes(FILE *, const struct report *);
static void	text_pcts(const struct report_dist *, char [REPORT_NPCT][16]);
static int	text_wider(int, const char *);

int
report_write_text(FILE *f, const struct report *r)
{
	text_header(f, r);
	text_channels(f, r);
	text_pilots(f, r);
	text_goals(f, r);
	text_scores(f, "channel", r->score_channels, r->nscore_channels);
	text_scores(f, "audience", r->score_audiences, r->nscore_audiences);
	text_volumes(f, "source", r->sources, r->nsources);
	text_volumes(f, "audience", r->audiences, r->naudiences);
	text_notes(f, r);
	return (ferror(f) ? -1 : 0);
}

static void
text_header(FILE *f, const struct report *r)
{
	char since[32], until[32], made[32];
	int c;

	report_format_time(r->since_ms, since, sizeof(since));
	report_format_time(r->until_ms, until, sizeof(until));
	report_format_time(r->made_ms, made, sizeof(made));
	fprintf(f, "switchboard report\n");
	fprintf(f, "  period   %s to %s (%s), %zu day%s\n", since, until,
	    r->timezone, r->ndays, r->ndays == 1 ? "" : "s");
	fprintf(f, "  spool    %s (schema version %d), read %s\n",
	    r->spool_path, r->schema, made);
	fprintf(f, "  config   %s\n", r->config_path);
	fprintf(f, "  notices  %llu:", (unsigned long long)r->notices);
	for (c = 0; c < CLASS_COUNT; c++)
		fprintf(f, "%s %s %llu", c > 0 ? "," : "", notice_class_name(c),
		    (unsigned long long)r->by_class[c]);
	fprintf(f, "\n");
}

/* A column's width once s is in it. */
static int
text_wider(int w, const char *s)
{
	size_t len = strlen(s);

	return ((size_t)w < len ? (int)len : w);
}

static void
text_pcts(const struct report_dist *d, char out[REPORT_NPCT][16])
{
	int i;

	for (i = 0; i < REPORT_NPCT; i++) {
		if (d->n > 0)
			report_format_ms(d->pct[i], out[i], sizeof(out[i]));
		else
			snprintf(out[i], sizeof(out[i]), "-");
	}
}

static void
text_channels(FILE *f, const struct report *r)
{
	const struct report_channel *c;
	char p[REPORT_NPCT][16], share[16], within[48], brk[32], cost[32];
	size_t i;
	int w = 7;

	for (i = 0; i < r->nchannels; i++)
		w = text_wider(w, r->channels[i].name);
	fprintf(f, "\nChannels (delivery time: from the decision to "
	    "deliver to success)\n");
	fprintf(f, "  %-*s %-8s %6s %6s %6s %6s %6s %6s %6s %7s %7s %7s "
	    "%-18s %-9s %s\n", w, "channel", "mode", "total", "deliv",
	    "failed", "retry", "dead", "exp", "pend", "p50", "p95", "p99",
	    "within deadline", "breaker", "cost");
	for (i = 0; i < r->nchannels; i++) {
		c = &r->channels[i];
		text_pcts(&c->t.time, p);
		report_format_share(c->t.on_time, c->t.timed, share,
		    sizeof(share));
		snprintf(within, sizeof(within), "%llu/%llu %s",
		    (unsigned long long)c->t.on_time,
		    (unsigned long long)c->t.timed, share);
		if (c->breaker_open_ms < 0)
			snprintf(brk, sizeof(brk), "n/a");
		else
			report_format_ms(c->breaker_open_ms, brk, sizeof(brk));
		if (c->has_cost)
			snprintf(cost, sizeof(cost), "%.2f", c->cost);
		else
			snprintf(cost, sizeof(cost), "n/a");
		fprintf(f, "  %-*s %-8s %6llu %6llu %6llu %6llu %6llu %6llu "
		    "%6llu %7s %7s %7s %-18s %-9s %s\n", w, c->name, c->mode,
		    (unsigned long long)c->t.deliveries,
		    (unsigned long long)c->t.delivered,
		    (unsigned long long)c->t.failed,
		    (unsigned long long)c->t.retried,
		    (unsigned long long)c->t.dead,
		    (unsigned long long)c->t.expired,
		    (unsigned long long)c->t.pending, p[0], p[1], p[2], within,
		    brk, cost);
	}
}

static void
text_side(FILE *f, const char *label, const struct report_tally *t)
{
	char p[REPORT_NPCT][16], share[16];

	text_pcts(&t->time, p);
	report_format_share(t->in_time, t->finished, share, sizeof(share));
	fprintf(f, "    %-7s %10llu %9llu %9llu %7llu %7s %7s %7s %7s\n",
	    label, (unsigned long long)t->deliveries,
	    (unsigned long long)t->finished, (unsigned long long)t->delivered,
	    (unsigned long long)t->in_time, share, p[0], p[1], p[2]);
}

static void
text_pilots(FILE *f, const struct report *r)
{
	const struct report_pilot *p;
	size_t i, j;

	if (r->npilots == 0)
		return;
	fprintf(f, "\nPilot channels (beside the active channels of the same "
	    "routes)\n");
	for (i = 0; i < r->npilots; i++) {
		p = &r->pilots[i];
		fprintf(f, "  %s (pilot, %d%%) on route%s ", p->channel,
		    p->percent, p->nroutes == 1 ? "" : "s");
		for (j = 0; j < p->nroutes; j++)
			fprintf(f, "%s%s", j > 0 ? ", " : "", p->routes[j]);
		fprintf(f, "%s; active:", p->nroutes == 0 ? "(none)" : "");
		for (j = 0; j < p->nactive; j++)
			fprintf(f, "%s %s", j > 0 ? "," : "", p->active[j]);
		fprintf(f, "%s\n", p->nactive == 0 ? " (none)" : "");
		fprintf(f, "    %-7s %10s %9s %9s %7s %7s %7s %7s %7s\n", "",
		    "deliveries", "finished", "delivered", "in time", "share",
		    "p50", "p95", "p99");
		text_side(f, "pilot", &p->pilot);
		text_side(f, "active", &p->others);
		fprintf(f, "    verdict: %s\n", p->line);
	}
}

static void
text_goals(FILE *f, const struct report *r)
{
	const struct report_goal *g;
	char p[REPORT_NPCT][16], rate[16];
	size_t i, l;

	fprintf(f, "\nResponses by class and goal (response time: from "
	    "acceptance to the ack)\n");
	fprintf(f, "  %-11s %-7s %7s %7s %6s %6s %7s %7s %7s %7s %7s "
	    "%9s %s\n", "class", "goal", "notices", "tracked", "acked",
	    "rate", "in time", "expired", "waiting", "p50", "p95",
	    "escalated", "by level");
	for (i = 0; i < r->ngoals; i++) {
		g = &r->goals[i];
		text_pcts(&g->response, p);
		report_format_share(g->acked, g->tracked, rate, sizeof(rate));
		fprintf(f, "  %-11s %-7s %7llu %7llu %6llu %6s %7llu %7llu "
		    "%7llu %7s %7s %9llu ", g->class, g->goal,
		    (unsigned long long)g->notices,
		    (unsigned long long)g->tracked,
		    (unsigned long long)g->acked, rate,
		    (unsigned long long)g->in_time,
		    (unsigned long long)g->expired,
		    (unsigned long long)g->waiting, p[0], p[1],
		    (unsigned long long)g->escalated);
		for (l = 0; l < g->nlevels; l++)
			fprintf(f, "%s%zu: %llu", l > 0 ? ", " : "", l + 1,
			    (unsigned long long)g->levels[l]);
		fprintf(f, "%s\n", g->nlevels == 0 ? "-" : "");
	}
}

static void
text_scores(FILE *f, const char *what, const struct report_score *s,
    size_t n)
{
	char mean[16];
	size_t i;
	int w = (int)strlen(what), k;

	for (i = 0; i < n; i++)
		w = text_wider(w, s[i].name);
	fprintf(f, "\nSatisfaction by %s (scores 1-5 of collect notices)\n",
	    what);
	if (n == 0) {
		fprintf(f, "  no collect notices in the period\n");
		return;
	}
	fprintf(f, "  %-*s %7s %6s %5s %4s %4s %4s %4s %4s\n", w, what,
	    "notices", "scored", "mean", "1", "2", "3", "4", "5");
	for (i = 0; i < n; i++) {
		if (s[i].scored > 0)
			snprintf(mean, sizeof(mean), "%.2f", s[i].mean);
		else
			snprintf(mean, sizeof(mean), "-");
		fprintf(f, "  %-*s %7llu %6llu %5s", w, s[i].name,
		    (unsigned long long)s[i].notices,
		    (unsigned long long)s[i].scored, mean);
		for (k = 0; k < 5; k++)
			fprintf(f, " %4llu",
			    (unsigned long long)s[i].counts[k]);
		fprintf(f, "\n");
	}
}

static void
text_volumes(FILE *f, const char *what, const struct report_volume *v,
    size_t n)
{
	char capped[24];
	size_t i;
	int w = (int)strlen(what), c;

	for (i = 0; i < n; i++)
		w = text_wider(w, v[i].name);
	fprintf(f, "\nVolume by %s\n", what);
	if (n == 0) {
		fprintf(f, "  no notices in the period\n");
		return;
	}
	fprintf(f, "  %-*s %7s", w, what, "notices");
	for (c = 0; c < CLASS_COUNT; c++)
		fprintf(f, " %11s", notice_class_name(c));
	fprintf(f, " %6s\n", "capped");
	for (i = 0; i < n; i++) {
		if (v[i].capped < 0)
			snprintf(capped, sizeof(capped), "n/a");
		else
			snprintf(capped, sizeof(capped), "%lld",
			    (long long)v[i].capped);
		fprintf(f, "  %-*s %7llu", w, v[i].name,
		    (unsigned long long)v[i].notices);
		for (c = 0; c < CLASS_COUNT; c++)
			fprintf(f, " %11llu",
			    (unsigned long long)v[i].by_class[c]);
		fprintf(f, " %6s\n", capped);
	}
}

/* What the spool could not tell, so that an n/a is never a mystery. */
static void
text_notes(FILE *f, const struct report *r)
{
	const char *notes[8], *p, *sp;
	size_t i, n = report_notes(r, notes, 8), col, len;

	fprintf(f, "\nNotes\n");
	for (i = 0; i < n; i++) {
		/* Wrapped at 76 columns, hanging under the dash. */
		fprintf(f, "  -");
		for (p = notes[i], col = 3; *p != '\0'; p = sp) {
			len = (sp = strchr(p, ' ')) != NULL ? (size_t)(sp - p) :
			    strlen(p);
			if (sp == NULL)
				sp = p + len;
			else
				sp++;
			if (col + 1 + len > 76 && col > 4) {
				fprintf(f, "\n   ");
				col = 3;
			}
			fprintf(f, " %.*s", (int)len, p);
			col += 1 + len;
		}
		fprintf(f, "\n");
	}
}
