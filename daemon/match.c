/*
 * match.c: globs and the "match" groups of routes and classify rules. A
 * pattern is compiled once, at config load, into the cheapest test that
 * decides it (any, exact, prefix); fnmatch(3) runs only for the patterns
 * that need it, so that matching a notice never re-reads a pattern.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "match.h"
#include "notice.h"

#define GLOB_META	"*?[\\"

/* One vocabulary a match key draws on (classes, priorities, goals). */
struct vocab {
	const char	*what;		/* "class" */
	int		 count;
	int		(*parse)(const char *);
	const char	*(*name)(int);
};

static const char	*glob_problem(const char *);
static int		 glob_list_add(struct glob_list *,
			    const config_setting_t *, struct config_errors *);
static int		 glob_audience_check(const char *,
			    const config_setting_t *, struct config_errors *);
static void		 vocab_expected(const struct vocab *, char *, size_t);
static int		 match_word(const struct vocab *,
			    const config_setting_t *, struct config_errors *);
static int		 match_mask(unsigned *, const struct vocab *,
			    const config_setting_t *, struct config_errors *);
static int		 match_priority(struct match *,
			    const config_setting_t *, struct config_errors *);
static int		 match_tags(struct match *, const config_setting_t *,
			    struct config_errors *);
static int		 match_key(struct match *, const config_setting_t *,
			    int, struct config_errors *);
static int		 match_audience(const struct glob_list *,
			    const struct notice *);
static const char	*class_name(int);
static const char	*priority_name(int);
static const char	*goal_name(int);

static const struct vocab vocab_class = { "class", CLASS_COUNT,
	notice_class_parse, class_name };
static const struct vocab vocab_priority = { "priority", PRIORITY_COUNT,
	notice_priority_parse, priority_name };
static const struct vocab vocab_goal = { "goal", GOAL_COUNT,
	notice_goal_parse, goal_name };

static const char *
class_name(int i)
{
	return (notice_class_name((enum notice_class)i));
}

static const char *
priority_name(int i)
{
	return (notice_priority_name((enum notice_priority)i));
}

static const char *
goal_name(int i)
{
	return (notice_goal_name((enum notice_goal)i));
}

/*
 * Why a pattern cannot be a glob, or NULL. fnmatch(3) would quietly take
 * "[abc" as a literal, which is never what the admin meant.
 */
static const char *
glob_problem(const char *p)
{
	size_t i, j;

	if (*p == '\0')
		return ("an empty glob matches nothing");
	for (i = 0; p[i] != '\0'; i++) {
		if (p[i] == '\\') {
			if (p[++i] == '\0')
				return ("it ends in a lone backslash");
			continue;
		}
		if (p[i] != '[')
			continue;
		j = i + 1;
		if (p[j] == '!' || p[j] == '^')
			j++;
		if (p[j] == ']')
			j++;
		while (p[j] != '\0' && p[j] != ']')
			j++;
		if (p[j] == '\0')
			return ("its '[' has no closing ']'");
		i = j;
	}
	return (NULL);
}

/* Compile a pattern into the cheapest test that decides it. */
int
glob_compile(struct glob *g, const char *pattern)
{
	size_t len, fixed;

	memset(g, 0, sizeof(*g));
	if (glob_problem(pattern) != NULL)
		return (-1);
	if ((g->pattern = strdup(pattern)) == NULL)
		return (-1);
	len = strlen(pattern);
	fixed = strcspn(pattern, GLOB_META);
	if (strspn(pattern, "*") == len)
		g->kind = GLOB_ANY;
	else if (fixed == len) {
		g->kind = GLOB_EXACT;
		g->len = len;
	} else if (fixed == len - 1 && pattern[fixed] == '*') {
		g->kind = GLOB_PREFIX;
		g->len = fixed;
	} else {
		/* The fixed part rules most strings out before fnmatch. */
		g->kind = GLOB_FNMATCH;
		g->len = fixed;
	}
	return (0);
}

int
glob_match(const struct glob *g, const char *s)
{
	switch (g->kind) {
	case GLOB_ANY:
		return (1);
	case GLOB_EXACT:
		return (strcmp(s, g->pattern) == 0);
	case GLOB_PREFIX:
		return (strncmp(s, g->pattern, g->len) == 0);
	case GLOB_FNMATCH:
		return (strncmp(s, g->pattern, g->len) == 0 &&
		    fnmatch(g->pattern, s, 0) == 0);
	}
	return (0);
}

void
glob_free(struct glob *g)
{
	free(g->pattern);
	memset(g, 0, sizeof(*g));
}

/* Compile one list element (or the lone string) and append it. */
static int
glob_list_add(struct glob_list *list, const config_setting_t *s,
    struct config_errors *errs)
{
	char path[256];
	const char *p, *why;

	/*
	 * A path is made only for a message: under a list it is a walk of
	 * the list (config_setting_index), which 10,000 routes cannot pay.
	 */
	if ((p = config_setting_get_string(s)) == NULL) {
		config_error(errs, s, "%s: expected a glob (a string)",
		    config_setting_path(s, path, sizeof(path)));
		return (-1);
	}
	if ((why = glob_problem(p)) != NULL) {
		config_error(errs, s, "%s: bad glob '%s': %s",
		    config_setting_path(s, path, sizeof(path)), p, why);
		return (-1);
	}
	if (glob_compile(&list->globs[list->n], p) == -1) {
		config_error(errs, s, "%s: out of memory",
		    config_setting_path(s, path, sizeof(path)));
		return (-1);
	}
	list->n++;
	return (0);
}

/* A glob or a list of globs; an empty list is refused. */
int
glob_list_compile(struct glob_list *list, const config_setting_t *s,
    struct config_errors *errs)
{
	char path[256];
	int i, n, rc = 0;

	memset(list, 0, sizeof(*list));
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		n = 1;
	else if (config_setting_is_list(s) || config_setting_is_array(s))
		n = config_setting_length(s);
	else {
		config_error(errs, s, "%s: expected a glob or a list of globs",
		    config_setting_path(s, path, sizeof(path)));
		return (-1);
	}
	if (n == 0) {
		config_error(errs, s, "%s: an empty list matches nothing "
		    "(leave the key out to match anything)",
		    config_setting_path(s, path, sizeof(path)));
		return (-1);
	}
	if ((list->globs = calloc((size_t)n, sizeof(*list->globs))) == NULL) {
		config_error(errs, s, "%s: out of memory",
		    config_setting_path(s, path, sizeof(path)));
		return (-1);
	}
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		rc = glob_list_add(list, s, errs);
	else
		for (i = 0; i < n; i++)
			if (glob_list_add(list, config_setting_get_elem(s,
			    (unsigned)i), errs) == -1)
				rc = -1;
	if (rc == -1)
		glob_list_free(list);
	return (rc);
}

/*
 * An audience glob must be able to match an audience: "kind:name" with a
 * known kind, or "public". A typo such as "dpt:*" would otherwise match
 * nothing, silently.
 */
static int
glob_audience_check(const char *p, const config_setting_t *s,
    struct config_errors *errs)
{
	char path[256], kinds[160];
	const char *colon = strchr(p, ':');
	size_t klen = colon != NULL ? (size_t)(colon - p) : strlen(p);
	int i, kind;

	if (strcspn(p, GLOB_META) < klen)
		return (0);	/* the kind itself is a pattern */
	kind = notice_audience_kind_parse(p, klen);
	if (kind != -1 && (kind == AUDIENCE_PUBLIC) == (colon == NULL))
		return (0);	/* the usual case: no path to make */
	config_setting_path(s, path, sizeof(path));
	if (kind == -1) {
		kinds[0] = '\0';
		for (i = 0; i < AUDIENCE_COUNT; i++) {
			if (i > 0)
				strlcat(kinds, ", ", sizeof(kinds));
			strlcat(kinds, notice_audience_kind_name(
			    (enum audience_kind)i), sizeof(kinds));
		}
		config_error(errs, s, "%s: '%s': unknown audience kind '%.*s' "
		    "(expected %s)", path, p, (int)klen, p, kinds);
		return (-1);
	}
	if (kind == AUDIENCE_PUBLIC && colon != NULL) {
		config_error(errs, s, "%s: '%s': the public audience has no "
		    "name (write 'public')", path, p);
		return (-1);
	}
	if (kind != AUDIENCE_PUBLIC && colon == NULL) {
		config_error(errs, s, "%s: '%s' has no ':name' (write '%s:*' "
		    "for every %s audience)", path, p, p, p);
		return (-1);
	}
	return (0);
}

int
glob_list_compile_audience(struct glob_list *list,
    const config_setting_t *s, struct config_errors *errs)
{
	const config_setting_t *e;
	size_t i;
	int rc = 0;

	if (glob_list_compile(list, s, errs) == -1)
		return (-1);
	for (i = 0; i < list->n; i++) {
		e = config_setting_type(s) == CONFIG_TYPE_STRING ? s :
		    config_setting_get_elem(s, (unsigned)i);
		if (glob_audience_check(list->globs[i].pattern, e, errs) == -1)
			rc = -1;
	}
	if (rc == -1)
		glob_list_free(list);
	return (rc);
}

int
glob_list_match(const struct glob_list *list, const char *s)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		if (glob_match(&list->globs[i], s))
			return (1);
	return (0);
}

void
glob_list_free(struct glob_list *list)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		glob_free(&list->globs[i]);
	free(list->globs);
	memset(list, 0, sizeof(*list));
}

static void
vocab_expected(const struct vocab *v, char *buf, size_t len)
{
	int i;

	buf[0] = '\0';
	for (i = 0; i < v->count; i++) {
		if (i > 0)
			strlcat(buf, ", ", len);
		strlcat(buf, v->name(i), len);
	}
}

/* One word of a vocabulary; returns its value or -1 (reported). */
static int
match_word(const struct vocab *v, const config_setting_t *s,
    struct config_errors *errs)
{
	char path[256], expected[128];
	const char *word;
	int value;

	if ((word = config_setting_get_string(s)) != NULL &&
	    (value = v->parse(word)) != -1)
		return (value);
	config_setting_path(s, path, sizeof(path));
	vocab_expected(v, expected, sizeof(expected));
	if (word == NULL)
		config_error(errs, s, "%s: expected a %s name (one of %s)",
		    path, v->what, expected);
	else
		config_error(errs, s, "%s: '%s' is not a %s (expected %s)",
		    path, word, v->what, expected);
	return (-1);
}

/* A word or a list of words, as a bit mask. */
static int
match_mask(unsigned *mask, const struct vocab *v, const config_setting_t *s,
    struct config_errors *errs)
{
	char path[256];
	int i, n, value, rc = 0;

	*mask = 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if ((value = match_word(v, s, errs)) == -1)
			return (-1);
		*mask = 1u << value;
		return (0);
	}
	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		config_error(errs, s, "%s: expected a %s or a list of them",
		    config_setting_path(s, path, sizeof(path)), v->what);
		return (-1);
	}
	if ((n = config_setting_length(s)) == 0) {
		config_error(errs, s, "%s: an empty list matches nothing "
		    "(leave the key out to match any %s)",
		    config_setting_path(s, path, sizeof(path)), v->what);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		value = match_word(v, config_setting_get_elem(s, (unsigned)i),
		    errs);
		if (value == -1)
			rc = -1;
		else
			*mask |= 1u << value;
	}
	return (rc);
}

static int
match_priority(struct match *m, const config_setting_t *s,
    struct config_errors *errs)
{
	int value;

	if ((value = match_word(&vocab_priority, s, errs)) == -1)
		return (-1);
	m->min_priority = value;
	return (0);
}

/* tags = { key = "glob"; ... }: every named tag must be present and match. */
static int
match_tags(struct match *m, const config_setting_t *s,
    struct config_errors *errs)
{
	const config_setting_t *e;
	struct tag_match *t;
	char path[256];
	const char *value, *why;
	int i, n, rc = 0;

	if (!config_setting_is_group(s)) {
		config_error(errs, s, "%s: expected a group of tag globs, "
		    "such as { env = \"prod*\"; }",
		    config_setting_path(s, path, sizeof(path)));
		return (-1);
	}
	n = config_setting_length(s);
	if (n > 0 && (m->tags = calloc((size_t)n, sizeof(*m->tags))) == NULL) {
		config_error(errs, s, "%s: out of memory",
		    config_setting_path(s, path, sizeof(path)));
		return (-1);
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if ((value = config_setting_get_string(e)) == NULL) {
			config_error(errs, e, "%s: expected a glob (a string)",
			    config_setting_path(e, path, sizeof(path)));
			rc = -1;
			continue;
		}
		if ((why = glob_problem(value)) != NULL) {
			config_error(errs, e, "%s: bad glob '%s': %s",
			    config_setting_path(e, path, sizeof(path)), value,
			    why);
			rc = -1;
			continue;
		}
		t = &m->tags[m->ntags];
		if ((t->key = strdup(config_setting_name(e))) == NULL ||
		    glob_compile(&t->value, value) == -1) {
			free(t->key);
			t->key = NULL;
			config_error(errs, e, "%s: out of memory",
			    config_setting_path(e, path, sizeof(path)));
			rc = -1;
			continue;
		}
		m->ntags++;
	}
	return (rc);
}

/* One key of a match group. */
static int
match_key(struct match *m, const config_setting_t *s, int allow_class,
    struct config_errors *errs)
{
	const char *key = config_setting_name(s);
	char path[256];

	if (strcmp(key, "source") == 0)
		return (glob_list_compile(&m->sources, s, errs));
	if (strcmp(key, "audience") == 0)
		return (glob_list_compile_audience(&m->audiences, s, errs));
	if (strcmp(key, "priority") == 0)
		return (match_priority(m, s, errs));
	if (strcmp(key, "goal") == 0)
		return (match_mask(&m->goal_mask, &vocab_goal, s, errs));
	if (strcmp(key, "tags") == 0)
		return (match_tags(m, s, errs));
	if (strcmp(key, "class") == 0 && allow_class)
		return (match_mask(&m->class_mask, &vocab_class, s, errs));
	config_setting_path(config_setting_parent(s), path, sizeof(path));
	if (strcmp(key, "class") == 0) {
		config_error(errs, s, "%s: a classify rule cannot match on "
		    "'class': the class is what the rule decides", path);
		return (-1);
	}
	config_error(errs, s, "%s: unknown key '%s' (expected source, "
	    "audience, %spriority, goal, tags)", path, key,
	    allow_class ? "class, " : "");
	return (-1);
}

/* Compile a match group; on error nothing is left allocated. */
int
match_compile(struct match *m, const config_setting_t *s, int allow_class,
    struct config_errors *errs)
{
	char path[256];
	int i, n, rc = 0;

	memset(m, 0, sizeof(*m));
	m->min_priority = -1;
	if (s == NULL)
		return (0);
	if (!config_setting_is_group(s)) {
		config_setting_path(s, path, sizeof(path));
		config_error(errs, s, "%s: expected a group such as "
		    "{ source = \"app*\"; audience = \"staff:*\"; }", path);
		return (-1);
	}
	n = config_setting_length(s);
	for (i = 0; i < n; i++)
		if (match_key(m, config_setting_get_elem(s, (unsigned)i),
		    allow_class, errs) == -1)
			rc = -1;
	if (rc == -1)
		match_free(m);
	return (rc);
}

/* Whether any audience entry of the notice matches any glob. */
static int
match_audience(const struct glob_list *list, const struct notice *n)
{
	size_t i;

	for (i = 0; i < n->naudience; i++)
		if (glob_list_match(list, n->audience[i]))
			return (1);
	return (0);
}

/* Every criterion present must hold; the cheap ones are tried first. */
int
match_notice(const struct match *m, const struct notice *n)
{
	const char *value;
	size_t i;

	if (m->class_mask != 0 && (n->class < 0 || n->class >= CLASS_COUNT ||
	    (m->class_mask & (1u << n->class)) == 0))
		return (0);
	if (m->min_priority >= 0 && (int)n->priority < m->min_priority)
		return (0);
	if (m->goal_mask != 0 && (m->goal_mask & (1u << n->goal)) == 0)
		return (0);
	if (m->sources.n != 0 && (n->source == NULL ||
	    !glob_list_match(&m->sources, n->source)))
		return (0);
	if (m->audiences.n != 0 && !match_audience(&m->audiences, n))
		return (0);
	for (i = 0; i < m->ntags; i++) {
		value = notice_tag(n, m->tags[i].key);
		if (value == NULL || !glob_match(&m->tags[i].value, value))
			return (0);
	}
	return (1);
}

void
match_free(struct match *m)
{
	size_t i;

	glob_list_free(&m->sources);
	glob_list_free(&m->audiences);
	for (i = 0; i < m->ntags; i++) {
		free(m->tags[i].key);
		glob_free(&m->tags[i].value);
	}
	free(m->tags);
	memset(m, 0, sizeof(*m));
	m->min_priority = -1;
}
