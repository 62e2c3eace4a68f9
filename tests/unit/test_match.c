/*
 * test_match.c: globs (each kind, compiled and matched) and match groups
 * (compiled from libconfig text, each key matched against notices).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "match.h"
#include "notice.h"
#include "route_harness.h"

#define AUD(...)	(char *[]){ __VA_ARGS__ }, \
			sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *)

static config_t			 lc;
static struct config_errors	 errs;

static int
setup(void **state)
{
	(void)state;
	config_init(&lc);
	memset(&errs, 0, sizeof(errs));
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	config_destroy(&lc);
	config_errors_clear(&errs);
	return (0);
}

/* The setting at path of a config read from text. */
static const config_setting_t *
parse(const char *text, const char *path)
{
	const config_setting_t *s;

	config_destroy(&lc);
	config_init(&lc);
	if (config_read_string(&lc, text) != CONFIG_TRUE)
		fail_msg("bad test config: line %d: %s", config_error_line(&lc),
		    config_error_text(&lc));
	s = config_lookup(&lc, path);
	assert_non_null(s);
	return (s);
}

/* Some error must contain want; print them all if none does. */
static void
expect_error(const char *want)
{
	size_t i;

	for (i = 0; i < errs.n; i++)
		if (strstr(errs.msgs[i], want) != NULL)
			return;
	for (i = 0; i < errs.n; i++)
		print_error("error: %s\n", errs.msgs[i]);
	fail_msg("no error contains \"%s\"", want);
}

static void
notice_set(struct notice *n, const char *source, char **audience,
    size_t naudience)
{
	route_harness_notice(n, "n-1", source, audience, naudience,
	    CLASS_BATCH);
}

/* A match compiled from a one-line group; fails the test on error. */
static void
compile(struct match *m, const char *text, int allow_class)
{
	char buf[512];

	size_t i;

	snprintf(buf, sizeof(buf), "m = %s;", text);
	if (match_compile(m, parse(buf, "m"), allow_class, &errs) == 0)
		return;
	for (i = 0; i < errs.n; i++)
		print_error("error: %s\n", errs.msgs[i]);
	fail_msg("'%s' did not compile", text);
}

static void
compile_fails(const char *text, int allow_class, const char *want)
{
	struct match m;
	char buf[512];

	snprintf(buf, sizeof(buf), "m = %s;", text);
	assert_int_equal(match_compile(&m, parse(buf, "m"), allow_class,
	    &errs), -1);
	expect_error(want);
	config_errors_clear(&errs);
	/* A failed compile leaves nothing to free, and freeing is safe. */
	assert_null(m.sources.globs);
	assert_null(m.tags);
	match_free(&m);
}

static void
test_glob_kinds(void **state)
{
	static const struct {
		const char	*pattern;
		enum glob_kind	 kind;
		size_t		 len;
	} cases[] = {
		{ "*", GLOB_ANY, 0 },
		{ "**", GLOB_ANY, 0 },
		{ "pager", GLOB_EXACT, 5 },
		{ "staff:alice", GLOB_EXACT, 11 },
		{ "pager*", GLOB_PREFIX, 5 },
		{ "dept:*", GLOB_PREFIX, 5 },
		{ "a*c", GLOB_FNMATCH, 1 },
		{ "job-?", GLOB_FNMATCH, 4 },
		{ "[ab]x", GLOB_FNMATCH, 0 },
		{ "*-cron", GLOB_FNMATCH, 0 },
		{ "a\\*", GLOB_FNMATCH, 1 },
		{ "ab**", GLOB_FNMATCH, 2 },
	};
	struct glob g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(glob_compile(&g, cases[i].pattern), 0);
		if (g.kind != cases[i].kind || g.len != cases[i].len)
			fail_msg("'%s': kind %d len %zu, want %d len %zu",
			    cases[i].pattern, g.kind, g.len, cases[i].kind,
			    cases[i].len);
		assert_string_equal(g.pattern, cases[i].pattern);
		glob_free(&g);
		assert_null(g.pattern);
	}
}

static void
test_glob_bad(void **state)
{
	struct glob g;

	(void)state;
	assert_int_equal(glob_compile(&g, ""), -1);
	assert_int_equal(glob_compile(&g, "app[12"), -1);
	assert_int_equal(glob_compile(&g, "[!"), -1);
	assert_int_equal(glob_compile(&g, "trailing\\"), -1);
	/* "]" first in a bracket is a member, not its end. */
	assert_int_equal(glob_compile(&g, "[]x]"), 0);
	assert_true(glob_match(&g, "]"));
	assert_true(glob_match(&g, "x"));
	glob_free(&g);
}

static void
test_glob_match(void **state)
{
	static const struct {
		const char	*pattern;
		const char	*s;
		int		 want;
	} cases[] = {
		{ "*", "", 1 },
		{ "*", "anything", 1 },
		{ "pager", "pager", 1 },
		{ "pager", "pager2", 0 },
		{ "pager", "pag", 0 },
		{ "pager*", "pager", 1 },
		{ "pager*", "pager-eu-1", 1 },
		{ "pager*", "pagr", 0 },
		{ "pager*", "xpager", 0 },
		{ "a*c", "ac", 1 },
		{ "a*c", "abbbc", 1 },
		{ "a*c", "abcd", 0 },
		{ "a*c", "bac", 0 },
		{ "job-?", "job-1", 1 },
		{ "job-?", "job-12", 0 },
		{ "[ab]x", "bx", 1 },
		{ "[ab]x", "cx", 0 },
		{ "[!ab]x", "cx", 1 },
		{ "*-cron", "db-cron", 1 },
		{ "*-cron", "cron", 0 },
		{ "a\\*", "a*", 1 },
		{ "a\\*", "ab", 0 },
		{ "dept:*", "dept:eng", 1 },
		{ "dept:*", "dept:*", 1 },
		{ "dept:*", "dep:eng", 0 },
	};
	struct glob g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(glob_compile(&g, cases[i].pattern), 0);
		if (glob_match(&g, cases[i].s) != cases[i].want)
			fail_msg("'%s' vs '%s': want %d", cases[i].pattern,
			    cases[i].s, cases[i].want);
		glob_free(&g);
	}
}

static void
test_glob_list(void **state)
{
	struct glob_list l;

	(void)state;
	assert_int_equal(glob_list_compile(&l, parse("s = \"web\";", "s"),
	    &errs), 0);
	assert_int_equal(l.n, 1);
	assert_true(glob_list_match(&l, "web"));
	assert_false(glob_list_match(&l, "web2"));
	glob_list_free(&l);
	assert_int_equal(l.n, 0);

	assert_int_equal(glob_list_compile(&l,
	    parse("s = [ \"web\", \"app-*\" ];", "s"), &errs), 0);
	assert_int_equal(l.n, 2);
	assert_true(glob_list_match(&l, "app-1"));
	assert_false(glob_list_match(&l, "db"));
	glob_list_free(&l);

	assert_int_equal(glob_list_compile(&l, parse("s = [ ];", "s"), &errs),
	    -1);
	expect_error("s: an empty list matches nothing");
	assert_int_equal(glob_list_compile(&l,
	    parse("s = ( \"a\", 5 );", "s"), &errs), -1);
	expect_error("s[1]: expected a glob (a string)");
	assert_int_equal(glob_list_compile(&l, parse("s = 5;", "s"), &errs),
	    -1);
	expect_error("s: expected a glob or a list of globs");
	assert_int_equal(l.n, 0);
}

static void
test_glob_audience(void **state)
{
	struct glob_list l;

	(void)state;
	assert_int_equal(glob_list_compile_audience(&l, parse(
	    "a = [ \"staff:*\", \"public\", \"*\", \"*:all\", "
	    "\"customer:acme-*\", \"[sd]*:x\" ];", "a"), &errs), 0);
	assert_int_equal(l.n, 6);
	glob_list_free(&l);

	assert_int_equal(glob_list_compile_audience(&l,
	    parse("a = [ \"staff:*\", \"dpt:*\" ];", "a"), &errs), -1);
	expect_error("a[1]: 'dpt:*': unknown audience kind 'dpt' (expected "
	    "staff, dept, role, group, mgmt, customer, partner, public)");
	assert_int_equal(glob_list_compile_audience(&l,
	    parse("a = \"staff\";", "a"), &errs), -1);
	expect_error("'staff' has no ':name' (write 'staff:*'");
	assert_int_equal(glob_list_compile_audience(&l,
	    parse("a = \"public:x\";", "a"), &errs), -1);
	expect_error("the public audience has no name");
}

static void
test_match_empty(void **state)
{
	struct notice n;
	struct match m;

	(void)state;
	notice_set(&n, "web", AUD("staff:alice"));
	assert_int_equal(match_compile(&m, NULL, 1, &errs), 0);
	assert_true(match_notice(&m, &n));
	match_free(&m);
	compile(&m, "{ }", 1);
	assert_true(match_notice(&m, &n));
	assert_int_equal(m.min_priority, -1);
	match_free(&m);
}

static void
test_match_source(void **state)
{
	struct notice n;
	struct match m;

	(void)state;
	compile(&m, "{ source = [ \"monitor*\", \"web\" ]; }", 1);
	notice_set(&n, "monitor-eu", AUD("staff:alice"));
	assert_true(match_notice(&m, &n));
	n.source = "web";
	assert_true(match_notice(&m, &n));
	n.source = "webshop";
	assert_false(match_notice(&m, &n));
	n.source = NULL;
	assert_false(match_notice(&m, &n));
	match_free(&m);
}

static void
test_match_audience(void **state)
{
	struct notice n;
	struct match m;

	(void)state;
	compile(&m, "{ audience = [ \"role:oncall\", \"dept:*\" ]; }", 1);
	notice_set(&n, "web", AUD("staff:alice"));
	assert_false(match_notice(&m, &n));
	/* Any entry of the notice matching any glob is enough. */
	notice_set(&n, "web", AUD("staff:alice", "dept:eng"));
	assert_true(match_notice(&m, &n));
	notice_set(&n, "web", AUD("role:oncall"));
	assert_true(match_notice(&m, &n));
	notice_set(&n, "web", AUD("role:dba"));
	assert_false(match_notice(&m, &n));
	match_free(&m);

	compile(&m, "{ audience = \"public\"; }", 1);
	notice_set(&n, "web", AUD("public"));
	assert_true(match_notice(&m, &n));
	notice_set(&n, "web", AUD("customer:acme"));
	assert_false(match_notice(&m, &n));
	match_free(&m);
}

static void
test_match_class(void **state)
{
	struct notice n;
	struct match m;

	(void)state;
	compile(&m, "{ class = [ \"realtime\", \"interactive\" ]; }", 1);
	assert_int_equal(m.class_mask, (1u << CLASS_REALTIME) |
	    (1u << CLASS_INTERACTIVE));
	notice_set(&n, "web", AUD("public"));
	n.class = CLASS_REALTIME;
	assert_true(match_notice(&m, &n));
	n.class = CLASS_INTERACTIVE;
	assert_true(match_notice(&m, &n));
	n.class = CLASS_BATCH;
	assert_false(match_notice(&m, &n));
	n.class = CLASS_NONE;
	assert_false(match_notice(&m, &n));
	match_free(&m);

	compile(&m, "{ class = \"batch\"; }", 1);
	n.class = CLASS_BATCH;
	assert_true(match_notice(&m, &n));
	match_free(&m);
}

static void
test_match_priority(void **state)
{
	struct notice n;
	struct match m;

	(void)state;
	compile(&m, "{ priority = \"high\"; }", 1);
	assert_int_equal(m.min_priority, PRIORITY_HIGH);
	notice_set(&n, "web", AUD("public"));
	n.priority = PRIORITY_LOW;
	assert_false(match_notice(&m, &n));
	n.priority = PRIORITY_NORMAL;
	assert_false(match_notice(&m, &n));
	n.priority = PRIORITY_HIGH;
	assert_true(match_notice(&m, &n));
	n.priority = PRIORITY_URGENT;
	assert_true(match_notice(&m, &n));
	match_free(&m);

	compile(&m, "{ priority = \"low\"; }", 1);
	n.priority = PRIORITY_LOW;
	assert_true(match_notice(&m, &n));
	match_free(&m);
}

static void
test_match_goal(void **state)
{
	struct notice n;
	struct match m;

	(void)state;
	compile(&m, "{ goal = [ \"collect\", \"resolve\" ]; }", 1);
	notice_set(&n, "web", AUD("public"));
	n.goal = GOAL_COLLECT;
	assert_true(match_notice(&m, &n));
	n.goal = GOAL_RESOLVE;
	assert_true(match_notice(&m, &n));
	n.goal = GOAL_INFORM;
	assert_false(match_notice(&m, &n));
	n.goal = GOAL_RELATE;
	assert_false(match_notice(&m, &n));
	match_free(&m);
}

static void
test_match_tags(void **state)
{
	struct notice_tag tags[] = { { "env", "prod-eu" }, { "team", "ops" } };
	struct notice n;
	struct match m;

	(void)state;
	compile(&m, "{ tags = { env = \"prod*\"; team = \"ops\"; }; }", 1);
	assert_int_equal(m.ntags, 2);
	notice_set(&n, "web", AUD("public"));
	assert_false(match_notice(&m, &n));	/* no tags at all */
	n.tags = tags;
	n.ntags = 2;
	assert_true(match_notice(&m, &n));
	tags[0].value = "staging";
	assert_false(match_notice(&m, &n));
	tags[0].value = "prod";
	n.ntags = 1;				/* team missing */
	assert_false(match_notice(&m, &n));
	match_free(&m);
}

static void
test_match_all_keys(void **state)
{
	struct notice_tag tags[] = { { "env", "prod" } };
	struct notice n;
	struct match m;

	(void)state;
	compile(&m, "{ source = \"monitor*\"; audience = \"role:oncall\"; "
	    "class = \"realtime\"; priority = \"high\"; goal = \"resolve\"; "
	    "tags = { env = \"prod*\"; }; }", 1);
	notice_set(&n, "monitor-1", AUD("staff:bob", "role:oncall"));
	n.class = CLASS_REALTIME;
	n.priority = PRIORITY_URGENT;
	n.goal = GOAL_RESOLVE;
	n.tags = tags;
	n.ntags = 1;
	assert_true(match_notice(&m, &n));
	/* Each criterion on its own makes it fail. */
	n.source = "web";
	assert_false(match_notice(&m, &n));
	n.source = "monitor-1";
	n.class = CLASS_BATCH;
	assert_false(match_notice(&m, &n));
	n.class = CLASS_REALTIME;
	n.priority = PRIORITY_NORMAL;
	assert_false(match_notice(&m, &n));
	n.priority = PRIORITY_HIGH;
	n.goal = GOAL_INFORM;
	assert_false(match_notice(&m, &n));
	n.goal = GOAL_RESOLVE;
	n.naudience = 1;			/* staff:bob only */
	assert_false(match_notice(&m, &n));
	n.naudience = 2;
	tags[0].value = "test";
	assert_false(match_notice(&m, &n));
	tags[0].value = "prod";
	assert_true(match_notice(&m, &n));
	match_free(&m);
}

static void
test_match_errors(void **state)
{
	(void)state;
	compile_fails("{ sorce = \"web\"; }", 1, "m: unknown key 'sorce' "
	    "(expected source, audience, class, priority, goal, tags)");
	compile_fails("{ sorce = \"web\"; }", 0, "(expected source, "
	    "audience, priority, goal, tags)");
	compile_fails("{ class = \"batch\"; }", 0, "a classify rule cannot "
	    "match on 'class'");
	compile_fails("{ class = \"fast\"; }", 1, "m.class: 'fast' is not a "
	    "class (expected realtime, batch, interactive)");
	compile_fails("{ class = [ ]; }", 1, "m.class: an empty list");
	compile_fails("{ priority = \"hgh\"; }", 1, "m.priority: 'hgh' is "
	    "not a priority (expected low, normal, high, urgent)");
	compile_fails("{ priority = [ \"high\" ]; }", 1, "m.priority: "
	    "expected a priority name");
	compile_fails("{ goal = [ \"inform\", \"sell\" ]; }", 1,
	    "m.goal[1]: 'sell' is not a goal (expected inform, collect, "
	    "resolve, relate)");
	compile_fails("{ tags = \"env\"; }", 1, "m.tags: expected a group");
	compile_fails("{ tags = { env = 5; }; }", 1, "m.tags.env: expected "
	    "a glob");
	compile_fails("{ tags = { env = \"[x\"; }; }", 1, "m.tags.env: bad "
	    "glob '[x'");
	compile_fails("{ source = \"\"; }", 1, "m.source: bad glob '': an "
	    "empty glob matches nothing");
	compile_fails("{ audience = \"dept\"; }", 1, "'dept' has no ':name'");
	compile_fails("[ \"web\" ]", 1, "m: expected a group");
}

/* Every error carries the line of the setting it is about. */
static void
test_match_error_lines(void **state)
{
	struct match m;

	(void)state;
	assert_int_equal(match_compile(&m, parse("m = {\n"
	    "  source = \"web\";\n"
	    "  audience = [ \"staff:*\",\n"
	    "               \"dpt:*\" ];\n"
	    "  prio = \"high\";\n"
	    "};\n", "m"), 1, &errs), -1);
	assert_int_equal(errs.n, 2);
	expect_error("(config):4: m.audience[1]: 'dpt:*'");
	expect_error("(config):5: m: unknown key 'prio'");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob_kinds),
		cmocka_unit_test(test_glob_bad),
		cmocka_unit_test(test_glob_match),
		cmocka_unit_test_setup_teardown(test_glob_list, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_glob_audience, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_match_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_match_source, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_match_audience, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_match_class, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_match_priority, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_match_goal, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_match_tags, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_match_all_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_match_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_match_error_lines, setup,
		    teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
