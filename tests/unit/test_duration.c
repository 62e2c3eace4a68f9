/*
 * test_duration.c: duration parsing and formatting, case by case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "duration.h"

static void
parse_ok(const char *s, int64_t want)
{
	int64_t ms = -1;

	if (duration_parse(s, &ms) != 0)
		fail_msg("'%s' was rejected", s);
	if (ms != want)
		fail_msg("'%s' gave %lld ms, not %lld", s, (long long)ms,
		    (long long)want);
}

static void
parse_bad(const char *s)
{
	int64_t ms = 12345;

	if (duration_parse(s, &ms) != -1)
		fail_msg("'%s' was accepted as %lld ms", s, (long long)ms);
	assert_int_equal(ms, 12345);	/* untouched on failure */
}

static void
test_units(void **state)
{
	(void)state;
	parse_ok("250ms", 250);
	parse_ok("1ms", 1);
	parse_ok("90s", 90000);
	parse_ok("15m", 15 * 60000);
	parse_ok("4h", 4 * 3600000LL);
	parse_ok("2d", 2 * 86400000LL);
	parse_ok("1500ms", 1500);
}

static void
test_limit(void **state)
{
	(void)state;
	parse_ok("366d", DURATION_MAX_MS);
	parse_ok("8784h", DURATION_MAX_MS);
	parse_ok("31622400000ms", DURATION_MAX_MS);
	parse_bad("367d");
	parse_bad("8785h");
	parse_bad("31622400001ms");
	parse_bad("527041m");
}

static void
test_malformed(void **state)
{
	(void)state;
	parse_bad("");
	parse_bad("0s");		/* durations are > 0 */
	parse_bad("0ms");
	parse_bad("0");
	parse_bad("90");		/* no unit */
	parse_bad("s");			/* no number */
	parse_bad("-5s");
	parse_bad("+5s");
	parse_bad(" 5s");
	parse_bad("5 s");
	parse_bad("5s ");
	parse_bad("5S");
	parse_bad("5sec");
	parse_bad("5ms5");
	parse_bad("1h30m");		/* one number, one unit */
	parse_bad("1.5h");
	parse_bad("05m");		/* no leading zero */
	parse_bad("5w");
	parse_bad("5us");
	parse_bad("0x10s");
}

static void
test_overflow(void **state)
{
	(void)state;
	parse_bad("9223372036854775807ms");
	parse_bad("9223372036854775808ms");
	parse_bad("99999999999999999999999999999999999999d");
	parse_bad("106751991167d");	/* wraps int64 when multiplied */
	parse_bad("213503982336d");
}

static void
format_is(int64_t ms, const char *want)
{
	char buf[32];

	duration_format(ms, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void
test_format(void **state)
{
	(void)state;
	format_is(250, "250ms");
	format_is(1500, "1500ms");
	format_is(1000, "1s");
	format_is(90000, "90s");
	format_is(60000, "1m");
	format_is(5400000, "90m");
	format_is(3600000, "1h");
	format_is(86400000, "1d");
	format_is(90000000, "25h");
	format_is(DURATION_MAX_MS, "366d");
	format_is(0, "0ms");
}

/* Whatever parses formats back to a form that parses to the same. */
static void
test_round_trip(void **state)
{
	static const char *const in[] = { "250ms", "1000ms", "60s", "90s",
	    "120m", "24h", "48h", "366d", "7ms", "86400s" };
	char buf[32];
	int64_t a, b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		assert_int_equal(duration_parse(in[i], &a), 0);
		duration_format(a, buf, sizeof(buf));
		assert_int_equal(duration_parse(buf, &b), 0);
		assert_int_equal(a, b);
	}
	duration_format(86400000, buf, sizeof(buf));
	assert_string_equal(buf, "1d");
}

/* A short buffer truncates; it never overflows. */
static void
test_format_short_buffer(void **state)
{
	char buf[4] = "xxx";

	(void)state;
	duration_format(123456, buf, sizeof(buf));
	assert_string_equal(buf, "123");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_format_short_buffer),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
