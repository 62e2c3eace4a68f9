/*
 * test_acksecret.c: the daemon's ack secrets through a rotation: links of
 * the current secret verify, those of the previous one while it is named,
 * no longer once it is not; a file that cannot be read fails the reload
 * (or the start) with an error naming the option and the file, and
 * changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "acksecret.h"
#include "acktoken.h"
#include "config.h"

static char	dir[] = "/tmp/sb-acksecret-XXXXXX";

static char *
path_of(const char *name)
{
	static char paths[4][256];
	static int next;
	char *p = paths[next++ % 4];

	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return (p);
}

static void
put(const char *name, const char *text)
{
	FILE *f;

	assert_non_null(f = fopen(path_of(name), "w"));
	fputs(text, f);
	fclose(f);
	chmod(path_of(name), 0600);
}

/* Whether the link of id made with secret would be accepted. */
static int
accepts(const char *secret, const char *id)
{
	char token[ACKTOKEN_LEN + 1];

	assert_int_equal(acktoken_make((const unsigned char *)secret,
	    strlen(secret), id, token), 0);
	return (acksecret_verify(id, token));
}

static void
with(struct config *cf, const char *current, const char *previous)
{
	memset(cf, 0, sizeof(*cf));
	cf->http_ack_secret_file = current ? path_of(current) : NULL;
	cf->http_ack_secret_previous_file = previous ? path_of(previous) :
	    NULL;
}

/* A reload's read and take. */
static void
reload(struct config *cf)
{
	char err[640];

	if (acksecret_stage(cf, err, sizeof(err)) == -1)
		fail_msg("stage: %s", err);
	acksecret_commit();
}

static const char *
current(size_t *len)
{
	const unsigned char *secret;

	(void)acksecret_link(&secret, len);
	return ((const char *)secret);
}

static void
test_rotation(void **state)
{
	const unsigned char *secret;
	struct config cf;
	char err[640];
	size_t len;

	(void)state;
	put("one", "first-secret\n");
	put("two", "second-secret\n");
	put("three", "third-secret");

	with(&cf, NULL, NULL);
	assert_int_equal(acksecret_load(&cf, err, sizeof(err)), 0);
	assert_false(acksecret_enabled());
	assert_null(current(&len));
	assert_false(accepts("first-secret", "n-1"));

	with(&cf, "one", NULL);
	cf.http_public_url = (char *)"https://sb.example.org//";
	assert_int_equal(acksecret_load(&cf, err, sizeof(err)), 0);
	assert_true(acksecret_enabled());
	assert_memory_equal(current(&len), "first-secret", 12);
	assert_int_equal(len, 12);	/* the last newline is not the key */
	assert_string_equal(acksecret_link(&secret, &len),
	    "https://sb.example.org");
	assert_true(accepts("first-secret", "n-1"));
	assert_false(accepts("second-secret", "n-1"));
	assert_false(acksecret_verify("n-1", NULL));
	assert_false(acksecret_verify("n-1", "short"));

	/* Rotated with the old one kept: both verify, new links are new. */
	with(&cf, "two", "one");
	reload(&cf);
	assert_memory_equal(current(&len), "second-secret", 13);
	assert_true(accepts("first-secret", "n-1"));
	assert_true(accepts("second-secret", "n-1"));
	/* No public_url: links are checked but none is made. */
	assert_null(acksecret_link(&secret, &len));

	/* A file that cannot be read fails the reload, nothing changes. */
	with(&cf, "missing", NULL);
	assert_int_equal(acksecret_stage(&cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "http.ack_secret_file: "));
	assert_non_null(strstr(err, "missing"));
	with(&cf, "three", "missing");
	assert_int_equal(acksecret_stage(&cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "http.ack_secret_previous_file: "));
	assert_memory_equal(current(&len), "second-secret", 13);
	assert_true(accepts("first-secret", "n-1"));
	/* Staged, then dropped (the rest of the reload failed). */
	with(&cf, "three", NULL);
	assert_int_equal(acksecret_stage(&cf, err, sizeof(err)), 0);
	acksecret_unstage();
	assert_memory_equal(current(&len), "second-secret", 13);
	assert_true(accepts("first-secret", "n-1"));

	/* The previous one dropped: its links stop at once. */
	with(&cf, "two", NULL);
	reload(&cf);
	assert_false(accepts("first-secret", "n-1"));
	assert_true(accepts("second-secret", "n-1"));

	/* A leak: replaced without a previous one. */
	with(&cf, "three", NULL);
	reload(&cf);
	assert_false(accepts("second-secret", "n-1"));
	assert_true(accepts("third-secret", "n-1"));

	/* Links off. */
	with(&cf, NULL, NULL);
	reload(&cf);
	assert_false(acksecret_enabled());
	assert_false(accepts("third-secret", "n-1"));
	acksecret_clear();
}

static void
test_start_errors(void **state)
{
	struct config cf;
	char err[640];
	size_t len;

	(void)state;
	put("good", "good-secret");
	put("other", "other-secret");
	put("empty", "\n");
	with(&cf, "good", NULL);
	assert_int_equal(acksecret_load(&cf, err, sizeof(err)), 0);
	/* Its current file read, its previous one not: nothing taken. */
	with(&cf, "other", "absent");
	assert_int_equal(acksecret_load(&cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "http.ack_secret_previous_file: "));
	assert_non_null(strstr(err, "absent"));
	with(&cf, "empty", NULL);
	assert_int_equal(acksecret_load(&cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "http.ack_secret_file: "));
	assert_non_null(strstr(err, "empty"));
	assert_memory_equal(current(&len), "good-secret", 11);
	assert_int_equal(len, 11);
	assert_true(accepts("good-secret", "n-1"));
	assert_false(accepts("other-secret", "n-1"));
	acksecret_clear();
	assert_null(current(&len));
}

static int
setup(void **state)
{
	(void)state;
	return (mkdtemp(dir) == NULL ? -1 : 0);
}

static int
teardown(void **state)
{
	const char *names[] = { "one", "two", "three", "good", "other",
	    "empty" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(path_of(names[i]));
	return (rmdir(dir));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_start_errors),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
