/*
 * duration.c: durations as written in notices and the config: one positive
 * decimal integer and one unit (ms, s, m, h, d), nothing else.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

struct duration_unit {
	const char	*name;
	int64_t		 ms;
};

/* Largest first, so that duration_format() finds the shortest form. */
static const struct duration_unit duration_units[] = {
	{ "d", 86400000 },
	{ "h", 3600000 },
	{ "m", 60000 },
	{ "s", 1000 },
	{ "ms", 1 },
};
#define DURATION_NUNITS \
	(sizeof(duration_units) / sizeof(duration_units[0]))

static int64_t	duration_unit_ms(const char *);

/* The length of a unit in ms, or 0 when it is not one. */
static int64_t
duration_unit_ms(const char *unit)
{
	size_t i;

	for (i = 0; i < DURATION_NUNITS; i++)
		if (strcmp(unit, duration_units[i].name) == 0)
			return (duration_units[i].ms);
	return (0);
}

int
duration_parse(const char *s, int64_t *ms)
{
	int64_t n = 0, unit;
	const char *p;

	/* A leading zero would make "0" and "007s" legal; neither is. */
	if (s[0] < '1' || s[0] > '9')
		return (-1);
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		/* Stop early: checked here, n * 10 never overflows. */
		if (n > DURATION_MAX_MS)
			return (-1);
	}
	if ((unit = duration_unit_ms(p)) == 0)
		return (-1);
	/* n <= DURATION_MAX_MS and unit <= 1d: the product fits. */
	if (n * unit > DURATION_MAX_MS)
		return (-1);
	*ms = n * unit;
	return (0);
}

void
duration_format(int64_t ms, char *buf, size_t len)
{
	size_t i;

	if (ms > 0) {
		for (i = 0; i < DURATION_NUNITS; i++) {
			if (ms % duration_units[i].ms == 0) {
				snprintf(buf, len, "%lld%s",
				    (long long)(ms / duration_units[i].ms),
				    duration_units[i].name);
				return;
			}
		}
	}
	/* Not a duration (<= 0): still say what it is. */
	snprintf(buf, len, "%lldms", (long long)ms);
}
