/*
 * deadline.c: a min-heap of deadlines with one libevent timer for the
 * earliest (see deadline.h for why).
 */
#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#include "deadline.h"
#include "log.h"

/* Due deadlines fired per timer callback before yielding to the loop. */
#define DEADLINE_BATCH	1024

struct deadline_heap {
	struct deadline		**items;
	size_t			  n;
	size_t			  cap;
	int64_t			(*clock)(void);
	struct event		 *timer;
	int64_t			  timer_at;	/* what the timer is set for */
};

static void	deadline_swap(struct deadline_heap *, size_t, size_t);
static void	deadline_up(struct deadline_heap *, size_t);
static void	deadline_down(struct deadline_heap *, size_t);
static void	deadline_reschedule(struct deadline_heap *);
static void	deadline_timer_cb(evutil_socket_t, short, void *);

int64_t
deadline_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int64_t
deadline_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

struct deadline_heap *
deadline_heap_new(struct event_base *base, int64_t (*clock)(void))
{
	struct deadline_heap *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return (NULL);
	h->clock = clock != NULL ? clock : deadline_monotonic_ms;
	h->timer_at = -1;
	if (base != NULL &&
	    (h->timer = evtimer_new(base, deadline_timer_cb, h)) == NULL) {
		free(h);
		return (NULL);
	}
	return (h);
}

void
deadline_heap_free(struct deadline_heap *h)
{
	size_t i;

	if (h == NULL)
		return;
	if (h->timer != NULL)
		event_free(h->timer);
	for (i = 0; i < h->n; i++)
		h->items[i]->slot = 0;
	free(h->items);
	free(h);
}

int64_t
deadline_now(const struct deadline_heap *h)
{
	return (h->clock());
}

size_t
deadline_count(const struct deadline_heap *h)
{
	return (h->n);
}

struct deadline *
deadline_first(const struct deadline_heap *h)
{
	return (h->n > 0 ? h->items[0] : NULL);
}

/*
 * A best-first walk from the root: the next smallest is always a child of
 * one already taken, so only the frontier is searched. O(max^2), for a
 * status display of a few entries.
 */
size_t
deadline_smallest(const struct deadline_heap *h, struct deadline **out,
    size_t max)
{
	size_t frontier[129], nf = 0, n = 0, i, best, slot, child;

	if (max > 64)
		max = 64;
	if (h->n > 0)
		frontier[nf++] = 0;
	while (n < max && nf > 0) {
		for (best = 0, i = 1; i < nf; i++)
			if (h->items[frontier[i]]->at_ms <
			    h->items[frontier[best]]->at_ms)
				best = i;
		slot = frontier[best];
		frontier[best] = frontier[--nf];
		out[n++] = h->items[slot];
		for (child = 2 * slot + 1; child <= 2 * slot + 2; child++)
			if (child < h->n)
				frontier[nf++] = child;
	}
	return (n);
}

void
deadline_arm(struct deadline_heap *h, struct deadline *d, int64_t at_ms,
    deadline_fn fn, void *arg)
{
	struct deadline **items;
	size_t cap;

	if (d->slot != 0)
		deadline_cancel(h, d);
	if (h->n == h->cap) {
		cap = h->cap ? h->cap * 2 : 64;
		if ((items = realloc(h->items, cap * sizeof(*items))) == NULL)
			fatal("deadline_arm");
		h->items = items;
		h->cap = cap;
	}
	d->at_ms = at_ms;
	d->fn = fn;
	d->arg = arg;
	h->items[h->n] = d;
	d->slot = ++h->n;
	deadline_up(h, h->n - 1);
	if (h->items[0] == d)
		deadline_reschedule(h);
}

void
deadline_cancel(struct deadline_heap *h, struct deadline *d)
{
	size_t i;
	int was_first;

	if (d->slot == 0)
		return;
	i = d->slot - 1;
	was_first = (i == 0);
	d->slot = 0;
	h->n--;
	if (i != h->n) {
		h->items[i] = h->items[h->n];
		h->items[i]->slot = i + 1;
		deadline_up(h, i);
		deadline_down(h, h->items[i]->slot - 1);
	}
	if (was_first)
		deadline_reschedule(h);
}

size_t
deadline_run(struct deadline_heap *h, int64_t now_ms, size_t max)
{
	struct deadline *d;
	size_t fired = 0;

	while (fired < max && h->n > 0 && h->items[0]->at_ms <= now_ms) {
		d = h->items[0];
		deadline_cancel(h, d);
		fired++;
		d->fn(d, d->arg);	/* may re-arm d or free it */
	}
	return (fired);
}

static void
deadline_swap(struct deadline_heap *h, size_t a, size_t b)
{
	struct deadline *t = h->items[a];

	h->items[a] = h->items[b];
	h->items[b] = t;
	h->items[a]->slot = a + 1;
	h->items[b]->slot = b + 1;
}

static void
deadline_up(struct deadline_heap *h, size_t i)
{
	size_t parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (h->items[parent]->at_ms <= h->items[i]->at_ms)
			break;
		deadline_swap(h, parent, i);
		i = parent;
	}
}

static void
deadline_down(struct deadline_heap *h, size_t i)
{
	size_t l, r, min;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		min = i;
		if (l < h->n && h->items[l]->at_ms < h->items[min]->at_ms)
			min = l;
		if (r < h->n && h->items[r]->at_ms < h->items[min]->at_ms)
			min = r;
		if (min == i)
			break;
		deadline_swap(h, i, min);
		i = min;
	}
}

/* Point the one timer at the earliest deadline. */
static void
deadline_reschedule(struct deadline_heap *h)
{
	struct timeval tv;
	int64_t delay;

	if (h->timer == NULL)
		return;
	if (h->n == 0) {
		if (h->timer_at != -1)
			evtimer_del(h->timer);
		h->timer_at = -1;
		return;
	}
	if (h->items[0]->at_ms == h->timer_at)
		return;
	h->timer_at = h->items[0]->at_ms;
	delay = h->timer_at - h->clock();
	if (delay < 0)
		delay = 0;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(h->timer, &tv);
}

static void
deadline_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deadline_heap *h = arg;

	(void)fd;
	(void)what;
	h->timer_at = -1;
	deadline_run(h, h->clock(), DEADLINE_BATCH);
	/* More due than a batch: come back at once, after other events. */
	deadline_reschedule(h);
}
