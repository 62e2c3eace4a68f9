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
 * twice, and subscribers stay connected through the reload.
 */
#include <errno.h>
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

struct zmq_pub_state {
	void	*socket;
	int	 failing;	/* the last send failed */
};

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
static int	zmq_pub_bind(struct channel *, void *, char *, size_t);
static void	zmq_pub_takeover(struct channel *, struct channel *);
static int	zmq_pub_has_endpoint(const struct zmq_pub_args *,
		    const char *);

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
	void *sock;
	int linger = 0;

	if (adapter_zmq_ctx() == NULL) {
		snprintf(err, errlen, "channel %s: no ZeroMQ context (adapter_"
		    "init was not called)", ch->name);
		return (-1);
	}
	if (ch->predecessor != NULL) {
		/* Its socket comes at takeover. */
		if ((ch->state = calloc(1, sizeof(*st))) == NULL) {
			snprintf(err, errlen, "channel %s: out of memory",
			    ch->name);
			return (-1);
		}
		return (0);
	}
	if ((sock = zmq_socket(adapter_zmq_ctx(), ZMQ_PUB)) == NULL) {
		snprintf(err, errlen, "channel %s: zmq_socket: %s", ch->name,
		    zmq_strerror(zmq_errno()));
		return (-1);
	}
	if (zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger)) == -1 ||
	    zmq_setsockopt(sock, ZMQ_SNDHWM, &args->sndhwm,
	    sizeof(args->sndhwm)) == -1) {
		snprintf(err, errlen, "channel %s: zmq_setsockopt: %s",
		    ch->name, zmq_strerror(zmq_errno()));
		zmq_close(sock);
		return (-1);
	}
	if (zmq_pub_bind(ch, sock, err, errlen) == -1) {
		zmq_close(sock);
		return (-1);
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "channel %s: out of memory", ch->name);
		zmq_close(sock);
		return (-1);
	}
	st->socket = sock;
	ch->state = st;
	return (0);
}

/* Bind every endpoint, logging each as bound (a wildcard port resolved). */
static int
zmq_pub_bind(struct channel *ch, void *sock, char *err, size_t errlen)
{
	const struct zmq_pub_args *args = ch->conf->args;
	char bound[256];
	size_t i, len;

	for (i = 0; i < args->nendpoints; i++) {
		if (zmq_bind(sock, args->endpoints[i]) == -1) {
			snprintf(err, errlen, "channel %s: bind %s: %s",
			    ch->name, args->endpoints[i],
			    zmq_strerror(zmq_errno()));
			return (-1);
		}
		len = sizeof(bound);
		if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, bound, &len) == -1)
			strlcpy(bound, args->endpoints[i], sizeof(bound));
		log_info("channel=%s type=zmq_pub bound=%s", ch->name, bound);
	}
	return (0);
}

/*
 * The reload stands: take prev's socket, with its subscribers, and make
 * its binds this channel's endpoints. A bind that fails now cannot fail
 * the reload any more: it is logged and left as the channel's last error.
 * A new sndhwm applies to subscribers that connect from now on.
 */
static void
zmq_pub_takeover(struct channel *ch, struct channel *prev)
{
	const struct zmq_pub_args *args = ch->conf->args;
	const struct zmq_pub_args *old = prev->conf->args;
	struct zmq_pub_state *st = ch->state, *pst = prev->state;
	char err[512];
	size_t i;

	st->socket = pst->socket;
	pst->socket = NULL;
	if (zmq_setsockopt(st->socket, ZMQ_SNDHWM, &args->sndhwm,
	    sizeof(args->sndhwm)) == -1)
		log_warnx("channel %s: sndhwm: %s", ch->name,
		    zmq_strerror(zmq_errno()));
	for (i = 0; i < old->nendpoints; i++)
		if (!zmq_pub_has_endpoint(args, old->endpoints[i]) &&
		    zmq_unbind(st->socket, old->endpoints[i]) == -1)
			log_warnx("channel %s: unbind %s: %s", ch->name,
			    old->endpoints[i], zmq_strerror(zmq_errno()));
	for (i = 0; i < args->nendpoints; i++) {
		if (zmq_pub_has_endpoint(old, args->endpoints[i]))
			continue;
		if (zmq_bind(st->socket, args->endpoints[i]) == -1) {
			snprintf(err, sizeof(err), "bind %s: %s",
			    args->endpoints[i], zmq_strerror(zmq_errno()));
			log_warnx("channel %s: %s", ch->name, err);
			strlcpy(ch->last_error, err, sizeof(ch->last_error));
		} else
			log_info("channel=%s type=zmq_pub bound=%s", ch->name,
			    args->endpoints[i]);
	}
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

	return (st->failing ? -1 : 0);
}

/* Sends complete inside deliver: nothing is ever in flight here. */
static void
zmq_pub_stop(struct channel *ch)
{
	struct zmq_pub_state *st = ch->state;

	if (st == NULL)
		return;
	if (st->socket != NULL)	/* NULL: handed on, or never taken over */
		zmq_close(st->socket);
	free(st);
	ch->state = NULL;
}
