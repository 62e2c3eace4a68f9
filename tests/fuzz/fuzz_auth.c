/*
 * fuzz_auth.c: libFuzzer harness for auth.c's parsers of outside input:
 * key files (auth_key_parse: the server's secret key, as sbctl keygen
 * writes it), CURVE keys in the config (auth_key_check), endpoints
 * (auth_endpoint_loopback, which decides where plain tcp is allowed), and
 * the rights check of a CURVE client's notice (auth_permits). Beyond not
 * crashing or leaking, it checks their promises:
 *   - a key file error is one of a few fixed messages, so it never
 *     quotes the file (whose key line is a secret); an accepted key
 *     reads back the same from a file of its own;
 *   - an accepted config key is canonical Z85: it encodes back to itself,
 *     since the ZAP handler looks keys up by their Z85 form;
 *   - a loopback endpoint has a numeric loopback host, or "localhost";
 *   - auth_permits agrees with fnmatch(3) over the same globs, names the
 *     key in a refusal, and never quotes an anonymous notice's source.
 *
 * Input: the whole input as each parser's text; for auth_permits the
 * lines of the input are the source and then the audience entries, and
 * the first byte says whether the notice is anonymous.
 *
 * Build and run: make fuzz, or
 *	build-fuzz/tests/fuzz/fuzz_auth tests/fuzz/corpus-work/auth \
 *	    tests/fuzz/corpus/auth
 */
#include <sys/socket.h>

#include <fnmatch.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "auth.h"
#include "envelope.h"
#include "notice.h"

#define FUZZ_AUDIENCES	8

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	fuzz_key_error_known(const char *);
static void	fuzz_key_file(const uint8_t *, size_t);
static void	fuzz_key(const char *);
static void	fuzz_endpoint(const char *);
static int	fuzz_numeric_loopback(const char *);
static void	fuzz_permits(const uint8_t *, size_t);
static int	fuzz_globs(const char *const *, const char *);

static const char *const fuzz_sources[] = { "billing", "billing-*",
	"ops.[a-c]?", NULL };
static const char *const fuzz_audiences[] = { "customer:*",
	"partner:acme", "dept:e*g", "public", NULL };

/*
 * A key file error is one of these, numbers aside ('#' stands for a run
 * of digits): none has room for a word of the file, which may be secret.
 */
static int
fuzz_key_error_known(const char *err)
{
	static const char *const known[] = {
		"holds a NUL byte: not a key file",
		"line #: a second key (a key file holds one)",
		"line #: expected a CURVE key (# characters of Z#, as sbctl "
		"keygen writes), found # characters",
		"line #: not a Z# key (a character outside Z#'s alphabet, or a "
		"group of five too large)",
		"no key in it (expected a line of # Z# characters, as sbctl "
		"keygen writes)",
		NULL
	};
	char shape[256], *q = shape;
	size_t i;

	for (; *err != '\0' && q < shape + sizeof(shape) - 1; err++) {
		if (*err >= '0' && *err <= '9') {
			if (q == shape || q[-1] != '#')
				*q++ = '#';
			continue;
		}
		*q++ = *err;
	}
	*q = '\0';
	for (i = 0; known[i] != NULL; i++)
		if (strcmp(shape, known[i]) == 0)
			return (1);
	return (0);
}

static void
fuzz_key_file(const uint8_t *data, size_t size)
{
	uint8_t key[AUTH_KEY_BYTES], again[AUTH_KEY_BYTES];
	char err[256], z85[AUTH_KEY_Z85 + 1], file[AUTH_KEY_Z85 + 64];
	size_t len;

	if (auth_key_parse((const char *)data, size, key, err,
	    sizeof(err)) == -1) {
		if (!fuzz_key_error_known(err))
			abort();
		return;
	}
	zmq_z85_encode(z85, key, AUTH_KEY_BYTES);
	len = (size_t)snprintf(file, sizeof(file), "# a key\n%s\n", z85);
	if (auth_key_parse(file, len, again, err, sizeof(err)) == -1 ||
	    memcmp(key, again, AUTH_KEY_BYTES) != 0)
		abort();
}

static void
fuzz_key(const char *s)
{
	uint8_t bin[AUTH_KEY_BYTES];
	char err[256], back[AUTH_KEY_Z85 + 1];

	if (auth_key_check(s, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (strlen(s) != AUTH_KEY_Z85 || zmq_z85_decode(bin, s) == NULL)
		abort();
	zmq_z85_encode(back, bin, AUTH_KEY_BYTES);
	if (strcmp(back, s) != 0)
		abort();
}

/* Whether host is a numeric address that getaddrinfo calls loopback. */
static int
fuzz_numeric_loopback(const char *host)
{
	struct addrinfo hints, *ai;
	const unsigned char *a;
	int lo = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(host, NULL, &hints, &ai) != 0)
		return (0);
	if (ai->ai_family == AF_INET) {
		a = (const unsigned char *)&((struct sockaddr_in *)
		    (void *)ai->ai_addr)->sin_addr;
		lo = a[0] == 127;
	} else if (ai->ai_family == AF_INET6) {
		a = ((struct sockaddr_in6 *)(void *)ai->ai_addr)->
		    sin6_addr.s6_addr;
		lo = (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) ==
		    0) || (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\377\377", 12) ==
		    0 && a[12] == 127);
	}
	freeaddrinfo(ai);
	return (lo);
}

static void
fuzz_endpoint(const char *s)
{
	char host[256];
	const char *colon;
	size_t n;

	if (!auth_endpoint_loopback(s))
		return;
	if (strncmp(s, "tcp://", 6) != 0 || (colon = strrchr(s, ':')) ==
	    NULL || colon < s + 6)
		abort();
	n = (size_t)(colon - (s + 6));
	if (n >= sizeof(host))
		abort();
	memcpy(host, s + 6, n);
	host[n] = '\0';
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	if (strcmp(host, "localhost") != 0 && !fuzz_numeric_loopback(host))
		abort();
}

static int
fuzz_globs(const char *const *globs, const char *s)
{
	size_t i;

	for (i = 0; globs[i] != NULL; i++)
		if (fnmatch(globs[i], s, 0) == 0)
			return (1);
	return (0);
}

static void
fuzz_permits(const uint8_t *data, size_t size)
{
	static struct auth_key k;
	struct envelope_error err;
	struct notice n;
	char *buf, *lines[1 + FUZZ_AUDIENCES], *p, *save = NULL;
	size_t i, nlines = 0;
	int want;

	if (k.name == NULL) {
		k.name = "fuzzkey";
		k.sources.globs = calloc(3, sizeof(struct glob));
		k.audiences.globs = calloc(4, sizeof(struct glob));
		for (i = 0; fuzz_sources[i] != NULL; i++)
			if (glob_compile(&k.sources.globs[k.sources.n++],
			    fuzz_sources[i]) == -1)
				abort();
		for (i = 0; fuzz_audiences[i] != NULL; i++)
			if (glob_compile(&k.audiences.globs[k.audiences.n++],
			    fuzz_audiences[i]) == -1)
				abort();
	}
	if (size < 2 || (buf = strndup((const char *)data + 1,
	    size - 1)) == NULL)
		return;
	for (p = strtok_r(buf, "\n", &save); p != NULL &&
	    nlines < 1 + FUZZ_AUDIENCES; p = strtok_r(NULL, "\n", &save))
		lines[nlines++] = p;
	if (nlines < 2) {
		free(buf);
		return;
	}
	memset(&n, 0, sizeof(n));
	n.anonymous = data[0] & 1;
	n.source = lines[0];
	n.audience = lines + 1;
	n.naudience = nlines - 1;
	want = fuzz_globs(fuzz_sources, n.source);
	for (i = 0; want && i < n.naudience; i++)
		want = fuzz_globs(fuzz_audiences, n.audience[i]);
	memset(&err, 0, sizeof(err));
	if (auth_permits(&k, &n, &err) == 0) {
		if (!want)
			abort();
	} else {
		if (want || err.code != SB_ERR_UNAUTHORIZED ||
		    strstr(err.message, "'fuzzkey'") == NULL ||
		    (n.anonymous && strcmp(err.field, "source") == 0 &&
		    strstr(err.message, n.source) != NULL &&
		    strstr("key 'fuzzkey' may publish as source billing, "
		    "billing-*, ops.[a-c]? only; this anonymous notice's "
		    "source is not one of them", n.source) == NULL))
			abort();
	}
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	fuzz_key_file(data, size);
	if ((s = strndup((const char *)data, size)) == NULL)
		return (0);
	fuzz_key(s);
	fuzz_endpoint(s);
	free(s);
	fuzz_permits(data, size);
	return (0);
}
