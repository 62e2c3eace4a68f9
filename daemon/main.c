/*
 * main.c: switchboardd's flags, signals, and the order of start and stop.
 *
 * Start: config → spool → channels → restore what the spool holds →
 * ingress → ready. Stop (SIGTERM/SIGINT): refuse new notices, close
 * ingress, let channel queues drain for up to shutdown_timeout, then stop
 * the channels (what is left stays pending in the spool) and exit 0.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <zmq.h>

#include "accept.h"
#include "acksecret.h"
#include "adapter.h"
#include "auth.h"
#include "batch.h"
#include "breaker.h"
#include "config.h"
#include "deadline.h"
#include "dispatch.h"
#include "envelope.h"
#include "escalate.h"
#include "http.h"
#include "ingress.h"
#include "log.h"
#include "metrics.h"
#include "privdrop.h"
#include "reload.h"
#include "sb_protocol.h"
#include "spool.h"
#include "status.h"
#include "tod.h"

/* How often the drain at shutdown looks at the queues. */
#define MAIN_DRAIN_POLL_MS	20
/* Retention pruning: rows a run, and how often. */
#define MAIN_PRUNE_BATCH	500
#define MAIN_PRUNE_EVERY_S	60

static struct {
	struct event_base	*base;
	void			*zctx;
	struct config		*conf;
	struct spool		*spool;
	struct ingress		*ingress;
	struct http		*http;
	struct event		*sigs[5];
	struct event		*drain;
	struct event		*prune;
	struct event		*watchdog;
	int64_t			 drain_until;
	int			 stopping;
	struct privdrop		 priv;
} sbd;

static void	main_usage(void) __attribute__((noreturn));
static int	main_check(const char *);
static void	main_start(const char *, int foreground, int verbose);
static int	main_restore_cb(const struct spool_pending *, void *);
static int	main_waiting_cb(const struct spool_waiting *, void *);
static void	main_signal_cb(evutil_socket_t, short, void *);
static void	main_stop(void);
static void	main_drain_cb(evutil_socket_t, short, void *);
static void	main_prune_cb(evutil_socket_t, short, void *);
static void	main_watchdog_cb(evutil_socket_t, short, void *);
static void	main_watchdog_start(void);
static void	main_privdrop(void);
static void	main_free(void);

int
main(int argc, char *argv[])
{
	const char *path = SB_DEFAULT_CONFIG;
	int ch, foreground = 0, test = 0, verbose = 0;

	log_init("switchboardd", LOG_LEVEL_INFO);
	while ((ch = getopt(argc, argv, "c:ftvV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			test = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("switchboardd %s (protocol v%d)\n", SB_VERSION,
			    SB_PROTOCOL_VERSION);
			return (0);
		default:
			main_usage();
		}
	}
	if (optind != argc)
		main_usage();
	if (test)
		return (main_check(path));
	main_start(path, foreground, verbose);
	event_base_dispatch(sbd.base);
	main_free();
	log_info("stopped");
	return (0);
}

static void
main_usage(void)
{
	fprintf(stderr, "usage: switchboardd [-ftvV] [-c file]\n");
	exit(2);
}

/* -t: every error as "file:line: message", exit 1; or exit 0. */
static int
main_check(const char *path)
{
	struct config_errors errs = { .n = 0 };
	struct config *conf;
	size_t i;

	if ((conf = config_load(path, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		if (errs.dropped > 0)
			fprintf(stderr, "%s: %zu more errors not shown\n", path,
			    errs.dropped);
		config_errors_clear(&errs);
		return (1);
	}
	fprintf(stderr, "%s: ok\n", path);
	config_free(conf);
	return (0);
}

static void
main_start(const char *path, int foreground, int verbose)
{
	/*
	 * SIGPIPE and SIGXFSZ are caught (and ignored) so that a closed pipe
	 * or a file size limit fails the write with EPIPE/EFBIG instead of
	 * killing the daemon.
	 */
	static const int signals[] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE,
	    SIGXFSZ };
	struct config_errors errs = { .n = 0 };
	char err[512];
	size_t i;
	int level;

	if ((sbd.conf = config_load(path, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			log_warnx("config: %s", errs.msgs[i]);
		fatalx("%s: not started: the configuration is invalid", path);
	}
	level = log_level_parse(sbd.conf->log_level);
	log_set_level(verbose ? LOG_LEVEL_INFO + verbose : level);
	/* Now, so that a user who does not exist stops the start early. */
	if (privdrop_resolve(sbd.conf->user, sbd.conf->group, &sbd.priv, err,
	    sizeof(err)) == -1)
		fatalx("%s", err);
	if (!foreground) {
		if (daemon(1, 0) == -1)
			fatal("daemon");
		log_use_syslog();
	}
	if ((sbd.base = event_base_new()) == NULL ||
	    (sbd.zctx = zmq_ctx_new()) == NULL)
		fatal("event_base_new/zmq_ctx_new");
	adapter_init(sbd.zctx);
	metrics_init();
	if (tod_set_zone(sbd.conf->timezone) == -1)
		fatalx("timezone %s: not found", sbd.conf->timezone);
	/* Before any channel: the links of the first deliveries need it. */
	if (acksecret_load(sbd.conf, err, sizeof(err)) == -1)
		fatalx("%s", err);
	sbd.spool = spool_open("sqlite", sbd.conf->spool_path,
	    sbd.conf->spool_sync ? SPOOL_SYNC_ASYNC : SPOOL_SYNC_OFF, err,
	    sizeof(err));
	if (sbd.spool == NULL)
		fatalx("spool: %s", err);
	breaker_init(sbd.spool);
	if (dispatch_init(sbd.base, sbd.spool) == -1 ||
	    batch_init(sbd.base, sbd.spool, NULL) == -1 ||
	    escalate_init(sbd.base, sbd.spool, sbd.conf, NULL) == -1)
		fatalx("out of memory");
	if (dispatch_start(sbd.conf, err, sizeof(err)) == -1)
		fatalx("channel: %s", err);
	if (spool_load_pending(sbd.spool, main_restore_cb, NULL) == -1)
		fatalx("spool: cannot read pending notices: %s",
		    sbd.spool->error);
	batch_restore_done();
	if (spool_load_waiting(sbd.spool, main_waiting_cb, NULL) == -1)
		fatalx("spool: cannot read notices waiting for an ack: %s",
		    sbd.spool->error);
	if (spool_commit(sbd.spool) == -1)
		fatalx("spool: %s", sbd.spool->error);
	reload_init(sbd.conf, path);
	accept_init(sbd.conf, sbd.spool);
	if (sbd.conf->spool_sync && accept_durable(sbd.base, err,
	    sizeof(err)) == -1)
		fatalx("spool: %s", err);
	/* Before ingress: a second daemon must not take over ipc endpoints. */
	if (status_init(sbd.base, sbd.spool, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (sbd.conf->http_listen != NULL && (sbd.http = http_new(sbd.base,
	    sbd.conf, sbd.spool, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	/* The ZAP handler must be there before a CURVE endpoint is bound. */
	if (auth_init(sbd.base, sbd.zctx, sbd.conf, err, sizeof(err)) == -1)
		fatalx("%s", err);
	sbd.ingress = ingress_new(sbd.base, sbd.zctx, sbd.conf, accept_batch,
	    NULL, err, sizeof(err));
	if (sbd.ingress == NULL)
		fatalx("%s", err);
	main_privdrop();
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		sbd.sigs[i] = evsignal_new(sbd.base, signals[i],
		    main_signal_cb, NULL);
		if (sbd.sigs[i] == NULL || evsignal_add(sbd.sigs[i], NULL))
			fatalx("evsignal_new");
	}
	sbd.prune = event_new(sbd.base, -1, EV_PERSIST, main_prune_cb, NULL);
	event_add(sbd.prune, &(struct timeval){ MAIN_PRUNE_EVERY_S, 0 });
	log_info("started version=%s config=%s hash=%s channels=%zu "
	    "routes=%zu pending=%zu waiting=%zu", SB_VERSION, path,
	    sbd.conf->hash, sbd.conf->nchannels, sbd.conf->nroutes,
	    dispatch_pending(), escalate_waiting());
	main_watchdog_start();
	sd_notify(0, "READY=1");
}

/*
 * Every socket is bound and the spool and channels are open: what needed
 * root is done, so root goes, for good.
 */
static void
main_privdrop(void)
{
	char err[256];
	int rc;

	if (!sbd.priv.wanted) {
		if (geteuid() == 0)
			log_warnx("running as root: set user (and group) so "
			    "that root is given up once the sockets are bound");
		return;
	}
	if (status_chown(sbd.priv.uid, sbd.priv.gid, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if ((rc = privdrop_apply(&sbd.priv, err, sizeof(err))) == -1)
		fatalx("cannot drop privileges to user %s: %s", sbd.priv.user,
		    err);
	if (rc == 1) {
		if (geteuid() != sbd.priv.uid)
			log_warnx("user %s: not started as root, so running on "
			    "as uid %u", sbd.priv.user, (unsigned)geteuid());
		return;
	}
	log_info("privileges dropped user=%s uid=%u group=%s gid=%u",
	    sbd.priv.user, (unsigned)sbd.priv.uid, sbd.priv.group,
	    (unsigned)sbd.priv.gid);
}

/* Under systemd's WatchdogSec, prove from the loop that it turns. */
static void
main_watchdog_start(void)
{
	struct timeval tv;
	uint64_t usec;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return;
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	sbd.watchdog = event_new(sbd.base, -1, EV_PERSIST, main_watchdog_cb,
	    NULL);
	if (sbd.watchdog == NULL || event_add(sbd.watchdog, &tv) == -1)
		fatalx("watchdog timer");
	log_info("watchdog interval_us=%llu", (unsigned long long)usec);
}

static void
main_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

/* Put a notice the spool still holds back on its channels' queues. */
static int
main_restore_cb(const struct spool_pending *p, void *arg)
{
	struct envelope_error err;
	struct notice *n;
	size_t i;

	(void)arg;
	if ((n = envelope_parse_stored(p->notice_json, p->notice_len,
	    &err)) == NULL) {
		log_warnx("spool: unreadable notice skipped: %s", err.message);
		return (0);
	}
	for (i = 0; i < p->ndeliveries; i++)
		if (dispatch_restore(n, &p->deliveries[i]) == -1)
			fatalx("restore: out of memory");
	notice_unref(n);
	return (0);
}

/* Re-arm the response deadline or escalation of a notice awaiting an ack. */
static int
main_waiting_cb(const struct spool_waiting *w, void *arg)
{
	struct envelope_error err;
	struct notice *n;

	(void)arg;
	if ((n = envelope_parse_stored(w->notice_json, w->notice_len,
	    &err)) == NULL) {
		log_warnx("spool: unreadable waiting notice skipped: %s",
		    err.message);
		return (0);
	}
	escalate_restore(n, w);
	notice_unref(n);
	return (0);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	char msg[4096];

	(void)what;
	(void)arg;
	switch (sig) {
	case SIGHUP:
		log_info("SIGHUP: reloading and reopening channel files");
		(void)reload_run(msg, sizeof(msg));
		dispatch_reopen();
		break;
	case SIGTERM:
	case SIGINT:
		if (!sbd.stopping)
			main_stop();
		break;
	default:
		break;	/* SIGPIPE, SIGXFSZ: the write fails instead */
	}
}

/* Stop accepting; drain the channels for up to shutdown_timeout. */
static void
main_stop(void)
{
	sbd.stopping = 1;
	sd_notify(0, "STOPPING=1");
	log_info("stopping pending=%zu", dispatch_pending());
	accept_close("switchboardd is shutting down");
	reload_block("switchboardd is shutting down");
	accept_flush();
	ingress_free(sbd.ingress);
	sbd.ingress = NULL;
	sbd.drain_until = deadline_monotonic_ms() +
	    reload_current->shutdown_timeout_ms;
	sbd.drain = event_new(sbd.base, -1, EV_PERSIST, main_drain_cb, NULL);
	event_add(sbd.drain, &(struct timeval){ 0, MAIN_DRAIN_POLL_MS * 1000 });
	main_drain_cb(-1, 0, NULL);
}

static void
main_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	size_t left = dispatch_busy();

	(void)fd;
	(void)what;
	(void)arg;
	if (left > 0 && deadline_monotonic_ms() < sbd.drain_until)
		return;
	if (left > 0)
		log_warnx("shutdown: %zu deliveries left pending in the spool "
		    "for the next start", left);
	dispatch_shutdown();
	escalate_shutdown();
	batch_shutdown();
	accept_shutdown();
	event_base_loopexit(sbd.base, NULL);
}

static void
main_prune_cb(evutil_socket_t fd, short what, void *arg)
{
	int n;

	(void)fd;
	(void)what;
	(void)arg;
	n = spool_prune(sbd.spool, deadline_wall_ms() -
	    reload_current->retain_ms, MAIN_PRUNE_BATCH);
	if (n > 0)
		log_info("spool pruned notices=%d", n);
	if (spool_commit(sbd.spool) == -1)
		log_warnx("spool prune failed: %s", sbd.spool->error);
}

static void
main_free(void)
{
	size_t i;

	for (i = 0; i < sizeof(sbd.sigs) / sizeof(sbd.sigs[0]); i++)
		if (sbd.sigs[i] != NULL)
			event_free(sbd.sigs[i]);
	if (sbd.drain != NULL)
		event_free(sbd.drain);
	if (sbd.prune != NULL)
		event_free(sbd.prune);
	if (sbd.watchdog != NULL)
		event_free(sbd.watchdog);
	ingress_free(sbd.ingress);
	http_free(sbd.http);
	acksecret_clear();
	status_shutdown();
	spool_close(sbd.spool);
	metrics_shutdown();
	auth_shutdown();
	reload_shutdown();
	zmq_ctx_term(sbd.zctx);
	event_base_free(sbd.base);
}
