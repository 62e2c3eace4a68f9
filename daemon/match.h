/*
 * match.h: compiled matchers shared by routes, classify rules and channel
 * audience gates. Globs are compiled at config load so that matching a
 * notice never re-parses a pattern.
 */
#ifndef MATCH_H
#define MATCH_H

#include <libconfig.h>
#include <stddef.h>

#include "notice.h"

struct config_errors;

enum glob_kind {
	GLOB_ANY,	/* "*" */
	GLOB_EXACT,	/* no metacharacter */
	GLOB_PREFIX,	/* "abc*" with no other metacharacter */
	GLOB_FNMATCH	/* anything else: fnmatch(3) */
};

struct glob {
	enum glob_kind	 kind;
	char		*pattern;
	size_t		 len;		/* of the fixed part */
};

struct glob_list {
	struct glob	*globs;
	size_t		 n;
};

struct tag_match {
	char		*key;
	struct glob	 value;
};

/* What a route or a classify rule matches; a zero field matches anything. */
struct match {
	struct glob_list	 sources;
	struct glob_list	 audiences;	/* any audience entry matches */
	unsigned		 class_mask;	/* 1 << CLASS_x; 0 = any */
	int			 min_priority;	/* -1 = any */
	unsigned		 goal_mask;	/* 1 << GOAL_x; 0 = any */
	struct tag_match	*tags;		/* all must match */
	size_t			 ntags;
};

int	glob_compile(struct glob *, const char *);
int	glob_match(const struct glob *, const char *);
void	glob_free(struct glob *);

/* A string or a list of strings, as written in the config. */
int	glob_list_compile(struct glob_list *, const config_setting_t *,
	    struct config_errors *);
/* The same, each glob also checked to be able to match an audience. */
int	glob_list_compile_audience(struct glob_list *,
	    const config_setting_t *, struct config_errors *);
int	glob_list_match(const struct glob_list *, const char *);
void	glob_list_free(struct glob_list *);

/*
 * Compile a "match" group. allow_class is 0 for classify rules, which run
 * before a class is known.
 */
int	match_compile(struct match *, const config_setting_t *,
	    int allow_class, struct config_errors *);
int	match_notice(const struct match *, const struct notice *);
void	match_free(struct match *);

#endif /* MATCH_H */
