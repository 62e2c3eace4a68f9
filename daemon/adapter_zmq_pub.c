/*
 * adapter_zmq_pub.c: the "zmq_pub" channel, a ZeroMQ PUB fan-out. Each
 * delivery is one two-frame message [channel name, payload], so that a
 * subscriber filters by channel with an ordinary ZeroMQ subscription.
 *
 * PUB never blocks and never pushes back: a subscriber that falls more than
 * sndhwm messages behind loses messages, and one that is not connected
 * receives nothing. "Delivered" here means "handed to ZeroMQ".
 *
 * A reload that changes the channel hands the bound socket to the new
 * channel (takeover) instead of binding again: a tcp port cannot be bound
 * twice, and subscribers stay connected through the reload. What the
 * socket is bound to is kept as bound (a wildcard port resolved), so that
 * a dropped endpoint can be unbound, and one that could not be bound then
 * is tried again every second until it is.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "adapter.h"
#include "config.h"
#include "log.h"
#include "zmqio.h"

#define ZMQ_PUB_SNDHWM_DEFAULT	10000
#define ZMQ_PUB_ENDPOINTS_MAX	16

struct zmq_pub_args {
	char	*endpoints[ZMQ_PUB_ENDPOINTS_MAX];
	size_t	 nendpoints;
	int	 sndhwm;
};

/* A configured endpoint and what the socket is bound to for it. */
struct zmq_pub_bound {
	char	*endpoint;	/* as configured */
	char	*resolved;	/* ZMQ_LAST_ENDPOINT; NULL: not bound (yet) */
};

struct zmq_pub_state {
	void			*socket;
	int			 failing;	/* the last send failed */
	struct zmq_pub_bound	 bound[ZMQ_PUB_ENDPOINTS_MAX];
	size_t			 nbound;
	struct event		*rebind;	/* while one is not bound */
};

/* How often an endpoint that could not be bound at a reload is tried. */
#define ZMQ_PUB_REBIND_MS	1000
static const struct timeval zmq_pub_rebind_tv = {
    ZMQ_PUB_REBIND_MS / 1000, (ZMQ_PUB_REBIND_MS % 1000) * 1000 };

static int	zmq_pub_check(const config_setting_t *, void **,
		    struct config_errors *);
static void	zmq_pub_args_free(void *);
static int	zmq_pub_start(struct channel *, char *, size_t);
static void	zmq_pub_deliver(struct channel *, struct delivery *);
static int	zmq_pub_health(struct channel *);
static void	zmq_pub_stop(struct channel *);
static int	zmq_pub_option_known(const char *);
static int	zmq_pub_check_endpoints(const char *,
		    const config_setting_t *, struct zmq_pub_args *,
		    struct config_errors *);
static int	zmq_pub_check_sndhwm(const char *, const config_setting_t *,
		    struct zmq_pub_args *, struct config_errors *);
static int	zmq_pub_add_endpoint(const char *, const config_setting_t *,
		    struct zmq_pub_args *, struct config_errors *);
static int	zmq_pub_bind_one(struct channel *, struct zmq_pub_bound *,
		    char *, size_t);
static int	zmq_pub_add_bound(struct zmq_pub_state *, const char *,
		    const char *);
static void	zmq_pub_takeover(struct channel *, struct channel *);
static const struct zmq_pub_bound *zmq_pub_find(const struct zmq_pub_state *,
		    const char *);
static int	zmq_pub_has_endpoint(const struct zmq_pub_args *,
		    const char *);
static void	zmq_pub_rebind_cb(evutil_socket_t, short, void *);
static void	zmq_pub_state_free(struct zmq_pub_state *);

const struct adapter_ops adapter_zmq_pub_ops = {
	.name = "zmq_pub",
	.check = zmq_pub_check,
	.args_free = zmq_pub_args_free,
	.start = zmq_pub_start,
	.deliver = zmq_pub_deliver,
	.health = zmq_pub_health,
	.takeover = zmq_pub_takeover,
	.stop = zmq_pub_stop,
};

static int
zmq_pub_option_known(const char *name)
{
	if (strcmp(name, "endpoint") == 0 || strcmp(name, "sndhwm") == 0)
		return (1);
	return (config_channel_common(name));
}

/* Options: endpoint (a string or a list of them, required), sndhwm. */
static int
zmq_pub_check(const config_setting_t *group, void **argsp,
    struct config_errors *errs)
{
	const char *name = config_setting_name(group);
	const config_setting_t *s;
	struct zmq_pub_args *args;
	int i, rc = 0;

	*argsp = NULL;
	if (name == NULL)
		name = "(unnamed)";
	if ((args = calloc(1, sizeof(*args))) == NULL) {
		config_error(errs, group, "channel %s: out of memory", name);
		return (-1);
	}
	args->sndhwm = ZMQ_PUB_SNDHWM_DEFAULT;
	for (i = 0; (s = config_setting_get_elem(group, i)) != NULL; i++) {
		if (!zmq_pub_option_known(config_setting_name(s))) {
			config_error(errs, s, "channel %s: unknown option '%s' "
			    "for type zmq_pub (expected endpoint, sndhwm)",
			    name, config_setting_name(s));
			rc = -1;
		}
	}
	if (zmq_pub_check_endpoints(name, group, args, errs) == -1)
		rc = -1;
	if (zmq_pub_check_sndhwm(name, group, args, errs) == -1)
		rc = -1;
	if (rc == -1) {
		zmq_pub_args_free(args);
		return (-1);
	}
	*argsp = args;
	return (0);
}

static int
zmq_pub_check_endpoints(const char *name, const config_setting_t *group,
    struct zmq_pub_args *args, struct config_errors *errs)
{
	const config_setting_t *s, *e;
	int i, rc = 0;

	if ((s = config_setting_get_member(group, "endpoint")) == NULL) {
		config_error(errs, group, "channel %s: type zmq_pub needs an "
		    "endpoint (such as \"tcp://*:7451\")", name);
		return (-1);
	}
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return (zmq_pub_add_endpoint(name, s, args, errs));
	if (!config_setting_is_aggregate(s) || config_setting_is_group(s) ||
	    config_setting_length(s) == 0) {
		config_error(errs, s, "channel %s: endpoint must be a string "
		    "or a non-empty list of strings", name);
		return (-1);
	}
	for (i = 0; (e = config_setting_get_elem(s, i)) != NULL; i++)
		if (zmq_pub_add_endpoint(name, e, args, errs) == -1)
			rc = -1;
	return (rc);
}

static int
zmq_pub_add_endpoint(const char *name, const config_setting_t *s,
    struct zmq_pub_args *args, struct config_errors *errs)
{
	const char *ep = config_setting_get_string(s);

	if (ep == NULL || *ep == '\0') {
		config_error(errs, s, "channel %s: an endpoint must be a "
		    "non-empty string", name);
		return (-1);
	}
	if (strstr(ep, "://") == NULL) {
		config_error(errs, s, "channel %s: endpoint '%s' has no "
		    "transport (expected tcp://, ipc:// or inproc://)", name,
		    ep);
		return (-1);
	}
	if (args->nendpoints == ZMQ_PUB_ENDPOINTS_MAX) {
		config_error(errs, s, "channel %s: more than %d endpoints",
		    name, ZMQ_PUB_ENDPOINTS_MAX);
		return (-1);
	}
	if ((args->endpoints[args->nendpoints] = strdup(ep)) == NULL) {
		config_error(errs, s, "channel %s: out of memory", name);
		return (-1);
	}
	args->nendpoints++;
	return (0);
}

static int
zmq_pub_check_sndhwm(const char *name, const config_setting_t *group,
    struct zmq_pub_args *args, struct config_errors *errs)
{
	const config_setting_t *s;
	long long v;

	if ((s = config_setting_get_member(group, "sndhwm")) == NULL)
		return (0);
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		config_error(errs, s, "channel %s: sndhwm must be an integer "
		    "(messages queued per subscriber; 0 is unlimited)", name);
		return (-1);
	}
	v = config_setting_get_int64(s);
	if (v < 0 || v > 10000000) {
		config_error(errs, s, "channel %s: sndhwm %lld is out of range "
		    "(0 to 10000000)", name, v);
		return (-1);
	}
	args->sndhwm = (int)v;
	return (0);
}

static void
zmq_pub_args_free(void *p)
{
	struct zmq_pub_args *args = p;
	size_t i;

	if (args == NULL)
		return;
	for (i = 0; i < args->nendpoints; i++)
		free(args->endpoints[i]);
	free(args);
}

static int
zmq_pub_start(struct channel *ch, char *err, size_t errlen)
{
	const struct zmq_pub_args *args = ch->conf->args;
	struct zmq_pub_state *st;
	size_t i;
	int linger = 0;

	if (adapter_zmq_ctx() == NULL) {
		snprintf(err, errlen, "channel %s: no ZeroMQ context (adapter_"
		    "init was not called)", ch->name);
		return (-1);
	}
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->rebind = event_new(ch->base, -1, EV_PERSIST,
	    zmq_pub_rebind_cb, ch)) == NULL) {
		free(st);
		snprintf(err, errlen, "channel %s: out of memory", ch->name);
		return (-1);
	}
	ch->state = st;
	if (ch->predecessor != NULL)
		return (0);	/* its socket comes at takeover */
	if ((st->socket = zmq_socket(adapter_zmq_ctx(), ZMQ_PUB)) == NULL) {
		snprintf(err, errlen, "channel %s: zmq_socket: %s", ch->name,
		    zmq_strerror(zmq_errno()));
		goto fail;
	}
	if (zmq_setsockopt(st->socket, ZMQ_LINGER, &linger,
	    sizeof(linger)) == -1 || zmq_setsockopt(st->socket, ZMQ_SNDHWM,
	    &args->sndhwm, sizeof(args->sndhwm)) == -1) {
		snprintf(err, errlen, "channel %s: zmq_setsockopt: %s",
		    ch->name, zmq_strerror(zmq_errno()));
		goto fail;
	}
	for (i = 0; i < args->nendpoints; i++) {
		if (zmq_pub_add_bound(st, args->endpoints[i], NULL) == -1) {
			snprintf(err, errlen, "channel %s: out of memory",
			    ch->name);
			goto fail;
		}
		if (zmq_pub_bind_one(ch, &st->bound[st->nbound - 1], err,
		    errlen) == -1)
			goto fail;
	}
	return (0);
fail:
	zmq_pub_state_free(st);
	ch->state = NULL;
	return (-1);
}

/* Bind one endpoint, logging what it is bound to (a wildcard resolved). */
static int
zmq_pub_bind_one(struct channel *ch, struct zmq_pub_bound *b, char *err,
    size_t errlen)
{
	struct zmq_pub_state *st = ch->state;
	char resolved[256];
	size_t len = sizeof(resolved);

	if (zmqio_bind(st->socket, b->endpoint) == -1) {
		snprintf(err, errlen, "channel %s: bind %s: %s", ch->name,
		    b->endpoint, zmq_strerror(zmq_errno()));
		return (-1);
	}
	if (zmq_getsockopt(st->socket, ZMQ_LAST_ENDPOINT, resolved, &len) ==
	    -1)
		strlcpy(resolved, b->endpoint, sizeof(resolved));
	if ((b->resolved = strdup(resolved)) == NULL) {
		snprintf(err, errlen, "channel %s: out of memory", ch->name);
		return (-1);
	}
	log_info("channel=%s type=zmq_pub bound=%s", ch->name, resolved);
	return (0);
}

/* One more configured endpoint, bound to resolved (NULL: not yet). */
static int
zmq_pub_add_bound(struct zmq_pub_state *st, const char *endpoint,
    const char *resolved)
{
	struct zmq_pub_bound *b = &st->bound[st->nbound];

	if ((b->endpoint = strdup(endpoint)) == NULL ||
	    (resolved != NULL && (b->resolved = strdup(resolved)) == NULL)) {
		free(b->endpoint);
		b->endpoint = NULL;
		return (-1);
	}
	st->nbound++;
	return (0);
}

/*
 * The reload stands: take prev's socket, with its subscribers. Endpoints
 * still configured stay bound, dropped ones are unbound (by what they
 * resolved to), new ones are bound. A bind that fails now cannot fail the
 * reload: it is logged, the channel reports unhealthy, and the bind is
 * tried again every second (a port given up by an unbind is freed by
 * libzmq's I/O thread a moment later). A new sndhwm applies to
 * subscribers that connect from now on.
 */
static void
zmq_pub_takeover(struct channel *ch, struct channel *prev)
{
	const struct zmq_pub_args *args = ch->conf->args;
	struct zmq_pub_state *st = ch->state, *pst = prev->state;
	const struct zmq_pub_bound *b;
	char err[512];
	size_t i;

	st->socket = pst->socket;
	pst->socket = NULL;
	evtimer_del(pst->rebind);	/* its unbound ones are ours now */
	if (zmq_setsockopt(st->socket, ZMQ_SNDHWM, &args->sndhwm,
	    sizeof(args->sndhwm)) == -1)
		log_warnx("channel %s: sndhwm: %s", ch->name,
		    zmq_strerror(zmq_errno()));
	for (i = 0; i < pst->nbound; i++) {
		b = &pst->bound[i];
		if (b->resolved != NULL &&
		    !zmq_pub_has_endpoint(args, b->endpoint) &&
		    zmqio_unbind(st->socket, b->resolved) == -1)
			log_warnx("channel %s: unbind %s: %s", ch->name,
			    b->resolved, zmq_strerror(zmq_errno()));
	}
	for (i = 0; i < args->nendpoints; i++) {
		b = zmq_pub_find(pst, args->endpoints[i]);
		if (zmq_pub_add_bound(st, args->endpoints[i], b != NULL ?
		    b->resolved : NULL) == -1) {
			log_warnx("channel %s: out of memory", ch->name);
			continue;
		}
		if (b != NULL && b->resolved != NULL)
			continue;
		if (zmq_pub_bind_one(ch, &st->bound[st->nbound - 1], err,
		    sizeof(err)) == -1) {
			log_warnx("%s; trying again every %d ms", err,
			    ZMQ_PUB_REBIND_MS);
			strlcpy(ch->last_error, err, sizeof(ch->last_error));
			evtimer_add(st->rebind, &zmq_pub_rebind_tv);
		}
	}
}

/* Endpoints a reload could not bind, tried again until they are. */
static void
zmq_pub_rebind_cb(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;
	struct zmq_pub_state *st = ch->state;
	char err[512];
	size_t i;
	int left = 0;

	(void)fd;
	(void)what;
	for (i = 0; i < st->nbound; i++)
		if (st->bound[i].resolved == NULL &&
		    zmq_pub_bind_one(ch, &st->bound[i], err, sizeof(err)) == -1)
			left++;
	if (left == 0)
		evtimer_del(st->rebind);
}

static const struct zmq_pub_bound *
zmq_pub_find(const struct zmq_pub_state *st, const char *endpoint)
{
	size_t i;

	for (i = 0; i < st->nbound; i++)
		if (strcmp(st->bound[i].endpoint, endpoint) == 0)
			return (&st->bound[i]);
	return (NULL);
}

static int
zmq_pub_has_endpoint(const struct zmq_pub_args *args, const char *endpoint)
{
	size_t i;

	for (i = 0; i < args->nendpoints; i++)
		if (strcmp(args->endpoints[i], endpoint) == 0)
			return (1);
	return (0);
}

static void
zmq_pub_deliver(struct channel *ch, struct delivery *d)
{
	struct zmq_pub_state *st = ch->state;
	char error[256], *payload;
	size_t len;

	if (st->socket == NULL) {
		/* Cannot happen: a replaced channel is given no more work. */
		channel_done(ch, d, OUTCOME_RETRYABLE, "no socket (reload)");
		return;
	}
	if ((payload = delivery_json(d, &len)) == NULL) {
		channel_done(ch, d, OUTCOME_RETRYABLE,
		    "cannot encode the delivery (out of memory)");
		return;
	}
	if (zmqio_send(st->socket, ch->name, strlen(ch->name), 1) == -1 ||
	    zmqio_send(st->socket, payload, len, 0) == -1) {
		snprintf(error, sizeof(error), "zmq_send: %s",
		    zmq_strerror(zmq_errno()));
		free(payload);
		st->failing = 1;
		channel_done(ch, d, OUTCOME_RETRYABLE, error);
		return;
	}
	free(payload);
	st->failing = 0;
	channel_done(ch, d, OUTCOME_DELIVERED, NULL);
}

static int
zmq_pub_health(struct channel *ch)
{
	const struct zmq_pub_state *st = ch->state;
	size_t i;

	for (i = 0; i < st->nbound; i++)
		if (st->bound[i].resolved == NULL)
			return (-1);	/* an endpoint not bound */
	return (st->failing ? -1 : 0);
}

/* Sends complete inside deliver: nothing is ever in flight here. */
static void
zmq_pub_stop(struct channel *ch)
{
	struct zmq_pub_state *st = ch->state;

	if (st == NULL)
		return;
	zmq_pub_state_free(st);
	ch->state = NULL;
}

static void
zmq_pub_state_free(struct zmq_pub_state *st)
{
	size_t i;

	if (st->socket != NULL)	/* NULL: handed on, or never taken over */
		zmq_close(st->socket);
	for (i = 0; i < st->nbound; i++) {
		free(st->bound[i].endpoint);
		free(st->bound[i].resolved);
	}
	if (st->rebind != NULL)
		event_free(st->rebind);
	free(st);
}
