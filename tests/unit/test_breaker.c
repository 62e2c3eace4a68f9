/*
 * test_breaker.c: the circuit breaker's state machine on a real channel
 * (adapter.c) of a scripted adapter: it opens after max_failures failures
 * in a row (deliveries or probes), a success in between resets the count,
 * while open deliveries with a fallback are shed and the others held, a
 * half-open probe closes it or keeps it open, a channel without probes
 * lets one trial delivery through, and the owner is told exactly once on
 * opening and once on closing. Each spell of the open breaker is kept in
 * a real spool for reports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "adapter_harness.h"
#include "breaker.h"
#include "deadline.h"
#include "spool.h"

/* The scripted adapter: what deliveries and probes do. */
static struct {
	enum delivery_outcome	 outcome;	/* of deliveries */
	int			 delivered;	/* deliver calls */
	int			 probes;	/* probe calls */
	int			 probe_running;
	char			 events[8][32];
	int			 nevents;
} fake;

static int
fake_start(struct channel *ch, char *err, size_t len)
{
	(void)err;
	(void)len;
	ch->state = NULL;
	return (0);
}

static void
fake_deliver(struct channel *ch, struct delivery *d)
{
	fake.delivered++;
	channel_done(ch, d, fake.outcome, fake.outcome == OUTCOME_DELIVERED ?
	    NULL : "scripted failure");
}

static int
fake_probe(struct channel *ch, char *err, size_t len)
{
	(void)ch;
	(void)err;
	(void)len;
	fake.probes++;
	fake.probe_running = 1;
	return (0);
}

static void
fake_stop(struct channel *ch)
{
	(void)ch;
}

static const struct adapter_ops fake_ops = {
	.name = "fake", .start = fake_start, .deliver = fake_deliver,
	.probe = fake_probe, .stop = fake_stop,
};

/* The same without any probe: half-open means one trial delivery. */
static const struct adapter_ops fake_noprobe_ops = {
	.name = "fake", .start = fake_start, .deliver = fake_deliver,
	.stop = fake_stop,
};

static void
fake_notify(const char *channel, const char *event, const char *text)
{
	assert_string_equal(channel, "hook");
	assert_non_null(strstr(text, "circuit breaker"));
	assert_true(fake.nevents < 8);
	strlcpy(fake.events[fake.nevents++], event, sizeof(fake.events[0]));
}

static int	fallback_to[1] = { 1 };

/* A channel "hook" (index 0) with health_check, maybe a fallback. */
static struct channel *
start(struct harness *h, const struct adapter_ops *ops, int max_failures,
    int with_fallback)
{
	memset(&fake, 0, sizeof(fake));
	breaker_set_notify(fake_notify);
	h->conf.name = (char *)"hook";
	h->conf.ops = ops;
	h->conf.timeout_ms = 1000;
	h->conf.queue_max = 100;
	h->conf.concurrency = 1;
	h->conf.health.enabled = 1;
	h->conf.health.interval_ms = 40;
	h->conf.health.max_failures = max_failures;
	h->conf.fallback = with_fallback ? fallback_to : NULL;
	h->conf.nfallback = with_fallback ? 1 : 0;
	assert_non_null(harness_start(h));
	assert_non_null(h->ch->breaker);
	return (h->ch);
}

static void
send_one(struct harness *h, const char *id)
{
	struct notice *n = harness_notice(id, NULL, 0);

	harness_send(h, n);
	notice_unref(n);
}

/* Run the loop until a probe runs in state want (or fail). */
static void
wait_probe(struct harness *h, enum breaker_state want)
{
	int i;

	for (i = 0; i < 100 && (!fake.probe_running ||
	    breaker_state(h->ch->breaker) != want); i++)
		harness_idle(h, 10);
	assert_true(fake.probe_running);
	assert_int_equal(breaker_state(h->ch->breaker), want);
	fake.probe_running = 0;
}

static void
test_opens_and_sheds(void **state)
{
	struct harness *h = *state;
	struct channel *ch = start(h, &fake_ops, 2, 1);

	fake.outcome = OUTCOME_RETRYABLE;
	send_one(h, "a");
	harness_run(h, 1, 2000);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_CLOSED);
	assert_int_equal(breaker_failures(ch->breaker), 1);
	send_one(h, "b");
	harness_run(h, 2, 2000);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_OPEN);
	assert_int_equal(fake.nevents, 1);
	assert_string_equal(fake.events[0], "breaker_open");
	assert_string_equal(breaker_reason(ch->breaker), "scripted failure");
	/* Open: shed to the fallback without being tried. */
	fake.outcome = OUTCOME_DELIVERED;
	send_one(h, "c");
	harness_run(h, 3, 2000);
	assert_int_equal(fake.delivered, 2);
	assert_int_equal(h->outcome[2], OUTCOME_PERMANENT);
	assert_non_null(strstr(h->error[2], "circuit breaker open "
	    "(scripted failure)"));
	assert_int_equal(breaker_stats(ch->breaker)->shed, 1);
	assert_int_equal(breaker_stats(ch->breaker)->opened, 1);
	/* A shed delivery is not a failure of the channel. */
	assert_int_equal(breaker_failures(ch->breaker), 2);
	assert_int_equal(fake.nevents, 1);
}

static void
test_holds_then_closes(void **state)
{
	struct harness *h = *state;
	struct channel *ch = start(h, &fake_ops, 1, 0);

	fake.outcome = OUTCOME_RETRYABLE;
	send_one(h, "a");
	harness_run(h, 1, 2000);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_OPEN);
	/* No fallback: it waits in the queue. */
	fake.outcome = OUTCOME_DELIVERED;
	send_one(h, "b");
	harness_idle(h, 20);
	assert_int_equal(h->ndone, 1);
	assert_int_equal(ch->queued, 1);
	/* Half-open: a failed probe keeps it open, and tells nobody. */
	wait_probe(h, BREAKER_HALF_OPEN);
	breaker_probe_done(ch, 0, "probe: HTTP 503");
	assert_int_equal(breaker_state(ch->breaker), BREAKER_OPEN);
	assert_string_equal(breaker_reason(ch->breaker), "probe: HTTP 503");
	assert_int_equal(fake.nevents, 1);
	assert_int_equal(ch->queued, 1);
	/* The next probe succeeds: closed, told, the queue starts. */
	wait_probe(h, BREAKER_HALF_OPEN);
	breaker_probe_done(ch, 1, NULL);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_CLOSED);
	harness_run(h, 2, 2000);
	assert_int_equal(h->outcome[1], OUTCOME_DELIVERED);
	assert_string_equal(h->id[1], "b/hook");
	assert_int_equal(fake.nevents, 2);
	assert_string_equal(fake.events[0], "breaker_open");
	assert_string_equal(fake.events[1], "breaker_closed");
	assert_int_equal(breaker_stats(ch->breaker)->probes_failed, 1);
	assert_int_equal(breaker_stats(ch->breaker)->probes_ok, 1);
	/* A late or second report of a probe is ignored. */
	breaker_probe_done(ch, 0, "late");
	assert_int_equal(breaker_failures(ch->breaker), 0);
}

static void
test_success_resets_count(void **state)
{
	struct harness *h = *state;
	struct channel *ch = start(h, &fake_ops, 2, 1);

	fake.outcome = OUTCOME_PERMANENT;
	send_one(h, "a");
	harness_run(h, 1, 2000);
	fake.outcome = OUTCOME_DELIVERED;
	send_one(h, "b");
	harness_run(h, 2, 2000);
	assert_int_equal(breaker_failures(ch->breaker), 0);
	fake.outcome = OUTCOME_RETRYABLE;
	send_one(h, "c");
	harness_run(h, 3, 2000);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_CLOSED);
	assert_int_equal(fake.nevents, 0);
}

static void
test_probes_open_it(void **state)
{
	struct harness *h = *state;
	struct channel *ch = start(h, &fake_ops, 2, 1);

	wait_probe(h, BREAKER_CLOSED);
	breaker_probe_done(ch, 1, NULL);
	assert_int_equal(breaker_failures(ch->breaker), 0);
	wait_probe(h, BREAKER_CLOSED);
	breaker_probe_done(ch, 0, "probe: connection refused");
	wait_probe(h, BREAKER_CLOSED);
	breaker_probe_done(ch, 0, "probe: connection refused");
	assert_int_equal(breaker_state(ch->breaker), BREAKER_OPEN);
	assert_int_equal(fake.nevents, 1);
	assert_true(breaker_since_ms(ch->breaker) > 0);
}

static void
test_trial_delivery(void **state)
{
	struct harness *h = *state;
	struct channel *ch = start(h, &fake_noprobe_ops, 1, 0);

	fake.outcome = OUTCOME_RETRYABLE;
	send_one(h, "a");
	harness_run(h, 1, 2000);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_OPEN);
	/* The trial fails: open again, nothing told. */
	send_one(h, "b");
	harness_run(h, 2, 2000);
	assert_int_equal(fake.delivered, 2);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_OPEN);
	assert_int_equal(fake.nevents, 1);
	/* The next trial succeeds: closed. */
	fake.outcome = OUTCOME_DELIVERED;
	send_one(h, "c");
	harness_run(h, 3, 2000);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_CLOSED);
	assert_int_equal(fake.nevents, 2);
	assert_string_equal(fake.events[1], "breaker_closed");
}

static void
test_never_opens(void **state)
{
	struct harness *h = *state;
	struct channel *ch = start(h, &fake_ops, 0, 1);
	char id[16];
	int i;

	fake.outcome = OUTCOME_RETRYABLE;
	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		send_one(h, id);
	}
	harness_run(h, 5, 2000);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_CLOSED);
	assert_int_equal(breaker_failures(ch->breaker), 5);
	assert_int_equal(fake.nevents, 0);
	assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN),
	    "half-open");
}

/* The spool's breaker_openings as "channel:open|closed:reason ...". */
static void
spells_of(const char *path, char *buf, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char one[256];

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT channel, closed_ms "
	    "IS NULL, coalesce(reason, '-') FROM breaker_openings ORDER BY "
	    "seq", -1, &st, NULL), SQLITE_OK);
	buf[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(one, sizeof(one), "%s%s:%s:%s", buf[0] ? " " : "",
		    sqlite3_column_text(st, 0), sqlite3_column_int(st, 1) ?
		    "open" : "closed", sqlite3_column_text(st, 2));
		strlcat(buf, one, len);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/*
 * Every spell's times: the crashed one (opened at 1000) ended at the start,
 * the others opened and ended in order between from_ms and to_ms.
 */
static void
spell_times_within(const char *path, int64_t from_ms, int64_t to_ms)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t opened, closed, last = from_ms;
	int rows = 0;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT opened_ms, closed_ms "
	    "FROM breaker_openings ORDER BY seq", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		opened = sqlite3_column_int64(st, 0);
		closed = sqlite3_column_int64(st, 1);
		if (rows++ == 0)
			assert_int_equal(opened, 1000);
		else {
			assert_true(opened >= last);
			assert_true(closed >= opened);
		}
		assert_true(closed >= from_ms && closed <= to_ms);
		last = closed;
	}
	assert_int_equal(rows, 3);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/*
 * The spool learns of every spell: one row when it opens (half-open and
 * open again is the same spell), closed_ms when a probe closes it or the
 * channel stops; a start ends what a crashed daemon left open.
 */
static void
test_records_spells(void **state)
{
	struct harness *h = *state;
	struct channel *ch;
	struct spool *sp;
	char path[128], err[256], got[1024];
	int64_t from_ms = deadline_wall_ms();

	snprintf(path, sizeof(path), "%s/spool.db", h->dir);
	sp = spool_open("sqlite", path, SPOOL_SYNC_OFF, err, sizeof(err));
	assert_non_null(sp);
	assert_int_equal(spool_breaker_opened(sp, "hook", 1000, "crashed"), 0);
	assert_int_equal(spool_commit(sp), 0);
	breaker_init(sp);
	assert_int_equal(spool_commit(sp), 0);
	spells_of(path, got, sizeof(got));
	assert_string_equal(got, "hook:closed:crashed");

	ch = start(h, &fake_ops, 1, 0);
	fake.outcome = OUTCOME_RETRYABLE;
	send_one(h, "a");
	harness_run(h, 1, 2000);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_OPEN);
	assert_int_equal(spool_commit(sp), 0);
	spells_of(path, got, sizeof(got));
	assert_string_equal(got, "hook:closed:crashed "
	    "hook:open:scripted failure");
	/* Half-open and open again: still the one spell. */
	wait_probe(h, BREAKER_HALF_OPEN);
	breaker_probe_done(ch, 0, "probe: HTTP 503");
	wait_probe(h, BREAKER_HALF_OPEN);
	breaker_probe_done(ch, 1, NULL);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_CLOSED);
	assert_int_equal(spool_commit(sp), 0);
	spells_of(path, got, sizeof(got));
	assert_string_equal(got, "hook:closed:crashed "
	    "hook:closed:scripted failure");
	/* Open when the channel stops: the spell ends with it. */
	send_one(h, "b");
	harness_run(h, 2, 2000);
	assert_int_equal(breaker_state(ch->breaker), BREAKER_OPEN);
	channel_free(h->ch);
	h->ch = NULL;
	assert_int_equal(spool_commit(sp), 0);
	spells_of(path, got, sizeof(got));
	assert_string_equal(got, "hook:closed:crashed "
	    "hook:closed:scripted failure hook:closed:scripted failure");
	spell_times_within(path, from_ms, deadline_wall_ms());
	breaker_init(NULL);
	spool_close(sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_opens_and_sheds),
		HARNESS_TEST(test_holds_then_closes),
		HARNESS_TEST(test_success_resets_count),
		HARNESS_TEST(test_probes_open_it),
		HARNESS_TEST(test_trial_delivery),
		HARNESS_TEST(test_never_opens),
		HARNESS_TEST(test_records_spells),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
