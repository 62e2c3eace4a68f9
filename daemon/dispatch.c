/*
 * dispatch.c: deliveries. An accepted notice becomes one delivery per
 * target channel. Every delivery, new or restored, passes through
 * dispatch_enqueue(), which applies the delivery rules in order: a batch
 * notice joins its channel's digest; a non-urgent delivery waits out the
 * channel's quiet hours; a realtime or interactive one gets its
 * deliver_within deadline. Each outcome is written to the spool and leads
 * to the next step: retry after an exponential backoff with jitter, the
 * fallback channels after a permanent failure or when retries run out, or
 * "dead" when no channel is left to take it — never a silent drop.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "batch.h"
#include "config.h"
#include "deadline.h"
#include "dispatch.h"
#include "duration.h"
#include "log.h"
#include "notice.h"
#include "route.h"
#include "secrets.h"
#include "spool.h"
#include "tod.h"

/* The longest wait a retry can have: backoff_max, Retry-After. */
#define DISPATCH_WAIT_MAX_MS	(24 * 3600 * 1000LL)

static struct {
	struct event_base	*base;
	struct spool		*spool;
	const struct config	*conf;
	struct channel		**channels;
	size_t			 nchannels;
	struct deadline_heap	*retries;	/* retry and quiet-hour waits */
	struct deadline_heap	*dues;		/* deliver_within */
	struct event		*commit_ev;
	struct event		*reap_ev;	/* frees drained retired ones */
	TAILQ_HEAD(, delivery)	 all;
	TAILQ_HEAD(, channel)	 retired;
	struct config		*retired_confs[64];
	size_t			 nretired_confs;
	size_t			 pending;
	int			 commit_scheduled;
	int			 tearing_down;
	struct dispatch_stats	 stats;
} dsp;

static struct delivery	*delivery_new(struct notice *, struct channel *,
			    const struct route *, int pilot,
			    const struct channel *fallback_of);
static void		 delivery_free(struct delivery *);
static void		 delivery_id_make(char *, size_t, const char *,
			    const char *, const char *);
static void		 dispatch_enqueue(struct delivery *);
static void		 dispatch_enqueue_at(struct delivery *, int64_t);
static int64_t		 dispatch_wait(int64_t);
static int		 dispatch_quiet(struct delivery *, int64_t);
static void		 dispatch_hold_cb(struct deadline *, void *);
static void		 dispatch_done_cb(struct channel *, struct delivery *,
			    enum delivery_outcome, const char *, void *);
static void		 dispatch_delivered(struct delivery *);
static void		 dispatch_retry(struct delivery *, const char *);
static void		 dispatch_retry_cb(struct deadline *, void *);
static void		 dispatch_missed_cb(struct deadline *, void *);
static void		 dispatch_fail(struct delivery *, const char *);
static size_t		 dispatch_handover(struct delivery *);
static size_t		 dispatch_fallbacks(const struct delivery *,
			    const int **);
static struct channel	*dispatch_fallback_channel(const struct delivery *,
			    int);
static void		 dispatch_record(struct delivery *, enum spool_dstate,
			    const char *, int64_t);
static void		 dispatch_commit_cb(evutil_socket_t, short, void *);
static const struct route *dispatch_route_by_name(const char *);
static void		 dispatch_reap_cb(evutil_socket_t, short, void *);
static void		 dispatch_retire(struct channel *, struct channel *);
static struct channel	*dispatch_current(struct channel *);

int
dispatch_init(struct event_base *base, struct spool *spool)
{
	memset(&dsp, 0, sizeof(dsp));
	dsp.base = base;
	dsp.spool = spool;
	dsp.retries = deadline_heap_new(base, NULL);
	dsp.dues = deadline_heap_new(base, NULL);
	dsp.commit_ev = event_new(base, -1, 0, dispatch_commit_cb, NULL);
	dsp.reap_ev = event_new(base, -1, 0, dispatch_reap_cb, NULL);
	TAILQ_INIT(&dsp.all);
	TAILQ_INIT(&dsp.retired);
	if (dsp.retries == NULL || dsp.dues == NULL || dsp.commit_ev == NULL ||
	    dsp.reap_ev == NULL)
		return (-1);
	return (0);
}

int
dispatch_start(const struct config *conf, char *err, size_t errlen)
{
	size_t i;

	dsp.conf = conf;
	dsp.channels = calloc(conf->nchannels, sizeof(*dsp.channels));
	if (dsp.channels == NULL && conf->nchannels > 0) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	for (i = 0; i < conf->nchannels; i++) {
		dsp.channels[i] = channel_new(dsp.base, &conf->channels[i],
		    (int)i, NULL, dispatch_done_cb, NULL, err, errlen);
		if (dsp.channels[i] == NULL)
			return (-1);
		dsp.nchannels = i + 1;
	}
	return (0);
}

/*
 * Stop every channel. What is still queued, in flight, waiting to retry,
 * held for quiet hours or in an open digest stays pending in the spool and
 * is delivered after the next start.
 */
void
dispatch_shutdown(void)
{
	struct deadline *dl;
	struct channel *ch;
	size_t i;

	dsp.tearing_down = 1;
	while ((dl = deadline_first(dsp.dues)) != NULL)
		deadline_cancel(dsp.dues, dl);
	while ((dl = deadline_first(dsp.retries)) != NULL) {
		deadline_cancel(dsp.retries, dl);
		delivery_free(dl->arg);
	}
	for (i = 0; i < dsp.nchannels; i++) {
		batch_channel_free(dsp.channels[i]);
		channel_free(dsp.channels[i]);
	}
	while ((ch = TAILQ_FIRST(&dsp.retired)) != NULL) {
		TAILQ_REMOVE(&dsp.retired, ch, retired_entry);
		batch_channel_free(ch);
		channel_free(ch);
	}
	for (i = 0; i < dsp.nretired_confs; i++)
		config_free(dsp.retired_confs[i]);
	dsp.nretired_confs = 0;
	event_free(dsp.reap_ev);
	dsp.reap_ev = NULL;
	free(dsp.channels);
	dsp.channels = NULL;
	dsp.nchannels = 0;
	if (dsp.spool != NULL && spool_commit(dsp.spool) == -1)
		log_warnx("spool commit at shutdown failed: %s",
		    dsp.spool->error);
	deadline_heap_free(dsp.retries);
	deadline_heap_free(dsp.dues);
	event_free(dsp.commit_ev);
	dsp.retries = dsp.dues = NULL;
	dsp.commit_ev = NULL;
}

struct channel *
dispatch_channel(const char *name)
{
	size_t i;

	for (i = 0; i < dsp.nchannels; i++)
		if (strcmp(dsp.channels[i]->name, name) == 0)
			return (dsp.channels[i]);
	return (NULL);
}

struct channel *
dispatch_channel_at(size_t i)
{
	return (i < dsp.nchannels ? dsp.channels[i] : NULL);
}

size_t
dispatch_nchannels(void)
{
	return (dsp.nchannels);
}

size_t
dispatch_pending(void)
{
	return (dsp.pending);
}

size_t
dispatch_busy(void)
{
	size_t i, n = 0;

	for (i = 0; i < dsp.nchannels; i++)
		n += (size_t)(dsp.channels[i]->queued +
		    dsp.channels[i]->inflight);
	return (n);
}

const struct dispatch_stats *
dispatch_stats(void)
{
	return (&dsp.stats);
}

void
dispatch_reopen(void)
{
	size_t i;

	for (i = 0; i < dsp.nchannels; i++)
		channel_reopen(dsp.channels[i]);
}

int
dispatch_has_room(const struct route_result *res, char *why, size_t len)
{
	const struct channel *ch;
	size_t i;

	for (i = 0; i < res->ntargets; i++) {
		ch = dsp.channels[res->targets[i].channel];
		if (!channel_has_room(ch)) {
			/* Counted as channel_has_room() counts them. */
			snprintf(why, len, "channel '%s' is full (%d queued, "
			    "queue_max %d; %zu bytes held, queue_max_bytes "
			    "%d); try again later", ch->name, ch->queued +
			    ch->inflight + ch->reserved, ch->conf->queue_max,
			    ch->held_bytes + ch->reserved_bytes,
			    ch->conf->queue_max_bytes);
			return (-1);
		}
	}
	return (0);
}

/*
 * Hold (sign 1) or release (-1) room on the target channels for a notice
 * accepted in this pass, so that one pass cannot overrun a channel's caps
 * before its deliveries exist.
 */
void
dispatch_reserve(const struct notice *n, const struct route_result *res,
    int sign)
{
	struct channel *ch;
	size_t i, bytes = sizeof(struct delivery) + notice_held_bytes(n);

	for (i = 0; i < res->ntargets; i++) {
		ch = dsp.channels[res->targets[i].channel];
		ch->reserved += sign;
		if (sign > 0)
			ch->reserved_bytes += bytes;
		else
			ch->reserved_bytes -= bytes;
	}
}

/*
 * "notice/channel", or "notice/fallback_of/channel": joined by hand, as
 * snprintf costs ~900 instructions, twice a delivery.
 */
static void
delivery_id_make(char *out, size_t len, const char *notice_id,
    const char *fallback_of, const char *channel)
{
	strlcpy(out, notice_id, len);
	if (fallback_of != NULL) {
		strlcat(out, "/", len);
		strlcat(out, fallback_of, len);
	}
	strlcat(out, "/", len);
	strlcat(out, channel, len);
}

size_t
dispatch_plan(const struct notice *n, const struct route_result *res,
    struct spool_delivery *out, char (*ids)[DELIVERY_ID_MAX + 1], size_t max)
{
	const struct route_target *t;
	size_t i;

	for (i = 0; i < res->ntargets && i < max; i++) {
		t = &res->targets[i];
		delivery_id_make(ids[i], sizeof(ids[i]), n->id, NULL,
		    dsp.conf->channels[t->channel].name);
		memset(&out[i], 0, sizeof(out[i]));
		out[i].id = ids[i];
		out[i].channel = dsp.conf->channels[t->channel].name;
		out[i].route = t->route != NULL ? t->route->name : NULL;
		out[i].pilot = t->pilot;
	}
	return (i);
}

void
dispatch_notice(struct notice *n, const struct route_result *res)
{
	const struct route_target *t;
	struct delivery *d;
	size_t i;

	for (i = 0; i < res->ntargets; i++) {
		t = &res->targets[i];
		d = delivery_new(n, dsp.channels[t->channel], t->route,
		    t->pilot, NULL);
		if (d == NULL)
			fatal("dispatch_notice");
		dispatch_enqueue(d);
	}
}

int
dispatch_restore(struct notice *n, const struct spool_delivery *sd)
{
	struct channel *ch, *orig = NULL;
	struct delivery *d;

	if ((ch = dispatch_channel(sd->channel)) == NULL) {
		log_warnx("dead delivery id=%s reason=\"channel '%s' is no "
		    "longer configured\"", sd->id, sd->channel);
		spool_update_delivery(dsp.spool, sd->id, DSTATE_DEAD,
		    sd->attempts, "channel no longer configured",
		    deadline_wall_ms());
		dsp.stats.dead++;
		return (0);
	}
	if (sd->fallback_of != NULL)
		orig = dispatch_channel(sd->fallback_of);
	d = delivery_new(n, ch, sd->route ? dispatch_route_by_name(sd->route) :
	    NULL, sd->pilot, orig);
	if (d == NULL)
		return (-1);
	strlcpy(d->id, sd->id, sizeof(d->id));
	if (sd->fallback_of != NULL) {
		/* Still a fallback even when its first channel is gone. */
		d->fallback = 1;
		strlcpy(d->fallback_of_name, sd->fallback_of,
		    sizeof(d->fallback_of_name));
	}
	d->attempts = sd->attempts;
	d->level = sd->level;
	/* A flushed digest goes again as the same digest, when it is due. */
	if (sd->digest != NULL)
		batch_restore(ch, sd->digest, d, sd->next_ms);
	else
		dispatch_enqueue_at(d, sd->next_ms);
	return (0);
}

void
dispatch_escalation(struct notice *n, const int *channels, size_t nch,
    int level, int round, int64_t waited_ms)
{
	struct spool_delivery sd;
	struct delivery *d;
	size_t i;

	for (i = 0; i < nch; i++) {
		if ((d = delivery_new(n, dsp.channels[channels[i]], NULL, 0,
		    NULL)) == NULL)
			fatal("dispatch_escalation");
		d->level = level;
		d->round = round;
		d->waited_ms = waited_ms;
		snprintf(d->id, sizeof(d->id), "%s/esc%d.%d/%s", n->id, round,
		    level, d->channel->name);
		memset(&sd, 0, sizeof(sd));
		sd.id = d->id;
		sd.channel = d->channel->name;
		sd.level = level;
		if (spool_add_delivery(dsp.spool, n->id, &sd) == -1)
			log_warnx("spool: escalation delivery %s not recorded: "
			    "%s", d->id, dsp.spool->error);
		dispatch_enqueue(d);
	}
}

void
dispatch_digest(struct channel *ch, const char *id, struct delivery **items,
    size_t n, int64_t next_ms)
{
	struct delivery *d;
	size_t i;

	if ((d = delivery_new(items[0]->notice, ch, NULL, 0, NULL)) == NULL)
		fatal("dispatch_digest");
	strlcpy(d->id, id, sizeof(d->id));
	d->items = items;
	d->nitems = n;
	/* A digest re-formed at start goes on from its items' attempts. */
	for (i = 0; i < n; i++)
		if (items[i]->attempts > d->attempts)
			d->attempts = items[i]->attempts;
	ch->stats.digests++;
	dispatch_enqueue_at(d, next_ms);
}

void
dispatch_release(struct delivery *d)
{
	delivery_free(d);
}

static const struct route *
dispatch_route_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < dsp.conf->nroutes; i++)
		if (strcmp(dsp.conf->routes[i].name, name) == 0)
			return (&dsp.conf->routes[i]);
	return (NULL);
}

/* A delivery holds a reference on its notice until it ends. */
static struct delivery *
delivery_new(struct notice *n, struct channel *ch, const struct route *r,
    int pilot, const struct channel *fallback_of)
{
	struct delivery *d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return (NULL);
	notice_ref(n);
	d->notice = n;
	d->channel = ch;
	d->route = r;
	d->pilot = pilot;
	d->created_ms = deadline_monotonic_ms();
	if (fallback_of != NULL) {
		d->fallback = 1;
		strlcpy(d->fallback_of_name, fallback_of->name,
		    sizeof(d->fallback_of_name));
		delivery_id_make(d->id, sizeof(d->id), n->id,
		    fallback_of->name, ch->name);
	} else
		delivery_id_make(d->id, sizeof(d->id), n->id, NULL, ch->name);
	ch->deliveries++;
	d->held_bytes = delivery_held_bytes(d);
	ch->held_bytes += d->held_bytes;
	TAILQ_INSERT_TAIL(&dsp.all, d, all);
	dsp.pending++;
	return (d);
}

/* A digest's shell frees its items too (they ended with it). */
static void
delivery_free(struct delivery *d)
{
	size_t i;

	if (dsp.retries != NULL)
		deadline_cancel(dsp.retries, &d->retry);
	if (dsp.dues != NULL)
		deadline_cancel(dsp.dues, &d->due);
	for (i = 0; i < d->nitems; i++)
		delivery_free(d->items[i]);
	free(d->items);
	TAILQ_REMOVE(&dsp.all, d, all);
	d->channel->held_bytes -= d->held_bytes;
	if (--d->channel->deliveries == 0 && d->channel->retired &&
	    dsp.reap_ev != NULL)
		event_active(dsp.reap_ev, 0, 0);
	dsp.pending--;
	notice_unref(d->notice);
	free(d);
}

/* The rules every delivery passes before it is queued on its channel. */
static void
dispatch_enqueue(struct delivery *d)
{
	dispatch_enqueue_at(d, 0);
}

/*
 * The rules, for a delivery whose next attempt is due at next_ms (wall
 * clock; 0 or past: now). Only a restored one has such a time: it was
 * waiting out a retry's backoff when the daemon stopped, and waits out the
 * rest on the retry timer, as it would have had the daemon run on; its
 * deliver_within runs meanwhile, from the restart.
 */
static void
dispatch_enqueue_at(struct delivery *d, int64_t next_ms)
{
	const struct notice *n = d->notice;
	struct policy pol;
	int64_t wait;

	config_policy(dsp.conf, d->route, n->class, &pol);
	if (n->class == CLASS_BATCH && d->items == NULL && d->level == 0 &&
	    !d->fallback) {
		batch_add(d->channel, d, &pol);
		return;
	}
	wait = dispatch_wait(next_ms);
	if (dispatch_quiet(d, wait))
		return;
	if (d->due.slot == 0 && !d->failed_over && pol.deliver_within_ms > 0)
		deadline_arm(dsp.dues, &d->due, deadline_monotonic_ms() +
		    pol.deliver_within_ms, dispatch_missed_cb, d);
	if (wait > 0) {
		log_info("resumed id=%s channel=%s attempts=%d "
		    "retry_at_ms=%lld (the backoff from before the restart)",
		    d->id, d->channel->name, d->attempts,
		    (long long)(deadline_wall_ms() + wait));
		deadline_arm(dsp.retries, &d->retry, deadline_monotonic_ms() +
		    wait, dispatch_retry_cb, d);
		return;
	}
	channel_enqueue(d->channel, d);
}

/*
 * How long from now until next_ms (wall clock), 0 when it has passed. No
 * retry waits longer than a day: more means the clock was set back.
 */
static int64_t
dispatch_wait(int64_t next_ms)
{
	int64_t wait;

	if (next_ms <= 0)
		return (0);
	wait = next_ms - deadline_wall_ms();
	if (wait <= 0)
		return (0);
	return (wait < DISPATCH_WAIT_MAX_MS ? wait : DISPATCH_WAIT_MAX_MS);
}

/*
 * Hold a non-urgent delivery until the channel's quiet hours end, or
 * until its wait (ms) ends if that is later.
 */
static int
dispatch_quiet(struct delivery *d, int64_t wait)
{
	const struct channel_conf *cc = d->channel->conf;
	int64_t now, end;

	if (cc->quiet_hours == NULL || d->notice->priority == PRIORITY_URGENT)
		return (0);
	now = deadline_wall_ms();
	if (!tod_in_window(now, &cc->quiet))
		return (0);
	end = tod_window_end(now, &cc->quiet);
	if (end < now + wait)
		end = now + wait;
	d->channel->stats.held++;
	log_info("held id=%s channel=%s until_ms=%lld (quiet hours %s)",
	    d->id, d->channel->name, (long long)end, cc->quiet_hours);
	deadline_arm(dsp.retries, &d->retry, deadline_monotonic_ms() +
	    (end - now), dispatch_hold_cb, d);
	return (1);
}

static void
dispatch_hold_cb(struct deadline *dl, void *arg)
{
	struct delivery *d = arg;

	(void)dl;
	dispatch_move(d, dispatch_current(d->channel));
	dispatch_enqueue(d);
}

static void
dispatch_done_cb(struct channel *ch, struct delivery *d,
    enum delivery_outcome outcome, const char *error, void *arg)
{
	(void)ch;
	(void)arg;
	if (dsp.tearing_down) {
		/* Stays pending in the spool for the next start. */
		delivery_free(d);
		return;
	}
	switch (outcome) {
	case OUTCOME_DELIVERED:
		dispatch_delivered(d);
		break;
	case OUTCOME_RETRYABLE:
		if (d->attempts <= d->channel->conf->retry.max)
			dispatch_retry(d, error);
		else
			dispatch_fail(d, error);
		break;
	default:
		dispatch_fail(d, error);
		break;
	}
}

static void
dispatch_delivered(struct delivery *d)
{
	dsp.stats.delivered++;
	dispatch_record(d, DSTATE_DELIVERED, NULL, 0);
	delivery_free(d);
}

/*
 * Exponential backoff with "equal jitter": half the delay is fixed, half
 * random, so that a crowd of retries spreads out without any of them
 * coming back much sooner than asked.
 */
static void
dispatch_retry(struct delivery *d, const char *error)
{
	const struct retry_policy *rp = &d->channel->conf->retry;
	int64_t delay = rp->backoff_ms, next_ms;
	uint32_t r = 0;
	size_t i;

	for (i = 1; i < (size_t)d->attempts && delay < rp->backoff_max_ms; i++)
		delay *= 2;
	if (delay > rp->backoff_max_ms)
		delay = rp->backoff_max_ms;
	if (delay > 1)
		(void)getrandom(&r, sizeof(r), GRND_NONBLOCK);
	delay = delay / 2 + (delay > 1 ? (int64_t)(r % (uint32_t)(delay / 2 +
	    1)) : 0);
	/* The medium asked for a pause (an HTTP Retry-After): keep to it. */
	if (d->retry_after_ms > delay)
		delay = d->retry_after_ms;
	d->retry_after_ms = 0;
	dsp.stats.retried++;
	/* On the wall clock in the spool: what a restart resumes from. */
	next_ms = deadline_wall_ms() + delay;
	dispatch_record(d, DSTATE_PENDING, error, next_ms);
	deadline_arm(dsp.retries, &d->retry, deadline_monotonic_ms() + delay,
	    dispatch_retry_cb, d);
}

static void
dispatch_retry_cb(struct deadline *dl, void *arg)
{
	struct delivery *d = arg;

	(void)dl;
	dispatch_move(d, dispatch_current(d->channel));
	channel_enqueue(d->channel, d);
}

/*
 * deliver_within passed: count the miss and let the fallback channels
 * have the notice now; this delivery goes on trying.
 */
static void
dispatch_missed_cb(struct deadline *dl, void *arg)
{
	struct delivery *d = arg;
	char ms[32];

	(void)dl;
	dsp.stats.missed++;
	d->channel->stats.missed++;
	duration_format(deadline_monotonic_ms() - d->created_ms, ms,
	    sizeof(ms));
	log_warnx("missed deliver_within id=%s channel=%s after=%s", d->id,
	    d->channel->name, ms);
	if (d->items == NULL && dispatch_handover(d) > 0)
		d->failed_over = 1;
}

/*
 * The running channel that fallback index i stands for: route fallbacks
 * index the running config (routes are re-pointed at a reload), a
 * channel's own index the config that channel came from.
 */
static struct channel *
dispatch_fallback_channel(const struct delivery *d, int i)
{
	const struct config *cf = dsp.conf;

	if (d->route == NULL || d->route->nfallback == 0)
		cf = d->channel->conf->config;
	if (cf == NULL || i < 0 || (size_t)i >= cf->nchannels)
		return (NULL);
	return (dispatch_channel(cf->channels[i].name));
}

/* Which channels take over when this delivery fails for good. */
static size_t
dispatch_fallbacks(const struct delivery *d, const int **list)
{
	/* A shadow copy, a fallback or an escalation does not cascade. */
	if (d->pilot || d->fallback || d->level > 0)
		return (0);
	if (d->route != NULL && d->route->nfallback > 0) {
		*list = d->route->fallback;
		return (d->route->nfallback);
	}
	*list = d->channel->conf->fallback;
	return (d->channel->conf->nfallback);
}

/* Start the fallback deliveries of d; returns how many. */
static size_t
dispatch_handover(struct delivery *d)
{
	const int *fb = NULL;
	struct channel *to;
	struct delivery *f;
	struct spool_delivery sd;
	size_t i, n, handed = 0;
	int rc;

	n = dispatch_fallbacks(d, &fb);
	for (i = 0; i < n; i++) {
		/*
		 * By name: a channel retired by a reload holds indices into
		 * its own (old) config, not into the running one.
		 */
		to = dispatch_fallback_channel(d, fb[i]);
		if (to == NULL || to == dispatch_current(d->channel))
			continue;
		f = delivery_new(d->notice, to, d->route, 0, d->channel);
		if (f == NULL)
			fatal("dispatch_handover");
		memset(&sd, 0, sizeof(sd));
		sd.id = f->id;
		sd.channel = f->channel->name;
		sd.route = d->route ? d->route->name : NULL;
		sd.fallback_of = d->channel->name;
		rc = spool_add_delivery(dsp.spool, d->notice->id, &sd);
		if (rc == -1 && dsp.spool->refused) {
			/* Handed over before (a restart since): not again. */
			log_info("fallback %s skipped: %s", f->id,
			    dsp.spool->error);
			delivery_free(f);
			handed++;
			continue;
		}
		/* Not kept by a failing spool: it goes all the same. */
		if (rc == -1)
			log_warnx("fallback %s not spooled, sent all the same: "
			    "%s", f->id, dsp.spool->error);
		log_info("fallback id=%s from=%s to=%s", d->notice->id,
		    d->channel->name, f->channel->name);
		dispatch_enqueue(f);
		handed++;
	}
	dispatch_commit_soon();
	return (handed);
}

static void
dispatch_fail(struct delivery *d, const char *error)
{
	struct delivery *item;
	size_t i;

	if (d->items != NULL) {
		/* A digest that failed: each item falls back on its own. */
		for (i = 0; i < d->nitems; i++) {
			item = d->items[i];
			item->attempts = d->attempts;
			dispatch_fail(item, error);
		}
		d->nitems = 0;
		delivery_free(d);
		return;
	}
	if (d->failed_over || d->pilot || dispatch_handover(d) > 0) {
		dsp.stats.failed++;
		dispatch_record(d, DSTATE_FAILED, error, 0);
	} else {
		dsp.stats.dead++;
		log_warnx("dead delivery id=%s channel=%s reason=\"%s\"",
		    d->id, d->channel->name, error ? error : "failed");
		dispatch_record(d, DSTATE_DEAD, error, 0);
	}
	delivery_free(d);
}

/*
 * Write an outcome; the pass's commit makes it durable. A retry (pending)
 * writes when its next attempt is due, next_ms on the wall clock. A
 * digest has no row of its own: its items take its outcome and attempts.
 */
static void
dispatch_record(struct delivery *d, enum spool_dstate st, const char *error,
    int64_t next_ms)
{
	int64_t now = deadline_wall_ms();
	size_t i;
	int rv;

	if (d->items != NULL) {
		for (i = 0; i < d->nitems; i++) {
			d->items[i]->attempts = d->attempts;
			dispatch_record(d->items[i], st, error, next_ms);
		}
		return;
	}
	if (dsp.spool == NULL)
		return;
	if (st == DSTATE_PENDING)
		rv = spool_retry_delivery(dsp.spool, d->id, d->attempts, error,
		    now, next_ms);
	else
		rv = spool_update_delivery(dsp.spool, d->id, st, d->attempts,
		    error, now);
	if (rv == -1)
		log_warnx("spool update id=%s failed: %s", d->id,
		    dsp.spool->error);
	dispatch_commit_soon();
}

void
dispatch_commit_soon(void)
{
	if (!dsp.commit_scheduled && dsp.commit_ev != NULL) {
		dsp.commit_scheduled = 1;
		event_active(dsp.commit_ev, 0, 0);
	}
}

static void
dispatch_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	dsp.commit_scheduled = 0;
	if (spool_commit(dsp.spool) == -1)
		log_warnx("spool commit of delivery outcomes failed: %s",
		    dsp.spool->error);
}

/*
 * An owner notice is a notice of the daemon's own, realtime, spooled and
 * delivered to notify.owner_channel like any other.
 */
void
dispatch_owner_notice(const char *event, const char *ref, const char *owners,
    const char *subject, const char *body)
{
	struct spool_delivery sd;
	struct route_result res;
	struct notice *n;
	char id[DELIVERY_ID_MAX + 1];

	dsp.stats.owner_notices++;
	if (dsp.conf->owner_channel < 0) {
		log_warnx("owner event=%s ref=%s owners=%s: %s (no "
		    "notify.owner_channel to tell them through)", event,
		    ref ? ref : "-", owners && *owners ? owners : "-", subject);
		return;
	}
	if ((n = notice_new_internal(event, ref, owners, subject, body)) ==
	    NULL) {
		log_warnx("owner notice %s: out of memory", event);
		return;
	}
	memset(&res, 0, sizeof(res));
	res.targets[0].channel = dsp.conf->owner_channel;
	res.ntargets = 1;
	dispatch_plan(n, &res, &sd, &id, 1);
	if (spool_add_notice(dsp.spool, n, &sd, 1) == -1)
		log_warnx("spool: owner notice %s not recorded: %s", n->id,
		    dsp.spool->error);
	log_info("owner notice id=%s event=%s ref=%s owners=%s", n->id, event,
	    ref ? ref : "-", owners && *owners ? owners : "-");
	dispatch_notice(n, &res);
	notice_unref(n);
	dispatch_commit_soon();
}

void
dispatch_tell_owner(const char *channel, const char *event, const char *text)
{
	const struct channel *ch = dispatch_channel(channel);
	const char *owner = ch != NULL ? ch->conf->owner : NULL;
	char subject[256];

	snprintf(subject, sizeof(subject), "Channel %s: %s", channel, text);
	dispatch_owner_notice(event, channel, owner ? owner : "", subject,
	    text);
}

/* The channel that now stands for ch: itself, or its replacement. */
static struct channel *
dispatch_current(struct channel *ch)
{
	while (ch->successor != NULL)
		ch = ch->successor;
	return (ch);
}

/* Point a delivery at another channel, keeping the counts right. */
void
dispatch_move(struct delivery *d, struct channel *to)
{
	if (d->channel == to)
		return;
	d->channel->held_bytes -= d->held_bytes;
	if (--d->channel->deliveries == 0 && d->channel->retired)
		event_active(dsp.reap_ev, 0, 0);
	d->channel = to;
	to->deliveries++;
	to->held_bytes += d->held_bytes;
}

/*
 * Take a new config between two loop passes. Channels whose settings are
 * the same stay as they are (their adapter state keeps working: the parsed
 * options are swapped into the new config); changed ones are started anew
 * and take over the old one's queue and digest, while what the old one has
 * in flight finishes there; removed ones are retired and drain. If a new
 * channel cannot start, nothing changes and -1 is returned. The old config
 * is kept until no retired channel points into it.
 */
int
dispatch_reconfigure(struct config *conf, struct config *old, char *err,
    size_t errlen)
{
	struct channel **chans, *prev;
	struct delivery *d, *next;
	const char **rotated;	/* the secret file that changed, or NULL */
	size_t i, j;
	void *args;

	if (dsp.nretired_confs == sizeof(dsp.retired_confs) /
	    sizeof(dsp.retired_confs[0])) {
		snprintf(err, errlen, "%zu earlier configs still have channels "
		    "draining; try again when they are done",
		    dsp.nretired_confs);
		return (-1);
	}
	chans = calloc(conf->nchannels + 1, sizeof(*chans));
	rotated = calloc(conf->nchannels + 1, sizeof(*rotated));
	if (chans == NULL || rotated == NULL) {
		free(chans);
		free(rotated);
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	for (i = 0; i < conf->nchannels; i++) {
		prev = dispatch_channel(conf->channels[i].name);
		/* A rotated secret: the same channel, started anew. */
		if (prev != NULL && config_channel_same(prev->conf,
		    &conf->channels[i]) &&
		    (rotated[i] = secrets_changed(prev)) == NULL)
			continue;
		chans[i] = channel_new(dsp.base, &conf->channels[i], (int)i,
		    prev, dispatch_done_cb, NULL, err, errlen);
		if (chans[i] == NULL) {
			for (j = 0; j < i; j++)
				channel_free(chans[j]);
			free(chans);
			free(rotated);
			return (-1);
		}
	}
	/* Past this point nothing fails. */
	for (i = 0; i < conf->nchannels; i++) {
		if (rotated[i] != NULL)
			log_info("channel %s starts anew: its secret file %s "
			    "changed", conf->channels[i].name, rotated[i]);
		prev = dispatch_channel(conf->channels[i].name);
		if (chans[i] == NULL) {
			args = conf->channels[i].args;
			conf->channels[i].args = prev->conf->args;
			((struct channel_conf *)prev->conf)->args = args;
			prev->conf = &conf->channels[i];
			prev->index = (int)i;
			prev->retired = -1;	/* kept: not retired below */
			chans[i] = prev;
		} else if (prev != NULL) {
			channel_takeover(chans[i]);
			while ((d = TAILQ_FIRST(&prev->queue)) != NULL) {
				TAILQ_REMOVE(&prev->queue, d, entry);
				prev->queued--;
				dispatch_move(d, chans[i]);
				channel_enqueue(chans[i], d);
			}
			batch_move(prev, chans[i]);
			dispatch_retire(prev, chans[i]);
		}
	}
	for (i = 0; i < dsp.nchannels; i++) {
		if (dsp.channels[i]->retired == -1)
			dsp.channels[i]->retired = 0;
		else if (!dsp.channels[i]->retired)
			dispatch_retire(dsp.channels[i], NULL);
	}
	free(rotated);
	free(dsp.channels);
	dsp.channels = chans;
	dsp.nchannels = conf->nchannels;
	dsp.conf = conf;
	TAILQ_FOREACH_SAFE(d, &dsp.all, all, next)
		if (d->route != NULL)
			d->route = dispatch_route_by_name(d->route->name);
	dsp.retired_confs[dsp.nretired_confs++] = old;
	event_active(dsp.reap_ev, 0, 0);
	return (0);
}

/* A channel left by a reload drains, then goes. */
static void
dispatch_retire(struct channel *ch, struct channel *successor)
{
	struct channel *r;

	ch->retired = 1;
	ch->successor = successor;
	/* Older retirees that pointed here now point past this one. */
	TAILQ_FOREACH(r, &dsp.retired, retired_entry)
		if (r->successor == ch)
			r->successor = successor;
	if (successor != NULL && ch->cstate == CHANNEL_PAUSED)
		channel_pause(successor);
	if (successor == NULL)
		batch_flush_now(ch);
	log_info("channel %s name=%s queued=%d inflight=%d",
	    successor ? "replaced" : "removed", ch->name, ch->queued,
	    ch->inflight);
	TAILQ_INSERT_TAIL(&dsp.retired, ch, retired_entry);
}

/* Whether a retired config still backs a live channel. */
static int
dispatch_conf_used(const struct config *cf)
{
	const struct channel *ch;

	TAILQ_FOREACH(ch, &dsp.retired, retired_entry)
		if (ch->conf >= cf->channels &&
		    ch->conf < cf->channels + cf->nchannels)
			return (1);
	return (0);
}

static void
dispatch_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch, *next;
	size_t i;

	(void)fd;
	(void)what;
	(void)arg;
	TAILQ_FOREACH_SAFE(ch, &dsp.retired, retired_entry, next) {
		if (ch->deliveries > 0)
			continue;
		TAILQ_REMOVE(&dsp.retired, ch, retired_entry);
		log_info("channel drained name=%s", ch->name);
		batch_channel_free(ch);
		channel_free(ch);
	}
	for (i = 0; i < dsp.nretired_confs; ) {
		if (dispatch_conf_used(dsp.retired_confs[i])) {
			i++;
			continue;
		}
		config_free(dsp.retired_confs[i]);
		dsp.retired_confs[i] = dsp.retired_confs[--dsp.nretired_confs];
	}
}
