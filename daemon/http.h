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
 * Listen on conf->http_listen and read the ack secret (when
 * http.ack_secret_file is set). NULL with err on failure.
 */
struct http	*http_new(struct event_base *, const struct config *,
		    struct spool *, char *err, size_t errlen);
/*
 * A reload's hook (reload_watch()): take a rotated ack secret, keeping the
 * one before for links already sent. http.listen moves only at a restart.
 */
void		 http_reload_cb(const struct config *, void *http);
void		 http_free(struct http *);

#endif /* HTTP_H */
