/*
 * report_html.c: sbctl report --format html, one self-contained page: the
 * tables of the text form and inline SVG charts (daily volume by class,
 * delivery time per channel, response time, escalations). No script, no
 * font, nothing fetched: it reads the same mailed, archived or printed.
 * Every string from the spool or the config is escaped.
 *
 * Table cells carry data-k (the figure's JSON name) and rows data-name, so
 * that a test, or a person's script, can find a figure in the page.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notice.h"
#include "report.h"

/* Class colours: readable in print and to most colour-blind eyes. */
static const char *const html_class_colors[CLASS_COUNT] = {
	"#c0392b", "#2e86c1", "#e08e0b"
};

/* A chart: categories along x, one stacked bar of series each. */
struct html_chart {
	const char		*id;
	const char		*title;
	const char		*caption;
	int			 width;
	int			 height;
	size_t			 ncats;
	const char *const	*cats;		/* labels under the bars */
	const char *const	*tips;		/* hover titles, or NULL */
	size_t			 nseries;
	const char *const	*series;
	const char *const	*colors;
	const uint64_t		*values;	/* ncats x nseries */
};

static void	html_esc(FILE *, const char *);
static void	html_head(FILE *, const struct report *);
static void	html_style(FILE *);
static void	html_cards(FILE *, const struct report *);
static void	html_card(FILE *, const char *, const char *, const char *);
static void	html_days(FILE *, const struct report *);
static void	html_channels(FILE *, const struct report *);
static void	html_delivery_charts(FILE *, const struct report *);
static void	html_pilots(FILE *, const struct report *);
static void	html_side(FILE *, const char *, const struct report_tally *);
static void	html_goals(FILE *, const struct report *);
static void	html_response_chart(FILE *, const struct report *);
static void	html_escalation_chart(FILE *, const struct report *);
static void	html_scores(FILE *, const char *, const char *,
		    const struct report_score *, size_t);
static void	html_volumes(FILE *, const char *, const char *,
		    const struct report_volume *, size_t);
static void	html_notes(FILE *, const struct report *);
static void	html_num(FILE *, const char *, unsigned long long);
static void	html_cell(FILE *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	html_ms(FILE *, const char *, const struct report_dist *, int);
static void	html_chart(FILE *, const struct html_chart *);
static void	html_legend(FILE *, const struct html_chart *);
static uint64_t	html_nice(uint64_t);
static void	html_count(uint64_t, char *, size_t);

int
report_write_html(FILE *f, const struct report *r)
{
	html_head(f, r);
	html_cards(f, r);
	html_days(f, r);
	html_channels(f, r);
	html_pilots(f, r);
	html_goals(f, r);
	fprintf(f, "<section id=\"satisfaction\"><h2>Satisfaction</h2>\n"
	    "<p class=\"meta\">Scores 1&ndash;5 given in the acks of collect "
	    "notices.</p>\n");
	html_scores(f, "score-channels", "channel", r->score_channels,
	    r->nscore_channels);
	html_scores(f, "score-audiences", "audience", r->score_audiences,
	    r->nscore_audiences);
	fprintf(f, "</section>\n<section id=\"volume\"><h2>Volume</h2>\n");
	html_volumes(f, "sources", "source", r->sources, r->nsources);
	html_volumes(f, "audiences", "audience", r->audiences,
	    r->naudiences);
	fprintf(f, "</section>\n");
	html_notes(f, r);
	fprintf(f, "</body>\n</html>\n");
	return (ferror(f) ? -1 : 0);
}

static void
html_esc(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static void
html_head(FILE *f, const struct report *r)
{
	char since[32], until[32], made[32];

	report_format_time(r->since_ms, since, sizeof(since));
	report_format_time(r->until_ms, until, sizeof(until));
	report_format_time(r->made_ms, made, sizeof(made));
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\n"
	    "<title>switchboard report %s to %s</title>\n", since, until);
	html_style(f);
	fprintf(f, "</head>\n<body>\n<header><h1>switchboard report</h1>\n"
	    "<p class=\"meta\" id=\"period\">%s to %s (", since, until);
	html_esc(f, r->timezone);
	fprintf(f, "), %zu day%s &middot; spool <code>", r->ndays,
	    r->ndays == 1 ? "" : "s");
	html_esc(f, r->spool_path);
	fprintf(f, "</code> (schema version %d) read %s &middot; config "
	    "<code>", r->schema, made);
	html_esc(f, r->config_path);
	fprintf(f, "</code></p></header>\n");
}

static void
html_style(FILE *f)
{
	fputs("<style>\n"
	    "body{font:14px/1.45 \"DejaVu Sans\",system-ui,sans-serif;"
	    "color:#1d2330;margin:24px auto;max-width:1240px;padding:0 16px}\n"
	    "h1{font-size:22px;margin:0 0 4px}\n"
	    "h2{font-size:17px;margin:28px 0 8px;padding-bottom:4px;"
	    "border-bottom:1px solid #cfd5de}\n"
	    "h3{font-size:14px;margin:16px 0 6px}\n"
	    ".meta{color:#5a6272;margin:4px 0}\n"
	    "code{font-size:13px}\n"
	    ".wide{overflow-x:auto}\n"
	    "table{border-collapse:collapse;font-variant-numeric:"
	    "tabular-nums;margin:4px 0 8px}\n"
	    "th,td{padding:3px 7px;border-bottom:1px solid #e6e9ee;"
	    "text-align:right;white-space:nowrap}\n"
	    "th{background:#f3f5f8;font-weight:600}\n"
	    "th:first-child,td:first-child{text-align:left}\n"
	    "td.na{color:#8a93a3}\n"
	    "td[data-k=mode],td[data-k=goal]{text-align:left}\n"
	    "svg{max-width:100%;height:auto}\n"
	    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}\n"
	    ".card{border:1px solid #cfd5de;border-radius:6px;"
	    "padding:8px 14px;min-width:150px}\n"
	    ".card b{display:block;font-size:22px}\n"
	    ".card span{color:#5a6272;font-size:12px}\n"
	    ".charts{display:flex;flex-wrap:wrap;gap:18px}\n"
	    "figure{margin:0}\n"
	    "figcaption{font-size:12px;color:#5a6272}\n"
	    "svg text{font:11px \"DejaVu Sans\",sans-serif;fill:#1d2330}\n"
	    "svg .axis{stroke:#9aa3b2}\n"
	    "svg .grid{stroke:#e6e9ee}\n"
	    ".legend{font-size:12px;margin:2px 0 6px}\n"
	    ".legend i{display:inline-block;width:10px;height:10px;"
	    "margin:0 4px 0 10px;vertical-align:-1px}\n"
	    ".verdict{font-weight:600}\n"
	    ".verdict.better{color:#1a7f37}\n"
	    ".verdict.worse{color:#b42318}\n"
	    "@media print{body{margin:0;max-width:none;font-size:11px}"
	    "section,figure,table{break-inside:avoid}"
	    "h2{break-after:avoid}.wide{overflow:visible}}\n"
	    "</style>\n", f);
}

/* A number in a cell named key. */
static void
html_num(FILE *f, const char *key, unsigned long long n)
{
	fprintf(f, "<td data-k=\"%s\">%llu</td>", key, n);
}

/* A cell named key, its text escaped. */
static void
html_cell(FILE *f, const char *key, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(f, "<td data-k=\"%s\"%s>", key, strcmp(buf, "n/a") == 0 ||
	    strcmp(buf, "-") == 0 ? " class=\"na\"" : "");
	html_esc(f, buf);
	fputs("</td>", f);
}

/* The p50, p95 (and p99) cells of a distribution. */
static void
html_ms(FILE *f, const char *prefix, const struct report_dist *d, int n)
{
	static const char *const names[REPORT_NPCT] = { "p50", "p95", "p99" };
	char key[32], v[16];
	int i;

	for (i = 0; i < n && i < REPORT_NPCT; i++) {
		snprintf(key, sizeof(key), "%s%s", prefix, names[i]);
		if (d->n > 0) {
			report_format_ms(d->pct[i], v, sizeof(v));
			fprintf(f, "<td data-k=\"%s\" data-ms=\"%lld\">%s</td>",
			    key, (long long)d->pct[i], v);
		} else
			html_cell(f, key, "-");
	}
}

static void
html_card(FILE *f, const char *id, const char *value, const char *label)
{
	fprintf(f, "<div class=\"card\" id=\"%s\"><b>", id);
	html_esc(f, value);
	fprintf(f, "</b><span>%s</span></div>\n", label);
}

/* The figures a reader looks for first. */
static void
html_cards(FILE *f, const struct report *r)
{
	uint64_t delivered = 0, finished = 0, tracked = 0, acked = 0;
	char buf[64];
	size_t i;

	for (i = 0; i < r->nchannels; i++) {
		delivered += r->channels[i].t.delivered;
		finished += r->channels[i].t.finished;
	}
	for (i = 0; i < r->ngoals; i++) {
		tracked += r->goals[i].tracked;
		acked += r->goals[i].acked;
	}
	fprintf(f, "<div class=\"cards\">\n");
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->notices);
	html_card(f, "card-notices", buf, "notices accepted");
	report_format_share(delivered, finished, buf, sizeof(buf));
	html_card(f, "card-delivered", buf, "of finished deliveries "
	    "delivered");
	report_format_share(acked, tracked, buf, sizeof(buf));
	html_card(f, "card-acked", buf, "of notices waiting for an ack "
	    "acked");
	if (r->response.n > 0)
		report_format_ms(r->response.pct[REPORT_P50], buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "-");
	html_card(f, "card-response", buf, "median response time");
	fprintf(f, "</div>\n");
}

/* Daily volume by class, one stacked bar a day. */
static void
html_days(FILE *f, const struct report *r)
{
	struct html_chart ch = { "chart-days", "Notices a day by class",
	    NULL, 1080, 260, 0, NULL, NULL, CLASS_COUNT, NULL,
	    html_class_colors, NULL };
	const char *series[CLASS_COUNT], **cats = NULL, **tips = NULL;
	uint64_t *v = NULL;
	size_t i;
	int c;

	fprintf(f, "<section id=\"days\"><h2>Daily volume</h2>\n");
	for (c = 0; c < CLASS_COUNT; c++)
		series[c] = notice_class_name(c);
	cats = calloc(r->ndays + 1, sizeof(*cats));
	tips = calloc(r->ndays + 1, sizeof(*tips));
	v = calloc((r->ndays + 1) * CLASS_COUNT, sizeof(*v));
	if (cats != NULL && tips != NULL && v != NULL) {
		for (i = 0; i < r->ndays; i++) {
			cats[i] = r->days[i].date + 5;	/* MM-DD */
			tips[i] = r->days[i].date;
			for (c = 0; c < CLASS_COUNT; c++)
				v[i * CLASS_COUNT + c] =
				    r->days[i].by_class[c];
		}
		ch.ncats = r->ndays;
		ch.cats = cats;
		ch.tips = tips;
		ch.series = series;
		ch.values = v;
		html_chart(f, &ch);
	}
	free(cats);
	free(tips);
	free(v);
	fprintf(f, "</section>\n");
}

static void
html_channels(FILE *f, const struct report *r)
{
	const struct report_channel *c;
	char share[16], v[32];
	size_t i;

	fprintf(f, "<section id=\"channels\"><h2>Channels</h2>\n<p class=\""
	    "meta\">Delivery time: from the decision to deliver to success. "
	    "Within deadline: delivered within the deliver_within of its "
	    "class and route, of finished deliveries.</p>\n<div class=\"wide"
	    "\"><table id=\"channel-table\">\n<tr><th>channel</th><th>mode"
	    "</th><th>deliveries</th><th>delivered</th><th>failed</th>"
	    "<th>retried</th><th>dead</th><th>expired</th><th>pending</th>"
	    "<th>p50</th><th>p95</th><th>p99</th><th>within deadline</th>"
	    "<th>breaker open</th><th>cost</th></tr>\n");
	for (i = 0; i < r->nchannels; i++) {
		c = &r->channels[i];
		fprintf(f, "<tr data-name=\"");
		html_esc(f, c->name);
		fprintf(f, "\"><td>");
		html_esc(f, c->name);
		fprintf(f, "</td>");
		html_cell(f, "mode", "%s", c->mode);
		html_num(f, "deliveries", c->t.deliveries);
		html_num(f, "delivered", c->t.delivered);
		html_num(f, "failed", c->t.failed);
		html_num(f, "retried", c->t.retried);
		html_num(f, "dead", c->t.dead);
		html_num(f, "expired", c->t.expired);
		html_num(f, "pending", c->t.pending);
		html_ms(f, "", &c->t.time, REPORT_NPCT);
		report_format_share(c->t.on_time, c->t.timed, share,
		    sizeof(share));
		html_cell(f, "within_deadline", "%llu/%llu %s",
		    (unsigned long long)c->t.on_time,
		    (unsigned long long)c->t.timed, share);
		if (c->breaker_open_ms < 0)
			html_cell(f, "breaker_open", "n/a");
		else {
			report_format_ms(c->breaker_open_ms, v, sizeof(v));
			html_cell(f, "breaker_open", "%s", v);
		}
		if (c->has_cost)
			html_cell(f, "cost", "%.2f", c->cost);
		else
			html_cell(f, "cost", "n/a");
		fprintf(f, "</tr>\n");
	}
	fprintf(f, "</table></div>\n");
	html_delivery_charts(f, r);
	fprintf(f, "</section>\n");
}

/* Small multiples: each channel's delivery times on the same buckets. */
static void
html_delivery_charts(FILE *f, const struct report *r)
{
	static const char *const series[] = { "delivered" };
	static const char *const colors[] = { "#2e86c1" };
	const struct report_channel *c;
	struct html_chart ch;
	char id[64], caption[160], p[REPORT_NPCT][16];
	size_t i, k;

	fprintf(f, "<h3>Delivery time per channel</h3>\n<div class=\""
	    "charts\">\n");
	for (i = 0; i < r->nchannels; i++) {
		c = &r->channels[i];
		if (c->t.time.n == 0)
			continue;
		for (k = 0; k < REPORT_NPCT; k++)
			report_format_ms(c->t.time.pct[k], p[k], sizeof(p[k]));
		snprintf(id, sizeof(id), "chart-delivery-%zu", i);
		snprintf(caption, sizeof(caption), "%llu delivered; p50 %s, "
		    "p95 %s, p99 %s", (unsigned long long)c->t.time.n, p[0],
		    p[1], p[2]);
		memset(&ch, 0, sizeof(ch));
		ch.id = id;
		ch.title = c->name;
		ch.caption = caption;
		ch.width = 530;
		ch.height = 190;
		ch.ncats = c->t.time.scale->nbounds + 1;
		ch.cats = c->t.time.scale->labels;
		ch.nseries = 1;
		ch.series = series;
		ch.colors = colors;
		ch.values = c->t.time.buckets;
		html_chart(f, &ch);
	}
	fprintf(f, "</div>\n");
}

static void
html_side(FILE *f, const char *label, const struct report_tally *t)
{
	char share[16];

	report_format_share(t->in_time, t->finished, share, sizeof(share));
	fprintf(f, "<tr data-name=\"%s\"><td>%s</td>", label, label);
	html_num(f, "deliveries", t->deliveries);
	html_num(f, "finished", t->finished);
	html_num(f, "delivered", t->delivered);
	html_num(f, "in_time", t->in_time);
	html_cell(f, "in_time_share", "%s", share);
	html_ms(f, "", &t->time, REPORT_NPCT);
	fprintf(f, "</tr>\n");
}

static void
html_pilots(FILE *f, const struct report *r)
{
	const struct report_pilot *p;
	size_t i, j;

	if (r->npilots == 0)
		return;
	fprintf(f, "<section id=\"pilots\"><h2>Pilot channels</h2>\n<p class="
	    "\"meta\">A pilot's shadow copies beside the active channels of "
	    "the same routes; better or worse by the share delivered in time, "
	    "when the difference is beyond chance (95%%).</p>\n");
	for (i = 0; i < r->npilots; i++) {
		p = &r->pilots[i];
		fprintf(f, "<div class=\"pilot\" data-name=\"");
		html_esc(f, p->channel);
		fprintf(f, "\"><h3>");
		html_esc(f, p->channel);
		fprintf(f, " (pilot, %d%%)</h3>\n<p class=\"meta\">routes: ",
		    p->percent);
		for (j = 0; j < p->nroutes; j++) {
			fputs(j > 0 ? ", " : "", f);
			html_esc(f, p->routes[j]);
		}
		fprintf(f, "%s &middot; active channels: ", p->nroutes == 0 ?
		    "none" : "");
		for (j = 0; j < p->nactive; j++) {
			fputs(j > 0 ? ", " : "", f);
			html_esc(f, p->active[j]);
		}
		fprintf(f, "%s</p>\n<table>\n<tr><th></th><th>deliveries</th>"
		    "<th>finished</th><th>delivered</th><th>in time</th>"
		    "<th>share</th><th>p50</th><th>p95</th><th>p99</th></tr>\n",
		    p->nactive == 0 ? "none" : "");
		html_side(f, "pilot", &p->pilot);
		html_side(f, "active", &p->others);
		fprintf(f, "</table>\n<p class=\"verdict %s\" data-k=\"verdict"
		    "\">", p->verdict == REPORT_BETTER ? "better" :
		    p->verdict == REPORT_WORSE ? "worse" : "unknown");
		html_esc(f, p->line);
		fprintf(f, "</p></div>\n");
	}
	fprintf(f, "</section>\n");
}

static void
html_goals(FILE *f, const struct report *r)
{
	const struct report_goal *g;
	char rate[16];
	size_t i, l;

	fprintf(f, "<section id=\"responses\"><h2>Responses by class and goal"
	    "</h2>\n<p class=\"meta\">Response time: from acceptance to the "
	    "ack. Rate: acked of the notices that waited for an ack.</p>\n"
	    "<div class=\"wide\"><table id=\"goal-table\">\n<tr><th>class"
	    "</th><th>goal</th><th>notices</th><th>tracked</th><th>acked</th>"
	    "<th>rate</th><th>in time</th><th>expired</th><th>waiting</th>"
	    "<th>p50</th><th>p95</th><th>escalated</th><th>by level</th>"
	    "</tr>\n");
	for (i = 0; i < r->ngoals; i++) {
		g = &r->goals[i];
		report_format_share(g->acked, g->tracked, rate, sizeof(rate));
		fprintf(f, "<tr data-name=\"");
		html_esc(f, g->class);
		fputc('/', f);
		html_esc(f, g->goal);
		fprintf(f, "\"><td>");
		html_esc(f, g->class);
		fprintf(f, "</td>");
		html_cell(f, "goal", "%s", g->goal);
		html_num(f, "notices", g->notices);
		html_num(f, "tracked", g->tracked);
		html_num(f, "acked", g->acked);
		html_cell(f, "ack_rate", "%s", rate);
		html_num(f, "in_time", g->in_time);
		html_num(f, "expired", g->expired);
		html_num(f, "waiting", g->waiting);
		html_ms(f, "", &g->response, 2);
		html_num(f, "escalated", g->escalated);
		fprintf(f, "<td data-k=\"escalations\">");
		for (l = 0; l < g->nlevels; l++)
			fprintf(f, "%s%zu: %llu", l > 0 ? ", " : "", l + 1,
			    (unsigned long long)g->levels[l]);
		fprintf(f, "%s</td></tr>\n", g->nlevels == 0 ? "-" : "");
	}
	fprintf(f, "</table></div>\n<div class=\"charts\">\n");
	html_response_chart(f, r);
	html_escalation_chart(f, r);
	fprintf(f, "</div>\n</section>\n");
}

/* Response times of every ack, stacked by class. */
static void
html_response_chart(FILE *f, const struct report *r)
{
	const struct report_scale *sc = &report_response_scale;
	uint64_t v[REPORT_BUCKETS_MAX * CLASS_COUNT];
	const char *series[CLASS_COUNT];
	struct html_chart ch;
	char caption[128], p[REPORT_NPCT][16];
	size_t i, b;
	int c, k;

	memset(v, 0, sizeof(v));
	for (c = 0; c < CLASS_COUNT; c++)
		series[c] = notice_class_name(c);
	for (i = 0; i < r->ngoals; i++) {
		if ((c = notice_class_parse(r->goals[i].class)) < 0)
			continue;
		for (b = 0; b <= sc->nbounds; b++)
			v[b * CLASS_COUNT + (size_t)c] +=
			    r->goals[i].response.buckets[b];
	}
	if (r->response.n > 0) {
		for (k = 0; k < REPORT_NPCT; k++)
			report_format_ms(r->response.pct[k], p[k],
			    sizeof(p[k]));
		snprintf(caption, sizeof(caption), "%zu acks; p50 %s, p95 %s, "
		    "p99 %s", r->response.n, p[0], p[1], p[2]);
	} else
		snprintf(caption, sizeof(caption), "no acks in the period");
	memset(&ch, 0, sizeof(ch));
	ch.id = "chart-response";
	ch.title = "Response time";
	ch.caption = caption;
	ch.width = 530;
	ch.height = 220;
	ch.ncats = sc->nbounds + 1;
	ch.cats = sc->labels;
	ch.nseries = CLASS_COUNT;
	ch.series = series;
	ch.colors = html_class_colors;
	ch.values = v;
	html_chart(f, &ch);
}

/* Escalations fired at each level, stacked by class. */
static void
html_escalation_chart(FILE *f, const struct report *r)
{
	size_t i, nl = report_max_level(r);
	const char *series[CLASS_COUNT];
	struct html_chart ch;
	char **labels;
	uint64_t *v, total = 0;
	char caption[96];
	int c;

	if (nl == 0)
		nl = 1;		/* an empty chart still says "none" */
	labels = calloc(nl, sizeof(*labels));
	v = calloc(nl * CLASS_COUNT, sizeof(*v));
	for (i = 0; labels != NULL && v != NULL && i < nl; i++) {
		if (asprintf(&labels[i], "level %zu", i + 1) == -1)
			labels[i] = NULL;
		for (c = 0; c < CLASS_COUNT; c++) {
			v[i * CLASS_COUNT + (size_t)c] = report_class_level(r,
			    c, i + 1);
			total += v[i * CLASS_COUNT + (size_t)c];
		}
	}
	for (c = 0; c < CLASS_COUNT; c++)
		series[c] = notice_class_name(c);
	snprintf(caption, sizeof(caption), "%llu escalation%s fired",
	    (unsigned long long)total, total == 1 ? "" : "s");
	memset(&ch, 0, sizeof(ch));
	ch.id = "chart-escalations";
	ch.title = "Escalations by level";
	ch.caption = caption;
	ch.width = 530;
	ch.height = 220;
	ch.ncats = labels != NULL && v != NULL ? nl : 0;
	ch.cats = (const char *const *)labels;
	ch.nseries = CLASS_COUNT;
	ch.series = series;
	ch.colors = html_class_colors;
	ch.values = v;
	for (i = 0; labels != NULL && i < nl; i++)
		if (labels[i] == NULL)
			ch.ncats = 0;
	html_chart(f, &ch);
	for (i = 0; labels != NULL && i < nl; i++)
		free(labels[i]);
	free(labels);
	free(v);
}

static void
html_scores(FILE *f, const char *id, const char *what,
    const struct report_score *s, size_t n)
{
	size_t i, k;

	fprintf(f, "<h3>By %s</h3>\n", what);
	if (n == 0) {
		fprintf(f, "<p class=\"meta\">No collect notices in the "
		    "period.</p>\n");
		return;
	}
	fprintf(f, "<table id=\"%s\">\n<tr><th>%s</th><th>notices</th>"
	    "<th>scored</th><th>mean</th><th>1</th><th>2</th><th>3</th>"
	    "<th>4</th><th>5</th></tr>\n", id, what);
	for (i = 0; i < n; i++) {
		fprintf(f, "<tr data-name=\"");
		html_esc(f, s[i].name);
		fprintf(f, "\"><td>");
		html_esc(f, s[i].name);
		fprintf(f, "</td>");
		html_num(f, "notices", s[i].notices);
		html_num(f, "scored", s[i].scored);
		if (s[i].scored > 0)
			html_cell(f, "mean", "%.2f", s[i].mean);
		else
			html_cell(f, "mean", "-");
		for (k = 0; k < 5; k++) {
			char key[16];

			snprintf(key, sizeof(key), "score%zu", k + 1);
			html_num(f, key, s[i].counts[k]);
		}
		fprintf(f, "</tr>\n");
	}
	fprintf(f, "</table>\n");
}

static void
html_volumes(FILE *f, const char *id, const char *what,
    const struct report_volume *v, size_t n)
{
	size_t i;
	int c;

	fprintf(f, "<h3>By %s</h3>\n", what);
	if (n == 0) {
		fprintf(f, "<p class=\"meta\">No notices in the period.</p>\n");
		return;
	}
	fprintf(f, "<table id=\"%s\">\n<tr><th>%s</th><th>notices</th>", id,
	    what);
	for (c = 0; c < CLASS_COUNT; c++)
		fprintf(f, "<th>%s</th>", notice_class_name(c));
	fprintf(f, "<th>capped</th></tr>\n");
	for (i = 0; i < n; i++) {
		fprintf(f, "<tr data-name=\"");
		html_esc(f, v[i].name);
		fprintf(f, "\"><td>");
		html_esc(f, v[i].name);
		fprintf(f, "</td>");
		html_num(f, "notices", v[i].notices);
		for (c = 0; c < CLASS_COUNT; c++)
			html_num(f, notice_class_name(c), v[i].by_class[c]);
		if (v[i].capped < 0)
			html_cell(f, "capped", "n/a");
		else
			html_num(f, "capped", (unsigned long long)v[i].capped);
		fprintf(f, "</tr>\n");
	}
	fprintf(f, "</table>\n");
}

static void
html_notes(FILE *f, const struct report *r)
{
	const char *notes[8];
	size_t i, n = report_notes(r, notes, 8);

	fprintf(f, "<section id=\"notes\"><h2>Notes</h2>\n<ul>\n");
	for (i = 0; i < n; i++) {
		fprintf(f, "<li>");
		html_esc(f, notes[i]);
		fprintf(f, "</li>\n");
	}
	fprintf(f, "</ul>\n</section>\n");
}

/* The smallest 1, 2 or 5 times a power of ten at or above n. */
static uint64_t
html_nice(uint64_t n)
{
	uint64_t p = 1;

	for (;;) {
		if (n <= p)
			return (p);
		if (n <= 2 * p)
			return (2 * p);
		if (n <= 5 * p)
			return (5 * p);
		p *= 10;
	}
}

/* An axis label: 2500, 10k, 2.5M. */
static void
html_count(uint64_t n, char *buf, size_t len)
{
	if (n < 10000)
		snprintf(buf, len, "%llu", (unsigned long long)n);
	else if (n < 10000000)
		snprintf(buf, len, "%gk", (double)n / 1e3);
	else
		snprintf(buf, len, "%gM", (double)n / 1e6);
}

static void
html_legend(FILE *f, const struct html_chart *ch)
{
	size_t s;

	if (ch->nseries < 2)
		return;
	fprintf(f, "<div class=\"legend\">");
	for (s = 0; s < ch->nseries; s++) {
		fprintf(f, "<i style=\"background:%s\"></i>", ch->colors[s]);
		html_esc(f, ch->series[s]);
	}
	fprintf(f, "</div>\n");
}

/*
 * A stacked bar chart in SVG: a y axis with gridlines at quarters of a
 * round maximum, a bar per category, each total written above its bar
 * so that the chart reads without hovering, and printed.
 */
static void
html_chart(FILE *f, const struct html_chart *ch)
{
	const int left = 44, right = 8, top = 18, bottom = 34;
	int pw = ch->width - left - right, ph = ch->height - top - bottom;
	uint64_t total, max = 0, y0, most;
	double band, bw, x, y, h;
	size_t i, s, every;
	char tick[24], label[24];
	int g;

	for (i = 0; i < ch->ncats; i++) {
		for (total = 0, s = 0; s < ch->nseries; s++)
			total += ch->values[i * ch->nseries + s];
		if (total > max)
			max = total;
	}
	most = max;
	/* Four gridlines a round step apart. */
	max = 4 * html_nice((max + 3) / 4 > 0 ? (max + 3) / 4 : 1);
	fprintf(f, "<figure id=\"%s\"><h3>", ch->id);
	html_esc(f, ch->title);
	fprintf(f, "</h3>\n");
	html_legend(f, ch);
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", ch->width,
	    ch->height, ch->width, ch->height);
	for (g = 0; g <= 4; g++) {
		y = top + ph - (double)ph * g / 4;
		html_count(max * (uint64_t)g / 4, tick, sizeof(tick));
		fprintf(f, "<line class=\"%s\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" "
		    "y2=\"%.1f\"/><text x=\"%d\" y=\"%.1f\" "
		    "text-anchor=\"end\">"
		    "%s</text>\n", g == 0 ? "axis" : "grid", left,
		    left + pw, y, y, left - 6, y + 4, tick);
	}
	band = ch->ncats > 0 ? (double)pw / (double)ch->ncats : pw;
	bw = band * 0.72;
	/* Labels no closer than ~38 pixels. */
	every = band >= 38 ? 1 : (size_t)(38 / band) + 1;
	for (i = 0; i < ch->ncats; i++) {
		x = left + band * (double)i + (band - bw) / 2;
		y0 = 0;
		for (total = 0, s = 0; s < ch->nseries; s++)
			total += ch->values[i * ch->nseries + s];
		for (s = 0; s < ch->nseries; s++) {
			uint64_t n = ch->values[i * ch->nseries + s];

			if (n == 0)
				continue;
			h = (double)ph * (double)n / (double)max;
			y = top + ph - (double)ph * (double)y0 / (double)max -
			    h;
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\" fill=\"%s\"><title>", x, y, bw, h,
			    ch->colors[s]);
			html_esc(f, ch->tips != NULL ? ch->tips[i] :
			    ch->cats[i]);
			fputs(" ", f);
			html_esc(f, ch->series[s]);
			fprintf(f, ": %llu</title></rect>\n",
			    (unsigned long long)n);
			y0 += n;
		}
		/* A total that would not fit over its bar is in the tooltip. */
		snprintf(label, sizeof(label), "%llu",
		    (unsigned long long)total);
		if (total > 0 && band >= 7.0 * (double)strlen(label) + 4)
			fprintf(f, "<text class=\"total\" x=\"%.1f\" "
			    "y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
			    x + bw / 2, top + ph - (double)ph * (double)total /
			    (double)max - 3, label);
		if (i % every == 0) {
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\""
			    "middle\">", x + bw / 2, top + ph + 15);
			html_esc(f, ch->cats[i]);
			fprintf(f, "</text>\n");
		}
	}
	if (most == 0)
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">"
		    "none</text>\n", left + pw / 2, top + ph / 2);
	fprintf(f, "</svg>\n");
	if (ch->caption != NULL) {
		fprintf(f, "<figcaption>");
		html_esc(f, ch->caption);
		fprintf(f, "</figcaption>\n");
	}
	fprintf(f, "</figure>\n");
}
