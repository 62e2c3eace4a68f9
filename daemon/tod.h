/*
 * tod.h: times of day ("09:00") and daily windows ("22:00-07:00") in the
 * configured time zone, DST-correct: the next occurrence of a time of day
 * is computed on the local calendar, not by adding 24 hours.
 */
#ifndef TOD_H
#define TOD_H

#include <stdint.h>

/* Minutes after local midnight, 0..1439. */
struct tod_window {
	int	start;
	int	end;		/* end < start: the window spans midnight */
};

/*
 * Select the zone for every tod_* call; 0, or -1 leaving the zone as it
 * was. Accepted: "UTC"; "localtime", the system's zone (/etc/localtime,
 * UTC where there is none); or a name with a compiled zone file under
 * /usr/share/zoneinfo ("Europe/Berlin", "Etc/GMT+5"). Any other name is
 * an error, as are POSIX TZ strings ("CET-1CEST,M3.5.0,M10.5.0/3"): glibc
 * would quietly run such a name as UTC. Sets TZ for the whole process.
 */
int	tod_set_zone(const char *zone);
/* Whether tod_set_zone would accept zone, without selecting it; 0/-1. */
int	tod_zone_check(const char *zone);
/* "HH:MM" (24 h); returns minutes or -1. */
int	tod_parse(const char *);
/* "HH:MM-HH:MM"; 0 or -1 (start == end is an error: empty or all day). */
int	tod_window_parse(const char *, struct tod_window *);
/*
 * The first wall-clock ms after now_ms at which local time reads the given
 * minute (a time skipped by a DST change happens at the first instant
 * after the gap; a repeated one, at its first occurrence).
 */
int64_t	tod_next(int64_t now_ms, int minute);
/* Whether local time at now_ms falls inside the window. */
int	tod_in_window(int64_t now_ms, const struct tod_window *);
/* When the window that contains now_ms ends (now_ms when outside it). */
int64_t	tod_window_end(int64_t now_ms, const struct tod_window *);

#endif /* TOD_H */
