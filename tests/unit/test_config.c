/*
 * test_config.c: config_load on the default config and every fixture of
 * tests/conf (good ones load; each bad one fails with the messages its
 * "# expect:" lines name), defaults, every option of a full file, error
 * collection and its cap, the hash, and docs/config.md against the option
 * table. Paths are relative to the source tree: $SB_SRCDIR, or the working
 * directory (tests run from the top of the tree).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "adapter.h"
#include "config.h"
#include "match.h"
#include "notice.h"
#include "route.h"

#define EXPECT_MAX	16
#define EXPECT_LEN	512

#define DOCS_BEGIN	"<!-- BEGIN OPTIONS: made by config_dump_options(); " \
			"test_config checks it -->\n"
#define DOCS_END	"<!-- END OPTIONS -->\n"

static char	srcdir[1024];

static int
group_setup(void **state)
{
	const char *s = getenv("SB_SRCDIR");

	(void)state;
	snprintf(srcdir, sizeof(srcdir), "%s", s != NULL ? s : ".");
	return (0);
}

static void
src_path(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", srcdir, rel);
}

static void
print_errors(const struct config_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		print_error("error: %s\n", errs->msgs[i]);
}

/* Load a file that must be valid. */
static struct config *
load_good(const char *path)
{
	struct config_errors errs = { .n = 0 };
	struct config *cf;

	if ((cf = config_load(path, &errs)) == NULL) {
		print_errors(&errs);
		config_errors_clear(&errs);
		fail_msg("%s did not load", path);
	}
	assert_int_equal(errs.n, 0);
	return (cf);
}

/* Write text to a temporary file; the caller unlinks path. */
static void
write_temp(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/test_config-XXXXXX.conf");
	if ((fd = mkstemps(path, 5)) == -1)
		fail_msg("mkstemps failed");
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int
has_error(const struct config_errors *errs, const char *want)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		if (strstr(errs->msgs[i], want) != NULL)
			return (1);
	return (0);
}

/* Load text that must fail with an error containing want. */
static void
load_bad_text(const char *text, const char *want)
{
	struct config_errors errs = { .n = 0 };
	char path[64];
	struct config *cf;

	write_temp(path, text);
	cf = config_load(path, &errs);
	unlink(path);
	if (cf != NULL)
		fail_msg("loaded, want an error with \"%s\"", want);
	if (!has_error(&errs, want)) {
		print_errors(&errs);
		fail_msg("no error contains \"%s\"", want);
	}
	config_errors_clear(&errs);
}

static void
test_default_conf(void **state)
{
	char path[1200];
	struct config *cf;
	size_t i;

	(void)state;
	src_path(path, sizeof(path), "conf/switchboard.conf");
	cf = load_good(path);
	assert_int_equal(cf->nrouter, 2);
	assert_string_equal(cf->router[0], "tcp://127.0.0.1:7450");
	assert_string_equal(cf->router[1], "ipc://var/switchboard.ipc");
	assert_string_equal(cf->status_socket, "var/switchboard.sock");
	assert_string_equal(cf->spool_path, "var/spool.db");
	assert_int_equal(strlen(cf->hash), 16);
	assert_true(cf->nrules > 0);
	/* Every adapter type is shown, and every mode. */
	assert_true(config_channel_index(cf, "ops-fanout") >= 0);
	assert_ptr_equal(cf->channels[config_channel_index(cf, "ops-fanout")]
	    .ops, &adapter_zmq_pub_ops);
	assert_ptr_equal(cf->channels[config_channel_index(cf,
	    "incident-hook")].ops, &adapter_exec_ops);
	assert_ptr_equal(cf->channels[config_channel_index(cf, "sink")].ops,
	    &adapter_discard_ops);
	assert_ptr_equal(cf->channels[config_channel_index(cf,
	    "staff-bulletin")].ops, &adapter_file_ops);
	assert_int_equal(cf->channels[config_channel_index(cf,
	    "staff-chat-pilot")].mode, MODE_PILOT);
	assert_int_equal(cf->channels[config_channel_index(cf,
	    "legacy-pager")].mode, MODE_DISABLED);
	for (i = 0; i < cf->nchannels; i++)
		assert_ptr_equal(cf->channels[i].setting,
		    config_setting_get_elem(config_lookup(&cf->lc, "channels"),
		    (unsigned)i));
	config_free(cf);
}

static void
test_good_fixtures(void **state)
{
	char pattern[1200];
	glob_t g;
	size_t i;

	(void)state;
	src_path(pattern, sizeof(pattern), "tests/conf/good-*.conf");
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 2);
	for (i = 0; i < g.gl_pathc; i++)
		config_free(load_good(g.gl_pathv[i]));
	globfree(&g);
}

/* The "# expect: " lines at the top of a fixture. */
static size_t
fixture_expects(const char *path, char expects[][EXPECT_LEN])
{
	char line[EXPECT_LEN + 16];
	size_t n = 0, len;
	FILE *f;

	assert_non_null(f = fopen(path, "r"));
	while (n < EXPECT_MAX && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "# expect: ", 10) != 0)
			break;
		len = strcspn(line + 10, "\n");
		snprintf(expects[n++], EXPECT_LEN, "%.*s", (int)len, line + 10);
	}
	fclose(f);
	return (n);
}

static void
check_bad_fixture(const char *path)
{
	char expects[EXPECT_MAX][EXPECT_LEN], prefix[1300];
	struct config_errors errs = { .n = 0 };
	size_t i, n;

	if ((n = fixture_expects(path, expects)) == 0)
		fail_msg("%s: its first line is not \"# expect: ...\"", path);
	if (config_load(path, &errs) != NULL)
		fail_msg("%s loaded, want an error", path);
	snprintf(prefix, sizeof(prefix), "%s:", path);
	for (i = 0; i < errs.n; i++)
		if (strncmp(errs.msgs[i], prefix, strlen(prefix)) != 0) {
			print_errors(&errs);
			fail_msg("%s: error without its file: %s", path,
			    errs.msgs[i]);
		}
	for (i = 0; i < n; i++) {
		if (has_error(&errs, expects[i]))
			continue;
		print_errors(&errs);
		fail_msg("%s: no error contains \"%s\"", path, expects[i]);
	}
	/* A fixture with several expectations has exactly those errors. */
	if (n > 1 && errs.n != n) {
		print_errors(&errs);
		fail_msg("%s: %zu errors, want %zu", path, errs.n, n);
	}
	config_errors_clear(&errs);
}

static void
test_bad_fixtures(void **state)
{
	char pattern[1200];
	glob_t g;
	size_t i;

	(void)state;
	src_path(pattern, sizeof(pattern), "tests/conf/bad-*.conf");
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 12);
	for (i = 0; i < g.gl_pathc; i++)
		check_bad_fixture(g.gl_pathv[i]);
	globfree(&g);
}

static void
test_defaults(void **state)
{
	const struct channel_conf *ch;
	char path[1200];
	struct config *cf;

	(void)state;
	src_path(path, sizeof(path), "tests/conf/good-minimal.conf");
	cf = load_good(path);
	assert_string_equal(cf->log_level, "info");
	assert_int_equal(cf->shutdown_timeout_ms, 5000);
	assert_int_equal(cf->npull, 0);
	assert_int_equal(cf->max_message_size, 65536);
	assert_int_equal(cf->rcvhwm, 10000);
	assert_int_equal(cf->sndhwm, 10000);
	assert_int_equal(cf->reply_queue_max, 10000);
	assert_string_equal(cf->spool_path, "var/spool.db");
	assert_int_equal(cf->spool_sync, 1);
	assert_int_equal(cf->dedup_window_ms, 24LL * 3600 * 1000);
	assert_int_equal(cf->retain_ms, 30LL * 86400 * 1000);
	assert_string_equal(cf->status_socket, "var/switchboard.sock");
	assert_int_equal(cf->nadmin_uids, 0);
	assert_int_equal(cf->trust_hint, 0);
	assert_int_equal(cf->nrules, 0);
	assert_int_equal(cf->policies[CLASS_REALTIME].deliver_within_ms, 5000);
	assert_int_equal(cf->policies[CLASS_BATCH].window_ms, 15 * 60000);
	assert_int_equal(cf->policies[CLASS_BATCH].max_items, 100);
	assert_int_equal(cf->policies[CLASS_BATCH].deliver_within_ms,
	    5 * 60000);
	assert_int_equal(cf->policies[CLASS_INTERACTIVE].respond_within_ms,
	    4LL * 3600 * 1000);
	assert_int_equal(cf->policies[CLASS_INTERACTIVE].deliver_within_ms,
	    5000);
	assert_int_equal(cf->nchannels, 1);
	ch = &cf->channels[0];
	assert_string_equal(ch->name, "sink");
	assert_null(ch->owner);
	assert_int_equal(ch->audiences.n, 0);
	assert_int_equal(ch->mode, MODE_ACTIVE);
	assert_int_equal(ch->pilot_percent, 10);
	assert_int_equal(ch->timeout_ms, 10000);
	assert_int_equal(ch->retry.max, 3);
	assert_int_equal(ch->retry.backoff_ms, 1000);
	assert_int_equal(ch->retry.backoff_max_ms, 300000);
	assert_int_equal(ch->nfallback, 0);
	assert_int_equal(ch->queue_max, 10000);
	assert_int_equal(ch->concurrency, 4);
	assert_int_equal(cf->nroutes, 1);
	assert_string_equal(cf->routes[0].name, "route#1");
	assert_int_equal(cf->routes[0].cont, 0);
	assert_int_equal(cf->routes[0].nfallback, 0);
	assert_int_equal(cf->routes[0].match.min_priority, -1);
	config_free(cf);
}

static void
test_full_channels(const struct config *cf)
{
	const struct channel_conf *ch;

	assert_int_equal(cf->nchannels, 4);
	ch = &cf->channels[config_channel_index(cf, "bulletin")];
	assert_int_equal(ch->line, 38);
	assert_string_equal(ch->owner, "comms@example.org");
	assert_int_equal(ch->audiences.n, 2);
	assert_string_equal(ch->audiences.globs[1].pattern, "dept:*");
	assert_int_equal(ch->mode, MODE_PILOT);
	assert_int_equal(ch->pilot_percent, 30);
	assert_int_equal(ch->timeout_ms, 2000);
	assert_int_equal(ch->retry.max, 7);
	assert_int_equal(ch->retry.backoff_ms, 500);
	assert_int_equal(ch->retry.backoff_max_ms, 120000);
	assert_int_equal(ch->nfallback, 1);
	assert_int_equal(ch->fallback[0], config_channel_index(cf, "archive"));
	assert_int_equal(ch->queue_max, 123);
	assert_int_equal(ch->concurrency, 9);
	assert_non_null(ch->args);
	ch = &cf->channels[config_channel_index(cf, "hook")];
	assert_int_equal(ch->mode, MODE_DISABLED);
	assert_int_equal(ch->fallback[0], config_channel_index(cf, "bulletin"));
	assert_int_equal(config_channel_index(cf, "nope"), -1);
}

static void
test_full_routes(const struct config *cf)
{
	const struct route *r;

	assert_int_equal(cf->nroutes, 2);
	r = &cf->routes[0];
	assert_string_equal(r->name, "incidents");
	assert_int_equal(r->line, 65);
	assert_int_equal(r->cont, 1);
	assert_int_equal(r->nchannels, 2);
	assert_int_equal(r->channels[0], config_channel_index(cf, "hook"));
	assert_int_equal(r->channels[1], config_channel_index(cf, "fanout"));
	assert_int_equal(r->nfallback, 1);
	assert_int_equal(r->fallback[0], config_channel_index(cf, "bulletin"));
	assert_int_equal(r->match.sources.n, 1);
	assert_int_equal(r->match.sources.globs[0].kind, GLOB_PREFIX);
	assert_int_equal(r->match.audiences.n, 2);
	assert_int_equal(r->match.class_mask, (1u << CLASS_REALTIME) |
	    (1u << CLASS_INTERACTIVE));
	assert_int_equal(r->match.min_priority, PRIORITY_HIGH);
	assert_int_equal(r->match.goal_mask, 1u << GOAL_RESOLVE);
	assert_int_equal(r->match.ntags, 1);
	assert_string_equal(r->match.tags[0].key, "env");
	r = &cf->routes[1];
	assert_string_equal(r->name, "route#2");
	assert_int_equal(r->cont, 0);
	assert_int_equal(r->match.sources.n, 0);
}

static void
test_full(void **state)
{
	char path[1200];
	struct config *cf;

	(void)state;
	src_path(path, sizeof(path), "tests/conf/good-full.conf");
	cf = load_good(path);
	assert_string_equal(cf->path, path);
	assert_string_equal(cf->log_level, "debug");
	assert_int_equal(cf->shutdown_timeout_ms, 30000);
	assert_int_equal(cf->nrouter, 2);
	assert_string_equal(cf->router[1], "ipc://var/test.ipc");
	assert_int_equal(cf->npull, 1);
	assert_string_equal(cf->pull[0], "tcp://127.0.0.1:17452");
	assert_int_equal(cf->max_message_size, 1048576);
	assert_int_equal(cf->rcvhwm, 500);
	assert_int_equal(cf->sndhwm, 600);
	assert_int_equal(cf->reply_queue_max, 700);
	assert_string_equal(cf->spool_path, "var/full.db");
	assert_int_equal(cf->spool_sync, 0);
	assert_int_equal(cf->dedup_window_ms, 2 * 3600 * 1000);
	assert_int_equal(cf->retain_ms, 7LL * 86400 * 1000);
	assert_string_equal(cf->status_socket, "var/full.sock");
	assert_int_equal(cf->nadmin_uids, 2);
	assert_int_equal(cf->admin_uids[0], 1000);
	assert_int_equal(cf->admin_uids[1], 1001);
	assert_int_equal(cf->trust_hint, 1);
	/* The class names of the table are notice.c's, in enum order. */
	assert_int_equal(cf->nrules, 3);
	assert_int_equal(cf->rules[0].class, CLASS_REALTIME);
	assert_int_equal(cf->rules[1].class, CLASS_INTERACTIVE);
	assert_int_equal(cf->rules[2].class, CLASS_BATCH);
	assert_int_equal(cf->rules[1].match.ntags, 2);
	assert_int_equal(cf->rules[2].match.goal_mask, 0);
	assert_int_equal(cf->policies[CLASS_REALTIME].deliver_within_ms, 2000);
	assert_int_equal(cf->policies[CLASS_BATCH].window_ms, 3600000);
	assert_int_equal(cf->policies[CLASS_BATCH].max_items, 50);
	assert_int_equal(cf->policies[CLASS_BATCH].deliver_within_ms, 600000);
	assert_int_equal(cf->policies[CLASS_INTERACTIVE].respond_within_ms,
	    1800000);
	assert_int_equal(cf->policies[CLASS_INTERACTIVE].deliver_within_ms,
	    3000);
	test_full_channels(cf);
	test_full_routes(cf);
	config_free(cf);
}

/* Every error is kept; past CONFIG_ERRORS_MAX they are counted. */
static void
test_error_cap(void **state)
{
	struct config_errors errs = { .n = 0 };
	char path[64], *text, *p;
	int i;

	(void)state;
	assert_non_null(text = p = malloc(8192));
	p += sprintf(p, "ingress = { router = \"tcp://127.0.0.1:1\"; };\n");
	for (i = 0; i < 100; i++)
		p += sprintf(p, "typo%d = 1;\n", i);
	sprintf(p, "channels = { s = { type = \"discard\"; }; };\n"
	    "routes = ( { channels = \"s\"; } );\n");
	write_temp(path, text);
	free(text);
	assert_null(config_load(path, &errs));
	assert_int_equal(errs.n, CONFIG_ERRORS_MAX);
	assert_int_equal(errs.dropped, 100 - CONFIG_ERRORS_MAX);
	/* In file order, each with its line. */
	assert_non_null(strstr(errs.msgs[0], ":2: unknown option 'typo0' "
	    "(expected one of: log_level, shutdown_timeout, user, group, "
	    "timezone, notify, http, ingress, spool, status, classify, "
	    "policies, escalations, limits, channels, routes)"));
	assert_non_null(strstr(errs.msgs[63], ":65: unknown option "
	    "'typo63'"));
	config_errors_clear(&errs);
	assert_int_equal(errs.n, 0);
	assert_int_equal(errs.dropped, 0);
	unlink(path);
}

static void
test_missing_file(void **state)
{
	struct config_errors errs = { .n = 0 };

	(void)state;
	assert_null(config_load("/nonexistent/switchboard.conf", &errs));
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msgs[0], "/nonexistent/switchboard.conf: "
	    "cannot open: No such file or directory");
	config_errors_clear(&errs);
}

/* The hash is FNV-1a (64 bits) of the bytes, and follows them. */
static void
test_hash(void **state)
{
	static const char text[] =
	    "ingress = { router = \"tcp://127.0.0.1:1\"; };\n"
	    "channels = { s = { type = \"discard\"; }; };\n"
	    "routes = ( { channels = \"s\"; } );\n";
	char path[64], want[17], *text2;
	uint64_t h = 0xcbf29ce484222325ULL;
	struct config *a, *b;
	size_t i;

	(void)state;
	for (i = 0; i < strlen(text); i++) {
		h ^= (unsigned char)text[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)h);
	write_temp(path, text);
	a = load_good(path);
	unlink(path);
	assert_string_equal(a->hash, want);
	assert_non_null(text2 = malloc(strlen(text) + 4));
	sprintf(text2, "%s# \n", text);
	write_temp(path, text2);
	free(text2);
	b = load_good(path);
	unlink(path);
	assert_string_not_equal(a->hash, b->hash);
	config_free(a);
	config_free(b);
}

static void
test_cross_checks(void **state)
{
	char *text, *p;
	int i;

	(void)state;
	/* More channels reachable by one notice than a route result holds. */
	assert_non_null(text = p = malloc(16384));
	p += sprintf(p, "ingress = { router = \"tcp://127.0.0.1:1\"; };\n"
	    "channels = {\n");
	for (i = 0; i < ROUTE_TARGETS_MAX + 1; i++)
		p += sprintf(p, "  c%d = { type = \"discard\"; };\n", i);
	p += sprintf(p, "};\nroutes = (\n"
	    "  { name = \"one\"; channels = [ \"c0\" ]; continue = true; },\n"
	    "  { name = \"rest\"; channels = [ ");
	for (i = 1; i < ROUTE_TARGETS_MAX + 1; i++)
		p += sprintf(p, "%s\"c%d\"", i > 1 ? ", " : "", i);
	sprintf(p, " ]; }\n);\n");
	load_bad_text(text, ":70: route 'one' and the routes it continues "
	    "into name 65 channels; one notice can go to at most 64");
	free(text);

	load_bad_text("ingress = { router = \"tcp://h:1\"; };\n"
	    "channels = { s = { type = \"discard\"; }; };\n"
	    "routes = { channels = \"s\"; };\n",
	    ":3: routes: expected a list of routes");
	load_bad_text("ingress = { router = \"tcp://h:1\"; };\n"
	    "channels = [ \"s\" ];\n"
	    "routes = ( { channels = \"s\"; } );\n",
	    ":2: channels: expected a group of channels");
	load_bad_text("ingress = 5;\n"
	    "channels = { s = { type = \"discard\"; }; };\n"
	    "routes = ( { channels = \"s\"; } );\n",
	    ":1: ingress: expected a group { ... }, not an integer");
	load_bad_text("ingress = { router = \"tcp://h:1\"; };\n"
	    "status = { admin_uids = [ 1000, -1 ]; };\n"
	    "channels = { s = { type = \"discard\"; }; };\n"
	    "routes = ( { channels = \"s\"; } );\n",
	    ":2: status.admin_uids[1]: -1 is not a uid");
	load_bad_text("ingress = { router = \"tcp://h:1\"; };\n"
	    "classify = { trust_hint = \"yes\"; };\n"
	    "channels = { s = { type = \"discard\"; }; };\n"
	    "routes = ( { channels = \"s\"; } );\n",
	    ":2: classify.trust_hint: expected true or false, not a string");
	load_bad_text("ingress = { router = \"tcp://h:1\"; };\n"
	    "spool = { path = \"\"; };\n"
	    "channels = { s = { type = \"discard\"; }; };\n"
	    "routes = ( { channels = \"s\"; } );\n",
	    ":2: spool.path: must not be empty");
	load_bad_text("ingress = { router = \"tcp://h:1\"; };\n"
	    "policies = { batch = { window = \"40d\"; }; };\n"
	    "channels = { s = { type = \"discard\"; }; };\n"
	    "routes = ( { channels = \"s\"; } );\n",
	    ":2: policies.batch.window: 40d is out of range (1s .. 1d)");
	load_bad_text("ingress = { router = \"tcp://h:1\"; };\n"
	    "channels = { s = { type = 5; }; };\n"
	    "routes = ( { channels = \"s\"; } );\n",
	    ":2: channels.s.type: expected a string (one of: file, exec, "
	    "zmq_pub, discard, webhook, smtp)");
	load_bad_text("ingress = { router = \"tcp://h:1\"; };\n"
	    "channels = { s = { owner = \"x\"; }; };\n"
	    "routes = ( { channels = \"s\"; } );\n",
	    ":2: channel s has no type (expected one of: file, exec, "
	    "zmq_pub, discard, webhook, smtp)");
}

static void
test_channel_common(void **state)
{
	static const char *const common[] = { "type", "owner", "audiences",
	    "mode", "pilot_percent", "timeout", "retry", "fallback",
	    "queue_max", "concurrency" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		assert_true(config_channel_common(common[i]));
	assert_false(config_channel_common("path"));
	assert_false(config_channel_common("command"));
	assert_false(config_channel_common("endpoint"));
	assert_false(config_channel_common("max"));	/* of retry */
	assert_false(config_channel_common("log_level"));
}

static void
test_setting_path(void **state)
{
	char buf[128], tiny[8];
	config_t lc;

	(void)state;
	config_init(&lc);
	assert_int_equal(config_read_string(&lc, "a = { b = ( { c = [ 1, 2 ]; "
	    "} ); };"), CONFIG_TRUE);
	assert_string_equal(config_setting_path(config_lookup(&lc,
	    "a.b.[0].c.[1]"), buf, sizeof(buf)), "a.b[0].c[1]");
	assert_string_equal(config_setting_path(config_root_setting(&lc), buf,
	    sizeof(buf)), "");
	assert_string_equal(config_setting_path(config_lookup(&lc,
	    "a.b.[0].c"), tiny, sizeof(tiny)), "a.b[0].");
	config_destroy(&lc);
}

/* docs/config.md holds the option table exactly as the code prints it. */
static void
test_docs_in_sync(void **state)
{
	char path[1200], *doc, *table, *begin, *end;
	size_t doclen = 0, tablelen = 0;
	FILE *f, *out;

	(void)state;
	assert_non_null(out = open_memstream(&table, &tablelen));
	config_dump_options(out);
	fclose(out);
	src_path(path, sizeof(path), "docs/config.md");
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(doc = calloc(1, 1 << 20));
	doclen = fread(doc, 1, (1 << 20) - 1, f);
	fclose(f);
	assert_true(doclen > 0);
	begin = strstr(doc, DOCS_BEGIN);
	end = strstr(doc, DOCS_END);
	assert_non_null(begin);
	assert_non_null(end);
	begin += strlen(DOCS_BEGIN);
	if ((size_t)(end - begin) != tablelen ||
	    memcmp(begin, table, tablelen) != 0) {
		if ((f = fopen("build/config-options.md", "w")) != NULL) {
			fwrite(table, 1, tablelen, f);
			fclose(f);
		}
		fail_msg("docs/config.md is out of date: put "
		    "build/config-options.md between its OPTIONS markers");
	}
	free(doc);
	free(table);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_conf),
		cmocka_unit_test(test_good_fixtures),
		cmocka_unit_test(test_bad_fixtures),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_cross_checks),
		cmocka_unit_test(test_channel_common),
		cmocka_unit_test(test_setting_path),
		cmocka_unit_test(test_docs_in_sync),
	};

	return (cmocka_run_group_tests(tests, group_setup, NULL));
}
