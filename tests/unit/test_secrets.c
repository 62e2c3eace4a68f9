/*
 * test_secrets.c: a channel's secret files, remembered by digest: the same
 * contents are unchanged, other contents (even one byte, even the same
 * length) are a change, a file that cannot be read now is not.
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

#include "adapter.h"
#include "secrets.h"

static char	dir[] = "/tmp/sb-secrets-XXXXXX";

static void
put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

static char *
path_of(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return (path);
}

static void
read_ok(struct channel *ch, const char *name, const char *want)
{
	char err[512], *out;
	size_t len;

	if (secrets_read(ch, path_of(name), &out, &len, err, sizeof(err)) ==
	    -1)
		fail_msg("%s: %s", name, err);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
	free(out);
}

static void
test_changes_are_seen(void **state)
{
	struct channel ch = { .name = "hook" };
	const char *changed;

	(void)state;
	assert_null(secrets_changed(&ch));	/* none read */
	put("a", "token-1\n");
	put("b", "user:pw\n");
	read_ok(&ch, "a", "token-1");
	read_ok(&ch, "b", "user:pw");
	assert_null(secrets_changed(&ch));
	/* Only a final newline differs: the secret is the same. */
	put("a", "token-1");
	assert_null(secrets_changed(&ch));
	/* One byte, same length. */
	put("b", "user:pX\n");
	assert_non_null(changed = secrets_changed(&ch));
	assert_string_equal(changed, path_of("b"));
	put("b", "user:pw\n");
	assert_null(secrets_changed(&ch));
	/* Unreadable now: kept, not a change; the files after it are read. */
	assert_int_equal(unlink(path_of("a")), 0);
	assert_null(secrets_changed(&ch));
	put("b", "user:pX\n");
	assert_non_null(changed = secrets_changed(&ch));
	assert_string_equal(changed, path_of("b"));
	put("b", "user:pw\n");
	put("a", "token-2\n");
	assert_non_null(changed = secrets_changed(&ch));
	assert_string_equal(changed, path_of("a"));
	secrets_free(&ch);
	assert_null(ch.secrets);
	assert_null(secrets_changed(&ch));
}

static void
test_unreadable_at_start_fails(void **state)
{
	struct channel ch = { .name = "hook" };
	char err[512], *out = (char *)1;
	size_t len;

	(void)state;
	assert_int_equal(secrets_read(&ch, path_of("missing"), &out, &len,
	    err, sizeof(err)), -1);
	assert_null(out);
	assert_non_null(strstr(err, "missing"));
	assert_null(secrets_changed(&ch));	/* nothing remembered */
	secrets_free(&ch);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changes_are_seen),
		cmocka_unit_test(test_unreadable_at_start_fails),
	};
	char cmd[300];
	int rc;

	if (mkdtemp(dir) == NULL)
		return (1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = 1;
	return (rc);
}
