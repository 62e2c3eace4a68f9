/*
 * duration.h: durations as written in notices and the config:
 * "250ms", "90s", "15m", "4h", "2d" (one number, one unit).
 */
#ifndef DURATION_H
#define DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Longest accepted: 366 days. Durations are > 0: "0s" is malformed, as are
 * signs, spaces, leading zeros, a missing or unknown unit, overflow and
 * anything past DURATION_MAX_MS. Returns 0, or -1 when malformed.
 */
#define DURATION_MAX_MS		(366LL * 86400 * 1000)
int	duration_parse(const char *, int64_t *ms);
/* Writes the shortest exact form ("90s", "1500ms") into buf. */
void	duration_format(int64_t ms, char *buf, size_t len);

#endif /* DURATION_H */
