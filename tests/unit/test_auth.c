/*
 * test_auth.c: auth.c's pure parts, case by case: key files and config
 * keys, which endpoints are loopback and which get CURVE, the rights of a
 * key over a notice and what an unauthorized reply says.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "auth.h"
#include "config.h"
#include "envelope.h"
#include "notice.h"

/* A real pair, made by sbctl keygen. */
#define PUB	"wMgyr.%5kuCok6HM#65QSsL%yA+jGLZu/ewrLh=V"
#define SEC	"E4/>LCw8r#T4m+vl0vf#mZ1BNqJbTMO>-!W4l)QR"

static void
key_ok(const char *file)
{
	uint8_t key[AUTH_KEY_BYTES], want[AUTH_KEY_BYTES];
	char err[256];

	if (auth_key_parse(file, strlen(file), key, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_non_null(zmq_z85_decode(want, SEC));
	assert_memory_equal(key, want, AUTH_KEY_BYTES);
}

static void
key_bad(const char *file, size_t len, const char *words)
{
	uint8_t key[AUTH_KEY_BYTES];
	char err[256];

	err[0] = '\0';
	if (auth_key_parse(file, len, key, err, sizeof(err)) != -1)
		fail_msg("accepted: %s", file);
	if (strstr(err, words) == NULL)
		fail_msg("'%s' does not say '%s'", err, words);
	/* Whatever the file held, the message quotes none of the key. */
	assert_null(strstr(err, "LCw8r"));
}

static void
test_key_file(void **state)
{
	(void)state;
	key_ok(SEC "\n");
	key_ok(SEC);
	key_ok("# switchboard CURVE secret key\n#\n\n  " SEC " \r\n# end\n");
	key_ok("#" PUB "\n" SEC "\n");
	key_bad("", 0, "no key in it");
	key_bad("# only a comment\n", 17, "no key in it");
	key_bad(SEC "\n" PUB "\n", strlen(SEC) * 2 + 2, "line 2: a second key");
	key_bad("E4/>LCw8r#T4m+vl0vf#mZ1BNqJbTMO>-!W4l)Q\n", 40,
	    "line 1: expected a CURVE key (40 characters of Z85, as sbctl "
	    "keygen writes), found 39 characters");
	key_bad("E4/>LCw8r#T4m+vl0vf#mZ1BNqJbTMO>-!W4l)Q~\n", 41,
	    "line 1: not a Z85 key");
	/* A group of five past 2^32 - 1 is no Z85 either. */
	key_bad("\n%%%%%Cw8r#T4m+vl0vf#mZ1BNqJbTMO>-!W4l)QR\n", 42,
	    "line 2: not a Z85 key");
	key_bad("E4/>LCw8r#T4m+vl0vf#mZ1BNq\0bTMO>-!W4l)QR\n", 41,
	    "NUL byte");
}

static void
test_key_file_mode(void **state)
{
	char path[] = "/tmp/test_auth_XXXXXX", err[512];
	uint8_t key[AUTH_KEY_BYTES];
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, SEC "\n", 41), 41);
	close(fd);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(auth_key_file_read(path, key, err, sizeof(err)), 0);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(auth_key_file_read(path, key, err, sizeof(err)), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(auth_key_file_read(path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "open to every user (mode 0644)"));
	assert_non_null(strstr(err, path));
	unlink(path);
	assert_int_equal(auth_key_file_read(path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
}

static void
test_key_check(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(auth_key_check(PUB, err, sizeof(err)), 0);
	assert_int_equal(auth_key_check(SEC, err, sizeof(err)), 0);
	assert_int_equal(auth_key_check("abc", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "found 3"));
	assert_int_equal(auth_key_check(PUB "x", err, sizeof(err)), -1);
	assert_int_equal(auth_key_check(
	    "Io.X53W^QHR6InZaI!h3ufwv9VjA7H0^1Upld*^\"", err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "not the Z85 of 32 bytes"));
}

static void
test_loopback(void **state)
{
	static const char *const yes[] = { "tcp://127.0.0.1:7450",
	    "tcp://127.3.2.1:*", "tcp://[::1]:7450", "tcp://localhost:1",
	    "tcp://[::ffff:127.0.0.1]:7450", NULL };
	static const char *const no[] = { "tcp://0.0.0.0:7450",
	    "tcp://*:7450", "tcp://192.168.1.5:7450", "tcp://[::]:7450",
	    "tcp://eth0:7450", "tcp://example.org:7450", "ipc://in.ipc",
	    "tcp://127.0.0.1", "tcp://[]:1", "tcp://:1",
	    "tcp://[::ffff:10.0.0.1]:1", "tcp://128.0.0.1:1", NULL };
	size_t i;

	(void)state;
	for (i = 0; yes[i] != NULL; i++)
		if (!auth_endpoint_loopback(yes[i]))
			fail_msg("%s is loopback", yes[i]);
	for (i = 0; no[i] != NULL; i++)
		if (auth_endpoint_loopback(no[i]))
			fail_msg("%s is not loopback", no[i]);
}

static void
test_which_endpoints(void **state)
{
	struct config cf;

	(void)state;
	memset(&cf, 0, sizeof(cf));
	assert_false(auth_endpoint_curve(&cf, "tcp://0.0.0.0:1"));
	cf.curve_secret_key_file = "server.key";
	assert_true(auth_endpoint_curve(&cf, "tcp://0.0.0.0:1"));
	assert_true(auth_endpoint_curve(&cf, "tcp://127.0.0.1:1"));
	assert_false(auth_endpoint_curve(&cf, "ipc://in.ipc"));
	cf.plain_loopback = 1;
	assert_true(auth_endpoint_curve(&cf, "tcp://0.0.0.0:1"));
	assert_false(auth_endpoint_curve(&cf, "tcp://127.0.0.1:1"));
	assert_false(auth_endpoint_curve(&cf, "tcp://[::1]:1"));
}

static void
globs(struct glob_list *l, const char *const *p)
{
	size_t n;

	for (n = 0; p[n] != NULL; n++)
		;
	l->globs = calloc(n, sizeof(*l->globs));
	assert_non_null(l->globs);
	for (l->n = 0; l->n < n; l->n++)
		assert_int_equal(glob_compile(&l->globs[l->n], p[l->n]), 0);
}

static void
test_permits(void **state)
{
	static const char *const src[] = { "billing", "billing-*", NULL };
	static const char *const aud[] = { "customer:*", "partner:acme",
	    NULL };
	char *audience[] = { "customer:x", "partner:acme", "staff:bob" };
	struct envelope_error err;
	struct auth_key k = { .name = "billing-app" };
	struct notice n;

	(void)state;
	globs(&k.sources, src);
	globs(&k.audiences, aud);
	memset(&n, 0, sizeof(n));
	n.source = "billing-eu";
	n.audience = audience;
	n.naudience = 2;
	assert_int_equal(auth_permits(&k, &n, &err), 0);
	n.naudience = 3;
	assert_int_equal(auth_permits(&k, &n, &err), -1);
	assert_int_equal(err.code, SB_ERR_UNAUTHORIZED);
	assert_string_equal(err.field, "audience");
	assert_string_equal(err.message, "key 'billing-app' may reach "
	    "audiences customer:*, partner:acme only; audience[2] 'staff:bob' "
	    "is not one of them");
	n.naudience = 1;
	n.source = "payroll";
	assert_int_equal(auth_permits(&k, &n, &err), -1);
	assert_string_equal(err.field, "source");
	assert_string_equal(err.message, "key 'billing-app' may publish as "
	    "source billing, billing-* only; 'payroll' is not one of them");
	n.anonymous = 1;
	assert_int_equal(auth_permits(&k, &n, &err), -1);
	assert_null(strstr(err.message, "payroll"));
	assert_non_null(strstr(err.message, "anonymous"));
	glob_list_free(&k.sources);
	glob_list_free(&k.audiences);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_key_file_mode),
		cmocka_unit_test(test_key_check),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_which_endpoints),
		cmocka_unit_test(test_permits),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
