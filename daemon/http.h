/*
 * http.h: the HTTP side (SPEC §6) on http.listen, with libevent's evhttp:
 * GET /metrics (Prometheus), GET /healthz, GET /v1/status and
 * GET|POST /v1/ack/ID?t=TOKEN, the ack link of a mail or chat message.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

struct config;
struct event_base;
struct http;
struct spool;

/* Whether s is "HOST:PORT" ("127.0.0.1:8080", "[::1]:8080"): config.c. */
int		 http_listen_check(const char *s, char *err, size_t errlen);
/*
 * Listen on conf->http_listen (ack links are checked against acksecret.c's
 * secrets). NULL with err on failure.
 */
struct http	*http_new(struct event_base *, const struct config *,
		    struct spool *, char *err, size_t errlen);
void		 http_free(struct http *);

#endif /* HTTP_H */
