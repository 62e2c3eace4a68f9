/*
 * test_limit.c: frequency caps over explicit instants: passing, demoting,
 * rejecting, the sliding window, urgent bypass, several limits at once,
 * counters carried into a reloaded set, and the reason given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "limit.h"
#include "match.h"
#include "notice.h"

#define SEC	1000LL
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)
#define DAY	(24 * HOUR)
/* An arbitrary start, so that no test depends on instants near 0. */
#define T0	1780000000000LL

static struct limit_conf	 confs[8];
static size_t			 nconfs;
static char			 why[256];
static struct notice		*notices[8];
static size_t			 nnotices;

static void	globs(struct glob_list *, const char *);
static struct limit_conf *add(const char *, const char *, const char *,
		    int, int64_t, enum limit_action);
static struct notice *make(const char *, const char *,
		    enum notice_priority);
static enum limit_verdict check(struct limits *, const struct notice *,
		    int64_t);
static void	opens_in(const char *);

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < nconfs; i++)
		match_free(&confs[i].match);
	memset(confs, 0, sizeof(confs));
	nconfs = 0;
	for (i = 0; i < nnotices; i++)
		notice_unref(notices[i]);
	nnotices = 0;
	return (0);
}

/* A list of one glob, or none for NULL. */
static void
globs(struct glob_list *list, const char *pattern)
{
	memset(list, 0, sizeof(*list));
	if (pattern == NULL)
		return;
	list->globs = calloc(1, sizeof(*list->globs));
	assert_non_null(list->globs);
	assert_int_equal(glob_compile(&list->globs[0], pattern), 0);
	list->n = 1;
}

/* The next limit of confs, matching source and audience (NULL: any). */
static struct limit_conf *
add(const char *name, const char *source, const char *audience, int max,
    int64_t per_ms, enum limit_action action)
{
	struct limit_conf *c = &confs[nconfs++];

	memset(c, 0, sizeof(*c));
	c->name = (char *)name;
	c->line = (int)nconfs;
	c->match.min_priority = -1;
	globs(&c->match.sources, source);
	globs(&c->match.audiences, audience);
	c->max = max;
	c->per_ms = per_ms;
	c->action = action;
	return (c);
}

/* A notice from source to one audience, freed by teardown(). */
static struct notice *
make(const char *source, const char *audience, enum notice_priority priority)
{
	struct notice *n;

	assert_true(nnotices < sizeof(notices) / sizeof(notices[0]));
	assert_non_null(n = notice_new());
	notices[nnotices++] = n;
	strcpy(n->id, "n-1");
	assert_non_null(n->source = strdup(source));
	assert_non_null(n->audience = calloc(1, sizeof(*n->audience)));
	assert_non_null(n->audience[0] = strdup(audience));
	n->naudience = 1;
	n->priority = priority;
	n->class = CLASS_REALTIME;
	return (n);
}

/*
 * A check whose reason is empty exactly when the notice passes, and whose
 * limits_verdict_by() is the limit the reason names; a notice not refused
 * is then accepted (counted), as accept.c does once nothing else refused it.
 */
static enum limit_verdict
check(struct limits *l, const struct notice *n, int64_t now)
{
	enum limit_verdict v;
	const char *by;
	char named[128];

	memset(why, 'x', sizeof(why));
	v = limits_check(l, n, now, why, sizeof(why));
	if ((v == LIMIT_PASS) != (why[0] == '\0'))
		fail_msg("verdict %d with reason \"%.*s\"", v,
		    (int)sizeof(why) - 1, why);
	by = limits_verdict_by(l);
	if (v != LIMIT_REJECTED)
		limits_count(l, now);
	if (v == LIMIT_PASS) {
		assert_null(by);
		return (v);
	}
	assert_non_null(by);
	snprintf(named, sizeof(named), "limit '%s': ", by);
	if (strncmp(why, named, strlen(named)) != 0)
		fail_msg("verdict by %s, but the reason is \"%s\"", by, why);
	return (v);
}

/* The reason ends with when the next slot opens. */
static void
opens_in(const char *want)
{
	const char *p = strstr(why, "; the next slot opens in ");

	if (p == NULL || strcmp(p + strlen("; the next slot opens in "),
	    want) != 0)
		fail_msg("\"%s\" does not end in \"opens in %s\"", why, want);
}

static void
test_pass_then_demote(void **state)
{
	struct limits *l;
	struct notice *n;

	(void)state;
	add("all-staff-daily", NULL, "group:all-staff", 3, DAY, LIMIT_DEMOTE);
	assert_non_null(l = limits_new(confs, nconfs));
	n = make("hr", "group:all-staff", PRIORITY_NORMAL);

	assert_int_equal(check(l, n, T0), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + HOUR), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 2 * HOUR), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 19 * HOUR + 48 * MIN),
	    LIMIT_DEMOTED);
	assert_string_equal(why, "limit 'all-staff-daily': at most 3 notices "
	    "per 1d to this audience; the next slot opens in 4h12m");
	/* Demoted notices are not counted: the slot opens on time. */
	assert_int_equal(check(l, n, T0 + DAY - 1), LIMIT_DEMOTED);
	assert_string_equal(why, "limit 'all-staff-daily': at most 3 notices "
	    "per 1d to this audience; the next slot opens in 1ms");
	assert_int_equal(check(l, n, T0 + DAY), LIMIT_PASS);
	limits_free(l);
}

static void
test_window_slides(void **state)
{
	struct limits *l;
	struct notice *n;
	int64_t t;

	(void)state;
	add("burst", "app", NULL, 2, 10 * SEC, LIMIT_REJECT);
	assert_non_null(l = limits_new(confs, nconfs));
	n = make("app", "staff:bob", PRIORITY_NORMAL);

	assert_int_equal(check(l, n, T0), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 4 * SEC), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 9 * SEC), LIMIT_REJECTED);
	assert_string_equal(why, "limit 'burst': at most 2 notices per 10s "
	    "from this source; the next slot opens in 1s");
	/* Rejected notices are not counted either. */
	assert_int_equal(check(l, n, T0 + 10 * SEC), LIMIT_PASS);
	/* The window now holds T0+4s and T0+10s. */
	assert_int_equal(check(l, n, T0 + 14 * SEC - 1), LIMIT_REJECTED);
	assert_int_equal(check(l, n, T0 + 14 * SEC), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 19 * SEC), LIMIT_REJECTED);
	/* A steady one every 5s fits exactly, round the ring many times. */
	for (t = T0 + 20 * SEC; t < T0 + 200 * SEC; t += 5 * SEC) {
		assert_int_equal(check(l, n, t), LIMIT_PASS);
		assert_int_equal(check(l, n, t + 1), LIMIT_REJECTED);
	}
	limits_free(l);
}

static void
test_not_matching(void **state)
{
	struct limits *l;
	struct notice *n;
	int i;

	(void)state;
	add("all-staff", NULL, "group:all-staff", 1, DAY, LIMIT_REJECT);
	assert_non_null(l = limits_new(confs, nconfs));
	n = make("hr", "staff:bob", PRIORITY_NORMAL);
	for (i = 0; i < 10; i++)
		assert_int_equal(check(l, n, T0 + i), LIMIT_PASS);
	/* Those were not counted: the first matching one still passes. */
	n = make("hr", "group:all-staff", PRIORITY_NORMAL);
	assert_int_equal(check(l, n, T0 + 10), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 11), LIMIT_REJECTED);
	limits_free(l);
}

static void
test_urgent(void **state)
{
	struct limit_conf *c;
	struct limits *l;
	struct notice *n, *u;

	(void)state;
	c = add("ops", "monitor", NULL, 2, HOUR, LIMIT_DEMOTE);
	c->urgent_bypass = 1;
	add("ops-strict", "monitor", NULL, 2, HOUR, LIMIT_REJECT);
	n = make("monitor", "role:oncall", PRIORITY_HIGH);
	u = make("monitor", "role:oncall", PRIORITY_URGENT);

	/* Only "ops" applies at first: the bypass lets urgent through. */
	assert_non_null(l = limits_new(confs, 1));
	assert_int_equal(check(l, n, T0), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + SEC), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 2 * SEC), LIMIT_DEMOTED);
	assert_int_equal(check(l, u, T0 + 3 * SEC), LIMIT_PASS);
	/* ... and counts it: T0+1s and T0+3s now fill the window. */
	assert_int_equal(check(l, n, T0 + HOUR + 500), LIMIT_DEMOTED);
	assert_string_equal(why, "limit 'ops': at most 2 notices per 1h "
	    "from this source; the next slot opens in 500ms");
	assert_int_equal(check(l, n, T0 + HOUR + SEC), LIMIT_PASS);
	limits_free(l);

	/* Without the bypass, urgent is capped like the rest. */
	assert_non_null(l = limits_new(&confs[1], 1));
	assert_int_equal(check(l, u, T0), LIMIT_PASS);
	assert_int_equal(check(l, u, T0 + SEC), LIMIT_PASS);
	assert_int_equal(check(l, u, T0 + 2 * SEC), LIMIT_REJECTED);
	assert_string_equal(why, "limit 'ops-strict': at most 2 notices per 1h "
	    "from this source; the next slot opens in 59m58s");
	limits_free(l);
}

static void
test_several(void **state)
{
	struct limits *l;
	struct notice *hr, *it, *bob;

	(void)state;
	add("staff-hourly", NULL, "group:all-staff", 1, HOUR, LIMIT_DEMOTE);
	add("hr-hourly", "hr", NULL, 2, HOUR, LIMIT_REJECT);
	add("everything", NULL, NULL, 3, HOUR, LIMIT_DEMOTE);
	assert_non_null(l = limits_new(confs, nconfs));
	hr = make("hr", "group:all-staff", PRIORITY_NORMAL);
	it = make("it", "group:all-staff", PRIORITY_NORMAL);
	bob = make("it", "staff:bob", PRIORITY_NORMAL);

	assert_int_equal(check(l, hr, T0), LIMIT_PASS);
	/* Demoted by the first; the others pass and count it. */
	assert_int_equal(check(l, hr, T0 + MIN), LIMIT_DEMOTED);
	assert_string_equal(why, "limit 'staff-hourly': at most 1 notice per "
	    "1h to this audience; the next slot opens in 59m");
	/* Demoted by the first, then rejected by the second: reject wins. */
	assert_int_equal(check(l, hr, T0 + 2 * MIN), LIMIT_REJECTED);
	assert_string_equal(why, "limit 'hr-hourly': at most 2 notices per 1h "
	    "from this source; the next slot opens in 58m");
	/*
	 * The rejected notice was counted nowhere, not even by "everything",
	 * which it would have passed: that holds two and takes a third.
	 */
	assert_int_equal(check(l, bob, T0 + 3 * MIN), LIMIT_PASS);
	assert_int_equal(check(l, bob, T0 + 4 * MIN), LIMIT_DEMOTED);
	assert_string_equal(why, "limit 'everything': at most 3 notices per "
	    "1h; the next slot opens in 56m");
	/* Two demoting limits: the first explains. */
	assert_int_equal(check(l, it, T0 + 5 * MIN), LIMIT_DEMOTED);
	assert_string_equal(why, "limit 'staff-hourly': at most 1 notice per "
	    "1h to this audience; the next slot opens in 55m");
	limits_free(l);
}

/*
 * A reject stops the check and counts the notice nowhere: not in a later
 * limit, which is not asked, nor in an earlier one it had passed.
 */
static void
test_reject_stops(void **state)
{
	struct limits *l;
	struct notice *hr, *it;

	(void)state;
	add("before", NULL, NULL, 2, HOUR, LIMIT_DEMOTE);
	add("hr-only", "hr", NULL, 1, HOUR, LIMIT_REJECT);
	add("after", NULL, NULL, 2, HOUR, LIMIT_DEMOTE);
	assert_non_null(l = limits_new(confs, nconfs));
	hr = make("hr", "staff:bob", PRIORITY_NORMAL);
	it = make("it", "staff:bob", PRIORITY_NORMAL);

	assert_int_equal(check(l, hr, T0), LIMIT_PASS);
	assert_int_equal(check(l, hr, T0 + 1), LIMIT_REJECTED);
	assert_string_equal(limits_verdict_by(l), "hr-only");
	assert_string_equal(why, "limit 'hr-only': at most 1 notice per 1h "
	    "from this source; the next slot opens in 1h");	/* 1ms short */
	/* "before" and "after" hold T0 only: room for one more. */
	assert_int_equal(check(l, it, T0 + 2), LIMIT_PASS);
	assert_int_equal(check(l, it, T0 + 3), LIMIT_DEMOTED);
	assert_non_null(strstr(why, "limit 'before':"));
	/* The first demoting limit, though "after" is over its cap too. */
	assert_string_equal(limits_verdict_by(l), "before");
	assert_int_equal(check(l, hr, T0 + 4), LIMIT_REJECTED);
	assert_string_equal(limits_verdict_by(l), "hr-only");
	limits_free(l);

	/* The same with "before" left out shows "after" was not told. */
	assert_non_null(l = limits_new(&confs[1], 2));
	assert_int_equal(check(l, hr, T0), LIMIT_PASS);
	assert_int_equal(check(l, hr, T0 + 1), LIMIT_REJECTED);
	assert_int_equal(check(l, it, T0 + 2), LIMIT_PASS);
	assert_int_equal(check(l, it, T0 + 3), LIMIT_DEMOTED);
	assert_non_null(strstr(why, "limit 'after':"));
	limits_free(l);
}

static void
test_why(void **state)
{
	struct limits *l;
	struct notice *n;
	char small[16];

	(void)state;
	add("both", "hr", "group:*", 1, 2 * DAY, LIMIT_REJECT);
	add("any", NULL, NULL, 1, 90 * SEC, LIMIT_REJECT);
	n = make("hr", "group:all-staff", PRIORITY_NORMAL);

	assert_non_null(l = limits_new(confs, 1));
	assert_int_equal(check(l, n, T0), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 250), LIMIT_REJECTED);
	assert_string_equal(why, "limit 'both': at most 1 notice per 2d from "
	    "this source to this audience; the next slot opens in 2d");
	/* Rounded up, never promising the slot early. */
	assert_int_equal(check(l, n, T0 + DAY + 5 * HOUR - 1), LIMIT_REJECTED);
	opens_in("19h1m");
	assert_int_equal(check(l, n, T0 + 2 * DAY - 12 * MIN - 5 * SEC -
	    300), LIMIT_REJECTED);
	opens_in("12m6s");
	assert_int_equal(check(l, n, T0 + 2 * DAY - HOUR + 30 * SEC),
	    LIMIT_REJECTED);
	opens_in("59m30s");
	assert_int_equal(check(l, n, T0 + 2 * DAY - 60 * SEC + 1),
	    LIMIT_REJECTED);
	opens_in("1m");
	assert_int_equal(check(l, n, T0 + 2 * DAY - 45 * SEC),
	    LIMIT_REJECTED);
	opens_in("45s");
	assert_int_equal(check(l, n, T0 + 2 * DAY - 250), LIMIT_REJECTED);
	opens_in("250ms");

	/* A short buffer is cut, not overrun; no buffer at all is allowed. */
	assert_int_equal(limits_check(l, n, T0 + 1, small, sizeof(small)),
	    LIMIT_REJECTED);
	assert_string_equal(small, "limit 'both': a");
	assert_int_equal(limits_check(l, n, T0 + 2, NULL, 0), LIMIT_REJECTED);
	limits_free(l);

	assert_non_null(l = limits_new(&confs[1], 1));
	assert_int_equal(check(l, n, T0), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + SEC), LIMIT_REJECTED);
	assert_string_equal(why, "limit 'any': at most 1 notice per 90s; "
	    "the next slot opens in 1m29s");
	limits_free(l);
}

static void
test_carry(void **state)
{
	struct limits *from, *to;
	struct notice *n;
	int i;

	(void)state;
	n = make("app", "staff:bob", PRIORITY_NORMAL);
	add("cap", NULL, NULL, 3, HOUR, LIMIT_REJECT);
	assert_non_null(from = limits_new(confs, 1));
	/* Round the ring: it holds T0+3s, T0+1h+1s and T0+1h+2s. */
	for (i = 1; i <= 3; i++)
		assert_int_equal(check(from, n, T0 + i * SEC), LIMIT_PASS);
	assert_int_equal(check(from, n, T0 + HOUR + SEC), LIMIT_PASS);
	assert_int_equal(check(from, n, T0 + HOUR + 2 * SEC), LIMIT_PASS);
	assert_int_equal(check(from, n, T0 + HOUR + 3 * SEC - 1),
	    LIMIT_REJECTED);

	/* Same max: the cap holds across the reload. */
	add("cap", NULL, NULL, 3, HOUR, LIMIT_REJECT);
	assert_non_null(to = limits_new(&confs[1], 1));
	limits_carry(to, from);
	assert_int_equal(check(to, n, T0 + HOUR + 3 * SEC - 1),
	    LIMIT_REJECTED);
	assert_int_equal(check(to, n, T0 + HOUR + 3 * SEC), LIMIT_PASS);
	limits_free(to);

	/* A smaller max keeps the most recent: T0+1h+1s and T0+1h+2s. */
	add("cap", NULL, NULL, 2, HOUR, LIMIT_REJECT);
	assert_non_null(to = limits_new(&confs[2], 1));
	limits_carry(to, from);
	assert_int_equal(check(to, n, T0 + HOUR + 5 * SEC), LIMIT_REJECTED);
	assert_string_equal(why, "limit 'cap': at most 2 notices per 1h; "
	    "the next slot opens in 59m56s");
	assert_int_equal(check(to, n, T0 + 2 * HOUR + SEC), LIMIT_PASS);
	assert_int_equal(check(to, n, T0 + 2 * HOUR + 2 * SEC - 1),
	    LIMIT_REJECTED);
	limits_free(to);

	/* A larger max keeps all three, oldest first, with room for two. */
	add("cap", NULL, NULL, 5, HOUR, LIMIT_REJECT);
	assert_non_null(to = limits_new(&confs[3], 1));
	limits_carry(to, from);
	assert_int_equal(check(to, n, T0 + HOUR + 10 * SEC), LIMIT_PASS);
	assert_int_equal(check(to, n, T0 + HOUR + 11 * SEC), LIMIT_PASS);
	/* Full; its oldest, T0+3s, has left the window. */
	assert_int_equal(check(to, n, T0 + HOUR + 12 * SEC), LIMIT_PASS);
	/* Now the oldest is T0+1h+1s. */
	assert_int_equal(check(to, n, T0 + HOUR + 13 * SEC), LIMIT_REJECTED);
	assert_string_equal(why, "limit 'cap': at most 5 notices per 1h; "
	    "the next slot opens in 59m48s");
	limits_free(to);
	limits_free(from);
}

static void
test_carry_by_name(void **state)
{
	struct limits *from, *to;
	struct notice *n;

	(void)state;
	n = make("app", "staff:bob", PRIORITY_NORMAL);
	add("a", NULL, NULL, 1, HOUR, LIMIT_REJECT);
	add("b", "other", NULL, 1, HOUR, LIMIT_REJECT);
	assert_non_null(from = limits_new(confs, 2));
	assert_int_equal(check(from, n, T0), LIMIT_PASS);	/* "a" only */

	/* Reordered, "b" now matching too, and a new "c". */
	add("b", "app", NULL, 1, HOUR, LIMIT_REJECT);
	add("c", "app", NULL, 1, HOUR, LIMIT_REJECT);
	add("a", "app", NULL, 1, HOUR, LIMIT_REJECT);
	assert_non_null(to = limits_new(&confs[2], 3));
	limits_carry(to, from);
	assert_int_equal(check(to, n, T0 + SEC), LIMIT_REJECTED);
	assert_string_equal(why, "limit 'a': at most 1 notice per 1h from "
	    "this source; the next slot opens in 59m59s");
	limits_free(to);

	/* Without "a", "b" and "c" start empty and take one each. */
	assert_non_null(to = limits_new(&confs[2], 2));
	limits_carry(to, from);
	assert_int_equal(check(to, n, T0 + SEC), LIMIT_PASS);
	assert_int_equal(check(to, n, T0 + 2 * SEC), LIMIT_REJECTED);
	assert_non_null(strstr(why, "limit 'b':"));
	limits_free(to);
	limits_free(from);
}

static void
test_empty(void **state)
{
	struct limits *l;
	struct notice *n;

	(void)state;
	n = make("app", "staff:bob", PRIORITY_NORMAL);
	assert_non_null(l = limits_new(NULL, 0));
	assert_int_equal(check(l, n, T0), LIMIT_PASS);
	assert_int_equal(check(NULL, n, T0), LIMIT_PASS);
	limits_carry(l, NULL);
	limits_free(l);
	limits_free(NULL);
}

/* A notice refused after its check (no route, a full channel) takes no
 * slot; one refused by a limit takes none in the limits it passed either. */
static void
test_counted_only_when_accepted(void **state)
{
	struct limits *l;
	struct notice *n;

	(void)state;
	add("one", "app", NULL, 1, 90 * SEC, LIMIT_REJECT);
	add("two", NULL, NULL, 2, 90 * SEC, LIMIT_DEMOTE);
	n = make("app", "dept:ops", PRIORITY_NORMAL);
	assert_non_null(l = limits_new(confs, nconfs));
	/* Checked twice, counted never: the one slot of "one" stays free. */
	assert_int_equal(limits_check(l, n, T0, NULL, 0), LIMIT_PASS);
	assert_int_equal(limits_check(l, n, T0 + 1, NULL, 0), LIMIT_PASS);
	limits_count(l, T0 + 2);
	/* "one" is full; its refusal leaves "two" with the one slot taken. */
	assert_int_equal(limits_check(l, n, T0 + 3, NULL, 0), LIMIT_REJECTED);
	limits_count(l, T0 + 3);	/* no effect after a refusal */
	n = make("other", "dept:ops", PRIORITY_NORMAL);
	assert_int_equal(limits_check(l, n, T0 + 4, NULL, 0), LIMIT_PASS);
	limits_count(l, T0 + 4);
	assert_int_equal(limits_check(l, n, T0 + 5, NULL, 0), LIMIT_DEMOTED);
	limits_free(l);
}

/*
 * A pass whose commit fails gives its slots back, exactly: the ring's
 * count and its oldest time are as before the pass, also when the pass
 * overwrote the oldest slot of a full ring.
 */
static void
test_failed_pass_gives_slots_back(void **state)
{
	struct limits *l;
	struct notice *n;

	(void)state;
	add("two", "app", NULL, 2, 90 * SEC, LIMIT_REJECT);
	n = make("app", "dept:ops", PRIORITY_NORMAL);
	assert_non_null(l = limits_new(confs, nconfs));
	assert_int_equal(check(l, n, T0), LIMIT_PASS);
	limits_pass_keep(l);
	/* Not full: the undone slot is free again. */
	assert_int_equal(check(l, n, T0 + SEC), LIMIT_PASS);
	limits_pass_undo(l);
	assert_int_equal(check(l, n, T0 + 10 * SEC), LIMIT_PASS);
	limits_pass_keep(l);
	assert_int_equal(check(l, n, T0 + 11 * SEC), LIMIT_REJECTED);
	/* Full: T0 has left the window, its slot is overwritten, undone. */
	assert_int_equal(check(l, n, T0 + 95 * SEC), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 96 * SEC), LIMIT_REJECTED);
	limits_pass_undo(l);
	/* Back to {T0, T0 + 10s}: T0 is out of the window, so one passes. */
	assert_int_equal(check(l, n, T0 + 97 * SEC), LIMIT_PASS);
	limits_pass_keep(l);
	/* ... and the next waits for T0 + 10s to leave it: 3s from now. */
	assert_int_equal(check(l, n, T0 + 97 * SEC), LIMIT_REJECTED);
	opens_in("3s");
	limits_free(l);
}

/*
 * A pass that overwrote two slots of a full ring is undone last first:
 * each slot gets back its own time, so the oldest is the true oldest.
 */
static void
test_undo_is_last_first(void **state)
{
	struct limits *l;
	struct notice *n;

	(void)state;
	add("three", "app", NULL, 3, 90 * SEC, LIMIT_REJECT);
	n = make("app", "dept:ops", PRIORITY_NORMAL);
	assert_non_null(l = limits_new(confs, nconfs));
	assert_int_equal(check(l, n, T0), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 10 * SEC), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 20 * SEC), LIMIT_PASS);
	limits_pass_keep(l);
	/* T0 and T0 + 10s have left the window: two slots overwritten. */
	assert_int_equal(check(l, n, T0 + 101 * SEC), LIMIT_PASS);
	assert_int_equal(check(l, n, T0 + 102 * SEC), LIMIT_PASS);
	limits_pass_undo(l);
	/* Back to {T0, T0 + 10s, T0 + 20s}: only T0 has left at T0 + 95s. */
	assert_int_equal(check(l, n, T0 + 95 * SEC), LIMIT_PASS);
	limits_pass_keep(l);
	assert_int_equal(check(l, n, T0 + 95 * SEC), LIMIT_REJECTED);
	opens_in("5s");
	limits_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_pass_then_demote, teardown),
		cmocka_unit_test_teardown(test_window_slides, teardown),
		cmocka_unit_test_teardown(test_not_matching, teardown),
		cmocka_unit_test_teardown(test_urgent, teardown),
		cmocka_unit_test_teardown(test_several, teardown),
		cmocka_unit_test_teardown(test_reject_stops, teardown),
		cmocka_unit_test_teardown(test_why, teardown),
		cmocka_unit_test_teardown(test_carry, teardown),
		cmocka_unit_test_teardown(test_carry_by_name, teardown),
		cmocka_unit_test_teardown(test_empty, teardown),
		cmocka_unit_test_teardown(test_counted_only_when_accepted,
		    teardown),
		cmocka_unit_test_teardown(test_failed_pass_gives_slots_back,
		    teardown),
		cmocka_unit_test_teardown(test_undo_is_last_first, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
