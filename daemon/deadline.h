/*
 * deadline.h: deadlines as data. A binary min-heap of intrusive deadline
 * records and one libevent timer for the earliest, instead of one struct
 * event per pending thing: arming and cancelling are O(log n) with no
 * allocation, and a million pending deadlines cost a few dozen bytes each.
 */
#ifndef DEADLINE_H
#define DEADLINE_H

#include <stddef.h>
#include <stdint.h>

struct deadline;
struct deadline_heap;
struct event_base;

typedef void	(*deadline_fn)(struct deadline *, void *arg);

/* Embedded in the object it times; zero-initialised means not armed. */
struct deadline {
	int64_t		 at_ms;		/* on the heap's clock */
	size_t		 slot;		/* heap index + 1; 0 = not armed */
	deadline_fn	 fn;
	void		*arg;
};

/*
 * A heap on a clock (NULL: monotonic ms). With a base, one timer fires due
 * deadlines; without one (tests), call deadline_run.
 */
struct deadline_heap	*deadline_heap_new(struct event_base *,
			    int64_t (*clock)(void));
void			 deadline_heap_free(struct deadline_heap *);
void			 deadline_arm(struct deadline_heap *, struct deadline *,
			    int64_t at_ms, deadline_fn, void *arg);
void			 deadline_cancel(struct deadline_heap *,
			    struct deadline *);
/* Fire at most max due deadlines; returns how many fired. */
size_t			 deadline_run(struct deadline_heap *, int64_t now_ms,
			    size_t max);
size_t			 deadline_count(const struct deadline_heap *);
/* The earliest armed deadline, or NULL. */
struct deadline		*deadline_first(const struct deadline_heap *);
/* The max earliest deadlines, in order; returns how many. */
size_t			 deadline_smallest(const struct deadline_heap *,
			    struct deadline **out, size_t max);
int64_t			 deadline_now(const struct deadline_heap *);
int64_t			 deadline_monotonic_ms(void);
int64_t			 deadline_wall_ms(void);

#endif /* DEADLINE_H */
