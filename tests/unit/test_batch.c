/*
 * test_batch.c: digests of batch notices (daemon/batch.c) on an injected
 * clock: the window counts from each item's acceptance, max_items flushes
 * early (the least of the items' routes), `at` times of day in the
 * config's zone, membership recorded in the spool, and a restart that
 * re-forms a flushed digest under its id. See rules_harness.h.
 */
#include "rules_harness.h"

/* 2023-11-14T22:13:20Z */
#define T0		1700000000000LL
/* UTC instants (ms) around 09:00 and 17:30 in Europe/Berlin. */
#define JUL1_0500Z	1719810000000LL		/* 07:00 CEST */
#define JUL1_0700Z	1719817200000LL		/* 09:00 CEST */
#define JUL1_0800Z	1719820800000LL		/* 10:00 CEST */
#define JUL1_1530Z	1719847800000LL		/* 17:30 CEST */
#define JAN15_1200Z	1705320000000LL		/* 13:00 CET */
#define JAN15_1630Z	1705336200000LL		/* 17:30 CET */
#define MAR30_1700Z	1711818000000LL		/* 18:00 CET, DST next */
#define MAR31_0700Z	1711868400000LL		/* 09:00 CEST, 23 h on */

/*
 * The class's window is 10m. small: max_items 3 on feed. daily: digests
 * at 09:00 and 17:30 Berlin time (window 1d). Everything else: feed and
 * sink, max_items 100.
 */
static const char conf_text[] =
    "ingress = { router = \"ipc://in.ipc\"; };\n"
    "timezone = \"Europe/Berlin\";\n"
    "policies = { batch = { window = \"10m\"; }; };\n"
    "channels = {\n"
    "  feed = { type = \"file\"; path = \"feed.jsonl\"; };\n"
    "  mail = { type = \"file\"; path = \"mail.jsonl\"; };\n"
    "  sink = { type = \"discard\"; };\n"
    "};\n"
    "routes = (\n"
    "  { name = \"small\"; match = { source = \"small\"; };\n"
    "    channels = \"feed\"; policy = { max_items = 3; }; },\n"
    "  { name = \"daily\"; match = { source = \"daily\"; };\n"
    "    channels = \"mail\";\n"
    "    policy = { window = \"1d\"; at = [ \"09:00\", \"17:30\" ]; }; },\n"
    "  { name = \"all\"; match = { source = \"*\"; };\n"
    "    channels = [ \"feed\", \"sink\" ]; }\n"
    ");\n";

static int	setup(void **);
static int	teardown(void **);
static void	accept_batch(const char *, const char *, int64_t);
static struct channel *chan(const char *);
static void	check_digest(const char *, const char *, const char *);
static size_t	digest_lines(const char *, const char *, size_t);

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
accept_batch(const char *id, const char *source, int64_t received_ms)
{
	char json[256];

	snprintf(json, sizeof(json), "{\"id\":\"%s\",\"source\":\"%s\","
	    "\"audience\":[\"dept:eng\"],\"subject\":\"weekly news\"}", id,
	    source);
	assert_int_equal(harness_accept(json, received_ms), CLASS_BATCH);
}

static struct channel *
chan(const char *name)
{
	struct channel *ch = dispatch_channel(name);

	assert_non_null(ch);
	return (ch);
}

/* The spool records id's delivery to channel as a member of digest. */
static void
check_digest(const char *id, const char *channel, const char *digest)
{
	yajl_val v = harness_describe(id);
	const char *got = harness_delivery_field(v, channel, "digest");

	if (digest == NULL)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, digest);
	}
	yajl_tree_free(v);
}

/* Lines of a channel's file that are the digest delivery_id of count. */
static size_t
digest_lines(const char *file, const char *digest_id, size_t count)
{
	char needle[256], *text;
	size_t n;

	snprintf(needle, sizeof(needle), "{\"delivery_id\":\"%s\",", digest_id);
	text = harness_file(file);
	n = harness_count(text, needle);
	snprintf(needle, sizeof(needle), "\"digest\":true,\"count\":%zu,",
	    count);
	if (n > 0)
		assert_true(harness_count(text, needle) >= 1);
	free(text);
	return (n);
}

/*
 * The window counts from the item's acceptance, not from when it joined
 * the digest (a restored one joins late); the earliest item decides.
 */
static void
test_window_from_acceptance(void **state)
{
	(void)state;
	accept_batch("a", "app", T0 - 4 * MINUTE);
	accept_batch("b", "app", T0);
	assert_int_equal(batch_items(chan("feed")), 2);
	assert_int_equal(batch_items(chan("sink")), 2);
	assert_int_equal(batch_next_flush(chan("feed")), T0 + 6 * MINUTE);
	assert_int_equal(batch_tick(T0 + 6 * MINUTE - 1), 0);
	fake_now = T0 + 6 * MINUTE;
	assert_int_equal(batch_tick(fake_now), 2);	/* feed and sink */
	assert_int_equal(batch_items(chan("feed")), 0);
	assert_int_equal(batch_next_flush(chan("feed")), 0);
	harness_pump();
	assert_int_equal(digest_lines("feed.jsonl", "a/feed/digest", 2), 1);
	assert_int_equal(harness_count(harness_file_once("feed.jsonl"), "\n"),
	    1);
	check_digest("a", "feed", "a/feed/digest");
	check_digest("b", "feed", "a/feed/digest");
	check_digest("a", "sink", "a/sink/digest");
	check_digest("b", "sink", "a/sink/digest");
	/* The next item opens a new digest with its own window. */
	accept_batch("c", "app", T0 + 7 * MINUTE);
	assert_int_equal(batch_next_flush(chan("feed")), T0 + 17 * MINUTE);
	check_digest("c", "feed", NULL);
}

/*
 * A digest leaves as soon as it holds max_items, the least of its items'
 * routes: two items of a route allowing 100, then one allowing 3.
 */
static void
test_max_items(void **state)
{
	(void)state;
	accept_batch("m-1", "app", T0);
	accept_batch("m-2", "app", T0);
	assert_int_equal(batch_items(chan("feed")), 2);
	accept_batch("m-3", "small", T0);
	assert_int_equal(batch_items(chan("feed")), 0);
	assert_int_equal(batch_items(chan("sink")), 2);	/* not small's */
	accept_batch("m-4", "small", T0 + MINUTE);
	accept_batch("m-5", "small", T0 + MINUTE);
	accept_batch("m-6", "small", T0 + MINUTE);
	assert_int_equal(batch_items(chan("feed")), 0);
	accept_batch("m-7", "small", T0 + 2 * MINUTE);
	assert_int_equal(batch_items(chan("feed")), 1);
	assert_int_equal(batch_next_flush(chan("feed")), T0 + 12 * MINUTE);
	harness_pump();
	assert_int_equal(digest_lines("feed.jsonl", "m-1/feed/digest", 3), 1);
	assert_int_equal(digest_lines("feed.jsonl", "m-4/feed/digest", 3), 1);
	check_digest("m-3", "feed", "m-1/feed/digest");
	check_digest("m-6", "feed", "m-4/feed/digest");
	check_digest("m-7", "feed", NULL);
	check_digest("m-1", "sink", NULL);
}

/* `at` times of day, in the config's zone, across DST; earliest wins. */
static void
test_at_times(void **state)
{
	static const struct {
		int64_t	now;
		int64_t	flush;
	} cases[] = {
		{ JUL1_0500Z, JUL1_0700Z },	/* 07:00 → 09:00 CEST */
		{ JUL1_0800Z, JUL1_1530Z },	/* 10:00 → 17:30 CEST */
		{ JAN15_1200Z, JAN15_1630Z },	/* 13:00 → 17:30 CET */
		{ MAR30_1700Z, MAR31_0700Z },	/* over the DST change */
	};
	char id[32], digest[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_now = cases[i].now;
		snprintf(id, sizeof(id), "d-%zu", i);
		accept_batch(id, "daily", fake_now);
		assert_int_equal(batch_next_flush(chan("mail")),
		    cases[i].flush);
		assert_int_equal(batch_tick(cases[i].flush - 1), 0);
		assert_int_equal(batch_tick(cases[i].flush), 1);
		snprintf(digest, sizeof(digest), "%s/mail/digest", id);
		check_digest(id, "mail", digest);
	}
	harness_pump();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(digest, sizeof(digest), "d-%zu/mail/digest", i);
		assert_int_equal(digest_lines("mail.jsonl", digest, 1), 1);
	}
}

/*
 * A restart between a flush and its delivery sends the same digest (same
 * id, same items) once; an item of an open digest keeps the window of
 * its acceptance.
 */
static void
test_restart_reforms_digest(void **state)
{
	(void)state;
	accept_batch("r-1", "app", T0);
	accept_batch("r-2", "app", T0);
	fake_now = T0 + 10 * MINUTE;
	assert_int_equal(batch_tick(fake_now), 2);
	check_digest("r-1", "feed", "r-1/feed/digest");
	check_digest("r-2", "feed", "r-1/feed/digest");
	accept_batch("r-3", "app", T0 + 11 * MINUTE);
	/* Down before any channel ran: nothing was delivered. */
	fake_now = T0 + 15 * MINUTE;
	harness_restart_dispatch();
	assert_int_equal(batch_items(chan("feed")), 1);
	assert_int_equal(batch_next_flush(chan("feed")), T0 + 21 * MINUTE);
	harness_pump();
	assert_int_equal(digest_lines("feed.jsonl", "r-1/feed/digest", 2), 1);
	assert_int_equal(harness_count(harness_file_once("feed.jsonl"),
	    "\"id\":\"r-3\""), 0);
	fake_now = T0 + 21 * MINUTE;
	assert_int_equal(batch_tick(fake_now), 2);
	harness_pump();
	assert_int_equal(digest_lines("feed.jsonl", "r-1/feed/digest", 2), 1);
	assert_int_equal(digest_lines("feed.jsonl", "r-3/feed/digest", 1), 1);
	check_digest("r-3", "feed", "r-3/feed/digest");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_window_from_acceptance,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_items, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_at_times, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_restart_reforms_digest,
		    setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
