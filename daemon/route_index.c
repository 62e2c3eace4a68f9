/*
 * route_index.c: the routes indexed when a config is loaded, and the walk
 * that yields the routes a notice matches in route order (SPEC §4). With
 * thousands of routes, trying each in turn is most of a notice's cost.
 * Every route is filed under one literal that any notice it matches must
 * carry: the fixed start of its source, audience or tag globs (the whole
 * glob when it has no metacharacter), whichever rules out most; a route
 * with none is filed under the classes it takes. A notice looks up its
 * source, audiences and tags, merges the sorted lists it finds into route
 * order, and runs the full matcher on those routes only: the index only
 * rules routes out, so what matches is decided in one place, match_notice().
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "match.h"
#include "notice.h"
#include "route_index.h"

/* Where the literal a route is filed under comes from. */
enum route_dim {
	DIM_SOURCE = 0,
	DIM_AUDIENCE,
	DIM_TAG,
	DIM_COUNT
};

/*
 * A literal that every notice a route matches carries: the first len bytes
 * of text, all of the value when exact. name is the tag's for DIM_TAG,
 * route_noname for the others.
 */
struct route_key {
	const char	*name;
	const char	*text;
	size_t		 len;
	int		 exact;
};

/* The name of a source or audience key: one pointer, no strcmp. */
static const char route_noname[] = "";

/* One route filed under one key, while the index is built. */
struct route_posting {
	enum route_dim		 dim;
	struct route_key	 key;
	unsigned		 route;
};

/* The routes filed under one key, in route order. */
struct route_bucket {
	struct route_key	 key;
	const unsigned		*routes;
	size_t			 n;
};

/* One dimension's buckets, sorted by key for bsearch(3). */
struct route_dimension {
	struct route_bucket	*exact;
	size_t			 nexact;
	struct route_bucket	*prefix;
	size_t			 nprefix;
	size_t			*lens;		/* of the prefixes: distinct,
						   ascending */
	size_t			 nlens;
};

/*
 * always[0] holds the routes filed under no key that take a notice of no
 * class; always[1 + c] those that take class c.
 */
struct route_index {
	struct route_dimension	 dims[DIM_COUNT];
	struct route_bucket	*buckets;	/* every dimension's */
	unsigned		*slots;		/* every bucket's routes */
	size_t			*lens;		/* every dimension's */
	unsigned		*always[CLASS_COUNT + 1];
	size_t			 nalways[CLASS_COUNT + 1];
};

static int		route_glob_rank(const struct glob *, int);
static int		route_list_rank(const struct glob_list *, int);
static enum route_dim	route_key_choose(const struct route *,
			    const struct glob_list **, size_t *);
static size_t		route_postings_add(struct route_posting *,
			    const struct route *, unsigned);
static int		route_key_cmp(const struct route_key *,
			    const struct route_key *);
static int		route_posting_cmp_cb(const void *, const void *);
static int		route_bucket_cmp_cb(const void *, const void *);
static int		route_size_cmp_cb(const void *, const void *);
static void		route_index_buckets(struct route_index *,
			    const struct route_posting *, size_t);
static void		route_index_lens(struct route_index *);
static int		route_index_always(struct route_index *,
			    const struct route *, size_t);
static void		route_walk_add(struct route_walk *,
			    const struct route_bucket *);
static void		route_walk_probe(struct route_walk *,
			    const struct route_dimension *, const char *,
			    const char *);

/*
 * How much of the notices a glob rules out, as a rank (higher: more), or
 * -1 when it has no fixed start and empty is 0. A tag glob without one
 * still needs the tag (empty = 1); a source or audience glob needs nothing.
 */
static int
route_glob_rank(const struct glob *g, int empty)
{
	size_t len = g->len;		/* 0 for GLOB_ANY */

	if (len == 0 && !empty)
		return (-1);
	if (len > INT_MAX / 4)
		len = INT_MAX / 4;
	return ((int)len * 2 + (g->kind == GLOB_EXACT));
}

/* A list is as good a key as its weakest glob: any of them may match. */
static int
route_list_rank(const struct glob_list *l, int empty)
{
	int rank = INT_MAX, r;
	size_t i;

	if (l->n == 0)
		return (-1);
	for (i = 0; i < l->n; i++) {
		if ((r = route_glob_rank(&l->globs[i], empty)) == -1)
			return (-1);
		if (r < rank)
			rank = r;
	}
	return (rank);
}

/*
 * The key a route is filed under: its sources, its audiences, or one of
 * its tags (*tag), whichever ranks highest (sources on a tie, then tags);
 * DIM_COUNT: none. *list is the sources' or audiences' globs.
 */
static enum route_dim
route_key_choose(const struct route *r, const struct glob_list **list,
    size_t *tag)
{
	const struct match *m = &r->match;
	enum route_dim dim = DIM_COUNT;
	int best = -1, rank;
	size_t i;

	*list = NULL;
	*tag = 0;
	if ((rank = route_list_rank(&m->sources, 0)) > best) {
		best = rank;
		dim = DIM_SOURCE;
		*list = &m->sources;
	}
	for (i = 0; i < m->ntags; i++) {
		if ((rank = route_glob_rank(&m->tags[i].value, 1)) > best) {
			best = rank;
			dim = DIM_TAG;
			*list = NULL;
			*tag = i;
		}
	}
	if ((rank = route_list_rank(&m->audiences, 0)) > best) {
		dim = DIM_AUDIENCE;
		*list = &m->audiences;
	}
	return (dim);
}

/* File route i under its key: one posting a glob. Returns how many. */
static size_t
route_postings_add(struct route_posting *out, const struct route *r,
    unsigned i)
{
	const struct glob_list *list;
	const struct glob *g;
	enum route_dim dim;
	size_t j, tag, n;

	if ((dim = route_key_choose(r, &list, &tag)) == DIM_COUNT)
		return (0);
	n = list != NULL ? list->n : 1;
	for (j = 0; j < n; j++) {
		g = list != NULL ? &list->globs[j] : &r->match.tags[tag].value;
		out[j].dim = dim;
		out[j].key.name = list != NULL ? route_noname :
		    r->match.tags[tag].key;
		out[j].key.text = g->pattern;
		out[j].key.exact = g->kind == GLOB_EXACT;
		out[j].key.len = g->len;	/* its fixed start, all of it */
		out[j].route = i;
	}
	return (n);
}

/* Keys in the order of their buckets: name, then the literal's bytes. */
static int
route_key_cmp(const struct route_key *a, const struct route_key *b)
{
	size_t len = a->len < b->len ? a->len : b->len;
	int c;

	if (a->name != b->name && (c = strcmp(a->name, b->name)) != 0)
		return (c);
	if (len > 0 && (c = memcmp(a->text, b->text, len)) != 0)
		return (c);
	return ((a->len > b->len) - (a->len < b->len));
}

/* Postings by dimension, exact before prefix, key, then route. */
static int
route_posting_cmp_cb(const void *va, const void *vb)
{
	const struct route_posting *a = va, *b = vb;
	int c;

	if (a->dim != b->dim)
		return (a->dim < b->dim ? -1 : 1);
	if (a->key.exact != b->key.exact)
		return (a->key.exact ? -1 : 1);
	if ((c = route_key_cmp(&a->key, &b->key)) != 0)
		return (c);
	return ((a->route > b->route) - (a->route < b->route));
}

static int
route_bucket_cmp_cb(const void *key, const void *vb)
{
	const struct route_bucket *b = vb;

	return (route_key_cmp(key, &b->key));
}

static int
route_size_cmp_cb(const void *va, const void *vb)
{
	size_t a = *(const size_t *)va, b = *(const size_t *)vb;

	return ((a > b) - (a < b));
}

/*
 * Sorted postings into buckets: a run of one key is one bucket, its
 * routes ascending, each once (a route may name a source twice).
 */
static void
route_index_buckets(struct route_index *ix, const struct route_posting *p,
    size_t np)
{
	struct route_dimension *d;
	struct route_bucket *b = NULL;
	size_t i, nb = 0, ns = 0;

	for (i = 0; i < np; i++) {
		if (i > 0 && p[i].dim == p[i - 1].dim &&
		    p[i].key.exact == p[i - 1].key.exact &&
		    route_key_cmp(&p[i].key, &p[i - 1].key) == 0) {
			if (p[i].route != p[i - 1].route) {
				ix->slots[ns++] = p[i].route;
				b->n++;
			}
			continue;
		}
		b = &ix->buckets[nb++];
		b->key = p[i].key;
		b->routes = &ix->slots[ns];
		b->n = 1;
		ix->slots[ns++] = p[i].route;
		d = &ix->dims[p[i].dim];
		if (p[i].key.exact) {
			if (d->nexact++ == 0)
				d->exact = b;
		} else if (d->nprefix++ == 0)
			d->prefix = b;
	}
}

/* The distinct lengths of each dimension's prefixes, ascending. */
static void
route_index_lens(struct route_index *ix)
{
	struct route_dimension *d;
	size_t i, j, used = 0;

	for (i = 0; i < DIM_COUNT; i++) {
		d = &ix->dims[i];
		d->lens = &ix->lens[used];
		for (j = 0; j < d->nprefix; j++)
			d->lens[j] = d->prefix[j].key.len;
		qsort(d->lens, d->nprefix, sizeof(*d->lens),
		    route_size_cmp_cb);
		for (j = 0; j < d->nprefix; j++)
			if (j == 0 || d->lens[d->nlens - 1] != d->lens[j])
				d->lens[d->nlens++] = d->lens[j];
		used += d->nprefix;
	}
}

/*
 * The routes filed under no key, by the classes they take: a class
 * criterion is the one thing that still rules them out cheaply.
 */
static int
route_index_always(struct route_index *ix, const struct route *routes,
    size_t nroutes)
{
	const struct glob_list *list;
	unsigned mask;
	size_t i, c, tag;

	for (c = 0; c <= CLASS_COUNT; c++)
		if ((ix->always[c] = calloc(nroutes + 1,
		    sizeof(*ix->always[c]))) == NULL)
			return (-1);
	for (i = 0; i < nroutes; i++) {
		if (route_key_choose(&routes[i], &list, &tag) != DIM_COUNT)
			continue;
		mask = routes[i].match.class_mask;
		if (mask == 0)
			ix->always[0][ix->nalways[0]++] = (unsigned)i;
		for (c = 0; c < CLASS_COUNT; c++)
			if (mask == 0 || (mask & (1u << c)) != 0)
				ix->always[c + 1][ix->nalways[c + 1]++] =
				    (unsigned)i;
	}
	return (0);
}

struct route_index *
route_index_new(const struct route *routes, size_t nroutes)
{
	struct route_posting *postings = NULL;
	struct route_index *ix;
	size_t i, np = 0, nkeys = 0, cap = 1;

	if (nroutes >= UINT_MAX || (ix = calloc(1, sizeof(*ix))) == NULL)
		return (NULL);
	for (i = 0; i < nroutes; i++)
		cap += routes[i].match.sources.n +
		    routes[i].match.audiences.n + 1;
	if ((postings = calloc(cap, sizeof(*postings))) == NULL)
		goto fail;
	for (i = 0; i < nroutes; i++)
		np += route_postings_add(&postings[np], &routes[i],
		    (unsigned)i);
	qsort(postings, np, sizeof(*postings), route_posting_cmp_cb);
	if ((ix->buckets = calloc(np + 1, sizeof(*ix->buckets))) == NULL ||
	    (ix->slots = calloc(np + 1, sizeof(*ix->slots))) == NULL ||
	    (ix->lens = calloc(np + 1, sizeof(*ix->lens))) == NULL)
		goto fail;
	route_index_buckets(ix, postings, np);
	route_index_lens(ix);
	if (route_index_always(ix, routes, nroutes) == -1)
		goto fail;
	free(postings);
	for (i = 0; i < DIM_COUNT; i++)
		nkeys += ix->dims[i].nexact + ix->dims[i].nprefix;
	log_debug("route index: %zu routes, %zu keys, %zu filed under none",
	    nroutes, nkeys, ix->nalways[0]);
	return (ix);
fail:
	free(postings);
	route_index_free(ix);
	return (NULL);
}

void
route_index_free(struct route_index *ix)
{
	size_t c;

	if (ix == NULL)
		return;
	for (c = 0; c <= CLASS_COUNT; c++)
		free(ix->always[c]);
	free(ix->buckets);
	free(ix->slots);
	free(ix->lens);
	free(ix);
}

/* The lists of routes a notice may match, from what it carries. */
void
route_walk_start(struct route_walk *w, const struct config *cf,
    const struct notice *n)
{
	const struct route_index *ix = cf->route_index;
	struct route_bucket always;
	size_t i, c;

	w->cf = cf;
	w->n = n;
	w->ncursors = 0;
	w->scan = ix == NULL;
	w->scan_next = 0;
	w->tried = 0;
	if (ix == NULL)
		return;
	c = n->class >= 0 && n->class < CLASS_COUNT ? (size_t)n->class + 1 : 0;
	always.routes = ix->always[c];
	always.n = ix->nalways[c];
	route_walk_add(w, &always);
	if (n->source != NULL)
		route_walk_probe(w, &ix->dims[DIM_SOURCE], route_noname,
		    n->source);
	for (i = 0; i < n->naudience; i++)
		route_walk_probe(w, &ix->dims[DIM_AUDIENCE], route_noname,
		    n->audience[i]);
	for (i = 0; i < n->ntags; i++)
		route_walk_probe(w, &ix->dims[DIM_TAG], n->tags[i].key,
		    n->tags[i].value);
}

static void
route_walk_add(struct route_walk *w, const struct route_bucket *b)
{
	struct route_cursor *c;

	if (b->n == 0 || w->scan)
		return;
	if (w->ncursors == ROUTE_CURSORS_MAX) {
		w->scan = 1;
		return;
	}
	c = &w->cursors[w->ncursors++];
	c->next = b->routes;
	c->end = b->routes + b->n;
}

/*
 * The buckets of one value: the exact key equal to it and the prefix keys
 * it starts with, one bsearch a length that some prefix has.
 */
static void
route_walk_probe(struct route_walk *w, const struct route_dimension *d,
    const char *name, const char *value)
{
	struct route_key k = { name, value, strlen(value), 1 };
	const struct route_bucket *b;
	size_t i, len = k.len;

	if (d->nexact > 0 && (b = bsearch(&k, d->exact, d->nexact,
	    sizeof(*b), route_bucket_cmp_cb)) != NULL)
		route_walk_add(w, b);
	for (i = 0; i < d->nlens && d->lens[i] <= len; i++) {
		k.len = d->lens[i];
		if ((b = bsearch(&k, d->prefix, d->nprefix, sizeof(*b),
		    route_bucket_cmp_cb)) != NULL)
			route_walk_add(w, b);
	}
}

/* The next route, in order, that matches the notice; NULL: no more. */
const struct route *
route_walk_next(struct route_walk *w)
{
	struct route_cursor *c;
	const struct route *r;
	unsigned lowest;
	size_t i;

	while (w->scan) {
		if (w->scan_next == w->cf->nroutes)
			return (NULL);
		r = &w->cf->routes[w->scan_next++];
		w->tried++;
		if (match_notice(&r->match, w->n))
			return (r);
	}
	while (w->ncursors > 0) {
		lowest = UINT_MAX;
		for (i = 0; i < w->ncursors; i++)
			if (*w->cursors[i].next < lowest)
				lowest = *w->cursors[i].next;
		/* Every list naming it moves past it: it is tried once. */
		for (i = 0; i < w->ncursors; ) {
			c = &w->cursors[i];
			if (*c->next == lowest && ++c->next == c->end)
				*c = w->cursors[--w->ncursors];
			else
				i++;
		}
		r = &w->cf->routes[lowest];
		w->tried++;
		if (match_notice(&r->match, w->n))
			return (r);
	}
	return (NULL);
}
