/*
 * config_harness.h: a config loaded from text, for the unit tests that
 * need a real one (test_route.c, test_route_index.c).
 */
#ifndef CONFIG_HARNESS_H
#define CONFIG_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

/* Write text to a temporary file and load it; fails the test on error. */
static inline struct config *
config_harness_load(const char *text)
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

#endif /* CONFIG_HARNESS_H */
