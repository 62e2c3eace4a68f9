/*
 * curl.c: libcurl's multi interface on libevent. libcurl says which
 * sockets it wants watched (CURLMOPT_SOCKETFUNCTION) and when it next
 * needs a call (CURLMOPT_TIMERFUNCTION); each socket gets an EV_PERSIST
 * event, the loop one timer, and both call curl_multi_socket_action(), so
 * that name lookups (libcurl's threaded resolver), connects, TLS and
 * transfers all proceed without a blocking call on the event loop. Why
 * one loop per channel is said in curl.h.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "config.h"
#include "curl.h"
#include "duration.h"
#include "log.h"

/* One socket libcurl asked us to watch. */
struct curl_sock {
	struct event		*ev;
	curl_socket_t		 fd;
	TAILQ_ENTRY(curl_sock)	 entry;
};

/* One running transfer (its easy handle's CURLOPT_PRIVATE). */
struct curl_xfer {
	CURL			*easy;
	curl_loop_done_fn	 done;
	void			*arg;
	TAILQ_ENTRY(curl_xfer)	 entry;
};

struct curl_loop {
	CURLM				*multi;
	struct event_base		*base;
	struct event			*timer;
	int				 running;	/* libcurl's */
	int				 depth;		/* in callbacks */
	int				 dead;		/* freed in one */
	TAILQ_HEAD(, curl_sock)		 socks;
	TAILQ_HEAD(, curl_xfer)		 xfers;
	int				 nxfers;
};

static int	curl_loop_socket_cb(CURL *, curl_socket_t, int, void *,
		    void *);
static int	curl_loop_timer_cb(CURLM *, long, void *);
static void	curl_loop_event_cb(evutil_socket_t, short, void *);
static void	curl_loop_timeout_cb(evutil_socket_t, short, void *);
static void	curl_loop_action(struct curl_loop *, curl_socket_t, int);
static void	curl_loop_reap(struct curl_loop *);
static void	curl_loop_destroy(struct curl_loop *);
static void	curl_sock_free(struct curl_loop *, struct curl_sock *);
static int	curl_global(char *, size_t);

/* libcurl's global state, set up once for the process. */
static int
curl_global(char *err, size_t errlen)
{
	static int done;
	CURLcode rc;

	if (done)
		return (0);
	if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init: %s",
		    curl_easy_strerror(rc));
		return (-1);
	}
	done = 1;
	return (0);
}

struct curl_loop *
curl_loop_new(struct event_base *base, int max_conns, char *err,
    size_t errlen)
{
	struct curl_loop *l;

	if (curl_global(err, errlen) == -1)
		return (NULL);
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	TAILQ_INIT(&l->socks);
	TAILQ_INIT(&l->xfers);
	l->base = base;
	if ((l->multi = curl_multi_init()) == NULL ||
	    (l->timer = evtimer_new(base, curl_loop_timeout_cb, l)) == NULL) {
		snprintf(err, errlen, "cannot set up libcurl (out of memory)");
		curl_loop_destroy(l);
		return (NULL);
	}
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION,
	    curl_loop_socket_cb);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION,
	    curl_loop_timer_cb);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    (long)max_conns);
	curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, (long)max_conns);
	return (l);
}

void
curl_loop_free(struct curl_loop *l)
{
	struct curl_xfer *x;

	if (l == NULL)
		return;
	while ((x = TAILQ_FIRST(&l->xfers)) != NULL)
		curl_loop_cancel(l, x->easy);
	if (l->depth > 0) {
		l->dead = 1;	/* curl_loop_reap finishes the job */
		return;
	}
	curl_loop_destroy(l);
}

static void
curl_loop_destroy(struct curl_loop *l)
{
	struct curl_sock *s;

	if (l->multi != NULL)
		curl_multi_cleanup(l->multi);
	while ((s = TAILQ_FIRST(&l->socks)) != NULL)
		curl_sock_free(l, s);
	if (l->timer != NULL)
		event_free(l->timer);
	free(l);
}

int
curl_loop_add(struct curl_loop *l, CURL *easy, curl_loop_done_fn done,
    void *arg)
{
	struct curl_xfer *x;

	if (l->dead || (x = calloc(1, sizeof(*x))) == NULL)
		return (-1);
	x->easy = easy;
	x->done = done;
	x->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(l->multi, easy) != CURLM_OK) {
		free(x);
		return (-1);
	}
	TAILQ_INSERT_TAIL(&l->xfers, x, entry);
	l->nxfers++;
	return (0);
}

void
curl_loop_cancel(struct curl_loop *l, CURL *easy)
{
	struct curl_xfer *x = NULL;

	if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x) !=
	    CURLE_OK || x == NULL)
		return;
	curl_multi_remove_handle(l->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	TAILQ_REMOVE(&l->xfers, x, entry);
	l->nxfers--;
	free(x);
}

int
curl_loop_running(const struct curl_loop *l)
{
	return (l->nxfers);
}

static void
curl_sock_free(struct curl_loop *l, struct curl_sock *s)
{
	TAILQ_REMOVE(&l->socks, s, entry);
	if (s->ev != NULL)
		event_free(s->ev);
	free(s);
}

/* libcurl: watch s for what (or stop watching it). */
static int
curl_loop_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct curl_loop *l = userp;
	struct curl_sock *s = socketp;
	short kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			curl_sock_free(l, s);
		curl_multi_assign(l->multi, fd, NULL);
		return (0);
	}
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return (-1);
		s->fd = fd;
		TAILQ_INSERT_TAIL(&l->socks, s, entry);
		curl_multi_assign(l->multi, fd, s);
	} else if (s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if ((s->ev = event_new(l->base, fd, kind, curl_loop_event_cb, l)) ==
	    NULL || event_add(s->ev, NULL) == -1) {
		log_warnx("libcurl: cannot watch socket %d (out of memory)",
		    (int)fd);
		return (-1);
	}
	return (0);
}

/* libcurl: call us back in ms (0: at once; -1: no need). */
static int
curl_loop_timer_cb(CURLM *multi, long ms, void *userp)
{
	struct curl_loop *l = userp;
	struct timeval tv;

	(void)multi;
	if (ms < 0) {
		evtimer_del(l->timer);
		return (0);
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return (evtimer_add(l->timer, &tv) == -1 ? -1 : 0);
}

static void
curl_loop_event_cb(evutil_socket_t fd, short what, void *arg)
{
	int flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_loop_action(arg, fd, flags);
}

static void
curl_loop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	curl_loop_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* Let libcurl work, then report what finished. l may be gone after. */
static void
curl_loop_action(struct curl_loop *l, curl_socket_t fd, int flags)
{
	CURLMcode rc;

	l->depth++;
	rc = curl_multi_socket_action(l->multi, fd, flags, &l->running);
	if (rc != CURLM_OK)
		log_warnx("libcurl: curl_multi_socket_action: %s",
		    curl_multi_strerror(rc));
	l->depth--;
	curl_loop_reap(l);
}

/*
 * Report finished transfers. A done callback may add or cancel transfers
 * or free the loop; the message is copied before it is acted on, because
 * removing its handle invalidates it.
 */
static void
curl_loop_reap(struct curl_loop *l)
{
	struct curl_xfer *x;
	curl_loop_done_fn done;
	CURLcode result;
	CURLMsg *m;
	CURL *easy;
	void *arg;
	int left;

	l->depth++;
	while (!l->dead && (m = curl_multi_info_read(l->multi, &left)) !=
	    NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		easy = m->easy_handle;
		result = m->data.result;
		x = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		if (x == NULL)
			continue;
		done = x->done;
		arg = x->arg;
		curl_loop_cancel(l, easy);
		done(easy, result, arg);
	}
	if (--l->depth == 0 && l->dead)
		curl_loop_destroy(l);
}

int
curl_opts_known(const char *key)
{
	return (strcmp(key, "tls_verify") == 0 ||
	    strcmp(key, "ca_file") == 0 ||
	    strcmp(key, "connect_timeout") == 0);
}

int
curl_opts_check(const char *channel, const config_setting_t *group,
    struct curl_opts *o, struct config_errors *errs)
{
	const config_setting_t *s;
	const char *v;
	int64_t ms;

	memset(o, 0, sizeof(*o));
	o->tls_verify = 1;
	o->connect_timeout_ms = 5000;
	if ((s = config_setting_get_member(group, "tls_verify")) != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			config_error(errs, s, "channel %s: tls_verify must be "
			    "true or false", channel);
			return (-1);
		}
		o->tls_verify = config_setting_get_bool(s);
	}
	if ((s = config_setting_get_member(group, "ca_file")) != NULL) {
		if ((v = config_setting_get_string(s)) == NULL || *v == '\0') {
			config_error(errs, s, "channel %s: ca_file must be the "
			    "path of a PEM file of CA certificates", channel);
			return (-1);
		}
		if ((o->ca_file = strdup(v)) == NULL) {
			config_error(errs, s, "channel %s: out of memory",
			    channel);
			return (-1);
		}
	}
	if ((s = config_setting_get_member(group, "connect_timeout")) ==
	    NULL)
		return (0);
	if ((v = config_setting_get_string(s)) == NULL ||
	    duration_parse(v, &ms) == -1 || ms < 100 || ms > 300000) {
		config_error(errs, s, "channel %s: connect_timeout must be a "
		    "duration from 100ms to 5m, such as \"5s\"", channel);
		curl_opts_free(o);
		return (-1);
	}
	o->connect_timeout_ms = ms;
	return (0);
}

void
curl_opts_free(struct curl_opts *o)
{
	free(o->ca_file);
	o->ca_file = NULL;
}

int
curl_opts_apply(CURL *easy, const struct curl_opts *o, int64_t timeout_ms)
{
	int rc = 0;

	rc |= curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)o->connect_timeout_ms);
	rc |= curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	rc |= curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	rc |= curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER,
	    o->tls_verify ? 1L : 0L);
	rc |= curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST,
	    o->tls_verify ? 2L : 0L);
	if (o->ca_file != NULL)
		rc |= curl_easy_setopt(easy, CURLOPT_CAINFO, o->ca_file);
	return (rc == 0 ? 0 : -1);
}

void
curl_opts_warn(const char *channel, const struct curl_opts *o)
{
	if (!o->tls_verify)
		log_warnx("channel %s: tls_verify = false: TLS certificates "
		    "and host names are NOT checked, so anyone on the path "
		    "can read and change what this channel sends", channel);
}

int
curl_result_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_FILESIZE_EXCEEDED:
		return (0);
	default:
		return (1);
	}
}
