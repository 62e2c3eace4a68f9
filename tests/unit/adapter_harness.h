/*
 * adapter_harness.h: what the adapter tests share. A channel runs on a real
 * event_base with options parsed by its adapter's own check() from a small
 * libconfig file; notices and deliveries are built by hand; a done callback
 * records every outcome and stops the loop when enough have come.
 *
 * Include after <cmocka.h>. Functions are static inline so that a test that
 * does not use one of them still builds with -Werror.
 */
#ifndef ADAPTER_HARNESS_H
#define ADAPTER_HARNESS_H

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <ftw.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "config.h"
#include "notice.h"

#define HARNESS_KEEP	64	/* outcomes kept in full; all are counted */

struct harness {
	struct event_base	*base;
	char			 dir[64];	/* a temp dir for the test */
	config_t		 lc;
	struct config_errors	 errs;
	struct channel_conf	 conf;
	struct channel		*ch;
	char			 err[512];	/* from channel_new */
	int			 want;		/* outcomes to wait for */
	int			 ndone;
	int			 counts[OUTCOME_COUNT];
	enum delivery_outcome	 outcome[HARNESS_KEEP];
	char			 error[HARNESS_KEEP][600];
	char			 id[HARNESS_KEEP][DELIVERY_ID_MAX + 1];
};

static inline void
harness_init(struct harness *h)
{
	memset(h, 0, sizeof(*h));
	assert_non_null(h->base = event_base_new());
	strlcpy(h->dir, "/tmp/sb-adapter-XXXXXX", sizeof(h->dir));
	assert_non_null(mkdtemp(h->dir));
	config_init(&h->lc);
}

/* Parse "name = { options };" from a file and run the adapter's check. */
static inline int
harness_options(struct harness *h, const struct adapter_ops *ops,
    const char *name, const char *options)
{
	char path[128];
	const config_setting_t *group;
	FILE *f;

	snprintf(path, sizeof(path), "%s/channel.conf", h->dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "%s = {\n%s\n};\n", name, options);
	fclose(f);
	if (config_read_file(&h->lc, path) != CONFIG_TRUE)
		fail_msg("%s:%d: %s", path, config_error_line(&h->lc),
		    config_error_text(&h->lc));
	assert_non_null(group = config_lookup(&h->lc, name));
	h->conf.name = (char *)name;
	h->conf.ops = ops;
	h->conf.timeout_ms = 5000;
	h->conf.queue_max = 100000;
	h->conf.concurrency = 4;
	h->conf.setting = group;
	return (ops->check(group, &h->conf.args, &h->errs));
}

/* Whether some check error contains what. */
static inline int
harness_error_has(const struct harness *h, const char *what)
{
	size_t i;

	for (i = 0; i < h->errs.n; i++)
		if (strstr(h->errs.msgs[i], what) != NULL)
			return (1);
	return (0);
}

static inline void
harness_done_cb(struct channel *ch, struct delivery *d,
    enum delivery_outcome outcome, const char *error, void *arg)
{
	struct harness *h = arg;

	(void)ch;
	assert_true(outcome < OUTCOME_COUNT);
	h->counts[outcome]++;
	if (h->ndone < HARNESS_KEEP) {
		h->outcome[h->ndone] = outcome;
		strlcpy(h->error[h->ndone], error != NULL ? error : "",
		    sizeof(h->error[0]));
		strlcpy(h->id[h->ndone], d->id, sizeof(h->id[0]));
	}
	h->ndone++;
	notice_unref(d->notice);
	free(d);
	if (h->ndone >= h->want)
		event_base_loopbreak(h->base);
}

/* cmocka fixtures: each test gets a fresh harness in *state. */
static inline int
harness_setup(void **state)
{
	struct harness *h;

	assert_non_null(h = calloc(1, sizeof(*h)));
	harness_init(h);
	*state = h;
	return (0);
}

static inline void	harness_free(struct harness *);

static inline int
harness_teardown(void **state)
{
	harness_free(*state);
	free(*state);
	return (0);
}

#define HARNESS_TEST(f)	\
	cmocka_unit_test_setup_teardown(f, harness_setup, harness_teardown)

static inline struct channel *
harness_start(struct harness *h)
{
	h->ch = channel_new(h->base, &h->conf, 0, NULL, harness_done_cb, h,
	    h->err, sizeof(h->err));
	return (h->ch);
}

/* A notice as the envelope would make it: realtime, high, two audiences. */
static inline struct notice *
harness_notice(const char *id, const char *body, int anonymous)
{
	struct notice *n;

	assert_non_null(n = notice_new());
	strlcpy(n->id, id, sizeof(n->id));
	assert_non_null(n->source = strdup("billing"));
	assert_non_null(n->audience = calloc(2, sizeof(char *)));
	assert_non_null(n->audience[0] = strdup("dept:ops"));
	assert_non_null(n->audience[1] = strdup("staff:alice"));
	n->naudience = 2;
	assert_non_null(n->subject = strdup("Disk almost full"));
	if (body != NULL)
		assert_non_null(n->body = strdup(body));
	n->priority = PRIORITY_HIGH;
	n->goal = GOAL_RESOLVE;
	n->class = CLASS_REALTIME;
	n->anonymous = anonymous;
	n->received_ms = 1700000000123LL;
	assert_int_equal(notice_encode(n), 0);
	return (n);
}

/* Queue one delivery of n (the delivery takes its own reference). */
static inline void
harness_send(struct harness *h, struct notice *n)
{
	struct delivery *d;

	assert_non_null(d = calloc(1, sizeof(*d)));
	notice_ref(n);
	d->notice = n;
	snprintf(d->id, sizeof(d->id), "%s/%s", n->id, h->ch->name);
	d->fallback = 0;
	d->created_ms = adapter_now_ms();
	channel_enqueue(h->ch, d);
}

static inline void
harness_guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Run the loop until want outcomes in all, failing after timeout_ms. */
static inline void
harness_run(struct harness *h, int want, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct event *guard;

	h->want = want;
	if (h->ndone >= want)
		return;
	assert_non_null(guard = evtimer_new(h->base, harness_guard_cb,
	    h->base));
	evtimer_add(guard, &tv);
	event_base_dispatch(h->base);
	event_free(guard);
	if (h->ndone < want)
		fail_msg("only %d of %d outcomes after %d ms", h->ndone, want,
		    timeout_ms);
}

/* Run the loop for ms whatever happens (to let children be reaped). */
static inline void
harness_idle(struct harness *h, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(h->base, &tv);
	event_base_dispatch(h->base);
}

static inline int
harness_rm_cb(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static inline void
harness_free(struct harness *h)
{
	if (h->ch != NULL)
		channel_free(h->ch);
	h->ch = NULL;
	if (h->conf.ops != NULL && h->conf.args != NULL)
		h->conf.ops->args_free(h->conf.args);
	config_destroy(&h->lc);
	config_errors_clear(&h->errs);
	event_base_free(h->base);
	nftw(h->dir, harness_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Start again from nothing, within one test. */
static inline void
harness_reset(struct harness *h)
{
	harness_free(h);
	harness_init(h);
}

/* Open descriptors of this process. */
static inline int
harness_count_fds(void)
{
	struct dirent *de;
	DIR *dir;
	int n = 0;

	assert_non_null(dir = opendir("/proc/self/fd"));
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return (n);
}

/* A whole small file into a malloc'd string. */
static inline char *
harness_read_file(const char *path)
{
	char *buf;
	FILE *f;
	long len;

	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	assert_non_null(buf = calloc(1, (size_t)len + 1));
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return (buf);
}

#endif /* ADAPTER_HARNESS_H */
