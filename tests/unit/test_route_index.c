/*
 * test_route_index.c: the route index changes which routes are tried, never
 * what a notice gets. Random route sets (sources exact, prefix, fnmatch or
 * absent; audiences; classes; priorities; goals; tags; continue) against
 * random notices, with a fixed seed: route_notice() with the index must
 * give the same result as without it, and the routes it matched must be
 * those a plain scan in order finds. Then the edge cases one by one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "route_harness.h"
#include "match.h"
#include "notice.h"
#include "route.h"
#include "route_index.h"

#define CONFIGS		400	/* random route sets */
#define NOTICES		100	/* random notices against each */
#define ROUTES_MAX	40

/* Vocabularies, small so that routes and notices meet often. */
static const char *const source_globs[] = {
	"app", "api", "web", "app-1", "app-12", "app*", "ap*", "a*", "web-*",
	"a?p", "[aw]eb*", "app-[0-9]", "*", "?pi", "batch.nightly",
	"batch.*", "b*y", "w*"
};
static const char *const sources[] = {
	"app", "api", "web", "app-1", "app-12", "app-7", "apx", "web-1",
	"web", "batch.nightly", "batch.hourly", "bay", "a", "", "zed",
	"webhook"
};
static const char *const audience_globs[] = {
	"staff:*", "dept:eng", "dept:e*", "dept:*", "customer:acme",
	"customer:*", "public", "role:?ps", "*", "group:ops-[ab]", "mgmt:*",
	"partner:p*"
};
static const char *const audiences[] = {
	"staff:alice", "dept:eng", "dept:ops", "dept:e", "customer:acme",
	"customer:zed", "public", "role:ops", "role:dps", "group:ops-a",
	"group:ops-c", "mgmt:board", "partner:p1"
};
static const char *const tag_keys[] = { "env", "team", "region" };
static const char *const tag_globs[] = {
	"prod", "prod*", "*", "?est", "ops", "o*", "eu-[0-9]", "eu-1"
};
static const char *const tag_values[] = {
	"prod", "prod-2", "test", "ops", "opz", "eu-1", "eu-9", "x", ""
};
static const char *const class_names[] = {
	"realtime", "batch", "interactive"
};
static const char *const priority_names[] = {
	"low", "normal", "high", "urgent"
};
static const char *const goal_names[] = {
	"inform", "collect", "resolve", "relate"
};
static const char *const channel_names[] = {
	"a", "b", "c", "internal", "off", "pilot"
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static uint64_t	 rng = 0x5eed2026c0ffee01ULL;

/* xorshift64*: the same sequence on every machine. */
static unsigned
rnd(unsigned n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return ((unsigned)((rng * 0x2545f4914f6cdd1dULL) >> 33) % n);
}

#define PICK(a)		((a)[rnd(NITEMS(a))])

struct text {
	char	*buf;
	size_t	 len;
	size_t	 used;
};

static void
text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->used, t->len - t->used, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < t->len - t->used);
	t->used += (size_t)n;
}

/* A string or a list of one to three words of a vocabulary. */
static void
text_words(struct text *t, const char *key, const char *const *words,
    size_t nwords)
{
	unsigned i, n = 1 + rnd(3);

	if (rnd(2) == 0) {
		text_add(t, "%s = \"%s\"; ", key, words[rnd(nwords)]);
		return;
	}
	text_add(t, "%s = [ ", key);
	for (i = 0; i < n; i++)
		text_add(t, "%s\"%s\"", i > 0 ? ", " : "", words[rnd(nwords)]);
	text_add(t, " ]; ");
}

/* A route with at least one criterion: a catch-all would hide the rest. */
static void
text_route(struct text *t, int i)
{
	unsigned j, ntags;
	size_t start;

	text_add(t, "  { name = \"r%d\"; match = { ", i);
	start = t->used;
	if (rnd(10) < 7)
		text_words(t, "source", source_globs, NITEMS(source_globs));
	if (rnd(10) < 3)
		text_words(t, "audience", audience_globs,
		    NITEMS(audience_globs));
	if (rnd(10) < 3)
		text_words(t, "class", class_names, NITEMS(class_names));
	if (rnd(10) < 2)
		text_add(t, "priority = \"%s\"; ", PICK(priority_names));
	if (rnd(10) < 1)
		text_words(t, "goal", goal_names, NITEMS(goal_names));
	if (rnd(10) < 3) {
		ntags = 1 + rnd(2);
		text_add(t, "tags = { ");
		for (j = 0; j < ntags; j++)
			text_add(t, "%s = \"%s\"; ", tag_keys[(i + j) %
			    NITEMS(tag_keys)], PICK(tag_globs));
		text_add(t, "}; ");
	}
	if (t->used == start)
		text_words(t, "source", source_globs, NITEMS(source_globs));
	text_add(t, "}; channels = [ \"%s\" ]; continue = %s; }",
	    PICK(channel_names), rnd(3) == 0 ? "true" : "false");
}

/* A random route set over fixed channels, one of them gated by audience. */
static char *
text_config(int nroutes)
{
	struct text t = { NULL, 65536, 0 };
	int i;

	assert_non_null(t.buf = malloc(t.len));
	text_add(&t, "ingress = { router = \"tcp://127.0.0.1:7450\"; };\n"
	    "channels = {\n"
	    "  a = { type = \"discard\"; };\n"
	    "  b = { type = \"discard\"; };\n"
	    "  c = { type = \"discard\"; };\n"
	    "  internal = { type = \"discard\"; audiences = \"staff:*\"; };\n"
	    "  off = { type = \"discard\"; mode = \"disabled\"; };\n"
	    "  pilot = { type = \"discard\"; mode = \"pilot\"; "
	    "pilot_percent = 50; };\n"
	    "};\nroutes = (\n");
	for (i = 0; i < nroutes; i++) {
		text_route(&t, i);
		text_add(&t, "%s\n", i + 1 < nroutes ? "," : "");
	}
	text_add(&t, ");\n");
	return (t.buf);
}

/* A config from text, with its route index; fails the test on error. */
static struct config *
load(const char *text)
{
	struct config *c = route_harness_config(text);

	assert_non_null(c->route_index);
	return (c);
}

/* A random notice; its strings point into the vocabularies. */
struct sample {
	struct notice		 n;
	char			*aud[4];
	struct notice_tag	 tags[3];
};

static void
sample_make(struct sample *s, unsigned k)
{
	struct notice *n = &s->n;
	unsigned i;

	memset(s, 0, sizeof(*s));
	snprintf(n->id, sizeof(n->id), "n-%u", k);
	n->source = rnd(20) == 0 ? NULL : (char *)PICK(sources);
	n->anonymous = rnd(10) == 0;
	n->naudience = rnd(NITEMS(s->aud) + 1);
	for (i = 0; i < n->naudience; i++)
		s->aud[i] = (char *)PICK(audiences);
	n->audience = s->aud;
	n->ntags = rnd(NITEMS(s->tags) + 1);
	for (i = 0; i < n->ntags; i++) {
		s->tags[i].key = (char *)PICK(tag_keys);
		s->tags[i].value = (char *)PICK(tag_values);
	}
	n->tags = s->tags;
	n->priority = (enum notice_priority)rnd(PRIORITY_COUNT);
	n->goal = (enum notice_goal)rnd(GOAL_COUNT);
	n->class_hint = CLASS_NONE;
	n->class = (enum notice_class)((int)rnd(CLASS_COUNT + 1) - 1);
}

/* Route with the index and without: the results must be the same. */
static void
route_both(struct config *cf, const struct notice *n,
    struct route_result *with, struct route_result *without)
{
	struct route_index *ix = cf->route_index;

	memset(with, 0, sizeof(*with));
	memset(without, 0, sizeof(*without));
	route_notice(cf, n, with);
	cf->route_index = NULL;
	route_notice(cf, n, without);
	cf->route_index = ix;
}

/*
 * The routes a whole walk tries for n (a route that stops routing does not
 * stop it); *scanned: it tried every route, in order, instead of the index.
 */
static size_t
walk_tried(const struct config *cf, const struct notice *n, int *scanned)
{
	struct route_walk w;

	route_walk_start(&w, cf, n);
	while (route_walk_next(&w) != NULL)
		;
	*scanned = w.scan;
	return (w.tried);
}

static void
result_equal(const struct route_result *a, const struct route_result *b)
{
	size_t i;

	assert_int_equal(a->ntargets, b->ntargets);
	assert_int_equal(a->nmatched, b->nmatched);
	for (i = 0; i < a->ntargets; i++) {
		assert_int_equal(a->targets[i].channel, b->targets[i].channel);
		assert_ptr_equal(a->targets[i].route, b->targets[i].route);
		assert_int_equal(a->targets[i].pilot, b->targets[i].pilot);
	}
	assert_string_equal(a->reason, b->reason);
}

/*
 * The routes SPEC §4 says match, by a scan in order written here again:
 * every target must come from one of them, and as many must have matched.
 */
static void
result_is_scan(const struct config *cf, const struct notice *n,
    const struct route_result *res)
{
	const struct route *want[ROUTES_MAX];
	size_t i, j, nwant = 0;

	for (i = 0; i < cf->nroutes; i++) {
		if (!match_notice(&cf->routes[i].match, n))
			continue;
		want[nwant++] = &cf->routes[i];
		if (!cf->routes[i].cont)
			break;
	}
	assert_int_equal(res->nmatched, nwant);
	for (i = 0; i < res->ntargets; i++) {
		for (j = 0; j < nwant; j++)
			if (res->targets[i].route == want[j])
				break;
		assert_true(j < nwant);
	}
}

static void
test_random_route_sets(void **state)
{
	struct route_result with, without;
	struct sample s;
	struct config *cf;
	unsigned c, k, matched = 0, cases = 0;
	char *text;

	(void)state;
	for (c = 0; c < CONFIGS; c++) {
		text = text_config(1 + (int)rnd(ROUTES_MAX));
		cf = load(text);
		for (k = 0; k < NOTICES; k++) {
			sample_make(&s, k);
			route_both(cf, &s.n, &with, &without);
			result_equal(&with, &without);
			result_is_scan(cf, &s.n, &with);
			matched += with.nmatched > 0;
			cases++;
		}
		config_free(cf);
		free(text);
	}
	/* The vocabularies must meet, or the comparison proves little. */
	if (matched < cases / 4 || matched > cases - cases / 10)
		fail_msg("%u of %u notices matched a route: the random sets "
		    "no longer exercise both outcomes", matched, cases);
}

static struct notice	n;

static void
notice_set(const char *source, char **audience, size_t naudience,
    enum notice_class class)
{
	route_harness_notice(&n, "n-1", source, audience, naudience, class);
}

/*
 * The names of the routes that matched, in order, comma-separated: each
 * route of these configs names a channel no other route names.
 */
static const char *
matched(struct config *cf, char *buf, size_t len)
{
	struct route_result res, scan;
	size_t i;

	route_both(cf, &n, &res, &scan);
	result_equal(&res, &scan);
	result_is_scan(cf, &n, &res);
	assert_int_equal(res.ntargets, res.nmatched);
	buf[0] = '\0';
	for (i = 0; i < res.ntargets; i++) {
		if (buf[0] != '\0')
			strlcat(buf, ",", len);
		strlcat(buf, res.targets[i].route->name, len);
	}
	return (buf);
}

static const char edge_conf[] =
	"ingress = { router = \"tcp://127.0.0.1:7450\"; };\n"
	"channels = {\n"
	"  a = { type = \"discard\"; };\n"
	"  b = { type = \"discard\"; };\n"
	"  c = { type = \"discard\"; };\n"
	"  d = { type = \"discard\"; };\n"
	"  e = { type = \"discard\"; };\n"
	"  f = { type = \"discard\"; };\n"
	"  g = { type = \"discard\"; };\n"
	"};\n"
	"routes = (\n"
	/* Named twice, and both exact and by prefix: tried once. */
	"  { name = \"twice\"; match = { source = [ \"dup\", \"dup\", \"du*\" "
	"]; }; channels = \"a\"; continue = true; },\n"
	/* A tag that must only be present. */
	"  { name = \"tagged\"; match = { tags = { env = \"*\"; }; };\n"
	"    channels = \"b\"; continue = true; },\n"
	/* Class only: filed under the classes it takes. */
	"  { name = \"rt\"; match = { class = \"realtime\"; };\n"
	"    channels = \"c\"; continue = true; },\n"
	/* By audience, exact and by prefix. */
	"  { name = \"eng\"; match = { audience = [ \"dept:eng\", "
	"\"group:x*\" ]; }; channels = \"d\"; continue = true; },\n"
	/* A source glob with no fixed start: filed under no key. */
	"  { name = \"any-app\"; match = { source = \"*app\"; };\n"
	"    channels = \"e\"; continue = true; },\n"
	/* Filed under an audience prefix, never matching a realtime one. */
	"  { name = \"never\"; match = { audience = \"dept:q*\";\n"
	"    class = \"interactive\"; }; channels = \"g\"; },\n"
	"  { name = \"last\"; channels = \"f\"; }\n"
	");\n";

static void
test_edges(void **state)
{
	struct notice_tag tags[] = { { "env", "" } };
	char buf[256], *many[100], names[100][16];
	struct config *cf;
	size_t i;
	int scanned;

	(void)state;
	cf = load(edge_conf);
	notice_set("dup", NULL, 0, CLASS_BATCH);
	assert_string_equal(matched(cf, buf, sizeof(buf)), "twice,last");
	notice_set("dupe", NULL, 0, CLASS_REALTIME);
	assert_string_equal(matched(cf, buf, sizeof(buf)), "twice,rt,last");
	/* An empty tag value is still a tag. */
	notice_set("x", NULL, 0, CLASS_NONE);
	n.tags = tags;
	n.ntags = 1;
	assert_string_equal(matched(cf, buf, sizeof(buf)), "tagged,last");
	/* No source: no source route, not even "*app"'s. */
	notice_set(NULL, (char *[]){ "group:xyz" }, 1, CLASS_INTERACTIVE);
	assert_string_equal(matched(cf, buf, sizeof(buf)), "eng,last");
	notice_set("webapp", (char *[]){ "dept:eng" }, 1, CLASS_BATCH);
	assert_string_equal(matched(cf, buf, sizeof(buf)), "eng,any-app,last");
	/*
	 * More lists than a walk holds: every route, in order, instead. Only
	 * the last audience is eng's, past the lists that fit.
	 */
	for (i = 0; i < 99; i++) {
		snprintf(names[i], sizeof(names[i]), "dept:q%zu", i);
		many[i] = names[i];
	}
	many[99] = "dept:eng";
	notice_set("dup", many, 100, CLASS_REALTIME);
	assert_string_equal(matched(cf, buf, sizeof(buf)),
	    "twice,rt,eng,last");
	assert_int_equal(walk_tried(cf, &n, &scanned), cf->nroutes);
	assert_true(scanned);
	config_free(cf);
}

/* 10,000 routes, most filed under keys a notice does not carry. */
static void
test_many_routes(void **state)
{
	struct text t = { NULL, 2 * 1024 * 1024, 0 };
	struct route_result res, scan;
	struct config *cf;
	int i, scanned;

	(void)state;
	assert_non_null(t.buf = malloc(t.len));
	text_add(&t, "ingress = { router = \"tcp://127.0.0.1:7450\"; };\n"
	    "channels = { a = { type = \"discard\"; }; b = { type = "
	    "\"discard\"; }; };\nroutes = (\n");
	for (i = 0; i < 10000; i++) {
		text_add(&t, "  { name = \"m%d\"; match = { ", i);
		switch (i % 4) {
		case 0:
			text_add(&t, "source = \"svc-%d*\"; ", i);
			break;
		case 1:
			text_add(&t, "audience = \"dept:d%d\"; ", i);
			break;
		case 2:
			text_add(&t, "tags = { route = \"r%d\"; }; ", i);
			break;
		default:
			text_add(&t, "source = [ \"svc-%d\", \"svc-%d.*\" ]; ",
			    i, i);
			break;
		}
		text_add(&t, "}; channels = \"a\"; continue = true; },\n");
	}
	text_add(&t, "  { name = \"end\"; channels = \"b\"; }\n);\n");
	cf = load(t.buf);
	free(t.buf);
	/* m12 ("svc-12*"), m4442 (the tag), m9997 (the audience), end. */
	notice_set("svc-1234", (char *[]){ "dept:d9997" }, 1, CLASS_BATCH);
	n.tags = (struct notice_tag[]){ { "route", "r4442" } };
	n.ntags = 1;
	route_both(cf, &n, &res, &scan);
	result_equal(&res, &scan);
	result_is_scan(cf, &n, &res);
	assert_int_equal(res.nmatched, 4);
	assert_int_equal(res.ntargets, 2);
	/* The index, not a scan: a handful of the 10,001 routes tried. */
	assert_in_range(walk_tried(cf, &n, &scanned), 4, 40);
	assert_false(scanned);
	assert_string_equal(res.targets[0].route->name, "m12");
	assert_string_equal(res.targets[1].route->name, "end");
	/* "svc-12*", then case 3's "svc-123.*" (123 % 4 == 3), then end. */
	notice_set("svc-123.x", NULL, 0, CLASS_REALTIME);
	route_both(cf, &n, &res, &scan);
	result_equal(&res, &scan);
	result_is_scan(cf, &n, &res);
	assert_int_equal(res.nmatched, 3);
	assert_string_equal(res.targets[0].route->name, "m12");
	assert_in_range(walk_tried(cf, &n, &scanned), 3, 40);
	config_free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_route_sets),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_many_routes),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
