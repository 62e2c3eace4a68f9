/*
 * route_index.h: the routes indexed by what rules each out cheaply, and the
 * walk that yields, in route order, the routes a notice matches.
 */
#ifndef ROUTE_INDEX_H
#define ROUTE_INDEX_H

#include <stddef.h>

struct config;
struct notice;
struct route;
struct route_index;

/*
 * The routes a notice may match: the sorted list of each bucket that
 * applies to it, merged in route order. When there are more lists than
 * fit (a notice with very many audiences or tags), every route is tried
 * in order instead. Declared here only so that a caller can keep a walk
 * on its stack (routing a notice allocates nothing): its fields are
 * private to route_index.c.
 */
#define ROUTE_CURSORS_MAX	64
struct route_cursor {
	const unsigned	*next;
	const unsigned	*end;
};

struct route_walk {
	const struct config	*cf;
	const struct notice	*n;
	struct route_cursor	 cursors[ROUTE_CURSORS_MAX];
	size_t			 ncursors;
	int			 scan;		/* every route, in order */
	size_t			 scan_next;
	size_t			 tried;		/* routes matched against */
};

/*
 * The routes indexed by what rules each out cheaply (a literal its source,
 * audience or tag globs need; its class), so that route_notice() tries only
 * the routes that can match. Built once a config is loaded; it points into
 * the routes, which must outlive it. NULL: out of memory.
 */
struct route_index *route_index_new(const struct route *, size_t nroutes);
void	route_index_free(struct route_index *);
/*
 * Start a walk over the routes of cf that notice n may match: those its
 * index gives, or every route when cf has none. Both must outlive the walk.
 */
void	route_walk_start(struct route_walk *, const struct config *cf,
	    const struct notice *n);
/* The next route, in order, that matches the notice; NULL: no more. */
const struct route *route_walk_next(struct route_walk *);

#endif /* ROUTE_INDEX_H */
