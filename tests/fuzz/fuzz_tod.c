/*
 * fuzz_tod.c: libFuzzer harness for the config's time parsers: times of
 * day (tod_parse), daily windows (tod_window_parse) and durations
 * (duration_parse). Beyond not crashing, it checks their promises: what
 * is accepted is in range and, for times of day, exactly the one way of
 * writing that value; a duration written by duration_format() reads back
 * the same; a refused input leaves the output alone. The same bytes also
 * drive tod_next() across DST changes: its answer is later than now, is
 * where the clock reads the minute (or where a gap that skipped it ends),
 * and is the first such instant.
 *
 * Build and run:
 *	clang -g -O1 -D_GNU_SOURCE -Iinclude -Idaemon \
 *	    -fsanitize=fuzzer,address,undefined \
 *	    tests/fuzz/fuzz_tod.c daemon/tod.c daemon/duration.c -o fuzz_tod
 *	./fuzz_tod -max_len=64 tests/fuzz/corpus/tod
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "tod.h"

#define FUZZ_DAY_MS	(86400LL * 1000)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_tod_parse(const char *);
static void	fuzz_window_parse(const char *);
static void	fuzz_duration(const char *);
static void	fuzz_next(const uint8_t *, size_t);
static int	fuzz_reads(int64_t, int);
static int	fuzz_gap_ends(int64_t);

static const char *fuzz_zones[] = {
	"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
	"Pacific/Apia", "Asia/Tehran", "Antarctica/Troll"
};
#define FUZZ_NZONES	(sizeof(fuzz_zones) / sizeof(fuzz_zones[0]))

static void
fuzz_tod_parse(const char *s)
{
	char back[16];
	int m;

	if ((m = tod_parse(s)) == -1)
		return;
	if (m < 0 || m > 1439)
		abort();
	/* "HH:MM" is the only spelling accepted. */
	snprintf(back, sizeof(back), "%02d:%02d", m / 60, m % 60);
	if (strcmp(back, s) != 0)
		abort();
}

static void
fuzz_window_parse(const char *s)
{
	struct tod_window w = { -7, -7 };
	char back[32];

	if (tod_window_parse(s, &w) == -1) {
		if (w.start != -7 || w.end != -7)
			abort();
		return;
	}
	if (w.start < 0 || w.start > 1439 || w.end < 0 || w.end > 1439 ||
	    w.start == w.end)
		abort();
	snprintf(back, sizeof(back), "%02d:%02d-%02d:%02d", w.start / 60,
	    w.start % 60, w.end / 60, w.end % 60);
	if (strcmp(back, s) != 0)
		abort();
}

static void
fuzz_duration(const char *s)
{
	int64_t ms = -7, again = -7;
	char back[32];

	if (duration_parse(s, &ms) == -1) {
		if (ms != -7)
			abort();
		return;
	}
	if (ms <= 0 || ms > DURATION_MAX_MS)
		abort();
	duration_format(ms, back, sizeof(back));
	if (duration_parse(back, &again) == -1 || again != ms)
		abort();
}

/* Whether local time at ms reads minute, to the second. */
static int
fuzz_reads(int64_t ms, int minute)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	return (tm.tm_hour * 60 + tm.tm_min == minute && tm.tm_sec == 0 &&
	    ms % 1000 == 0);
}

/* A gap ends at ms: the offset there differs from a second before. */
static int
fuzz_gap_ends(int64_t ms)
{
	time_t t = (time_t)(ms / 1000), before = t - 1;
	struct tm a, b;

	localtime_r(&before, &a);
	localtime_r(&t, &b);
	return (a.tm_gmtoff < b.tm_gmtoff);
}

static void
fuzz_next(const uint8_t *data, size_t size)
{
	uint64_t raw = 0;
	int64_t now, next;
	int minute;
	size_t i;

	if (size < 11)
		return;
	for (i = 0; i < 8; i++)
		raw = raw << 8 | data[i];
	/* Any ms from 1900 to 2200. */
	now = -2208988800000LL + (int64_t)(raw % (300ULL * 366 * FUZZ_DAY_MS));
	minute = (data[8] << 8 | data[9]) % 1440;
	if (tod_set_zone(fuzz_zones[data[10] % FUZZ_NZONES]) != 0)
		abort();
	next = tod_next(now, minute);
	/* Later, within two days and a skipped one (Samoa, 2011). */
	if (next <= now || next - now > 3 * FUZZ_DAY_MS)
		abort();
	if (!fuzz_reads(next, minute) && !fuzz_gap_ends(next))
		abort();
	/* Nothing earlier after now would do. */
	if (next - 1 > now && tod_next(next - 1, minute) != next)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if ((s = malloc(size + 1)) == NULL)
		return (0);
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_tod_parse(s);
	fuzz_window_parse(s);
	fuzz_duration(s);
	free(s);
	fuzz_next(data, size);
	return (0);
}
