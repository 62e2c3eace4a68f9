/*
 * durable.c: one flusher thread per spool (see durable.h). The thread
 * touches nothing of the loop's: it calls the spool's thread-safe sync op
 * and reports through a pipe that the loop watches.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "durable.h"
#include "log.h"
#include "spool.h"

struct durable {
	struct spool	*spool;
	durable_fn	 fn;
	void		*arg;
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 wake;		/* the thread: work or stop */
	pthread_cond_t	 flushed;	/* durable_wait */
	uint64_t	 requested;
	uint64_t	 done;		/* flushed up to here */
	uint64_t	 told;		/* the callback knows up to here */
	int		 ok;		/* the last flush's result */
	char		 error[256];
	int		 stop;
	int		 pipe[2];
	struct event	*ev;
};

static void	*durable_main(void *);
static void	 durable_report_cb(evutil_socket_t, short, void *);
static void	 durable_report(struct durable *);

struct durable *
durable_new(struct event_base *base, struct spool *spool, durable_fn fn,
    void *arg, char *err, size_t errlen)
{
	struct durable *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	d->spool = spool;
	d->fn = fn;
	d->arg = arg;
	d->ok = 1;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->wake, NULL);
	pthread_cond_init(&d->flushed, NULL);
	if (pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    (d->ev = event_new(base, d->pipe[0], EV_READ | EV_PERSIST,
	    durable_report_cb, d)) == NULL || event_add(d->ev, NULL) == -1 ||
	    pthread_create(&d->thread, NULL, durable_main, d) != 0) {
		snprintf(err, errlen, "cannot start the spool flusher: %s",
		    strerror(errno));
		if (d->ev != NULL)
			event_free(d->ev);
		free(d);
		return (NULL);
	}
	return (d);
}

uint64_t
durable_request(struct durable *d)
{
	uint64_t gen;

	pthread_mutex_lock(&d->mu);
	gen = ++d->requested;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->mu);
	return (gen);
}

void
durable_wait(struct durable *d)
{
	uint64_t gen = durable_request(d);

	pthread_mutex_lock(&d->mu);
	while (d->done < gen)
		pthread_cond_wait(&d->flushed, &d->mu);
	pthread_mutex_unlock(&d->mu);
	durable_report(d);
}

void
durable_free(struct durable *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = 1;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	event_free(d->ev);
	close(d->pipe[0]);
	close(d->pipe[1]);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->wake);
	pthread_cond_destroy(&d->flushed);
	free(d);
}

/* The thread: flush whenever asked, one flush for all asked so far. */
static void *
durable_main(void *arg)
{
	struct durable *d = arg;
	char error[256];
	uint64_t gen;
	int ok;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (!d->stop && d->requested == d->done)
			pthread_cond_wait(&d->wake, &d->mu);
		if (d->requested == d->done)
			break;	/* stopping, nothing left */
		gen = d->requested;
		pthread_mutex_unlock(&d->mu);
		error[0] = '\0';
		ok = spool_sync(d->spool, error, sizeof(error)) == 0;
		pthread_mutex_lock(&d->mu);
		d->done = gen;
		d->ok = ok;
		if (!ok)
			strlcpy(d->error, error, sizeof(d->error));
		pthread_cond_broadcast(&d->flushed);
		/* A full pipe already says "look": nothing is lost. */
		(void)write(d->pipe[1], "", 1);
	}
	pthread_mutex_unlock(&d->mu);
	return (NULL);
}

static void
durable_report_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	durable_report(arg);
}

/* Tell the loop how far the flushes have come. */
static void
durable_report(struct durable *d)
{
	char error[256];
	uint64_t gen;
	int ok;

	pthread_mutex_lock(&d->mu);
	gen = d->done;
	ok = d->ok;
	strlcpy(error, d->error, sizeof(error));
	pthread_mutex_unlock(&d->mu);
	if (gen <= d->told)
		return;
	d->told = gen;
	if (!ok)
		log_warnx("spool flush failed: %s", error);
	d->fn(gen, ok, error, d->arg);
}
