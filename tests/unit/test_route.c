/*
 * test_route.c: routing over a config loaded by config_load (discard
 * channels only): first match, continue, de-duplication, the audience gate,
 * disabled and pilot channels, the pilot share, and no_route reasons.
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
#include "notice.h"
#include "route.h"

#define AUD(...)	(char *[]){ __VA_ARGS__ }, \
			sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *)

static const char routes_conf[] =
	"ingress = { router = \"tcp://127.0.0.1:7450\"; };\n"
	"channels = {\n"
	"  a = { type = \"discard\"; };\n"
	"  b = { type = \"discard\"; };\n"
	"  c = { type = \"discard\"; };\n"
	"  internal = { type = \"discard\";\n"
	"    audiences = [ \"staff:*\", \"dept:*\" ]; };\n"
	"  off = { type = \"discard\"; mode = \"disabled\"; };\n"
	"  pilot = { type = \"discard\"; mode = \"pilot\";\n"
	"    pilot_percent = 20; };\n"
	"};\n"
	"routes = (\n"
	"  { name = \"first\"; match = { source = \"first\"; };\n"
	"    channels = [ \"a\", \"b\" ]; },\n"
	"  { name = \"shadowed\"; match = { source = \"first\"; };\n"
	"    channels = \"c\"; },\n"
	"  { name = \"cont1\"; match = { source = \"multi\"; };\n"
	"    channels = [ \"a\", \"b\" ]; continue = true; },\n"
	"  { name = \"cont2\"; match = { source = \"multi\"; };\n"
	"    channels = [ \"b\", \"c\" ]; continue = true; },\n"
	"  { name = \"cont3\"; match = { source = \"multi\";\n"
	"    priority = \"high\"; }; channels = \"internal\"; },\n"
	"  { name = \"last\"; match = { source = \"multi\"; };\n"
	"    channels = \"off\"; },\n"
	"  { name = \"gated\"; match = { source = \"gated\"; };\n"
	"    channels = [ \"internal\", \"off\" ]; },\n"
	"  { name = \"pilot\"; match = { source = \"pilot\"; };\n"
	"    channels = [ \"a\", \"pilot\" ]; },\n"
	"  { name = \"pilot-only\"; match = { source = \"pilot-only\"; };\n"
	"    channels = \"pilot\"; },\n"
	"  { name = \"by-class\"; match = { class = \"realtime\";\n"
	"    source = \"classy\"; }; channels = \"a\"; }\n"
	");\n";

static struct config	*cf;
static struct notice	 n;


static int
setup(void **state)
{
	(void)state;
	cf = route_harness_config(routes_conf);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	config_free(cf);
	cf = NULL;
	return (0);
}

static void
notice_set(const char *id, const char *source, char **audience,
    size_t naudience)
{
	route_harness_notice(&n, id, source, audience, naudience, CLASS_BATCH);
}

/* Target i goes to channel name, for route rname. */
static void
target_is(const struct route_result *res, size_t i, const char *name,
    const char *rname, int pilot)
{
	const struct route_target *t = &res->targets[i];

	assert_true(i < res->ntargets);
	assert_string_equal(cf->channels[t->channel].name, name);
	assert_string_equal(t->route->name, rname);
	assert_int_equal(t->pilot, pilot);
}

static void
test_first_match_wins(void **state)
{
	struct route_result res;

	(void)state;
	notice_set("n-1", "first", AUD("staff:alice"));
	assert_int_equal(route_notice(cf, &n, &res), 2);
	assert_int_equal(res.nmatched, 1);
	target_is(&res, 0, "a", "first", 0);
	target_is(&res, 1, "b", "first", 0);
	assert_string_equal(res.reason, "");
}

static void
test_continue_and_dedup(void **state)
{
	struct route_result res;

	(void)state;
	/* cont1, cont2 continue; cont3 does not match; last stops. */
	notice_set("n-2", "multi", AUD("staff:alice"));
	assert_int_equal(route_notice(cf, &n, &res), 3);
	assert_int_equal(res.nmatched, 3);
	target_is(&res, 0, "a", "cont1", 0);
	target_is(&res, 1, "b", "cont1", 0);	/* first naming route kept */
	target_is(&res, 2, "c", "cont2", 0);

	/* cont3 matches and does not continue: last is never tried. */
	n.priority = PRIORITY_HIGH;
	assert_int_equal(route_notice(cf, &n, &res), 4);
	assert_int_equal(res.nmatched, 3);
	target_is(&res, 3, "internal", "cont3", 0);
}

static void
test_class_criterion(void **state)
{
	struct route_result res;

	(void)state;
	notice_set("n-3", "classy", AUD("public"));
	n.class = CLASS_REALTIME;
	assert_int_equal(route_notice(cf, &n, &res), 1);
	n.class = CLASS_BATCH;
	assert_int_equal(route_notice(cf, &n, &res), 0);
	assert_string_equal(res.reason, "no route matches source 'classy', "
	    "audience [public], class batch");
}

static void
test_audience_gate(void **state)
{
	struct route_result res;

	(void)state;
	notice_set("n-4", "gated", AUD("staff:alice", "dept:eng"));
	assert_int_equal(route_notice(cf, &n, &res), 1);
	target_is(&res, 0, "internal", "gated", 0);

	/* One entry the channel may not carry keeps the notice out. */
	notice_set("n-5", "gated", AUD("staff:alice", "customer:acme"));
	assert_int_equal(route_notice(cf, &n, &res), 0);
	assert_int_equal(res.nmatched, 1);
	assert_string_equal(res.reason, "route 'gated' matched but every "
	    "channel was skipped: 'internal' (audience customer:acme not "
	    "allowed), 'off' (disabled)");
}

static void
test_disabled(void **state)
{
	struct route_result res;
	size_t i;

	(void)state;
	notice_set("n-6", "multi", AUD("staff:alice"));
	route_notice(cf, &n, &res);
	for (i = 0; i < res.ntargets; i++)
		assert_string_not_equal(cf->channels[res.targets[i].channel]
		    .name, "off");
}

static void
test_no_route(void **state)
{
	struct route_result res;

	(void)state;
	notice_set("n-7", "nobody", AUD("staff:alice", "public"));
	assert_int_equal(route_notice(cf, &n, &res), 0);
	assert_int_equal(res.nmatched, 0);
	assert_string_equal(res.reason, "no route matches source 'nobody', "
	    "audience [staff:alice, public], class batch");

	/* An anonymous source stays out of the reason (it may be logged). */
	n.anonymous = 1;
	route_notice(cf, &n, &res);
	assert_null(strstr(res.reason, "nobody"));
	assert_string_equal(res.reason, "no route matches (source withheld), "
	    "audience [staff:alice, public], class batch");
}

static void
test_reason_truncated(void **state)
{
	struct route_result res;
	char *many[40];
	char names[40][16];
	size_t i;

	(void)state;
	for (i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "customer:c%02zu", i);
		many[i] = names[i];
	}
	notice_set("n-8", "nobody", many, 40);
	assert_int_equal(route_notice(cf, &n, &res), 0);
	assert_int_equal(strlen(res.reason), sizeof(res.reason) - 1);
	assert_string_equal(res.reason + sizeof(res.reason) - 4, "...");
}

static void
test_pilot_sample(void **state)
{
	char id[32];
	int i, a, b, taken = 0;

	(void)state;
	for (i = 0; i < 2000; i++) {
		snprintf(id, sizeof(id), "n-%05d", i);
		a = route_pilot_sample(id, 20);
		b = route_pilot_sample(id, 20);
		assert_int_equal(a, b);		/* stable for an id */
		taken += a;
		assert_int_equal(route_pilot_sample(id, 0), 0);
		assert_int_equal(route_pilot_sample(id, 100), 1);
		/* A larger share keeps every notice of a smaller one. */
		if (a)
			assert_int_equal(route_pilot_sample(id, 50), 1);
	}
	if (taken < 300 || taken > 500)
		fail_msg("20%% of 2000 ids took %d, want 400 +- 100", taken);
}

static void
test_pilot_route(void **state)
{
	struct route_result res;
	char id[32];
	int i, taken = 0;

	(void)state;
	for (i = 0; i < 2000; i++) {
		snprintf(id, sizeof(id), "01J%08d", i * 7919);
		notice_set(id, "pilot", AUD("staff:alice"));
		route_notice(cf, &n, &res);
		target_is(&res, 0, "a", "pilot", 0);
		if (route_pilot_sample(id, 20)) {
			assert_int_equal(res.ntargets, 2);
			target_is(&res, 1, "pilot", "pilot", 1);
			taken++;
		} else
			assert_int_equal(res.ntargets, 1);
		/* The same notice routed again agrees. */
		assert_int_equal(route_notice(cf, &n, &res),
		    (size_t)(route_pilot_sample(id, 20) ? 2 : 1));
	}
	if (taken < 300 || taken > 500)
		fail_msg("pilot took %d of 2000, want 400 +- 100", taken);
}

static void
test_pilot_not_sampled_reason(void **state)
{
	struct route_result res;
	char id[32];
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "n-%d", i);
		if (!route_pilot_sample(id, 20))
			break;
	}
	notice_set(id, "pilot-only", AUD("staff:alice"));
	assert_int_equal(route_notice(cf, &n, &res), 0);
	assert_string_equal(res.reason, "route 'pilot-only' matched but "
	    "every channel was skipped: 'pilot' (pilot, not in its 20%)");
}

/* As many channels as a result holds (config_load refuses more). */
static void
test_targets_max(void **state)
{
	struct route_result res;
	struct config *big;
	char *text, *p;
	size_t len = 65536;
	int i;

	(void)state;
	assert_non_null(text = p = malloc(len));
	p += snprintf(p, len, "ingress = { router = \"tcp://127.0.0.1:1\"; };\n"
	    "channels = {\n");
	for (i = 0; i < ROUTE_TARGETS_MAX; i++)
		p += sprintf(p, "  ch%d = { type = \"discard\"; };\n", i);
	p += sprintf(p, "};\nroutes = ( { channels = [ ");
	for (i = 0; i < ROUTE_TARGETS_MAX; i++)
		p += sprintf(p, "%s\"ch%d\"", i > 0 ? ", " : "", i);
	sprintf(p, " ]; } );\n");
	big = route_harness_config(text);
	free(text);
	notice_set("n-9", "web", AUD("public"));
	assert_int_equal(route_notice(big, &n, &res), ROUTE_TARGETS_MAX);
	for (i = 0; i < ROUTE_TARGETS_MAX; i++)
		assert_int_equal(res.targets[i].channel, i);
	config_free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_continue_and_dedup),
		cmocka_unit_test(test_class_criterion),
		cmocka_unit_test(test_audience_gate),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_no_route),
		cmocka_unit_test(test_reason_truncated),
		cmocka_unit_test(test_pilot_sample),
		cmocka_unit_test(test_pilot_route),
		cmocka_unit_test(test_pilot_not_sampled_reason),
		cmocka_unit_test(test_targets_max),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
