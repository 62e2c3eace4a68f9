/*
 * tod.c: times of day and daily windows in the configured time zone.
 *
 * The zone is the process's TZ: the daemon is single-threaded and nothing
 * else in it reads local time (timestamps on the wire and in the spool are
 * UTC), so setenv + tzset is the whole of "selecting a zone".
 *
 * When a time of day next occurs is found on the local calendar: the date
 * of now plus d days at HH:MM is a wall-clock reading, and the instant is
 * the first one at which the local clock reaches that reading. mktime(3)
 * is not used for this because glibc gets both DST cases wrong for us: it
 * puts 02:30 of a spring-forward night at 03:30 (not at 03:00, where the
 * gap ends) and a repeated 02:30 in autumn at its second occurrence.
 */
#include <sys/types.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tod.h"

#define TOD_ZONEINFO	"/usr/share/zoneinfo"
#define TOD_SYSTEM	"/etc/localtime"
/* A POSIX TZ string for UTC that needs no file. */
#define TOD_UTC		"UTC0"
/*
 * The clock's offset is sampled this far apart and transitions found by
 * bisection in between; no zone has changed its offset twice within half
 * an hour, so none is missed.
 */
#define TOD_STEP	1800
/* Further than any UTC offset (-12h .. +14h) from a wall-clock reading. */
#define TOD_SPAN	(15 * 3600)
#define TOD_DAY		86400

static int	tod_zone_name_ok(const char *);
static int	tod_is_tzif(const char *);
static int	tod_two_digits(const char *, int);
static time_t	tod_sec(int64_t);
static long	tod_offset(time_t);
static time_t	tod_transition(time_t, long);
static time_t	tod_reach(time_t, time_t);
static time_t	tod_wall(const struct tm *, int, int);
static int	tod_minute_of(time_t);

/* A zone name that stays inside the zoneinfo directory. */
static int
tod_zone_name_ok(const char *zone)
{
	return (zone[0] != '\0' && zone[0] != '/' &&
	    strstr(zone, "..") == NULL &&
	    strspn(zone, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789/_+-.") == strlen(zone));
}

/*
 * Whether path is a compiled zone file. glibc reads whatever TZ names
 * and, when that is not one, silently uses UTC under the name given; the
 * magic tells a zone from a directory or zoneinfo's zone.tab.
 */
static int
tod_is_tzif(const char *path)
{
	char magic[4];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	n = read(fd, magic, sizeof(magic));
	close(fd);
	return (n == sizeof(magic) && memcmp(magic, "TZif", 4) == 0);
}

/* Whether tod_set_zone would take zone; changes nothing. */
int
tod_zone_check(const char *zone)
{
	char path[PATH_MAX];

	if (zone == NULL)
		return (-1);
	if (strcmp(zone, "UTC") == 0 || strcmp(zone, "localtime") == 0)
		return (0);
	if (!tod_zone_name_ok(zone) || (size_t)snprintf(path, sizeof(path),
	    "%s/%s", TOD_ZONEINFO, zone) >= sizeof(path) || !tod_is_tzif(path))
		return (-1);
	return (0);
}

/* Make zone the one every later tod_* call uses; see tod.h. */
int
tod_set_zone(const char *zone)
{
	char path[PATH_MAX], tz[PATH_MAX + 1];
	const char *value;

	if (zone == NULL)
		return (-1);
	if (strcmp(zone, "UTC") == 0)
		value = TOD_UTC;
	else if (strcmp(zone, "localtime") == 0) {
		/* Without /etc/localtime the system's own clock is UTC. */
		value = tod_is_tzif(TOD_SYSTEM) ? ":" TOD_SYSTEM : TOD_UTC;
	} else {
		if (!tod_zone_name_ok(zone))
			return (-1);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", TOD_ZONEINFO,
		    zone) >= sizeof(path) || !tod_is_tzif(path))
			return (-1);
		/* The file checked is the file used, whatever TZDIR says. */
		snprintf(tz, sizeof(tz), ":%s", path);
		value = tz;
	}
	if (setenv("TZ", value, 1) == -1)
		return (-1);
	tzset();
	return (0);
}

/* Two decimal digits at s, at most max; -1 otherwise. */
static int
tod_two_digits(const char *s, int max)
{
	int v;

	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return (-1);
	v = (s[0] - '0') * 10 + (s[1] - '0');
	return (v <= max ? v : -1);
}

/* "HH:MM", exactly: two digits each, 00..23 and 00..59. */
int
tod_parse(const char *s)
{
	int h, m;

	if (s == NULL || strlen(s) != 5 || s[2] != ':')
		return (-1);
	if ((h = tod_two_digits(s, 23)) == -1 ||
	    (m = tod_two_digits(s + 3, 59)) == -1)
		return (-1);
	return (h * 60 + m);
}

/* "HH:MM-HH:MM"; w is left alone on error. */
int
tod_window_parse(const char *s, struct tod_window *w)
{
	char start[6], end[6];
	int a, b;

	if (s == NULL || strlen(s) != 11 || s[5] != '-')
		return (-1);
	memcpy(start, s, 5);
	start[5] = '\0';
	memcpy(end, s + 6, 5);
	end[5] = '\0';
	if ((a = tod_parse(start)) == -1 || (b = tod_parse(end)) == -1 ||
	    a == b)
		return (-1);
	w->start = a;
	w->end = b;
	return (0);
}

/* The second that contains ms (rounding down, also before 1970). */
static time_t
tod_sec(int64_t ms)
{
	return ((time_t)(ms >= 0 ? ms / 1000 : -((999 - ms) / 1000)));
}

/* Local time minus UTC at t, in seconds. */
static long
tod_offset(time_t t)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL)
		return (0);
	return (tm.tm_gmtoff);
}

/*
 * The end of the stretch of constant offset off that starts at t: the
 * first second after t with another offset, or t + TOD_STEP.
 */
static time_t
tod_transition(time_t t, long off)
{
	time_t lo = t, hi = t + TOD_STEP, mid;

	if (tod_offset(hi) == off)
		return (hi);
	/* The offset is off at lo and another at hi. */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (tod_offset(mid) == off)
			lo = mid;
		else
			hi = mid;
	}
	return (hi);
}

/*
 * The first second from t on at which the local clock reads wall (seconds
 * since the epoch as if local time were UTC) or later: where it reads
 * wall, or, when wall falls in a gap, the instant the gap ends. Walking
 * forward from t, a reading repeated in autumn is met first where it
 * first occurs.
 */
static time_t
tod_reach(time_t t, time_t wall)
{
	time_t end;
	long off;

	for (;;) {
		off = tod_offset(t);
		end = tod_transition(t, off);
		/* The clock reads t + off .. end + off - 1 in [t, end). */
		if (wall < end + off)
			return (wall - off > t ? wall - off : t);
		t = end;
	}
}

/* The wall-clock reading of minute on the local date of tm plus days. */
static time_t
tod_wall(const struct tm *date, int days, int minute)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = date->tm_year;
	tm.tm_mon = date->tm_mon;
	tm.tm_mday = date->tm_mday + days;
	tm.tm_hour = minute / 60;
	tm.tm_min = minute % 60;
	/* timegm() does calendar arithmetic only: month ends, leap years. */
	return (timegm(&tm));
}

/* The minute of the local day at t. */
static int
tod_minute_of(time_t t)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL)
		return (0);
	return (tm.tm_hour * 60 + tm.tm_min);
}

/* The next instant the local clock reads minute, on the local calendar. */
int64_t
tod_next(int64_t now_ms, int minute)
{
	time_t now = tod_sec(now_ms), wall, at;
	struct tm today;
	int days;

	if (localtime_r(&now, &today) == NULL)
		return (now_ms);
	/*
	 * Reaching each day's reading from before any offset could put it
	 * gives its first occurrence, not the one after now. Each day's
	 * instant is later than the last, so the loop ends in a day or two.
	 */
	for (days = 0;; days++) {
		wall = tod_wall(&today, days, minute);
		at = tod_reach(wall - TOD_SPAN, wall);
		if ((int64_t)at * 1000 > now_ms)
			return ((int64_t)at * 1000);
	}
}

/* Whether the local clock at now_ms reads a minute inside w. */
int
tod_in_window(int64_t now_ms, const struct tod_window *w)
{
	int m = tod_minute_of(tod_sec(now_ms));

	if (w->start < w->end)
		return (m >= w->start && m < w->end);
	return (m >= w->start || m < w->end);
}

/* When the local clock leaves w, which it reads now_ms; else now_ms. */
int64_t
tod_window_end(int64_t now_ms, const struct tod_window *w)
{
	time_t now = tod_sec(now_ms);
	struct tm today;

	if (!tod_in_window(now_ms, w) || localtime_r(&now, &today) == NULL)
		return (now_ms);
	/*
	 * Walk on from now rather than take the end's first occurrence: in
	 * an hour repeated in autumn, a window entered the second time ends
	 * when the clock reaches its end the second time.
	 */
	return ((int64_t)tod_reach(now, tod_wall(&today,
	    today.tm_hour * 60 + today.tm_min < w->end ? 0 : 1, w->end)) *
	    1000);
}
