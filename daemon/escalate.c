/*
 * escalate.c: response deadlines, escalation chains and acks of
 * interactive notices (see escalate.h).
 *
 * A waiting notice's state is (round, level): the step fired last, level 0
 * before the first. The next step is the next level of the round, or level
 * 1 of the next round while the chain may repeat, or expiry. Each step's
 * time counts from the previous step's scheduled time, not from when it
 * ran, so that a daemon that was down catches up on absolute times.
 */
#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/tree.h>

/* libbsd's tree.h wants __unused, which its cdefs.h leaves undefined. */
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

#include "config.h"
#include "deadline.h"
#include "dispatch.h"
#include "envelope.h"
#include "escalate.h"
#include "log.h"
#include "metrics.h"
#include "notice.h"
#include "spool.h"

/* A notice waiting for its ack: a few dozen bytes and its id. */
struct waiter {
	RB_ENTRY(waiter)	 entry;
	struct deadline		 dl;
	int64_t			 received_ms;
	int64_t			 respond_by_ms;
	int			 level;
	int			 round;
	int			 acking;	/* acked; the commit is pending */
	const char		*route;		/* interned, or NULL */
	const char		*chain;		/* interned, or NULL */
	char			 id[];
};
RB_HEAD(waiters, waiter);

static int	waiter_cmp(const struct waiter *, const struct waiter *);
RB_PROTOTYPE_STATIC(waiters, waiter, entry, waiter_cmp)
RB_GENERATE_STATIC(waiters, waiter, entry, waiter_cmp)

/* Interned names: few, and they outlive any one config. */
struct name {
	SLIST_ENTRY(name)	 entry;
	char			 s[];
};
SLIST_HEAD(names, name);

static struct {
	struct spool		*spool;
	const struct config	*conf;
	struct deadline_heap	*heap;
	struct waiters		 tree;
	size_t			 n;
	struct names		 names;
	struct escalate_stats	 stats;
} esc;

static const char	*escalate_intern(const char *);
static struct waiter	*waiter_new(const char *id, int64_t received_ms,
			    int64_t respond_by_ms, const char *route,
			    const char *chain);
static void		 waiter_free(struct waiter *);
static const struct escalation *escalate_chain(const struct waiter *);
static void		 escalate_fire_cb(struct deadline *, void *);
static void		 escalate_step(struct waiter *,
			    const struct escalation *);
static void		 escalate_expire(struct waiter *, const char *);
static void		 escalate_arm_next(struct waiter *,
			    const struct escalation *, int64_t base);
static struct notice	*escalate_load(const struct waiter *);
static void		 escalate_owners(const struct waiter *, char *,
			    size_t);
static struct waiter	*escalate_find(const char *);
static int		 escalate_listed(const char *, const char *);

static int
waiter_cmp(const struct waiter *a, const struct waiter *b)
{
	return (strcmp(a->id, b->id));
}

int
escalate_init(struct event_base *base, struct spool *spool,
    const struct config *conf, int64_t (*clock)(void))
{
	memset(&esc, 0, sizeof(esc));
	RB_INIT(&esc.tree);
	SLIST_INIT(&esc.names);
	esc.spool = spool;
	esc.conf = conf;
	esc.heap = deadline_heap_new(base, clock != NULL ? clock :
	    deadline_wall_ms);
	return (esc.heap == NULL ? -1 : 0);
}

void
escalate_set_config(const struct config *conf)
{
	esc.conf = conf;
}

void
escalate_shutdown(void)
{
	struct waiter *w;
	struct name *nm;

	while ((w = RB_MIN(waiters, &esc.tree)) != NULL) {
		RB_REMOVE(waiters, &esc.tree, w);
		deadline_cancel(esc.heap, &w->dl);
		free(w);
	}
	esc.n = 0;
	deadline_heap_free(esc.heap);
	esc.heap = NULL;
	while ((nm = SLIST_FIRST(&esc.names)) != NULL) {
		SLIST_REMOVE_HEAD(&esc.names, entry);
		free(nm);
	}
}

size_t
escalate_waiting(void)
{
	return (esc.n);
}

size_t
escalate_tick(int64_t now_ms)
{
	return (deadline_run(esc.heap, now_ms, SIZE_MAX));
}

const struct escalate_stats *
escalate_stats(void)
{
	return (&esc.stats);
}

static const char *
escalate_intern(const char *s)
{
	struct name *nm;
	size_t len;

	if (s == NULL)
		return (NULL);
	SLIST_FOREACH(nm, &esc.names, entry)
		if (strcmp(nm->s, s) == 0)
			return (nm->s);
	len = strlen(s) + 1;
	if ((nm = malloc(sizeof(*nm) + len)) == NULL)
		fatal("escalate_intern");
	memcpy(nm->s, s, len);
	SLIST_INSERT_HEAD(&esc.names, nm, entry);
	return (nm->s);
}

static struct waiter *
waiter_new(const char *id, int64_t received_ms, int64_t respond_by_ms,
    const char *route, const char *chain)
{
	struct waiter *w;
	size_t len = strlen(id) + 1;

	if ((w = calloc(1, sizeof(*w) + len)) == NULL)
		return (NULL);
	memcpy(w->id, id, len);
	w->received_ms = received_ms;
	w->respond_by_ms = respond_by_ms;
	w->route = escalate_intern(route);
	w->chain = escalate_intern(chain);
	if (RB_INSERT(waiters, &esc.tree, w) != NULL) {
		free(w);	/* already waiting: keep the first */
		return (NULL);
	}
	esc.n++;
	return (w);
}

static void
waiter_free(struct waiter *w)
{
	deadline_cancel(esc.heap, &w->dl);
	RB_REMOVE(waiters, &esc.tree, w);
	esc.n--;
	free(w);
}

static const struct route *
escalate_route(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < esc.conf->nroutes; i++)
		if (strcmp(esc.conf->routes[i].name, name) == 0)
			return (&esc.conf->routes[i]);
	return (NULL);
}

int
escalate_track(const struct notice *n, const struct route *r)
{
	const struct escalation *chain;
	struct policy pol;
	struct waiter *w;
	int64_t within;

	config_policy(esc.conf, r, CLASS_INTERACTIVE, &pol);
	within = n->respond_within_ms ? n->respond_within_ms :
	    pol.respond_within_ms;
	chain = pol.escalation >= 0 ? &esc.conf->escalations[pol.escalation] :
	    NULL;
	/*
	 * An id sent again after the dedup window is a new notice: it takes
	 * over from the old one, whose acks the spool would now refuse.
	 */
	if ((w = escalate_find(n->id)) != NULL) {
		log_info("waiting id=%s replaced by a newer notice", n->id);
		waiter_free(w);
	}
	w = waiter_new(n->id, n->received_ms, n->received_ms + within,
	    r ? r->name : NULL, chain ? chain->name : NULL);
	if (w == NULL)
		return (-1);
	esc.stats.tracked++;
	if (spool_track(esc.spool, n->id, w->route, w->respond_by_ms) == -1)
		return (-1);
	escalate_arm_next(w, chain, w->respond_by_ms);
	return (0);
}

/* The waiter of an id, through a reusable search key. */
static struct waiter *
escalate_find(const char *id)
{
	static struct waiter *key;

	if (key == NULL && (key = calloc(1, sizeof(*key) + SB_ID_MAX + 1)) ==
	    NULL)
		fatal("escalate_find");
	strlcpy(key->id, id, SB_ID_MAX + 1);
	return (RB_FIND(waiters, &esc.tree, key));
}

void
escalate_ack_done(const char *ref, int committed)
{
	struct waiter *w;

	if ((w = escalate_find(ref)) == NULL || !w->acking)
		return;
	if (committed) {
		waiter_free(w);
		return;
	}
	w->acking = 0;
	esc.stats.acked--;
	deadline_arm(esc.heap, &w->dl, w->dl.at_ms, escalate_fire_cb, w);
}

void
escalate_forget(const char *id)
{
	struct waiter *w;

	if ((w = escalate_find(id)) != NULL)
		waiter_free(w);
}

int
escalate_restore(const struct notice *n, const struct spool_waiting *sw)
{
	const struct escalation *chain;
	struct policy pol;
	struct waiter *w;

	config_policy(esc.conf, escalate_route(sw->route), CLASS_INTERACTIVE,
	    &pol);
	chain = pol.escalation >= 0 ? &esc.conf->escalations[pol.escalation] :
	    NULL;
	w = waiter_new(n->id, n->received_ms, sw->respond_by_ms, sw->route,
	    chain ? chain->name : NULL);
	if (w == NULL)
		return (0);
	w->level = sw->level;
	w->round = sw->round;
	/*
	 * Before its first step the spool holds the response deadline; the
	 * first level comes its after later.
	 */
	if (w->level == 0 && w->round == 0)
		escalate_arm_next(w, chain, sw->respond_by_ms);
	else
		deadline_arm(esc.heap, &w->dl, sw->next_ms, escalate_fire_cb,
		    w);
	return (0);
}

/* The chain a waiter runs on, by name: reloads keep it by name. */
static const struct escalation *
escalate_chain(const struct waiter *w)
{
	int i;

	if (w->chain == NULL)
		return (NULL);
	if ((i = config_escalation_index(esc.conf, w->chain)) == -1)
		return (NULL);
	return (&esc.conf->escalations[i]);
}

/*
 * Arm the step after (round, level), counting from base: the next level,
 * level 1 of the next round, or expiry.
 */
static void
escalate_arm_next(struct waiter *w, const struct escalation *chain,
    int64_t base)
{
	int64_t at;

	if (chain == NULL)
		at = base;
	else if ((size_t)w->level < chain->nlevels)
		at = base + chain->levels[w->level].after_ms;
	else if (w->round < chain->repeat)
		at = base + chain->levels[0].after_ms;
	else
		at = base + (chain->expire_after_ms ? chain->expire_after_ms :
		    chain->levels[chain->nlevels - 1].after_ms);
	deadline_arm(esc.heap, &w->dl, at, escalate_fire_cb, w);
}

static void
escalate_fire_cb(struct deadline *dl, void *arg)
{
	struct waiter *w = arg;
	const struct escalation *chain;

	(void)dl;
	if (w->chain == NULL) {
		escalate_expire(w, "not acked by its response deadline");
		return;
	}
	if ((chain = escalate_chain(w)) == NULL) {
		escalate_expire(w, "its escalation chain was removed by a "
		    "reload");
		return;
	}
	if ((size_t)w->level >= chain->nlevels && w->round >= chain->repeat) {
		escalate_expire(w, "not acked after the last escalation");
		return;
	}
	escalate_step(w, chain);
}

/* Fire the next level and arm the step after it. */
static void
escalate_step(struct waiter *w, const struct escalation *chain)
{
	const struct esc_level *lv;
	struct notice *n;
	int64_t at = w->dl.at_ms;

	if ((size_t)w->level >= chain->nlevels) {
		w->round++;
		w->level = 0;
	}
	lv = &chain->levels[w->level++];
	esc.stats.fired[w->level < 8 ? w->level - 1 : 7]++;
	log_info("escalate id=%s chain=%s level=%d round=%d waited_ms=%lld",
	    w->id, chain->name, w->level, w->round,
	    (long long)(at - w->received_ms));
	if ((n = escalate_load(w)) != NULL) {
		dispatch_escalation(n, lv->channels, lv->nchannels, w->level,
		    w->round, at - w->received_ms);
		notice_unref(n);
	}
	escalate_arm_next(w, chain, at);
	if (spool_escalated(esc.spool, w->id, w->level, w->round,
	    w->dl.at_ms) == -1)
		log_warnx("spool: escalation of %s not recorded: %s", w->id,
		    esc.spool->error);
	dispatch_commit_soon();
}

static void
escalate_expire(struct waiter *w, const char *why)
{
	char owners[512], subject[320];

	esc.stats.expired++;
	escalate_owners(w, owners, sizeof(owners));
	log_warnx("expired id=%s route=%s reason=\"%s\" owners=%s", w->id,
	    w->route ? w->route : "-", why, owners[0] ? owners : "-");
	if (spool_expired(esc.spool, w->id, deadline_now(esc.heap)) == -1)
		log_warnx("spool: expiry of %s not recorded: %s", w->id,
		    esc.spool->error);
	snprintf(subject, sizeof(subject), "Expired without a response: "
	    "notice %s", w->id);
	dispatch_owner_notice("expired", w->id, owners, subject, why);
	dispatch_commit_soon();
	waiter_free(w);
}

/* Whether name is one of the comma-separated entries of list. */
static int
escalate_listed(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *p;

	for (p = list; (p = strstr(p, name)) != NULL; p += len)
		if ((p == list || p[-1] == ',') && (p[len] == ',' ||
		    p[len] == '\0'))
			return (1);
	return (0);
}

/* The owners of the channels of the waiter's route, comma separated. */
static void
escalate_owners(const struct waiter *w, char *buf, size_t len)
{
	const struct route *r = escalate_route(w->route);
	const char *owner;
	size_t i;

	buf[0] = '\0';
	for (i = 0; r != NULL && i < r->nchannels; i++) {
		owner = esc.conf->channels[r->channels[i]].owner;
		if (owner == NULL || escalate_listed(buf, owner))
			continue;
		if (buf[0] != '\0')
			strlcat(buf, ",", len);
		strlcat(buf, owner, len);
	}
}

static struct notice *
escalate_load(const struct waiter *w)
{
	struct envelope_error err;
	struct notice *n;
	char *json;
	size_t len;

	if (spool_notice_json(esc.spool, w->id, &json, &len) != 1) {
		log_warnx("escalate id=%s: the notice cannot be read back: %s",
		    w->id, esc.spool->error);
		return (NULL);
	}
	n = envelope_parse_stored(json, len, &err);
	free(json);
	if (n == NULL)
		log_warnx("escalate id=%s: stored notice unreadable: %s",
		    w->id, err.message);
	return (n);
}

enum sb_error
escalate_ack(const struct ack *a, int64_t *response_ms, char *why,
    size_t len)
{
	struct spool_notice_info info;
	struct waiter *w;
	int64_t now;
	int rc;

	if (esc.heap == NULL) {
		snprintf(why, len, "switchboardd is shutting down");
		return (SB_ERR_UNAVAILABLE);
	}
	now = deadline_now(esc.heap);
	if ((w = escalate_find(a->ref)) != NULL && w->acking) {
		snprintf(why, len, "notice '%s' was already acked", a->ref);
		return (SB_ERR_ALREADY_ACKED);
	}
	if (w != NULL) {
		*response_ms = now - w->received_ms;
		if (spool_acked(esc.spool, a->ref, a->by, a->note, a->score,
		    now) == -1) {
			snprintf(why, len, "the spool cannot be written (%s)",
			    esc.spool->error);
			return (SB_ERR_UNAVAILABLE);
		}
		esc.stats.acked++;
		log_info("ack id=%s by=%s response_ms=%lld level=%d", a->ref,
		    a->by, (long long)*response_ms, w->level);
		metrics_observe_response(*response_ms);
		/* Every pending step stops now; the record goes at the commit. */
		deadline_cancel(esc.heap, &w->dl);
		w->acking = 1;
		return (SB_OK);
	}
	rc = spool_notice_info(esc.spool, a->ref, &info);
	if (rc == -1) {
		snprintf(why, len, "the spool cannot be read (%s)",
		    esc.spool->error);
		return (SB_ERR_UNAVAILABLE);
	}
	if (rc == 0) {
		snprintf(why, len, "no notice '%s' is known (an ack's ref is "
		    "the id of an accepted interactive notice)", a->ref);
		return (SB_ERR_UNKNOWN_REF);
	}
	if (info.respond_by_ms == 0) {
		snprintf(why, len, "notice '%s' is %s and expects no response; "
		    "only interactive notices take acks", a->ref,
		    info.class_name);
		return (SB_ERR_UNKNOWN_REF);
	}
	if (info.acked_ms != 0) {
		snprintf(why, len, "notice '%s' was already acked %lld ms "
		    "after it was sent", a->ref,
		    (long long)(info.acked_ms - info.received_ms));
		return (SB_ERR_ALREADY_ACKED);
	}
	/* Expired but answered at last: the response still counts. */
	*response_ms = now - info.received_ms;
	if (spool_acked(esc.spool, a->ref, a->by, a->note, a->score, now) ==
	    -1) {
		snprintf(why, len, "the spool cannot be written (%s)",
		    esc.spool->error);
		return (SB_ERR_UNAVAILABLE);
	}
	esc.stats.late_acks++;
	log_info("ack id=%s by=%s response_ms=%lld late=true", a->ref, a->by,
	    (long long)*response_ms);
	metrics_observe_response(*response_ms);
	return (SB_OK);
}

/* The nearest steps, in order, from the heap itself. */
size_t
escalate_nearest(struct escalate_view *out, size_t max)
{
	struct deadline *dls[64];
	const struct waiter *w;
	size_t i, n;

	if (max > sizeof(dls) / sizeof(dls[0]))
		max = sizeof(dls) / sizeof(dls[0]);
	n = deadline_smallest(esc.heap, dls, max);
	for (i = 0; i < n; i++) {
		w = (const struct waiter *)(const void *)((const char *)dls[i] -
		    offsetof(struct waiter, dl));
		strlcpy(out[i].id, w->id, sizeof(out[i].id));
		out[i].next_ms = w->dl.at_ms;
		out[i].level = w->level;
		out[i].round = w->round;
		out[i].chain = w->chain;
	}
	return (n);
}
