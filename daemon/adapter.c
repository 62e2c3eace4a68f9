/*
 * adapter.c: the adapter registry and the lifecycle of a channel instance:
 * its bounded queue, its concurrency limit, and the counting and logging of
 * every delivery outcome before the dispatcher decides what comes next.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "breaker.h"
#include "config.h"
#include "jsonbuf.h"
#include "log.h"
#include "metrics.h"
#include "notice.h"
#include "secrets.h"

/* Deliveries started per kick before yielding to other events. */
#define CHANNEL_START_BATCH	256

static const struct adapter_ops *const adapters[] = {
	&adapter_file_ops,
	&adapter_exec_ops,
	&adapter_zmq_pub_ops,
	&adapter_discard_ops,
	&adapter_webhook_ops,
	&adapter_smtp_ops,
	NULL
};

static void		*adapter_zmq;

static void	channel_kick_cb(evutil_socket_t, short, void *);
static void	channel_start_work(struct channel *);
static struct delivery *channel_next(struct channel *, int *);
static void	channel_shed(struct channel *, struct delivery *);
static void	channel_finish(struct channel *, struct delivery *,
		    enum delivery_outcome, const char *, int);
static void	channel_log_outcome(const struct channel *,
		    const struct delivery *, enum delivery_outcome,
		    const char *);

void
adapter_init(void *zmq_ctx)
{
	adapter_zmq = zmq_ctx;
}

void *
adapter_zmq_ctx(void)
{
	return (adapter_zmq);
}

const struct adapter_ops *
adapter_find(const char *name)
{
	size_t i;

	for (i = 0; adapters[i] != NULL; i++)
		if (strcmp(adapters[i]->name, name) == 0)
			return (adapters[i]);
	return (NULL);
}

const char *
adapter_names(void)
{
	static char names[256];
	size_t i;

	if (names[0] != '\0')
		return (names);
	for (i = 0; adapters[i] != NULL; i++) {
		if (i > 0)
			strlcat(names, ", ", sizeof(names));
		strlcat(names, adapters[i]->name, sizeof(names));
	}
	return (names);
}

int64_t
adapter_now_ms(void)
{
	return (deadline_monotonic_ms());
}

struct channel *
channel_new(struct event_base *base, const struct channel_conf *conf,
    int index, struct channel *prev, channel_done_fn done_cb, void *done_arg,
    char *err, size_t errlen)
{
	struct channel *ch;

	if ((ch = calloc(1, sizeof(*ch))) == NULL ||
	    (ch->name = strdup(conf->name)) == NULL) {
		free(ch);
		snprintf(err, errlen, "channel %s: out of memory", conf->name);
		return (NULL);
	}
	ch->index = index;
	ch->conf = conf;
	if (prev != NULL && prev->conf->ops == conf->ops)
		ch->predecessor = prev;
	ch->base = base;
	ch->done_cb = done_cb;
	ch->done_arg = done_arg;
	TAILQ_INIT(&ch->queue);
	ch->kick = event_new(base, -1, 0, channel_kick_cb, ch);
	if (ch->kick == NULL || conf->ops->start(ch, err, errlen) == -1)
		goto fail;
	if (conf->health.enabled &&
	    (ch->breaker = breaker_new(ch, err, errlen)) == NULL) {
		conf->ops->stop(ch);
		goto fail;
	}
	ch->cstate = CHANNEL_UP;
	return (ch);
fail:
	if (ch->kick != NULL)
		event_free(ch->kick);
	secrets_free(ch);
	free(ch->name);
	free(ch);
	return (NULL);
}

void
channel_takeover(struct channel *ch)
{
	if (ch->predecessor != NULL && ch->conf->ops->takeover != NULL)
		ch->conf->ops->takeover(ch, ch->predecessor);
	ch->predecessor = NULL;
}

/*
 * Stop the adapter (what is in flight comes back RETRYABLE through done_cb)
 * and hand every queued delivery back the same way, so the dispatcher is the
 * one place that decides what becomes of a delivery.
 */
void
channel_free(struct channel *ch)
{
	struct delivery *d;

	if (ch == NULL)
		return;
	event_free(ch->kick);
	ch->kick = NULL;
	ch->cstate = CHANNEL_PAUSED;
	breaker_free(ch->breaker);
	ch->breaker = NULL;
	ch->conf->ops->stop(ch);
	while ((d = TAILQ_FIRST(&ch->queue)) != NULL) {
		TAILQ_REMOVE(&ch->queue, d, entry);
		ch->queued--;
		ch->done_cb(ch, d, OUTCOME_RETRYABLE, "channel stopped",
		    ch->done_arg);
	}
	secrets_free(ch);
	free(ch->name);
	free(ch);
}

int
channel_has_room(const struct channel *ch)
{
	/* What the pass being accepted will add counts already. */
	return (ch->queued + ch->inflight + ch->reserved <
	    ch->conf->queue_max && ch->held_bytes + ch->reserved_bytes <
	    (size_t)ch->conf->queue_max_bytes);
}

size_t
delivery_held_bytes(const struct delivery *d)
{
	size_t bytes = sizeof(*d) + d->nitems * sizeof(*d->items);

	if (d->notice != NULL)
		bytes += notice_held_bytes(d->notice);
	return (bytes);
}

void
channel_enqueue(struct channel *ch, struct delivery *d)
{
	d->channel = ch;
	TAILQ_INSERT_TAIL(&ch->queue, d, entry);
	ch->queued++;
	ch->stats.queued_total++;
	if (ch->kick != NULL)
		event_active(ch->kick, 0, 0);
}

/* What operators see: paused by them, down while its breaker is open. */
enum channel_state
channel_state(const struct channel *ch)
{
	if (ch->cstate == CHANNEL_PAUSED)
		return (CHANNEL_PAUSED);
	if (ch->breaker != NULL && breaker_state(ch->breaker) == BREAKER_OPEN)
		return (CHANNEL_DOWN);
	return (ch->cstate);
}

/* Paused: nothing new starts; what is in flight finishes. */
void
channel_pause(struct channel *ch)
{
	if (ch->cstate == CHANNEL_UP)
		log_info("channel paused name=%s queued=%d", ch->name,
		    ch->queued);
	ch->cstate = CHANNEL_PAUSED;
}

void
channel_resume(struct channel *ch)
{
	if (ch->cstate != CHANNEL_PAUSED)
		return;
	ch->cstate = CHANNEL_UP;
	log_info("channel resumed name=%s queued=%d", ch->name, ch->queued);
	if (ch->kick != NULL)
		event_active(ch->kick, 0, 0);
}

void
channel_reopen(struct channel *ch)
{
	if (ch->conf->ops->reopen != NULL)
		ch->conf->ops->reopen(ch);
}

void
channel_done(struct channel *ch, struct delivery *d,
    enum delivery_outcome outcome, const char *error)
{
	channel_finish(ch, d, outcome, error, 1);
}

/* An outcome, counted by the breaker unless the breaker caused it. */
static void
channel_finish(struct channel *ch, struct delivery *d,
    enum delivery_outcome outcome, const char *error, int to_breaker)
{
	ch->inflight--;
	ch->stats.outcomes[outcome]++;
	metrics_observe_delivery(ch, outcome, adapter_now_ms() - d->started_ms);
	if (outcome != OUTCOME_DELIVERED && error != NULL)
		strlcpy(ch->last_error, error, sizeof(ch->last_error));
	channel_log_outcome(ch, d, outcome, error);
	if (to_breaker && ch->breaker != NULL)
		breaker_outcome(ch->breaker, outcome, error);
	d->adapter_data = NULL;
	ch->done_cb(ch, d, outcome, error, ch->done_arg);
	if (!TAILQ_EMPTY(&ch->queue) && ch->kick != NULL)
		event_active(ch->kick, 0, 0);
}

static void
channel_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	channel_start_work(arg);
}

/* Start queued deliveries while the channel has room in flight. */
static void
channel_start_work(struct channel *ch)
{
	struct delivery *d;
	int started = 0;

	while (ch->cstate == CHANNEL_UP && ch->inflight <
	    ch->conf->concurrency) {
		if (started++ >= CHANNEL_START_BATCH) {
			event_active(ch->kick, 0, 0);
			return;
		}
		if ((d = channel_next(ch, &started)) == NULL)
			return;
		TAILQ_REMOVE(&ch->queue, d, entry);
		ch->queued--;
		ch->inflight++;
		d->attempts++;
		d->started_ms = adapter_now_ms();
		ch->conf->ops->deliver(ch, d);
	}
}

/*
 * The first queued delivery that may start. With a breaker open, those
 * that have a fallback are sent there on the way and the others are left
 * queued until it closes; *budget bounds the work of one pass.
 */
static struct delivery *
channel_next(struct channel *ch, int *budget)
{
	struct delivery *d, *next;

	if (ch->breaker == NULL)
		return (TAILQ_FIRST(&ch->queue));
	TAILQ_FOREACH_SAFE(d, &ch->queue, entry, next) {
		if ((*budget)++ >= CHANNEL_START_BATCH) {
			event_active(ch->kick, 0, 0);
			return (NULL);
		}
		switch (breaker_admit(ch->breaker, d)) {
		case BREAKER_PASS:
			return (d);
		case BREAKER_SHED:
			channel_shed(ch, d);
			break;
		case BREAKER_HOLD:
			break;
		}
	}
	return (NULL);
}

/* Fail a delivery without trying it: its fallback takes it. */
static void
channel_shed(struct channel *ch, struct delivery *d)
{
	char why[320];

	snprintf(why, sizeof(why), "circuit breaker open (%s)",
	    breaker_reason(ch->breaker));
	TAILQ_REMOVE(&ch->queue, d, entry);
	ch->queued--;
	ch->inflight++;
	d->started_ms = adapter_now_ms();
	channel_finish(ch, d, OUTCOME_PERMANENT, why, 0);
}

static void
channel_log_outcome(const struct channel *ch, const struct delivery *d,
    enum delivery_outcome outcome, const char *error)
{
	static const char *const names[OUTCOME_COUNT] = { "delivered",
	    "retryable", "permanent" };
	int64_t ms = adapter_now_ms() - d->started_ms;

	if (outcome == OUTCOME_DELIVERED)
		log_info("delivery channel=%s id=%s outcome=%s attempt=%d "
		    "ms=%lld", ch->name, d->id, names[outcome], d->attempts,
		    (long long)ms);
	else
		log_warnx("delivery channel=%s id=%s outcome=%s attempt=%d "
		    "ms=%lld error=\"%s\"", ch->name, d->id, names[outcome],
		    d->attempts, (long long)ms, error ? error : "");
}

/*
 * The delivery's own fields, then the notice's canonical JSON spliced in
 * after its opening brace: no re-serialisation per channel. A digest
 * carries its items' notices in "items".
 */
char *
delivery_json(const struct delivery *d, size_t *lenp)
{
	struct jsonbuf jb;
	size_t size = 256, i;

	if (d->items == NULL && d->notice->json == NULL)
		return (NULL);
	for (i = 0; i < d->nitems; i++)
		size += d->items[i]->notice->json_len + 1;
	if (jsonbuf_init(&jb, size + (d->items == NULL ?
	    d->notice->json_len : 0)) == -1)
		return (NULL);
	jsonbuf_put(&jb, "{\"delivery_id\":");
	jsonbuf_string(&jb, d->id);
	jsonbuf_put(&jb, ",\"channel\":");
	jsonbuf_string(&jb, d->channel->name);
	jsonbuf_put(&jb, ",\"attempt\":");
	jsonbuf_int(&jb, d->attempts);
	jsonbuf_put(&jb, d->pilot ? ",\"pilot\":true," : ",");
	if (d->fallback) {
		jsonbuf_put(&jb, "\"fallback_of\":");
		jsonbuf_string(&jb, d->fallback_of_name);
		jsonbuf_put(&jb, ",");
	}
	if (d->level > 0) {
		jsonbuf_put(&jb, "\"escalation\":{\"level\":");
		jsonbuf_int(&jb, d->level);
		jsonbuf_put(&jb, ",\"round\":");
		jsonbuf_int(&jb, d->round);
		jsonbuf_put(&jb, ",\"waited_ms\":");
		jsonbuf_int(&jb, d->waited_ms);
		jsonbuf_put(&jb, "},");
	}
	if (d->items == NULL) {
		jsonbuf_putn(&jb, d->notice->json + 1, d->notice->json_len - 1);
		return (jsonbuf_finish(&jb, lenp));
	}
	jsonbuf_put(&jb, "\"digest\":true,\"count\":");
	jsonbuf_int(&jb, (long long)d->nitems);
	jsonbuf_put(&jb, ",\"items\":[");
	for (i = 0; i < d->nitems; i++) {
		if (i > 0)
			jsonbuf_put(&jb, ",");
		jsonbuf_putn(&jb, d->items[i]->notice->json,
		    d->items[i]->notice->json_len);
	}
	jsonbuf_put(&jb, "]}");
	return (jsonbuf_finish(&jb, lenp));
}
