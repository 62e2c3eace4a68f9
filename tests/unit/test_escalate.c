/*
 * test_escalate.c: escalation chains and acks (daemon/escalate.c) on an
 * injected clock: when each step is due, what it delivers, what an ack
 * stops, expiry and its owner notice, and a restart that restores the
 * absolute times. See rules_harness.h for the daemon around it.
 */
#include "rules_harness.h"

/* 2023-11-14T22:13:20Z: acceptance of the first notice of a test. */
#define T0	1700000000000LL

/*
 * main: respond_within 5m (the class's), chain "twice": 1m, then 2m, one
 * repeat, expiry after the last level's 2m. quick: 1m, chain "once" whose
 * level fires at the deadline, expiry 30s later. bare: no chain.
 */
static const char conf_text[] =
    "ingress = { router = \"ipc://in.ipc\"; };\n"
    "timezone = \"UTC\";\n"
    "notify = { owner_channel = \"owners\"; };\n"
    "policies = { interactive = { respond_within = \"5m\"; }; };\n"
    "escalations = {\n"
    "  twice = { levels = ( { after = \"1m\"; channels = \"lead\"; },\n"
    "                       { after = \"2m\"; channels = \"boss\"; } );\n"
    "            repeat = 1; };\n"
    "  once = { levels = ( { channels = [ \"lead\", \"boss\" ]; } );\n"
    "           expire_after = \"30s\"; };\n"
    "};\n"
    "channels = {\n"
    "  desk = { type = \"file\"; path = \"desk.jsonl\";\n"
    "           owner = \"desk-team\"; };\n"
    "  lead = { type = \"file\"; path = \"lead.jsonl\"; };\n"
    "  boss = { type = \"file\"; path = \"boss.jsonl\"; };\n"
    "  owners = { type = \"file\"; path = \"owners.jsonl\"; };\n"
    "  sink = { type = \"discard\"; owner = \"sink-team\"; };\n"
    "};\n"
    "routes = (\n"
    "  { name = \"quick\"; match = { source = \"quick\"; };\n"
    "    channels = [ \"desk\", \"sink\" ];\n"
    "    policy = { respond_within = \"1m\"; escalation = \"once\"; }; },\n"
    "  { name = \"bare\"; match = { source = \"bare\"; };\n"
    "    channels = \"desk\"; },\n"
    "  { name = \"main\"; match = { source = \"*\"; };\n"
    "    channels = \"desk\"; policy = { escalation = \"twice\"; }; }\n"
    ");\n";

/* The steps of "twice" for a notice accepted at 0: (ms, level, round). */
static const struct {
	int64_t	at;
	int	level;
	int	round;
} twice[] = {
	{ 6 * MINUTE, 1, 0 }, { 8 * MINUTE, 2, 0 },
	{ 9 * MINUTE, 1, 1 }, { 11 * MINUTE, 2, 1 },
};
#define TWICE_EXPIRES	(13 * MINUTE)

static int	setup(void **);
static int	teardown(void **);
static void	accept_interactive(const char *, const char *, int64_t);
static void	check_next(const char *, int64_t, int, int);
static int	is_waiting(const char *);
static void	check_step_line(const char *, const char *, int, int,
		    int64_t, size_t);
static enum sb_error do_ack(const char *, int, int64_t *);
static int	waiting_cb(const struct spool_waiting *, void *);

static int
setup(void **state)
{
	(void)state;
	fake_now = T0;
	harness_start(conf_text);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	harness_stop();
	return (0);
}

static void
accept_interactive(const char *id, const char *source, int64_t at)
{
	char json[256];

	snprintf(json, sizeof(json), "{\"id\":\"%s\",\"source\":\"%s\","
	    "\"audience\":[\"dept:eng\"],\"subject\":\"disk full\","
	    "\"goal\":\"resolve\"}", id, source);
	fake_now = at;
	assert_int_equal(harness_accept(json, at), CLASS_INTERACTIVE);
}

/* The waiter's next step is at next_ms, after (level, round). */
static void
check_next(const char *id, int64_t next_ms, int level, int round)
{
	struct escalate_view v[16];
	size_t i, n = escalate_nearest(v, 16);

	for (i = 0; i < n; i++) {
		if (strcmp(v[i].id, id) != 0)
			continue;
		assert_int_equal(v[i].next_ms, next_ms);
		assert_int_equal(v[i].level, level);
		assert_int_equal(v[i].round, round);
		return;
	}
	fail_msg("%s is not waiting", id);
}

static int
is_waiting(const char *id)
{
	struct escalate_view v[16];
	size_t i, n = escalate_nearest(v, 16);

	for (i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			return (1);
	return (0);
}

/* The channel's file has want lines of the step with that wait. */
static void
check_step_line(const char *file, const char *id, int level, int round,
    int64_t waited_ms, size_t want)
{
	char needle[256], *text;

	snprintf(needle, sizeof(needle), "{\"delivery_id\":\"%s/esc%d.%d/",
	    id, round, level);
	text = harness_file(file);
	assert_int_equal(harness_count(text, needle), want);
	snprintf(needle, sizeof(needle), "\"escalation\":{\"level\":%d,"
	    "\"round\":%d,\"waited_ms\":%lld},\"id\":\"%s\"", level, round,
	    (long long)waited_ms, id);
	assert_int_equal(harness_count(text, needle), want);
	free(text);
}

static enum sb_error
do_ack(const char *ref, int score, int64_t *response_ms)
{
	struct ack a;
	char why[256];
	enum sb_error code;

	memset(&a, 0, sizeof(a));
	strlcpy(a.ref, ref, sizeof(a.ref));
	strlcpy(a.by, "alice", sizeof(a.by));
	a.score = score;
	code = escalate_ack(&a, response_ms, why, sizeof(why));
	if (code != SB_OK)
		assert_true(strlen(why) > 10);
	else	/* as accept.c does after the pass's commit */
		escalate_ack_done(ref, spool_commit(hx.spool) == 0);
	harness_pump();
	return (code);
}

/* Levels count from the step before; the chain repeats; then expiry. */
static void
test_chain_timing(void **state)
{
	const char *path[] = { "escalations", NULL };
	yajl_val v;
	char *owners;
	size_t i;

	(void)state;
	accept_interactive("e-1", "app", T0);
	assert_int_equal(escalate_waiting(), 1);
	check_next("e-1", T0 + twice[0].at, 0, 0);
	for (i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
		assert_int_equal(escalate_tick(T0 + twice[i].at - 1), 0);
		fake_now = T0 + twice[i].at;
		assert_int_equal(escalate_tick(fake_now), 1);
		check_next("e-1", i + 1 < sizeof(twice) / sizeof(twice[0]) ?
		    T0 + twice[i + 1].at : T0 + TWICE_EXPIRES, twice[i].level,
		    twice[i].round);
	}
	assert_int_equal(escalate_stats()->fired[0], 2);
	assert_int_equal(escalate_stats()->fired[1], 2);
	/* expire_after is absent: the last level's after (2m) again. */
	assert_int_equal(escalate_tick(T0 + TWICE_EXPIRES - 1), 0);
	assert_int_equal(escalate_tick(T0 + TWICE_EXPIRES), 1);
	assert_int_equal(escalate_waiting(), 0);
	assert_int_equal(escalate_stats()->expired, 1);
	harness_pump();
	for (i = 0; i < sizeof(twice) / sizeof(twice[0]); i++)
		check_step_line(twice[i].level == 1 ? "lead.jsonl" :
		    "boss.jsonl", "e-1", twice[i].level, twice[i].round,
		    twice[i].at, 1);
	owners = harness_file("owners.jsonl");
	assert_int_equal(harness_count(owners, "\"tags\":{\"event\":"
	    "\"expired\",\"ref\":\"e-1\",\"owners\":\"desk-team\"}"), 1);
	assert_int_equal(harness_count(owners, "\n"), 1);
	free(owners);
	v = harness_describe("e-1");
	assert_int_equal(YAJL_GET_ARRAY(yajl_tree_get(v, path,
	    yajl_t_array))->len, 4);
	yajl_tree_free(v);
	/* Nothing is left to fire. */
	assert_int_equal(escalate_tick(T0 + 1000 * MINUTE), 0);
}

/*
 * A daemon that was busy (or a clock that jumped) catches up: one late
 * tick fires every due step in order, each with its scheduled wait.
 */
static void
test_catch_up(void **state)
{
	size_t i;

	(void)state;
	accept_interactive("e-1", "app", T0);
	fake_now = T0 + 60 * MINUTE;
	assert_int_equal(escalate_tick(fake_now), 5);
	assert_int_equal(escalate_waiting(), 0);
	harness_pump();
	for (i = 0; i < sizeof(twice) / sizeof(twice[0]); i++)
		check_step_line(twice[i].level == 1 ? "lead.jsonl" :
		    "boss.jsonl", "e-1", twice[i].level, twice[i].round,
		    twice[i].at, 1);
}

/* A level without after fires at the deadline; no chain: expiry there. */
static void
test_expire_after_and_no_chain(void **state)
{
	char *owners;

	(void)state;
	accept_interactive("q-1", "quick", T0);
	accept_interactive("b-1", "bare", T0);
	check_next("q-1", T0 + MINUTE, 0, 0);
	check_next("b-1", T0 + 5 * MINUTE, 0, 0);
	assert_int_equal(escalate_tick(T0 + MINUTE), 1);
	check_next("q-1", T0 + MINUTE + 30000, 1, 0);
	assert_int_equal(escalate_tick(T0 + MINUTE + 29999), 0);
	assert_int_equal(escalate_tick(T0 + MINUTE + 30000), 1);
	assert_false(is_waiting("q-1"));
	assert_int_equal(escalate_tick(T0 + 5 * MINUTE - 1), 0);
	assert_int_equal(escalate_tick(T0 + 5 * MINUTE), 1);
	assert_int_equal(escalate_waiting(), 0);
	harness_pump();
	check_step_line("lead.jsonl", "q-1", 1, 0, MINUTE, 1);
	check_step_line("boss.jsonl", "q-1", 1, 0, MINUTE, 1);
	owners = harness_file("owners.jsonl");
	/* The owners of the route's channels, each once. */
	assert_int_equal(harness_count(owners, "\"ref\":\"q-1\",\"owners\":"
	    "\"desk-team,sink-team\""), 1);
	assert_int_equal(harness_count(owners, "\"ref\":\"b-1\",\"owners\":"
	    "\"desk-team\""), 1);
	free(owners);
	assert_int_equal(escalate_stats()->expired, 2);
}

/* An ack before the deadline, and one between two levels. */
static void
test_ack_stops_every_step(void **state)
{
	const char *path[] = { "score", NULL };
	int64_t ms = -1;
	yajl_val v;
	char *lead;

	(void)state;
	accept_interactive("e-1", "app", T0);
	accept_interactive("e-2", "app", T0);
	fake_now = T0 + MINUTE;
	assert_int_equal(do_ack("e-1", 3, &ms), SB_OK);
	assert_true(ms >= 0);
	assert_false(is_waiting("e-1"));
	fake_now = T0 + twice[0].at;
	assert_int_equal(escalate_tick(fake_now), 1);	/* e-2 only */
	check_next("e-2", T0 + twice[1].at, 1, 0);
	assert_int_equal(do_ack("e-2", 0, &ms), SB_OK);
	assert_int_equal(escalate_waiting(), 0);
	assert_int_equal(escalate_tick(T0 + 1000 * MINUTE), 0);
	harness_pump();
	lead = harness_file("lead.jsonl");
	assert_int_equal(harness_count(lead, "\n"), 1);
	assert_int_equal(harness_count(lead, "\"id\":\"e-2\""), 1);
	free(lead);
	assert_string_equal(harness_file_once("boss.jsonl"), "");
	assert_int_equal(escalate_stats()->acked, 2);
	assert_int_equal(escalate_stats()->expired, 0);
	v = harness_describe("e-1");
	assert_int_equal(YAJL_GET_INTEGER(yajl_tree_get(v, path,
	    yajl_t_number)), 3);
	yajl_tree_free(v);
	v = harness_describe("e-2");
	assert_null(yajl_tree_get(v, path, yajl_t_any));
	yajl_tree_free(v);
	assert_int_equal(do_ack("e-1", 0, &ms), SB_ERR_ALREADY_ACKED);
	assert_int_equal(do_ack("nobody", 0, &ms), SB_ERR_UNKNOWN_REF);
}

/* After expiry an ack still counts, once; a notice without one refuses. */
static void
test_late_ack(void **state)
{
	struct spool_notice_info info;
	int64_t ms = -1;

	(void)state;
	accept_interactive("b-1", "bare", T0);
	assert_int_equal(harness_accept("{\"id\":\"n-1\",\"source\":\"app\","
	    "\"audience\":[\"dept:eng\"],\"subject\":\"fyi\"}", T0),
	    CLASS_BATCH);
	assert_int_equal(escalate_tick(T0 + 5 * MINUTE), 1);
	assert_int_equal(escalate_waiting(), 0);
	assert_int_equal(do_ack("b-1", 5, &ms), SB_OK);
	assert_true(ms >= 0);
	assert_int_equal(escalate_stats()->late_acks, 1);
	assert_int_equal(escalate_stats()->acked, 0);
	assert_int_equal(spool_notice_info(hx.spool, "b-1", &info), 1);
	assert_true(info.acked_ms != 0 && info.expired_ms != 0);
	assert_int_equal(do_ack("b-1", 0, &ms), SB_ERR_ALREADY_ACKED);
	assert_int_equal(do_ack("n-1", 0, &ms), SB_ERR_UNKNOWN_REF);
}

static int
waiting_cb(const struct spool_waiting *w, void *arg)
{
	struct envelope_error err;
	struct notice *n;

	n = envelope_parse_stored(w->notice_json, w->notice_len, &err);
	if (n == NULL)
		fail_msg("stored notice: %s", err.message);
	assert_int_equal(escalate_restore(n, w), 0);
	notice_unref(n);
	(*(int *)arg)++;
	return (0);
}

/*
 * A restart between two levels: the next step keeps its absolute time;
 * steps that came due while the daemon was down fire at the first tick,
 * in order, each with its scheduled wait.
 */
static void
test_restore_absolute(void **state)
{
	int restored = 0;
	size_t i;

	(void)state;
	accept_interactive("e-1", "app", T0);
	accept_interactive("e-2", "app", T0 + 3 * MINUTE);
	fake_now = T0 + twice[0].at;
	assert_int_equal(escalate_tick(fake_now), 1);
	harness_pump();

	escalate_shutdown();
	assert_int_equal(escalate_init(NULL, hx.spool, hx.conf, fake_clock),
	    0);
	assert_int_equal(spool_load_waiting(hx.spool, waiting_cb, &restored),
	    0);
	assert_int_equal(restored, 2);
	check_next("e-1", T0 + twice[1].at, 1, 0);
	/* No step fired yet: the first still comes after its deadline. */
	check_next("e-2", T0 + 3 * MINUTE + twice[0].at, 0, 0);
	assert_int_equal(escalate_tick(T0 + twice[1].at - 1), 0);

	/* Down until long after: everything due fires at once. */
	fake_now = T0 + 60 * MINUTE;
	assert_int_equal(escalate_tick(fake_now), 4 + 5);
	assert_int_equal(escalate_waiting(), 0);
	harness_pump();
	for (i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
		check_step_line(twice[i].level == 1 ? "lead.jsonl" :
		    "boss.jsonl", "e-1", twice[i].level, twice[i].round,
		    twice[i].at, 1);
		check_step_line(twice[i].level == 1 ? "lead.jsonl" :
		    "boss.jsonl", "e-2", twice[i].level, twice[i].round,
		    twice[i].at, 1);
	}
	assert_int_equal(escalate_stats()->expired, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_timing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_catch_up, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expire_after_and_no_chain,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_stops_every_step,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_ack, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_restore_absolute, setup,
		    teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
