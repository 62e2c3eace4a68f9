/*
 * test_envelope.c: the wire format, rule by rule: every field valid and
 * invalid, every error code with a message naming the field, acks, pings,
 * the stored form and the replies.
 *
 * "test_envelope bench [N]" instead times N parses of a typical notice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <yajl/yajl_parse.h>

#include "envelope.h"
#include "notice.h"

#define MAX	SB_DEFAULT_MAX_MESSAGE

/* The smallest valid notice, and its fields to build variants from. */
#define SRC	"\"source\":\"app\""
#define AUD	"\"audience\":[\"dept:ops\"]"
#define SUBJ	"\"subject\":\"hi\""
#define BASE	SRC "," AUD "," SUBJ

/* A typical notice of 354 bytes, for the benchmark. */
static const char bench_notice[] =
    "{\"v\":1,\"type\":\"notice\",\"id\":\"billing-2024-05-01-000017\","
    "\"source\":\"billing\",\"audience\":[\"dept:finance\",\"role:oncall\"],"
    "\"subject\":\"Invoice run finished with 3 failures\","
    "\"body\":\"The nightly invoice run finished at 02:14. Three invoices "
    "failed to render now.\","
    "\"priority\":\"high\",\"goal\":\"resolve\",\"respond_within\":\"4h\","
    "\"tags\":{\"team\":\"billing\",\"run\":\"nightly\"}}";

static char *
xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(r >= 0);
	return (s);
}

/* unit repeated n times, as a new string. */
static char *
repeat(const char *unit, size_t n)
{
	size_t len = strlen(unit), i;
	char *s = malloc(len * n + 1);

	assert_non_null(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * len, unit, len);
	s[len * n] = '\0';
	return (s);
}

/* Parse; the request must be accepted. */
static void
parse_ok_len(const char *json, size_t len, struct envelope *env)
{
	struct envelope_error err;

	if (envelope_parse(json, len, MAX, env, &err) != 0)
		fail_msg("rejected (%s, field '%s'): %s\n  input: %.200s",
		    sb_error_name(err.code), err.field, err.message, json);
	assert_int_equal(err.code, SB_OK);
}

static void
parse_ok(const char *json, struct envelope *env)
{
	parse_ok_len(json, strlen(json), env);
}

/*
 * Parse; the request must be rejected with code, naming field ("" for
 * none), with want in its message. Nothing may be kept.
 */
static void
parse_bad_len(const char *json, size_t len, enum sb_error code,
    const char *field, const char *want, struct envelope_error *errp)
{
	struct envelope_error err;
	struct envelope env;

	if (envelope_parse(json, len, MAX, &env, &err) == 0) {
		envelope_clear(&env);
		fail_msg("accepted: %.300s", json);
	}
	if (err.code != code || strcmp(err.field, field) != 0 ||
	    strstr(err.message, want) == NULL)
		fail_msg("got %s field '%s' \"%s\"\n want %s field '%s' "
		    "\"...%s...\"\n input: %.200s", sb_error_name(err.code),
		    err.field, err.message, sb_error_name(code), field, want,
		    json);
	assert_null(env.notice);
	assert_null(env.ack.note);
	if (errp != NULL)
		*errp = err;
}

static void
parse_bad(const char *json, enum sb_error code, const char *field,
    const char *want)
{
	parse_bad_len(json, strlen(json), code, field, want, NULL);
}

/* A notice of BASE plus one more member. */
static void
with_ok(const char *member, struct envelope *env)
{
	char *json = xasprintf("{" BASE ",%s}", member);

	parse_ok(json, env);
	free(json);
}

static void
with_bad(const char *member, enum sb_error code, const char *field,
    const char *want)
{
	char *json = xasprintf("{" BASE ",%s}", member);

	parse_bad(json, code, field, want);
	free(json);
}

/* Whether s is one valid JSON text (replies are checked with this). */
static int
is_json(const char *s, size_t len)
{
	yajl_handle h = yajl_alloc(NULL, NULL, NULL);
	int ok;

	ok = yajl_parse(h, (const unsigned char *)s, len) ==
	    yajl_status_ok && yajl_complete_parse(h) == yajl_status_ok;
	yajl_free(h);
	return (ok);
}

static void
test_minimal_notice(void **state)
{
	struct envelope env;
	struct notice *n;
	struct timespec ts;
	int64_t now;

	(void)state;
	parse_ok("{" BASE "}", &env);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	assert_int_equal(env.type, ENVELOPE_NOTICE);
	n = env.notice;
	assert_non_null(n);
	assert_string_equal(n->id, "");
	assert_int_equal(n->id_assigned, 0);
	assert_string_equal(n->source, "app");
	assert_int_equal(n->naudience, 1);
	assert_string_equal(n->audience[0], "dept:ops");
	assert_string_equal(n->subject, "hi");
	assert_null(n->body);
	assert_int_equal(n->priority, PRIORITY_NORMAL);
	assert_int_equal(n->goal, GOAL_INFORM);
	assert_int_equal(n->class_hint, CLASS_NONE);
	assert_int_equal(n->class, CLASS_NONE);
	assert_int_equal(n->respond_within_ms, 0);
	assert_int_equal(n->ntags, 0);
	assert_int_equal(n->anonymous, 0);
	assert_null(n->json);
	assert_true(n->received_ms <= now && n->received_ms > now - 5000);
	envelope_clear(&env);
	assert_null(env.notice);
}

static void
test_full_notice(void **state)
{
	struct envelope env;
	struct notice *n;

	(void)state;
	parse_ok(bench_notice, &env);
	assert_int_equal(strlen(bench_notice), 354);
	n = env.notice;
	assert_string_equal(n->id, "billing-2024-05-01-000017");
	assert_string_equal(n->source, "billing");
	assert_int_equal(n->naudience, 2);
	assert_string_equal(n->audience[1], "role:oncall");
	assert_string_equal(n->subject,
	    "Invoice run finished with 3 failures");
	assert_non_null(strstr(n->body, "02:14"));
	assert_int_equal(n->priority, PRIORITY_HIGH);
	assert_int_equal(n->goal, GOAL_RESOLVE);
	assert_int_equal(n->respond_within_ms, 4 * 3600000LL);
	assert_int_equal(n->ntags, 2);
	assert_string_equal(notice_tag(n, "team"), "billing");
	assert_string_equal(notice_tag(n, "run"), "nightly");
	envelope_clear(&env);

	with_ok("\"class\":\"interactive\",\"anonymous\":true", &env);
	assert_int_equal(env.notice->class_hint, CLASS_INTERACTIVE);
	assert_int_equal(env.notice->class, CLASS_NONE);
	assert_int_equal(env.notice->anonymous, 1);
	envelope_clear(&env);

	/* Order does not matter; whitespace is free. */
	parse_ok(" {\n\t\"subject\" : \"hi\" ,\"audience\":[ \"public\" ],"
	    "\"source\":\"a\"}\n ", &env);
	assert_string_equal(env.notice->audience[0], "public");
	envelope_clear(&env);
}

static void
test_type(void **state)
{
	struct envelope env;

	(void)state;
	with_ok("\"type\":\"notice\"", &env);
	assert_int_equal(env.type, ENVELOPE_NOTICE);
	envelope_clear(&env);
	with_bad("\"type\":\"alert\"", SB_ERR_UNKNOWN_TYPE, "type",
	    "unknown type 'alert' (expected notice, ack or ping)");
	with_bad("\"type\":\"Notice\"", SB_ERR_UNKNOWN_TYPE, "type",
	    "'Notice'");
	with_bad("\"type\":\"\"", SB_ERR_UNKNOWN_TYPE, "type", "''");
	with_bad("\"type\":\"notice\\u0000\"", SB_ERR_INVALID_FIELD, "type",
	    "type: contains a NUL");
	with_bad("\"type\":1", SB_ERR_INVALID_FIELD, "type",
	    "type: expected a string, got a number");
	/* The type is known when it comes, before the rest is read. */
	parse_bad("{\"type\":\"bogus\",\"source\":[[[", SB_ERR_UNKNOWN_TYPE,
	    "type", "'bogus'");
}

/* The type may come last: fields before it are checked when it comes. */
static void
test_type_late(void **state)
{
	struct envelope env;

	(void)state;
	parse_ok("{\"ref\":\"n-1\",\"by\":\"alice\",\"type\":\"ack\"}", &env);
	assert_int_equal(env.type, ENVELOPE_ACK);
	assert_string_equal(env.ack.ref, "n-1");
	assert_null(env.notice);
	envelope_clear(&env);
	parse_bad("{\"ref\":\"n-1\",\"subject\":\"x\",\"by\":\"a\","
	    "\"type\":\"ack\"}", SB_ERR_INVALID_FIELD, "subject",
	    "subject: not a field of an ack");
	parse_bad("{" BASE ",\"ref\":\"n-1\"}", SB_ERR_INVALID_FIELD, "ref",
	    "ref: not a field of a notice");
	parse_bad("{\"score\":3," BASE "}", SB_ERR_INVALID_FIELD, "score",
	    "score: not a field of a notice");
	parse_bad("{\"by\":\"x\",\"type\":\"ping\"}", SB_ERR_INVALID_FIELD,
	    "by", "by: not a field of a ping");
	/* The first offending field in the order given is named. */
	parse_bad("{\"note\":\"a\",\"ref\":\"b\"," BASE "}",
	    SB_ERR_INVALID_FIELD, "note", "note: not a field of a notice");
}

static void
test_unknown_field(void **state)
{
	struct envelope_error err;

	(void)state;
	with_bad("\"subjetc\":\"x\"", SB_ERR_INVALID_FIELD, "subjetc",
	    "unknown field 'subjetc'");
	with_bad("\"Subject\":\"x\"", SB_ERR_INVALID_FIELD, "Subject",
	    "unknown field 'Subject'");
	with_bad("\"\":1", SB_ERR_INVALID_FIELD, "", "unknown field ''");
	/* The broker's own fields are not taken from a publisher. */
	with_bad("\"received_at\":\"2024-05-01T12:34:56.789Z\"",
	    SB_ERR_INVALID_FIELD, "received_at",
	    "unknown field 'received_at'");
	/* A field that looks like a known one up to a NUL is not it. */
	with_bad("\"body\\u0000\":\"x\"", SB_ERR_INVALID_FIELD, "body\\x00",
	    "unknown field 'body\\x00'");
	/* An unknown field is caught before its value is read. */
	parse_bad("{\"x\":[[[[[[", SB_ERR_INVALID_FIELD, "x",
	    "unknown field 'x'");
	/* A long or odd key is quoted short and in ASCII. */
#define LONG_KEY	"\\xc3\\xa9\\x0a\"" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..."
	parse_bad_len("{\"\xc3\xa9\\n\\\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaa\":1}", 71, SB_ERR_INVALID_FIELD, LONG_KEY,
	    "unknown field '" LONG_KEY "'", &err);
#undef LONG_KEY
}

static void
test_duplicate_key(void **state)
{
	(void)state;
	parse_bad("{" BASE ",\"subject\":\"again\"}", SB_ERR_INVALID_FIELD,
	    "subject", "subject: given twice");
	parse_bad("{\"v\":1,\"v\":1," BASE "}", SB_ERR_INVALID_FIELD, "v",
	    "v: given twice");
	parse_bad("{\"type\":\"ack\",\"ref\":\"a\",\"by\":\"b\","
	    "\"type\":\"ack\"}", SB_ERR_INVALID_FIELD, "type",
	    "type: given twice");
	with_bad("\"tags\":{\"a\":\"1\",\"a\":\"2\"}", SB_ERR_INVALID_FIELD,
	    "tags", "tags: key 'a' given twice");
}

static void
test_wrong_json_type(void **state)
{
	(void)state;
	with_bad("\"priority\":1", SB_ERR_INVALID_FIELD, "priority",
	    "priority: expected a string, got a number");
	with_bad("\"body\":null", SB_ERR_INVALID_FIELD, "body",
	    "body: expected a string, got null");
	with_bad("\"anonymous\":\"true\"", SB_ERR_INVALID_FIELD, "anonymous",
	    "anonymous: expected a boolean, got a string");
	with_bad("\"anonymous\":1", SB_ERR_INVALID_FIELD, "anonymous",
	    "anonymous: expected a boolean, got a number");
	with_bad("\"v\":\"1\"", SB_ERR_INVALID_FIELD, "v",
	    "v: expected a number, got a string");
	with_bad("\"tags\":[]", SB_ERR_INVALID_FIELD, "tags",
	    "tags: expected an object, got an array");
	with_bad("\"id\":{}", SB_ERR_INVALID_FIELD, "id",
	    "id: expected a string, got an object");
	with_bad("\"goal\":true", SB_ERR_INVALID_FIELD, "goal",
	    "goal: expected a string, got a boolean");
	parse_bad("{\"audience\":\"dept:ops\"," SRC "," SUBJ "}",
	    SB_ERR_INVALID_FIELD, "audience",
	    "audience: expected an array, got a string");
	parse_bad("{\"subject\":[\"hi\"]," SRC "," AUD "}",
	    SB_ERR_INVALID_FIELD, "subject",
	    "subject: expected a string, got an array");
}

/* Only audience and tags nest, one level; anything deeper stops at once. */
static void
test_nesting(void **state)
{
	char *open, *json;

	(void)state;
	parse_bad("{\"audience\":[[\"dept:ops\"]]," SRC "," SUBJ "}",
	    SB_ERR_INVALID_FIELD, "audience",
	    "audience[0]: expected a string, got an array");
	parse_bad("{\"audience\":[\"public\",{}]}", SB_ERR_INVALID_FIELD,
	    "audience", "audience[1]: expected a string, got an object");
	parse_bad("{\"audience\":[\"public\",1]}", SB_ERR_INVALID_FIELD,
	    "audience", "audience[1]: expected a string, got a number");
	with_bad("\"tags\":{\"team\":{\"a\":\"b\"}}", SB_ERR_INVALID_FIELD,
	    "tags", "tags.team: expected a string, got an object");
	with_bad("\"tags\":{\"team\":[]}", SB_ERR_INVALID_FIELD, "tags",
	    "tags.team: expected a string, got an array");
	with_bad("\"tags\":{\"n\":5}", SB_ERR_INVALID_FIELD, "tags",
	    "tags.n: expected a string, got a number");

	/*
	 * 10,000 levels, never closed, then garbage: were the parse not
	 * stopped at the second level this would be bad_json (or worse).
	 */
	open = repeat("[", 10000);
	json = xasprintf("{\"audience\":%s\x01", open);
	parse_bad(json, SB_ERR_INVALID_FIELD, "audience",
	    "audience[0]: expected a string, got an array");
	free(json);
	json = xasprintf("{\"body\":%s", open);
	parse_bad(json, SB_ERR_INVALID_FIELD, "body",
	    "body: expected a string, got an array");
	free(json);
	json = xasprintf("%s]", open);
	parse_bad(json, SB_ERR_BAD_JSON, "",
	    "expected a JSON object, got an array");
	free(json);
	free(open);
	open = repeat("{\"a\":", 10000);
	json = xasprintf("{\"tags\":%s", open);
	parse_bad(json, SB_ERR_INVALID_FIELD, "tags",
	    "tags.a: expected a string, got an object");
	free(json);
	free(open);
}

static void
test_bad_json(void **state)
{
	struct envelope_error err;

	(void)state;
	parse_bad("", SB_ERR_BAD_JSON, "",
	    "not valid JSON at byte 0: parse error: premature EOF");
	parse_bad("   ", SB_ERR_BAD_JSON, "", "premature EOF");
	parse_bad("{", SB_ERR_BAD_JSON, "", "at byte 1: parse error: "
	    "premature EOF");
	parse_bad("hello", SB_ERR_BAD_JSON, "", "not valid JSON at byte");
	parse_bad("{" BASE ",}", SB_ERR_BAD_JSON, "", "not valid JSON");
	parse_bad("{'source':'x'}", SB_ERR_BAD_JSON, "", "not valid JSON");
	parse_bad("{" BASE "} x", SB_ERR_BAD_JSON, "", "trailing garbage");
	parse_bad("{" BASE "}{}", SB_ERR_BAD_JSON, "", "trailing garbage");
	parse_bad("{\"subject\":\"a\" \"b\"}", SB_ERR_BAD_JSON, "",
	    "not valid JSON");
	parse_bad("{\"v\" 1}", SB_ERR_BAD_JSON, "", "not valid JSON at byte");
	/* Streaming: a rule broken before the syntax error is reported. */
	parse_bad("{\"v\":01}", SB_ERR_INVALID_FIELD, "v", "version 0");
	parse_bad("{/*c*/" BASE "}", SB_ERR_BAD_JSON, "", "not valid JSON");
	parse_bad("[]", SB_ERR_BAD_JSON, "",
	    "expected a JSON object, got an array");
	parse_bad("\"notice\"", SB_ERR_BAD_JSON, "",
	    "expected a JSON object, got a string");
	parse_bad("42", SB_ERR_BAD_JSON, "",
	    "expected a JSON object, got a number");
	parse_bad("null", SB_ERR_BAD_JSON, "",
	    "expected a JSON object, got null");
	parse_bad("true", SB_ERR_BAD_JSON, "",
	    "expected a JSON object, got a boolean");
	/* Raw NUL: inside a string, after the object. */
	parse_bad_len("{\"subject\":\"a\0b\"}", 17, SB_ERR_BAD_JSON, "",
	    "invalid character inside string", &err);
	parse_bad_len("{" BASE "}\0", sizeof("{" BASE "}"), SB_ERR_BAD_JSON,
	    "", "trailing garbage", &err);
	/* Raw control characters in a string are not JSON. */
	parse_bad("{\"body\":\"a\tb\"}", SB_ERR_BAD_JSON, "",
	    "invalid character inside string");
	parse_bad("{\"body\":\"\\q\"}", SB_ERR_BAD_JSON, "",
	    "inside a string, '\\' occurs before a character");
	assert_string_equal(err.id, "");
}

static void
test_too_large(void **state)
{
	struct envelope_error err;
	struct envelope env;
	const char *json = "{" BASE "}";
	size_t len = strlen(json);

	(void)state;
	assert_int_equal(envelope_parse(json, len, len - 1, &env, &err), -1);
	assert_int_equal(err.code, SB_ERR_TOO_LARGE);
	assert_string_equal(err.field, "");
	assert_string_equal(err.id, "");
	assert_string_equal(err.message, "message is 55 bytes; the limit is "
	    "54 bytes (ingress.max_message_size)");
	assert_null(env.notice);
	/* Not parsed: even garbage is too_large, not bad_json. */
	assert_int_equal(envelope_parse("xxxx", 4, 3, &env, &err), -1);
	assert_int_equal(err.code, SB_ERR_TOO_LARGE);
	/* Exactly the limit is fine. */
	assert_int_equal(envelope_parse(json, len, len, &env, &err), 0);
	envelope_clear(&env);
}

static void
test_missing(void **state)
{
	(void)state;
	parse_bad("{}", SB_ERR_MISSING_FIELD, "source",
	    "missing field 'source' (required in a notice)");
	parse_bad("{" SRC "," SUBJ "}", SB_ERR_MISSING_FIELD, "audience",
	    "missing field 'audience'");
	parse_bad("{" AUD "," SRC "}", SB_ERR_MISSING_FIELD, "subject",
	    "missing field 'subject'");
	parse_bad("{\"type\":\"notice\",\"anonymous\":true," AUD "," SUBJ
	    "}", SB_ERR_MISSING_FIELD, "source", "missing field 'source'");
	parse_bad("{\"type\":\"ack\",\"by\":\"a\"}", SB_ERR_MISSING_FIELD,
	    "ref", "missing field 'ref' (required in an ack)");
	parse_bad("{\"type\":\"ack\",\"ref\":\"a\"}", SB_ERR_MISSING_FIELD,
	    "by", "missing field 'by' (required in an ack)");
	/* Syntax errors come before what only the end can tell. */
	parse_bad("{} x", SB_ERR_BAD_JSON, "", "trailing garbage");
}

static void
test_version(void **state)
{
	struct envelope env;

	(void)state;
	with_ok("\"v\":1", &env);
	envelope_clear(&env);
	with_bad("\"v\":2", SB_ERR_INVALID_FIELD, "v",
	    "v: unsupported protocol version 2 (expected 1)");
	with_bad("\"v\":0", SB_ERR_INVALID_FIELD, "v", "version 0");
	with_bad("\"v\":-1", SB_ERR_INVALID_FIELD, "v", "version -1");
	with_bad("\"v\":1.0", SB_ERR_INVALID_FIELD, "v",
	    "v: expected an integer, got 1.0");
	with_bad("\"v\":1e0", SB_ERR_INVALID_FIELD, "v",
	    "expected an integer, got 1e0");
	/* Huge numbers are text to us: no overflow, no wrap to 1. */
	with_bad("\"v\":18446744073709551617", SB_ERR_INVALID_FIELD, "v",
	    "unsupported protocol version 18446744073709551617");
	with_bad("\"v\":1e999999", SB_ERR_INVALID_FIELD, "v",
	    "expected an integer, got 1e999999");
	with_bad("\"v\":100000000000000000000000000000000000000000000000001",
	    SB_ERR_INVALID_FIELD, "v", "unsupported protocol version "
	    "1000000000000000000000000000000000000000...");
}

static void
test_id(void **state)
{
	struct envelope env;
	char *id, *member;

	(void)state;
	with_ok("\"id\":\"Az09._:-\"", &env);
	assert_string_equal(env.notice->id, "Az09._:-");
	envelope_clear(&env);
	id = repeat("x", 128);
	member = xasprintf("\"id\":\"%s\"", id);
	with_ok(member, &env);
	assert_string_equal(env.notice->id, id);
	envelope_clear(&env);
	free(member);
	member = xasprintf("\"id\":\"%sx\"", id);
	with_bad(member, SB_ERR_INVALID_FIELD, "id",
	    "id: 129 bytes; the limit is 128");
	free(member);
	free(id);
	with_bad("\"id\":\"\"", SB_ERR_INVALID_FIELD, "id",
	    "id: must not be empty");
	with_bad("\"id\":\"a b\"", SB_ERR_INVALID_FIELD, "id",
	    "id: character ' ' at byte 1 is not allowed (allowed: "
	    "A-Za-z0-9._:-)");
	with_bad("\"id\":\"a/b\"", SB_ERR_INVALID_FIELD, "id", "'/'");
	with_bad("\"id\":\"\xc3\xa9\"", SB_ERR_INVALID_FIELD, "id",
	    "character '\\xc3' at byte 0");
	with_bad("\"id\":\"a\\u0000\"", SB_ERR_INVALID_FIELD, "id",
	    "id: contains a NUL character");
}

/* err->id names the notice when its id came before the error. */
static void
test_error_id(void **state)
{
	struct envelope_error err;

	(void)state;
	parse_bad_len("{\"id\":\"job-7\"," SRC "," AUD ",\"subject\":\"\"}",
	    strlen("{\"id\":\"job-7\"," SRC "," AUD ",\"subject\":\"\"}"),
	    SB_ERR_INVALID_FIELD, "subject", "subject: must not be empty",
	    &err);
	assert_string_equal(err.id, "job-7");
	parse_bad_len("{\"id\":\"job-7\"}", 14, SB_ERR_MISSING_FIELD,
	    "source", "missing", &err);
	assert_string_equal(err.id, "job-7");
	parse_bad_len("{\"subject\":\"\",\"id\":\"job-7\"}", 27,
	    SB_ERR_INVALID_FIELD, "subject", "empty", &err);
	assert_string_equal(err.id, "");
	parse_bad_len("{\"id\":\"bad id\"}", 15, SB_ERR_INVALID_FIELD, "id",
	    "not allowed", &err);
	assert_string_equal(err.id, "");
	parse_bad_len("{\"type\":\"ping\",\"id\":\"p1\",\"v\":7}", 31,
	    SB_ERR_INVALID_FIELD, "v", "version 7", &err);
	assert_string_equal(err.id, "p1");
	parse_bad_len("{\"id\":\"job-7\"} x", 16, SB_ERR_BAD_JSON, "",
	    "trailing garbage", &err);
	assert_string_equal(err.id, "job-7");
}

static void
test_source(void **state)
{
	struct envelope env;
	char *src, *json;

	(void)state;
	src = repeat("s", 64);
	json = xasprintf("{\"source\":\"%s\"," AUD "," SUBJ "}", src);
	parse_ok(json, &env);
	assert_string_equal(env.notice->source, src);
	envelope_clear(&env);
	free(json);
	json = xasprintf("{\"source\":\"%ss\"," AUD "," SUBJ "}", src);
	parse_bad(json, SB_ERR_INVALID_FIELD, "source",
	    "source: 65 bytes; the limit is 64");
	free(json);
	free(src);
	parse_bad("{\"source\":\"\"," AUD "," SUBJ "}", SB_ERR_INVALID_FIELD,
	    "source", "source: must not be empty");
	parse_bad("{\"source\":\"a:b\"," AUD "," SUBJ "}",
	    SB_ERR_INVALID_FIELD, "source", "source: character ':' at byte 1 "
	    "is not allowed (allowed: A-Za-z0-9._-)");
	parse_bad("{\"source\":\"my app\"," AUD "," SUBJ "}",
	    SB_ERR_INVALID_FIELD, "source", "character ' ' at byte 2");
}

static void
test_audience(void **state)
{
	static const char *const kinds[] = { "staff", "dept", "role",
	    "group", "mgmt", "customer", "partner", "public" };
	struct envelope env;
	char *json, *name, *list;
	size_t i;

	(void)state;
	for (i = 0; i < 8; i++) {
		json = xasprintf("{" SRC "," SUBJ ",\"audience\":[\"%s:x\","
		    "\"%s:*\"]}", kinds[i], kinds[i]);
		parse_ok(json, &env);
		assert_int_equal(env.notice->naudience, 2);
		envelope_clear(&env);
		free(json);
	}
	parse_ok("{" SRC "," SUBJ ",\"audience\":[\"public\","
	    "\"role:ops:lead\",\"group:\xc3\xa9quipe\"]}", &env);
	assert_string_equal(env.notice->audience[0], "public");
	assert_string_equal(env.notice->audience[1], "role:ops:lead");
	envelope_clear(&env);

	/* SPEC §2.3's example, word for word. */
	parse_bad("{" SRC "," SUBJ ",\"audience\":[\"staff:*\",\"public\","
	    "\"dpt:ops\"]}", SB_ERR_INVALID_FIELD, "audience",
	    "audience[2]: unknown kind 'dpt' (expected staff, dept, role, "
	    "group, mgmt, customer, partner, public)");
	parse_bad("{\"audience\":[\"Dept:ops\"]}", SB_ERR_INVALID_FIELD,
	    "audience", "audience[0]: unknown kind 'Dept'");
	parse_bad("{\"audience\":[\":ops\"]}", SB_ERR_INVALID_FIELD,
	    "audience", "audience[0]: unknown kind ''");
	parse_bad("{\"audience\":[\"staff\"]}", SB_ERR_INVALID_FIELD,
	    "audience", "audience[0]: 'staff' needs a name ('staff:NAME' "
	    "or 'staff:*')");
	parse_bad("{\"audience\":[\"everyone\"]}", SB_ERR_INVALID_FIELD,
	    "audience", "audience[0]: 'everyone' is neither 'public' nor "
	    "'kind:name'");
	parse_bad("{\"audience\":[\"\"]}", SB_ERR_INVALID_FIELD,
	    "audience", "audience[0]: '' is neither");
	parse_bad("{\"audience\":[\"dept:\"]}", SB_ERR_INVALID_FIELD,
	    "audience", "audience[0]: 'dept:' has no name after the ':'");
	parse_bad("{\"audience\":[\"dept:a b\"]}", SB_ERR_INVALID_FIELD,
	    "audience", "audience[0]: 'dept:a b' has a space or a control "
	    "character in its name");
	parse_bad("{\"audience\":[\"dept:a\\tb\"]}", SB_ERR_INVALID_FIELD,
	    "audience", "has a space or a control character");
	parse_bad("{\"audience\":[\"dept:a\\u0085\"]}", SB_ERR_INVALID_FIELD,
	    "audience", "has a space or a control character");
	parse_bad("{\"audience\":[\"dept:a\\u007f\"]}", SB_ERR_INVALID_FIELD,
	    "audience", "has a space or a control character");
	parse_bad("{\"audience\":[\"dept:a\\u0000\"]}", SB_ERR_INVALID_FIELD,
	    "audience", "audience[0]: contains a NUL character");
	parse_bad("{\"audience\":[\"public\",\"dept:x\",\"public\"]}",
	    SB_ERR_INVALID_FIELD, "audience",
	    "audience[2]: 'public' repeats audience[0]");
	parse_bad("{\"audience\":[]}", SB_ERR_INVALID_FIELD, "audience",
	    "audience: must have 1 to 64 entries, got none");

	name = repeat("n", 128);
	json = xasprintf("{" SRC "," SUBJ ",\"audience\":[\"dept:%s\"]}",
	    name);
	parse_ok(json, &env);
	envelope_clear(&env);
	free(json);
	json = xasprintf("{" SRC "," SUBJ ",\"audience\":[\"dept:%sn\"]}",
	    name);
	parse_bad(json, SB_ERR_INVALID_FIELD, "audience",
	    "audience[0]: the name is 129 bytes; the limit is 128");
	free(json);
	free(name);

	/* 64 entries fit; the 65th does not. */
	list = malloc(65 * 16);
	list[0] = '\0';
	for (i = 0; i < 64; i++)
		sprintf(list + strlen(list), "%s\"staff:u%zu\"", i ? "," : "",
		    i);
	json = xasprintf("{" SRC "," SUBJ ",\"audience\":[%s]}", list);
	parse_ok(json, &env);
	assert_int_equal(env.notice->naudience, 64);
	assert_string_equal(env.notice->audience[63], "staff:u63");
	envelope_clear(&env);
	free(json);
	json = xasprintf("{" SRC "," SUBJ ",\"audience\":[%s,\"public\"]}",
	    list);
	parse_bad(json, SB_ERR_INVALID_FIELD, "audience",
	    "audience: more than 64 entries");
	free(json);
	free(list);
}

/* Characters are code points: 256 of them, whatever their bytes. */
static void
test_subject(void **state)
{
	static const char *const units[] = { "a", "\xc3\xa9",
	    "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\\u00e9" };
	struct envelope env;
	char *s, *json;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		s = repeat(units[i], 256);
		json = xasprintf("{" SRC "," AUD ",\"subject\":\"%s\"}", s);
		parse_ok(json, &env);
		envelope_clear(&env);
		free(json);
		json = xasprintf("{" SRC "," AUD ",\"subject\":\"%sa\"}", s);
		parse_bad(json, SB_ERR_INVALID_FIELD, "subject",
		    "subject: 257 characters; the limit is 256");
		free(json);
		free(s);
	}
	/* A pair of escaped surrogates is one character. */
	s = repeat("\\ud83d\\ude00", 256);
	json = xasprintf("{" SRC "," AUD ",\"subject\":\"%s\"}", s);
	parse_ok(json, &env);
	assert_int_equal(strlen(env.notice->subject), 1024);
	envelope_clear(&env);
	free(json);
	free(s);

	parse_bad("{\"subject\":\"\"}", SB_ERR_INVALID_FIELD, "subject",
	    "subject: must not be empty");
	parse_bad("{\"subject\":\"a\\nb\"}", SB_ERR_INVALID_FIELD, "subject",
	    "subject: contains a control character");
	parse_bad("{\"subject\":\"a\\tb\"}", SB_ERR_INVALID_FIELD, "subject",
	    "control character");
	parse_bad("{\"subject\":\"\\u007f\"}", SB_ERR_INVALID_FIELD,
	    "subject", "control character");
	parse_bad("{\"subject\":\"\\u0080\"}", SB_ERR_INVALID_FIELD,
	    "subject", "control character");
	parse_bad("{\"subject\":\"\xc2\x9f\"}", SB_ERR_INVALID_FIELD,
	    "subject", "control character");
	parse_bad("{\"subject\":\"a\\u0000\"}", SB_ERR_INVALID_FIELD,
	    "subject", "subject: contains a NUL character (\\u0000)");
	/* U+00A0 and U+2028 are not controls. */
	parse_ok("{" SRC "," AUD ",\"subject\":\"a\xc2\xa0\xe2\x80\xa8\"}",
	    &env);
	envelope_clear(&env);
}

static void
test_body(void **state)
{
	struct envelope env;

	(void)state;
	with_ok("\"body\":\"line\\nline\\ttab\\u0001\\u007f\\u0085\"", &env);
	assert_string_equal(env.notice->body,
	    "line\nline\ttab\x01\x7f\xc2\x85");
	envelope_clear(&env);
	with_ok("\"body\":\"\"", &env);
	assert_string_equal(env.notice->body, "");
	envelope_clear(&env);
	with_bad("\"body\":\"a\\u0000b\"", SB_ERR_INVALID_FIELD, "body",
	    "body: contains a NUL character");
}

/* Valid UTF-8 by the standard, not only by shape. */
static void
test_utf8(void **state)
{
	struct envelope env;

	(void)state;
	with_ok("\"body\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
	    "\xf4\x8f\xbf\xbf\xef\xbf\xbf\"", &env);
	envelope_clear(&env);
	/* Bytes yajl rejects itself: bad_json. */
	with_bad("\"body\":\"\xff\"", SB_ERR_BAD_JSON, "",
	    "invalid bytes in UTF8 string");
	with_bad("\"body\":\"\xc3\"", SB_ERR_BAD_JSON, "", "UTF8");
	with_bad("\"body\":\"\x80\"", SB_ERR_BAD_JSON, "", "UTF8");
	/* Well-shaped but invalid: overlong, surrogate, past U+10FFFF. */
	with_bad("\"body\":\"ab\xc0\x80\"", SB_ERR_INVALID_FIELD, "body",
	    "body: invalid UTF-8 at byte 2 of the string");
	with_bad("\"body\":\"\xe0\x80\xaf\"", SB_ERR_INVALID_FIELD, "body",
	    "invalid UTF-8 at byte 0");
	with_bad("\"body\":\"\xed\xa0\x80\"", SB_ERR_INVALID_FIELD, "body",
	    "invalid UTF-8");
	with_bad("\"body\":\"\xf0\x80\x80\x80\"", SB_ERR_INVALID_FIELD,
	    "body", "invalid UTF-8");
	with_bad("\"body\":\"\xf4\x90\x80\x80\"", SB_ERR_INVALID_FIELD,
	    "body", "invalid UTF-8");
	/* A lone low surrogate escape decodes to a surrogate. */
	with_bad("\"body\":\"x\\udc00\"", SB_ERR_INVALID_FIELD, "body",
	    "body: invalid UTF-8 at byte 1");
	with_bad("\"tags\":{\"k\":\"\xed\xbf\xbf\"}", SB_ERR_INVALID_FIELD,
	    "tags", "tags.k: invalid UTF-8");
	parse_bad("{\"audience\":[\"public\",\"dept:\xc1\xbf\"]}",
	    SB_ERR_INVALID_FIELD, "audience", "audience[1]: invalid UTF-8");
}

/* No string anywhere may hold U+0000. */
static void
test_nul_everywhere(void **state)
{
	static const char *const members[] = {
		"\"id\":\"\\u0000\"", "\"body\":\"\\u0000\"",
		"\"priority\":\"high\\u0000\"", "\"goal\":\"\\u0000inform\"",
		"\"class\":\"batch\\u0000\"",
		"\"respond_within\":\"4h\\u0000\"",
		"\"tags\":{\"k\":\"v\\u0000\"}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		with_bad(members[i], SB_ERR_INVALID_FIELD,
		    members[i][1] == 't' ? "tags" :
		    members[i][1] == 'i' ? "id" :
		    members[i][1] == 'b' ? "body" :
		    members[i][1] == 'p' ? "priority" :
		    members[i][1] == 'g' ? "goal" :
		    members[i][1] == 'c' ? "class" : "respond_within",
		    "contains a NUL character");
	with_bad("\"tags\":{\"k\\u0000\":\"v\"}", SB_ERR_INVALID_FIELD,
	    "tags", "tags: key 'k\\x00' has a character outside");
	parse_bad("{\"source\":\"a\\u0000\"}", SB_ERR_INVALID_FIELD,
	    "source", "NUL");
	parse_bad("{\"type\":\"ack\",\"ref\":\"\\u0000\"}",
	    SB_ERR_INVALID_FIELD, "ref", "NUL");
	parse_bad("{\"type\":\"ack\",\"by\":\"a\\u0000\"}",
	    SB_ERR_INVALID_FIELD, "by", "NUL");
	parse_bad("{\"type\":\"ack\",\"note\":\"\\u0000\"}",
	    SB_ERR_INVALID_FIELD, "note", "NUL");
}

static void
test_enums(void **state)
{
	struct envelope env;

	(void)state;
	with_ok("\"priority\":\"low\",\"goal\":\"collect\","
	    "\"class\":\"batch\"", &env);
	assert_int_equal(env.notice->priority, PRIORITY_LOW);
	assert_int_equal(env.notice->goal, GOAL_COLLECT);
	assert_int_equal(env.notice->class_hint, CLASS_BATCH);
	envelope_clear(&env);
	with_ok("\"priority\":\"urgent\",\"goal\":\"relate\","
	    "\"class\":\"realtime\"", &env);
	assert_int_equal(env.notice->priority, PRIORITY_URGENT);
	assert_int_equal(env.notice->goal, GOAL_RELATE);
	assert_int_equal(env.notice->class_hint, CLASS_REALTIME);
	envelope_clear(&env);
	with_bad("\"priority\":\"critical\"", SB_ERR_INVALID_FIELD,
	    "priority", "priority: unknown 'critical' (expected low, "
	    "normal, high, urgent)");
	with_bad("\"priority\":\"HIGH\"", SB_ERR_INVALID_FIELD, "priority",
	    "'HIGH'");
	with_bad("\"priority\":\"highhighhighhighhigh\"",
	    SB_ERR_INVALID_FIELD, "priority", "'highhighhighhighhigh'");
	with_bad("\"goal\":\"sell\"", SB_ERR_INVALID_FIELD, "goal",
	    "goal: unknown 'sell' (expected inform, collect, resolve, "
	    "relate)");
	with_bad("\"class\":\"none\"", SB_ERR_INVALID_FIELD, "class",
	    "class: unknown 'none' (expected realtime, batch, interactive)");
}

static void
test_respond_within(void **state)
{
	struct envelope env;

	(void)state;
	with_ok("\"respond_within\":\"90s\"", &env);
	assert_int_equal(env.notice->respond_within_ms, 90000);
	envelope_clear(&env);
	with_ok("\"respond_within\":\"366d\"", &env);
	envelope_clear(&env);
	with_bad("\"respond_within\":\"0s\"", SB_ERR_INVALID_FIELD,
	    "respond_within", "respond_within: '0s' is not a duration");
	with_bad("\"respond_within\":\"5 min\"", SB_ERR_INVALID_FIELD,
	    "respond_within", "'5 min' is not a duration");
	with_bad("\"respond_within\":\"367d\"", SB_ERR_INVALID_FIELD,
	    "respond_within", "at most 366d");
	with_bad("\"respond_within\":\"\"", SB_ERR_INVALID_FIELD,
	    "respond_within", "'' is not a duration");
	with_bad("\"respond_within\":"
	    "\"99999999999999999999999999999999999999999999s\"",
	    SB_ERR_INVALID_FIELD, "respond_within", "is not a duration");
	with_bad("\"respond_within\":90", SB_ERR_INVALID_FIELD,
	    "respond_within", "expected a string, got a number");
}

static void
test_tags(void **state)
{
	struct envelope env;
	char *json, *list, *s;
	size_t i;

	(void)state;
	with_ok("\"tags\":{}", &env);
	assert_int_equal(env.notice->ntags, 0);
	envelope_clear(&env);
	with_ok("\"tags\":{\"a.b_c-D9\":\"\",\"x\":\"\xc3\xa9\\n\"}", &env);
	assert_int_equal(env.notice->ntags, 2);
	assert_string_equal(notice_tag(env.notice, "a.b_c-D9"), "");
	assert_string_equal(notice_tag(env.notice, "x"), "\xc3\xa9\n");
	envelope_clear(&env);

	list = malloc(33 * 16);
	list[0] = '\0';
	for (i = 0; i < 32; i++)
		sprintf(list + strlen(list), "%s\"k%zu\":\"v\"", i ? "," : "",
		    i);
	json = xasprintf("{" BASE ",\"tags\":{%s}}", list);
	parse_ok(json, &env);
	assert_int_equal(env.notice->ntags, 32);
	envelope_clear(&env);
	free(json);
	json = xasprintf("{" BASE ",\"tags\":{%s,\"more\":\"v\"}}", list);
	parse_bad(json, SB_ERR_INVALID_FIELD, "tags",
	    "tags: more than 32 pairs");
	free(json);
	free(list);

	s = repeat("k", 64);
	json = xasprintf("\"tags\":{\"%s\":\"v\"}", s);
	with_ok(json, &env);
	envelope_clear(&env);
	free(json);
	json = xasprintf("\"tags\":{\"%sk\":\"v\"}", s);
	with_bad(json, SB_ERR_INVALID_FIELD, "tags", "is 65 bytes; keys are "
	    "1 to 64");
	free(json);
	free(s);
	with_bad("\"tags\":{\"\":\"v\"}", SB_ERR_INVALID_FIELD, "tags",
	    "tags: key '' is 0 bytes; keys are 1 to 64");
	with_bad("\"tags\":{\"a b\":\"v\"}", SB_ERR_INVALID_FIELD, "tags",
	    "tags: key 'a b' has a character outside A-Za-z0-9._-");
	with_bad("\"tags\":{\"a:b\":\"v\"}", SB_ERR_INVALID_FIELD, "tags",
	    "key 'a:b' has a character outside");

	s = repeat("v", 256);
	json = xasprintf("\"tags\":{\"k\":\"%s\"}", s);
	with_ok(json, &env);
	envelope_clear(&env);
	free(json);
	json = xasprintf("\"tags\":{\"k\":\"%sv\"}", s);
	with_bad(json, SB_ERR_INVALID_FIELD, "tags",
	    "tags.k: the value is 257 bytes; the limit is 256");
	free(json);
	free(s);
}

static void
test_anonymous(void **state)
{
	struct envelope env;

	(void)state;
	with_ok("\"anonymous\":false", &env);
	assert_int_equal(env.notice->anonymous, 0);
	envelope_clear(&env);
	with_ok("\"anonymous\":true", &env);
	assert_int_equal(env.notice->anonymous, 1);
	/* The broker knows the source; the canonical form does not. */
	assert_string_equal(env.notice->source, "app");
	strcpy(env.notice->id, "x1");
	assert_int_equal(notice_encode(env.notice), 0);
	assert_null(strstr(env.notice->json, "source"));
	assert_null(strstr(env.notice->json, "\"app\""));
	envelope_clear(&env);
	with_bad("\"anonymous\":null", SB_ERR_INVALID_FIELD, "anonymous",
	    "expected a boolean, got null");
}

static void
test_ack(void **state)
{
	struct envelope env;
	char *by, *json;

	(void)state;
	parse_ok("{\"type\":\"ack\",\"ref\":\"n-01J\",\"by\":\"alice\","
	    "\"note\":\"on it\\nnow\",\"score\":4,\"v\":1}", &env);
	assert_int_equal(env.type, ENVELOPE_ACK);
	assert_null(env.notice);
	assert_string_equal(env.ack.ref, "n-01J");
	assert_string_equal(env.ack.by, "alice");
	assert_string_equal(env.ack.note, "on it\nnow");
	assert_int_equal(env.ack.score, 4);
	envelope_clear(&env);
	assert_null(env.ack.note);

	parse_ok("{\"type\":\"ack\",\"ref\":\"a\",\"by\":\"b\"}", &env);
	assert_null(env.ack.note);
	assert_int_equal(env.ack.score, 0);
	envelope_clear(&env);
	parse_ok("{\"type\":\"ack\",\"ref\":\"a\",\"by\":\"b\",\"score\":1}",
	    &env);
	assert_int_equal(env.ack.score, 1);
	envelope_clear(&env);
	parse_ok("{\"type\":\"ack\",\"ref\":\"a\",\"by\":\"b\",\"score\":5}",
	    &env);
	assert_int_equal(env.ack.score, 5);
	envelope_clear(&env);

	parse_bad("{\"type\":\"ack\",\"score\":0}", SB_ERR_INVALID_FIELD,
	    "score", "score: expected an integer from 1 to 5, got 0");
	parse_bad("{\"type\":\"ack\",\"score\":6}", SB_ERR_INVALID_FIELD,
	    "score", "got 6");
	parse_bad("{\"type\":\"ack\",\"score\":2.5}", SB_ERR_INVALID_FIELD,
	    "score", "got 2.5");
	parse_bad("{\"type\":\"ack\",\"score\":-3}", SB_ERR_INVALID_FIELD,
	    "score", "got -3");
	parse_bad("{\"type\":\"ack\",\"score\":18446744073709551619}",
	    SB_ERR_INVALID_FIELD, "score", "got 18446744073709551619");
	parse_bad("{\"type\":\"ack\",\"score\":\"4\"}", SB_ERR_INVALID_FIELD,
	    "score", "score: expected a number, got a string");
	parse_bad("{\"type\":\"ack\",\"ref\":\"a b\"}", SB_ERR_INVALID_FIELD,
	    "ref", "ref: character ' ' at byte 1 is not allowed");
	parse_bad("{\"type\":\"ack\",\"ref\":\"\"}", SB_ERR_INVALID_FIELD,
	    "ref", "ref: must not be empty");
	parse_bad("{\"type\":\"ack\",\"by\":\"\"}", SB_ERR_INVALID_FIELD,
	    "by", "by: must not be empty");
	parse_bad("{\"type\":\"ack\",\"by\":\"a\\nb\"}", SB_ERR_INVALID_FIELD,
	    "by", "by: contains a control character");
	parse_bad("{\"type\":\"ack\",\"id\":\"x\"}", SB_ERR_INVALID_FIELD,
	    "id", "id: not a field of an ack (an ack names its notice in "
	    "'ref')");
	parse_bad("{\"type\":\"ack\",\"ref\":\"a\",\"by\":\"b\"," SUBJ "}",
	    SB_ERR_INVALID_FIELD, "subject", "subject: not a field of an ack");

	/* by: 64 characters, four bytes each, fits ack.by. */
	by = repeat("\xf0\x9f\x98\x80", 64);
	json = xasprintf("{\"type\":\"ack\",\"ref\":\"a\",\"by\":\"%s\"}", by);
	parse_ok(json, &env);
	assert_string_equal(env.ack.by, by);
	envelope_clear(&env);
	free(json);
	json = xasprintf("{\"type\":\"ack\",\"ref\":\"a\",\"by\":\"%sx\"}", by);
	parse_bad(json, SB_ERR_INVALID_FIELD, "by",
	    "by: 65 characters; the limit is 64");
	free(json);
	free(by);
	/* A note kept before a later error is freed (ASan checks). */
	parse_bad("{\"type\":\"ack\",\"note\":\"n\",\"score\":9}",
	    SB_ERR_INVALID_FIELD, "score", "got 9");
}

static void
test_ping(void **state)
{
	struct envelope env;

	(void)state;
	parse_ok("{\"type\":\"ping\"}", &env);
	assert_int_equal(env.type, ENVELOPE_PING);
	assert_null(env.notice);
	envelope_clear(&env);
	parse_ok("{\"v\":1,\"id\":\"p-1\",\"type\":\"ping\"}", &env);
	assert_int_equal(env.type, ENVELOPE_PING);
	assert_null(env.notice);
	envelope_clear(&env);
	parse_bad("{\"type\":\"ping\"," SUBJ "}", SB_ERR_INVALID_FIELD,
	    "subject", "subject: not a field of a ping");
	parse_bad("{" SRC ",\"type\":\"ping\"}", SB_ERR_INVALID_FIELD,
	    "source", "source: not a field of a ping");
	parse_bad("{\"type\":\"ping\",\"ref\":\"x\"}", SB_ERR_INVALID_FIELD,
	    "ref", "ref: not a field of a ping");
}

/* Parts already built when a later field fails are freed (ASan). */
static void
test_failure_keeps_nothing(void **state)
{
	(void)state;
	parse_bad("{\"id\":\"a\"," SRC ",\"audience\":[\"public\","
	    "\"dept:x\"],\"body\":\"b\",\"tags\":{\"k\":\"v\",\"j\":1}}",
	    SB_ERR_INVALID_FIELD, "tags", "tags.j: expected a string");
	parse_bad("{" BASE ",\"body\":\"b\",\"tags\":{\"k\":\"v\"},"
	    "\"nope\":1}", SB_ERR_INVALID_FIELD, "nope", "unknown field");
	parse_bad("{" BASE ",\"tags\":{\"k\":", SB_ERR_BAD_JSON, "",
	    "premature EOF");
	parse_bad("{" BASE ",\"tags\":{\"k\":\"v\"}}}", SB_ERR_BAD_JSON, "",
	    "not valid JSON");
}

/* A wire notice through the broker's hands and back from the spool. */
static void
test_stored_round_trip(void **state)
{
	struct envelope_error err;
	struct envelope env;
	struct notice *n, *back;
	size_t i;

	(void)state;
	parse_ok(bench_notice, &env);
	n = env.notice;
	n->class = CLASS_INTERACTIVE;
	n->received_ms = 1714566896789LL;
	assert_int_equal(notice_encode(n), 0);
	back = envelope_parse_stored(n->json, n->json_len, &err);
	if (back == NULL)
		fail_msg("%s: %s\n%s", sb_error_name(err.code), err.message,
		    n->json);
	assert_string_equal(back->id, n->id);
	assert_int_equal(back->class, CLASS_INTERACTIVE);
	assert_int_equal(back->class_hint, CLASS_NONE);
	assert_string_equal(back->source, n->source);
	assert_int_equal(back->naudience, n->naudience);
	for (i = 0; i < n->naudience; i++)
		assert_string_equal(back->audience[i], n->audience[i]);
	assert_string_equal(back->subject, n->subject);
	assert_string_equal(back->body, n->body);
	assert_int_equal(back->priority, n->priority);
	assert_int_equal(back->goal, n->goal);
	assert_int_equal(back->respond_within_ms, n->respond_within_ms);
	assert_int_equal(back->ntags, n->ntags);
	for (i = 0; i < n->ntags; i++) {
		assert_string_equal(back->tags[i].key, n->tags[i].key);
		assert_string_equal(back->tags[i].value, n->tags[i].value);
	}
	assert_int_equal(back->received_ms, n->received_ms);
	assert_int_equal(back->json_len, n->json_len);
	assert_memory_equal(back->json, n->json, n->json_len);
	assert_int_equal(back->refs, 1);
	/* Encoding what came back gives the same bytes. */
	assert_int_equal(notice_encode(back), 0);
	assert_string_equal(back->json, n->json);
	notice_unref(back);
	envelope_clear(&env);
}

static void
test_stored_anonymous(void **state)
{
	struct envelope_error err;
	struct envelope env;
	struct notice *back;

	(void)state;
	with_ok("\"anonymous\":true,\"id\":\"q-1\"", &env);
	env.notice->class = CLASS_BATCH;
	assert_int_equal(notice_encode(env.notice), 0);
	back = envelope_parse_stored(env.notice->json, env.notice->json_len,
	    &err);
	assert_non_null(back);
	assert_null(back->source);
	assert_int_equal(back->anonymous, 1);
	assert_int_equal(back->class, CLASS_BATCH);
	notice_unref(back);
	envelope_clear(&env);
}

static void
stored_bad(const char *json, enum sb_error code, const char *field,
    const char *want)
{
	struct envelope_error err;
	struct notice *n;

	n = envelope_parse_stored(json, strlen(json), &err);
	if (n != NULL) {
		notice_unref(n);
		fail_msg("accepted: %s", json);
	}
	if (err.code != code || strcmp(err.field, field) != 0 ||
	    strstr(err.message, want) == NULL)
		fail_msg("got %s field '%s' \"%s\"\n want %s '%s' \"%s\"",
		    sb_error_name(err.code), err.field, err.message,
		    sb_error_name(code), field, want);
}

#define STORED_AT	"\"received_at\":\"2024-05-01T12:34:56.789Z\""

static void
test_stored_rules(void **state)
{
	struct envelope_error err;
	struct notice *n;
	const char *ok = "{\"id\":\"a\"," BASE "," STORED_AT "}";

	(void)state;
	n = envelope_parse_stored(ok, strlen(ok), &err);
	assert_non_null(n);
	assert_int_equal(n->class, CLASS_NONE);
	assert_int_equal(n->received_ms, 1714566896789LL);
	assert_string_equal(n->json, ok);
	notice_unref(n);

	stored_bad("{" BASE "," STORED_AT "}", SB_ERR_MISSING_FIELD, "id",
	    "missing field 'id' (required in a stored notice)");
	stored_bad("{\"id\":\"a\"," BASE "}", SB_ERR_MISSING_FIELD,
	    "received_at", "missing field 'received_at'");
	stored_bad("{\"id\":\"a\"," AUD "," SUBJ "," STORED_AT "}",
	    SB_ERR_MISSING_FIELD, "source", "missing field 'source'");
	stored_bad("{\"id\":\"a\",\"type\":\"ack\"," BASE "," STORED_AT "}",
	    SB_ERR_UNKNOWN_TYPE, "type", "unknown type 'ack'");
	stored_bad("{\"id\":\"a\",\"ref\":\"b\"," BASE "," STORED_AT "}",
	    SB_ERR_INVALID_FIELD, "ref", "unknown field 'ref'");
	stored_bad("{\"id\":\"a\",\"subject\":\"\\n\"}",
	    SB_ERR_INVALID_FIELD, "subject", "control character");
	stored_bad("{\"id\":\"a\",\"class\":\"fast\"}", SB_ERR_INVALID_FIELD,
	    "class", "class: unknown 'fast'");
	stored_bad("x", SB_ERR_BAD_JSON, "", "not valid JSON");

	stored_bad("{\"received_at\":\"2024-02-30T00:00:00.000Z\"}",
	    SB_ERR_INVALID_FIELD, "received_at",
	    "received_at: '2024-02-30T00:00:00.000Z' is not a UTC time");
	stored_bad("{\"received_at\":\"2024-05-01T12:34:56Z\"}",
	    SB_ERR_INVALID_FIELD, "received_at", "not a UTC time");
	stored_bad("{\"received_at\":\"2024-05-01T12:34:56.789z\"}",
	    SB_ERR_INVALID_FIELD, "received_at", "not a UTC time");
	stored_bad("{\"received_at\":\"2024-05-01 12:34:56.789Z\"}",
	    SB_ERR_INVALID_FIELD, "received_at", "not a UTC time");
	stored_bad("{\"received_at\":\"2024-05-01T12:34:60.789Z\"}",
	    SB_ERR_INVALID_FIELD, "received_at", "not a UTC time");
	stored_bad("{\"received_at\":\"2024-05-01T12:34:56.78xZ\"}",
	    SB_ERR_INVALID_FIELD, "received_at", "not a UTC time");
	stored_bad("{\"received_at\":\" 024-05-01T12:34:56.789Z\"}",
	    SB_ERR_INVALID_FIELD, "received_at", "not a UTC time");
	stored_bad("{\"received_at\":1714566896789}", SB_ERR_INVALID_FIELD,
	    "received_at", "expected a string, got a number");
}

static void
test_reply_notice(void **state)
{
	const char *channels[] = { "ops-chat", "mgmt-mail" };
	struct notice *n = notice_new();
	size_t len;
	char *r;

	(void)state;
	strcpy(n->id, "n-01J");
	n->class = CLASS_INTERACTIVE;
	r = envelope_reply_notice(n, channels, 2, 0, &len);
	assert_string_equal(r, "{\"ok\":true,\"id\":\"n-01J\","
	    "\"class\":\"interactive\",\"channels\":[\"ops-chat\","
	    "\"mgmt-mail\"],\"duplicate\":false}");
	assert_int_equal(len, strlen(r));
	free(r);
	r = envelope_reply_notice(n, NULL, 0, 1, &len);
	assert_string_equal(r, "{\"ok\":true,\"id\":\"n-01J\","
	    "\"class\":\"interactive\",\"channels\":[],\"duplicate\":true}");
	free(r);
	notice_unref(n);
}

static void
test_reply_ack_pong(void **state)
{
	size_t len;
	char *r;

	(void)state;
	r = envelope_reply_ack("n-01J", 8123, &len);
	assert_string_equal(r,
	    "{\"ok\":true,\"ref\":\"n-01J\",\"response_ms\":8123}");
	assert_int_equal(len, strlen(r));
	free(r);
	r = envelope_reply_pong(&len);
	assert_string_equal(r, "{\"ok\":true,\"pong\":true}");
	free(r);
}

static void
test_reply_error(void **state)
{
	struct envelope_error err;
	size_t len;
	char *r;

	(void)state;
	memset(&err, 'x', sizeof(err));	/* stale garbage must not leak */
	envelope_error_set(&err, SB_ERR_NO_ROUTE, NULL,
	    "no route matches source '%s'", "app");
	assert_string_equal(err.id, "");
	assert_string_equal(err.field, "");
	r = envelope_reply_error(&err, &len);
	assert_string_equal(r, "{\"ok\":false,\"error\":{\"code\":"
	    "\"no_route\",\"message\":\"no route matches source 'app'\"}}");
	free(r);

	strcpy(err.id, "job-7");
	err.code = SB_ERR_INVALID_FIELD;
	strcpy(err.field, "audience");
	strcpy(err.message, "a \"quoted\" \\ message");
	r = envelope_reply_error(&err, &len);
	assert_string_equal(r, "{\"ok\":false,\"id\":\"job-7\",\"error\":"
	    "{\"code\":\"invalid_field\",\"field\":\"audience\",\"message\":"
	    "\"a \\\"quoted\\\" \\\\ message\"}}");
	free(r);
}

/* A message cut inside a UTF-8 character loses the half character. */
static void
test_reply_error_truncated_utf8(void **state)
{
	struct envelope_error err;
	char *e_acute = repeat("\xc3\xa9", 200);
	size_t len;
	char *r, *want;

	(void)state;
	envelope_error_set(&err, SB_ERR_NO_ROUTE, NULL, "%s", e_acute);
	assert_int_equal(strlen(err.message), 255);	/* cut mid-way */
	r = envelope_reply_error(&err, &len);
	if (!is_json(r, len))
		fail_msg("not JSON: %s", r);
	e_acute[254] = '\0';
	want = xasprintf("{\"ok\":false,\"error\":{\"code\":\"no_route\","
	    "\"message\":\"%s\"}}", e_acute);
	assert_string_equal(r, want);
	free(want);
	free(r);
	free(e_acute);
}

/* Whatever the input, the error reply is valid JSON (ASCII messages). */
static void
test_reply_error_hostile(void **state)
{
	static const char *const inputs[] = {
		"{\"\xc3\xa9\\\"\\u0001\\u0000\":1}",
		"{\"audience\":[\"\xe2\x82\xac\\\\:x\"]}",
		"{\"priority\":\"\\ud83d\\ude00\\\"\"}",
		"{\"tags\":{\"\\\"\":\"v\"}}",
		"{\"v\":-1e-999999}",
		"{\"body\":\"\xf4\x90\x80\x80\"}",
		"{\"id\":\"\xff\"}",
	};
	struct envelope_error err;
	struct envelope env;
	size_t i, len;
	char *r;

	(void)state;
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		assert_int_equal(envelope_parse(inputs[i], strlen(inputs[i]),
		    MAX, &env, &err), -1);
		r = envelope_reply_error(&err, &len);
		if (!is_json(r, len))
			fail_msg("not JSON: %s", r);
		free(r);
	}
}

static double
bench(size_t count)
{
	struct envelope_error err;
	struct envelope env;
	struct timespec a, b;
	size_t i;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < count; i++) {
		if (envelope_parse(bench_notice, sizeof(bench_notice) - 1,
		    MAX, &env, &err) != 0)
			abort();
		envelope_clear(&env);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	s = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	return (count / s);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_notice),
		cmocka_unit_test(test_full_notice),
		cmocka_unit_test(test_type),
		cmocka_unit_test(test_type_late),
		cmocka_unit_test(test_unknown_field),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_wrong_json_type),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_error_id),
		cmocka_unit_test(test_source),
		cmocka_unit_test(test_audience),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_nul_everywhere),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_respond_within),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_anonymous),
		cmocka_unit_test(test_ack),
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_failure_keeps_nothing),
		cmocka_unit_test(test_stored_round_trip),
		cmocka_unit_test(test_stored_anonymous),
		cmocka_unit_test(test_stored_rules),
		cmocka_unit_test(test_reply_notice),
		cmocka_unit_test(test_reply_ack_pong),
		cmocka_unit_test(test_reply_error),
		cmocka_unit_test(test_reply_error_truncated_utf8),
		cmocka_unit_test(test_reply_error_hostile),
	};
	size_t count;

	if (argc > 1 && strcmp(argv[1], "bench") == 0) {
		count = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000000;
		printf("%zu-byte notice: %.0f parses/s\n",
		    sizeof(bench_notice) - 1, bench(count));
		return (0);
	}
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
