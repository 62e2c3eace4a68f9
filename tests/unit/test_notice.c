/*
 * test_notice.c: a notice's life, its broker ids, its canonical JSON and
 * the names of its vocabulary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <yajl/yajl_gen.h>

#include "notice.h"

#define CROCKFORD	"0123456789ABCDEFGHJKMNPQRSTVWXYZ"

static char *
xstrdup(const char *s)
{
	char *copy = strdup(s);

	assert_non_null(copy);
	return (copy);
}

/* A notice with every optional part filled. */
static struct notice *
full_notice(void)
{
	struct notice *n = notice_new();

	assert_non_null(n);
	strcpy(n->id, "order-17");
	n->class = CLASS_INTERACTIVE;
	n->source = xstrdup("billing");
	n->naudience = 2;
	n->audience = calloc(2, sizeof(char *));
	assert_non_null(n->audience);
	n->audience[0] = xstrdup("dept:ops");
	n->audience[1] = xstrdup("public");
	n->subject = xstrdup("Invoice \"42\" \xc3\xa9t\xc3\xa9");
	n->body = xstrdup("line 1\nline 2\t/");
	n->priority = PRIORITY_HIGH;
	n->goal = GOAL_RESOLVE;
	n->respond_within_ms = 90000;
	n->ntags = 2;
	n->tags = calloc(2, sizeof(*n->tags));
	assert_non_null(n->tags);
	n->tags[0].key = xstrdup("team");
	n->tags[0].value = xstrdup("core");
	n->tags[1].key = xstrdup("ticket");
	n->tags[1].value = xstrdup("T-9");
	n->received_ms = 1714566896789LL;
	return (n);
}

static void
test_new_defaults(void **state)
{
	struct notice *n = notice_new();

	(void)state;
	assert_non_null(n);
	assert_string_equal(n->id, "");
	assert_int_equal(n->id_assigned, 0);
	assert_int_equal(n->priority, PRIORITY_NORMAL);
	assert_int_equal(n->goal, GOAL_INFORM);
	assert_int_equal(n->class_hint, CLASS_NONE);
	assert_int_equal(n->class, CLASS_NONE);
	assert_int_equal(n->respond_within_ms, 0);
	assert_int_equal(n->anonymous, 0);
	assert_null(n->source);
	assert_null(n->body);
	assert_null(n->json);
	assert_int_equal(n->refs, 1);
	notice_unref(n);
	notice_unref(NULL);		/* harmless */
}

/* Freed at the last reference only (a leak or a double free shows). */
static void
test_ref_unref(void **state)
{
	struct notice *n = full_notice();

	(void)state;
	notice_ref(n);
	notice_ref(n);
	assert_int_equal(n->refs, 3);
	notice_unref(n);
	notice_unref(n);
	assert_int_equal(n->refs, 1);
	assert_string_equal(n->subject, "Invoice \"42\" \xc3\xa9t\xc3\xa9");
	assert_int_equal(notice_encode(n), 0);
	notice_unref(n);		/* frees strings, tags and json */
}

static void
test_tag(void **state)
{
	struct notice *n = full_notice();

	(void)state;
	assert_string_equal(notice_tag(n, "team"), "core");
	assert_string_equal(notice_tag(n, "ticket"), "T-9");
	assert_null(notice_tag(n, "tea"));
	assert_null(notice_tag(n, "teams"));
	notice_unref(n);
}

/* Decode the 48-bit ms of a ULID's first 10 letters. */
static uint64_t
id_ms(const char *id)
{
	uint64_t ms = 0;
	int i;

	for (i = 2; i < 12; i++)
		ms = ms * 32 + (uint64_t)(strchr(CROCKFORD, id[i]) - CROCKFORD);
	return (ms);
}

static void
test_id_shape(void **state)
{
	struct notice *n = notice_new();
	struct timespec ts;
	int64_t before, after;
	size_t i;

	(void)state;
	clock_gettime(CLOCK_REALTIME, &ts);
	before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	notice_assign_id(n);
	clock_gettime(CLOCK_REALTIME, &ts);
	after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

	assert_int_equal(n->id_assigned, 1);
	assert_int_equal(strlen(n->id), 28);
	assert_memory_equal(n->id, "n-", 2);
	for (i = 2; i < 28; i++)
		if (strchr(CROCKFORD, n->id[i]) == NULL)
			fail_msg("'%c' in %s is not Crockford base32",
			    n->id[i], n->id);
	assert_true(n->id[2] <= '7');	/* 48 bits in 50 */
	/* The timestamp is now (or just after, if it counted up). */
	assert_true((int64_t)id_ms(n->id) >= before);
	assert_true((int64_t)id_ms(n->id) <= after + 1);
	notice_unref(n);
}

/* 100k ids made as fast as possible: unique and strictly increasing. */
static void
test_id_monotonic(void **state)
{
	struct notice *n = notice_new();
	char prev[SB_ID_MAX + 1];
	int i;

	(void)state;
	notice_assign_id(n);
	strcpy(prev, n->id);
	for (i = 0; i < 100000; i++) {
		notice_assign_id(n);
		if (strcmp(prev, n->id) >= 0)
			fail_msg("id %d: %s does not follow %s", i, n->id,
			    prev);
		strcpy(prev, n->id);
	}
	notice_unref(n);
}

/* The 80 random bits of a ULID: its last 16 letters. */
static unsigned __int128
id_random(const char *id)
{
	unsigned __int128 r = 0;
	int i;

	for (i = 12; i < 28; i++)
		r = r * 32 + (unsigned)(strchr(CROCKFORD, id[i]) - CROCKFORD);
	return (r);
}

/* Two ids in one ms: the second is the first plus one. */
static void
test_id_same_ms_increments(void **state)
{
	struct notice *a = notice_new(), *b = notice_new();
	int tries;

	(void)state;
	for (tries = 0; tries < 1000; tries++) {
		notice_assign_id(a);
		notice_assign_id(b);
		if (memcmp(a->id, b->id, 12) == 0)
			break;
	}
	assert_true(tries < 1000);
	assert_true(id_random(b->id) == id_random(a->id) + 1);
	notice_unref(a);
	notice_unref(b);
}

static void
test_encode_full(void **state)
{
	struct notice *n = full_notice();
	const char *want = "{\"id\":\"order-17\",\"class\":\"interactive\","
	    "\"source\":\"billing\",\"audience\":[\"dept:ops\",\"public\"],"
	    "\"subject\":\"Invoice \\\"42\\\" \xc3\xa9t\xc3\xa9\","
	    "\"body\":\"line 1\\nline 2\\t/\",\"priority\":\"high\","
	    "\"goal\":\"resolve\",\"respond_within\":\"90s\","
	    "\"tags\":{\"team\":\"core\",\"ticket\":\"T-9\"},"
	    "\"received_at\":\"2024-05-01T12:34:56.789Z\"}";

	(void)state;
	assert_int_equal(notice_encode(n), 0);
	assert_string_equal(n->json, want);
	assert_int_equal(n->json_len, strlen(want));
	/* Encoding again replaces the old form (no leak). */
	n->priority = PRIORITY_LOW;
	assert_int_equal(notice_encode(n), 0);
	assert_non_null(strstr(n->json, "\"priority\":\"low\""));
	notice_unref(n);
}

/* Anonymity: the source never reaches the canonical form. */
static void
test_encode_anonymous(void **state)
{
	struct notice *n = full_notice();

	(void)state;
	n->anonymous = 1;
	assert_int_equal(notice_encode(n), 0);
	assert_null(strstr(n->json, "source"));
	assert_null(strstr(n->json, "billing"));
	assert_non_null(strstr(n->json,
	    "\"anonymous\":true,\"received_at\""));
	notice_unref(n);
}

/* Absent parts are left out, not written empty. */
static void
test_encode_minimal(void **state)
{
	struct notice *n = notice_new();

	(void)state;
	strcpy(n->id, "x");
	n->source = xstrdup("app");
	n->naudience = 1;
	n->audience = calloc(1, sizeof(char *));
	n->audience[0] = xstrdup("public");
	n->subject = xstrdup("hi");
	n->received_ms = 0;
	assert_int_equal(notice_encode(n), 0);
	assert_string_equal(n->json, "{\"id\":\"x\",\"source\":\"app\","
	    "\"audience\":[\"public\"],\"subject\":\"hi\","
	    "\"priority\":\"normal\",\"goal\":\"inform\","
	    "\"received_at\":\"1970-01-01T00:00:00.000Z\"}");
	notice_unref(n);
}

static void
test_encode_received_at(void **state)
{
	struct notice *n = full_notice();

	(void)state;
	n->received_ms = -1;		/* 1 ms before the epoch */
	assert_int_equal(notice_encode(n), 0);
	assert_non_null(strstr(n->json,
	    "\"received_at\":\"1969-12-31T23:59:59.999Z\""));
	n->received_ms = 1714566896007LL;
	assert_int_equal(notice_encode(n), 0);
	assert_non_null(strstr(n->json,
	    "\"received_at\":\"2024-05-01T12:34:56.007Z\""));
	notice_unref(n);
}

/*
 * The formatter keeps the last second it formatted: the same second with
 * other ms, a step back, and back again each come out right; a year that
 * is not four digits is said in ms.
 */
static void
test_time_format_cache(void **state)
{
	static const struct {
		int64_t		 ms;
		const char	*want;
	} cases[] = {
		{ 1714566896007LL, "2024-05-01T12:34:56.007Z" },
		{ 1714566896999LL, "2024-05-01T12:34:56.999Z" },
		{ 1714566895000LL, "2024-05-01T12:34:55.000Z" },
		{ 1714566896100LL, "2024-05-01T12:34:56.100Z" },
		{ -1000LL, "1969-12-31T23:59:59.000Z" },
		{ -999LL, "1969-12-31T23:59:59.001Z" },
		{ 253402300800000LL, "253402300800000 ms" },	/* 10000-01-01 */
		{ 1714566896100LL, "2024-05-01T12:34:56.100Z" },
	};
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		notice_time_format(cases[i].ms, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
	}
}

/* yajl's own encoding of one string, quotes included: the reference. */
static char *
yajl_quoted(const char *s)
{
	const unsigned char *out;
	size_t len;
	yajl_gen g = yajl_gen_alloc(NULL);
	char *copy;

	assert_non_null(g);
	assert_int_equal(yajl_gen_string(g, (const unsigned char *)s,
	    strlen(s)), yajl_gen_status_ok);
	yajl_gen_get_buf(g, &out, &len);
	copy = strndup((const char *)out, len);
	assert_non_null(copy);
	yajl_gen_free(g);
	return (copy);
}

/*
 * Values copied as they are and values yajl escapes give the same bytes
 * as yajl alone would: random strings of quotes, backslashes, control
 * characters, slashes and UTF-8, in every member that holds text.
 */
static void
test_encode_escapes_like_yajl(void **state)
{
	static const char *const pieces[] = {
		"a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f",
		"\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x93\xa2", "{",
		"}", "[", ":", ",", "\\u0041"
	};
	struct notice *n;
	char subj[128], want[512], *q;
	int i, j, len;

	(void)state;
	srandom(7);
	for (i = 0; i < 2000; i++) {
		subj[0] = '\0';
		len = (int)(random() % 12);
		for (j = 0; j < len; j++)
			strcat(subj, pieces[random() % (sizeof(pieces) /
			    sizeof(pieces[0]))]);
		n = full_notice();
		free(n->subject);
		n->subject = xstrdup(subj);
		free(n->tags[0].value);
		n->tags[0].value = xstrdup(subj);
		free(n->audience[1]);
		n->audience[1] = xstrdup(subj);
		assert_int_equal(notice_encode(n), 0);
		q = yajl_quoted(subj);
		snprintf(want, sizeof(want), "\"subject\":%s,", q);
		assert_non_null(strstr(n->json, want));
		snprintf(want, sizeof(want), "\"team\":%s,", q);
		assert_non_null(strstr(n->json, want));
		snprintf(want, sizeof(want), "[\"dept:ops\",%s]", q);
		assert_non_null(strstr(n->json, want));
		assert_int_equal(strlen(n->json), n->json_len);
		free(q);
		notice_unref(n);
	}
}

/* A body larger than the first buffer grows it. */
static void
test_encode_large(void **state)
{
	struct notice *n = full_notice();
	char *body;

	(void)state;
	body = malloc(60001);
	memset(body, '"', 60000);	/* each becomes \" */
	body[60000] = '\0';
	free(n->body);
	n->body = body;
	assert_int_equal(notice_encode(n), 0);
	assert_true(n->json_len > 120000);
	assert_int_equal(strlen(n->json), n->json_len);
	assert_int_equal(n->json[n->json_len - 1], '}');
	notice_unref(n);
}

static void
test_names(void **state)
{
	int i;

	(void)state;
	assert_string_equal(notice_class_name(CLASS_REALTIME), "realtime");
	assert_string_equal(notice_class_name(CLASS_BATCH), "batch");
	assert_string_equal(notice_class_name(CLASS_INTERACTIVE),
	    "interactive");
	assert_string_equal(notice_class_name(CLASS_NONE), "none");
	assert_string_equal(notice_priority_name(PRIORITY_URGENT), "urgent");
	assert_string_equal(notice_goal_name(GOAL_RELATE), "relate");
	assert_string_equal(notice_audience_kind_name(AUDIENCE_MGMT), "mgmt");
	assert_string_equal(notice_audience_kind_name(AUDIENCE_PUBLIC),
	    "public");
	assert_string_equal(notice_priority_name(PRIORITY_COUNT), "unknown");

	for (i = 0; i < CLASS_COUNT; i++)
		assert_int_equal(notice_class_parse(notice_class_name(i)), i);
	for (i = 0; i < PRIORITY_COUNT; i++)
		assert_int_equal(notice_priority_parse(
		    notice_priority_name(i)), i);
	for (i = 0; i < GOAL_COUNT; i++)
		assert_int_equal(notice_goal_parse(notice_goal_name(i)), i);
	for (i = 0; i < AUDIENCE_COUNT; i++) {
		const char *k = notice_audience_kind_name(i);

		assert_int_equal(notice_audience_kind_parse(k, strlen(k)), i);
	}
	assert_int_equal(notice_class_parse("Batch"), -1);
	assert_int_equal(notice_class_parse("none"), -1);
	assert_int_equal(notice_priority_parse(""), -1);
	assert_int_equal(notice_priority_parse("highest"), -1);
	assert_int_equal(notice_goal_parse("info"), -1);
}

/* The kind is the part before ':' — the length says where it ends. */
static void
test_audience_kind_parse(void **state)
{
	(void)state;
	assert_int_equal(notice_audience_kind_parse("dept:ops", 4),
	    AUDIENCE_DEPT);
	assert_int_equal(notice_audience_kind_parse("customer:*", 8),
	    AUDIENCE_CUSTOMER);
	assert_int_equal(notice_audience_kind_parse("dept:ops", 3), -1);
	assert_int_equal(notice_audience_kind_parse("dept:ops", 5), -1);
	assert_int_equal(notice_audience_kind_parse("dpt", 3), -1);
	assert_int_equal(notice_audience_kind_parse("", 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_defaults),
		cmocka_unit_test(test_ref_unref),
		cmocka_unit_test(test_tag),
		cmocka_unit_test(test_id_shape),
		cmocka_unit_test(test_id_monotonic),
		cmocka_unit_test(test_id_same_ms_increments),
		cmocka_unit_test(test_encode_full),
		cmocka_unit_test(test_encode_anonymous),
		cmocka_unit_test(test_encode_minimal),
		cmocka_unit_test(test_encode_received_at),
		cmocka_unit_test(test_time_format_cache),
		cmocka_unit_test(test_encode_large),
		cmocka_unit_test(test_encode_escapes_like_yajl),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_audience_kind_parse),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
