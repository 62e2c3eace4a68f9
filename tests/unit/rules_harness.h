/*
 * rules_harness.h: the daemon's delivery half without its timers, for the
 * unit tests of the response-time rules (test_escalate.c, test_batch.c).
 *
 * Each test runs in its own directory under /tmp (its cwd meanwhile, so
 * that a config's relative paths land there): the config the test writes,
 * a real SQLite spool, and dispatch with file and discard channels on an
 * event base the test pumps by hand. escalate.c and batch.c run without
 * an event base, on a clock the test sets: escalate_tick() and
 * batch_tick() fire what is due by the time the test names.
 */
#ifndef RULES_HARNESS_H
#define RULES_HARNESS_H

#include <sys/stat.h>

#include <dirent.h>
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "batch.h"
#include "classify.h"
#include "config.h"
#include "dispatch.h"
#include "envelope.h"
#include "escalate.h"
#include "log.h"
#include "notice.h"
#include "route.h"
#include "spool.h"
#include "tod.h"

#define MINUTE	(60 * 1000LL)

struct harness {
	char			 dir[64];
	char			 cwd[1024];
	struct config		*conf;
	struct spool		*spool;
	struct event_base	*base;
};

static struct harness	 hx;
static int64_t		 fake_now;

/* Each test file uses some of these. */
#define HARNESS_FN	static __attribute__((__unused__))

HARNESS_FN int64_t	 fake_clock(void);
HARNESS_FN void		 harness_start(const char *);
HARNESS_FN void		 harness_stop(void);
HARNESS_FN void		 harness_pump(void);
HARNESS_FN enum notice_class harness_accept(const char *, int64_t);
HARNESS_FN void		 harness_restart_dispatch(void);
HARNESS_FN int		 harness_restore_cb(const struct spool_pending *,
			    void *);
HARNESS_FN char		*harness_file(const char *);
HARNESS_FN const char	*harness_file_once(const char *);
HARNESS_FN size_t	 harness_count(const char *, const char *);
HARNESS_FN yajl_val	 harness_describe(const char *);
HARNESS_FN const char	*harness_delivery_field(yajl_val, const char *,
			    const char *);

static int64_t
fake_clock(void)
{
	return (fake_now);
}

/* A fresh directory, config, spool, dispatch, batch and escalate. */
static void
harness_start(const char *conf_text)
{
	struct config_errors errs = { .n = 0 };
	char err[512];
	size_t i;
	FILE *f;

	log_init("test", LOG_LEVEL_WARN);
	memset(&hx, 0, sizeof(hx));
	assert_non_null(getcwd(hx.cwd, sizeof(hx.cwd)));
	strlcpy(hx.dir, "/tmp/sb-test-rules-XXXXXX", sizeof(hx.dir));
	assert_non_null(mkdtemp(hx.dir));
	assert_int_equal(chdir(hx.dir), 0);
	assert_non_null(f = fopen("switchboard.conf", "w"));
	assert_true(fputs(conf_text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	if ((hx.conf = config_load("switchboard.conf", &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			print_error("%s\n", errs.msgs[i]);
		fail_msg("the test's config does not load");
	}
	assert_int_equal(tod_set_zone(hx.conf->timezone), 0);
	hx.spool = spool_open("sqlite", "spool.db", SPOOL_SYNC_OFF, err,
	    sizeof(err));
	if (hx.spool == NULL)
		fail_msg("spool_open: %s", err);
	assert_non_null(hx.base = event_base_new());
	assert_int_equal(dispatch_init(hx.base, hx.spool), 0);
	if (dispatch_start(hx.conf, err, sizeof(err)) == -1)
		fail_msg("dispatch_start: %s", err);
	assert_int_equal(batch_init(NULL, hx.spool, fake_clock), 0);
	assert_int_equal(escalate_init(NULL, hx.spool, hx.conf, fake_clock),
	    0);
}

/* Stop in the daemon's order and remove the directory. */
static void
harness_stop(void)
{
	struct dirent *de;
	DIR *d;

	dispatch_shutdown();
	escalate_shutdown();
	batch_shutdown();
	spool_close(hx.spool);
	config_free(hx.conf);
	event_base_free(hx.base);
	if ((d = opendir(".")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				unlink(de->d_name);
		closedir(d);
	}
	assert_int_equal(chdir(hx.cwd), 0);
	rmdir(hx.dir);
}

/* Let the channels deliver and the pass commit. */
static void
harness_pump(void)
{
	int i;

	for (i = 0; i < 50; i++)
		event_base_loop(hx.base, EVLOOP_NONBLOCK);
}

/*
 * Accept a notice as accept.c does (classify, route, spool, track when
 * interactive, commit, dispatch), as received at received_ms.
 */
static enum notice_class
harness_accept(const char *json, int64_t received_ms)
{
	struct spool_delivery sd[ROUTE_TARGETS_MAX];
	char ids[ROUTE_TARGETS_MAX][DELIVERY_ID_MAX + 1];
	struct envelope_error err;
	struct route_result res;
	struct envelope env;
	enum notice_class class;
	struct notice *n;
	size_t nd;

	if (envelope_parse(json, strlen(json), 65536, &env, &err) == -1)
		fail_msg("%s: %s", json, err.message);
	assert_int_equal(env.type, ENVELOPE_NOTICE);
	n = env.notice;
	env.notice = NULL;
	envelope_clear(&env);
	n->received_ms = received_ms;
	n->class = class = classify_notice(hx.conf, n);
	if (route_notice(hx.conf, n, &res) == 0)
		fail_msg("%s: %s", json, res.reason);
	assert_int_equal(notice_encode(n), 0);
	nd = dispatch_plan(n, &res, sd, ids, ROUTE_TARGETS_MAX);
	if (spool_add_notice(hx.spool, n, sd, nd) == -1)
		fail_msg("spool_add_notice: %s", hx.spool->error);
	if (class == CLASS_INTERACTIVE)
		assert_int_equal(escalate_track(n, res.targets[0].route), 0);
	assert_int_equal(spool_commit(hx.spool), 0);
	dispatch_notice(n, &res);
	notice_unref(n);
	return (class);
}

/*
 * A restart of the delivery side: channels, digests and deliveries in
 * memory are dropped and read back from the spool, as main.c does.
 */
static void
harness_restart_dispatch(void)
{
	char err[512];

	dispatch_shutdown();
	batch_shutdown();
	assert_int_equal(dispatch_init(hx.base, hx.spool), 0);
	if (dispatch_start(hx.conf, err, sizeof(err)) == -1)
		fail_msg("dispatch_start: %s", err);
	assert_int_equal(batch_init(NULL, hx.spool, fake_clock), 0);
	if (spool_load_pending(hx.spool, harness_restore_cb, NULL) == -1)
		fail_msg("spool_load_pending: %s", hx.spool->error);
	batch_restore_done();
	assert_int_equal(spool_commit(hx.spool), 0);
}

static int
harness_restore_cb(const struct spool_pending *p, void *arg)
{
	struct envelope_error err;
	struct notice *n;
	size_t i;

	(void)arg;
	n = envelope_parse_stored(p->notice_json, p->notice_len, &err);
	if (n == NULL)
		fail_msg("stored notice: %s", err.message);
	for (i = 0; i < p->ndeliveries; i++)
		assert_int_equal(dispatch_restore(n, &p->deliveries[i]), 0);
	notice_unref(n);
	return (0);
}

/* A file of the test's directory, whole ("" when absent); free it. */
static char *
harness_file(const char *name)
{
	struct stat sb;
	char *buf;
	FILE *f;

	if ((f = fopen(name, "r")) == NULL) {
		assert_non_null(buf = strdup(""));
		return (buf);
	}
	assert_int_equal(fstat(fileno(f), &sb), 0);
	assert_non_null(buf = calloc(1, (size_t)sb.st_size + 1));
	assert_int_equal(fread(buf, 1, (size_t)sb.st_size, f),
	    (size_t)sb.st_size);
	fclose(f);
	return (buf);
}

/* As harness_file, kept until the next call (for one expression). */
static const char *
harness_file_once(const char *name)
{
	static char *last;

	free(last);
	last = harness_file(name);
	return (last);
}

static size_t
harness_count(const char *text, const char *needle)
{
	size_t n = 0;

	while ((text = strstr(text, needle)) != NULL) {
		n++;
		text += strlen(needle);
	}
	return (n);
}

/* What the status socket's "message ID" shows; yajl_tree_free it. */
static yajl_val
harness_describe(const char *id)
{
	char *json, errbuf[256];
	yajl_val v;

	if (spool_describe(hx.spool, id, &json) != 1)
		fail_msg("spool_describe %s: %s", id, hx.spool->error);
	v = yajl_tree_parse(json, errbuf, sizeof(errbuf));
	free(json);
	if (v == NULL)
		fail_msg("describe %s: %s", id, errbuf);
	return (v);
}

/* A string field of the described notice's delivery to a channel. */
static const char *
harness_delivery_field(yajl_val notice, const char *channel,
    const char *field)
{
	const char *dpath[] = { "deliveries", NULL };
	const char *cpath[] = { "channel", NULL };
	const char *fpath[] = { NULL, NULL }, *name;
	yajl_val list, d, c;
	size_t i;

	fpath[0] = field;
	list = yajl_tree_get(notice, dpath, yajl_t_array);
	assert_non_null(list);
	for (i = 0; i < YAJL_GET_ARRAY(list)->len; i++) {
		d = YAJL_GET_ARRAY(list)->values[i];
		c = yajl_tree_get(d, cpath, yajl_t_string);
		name = c != NULL ? YAJL_GET_STRING(c) : NULL;
		if (name == NULL || strcmp(name, channel) != 0)
			continue;
		c = yajl_tree_get(d, fpath, yajl_t_any);
		return (c != NULL && YAJL_IS_STRING(c) ? YAJL_GET_STRING(c) :
		    NULL);
	}
	fail_msg("no delivery to %s", channel);
	return (NULL);
}

#endif /* RULES_HARNESS_H */
