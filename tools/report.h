/*
 * report.h: the evaluation report of sbctl report (docs/report.md).
 * report.c reads the spool read-only, over a period of acceptance times,
 * with the config for deadlines and channel modes, and computes every
 * figure into a struct report; report_text.c, report_json.c and
 * report_html.c write one out. The daemon need not run.
 */
#ifndef REPORT_H
#define REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "notice.h"

struct config;

/* Percentiles of a distribution, nearest rank (docs/report.md). */
enum report_pct {
	REPORT_P50 = 0,
	REPORT_P95,
	REPORT_P99,
	REPORT_NPCT
};

/* A chart's buckets: upper bounds in ms, ascending; the last is open. */
#define REPORT_BUCKETS_MAX	16
struct report_scale {
	const int64_t		*bounds;
	const char *const	*labels;	/* nbounds + 1 */
	size_t			 nbounds;
};
extern const struct report_scale report_delivery_scale;
extern const struct report_scale report_response_scale;

/* Durations in ms: their percentiles and their histogram. */
struct report_dist {
	int64_t			*ms;
	size_t			 n;
	size_t			 size;
	int64_t			 pct[REPORT_NPCT];	/* valid when n > 0 */
	uint64_t		 buckets[REPORT_BUCKETS_MAX];
	const struct report_scale *scale;
};

/* The outcomes of a set of deliveries: a channel's, or a pilot's side. */
struct report_tally {
	uint64_t	deliveries;
	uint64_t	delivered;
	uint64_t	failed;
	uint64_t	dead;
	uint64_t	expired;
	uint64_t	pending;
	uint64_t	retried;	/* took more than one attempt */
	uint64_t	attempts;
	uint64_t	finished;	/* not pending */
	uint64_t	timed;		/* finished, with a deadline to
					   measure */
	uint64_t	on_time;	/* of timed: delivered within it */
	uint64_t	in_time;	/* of finished: delivered, and on time
					   where that can be measured */
	struct report_dist time;	/* delivered_ms − created_ms */
};

struct report_channel {
	char		*name;
	const char	*mode;		/* "active", "pilot", "disabled", or
					   "removed": not in the config */
	const char	*type;		/* NULL when removed */
	int		 pilot_percent;
	struct report_tally t;
	int64_t		 breaker_open_ms;	/* -1: not in this spool */
	int64_t		 breaker_openings;	/* -1: not in this spool */
	int		 has_cost;
	double		 cost_each;	/* per delivered notice */
	double		 cost;
};

enum report_verdict {
	REPORT_NOT_ENOUGH = 0,
	REPORT_BETTER,
	REPORT_WORSE
};

/* A pilot channel beside the active channels of its routes. */
#define REPORT_MIN_SAMPLE	20	/* finished deliveries a side */
#define REPORT_Z		1.96	/* two-sided, 95% */
struct report_pilot {
	char		*channel;
	int		 percent;
	char		**routes;
	size_t		 nroutes;
	char		**active;	/* the active channels seen there */
	size_t		 nactive;
	struct report_tally pilot;
	struct report_tally others;
	enum report_verdict verdict;
	double		 z;
	int		 has_z;		/* z was computed */
	char		 line[640];	/* the verdict for people */
};

/* Interactive figures of one class and goal. */
struct report_goal {
	char		*class;
	char		*goal;
	uint64_t	 notices;
	uint64_t	 tracked;	/* waited for an ack */
	uint64_t	 acked;		/* in time or late */
	uint64_t	 in_time;	/* acked by respond_by */
	uint64_t	 expired;
	uint64_t	 waiting;
	struct report_dist response;	/* acked_ms − received_ms */
	uint64_t	 escalated;	/* notices with at least one level */
	uint64_t	*levels;	/* fired per level; [0] is level 1 */
	size_t		 nlevels;
};

/* Scores of collect notices that went out on a channel, or to an audience. */
struct report_score {
	char		*name;
	uint64_t	 notices;
	uint64_t	 scored;
	double		 mean;		/* valid when scored > 0 */
	uint64_t	 counts[5];	/* of scores 1 to 5 */
};

/* Notices of one source or one audience entry. */
struct report_volume {
	char		*name;
	uint64_t	 notices;
	uint64_t	 by_class[CLASS_COUNT];
	int64_t		 capped;	/* -1: not in this spool */
};

struct report_day {
	int64_t		 start_ms;
	char		 date[11];	/* YYYY-MM-DD in the config's zone */
	uint64_t	 by_class[CLASS_COUNT];
};

struct report {
	const char		*spool_path;
	const char		*config_path;
	const char		*timezone;
	int			 schema;
	int64_t			 since_ms;
	int64_t			 until_ms;
	int64_t			 made_ms;
	uint64_t		 notices;
	uint64_t		 by_class[CLASS_COUNT];

	struct report_channel	*channels;
	size_t			 nchannels;
	struct report_pilot	*pilots;
	size_t			 npilots;
	struct report_goal	*goals;
	size_t			 ngoals;
	struct report_dist	 response;	/* every ack */
	struct report_score	*score_channels;
	size_t			 nscore_channels;
	struct report_score	*score_audiences;
	size_t			 nscore_audiences;
	struct report_volume	*sources;
	size_t			 nsources;
	struct report_volume	*audiences;
	size_t			 naudiences;
	struct report_day	*days;
	size_t			 ndays;

	int			 has_breakers;	/* breaker_openings table */
	int			 has_capped;	/* notices.demoted_by */
	int			 has_cost;	/* any channel has cost */
};

/*
 * Read the spool at path (read-only, one snapshot) for notices received
 * in [since_ms, until_ms) and compute the report. Returns 0, or -1 with
 * err saying what is wrong. report_free() in either case.
 */
int		 report_build(struct report *, const struct config *,
		    const char *path, int64_t since_ms, int64_t until_ms,
		    char *err, size_t errlen);
void		 report_free(struct report *);
/*
 * A time for --since and --until, in the config's timezone: "now", a
 * duration back from now_ms ("7d", "12h"), or a date "2024-05-01" with
 * an optional time "T09:30" or "T09:30:15" ("Z" after it: UTC).
 */
int		 report_when(const struct config *, const char *,
		    int64_t now_ms, int64_t *out, char *err, size_t errlen);

int		 report_write_text(FILE *, const struct report *);
int		 report_write_json(FILE *, const struct report *);
int		 report_write_html(FILE *, const struct report *);

/* Shared by the writers. */
void		 report_format_ms(int64_t ms, char *buf, size_t len);
void		 report_format_time(int64_t ms, char *buf, size_t len);
void		 report_format_share(uint64_t part, uint64_t whole, char *buf,
		    size_t len);
const char	*report_verdict_name(enum report_verdict);
/* What the spool could not tell, for people: up to max lines. */
size_t		 report_notes(const struct report *, const char **out,
		    size_t max);
/* Escalations fired at each level over every goal of a class. */
uint64_t	 report_class_level(const struct report *, int class,
		    size_t level);
size_t		 report_max_level(const struct report *);

#endif /* REPORT_H */
