/*
 * route.h: which channels a classified notice goes to (SPEC §4): routes in
 * order, the first match wins unless it says continue; the channel's
 * audience gate and mode decide whether it takes part.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>

#include "notice.h"

struct config;
struct route;

#define ROUTE_TARGETS_MAX	64

struct route_target {
	int			 channel;	/* index in config */
	const struct route	*route;		/* the route that named it */
	int			 pilot;		/* a shadow copy */
};

struct route_result {
	struct route_target	 targets[ROUTE_TARGETS_MAX];
	size_t			 ntargets;
	size_t			 nmatched;	/* routes that matched */
	char			 reason[256];	/* why empty, for no_route */
};

/*
 * Fill res with the distinct channels a notice goes to. Returns the number
 * of targets (0: no_route, with res->reason saying why).
 */
size_t	route_notice(const struct config *, const struct notice *,
	    struct route_result *res);
/* Whether a pilot channel takes this notice: stable for a given id. */
int	route_pilot_sample(const char *id, int percent);

#endif /* ROUTE_H */
