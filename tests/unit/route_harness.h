/*
 * route_harness.h: a config loaded from text and a notice to route, for
 * the unit tests of routing (test_match.c, test_route.c,
 * test_route_index.c).
 */
#ifndef ROUTE_HARNESS_H
#define ROUTE_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "notice.h"

/* Write text to a temporary file and load it; fails the test on error. */
static inline struct config *
route_harness_config(const char *text)
{
	struct config_errors errs = { .n = 0 };
	char path[] = "/tmp/test-config-XXXXXX.conf";
	struct config *c;
	size_t i;
	int fd;

	if ((fd = mkstemps(path, 5)) == -1)
		fail_msg("mkstemps failed");
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	c = config_load(path, &errs);
	unlink(path);
	for (i = 0; i < errs.n; i++)
		print_error("error: %s\n", errs.msgs[i]);
	config_errors_clear(&errs);
	if (c == NULL)
		print_error("config:\n%s", text);
	assert_non_null(c);
	return (c);
}

/* *n as a classified notice; the strings stay the caller's. */
static inline void
route_harness_notice(struct notice *n, const char *id, const char *source,
    char **audience, size_t naudience, enum notice_class class)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "%s", id);
	n->source = (char *)source;
	n->audience = audience;
	n->naudience = naudience;
	n->priority = PRIORITY_NORMAL;
	n->goal = GOAL_INFORM;
	n->class_hint = CLASS_NONE;
	n->class = class;
}

#endif /* ROUTE_HARNESS_H */
