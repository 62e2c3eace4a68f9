/*
 * test_adapter_discard.c: the discard channel: every delivery is delivered
 * at once, from inside deliver; it takes no options of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "adapter_harness.h"
#include "log.h"

static void
test_delivers_everything(void **state)
{
	struct harness *h = *state;
	struct notice *n;
	int i;

	assert_int_equal(harness_options(h, &adapter_discard_ops, "sink",
	    "type = \"discard\"; owner = \"qa\"; concurrency = 2;"), 0);
	if (harness_start(h) == NULL)
		fail_msg("start: %s", h->err);
	n = harness_notice("n-1", NULL, 0);
	for (i = 0; i < 1000; i++)
		harness_send(h, n);
	harness_run(h, 1000, 5000);
	assert_int_equal(h->counts[OUTCOME_DELIVERED], 1000);
	assert_int_equal(h->ch->stats.outcomes[OUTCOME_DELIVERED], 1000);
	assert_int_equal(h->ch->inflight, 0);
	assert_string_equal(h->id[0], "n-1/sink");
	assert_string_equal(h->error[0], "");
	notice_unref(n);
}

static void
test_check(void **state)
{
	struct harness *h = *state;

	assert_int_equal(harness_options(h, &adapter_discard_ops, "sink",
	    "type = \"discard\"; path = \"/tmp/x\"; command = \"y\";"), -1);
	assert_null(h->conf.args);
	assert_true(harness_error_has(h, "channel sink: unknown option "
	    "'path' (type discard has no options of its own)"));
	assert_true(harness_error_has(h, "unknown option 'command'"));
	assert_int_equal(h->errs.n, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_delivers_everything),
		HARNESS_TEST(test_check),
	};

	log_init("test_adapter_discard", LOG_LEVEL_ERROR);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
