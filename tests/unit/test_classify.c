/*
 * test_classify.c: SPEC §3 case by case: rules first (first match wins),
 * then the hint when trusted, then the defaults in their order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "classify.h"
#include "config.h"
#include "match.h"
#include "notice.h"

#define RULES_MAX	4

static config_t			 lc;
static struct config		 cf;
static struct classify_rule	 rules[RULES_MAX];
static struct notice		 n;
static char			*audience[] = { "staff:alice" };

static int
setup(void **state)
{
	(void)state;
	config_init(&lc);
	memset(&cf, 0, sizeof(cf));
	memset(rules, 0, sizeof(rules));
	cf.rules = rules;
	memset(&n, 0, sizeof(n));
	strcpy(n.id, "n-1");
	n.source = "web";
	n.audience = audience;
	n.naudience = 1;
	n.priority = PRIORITY_NORMAL;
	n.goal = GOAL_INFORM;
	n.class_hint = CLASS_NONE;
	n.class = CLASS_NONE;
	return (0);
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < cf.nrules; i++)
		match_free(&rules[i].match);
	config_destroy(&lc);
	return (0);
}

/* Append a rule: a match group in libconfig text and its class. */
static void
rule_add(const char *match, enum notice_class class)
{
	struct config_errors errs = { .n = 0 };
	struct classify_rule *r = &rules[cf.nrules];
	char text[256], path[16];

	assert_true(cf.nrules < RULES_MAX);
	snprintf(path, sizeof(path), "r%zu", cf.nrules);
	snprintf(text, sizeof(text), "%s = %s;", path, match);
	assert_int_equal(config_read_string(&lc, text), CONFIG_TRUE);
	assert_int_equal(match_compile(&r->match, config_lookup(&lc, path), 0,
	    &errs), 0);
	r->class = class;
	cf.nrules++;
}

static void
test_defaults_batch(void **state)
{
	(void)state;
	assert_int_equal(classify_notice(&cf, &n), CLASS_BATCH);
	n.priority = PRIORITY_LOW;
	assert_int_equal(classify_notice(&cf, &n), CLASS_BATCH);
	n.goal = GOAL_RELATE;
	assert_int_equal(classify_notice(&cf, &n), CLASS_BATCH);
}

static void
test_defaults_realtime(void **state)
{
	(void)state;
	n.priority = PRIORITY_HIGH;
	assert_int_equal(classify_notice(&cf, &n), CLASS_REALTIME);
	n.priority = PRIORITY_URGENT;
	assert_int_equal(classify_notice(&cf, &n), CLASS_REALTIME);
}

static void
test_defaults_interactive(void **state)
{
	(void)state;
	n.respond_within_ms = 90 * 1000;
	assert_int_equal(classify_notice(&cf, &n), CLASS_INTERACTIVE);
	n.respond_within_ms = 0;
	n.goal = GOAL_COLLECT;
	assert_int_equal(classify_notice(&cf, &n), CLASS_INTERACTIVE);
	n.goal = GOAL_RESOLVE;
	assert_int_equal(classify_notice(&cf, &n), CLASS_INTERACTIVE);
	/* Wanting a response comes before haste. */
	n.priority = PRIORITY_URGENT;
	assert_int_equal(classify_notice(&cf, &n), CLASS_INTERACTIVE);
	n.goal = GOAL_INFORM;
	n.respond_within_ms = 1000;
	assert_int_equal(classify_notice(&cf, &n), CLASS_INTERACTIVE);
}

static void
test_hint_untrusted(void **state)
{
	(void)state;
	cf.trust_hint = 0;
	n.class_hint = CLASS_REALTIME;
	assert_int_equal(classify_notice(&cf, &n), CLASS_BATCH);
	n.class_hint = CLASS_BATCH;
	n.goal = GOAL_RESOLVE;
	assert_int_equal(classify_notice(&cf, &n), CLASS_INTERACTIVE);
}

static void
test_hint_trusted(void **state)
{
	(void)state;
	cf.trust_hint = 1;
	n.class_hint = CLASS_REALTIME;
	assert_int_equal(classify_notice(&cf, &n), CLASS_REALTIME);
	/* The hint beats the defaults... */
	n.class_hint = CLASS_BATCH;
	n.goal = GOAL_RESOLVE;
	n.priority = PRIORITY_URGENT;
	assert_int_equal(classify_notice(&cf, &n), CLASS_BATCH);
	/* ...and without one the defaults apply. */
	n.class_hint = CLASS_NONE;
	assert_int_equal(classify_notice(&cf, &n), CLASS_INTERACTIVE);
}

static void
test_rules_first(void **state)
{
	(void)state;
	rule_add("{ source = \"pager*\"; }", CLASS_REALTIME);
	cf.trust_hint = 1;
	n.class_hint = CLASS_INTERACTIVE;
	n.source = "pager-eu";
	/* A rule beats the trusted hint and the defaults. */
	assert_int_equal(classify_notice(&cf, &n), CLASS_REALTIME);
	/* Not matching: the hint decides. */
	n.source = "web";
	assert_int_equal(classify_notice(&cf, &n), CLASS_INTERACTIVE);
}

static void
test_rules_first_match_wins(void **state)
{
	(void)state;
	rule_add("{ priority = \"high\"; }", CLASS_INTERACTIVE);
	rule_add("{ source = \"newsletter*\"; }", CLASS_BATCH);
	rule_add("{ }", CLASS_REALTIME);
	n.source = "newsletter";
	n.priority = PRIORITY_URGENT;
	assert_int_equal(classify_notice(&cf, &n), CLASS_INTERACTIVE);
	n.priority = PRIORITY_NORMAL;
	assert_int_equal(classify_notice(&cf, &n), CLASS_BATCH);
	/* The empty match catches the rest: the defaults never run. */
	n.source = "web";
	n.goal = GOAL_RESOLVE;
	assert_int_equal(classify_notice(&cf, &n), CLASS_REALTIME);
}

static void
test_rules_by_tag_and_goal(void **state)
{
	struct notice_tag tags[] = { { "kind", "outage" } };

	(void)state;
	rule_add("{ tags = { kind = \"outage\"; }; }", CLASS_REALTIME);
	rule_add("{ goal = \"collect\"; audience = \"customer:*\"; }",
	    CLASS_BATCH);
	n.tags = tags;
	n.ntags = 1;
	n.priority = PRIORITY_LOW;
	assert_int_equal(classify_notice(&cf, &n), CLASS_REALTIME);
	n.ntags = 0;
	n.goal = GOAL_COLLECT;
	/* Staff survey: no rule, default interactive. */
	assert_int_equal(classify_notice(&cf, &n), CLASS_INTERACTIVE);
	/* Customer survey: the rule makes it a batch. */
	n.audience[0] = "customer:acme";
	assert_int_equal(classify_notice(&cf, &n), CLASS_BATCH);
	n.audience[0] = "staff:alice";
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults_batch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_defaults_realtime, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_defaults_interactive,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_hint_untrusted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hint_trusted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rules_first, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rules_first_match_wins,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_rules_by_tag_and_goal,
		    setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
