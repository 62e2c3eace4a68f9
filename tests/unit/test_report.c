/*
 * test_report.c: the pure parts of sbctl report, case by case: --since
 * and --until times in the config's zone, and the short durations of its
 * tables. The figures themselves are checked against a real spool in
 * tests/behaviour/test_report.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "report.h"

#define NOW_MS		1714564800000LL		/* 2024-05-01T12:00:00Z */
#define DAY_MS		86400000LL

static void
when_ok(const char *zone, const char *s, int64_t want)
{
	struct config cf;
	char err[256];
	int64_t got = -1;

	memset(&cf, 0, sizeof(cf));
	cf.timezone = (char *)zone;
	if (report_when(&cf, s, NOW_MS, &got, err, sizeof(err)) != 0)
		fail_msg("'%s' in %s was rejected: %s", s, zone, err);
	if (got != want)
		fail_msg("'%s' in %s gave %lld, not %lld", s, zone,
		    (long long)got, (long long)want);
}

static void
when_bad(const char *s)
{
	struct config cf;
	char err[256];
	int64_t got = 7;

	memset(&cf, 0, sizeof(cf));
	cf.timezone = (char *)"UTC";
	if (report_when(&cf, s, NOW_MS, &got, err, sizeof(err)) != -1)
		fail_msg("'%s' was accepted as %lld", s, (long long)got);
	/* The message names what was given and what would do. */
	assert_non_null(strstr(err, s));
	assert_non_null(strstr(err, "2024-05-01T09:30"));
	assert_int_equal(got, 7);
}

static void
test_when_relative(void **state)
{
	(void)state;
	when_ok("UTC", "now", NOW_MS);
	when_ok("UTC", "7d", NOW_MS - 7 * DAY_MS);
	when_ok("UTC", "90m", NOW_MS - 90 * 60000);
	when_ok("Europe/Berlin", "12h", NOW_MS - DAY_MS / 2);
}

static void
test_when_dates(void **state)
{
	(void)state;
	when_ok("UTC", "2024-05-01", 1714521600000LL);
	when_ok("UTC", "2024-05-01T09:30", 1714521600000LL + 34200000);
	when_ok("UTC", "2024-05-01 09:30:15", 1714521600000LL + 34215000);
	/* Local midnight of the config's zone: CEST is UTC+2 in May. */
	when_ok("Europe/Berlin", "2024-05-01", 1714521600000LL - 7200000);
	/* Z: UTC whatever the zone. */
	when_ok("Europe/Berlin", "2024-05-01T00:00Z", 1714521600000LL);
	/* Winter: CET, UTC+1. */
	when_ok("Europe/Berlin", "2024-01-15", 1705273200000LL);
}

static void
test_when_bad(void **state)
{
	(void)state;
	when_bad("yesterday");
	when_bad("2024-13-01");
	when_bad("2024-05-01T25:00");
	when_bad("2024-05-01T09:30Zulu");
	when_bad("");
}

static void
ms_is(int64_t ms, const char *want)
{
	char buf[32];

	report_format_ms(ms, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%lld ms was '%s', not '%s'", (long long)ms, buf,
		    want);
}

static void
test_format_ms(void **state)
{
	(void)state;
	ms_is(0, "0ms");
	ms_is(999, "999ms");
	ms_is(1000, "1.0s");
	ms_is(1299, "1.2s");
	ms_is(59999, "59.9s");		/* never rounded up to 60.0s */
	ms_is(60000, "1m00s");
	ms_is(3599999, "59m59s");
	ms_is(3600000, "1h00m");
	ms_is(18000000, "5h00m");
	ms_is(DAY_MS + 4 * 3600000, "1d04h");
}

static void
test_format_share(void **state)
{
	char buf[16];

	(void)state;
	report_format_share(12, 23, buf, sizeof(buf));
	assert_string_equal(buf, "52.2%");
	report_format_share(0, 0, buf, sizeof(buf));
	assert_string_equal(buf, "n/a");
	report_format_share(5, 5, buf, sizeof(buf));
	assert_string_equal(buf, "100.0%");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_when_relative),
		cmocka_unit_test(test_when_dates),
		cmocka_unit_test(test_when_bad),
		cmocka_unit_test(test_format_ms),
		cmocka_unit_test(test_format_share),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
