/*
 * route.c: which channels a classified notice goes to (SPEC §4). Routes
 * are tried in order and the first match wins unless it says continue,
 * in which case channels add up (each once, kept for the first route that
 * named it). A named channel takes part only if its gate lets it: not
 * disabled, every audience of the notice allowed by its audience globs (an
 * internal chat never carries a customer:* notice), and for a pilot, the
 * notice sampled into its share. Routing a notice allocates nothing: it
 * is on the path of every notice.
 *
 * The routes tried come from the route index's walk (route_index.c), which
 * yields, in route order, only the routes that match the notice.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "match.h"
#include "notice.h"
#include "route.h"
#include "route_index.h"

/* Why a named channel does not take a notice. */
enum route_skip {
	SKIP_NONE = 0,
	SKIP_DISABLED,
	SKIP_AUDIENCE,	/* an audience entry its globs do not allow */
	SKIP_PILOT	/* a pilot whose share this notice is not in */
};

struct reason {
	char	*buf;
	size_t	 len;
	size_t	 used;
};

static enum route_skip	route_gate(const struct channel_conf *,
			    const struct notice *, const char **);
static int		route_has(const struct route_result *, int);
static void		route_take(const struct config *,
			    const struct notice *, const struct route *,
			    struct route_result *);
static void		reason_add(struct reason *, const char *, ...)
			    __attribute__((format(printf, 2, 3)));
static void		route_explain_nomatch(const struct notice *,
			    struct reason *);
static void		route_explain_skipped(const struct config *,
			    const struct notice *, size_t, struct reason *);
static void		route_explain(const struct config *,
			    const struct notice *, struct route_result *);

/* Whether a channel takes the notice; *bad names a refused audience. */
static enum route_skip
route_gate(const struct channel_conf *ch, const struct notice *n,
    const char **bad)
{
	size_t i;

	*bad = NULL;
	if (ch->mode == MODE_DISABLED)
		return (SKIP_DISABLED);
	for (i = 0; ch->audiences.n != 0 && i < n->naudience; i++) {
		if (!glob_list_match(&ch->audiences, n->audience[i])) {
			*bad = n->audience[i];
			return (SKIP_AUDIENCE);
		}
	}
	if (ch->mode == MODE_PILOT &&
	    !route_pilot_sample(n->id, ch->pilot_percent))
		return (SKIP_PILOT);
	return (SKIP_NONE);
}

static int
route_has(const struct route_result *res, int channel)
{
	size_t i;

	for (i = 0; i < res->ntargets; i++)
		if (res->targets[i].channel == channel)
			return (1);
	return (0);
}

/* Add the channels of one matching route that their gates let through. */
static void
route_take(const struct config *cf, const struct notice *n,
    const struct route *r, struct route_result *res)
{
	static const char *const skips[] = { "", "disabled", "audience",
	    "pilot" };
	const struct channel_conf *ch;
	struct route_target *t;
	enum route_skip skip;
	const char *bad;
	size_t i;

	for (i = 0; i < r->nchannels; i++) {
		if (route_has(res, r->channels[i]))
			continue;
		ch = &cf->channels[r->channels[i]];
		if ((skip = route_gate(ch, n, &bad)) != SKIP_NONE) {
			log_debug("route notice=%s route=%s channel=%s "
			    "skipped=%s%s%s", n->id, r->name, ch->name,
			    skips[skip], bad != NULL ? " audience=" : "",
			    bad != NULL ? bad : "");
			continue;
		}
		if (res->ntargets == ROUTE_TARGETS_MAX) {
			log_warnx("route notice=%s route=%s channel=%s "
			    "dropped: more than %d channels", n->id, r->name,
			    ch->name, ROUTE_TARGETS_MAX);
			continue;
		}
		t = &res->targets[res->ntargets++];
		t->channel = r->channels[i];
		t->route = r;
		t->pilot = ch->mode == MODE_PILOT;
	}
}

size_t
route_notice(const struct config *cf, const struct notice *n,
    struct route_result *res)
{
	struct route_walk w;
	const struct route *r;

	res->ntargets = 0;
	res->nmatched = 0;
	res->reason[0] = '\0';
	route_walk_start(&w, cf, n);
	while ((r = route_walk_next(&w)) != NULL) {
		res->nmatched++;
		route_take(cf, n, r, res);
		if (!r->cont)
			break;
	}
	if (res->ntargets == 0)
		route_explain(cf, n, res);
	return (res->ntargets);
}

/*
 * A stable share of the traffic: a hash of the id, so that every run (a
 * restart, a dry run with sbctl route) samples the same notices. FNV-1a's
 * low bits mix poorly, so its high bits are folded in before the modulo.
 */
int
route_pilot_sample(const char *id, int percent)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p;

	if (percent <= 0)
		return (0);
	if (percent >= 100)
		return (1);
	for (p = (const unsigned char *)id; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (h % 100 < (uint64_t)percent);
}

/* Append to the reason; what does not fit ends in "...". */
static void
reason_add(struct reason *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->used + 1 >= r->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->used, r->len - r->used, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= r->len - r->used) {
		r->used = r->len - 1;
		memcpy(r->buf + r->len - 4, "...", 4);
		return;
	}
	r->used += (size_t)n;
}

/* "no route matches source 'x', audience [..], class c". */
static void
route_explain_nomatch(const struct notice *n, struct reason *r)
{
	size_t i;

	if (n->anonymous || n->source == NULL)
		reason_add(r, "no route matches (source withheld), audience [");
	else
		reason_add(r, "no route matches source '%s', audience [",
		    n->source);
	for (i = 0; i < n->naudience; i++)
		reason_add(r, "%s%s", i > 0 ? ", " : "", n->audience[i]);
	reason_add(r, "], class %s", notice_class_name(n->class));
}

/* Name the matching routes and why each of their channels was skipped. */
static void
route_explain_skipped(const struct config *cf, const struct notice *n,
    size_t nmatched, struct reason *r)
{
	int seen[ROUTE_TARGETS_MAX];
	const struct channel_conf *ch;
	const struct route *rt;
	struct route_walk w;
	size_t j, k, nseen = 0, nroutes = 0;
	const char *bad;

	route_walk_start(&w, cf, n);
	while ((rt = route_walk_next(&w)) != NULL) {
		reason_add(r, "%s'%s'", nroutes++ > 0 ? ", " :
		    nmatched > 1 ? "routes " : "route ", rt->name);
		if (!rt->cont)
			break;
	}
	reason_add(r, " matched but every channel was skipped: ");
	route_walk_start(&w, cf, n);
	while ((rt = route_walk_next(&w)) != NULL) {
		for (j = 0; j < rt->nchannels && nseen < ROUTE_TARGETS_MAX;
		    j++) {
			for (k = 0; k < nseen; k++)
				if (seen[k] == rt->channels[j])
					break;
			if (k < nseen)
				continue;
			ch = &cf->channels[rt->channels[j]];
			reason_add(r, "%s'%s' ", nseen > 0 ? ", " : "",
			    ch->name);
			seen[nseen++] = rt->channels[j];
			switch (route_gate(ch, n, &bad)) {
			case SKIP_DISABLED:
				reason_add(r, "(disabled)");
				break;
			case SKIP_AUDIENCE:
				reason_add(r, "(audience %s not allowed)", bad);
				break;
			case SKIP_PILOT:
				reason_add(r, "(pilot, not in its %d%%)",
				    ch->pilot_percent);
				break;
			case SKIP_NONE:	/* it was taken: no explaining */
				break;
			}
		}
		if (!rt->cont)
			break;
	}
}

/* The reason of a no_route reply: cold path, so it may match again. */
static void
route_explain(const struct config *cf, const struct notice *n,
    struct route_result *res)
{
	struct reason r = { res->reason, sizeof(res->reason), 0 };

	if (res->nmatched == 0)
		route_explain_nomatch(n, &r);
	else
		route_explain_skipped(cf, n, res->nmatched, &r);
}
