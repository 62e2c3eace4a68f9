/*
 * dashboard.h: the live dashboard page, GET / on the HTTP side (SPEC §6):
 * self-contained HTML, CSS and script that polls /v1/status every 2 s.
 */
#ifndef DASHBOARD_H
#define DASHBOARD_H

#include <stddef.h>

struct evhttp_request;
struct http;

/* The page: static, never freed. */
const char	*dashboard_html(size_t *len);
/*
 * The Content-Security-Policy it is served with: only its own inline
 * style and script (by hash) and its own origin.
 */
const char	*dashboard_csp(void);
/* GET /: a row of http.c's route table. */
void		 dashboard_serve(struct http *, struct evhttp_request *,
		    const char *rest);

#endif /* DASHBOARD_H */
