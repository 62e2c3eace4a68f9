/*
 * http.c: the HTTP side (SPEC §6), a table of routes served by evhttp on
 * the event loop. Every answer is made at once from what the daemon holds
 * in memory (the one exception, an ack, writes one row and commits it), so
 * no request waits on another.
 *
 * An ack link carries its notice's token, an HMAC of the id under the ack
 * secret (acktoken.c): a link acknowledges exactly its own notice. The
 * token is compared in constant time and never logged; the secrets are
 * acksecret.c's, the same the channels make links with.
 */
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accept.h"
#include "acksecret.h"
#include "adapter.h"
#include "config.h"
#include "dashboard.h"
#include "dispatch.h"
#include "envelope.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "sb_protocol.h"
#include "spool.h"
#include "status.h"

#define HTTP_HEADERS_MAX	8192
#define HTTP_BODY_MAX		65536
#define HTTP_TIMEOUT_S		30
#define HTTP_ACK_PREFIX		"/v1/ack/"
/* Who an ack by link is recorded as, unless the link says by=NAME. */
#define HTTP_ACK_BY		"ack-link"

#define HTTP_READ	(EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)

struct http {
	struct evhttp	*evh;
	struct spool	*spool;
};

struct http_route {
	const char	*path;
	int		 prefix;	/* path is a prefix: the rest is an arg */
	int		 methods;
	const char	*allow;		/* the Allow header of a 405 */
	void		(*fn)(struct http *, struct evhttp_request *,
			    const char *);
};

static int	http_listen_parse(const char *, char *, size_t, int *, char *,
		    size_t);
static void	http_request_cb(struct evhttp_request *, void *);
static void	http_reply(struct evhttp_request *, int, const char *,
		    const char *, struct evbuffer *);
static void	http_text(struct evhttp_request *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	http_json_error(struct evhttp_request *, int, enum sb_error,
		    const char *);
static void	http_metrics(struct http *, struct evhttp_request *,
		    const char *);
static void	http_healthz(struct http *, struct evhttp_request *,
		    const char *);
static void	http_channels_health(struct evbuffer *);
static void	http_status(struct http *, struct evhttp_request *,
		    const char *);
static void	http_ack(struct http *, struct evhttp_request *,
		    const char *);
static int	http_ack_status(enum sb_error);

static const struct http_route http_routes[] = {
	{ "/", 0, HTTP_READ, "GET, HEAD", dashboard_serve },
	{ "/metrics", 0, HTTP_READ, "GET, HEAD", http_metrics },
	{ "/healthz", 0, HTTP_READ, "GET, HEAD", http_healthz },
	{ "/v1/status", 0, HTTP_READ, "GET, HEAD", http_status },
	{ HTTP_ACK_PREFIX, 1, EVHTTP_REQ_GET | EVHTTP_REQ_POST, "GET, POST",
	  http_ack },
};
#define HTTP_NROUTES	(sizeof(http_routes) / sizeof(http_routes[0]))

/* "HOST:PORT" with an IPv6 host in brackets; host without them. */
static int
http_listen_parse(const char *s, char *host, size_t hostlen, int *port,
    char *err, size_t errlen)
{
	const char *colon = strrchr(s, ':'), *h = s;
	size_t n;
	char *end;
	long p;

	if (colon == NULL || colon == s || colon[1] == '\0')
		goto bad;
	n = (size_t)(colon - s);
	if (s[0] == '[') {
		if (n < 3 || colon[-1] != ']')
			goto bad;
		h = s + 1;
		n -= 2;
	} else if (memchr(s, ':', n) != NULL)
		goto bad;	/* IPv6 without brackets */
	if (n >= hostlen)
		goto bad;
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535 || colon[1] == '+' ||
	    colon[1] == '-')
		goto bad;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (int)p;
	return (0);
bad:
	snprintf(err, errlen, "'%s' is not HOST:PORT (such as "
	    "\"127.0.0.1:8080\" or \"[::1]:8080\"; port 1 to 65535)", s);
	return (-1);
}

int
http_listen_check(const char *s, char *err, size_t errlen)
{
	char host[256];
	int port;

	return (http_listen_parse(s, host, sizeof(host), &port, err, errlen));
}

struct http *
http_new(struct event_base *base, const struct config *cf, struct spool *sp,
    char *err, size_t errlen)
{
	struct http *h;
	char host[256];
	int port;

	if (http_listen_parse(cf->http_listen, host, sizeof(host), &port, err,
	    errlen) == -1)
		return (NULL);
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->evh = evhttp_new(base)) == NULL) {
		free(h);
		snprintf(err, errlen, "http: out of memory");
		return (NULL);
	}
	h->spool = sp;
	evhttp_set_max_headers_size(h->evh, HTTP_HEADERS_MAX);
	evhttp_set_max_body_size(h->evh, HTTP_BODY_MAX);
	evhttp_set_timeout(h->evh, HTTP_TIMEOUT_S);
	evhttp_set_allowed_methods(h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST);
	evhttp_set_gencb(h->evh, http_request_cb, h);
	if (evhttp_bind_socket_with_handle(h->evh, host, (ev_uint16_t)port) ==
	    NULL) {
		snprintf(err, errlen, "http.listen %s: cannot listen there (in "
		    "use, or not an address of this host?)", cf->http_listen);
		http_free(h);
		return (NULL);
	}
	log_info("http listen=%s ack_links=%s", cf->http_listen,
	    cf->http_ack_secret_file != NULL ? "yes" : "no");
	return (h);
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	if (h->evh != NULL)
		evhttp_free(h->evh);
	free(h);
}

/* Find the route of a request's path and check its method. */
static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const struct http_route *r;
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	size_t i, n;

	if (path == NULL || *path == '\0')
		path = "/";
	for (i = 0; i < HTTP_NROUTES; i++) {
		r = &http_routes[i];
		n = strlen(r->path);
		if (r->prefix ? strncmp(path, r->path, n) != 0 :
		    strcmp(path, r->path) != 0)
			continue;
		if ((evhttp_request_get_command(req) & r->methods) == 0) {
			evhttp_add_header(evhttp_request_get_output_headers(
			    req), "Allow", r->allow);
			http_text(req, 405, "%s takes %s only\n", r->path,
			    r->allow);
			return;
		}
		r->fn(arg, req, r->prefix ? path + n : path);
		return;
	}
	http_text(req, 404, "nothing at this path; switchboardd serves "
	    "/ (the dashboard), /metrics, /healthz, /v1/status and "
	    "/v1/ack/ID?t=TOKEN\n");
}

/* Send a reply; body may be NULL. No answer here is to be cached. */
static void
http_reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct evbuffer *body)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);

	evhttp_add_header(hdr, "Content-Type", type);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(req, code, reason, body);
}

static void
http_text(struct evhttp_request *req, int code, const char *fmt, ...)
{
	struct evbuffer *buf;
	va_list ap;

	if ((buf = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	va_start(ap, fmt);
	evbuffer_add_vprintf(buf, fmt, ap);
	va_end(ap);
	http_reply(req, code, NULL, "text/plain; charset=utf-8", buf);
	evbuffer_free(buf);
}

/* A JSON error as the wire protocol writes one. */
static void
http_json_error(struct evhttp_request *req, int status, enum sb_error code,
    const char *message)
{
	struct envelope_error err;
	struct evbuffer *buf;
	char *json;
	size_t len;

	envelope_error_set(&err, code, NULL, "%s", message);
	if ((json = envelope_reply_error(&err, &len)) == NULL ||
	    (buf = evbuffer_new()) == NULL) {
		free(json);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(buf, json, len);
	evbuffer_add(buf, "\n", 1);
	http_reply(req, status, NULL, "application/json", buf);
	evbuffer_free(buf);
	free(json);
}

static void
http_metrics(struct http *h, struct evhttp_request *req, const char *rest)
{
	struct evbuffer *buf;

	(void)rest;
	if ((buf = evbuffer_new()) == NULL || metrics_write(buf,
	    h->spool) == -1) {
		if (buf != NULL)
			evbuffer_free(buf);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	http_reply(req, 200, NULL, "text/plain; version=0.0.4; charset=utf-8",
	    buf);
	evbuffer_free(buf);
}

/*
 * 200 "ok", or 503 naming each reason: the spool cannot be written (the
 * last commit of accepted notices failed), or no channel is up.
 */
static void
http_healthz(struct http *h, struct evhttp_request *req, const char *rest)
{
	struct evbuffer *why;

	(void)rest;
	if ((why = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	if (accept_stats()->spool_failing)
		evbuffer_add_printf(why, "unhealthy: the spool cannot be "
		    "written: %s\n", h->spool->error);
	http_channels_health(why);
	if (evbuffer_get_length(why) == 0) {
		evbuffer_add_printf(why, "ok\n");
		http_reply(req, 200, NULL, "text/plain; charset=utf-8", why);
	} else
		http_reply(req, 503, NULL, "text/plain; charset=utf-8", why);
	evbuffer_free(why);
}

/* A line when no channel is up, naming each channel and its state. */
static void
http_channels_health(struct evbuffer *why)
{
	struct channel *ch;
	size_t i;

	for (i = 0; (ch = dispatch_channel_at(i)) != NULL; i++)
		if (channel_state(ch) == CHANNEL_UP)
			return;
	evbuffer_add_printf(why, "unhealthy: no channel is up");
	for (i = 0; (ch = dispatch_channel_at(i)) != NULL; i++)
		evbuffer_add_printf(why, "%s%s %s", i == 0 ? " (" : ", ",
		    ch->name, channel_state(ch) == CHANNEL_PAUSED ? "paused" :
		    "down");
	evbuffer_add_printf(why, "%s\n", i > 0 ? ")" : "");
}

static void
http_status(struct http *h, struct evhttp_request *req, const char *rest)
{
	struct evbuffer *buf;
	char *json;
	size_t len;

	(void)h;
	(void)rest;
	if ((json = status_report(&len)) == NULL ||
	    (buf = evbuffer_new()) == NULL) {
		free(json);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(buf, json, len);
	evbuffer_add(buf, "\n", 1);
	http_reply(req, 200, NULL, "application/json", buf);
	evbuffer_free(buf);
	free(json);
}

/*
 * GET|POST /v1/ack/ID?t=TOKEN[&by=NAME]: the token first, then the ack
 * as the wire protocol would take it. Replayed, a link finds its notice
 * already acked (409).
 */
static void
http_ack(struct http *h, struct evhttp_request *req, const char *rest)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *query = evhttp_uri_get_query(uri), *token, *by;
	struct evkeyvalq params;
	struct evbuffer *buf;
	enum sb_error code;
	char *id, *reply;
	size_t len;

	(void)h;
	TAILQ_INIT(&params);
	if (!acksecret_enabled()) {
		http_json_error(req, 404, SB_ERR_UNKNOWN_REF, "ack links are "
		    "not enabled here (http.ack_secret_file is not set)");
		return;
	}
	if ((id = evhttp_uridecode(rest, 0, &len)) == NULL ||
	    len != strlen(id) || !status_id_valid(id)) {
		http_json_error(req, 400, SB_ERR_INVALID_FIELD, "the link's "
		    "notice id is not 1 to 128 of A-Z a-z 0-9 . _ : -");
		free(id);
		return;
	}
	if (query == NULL || evhttp_parse_query_str(query, &params) == -1)
		TAILQ_INIT(&params);
	token = evhttp_find_header(&params, "t");
	if ((by = evhttp_find_header(&params, "by")) == NULL)
		by = HTTP_ACK_BY;
	if (!acksecret_verify(id, token)) {
		log_info("http ack refused id=%s: %s", id, token == NULL ?
		    "no token" : "the token does not match");
		http_json_error(req, 403, SB_ERR_UNAUTHORIZED, token == NULL ?
		    "the link has no token (t=...)" : "the link's token does "
		    "not match its notice; use the link as it was sent");
		goto out;
	}
	if ((reply = status_ack(id, by, &code, &len)) == NULL ||
	    (buf = evbuffer_new()) == NULL) {
		free(reply);
		evhttp_send_error(req, 500, "out of memory");
		goto out;
	}
	log_info("http ack id=%s result=%s", id, sb_error_name(code));
	evbuffer_add(buf, reply, len);
	evbuffer_add(buf, "\n", 1);
	http_reply(req, http_ack_status(code), NULL, "application/json", buf);
	evbuffer_free(buf);
	free(reply);
out:
	evhttp_clear_headers(&params);
	free(id);
}

static int
http_ack_status(enum sb_error code)
{
	switch (code) {
	case SB_OK:
		return (200);
	case SB_ERR_UNKNOWN_REF:
		return (404);
	case SB_ERR_ALREADY_ACKED:
		return (409);
	case SB_ERR_UNAUTHORIZED:
		return (403);
	case SB_ERR_UNAVAILABLE:
		return (503);
	default:
		return (400);
	}
}
