/*
 * metrics.c: the Prometheus text exposition (format 0.0.4) of GET
 * /metrics. Names, labels and buckets are documented in docs/metrics.md;
 * a name changed here is a dashboard broken somewhere, so change both.
 *
 * Histograms count into fixed buckets (ms bounds, printed as seconds) and
 * are made cumulative only when written. Per-channel records are found by
 * name in a tree: a channel a reload replaced keeps its counts, and one it
 * removed still shows what it did.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/tree.h>

/* libbsd's tree.h wants __unused, which its cdefs.h leaves undefined. */
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

#include "accept.h"
#include "adapter.h"
#include "batch.h"
#include "deadline.h"
#include "dispatch.h"
#include "escalate.h"
#include "log.h"
#include "breaker.h"
#include "metrics.h"
#include "notice.h"
#include "reload.h"
#include "sb_protocol.h"
#include "spool.h"

#define METRICS_BUCKETS_MAX	16

struct histogram {
	const int64_t	*bounds;	/* upper bounds in ms, ascending */
	size_t		 nbounds;
	uint64_t	 counts[METRICS_BUCKETS_MAX + 1];	/* last: +Inf */
	uint64_t	 count;
	int64_t		 sum_ms;
};

struct metrics_channel {
	char				*name;
	uint64_t			 outcomes[OUTCOME_COUNT];
	struct histogram		 duration;
	RB_ENTRY(metrics_channel)	 entry;
};
RB_HEAD(metrics_channels, metrics_channel);

/* One attempt of a channel: from a local file write to a slow webhook. */
static const int64_t delivery_bounds[] = { 5, 10, 25, 50, 100, 250, 500,
	1000, 2500, 5000, 10000, 30000, 60000 };
/* From a notice to its ack: people, so seconds to a day. */
static const int64_t response_bounds[] = { 1000, 10000, 30000, 60000,
	300000, 900000, 1800000, 3600000, 7200000, 14400000, 28800000,
	86400000 };
#define NBOUNDS(a)	(sizeof(a) / sizeof((a)[0]))

static const char *const outcome_names[OUTCOME_COUNT] = { "delivered",
	"retryable", "permanent" };

static struct {
	int			 on;
	int64_t			 started_ms;	/* wall clock */
	struct metrics_channels	 channels;
	struct histogram	 response;
} mx = { .channels = RB_INITIALIZER(&mx.channels) };

static int	metrics_channel_cmp(struct metrics_channel *,
		    struct metrics_channel *);
static struct metrics_channel *metrics_channel_get(const char *);
static void	histogram_init(struct histogram *, const int64_t *, size_t);
static void	histogram_observe(struct histogram *, int64_t);
static void	metrics_family(struct evbuffer *, const char *, const char *,
		    const char *);
static void	metrics_label(struct evbuffer *, const char *);
static void	metrics_series(struct evbuffer *, const char *, const char *,
		    const char *, const char *);
static void	metrics_sample(struct evbuffer *, const char *,
		    const char *, const char *, unsigned long long);
static void	metrics_histogram(struct evbuffer *, const char *,
		    const char *, const char *, const struct histogram *);
static void	metrics_write_process(struct evbuffer *);
static void	metrics_write_accept(struct evbuffer *);
static void	metrics_write_deliveries(struct evbuffer *);
static void	metrics_write_dispatch(struct evbuffer *);
static void	metrics_write_responses(struct evbuffer *);
static void	metrics_write_pending(struct evbuffer *);
static void	metrics_write_channels(struct evbuffer *);
static void	metrics_write_reload(struct evbuffer *);
static void	metrics_write_spool(struct evbuffer *, const struct spool *);

RB_PROTOTYPE_STATIC(metrics_channels, metrics_channel, entry,
    metrics_channel_cmp)
RB_GENERATE_STATIC(metrics_channels, metrics_channel, entry,
    metrics_channel_cmp)

static int
metrics_channel_cmp(struct metrics_channel *a, struct metrics_channel *b)
{
	return (strcmp(a->name, b->name));
}

void
metrics_init(void)
{
	mx.on = 1;
	mx.started_ms = deadline_wall_ms();
	histogram_init(&mx.response, response_bounds,
	    NBOUNDS(response_bounds));
}

void
metrics_shutdown(void)
{
	struct metrics_channel *mc, *next;

	RB_FOREACH_SAFE(mc, metrics_channels, &mx.channels, next) {
		RB_REMOVE(metrics_channels, &mx.channels, mc);
		free(mc->name);
		free(mc);
	}
	mx.on = 0;
}

/* The record of a channel name, made on first use; NULL out of memory. */
static struct metrics_channel *
metrics_channel_get(const char *name)
{
	struct metrics_channel key, *mc;

	key.name = (char *)name;
	if ((mc = RB_FIND(metrics_channels, &mx.channels, &key)) != NULL)
		return (mc);
	if ((mc = calloc(1, sizeof(*mc))) == NULL ||
	    (mc->name = strdup(name)) == NULL) {
		free(mc);
		log_warnx("metrics: out of memory for channel %s", name);
		return (NULL);
	}
	histogram_init(&mc->duration, delivery_bounds,
	    NBOUNDS(delivery_bounds));
	RB_INSERT(metrics_channels, &mx.channels, mc);
	return (mc);
}

void
metrics_observe_delivery(const struct channel *ch,
    enum delivery_outcome outcome, int64_t ms)
{
	struct metrics_channel *mc;

	if (!mx.on || (unsigned)outcome >= OUTCOME_COUNT ||
	    (mc = metrics_channel_get(ch->name)) == NULL)
		return;
	mc->outcomes[outcome]++;
	histogram_observe(&mc->duration, ms);
}

void
metrics_observe_response(int64_t ms)
{
	if (mx.on)
		histogram_observe(&mx.response, ms);
}

static void
histogram_init(struct histogram *h, const int64_t *bounds, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = n < METRICS_BUCKETS_MAX ? n : METRICS_BUCKETS_MAX;
}

static void
histogram_observe(struct histogram *h, int64_t ms)
{
	size_t i;

	if (ms < 0)
		ms = 0;	/* a wall clock stepped back */
	for (i = 0; i < h->nbounds && ms > h->bounds[i]; i++)
		;
	h->counts[i]++;
	h->count++;
	h->sum_ms += ms;
}

int
metrics_write(struct evbuffer *buf, const struct spool *sp)
{
	metrics_write_process(buf);
	metrics_write_accept(buf);
	metrics_write_deliveries(buf);
	metrics_write_dispatch(buf);
	metrics_write_responses(buf);
	metrics_write_pending(buf);
	metrics_write_channels(buf);
	breaker_write_metrics(buf);
	metrics_write_reload(buf);
	metrics_write_spool(buf, sp);
	return (0);
}

static void
metrics_family(struct evbuffer *buf, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(buf, "# HELP switchboard_%s %s\n"
	    "# TYPE switchboard_%s %s\n", name, help, name, type);
}

/* A label value, escaped as the text format wants. */
static void
metrics_label(struct evbuffer *buf, const char *v)
{
	size_t n;

	evbuffer_add(buf, "\"", 1);
	while (*v != '\0') {
		n = strcspn(v, "\\\"\n");
		evbuffer_add(buf, v, n);
		v += n;
		if (*v == '\0')
			break;
		evbuffer_add_printf(buf, "\\%c", *v == '\n' ? 'n' : *v);
		v++;
	}
	evbuffer_add(buf, "\"", 1);
}

/*
 * "switchboard_NAME{LABEL="VALUE",le="LE"} ": the label and le are each
 * left out when NULL, the braces when both are.
 */
static void
metrics_series(struct evbuffer *buf, const char *name, const char *label,
    const char *value, const char *le)
{
	evbuffer_add_printf(buf, "switchboard_%s", name);
	if (label == NULL && le == NULL) {
		evbuffer_add(buf, " ", 1);
		return;
	}
	evbuffer_add(buf, "{", 1);
	if (label != NULL) {
		evbuffer_add_printf(buf, "%s=", label);
		metrics_label(buf, value);
	}
	if (le != NULL)
		evbuffer_add_printf(buf, "%sle=\"%s\"", label != NULL ? "," : "",
		    le);
	evbuffer_add(buf, "} ", 2);
}

static void
metrics_sample(struct evbuffer *buf, const char *name, const char *label,
    const char *value, unsigned long long n)
{
	metrics_series(buf, name, label, value, NULL);
	evbuffer_add_printf(buf, "%llu\n", n);
}

/* _bucket (cumulative, le in seconds), _sum and _count of one series. */
static void
metrics_histogram(struct evbuffer *buf, const char *name, const char *label,
    const char *value, const struct histogram *h)
{
	unsigned long long cum = 0;
	char series[128], le[32];
	size_t i;

	snprintf(series, sizeof(series), "%s_bucket", name);
	for (i = 0; i <= h->nbounds; i++) {
		cum += h->counts[i];
		if (i < h->nbounds)
			snprintf(le, sizeof(le), "%g",
			    (double)h->bounds[i] / 1000);
		else
			strlcpy(le, "+Inf", sizeof(le));
		metrics_series(buf, series, label, value, le);
		evbuffer_add_printf(buf, "%llu\n", cum);
	}
	snprintf(series, sizeof(series), "%s_sum", name);
	metrics_series(buf, series, label, value, NULL);
	evbuffer_add_printf(buf, "%.3f\n", (double)h->sum_ms / 1000);
	snprintf(series, sizeof(series), "%s_count", name);
	metrics_sample(buf, series, label, value, h->count);
}

static void
metrics_write_process(struct evbuffer *buf)
{
	metrics_family(buf, "build_info", "gauge",
	    "The running version; always 1.");
	metrics_sample(buf, "build_info", "version", SB_VERSION, 1);
	metrics_family(buf, "start_time_seconds", "gauge",
	    "When the daemon started, in seconds since the epoch.");
	evbuffer_add_printf(buf, "switchboard_start_time_seconds %.3f\n",
	    (double)mx.started_ms / 1000);
}

static void
metrics_write_accept(struct evbuffer *buf)
{
	const struct accept_stats *as = accept_stats();
	int i;

	metrics_family(buf, "notices_accepted_total", "counter",
	    "Notices accepted (spooled and answered ok), by class.");
	for (i = 0; i < CLASS_COUNT; i++)
		metrics_sample(buf, "notices_accepted_total", "class",
		    notice_class_name(i), as->accepted[i]);
	metrics_family(buf, "requests_rejected_total", "counter",
	    "Requests refused with an error reply (or dropped, on PULL), "
	    "by error code.");
	for (i = 1; i < SB_ERR_COUNT; i++)
		metrics_sample(buf, "requests_rejected_total", "code",
		    sb_error_name(i), as->rejected[i]);
	metrics_family(buf, "notices_duplicate_total", "counter",
	    "Notices whose id was already accepted: answered again, not "
	    "routed again.");
	metrics_sample(buf, "notices_duplicate_total", NULL, NULL,
	    as->duplicates);
}

static void
metrics_write_deliveries(struct evbuffer *buf)
{
	struct metrics_channel *mc;
	struct channel *ch;
	size_t i;
	int o;

	/* A running channel shows its zeros before its first delivery. */
	for (i = 0; (ch = dispatch_channel_at(i)) != NULL; i++)
		(void)metrics_channel_get(ch->name);
	metrics_family(buf, "deliveries_total", "counter",
	    "Delivery attempts ended, by channel and outcome.");
	RB_FOREACH(mc, metrics_channels, &mx.channels)
		for (o = 0; o < OUTCOME_COUNT; o++) {
			evbuffer_add_printf(buf, "switchboard_deliveries_total"
			    "{channel=");
			metrics_label(buf, mc->name);
			evbuffer_add_printf(buf, ",outcome=\"%s\"} %llu\n",
			    outcome_names[o],
			    (unsigned long long)mc->outcomes[o]);
		}
	metrics_family(buf, "delivery_duration_seconds", "histogram",
	    "Time of one delivery attempt, whatever its outcome, by "
	    "channel.");
	RB_FOREACH(mc, metrics_channels, &mx.channels)
		metrics_histogram(buf, "delivery_duration_seconds", "channel",
		    mc->name, &mc->duration);
}

static void
metrics_write_dispatch(struct evbuffer *buf)
{
	const struct dispatch_stats *ds = dispatch_stats();

	metrics_family(buf, "delivery_retries_total", "counter",
	    "Failed attempts scheduled to be tried again after a backoff.");
	metrics_sample(buf, "delivery_retries_total", NULL, NULL,
	    ds->retried);
	metrics_family(buf, "delivery_failovers_total", "counter",
	    "Deliveries a channel gave up on, handed to fallback channels.");
	metrics_sample(buf, "delivery_failovers_total", NULL, NULL,
	    ds->failed);
	metrics_family(buf, "deliveries_dead_total", "counter",
	    "Deliveries no channel could take.");
	metrics_sample(buf, "deliveries_dead_total", NULL, NULL, ds->dead);
	metrics_family(buf, "deliver_within_missed_total", "counter",
	    "Deliveries not done within their deliver_within.");
	metrics_sample(buf, "deliver_within_missed_total", NULL, NULL,
	    ds->missed);
}

static void
metrics_write_responses(struct evbuffer *buf)
{
	const struct escalate_stats *es = escalate_stats();
	char level[16];
	int i;

	metrics_family(buf, "response_duration_seconds", "histogram",
	    "Time from an interactive notice to its ack.");
	metrics_histogram(buf, "response_duration_seconds", NULL, NULL,
	    &mx.response);
	metrics_family(buf, "acks_total", "counter",
	    "Acks of interactive notices; late: after the notice expired.");
	metrics_sample(buf, "acks_total", "late", "false", es->acked);
	metrics_sample(buf, "acks_total", "late", "true", es->late_acks);
	metrics_family(buf, "escalations_total", "counter",
	    "Escalation steps fired, by level (8: level 8 or deeper).");
	for (i = 0; i < 8; i++) {
		snprintf(level, sizeof(level), "%d", i + 1);
		metrics_sample(buf, "escalations_total", "level", level,
		    es->fired[i]);
	}
	metrics_family(buf, "notices_expired_total", "counter",
	    "Interactive notices that got no ack before their chain ended.");
	metrics_sample(buf, "notices_expired_total", NULL, NULL, es->expired);
}

static void
metrics_write_pending(struct evbuffer *buf)
{
	unsigned long long queued = 0, inflight = 0, batched = 0, all;
	struct channel *ch;
	size_t i;

	for (i = 0; (ch = dispatch_channel_at(i)) != NULL; i++) {
		queued += (unsigned)ch->queued;
		inflight += (unsigned)ch->inflight;
		batched += batch_items(ch);
	}
	all = dispatch_pending();
	metrics_family(buf, "pending_deliveries", "gauge",
	    "Deliveries not yet done, by state (waiting: for a retry, "
	    "quiet hours to end, or a reloaded channel).");
	metrics_sample(buf, "pending_deliveries", "state", "queued", queued);
	metrics_sample(buf, "pending_deliveries", "state", "inflight",
	    inflight);
	metrics_sample(buf, "pending_deliveries", "state", "batched",
	    batched);
	metrics_sample(buf, "pending_deliveries", "state", "waiting",
	    all > queued + inflight + batched ?
	    all - queued - inflight - batched : 0);
	metrics_family(buf, "awaiting_ack", "gauge",
	    "Interactive notices waiting for their ack.");
	metrics_sample(buf, "awaiting_ack", NULL, NULL, escalate_waiting());
}

static void
metrics_write_channels(struct evbuffer *buf)
{
	struct channel *ch;
	size_t i;

	metrics_family(buf, "channel_up", "gauge",
	    "1 when the channel is up, 0 when it is down or paused.");
	for (i = 0; (ch = dispatch_channel_at(i)) != NULL; i++)
		metrics_sample(buf, "channel_up", "channel", ch->name,
		    channel_state(ch) == CHANNEL_UP);
	metrics_family(buf, "channel_paused", "gauge",
	    "1 when an operator paused the channel.");
	for (i = 0; (ch = dispatch_channel_at(i)) != NULL; i++)
		metrics_sample(buf, "channel_paused", "channel", ch->name,
		    channel_state(ch) == CHANNEL_PAUSED);
	metrics_family(buf, "channel_queue_depth", "gauge",
	    "Deliveries queued or in flight on the channel.");
	for (i = 0; (ch = dispatch_channel_at(i)) != NULL; i++)
		metrics_sample(buf, "channel_queue_depth", "channel", ch->name,
		    (unsigned)(ch->queued + ch->inflight));
}

static void
metrics_write_reload(struct evbuffer *buf)
{
	const struct reload_status *rs = reload_last();

	metrics_family(buf, "reloads_total", "counter",
	    "Reloads of the config (SIGHUP or the reload command), by "
	    "result.");
	metrics_sample(buf, "reloads_total", "result", "ok", rs->count);
	metrics_sample(buf, "reloads_total", "result", "failed",
	    rs->failures);
	metrics_family(buf, "last_reload_success", "gauge",
	    "1 when the last reload succeeded or none was tried; 0 when it "
	    "failed and the previous config still runs.");
	metrics_sample(buf, "last_reload_success", NULL, NULL,
	    rs->at_ms == 0 || rs->ok);
	metrics_family(buf, "last_reload_timestamp_seconds", "gauge",
	    "When the last reload was tried (0: never).");
	evbuffer_add_printf(buf,
	    "switchboard_last_reload_timestamp_seconds %.3f\n",
	    (double)rs->at_ms / 1000);
}

static void
metrics_write_spool(struct evbuffer *buf, const struct spool *sp)
{
	if (sp == NULL)
		return;
	metrics_family(buf, "spool_commits_total", "counter",
	    "Spool transactions committed.");
	metrics_sample(buf, "spool_commits_total", NULL, NULL, sp->commits);
	metrics_family(buf, "spool_failures_total", "counter",
	    "Spool writes or commits that failed.");
	metrics_sample(buf, "spool_failures_total", NULL, NULL, sp->failures);
}
