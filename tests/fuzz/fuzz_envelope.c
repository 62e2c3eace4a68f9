/*
 * fuzz_envelope.c: libFuzzer harness for the wire parser (envelope_parse)
 * and the spool's reader (envelope_parse_stored). Beyond not crashing or
 * leaking, it checks two promises: an error reply is valid JSON whatever
 * the input, and a notice that was accepted survives notice_encode() and
 * envelope_parse_stored() with every field intact.
 *
 * Build and run (the sanitizers make a fault loud):
 *	clang -g -O1 -D_GNU_SOURCE -Iinclude -Idaemon \
 *	    $(pkg-config --cflags yajl libbsd-overlay) \
 *	    -fsanitize=fuzzer,address,undefined \
 *	    tests/fuzz/fuzz_envelope.c daemon/envelope.c daemon/notice.c \
 *	    daemon/duration.c daemon/log.c \
 *	    $(pkg-config --libs yajl libbsd-overlay) -o fuzz_envelope
 *	./fuzz_envelope -max_len=4096 tests/fuzz/corpus/envelope
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "envelope.h"
#include "notice.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_check_reply(const struct envelope_error *);
static void	fuzz_round_trip(struct notice *);
static int	fuzz_same(const struct notice *, const struct notice *);
static int	fuzz_streq(const char *, const char *);

/* An error reply must be one valid JSON text, whatever the input was. */
static void
fuzz_check_reply(const struct envelope_error *err)
{
	yajl_handle h;
	size_t len;
	char *r;

	if (err->code <= SB_OK || err->code >= SB_ERR_COUNT)
		abort();
	if ((r = envelope_reply_error(err, &len)) == NULL)
		abort();
	h = yajl_alloc(NULL, NULL, NULL);
	if (yajl_parse(h, (const unsigned char *)r, len) != yajl_status_ok ||
	    yajl_complete_parse(h) != yajl_status_ok)
		abort();
	yajl_free(h);
	free(r);
}

static int
fuzz_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/* Whether what came back from the spool is what went in. */
static int
fuzz_same(const struct notice *a, const struct notice *b)
{
	size_t i;

	if (strcmp(a->id, b->id) != 0 || a->class != b->class ||
	    !fuzz_streq(a->anonymous ? NULL : a->source, b->source) ||
	    a->naudience != b->naudience || !fuzz_streq(a->subject,
	    b->subject) || !fuzz_streq(a->body, b->body) ||
	    a->priority != b->priority || a->goal != b->goal ||
	    a->respond_within_ms != b->respond_within_ms ||
	    a->ntags != b->ntags || a->anonymous != b->anonymous ||
	    a->received_ms != b->received_ms)
		return (0);
	for (i = 0; i < a->naudience; i++)
		if (strcmp(a->audience[i], b->audience[i]) != 0)
			return (0);
	for (i = 0; i < a->ntags; i++)
		if (strcmp(a->tags[i].key, b->tags[i].key) != 0 ||
		    strcmp(a->tags[i].value, b->tags[i].value) != 0)
			return (0);
	return (1);
}

/* What the broker does with an accepted notice, then a restart. */
static void
fuzz_round_trip(struct notice *n)
{
	struct envelope_error err;
	struct notice *back;

	if (n->id[0] == '\0')
		notice_assign_id(n);
	n->class = n->class_hint != CLASS_NONE ? n->class_hint : CLASS_BATCH;
	if (notice_encode(n) != 0)
		abort();
	if ((back = envelope_parse_stored(n->json, n->json_len, &err)) ==
	    NULL)
		abort();
	if (!fuzz_same(n, back) || back->json_len != n->json_len ||
	    memcmp(back->json, n->json, n->json_len) != 0)
		abort();
	notice_unref(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope_error err;
	struct envelope env;
	struct notice *n;

	if (envelope_parse((const char *)data, size, SB_DEFAULT_MAX_MESSAGE,
	    &env, &err) == 0) {
		if ((env.type == ENVELOPE_NOTICE) != (env.notice != NULL))
			abort();
		if (env.notice != NULL)
			fuzz_round_trip(env.notice);
		envelope_clear(&env);
	} else {
		if (env.notice != NULL || env.ack.note != NULL)
			abort();
		fuzz_check_reply(&err);
	}

	if ((n = envelope_parse_stored((const char *)data, size, &err)) !=
	    NULL) {
		if (n->json_len != size || memcmp(n->json, data, size) != 0)
			abort();
		notice_unref(n);
	} else
		fuzz_check_reply(&err);
	return (0);
}
