/*
 * breaker.c: health probes and the circuit breaker of one channel, a state
 * machine of three states:
 *
 *	closed    --(max_failures failures in a row)-->  open
 *	open      --(interval)-->  half-open: one probe (or one trial delivery)
 *	half-open --(it succeeds)-->  closed
 *	half-open --(it fails)-->  open, for another interval
 *
 * Failures are delivery outcomes other than delivered, and failed probes.
 * A probe is the adapter's own asynchronous one (ops->probe: an HTTP HEAD,
 * an SMTP NOOP), else its synchronous health check; a channel with neither
 * lets one delivery through as the half-open trial instead. One timer per
 * breaker: channels are few, and the timer also paces the probes.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "breaker.h"
#include "config.h"
#include "deadline.h"
#include "dispatch.h"
#include "duration.h"
#include "log.h"
#include "spool.h"

struct breaker {
	struct channel		*ch;
	enum breaker_state	 state;
	int			 failures;	/* in a row */
	int			 probing;	/* a probe is running */
	int			 trial;		/* half-open, no probe */
	struct event		*timer;
	int64_t			 since_ms;	/* wall clock */
	int64_t			 opened_ms;	/* monotonic */
	char			 reason[256];
	struct breaker_stats	 stats;
};

static breaker_notify_fn breaker_notify = dispatch_tell_owner;
/* Where the spells of open breakers are kept, for reports; NULL: not. */
static struct spool	*breaker_spool;

static void	breaker_timer_cb(evutil_socket_t, short, void *);
static void	breaker_arm(struct breaker *);
static int	breaker_can_probe(const struct breaker *);
static void	breaker_probe(struct breaker *);
static void	breaker_probe_result(struct breaker *, int, const char *);
static void	breaker_failure(struct breaker *, const char *);
static void	breaker_open(struct breaker *);
static void	breaker_close(struct breaker *, const char *);
static void	breaker_set(struct breaker *, enum breaker_state);
static int	breaker_has_fallback(const struct breaker *,
		    const struct delivery *);
static void	breaker_kick(struct breaker *);
static void	breaker_record(struct breaker *, int);

/*
 * A spell left open in the spool is one whose daemon stopped without
 * closing it: it crashed, or was killed (a daemon that stops closes its
 * open breakers' spells). It is over now: every breaker starts closed.
 * The spell then covers the time the daemon was down, when the channel
 * delivered nothing either; the time is not known any better.
 */
void
breaker_init(struct spool *sp)
{
	breaker_spool = sp;
	if (sp != NULL && spool_breaker_closed(sp, NULL, 0,
	    deadline_wall_ms()) == -1)
		log_warnx("spool: cannot end the breaker spells left open: %s",
		    sp->error);
}

void
breaker_set_notify(breaker_notify_fn fn)
{
	breaker_notify = fn != NULL ? fn : dispatch_tell_owner;
}

const char *
breaker_state_name(enum breaker_state s)
{
	static const char *const names[BREAKER_STATE_COUNT] = { "closed",
	    "open", "half-open" };

	return ((unsigned)s < BREAKER_STATE_COUNT ? names[s] : "?");
}

struct breaker *
breaker_new(struct channel *ch, char *err, size_t errlen)
{
	struct breaker *b;

	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->timer = evtimer_new(ch->base, breaker_timer_cb, b)) == NULL) {
		free(b);
		snprintf(err, errlen, "channel %s: out of memory", ch->name);
		return (NULL);
	}
	b->ch = ch;
	b->state = BREAKER_CLOSED;
	breaker_arm(b);
	return (b);
}

/*
 * A probe still running is the adapter's to cancel (its stop). An open
 * breaker's spell ends here: at a stop, or when a reload removes its
 * channel or health_check or starts the channel anew (a new breaker
 * starts closed).
 */
void
breaker_free(struct breaker *b)
{
	if (b == NULL)
		return;
	if (b->state != BREAKER_CLOSED)
		breaker_record(b, 0);
	event_free(b->timer);
	free(b);
}

enum breaker_state
breaker_state(const struct breaker *b)
{
	return (b->state);
}

int
breaker_failures(const struct breaker *b)
{
	return (b->failures);
}

int64_t
breaker_since_ms(const struct breaker *b)
{
	return (b->since_ms);
}

const struct breaker_stats *
breaker_stats(const struct breaker *b)
{
	return (&b->stats);
}

const char *
breaker_reason(const struct breaker *b)
{
	return (b->reason);
}

static void
breaker_arm(struct breaker *b)
{
	int64_t ms = b->ch->conf->health.interval_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(b->timer, &tv);
}

static int
breaker_can_probe(const struct breaker *b)
{
	return (b->ch->conf->ops->probe != NULL ||
	    b->ch->conf->ops->health != NULL);
}

/*
 * Closed: probe now and then, so that a dead channel is found without
 * traffic. Open: the interval is over, go half-open and probe (or let a
 * trial delivery through). Half-open: probe again if nothing is running.
 */
static void
breaker_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct breaker *b = arg;

	(void)fd;
	(void)what;
	breaker_arm(b);
	switch (b->state) {
	case BREAKER_CLOSED:
		breaker_probe(b);
		break;
	case BREAKER_OPEN:
		breaker_set(b, BREAKER_HALF_OPEN);
		log_info("breaker channel=%s state=half-open", b->ch->name);
		if (breaker_can_probe(b))
			breaker_probe(b);
		else
			breaker_kick(b);	/* the trial delivery */
		break;
	case BREAKER_HALF_OPEN:
		if (!b->trial)
			breaker_probe(b);
		break;
	default:
		break;
	}
}

static void
breaker_probe(struct breaker *b)
{
	const struct adapter_ops *ops = b->ch->conf->ops;
	char err[256];

	if (b->probing || !breaker_can_probe(b))
		return;
	if (ops->probe != NULL) {
		b->probing = 1;
		if (ops->probe(b->ch, err, sizeof(err)) == -1) {
			b->probing = 0;
			breaker_probe_result(b, 0, err);
		}
		return;
	}
	if (ops->health(b->ch) == 0)
		breaker_probe_result(b, 1, NULL);
	else
		breaker_probe_result(b, 0, "health check failed");
}

void
breaker_probe_done(struct channel *ch, int ok, const char *error)
{
	struct breaker *b = ch->breaker;

	if (b == NULL || !b->probing)
		return;
	b->probing = 0;
	breaker_probe_result(b, ok, error);
}

/* A probe begun while closed says nothing once deliveries opened it. */
static void
breaker_probe_result(struct breaker *b, int ok, const char *error)
{
	if (ok)
		b->stats.probes_ok++;
	else
		b->stats.probes_failed++;
	log_debug("breaker channel=%s probe=%s state=%s%s%s", b->ch->name,
	    ok ? "ok" : "failed", breaker_state_name(b->state),
	    ok ? "" : " error=", ok ? "" : error);
	switch (b->state) {
	case BREAKER_CLOSED:
		if (!ok)
			breaker_failure(b, error);
		break;
	case BREAKER_HALF_OPEN:
		if (ok)
			breaker_close(b, "a health probe succeeded");
		else {
			strlcpy(b->reason, error, sizeof(b->reason));
			breaker_set(b, BREAKER_OPEN);
			log_info("breaker channel=%s state=open probe failed: "
			    "%s", b->ch->name, error);
		}
		break;
	default:
		break;
	}
}

enum breaker_verdict
breaker_admit(struct breaker *b, const struct delivery *d)
{
	if (b->state == BREAKER_CLOSED)
		return (BREAKER_PASS);
	if (b->state == BREAKER_HALF_OPEN && !breaker_can_probe(b) &&
	    !b->trial && b->ch->inflight == 0) {
		b->trial = 1;
		return (BREAKER_PASS);
	}
	if (!breaker_has_fallback(b, d))
		return (BREAKER_HOLD);
	b->stats.shed++;
	return (BREAKER_SHED);
}

/*
 * Whether failing d now hands it on: as the dispatcher sees it, a shadow
 * copy just ends, and a fallback or an escalation does not cascade. What
 * would have nowhere to go waits in the queue for the breaker to close.
 */
static int
breaker_has_fallback(const struct breaker *b, const struct delivery *d)
{
	const struct channel_conf *cc = b->ch->conf;
	const int *fb;
	size_t i, n;

	if (d->pilot)
		return (1);
	if (d->fallback || d->level > 0)
		return (0);
	if (d->route != NULL && d->route->nfallback > 0) {
		fb = d->route->fallback;
		n = d->route->nfallback;
	} else {
		fb = cc->fallback;
		n = cc->nfallback;
	}
	for (i = 0; i < n; i++)
		if (fb[i] != b->ch->index)
			return (1);
	return (0);
}

void
breaker_outcome(struct breaker *b, enum delivery_outcome outcome,
    const char *error)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		if (outcome == OUTCOME_DELIVERED)
			b->failures = 0;
		else
			breaker_failure(b, error != NULL ? error : "failed");
		break;
	case BREAKER_HALF_OPEN:
		if (!b->trial)
			break;	/* one that started before it opened */
		b->trial = 0;
		if (outcome == OUTCOME_DELIVERED)
			breaker_close(b, "a trial delivery succeeded");
		else {
			strlcpy(b->reason, error ? error : "failed",
			    sizeof(b->reason));
			breaker_set(b, BREAKER_OPEN);
		}
		break;
	default:
		break;
	}
}

static void
breaker_failure(struct breaker *b, const char *error)
{
	b->failures++;
	strlcpy(b->reason, error != NULL ? error : "failed",
	    sizeof(b->reason));
	if (b->ch->conf->health.max_failures > 0 &&
	    b->failures >= b->ch->conf->health.max_failures)
		breaker_open(b);
}

static void
breaker_set(struct breaker *b, enum breaker_state s)
{
	b->state = s;
	if (s == BREAKER_OPEN)
		b->trial = 0;
}

/* Closed to open: the owner hears of it once. */
static void
breaker_open(struct breaker *b)
{
	char text[512], every[32];

	breaker_set(b, BREAKER_OPEN);
	b->since_ms = deadline_wall_ms();
	b->opened_ms = deadline_monotonic_ms();
	b->stats.opened++;
	evtimer_del(b->timer);
	breaker_arm(b);
	duration_format(b->ch->conf->health.interval_ms, every, sizeof(every));
	log_warnx("breaker channel=%s state=open failures=%d reason=\"%s\"",
	    b->ch->name, b->failures, b->reason);
	breaker_record(b, 1);
	snprintf(text, sizeof(text), "circuit breaker opened after %d "
	    "failures in a row (last: %s); deliveries with a fallback go "
	    "there, the others wait; probing every %s", b->failures,
	    b->reason, every);
	breaker_notify(b->ch->name, "breaker_open", text);
	breaker_kick(b);
}

/* Half-open to closed: the owner hears of it once, and work resumes. */
static void
breaker_close(struct breaker *b, const char *why)
{
	char text[512], took[32];
	int64_t ms = deadline_monotonic_ms() - b->opened_ms;

	breaker_set(b, BREAKER_CLOSED);
	b->failures = 0;
	breaker_record(b, 0);
	b->since_ms = deadline_wall_ms();
	b->reason[0] = '\0';
	duration_format(ms >= 1000 ? ms / 1000 * 1000 : ms > 0 ? ms : 1,
	    took, sizeof(took));
	log_info("breaker channel=%s state=closed open_for=%s", b->ch->name,
	    took);
	snprintf(text, sizeof(text), "circuit breaker closed: %s after %s "
	    "open; deliveries resume", why, took);
	breaker_notify(b->ch->name, "breaker_closed", text);
	breaker_kick(b);
}

/*
 * A spell of the open breaker begins (opened) or ends, in the spool
 * (docs/report.md, "breaker open"): known by its channel and since_ms,
 * the wall clock of its opening. Half-open is still open. Committed at
 * the end of the pass, like delivery outcomes.
 */
static void
breaker_record(struct breaker *b, int opened)
{
	int rc;

	if (breaker_spool == NULL)
		return;
	if (opened)
		rc = spool_breaker_opened(breaker_spool, b->ch->name,
		    b->since_ms, b->reason);
	else
		rc = spool_breaker_closed(breaker_spool, b->ch->name,
		    b->since_ms, deadline_wall_ms());
	if (rc == -1)
		log_warnx("spool: cannot record that the breaker of channel "
		    "%s %s: %s", b->ch->name, opened ? "opened" : "closed",
		    breaker_spool->error);
	dispatch_commit_soon();
}

static void
breaker_kick(struct breaker *b)
{
	if (b->ch->kick != NULL)
		event_active(b->ch->kick, 0, 0);
}

/* Channel names are libconfig setting names: no quote or backslash. */
void
breaker_write_metrics(struct evbuffer *buf)
{
	static const char *const fams[][3] = {
		{ "channel_breaker_state", "gauge", "Circuit breaker of a "
		    "channel with health_check: 0 closed, 1 open, "
		    "2 half-open." },
		{ "channel_breaker_opened_total", "counter", "Times a "
		    "channel's circuit breaker opened." },
		{ "channel_probes_total", "counter", "Health probes of a "
		    "channel, by result." },
	};
	const struct breaker *b;
	struct channel *ch;
	size_t f, i;

	for (f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		evbuffer_add_printf(buf, "# HELP switchboard_%s %s\n"
		    "# TYPE switchboard_%s %s\n", fams[f][0], fams[f][2],
		    fams[f][0], fams[f][1]);
		for (i = 0; (ch = dispatch_channel_at(i)) != NULL; i++) {
			if ((b = ch->breaker) == NULL)
				continue;
			if (f == 0)
				evbuffer_add_printf(buf, "switchboard_%s{"
				    "channel=\"%s\"} %d\n", fams[f][0],
				    ch->name, (int)b->state);
			else if (f == 1)
				evbuffer_add_printf(buf, "switchboard_%s{"
				    "channel=\"%s\"} %llu\n", fams[f][0],
				    ch->name,
				    (unsigned long long)b->stats.opened);
			else
				evbuffer_add_printf(buf, "switchboard_%s{"
				    "channel=\"%s\",result=\"ok\"} %llu\n"
				    "switchboard_%s{channel=\"%s\","
				    "result=\"failed\"} %llu\n", fams[f][0],
				    ch->name,
				    (unsigned long long)b->stats.probes_ok,
				    fams[f][0], ch->name,
				    (unsigned long long)b->stats.probes_failed);
		}
	}
}
