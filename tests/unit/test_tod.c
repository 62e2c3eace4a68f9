/*
 * test_tod.c: times of day and windows in UTC, Europe/Berlin and
 * America/New_York, across both DST changes of 2026, at fixed instants.
 *
 * 2026: Berlin springs forward 29 March 01:00Z (02:00 CET -> 03:00 CEST)
 * and falls back 25 October 01:00Z (03:00 CEST -> 02:00 CET); New York
 * springs forward 8 March 07:00Z (02:00 EST -> 03:00 EDT) and falls back
 * 1 November 06:00Z (02:00 EDT -> 01:00 EST).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tod.h"

static int64_t	utc(int, int, int, int, int);
static void	zone(const char *);
static void	next_is(int64_t, const char *, int64_t);
static void	end_is(int64_t, const char *, int64_t);
static struct tod_window window(const char *);

/* An instant given in UTC, in ms. */
static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return ((int64_t)timegm(&tm) * 1000);
}

static void
zone(const char *name)
{
	if (tod_set_zone(name) != 0)
		fail_msg("zone '%s' was refused", name);
}

/* A UTC instant as text, for failure messages. */
static const char *
show(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return (buf);
}

static void
next_is(int64_t now, const char *hhmm, int64_t want)
{
	char a[64], b[64], c[64];
	int64_t got;

	got = tod_next(now, tod_parse(hhmm));
	if (got != want)
		fail_msg("next %s after %s: got %s, want %s", hhmm,
		    show(now, a, sizeof(a)), show(got, b, sizeof(b)),
		    show(want, c, sizeof(c)));
}

static struct tod_window
window(const char *s)
{
	struct tod_window w;

	if (tod_window_parse(s, &w) != 0)
		fail_msg("window '%s' was refused", s);
	return (w);
}

static void
end_is(int64_t now, const char *win, int64_t want)
{
	struct tod_window w = window(win);
	char a[64], b[64], c[64];
	int64_t got;

	got = tod_window_end(now, &w);
	if (got != want)
		fail_msg("end of %s at %s: got %s, want %s", win,
		    show(now, a, sizeof(a)), show(got, b, sizeof(b)),
		    show(want, c, sizeof(c)));
}

static void
test_parse(void **state)
{
	(void)state;
	assert_int_equal(tod_parse("00:00"), 0);
	assert_int_equal(tod_parse("09:00"), 540);
	assert_int_equal(tod_parse("23:59"), 1439);
	assert_int_equal(tod_parse("24:00"), -1);
	assert_int_equal(tod_parse("7:5"), -1);
	assert_int_equal(tod_parse("7:05"), -1);
	assert_int_equal(tod_parse("07:5"), -1);
	assert_int_equal(tod_parse("07:60"), -1);
	assert_int_equal(tod_parse(""), -1);
	assert_int_equal(tod_parse("aa:bb"), -1);
	assert_int_equal(tod_parse("07:0a"), -1);
	assert_int_equal(tod_parse("0700"), -1);
	assert_int_equal(tod_parse("07.00"), -1);
	assert_int_equal(tod_parse(" 07:00"), -1);
	assert_int_equal(tod_parse("07:00 "), -1);
	assert_int_equal(tod_parse("+7:00"), -1);
	assert_int_equal(tod_parse("007:00"), -1);
	assert_int_equal(tod_parse(NULL), -1);
}

static void
test_window_parse(void **state)
{
	struct tod_window w;

	(void)state;
	w = window("22:00-07:00");
	assert_int_equal(w.start, 22 * 60);
	assert_int_equal(w.end, 7 * 60);
	w = window("09:00-17:30");
	assert_int_equal(w.start, 9 * 60);
	assert_int_equal(w.end, 17 * 60 + 30);
	w = window("23:59-00:00");
	assert_int_equal(w.start, 1439);
	assert_int_equal(w.end, 0);

	w.start = w.end = 77;
	assert_int_equal(tod_window_parse("07:00-07:00", &w), -1);
	assert_int_equal(tod_window_parse("", &w), -1);
	assert_int_equal(tod_window_parse("22:00", &w), -1);
	assert_int_equal(tod_window_parse("22:00-", &w), -1);
	assert_int_equal(tod_window_parse("22:00-7:00", &w), -1);
	assert_int_equal(tod_window_parse("22:00-24:00", &w), -1);
	assert_int_equal(tod_window_parse("aa:bb-07:00", &w), -1);
	assert_int_equal(tod_window_parse("22:00 - 07:00", &w), -1);
	assert_int_equal(tod_window_parse("22:00_07:00", &w), -1);
	assert_int_equal(tod_window_parse("22:00-07:00x", &w), -1);
	assert_int_equal(tod_window_parse("22:00-07:60", &w), -1);
	assert_int_equal(tod_window_parse(NULL, &w), -1);
	/* Untouched on failure. */
	assert_int_equal(w.start, 77);
	assert_int_equal(w.end, 77);
}

static void
test_zone(void **state)
{
	struct tod_window w = window("00:00-01:00");

	(void)state;
	zone("UTC");
	zone("localtime");
	zone("Etc/GMT+5");	/* POSIX sign: five hours behind UTC */
	assert_true(tod_in_window(utc(2026, 1, 10, 5, 30), &w));
	assert_false(tod_in_window(utc(2026, 1, 10, 0, 30), &w));
	zone("Europe/Berlin");

	assert_int_equal(tod_set_zone("Nowhere/Foo"), -1);
	assert_int_equal(tod_set_zone(""), -1);
	assert_int_equal(tod_set_zone("Europe"), -1);	/* a directory */
	assert_int_equal(tod_set_zone("Europe/"), -1);
	assert_int_equal(tod_set_zone("zone.tab"), -1);	/* not a zone */
	assert_int_equal(tod_set_zone("/etc/localtime"), -1);
	assert_int_equal(tod_set_zone(":Europe/Paris"), -1);
	assert_int_equal(tod_set_zone("../zoneinfo/Europe/Paris"), -1);
	assert_int_equal(tod_set_zone("Europe/../Europe/Paris"), -1);
	assert_int_equal(tod_set_zone("CET-1CEST,M3.5.0,M10.5.0/3"), -1);
	assert_int_equal(tod_set_zone("utc"), -1);
	assert_int_equal(tod_set_zone(NULL), -1);

	/* A refused zone leaves the previous one (Berlin, UTC+1) in force. */
	assert_true(tod_in_window(utc(2026, 1, 10, 23, 30), &w));
	assert_false(tod_in_window(utc(2026, 1, 10, 0, 30), &w));
}

static void
test_next_utc(void **state)
{
	(void)state;
	zone("UTC");
	next_is(utc(2026, 1, 10, 8, 0), "09:00", utc(2026, 1, 10, 9, 0));
	next_is(utc(2026, 1, 10, 9, 0) - 1, "09:00", utc(2026, 1, 10, 9, 0));
	/* Strictly after now: at 09:00 itself, the next is tomorrow's. */
	next_is(utc(2026, 1, 10, 9, 0), "09:00", utc(2026, 1, 11, 9, 0));
	next_is(utc(2026, 1, 10, 9, 0) + 1, "09:00", utc(2026, 1, 11, 9, 0));
	next_is(utc(2026, 1, 10, 8, 0), "00:00", utc(2026, 1, 11, 0, 0));
	next_is(utc(2026, 1, 10, 8, 0), "23:59", utc(2026, 1, 10, 23, 59));
	/* Month, year and leap-day ends. */
	next_is(utc(2026, 1, 31, 12, 0), "06:00", utc(2026, 2, 1, 6, 0));
	next_is(utc(2026, 12, 31, 23, 30), "00:15", utc(2027, 1, 1, 0, 15));
	next_is(utc(2028, 2, 28, 12, 0), "06:00", utc(2028, 2, 29, 6, 0));
	/* No DST in UTC: the 2026 European dates are ordinary days. */
	next_is(utc(2026, 3, 28, 12, 0), "02:30", utc(2026, 3, 29, 2, 30));
	next_is(utc(2026, 10, 25, 2, 45), "02:30", utc(2026, 10, 26, 2, 30));
}

static void
test_next_berlin_spring(void **state)
{
	(void)state;
	zone("Europe/Berlin");
	/* Winter: CET, UTC+1. */
	next_is(utc(2026, 1, 15, 7, 0), "09:00", utc(2026, 1, 15, 8, 0));
	/* 02:30 does not exist on 29 March: it happens at 03:00 CEST. */
	next_is(utc(2026, 3, 28, 12, 0), "02:30", utc(2026, 3, 29, 1, 0));
	next_is(utc(2026, 3, 28, 12, 0), "02:00", utc(2026, 3, 29, 1, 0));
	next_is(utc(2026, 3, 28, 12, 0), "02:59", utc(2026, 3, 29, 1, 0));
	next_is(utc(2026, 3, 28, 12, 0), "03:00", utc(2026, 3, 29, 1, 0));
	next_is(utc(2026, 3, 28, 12, 0), "03:01", utc(2026, 3, 29, 1, 1));
	next_is(utc(2026, 3, 28, 12, 0), "01:59", utc(2026, 3, 29, 0, 59));
	next_is(utc(2026, 3, 29, 1, 0) - 1, "02:30", utc(2026, 3, 29, 1, 0));
	/* Once the gap is past, the next 02:30 is Monday's, in CEST. */
	next_is(utc(2026, 3, 29, 1, 0), "02:30", utc(2026, 3, 30, 0, 30));
	/* 09:00 Saturday (CET) to 09:00 Sunday (CEST) is 23 hours. */
	next_is(utc(2026, 3, 28, 8, 0), "09:00", utc(2026, 3, 29, 7, 0));
	next_is(utc(2026, 3, 29, 1, 0), "09:00", utc(2026, 3, 29, 7, 0));
}

static void
test_next_berlin_autumn(void **state)
{
	(void)state;
	zone("Europe/Berlin");
	/* 02:30 happens twice on 25 October: 00:30Z (CEST), 01:30Z (CET). */
	next_is(utc(2026, 10, 24, 12, 0), "02:30", utc(2026, 10, 25, 0, 30));
	next_is(utc(2026, 10, 25, 0, 10), "02:30", utc(2026, 10, 25, 0, 30));
	/* After the first, the repeat does not count: Monday's is next. */
	next_is(utc(2026, 10, 25, 0, 30), "02:30", utc(2026, 10, 26, 1, 30));
	next_is(utc(2026, 10, 25, 0, 45), "02:30", utc(2026, 10, 26, 1, 30));
	next_is(utc(2026, 10, 25, 1, 10), "02:30", utc(2026, 10, 26, 1, 30));
	next_is(utc(2026, 10, 24, 12, 0), "03:00", utc(2026, 10, 25, 2, 0));
	next_is(utc(2026, 10, 24, 12, 0), "01:59", utc(2026, 10, 24, 23, 59));
	/* 09:00 Saturday (CEST) to 09:00 Sunday (CET) is 25 hours. */
	next_is(utc(2026, 10, 24, 7, 0), "09:00", utc(2026, 10, 25, 8, 0));
}

static void
test_next_new_york(void **state)
{
	(void)state;
	zone("America/New_York");
	next_is(utc(2026, 1, 15, 12, 0), "09:00", utc(2026, 1, 15, 14, 0));
	/* Spring: 02:30 on 8 March happens at 03:00 EDT. */
	next_is(utc(2026, 3, 7, 17, 0), "02:30", utc(2026, 3, 8, 7, 0));
	next_is(utc(2026, 3, 7, 17, 0), "09:00", utc(2026, 3, 8, 13, 0));
	next_is(utc(2026, 3, 7, 17, 0), "01:59", utc(2026, 3, 8, 6, 59));
	next_is(utc(2026, 3, 8, 7, 0), "02:30", utc(2026, 3, 9, 6, 30));
	/* Autumn: 01:30 on 1 November at 05:30Z (EDT), again 06:30Z (EST). */
	next_is(utc(2026, 10, 31, 12, 0), "01:30", utc(2026, 11, 1, 5, 30));
	next_is(utc(2026, 11, 1, 5, 30), "01:30", utc(2026, 11, 2, 6, 30));
	next_is(utc(2026, 11, 1, 6, 10), "01:30", utc(2026, 11, 2, 6, 30));
	next_is(utc(2026, 11, 1, 5, 0), "09:00", utc(2026, 11, 1, 14, 0));
	/* A local evening is the next UTC day. */
	next_is(utc(2026, 11, 1, 12, 0), "23:00", utc(2026, 11, 2, 4, 0));
}

static void
test_in_window(void **state)
{
	struct tod_window night = window("22:00-07:00");
	struct tod_window day = window("09:00-17:00");

	(void)state;
	zone("UTC");
	assert_true(tod_in_window(utc(2026, 5, 1, 22, 0), &night));
	assert_true(tod_in_window(utc(2026, 5, 1, 23, 59), &night));
	assert_true(tod_in_window(utc(2026, 5, 2, 0, 0), &night));
	assert_true(tod_in_window(utc(2026, 5, 2, 7, 0) - 1, &night));
	assert_false(tod_in_window(utc(2026, 5, 2, 7, 0), &night));
	assert_false(tod_in_window(utc(2026, 5, 2, 12, 0), &night));
	assert_false(tod_in_window(utc(2026, 5, 2, 22, 0) - 1, &night));
	assert_true(tod_in_window(utc(2026, 5, 1, 9, 0), &day));
	assert_true(tod_in_window(utc(2026, 5, 1, 17, 0) - 1, &day));
	assert_false(tod_in_window(utc(2026, 5, 1, 17, 0), &day));
	assert_false(tod_in_window(utc(2026, 5, 1, 9, 0) - 1, &day));
	assert_false(tod_in_window(utc(2026, 5, 1, 3, 0), &day));

	/* Local time decides: 21:30Z is 23:30 CEST, 05:30Z is 07:30. */
	zone("Europe/Berlin");
	assert_true(tod_in_window(utc(2026, 5, 1, 21, 30), &night));
	assert_false(tod_in_window(utc(2026, 5, 2, 5, 30), &night));
	assert_true(tod_in_window(utc(2026, 1, 2, 5, 30), &night));
	zone("America/New_York");
	assert_true(tod_in_window(utc(2026, 5, 2, 3, 0), &night));
	assert_false(tod_in_window(utc(2026, 5, 2, 12, 0), &night));
	assert_true(tod_in_window(utc(2026, 5, 2, 14, 0), &day));
}

static void
test_window_end(void **state)
{
	int64_t now;

	(void)state;
	zone("UTC");
	end_is(utc(2026, 5, 1, 23, 0), "22:00-07:00", utc(2026, 5, 2, 7, 0));
	end_is(utc(2026, 5, 2, 3, 0), "22:00-07:00", utc(2026, 5, 2, 7, 0));
	end_is(utc(2026, 5, 1, 10, 0), "09:00-17:00", utc(2026, 5, 1, 17, 0));
	end_is(utc(2026, 12, 31, 23, 0), "22:00-07:00",
	    utc(2027, 1, 1, 7, 0));
	/* Outside: now itself. */
	now = utc(2026, 5, 1, 12, 0) + 123;
	end_is(now, "22:00-07:00", now);
	end_is(utc(2026, 5, 1, 17, 0), "09:00-17:00", utc(2026, 5, 1, 17, 0));

	zone("Europe/Berlin");
	/* A night across the spring change is an hour shorter. */
	end_is(utc(2026, 3, 28, 22, 0), "22:00-07:00", utc(2026, 3, 29, 5, 0));
	/* A window ending inside the gap ends with the gap. */
	end_is(utc(2026, 3, 29, 0, 30), "01:00-02:30", utc(2026, 3, 29, 1, 0));
	/* Entered the second time in a repeated hour, it ends the second. */
	end_is(utc(2026, 10, 25, 0, 10), "02:00-02:30",
	    utc(2026, 10, 25, 0, 30));
	end_is(utc(2026, 10, 25, 1, 10), "02:00-02:30",
	    utc(2026, 10, 25, 1, 30));
	end_is(utc(2026, 10, 24, 22, 0), "22:00-07:00",
	    utc(2026, 10, 25, 6, 0));

	zone("America/New_York");
	end_is(utc(2026, 3, 8, 3, 0), "22:00-07:00", utc(2026, 3, 8, 11, 0));
	end_is(utc(2026, 11, 1, 3, 0), "22:00-07:00", utc(2026, 11, 1, 12, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_window_parse),
		cmocka_unit_test(test_zone),
		cmocka_unit_test(test_next_utc),
		cmocka_unit_test(test_next_berlin_spring),
		cmocka_unit_test(test_next_berlin_autumn),
		cmocka_unit_test(test_next_new_york),
		cmocka_unit_test(test_in_window),
		cmocka_unit_test(test_window_end),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
