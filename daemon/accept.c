/*
 * accept.c: acceptance. Each request of a batch goes envelope → classify →
 * route → spool; the batch's notices are then committed in one transaction
 * (group commit) and only after that do their "ok" replies go out and
 * their deliveries start: an "ok" is a promise that the notice is safe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "accept.h"
#include "auth.h"
#include "classify.h"
#include "config.h"
#include "deadline.h"
#include "dispatch.h"
#include "durable.h"
#include "envelope.h"
#include "escalate.h"
#include "ingress.h"
#include "limit.h"
#include "log.h"
#include "route.h"
#include "spool.h"

/*
 * A notice (or an ack) written to the spool in this pass, waiting for the
 * commit before its reply goes out.
 */
struct accepted {
	struct ingress_msg	*msg;
	struct notice		*notice;	/* NULL for an ack */
	struct route_result	 res;
	char			 ref[SB_ID_MAX + 1];	/* an ack's */
	int64_t			 response_ms;
	int			 dup_of;	/* a resend of pass[dup_of] */
};

/* An "ok" reply written, waiting for the flush that makes it true. */
struct held {
	TAILQ_ENTRY(held)	 entry;
	uint64_t		 gen;
	struct ingress_reply	*reply;
	char			*body;
	size_t			 len;
	char			 id[SB_ID_MAX + 1];
};
TAILQ_HEAD(held_list, held);

static struct {
	const struct config	*conf;
	struct spool		*spool;
	struct limits		*limits;
	struct durable		*durable;	/* NULL: sync off */
	struct held_list	 held;
	const char		*closed;	/* reason, when refusing */
	int			 spool_failing;
	struct accept_stats	 stats;
	struct accepted		 pass[INGRESS_BATCH];
	size_t			 npass;
} acc;

static void	accept_one(struct ingress_msg *);
static void	accept_notice(struct ingress_msg *, struct notice *);
static int	accept_limits(struct notice *, struct envelope_error *,
		    const char **);
static void	accept_ack(struct ingress_msg *, const struct ack *);
static int	accept_duplicate(struct ingress_msg *, struct notice *);
static void	accept_reject(struct ingress_msg *, struct envelope_error *);
static void	accept_commit(void);
static int	accept_dup_in_pass(struct ingress_msg *, struct notice *);
static void	accept_reply_dup(struct accepted *, const struct accepted *);
static void	accept_hold(struct ingress_msg *, uint64_t, const char *);
static void	accept_flushed_cb(uint64_t, int, const char *, void *);
static void	accept_log_reject(const struct ingress_msg *,
		    const struct envelope_error *);

void
accept_init(const struct config *conf, struct spool *spool)
{
	memset(&acc, 0, sizeof(acc));
	acc.conf = conf;
	acc.spool = spool;
	TAILQ_INIT(&acc.held);
	if ((acc.limits = limits_new(conf->limits, conf->nlimits)) == NULL)
		fatal("limits_new");
}

/*
 * With spool.sync = normal, "ok" replies wait for a flush by the durable
 * thread instead of an fsync inside every commit on the loop.
 */
int
accept_durable(struct event_base *base, char *err, size_t errlen)
{
	acc.durable = durable_new(base, acc.spool, accept_flushed_cb, NULL,
	    err, errlen);
	return (acc.durable == NULL ? -1 : 0);
}

/* Answer every held reply (shutdown: before ingress closes). */
void
accept_flush(void)
{
	if (acc.durable != NULL && !TAILQ_EMPTY(&acc.held))
		durable_wait(acc.durable);
}

void
accept_set_config(const struct config *conf)
{
	struct limits *l;

	if ((l = limits_new(conf->limits, conf->nlimits)) == NULL) {
		log_warnx("reload: out of memory for limits; keeping the old");
		return;
	}
	limits_carry(l, acc.limits);
	limits_free(acc.limits);
	acc.limits = l;
	acc.conf = conf;
}

void
accept_shutdown(void)
{
	accept_flush();
	durable_free(acc.durable);
	acc.durable = NULL;
	limits_free(acc.limits);
	acc.limits = NULL;
}

void
accept_close(const char *reason)
{
	acc.closed = reason;
}

const struct accept_stats *
accept_stats(void)
{
	return (&acc.stats);
}

void
accept_batch(struct ingress_msg **msgs, size_t n, void *arg)
{
	size_t i;

	(void)arg;
	acc.npass = 0;
	for (i = 0; i < n; i++)
		accept_one(msgs[i]);
	accept_commit();
}

static void
accept_one(struct ingress_msg *m)
{
	struct envelope env;
	struct envelope_error err;

	if (acc.closed != NULL) {
		envelope_error_set(&err, SB_ERR_UNAVAILABLE, NULL, "%s",
		    acc.closed);
		accept_reject(m, &err);
		return;
	}
	if (m->nroute == 0 && !m->fire_and_forget)
		return;
	if (envelope_parse(zmq_msg_data(&m->payload), zmq_msg_size(&m->payload),
	    (size_t)acc.conf->max_message_size, &env, &err) == -1) {
		accept_reject(m, &err);
		return;
	}
	switch (env.type) {
	case ENVELOPE_PING:
		if (!m->fire_and_forget)
			m->reply = envelope_reply_pong(&m->reply_len);
		break;
	case ENVELOPE_ACK:
		accept_ack(m, &env.ack);
		break;
	case ENVELOPE_NOTICE:
		/* A CURVE client publishes only what its key may. */
		if (auth_check(acc.conf, &m->payload, env.notice, &err) ==
		    -1) {
			strlcpy(err.id, env.notice->id, sizeof(err.id));
			accept_reject(m, &err);
			break;
		}
		accept_notice(m, env.notice);
		env.notice = NULL;
		break;
	}
	envelope_clear(&env);
}

/* Route and spool one notice; its reply waits for the commit. */
static void
accept_notice(struct ingress_msg *m, struct notice *n)
{
	struct envelope_error err;
	struct accepted *a = &acc.pass[acc.npass];
	struct spool_delivery sd[ROUTE_TARGETS_MAX];
	char ids[ROUTE_TARGETS_MAX][DELIVERY_ID_MAX + 1], why[256];
	const char *demoted_by;
	size_t nd;

	if (n->id[0] == '\0')
		notice_assign_id(n);
	else if (accept_duplicate(m, n))
		return;
	n->received_ms = deadline_wall_ms();
	n->class = classify_notice(acc.conf, n);
	if (accept_limits(n, &err, &demoted_by) == -1)
		goto reject;
	if (route_notice(acc.conf, n, &a->res) == 0) {
		envelope_error_set(&err, SB_ERR_NO_ROUTE, NULL, "%s",
		    a->res.reason);
		goto reject;
	}
	if (dispatch_has_room(&a->res, why, sizeof(why)) == -1) {
		envelope_error_set(&err, SB_ERR_UNAVAILABLE, NULL, "%s", why);
		goto reject;
	}
	if (notice_encode(n) == -1) {
		envelope_error_set(&err, SB_ERR_UNAVAILABLE, NULL,
		    "out of memory encoding the notice");
		goto reject;
	}
	nd = dispatch_plan(n, &a->res, sd, ids, ROUTE_TARGETS_MAX);
	if (spool_add_notice(acc.spool, n, sd, nd) == -1) {
		if (acc.spool->refused)
			envelope_error_set(&err, SB_ERR_UNAVAILABLE, NULL,
			    "%s; the notice was not accepted: try again once "
			    "that delivery has ended, or use a new id",
			    acc.spool->error);
		else
			envelope_error_set(&err, SB_ERR_UNAVAILABLE, NULL,
			    "the spool cannot be written (%s); the notice was "
			    "not accepted, try again later", acc.spool->error);
		goto reject;
	}
	/* For reports: the notices a cap demoted (docs/report.md). */
	if (demoted_by != NULL && spool_demoted(acc.spool, n->id,
	    demoted_by) == -1) {
		envelope_error_set(&err, SB_ERR_UNAVAILABLE, NULL,
		    "the spool cannot be written (%s); the notice was not "
		    "accepted, try again later", acc.spool->error);
		goto reject;
	}
	if (n->class == CLASS_INTERACTIVE &&
	    escalate_track(n, a->res.targets[0].route) == -1) {
		envelope_error_set(&err, SB_ERR_UNAVAILABLE, NULL,
		    "the spool cannot be written (%s); the notice was not "
		    "accepted, try again later", acc.spool->error);
		goto reject;
	}
	/* Only now: a notice refused above takes no slot of any limit. */
	limits_count(acc.limits, n->received_ms);
	a->msg = m;
	a->notice = n;
	a->ref[0] = '\0';
	a->dup_of = -1;
	dispatch_reserve(n, &a->res, 1);
	acc.npass++;
	return;
reject:
	strlcpy(err.id, n->id, sizeof(err.id));
	accept_reject(m, &err);
	notice_unref(n);
}

/*
 * Frequency caps: over a cap, a notice is demoted to batch or refused,
 * as its limit says. *demoted_by: the limit that made it batch, NULL when
 * none did (a batch notice over a demoting cap is not changed by it).
 */
static int
accept_limits(struct notice *n, struct envelope_error *err,
    const char **demoted_by)
{
	char why[256];

	*demoted_by = NULL;
	switch (limits_check(acc.limits, n, n->received_ms, why,
	    sizeof(why))) {
	case LIMIT_REJECTED:
		envelope_error_set(err, SB_ERR_RATE_LIMITED, NULL, "%s", why);
		return (-1);
	case LIMIT_DEMOTED:
		if (n->class != CLASS_BATCH) {
			log_info("demoted id=%s from=%s to=batch reason=\"%s\"",
			    n->id, notice_class_name(n->class), why);
			*demoted_by = limits_verdict_by(acc.limits);
		}
		n->class = CLASS_BATCH;
		return (0);
	default:
		return (0);
	}
}

/* An ack stops its notice's escalation; the reply waits for the commit. */
static void
accept_ack(struct ingress_msg *m, const struct ack *ack)
{
	struct envelope_error err;
	struct accepted *a = &acc.pass[acc.npass];
	enum sb_error code;
	char why[256];

	code = escalate_ack(ack, &a->response_ms, why, sizeof(why));
	if (code != SB_OK) {
		envelope_error_set(&err, code, code == SB_ERR_UNAVAILABLE ?
		    NULL : "ref", "%s", why);
		strlcpy(err.id, ack->ref, sizeof(err.id));
		accept_reject(m, &err);
		return;
	}
	a->msg = m;
	a->notice = NULL;
	a->dup_of = -1;
	strlcpy(a->ref, ack->ref, sizeof(a->ref));
	acc.npass++;
}

/*
 * A resend of a notice of this very pass: its "ok" must wait for the same
 * commit as the first, which may yet fail.
 */
static int
accept_dup_in_pass(struct ingress_msg *m, struct notice *n)
{
	struct accepted *a;
	size_t i;

	for (i = 0; i < acc.npass; i++) {
		a = &acc.pass[i];
		if (a->notice == NULL || strcmp(a->notice->id, n->id) != 0)
			continue;
		a = &acc.pass[acc.npass++];
		a->msg = m;
		a->notice = NULL;
		a->dup_of = (int)i;
		strlcpy(a->ref, n->id, sizeof(a->ref));
		log_info("duplicate id=%s (in the same pass)", n->id);
		notice_unref(n);
		return (1);
	}
	return (0);
}

/* An id seen within the dedup window is answered again, not routed. */
static int
accept_duplicate(struct ingress_msg *m, struct notice *n)
{
	struct spool_seen seen;
	const char *chans[ROUTE_TARGETS_MAX];
	char *p, *save = NULL;
	size_t nchans = 0;
	int64_t since = deadline_wall_ms() - acc.conf->dedup_window_ms;

	if (spool_seen(acc.spool, n->id, since, &seen) != 1)
		return (0);
	acc.stats.duplicates++;
	if (accept_dup_in_pass(m, n))
		return (1);
	n->class = notice_class_parse(seen.class_name);
	for (p = strtok_r(seen.channels, ",", &save); p != NULL &&
	    nchans < ROUTE_TARGETS_MAX; p = strtok_r(NULL, ",", &save))
		chans[nchans++] = p;
	log_info("duplicate id=%s", n->id);
	if (!m->fire_and_forget)
		m->reply = envelope_reply_notice(n, chans, nchans, 1,
		    &m->reply_len);
	/* The first may still be on its way to the disk: wait for it too. */
	if (acc.durable != NULL)
		accept_hold(m, durable_request(acc.durable), n->id);
	notice_unref(n);
	return (1);
}

static void
accept_reject(struct ingress_msg *m, struct envelope_error *err)
{
	acc.stats.rejected[err->code]++;
	accept_log_reject(m, err);
	if (!m->fire_and_forget)
		m->reply = envelope_reply_error(err, &m->reply_len);
}

static void
accept_log_reject(const struct ingress_msg *m, const struct envelope_error *e)
{
	log_info("reject code=%s%s%s%s%s via=%s message=\"%s\"",
	    sb_error_name(e->code), e->field[0] ? " field=" : "", e->field,
	    e->id[0] ? " id=" : "", e->id,
	    m->fire_and_forget ? "pull" : "router", e->message);
}

/*
 * The group commit. On success every notice of the pass is answered "ok"
 * and dispatched; on failure none is accepted and each is told why.
 */
static void
accept_commit(void)
{
	struct envelope_error err;
	struct accepted *a;
	const char *chans[ROUTE_TARGETS_MAX];
	uint64_t gen;
	size_t i, j;
	int rc;

	rc = acc.npass > 0 ? spool_commit(acc.spool) : 0;
	if (rc == -1) {
		limits_pass_undo(acc.limits);	/* none was accepted */
		acc.stats.spool_failures++;
		if (!acc.spool_failing)
			log_warnx("spool write failed, refusing notices until "
			    "it recovers: %s", acc.spool->error);
		acc.spool_failing = 1;
	} else {
		limits_pass_keep(acc.limits);
		if (acc.npass > 0 && acc.spool_failing) {
			acc.spool_failing = 0;
			log_info("spool writes succeed again");
		}
	}
	acc.stats.spool_failing = acc.spool_failing;
	gen = rc == 0 && acc.npass > 0 && acc.durable != NULL ?
	    durable_request(acc.durable) : 0;
	for (i = 0; i < acc.npass; i++) {
		a = &acc.pass[i];
		if (a->notice != NULL)
			dispatch_reserve(a->notice, &a->res, -1);
		if (rc == -1) {
			envelope_error_set(&err, SB_ERR_UNAVAILABLE, NULL,
			    "the spool cannot be written (%s); the %s was "
			    "not accepted, try again later", acc.spool->error,
			    a->notice ? "notice" : "ack");
			strlcpy(err.id, a->notice ? a->notice->id : a->ref,
			    sizeof(err.id));
			accept_reject(a->msg, &err);
			if (a->notice != NULL)
				escalate_forget(a->notice->id);
			else if (a->dup_of < 0)
				escalate_ack_done(a->ref, 0);
			continue;
		}
		if (a->notice == NULL && a->dup_of >= 0) {
			accept_reply_dup(a, &acc.pass[a->dup_of]);
			accept_hold(a->msg, gen, a->ref);
			continue;
		}
		if (a->notice == NULL) {
			escalate_ack_done(a->ref, 1);
			if (!a->msg->fire_and_forget)
				a->msg->reply = envelope_reply_ack(a->ref,
				    a->response_ms, &a->msg->reply_len);
			accept_hold(a->msg, gen, a->ref);
			continue;
		}
		for (j = 0; j < a->res.ntargets; j++)
			chans[j] = acc.conf->channels[a->res.targets[j].channel]
			    .name;
		acc.stats.accepted[a->notice->class]++;
		log_info("accept id=%s class=%s channels=%zu", a->notice->id,
		    notice_class_name(a->notice->class), a->res.ntargets);
		if (!a->msg->fire_and_forget)
			a->msg->reply = envelope_reply_notice(a->notice, chans,
			    a->res.ntargets, 0, &a->msg->reply_len);
		accept_hold(a->msg, gen, a->notice->id);
		/*
		 * Delivery need not wait for the flush: a crash before it
		 * can only deliver a notice its publisher will send again.
		 */
		dispatch_notice(a->notice, &a->res);
	}
	/* Only now: a resend later in the pass answers from its first. */
	for (i = 0; i < acc.npass; i++)
		notice_unref(acc.pass[i].notice);
	acc.npass = 0;
}

/* Keep an ok reply until flush gen is done (gen 0: it is safe now). */
static void
accept_hold(struct ingress_msg *m, uint64_t gen, const char *id)
{
	struct held *h;

	if (gen == 0 || m->reply == NULL)
		return;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatal("accept_hold");
	h->gen = gen;
	h->body = m->reply;
	h->len = m->reply_len;
	strlcpy(h->id, id, sizeof(h->id));
	m->reply = NULL;
	h->reply = ingress_defer(m);
	TAILQ_INSERT_TAIL(&acc.held, h, entry);
}

/* Flushes up to gen ended: answer what they cover, ok or unavailable. */
static void
accept_flushed_cb(uint64_t gen, int ok, const char *error, void *arg)
{
	struct envelope_error err;
	struct held *h;

	(void)arg;
	while ((h = TAILQ_FIRST(&acc.held)) != NULL && h->gen <= gen) {
		TAILQ_REMOVE(&acc.held, h, entry);
		if (!ok) {
			free(h->body);
			envelope_error_set(&err, SB_ERR_UNAVAILABLE, NULL,
			    "the spool could not be flushed to disk (%s); "
			    "send it again", error);
			strlcpy(err.id, h->id, sizeof(err.id));
			acc.stats.rejected[SB_ERR_UNAVAILABLE]++;
			h->body = envelope_reply_error(&err, &h->len);
		}
		if (h->reply != NULL && h->body != NULL)
			ingress_answer(h->reply, h->body, h->len);
		else
			free(h->body);
		free(h);
	}
}

/* The "ok, duplicate" of a resend, from the first copy of its pass. */
static void
accept_reply_dup(struct accepted *a, const struct accepted *first)
{
	const char *chans[ROUTE_TARGETS_MAX];
	size_t j;

	if (a->msg->fire_and_forget)
		return;
	for (j = 0; j < first->res.ntargets; j++)
		chans[j] = acc.conf->channels[first->res.targets[j].channel].name;
	a->msg->reply = envelope_reply_notice(first->notice, chans,
	    first->res.ntargets, 1, &a->msg->reply_len);
}
