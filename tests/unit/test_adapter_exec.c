/*
 * test_adapter_exec.c: the exec channel on a real event loop with real
 * children: exit statuses, stderr in the error, timeouts that kill the
 * process group, a child that never reads its stdin, the environment of a
 * delivery (and of an anonymous one), stop with work in flight, and no
 * descriptor or child left behind after 10,000 deliveries.
 */
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "adapter_harness.h"
#include "log.h"

static void	start_exec(struct harness *, const char *);

/* An exec channel "ops-exec" running command (a libconfig value). */
static void
start_exec(struct harness *h, const char *command)
{
	char options[1024];

	snprintf(options, sizeof(options), "type = \"exec\";\n"
	    "command = %s;\nenv = { FOO = \"from-config\"; };", command);
	assert_int_equal(harness_options(h, &adapter_exec_ops, "ops_exec",
	    options), 0);
	if (harness_start(h) == NULL)
		fail_msg("start: %s", h->err);
}

static int
pid_gone(pid_t pid)
{
	char path[64], *stat, *p;
	int gone;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return (1);
	/* Reparented to an init that is slow to reap: a zombie is dead. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((stat = harness_read_file(path)) == NULL)
		return (1);
	p = strrchr(stat, ')');
	gone = p != NULL && p[1] == ' ' && p[2] == 'Z';
	free(stat);
	return (gone);
}

static void
test_exit_zero_reads_payload(void **state)
{
	struct harness *h = *state;
	struct notice *n;
	char cmd[256], out[128], *text, errbuf[128];
	const char *sub_path[] = { "subject", NULL };
	const char *id_path[] = { "delivery_id", NULL };
	yajl_val v;

	snprintf(out, sizeof(out), "%s/stdin", h->dir);
	snprintf(cmd, sizeof(cmd), "[\"/bin/sh\", \"-c\", \"cat > \\\"$0\\\"\","
	    " \"%s\"]", out);
	start_exec(h, cmd);
	n = harness_notice("n-1", "the body", 0);
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_DELIVERED);
	assert_string_equal(h->error[0], "");
	assert_non_null(text = harness_read_file(out));
	assert_int_equal(text[strlen(text) - 1], '\n');
	assert_non_null(v = yajl_tree_parse(text, errbuf, sizeof(errbuf)));
	assert_string_equal(YAJL_GET_STRING(yajl_tree_get(v, sub_path,
	    yajl_t_string)), "Disk almost full");
	assert_string_equal(YAJL_GET_STRING(yajl_tree_get(v, id_path,
	    yajl_t_string)), "n-1/ops_exec");
	yajl_tree_free(v);
	free(text);
	notice_unref(n);
}

static void
test_exit_tempfail_is_retryable(void **state)
{
	struct harness *h = *state;
	struct notice *n;

	start_exec(h, "[\"/bin/sh\", \"-c\", \"echo 'relay busy' >&2; "
	    "exit 75\"]");
	n = harness_notice("n-2", NULL, 0);
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_RETRYABLE);
	assert_string_equal(h->error[0], "exited with status 75 (temporary "
	    "failure): relay busy");
	notice_unref(n);
}

static void
test_exit_other_is_permanent(void **state)
{
	struct harness *h = *state;
	struct notice *n;

	start_exec(h, "[\"/bin/sh\", \"-c\", \"cat > /dev/null; "
	    "printf '\\\\nbad input: no route\\\\nsecond line\\\\n' >&2; "
	    "exit 3\"]");
	n = harness_notice("n-3", NULL, 0);
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_PERMANENT);
	assert_string_equal(h->error[0], "exited with status 3: bad input: "
	    "no route");
	notice_unref(n);
}

static void
test_exit_silent_failure(void **state)
{
	struct harness *h = *state;
	struct notice *n;

	start_exec(h, "\"/bin/false\"");
	n = harness_notice("n-4", NULL, 0);
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_PERMANENT);
	assert_string_equal(h->error[0], "exited with status 1");
	notice_unref(n);
}

static void
test_killed_by_signal_is_retryable(void **state)
{
	struct harness *h = *state;
	struct notice *n;

	start_exec(h, "[\"/bin/sh\", \"-c\", \"kill -TERM $$\"]");
	n = harness_notice("n-5", NULL, 0);
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_RETRYABLE);
	assert_string_equal(h->error[0], "killed by signal 15 (SIGTERM)");
	notice_unref(n);
}

/*
 * The command and a grandchild it started both sleep: the timeout kills
 * the whole process group, and the command is reaped afterwards.
 */
static void
test_timeout_kills_the_group(void **state)
{
	struct harness *h = *state;
	struct notice *n;
	char cmd[256], pidfile[128], path[160], *text;
	pid_t child, grandchild;
	int64_t start;
	int i;

	snprintf(pidfile, sizeof(pidfile), "%s/pid", h->dir);
	snprintf(cmd, sizeof(cmd), "[\"/bin/sh\", \"-c\", \"sleep 30 & "
	    "echo $! > \\\"$0.2\\\"; echo $$ > \\\"$0\\\"; wait\", \"%s\"]",
	    pidfile);
	start_exec(h, cmd);
	h->conf.timeout_ms = 400;
	n = harness_notice("n-6", NULL, 0);
	start = adapter_now_ms();
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_RETRYABLE);
	assert_string_equal(h->error[0], "timed out after 400ms");
	/* libevent times from the start of the loop pass: a little early. */
	assert_true(adapter_now_ms() - start >= 350);
	assert_true(adapter_now_ms() - start < 3000);
	assert_non_null(text = harness_read_file(pidfile));
	child = (pid_t)atoi(text);
	free(text);
	snprintf(path, sizeof(path), "%s.2", pidfile);
	assert_non_null(text = harness_read_file(path));
	grandchild = (pid_t)atoi(text);
	free(text);
	for (i = 0; i < 40 && (!pid_gone(child) || !pid_gone(grandchild));
	    i++)
		harness_idle(h, 50);
	assert_true(pid_gone(child));		/* killed and reaped */
	assert_true(pid_gone(grandchild));	/* killed with its group */
	notice_unref(n);
}

static int ticks;

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ticks++;
}

/*
 * A 2 MB payload to children that never read it: one exits at once (we
 * get EPIPE, and must not die of SIGPIPE), one sleeps and exits 0, one
 * sleeps past its timeout. The loop keeps turning all the while.
 */
static void
test_child_never_reads(void **state)
{
	struct timeval tv = { 0, 20000 };
	struct harness *h = *state;
	struct notice *n;
	struct event *tick;
	char *body;
	int64_t start;

	assert_non_null(body = malloc(2 * 1024 * 1024));
	memset(body, 'x', 2 * 1024 * 1024 - 1);
	body[2 * 1024 * 1024 - 1] = '\0';
	n = harness_notice("n-7", body, 0);
	free(body);

	start_exec(h, "[\"/bin/sh\", \"-c\", \"exit 0\"]");
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_DELIVERED);

	harness_reset(h);
	start_exec(h, "[\"/bin/sh\", \"-c\", \"sleep 0.5\"]");
	assert_non_null(tick = event_new(h->base, -1, EV_PERSIST, tick_cb,
	    NULL));
	event_add(tick, &tv);
	ticks = 0;
	start = adapter_now_ms();
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_DELIVERED);
	assert_true(adapter_now_ms() - start >= 450);
	assert_true(ticks >= 10);
	event_free(tick);

	harness_reset(h);
	start_exec(h, "[\"/bin/sh\", \"-c\", \"exec sleep 30\"]");
	h->conf.timeout_ms = 300;
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_RETRYABLE);
	assert_string_equal(h->error[0], "timed out after 300ms");
	notice_unref(n);
}

/* Every SB_* variable, the channel's env, and nothing stale inherited. */
static void
test_environment(void **state)
{
	static const char *const want[] = {
		"SB_ID=n-8\n", "SB_DELIVERY_ID=n-8/ops_exec\n",
		"SB_CHANNEL=ops_exec\n", "SB_CLASS=realtime\n",
		"SB_PRIORITY=high\n", "SB_GOAL=resolve\n",
		"SB_SUBJECT=Disk almost full\n",
		"SB_AUDIENCE=dept:ops,staff:alice\n", "SB_ATTEMPT=1\n",
		"FOO=from-config\n", "KEPT=yes\n", NULL
	};
	struct harness *h = *state;
	struct notice *n, *anon;
	char cmd[256], out[128], *text;
	size_t i;

	setenv("SB_SOURCE", "stale-from-daemon", 1);
	setenv("FOO", "inherited", 1);
	setenv("KEPT", "yes", 1);
	snprintf(out, sizeof(out), "%s/env", h->dir);
	snprintf(cmd, sizeof(cmd), "[\"/bin/sh\", \"-c\", \"env > "
	    "\\\"$0.$SB_ID\\\"\", \"%s\"]", out);
	start_exec(h, cmd);
	n = harness_notice("n-8", NULL, 0);
	anon = harness_notice("n-9", NULL, 1);
	harness_send(h, n);
	harness_send(h, anon);
	harness_run(h, 2, 5000);
	assert_int_equal(h->counts[OUTCOME_DELIVERED], 2);

	snprintf(out, sizeof(out), "%s/env.n-8", h->dir);
	assert_non_null(text = harness_read_file(out));
	for (i = 0; want[i] != NULL; i++)
		if (strstr(text, want[i]) == NULL)
			fail_msg("%s missing from:\n%s", want[i], text);
	assert_non_null(strstr(text, "SB_SOURCE=billing\n"));
	assert_null(strstr(text, "stale-from-daemon"));
	assert_null(strstr(text, "FOO=inherited"));
	free(text);

	snprintf(out, sizeof(out), "%s/env.n-9", h->dir);
	assert_non_null(text = harness_read_file(out));
	assert_non_null(strstr(text, "SB_ID=n-9\n"));
	if (strstr(text, "SB_SOURCE") != NULL)
		fail_msg("an anonymous notice leaked its source:\n%s", text);
	assert_null(strstr(text, "billing"));
	free(text);

	unsetenv("SB_SOURCE");
	unsetenv("FOO");
	unsetenv("KEPT");
	notice_unref(n);
	notice_unref(anon);
}

/* Stopping the channel ends what is in flight at once, as retryable. */
static void
test_stop_in_flight(void **state)
{
	struct harness *h = *state;
	struct notice *n;
	int i;

	start_exec(h, "[\"/bin/sh\", \"-c\", \"exec sleep 30\"]");
	n = harness_notice("n-10", NULL, 0);
	for (i = 0; i < 3; i++)
		harness_send(h, n);
	harness_idle(h, 200);
	assert_int_equal(h->ndone, 0);
	assert_int_equal(h->ch->inflight, 3);
	channel_free(h->ch);
	h->ch = NULL;
	assert_int_equal(h->ndone, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(h->outcome[i], OUTCOME_RETRYABLE);
		assert_string_equal(h->error[i], "channel stopped");
	}
	notice_unref(n);
}

/* The command vanishes after start: the delivery fails permanently. */
static void
test_command_vanished(void **state)
{
	struct harness *h = *state;
	struct notice *n;
	char script[128], cmd[160], want[256];
	FILE *f;

	snprintf(script, sizeof(script), "%s/notify", h->dir);
	assert_non_null(f = fopen(script, "w"));
	fputs("#!/bin/sh\nexit 0\n", f);
	fclose(f);
	assert_int_equal(chmod(script, 0755), 0);
	snprintf(cmd, sizeof(cmd), "\"%s\"", script);
	start_exec(h, cmd);
	assert_int_equal(unlink(script), 0);
	n = harness_notice("n-11", NULL, 0);
	harness_send(h, n);
	harness_run(h, 1, 5000);
	assert_int_equal(h->outcome[0], OUTCOME_PERMANENT);
	snprintf(want, sizeof(want), "cannot run %s: No such file or "
	    "directory", script);
	assert_string_equal(h->error[0], want);
	notice_unref(n);
}

static void
test_start_failures(void **state)
{
	struct harness *h = *state;
	char script[128], cmd[160], want[256];
	FILE *f;

	assert_int_equal(harness_options(h, &adapter_exec_ops, "mail",
	    "type = \"exec\"; command = \"/nonexistent/notify\";"), 0);
	assert_null(harness_start(h));
	assert_string_equal(h->err, "channel mail: command "
	    "/nonexistent/notify: No such file or directory");
	harness_reset(h);
	snprintf(script, sizeof(script), "%s/notify", h->dir);
	assert_non_null(f = fopen(script, "w"));
	fclose(f);
	assert_int_equal(chmod(script, 0644), 0);
	snprintf(cmd, sizeof(cmd), "type = \"exec\"; command = \"%s\";",
	    script);
	assert_int_equal(harness_options(h, &adapter_exec_ops, "mail", cmd),
	    0);
	assert_null(harness_start(h));
	snprintf(want, sizeof(want), "channel mail: command %s: Permission "
	    "denied", script);
	assert_string_equal(h->err, want);
	harness_reset(h);
	assert_int_equal(harness_options(h, &adapter_exec_ops, "mail",
	    "type = \"exec\"; command = \"/tmp\";"), 0);
	assert_null(harness_start(h));
	assert_string_equal(h->err, "channel mail: command /tmp is not a "
	    "regular file");
}

static void
test_check(void **state)
{
	struct harness *h = *state;

	assert_int_equal(harness_options(h, &adapter_exec_ops, "mail",
	    "type = \"exec\"; owner = \"ops\"; timeout = \"5s\"; "
	    "command = [\"/bin/true\", \"--flag\", \"\"];"), 0);
	assert_int_equal(h->errs.n, 0);
	harness_reset(h);
	assert_int_equal(harness_options(h, &adapter_exec_ops, "mail",
	    "type = \"exec\"; comand = \"/bin/true\"; "
	    "env = { SB_SOURCE = \"x\"; PORT = 25; bad-name = \"x\"; };"),
	    -1);
	assert_null(h->conf.args);
	assert_true(harness_error_has(h, "unknown option 'comand' for type "
	    "exec (expected command, env)"));
	assert_true(harness_error_has(h, "type exec needs a command"));
	assert_true(harness_error_has(h, "env.SB_SOURCE is not a usable "
	    "variable name"));
	assert_true(harness_error_has(h, "env.PORT must be a string"));
	assert_true(harness_error_has(h, "env.bad-name is not a usable"));
	assert_int_equal(h->errs.n, 5);
	harness_reset(h);
	assert_int_equal(harness_options(h, &adapter_exec_ops, "mail",
	    "type = \"exec\"; command = [];"), -1);
	assert_true(harness_error_has(h, "command must be a string or a "
	    "non-empty list of strings"));
	harness_reset(h);
	assert_int_equal(harness_options(h, &adapter_exec_ops, "mail",
	    "type = \"exec\"; command = [\"\", \"x\"];"), -1);
	assert_true(harness_error_has(h, "command[0] must be a non-empty "
	    "string"));
	harness_reset(h);
	assert_int_equal(harness_options(h, &adapter_exec_ops, "mail",
	    "type = \"exec\"; command = (\"/bin/true\", 3);"), -1);
	assert_true(harness_error_has(h, "command[1] must be a string"));
}

/*
 * 10,000 deliveries, some failing with stderr, some timing out: afterwards
 * the process has the descriptors it had before and no child left.
 */
static void
test_no_leak(void **state)
{
	struct harness *h = *state;
	struct notice *ok, *fail, *slow;
	int before, i, sent = 0;
	siginfo_t info;

	before = harness_count_fds();
	start_exec(h, "[\"/bin/sh\", \"-c\", \"case $SB_ID in "
	    "fail) echo nope >&2; exit 3;; slow) exec sleep 5;; "
	    "*) exit 0;; esac\"]");
	/* Long enough that a busy machine never times out a quick child. */
	h->conf.timeout_ms = 2000;
	h->conf.concurrency = 16;
	ok = harness_notice("ok", NULL, 0);
	fail = harness_notice("fail", NULL, 0);
	slow = harness_notice("slow", NULL, 0);
	for (i = 0; i < 10000; i++, sent++) {
		harness_send(h, i % 500 == 7 ? slow : i % 10 == 3 ? fail : ok);
		if (i % 100 == 99)
			harness_run(h, sent - 16, 30000);
	}
	harness_run(h, 10000, 30000);
	assert_int_equal(h->counts[OUTCOME_RETRYABLE], 20);
	assert_int_equal(h->counts[OUTCOME_PERMANENT], 1000);
	assert_int_equal(h->counts[OUTCOME_DELIVERED], 10000 - 1000 - 20);
	/* Wait (without reaping) until the killed ones have been reaped. */
	for (i = 0; i < 40 && waitid(P_ALL, 0, &info, WEXITED | WNOHANG |
	    WNOWAIT) != -1; i++)
		harness_idle(h, 50);
	channel_free(h->ch);
	h->ch = NULL;
	assert_int_equal(harness_count_fds(), before);
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	notice_unref(ok);
	notice_unref(fail);
	notice_unref(slow);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_exit_zero_reads_payload),
		HARNESS_TEST(test_exit_tempfail_is_retryable),
		HARNESS_TEST(test_exit_other_is_permanent),
		HARNESS_TEST(test_exit_silent_failure),
		HARNESS_TEST(test_killed_by_signal_is_retryable),
		HARNESS_TEST(test_timeout_kills_the_group),
		HARNESS_TEST(test_child_never_reads),
		HARNESS_TEST(test_environment),
		HARNESS_TEST(test_stop_in_flight),
		HARNESS_TEST(test_command_vanished),
		HARNESS_TEST(test_start_failures),
		HARNESS_TEST(test_check),
		HARNESS_TEST(test_no_leak),
	};

	log_init("test_adapter_exec", LOG_LEVEL_ERROR);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
