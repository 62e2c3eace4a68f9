/*
 * test_adapter_file.c: the file channel on a real event loop: one JSON line
 * per delivery, reopen after rotation (and keeping the old file when the
 * path cannot be reopened), a full disk as a retryable failure, start and
 * option errors.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "adapter_harness.h"
#include "log.h"

static void	start_file(struct harness *, const char *);
static int	count_lines(const char *, const char *);

static void
start_file(struct harness *h, const char *path)
{
	char options[512];

	snprintf(options, sizeof(options), "type = \"file\"; owner = "
	    "\"comms\"; path = \"%s\";", path);
	assert_int_equal(harness_options(h, &adapter_file_ops, "bulletin",
	    options), 0);
	if (harness_start(h) == NULL)
		fail_msg("start: %s", h->err);
}

/*
 * The lines of a file, each checked to be one JSON object whose id is
 * want_id (when not NULL). Returns how many there are.
 */
static int
count_lines(const char *path, const char *want_id)
{
	const char *id_path[] = { "id", NULL };
	char *text, *line, *next, errbuf[128];
	yajl_val v;
	int n = 0;

	if ((text = harness_read_file(path)) == NULL)
		fail_msg("cannot read %s", path);
	if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
		fail_msg("%s does not end with a newline", path);
	for (line = text; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		if ((v = yajl_tree_parse(line, errbuf, sizeof(errbuf))) == NULL)
			fail_msg("%s line %d is not JSON: %s", path, n + 1,
			    errbuf);
		if (want_id != NULL)
			assert_string_equal(YAJL_GET_STRING(yajl_tree_get(v,
			    id_path, yajl_t_string)), want_id);
		yajl_tree_free(v);
		n++;
	}
	free(text);
	return (n);
}

static void
test_a_line_per_delivery(void **state)
{
	struct harness *h = *state;
	struct notice *n;
	struct stat sb;
	char path[128];
	int i;

	snprintf(path, sizeof(path), "%s/feed.jsonl", h->dir);
	umask(022);
	start_file(h, path);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	n = harness_notice("n-1", "line one\nline two", 0);
	for (i = 0; i < 100; i++)
		harness_send(h, n);
	harness_run(h, 100, 5000);
	assert_int_equal(h->counts[OUTCOME_DELIVERED], 100);
	assert_int_equal(count_lines(path, "n-1"), 100);
	assert_int_equal(h->conf.ops->health(h->ch), 0);
	notice_unref(n);
}

/* Rotation: rename, reopen (SIGHUP), and the next line is in a new file. */
static void
test_reopen_after_rename(void **state)
{
	struct harness *h = *state;
	struct notice *a, *b;
	char path[128], rotated[140];

	snprintf(path, sizeof(path), "%s/feed.jsonl", h->dir);
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	start_file(h, path);
	a = harness_notice("before", NULL, 0);
	b = harness_notice("after", NULL, 0);
	harness_send(h, a);
	harness_run(h, 1, 5000);
	assert_int_equal(rename(path, rotated), 0);
	harness_send(h, a);		/* still to the open file */
	harness_run(h, 2, 5000);
	channel_reopen(h->ch);
	harness_send(h, b);
	harness_run(h, 3, 5000);
	assert_int_equal(h->counts[OUTCOME_DELIVERED], 3);
	assert_int_equal(count_lines(rotated, "before"), 2);
	assert_int_equal(count_lines(path, "after"), 1);
	notice_unref(a);
	notice_unref(b);
}

/* A path that cannot be reopened: keep writing to the file we have. */
static void
test_reopen_failure_keeps_file(void **state)
{
	struct harness *h = *state;
	struct notice *n;
	char dir[128], moved[140], path[160], kept[160];

	snprintf(dir, sizeof(dir), "%s/feeds", h->dir);
	snprintf(moved, sizeof(moved), "%s/old-feeds", h->dir);
	snprintf(path, sizeof(path), "%s/feed.jsonl", dir);
	snprintf(kept, sizeof(kept), "%s/feed.jsonl", moved);
	assert_int_equal(mkdir(dir, 0755), 0);
	start_file(h, path);
	assert_int_equal(rename(dir, moved), 0);
	channel_reopen(h->ch);
	n = harness_notice("n-3", NULL, 0);
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_DELIVERED);
	assert_int_equal(count_lines(kept, "n-3"), 1);
	assert_int_equal(access(path, F_OK), -1);
	notice_unref(n);
}

/* A full disk is retryable, says why, and marks the channel unhealthy. */
static void
test_full_disk_is_retryable(void **state)
{
	struct harness *h = *state;
	struct notice *n;

	start_file(h, "/dev/full");
	n = harness_notice("n-4", NULL, 0);
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_RETRYABLE);
	assert_string_equal(h->error[0], "write /dev/full: No space left on "
	    "device");
	assert_int_equal(h->conf.ops->health(h->ch), -1);
	notice_unref(n);
}

static void
test_start_failure(void **state)
{
	struct harness *h = *state;
	char options[256], want[256], fifo[128];

	snprintf(options, sizeof(options), "type = \"file\"; path = "
	    "\"%s/no/such/dir/feed.jsonl\";", h->dir);
	assert_int_equal(harness_options(h, &adapter_file_ops, "bulletin",
	    options), 0);
	assert_null(harness_start(h));
	snprintf(want, sizeof(want), "channel bulletin: cannot open "
	    "%s/no/such/dir/feed.jsonl: No such file or directory", h->dir);
	assert_string_equal(h->err, want);

	/* A FIFO nobody reads fails at start rather than hang the daemon. */
	harness_reset(h);
	snprintf(fifo, sizeof(fifo), "%s/fifo", h->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(want, sizeof(want), "channel bulletin: cannot open %s: No "
	    "such device or address", fifo);
	snprintf(options, sizeof(options), "type = \"file\"; path = "
	    "\"%s/fifo\";", h->dir);
	assert_int_equal(harness_options(h, &adapter_file_ops, "bulletin",
	    options), 0);
	assert_null(harness_start(h));
	assert_string_equal(h->err, want);
}

static void
test_check(void **state)
{
	struct harness *h = *state;
	char want[256];

	assert_int_equal(harness_options(h, &adapter_file_ops, "bulletin",
	    "type = \"file\"; paht = \"/tmp/x\"; mode = \"pilot\";"), -1);
	assert_null(h->conf.args);
	snprintf(want, sizeof(want), "%s/channel.conf:2: channel bulletin: "
	    "unknown option 'paht' for type file (its only option is path)",
	    h->dir);
	assert_string_equal(h->errs.msgs[0], want);
	assert_true(harness_error_has(h, "channel bulletin: type file needs "
	    "a path"));
	assert_int_equal(h->errs.n, 2);

	harness_reset(h);
	assert_int_equal(harness_options(h, &adapter_file_ops, "bulletin",
	    "type = \"file\"; path = 3;"), -1);
	assert_true(harness_error_has(h, "path must be a non-empty string"));

	harness_reset(h);
	assert_int_equal(harness_options(h, &adapter_file_ops, "bulletin",
	    "type = \"file\"; path = \"\";"), -1);
	assert_true(harness_error_has(h, "path must be a non-empty string"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_a_line_per_delivery),
		HARNESS_TEST(test_reopen_after_rename),
		HARNESS_TEST(test_reopen_failure_keeps_file),
		HARNESS_TEST(test_full_disk_is_retryable),
		HARNESS_TEST(test_start_failure),
		HARNESS_TEST(test_check),
	};

	log_init("test_adapter_file", LOG_LEVEL_ERROR);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
