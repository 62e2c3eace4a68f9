/*
 * batch.c: per-channel digests of batch notices (see batch.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "batch.h"
#include "config.h"
#include "deadline.h"
#include "dispatch.h"
#include "log.h"
#include "notice.h"
#include "spool.h"
#include "tod.h"

/* The digest a channel is collecting. */
struct batch {
	struct channel		*ch;
	struct delivery		**items;
	size_t			 n;
	size_t			 cap;
	int			 max_items;	/* least of the items' */
	struct deadline		 flush;
};

/* A digest re-formed from the spool at start, sent by batch_restore_done. */
struct restored {
	char			 id[DELIVERY_ID_MAX + 1];
	struct channel		*ch;
	struct delivery		**items;
	size_t			 n;
	int64_t			 next_ms;	/* its retry, if it waited one */
	struct restored		*next;
};

static struct {
	struct deadline_heap	*heap;
	struct spool		*spool;
	struct restored		*restored;
} bt;

static struct batch	*batch_get(struct channel *);
static int		 batch_push(struct delivery ***, size_t *, size_t *,
			    struct delivery *);
static int64_t		 batch_due(const struct delivery *,
			    const struct policy *);
static void		 batch_flush_cb(struct deadline *, void *);
static void		 batch_flush(struct batch *);

int
batch_init(struct event_base *base, struct spool *spool,
    int64_t (*clock)(void))
{
	memset(&bt, 0, sizeof(bt));
	bt.spool = spool;
	bt.heap = deadline_heap_new(base, clock != NULL ? clock :
	    deadline_wall_ms);
	return (bt.heap == NULL ? -1 : 0);
}

void
batch_shutdown(void)
{
	deadline_heap_free(bt.heap);
	bt.heap = NULL;
}

static struct batch *
batch_get(struct channel *ch)
{
	if (ch->batch == NULL) {
		if ((ch->batch = calloc(1, sizeof(*ch->batch))) == NULL)
			fatal("batch_get");
		ch->batch->ch = ch;
	}
	return (ch->batch);
}

static int
batch_push(struct delivery ***items, size_t *n, size_t *cap,
    struct delivery *d)
{
	struct delivery **p;
	size_t ncap;

	if (*n == *cap) {
		ncap = *cap ? *cap * 2 : 16;
		if ((p = reallocarray(*items, ncap, sizeof(*p))) == NULL)
			return (-1);
		*items = p;
		*cap = ncap;
	}
	(*items)[(*n)++] = d;
	return (0);
}

/*
 * When an item must have left: its window counts from its acceptance (so
 * a restart does not stretch it), or the next `at` time if sooner.
 */
static int64_t
batch_due(const struct delivery *d, const struct policy *pol)
{
	int64_t due = d->notice->received_ms + pol->window_ms, at;
	int64_t now = deadline_now(bt.heap);
	size_t i;

	for (i = 0; i < pol->nat; i++)
		if ((at = tod_next(now, pol->at[i])) < due)
			due = at;
	return (due);
}

void
batch_add(struct channel *ch, struct delivery *d, const struct policy *pol)
{
	struct batch *b = batch_get(ch);
	int64_t due = batch_due(d, pol);

	if (batch_push(&b->items, &b->n, &b->cap, d) == -1)
		fatal("batch_add");
	if (b->n == 1 || pol->max_items < b->max_items)
		b->max_items = pol->max_items;
	if (b->flush.slot == 0 || due < b->flush.at_ms)
		deadline_arm(bt.heap, &b->flush, due, batch_flush_cb, b);
	if (b->n >= (size_t)b->max_items)
		batch_flush(b);
}

static void
batch_flush_cb(struct deadline *dl, void *arg)
{
	(void)dl;
	batch_flush(arg);
}

/* The open digest leaves as one delivery; its membership is recorded. */
static void
batch_flush(struct batch *b)
{
	const char **ids;
	char id[DELIVERY_ID_MAX + 1];
	size_t i;

	deadline_cancel(bt.heap, &b->flush);
	if (b->n == 0)
		return;
	snprintf(id, sizeof(id), "%s/%s/digest", b->items[0]->notice->id,
	    b->ch->name);
	if ((ids = calloc(b->n, sizeof(*ids))) == NULL)
		fatal("batch_flush");
	for (i = 0; i < b->n; i++)
		ids[i] = b->items[i]->id;
	if (spool_digest_assign(bt.spool, id, ids, b->n) == -1)
		log_warnx("spool: digest %s not recorded: %s", id,
		    bt.spool->error);
	free(ids);
	log_info("digest channel=%s id=%s items=%zu", b->ch->name, id, b->n);
	dispatch_digest(b->ch, id, b->items, b->n, 0);
	b->items = NULL;
	b->n = b->cap = 0;
}

void
batch_restore(struct channel *ch, const char *digest_id, struct delivery *d,
    int64_t next_ms)
{
	struct restored *r;
	size_t cap;

	for (r = bt.restored; r != NULL; r = r->next)
		if (r->ch == ch && strcmp(r->id, digest_id) == 0)
			break;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			fatal("batch_restore");
		strlcpy(r->id, digest_id, sizeof(r->id));
		r->ch = ch;
		r->next = bt.restored;
		bt.restored = r;
	}
	/* Its items were given the same retry time; the latest wins. */
	if (next_ms > r->next_ms)
		r->next_ms = next_ms;
	cap = r->n;	/* grow one by one: restores are few */
	if (batch_push(&r->items, &r->n, &cap, d) == -1)
		fatal("batch_restore");
}

void
batch_restore_done(void)
{
	struct restored *r;

	while ((r = bt.restored) != NULL) {
		bt.restored = r->next;
		log_info("digest restored channel=%s id=%s items=%zu",
		    r->ch->name, r->id, r->n);
		dispatch_digest(r->ch, r->id, r->items, r->n, r->next_ms);
		free(r);
	}
}

void
batch_move(struct channel *from, struct channel *to)
{
	size_t i;

	if (from->batch == NULL)
		return;
	if (to->batch != NULL)
		batch_channel_free(to);
	to->batch = from->batch;
	from->batch = NULL;
	to->batch->ch = to;
	for (i = 0; i < to->batch->n; i++)
		dispatch_move(to->batch->items[i], to);
}

void
batch_flush_now(struct channel *ch)
{
	if (ch->batch != NULL)
		batch_flush(ch->batch);
}

void
batch_channel_free(struct channel *ch)
{
	struct batch *b = ch->batch;
	size_t i;

	if (b == NULL)
		return;
	if (bt.heap != NULL)
		deadline_cancel(bt.heap, &b->flush);
	for (i = 0; i < b->n; i++)
		dispatch_release(b->items[i]);
	free(b->items);
	free(b);
	ch->batch = NULL;
}

size_t
batch_items(const struct channel *ch)
{
	return (ch->batch != NULL ? ch->batch->n : 0);
}

int64_t
batch_next_flush(const struct channel *ch)
{
	if (ch->batch == NULL || ch->batch->flush.slot == 0)
		return (0);
	return (ch->batch->flush.at_ms);
}

size_t
batch_tick(int64_t now_ms)
{
	return (deadline_run(bt.heap, now_ms, SIZE_MAX));
}
